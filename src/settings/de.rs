//! Deserializers that accept both TOML values and strings (from the
//! environment or flags).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Deserializer};

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
    super::addresses::listen_address(text.trim()).map_err(serde::de::Error::custom)
}

/// The PureCloud API base URL; `https://api.mypurecloud.ie/api/v2`
/// (the base with the version, as Genesys's docs write endpoints) is
/// taken as `https://api.mypurecloud.ie/`: the gateway adds `/api/v2`.
pub(crate) fn api_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    Ok(url(d)?.map(|u| super::addresses::without_suffix(u, &["/api/v2", "/api"])))
}

/// The OAuth base URL; one ending in `/oauth/token` is taken without it.
pub(crate) fn login_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    Ok(url(d)?.map(|u| super::addresses::without_suffix(u, &["/oauth/token", "/oauth"])))
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
