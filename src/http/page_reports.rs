//! `POST /messenger/page-reports`: a customer's page tells the gateway
//! that a Co-browse for Messenger session started or ended (the page
//! script `/messenger-cobrowse.js` forwards the Messenger's
//! `CobrowseService` / `CobrowseVoice` `sessionStarted` and `sessionEnded`).
//! Nothing else knows a Messenger session's end (docs/upstream.md).
//!
//! A report is untrusted input from the public internet. In order:
//! its `Origin` must be one of `messenger.page_origins` (in demo mode with
//! none set, a loopback origin); its client address within
//! `messenger.page_reports_per_minute`; its body small, JSON, exactly
//! `{"sessionId", "event", "channel"?}`; its session within
//! `messenger.page_reports_per_session`; and the session one the gateway
//! already knows (from an offer heard in the messages, or made through its
//! own mutation), of the same channel. It can only state that session's
//! start or end (each once: a repeat changes nothing), timed by the
//! gateway's clock, shown with source `PAGE`. A 2xx means stored.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::warn;

use super::origins::Origins;
use super::rate_limit::RateLimiter;
use super::AppState;
use crate::messenger::{Fact, FactSource, MessengerChannel, What};

/// The largest report body.
const MAX_BODY: usize = 1_024;

/// The most sessions whose report counts are kept.
const SESSIONS_COUNTED: u64 = 100_000;

/// How long a session's report count is kept.
const COUNTED_FOR: Duration = Duration::from_secs(86_400);

/// What the endpoint holds.
#[derive(Clone)]
pub(crate) struct PageReports {
    /// Origins whose pages may report (none: reports are off).
    origins: Option<Origins>,
    per_address: Arc<RateLimiter>,
    per_session: moka::sync::Cache<Arc<str>, Arc<AtomicU32>>,
    per_session_max: u32,
}

impl PageReports {
    /// From `messenger.*` (checked): `page_origins`, the reports per
    /// minute per address and per session; in demo mode with no origins
    /// set, loopback origins may report.
    pub(crate) fn new(origins: &[String], demo: bool, per_minute: u32, per_session: u32) -> Self {
        let origins =
            (!origins.is_empty() || demo).then(|| Origins::new(origins, demo, Vec::new()));
        let per_address = RateLimiter::new(f64::from(per_minute) / 60.0, per_minute, None)
            .expect("a positive rate");
        Self {
            origins,
            per_address: Arc::new(per_address),
            per_session: moka::sync::Cache::builder()
                .max_capacity(SESSIONS_COUNTED)
                .time_to_live(COUNTED_FOR)
                .build(),
            per_session_max: per_session,
        }
    }

    /// CORS of the endpoint: a page of an allowed origin may `fetch` it
    /// (the script prefers `navigator.sendBeacon`, which needs none).
    pub(crate) fn layer(&self) -> CorsLayer {
        let origins = self.origins.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origins.as_ref().is_some_and(|o| o.allows(origin))
            }))
            .allow_methods([Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600))
    }
}

fn refuse(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message.to_string() } })),
    )
        .into_response()
}

/// A report as the page script sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PageReport {
    session_id: String,
    event: String,
    #[serde(default)]
    channel: Option<String>,
}

/// Receives one report.
#[tracing::instrument(name = "messenger.page_report", skip_all)]
pub(crate) async fn receive(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (session_id, what, channel) = match admit(&app, peer, &headers, body).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let session = match app.store.messenger_session(&session_id).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "UNKNOWN_SESSION",
                "the gateway knows no Co-browse for Messenger session of this id",
            )
        }
        Err(e) => return unavailable(&e),
    };
    if let (Some(said), Some(known)) = (channel, session.channel) {
        if said != known {
            return refuse(
                StatusCode::CONFLICT,
                "CHANNEL_MISMATCH",
                "the session was offered in another channel",
            );
        }
    }
    let suffix = match what {
        What::Started { .. } => "started",
        _ => "ended",
    };
    let fact = Fact {
        key: format!("page:{session_id}:{suffix}"),
        conversation_id: session.conversation_id.clone(),
        session_id,
        at: chrono::Utc::now(),
        what,
    };
    let publish: crate::live::Publish = {
        let updates = app.updates.clone();
        Arc::new(move |notice| {
            if let Some(update) = crate::updates::SessionUpdate::purecloud(notice) {
                // No subscriber is not an error.
                let _ = updates.send(update);
            }
        })
    };
    let told = (&*app.source, &publish, &*app.metrics);
    let stored = crate::live::messenger::keep(&*app.store, told, &fact, FactSource::Page).await;
    if !stored {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "STORE_UNAVAILABLE",
            "the report could not be stored; send it again later",
        );
    }
    Json(json!({ "status": "stored" })).into_response()
}

