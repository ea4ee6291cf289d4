//! The binary as a newcomer runs it.

use std::time::Duration;

use crate::helpers::{command, command_for, post_query, post_signed_webhook, query_json, start};

#[tokio::test]
async fn with_no_configuration_it_serves_demo_data_from_the_built_in_simulator() {
    let (mut child, base, printed, _logs) = start(command(&["--listen", "127.0.0.1:0"])).await;
    assert!(
        printed.iter().any(|l| l.contains("demo mode")),
        "{printed:?}"
    );

    let response = post_query(
        &base,
        "{ activeCobrowseConversations { totalCount nodes { participants { user { name } } } } }",
    )
    .await;
    // Open demo mode: everyone sees the same data, so shared caches may keep it.
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .starts_with("public, max-age="),
        "{:?}",
        response.headers()
    );
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert!(body.get("errors").is_none(), "{body:#}");
    assert!(
        body["data"]["activeCobrowseConversations"]["totalCount"]
            .as_u64()
            .expect("count")
            > 0
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains("playing Zoom Cobrowse sessions")),
        "{printed:?}"
    );
    // The demo plays its first Zoom event at once; it is stored before the
    // 200, so it shows up within a few polls.
    crate::helpers::eventually(
        "demo Zoom sessions arrive",
        Duration::from_secs(30),
        || async {
            let body = query_json(
                &base,
                "{ cobrowseSessions(filter: { provider: ZOOM }) { totalCount } }",
            )
            .await;
            let zoom = &body["data"]["cobrowseSessions"]["totalCount"];
            if zoom.as_u64().unwrap_or(0) > 0 {
                Ok(())
            } else {
                Err(body.to_string())
            }
        },
    )
    .await;
    let page = reqwest::get(format!("{base}/graphiql"))
        .await
        .expect("answers")
        .text()
        .await
        .expect("html");
    assert!(page.contains("graphiql"), "GraphiQL is served");
    child.kill().await.expect("stops");
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_naming_the_setting() {
    let output = command(&[])
        .env("COBROWSE_CACHE_MAX_ENTRIES", "lots")
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cache.max_entries") && stderr.contains("COBROWSE_CACHE_MAX_ENTRIES"),
        "{stderr}"
    );

    let output = command(&["--set", "upstream.timeout=soon"])
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("upstream.timeout"));
}

#[tokio::test]
async fn the_schema_subcommand_prints_the_checked_in_sdl() {
    let output = command(&["schema"]).output().await.expect("runs");
    assert!(output.status.success());
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert_eq!(String::from_utf8_lossy(&output.stdout), on_disk);
}

#[tokio::test]
async fn help_explains_every_subcommand_and_setting() {
    let output = command(&["--help"]).output().await.expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for word in [
        "serve",
        "simulate",
        "schema",
        "COBROWSE_UPSTREAM_URL",
        "COBROWSE_CLIENT_SECRET",
        "cache.live_ttl",
    ] {
        assert!(help.contains(word), "--help mentions {word}");
    }
}

#[tokio::test]
async fn secrets_never_appear_in_logs() {
    let mut config = cobrowse_gateway::sim::SimConfig::local(3, 1);
    config.client_secret = cobrowse_gateway::secret::Secret::new("s3cr3t-value-for-log-test");
    let sim = cobrowse_gateway::sim::Simulator::start(config)
        .await
        .expect("simulator");
    let mut cmd = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    cmd.env("COBROWSE_AUTH_JWT_SECRET", JWT_SECRET)
        .env("COBROWSE_AUTH_JWT_ISSUER", "https://idp.example.com")
        .env("COBROWSE_AUTH_JWT_AUDIENCE", "cobrowse-gateway")
        .env("COBROWSE_LOG_FILTER", "debug")
        .env("COBROWSE_LOG_FORMAT", "json");
    let (mut child, base, printed, logs) = start(cmd).await;
    let token = crate::auth::hs256(
        JWT_SECRET,
        &serde_json::json!({
            "sub": "log-test", "iss": "https://idp.example.com", "aud": "cobrowse-gateway",
            "exp": chrono::Utc::now().timestamp() + 600, "scope": "read",
        }),
    );
    let body = crate::helpers::json_of(
        reqwest::Client::new()
            .post(format!("{base}/graphql"))
            .bearer_auth(&token)
            .json(
                &serde_json::json!({ "query": "{ activeCobrowseConversations { totalCount } }" }),
            ),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    child.kill().await.expect("stops");
    let logs = format!(
        "{}{}",
        printed.join("\n"),
        logs.await.expect("logs collected")
    );
    assert!(
        logs.contains("fetched upstream access token"),
        "the logs are there: {logs}"
    );
    assert!(
        !logs.contains("s3cr3t-value-for-log-test"),
        "the secret leaked"
    );
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:s3cr3t-value-for-log-test", sim.client_id()),
    );
    assert!(!logs.contains(&basic), "the Basic credentials leaked");
    assert!(!logs.contains(JWT_SECRET), "the JWT secret leaked");
    assert!(!logs.contains(&token), "the caller's token leaked");
}

