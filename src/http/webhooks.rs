//! `POST /webhooks/zoom`: Zoom Cobrowse webhooks, verified, stored durably,
//! then published.
//!
//! Order of checks: body size, signature (over the raw bytes, constant time,
//! timestamp within `webhooks.max_skew`), then the body. A refused delivery
//! stores nothing. An event is answered 200 only after the store committed
//! it; a store failure is 503 so that Zoom retries; a re-delivery is 200 and
//! changes nothing.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::{debug, warn};

use super::AppState;
use crate::graph::subscription::SessionUpdate;
use crate::zoom::event::{parse, Inbound};
use crate::zoom::signature::{encrypt_token, verify};

fn refuse(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message.to_string() } })),
    )
        .into_response()
}

/// Receives one delivery.
#[tracing::instrument(name = "webhook.zoom", skip_all, fields(event, session_id))]
pub(crate) async fn zoom(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Some(secret) = &app.webhooks.secret else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "WEBHOOKS_NOT_CONFIGURED",
            "Zoom webhooks are not configured: set COBROWSE_ZOOM_WEBHOOK_SECRET",
        );
    };
    let Ok(body) = super::read_body(&headers, body, app.webhooks.max_body_bytes).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the body is larger than {} bytes",
                app.webhooks.max_body_bytes
            ),
        );
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    if let Err(why) = verify(
        secret,
        header("x-zm-request-timestamp"),
        header("x-zm-signature"),
        &body,
        now,
        app.webhooks.max_skew,
    ) {
        warn!(reason = %why, "refused a webhook delivery");
        return refuse(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE", why);
    }
    let event = match parse(&body) {
        Ok(Inbound::UrlValidation { plain_token }) => {
            let encrypted = encrypt_token(secret, &plain_token);
            return Json(json!({ "plainToken": plain_token, "encryptedToken": encrypted }))
                .into_response();
        }
        Ok(Inbound::Event(event)) => event,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why.code(), why),
    };
    let span = tracing::Span::current();
    span.record("event", event.kind.wire());
    span.record("session_id", event.session_id.as_str());
    match app.store.append(&event).await {
        Ok(appended) => {
            if appended.inserted && !appended.fed {
                debug!("stored a webhook event");
                // Nobody listening is fine; the event is stored either way.
                // (A shared store's feed tells every replica's subscribers,
                // this one's too.)
                let _ = app.updates.send(SessionUpdate::new(
                    event.kind,
                    &event.account_id,
                    &event.session_id,
                ));
            }
            let status = if appended.inserted {
                "stored"
            } else {
                "duplicate"
            };
            Json(json!({ "status": status })).into_response()
        }
        Err(e) => {
            warn!(error = %e, "could not store a webhook event");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "STORE_UNAVAILABLE",
                "the event could not be stored; retry later",
            )
        }
    }
}
