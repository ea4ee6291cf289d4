//! The HTTP edge: GraphQL over HTTP, GraphiQL, health, readiness, metrics,
//! request ids and access logs.

pub(crate) mod apq;
pub(crate) mod client_addr;
pub mod graphiql;
pub(crate) mod graphql;
pub(crate) mod home;
pub(crate) mod origins;
pub(crate) mod page_reports;
pub(crate) mod rate_limit;
pub(crate) mod response_cache;
pub(crate) mod serve;
pub(crate) mod subscriptions;
pub(crate) mod webhooks;

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

use crate::graph::GatewaySchema;
use crate::metrics::Metrics;
use crate::source::Source;
use crate::store::EventStore;
use crate::updates::SessionUpdate;
use apq::PersistedQueries;
use graphql::HttpLimits;

/// The header that carries a request's id (taken from the client or made).
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: GatewaySchema,
    pub(crate) source: Arc<Source>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) persisted: Arc<PersistedQueries>,
    pub(crate) limits: HttpLimits,
    pub(crate) graphiql: bool,
    /// Demo mode: the home page shows the live wall.
    pub(crate) demo: bool,
    /// The user agent of requests the access log keeps at `debug` besides
    /// the probes: in demo mode, the demo player's webhooks.
    pub(crate) background_agent: Option<&'static str>,
    /// Origins whose pages may call from a browser.
    pub(crate) origins: origins::Origins,
    /// Proxies whose forwarding headers name the client (anonymous
    /// callers' rate limits go by it).
    pub(crate) proxies: client_addr::TrustedProxies,
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) responses: Option<Arc<response_cache::ResponseCache>>,
    /// Compiled plans of query documents (`server.compiled_queries`).
    pub(crate) compiled: Option<Arc<graphql::compiled::CompiledPath>>,
    pub(crate) updates: tokio::sync::broadcast::Sender<SessionUpdate>,
    /// Service mode: the live index and its listener's status.
    pub(crate) live: Option<Arc<crate::live::Live>>,
    pub(crate) webhooks: WebhookConfig,
    /// Co-browse for Messenger's page reports.
    pub(crate) page_reports: page_reports::PageReports,
    pub(crate) auth: Arc<crate::auth::Authenticator>,
    pub(crate) rate_limiter: Option<Arc<rate_limit::RateLimiter>>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) sockets: subscriptions::SocketLimits,
    pub(crate) readiness: Arc<Readiness>,
}

impl AppState {
    /// The data source a caller reads through: the gateway's own, or one
    /// bound to the caller's credentials.
    pub(crate) fn source_for(&self, caller: &crate::auth::Caller) -> Arc<Source> {
        if caller.access.scope == self.source.scope() {
            Arc::clone(&self.source)
        } else {
            Arc::new(self.source.with_access(caller.access.clone()))
        }
    }
}

/// What long-lived connections (subscriptions) hold: the signal to stop, and
/// a token that keeps the gateway waiting for them until they have closed.
#[derive(Clone)]
pub(crate) struct Lifecycle {
    stop: tokio::sync::watch::Receiver<bool>,
    _alive: tokio::sync::mpsc::Sender<()>,
}

/// The gateway's end of a [`Lifecycle`].
pub(crate) struct LifecycleControl {
    stop: tokio::sync::watch::Sender<bool>,
    alive: tokio::sync::mpsc::Receiver<()>,
}

impl Lifecycle {
    /// A lifecycle and its control.
    pub(crate) fn new() -> (Self, LifecycleControl) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (alive_tx, alive_rx) = tokio::sync::mpsc::channel(1);
        (
            Self {
                stop: stop_rx,
                _alive: alive_tx,
            },
            LifecycleControl {
                stop: stop_tx,
                alive: alive_rx,
            },
        )
    }

    /// Resolves once the gateway is stopping.
    pub(crate) fn stopping(&self) -> Stopping {
        Stopping(self.stop.clone())
    }
}

/// A wait for the gateway to stop.
pub(crate) struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    /// Resolves when the gateway stops (or its control is gone).
    pub(crate) async fn wait(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

impl LifecycleControl {
    /// Tells every holder to stop.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Resolves once every [`Lifecycle`] clone is gone.
    pub(crate) async fn all_closed(&mut self) {
        while self.alive.recv().await.is_some() {}
    }
}

/// How webhooks are received.
#[derive(Clone, Debug)]
pub(crate) struct WebhookConfig {
    pub(crate) secret: Option<crate::secret::Secret>,
    pub(crate) max_skew: std::time::Duration,
    pub(crate) max_body_bytes: usize,
}

/// The gateway's routes and layers.
pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/", get(home::page))
        .route("/wall.js", get(home::wall_js))
        .route("/favicon.ico", get(home::favicon))
        .route("/messenger-cobrowse.js", get(home::messenger_js))
        .route(
            "/messenger/page-reports",
            axum::routing::post(page_reports::receive).layer(state.page_reports.layer()),
        )
        .route(
            "/graphql",
            get(graphql::get)
                .post(graphql::post)
                .layer(state.origins.layer()),
        )
        .route("/graphql/ws", get(subscriptions::upgrade))
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
    let background_agent = state.background_agent;
    router
        .with_state(state)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request<_>| {
                    let id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or_default();
                    let (method, path) = (request.method(), request.uri().path());
                    if is_background(request, background_agent) {
                        tracing::debug_span!("request", %method, path, request_id = id)
                    } else {
                        tracing::info_span!("request", %method, path, request_id = id)
                    }
                })
                .on_request(())
                .on_response(access_log)
                // A 5xx is in the access log already; tower-http would add
                // an ERROR line for every failing probe.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Requests the access log keeps at `debug`: probes (`/healthz`,
