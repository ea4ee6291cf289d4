//! The simulator's own control door beside its world's (`/__sim/...`): the
//! counts of what was called, the faults it injects, the clients it knows,
//! the permissions it withholds from one, and expiring every token at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{random_secret, Faults, Grant, SimState, SimStats, MAX_CLIENTS};

pub(super) async fn stats(State(sim): State<Arc<SimState>>) -> Json<SimStats> {
    let routes = sim.counts.lock().expect("counts lock").clone();
    Json(SimStats {
        total: routes.values().sum(),
        routes,
        max_in_flight: sim.max_in_flight.load(Ordering::SeqCst),
    })
}

pub(super) async fn reset_stats(State(sim): State<Arc<SimState>>) -> StatusCode {
    sim.counts.lock().expect("counts lock").clear();
    sim.max_in_flight.store(0, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

pub(super) async fn get_faults(State(sim): State<Arc<SimState>>) -> Json<Faults> {
    Json(sim.faults.read().expect("faults lock").clone())
}

pub(super) async fn put_faults(
    State(sim): State<Arc<SimState>>,
    Json(faults): Json<Faults>,
) -> Response {
    if let Err(why) = faults.check() {
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    *sim.faults.write().expect("faults lock") = faults;
    StatusCode::NO_CONTENT.into_response()
}

/// A partner client to register.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewClient {
    divisions: Vec<String>,
}

/// A registered partner client's credentials.
#[derive(Serialize, Deserialize, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

pub(super) async fn add_client(
    State(sim): State<Arc<SimState>>,
    Json(new): Json<NewClient>,
) -> Response {
    let mut clients = sim.clients.lock().expect("clients lock");
    if clients.len() >= MAX_CLIENTS {
        return (StatusCode::BAD_REQUEST, "too many clients").into_response();
    }
    let id = format!("partner-{}", clients.len());
    let secret = random_secret();
    let grant = Grant {
        client: Arc::from(id.as_str()),
        divisions: Some(new.divisions.into()),
        user: None,
    };
    clients.insert(id.clone(), (secret.clone(), grant));
    Json(ClientCredentials {
        client_id: id,
        client_secret: secret.expose().to_owned(),
    })
    .into_response()
}

pub(super) async fn withhold(
    State(sim): State<Arc<SimState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(permissions): Json<Vec<String>>,
) -> Response {
    if !sim.clients.lock().expect("clients lock").contains_key(&id) {
        return (StatusCode::NOT_FOUND, "no such client").into_response();
    }
    sim.withheld
        .write()
        .expect("withheld lock")
        .insert(id, permissions);
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn expire_tokens(State(sim): State<Arc<SimState>>) -> StatusCode {
    sim.tokens.lock().expect("tokens lock").clear();
    StatusCode::NO_CONTENT
}
