//! The replicas' state shared in Redis (optional, `redis.url`): state whose loss
//! costs nothing but a moment of per-replica behaviour: each caller's
//! rate-limit bucket, one for all replicas, the automatic persisted
//! queries any replica registered, and a second-level cache of upstream
//! values, fetched once for all replicas. Redis that is down, slow or
//! failing never fails a request: the call falls back to this replica's own
//! state, with a warning (at most one a minute) and
//! `cobrowse_gateway_redis_fallbacks_total{use}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use tracing::warn;

use crate::metrics::Metrics;

/// GCRA over one key, in Redis's own clock (microseconds): the wait in
/// microseconds, 0 when the request fits. ARGV: interval, capacity.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next = tat + interval
local allowed_from = next - capacity
if now < allowed_from then return allowed_from - now end
redis.call('SET', KEYS[1], next, 'PX', math.floor((next - now) / 1000) + 1000)
return 0
";

/// A shared-cache read that claims the fetch on a miss: `{1, value, ms
/// left}` when some replica stored it, `{2}` when this caller is to fetch
/// it (it holds the fetch lock now), `{0}` when another replica is
/// fetching it. KEYS: value, lock; ARGV: lock holder, lock ms.
const CLAIM: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return {1, v, redis.call('PTTL', KEYS[1])} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0}
";

/// Stores a fetched value only while its fetcher still holds the fetch
/// lock (a change forgets the lock with the value, so a fetch that began
/// before the change cannot store what it read), and lets the lock go.
/// KEYS: value, lock; ARGV: holder, value, ms to live (no value: only
/// lets go).
const DELIVER: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if ARGV[2] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
redis.call('DEL', KEYS[2])
return 1
";

/// How long a replica waits for another's fetch of the same value before
/// it fetches for itself (also how long a fetch lock lives, should its
/// holder die).
const FETCH_WAIT: Duration = Duration::from_secs(5);

/// How long Redis is left alone after it failed to answer.
const REST: Duration = Duration::from_secs(1);

/// The longest pause between two looks at another replica's fetch.
const MAX_PAUSE: Duration = Duration::from_millis(25);

/// What the shared cache said of a value.
enum Claim {
    /// Stored by some replica, with this long left to live.
    Found(Vec<u8>, Duration),
    /// Not stored: this replica fetches it.
    Mine,
    /// Another replica is fetching it.
    Taken,
    /// Redis cannot say.
    Unknown,
}

/// The shared cache's value and fetch-lock keys for `key`.
fn keys(key: &str) -> (String, String) {
    (
        format!("cobrowse:cache:{key}"),
        format!("cobrowse:fetching:{key}"),
    )
}

/// A value fetched once for every replica ([`RedisState::fetch_once`]).
pub(crate) struct FetchedOnce<V> {
    pub value: V,
    /// Another replica fetched it: this long ago, by its TTL.
    pub age: Option<Duration>,
}

/// Redis, when it answers.
pub(crate) struct RedisState {
    connection: tokio::sync::OnceCell<ConnectionManager>,
    client: redis::Client,
    timeout: Duration,
    metrics: Arc<Metrics>,
    take: redis::Script,
    claim: redis::Script,
    deliver: redis::Script,
    /// This replica's name as a fetch lock's holder.
    me: String,
    /// Milliseconds since `epoch` of the last warning.
    warned_ms: AtomicU64,
    /// Milliseconds since `epoch` until which Redis is not asked (it
    /// failed just before: a Redis that is down or slow costs one timeout
    /// per [`REST`], not one per use).
    resting_until_ms: AtomicU64,
    epoch: Instant,
}

