//! The PureCloud client: the only code that builds HTTP requests to upstream.
//!
//! It owns the OAuth token ([`token`]), retries (429 honouring `Retry-After`
//! up to a cap, 502/503/504 with exponential backoff and jitter), a timeout on
//! every call, a bound on calls in flight, and the mapping of every failure to
//! a typed [`UpstreamError`]. Callers get decoded DTOs ([`model`]), never
//! reqwest types. Caching is not its business: see `crate::cache`.
//!
//! A map of the folder: here the client (its configuration, routes,
//! credentials and URLs); `send.rs` its core (send, retry, decode); one file
//! of calls per upstream area (`conversations_calls`, `directory_calls`,
//! `analytics_calls`, `notifications_calls`, `messages_calls`) beside that
//! area's wire types (`model`, `analytics`, `notifications`, `messages`,
//! `events`); `paging.rs` (listings walked page by page), `breaker.rs`,
//! `token.rs`, `error.rs`, `wire.rs` and `enums.rs`.

pub(crate) mod analytics;
mod analytics_calls;
mod breaker;
mod conversations_calls;
mod directory_calls;
pub(crate) mod enums;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod messages;
mod messages_calls;
pub(crate) mod model;
pub(crate) mod notifications;
mod notifications_calls;
mod paging;
mod send;
mod token;
pub(crate) mod wire;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

pub(crate) use directory_calls::Entity;
pub(crate) use error::UpstreamError;
pub(crate) use paging::MAX_PAGES;
use send::decode;
pub(crate) use send::{correlation_id, read_body, transport_error};
use token::TokenSource;

use crate::metrics::Metrics;
use crate::secret::Secret;

/// The header PureCloud puts on every answer to identify it.
pub(crate) const CORRELATION_HEADER: &str = "ININ-Correlation-Id";

/// The largest body the token endpoint may answer.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The most ids one bulk users/queues call carries.
pub(crate) const BULK_PAGE_SIZE: usize = 100;

/// Retry behaviour.
#[derive(Clone, Debug)]
pub(crate) struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The first backoff after a 5xx; it doubles each time.
    pub base_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The longest `Retry-After` the client will wait; beyond it the call
    /// fails at once with `UPSTREAM_RATE_LIMITED`.
    pub max_retry_after: Duration,
}

/// Everything the client needs to talk to one PureCloud organisation.
#[derive(Clone, Debug)]
pub(crate) struct ClientConfig {
    pub api_url: Url,
    pub login_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub token_refresh_margin: Duration,
    /// Failed calls in a row that open a route's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit refuses calls before a probe.
    pub breaker_cooldown: Duration,
    /// What one upstream answer may bring: bytes of one page, and items of
    /// one listing (all pages together).
    pub max_page_bytes: usize,
    pub max_list_items: usize,
}

/// The upstream routes the client calls, named for logs and metrics.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Conversation,
    CobrowseListing,
    CobrowseConversation,
    User,
    Users,
    Queue,
    Queues,
    WrapupCodes,
    PatchParticipant,
    PatchParticipantAttributes,
    AnalyticsDetails,
    AnalyticsAggregates,
    TokenInfo,
    NotificationChannels,
    NotificationChannel,
    NotificationSubscriptions,
    AnalyticsDetailsById,
    AnalyticsDetailsJobs,
    AvailableTopics,
    CobrowseOffer,
    MessagesBulk,
    MessageConversation,
}

