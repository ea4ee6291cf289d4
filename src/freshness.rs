//! How long a response may be cached, gathered while it is built.
//!
//! Each GraphQL request runs inside a [`Freshness`] scope (a task-local).
//! The cache [`note`]s the remaining time to live of every entry it serves or
//! stores; the response's `Cache-Control: max-age` is the shortest of them.
//! Outside a scope (background tasks, tests) noting does nothing.
//!
//! The scope also gathers the stale reads of the response (data served past
//! its TTL because upstream failed), which the server reports as warnings in
//! the response's `extensions`, and the [`Tag`]s of the live upstream values
//! it read, which a kept response is invalidated by ([`crate::changes`]).
//!
//! A response is built as of one instant, the scope's start: durations
//! "until now" and the time to live left of what it read are measured from
//! it, so that the fields of one response agree with each other, and two
//! ways of building the same response (the compiled path and the general
//! engine, compared in `verify` mode) give the same bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::changes::{Reads, Tag};

tokio::task_local! {
    static CURRENT: Freshness;
}

/// The shortest remaining TTL noted so far (for clients), the stale reads,
/// the tags read, and how long the gateway itself may keep the response
/// (longer than clients when what it read is kept fresh by pushed events,
/// which invalidate a kept response but cannot reach a client's cache).
#[derive(Clone, Debug)]
pub(crate) struct Freshness(
    Arc<AtomicU64>,
    Arc<std::sync::Mutex<(Vec<StaleRead>, usize)>>,
    Arc<std::sync::Mutex<TagsRead>>,
    Arc<AtomicU64>,
    Instant,
    DateTime<Utc>,
);

/// The tags a response read, up to [`MAX_TAGS`].
#[derive(Debug, Default)]
struct TagsRead {
    tags: Vec<Tag>,
    overflowed: bool,
}

/// The most tags one response keeps track of; beyond, any change makes it
/// stale.
pub(crate) const MAX_TAGS: usize = 512;

impl Default for Freshness {
    fn default() -> Self {
        Self(
            Arc::new(AtomicU64::new(u64::MAX)),
            Arc::default(),
            // A dashboard reads a few dozen live values.
            Arc::new(std::sync::Mutex::new(TagsRead {
                tags: Vec::with_capacity(64),
                overflowed: false,
            })),
            Arc::new(AtomicU64::new(u64::MAX)),
            Instant::now(),
            Utc::now(),
        )
    }
}

/// A value served past its TTL because upstream failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StaleRead {
    /// What kind of upstream value (`conversation`, `user`, ...).
    pub kind: &'static str,
    pub id: String,
    /// How long past its TTL it was.
    pub stale_for: Duration,
    /// The code of the upstream failure.
    pub upstream_code: &'static str,
}

/// The most stale reads one response lists (the count is always exact).
pub(crate) const MAX_STALE_LISTED: usize = 20;

impl Freshness {
    /// Runs `future` with this scope current.
    pub(crate) async fn scope<F: std::future::Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// A new scope as of the same instant as `self`.
    pub(crate) fn as_of(&self) -> Self {
        Self {
            4: self.4,
            5: self.5,
            ..Self::default()
        }
    }

    /// The stale reads noted (at most [`MAX_STALE_LISTED`]) and their count.
    pub(crate) fn stale(&self) -> (Vec<StaleRead>, usize) {
        let reads = self.1.lock().expect("stale reads lock");
        (reads.0.clone(), reads.1)
    }

    /// The live upstream values the response read.
    pub(crate) fn reads(&self) -> Reads {
        let read = self.2.lock().expect("tags lock");
        if read.overflowed {
            return Reads::Everything;
        }
        let mut tags = read.tags.clone();
        tags.sort_unstable();
        tags.dedup();
        Reads::Tags(tags.into_boxed_slice())
    }

    /// The shortest remaining TTL noted, or `None` when nothing was read:
    /// how long a client may cache the response.
    pub(crate) fn shortest(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// How long the gateway may keep the response (invalidated earlier by
    /// a change of what it read), or `None` when nothing was read.
    pub(crate) fn keep(&self) -> Option<Duration> {
        match self.3.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

/// Notes that the response contains data served past its TTL; such a
/// response is fresh for no time at all.
pub(crate) fn note_stale(read: StaleRead) {
    let _ = CURRENT.try_with(|f| {
        f.0.store(0, Ordering::Relaxed);
        f.3.store(0, Ordering::Relaxed);
        let mut reads = f.1.lock().expect("stale reads lock");
        reads.1 += 1;
        if reads.0.len() < MAX_STALE_LISTED {
            reads.0.push(read);
        }
    });
}

/// The scope of the current request, if there is one (to carry it into a
/// task the request spawns).
pub(crate) fn current() -> Option<Freshness> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The instant the current response is built as of (now, outside a scope).
pub(crate) fn now() -> Instant {
    CURRENT.try_with(|f| f.4).unwrap_or_else(|_| Instant::now())
}

/// [`now`] on the wall clock.
pub(crate) fn now_utc() -> DateTime<Utc> {
    CURRENT.try_with(|f| f.5).unwrap_or_else(|_| Utc::now())
}

/// Notes that the response read the live upstream value `tag`.
pub(crate) fn note_read(tag: Tag) {
    note_reads(std::slice::from_ref(&tag));
}

/// Notes that the response read the live upstream values `tags`.
pub(crate) fn note_reads(tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    let _ = CURRENT.try_with(|f| {
        let mut read = f.2.lock().expect("tags lock");
        let room = MAX_TAGS - read.tags.len();
        read.tags.extend_from_slice(&tags[..tags.len().min(room)]);
        read.overflowed |= tags.len() > room;
    });
}

/// Notes that the response contains data fresh for `remaining` more.
pub(crate) fn note(remaining: Duration) {
    let ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX - 1);
    let _ = CURRENT.try_with(|f| {
        f.0.fetch_min(ms, Ordering::Relaxed);
        f.3.fetch_min(ms, Ordering::Relaxed);
    });
}

/// Notes that the response contains data that pushed events keep fresh,
/// leased for `leased` more: the gateway may keep the response that long
/// (an event that changes what it read invalidates it at once), while a
/// client, which no event reaches, must ask again (`max-age=0`).
pub(crate) fn note_pushed(leased: Duration) {
    let ms = u64::try_from(leased.as_millis()).unwrap_or(u64::MAX - 1);
    let _ = CURRENT.try_with(|f| {
        f.0.store(0, Ordering::Relaxed);
        f.3.fetch_min(ms, Ordering::Relaxed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_shortest_note_wins_and_notes_outside_a_scope_are_ignored() {
        note(Duration::from_secs(1));
        let freshness = Freshness::default();
        freshness
            .clone()
            .scope(async {
                note(Duration::from_secs(9));
                note(Duration::from_millis(2500));
            })
            .await;
        assert_eq!(freshness.shortest(), Some(Duration::from_millis(2500)));
        assert_eq!(freshness.keep(), Some(Duration::from_millis(2500)));
        assert_eq!(Freshness::default().shortest(), None);
    }

    #[tokio::test]
    async fn pushed_data_is_kept_by_the_gateway_but_not_by_clients() {
        let freshness = Freshness::default();
        freshness
            .clone()
            .scope(async {
                note(Duration::from_secs(30));
                note_pushed(Duration::from_secs(20));
            })
            .await;
        assert_eq!(freshness.shortest(), Some(Duration::ZERO));
        assert_eq!(freshness.keep(), Some(Duration::from_secs(20)));
    }
}
