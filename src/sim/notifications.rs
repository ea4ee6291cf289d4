//! The Notifications API, as Genesys Cloud documents it (docs/upstream.md, "Notifications"):
//! channels, their topic subscriptions, and one WebSocket per channel.
//!
//! - `POST /api/v2/notifications/channels` makes a channel; a client holds
//!   at most [`MAX_CHANNELS_PER_CLIENT`], and making one more removes its
//!   least recently used (channels without a socket first).
//! - `GET|PUT|POST|DELETE .../channels/{id}/subscriptions` read, replace,
//!   add to and clear its topics (at most [`MAX_TOPICS_PER_CHANNEL`]; more
//!   is a 400). Each topic is answered `Permitted` or `Rejected`; one
//!   rejected topic fails the request unless `?ignoreErrors=true`.
//! - A channel lives [`super::Faults::channel_lifetime_ms`] (24 hours by
//!   default) from its last subscription; then it is gone (`HEAD` 404) and
//!   its socket is closed.
//! - `GET /channels/{id}` upgrades to the channel's socket; a second socket
//!   drops the first. Heartbeats come every
//!   [`super::Faults::heartbeat_ms`]; a `{"message":"ping"}` is answered
//!   `pong`. Nothing is queued while no socket is connected.
//! - Whenever a conversation routed through a queue changes, every socket
//!   subscribed to that queue's topics carries the conversation.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::data::SimConversation;
use super::notification_topics::topic_permission;
use super::Sim;
use super::SimState;
use crate::upstream::notifications::*;

/// Messages a socket holds for a slow reader before it is dropped.
const SOCKET_BUFFER: usize = 4_096;

/// What a socket task is told to send.
enum Outgoing {
    Text(String),
}

struct SimSocket {
    generation: u64,
    tx: mpsc::Sender<Outgoing>,
}

struct SimChannel {
    client: Arc<str>,
    /// The divisions its client may see (none: all).
    divisions: Option<Arc<[String]>>,
    expires_at: Instant,
    expires: chrono::DateTime<chrono::Utc>,
    used: Instant,
    topics: BTreeSet<String>,
    socket: Option<SimSocket>,
}

/// The channels of every client.
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    generation: AtomicU64,
    /// Conversation events still to be lost (a fault): not sent, while the
    /// sockets stay up and heartbeats go on.
    lose: std::sync::atomic::AtomicU32,
}

#[derive(Default)]
struct HubState {
    channels: HashMap<String, SimChannel>,
    made: u64,
    /// High-water marks, for tests.
    most_topics: usize,
    most_channels: usize,
    sockets_opened: u64,
    events_sent: u64,
}

/// Why a subscription call is refused.
pub(crate) struct Refused(pub StatusCode, pub &'static str, pub String);

/// How a subscription call changes a channel's topics.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum TopicsChange {
    Replace,
    Add,
}

/// What the side door shows of one channel.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelState {
    id: String,
    client: String,
    topics: usize,
    connected: bool,
    expires_in_ms: u64,
}

/// What the side door shows of every channel.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HubSnapshot {
    channels: Vec<ChannelState>,
    most_topics_per_channel: usize,
    most_channels_per_client: usize,
    sockets_opened: u64,
    /// Conversation events handed to sockets so far (not heartbeats).
    events_sent: u64,
}

impl HubState {
    fn prune(&mut self, now: Instant) {
        self.channels.retain(|_, c| c.expires_at > now);
    }

    fn channel(&mut self, client: &str, id: &str) -> Option<&mut SimChannel> {
        let now = Instant::now();
        self.prune(now);
        let channel = self.channels.get_mut(id).filter(|c| &*c.client == client)?;
        channel.used = now;
        Some(channel)
    }
}

