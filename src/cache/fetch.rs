//! Fetches: one upstream call per key at a time (single-flight), the
//! second level first, and stale-if-error with retries in the background.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::entry::CacheEntry;
use crate::cache::keys::Key;
use crate::cache::{Cache, Cacheable, FetchFlight, Kind, Scope, Shared, MAX_BACKGROUND_REFRESHES};
use crate::upstream::{Fetched, UpstreamError};

/// Whether an error is an outage worth riding out on stale data (and not an
/// answer about the data, like a 404).
pub(super) fn serves_stale(error: &UpstreamError) -> bool {
    matches!(
        error,
        UpstreamError::Unavailable { .. }
            | UpstreamError::Timeout { .. }
            | UpstreamError::RateLimited { .. }
            | UpstreamError::CircuitOpen { .. }
    )
}

impl Cache {
    /// Fetches `key` (one flight per key) and stores the result.
    pub(super) async fn refetch<T, F, Fut>(&self, key: Key, fetch: F) -> FetchFlight
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
    pub(super) fn shared_key(
        &self,
        scope: Scope,
        kind: Kind,
        id: &str,
    ) -> Option<(&Shared, String)> {
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

    pub(super) fn serve_stale(&self, key: &Key, entry: &CacheEntry, error: &UpstreamError) {
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
    pub(super) fn retry_in_background<T, F, Fut>(&self, key: Key, fetch: F)
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
}
