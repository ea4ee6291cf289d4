//! The HTTP edge: routes, per-request GraphQL state, time limits.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::graph::directory::Loaders;
use crate::graph::errors::coded;
use crate::graph::GatewaySchema;
use crate::source::Source;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: GatewaySchema,
    pub source: Arc<Source>,
    pub request_timeout: Duration,
}

/// The gateway's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql))
        .route("/graphiql", get(graphiql))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn graphql(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    execute(&state, request.into_inner()).await
}

/// A browser gets GraphiQL; anything else a GraphQL GET request.
async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return graphiql().await.into_response();
    }
    match request {
        Ok(request) => execute(&state, request.into_inner()).await.into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

async fn execute(state: &AppState, request: async_graphql::Request) -> GraphQLResponse {
    let request = request.data(Loaders::new(&state.source));
    match tokio::time::timeout(state.request_timeout, state.schema.execute(request)).await {
        Ok(response) => response.into(),
        Err(_) => {
            let error = coded(
                "REQUEST_TIMEOUT",
                format!(
                    "the request took longer than {} ms",
                    state.request_timeout.as_millis()
                ),
            );
            async_graphql::Response::from_errors(vec![error.into_server_error(Default::default())])
                .into()
        }
    }
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("cobrowse-gateway")
            .finish(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}