impl Hub {
    /// Makes a channel for `client`, living `lifetime`, reachable under
    /// `ws_base`.
    pub(crate) fn create(
        &self,
        grant: &super::Grant,
        lifetime: Duration,
        ws_base: &str,
    ) -> crate::upstream::notifications::Channel {
        let client = &grant.client;
        let mut state = self.state.lock().expect("hub lock");
        let now = Instant::now();
        state.prune(now);
        let mine: Vec<(&String, &SimChannel)> = state
            .channels
            .iter()
            .filter(|(_, c)| c.client == *client)
            .collect();
        if mine.len() >= MAX_CHANNELS_PER_CLIENT {
            // Channels without a socket go first, then the least recently used.
            let evicted = mine
                .iter()
                .min_by_key(|(_, c)| (c.socket.is_some(), c.used))
                .map(|(id, _)| (*id).clone());
            if let Some(id) = evicted {
                state.channels.remove(&id);
            }
        }
        state.made += 1;
        let id = format!("streaming-0-{:016x}", rand::random::<u64>() ^ state.made);
        let expires = chrono::Utc::now()
            + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::days(1));
        state.channels.insert(
            id.clone(),
            SimChannel {
                client: Arc::clone(client),
                divisions: grant.divisions.clone(),
                expires_at: now + lifetime,
                expires,
                used: now,
                topics: BTreeSet::new(),
                socket: None,
            },
        );
        let count = state
            .channels
            .values()
            .filter(|c| c.client == *client)
            .count();
        state.most_channels = state.most_channels.max(count);
        crate::upstream::notifications::Channel {
            connect_uri: Some(format!("{ws_base}/channels/{id}")),
            id: Some(id),
            expires: Some(expires),
        }
    }

    /// The channels of `client`.
    pub(crate) fn list(
        &self,
        client: &str,
        ws_base: &str,
    ) -> Vec<crate::upstream::notifications::Channel> {
        let mut state = self.state.lock().expect("hub lock");
        state.prune(Instant::now());
        state
            .channels
            .iter()
            .filter(|(_, c)| &*c.client == client)
            .map(|(id, c)| crate::upstream::notifications::Channel {
                id: Some(id.clone()),
                connect_uri: Some(format!("{ws_base}/channels/{id}")),
                expires: Some(c.expires),
            })
            .collect()
    }

    /// Whether `client`'s channel `id` is still valid.
    pub(crate) fn exists(&self, client: &str, id: &str) -> bool {
        self.state
            .lock()
            .expect("hub lock")
            .channel(client, id)
            .is_some()
    }

    /// The topics of a channel.
    pub(crate) fn topics(&self, client: &str, id: &str) -> Option<TopicAnswers> {
        let mut state = self.state.lock().expect("hub lock");
        let channel = state.channel(client, id)?;
        Some(permitted(channel.topics.iter().cloned()))
    }

    /// Subscribes a channel to `topics` (each judged by `verdict`); a
    /// subscription renews the channel for `lifetime`.
    pub(crate) fn subscribe(
        &self,
        client: &str,
        id: &str,
        (topics, change, ignore_errors): (Vec<String>, TopicsChange, bool),
        lifetime: Duration,
        verdict: impl Fn(&str) -> TopicAnswer,
    ) -> Result<TopicAnswers, Refused> {
        let mut state = self.state.lock().expect("hub lock");
        let Some(channel) = state.channel(client, id) else {
            return Err(not_found());
        };
        let answers: Vec<TopicAnswer> = topics.iter().map(|t| verdict(t)).collect();
        let rejected: Vec<&TopicAnswer> = answers.iter().filter(|a| !a.permitted()).collect();
        if !rejected.is_empty() && !ignore_errors {
            let names: Vec<&str> = rejected.iter().filter_map(|a| a.id.as_deref()).collect();
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                "notification.subscription.rejected",
                format!("Topics were rejected: {}", names.join(", ")),
            ));
        }
        let mut next = match change {
            TopicsChange::Replace => BTreeSet::new(),
            TopicsChange::Add => channel.topics.clone(),
        };
        next.extend(
            answers
                .iter()
                .filter(|a| a.permitted())
                .filter_map(|a| a.id.clone()),
        );
        if next.len() > MAX_TOPICS_PER_CHANNEL {
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                "notification.subscription.limit",
                format!(
                    "A channel may carry at most {MAX_TOPICS_PER_CHANNEL} topics; this request would make it {}",
                    next.len()
                ),
            ));
        }
        channel.topics = next;
        channel.expires_at = Instant::now() + lifetime;
        channel.expires = chrono::Utc::now()
            + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::days(1));
        let count = channel.topics.len();
        state.most_topics = state.most_topics.max(count);
        Ok(TopicAnswers { entities: answers })
    }

    /// Removes every topic of a channel.
    pub(crate) fn unsubscribe(&self, client: &str, id: &str) -> bool {
        let mut state = self.state.lock().expect("hub lock");
        match state.channel(client, id) {
            Some(channel) => {
                channel.topics.clear();
                true
            }
            None => false,
        }
    }

    /// Connects a new socket to channel `id` (dropping the one before).
    fn attach(&self, id: &str) -> Option<(u64, mpsc::Receiver<Outgoing>)> {
        let mut state = self.state.lock().expect("hub lock");
        state.prune(Instant::now());
        let channel = state.channels.get_mut(id)?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(SOCKET_BUFFER);
        channel.socket = Some(SimSocket { generation, tx });
        channel.used = Instant::now();
        state.sockets_opened += 1;
        Some((generation, rx))
    }

    /// Forgets socket `generation` of channel `id` (it closed).
    fn detach(&self, id: &str, generation: u64) {
        let mut state = self.state.lock().expect("hub lock");
        if let Some(channel) = state.channels.get_mut(id) {
            if channel.socket.as_ref().map(|s| s.generation) == Some(generation) {
                channel.socket = None;
            }
        }
    }

    /// Sends `conversation`'s change to every socket subscribed to a topic
    /// of a queue it was routed through. A socket too slow to take it is
    /// dropped (its client must back-fill, as after any gap).
    pub(crate) fn publish(&self, conversation: &SimConversation) {
        let queues: BTreeSet<&str> = conversation
            .full
            .participants
            .iter()
            .filter_map(|p| p.queue_id.as_deref())
            .collect();
        if queues.is_empty() {
            return;
        }
        let mut state = self.state.lock().expect("hub lock");
        let mut bodies: [Option<Option<String>>; TopicMedia::ALL.len()] = Default::default();
        let mut sent = 0;
        for channel in state.channels.values_mut() {
            let Some(socket) = &channel.socket else {
                continue;
            };
            if !sees(channel, conversation.division()) {
                continue;
            }
            let mut gone = false;
            for (m, media) in TopicMedia::ALL.into_iter().enumerate() {
                for queue in &queues {
                    let topic = queue_topic(queue, media);
                    if !channel.topics.contains(&topic) {
                        continue;
                    }
                    let Some(body) = bodies[m]
                        .get_or_insert_with(|| event_body(conversation, media))
                        .as_deref()
                    else {
                        continue;
                    };
                    gone |= !self.deliver(&socket.tx, &topic, body, &mut sent);
                }
            }
            if gone {
                channel.socket = None;
            }
        }
        state.events_sent += sent;
    }

    /// Sends one event on a socket, counting it in `sent` (unless the
    /// `lose` fault takes it): false when the socket is too slow to take it
    /// (then it is dropped).
    fn deliver(
        &self,
        tx: &mpsc::Sender<Outgoing>,
        topic: &str,
        body: &str,
        sent: &mut u64,
    ) -> bool {
        let lost = self
            .lose
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if lost {
            return true;
        }
        if tx.try_send(Outgoing::Text(message(topic, body))).is_err() {
            return false;
        }
        *sent += 1;
        true
    }

    /// Sends `body` as an event of `topic` to every socket subscribed to
    /// it that may see `division`.
    pub(crate) fn publish_body(&self, topic: &str, division: Option<&str>, body: &str) {
        let mut state = self.state.lock().expect("hub lock");
        let mut sent = 0;
        for channel in state.channels.values_mut() {
            let Some(socket) = &channel.socket else {
                continue;
            };
            if !sees(channel, division) || !channel.topics.contains(topic) {
                continue;
            }
            if !self.deliver(&socket.tx, topic, body, &mut sent) {
                channel.socket = None;
            }
        }
        state.events_sent += sent;
    }

    /// Sends `v2.system.socket_closing` on every socket, and answers them
    /// (to be closed after the grace).
    fn announce_closing(&self) -> Vec<(String, u64)> {
        let state = self.state.lock().expect("hub lock");
        let text = message(SOCKET_CLOSING_TOPIC, "{}");
        state
            .channels
            .iter()
            .filter_map(|(id, c)| {
                let socket = c.socket.as_ref()?;
                let _ = socket.tx.try_send(Outgoing::Text(text.clone()));
                Some((id.clone(), socket.generation))
            })
            .collect()
    }

    /// Closes those sockets (if still connected) and removes their channels.
    fn close(&self, sockets: &[(String, u64)]) {
        let mut state = self.state.lock().expect("hub lock");
        for (id, generation) in sockets {
            let mine = state
                .channels
                .get(id)
                .and_then(|c| c.socket.as_ref())
                .is_some_and(|s| s.generation == *generation);
            if mine {
                state.channels.remove(id);
            }
        }
    }

    /// The senders of every connected socket.
    fn senders(&self) -> Vec<mpsc::Sender<Outgoing>> {
        let state = self.state.lock().expect("hub lock");
        state
            .channels
            .values()
            .filter_map(|c| c.socket.as_ref().map(|s| s.tx.clone()))
            .collect()
    }

    /// Drops every socket (channels stay).
    fn drop_sockets(&self) -> usize {
        let mut state = self.state.lock().expect("hub lock");
        state
            .channels
            .values_mut()
            .filter_map(|c| c.socket.take())
            .count()
    }

    /// Expires every channel now.
    fn expire(&self) -> usize {
        let mut state = self.state.lock().expect("hub lock");
        let count = state.channels.len();
        state.channels.clear();
        count
    }

    fn snapshot(&self) -> HubSnapshot {
        let mut state = self.state.lock().expect("hub lock");
        let now = Instant::now();
        state.prune(now);
        let mut channels: Vec<ChannelState> = state
            .channels
            .iter()
            .map(|(id, c)| ChannelState {
                id: id.clone(),
                client: c.client.to_string(),
                topics: c.topics.len(),
                connected: c.socket.is_some(),
                expires_in_ms: c.expires_at.saturating_duration_since(now).as_millis() as u64,
            })
            .collect();
        channels.sort_by(|a, b| a.id.cmp(&b.id));
        HubSnapshot {
            channels,
            most_topics_per_channel: state.most_topics,
            most_channels_per_client: state.most_channels,
            sockets_opened: state.sockets_opened,
            events_sent: state.events_sent,
        }
    }
}

