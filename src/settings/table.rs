//! The table of every setting: its dotted path, its `COBROWSE_*` environment
//! variable, its default and what it does; the settings that are secrets or
//! URLs; finding a setting by path, and the nearest known one for a typo.

use std::collections::BTreeMap;

use crate::settings::SettingSource;

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
pub(super) const SECRETS: [&str; 5] = [
    "upstream.client_secret",
    "auth.jwt_secret",
    "webhooks.zoom_secret",
    "store.url",
    "redis.url",
];

/// The settings that are URLs, shown everywhere with their passwords
/// hidden ([`crate::secret::redact_url`]).
pub(super) const URLS: [&str; 4] = [
    "upstream.url",
    "upstream.login_url",
    "store.url",
    "redis.url",
];

/// The environment variable naming the optional settings file.
pub const CONFIG_ENV: &str = "COBROWSE_CONFIG";
/// The known name nearest to `name`, if one is near enough to be a typo.
pub(super) fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
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
pub(super) fn suggest_path(path: &str) -> String {
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

pub(super) fn lookup(path: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.path == path)
}

pub(super) fn describe(path: &str, sources: &BTreeMap<String, SettingSource>) -> String {
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
