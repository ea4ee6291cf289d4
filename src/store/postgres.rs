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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions};
use sqlx::{Connection as _, PgPool};
use tracing::warn;

use super::sql::{now_ms, PARTS_VERSION, PURGE_BATCH};
use super::{
    AgentLoad, Appended, EventStore, FeedItem, FeedPage, FeedPublish, StoreError,
    StoredSessionFilter, Window,
};
use crate::messenger::{Fact, MessengerSession};
use crate::zoom::event::{EventKind, ZoomEvent};
use crate::zoom::fold::ZoomSession;

/// The statements PostgreSQL shares with SQLite.
mod q {
    super::super::sql::queries!(sqlx::Postgres, sqlx::PgConnection);
}

/// The Messenger statements PostgreSQL shares with SQLite.
mod mq {
    super::super::messenger_sql::messenger_queries!(sqlx::Postgres, sqlx::PgConnection);
}

/// The advisory lock's first part for a Messenger session (a Zoom
/// session's is its account id, which never has this form).
const MESSENGER_LOCK: &str = "\u{1}messenger";

/// The advisory lock key of a rebuild of the parts (any fixed number).
const REBUILD_LOCK: i64 = 0x636f_6272_6f77_7365;

/// PostgreSQL behind [`EventStore`].
pub struct PgStore {
    pool: PgPool,
    probe_bytes: usize,
    /// This replica's name in the feed and in leases (random per process).
    replica: String,
}

/// How long connecting to PostgreSQL at start-up may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a statement waits for a connection of the pool. Zoom waits 3 s
/// for a webhook's answer: with the database down, a webhook is refused
/// (503, Zoom retries) before Zoom gives up on it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
const _: () = assert!(ACQUIRE_TIMEOUT.as_millis() < 3_000, "within Zoom's 3 s");

/// Where the store is, for the words of an error: `host:port`, the
/// database and the user.
struct Database {
    at: String,
    database: String,
    user: String,
}

impl Database {
    fn of(options: &PgConnectOptions) -> Self {
        Self {
            at: format!("{}:{}", options.get_host(), options.get_port()),
            database: options.get_database().unwrap_or("(the user's)").to_owned(),
            user: options.get_username().to_owned(),
        }
    }

    /// Why connecting failed, as the database or the network said it.
    fn why(&self, e: &sqlx::Error) -> String {
        let Database { at, database, user } = self;
        if let sqlx::Error::Io(io) = e {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => format!(
                    "cannot reach PostgreSQL (store.url): connection refused at {at}: is it running and listening there?"
                ),
                _ => format!("cannot reach PostgreSQL (store.url) at {at}: {io}"),
            };
        }
        match e.as_database_error().and_then(|d| d.code()).as_deref() {
            Some("28P01") => format!(
                "PostgreSQL at {at}: password authentication failed for user `{user}` (store.url)"
            ),
            Some("3D000") => format!(
                "PostgreSQL at {at}: database `{database}` does not exist; create it (createdb -O {user} {database}) or name another in store.url"
            ),
            Some("28000") => format!(
                "PostgreSQL at {at} refuses user `{user}` for database `{database}` (pg_hba.conf has no entry for this client): {}",
                e.as_database_error().map(|d| d.message()).unwrap_or_default()
            ),
            _ => format!("cannot connect to PostgreSQL at {at} (store.url): {e}"),
        }
    }

    /// Why the migrations did not run: above all, rights the user lacks.
    fn why_not_migrated(&self, e: &sqlx::migrate::MigrateError) -> String {
        let Database { at, database, user } = self;
        let code = match e {
            sqlx::migrate::MigrateError::Execute(inner)
            | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => {
                inner.as_database_error().and_then(|d| d.code())
            }
            _ => None,
        };
        if code.as_deref() == Some("42501") {
            return format!(
                "PostgreSQL at {at}: user `{user}` may not create the gateway's tables in database `{database}` (it runs its migrations at start-up): make it the database's owner (ALTER DATABASE {database} OWNER TO {user}) or grant it CREATE on the schema (GRANT CREATE ON SCHEMA public TO {user}); {e}"
            );
        }
        format!("PostgreSQL at {at}: the store's migrations failed: {e}")
    }
}

