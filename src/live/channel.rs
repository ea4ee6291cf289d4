//! One notification channel and its socket, kept connected.
//!
//! A slot owns a channel subscribed to its share of the topics and reads
//! its socket, reporting what it hears to the listener. It watches the
//! connection: a socket that stays silent past the heartbeat timeout (a
//! ping is sent at half of it) or closes is reconnected (to the same
//! channel while upstream still has it, else to a new one); a
//! `v2.system.socket_closing` notice gets a new channel connected before
//! the old socket is let go; the channel is subscribed again before it
//! expires; a new share of topics replaces the old. Every reconnection is
//! reported, so that the listener back-fills what may have been missed.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::messenger::signals::Signals;
use crate::upstream::events::{CobrowseEvent, ScreenShareEvent};
use crate::upstream::messages::MessageTopicEvent;
use crate::upstream::model::CobrowseConversation;
use crate::upstream::notifications::{self, MetadataBody, Socket, Topic, TopicAnswer, TopicMedia};
use crate::upstream::{Credential, PureCloud, UpstreamError};

/// How a slot watches its connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotConfig {
    /// Silence after which a socket is taken for dead.
    pub heartbeat_timeout: Duration,
    /// How long connecting a socket may take.
    pub connect_timeout: Duration,
}

/// What a message said.
pub(crate) enum Heard {
    /// A heartbeat or a pong: the connection lives.
    Alive,
    /// A co-browse event, as the listing holds a conversation: only what
    /// the event carries.
    Cobrowse(Arc<CobrowseConversation>),
    Screenshare(ScreenShareEvent),
    /// A messaging conversation changed: what it says of co-browse.
    Messages(Signals),
    /// A message that does not read: a change may be lost.
    Garbled(String),
}

/// What a slot tells the listener.
pub(crate) enum ChannelReport {
    /// Its socket is connected and subscribed (again); `rejected` topics
    /// will not be heard.
    Connected {
        slot: usize,
        topics: usize,
        rejected: Vec<TopicAnswer>,
        /// Whether changes may have gone unheard before it (a new socket
        /// after none), rather than a socket replaced or resubscribed
        /// without a gap.
        gap: bool,
    },
    Heard {
        slot: usize,
        at: Instant,
        heard: Heard,
    },
    /// Its socket was lost (it reconnects): changes in between are unheard.
    Lost { slot: usize, why: String },
    /// It cannot connect now (it keeps trying, backing off).
    Failed { slot: usize, why: String },
}

/// A channel subscribed to a slot's topics.
struct Open {
    id: String,
    connect_uri: String,
    /// When to subscribe again, before the channel expires.
    renew_at: Instant,
    /// How long the channel lives after a subscription (as upstream said
    /// when it was made).
    lifetime: Duration,
    rejected: Vec<TopicAnswer>,
    topics: usize,
}

/// Why listening on one socket stopped.
enum Stop {
    Lost(Open, String),
    /// The listener is gone.
    Quit,
}