impl Route {
    /// Every route, in index order.
    pub(crate) const ALL: [Route; 22] = [
        Route::Conversation,
        Route::CobrowseListing,
        Route::CobrowseConversation,
        Route::User,
        Route::Users,
        Route::Queue,
        Route::Queues,
        Route::WrapupCodes,
        Route::PatchParticipant,
        Route::PatchParticipantAttributes,
        Route::AnalyticsDetails,
        Route::AnalyticsAggregates,
        Route::TokenInfo,
        Route::NotificationChannels,
        Route::NotificationChannel,
        Route::NotificationSubscriptions,
        Route::AnalyticsDetailsById,
        Route::AnalyticsDetailsJobs,
        Route::AvailableTopics,
        Route::CobrowseOffer,
        Route::MessagesBulk,
        Route::MessageConversation,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// A stable name for logs and metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::Conversation => "conversation",
            Route::CobrowseListing => "cobrowse_listing",
            Route::CobrowseConversation => "cobrowse_conversation",
            Route::User => "user",
            Route::Users => "users",
            Route::Queue => "queue",
            Route::Queues => "queues",
            Route::WrapupCodes => "wrapup_codes",
            Route::PatchParticipant => "patch_participant",
            Route::PatchParticipantAttributes => "patch_participant_attributes",
            Route::AnalyticsDetails => "analytics_details",
            Route::AnalyticsAggregates => "analytics_aggregates",
            Route::TokenInfo => "token_info",
            Route::NotificationChannels => "notification_channels",
            Route::NotificationChannel => "notification_channel",
            Route::NotificationSubscriptions => "notification_subscriptions",
            Route::AnalyticsDetailsById => "analytics_details_by_id",
            Route::AnalyticsDetailsJobs => "analytics_details_jobs",
            Route::AvailableTopics => "notification_available_topics",
            Route::CobrowseOffer => "cobrowse_offer",
            Route::MessagesBulk => "messages_bulk",
            Route::MessageConversation => "message_conversation",
        }
    }

    /// Whether a call may be sent again after an answer that does not say
    /// whether it took effect (502, 504): not for a call that creates
    /// something (each co-browse offer is a new one).
    fn repeatable(self) -> bool {
        !matches!(self, Route::CobrowseOffer)
    }
}

/// A decoded answer and the size of its body (what the cache weighs).
#[derive(Debug)]
pub(crate) struct Fetched<T> {
    pub value: T,
    pub bytes: usize,
}

/// Whose credentials an upstream call carries.
#[derive(Clone, Debug)]
pub(crate) enum Credential {
    /// The gateway's own client-credentials token.
    Service,
    /// A caller's own bearer token, passed through as it came. Upstream's
    /// 401 on it is the caller's problem: it is never refreshed.
    Bearer(HeaderValue),
}

impl Credential {
    /// A caller's bearer token (marked sensitive, so it never prints).
    pub(crate) fn bearer(token: &str) -> Option<Self> {
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
        header.set_sensitive(true);
        Some(Self::Bearer(header))
    }
}

/// The PureCloud client. Cheap to clone.
#[derive(Clone)]
pub(crate) struct PureCloud {
    inner: Arc<ClientState>,
}

struct ClientState {
    http: reqwest::Client,
    api: Url,
    tokens: TokenSource,
    permits: Semaphore,
    retry: RetryPolicy,
    timeout: Duration,
    metrics: Arc<Metrics>,
    failures: AtomicU32,
    /// One circuit breaker per route, by [`Route::index`].
    breakers: Vec<breaker::Breaker>,
    max_page_bytes: usize,
    max_list_items: usize,
}

impl PureCloud {
    /// Builds the client. No request is made until the first call.
    pub(crate) fn new(config: ClientConfig, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_in_flight)
            .user_agent(concat!("cobrowse-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let tokens = TokenSource::new(
            http.clone(),
            &config.login_url,
            (&config.client_id, &config.client_secret),
            config.token_refresh_margin,
            config.timeout,
            metrics.token_refreshes.clone(),
        );
        Ok(Self {
            inner: Arc::new(ClientState {
                http,
                api: config.api_url,
                tokens,
                permits: Semaphore::new(config.max_in_flight.max(1)),
                retry: config.retry,
                timeout: config.timeout,
                metrics,
                failures: AtomicU32::new(0),
                breakers: Route::ALL
                    .iter()
                    .map(|_| {
                        breaker::Breaker::new(config.breaker_threshold, config.breaker_cooldown)
                    })
                    .collect(),
                max_page_bytes: config.max_page_bytes,
                max_list_items: config.max_list_items,
            }),
        })
    }

