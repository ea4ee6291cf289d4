//! Whole-response cache for hot, repeated queries (dashboards polling).
//!
//! A successful query's body is kept under a key made of the document, the
//! operation name, the variables (canonical JSON) and the credential scope,
//! for exactly as long as its `Cache-Control: max-age` says: the shortest
//! remaining TTL of the upstream data it read. Responses with errors, with
//! pushed (webhook) data (max-age 0) and mutations are never kept. Any
//! mutation makes every kept response stale at once (a generation bump), so a
//! client never reads its own write from before the write. The cache is
//! bounded by bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A kept response.
#[derive(Clone)]
struct Kept {
    body: Bytes,
    stored: Instant,
    max_age: Duration,
    generation: u64,
}

struct UntilMaxAge;

impl Expiry<[u8; 32], Kept> for UntilMaxAge {
    fn expire_after_create(&self, _: &[u8; 32], kept: &Kept, _: Instant) -> Option<Duration> {
        Some(kept.max_age)
    }
}

/// The response cache.
pub struct ResponseCache {
    store: moka::sync::Cache<[u8; 32], Kept>,
    generation: AtomicU64,
}

/// A cached body and how much longer it stays fresh.
pub struct Hit {
    pub body: Bytes,
    pub remaining: Duration,
}

impl ResponseCache {
    /// A cache holding at most `max_bytes` of response bodies.
    pub fn new(max_bytes: u64) -> Self {
        let store = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, kept: &Kept| u32::try_from(kept.body.len() + 128).unwrap_or(u32::MAX))
            .expire_after(UntilMaxAge)
            .build();
        Self {
            store,
            generation: AtomicU64::new(0),
        }
    }

    /// The key of a request.
    pub fn key(
        scope: u64,
        permissions: u8,
        query: &str,
        operation: Option<&str>,
        variables: Option<&Map<String, Value>>,
    ) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(scope.to_le_bytes());
        hash.update([permissions]);
        hash.update(query.as_bytes());
        hash.update([0]);
        hash.update(operation.unwrap_or_default().as_bytes());
        hash.update([0]);
        if let Some(variables) = variables {
            hash.update(
                crate::canonical::canonical_json(&Value::Object(variables.clone())).as_bytes(),
            );
        }
        hash.finalize().into()
    }

    /// A fresh kept response, if there is one.
    pub fn get(&self, key: &[u8; 32]) -> Option<Hit> {
        let kept = self.store.get(key)?;
        if kept.generation != self.generation.load(Ordering::Acquire) {
            return None;
        }
        let remaining = kept.max_age.checked_sub(kept.stored.elapsed())?;
        (remaining > Duration::ZERO).then(|| Hit {
            body: kept.body,
            remaining,
        })
    }

    /// Keeps a response for `max_age` (nothing when it is zero).
    pub fn put(&self, key: [u8; 32], body: Bytes, max_age: Duration, generation: u64) {
        if max_age.is_zero() || generation != self.generation.load(Ordering::Acquire) {
            return;
        }
        self.store.insert(
            key,
            Kept {
                body,
                stored: Instant::now(),
                max_age,
                generation,
            },
        );
    }

    /// The generation a request starts in (a response computed across a
    /// mutation is not kept).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes every kept response stale (after a mutation).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.store.entry_count())
            .finish()
    }
}

/// Shared handle.
pub type SharedResponseCache = Option<Arc<ResponseCache>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_response_is_served_until_its_max_age_or_a_mutation() {
        let cache = ResponseCache::new(1 << 20);
        let key = ResponseCache::key(1, 1, "{ a }", None, None);
        cache.put(
            key,
            Bytes::from_static(b"{}"),
            Duration::from_secs(5),
            cache.generation(),
        );
        let hit = cache.get(&key).expect("kept");
        assert!(hit.remaining <= Duration::from_secs(5) && hit.remaining > Duration::from_secs(4));
        cache.invalidate_all();
        assert!(cache.get(&key).is_none(), "stale after a mutation");
        cache.put(
            key,
            Bytes::from_static(b"{}"),
            Duration::ZERO,
            cache.generation(),
        );
        assert!(cache.get(&key).is_none(), "max-age 0 is not kept");
    }

    #[test]
    fn keys_differ_by_variables_operation_scope_and_permissions_but_not_variable_order() {
        let vars = |v: serde_json::Value| v.as_object().expect("object").clone();
        let a = ResponseCache::key(
            1,
            1,
            "q",
            Some("Op"),
            Some(&vars(serde_json::json!({ "x": 1, "y": 2 }))),
        );
        let b = ResponseCache::key(
            1,
            1,
            "q",
            Some("Op"),
            Some(&vars(serde_json::json!({ "y": 2, "x": 1 }))),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            ResponseCache::key(
                1,
                1,
                "q",
                Some("Op"),
                Some(&vars(serde_json::json!({ "x": 2, "y": 2 })))
            )
        );
        assert_ne!(
            a,
            ResponseCache::key(
                1,
                1,
                "q",
                Some("Other"),
                Some(&vars(serde_json::json!({ "x": 1, "y": 2 })))
            )
        );
        assert_ne!(
            a,
            ResponseCache::key(
                2,
                1,
                "q",
                Some("Op"),
                Some(&vars(serde_json::json!({ "x": 1, "y": 2 })))
            )
        );
        assert_ne!(
            a,
            ResponseCache::key(
                1,
                3,
                "q",
                Some("Op"),
                Some(&vars(serde_json::json!({ "x": 1, "y": 2 })))
            )
        );
    }
}
