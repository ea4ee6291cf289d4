//! The conversations with a Co-browse for Messenger session going on
//! (`ACTIVE`), kept in memory from every change the gateway stores or its
//! replicas tell, so that the active conversations are listed without a
//! store read per request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

use chrono::{DateTime, Utc};

use super::{MessengerSession, Phase};

/// The most sessions held (beyond, new ones are not listed, and a warning
/// says so).
const MAX_SESSIONS: usize = 50_000;

/// Conversation → its sessions going on.
#[derive(Default)]
pub struct Active {
    inner: RwLock<BTreeMap<String, BTreeSet<String>>>,
}

impl Active {
    /// Takes a session as it is now: whether the set of conversations
    /// changed.
    pub fn note(&self, session: &MessengerSession, now: DateTime<Utc>) -> bool {
        let going = session.phase(now) == Phase::Active;
        self.set(&session.conversation_id, &session.id, going)
    }

    /// Takes a change another replica told: whether the set of
    /// conversations changed.
    pub fn note_change(&self, change: &super::Change) -> bool {
        self.set(&change.conversation_id, &change.session_id, change.active)
    }

    /// Holds session `session_id` of `conversation_id` as going on or not
    /// (at most [`MAX_SESSIONS`]): whether the set of conversations changed.
    fn set(&self, conversation_id: &str, session_id: &str, going: bool) -> bool {
        let mut inner = self.inner.write().expect("active lock");
        let was = inner.contains_key(conversation_id);
        if going {
            let held: usize = inner.values().map(BTreeSet::len).sum();
            if held >= MAX_SESSIONS {
                tracing::warn!(
                    held,
                    "too many Co-browse for Messenger sessions going on to list them all"
                );
                return false;
            }
            inner
                .entry(conversation_id.to_owned())
                .or_default()
                .insert(session_id.to_owned());
        } else if let Some(sessions) = inner.get_mut(conversation_id) {
            sessions.remove(session_id);
            if sessions.is_empty() {
                inner.remove(conversation_id);
            }
        }
        was != inner.contains_key(conversation_id)
    }

    /// The conversations with a session going on, in id order.
    pub fn conversations(&self) -> Vec<String> {
        self.inner
            .read()
            .expect("active lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Whether no session goes on.
    pub fn is_empty(&self) -> bool {
        self.inner.read().expect("active lock").is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Fact, Outcome, What};
    use super::*;

    #[test]
    fn a_conversation_is_listed_while_one_of_its_sessions_goes_on() {
        let active = Active::default();
        let now = Utc::now();
        let fact = |key: &str, session: &str, what: What| Fact {
            key: key.into(),
            session_id: session.into(),
            conversation_id: "c".into(),
            at: now,
            what,
        };
        let accepted = What::Answered {
            outcome: Outcome::Accepted,
        };
        let mut one = MessengerSession::new("s1", "c");
        let _ = one.apply(&fact("m1", "s1", accepted.clone()));
        let mut two = MessengerSession::new("s2", "c");
        let _ = two.apply(&fact("m2", "s2", accepted));
        assert!(active.note(&one, now));
        assert!(
            !active.note(&two, now),
            "the conversation was listed already"
        );
        let ended = What::Ended {
            source: super::super::FactSource::Page,
        };
        let _ = one.apply(&fact("p1", "s1", ended.clone()));
        assert!(!active.note(&one, now), "s2 still goes on");
        let _ = two.apply(&fact("p2", "s2", ended));
        assert!(active.note(&two, now));
        assert!(active.is_empty());
    }
}
