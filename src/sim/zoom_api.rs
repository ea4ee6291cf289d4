//! The simulator's Zoom: one account's Cobrowse sessions, live and past, as
//! the demo's webhooks tell them ([`ZoomWorld::record`]), answered through
//! Zoom's Cobrowse SDK REST API as well (docs/upstream.md, "Zoom Cobrowse
//! SDK REST API"): `live_sessions`, `past_sessions`, `sessions/{id}` and
//! `sessions/{id}/users` below `/zoom/v2/cobrowsesdk`, each behind an API
//! JWT signed (HS256) with the account's API Secret and issued by its API
//! Key, lists paged 30 to 300 at a time by a page token that lives
//! 15 minutes, errors in Zoom's `{code, message}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::secret::Secret;

/// How long a list's `next_page_token` may be used (docs/upstream.md).
const PAGE_TOKEN_LIFE: Duration = Duration::from_secs(15 * 60);

/// The page sizes Zoom accepts, and the size of a page when none is asked.
const PAGE_SIZES: std::ops::RangeInclusive<usize> = 30..=300;
const DEFAULT_PAGE_SIZE: usize = 30;

/// Page tokens kept at once (the oldest go first).
const MAX_PAGE_TOKENS: usize = 10_000;

/// Sessions the account keeps: a demo plays one every 12 s for as long as
/// it runs; past the bound, the session that ended first goes.
const MAX_SESSIONS: usize = 10_000;

/// One account's Cobrowse sessions and its API credentials.
pub struct ZoomWorld {
    api_key: String,
    api_secret: Secret,
    state: Mutex<ZoomState>,
    faults: Mutex<ZoomFaults>,
}

/// What the account does wrong when told (`PUT /__sim/zoom/faults`), so
/// that a gateway is tested against Zoom as it behaves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZoomFaults {
    /// Webhooks the demo's player leaves unsent next: Zoom knows the
    /// events, the gateway does not hear them.
    pub drop_webhooks: u32,
    /// API calls answered 429 next (Zoom's daily limit: `Retry-After` an
    /// ISO 8601 date-time `retry_after_s` from now).
    pub rate_limit_next: u32,
    pub retry_after_s: u64,
    /// Every API JWT refused, as after the API Secret was rotated.
    pub refuse_tokens: bool,
}

#[derive(Default)]
struct ZoomState {
    sessions: BTreeMap<String, ZoomRecord>,
    /// Page tokens: where the next page starts, of which list, and since
    /// when the token lives.
    pages: HashMap<String, (usize, String, Instant)>,
    issued: u64,
}

impl ZoomState {
    /// Forgets the session that ended first (none ended: nothing).
    fn forget_oldest_ended(&mut self) {
        let oldest = self
            .sessions
            .values()
            .filter_map(|s| s.end_time.map(|end| (end, s.session_id.clone())))
            .min();
        if let Some((_, id)) = oldest {
            self.sessions.remove(&id);
        }
    }
}

/// A session as Zoom keeps it.
#[derive(Clone, Debug)]
struct ZoomRecord {
    session_id: String,
    start_time: DateTime<Utc>,
    end_time: Option<DateTime<Utc>>,
    session_pin: String,
    /// Its users by connection, in the order they joined.
    users: Vec<ZoomUser>,
}

#[derive(Clone, Debug, Serialize)]
struct ZoomUser {
    user_connection_id: String,
    user_id: String,
    user_name: String,
    role_type: String,
    join_time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leave_time: Option<DateTime<Utc>>,
}

impl ZoomWorld {
    /// An empty account whose API Key is `api_key` and API Secret
    /// `api_secret`.
    pub fn new(api_key: String, api_secret: Secret) -> Self {
        Self {
            api_key,
            api_secret,
            state: Mutex::new(ZoomState::default()),
            faults: Mutex::new(ZoomFaults::default()),
        }
    }

    /// What the account does wrong from now on.
    pub fn set_faults(&self, faults: ZoomFaults) {
        *self.faults.lock().expect("zoom faults lock") = faults;
    }

    /// Whether the next webhook is to be left unsent (one fewer to drop).
    pub fn drops_webhook(&self) -> bool {
        let mut faults = self.faults.lock().expect("zoom faults lock");
        let drop = faults.drop_webhooks > 0;
        faults.drop_webhooks = faults.drop_webhooks.saturating_sub(1);
        drop
    }

    /// The answer a call gets instead of its own when the faults say so.
    fn misbehaves(&self) -> Option<Response> {
        let mut faults = self.faults.lock().expect("zoom faults lock");
        if faults.refuse_tokens {
            return Some(
                refuse(StatusCode::UNAUTHORIZED, 124, "Invalid access token.").into_response(),
            );
        }
        if faults.rate_limit_next == 0 {
            return None;
        }
        faults.rate_limit_next -= 1;
        let retry = Utc::now() + chrono::Duration::seconds(faults.retry_after_s as i64);
        let message = "You have exceeded the daily rate limit of your account.";
        let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, 429, message).into_response();
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-category", "Light".to_owned()),
            ("x-ratelimit-type", "Daily-limit".to_owned()),
            (
                "retry-after",
                retry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        ] {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        Some(response)
    }

