//! Genesys Engage co-browse reporting keys (docs/upstream.md, "Engage").
//!
//! Engage attaches co-browse reporting data to the primary interaction as
//! key/value pairs, updated as agents join and leave sessions. [`attached`]
//! replays an interaction's [`Step`]s in time order under those rules:
//!
//! - an agent joins a session: `CoBrowseAssociated = Yes`; a session not seen
//!   before adds one to `CoBrowseSessionsQuantity` and becomes
//!   `CoBrowseSessionId`; the first session's start is `CoBrowseStartTime`;
//!   `IsCoBrowseDenied` becomes `No` only if it is already present;
//! - an agent exits: `CoBrowseAssociated = No`, `CoBrowseDuration` is the sum
//!   of every session's duration (start to last exit), `CoBrowseEndTime` the
//!   last exit;
//! - a start is denied (the agent is already in `agentSessionsLimit`
//!   sessions): `IsCoBrowseDenied = Yes`, nothing else changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// One event that updates the attached data of an interaction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// An agent joined `session` (which started at `session_start`).
    Join {
        at: DateTime<Utc>,
        session: String,
        session_start: DateTime<Utc>,
    },
    /// An agent exited `session`.
    Exit { at: DateTime<Utc>, session: String },
    /// A session was not allowed to start for the agent.
    Denied { at: DateTime<Utc>, session: String },
}

impl Step {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Step::Join { at, .. } | Step::Exit { at, .. } | Step::Denied { at, .. } => *at,
        }
    }

    /// At one instant, exits come before denials and joins.
    fn rank(&self) -> u8 {
        match self {
            Step::Exit { .. } => 0,
            Step::Denied { .. } => 1,
            Step::Join { .. } => 2,
        }
    }
}

/// The reporting keys of one interaction; `None` is an absent key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AttachedData {
    pub associated: Option<bool>,
    pub sessions_quantity: Option<u32>,
    pub session_id: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    pub end_time: Option<DateTime<Utc>>,
    pub denied: Option<bool>,
}

fn yes_no(value: bool) -> String {
    if value { "Yes" } else { "No" }.to_owned()
}

impl AttachedData {
    /// The keys as Engage attaches them, with their exact names, in a fixed
    /// order; absent keys are left out.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(v) = self.associated {
            pairs.push(("CoBrowseAssociated", yes_no(v)));
        }
        if let Some(v) = self.sessions_quantity {
            pairs.push(("CoBrowseSessionsQuantity", v.to_string()));
        }
        if let Some(v) = &self.session_id {
            pairs.push(("CoBrowseSessionId", v.clone()));
        }
        if let Some(v) = self.start_time {
            pairs.push(("CoBrowseStartTime", v.timestamp_millis().to_string()));
        }
        if let Some(v) = self.duration_seconds {
            pairs.push(("CoBrowseDuration", v.to_string()));
        }
        if let Some(v) = self.end_time {
            pairs.push(("CoBrowseEndTime", v.timestamp_millis().to_string()));
        }
        if let Some(v) = self.denied {
            pairs.push(("IsCoBrowseDenied", yes_no(v)));
        }
        pairs
    }
}

/// Replays `steps` (in any order; they are sorted by time) into the keys.
pub(crate) fn attached(steps: &[Step]) -> AttachedData {
    let mut steps: Vec<&Step> = steps.iter().collect();
    steps.sort_by_key(|s| (s.at(), s.rank()));
    let mut data = AttachedData::default();
    let mut starts: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    let mut durations: BTreeMap<&str, i64> = BTreeMap::new();
    for step in steps {
        match step {
            Step::Join {
                session,
                session_start,
                ..
            } => {
                data.associated = Some(true);
                if !starts.contains_key(session.as_str()) {
                    starts.insert(session, *session_start);
                    data.sessions_quantity = Some(data.sessions_quantity.unwrap_or(0) + 1);
                    data.session_id = Some(session.clone());
                    data.start_time.get_or_insert(*session_start);
                }
                if data.denied.is_some() {
                    data.denied = Some(false);
                }
            }
            Step::Exit { at, session } => {
                data.associated = Some(false);
                if let Some(start) = starts.get(session.as_str()) {
                    durations.insert(session, (*at - *start).num_seconds().max(0));
                }
                data.duration_seconds = Some(durations.values().sum());
                data.end_time = Some(data.end_time.map_or(*at, |t| t.max(*at)));
            }
            Step::Denied { .. } => data.denied = Some(true),
        }
    }
    data
}

/// The steps of a PureCloud conversation: each viewer communication of an
/// agent joins at its connected time and exits at its disconnected time. A
/// join while the same agent already holds `limit` connected viewer
/// communications in this conversation is denied (0: no limit). The gateway
/// sees one conversation at a time here, so the limit is applied within it.
pub(crate) fn purecloud_steps(
    conversation: &crate::purecloud::ConversationModel,
    limit: usize,
) -> Vec<Step> {
    use crate::upstream::enums::CobrowseRole;
    let mut starts: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    let mut viewers = Vec::new();
    for participant in &conversation.participants {
        let agent = participant
            .user_id
            .as_deref()
            .or(participant.id.as_deref())
            .unwrap_or_default();
        for comm in &participant.cobrowsesessions {
            let Some(session) = comm.cobrowse_session_id.as_deref() else {
                continue;
            };
            if let Some(start) = comm.connected_time.or(comm.start_alerting_time) {
                let entry = starts.entry(session).or_insert(start);
                *entry = (*entry).min(start);
            }
            let viewer = comm
                .cobrowse_role
                .as_ref()
                .is_some_and(|r| r.get() == CobrowseRole::Viewer);
            if let (true, Some(joined)) = (viewer, comm.connected_time) {
                viewers.push((joined, comm.disconnected_time, session, agent));
            }
        }
    }
    viewers.sort_by_key(|(joined, ..)| *joined);
    let mut steps = Vec::new();
    // (joined, left, agent) of every admitted viewer so far.
    type Admitted<'a> = (DateTime<Utc>, Option<DateTime<Utc>>, &'a str);
    let mut admitted: Vec<Admitted<'_>> = Vec::new();
    for (joined, left, session, agent) in viewers {
        let busy = admitted
            .iter()
            .filter(|(j, l, a)| *a == agent && *j <= joined && l.is_none_or(|l| l > joined))
            .count();
        if limit > 0 && busy >= limit {
            steps.push(Step::Denied {
                at: joined,
                session: session.to_owned(),
            });
            continue;
        }
        admitted.push((joined, left, agent));
        let session_start = starts.get(session).copied().unwrap_or(joined);
        steps.push(Step::Join {
            at: joined,
            session: session.to_owned(),
            session_start,
        });
        if let Some(left) = left {
            steps.push(Step::Exit {
                at: left,
                session: session.to_owned(),
            });
        }
    }
    steps
}

