//! Typed upstream errors with stable codes.
//!
//! Every failure of a call to PureCloud becomes one [`UpstreamError`]. Its
//! [`code`](UpstreamError::code) is what clients see as `extensions.code`; the
//! message is written for them and never carries a secret.

use std::time::Duration;

/// A failed upstream call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// Upstream answered 404.
    #[error("{what} was not found upstream")]
    NotFound {
        what: String,
        correlation_id: Option<String>,
    },
    /// Upstream answered 429 and the wait was longer than the gateway will
    /// hold a request, or retries ran out.
    #[error("upstream rate limit reached; retry after {} s", retry_after.as_secs())]
    RateLimited {
        retry_after: Duration,
        correlation_id: Option<String>,
    },
    /// Upstream could not be reached or kept failing (5xx, connection errors).
    #[error("upstream is unavailable: {detail}")]
    Unavailable {
        status: Option<u16>,
        detail: String,
        correlation_id: Option<String>,
    },
    /// The route's circuit is open after repeated failures: the call was
    /// not made.
    #[error("upstream is unavailable: {route} failed {failures} times in a row; calls fail at once for {} s more", retry_after.as_secs().max(1))]
    CircuitOpen {
        route: &'static str,
        failures: u32,
        retry_after: Duration,
    },
    /// Upstream did not answer in time: within `upstream.timeout`, or
    /// within what was left of the request's time.
    #[error("upstream {route} did not answer within {} ms", timeout.as_millis())]
    Timeout {
        route: &'static str,
        timeout: Duration,
    },
    /// Upstream refused the gateway's own credentials.
    #[error("upstream refused the gateway's credentials: {detail}")]
    AuthFailed {
        detail: String,
        correlation_id: Option<String>,
    },
    /// Upstream refused the caller's own token (passthrough mode).
    #[error("upstream refused the caller's token: it is invalid, expired or revoked")]
    CallerUnauthenticated { correlation_id: Option<String> },
    /// Upstream answered 403: the gateway's OAuth client (or the caller's
    /// token) lacks a permission, named when upstream said which.
    #[error("upstream does not allow this: {message}")]
    Forbidden {
        message: String,
        permission: Option<String>,
        correlation_id: Option<String>,
    },
    /// Upstream rejected the request (a 4xx other than 401/403/404/429).
    #[error("upstream rejected the request (HTTP {status}): {message}")]
    Rejected {
        status: u16,
        message: String,
        correlation_id: Option<String>,
    },
    /// An id cannot be part of an upstream URL (the call was not made).
    #[error("not an upstream id: {detail}")]
    InvalidId { detail: String },
    /// One upstream answer was larger than `upstream.max_page_bytes`: it
    /// is not read, nor held.
    #[error("upstream {route} answered more than {limit} bytes (upstream.max_page_bytes); narrow the request or raise the limit")]
    ResponseTooLarge { route: &'static str, limit: usize },
    /// A listing held more than `upstream.max_list_items` items, all pages
    /// together: it is not held, nor cut silently.
    #[error("upstream {route} listed more than {limit} items (upstream.max_list_items); narrow the request or raise the limit")]
    ListTooLarge { route: &'static str, limit: usize },
    /// Upstream answered with a body the gateway cannot read.
    #[error("upstream sent a response the gateway cannot read: {detail}")]
    BadResponse {
        detail: String,
        correlation_id: Option<String>,
    },
}

impl UpstreamError {
    /// The stable code clients see as `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "UPSTREAM_NOT_FOUND",
            Self::RateLimited { .. } => "UPSTREAM_RATE_LIMITED",
            Self::Unavailable { .. } | Self::CircuitOpen { .. } => "UPSTREAM_UNAVAILABLE",
            Self::Timeout { .. } => "UPSTREAM_TIMEOUT",
            Self::AuthFailed { .. } => "UPSTREAM_AUTH_FAILED",
            Self::CallerUnauthenticated { .. } => "UNAUTHENTICATED",
            Self::Forbidden { .. } => "UPSTREAM_FORBIDDEN",
            Self::Rejected { .. } => "UPSTREAM_BAD_REQUEST",
            Self::BadResponse { .. } => "UPSTREAM_BAD_RESPONSE",
            Self::ResponseTooLarge { .. } => "UPSTREAM_RESPONSE_TOO_LARGE",
            Self::ListTooLarge { .. } => "UPSTREAM_LIST_TOO_LARGE",
            Self::InvalidId { .. } => "BAD_USER_INPUT",
        }
    }

    /// The `ININ-Correlation-Id` of the upstream answer, where there was one.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::NotFound { correlation_id, .. }
            | Self::RateLimited { correlation_id, .. }
            | Self::Unavailable { correlation_id, .. }
            | Self::AuthFailed { correlation_id, .. }
            | Self::CallerUnauthenticated { correlation_id }
            | Self::Forbidden { correlation_id, .. }
            | Self::Rejected { correlation_id, .. }
            | Self::BadResponse { correlation_id, .. } => correlation_id.as_deref(),
            Self::Timeout { .. }
            | Self::CircuitOpen { .. }
            | Self::InvalidId { .. }
            | Self::ResponseTooLarge { .. }
            | Self::ListTooLarge { .. } => None,
        }
    }

    /// How long the caller should wait before trying again, where known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::CircuitOpen { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}
