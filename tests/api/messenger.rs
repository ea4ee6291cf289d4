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
    answer(&app, &session, "accepted").await;
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
    // Its conversation, read when asked for: the customer and the agent.
    let read = app
        .data(
            "{ cobrowseSessions(first: 100, filter: { state: ACTIVE, provider: PURECLOUD }) { nodes { product conversation { conversationId participants { purpose } } } } }",
            json!({}),
        )
        .await;
    let conversation = read["cobrowseSessions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["product"] == "MESSENGER_COBROWSE")
        .map(|n| n["conversation"].clone())
        .expect("the Messenger session");
    assert_eq!(conversation["conversationId"], id, "{conversation}");
    let purposes: Vec<&str> = conversation["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["purpose"].as_str())
        .collect();
    assert_eq!(purposes, ["CUSTOMER", "AGENT"], "{conversation}");
    // While it goes on, its conversation is among the active ones (asked
    // twice: the second may come from the response cache).
    for _ in 0..2 {
        assert!(active_ids(&app).await.contains(&id.to_owned()));
    }
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
    // ...and its conversation is no longer active (no kept response says
    // otherwise).
    assert!(!active_ids(&app).await.contains(&id.to_owned()));
    // One bulk read per burst of co-browse messages, never one per event.
    let calls = app.upstream_calls().await;
    let bulk = calls.route("POST /api/v2/conversations/messages/{id}/messages/bulk");
    assert!((1..=2).contains(&bulk), "{bulk} bulk reads");
}

/// The ids of `activeCobrowseConversations`.
async fn active_ids(app: &TestApp) -> Vec<String> {
    let data = app
        .data(
            "{ activeCobrowseConversations(first: 100) { nodes { conversationId } } }",
            json!({}),
        )
        .await;
    data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["conversationId"].as_str().map(str::to_owned))
        .collect()
}

/// The customer answers an offer (`accepted` or `rejected`).
async fn answer(app: &TestApp, session: &str, outcome: &str) {
    let (status, body) = app
        .sim_post(
            None,
            &format!("/__sim/messenger/sessions/{session}/answer"),
            &json!({ "outcome": outcome }),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

/// An agent's own app (not the gateway) offers co-browse in a conversation,
/// through upstream's route: the gateway learns of it from the messages.
async fn offer_upstream(app: &TestApp, conversation: &str) -> String {
    let token = app.sim_token().await;
    let (status, offer) = app
        .sim_post(
            Some(&token),
            &format!("/api/v2/conversations/{conversation}/cobrowse"),
            &json!(null),
        )
        .await;
    assert!(status.is_success(), "{offer}");
    offer["id"].as_str().expect("a session").to_owned()
}

#[tokio::test]
async fn offers_made_elsewhere_are_heard_from_the_messages_rejected_and_expired() {
    let app = messenger_app(Faults {
        messenger_offer_ms: 400,
        ..Faults::default()
    })
    .await;
    listening(&app).await;
    let mut ws = subscriber(&app).await;
    let rejected_in = start(&app, "webmessaging").await;
    let rejected = offer_upstream(&app, rejected_in["id"].as_str().expect("an id")).await;
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.offered".into(), rejected.clone())
    );
    answer(&app, &rejected, "rejected").await;
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.rejected".into(), rejected.clone())
    );
    let shown = listed(&app, &rejected).await;
    assert_eq!(shown["state"], "ENDED", "{shown}");
    assert_eq!(shown["offer"]["outcome"], "REJECTED");
    assert_eq!(shown["offer"]["source"], "MESSAGES");
    assert!(
        shown["startTime"].is_null() && shown["endTime"].is_null(),
        "{shown}"
    );
    assert_eq!(shown["endReason"], "The customer rejected the offer");
    // Unanswered, the offer expires: the customer's Messenger says so in a message.
    let expired_in = start(&app, "webmessaging").await;
    let expired = offer_upstream(&app, expired_in["id"].as_str().expect("an id")).await;
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.offered".into(), expired.clone())
    );
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.expired".into(), expired.clone())
    );
    let shown = listed(&app, &expired).await;
    assert_eq!(
        (&shown["state"], &shown["offer"]["outcome"]),
        (&json!("ENDED"), &json!("EXPIRED")),
        "{shown}"
    );
    // Filters by state: the offers are over; none is offered or active.
    let offered = app
        .data(
            "{ cobrowseSessions(first: 10, filter: { state: OFFERED }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(offered["cobrowseSessions"]["totalCount"], 0, "{offered}");
}

