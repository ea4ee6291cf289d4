//! API keys, stored as SHA-256 digests.
//!
//! The gateway never holds a key itself: `auth.api_keys_file` lists each
//! key's id, the hex SHA-256 of the key and its scopes. Keys are long and
//! random (`cobrowse-gateway api-key` makes one), so one round of SHA-256 is
//! the right hash, as it is for GitHub's and Stripe's tokens: a slow
//! password hash would buy nothing and cost every request. A lookup by
//! digest reveals nothing an attacker could use: they would need a key whose
//! digest matches.
//!
//! ```toml
//! [[key]]
//! id = "ops-dashboard"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! scopes = ["read"]
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use rand::Rng as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AuthError, Permissions};

/// The prefix of keys `cobrowse-gateway api-key` makes (so that leaked keys
/// are easy to spot in code and logs).
pub(crate) const KEY_PREFIX: &str = "cbg_";

/// The configured keys, by digest.
#[derive(Default)]
pub struct ApiKeys {
    by_digest: HashMap<[u8; 32], (Arc<str>, Permissions)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    sha256: String,
    scopes: Vec<String>,
}

impl ApiKeys {
    /// Reads a keys file. Every entry must have an id, a 64-hex-digit
    /// digest and known scopes; ids and digests must be unique.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read auth.api_keys_file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("auth.api_keys_file {}", path.display()))
    }

    /// Parses a keys file's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: File = toml::from_str(text).context("not a valid keys file")?;
        let mut keys = Self::default();
        let mut ids = std::collections::HashSet::new();
        for (index, entry) in file.key.into_iter().enumerate() {
            let at = || format!("key {} ({:?})", index + 1, entry.id);
            if entry.id.trim().is_empty() {
                anyhow::bail!("key {}: `id` must not be empty", index + 1);
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(entry.sha256.trim(), &mut digest)
                .with_context(|| format!("{}: `sha256` must be 64 hex digits", at()))?;
            let mut permissions = Permissions::none();
            for scope in &entry.scopes {
                let granted = Permissions::parse_scope(scope).with_context(|| {
                    format!(
                        "{}: unknown scope {scope:?} (read, write, webhooks:admin)",
                        at()
                    )
                })?;
                permissions = permissions.union(granted);
            }
            if !ids.insert(entry.id.clone()) {
                anyhow::bail!("{}: the id appears twice", at());
            }
            let id: Arc<str> = Arc::from(format!("key:{}", entry.id));
            if keys.by_digest.insert(digest, (id, permissions)).is_some() {
                anyhow::bail!("{}: the same key appears twice", at());
            }
        }
        Ok(keys)
    }

    /// Whether no key is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The caller a key belongs to.
    pub fn check(&self, key: &str) -> Result<(Arc<str>, Permissions), AuthError> {
        self.by_digest
            .get(&digest(key))
            .cloned()
            .ok_or_else(|| AuthError::Invalid("the API key is not known".into()))
    }
}

/// The SHA-256 of a key.
pub(crate) fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key: the prefix and 32 random bytes, base64url.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The keys-file entry of a key.
pub fn entry(id: &str, key: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "[[key]]\nid = {id:?}\nsha256 = \"{}\"\nscopes = [{}]\n",
        hex::encode(digest(key)),
        scopes.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_checks_against_its_entry_and_no_other_key_does() {
        let key = generate();
        assert!(key.starts_with(KEY_PREFIX) && key.len() > 40);
        let keys = ApiKeys::parse(&entry("ops", &key, &["read", "webhooks:admin"])).unwrap();
        let (id, permissions) = keys.check(&key).unwrap();
        assert_eq!(&*id, "key:ops");
        assert!(permissions.contains(Permissions::READ));
        assert!(permissions.contains(Permissions::WEBHOOKS_ADMIN));
        assert!(!permissions.contains(Permissions::WRITE));
        assert!(keys.check(&generate()).is_err());
    }

    #[test]
    fn a_bad_keys_file_names_the_entry_and_the_problem() {
        let unknown = "[[key]]\nid = \"a\"\nsha256 = \"00\"\nscopes = [\"read\"]\n";
        let error = format!("{:#}", ApiKeys::parse(unknown).err().unwrap());
        assert!(
            error.contains("key 1 (\"a\")") && error.contains("64 hex"),
            "{error}"
        );
        let scope = entry("a", "k", &["admin"]);
        let error = format!("{:#}", ApiKeys::parse(&scope).err().unwrap());
        assert!(error.contains("unknown scope \"admin\""), "{error}");
        let twice = format!(
            "{}{}",
            entry("a", "k", &["read"]),
            entry("b", "k", &["read"])
        );
        let error = format!("{:#}", ApiKeys::parse(&twice).err().unwrap());
        assert!(error.contains("same key appears twice"), "{error}");
    }
}
