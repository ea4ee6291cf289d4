//! The durable event store behind webhooks.
//!
//! [`EventStore`] is the small trait the rest of the gateway sees: append an
//! event (durably, once), read sessions (one, or a page of a filtered
//! listing, with its count), answer the Engage agent limit, purge old ended
//! sessions, prove it is writable. [`sqlite::SqliteStore`] is the embedded
//! default; a server database is another implementation of the same trait.
//!
//! What an append costs does not depend on a session's history: a session's
//! state is kept in parts ([`crate::zoom::parts`]) and an event merges into
//! the few it touches. Every query a listing makes is bounded by its page;
//! the agent limit looks back a bounded window.

mod messenger_sql;
pub mod postgres;
mod sql;
pub mod sqlite;
#[cfg(test)]
mod suite;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::messenger::{Fact, MessengerSession};
use crate::zoom::event::{EventKind, ZoomEvent};
use crate::zoom::fold::ZoomSession;

/// The outcome of an append.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    /// False when the same event had been stored before (a re-delivery).
    pub(crate) inserted: bool,
    /// True when the event went into the shared change feed, from which
    /// every replica (this one too) tells its subscribers; false when the
    /// appending process must tell its own.
    pub(crate) fed: bool,
}

/// One change read from the shared feed, in commit order.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// A Zoom webhook event some replica stored.
    Zoom {
        /// Its place in the feed (resumable after).
        sequence: i64,
        event: EventKind,
        account_id: String,
        session_id: String,
    },
    /// A Co-browse for Messenger fact some replica stored.
    Messenger {
        /// Its place in the feed (resumable after).
        sequence: i64,
        change: crate::messenger::Change,
    },
    /// A mutation changed this PureCloud conversation, told by replica
    /// `writer`.
    Conversation { writer: String, id: String },
    /// What the replica holding the notification lease (`writer`) heard
    /// of PureCloud, as its live index encodes it.
    Notice { writer: String, body: String },
    /// Changes that cannot be told: why, and how many when known.
    Lagged(String),
}

impl FeedItem {
    /// The replica that wrote it, for what replicas write (a mutation's
    /// change, what the listener heard).
    pub(crate) fn writer(&self) -> Option<&str> {
        match self {
            FeedItem::Conversation { writer, .. } | FeedItem::Notice { writer, .. } => Some(writer),
            FeedItem::Zoom { .. } | FeedItem::Messenger { .. } | FeedItem::Lagged(_) => None,
        }
    }
}

/// A page of the shared feed.
#[derive(Debug)]
pub struct FeedPage {
    /// The changes, in order, a hole told as a lag before the change after it.
    pub(crate) items: Vec<FeedItem>,
    /// The sequence of the last change read (the `after` of the next page).
    pub(crate) last: i64,
    /// How many changes were read (fewer than asked: the end of the feed).
    pub(crate) read: usize,
}

/// Where a follower hands what it reads.
pub(crate) type FeedPublish = std::sync::Arc<dyn Fn(FeedItem) + Send + Sync>;

/// Which sessions a listing holds.
#[derive(Debug, Clone, Default)]
pub struct StoredSessionFilter {
    pub(crate) ended: Option<bool>,
    /// Co-browse for Messenger: only offers not answered whose time is not
    /// up (`Some(true)`), or none of them (`Some(false)`). Zoom sessions
    /// are never offers.
    pub(crate) offered: Option<bool>,
    /// Co-browse for Messenger: only sessions of these queues, agents or
    /// conversations (empty: any). Zoom sessions have none.
    pub(crate) queue_ids: Vec<String>,
    pub(crate) user_ids: Vec<String>,
    pub(crate) conversation_ids: Vec<String>,
    /// Started at or after (a session with no known start is left out).
    pub(crate) started_after: Option<DateTime<Utc>>,
    /// Started before (a session with no known start is left out).
    pub(crate) started_before: Option<DateTime<Utc>>,
}

/// A place in the listing order: newest start first, then session id, then
/// account id. A place with an empty session id sits before every session
/// that started at the same instant (where the listing puts a PureCloud
/// session with that start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    /// The start, in epoch milliseconds; `None`: unknown (listed last).
    pub(crate) start_ms: Option<i64>,
    pub(crate) session_id: String,
    pub(crate) account_id: String,
}

/// One end of a window: a place, and whether a session at that very place
/// is inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub(crate) place: Place,
    pub(crate) inclusive: bool,
}

/// One page of a listing: the sessions between `after` and `before`, at
/// most `limit` of them, from the front (or from the back when
/// `from_back`), returned in listing order.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub(crate) after: Option<Bound>,
    pub(crate) before: Option<Bound>,
    pub(crate) limit: usize,
    pub(crate) from_back: bool,
}

/// What can go wrong with the store (a webhook answers 5xx so that Zoom
/// retries; a read answers `STORE_UNAVAILABLE`). Each says what happened
/// in words, after "event store: ".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be where the settings put it: a folder named for a
    /// file, a folder that cannot be made, a file that is not a database,
    /// a URL that is not PostgreSQL's, a backup over an existing file.
    #[error("event store: {0}")]
    Place(String),
    /// The database did not answer, or no connection was free in time.
    #[error("event store: {0}")]
    Unavailable(String),
    /// The database refused a statement (a full disk, a lock held past its
    /// timeout, a constraint).
    #[error("event store: {0}")]
    Refused(String),
    /// The schema could not be brought to this version's.
    #[error("event store: {0}")]
    Migration(String),
    /// What is stored no longer reads as what was written.
    #[error("event store: {0}")]
    Unreadable(String),
    /// A store of one process has no shared change feed to resume from.
    #[error(
        "event store: this gateway has no shared change feed to resume from (it needs store.url)"
    )]
    NoFeed,
}

