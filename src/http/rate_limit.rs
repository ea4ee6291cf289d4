//! Per-caller rate limits: a token bucket per caller id.
//!
//! The bucket is kept as GCRA (the generic cell rate algorithm): one
//! "theoretical arrival time" per caller in an atomic, updated with a
//! compare-and-swap, so a check takes no lock. A caller may make
//! `burst` requests at once and `rate` per second sustained; a refused
//! request learns how long to wait. Buckets live in a bounded moka cache and
//! are dropped once idle for longer than a full bucket takes to refill.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most callers whose buckets are kept at once.
const MAX_CALLERS: u64 = 100_000;

/// Rate limits per caller.
pub(crate) struct RateLimiter {
    /// Nanoseconds between requests at the sustained rate.
    interval: u64,
    /// Nanoseconds of requests a full bucket holds (`burst` intervals).
    capacity: u64,
    epoch: Instant,
    buckets: moka::sync::Cache<Arc<str>, Arc<AtomicU64>>,
    /// Several replicas: one bucket per caller for all of them, in Redis
    /// (this replica's own bucket while Redis does not answer).
    shared: Option<Arc<crate::redis_state::RedisState>>,
}

impl RateLimiter {
    /// `rate` requests per second sustained, `burst` at once. `None` when
    /// `rate` is zero (no limit).
    pub(crate) fn new(
        rate: f64,
        burst: u32,
        shared: Option<Arc<crate::redis_state::RedisState>>,
    ) -> Option<Self> {
        if rate <= 0.0 {
            return None;
        }
        let interval = (1e9 / rate).max(1.0) as u64;
        let capacity = interval.saturating_mul(u64::from(burst.max(1)));
        Some(Self {
            interval,
            capacity,
            epoch: Instant::now(),
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_CALLERS)
                .time_to_idle(Duration::from_nanos(capacity).max(Duration::from_secs(1)))
                .build(),
            shared,
        })
    }

    /// Takes one request from `caller`'s bucket: the one all replicas
    /// share when Redis answers, else this replica's own.
    pub(crate) async fn admit(&self, caller: &Arc<str>) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            let (interval, capacity) = (
                Duration::from_nanos(self.interval),
                Duration::from_nanos(self.capacity),
            );
            if let Some(outcome) = shared.take(caller, interval, capacity).await {
                return outcome;
            }
        }
        self.check(caller)
    }

    /// Takes one request from `caller`'s bucket, or says how long to wait.
    pub(crate) fn check(&self, caller: &Arc<str>) -> Result<(), Duration> {
        let bucket = self
            .buckets
            .get_with_by_ref(caller, || Arc::new(AtomicU64::new(0)));
        let now = self.epoch.elapsed().as_nanos() as u64;
        let mut tat = bucket.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now) + self.interval;
            // The request fits when, with it, the bucket holds no more
            // than its capacity of future requests.
            let allowed_from = next.saturating_sub(self.capacity);
            if now < allowed_from {
                return Err(Duration::from_nanos(allowed_from - now));
            }
            match bucket.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_its_burst_then_waits_about_one_interval_and_others_are_unaffected() {
        let limiter = RateLimiter::new(10.0, 5, None).unwrap();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        for _ in 0..5 {
            limiter.check(&a).unwrap();
        }
        let wait = limiter.check(&a).unwrap_err();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        limiter.check(&b).unwrap();
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimiter::new(0.0, 10, None).is_none());
    }
}
