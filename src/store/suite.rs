//! The store test suite: what every [`EventStore`] must do, run against
//! SQLite (`sqlite.rs`) and PostgreSQL (`postgres.rs`) alike.

use super::{EventStore, StoredSessionFilter, Window};
use crate::zoom::event::{parse, Inbound, ZoomEvent};
use crate::zoom::fold::fold;
use crate::zoom::fold::tests::events;

fn everything(limit: usize) -> Window {
    Window {
        limit,
        ..Window::default()
    }
}

/// Events in any order, and a re-delivery, make the session of their fold.
pub(crate) async fn stored_once_and_folded(store: &dyn EventStore) {
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
    let ended = StoredSessionFilter {
        ended: Some(true),
        ..Default::default()
    };
    let listed = store.sessions(&ended, &everything(10)).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(store.count(&ended).await.expect("count"), 1);
    store.check().await.expect("writable");
}

/// Statements that make the stored parts stale and wrong (run by each
/// backend between [`fill_for_rebuild`] and [`rebuilt`]).
pub(crate) const SPOIL_PARTS: [&str; 2] = [
    "UPDATE store_meta SET value = 'old'",
    "DELETE FROM zoom_links",
];

pub(crate) async fn fill_for_rebuild(store: &dyn EventStore) {
    for event in events("s1") {
        store.append(&event).await.expect("stored");
    }
}

/// After [`SPOIL_PARTS`] and a reopen, the parts are rebuilt from the events.
pub(crate) async fn rebuilt(store: &dyn EventStore) {
    assert_eq!(
        store.session(None, "s1").await.expect("read"),
        fold(&events("s1"))
    );
}

/// Ended sessions are purged after their end, not before. (The backend
/// then checks no event, person or connection is left.)
pub(crate) async fn purged_with_their_events(store: &dyn EventStore) {
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

/// 3,000 events into one session: the last appends cost what the first did.
pub(crate) async fn append_cost_is_flat(store: &dyn EventStore) {
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

/// Two writers of one database (two replicas) take the events of the same
/// sessions at once, each event delivered to both (Zoom retries, a load
/// balancer splits them): every session is stored as the fold of its
/// events, each event once.
pub(crate) async fn two_writers_fold_whole(one: &dyn EventStore, other: &dyn EventStore) {
    for round in 0..20 {
        let session = format!("shared-{round}");
        let events = events(&session);
        let mut reversed = events.clone();
        reversed.reverse();
        let (a, b) = tokio::join!(
            async {
                let mut inserted = 0;
                for event in &events {
                    inserted += usize::from(one.append(event).await.expect("stored").inserted);
                }
                inserted
            },
            async {
                let mut inserted = 0;
                for event in &reversed {
                    inserted += usize::from(other.append(event).await.expect("stored").inserted);
                }
                inserted
            },
        );
        assert_eq!(a + b, events.len(), "each event stored once ({a} + {b})");
        for store in [one, other] {
            assert_eq!(
                store.session(Some("acc"), &session).await.expect("read"),
                fold(&events),
                "round {round}"
            );
        }
    }
}

/// A new, empty database on the test PostgreSQL server named by
/// `COBROWSE_TEST_POSTGRES_URL` (`scripts/test` starts one on loopback);
/// its URL.
pub(crate) async fn fresh_postgres_database() -> String {
    use sqlx::Connection as _;
    let admin = std::env::var("COBROWSE_TEST_POSTGRES_URL").expect(
        "COBROWSE_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which starts a PostgreSQL server on loopback",
    );
    let name = format!("store_{:016x}", rand::random::<u64>());
    let mut connection = sqlx::PgConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("a database is created");
    let mut url = reqwest::Url::parse(&admin).expect("a URL");
    url.set_path(&name);
    url.to_string()
}

/// A Messenger fact of session `session` (conversation `c-{session}`) at
/// `s` seconds.
fn messenger_fact(
    session: &str,
    key: &str,
    s: i64,
    what: crate::messenger::What,
) -> crate::messenger::Fact {
    crate::messenger::Fact {
        key: key.into(),
        session_id: session.into(),
        conversation_id: format!("c-{session}"),
        at: chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).expect("a time"),
        what,
    }
}

fn messenger_offer(ends_s: i64) -> crate::messenger::What {
    crate::messenger::What::Offered {
        source: crate::messenger::FactSource::Messages,
        channel: Some(crate::messenger::MessengerChannel::WebMessaging),
        offer_ends: chrono::DateTime::from_timestamp(1_800_000_000 + ends_s, 0),
        queue_id: Some("q1".into()),
        user_id: None,
        join_code: None,
    }
}

/// Messenger facts are stored once each, fold into their session, list in
/// order by state and page, and are purged once over.
pub(super) async fn messenger_facts_stored_once_and_listed(store: &dyn EventStore) {
    use crate::messenger::{FactSource, Outcome, What};
    // Offered at 0, 10, 20; "b" accepted at 30, "c" rejected at 25.
    // The offers end far in the future (these times are in 2027).
    let far = 10_i64.pow(9);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let fact = messenger_fact(
            id,
            &format!("message:{id}0"),
            10 * i as i64,
            messenger_offer(far),
        );
        let (appended, session) = store.append_messenger(&fact).await.expect("stored");
        assert!(
            appended.inserted && session.is_some(),
            "a first offer is told"
        );
        let (again, none) = store.append_messenger(&fact).await.expect("stored");
        assert!(
            !again.inserted && none.is_none(),
            "a repeated fact is not folded twice"
        );
    }
    let accepted = What::Answered {
        outcome: Outcome::Accepted,
    };
    store
        .append_messenger(&messenger_fact("b", "message:b1", 30, accepted))
        .await
        .expect("stored");
    let rejected = What::Answered {
        outcome: Outcome::Rejected,
    };
    store
        .append_messenger(&messenger_fact("c", "message:c1", 25, rejected))
        .await
        .expect("stored");
    let b = store
        .messenger_session("b")
        .await
        .expect("read")
        .expect("b");
    assert_eq!((b.outcome, b.facts), (Outcome::Accepted, 2));
    messenger_listed_by_state_and_page(store).await;
    // b ends (the page says so); purging before a time after every end
    // leaves a (still offered) alone.
    let ended_b = What::Ended {
        source: FactSource::Page,
    };
    store
        .append_messenger(&messenger_fact("b", "page:b:ended", 40, ended_b))
        .await
        .expect("stored");
    note_reads(store).await;
    let cutoff = chrono::DateTime::from_timestamp(1_800_000_000 + 1000, 0).expect("a time");
    // b and c, and the note of "old".
    assert_eq!(store.purge_ended_before(cutoff).await.expect("purged"), 3);
    let read = store.messenger_read(&["old", "new"]).await.expect("read");
    assert_eq!(read.into_iter().collect::<Vec<_>>(), ["new"]);
    assert_eq!(
        messenger_ids(
            store
                .messenger_sessions(&StoredSessionFilter::default(), &everything(10))
                .await
                .expect("listed")
        ),
        ["a"]
    );
    assert!(store.messenger_session("b").await.expect("read").is_none());
}

