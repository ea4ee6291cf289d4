//! The embedded SQLite event store: WAL, `synchronous = FULL`, migrations at
//! start-up.
//!
//! Two pools over one file. Writes go through a pool of **one** connection,
//! so they are serialised in the process and never queue behind reads;
//! reads go through read-only connections, which WAL lets run beside the
//! writer. An append is one `BEGIN IMMEDIATE` transaction: insert the event
//! (nothing more when its digest is known), then merge it into the session's
//! head, the person and the connection it names (a few rows, whatever the
//! session's history). Any error rolls the transaction back and closes the
//! connection, so a failed commit (a full disk) can never leave a half-open
//! transaction for the next append to write into; the next append opens a
//! fresh connection, and succeeds as soon as there is room again.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, Sqlite, SqlitePool};

use super::sql::{now_ms, PARTS_VERSION, PURGE_BATCH};
use super::{AgentLoad, Appended, EventStore, StoreError, StoredSessionFilter, Window};
use crate::messenger::{Fact, MessengerSession};
use crate::zoom::event::ZoomEvent;
use crate::zoom::fold::ZoomSession;

/// The statements SQLite shares with PostgreSQL.
mod q {
    super::super::sql::queries!(sqlx::Sqlite, sqlx::SqliteConnection);
}

/// The Messenger statements SQLite shares with PostgreSQL.
mod mq {
    super::super::messenger_sql::messenger_queries!(sqlx::Sqlite, sqlx::SqliteConnection);
}

