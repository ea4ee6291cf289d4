//! The simulator's own door to its world (`/__sim/world/...`): a customer
//! starts a conversation, a conversation steps on or something happens to it,
//! the demo's pace ticks, an administrator adds queues.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use super::answers::{bad_request, not_found, parse_json, Reject};
use super::life::StepError;
use super::Sim;

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
