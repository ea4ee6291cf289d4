//! What every resolver reads besides its parent: the request's data
//! source, the webhook store, and small helpers over time.

use std::sync::Arc;

use async_graphql::Context;

use crate::source::Source;
use crate::store::EventStore;
use crate::upstream::model::Time;

/// The webhook event store. Its data is pushed and changes at any moment,
/// so a response that reads it must not be cached: reading notes a
/// freshness of zero.
pub(crate) fn store<'a>(ctx: &Context<'a>) -> &'a dyn EventStore {
    crate::freshness::note(std::time::Duration::ZERO);
    ctx.data_unchecked::<Arc<dyn EventStore>>().as_ref()
}

/// The store, for a report that is kept as long as the analytics report it
/// sits beside (`cobrowseStatistics`): what it reads of the store may then
/// be as stale as that report's TTL.
pub(crate) fn store_for_report<'a>(ctx: &Context<'a>) -> &'a dyn EventStore {
    ctx.data_unchecked::<Arc<dyn EventStore>>().as_ref()
}

/// The request's data source: the gateway's, or its caller's in
/// passthrough mode. The server puts it in every request's data.
pub(crate) fn source<'a>(ctx: &Context<'a>) -> &'a Source {
    ctx.data_unchecked::<Arc<Source>>()
}

/// Seconds from `start` to `end`, or to now when `end` is not yet known.
pub(crate) fn duration_seconds(start: Option<Time>, end: Option<Time>) -> Option<f64> {
    let start = start?;
    // Now is the instant the response is built as of.
    let end = end.unwrap_or_else(crate::freshness::now_utc);
    Some((end - start).num_milliseconds().max(0) as f64 / 1000.0)
}