fn not_found() -> Refused {
    Refused(
        StatusCode::NOT_FOUND,
        "not.found",
        "The channel does not exist or has expired.".into(),
    )
}

/// Every topic answered `Permitted`.
fn permitted(topics: impl Iterator<Item = String>) -> TopicAnswers {
    TopicAnswers {
        entities: topics
            .map(|id| TopicAnswer {
                id: Some(id),
                state: Some("Permitted".into()),
                ..TopicAnswer::default()
            })
            .collect(),
    }
}

/// Whether a channel's client may see a conversation of `division`.
fn sees(channel: &SimChannel, division: Option<&str>) -> bool {
    channel
        .divisions
        .as_ref()
        .is_none_or(|allowed| division.is_some_and(|d| allowed.iter().any(|a| a == d)))
}

/// A socket message of `topic` with a body already in JSON.
fn message(topic: &str, body: &str) -> String {
    let topic = serde_json::to_string(topic).expect("a string");
    format!(
        r#"{{"topicName":{topic},"version":"2","eventBody":{body},"metadata":{{"CorrelationId":"{}"}}}}"#,
        super::data::uuid(&mut rand::rng())
    )
}

/// A conversation as a topic of `media` carries it (none: it has no such
/// media yet): the events' own shape ([`super::events`]).
fn event_body(conversation: &SimConversation, media: TopicMedia) -> Option<String> {
    match media {
        TopicMedia::Cobrowse => {
            Some(serde_json::to_string(&super::events::cobrowse(conversation)).expect("a DTO"))
        }
        TopicMedia::Screenshare => super::events::screenshare(conversation)
            .map(|body| serde_json::to_string(&body).expect("a DTO")),
        // A legacy co-browse conversation has no messages.
        TopicMedia::Messages => None,
    }
}

