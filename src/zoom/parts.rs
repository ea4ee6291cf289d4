//! A session's state in parts that one event updates in constant time.
//!
//! [`fold`](super::fold::fold) defines a session's state as a function of
//! the *set* of its events. Storing an event must not re-read the events
//! before it, so the state is kept in three kinds of parts, each a small
//! value with a merge that is commutative and idempotent:
//!
//! - the [`Head`]: what is said of the session as a whole;
//! - one [`Person`] per user id: name and role;
//! - one [`Link`] per connection (user id and connection id): join and
//!   leave.
//!
//! "First wins" fields (a name, a start URL, a PIN) keep the [`Rank`] of the
//! event that set them, so that an event arriving late but earlier in the
//! canonical order still wins, exactly as in the fold. An event touches the
//! head, at most one person and at most one link; the store reads, merges
//! and writes just those. A property test checks that applying events one
//! by one, in any order, gives what the fold gives.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Details, EventKind, UserInfo, ZoomEvent, ZoomRole};

/// An event's place in the canonical order: time, kind, digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Rank(i64, EventKind, [u8; 32]);

impl Rank {
    /// The rank of `event`.
    pub(crate) fn of(event: &ZoomEvent) -> Self {
        Self(event.event_ts, event.kind, event.digest)
    }
}

/// A value set by the earliest event (in canonical order) that carried one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Earliest<T> {
    rank: Rank,
    value: T,
}

/// Offers `value` from an event of `rank`: kept when no earlier event set it.
fn offer<T: Clone>(slot: &mut Option<Earliest<T>>, rank: Rank, value: Option<&T>) -> bool {
    let Some(value) = value else { return false };
    if slot.as_ref().is_some_and(|held| held.rank <= rank) {
        return false;
    }
    *slot = Some(Earliest {
        rank,
        value: value.clone(),
    });
    true
}

fn earlier(held: &mut Option<DateTime<Utc>>, time: DateTime<Utc>) {
    *held = Some(held.map_or(time, |t| t.min(time)));
}

fn later(held: &mut Option<DateTime<Utc>>, time: DateTime<Utc>) {
    *held = Some(held.map_or(time, |t| t.max(time)));
}

/// The latest idle end the gateway made of a session: the activity it
/// saw, and the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Idle {
    pub quiet_since: i64,
    pub idle_after_s: u64,
}

fn never() -> i64 {
    i64::MIN
}

/// What the events say of the session as a whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Head {
    pub account_id: String,
    pub session_id: String,
    /// Zoom said it ended (`cobrowse.session_ended`); see [`Self::is_over`]
    /// for an idle end too.
    pub ended: bool,
    pub start_time: Option<DateTime<Utc>>,
    /// The end Zoom said.
    pub end_time: Option<DateTime<Utc>>,
    /// The earliest join of any connection (the start, when no event said).
    pub first_join: Option<DateTime<Utc>>,
    start_url: Option<Earliest<String>>,
    session_pin: Option<Earliest<String>>,
    end_reason: Option<Earliest<String>>,
    pub events: usize,
    pub last_event_ts: i64,
    /// The latest `event_ts` of Zoom's events (the gateway's idle ends
    /// aside).
    #[serde(default = "never")]
    pub last_activity_ts: i64,
    /// The latest idle end (the one that saw the latest activity).
    #[serde(default)]
    idle: Option<Idle>,
}

impl Head {
    /// The head of a session no event has been applied to.
    pub(crate) fn new(account_id: &str, session_id: &str) -> Self {
        Self {
            account_id: account_id.to_owned(),
            session_id: session_id.to_owned(),
            ended: false,
            start_time: None,
            end_time: None,
            first_join: None,
            start_url: None,
            session_pin: None,
            end_reason: None,
            events: 0,
            last_event_ts: i64::MIN,
            last_activity_ts: i64::MIN,
            idle: None,
        }
    }

    /// Applies one event that was not applied before.
    pub(crate) fn apply(&mut self, event: &ZoomEvent) {
        let rank = Rank::of(event);
        if self.last_activity_ts == i64::MIN && self.idle.is_none() {
            // A head stored before idle ends existed: all was activity.
            self.last_activity_ts = self.last_event_ts;
        }
        self.events += 1;
        self.last_event_ts = self.last_event_ts.max(event.event_ts);
        if let Details::IdleEnded {
            quiet_since,
            idle_after_s,
        } = event.details
        {
            if self.idle.is_none_or(|held| quiet_since > held.quiet_since) {
                self.idle = Some(Idle {
                    quiet_since,
                    idle_after_s,
                });
            }
            return;
        }
        self.last_activity_ts = self.last_activity_ts.max(event.event_ts);
        match &event.details {
            Details::Started {
                start_time,
                start_url,
                ..
            } => {
                earlier(&mut self.start_time, *start_time);
                offer(&mut self.start_url, rank, start_url.as_ref());
            }
            Details::Joined {
                join_time, user, ..
            } => {
                if user.user_id.is_some() {
                    earlier(&mut self.first_join, *join_time);
                }
            }
            Details::Left { .. } => {}
            Details::Ended {
                end_time,
                start_time,
                session_pin,
                end_reason,
                ..
            } => {
                self.ended = true;
                later(&mut self.end_time, *end_time);
                if let Some(start) = start_time {
                    earlier(&mut self.start_time, *start);
                }
                offer(&mut self.session_pin, rank, session_pin.as_ref());
                offer(&mut self.end_reason, rank, end_reason.as_ref());
            }
            Details::IdleEnded { .. } => unreachable!("applied above"),
        }
    }

