//! The push lease: how long pushed notifications keep the cached live
//! data of the conversations they cover fresh.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::entry::CacheEntry;
use crate::cache::keys::Key;
use crate::cache::{Kind, Scope};

/// The lease pushed notifications hold on the freshness of the live data of
/// the conversations they cover: while it holds, those conversations'
/// cached forms stay fresh
/// (every change arrives as an event, which replaces or invalidates them)
/// for as long as the last heartbeat allows, not for the TTL's guess.
///
/// The live index ([`crate::live`]) extends the lease at every message it
/// hears, covers the conversations of its active set, and revokes the
/// lease when it stops hearing; a revoked lease never comes back for the
/// entries stored before (their generation is over), so every gap ends
/// in fresh reads.
pub(crate) struct PushLease {
    pub(super) scope: Scope,
    pub(super) origin: Instant,
    /// Leased until this many ms after `origin` (0: not leased).
    pub(super) until_ms: std::sync::atomic::AtomicU64,
    pub(super) generation: std::sync::atomic::AtomicU64,
    pub(super) covered: std::sync::RwLock<HashSet<Arc<str>>>,
    /// Counts the changes heard: a fetch during which one was heard may
    /// hold what it replaced, and is not leased for.
    pub(super) heard: std::sync::atomic::AtomicU64,
    /// Counts the changes of what it covers and of its generation (a part
    /// of the cache's [`CacheVersion`]).
    pub(super) changes: AtomicU64,
}

impl PushLease {
    /// A lease for data cached under `scope`; not holding yet.
    pub(crate) fn new(scope: Scope) -> Self {
        Self {
            scope,
            origin: Instant::now(),
            until_ms: std::sync::atomic::AtomicU64::new(0),
            generation: std::sync::atomic::AtomicU64::new(1),
            covered: std::sync::RwLock::default(),
            heard: std::sync::atomic::AtomicU64::new(0),
            changes: AtomicU64::new(0),
        }
    }

    /// Notes that a change was heard (before its data is replaced).
    pub(crate) fn heard(&self) {
        self.heard.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub(super) fn heard_so_far(&self) -> u64 {
        self.heard.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Vouches until `until` (a heartbeat or an event was heard).
    pub(crate) fn extend(&self, until: Instant) {
        let ms = until
            .saturating_duration_since(self.origin)
            .as_millis()
            .max(1);
        self.until_ms.store(
            u64::try_from(ms).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Release,
        );
    }

    /// Ends the lease: what was stored so far lives by its TTL again.
    pub(crate) fn revoke(&self) {
        use std::sync::atomic::Ordering;
        if self.until_ms.swap(0, Ordering::AcqRel) != 0 {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// How much longer it leases (none: it does not).
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let until = self.until_ms.load(std::sync::atomic::Ordering::Acquire);
        if until == 0 {
            return None;
        }
        Duration::from_millis(until)
            .checked_sub(self.origin.elapsed())
            .filter(|d| !d.is_zero())
    }

    /// Whether it leases for conversation `id` now.
    pub(crate) fn covers(&self, id: &str) -> bool {
        self.covered.read().expect("covered lock").contains(id)
    }

    /// The conversations it covers are these.
    pub(crate) fn cover(&self, ids: HashSet<Arc<str>>) {
        *self.covered.write().expect("covered lock") = ids;
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// The generation an entry stored now under `scope` would be leased
    /// in (0: none).
    pub(super) fn generation_for(&self, scope: Scope, kind: Kind) -> u64 {
        let leasable = matches!(kind, Kind::Conversation | Kind::CobrowseConversation);
        if leasable && scope == self.scope && self.remaining().is_some() {
            self.generation.load(std::sync::atomic::Ordering::Acquire)
        } else {
            0
        }
    }

    /// How long an entry stays fresh because of the lease, if it does.
    pub(super) fn leased_for(&self, key: &Key, entry: &CacheEntry) -> Option<Duration> {
        if entry.leased == 0
            || entry.leased != self.generation.load(std::sync::atomic::Ordering::Acquire)
            || !self.covers(&key.id)
        {
            return None;
        }
        self.remaining()
    }
}
