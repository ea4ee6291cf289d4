//! Several gateway replicas on one PostgreSQL store.

use futures::future::join_all;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use crate::helpers::{postgres_database, session_events, spawn_with, Options, TestApp};

/// A Zoom session as a replica reads it, whole.
async fn read(app: &TestApp, session: &str) -> Value {
    let data = app
        .data(
            "{ zoomSession: cobrowseSessions(filter: { provider: ZOOM }, first: 100) { nodes { providerSessionId state startTime endTime startUrl endReason participants { name role connections { connectionId joinTime leaveTime leaveReason } } attachedData { pairs { key value } } } } }",
            json!({}),
        )
        .await;
    data["zoomSession"]["nodes"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|n| n["providerSessionId"] == session)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn two_replicas_taking_one_sessions_events_at_once_store_the_fold_of_them_all() {
    let url = postgres_database().await;
    let replica = || {
        spawn_with(Options {
            settings: vec![("store.url", url.clone())],
            ..Options::default()
        })
    };
    let (a, b) = (replica().await, replica().await);
    // The reference: one gateway with its own SQLite store, fed in order.
    let reference = spawn_with(Options::default()).await;

    for round in 0..15 {
        let session = format!("replicated-{round}");
        let events = session_events(&session, "Noah", "2026-11-22T09:00:00Z");
        for event in &events {
            assert_eq!(reference.webhook(event).await.0, 200);
        }
        // Every event to both replicas, all at once, in shuffled order (a
        // load balancer splitting Zoom's deliveries and retries).
        let mut deliveries: Vec<(&TestApp, &Value)> =
            events.iter().flat_map(|e| [(&a, e), (&b, e)]).collect();
        deliveries.shuffle(&mut rand::rng());
        let answers = join_all(deliveries.iter().map(|(app, event)| app.webhook(event))).await;
        let stored = answers
            .iter()
            .filter(|(status, body)| *status == 200 && body["status"] == "stored")
            .count();
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{answers:?}"
        );
        assert_eq!(stored, events.len(), "each event stored once: {answers:?}");

        let expected = read(&reference, &session).await;
        assert!(expected.is_object(), "the reference has {session}");
        assert_eq!(
            read(&a, &session).await,
            expected,
            "replica A, round {round}"
        );
        assert_eq!(
            read(&b, &session).await,
            expected,
            "replica B, round {round}"
        );
    }
}
