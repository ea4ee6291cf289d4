//! Upstream failures become partial results with stable codes.

use std::time::{Duration, Instant};

use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
use cobrowse_gateway::startup::Gateway;
use serde_json::json;

use crate::helpers::{first_code, route, settings_for, spawn_app, spawn_with, Options};

const TWO_CONVERSATIONS: &str = r#"
query($known: String!) {
  missing: conversation(conversationId: "no-such-conversation") { name }
  known: conversation(conversationId: $known) { name }
}"#;

#[tokio::test]
async fn an_upstream_404_nulls_that_field_with_upstream_not_found_and_keeps_the_rest() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;

    let body = app
        .graphql(TWO_CONVERSATIONS, json!({ "known": ids[0] }))
        .await;

    assert!(body["data"]["missing"].is_null(), "{body:#}");
    assert!(body["data"]["known"]["name"].is_string(), "{body:#}");
    assert_eq!(
        body["errors"].as_array().expect("errors").len(),
        1,
        "{body:#}"
    );
    assert_eq!(body["errors"][0]["path"], json!(["missing"]));
    assert_eq!(first_code(&body), "UPSTREAM_NOT_FOUND");
    let correlation = body["errors"][0]["extensions"]["correlationId"]
        .as_str()
        .expect("correlation id");
    assert!(correlation.starts_with("sim-"), "{correlation}");
}

#[tokio::test]
async fn persistent_5xx_gives_upstream_unavailable_after_bounded_retries() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    app.set_faults(&Faults {
        error_fraction: 1.0,
        ..Faults::default()
    })
    .await;
    app.reset_calls().await;

    let body = app
        .graphql(
            "query($id: String!) { conversation(conversationId: $id) { name } }",
            json!({ "id": ids[0] }),
        )
        .await;

    assert_eq!(first_code(&body), "UPSTREAM_UNAVAILABLE", "{body:#}");
    assert!(body["data"]["conversation"].is_null());
    // The listing query above cached only the co-browse view, so the full
    // form is fetched: one call and three retries.
    assert_eq!(app.upstream_calls().await.route(route::CONVERSATION), 4);
}

