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

use std::time::{Duration, Instant};

use async_graphql::parser::types::OperationType;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
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

/// The response media types the gateway speaks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum MediaType {
    Json,
    GraphqlResponseJson,
}

impl MediaType {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::Json => "application/json; charset=utf-8",
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
        })
    }
}

/// A request the gateway refuses before any GraphQL happens.
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    header: Option<Box<(HeaderName, HeaderValue)>>,
    /// The measured value and the limit, for refusals by a limit.
    measured: Option<Box<(usize, usize)>>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            header: None,
            measured: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.header = Some(Box::new((name, value)));
        self
    }

    /// The refusal's message.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn respond(self, media: MediaType) -> Response {
        let mut error = json_error(&self.message, self.code);
        if let Some((measured, limit)) = self.measured.as_deref().copied() {
            error["extensions"]["measured"] = measured.into();
            error["extensions"]["limit"] = limit.into();
        }
        let body = errors_only(vec![error]);
        let mut response = json_response(self.status, media, &body);
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some((name, value)) = self.header.map(|h| *h) {
            headers.insert(name, value);
        }
        response
    }
}

/// Authenticates a request and takes it from its caller's rate limit.
pub(crate) async fn admit(
    app: &AppState,
    presented: Result<Presented<'_>, AuthError>,
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
        if let Err(wait) = limiter.check(&caller.id) {
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

/// The parameters of one GraphQL request.
#[derive(Default, Debug)]
struct Params {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    extensions: Option<Map<String, Value>>,
}

impl Params {
    /// Reads a POST body. `max_nesting` bounds the variables and extensions
    /// (the body object and `variables` itself add two levels); it is
    /// measured before the JSON reader, which recurses, sees the body.
    fn from_json(body: &[u8], max_nesting: usize) -> Result<Self, Refusal> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Refusal::bad_request(
                "the request body is empty; send a JSON object with `query`",
            ));
        }
        let nesting = crate::nesting::json(body);
        if nesting > max_nesting + 2 {
            return Err(too_nested("the request body", nesting, max_nesting + 2));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Refusal::bad_request(format!("the request body is not valid JSON: {e}"))
        })?;
        let mut object = match value {
            Value::Object(object) => object,
            Value::Array(_) => {
                return Err(Refusal::bad_request(
                    "batched requests are not accepted: send one operation per request",
                ))
            }
            _ => {
                return Err(Refusal::bad_request(
                    "the request body must be a JSON object",
                ))
            }
        };
        Ok(Self {
            query: string_param(object.remove("query"), "query")?,
            operation_name: string_param(object.remove("operationName"), "operationName")?,
            variables: map_param(object.remove("variables"), "variables")?,
            extensions: map_param(object.remove("extensions"), "extensions")?,
        })
    }

    fn from_query_string(raw: &str, max_nesting: usize) -> Result<Self, Refusal> {
        let mut params = Self::default();
        let mut seen = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            if matches!(
                key.as_ref(),
                "query" | "operationName" | "variables" | "extensions"
            ) {
                if seen.contains(&key) {
                    return Err(Refusal::bad_request(format!(
                        "`{key}` is given more than once"
                    )));
                }
                seen.push(key.clone());
            }
            let json = |name: &str| -> Result<Option<Map<String, Value>>, Refusal> {
                if value.is_empty() {
                    return Ok(None);
                }
                let nesting = crate::nesting::json(value.as_bytes());
                if nesting > max_nesting + 1 {
                    return Err(too_nested(name, nesting, max_nesting + 1));
                }
                let parsed: Value = serde_json::from_str(&value).map_err(|e| {
                    Refusal::bad_request(format!("`{name}` is not valid JSON: {e}"))
                })?;
                map_param(Some(parsed), name)
            };
            match key.as_ref() {
                "query" => params.query = Some(value.into_owned()),
                "operationName" if !value.is_empty() => {
                    params.operation_name = Some(value.into_owned())
                }
                "variables" => params.variables = json("variables")?,
                "extensions" => params.extensions = json("extensions")?,
                _ => {}
            }
        }
        Ok(params)
    }
}

/// A body or parameter whose JSON nests deeper than the gateway reads.
fn too_nested(what: &str, nesting: usize, limit: usize) -> Refusal {
    let mut refusal = Refusal::new(
        StatusCode::BAD_REQUEST,
        limits::code::NESTING_TOO_DEEP,
        format!(
            "{what} nests arrays and objects {nesting} levels deep, above the limit of {limit}"
        ),
    );
    refusal.measured = Some(Box::new((nesting, limit)));
    refusal
}

fn string_param(value: Option<Value>, name: &str) -> Result<Option<String>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::bad_request(format!("`{name}` must be a string"))),
    }
}

fn map_param(value: Option<Value>, name: &str) -> Result<Option<Map<String, Value>>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(Refusal::bad_request(format!("`{name}` must be an object"))),
    }
}

