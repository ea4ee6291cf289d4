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

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, QueryBuilder, Row, Sqlite, SqlitePool};

use super::{AgentLoad, Appended, Bound, EventStore, SessionFilter, StoreError, Window};
use crate::zoom::event::{parse, Inbound, ZoomEvent};
use crate::zoom::fold::{assemble, ZoomSession};
use crate::zoom::parts::{touched, Head, Link, Person, Rank};

/// The version of the parts this code writes; other versions are rebuilt
/// from the events at start-up.
const PARTS_VERSION: &str = "1";

/// Sessions deleted per transaction by a purge (so that webhooks wait for
/// one batch at most).
const PURGE_BATCH: i64 = 500;

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
            return Err(StoreError(format!(
                "it is a folder: name a file in it, like {}",
                path.join("events.sqlite").display()
            )));
        }
        if let Some(file) = path.ancestors().skip(1).find(|a| a.exists() && !a.is_dir()) {
            return Err(StoreError(format!(
                "{} is a file, not a folder",
                file.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError(format!(
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
        sqlx::migrate!("./migrations").run(&writer).await?;
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
            return Err(StoreError(format!(
                "there is no store at {}",
                path.display()
            )));
        }
        if to.exists() {
            return Err(StoreError(format!(
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
        sqlx::query("VACUUM INTO ?")
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
        let version: Option<String> =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE key = 'parts'")
                .fetch_optional(&self.writer)
                .await?;
        if version.as_deref() == Some(PARTS_VERSION) {
            return Ok(());
        }
        let mut connection = self.writer().await?;
        let outcome = rebuild(&mut connection).await;
        settle(&mut connection, outcome)
    }

    /// Heads and parts of `ids`, assembled, in the order of `heads`.
    async fn assemble_all(&self, heads: Vec<(i64, Head)>) -> Result<Vec<ZoomSession>, StoreError> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = heads.iter().map(|(id, _)| *id).collect();
        let mut people: HashMap<i64, Vec<Person>> = HashMap::new();
        for row in rows_of(&self.reader, "SELECT session, state FROM zoom_people", &ids).await? {
            people
                .entry(row.get("session"))
                .or_default()
                .push(decode("a person", row.get("state"))?);
        }
        let mut links: HashMap<i64, Vec<Link>> = HashMap::new();
        for row in rows_of(&self.reader, "SELECT session, state FROM zoom_links", &ids).await? {
            links
                .entry(row.get("session"))
                .or_default()
                .push(decode("a connection", row.get("state"))?);
        }
        Ok(heads
            .into_iter()
            .map(|(id, head)| {
                assemble(
                    &head,
                    people.remove(&id).unwrap_or_default(),
                    links.remove(&id).unwrap_or_default(),
                )
            })
            .collect())
    }
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

/// Rows of `select` (which names `session`) for the sessions `ids`.
async fn rows_of(
    pool: &SqlitePool,
    select: &str,
    ids: &[i64],
) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(select);
    query.push(" WHERE session IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    Ok(query.build().fetch_all(pool).await?)
}

fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError(format!("stored {what} is unreadable: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("parts serialize")
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn millis(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|t| t.timestamp_millis())
}

/// A start's place in the listing order (ascending): minus the start, or
/// the largest integer when it is unknown.
fn rank_ms(start_ms: Option<i64>) -> i64 {
    start_ms.map_or(i64::MAX, i64::saturating_neg)
}

/// Inserts `event` unless it is known, then merges it into its session's
/// parts, in one transaction. True when it was new.
async fn store_event(
    connection: &mut SqliteConnection,
    event: &ZoomEvent,
) -> Result<bool, StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
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
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        merge(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// Merges one new event into the head, the person and the connection it
/// touches: a read and a write of each, whatever the session's history.
async fn merge(connection: &mut SqliteConnection, event: &ZoomEvent) -> Result<(), StoreError> {
    let session = merge_head(connection, event).await?;
    let (user, link) = touched(event);
    let Some((user_id, user)) = user else {
        return Ok(());
    };
    let rank = Rank::of(event);
    let person = merge_person(connection, session, user_id, user, rank).await?;
    if let Some(connection_id) = link {
        let link = Link::new(user_id, connection_id);
        merge_link(connection, session, &person, link, rank, event).await?;
    }
    Ok(())
}

/// Merges `event` into its session's head; the session's row id.
async fn merge_head(
    connection: &mut SqliteConnection,
    event: &ZoomEvent,
) -> Result<i64, StoreError> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, head FROM zoom_sessions WHERE account_id = ? AND session_id = ?",
    )
    .bind(&event.account_id)
    .bind(&event.session_id)
    .fetch_optional(&mut *connection)
    .await?;
    let (known, mut head) = match row {
        Some((id, text)) => (Some(id), decode::<Head>("a session", &text)?),
        None => (None, Head::new(&event.account_id, &event.session_id)),
    };
    head.apply(event);
    let rank = rank_ms(millis(head.start()));
    if let Some(id) = known {
        sqlx::query(
            "UPDATE zoom_sessions SET ended = ?, rank_ms = ?, end_ms = ?, updated_at = ?, head = ?
             WHERE id = ?",
        )
        .bind(head.ended)
        .bind(rank)
        .bind(millis(head.end_time))
        .bind(now_ms())
        .bind(encode(&head))
        .bind(id)
        .execute(&mut *connection)
        .await?;
        return Ok(id);
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO zoom_sessions (account_id, session_id, ended, rank_ms, end_ms, updated_at, head)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&head.account_id)
    .bind(&head.session_id)
    .bind(head.ended)
    .bind(rank)
    .bind(millis(head.end_time))
    .bind(now_ms())
    .bind(encode(&head))
    .fetch_one(&mut *connection)
    .await?)
}

/// Merges what an event says of `user_id` into that person; the person as
/// it is now.
async fn merge_person(
    connection: &mut SqliteConnection,
    session: i64,
    user_id: &str,
    user: &crate::zoom::event::UserInfo,
    rank: Rank,
) -> Result<Person, StoreError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT state FROM zoom_people WHERE session = ? AND user_id = ?")
            .bind(session)
            .bind(user_id)
            .fetch_optional(&mut *connection)
            .await?;
    let new = stored.is_none();
    let mut person = match stored {
        Some(text) => decode("a person", &text)?,
        None => Person::new(user_id),
    };
    let changed = person.apply(rank, user);
    if new || changed {
        sqlx::query(
            "INSERT INTO zoom_people (session, user_id, state) VALUES (?, ?, ?)
             ON CONFLICT (session, user_id) DO UPDATE SET state = excluded.state",
        )
        .bind(session)
        .bind(user_id)
        .bind(encode(&person))
        .execute(&mut *connection)
        .await?;
    }
    if changed && !new {
        // A name or role told earlier in the canonical order: the user's
        // connections count under the agent it is now.
        sqlx::query("UPDATE zoom_links SET agent = ? WHERE session = ? AND user_id = ?")
            .bind(person.agent_name())
            .bind(session)
            .bind(user_id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(person)
}

/// Merges a join or a leave into its connection (`fresh`, when it is not
/// stored yet).
async fn merge_link(
    connection: &mut SqliteConnection,
    session: i64,
    person: &Person,
    fresh: Link,
    rank: Rank,
    event: &ZoomEvent,
) -> Result<(), StoreError> {
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT state FROM zoom_links WHERE session = ? AND user_id = ? AND connection_id = ?",
    )
    .bind(session)
    .bind(&fresh.user_id)
    .bind(&fresh.connection_id)
    .fetch_optional(&mut *connection)
    .await?;
    let mut link = match stored {
        Some(text) => decode("a connection", &text)?,
        None => fresh,
    };
    link.apply(rank, &event.details);
    sqlx::query(
        "INSERT INTO zoom_links (session, user_id, connection_id, agent, join_ms, leave_ms, state)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (session, user_id, connection_id) DO UPDATE SET
           agent = excluded.agent, join_ms = excluded.join_ms, leave_ms = excluded.leave_ms,
           state = excluded.state",
    )
    .bind(session)
    .bind(&link.user_id)
    .bind(&link.connection_id)
    .bind(person.agent_name())
    .bind(millis(link.join_time))
    .bind(millis(link.leave_time()))
    .bind(encode(&link))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Rebuilds every session's parts from the stored events (after an upgrade
/// that changed how parts are written), a page of events at a time.
async fn rebuild(connection: &mut SqliteConnection) -> Result<(), StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    for table in ["zoom_links", "zoom_people", "zoom_sessions"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut last = 0i64;
    loop {
        let page: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, body FROM zoom_events WHERE id > ? ORDER BY id LIMIT 500")
                .bind(last)
                .fetch_all(&mut *tx)
                .await?;
        let Some((id, _)) = page.last() else { break };
        last = *id;
        for (_, body) in &page {
            merge(&mut tx, &decode_event(body)?).await?;
        }
    }
    sqlx::query(
        "INSERT INTO store_meta (key, value) VALUES ('parts', ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(PARTS_VERSION)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
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

/// Adds `filter`'s conditions to a query over `zoom_sessions`.
fn push_filter(query: &mut QueryBuilder<'_, Sqlite>, filter: &SessionFilter) {
    query.push(" WHERE 1 = 1");
    if let Some(ended) = filter.ended {
        query.push(" AND ended = ").push_bind(ended);
    }
    if let Some(after) = filter.started_after {
        // start >= after, so -start <= -after (and the start is known).
        query
            .push(" AND rank_ms <= ")
            .push_bind(rank_ms(Some(after.timestamp_millis())));
    }
    if let Some(before) = filter.started_before {
        query
            .push(" AND rank_ms > ")
            .push_bind(rank_ms(Some(before.timestamp_millis())))
            .push(" AND rank_ms < ")
            .push_bind(i64::MAX);
    }
}

/// Adds "after (or before) `bound`" in the listing order.
fn push_bound(query: &mut QueryBuilder<'_, Sqlite>, bound: &Bound, after: bool) {
    let place = &bound.place;
    query
        .push(" AND (rank_ms, session_id, account_id) ")
        .push(match (after, bound.inclusive) {
            (true, false) => "> (",
            (true, true) => ">= (",
            (false, false) => "< (",
            (false, true) => "<= (",
        })
        .push_bind(rank_ms(place.start_ms))
        .push(", ")
        .push_bind(place.session_id.clone())
        .push(", ")
        .push_bind(place.account_id.clone())
        .push(")");
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, event: &ZoomEvent) -> Result<Appended, StoreError> {
        let mut connection = self.writer().await?;
        let outcome = store_event(&mut connection, event).await;
        let inserted = settle(&mut connection, outcome)?;
        Ok(Appended { inserted })
    }

    async fn session(
        &self,
        account_id: Option<&str>,
        session_id: &str,
    ) -> Result<Option<ZoomSession>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, head FROM zoom_sessions WHERE session_id = ? AND (? IS NULL OR account_id = ?)
             ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(session_id)
        .bind(account_id)
        .bind(account_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some((id, head)) = row else {
            return Ok(None);
        };
        let head = decode("a session", &head)?;
        Ok(self.assemble_all(vec![(id, head)]).await?.pop())
    }

    async fn sessions(
        &self,
        filter: &SessionFilter,
        window: &Window,
    ) -> Result<Vec<ZoomSession>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT id, head FROM zoom_sessions");
        push_filter(&mut query, filter);
        if let Some(after) = &window.after {
            push_bound(&mut query, after, true);
        }
        if let Some(before) = &window.before {
            push_bound(&mut query, before, false);
        }
        query.push(if window.from_back {
            " ORDER BY rank_ms DESC, session_id DESC, account_id DESC"
        } else {
            " ORDER BY rank_ms, session_id, account_id"
        });
        query
            .push(" LIMIT ")
            .push_bind(i64::try_from(window.limit).unwrap_or(i64::MAX));
        let rows = query.build().fetch_all(&self.reader).await?;
        let mut heads = rows
            .iter()
            .map(|row| Ok((row.get("id"), decode("a session", row.get("head"))?)))
            .collect::<Result<Vec<(i64, Head)>, StoreError>>()?;
        if window.from_back {
            heads.reverse();
        }
        self.assemble_all(heads).await
    }

    async fn count(&self, filter: &SessionFilter) -> Result<usize, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM zoom_sessions");
        push_filter(&mut query, filter);
        let count: i64 = query.build_query_scalar().fetch_one(&self.reader).await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn agent_load(
        &self,
        session: &ZoomSession,
        cap: usize,
        look_back: Duration,
    ) -> Result<AgentLoad, StoreError> {
        let look_back = i64::try_from(look_back.as_millis()).unwrap_or(i64::MAX);
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT mine.user_id, mine.connection_id, (
               SELECT COUNT(*) FROM (
                 SELECT DISTINCT other.session FROM zoom_links other
                 JOIN zoom_sessions s ON s.id = other.session
                 WHERE other.agent = mine.agent AND other.session <> mine.session
                   AND other.join_ms <= mine.join_ms AND other.join_ms >= mine.join_ms - ?
                   AND (other.leave_ms IS NULL OR other.leave_ms > mine.join_ms)
                   AND (s.end_ms IS NULL OR s.end_ms > mine.join_ms)
                 LIMIT ?)) AS busy
             FROM zoom_links mine JOIN zoom_sessions me ON me.id = mine.session
             WHERE me.account_id = ? AND me.session_id = ?
               AND mine.agent IS NOT NULL AND mine.join_ms IS NOT NULL",
        )
        .bind(look_back)
        .bind(i64::try_from(cap).unwrap_or(i64::MAX))
        .bind(&session.account_id)
        .bind(&session.session_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user, connection, busy)| {
                ((user, connection), usize::try_from(busy).unwrap_or(0))
            })
            .collect())
    }

    async fn purge_ended_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = cutoff.timestamp_millis();
        let mut purged = 0;
        loop {
            let mut connection = self.writer().await?;
            let outcome = purge_batch(&mut connection, cutoff).await;
            let batch = settle(&mut connection, outcome)?;
            purged += batch;
            if batch < PURGE_BATCH as u64 {
                return Ok(purged);
            }
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        let bytes = i64::try_from(self.probe_bytes).unwrap_or(i64::MAX);
        let mut connection = self.writer().await?;
        let outcome = sqlx::query(
            "INSERT INTO store_health (id, checked_at, pad) VALUES (1, ?, zeroblob(?))
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

/// Deletes up to [`PURGE_BATCH`] sessions that ended before `cutoff`, with
/// their events and parts.
async fn purge_batch(connection: &mut SqliteConnection, cutoff: i64) -> Result<u64, StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    let doomed: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, account_id, session_id FROM zoom_sessions WHERE ended = 1 AND end_ms < ? LIMIT ?",
    )
    .bind(cutoff)
    .bind(PURGE_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for (id, account, session) in &doomed {
        sqlx::query("DELETE FROM zoom_events WHERE account_id = ? AND session_id = ?")
            .bind(account)
            .bind(session)
            .execute(&mut *tx)
            .await?;
        // People and connections go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM zoom_sessions WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(doomed.len() as u64)
}

/// What went wrong opening the store at `path`, in words: SQLite's result
/// codes (`code: 14`) say little to someone who has to fix it.
fn opening(path: &Path, error: StoreError) -> StoreError {
    let text = &error.0;
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
        "the disk is full".to_owned()
    } else {
        return error;
    };
    StoreError(format!("{words} ({text})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoom::fold::fold;
    use crate::zoom::fold::tests::events;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("events.sqlite"))
            .await
            .expect("opens");
        (dir, store)
    }

    fn everything(limit: usize) -> Window {
        Window {
            limit,
            ..Window::default()
        }
    }

    #[tokio::test]
    async fn events_are_stored_once_and_fold_into_the_session() {
        let (_dir, store) = store().await;
        let events = events("s1");
        for event in events.iter().rev() {
            assert!(store.append(event).await.expect("stored").inserted);
        }
        let again = store.append(&events[3]).await.expect("stored");
        assert!(!again.inserted, "a re-delivery is not stored twice");
        assert_eq!(
            store.session(Some("acc"), "s1").await.expect("read"),
            fold(&events)
        );
        let ended = SessionFilter {
            ended: Some(true),
            ..Default::default()
        };
        let listed = store.sessions(&ended, &everything(10)).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(store.count(&ended).await.expect("count"), 1);
        store.check().await.expect("writable");
    }

    #[tokio::test]
    async fn parts_are_rebuilt_from_the_events_when_their_version_changed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.sqlite");
        let store = SqliteStore::open(&path).await.expect("opens");
        for event in events("s1") {
            store.append(&event).await.expect("stored");
        }
        sqlx::query("UPDATE store_meta SET value = 'old'")
            .execute(&store.writer)
            .await
            .expect("written");
        sqlx::query("DELETE FROM zoom_links")
            .execute(&store.writer)
            .await
            .expect("written");
        drop(store);
        let store = SqliteStore::open(&path).await.expect("opens again");
        assert_eq!(
            store.session(None, "s1").await.expect("read"),
            fold(&events("s1"))
        );
    }

    #[tokio::test]
    async fn old_ended_sessions_are_purged_with_their_events() {
        let (_dir, store) = store().await;
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
        for table in ["zoom_events", "zoom_people", "zoom_links"] {
            let left: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&store.reader)
                .await
                .expect("count");
            assert_eq!(left, 0, "{table}");
        }
    }

    /// One `user_joined` (or `user_left`) of connection `i` of session `s`.
    pub(crate) fn connection_event(session: &str, i: usize, left: bool) -> ZoomEvent {
        let (event, time_key) = if left {
            ("cobrowse.session_user_left", "leave_time")
        } else {
            ("cobrowse.session_user_joined", "join_time")
        };
        let body = serde_json::json!({
            "event": event, "event_ts": 1_763_802_000_000_i64 + i as i64,
            "payload": { "account_id": "acc", "object": {
                "session_id": session, "user_id": format!("u{}", i % 50), "user_name": "Noah",
                "role_type": "agent", "user_connection_id": format!("c{i}"),
                time_key: "2026-11-22T09:00:00Z",
            } }
        });
        match parse(body.to_string().as_bytes()).expect("valid") {
            Inbound::Event(event) => *event,
            Inbound::UrlValidation { .. } => unreachable!("events only"),
        }
    }

    #[tokio::test]
    async fn an_append_costs_the_same_whatever_the_sessions_history() {
        let (_dir, store) = store().await;
        let mut timings = Vec::new();
        for i in 0..3_000 {
            let event = connection_event("busy", i / 2, i % 2 == 1);
            let started = std::time::Instant::now();
            store.append(&event).await.expect("stored");
            timings.push(started.elapsed());
        }
        let first: std::time::Duration = timings[..300].iter().sum();
        let last: std::time::Duration = timings[2_700..].iter().sum();
        println!("300 appends: {first:?} at the start of the session, {last:?} after 2,700 events");
        assert!(
            last < first * 3,
            "appends slow down with history: {first:?} for the first 300, {last:?} for the last"
        );
        let session = store
            .session(None, "busy")
            .await
            .expect("read")
            .expect("there");
        assert_eq!(session.events, 3_000);
        assert_eq!(
            session
                .participants
                .iter()
                .map(|p| p.connections.len())
                .sum::<usize>(),
            1_500
        );
    }
}