/// `/readyz`, `/metrics`, asked every few seconds by machines) and those of
/// `agent` (in demo mode, the demo player's webhooks).
fn is_background<B>(request: &Request<B>, agent: Option<&str>) -> bool {
    matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics")
        || agent.is_some_and(|agent| {
            request
                .headers()
                .get(header::USER_AGENT)
                .is_some_and(|sent| sent == agent)
        })
}

/// The access log: one line per request, at `info` (in its request span,
/// with the method, path and request id), or at `debug` for background
/// requests.
fn access_log<B>(response: &Response<B>, latency: std::time::Duration, span: &tracing::Span) {
    let status = response.status().as_u16();
    // Tenths of a millisecond: what a reader compares, not nanoseconds.
    let latency_ms = (latency.as_secs_f64() * 10_000.0).round() / 10.0;
    if span.metadata().map(|m| *m.level()) == Some(tracing::Level::INFO) {
        tracing::info!(parent: span, status, latency_ms, "served");
    } else {
        tracing::debug!(parent: span, status, latency_ms, "served");
    }
}

/// A request body larger than its limit.
pub(crate) struct TooLarge;

/// The whole body of a request, at most `max` bytes. A `Content-Length`
/// above the limit is refused before the body is polled, so that a client
/// that sent `Expect: 100-continue` is told 413 at once instead of
/// `100 Continue` (hyper answers that on the first poll) and an upload.
pub(crate) async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    max: usize,
) -> Result<axum::body::Bytes, TooLarge> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(TooLarge);
    }
    axum::body::to_bytes(body, max).await.map_err(|_| TooLarge)
}

/// `GET /healthz`: the process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The last readiness probe, kept for `server.readiness_interval`: a flood
/// of `/readyz` costs one probe per interval (one token check, one store
/// write), not one per call.
pub(crate) struct Readiness {
    interval: std::time::Duration,
    last: tokio::sync::Mutex<Option<(std::time::Instant, Probed)>>,
}

/// Whether the gateway was ready, and the body that says why.
type Probed = Arc<(bool, serde_json::Value)>;

impl Readiness {
    /// Probes at most once per `interval`.
    pub(crate) fn new(interval: std::time::Duration) -> Self {
        Self {
            interval,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The last probe's result, probing again when it is older than the
    /// interval (concurrent callers wait for one probe).
    async fn get(&self, app: &AppState) -> Probed {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = &*last {
            if at.elapsed() < self.interval {
                return Arc::clone(result);
            }
        }
        let result = Arc::new(probe(app).await);
        let was = last.as_ref().map(|(_, r)| not_ready(r));
        let now = not_ready(&result);
        // Once per change of state (which checks fail), not once per probe.
        if was.as_ref().map(|w| w.as_ref().map(|(names, _)| names))
            != Some(now.as_ref().map(|(names, _)| names))
        {
            match (&now, &was) {
                (Some((_, why)), _) => {
                    tracing::warn!(why = %why, "not ready (/readyz answers 503)");
                }
                (None, Some(Some(_))) => tracing::info!("ready again (/readyz answers 200)"),
                (None, _) => {}
            }
        }
        *last = Some((std::time::Instant::now(), Arc::clone(&result)));
        result
    }
}

/// Why a probe found the gateway not ready: the names of its failing
/// checks, and what they say (none: it is ready).
fn not_ready(probed: &Probed) -> Option<(Vec<&'static str>, String)> {
    let (ready, body) = &**probed;
    if *ready {
        return None;
    }
    let checks = &body["checks"];
    let mut names = Vec::new();
    let mut said = Vec::new();
    for name in ["upstream_token", "upstream_calls", "store"] {
        if let Some(value) = checks[name].as_str().filter(|v| *v != "ok") {
            names.push(name);
            said.push(format!("{name}: {value}"));
        }
    }
    Some((names, said.join("; ")))
}

/// Upstream gives a valid token and is not failing; the store takes a write.
async fn probe(app: &AppState) -> (bool, serde_json::Value) {
    let client = app.source.client();
    let token = client.check_credentials().await;
    let failing = client.consecutive_failures();
    let store = app.store.check().await;
    let ready = token.is_ok() && failing < 3 && store.is_ok();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "probed_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "checks": {
            "upstream_token": match &token { Ok(()) => "ok".to_owned(), Err(e) => format!("{}: {e}", e.code()) },
            "upstream_calls": if failing < 3 { "ok".to_owned() } else { format!("the last {failing} upstream calls failed") },
            "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
            "open_circuits": client.open_circuits(),
            "notifications": app.live.as_ref().map_or_else(
                || serde_json::json!("off: the active set is read from analytics on demand"),
                |live| serde_json::to_value(live.status()).expect("a status serializes"),
            ),
        }
    });
    (ready, body)
}

/// `GET /readyz`: upstream answers with a valid token and is not failing,
/// and the store takes writes (as of the last probe).
async fn readyz(State(app): State<AppState>) -> Response {
    let result = app.readiness.get(&app).await;
    let (ready, body) = &*result;
    let status = if *ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, Json(body.clone())).into_response();
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
