//! One entry of the cache, and its lifetime: a TTL per kind of value,
//! longer while the push lease holds, and a grace for stale-if-error.

use std::time::{Duration, Instant};

use moka::Expiry;

use crate::cache::keys::Key;
use crate::cache::{Kind, Value};

#[derive(Clone)]
pub(super) struct CacheEntry {
    pub(super) value: Value,
    pub(super) weight: u32,
    pub(super) created: Instant,
    /// The [`PushLease`] generation it was stored in (0: not leased for).
    pub(super) leased: u64,
}

impl CacheEntry {
    /// Another replica fetched it `age` ago: as old as that, and not
    /// leased for by this one's notifications.
    pub(super) fn age(&mut self, age: Duration) {
        self.created = Instant::now().checked_sub(age).unwrap_or(self.created);
        self.leased = 0;
    }
}

/// Bytes an entry is charged beyond its body: key, enum and moka overhead.
pub(super) const ENTRY_OVERHEAD: u64 = 256;

#[derive(Clone, Copy)]
pub(super) struct TtlByKind {
    pub(super) live: Duration,
    pub(super) directory: Duration,
    /// How long past its TTL an entry is kept for stale-if-error.
    pub(super) grace: Duration,
}

/// How long an entry stored under a lease is held (fresh only while the
/// lease lasts; bounded by the cache's bytes like every entry).
const VOUCHED_HOLD: Duration = Duration::from_secs(3_600);

impl TtlByKind {
    pub(super) fn of(&self, kind: Kind) -> Duration {
        if kind.is_live() {
            self.live
        } else {
            self.directory
        }
    }
}

impl Expiry<Key, CacheEntry> for TtlByKind {
    fn expire_after_create(&self, key: &Key, entry: &CacheEntry, _: Instant) -> Option<Duration> {
        let ttl = self.of(key.kind) + self.grace;
        Some(if entry.leased == 0 {
            ttl
        } else {
            ttl.max(VOUCHED_HOLD)
        })
    }
}