impl PgStore {
    /// Connects (at most `max_connections` at once), migrates, and rebuilds
    /// the session parts if they were written by another version.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Place(format!("store.url is not a PostgreSQL URL: {e}")))?;
        // One connection first, so that what is wrong is told as the
        // database says it (a pool would only say it timed out).
        let place = Database::of(&options);
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(Ok(connection)) => drop(connection),
            Ok(Err(e)) => return Err(StoreError::Unavailable(place.why(&e))),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "PostgreSQL at {} did not answer within {CONNECT_TIMEOUT:?}",
                    place.at
                )))
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(place.why_not_migrated(&e)))?;
        let store = Self {
            pool,
            probe_bytes: 64 * 1024,
            replica: format!("{:016x}", rand::random::<u64>()),
        };
        store.rebuild_if_stale().await?;
        Ok(store)
    }

    /// This replica's name in the feed and in leases.
    pub(crate) fn replica(&self) -> &str {
        &self.replica
    }

    /// Takes or renews lease `name` for `ttl`, by the database's clock,
    /// saying whether this replica's live index may be served (`serving`);
    /// answers who holds it now.
    pub(crate) async fn lease(
        &self,
        name: &str,
        ttl: Duration,
        serving: bool,
    ) -> Result<Lease, StoreError> {
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        // When the lease is another's, the outer read sees the row as it
        // was (nothing was written).
        let (holder, holder_serving, left): (String, bool, i64) = sqlx::query_as(
            "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms),
                  taken AS (
                    INSERT INTO leases (name, holder, expires_ms, serving) SELECT $1, $2, ms + $3, $4 FROM now
                    ON CONFLICT (name) DO UPDATE
                      SET holder = excluded.holder, expires_ms = excluded.expires_ms, serving = excluded.serving
                    WHERE leases.holder = excluded.holder
                       OR leases.expires_ms < (SELECT ms FROM now)
                    RETURNING holder, serving, expires_ms)
             SELECT holder, serving, expires_ms - (SELECT ms FROM now) FROM taken
             UNION ALL
             SELECT holder, serving, expires_ms - (SELECT ms FROM now) FROM leases
             WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM taken)",
        )
        .bind(name)
        .bind(&self.replica)
        .bind(ttl)
        .bind(serving)
        .fetch_one(&self.pool)
        .await?;
        Ok(Lease {
            held: holder == self.replica,
            holder_serving,
            left: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
        })
    }

    /// Gives lease `name` up (another replica may take it at once).
    pub(crate) async fn release(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(&self.replica)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts what the live index heard into the feed (`subject`: the
    /// conversation, `body`: the notice as the index encodes it).
    pub(crate) async fn feed_notice(&self, subject: &str, body: &str) -> Result<(), StoreError> {
        self.feed_alone(("purecloud", &self.replica, subject, body))
            .await
            .map(drop)
    }

    /// Tells every follower that changes were lost, and why (they hand it
    /// on as [`FeedItem::Lagged`]).
    pub(crate) async fn feed_lag(&self, why: &str) -> Result<(), StoreError> {
        self.feed_alone(("lagged", &self.replica, "", why))
            .await
            .map(drop)
    }

    /// A change of its own into the feed (one statement: it commits alone).
    async fn feed_alone(&self, change: FeedRow<'_>) -> Result<i64, StoreError> {
        let mut connection = self.pool.acquire().await?;
        feed(&mut connection, change).await
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

/// Who holds a lease, as [`PgStore::lease`] found it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lease {
    /// This replica holds it.
    pub held: bool,
    /// Its holder said its live index may be served.
    pub holder_serving: bool,
    /// How long it has left (none when expired).
    pub left: Duration,
}

/// The feed's NOTIFY channel.
const FEED_CHANNEL: &str = "cobrowse_feed";

/// Changes read from the feed per query.
const FEED_PAGE: i64 = 500;

/// How long the feed keeps a change (a follower further behind is told it
/// lagged).
const FEED_KEPT_MS: i64 = 3_600_000;

/// One change as the feed holds it: kind, scope, subject, event.
type FeedRow<'a> = (&'a str, &'a str, &'a str, &'a str);

/// Puts a change into the feed under the next sequence number, and wakes
/// the followers (NOTIFY is delivered at commit).
async fn feed(
    connection: &mut PgConnection,
    (kind, scope, subject, event): FeedRow<'_>,
) -> Result<i64, StoreError> {
    // One round trip: the feed's row lock is held from here to the commit.
    Ok(sqlx::query_scalar(
        "WITH next AS (UPDATE feed_head SET seq = seq + 1 WHERE id = 1 RETURNING seq),
              fed AS (INSERT INTO feed (seq, at_ms, kind, scope, subject, event)
                      SELECT seq, $1, $2, $3, $4, $5 FROM next RETURNING seq)
         SELECT fed.seq FROM fed CROSS JOIN LATERAL (SELECT pg_notify($6, fed.seq::text)) AS woken",
    )
    .bind(now_ms())
    .bind(kind)
    .bind(scope)
    .bind(subject)
    .bind(event)
    .bind(FEED_CHANNEL)
    .fetch_one(&mut *connection)
    .await?)
}

impl PgStore {
    /// Follows the change feed from its head now (read before this
    /// returns, so every change committed after it is told): every change any replica
    /// commits is handed to `publish`, in order, once; a change that can no
    /// longer be read (purged, or the feed moved backwards after a
    /// failover) is handed as [`FeedItem::Lagged`]. NOTIFY wakes the
    /// follower; it also reads every `catch_up`, since a notification sent
    /// while its listening connection was down is lost.
    pub(crate) async fn follow(
        &self,
        publish: FeedPublish,
        catch_up: Duration,
    ) -> Result<tokio::task::JoinHandle<()>, StoreError> {
        let pool = self.pool.clone();
        let mut last = head(&pool).await?;
        Ok(tokio::spawn(async move {
            let mut listener: Option<PgListener> = None;
            let mut ticks = tokio::time::interval(catch_up);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                if listener.is_none() {
                    listener = listen(&pool).await;
                }
                match listener.as_mut() {
                    Some(listening) => tokio::select! {
                        woken = listening.try_recv() => match woken {
                            Ok(_) => {}
                            Err(e) => {
                                warn!(error = %e, "the change feed's listening connection failed; reading every {catch_up:?} until it is back");
                                listener = None;
                            }
                        },
                        _ = ticks.tick() => {}
                    },
                    None => {
                        ticks.tick().await;
                    }
                }
                if let Err(e) = catch_up_from(&pool, &mut last, &publish).await {
                    warn!(error = %e, "cannot read the change feed; trying again");
                }
            }
        }))
    }
}

async fn head(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT seq FROM feed_head WHERE id = 1")
        .fetch_one(pool)
        .await?)
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => {
            warn!(error = %e, "cannot listen to the change feed yet");
            return None;
        }
    };
    match listener.listen(FEED_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(e) => {
            warn!(error = %e, "cannot listen to the change feed yet");
            None
        }
    }
}

