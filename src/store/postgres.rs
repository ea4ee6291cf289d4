//! The PostgreSQL event store: one database that every replica shares.
//!
//! The statements are SQLite's ([`super::sql`]); what differs is how writers
//! exclude each other. An append is one transaction that first takes a
//! transaction-scoped advisory lock on its session (`account_id`,
//! `session_id`), so that two replicas taking events of the same session
//! at once merge them one after the other (and the digest's unique index
//! makes a re-delivery taken by both a no-op for one of them), while
//! appends of other sessions run side by side. A purge takes the same lock
//! per session it deletes; a rebuild of the parts takes a lock of its own
//! and looks at the version again under it, so that replicas starting
//! together rebuild once. Migrations run at start-up under sqlx's own
//! advisory lock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection as _, PgPool};

use super::sql::{now_ms, PARTS_VERSION, PURGE_BATCH};
use super::{AgentLoad, Appended, EventStore, SessionFilter, StoreError, Window};
use crate::zoom::event::ZoomEvent;
use crate::zoom::fold::ZoomSession;

/// The statements PostgreSQL shares with SQLite.
mod q {
    super::super::sql::queries!(sqlx::Postgres, sqlx::PgConnection);
}

/// The advisory lock key of a rebuild of the parts (any fixed number).
const REBUILD_LOCK: i64 = 0x636f_6272_6f77_7365;

/// PostgreSQL behind [`EventStore`].
pub struct PgStore {
    pool: PgPool,
    probe_bytes: usize,
}

impl PgStore {
    /// Connects (at most `max_connections` at once), migrates, and rebuilds
    /// the session parts if they were written by another version.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError(format!("store.url is not a PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let store = Self {
            pool,
            probe_bytes: 64 * 1024,
        };
        store.rebuild_if_stale().await?;
        Ok(store)
    }

    /// Makes the readiness probe write `bytes` (the largest webhook body).
    pub(crate) fn probe_bytes(mut self, bytes: usize) -> Self {
        self.probe_bytes = bytes;
        self
    }

    async fn rebuild_if_stale(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        if q::parts_version(&mut connection).await?.as_deref() == Some(PARTS_VERSION) {
            return Ok(());
        }
        let mut tx = connection.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(REBUILD_LOCK)
            .execute(&mut *tx)
            .await?;
        // Another replica may have rebuilt them while this one waited.
        if q::parts_version(&mut tx).await?.as_deref() != Some(PARTS_VERSION) {
            q::rebuild(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Takes the session's advisory lock until the transaction ends.
async fn lock_session(
    connection: &mut PgConnection,
    account_id: &str,
    session_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))")
        .bind(account_id)
        .bind(session_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl EventStore for PgStore {
    async fn append(&self, event: &ZoomEvent) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_session(&mut tx, &event.account_id, &event.session_id).await?;
        let inserted = q::store_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Appended { inserted })
    }

    async fn session(
        &self,
        account_id: Option<&str>,
        session_id: &str,
    ) -> Result<Option<ZoomSession>, StoreError> {
        q::session(&self.pool, account_id, session_id).await
    }

    async fn sessions(
        &self,
        filter: &SessionFilter,
        window: &Window,
    ) -> Result<Vec<ZoomSession>, StoreError> {
        q::sessions(&self.pool, filter, window).await
    }

    async fn count(&self, filter: &SessionFilter) -> Result<usize, StoreError> {
        q::count(&self.pool, filter).await
    }

    async fn agent_load(
        &self,
        session: &ZoomSession,
        cap: usize,
        look_back: Duration,
    ) -> Result<AgentLoad, StoreError> {
        q::agent_load(&self.pool, session, cap, look_back).await
    }

    async fn purge_ended_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = cutoff.timestamp_millis();
        let mut purged = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let doomed = q::doomed(&mut tx, cutoff).await?;
            for session in &doomed {
                lock_session(&mut tx, &session.1, &session.2).await?;
                q::delete_session(&mut tx, session).await?;
            }
            tx.commit().await?;
            purged += doomed.len() as u64;
            if doomed.len() < PURGE_BATCH as usize {
                return Ok(purged);
            }
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        let bytes = i32::try_from(self.probe_bytes).unwrap_or(i32::MAX);
        sqlx::query(
            "INSERT INTO store_health (id, checked_at, pad) VALUES (1, $1, decode(repeat('00', $2), 'hex'))
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at, pad = excluded.pad",
        )
        .bind(now_ms())
        .bind(bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    /// A fresh database on the test server (`COBROWSE_TEST_POSTGRES_URL`,
    /// which `scripts/test` starts), and a store on it.
    async fn store() -> (String, PgStore) {
        let url = suite::fresh_postgres_database().await;
        let store = PgStore::open(&url, 4).await.expect("opens");
        (url, store)
    }

    #[tokio::test]
    async fn events_are_stored_once_and_fold_into_the_session() {
        let (_url, store) = store().await;
        suite::stored_once_and_folded(&store).await;
    }

    #[tokio::test]
    async fn parts_are_rebuilt_from_the_events_when_their_version_changed() {
        let (url, store) = store().await;
        suite::fill_for_rebuild(&store).await;
        for spoil in suite::SPOIL_PARTS {
            sqlx::query(spoil)
                .execute(&store.pool)
                .await
                .expect("written");
        }
        drop(store);
        let store = PgStore::open(&url, 4).await.expect("opens again");
        suite::rebuilt(&store).await;
    }

    #[tokio::test]
    async fn old_ended_sessions_are_purged_with_their_events() {
        let (_url, store) = store().await;
        suite::purged_with_their_events(&store).await;
        for table in ["zoom_events", "zoom_people", "zoom_links"] {
            let left: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&store.pool)
                .await
                .expect("count");
            assert_eq!(left, 0, "{table}");
        }
    }

    #[tokio::test]
    async fn an_append_costs_the_same_whatever_the_sessions_history() {
        let (_url, store) = store().await;
        suite::append_cost_is_flat(&store).await;
    }

    #[tokio::test]
    async fn two_replicas_interleaving_a_session_fold_it_whole() {
        let (url, one) = store().await;
        let other = PgStore::open(&url, 4)
            .await
            .expect("a second replica opens");
        suite::two_writers_fold_whole(&one, &other).await;
    }
}
