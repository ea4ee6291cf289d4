//! GraphQL over HTTP, as the GraphQL-over-HTTP specification says.
//!
//! - POST with `Content-Type: application/json` (charset utf-8 or none);
//!   anything else is 415. GET with `query`, `operationName`, `variables` and
//!   `extensions` in the query string; a mutation over GET is 405 with
//!   `Allow: POST`.
//! - `Accept` picks `application/graphql-response+json` or `application/json`
//!   (the default, also for `*/*`); neither acceptable is 406.
//! - A malformed request (not JSON, bad `query`, `variables`,
//!   `operationName` or `extensions`, a batch, too large) is 400 (413 when
//!   too large). A GraphQL request error (parse, validation, variable
//!   coercion) is 200 under `application/json` and 400 without a `data`
//!   entry under `application/graphql-response+json`.
//! - Automatic persisted queries over both methods; `Cache-Control` from the
//!   freshness of what the response holds.

pub(crate) mod compiled;
mod params;
mod refusal;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::parser::types::OperationType;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::apq::ApqError;
use super::response_cache::ResponseCache;
use super::AppState;
use crate::auth::{AuthError, Caller, Presented};
use crate::freshness::Freshness;
use crate::graph::directory::Loaders;
use crate::graph::limits;
use params::{check_content_type, negotiate, Params};
use refusal::body_response;
pub(crate) use refusal::{MediaType, Refusal};

/// Authenticates a request and takes it from its caller's rate limit: an
/// identified caller's own bucket, or for anonymous callers (open demo
/// mode) the bucket of the address it comes from ([`anonymous_bucket`]).
pub(crate) async fn admit(
    app: &AppState,
    presented: Result<Presented<'_>, AuthError>,
    client: IpAddr,
) -> Result<Caller, Refusal> {
    let caller = match presented {
        Ok(presented) => app.auth.authenticate(presented, &app.source).await,
        Err(e) => Err(e),
    };
    let refused = |reason: &str| app.metrics.refused.with_label_values(&[reason]).inc();
    let caller = caller.map_err(|e| match &e {
        AuthError::Upstream(up) => {
            refused("upstream");
            let refusal = Refusal::new(StatusCode::SERVICE_UNAVAILABLE, up.code(), e.to_string());
            match up.retry_after() {
                Some(wait) => refusal.with_header(header::RETRY_AFTER, seconds(wait)),
                None => refusal,
            }
        }
        AuthError::Missing | AuthError::Invalid(_) => {
            refused("unauthenticated");
            unauthenticated(e.to_string())
        }
    })?;
    if let Some(limiter) = &app.rate_limiter {
        let anonymous = app.auth.is_open().then(|| anonymous_bucket(client));
        if let Err(wait) = limiter
            .admit(anonymous.as_ref().unwrap_or(&caller.id))
            .await
        {
            refused("rate_limited");
            return Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!(
                    "too many requests from this caller; retry after {} s",
                    wait.as_secs_f64().ceil()
                ),
            )
            .with_header(header::RETRY_AFTER, seconds(wait)));
        }
    }
    Ok(caller)
}

/// The rate-limit bucket of anonymous requests from `client`.
pub(crate) fn anonymous_bucket(client: IpAddr) -> Arc<str> {
    Arc::from(format!("anonymous:{client}"))
}

fn unauthenticated(message: String) -> Refusal {
    Refusal::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"cobrowse-gateway\""),
    )
}