    /// Fetches a token now: proves the credentials at start-up.
    pub(crate) async fn check_credentials(&self) -> Result<(), UpstreamError> {
        self.inner.tokens.get().await.map(drop)
    }

    /// The URL of `segments` under `/api/v2`. Every segment must be a plain
    /// path segment ([`path_segment_error`]): an id like `..` or `a/b` would
    /// otherwise name another resource.
    fn url(&self, segments: &[&str]) -> Result<Url, UpstreamError> {
        if let Some((segment, why)) = segments
            .iter()
            .find_map(|s| path_segment_error(s).map(|why| (s, why)))
        {
            return Err(UpstreamError::InvalidId {
                detail: format!("`{}` {why}", shortened(segment, 64)),
            });
        }
        let mut url = self.inner.api.clone();
        url.path_segments_mut()
            .expect("the API URL was checked to be a base URL")
            .pop_if_empty()
            .extend(["api", "v2"])
            .extend(segments);
        Ok(url)
    }

    fn bulk_url(
        &self,
        segments: &[&str],
        ids: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<Url, UpstreamError> {
        debug_assert!(ids.len() <= BULK_PAGE_SIZE);
        let mut url = self.url(segments)?;
        {
            let mut query = url.query_pairs_mut();
            for id in ids {
                query.append_pair("id", id);
            }
            query.extend_pairs(extra);
            query.append_pair("pageSize", &ids.len().max(1).to_string());
        }
        Ok(url)
    }

    async fn post_json<T: DeserializeOwned, B: Serialize>(
        &self,
        cred: &Credential,
        route: Route,
        url: Url,
        body: &B,
    ) -> Result<Fetched<T>, UpstreamError> {
        let (body, correlation) = self
            .send(cred, route, Method::POST, url, Some(body))
            .await?;
        decode(route, body, correlation)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        cred: &Credential,
        route: Route,
        url: Url,
    ) -> Result<Fetched<T>, UpstreamError> {
        let (body, correlation) = self.send::<()>(cred, route, Method::GET, url, None).await?;
        decode(route, body, correlation)
    }

    /// Upstream calls that failed in a row (unreachable, 5xx, timeouts);
    /// any answer that is not such a failure resets it.
    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// The routes whose circuit is open (or probing) now.
    pub(crate) fn open_circuits(&self) -> Vec<&'static str> {
        Route::ALL
            .iter()
            .filter(|r| self.inner.breakers[r.index()].is_open())
            .map(|r| r.name())
            .collect()
    }
}

/// The most characters of an id in an upstream URL.
pub(crate) const MAX_ID_CHARS: usize = 256;

/// Why `id` cannot be one path segment of an upstream URL, or `None` when it
/// can: it must be 1 to [`MAX_ID_CHARS`] characters of letters, digits, `-`,
/// `_`, `.` and `~` (RFC 3986's unreserved characters, as PureCloud's ids
/// are), and neither `.` nor `..`.
pub(crate) fn path_segment_error(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        return Some("must not be empty");
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Some("must be at most 256 characters");
    }
    if id == "." || id == ".." {
        return Some("is not an id");
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    if !id.chars().all(plain) {
        return Some("may hold only letters, digits, `-`, `_`, `.` and `~`");
    }
    None
}

/// At most `max` characters of `text`, with `…` when cut: how an error
/// message names a value a client or upstream sent, without echoing
/// kilobytes of it.
pub(crate) fn shortened(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_path_segments_are_ids() {
        for id in [
            "3b5c9e2a-1d4f-4a7b-9c2e-5f6a7b8c9d0e",
            "abc",
            "a.b",
            "a_b~c",
        ] {
            assert_eq!(path_segment_error(id), None, "{id}");
        }
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "a%2Fb",
            "a b",
            "ä",
            "a?b",
            "a#b",
            &"x".repeat(257),
        ] {
            assert!(path_segment_error(id).is_some(), "{id:?}");
        }
    }
}
