//! Zoom Cobrowse webhook bodies, parsed and checked (docs/upstream.md, "Zoom").
//!
//! A body is either Zoom's `endpoint.url_validation` challenge or one of the
//! four Cobrowse events. Required fields are checked and named in errors;
//! unknown extra fields are accepted. Each event carries a digest of its
//! canonical JSON (keys sorted), so a re-delivery is recognised whatever the
//! key order or whitespace.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What a webhook body is.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Zoom checks that the endpoint is ours.
    UrlValidation { plain_token: String },
    /// A Cobrowse event.
    Event(Box<ZoomEvent>),
}

/// The four Cobrowse events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum EventKind {
    SessionStarted,
    UserJoined,
    UserLeft,
    SessionEnded,
    /// The gateway's own: no event came for `webhooks.zoom_idle_after`, so
    /// the session is taken as ended ([`super::idle`]). Never accepted
    /// from a webhook.
    IdleEnded,
}

impl EventKind {
    /// The wire name.
    pub(crate) fn wire(self) -> &'static str {
        match self {
            EventKind::SessionStarted => "cobrowse.session_started",
            EventKind::UserJoined => "cobrowse.session_user_joined",
            EventKind::UserLeft => "cobrowse.session_user_left",
            EventKind::SessionEnded => "cobrowse.session_ended",
            EventKind::IdleEnded => IDLE_ENDED,
        }
    }

    /// The kind of a webhook's `event` (Zoom's kinds only).
    pub(crate) fn from_wire(name: &str) -> Option<Self> {
        [
            Self::SessionStarted,
            Self::UserJoined,
            Self::UserLeft,
            Self::SessionEnded,
        ]
        .into_iter()
        .find(|k| k.wire() == name)
    }

    /// The kind of a stored event or of the change feed (the gateway's
    /// own kind too).
    pub(crate) fn from_stored(name: &str) -> Option<Self> {
        Self::from_wire(name).or((name == IDLE_ENDED).then_some(Self::IdleEnded))
    }
}

/// The wire name of the gateway's idle end.
const IDLE_ENDED: &str = "gateway.session_idle_ended";

impl EventKind {}

/// A user's role in a Zoom Cobrowse session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ZoomRole {
    Customer,
    Agent,
}

/// The user an event is about (all optional on `started` and `ended`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct UserInfo {
    pub(crate) user_id: Option<String>,
    pub(crate) user_name: Option<String>,
    pub(crate) role: Option<ZoomRole>,
}

/// What an event says, by kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Details {
    Started {
        start_time: DateTime<Utc>,
        start_url: Option<String>,
        user: UserInfo,
    },
    Joined {
        connection_id: String,
        join_time: DateTime<Utc>,
        user: UserInfo,
    },
    Left {
        connection_id: String,
        leave_time: DateTime<Utc>,
        leave_reason: String,
        user: UserInfo,
    },
    Ended {
        end_time: DateTime<Utc>,
        start_time: Option<DateTime<Utc>>,
        session_pin: Option<String>,
        end_reason: Option<String>,
        user: UserInfo,
    },
    /// No event came after `quiet_since` (epoch ms, the session's latest
    /// activity) for `idle_after_s`.
    IdleEnded { quiet_since: i64, idle_after_s: u64 },
}

/// One checked Cobrowse event.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoomEvent {
    pub(crate) kind: EventKind,
    pub(crate) event_ts: i64,
    pub(crate) account_id: String,
    pub(crate) session_id: String,
    pub(crate) details: Details,
    /// SHA-256 of the canonical JSON: the identity of a delivery.
    pub(crate) digest: [u8; 32],
    /// The canonical JSON, as stored.
    pub(crate) canonical: String,
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("unknown event `{0}`; expected one of cobrowse.session_started, cobrowse.session_user_joined, cobrowse.session_user_left, cobrowse.session_ended, endpoint.url_validation")]
    UnknownEvent(String),
    #[error("`{0}` is required")]
    Missing(&'static str),
    #[error("`{field}` is invalid: {why}")]
    Invalid { field: &'static str, why: String },
}

impl EventError {
    /// A stable code for the error.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            EventError::Json(_) => "MALFORMED_JSON",
            EventError::UnknownEvent(_) => "UNKNOWN_EVENT",
            EventError::Missing(_) => "MISSING_FIELD",
            EventError::Invalid { .. } => "INVALID_FIELD",
        }
    }
}

