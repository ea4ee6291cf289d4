//! What a third attack found (issue "Hardening III"): each test fails
//! without its fix.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{command_for, keys_file, metric, spawn_app, start, test_key};
use crate::live::wait_mode_at;

/// The first line the gateway answers to `request` sent on a raw
/// connection (it must come without the client sending anything more).
async fn first_line(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the gateway answers without waiting for the body")
            .expect("readable");
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_body_announced_larger_than_the_limit_is_refused_before_100_continue() {
    let app = spawn_app().await;
    for path in ["/graphql", "/webhooks/zoom"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n",
            app.addr,
            test_key()
        );
        let line = first_line(app.addr, &request).await;
        assert!(
            line.starts_with("HTTP/1.1 413"),
            "{path}: answered {line:?} to a body of 2,000,000 bytes announced with Expect: 100-continue"
        );
    }
    // Within the limit, the client is told to go on.
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 30\r\nExpect: 100-continue\r\n\r\n",
        app.addr,
        test_key()
    );
    assert_eq!(
        first_line(app.addr, &request).await,
        "HTTP/1.1 100 Continue"
    );
}

#[tokio::test]
async fn a_flood_of_unreadable_notifications_writes_few_warnings_and_counts_every_one() {
    use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
    let mut config = SimConfig::local(4, 3);
    config.faults = Faults {
        heartbeat_ms: 100,
        ..Faults::default()
    };
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = keys_file(dir.path(), &[("tests", test_key(), &["read"])]);
    let mut command = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    command
        .env("COBROWSE_AUTH_API_KEYS_FILE", keys)
        .env("COBROWSE_NOTIFICATIONS_ANALYTICS_LAG", "0s");
    let (mut child, base, _, logs) = start(command).await;
    wait_mode_at(&base, "listening", Duration::from_secs(30)).await;

    let sent: Value = reqwest::Client::new()
        .post(format!("{}/__sim/notifications/garble", sim.url()))
        .json(&json!({ "count": 500 }))
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("JSON");
    let sent = sent["sent"].as_f64().expect("a count");
    assert!(sent >= 500.0, "{sent}");
    let series = "cobrowse_gateway_notifications_heard_total{kind=\"garbled\"}";
    let heard = crate::helpers::eventually(
        "every garbled event is counted",
        Duration::from_secs(60),
        || async {
            let heard = metric(&base, series).await;
            if heard >= sent {
                Ok(heard)
            } else {
                Err(format!("{heard} of {sent}"))
            }
        },
    )
    .await;
    child.kill().await.expect("stops");
    let logs = logs.await.expect("the logs");
    let warnings = logs
        .lines()
        .filter(|l| l.contains("a notification does not read"))
        .count();
    println!("{sent} unreadable notifications: {heard} counted, {warnings} warning lines");
    assert_eq!(heard, sent, "the metric counts every one");
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} warning lines for {sent} unreadable notifications:\n{logs}"
    );
    assert!(
        logs.contains("not JSON"),
        "the first one's detail is written"
    );
}

/// Secrets planted in every place a user may set one.
const PLANTED: [&str; 10] = [
    "PlantedUpstreamPass",
    "PlantedLoginPass",
    "PlantedClientSecret",
    "PlantedStoreUserPass",
    "PlantedStoreQueryPass",
    "PlantedStoreSslPass",
    "PlantedRedisPass",
    "PlantedJwtSecretPlantedJwtSecret1",
    "PlantedZoomSecret",
    "PlantedStoreTokenParam",
];

/// Fails naming `what` when `text` shows any planted secret.
fn assert_no_secret(what: &str, text: &str) {
    for secret in PLANTED {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret}:\n{text}"
        );
    }
}

/// Every secret setting, planted; `store` and `redis` name the servers.
fn planted(command: &mut tokio::process::Command, store: &str, redis: &str) {
    let store = reqwest::Url::parse(store).expect("a URL");
    let store = format!(
        "postgres://{}:PlantedStoreUserPass@{}:{}{}?password=PlantedStoreQueryPass&sslpassword=PlantedStoreSslPass&application_name=gw&auth_token=PlantedStoreTokenParam",
        store.username(),
        store.host_str().expect("a host"),
        store.port().unwrap_or(5432),
        store.path()
    );
    let redis = redis.replace("redis://", "redis://:PlantedRedisPass@");
    command
        .env("COBROWSE_STORE_URL", store)
        .env("COBROWSE_REDIS_URL", redis)
        .env("COBROWSE_AUTH_JWT_SECRET", PLANTED[7])
        .env("COBROWSE_AUTH_JWT_ISSUER", "https://idp.example.com")
        .env("COBROWSE_AUTH_JWT_AUDIENCE", "cobrowse-gateway")
        .env("COBROWSE_ZOOM_WEBHOOK_SECRET", PLANTED[8])
        .env("COBROWSE_LOG_FILTER", "trace");
}

