//! Typed, layered settings.
//!
//! One table ([`SETTINGS`]) names every setting: its dotted path, its
//! `COBROWSE_*` environment variable, its default and what it does. Sources
//! are layered in this order, each overriding the one before: defaults, an
//! optional TOML file (`--config` or `COBROWSE_CONFIG`), the environment, and
//! flags (`--listen`, `--set path=value`, ...). Unknown keys are errors; a bad
//! value stops start-up with a message naming the setting and where it came
//! from. Secrets are [`Secret`]s and never print.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Deserializer};

use crate::secret::Secret;

/// One setting: where it lives, its environment variable, its default.
pub struct Setting {
    pub path: &'static str,
    pub env: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

macro_rules! settings_table {
    ($($path:literal, $env:literal, $default:expr, $help:literal;)+) => {
        /// Every setting the gateway reads.
        pub const SETTINGS: &[Setting] = &[$(Setting { path: $path, env: $env, default: $default, help: $help }),+];
    };
}

settings_table! {
    "server.listen", "COBROWSE_LISTEN", Some("127.0.0.1:8080"), "Address the gateway listens on.";
    "server.request_timeout", "COBROWSE_SERVER_REQUEST_TIMEOUT", Some("30s"), "Longest time one GraphQL request may take; the upstream calls it causes, retries included, end before it does (a field error UPSTREAM_TIMEOUT naming the route).";
    "server.shutdown_grace", "COBROWSE_SERVER_SHUTDOWN_GRACE", Some("10s"), "On SIGTERM: how long requests in flight may take to finish before the gateway stops anyway.";
    "server.max_body_bytes", "COBROWSE_SERVER_MAX_BODY_BYTES", Some("1048576"), "Largest request body accepted (larger: 413).";
    "server.persisted_queries_max_bytes", "COBROWSE_SERVER_PERSISTED_QUERIES_MAX_BYTES", Some("8388608"), "Bytes of query text the automatic persisted query store holds.";
    "server.graphiql", "COBROWSE_SERVER_GRAPHIQL", Some("true"), "Serve GraphiQL at /graphiql (and to browsers opening /graphql).";
    "server.response_cache", "COBROWSE_SERVER_RESPONSE_CACHE", Some("true"), "Keep successful query responses for as long as their Cache-Control max-age.";
    "server.compiled_queries", "COBROWSE_SERVER_COMPILED_QUERIES", Some("on"), "`on`: a query the general engine has answered once is compiled, and answered from then on by its plan when the data it needs is cached (the dashboard's types; anything else goes to the general engine). `off`: the general engine answers every query. `verify`: both run for every request a plan exists for and their bytes are compared (header `x-compiled`, metric `cobrowse_gateway_compiled_total`); the general engine's answer is served.";
    "server.introspection", "COBROWSE_SERVER_INTROSPECTION", Some("true"), "Answer introspection queries (`__schema`, `__type`). Turn off in production if the schema is not public; GraphiQL needs it.";
    "server.response_cache_max_bytes", "COBROWSE_SERVER_RESPONSE_CACHE_MAX_BYTES", Some("33554432"), "Bytes of response bodies the response cache holds.";
    "server.max_connections", "COBROWSE_SERVER_MAX_CONNECTIONS", Some("1024"), "Most client connections open at once for dashboards and GraphQL callers, WebSockets included; one more is answered 503 (TOO_MANY_CONNECTIONS) and closed. Webhook deliveries and probes have server.reserved_connections more of their own.";
    "server.reserved_connections", "COBROWSE_SERVER_RESERVED_CONNECTIONS", Some("64"), "Connections beyond server.max_connections that only webhook deliveries and probes (/webhooks/*, /healthz, /readyz, /metrics) may use, so that dashboards and GraphQL callers filling server.max_connections cannot make Zoom's deliveries fail.";
    "server.header_read_timeout", "COBROWSE_SERVER_HEADER_READ_TIMEOUT", Some("10s"), "Longest wait for a request's headers, and so the longest an idle keep-alive connection is kept.";
    "server.websocket_init_timeout", "COBROWSE_SERVER_WEBSOCKET_INIT_TIMEOUT", Some("10s"), "How long a WebSocket may stay open without `connection_init` (then closed with 4408).";
    "server.max_subscriptions_per_socket", "COBROWSE_SERVER_MAX_SUBSCRIPTIONS_PER_SOCKET", Some("100"), "Most operations one WebSocket runs at once.";
    "server.readiness_interval", "COBROWSE_SERVER_READINESS_INTERVAL", Some("5s"), "/readyz probes upstream and the store at most once per interval and answers the last result in between.";
    "server.cors_origins", "COBROWSE_SERVER_CORS_ORIGINS", Some(""), "Web origins (comma-separated, as browsers send them: https://wall.example.com) whose pages may call /graphql and open /graphql/ws; `*` allows any. Empty: none, except any loopback origin in demo mode. The gateway's own origin is always allowed.";
    "server.public_origins", "COBROWSE_SERVER_PUBLIC_ORIGINS", Some(""), "The gateway's own origin(s) as browsers reach it (comma-separated, https://gateway.example.com), when it is behind a proxy or load balancer or reached by a name: pages of these origins (GraphiQL, the wall) may open /graphql/ws. Empty: the loopback forms of server.listen (http://127.0.0.1:PORT, http://localhost:PORT, http://[::1]:PORT). The Host header is never taken for it (DNS rebinding).";
    "server.trusted_proxies", "COBROWSE_SERVER_TRUSTED_PROXIES", Some(""), "Addresses and networks (comma-separated: 10.0.0.0/8, 127.0.0.1, fd00::/8) of the reverse proxies in front of the gateway: a request from one of them comes from the client its `Forwarded: for=` (or `X-Forwarded-For`) names. Anonymous callers (open demo mode) are rate-limited per client address; without this, every caller behind a proxy has the proxy's address and shares its bucket.";
    "server.operation_names", "COBROWSE_SERVER_OPERATION_NAMES", Some(""), "Operation names (comma-separated) that get their own label in metrics; every other name is counted as `other`.";
    "auth.mode", "COBROWSE_AUTH_MODE", Some("service"), "`service`: callers authenticate to the gateway (JWT or API key), upstream is read with the gateway's credentials. `passthrough`: callers send their own upstream bearer token.";
    "auth.api_keys_file", "COBROWSE_AUTH_API_KEYS_FILE", None, "TOML file of API keys (`[[key]] id, sha256, scopes`); make keys with `cobrowse-gateway api-key`.";
    "auth.jwt_secret", "COBROWSE_AUTH_JWT_SECRET", None, "Shared secret of HS256 bearer JWTs. Never logged.";
    "auth.jwks_file", "COBROWSE_AUTH_JWKS_FILE", None, "JWK set (JSON) of the RS256/ES256 public keys bearer JWTs are signed with.";
    "auth.jwt_issuer", "COBROWSE_AUTH_JWT_ISSUER", None, "The `iss` every JWT must carry (required when JWTs are accepted).";
    "auth.jwt_audience", "COBROWSE_AUTH_JWT_AUDIENCE", None, "The `aud` every JWT must carry (required when JWTs are accepted).";
    "auth.jwt_leeway", "COBROWSE_AUTH_JWT_LEEWAY", Some("30s"), "Clock skew allowed on `exp` and `nbf`.";
    "auth.reload_interval", "COBROWSE_AUTH_RELOAD_INTERVAL", Some("10s"), "How often the key files (api_keys_file, jwks_file) are checked for changes and read again; 0s never.";
    "auth.token_check_ttl", "COBROWSE_AUTH_TOKEN_CHECK_TTL", Some("60s"), "Passthrough: how long upstream's acceptance of a caller's token is trusted before it is checked again.";
    "upstream.url", "COBROWSE_UPSTREAM_URL", None, "PureCloud API base URL, e.g. https://api.mypurecloud.com. Unset: demo mode with the built-in simulator.";
    "upstream.login_url", "COBROWSE_LOGIN_URL", None, "OAuth base URL. Default: the API URL with `api.` replaced by `login.`.";
    "upstream.client_id", "COBROWSE_CLIENT_ID", None, "OAuth client-credentials client id (required with upstream.url).";
    "upstream.client_secret", "COBROWSE_CLIENT_SECRET", None, "OAuth client secret (required with upstream.url). Never logged.";
    "upstream.timeout", "COBROWSE_UPSTREAM_TIMEOUT", Some("10s"), "Timeout of one upstream HTTP attempt.";
    "upstream.connect_timeout", "COBROWSE_UPSTREAM_CONNECT_TIMEOUT", Some("3s"), "Timeout of connecting to upstream.";
    "upstream.max_in_flight", "COBROWSE_UPSTREAM_MAX_IN_FLIGHT", Some("32"), "Most upstream HTTP calls in flight at once.";
    "upstream.max_attempts", "COBROWSE_UPSTREAM_MAX_ATTEMPTS", Some("4"), "Attempts per upstream call (429 and 502/503/504 are retried).";
    "upstream.base_backoff", "COBROWSE_UPSTREAM_BASE_BACKOFF", Some("100ms"), "First backoff after a 5xx; doubles per attempt, with jitter.";
    "upstream.max_backoff", "COBROWSE_UPSTREAM_MAX_BACKOFF", Some("2s"), "Longest backoff between attempts.";
    "upstream.max_retry_after", "COBROWSE_UPSTREAM_MAX_RETRY_AFTER", Some("5s"), "Longest Retry-After the gateway waits; beyond it a query fails fast with UPSTREAM_RATE_LIMITED.";
    "upstream.breaker_threshold", "COBROWSE_UPSTREAM_BREAKER_THRESHOLD", Some("5"), "Failed calls in a row (5xx, timeouts, unreachable) that open a route's circuit.";
    "upstream.breaker_cooldown", "COBROWSE_UPSTREAM_BREAKER_COOLDOWN", Some("10s"), "How long an open circuit fails calls at once before one probe call may try again.";
    "upstream.max_page_bytes", "COBROWSE_UPSTREAM_MAX_PAGE_BYTES", Some("16777216"), "Most bytes one upstream answer (one page) may have; a larger one is refused with UPSTREAM_RESPONSE_TOO_LARGE, not read.";
    "upstream.max_list_items", "COBROWSE_UPSTREAM_MAX_LIST_ITEMS", Some("10000"), "Most items one upstream listing may have, all pages together (the per-user co-browse listing, queues, wrap-up codes, the analytics active set); a longer one is refused with UPSTREAM_LIST_TOO_LARGE, not held or cut.";
    "upstream.active_lookback", "COBROWSE_UPSTREAM_ACTIVE_LOOKBACK", Some("7d"), "Service mode: how far back the organisation-wide active set (the analytics details query of conversations not yet ended) looks; long enough for the longest conversation, at most 31d.";
    "upstream.history_job_after", "COBROWSE_UPSTREAM_HISTORY_JOB_AFTER", Some("7d"), "cobrowseHistory over an interval longer than this is read with an asynchronous analytics details job instead of the synchronous details query (the SDKs document no limit on either; the job matches every conversation with activity in the interval and pages by cursor).";
    "upstream.history_job_poll", "COBROWSE_UPSTREAM_HISTORY_JOB_POLL", Some("1s"), "How often the state of a running analytics job is asked; a history page whose job is not fulfilled before the request's deadline answers HISTORY_PREPARING with this as retryAfterSeconds (at least 1 s).";
    "upstream.token_refresh_margin", "COBROWSE_UPSTREAM_TOKEN_REFRESH_MARGIN", Some("60s"), "Refresh the access token this long before it expires.";
    "cache.enabled", "COBROWSE_CACHE_ENABLED", Some("true"), "Cache upstream reads.";
    "cache.max_entries", "COBROWSE_CACHE_MAX_ENTRIES", Some("20000"), "Most entries in the cache.";
    "cache.max_bytes", "COBROWSE_CACHE_MAX_BYTES", Some("67108864"), "Most bytes of memory the cache's entries hold: each weighs its decoded value and everything it owns (a conversation as the gateway holds it takes about three times its size on the wire). An entry heavier than this is not kept.";
    "cache.live_ttl", "COBROWSE_CACHE_LIVE_TTL", Some("5s"), "Time to live of live conversation state (conversations, co-browse listings).";
    "cache.directory_ttl", "COBROWSE_CACHE_DIRECTORY_TTL", Some("10m"), "Time to live of users, queues and wrap-up codes.";
    "cache.stale_grace", "COBROWSE_CACHE_STALE_GRACE", Some("5m"), "Stale-if-error: how long past its TTL an entry may still be served when upstream fails (with a warning); 0s turns it off.";
    "limits.max_depth", "COBROWSE_LIMITS_MAX_DEPTH", Some("16"), "Deepest GraphQL selection accepted.";
    "limits.max_complexity", "COBROWSE_LIMITS_MAX_COMPLEXITY", Some("5000"), "Largest GraphQL query complexity accepted.";
    "limits.max_aliases", "COBROWSE_LIMITS_MAX_ALIASES", Some("40"), "Most aliased fields in one GraphQL document.";
    "limits.max_root_fields", "COBROWSE_LIMITS_MAX_ROOT_FIELDS", Some("10"), "Most fields at the root of one operation.";
    "limits.max_document_bytes", "COBROWSE_LIMITS_MAX_DOCUMENT_BYTES", Some("32768"), "Longest GraphQL document (query text) accepted.";
    "limits.max_nesting", "COBROWSE_LIMITS_MAX_NESTING", Some("64"), "Deepest nesting of braces, brackets and parentheses in a GraphQL document, and of arrays and objects in its variables; measured before parsing.";
    "limits.requests_per_second", "COBROWSE_LIMITS_REQUESTS_PER_SECOND", Some("50"), "Sustained GraphQL requests per second per caller (a token bucket); 0 means no limit.";
    "limits.request_burst", "COBROWSE_LIMITS_REQUEST_BURST", Some("100"), "Requests a caller may make at once above the sustained rate.";
    "limits.max_page_size", "COBROWSE_LIMITS_MAX_PAGE_SIZE", Some("100"), "Largest `first`/`last` of a connection.";
    "webhooks.zoom_secret", "COBROWSE_ZOOM_WEBHOOK_SECRET", None, "Zoom webhook secret token (signs deliveries). Unset: /webhooks/zoom answers 503, except in demo mode, which makes one per run and prints it at start. Never logged.";
    "webhooks.zoom_idle_after", "COBROWSE_WEBHOOKS_ZOOM_IDLE_AFTER", Some("12h"), "A Zoom session with no event for this long is taken as ended (its end was lost, or a demo stopped): ended at its latest activity with an endReason saying it went idle, stored, told to subscribers and counted in cobrowse_gateway_zoom_sessions_idle_ended_total; an event after that activity makes it active again. At least engage.max_session_length.";
    "webhooks.max_skew", "COBROWSE_WEBHOOKS_MAX_SKEW", Some("5m"), "Largest difference between a delivery's timestamp and now.";
    "webhooks.max_body_bytes", "COBROWSE_WEBHOOKS_MAX_BODY_BYTES", Some("65536"), "Largest webhook body accepted (larger: 413).";
    "store.path", "COBROWSE_STORE_PATH", None, "SQLite file of the webhook event store (created with its folder). Unset: events.sqlite in $STATE_DIRECTORY (systemd's StateDirectory=), else in $XDG_DATA_HOME/cobrowse-gateway, else in ~/.local/share/cobrowse-gateway; never relative to the working directory. Demo mode without store.path or store.url: a temporary file of its own, emptied each run.";
    "store.url", "COBROWSE_STORE_URL", None, "PostgreSQL URL of the event store shared by several replicas (postgres://user:password@host:5432/database); when set, store.path is not used. Unset: the SQLite file at store.path. Shown everywhere with its passwords (user part, `password`/`sslpassword` parameters) hidden.";
    "store.max_connections", "COBROWSE_STORE_MAX_CONNECTIONS", Some("10"), "With store.url: most connections to PostgreSQL this replica opens.";
    "store.catch_up_interval", "COBROWSE_STORE_CATCH_UP_INTERVAL", Some("1s"), "With store.url: how often a replica reads the change feed even when no NOTIFY woke it (a notification sent while its listening connection was down is lost); the longest a change can take to reach its subscribers then.";
    "store.retention", "COBROWSE_STORE_RETENTION", Some("30d"), "Ended Zoom sessions older than this are deleted with their events.";
    "engage.agent_sessions_limit", "COBROWSE_ENGAGE_AGENT_SESSIONS_LIMIT", Some("0"), "Simultaneous co-browse sessions an agent may join (Engage agentSessionsLimit); 0 means no limit.";
    "engage.max_session_length", "COBROWSE_ENGAGE_MAX_SESSION_LENGTH", Some("12h"), "The agent limit counts an agent's other sessions joined at most this long before (bounds its cost).";
    "notifications.enabled", "COBROWSE_NOTIFICATIONS_ENABLED", Some("true"), "Service mode: keep the active set by listening to Genesys's Notifications API (the co-browse, screen-share and message topics of every queue, and each active user's message topic) instead of polling analytics; false polls every notifications.poll_interval (and Co-browse for Messenger is then known only from offerCobrowse and page reports).";
    "notifications.heartbeat_timeout", "COBROWSE_NOTIFICATIONS_HEARTBEAT_TIMEOUT", Some("75s"), "A notification socket silent this long is taken for dead, reconnected and back-filled (Genesys sends a heartbeat about every 30s; the gateway pings at half of this). Data kept by events is vouched for at most this long after the last message.";
    "notifications.poll_interval", "COBROWSE_NOTIFICATIONS_POLL_INTERVAL", Some("10s"), "When notifications cannot be had (topics rejected, sockets refused, or notifications.enabled off): how often the active set is polled from analytics.";
    "notifications.relist_interval", "COBROWSE_NOTIFICATIONS_RELIST_INTERVAL", Some("5m"), "How often the queues are listed again, so that new queues are listened to and rejected topics are tried again; each re-list ends in a back-fill.";
    "notifications.reconcile_interval", "COBROWSE_NOTIFICATIONS_RECONCILE_INTERVAL", Some("5m"), "While events keep the active set: how often it is reconciled with analytics all the same, so that what an event missed (a conversation whose end was never heard) is set right within this long; each correction is counted in cobrowse_gateway_live_corrections_total.";
    "notifications.analytics_lag", "COBROWSE_NOTIFICATIONS_ANALYTICS_LAG", Some("10s"), "How far Genesys analytics lags real time: a back-fill leaves alone what events said within it, and is taken again this long after a gap.";
    "notifications.lease_ttl", "COBROWSE_NOTIFICATIONS_LEASE_TTL", Some("10s"), "With store.url (several replicas): one replica at a time listens to Genesys, holding a lease it renews every third of this; when it dies or loses the database another takes over within about this long and back-fills.";
    "messenger.page_origins", "COBROWSE_MESSENGER_PAGE_ORIGINS", Some(""), "Web origins (comma-separated, https://www.example.com) of the websites whose pages run the gateway's page script (/messenger-cobrowse.js) beside their Genesys Messenger: it reports Co-browse for Messenger sessions starting and ending to POST /messenger/page-reports. Empty: every report is refused (PAGE_REPORTS_OFF), except from loopback origins in demo mode. `*` is not accepted: reports come from the public internet.";
    "messenger.page_reports_per_minute", "COBROWSE_MESSENGER_PAGE_REPORTS_PER_MINUTE", Some("30"), "Page reports one client address may send per minute (more: 429 PAGE_REPORTS_LIMITED).";
    "messenger.page_reports_per_session", "COBROWSE_MESSENGER_PAGE_REPORTS_PER_SESSION", Some("8"), "Page reports one session may receive in all (more: 429 PAGE_REPORTS_LIMITED); a session has one start and one end.";
    "messenger.history", "COBROWSE_MESSENGER_HISTORY", Some("1d"), "Service mode, while the listener runs: how far back Co-browse for Messenger sessions of web messaging conversations the listener never heard (before it started, or while it was away) are read from analytics (mediaType message) and their messages, at start and every notifications.reconcile_interval; each conversation is read once its agent leg is over. 0s: not at all. At most 31d; never further back than store.retention.";
    "redis.url", "COBROWSE_REDIS_URL", None, "Redis shared by several replicas (redis://host:6379): one rate-limit bucket per caller for all of them, and the automatic persisted queries any of them registered. Unset, or Redis not answering: each replica its own. Shown everywhere with its password hidden.";
    "redis.timeout", "COBROWSE_REDIS_TIMEOUT", Some("50ms"), "Longest wait for Redis before a request goes on with this replica's own state.";
    "demo.conversations", "COBROWSE_DEMO_CONVERSATIONS", Some("24"), "Conversations the demo simulator seeds.";
    "demo.seed", "COBROWSE_DEMO_SEED", Some("7"), "Seed of the demo simulator's data.";
    "demo.messenger_conversations", "COBROWSE_DEMO_MESSENGER_CONVERSATIONS", Some("12"), "Web messaging and voice conversations with Co-browse for Messenger that the demo keeps going beside the legacy co-browse conversations and Zoom sessions (offers accepted, rejected or left to expire; the customers' pages report starts and ends to this gateway); 0: none.";
    "demo.pace", "COBROWSE_DEMO_PACE", Some("5s"), "How often the demo simulator's world moves on by one step (a conversation starts, an agent joins, a session ends, ...); 0s keeps it still.";
    "log.format", "COBROWSE_LOG_FORMAT", Some("text"), "Log format: text or json.";
    "log.filter", "COBROWSE_LOG_FILTER", Some("info"), "Log filter, in tracing's EnvFilter syntax.";
}

/// The settings whose values are never printed.
const SECRETS: [&str; 5] = [
    "upstream.client_secret",
    "auth.jwt_secret",
    "webhooks.zoom_secret",
    "store.url",
    "redis.url",
];

/// The settings that are URLs, shown everywhere with their passwords
/// hidden ([`crate::secret::redact_url`]).
const URLS: [&str; 4] = [
    "upstream.url",
    "upstream.login_url",
    "store.url",
    "redis.url",
];

/// The environment variable naming the optional settings file.
pub const CONFIG_ENV: &str = "COBROWSE_CONFIG";

/// All settings, typed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub(crate) server: ServerSettings,
    pub(crate) auth: AuthSettings,
    pub upstream: UpstreamSettings,
    pub(crate) cache: CacheSettings,
    pub(crate) limits: LimitSettings,
    pub(crate) webhooks: WebhookSettings,
    pub(crate) store: StoreSettings,
    pub(crate) engage: EngageSettings,
    pub(crate) notifications: NotificationSettings,
    pub(crate) messenger: MessengerSettings,
    pub(crate) redis: RedisSettings,
    pub(crate) demo: DemoSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSettings {
    #[serde(deserialize_with = "de::listen")]
    pub(crate) listen: SocketAddr,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) request_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) shutdown_grace: Duration,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_body_bytes: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) persisted_queries_max_bytes: u64,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) graphiql: bool,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) response_cache: bool,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) compiled_queries: CompiledQueries,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) introspection: bool,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) response_cache_max_bytes: u64,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_connections: usize,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) reserved_connections: usize,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) header_read_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) websocket_init_timeout: Duration,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_subscriptions_per_socket: usize,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) readiness_interval: Duration,
    #[serde(deserialize_with = "de::list")]
    pub(crate) operation_names: Vec<String>,
    #[serde(deserialize_with = "de::list")]
    pub(crate) cors_origins: Vec<String>,
    #[serde(deserialize_with = "de::list")]
    pub(crate) public_origins: Vec<String>,
    #[serde(deserialize_with = "de::parsed_list")]
    pub(crate) trusted_proxies: Vec<Network>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthSettings {
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) mode: AuthMode,
    #[serde(default)]
    pub(crate) api_keys_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub(crate) jwt_secret: Option<Secret>,
    #[serde(default)]
    pub(crate) jwks_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub(crate) jwt_issuer: Option<String>,
    #[serde(default)]
    pub(crate) jwt_audience: Option<String>,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) jwt_leeway: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) reload_interval: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) token_check_ttl: Duration,
}

