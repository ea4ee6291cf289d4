//! Folding a session's events into its state.
//!
//! The state is a function of the *set* of events: they are put in one
//! canonical order (event time, kind, digest) before folding, and the merge
//! rules only fill or combine fields. So the same events give the same state
//! whatever order they arrived in (a `user_left` before its `user_joined`, an
//! `ended` before a late `user_left`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Details, UserInfo, ZoomEvent, ZoomRole};

/// One connection of a user to a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub join_time: Option<DateTime<Utc>>,
    pub leave_time: Option<DateTime<Utc>>,
    pub leave_reason: Option<String>,
}

/// A user of a session, with every connection it made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoomParticipant {
    pub user_id: String,
    pub name: Option<String>,
    pub role: Option<ZoomRole>,
    pub connections: Vec<Connection>,
}

impl ZoomParticipant {
    /// When the user first joined.
    pub fn first_join(&self) -> Option<DateTime<Utc>> {
        self.connections.iter().filter_map(|c| c.join_time).min()
    }
}

/// A Zoom Cobrowse session as its events describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoomSession {
    pub account_id: String,
    pub session_id: String,
    pub ended: bool,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub start_url: Option<String>,
    pub session_pin: Option<String>,
    pub end_reason: Option<String>,
    pub participants: Vec<ZoomParticipant>,
    pub events: usize,
    pub last_event_ts: i64,
}

/// Folds the events of one session (in any order) into its state.
pub fn fold(events: &[ZoomEvent]) -> Option<ZoomSession> {
    let first = events.first()?;
    let mut ordered: Vec<&ZoomEvent> = events.iter().collect();
    ordered.sort_by_key(|e| (e.event_ts, e.kind, e.digest));
    ordered.dedup_by(|a, b| a.digest == b.digest);

    let mut session = ZoomSession {
        account_id: first.account_id.clone(),
        session_id: first.session_id.clone(),
        ended: false,
        start_time: None,
        end_time: None,
        start_url: None,
        session_pin: None,
        end_reason: None,
        participants: Vec::new(),
        events: ordered.len(),
        last_event_ts: ordered.iter().map(|e| e.event_ts).max().unwrap_or_default(),
    };
    let mut people: BTreeMap<String, ZoomParticipant> = BTreeMap::new();
    let mut person = |user: &UserInfo| -> Option<String> {
        let id = user.user_id.clone()?;
        let entry = people.entry(id.clone()).or_insert_with(|| ZoomParticipant {
            user_id: id.clone(),
            name: None,
            role: None,
            connections: Vec::new(),
        });
        entry.name = entry.name.take().or_else(|| user.user_name.clone());
        entry.role = entry.role.or(user.role);
        Some(id)
    };
    let mut connections: BTreeMap<(String, String), Connection> = BTreeMap::new();
    for event in ordered {
        match &event.details {
            Details::Started {
                start_time,
                start_url,
                user,
            } => {
                session.start_time = Some(
                    session
                        .start_time
                        .map_or(*start_time, |t| t.min(*start_time)),
                );
                session.start_url = session.start_url.take().or_else(|| start_url.clone());
                person(user);
            }
            Details::Joined {
                connection_id,
                join_time,
                user,
            } => {
                if let Some(id) = person(user) {
                    let c = connections
                        .entry((id, connection_id.clone()))
                        .or_insert_with(|| empty(connection_id));
                    c.join_time = Some(c.join_time.map_or(*join_time, |t| t.min(*join_time)));
                }
            }
            Details::Left {
                connection_id,
                leave_time,
                leave_reason,
                user,
            } => {
                if let Some(id) = person(user) {
                    let c = connections
                        .entry((id, connection_id.clone()))
                        .or_insert_with(|| empty(connection_id));
                    if c.leave_time.is_none_or(|t| *leave_time > t) {
                        c.leave_time = Some(*leave_time);
                        c.leave_reason = Some(leave_reason.clone());
                    }
                }
            }
            Details::Ended {
                end_time,
                start_time,
                session_pin,
                end_reason,
                user,
            } => {
                session.ended = true;
                session.end_time = Some(session.end_time.map_or(*end_time, |t| t.max(*end_time)));
                if let Some(start) = start_time {
                    session.start_time = Some(session.start_time.map_or(*start, |t| t.min(*start)));
                }
                session.session_pin = session.session_pin.take().or_else(|| session_pin.clone());
                session.end_reason = session.end_reason.take().or_else(|| end_reason.clone());
                person(user);
            }
        }
    }
    for ((user_id, _), connection) in connections {
        if let Some(p) = people.get_mut(&user_id) {
            p.connections.push(connection);
        }
    }
    let mut participants: Vec<ZoomParticipant> = people.into_values().collect();
    for p in &mut participants {
        p.connections
            .sort_by(|a, b| (a.join_time, &a.connection_id).cmp(&(b.join_time, &b.connection_id)));
    }
    participants.sort_by(|a, b| {
        (a.first_join().is_none(), a.first_join(), &a.user_id).cmp(&(
            b.first_join().is_none(),
            b.first_join(),
            &b.user_id,
        ))
    });
    session.participants = participants;
    Some(session)
}