    /// The API Key the account's JWTs must be issued by.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The API Secret they are signed with.
    pub fn api_secret(&self) -> &Secret {
        &self.api_secret
    }

    /// Applies a webhook's body (`{event, payload: {object}}`) to the
    /// account: what Zoom knows whether or not the webhook arrives.
    pub fn record(&self, body: &Value) {
        let object = &body["payload"]["object"];
        let (Some(event), Some(id)) = (body["event"].as_str(), object["session_id"].as_str())
        else {
            return;
        };
        let time = |key: &str| {
            object[key]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let text = |key: &str| object[key].as_str().unwrap_or_default().to_owned();
        let mut state = self.state.lock().expect("zoom lock");
        if !state.sessions.contains_key(id) && state.sessions.len() >= MAX_SESSIONS {
            state.forget_oldest_ended();
        }
        let known = state.sessions.len();
        let session = state
            .sessions
            .entry(id.to_owned())
            .or_insert_with(|| ZoomRecord {
                session_id: id.to_owned(),
                start_time: time("start_time").unwrap_or_else(Utc::now),
                end_time: None,
                session_pin: format!("{:06}", known * 7_919 % 1_000_000),
                users: Vec::new(),
            });
        match event {
            "cobrowse.session_user_joined" => session.users.push(ZoomUser {
                user_connection_id: text("user_connection_id"),
                user_id: text("user_id"),
                user_name: text("user_name"),
                role_type: text("role_type"),
                join_time: time("join_time").unwrap_or_else(Utc::now),
                leave_time: None,
            }),
            "cobrowse.session_user_left" => {
                let connection = text("user_connection_id");
                let left = time("leave_time").unwrap_or_else(Utc::now);
                if let Some(user) = session
                    .users
                    .iter_mut()
                    .find(|u| u.user_connection_id == connection)
                {
                    user.leave_time = Some(left);
                }
            }
            "cobrowse.session_ended" => {
                session.end_time = Some(time("end_time").unwrap_or_else(Utc::now));
                if let Some(pin) = object["session_pin"].as_str() {
                    session.session_pin = pin.to_owned();
                }
            }
            _ => {}
        }
    }
}

/// The API's routes, below `/zoom/v2`.
pub(super) fn routes() -> Router<Arc<super::SimState>> {
    Router::new()
        .route("/zoom/v2/cobrowsesdk/live_sessions", get(live_sessions))
        .route("/zoom/v2/cobrowsesdk/past_sessions", get(past_sessions))
        .route("/zoom/v2/cobrowsesdk/sessions/{id}", get(session))
        .route("/zoom/v2/cobrowsesdk/sessions/{id}/users", get(users))
        .route("/__sim/zoom/faults", get(get_faults).put(put_faults))
}

/// `GET /__sim/zoom/faults`.
async fn get_faults(State(sim): Zoom) -> Json<ZoomFaults> {
    Json(sim.zoom.faults.lock().expect("zoom faults lock").clone())
}

/// `PUT /__sim/zoom/faults`: what the account does wrong from now on.
async fn put_faults(State(sim): Zoom, Json(faults): Json<ZoomFaults>) -> StatusCode {
    sim.zoom.set_faults(faults);
    StatusCode::NO_CONTENT
}

/// A Zoom error answer: its status, code and message.
struct ZoomRefusal(StatusCode, u32, &'static str);

impl IntoResponse for ZoomRefusal {
    fn into_response(self) -> Response {
        let ZoomRefusal(status, code, message) = self;
        (status, Json(json!({ "code": code, "message": message }))).into_response()
    }
}

fn refuse(status: StatusCode, code: u32, message: &'static str) -> ZoomRefusal {
    ZoomRefusal(status, code, message)
}

/// The answer a call gets instead of its own, if any: a fault's, or a
/// refusal of its API JWT.
fn refused(world: &ZoomWorld, headers: &HeaderMap) -> Option<Response> {
    world.misbehaves().or_else(|| {
        signed(world, headers)
            .err()
            .map(IntoResponse::into_response)
    })
}

/// The caller's API JWT, checked: HS256, signed with the API Secret,
/// issued by the API Key, with `iat` and an `exp` not passed.
fn signed(world: &ZoomWorld, headers: &HeaderMap) -> Result<(), ZoomRefusal> {
    let invalid = || refuse(StatusCode::UNAUTHORIZED, 124, "Invalid access token.");
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(invalid)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[world.api_key()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 0;
    let key = jsonwebtoken::DecodingKey::from_secret(world.api_secret().expose().as_bytes());
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                refuse(StatusCode::UNAUTHORIZED, 124, "Access token is expired.")
            }
            _ => invalid(),
        })
}