const JWT_SECRET: &str = "a-jwt-secret-of-at-least-32-characters-for-the-log-test";

#[tokio::test]
async fn outside_demo_mode_it_refuses_to_start_without_authentication() {
    let sim =
        cobrowse_gateway::sim::Simulator::start(cobrowse_gateway::sim::SimConfig::local(2, 1))
            .await
            .expect("simulator");
    let output = command_for(&sim, &["--listen", "127.0.0.1:0"])
        .output()
        .await
        .expect("runs");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no authentication is configured")
            && stderr.contains("COBROWSE_AUTH_API_KEYS_FILE")
            && stderr.contains("only demo mode may run open"),
        "{stderr}"
    );
}

#[tokio::test]
async fn demo_mode_without_authentication_says_so_at_start_up() {
    let (mut child, _base, printed, _logs) = start(command(&["--listen", "127.0.0.1:0"])).await;
    child.kill().await.expect("stops");
    assert!(
        printed
            .iter()
            .any(|l| l.contains("WARNING: authentication is off")),
        "{printed:?}"
    );
}

#[tokio::test]
async fn the_api_key_subcommand_makes_a_key_and_the_entry_that_admits_it() {
    let output = command(&["api-key", "--id", "ops", "--scopes", "read,write"])
        .output()
        .await
        .expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let key = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cbg_"))
        .expect("the key is printed");
    let entry = &text[text.find("[[key]]").expect("the entry is printed")..];
    assert!(
        !entry.contains(key),
        "the entry holds the digest, not the key"
    );
    let keys = cobrowse_gateway::auth::api_keys::ApiKeys::parse(entry).expect("a valid entry");
    let (id, permissions) = keys.check(key).expect("the key is admitted");
    assert_eq!(&*id, "key:ops");
    assert_eq!(permissions.to_string(), "read write");

    let bad = command(&["api-key", "--id", "ops", "--scopes", "admin"])
        .output()
        .await
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope \"admin\""));
}

