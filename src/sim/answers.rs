//! Upstream-shaped answers: the error answers the simulator's routes give
//! (Genesys's error body, with its status, code and message), reading a
//! request body as JSON with the 400 upstream gives when it does not read,
//! and a page of a listing in upstream's envelope.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use serde::Serialize;

use super::error_body;
use crate::upstream::model::Listing;

/// An upstream-shaped error answer.
pub(super) struct Reject(
    pub(super) StatusCode,
    pub(super) &'static str,
    pub(super) String,
);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        error_body(self.0, self.1, &self.2)
    }
}

pub(super) fn not_found(what: &str) -> Reject {
    Reject(
        StatusCode::NOT_FOUND,
        "not.found",
        format!("The requested {what} was not found."),
    )
}

pub(super) fn bad_request(why: &str) -> Reject {
    Reject(StatusCode::BAD_REQUEST, "bad.request", why.to_owned())
}

/// A JSON request body, or upstream's 400 saying why it does not read.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reject> {
    serde_json::from_slice(body).map_err(|e| bad_request(&format!("Invalid request body: {e}")))
}

/// A listing page in upstream's envelope.
pub(super) fn page_of<T: Serialize + Clone>(
    all: Vec<T>,
    page_size: usize,
    page_number: usize,
    path: &str,
    extra_query: &str,
) -> Listing<T> {
    let total = all.len();
    let entities = all
        .into_iter()
        .skip((page_number - 1) * page_size)
        .take(page_size)
        .collect();
    envelope(entities, total, page_size, page_number, path, extra_query)
}

/// Page `page_number` of a listing of `total`, holding `entities`.
pub(super) fn envelope<T>(
    entities: Vec<T>,
    total: usize,
    page_size: usize,
    page_number: usize,
    path: &str,
    extra_query: &str,
) -> Listing<T> {
    let page_count = total.div_ceil(page_size).max(1);
    let uri = |n: usize| format!("{path}?pageSize={page_size}&pageNumber={n}{extra_query}");
    Listing {
        entities,
        page_size: Some(page_size as i64),
        page_number: Some(page_number as i64),
        total: Some(total as i64),
        page_count: Some(page_count as i64),
        first_uri: Some(uri(1)),
        self_uri: Some(uri(page_number)),
        next_uri: (page_number < page_count).then(|| uri(page_number + 1)),
        previous_uri: (page_number > 1).then(|| uri(page_number - 1)),
        last_uri: Some(uri(page_count)),
    }
}
