//! A minute of mixed load against the real binary, on loopback: dashboard
//! readers, webhook bursts (with re-deliveries, in shuffled order) and live
//! subscribers, all at once. It asserts no 5xx, no response with an
//! unexpected error, no lost webhook (in the store and on every
//! subscription), and memory that levels off. `LOAD_SECONDS` sets the length
//! (default 60). Its figures print at the end; the README has a release run:
//! `cargo test --release --test load -- --nocapture`. It is a test target of
//! its own so that it runs alone, not beside the timing-sensitive tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rand::seq::SliceRandom;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code, unused_imports)] // the load test uses a part of the shared helpers
#[path = "api/helpers/mod.rs"]
mod helpers;

use helpers::{authorized_client, command_for, keys_file, query_json, start, test_key, DASHBOARD};

const READERS: usize = 8;
const SUBSCRIBERS: usize = 4;
const SESSIONS_PER_BURST: usize = 5;
const SECRET: &str = "load-secret";

fn seconds() -> u64 {
    std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    server_errors: AtomicU64,
    unexpected: Mutex<Vec<String>>,
}

impl Tally {
    fn unexpected(&self, what: String) {
        let mut list = self.unexpected.lock().expect("lock");
        if list.len() < 20 {
            list.push(what);
        }
    }
}

/// One reader: the dashboard, one conversation, and the Zoom session list,
/// round and round until `until`.
async fn reader(
    base: String,
    until: Instant,
    ids: Arc<Vec<String>>,
    tally: Arc<Tally>,
) -> Histogram<u64> {
    let client = authorized_client();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut n = 0usize;
    while Instant::now() < until {
        let (query, variables) = match n % 3 {
            0 => (DASHBOARD, json!({})),
            1 => (
                "query($id: String!) { conversation(conversationId: $id) { name participants { name purpose state user { name } } } }",
                json!({ "id": ids[n % ids.len()] }),
            ),
            _ => (
                "{ cobrowseSessions(filter: { provider: ZOOM }, first: 20) { totalCount nodes { providerSessionId state participants { name role } attachedData { coBrowseSessionsQuantity } } } }",
                json!({}),
            ),
        };
        n += 1;
        let sent = Instant::now();
        let response = client
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await;
        tally.requests.fetch_add(1, Ordering::Relaxed);
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                tally.unexpected(format!("no answer: {e}"));
                continue;
            }
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        histogram.saturating_record(sent.elapsed().as_micros() as u64);
        if status.is_server_error() {
            tally.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        if status != 200 || body.get("errors").is_some() || !body["data"].is_object() {
            tally.unexpected(format!("HTTP {status}: {body}"));
        }
    }
    histogram
}