/// Whole seconds, rounded up, as a header value.
fn seconds(wait: Duration) -> HeaderValue {
    HeaderValue::from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

/// `POST /graphql`.
pub(crate) async fn post(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let media = match negotiate(&headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.respond(MediaType::Json),
    };
    let client = app.proxies.client(peer.ip(), &headers);
    match read_post(&app, &headers, body, client).await {
        Ok((caller, params)) => run(&app, &caller, params, media, Method::POST).await,
        Err(refusal) => refusal.respond(media),
    }
}

/// The caller and the parameters of a POST.
async fn read_post(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
    client: IpAddr,
) -> Result<(Caller, Params), Refusal> {
    let caller = admit(app, Presented::from_headers(headers), client).await?;
    check_content_type(headers)?;
    let max = app.limits.max_body_bytes;
    let bytes: Bytes = super::read_body(headers, body, max).await.map_err(|_| {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body is larger than {max} bytes"),
        )
    })?;
    Ok((caller, Params::from_json(&bytes, app.limits.max_nesting)?))
}

/// `GET /graphql` for queries; browsers get GraphiQL.
pub(crate) async fn get(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && app.graphiql {
        return super::graphiql::page().await.into_response();
    }
    let media = match negotiate(&headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.respond(MediaType::Json),
    };
    let read = async {
        let client = app.proxies.client(peer.ip(), &headers);
        let caller = admit(&app, Presented::from_headers(&headers), client).await?;
        let raw = raw.as_deref().unwrap_or_default();
        Ok::<_, Refusal>((
            caller,
            Params::from_query_string(raw, app.limits.max_nesting)?,
        ))
    };
    match read.await {
        Ok((caller, params)) => run(&app, &caller, params, media, Method::GET).await,
        Err(refusal) => refusal.respond(media),
    }
}

