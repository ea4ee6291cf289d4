//! Which web origins may call the gateway from a browser: CORS for
//! `/graphql`, and the `Origin` check of WebSocket upgrades.
//!
//! A page on the gateway's own origin (GraphiQL, the home page) is always
//! allowed. Other origins are those of `server.cors_origins`; when it is
//! empty, demo mode allows any loopback origin (`http://localhost:3000`, a
//! dashboard in development) and every other mode allows none.
//!
//! The gateway's own origins are `server.public_origins` (how browsers
//! reach it behind a proxy), else the loopback forms of the address it
//! listens on. Never the `Host` header: a page of `http://evil.example`
//! whose name an attacker pointed at the gateway (DNS rebinding) sends
//! `Host: evil.example` too, and must not pass for the gateway's own.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Which origins may call: the gateway's own, and the allowed others.
#[derive(Clone, Debug)]
pub(crate) struct Origins {
    /// The gateway's own origins (lower case).
    own: Arc<[String]>,
    others: Others,
}

/// The origins allowed to call from another origin.
#[derive(Clone, Debug)]
enum Others {
    /// Exactly these (`scheme://host[:port]`, lower case).
    Listed(Arc<[String]>),
    /// Any `http(s)` origin whose host is loopback (demo mode's default).
    Loopback,
    /// `*`: any origin.
    Any,
}

impl Origins {
    /// From `server.cors_origins` (already checked), the mode, and the
    /// gateway's own origins ([`own_origins`]).
    pub(crate) fn new(listed: &[String], demo: bool, own: Vec<String>) -> Self {
        let others = if listed.iter().any(|o| o == "*") {
            Others::Any
        } else if listed.is_empty() && demo {
            Others::Loopback
        } else {
            Others::Listed(listed.iter().map(|o| o.to_ascii_lowercase()).collect())
        };
        Self {
            own: own.into_iter().map(|o| o.to_ascii_lowercase()).collect(),
            others,
        }
    }

    /// Whether a page of `origin` may call from another origin.
    pub(crate) fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        match &self.others {
            Others::Any => true,
            Others::Listed(listed) => listed.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            Others::Loopback => crate::origin::is_loopback(origin),
        }
    }

    /// Whether `origin` is one of the gateway's own.
    fn is_own(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .is_ok_and(|origin| self.own.iter().any(|o| o.eq_ignore_ascii_case(origin)))
    }

    /// Whether a WebSocket upgrade with these headers may go on: no
    /// `Origin` (not a browser), one of the gateway's own origins, or an
    /// allowed one. `Host` plays no part.
    pub(crate) fn admits_upgrade(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        self.is_own(origin) || self.allows(origin)
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

/// The gateway's own origins: `public` (`server.public_origins`, already
/// checked) when set, else those of the address it listens on as a browser
/// on this machine reaches it: `http://127.0.0.1:PORT`,
/// `http://localhost:PORT` and `http://[::1]:PORT`, and the address itself
/// when it is a particular one.
pub(crate) fn own_origins(public: &[String], listening: std::net::SocketAddr) -> Vec<String> {
    if !public.is_empty() {
        return public.to_vec();
    }
    let port = listening.port();
    let mut own = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ];
    if !listening.ip().is_unspecified() && !listening.ip().is_loopback() {
        own.push(format!("http://{listening}"));
    }
    own
}

/// Why `server.public_origins` should be set, when it should: the gateway
/// listens beyond loopback, so browsers reach it by a name it cannot know.
pub(crate) fn public_origins_advice(
    public: &[String],
    listen: std::net::SocketAddr,
) -> Option<String> {
    (public.is_empty() && !listen.ip().is_loopback()).then(|| {
        format!(
            "the gateway listens on {listen}, beyond loopback, and server.public_origins is not set: pages served by the gateway (GraphiQL, the wall) reached by any other name than 127.0.0.1, localhost or [::1] cannot open /graphql/ws; set it to the origin(s) browsers use, like https://gateway.example.com"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(origin: &str) -> HeaderValue {
        HeaderValue::from_str(origin).unwrap()
    }

    #[test]
    fn demo_mode_allows_loopback_origins_only() {
        let demo = Origins::new(&[], true, own());
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
        assert!(!Origins::new(&[], false, own()).allows(&value("http://localhost:3000")));
    }

    #[test]
    fn listed_origins_are_matched_exactly() {
        let listed = Origins::new(&["https://wall.example.com".into()], false, own());
        assert!(listed.allows(&value("https://wall.example.com")));
        assert!(listed.allows(&value("https://WALL.example.com")));
        assert!(!listed.allows(&value("https://wall.example.com:8443")));
        assert!(!listed.allows(&value("http://wall.example.com")));
        assert!(
            Origins::new(&["*".into()], false, own()).allows(&value("https://anything.example"))
        );
    }

    fn own() -> Vec<String> {
        own_origins(&[], "127.0.0.1:8080".parse().unwrap())
    }

    fn upgrade(origins: &Origins, host: &str, origin: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value(host));
        headers.insert(header::ORIGIN, value(origin));
        origins.admits_upgrade(&headers)
    }

    #[test]
    fn an_upgrade_from_the_gateways_own_origin_or_no_browser_is_admitted_whatever_host_says() {
        let none = Origins::new(&[], false, own());
        assert!(none.admits_upgrade(&HeaderMap::new()), "not a browser");
        for own in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(upgrade(&none, "localhost:8080", own), "{own}");
        }
        // DNS rebinding: the attacker's name, pointed at the gateway.
        assert!(!upgrade(&none, "evil.example", "http://evil.example"));
        assert!(!upgrade(
            &none,
            "gw.example.com:8080",
            "https://gw.example.com:8080"
        ));
        assert!(!upgrade(&none, "localhost:8080", "http://localhost:9999"));
        // Behind a proxy, the origin browsers use, named.
        let public = Origins::new(
            &[],
            false,
            own_origins(
                &["https://gw.example.com".into()],
                "0.0.0.0:8080".parse().unwrap(),
            ),
        );
        assert!(upgrade(&public, "gw.example.com", "https://gw.example.com"));
        assert!(!upgrade(&public, "127.0.0.1:8080", "http://127.0.0.1:8080"));
        // The listen address itself, when it is a particular one.
        assert!(own_origins(&[], "10.0.0.5:8080".parse().unwrap())
            .contains(&"http://10.0.0.5:8080".to_owned()));
    }

    #[test]
    fn listening_beyond_loopback_without_public_origins_is_advised_against() {
        assert!(public_origins_advice(&[], "0.0.0.0:8080".parse().unwrap()).is_some());
        assert!(public_origins_advice(&[], "127.0.0.1:8080".parse().unwrap()).is_none());
        assert!(public_origins_advice(
            &["https://gw.example.com".into()],
            "0.0.0.0:8080".parse().unwrap()
        )
        .is_none());
    }
}
