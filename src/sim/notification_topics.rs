//! What the simulator's notification topics require: one table, served
//! by `GET /api/v2/notifications/availabletopics` and enforced by the
//! subscriptions ([`super::notifications`]).

use axum::extract::RawQuery;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::upstream::notifications::*;

/// The permission a queue topic of `media` needs in the simulator. Genesys
/// publishes each topic's at `availabletopics`; no SDK names these, so the
/// simulator's are its own (docs/upstream.md, "Notifications"), served from
/// this one table by [`available_topics`] and enforced by the subscriptions.
pub(crate) fn topic_permission(media: TopicMedia) -> &'static str {
    match media {
        TopicMedia::Cobrowse => "conversation:cobrowse:view",
        TopicMedia::Screenshare => "conversation:screenshare:view",
        TopicMedia::Messages => "conversation:message:view",
    }
}

/// `GET /api/v2/notifications/availabletopics`: the topics the simulator
/// publishes. As upstream, an entity carries `id` (and `description`,
/// `requiresPermissions`, `permissionDetails`, `enforced`, `visibility`,
/// `transports`, `topicParameters` when `expand` names them).
pub(super) async fn available_topics(RawQuery(raw): RawQuery) -> Response {
    let expand: Vec<String> = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "expand")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let wants = |field: &str| expand.iter().any(|e| e == field);
    let topics = TopicMedia::ALL
        .into_iter()
        .map(|media| {
            let about = format!("The {} conversations of a queue.", media.name());
            (queue_topic_template(media), media, about)
        })
        .chain(std::iter::once((
            user_messages_topic("{id}"),
            TopicMedia::Messages,
            "The message conversations of a user.".to_owned(),
        )));
    let entities = topics
        .map(|(template, media, about)| {
            let permission = topic_permission(media).to_owned();
            AvailableTopic {
                id: Some(template),
                description: wants("description").then_some(about),
                requires_permissions: if wants("requiresPermissions") {
                    vec![permission.clone()]
                } else {
                    Vec::new()
                },
                permission_details: if wants("permissionDetails") {
                    vec![PermissionDetails {
                        kind: Some("requiresPermissions".into()),
                        permissions: vec![permission],
                        allows_current_user: Some(false),
                        enforced: Some(true),
                    }]
                } else {
                    Vec::new()
                },
                enforced: wants("enforced").then_some(true),
                visibility: wants("visibility").then(|| "Public".to_owned()),
                transports: if wants("transports") {
                    vec!["All".into()]
                } else {
                    Vec::new()
                },
                topic_parameters: if wants("topicParameters") {
                    vec!["id".into()]
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    Json(AvailableTopics { entities }).into_response()
}