#[tokio::test]
async fn secrets_the_user_set_are_never_printed_by_check_the_log_or_start_up_errors() {
    use crate::helpers::{command, postgres_database};
    let remote = |command: &mut tokio::process::Command, api: &str| {
        command
            .env("COBROWSE_UPSTREAM_URL", api)
            .env(
                "COBROWSE_LOGIN_URL",
                "http://loginuser:PlantedLoginPass@127.0.0.1:1/",
            )
            .env("COBROWSE_CLIENT_ID", "gateway")
            .env("COBROWSE_CLIENT_SECRET", PLANTED[2]);
    };
    let closed_store = "postgres://gw@127.0.0.1:1/cobrowse";
    let closed_redis = "redis://127.0.0.1:1";

    // `check`: every URL shown, its passwords hidden.
    let mut check = command(&["check"]);
    remote(
        &mut check,
        "http://apiuser:PlantedUpstreamPass@127.0.0.1:1/",
    );
    planted(&mut check, closed_store, closed_redis);
    let output = check.output().await.expect("runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("postgres://gw:***@127.0.0.1:1/cobrowse?password=***&sslpassword=***&application_name=gw&auth_token=***")
            && text.contains("redis://:***@127.0.0.1:1")
            && text.contains("http://apiuser:***@127.0.0.1:1/"),
        "check shows each URL with its passwords hidden:\n{text}"
    );
    assert_no_secret("check", &text);

    // A settings file whose mistake quotes the line with the password.
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        "[store]\nurl = \"postgres://gw:PlantedStoreUserPass@db/x\n",
    )
    .expect("written");
    let output = command(&["check", "--config", file.to_str().expect("a path")])
        .output()
        .await
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success() && text.contains("not valid TOML"),
        "{text}"
    );
    assert_no_secret("a settings file's error", &text);

    // A start-up error: the store cannot be reached.
    let sim =
        cobrowse_gateway::sim::Simulator::start(cobrowse_gateway::sim::SimConfig::local(4, 1))
            .await
            .expect("the simulator starts");
    let mut failing = command(&["--listen", "127.0.0.1:0"]);
    remote(&mut failing, &sim.url());
    failing.env("COBROWSE_LOGIN_URL", sim.url());
    failing.env("COBROWSE_CLIENT_ID", sim.client_id());
    failing.env("COBROWSE_CLIENT_SECRET", sim.client_secret().expose());
    planted(&mut failing, closed_store, closed_redis);
    let output = failing.output().await.expect("runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && text
                .contains("cannot open the event store at postgres://gw:***@127.0.0.1:1/cobrowse"),
        "{text}"
    );
    assert_no_secret("a start-up error", &text);

    // A gateway that starts, logging at `trace`, on a real PostgreSQL and
    // Redis whose URLs carry the planted passwords.
    let store = postgres_database().await;
    let redis = std::env::var("COBROWSE_TEST_REDIS_URL").expect(
        "COBROWSE_TEST_REDIS_URL is not set: run the tests with scripts/test, which starts Redis on loopback",
    );
    let mut serving = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    planted(&mut serving, &store, &redis);
    let (mut child, base, printed, logs) = start(serving).await;
    let answer = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("the gateway answers");
    assert!(answer.status().is_success());
    child.kill().await.expect("stops");
    let logs = logs.await.expect("the logs");
    assert!(
        logs.contains("event store open (PostgreSQL)") && logs.contains("password=***"),
        "the start-up line names the store, its password hidden:\n{logs}"
    );
    assert_no_secret("the banner", &printed.join("\n"));
    assert_no_secret("the log at trace", &logs);
}