#[tokio::test]
async fn offering_co_browse_needs_the_write_scope_and_upstreams_permission_by_channel() {
    let dir = tempfile::tempdir().expect("dir");
    let reader = cobrowse_gateway::auth::api_keys::generate();
    let writer = cobrowse_gateway::auth::api_keys::generate();
    let file = crate::helpers::keys_file(
        dir.path(),
        &[
            ("reader", &reader, &["read"]),
            ("writer", &writer, &["read", "write"]),
        ],
    );
    let app = spawn_with(Options {
        settings: vec![("auth.api_keys_file", file)],
        ..Options::default()
    })
    .await;
    let voice = start(&app, "voice").await;
    let id = voice["id"].as_str().expect("an id");
    let mutation = format!(
        r#"mutation {{ offerCobrowse(conversationId: "{id}") {{ channel state joinCode }} }}"#
    );
    let body = query_as(&app, &reader, &mutation).await;
    assert_eq!(crate::helpers::first_code(&body), "FORBIDDEN", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("write")),
        "{body}"
    );
    // The gateway's credentials lack the voice permission: upstream says which.
    crate::helpers::withhold(
        &app.sim.url(),
        app.sim.client_id(),
        &["conversation:cobrowseVoice:add"],
    )
    .await;
    let body = query_as(&app, &writer, &mutation).await;
    assert_eq!(
        crate::helpers::first_code(&body),
        "UPSTREAM_FORBIDDEN",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("conversation:cobrowseVoice:add")),
        "{body}"
    );
    crate::helpers::withhold(&app.sim.url(), app.sim.client_id(), &[]).await;
    let body = query_as(&app, &writer, &mutation).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["offerCobrowse"]["channel"], "VOICE");
    assert_eq!(body["data"]["offerCobrowse"]["state"], "OFFERED");
    // The join code is for agents: a reader sees the session without it.
    let read = "{ cobrowseSessions(first: 5, filter: { provider: PURECLOUD }) { nodes { channel joinCode } } }";
    let body = query_as(&app, &reader, read).await;
    assert_eq!(crate::helpers::first_code(&body), "FORBIDDEN", "{body}");
    // Each call is a new offer (not idempotent).
    let again = query_as(&app, &writer, &mutation).await;
    assert!(again["errors"].is_null(), "{again}");
    let count = query_as(
        &app,
        &reader,
        "{ cobrowseSessions(first: 5, filter: { state: OFFERED }) { totalCount } }",
    )
    .await;
    assert_eq!(
        count["data"]["cobrowseSessions"]["totalCount"], 2,
        "{count}"
    );
}

/// The answer to `query` sent with API key `key`.
async fn query_as(app: &TestApp, key: &str, query: &str) -> Value {
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("x-api-key", key)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("answers");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn refused_message_topics_are_polled_and_reported() {
    let app = messenger_app(Faults {
        reject_topics: vec![".conversations.messages".into()],
        ..Faults::default()
    })
    .await;
    listening(&app).await;
    let status = crate::live::status_at(&app.url("")).await;
    assert_eq!(status["messenger"]["mode"], "polling", "{status}");
    assert!(
        status["messenger"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("message topics were rejected")),
        "{status}"
    );
    let mut ws = subscriber(&app).await;
    // A conversation the gateway knows (its own offer), answered elsewhere:
    // the acceptance is read by polling the conversation.
    let conversation = start(&app, "webmessaging").await;
    let offered = offer(&app, conversation["id"].as_str().expect("an id")).await;
    let session = offered["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.offered".into(), session.clone())
    );
    answer(&app, &session, "accepted").await;
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.accepted".into(), session.clone())
    );
    assert!(
        app.upstream_calls()
            .await
            .route("GET /api/v2/conversations/messages/{id}")
            > 0
    );
}

