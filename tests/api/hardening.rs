//! What a third attack found (issue "Hardening III"): each test fails
//! without its fix.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{command_for, keys_file, metric, spawn_app, start, test_key};
use crate::live::wait_mode_at;

/// The first line the gateway answers to `request` sent on a raw
/// connection (it must come without the client sending anything more).
async fn first_line(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the gateway answers without waiting for the body")
            .expect("readable");
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_body_announced_larger_than_the_limit_is_refused_before_100_continue() {
    let app = spawn_app().await;
    for path in ["/graphql", "/webhooks/zoom"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n",
            app.addr,
            test_key()
        );
        let line = first_line(app.addr, &request).await;
        assert!(
            line.starts_with("HTTP/1.1 413"),
            "{path}: answered {line:?} to a body of 2,000,000 bytes announced with Expect: 100-continue"
        );
    }
    // Within the limit, the client is told to go on.
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 30\r\nExpect: 100-continue\r\n\r\n",
        app.addr,
        test_key()
    );
    assert_eq!(
        first_line(app.addr, &request).await,
        "HTTP/1.1 100 Continue"
    );
}

#[tokio::test]
async fn a_flood_of_unreadable_notifications_writes_few_warnings_and_counts_every_one() {
    use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
    let mut config = SimConfig::local(4, 3);
    config.faults = Faults {
        heartbeat_ms: 100,
        ..Faults::default()
    };
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = keys_file(dir.path(), &[("tests", test_key(), &["read"])]);
    let mut command = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    command
        .env("COBROWSE_AUTH_API_KEYS_FILE", keys)
        .env("COBROWSE_NOTIFICATIONS_ANALYTICS_LAG", "0s");
    let (mut child, base, _, logs) = start(command).await;
    wait_mode_at(&base, "listening", Duration::from_secs(30)).await;

    let sent: Value = reqwest::Client::new()
        .post(format!("{}/__sim/notifications/garble", sim.url()))
        .json(&json!({ "count": 500 }))
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("JSON");
    let sent = sent["sent"].as_f64().expect("a count");
    assert!(sent >= 500.0, "{sent}");
    let series = "cobrowse_gateway_notifications_heard_total{kind=\"garbled\"}";
    let mut heard = 0.0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while heard < sent {
        assert!(
            std::time::Instant::now() < deadline,
            "only {heard} of {sent} counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        heard = metric(&base, series).await;
    }
    child.kill().await.expect("stops");
    let logs = logs.await.expect("the logs");
    let warnings = logs
        .lines()
        .filter(|l| l.contains("a notification does not read"))
        .count();
    println!("{sent} unreadable notifications: {heard} counted, {warnings} warning lines");
    assert_eq!(heard, sent, "the metric counts every one");
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} warning lines for {sent} unreadable notifications:\n{logs}"
    );
    assert!(
        logs.contains("not JSON"),
        "the first one's detail is written"
    );
}
