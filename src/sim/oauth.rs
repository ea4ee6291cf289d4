//! Genesys Cloud's OAuth door: the client-credentials grant
//! (`POST /oauth/token`), what a token is (`GET /api/v2/tokens/me`), and the
//! simulator's own door to a user's token (`POST /__sim/tokens`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;

use super::answers::not_found;
use super::Sim;
use super::{Grant, SimState};
use crate::upstream::model::*;

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
pub(super) async fn token_info(Extension(grant): Extension<Grant>) -> Response {
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
