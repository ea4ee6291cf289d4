//! GraphiQL, served from the gateway's own origin.
//!
//! The assets (GraphiQL, React) are embedded at build time from
//! `web/node_modules` (installed by `npm ci --prefix web`, pinned and
//! checksum-verified by `web/package-lock.json`). A build without them serves
//! a page that loads the same pinned versions from a CDN, and says so in the
//! log at start-up.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));

/// The versions `web/package.json` pins, for the CDN fallback.
const GRAPHIQL_VERSION: &str = "3.8.3";
const REACT_VERSION: &str = "18.3.1";

/// Where the page loads its assets from.
pub fn assets_are_embedded() -> bool {
    EMBEDDED.is_some()
}

const DEFAULT_QUERY: &str = r#"# Every active co-browse conversation, with its people and sessions.
query Dashboard {
  activeCobrowseConversations(first: 10) {
    totalCount
    nodes {
      conversationId
      name
      participants {
        name
        purpose
        state
        cobrowseRole
        user { name }
        queue { name }
      }
      cobrowseSessions { providerSessionId state startTime durationSeconds }
    }
  }
}
"#;

fn asset_urls() -> [String; 4] {
    if assets_are_embedded() {
        [
            "graphiql.min.css",
            "react.production.min.js",
            "react-dom.production.min.js",
            "graphiql.min.js",
        ]
        .map(|name| format!("/graphiql/assets/{name}"))
    } else {
        [
            format!("https://unpkg.com/graphiql@{GRAPHIQL_VERSION}/graphiql.min.css"),
            format!("https://unpkg.com/react@{REACT_VERSION}/umd/react.production.min.js"),
            format!("https://unpkg.com/react-dom@{REACT_VERSION}/umd/react-dom.production.min.js"),
            format!("https://unpkg.com/graphiql@{GRAPHIQL_VERSION}/graphiql.min.js"),
        ]
    }
}

/// The GraphiQL page.
pub(crate) async fn page() -> Response {
    let [css, react, react_dom, graphiql] = asset_urls();
    let config = serde_json::json!({ "defaultQuery": DEFAULT_QUERY })
        .to_string()
        .replace('<', "\\u003c");
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cobrowse-gateway · GraphiQL</title>
<link rel="stylesheet" href="{css}">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script id="graphiql-config" type="application/json">{config}</script>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="/graphiql/app.js"></script>
</body>
</html>
"#
    );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if assets_are_embedded() {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
    }
    response
}

/// `GET /graphiql/app.js`: the page's own script.
pub(crate) async fn app_js() -> Response {
    static_bytes(
        "text/javascript; charset=utf-8",
        include_bytes!("graphiql.js"),
        "no-cache",
    )
}

/// `GET /graphiql/assets/{name}`: an embedded asset.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let found = EMBEDDED.and_then(|assets| assets.iter().find(|(n, _, _)| *n == name));
    match found {
        // Names change with versions only through a rebuild; a day is safe.
        Some((_, content_type, bytes)) => {
            static_bytes(content_type, bytes, "public, max-age=86400")
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

fn static_bytes(content_type: &'static str, bytes: &'static [u8], cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdn_fallback_pins_the_versions_of_web_package_json() {
        let manifest: serde_json::Value =
            serde_json::from_str(include_str!("../../web/package.json")).expect("package.json");
        assert_eq!(manifest["dependencies"]["graphiql"], GRAPHIQL_VERSION);
        assert_eq!(manifest["dependencies"]["react"], REACT_VERSION);
        assert_eq!(manifest["dependencies"]["react-dom"], REACT_VERSION);
    }
}
