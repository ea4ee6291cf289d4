//! The compiled path at the HTTP edge ([`crate::graph::compiled`]): which
//! requests a plan answers, learning plans from what the general engine
//! answered, and `verify` mode.

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::response::Response;

use super::{cache_control, is_request_error, MediaType, Rendered};
use crate::auth::{Caller, Permissions};
use crate::freshness::Freshness;
use crate::graph::compiled::{Compiled, Plan, Plans};
use crate::http::AppState;

/// The compiled path of a gateway (`server.compiled_queries` on or verify).
pub(crate) struct CompiledPath {
    pub(crate) plans: Plans,
    /// Run both ways and compare, serving the general engine's answer.
    pub(crate) verify: bool,
}

/// What the compiled path knows of a request's document.
pub(super) enum Lookup {
    /// Compiled queries are off.
    Skip,
    /// Not compiled yet: it is, once the general engine has answered it.
    Unknown([u8; 32], Option<String>),
    Known(Arc<Compiled>),
}

/// What is known of operation `operation` of `query`. (No plan declares
/// variables; values sent for none declared are ignored, by the engine
/// too.)
pub(super) fn lookup(app: &AppState, query: &str, operation: Option<&str>) -> Lookup {
    let Some(path) = &app.compiled else {
        return Lookup::Skip;
    };
    let key = Plans::key(query, operation);
    match path.plans.get(&key) {
        Some(compiled) => Lookup::Known(compiled),
        None => Lookup::Unknown(key, operation.map(str::to_owned)),
    }
}

/// The plan's answer, when it has one and can give it from cached data
/// (not in verify mode: there the general engine answers). `kept` is the
/// response cache's key.
pub(super) async fn answer(
    app: &AppState,
    caller: &Caller,
    lookup: &Lookup,
    media: MediaType,
    kept: Option<[u8; 32]>,
) -> Option<(&'static str, Response)> {
    let path = app.compiled.as_ref().filter(|path| !path.verify)?;
    let Lookup::Known(compiled) = lookup else {
        return None;
    };
    let Compiled::Plan(plan) = &**compiled else {
        return None;
    };
    let epoch = app.responses.as_ref().map(|r| r.epoch());
    let freshness = Freshness::default();
    let Some(rendered) = run(app, path, caller, plan, freshness, kept.zip(epoch)).await else {
        app.metrics
            .queries
            .compiled
            .with_label_values(&["declined"])
            .inc();
        return None;
    };
    app.metrics
        .queries
        .compiled
        .with_label_values(&["answered"])
        .inc();
    let outcome = rendered.outcome;
    let mut http = rendered.into_http(media);
    http.headers_mut()
        .insert("x-compiled", HeaderValue::from_static("answered"));
    Some((outcome, http))
}

/// The plan's rendered response from cached data, read in `freshness`,
/// kept in the response cache under `kept`; `None` when it cannot answer
/// (the caller may not read, or something is not cached and fresh).
async fn run(
    app: &AppState,
    path: &CompiledPath,
    caller: &Caller,
    plan: &Plan,
    freshness: Freshness,
    kept: Option<([u8; 32], u64)>,
) -> Option<Rendered> {
    // The guard of `activeCobrowseConversations`: without the scope the
    // general engine answers (with its error).
    if !caller.permissions.contains(Permissions::READ) {
        return None;
    }
    let source = app.source_for(caller);
    let (body, reads) = freshness
        .clone()
        .scope(path.plans.run(plan, &source))
        .await?;
    if !path.verify {
        source.cache().count_hits(reads);
    }
    let bytes = Bytes::from(body);
    // What a plan reads is fresh (never served past its TTL) and it answers
    // no errors: its response is cacheable as the engine's would be.
    let cache_control = cache_control(app, true, &freshness, &bytes, kept);
    Some(Rendered {
        outcome: "ok",
        request_error: false,
        bytes,
        cache_control,
    })
}

/// After the general engine answered: what the document compiled to,
/// compiling it now if it was not and the engine answered it without a
/// request error (so it parsed and validated) as a query.
pub(super) fn learn(
    app: &AppState,
    lookup: Lookup,
    query: &str,
    kind: Option<OperationType>,
    response: &async_graphql::Response,
) -> Option<Arc<Compiled>> {
    let path = app.compiled.as_ref()?;
    match lookup {
        Lookup::Skip => None,
        Lookup::Known(compiled) => Some(compiled),
        Lookup::Unknown(key, operation) => {
            if kind != Some(OperationType::Query) || is_request_error(response) {
                return None;
            }
            Some(path.plans.learn(key, query, operation.as_deref()))
        }
    }
}

/// Verify mode: the plan's answer as of the same instant (`as_of`),
/// compared with the general engine's `rendered` (body and
/// `Cache-Control`): the `x-compiled` header to send.
pub(super) async fn verify(
    app: &AppState,
    caller: &Caller,
    compiled: Option<Arc<Compiled>>,
    as_of: Freshness,
    rendered: &Rendered,
) -> Option<HeaderValue> {
    let path = app.compiled.as_ref().filter(|path| path.verify)?;
    let compiled = compiled?;
    let Compiled::Plan(plan) = &*compiled else {
        return None;
    };
    let outcome = match run(app, path, caller, plan, as_of, None).await {
        None => "declined",
        Some(ours)
            if ours.bytes == rendered.bytes && ours.cache_control == rendered.cache_control =>
        {
            "match"
        }
        Some(ours) => {
            tracing::error!(
                compiled = %String::from_utf8_lossy(&ours.bytes),
                compiled_cache_control = ?ours.cache_control,
                engine = %String::from_utf8_lossy(&rendered.bytes),
                engine_cache_control = ?rendered.cache_control,
                "the compiled plan's response differs from the general engine's"
            );
            "mismatch"
        }
    };
    app.metrics
        .queries
        .compiled
        .with_label_values(&[outcome])
        .inc();
    Some(HeaderValue::from_static(outcome))
}