const SHOP: &str = "https://shop.example.test";

/// A page of `origin` reports `event` of `session` (as the page script
/// does): the status and the answer.
async fn page_report(
    app: &TestApp,
    origin: &str,
    session: &str,
    event: &str,
    channel: &str,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url("/messenger/page-reports"))
        .header("origin", origin)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(json!({ "sessionId": session, "event": event, "channel": channel }).to_string())
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn page_app(per_minute: &str) -> TestApp {
    spawn_with(Options {
        settings: vec![
            ("messenger.page_origins", SHOP.into()),
            ("messenger.page_reports_per_minute", per_minute.into()),
        ],
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_voice_offer_made_through_the_gateway_starts_and_ends_by_the_pages_reports() {
    let app = page_app("30").await;
    let call = start(&app, "voice").await;
    let offered = offer(&app, call["id"].as_str().expect("an id")).await;
    let session = offered["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    assert_eq!(offered["channel"], "VOICE");
    // Voice leaves no message: the page is the only witness.
    let (status, body) = page_report(&app, SHOP, &session, "sessionStarted", "voice").await;
    assert_eq!(status, 200, "{body}");
    let shown = listed(&app, &session).await;
    assert_eq!(
        (&shown["state"], &shown["startSource"]),
        (&json!("ACTIVE"), &json!("PAGE")),
        "{shown}"
    );
    assert_eq!(
        shown["offer"]["outcome"], "ACCEPTED",
        "a start means the customer accepted: {shown}"
    );
    // A repeat changes nothing; the end is the page's too.
    assert_eq!(
        page_report(&app, SHOP, &session, "sessionStarted", "voice")
            .await
            .0,
        200
    );
    let (status, body) = page_report(&app, SHOP, &session, "sessionEnded", "voice").await;
    assert_eq!(status, 200, "{body}");
    let shown = listed(&app, &session).await;
    assert_eq!(
        (&shown["state"], &shown["endSource"]),
        (&json!("ENDED"), &json!("PAGE")),
        "{shown}"
    );
    assert!(
        shown["endTime"].as_str() >= shown["startTime"].as_str(),
        "{shown}"
    );
    // The page may not claim another channel for it.
    let (status, body) = page_report(&app, SHOP, &session, "sessionEnded", "webmessaging").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("CHANNEL_MISMATCH")),
        "{body}"
    );
    // Eight reports per session in all (four so far), whatever the address.
    for _ in 0..4 {
        assert_eq!(
            page_report(&app, SHOP, &session, "sessionEnded", "voice")
                .await
                .0,
            200
        );
    }
    let (status, body) = page_report(&app, SHOP, &session, "sessionEnded", "voice").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("PAGE_REPORTS_LIMITED")),
        "{body}"
    );
}

#[tokio::test]
async fn page_reports_are_refused_for_unknown_sessions_strange_origins_bad_bodies_and_floods() {
    let app = page_app("5").await;
    let call = start(&app, "voice").await;
    let offered = offer(&app, call["id"].as_str().expect("an id")).await;
    let session = offered["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    let code = |body: &Value| {
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (status, body) =
        page_report(&app, SHOP, "not-a-known-session", "sessionStarted", "voice").await;
    assert_eq!((status, code(&body).as_str()), (404, "UNKNOWN_SESSION"));
    let (status, body) = page_report(
        &app,
        "https://evil.example.test",
        &session,
        "sessionEnded",
        "voice",
    )
    .await;
    assert_eq!((status, code(&body).as_str()), (403, "ORIGIN_REFUSED"));
    let (status, body) = page_report(&app, SHOP, &session, "sessionPaused", "voice").await;
    assert_eq!((status, code(&body).as_str()), (400, "BAD_PAGE_REPORT"));
    // Nothing of those changed the session.
    let shown = listed(&app, &session).await;
    assert_eq!(shown["state"], "OFFERED", "{shown}");
    // Five reports a minute from one address (two sent above): the sixth
    // is refused, with when to retry.
    let send = || {
        reqwest::Client::new()
            .post(app.url("/messenger/page-reports"))
            .header("origin", SHOP)
            .body("{}")
            .send()
    };
    for _ in 0..3 {
        assert_eq!(send().await.expect("answers").status(), 400);
    }
    let refused = send().await.expect("answers");
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(code(&body), "PAGE_REPORTS_LIMITED");
}

#[tokio::test]
async fn without_page_origins_every_report_is_refused() {
    let app = spawn_with(Options::default()).await;
    let (status, body) = page_report(&app, SHOP, "s", "sessionStarted", "voice").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("PAGE_REPORTS_OFF")),
        "{body}"
    );
}

