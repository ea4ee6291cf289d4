//! The embedded SQLite event store: WAL, `synchronous = FULL`, migrations at
//! start-up. An append is one transaction: insert the event (ignored when its
//! digest is known), re-fold the session from all its events, upsert the
//! folded state.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{Appended, EventStore, SessionFilter, StoreError};
use crate::zoom::event::{parse, Inbound, ZoomEvent};
use crate::zoom::fold::{fold, ZoomSession};

/// SQLite behind [`EventStore`].
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file and migrates it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }
}

fn millis(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|t| t.timestamp_millis())
}

fn decode_session(state: &str) -> Result<ZoomSession, StoreError> {
    serde_json::from_str(state)
        .map_err(|e| StoreError(format!("stored session state is unreadable: {e}")))
}

fn decode_event(body: &str) -> Result<ZoomEvent, StoreError> {
    match parse(body.as_bytes()) {
        Ok(Inbound::Event(event)) => Ok(*event),
        Ok(Inbound::UrlValidation { .. }) => {
            Err(StoreError("a stored event is a URL validation".into()))
        }
        Err(e) => Err(StoreError(format!("a stored event no longer parses: {e}"))),
    }
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, event: &ZoomEvent) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO zoom_events (digest, account_id, session_id, event, event_ts, body, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&event.digest[..])
        .bind(&event.account_id)
        .bind(&event.session_id)
        .bind(event.kind.wire())
        .bind(event.event_ts)
        .bind(&event.canonical)
        .bind(Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let session = if inserted {
            let rows =
                sqlx::query("SELECT body FROM zoom_events WHERE account_id = ? AND session_id = ?")
                    .bind(&event.account_id)
                    .bind(&event.session_id)
                    .fetch_all(&mut *tx)
                    .await?;
            let events = rows
                .iter()
                .map(|row| decode_event(row.get::<&str, _>("body")))
                .collect::<Result<Vec<_>, _>>()?;
            let session =
                fold(&events).ok_or_else(|| StoreError("a session without events".into()))?;
            let state = serde_json::to_string(&session).expect("sessions serialize");
            sqlx::query(
                "INSERT INTO zoom_sessions (account_id, session_id, ended, start_ms, end_ms, updated_at, state)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (account_id, session_id) DO UPDATE SET
                   ended = excluded.ended, start_ms = excluded.start_ms, end_ms = excluded.end_ms,
                   updated_at = excluded.updated_at, state = excluded.state",
            )
            .bind(&session.account_id)
            .bind(&session.session_id)
            .bind(session.ended)
            .bind(millis(session.start_time))
            .bind(millis(session.end_time))
            .bind(Utc::now().timestamp_millis())
            .bind(state)
            .execute(&mut *tx)
            .await?;
            session
        } else {
            let row = sqlx::query(
                "SELECT state FROM zoom_sessions WHERE account_id = ? AND session_id = ?",
            )
            .bind(&event.account_id)
            .bind(&event.session_id)
            .fetch_one(&mut *tx)
            .await?;
            decode_session(row.get::<&str, _>("state"))?
        };
        tx.commit().await?;
        Ok(Appended { inserted, session })
    }

    async fn session(
        &self,
        account_id: Option<&str>,
        session_id: &str,
    ) -> Result<Option<ZoomSession>, StoreError> {
        let row = sqlx::query(
            "SELECT state FROM zoom_sessions WHERE session_id = ? AND (? IS NULL OR account_id = ?)
             ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(session_id)
        .bind(account_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| decode_session(r.get::<&str, _>("state")))
            .transpose()
    }

    async fn sessions(&self, filter: &SessionFilter) -> Result<Vec<ZoomSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT state FROM zoom_sessions
             WHERE (? IS NULL OR ended = ?)
               AND (? IS NULL OR start_ms >= ?)
               AND (? IS NULL OR start_ms < ?)
             ORDER BY start_ms DESC, session_id LIMIT ?",
        )
        .bind(filter.ended)
        .bind(filter.ended)
        .bind(millis(filter.started_after))
        .bind(millis(filter.started_after))
        .bind(millis(filter.started_before))
        .bind(millis(filter.started_before))
        .bind(i64::try_from(filter.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| decode_session(r.get::<&str, _>("state")))
            .collect()
    }

    async fn sessions_overlapping(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ZoomSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT state FROM zoom_sessions
             WHERE (start_ms IS NULL OR start_ms <= ?) AND (end_ms IS NULL OR end_ms >= ?)
             LIMIT 10000",
        )
        .bind(to.timestamp_millis())
        .bind(from.timestamp_millis())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| decode_session(r.get::<&str, _>("state")))
            .collect()
    }

    async fn purge_ended_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let cutoff = cutoff.timestamp_millis();
        sqlx::query(
            "DELETE FROM zoom_events WHERE (account_id, session_id) IN
               (SELECT account_id, session_id FROM zoom_sessions WHERE ended = 1 AND end_ms < ?)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let purged = sqlx::query("DELETE FROM zoom_sessions WHERE ended = 1 AND end_ms < ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(purged)
    }

    async fn check(&self) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO store_health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at")
            .bind(Utc::now().timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoom::fold::tests::events;

    #[tokio::test]
    async fn events_are_stored_once_and_fold_into_the_session() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("events.sqlite"))
            .await
            .expect("opens");
        let events = events("s1");
        for event in events.iter().rev() {
            assert!(store.append(event).await.expect("stored").inserted);
        }
        let again = store.append(&events[3]).await.expect("stored");
        assert!(!again.inserted, "a re-delivery is not stored twice");
        assert_eq!(Some(again.session.clone()), fold(&events));
        assert_eq!(
            store.session(Some("acc"), "s1").await.expect("read"),
            fold(&events)
        );
        let listed = store
            .sessions(&SessionFilter {
                ended: Some(true),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        store.check().await.expect("writable");
    }

    #[tokio::test]
    async fn old_ended_sessions_are_purged_with_their_events() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("events.sqlite"))
            .await
            .expect("opens");
        for event in events("old") {
            store.append(&event).await.expect("stored");
        }
        let end = store
            .session(None, "old")
            .await
            .expect("read")
            .expect("there")
            .end_time
            .expect("ended");
        assert_eq!(
            store.purge_ended_before(end).await.expect("purge"),
            0,
            "not before its end"
        );
        assert_eq!(
            store
                .purge_ended_before(end + chrono::Duration::seconds(1))
                .await
                .expect("purge"),
            1
        );
        assert!(store.session(None, "old").await.expect("read").is_none());
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM zoom_events")
            .fetch_one(&store.pool)
            .await
            .expect("count");
        assert_eq!(left, 0);
    }
}
