//! Scenario 7: Genesys Cloud's legacy co-browse, live. Conversations walk
//! their lives in the simulator one step at a time (started, offered,
//! co-browsing, control granted, screen share, disconnected, wrapped up,
//! ended); the gateway hears each change from the Notifications API.
//! Measured: how long after each step's call answered a subscriber was
//! told, and the wall (the dashboard's query of the active conversations)
//! showed it; and what the gateway read upstream meanwhile (a wall kept by
//! events reads nothing). Both latencies are checked against the target the
//! live feature was built to: p99 within a second.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use cobrowse_gateway::sim::SimConfig;

/// The freshness the live feature promises, p99 (docs/dashboards.md).
const TARGET: Duration = Duration::from_secs(1);

/// The longest a change may take to be told or shown before it counts as
/// lost.
const LOST_AFTER: Duration = Duration::from_secs(5);

/// The wall: the active conversations with their people.
const WALL: &str = "{ activeCobrowseConversations(first: 100) { nodes { conversationId participants { participantId state controllingIds wrapup { code } } } } }";

/// The latencies of one kind of change, and those that never came.
struct Measured {
    histogram: Histogram<u64>,
    lost: u64,
}

impl Measured {
    fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
            lost: 0,
        }
    }

    fn record(&mut self, took: Option<Duration>) {
        match took {
            Some(took) => self.histogram.saturating_record(took.as_micros() as u64),
            None => self.lost += 1,
        }
    }

    fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.histogram.value_at_quantile(q))
    }

    /// Its figures, and whether its p99 is within [`TARGET`].
    fn report(&self, what: &str) -> bool {
        let met = self.lost == 0 && self.quantile(0.99) <= TARGET;
        println!(
            "   change to {what}: p50 {}, p99 {}, max {} over {} changes; {} never within {} s; target p99 within {} s: {}",
            super::ms(self.quantile(0.5)),
            super::ms(self.quantile(0.99)),
            super::ms(Duration::from_micros(self.histogram.max())),
            self.histogram.len(),
            self.lost,
            LOST_AFTER.as_secs(),
            TARGET.as_secs(),
            if met { "met" } else { "MISSED" }
        );
        met
    }
}

/// Walks `conversations` conversations from start to end; answers the
/// failures (a lost change, a target missed, an upstream read by a wall
/// events keep, a response with errors).
pub async fn scenario(conversations: usize) -> anyhow::Result<u64> {
    let mut config = SimConfig::local(8, 7);
    config.faults.heartbeat_ms = 1_000;
    let settings = [
        ("notifications.enabled", "true"),
        ("notifications.analytics_lag", "0s"),
    ];
    let running = super::start_on(config, &settings).await?;
    let base = running.url.trim_end_matches("/graphql").to_owned();
    super::messenger::listening(&base).await?;
    let mut socket = super::messenger::subscribe(&base).await?;
    let client = super::client(1);
    let wall_query = Bytes::from(json!({ "query": WALL }).to_string());
    // Warm: the records of the back-fill are read in full once.
    let mut before = wall(&client, &running.url, &wall_query).await?;
    super::reset(&running.sim).await?;
    let sim = running.sim.url();
    let http = reqwest::Client::new();
    let (mut told, mut shown) = (Measured::new(), Measured::new());
    for _ in 0..conversations {
        let started: Value = http
            .post(format!("{sim}/__sim/world/conversations"))
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        let id = started["conversationId"].as_str().unwrap_or_default();
        loop {
            let at = Instant::now();
            let stepped: Value = http
                .post(format!("{sim}/__sim/world/conversations/{id}/step"))
                .send()
                .await?
                .json()
                .await?;
            let Some(phase) = stepped["phase"].as_str() else {
                anyhow::bail!("a step did not say its phase: {stepped}");
            };
            // What a subscriber is told, and whether the wall shows it (as
            // `tests/api/live.rs` says of each phase).
            let updates = match phase {
                "cobrowse_started" | "control_granted" | "screenshare_started" => 1,
                "disconnected" => 2,
                _ => 0,
            };
            if updates > 0 {
                told.record(heard(&mut socket, updates, at).await?);
            }
            if matches!(
                phase,
                "cobrowse_started" | "control_granted" | "disconnected"
            ) {
                let (now, took) =
                    changed(&client, &running.url, &wall_query, &before, id, at).await?;
                shown.record(took);
                before = now;
            }
            if phase == "ended" {
                break;
            }
        }
    }
    let calls = super::upstream_calls(&running.sim).await?;
    println!(
        "\n7. Genesys Cloud legacy co-browse, live (Notifications API): {conversations} conversations walked from start to end, one step at a time"
    );
    let met = [told.report("a subscriber"), shown.report("the wall")];
    println!("   upstream calls by the gateway meanwhile: {calls} (the wall is kept by events)");
    let missed = met.iter().filter(|met| !**met).count() as u64;
    Ok(missed + u64::from(calls > 0))
}

/// The wall: each active conversation's participants.
async fn wall(
    client: &reqwest::Client,
    url: &str,
    query: &Bytes,
) -> anyhow::Result<BTreeMap<String, Value>> {
    let (_, body) = super::one(client, url, query).await?;
    let body: Value = serde_json::from_slice(&body)?;
    let nodes = body["data"]["activeCobrowseConversations"]["nodes"].as_array();
    Ok(nodes
        .into_iter()
        .flatten()
        .map(|n| {
            let id = n["conversationId"].as_str().unwrap_or_default().to_owned();
            (id, n["participants"].clone())
        })
        .collect())
}

/// Reads the wall until conversation `id` on it differs from `before`;
/// the wall then, and how long after `at` (none: not within
/// [`LOST_AFTER`]).
async fn changed(
    client: &reqwest::Client,
    url: &str,
    query: &Bytes,
    before: &BTreeMap<String, Value>,
    id: &str,
    at: Instant,
) -> anyhow::Result<(BTreeMap<String, Value>, Option<Duration>)> {
    loop {
        let now = wall(client, url, query).await?;
        if now.get(id) != before.get(id) {
            return Ok((now, Some(at.elapsed())));
        }
        if at.elapsed() > LOST_AFTER {
            return Ok((now, None));
        }
    }
}

/// How long after `at` the subscriber had `count` more updates (none: not
/// within [`LOST_AFTER`]).
async fn heard(
    socket: &mut super::messenger::Socket,
    count: usize,
    at: Instant,
) -> anyhow::Result<Option<Duration>> {
    let deadline = tokio::time::Instant::now() + LOST_AFTER;
    let mut got = 0;
    while got < count {
        let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await else {
            return Ok(None);
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some("next") => got += 1,
            Some("ping") => {
                let pong = json!({ "type": "pong" }).to_string();
                socket.send(Message::Text(pong.into())).await?;
            }
            _ => {}
        }
    }
    Ok(Some(at.elapsed()))
}
