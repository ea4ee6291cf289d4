//! The checks of typed settings: every setting that cannot be honoured,
//! all at once, each with what to write instead.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::settings::addresses::redis_url_is_bad;
use crate::settings::derive_login_url;
use crate::settings::is_operation_name;
use crate::settings::postgres_url;
use crate::settings::table::describe;
use crate::settings::{AuthMode, SettingSource, Settings, SettingsError};

impl Settings {
    /// Every setting that cannot be honoured, one line each (not only the
    /// first: a newcomer fixes them all in one go).
    pub(super) fn check(
        &self,
        sources: &BTreeMap<String, SettingSource>,
    ) -> Result<(), SettingsError> {
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
        Err(SettingsError::Invalid(lines))
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
        include_str!("../../Cargo.lock")
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
