//! The organisation's active set, kept by events and reconciled by
//! back-fills.
//!
//! An entry is a conversation that is listed by the one rule of
//! [`crate::purecloud::going_on`] (one of its co-browse or screen-share
//! communications goes on), as the latest word on it says: an event's body
//! (the co-browse view, or a screen-share body) or, after a back-fill, its
//! analytics record. A conversation whose last live communication ended
//! leaves, whatever its participants' state (a conversation in wrap-up is
//! not listed), and is remembered for a while ([`ENDED_KEPT`]) with its
//! sessions' marks, so that a later event tells only what changed and a
//! lagging analytics answer cannot bring it back. Once every participant is
//! `terminated` the conversation is over for good: later events about it
//! are ignored.
//!
//! A back-fill (the analytics details query of conversations not ended)
//! started at `t` reflects upstream as of `t - lag`: it replaces what was
//! last heard before that, and leaves alone what events said since.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::marks::{self, LiveUpdate, Mark};
use crate::cache::PushLease;
use crate::purecloud::{ActiveListing, Listed};
use crate::upstream::analytics::AnalyticsConversation;
use crate::upstream::events::ScreenShareEvent;
use crate::upstream::model::CobrowseConversation;

/// How long a conversation an event said was over is remembered.
const ENDED_KEPT: Duration = Duration::from_secs(600);

/// The most ended conversations remembered.
const ENDED_MAX: usize = 10_000;

/// The most conversations the index holds (beyond, a back-fill's extra
/// records are left out and the index says it is incomplete).
pub(crate) const MAX_ENTRIES: usize = 50_000;

struct IndexEntry {
    listed: Listed,
    /// When it was last heard of (an event, or the back-fill's start).
    heard: Instant,
    cobrowse: Vec<Mark>,
    screenshare: Vec<Mark>,
}

/// Whether marks say a conversation is listed: one of its sessions goes on.
fn goes_on(cobrowse: &[Mark], screenshare: &[Mark]) -> bool {
    cobrowse.iter().chain(screenshare).any(|m| m.active)
}

/// A conversation that left the active set, remembered for a while.
struct Left {
    at: Instant,
    /// Every participant was `terminated`: nothing after it counts.
    over: bool,
    cobrowse: Vec<Mark>,
    screenshare: Vec<Mark>,
}

/// How the index may be served now.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Serving {
    /// Not at all: it is being built or recovered (reads go to upstream).
    No,
    /// Kept by events, for as long as the lease lasts.
    Pushed,
    /// Polled: fresh until then.
    PolledUntil(Instant),
}

#[derive(Default)]
struct IndexState {
    entries: HashMap<Arc<str>, IndexEntry>,
    ended: HashMap<Arc<str>, Left>,
    snapshot: Option<Arc<ActiveListing>>,
}

impl IndexState {
    /// The marks last known of `id`: its entry's, or those it left with.
    fn marks(&self, id: &str) -> (Vec<Mark>, Vec<Mark>) {
        match (self.entries.get(id), self.ended.get(id)) {
            (Some(e), _) => (e.cobrowse.clone(), e.screenshare.clone()),
            (None, Some(left)) => (left.cobrowse.clone(), left.screenshare.clone()),
            (None, None) => (Vec::new(), Vec::new()),
        }
    }

    /// Puts `id` in the set with `entry`, or, when its marks say it is not
    /// listed, takes it out (remembering it): whether it was a member, and
    /// whether it is.
    fn settle(&mut self, id: &Arc<str>, entry: IndexEntry, over: bool) -> (bool, bool) {
        let was = self.entries.contains_key(id);
        let member = !over && goes_on(&entry.cobrowse, &entry.screenshare);
        if member {
            self.ended.remove(id);
            self.entries.insert(Arc::clone(id), entry);
        } else {
            self.entries.remove(id);
            // What had sessions (or was listed, or is over) is remembered
            // with its marks; a conversation with neither co-browse nor
            // screen share yet needs no memory.
            let known = !entry.cobrowse.is_empty() || !entry.screenshare.is_empty();
            if was || over || known || self.ended.contains_key(id) {
                remember_ended(self, id, entry, over);
            }
        }
        self.snapshot = None;
        (was, member)
    }
}

/// What applying a change did.
#[derive(Default, Debug)]
pub(crate) struct Applied {
    /// Conversations whose data changed.
    pub changed: Vec<Arc<str>>,
    /// Whether the active set itself changed (a conversation came or went).
    pub membership: bool,
    pub updates: Vec<LiveUpdate>,
    /// Conversations whose membership or sessions a back-fill set right
    /// (what events had not said).
    pub corrections: usize,
}

