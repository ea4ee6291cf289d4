//! The Notifications API's wire (docs/upstream.md, "Notifications"): channels, their topic
//! subscriptions, and the messages a channel's WebSocket carries.
//!
//! As with the REST DTOs, every field is optional and unknown fields are
//! ignored; the simulator serializes the same types.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::UpstreamError;

use super::model::Time;

/// The most topics one channel may carry (upstream answers 400 beyond).
pub(crate) const MAX_TOPICS_PER_CHANNEL: usize = 1_000;

/// The most channels one OAuth client may hold (creating one more removes
/// the least recently used).
pub(crate) const MAX_CHANNELS_PER_CLIENT: usize = 20;

/// The topic of heartbeats and pongs.
pub(crate) const METADATA_TOPIC: &str = "channel.metadata";

/// The topic of the notice that the socket is about to close.
pub(crate) const SOCKET_CLOSING_TOPIC: &str = "v2.system.socket_closing";

/// A notification channel.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Channel {
    pub id: Option<String>,
    pub connect_uri: Option<String>,
    pub expires: Option<Time>,
}

/// The channels of a client.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct Channels {
    #[serde(default)]
    pub entities: Vec<Channel>,
}

/// One topic of a subscription request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct TopicRequest {
    pub id: String,
}

/// What upstream says of one subscribed topic.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TopicAnswer {
    pub id: Option<String>,
    /// `Permitted` or `Rejected`.
    pub state: Option<String>,
    pub rejection_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_permissions: Vec<String>,
}

impl TopicAnswer {
    /// Whether it is a queue's message topic (Co-browse for Messenger's).
    pub(crate) fn is_messages(&self) -> bool {
        matches!(
            topic(self.id.as_deref().unwrap_or("")),
            Topic::Queue {
                media: TopicMedia::Messages,
                ..
            } | Topic::UserMessages { .. }
        )
    }

    /// Whether upstream will deliver this topic.
    pub(crate) fn permitted(&self) -> bool {
        self.state.as_deref() == Some("Permitted")
    }
}

/// The topics of a channel, as a subscription call answers them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct TopicAnswers {
    #[serde(default)]
    pub entities: Vec<TopicAnswer>,
}

/// The media a queue topic is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TopicMedia {
    /// Legacy co-browse (`QueueConversationCobrowseEventTopic*`).
    Cobrowse,
    /// Legacy screen share.
    Screenshare,
    /// Messages (`QueueConversationMessageEventTopic*`): where Co-browse
    /// for Messenger's offers and outcomes show.
    Messages,
}

impl TopicMedia {
    /// Every one, in topic order.
    pub(crate) const ALL: [TopicMedia; 3] = [
        TopicMedia::Cobrowse,
        TopicMedia::Screenshare,
        TopicMedia::Messages,
    ];

    fn suffix(self) -> &'static str {
        match self {
            TopicMedia::Cobrowse => "cobrowseSessions",
            TopicMedia::Screenshare => "screenshares",
            TopicMedia::Messages => "messages",
        }
    }

    /// `co-browse`, `screen-share` or `message`, for people.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TopicMedia::Cobrowse => "co-browse",
            TopicMedia::Screenshare => "screen-share",
            TopicMedia::Messages => "message",
        }
    }
}

/// What `GET /api/v2/notifications/availabletopics` answers
/// (`AvailableTopicEntityListing`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct AvailableTopics {
    #[serde(default)]
    pub entities: Vec<AvailableTopic>,
}

/// One topic Genesys publishes, with what subscribing to it requires (the
/// fields of `expand=requiresPermissions,permissionDetails,enforced,visibility`;
/// `AvailableTopic`, docs/upstream.md "Notifications").
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AvailableTopic {
    /// The topic's template (`v2.routing.queues.{id}.conversations.cobrowseSessions`).
    pub id: Option<String>,
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permission_details: Vec<PermissionDetails>,
    /// Whether the permissions are enforced.
    pub enforced: Option<bool>,
    /// `Public` or `Preview`.
    pub visibility: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic_parameters: Vec<String>,
}

/// One requirement of a topic (`PermissionDetails`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionDetails {
    /// `requiresPermissions`, `requiresCurrentUser`, `requiresDivisionPermissions`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    pub allows_current_user: Option<bool>,
    pub enforced: Option<bool>,
}

/// The template of a queue topic of one media, as `availabletopics` names it.
pub(crate) fn queue_topic_template(media: TopicMedia) -> String {
    queue_topic("{id}", media)
}

/// The topic of a queue's conversations of one media
/// (`v2.routing.queues.{id}.conversations.cobrowseSessions`; note the
/// capital S, unlike the REST path).
pub(crate) fn queue_topic(queue_id: &str, media: TopicMedia) -> String {
    format!(
        "v2.routing.queues.{queue_id}.conversations.{}",
        media.suffix()
    )
}

