//! GraphiQL, served from the gateway's own origin.
//!
//! The assets (GraphiQL, React) are vendored in `web/vendor`, byte for byte
//! the files of the packages `web/package-lock.json` pins (a test compares
//! them with the installed packages), and compiled into the binary: the
//! page needs neither npm nor the network.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// One vendored file: the name it is served under, its content type, its
/// bytes, and the package file it is a copy of.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// The npm package it comes from.
    pub package: &'static str,
    /// Its path inside that package.
    pub path: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every vendored asset, served under `/graphiql/assets/{name}`.
pub const ASSETS: [Asset; 4] = [
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        bytes: include_bytes!("../../web/vendor/graphiql.min.css"),
        package: "graphiql",
        path: "graphiql.min.css",
    },
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../../web/vendor/react.production.min.js"),
        package: "react",
        path: "umd/react.production.min.js",
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../../web/vendor/react-dom.production.min.js"),
        package: "react-dom",
        path: "umd/react-dom.production.min.js",
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        bytes: include_bytes!("../../web/vendor/graphiql.min.js"),
        package: "graphiql",
        path: "graphiql.min.js",
    },
];

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

/// The GraphiQL page.
pub(crate) async fn page() -> Response {
    let [css, react, react_dom, graphiql] = ASSETS.map(|a| a.name);
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
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="/graphiql/assets/{css}">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script id="graphiql-config" type="application/json">{config}</script>
<script src="/graphiql/assets/{react}"></script>
<script src="/graphiql/assets/{react_dom}"></script>
<script src="/graphiql/assets/{graphiql}"></script>
<script src="/graphiql/app.js"></script>
</body>
</html>
"#
    );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
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
    match ASSETS.iter().find(|a| a.name == name) {
        // Names change with versions only through a rebuild; a day is safe.
        Some(a) => static_bytes(a.content_type, a.bytes, "public, max-age=86400"),
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
