//! The simulator's upstream routes, with upstream's shapes and errors.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::answers::{bad_request, not_found, parse_json, Reject};
use super::data::SimConversation;
use super::life::StepError;
use super::Sim;
use super::{analytics, notifications, Grant, SimState};
use crate::upstream::analytics::*;
use crate::upstream::model::*;

pub(super) fn api() -> Router<Arc<SimState>> {
    Router::new()
        .route("/api/v2/conversations/cobrowsesessions", get(listing))
        .route(
            "/api/v2/conversations/cobrowsesessions/{id}",
            get(cobrowse_conversation),
        )
        .route("/api/v2/conversations/{id}", get(conversation))
        .merge(super::messenger::routes())
        .route(
            "/api/v2/conversations/{cid}/participants/{pid}",
            patch(patch_participant),
        )
        .route(
            "/api/v2/conversations/{cid}/participants/{pid}/attributes",
            patch(patch_attributes),
        )
        .route("/api/v2/tokens/me", get(token_info))
        .route("/api/v2/users", get(users))
        .route("/api/v2/users/{id}", get(user))
        .route("/api/v2/routing/queues", get(queues))
        .route("/api/v2/routing/queues/{id}", get(queue))
        .route("/api/v2/routing/wrapupcodes", get(wrapup_codes))
        .route(
            "/api/v2/analytics/conversations/details/query",
            post(details_query),
        )
        .route(
            "/api/v2/analytics/conversations/details",
            get(details_by_ids),
        )
        .route(
            "/api/v2/analytics/conversations/details/jobs",
            post(super::analytics_jobs::submit),
        )
        .route(
            "/api/v2/analytics/conversations/details/jobs/{id}",
            get(super::analytics_jobs::status),
        )
        .route(
            "/api/v2/analytics/conversations/details/jobs/{id}/results",
            get(super::analytics_jobs::results),
        )
        .route(
            "/api/v2/analytics/conversations/aggregates/query",
            post(aggregates_query),
        )
        .route(
            "/api/v2/notifications/availabletopics",
            get(super::notification_topics::available_topics),
        )
        .route(
            "/api/v2/notifications/channels",
            post(notifications::create_channel).get(notifications::list_channels),
        )
        .route(
            "/api/v2/notifications/channels/{id}",
            axum::routing::head(notifications::channel_exists),
        )
        .route(
            "/api/v2/notifications/channels/{id}/subscriptions",
            get(notifications::get_subscriptions)
                .put(notifications::put_subscriptions)
                .post(notifications::post_subscriptions)
                .delete(notifications::delete_subscriptions),
        )
}

/// The permissions a route needs, as Genesys documents them: any one of
/// them will do (the SDKs' API docs, "Requires ANY permissions";
/// docs/upstream.md, "Permissions"). Reading a user, or the co-browse
/// listing, takes none beyond the client's division access.
pub(super) fn permission(method: &axum::http::Method, path: &str) -> &'static [&'static str] {
    const DETAILS: &[&str] = &[
        "analytics:conversationDetail:view",
        "analytics:agentConversationDetail:view",
    ];
    match (method.as_str(), path) {
        ("GET", "/api/v2/conversations/{id}") => &["conversation:communication:view"],
        ("PATCH", "/api/v2/conversations/{cid}/participants/{pid}") => &[
            "conversation:participant:wrapup",
            "conversation:call:record",
            "conversation:communication:disconnect",
        ],
        ("POST", "/api/v2/analytics/conversations/details/query")
        | ("GET", "/api/v2/analytics/conversations/details")
        | ("POST", "/api/v2/analytics/conversations/details/jobs")
        | ("GET", "/api/v2/analytics/conversations/details/jobs/{id}")
        | ("GET", "/api/v2/analytics/conversations/details/jobs/{id}/results") => DETAILS,
        ("POST", "/api/v2/analytics/conversations/aggregates/query") => {
            &["analytics:conversationAggregate:view"]
        }
        ("GET", "/api/v2/routing/queues" | "/api/v2/routing/queues/{id}") => {
            &["routing:queue:view"]
        }
        ("GET", "/api/v2/routing/wrapupcodes") => &["routing:wrapupCode:view"],
        // Either lets the call in; the conversation's channel decides which
        // it needs (web messaging: cobrowse, voice: cobrowseVoice).
        ("POST", "/api/v2/conversations/{id}/cobrowse") => &[
            "conversation:cobrowse:add",
            "conversation:cobrowseVoice:add",
        ],
        ("POST", "/api/v2/conversations/messages/{id}/messages/bulk") => &[
            "conversation:message:view",
            "conversation:webmessaging:view",
        ],
        _ => &[],
    }
}