/// Picks the response media type from `Accept`.
fn negotiate(headers: &HeaderMap) -> Result<MediaType, Refusal> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(MediaType::Json);
    };
    let accept = accept.to_str().unwrap_or_default();
    let mut best: Option<(f32, MediaType)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let media = match essence.as_str() {
            "application/graphql-response+json" => MediaType::GraphqlResponseJson,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((best_q, best_media)) => {
                q > best_q
                    || (q == best_q
                        && media == MediaType::GraphqlResponseJson
                        && best_media == MediaType::Json)
            }
        };
        if better {
            best = Some((q, media));
        }
    }
    match best {
        Some((_, media)) => Ok(media),
        None if accept.trim().is_empty() => Ok(MediaType::Json),
        None => Err(Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            "Accept must allow application/graphql-response+json or application/json",
        )),
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let unsupported = |why: String| {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            why,
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("Content-Type must be application/json".into()));
    };
    let mime: mime::Mime = value
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unsupported("Content-Type is not a media type".into()))?;
    if mime.essence_str() != "application/json" {
        return Err(unsupported(format!(
            "Content-Type {} is not supported; use application/json",
            mime.essence_str()
        )));
    }
    if let Some(charset) = mime.get_param(mime::CHARSET) {
        if !charset.as_str().eq_ignore_ascii_case("utf-8") {
            return Err(unsupported(format!(
                "charset {charset} is not supported; use utf-8"
            )));
        }
    }
    Ok(())
}

/// `POST /graphql`.
pub(crate) async fn post(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let media = match negotiate(&headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.respond(MediaType::Json),
    };
    let caller = match admit(&app, Presented::from_headers(&headers)).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.respond(media),
    };
    if let Err(refusal) = check_content_type(&headers) {
        return refusal.respond(media);
    }
    let bytes: Bytes = match axum::body::to_bytes(body, app.limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body is larger than {} bytes",
                    app.limits.max_body_bytes
                ),
            )
            .respond(media)
        }
    };
    match Params::from_json(&bytes, app.limits.max_nesting) {
        Ok(params) => run(&app, &caller, params, media, Method::POST).await,
        Err(refusal) => refusal.respond(media),
    }
}

