//! The simulator's map of upstream's API: which handler answers each route
//! (one file per upstream area), and the permissions each route needs.

use std::sync::Arc;

use axum::routing::{get, patch, post};
use axum::Router;

use super::{notifications, SimState};

pub(super) fn api() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/api/v2/conversations/cobrowsesessions",
            get(super::conversations::listing),
        )
        .route(
            "/api/v2/conversations/cobrowsesessions/{id}",
            get(super::conversations::cobrowse_conversation),
        )
        .route(
            "/api/v2/conversations/{id}",
            get(super::conversations::conversation),
        )
        .merge(super::messenger::routes())
        .route(
            "/api/v2/conversations/{cid}/participants/{pid}",
            patch(super::conversations::patch_participant),
        )
        .route(
            "/api/v2/conversations/{cid}/participants/{pid}/attributes",
            patch(super::conversations::patch_attributes),
        )
        .route("/api/v2/tokens/me", get(super::oauth::token_info))
        .route("/api/v2/users", get(super::directory::users))
        .route("/api/v2/users/{id}", get(super::directory::user))
        .route("/api/v2/routing/queues", get(super::directory::queues))
        .route("/api/v2/routing/queues/{id}", get(super::directory::queue))
        .route(
            "/api/v2/routing/wrapupcodes",
            get(super::directory::wrapup_codes),
        )
        .route(
            "/api/v2/analytics/conversations/details/query",
            post(super::analytics::details_query),
        )
        .route(
            "/api/v2/analytics/conversations/details",
            get(super::analytics::details_by_ids),
        )
        .route(
            "/api/v2/analytics/conversations/details/jobs",
            post(super::analytics_jobs::submit),
        )
        .route(
            "/api/v2/analytics/conversations/details/jobs/{id}",
            get(super::analytics_jobs::status),
        )
        .route(
            "/api/v2/analytics/conversations/details/jobs/{id}/results",
            get(super::analytics_jobs::results),
        )
        .route(
            "/api/v2/analytics/conversations/aggregates/query",
            post(super::analytics::aggregates_query),
        )
        .route(
            "/api/v2/notifications/availabletopics",
            get(super::notification_topics::available_topics),
        )
        .route(
            "/api/v2/notifications/channels",
            post(notifications::create_channel).get(notifications::list_channels),
        )
        .route(
            "/api/v2/notifications/channels/{id}",
            axum::routing::head(notifications::channel_exists),
        )
        .route(
            "/api/v2/notifications/channels/{id}/subscriptions",
            get(notifications::get_subscriptions)
                .put(notifications::put_subscriptions)
                .post(notifications::post_subscriptions)
                .delete(notifications::delete_subscriptions),
        )
}

/// The permissions a route needs, as Genesys documents them: any one of
/// them will do (the SDKs' API docs, "Requires ANY permissions";
/// docs/upstream.md, "Permissions"). Reading a user, or the co-browse
/// listing, takes none beyond the client's division access.
pub(super) fn permission(method: &axum::http::Method, path: &str) -> &'static [&'static str] {
    const DETAILS: &[&str] = &[
        "analytics:conversationDetail:view",
        "analytics:agentConversationDetail:view",
    ];
    match (method.as_str(), path) {
        ("GET", "/api/v2/conversations/{id}") => &["conversation:communication:view"],
        ("PATCH", "/api/v2/conversations/{cid}/participants/{pid}") => &[
            "conversation:participant:wrapup",
            "conversation:call:record",
            "conversation:communication:disconnect",
        ],
        ("POST", "/api/v2/analytics/conversations/details/query")
        | ("GET", "/api/v2/analytics/conversations/details")
        | ("POST", "/api/v2/analytics/conversations/details/jobs")
        | ("GET", "/api/v2/analytics/conversations/details/jobs/{id}")
        | ("GET", "/api/v2/analytics/conversations/details/jobs/{id}/results") => DETAILS,
        ("POST", "/api/v2/analytics/conversations/aggregates/query") => {
            &["analytics:conversationAggregate:view"]
        }
        ("GET", "/api/v2/routing/queues" | "/api/v2/routing/queues/{id}") => {
            &["routing:queue:view"]
        }
        ("GET", "/api/v2/routing/wrapupcodes") => &["routing:wrapupCode:view"],
        // Either lets the call in; the conversation's channel decides which
        // it needs (web messaging: cobrowse, voice: cobrowseVoice).
        ("POST", "/api/v2/conversations/{id}/cobrowse") => &[
            "conversation:cobrowse:add",
            "conversation:cobrowseVoice:add",
        ],
        ("POST", "/api/v2/conversations/messages/{id}/messages/bulk") => &[
            "conversation:message:view",
            "conversation:webmessaging:view",
        ],
        _ => &[],
    }
}
