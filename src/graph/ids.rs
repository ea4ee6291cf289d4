//! Opaque global ids for `Query.node(id:)`.
//!
//! An id carries everything needed to fetch its node again (a participant's
//! id names its conversation too). It is `base64url("v1:Type:part:part")`
//! with `%` and `:` escaped inside parts. Clients must treat it as opaque.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// What a global id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeId {
    Conversation {
        conversation: String,
    },
    Participant {
        conversation: String,
        participant: String,
    },
    Cobrowsesession {
        conversation: String,
        participant: String,
        communication: String,
    },
    Screenshare {
        conversation: String,
        participant: String,
        communication: String,
    },
    PureCloudSession {
        conversation: String,
        session: String,
    },
    ZoomSession {
        account: String,
        session: String,
    },
    /// A Co-browse for Messenger session (its id is Genesys's session id).
    MessengerSession {
        session: String,
    },
    User {
        user: String,
    },
    Queue {
        queue: String,
    },
}

const VERSION: &str = "v1";

/// The most characters of an id that is not an upstream path segment (Zoom
/// account and session ids, co-browse session ids).
pub(crate) const MAX_ID_CHARS: usize = crate::upstream::MAX_ID_CHARS;

/// Checks an id that goes into an upstream URL (`conversationId`,
/// `participantId`, `userId`, ...): a refusal names the argument.
pub(crate) fn check_upstream_id(name: &str, id: &str) -> async_graphql::Result<()> {
    match crate::upstream::path_segment_error(id) {
        None => Ok(()),
        Some(why) => Err(super::errors::bad_input(format!("`{name}` {why}"))),
    }
}

/// Checks an id that only names a value the gateway holds (never part of a
/// URL): not empty, at most [`MAX_ID_CHARS`] characters.
pub(crate) fn check_other_id(name: &str, id: &str) -> async_graphql::Result<()> {
    if id.trim().is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(super::errors::bad_input(format!(
            "`{name}` must be a non-empty id of at most {MAX_ID_CHARS} characters"
        )));
    }
    Ok(())
}

impl NodeId {
    /// The opaque form.
    pub fn encode(&self) -> String {
        let (tag, parts): (&str, Vec<&str>) = match self {
            NodeId::Conversation { conversation } => ("Conversation", vec![conversation]),
            NodeId::Participant {
                conversation,
                participant,
            } => ("Participant", vec![conversation, participant]),
            NodeId::Cobrowsesession {
                conversation,
                participant,
                communication,
            } => (
                "Cobrowsesession",
                vec![conversation, participant, communication],
            ),
            NodeId::Screenshare {
                conversation,
                participant,
                communication,
            } => (
                "Screenshare",
                vec![conversation, participant, communication],
            ),
            NodeId::PureCloudSession {
                conversation,
                session,
            } => ("PureCloudSession", vec![conversation, session]),
            NodeId::ZoomSession { account, session } => ("ZoomSession", vec![account, session]),
            NodeId::MessengerSession { session } => ("MessengerSession", vec![session]),
            NodeId::User { user } => ("User", vec![user]),
            NodeId::Queue { queue } => ("Queue", vec![queue]),
        };
        let mut text = format!("{VERSION}:{tag}");
        for part in parts {
            text.push(':');
            text.push_str(&part.replace('%', "%25").replace(':', "%3A"));
        }
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Checks every part the way the arguments it stands for are checked:
    /// upstream ids must be plain path segments, other ids short.
    pub(crate) fn check(&self) -> async_graphql::Result<()> {
        match self {
            NodeId::Conversation { conversation } => {
                check_upstream_id("conversation", conversation)
            }
            NodeId::Participant {
                conversation,
                participant,
            } => check_upstream_id("conversation", conversation)
                .and_then(|()| check_upstream_id("participant", participant)),
            NodeId::Cobrowsesession {
                conversation,
                participant,
                communication,
            }
            | NodeId::Screenshare {
                conversation,
                participant,
                communication,
            } => check_upstream_id("conversation", conversation)
                .and_then(|()| check_upstream_id("participant", participant))
                .and_then(|()| check_other_id("communication", communication)),
            NodeId::PureCloudSession {
                conversation,
                session,
            } => check_upstream_id("conversation", conversation)
                .and_then(|()| check_other_id("session", session)),
            NodeId::ZoomSession { account, session } => {
                check_other_id("account", account).and_then(|()| check_other_id("session", session))
            }
            NodeId::MessengerSession { session } => check_other_id("session", session),
            NodeId::User { user } => check_upstream_id("user", user),
            NodeId::Queue { queue } => check_upstream_id("queue", queue),
        }
    }

    /// Reads an id; `None` when it is not one of ours.
    pub(crate) fn decode(id: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(id.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut fields = text.split(':');
        if fields.next()? != VERSION {
            return None;
        }
        let tag = fields.next()?;
        let parts: Vec<String> = fields
            .map(|p| p.replace("%3A", ":").replace("%25", "%"))
            .collect();
        if parts.iter().any(String::is_empty) {
            return None;
        }
        let mut parts = parts.into_iter();
        let mut next = || parts.next();
        let id = match tag {
            "Conversation" => NodeId::Conversation {
                conversation: next()?,
            },
            "Participant" => NodeId::Participant {
                conversation: next()?,
                participant: next()?,
            },
            "Cobrowsesession" => NodeId::Cobrowsesession {
                conversation: next()?,
                participant: next()?,
                communication: next()?,
            },
            "Screenshare" => NodeId::Screenshare {
                conversation: next()?,
                participant: next()?,
                communication: next()?,
            },
            "PureCloudSession" => NodeId::PureCloudSession {
                conversation: next()?,
                session: next()?,
            },
            "ZoomSession" => NodeId::ZoomSession {
                account: next()?,
                session: next()?,
            },
            "MessengerSession" => NodeId::MessengerSession { session: next()? },
            "User" => NodeId::User { user: next()? },
            "Queue" => NodeId::Queue { queue: next()? },
            _ => return None,
        };
        next().is_none().then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_even_with_separators_inside() {
        let id = NodeId::Participant {
            conversation: "a:b%c".into(),
            participant: "p1".into(),
        };
        assert_eq!(NodeId::decode(&id.encode()), Some(id));
    }

    #[test]
    fn foreign_or_truncated_ids_are_rejected() {
        assert_eq!(NodeId::decode("not-an-id"), None);
        let user = NodeId::User { user: "u".into() }.encode();
        assert_eq!(NodeId::decode(&user[..user.len() - 2]), None);
        let extra = URL_SAFE_NO_PAD.encode("v1:User:u:extra");
        assert_eq!(NodeId::decode(&extra), None);
    }
}
