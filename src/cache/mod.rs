//! The moka cache in front of every upstream read.
//!
//! One cache holds every kind of upstream value. Keys carry the credential
//! [`Scope`] they were fetched with, so one caller's data is never served to
//! another. Each kind has a TTL class (live state or directory data). The
//! cache is bounded by bytes *and* entries: an entry weighs the memory its
//! value holds ([`Value::weight`]: decoded, with all it owns; not its size
//! on the wire), and at least one "slot" (`max_bytes / max_entries`), so the
//! byte bound also bounds the count.
//! Concurrent misses for one key make one upstream call (a single-flight
//! group per key).
//!
//! Stale-if-error: an entry stays in the cache for `cache.stale_grace` past
//! its TTL. A read of such an entry refetches it; if upstream fails for a
//! transient reason (5xx, timeout, rate limit, open circuit), the expired
//! value is served instead, the response is marked (`no-store`, a warning
//! in its `extensions`), and the fetch is retried in the background until it
//! succeeds or the grace runs out.
//!
//! A map of the folder: `keys` (scope, kind, key), `values` (what it
//! holds), `entry` (an entry and its lifetime), `push_lease` (how pushed
//! notifications keep live data fresh), `shared` (the replicas' second
//! level in Redis), `read` and `fetch` (the two halves of a read), and here
//! the cache itself: its version, what reads note, writes and invalidation.

mod entry;
mod fetch;
mod keys;
mod push_lease;
mod read;
mod shared;
mod values;

use crate::cache::entry::CacheEntry;
use crate::cache::entry::TtlByKind;
use crate::cache::entry::ENTRY_OVERHEAD;
use crate::cache::keys::Key;
pub(crate) use keys::{Kind, Scope};
pub(crate) use push_lease::PushLease;
pub(crate) use shared::Shared;
pub(crate) use values::{Cacheable, ClosedReport, Report, Value, WrapupCodes};

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache as Moka;
use moka::notification::RemovalCause;

use crate::metrics::Metrics;
use crate::settings::CacheSettings;
use crate::singleflight;
use crate::upstream::UpstreamError;

type FetchFlight = Result<CacheEntry, Arc<UpstreamError>>;

/// The most keys being refetched in the background at once.
const MAX_BACKGROUND_REFRESHES: usize = 1_024;

/// The upstream cache. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Cache {
    inner: Option<Moka<Key, CacheEntry>>,
    ttl: TtlByKind,
    slot: u64,
    metrics: Arc<Metrics>,
    flights: Arc<singleflight::Group<Key, FetchFlight>>,
    /// Keys a background task is refetching.
    refreshing: Arc<Mutex<HashSet<Key>>>,
    /// What pushed notifications keep fresh (service mode).
    lease: Option<Arc<PushLease>>,
    /// Several replicas with Redis: the cache they share.
    shared: Option<Arc<Shared>>,
    /// Counts the changes of what it holds (stores, invalidations,
    /// evictions), each counted once it is done.
    epoch: Arc<AtomicU64>,
}

/// The cache's version: what it holds, and what decides whether it is
/// fresh, as of one moment. Equal versions mean the same reads give the
/// same values (while they are fresh: see [`ReadFreshness`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CacheVersion {
    /// Counts the changes of what the cache holds.
    held: u64,
    /// Counts the changes of what the push lease covers.
    leased: u64,
}

/// What reads of the cache would note in a response's freshness, kept to
/// note again ([`Cache::note_again`]) for a response built from the same reads
/// while the cache's [`CacheVersion`] is the same.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadFreshness {
    /// The earliest end of the TTL of what was read (not leased for),
    /// and the shortest of those TTLs (what is left of a TTL is never
    /// more than the TTL: a value stored after the instant a response is
    /// built as of has its whole TTL left).
    fresh_until: Option<(Instant, Duration)>,
    /// Something read is kept fresh by the lease.
    pushed: bool,
    tags: Vec<crate::changes::Tag>,
}

impl Cache {
    /// How long live state is kept (`cache.live_ttl`).
    pub(crate) fn live_ttl(&self) -> Duration {
        self.ttl.live
    }