impl RedisState {
    /// A handle on the Redis at `url` (checked, not connected: the first use
    /// connects, and a Redis down at start-up is only a fallback).
    pub(crate) fn new(url: &str, timeout: Duration, metrics: Arc<Metrics>) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis.url: {e}"))?;
        Ok(Self {
            connection: tokio::sync::OnceCell::new(),
            client,
            timeout,
            metrics,
            take: redis::Script::new(TAKE),
            claim: redis::Script::new(CLAIM),
            deliver: redis::Script::new(DELIVER),
            me: format!("{:016x}", rand::random::<u64>()),
            warned_ms: AtomicU64::new(0),
            resting_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Takes one request from `caller`'s shared bucket (`interval` between
    /// requests, `capacity` of a full bucket): `Some(Ok)` it fits,
    /// `Some(Err(wait))` it does not, `None` Redis cannot say.
    pub(crate) async fn take(
        &self,
        caller: &str,
        interval: Duration,
        capacity: Duration,
    ) -> Option<Result<(), Duration>> {
        let key = format!("cobrowse:rate:{caller}");
        let (take, interval, capacity) = (
            &self.take,
            interval.as_micros() as u64,
            capacity.as_micros() as u64,
        );
        let outcome = self
            .call("rate_limit", |mut connection| async move {
                take.key(key)
                    .arg(interval)
                    .arg(capacity)
                    .invoke_async::<u64>(&mut connection)
                    .await
            })
            .await?;
        Some(match outcome {
            0 => Ok(()),
            wait => Err(Duration::from_micros(wait)),
        })
    }

    /// Remembers a persisted query for every replica (a day, as each
    /// replica's own store keeps an idle one).
    pub(crate) async fn put_query(&self, hash: &[u8; 32], query: &str) {
        let key = format!("cobrowse:apq:{}", hex::encode(hash));
        let _ = self
            .call("persisted_query", |mut connection| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(query)
                    .arg("EX")
                    .arg(24 * 3600)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await;
    }

    /// The persisted query some replica remembered under `hash`.
    pub(crate) async fn query(&self, hash: &[u8; 32]) -> Option<String> {
        let key = format!("cobrowse:apq:{}", hex::encode(hash));
        self.call("persisted_query", |mut connection| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(&mut connection)
                .await
        })
        .await
        .flatten()
    }

    /// The value under `key` (in the shared cache: some replica fetched it
    /// within `ttl`), or `fetch`'s, fetched once for all replicas: on a
    /// miss one replica fetches and stores it (`encode`; none: not shared)
    /// while the others wait for it, up to [`FETCH_WAIT`]. A value that
    /// does not decode, a fetch that fails, a wait that runs out and a
    /// Redis that does not answer all end in this replica's own fetch;
    /// nothing fails because of Redis.
    pub(crate) async fn fetch_once<V, E, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        fetch: impl FnOnce() -> Fut,
        encode: impl FnOnce(&V) -> Option<Vec<u8>>,
        decode: impl Fn(&[u8]) -> Option<V>,
    ) -> Result<FetchedOnce<V>, E>
    where
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let (value_key, lock_key) = keys(key);
        let deadline = Instant::now() + FETCH_WAIT;
        let mut pause = Duration::from_millis(2);
        let mine = loop {
            match self.claim_fetch(&value_key, &lock_key).await {
                Claim::Found(bytes, left) => {
                    if let Some(value) = decode(&bytes) {
                        self.count_cache("hit");
                        let age = Some(ttl.saturating_sub(left));
                        return Ok(FetchedOnce { value, age });
                    }
                    self.count_cache("undecodable");
                    break false;
                }
                Claim::Mine => break true,
                Claim::Unknown => break false,
                Claim::Taken if Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Claim::Taken => {
                    self.count_cache("wait_ran_out");
                    break false;
                }
            }
        };
        let fetched = fetch().await;
        if mine {
            self.count_cache("fetched");
            let bytes = fetched.as_ref().ok().and_then(encode);
            self.deliver(value_key, lock_key, bytes, ttl).await;
        }
        fetched.map(|value| FetchedOnce { value, age: None })
    }