/// Hands every change after `last` to `publish`, in order, and moves
/// `last` on; a hole (purged changes) or a head behind `last` (the feed
/// moved backwards) is handed as a lag.
async fn catch_up_from(
    pool: &PgPool,
    last: &mut i64,
    publish: &FeedPublish,
) -> Result<(), StoreError> {
    loop {
        let (items, read) = read_after(pool, last, FEED_PAGE).await?;
        if read == 0 {
            let now = head(pool).await?;
            if now < *last {
                publish(FeedItem::Lagged(format!(
                    "the change feed moved back from {} to {now} (a database failover or restore); changes may have been missed",
                    *last
                )));
                *last = now;
            }
            return Ok(());
        }
        for item in items {
            publish(item);
        }
        if read < FEED_PAGE as usize {
            return Ok(());
        }
    }
}

/// Up to `limit` changes after `last`, in order, with a hole told as a lag
/// before the change after it; moves `last` on. Also how many rows were
/// read.
async fn read_after(
    pool: &PgPool,
    last: &mut i64,
    limit: i64,
) -> Result<(Vec<FeedItem>, usize), StoreError> {
    let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT seq, kind, scope, subject, event FROM feed WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(*last)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let read = rows.len();
    let mut items = Vec::with_capacity(read);
    for (sequence, kind, scope, subject, event) in rows {
        if sequence != *last + 1 {
            items.push(FeedItem::Lagged(format!(
                "{} changes were no longer in the change feed",
                sequence - *last - 1
            )));
        }
        *last = sequence;
        items.push(match (kind.as_str(), EventKind::from_stored(&event)) {
            ("zoom", Some(event)) => FeedItem::Zoom {
                sequence,
                event,
                account_id: scope,
                session_id: subject,
            },
            ("messenger", _) => match serde_json::from_str(&event) {
                Ok(change) => FeedItem::Messenger { sequence, change },
                Err(e) => FeedItem::Lagged(format!(
                    "change {sequence} of the feed, a Co-browse for Messenger change of session {subject}, does not read ({e})"
                )),
            },
            ("conversation", _) => FeedItem::Conversation {
                writer: scope,
                id: subject,
            },
            ("lagged", _) => FeedItem::Lagged(event),
            ("purecloud", _) => FeedItem::Notice {
                writer: scope,
                body: event,
            },
            _ => FeedItem::Lagged(format!(
                "change {sequence} of the feed is of a kind this version does not know ({kind} {event})"
            )),
        });
    }
    Ok((items, read))
}

