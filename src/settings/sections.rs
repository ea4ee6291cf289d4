//! The typed settings: [`Settings`] and one struct per section of the
//! table (`server`, `auth`, `upstream`, ...), with the values they take.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::secret::Secret;
use crate::settings::de;

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