#[tokio::test]
async fn message_text_is_never_stored_cached_logged_or_answered() {
    use cobrowse_gateway::sim::{SimConfig, Simulator};
    let marker = format!("MARKER-{:016x}", rand::random::<u64>());
    let mut config = SimConfig::local(4, 9);
    config.faults.heartbeat_ms = 100;
    let sim = Simulator::start(config).await.expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("marker.sqlite");
    let key = crate::helpers::test_key();
    let keys = crate::helpers::keys_file(dir.path(), &[("ops", key, &["read", "write"])]);
    let mut gateway = crate::helpers::command_for(&sim, &["--listen", "127.0.0.1:0"]);
    gateway
        .env("COBROWSE_AUTH_API_KEYS_FILE", &keys)
        .env("COBROWSE_STORE_PATH", &store)
        .env("COBROWSE_LOG_FILTER", "trace")
        .env("COBROWSE_NOTIFICATIONS_ANALYTICS_LAG", "0s");
    let (mut child, base, _, logs) = crate::helpers::start(gateway).await;
    crate::live::wait_mode_at(&base, "listening", std::time::Duration::from_secs(15)).await;
    let mut ws = Ws::ready(&base).await;
    ws.subscribe("m", "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { event kind providerSessionId } }")
        .await;
    ws.sync().await;
    let side = |path: String, body: Value| {
        let url = format!("{}{path}", sim.url());
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("answers");
            assert!(response.status().is_success());
            response.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let started = side("/__sim/messenger/conversations".into(), json!({})).await;
    let id = started["id"].as_str().expect("an id").to_owned();
    // The customer writes the marker; an agent offers co-browse; the
    // customer's acceptance carries the marker too (a message the gateway
    // reads through the bulk route, text and all).
    side(
        format!("/__sim/messenger/conversations/{id}/messages"),
        json!({ "text": format!("my card is {marker}") }),
    )
    .await;
    let token =
        crate::helpers::client_token(&sim.url(), sim.client_id(), sim.client_secret().expose())
            .await;
    let offer: Value = reqwest::Client::new()
        .post(format!("{}/api/v2/conversations/{id}/cobrowse", sim.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let session = offer["id"].as_str().expect("a session").to_owned();
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.offered".into(), session.clone())
    );
    side(
        format!("/__sim/messenger/sessions/{session}/answer"),
        json!({ "outcome": "accepted", "text": format!("yes, {marker}") }),
    )
    .await;
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.accepted".into(), session.clone())
    );
    // Upstream did hand the text over: the messages the gateway reads hold it.
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/api/v2/conversations/messages/{id}", sim.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let ids: Vec<&str> = listed["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .flat_map(|p| p["messages"].as_array().expect("messages"))
        .filter_map(|m| m["messageId"].as_str())
        .collect();
    let bulk = reqwest::Client::new()
        .post(format!(
            "{}/api/v2/conversations/messages/{id}/messages/bulk",
            sim.url()
        ))
        .bearer_auth(&token)
        .json(&ids)
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    assert!(bulk.contains(&format!("yes, {marker}")), "{bulk}");
    // Every response: the listing with every field, the node, the metrics
    // (the caches' among them), readiness.
    let client = crate::helpers::authorized_client();
    let mut answers = Vec::new();
    for query in [
        format!("{{ cobrowseSessions(first: 100) {{ nodes {{ id {SESSION} joinCode participants {{ name }} }} }} }}"),
        "{ activeCobrowseConversations(first: 100) { nodes { conversationId } } }".to_owned(),
    ] {
        let text = client
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("text");
        assert!(text.contains(&session) || text.contains("activeCobrowseConversations"), "{text}");
        answers.push(text);
    }
    for path in ["/metrics", "/readyz"] {
        answers.push(
            reqwest::get(format!("{base}{path}"))
                .await
                .expect("answers")
                .text()
                .await
                .expect("text"),
        );
    }
    for answer in &answers {
        assert!(
            !answer.contains(&marker),
            "an answer holds message text: {answer}"
        );
    }
    child.kill().await.expect("stops");
    let logs = logs.await.expect("the logs");
    assert!(
        logs.contains("messages_bulk"),
        "the trace log shows the bulk read"
    );
    assert!(!logs.contains(&marker), "the log holds message text");
    for file in std::fs::read_dir(dir.path()).expect("the store's folder") {
        let path = file.expect("an entry").path();
        let bytes = std::fs::read(&path).expect("readable");
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{} holds message text",
            path.display()
        );
    }
}

