//! Which web origins may call the gateway from a browser: CORS for
//! `/graphql`, and the `Origin` check of WebSocket upgrades.
//!
//! A page on the gateway's own origin (GraphiQL, the home page) is always
//! allowed. Other origins are those of `server.cors_origins`; when it is
//! empty, demo mode allows any loopback origin (`http://localhost:3000`, a
//! dashboard in development) and every other mode allows none.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The origins allowed to call from another origin.
#[derive(Clone, Debug)]
pub(crate) enum Origins {
    /// Exactly these (`scheme://host[:port]`, lower case).
    Listed(Arc<[String]>),
    /// Any `http(s)` origin whose host is loopback (demo mode's default).
    Loopback,
    /// `*`: any origin.
    Any,
}

impl Origins {
    /// From `server.cors_origins` (already checked) and the mode.
    pub(crate) fn new(listed: &[String], demo: bool) -> Self {
        if listed.iter().any(|o| o == "*") {
            Self::Any
        } else if listed.is_empty() && demo {
            Self::Loopback
        } else {
            Self::Listed(listed.iter().map(|o| o.to_ascii_lowercase()).collect())
        }
    }

    /// Whether a page of `origin` may call.
    pub(crate) fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        match self {
            Self::Any => true,
            Self::Listed(listed) => listed.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            Self::Loopback => is_loopback(origin),
        }
    }

    /// Whether a WebSocket upgrade with these headers may go on: no
    /// `Origin` (not a browser), the gateway's own origin, or an allowed
    /// one.
    pub(crate) fn admits_upgrade(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let own = headers.get(header::HOST).is_some_and(|host| {
            origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .is_some_and(|(_, authority)| {
                    authority.as_bytes().eq_ignore_ascii_case(host.as_bytes())
                })
        });
        own || self.allows(origin)
    }

    /// The CORS layer of `/graphql`: preflights answered for the headers a
    /// GraphQL client sends, kept by the browser for 10 minutes.
    pub(crate) fn layer(&self) -> CorsLayer {
        let origins = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origins.allows(origin)
            }))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static("x-api-key"),
                super::REQUEST_ID,
            ])
            .expose_headers([super::REQUEST_ID, header::RETRY_AFTER])
            .max_age(Duration::from_secs(600))
    }
}

/// `http(s)://` and a loopback host, with any port.
fn is_loopback(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        rest.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks one entry of `server.cors_origins`: `*`, or an origin as a
/// browser sends it (`scheme://host[:port]`, no path, no trailing slash).
pub(crate) fn check_origin(entry: &str) -> Result<(), String> {
    if entry == "*" {
        return Ok(());
    }
    let url = reqwest::Url::parse(entry).map_err(|_| {
        format!("`{entry}` is not an origin like https://dashboard.example.com or http://localhost:3000")
    })?;
    let as_origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || as_origin != entry.to_ascii_lowercase() {
        return Err(format!(
            "`{entry}` is not an origin: write it as the browser sends it, `{as_origin}` (scheme, host and port only, no path or trailing slash)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(origin: &str) -> HeaderValue {
        HeaderValue::from_str(origin).unwrap()
    }

    #[test]
    fn demo_mode_allows_loopback_origins_only() {
        let demo = Origins::new(&[], true);
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1:5173",
            "https://[::1]:8443",
            "http://127.0.0.2",
        ] {
            assert!(demo.allows(&value(ok)), "{ok}");
        }
        for no in [
            "http://localhost.evil.com",
            "https://example.com",
            "null",
            "file://",
            "http://10.0.0.1:3000",
        ] {
            assert!(!demo.allows(&value(no)), "{no}");
        }
        assert!(!Origins::new(&[], false).allows(&value("http://localhost:3000")));
    }

    #[test]
    fn listed_origins_are_matched_exactly() {
        let listed = Origins::new(&["https://wall.example.com".into()], false);
        assert!(listed.allows(&value("https://wall.example.com")));
        assert!(listed.allows(&value("https://WALL.example.com")));
        assert!(!listed.allows(&value("https://wall.example.com:8443")));
        assert!(!listed.allows(&value("http://wall.example.com")));
        assert!(Origins::new(&["*".into()], false).allows(&value("https://anything.example")));
    }

    #[test]
    fn an_upgrade_from_the_gateways_own_origin_or_no_browser_is_admitted() {
        let none = Origins::new(&[], false);
        let mut headers = HeaderMap::new();
        assert!(none.admits_upgrade(&headers));
        headers.insert(header::HOST, value("gw.example.com:8080"));
        headers.insert(header::ORIGIN, value("https://gw.example.com:8080"));
        assert!(none.admits_upgrade(&headers));
        headers.insert(header::ORIGIN, value("https://evil.example.com"));
        assert!(!none.admits_upgrade(&headers));
    }

    #[test]
    fn configured_origins_must_be_written_as_browsers_send_them() {
        assert!(check_origin("https://wall.example.com").is_ok());
        assert!(check_origin("http://localhost:3000").is_ok());
        assert!(check_origin("*").is_ok());
        let slash = check_origin("https://wall.example.com/").unwrap_err();
        assert!(slash.contains("`https://wall.example.com`"), "{slash}");
        assert!(check_origin("wall.example.com").is_err());
        assert!(check_origin("https://wall.example.com/app").is_err());
    }
}
