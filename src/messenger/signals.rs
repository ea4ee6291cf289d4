//! What the gateway takes from a messaging conversation: which of its
//! messages carry co-browse events, where it was routed, and whether its
//! agent leg ended. Read from a message topic's event or from the
//! conversation's messages route (the polling fallback) alike; everything
//! else of the body (message text above all) is left behind here.

use chrono::{DateTime, Utc};

use super::{Fact, FactSource, MessengerChannel, Outcome, What};
use crate::upstream::messages::{
    ListedMessage, MessageData, MessageMetadata, MessagingConversation, COBROWSE_EVENT,
};
use crate::upstream::model::Conversation as Call;

/// A message that carries co-browse events, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marked {
    pub(crate) message_id: String,
    pub(crate) at: Option<DateTime<Utc>>,
}

/// What one look at a messaging conversation says about co-browse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Signals {
    pub(crate) conversation_id: String,
    /// The queue it was routed through (the last one named).
    pub(crate) queue_id: Option<String>,
    /// The agent who took it (the last one named).
    pub(crate) user_id: Option<String>,
    /// Whether its agent leg ended: every agent participant ended (false
    /// while one goes on, or before an agent joined).
    pub(crate) agent_left: bool,
    /// When, as the latest agent's `endTime` says (a participant may be
    /// `disconnected` before its end time is filled in).
    pub(crate) agent_end: Option<DateTime<Utc>>,
    /// Its messages with co-browse events.
    pub(crate) marked: Vec<Marked>,
}

/// A participant as both sources have it.
struct SignalParticipant<'a> {
    purpose: Option<&'a str>,
    state: Option<&'a str>,
    end_time: Option<DateTime<Utc>>,
    user: Option<&'a str>,
    queue: Option<&'a str>,
}

impl Signals {
    /// The signals of a message topic's event or of
    /// `GET /api/v2/conversations/messages/{id}` (none: it names no
    /// conversation).
    pub(crate) fn of<M: ListedMessage>(conversation: &MessagingConversation<M>) -> Option<Self> {
        let id = conversation.id.as_deref()?;
        let parts = conversation.participants.iter().map(|p| SignalParticipant {
            purpose: p.purpose.as_deref(),
            state: p.state.as_deref(),
            end_time: p.end_time,
            user: p.user.as_ref().and_then(|u| u.id.as_deref()),
            queue: p.queue.as_ref().and_then(|q| q.id.as_deref()),
        });
        let messages = conversation
            .participants
            .iter()
            .flat_map(|p| &p.messages)
            .map(|m| (m.id(), m.time(), m.metadata()));
        Some(Self::read(id, parts, messages))
    }

    /// The signals of a voice call as `GET /api/v2/conversations/{id}`
    /// answers it (no messages: only its routing and its agent leg).
    pub(crate) fn of_call(id: &str, conversation: &Call) -> Self {
        let parts = conversation.participants.iter().map(|p| SignalParticipant {
            purpose: p.purpose.as_ref().map(|w| w.raw()),
            state: None,
            end_time: p.end_time,
            user: p.user_id.as_deref(),
            queue: p.queue_id.as_deref(),
        });
        Self::read(id, parts, std::iter::empty())
    }

    fn read<'a>(
        id: &str,
        parts: impl Iterator<Item = SignalParticipant<'a>>,
        messages: impl Iterator<
            Item = (
                Option<&'a str>,
                Option<DateTime<Utc>>,
                Option<&'a MessageMetadata>,
            ),
        >,
    ) -> Self {
        let mut signals = Signals {
            conversation_id: id.to_owned(),
            ..Signals::default()
        };
        let (mut agents, mut ended, mut last_end) = (0, 0, None::<DateTime<Utc>>);
        for part in parts {
            if let Some(queue) = part.queue {
                signals.queue_id = Some(queue.to_owned());
            }
            if part.purpose != Some("agent") {
                continue;
            }
            agents += 1;
            if let Some(user) = part.user {
                signals.user_id = Some(user.to_owned());
            }
            let over = matches!(part.state, Some("disconnected" | "terminated"));
            if over || part.end_time.is_some() {
                ended += 1;
                last_end = last_end.max(part.end_time);
            }
        }
        if agents > 0 && ended == agents {
            signals.agent_left = true;
            signals.agent_end = last_end;
        }
        for (message_id, at, metadata) in messages {
            let (Some(message_id), Some(metadata)) = (message_id, metadata) else {
                continue;
            };
            let cobrowse = metadata
                .events
                .iter()
                .any(|e| e.event_type.as_deref() == Some(COBROWSE_EVENT));
            if cobrowse && !signals.marked.iter().any(|m| m.message_id == message_id) {
                signals.marked.push(Marked {
                    message_id: message_id.to_owned(),
                    at,
                });
            }
        }
        signals
    }
}

