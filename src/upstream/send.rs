//! The client's core: one call sent with the token, within the request's
//! deadline and the in-flight bound, retried (429 after `Retry-After`,
//! 502/503/504 with backoff and jitter), its answer decoded, every failure
//! mapped to a typed [`UpstreamError`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::{debug, warn};

use super::model::*;
use super::{Credential, Fetched, PureCloud, Route, UpstreamError, CORRELATION_HEADER};

impl PureCloud {
    /// Sends one logical call through the route's circuit breaker, and
    /// keeps the run of failures for readiness.
    pub(super) async fn send<B: Serialize + ?Sized>(
        &self,
        cred: &Credential,
        route: Route,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let ticket = match inner.breakers[route.index()].admit() {
            super::breaker::Admission::Go(ticket) => ticket,
            super::breaker::Admission::Refused {
                retry_after,
                failures,
            } => {
                inner
                    .metrics
                    .routes
                    .circuit_rejected
                    .with_label_values(&[route.name()])
                    .inc();
                return Err(UpstreamError::CircuitOpen {
                    route: route.name(),
                    failures,
                    retry_after,
                });
            }
        };
        let outcome = self.send_with_retries(cred, route, method, url, body).await;
        match &outcome {
            Err(UpstreamError::Unavailable { .. } | UpstreamError::Timeout { .. }) => {
                inner.failures.fetch_add(1, Ordering::Relaxed);
                if ticket.failed() {
                    inner
                        .metrics
                        .routes
                        .circuit_opened
                        .with_label_values(&[route.name()])
                        .inc();
                    warn!(
                        route = route.name(),
                        "upstream keeps failing: circuit opened; calls fail at once until a probe succeeds"
                    );
                }
            }
            _ => {
                inner.failures.store(0, Ordering::Relaxed);
                ticket.succeeded();
            }
        }
        outcome
    }

    /// Sends one logical call: token, bounded concurrency, timeout, retries.
    #[tracing::instrument(name = "upstream.call", skip_all, fields(route = route.name(), correlation_id))]
    pub(super) async fn send_with_retries<B: Serialize + ?Sized>(
        &self,
        cred: &Credential,
        route: Route,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .expect("request DTOs always serialize");
        let mut attempt = 0u32;
        let mut refreshed = false;
        let deadline = crate::deadline::current();
        loop {
            attempt += 1;
            let budget = self.budget(route, deadline)?;
            let (header, generation) = match cred {
                Credential::Service => {
                    let token = inner.tokens.get().await?;
                    (token.header, Some(token.generation))
                }
                Credential::Bearer(header) => (header.clone(), None),
            };
            let outcome = self
                .attempt(route, &method, &url, &header, body.as_deref(), budget)
                .await;
            let (status, retry_after, body_bytes, correlation) = match outcome {
                Ok(answer) => answer,
                Err(error) => {
                    if attempt < inner.retry.max_attempts && method == Method::GET {
                        self.backoff(route, attempt, error, deadline).await?;
                        continue;
                    }
                    return Err(error);
                }
            };
            if let Some(id) = &correlation {
                tracing::Span::current().record("correlation_id", id.as_str());
            }
            if status.is_success() {
                return Ok((body_bytes, correlation));
            }
            let error = status_error(route, &url, status, retry_after, &body_bytes, correlation);
            match (status.as_u16(), generation) {
                (401, None) => {
                    return Err(UpstreamError::CallerUnauthenticated {
                        correlation_id: error.correlation_id().map(str::to_owned),
                    })
                }
                (401, Some(generation)) if !refreshed => {
                    debug!("upstream refused the token; refreshing once");
                    inner.tokens.invalidate(generation);
                    refreshed = true;
                    attempt -= 1;
                }
                (429, _) => {
                    let wait = retry_after.unwrap_or_else(|| self.backoff_for(attempt));
                    self.wait_out_rate_limit(route, attempt, wait, error, deadline)
                        .await?;
                }
                (502..=504, _)
                    if attempt < inner.retry.max_attempts
                        && (status.as_u16() == 503 || route.repeatable()) =>
                {
                    self.backoff(route, attempt, error, deadline).await?;
                }
                _ => return Err(error),
            }
        }
    }