/// The status line a WebSocket upgrade with these `Host` and `Origin`
/// headers is answered with.
async fn upgrade_status(addr: std::net::SocketAddr, host: &str, origin: &str) -> String {
    let request = format!(
        "GET /graphql/ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    );
    first_line(addr, &request).await
}

#[tokio::test]
async fn a_websocket_from_a_rebound_name_is_refused_whatever_host_says() {
    use crate::helpers::{command, spawn_with, Options};
    // Open demo mode, as a newcomer runs it.
    let (mut child, base, _, _) = start(command(&["--listen", "127.0.0.1:0"])).await;
    let addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .expect("an address");
    let port = addr.port();
    assert!(
        upgrade_status(addr, "evil.example", "http://evil.example")
            .await
            .starts_with("HTTP/1.1 403"),
        "demo mode: the rebinding pair is refused"
    );
    for own in ["127.0.0.1", "localhost", "[::1]"] {
        let host = format!("{own}:{port}");
        assert!(
            upgrade_status(addr, &host, &format!("http://{host}"))
                .await
                .starts_with("HTTP/1.1 101"),
            "demo mode: its own origin {host} is admitted"
        );
    }
    child.kill().await.expect("stops");

    // Listening beyond loopback without naming its public origins is
    // advised against by `check`; with them, not.
    for (public, warned) in [(None, true), (Some("https://gw.example.test"), false)] {
        let mut check = command(&["check", "--listen", "0.0.0.0:8080"]);
        if let Some(public) = public {
            check.env("COBROWSE_SERVER_PUBLIC_ORIGINS", public);
        }
        let output = check.output().await.expect("runs");
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{report}");
        assert_eq!(
            report.contains("server.public_origins is not set"),
            warned,
            "{report}"
        );
    }

    // Service mode with another origin allowed, and behind a proxy with
    // the name browsers use.
    let app = spawn_with(Options {
        settings: vec![
            ("server.cors_origins", "https://wall.example.com".into()),
            ("server.public_origins", "https://gw.example.test".into()),
        ],
        ..Options::default()
    })
    .await;
    for (host, origin, status) in [
        ("evil.example", "http://evil.example", "403"),
        ("gw.example.test", "https://gw.example.test", "101"),
        ("gw.example.test", "https://wall.example.com", "101"),
        // Its loopback forms are not its own once public origins are named.
        (
            &*app.addr.to_string(),
            &*format!("http://{}", app.addr),
            "403",
        ),
    ] {
        let line = upgrade_status(app.addr, host, origin).await;
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "Host {host}, Origin {origin}: {line}"
        );
    }
}

#[tokio::test]
async fn dashboards_filling_every_connection_cannot_starve_webhooks_and_probes() {
    use crate::helpers::{session_events, spawn_with, Options, Ws};
    let app = spawn_with(Options {
        settings: vec![("server.max_connections", "8".into())],
        ..Options::default()
    })
    .await;
    let base = app.url("");
    let mut sockets = Vec::new();
    for _ in 0..8 {
        sockets.push(Ws::ready(&base).await);
    }

    // A ninth dashboard is refused...
    let refused = upgrade_status(app.addr, &app.addr.to_string(), &base).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    // ...but a signed delivery is stored, and the probes answer.
    let event = session_events("starved-1", "agent-1", "2026-03-01T10:00:00Z")
        .into_iter()
        .next()
        .expect("an event");
    let (status, body) = app.webhook(&event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "stored", "{body}");
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let answer = reqwest::get(app.url(probe)).await.expect("answers");
        assert_ne!(answer.status(), 503, "{probe} answered 503");
    }
    let refused = upgrade_status(app.addr, &app.addr.to_string(), &base).await;
    assert!(
        refused.starts_with("HTTP/1.1 503"),
        "still refused: {refused}"
    );

    // Once the sockets have let go of their places, a dashboard reads it.
    drop(sockets);
    let query = json!({
        "query": r#"{ cobrowseSessions(filter: { provider: ZOOM }) { nodes { providerSessionId } } }"#
    });
    let found: Value =
        crate::helpers::eventually("the places are freed", Duration::from_secs(30), || async {
            let answer = app
                .http
                .post(app.url("/graphql"))
                .json(&query)
                .send()
                .await
                .expect("answers");
            if answer.status() == 503 {
                return None;
            }
            Some(crate::helpers::verified(answer).json().await.expect("JSON"))
        })
        .await;
    assert!(
        found.to_string().contains("starved-1"),
        "the delivery was stored: {found}"
    );
}

/// A client of the gateway at `base` whose connections come from `from`
/// (a loopback address of its own: 127.0.0.2 is another client).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(from.parse().expect("an address")))
        .build()
        .expect("a client")
}