/// The live index.
pub(crate) struct Index {
    inner: RwLock<IndexState>,
    serving: RwLock<Serving>,
    lease: Arc<PushLease>,
}

impl Index {
    /// An empty index whose coverage `lease` tells the cache.
    pub(crate) fn new(lease: Arc<PushLease>) -> Self {
        Self {
            inner: RwLock::default(),
            serving: RwLock::new(Serving::No),
            lease,
        }
    }

    /// The lease its events keep.
    pub(crate) fn lease(&self) -> &Arc<PushLease> {
        &self.lease
    }

    /// Says how the index may be served from now on.
    pub(crate) fn serve(&self, serving: Serving) {
        *self.serving.write().expect("serving lock") = serving;
    }

    /// How it is served now.
    pub(crate) fn serving(&self) -> Serving {
        *self.serving.read().expect("serving lock")
    }

    /// How many conversations it holds.
    pub(crate) fn len(&self) -> usize {
        self.inner.read().expect("index lock").entries.len()
    }

    /// The ids of the conversations it lists.
    pub(crate) fn ids(&self) -> Vec<Arc<str>> {
        let inner = self.inner.read().expect("index lock");
        inner.entries.keys().cloned().collect()
    }

    /// The active set, when the index may answer for it: noted in the
    /// request's freshness (kept by events: as long as the lease lasts;
    /// polled: until the next poll).
    pub(crate) fn listing(&self) -> Option<Arc<ActiveListing>> {
        match self.serving() {
            Serving::No => return None,
            Serving::Pushed => crate::freshness::note_pushed(self.lease.remaining()?),
            Serving::PolledUntil(until) => {
                let left = until.checked_duration_since(crate::freshness::now())?;
                crate::freshness::note(left);
            }
        }
        if let Some(tag) = crate::cache::Kind::ActiveListing.tag("") {
            crate::freshness::note_read(tag);
        }
        if let Some(snapshot) = &self.inner.read().expect("index lock").snapshot {
            return Some(Arc::clone(snapshot));
        }
        let mut inner = self.inner.write().expect("index lock");
        let listing = Arc::new(ActiveListing {
            entries: inner.entries.values().map(|e| e.listed.clone()).collect(),
            cut: false,
        });
        inner.snapshot = Some(Arc::clone(&listing));
        Some(listing)
    }

    /// Applies a co-browse event's body, heard at `heard`.
    pub(crate) fn apply_view(&self, view: Arc<CobrowseConversation>, heard: Instant) -> Applied {
        let Some(id) = view.id.as_deref().map(Arc::<str>::from) else {
            return Applied::default();
        };
        let over = !view.participants.is_empty()
            && view
                .participants
                .iter()
                .all(|p| p.state.as_ref().is_some_and(|s| s.raw() == "terminated"));
        let cobrowse = marks::of_view(&view);
        let mut inner = self.inner.write().expect("index lock");
        if inner.ended.get(&id).is_some_and(|left| left.over) {
            // Heard after its end (redelivered, or out of order).
            return Applied::default();
        }
        if let Some(IndexEntry {
            listed: Listed::View(old),
            ..
        }) = inner.entries.get(&id)
        {
            if **old == *view {
                return Applied::default();
            }
        }
        let (before_c, screenshare) = inner.marks(&id);
        let mut updates = marks::diff(&id, &before_c, &cobrowse);
        if over {
            // Whatever still went on ended with the conversation.
            updates.extend(marks::diff(&id, &screenshare, &[]));
        }
        let entry = IndexEntry {
            listed: Listed::View(view),
            heard,
            cobrowse,
            screenshare,
        };
        let (was, member) = inner.settle(&id, entry, over);
        drop(inner);
        if was != member || over {
            self.recover_coverage();
        }
        Applied {
            changed: vec![id],
            membership: was != member,
            updates,
            corrections: 0,
        }
    }