    /// The idle end in force: one made, Zoom said no end, and no activity
    /// came after the one it saw.
    pub(crate) fn idle_end(&self) -> Option<Idle> {
        self.idle
            .filter(|idle| !self.ended && self.last_activity_ts <= idle.quiet_since)
    }

    /// Whether the session is over: Zoom said so, or it went idle.
    pub(crate) fn is_over(&self) -> bool {
        self.ended || self.idle_end().is_some()
    }

    /// When it ended: as Zoom said, or at its latest activity when it went
    /// idle.
    pub(crate) fn over_at(&self) -> Option<DateTime<Utc>> {
        if self.ended {
            return self.end_time;
        }
        self.idle_end()
            .and_then(|idle| DateTime::from_timestamp_millis(idle.quiet_since))
    }

    /// When the session started: its start time, or else its first join.
    pub(crate) fn start(&self) -> Option<DateTime<Utc>> {
        self.start_time.or(self.first_join)
    }

    pub(crate) fn start_url(&self) -> Option<&str> {
        self.start_url.as_ref().map(|e| e.value.as_str())
    }

    pub(crate) fn session_pin(&self) -> Option<&str> {
        self.session_pin.as_ref().map(|e| e.value.as_str())
    }

    pub(crate) fn end_reason(&self) -> Option<String> {
        if let Some(idle) = self.idle_end() {
            return Some(super::idle::reason(idle.idle_after_s));
        }
        self.end_reason.as_ref().map(|e| e.value.clone())
    }
}

/// What the events say of one user of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Person {
    pub user_id: String,
    name: Option<Earliest<String>>,
    role: Option<Earliest<ZoomRole>>,
}

impl Person {
    /// A user no event has been applied to.
    pub(crate) fn new(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            name: None,
            role: None,
        }
    }

    /// Applies what an event of `rank` says of this user; true when the
    /// name or the role changed.
    pub(crate) fn apply(&mut self, rank: Rank, user: &UserInfo) -> bool {
        let named = offer(&mut self.name, rank, user.user_name.as_ref());
        let cast = offer(&mut self.role, rank, user.role.as_ref());
        named || cast
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_ref().map(|e| e.value.as_str())
    }

    pub(crate) fn role(&self) -> Option<ZoomRole> {
        self.role.as_ref().map(|e| e.value)
    }

    /// The name this user counts under for the Engage agent limit: agents
    /// with a name only (Zoom's user ids hold within one session).
    pub(crate) fn agent_name(&self) -> Option<&str> {
        self.name().filter(|_| self.role() == Some(ZoomRole::Agent))
    }
}

/// The latest leave of a connection, and the event that said it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Leave {
    time: DateTime<Utc>,
    reason: String,
    rank: Rank,
}

/// What the events say of one connection of a user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Link {
    pub user_id: String,
    pub connection_id: String,
    pub join_time: Option<DateTime<Utc>>,
    leave: Option<Leave>,
}

impl Link {
    /// A connection no event has been applied to.
    pub(crate) fn new(user_id: &str, connection_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            connection_id: connection_id.to_owned(),
            join_time: None,
            leave: None,
        }
    }

    /// Applies a join or a leave of this connection.
    pub(crate) fn apply(&mut self, rank: Rank, details: &Details) {
        match details {
            Details::Joined { join_time, .. } => earlier(&mut self.join_time, *join_time),
            Details::Left {
                leave_time,
                leave_reason,
                ..
            } => {
                // The latest leave wins; of two at the same time, the one
                // earlier in the canonical order.
                let wins = self.leave.as_ref().is_none_or(|held| {
                    *leave_time > held.time || (*leave_time == held.time && rank < held.rank)
                });
                if wins {
                    self.leave = Some(Leave {
                        time: *leave_time,
                        reason: leave_reason.clone(),
                        rank,
                    });
                }
            }
            Details::Started { .. } | Details::Ended { .. } | Details::IdleEnded { .. } => {}
        }
    }

    pub(crate) fn leave_time(&self) -> Option<DateTime<Utc>> {
        self.leave.as_ref().map(|l| l.time)
    }

    pub(crate) fn leave_reason(&self) -> Option<&str> {
        self.leave.as_ref().map(|l| l.reason.as_str())
    }
}

