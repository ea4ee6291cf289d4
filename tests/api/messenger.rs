//! Co-browse for Messenger (docs/upstream.md, "Co-browse for Messenger"):
//! offers and outcomes heard on the message topics and resolved through
//! the bulk messages route; offers made through the gateway's mutation;
//! the same sessions in the listing and the subscription stream.

use cobrowse_gateway::sim::Faults;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, Frame, Options, TestApp, Ws};

const SESSION: &str = "product channel state providerSessionId conversationId startTime endTime startSource endSource endReason offer { outcome source offeredAt endsAt answeredAt }";

async fn messenger_app(faults: Faults) -> TestApp {
    spawn_with(Options {
        conversations: 6,
        faults: Faults {
            heartbeat_ms: 100,
            ..faults
        },
        settings: vec![
            ("notifications.enabled", "true".into()),
            ("notifications.analytics_lag", "0s".into()),
            ("notifications.heartbeat_timeout", "1s".into()),
            ("server.readiness_interval", "10ms".into()),
        ],
        ..Options::default()
    })
    .await
}

/// A customer starts a conversation in the simulator: its id.
async fn start(app: &TestApp, channel: &str) -> Value {
    let (status, started) = app
        .sim_post(
            None,
            "/__sim/messenger/conversations",
            &json!({ "channel": channel }),
        )
        .await;
    assert!(status.is_success(), "{started}");
    started
}

/// The gateway's listener is subscribed to every queue's topics.
async fn listening(app: &TestApp) {
    crate::live::wait_mode_at(
        &app.url(""),
        "listening",
        std::time::Duration::from_secs(15),
    )
    .await;
}

/// A subscriber to the Messenger updates, ready.
async fn subscriber(app: &TestApp) -> Ws {
    let mut ws = Ws::ready(&app.url("")).await;
    ws.subscribe(
        "m",
        "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { event kind providerSessionId } }",
    )
    .await;
    ws.sync().await;
    ws
}

/// The next update's event and session id.
async fn next_update(ws: &mut Ws) -> (String, String) {
    loop {
        if let Frame::Json(message) = ws.next().await {
            if message["type"] != "next" {
                continue;
            }
            let update = &message["payload"]["data"]["cobrowseSessionUpdates"];
            assert!(update.is_object(), "{message}");
            return (
                update["event"].as_str().expect("an event").to_owned(),
                update["providerSessionId"]
                    .as_str()
                    .expect("an id")
                    .to_owned(),
            );
        }
    }
}

/// The agent's app offers co-browse through the gateway.
async fn offer(app: &TestApp, conversation: &str) -> Value {
    let body = app
        .graphql(
            &format!("mutation($c: String!) {{ offerCobrowse(conversationId: $c) {{ {SESSION} joinCode }} }}"),
            json!({ "c": conversation }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["offerCobrowse"].clone()
}

/// The session as the listing shows it.
async fn listed(app: &TestApp, id: &str) -> Value {
    let data = app
        .data(
            &format!("{{ cobrowseSessions(first: 100, filter: {{ provider: PURECLOUD }}) {{ nodes {{ {SESSION} }} }} }}"),
            json!({}),
        )
        .await;
    data["cobrowseSessions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["providerSessionId"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_offer_accepted_in_web_messaging_is_heard_and_listed_active() {
    let app = messenger_app(Faults::default()).await;
    listening(&app).await;
    let mut ws = subscriber(&app).await;
    let conversation = start(&app, "webmessaging").await;
    let id = conversation["id"].as_str().expect("an id");
    let offered = offer(&app, id).await;
    let session = offered["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    assert_eq!(offered["product"], "MESSENGER_COBROWSE");
    assert_eq!(offered["channel"], "WEB_MESSAGING");
    assert_eq!(offered["state"], "OFFERED");
    assert_eq!(offered["offer"]["source"], "GATEWAY");
    assert!(
        offered["joinCode"].as_str().is_some_and(|c| c.len() == 6),
        "{offered}"
    );
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.offered".into(), session.clone())
    );
    // The customer accepts: a message with a CoBrowse event, resolved by id.
    let (status, _) = app
        .sim_post(
            None,
            &format!("/__sim/messenger/sessions/{session}/answer"),
            &json!({ "outcome": "accepted" }),
        )
        .await;
    assert!(status.is_success());
    // The offer's own message is heard too (known already: no update), then the acceptance.
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.accepted".into(), session.clone())
    );
    let shown = listed(&app, &session).await;
    assert_eq!(shown["state"], "ACTIVE", "{shown}");
    assert_eq!(shown["startSource"], "MESSAGES");
    assert_eq!(shown["offer"]["outcome"], "ACCEPTED");
    assert_eq!(shown["conversationId"], id);
    // The agent's leg ends: without the page script, the session ends with it, and says so.
    let (status, _) = app
        .sim_post(
            None,
            &format!("/__sim/messenger/conversations/{id}/end"),
            &json!(null),
        )
        .await;
    assert!(status.is_success());
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.ended".into(), session.clone())
    );
    let shown = listed(&app, &session).await;
    assert_eq!(shown["state"], "ENDED", "{shown}");
    assert_eq!(shown["endSource"], "CONVERSATION");
    assert!(
        shown["endReason"]
            .as_str()
            .is_some_and(|r| r.contains("agent")),
        "{shown}"
    );
    // One bulk read per burst of co-browse messages, never one per event.
    let calls = app.upstream_calls().await;
    let bulk = calls.route("POST /api/v2/conversations/messages/{id}/messages/bulk");
    assert!((1..=2).contains(&bulk), "{bulk} bulk reads");
}
