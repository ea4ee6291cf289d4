//! Reads: a value from the cache or upstream, a peek at what is cached,
//! and the freshness each read notes in the response.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::entry::CacheEntry;
use crate::cache::fetch::serves_stale;
use crate::cache::keys::Key;
use crate::cache::{Cache, Cacheable, ReadFreshness, Scope};
use crate::upstream::{Fetched, UpstreamError};

impl Cache {
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

    pub(super) fn is_fresh(&self, key: &Key, entry: &CacheEntry) -> bool {
        self.leased_for(key, entry).is_some() || entry.created.elapsed() < self.ttl.of(key.kind)
    }

    fn leased_for(&self, key: &Key, entry: &CacheEntry) -> Option<Duration> {
        self.lease.as_ref()?.leased_for(key, entry)
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
}
