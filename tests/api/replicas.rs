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

#[tokio::test]
async fn a_webhook_posted_to_one_replica_reaches_subscribers_of_every_replica_in_order_once() {
    use crate::helpers::{Frame, Ws};
    let url = postgres_database().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(
            spawn_with(Options {
                settings: vec![
                    ("store.url", url.clone()),
                    ("store.catch_up_interval", "200ms".into()),
                ],
                ..Options::default()
            })
            .await,
        );
    }
    let mut subscribers = Vec::new();
    for replica in &replicas {
        let mut ws = Ws::ready(&replica.url("")).await;
        ws.subscribe(
            "1",
            "subscription { cobrowseSessionUpdates(provider: ZOOM) { event providerSessionId } }",
        )
        .await;
        ws.sync().await;
        subscribers.push(ws);
    }

    let events = session_events("fanned-out", "Noah", "2026-11-22T09:00:00Z");
    for event in &events {
        assert_eq!(replicas[0].webhook(event).await.0, 200);
    }
    // A last event of another session, posted to another replica: the next
    // update after the session's own, so nothing came twice in between.
    let marker = &session_events("marker", "Ada", "2026-11-22T10:00:00Z")[0];
    assert_eq!(replicas[2].webhook(marker).await.0, 200);

    let expected: Vec<(String, String)> = events
        .iter()
        .chain(std::iter::once(marker))
        .map(|e| {
            (
                e["event"].as_str().expect("a name").to_owned(),
                e["payload"]["object"]["session_id"]
                    .as_str()
                    .expect("an id")
                    .to_owned(),
            )
        })
        .collect();
    for (i, ws) in subscribers.iter_mut().enumerate() {
        let mut heard = Vec::new();
        while heard.len() < expected.len() {
            match ws.next().await {
                Frame::Json(message) if message["type"] == "next" => {
                    let update = &message["payload"]["data"]["cobrowseSessionUpdates"];
                    assert!(message["payload"]["errors"].is_null(), "{message}");
                    heard.push((
                        update["event"].as_str().unwrap_or_default().to_owned(),
                        update["providerSessionId"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ));
                }
                Frame::Json(_) => continue,
                other => panic!("replica {i}'s subscriber: {other:?}"),
            }
        }
        assert_eq!(heard, expected, "replica {i}'s subscriber");
    }
}

#[tokio::test]
async fn a_mutation_through_one_replica_makes_every_replicas_kept_copies_stale() {
    let url = postgres_database().await;
    let long_lived = || {
        vec![
            ("store.url", url.clone()),
            ("cache.live_ttl", "60s".to_owned()),
            ("store.catch_up_interval", "200ms".to_owned()),
        ]
    };
    let a = spawn_with(Options {
        settings: long_lived(),
        ..Options::default()
    })
    .await;
    // B reads the same upstream (A's simulator) and the same store.
    let dir = tempfile::tempdir().expect("temp dir");
    let settings =
        crate::helpers::settings_for(&a.sim, dir.path(), &long_lived()).expect("valid settings");
    let gateway = cobrowse_gateway::startup::Gateway::build(settings)
        .await
        .expect("replica B starts");
    let b = format!("http://{}/graphql", gateway.local_addr());
    tokio::spawn(gateway.run_until_stopped(std::future::pending()));

    let ids = a.active_conversation_ids().await;
    let read = |conversation: String| {
        let (http, b) = (a.http.clone(), b.clone());
        async move {
            let response = http
                .post(&b)
                .json(&json!({
                    "query": "query($c: String!) { conversation(conversationId: $c) { participants { participantId purpose attributes { key value } } } }",
                    "variables": { "c": conversation },
                }))
                .send()
                .await
                .expect("B answers");
            let kept = response
                .headers()
                .get("x-cache")
                .is_some_and(|v| v == "HIT");
            let body: Value = response.json().await.expect("JSON");
            (kept, body)
        }
    };
    let (_, before) = read(ids[1].clone()).await;
    let (kept, _) = read(ids[1].clone()).await;
    assert!(kept, "B keeps the conversation's response");
    let agent = before["data"]["conversation"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["purpose"] == "AGENT")
        .expect("an agent")["participantId"]
        .clone();

    let changed = a
        .data(
            r#"mutation($c: String!, $p: String!) { setParticipantAttributes(conversationId: $c, participantId: $p, attributes: [{ key: "replica.test", value: "through A" }]) { participantId } }"#,
            json!({ "c": ids[1], "p": agent }),
        )
        .await;
    assert!(changed["setParticipantAttributes"].is_object(), "{changed}");

    // B hears of it through the feed, within its catch-up interval at most.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let (_, body) = read(ids[1].clone()).await;
        if body.to_string().contains("through A") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B still serves the conversation as it was before A's mutation: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