/// The parts one event touches besides the head: the user it names (with
/// an id), and the connection it joins or leaves.
pub(crate) fn touched(event: &ZoomEvent) -> (Option<(&str, &UserInfo)>, Option<&str>) {
    let (user, connection) = match &event.details {
        Details::Started { user, .. } | Details::Ended { user, .. } => (user, None),
        Details::IdleEnded { .. } => return (None, None),
        Details::Joined {
            user,
            connection_id,
            ..
        }
        | Details::Left {
            user,
            connection_id,
            ..
        } => (user, Some(connection_id.as_str())),
    };
    match user.user_id.as_deref() {
        Some(id) => (Some((id, user)), connection),
        // Without a user id there is nobody to attach a connection to.
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::zoom::event::{parse, Inbound, UserInfo};
    use crate::zoom::fold::{fold, Connection, ZoomParticipant, ZoomSession};

    /// One event from a small vocabulary (three users, three connections,
    /// two names, a few instants), so that ties and "first wins" rules are
    /// met often.
    fn arbitrary_event() -> impl Strategy<Value = ZoomEvent> {
        (
            0..4usize,
            0..3i64,
            prop::option::of(0..3usize),
            prop::option::of(0..2usize),
            prop::option::of(any::<bool>()),
            0..3usize,
            0..4i64,
            prop::option::of(0..2usize),
        )
            .prop_map(|(kind, ts, user, name, agent, connection, minute, text)| {
                let at = format!("2026-11-22T09:0{minute}:00Z");
                let mut object = json!({ "session_id": "s" });
                if let Some(user) = user {
                    object["user_id"] = json!(format!("u{user}"));
                }
                if let Some(name) = name {
                    object["user_name"] = json!(["Ava", "Noah"][name]);
                }
                if let Some(agent) = agent {
                    object["role_type"] = json!(if agent { "agent" } else { "customer" });
                }
                let text = text.map(|t| ["one", "two"][t]);
                let event = match kind {
                    0 => {
                        object["start_time"] = json!(at);
                        object["start_url"] = json!(text);
                        "cobrowse.session_started"
                    }
                    1 | 2 => {
                        object["user_id"] = json!(format!("u{}", user.unwrap_or(0)));
                        object["user_connection_id"] = json!(format!("c{connection}"));
                        if kind == 1 {
                            object["join_time"] = json!(at);
                            "cobrowse.session_user_joined"
                        } else {
                            object["leave_time"] = json!(at);
                            object["leave_reason"] = json!(text);
                            "cobrowse.session_user_left"
                        }
                    }
                    _ => {
                        object["end_time"] = json!(at);
                        object["session_pin"] = json!(text);
                        object["end_reason"] = json!(text);
                        "cobrowse.session_ended"
                    }
                };
                let body = json!({ "event": event, "event_ts": ts, "payload": { "account_id": "a", "object": object } });
                match parse(body.to_string().as_bytes()).expect("a valid event") {
                    Inbound::Event(event) => *event,
                    Inbound::UrlValidation { .. } => unreachable!("events only"),
                }
            })
    }

    proptest! {
        /// Applying events one at a time, in any order and with
        /// re-deliveries, gives exactly what folding them in the canonical
        /// order gives (the rules as first written, kept below).
        #[test]
        fn one_event_at_a_time_in_any_order_is_the_canonical_fold(
            events in prop::collection::vec(arbitrary_event(), 1..24),
            order in any::<prop::sample::Index>(),
            again in any::<prop::sample::Index>(),
        ) {
            let mut arrived = events.clone();
            let rotate = order.index(arrived.len());
            arrived.rotate_left(rotate);
            arrived.reverse();
            arrived.push(events[again.index(events.len())].clone());
            let expected = in_canonical_order(&events);
            prop_assert_eq!(fold(&arrived), expected.clone());
            prop_assert_eq!(fold(&events), expected);
        }
    }

    /// The fold as it was first written: sort into the canonical order,
    /// then fold from the first event to the last.
    fn in_canonical_order(events: &[ZoomEvent]) -> Option<ZoomSession> {
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
            last_activity_ts: ordered.iter().map(|e| e.event_ts).max().unwrap_or_default(),
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
                    session.end_time =
                        Some(session.end_time.map_or(*end_time, |t| t.max(*end_time)));
                    if let Some(start) = start_time {
                        session.start_time =
                            Some(session.start_time.map_or(*start, |t| t.min(*start)));
                    }
                    session.session_pin =
                        session.session_pin.take().or_else(|| session_pin.clone());
                    session.end_reason = session.end_reason.take().or_else(|| end_reason.clone());
                    person(user);
                }
                // The vocabulary above has none (the fold's own tests do).
                Details::IdleEnded { .. } => unreachable!("no idle ends here"),
            }
        }
        for ((user_id, _), connection) in connections {
            if let Some(p) = people.get_mut(&user_id) {
                p.connections.push(connection);
            }
        }
        let mut participants: Vec<ZoomParticipant> = people.into_values().collect();
        for p in &mut participants {
            p.connections.sort_by(|a, b| {
                (a.join_time, &a.connection_id).cmp(&(b.join_time, &b.connection_id))
            });
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
}