/// The status of a small query sent by `client`, with these extra headers.
async fn query_status(client: &reqwest::Client, base: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": "{ __typename }" }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("answers").status().as_u16()
}

#[tokio::test]
async fn one_anonymous_visitor_exhausts_only_its_own_bucket() {
    use crate::helpers::{command, Frame, Ws};
    // Open demo mode, as a newcomer runs it (100 requests at once per
    // caller), refilling slowly enough that nothing here races the clock.
    let demo = |trusted: Option<&str>| {
        let mut demo = command(&["--listen", "127.0.0.1:0"]);
        demo.env("COBROWSE_LIMITS_REQUESTS_PER_SECOND", "0.5");
        if let Some(proxies) = trusted {
            demo.env("COBROWSE_SERVER_TRUSTED_PROXIES", proxies);
        }
        demo
    };
    let (mut child, base, _, _) = start(demo(None)).await;
    let mut sockets = Vec::new();
    let mut refused = 0;
    for _ in 0..110 {
        let mut ws = Ws::open(&base).await;
        ws.send(json!({ "type": "connection_init" })).await;
        match ws.next().await {
            Frame::Json(ack) if ack["type"] == "connection_ack" => sockets.push(ws),
            _ => refused += 1,
        }
    }
    assert!(
        refused > 0,
        "110 quick connection_inits from one address are limited"
    );
    // The visitor's own requests wait; another visitor's do not.
    let here = client_from("127.0.0.1");
    assert_eq!(query_status(&here, &base, &[]).await, 429);
    let elsewhere = client_from("127.0.0.2");
    assert_eq!(query_status(&elsewhere, &base, &[]).await, 200);
    // A socket's subscriptions count against the socket itself.
    let ws = sockets.first_mut().expect("a socket");
    ws.subscribe("1", "{ __typename }").await;
    match ws.next().await {
        Frame::Json(next) => assert_eq!(next["type"], "next", "{next}"),
        other => panic!("the socket's own operation ran: {other:?}"),
    }
    child.kill().await.expect("stops");

    // Behind a proxy every visitor has the proxy's address: with the proxy
    // trusted, the client it names is the one limited.
    for trusted in [false, true] {
        let (mut child, base, _, _) = start(demo(trusted.then_some("127.0.0.1"))).await;
        let proxy = client_from("127.0.0.1");
        let greedy = [("x-forwarded-for", "198.51.100.7")];
        let mut limited = false;
        for _ in 0..120 {
            limited |= query_status(&proxy, &base, &greedy).await == 429;
        }
        assert!(limited, "120 quick requests of one visitor are limited");
        let other = query_status(&proxy, &base, &[("forwarded", "for=198.51.100.8")]).await;
        child.kill().await.expect("stops");
        if trusted {
            assert_eq!(other, 200, "another visitor behind the trusted proxy");
        } else {
            assert_eq!(other, 429, "untrusted, the proxy's address is everyone's");
        }
    }
}

#[tokio::test]
async fn a_hung_upstream_listing_is_a_field_error_naming_it_before_the_request_times_out() {
    use crate::helpers::{spawn_with, Options};
    use cobrowse_gateway::sim::Faults;
    // Four attempts of 1 s do not fit a request of 3 s.
    let app = spawn_with(Options {
        settings: vec![
            ("auth.mode", "passthrough".into()),
            ("server.request_timeout", "3s".into()),
            ("upstream.timeout", "1s".into()),
            ("upstream.max_attempts", "4".into()),
        ],
        ..Options::default()
    })
    .await;
    let agents = app.agents().await;
    let bearer = format!("Bearer {}", agents[0].1);
    app.set_faults(&Faults {
        latency_ms: 5_000,
        slow_routes: vec!["/api/v2/conversations/cobrowsesessions".into()],
        ..Faults::default()
    })
    .await;

    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("authorization", &bearer)
        .json(&json!({ "query": "{ activeCobrowseConversations { totalCount } }" }))
        .send()
        .await
        .expect("answers");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "{body}");
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "UPSTREAM_TIMEOUT", "{body}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("cobrowse_listing")),
        "the error names the upstream route: {body}"
    );
    assert_eq!(error["path"][0], "activeCobrowseConversations", "{body}");
}

