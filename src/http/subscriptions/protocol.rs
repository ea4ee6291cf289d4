//! The messages of GraphQL over WebSocket, in both dialects the gateway
//! speaks: graphql-transport-ws (the `graphql-ws` library's protocol, what
//! GraphiQL uses) and the older subscriptions-transport-ws (subprotocol
//! `graphql-ws`). Reading a client message is a plain function with its own
//! tests; the socket loop in `mod.rs` decides what to do with it.

use serde_json::{json, Map, Value};

/// Close codes (graphql-transport-ws; the older dialect uses the same).
pub(crate) mod close {
    /// A message the server cannot read.
    pub(crate) const BAD_REQUEST: u16 = 4400;
    /// `subscribe` before the connection was acknowledged.
    pub(crate) const UNAUTHORIZED: u16 = 4401;
    /// `connection_init` refused, or the credentials stopped being valid.
    pub(crate) const FORBIDDEN: u16 = 4403;
    /// No `connection_init` within `server.websocket_init_timeout`.
    pub(crate) const INIT_TIMEOUT: u16 = 4408;
    /// A `subscribe` with an id that is in use.
    pub(crate) const DUPLICATE_ID: u16 = 4409;
    /// A second `connection_init`.
    pub(crate) const TOO_MANY_INITS: u16 = 4429;
    /// The gateway is shutting down (RFC 6455 "going away").
    pub(crate) const GOING_AWAY: u16 = 1001;
    /// The client asked to end the connection (older dialect).
    pub(crate) const NORMAL: u16 = 1000;
}

/// Which dialect a socket speaks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// graphql-transport-ws: `subscribe`, `next`, `complete`, `ping`/`pong`.
    TransportWs,
    /// subscriptions-transport-ws: `start`, `data`, `stop`.
    Legacy,
}

impl Dialect {
    /// The subprotocol names, as offered in `Sec-WebSocket-Protocol`.
    pub(crate) const NAMES: [&'static str; 2] = ["graphql-transport-ws", "graphql-ws"];

    /// The first offered subprotocol the gateway speaks.
    pub(crate) fn negotiate(offered: &str) -> Option<Self> {
        offered.split(',').find_map(|p| match p.trim() {
            "graphql-transport-ws" => Some(Self::TransportWs),
            "graphql-ws" => Some(Self::Legacy),
            _ => None,
        })
    }
}

/// What a client sent.
#[derive(Debug, PartialEq)]
pub(crate) enum ClientMessage {
    Init { payload: Value },
    Subscribe { id: String, payload: Operation },
    Complete { id: String },
    Ping,
    Pong,
    Terminate,
}

/// The operation of a `subscribe` (or `start`).
#[derive(Debug, PartialEq)]
pub(crate) struct Operation {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Map<String, Value>,
}

/// Why a message could not be read (the socket closes with 4400).
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Invalid(pub String);

/// The largest id the gateway keeps for a subscription.
const MAX_ID_BYTES: usize = 128;

/// Reads one client message of `dialect`.
pub(crate) fn read(dialect: Dialect, text: &[u8]) -> Result<ClientMessage, Invalid> {
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| Invalid(format!("the message is not JSON: {e}")))?;
    let Value::Object(mut message) = value else {
        return Err(Invalid("a message must be a JSON object".into()));
    };
    let kind = match message.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        _ => return Err(Invalid("a message needs a string `type`".into())),
    };
    let legacy = dialect == Dialect::Legacy;
    Ok(match kind.as_str() {
        "connection_init" => ClientMessage::Init {
            payload: message.remove("payload").unwrap_or(Value::Null),
        },
        "subscribe" if !legacy => subscribe(&mut message)?,
        "start" if legacy => subscribe(&mut message)?,
        "complete" if !legacy => ClientMessage::Complete { id: id(&message)? },
        "stop" if legacy => ClientMessage::Complete { id: id(&message)? },
        "ping" if !legacy => ClientMessage::Ping,
        "pong" if !legacy => ClientMessage::Pong,
        "connection_terminate" if legacy => ClientMessage::Terminate,
        other => return Err(Invalid(format!("unknown message type `{other}`"))),
    })
}

fn id(message: &Map<String, Value>) -> Result<String, Invalid> {
    match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_ID_BYTES => Ok(id.clone()),
        Some(Value::String(_)) => Err(Invalid(format!(
            "`id` must be a non-empty string of at most {MAX_ID_BYTES} bytes"
        ))),
        _ => Err(Invalid("the message needs a string `id`".into())),
    }
}

