//! GraphQL over WebSocket: the protocol's refusals, the bounds of a socket,
//! and credentials that stop being valid while a socket is open.

use std::time::Duration;

use serde_json::json;

use crate::auth::{claims, hs256, jwt_settings, partner_token, SECRET};
use crate::helpers::{spawn_with, test_key, Frame, Options, TestApp, Ws};

const UPDATES: &str = "subscription { cobrowseSessionUpdates { event } }";

fn base(app: &TestApp) -> String {
    app.addr.to_string()
}

async fn app_with(settings: Vec<(&'static str, String)>) -> TestApp {
    spawn_with(Options {
        settings,
        ..Options::default()
    })
    .await
}

/// The next message, which must be an `error` for `id`: its first code.
async fn error_code(ws: &mut Ws, id: &str) -> String {
    match ws.next().await {
        Frame::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(message["id"], id, "{message}");
            message["payload"][0]["extensions"]["code"]
                .as_str()
                .expect("a code")
                .to_owned()
        }
        other => panic!("expected an error message, got {other:?}"),
    }
}

#[tokio::test]
async fn subscribe_before_connection_init_closes_with_4401() {
    let app = app_with(Vec::new()).await;
    let mut ws = Ws::open(&base(&app)).await;
    ws.subscribe("1", UPDATES).await;
    assert_eq!(ws.closed().await.0, 4401);
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let app = app_with(Vec::new()).await;
    let mut ws = Ws::ready(&base(&app)).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", test_key()) } }))
        .await;
    assert_eq!(ws.closed().await.0, 4429);
}

#[tokio::test]
async fn an_id_already_running_closes_with_4409_and_a_completed_one_may_be_used_again() {
    let app = app_with(Vec::new()).await;
    let mut ws = Ws::ready(&base(&app)).await;
    ws.subscribe("a", UPDATES).await;
    ws.send(json!({ "id": "a", "type": "complete" })).await;
    ws.subscribe("a", UPDATES).await;
    ws.sync().await;
    ws.subscribe("a", UPDATES).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4409);
    assert!(
        reason.contains("Subscriber for a already exists"),
        "{reason}"
    );
}

#[tokio::test]
async fn unreadable_messages_close_with_4400_and_say_why() {
    let app = app_with(Vec::new()).await;
    for (text, why) in [
        ("not json", "not JSON"),
        (r#"{"type": "launch"}"#, "unknown message type"),
        (
            r#"{"type": "subscribe", "id": "1", "payload": {"query": 42}}"#,
            "payload.query",
        ),
    ] {
        let mut ws = Ws::ready(&base(&app)).await;
        ws.send_text(text.into()).await;
        let (code, reason) = ws.closed().await;
        assert_eq!(code, 4400, "{text}");
        assert!(reason.contains(why), "{text}: {reason}");
    }
}

#[tokio::test]
async fn a_socket_runs_at_most_its_limit_of_operations() {
    let app = app_with(vec![("server.max_subscriptions_per_socket", "3".into())]).await;
    let mut ws = Ws::ready(&base(&app)).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, UPDATES).await;
    }
    ws.subscribe("4", UPDATES).await;
    assert_eq!(error_code(&mut ws, "4").await, "TOO_MANY_SUBSCRIPTIONS");
    // Completing one makes room for another.
    ws.send(json!({ "id": "2", "type": "complete" })).await;
    ws.subscribe("5", UPDATES).await;
    ws.sync().await;
    ws.subscribe("6", UPDATES).await;
    assert_eq!(error_code(&mut ws, "6").await, "TOO_MANY_SUBSCRIPTIONS");
}