/// A passthrough gateway with `settings`, the simulator misbehaving as
/// `faults` says, and the token of an agent with several conversations
/// going on (with how many).
async fn paged_listing(
    settings: &[(&'static str, &str)],
    faults: cobrowse_gateway::sim::Faults,
) -> (crate::helpers::TestApp, String, usize) {
    use crate::helpers::{spawn_with, Options};
    let mut all = vec![("auth.mode", "passthrough".to_owned())];
    all.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let app = spawn_with(Options {
        conversations: 40,
        settings: all,
        ..Options::default()
    })
    .await;
    let (_, token, mine) = app
        .agents()
        .await
        .into_iter()
        .max_by_key(|(_, _, mine)| mine.len())
        .expect("an agent");
    assert!(mine.len() > 1, "the busiest agent has several");
    app.set_faults(&faults).await;
    (app, format!("Bearer {token}"), mine.len())
}

/// The listing as `bearer` reads it through the gateway: the whole body.
async fn read_listing(app: &crate::helpers::TestApp, bearer: &str) -> Value {
    crate::helpers::json_of(
        reqwest::Client::new()
            .post(app.url("/graphql"))
            .header("authorization", bearer)
            .json(&json!({ "query": "{ activeCobrowseConversations(first: 100) { totalCount nodes { conversationId } } }" })),
    )
    .await
}

#[tokio::test]
async fn upstream_paging_that_loops_or_repeats_rows_is_not_trusted() {
    use cobrowse_gateway::sim::Faults;
    // One row a page, each page repeating the row before, and the last
    // page's nextUri pointing back at the first.
    let (app, bearer, mine) = paged_listing(
        &[],
        Faults {
            listing_page_size: 1,
            listing_overlap: 1,
            listing_loop: true,
            ..Faults::default()
        },
    )
    .await;
    let body = read_listing(&app, &bearer).await;
    assert!(body.get("errors").is_none(), "{body}");
    let listing = &body["data"]["activeCobrowseConversations"];
    let ids: std::collections::BTreeSet<&str> = listing["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["conversationId"].as_str().expect("an id"))
        .collect();
    assert_eq!(listing["totalCount"], mine, "{body}");
    assert_eq!(ids.len(), mine, "each conversation once: {body}");
    let series = |anomaly: &str| {
        format!("cobrowse_gateway_upstream_paging_anomalies_total{{anomaly=\"{anomaly}\",route=\"cobrowse_listing\"}}")
    };
    assert_eq!(metric(&app.url(""), &series("loop")).await, 1.0);
    // Each page repeats one row of the page before; the first page, named
    // again by the last (by another URL than the one first read), is read
    // once more before the loop is seen.
    assert_eq!(
        metric(&app.url(""), &series("duplicate")).await,
        mine as f64,
        "each repeated row is dropped and counted"
    );
}

#[tokio::test]
async fn a_listing_cut_at_the_page_limit_says_so_and_one_too_large_is_refused() {
    use cobrowse_gateway::sim::Faults;
    // More than 50 pages: what they list, and an error that says it is cut.
    let (app, bearer, _) = paged_listing(
        &[],
        Faults {
            listing_page_size: 1,
            listing_copies: 60,
            ..Faults::default()
        },
    )
    .await;
    let body = read_listing(&app, &bearer).await;
    let listing = &body["data"]["activeCobrowseConversations"];
    assert_eq!(listing["totalCount"], 50, "{body}");
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_LIST_TRUNCATED",
        "{body}"
    );
    assert_eq!(
        error["path"],
        json!(["activeCobrowseConversations"]),
        "{body}"
    );
    drop(app);

    // More items than upstream.max_list_items, or a page larger than
    // upstream.max_page_bytes: refused by name, nothing held.
    for (setting, limit, faults, code) in [
        (
            "upstream.max_list_items",
            "20",
            Faults {
                listing_page_size: 5,
                listing_copies: 30,
                ..Faults::default()
            },
            "UPSTREAM_LIST_TOO_LARGE",
        ),
        (
            "upstream.max_page_bytes",
            "4096",
            Faults {
                listing_copies: 30,
                ..Faults::default()
            },
            "UPSTREAM_RESPONSE_TOO_LARGE",
        ),
    ] {
        let (app, bearer, _) = paged_listing(&[(setting, limit)], faults).await;
        let body = read_listing(&app, &bearer).await;
        assert_eq!(
            body["data"]["activeCobrowseConversations"],
            Value::Null,
            "{body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(setting)),
            "the message names the setting: {body}"
        );
    }
}