/// `GET /graphql` for queries; browsers get GraphiQL.
pub(crate) async fn get(
    State(app): State<AppState>,
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
    let caller = match admit(&app, Presented::from_headers(&headers)).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.respond(media),
    };
    match Params::from_query_string(raw.as_deref().unwrap_or_default(), app.limits.max_nesting) {
        Ok(params) => run(&app, &caller, params, media, Method::GET).await,
        Err(refusal) => refusal.respond(media),
    }
}

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
    let finish = |outcome: &str, response: Response| {
        app.metrics
            .requests
            .with_label_values(&[operation, outcome])
            .inc();
        app.metrics
            .request_seconds
            .with_label_values(&[operation])
            .observe(started.elapsed().as_secs_f64());
        response
    };
    // The size is measured before the text is kept anywhere (the persisted
    // query store).
    if let Some(Err(error)) = params
        .query
        .as_deref()
        .map(|q| limits::check_size(q, app.limits.max_document_bytes))
    {
        return finish("too_large", refused_document(&error, media));
    }
    let query = match app
        .persisted
        .resolve(params.query, params.extensions.as_ref())
    {
        Ok(query) => query,
        Err(ApqError::NotFound) => {
            let error = json_error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND");
            let status = request_error_status(media);
            return finish(
                "persisted_query_not_found",
                no_store(json_response(status, media, &errors_only(vec![error]))),
            );
        }
        Err(ApqError::HashMismatch) => {
            return finish(
                "bad_request",
                Refusal::bad_request("provided sha does not match query").respond(media),
            )
        }
        Err(ApqError::Invalid(why)) => {
            return finish("bad_request", Refusal::bad_request(why).respond(media))
        }
        Err(ApqError::MissingQuery) => {
            return finish(
                "bad_request",
                Refusal::bad_request("`query` is required (a string)").respond(media),
            )
        }
    };
    let cache_key = app.responses.as_ref().map(|_| {
        ResponseCache::key(
            caller.access.scope.value(),
            caller.permissions.bits(),
            &query,
            params.operation_name.as_deref(),
            params.variables.as_ref(),
        )
    });
    // Only query responses are ever kept, so a hit needs no parse: it is a
    // query, and GET allows it.
    if let (Some(responses), Some(key)) = (&app.responses, &cache_key) {
        if let Some(hit) = responses.get(key) {
            let mut http = bytes_response(StatusCode::OK, media, hit.body);
            http.headers_mut()
                .insert(header::CACHE_CONTROL, cacheable_for(app, hit.remaining));
            http.headers_mut()
                .insert("x-cache", HeaderValue::from_static("HIT"));
            return finish("cached", http);
        }
    }
    // The nesting of the document and of its variables is measured before
    // anything parses them (the operation-type check below does). A kept
    // response's request passed these checks already.
    let nested = limits::check_nesting(&query, app.limits.max_nesting).and_then(|()| match &params
        .variables
    {
        Some(variables) => limits::check_variables(variables, app.limits.max_nesting),
        None => Ok(()),
    });
    if let Err(error) = nested {
        return finish("too_large", refused_document(&error, media));
    }
    let mut request = async_graphql::Request::new(&*query).variables(
        async_graphql::Variables::from_json(Value::Object(params.variables.unwrap_or_default())),
    );
    if let Some(name) = &params.operation_name {
        request = request.operation_name(name.clone());
    }
    let kind = match request.parsed_query() {
        Ok(document) => operation_type(document, params.operation_name.as_deref()),
        Err(_) => None, // execution reports the parse error in the usual way
    };
    if method == Method::GET && kind.is_some_and(|k| k != OperationType::Query) {
        let refusal = Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "only queries may be sent with GET; send mutations with POST",
        )
        .with_header(header::ALLOW, HeaderValue::from_static("POST"));
        return finish("bad_request", refusal.respond(media));
    }
    let epoch = app.responses.as_ref().map(|r| r.epoch());
    let source = app.source_for(caller);
    let request = request
        .data(Loaders::new(&source))
        .data(source)
        .data(caller.clone());
    let freshness = Freshness::default();
    let execution = freshness.clone().scope(app.schema.execute(request));
    let mut response = match tokio::time::timeout(app.limits.request_timeout, execution).await {
        Ok(response) => response,
        Err(_) => {
            let error = json_error(
                &format!(
                    "the request took longer than {} ms",
                    app.limits.request_timeout.as_millis()
                ),
                "REQUEST_TIMEOUT",
            );
            let response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                media,
                &errors_only(vec![error]),
            );
            return finish("timeout", no_store(response));
        }
    };
    // Upstream refused a passed-through token that was proven before (it
    // expired or was revoked since): the whole request is unauthenticated.
    if response
        .errors
        .iter()
        .any(|e| error_code(e) == Some("UNAUTHENTICATED"))
    {
        app.auth.forget(caller).await;
        let refusal =
            unauthenticated("upstream refused the token: it is invalid, expired or revoked".into());
        return finish("unauthenticated", refusal.respond(media));
    }
    let request_error = response.errors.iter().all(|e| e.path.is_empty())
        && !response.errors.is_empty()
        && response.data == async_graphql::Value::Null;
    let (status, outcome) = if request_error {
        (request_error_status(media), "request_error")
    } else if response.errors.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::OK, "partial")
    };
    let (stale, stale_count) = freshness.stale();
    if stale_count > 0 {
        response
            .extensions
            .insert("warnings".into(), stale_warning(&stale, stale_count));
    }
    let cacheable =
        response.errors.is_empty() && kind == Some(OperationType::Query) && stale_count == 0;
    let max_age = freshness.shortest().unwrap_or(app.limits.schema_max_age);
    let cache_control = if cacheable {
        cacheable_for(app, max_age)
    } else {
        HeaderValue::from_static("no-store")
    };
    let body = Envelope {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: (!response.extensions.is_empty()).then_some(&response.extensions),
    };
    let bytes = Bytes::from(serde_json::to_vec(&body).expect("responses serialize"));
    if let (true, Some(responses), Some(key), Some(epoch)) =
        (cacheable, &app.responses, cache_key, epoch)
    {
        responses.put(key, bytes.clone(), max_age, epoch, freshness.reads());
    }
    let mut http = bytes_response(status, media, bytes);
    http.headers_mut()
        .insert(header::CACHE_CONTROL, cache_control);
    finish(outcome, http)
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

/// The answer to a document refused by a limit before it was parsed: a
/// GraphQL request error.
fn refused_document(error: &async_graphql::ServerError, media: MediaType) -> Response {
    let body = errors_only(vec![serde_json::to_value(error).expect("errors serialize")]);
    no_store(json_response(request_error_status(media), media, &body))
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

fn request_error_status(media: MediaType) -> StatusCode {
    match media {
        MediaType::Json => StatusCode::OK,
        MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
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

/// A body with errors only (a request refused before GraphQL ran).
#[derive(Serialize)]
struct ErrorsOnly {
    errors: Vec<Value>,
}

fn errors_only(errors: Vec<Value>) -> ErrorsOnly {
    ErrorsOnly { errors }
}

fn json_error(message: &str, code: &str) -> Value {
    serde_json::json!({ "message": message, "extensions": { "code": code } })
}

fn json_response<T: Serialize>(status: StatusCode, media: MediaType, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).expect("responses serialize");
    bytes_response(status, media, Bytes::from(bytes))
}

fn bytes_response(status: StatusCode, media: MediaType, bytes: Bytes) -> Response {
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.header());
    // The body depends on the media type and on who asks.
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization, X-API-Key"),
    );
    response
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
