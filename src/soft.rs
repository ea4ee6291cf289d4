//! Shared soft state in Redis (optional, `redis.url`): state whose loss
//! costs nothing but a moment of per-replica behaviour: each caller's
//! rate-limit bucket, one for all replicas, and the automatic persisted
//! queries any replica registered. Redis that is down, slow or
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

/// Redis, when it answers.
pub(crate) struct Soft {
    connection: tokio::sync::OnceCell<ConnectionManager>,
    client: redis::Client,
    timeout: Duration,
    metrics: Arc<Metrics>,
    take: redis::Script,
    /// Milliseconds since `epoch` of the last warning.
    warned_ms: AtomicU64,
    epoch: Instant,
}

impl Soft {
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
            warned_ms: AtomicU64::new(0),
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

    /// Runs `op` on a connection within the timeout; `None` (and a
    /// fallback counted for `usage`) when Redis does not answer in time.
    async fn call<T, F, Fut>(&self, usage: &str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
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
        self.metrics
            .replicas
            .redis_fallbacks
            .with_label_values(&[usage])
            .inc();
        let now = self.epoch.elapsed().as_millis() as u64;
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
}
