//! The statements of Co-browse for Messenger's facts and sessions, which
//! both stores speak alike (see [`super::sql`]); expanded once in each
//! store's module by [`messenger_queries!`].

use chrono::{DateTime, Utc};

use crate::messenger::{MessengerSession, Phase};

/// A session's row values: state, rank and when it is over.
pub(super) fn row_of(
    session: &MessengerSession,
    now: DateTime<Utc>,
) -> (&'static str, i64, Option<i64>) {
    let state = match session.phase(now) {
        Phase::Offered => "offered",
        Phase::Active => "active",
        Phase::Ended => "ended",
    };
    let over = session
        .end()
        .map(|e| e.at)
        .or_else(|| {
            session
                .start()
                .is_none()
                .then_some(session.answered_at)
                .flatten()
        })
        .or(if session.start().is_none() {
            session.offer_ends
        } else {
            None
        });
    (
        state,
        super::sql::rank_ms(session.listed_at().map(|t| t.timestamp_millis())),
        over.map(|t| t.timestamp_millis()),
    )
}

/// Expanded in a module beside the one [`super::sql::queries!`] is expanded
/// in (`q`), whose filter and bound helpers it shares.
macro_rules! messenger_queries {
    ($db:ty, $conn:ty) => {
        use $crate::messenger::{Fact, MessengerSession};
        use $crate::store::messenger_sql::row_of;
        use $crate::store::sql::{decode, encode, now_ms, rank_ms};
        use $crate::store::{Bound, StoredSessionFilter, StoreError, Window};
        use ::sqlx::{QueryBuilder, Row};

        /// Inserts `fact` unless its session has it already, then folds it
        /// into the session: whether it was new, and the session as it is
        /// now when the fact changed what subscribers are told. Runs inside
        /// the caller's transaction, which excludes other writers of the
        /// session.
        pub(super) async fn store_fact(
            connection: &mut $conn,
            fact: &Fact,
        ) -> Result<(bool, Option<MessengerSession>), StoreError> {
            let inserted = ::sqlx::query(
                "INSERT INTO messenger_facts (session_id, fact_key, at_ms, body, received_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id, fact_key) DO NOTHING",
            )
            .bind(&fact.session_id)
            .bind(&fact.key)
            .bind(fact.at.timestamp_millis())
            .bind(encode(fact))
            .bind(now_ms())
            .execute(&mut *connection)
            .await?
            .rows_affected()
                == 1;
            if !inserted {
                return Ok((false, None));
            }
            let known: Option<String> =
                ::sqlx::query_scalar("SELECT body FROM messenger_sessions WHERE session_id = $1")
                    .bind(&fact.session_id)
                    .fetch_optional(&mut *connection)
                    .await?;
            let mut session = match &known {
                Some(text) => decode::<MessengerSession>("a Messenger session", text)?,
                None => MessengerSession::new(&fact.session_id, &fact.conversation_id),
            };
            let told = session.apply(fact);
            let (state, rank, over) = row_of(&session, ::chrono::Utc::now());
            ::sqlx::query(
                "INSERT INTO messenger_sessions (session_id, conversation_id, state, rank_ms, over_ms, updated_at, body, queue_id, user_id, channel)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (session_id) DO UPDATE SET state = excluded.state, rank_ms = excluded.rank_ms,
                     over_ms = excluded.over_ms, updated_at = excluded.updated_at, body = excluded.body,
                     queue_id = excluded.queue_id, user_id = excluded.user_id, channel = excluded.channel",
            )
            .bind(&session.id)
            .bind(&session.conversation_id)
            .bind(state)
            .bind(rank)
            .bind(over)
            .bind(now_ms())
            .bind(encode(&session))
            .bind(&session.queue_id)
            .bind(&session.user_id)
            .bind(session.channel.map(|c| c.wire()))
            .execute(&mut *connection)
            .await?;
            Ok((true, told.then_some(session)))
        }

        /// One session by id.
        pub(super) async fn messenger_session(
            pool: &::sqlx::Pool<$db>,
            session_id: &str,
        ) -> Result<Option<MessengerSession>, StoreError> {
            let body: Option<String> =
                ::sqlx::query_scalar("SELECT body FROM messenger_sessions WHERE session_id = $1")
                    .bind(session_id)
                    .fetch_optional(pool)
                    .await?;
            body.map(|b| decode("a Messenger session", &b)).transpose()
        }

        /// The sessions of one conversation, in listing order (a bounded
        /// few: one per offer).
        pub(super) async fn messenger_of_conversation(
            pool: &::sqlx::Pool<$db>,
            conversation_id: &str,
            limit: usize,
        ) -> Result<Vec<MessengerSession>, StoreError> {
            let rows: Vec<String> = ::sqlx::query_scalar(
                "SELECT body FROM messenger_sessions WHERE conversation_id = $1
                 ORDER BY rank_ms, session_id LIMIT $2",
            )
            .bind(conversation_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|b| decode("a Messenger session", b)).collect()
        }

        fn push_messenger_filter(query: &mut QueryBuilder<'_, $db>, filter: &StoredSessionFilter) {
            let now = now_ms();
            query.push(" WHERE 1 = 1");
            match filter.ended {
                Some(true) => {
                    query
                        .push(" AND (state = 'ended' OR (state = 'offered' AND over_ms <= ")
                        .push_bind(now)
                        .push("))");
                }
                Some(false) => {
                    query
                        .push(" AND (state = 'active' OR (state = 'offered' AND (over_ms IS NULL OR over_ms > ")
                        .push_bind(now)
                        .push(")))");
                }
                None => {}
            }
            match filter.offered {
                Some(offered) => {
                    query
                        .push(if offered { " AND " } else { " AND NOT " })
                        .push("(state = 'offered' AND (over_ms IS NULL OR over_ms > ")
                        .push_bind(now)
                        .push("))");
                }
                None => {}
            }
            for (column, ids) in [
                ("queue_id", &filter.queue_ids),
                ("user_id", &filter.user_ids),
                ("conversation_id", &filter.conversation_ids),
            ] {
                if ids.is_empty() {
                    continue;
                }
                query.push(" AND ").push(column).push(" IN (");
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(id.clone());
                }
                query.push(")");
            }
            super::q::push_started(query, filter);
        }

        /// Adds "after (or before) `bound`" in the listing order (the
        /// place's account is not Messenger's: only start and id count).
        fn push_messenger_bound(query: &mut QueryBuilder<'_, $db>, bound: &Bound, after: bool) {
            let place = &bound.place;
            query
                .push(" AND (rank_ms, session_id) ")
                .push(super::q::beyond(bound, after))
                .push_bind(rank_ms(place.start_ms))
                .push(", ")
                .push_bind(place.session_id.clone())
                .push(")");
        }

        /// A window of the sessions matching `filter`, in listing order.
        pub(super) async fn messenger_sessions(
            pool: &::sqlx::Pool<$db>,
            filter: &StoredSessionFilter,
            window: &Window,
        ) -> Result<Vec<MessengerSession>, StoreError> {
            let mut query = QueryBuilder::<$db>::new("SELECT body FROM messenger_sessions");
            push_messenger_filter(&mut query, filter);
            if let Some(after) = &window.after {
                push_messenger_bound(&mut query, after, true);
            }
            if let Some(before) = &window.before {
                push_messenger_bound(&mut query, before, false);
            }
            query.push(if window.from_back {
                " ORDER BY rank_ms DESC, session_id DESC"
            } else {
                " ORDER BY rank_ms, session_id"
            });
            query
                .push(" LIMIT ")
                .push_bind(i64::try_from(window.limit).unwrap_or(i64::MAX));
            let rows = query.build().fetch_all(pool).await?;
            let mut sessions = rows
                .iter()
                .map(|row| decode("a Messenger session", row.get("body")))
                .collect::<Result<Vec<MessengerSession>, StoreError>>()?;
            if window.from_back {
                sessions.reverse();
            }
            Ok(sessions)
        }

        /// How many sessions match `filter`.
        pub(super) async fn messenger_count(
            pool: &::sqlx::Pool<$db>,
            filter: &StoredSessionFilter,
        ) -> Result<usize, StoreError> {
            let mut query = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM messenger_sessions");
            push_messenger_filter(&mut query, filter);
            let count: i64 = query.build_query_scalar().fetch_one(pool).await?;
            Ok(usize::try_from(count).unwrap_or(0))
        }

        /// Deletes up to `batch` sessions over before `cutoff` (not active),
        /// with their facts; how many.
        pub(super) async fn purge_messenger(
            connection: &mut $conn,
            cutoff: i64,
            batch: i64,
        ) -> Result<u64, StoreError> {
            let doomed: Vec<String> = ::sqlx::query_scalar(
                "SELECT session_id FROM messenger_sessions
                 WHERE state <> 'active' AND over_ms < $1 LIMIT $2",
            )
            .bind(cutoff)
            .bind(batch)
            .fetch_all(&mut *connection)
            .await?;
            for id in &doomed {
                ::sqlx::query("DELETE FROM messenger_facts WHERE session_id = $1")
                    .bind(id)
                    .execute(&mut *connection)
                    .await?;
                ::sqlx::query("DELETE FROM messenger_sessions WHERE session_id = $1")
                    .bind(id)
                    .execute(&mut *connection)
                    .await?;
            }
            let reads = ::sqlx::query(
                "DELETE FROM messenger_reads WHERE conversation_id IN
                 (SELECT conversation_id FROM messenger_reads WHERE at_ms < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(batch)
            .execute(&mut *connection)
            .await?
            .rows_affected();
            Ok(doomed.len() as u64 + reads)
        }

        /// Which of `ids` are noted as read to their end.
        pub(super) async fn messenger_read(
            pool: &::sqlx::Pool<$db>,
            ids: &[&str],
        ) -> Result<::std::collections::HashSet<String>, StoreError> {
            let mut read = ::std::collections::HashSet::new();
            for chunk in ids.chunks(500) {
                let mut query = QueryBuilder::<$db>::new(
                    "SELECT conversation_id FROM messenger_reads WHERE conversation_id IN (",
                );
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                query.push(")");
                let rows: Vec<String> = query.build_query_scalar().fetch_all(pool).await?;
                read.extend(rows);
            }
            Ok(read)
        }

        /// Notes a conversation as read to its end, `at_ms` when it ended.
        pub(super) async fn mark_messenger_read(
            connection: &mut $conn,
            id: &str,
            at_ms: i64,
        ) -> Result<(), StoreError> {
            ::sqlx::query(
                "INSERT INTO messenger_reads (conversation_id, at_ms) VALUES ($1, $2)
                 ON CONFLICT (conversation_id) DO NOTHING",
            )
            .bind(id)
            .bind(at_ms)
            .execute(&mut *connection)
            .await?;
            Ok(())
        }
    };
}

pub(super) use messenger_queries;