    /// Builds the cache from its settings (`enabled = false` caches nothing).
    pub(crate) fn new(settings: &CacheSettings, metrics: Arc<Metrics>) -> Self {
        let slot = (settings.max_bytes / settings.max_entries).max(1);
        let ttl = TtlByKind {
            live: settings.live_ttl,
            directory: settings.directory_ttl,
            grace: settings.stale_grace,
        };
        let epoch = Arc::new(AtomicU64::new(0));
        let inner = settings.enabled.then(|| {
            let evictions = metrics.cache_evictions.clone();
            let removed = Arc::clone(&epoch);
            Moka::builder()
                .max_capacity(settings.max_bytes)
                .weigher(|_: &Key, entry: &CacheEntry| entry.weight)
                .expire_after(ttl)
                .eviction_listener(move |_, _, cause| {
                    if cause == RemovalCause::Size {
                        evictions.inc();
                    }
                    removed.fetch_add(1, Ordering::AcqRel);
                })
                .build()
        });
        Self {
            inner,
            ttl,
            slot,
            metrics,
            flights: Arc::default(),
            refreshing: Arc::default(),
            lease: None,
            shared: None,
            epoch,
        }
    }

    /// What it holds and what decides freshness, now. Read before the
    /// reads it stamps: a change during them makes the version old.
    pub(crate) fn version(&self) -> CacheVersion {
        let leased = self
            .lease
            .as_ref()
            .map_or(0, |v| v.changes.load(Ordering::Acquire));
        CacheVersion {
            held: self.epoch.load(Ordering::Acquire),
            leased,
        }
    }

    /// Counts a change of what it holds (after it is done).
    pub(crate) fn changed(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The same cache, whose misses of the gateway's own values are looked
    /// up in (and fetched once for) the replicas' shared cache.
    pub(crate) fn shared_by(mut self, shared: Shared) -> Self {
        self.shared = Some(Arc::new(shared));
        self
    }

    /// The same cache, whose live conversation data `lease` keeps fresh.
    pub(crate) fn leased_by(mut self, lease: Arc<PushLease>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Entries and weighted bytes held now (after pending maintenance);
    /// also sets the size gauges.
    pub(crate) async fn size(&self) -> (u64, u64) {
        let (entries, bytes) = match &self.inner {
            Some(cache) => {
                cache.run_pending_tasks().await;
                (cache.entry_count(), cache.weighted_size())
            }
            None => (0, 0),
        };
        self.metrics
            .cache_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.metrics
            .cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        (entries, bytes)
    }

    /// Counts `n` hits (of [`Self::peek`]s that answered a response).
    pub(crate) fn count_hits(&self, n: u64) {
        self.metrics.cache_hits.inc_by(n);
    }

    /// Stores a value fetched elsewhere (for example by a bulk call).
    pub(crate) async fn insert<T: Cacheable>(&self, scope: Scope, id: &str, value: Arc<T>) {
        self.insert_aged(scope, id, value, None).await;
    }

    /// [`Self::insert`] of a value another replica fetched `age` ago (it
    /// is as old as that, and not leased for).
    pub(crate) async fn insert_aged<T: Cacheable>(
        &self,
        scope: Scope,
        id: &str,
        value: Arc<T>,
        age: Option<Duration>,
    ) {
        if let Some(cache) = &self.inner {
            let key = Key {
                scope,
                kind: T::KIND,
                id: id.into(),
            };
            let mut entry = self.entry(&key, T::wrap(value));
            if let Some(age) = age {
                entry.age(age);
            }
            cache.insert(key, entry).await;
            self.changed();
        }
    }

    /// Forgets everything (the benchmark's cold runs).
    pub(crate) fn clear(&self) {
        if let Some(cache) = &self.inner {
            cache.invalidate_all();
            self.changed();
        }
    }

    /// Forgets a value (after a mutation changed it upstream).
    pub(crate) async fn invalidate(&self, scope: Scope, kind: Kind, id: &str) {
        if let Some(cache) = &self.inner {
            let key = Key {
                scope,
                kind,
                id: id.into(),
            };
            cache.invalidate(&key).await;
            self.changed();
        }
        // The other replicas' copies are forgotten by each of them as the
        // change reaches it; the shared one here.
        if let Some((shared, name)) = self.shared_key(scope, kind, id) {
            shared.redis.forget(&name).await;
        }
    }

    fn entry(&self, key: &Key, value: Value) -> CacheEntry {
        let weight = (value.weight() as u64 + ENTRY_OVERHEAD).max(self.slot);
        CacheEntry {
            value,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
            created: Instant::now(),
            leased: self
                .lease
                .as_ref()
                .map_or(0, |v| v.generation_for(key.scope, key.kind)),
        }
    }

    /// Tells the current response that it says an id does not exist: true
    /// only for as long as live state (a user or queue may be created at
    /// any moment).
    pub(crate) fn note_absent(&self) {
        crate::freshness::note(self.ttl.of(Kind::Conversation));
    }

    fn count(&self, hit: bool) {
        if hit {
            self.metrics.cache_hits.inc();
        } else {
            self.metrics.cache_misses.inc();
        }
    }
}

#[cfg(test)]
mod tests;
