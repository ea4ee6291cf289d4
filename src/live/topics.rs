//! What the listener's notification topics require, as Genesys itself
//! publishes it (`GET /api/v2/notifications/availabletopics`; no SDK names
//! these permissions: docs/upstream.md, "Notifications"), and whether the
//! gateway's client has it (its subscriptions say: a rejected topic names
//! what it lacks). Logged when read and shown in `/readyz`.

use tracing::{info, warn};

#[cfg(test)]
use crate::upstream::notifications::queue_topic_template;
use crate::upstream::notifications::{
    queue_topic, template_of, templates, user_messages_topic, AvailableTopic, TopicAnswer,
    TopicMedia, MAX_CHANNELS_PER_CLIENT, MAX_TOPICS_PER_CHANNEL,
};
use crate::upstream::{Credential, PureCloud, UpstreamError};

/// The topics the listener subscribes to, and how many queues they are
/// of: every queue's co-browse, screen-share and message topics, then each
/// active user's message topic as far as the channels go (a conversation
/// transferred to an agent in person is on no queue topic). Why not, when
/// the queues cannot be listed.
pub(crate) async fn wanted(client: &PureCloud) -> Result<(Vec<String>, usize), String> {
    let queues = match client.all_queues(&Credential::Service).await {
        Ok(queues) => queues.value,
        Err(e) => {
            warn!(code = e.code(), error = %e, "cannot list the queues to listen to");
            return Err(format!("the queues cannot be listed: {}: {e}", e.code()));
        }
    };
    if queues.cut {
        warn!("more queues than the client pages through: only the first ones are listened to");
    }
    let mut ids: Vec<&str> = queues
        .items
        .iter()
        .filter_map(|q| q.id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut topics: Vec<String> = ids
        .iter()
        .flat_map(|id| TopicMedia::ALL.map(|m| queue_topic(id, m)))
        .collect();
    let room = (MAX_CHANNELS_PER_CLIENT * MAX_TOPICS_PER_CHANNEL).saturating_sub(topics.len());
    topics.extend(user_topics(client, room).await);
    Ok((topics, ids.len()))
}

/// The message topics of the organisation's active users, at most `room`.
async fn user_topics(client: &PureCloud, room: usize) -> Vec<String> {
    let users = match client.all_users(&Credential::Service).await {
        Ok(users) => users.value.items,
        Err(e) => {
            warn!(code = e.code(), error = %e, "cannot list the users whose message topics carry conversations transferred to them; only the queues' are heard");
            return Vec::new();
        }
    };
    let mut ids: Vec<&str> = users.iter().filter_map(|u| u.id.as_deref()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > room {
        warn!(users = ids.len(), room, "more users than the notification channels have room for: the message topics of the others are not heard");
        ids.truncate(room);
    }
    ids.into_iter().map(user_messages_topic).collect()
}

/// What one topic the listener subscribes to requires.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct TopicRequirement {
    /// The topic's template (`v2.routing.queues.{id}.conversations.cobrowseSessions`).
    pub topic: String,
    /// Whether Genesys lists the topic (false: it does not, or could not be asked).
    pub published: bool,
    /// The permissions subscribing takes, as Genesys lists them.
    pub requires: Vec<String>,
    /// Whether Genesys enforces them.
    pub enforced: Option<bool>,
    /// `Public` or `Preview`.
    pub visibility: Option<String>,
    /// Whether the client has what it takes: its subscriptions to the
    /// topic were permitted (true) or rejected (false); none yet: unknown.
    pub permitted: Option<bool>,
}

/// Reads what each of the listener's topics requires.
pub(crate) async fn read(client: &PureCloud) -> Result<Vec<TopicRequirement>, UpstreamError> {
    let published = client.available_topics(&Credential::Service).await?.value;
    let rules: Vec<TopicRequirement> = templates()
        .into_iter()
        .map(|template| {
            let found = published
                .entities
                .iter()
                .find(|t| t.id.as_deref() == Some(template.as_str()));
            requirement(template, found)
        })
        .collect();
    for rule in &rules {
        if rule.published {
            info!(
                topic = rule.topic,
                requires = ?rule.requires,
                enforced = rule.enforced,
                "what a notification topic requires (GET /api/v2/notifications/availabletopics)"
            );
        } else {
            warn!(
                topic = rule.topic,
                "Genesys does not list this notification topic in availabletopics"
            );
        }
    }
    Ok(rules)
}

fn requirement(template: String, found: Option<&AvailableTopic>) -> TopicRequirement {
    let mut requires: Vec<String> = found
        .map(|t| {
            t.requires_permissions
                .iter()
                .chain(t.permission_details.iter().flat_map(|d| &d.permissions))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    requires.sort();
    requires.dedup();
    TopicRequirement {
        topic: template,
        published: found.is_some(),
        requires,
        enforced: found.and_then(|t| t.enforced),
        visibility: found.and_then(|t| t.visibility.clone()),
        permitted: None,
    }
}

/// The requirements with what the subscriptions said: `rejected` topics
/// (of every socket) and whether any socket's subscriptions were answered.
pub(crate) fn standing<'a>(
    rules: &[TopicRequirement],
    rejected: impl Iterator<Item = &'a TopicAnswer> + Clone,
    answered: bool,
) -> Vec<TopicRequirement> {
    rules
        .iter()
        .map(|rule| {
            let refused = rejected.clone().any(|answer| {
                let name = answer.id.as_deref().unwrap_or_default();
                template_of(name).is_some_and(|t| t == rule.topic)
            });
            TopicRequirement {
                permitted: if refused {
                    Some(false)
                } else {
                    answered.then_some(true)
                },
                ..rule.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::notifications::PermissionDetails;

    #[test]
    fn a_topic_requires_what_its_permissions_and_details_name_and_a_rejection_says_it_lacks_it() {
        let template = queue_topic_template(TopicMedia::Cobrowse);
        let listed = AvailableTopic {
            id: Some(template.clone()),
            requires_permissions: vec!["b:view".into()],
            permission_details: vec![PermissionDetails {
                kind: Some("requiresPermissions".into()),
                permissions: vec!["a:view".into(), "b:view".into()],
                ..PermissionDetails::default()
            }],
            enforced: Some(true),
            ..AvailableTopic::default()
        };
        let rules = vec![
            requirement(template, Some(&listed)),
            requirement(queue_topic_template(TopicMedia::Screenshare), None),
        ];
        assert_eq!(rules[0].requires, ["a:view", "b:view"]);
        assert!(!rules[1].published);
        let rejected = [TopicAnswer {
            id: Some("v2.routing.queues.q1.conversations.cobrowseSessions".into()),
            state: Some("Rejected".into()),
            ..TopicAnswer::default()
        }];
        let now = standing(&rules, rejected.iter(), true);
        assert_eq!(now[0].permitted, Some(false));
        assert_eq!(now[1].permitted, Some(true));
        assert_eq!(standing(&rules, [].iter(), false)[1].permitted, None);
    }
}
