//! Co-browse for Messenger on the wire (docs/upstream.md, "Co-browse for
//! Messenger"): the offer (`CobrowseWebMessagingSession`), the message
//! topics' events (`QueueConversationMessageEventTopicMessageConversation`,
//! `ConversationMessageEventTopicMessageConversation`), and messages as
//! the messages routes answer them (`MessageData`, `MessageConversation`).
//!
//! **Message text never enters the gateway.** These types name only what
//! co-browse needs: ids, times, states, the co-browse events. serde skips
//! every other field of a body while it reads it (the text of a message,
//! its media, stickers, content), so no text is ever held in a value, let
//! alone stored, cached or logged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A co-browse join code (`joinCode`, `sessionJoinToken`): whoever holds
/// it can join the customer's session as its viewer. Prints as
/// `[redacted]`; only [`JoinCode::expose`] shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JoinCode(String);

impl JoinCode {
    #[cfg(test)]
    pub(crate) fn new(code: impl Into<String>) -> Self {
        Self(code.into())
    }

    /// The code itself, for a caller allowed to see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for JoinCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `POST /api/v2/conversations/{conversationId}/cobrowse` and the guest
/// `GET /api/v2/webdeployments/deployments/{d}/cobrowse/{s}` answer.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CobrowseOffer {
    pub id: Option<String>,
    pub join_code: Option<JoinCode>,
    pub date_offer_ends: Option<DateTime<Utc>>,
    pub communication_type: Option<String>,
}

/// A reference (`...EventTopicUriReference`, `DomainEntityRef`): the id.
#[derive(Deserialize, Clone, Debug, Default)]
pub(crate) struct Ref {
    pub id: Option<String>,
}

/// A message's metadata events (`...MessageMetadata.events`).
#[derive(Deserialize, Clone, Debug, Default)]
pub(crate) struct MessageMetadata {
    #[serde(default)]
    pub events: Vec<MetadataEvent>,
}

/// One metadata event: its `eventType` (`CoBrowse`, `Typing`, ...). Its
/// `subType` (`Offering`, `OfferingAccepted`, ...) is not read: the
/// message itself, read by id, says the same with the session's id.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MetadataEvent {
    pub event_type: Option<String>,
}

/// The `eventType` of co-browse events.
pub(crate) const COBROWSE_EVENT: &str = "CoBrowse";

/// A message as a topic event lists it (`...EventTopicMessageDetails`).
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TopicMessage {
    pub message: Option<Ref>,
    pub message_time: Option<DateTime<Utc>>,
    pub message_metadata: Option<MessageMetadata>,
}

/// A participant of a messaging conversation, as the message topics'
/// events (`...EventTopicMessageMediaParticipant`, messages `M` =
/// [`TopicMessage`]) and `GET /api/v2/conversations/messages/{id}`
/// (`MessageMediaParticipant`, messages [`MessageDetails`]) have it.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessagingParticipant<M> {
    pub purpose: Option<String>,
    pub state: Option<String>,
    pub end_time: Option<DateTime<Utc>>,
    pub user: Option<Ref>,
    pub queue: Option<Ref>,
    #[serde(default = "Vec::new")]
    pub messages: Vec<M>,
}

/// A messaging conversation: its id and participants.
#[derive(Deserialize, Clone, Debug, Default)]
pub(crate) struct MessagingConversation<M> {
    pub id: Option<String>,
    #[serde(default = "Vec::new")]
    pub participants: Vec<MessagingParticipant<M>>,
}

/// The body of a message topic's event
/// (`...EventTopicMessageConversation`).
pub(crate) type MessageTopicEvent = MessagingConversation<TopicMessage>;

/// `GET /api/v2/conversations/messages/{conversationId}`
/// (`MessageConversation`).
pub(crate) type MessageConversation = MessagingConversation<MessageDetails>;

/// A message as either source lists it: its id, time and metadata.
pub(crate) trait ListedMessage {
    fn id(&self) -> Option<&str>;
    fn time(&self) -> Option<DateTime<Utc>>;
    fn metadata(&self) -> Option<&MessageMetadata>;
}

impl ListedMessage for TopicMessage {
    fn id(&self) -> Option<&str> {
        self.message.as_ref().and_then(|r| r.id.as_deref())
    }
    fn time(&self) -> Option<DateTime<Utc>> {
        self.message_time
    }
    fn metadata(&self) -> Option<&MessageMetadata> {
        self.message_metadata.as_ref()
    }
}

impl ListedMessage for MessageDetails {
    fn id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }
    fn time(&self) -> Option<DateTime<Utc>> {
        self.message_time
    }
    fn metadata(&self) -> Option<&MessageMetadata> {
        self.message_metadata.as_ref()
    }
}

/// A message of a participant (`MessageDetails`).
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageDetails {
    pub message_id: Option<String>,
    pub message_time: Option<DateTime<Utc>>,
    pub message_metadata: Option<MessageMetadata>,
}

/// `POST /api/v2/conversations/messages/{id}/messages/bulk`
/// (`TextMessageListing`).
#[derive(Deserialize, Clone, Debug, Default)]
pub(crate) struct MessageListing {
    #[serde(default)]
    pub entities: Vec<MessageData>,
}

/// One message (`MessageData`): only its id, time, channel and the
/// co-browse events of its normalized form.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageData {
    pub id: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    pub messenger_type: Option<String>,
    pub normalized_message: Option<NormalizedMessage>,
}

/// `ConversationNormalizedMessage`: its events.
#[derive(Deserialize, Clone, Debug, Default)]
pub(crate) struct NormalizedMessage {
    #[serde(default)]
    pub events: Vec<MessageEvent>,
}

/// `ConversationMessageEvent`: its co-browse part.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageEvent {
    pub event_type: Option<String>,
    pub co_browse: Option<CoBrowseEvent>,
}

/// `ConversationEventCoBrowse`: `type` (`Offering`, `OfferingAccepted`,
/// `OfferingRejected`, `OfferingExpired`), the session and its join token.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CoBrowseEvent {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub session_id: Option<String>,
    pub session_join_token: Option<JoinCode>,
}

impl MessageData {
    /// Its co-browse events.
    pub(crate) fn cobrowse(&self) -> impl Iterator<Item = &CoBrowseEvent> {
        self.normalized_message
            .iter()
            .flat_map(|m| &m.events)
            .filter(|e| e.event_type.as_deref() == Some(COBROWSE_EVENT))
            .filter_map(|e| e.co_browse.as_ref())
    }
}

/// The most message ids one bulk read takes (the route's documented limit).
pub(crate) const BULK_MESSAGES: usize = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_without_its_text() {
        let body = r#"{"id":"m1","timestamp":"2026-12-07T10:00:00Z","messengerType":"webmessaging",
            "normalizedMessage":{"id":"m1","type":"Event","text":"MARKER card 4111",
              "events":[{"eventType":"CoBrowse","coBrowse":{"type":"Offering","sessionId":"s1","sessionJoinToken":"123"}}]}}"#;
        let message: MessageData = serde_json::from_str(body).expect("reads");
        let shown = format!("{message:?}");
        assert!(!shown.contains("MARKER"), "{shown}");
        assert!(
            !shown.contains("123"),
            "the join token never prints: {shown}"
        );
        let event = message.cobrowse().next().expect("a co-browse event");
        assert_eq!(event.session_id.as_deref(), Some("s1"));
        assert_eq!(
            event.session_join_token.as_ref().map(JoinCode::expose),
            Some("123")
        );
    }
}