/// Runs slot `slot` until the listener goes away.
pub(crate) async fn run(
    slot: usize,
    client: PureCloud,
    mut topics: watch::Receiver<Arc<[String]>>,
    reports: mpsc::Sender<ChannelReport>,
    config: SlotConfig,
) {
    let mut reuse: Option<Open> = None;
    let mut failures = 0u32;
    loop {
        let wanted = Arc::clone(&topics.borrow_and_update());
        let connected = async {
            let open = open(&client, reuse.take(), &wanted).await?;
            match notifications::connect(&open.connect_uri, config.connect_timeout).await {
                Ok(socket) => Ok((open, socket)),
                Err(e) => Err(e),
            }
        };
        let (open, socket) = match connected.await {
            Ok(connected) => connected,
            Err(e) => {
                failures += 1;
                let why = format!("{}: {e}", e.code());
                if reports
                    .send(ChannelReport::Failed { slot, why })
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        failures = 0;
        let mut listening = Listening {
            slot,
            client: &client,
            reports: &reports,
            config,
        };
        if !listening.connected(&open, true).await {
            return;
        }
        match listening.listen(open, socket, &mut topics).await {
            Stop::Lost(open, why) => {
                if reports
                    .send(ChannelReport::Lost { slot, why })
                    .await
                    .is_err()
                {
                    return;
                }
                reuse = Some(open);
            }
            Stop::Quit => return,
        }
    }
}

/// Backoff after `failures` failed connections in a row: 0.25 s doubling
/// to 30 s, with jitter.
fn backoff(failures: u32) -> Duration {
    let base = Duration::from_millis(250) * 2u32.saturating_pow(failures.min(7));
    let capped = base.min(Duration::from_secs(30));
    capped.mul_f64(0.75 + rand::random::<f64>() * 0.5)
}

/// A channel subscribed to `topics`: `reuse` again while upstream still has
/// it, else a new one.
async fn open(
    client: &PureCloud,
    reuse: Option<Open>,
    topics: &[String],
) -> Result<Open, UpstreamError> {
    let cred = Credential::Service;
    let known = match reuse {
        Some(open) if client.channel_exists(&cred, &open.id).await? => Some(open),
        _ => None,
    };
    let (id, connect_uri, lifetime) = match known {
        Some(open) => (open.id, open.connect_uri, open.lifetime),
        None => {
            let channel = client.create_channel(&cred).await?.value;
            let lifetime = channel
                .expires
                .and_then(|e| (e - chrono::Utc::now()).to_std().ok())
                .unwrap_or(DEFAULT_LIFETIME);
            match (channel.id, channel.connect_uri) {
                (Some(id), Some(uri)) => (id, uri, lifetime),
                _ => {
                    return Err(UpstreamError::BadResponse {
                        detail: "a new notification channel came without id or connectUri".into(),
                        correlation_id: None,
                    })
                }
            }
        }
    };
    subscribe(client, (id, connect_uri, lifetime), topics).await
}

/// Subscribes channel `id` to `topics` (again).
async fn subscribe(
    client: &PureCloud,
    (id, connect_uri, lifetime): (String, String, Duration),
    topics: &[String],
) -> Result<Open, UpstreamError> {
    let answers = client
        .subscribe(&Credential::Service, &id, topics)
        .await?
        .value;
    let rejected: Vec<TopicAnswer> = answers
        .entities
        .into_iter()
        .filter(|a| !a.permitted())
        .collect();
    Ok(Open {
        id,
        connect_uri,
        renew_at: Instant::now() + lifetime.mul_f64(0.6),
        lifetime,
        rejected,
        topics: topics.len(),
    })
}

/// A channel's life when upstream does not say (24 hours, as documented).
/// A channel is subscribed again at 60 % of its life.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// One socket being read.
struct Listening<'a> {
    slot: usize,
    client: &'a PureCloud,
    reports: &'a mpsc::Sender<ChannelReport>,
    config: SlotConfig,
}

type Replacement = BoxFuture<'static, Result<(Open, Socket), UpstreamError>>;

impl Listening<'_> {
    async fn listen(
        &mut self,
        mut open: Open,
        mut socket: Socket,
        topics: &mut watch::Receiver<Arc<[String]>>,
    ) -> Stop {
        let timeout = self.config.heartbeat_timeout;
        let (mut last, mut pinged) = (Instant::now(), false);
        let mut watchdog = tokio::time::interval(timeout / 8);
        let mut replacement: Option<Replacement> = None;
        loop {
            tokio::select! {
                message = socket.next() => {
                    let text = match message {
                        Some(Ok(WsMessage::Text(text))) => text,
                        Some(Ok(WsMessage::Close(_)) | Err(_)) | None => {
                            let why = "the socket closed".to_owned();
                            return match replacement {
                                Some(next) => self.replaced(next, open, why).await,
                                None => Stop::Lost(open, why),
                            };
                        }
                        Some(Ok(_)) => continue,
                    };
                    (last, pinged) = (Instant::now(), false);
                    match read(&text) {
                        Read::Closing => {
                            replacement.get_or_insert_with(|| self.replacement(topics));
                        }
                        Read::Heard(heard) => {
                            let report = ChannelReport::Heard { slot: self.slot, at: last, heard };
                            if self.reports.send(report).await.is_err() {
                                return Stop::Quit;
                            }
                        }
                    }
                }
                done = async { replacement.as_mut().expect("guarded").await }, if replacement.is_some() => {
                    replacement = None;
                    let told = match done {
                        Ok((next, next_socket)) => {
                            // The new socket is connected: the old one goes.
                            let _ = socket.close(None).await;
                            (open, socket, last) = (next, next_socket, Instant::now());
                            self.connected(&open, false).await
                        }
                        Err(e) => self.failed(&e).await,
                    };
                    if !told {
                        return Stop::Quit;
                    }
                }
                _ = watchdog.tick() => {
                    if let Err(why) = ping_or_give_up(&mut socket, last, &mut pinged, timeout).await {
                        return Stop::Lost(open, why);
                    }
                }
                // Subscribed again before the channel expires, or to a
                // new share of topics (which the listener is told of).
                renew = async {
                    tokio::select! {
                        () = tokio::time::sleep_until(open.renew_at) => Some(false),
                        changed = topics.changed() => changed.ok().map(|()| true),
                    }
                } => {
                    let Some(told) = renew else {
                        return Stop::Quit;
                    };
                    let wanted = Arc::clone(&topics.borrow_and_update());
                    match self.resubscribe(&open, &wanted).await {
                        Ok(renewed) => open = renewed,
                        Err(why) => return Stop::Lost(open, why),
                    }
                    if told && !self.connected(&open, false).await {
                        return Stop::Quit;
                    }
                }
            }
        }
    }

    /// Tells the listener a connection failed (false: it is gone).
    async fn failed(&self, e: &UpstreamError) -> bool {
        let why = format!("{}: {e}", e.code());
        let report = ChannelReport::Failed {
            slot: self.slot,
            why,
        };
        self.reports.send(report).await.is_ok()
    }

    /// Tells the listener the slot is connected and subscribed (after a
    /// gap, or without one); false: the listener is gone.
    async fn connected(&self, open: &Open, gap: bool) -> bool {
        let report = ChannelReport::Connected {
            slot: self.slot,
            topics: open.topics,
            rejected: open.rejected.clone(),
            gap,
        };
        self.reports.send(report).await.is_ok()
    }

    /// Subscribes the channel again (renewing it), to `topics`.
    async fn resubscribe(&self, open: &Open, topics: &[String]) -> Result<Open, String> {
        subscribe(
            self.client,
            (open.id.clone(), open.connect_uri.clone(), open.lifetime),
            topics,
        )
        .await
        .map_err(|e| {
            format!(
                "the channel could not be subscribed again: {}: {e}",
                e.code()
            )
        })
    }

    /// A new channel and socket for the same topics (maintenance).
    fn replacement(&self, topics: &watch::Receiver<Arc<[String]>>) -> Replacement {
        let client = self.client.clone();
        let wanted = Arc::clone(&topics.borrow());
        let connect_timeout = self.config.connect_timeout;
        async move {
            let open = open(&client, None, &wanted).await?;
            let socket = notifications::connect(&open.connect_uri, connect_timeout).await?;
            Ok((open, socket))
        }
        .boxed()
    }

    /// The old socket closed while its replacement was being made: wait for
    /// it (nothing is heard meanwhile, so it counts as lost either way).
    async fn replaced(&self, next: Replacement, open: Open, why: String) -> Stop {
        match next.await {
            Ok((next, _socket)) => Stop::Lost(next, why),
            Err(_) => Stop::Lost(open, why),
        }
    }
}