/// Answers one admitted request, and counts it under its operation and
/// outcome.
async fn run(
    app: &AppState,
    caller: &Caller,
    params: Params,
    media: MediaType,
    method: Method,
) -> Response {
    let started = Instant::now();
    let operation = app
        .metrics
        .operation_label(params.operation_name.as_deref());
    let (outcome, response) = match answer(app, caller, params, media, method).await {
        Ok(answered) => answered,
        Err(refusal) => (refusal.outcome(), refusal.respond(media)),
    };
    app.metrics
        .requests
        .with_label_values(&[operation, outcome])
        .inc();
    app.metrics
        .request_seconds
        .with_label_values(&[operation])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The stages of a request, in order. Each may refuse it; none after a
/// refusal runs.
async fn answer(
    app: &AppState,
    caller: &Caller,
    params: Params,
    media: MediaType,
    method: Method,
) -> Result<(&'static str, Response), Refusal> {
    let Params {
        query,
        operation_name,
        variables,
        extensions,
    } = params;
    // The size is measured before the text is kept anywhere (the persisted
    // query store).
    check_size(query.as_deref(), app.limits.max_document_bytes)?;
    let query = persisted(app, query, extensions.as_ref()).await?;
    let key = app.responses.as_ref().map(|_| {
        ResponseCache::key(
            caller.access.scope.value(),
            caller.permissions.bits(),
            &query,
            operation_name.as_deref(),
            variables.as_ref(),
        )
    });
    if let Some(hit) = kept(app, key.as_ref(), media) {
        return Ok(("cached", hit));
    }
    check_nesting(&query, variables.as_ref(), app.limits.max_nesting)?;
    let plan = compiled::lookup(app, &query, operation_name.as_deref());
    if let Some(answered) = compiled::answer(app, caller, &plan, media, key).await {
        return Ok(answered);
    }
    let (request, kind) = prepare(&query, operation_name, variables, method)?;
    let epoch = app.responses.as_ref().map(|r| r.epoch());
    let (response, freshness) = execute(app, caller, request).await?;
    refuse_revoked_token(app, caller, &response).await?;
    let plan = compiled::learn(app, plan, &query, kind, &response);
    let as_of = freshness.as_of();
    let executed = Executed {
        response,
        freshness,
        kind,
    };
    let rendered = render(app, executed, key.zip(epoch));
    let verified = compiled::verify(app, caller, plan, as_of, &rendered).await;
    let outcome = rendered.outcome;
    let mut http = rendered.into_http(media);
    if let Some(verified) = verified {
        http.headers_mut().insert("x-compiled", verified);
    }
    Ok((outcome, http))
}

/// Refuses a document larger than `max_bytes`.
fn check_size(query: Option<&str>, max_bytes: usize) -> Result<(), Refusal> {
    match query.map(|q| limits::check_size(q, max_bytes)) {
        Some(Err(error)) => Err(Refusal::limit(&error)),
        _ => Ok(()),
    }
}

/// The document: the one sent, or the persisted one its hash names.
async fn persisted(
    app: &AppState,
    query: Option<String>,
    extensions: Option<&Map<String, Value>>,
) -> Result<Arc<str>, Refusal> {
    app.persisted
        .resolve(query, extensions)
        .await
        .map_err(|e| match e {
            ApqError::NotFound => {
                Refusal::request_error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
                    .counted_as("persisted_query_not_found")
            }
            ApqError::HashMismatch => Refusal::bad_request("provided sha does not match query"),
            ApqError::Invalid(why) => Refusal::bad_request(why),
            ApqError::MissingQuery => Refusal::bad_request("`query` is required (a string)"),
        })
}

/// A kept response for `key`. Only query responses are ever kept, so a hit
/// needs no parse: it is a query, and GET allows it.
fn kept(app: &AppState, key: Option<&[u8; 32]>, media: MediaType) -> Option<Response> {
    let hit = app.responses.as_ref()?.get(key?)?;
    let mut http = body_response(StatusCode::OK, media, hit.body);
    let headers = http.headers_mut();
    headers.insert(header::CACHE_CONTROL, cacheable_for(app, hit.remaining));
    headers.insert("x-cache", HeaderValue::from_static("HIT"));
    Some(http)
}

/// Refuses a document or variables nested deeper than `max_nesting`,
/// measured before anything parses them (`prepare` does). A kept response's
/// request passed this check already.
fn check_nesting(
    query: &str,
    variables: Option<&Map<String, Value>>,
    max_nesting: usize,
) -> Result<(), Refusal> {
    limits::check_nesting(query, max_nesting)
        .and_then(|()| match variables {
            Some(variables) => limits::check_variables(variables, max_nesting),
            None => Ok(()),
        })
        .map_err(|error| Refusal::limit(&error))
}

/// The request to execute and its operation's type (`None` when the
/// document does not parse: execution reports that in the usual way).
/// A mutation or subscription over GET is refused.
fn prepare(
    query: &str,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    method: Method,
) -> Result<(async_graphql::Request, Option<OperationType>), Refusal> {
    let variables = Value::Object(variables.unwrap_or_default());
    let mut request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let kind = match request.parsed_query() {
        Ok(document) => operation_type(document, operation_name.as_deref()),
        Err(_) => None,
    };
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if method == Method::GET && kind.is_some_and(|k| k != OperationType::Query) {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "only queries may be sent with GET; send mutations with POST",
        )
        .with_header(header::ALLOW, HeaderValue::from_static("POST")));
    }
    Ok((request, kind))
}

/// Runs the request against the caller's source, within the time limit,
/// noting the freshness of what it reads.
async fn execute(
    app: &AppState,
    caller: &Caller,
    request: async_graphql::Request,
) -> Result<(async_graphql::Response, Freshness), Refusal> {
    let source = app.source_for(caller);
    let request = request
        .data(Loaders::new(&source))
        .data(source)
        .data(caller.clone());
    let freshness = Freshness::default();
    let limit = app.limits.request_timeout;
    // Upstream calls end a little before the request must, so that a hung
    // upstream is a field error naming its route, not a timed-out request.
    let margin = (limit / 10).min(Duration::from_secs(1));
    let deadline = Instant::now() + limit.saturating_sub(margin);
    let execution = freshness.clone().scope(crate::deadline::scope(
        deadline,
        app.schema.execute(request),
    ));
    match tokio::time::timeout(limit, execution).await {
        Ok(response) => Ok((response, freshness)),
        Err(_) => Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "REQUEST_TIMEOUT",
            format!("the request took longer than {} ms", limit.as_millis()),
        )
        .counted_as("timeout")),
    }
}

