//! Several gateway replicas on one PostgreSQL store.

use futures::future::join_all;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use crate::helpers::{postgres_database, session_events, spawn_app, spawn_with, Options, TestApp};

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
    mutation_through_a_stales_b(&[]).await;
}

#[tokio::test]
async fn a_mutation_through_one_replica_makes_the_shared_cache_forget_too() {
    // B's fetch of the conversation is in the shared cache: after A's
    // mutation, B reads it afresh, not the shared copy of before.
    mutation_through_a_stales_b(&[("redis.url", redis_url())]).await;
}

/// A mutation through replica A; replica B (both with `extra` settings)
/// answers with it within its catch-up interval, though it kept the
/// response and data of before for a minute.
async fn mutation_through_a_stales_b(extra: &[(&'static str, String)]) {
    let url = postgres_database().await;
    let long_lived = || {
        let mut settings = vec![
            ("store.url", url.clone()),
            ("cache.live_ttl", "60s".to_owned()),
            ("store.catch_up_interval", "200ms".to_owned()),
        ];
        settings.extend(extra.iter().cloned());
        settings
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
    crate::helpers::eventually(
        "B serves the conversation as A's mutation left it",
        std::time::Duration::from_secs(30),
        || async {
            let (_, body) = read(ids[1].clone()).await;
            let body = body.to_string();
            if body.contains("through A") {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
}

/// A PostgreSQL server of the test's own, which it may stop and start
/// (`scripts/postgres`); stopped and removed when dropped.
struct OwnPostgres {
    url: String,
    dir: String,
}

impl OwnPostgres {
    fn script(&self, call: &str) -> std::process::Output {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". scripts/postgres && TEST_POSTGRES_DIR={} && TEST_POSTGRES_BIN=$(pg_bin_dir) && {call}",
                self.dir
            ))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("bash runs")
    }

    fn start() -> Self {
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(". scripts/postgres && start_test_postgres >&2 && echo \"$COBROWSE_TEST_POSTGRES_URL $TEST_POSTGRES_DIR\"")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("bash runs");
        let said = String::from_utf8_lossy(&output.stdout);
        let (url, dir) = said.trim().split_once(' ').unwrap_or_else(|| {
            panic!(
                "PostgreSQL did not start: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        Self {
            url: url.to_owned(),
            dir: dir.to_owned(),
        }
    }

    fn pg_ctl(&self, action: &str) {
        let output = self.script(&format!(
            "as_postgres \"$TEST_POSTGRES_BIN/pg_ctl\" -D \"$TEST_POSTGRES_DIR/data\" -l \"$TEST_POSTGRES_DIR/log\" -w -s -m fast {action}"
        ));
        assert!(
            output.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.script("stop_test_postgres");
    }
}

#[tokio::test]
async fn postgres_restarted_webhooks_are_refused_meanwhile_and_the_feed_has_no_gap_or_duplicate() {
    use crate::helpers::{Frame, Ws};
    let postgres = OwnPostgres::start();
    let settings = || Options {
        settings: vec![
            ("store.url", postgres.url.clone()),
            ("store.catch_up_interval", "200ms".into()),
            ("server.readiness_interval", "10ms".into()),
        ],
        ..Options::default()
    };
    let (a, b) = (spawn_with(settings()).await, spawn_with(settings()).await);
    let mut subscriber = Ws::ready(&b.url("")).await;
    subscriber
        .subscribe(
            "1",
            "subscription { cobrowseSessionUpdates(provider: ZOOM) { event } }",
        )
        .await;
    subscriber.sync().await;
    let events = session_events("through-a-restart", "Noah", "2026-11-22T09:00:00Z");
    let ready = |app: &TestApp| {
        let url = app.url("/readyz");
        async move { reqwest::get(url).await.expect("answers").status().as_u16() }
    };

    assert_eq!(a.webhook(&events[0]).await.0, 200);
    postgres.pg_ctl("stop");
    // Refused, not left waiting: the pool waits for a connection at most
    // its acquire timeout, which the store holds under Zoom's 3 s.
    let refused_at = std::time::Instant::now();
    let (status, body) = a.webhook(&events[1]).await;
    assert_eq!(status, 503, "{body}");
    println!("refused in {:?}", refused_at.elapsed());
    assert_eq!(body["error"]["code"], "STORE_UNAVAILABLE", "{body}");
    assert_eq!(ready(&a).await, 503, "/readyz says the store is down");

    postgres.pg_ctl("start");
    // Zoom retries; the pool connects again.
    crate::helpers::eventually(
        "the webhook is taken after the restart",
        std::time::Duration::from_secs(30),
        || async {
            let (status, _) = a.webhook(&events[1]).await;
            if status == 200 {
                Ok(())
            } else {
                Err(format!("{status}"))
            }
        },
    )
    .await;
    assert_eq!(a.webhook(&events[2]).await.0, 200);
    assert_eq!(ready(&a).await, 200);

    let mut heard = Vec::new();
    while heard.len() < 3 {
        match subscriber.next().await {
            Frame::Json(message) if message["type"] == "next" => {
                assert!(message["payload"]["errors"].is_null(), "{message}");
                heard.push(message["payload"]["data"]["cobrowseSessionUpdates"]["event"].clone());
            }
            Frame::Json(_) => continue,
            other => panic!("B's subscriber: {other:?}"),
        }
    }
    let sent: Vec<Value> = events[..3].iter().map(|e| e["event"].clone()).collect();
    assert_eq!(heard, sent, "in order, once, across the restart");
    let sequences: Vec<i64> = {
        use sqlx::Connection as _;
        let mut connection = sqlx::PgConnection::connect(&postgres.url)
            .await
            .expect("connects");
        sqlx::query_scalar("SELECT seq FROM feed ORDER BY seq")
            .fetch_all(&mut connection)
            .await
            .expect("the feed")
    };
    assert_eq!(
        sequences,
        vec![1, 2, 3],
        "no gap and no duplicate in the feed"
    );
}

#[tokio::test]
async fn kill_9_of_a_replica_in_a_webhook_burst_loses_no_acknowledged_event() {
    use crate::helpers::{command, post_signed_webhook, start, zoom_event};
    let url = postgres_database().await;
    let replica = || {
        let mut cmd = command(&["--listen", "127.0.0.1:0"]);
        cmd.env("COBROWSE_STORE_URL", &url)
            .env_remove("COBROWSE_STORE_PATH")
            .env("COBROWSE_ZOOM_WEBHOOK_SECRET", "burst-secret");
        cmd
    };
    let (mut a, base, _, _) = start(replica()).await;
    let client = reqwest::Client::new();
    let now = chrono::Utc::now().to_rfc3339();

    // 400 sessions started at once against A, which is killed (SIGKILL)
    // while they are in flight.
    let burst = (0..400).map(|i| {
        let (client, base, now) = (client.clone(), base.clone(), now.clone());
        async move {
            let session = format!("burst-{i:03}");
            let event = zoom_event(
                "acc-burst",
                &session,
                "cobrowse.session_started",
                i,
                json!({ "start_time": now }),
            );
            let answer =
                post_signed_webhook(&client, &base, "burst-secret", event.to_string()).await;
            (session, answer.map(|r| r.status().as_u16()).unwrap_or(0))
        }
    });
    let burst = tokio::spawn(join_all(burst));
    // Kill once some have been acknowledged and others are still coming.
    {
        use sqlx::Connection as _;
        let connection = sqlx::PgConnection::connect(&url).await.expect("connects");
        let connection = tokio::sync::Mutex::new(connection);
        crate::helpers::eventually(
            "the burst starts",
            std::time::Duration::from_secs(20),
            || async {
                let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM zoom_events")
                    .fetch_one(&mut *connection.lock().await)
                    .await
                    .expect("count");
                if stored >= 40 {
                    Ok(())
                } else {
                    Err(format!("{stored} stored"))
                }
            },
        )
        .await;
    }
    a.start_kill().expect("SIGKILL");
    let answers = burst.await.expect("the burst ends");
    let acknowledged: Vec<&String> = answers
        .iter()
        .filter(|(_, status)| *status == 200)
        .map(|(session, _)| session)
        .collect();
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 400,
        "killed mid-burst: {} acknowledged",
        acknowledged.len()
    );

    let stored: Vec<String> = {
        use sqlx::Connection as _;
        let mut connection = sqlx::PgConnection::connect(&url).await.expect("connects");
        sqlx::query_scalar("SELECT session_id FROM zoom_sessions")
            .fetch_all(&mut connection)
            .await
            .expect("sessions")
    };
    for session in &acknowledged {
        assert!(
            stored.contains(session),
            "{session} was acknowledged but is not stored"
        );
    }
    println!(
        "{} of 400 acknowledged before the kill, {} stored (a commit whose answer was lost is stored too)",
        acknowledged.len(),
        stored.len()
    );
    let _ = a.wait().await;
}

/// The next `count` updates of `ws` (subscription "1"): (sequence, event)
/// or, for an error item, its code.
async fn updates(ws: &mut crate::helpers::Ws, count: usize) -> Vec<(String, String)> {
    use crate::helpers::Frame;
    let mut heard = Vec::new();
    while heard.len() < count {
        match ws.next().await {
            Frame::Json(message) if message["type"] == "next" => {
                let payload = &message["payload"];
                let update = &payload["data"]["cobrowseSessionUpdates"];
                heard.push(match payload["errors"][0]["extensions"]["code"].as_str() {
                    Some(code) => (String::new(), code.to_owned()),
                    None => (
                        update["sequence"].as_str().unwrap_or_default().to_owned(),
                        update["event"].as_str().unwrap_or_default().to_owned(),
                    ),
                });
            }
            Frame::Json(_) => continue,
            other => panic!("the subscriber: {other:?}"),
        }
    }
    heard
}

#[tokio::test]
async fn a_subscriber_resumes_after_the_last_sequence_it_was_given_and_hears_a_purged_range_as_a_lag(
) {
    use crate::helpers::Ws;
    let url = postgres_database().await;
    let replica = || {
        spawn_with(Options {
            settings: vec![
                ("store.url", url.clone()),
                ("store.catch_up_interval", "200ms".into()),
            ],
            ..Options::default()
        })
    };
    let (a, b) = (replica().await, replica().await);
    let subscription = |after: Option<&str>| {
        match after {
        Some(after) => format!("subscription {{ cobrowseSessionUpdates(provider: ZOOM, after: \"{after}\") {{ sequence event }} }}"),
        None => "subscription { cobrowseSessionUpdates(provider: ZOOM) { sequence event } }".to_owned(),
    }
    };
    let events = session_events("resumed", "Noah", "2026-11-22T09:00:00Z");
    let names: Vec<String> = events
        .iter()
        .map(|e| e["event"].as_str().expect("a name").to_owned())
        .collect();

    let mut first = Ws::ready(&b.url("")).await;
    first.subscribe("1", &subscription(None)).await;
    first.sync().await;
    for event in &events[..3] {
        assert_eq!(a.webhook(event).await.0, 200);
    }
    let heard = updates(&mut first, 3).await;
    assert_eq!(
        heard.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        names[..3]
    );
    let last = heard[2].0.clone();
    drop(first);

    // Missed while disconnected.
    for event in &events[3..6] {
        assert_eq!(a.webhook(event).await.0, 200);
    }
    let mut resumed = Ws::ready(&b.url("")).await;
    resumed.subscribe("1", &subscription(Some(&last))).await;
    // The replay comes once the subscription is listening.
    let mut heard = updates(&mut resumed, 3).await;
    assert_eq!(a.webhook(&events[6]).await.0, 200);
    heard.extend(updates(&mut resumed, 1).await);
    assert_eq!(
        heard.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        names[3..7],
        "the missed ones replayed, then the live one, none twice"
    );
    let sequences: Vec<i64> = heard
        .iter()
        .map(|(s, _)| s.parse().expect("a number"))
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[1] == w[0] + 1),
        "{sequences:?}"
    );

    // The first two changes purged: resuming from the start is told so.
    {
        use sqlx::Connection as _;
        let mut connection = sqlx::PgConnection::connect(&url).await.expect("connects");
        sqlx::query("DELETE FROM feed WHERE seq <= 2")
            .execute(&mut connection)
            .await
            .expect("purged");
    }
    let mut late = Ws::ready(&b.url("")).await;
    late.subscribe("1", &subscription(Some("0"))).await;
    let heard = updates(&mut late, 2).await;
    assert_eq!(heard[0].1, "SUBSCRIPTION_LAGGED", "{heard:?}");
    assert_eq!(heard[1], ("3".to_owned(), names[2].clone()), "{heard:?}");
}

#[tokio::test]
async fn a_single_process_refuses_to_resume_with_bad_user_input() {
    use crate::helpers::{spawn_app, Frame, Ws};
    let app = spawn_app().await;
    let mut ws = Ws::ready(&app.url("")).await;
    ws.subscribe(
        "1",
        r#"subscription { cobrowseSessionUpdates(after: "3") { sequence } }"#,
    )
    .await;
    match ws.next().await {
        Frame::Json(message) => assert!(
            message.to_string().contains("BAD_USER_INPUT")
                && message.to_string().contains("store.url"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn kill_9_of_the_listener_replica_another_takes_over_and_converges_with_nothing_lost() {
    use crate::helpers::{keys_file, start, test_key, Frame, Ws};
    use crate::live::{status_at, wait_mode_at};
    use std::time::Duration;
    let app = world_to_listen_to().await;
    let url = postgres_database().await;
    let keys = keys_file(app.dir.path(), &[("tests", test_key(), &["read"])]);
    let replica = || listening_replica(&app, &url, &keys);
    let (mut a, base_a, _, _) = start(replica()).await;
    wait_mode_at(&base_a, "listening", Duration::from_secs(15)).await;
    let (mut b, base_b, _, _) = start(replica()).await;
    wait_mode_at(&base_b, "standby", Duration::from_secs(5)).await;

    // B's subscriber hears what A's listener hears, through the feed.
    let mut subscriber = Ws::ready(&base_b).await;
    subscriber
        .subscribe(
            "1",
            "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { event } }",
        )
        .await;
    subscriber.sync().await;
    let (stop, changing) = crate::live::keep_changing(&app);
    let first = subscriber.next().await;
    assert!(
        matches!(&first, Frame::Json(m) if m["type"] == "next"),
        "B's subscriber hears A's listener: {first:?}"
    );
    assert_eq!(
        status_at(&base_b).await["mode"],
        "standby",
        "one listener at a time"
    );

    a.start_kill().expect("SIGKILL");
    let _ = a.wait().await;
    // B takes the lease once A's expires (1 s), listens and back-fills.
    wait_mode_at(&base_b, "listening", Duration::from_secs(10)).await;
    // Its subscriber is told of the gap, not left to miss it silently.
    let lagged = async {
        loop {
            match subscriber.next().await {
                Frame::Json(m) if m.to_string().contains("SUBSCRIPTION_LAGGED") => break,
                Frame::Json(_) => {}
                other => panic!("B's subscriber: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), lagged)
        .await
        .expect("a lag notice after the takeover");
    let _ = stop.send(());
    changing.await.expect("the world stops");
    crate::live::converges_at(&app, &base_b, "after the takeover", Duration::from_secs(15)).await;
    b.kill().await.expect("stops");
}

/// The simulator (and the helpers that read upstream's truth) of a gateway
/// that does not listen, for replicas that do.
async fn world_to_listen_to() -> TestApp {
    spawn_with(Options {
        conversations: 10,
        faults: cobrowse_gateway::sim::Faults {
            heartbeat_ms: 100,
            ..Default::default()
        },
        ..Options::default()
    })
    .await
}

/// A replica binary on `app`'s simulator and the store at `url` that
/// takes the listener lease for 1 s at a time.
fn listening_replica(app: &TestApp, url: &str, keys: &str) -> tokio::process::Command {
    let mut cmd = crate::helpers::command_for(&app.sim, &["--listen", "127.0.0.1:0"]);
    cmd.env("COBROWSE_STORE_URL", url)
        .env_remove("COBROWSE_STORE_PATH")
        .env("COBROWSE_AUTH_API_KEYS_FILE", keys)
        .env("COBROWSE_NOTIFICATIONS_LEASE_TTL", "1s")
        .env("COBROWSE_NOTIFICATIONS_ANALYTICS_LAG", "0s")
        .env("COBROWSE_NOTIFICATIONS_HEARTBEAT_TIMEOUT", "1s")
        .env("COBROWSE_SERVER_READINESS_INTERVAL", "10ms")
        .env("COBROWSE_LIMITS_REQUESTS_PER_SECOND", "0");
    cmd
}

/// Analytics details queries the simulator counted (how an active set is
/// read when it is not kept).
async fn analytics_reads(app: &TestApp) -> u64 {
    app.upstream_calls()
        .await
        .routes()
        .filter(|(route, _)| route.contains("/analytics/conversations/details/query"))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn a_replica_that_does_not_listen_serves_the_active_set_from_its_copy_of_the_listeners() {
    use crate::helpers::{keys_file, start, test_key};
    use crate::live::{converges_at, status_at, wait_mode_at, wall_at};
    use std::time::Duration;
    let app = world_to_listen_to().await;
    let url = postgres_database().await;
    let keys = keys_file(app.dir.path(), &[("tests", test_key(), &["read"])]);
    let (mut a, base_a, _, _) = start(listening_replica(&app, &url, &keys)).await;
    wait_mode_at(&base_a, "listening", Duration::from_secs(15)).await;
    let (mut b, base_b, _, _) = start(listening_replica(&app, &url, &keys)).await;
    wait_mode_at(&base_b, "standby", Duration::from_secs(5)).await;
    // B serves its copy once its one back-fill of its own is done and A's
    // lease says A's index is served.
    crate::helpers::eventually("B serves its copy", Duration::from_secs(30), || async {
        let status = status_at(&base_b).await;
        if status["served"] == true {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;
    converges_at(&app, &base_b, "B's copy", Duration::from_secs(10)).await;

    // The world changes; B's wall is read after every change. Its active
    // set comes from its copy of A's index, not from analytics.
    app.reset_calls().await;
    let (stop, changing) = crate::live::keep_changing(&app);
    let mut reads = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        wall_at(&app, &base_b).await;
        reads += 1;
    }
    let _ = stop.send(());
    let ticks = changing.await.expect("the world stops");
    let (analytics, calls) = (analytics_reads(&app).await, app.upstream_calls().await);
    println!("B read its wall {reads} times over {ticks} changes: {analytics} analytics queries, {} upstream calls in all", calls.total);
    assert!(ticks > 20 && reads > 20, "{ticks} changes, {reads} reads");
    assert_eq!(
        analytics, 0,
        "the replica that does not listen reads the active set from its copy: {calls:?}"
    );
    assert_eq!(status_at(&base_b).await["mode"], "standby", "one listener");
    converges_at(
        &app,
        &base_b,
        "B's copy after the changes",
        Duration::from_secs(10),
    )
    .await;
    a.kill().await.expect("stops");
    b.kill().await.expect("stops");
}

/// The test Redis (`scripts/test` starts one on loopback).
fn redis_url() -> String {
    std::env::var("COBROWSE_TEST_REDIS_URL").expect(
        "COBROWSE_TEST_REDIS_URL is not set: run the tests with scripts/test, which starts Redis on loopback",
    )
}

/// How many of `count` requests, sent in turn to `replicas`, were let
/// through (the rest must be 429 RATE_LIMITED).
async fn admitted(replicas: &[&TestApp], count: usize) -> usize {
    let mut admitted = 0;
    for i in 0..count {
        let app = replicas[i % replicas.len()];
        let response = app
            .post_graphql(&json!({ "query": "{ __typename }" }))
            .await;
        match response.status().as_u16() {
            200 => admitted += 1,
            429 => {
                let body: Value = response.json().await.expect("JSON");
                assert_eq!(
                    body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
                    "{body}"
                );
            }
            other => panic!("{other}"),
        }
    }
    admitted
}

#[tokio::test]
async fn a_callers_rate_limit_holds_across_replicas_with_redis_and_per_replica_without() {
    let limited = |redis: Option<String>| {
        let mut settings = vec![
            ("limits.requests_per_second", "0.1".to_owned()),
            ("limits.request_burst", "4".to_owned()),
        ];
        settings.extend(redis.map(|url| ("redis.url", url)));
        spawn_with(Options {
            settings,
            ..Options::default()
        })
    };
    // Only this test uses the test Redis: start from an empty one.
    let url = redis_url();
    {
        let client = redis::Client::open(url.as_str()).expect("a Redis URL");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers");
        let _: () = redis::cmd("FLUSHDB")
            .query_async(&mut connection)
            .await
            .expect("flushed");
    }
    let (a, b) = (limited(Some(url.clone())).await, limited(Some(url)).await);
    assert_eq!(
        admitted(&[&a, &b], 8).await,
        4,
        "one bucket of 4 for both replicas"
    );
    // A WebSocket on B draws on the same, empty, bucket: its
    // connection_init is refused.
    let mut ws = crate::helpers::Ws::open(&b.url("")).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", crate::helpers::test_key()) } }))
        .await;
    let (code, reason) = ws.closed().await;
    assert!(
        code == 4403 && reason.contains("too many requests"),
        "{code} {reason}"
    );

    let (c, d) = (limited(None).await, limited(None).await);
    assert_eq!(
        admitted(&[&c, &d], 8).await,
        8,
        "without Redis, a bucket each"
    );
}

#[tokio::test]
async fn redis_down_falls_back_to_the_replicas_own_bucket_and_says_so_in_metrics() {
    // A port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("redis://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let app = spawn_with(Options {
        settings: vec![
            ("limits.requests_per_second", "0.1".to_owned()),
            ("limits.request_burst", "3".to_owned()),
            ("redis.url", url),
        ],
        ..Options::default()
    })
    .await;

    assert_eq!(
        admitted(&[&app], 5).await,
        3,
        "its own bucket, no failed request"
    );
    let metrics = crate::helpers::metrics_text(&app.url("")).await;
    assert!(
        metrics.contains("cobrowse_gateway_redis_fallbacks_total{use=\"rate_limit\"} 5"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("redis"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn a_redis_that_does_not_answer_costs_a_cold_dashboard_one_timeout_and_fails_nothing() {
    // A port that takes connections and never answers (nothing accepts
    // them, the kernel's backlog does).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("redis://{}", silent.local_addr().expect("an address"));
    let app = spawn_with(Options {
        settings: vec![("redis.url", url), ("redis.timeout", "300ms".to_owned())],
        ..Options::default()
    })
    .await;
    let started = std::time::Instant::now();
    let body = app.data(crate::helpers::DASHBOARD, json!({})).await;
    let took = started.elapsed();
    assert!(body["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0));
    println!("a cold dashboard with Redis silent: {took:?}");
    // Each stage of the cold dashboard's misses (the active set, the
    // conversations, users and queues) would wait 300 ms for Redis (about
    // 950 ms in all, measured); after the first timeout Redis is left alone
    // for a second (about 340 ms).
    assert!(
        took < std::time::Duration::from_millis(600),
        "a cold dashboard took {took:?} with Redis silent: more than one timeout"
    );
    let metrics = crate::helpers::metrics_text(&app.url("")).await;
    assert!(
        metrics.contains("cobrowse_gateway_redis_fallbacks_total{use=\"cache\"}"),
        "{metrics}"
    );
    drop(silent);
}

#[tokio::test]
async fn a_query_persisted_through_one_replica_is_found_by_another_with_redis() {
    use sha2::Digest;
    let with_redis = || {
        spawn_with(Options {
            settings: vec![("redis.url", redis_url())],
            ..Options::default()
        })
    };
    let (a, b) = (with_redis().await, with_redis().await);
    let alone = spawn_app().await;
    // Unique to this run, so that no earlier run's registration counts.
    let query = format!(
        "query Persisted {{ __typename }} # {:016x}",
        rand::random::<u64>()
    );
    let hash = hex::encode(sha2::Sha256::digest(query.as_bytes()));
    let persisted = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let by_hash = json!({ "extensions": persisted });

    let registered = a
        .post_graphql(&json!({ "query": query, "extensions": persisted }))
        .await;
    assert_eq!(registered.status(), 200);
    let found: Value = b.post_graphql(&by_hash).await.json().await.expect("JSON");
    assert_eq!(found["data"]["__typename"], "Query", "{found}");
    let unknown: Value = alone
        .post_graphql(&by_hash)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "a replica without Redis does not know it: {unknown}"
    );
}

/// Upstream calls of API routes (not the token) the simulator counted.
async fn api_calls(app: &TestApp) -> u64 {
    app.upstream_calls()
        .await
        .routes()
        .filter(|(route, _)| route.contains("/api/v2/"))
        .map(|(_, n)| n)
        .sum()
}

/// The upstream calls of one cold dashboard on one gateway, and of 30
/// identical ones at once spread round-robin over three fresh replicas
/// (with `extra` settings) on the same upstream.
async fn thirty_cold_dashboards(extra: &[(&'static str, String)]) -> (u64, u64) {
    let app = spawn_with(Options::default()).await;
    app.reset_calls().await;
    let one = app.data(crate::helpers::DASHBOARD, json!({})).await;
    assert!(one["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0));
    let cost_of_one = api_calls(&app).await;

    let mut replicas = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings =
            crate::helpers::settings_for(&app.sim, dir.path(), extra).expect("valid settings");
        let gateway = cobrowse_gateway::startup::Gateway::build(settings)
            .await
            .expect("a replica starts");
        replicas.push(format!("http://{}/graphql", gateway.local_addr()));
        tokio::spawn(gateway.run_until_stopped(std::future::pending()));
        dirs.push(dir);
    }
    app.reset_calls().await;
    let answers = join_all((0..30).map(|i| {
        app.http
            .post(&replicas[i % 3])
            .json(&json!({ "query": crate::helpers::DASHBOARD }))
            .send()
    }))
    .await;
    for answer in answers {
        let body: Value = answer.expect("answered").json().await.expect("JSON");
        assert!(
            body["errors"].is_null() && body["data"].is_object(),
            "{body}"
        );
    }
    let cost_of_thirty = api_calls(&app).await;
    println!("one cold dashboard: {cost_of_one} upstream calls; 30 over three replicas: {cost_of_thirty} ({extra:?})");
    (cost_of_one, cost_of_thirty)
}

#[tokio::test]
async fn thirty_cold_dashboards_over_three_replicas_cost_at_most_three_times_one() {
    // Each replica single-flights its own misses.
    let (one, thirty) = thirty_cold_dashboards(&[]).await;
    assert!(
        thirty <= 3 * one,
        "30 dashboards over 3 replicas cost {thirty} upstream calls, one costs {one}"
    );
}

#[tokio::test]
async fn thirty_cold_dashboards_over_three_replicas_with_redis_cost_what_one_does() {
    // Their misses are fetched once for all, through the shared cache.
    let (one, thirty) = thirty_cold_dashboards(&[("redis.url", redis_url())]).await;
    assert!(
        thirty <= one,
        "30 dashboards over 3 replicas sharing a cache cost {thirty} upstream calls, one costs {one}"
    );
}

/// A replica that does not listen says once, at `info`, that its copy of
/// the listener's active set is whole; each time it makes it whole again
/// after a gap of the listener's (routine) it says so at `debug` only.
#[tokio::test]
async fn a_standby_replica_says_once_that_its_copy_is_whole() {
    use crate::helpers::{keys_file, start, test_key};
    use crate::live::{status_at, wait_mode_at};
    use std::time::Duration;
    let app = world_to_listen_to().await;
    let url = postgres_database().await;
    let keys = keys_file(app.dir.path(), &[("tests", test_key(), &["read"])]);
    let (mut a, base_a, _, _) = start(listening_replica(&app, &url, &keys)).await;
    wait_mode_at(&base_a, "listening", Duration::from_secs(15)).await;
    let mut standby = listening_replica(&app, &url, &keys);
    standby.env("COBROWSE_LOG_FILTER", "info,cobrowse_gateway::live=debug");
    let (mut b, base_b, _, logs) = start(standby).await;
    wait_mode_at(&base_b, "standby", Duration::from_secs(5)).await;
    let whole_since = |previous: serde_json::Value| {
        let base_b = base_b.clone();
        async move {
            crate::helpers::eventually("B is whole", Duration::from_secs(30), || async {
                let status = status_at(&base_b).await;
                if status["served"] == true && status["last_backfill"] != previous {
                    Ok(status["last_backfill"].clone())
                } else {
                    Err(status.to_string())
                }
            })
            .await
        }
    };
    let mut last = whole_since(serde_json::Value::Null).await;
    // The listener's sockets drop twice: each time it back-fills and tells
    // the gap, and B makes its copy whole again.
    for _ in 0..2 {
        app.http
            .post(format!("{}/__sim/notifications/drop", app.sim.url()))
            .send()
            .await
            .expect("dropped");
        last = whole_since(last).await;
    }
    b.kill().await.expect("stops");
    a.kill().await.expect("stops");
    let logs = logs.await.expect("logs");
    let whole: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("this replica's copy of the active set is whole"))
        .collect();
    let once = whole.iter().filter(|l| !l.contains("again")).count();
    let again = whole.iter().filter(|l| l.contains("again")).count();
    assert_eq!(once, 1, "{whole:#?}");
    assert!(again >= 2, "{whole:#?}");
    assert!(
        whole
            .iter()
            .filter(|l| l.contains("again"))
            .all(|l| l.contains("DEBUG")),
        "{whole:#?}"
    );
}
