//! Whole-response cache for hot, repeated queries (dashboards polling).
//!
//! A successful query's body is kept under a key made of the document, the
//! operation name, the variables (canonical JSON) and the credential scope,
//! for exactly as long as its `Cache-Control: max-age` says: the shortest
//! remaining TTL of the upstream data it read. Responses with errors, with
//! pushed (webhook) data (max-age 0) and mutations are never kept. A kept
//! response remembers what live upstream values it read; a mutation that
//! changed one of them upstream makes it stale ([`Changes`]), so a client
//! never reads its own write from before the write, while responses that
//! read nothing it changed stay. The cache is bounded by bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::changes::{Changes, Reads};

/// A kept response.
#[derive(Clone)]
struct CachedResponse {
    body: Bytes,
    stored: Instant,
    /// How long it is kept.
    max_age: Duration,
    /// How long a client may cache it (shorter when pushed events keep
    /// what it read fresh: they reach the gateway, not the client).
    client_max_age: Duration,
    /// The epoch of [`Changes`] its request started in, and what it read.
    epoch: u64,
    reads: Arc<Reads>,
}

struct UntilMaxAge;

impl Expiry<[u8; 32], CachedResponse> for UntilMaxAge {
    fn expire_after_create(
        &self,
        _: &[u8; 32],
        kept: &CachedResponse,
        _: Instant,
    ) -> Option<Duration> {
        Some(kept.max_age)
    }
}

/// The response cache.
pub(crate) struct ResponseCache {
    store: moka::sync::Cache<[u8; 32], CachedResponse>,
    changes: Arc<Changes>,
}

/// A cached body and how much longer a client may cache it.
pub(crate) struct Hit {
    pub body: Bytes,
    pub remaining: Duration,
}

/// How long a response is kept, and how long its clients may cache it.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Lifetimes {
    pub keep: Duration,
    pub client: Duration,
}

impl ResponseCache {
    /// A cache holding at most `max_bytes` of response bodies, whose
    /// entries go stale by `changes`.
    pub(crate) fn new(max_bytes: u64, changes: Arc<Changes>) -> Self {
        let store = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, kept: &CachedResponse| {
                u32::try_from(kept.body.len() + 128).unwrap_or(u32::MAX)
            })
            .expire_after(UntilMaxAge)
            .build();
        Self { store, changes }
    }

    /// The key of a request.
    pub(crate) fn key(
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
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Hit> {
        let kept = self.store.get(key)?;
        if !self.changes.unchanged_since(kept.epoch, &kept.reads) {
            self.store.invalidate(key);
            return None;
        }
        let elapsed = kept.stored.elapsed();
        let remaining = kept.max_age.checked_sub(elapsed)?;
        (remaining > Duration::ZERO).then(|| Hit {
            body: kept.body,
            remaining: remaining.min(kept.client_max_age.saturating_sub(elapsed)),
        })
    }

    /// Keeps a response for `max_age` (nothing when it is zero, or when
    /// something it read changed since its request started in `epoch`).
    pub(crate) fn put(
        &self,
        key: [u8; 32],
        body: Bytes,
        lifetimes: Lifetimes,
        epoch: u64,
        reads: Reads,
    ) {
        let max_age = lifetimes.keep;
        if max_age.is_zero() || !self.changes.unchanged_since(epoch, &reads) {
            return;
        }
        self.store.insert(
            key,
            CachedResponse {
                body,
                stored: Instant::now(),
                max_age,
                client_max_age: lifetimes.client.min(max_age),
                epoch,
                reads: Arc::new(reads),
            },
        );
    }

    /// The epoch a request starts in.
    pub(crate) fn epoch(&self) -> u64 {
        self.changes.epoch()
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.store.entry_count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(d: Duration) -> Lifetimes {
        Lifetimes { keep: d, client: d }
    }

    #[test]
    fn a_response_of_pushed_data_is_kept_but_clients_are_told_to_ask_again() {
        let cache = ResponseCache::new(1 << 20, Arc::new(Changes::new()));
        let key = ResponseCache::key(1, 1, "{ a }", None, None);
        let lifetimes = Lifetimes {
            keep: Duration::from_secs(30),
            client: Duration::ZERO,
        };
        cache.put(
            key,
            Bytes::from_static(b"{}"),
            lifetimes,
            cache.epoch(),
            Reads::Tags(Box::new([])),
        );
        let hit = cache.get(&key).expect("kept");
        assert_eq!(hit.remaining, Duration::ZERO);
    }

    #[test]
    fn a_kept_response_is_served_until_its_max_age_or_a_change_to_what_it_read() {
        let changes = Arc::new(Changes::new());
        let cache = ResponseCache::new(1 << 20, Arc::clone(&changes));
        let key = ResponseCache::key(1, 1, "{ a }", None, None);
        let a = crate::cache::Kind::Conversation.tag("a").expect("a tag");
        let b = crate::cache::Kind::Conversation.tag("b").expect("a tag");
        let reads = || Reads::Tags(Box::new([a]));
        cache.put(
            key,
            Bytes::from_static(b"{}"),
            both(Duration::from_secs(5)),
            cache.epoch(),
            reads(),
        );
        let hit = cache.get(&key).expect("kept");
        assert!(hit.remaining <= Duration::from_secs(5) && hit.remaining > Duration::from_secs(4));
        changes.record([b]);
        assert!(cache.get(&key).is_some(), "b changed, the response read a");
        changes.record([a]);
        assert!(
            cache.get(&key).is_none(),
            "stale after a change to what it read"
        );
        let started = cache.epoch();
        cache.put(
            key,
            Bytes::from_static(b"{}"),
            both(Duration::ZERO),
            started,
            reads(),
        );
        assert!(cache.get(&key).is_none(), "max-age 0 is not kept");
        changes.record([a]);
        cache.put(
            key,
            Bytes::from_static(b"{}"),
            both(Duration::from_secs(5)),
            started,
            reads(),
        );
        assert!(
            cache.get(&key).is_none(),
            "computed across a change: not kept"
        );
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