#[async_trait::async_trait]
impl crate::changes::SharedChanges for PgStore {
    async fn conversation_changed(&self, conversation_id: &str) {
        let change = ("conversation", &*self.replica, conversation_id, "changed");
        if let Err(e) = self.feed_alone(change).await {
            warn!(error = %e, conversation_id, "could not tell the other replicas of a changed conversation; their kept copies go stale by their TTL");
        }
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
        if inserted {
            // Last, so that the feed's row lock is held only to the commit.
            let change = (
                "zoom",
                &*event.account_id,
                &*event.session_id,
                event.kind.wire(),
            );
            feed(&mut tx, change).await?;
        }
        tx.commit().await?;
        Ok(Appended {
            inserted,
            fed: true,
        })
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
        filter: &StoredSessionFilter,
        window: &Window,
    ) -> Result<Vec<ZoomSession>, StoreError> {
        q::sessions(&self.pool, filter, window).await
    }

    async fn quiet_zoom_sessions(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<super::Quiet>, StoreError> {
        q::quiet(&self.pool, before.timestamp_millis(), limit).await
    }

    async fn count(&self, filter: &StoredSessionFilter) -> Result<usize, StoreError> {
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

    async fn append_messenger(
        &self,
        fact: &Fact,
    ) -> Result<(Appended, Option<MessengerSession>), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_session(&mut tx, MESSENGER_LOCK, &fact.session_id).await?;
        let (inserted, session) = mq::store_fact(&mut tx, fact).await?;
        if let Some(session) = &session {
            let told = serde_json::to_string(&fact.change(session)).expect("a change serializes");
            let change = (
                "messenger",
                &*fact.conversation_id,
                &*fact.session_id,
                &*told,
            );
            feed(&mut tx, change).await?;
        }
        tx.commit().await?;
        let appended = Appended {
            inserted,
            fed: true,
        };
        Ok((appended, session))
    }

    async fn messenger_session(
        &self,
        session_id: &str,
    ) -> Result<Option<MessengerSession>, StoreError> {
        mq::messenger_session(&self.pool, session_id).await
    }

    async fn messenger_of_conversation(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<MessengerSession>, StoreError> {
        mq::messenger_of_conversation(&self.pool, conversation_id, limit).await
    }

    async fn messenger_sessions(
        &self,
        filter: &StoredSessionFilter,
        window: &Window,
    ) -> Result<Vec<MessengerSession>, StoreError> {
        mq::messenger_sessions(&self.pool, filter, window).await
    }

    async fn messenger_count(&self, filter: &StoredSessionFilter) -> Result<usize, StoreError> {
        mq::messenger_count(&self.pool, filter).await
    }

    async fn messenger_read(
        &self,
        conversation_ids: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        mq::messenger_read(&self.pool, conversation_ids).await
    }

    async fn mark_messenger_read(
        &self,
        conversation_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        mq::mark_messenger_read(&mut connection, conversation_id, at.timestamp_millis()).await
    }

    async fn purge_ended_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = cutoff.timestamp_millis();
        let mut purged = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let batch = mq::purge_messenger(&mut tx, cutoff, PURGE_BATCH).await?;
            tx.commit().await?;
            purged += batch;
            if batch < PURGE_BATCH as u64 {
                break;
            }
        }
        loop {
            let mut tx = self.pool.begin().await?;
            let doomed = q::doomed(&mut tx, cutoff).await?;
            for session in &doomed {
                lock_session(&mut tx, &session.1, &session.2).await?;
                q::delete_session(&mut tx, session).await?;
            }
            sqlx::query("DELETE FROM feed WHERE at_ms < $1")
                .bind(now_ms() - FEED_KEPT_MS)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            purged += doomed.len() as u64;
            if doomed.len() < PURGE_BATCH as usize {
                return Ok(purged);
            }
        }
    }

