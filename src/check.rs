//! `cobrowse-gateway check`: the settings validated offline (no upstream
//! call, nothing started), and each one's value in effect with where it
//! came from, secrets redacted.

use std::fmt::Write as _;
use std::path::Path;

use crate::secret::redact_url;
use crate::settings::{Layers, SettingSource, Settings, UpstreamMode};

/// The report of valid settings, or the error that stops start-up.
pub fn report(config: Option<&Path>, overrides: &[(String, String)]) -> Result<String, String> {
    let layers = Layers::load(config, overrides).map_err(|e| e.to_string())?;
    let given = layers.given();
    let settings = layers.build().map_err(|e| e.to_string())?;
    let postgres = settings
        .store
        .url
        .as_ref()
        .map(|url| crate::settings::postgres_url(url.expose()).unwrap_or_default());
    // (With PostgreSQL there is no file, and no need for a default place.)
    let (store, store_from) = match &postgres {
        Some(_) => (std::path::PathBuf::new(), ""),
        None => settings.store_location().map_err(|e| e.to_string())?,
    };
    let demo = matches!(settings.upstream_mode(), UpstreamMode::Demo);
    let auth = crate::auth::check_offline(&settings.auth, demo).map_err(|e| format!("{e:#}"))?;
    let mut out = String::new();
    let upstream = upstream(&settings);
    let _ = writeln!(out, "settings are valid (nothing was contacted)");
    let _ = writeln!(out, "  upstream: {upstream}");
    let _ = writeln!(out, "  callers:  {auth}");
    let _ = writeln!(
        out,
        "  store:    {}",
        store_line(&settings, postgres.as_deref(), &store, store_from)
    );
    if let Some(advice) = crate::http::origins::public_origins_advice(
        &settings.server.public_origins,
        settings.server.listen,
    ) {
        let _ = writeln!(out, "  warning:  {advice}");
    }
    let _ = writeln!(out, "\n{:<40} {:<44} from", "setting", "value");
    for (setting, value, source) in given {
        let (value, from) = match (setting.path, value) {
            ("server.listen", Some(given)) => {
                let bound = settings.server.listen.to_string();
                let value = if bound == given {
                    bound
                } else {
                    format!("{bound} (`{given}`)")
                };
                (value, describe(source, setting.env))
            }
            ("upstream.url", Some(_)) => (
                settings
                    .upstream
                    .url
                    .as_ref()
                    .map(|url| redact_url(url.as_str()))
                    .unwrap_or_default(),
                describe(source, setting.env),
            ),
            ("upstream.login_url", None) if !demo => {
                (login_url(&settings), "derived from upstream.url".to_owned())
            }
            ("store.url", Some(_)) => (
                postgres.clone().unwrap_or_default(),
                describe(source, setting.env),
            ),
            ("store.path", _) if postgres.is_some() => (
                "(not used: store.url is set)".to_owned(),
                describe(source, setting.env),
            ),
            ("store.path", None) => default_store(&settings, &store, store_from),
            (_, Some(value)) if value.is_empty() => {
                ("(empty)".to_owned(), describe(source, setting.env))
            }
            (_, Some(value)) => (value, describe(source, setting.env)),
            (_, None) => ("(unset)".to_owned(), "not set".to_owned()),
        };
        let _ = writeln!(out, "{:<40} {:<44} {from}", setting.path, value);
    }
    Ok(settings.scrub().text(&out).into_owned())
}

/// The value and source of `store.path` when it is not set.
fn default_store(settings: &Settings, file: &Path, from: &str) -> (String, String) {
    if settings.demo_store_is_temporary() {
        return (
            "(a temporary file, emptied each run)".to_owned(),
            "demo mode".to_owned(),
        );
    }
    (file.display().to_string(), format!("default ({from})"))
}

/// Where the event store is, in words.
fn store_line(settings: &Settings, postgres: Option<&str>, file: &Path, from: &str) -> String {
    match postgres {
        Some(url) => format!("PostgreSQL at {url}"),
        None if settings.demo_store_is_temporary() => {
            "a temporary file of the demo's own, emptied each run (set store.path to keep it)"
                .to_owned()
        }
        None => format!("{} ({from})", file.display()),
    }
}

/// Where the gateway gets its data, in words.
fn upstream(settings: &Settings) -> String {
    match settings.upstream_mode() {
        UpstreamMode::Demo => "demo mode: the built-in PureCloud simulator".to_owned(),
        UpstreamMode::Remote {
            api_url, client_id, ..
        } => format!(
            "Genesys Cloud at {} as OAuth client {client_id}",
            redact_url(api_url.as_str())
        ),
    }
}

fn login_url(settings: &Settings) -> String {
    match settings.upstream_mode() {
        UpstreamMode::Remote { login_url, .. } => redact_url(login_url.as_str()),
        UpstreamMode::Demo => String::new(),
    }
}

fn describe(source: SettingSource, env: &str) -> String {
    match source {
        SettingSource::Environment => format!("environment ({env})"),
        other => other.to_string(),
    }
}

/// Every metric the gateway exposes, a line each: its name, its labels and
/// its help (what operators scrape, whether or not it has a value yet).
pub fn metrics_catalogue() -> Vec<String> {
    crate::metrics::Metrics::new().catalogue().to_vec()
}
