//! The GraphQL schema: types, resolvers, loaders, ids and error codes.
//!
//! Resolvers read through [`crate::source::Source`] (cache, then upstream)
//! and never see HTTP. Per-request state (the [`directory::Loaders`]) is
//! attached to each request by the server; the schema holds only what is
//! shared by every request.

pub(crate) mod compiled;
mod context;
pub(crate) mod conversation;
pub(crate) mod directory;
pub(crate) mod engage;
pub(crate) mod errors;
pub(crate) mod guard;
mod history;
pub mod ids;
pub(crate) mod limits;
mod messenger;
mod mutation;
mod paging;
mod partial;
mod query;
mod sessions;
mod shape;
mod statistics;
pub(crate) mod subscription;
mod values;

use std::sync::Arc;

use async_graphql::Schema;

use crate::settings::LimitSettings;
use crate::store::EventStore;
use paging::Limits;

/// The schema type.
pub(crate) type GatewaySchema =
    Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// What the schema reads from, besides upstream.
pub(crate) struct SchemaData {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) updates: tokio::sync::broadcast::Sender<crate::updates::SessionUpdate>,
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