fn subscribe(message: &mut Map<String, Value>) -> Result<ClientMessage, Invalid> {
    let id = id(message)?;
    let Some(Value::Object(mut payload)) = message.remove("payload") else {
        return Err(Invalid("`payload` must be an object with `query`".into()));
    };
    let query = match payload.remove("query") {
        Some(Value::String(query)) => query,
        _ => return Err(Invalid("`payload.query` must be a string".into())),
    };
    let operation_name = match payload.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(Invalid("`payload.operationName` must be a string".into())),
    };
    let variables = match payload.remove("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(variables)) => variables,
        Some(_) => return Err(Invalid("`payload.variables` must be an object".into())),
    };
    Ok(ClientMessage::Subscribe {
        id,
        payload: Operation {
            query,
            operation_name,
            variables,
        },
    })
}

/// `connection_ack`.
pub(crate) fn ack() -> String {
    json!({ "type": "connection_ack" }).to_string()
}

/// `pong`.
pub(crate) fn pong() -> String {
    json!({ "type": "pong" }).to_string()
}

/// `connection_error` (older dialect: its way of refusing `connection_init`).
pub(crate) fn connection_error(message: &str) -> String {
    json!({ "type": "connection_error", "payload": { "message": message } }).to_string()
}

/// One result of operation `id` (`next`, or `data` in the older dialect).
pub(crate) fn next(dialect: Dialect, id: &str, response: &async_graphql::Response) -> String {
    let kind = match dialect {
        Dialect::TransportWs => "next",
        Dialect::Legacy => "data",
    };
    json!({ "id": id, "type": kind, "payload": response }).to_string()
}

/// Operation `id` is over.
pub(crate) fn complete(id: &str) -> String {
    json!({ "id": id, "type": "complete" }).to_string()
}

/// Operation `id` could not run (a request error: refused, invalid,
/// unknown operation). graphql-transport-ws sends `error` and no
/// `complete`; the older dialect's clients read a `data` message with
/// `errors` followed by `complete`.
pub(crate) fn error(dialect: Dialect, id: &str, errors: &[Value]) -> Vec<String> {
    match dialect {
        Dialect::TransportWs => {
            vec![json!({ "id": id, "type": "error", "payload": errors }).to_string()]
        }
        Dialect::Legacy => vec![
            json!({ "id": id, "type": "data", "payload": { "errors": errors } }).to_string(),
            complete(id),
        ],
    }
}

/// One error with a code (and more extensions when given).
pub(crate) fn coded_error(code: &str, message: &str) -> Value {
    json!({ "message": message, "extensions": { "code": code } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_both_dialects_are_read() {
        let subscribe = br#"{"id": "1", "type": "subscribe", "payload": {"query": "subscription { a }", "variables": {"x": 1}}}"#;
        match read(Dialect::TransportWs, subscribe) {
            Ok(ClientMessage::Subscribe { id, payload }) => {
                assert_eq!(id, "1");
                assert_eq!(payload.query, "subscription { a }");
                assert_eq!(payload.variables["x"], 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(read(Dialect::Legacy, subscribe).is_err(), "`start` there");
        let start = br#"{"id": "1", "type": "start", "payload": {"query": "{ a }"}}"#;
        assert!(matches!(
            read(Dialect::Legacy, start),
            Ok(ClientMessage::Subscribe { .. })
        ));
        assert_eq!(
            read(Dialect::Legacy, br#"{"id": "1", "type": "stop"}"#),
            Ok(ClientMessage::Complete { id: "1".into() })
        );
        assert_eq!(
            read(Dialect::TransportWs, br#"{"type": "ping"}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn unreadable_messages_say_why() {
        for (text, why) in [
            (&b"not json"[..], "not JSON"),
            (b"[1]", "JSON object"),
            (br#"{"type": 1}"#, "string `type`"),
            (br#"{"type": "launch"}"#, "unknown message type"),
            (br#"{"type": "subscribe", "payload": {"query": "{ a }"}}"#, "`id`"),
            (br#"{"id": "", "type": "complete"}"#, "non-empty"),
            (br#"{"id": "1", "type": "subscribe", "payload": {"query": 3}}"#, "payload.query"),
            (br#"{"id": "1", "type": "subscribe", "payload": {"query": "{ a }", "variables": []}}"#, "variables"),
        ] {
            let Err(Invalid(message)) = read(Dialect::TransportWs, text) else {
                panic!("{} was read", String::from_utf8_lossy(text));
            };
            assert!(message.contains(why), "{message}");
        }
    }
}
