//! OAuth2 client-credentials tokens, fetched once and shared.
//!
//! Callers ask [`TokenSource::get`] for a token. A valid token is returned at
//! once; an expiring one is refreshed by exactly one caller while the others
//! wait for it. A 401 on an API call makes the client [`TokenSource::invalidate`]
//! the token it used; only the first of several such callers drops it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info};

use super::error::UpstreamError;
use super::model::{TokenError, TokenResponse};
use super::{correlation_id, read_body};

/// The token endpoint, as errors name it.
const TOKEN_ROUTE: &str = "oauth token";
use crate::secret::Secret;

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    pub header: HeaderValue,
    pub generation: u64,
    refresh_at: Instant,
}

/// Where and how to fetch tokens.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    token_url: reqwest::Url,
    basic: HeaderValue,
    refresh_margin: Duration,
    timeout: Duration,
    current: RwLock<Option<Token>>,
    refresh: Mutex<()>,
    generation: AtomicU64,
    refreshes: prometheus::IntCounter,
}

impl TokenSource {
    pub(super) fn new(
        http: reqwest::Client,
        login_url: &reqwest::Url,
        (client_id, client_secret): (&str, &Secret),
        refresh_margin: Duration,
        timeout: Duration,
        refreshes: prometheus::IntCounter,
    ) -> Self {
        let mut token_url = login_url.clone();
        token_url.set_path("/oauth/token");
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{}", client_secret.expose()));
        let mut basic = HeaderValue::from_str(&format!("Basic {credentials}"))
            .expect("base64 is a valid header value");
        basic.set_sensitive(true);
        Self {
            http,
            token_url,
            basic,
            refresh_margin,
            timeout,
            current: RwLock::new(None),
            refresh: Mutex::new(()),
            generation: AtomicU64::new(0),
            refreshes,
        }
    }

    /// A valid token, fetching one if there is none or it is about to expire.
    pub(super) async fn get(&self) -> Result<Token, UpstreamError> {
        if let Some(token) = self.valid() {
            return Ok(token);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(token) = self.valid() {
            return Ok(token);
        }
        let token = self.fetch().await?;
        *self.current.write().expect("token lock poisoned") = Some(token.clone());
        Ok(token)
    }

    /// Drops the token of `generation` after upstream refused it; a newer
    /// token (already refreshed by another caller) is kept.
    pub(super) fn invalidate(&self, generation: u64) {
        let mut current = self.current.write().expect("token lock poisoned");
        if current.as_ref().map(|t| t.generation) == Some(generation) {
            *current = None;
        }
    }

    fn valid(&self) -> Option<Token> {
        let current = self.current.read().expect("token lock poisoned");
        current
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .cloned()
    }

    #[tracing::instrument(name = "upstream.token", skip_all, fields(correlation_id))]
    async fn fetch(&self) -> Result<Token, UpstreamError> {
        let response = self
            .http
            .post(self.token_url.clone())
            .header(AUTHORIZATION, self.basic.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    UpstreamError::Timeout {
                        route: TOKEN_ROUTE,
                        timeout: self.timeout,
                    }
                } else {
                    super::transport_error(&e)
                }
            })?;
        let status = response.status();
        let correlation = correlation_id(&response);
        if let Some(id) = &correlation {
            tracing::Span::current().record("correlation_id", id.as_str());
        }
        let body = read_body(
            response,
            (TOKEN_ROUTE, super::MAX_TOKEN_BYTES),
            self.timeout,
        )
        .await?;
        if !status.is_success() {
            return Err(refused(status, &body, correlation));
        }
        let answer: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| UpstreamError::BadResponse {
                detail: format!("token response: {e}"),
                correlation_id: correlation.clone(),
            })?;
        let lifetime = Duration::from_secs(answer.expires_in);
        // Refresh `margin` before expiry, like the official SDKs; a token that
        // lives shorter than twice the margin is refreshed at half its life.
        let margin = self.refresh_margin.min(lifetime / 2);
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| UpstreamError::BadResponse {
                detail: "token response: access_token is not a valid header value".into(),
                correlation_id: correlation,
            })?;
        header.set_sensitive(true);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.refreshes.inc();
        info!(
            expires_in_s = answer.expires_in,
            generation, "fetched upstream access token"
        );
        debug!(refresh_in_ms = (lifetime - margin).as_millis() as u64);
        Ok(Token {
            header,
            generation,
            refresh_at: Instant::now() + (lifetime - margin),
        })
    }
}
/// The error of a token endpoint that answered `status` with `body`.
fn refused(status: reqwest::StatusCode, body: &[u8], correlation: Option<String>) -> UpstreamError {
    let reason = serde_json::from_slice::<TokenError>(body).unwrap_or_default();
    let detail = format!(
        "token endpoint answered HTTP {}: {}",
        status.as_u16(),
        reason
            .error_description
            .or(reason.description)
            .or(reason.error)
            .unwrap_or_else(|| "no reason given".into())
    );
    match status.as_u16() {
        400 | 401 | 403 => UpstreamError::AuthFailed {
            detail,
            correlation_id: correlation,
        },
        429 => UpstreamError::RateLimited {
            retry_after: Duration::from_secs(1),
            correlation_id: correlation,
        },
        s => UpstreamError::Unavailable {
            status: Some(s),
            detail,
            correlation_id: correlation,
        },
    }
}
