//! What the SQLite and PostgreSQL stores share: the rows' encoding, and
//! every statement both dialects speak alike, written once in
//! [`queries!`] and expanded for each database's connection type.
//! Placeholders are `$1`, `$2`, … (SQLite reads them as PostgreSQL does).
//! What differs — how a transaction excludes other writers, the readiness
//! write — stays in `sqlite.rs` and `postgres.rs`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::zoom::event::{parse_stored, Inbound, ZoomEvent};

/// The version of the parts this code writes; other versions are rebuilt
/// from the events at start-up.
pub(super) const PARTS_VERSION: &str = "1";

/// Sessions deleted per transaction by a purge (so that webhooks wait for
/// one batch at most).
pub(super) const PURGE_BATCH: i64 = 500;

pub(super) fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Unreadable(format!("stored {what} is unreadable: {e}")))
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("parts serialize")
}

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn millis(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|t| t.timestamp_millis())
}

/// A start's place in the listing order (ascending): minus the start, or
/// the largest integer when it is unknown.
pub(super) fn rank_ms(start_ms: Option<i64>) -> i64 {
    start_ms.map_or(i64::MAX, i64::saturating_neg)
}

pub(super) fn decode_event(body: &str) -> Result<ZoomEvent, StoreError> {
    match parse_stored(body.as_bytes()) {
        Ok(Inbound::Event(event)) => Ok(*event),
        Ok(Inbound::UrlValidation { .. }) => Err(StoreError::Unreadable(
            "a stored event is a URL validation".into(),
        )),
        Err(e) => Err(StoreError::Unreadable(format!(
            "a stored event no longer parses: {e}"
        ))),
    }
}

