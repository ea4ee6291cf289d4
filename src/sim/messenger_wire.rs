//! Co-browse for Messenger in the simulator, as data: its conversations,
//! messages and offers, and their bodies as the simulator serves them, each
//! field named as the SDK's model names it (a test below checks every name
//! against the pinned SDK release's models): the offer
//! (`CobrowseWebMessagingSession`), the message topics' events, the message
//! conversation (`MessageConversation`) and messages (`MessageData`, with
//! their text: the gateway must drop it).

use serde::Serialize;
use serde_with::skip_serializing_none;

use chrono::{DateTime, SecondsFormat, Utc};

/// A messaging or voice conversation.
#[derive(Clone, Debug)]
pub(crate) struct MsgConversation {
    pub id: String,
    pub voice: bool,
    pub division: &'static str,
    pub queue_id: String,
    pub queue_name: String,
    pub agent_id: String,
    pub agent_name: String,
    pub deployment_id: String,
    pub started: DateTime<Utc>,
    pub agent_ended: Option<DateTime<Utc>>,
    pub messages: Vec<SimMessage>,
    pub offers: Vec<SimOffer>,
    /// The demo's story of it (none: a test's).
    pub story: Option<Story>,
}

/// Where a demo conversation is in its co-browse story
/// ([`super::messenger_pace`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Story {
    /// Its number among the demo's: what its customer does is chosen by it.
    pub index: u64,
    /// Steps it has taken.
    pub stage: u8,
    /// When it last took one (the demo moves the one that waited longest).
    pub moved: DateTime<Utc>,
}

/// A message of a conversation.
#[derive(Clone, Debug)]
pub(crate) struct SimMessage {
    pub id: String,
    pub at: DateTime<Utc>,
    pub inbound: bool,
    pub text: String,
    /// A co-browse event: its type and session.
    pub cobrowse: Option<(&'static str, String, Option<String>)>,
}

/// A co-browse offer.
#[derive(Clone, Debug)]
pub(crate) struct SimOffer {
    pub session_id: String,
    pub join_code: String,
    pub ends: DateTime<Utc>,
    /// `OfferingAccepted`, `OfferingRejected` or `OfferingExpired`, when.
    pub answer: Option<(&'static str, DateTime<Utc>)>,
    /// Ended through the guest route.
    pub deleted: bool,
    /// What the customer's page reported of it (the demo's pages).
    pub page: PageReported,
}

/// What a simulated page reported of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageReported {
    No,
    Started,
    Ended,
}

pub(super) fn uuid() -> String {
    super::data::uuid(&mut rand::rng())
}

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[skip_serializing_none]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Offer {
    pub(super) id: String,
    name: String,
    join_code: String,
    websocket_url: String,
    date_offer_ends: String,
    communication_type: &'static str,
    self_uri: String,
}

#[derive(Serialize)]
struct UriRef {
    id: String,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetaEvent {
    event_type: &'static str,
    sub_type: &'static str,
}

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "type")]
    kind: &'static str,
    events: Vec<MetaEvent>,
}

/// `...EventTopicMessageDetails`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicDetails {
    message: UriRef,
    message_time: String,
    message_status: &'static str,
    message_metadata: Meta,
}

/// `...EventTopicMessageMediaParticipant` (the fields the simulator fills).
#[skip_serializing_none]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicParticipant {
    id: String,
    name: Option<String>,
    start_time: String,
    connected_time: Option<String>,
    end_time: Option<String>,
    purpose: &'static str,
    state: &'static str,
    direction: &'static str,
    user: Option<UriRef>,
    queue: Option<UriRef>,
    messages: Vec<TopicDetails>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `...EventTopicMessageConversation`.
#[derive(Serialize)]
struct TopicConversation {
    id: String,
    participants: Vec<TopicParticipant>,
}

/// `MessageDetails` (`GET /api/v2/conversations/messages/{id}`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestDetails {
    message_id: String,
    #[serde(rename = "messageURI")]
    message_uri: String,
    message_status: &'static str,
    message_time: String,
    message_metadata: Meta,
}