    /// How long the next attempt may take: `upstream.timeout`, or less
    /// when less is left before `deadline` (none: the call ends now).
    fn budget(
        &self,
        route: Route,
        deadline: Option<std::time::Instant>,
    ) -> Result<Duration, UpstreamError> {
        let Some(deadline) = deadline else {
            return Ok(self.inner.timeout);
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left < MIN_ATTEMPT {
            return Err(UpstreamError::Timeout {
                route: route.name(),
                timeout: left,
            });
        }
        Ok(left.min(self.inner.timeout))
    }

    /// Waits out a 429's `wait`, or answers `error` when the wait is longer
    /// than the gateway holds a call, the attempts ran out, or it does not
    /// fit before `deadline`.
    async fn wait_out_rate_limit(
        &self,
        route: Route,
        attempt: u32,
        wait: Duration,
        error: UpstreamError,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), UpstreamError> {
        let retry = &self.inner.retry;
        if wait > retry.max_retry_after || attempt >= retry.max_attempts || !fits(deadline, wait) {
            return Err(error);
        }
        self.inner
            .metrics
            .routes
            .retries
            .with_label_values(&[route.name(), "rate_limited"])
            .inc();
        warn!(
            wait_ms = wait.as_millis() as u64,
            attempt, "upstream rate limited; waiting"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// One HTTP exchange: a permit, the request, the whole body. Records
    /// the attempt's metrics and one log line with its correlation id.
    async fn attempt(
        &self,
        route: Route,
        method: &Method,
        url: &Url,
        auth: &HeaderValue,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<Duration>, Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let _permit = inner
            .permits
            .acquire()
            .await
            .expect("the upstream semaphore is never closed");
        let _in_flight = InFlight::enter(&inner.metrics.upstream_in_flight);
        let started = std::time::Instant::now();
        let outcome = self.exchange(route, method, url, auth, body, timeout).await;
        let elapsed = started.elapsed();
        inner
            .metrics
            .upstream_seconds
            .with_label_values(&[route.name()])
            .observe(elapsed.as_secs_f64());
        let status = match &outcome {
            Ok((status, ..)) => status.as_str().to_owned(),
            Err(error) => error.code().to_ascii_lowercase(),
        };
        inner
            .metrics
            .upstream_calls
            .with_label_values(&[route.name(), &status])
            .inc();
        let correlation_id = outcome.as_ref().ok().and_then(|(.., c)| c.as_deref());
        debug!(
            route = route.name(),
            %status,
            elapsed_ms = elapsed.as_millis() as u64,
            correlation_id,
            "upstream call"
        );
        outcome
    }

    async fn exchange(
        &self,
        route: Route,
        method: &Method,
        url: &Url,
        auth: &HeaderValue,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<Duration>, Bytes, Option<String>), UpstreamError> {
        let inner = &*self.inner;
        let mut request = inner
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout)
            .header(AUTHORIZATION, auth.clone());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                UpstreamError::Timeout {
                    route: route.name(),
                    timeout,
                }
            } else {
                transport_error(&e)
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let correlation = correlation_id(&response);
        let bytes = read_body(response, (route.name(), inner.max_page_bytes), timeout).await?;
        Ok((status, retry_after, bytes, correlation))
    }

    /// Waits before attempt `attempt + 1`, or answers `error` when the wait
    /// and another attempt do not fit before `deadline`.
    async fn backoff(
        &self,
        route: Route,
        attempt: u32,
        error: UpstreamError,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), UpstreamError> {
        let wait = self.backoff_for(attempt);
        if !fits(deadline, wait) {
            return Err(error);
        }
        self.inner
            .metrics
            .routes
            .retries
            .with_label_values(&[route.name(), error.code()])
            .inc();
        warn!(
            route = route.name(),
            attempt,
            wait_ms = wait.as_millis() as u64,
            code = error.code(),
            correlation_id = error.correlation_id(),
            "upstream call failed; retrying"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Exponential backoff with "equal jitter": half fixed, half random.
    fn backoff_for(&self, attempt: u32) -> Duration {
        let policy = &self.inner.retry;
        let exp = policy
            .base_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(policy.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// The least time an attempt is started with: with less left before the
/// request's deadline, the call ends.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// Whether waiting `wait` leaves time for another attempt before
/// `deadline` (none: always).
pub(super) fn fits(deadline: Option<std::time::Instant>, wait: Duration) -> bool {
    deadline.is_none_or(|deadline| std::time::Instant::now() + wait + MIN_ATTEMPT < deadline)
}

/// Counts a call in flight for as long as it lives.
struct InFlight<'a>(&'a prometheus::IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub(super) fn decode<T: DeserializeOwned>(
    route: Route,
    body: Bytes,
    correlation_id: Option<String>,
) -> Result<Fetched<T>, UpstreamError> {
    match serde_json::from_slice(&body) {
        Ok(value) => Ok(Fetched {
            value,
            bytes: body.len(),
        }),
        Err(e) => Err(UpstreamError::BadResponse {
            detail: format!("{}: {e}", route.name()),
            correlation_id,
        }),
    }
}

pub(super) fn status_error(
    route: Route,
    url: &Url,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    correlation_id: Option<String>,
) -> UpstreamError {
    let upstream: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = upstream
        .message
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no reason").to_owned());
    match status.as_u16() {
        401 => UpstreamError::AuthFailed {
            detail: format!("{} answered 401: {message}", route.name()),
            correlation_id,
        },
        403 => UpstreamError::Forbidden {
            message,
            permission: upstream
                .message_params
                .get("permissions")
                .map(|p| p.trim_matches(['[', ']']).to_owned()),
            correlation_id,
        },
        404 => UpstreamError::NotFound {
            what: format!("{} {}", route.name(), url.path()),
            correlation_id,
        },
        429 => UpstreamError::RateLimited {
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
            correlation_id,
        },
        s if s >= 500 => UpstreamError::Unavailable {
            status: Some(s),
            detail: format!("{} answered HTTP {s}: {message}", route.name()),
            correlation_id,
        },
        s => UpstreamError::Rejected {
            status: s,
            message,
            correlation_id,
        },
    }
}

pub(crate) fn correlation_id(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(crate) fn transport_error(error: &reqwest::Error) -> UpstreamError {
    // The URL is left out on purpose: it is configuration, not news.
    let detail = if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_timeout() {
        "timed out".to_owned()
    } else {
        // Display without the URL: walk the source chain instead.
        let mut detail = String::from("transport error");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        detail
    };
    UpstreamError::Unavailable {
        status: None,
        detail,
        correlation_id: None,
    }
}

/// The whole body of an answer of `route`, at most `limit` bytes (more is
/// refused before it is read, when announced, or as soon as it passes).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    (route, limit): (&'static str, usize),
    timeout: Duration,
) -> Result<Bytes, UpstreamError> {
    let too_large = || UpstreamError::ResponseTooLarge { route, limit };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        if e.is_timeout() {
            UpstreamError::Timeout { route, timeout }
        } else {
            transport_error(&e)
        }
    })? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
