//! `GET /graphql/ws`: GraphQL over WebSocket, for subscriptions (and any
//! other operation a client sends that way).
//!
//! The gateway speaks the protocol itself ([`protocol`]), so that a socket is
//! held to the same rules as an HTTP request, and to a few of its own:
//!
//! - **Authenticated** like any request, from the upgrade's headers or, since
//!   browsers cannot set headers on a WebSocket, from the `connection_init`
//!   payload (`{"Authorization": "Bearer ..."}` or `{"X-API-Key": "..."}`).
//!   A refused `connection_init` closes with 4403; none within
//!   `server.websocket_init_timeout` closes with 4408; `subscribe` before
//!   the acknowledgement closes with 4401.
//! - **Held to its credentials while it lives**: when the key files are read
//!   again, when a JWT passes its `exp`, and (passthrough) every
//!   `auth.token_check_ttl`, the credentials are checked again; once they no
//!   longer admit the caller, the socket closes with 4403.
//! - **Bounded**: messages by `server.max_body_bytes`, subscriptions per
//!   socket by `server.max_subscriptions_per_socket`; every `subscribe`
//!   counts against its caller's rate limit; documents and variables pass
//!   the same size and nesting checks as over HTTP before anything parses
//!   them; an id in use is refused with 4409.
//! - **Closed with 1001** ("going away") when the gateway shuts down.
//!
//! Every operation runs in the socket's own task: its results are polled
//! together ([`SelectAll`]), so a socket costs one task however many
//! subscriptions it holds, and a client that stops reading stops its own
//! subscriptions (the bounded update channel then reports the gap to it).

pub(crate) mod protocol;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse as _, Response};
use futures::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::Value;

use super::{graphql, AppState};
use crate::auth::{Caller, Presented, API_KEY_HEADER};
use crate::graph::directory::Loaders;
use crate::graph::limits;
use protocol::{close, ClientMessage, Dialect, Operation};

/// Limits of one socket.
#[derive(Clone, Debug)]
pub(crate) struct SocketLimits {
    /// How long a socket may stay open without `connection_init`.
    pub init_timeout: Duration,
    /// Most operations one socket runs at once.
    pub max_subscriptions: usize,
    /// Largest message (and frame) read.
    pub max_message_bytes: usize,
}

/// The read and write buffer of a socket.
const SOCKET_BUFFER_BYTES: usize = 8 * 1024;

/// Upgrades the request and serves the socket. `slot` is the connection's
/// place under `server.max_connections`; the socket keeps it while it lives.
pub(crate) async fn upgrade(
    State(app): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    slot: Option<axum::Extension<super::serve::ConnectionSlot>>,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    if !app.origins.admits_upgrade(&headers) {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or_default();
        tracing::info!(
            origin,
            "refused a WebSocket from an origin that is not allowed"
        );
        return (
            axum::http::StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "errors": [{
                "message": format!("pages of {origin} may not open this socket: add the origin to server.cors_origins"),
                "extensions": { "code": "ORIGIN_NOT_ALLOWED" },
            }]})),
        )
            .into_response();
    }
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(dialect) = Dialect::negotiate(offered) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must name graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    let max = app.sockets.max_message_bytes;
    // tungstenite's default buffers are 128 KiB each way per socket; a
    // socket that mostly waits needs far less (a larger message is still
    // read, in several reads).
    upgrade
        .protocols(Dialect::NAMES)
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let client = app.proxies.client(peer.ip(), &headers);
            SocketConnection::new(app, headers, dialect, client)
                .serve(socket)
                .await;
        })
}

/// What the loop does after a message.
enum LoopStep {
    Send(Vec<String>),
    /// Sends the messages, then closes with a code and a reason.
    Close(u16, String),
    /// Sends one message, then closes (the older dialect's refusal).
    SayAndClose(String, u16, String),
}

impl LoopStep {
    fn none() -> Self {
        LoopStep::Send(Vec::new())
    }
}

/// One result of an operation: `Some` response, or `None` when it is over.
struct Output {
    serial: u64,
    id: Arc<str>,
    response: Option<async_graphql::Response>,
}