#[tokio::test]
async fn every_log_line_about_an_upstream_call_has_the_request_id_and_the_correlation_id() {
    let mut cmd = command(&["--listen", "127.0.0.1:0"]);
    cmd.env("COBROWSE_LOG_FORMAT", "json")
        .env("COBROWSE_LOG_FILTER", "cobrowse_gateway=debug");
    let (mut child, base, _printed, logs) = start(cmd).await;
    let response = post_query(
        &base,
        "{ activeCobrowseConversations { nodes { participants { user { name } queue { name } cobrowseSessions { state } } } } }",
    )
    .await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(response.status().is_success());
    child.kill().await.expect("stops");
    let logs = logs.await.expect("logs collected");

    let calls: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "upstream call")
        // Start-up checks and the notification listener call upstream
        // for no request.
        .filter(|line| {
            let line = line.to_string();
            !line.contains("startup.check_permissions") && !line.contains("\"live.")
        })
        .collect();
    let routes: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["fields"]["route"].as_str())
        .collect();
    // (The active set itself comes from the live index, or from analytics
    // while the index is being filled.)
    for route in ["conversation", "users", "queues"] {
        assert!(routes.contains(&route), "a line for {route}: {routes:?}");
    }
    for call in &calls {
        let text = call.to_string();
        assert!(
            text.contains(&request_id),
            "request id {request_id} missing: {text}"
        );
        assert!(
            call["fields"]["correlation_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("sim-")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn killing_the_gateway_right_after_a_2xx_loses_no_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("durable.sqlite");
    let gateway = || {
        let mut cmd = command(&["--listen", "127.0.0.1:0"]);
        cmd.env("COBROWSE_STORE_PATH", &store)
            .env("COBROWSE_ZOOM_WEBHOOK_SECRET", "durable-secret")
            // The session has fixed dates: keep it whatever today is.
            .env("COBROWSE_STORE_RETENTION", "36500d");
        cmd
    };
    let client = reqwest::Client::new();
    let query = "{ cobrowseSessions(filter: { provider: ZOOM }) { nodes { providerSessionId state startTime endTime pin participants { name role connections { connectionId joinTime leaveTime leaveReason } } } } }";

    let (mut first, base, _, _) = start(gateway()).await;
    let events = crate::helpers::session_events("durable", "Noah", "2026-11-22T09:00:00Z");
    for event in &events {
        let response = post_signed_webhook(&client, &base, "durable-secret", event.to_string())
            .await
            .expect("answers");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
    // The demo's own Zoom player plays beside: only this session counts.
    let durable = |body: serde_json::Value| {
        let nodes: Vec<serde_json::Value> = body["data"]["cobrowseSessions"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter(|n| n["providerSessionId"] == "durable")
            .cloned()
            .collect();
        serde_json::json!({ "data": { "cobrowseSessions": { "nodes": nodes } } })
    };
    let before = durable(query_json(&base, query).await);
    // SIGKILL right after the last 2xx: no chance to flush anything more.
    first.kill().await.expect("killed");

    let (mut second, base, _, _) = start(gateway()).await;
    let after = durable(query_json(&base, query).await);
    second.kill().await.expect("killed");

    assert_eq!(
        before["data"]["cobrowseSessions"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{before}"
    );
    assert_eq!(after, before, "the same session state after the restart");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", store.display()))
        .await
        .expect("opens");
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM zoom_events WHERE session_id = 'durable'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(stored, events.len() as i64, "every acknowledged event");
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_refuses_new_ones_closes_subscriptions_and_loses_no_webhook(
) {
    use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let sim = Simulator::start(SimConfig::local(4, 1))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("shutdown.sqlite");
    let key = crate::helpers::test_key();
    let keys = crate::helpers::keys_file(dir.path(), &[("ops", key, &["read"])]);
    let gateway = || {
        let mut cmd = command_for(&sim, &["--listen", "127.0.0.1:0"]);
        cmd.env("COBROWSE_AUTH_API_KEYS_FILE", &keys)
            .env("COBROWSE_STORE_PATH", &store)
            .env("COBROWSE_STORE_RETENTION", "36500d")
            .env("COBROWSE_ZOOM_WEBHOOK_SECRET", "shutdown-secret")
            .env("COBROWSE_SERVER_SHUTDOWN_GRACE", "10s")
            // The request below must reach upstream (the simulator's count
            // says when), not be answered from the live index.
            .env("COBROWSE_NOTIFICATIONS_ENABLED", "false");
        cmd
    };
    let client = crate::helpers::authorized_client();
    let (mut child, base, _, _logs) = start(gateway()).await;

    // A subscriber.
    let mut socket = crate::helpers::ws_connect(&base).await;
    let init = serde_json::json!({ "type": "connection_init", "payload": { "X-API-Key": key } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("sent");
    let ack = socket.next().await.expect("an answer").expect("a message");
    assert!(ack.to_text().expect("text").contains("connection_ack"));

    // An acknowledged webhook.
    let event = &crate::helpers::session_events("shutdown", "Ada", "2026-11-22T09:00:00Z")[0];
    let response = post_signed_webhook(&client, &base, "shutdown-secret", event.to_string())
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);

    // A request in flight: upstream takes 1.5 s to answer it.
    let http = reqwest::Client::new();
    http.put(format!("{}/__sim/faults", sim.url()))
        .json(&Faults {
            latency_ms: 1_500,
            ..Faults::default()
        })
        .send()
        .await
        .expect("faults set");
    http.post(format!("{}/__sim/stats/reset", sim.url()))
        .send()
        .await
        .expect("reset");
    let in_flight = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            let response = crate::helpers::verified(
                client
                    .post(format!("{base}/graphql"))
                    .json(&serde_json::json!({ "query": "{ activeCobrowseConversations { totalCount } }" }))
                    .send()
                    .await
                    .expect("the request in flight is answered"),
            );
            let status = response.status();
            (
                status,
                response.json::<serde_json::Value>().await.expect("json"),
            )
        }
    });
    // It has reached upstream once the simulator counts it.
    loop {
        let stats: cobrowse_gateway::sim::SimStats = http
            .get(format!("{}/__sim/stats", sim.url()))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        if stats.total > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }

    let pid = child.id().expect("running").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());

    // The subscriber is told, with "going away".
    match socket
        .next()
        .await
        .expect("a message")
        .expect("no transport error")
    {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // New connections are refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        match reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
        {
            Err(e) if e.is_connect() => break,
            _ => assert!(std::time::Instant::now() < deadline, "still accepting"),
        }
        tokio::task::yield_now().await;
    }
    // The request in flight finishes, whole.
    let (status, body) = in_flight.await.expect("joined");
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0),
        "{body}"
    );
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within the grace")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");

    // The acknowledged webhook is there after a restart.
    let (mut again, base, _, _) = start(gateway()).await;
    let sessions = crate::helpers::json_of(
        client
            .post(format!("{base}/graphql"))
            .json(&serde_json::json!({ "query": "{ cobrowseSessions(filter: { provider: ZOOM }) { nodes { providerSessionId } } }" })),
    )
    .await;
    again.kill().await.expect("stops");
    assert_eq!(
        sessions["data"]["cobrowseSessions"]["nodes"][0]["providerSessionId"], "shutdown",
        "{sessions}"
    );
}