/// Reads a webhook body (Zoom's event kinds only).
pub fn parse(body: &[u8]) -> Result<Inbound, EventError> {
    parse_as(body, EventKind::from_wire)
}

/// Reads a stored event (the gateway's idle ends too).
pub(crate) fn parse_stored(body: &[u8]) -> Result<Inbound, EventError> {
    parse_as(body, EventKind::from_stored)
}

fn parse_as(body: &[u8], kind_of: fn(&str) -> Option<EventKind>) -> Result<Inbound, EventError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
    let root = value.as_object().ok_or(EventError::Invalid {
        field: "(body)",
        why: "must be a JSON object".into(),
    })?;
    let event = string(root, "event", "event")?.ok_or(EventError::Missing("event"))?;
    let payload = object(root, "payload", "payload")?.ok_or(EventError::Missing("payload"))?;
    if event == "endpoint.url_validation" {
        let plain_token = string(payload, "plainToken", "payload.plainToken")?
            .ok_or(EventError::Missing("payload.plainToken"))?;
        return Ok(Inbound::UrlValidation { plain_token });
    }
    let kind = kind_of(&event).ok_or_else(|| EventError::UnknownEvent(truncate(&event)))?;
    let event_ts = match root.get("event_ts") {
        None | Some(Value::Null) => return Err(EventError::Missing("event_ts")),
        Some(v) => v.as_i64().ok_or(EventError::Invalid {
            field: "event_ts",
            why: "must be an integer (epoch milliseconds)".into(),
        })?,
    };
    let account_id = required_string(payload, "account_id", "payload.account_id")?;
    let object = object(payload, "object", "payload.object")?
        .ok_or(EventError::Missing("payload.object"))?;
    let session_id = required_string(object, "session_id", "payload.object.session_id")?;
    let details = details(kind, object)?;
    let canonical = crate::canonical::canonical_json(&value);
    let digest = Sha256::digest(canonical.as_bytes()).into();
    Ok(Inbound::Event(Box::new(ZoomEvent {
        kind,
        event_ts,
        account_id,
        session_id,
        details,
        digest,
        canonical,
    })))
}

/// What an event of `kind` says, from its `payload.object`.
fn details(kind: EventKind, object: &Map<String, Value>) -> Result<Details, EventError> {
    let user = || -> Result<UserInfo, EventError> {
        Ok(UserInfo {
            user_id: string(object, "user_id", "payload.object.user_id")?,
            user_name: string(object, "user_name", "payload.object.user_name")?,
            role: role(object)?,
        })
    };
    Ok(match kind {
        EventKind::SessionStarted => Details::Started {
            start_time: required_time(object, "start_time", "payload.object.start_time")?,
            start_url: string(object, "start_url", "payload.object.start_url")?,
            user: user()?,
        },
        EventKind::UserJoined => {
            required_string(object, "user_id", "payload.object.user_id")?;
            Details::Joined {
                connection_id: required_string(
                    object,
                    "user_connection_id",
                    "payload.object.user_connection_id",
                )?,
                join_time: required_time(object, "join_time", "payload.object.join_time")?,
                user: user()?,
            }
        }
        EventKind::UserLeft => {
            required_string(object, "user_id", "payload.object.user_id")?;
            Details::Left {
                connection_id: required_string(
                    object,
                    "user_connection_id",
                    "payload.object.user_connection_id",
                )?,
                leave_time: required_time(object, "leave_time", "payload.object.leave_time")?,
                leave_reason: string(object, "leave_reason", "payload.object.leave_reason")?
                    .unwrap_or_else(|| "Left the session".into()),
                user: user()?,
            }
        }
        EventKind::SessionEnded => Details::Ended {
            end_time: required_time(object, "end_time", "payload.object.end_time")?,
            start_time: time(object, "start_time", "payload.object.start_time")?,
            session_pin: string(object, "session_pin", "payload.object.session_pin")?,
            end_reason: string(object, "end_reason", "payload.object.end_reason")?,
            user: user()?,
        },
        EventKind::IdleEnded => Details::IdleEnded {
            quiet_since: object
                .get("quiet_since")
                .and_then(Value::as_i64)
                .ok_or(EventError::Missing("payload.object.quiet_since"))?,
            idle_after_s: object
                .get("idle_after_s")
                .and_then(Value::as_u64)
                .ok_or(EventError::Missing("payload.object.idle_after_s"))?,
        },
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

fn object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<&'a Map<String, Value>>, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(EventError::Invalid {
            field,
            why: "must be an object".into(),
        }),
    }
}