/// An acknowledged connection: who is calling, with which credentials.
struct SocketOperation {
    caller: Caller,
    credentials: HeaderMap,
    /// When the credentials must be checked again (JWT expiry, passthrough
    /// re-check), if ever.
    recheck_at: Option<tokio::time::Instant>,
}

/// One socket's state.
struct SocketConnection {
    app: AppState,
    dialect: Dialect,
    upgrade_headers: HeaderMap,
    init_seen: bool,
    session: Option<SocketOperation>,
    /// Running operations by id, with the serial of the one started last
    /// under that id (a finished operation's id may be used again).
    running: HashMap<Arc<str>, (u64, AbortHandle)>,
    serial: u64,
    outputs: SelectAll<BoxStream<'static, Output>>,
    /// The address the socket comes from: its `connection_init` counts
    /// against the address's bucket when the caller is anonymous.
    client: std::net::IpAddr,
    /// Anonymous callers (open demo mode): the socket's own bucket, which
    /// its operations count against, so that one socket's flood exhausts
    /// only itself.
    socket_bucket: Option<Arc<str>>,
}

impl SocketConnection {
    fn new(
        app: AppState,
        upgrade_headers: HeaderMap,
        dialect: Dialect,
        client: std::net::IpAddr,
    ) -> Self {
        static SOCKETS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let socket_bucket = app.auth.is_open().then(|| {
            let n = SOCKETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Arc::from(format!("anonymous:{client}#socket-{n}"))
        });
        Self {
            app,
            dialect,
            upgrade_headers,
            init_seen: false,
            session: None,
            running: HashMap::new(),
            serial: 0,
            outputs: SelectAll::new(),
            client,
            socket_bucket,
        }
    }