/// The topic of an agent's message conversations.
pub(crate) fn user_messages_topic(user_id: &str) -> String {
    format!("v2.users.{user_id}.conversations.messages")
}

/// Every topic template the listener subscribes to, as `availabletopics`
/// names them: the queue topics of each media, then the user message topic.
pub(crate) fn templates() -> Vec<String> {
    TopicMedia::ALL
        .into_iter()
        .map(queue_topic_template)
        .chain(std::iter::once(user_messages_topic("{id}")))
        .collect()
}

/// The template of a topic name (none: not one the listener subscribes to).
pub(crate) fn template_of(name: &str) -> Option<String> {
    match topic(name) {
        Topic::Queue { media, .. } => Some(queue_topic_template(media)),
        Topic::UserMessages { .. } => Some(user_messages_topic("{id}")),
        Topic::Metadata | Topic::SocketClosing | Topic::Other => None,
    }
}

/// What a topic name is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Topic<'a> {
    /// A queue's conversations of one media.
    Queue {
        queue_id: &'a str,
        media: TopicMedia,
    },
    /// An agent's message conversations
    /// (`v2.users.{id}.conversations.messages`): those transferred to the
    /// agent in person, which no queue topic carries.
    UserMessages { user_id: &'a str },
    /// Heartbeats and pongs.
    Metadata,
    /// The socket is about to close.
    SocketClosing,
    /// Anything else.
    Other,
}

/// Reads a topic name.
pub(crate) fn topic(name: &str) -> Topic<'_> {
    match name {
        METADATA_TOPIC => return Topic::Metadata,
        SOCKET_CLOSING_TOPIC => return Topic::SocketClosing,
        _ => {}
    }
    if let Some(user_id) = name
        .strip_prefix("v2.users.")
        .and_then(|rest| rest.strip_suffix(".conversations.messages"))
        .filter(|id| !id.is_empty() && !id.contains('.'))
    {
        return Topic::UserMessages { user_id };
    }
    let queue = name
        .strip_prefix("v2.routing.queues.")
        .and_then(|rest| rest.split_once(".conversations."));
    match queue {
        Some((queue_id, suffix)) if !queue_id.is_empty() && !queue_id.contains('.') => {
            match TopicMedia::ALL.into_iter().find(|m| m.suffix() == suffix) {
                Some(media) => Topic::Queue { queue_id, media },
                None => Topic::Other,
            }
        }
        _ => Topic::Other,
    }
}

/// A message on a channel's socket. The body stays raw until its topic
/// says what it is.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Message<B> {
    pub topic_name: Option<String>,
    pub version: Option<String>,
    pub event_body: Option<B>,
    pub metadata: Option<Metadata>,
}

/// A message's metadata.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct Metadata {
    #[serde(rename = "CorrelationId")]
    pub correlation_id: Option<String>,
}

/// The body of a `channel.metadata` message.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct MetadataBody {
    pub message: Option<String>,
}

/// The heartbeat's message.
pub(crate) const HEARTBEAT: &str = "WebSocket Heartbeat";

/// The largest notification message read (bigger ones close the socket,
/// which is then reconnected and back-filled).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A channel's WebSocket.
pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to a channel's `connectUri` (`wss://` in production).
pub(crate) async fn connect(uri: &str, timeout: Duration) -> Result<Socket, UpstreamError> {
    let unavailable = |status: Option<u16>, detail: String| UpstreamError::Unavailable {
        status,
        detail,
        correlation_id: None,
    };
    // An event is one conversation: a few kilobytes. Far larger frames are
    // refused rather than held.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connecting = tokio_tungstenite::connect_async_with_config(uri, Some(config), true);
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(unavailable(
            Some(response.status().as_u16()),
            format!(
                "the notification socket was refused with {}",
                response.status()
            ),
        )),
        Ok(Err(e)) => Err(unavailable(
            None,
            format!("cannot connect the notification socket: {e}"),
        )),
        Err(_) => Err(UpstreamError::Timeout {
            route: "notification socket",
            timeout,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_read_back() {
        let name = queue_topic("q-1", TopicMedia::Cobrowse);
        assert_eq!(name, "v2.routing.queues.q-1.conversations.cobrowseSessions");
        assert_eq!(
            topic(&name),
            Topic::Queue {
                queue_id: "q-1",
                media: TopicMedia::Cobrowse
            }
        );
        assert_eq!(
            topic("v2.routing.queues.q-1.conversations.screenshares"),
            Topic::Queue {
                queue_id: "q-1",
                media: TopicMedia::Screenshare
            }
        );
        assert_eq!(topic("channel.metadata"), Topic::Metadata);
        assert_eq!(topic("v2.system.socket_closing"), Topic::SocketClosing);
        for other in [
            "v2.routing.queues.q-1.conversations.cobrowsesessions",
            "v2.routing.queues..conversations.cobrowseSessions",
            "v2.users.u-1.conversations.cobrowseSessions",
            "",
        ] {
            assert_eq!(topic(other), Topic::Other, "{other}");
        }
    }
}