    /// Applies a screen-share event's body: its sessions' marks, and the
    /// conversation's membership by them (a conversation with a screen
    /// share going on is listed, with or without co-browse; known by its
    /// co-browse view when one was heard, else by this body's participants).
    pub(crate) fn apply_screenshare(&self, body: &ScreenShareEvent, heard: Instant) -> Applied {
        let Some(id) = body.id.as_deref().map(Arc::<str>::from) else {
            return Applied::default();
        };
        let after = marks::of_screenshare(body);
        let mut inner = self.inner.write().expect("index lock");
        if inner.ended.get(&id).is_some_and(|left| left.over) {
            return Applied::default();
        }
        let (cobrowse, before_s) = inner.marks(&id);
        let updates = marks::diff(&id, &before_s, &after);
        let listed = match inner.entries.get(&id) {
            Some(entry) => entry.listed.clone(),
            None if goes_on(&[], &after) => Listed::View(Arc::new(body.view())),
            None => {
                // Not listed, and still not: only its marks are kept.
                if let Some(left) = inner.ended.get_mut(&id) {
                    left.screenshare = after;
                }
                return Applied {
                    changed: vec![id],
                    updates,
                    ..Applied::default()
                };
            }
        };
        let entry = IndexEntry {
            listed,
            heard,
            cobrowse,
            screenshare: after,
        };
        let (was, member) = inner.settle(&id, entry, false);
        drop(inner);
        if was != member {
            self.recover_coverage();
        }
        Applied {
            changed: vec![id],
            membership: was != member,
            updates,
            corrections: 0,
        }
    }

    /// Reconciles the index with a back-fill started at `started`, whose
    /// records (the conversations analytics does not call ended) reflect
    /// upstream as of `started - lag`: what was heard before that is
    /// replaced by the records that are listed by the rule, or removed when
    /// none is; what events said since stays, and conversations an event
    /// said were over (or left after `started - lag`) stay out.
    pub(crate) fn reconcile(
        &self,
        records: Vec<Arc<AnalyticsConversation>>,
        started: Instant,
        lag: Duration,
    ) -> Applied {
        let cutoff = started.checked_sub(lag).unwrap_or(started);
        let mut inner = self.inner.write().expect("index lock");
        let now = Instant::now();
        inner
            .ended
            .retain(|_, left| now.saturating_duration_since(left.at) < ENDED_KEPT);
        let mut applied = Applied::default();
        let mut listed: HashSet<Arc<str>> = HashSet::with_capacity(records.len());
        for record in records.into_iter().take(MAX_ENTRIES) {
            let Some(id) = record.conversation_id.as_deref().map(Arc::<str>::from) else {
                continue;
            };
            let (mut cobrowse, mut screenshare) = record_marks(&id, &record);
            if !goes_on(&cobrowse, &screenshare) {
                // In wrap-up, or its sessions over: not listed.
                continue;
            }
            listed.insert(Arc::clone(&id));
            if inner
                .ended
                .get(&id)
                .is_some_and(|left| left.over || left.at >= cutoff)
            {
                continue;
            }
            if let Some(entry) = inner.entries.get_mut(&id) {
                if entry.heard >= cutoff {
                    continue;
                }
                if matches!(&entry.listed, Listed::Record(old) if **old == *record) {
                    // The same record again (polling): nothing changed.
                    entry.heard = started;
                    continue;
                }
            }
            let (old_c, old_s) = inner.marks(&id);
            marks::align(&old_c, &mut cobrowse);
            marks::align(&old_s, &mut screenshare);
            let was = inner.entries.contains_key(&id);
            let mut updates = marks::diff(&id, &old_c, &cobrowse);
            updates.extend(marks::diff(&id, &old_s, &screenshare));
            if let Some(entry) = inner.entries.get_mut(&id) {
                if updates.is_empty() && matches!(entry.listed, Listed::View(_)) {
                    // Events keep it, and the record agrees: the event's
                    // shape (and its session ids) stays.
                    entry.heard = started;
                    continue;
                }
            }
            // A session that started or ended unheard, or a conversation
            // missing (an analytics record never says who controls: a
            // change of that alone is not one).
            if !was || updates.iter().any(|u| u.kind != marks::UpdateKind::Changed) {
                applied.corrections += 1;
            }
            applied.updates.extend(updates);
            applied.membership |= !was;
            applied.changed.push(Arc::clone(&id));
            let entry = IndexEntry {
                listed: Listed::Record(record),
                heard: started,
                cobrowse,
                screenshare,
            };
            inner.settle(&id, entry, false);
        }
        remove_unlisted(&mut inner, &listed, cutoff, &mut applied);
        inner.snapshot = None;
        drop(inner);
        self.recover_coverage();
        applied
    }