/// `GET /channels/{id}`: the channel's socket (no token: the channel id is
/// the secret, as upstream's `connectUri` is).
pub(super) async fn socket(
    State(sim): Sim,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    sim.count("GET /channels/{id}");
    if sim.faults.read().expect("faults lock").refuse_sockets {
        return super::error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "service.unavailable",
            "The streaming service is unavailable.",
        );
    }
    let Some((generation, rx)) = sim.hub.attach(&id) else {
        let Refused(status, code, why) = not_found();
        return super::error_body(status, code, &why);
    };
    upgrade.on_upgrade(move |ws| run_socket(sim, id, generation, rx, ws))
}

/// One socket: what the hub sends, heartbeats, and pongs, until either
/// side closes it or another socket takes the channel.
async fn run_socket(
    sim: Arc<SimState>,
    id: String,
    generation: u64,
    mut rx: mpsc::Receiver<Outgoing>,
    mut ws: WebSocket,
) {
    let every = Duration::from_millis(sim.faults.read().expect("faults lock").heartbeat_ms);
    let mut heartbeat = tokio::time::interval_at(Instant::now() + every, every);
    let beat = message(METADATA_TOPIC, &format!(r#"{{"message":"{HEARTBEAT}"}}"#));
    let pong = message(METADATA_TOPIC, r#"{"message":"pong"}"#);
    loop {
        let send = tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Text(text)) => text,
                // Dropped by the hub: another socket, an expiry, a fault.
                None => break,
            },
            _ = heartbeat.tick() => beat.clone(),
            incoming = ws.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) if is_ping(&text) => pong.clone(),
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
        };
        if sim.faults.read().expect("faults lock").heartbeats_stopped {
            // The connection died without closing: nothing gets through.
            continue;
        }
        if ws.send(WsMessage::Text(send.into())).await.is_err() {
            break;
        }
    }
    sim.hub.detach(&id, generation);
    let _ = ws.send(WsMessage::Close(None)).await;
}