/// `POST /oauth/token`: client credentials with Basic auth.
pub(super) async fn token(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    let refuse = |status: StatusCode, error: &str, why: &str| {
        let body = TokenError {
            error: Some(error.into()),
            description: Some(why.into()),
            error_description: Some(why.into()),
        };
        (status, Json(body)).into_response()
    };
    let grant = form_urlencoded::parse(&body).find(|(k, _)| k == "grant_type");
    if grant.as_ref().map(|(_, v)| v.as_ref()) != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let grant = credentials
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .and_then(|(id, secret)| sim.client_grant(id, secret));
    let Some(grant) = grant else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    };
    issued(&sim, grant)
}

/// A new token for `grant`, living as long as the faults say, in
/// upstream's token answer.
fn issued(sim: &SimState, grant: Grant) -> Response {
    let lifetime = sim.faults.read().expect("faults lock").token_lifetime_s;
    let access_token = sim.issue_token(Duration::from_secs(lifetime), grant);
    Json(TokenResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: lifetime,
    })
    .into_response()
}

/// `GET /api/v2/tokens/me`: the token's organisation and client.
async fn token_info(Extension(grant): Extension<Grant>) -> Response {
    let entity = |id: &str, name: &str| EntityRef {
        id: Some(id.to_owned()),
        name: Some(name.to_owned()),
        self_uri: None,
    };
    Json(TokenInfo {
        organization: Some(entity("sim-org", "Simulated organisation")),
        oauth_client: Some(entity(&grant.client, &grant.client)),
        authorized_scope: vec!["conversations".into(), "users:readonly".into()],
    })
    .into_response()
}

async fn conversation(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    Path(id): Path<String>,
) -> Response {
    let world = sim.world.read().expect("world lock");
    if let Some(conv) = world.conversation(&id).filter(|c| grant.sees(c)) {
        return Json(&conv.full).into_response();
    }
    drop(world);
    // A web messaging or voice conversation (Co-browse for Messenger's).
    match sim.messaging_conversation(&id) {
        Some(full) => Json(full).into_response(),
        None => not_found("conversation").into_response(),
    }
}

async fn cobrowse_conversation(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    Path(id): Path<String>,
) -> Response {
    let world = sim.world.read().expect("world lock");
    match world.conversation(&id).filter(|c| grant.sees(c)) {
        Some(conv)
            if conv
                .view
                .participants
                .iter()
                .any(|p| p.cobrowse_session_id.is_some()) =>
        {
            Json(&conv.view).into_response()
        }
        _ => not_found("cobrowse conversation").into_response(),
    }
}

