//! `GET /`: what this is, where to go, and in demo mode a live co-browse
//! wall built only on the public API (`/wall.js`, a dashboard to copy).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

const PAGE: &str = include_str!("home/page.html");
const WALL_JS: &str = include_str!("home/wall.js");
const MESSENGER_JS: &str = include_str!("home/messenger-cobrowse.js");

/// The page's security policy: its own scripts and sockets only.
const POLICY: &str = "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /`.
pub(crate) async fn page(State(app): State<AppState>) -> Response {
    let mut html = keep(PAGE, "graphiql", app.graphiql);
    html = keep(&html, "demo", app.demo);
    html = keep(&html, "not-demo", !app.demo);
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    response
}

/// `GET /messenger-cobrowse.js`: the page script a website adds beside its
/// Genesys Messenger, which reports co-browse sessions starting and ending
/// ([`super::page_reports`]). Cached for an hour by browsers.
pub(crate) async fn messenger_js() -> Response {
    let mut response = script(MESSENGER_JS);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The gateway's icon: two overlapping windows, one browser following
/// another.
const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="2" y="5" width="20" height="16" rx="2" fill="#1d5fa8"/><rect x="10" y="11" width="20" height="16" rx="2" fill="#34a0a4" stroke="#fff" stroke-width="1.5"/></svg>"##;

/// `GET /favicon.ico`, which browsers ask for on every page: the icon (SVG,
/// which browsers take whatever the name), cached for a day.
pub(crate) async fn favicon() -> Response {
    let mut response = ICON.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A script's answer.
fn script(code: &'static str) -> Response {
    let mut response = code.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /wall.js`: the wall's whole code.
pub(crate) async fn wall_js() -> Response {
    script(WALL_JS)
}

/// `html` with the block between `<!--name-->` and `<!--/name-->` kept
/// (markers removed) or cut out.
fn keep(html: &str, name: &str, shown: bool) -> String {
    let (open, close) = (format!("<!--{name}-->"), format!("<!--/{name}-->"));
    let (Some(start), Some(end)) = (html.find(&open), html.find(&close)) else {
        return html.to_owned();
    };
    let inner = &html[start + open.len()..end];
    format!(
        "{}{}{}",
        &html[..start],
        if shown { inner } else { "" },
        &html[end + close.len()..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_kept_or_cut_with_its_markers() {
        let html = "a<!--x-->b<!--/x-->c";
        assert_eq!(keep(html, "x", true), "abc");
        assert_eq!(keep(html, "x", false), "ac");
        let page = keep(
            &keep(&keep(PAGE, "graphiql", true), "demo", false),
            "not-demo",
            true,
        );
        assert!(!page.contains("wall.js\"></script>") && page.contains("/graphiql"));
        assert!(!page.contains("<!--"));
    }
}