    fn has_feed(&self) -> bool {
        true
    }

    async fn feed_after(&self, after: i64, limit: i64) -> Result<FeedPage, StoreError> {
        let mut last = after;
        let (items, read) = read_after(&self.pool, &mut last, limit).await?;
        Ok(FeedPage { items, last, read })
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
    async fn messenger_facts_are_stored_once_listed_and_purged() {
        let (_url, store) = store().await;
        suite::messenger_facts_stored_once_and_listed(&store).await;
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

    #[tokio::test]
    async fn the_feed_tells_followers_every_change_in_order_and_every_hole_as_a_lag() {
        let (_url, store) = store().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let follower = store
            .follow(
                std::sync::Arc::new(move |item| {
                    let _ = tx.send(item);
                }),
                Duration::from_millis(50),
            )
            .await
            .expect("the feed's head is read");
        async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<FeedItem>) -> FeedItem {
            tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("told within 5 s")
                .expect("a change")
        }
        let events = crate::zoom::fold::tests::events("fed");
        for event in &events[..2] {
            store.append(event).await.expect("stored");
        }
        for event in &events[..2] {
            match next(&mut rx).await {
                FeedItem::Zoom {
                    event: kind,
                    session_id,
                    ..
                } => {
                    assert_eq!((kind, session_id.as_str()), (event.kind, "fed"));
                }
                other => panic!("{other:?}"),
            }
        }
        // Five changes committed and purged before the follower read them.
        sqlx::query("UPDATE feed_head SET seq = seq + 5")
            .execute(&store.pool)
            .await
            .expect("written");
        store.append(&events[2]).await.expect("stored");
        assert!(
            matches!(next(&mut rx).await, FeedItem::Lagged(why) if why.starts_with("5 changes")),
            "a hole is a lag"
        );
        assert!(matches!(next(&mut rx).await, FeedItem::Zoom { .. }));
        // A failover to a database that had not seen the last changes.
        sqlx::query("DELETE FROM feed")
            .execute(&store.pool)
            .await
            .expect("written");
        sqlx::query("UPDATE feed_head SET seq = 1")
            .execute(&store.pool)
            .await
            .expect("written");
        assert!(
            matches!(next(&mut rx).await, FeedItem::Lagged(why) if why.contains("moved back")),
            "a feed that moved backwards is a lag"
        );
        store.append(&events[3]).await.expect("stored");
        assert!(matches!(next(&mut rx).await, FeedItem::Zoom { .. }));
        follower.abort();
    }
}
