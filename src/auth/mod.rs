//! Who is calling, and what they may do.
//!
//! Every GraphQL request and subscription is authenticated before anything
//! else happens (before the response cache, before parsing). The outcome is
//! a [`Caller`]: an id (for rate limits and logs), its [`Permissions`], and
//! the [`Access`] its upstream reads use. Three modes:
//!
//! - **service**: the gateway reads upstream with its own client
//!   credentials. Callers present a bearer JWT ([`jwt`]: HS256 with a
//!   shared secret, or RS256/ES256 keys from a JWKS file; `exp`, `nbf`,
//!   `iss` and `aud` are checked) or an API key ([`api_keys`], stored as
//!   SHA-256 digests). Scopes in the token or key grant permissions.
//! - **passthrough**: the caller's bearer token is an upstream token. It is
//!   proven once with upstream (`GET /api/v2/tokens/me`, remembered for
//!   `auth.token_check_ttl`), forwarded on every call, and everything
//!   cached from it is scoped to it.
//! - **open**: demo mode without configured authentication. Everyone may do
//!   everything; start-up says so loudly. No other mode may run open.
//!
//! In service mode the key files are watched: when `auth.api_keys_file` or
//! `auth.jwks_file` changes, it is read again ([`Authenticator::reload_if_changed`],
//! every `auth.reload_interval`) and the new keys replace the old ones at
//! once, so a key is added or revoked without a restart. A file that does
//! not load leaves the keys in force as they were.
//!
//! Failures are [`AuthError`]s: `UNAUTHENTICATED`, HTTP 401 for the whole
//! request. A missing permission is checked at the field by the graph's
//! guard (`graph::guard::Needs`), which gives `FORBIDDEN` there; this module
//! knows nothing of GraphQL.

pub mod api_keys;
pub(crate) mod jwt;

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use axum::http::{header, HeaderMap};

use crate::cache::Scope;
use crate::settings::{AuthMode, AuthSettings};
use crate::source::{Access, Source};
use crate::upstream::{Credential, UpstreamError};
use api_keys::ApiKeys;
use jwt::JwtVerifier;

/// What a caller may do: a set of scopes.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u8);

impl Permissions {
    /// Read the graph (queries and subscriptions).
    pub(crate) const READ: Self = Self(1);
    /// Change upstream (mutations on conversations).
    pub(crate) const WRITE: Self = Self(2);
    /// Administer the webhook event store.
    pub(crate) const WEBHOOKS_ADMIN: Self = Self(4);
    /// Everything (open mode).
    pub(crate) const ALL: Self = Self(7);

    const NAMES: [(Self, &'static str); 3] = [
        (Self::READ, "read"),
        (Self::WRITE, "write"),
        (Self::WEBHOOKS_ADMIN, "webhooks:admin"),
    ];

    /// No permission at all.
    pub(crate) const fn none() -> Self {
        Self(0)
    }

    /// Both sets.
    pub(crate) const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every permission of `other` is in `self`.
    pub(crate) fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The permission a scope name grants, if it is one of ours.
    pub fn parse_scope(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(p, _)| *p)
    }

    /// The permissions of a list of scope names; names that are not ours
    /// are ignored (tokens carry scopes of other services too).
    pub(crate) fn from_scopes<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names
            .into_iter()
            .filter_map(Self::parse_scope)
            .fold(Self::none(), Self::union)
    }

    /// The bits, for cache keys.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(p, _)| self.contains(*p))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(" "))
        }
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({self})")
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// Stable within its kind: `key:<id>`, `jwt:<sub>`, `token:<hash>`,
    /// `anonymous`. Rate limits count per id.
    pub(crate) id: Arc<str>,
    pub(crate) permissions: Permissions,
    /// Whose credentials upstream reads carry.
    pub(crate) access: Access,
    /// When the credentials stop admitting the caller by themselves (a
    /// JWT's `exp` plus the leeway), if ever.
    pub(crate) expires: Option<std::time::SystemTime>,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error(
        "authentication is required: send `Authorization: Bearer <token>` or `X-API-Key: <key>`"
    )]
    Missing,
    #[error("the credentials were refused: {0}")]
    Invalid(String),
    /// Upstream could not say whether a passed-through token is good.
    #[error("cannot check the token with upstream: {0}")]
    Upstream(UpstreamError),
}

/// The header an API key may come in (besides `Authorization: Bearer`).
pub(crate) const API_KEY_HEADER: &str = "x-api-key";

/// Credentials as a request presented them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Presented<'a> {
    pub(crate) bearer: Option<&'a str>,
    pub(crate) api_key: Option<&'a str>,
}