/// A failing `/readyz` is logged once when the gateway stops being ready
/// (at `warn`, with why) and once when it is ready again, not at `ERROR`
/// for every probe; a request's `latency_ms` has a tenth of a millisecond.
#[tokio::test]
async fn readiness_is_logged_once_per_change_of_state_and_latency_reads_as_milliseconds() {
    use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
    let sim = Simulator::start(SimConfig::local(2, 1))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let key = crate::helpers::test_key();
    let keys = crate::helpers::keys_file(dir.path(), &[("ops", key, &["read"])]);
    let mut cmd = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    cmd.env("COBROWSE_AUTH_API_KEYS_FILE", &keys)
        .env("COBROWSE_SERVER_READINESS_INTERVAL", "0s")
        .env("COBROWSE_NOTIFICATIONS_ENABLED", "false");
    let (mut child, base, _, logs) = start(cmd).await;
    let client = crate::helpers::authorized_client();
    let ready = || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("answers")
            .status()
    };
    let query = || async {
        client
            .post(format!("{base}/graphql"))
            .json(&serde_json::json!({ "query": r#"{ conversation(conversationId: "x") { name } }"# }))
            .send()
            .await
            .expect("answers")
    };
    assert_eq!(ready().await, 200);
    let faults = |error_fraction| Faults {
        error_fraction,
        ..Faults::default()
    };
    let http = reqwest::Client::new();
    let set = |f: Faults| {
        http.put(format!("{}/__sim/faults", sim.url()))
            .json(&f)
            .send()
    };
    set(faults(1.0)).await.expect("faults set");
    for _ in 0..3 {
        query().await;
    }
    for _ in 0..5 {
        assert_eq!(ready().await, 503);
    }
    set(faults(0.0)).await.expect("faults set");
    query().await;
    assert_eq!(ready().await, 200);
    assert_eq!(ready().await, 200);
    child.kill().await.expect("stops");
    let logs = logs.await.expect("logs");
    let count = |text: &str| logs.lines().filter(|l| l.contains(text)).count();
    assert_eq!(count("not ready (/readyz answers 503)"), 1, "{logs}");
    assert_eq!(count("ready again (/readyz answers 200)"), 1, "{logs}");
    assert_eq!(count(" ERROR "), 0, "{logs}");
    let not_ready = logs
        .lines()
        .find(|l| l.contains("not ready"))
        .expect("a line");
    assert!(
        not_ready.contains(" WARN ") && not_ready.contains("upstream_calls"),
        "{not_ready}"
    );
    let latency = logs
        .lines()
        .find_map(|l| l.split("latency_ms=").nth(1))
        .expect("an access log line");
    let value = latency.split_whitespace().next().expect("a value");
    assert!(
        value
            .split_once('.')
            .is_none_or(|(_, tenths)| tenths.len() == 1),
        "latency_ms={value}"
    );
}

/// Starting on a PostgreSQL store that is already migrated says nothing of
/// the migrations at the default level (PostgreSQL's "relation already
/// exists, skipping" notices were logged at `info`).
#[tokio::test]
async fn a_second_start_on_postgresql_logs_no_migration_notices() {
    let url = crate::helpers::postgres_database().await;
    for _ in 0..2 {
        let mut cmd = command(&["--listen", "127.0.0.1:0"]);
        cmd.env("COBROWSE_STORE_URL", &url);
        let (mut child, _base, _, logs) = start(cmd).await;
        child.kill().await.expect("stops");
        let logs = logs.await.expect("logs");
        assert!(!logs.contains("already exists, skipping"), "{logs}");
        assert!(logs.contains("event store open (PostgreSQL)"), "{logs}");
    }
}