/// The statements of both stores, for database `$db` whose connections are
/// `$conn`. Expanded once in each store's module.
macro_rules! queries {
    ($db:ty, $conn:ty) => {
        use $crate::store::sql::{decode, decode_event, encode, millis, now_ms, rank_ms};
        use $crate::store::{AgentLoad, Bound, StoredSessionFilter, StoreError, Window};
        use $crate::zoom::event::ZoomEvent;
        use $crate::zoom::fold::{assemble, ZoomSession};
        use $crate::zoom::parts::{touched, Head, Link, Person, Rank};
        use ::sqlx::{QueryBuilder, Row};

        /// Inserts `event` unless its digest is known, then merges it into
        /// its session's parts; true when it was new. Runs inside the
        /// caller's transaction, which excludes other writers of the session.
        pub(super) async fn store_event(
            connection: &mut $conn,
            event: &ZoomEvent,
        ) -> Result<bool, StoreError> {
            let inserted = ::sqlx::query(
                "INSERT INTO zoom_events (digest, account_id, session_id, event, event_ts, body, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(&event.digest[..])
            .bind(&event.account_id)
            .bind(&event.session_id)
            .bind(event.kind.wire())
            .bind(event.event_ts)
            .bind(&event.canonical)
            .bind(now_ms())
            .execute(&mut *connection)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                merge(connection, event).await?;
            }
            Ok(inserted)
        }

        /// Merges one new event into the head, the person and the connection
        /// it touches: a read and a write of each, whatever the history.
        async fn merge(connection: &mut $conn, event: &ZoomEvent) -> Result<(), StoreError> {
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
        async fn merge_head(connection: &mut $conn, event: &ZoomEvent) -> Result<i64, StoreError> {
            let row: Option<(i64, String)> = ::sqlx::query_as(
                "SELECT id, head FROM zoom_sessions WHERE account_id = $1 AND session_id = $2",
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
                ::sqlx::query(
                    "UPDATE zoom_sessions SET ended = $1, rank_ms = $2, end_ms = $3, updated_at = $4, head = $5
                     WHERE id = $6",
                )
                .bind(head.is_over())
                .bind(rank)
                .bind(millis(head.over_at()))
                .bind(now_ms())
                .bind(encode(&head))
                .bind(id)
                .execute(&mut *connection)
                .await?;
                return Ok(id);
            }
            Ok(::sqlx::query_scalar(
                "INSERT INTO zoom_sessions (account_id, session_id, ended, rank_ms, end_ms, updated_at, head)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&head.account_id)
            .bind(&head.session_id)
            .bind(head.is_over())
            .bind(rank)
            .bind(millis(head.over_at()))
            .bind(now_ms())
            .bind(encode(&head))
            .fetch_one(&mut *connection)
            .await?)
        }

        /// Merges what an event says of `user_id` into that person; the
        /// person as it is now.
        async fn merge_person(
            connection: &mut $conn,
            session: i64,
            user_id: &str,
            user: &$crate::zoom::event::UserInfo,
            rank: Rank,
        ) -> Result<Person, StoreError> {
            let stored: Option<String> =
                ::sqlx::query_scalar("SELECT state FROM zoom_people WHERE session = $1 AND user_id = $2")
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
                ::sqlx::query(
                    "INSERT INTO zoom_people (session, user_id, state) VALUES ($1, $2, $3)
                     ON CONFLICT (session, user_id) DO UPDATE SET state = excluded.state",
                )
                .bind(session)
                .bind(user_id)
                .bind(encode(&person))
                .execute(&mut *connection)
                .await?;
            }
            if changed && !new {
                // A name or role told earlier in the canonical order: the
                // user's connections count under the agent it is now.
                ::sqlx::query("UPDATE zoom_links SET agent = $1 WHERE session = $2 AND user_id = $3")
                    .bind(person.agent_name())
                    .bind(session)
                    .bind(user_id)
                    .execute(&mut *connection)
                    .await?;
            }
            Ok(person)
        }

        /// Merges a join or a leave into its connection (`fresh`, when it is
        /// not stored yet).
        async fn merge_link(
            connection: &mut $conn,
            session: i64,
            person: &Person,
            fresh: Link,
            rank: Rank,
            event: &ZoomEvent,
        ) -> Result<(), StoreError> {
            let stored: Option<String> = ::sqlx::query_scalar(
                "SELECT state FROM zoom_links WHERE session = $1 AND user_id = $2 AND connection_id = $3",
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
            ::sqlx::query(
                "INSERT INTO zoom_links (session, user_id, connection_id, agent, join_ms, leave_ms, state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
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

        /// Rebuilds every session's parts from the stored events, a page of
        /// events at a time, inside the caller's exclusive transaction.
        pub(super) async fn rebuild(connection: &mut $conn) -> Result<(), StoreError> {
            for table in ["zoom_links", "zoom_people", "zoom_sessions"] {
                ::sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *connection)
                    .await?;
            }
            let mut last = 0i64;
            loop {
                let page: Vec<(i64, String)> = ::sqlx::query_as(
                    "SELECT id, body FROM zoom_events WHERE id > $1 ORDER BY id LIMIT 500",
                )
                .bind(last)
                .fetch_all(&mut *connection)
                .await?;
                let Some((id, _)) = page.last() else { break };
                last = *id;
                for (_, body) in &page {
                    merge(connection, &decode_event(body)?).await?;
                }
            }
            ::sqlx::query(
                "INSERT INTO store_meta (key, value) VALUES ('parts', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind($crate::store::sql::PARTS_VERSION)
            .execute(&mut *connection)
            .await?;
            Ok(())
        }

        /// The version of the stored parts.
        pub(super) async fn parts_version(
            connection: &mut $conn,
        ) -> Result<Option<String>, StoreError> {
            Ok(::sqlx::query_scalar("SELECT value FROM store_meta WHERE key = 'parts'")
                .fetch_optional(&mut *connection)
                .await?)
        }

        /// Up to a batch of sessions that ended before `cutoff`.
        pub(super) async fn doomed(
            connection: &mut $conn,
            cutoff: i64,
        ) -> Result<Vec<(i64, String, String)>, StoreError> {
            Ok(::sqlx::query_as(
                "SELECT id, account_id, session_id FROM zoom_sessions
                 WHERE ended = $1 AND end_ms < $2 LIMIT $3",
            )
            .bind(true)
            .bind(cutoff)
            .bind($crate::store::sql::PURGE_BATCH)
            .fetch_all(&mut *connection)
            .await?)
        }

        /// Deletes a session with its events (its people and connections go
        /// with it: ON DELETE CASCADE).
        pub(super) async fn delete_session(
            connection: &mut $conn,
            (id, account, session): &(i64, String, String),
        ) -> Result<(), StoreError> {
            ::sqlx::query("DELETE FROM zoom_events WHERE account_id = $1 AND session_id = $2")
                .bind(account)
                .bind(session)
                .execute(&mut *connection)
                .await?;
            ::sqlx::query("DELETE FROM zoom_sessions WHERE id = $1")
                .bind(id)
                .execute(&mut *connection)
                .await?;
            Ok(())
        }

        /// Adds `filter`'s conditions to a query over `zoom_sessions`.
        fn push_filter(query: &mut QueryBuilder<'_, $db>, filter: &StoredSessionFilter) {
            query.push(" WHERE 1 = 1");
            if let Some(ended) = filter.ended {
                query.push(" AND ended = ").push_bind(ended);
            }
            push_started(query, filter);
        }

        /// Adds the filter's "started at or after" and "started before"
        /// (by `rank_ms`, Zoom's and Messenger's listings alike).
        pub(super) fn push_started(query: &mut QueryBuilder<'_, $db>, filter: &StoredSessionFilter) {
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

        /// The comparison that puts a row after (or before) a bound.
        pub(super) fn beyond(bound: &Bound, after: bool) -> &'static str {
            match (after, bound.inclusive) {
                (true, false) => "> (",
                (true, true) => ">= (",
                (false, false) => "< (",
                (false, true) => "<= (",
            }
        }

        /// Adds "after (or before) `bound`" in the listing order.
        fn push_bound(query: &mut QueryBuilder<'_, $db>, bound: &Bound, after: bool) {
            let place = &bound.place;
            query
                .push(" AND (rank_ms, session_id, account_id) ")
                .push(beyond(bound, after))
                .push_bind(rank_ms(place.start_ms))
                .push(", ")
                .push_bind(place.session_id.clone())
                .push(", ")
                .push_bind(place.account_id.clone())
                .push(")");
        }

        /// Heads and parts of the sessions of `heads`, assembled, in order.
        async fn assemble_all(
            pool: &::sqlx::Pool<$db>,
            heads: Vec<(i64, Head)>,
        ) -> Result<Vec<ZoomSession>, StoreError> {
            use std::collections::HashMap;
            if heads.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = heads.iter().map(|(id, _)| *id).collect();
            let mut people: HashMap<i64, Vec<Person>> = HashMap::new();
            for row in rows_of(pool, "SELECT session, state FROM zoom_people", &ids).await? {
                people
                    .entry(row.get("session"))
                    .or_default()
                    .push(decode("a person", row.get("state"))?);
            }
            let mut links: HashMap<i64, Vec<Link>> = HashMap::new();
            for row in rows_of(pool, "SELECT session, state FROM zoom_links", &ids).await? {
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

        /// Rows of `select` (which names `session`) for the sessions `ids`.
        async fn rows_of(
            pool: &::sqlx::Pool<$db>,
            select: &str,
            ids: &[i64],
        ) -> Result<Vec<<$db as ::sqlx::Database>::Row>, StoreError> {
            let mut query = QueryBuilder::<$db>::new(select);
            query.push(" WHERE session IN (");
            let mut list = query.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            query.push(")");
            Ok(query.build().fetch_all(pool).await?)
        }

        /// One session by provider id (any account when `account_id` is
        /// `None`; then the most recently updated).
        pub(super) async fn session(
            pool: &::sqlx::Pool<$db>,
            account_id: Option<&str>,
            session_id: &str,
        ) -> Result<Option<ZoomSession>, StoreError> {
            let row: Option<(i64, String)> = ::sqlx::query_as(
                "SELECT id, head FROM zoom_sessions WHERE session_id = $1 AND ($2 IS NULL OR account_id = $2)
                 ORDER BY updated_at DESC LIMIT 1",
            )
            .bind(session_id)
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
            let Some((id, head)) = row else {
                return Ok(None);
            };
            let head = decode("a session", &head)?;
            Ok(assemble_all(pool, vec![(id, head)]).await?.pop())
        }

        /// A window of the sessions matching `filter`, in listing order.
        pub(super) async fn sessions(
            pool: &::sqlx::Pool<$db>,
            filter: &StoredSessionFilter,
            window: &Window,
        ) -> Result<Vec<ZoomSession>, StoreError> {
            let mut query = QueryBuilder::<$db>::new("SELECT id, head FROM zoom_sessions");
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
            let rows = query.build().fetch_all(pool).await?;
            let mut heads = rows
                .iter()
                .map(|row| Ok((row.get("id"), decode("a session", row.get("head"))?)))
                .collect::<Result<Vec<(i64, Head)>, StoreError>>()?;
            if window.from_back {
                heads.reverse();
            }
            assemble_all(pool, heads).await
        }

        /// Up to `limit` sessions not over whose row last changed before
        /// `before_ms`, oldest change first: who they are and their latest
        /// activity.
        pub(super) async fn quiet(
            pool: &::sqlx::Pool<$db>,
            before_ms: i64,
            limit: usize,
        ) -> Result<Vec<$crate::store::Quiet>, StoreError> {
            let heads: Vec<String> = ::sqlx::query_scalar(
                "SELECT head FROM zoom_sessions WHERE ended = $1 AND updated_at < $2
                 ORDER BY updated_at LIMIT $3",
            )
            .bind(false)
            .bind(before_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
            heads
                .iter()
                .map(|text| {
                    let head: Head = decode("a session", text)?;
                    let activity = if head.last_activity_ts == i64::MIN {
                        head.last_event_ts
                    } else {
                        head.last_activity_ts
                    };
                    Ok($crate::store::Quiet {
                        account_id: head.account_id,
                        session_id: head.session_id,
                        last_activity_ts: activity,
                    })
                })
                .collect()
        }

        /// How many sessions match `filter`.
        pub(super) async fn count(
            pool: &::sqlx::Pool<$db>,
            filter: &StoredSessionFilter,
        ) -> Result<usize, StoreError> {
            let mut query = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM zoom_sessions");
            push_filter(&mut query, filter);
            let count: i64 = query.build_query_scalar().fetch_one(pool).await?;
            Ok(usize::try_from(count).unwrap_or(0))
        }

        /// For each agent connection of `session`: the other sessions (at
        /// most `cap`) an agent of the same name was connected to when it
        /// joined, looking back at most `look_back`.
        pub(super) async fn agent_load(
            pool: &::sqlx::Pool<$db>,
            session: &ZoomSession,
            cap: usize,
            look_back: std::time::Duration,
        ) -> Result<AgentLoad, StoreError> {
            let look_back = i64::try_from(look_back.as_millis()).unwrap_or(i64::MAX);
            let rows: Vec<(String, String, i64)> = ::sqlx::query_as(
                "SELECT mine.user_id, mine.connection_id, (
                   SELECT COUNT(*) FROM (
                     SELECT DISTINCT other.session FROM zoom_links other
                     JOIN zoom_sessions s ON s.id = other.session
                     WHERE other.agent = mine.agent AND other.session <> mine.session
                       AND other.join_ms <= mine.join_ms AND other.join_ms >= mine.join_ms - $1
                       AND (other.leave_ms IS NULL OR other.leave_ms > mine.join_ms)
                       AND (s.end_ms IS NULL OR s.end_ms > mine.join_ms)
                     LIMIT $2) AS busy_sessions) AS busy
                 FROM zoom_links mine JOIN zoom_sessions me ON me.id = mine.session
                 WHERE me.account_id = $3 AND me.session_id = $4
                   AND mine.agent IS NOT NULL AND mine.join_ms IS NOT NULL",
            )
            .bind(look_back)
            .bind(i64::try_from(cap).unwrap_or(i64::MAX))
            .bind(&session.account_id)
            .bind(&session.session_id)
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(user, connection, busy)| {
                    ((user, connection), usize::try_from(busy).unwrap_or(0))
                })
                .collect())
        }
    };
}
pub(super) use queries;