/// Upstream refused a passed-through token that was proven before (it
/// expired or was revoked since): the whole request is unauthenticated.
async fn refuse_revoked_token(
    app: &AppState,
    caller: &Caller,
    response: &async_graphql::Response,
) -> Result<(), Refusal> {
    if !response
        .errors
        .iter()
        .any(|e| error_code(e) == Some("UNAUTHENTICATED"))
    {
        return Ok(());
    }
    app.auth.forget(caller).await;
    Err(
        unauthenticated("upstream refused the token: it is invalid, expired or revoked".into())
            .counted_as("unauthenticated"),
    )
}

/// What execution gave.
struct Executed {
    response: async_graphql::Response,
    freshness: Freshness,
    kind: Option<OperationType>,
}

/// A response, rendered: its body and `Cache-Control`.
pub(crate) struct Rendered {
    outcome: &'static str,
    /// Parse, validation or variable errors (no `data`).
    request_error: bool,
    bytes: Bytes,
    cache_control: HeaderValue,
}

impl Rendered {
    fn into_http(self, media: MediaType) -> Response {
        let status = if self.request_error {
            media.request_error_status()
        } else {
            StatusCode::OK
        };
        let mut http = body_response(status, media, self.bytes);
        http.headers_mut()
            .insert(header::CACHE_CONTROL, self.cache_control);
        http
    }
}

/// The rendered response of an execution result, kept for its max-age
/// when it is a query answered without errors from fresh data. `kept` is
/// the response cache's key and the epoch the execution started in.
fn render(app: &AppState, executed: Executed, kept: Option<([u8; 32], u64)>) -> Rendered {
    let Executed {
        mut response,
        freshness,
        kind,
    } = executed;
    let request_error = is_request_error(&response);
    let outcome = if request_error {
        "request_error"
    } else if response.errors.is_empty() {
        "ok"
    } else {
        "partial"
    };
    let (stale, stale_count) = freshness.stale();
    if stale_count > 0 {
        response
            .extensions
            .insert("warnings".into(), stale_warning(&stale, stale_count));
    }
    let cacheable =
        response.errors.is_empty() && kind == Some(OperationType::Query) && stale_count == 0;
    let body = Envelope {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: (!response.extensions.is_empty()).then_some(&response.extensions),
    };
    let bytes = Bytes::from(serde_json::to_vec(&body).expect("responses serialize"));
    let cache_control = cache_control(app, cacheable, &freshness, &bytes, kept);
    Rendered {
        outcome,
        request_error,
        bytes,
        cache_control,
    }
}

/// Whether execution refused the request as a whole (parse, validation or
/// variable errors: errors without paths, no `data`).
fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
        && response.data == async_graphql::Value::Null
}

/// The `Cache-Control` of a response that read with `freshness`; a
/// `cacheable` one is kept under `kept` (the response cache's key and the
/// epoch its execution started in) for as long as what it read allows.
fn cache_control(
    app: &AppState,
    cacheable: bool,
    freshness: &Freshness,
    bytes: &Bytes,
    kept: Option<([u8; 32], u64)>,
) -> HeaderValue {
    let max_age = freshness.shortest().unwrap_or(app.limits.schema_max_age);
    let lifetimes = crate::http::response_cache::Lifetimes {
        keep: freshness.keep().unwrap_or(max_age),
        client: max_age,
    };
    match (cacheable, &app.responses, kept) {
        (true, Some(responses), Some((key, epoch))) => {
            responses.put(key, bytes.clone(), lifetimes, epoch, freshness.reads());
            cacheable_for(app, max_age)
        }
        (true, _, _) => cacheable_for(app, max_age),
        (false, _, _) => HeaderValue::from_static("no-store"),
    }
}