/// The active co-browse conversations of the token's user. A
/// client-credentials token has no user, and upstream refuses it here.
async fn listing(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(user) = grant.user.as_deref() else {
        return bad_request(
            "This request requires a user context. Client credentials cannot be used for requests to this resource.",
        )
        .into_response();
    };
    let faults = sim.faults.read().expect("faults lock").clone();
    let world = sim.world.read().expect("world lock");
    let active: Vec<&CobrowseConversation> = world
        .conversations
        .iter()
        .filter(|c| c.has_active_cobrowse() && grant.sees(c))
        .filter(|c| {
            c.full
                .participants
                .iter()
                .any(|p| p.user_id.as_deref() == Some(user))
        })
        .map(|c| &c.view)
        .collect();
    let path = "/api/v2/conversations/cobrowsesessions";
    if faults.listing_page_size == 0 && faults.listing_copies == 0 {
        // Upstream's SDKs send no paging parameters here: one page holds all.
        let page_size = active.len().max(1);
        return Json(page_of(active, page_size, 1, path, "")).into_response();
    }
    let page = listing_page(&active, &faults, raw.as_deref(), path);
    drop(world);
    Json(page).into_response()
}

/// A page of a listing that upstream pages or makes longer (the fault
/// knobs `listing_page_size`, `listing_overlap`, `listing_loop` and
/// `listing_copies`), as the query's `pageNumber` asks. Only the page's
/// own items are made: a listing of 100,000 costs its page.
fn listing_page(
    base: &[&CobrowseConversation],
    faults: &super::Faults,
    raw: Option<&str>,
    path: &str,
) -> Listing<CobrowseConversation> {
    let total = base.len() * (faults.listing_copies as usize + 1);
    // Item `i`: a conversation of the base, or its copy under a derived id.
    let item = |i: usize| {
        let mut view = base[i % base.len()].clone();
        let copy = i / base.len();
        if copy > 0 {
            view.id = view.id.map(|id| format!("{id}-copy{copy}"));
        }
        view
    };
    let page_size = match faults.listing_page_size {
        0 => total.max(1),
        n => n as usize,
    };
    let page_number = raw
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("pageNumber="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let start = ((page_number - 1) * page_size).min(total);
    let overlap = (faults.listing_overlap as usize).min(start);
    let end = (start + page_size).min(total);
    let entities = (start - overlap..end).map(item).collect();
    let mut page = envelope(entities, total, page_size, page_number, path, "");
    if faults.listing_loop && page.next_uri.is_none() {
        page.next_uri = page.first_uri.clone();
    }
    page
}

/// A listing page in upstream's envelope.
fn page_of<T: Serialize + Clone>(
    all: Vec<T>,
    page_size: usize,
    page_number: usize,
    path: &str,
    extra_query: &str,
) -> Listing<T> {
    let total = all.len();
    let entities = all
        .into_iter()
        .skip((page_number - 1) * page_size)
        .take(page_size)
        .collect();
    envelope(entities, total, page_size, page_number, path, extra_query)
}

/// Page `page_number` of a listing of `total`, holding `entities`.
fn envelope<T>(
    entities: Vec<T>,
    total: usize,
    page_size: usize,
    page_number: usize,
    path: &str,
    extra_query: &str,
) -> Listing<T> {
    let page_count = total.div_ceil(page_size).max(1);
    let uri = |n: usize| format!("{path}?pageSize={page_size}&pageNumber={n}{extra_query}");
    Listing {
        entities,
        page_size: Some(page_size as i64),
        page_number: Some(page_number as i64),
        total: Some(total as i64),
        page_count: Some(page_count as i64),
        first_uri: Some(uri(1)),
        self_uri: Some(uri(page_number)),
        next_uri: (page_number < page_count).then(|| uri(page_number + 1)),
        previous_uri: (page_number > 1).then(|| uri(page_number - 1)),
        last_uri: Some(uri(page_count)),
    }
}

/// The paging and id parameters of a directory listing.
struct DirectoryQuery {
    ids: Vec<String>,
    page_size: usize,
    page_number: usize,
}

fn directory_query(raw: Option<&str>) -> Result<DirectoryQuery, Reject> {
    let mut query = DirectoryQuery {
        ids: Vec::new(),
        page_size: 25,
        page_number: 1,
    };
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad_request(&format!("{key} must be a positive integer")))
        };
        match key.as_ref() {
            "id" => query.ids.push(value.into_owned()),
            "pageSize" => query.page_size = number()?,
            "pageNumber" => query.page_number = number()?,
            _ => {}
        }
    }
    if query.page_size > 500 {
        return Err(bad_request("pageSize must be at most 500"));
    }
    if query.ids.len() > 100 {
        return Err(bad_request("at most 100 ids may be requested at once"));
    }
    Ok(query)
}