    /// Drops the shared cache's value under `key` (it changed), and its
    /// fetch lock: a fetch under way began before the change, and will not
    /// store what it read.
    pub(crate) async fn forget(&self, key: &str) {
        let (value_key, lock_key) = keys(key);
        let _ = self
            .call("cache", |mut connection| async move {
                redis::cmd("DEL")
                    .arg(value_key)
                    .arg(lock_key)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await;
    }

    async fn claim_fetch(&self, value_key: &str, lock_key: &str) -> Claim {
        let lock_ms = FETCH_WAIT.as_millis() as u64;
        let claim = &self.claim;
        let answer = self
            .call("cache", |mut connection| async move {
                claim
                    .key(value_key)
                    .key(lock_key)
                    .arg(&self.me)
                    .arg(lock_ms)
                    .invoke_async::<redis::Value>(&mut connection)
                    .await
            })
            .await;
        let Some(redis::Value::Array(parts)) = answer else {
            return Claim::Unknown;
        };
        match parts.as_slice() {
            [redis::Value::Int(1), redis::Value::BulkString(bytes), redis::Value::Int(left)] => {
                let left = Duration::from_millis(u64::try_from(*left).unwrap_or(0));
                Claim::Found(bytes.clone(), left)
            }
            [redis::Value::Int(2)] => Claim::Mine,
            [redis::Value::Int(0)] => Claim::Taken,
            _ => Claim::Unknown,
        }
    }

    /// Stores what this replica fetched (none: it failed, or is not
    /// shared) if it still holds the fetch lock, and lets the lock go.
    async fn deliver(
        &self,
        value_key: String,
        lock_key: String,
        bytes: Option<Vec<u8>>,
        ttl: Duration,
    ) {
        let ttl_ms = (ttl.as_millis() as u64).max(1);
        let deliver = &self.deliver;
        let _ = self
            .call("cache", |mut connection| async move {
                let mut script = deliver.key(value_key);
                script.key(lock_key).arg(&self.me);
                if let Some(bytes) = bytes {
                    script.arg(bytes).arg(ttl_ms);
                }
                script.invoke_async::<i64>(&mut connection).await
            })
            .await;
    }

    fn count_cache(&self, outcome: &str) {
        self.metrics
            .replicas
            .shared_cache
            .with_label_values(&[outcome])
            .inc();
    }

    /// Runs `op` on a connection within the timeout; `None` (and a
    /// fallback counted for `usage`) when Redis does not answer in time.
    async fn call<T, F, Fut>(&self, usage: &str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if self.ms() < self.resting_until_ms.load(Ordering::Relaxed) {
            self.fell_back(usage);
            return None;
        }
        let attempt = async {
            let connection = self
                .connection
                .get_or_try_init(|| ConnectionManager::new(self.client.clone()))
                .await?
                .clone();
            op(connection).await
        };
        let error = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        self.fell_back(usage);
        let now = self.ms();
        self.resting_until_ms
            .store(now + REST.as_millis() as u64, Ordering::Relaxed);
        let last = self.warned_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 60_000)
            && self
                .warned_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            warn!(
                error = error.as_str(),
                usage,
                "Redis (redis.url) is not answering: this replica uses its own state until it does"
            );
        }
        None
    }

    fn fell_back(&self, usage: &str) {
        self.metrics
            .replicas
            .redis_fallbacks
            .with_label_values(&[usage])
            .inc();
    }

    /// Milliseconds since `epoch`.
    fn ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test Redis (`scripts/test` starts one on loopback).
    fn redis() -> RedisState {
        let url = std::env::var("COBROWSE_TEST_REDIS_URL")
            .expect("COBROWSE_TEST_REDIS_URL is not set: run the tests with scripts/test");
        RedisState::new(&url, Duration::from_secs(2), Arc::default()).expect("a Redis URL")
    }

    fn encode(value: &u32) -> Option<Vec<u8>> {
        Some(value.to_string().into_bytes())
    }

    fn decode(bytes: &[u8]) -> Option<u32> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }

    /// Fetches `key` once for all with a fetch of `value` held until
    /// `release`, telling `started` when it began.
    async fn fetch_held(
        redis: &RedisState,
        key: &str,
        value: u32,
        started: tokio::sync::oneshot::Sender<()>,
        release: tokio::sync::oneshot::Receiver<()>,
    ) -> FetchedOnce<u32> {
        let fetch = || async move {
            let _ = started.send(());
            let _ = release.await;
            Ok::<_, ()>(value)
        };
        let ttl = Duration::from_secs(60);
        redis
            .fetch_once(key, ttl, fetch, encode, decode)
            .await
            .expect("fetched")
    }

    async fn fetch_now(redis: &RedisState, key: &str, value: u32) -> FetchedOnce<u32> {
        let fetch = || async move { Ok::<_, ()>(value) };
        let ttl = Duration::from_secs(60);
        redis
            .fetch_once(key, ttl, fetch, encode, decode)
            .await
            .expect("fetched")
    }

    #[tokio::test]
    async fn a_fetch_that_began_before_a_change_does_not_store_what_it_read() {
        let redis = redis();
        for forget in [false, true] {
            let key = format!("test:{:016x}", rand::random::<u64>());
            let (started, began) = tokio::sync::oneshot::channel();
            let (release, released) = tokio::sync::oneshot::channel();
            let change = async {
                began.await.expect("the fetch began");
                if forget {
                    redis.forget(&key).await;
                }
                release.send(()).expect("the fetch waits");
            };
            let (before, ()) = tokio::join!(fetch_held(&redis, &key, 1, started, released), change);
            assert_eq!((before.value, before.age), (1, None), "fetched here");
            let after = fetch_now(&redis, &key, 2).await;
            if forget {
                assert_eq!(
                    (after.value, after.age),
                    (2, None),
                    "what was read before the change is not shared"
                );
            } else {
                assert_eq!(after.value, 1, "shared when nothing changed meanwhile");
                assert!(
                    after.age.is_some(),
                    "and known to come from the shared cache"
                );
            }
        }
    }
}