fn string(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<String>, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 2048 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(EventError::Invalid {
            field,
            why: "longer than 2048 characters".into(),
        }),
        Some(_) => Err(EventError::Invalid {
            field,
            why: "must be a string".into(),
        }),
    }
}

fn required_string(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<String, EventError> {
    match string(map, key, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(EventError::Missing(field)),
    }
}

fn time(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, EventError> {
    match string(map, key, field)? {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| EventError::Invalid {
                field,
                why: format!("`{}` is not an ISO-8601 date-time ({e})", truncate(&text)),
            }),
    }
}

fn required_time(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<DateTime<Utc>, EventError> {
    time(map, key, field)?.ok_or(EventError::Missing(field))
}

fn role(map: &Map<String, Value>) -> Result<Option<ZoomRole>, EventError> {
    match string(map, "role_type", "payload.object.role_type")?.as_deref() {
        None => Ok(None),
        Some("customer") => Ok(Some(ZoomRole::Customer)),
        Some("agent") => Ok(Some(ZoomRole::Agent)),
        Some(other) => Err(EventError::Invalid {
            field: "payload.object.role_type",
            why: format!("`{}` is not customer or agent", truncate(other)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn joined() -> Value {
        json!({
            "event": "cobrowse.session_user_joined",
            "event_ts": 1_763_800_000_000_i64,
            "payload": { "account_id": "acc", "object": {
                "session_id": "s1", "user_connection_id": "c1", "user_id": "u1",
                "user_name": "Ava", "role_type": "agent", "join_time": "2026-11-22T09:00:00Z"
            }}
        })
    }

    #[test]
    fn a_valid_event_is_typed_and_extra_fields_are_accepted() {
        let mut body = joined();
        body["payload"]["object"]["something_new"] = json!(true);
        let Inbound::Event(event) = parse(body.to_string().as_bytes()).expect("valid") else {
            panic!("an event")
        };
        assert_eq!(event.kind, EventKind::UserJoined);
        assert_eq!(event.session_id, "s1");
        assert!(
            matches!(event.details, Details::Joined { ref connection_id, .. } if connection_id == "c1")
        );
    }

    #[test]
    fn the_digest_ignores_key_order_and_whitespace() {
        let a = parse(joined().to_string().as_bytes()).expect("valid");
        let pretty = serde_json::to_string_pretty(&joined()).expect("json");
        let b = parse(pretty.as_bytes()).expect("valid");
        let (Inbound::Event(a), Inbound::Event(b)) = (a, b) else {
            panic!("events")
        };
        assert_eq!(a.digest, b.digest);
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        let mut body = joined();
        body["payload"]["object"]
            .as_object_mut()
            .expect("object")
            .remove("user_connection_id");
        assert_eq!(
            parse(body.to_string().as_bytes()),
            Err(EventError::Missing("payload.object.user_connection_id"))
        );
        let mut body = joined();
        body["payload"]["object"]["join_time"] = json!("yesterday");
        assert!(matches!(
            parse(body.to_string().as_bytes()),
            Err(EventError::Invalid {
                field: "payload.object.join_time",
                ..
            })
        ));
        let mut body = joined();
        body["event"] = json!("cobrowse.session_paused");
        assert!(matches!(
            parse(body.to_string().as_bytes()),
            Err(EventError::UnknownEvent(_))
        ));
        assert!(matches!(parse(b"{ nope"), Err(EventError::Json(_))));
    }

    #[test]
    fn url_validation_is_recognised() {
        let body = json!({ "event": "endpoint.url_validation", "event_ts": 1, "payload": { "plainToken": "abc" } });
        assert_eq!(
            parse(body.to_string().as_bytes()),
            Ok(Inbound::UrlValidation {
                plain_token: "abc".into()
            })
        );
    }
}
