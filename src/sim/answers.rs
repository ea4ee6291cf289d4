//! Upstream-shaped refusals: the error answers the simulator's routes give
//! (Genesys's error body, with its status, code and message), and reading a
//! request body as JSON with the 400 upstream gives when it does not read.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error_body;

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