/// Webhook bursts: every second, `SESSIONS_PER_BURST` whole sessions sent
/// at once in shuffled order, each with one re-delivery. Returns the
/// sessions sent and the events stored.
async fn webhooks(base: String, until: Instant, tally: Arc<Tally>) -> (usize, u64) {
    let client = reqwest::Client::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let (mut sessions, stored) = (0usize, Arc::new(AtomicU64::new(0)));
    let mut burst = 0;
    while Instant::now() < until {
        ticks.tick().await;
        let mut events = Vec::new();
        for s in 0..SESSIONS_PER_BURST {
            let id = format!("load-{burst}-{s}");
            let mut session = helpers::session_events(&id, "Ada", "2026-11-22T09:00:00Z");
            session.push(session[2].clone()); // a re-delivery
            events.extend(session);
            sessions += 1;
        }
        burst += 1;
        events.shuffle(&mut rand::rng());
        let posts = events.into_iter().map(|event| {
            let (client, base, tally, stored) = (
                client.clone(),
                base.clone(),
                Arc::clone(&tally),
                Arc::clone(&stored),
            );
            async move {
                tally.requests.fetch_add(1, Ordering::Relaxed);
                let response =
                    helpers::post_signed_webhook(&client, &base, SECRET, event.to_string()).await;
                match response {
                    Ok(r) if r.status() == 200 => {
                        let answer: Value = r.json().await.unwrap_or(Value::Null);
                        if answer["status"] == "stored" {
                            stored.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(r) => {
                        if r.status().is_server_error() {
                            tally.server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        tally.unexpected(format!("webhook HTTP {}", r.status()));
                    }
                    Err(e) => tally.unexpected(format!("webhook: no answer: {e}")),
                }
            }
        });
        futures::future::join_all(posts).await;
    }
    (sessions, stored.load(Ordering::Relaxed))
}

/// A subscriber to every Zoom session update; counts what it receives.
async fn subscriber(
    base: String,
    received: Arc<AtomicU64>,
    tally: Arc<Tally>,
    ready: tokio::sync::mpsc::Sender<()>,
) {
    let mut socket = helpers::ws_connect(&base).await;
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(
            json!({ "type": "connection_init", "payload": { "X-API-Key": test_key() } }),
        ))
        .await
        .expect("sent");
    let _ack = socket.next().await;
    socket
        .send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { cobrowseSessionUpdates(provider: ZOOM) { event session { providerSessionId state } } }" } })))
        .await
        .expect("sent");
    // A ping round trip proves the subscription is registered.
    socket
        .send(send(json!({ "type": "ping" })))
        .await
        .expect("sent");
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"pong\"") => break,
            Some(Ok(_)) => continue,
            other => panic!("no pong: {other:?}"),
        }
    }
    ready.send(()).await.expect("the test waits");
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if value["type"] == "next" && value["payload"]["errors"].is_null() {
                    received.fetch_add(1, Ordering::Relaxed);
                } else if value["type"] != "pong" && value["type"] != "ping" {
                    tally.unexpected(format!("subscription: {text}"));
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_mixed_load_has_no_5xx_no_unexpected_error_no_lost_webhook_and_level_memory() {
    let sim = Simulator::start(SimConfig {
        faults: Faults {
            latency_ms: 2,
            ..Faults::default()
        },
        ..SimConfig::local(24, 7)
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = keys_file(dir.path(), &[("load", test_key(), &["read"])]);
    let mut cmd = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    cmd.env("COBROWSE_AUTH_API_KEYS_FILE", &keys)
        .env("COBROWSE_STORE_PATH", dir.path().join("load.sqlite"))
        .env("COBROWSE_STORE_RETENTION", "36500d")
        .env("COBROWSE_ZOOM_WEBHOOK_SECRET", SECRET)
        .env("COBROWSE_LIMITS_REQUESTS_PER_SECOND", "0")
        .env("COBROWSE_LOG_FILTER", "warn");
    let (mut child, base, _, _logs) = start(cmd).await;
    let pid = child.id().expect("running");
    let ids: Arc<Vec<String>> = {
        let body = query_json(
            &base,
            "{ activeCobrowseConversations { nodes { conversationId } } }",
        )
        .await;
        Arc::new(
            body["data"]["activeCobrowseConversations"]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| n["conversationId"].as_str().expect("id").to_owned())
                .collect(),
        )
    };

    let tally = Arc::new(Tally::default());
    let counters: Vec<Arc<AtomicU64>> = (0..SUBSCRIBERS).map(|_| Arc::default()).collect();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(SUBSCRIBERS);
    let subscribers: Vec<_> = counters
        .iter()
        .map(|c| {
            tokio::spawn(subscriber(
                base.clone(),
                Arc::clone(c),
                Arc::clone(&tally),
                ready_tx.clone(),
            ))
        })
        .collect();
    for _ in 0..SUBSCRIBERS {
        ready_rx.recv().await.expect("a subscriber is ready");
    }

    let length = Duration::from_secs(seconds());
    let started = Instant::now();
    let until = started + length;
    let memory = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut ticks = tokio::time::interval(Duration::from_millis(500));
        while Instant::now() < until {
            ticks.tick().await;
            if let Some(kib) = rss_kib(pid) {
                samples.push((started.elapsed(), kib));
            }
        }
        samples
    });
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            tokio::spawn(reader(
                base.clone(),
                until,
                Arc::clone(&ids),
                Arc::clone(&tally),
            ))
        })
        .collect();
    let (sessions, stored) = webhooks(base.clone(), until, Arc::clone(&tally)).await;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    for reader in readers {
        latency
            .add(reader.await.expect("reader"))
            .expect("same bounds");
    }
    let elapsed = started.elapsed();
    let samples = memory.await.expect("sampler");

    // Every stored event reaches every subscriber.
    let deadline = Instant::now() + Duration::from_secs(15);
    for counter in &counters {
        while counter.load(Ordering::Relaxed) < stored {
            assert!(
                Instant::now() < deadline,
                "a subscriber got {} of {stored} updates",
                counter.load(Ordering::Relaxed)
            );
            tokio::task::yield_now().await;
        }
    }
    // Every session is in the store, whole.
    let count = |filter: &'static str| {
        let base = base.clone();
        async move {
            let query = format!("{{ cobrowseSessions(filter: {filter}) {{ totalCount }} }}");
            let body = query_json(&base, &query).await;
            body["data"]["cobrowseSessions"]["totalCount"]
                .as_u64()
                .unwrap_or_else(|| panic!("{body}"))
        }
    };
    let in_store = count("{ provider: ZOOM }").await;
    let ended = count("{ provider: ZOOM, state: ENDED }").await;
    let rss_at_end = rss_kib(pid);
    child.kill().await.expect("stops");
    for s in subscribers {
        s.abort();
    }

    let requests = tally.requests.load(Ordering::Relaxed);
    let peak = samples.iter().map(|(_, k)| *k).max().unwrap_or(0);
    let quarter = |q: u32| {
        samples
            .iter()
            .filter(|(t, _)| *t >= length * q / 4 && *t < length * (q + 1) / 4)
            .map(|(_, k)| *k)
            .max()
            .unwrap_or(0)
    };
    let (second_quarter, last_quarter) = (quarter(1), quarter(3));
    let events_per_session = helpers::session_events("x", "y", "2026-11-22T09:00:00Z").len() as u64;
    println!(
        "load: {:.0} s, {READERS} readers, {SUBSCRIBERS} subscribers, {SESSIONS_PER_BURST} sessions/s of webhooks\n\
         | measure | value |\n|---|---|\n\
         | requests (GraphQL + webhooks) | {requests} ({:.0}/s) |\n\
         | GraphQL p50 / p99 / max | {:.2} ms / {:.2} ms / {:.2} ms |\n\
         | webhook sessions / events stored / re-deliveries | {sessions} / {stored} / {sessions} |\n\
         | updates received per subscriber | {} |\n\
         | 5xx / unexpected errors | {} / {} |\n\
         | gateway RSS: 2nd quarter max / last quarter max / peak | {:.1} / {:.1} / {:.1} MiB |",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
        counters.iter().map(|c| c.load(Ordering::Relaxed).to_string()).collect::<Vec<_>>().join(", "),
        tally.server_errors.load(Ordering::Relaxed),
        tally.unexpected.lock().expect("lock").len(),
        second_quarter as f64 / 1024.0,
        last_quarter as f64 / 1024.0,
        peak as f64 / 1024.0,
    );

    assert_eq!(tally.server_errors.load(Ordering::Relaxed), 0);
    let unexpected = tally.unexpected.lock().expect("lock").clone();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(
        stored,
        sessions as u64 * events_per_session,
        "every event stored once"
    );
    assert_eq!(
        (in_store, ended),
        (sessions as u64, sessions as u64),
        "no lost webhook"
    );
    assert!(rss_at_end.is_some());
    // Memory levels off: the last quarter holds at most a little more than
    // the second (caches and the store's page cache fill, then stay), and
    // the peak stays far from the machine's size.
    assert!(
        last_quarter <= second_quarter + second_quarter / 4 + 16 * 1024,
        "memory keeps growing: {second_quarter} KiB then {last_quarter} KiB; {:?}",
        BTreeMap::from_iter(samples.iter().map(|(t, k)| (t.as_secs(), *k)))
    );
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
}
