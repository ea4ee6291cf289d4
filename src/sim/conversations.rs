//! The conversations API: a conversation, a co-browse conversation, the
//! active co-browse listing of the token's user (paged as upstream pages it,
//! faults and all), and the changes a client may make to a participant.

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};

use super::answers::{bad_request, not_found, parse_json};
use super::answers::{envelope, page_of};
use super::data::SimConversation;
use super::Grant;
use super::Sim;
use crate::upstream::model::*;

pub(super) async fn conversation(
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

pub(super) async fn cobrowse_conversation(
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
pub(super) async fn listing(
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

pub(super) async fn patch_participant(
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

pub(super) async fn patch_attributes(
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