#[tokio::test]
async fn history_and_statistics_count_messenger_offers_outcomes_and_known_durations() {
    let app = page_app("60").await;
    // Web messaging: one accepted (started and ended by the page), one
    // rejected; voice: one pending.
    let chat = start(&app, "webmessaging").await;
    let chat_id = chat["id"].as_str().expect("an id");
    let queue = chat["queueId"].as_str().expect("a queue").to_owned();
    let accepted = offer(&app, chat_id).await["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    let rejected = offer(&app, chat_id).await["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    answer(&app, &rejected, "rejected").await;
    answer(&app, &accepted, "accepted").await;
    assert_eq!(
        page_report(&app, SHOP, &accepted, "sessionStarted", "webmessaging")
            .await
            .0,
        200
    );
    assert_eq!(
        page_report(&app, SHOP, &accepted, "sessionEnded", "webmessaging")
            .await
            .0,
        200
    );
    // Notifications are off here: the rejection, told only in the
    // messages, is never heard, so the gateway counts that offer pending.
    let call = start(&app, "voice").await;
    offer(&app, call["id"].as_str().expect("an id")).await;
    let now = chrono::Utc::now();
    let interval = json!({
        "start": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "end": (now + chrono::Duration::minutes(1)).to_rfc3339(),
    });
    let history = app
        .data(
            "query($i: IntervalInput!) { cobrowseHistory(interval: $i, first: 50, filter: { providers: [PURECLOUD], includeActive: true }) { nodes { product providerSessionId state } } }",
            json!({ "i": interval }),
        )
        .await;
    let nodes = history["cobrowseHistory"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    let messenger: Vec<&Value> = nodes
        .iter()
        .filter(|n| n["product"] == "MESSENGER_COBROWSE")
        .collect();
    assert_eq!(messenger.len(), 3, "{history}");
    // Ended only (the default): the session the page ended.
    let ended = app
        .data(
            "query($i: IntervalInput!, $q: [String!]) { cobrowseHistory(interval: $i, first: 50, filter: { queueIds: $q }) { nodes { product providerSessionId endSource } } }",
            json!({ "i": interval, "q": [queue] }),
        )
        .await;
    let ended: Vec<Value> = ended["cobrowseHistory"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["product"] == "MESSENGER_COBROWSE")
        .cloned()
        .collect();
    assert_eq!(
        ended,
        vec![
            json!({ "product": "MESSENGER_COBROWSE", "providerSessionId": accepted, "endSource": "PAGE" })
        ]
    );
    let stats = app
        .data(
            "query($i: IntervalInput!) { cobrowseStatistics(interval: $i, groupBy: CHANNEL) { groups { channel buckets { messenger { offers accepted rejected expired pending acceptanceRate ended endedByPage averageDurationSeconds } } } } }",
            json!({ "i": interval }),
        )
        .await;
    let groups = stats["cobrowseStatistics"]["groups"]
        .as_array()
        .expect("groups");
    let of = |channel: &str| {
        groups
            .iter()
            .find(|g| g["channel"] == channel)
            .map(|g| g["buckets"][0]["messenger"].clone())
            .unwrap_or_else(|| panic!("a {channel} group: {stats}"))
    };
    let chat = of("WEB_MESSAGING");
    assert_eq!(
        (
            &chat["offers"],
            &chat["accepted"],
            &chat["ended"],
            &chat["endedByPage"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(1)),
        "{chat}"
    );
    assert!(
        chat["averageDurationSeconds"]
            .as_f64()
            .is_some_and(|s| s >= 0.0),
        "{chat}"
    );
    let voice = of("VOICE");
    assert_eq!(
        (
            &voice["offers"],
            &voice["pending"],
            &voice["acceptanceRate"]
        ),
        (&json!(1), &json!(1), &Value::Null),
        "{voice}"
    );
}

#[tokio::test]
async fn a_voice_session_without_a_page_end_ends_when_the_calls_agent_leg_ends() {
    let app = spawn_with(Options {
        conversations: 4,
        faults: Faults {
            heartbeat_ms: 100,
            ..Faults::default()
        },
        settings: vec![
            ("notifications.enabled", "true".into()),
            ("notifications.analytics_lag", "0s".into()),
            ("notifications.poll_interval", "200ms".into()),
            ("server.readiness_interval", "10ms".into()),
            ("messenger.page_origins", SHOP.into()),
        ],
        ..Options::default()
    })
    .await;
    listening(&app).await;
    let mut ws = subscriber(&app).await;
    let call = start(&app, "voice").await;
    let id = call["id"].as_str().expect("an id");
    let session = offer(&app, id).await["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.offered".into(), session.clone())
    );
    assert_eq!(
        page_report(&app, SHOP, &session, "sessionStarted", "voice")
            .await
            .0,
        200
    );
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.started".into(), session.clone())
    );
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
    assert_eq!(
        (&shown["state"], &shown["endSource"]),
        (&json!("ENDED"), &json!("CONVERSATION")),
        "{shown}"
    );
}

#[tokio::test]
async fn the_demo_runs_legacy_messenger_and_zoom_sessions_together() {
    let mut demo = crate::helpers::command(&["--listen", "127.0.0.1:0"]);
    demo.env("COBROWSE_DEMO_PACE", "50ms");
    let (mut child, base, _, _logs) = crate::helpers::start(demo).await;
    let query =
        "{ cobrowseSessions(first: 100) { nodes { product state startSource endSource } } }";
    let seen = crate::helpers::eventually(
        "the demo shows all three products",
        std::time::Duration::from_secs(30),
        || async {
            let body = crate::helpers::query_json(&base, query).await;
            assert!(body["errors"].is_null(), "{body}");
            let nodes = body["data"]["cobrowseSessions"]["nodes"]
                .as_array()
                .expect("nodes")
                .clone();
            let has = |product: &str| nodes.iter().any(|n| n["product"] == product);
            let page_told = nodes
                .iter()
                .any(|n| n["product"] == "MESSENGER_COBROWSE" && n["startSource"] == "PAGE");
            if has("LEGACY_COBROWSE")
                && has("MESSENGER_COBROWSE")
                && has("ZOOM_COBROWSE")
                && page_told
            {
                Ok(nodes)
            } else {
                Err(format!("{nodes:?}"))
            }
        },
    )
    .await;
    child.kill().await.expect("stops");
    assert!(seen.len() >= 3);
}

#[tokio::test]
async fn replicas_share_messenger_sessions_and_tell_each_others_subscribers_with_a_sequence() {
    let url = crate::helpers::postgres_database().await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            spawn_with(Options {
                settings: vec![
                    ("store.url", url.clone()),
                    ("store.catch_up_interval", "200ms".into()),
                    ("messenger.page_origins", SHOP.into()),
                ],
                ..Options::default()
            })
            .await,
        );
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    let mut watching_b = Ws::ready(&b.url("")).await;
    watching_b
        .subscribe(
            "m",
            "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { event providerSessionId sequence } }",
        )
        .await;
    watching_b.sync().await;
    let mut watching_a = subscriber(a).await;
    // An offer through replica a...
    let call = start(a, "voice").await;
    let session = offer(a, call["id"].as_str().expect("an id")).await["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    // ...is told on b, resumable by its place in the feed, and b knows it.
    let told = loop {
        if let Frame::Json(message) = watching_b.next().await {
            if message["type"] == "next" {
                break message["payload"]["data"]["cobrowseSessionUpdates"].clone();
            }
        }
    };
    assert_eq!(told["event"], "messenger.offered", "{told}");
    assert_eq!(told["providerSessionId"], session.as_str());
    assert!(
        told["sequence"]
            .as_str()
            .is_some_and(|s| s.parse::<i64>().is_ok()),
        "{told}"
    );
    assert_eq!(listed(b, &session).await["state"], "OFFERED");
    // The page reports to replica b; a's subscriber hears of it.
    assert_eq!(
        page_report(b, SHOP, &session, "sessionStarted", "voice")
            .await
            .0,
        200
    );
    assert_eq!(
        next_update(&mut watching_a).await,
        ("messenger.offered".into(), session.clone())
    );
    assert_eq!(
        next_update(&mut watching_a).await,
        ("messenger.started".into(), session.clone())
    );
    assert_eq!(listed(a, &session).await["startSource"], "PAGE");
    // The call is among a's active conversations as soon as it is told.
    assert!(active_ids(a)
        .await
        .contains(&call["id"].as_str().expect("an id").to_owned()));
}

#[tokio::test]
async fn a_conversation_transferred_to_an_agent_in_person_is_heard_on_the_agents_topic() {
    let app = messenger_app(Faults::default()).await;
    listening(&app).await;
    let status = crate::live::status_at(&app.url("")).await;
    let requirement = status["topic_requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .find(|r| r["topic"] == "v2.users.{id}.conversations.messages")
        .cloned();
    assert!(
        requirement.is_some_and(|r| r["permitted"] == true),
        "{status}"
    );
    let mut ws = subscriber(&app).await;
    let (status, direct) = app
        .sim_post(
            None,
            "/__sim/messenger/conversations",
            &json!({ "channel": "webmessaging", "direct": true }),
        )
        .await;
    assert!(status.is_success(), "{direct}");
    assert_eq!(direct["queueId"], "", "no queue: {direct}");
    let session = offer_upstream(&app, direct["id"].as_str().expect("an id")).await;
    assert_eq!(
        next_update(&mut ws).await,
        ("messenger.offered".into(), session.clone())
    );
    let shown = listed(&app, &session).await;
    assert_eq!(shown["offer"]["source"], "MESSAGES", "{shown}");
}

#[tokio::test]
async fn the_simulators_guest_routes_answer_the_offer_without_authentication_and_end_it() {
    let app = spawn_with(Options::default()).await;
    let chat = start(&app, "webmessaging").await;
    let session = offer_upstream(&app, chat["id"].as_str().expect("an id")).await;
    let deployment = chat["deploymentId"].as_str().expect("a deployment");
    let url = format!(
        "{}/api/v2/webdeployments/deployments/{deployment}/cobrowse/{session}",
        app.sim.url()
    );
    // No token: the customer's Messenger calls these.
    let offer: Value = reqwest::get(&url)
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(offer["id"], session.as_str(), "{offer}");
    assert_eq!(offer["communicationType"], "Message");
    // By join code too.
    let code = offer["joinCode"].as_str().expect("a join code");
    let by_code = url.replace(&session, code);
    assert_eq!(reqwest::get(&by_code).await.expect("answers").status(), 200);
    let ended = reqwest::Client::new()
        .delete(&url)
        .send()
        .await
        .expect("answers");
    assert_eq!(ended.status(), 204);
    assert_eq!(reqwest::get(&url).await.expect("answers").status(), 404);
    // Another deployment's session is not found.
    let other = url.replace(deployment, "another-deployment");
    assert_eq!(reqwest::get(&other).await.expect("answers").status(), 404);
}

/// Waits for the back-fill's next run on the gateway at `base` to end
/// (after `after`, an earlier run's end); what `/readyz` says of it.
async fn backfilled(base: &str, after: &Value) -> Value {
    crate::helpers::eventually(
        "the back-fill runs",
        std::time::Duration::from_secs(15),
        || async {
            let status = crate::live::status_at(base).await;
            let history = &status["messenger"]["history"];
            if !history["at"].is_null() && history["at"] != *after {
                Ok(history.clone())
            } else {
                Err(status.to_string())
            }
        },
    )
    .await
}

#[tokio::test]
async fn sessions_the_listener_never_heard_are_back_filled_from_analytics_and_their_messages_once()
{
    // Keep-alive connections would hold each restart for the whole grace.
    let grace = ("server.shutdown_grace", "50ms".to_owned());
    let quiet = vec![("notifications.enabled", "false".to_owned()), grace.clone()];
    let mut app = spawn_with(Options {
        conversations: 6,
        settings: quiet,
        ..Options::default()
    })
    .await;
    // While no gateway listens: an offer accepted in a conversation that
    // then ends, one rejected in a conversation still going on, a
    // conversation without co-browse that ends, and a voice offer.
    let ended = start(&app, "webmessaging").await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let accepted = offer_upstream(&app, &ended).await;
    answer(&app, &accepted, "accepted").await;
    let going_on = start(&app, "webmessaging").await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let rejected = offer_upstream(&app, &going_on).await;
    answer(&app, &rejected, "rejected").await;
    let plain = start(&app, "webmessaging").await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let call = start(&app, "voice").await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let voice = offer_upstream(&app, &call).await;
    for id in [&ended, &plain] {
        let (status, body) = app
            .sim_post(
                None,
                &format!("/__sim/messenger/conversations/{id}/end"),
                &json!(null),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    assert!(listed(&app, &accepted).await.is_null(), "nothing was heard");
    // A gateway that listens starts: it reads what analytics names.
    let listens = vec![
        ("notifications.enabled", "true".to_owned()),
        ("notifications.analytics_lag", "0s".to_owned()),
        ("server.readiness_interval", "10ms".to_owned()),
        grace,
    ];
    app.reset_calls().await;
    app.restart(&listens).await;
    let history = backfilled(&app.url(""), &Value::Null).await;
    assert_eq!(
        (&history["named"], &history["read"], &history["error"]),
        (&json!(3), &json!(3), &Value::Null),
        "the three messaging conversations, not the call: {history}"
    );
    let shown = listed(&app, &accepted).await;
    assert_eq!(
        (
            &shown["state"],
            &shown["offer"]["outcome"],
            &shown["endSource"]
        ),
        (&json!("ENDED"), &json!("ACCEPTED"), &json!("CONVERSATION")),
        "ended when its conversation's agent leg ended: {shown}"
    );
    assert!(!shown["startTime"].is_null() && !shown["endTime"].is_null());
    let shown = listed(&app, &rejected).await;
    assert_eq!(shown["offer"]["outcome"], "REJECTED", "{shown}");
    assert!(
        listed(&app, &voice).await.is_null(),
        "voice co-browse leaves no message to read"
    );
    let now = chrono::Utc::now();
    let interval = json!({
        "start": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "end": (now + chrono::Duration::minutes(1)).to_rfc3339(),
    });
    let past = app
        .data(
            "query($i: IntervalInput!) { cobrowseHistory(interval: $i, first: 50, filter: { providers: [PURECLOUD] }) { nodes { product providerSessionId conversationId } } }",
            json!({ "i": interval }),
        )
        .await;
    assert!(
        past["cobrowseHistory"]["nodes"]
            .as_array()
            .expect("nodes")
            .contains(&json!({ "product": "MESSENGER_COBROWSE", "providerSessionId": accepted, "conversationId": ended })),
        "{past}"
    );
    let calls = app.upstream_calls().await;
    assert_eq!(
        calls.route("GET /api/v2/conversations/messages/{id}"),
        3,
        "each conversation read once"
    );
    assert_eq!(
        calls.route("POST /api/v2/conversations/messages/{id}/messages/bulk"),
        2,
        "one bulk read per conversation with co-browse messages"
    );
    // Restarted again, the gateway reads only the conversation still going
    // on: the others were read to their end.
    app.reset_calls().await;
    app.restart(&listens).await;
    let history = backfilled(&app.url(""), &Value::Null).await;
    assert_eq!(
        (&history["named"], &history["read"]),
        (&json!(3), &json!(1)),
        "{history}"
    );
    assert_eq!(
        app.upstream_calls()
            .await
            .route("GET /api/v2/conversations/messages/{id}"),
        1
    );
}
