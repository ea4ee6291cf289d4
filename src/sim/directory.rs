//! The directory: users, queues and wrap-up codes, paged and filtered as
//! upstream does (docs/upstream.md, "Users").

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::answers::page_of;
use super::answers::{bad_request, not_found, Reject};
use super::Sim;
use crate::upstream::model::*;

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
pub(super) async fn users(State(sim): Sim, RawQuery(raw): RawQuery) -> Response {
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
pub(super) async fn user(
    State(sim): Sim,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
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

pub(super) async fn queues(State(sim): Sim, RawQuery(raw): RawQuery) -> Response {
    let world = sim.world.read().expect("world lock");
    directory(
        &world.queues,
        |_| true,
        raw.as_deref(),
        "/api/v2/routing/queues",
    )
}

pub(super) async fn queue(State(sim): Sim, Path(id): Path<String>) -> Response {
    let world = sim.world.read().expect("world lock");
    match world.queues.get(&id) {
        Some(queue) => Json(queue).into_response(),
        None => not_found("queue").into_response(),
    }
}

pub(super) async fn wrapup_codes(State(sim): Sim, RawQuery(raw): RawQuery) -> Response {
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