fn is_ping(text: &str) -> bool {
    serde_json::from_str::<MetadataBody>(text).is_ok_and(|m| m.message.as_deref() == Some("ping"))
}

/// `GET /__sim/notifications`: every channel, and high-water marks.
pub(super) async fn snapshot(State(sim): Sim) -> Json<HubSnapshot> {
    Json(sim.hub.snapshot())
}

/// `POST /__sim/notifications/drop`: every socket is dropped.
pub(super) async fn drop_sockets(State(sim): Sim) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "dropped": sim.hub.drop_sockets() }))
}

/// How many messages a fault touches.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Count {
    count: usize,
}

/// `POST /__sim/notifications/garble` (`{"count": n}`): a fault: every
/// socket is sent `n` messages that do not read (half not JSON, half JSON
/// of no known shape), as a broken or hostile peer on the path would.
/// Answers how many were sent.
pub(super) async fn garble(State(sim): Sim, Json(garble): Json<Count>) -> Response {
    if garble.count > 1_000_000 {
        return super::error_body(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "at most 1000000 messages at once",
        );
    }
    let mut sent = 0usize;
    for tx in sim.hub.senders() {
        for i in 0..garble.count {
            let text = if i % 2 == 0 {
                format!("not json {i}")
            } else {
                format!(r#"{{"topicName":{i},"eventBody":[]}}"#)
            };
            if tx.send(Outgoing::Text(text)).await.is_err() {
                break;
            }
            sent += 1;
        }
    }
    Json(serde_json::json!({ "sent": sent })).into_response()
}

/// `POST /__sim/notifications/lose` (`{"count": n}`): a fault: the next
/// `n` conversation events are never sent, though the sockets stay up and
/// their heartbeats go on (an event upstream failed to deliver, which only
/// a reconciliation can set right).
pub(super) async fn lose(State(sim): Sim, Json(lost): Json<Count>) -> Response {
    let count = u32::try_from(lost.count).unwrap_or(u32::MAX);
    sim.hub.lose.store(count, Ordering::Relaxed);
    Json(serde_json::json!({ "losing": count })).into_response()
}

/// `POST /__sim/notifications/expire`: every channel expires now.
pub(super) async fn expire(State(sim): Sim) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "expired": sim.hub.expire() }))
}

/// `POST /__sim/notifications/socket_closing`: maintenance. Every socket is
/// told `v2.system.socket_closing` and closed (its channel removed) after
/// [`super::Faults::socket_closing_grace_ms`].
pub(super) async fn socket_closing(State(sim): Sim) -> impl IntoResponse {
    let sockets = sim.hub.announce_closing();
    let grace = Duration::from_millis(
        sim.faults
            .read()
            .expect("faults lock")
            .socket_closing_grace_ms,
    );
    let announced = sockets.len();
    let closing = Arc::clone(&sim);
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        closing.hub.close(&sockets);
    });
    Json(serde_json::json!({ "announced": announced }))
}

type GrantOf = axum::extract::Extension<super::Grant>;

fn lifetime(sim: &SimState) -> Duration {
    Duration::from_millis(sim.faults.read().expect("faults lock").channel_lifetime_ms)
}

fn refused(Refused(status, code, why): Refused) -> Response {
    super::error_body(status, code, &why)
}

/// `POST /api/v2/notifications/channels`.
pub(super) async fn create_channel(State(sim): Sim, grant: GrantOf) -> Response {
    let channel = sim.hub.create(&grant, lifetime(&sim), &sim.ws_base);
    Json(channel).into_response()
}

