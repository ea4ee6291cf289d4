//! Every answer of the GraphQL endpoint that is not an execution result is
//! a [`Refusal`]: a status (fixed, or that of a GraphQL request error, which
//! depends on the media type), one error with a stable code, an optional
//! header, and the outcome label the request is counted under. Stages
//! return `Result<_, Refusal>` and use `?`; the handler responds.

use axum::body::Bytes;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// The response media types the gateway speaks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum MediaType {
    Json,
    GraphqlResponseJson,
}

impl MediaType {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::Json => "application/json; charset=utf-8",
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
        })
    }

    /// The status of a GraphQL request error (the document could not run):
    /// 200 under `application/json`, 400 under the GraphQL media type.
    pub(super) fn request_error_status(self) -> StatusCode {
        match self {
            MediaType::Json => StatusCode::OK,
            MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Debug)]
enum RefusalStatus {
    Fixed(StatusCode),
    /// A GraphQL request error: the status depends on the media type.
    RequestError,
}

/// A request the gateway answers without running it.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: RefusalStatus,
    outcome: &'static str,
    /// The one error of the body (`message`, `extensions.code`, …).
    error: Value,
    header: Option<Box<(HeaderName, HeaderValue)>>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status: RefusalStatus::Fixed(status),
            outcome: "bad_request",
            error: error(&message.into(), code),
            header: None,
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// A GraphQL request error with this code.
    pub(super) fn request_error(code: &str, message: &str) -> Self {
        Self {
            status: RefusalStatus::RequestError,
            outcome: "request_error",
            error: error(message, code),
            header: None,
        }
    }

    /// A document refused by a limit before it was parsed: a GraphQL
    /// request error that says what was measured.
    pub(super) fn limit(refused: &async_graphql::ServerError) -> Self {
        Self {
            status: RefusalStatus::RequestError,
            outcome: "too_large",
            error: serde_json::to_value(refused).expect("errors serialize"),
            header: None,
        }
    }

    pub(super) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.header = Some(Box::new((name, value)));
        self
    }

    /// The label the request is counted under.
    pub(super) fn counted_as(mut self, outcome: &'static str) -> Self {
        self.outcome = outcome;
        self
    }

    /// Adds the measured value and the limit it passed.
    pub(super) fn measured(mut self, measured: usize, limit: usize) -> Self {
        self.error["extensions"]["measured"] = measured.into();
        self.error["extensions"]["limit"] = limit.into();
        self
    }

    pub(super) fn outcome(&self) -> &'static str {
        self.outcome
    }

    /// The refusal's message.
    pub(crate) fn message(&self) -> &str {
        self.error["message"].as_str().unwrap_or_default()
    }

    /// The refusal's code.
    #[cfg(test)]
    pub(super) fn code(&self) -> &str {
        self.error["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
    }

    pub(crate) fn respond(self, media: MediaType) -> Response {
        let status = match self.status {
            RefusalStatus::Fixed(status) => status,
            RefusalStatus::RequestError => media.request_error_status(),
        };
        #[derive(Serialize)]
        struct ErrorsOnly {
            errors: [Value; 1],
        }
        let body = serde_json::to_vec(&ErrorsOnly {
            errors: [self.error],
        })
        .expect("responses serialize");
        let mut response = body_response(status, media, Bytes::from(body));
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some((name, value)) = self.header.map(|h| *h) {
            headers.insert(name, value);
        }
        response
    }
}

fn error(message: &str, code: &str) -> Value {
    serde_json::json!({ "message": message, "extensions": { "code": code } })
}

/// A response of `bytes` under `media`.
pub(super) fn body_response(status: StatusCode, media: MediaType, bytes: Bytes) -> Response {
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.header());
    // The body depends on the media type and on who asks.
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization, X-API-Key"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_error_is_200_under_json_and_400_under_the_graphql_media_type() {
        let refusal =
            || Refusal::request_error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound");
        assert_eq!(refusal().respond(MediaType::Json).status(), StatusCode::OK);
        let strict = refusal().respond(MediaType::GraphqlResponseJson);
        assert_eq!(strict.status(), StatusCode::BAD_REQUEST);
        assert_eq!(strict.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn a_refusal_carries_its_code_header_and_measure() {
        let refusal = Refusal::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "slow down")
            .with_header(header::RETRY_AFTER, HeaderValue::from(2))
            .measured(3, 2);
        assert_eq!(refusal.code(), "RATE_LIMITED");
        assert_eq!(refusal.message(), "slow down");
        let response = refusal.respond(MediaType::GraphqlResponseJson);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
