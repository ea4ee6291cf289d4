//! The HTTP edge: GraphQL over HTTP, GraphiQL, health, readiness, metrics,
//! request ids and access logs.

pub mod apq;
pub mod graphiql;
pub mod graphql;
pub mod response_cache;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::graph::subscription::SessionUpdate;
use crate::graph::GatewaySchema;
use crate::metrics::Metrics;
use crate::source::Source;
use crate::store::EventStore;
use apq::PersistedQueries;
use graphql::HttpLimits;

/// The header that carries a request's id (taken from the client or made).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: GatewaySchema,
    pub source: Arc<Source>,
    pub metrics: Arc<Metrics>,
    pub persisted: Arc<PersistedQueries>,
    pub limits: HttpLimits,
    pub graphiql: bool,
    pub store: Arc<dyn EventStore>,
    pub responses: Option<Arc<response_cache::ResponseCache>>,
    pub updates: tokio::sync::broadcast::Sender<SessionUpdate>,
    pub webhooks: WebhookConfig,
}

/// How webhooks are received.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub secret: Option<crate::secret::Secret>,
    pub max_skew: std::time::Duration,
    pub max_body_bytes: usize,
}

/// The gateway's routes and layers.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/webhooks/zoom", axum::routing::post(webhooks::zoom))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.graphiql {
        router = router
            .route("/graphiql", get(graphiql::page))
            .route("/graphiql/app.js", get(graphiql::app_js))
            .route("/graphiql/assets/{name}", get(graphiql::asset));
    }
    router
        .with_state(state)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), path = request.uri().path(), request_id = id)
                })
                .on_request(())
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// `GET /graphql/ws`: subscriptions over graphql-transport-ws (and the
/// older graphql-ws protocol). Each connection gets its own loaders.
async fn graphql_ws(
    State(app): State<AppState>,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let mut data = async_graphql::Data::default();
            data.insert(crate::graph::directory::Loaders::new(&app.source));
            async_graphql_axum::GraphQLWebSocket::new(stream, app.schema.clone(), protocol)
                .with_data(data)
                .serve()
        })
}

/// `GET /healthz`: the process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: upstream answers with a valid token and is not failing.
async fn readyz(State(app): State<AppState>) -> Response {
    let client = app.source.client();
    let token = client.check_credentials().await;
    let failing = client.consecutive_failures();
    let store = app.store.check().await;
    let ready = token.is_ok() && failing < 3 && store.is_ok();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": {
            "upstream_token": match &token { Ok(()) => "ok".to_owned(), Err(e) => format!("{}: {e}", e.code()) },
            "upstream_calls": if failing < 3 { "ok".to_owned() } else { format!("the last {failing} upstream calls failed") },
            "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        }
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /metrics`: Prometheus text exposition.
async fn metrics(State(app): State<AppState>) -> Response {
    app.source.cache().size().await;
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
