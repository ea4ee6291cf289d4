//! Folding a session's events into its state.
//!
//! The state is a function of the *set* of events: every merge rule only
//! fills or combines fields (earliest start, latest end, latest leave), and
//! a "first" value (a name, a start URL) is the one of the earliest event in
//! one canonical order (event time, kind, digest). So the same events give
//! the same state whatever order they arrived in (a `user_left` before its
//! `user_joined`, an `ended` before a late `user_left`), and one event at a
//! time gives what all at once give ([`super::parts`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(test)]
use super::event::ZoomEvent;
use super::event::ZoomRole;
#[cfg(test)]
use super::parts::{touched, Rank};
use super::parts::{Head, Link, Person};

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
    /// The latest `event_ts` of Zoom's own events.
    #[serde(default = "never")]
    pub last_activity_ts: i64,
}

fn never() -> i64 {
    i64::MIN
}

impl ZoomSession {
    /// When the session started: its start time, or else its first join.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start_time.or_else(|| {
            self.participants
                .iter()
                .filter_map(|p| p.first_join())
                .min()
        })
    }
}

/// Folds the events of one session (in any order, re-deliveries included)
/// into its state: every distinct event applied to the session's parts.
/// The definition the store's incremental parts are tested against (the
/// store itself applies one event at a time).
#[cfg(test)]
pub(crate) fn fold(events: &[ZoomEvent]) -> Option<ZoomSession> {
    let first = events.first()?;
    let mut seen = std::collections::HashSet::new();
    let mut head = Head::new(&first.account_id, &first.session_id);
    let mut people: BTreeMap<String, Person> = BTreeMap::new();
    let mut links: BTreeMap<(String, String), Link> = BTreeMap::new();
    for event in events.iter().filter(|e| seen.insert(e.digest)) {
        head.apply(event);
        let rank = Rank::of(event);
        let (user, connection) = touched(event);
        if let Some((user_id, user)) = user {
            people
                .entry(user_id.to_owned())
                .or_insert_with(|| Person::new(user_id))
                .apply(rank, user);
            if let Some(connection_id) = connection {
                links
                    .entry((user_id.to_owned(), connection_id.to_owned()))
                    .or_insert_with(|| Link::new(user_id, connection_id))
                    .apply(rank, &event.details);
            }
        }
    }
    Some(assemble(
        &head,
        people.into_values().collect(),
        links.into_values().collect(),
    ))
}

/// The session its parts describe. People are ordered by first join (those
/// who never joined last), then id; each one's connections by join time,
/// then id.
pub(crate) fn assemble(head: &Head, people: Vec<Person>, links: Vec<Link>) -> ZoomSession {
    let mut participants: BTreeMap<String, ZoomParticipant> = people
        .into_iter()
        .map(|p| {
            let participant = ZoomParticipant {
                user_id: p.user_id.clone(),
                name: p.name().map(str::to_owned),
                role: p.role(),
                connections: Vec::new(),
            };
            (p.user_id, participant)
        })
        .collect();
    for link in links {
        if let Some(p) = participants.get_mut(&link.user_id) {
            p.connections.push(Connection {
                leave_time: link.leave_time(),
                leave_reason: link.leave_reason().map(str::to_owned),
                join_time: link.join_time,
                connection_id: link.connection_id,
            });
        }
    }
    let mut participants: Vec<ZoomParticipant> = participants.into_values().collect();
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
    ZoomSession {
        account_id: head.account_id.clone(),
        session_id: head.session_id.clone(),
        ended: head.is_over(),
        start_time: head.start_time,
        end_time: head.over_at(),
        start_url: head.start_url().map(str::to_owned),
        session_pin: head.session_pin().map(str::to_owned),
        end_reason: head.end_reason(),
        participants,
        events: head.events,
        last_event_ts: head.last_event_ts,
        last_activity_ts: head.last_activity_ts,
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

    /// A session's first three events, the gateway's idle end after the
    /// join, and a leave after it.
    fn idle_events() -> Vec<ZoomEvent> {
        let all = events("s1");
        let join = &all[2];
        let idle = crate::zoom::idle::idle_end("acc", "s1", join.event_ts, 60);
        vec![
            all[0].clone(),
            all[1].clone(),
            join.clone(),
            idle,
            all[3].clone(),
        ]
    }

    #[test]
    fn an_idle_end_ends_at_the_latest_activity_until_a_later_event() {
        let events = idle_events();
        let quiet = fold(&events[..4]).expect("a session");
        assert!(quiet.ended);
        assert_eq!(
            quiet.end_time,
            chrono::DateTime::from_timestamp_millis(events[2].event_ts)
        );
        assert!(quiet
            .end_reason
            .as_deref()
            .is_some_and(|r| r.contains("went idle")));
        // The leave came after the activity the idle end saw: active again.
        let woke = fold(&events).expect("a session");
        assert!(!woke.ended && woke.end_time.is_none() && woke.end_reason.is_none());
        // An older event delivered late changes nothing of the idle end.
        let late = fold(&[
            events[0].clone(),
            events[2].clone(),
            events[3].clone(),
            events[1].clone(),
        ])
        .expect("a session");
        assert_eq!(late.ended, quiet.ended);
        assert_eq!(late.end_time, quiet.end_time);
    }

    proptest! {
        #[test]
        fn an_idle_end_folds_the_same_in_every_arrival_order(
            order in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
            keep in proptest::collection::vec(any::<bool>(), 5),
        ) {
            let all = idle_events();
            let subset: Vec<ZoomEvent> = (0..5).filter(|i| keep[*i]).map(|i| all[i].clone()).collect();
            prop_assume!(!subset.is_empty());
            let shuffled: Vec<ZoomEvent> = order.iter().filter(|i| keep[**i]).map(|i| all[*i].clone()).collect();
            prop_assert_eq!(fold(&shuffled), fold(&subset));
        }

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