fn empty(connection_id: &str) -> Connection {
    Connection {
        connection_id: connection_id.to_owned(),
        join_time: None,
        leave_time: None,
        leave_reason: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::zoom::event::{parse, Inbound};
    use proptest::prelude::*;
    use serde_json::json;

    /// A realistic session: started, a customer and an agent join, the agent
    /// drops and rejoins, everyone leaves, the session ends.
    pub(crate) fn events(session: &str) -> Vec<ZoomEvent> {
        let object = |extra: serde_json::Value| {
            let mut o = json!({ "session_id": session });
            o.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            o
        };
        let bodies = [
            (
                "cobrowse.session_started",
                1,
                object(
                    json!({ "start_time": "2026-11-22T09:00:00Z", "start_url": "https://shop.example.com/checkout", "user_id": "u-c", "user_name": "Ava", "role_type": "customer" }),
                ),
            ),
            (
                "cobrowse.session_user_joined",
                2,
                object(
                    json!({ "user_connection_id": "c1", "user_id": "u-c", "user_name": "Ava", "role_type": "customer", "join_time": "2026-11-22T09:00:01Z" }),
                ),
            ),
            (
                "cobrowse.session_user_joined",
                3,
                object(
                    json!({ "user_connection_id": "c2", "user_id": "u-a", "user_name": "Noah", "role_type": "agent", "join_time": "2026-11-22T09:00:30Z" }),
                ),
            ),
            (
                "cobrowse.session_user_left",
                4,
                object(
                    json!({ "user_connection_id": "c2", "user_id": "u-a", "user_name": "Noah", "role_type": "agent", "leave_time": "2026-11-22T09:02:00Z", "leave_reason": "Network connection error" }),
                ),
            ),
            (
                "cobrowse.session_user_joined",
                5,
                object(
                    json!({ "user_connection_id": "c3", "user_id": "u-a", "user_name": "Noah", "role_type": "agent", "join_time": "2026-11-22T09:02:10Z" }),
                ),
            ),
            (
                "cobrowse.session_user_left",
                6,
                object(
                    json!({ "user_connection_id": "c3", "user_id": "u-a", "role_type": "agent", "leave_time": "2026-11-22T09:10:00Z" }),
                ),
            ),
            (
                "cobrowse.session_user_left",
                7,
                object(
                    json!({ "user_connection_id": "c1", "user_id": "u-c", "role_type": "customer", "leave_time": "2026-11-22T09:10:01Z", "leave_reason": "The session end" }),
                ),
            ),
            (
                "cobrowse.session_ended",
                8,
                object(
                    json!({ "end_time": "2026-11-22T09:10:01Z", "session_pin": "482913", "end_reason": "The session ended", "start_time": "2026-11-22T09:00:00Z" }),
                ),
            ),
        ];
        bodies
            .into_iter()
            .map(|(event, ts, object)| {
                let body = json!({ "event": event, "event_ts": 1_763_802_000_000_i64 + ts, "payload": { "account_id": "acc", "object": object } });
                match parse(body.to_string().as_bytes()).expect("valid") {
                    Inbound::Event(e) => *e,
                    Inbound::UrlValidation { .. } => unreachable!("events only"),
                }
            })
            .collect()
    }

    #[test]
    fn a_whole_session_folds_into_people_and_connections() {
        let session = fold(&events("s1")).expect("a session");
        assert!(session.ended);
        assert_eq!(session.session_pin.as_deref(), Some("482913"));
        assert_eq!(session.participants.len(), 2);
        let agent = session
            .participants
            .iter()
            .find(|p| p.role == Some(ZoomRole::Agent))
            .expect("agent");
        assert_eq!(agent.name.as_deref(), Some("Noah"));
        assert_eq!(agent.connections.len(), 2);
        assert_eq!(
            agent.connections[0].leave_reason.as_deref(),
            Some("Network connection error")
        );
        assert_eq!(
            agent.connections[1].leave_reason.as_deref(),
            Some("Left the session")
        );
    }

    proptest! {
        #[test]
        fn the_folded_state_is_the_same_for_every_arrival_order(
            order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
            keep in proptest::collection::vec(any::<bool>(), 8),
            duplicate in 0..8usize,
        ) {
            let all = events("s1");
            // Any subset, in any order, with one re-delivery, folds like the
            // same subset in the original order.
            let subset: Vec<ZoomEvent> = (0..8).filter(|i| keep[*i]).map(|i| all[i].clone()).collect();
            prop_assume!(!subset.is_empty());
            let mut shuffled: Vec<ZoomEvent> = order.iter().filter(|i| keep[**i]).map(|i| all[*i].clone()).collect();
            shuffled.push(subset[duplicate % subset.len()].clone());
            prop_assert_eq!(fold(&shuffled), fold(&subset));
        }
    }
}