    /// What it holds now of each of `ids` (none: not active), for the
    /// copies of the other replicas.
    pub(crate) fn listed(&self, ids: &[Arc<str>]) -> Vec<(Arc<str>, Option<Listed>)> {
        let inner = self.inner.read().expect("index lock");
        ids.iter()
            .map(|id| {
                (
                    Arc::clone(id),
                    inner.entries.get(id).map(|e| e.listed.clone()),
                )
            })
            .collect()
    }

    /// Takes what the listening replica's index holds of some
    /// conversations (none: no longer active), heard at `heard`: this
    /// replica's index is a copy of it between back-fills of its own.
    pub(crate) fn copy(&self, listed: &[(Arc<str>, Option<Listed>)], heard: Instant) {
        let mut inner = self.inner.write().expect("index lock");
        for (id, now) in listed {
            let Some(now) = now else {
                if let Some(entry) = inner.entries.remove(id) {
                    remember_ended(&mut inner, id, entry, false);
                }
                continue;
            };
            let (cobrowse, screenshare) = match now {
                Listed::View(view) => {
                    let kept = inner.entries.get(id).map(|e| e.screenshare.clone());
                    (marks::of_view(view), kept.unwrap_or_default())
                }
                Listed::Record(record) => record_marks(id, record),
            };
            if inner.entries.len() >= MAX_ENTRIES && !inner.entries.contains_key(id) {
                continue;
            }
            inner.ended.remove(id);
            inner.entries.insert(
                Arc::clone(id),
                IndexEntry {
                    listed: now.clone(),
                    heard,
                    cobrowse,
                    screenshare,
                },
            );
        }
        inner.snapshot = None;
        drop(inner);
        self.recover_coverage();
    }

    /// Whether it may be served now.
    pub(crate) fn servable(&self) -> bool {
        match self.serving() {
            Serving::No => false,
            Serving::Pushed => self.lease.remaining().is_some(),
            Serving::PolledUntil(until) => until > Instant::now(),
        }
    }

    /// Tells the cache which conversations events cover: the active set
    /// and those recently over.
    fn recover_coverage(&self) {
        let inner = self.inner.read().expect("index lock");
        let covered = inner
            .entries
            .keys()
            .chain(inner.ended.keys())
            .cloned()
            .collect();
        drop(inner);
        self.lease.cover(covered);
    }
}

/// The co-browse and screen-share marks of a conversation as its
/// analytics record has it.
fn record_marks(id: &str, record: &Arc<AnalyticsConversation>) -> (Vec<Mark>, Vec<Mark>) {
    let model = crate::purecloud::ConversationModel::build(
        id,
        crate::purecloud::Inputs {
            record: Some(Arc::clone(record)),
            ..Default::default()
        },
    );
    marks::of_model(&model)
        .into_iter()
        .partition(|m| m.media == crate::purecloud::Media::Cobrowse)
}

/// Removes what a back-fill no longer lists and was last heard of before
/// its view of upstream: it ended while nothing was heard.
fn remove_unlisted(
    inner: &mut IndexState,
    listed: &HashSet<Arc<str>>,
    cutoff: Instant,
    applied: &mut Applied,
) {
    let gone: Vec<Arc<str>> = inner
        .entries
        .iter()
        .filter(|(id, e)| !listed.contains(*id) && e.heard < cutoff)
        .map(|(id, _)| Arc::clone(id))
        .collect();
    for id in gone {
        if let Some(mut entry) = inner.entries.remove(&id) {
            applied
                .updates
                .extend(marks::diff(&id, &entry.cobrowse, &[]));
            applied
                .updates
                .extend(marks::diff(&id, &entry.screenshare, &[]));
            applied.membership = true;
            applied.corrections += 1;
            applied.changed.push(Arc::clone(&id));
            // It left before the back-fill's view of upstream.
            entry.heard = cutoff;
            for mark in entry.cobrowse.iter_mut().chain(&mut entry.screenshare) {
                mark.active = false;
            }
            remember_ended(inner, &id, entry, false);
        }
    }
}

