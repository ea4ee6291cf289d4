//! `GET /`: what this is, where to go, and in demo mode a live co-browse
//! wall built only on the public API (`/wall.js`, a dashboard to copy).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

const PAGE: &str = include_str!("home/page.html");
const WALL_JS: &str = include_str!("home/wall.js");

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

/// `GET /wall.js`: the wall's whole code.
pub(crate) async fn wall_js() -> Response {
    let mut response = WALL_JS.into_response();
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
