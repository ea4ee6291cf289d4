//! The organisation's active set, kept by events and reconciled by
//! back-fills.
//!
//! An entry is a conversation with co-browse that has not ended, as the
//! latest word on it says: an event's body (the co-browse view) or, after
//! a back-fill, its analytics record. A conversation whose event says it
//! is over (every participant `terminated`) leaves, and is remembered for
//! a while ([`ENDED_KEPT`]) so that a lagging analytics answer cannot bring
//! it back.
//!
//! A back-fill (the analytics details query of conversations not ended)
//! started at `t` reflects upstream as of `t - lag`: it replaces what was
//! last heard before that, and leaves alone what events said since.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::marks::{self, LiveUpdate, Mark};
use crate::cache::{ActiveListing, Listed, Vouch};
use crate::upstream::analytics::AnalyticsConversation;
use crate::upstream::model::CobrowseConversation;
use crate::upstream::notifications::ScreenshareConversation;

/// How long a conversation an event said was over is remembered.
const ENDED_KEPT: Duration = Duration::from_secs(600);

/// The most ended conversations remembered.
const ENDED_MAX: usize = 10_000;

/// The most conversations the index holds (beyond, a back-fill's extra
/// records are left out and the index says it is incomplete).
pub(crate) const MAX_ENTRIES: usize = 50_000;

struct Entry {
    listed: Listed,
    /// When it was last heard of (an event, or the back-fill's start).
    heard: Instant,
    cobrowse: Vec<Mark>,
    screenshare: Vec<Mark>,
}

/// How the index may be served now.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Serving {
    /// Not at all: it is being built or recovered (reads go to upstream).
    No,
    /// Kept by events, for as long as the vouch lasts.
    Pushed,
    /// Polled: fresh until then.
    PolledUntil(Instant),
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Arc<str>, Entry>,
    ended: HashMap<Arc<str>, Instant>,
    snapshot: Option<Arc<ActiveListing>>,
}

/// What applying a change did.
#[derive(Default, Debug)]
pub(crate) struct Applied {
    /// Conversations whose data changed.
    pub changed: Vec<Arc<str>>,
    /// Whether the active set itself changed (a conversation came or went).
    pub membership: bool,
    pub updates: Vec<LiveUpdate>,
}

/// The live index.
pub(crate) struct Index {
    inner: RwLock<Inner>,
    serving: RwLock<Serving>,
    vouch: Arc<Vouch>,
}

impl Index {
    /// An empty index whose coverage `vouch` tells the cache.
    pub(crate) fn new(vouch: Arc<Vouch>) -> Self {
        Self {
            inner: RwLock::default(),
            serving: RwLock::new(Serving::No),
            vouch,
        }
    }