/// The facts a message read through the messages routes states: one per
/// co-browse event that names its session. `signals` says where the
/// conversation was routed.
pub(crate) fn facts_of(signals: &Signals, message: &MessageData) -> Vec<Fact> {
    let Some(message_id) = message.id.as_deref() else {
        return Vec::new();
    };
    let Some(at) = message.timestamp else {
        return Vec::new();
    };
    let channel = match message.messenger_type.as_deref() {
        Some("webmessaging") => Some(MessengerChannel::WebMessaging),
        _ => None,
    };
    message
        .cobrowse()
        .enumerate()
        .filter_map(|(i, event)| {
            let session_id = event.session_id.as_deref()?;
            let kind = event.kind.as_deref()?;
            let what = if kind == "Offering" {
                What::Offered {
                    source: FactSource::Messages,
                    channel,
                    offer_ends: None,
                    queue_id: signals.queue_id.clone(),
                    user_id: signals.user_id.clone(),
                    join_code: event.session_join_token.clone(),
                }
            } else {
                What::Answered {
                    outcome: Outcome::of_event(kind)?,
                }
            };
            Some(Fact {
                key: if i == 0 {
                    format!("message:{message_id}")
                } else {
                    format!("message:{message_id}:{i}")
                },
                session_id: session_id.to_owned(),
                conversation_id: signals.conversation_id.clone(),
                at,
                what,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_its_co_browse_messages_and_the_agent_legs_end() {
        let body = r#"{"id":"c1","participants":[
            {"purpose":"customer","state":"connected","queue":{"id":"q1"},"messages":[
              {"message":{"id":"m1"},"messageTime":"2026-12-07T10:00:00Z","messageMetadata":{"type":"Event","events":[{"eventType":"CoBrowse","subType":"Offering"}]}},
              {"message":{"id":"m2"},"messageTime":"2026-12-07T10:00:01Z","messageMetadata":{"type":"Text","events":[{"eventType":"Typing","subType":"On"}]}}]},
            {"purpose":"agent","state":"disconnected","endTime":"2026-12-07T10:05:00Z","user":{"id":"u1"}}]}"#;
        let event: crate::upstream::messages::MessageTopicEvent =
            serde_json::from_str(body).expect("reads");
        let signals = Signals::of(&event).expect("a conversation");
        assert_eq!(signals.queue_id.as_deref(), Some("q1"));
        assert_eq!(signals.user_id.as_deref(), Some("u1"));
        assert_eq!(
            signals
                .marked
                .iter()
                .map(|m| m.message_id.as_str())
                .collect::<Vec<_>>(),
            ["m1"]
        );
        assert!(signals.agent_left);
        assert_eq!(
            signals.agent_end.map(|t| t.to_rfc3339()),
            Some("2026-12-07T10:05:00+00:00".into())
        );
    }

    #[test]
    fn a_message_states_an_offer_or_its_outcome() {
        let signals = Signals {
            conversation_id: "c1".into(),
            queue_id: Some("q1".into()),
            ..Signals::default()
        };
        let read = |kind: &str| -> Vec<Fact> {
            let body = format!(
                r#"{{"id":"m1","timestamp":"2026-12-07T10:00:00Z","messengerType":"webmessaging",
                   "normalizedMessage":{{"events":[{{"eventType":"CoBrowse","coBrowse":{{"type":"{kind}","sessionId":"s1"}}}}]}}}}"#
            );
            facts_of(&signals, &serde_json::from_str(&body).expect("reads"))
        };
        let offered = read("Offering");
        assert!(matches!(
            &offered[0].what,
            What::Offered { channel: Some(MessengerChannel::WebMessaging), queue_id: Some(q), .. } if q == "q1"
        ));
        assert_eq!(offered[0].key, "message:m1");
        assert!(matches!(
            read("OfferingRejected")[0].what,
            What::Answered {
                outcome: Outcome::Rejected
            }
        ));
        assert!(
            read("Something new").is_empty(),
            "an unknown type states nothing"
        );
    }
}