/// Whether queries are answered by compiled plans (`server.compiled_queries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompiledQueries {
    Off,
    On,
    Verify,
}

impl FromStr for CompiledQueries {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "on" => Ok(Self::On),
            "verify" => Ok(Self::Verify),
            other => Err(format!("expected `on`, `off` or `verify`, got `{other}`")),
        }
    }
}

/// How callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMode {
    Service,
    Passthrough,
}

impl FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "service" => Ok(Self::Service),
            "passthrough" => Ok(Self::Passthrough),
            other => Err(format!(
                "expected `service` or `passthrough`, got `{other}`"
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    #[serde(default, deserialize_with = "de::api_url")]
    pub url: Option<Url>,
    #[serde(default, deserialize_with = "de::login_url")]
    pub login_url: Option<Url>,
    #[serde(default)]
    pub(crate) client_id: Option<String>,
    #[serde(default)]
    pub(crate) client_secret: Option<Secret>,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) connect_timeout: Duration,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_in_flight: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_attempts: u32,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) base_backoff: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) max_backoff: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) max_retry_after: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) active_lookback: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) history_job_after: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) history_job_poll: Duration,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_page_bytes: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_list_items: usize,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) token_refresh_margin: Duration,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) breaker_threshold: u32,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) breaker_cooldown: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheSettings {
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) enabled: bool,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_entries: u64,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_bytes: u64,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) live_ttl: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) directory_ttl: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) stale_grace: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitSettings {
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_depth: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_complexity: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_aliases: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_root_fields: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_document_bytes: usize,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_nesting: usize,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) requests_per_second: f64,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) request_burst: u32,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_page_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSettings {
    #[serde(default)]
    pub(crate) zoom_secret: Option<Secret>,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) max_skew: Duration,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_body_bytes: usize,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) zoom_idle_after: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreSettings {
    #[serde(default)]
    pub(crate) path: Option<std::path::PathBuf>,
    #[serde(default)]
    pub(crate) url: Option<Secret>,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) max_connections: u32,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) catch_up_interval: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) retention: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngageSettings {
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) agent_sessions_limit: usize,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) max_session_length: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationSettings {
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) enabled: bool,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) heartbeat_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) poll_interval: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) relist_interval: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) reconcile_interval: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) analytics_lag: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) lease_ttl: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisSettings {
    #[serde(default)]
    pub(crate) url: Option<Secret>,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessengerSettings {
    #[serde(deserialize_with = "de::list")]
    pub(crate) page_origins: Vec<String>,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) page_reports_per_minute: u32,
    #[serde(deserialize_with = "de::positive")]
    pub(crate) page_reports_per_session: u32,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) history: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DemoSettings {
    #[serde(deserialize_with = "de::positive")]
    pub(crate) conversations: usize,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) seed: u64,
    #[serde(deserialize_with = "de::parsed")]
    pub(crate) messenger_conversations: usize,
    #[serde(deserialize_with = "de::duration")]
    pub(crate) pace: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    #[serde(deserialize_with = "de::parsed")]
    pub format: LogFormat,
    pub filter: String,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `text` or `json`, got `{other}`")),
        }
    }
}