    /// The vouch its events keep.
    pub(crate) fn vouch(&self) -> &Arc<Vouch> {
        &self.vouch
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

    /// The active set, when the index may answer for it: noted in the
    /// request's freshness (kept by events: as long as the vouch lasts;
    /// polled: until the next poll).
    pub(crate) fn listing(&self) -> Option<Arc<ActiveListing>> {
        match self.serving() {
            Serving::No => return None,
            Serving::Pushed => crate::freshness::note_pushed(self.vouch.remaining()?),
            Serving::PolledUntil(until) => {
                let left = until.checked_duration_since(Instant::now())?;
                crate::freshness::note(left);
            }
        }
        if let Some(tag) = crate::changes::tag(crate::cache::Kind::ActiveListing, "") {
            crate::freshness::note_read(tag);
        }
        if let Some(snapshot) = &self.inner.read().expect("index lock").snapshot {
            return Some(Arc::clone(snapshot));
        }
        let mut inner = self.inner.write().expect("index lock");
        let listing = Arc::new(ActiveListing(
            inner.entries.values().map(|e| e.listed.clone()).collect(),
        ));
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
        let has_cobrowse = view
            .participants
            .iter()
            .any(|p| p.cobrowse_session_id.is_some());
        let after = marks::of_view(&view);
        let mut inner = self.inner.write().expect("index lock");
        if inner.ended.contains_key(&id) {
            // Heard after its end (redelivered, or out of order).
            return Applied::default();
        }
        let before = inner.entries.get(&id);
        if let Some(Entry {
            listed: Listed::View(old),
            ..
        }) = before
        {
            if **old == *view {
                return Applied::default();
            }
        }
        let before_marks = before.map(|e| e.cobrowse.clone()).unwrap_or_default();
        let updates = marks::diff(&id, &before_marks, &after);
        let was_member = before.is_some();
        let screenshare = before.map(|e| e.screenshare.clone()).unwrap_or_default();
        let member = has_cobrowse && !over;
        if member {
            inner.entries.insert(
                Arc::clone(&id),
                Entry {
                    listed: Listed::View(view),
                    heard,
                    cobrowse: after,
                    screenshare: screenshare.clone(),
                },
            );
        } else {
            inner.entries.remove(&id);
        }
        if over {
            remember_ended(&mut inner, &id, heard);
        }
        let mut updates = updates;
        if over {
            // Whatever still went on ended with the conversation.
            updates.extend(marks::diff(&id, &screenshare, &[]));
        }
        inner.snapshot = None;
        let membership = was_member != member;
        drop(inner);
        if membership || over {
            self.recover_coverage();
        }
        Applied {
            changed: vec![id],
            membership,
            updates,
        }
    }

    /// Applies a screen-share event's body: its sessions' marks (the
    /// conversation's membership follows its co-browse events).
    pub(crate) fn apply_screenshare(&self, body: &ScreenshareConversation) -> Applied {
        let Some(id) = body.id.as_deref().map(Arc::<str>::from) else {
            return Applied::default();
        };
        let after = marks::of_screenshare(body);
        let mut inner = self.inner.write().expect("index lock");
        let Some(entry) = inner.entries.get_mut(&id) else {
            return Applied {
                changed: vec![id],
                ..Applied::default()
            };
        };
        let updates = marks::diff(&id, &entry.screenshare, &after);
        entry.screenshare = after;
        Applied {
            changed: vec![id],
            membership: false,
            updates,
        }
    }

    /// Reconciles the index with a back-fill started at `started`, whose
    /// records reflect upstream as of `started - lag`: what was heard
    /// before that is replaced by the records (or removed when no record
    /// lists it), what events said since stays, and conversations an event
    /// said were over stay out.
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
            .retain(|_, at| now.saturating_duration_since(*at) < ENDED_KEPT);
        let mut applied = Applied::default();
        let mut listed: HashSet<Arc<str>> = HashSet::with_capacity(records.len());
        for record in records.into_iter().take(MAX_ENTRIES) {
            let Some(id) = record.conversation_id.as_deref().map(Arc::<str>::from) else {
                continue;
            };
            listed.insert(Arc::clone(&id));
            if inner.ended.contains_key(&id) {
                continue;
            }
            if inner.entries.get(&id).is_some_and(|e| e.heard >= cutoff) {
                continue;
            }
            let model = crate::purecloud::Conversation::build(
                &id,
                crate::purecloud::Inputs {
                    record: Some(Arc::clone(&record)),
                    ..Default::default()
                },
            );
            let after = marks::of_model(&model);
            let (cobrowse, screenshare): (Vec<Mark>, Vec<Mark>) = after
                .into_iter()
                .partition(|m| m.media == crate::purecloud::Media::Cobrowse);
            let before = inner.entries.remove(&id);
            let was = before.is_some();
            let (old_c, old_s) = before
                .map(|e| (e.cobrowse, e.screenshare))
                .unwrap_or_default();
            applied.updates.extend(marks::diff(&id, &old_c, &cobrowse));
            applied
                .updates
                .extend(marks::diff(&id, &old_s, &screenshare));
            applied.membership |= !was;
            applied.changed.push(Arc::clone(&id));
            inner.entries.insert(
                id,
                Entry {
                    listed: Listed::Record(record),
                    heard: started,
                    cobrowse,
                    screenshare,
                },
            );
        }
        let gone: Vec<Arc<str>> = inner
            .entries
            .iter()
            .filter(|(id, e)| !listed.contains(*id) && e.heard < cutoff)
            .map(|(id, _)| Arc::clone(id))
            .collect();
        for id in gone {
            if let Some(entry) = inner.entries.remove(&id) {
                applied
                    .updates
                    .extend(marks::diff(&id, &entry.cobrowse, &[]));
                applied
                    .updates
                    .extend(marks::diff(&id, &entry.screenshare, &[]));
                applied.membership = true;
                applied.changed.push(id);
            }
        }
        inner.snapshot = None;
        drop(inner);
        self.recover_coverage();
        applied
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
        self.vouch.cover(covered);
    }
}

fn remember_ended(inner: &mut Inner, id: &Arc<str>, at: Instant) {
    if inner.ended.len() >= ENDED_MAX {
        if let Some(oldest) = inner
            .ended
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(id, _)| Arc::clone(id))
        {
            inner.ended.remove(&oldest);
        }
    }
    inner.ended.insert(Arc::clone(id), at);
}