impl<'a> Presented<'a> {
    /// The credentials in request headers. A malformed `Authorization`
    /// header is an error, not an absence.
    pub(crate) fn from_headers(headers: &'a HeaderMap) -> Result<Self, AuthError> {
        let bearer = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let value = value.to_str().map_err(|_| {
                    AuthError::Invalid("the Authorization header is not text".into())
                })?;
                let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                    return Err(AuthError::Invalid(
                        "the Authorization header must be `Bearer <token>`".into(),
                    ));
                }
                Some(token.trim())
            }
        };
        let api_key = match headers.get(API_KEY_HEADER) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| AuthError::Invalid("the X-API-Key header is not text".into()))?
                    .trim(),
            ),
        };
        Ok(Self { bearer, api_key })
    }
}

/// Authenticates requests in the configured mode.
pub(crate) struct Authenticator {
    mode: Mode,
    service: Access,
    api_url: String,
    /// Bumped whenever the key files were read again, so that long-lived
    /// connections check their credentials against the new keys.
    changes: tokio::sync::watch::Sender<u64>,
    /// Passthrough: how long upstream's word on a token is trusted.
    token_check_ttl: std::time::Duration,
}

enum Mode {
    Open,
    Service {
        current: RwLock<Arc<ServiceKeys>>,
        settings: Box<AuthSettings>,
        stamps: Mutex<Vec<Option<FileStamp>>>,
    },
    Passthrough {
        /// Tokens upstream accepted within `auth.token_check_ttl`, by scope.
        proven: moka::future::Cache<Scope, ()>,
    },
}

/// What service mode checks credentials against; replaced whole on reload.
struct ServiceKeys {
    keys: ApiKeys,
    jwt: Option<JwtVerifier>,
}

/// Reads the key files as start-up would, without starting anything: how
/// callers will authenticate, in words, or why they cannot.
pub(crate) fn check_offline(settings: &AuthSettings, demo: bool) -> anyhow::Result<String> {
    if settings.mode == AuthMode::Passthrough {
        return Ok("passthrough: callers send their own Genesys Cloud token".to_owned());
    }
    let loaded = ServiceKeys::load(settings)?;
    if loaded.is_empty() {
        if demo {
            return Ok("OPEN (demo mode without auth settings): anyone who can reach the port may read and change everything".to_owned());
        }
        anyhow::bail!("no authentication is configured: set auth.api_keys_file, auth.jwt_secret or auth.jwks_file, or auth.mode = passthrough");
    }
    let mut ways = Vec::new();
    if settings.api_keys_file.is_some() {
        ways.push("API keys".to_owned());
    }
    if loaded.jwt.is_some() {
        ways.push("JWTs".to_owned());
    }
    Ok(format!("service: callers show {}", ways.join(" or ")))
}

impl ServiceKeys {
    fn load(settings: &AuthSettings) -> anyhow::Result<Self> {
        let keys = match &settings.api_keys_file {
            Some(path) => ApiKeys::load(path)?,
            None => ApiKeys::default(),
        };
        Ok(Self {
            keys,
            jwt: JwtVerifier::from_settings(settings)?,
        })
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.jwt.is_none()
    }
}

/// What tells a file changed: modification time, length and inode (a file
/// replaced by a rename has a new one).
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

/// What a look at the key files found.
#[derive(Debug)]
pub(crate) enum Reload {
    /// No file changed (or there are none to watch).
    Unchanged,
    /// A file changed and the new keys are in force.
    Reloaded,
    /// A file changed but did not load; the old keys stay in force.
    Failed(anyhow::Error),
}

/// The most passed-through tokens remembered as proven.
const MAX_PROVEN_TOKENS: u64 = 100_000;

impl Authenticator {
    /// Builds the authenticator. `demo` allows running open when nothing is
    /// configured; otherwise service mode without a JWT key or an API key
    /// is an error.
    pub(crate) fn new(
        settings: &AuthSettings,
        demo: bool,
        service: Access,
        api_url: &str,
    ) -> anyhow::Result<Self> {
        let mode = match settings.mode {
            AuthMode::Passthrough => Mode::Passthrough {
                proven: moka::future::Cache::builder()
                    .max_capacity(MAX_PROVEN_TOKENS)
                    .time_to_live(settings.token_check_ttl)
                    .build(),
            },
            AuthMode::Service => {
                let stamps = Mutex::new(Self::stamps(settings));
                let loaded = ServiceKeys::load(settings)?;
                if loaded.is_empty() {
                    if !demo {
                        anyhow::bail!(
                            "no authentication is configured: set auth.api_keys_file (COBROWSE_AUTH_API_KEYS_FILE), \
                             auth.jwt_secret (COBROWSE_AUTH_JWT_SECRET) or auth.jwks_file (COBROWSE_AUTH_JWKS_FILE), \
                             or auth.mode = passthrough; only demo mode may run open"
                        );
                    }
                    Mode::Open
                } else {
                    Mode::Service {
                        current: RwLock::new(Arc::new(loaded)),
                        settings: Box::new(settings.clone()),
                        stamps,
                    }
                }
            }
        };
        Ok(Self {
            mode,
            service,
            api_url: api_url.to_owned(),
            changes: tokio::sync::watch::channel(0).0,
            token_check_ttl: settings.token_check_ttl,
        })
    }