/// `MessageMediaParticipant`.
#[skip_serializing_none]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestParticipant {
    id: String,
    start_time: String,
    end_time: Option<String>,
    purpose: &'static str,
    state: &'static str,
    user: Option<UriRef>,
    queue: Option<UriRef>,
    messages: Vec<RestDetails>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `MessageConversation`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RestConversation {
    id: String,
    participants: Vec<RestParticipant>,
    self_uri: String,
}

#[skip_serializing_none]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoBrowse {
    #[serde(rename = "type")]
    kind: &'static str,
    session_id: String,
    session_join_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MsgEvent {
    event_type: &'static str,
    co_browse: CoBrowse,
}

/// `ConversationNormalizedMessage`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Normalized {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
    events: Vec<MsgEvent>,
    direction: &'static str,
}

/// `MessageData`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageDataBody {
    id: String,
    timestamp: String,
    direction: &'static str,
    messenger_type: &'static str,
    status: &'static str,
    normalized_message: Normalized,
    conversation_id: String,
    self_uri: String,
}

impl SimMessage {
    fn meta(&self) -> Meta {
        match &self.cobrowse {
            Some((kind, _, _)) => Meta {
                kind: "Event",
                events: vec![MetaEvent {
                    event_type: "CoBrowse",
                    sub_type: kind,
                }],
            },
            None => Meta {
                kind: "Text",
                events: Vec::new(),
            },
        }
    }

    pub(super) fn data(&self, conversation: &str) -> MessageDataBody {
        let direction = if self.inbound { "inbound" } else { "outbound" };
        MessageDataBody {
            id: self.id.clone(),
            timestamp: time(self.at),
            direction,
            messenger_type: "webmessaging",
            status: if self.inbound { "received" } else { "sent" },
            normalized_message: Normalized {
                id: self.id.clone(),
                kind: if self.cobrowse.is_some() {
                    "Event"
                } else {
                    "Text"
                },
                text: self.text.clone(),
                events: self
                    .cobrowse
                    .iter()
                    .map(|(kind, session, token)| MsgEvent {
                        event_type: "CoBrowse",
                        co_browse: CoBrowse {
                            kind,
                            session_id: session.clone(),
                            session_join_token: token.clone(),
                        },
                    })
                    .collect(),
                direction: if self.inbound { "Inbound" } else { "Outbound" },
            },
            conversation_id: conversation.to_owned(),
            self_uri: format!(
                "/api/v2/conversations/messages/{conversation}/messages/{}",
                self.id
            ),
        }
    }
}

