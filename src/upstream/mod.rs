//! The PureCloud client: the only code that builds HTTP requests to upstream.
//!
//! It owns the OAuth token ([`token`]), retries (429 honouring `Retry-After`
//! up to a cap, 502/503/504 with exponential backoff and jitter), a timeout on
//! every call, a bound on calls in flight, and the mapping of every failure to
//! a typed [`UpstreamError`]. Callers get decoded DTOs ([`model`]), never
//! reqwest types. Caching is not its business: see `crate::cache`.

pub(crate) mod analytics;
mod analytics_calls;
mod breaker;
pub(crate) mod enums;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod messages;
mod messages_calls;
pub(crate) mod model;
pub(crate) mod notifications;
mod paging;
mod token;
pub(crate) mod wire;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

pub(crate) use error::UpstreamError;
use model::*;
pub(crate) use paging::{Paged, MAX_PAGES};
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

/// An entity the bulk endpoints return by id (users, queues).
pub(crate) trait Entity: DeserializeOwned + Send + 'static {
    /// The collection's path under `/api/v2`.
    const PATH: &'static [&'static str];
    /// The route of the bulk call, for logs and metrics.
    const BULK_ROUTE: Route;
    /// Query parameters every bulk call carries.
    const BULK_QUERY: &'static [(&'static str, &'static str)] = &[];
    /// The entity's id.
    fn id(&self) -> Option<&str>;
}

