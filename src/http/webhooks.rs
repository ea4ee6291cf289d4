//! `POST /webhooks/zoom`: Zoom Cobrowse webhooks, verified, stored durably,
//! then published; and the sessions whose end never came, taken as ended
//! once they went idle ([`end_idle_sessions`]).
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
use std::sync::Arc;

use tracing::{debug, info, warn};

use super::AppState;
use crate::updates::SessionUpdate;
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
    match keep(&*app.store, &app.updates, &event).await {
        Ok(appended) => {
            if appended.inserted {
                debug!("stored a webhook event");
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

/// Stores `event` and, when it is new, tells this process's subscribers
/// (a shared store's feed tells every replica's, this one's too). Nobody
/// listening is fine: the event is stored either way.
async fn keep(
    store: &dyn crate::store::EventStore,
    updates: &tokio::sync::broadcast::Sender<SessionUpdate>,
    event: &crate::zoom::event::ZoomEvent,
) -> Result<crate::store::Appended, crate::store::StoreError> {
    let appended = store.append(event).await?;
    if appended.inserted && !appended.fed {
        let _ = updates.send(SessionUpdate::new(
            event.kind,
            &event.account_id,
            &event.session_id,
        ));
    }
    Ok(appended)
}

/// The most quiet sessions one round ends.
const IDLE_BATCH: usize = 1_000;

/// Takes as ended every Zoom session no event came for for `idle_after`
/// (by Zoom's clock, after its latest activity), every quarter of it (at
/// most a minute): an idle end stored like a webhook event, told to
/// subscribers and counted. Every replica may do it: the same session and
/// activity make the same event, stored once.
pub(crate) async fn end_idle_sessions(
    store: Arc<dyn crate::store::EventStore>,
    updates: tokio::sync::broadcast::Sender<SessionUpdate>,
    metrics: Arc<crate::metrics::Metrics>,
    idle_after: std::time::Duration,
) {
    let every = (idle_after / 4).clamp(
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(60),
    );
    let window = chrono::Duration::from_std(idle_after).unwrap_or(chrono::TimeDelta::MAX);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = chrono::Utc::now();
        let quiet = match store.quiet_zoom_sessions(now - window, IDLE_BATCH).await {
            Ok(quiet) => quiet,
            Err(e) => {
                warn!(error = %e, "cannot list the Zoom sessions that went quiet; trying again");
                continue;
            }
        };
        for session in quiet {
            let over = session
                .last_activity_ts
                .saturating_add(window.num_milliseconds());
            if over > now.timestamp_millis() {
                // Zoom's clock says it has not been that long yet.
                continue;
            }
            let event = crate::zoom::idle::idle_end(
                &session.account_id,
                &session.session_id,
                session.last_activity_ts,
                idle_after.as_secs(),
            );
            match keep(&*store, &updates, &event).await {
                Ok(appended) if appended.inserted => {
                    metrics.zoom_idle_ended.inc();
                    info!(session_id = %session.session_id, idle_after = %humantime::format_duration(idle_after), "no event came for a Zoom session: taken as ended (it went idle)");
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(session_id = %session.session_id, error = %e, "cannot store a Zoom session's idle end; trying again");
                }
            }
        }
    }
}
