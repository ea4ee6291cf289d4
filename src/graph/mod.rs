//! The GraphQL schema: types, resolvers, loaders, ids and error codes.
//!
//! Resolvers read through [`crate::source::Source`] (cache, then upstream)
//! and never see HTTP. Per-request state (the [`directory::Loaders`]) is
//! attached to each request by the server; the schema holds only what is
//! shared by every request.

pub(crate) mod communication;
pub(crate) mod conversation;
pub(crate) mod directory;
pub(crate) mod engage;
pub(crate) mod errors;
pub(crate) mod guard;
pub mod ids;
pub(crate) mod limits;
pub(crate) mod mutation;
mod partial;
pub(crate) mod query;
pub(crate) mod session;
pub(crate) mod sessions;
pub(crate) mod subscription;

use std::sync::Arc;

use async_graphql::{Context, Lookahead, Schema};
use chrono::Utc;

use crate::settings::LimitSettings;
use crate::source::Source;
use crate::store::EventStore;
use crate::upstream::model::Time;

/// The schema type.
pub(crate) type GatewaySchema =
    Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Limits resolvers enforce.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_page_size: usize,
}

/// What the schema reads from, besides upstream.
pub(crate) struct SchemaData {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) updates: tokio::sync::broadcast::Sender<subscription::SessionUpdate>,
    pub(crate) agent_sessions_limit: engage::AgentSessionsLimit,
}

/// Builds the schema.
pub(crate) fn schema(
    data: SchemaData,
    limits: &LimitSettings,
    introspection: bool,
) -> GatewaySchema {
    let builder = if introspection {
        builder()
    } else {
        builder().disable_introspection()
    };
    builder
        .data(data.store)
        .data(data.updates)
        .data(data.agent_sessions_limit)
        .data(Limits {
            max_page_size: limits.max_page_size,
        })
        .extension(limits::QueryLimits::new(limits, introspection))
        .finish()
}

/// The SDL of the schema (what `schema.graphql` holds).
pub fn sdl() -> String {
    builder().finish().sdl()
}

fn builder(
) -> async_graphql::SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .extension(errors::ErrorCodes)
}

/// The webhook event store. Its data is pushed and changes at any moment,
/// so a response that reads it must not be cached: reading notes a
/// freshness of zero.
pub(crate) fn store<'a>(ctx: &Context<'a>) -> &'a dyn EventStore {
    crate::freshness::note(std::time::Duration::ZERO);
    ctx.data_unchecked::<Arc<dyn EventStore>>().as_ref()
}

/// The request's data source: the gateway's, or its caller's in
/// passthrough mode. The server puts it in every request's data.
pub(crate) fn source<'a>(ctx: &Context<'a>) -> &'a Source {
    ctx.data_unchecked::<Arc<Source>>()
}

/// Whether the selection asks for any of `fields`.
pub(crate) fn selects_any(look: &Lookahead<'_>, fields: &[&str]) -> bool {
    fields.iter().any(|f| look.field(f).exists())
}

/// Seconds from `start` to `end`, or to now when `end` is not yet known.
pub(crate) fn duration_seconds(start: Option<Time>, end: Option<Time>) -> Option<f64> {
    let start = start?;
    let end = end.unwrap_or_else(Utc::now);
    Some((end - start).num_milliseconds().max(0) as f64 / 1000.0)
}