#[tokio::test]
async fn a_429_with_a_short_retry_after_is_waited_out_and_the_query_succeeds() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    app.set_faults(&Faults {
        rate_limit_next: 1,
        retry_after_s: 1,
        ..Faults::default()
    })
    .await;
    app.reset_calls().await;

    let started = Instant::now();
    let data = app
        .data(
            "query($id: String!) { conversation(conversationId: $id) { name } }",
            json!({ "id": ids[0] }),
        )
        .await;

    assert!(data["conversation"]["name"].is_string());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was honoured"
    );
    assert_eq!(app.upstream_calls().await.route(route::CONVERSATION), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_fast_with_the_wait_in_the_error() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    app.set_faults(&Faults {
        rate_limit_next: 1,
        retry_after_s: 120,
        ..Faults::default()
    })
    .await;

    // Upstream asks for two minutes: the answer comes long before (a
    // generous bound, a quarter of that), not after waiting them out.
    let body = tokio::time::timeout(
        Duration::from_secs(30),
        app.graphql(
            "query($id: String!) { conversation(conversationId: $id) { name } }",
            json!({ "id": ids[0] }),
        ),
    )
    .await
    .expect("answered without waiting for the Retry-After");
    assert_eq!(first_code(&body), "UPSTREAM_RATE_LIMITED", "{body:#}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"], 120);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_queries_succeed() {
    let app = spawn_with(Options {
        conversations: 20,
        ..Options::default()
    })
    .await;
    let ids = app.active_conversation_ids().await;
    app.expire_tokens().await;
    // Latency makes the calls overlap, so that many meet the dead token.
    app.set_faults(&Faults {
        latency_ms: 50,
        ..Faults::default()
    })
    .await;
    app.reset_calls().await;

    // Several different conversations at once: the calls that meet the dead
    // token get a 401 each, but only one new token is fetched.
    let queries = ids.iter().map(|id| {
        app.data(
            "query($id: String!) { conversation(conversationId: $id) { name startTime } }",
            json!({ "id": id }),
        )
    });
    let answers = futures::future::join_all(queries).await;

    assert!(answers
        .iter()
        .all(|a| a["conversation"]["name"].is_string()));
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::TOKEN), 1, "{calls:?}");
    let conversation_calls = calls.route(route::CONVERSATION);
    assert!(
        conversation_calls > ids.len() as u64 && conversation_calls <= 2 * ids.len() as u64,
        "each call at most twice: {calls:?}"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_stops_start_up_with_a_clear_error() {
    let sim = Simulator::start(SimConfig::local(2, 1))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = settings_for(
        &sim,
        dir.path(),
        &[("upstream.client_secret", "not-the-secret".into())],
    )
    .expect("valid settings");

    let result = tokio::time::timeout(Duration::from_secs(10), Gateway::build(settings))
        .await
        .expect("start-up answers, it does not hang");

    let message = format!("{:#}", result.err().expect("start-up fails"));
    assert!(
        message.contains("refused the gateway's credentials"),
        "{message}"
    );
    assert!(message.contains("COBROWSE_CLIENT_SECRET"), "{message}");
    assert!(
        !message.contains("not-the-secret"),
        "the secret is not echoed: {message}"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_gives_upstream_unavailable_not_a_hang() {
    let sim = Simulator::start(SimConfig::local(2, 1))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = settings_for(&sim, dir.path(), &[]).expect("valid settings");
    // A port nobody listens on (bound, then released).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    settings.upstream.url = Some(format!("http://{dead}").parse().expect("url"));
    settings.upstream.login_url = settings.upstream.url.clone();
    let gateway = Gateway::build(settings)
        .await
        .expect("starts and reports later");
    let addr = gateway.local_addr();
    tokio::spawn(gateway.run_until_stopped(std::future::pending()));

    let body = crate::helpers::json_of(
        crate::helpers::authorized_client()
            .post(format!("http://{addr}/graphql"))
            .json(&json!({ "query": "{ activeCobrowseConversations { totalCount } }" })),
    )
    .await;

    assert_eq!(first_code(&body), "UPSTREAM_UNAVAILABLE", "{body:#}");
}

#[tokio::test]
async fn enum_values_read_as_named_values_and_keep_their_raw_text() {
    // A value no table names reads as UNKNOWN with its raw text (the unit
    // tests of upstream::wire); every value the SDKs allow is named (those
    // of upstream::enums, from the pinned SDK fixture). Here: the
    // simulator's `Sharing` segments, which an older table did not name.
    let app = spawn_app().await;

    let data = app
        .data("{ activeCobrowseConversations { nodes { cobrowseSessions { segments { type typeRaw } } } } }", json!({}))
        .await;

    let segments: Vec<&serde_json::Value> = data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|n| n["cobrowseSessions"].as_array().expect("sessions"))
        .flat_map(|s| s["segments"].as_array().expect("segments"))
        .collect();
    assert!(
        segments.iter().all(|s| s["type"] != "UNKNOWN"),
        "{segments:?}"
    );
    let sharing: Vec<_> = segments.iter().filter(|s| s["type"] == "SHARING").collect();
    assert!(!sharing.is_empty(), "the simulator sends Sharing segments");
    assert!(sharing.iter().all(|s| s["typeRaw"] == "Sharing"));
    assert!(segments.iter().any(|s| s["type"] == "INTERACT"));
}

#[tokio::test]
async fn bad_arguments_are_bad_user_input() {
    let app = spawn_app().await;

    for query in [
        r#"{ node(id: "nonsense") { id } }"#,
        "{ activeCobrowseConversations(first: 1000) { totalCount } }",
        "{ activeCobrowseConversations(first: -1) { totalCount } }",
        r#"{ activeCobrowseConversations(after: "bad-cursor") { totalCount } }"#,
        r#"{ conversation(conversationId: "") { name } }"#,
    ] {
        let body = app.graphql(query, json!({})).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{query}: {body:#}");
    }
    assert_eq!(
        app.upstream_calls().await.total,
        0,
        "bad input never reaches upstream"
    );
}

#[tokio::test]
async fn malformed_and_invalid_documents_get_codes() {
    let app = spawn_app().await;

    let body = app
        .graphql("{ activeCobrowseConversations { ", json!({}))
        .await;
    assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED", "{body:#}");
    let body = app.graphql("{ noSuchField }", json!({})).await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body:#}");
    let deep = format!(
        "{{ activeCobrowseConversations {{ nodes {{ {} }} }} }}",
        "participants { conversation { ".repeat(10) + "name" + &" } }".repeat(10)
    );
    let body = app.graphql(&deep, json!({})).await;
    assert_eq!(first_code(&body), "QUERY_TOO_DEEP", "{body:#}");
}

#[tokio::test]
async fn a_slow_upstream_gives_upstream_timeout() {
    let app = spawn_with(Options {
        settings: vec![
            ("upstream.timeout", "150ms".into()),
            ("upstream.max_attempts", "2".into()),
        ],
        ..Options::default()
    })
    .await;
    app.set_faults(&Faults {
        latency_ms: 60_000,
        ..Faults::default()
    })
    .await;

    // Upstream answers after a minute: two attempts of 150 ms end long
    // before (a generous bound, half of it), not the upstream's minute.
    let body = tokio::time::timeout(
        Duration::from_secs(30),
        app.graphql("{ activeCobrowseConversations { totalCount } }", json!({})),
    )
    .await
    .expect("two attempts of 150 ms, not the upstream's minute");
    assert_eq!(first_code(&body), "UPSTREAM_TIMEOUT", "{body:#}");
}