/// Remembers that `id` left the set (with the marks it left with), for
/// [`ENDED_KEPT`]; `over` when every participant was `terminated`.
fn remember_ended(inner: &mut IndexState, id: &Arc<str>, entry: IndexEntry, over: bool) {
    if inner.ended.len() >= ENDED_MAX && !inner.ended.contains_key(id) {
        if let Some(oldest) = inner
            .ended
            .iter()
            .min_by_key(|(_, left)| left.at)
            .map(|(id, _)| Arc::clone(id))
        {
            inner.ended.remove(&oldest);
        }
    }
    let over = over || inner.ended.get(id).is_some_and(|left| left.over);
    inner.ended.insert(
        Arc::clone(id),
        Left {
            at: entry.heard,
            over,
            cobrowse: entry.cobrowse,
            screenshare: entry.screenshare,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Scope;
    use crate::upstream::model::CobrowseMediaParticipant;
    use crate::upstream::wire::Wire;

    fn index() -> Index {
        Index::new(Arc::new(PushLease::new(Scope::of(&["test"]))))
    }

    fn view(id: &str, state: &str) -> Arc<CobrowseConversation> {
        Arc::new(CobrowseConversation {
            id: Some(id.into()),
            participants: ["a", "b"]
                .iter()
                .map(|p| CobrowseMediaParticipant {
                    id: Some((*p).into()),
                    state: Some(Wire::new(state)),
                    cobrowse_session_id: Some(format!("s-{id}")),
                    ..CobrowseMediaParticipant::default()
                })
                .collect(),
            ..CobrowseConversation::default()
        })
    }

    /// A record of a conversation with a co-browse session going on.
    fn record(id: &str) -> Arc<AnalyticsConversation> {
        record_ended(id, None)
    }

    /// A record whose co-browse session's segment ended at `ended` (none:
    /// it goes on), the conversation itself not ended (wrap-up pending).
    fn record_ended(id: &str, ended: Option<&str>) -> Arc<AnalyticsConversation> {
        use crate::upstream::analytics::{
            AnalyticsParticipant, AnalyticsSegment, AnalyticsSession,
        };
        Arc::new(AnalyticsConversation {
            conversation_id: Some(id.into()),
            participants: vec![AnalyticsParticipant {
                participant_id: Some("p".into()),
                sessions: vec![AnalyticsSession {
                    session_id: Some(format!("comm-{id}")),
                    media_type: Some("cobrowse".into()),
                    cobrowse_room_id: Some(format!("s-{id}")),
                    segments: vec![AnalyticsSegment {
                        segment_start: Some("2026-03-01T10:00:00Z".parse().unwrap()),
                        segment_end: ended.map(|e| e.parse().unwrap()),
                        segment_type: Some("interact".into()),
                        ..AnalyticsSegment::default()
                    }],
                    ..AnalyticsSession::default()
                }],
                ..AnalyticsParticipant::default()
            }],
            ..AnalyticsConversation::default()
        })
    }

    /// A view whose co-browse participants are in `state` with their end
    /// set (wrap-up pending once they are disconnected).
    fn view_ended(id: &str, state: &str) -> Arc<CobrowseConversation> {
        let mut view = (*view(id, state)).clone();
        for p in &mut view.participants {
            p.end_time = Some("2026-03-01T10:05:00Z".parse().unwrap());
        }
        Arc::new(view)
    }

    #[test]
    fn a_conversation_whose_communications_ended_leaves_whatever_its_participants_do_next() {
        let index = index();
        let at = Instant::now();
        index.apply_view(view("c1", "connected"), at);
        // Disconnected, wrap-up pending: not `terminated`, and out.
        let left = index.apply_view(view_ended("c1", "disconnected"), at);
        assert!(left.membership, "{left:?}");
        assert_eq!(
            left.updates.len(),
            1,
            "the session ended: {:?}",
            left.updates
        );
        assert_eq!(ids(&index), Vec::<String>::new());
        // Analytics still calls it not ended; its sessions' segments say
        // otherwise: a back-fill does not bring it back.
        let later = at + Duration::from_millis(10);
        let applied = index.reconcile(
            vec![record_ended("c1", Some("2026-03-01T10:05:00Z"))],
            later,
            Duration::ZERO,
        );
        assert_eq!(ids(&index), Vec::<String>::new(), "{applied:?}");
        // A second session in the same conversation brings it back, and
        // only the new session is told.
        let mut again = (*view("c1", "connected")).clone();
        for p in &mut again.participants {
            p.cobrowse_session_id = Some("s-second".into());
        }
        let back = index.apply_view(Arc::new(again), later);
        assert!(back.membership);
        assert_eq!(back.updates.len(), 1, "{:?}", back.updates);
        assert_eq!(&*back.updates[0].session_id, "s-second");
        assert_eq!(ids(&index), ["c1"]);
    }

    #[test]
    fn a_back_fill_removes_what_events_kept_in_wrap_up_and_counts_it() {
        let index = index();
        let at = Instant::now();
        index.apply_view(view("wrapping", "connected"), at);
        index.apply_view(view("live", "connected"), at);
        let applied = index.reconcile(
            vec![
                record_ended("wrapping", Some("2026-03-01T10:05:00Z")),
                record("live"),
            ],
            at + Duration::from_millis(10),
            Duration::ZERO,
        );
        assert_eq!(ids(&index), ["live"]);
        assert_eq!(applied.corrections, 1, "{applied:?}");
    }

    fn ids(index: &Index) -> Vec<String> {
        index.serve(Serving::PolledUntil(
            Instant::now() + Duration::from_secs(60),
        ));
        let mut ids: Vec<String> = index
            .listing()
            .expect("served")
            .entries
            .iter()
            .map(|l| match l {
                Listed::View(v) => v.id.clone().unwrap_or_default(),
                Listed::Record(r) => r.conversation_id.clone().unwrap_or_default(),
            })
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn events_add_change_and_end_conversations_and_say_what_changed() {
        let index = index();
        let at = Instant::now();
        let started = index.apply_view(view("c1", "connected"), at);
        assert!(started.membership);
        assert_eq!(started.updates.len(), 1, "a session started");
        let again = index.apply_view(view("c1", "connected"), at);
        assert!(
            again.changed.is_empty(),
            "a redelivered event changes nothing"
        );
        let over = index.apply_view(view("c1", "terminated"), at);
        assert!(over.membership);
        assert_eq!(ids(&index), Vec::<String>::new());
        let late = index.apply_view(view("c1", "connected"), at);
        assert!(late.changed.is_empty(), "nothing comes back after its end");
    }

    #[test]
    fn a_back_fill_replaces_what_was_heard_before_it_and_keeps_what_events_said_since() {
        let index = index();
        let before = Instant::now();
        index.apply_view(view("old", "connected"), before);
        index.apply_view(view("gone", "connected"), before);
        index.apply_view(view("ended", "connected"), before);
        index.apply_view(view("ended", "terminated"), before);
        let started = before + Duration::from_millis(10);
        // An event heard while the back-fill ran: newer than its records.
        index.apply_view(view("new", "connected"), started + Duration::from_millis(5));
        let applied = index.reconcile(
            vec![record("old"), record("ended"), record("listed")],
            started,
            Duration::ZERO,
        );
        assert_eq!(ids(&index), ["listed", "new", "old"]);
        assert!(applied.membership);
        assert!(
            applied
                .updates
                .iter()
                .any(|u| &*u.conversation_id == "gone" && u.kind == marks::UpdateKind::Ended),
            "a conversation the back-fill no longer lists ended: {:?}",
            applied.updates
        );
        // With a lag, what was heard within it stays.
        let index = self::index();
        let heard = Instant::now();
        index.apply_view(view("recent", "connected"), heard);
        index.reconcile(
            Vec::new(),
            heard + Duration::from_millis(10),
            Duration::from_secs(5),
        );
        assert_eq!(ids(&index), ["recent"], "analytics may not have it yet");
    }

    #[test]
    fn a_copy_takes_what_the_listener_holds_and_its_own_back_fill_does_not_undo_it() {
        let index = index();
        let heard = Instant::now();
        let listed = |id: &str, state: &str| (Arc::from(id), Some(Listed::View(view(id, state))));
        index.copy(&[listed("a", "connected"), listed("b", "connected")], heard);
        assert_eq!(ids(&index), ["a", "b"]);
        // The listener says `b` is over; a back-fill of this replica's own,
        // whose analytics lags and still lists it, does not bring it back,
        // nor drop what was copied within the lag.
        index.copy(&[(Arc::from("b"), None)], heard);
        index.reconcile(
            vec![record("b")],
            heard + Duration::from_millis(10),
            Duration::from_secs(5),
        );
        assert_eq!(ids(&index), ["a"]);
        assert_eq!(
            index.listed(&[Arc::from("a"), Arc::from("b")]),
            vec![
                (Arc::from("a"), Some(Listed::View(view("a", "connected")))),
                (Arc::from("b"), None)
            ]
        );
    }

    #[test]
    fn polling_the_same_records_again_changes_nothing() {
        let index = index();
        let first = index.reconcile(vec![record("a")], Instant::now(), Duration::ZERO);
        assert_eq!(first.changed.len(), 1);
        let again = index.reconcile(vec![record("a")], Instant::now(), Duration::ZERO);
        assert!(again.changed.is_empty() && !again.membership, "{again:?}");
    }
}