impl MsgConversation {
    fn agent_state(&self) -> &'static str {
        if self.agent_ended.is_some() {
            "disconnected"
        } else {
            "connected"
        }
    }

    /// The body of its message topics' event: customer (with the
    /// messages) and agent.
    pub(super) fn topic_body(&self) -> String {
        let details = |inbound: bool| -> Vec<TopicDetails> {
            self.messages
                .iter()
                .filter(|m| m.inbound == inbound)
                .map(|m| TopicDetails {
                    message: UriRef {
                        id: m.id.clone(),
                        name: String::new(),
                    },
                    message_time: time(m.at),
                    message_status: if inbound { "received" } else { "sent" },
                    message_metadata: m.meta(),
                })
                .collect()
        };
        let body = TopicConversation {
            id: self.id.clone(),
            participants: vec![
                TopicParticipant {
                    id: format!("{}-customer", self.id),
                    name: Some("Customer".into()),
                    start_time: time(self.started),
                    connected_time: Some(time(self.started)),
                    end_time: None,
                    purpose: "customer",
                    state: "connected",
                    direction: "inbound",
                    user: None,
                    queue: self.queue(),
                    messages: details(true),
                    kind: "webmessaging",
                },
                TopicParticipant {
                    id: format!("{}-agent", self.id),
                    name: Some(self.agent_name.clone()),
                    start_time: time(self.started),
                    connected_time: Some(time(self.started)),
                    end_time: self.agent_ended.map(time),
                    purpose: "agent",
                    state: self.agent_state(),
                    direction: "inbound",
                    user: Some(self.agent()),
                    queue: self.queue(),
                    messages: details(false),
                    kind: "webmessaging",
                },
            ],
        };
        serde_json::to_string(&body).expect("a DTO")
    }

    /// Its agent.
    fn agent(&self) -> UriRef {
        UriRef {
            id: self.agent_id.clone(),
            name: self.agent_name.clone(),
        }
    }

    /// Its queue (none: it was transferred to the agent in person).
    fn queue(&self) -> Option<UriRef> {
        (!self.queue_id.is_empty()).then(|| UriRef {
            id: self.queue_id.clone(),
            name: self.queue_name.clone(),
        })
    }

    /// `GET /api/v2/conversations/messages/{id}`.
    pub(super) fn rest(&self) -> RestConversation {
        let details = |inbound: bool| -> Vec<RestDetails> {
            self.messages
                .iter()
                .filter(|m| m.inbound == inbound)
                .map(|m| RestDetails {
                    message_id: m.id.clone(),
                    message_uri: format!(
                        "/api/v2/conversations/messages/{}/messages/{}",
                        self.id, m.id
                    ),
                    message_status: if inbound { "received" } else { "sent" },
                    message_time: time(m.at),
                    message_metadata: m.meta(),
                })
                .collect()
        };
        RestConversation {
            id: self.id.clone(),
            participants: vec![
                RestParticipant {
                    id: format!("{}-customer", self.id),
                    start_time: time(self.started),
                    end_time: None,
                    purpose: "customer",
                    state: "connected",
                    user: None,
                    queue: self.queue(),
                    messages: details(true),
                    kind: "webmessaging",
                },
                RestParticipant {
                    id: format!("{}-agent", self.id),
                    start_time: time(self.started),
                    end_time: self.agent_ended.map(time),
                    purpose: "agent",
                    state: self.agent_state(),
                    user: Some(self.agent()),
                    queue: self.queue(),
                    messages: details(false),
                    kind: "webmessaging",
                },
            ],
            self_uri: format!("/api/v2/conversations/messages/{}", self.id),
        }
    }

    pub(super) fn offer_body(&self, offer: &SimOffer) -> Offer {
        Offer {
            id: offer.session_id.clone(),
            name: format!(
                "Co-browse {}",
                &offer.session_id[..8.min(offer.session_id.len())]
            ),
            join_code: offer.join_code.clone(),
            websocket_url: format!("wss://cobrowse.example.invalid/{}", offer.session_id),
            date_offer_ends: time(offer.ends),
            communication_type: if self.voice { "Call" } else { "Message" },
            self_uri: format!(
                "/api/v2/webdeployments/deployments/{}/cobrowse/{}",
                self.deployment_id, offer.session_id
            ),
        }
    }
}