#[tokio::test]
async fn every_subscribe_counts_against_the_callers_rate_limit() {
    let app = app_with(vec![
        ("limits.requests_per_second", "0.001".into()),
        ("limits.request_burst", "2".into()),
    ])
    .await;
    // The connection itself is one request of the burst.
    let mut ws = Ws::ready(&base(&app)).await;
    ws.subscribe("1", UPDATES).await;
    ws.subscribe("2", UPDATES).await;
    let message = match ws.next().await {
        Frame::Json(message) => message,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(message["id"], "2", "{message}");
    assert_eq!(message["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(message["payload"][0]["extensions"]["retryAfterSeconds"].as_f64() > Some(0.0));
    // And HTTP requests of the same caller share the bucket.
    let status = app
        .post_graphql(&json!({ "query": "{ __typename }" }))
        .await
        .status();
    assert_eq!(status, 429);
}

#[tokio::test]
async fn the_older_graphql_ws_dialect_starts_and_stops_operations() {
    let app = app_with(Vec::new()).await;
    let mut ws = Ws::open_with(&base(&app), "graphql-ws").await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", test_key()) } }))
        .await;
    assert!(matches!(ws.next().await, Frame::Json(m) if m["type"] == "connection_ack"));
    ws.send(json!({ "id": "q", "type": "start", "payload": { "query": "{ __typename }" } }))
        .await;
    match ws.next().await {
        Frame::Json(m) => {
            assert_eq!(m["type"], "data", "{m}");
            assert_eq!(m["payload"]["data"]["__typename"], "Query");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(ws.next().await, Frame::Json(m) if m["type"] == "complete"));
    ws.send(json!({ "id": "s", "type": "start", "payload": { "query": UPDATES } }))
        .await;
    ws.send(json!({ "id": "s", "type": "stop" })).await;
    assert!(matches!(ws.next().await, Frame::Json(m) if m["type"] == "complete" && m["id"] == "s"));
}

/// The close code and reason of `ws`, which the gateway is to close: a
/// socket still open after 30 s (far past any of the tests' intervals) is a
/// missed close and fails the test.
async fn closes(ws: &mut Ws) -> (u16, String) {
    tokio::time::timeout(Duration::from_secs(30), ws.closed())
        .await
        .expect("the gateway closes the socket")
}

#[tokio::test]
async fn a_revoked_api_key_ends_its_subscriptions_with_4403() {
    use cobrowse_gateway::auth::api_keys::{entry, generate};
    let dir = tempfile::tempdir().expect("dir");
    let (kept, revoked) = (generate(), generate());
    let path = dir.path().join("keys.toml");
    let replace = |text: String| {
        let next = dir.path().join("keys.toml.next");
        std::fs::write(&next, text).expect("written");
        std::fs::rename(&next, &path).expect("renamed");
    };
    replace(entry("kept", &kept, &["read"]) + &entry("revoked", &revoked, &["read"]));
    let app = app_with(vec![
        ("auth.api_keys_file", path.display().to_string()),
        ("auth.reload_interval", "20ms".into()),
    ])
    .await;
    let mut doomed = Ws::ready_with(&base(&app), json!({ "X-API-Key": revoked })).await;
    let mut fine = Ws::ready_with(&base(&app), json!({ "X-API-Key": kept })).await;
    doomed.subscribe("1", UPDATES).await;
    fine.subscribe("1", UPDATES).await;
    doomed.sync().await;
    fine.sync().await;

    replace(entry("kept", &kept, &["read"]));
    let (code, reason) = closes(&mut doomed).await;
    assert_eq!(code, 4403);
    assert!(reason.contains("no longer valid"), "{reason}");
    fine.sync().await;
}

#[tokio::test]
async fn an_expired_jwt_ends_its_subscriptions_with_4403_at_its_expiry() {
    let app = app_with(jwt_settings(&[("auth.jwt_leeway", "0s".into())])).await;
    let expiry = chrono::Utc::now().timestamp() + 2;
    let token = hs256(SECRET, &claims(json!({ "exp": expiry })));
    let mut ws = Ws::ready_with(
        &base(&app),
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await;
    ws.subscribe("1", UPDATES).await;
    let (code, reason) = closes(&mut ws).await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    assert!(
        chrono::Utc::now().timestamp() >= expiry,
        "not before its exp"
    );
}

#[tokio::test]
async fn a_passthrough_token_revoked_upstream_ends_its_subscriptions_with_4403() {
    let app = app_with(vec![
        ("auth.mode", "passthrough".into()),
        ("auth.token_check_ttl", "200ms".into()),
    ])
    .await;
    let token = partner_token(&app, &["div-north"]).await;
    let mut ws = Ws::ready_with(
        &base(&app),
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await;
    ws.subscribe("1", UPDATES).await;
    ws.sync().await;
    app.expire_tokens().await;
    let (code, reason) = closes(&mut ws).await;
    assert_eq!(code, 4403, "{reason}");
}