impl Entity for User {
    const PATH: &'static [&'static str] = &["users"];
    const BULK_ROUTE: Route = Route::Users;
    /// The list answers only active users unless told otherwise, and agents
    /// who left keep their names in history (docs/upstream.md, "Users").
    const BULK_QUERY: &'static [(&'static str, &'static str)] = &[("state", "any")];
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Entity for Queue {
    const PATH: &'static [&'static str] = &["routing", "queues"];
    const BULK_ROUTE: Route = Route::Queues;
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
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

    /// `GET /api/v2/conversations/{id}`.
    pub(crate) async fn conversation(
        &self,
        cred: &Credential,
        id: &str,
    ) -> Result<Fetched<Conversation>, UpstreamError> {
        let url = self.url(&["conversations", id])?;
        self.get_json(cred, Route::Conversation, url).await
    }

    /// `GET /api/v2/conversations/cobrowsesessions/{id}`.
    pub(crate) async fn cobrowse_conversation(
        &self,
        cred: &Credential,
        id: &str,
    ) -> Result<Fetched<CobrowseConversation>, UpstreamError> {
        let url = self.url(&["conversations", "cobrowsesessions", id])?;
        self.get_json(cred, Route::CobrowseConversation, url).await
    }

    /// `GET /api/v2/conversations/cobrowsesessions`: the active co-browse
    /// conversations, following `nextUri` when upstream pages the listing.
    pub(crate) async fn cobrowse_conversations(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<CobrowseConversation>>, UpstreamError> {
        let first = self.url(&["conversations", "cobrowsesessions"])?;
        self.all_pages(cred, Route::CobrowseListing, first).await
    }

    /// `GET /api/v2/tokens/me`: what upstream knows of a token. The gateway
    /// calls it to prove a passed-through caller token before serving
    /// anything to its holder.
    pub(crate) async fn token_info(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<TokenInfo>, UpstreamError> {
        self.get_json(cred, Route::TokenInfo, self.url(&["tokens", "me"])?)
            .await
    }

    /// `GET /api/v2/users?id=..&id=..` or `GET /api/v2/routing/queues?id=..`:
    /// at most [`BULK_PAGE_SIZE`] ids of one kind of entity.
    pub(crate) async fn entities<T: Entity>(
        &self,
        cred: &Credential,
        ids: &[&str],
    ) -> Result<Fetched<Vec<T>>, UpstreamError> {
        let url = self.bulk_url(T::PATH, ids, T::BULK_QUERY)?;
        self.get_json::<Listing<T>>(cred, T::BULK_ROUTE, url)
            .await
            .map(|f| Fetched {
                value: f.value.entities,
                bytes: f.bytes,
            })
    }

    /// `GET /api/v2/routing/wrapupcodes`, every page.
    pub(crate) async fn wrapup_codes(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<WrapupCode>>, UpstreamError> {
        let mut first = self.url(&["routing", "wrapupcodes"])?;
        first
            .query_pairs_mut()
            .append_pair("pageSize", "100")
            .append_pair("pageNumber", "1");
        self.all_pages(cred, Route::WrapupCodes, first).await
    }

    /// `GET /api/v2/routing/queues`, every page: every queue of the
    /// organisation.
    pub(crate) async fn all_queues(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<Queue>>, UpstreamError> {
        let mut first = self.url(&["routing", "queues"])?;
        first
            .query_pairs_mut()
            .append_pair("pageSize", "100")
            .append_pair("pageNumber", "1");
        self.all_pages(cred, Route::Queues, first).await
    }

    /// `GET /api/v2/users?state=active`, every page: the organisation's
    /// active users (whose message topics the listener subscribes).
    pub(crate) async fn all_users(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<User>>, UpstreamError> {
        let mut first = self.url(&["users"])?;
        first
            .query_pairs_mut()
            .append_pair("pageSize", "100")
            .append_pair("pageNumber", "1")
            .append_pair("state", "active");
        self.all_pages(cred, Route::Users, first).await
    }

    /// `POST /api/v2/notifications/channels`: a new channel.
    pub(crate) async fn create_channel(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<notifications::Channel>, UpstreamError> {
        let url = self.url(&["notifications", "channels"])?;
        let (body, correlation) = self
            .send::<()>(cred, Route::NotificationChannels, Method::POST, url, None)
            .await?;
        decode(Route::NotificationChannels, body, correlation)
    }

    /// `GET /api/v2/notifications/availabletopics` with what each topic
    /// requires (`expand=requiresPermissions,permissionDetails,enforced,visibility`).
    pub(crate) async fn available_topics(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<notifications::AvailableTopics>, UpstreamError> {
        let mut url = self.url(&["notifications", "availabletopics"])?;
        url.query_pairs_mut().append_pair(
            "expand",
            "requiresPermissions,permissionDetails,enforced,visibility",
        );
        self.get_json(cred, Route::AvailableTopics, url).await
    }

    /// `HEAD /api/v2/notifications/channels/{id}`: whether the channel is
    /// still valid.
    pub(crate) async fn channel_exists(
        &self,
        cred: &Credential,
        id: &str,
    ) -> Result<bool, UpstreamError> {
        let url = self.url(&["notifications", "channels", id])?;
        match self
            .send::<()>(cred, Route::NotificationChannel, Method::HEAD, url, None)
            .await
        {
            Ok(_) => Ok(true),
            Err(UpstreamError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PUT /api/v2/notifications/channels/{id}/subscriptions?ignoreErrors=true`:
    /// the channel's topics are `topics` (a rejected one does not fail the
    /// others; the answer says which were).
    pub(crate) async fn subscribe(
        &self,
        cred: &Credential,
        id: &str,
        topics: &[String],
    ) -> Result<Fetched<notifications::TopicAnswers>, UpstreamError> {
        let mut url = self.url(&["notifications", "channels", id, "subscriptions"])?;
        url.query_pairs_mut().append_pair("ignoreErrors", "true");
        let body: Vec<notifications::TopicRequest> = topics
            .iter()
            .map(|t| notifications::TopicRequest { id: t.clone() })
            .collect();
        let (body, correlation) = self
            .send(
                cred,
                Route::NotificationSubscriptions,
                Method::PUT,
                url,
                Some(&body),
            )
            .await?;
        decode(Route::NotificationSubscriptions, body, correlation)
    }

    /// `PATCH /api/v2/conversations/{cid}/participants/{pid}`.
    pub(crate) async fn patch_participant(
        &self,
        cred: &Credential,
        conversation_id: &str,
        participant_id: &str,
        body: &MediaParticipantRequest,
    ) -> Result<(), UpstreamError> {
        let url = self.url(&[
            "conversations",
            conversation_id,
            "participants",
            participant_id,
        ])?;
        self.send(
            cred,
            Route::PatchParticipant,
            Method::PATCH,
            url,
            Some(body),
        )
        .await
        .map(drop)
    }

    /// `PATCH /api/v2/conversations/{cid}/participants/{pid}/attributes`.
    pub(crate) async fn patch_participant_attributes(
        &self,
        cred: &Credential,
        conversation_id: &str,
        participant_id: &str,
        body: &ParticipantAttributes,
    ) -> Result<(), UpstreamError> {
        let url = self.url(&[
            "conversations",
            conversation_id,
            "participants",
            participant_id,
            "attributes",
        ])?;
        self.send(
            cred,
            Route::PatchParticipantAttributes,
            Method::PATCH,
            url,
            Some(body),
        )
        .await
        .map(drop)
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

    /// Sends one logical call through the route's circuit breaker, and
    /// keeps the run of failures for readiness.
    async fn send<B: Serialize + ?Sized>(
        &self,
        cred: &Credential,
        route: Route,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let ticket = match inner.breakers[route.index()].admit() {
            breaker::Admission::Go(ticket) => ticket,
            breaker::Admission::Refused {
                retry_after,
                failures,
            } => {
                inner
                    .metrics
                    .routes
                    .circuit_rejected
                    .with_label_values(&[route.name()])
                    .inc();
                return Err(UpstreamError::CircuitOpen {
                    route: route.name(),
                    failures,
                    retry_after,
                });
            }
        };
        let outcome = self.send_with_retries(cred, route, method, url, body).await;
        match &outcome {
            Err(UpstreamError::Unavailable { .. } | UpstreamError::Timeout { .. }) => {
                inner.failures.fetch_add(1, Ordering::Relaxed);
                if ticket.failed() {
                    inner
                        .metrics
                        .routes
                        .circuit_opened
                        .with_label_values(&[route.name()])
                        .inc();
                    warn!(
                        route = route.name(),
                        "upstream keeps failing: circuit opened; calls fail at once until a probe succeeds"
                    );
                }
            }
            _ => {
                inner.failures.store(0, Ordering::Relaxed);
                ticket.succeeded();
            }
        }
        outcome
    }

    /// Sends one logical call: token, bounded concurrency, timeout, retries.
    #[tracing::instrument(name = "upstream.call", skip_all, fields(route = route.name(), correlation_id))]
    async fn send_with_retries<B: Serialize + ?Sized>(
        &self,
        cred: &Credential,
        route: Route,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .expect("request DTOs always serialize");
        let mut attempt = 0u32;
        let mut refreshed = false;
        let deadline = crate::deadline::current();
        loop {
            attempt += 1;
            let budget = self.budget(route, deadline)?;
            let (header, generation) = match cred {
                Credential::Service => {
                    let token = inner.tokens.get().await?;
                    (token.header, Some(token.generation))
                }
                Credential::Bearer(header) => (header.clone(), None),
            };
            let outcome = self
                .attempt(route, &method, &url, &header, body.as_deref(), budget)
                .await;
            let (status, retry_after, body_bytes, correlation) = match outcome {
                Ok(answer) => answer,
                Err(error) => {
                    if attempt < inner.retry.max_attempts && method == Method::GET {
                        self.backoff(route, attempt, error, deadline).await?;
                        continue;
                    }
                    return Err(error);
                }
            };
            if let Some(id) = &correlation {
                tracing::Span::current().record("correlation_id", id.as_str());
            }
            if status.is_success() {
                return Ok((body_bytes, correlation));
            }
            let error = status_error(route, &url, status, retry_after, &body_bytes, correlation);
            match (status.as_u16(), generation) {
                (401, None) => {
                    return Err(UpstreamError::CallerUnauthenticated {
                        correlation_id: error.correlation_id().map(str::to_owned),
                    })
                }
                (401, Some(generation)) if !refreshed => {
                    debug!("upstream refused the token; refreshing once");
                    inner.tokens.invalidate(generation);
                    refreshed = true;
                    attempt -= 1;
                }
                (429, _) => {
                    let wait = retry_after.unwrap_or_else(|| self.backoff_for(attempt));
                    self.wait_out_rate_limit(route, attempt, wait, error, deadline)
                        .await?;
                }
                (502..=504, _)
                    if attempt < inner.retry.max_attempts
                        && (status.as_u16() == 503 || route.repeatable()) =>
                {
                    self.backoff(route, attempt, error, deadline).await?;
                }
                _ => return Err(error),
            }
        }
    }

    /// How long the next attempt may take: `upstream.timeout`, or less
    /// when less is left before `deadline` (none: the call ends now).
    fn budget(
        &self,
        route: Route,
        deadline: Option<std::time::Instant>,
    ) -> Result<Duration, UpstreamError> {
        let Some(deadline) = deadline else {
            return Ok(self.inner.timeout);
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left < MIN_ATTEMPT {
            return Err(UpstreamError::Timeout {
                route: route.name(),
                timeout: left,
            });
        }
        Ok(left.min(self.inner.timeout))
    }

    /// Waits out a 429's `wait`, or answers `error` when the wait is longer
    /// than the gateway holds a call, the attempts ran out, or it does not
    /// fit before `deadline`.
    async fn wait_out_rate_limit(
        &self,
        route: Route,
        attempt: u32,
        wait: Duration,
        error: UpstreamError,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), UpstreamError> {
        let retry = &self.inner.retry;
        if wait > retry.max_retry_after || attempt >= retry.max_attempts || !fits(deadline, wait) {
            return Err(error);
        }
        self.inner
            .metrics
            .routes
            .retries
            .with_label_values(&[route.name(), "rate_limited"])
            .inc();
        warn!(
            wait_ms = wait.as_millis() as u64,
            attempt, "upstream rate limited; waiting"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// One HTTP exchange: a permit, the request, the whole body. Records
    /// the attempt's metrics and one log line with its correlation id.
    async fn attempt(
        &self,
        route: Route,
        method: &Method,
        url: &Url,
        auth: &HeaderValue,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<Duration>, Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let _permit = inner
            .permits
            .acquire()
            .await
            .expect("the upstream semaphore is never closed");
        let _in_flight = InFlight::enter(&inner.metrics.upstream_in_flight);
        let started = std::time::Instant::now();
        let outcome = self.exchange(route, method, url, auth, body, timeout).await;
        let elapsed = started.elapsed();
        inner
            .metrics
            .upstream_seconds
            .with_label_values(&[route.name()])
            .observe(elapsed.as_secs_f64());
        let status = match &outcome {
            Ok((status, ..)) => status.as_str().to_owned(),
            Err(error) => error.code().to_ascii_lowercase(),
        };
        inner
            .metrics
            .upstream_calls
            .with_label_values(&[route.name(), &status])
            .inc();
        let correlation_id = outcome.as_ref().ok().and_then(|(.., c)| c.as_deref());
        debug!(
            route = route.name(),
            %status,
            elapsed_ms = elapsed.as_millis() as u64,
            correlation_id,
            "upstream call"
        );
        outcome
    }

    async fn exchange(
        &self,
        route: Route,
        method: &Method,
        url: &Url,
        auth: &HeaderValue,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<Duration>, Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let mut request = inner
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout)
            .header(AUTHORIZATION, auth.clone());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                UpstreamError::Timeout {
                    route: route.name(),
                    timeout,
                }
            } else {
                transport_error(&e)
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let correlation = correlation_id(&response);
        let bytes = read_body(response, (route.name(), inner.max_page_bytes), timeout).await?;
        Ok((status, retry_after, bytes, correlation))
    }

    /// Waits before attempt `attempt + 1`, or answers `error` when the wait
    /// and another attempt do not fit before `deadline`.
    async fn backoff(
        &self,
        route: Route,
        attempt: u32,
        error: UpstreamError,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), UpstreamError> {
        let wait = self.backoff_for(attempt);
        if !fits(deadline, wait) {
            return Err(error);
        }
        self.inner
            .metrics
            .routes
            .retries
            .with_label_values(&[route.name(), error.code()])
            .inc();
        warn!(
            route = route.name(),
            attempt,
            wait_ms = wait.as_millis() as u64,
            code = error.code(),
            correlation_id = error.correlation_id(),
            "upstream call failed; retrying"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Exponential backoff with "equal jitter": half fixed, half random.
    fn backoff_for(&self, attempt: u32) -> Duration {
        let policy = &self.inner.retry;
        let exp = policy
            .base_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(policy.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// The least time an attempt is started with: with less left before the
/// request's deadline, the call ends.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// Whether waiting `wait` leaves time for another attempt before
/// `deadline` (none: always).
fn fits(deadline: Option<std::time::Instant>, wait: Duration) -> bool {
    deadline.is_none_or(|deadline| std::time::Instant::now() + wait + MIN_ATTEMPT < deadline)
}

/// Counts a call in flight for as long as it lives.
struct InFlight<'a>(&'a prometheus::IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn decode<T: DeserializeOwned>(
    route: Route,
    body: Bytes,
    correlation_id: Option<String>,
) -> Result<Fetched<T>, UpstreamError> {
    match serde_json::from_slice(&body) {
        Ok(value) => Ok(Fetched {
            value,
            bytes: body.len(),
        }),
        Err(e) => Err(UpstreamError::BadResponse {
            detail: format!("{}: {e}", route.name()),
            correlation_id,
        }),
    }
}

fn status_error(
    route: Route,
    url: &Url,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    correlation_id: Option<String>,
) -> UpstreamError {
    let upstream: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = upstream
        .message
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no reason").to_owned());
    match status.as_u16() {
        401 => UpstreamError::AuthFailed {
            detail: format!("{} answered 401: {message}", route.name()),
            correlation_id,
        },
        403 => UpstreamError::Forbidden {
            message,
            permission: upstream
                .message_params
                .get("permissions")
                .map(|p| p.trim_matches(['[', ']']).to_owned()),
            correlation_id,
        },
        404 => UpstreamError::NotFound {
            what: format!("{} {}", route.name(), url.path()),
            correlation_id,
        },
        429 => UpstreamError::RateLimited {
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
            correlation_id,
        },
        s if s >= 500 => UpstreamError::Unavailable {
            status: Some(s),
            detail: format!("{} answered HTTP {s}: {message}", route.name()),
            correlation_id,
        },
        s => UpstreamError::Rejected {
            status: s,
            message,
            correlation_id,
        },
    }
}

pub(crate) fn correlation_id(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(crate) fn transport_error(error: &reqwest::Error) -> UpstreamError {
    // The URL is left out on purpose: it is configuration, not news.
    let detail = if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_timeout() {
        "timed out".to_owned()
    } else {
        // Display without the URL: walk the source chain instead.
        let mut detail = String::from("transport error");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        detail
    };
    UpstreamError::Unavailable {
        status: None,
        detail,
        correlation_id: None,
    }
}

/// The whole body of an answer of `route`, at most `limit` bytes (more is
/// refused before it is read, when announced, or as soon as it passes).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    (route, limit): (&'static str, usize),
    timeout: Duration,
) -> Result<Bytes, UpstreamError> {
    let too_large = || UpstreamError::ResponseTooLarge { route, limit };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        if e.is_timeout() {
            UpstreamError::Timeout { route, timeout }
        } else {
            transport_error(&e)
        }
    })? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
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