/// Conversations read to their end are noted once: "old" (ended at +50)
/// and "new" (at +5000).
async fn note_reads(store: &dyn EventStore) {
    let at = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).expect("a time");
    for (id, s) in [("old", 50), ("old", 60), ("new", 5000)] {
        store.mark_messenger_read(id, at(s)).await.expect("noted");
    }
    let read = store
        .messenger_read(&["old", "new", "never"])
        .await
        .expect("read");
    assert_eq!(read.len(), 2);
    assert!(read.contains("old") && read.contains("new") && !read.contains("never"));
}

fn messenger_ids(sessions: Vec<crate::messenger::MessengerSession>) -> Vec<String> {
    sessions.into_iter().map(|s| s.id).collect()
}

/// Sessions a (offered at 0), b (offered at 10, accepted at 30) and c
/// (offered at 20, rejected at 25), listed by state and page.
async fn messenger_listed_by_state_and_page(store: &dyn EventStore) {
    // Newest start (else offer) first: b (started 30), c (offered 20), a (0).
    let ids = messenger_ids;
    let all = store
        .messenger_sessions(&StoredSessionFilter::default(), &everything(10))
        .await
        .expect("listed");
    assert_eq!(ids(all), ["b", "c", "a"]);
    let ended = StoredSessionFilter {
        ended: Some(true),
        ..StoredSessionFilter::default()
    };
    assert_eq!(
        ids(store
            .messenger_sessions(&ended, &everything(10))
            .await
            .expect("listed")),
        ["c"]
    );
    assert_eq!(store.messenger_count(&ended).await.expect("counted"), 1);
    let going = StoredSessionFilter {
        ended: Some(false),
        ..StoredSessionFilter::default()
    };
    assert_eq!(store.messenger_count(&going).await.expect("counted"), 2);
    // A page from the back, before b: c and a.
    let window = Window {
        after: Some(super::Bound {
            place: super::Place {
                start_ms: Some((1_800_000_000 + 30) * 1000),
                session_id: "b".into(),
                account_id: String::new(),
            },
            inclusive: false,
        }),
        limit: 1,
        ..Window::default()
    };
    assert_eq!(
        ids(store
            .messenger_sessions(&StoredSessionFilter::default(), &window)
            .await
            .expect("listed")),
        ["c"]
    );
    assert_eq!(
        ids(store
            .messenger_of_conversation("c-a", 5)
            .await
            .expect("read")),
        ["a"]
    );
}
