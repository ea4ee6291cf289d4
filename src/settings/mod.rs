//! Typed, layered settings.
//!
//! One table ([`SETTINGS`]) names every setting: its dotted path, its
//! `COBROWSE_*` environment variable, its default and what it does. Sources
//! are layered in this order, each overriding the one before: defaults, an
//! optional TOML file (`--config` or `COBROWSE_CONFIG`), the environment, and
//! flags (`--listen`, `--set path=value`, ...). Unknown keys are errors; a bad
//! value stops start-up with a message naming the setting and where it came
//! from. Secrets are [`Secret`]s and never print.

//!
//! A map of the folder: [`table`](SETTINGS) (every setting, its variable,
//! default and meaning), `sections` (the typed [`Settings`]), `layers`
//! (defaults, file, environment, flags, and where each value came from),
//! `checks` (everything that cannot be honoured, all at once), `addresses`
//! (URLs, listen addresses, the store's place), `de` (values from TOML or
//! text), and here the questions the rest of the gateway asks of them.

mod addresses;
mod checks;
mod de;
mod error;
mod layers;
mod sections;
mod table;

use crate::settings::addresses::url_secrets;
use std::path::Path;

use reqwest::Url;

pub(crate) use addresses::{default_store_path, derive_login_url, is_operation_name, postgres_url};
pub use error::SettingsError;
pub use layers::{Layers, SettingSource};
pub(crate) use sections::{
    AuthMode, AuthSettings, CacheSettings, CompiledQueries, LimitSettings, Network, UpstreamMode,
};
pub use sections::{LogFormat, LogSettings, Settings, UpstreamSettings};
pub use table::{Setting, CONFIG_ENV, SETTINGS};

use crate::secret::Secret;

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
            None => {
                default_store_path(|name| std::env::var_os(name)).map_err(SettingsError::StorePlace)
            }
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
}

#[cfg(test)]
mod tests;