/// SQLite behind [`EventStore`].
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    probe_bytes: usize,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file, migrates it, and
    /// rebuilds the session parts if they were written by another version.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_checked(path).await.map_err(|e| opening(path, e))
    }

    async fn open_checked(path: &Path) -> Result<Self, StoreError> {
        if path.is_dir() {
            return Err(StoreError::Place(format!(
                "it is a folder: name a file in it, like {}",
                path.join("events.sqlite").display()
            )));
        }
        if let Some(file) = path.ancestors().skip(1).find(|a| a.exists() && !a.is_dir()) {
            return Err(StoreError::Place(format!(
                "{} is a file, not a folder",
                file.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Place(format!(
                    "its folder {} cannot be created: {e}",
                    dir.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(2))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.read_only(true))
            .await?;
        let store = Self {
            writer,
            reader,
            probe_bytes: 64 * 1024,
        };
        store.rebuild_if_stale().await?;
        Ok(store)
    }

    /// Copies the store at `path` into a new file `to`, consistently, while
    /// a gateway may be writing to it (SQLite's `VACUUM INTO` reads one
    /// snapshot). `to` must not exist.
    pub async fn backup(path: &Path, to: &Path) -> Result<(), StoreError> {
        if !path.is_file() {
            return Err(StoreError::Place(format!(
                "there is no store at {}",
                path.display()
            )));
        }
        if to.exists() {
            return Err(StoreError::Place(format!(
                "{} exists: name a new file (a backup never overwrites)",
                to.display()
            )));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| opening(path, e.into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(to.to_string_lossy().into_owned())
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }

    /// Makes the readiness probe write `bytes` (the largest webhook body),
    /// so that it fails when a webhook would.
    pub(crate) fn probe_bytes(mut self, bytes: usize) -> Self {
        self.probe_bytes = bytes;
        self
    }

    /// The writer's one connection (waiting for it while another write runs).
    async fn writer(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        Ok(self.writer.acquire().await?)
    }

    async fn rebuild_if_stale(&self) -> Result<(), StoreError> {
        let mut connection = self.writer().await?;
        if q::parts_version(&mut connection).await?.as_deref() == Some(PARTS_VERSION) {
            return Ok(());
        }
        let outcome = rebuild(&mut connection).await;
        settle(&mut connection, outcome)
    }
}

/// Rebuilds the parts in one exclusive transaction.
async fn rebuild(connection: &mut SqliteConnection) -> Result<(), StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    q::rebuild(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Passes on the outcome of a write. On any error the connection is closed
/// instead of going back to the pool: whatever state a failed statement or
/// commit left it in, no later write sees it.
fn settle<T>(
    connection: &mut PoolConnection<Sqlite>,
    outcome: Result<T, StoreError>,
) -> Result<T, StoreError> {
    if outcome.is_err() {
        connection.close_on_drop();
    }
    outcome
}

/// Stores one event in one exclusive transaction (SQLite has one writer).
async fn store_event(
    connection: &mut SqliteConnection,
    event: &ZoomEvent,
) -> Result<bool, StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    let inserted = q::store_event(&mut tx, event).await?;
    tx.commit().await?;
    Ok(inserted)
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, event: &ZoomEvent) -> Result<Appended, StoreError> {
        let mut connection = self.writer().await?;
        let outcome = store_event(&mut connection, event).await;
        let inserted = settle(&mut connection, outcome)?;
        Ok(Appended {
            inserted,
            fed: false,
        })
    }

    async fn session(
        &self,
        account_id: Option<&str>,
        session_id: &str,
    ) -> Result<Option<ZoomSession>, StoreError> {
        q::session(&self.reader, account_id, session_id).await
    }

    async fn sessions(
        &self,
        filter: &StoredSessionFilter,
        window: &Window,
    ) -> Result<Vec<ZoomSession>, StoreError> {
        q::sessions(&self.reader, filter, window).await
    }

    async fn quiet_zoom_sessions(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<super::Quiet>, StoreError> {
        q::quiet(&self.reader, before.timestamp_millis(), limit).await
    }

    async fn count(&self, filter: &StoredSessionFilter) -> Result<usize, StoreError> {
        q::count(&self.reader, filter).await
    }

    async fn agent_load(
        &self,
        session: &ZoomSession,
        cap: usize,
        look_back: Duration,
    ) -> Result<AgentLoad, StoreError> {
        q::agent_load(&self.reader, session, cap, look_back).await
    }

    async fn append_messenger(
        &self,
        fact: &Fact,
    ) -> Result<(Appended, Option<MessengerSession>), StoreError> {
        let mut connection = self.writer().await?;
        let outcome = store_fact(&mut connection, fact).await;
        let (inserted, session) = settle(&mut connection, outcome)?;
        let appended = Appended {
            inserted,
            fed: false,
        };
        Ok((appended, session))
    }

    async fn messenger_session(
        &self,
        session_id: &str,
    ) -> Result<Option<MessengerSession>, StoreError> {
        mq::messenger_session(&self.reader, session_id).await
    }

    async fn messenger_of_conversation(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<MessengerSession>, StoreError> {
        mq::messenger_of_conversation(&self.reader, conversation_id, limit).await
    }

    async fn messenger_sessions(
        &self,
        filter: &StoredSessionFilter,
        window: &Window,
    ) -> Result<Vec<MessengerSession>, StoreError> {
        mq::messenger_sessions(&self.reader, filter, window).await
    }

    async fn messenger_count(&self, filter: &StoredSessionFilter) -> Result<usize, StoreError> {
        mq::messenger_count(&self.reader, filter).await
    }

    async fn messenger_read(
        &self,
        conversation_ids: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        mq::messenger_read(&self.reader, conversation_ids).await
    }

    async fn mark_messenger_read(
        &self,
        conversation_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut connection = self.writer().await?;
        let outcome =
            mq::mark_messenger_read(&mut connection, conversation_id, at.timestamp_millis()).await;
        settle(&mut connection, outcome)
    }

    async fn purge_ended_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = cutoff.timestamp_millis();
        let mut purged = 0;
        for messenger in [false, true] {
            loop {
                let mut connection = self.writer().await?;
                let outcome = purge_batch(&mut connection, cutoff, messenger).await;
                let batch = settle(&mut connection, outcome)?;
                purged += batch;
                if batch < PURGE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(purged)
    }

    async fn check(&self) -> Result<(), StoreError> {
        let bytes = i64::try_from(self.probe_bytes).unwrap_or(i64::MAX);
        let mut connection = self.writer().await?;
        let outcome = sqlx::query(
            "INSERT INTO store_health (id, checked_at, pad) VALUES (1, $1, zeroblob($2))
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at, pad = excluded.pad",
        )
        .bind(now_ms())
        .bind(bytes)
        .execute(&mut *connection)
        .await
        .map(drop)
        .map_err(StoreError::from);
        settle(&mut connection, outcome)
    }
}

/// Stores one Messenger fact in one exclusive transaction.
async fn store_fact(
    connection: &mut SqliteConnection,
    fact: &Fact,
) -> Result<(bool, Option<MessengerSession>), StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    let session = mq::store_fact(&mut tx, fact).await?;
    tx.commit().await?;
    Ok(session)
}

/// Deletes up to [`PURGE_BATCH`] sessions that ended before `cutoff`, with
/// their events and parts (Zoom's), or their facts (`messenger`).
async fn purge_batch(
    connection: &mut SqliteConnection,
    cutoff: i64,
    messenger: bool,
) -> Result<u64, StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    if messenger {
        let purged = mq::purge_messenger(&mut tx, cutoff, PURGE_BATCH).await?;
        tx.commit().await?;
        return Ok(purged);
    }
    let doomed = q::doomed(&mut tx, cutoff).await?;
    for session in &doomed {
        q::delete_session(&mut tx, session).await?;
    }
    tx.commit().await?;
    Ok(doomed.len() as u64)
}

/// What went wrong opening the store at `path`, in words: SQLite's result
/// codes (`code: 14`) say little to someone who has to fix it.
fn opening(path: &Path, error: StoreError) -> StoreError {
    let text = error.detail();
    let words = if text.contains("code: 14") {
        format!(
            "SQLite cannot open the file: its folder {} must exist and be writable by this user (SQLite keeps -wal and -shm files beside the database)",
            path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
        )
    } else if text.contains("code: 8") {
        "the file is read-only: the gateway writes every webhook event to it".to_owned()
    } else if text.contains("code: 26") {
        "the file is not a SQLite database (is store.path naming another file?)".to_owned()
    } else if text.contains("code: 13") {
        return StoreError::Refused(format!("the disk is full ({text})"));
    } else {
        return error;
    };
    StoreError::Place(format!("{words} ({text})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("events.sqlite"))
            .await
            .expect("opens");
        (dir, store)
    }

    #[tokio::test]
    async fn events_are_stored_once_and_fold_into_the_session() {
        let (_dir, store) = store().await;
        suite::stored_once_and_folded(&store).await;
    }

    #[tokio::test]
    async fn parts_are_rebuilt_from_the_events_when_their_version_changed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.sqlite");
        let store = SqliteStore::open(&path).await.expect("opens");
        suite::fill_for_rebuild(&store).await;
        for spoil in suite::SPOIL_PARTS {
            sqlx::query(spoil)
                .execute(&store.writer)
                .await
                .expect("written");
        }
        drop(store);
        let store = SqliteStore::open(&path).await.expect("opens again");
        suite::rebuilt(&store).await;
    }

    #[tokio::test]
    async fn old_ended_sessions_are_purged_with_their_events() {
        let (_dir, store) = store().await;
        suite::purged_with_their_events(&store).await;
        for table in ["zoom_events", "zoom_people", "zoom_links"] {
            let left: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&store.reader)
                .await
                .expect("count");
            assert_eq!(left, 0, "{table}");
        }
    }

    #[tokio::test]
    async fn messenger_facts_are_stored_once_listed_and_purged() {
        let (_dir, store) = store().await;
        suite::messenger_facts_stored_once_and_listed(&store).await;
    }

    #[tokio::test]
    async fn an_append_costs_the_same_whatever_the_sessions_history() {
        let (_dir, store) = store().await;
        suite::append_cost_is_flat(&store).await;
    }

    #[tokio::test]
    async fn two_writers_of_one_file_interleaving_a_session_fold_it_whole() {
        let (dir, one) = store().await;
        let other = SqliteStore::open(&dir.path().join("events.sqlite"))
            .await
            .expect("opens beside the first");
        suite::two_writers_fold_whole(&one, &other).await;
    }
}
