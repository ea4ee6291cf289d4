//! Zoom's Cobrowse SDK REST API, as the gateway calls it (docs/upstream.md,
//! "Zoom Cobrowse SDK REST API"): the sessions live and past in a period,
//! every page walked (300 at a time, at most `max_pages`), each call with a
//! fresh API JWT (HS256, issued by the API Key, signed with the API
//! Secret, living five minutes). What goes wrong is said as Zoom says it:
//! credentials refused, a rate limit with the time it lifts, Zoom out of
//! reach, an answer that does not read.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::secret::Secret;

/// The largest page Zoom gives: the fewest calls for a walk.
const PAGE_SIZE: usize = 300;

/// How long an API JWT of the gateway's lives.
const TOKEN_LIFE: i64 = 300;

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Zoom's Cobrowse SDK API for one account.
pub struct ZoomApi {
    http: reqwest::Client,
    base: String,
    api_key: String,
    api_secret: Secret,
}

/// A session as Zoom lists it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ApiSession {
    pub session_id: String,
    pub start_time: DateTime<Utc>,
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub session_pin: Option<String>,
    #[serde(default)]
    pub users: Vec<ApiUser>,
}

/// A user of a listed session (`user_id` is unique within it only).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ApiUser {
    pub user_id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub role_type: String,
}

/// What can go wrong calling Zoom's API.
#[derive(Debug, thiserror::Error)]
pub enum ZoomApiError {
    /// The API Key and Secret were refused (401): wrong, or rotated.
    #[error("Zoom refused the API credentials (code {code}: {message})")]
    Refused { code: i64, message: String },
    /// Over Zoom's rate limit (429): not before `retry_after`, when Zoom
    /// says.
    #[error("Zoom's rate limit was reached{}", .retry_after.map(|t| format!(" until {t}")).unwrap_or_default())]
    RateLimited { retry_after: Option<DateTime<Utc>> },
    /// Zoom did not answer (or not in time).
    #[error("Zoom's API did not answer: {0}")]
    Unreachable(String),
    /// Any other refusal, in Zoom's words.
    #[error("Zoom answered {status} (code {code}: {message})")]
    Answered {
        status: u16,
        code: i64,
        message: String,
    },
    /// An answer that does not read as Zoom's documented shape.
    #[error("Zoom's answer does not read: {0}")]
    Unreadable(String),
}

#[derive(Deserialize)]
struct SessionsPage {
    #[serde(default)]
    next_page_token: String,
    #[serde(default)]
    sessions: Vec<ApiSession>,
}

#[derive(Deserialize, Default)]
struct ZoomErrorBody {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

impl ZoomApi {
    /// The API at `base` (`https://api.zoom.us/v2`) for the account whose
    /// Cobrowse app has this API Key and API Secret.
    pub fn new(base: &str, api_key: String, api_secret: Secret) -> Result<Self, ZoomApiError> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| ZoomApiError::Unreachable(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            api_secret,
        })
    }

    /// A fresh API JWT.
    fn token(&self) -> Result<String, ZoomApiError> {
        let now = Utc::now().timestamp();
        let claims =
            serde_json::json!({ "iss": self.api_key, "iat": now, "exp": now + TOKEN_LIFE });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.api_secret.expose().as_bytes()),
        )
        .map_err(|e| ZoomApiError::Unreadable(format!("cannot sign an API JWT: {e}")))
    }

    /// The sessions going on that started between `from` and `to` (whole
    /// days, at most a month apart), every page, at most `max_pages`.
    pub async fn live_sessions(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        max_pages: usize,
    ) -> Result<Vec<ApiSession>, ZoomApiError> {
        self.walk("live_sessions", from, to, max_pages).await
    }

    /// The sessions that ended, started between `from` and `to`.
    pub async fn past_sessions(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        max_pages: usize,
    ) -> Result<Vec<ApiSession>, ZoomApiError> {
        self.walk("past_sessions", from, to, max_pages).await
    }

    async fn walk(
        &self,
        list: &str,
        from: NaiveDate,
        to: NaiveDate,
        max_pages: usize,
    ) -> Result<Vec<ApiSession>, ZoomApiError> {
        let mut sessions = Vec::new();
        let mut next = String::new();
        for _ in 0..max_pages.max(1) {
            let page: SessionsPage = self
                .get(
                    &format!("/cobrowsesdk/{list}"),
                    &[
                        ("from", from.to_string()),
                        ("to", to.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                        ("next_page_token", next),
                    ],
                )
                .await?;
            sessions.extend(page.sessions);
            if page.next_page_token.is_empty() {
                break;
            }
            next = page.next_page_token;
        }
        Ok(sessions)
    }

    /// One call, its answer read as `T` or its refusal said.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ZoomApiError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token()?)
            .query(query)
            .send()
            .await
            .map_err(|e| ZoomApiError::Unreachable(e.to_string()))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_at);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ZoomApiError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| ZoomApiError::Unreadable(e.to_string()));
        }
        let ZoomErrorBody { code, message } = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(match status.as_u16() {
            401 => ZoomApiError::Refused { code, message },
            429 => ZoomApiError::RateLimited { retry_after },
            status => ZoomApiError::Answered {
                status,
                code,
                message,
            },
        })
    }
}

/// When a `Retry-After` says to come back: an ISO 8601 date-time (Zoom's
/// daily limit) or a number of seconds.
fn retry_at(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(seconds) = value.trim().parse::<i64>() {
        return Some(Utc::now() + chrono::Duration::seconds(seconds));
    }
    DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