    fn stamps(settings: &AuthSettings) -> Vec<Option<FileStamp>> {
        [&settings.api_keys_file, &settings.jwks_file]
            .into_iter()
            .map(|path| path.as_deref().and_then(FileStamp::of))
            .collect()
    }

    /// Reads the key files again if one changed since the last look.
    pub(crate) fn reload_if_changed(&self) -> Reload {
        let Mode::Service {
            current,
            settings,
            stamps,
        } = &self.mode
        else {
            return Reload::Unchanged;
        };
        let now = Self::stamps(settings);
        let mut seen = stamps.lock().expect("stamps lock");
        if *seen == now {
            return Reload::Unchanged;
        }
        *seen = now;
        match ServiceKeys::load(settings) {
            Ok(loaded) => {
                *current.write().expect("keys lock") = Arc::new(loaded);
                self.changes.send_modify(|generation| *generation += 1);
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e),
        }
    }

    /// Changes whenever the keys in force change (a key file was read
    /// again).
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// How often a long-lived connection's credentials must be proven
    /// again, besides key changes and expiry: passthrough tokens, every
    /// `auth.token_check_ttl` (upstream may have revoked them).
    pub(crate) fn recheck_every(&self) -> Option<std::time::Duration> {
        matches!(self.mode, Mode::Passthrough { .. }).then_some(self.token_check_ttl)
    }

    /// Whether everyone gets in (demo mode without authentication).
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.mode, Mode::Open)
    }

    /// The mode's name, for logs.
    pub(crate) fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Open => "open",
            Mode::Service { .. } => "service",
            Mode::Passthrough { .. } => "passthrough",
        }
    }

    /// Forgets that upstream accepted a caller's token (upstream has
    /// refused it since), so the next request checks it again.
    pub(crate) async fn forget(&self, caller: &Caller) {
        if let Mode::Passthrough { proven } = &self.mode {
            proven.invalidate(&caller.access.scope).await;
        }
    }

    /// Authenticates presented credentials. `source` proves passed-through
    /// tokens with upstream.
    pub(crate) async fn authenticate(
        &self,
        presented: Presented<'_>,
        source: &Source,
    ) -> Result<Caller, AuthError> {
        match &self.mode {
            Mode::Open => Ok(Caller {
                id: Arc::from("anonymous"),
                permissions: Permissions::ALL,
                access: self.service.clone(),
                expires: None,
            }),
            Mode::Service { current, .. } => {
                let current = Arc::clone(&current.read().expect("keys lock"));
                let ServiceKeys { keys, jwt } = &*current;
                let (id, permissions, expires) = match (presented.api_key, presented.bearer) {
                    (Some(key), _) => with_no_expiry(keys.check(key)?),
                    (None, Some(token)) if jwt::looks_like_jwt(token) => match jwt {
                        Some(verifier) => verifier.verify(token)?,
                        None => {
                            return Err(AuthError::Invalid(
                                "this gateway does not accept JWTs; use an API key".into(),
                            ))
                        }
                    },
                    (None, Some(token)) => with_no_expiry(keys.check(token)?),
                    (None, None) => return Err(AuthError::Missing),
                };
                Ok(Caller {
                    id,
                    permissions,
                    access: self.service.clone(),
                    expires,
                })
            }
            Mode::Passthrough { proven } => {
                let token = presented.bearer.ok_or(AuthError::Missing)?;
                let credential = Credential::bearer(token).ok_or_else(|| {
                    AuthError::Invalid(
                        "the bearer token has characters a header cannot carry".into(),
                    )
                })?;
                let scope = Scope::of(&[&self.api_url, "bearer", token]);
                let access = Access { credential, scope };
                let check = source.with_access(access.clone());
                proven
                    .try_get_with(scope, async move {
                        check
                            .client()
                            .token_info(&check.access().credential)
                            .await
                            .map(drop)
                    })
                    .await
                    .map_err(|e| match &*e {
                        UpstreamError::CallerUnauthenticated { .. } => AuthError::Invalid(
                            "upstream refused the token: it is invalid, expired or revoked".into(),
                        ),
                        other => AuthError::Upstream(other.clone()),
                    })?;
                Ok(Caller {
                    id: Arc::from(format!("token:{:016x}", scope.value())),
                    permissions: Permissions::READ.union(Permissions::WRITE),
                    access,
                    expires: None,
                })
            }
        }
    }
}

/// An API key's caller: it admits until it is revoked.
fn with_no_expiry(
    (id, permissions): (Arc<str>, Permissions),
) -> (Arc<str>, Permissions, Option<std::time::SystemTime>) {
    (id, permissions, None)
}