impl MsgConversation {
    /// The conversation as analytics reports it `lag` after `now`'s real
    /// time (none: too new to be there): the customer's and the agent's
    /// communications of media `message` (web messaging) or `voice`, one
    /// interact segment each, through its queue. Nothing in it says
    /// co-browse: analytics has no Messenger co-browse field
    /// (docs/upstream.md, "Co-browse for Messenger").
    pub(super) fn analytics(
        &self,
        now: DateTime<Utc>,
        lag: chrono::Duration,
    ) -> Option<crate::upstream::analytics::AnalyticsConversation> {
        use crate::upstream::analytics::{
            AnalyticsConversation, AnalyticsParticipant, AnalyticsSegment, AnalyticsSession,
        };
        let seen = now - lag;
        if self.started > seen {
            return None;
        }
        let end = self.agent_ended.filter(|t| *t <= seen);
        let queue = (!self.queue_id.is_empty()).then(|| self.queue_id.clone());
        let session = |purpose: &str| AnalyticsSession {
            session_id: Some(format!("{}-{purpose}-session", self.id)),
            media_type: Some(if self.voice { "voice" } else { "message" }.into()),
            direction: Some("inbound".into()),
            segments: vec![AnalyticsSegment {
                segment_start: Some(self.started),
                segment_end: end,
                segment_type: Some("interact".into()),
                queue_id: queue.clone(),
                ..AnalyticsSegment::default()
            }],
            ..AnalyticsSession::default()
        };
        let participant = |purpose: &str, user: Option<&str>, name: &str| AnalyticsParticipant {
            participant_id: Some(format!("{}-{purpose}", self.id)),
            participant_name: Some(name.to_owned()),
            purpose: Some(purpose.to_owned()),
            user_id: user.map(str::to_owned),
            sessions: vec![session(purpose)],
        };
        Some(AnalyticsConversation {
            conversation_id: Some(self.id.clone()),
            conversation_start: Some(self.started),
            conversation_end: end,
            originating_direction: Some("inbound".into()),
            division_ids: vec![self.division.to_owned()],
            external_tag: None,
            participants: vec![
                participant("customer", None, "Customer"),
                participant("agent", Some(&self.agent_id), &self.agent_name),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of `value` is a field of SDK model `model` (nested models
    /// followed by their declared types).
    fn check(models: &serde_json::Value, model: &str, value: &serde_json::Value) {
        let fields = &models[model]["fields"];
        assert!(fields.is_object(), "the fixture has no model {model}");
        let Some(object) = value.as_object() else {
            return;
        };
        for (key, inner) in object {
            let Some(kind) = fields[key].as_str() else {
                panic!("{model} has no field {key}");
            };
            let inner_model = kind
                .strip_prefix("list[")
                .and_then(|k| k.strip_suffix(']'))
                .unwrap_or(kind);
            if models[inner_model].is_object() {
                match inner {
                    serde_json::Value::Array(items) => {
                        items.iter().for_each(|i| check(models, inner_model, i));
                    }
                    other => check(models, inner_model, other),
                }
            }
        }
    }

    #[test]
    fn the_simulators_bodies_use_the_sdk_models_field_names() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/genesys-sdk.json"
        )))
        .expect("the fixture");
        let models = &fixture["models"];
        let now = chrono::Utc::now();
        let mut c = MsgConversation {
            id: "c1".into(),
            voice: false,
            division: "div-north",
            queue_id: "q1".into(),
            queue_name: "Web Support".into(),
            agent_id: "u1".into(),
            agent_name: "Ava".into(),
            deployment_id: "d1".into(),
            started: now,
            agent_ended: Some(now),
            messages: Vec::new(),
            offers: Vec::new(),
            story: None,
        };
        let offer = SimOffer {
            session_id: "s1".into(),
            join_code: "123456".into(),
            ends: now,
            answer: None,
            deleted: false,
            page: PageReported::No,
        };
        c.say(false, "Offering", "s1", Some("123456".into()), now);
        let json = |v: &dyn erased::Json| v.value();
        check(
            models,
            "CobrowseWebMessagingSession",
            &json(&c.offer_body(&offer)),
        );
        let topic: serde_json::Value = serde_json::from_str(&c.topic_body()).expect("JSON");
        check(
            models,
            "QueueConversationMessageEventTopicMessageConversation",
            &topic,
        );
        check(
            models,
            "ConversationMessageEventTopicMessageConversation",
            &topic,
        );
        check(models, "MessageConversation", &json(&c.rest()));
        check(models, "MessageData", &json(&c.messages[0].data("c1")));
    }

    mod erased {
        pub(super) trait Json {
            fn value(&self) -> serde_json::Value;
        }
        impl<T: serde::Serialize> Json for T {
            fn value(&self) -> serde_json::Value {
                serde_json::to_value(self).expect("serializes")
            }
        }
    }
}
