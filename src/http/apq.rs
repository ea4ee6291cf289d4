//! Automatic persisted queries (Apollo's APQ protocol).
//!
//! A client sends `extensions.persistedQuery = { version: 1, sha256Hash }`.
//! Without `query`, the gateway looks the hash up and answers
//! `PersistedQueryNotFound` when it does not know it; with `query`, it checks
//! that the hash matches and remembers the query. The store is a moka cache
//! bounded by the bytes of query text it holds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;

/// Why a persisted query could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ApqError {
    /// The hash is not (or no longer) known: send the query with it.
    NotFound,
    /// The query's hash is not the one given.
    HashMismatch,
    /// The extension is not version 1 with a hex SHA-256.
    Invalid(&'static str),
    /// No query and no persisted query.
    MissingQuery,
}

/// The persisted query store.
pub(crate) struct PersistedQueries {
    store: moka::sync::Cache<[u8; 32], Arc<str>>,
    metrics: Arc<Metrics>,
    /// Several replicas: queries registered on any of them, in Redis (a
    /// query registered on one replica is found by the next it asks).
    shared: Option<Arc<crate::redis_state::RedisState>>,
}

impl PersistedQueries {
    /// A store holding at most `max_bytes` of query text.
    pub(crate) fn new(
        max_bytes: u64,
        metrics: Arc<Metrics>,
        shared: Option<Arc<crate::redis_state::RedisState>>,
    ) -> Self {
        let store = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, query: &Arc<str>| u32::try_from(query.len() + 64).unwrap_or(u32::MAX))
            .time_to_idle(Duration::from_secs(24 * 3600))
            .build();
        Self {
            store,
            metrics,
            shared,
        }
    }

    /// The query text to run, from `query` and/or the APQ extension.
    pub(crate) async fn resolve(
        &self,
        query: Option<String>,
        extensions: Option<&Map<String, Value>>,
    ) -> Result<Arc<str>, ApqError> {
        let Some(persisted) = extensions.and_then(|e| e.get("persistedQuery")) else {
            return query.map(Arc::from).ok_or(ApqError::MissingQuery);
        };
        let hash = parse_extension(persisted)?;
        match query {
            Some(query) => {
                let actual: [u8; 32] = Sha256::digest(query.as_bytes()).into();
                if actual != hash {
                    return Err(ApqError::HashMismatch);
                }
                let query: Arc<str> = Arc::from(query);
                self.store.insert(hash, Arc::clone(&query));
                self.count("registered");
                if let Some(shared) = &self.shared {
                    shared.put_query(&hash, &query).await;
                }
                Ok(query)
            }
            None => {
                if let Some(query) = self.store.get(&hash) {
                    self.count("hit");
                    return Ok(query);
                }
                if let Some(query) = self.shared_query(&hash).await {
                    self.count("shared_hit");
                    return Ok(query);
                }
                self.count("miss");
                Err(ApqError::NotFound)
            }
        }
    }

    /// The query another replica registered under `hash`, checked against
    /// it (what Redis holds is not trusted to be what it should be).
    async fn shared_query(&self, hash: &[u8; 32]) -> Option<Arc<str>> {
        let text = self.shared.as_ref()?.query(hash).await?;
        let actual: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if &actual != hash {
            return None;
        }
        let query: Arc<str> = Arc::from(text);
        self.store.insert(*hash, Arc::clone(&query));
        Some(query)
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .queries
            .persisted
            .with_label_values(&[outcome])
            .inc();
    }
}

fn parse_extension(value: &Value) -> Result<[u8; 32], ApqError> {
    let object = value
        .as_object()
        .ok_or(ApqError::Invalid("`persistedQuery` must be an object"))?;
    if object.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(ApqError::Invalid(
            "only `persistedQuery.version` 1 is supported",
        ));
    }
    let hex_hash = object
        .get("sha256Hash")
        .and_then(Value::as_str)
        .ok_or(ApqError::Invalid(
            "`persistedQuery.sha256Hash` must be a string",
        ))?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut hash)
        .map_err(|_| ApqError::Invalid("`persistedQuery.sha256Hash` must be 64 hex digits"))?;
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn extensions(hash: &str) -> Map<String, Value> {
        json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
            .as_object()
            .expect("object")
            .clone()
    }

    #[tokio::test]
    async fn a_query_is_registered_once_and_found_by_its_hash() {
        let apq = PersistedQueries::new(1024, Arc::default(), None);
        let query = "{ __typename }";
        let hash = hex::encode(Sha256::digest(query));
        assert_eq!(
            apq.resolve(None, Some(&extensions(&hash))).await,
            Err(ApqError::NotFound)
        );
        assert_eq!(
            apq.resolve(Some(query.into()), Some(&extensions(&hash)))
                .await
                .as_deref(),
            Ok(query)
        );
        assert_eq!(
            apq.resolve(None, Some(&extensions(&hash))).await.as_deref(),
            Ok(query)
        );
        assert_eq!(
            apq.resolve(Some("{ other }".into()), Some(&extensions(&hash)))
                .await,
            Err(ApqError::HashMismatch)
        );
        assert!(matches!(
            apq.resolve(None, Some(&extensions("zz"))).await,
            Err(ApqError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn the_store_is_bounded_by_bytes() {
        let apq = PersistedQueries::new(4096, Arc::default(), None);
        for i in 0..1000 {
            let query = format!("{{ __typename # {i:0>100} }}");
            let hash = hex::encode(Sha256::digest(&query));
            apq.resolve(Some(query), Some(&extensions(&hash)))
                .await
                .expect("registered");
        }
        apq.store.run_pending_tasks();
        assert!(
            apq.store.weighted_size() <= 4096,
            "{}",
            apq.store.weighted_size()
        );
    }
}