/// The steps of a Zoom session (the interaction itself): each agent
/// connection joins and exits. A join while the same agent (by display name:
/// Zoom's user ids hold within one session only) is connected in `limit`
/// other sessions is denied (0: no limit); `load` says, per connection
/// (user id, connection id), in how many other sessions its agent was.
pub(crate) fn zoom_steps(
    session: &crate::zoom::fold::ZoomSession,
    limit: usize,
    load: &crate::store::AgentLoad,
) -> Vec<Step> {
    use crate::zoom::event::ZoomRole;
    let first_join = session
        .participants
        .iter()
        .filter_map(|p| p.first_join())
        .min();
    let Some(session_start) = session.start_time.or(first_join) else {
        return Vec::new();
    };
    let mut steps = Vec::new();
    for agent in session
        .participants
        .iter()
        .filter(|p| p.role == Some(ZoomRole::Agent))
    {
        for connection in &agent.connections {
            let Some(joined) = connection.join_time else {
                continue;
            };
            let busy = load
                .get(&(agent.user_id.clone(), connection.connection_id.clone()))
                .copied()
                .unwrap_or(0);
            if limit > 0 && busy >= limit {
                steps.push(Step::Denied {
                    at: joined,
                    session: session.session_id.clone(),
                });
                continue;
            }
            steps.push(Step::Join {
                at: joined,
                session: session.session_id.clone(),
                session_start,
            });
            // A connection still open when the session ended (Zoom said
            // so, or it went idle) exits with it.
            let over = session.end_time.filter(|_| session.ended);
            if let Some(left) = connection.leave_time.or(over) {
                steps.push(Step::Exit {
                    at: left,
                    session: session.session_id.clone(),
                });
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minute)
    }

    fn join(minute: i64, session: &str, start: i64) -> Step {
        Step::Join {
            at: t(minute),
            session: session.into(),
            session_start: t(start),
        }
    }

    fn exit(minute: i64, session: &str) -> Step {
        Step::Exit {
            at: t(minute),
            session: session.into(),
        }
    }

    #[test]
    fn nothing_happened_means_no_keys() {
        assert_eq!(attached(&[]).pairs(), vec![]);
    }

    #[test]
    fn the_agent_joins_the_first_session() {
        let data = attached(&[join(1, "s1", 0)]);
        assert_eq!(
            data.pairs(),
            vec![
                ("CoBrowseAssociated", "Yes".into()),
                ("CoBrowseSessionsQuantity", "1".into()),
                ("CoBrowseSessionId", "s1".into()),
                ("CoBrowseStartTime", t(0).timestamp_millis().to_string()),
            ]
        );
    }

    #[test]
    fn the_agent_exits() {
        let data = attached(&[join(1, "s1", 0), exit(5, "s1")]);
        assert_eq!(data.associated, Some(false));
        assert_eq!(data.duration_seconds, Some(300));
        assert_eq!(data.end_time, Some(t(5)));
        assert_eq!(data.sessions_quantity, Some(1));
    }

    #[test]
    fn several_sessions_in_one_interaction() {
        let data = attached(&[
            exit(12, "s2"),
            join(1, "s1", 0),
            join(10, "s2", 9),
            exit(5, "s1"),
        ]);
        assert_eq!(data.associated, Some(false));
        assert_eq!(data.sessions_quantity, Some(2));
        assert_eq!(data.session_id.as_deref(), Some("s2"), "the latest session");
        assert_eq!(data.start_time, Some(t(0)), "the first session's start");
        assert_eq!(data.duration_seconds, Some(300 + 180), "summed");
        assert_eq!(data.end_time, Some(t(12)), "the last session's end");
        let data = attached(&[join(1, "s1", 0), exit(5, "s1"), join(10, "s2", 9)]);
        assert_eq!(
            data.associated,
            Some(true),
            "Yes again with each new session"
        );
    }

    #[test]
    fn a_denied_start_attaches_yes_and_a_later_allowed_start_sets_no() {
        let denied = attached(&[Step::Denied {
            at: t(1),
            session: "s1".into(),
        }]);
        assert_eq!(denied.pairs(), vec![("IsCoBrowseDenied", "Yes".into())]);
        assert_eq!(
            denied.sessions_quantity, None,
            "a denied session is not counted"
        );
        let later = attached(&[
            Step::Denied {
                at: t(1),
                session: "s1".into(),
            },
            join(3, "s2", 2),
        ]);
        assert_eq!(later.denied, Some(false));
        let never = attached(&[join(3, "s2", 2)]);
        assert_eq!(never.denied, None, "absent stays absent");
    }
}
