//! `GET /graphql/ws`: subscriptions over graphql-transport-ws (and the
//! older graphql-ws protocol).
//!
//! async-graphql speaks the protocol; this module owns the socket so that
//! it can (1) authenticate the connection like any request, from the
//! upgrade's headers or, since browsers cannot set headers on a WebSocket,
//! from the `connection_init` payload (`{"Authorization": "Bearer ..."}` or
//! `{"X-API-Key": "..."}`), closing a refused connection with 4403 as
//! graphql-transport-ws has it; and (2) close every socket with 1001
//! ("going away") when the gateway shuts down, instead of dropping it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::http::{WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse as _, Response};
use futures::{SinkExt as _, StreamExt as _};

use super::{graphql, AppState};
use crate::auth::{Presented, API_KEY_HEADER};
use crate::graph::directory::Loaders;

/// Close code of a refused `connection_init` (graphql-transport-ws).
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code when the gateway shuts down (RFC 6455 "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Upgrades the request and serves the socket.
pub async fn upgrade(
    State(app): State<AppState>,
    headers: HeaderMap,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    let Some(protocol) = protocol(&headers) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must name graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, app, headers, protocol))
}

/// The first subprotocol offered that async-graphql speaks.
fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())?
        .split(',')
        .find_map(|p| p.trim().parse().ok())
}

async fn serve(socket: WebSocket, app: AppState, headers: HeaderMap, protocol: WebSocketProtocols) {
    let mut stopping = app.lifecycle.stopping();
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| futures::future::ready(message.is_ok()))
        .filter_map(|message| {
            futures::future::ready(match message {
                Ok(Message::Text(text)) => Some(axum::body::Bytes::from(text)),
                Ok(Message::Binary(bytes)) => Some(bytes),
                _ => None,
            })
        });
    let refused = Arc::new(AtomicBool::new(false));
    let init_refused = Arc::clone(&refused);
    let init_app = app.clone();
    let output = async_graphql::http::WebSocket::new(app.schema.clone(), input, protocol)
        .on_connection_init(move |payload| async move {
            let outcome = connection_data(&init_app, &headers, &payload).await;
            if outcome.is_err() {
                init_refused.store(true, Ordering::Relaxed);
            }
            outcome
        })
        .map(|message| match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                // async-graphql closes a failed init with 1002; the protocol
                // says 4403 for a refused one.
                let code = if code == 1002 && refused.load(Ordering::Relaxed) {
                    CLOSE_FORBIDDEN
                } else {
                    code
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        });
    futures::pin_mut!(output);
    loop {
        tokio::select! {
            message = output.next() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            () = stopping.wait() => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CLOSE_GOING_AWAY,
                        reason: "the gateway is shutting down; reconnect".into(),
                    })))
                    .await;
                return;
            }
        }
    }
}

/// Authenticates a connection and builds its per-connection data.
async fn connection_data(
    app: &AppState,
    headers: &HeaderMap,
    payload: &serde_json::Value,
) -> async_graphql::Result<async_graphql::Data> {
    let payload_headers;
    let presented =
        if headers.contains_key(header::AUTHORIZATION) || headers.contains_key(API_KEY_HEADER) {
            Presented::from_headers(headers)
        } else {
            payload_headers = init_headers(payload);
            Presented::from_headers(&payload_headers)
        };
    let caller = graphql::admit(app, presented)
        .await
        .map_err(|refusal| async_graphql::Error::new(refusal.message()))?;
    let source = app.source_for(&caller);
    let mut data = async_graphql::Data::default();
    data.insert(Loaders::new(&source));
    data.insert(source);
    data.insert(caller);
    Ok(data)
}

/// The credential entries of a `connection_init` payload, as headers.
fn init_headers(payload: &serde_json::Value) -> HeaderMap {
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