/// The query's parameters by name (the last of each wins).
fn params(raw: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A day or an instant (`yyyy-mm-dd` or `yyyy-MM-ddTHH:mm:ssZ`); a day
/// `to` covers the whole of it.
fn instant(text: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end_of_day { day.succ_opt()? } else { day };
        return Some(day.and_hms_opt(0, 0, 0)?.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The period `from`/`to` asks for, `default` when neither is given.
fn period(
    params: &HashMap<String, String>,
    default: chrono::Duration,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ZoomRefusal> {
    let bad = |message: &'static str| refuse(StatusCode::BAD_REQUEST, 300, message);
    match (params.get("from"), params.get("to")) {
        (None, None) => Ok((Utc::now() - default, Utc::now())),
        (Some(from), Some(to)) => {
            let from = instant(from, false).ok_or_else(|| bad("Invalid field: from."))?;
            let to = instant(to, true).ok_or_else(|| bad("Invalid field: to."))?;
            if to < from || to - from > chrono::Duration::days(31) {
                return Err(bad("The period is at most one month."));
            }
            Ok((from, to))
        }
        _ => Err(bad("A period needs both from and to.")),
    }
}

/// One page of `items` (serialised), as `params` asks: its size and the
/// token of the previous page, which must be of the same `list`.
fn page(
    world: &ZoomWorld,
    params: &HashMap<String, String>,
    list: &str,
    items: Vec<Value>,
    extra: Value,
) -> Response {
    let size = match params.get("page_size").map(|s| s.parse::<usize>()) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(size)) if PAGE_SIZES.contains(&size) => size,
        Some(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                300,
                "Invalid field: page_size (30 to 300).",
            )
            .into_response()
        }
    };
    let mut state = world.state.lock().expect("zoom lock");
    let start = match params.get("next_page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => match state.pages.get(token) {
            Some((start, of, issued)) if of == list && issued.elapsed() < PAGE_TOKEN_LIFE => *start,
            _ => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    300,
                    "The next page token is invalid or expired.",
                )
                .into_response()
            }
        },
    };
    let end = (start + size).min(items.len());
    let next = if end < items.len() {
        if state.pages.len() >= MAX_PAGE_TOKENS {
            let oldest = state
                .pages
                .iter()
                .min_by_key(|(_, (_, _, issued))| *issued)
                .map(|(token, _)| token.clone());
            if let Some(oldest) = oldest {
                state.pages.remove(&oldest);
            }
        }
        state.issued += 1;
        let token = format!("zp{:016x}", state.issued);
        state
            .pages
            .insert(token.clone(), (end, list.to_owned(), Instant::now()));
        token
    } else {
        String::new()
    };
    let mut body = json!({
        "page_size": size,
        "next_page_token": next,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let key = if list.ends_with("/users") {
        "users"
    } else {
        "sessions"
    };
    body[key] = Value::Array(items[start.min(end)..end].to_vec());
    Json(body).into_response()
}

/// A session in a list: its id, start, PIN, users and their count, and
/// for a past one its end and duration.
fn listed(session: &ZoomRecord) -> Value {
    let users: Vec<Value> = session
        .users
        .iter()
        .map(
            |u| json!({ "user_id": u.user_id, "user_name": u.user_name, "role_type": u.role_type }),
        )
        .collect();
    let mut item = json!({
        "session_id": session.session_id,
        "start_time": session.start_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "session_pin": session.session_pin,
        "user_count": session.users.len(),
        "users": users,
    });
    if let Some(end) = session.end_time {
        let seconds = (end - session.start_time).num_seconds().max(0);
        item["end_time"] = json!(end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        item["duration"] = json!(format!(
            "{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        ));
    }
    item
}

type Zoom = State<Arc<super::SimState>>;

/// `GET /cobrowsesdk/live_sessions`: sessions going on that started in the
/// period (the last month when none is given).
async fn live_sessions(State(sim): Zoom, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let world = &sim.zoom;
    if let Some(refusal) = refused(world, &headers) {
        return refusal;
    }
    let params = params(raw.as_deref());
    let (from, to) = match period(&params, chrono::Duration::days(30)) {
        Ok(period) => period,
        Err(refused) => return refused.into_response(),
    };
    let items = {
        let state = world.state.lock().expect("zoom lock");
        state
            .sessions
            .values()
            .filter(|s| s.end_time.is_none() && s.start_time >= from && s.start_time < to)
            .map(listed)
            .collect()
    };
    page(world, &params, "live_sessions", items, json!({}))
}

/// `GET /cobrowsesdk/past_sessions`: sessions that ended, by their start
/// (or, with `time_type=end_time`, their end) in the period (the last
/// 24 hours when none is given), or the one `session_id` or `session_pin`
/// names.
async fn past_sessions(State(sim): Zoom, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let world = &sim.zoom;
    if let Some(refusal) = refused(world, &headers) {
        return refusal;
    }
    let params = params(raw.as_deref());
    let (from, to) = match period(&params, chrono::Duration::hours(24)) {
        Ok(period) => period,
        Err(refused) => return refused.into_response(),
    };
    let by_end = match params.get("time_type").map(String::as_str) {
        None | Some("start_time") => false,
        Some("end_time") => true,
        Some(_) => {
            return refuse(StatusCode::BAD_REQUEST, 300, "Invalid field: time_type.")
                .into_response()
        }
    };
    let items = {
        let state = world.state.lock().expect("zoom lock");
        state
            .sessions
            .values()
            .filter(|s| {
                let Some(end) = s.end_time else {
                    return false;
                };
                let at = if by_end { end } else { s.start_time };
                at >= from
                    && at < to
                    && params
                        .get("session_id")
                        .is_none_or(|id| *id == s.session_id)
                    && params
                        .get("session_pin")
                        .is_none_or(|pin| *pin == s.session_pin)
            })
            .map(listed)
            .collect()
    };
    let extra = json!({
        "from": from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "to": to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    page(world, &params, "past_sessions", items, extra)
}

/// The session `id`, or Zoom's 404.
fn found(world: &ZoomWorld, id: &str) -> Result<ZoomRecord, ZoomRefusal> {
    let state = world.state.lock().expect("zoom lock");
    state
        .sessions
        .get(id)
        .cloned()
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, 3001, "Session does not exist."))
}

/// `GET /cobrowsesdk/sessions/{id}`: one session, live or past.
async fn session(State(sim): Zoom, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let world = &sim.zoom;
    if let Some(refusal) = refused(world, &headers) {
        return refusal;
    }
    match found(world, &id) {
        Ok(session) => {
            let mut item = listed(&session);
            if let Some(item) = item.as_object_mut() {
                item.remove("users");
            }
            Json(item).into_response()
        }
        Err(refused) => refused.into_response(),
    }
}

/// `GET /cobrowsesdk/sessions/{id}/users`: its users, each connection, with
/// when they joined and left.
async fn users(
    State(sim): Zoom,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let world = &sim.zoom;
    if let Some(refusal) = refused(world, &headers) {
        return refusal;
    }
    let session = match found(world, &id) {
        Ok(session) => session,
        Err(refused) => return refused.into_response(),
    };
    let items = session
        .users
        .iter()
        .map(|u| serde_json::to_value(u).unwrap_or_default())
        .collect();
    let params = params(raw.as_deref());
    page(world, &params, &format!("{id}/users"), items, json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_webhooks_are_counted_down_and_the_events_still_happen_at_zoom() {
        let zoom = ZoomWorld::new("key".into(), Secret::new("secret"));
        zoom.set_faults(ZoomFaults {
            drop_webhooks: 2,
            ..ZoomFaults::default()
        });
        let started = json!({
            "event": "cobrowse.session_started",
            "payload": { "object": { "session_id": "s1", "start_time": "2026-12-08T09:00:00Z" } }
        });
        zoom.record(&started);
        let dropped: Vec<bool> = (0..3).map(|_| zoom.drops_webhook()).collect();
        assert_eq!(dropped, [true, true, false]);
        let state = zoom.state.lock().expect("zoom lock");
        assert!(
            state.sessions["s1"].end_time.is_none(),
            "s1 is live at Zoom"
        );
    }

    #[test]
    fn the_account_keeps_a_bounded_number_of_sessions_forgetting_the_first_ended() {
        let zoom = ZoomWorld::new("key".into(), Secret::new("secret"));
        let event = |name: &str, id: &str, at: &str| json!({ "event": name, "payload": { "object": { "session_id": id, "start_time": at, "end_time": at } } });
        zoom.record(&event(
            "cobrowse.session_started",
            "live",
            "2026-12-08T08:00:00Z",
        ));
        for n in 0..MAX_SESSIONS + 5 {
            let id = format!("s{n}");
            let at = format!("2026-12-08T09:{:02}:{:02}Z", n / 60 % 60, n % 60);
            zoom.record(&event("cobrowse.session_started", &id, &at));
            zoom.record(&event("cobrowse.session_ended", &id, &at));
        }
        let state = zoom.state.lock().expect("zoom lock");
        assert_eq!(state.sessions.len(), MAX_SESSIONS);
        assert!(state.sessions.contains_key("live"), "a live session stays");
        assert!(!state.sessions.contains_key("s0"), "the first ended went");
    }
}