/// The `Cache-Control` of a response fresh for `max_age`: `public` only when
/// the gateway runs open (everyone sees the same data); an authenticated
/// caller's response is `private`, so that no shared cache serves it to
/// another caller.
fn cacheable_for(app: &AppState, max_age: Duration) -> HeaderValue {
    let visibility = if app.auth.is_open() {
        "public"
    } else {
        "private"
    };
    HeaderValue::from_str(&format!("{visibility}, max-age={}", max_age.as_secs())).expect("digits")
}

/// The warning of a response that holds data served past its TTL.
fn stale_warning(reads: &[crate::freshness::StaleRead], count: usize) -> async_graphql::Value {
    let reads: Vec<Value> = reads
        .iter()
        .map(|r| {
            serde_json::json!({
                "kind": r.kind,
                "id": r.id,
                "staleForSeconds": r.stale_for.as_secs_f64(),
                "upstreamCode": r.upstream_code,
            })
        })
        .collect();
    let warning = serde_json::json!([{
        "code": "STALE_DATA",
        "message": format!(
            "upstream is failing: {count} value(s) in this response are cached data past their time to live"
        ),
        "count": count,
        "reads": reads,
    }]);
    async_graphql::Value::from_json(warning).expect("JSON is a GraphQL value")
}

fn error_code(error: &async_graphql::ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

fn operation_type(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The response body: `data` is left out for request errors.
#[derive(Serialize)]
struct Envelope<'a, D: Serialize, E: Serialize, X: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a D>,
    #[serde(skip_serializing_if = "<[E]>::is_empty")]
    errors: &'a [E],
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a X>,
}

/// Limits the handler enforces.
#[derive(Clone, Debug)]
pub(crate) struct HttpLimits {
    pub max_body_bytes: usize,
    pub max_document_bytes: usize,
    /// Deepest nesting of a document's brackets and of its variables.
    pub max_nesting: usize,
    pub request_timeout: Duration,
    /// `max-age` of responses that read nothing from upstream (introspection).
    pub schema_max_age: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_past_the_size_limit_is_refused_as_a_request_error_that_says_by_how_much() {
        let refusal = check_size(Some("{ a }"), 4).expect_err("too large");
        assert_eq!(refusal.code(), limits::code::QUERY_TOO_LARGE);
        assert_eq!(refusal.outcome(), "too_large");
        assert!(check_size(Some("{ a }"), 5).is_ok());
        assert!(
            check_size(None, 0).is_ok(),
            "a persisted query has no text yet"
        );
    }

    #[test]
    fn nesting_is_measured_in_the_document_and_in_the_variables() {
        let deep = format!("{{ a(v: {}1{}) }}", "[".repeat(70), "]".repeat(70));
        assert_eq!(
            check_nesting(&deep, None, 64).expect_err("deep").code(),
            limits::code::NESTING_TOO_DEEP
        );
        let mut variables = Map::new();
        variables.insert("v".into(), serde_json::json!([[[1]]]));
        assert!(check_nesting("{ a }", Some(&variables), 2).is_err());
        assert!(check_nesting("{ a }", Some(&variables), 3).is_ok());
    }

    #[test]
    fn get_refuses_a_mutation_and_lets_execution_report_what_does_not_parse() {
        let refused = prepare("mutation { a }", None, None, Method::GET).expect_err("405");
        assert_eq!(refused.code(), "METHOD_NOT_ALLOWED");
        let (_, kind) = prepare("mutation { a }", None, None, Method::POST).expect("allowed");
        assert_eq!(kind, Some(OperationType::Mutation));
        let (_, kind) = prepare(
            "query A { a } mutation B { b }",
            Some("B".into()),
            None,
            Method::POST,
        )
        .expect("named");
        assert_eq!(kind, Some(OperationType::Mutation));
        let (_, kind) = prepare("{ a", None, None, Method::GET).expect("execution reports it");
        assert_eq!(kind, None);
    }
}