fn directory<T: Serialize + Clone>(
    all: &std::collections::BTreeMap<String, T>,
    listed: impl Fn(&T) -> bool,
    raw: Option<&str>,
    path: &str,
) -> Response {
    let query = match directory_query(raw) {
        Ok(query) => query,
        Err(reject) => return reject.into_response(),
    };
    let chosen: Vec<T> = if query.ids.is_empty() {
        all.values().filter(|e| listed(e)).cloned().collect()
    } else {
        query
            .ids
            .iter()
            .filter_map(|id| all.get(id).filter(|e| listed(e)).cloned())
            .collect()
    };
    let extra: String = query.ids.iter().map(|id| format!("&id={id}")).collect();
    let page_size = if query.ids.is_empty() {
        query.page_size
    } else {
        query.page_size.max(query.ids.len())
    };
    Json(page_of(chosen, page_size, query.page_number, path, &extra)).into_response()
}

/// `GET /api/v2/users`: `state` is `active` (the default), `inactive`,
/// `deleted` or `any` (docs/upstream.md, "Users").
async fn users(State(sim): Sim, RawQuery(raw): RawQuery) -> Response {
    let state = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(key, _)| key == "state")
        .map_or_else(|| "active".to_owned(), |(_, value)| value.into_owned());
    if !matches!(state.as_str(), "active" | "inactive" | "deleted" | "any") {
        return bad_request("state must be one of active, inactive, deleted, any").into_response();
    }
    let world = sim.world.read().expect("world lock");
    let listed = |user: &User| state == "any" || user.state.as_deref() == Some(state.as_str());
    directory(&world.users, listed, raw.as_deref(), "/api/v2/users")
}

/// `GET /api/v2/users/{id}`: `state` is `active` (the default) or
/// `deleted`; a deleted user is found only when asked for as such (an
/// inactive one as an active one: *unconfirmed*, docs/upstream.md "Users").
async fn user(State(sim): Sim, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let state = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(key, _)| key == "state")
        .map_or_else(|| "active".to_owned(), |(_, value)| value.into_owned());
    if !matches!(state.as_str(), "active" | "deleted") {
        return bad_request("state must be active or deleted").into_response();
    }
    let world = sim.world.read().expect("world lock");
    let deleted = |user: &User| user.state.as_deref() == Some("deleted");
    match world.users.get(&id) {
        Some(user) if deleted(user) == (state == "deleted") => Json(user).into_response(),
        _ => not_found("user").into_response(),
    }
}

async fn queues(State(sim): Sim, RawQuery(raw): RawQuery) -> Response {
    let world = sim.world.read().expect("world lock");
    directory(
        &world.queues,
        |_| true,
        raw.as_deref(),
        "/api/v2/routing/queues",
    )
}

async fn queue(State(sim): Sim, Path(id): Path<String>) -> Response {
    let world = sim.world.read().expect("world lock");
    match world.queues.get(&id) {
        Some(queue) => Json(queue).into_response(),
        None => not_found("queue").into_response(),
    }
}

async fn wrapup_codes(State(sim): Sim, RawQuery(raw): RawQuery) -> Response {
    let query = match directory_query(raw.as_deref()) {
        Ok(query) => query,
        Err(reject) => return reject.into_response(),
    };
    let world = sim.world.read().expect("world lock");
    let path = "/api/v2/routing/wrapupcodes";
    Json(page_of(
        world.wrapup_codes.clone(),
        query.page_size,
        query.page_number,
        path,
        "",
    ))
    .into_response()
}

