//! The durable event store behind webhooks.
//!
//! [`EventStore`] is the small trait the rest of the gateway sees: append an
//! event (durably, once), read folded sessions, purge old ended ones, prove
//! it is writable. [`sqlite::SqliteStore`] is the embedded default; a server
//! database is another implementation of the same trait (sqlx speaks
//! PostgreSQL with the same code shape).

pub mod sqlite;

use chrono::{DateTime, Utc};

use crate::zoom::event::ZoomEvent;
use crate::zoom::fold::ZoomSession;

/// The outcome of an append.
#[derive(Debug, Clone)]
pub struct Appended {
    /// False when the same event had been stored before (a re-delivery).
    pub inserted: bool,
    /// The session's state after the append.
    pub session: ZoomSession,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub ended: Option<bool>,
    pub started_after: Option<DateTime<Utc>>,
    pub started_before: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// A store failure (the webhook answers 5xx so that Zoom retries).
#[derive(Debug, thiserror::Error)]
#[error("event store: {0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError(e.to_string())
    }
}

/// Where webhook events live.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores `event` unless it is stored already, and returns the session's
    /// folded state. Returns only once the event is durably committed.
    async fn append(&self, event: &ZoomEvent) -> Result<Appended, StoreError>;

    /// One session by provider id (any account when `account_id` is `None`).
    async fn session(
        &self,
        account_id: Option<&str>,
        session_id: &str,
    ) -> Result<Option<ZoomSession>, StoreError>;

    /// Sessions matching `filter`, newest start first.
    async fn sessions(&self, filter: &SessionFilter) -> Result<Vec<ZoomSession>, StoreError>;

    /// Sessions with an agent connection open at some time in `[from, to]`
    /// (for the agent session limit of the Engage keys).
    async fn sessions_overlapping(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ZoomSession>, StoreError>;

    /// Deletes sessions that ended before `cutoff`, and their events.
    async fn purge_ended_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Proves the store is writable.
    async fn check(&self) -> Result<(), StoreError>;
}
