//! Paged upstream listings (`nextUri`), walked without trusting them: an
//! item seen on an earlier page is dropped, a `nextUri` to a page already
//! read ends the walk (a loop), one outside the upstream origin is not
//! followed, more than `upstream.max_list_items` items refuse the listing
//! (before its other pages are read when its first page says so), and a
//! listing with pages left at [`MAX_PAGES`] is answered cut, saying so.
//! Each anomaly is warned of and counted.

use reqwest::Url;
use serde::de::DeserializeOwned;
use tracing::warn;

use super::model::{CobrowseConversation, Listing, Queue, User, WrapupCode};
use super::{shortened, Credential, Fetched, PureCloud, Route, UpstreamError};

/// How many pages of a listing the client follows at most; a listing with
/// more is cut there, and says so ([`Paged::cut`]).
pub(crate) const MAX_PAGES: usize = 50;

/// The items of a paged listing, each once, and whether it was cut at the
/// page limit ([`MAX_PAGES`]) with more pages left.
#[derive(Debug)]
pub(crate) struct Paged<T> {
    pub items: Vec<T>,
    pub cut: bool,
}

/// An item of a paged listing, known by its id (duplicates across pages
/// are dropped).
pub(super) trait Keyed {
    fn key(&self) -> Option<&str>;
}

impl Keyed for CobrowseConversation {
    fn key(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Keyed for Queue {
    fn key(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Keyed for User {
    fn key(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Keyed for WrapupCode {
    fn key(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl PureCloud {
    /// Every page of a listing, following `nextUri` within the upstream
    /// origin. Upstream's paging is not trusted: an item seen on an earlier
    /// page is dropped, a `nextUri` to a page already read ends the walk
    /// (a loop), more than `upstream.max_list_items` items refuse the
    /// listing, and a listing with pages left at [`MAX_PAGES`] is answered
    /// cut, saying so. Each anomaly is warned of and counted.
    pub(super) async fn all_pages<T: DeserializeOwned + Keyed>(
        &self,
        cred: &Credential,
        route: Route,
        first: Url,
    ) -> Result<Fetched<Paged<T>>, UpstreamError> {
        let mut visited = std::collections::HashSet::from([first.to_string()]);
        let mut page: Fetched<Listing<T>> = self.get_json(cred, route, first).await?;
        let too_large = || UpstreamError::ListTooLarge {
            route: route.name(),
            limit: self.inner.max_list_items,
        };
        // Upstream says how long the listing is: one too long is refused
        // before its other pages are read (and decoded, and held).
        if page
            .value
            .total
            .is_some_and(|total| total > self.inner.max_list_items as i64)
        {
            return Err(too_large());
        }
        let mut bytes = page.bytes;
        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::new();
        let mut duplicates = 0u64;
        let mut pages = 1;
        let cut = loop {
            for item in std::mem::take(&mut page.value.entities) {
                match item.key() {
                    Some(id) if !seen.insert(id.to_owned()) => duplicates += 1,
                    _ => items.push(item),
                }
            }
            if items.len() > self.inner.max_list_items {
                return Err(too_large());
            }
            let Some(next) = page.value.next_uri.take() else {
                break false;
            };
            let url = next_page(&self.inner.api, route, &next)?;
            if !visited.insert(url.to_string()) {
                self.paging_anomaly(route, "loop", 1);
                warn!(route = route.name(), next = %shortened(&next, 200), "upstream's nextUri points back at a page already read; the listing ends there");
                break false;
            }
            if pages == MAX_PAGES {
                self.paging_anomaly(route, "truncated", 1);
                warn!(
                    route = route.name(),
                    pages, "upstream's listing has more than {MAX_PAGES} pages; it is cut there"
                );
                break true;
            }
            page = self.get_json(cred, route, url).await?;
            bytes += page.bytes;
            pages += 1;
        };
        if duplicates > 0 {
            self.paging_anomaly(route, "duplicate", duplicates);
            warn!(
                route = route.name(),
                duplicates,
                "upstream listed items already listed on an earlier page; each is kept once"
            );
        }
        Ok(Fetched {
            value: Paged { items, cut },
            bytes,
        })
    }

    fn paging_anomaly(&self, route: Route, anomaly: &str, n: u64) {
        self.inner
            .metrics
            .routes
            .paging
            .with_label_values(&[route.name(), anomaly])
            .inc_by(n);
    }
}

/// The URL a page's `nextUri` names. Only the configured upstream's own
/// origin is followed: the gateway's bearer token goes with the call, and an
/// absolute `nextUri` to any other host would carry it there.
fn next_page(api: &Url, route: Route, next: &str) -> Result<Url, UpstreamError> {
    let refuse = |why: String| UpstreamError::BadResponse {
        detail: format!("{}: nextUri {:?} {why}", route.name(), shortened(next, 200)),
        correlation_id: None,
    };
    let url = api
        .join(next)
        .map_err(|e| refuse(format!("is not a URL: {e}")))?;
    if url.origin() != api.origin() {
        return Err(refuse(format!(
            "leaves the upstream origin {}; it is not followed",
            api.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_pages_are_followed_only_within_the_upstream_origin() {
        let api: Url = "https://api.mypurecloud.com/".parse().expect("a URL");
        let route = Route::CobrowseListing;
        for followed in [
            "/api/v2/conversations/cobrowsesessions?pageNumber=2",
            "https://api.mypurecloud.com/api/v2/conversations/cobrowsesessions?pageNumber=2",
        ] {
            let url = next_page(&api, route, followed).expect("followed");
            assert_eq!(url.host_str(), Some("api.mypurecloud.com"));
        }
        for refused in [
            "https://evil.example.com/api/v2/conversations/cobrowsesessions",
            "//evil.example.com/steal",
            "http://api.mypurecloud.com/api/v2/x",
            "https://api.mypurecloud.com:8443/api/v2/x",
        ] {
            let error = next_page(&api, route, refused).expect_err(refused);
            assert_eq!(error.code(), "UPSTREAM_BAD_RESPONSE");
            assert!(error.to_string().contains("not followed"), "{error}");
        }
    }
}