async fn patch_participant(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    Path((cid, pid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: MediaParticipantRequest = match parse_json(&body) {
        Ok(request) => request,
        Err(reject) => return reject.into_response(),
    };
    if let Some(state) = &request.state {
        if state != "disconnected" {
            return bad_request("state may only be set to disconnected").into_response();
        }
    }
    let mut world = sim.world.write().expect("world lock");
    let Some(conv) = world.conversation_mut(&cid).filter(|c| grant.sees(c)) else {
        return not_found("conversation").into_response();
    };
    if conv.participant_mut(&pid).is_none() {
        return not_found("participant").into_response();
    }
    let now = Utc::now();
    conv.will_change(now);
    apply_patch(conv, &pid, &request, now);
    sim.changed(&world, &cid);
    StatusCode::ACCEPTED.into_response()
}

fn apply_patch(
    conv: &mut SimConversation,
    pid: &str,
    request: &MediaParticipantRequest,
    now: DateTime<Utc>,
) {
    if request.state.is_some() {
        conv.disconnect(pid, now);
    }
    if let Some(participant) = conv.participant_mut(pid) {
        if let Some(wrapup) = &request.wrapup {
            participant.wrapup = Some(wrapup.clone());
            if let Some(comm) = participant.cobrowsesessions.last_mut() {
                comm.wrapup = Some(wrapup.clone());
            }
        }
        if let Some(skipped) = request.wrapup_skipped {
            participant.wrapup_skipped = Some(skipped);
        }
    }
    if let Some(media) = conv.media_mut(pid) {
        if let Some(held) = request.held {
            media.held = Some(held);
            media.start_hold_time = held.then_some(now);
        }
        if let Some(wrapup) = &request.wrapup {
            media.wrapup = Some(wrapup.clone());
        }
        if let Some(skipped) = request.wrapup_skipped {
            media.wrapup_skipped = Some(skipped);
        }
    }
}

async fn patch_attributes(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    Path((cid, pid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: ParticipantAttributes = match parse_json(&body) {
        Ok(request) => request,
        Err(reject) => return reject.into_response(),
    };
    let mut world = sim.world.write().expect("world lock");
    let Some(conv) = world.conversation_mut(&cid).filter(|c| grant.sees(c)) else {
        return not_found("conversation").into_response();
    };
    if conv.participant_mut(&pid).is_none() {
        return not_found("participant").into_response();
    }
    conv.will_change(Utc::now());
    let participant = conv.participant_mut(&pid).expect("found above");
    participant.attributes.extend(request.attributes.clone());
    if let Some(media) = conv.media_mut(&pid) {
        media.attributes.extend(request.attributes);
    }
    sim.changed(&world, &cid);
    StatusCode::ACCEPTED.into_response()
}

async fn details_query(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    let query: DetailsQuery = match parse_json(&body) {
        Ok(query) => query,
        Err(reject) => return reject.into_response(),
    };
    match sim.analytics(&grant, |held| analytics::details(held, &query)) {
        Ok(answer) => Json(answer).into_response(),
        Err(why) => bad_request(&why).into_response(),
    }
}

/// `GET /api/v2/analytics/conversations/details?id=a,b`: the records of
/// those conversations (comma-separated, or the parameter repeated), as the
/// details query would report them now; unknown ids are left out.
async fn details_by_ids(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    RawQuery(raw): RawQuery,
) -> Response {
    let ids: Vec<String> = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "id")
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    if ids.is_empty() {
        return bad_request("id is required: comma-separated conversation ids").into_response();
    }
    Json(MultiGetResponse {
        conversations: sim.analytics(&grant, |held| analytics::by_ids(held, &ids)),
    })
    .into_response()
}

async fn aggregates_query(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    let query: AggregatesQuery = match parse_json(&body) {
        Ok(query) => query,
        Err(reject) => return reject.into_response(),
    };
    let faults = sim.faults.read().expect("faults lock").clone();
    let world = sim.world.read().expect("world lock");
    match analytics::aggregates(&world, &query, &faults, &|c| grant.sees(c)) {
        Ok(answer) => Json(answer).into_response(),
        Err(why) => bad_request(&why).into_response(),
    }
}

/// Whom a user token is for.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct UserTokenRequest {
    user_id: String,
}

/// `POST /__sim/tokens`: a token with the user context of a known user, as
/// the authorization-code grant would give that user's browser.
pub(super) async fn user_token(State(sim): Sim, Json(request): Json<UserTokenRequest>) -> Response {
    if !sim
        .world
        .read()
        .expect("world lock")
        .users
        .contains_key(&request.user_id)
    {
        return not_found("user").into_response();
    }
    let grant = Grant {
        client: Arc::from("sim-agent-desktop"),
        divisions: None,
        user: Some(Arc::from(request.user_id.as_str())),
    };
    issued(&sim, grant)
}

/// `POST /__sim/world/conversations`: a customer starts a conversation.
pub(super) async fn start_conversation(State(sim): Sim, body: Bytes) -> Response {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct ConversationStart {
        /// A conversation that began long ago (a call that went on for
        /// days); the co-browse still starts with the next steps.
        #[serde(default)]
        started_seconds_ago: u32,
    }
    let start: ConversationStart = if body.is_empty() {
        ConversationStart::default()
    } else {
        match parse_json(&body) {
            Ok(start) => start,
            Err(reject) => return reject.into_response(),
        }
    };
    let at = Utc::now() - chrono::Duration::seconds(i64::from(start.started_seconds_ago));
    let change = sim
        .world
        .write()
        .expect("world lock")
        .start_conversation(at);
    (StatusCode::CREATED, Json(change)).into_response()
}

/// `POST /__sim/world/conversations/{id}/step`: the conversation moves on.
pub(super) async fn step_conversation(State(sim): Sim, Path(id): Path<String>) -> Response {
    let mut world = sim.world.write().expect("world lock");
    let outcome = world.advance(&id, Utc::now());
    if outcome.is_ok() {
        sim.changed(&world, &id);
    }
    drop(world);
    changed(outcome)
}

/// `POST /__sim/world/conversations/{id}/act` (`{"act": "end_cobrowse"}`,
/// `{"act": "hang_up", "purpose": "customer"}`, ...): something happens to
/// the conversation ([`super::Act`]).
pub(super) async fn act_on_conversation(
    State(sim): Sim,
    Path(id): Path<String>,
    Json(act): Json<super::Act>,
) -> Response {
    let mut world = sim.world.write().expect("world lock");
    let outcome = world.act(&id, &act, Utc::now());
    if outcome.is_ok() {
        sim.changed(&world, &id);
    }
    drop(world);
    changed(outcome)
}

/// The answer to a step or an act.
fn changed(outcome: Result<super::Stepped, StepError>) -> Response {
    match outcome {
        Ok(change) => Json(change).into_response(),
        Err(StepError::NotFound) => not_found("conversation").into_response(),
        Err(StepError::Over) => Reject(
            StatusCode::CONFLICT,
            "conflict",
            "The conversation has ended.".into(),
        )
        .into_response(),
    }
}

/// `POST /__sim/world/tick`: one step of the demo pace.
pub(super) async fn tick(State(sim): Sim) -> Response {
    Json(sim.tick()).into_response()
}

/// A queue to add to the world.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewQueues {
    count: usize,
}

/// `POST /__sim/world/queues` (`{"count": n}`): an administrator creates
/// `n` queues; answers their ids.
pub(super) async fn add_queues(State(sim): Sim, Json(new): Json<NewQueues>) -> Response {
    if new.count > 10_000 {
        return bad_request("at most 10000 queues at once").into_response();
    }
    let ids = sim.world.write().expect("world lock").add_queues(new.count);
    (StatusCode::CREATED, Json(ids)).into_response()
}