/// The watchdog: a socket silent for half the timeout is pinged (once);
/// one silent for the whole timeout is given up (the error says why).
async fn ping_or_give_up(
    socket: &mut Socket,
    last: Instant,
    pinged: &mut bool,
    timeout: Duration,
) -> Result<(), String> {
    let silent = last.elapsed();
    if silent >= timeout {
        return Err(format!("no heartbeat for {} ms", silent.as_millis()));
    }
    if silent >= timeout / 2 && !*pinged {
        *pinged = true;
        let ping = WsMessage::Text(r#"{"message":"ping"}"#.into());
        if socket.send(ping).await.is_err() {
            return Err("the socket does not take a ping".into());
        }
    }
    Ok(())
}

/// What one text frame is.
enum Read {
    Heard(Heard),
    Closing,
}

fn read(text: &str) -> Read {
    type Raw<'a> = notifications::Message<&'a serde_json::value::RawValue>;
    let message: Raw<'_> = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(e) => return Read::Heard(Heard::Garbled(format!("a message is not JSON: {e}"))),
    };
    let topic = message.topic_name.as_deref().unwrap_or("");
    let body = message.event_body.map_or("null", |b| b.get());
    let garbled = |e: serde_json::Error| {
        Read::Heard(Heard::Garbled(format!(
            "an event of {} does not read: {e}",
            crate::upstream::shortened(topic, 120)
        )))
    };
    match notifications::topic(topic) {
        Topic::Metadata => {
            let _: Option<MetadataBody> = serde_json::from_str(body).ok();
            Read::Heard(Heard::Alive)
        }
        Topic::SocketClosing => Read::Closing,
        Topic::Queue {
            media: TopicMedia::Cobrowse,
            ..
        } => match serde_json::from_str::<CobrowseEvent>(body) {
            Ok(event) => Read::Heard(Heard::Cobrowse(Arc::new(event.into_view()))),
            Err(e) => garbled(e),
        },
        Topic::Queue {
            media: TopicMedia::Screenshare,
            ..
        } => match serde_json::from_str(body) {
            Ok(share) => Read::Heard(Heard::Screenshare(share)),
            Err(e) => garbled(e),
        },
        // Only what co-browse needs is kept; the rest (text among it) is
        // left here.
        Topic::Queue {
            media: TopicMedia::Messages,
            ..
        }
        | Topic::UserMessages { .. } => match serde_json::from_str::<MessageTopicEvent>(body) {
            Ok(event) => match Signals::of(&event) {
                Some(signals) => Read::Heard(Heard::Messages(signals)),
                None => Read::Heard(Heard::Garbled(
                    "a message event names no conversation".into(),
                )),
            },
            Err(e) => garbled(e),
        },
        // A topic not subscribed to: nothing to apply, the socket lives.
        Topic::Other => Read::Heard(Heard::Alive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_what_their_topic_says_and_garbage_is_named() {
        let heartbeat =
            r#"{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}"#;
        assert!(matches!(read(heartbeat), Read::Heard(Heard::Alive)));
        let closing = r#"{"topicName":"v2.system.socket_closing","eventBody":{}}"#;
        assert!(matches!(read(closing), Read::Closing));
        let event = r#"{"topicName":"v2.routing.queues.q.conversations.cobrowseSessions","version":"2","eventBody":{"id":"c1","participants":[]},"metadata":{"CorrelationId":"x"}}"#;
        match read(event) {
            Read::Heard(Heard::Cobrowse(view)) => assert_eq!(view.id.as_deref(), Some("c1")),
            _ => panic!("a co-browse event"),
        }
        let bad = r#"{"topicName":"v2.routing.queues.q.conversations.cobrowseSessions","eventBody":{"participants":7}}"#;
        match read(bad) {
            Read::Heard(Heard::Garbled(why)) => assert!(why.contains("does not read"), "{why}"),
            _ => panic!("garbled"),
        }
        assert!(matches!(read("{"), Read::Heard(Heard::Garbled(_))));
    }
}