    async fn serve(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let mut stopping = self.app.lifecycle.stopping();
        let mut key_changes = self.app.auth.changes();
        let init_deadline = tokio::time::sleep(self.app.sockets.init_timeout);
        tokio::pin!(init_deadline);
        loop {
            let recheck_at = self.session.as_ref().and_then(|s| s.recheck_at);
            let step = tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => self.on_message(text.as_bytes()).await,
                    Some(Ok(Message::Binary(bytes))) => self.on_message(&bytes).await,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => LoopStep::none(),
                },
                Some(output) = self.outputs.next(), if !self.outputs.is_empty() => self.on_output(output),
                () = &mut init_deadline, if self.session.is_none() => {
                    LoopStep::Close(close::INIT_TIMEOUT, "SocketConnection initialisation timeout".into())
                }
                changed = key_changes.changed(), if self.session.is_some() => match changed {
                    Ok(()) => self.recheck().await,
                    // The authenticator is gone: the gateway is stopping.
                    Err(_) => LoopStep::Close(close::GOING_AWAY, "the gateway is shutting down; reconnect".into()),
                },
                () = sleep_until(recheck_at), if recheck_at.is_some() => self.recheck().await,
                () = stopping.wait() => {
                    LoopStep::Close(close::GOING_AWAY, "the gateway is shutting down; reconnect".into())
                }
            };
            match step {
                LoopStep::Send(texts) => {
                    for text in texts {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                }
                LoopStep::Close(code, reason) => {
                    let _ = sink.send(close_frame(code, &reason)).await;
                    return;
                }
                LoopStep::SayAndClose(text, code, reason) => {
                    if sink.send(Message::Text(text.into())).await.is_ok() {
                        let _ = sink.send(close_frame(code, &reason)).await;
                    }
                    return;
                }
            }
        }
    }

    async fn on_message(&mut self, text: &[u8]) -> LoopStep {
        let message = match protocol::read(self.dialect, text) {
            Ok(message) => message,
            Err(invalid) => return LoopStep::Close(close::BAD_REQUEST, invalid.0),
        };
        match message {
            ClientMessage::Init { payload } => self.on_init(&payload).await,
            ClientMessage::Subscribe { id, payload } => self.on_subscribe(id, payload).await,
            ClientMessage::Complete { id } => {
                if let Some((_, handle)) = self.running.remove(id.as_str()) {
                    handle.abort();
                    // The older dialect confirms a `stop`.
                    if self.dialect == Dialect::Legacy {
                        return LoopStep::Send(vec![protocol::complete(&id)]);
                    }
                }
                LoopStep::none()
            }
            ClientMessage::Ping => LoopStep::Send(vec![protocol::pong()]),
            ClientMessage::Pong => LoopStep::none(),
            ClientMessage::Terminate => LoopStep::Close(close::NORMAL, String::new()),
        }
    }

    async fn on_init(&mut self, payload: &Value) -> LoopStep {
        if std::mem::replace(&mut self.init_seen, true) {
            return LoopStep::Close(
                close::TOO_MANY_INITS,
                "Too many initialisation requests".into(),
            );
        }
        let credentials = if self.upgrade_headers.contains_key(header::AUTHORIZATION)
            || self.upgrade_headers.contains_key(API_KEY_HEADER)
        {
            std::mem::take(&mut self.upgrade_headers)
        } else {
            init_headers(payload)
        };
        match graphql::admit(
            &self.app,
            Presented::from_headers(&credentials),
            self.client,
        )
        .await
        {
            Ok(caller) => {
                let recheck_at = self.recheck_at(&caller);
                self.session = Some(SocketOperation {
                    caller,
                    credentials,
                    recheck_at,
                });
                LoopStep::Send(vec![protocol::ack()])
            }
            Err(refusal) => self.refuse(refusal.message()),
        }
    }

    /// Closes a connection whose credentials do not (or no longer) admit it.
    fn refuse(&self, why: &str) -> LoopStep {
        if self.dialect == Dialect::Legacy {
            // Its clients read the reason from `connection_error`.
            return LoopStep::SayAndClose(
                protocol::connection_error(why),
                close::FORBIDDEN,
                why.to_owned(),
            );
        }
        LoopStep::Close(close::FORBIDDEN, why.to_owned())
    }

    /// When `caller`'s credentials must be checked again: at a JWT's
    /// expiry; every `auth.token_check_ttl` for a passed-through token.
    fn recheck_at(&self, caller: &Caller) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        let expiry = caller.expires.map(|at| {
            now + at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        let periodic = self.app.auth.recheck_every().map(|every| now + every);
        match (expiry, periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Checks the session's credentials again; closes with 4403 when they
    /// no longer admit the caller. An upstream that cannot say (passthrough)
    /// is not a refusal: the check is tried again later.
    async fn recheck(&mut self) -> LoopStep {
        let Some(session) = &self.session else {
            return LoopStep::none();
        };
        let presented = Presented::from_headers(&session.credentials);
        let outcome = match presented {
            Ok(presented) => {
                self.app
                    .auth
                    .authenticate(presented, &self.app.source)
                    .await
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(caller) => {
                let recheck_at = self.recheck_at(&caller);
                let session = self.session.as_mut().expect("checked above");
                session.caller = caller;
                session.recheck_at = recheck_at;
                LoopStep::none()
            }
            Err(crate::auth::AuthError::Upstream(e)) => {
                tracing::warn!(error = %e, "cannot check a subscriber's token with upstream; checking again later");
                let session = self.session.as_mut().expect("checked above");
                session.recheck_at = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                LoopStep::none()
            }
            Err(e) => {
                self.app
                    .metrics
                    .refused
                    .with_label_values(&["unauthenticated"])
                    .inc();
                self.refuse(&format!("the credentials are no longer valid: {e}"))
            }
        }
    }

    async fn on_subscribe(&mut self, id: String, operation: Operation) -> LoopStep {
        let Some(session) = &self.session else {
            return LoopStep::Close(close::UNAUTHORIZED, "Unauthorized".into());
        };
        let id: Arc<str> = id.into();
        if self.running.contains_key(&id) {
            return LoopStep::Close(
                close::DUPLICATE_ID,
                format!("Subscriber for {id} already exists"),
            );
        }
        // The caller's bucket (shared by replicas through Redis) first,
        // with no borrow of the connection held across the wait.
        let bucket = self.socket_bucket.as_ref().unwrap_or(&session.caller.id);
        let (limiter, caller) = (self.app.rate_limiter.clone(), Arc::clone(bucket));
        let limited = match limiter {
            Some(limiter) => limiter.admit(&caller).await.err(),
            None => None,
        };
        if let Err(error) = self.admit(limited, &operation) {
            return LoopStep::Send(protocol::error(self.dialect, &id, &[error]));
        }
        let request = self.request(session, operation);
        self.serial += 1;
        let serial = self.serial;
        let (handle, registration) = AbortHandle::new_pair();
        let owned = Arc::clone(&id);
        let results = self
            .app
            .schema
            .execute_stream(request)
            .map(Some)
            .chain(futures::stream::once(async { None }))
            .map(move |response| Output {
                serial,
                id: Arc::clone(&owned),
                response,
            });
        self.outputs
            .push(Abortable::new(results, registration).boxed());
        self.running.insert(id, (serial, handle));
        LoopStep::none()
    }

    /// The checks an operation passes before it runs: the caller's rate
    /// limit, the socket's operation count, the nesting of the variables.
    /// (The document's size and nesting are checked where every document is,
    /// before parsing.)
    fn admit(&self, limited: Option<Duration>, operation: &Operation) -> Result<(), Value> {
        {
            if let Some(wait) = limited {
                self.app
                    .metrics
                    .refused
                    .with_label_values(&["rate_limited"])
                    .inc();
                let mut error = protocol::coded_error(
                    "RATE_LIMITED",
                    &format!(
                        "too many requests from this caller; retry after {} s",
                        wait.as_secs_f64().ceil()
                    ),
                );
                error["extensions"]["retryAfterSeconds"] = wait.as_secs_f64().ceil().into();
                return Err(error);
            }
        }
        let max = self.app.sockets.max_subscriptions;
        if self.running.len() >= max {
            let mut error = protocol::coded_error(
                "TOO_MANY_SUBSCRIPTIONS",
                &format!("this socket already runs {max} operations, the most it may; complete one first"),
            );
            error["extensions"]["limit"] = max.into();
            return Err(error);
        }
        limits::check_variables(&operation.variables, self.app.limits.max_nesting)
            .map_err(|e| serde_json::to_value(e).expect("errors serialize"))
    }

    fn request(&self, session: &SocketOperation, operation: Operation) -> async_graphql::Request {
        let source = self.app.source_for(&session.caller);
        let mut request = async_graphql::Request::new(operation.query)
            .variables(async_graphql::Variables::from_json(Value::Object(
                operation.variables,
            )))
            .data(Loaders::new(&source))
            .data(source)
            .data(session.caller.clone());
        if let Some(name) = operation.operation_name {
            request = request.operation_name(name);
        }
        request
    }

    fn on_output(&mut self, output: Output) -> LoopStep {
        // A result of an operation the client completed (its id may since
        // name a newer one) is dropped.
        match self.running.get(&output.id) {
            Some((serial, _)) if *serial == output.serial => {}
            _ => return LoopStep::none(),
        }
        let Some(response) = output.response else {
            self.running.remove(&output.id);
            return LoopStep::Send(vec![protocol::complete(&output.id)]);
        };
        if is_request_error(&response) {
            self.running.remove(&output.id);
            let errors: Vec<Value> = response
                .errors
                .iter()
                .map(|e| serde_json::to_value(e).expect("errors serialize"))
                .collect();
            return LoopStep::Send(protocol::error(self.dialect, &output.id, &errors));
        }
        LoopStep::Send(vec![protocol::next(self.dialect, &output.id, &response)])
    }
}

/// Whether a response is a request error (the operation did not run: it
/// was refused, invalid, or named no operation) rather than a result.
fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// A close frame; the reason is cut to the 123 bytes a frame may carry.
fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The credential entries of a `connection_init` payload, as headers.
fn init_headers(payload: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(object) = payload.as_object() else {
        return headers;
    };
    for (key, value) in object {
        let name = match key.to_ascii_lowercase().as_str() {
            "authorization" => header::AUTHORIZATION,
            "x-api-key" => HeaderName::from_static(API_KEY_HEADER),
            _ => continue,
        };
        if let Some(value) = value.as_str().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    headers
}
