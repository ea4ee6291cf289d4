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

use std::collections::HashSet;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache as Moka;
use moka::notification::RemovalCause;
use moka::Expiry;

use crate::metrics::Metrics;
use crate::settings::CacheSettings;
use crate::singleflight;
use crate::upstream::model::{CobrowseConversation, Conversation, Queue, User, WrapupCode};
use crate::upstream::{Fetched, UpstreamError};

/// The credentials a value was fetched with, as an opaque hash.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Scope(u64);

impl Scope {
    /// The opaque value (for keys of other caches).
    pub(crate) fn value(self) -> u64 {
        self.0
    }

    /// The scope of a set of credentials (hashed with a per-process key).
    pub(crate) fn of(parts: &[&str]) -> Self {
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        Scope(KEYS.get_or_init(Default::default).hash_one(parts))
    }
}

/// What kind of upstream value an entry holds.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Kind {
    Conversation,
    CobrowseConversation,
    ActiveListing,
    User,
    Queue,
    WrapupCodes,
    /// An analytics answer about an interval that is still going on (or
    /// just ended, while analytics catches up).
    OpenReport,
    /// An analytics answer about an interval well in the past.
    ClosedReport,
}

impl Kind {
    /// A name for warnings and logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Conversation => "conversation",
            Kind::CobrowseConversation => "cobrowse_conversation",
            Kind::ActiveListing => "active_listing",
            Kind::User => "user",
            Kind::Queue => "queue",
            Kind::WrapupCodes => "wrapup_codes",
            Kind::OpenReport => "open_report",
            Kind::ClosedReport => "closed_report",
        }
    }

    /// The change tag of a read of this kind of `id`, or `None` for kinds
    /// mutations do not change (users, queues, wrap-up codes; analytics
    /// reports, which lag upstream's own changes and live by their TTL). A
    /// conversation's full form and co-browse view share one tag.
    pub(crate) fn tag(self, id: &str) -> Option<crate::changes::Tag> {
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let keys = KEYS.get_or_init(Default::default);
        match self {
            Kind::Conversation | Kind::CobrowseConversation => Some(keys.hash_one(("c", id))),
            Kind::ActiveListing => Some(keys.hash_one("listing")),
            Kind::User
            | Kind::Queue
            | Kind::WrapupCodes
            | Kind::OpenReport
            | Kind::ClosedReport => None,
        }
    }

    fn is_live(self) -> bool {
        matches!(
            self,
            Kind::Conversation
                | Kind::CobrowseConversation
                | Kind::ActiveListing
                | Kind::OpenReport
        )
    }
}

/// A cache key: scope, kind and upstream id.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Key {
    scope: Scope,
    kind: Kind,
    id: Arc<str>,
}

/// The active co-browse conversations, as upstream listed them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) struct ActiveListing {
    pub entries: Vec<Listed>,
    /// Upstream's listing had more pages than the client follows: these
    /// are the first ones only (the listing field says so).
    pub cut: bool,
}

/// One conversation of the active listing: a co-browse view (the per-user
/// listing) or an analytics record (the org-wide details query).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) enum Listed {
    View(Arc<CobrowseConversation>),
    Record(Arc<crate::upstream::analytics::AnalyticsConversation>),
}

/// An analytics answer (statistics or a page of history).
#[derive(Debug, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) enum Report {
    Aggregates(crate::upstream::analytics::AggregatesResponse),
    /// A details page's records, shared: the conversations built from them
    /// are kept by record (`purecloud::Models`), not built per request.
    Details(Vec<Arc<crate::upstream::analytics::AnalyticsConversation>>),
}

/// An analytics answer about an interval well in the past: it changes
/// rarely, and lives as long as directory data.
#[derive(Debug, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) struct ClosedReport(pub Arc<Report>);

/// All wrap-up codes of the organisation.
#[derive(Debug, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) struct WrapupCodes(pub Vec<WrapupCode>);

/// A value the cache can hold.
#[derive(Clone)]
pub(crate) enum Value {
    Conversation(Arc<Conversation>),
    CobrowseConversation(Arc<CobrowseConversation>),
    ActiveListing(Arc<ActiveListing>),
    User(Arc<User>),
    Queue(Arc<Queue>),
    WrapupCodes(Arc<WrapupCodes>),
    OpenReport(Arc<Report>),
    ClosedReport(Arc<ClosedReport>),
}

