//! What a third attack found (issue "Hardening III"): each test fails
//! without its fix.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, test_key};

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