/// The upstream a gateway talks to, once settings are checked.
// Built once at start-up: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum UpstreamMode {
    /// Start the simulator in-process and talk to it.
    Demo,
    /// Talk to a real PureCloud organisation.
    Remote {
        api_url: Url,
        login_url: Url,
        client_id: String,
        client_secret: Secret,
    },
}

/// A network of addresses (`10.0.0.0/8`, `fd00::/8`), or one address, as
/// `server.trusted_proxies` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Network {
    ip: std::net::IpAddr,
    bits: u8,
}

impl Network {
    /// Whether `ip` is in it (an IPv4 address mapped into IPv6 counts as
    /// IPv4).
    pub(crate) fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (ip, self.ip) {
            (IpAddr::V4(ip), IpAddr::V4(net)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(ip) & mask == u32::from(net) & mask
            }
            (IpAddr::V6(ip), IpAddr::V6(net)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(entry: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{entry}` is not an address or a network (like 10.0.0.1, 10.0.0.0/8 or fd00::/8)"
            )
        };
        let (ip, bits) = match entry.split_once('/') {
            Some((ip, bits)) => (ip, Some(bits.parse::<u8>().map_err(|_| bad())?)),
            None => (entry, None),
        };
        let ip: std::net::IpAddr = ip.trim().parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Self { ip, bits })
    }
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingSource {
    Default,
    File,
    Environment,
    Flag,
}

impl fmt::Display for SettingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SettingSource::Default => "default",
            SettingSource::File => "settings file",
            SettingSource::Environment => "environment",
            SettingSource::Flag => "command line",
        })
    }
}

/// A setting that could not be read. Its message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

/// Values gathered from every source before they are typed.
#[derive(Default)]
pub struct Layers {
    values: toml::Table,
    sources: BTreeMap<String, SettingSource>,
}

impl Layers {
    /// The defaults of [`SETTINGS`].
    pub fn defaults() -> Self {
        let mut layers = Self::default();
        for setting in SETTINGS {
            if let Some(default) = setting.default {
                layers.put(
                    setting.path,
                    toml::Value::String(default.into()),
                    SettingSource::Default,
                );
            }
        }
        layers
    }

    /// Every source of the process: defaults, `COBROWSE_CONFIG` or
    /// `config`, the environment, then the given flag overrides.
    pub fn load(
        config: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, SettingsError> {
        let mut layers = Layers::defaults();
        let from_env = std::env::var_os(CONFIG_ENV).map(std::path::PathBuf::from);
        if let Some(path) = config.map(Path::to_path_buf).or(from_env) {
            layers = layers.file(&path)?;
        }
        layers = layers.env(std::env::vars())?;
        for (path, value) in overrides {
            layers = layers.set(path, value)?;
        }
        Ok(layers)
    }

    /// Each setting's value as given (secrets redacted; `None` when unset)
    /// and the source it came from.
    pub(crate) fn given(&self) -> Vec<(&'static Setting, Option<String>, SettingSource)> {
        SETTINGS
            .iter()
            .map(|setting| {
                let (section, key) = setting.path.split_once('.').expect("section.key");
                let value = self.values.get(section).and_then(|s| s.get(key)).map(|v| {
                    if let (true, toml::Value::String(url)) = (URLS.contains(&setting.path), v) {
                        crate::secret::redact_url(url)
                    } else if SECRETS.contains(&setting.path) {
                        "(set; not shown)".to_owned()
                    } else if let toml::Value::String(text) = v {
                        text.clone()
                    } else {
                        v.to_string()
                    }
                });
                let source = self
                    .sources
                    .get(setting.path)
                    .copied()
                    .unwrap_or(SettingSource::Default);
                (setting, value, source)
            })
            .collect()
    }

    /// Adds a TOML settings file.
    pub(crate) fn file(mut self, path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SettingsError(format!("cannot read settings file {}: {e}", path.display()))
        })?;
        let table: toml::Table = text.parse().map_err(|e| {
            // The message quotes the line, which may hold a URL's password.
            SettingsError(crate::secret::redact_text(&format!(
                "settings file {} is not valid TOML: {e}",
                path.display()
            )))
        })?;
        for (section, value) in table {
            let toml::Value::Table(keys) = value else {
                return Err(SettingsError(format!(
                    "settings file {}: `{section}` must be a section ([{section}])",
                    path.display()
                )));
            };
            for (key, value) in keys {
                let path_key = format!("{section}.{key}");
                if lookup(&path_key).is_none() {
                    return Err(SettingsError(format!(
                        "settings file {}: unknown setting `{path_key}`{}",
                        path.display(),
                        suggest_path(&path_key)
                    )));
                }
                self.put(&path_key, value, SettingSource::File);
            }
        }
        Ok(self)
    }

    /// Adds every `COBROWSE_*` variable of `vars`. Unknown ones are errors,
    /// so that a typo does not silently fall back to a default.
    pub(crate) fn env(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        for (name, value) in vars {
            if !name.starts_with("COBROWSE_") || name == CONFIG_ENV {
                continue;
            }
            let Some(setting) = SETTINGS.iter().find(|s| s.env == name) else {
                return Err(SettingsError(format!(
                    "unknown environment variable {name}{}",
                    suggest(&name, SETTINGS.iter().map(|s| s.env))
                        .map(|env| format!(": did you mean {env}?"))
                        .unwrap_or_else(
                            || ": `cobrowse-gateway --help` lists the settings".to_owned()
                        )
                )));
            };
            self.put(
                setting.path,
                toml::Value::String(value),
                SettingSource::Environment,
            );
        }
        Ok(self)
    }

    /// Adds one `path=value` override from the command line.
    pub fn set(mut self, path: &str, value: &str) -> Result<Self, SettingsError> {
        if lookup(path).is_none() {
            return Err(SettingsError(format!(
                "unknown setting `{path}`{}",
                suggest_path(path)
            )));
        }
        self.put(path, toml::Value::String(value.into()), SettingSource::Flag);
        Ok(self)
    }

    fn put(&mut self, path: &str, value: toml::Value, source: SettingSource) {
        let (section, key) = path.split_once('.').expect("setting paths are section.key");
        let section = self
            .values
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(keys) = section {
            keys.insert(key.to_owned(), value);
        }
        self.sources.insert(path.to_owned(), source);
    }

    /// Types and checks the gathered values.
    pub fn build(self) -> Result<Settings, SettingsError> {
        let sources = self.sources;
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(self.values))
            .map_err(|e| {
                let path = e.path().to_string();
                SettingsError(format!(
                    "invalid setting {}: {}",
                    describe(&path, &sources),
                    e.inner().message().trim()
                ))
            })?;
        settings.check(&sources)?;
        Ok(settings)
    }
}

impl Settings {
    /// The defaults alone (demo mode).
    #[cfg(test)]
    pub(crate) fn defaults() -> Self {
        Layers::defaults().build().expect("the defaults are valid")
    }

    /// Settings from the process: defaults, `COBROWSE_CONFIG` or `config`,
    /// the environment, then the given flag overrides.
    pub fn load(
        config: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, SettingsError> {
        Layers::load(config, overrides)?.build()
    }

    /// Demo mode with no store named (neither `store.path` nor
    /// `store.url`): the event store is a temporary file of its own,
    /// emptied each run, so that nothing of a stopped demo (sessions it
    /// never ended) outlives it.
    pub fn demo_store_is_temporary(&self) -> bool {
        matches!(self.upstream_mode(), UpstreamMode::Demo)
            && self.store.path.is_none()
            && self.store.url.is_none()
    }

    /// The event store's file, and why there: `store.path` (made absolute,
    /// so the log says which file), or the default place.
    pub fn store_location(&self) -> Result<(std::path::PathBuf, &'static str), SettingsError> {
        match &self.store.path {
            Some(path) => Ok((
                std::path::absolute(path).unwrap_or_else(|_| path.clone()),
                "store.path",
            )),
            None => default_store_path(|name| std::env::var_os(name))
                .map_err(|why| SettingsError(format!("the event store: {why}"))),
        }
    }

    /// Every secret the user set, for [`crate::secret::Scrub`]: the
    /// secret settings, and the passwords inside the URL settings (in the
    /// user part, or a query parameter named like a secret), as written and
    /// percent-decoded.
    pub fn scrub(&self) -> crate::secret::Scrub {
        let mut secrets: Vec<String> = [
            &self.upstream.client_secret,
            &self.auth.jwt_secret,
            &self.webhooks.zoom_secret,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.expose().to_owned())
        .collect();
        let urls = [
            self.upstream.url.as_ref().map(Url::as_str),
            self.upstream.login_url.as_ref().map(Url::as_str),
            self.store.url.as_ref().map(Secret::expose),
            self.redis.url.as_ref().map(Secret::expose),
        ];
        for url in urls.into_iter().flatten() {
            secrets.extend(url_secrets(url));
        }
        crate::secret::Scrub::new(secrets)
    }

    /// Whether the event store is PostgreSQL (`store.url`).
    pub fn store_is_postgres(&self) -> bool {
        self.store.url.is_some()
    }

    /// The Zoom webhook secret, when set.
    pub fn zoom_secret(&self) -> Option<&Secret> {
        self.webhooks.zoom_secret.as_ref()
    }

    /// The gateway's own base URL as seen from this machine (`0.0.0.0`
    /// is reached at 127.0.0.1).
    pub fn local_base_url(&self) -> String {
        let mut addr = self.server.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    /// Where the gateway gets its data.
    pub(crate) fn upstream_mode(&self) -> UpstreamMode {
        let up = &self.upstream;
        match (&up.url, &up.client_id, &up.client_secret) {
            (Some(api_url), Some(client_id), Some(client_secret)) => UpstreamMode::Remote {
                api_url: api_url.clone(),
                login_url: up
                    .login_url
                    .clone()
                    .or_else(|| derive_login_url(api_url))
                    .expect("checked at load"),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
            },
            _ => UpstreamMode::Demo,
        }
    }

    /// Every setting that cannot be honoured, one line each (not only the
    /// first: a newcomer fixes them all in one go).
    fn check(&self, sources: &BTreeMap<String, SettingSource>) -> Result<(), SettingsError> {
        let mut found = Vec::new();
        self.check_upstream(&mut found);
        self.check_auth(&mut found);
        self.check_shared(&mut found);
        self.check_values(&mut found);
        if found.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = found
            .iter()
            .map(|(path, why)| format!("invalid setting {}: {why}", describe(path, sources)))
            .collect();
        Err(SettingsError(lines.join("\n")))
    }

    /// Demo mode, or a whole set of upstream credentials.
    fn check_upstream(&self, found: &mut Vec<InvalidSetting>) {
        let up = &self.upstream;
        if let Some(url) = &up.url {
            if up.client_id.as_deref().is_none_or(str::is_empty) {
                invalid(
                    found,
                    "upstream.client_id",
                    "required when upstream.url is set",
                );
            }
            if up
                .client_secret
                .as_ref()
                .is_none_or(|s| s.expose().is_empty())
            {
                invalid(
                    found,
                    "upstream.client_secret",
                    "required when upstream.url is set",
                );
            }
            if up.login_url.is_none() && derive_login_url(url).is_none() {
                let host = url.host_str().unwrap_or_default();
                if let Some(region) = host.strip_prefix("apps.") {
                    invalid(
                        found,
                        "upstream.url",
                        &format!("{host} is the Genesys Cloud web app; the API of that region is https://api.{region}"),
                    );
                } else {
                    invalid(
                        found,
                        "upstream.login_url",
                        "required when the API host does not start with `api.`",
                    );
                }
            }
        } else if up.login_url.is_some() || up.client_id.is_some() || up.client_secret.is_some() {
            invalid(
                found,
                "upstream.url",
                "required when login_url, client_id or client_secret is set (unset means demo mode)",
            );
        }
        if up.active_lookback.is_zero() || up.active_lookback > Duration::from_secs(31 * 86_400) {
            invalid(
                found,
                "upstream.active_lookback",
                "must be more than 0s and at most 31d (the longest interval analytics takes)",
            );
        }
        if self.messenger.history > Duration::from_secs(31 * 86_400) {
            invalid(
                found,
                "messenger.history",
                "must be at most 31d (the longest interval analytics takes)",
            );
        }
        if up.history_job_poll.is_zero() || up.history_job_poll > Duration::from_secs(60) {
            invalid(
                found,
                "upstream.history_job_poll",
                "must be more than 0s and at most 60s",
            );
        }
        if up.base_backoff > up.max_backoff {
            invalid(
                found,
                "upstream.base_backoff",
                "must not exceed upstream.max_backoff",
            );
        }
    }

    /// Keys and claims that fit the mode, and a JWT secret long enough.
    fn check_auth(&self, found: &mut Vec<InvalidSetting>) {
        let auth = &self.auth;
        let jwt_keys = auth.jwt_secret.is_some() || auth.jwks_file.is_some();
        if auth.mode == AuthMode::Passthrough && (jwt_keys || auth.api_keys_file.is_some()) {
            invalid(
                found,
                "auth.mode",
                "passthrough takes the caller's own upstream token; auth.api_keys_file, auth.jwt_secret and auth.jwks_file are for service mode",
            );
        }
        for (path, value) in [
            ("auth.jwt_issuer", &auth.jwt_issuer),
            ("auth.jwt_audience", &auth.jwt_audience),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                invalid(
                    found,
                    path,
                    "must not be empty when set: a JWT's claim is compared with it",
                );
            }
        }
        if !jwt_keys && (auth.jwt_issuer.is_some() || auth.jwt_audience.is_some()) {
            invalid(
                found,
                "auth.jwt_issuer",
                "auth.jwt_issuer and auth.jwt_audience need a key to check tokens with: auth.jwt_secret or auth.jwks_file",
            );
        }
        if auth
            .jwt_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            invalid(found, "auth.jwt_secret", "must be at least 32 characters");
        }
    }

    /// What several replicas share (PostgreSQL, Redis) and the origins
    /// browsers may call from.
    fn check_shared(&self, found: &mut Vec<InvalidSetting>) {
        if let Some(url) = &self.store.url {
            if let Err(why) = postgres_url(url.expose()) {
                invalid(found, "store.url", &why);
            }
        }
        if let Some(url) = &self.redis.url {
            let scheme = url.expose().split("://").next().unwrap_or_default();
            if !matches!(scheme, "redis" | "rediss") || redis_url_is_bad(url.expose()) {
                invalid(
                    found,
                    "redis.url",
                    "expected a Redis URL like redis://cache.internal:6379",
                );
            }
        }
        for (path, list, any) in [
            ("server.cors_origins", &self.server.cors_origins, true),
            ("server.public_origins", &self.server.public_origins, false),
            (
                "messenger.page_origins",
                &self.messenger.page_origins,
                false,
            ),
        ] {
            for origin in list {
                if let Err(why) = crate::origin::check(origin, any) {
                    invalid(found, path, &why);
                }
            }
        }
    }

    /// Durations that must be long enough.
    fn check_durations(&self, found: &mut Vec<InvalidSetting>) {
        let (up, server) = (&self.upstream, &self.server);
        for (path, ttl) in [
            ("store.retention", self.store.retention),
            ("store.catch_up_interval", self.store.catch_up_interval),
            ("webhooks.max_skew", self.webhooks.max_skew),
            ("cache.live_ttl", self.cache.live_ttl),
            ("cache.directory_ttl", self.cache.directory_ttl),
            ("upstream.timeout", up.timeout),
            ("server.request_timeout", server.request_timeout),
            ("auth.token_check_ttl", self.auth.token_check_ttl),
            ("upstream.breaker_cooldown", up.breaker_cooldown),
            ("server.header_read_timeout", server.header_read_timeout),
            (
                "server.websocket_init_timeout",
                server.websocket_init_timeout,
            ),
            (
                "notifications.poll_interval",
                self.notifications.poll_interval,
            ),
            (
                "notifications.relist_interval",
                self.notifications.relist_interval,
            ),
            (
                "notifications.reconcile_interval",
                self.notifications.reconcile_interval,
            ),
        ] {
            if ttl.is_zero() {
                invalid(found, path, "must be longer than zero");
            }
        }
        if self.webhooks.zoom_idle_after < self.engage.max_session_length {
            invalid(
                found,
                "webhooks.zoom_idle_after",
                "must be at least engage.max_session_length (a session that long is not idle)",
            );
        }
        if self.notifications.lease_ttl < Duration::from_millis(300) {
            invalid(
                found,
                "notifications.lease_ttl",
                "must be at least 300ms (the lease is renewed every third of it)",
            );
        }
        if self.notifications.heartbeat_timeout < Duration::from_millis(100) {
            invalid(
                found,
                "notifications.heartbeat_timeout",
                "must be at least 100ms (Genesys sends a heartbeat about every 30s)",
            );
        }
    }

    /// Names, rates, secrets, durations and the log filter.
    fn check_values(&self, found: &mut Vec<InvalidSetting>) {
        if let Some(bad) = self
            .server
            .operation_names
            .iter()
            .find(|n| !is_operation_name(n))
        {
            invalid(
                found,
                "server.operation_names",
                &format!("`{bad}` is not a GraphQL name (letters, digits and `_`, at most 64)"),
            );
        }
        if !(self.limits.requests_per_second.is_finite() && self.limits.requests_per_second >= 0.0)
        {
            invalid(
                found,
                "limits.requests_per_second",
                "must be a number, 0 or more",
            );
        }
        if self
            .webhooks
            .zoom_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            invalid(found, "webhooks.zoom_secret", "must not be empty when set");
        }
        self.check_durations(found);
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            invalid(found, "log.filter", &e.to_string());
        } else if let Err(why) = log_filter_targets(&self.log.filter) {
            invalid(found, "log.filter", &why);
        }
    }
}

/// The levels a log filter names.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Whether every directive of a log filter names a level, or a module of
/// this program or of a crate it is built from (the filter's syntax takes
/// any other word for a target, which then matches nothing: `verbose`
/// would silence the log).
fn log_filter_targets(filter: &str) -> Result<(), String> {
    static CRATES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let crates = CRATES.get_or_init(|| {
        include_str!("../Cargo.lock")
            .lines()
            .filter_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"'))
            .map(|name| name.replace('-', "_"))
            .collect()
    });
    let is_level = |word: &str| {
        LEVELS.contains(&word.to_ascii_lowercase().as_str())
            || word.parse::<u8>().is_ok_and(|n| n <= 5)
    };
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let target = match directive.rsplit_once('=') {
            // `target=level`, or a span's field (`[span{field=value}]`).
            Some((target, _)) => target.split('[').next().unwrap_or_default(),
            None if is_level(directive) => continue,
            None => directive.split('[').next().unwrap_or_default(),
        };
        if target.is_empty() {
            continue;
        }
        let root = target.split("::").next().unwrap_or_default();
        if !crates.iter().any(|c| c == root) {
            return Err(format!(
                "`{directive}` names neither a level ({}) nor a module of this program or its libraries (like cobrowse_gateway, cobrowse_gateway::live, tower_http or sqlx); for example info or cobrowse_gateway=debug,info",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

/// A setting that cannot be honoured: its path and why.
type InvalidSetting = (&'static str, String);

fn invalid(found: &mut Vec<InvalidSetting>, path: &'static str, why: &str) {
    found.push((path, why.to_owned()));
}

/// The login URL of a PureCloud API URL: `api.` becomes `login.`.
pub(crate) fn derive_login_url(api_url: &Url) -> Option<Url> {
    let host = api_url.host_str()?;
    let rest = host.strip_prefix("api.")?;
    let mut login = api_url.clone();
    login.set_host(Some(&format!("login.{rest}"))).ok()?;
    login.set_path("/");
    Some(login)
}

/// `url` without the first of `suffixes` its path ends with (a trailing
/// slash aside).
fn without_suffix(mut url: Url, suffixes: &[&str]) -> Url {
    let path = url.path().trim_end_matches('/').to_owned();
    if let Some(base) = suffixes.iter().find_map(|s| path.strip_suffix(s)) {
        url.set_path(&format!("{base}/"));
    }
    url
}

/// The address `text` names: `ip:port`, or `host:port` resolved (IPv4
/// first). Mistakes are told with what to write instead.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    const EXAMPLES: &str = "127.0.0.1:8080 (this machine only) or 0.0.0.0:8080 (every interface)";
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if text.contains("://") {
        return Err(format!(
            "`{text}` is a URL; write the address alone, like {EXAMPLES}"
        ));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "`{text}` needs an address and a port, like {EXAMPLES}"
        ));
    };
    let port: u16 = port.parse().map_err(|_| {
        format!("`{port}` is not a port (0 to 65535); write an address like {EXAMPLES}")
    })?;
    if host.is_empty() {
        return Err(format!("`{text}` has no address: write {EXAMPLES}"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("`{host}` does not resolve to an address of this machine; write an address like {EXAMPLES}"))?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("`{host}` resolves to no address; write an address like {EXAMPLES}"))
}

/// Whether `url` is not a Redis URL its client takes.
fn redis_url_is_bad(url: &str) -> bool {
    redis::Client::open(url).is_err()
}

/// The passwords inside `url`: the user part's, and the values of query
/// parameters named like a secret, as written and percent-decoded.
fn url_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = Url::parse(url) else {
        return Vec::new();
    };
    let decoded = |text: &str| {
        form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let mut found: Vec<String> = Vec::new();
    if let Some(password) = parsed.password() {
        found.push(password.to_owned());
        found.extend(decoded(password));
    }
    if let Some(query) = parsed.query() {
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                if crate::secret::is_secret_name(name) && !value.is_empty() {
                    found.push(value.to_owned());
                    found.extend(decoded(value));
                }
            }
        }
    }
    found
}

/// `url` as a PostgreSQL URL, with its passwords hidden (for messages and
/// `check`), or why it is not one.
pub(crate) fn postgres_url(url: &str) -> Result<String, String> {
    let parsed = Url::parse(url).map_err(|_| {
        "expected a PostgreSQL URL like postgres://gateway:password@db.internal:5432/cobrowse"
            .to_owned()
    })?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") || parsed.host_str().is_none() {
        return Err(format!(
            "expected a PostgreSQL URL like postgres://gateway:password@db.internal:5432/cobrowse, got a {}: URL",
            parsed.scheme()
        ));
    }
    Ok(crate::secret::redact_url(parsed.as_str()))
}

/// Where the event store lives when `store.path` is unset, and why there:
/// systemd's `StateDirectory=` (`$STATE_DIRECTORY`), else the XDG data
/// directory. Never the working directory, which is `/` under systemd and
/// in containers.
pub(crate) fn default_store_path(
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<(std::path::PathBuf, &'static str), String> {
    use std::path::PathBuf;
    let absolute = |name: &str| {
        var(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p != Path::new("/"))
    };
    if let Some(state) = var("STATE_DIRECTORY") {
        // systemd gives a colon-separated list; the first is ours.
        let first = state.to_string_lossy().split(':').next().map(PathBuf::from);
        if let Some(dir) = first.filter(|p| p.is_absolute()) {
            return Ok((dir.join("events.sqlite"), "$STATE_DIRECTORY"));
        }
    }
    if let Some(data) = absolute("XDG_DATA_HOME") {
        return Ok((
            data.join("cobrowse-gateway").join("events.sqlite"),
            "$XDG_DATA_HOME",
        ));
    }
    if let Some(home) = absolute("HOME") {
        return Ok((
            home.join(".local/share/cobrowse-gateway/events.sqlite"),
            "~/.local/share",
        ));
    }
    Err("there is no default place for it (none of STATE_DIRECTORY, XDG_DATA_HOME and HOME is set): set store.path (COBROWSE_STORE_PATH) to a file in a writable folder".to_owned())
}

/// Whether `name` may be an operation's metric label.
pub(crate) fn is_operation_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The known name nearest to `name`, if one is near enough to be a typo.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    known
        .map(|k| {
            (
                strsim::damerau_levenshtein(&name, &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(distance, k)| *distance <= (k.len() / 4).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// `: did you mean cache.live_ttl?` for a mistyped setting path: a near
/// path, or the one path with the same key in another section.
fn suggest_path(path: &str) -> String {
    let key = path.rsplit('.').next().unwrap_or(path);
    let mut same_key = SETTINGS
        .iter()
        .filter(|s| s.path.rsplit('.').next() == Some(key));
    let by_key = match (same_key.next(), same_key.next()) {
        (Some(only), None) => Some(only.path),
        _ => None,
    };
    suggest(path, SETTINGS.iter().map(|s| s.path))
        .or(by_key)
        .map(|p| format!(": did you mean {p}?"))
        .unwrap_or_else(|| ": `cobrowse-gateway --help` lists the settings".to_owned())
}

fn lookup(path: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.path == path)
}

fn describe(path: &str, sources: &BTreeMap<String, SettingSource>) -> String {
    let source = sources.get(path).copied();
    match (lookup(path), source) {
        (Some(setting), Some(source)) => format!("`{path}` ({}, from {source})", setting.env),
        (Some(setting), None) if setting.default.is_none() => {
            format!("`{path}` ({}, not set)", setting.env)
        }
        (Some(setting), None) => format!("`{path}` ({}, from default)", setting.env),
        (None, _) => format!("`{path}`"),
    }
}

/// Deserializers that accept both TOML values and strings (from the
/// environment or flags).
mod de {
    use super::*;

    fn text_or_value<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(s),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            other => Err(serde::de::Error::custom(format!(
                "expected a single value, got {}",
                other.type_str()
            ))),
        }
    }

    pub(crate) fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr + 'static,
        T::Err: fmt::Display,
    {
        let text = text_or_value(d)?;
        text.trim().parse().map_err(|e: T::Err| {
            serde::de::Error::custom(match expected::<T>() {
                Some(expected) => format!("expected {expected}, got `{text}`"),
                None => e.to_string(),
            })
        })
    }

    /// What a value of a plain type looks like, in words (the parsers'
    /// own messages, "invalid digit found in string", are not for people).
    fn expected<T: 'static>() -> Option<&'static str> {
        use std::any::TypeId;
        let t = TypeId::of::<T>();
        if t == TypeId::of::<bool>() {
            Some("true or false")
        } else if [
            TypeId::of::<usize>(),
            TypeId::of::<u64>(),
            TypeId::of::<u32>(),
        ]
        .contains(&t)
        {
            Some("a whole number, like 100 (no units or separators)")
        } else if t == TypeId::of::<f64>() {
            Some("a number, like 2.5")
        } else {
            None
        }
    }

    pub(crate) fn positive<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr + PartialEq + Default + 'static,
        T::Err: fmt::Display,
    {
        let value: T = parsed(d)?;
        if value == T::default() {
            return Err(serde::de::Error::custom("must be greater than zero"));
        }
        Ok(value)
    }

    pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = text_or_value(d)?;
        let trimmed = text.trim();
        humantime::parse_duration(trimmed).map_err(|_| {
            serde::de::Error::custom(if trimmed.parse::<f64>().is_ok() {
                format!("`{text}` has no unit: write {trimmed}s, {trimmed}ms or {trimmed}m")
            } else {
                format!("expected a duration like 500ms, 5s, 2m, 1h or 7d, got `{text}`")
            })
        })
    }

    /// An address to listen on: `ip:port`, or `host:port` resolved now
    /// (`localhost:8080` listens on 127.0.0.1:8080).
    pub(crate) fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let text = text_or_value(d)?;
        super::listen_address(text.trim()).map_err(serde::de::Error::custom)
    }

    /// The PureCloud API base URL; `https://api.mypurecloud.ie/api/v2`
    /// (the base with the version, as Genesys's docs write endpoints) is
    /// taken as `https://api.mypurecloud.ie/`: the gateway adds `/api/v2`.
    pub(crate) fn api_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        Ok(url(d)?.map(|u| super::without_suffix(u, &["/api/v2", "/api"])))
    }

    /// The OAuth base URL; one ending in `/oauth/token` is taken without it.
    pub(crate) fn login_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        Ok(url(d)?.map(|u| super::without_suffix(u, &["/oauth/token", "/oauth"])))
    }

    /// A list: a TOML array of strings, or comma-separated text.
    pub(crate) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let items: Vec<String> = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s.split(',').map(|i| i.trim().to_owned()).collect(),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.trim().to_owned()),
                    other => Err(serde::de::Error::custom(format!(
                        "expected strings, got {}",
                        other.type_str()
                    ))),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a list, got {}",
                    other.type_str()
                )))
            }
        };
        Ok(items.into_iter().filter(|i| !i.is_empty()).collect())
    }

    /// A list ([`list`]) of values each parsed as `T`.
    pub(crate) fn parsed_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr<Err = String>,
    {
        list(d)?
            .iter()
            .map(|item| item.parse().map_err(serde::de::Error::custom))
            .collect()
    }

    pub(crate) fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        let text = text_or_value(d)?;
        let shown = crate::secret::redact_url(&text);
        if !text.contains("://") {
            return Err(serde::de::Error::custom(format!(
                "`{shown}` has no scheme: add it, as in https://{}",
                shown.trim().trim_start_matches('/')
            )));
        }
        let url = Url::parse(text.trim())
            .map_err(|e| serde::de::Error::custom(format!("`{shown}` is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(serde::de::Error::custom(format!(
                "`{shown}` must be an http or https base URL"
            )));
        }
        Ok(Some(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn contradictory_auth_settings_are_refused_by_name() {
        let passthrough_with_keys = Layers::defaults()
            .set("auth.mode", "passthrough")
            .unwrap()
            .set("auth.api_keys_file", "keys.toml")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            passthrough_with_keys.contains("`auth.mode`")
                && passthrough_with_keys.contains("for service mode"),
            "{passthrough_with_keys}"
        );
        let issuer_without_key = Layers::defaults()
            .set("auth.jwt_issuer", "https://idp.example.com")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            issuer_without_key.contains("auth.jwt_secret or auth.jwks_file"),
            "{issuer_without_key}"
        );
        let bad_mode = Layers::defaults()
            .set("auth.mode", "open")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            bad_mode.contains("COBROWSE_AUTH_MODE")
                && bad_mode.contains("`service` or `passthrough`"),
            "{bad_mode}"
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        for ok in ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "0.0.0.0/0"] {
            assert!(ok.parse::<Network>().is_ok(), "{ok}");
        }
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.1/x", ""] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
        let error = Layers::defaults()
            .set("server.trusted_proxies", "10.0.0.0/8, proxy.internal")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("server.trusted_proxies") && error.contains("`proxy.internal`"),
            "{error}"
        );
        let net: Network = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.9.9.9".parse().unwrap()));
        assert!(net.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
    }

    #[test]
    fn defaults_are_demo_mode_on_8080() {
        let settings = Settings::defaults();
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
        assert!(matches!(settings.upstream_mode(), UpstreamMode::Demo));
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let settings = Layers::defaults()
            .env(env(&[
                ("COBROWSE_CACHE_LIVE_TTL", "2s"),
                ("COBROWSE_LISTEN", "127.0.0.1:9000"),
            ]))
            .and_then(|l| l.set("server.listen", "127.0.0.1:9001"))
            .and_then(Layers::build)
            .expect("valid settings");
        assert_eq!(settings.cache.live_ttl, Duration::from_secs(2));
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:9001");
    }

    #[test]
    fn a_bad_value_names_the_setting_and_its_source() {
        let error = Layers::defaults()
            .env(env(&[("COBROWSE_CACHE_MAX_ENTRIES", "lots")]))
            .and_then(Layers::build)
            .expect_err("not a number");
        let message = error.to_string();
        assert!(message.contains("cache.max_entries"), "{message}");
        assert!(message.contains("COBROWSE_CACHE_MAX_ENTRIES"), "{message}");
        assert!(message.contains("environment"), "{message}");
    }

    #[test]
    fn unknown_environment_variables_and_keys_are_errors() {
        let error = Layers::defaults()
            .env(env(&[("COBROWSE_CACHE_TTL", "5s")]))
            .err()
            .expect("unknown variable");
        assert!(error.to_string().contains("COBROWSE_CACHE_TTL"));
        assert!(Layers::defaults().set("cache.nope", "1").is_err());
    }

    #[test]
    fn remote_mode_derives_the_login_url_and_requires_credentials() {
        let settings = Layers::defaults()
            .env(env(&[
                ("COBROWSE_UPSTREAM_URL", "https://api.mypurecloud.ie"),
                ("COBROWSE_CLIENT_ID", "id"),
                ("COBROWSE_CLIENT_SECRET", "s3cr3t"),
            ]))
            .and_then(Layers::build)
            .expect("valid settings");
        let UpstreamMode::Remote { login_url, .. } = settings.upstream_mode() else {
            panic!("expected remote mode");
        };
        assert_eq!(login_url.as_str(), "https://login.mypurecloud.ie/");
        assert!(!format!("{settings:?}").contains("s3cr3t"));

        let error = Layers::defaults()
            .env(env(&[(
                "COBROWSE_UPSTREAM_URL",
                "https://api.mypurecloud.ie",
            )]))
            .and_then(Layers::build)
            .expect_err("missing credentials");
        assert!(error.to_string().contains("upstream.client_id"));
    }

    #[test]
    fn a_settings_file_is_read_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, "[cache]\nmax_entries = 10\nlive_ttl = \"1s\"\n").expect("write");
        let settings = Layers::defaults()
            .file(&path)
            .and_then(Layers::build)
            .expect("valid");
        assert_eq!(settings.cache.max_entries, 10);
        std::fs::write(&path, "[cache]\nmax_entrys = 10\n").expect("write");
        let error = Layers::defaults().file(&path).err().expect("typo");
        assert!(error.to_string().contains("cache.max_entrys"));
    }

    #[test]
    fn a_mistyped_name_suggests_the_nearest_known_one() {
        let message = |r: Result<Layers, SettingsError>| r.err().expect("an error").to_string();
        let typo = message(Layers::defaults().set("cache.livettl", "3s"));
        assert!(typo.contains("did you mean cache.live_ttl?"), "{typo}");
        let section = message(Layers::defaults().set("server.live_ttl", "3s"));
        assert!(
            section.contains("did you mean cache.live_ttl?"),
            "{section}"
        );
        let env = message(Layers::defaults().env(env(&[("COBROWSE_CACHE_LIVETTL", "3s")])));
        assert!(
            env.contains("did you mean COBROWSE_CACHE_LIVE_TTL?"),
            "{env}"
        );
        let nothing_near = message(Layers::defaults().set("frobnicate.everything", "1"));
        assert!(nothing_near.contains("--help"), "{nothing_near}");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, "[upstream]\nclient_ID = \"x\"\n").expect("write");
        let file = message(Layers::defaults().file(&path));
        assert!(file.contains("did you mean upstream.client_id?"), "{file}");
    }

    #[test]
    fn numbers_and_durations_say_what_is_expected() {
        let error = |path: &str, value: &str| {
            Layers::defaults()
                .set(path, value)
                .and_then(Layers::build)
                .expect_err("a bad value")
                .to_string()
        };
        let count = error("cache.max_entries", "10k");
        assert!(
            count.contains("expected a whole number")
                && count.contains("`10k`")
                && !count.contains("invalid digit"),
            "{count}"
        );
        let unitless = error("cache.live_ttl", "5");
        assert!(unitless.contains("`5` has no unit: write 5s"), "{unitless}");
        let words = error("cache.live_ttl", "five seconds");
        assert!(
            words.contains("expected a duration like 500ms, 5s"),
            "{words}"
        );
        let flag = error("server.graphiql", "yes");
        assert!(flag.contains("expected true or false"), "{flag}");
        assert!(!flag.contains('\n'), "{flag}");
    }

    #[test]
    fn the_listen_address_may_name_a_host_and_mistakes_say_what_to_write() {
        assert_eq!(
            listen_address("localhost:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            listen_address("[::1]:8080").unwrap().to_string(),
            "[::1]:8080"
        );
        for (bad, says) in [
            ("8080", "needs an address and a port"),
            (":8080", "has no address"),
            ("http://127.0.0.1:8080", "is a URL"),
            ("localhost:http", "is not a port"),
            ("no-such-host.invalid:8080", "does not resolve"),
        ] {
            let message = listen_address(bad).expect_err(bad);
            assert!(
                message.contains(says) && message.contains("0.0.0.0:8080"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn every_region_of_the_sdk_is_a_valid_upstream_and_its_web_app_host_is_named() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/genesys-sdk.json"
        )))
        .expect("the fixture");
        let hosts = fixture["regionHosts"].as_object().expect("region hosts");
        assert!(hosts.len() >= 18, "{hosts:?}");
        let with_url = |url: &str| {
            Layers::defaults()
                .set("upstream.url", url)
                .and_then(|l| l.set("upstream.client_id", "id"))
                .and_then(|l| l.set("upstream.client_secret", "s3cr3t"))
                .and_then(|l| l.set("auth.mode", "passthrough"))
                .and_then(Layers::build)
        };
        for api in hosts.values().filter_map(|url| url.as_str()) {
            let region = api.strip_prefix("https://api.").expect("an api. host");
            let UpstreamMode::Remote { login_url, .. } = with_url(api).expect(api).upstream_mode()
            else {
                panic!("remote");
            };
            assert_eq!(login_url.as_str(), format!("https://login.{region}/"));
            let refused = with_url(&format!("https://apps.{region}"))
                .expect_err("the web app is not the API")
                .to_string();
            assert!(refused.contains(api), "{refused}");
        }
    }

    #[test]
    fn an_api_url_with_the_version_path_is_taken_as_its_base() {
        let settings = Layers::defaults()
            .set("upstream.url", "https://api.mypurecloud.ie/api/v2/")
            .and_then(|l| {
                l.set(
                    "upstream.login_url",
                    "https://login.mypurecloud.ie/oauth/token",
                )
            })
            .and_then(|l| l.set("upstream.client_id", "id"))
            .and_then(|l| l.set("upstream.client_secret", "s3cr3t"))
            .and_then(|l| l.set("auth.mode", "passthrough"))
            .and_then(Layers::build)
            .expect("valid");
        let UpstreamMode::Remote {
            api_url, login_url, ..
        } = settings.upstream_mode()
        else {
            panic!("remote");
        };
        assert_eq!(api_url.as_str(), "https://api.mypurecloud.ie/");
        assert_eq!(login_url.as_str(), "https://login.mypurecloud.ie/");
        let web_app = Layers::defaults()
            .set("upstream.url", "https://apps.mypurecloud.de")
            .and_then(|l| l.set("upstream.client_id", "id"))
            .and_then(|l| l.set("upstream.client_secret", "s3cr3t"))
            .and_then(Layers::build)
            .expect_err("the web app is not the API")
            .to_string();
        assert!(web_app.contains("https://api.mypurecloud.de"), "{web_app}");
    }

    #[test]
    fn the_default_store_is_in_the_state_or_data_directory_never_the_working_one() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let all = vars(&[
            (
                "STATE_DIRECTORY",
                "/var/lib/cobrowse-gateway:/var/lib/other",
            ),
            ("XDG_DATA_HOME", "/home/ann/.data"),
            ("HOME", "/home/ann"),
        ]);
        assert_eq!(
            default_store_path(all).unwrap().0,
            Path::new("/var/lib/cobrowse-gateway/events.sqlite")
        );
        let xdg = vars(&[("XDG_DATA_HOME", "/home/ann/.data"), ("HOME", "/home/ann")]);
        assert_eq!(
            default_store_path(xdg).unwrap().0,
            Path::new("/home/ann/.data/cobrowse-gateway/events.sqlite")
        );
        let home = vars(&[("XDG_DATA_HOME", "relative"), ("HOME", "/home/ann")]);
        assert_eq!(
            default_store_path(home).unwrap().0,
            Path::new("/home/ann/.local/share/cobrowse-gateway/events.sqlite")
        );
        let none = default_store_path(vars(&[("HOME", "/")])).unwrap_err();
        assert!(none.contains("store.path"), "{none}");
    }
}