impl Value {
    /// The bytes it holds in memory: the decoded value and everything it
    /// owns on the heap (what `cache.max_bytes` bounds), not its size on
    /// the wire, which is several times smaller.
    pub(crate) fn weight(&self) -> usize {
        use get_size2::GetSize as _;
        match self {
            Value::Conversation(v) => v.get_size(),
            Value::CobrowseConversation(v) => v.get_size(),
            Value::ActiveListing(v) => v.get_size(),
            Value::User(v) => v.get_size(),
            Value::Queue(v) => v.get_size(),
            Value::WrapupCodes(v) => v.get_size(),
            Value::OpenReport(v) => v.get_size(),
            Value::ClosedReport(v) => v.get_size(),
        }
    }
}

/// A type that has a [`Kind`] and lives in a [`Value`] (and, encoded, in
/// the replicas' shared cache).
pub(crate) trait Cacheable:
    serde::Serialize + serde::de::DeserializeOwned + Send + Sync + Sized + 'static
{
    const KIND: Kind;
    fn wrap(value: Arc<Self>) -> Value;
    fn unwrap(value: Value) -> Option<Arc<Self>>;
}

macro_rules! cacheable {
    ($($ty:ty => $variant:ident),+ $(,)?) => {$(
        impl Cacheable for $ty {
            const KIND: Kind = Kind::$variant;
            fn wrap(value: Arc<Self>) -> Value {
                Value::$variant(value)
            }
            fn unwrap(value: Value) -> Option<Arc<Self>> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )+};
}

cacheable! {
    Conversation => Conversation,
    CobrowseConversation => CobrowseConversation,
    ActiveListing => ActiveListing,
    User => User,
    Queue => Queue,
    WrapupCodes => WrapupCodes,
    Report => OpenReport,
    ClosedReport => ClosedReport,
}

#[derive(Clone)]
struct CacheEntry {
    value: Value,
    weight: u32,
    created: Instant,
    /// The [`PushLease`] generation it was stored in (0: not leased for).
    leased: u64,
}

impl CacheEntry {
    /// Another replica fetched it `age` ago: as old as that, and not
    /// leased for by this one's notifications.
    fn age(&mut self, age: Duration) {
        self.created = Instant::now().checked_sub(age).unwrap_or(self.created);
        self.leased = 0;
    }
}

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
    scope: Scope,
    origin: Instant,
    /// Leased until this many ms after `origin` (0: not leased).
    until_ms: std::sync::atomic::AtomicU64,
    generation: std::sync::atomic::AtomicU64,
    covered: std::sync::RwLock<HashSet<Arc<str>>>,
    /// Counts the changes heard: a fetch during which one was heard may
    /// hold what it replaced, and is not leased for.
    heard: std::sync::atomic::AtomicU64,
    /// Counts the changes of what it covers and of its generation (a part
    /// of the cache's [`CacheVersion`]).
    changes: AtomicU64,
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

    fn heard_so_far(&self) -> u64 {
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
    fn generation_for(&self, scope: Scope, kind: Kind) -> u64 {
        let leasable = matches!(kind, Kind::Conversation | Kind::CobrowseConversation);
        if leasable && scope == self.scope && self.remaining().is_some() {
            self.generation.load(std::sync::atomic::Ordering::Acquire)
        } else {
            0
        }
    }

    /// How long an entry stays fresh because of the lease, if it does.
    fn leased_for(&self, key: &Key, entry: &CacheEntry) -> Option<Duration> {
        if entry.leased == 0
            || entry.leased != self.generation.load(std::sync::atomic::Ordering::Acquire)
            || !self.covers(&key.id)
        {
            return None;
        }
        self.remaining()
    }
}

/// Bytes an entry is charged beyond its body: key, enum and moka overhead.
const ENTRY_OVERHEAD: u64 = 256;

#[derive(Clone, Copy)]
struct TtlByKind {
    live: Duration,
    directory: Duration,
    /// How long past its TTL an entry is kept for stale-if-error.
    grace: Duration,
}

/// How long an entry stored under a lease is held (fresh only while the
/// lease lasts; bounded by the cache's bytes like every entry).
const VOUCHED_HOLD: Duration = Duration::from_secs(3_600);

impl TtlByKind {
    fn of(&self, kind: Kind) -> Duration {
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

/// The replicas' shared cache (Redis): the gateway's own scope's values,
/// under a name every replica of the same upstream and client gives them
/// (scopes are hashed per process). Callers' own tokens' values are not
/// shared.
pub(crate) struct Shared {
    redis: Arc<crate::redis_state::RedisState>,
    scope: Scope,
    name: String,
}

impl Shared {
    /// The cache in `redis`, for the values of `scope`, named `name` alike
    /// on every replica.
    pub(crate) fn new(
        redis: Arc<crate::redis_state::RedisState>,
        scope: Scope,
        name: String,
    ) -> Self {
        Self { redis, scope, name }
    }

    /// Its key for the value of `kind` under `id` in `scope`, if it holds
    /// values of that scope (long ids, such as an analytics query, are
    /// hashed).
    fn key(&self, scope: Scope, kind: Kind, id: &str) -> Option<String> {
        if scope != self.scope {
            return None;
        }
        let name = &self.name;
        let kind = kind.name();
        Some(if id.len() > 128 {
            use sha2::Digest as _;
            let hashed = hex::encode(sha2::Sha256::digest(id.as_bytes()));
            format!("{name}:{kind}:{hashed}")
        } else {
            format!("{name}:{kind}:{id}")
        })
    }
}

/// Whether an error is an outage worth riding out on stale data (and not an
/// answer about the data, like a 404).
fn serves_stale(error: &UpstreamError) -> bool {
    matches!(
        error,
        UpstreamError::Unavailable { .. }
            | UpstreamError::Timeout { .. }
            | UpstreamError::RateLimited { .. }
            | UpstreamError::CircuitOpen { .. }
    )
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

    /// The cached value, fetching it on a miss. Concurrent misses for one key
    /// share one fetch. When the fetch fails for a transient reason and an
    /// expired value is still held (within the grace), that is served.
    pub(crate) async fn get_or_fetch<T, F, Fut>(
        &self,
        scope: Scope,
        id: &str,
        fetch: F,
    ) -> Result<Arc<T>, Arc<UpstreamError>>
    where
        T: Cacheable,
        F: Fn() -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Fetched<T>, UpstreamError>> + Send + 'static,
    {
        if let Some(tag) = T::KIND.tag(id) {
            crate::freshness::note_read(tag);
        }
        let Some(cache) = &self.inner else {
            // Nothing is kept: the response must not be cached either.
            crate::freshness::note(Duration::ZERO);
            return fetch().await.map(|f| Arc::new(f.value)).map_err(Arc::new);
        };
        let key = Key {
            scope,
            kind: T::KIND,
            id: id.into(),
        };
        let held = cache.get(&key).await;
        if let Some(entry) = &held {
            if self.is_fresh(&key, entry) {
                self.count(true);
                self.note_freshness(&key, entry);
                return Ok(T::unwrap(entry.value.clone()).expect("a key's kind matches its value"));
            }
        }
        self.count(false);
        match self.refetch(key.clone(), fetch.clone()).await {
            Ok(entry) => {
                self.note_freshness(&key, &entry);
                Ok(T::unwrap(entry.value).expect("a key's kind matches its value"))
            }
            Err(error) => match held {
                Some(stale) if serves_stale(&error) => {
                    self.serve_stale(&key, &stale, &error);
                    self.retry_in_background(key, fetch);
                    Ok(T::unwrap(stale.value).expect("a key's kind matches its value"))
                }
                _ => Err(error),
            },
        }
    }

    /// The cached value, if present and fresh.
    pub(crate) async fn get<T: Cacheable>(&self, scope: Scope, id: &str) -> Option<Arc<T>> {
        self.inner.as_ref()?;
        let key = Key {
            scope,
            kind: T::KIND,
            id: id.into(),
        };
        let found = self.fresh(&key).await;
        self.count(found.is_some());
        found
    }

    /// The cached value if it is held and fresh, read as
    /// [`Self::get_or_fetch`] reads a hit, but not counted (the compiled
    /// path reads this way and counts its hits once it has answered,
    /// [`Self::count_hits`]) and noted in `noted` rather than in the
    /// response (which [`Self::note_again`] notes it in).
    pub(crate) async fn peek<T: Cacheable>(
        &self,
        scope: Scope,
        id: &Arc<str>,
        noted: &mut ReadFreshness,
    ) -> Option<Arc<T>> {
        let key = Key {
            scope,
            kind: T::KIND,
            id: Arc::clone(id),
        };
        let entry = self.inner.as_ref()?.get(&key).await;
        let entry = entry.filter(|e| self.is_fresh(&key, e))?;
        if self.leased_for(&key, &entry).is_some() {
            noted.pushed = true;
        } else {
            let ttl = self.ttl.of(key.kind);
            let until = entry.created + ttl;
            noted.fresh_until = Some(match noted.fresh_until {
                Some((u, t)) => (u.min(until), t.min(ttl)),
                None => (until, ttl),
            });
        }
        if let Some(tag) = T::KIND.tag(id) {
            noted.tags.push(tag);
        }
        T::unwrap(entry.value)
    }

    /// Notes in the current response what reads noted in `noted`, when
    /// what they read is still fresh (as they would find it now, if the
    /// cache's version is the same as when they read); whether it was.
    pub(crate) fn note_again(&self, noted: &ReadFreshness) -> bool {
        let now = crate::freshness::now();
        if let Some((until, ttl)) = noted.fresh_until {
            if Instant::now() >= until {
                return false;
            }
            crate::freshness::note(ttl.min(until.saturating_duration_since(now)));
        }
        if noted.pushed {
            match self.lease.as_ref().and_then(|v| v.remaining()) {
                Some(leased) => crate::freshness::note_pushed(leased),
                None => return false,
            }
        }
        crate::freshness::note_reads(&noted.tags);
        true
    }

    /// The value under `key` if it is held and fresh, noted in the
    /// response's freshness.
    async fn fresh<T: Cacheable>(&self, key: &Key) -> Option<Arc<T>> {
        let entry = self.inner.as_ref()?.get(key).await;
        let entry = entry.filter(|e| self.is_fresh(key, e))?;
        self.note_freshness(key, &entry);
        T::unwrap(entry.value)
    }

    /// Counts `n` hits (of [`Self::peek`]s that answered a response).
    pub(crate) fn count_hits(&self, n: u64) {
        self.metrics.cache_hits.inc_by(n);
    }

    /// An expired value still held within the grace, served because a
    /// fetch failed with `error` (marks the response as stale).
    pub(crate) async fn get_stale<T: Cacheable>(
        &self,
        scope: Scope,
        id: &str,
        error: &UpstreamError,
    ) -> Option<Arc<T>> {
        if !serves_stale(error) {
            return None;
        }
        let key = Key {
            scope,
            kind: T::KIND,
            id: id.into(),
        };
        let entry = self.inner.as_ref()?.get(&key).await?;
        self.serve_stale(&key, &entry, error);
        T::unwrap(entry.value)
    }

    /// Fetches `key` (one flight per key) and stores the result.
    async fn refetch<T, F, Fut>(&self, key: Key, fetch: F) -> FetchFlight
    where
        T: Cacheable,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Fetched<T>, UpstreamError>> + Send + 'static,
    {
        let this = self.clone();
        let flights = Arc::clone(&self.flights);
        let (kind, deadline) = (key.kind, crate::deadline::current());
        let flight = flights.run(key.clone(), move || async move {
            let cache = this.inner.as_ref().expect("only a real cache refetches");
            // A flight that finished just before this one started has
            // stored a fresh value already: serve that instead.
            if let Some(entry) = cache.get(&key).await {
                if this.is_fresh(&key, &entry) {
                    return Ok(entry);
                }
            }
            let heard = this.lease.as_ref().map(|v| v.heard_so_far());
            let (fetched, age) = this.fetch_once(&key, fetch).await.map_err(Arc::new)?;
            let mut entry = this.entry(&key, T::wrap(Arc::new(fetched.value)));
            if let Some(age) = age {
                entry.age(age);
            }
            if heard != this.lease.as_ref().map(|v| v.heard_so_far()) {
                // A change was heard while this was fetched: it may be
                // from before the change, and lives by its TTL.
                entry.leased = 0;
            }
            cache.insert(key, entry.clone()).await;
            this.changed();
            Ok(entry)
        });
        // A request joining a flight that another (or background work)
        // leads waits no longer than its own deadline (and a moment, so
        // that a leader of the same deadline says why it failed itself).
        match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(std::time::Instant::now())
                    + Duration::from_millis(50);
                tokio::time::timeout(left, flight)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Arc::new(UpstreamError::Timeout {
                            route: kind.name(),
                            timeout: left,
                        }))
                    })
            }
            None => flight.await,
        }
    }

    /// Fetches `key`'s value, once for all replicas when they share a cache
    /// (with how long ago another replica fetched it, if one did).
    async fn fetch_once<T, F, Fut>(
        &self,
        key: &Key,
        fetch: F,
    ) -> Result<(Fetched<T>, Option<Duration>), UpstreamError>
    where
        T: Cacheable,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Fetched<T>, UpstreamError>>,
    {
        self.fetch_shared(key.scope, key.kind, &key.id, fetch).await
    }

    /// The replicas' shared cache and its key for the value of `kind`
    /// under `id` in `scope`, when it holds such values.
    fn shared_key(&self, scope: Scope, kind: Kind, id: &str) -> Option<(&Shared, String)> {
        let shared = self.shared.as_deref()?;
        Some((shared, shared.key(scope, kind, id)?))
    }

    /// `fetch`'s value of kind `kind` under `id`: once for all replicas
    /// when they share a cache and it is of the gateway's own scope (with
    /// how long ago another replica fetched it, if one did).
    pub(crate) async fn fetch_shared<V, F, Fut>(
        &self,
        scope: Scope,
        kind: Kind,
        id: &str,
        fetch: F,
    ) -> Result<(Fetched<V>, Option<Duration>), UpstreamError>
    where
        V: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched<V>, UpstreamError>>,
    {
        let Some((shared, name)) = self.shared_key(scope, kind, id) else {
            return fetch().await.map(|fetched| (fetched, None));
        };
        let once = shared
            .redis
            .fetch_once(
                &name,
                self.ttl.of(kind),
                fetch,
                |fetched: &Fetched<V>| serde_json::to_vec(&fetched.value).ok(),
                |bytes| {
                    let value = serde_json::from_slice(bytes).ok()?;
                    Some(Fetched {
                        value,
                        bytes: bytes.len(),
                    })
                },
            )
            .await?;
        Ok((once.value, once.age))
    }

    fn serve_stale(&self, key: &Key, entry: &CacheEntry, error: &UpstreamError) {
        self.metrics.cache_stale_served.inc();
        let stale_for = entry
            .created
            .elapsed()
            .saturating_sub(self.ttl.of(key.kind));
        tracing::warn!(
            kind = key.kind.name(),
            id = &*key.id,
            stale_ms = stale_for.as_millis() as u64,
            code = error.code(),
            "upstream failed; serving an expired cache entry"
        );
        crate::freshness::note_stale(crate::freshness::StaleRead {
            kind: key.kind.name(),
            id: key.id.to_string(),
            stale_for,
            upstream_code: error.code(),
        });
    }

    /// Refetches `key` in the background, with backoff, until it succeeds
    /// or the entry's grace is over. One task per key; bounded in number.
    fn retry_in_background<T, F, Fut>(&self, key: Key, fetch: F)
    where
        T: Cacheable,
        F: Fn() -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Fetched<T>, UpstreamError>> + Send + 'static,
    {
        {
            let mut refreshing = self.refreshing.lock().expect("refreshing lock");
            if refreshing.len() >= MAX_BACKGROUND_REFRESHES || !refreshing.insert(key.clone()) {
                return;
            }
        }
        let this = self.clone();
        let deadline = Instant::now() + self.ttl.grace;
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(250);
            while Instant::now() + wait < deadline {
                tokio::time::sleep(wait).await;
                match this.refetch(key.clone(), fetch.clone()).await {
                    Ok(_) => break,
                    Err(e) if !serves_stale(&e) => break,
                    Err(_) => wait = (wait * 2).min(Duration::from_secs(10)),
                }
            }
            this.refreshing
                .lock()
                .expect("refreshing lock")
                .remove(&key);
        });
    }

    fn is_fresh(&self, key: &Key, entry: &CacheEntry) -> bool {
        self.leased_for(key, entry).is_some() || entry.created.elapsed() < self.ttl.of(key.kind)
    }

    fn leased_for(&self, key: &Key, entry: &CacheEntry) -> Option<Duration> {
        self.lease.as_ref()?.leased_for(key, entry)
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

    /// Tells the current response how much longer this entry stays fresh.
    fn note_freshness(&self, key: &Key, entry: &CacheEntry) {
        if let Some(leased) = self.leased_for(key, entry) {
            crate::freshness::note_pushed(leased);
            return;
        }
        let remaining = self
            .ttl
            .of(key.kind)
            .saturating_sub(crate::freshness::now().saturating_duration_since(entry.created));
        crate::freshness::note(remaining);
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
mod tests {
    use super::*;

    #[test]
    fn both_forms_of_a_conversation_share_one_change_tag_and_users_have_none() {
        let a = Kind::Conversation.tag("a").expect("a tag");
        assert_ne!(Some(a), Kind::Conversation.tag("b"));
        assert_eq!(Kind::CobrowseConversation.tag("a"), Some(a));
        assert_eq!(Kind::User.tag("a"), None);
    }
    use crate::upstream::model::User;

    fn settings(max_entries: u64, max_bytes: u64) -> CacheSettings {
        CacheSettings {
            enabled: true,
            max_entries,
            max_bytes,
            live_ttl: Duration::from_secs(60),
            directory_ttl: Duration::from_secs(60),
            stale_grace: Duration::ZERO,
        }
    }

    /// `n` users, each holding a name of `bytes` bytes.
    async fn fill(cache: &Cache, n: usize, bytes: usize) {
        let scope = Scope::of(&["test"]);
        for i in 0..n {
            let user = User {
                name: Some("x".repeat(bytes)),
                ..User::default()
            };
            cache.insert(scope, &i.to_string(), Arc::new(user)).await;
        }
    }

    #[test]
    fn an_entry_weighs_what_it_holds_in_memory_not_its_size_on_the_wire() {
        use crate::upstream::model::Listing;
        // A listing of 2,000 conversations as the simulator writes them.
        let world = crate::sim::data::World::generate(40, 7, chrono::Utc::now());
        let views: Vec<CobrowseConversation> = world
            .conversations
            .iter()
            .map(|c| c.view.clone())
            .cycle()
            .take(2_000)
            .collect();
        let wire = serde_json::to_vec(&serde_json::json!({ "entities": views })).unwrap();
        let before = crate::test_alloc::held();
        let page: Listing<CobrowseConversation> = serde_json::from_slice(&wire).unwrap();
        let listing = Arc::new(ActiveListing {
            entries: page
                .entities
                .into_iter()
                .map(|v| Listed::View(Arc::new(v)))
                .collect(),
            cut: false,
        });
        let held = (crate::test_alloc::held() - before) as f64;
        let weight = Value::ActiveListing(Arc::clone(&listing)).weight() as f64;
        println!(
            "2,000 views: {} bytes on the wire, {held} held in memory, weighed {weight}",
            wire.len()
        );
        assert!(
            weight >= 0.8 * held && weight <= 1.25 * held,
            "weighed {weight} bytes for {held} held"
        );
        assert!(
            held > 2.0 * wire.len() as f64,
            "the wire size ({}) is not what is held ({held})",
            wire.len()
        );
    }

    #[tokio::test]
    async fn entry_count_is_bounded_even_for_tiny_values() {
        let cache = Cache::new(&settings(10, 1_000_000), Arc::default());
        fill(&cache, 100, 1).await;
        let (entries, _) = cache.size().await;
        assert!(entries <= 10, "{entries} entries held");
    }

    #[tokio::test]
    async fn bytes_are_bounded_for_large_values() {
        let cache = Cache::new(&settings(1_000, 100_000), Arc::default());
        fill(&cache, 100, 10_000).await;
        let (entries, bytes) = cache.size().await;
        assert!(bytes <= 100_000, "{bytes} bytes held");
        assert!(entries <= 10, "{entries} entries held");
    }

    #[tokio::test]
    async fn scopes_do_not_share_entries() {
        let cache = Cache::new(&settings(10, 1_000_000), Arc::default());
        let (a, b) = (Scope::of(&["a"]), Scope::of(&["b"]));
        cache.insert(a, "u1", Arc::new(User::default())).await;
        assert!(cache.get::<User>(a, "u1").await.is_some());
        assert!(cache.get::<User>(b, "u1").await.is_none());
    }

    #[tokio::test]
    async fn the_version_changes_with_every_store_invalidation_clear_eviction_and_lease_change() {
        let lease = Arc::new(PushLease::new(Scope::of(&["test"])));
        let cache =
            Cache::new(&settings(10, 1_000_000), Arc::default()).leased_by(Arc::clone(&lease));
        let scope = Scope::of(&["test"]);
        let mut last = cache.version();
        let mut changed_if = |cache: &Cache, changes: bool, what: &str| {
            let now = cache.version();
            assert_eq!(now != last, changes, "{what}: {now:?} after {last:?}");
            last = now;
        };
        cache.insert(scope, "u1", Arc::new(User::default())).await;
        changed_if(&cache, true, "a store");
        assert!(cache.get::<User>(scope, "u1").await.is_some());
        let mut noted = ReadFreshness::default();
        assert!(cache
            .peek::<User>(scope, &"u1".into(), &mut noted)
            .await
            .is_some());
        assert!(noted.fresh_until.is_some());
        changed_if(&cache, false, "reads");
        cache.invalidate(scope, Kind::User, "u1").await;
        changed_if(&cache, true, "an invalidation");
        cache.clear();
        changed_if(&cache, true, "forgetting everything");
        let fetched = cache
            .get_or_fetch(scope, "u2", || async {
                Ok(Fetched {
                    value: User::default(),
                    bytes: 10,
                })
            })
            .await;
        assert!(fetched.is_ok());
        changed_if(&cache, true, "a fetch");
        lease.extend(Instant::now() + Duration::from_secs(60));
        lease.cover(HashSet::from([Arc::from("c1")]));
        changed_if(&cache, true, "what the lease covers");
        lease.revoke();
        changed_if(&cache, true, "a revoked lease");
        // 100 stores into room for 10: each eviction counts too.
        let before = cache.version().held;
        fill(&cache, 100, 1).await;
        let (held, _) = cache.size().await;
        let evicted = 100 - held;
        assert!(evicted >= 90, "{held} held");
        assert!(
            cache.version().held - before >= 100 + evicted,
            "{} changes counted for 100 stores and {evicted} evictions",
            cache.version().held - before
        );
    }

    #[tokio::test]
    async fn renoting_notes_what_the_reads_noted_while_it_is_fresh_and_nothing_after() {
        let cache = Cache::new(&settings(10, 1_000_000), Arc::default());
        let scope = Scope::of(&["test"]);
        // Fresh for 150 ms more.
        let age = Duration::from_secs(60) - Duration::from_millis(150);
        let user = Arc::new(User::default());
        cache.insert_aged(scope, "u1", user, Some(age)).await;
        let mut noted = ReadFreshness::default();
        assert!(cache
            .peek::<User>(scope, &"u1".into(), &mut noted)
            .await
            .is_some());
        // What a read of the engine notes, as of the same instant.
        let engine = crate::freshness::Freshness::default();
        let ours = engine.as_of();
        let cache2 = cache.clone();
        engine
            .clone()
            .scope(async move { cache2.get::<User>(scope, "u1").await })
            .await
            .expect("fresh");
        assert!(ours.clone().scope(async { cache.note_again(&noted) }).await);
        assert_eq!(ours.shortest(), engine.shortest());
        assert!(ours.shortest().expect("noted") <= Duration::from_millis(150));
        // Past its TTL, as a read would find it: nothing is noted.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(cache.get::<User>(scope, "u1").await.is_none());
        let late = crate::freshness::Freshness::default();
        assert!(!late.clone().scope(async { cache.note_again(&noted) }).await);
    }
}