/// `GET /api/v2/notifications/channels`.
pub(super) async fn list_channels(State(sim): Sim, grant: GrantOf) -> Response {
    Json(Channels {
        entities: sim.hub.list(&grant.client, &sim.ws_base),
    })
    .into_response()
}

/// `HEAD /api/v2/notifications/channels/{id}`: 200 while it is valid.
pub(super) async fn channel_exists(
    State(sim): Sim,
    grant: GrantOf,
    Path(id): Path<String>,
) -> StatusCode {
    if sim.hub.exists(&grant.client, &id) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// `GET .../channels/{id}/subscriptions`.
pub(super) async fn get_subscriptions(
    State(sim): Sim,
    grant: GrantOf,
    Path(id): Path<String>,
) -> Response {
    match sim.hub.topics(&grant.client, &id) {
        Some(topics) => Json(topics).into_response(),
        None => refused(not_found()),
    }
}

/// `DELETE .../channels/{id}/subscriptions`.
pub(super) async fn delete_subscriptions(
    State(sim): Sim,
    grant: GrantOf,
    Path(id): Path<String>,
) -> Response {
    if sim.hub.unsubscribe(&grant.client, &id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        refused(not_found())
    }
}

/// `PUT .../channels/{id}/subscriptions`: the channel's topics are these.
pub(super) async fn put_subscriptions(
    sim: Sim,
    grant: GrantOf,
    id: Path<String>,
    query: axum::extract::RawQuery,
    body: axum::body::Bytes,
) -> Response {
    subscribe(sim, grant, id, query, body, TopicsChange::Replace)
}

/// `POST .../channels/{id}/subscriptions`: these topics too.
pub(super) async fn post_subscriptions(
    sim: Sim,
    grant: GrantOf,
    id: Path<String>,
    query: axum::extract::RawQuery,
    body: axum::body::Bytes,
) -> Response {
    subscribe(sim, grant, id, query, body, TopicsChange::Add)
}

fn subscribe(
    State(sim): Sim,
    grant: GrantOf,
    Path(id): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    body: axum::body::Bytes,
    change: TopicsChange,
) -> Response {
    let topics: Vec<TopicRequest> = match super::answers::parse_json(&body) {
        Ok(topics) => topics,
        Err(reject) => return reject.into_response(),
    };
    let ignore_errors = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "ignoreErrors" && v == "true");
    let topics = topics.into_iter().map(|t| t.id).collect();
    let verdict = |topic: &str| sim.verdict(&grant.client, topic);
    match sim.hub.subscribe(
        &grant.client,
        &id,
        (topics, change, ignore_errors),
        lifetime(&sim),
        verdict,
    ) {
        Ok(answers) => Json(answers).into_response(),
        Err(refusal) => refused(refusal),
    }
}

impl SimState {
    /// Whether `client` may subscribe to `topic`: a queue topic of a known
    /// queue, a permission the client holds, and not rejected by a fault.
    fn verdict(&self, client: &str, topic: &str) -> TopicAnswer {
        let reject = |reason: &str, missing: Vec<String>| TopicAnswer {
            id: Some(topic.to_owned()),
            state: Some("Rejected".into()),
            rejection_reason: Some(reason.to_owned()),
            missing_permissions: missing,
        };
        let media = match crate::upstream::notifications::topic(topic) {
            Topic::Queue { queue_id, media } => {
                let world = self.world.read().expect("world lock");
                if !world.queues.contains_key(queue_id) {
                    return reject("The queue does not exist.", Vec::new());
                }
                media
            }
            Topic::UserMessages { user_id } => {
                let world = self.world.read().expect("world lock");
                if !world.users.contains_key(user_id) {
                    return reject("The user does not exist.", Vec::new());
                }
                TopicMedia::Messages
            }
            _ => {
                return reject(
                    "The simulator publishes queue and user conversation topics only.",
                    Vec::new(),
                )
            }
        };
        let permission = topic_permission(media);
        if self.withheld(client, permission) {
            return reject("Missing permissions.", vec![permission.to_owned()]);
        }
        let faults = self.faults.read().expect("faults lock");
        if faults
            .reject_topics
            .iter()
            .any(|r| topic.contains(r.as_str()))
        {
            return reject("The subscription is not permitted.", Vec::new());
        }
        TopicAnswer {
            id: Some(topic.to_owned()),
            state: Some("Permitted".into()),
            ..TopicAnswer::default()
        }
    }
}