/// The checks before the store is read: origin, the address's bound, the
/// body, the session's bound. What the report states, or the refusal.
async fn admit(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, What, Option<MessengerChannel>), Response> {
    let reports = &app.page_reports;
    let Some(origins) = &reports.origins else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "PAGE_REPORTS_OFF",
            "page reports are off: set messenger.page_origins to the origins of the pages that run /messenger-cobrowse.js",
        ));
    };
    let origin = headers.get(header::ORIGIN);
    if !origin.is_some_and(|o| origins.allows(o)) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "ORIGIN_REFUSED",
            "this page's origin may not report (messenger.page_origins)",
        ));
    }
    let client: Arc<str> = app.proxies.client(peer.ip(), headers).to_string().into();
    if let Err(wait) = reports.per_address.check(&client) {
        return Err(limited(wait, "too many page reports from this address"));
    }
    let Ok(body) = super::read_body(headers, body, MAX_BODY).await else {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("a page report is at most {MAX_BODY} bytes"),
        ));
    };
    let read =
        read(&body).map_err(|why| refuse(StatusCode::BAD_REQUEST, "BAD_PAGE_REPORT", why))?;
    let count = reports
        .per_session
        .get_with(Arc::from(read.0.as_str()), Default::default);
    if count.fetch_add(1, Ordering::Relaxed) >= reports.per_session_max {
        return Err(limited(
            COUNTED_FOR,
            "too many page reports for this session",
        ));
    }
    Ok(read)
}

/// The session, what the report states and the channel it names.
fn read(body: &[u8]) -> Result<(String, What, Option<MessengerChannel>), String> {
    let report: PageReport = serde_json::from_slice(body).map_err(|e| {
        format!(r#"expected {{"sessionId": "...", "event": "sessionStarted" | "sessionEnded", "channel": "webmessaging" | "voice"}}: {e}"#)
    })?;
    if crate::graph::ids::check_other_id("sessionId", &report.session_id).is_err() {
        return Err(format!(
            "sessionId must be a non-empty id of at most {} characters",
            crate::upstream::MAX_ID_CHARS
        ));
    }
    let what = match report.event.as_str() {
        "sessionStarted" => What::Started {
            source: FactSource::Page,
        },
        "sessionEnded" => What::Ended {
            source: FactSource::Page,
        },
        other => {
            return Err(format!(
                "event is sessionStarted or sessionEnded, not {}",
                crate::upstream::shortened(other, 40)
            ))
        }
    };
    let channel = match report.channel.as_deref() {
        None => None,
        Some("webmessaging") => Some(MessengerChannel::WebMessaging),
        Some("voice") => Some(MessengerChannel::Voice),
        Some(other) => {
            return Err(format!(
                "channel is webmessaging or voice, not {}",
                crate::upstream::shortened(other, 40)
            ))
        }
    };
    Ok((report.session_id, what, channel))
}

fn limited(wait: Duration, why: &str) -> Response {
    let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, "PAGE_REPORTS_LIMITED", why);
    let seconds = wait.as_secs().max(1).to_string();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn unavailable(e: &crate::store::StoreError) -> Response {
    warn!(error = %e, "cannot read a Co-browse for Messenger session for a page report");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "STORE_UNAVAILABLE",
        "the report could not be checked; send it again later",
    )
}
