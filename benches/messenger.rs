//! Scenario 6: Co-browse for Messenger, live. Agents offer co-browse in
//! web messaging conversations through upstream's route (as their own app
//! would, so the gateway learns of it from the message topics) and
//! customers accept or reject; a subscriber measures how long after each
//! event's upstream call answered the gateway told it, and the simulator
//! counts what the gateway read upstream for it.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

use cobrowse_gateway::sim::SimConfig;

/// Conversations the events are spread over.
const CONVERSATIONS: usize = 10;

/// One event every this long in the paced run (a busy contact centre's
/// co-browse traffic is far slower).
const PACE: Duration = Duration::from_millis(250);

/// The longest an update may take before it counts as lost.
const LOST_AFTER: Duration = Duration::from_secs(5);

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Runs `events` offer and answer events (half each); answers the events
/// whose update never came.
pub async fn scenario(events: usize) -> anyhow::Result<u64> {
    let mut config = SimConfig::local(12, 7);
    config.faults.heartbeat_ms = 1_000;
    let running = super::start_on(config, &[("notifications.enabled", "true")]).await?;
    let base = running.url.trim_end_matches("/graphql").to_owned();
    listening(&base).await?;
    let mut socket = subscribe(&base).await?;
    let sim = running.sim.url();
    let http = reqwest::Client::new();
    let token = super::sim_token(&running.sim).await?;
    let mut conversations = Vec::new();
    for _ in 0..CONVERSATIONS {
        let started: Value = http
            .post(format!("{sim}/__sim/messenger/conversations"))
            .json(&json!({ "channel": "webmessaging" }))
            .send()
            .await?
            .json()
            .await?;
        conversations.push(started["id"].as_str().unwrap_or_default().to_owned());
    }
    super::reset(&running.sim).await?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut lost = 0u64;
    let started = Instant::now();
    let mut slot = tokio::time::Instant::now();
    for round in 0..events / 2 {
        slot += PACE * 2;
        tokio::time::sleep_until(slot).await;
        let conversation = &conversations[round % CONVERSATIONS];
        let at = Instant::now();
        let offer: Value = http
            .post(format!(
                "{sim}/api/v2/conversations/{conversation}/cobrowse"
            ))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let session = offer["id"].as_str().unwrap_or_default().to_owned();
        let told = heard(&mut socket, "messenger.offered", &session, at).await?;
        record(&mut histogram, &mut lost, told);
        let outcome = if round % 3 == 2 {
            "rejected"
        } else {
            "accepted"
        };
        let at = Instant::now();
        http.post(format!("{sim}/__sim/messenger/sessions/{session}/answer"))
            .json(&json!({ "outcome": outcome }))
            .send()
            .await?
            .error_for_status()?;
        let told = heard(&mut socket, &format!("messenger.{outcome}"), &session, at).await?;
        record(&mut histogram, &mut lost, told);
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let (calls, bulk) = gateway_calls(&running.sim).await?;
    let messages = events as u64;
    // A burst: an offer and its answer in every conversation at once.
    super::reset(&running.sim).await?;
    let burst = burst(&http, &sim, &token, &conversations, &mut socket).await?;
    lost += burst.1;
    let (_, burst_reads) = gateway_calls(&running.sim).await?;
    println!(
        "\n6. Co-browse for Messenger, live: {events} co-browse events (offers, then accepted or rejected) over {CONVERSATIONS} web messaging conversations, one every {} ms",
        PACE.as_millis()
    );
    println!(
        "   event to subscriber: p50 {}, p99 {}, max {}; {lost} never told within {} s",
        super::ms(Duration::from_micros(histogram.value_at_quantile(0.5))),
        super::ms(Duration::from_micros(histogram.value_at_quantile(0.99))),
        super::ms(Duration::from_micros(histogram.max())),
        LOST_AFTER.as_secs()
    );
    println!(
        "   upstream calls by the gateway: {calls} ({:.1}/min at {:.0} events/min), of which bulk message reads {bulk} ({:.2} per co-browse message)",
        calls as f64 / minutes.max(1e-9),
        messages as f64 / minutes.max(1e-9),
        bulk as f64 / messages.max(1) as f64
    );
    println!(
        "   a burst of {} co-browse messages (an offer and its answer in each of {CONVERSATIONS} conversations at once): {burst_reads} bulk message reads",
        burst.0
    );
    Ok(lost)
}

/// What the gateway called upstream since the last reset (the agents'
/// offers and the bench's tokens are not its), and its bulk reads.
async fn gateway_calls(sim: &cobrowse_gateway::sim::Simulator) -> anyhow::Result<(u64, u64)> {
    let stats: cobrowse_gateway::sim::SimStats = reqwest::get(format!("{}/__sim/stats", sim.url()))
        .await?
        .json()
        .await?;
    let bulk = stats.route("POST /api/v2/conversations/messages/{id}/messages/bulk");
    let ours =
        stats.route("POST /api/v2/conversations/{id}/cobrowse") + stats.route("POST /oauth/token");
    Ok((stats.total.saturating_sub(ours), bulk))
}

/// An offer and its acceptance in every conversation, sent at once; the
/// messages sent and the acceptances never told.
async fn burst(
    http: &reqwest::Client,
    sim: &str,
    token: &str,
    conversations: &[String],
    socket: &mut Socket,
) -> anyhow::Result<(u64, u64)> {
    let sends = conversations.iter().map(|conversation| async move {
        let offer: Value = http
            .post(format!(
                "{sim}/api/v2/conversations/{conversation}/cobrowse"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let session = offer["id"].as_str().unwrap_or_default().to_owned();
        http.post(format!("{sim}/__sim/messenger/sessions/{session}/answer"))
            .json(&json!({ "outcome": "accepted" }))
            .send()
            .await?
            .error_for_status()?;
        anyhow::Ok(session)
    });
    let sessions: Vec<String> = futures::future::try_join_all(sends).await?;
    let mut waiting: std::collections::HashSet<&str> =
        sessions.iter().map(String::as_str).collect();
    let deadline = tokio::time::Instant::now() + LOST_AFTER;
    while !waiting.is_empty() {
        let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await else {
            break;
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        let update = &value["payload"]["data"]["cobrowseSessionUpdates"];
        if update["event"] == "messenger.accepted" {
            waiting.remove(update["providerSessionId"].as_str().unwrap_or_default());
        }
    }
    Ok((2 * sessions.len() as u64, waiting.len() as u64))
}

fn record(histogram: &mut Histogram<u64>, lost: &mut u64, told: Option<Duration>) {
    match told {
        Some(took) => histogram.saturating_record(took.as_micros() as u64),
        None => *lost += 1,
    }
}

/// Waits until the listener says it listens.
pub(super) async fn listening(base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = reqwest::get(format!("{base}/readyz")).await?.json().await?;
        if status["checks"]["notifications"]["mode"] == "listening" {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("the gateway never listened: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A subscriber to PureCloud session updates, acknowledged and in place.
pub(super) async fn subscribe(base: &str) -> anyhow::Result<Socket> {
    let host = base.trim_start_matches("http://");
    let mut request = format!("ws://{host}/graphql/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", super::bench_key()) } });
    socket.send(Message::Text(init.to_string().into())).await?;
    let subscribe = json!({ "id": "m", "type": "subscribe", "payload": { "query": "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { event providerSessionId } }" } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await?;
    socket
        .send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await?;
    loop {
        let Some(message) = socket.next().await else {
            anyhow::bail!("the socket closed before the subscription was in place");
        };
        if let Message::Text(text) = message? {
            let value: Value = serde_json::from_str(&text)?;
            if value["type"] == "pong" {
                return Ok(socket);
            }
        }
    }
}

/// How long after `at` the subscriber was told `event` of `session` (none:
/// not within [`LOST_AFTER`]). Other updates are passed over.
async fn heard(
    socket: &mut Socket,
    event: &str,
    session: &str,
    at: Instant,
) -> anyhow::Result<Option<Duration>> {
    let deadline = tokio::time::Instant::now() + LOST_AFTER;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        let Ok(Some(message)) = next else {
            return Ok(None);
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        if value["type"] == "ping" {
            socket
                .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                .await?;
            continue;
        }
        let update = &value["payload"]["data"]["cobrowseSessionUpdates"];
        if update["event"] == event && update["providerSessionId"] == session {
            return Ok(Some(at.elapsed()));
        }
    }
}
