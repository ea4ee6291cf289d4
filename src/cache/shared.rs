//! The second level: the gateway's own values shared by the replicas in
//! Redis, fetched once for all of them.

use std::sync::Arc;

use crate::cache::{Kind, Scope};

/// The replicas' shared cache (Redis): the gateway's own scope's values,
/// under a name every replica of the same upstream and client gives them
/// (scopes are hashed per process). Callers' own tokens' values are not
/// shared.
pub(crate) struct Shared {
    pub(super) redis: Arc<crate::redis_state::RedisState>,
    pub(super) scope: Scope,
    pub(super) name: String,
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
    pub(super) fn key(&self, scope: Scope, kind: Kind, id: &str) -> Option<String> {
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