impl StoreError {
    /// The words after "event store: ".
    pub fn detail(&self) -> &str {
        match self {
            Self::Place(s)
            | Self::Unavailable(s)
            | Self::Refused(s)
            | Self::Migration(s)
            | Self::Unreadable(s) => s,
            Self::NoFeed => {
                "this gateway has no shared change feed to resume from (it needs store.url)"
            }
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                StoreError::Unavailable(e.to_string())
            }
            E::ColumnDecode { .. }
            | E::Decode(_)
            | E::ColumnNotFound(_)
            | E::TypeNotFound { .. } => StoreError::Unreadable(e.to_string()),
            E::Migrate(_) => StoreError::Migration(e.to_string()),
            _ => StoreError::Refused(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(e.to_string())
    }
}

/// For each agent connection of a session: how many other sessions the same
/// agent (by name) was connected to when it joined, counted up to a cap.
/// Keyed by (user id, connection id).
pub(crate) type AgentLoad = HashMap<(String, String), usize>;

/// A Zoom session that went quiet: who it is, and its latest activity
/// (epoch ms of Zoom's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiet {
    pub account_id: String,
    pub session_id: String,
    pub last_activity_ts: i64,
}

/// Where webhook events live.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores `event` unless it is stored already. Returns only once the
    /// event is durably committed; on any failure nothing of it is kept.
    async fn append(&self, event: &ZoomEvent) -> Result<Appended, StoreError>;

    /// One session by provider id (any account when `account_id` is `None`).
    async fn session(
        &self,
        account_id: Option<&str>,
        session_id: &str,
    ) -> Result<Option<ZoomSession>, StoreError>;

    /// A window of the sessions matching `filter`, in listing order.
    async fn sessions(
        &self,
        filter: &StoredSessionFilter,
        window: &Window,
    ) -> Result<Vec<ZoomSession>, StoreError>;

    /// How many sessions match `filter`.
    async fn count(&self, filter: &StoredSessionFilter) -> Result<usize, StoreError>;

    /// Up to `limit` Zoom sessions not over that no event changed since
    /// `before` (by this store's clock), the quietest first.
    async fn quiet_zoom_sessions(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Quiet>, StoreError>;

    /// How busy each agent of a session was when it joined: for each of its
    /// agent connections, the other sessions (at most `cap`) in which an agent
    /// of the same name had a connection open at that moment, looking back
    /// at most `look_back` (the longest session considered).
    async fn agent_load(
        &self,
        session: &ZoomSession,
        cap: usize,
        look_back: std::time::Duration,
    ) -> Result<AgentLoad, StoreError>;

    /// Stores a Co-browse for Messenger fact unless its session has it
    /// already (by key), folding it into the session. Returns only once it
    /// is durably committed, with the session as it is now when the fact
    /// changed what subscribers are told (and only then does a shared
    /// store feed it); on any failure nothing of it is kept.
    async fn append_messenger(
        &self,
        fact: &Fact,
    ) -> Result<(Appended, Option<MessengerSession>), StoreError>;

    /// One Messenger session by id.
    async fn messenger_session(
        &self,
        session_id: &str,
    ) -> Result<Option<MessengerSession>, StoreError>;

    /// The Messenger sessions of a conversation (at most `limit`), in
    /// listing order.
    async fn messenger_of_conversation(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<MessengerSession>, StoreError>;

    /// A window of the Messenger sessions matching `filter`, in listing
    /// order (newest start, else offer, first; then id).
    async fn messenger_sessions(
        &self,
        filter: &StoredSessionFilter,
        window: &Window,
    ) -> Result<Vec<MessengerSession>, StoreError>;

    /// How many Messenger sessions match `filter`.
    async fn messenger_count(&self, filter: &StoredSessionFilter) -> Result<usize, StoreError>;

    /// Which of these messaging conversations are noted as read to their
    /// end (their co-browse messages stored, their agent leg over).
    async fn messenger_read(
        &self,
        conversation_ids: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError>;

    /// Notes a messaging conversation as read to its end (`at`: when it
    /// ended); the note goes with retention.
    async fn mark_messenger_read(
        &self,
        conversation_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Deletes sessions that ended before `cutoff`, and their events (Zoom
    /// sessions, and Messenger sessions over by then, with their facts and
    /// the notes of conversations read).
    async fn purge_ended_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Proves the store takes a write as large as the largest webhook.
    async fn check(&self) -> Result<(), StoreError>;

    /// Whether the store has a shared change feed (several replicas).
    fn has_feed(&self) -> bool {
        false
    }

    /// Up to `limit` changes of the shared feed after `after`, in order (a
    /// hole first told as [`FeedItem::Lagged`]), for a subscriber resuming;
    /// a store without a feed (one process) says so.
    async fn feed_after(&self, after: i64, limit: i64) -> Result<FeedPage, StoreError> {
        let _ = (after, limit);
        Err(StoreError::NoFeed)
    }
}
