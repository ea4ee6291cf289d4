//! Zoom Cobrowse webhooks end to end: signatures, validation, durable and
//! idempotent ingest, out-of-order delivery, the unified session graph, the
//! Engage keys and live updates.

use cobrowse_gateway::secret::Secret;
use cobrowse_gateway::zoom::signature::sign;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{session_events, spawn_app, spawn_with, Options, TestApp, ZOOM_SECRET};

impl TestApp {
    async fn zoom_sessions(&self) -> Value {
        self.data(
            r#"{ cobrowseSessions(filter: { provider: ZOOM }) { totalCount nodes {
                id providerSessionId state startTime endTime durationSeconds startUrl pin endReason
                participants { name role providerUserId connections { connectionId joinTime leaveTime leaveReason } }
                attachedData { coBrowseAssociated coBrowseSessionsQuantity coBrowseSessionId coBrowseDuration isCoBrowseDenied pairs { key value } }
            } } }"#,
            json!({}),
        )
        .await["cobrowseSessions"]
            .clone()
    }
}

#[tokio::test]
async fn zoom_url_validation_is_answered_with_the_encrypted_token() {
    let app = spawn_app().await;

    let (status, body) = app.webhook(&json!({ "event": "endpoint.url_validation", "event_ts": 1, "payload": { "plainToken": "qgg8vlvZRS6UYooatFL8Aw" } })).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    let expected = cobrowse_gateway::zoom::signature::encrypt_token(
        &Secret::new(ZOOM_SECRET),
        "qgg8vlvZRS6UYooatFL8Aw",
    );
    assert_eq!(body["encryptedToken"], expected);
}

#[tokio::test]
async fn missing_wrong_or_stale_signatures_are_401_and_store_nothing() {
    let app = spawn_app().await;
    let body = session_events("s-sig", "Noah", "2026-11-22T09:00:00Z")[0].to_string();
    let now = chrono::Utc::now().timestamp();
    let stale = (now - 600).to_string();
    let fresh = now.to_string();
    let secret = Secret::new(ZOOM_SECRET);
    let cases = [
        (None, None),
        (Some(fresh.clone()), None),
        (
            Some(fresh.clone()),
            Some(sign(
                &Secret::new("not-the-secret"),
                &fresh,
                body.as_bytes(),
            )),
        ),
        (
            Some(fresh.clone()),
            Some(sign(&secret, &fresh, b"another body")),
        ),
        (
            Some(stale.clone()),
            Some(sign(&secret, &stale, body.as_bytes())),
        ),
    ];
    for (timestamp, signature) in cases {
        let (status, answer) = app
            .webhook_raw(body.clone(), timestamp.as_deref(), signature.as_deref())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"]["code"], "INVALID_SIGNATURE");
    }
    assert_eq!(app.zoom_sessions().await["totalCount"], 0);
}

#[tokio::test]
async fn text_fields_are_measured_in_characters_not_bytes() {
    let app = spawn_app().await;
    let named = |name: String| {
        let mut event = session_events("s-names", "Noah", "2026-11-22T09:00:00Z")[1].clone();
        event["payload"]["object"]["user_name"] = json!(name);
        event
    };
    // 2,048 two-byte characters are 4,096 bytes and within the limit.
    let (status, answer) = app.webhook(&named("é".repeat(2_048))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = app.webhook(&named("é".repeat(2_049))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "INVALID_FIELD");
    assert!(answer["error"]["message"]
        .as_str()
        .expect("message")
        .contains("2048 characters"));
}

#[tokio::test]
async fn malformed_unknown_or_incomplete_events_are_400_and_store_nothing() {
    let app = spawn_app().await;
    let mut unknown = session_events("s-bad", "Noah", "2026-11-22T09:00:00Z")[0].clone();
    unknown["event"] = json!("cobrowse.session_paused");
    let mut incomplete = session_events("s-bad", "Noah", "2026-11-22T09:00:00Z")[1].clone();
    incomplete["payload"]["object"]
        .as_object_mut()
        .expect("object")
        .remove("join_time");
    let mut wrong_type = session_events("s-bad", "Noah", "2026-11-22T09:00:00Z")[0].clone();
    wrong_type["event_ts"] = json!("yesterday");

    for (body, code, says) in [
        (unknown, "UNKNOWN_EVENT", "cobrowse.session_paused"),
        (incomplete, "MISSING_FIELD", "payload.object.join_time"),
        (wrong_type, "INVALID_FIELD", "event_ts"),
    ] {
        let (status, answer) = app.webhook(&body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["code"], code);
        assert!(
            answer["error"]["message"]
                .as_str()
                .expect("message")
                .contains(says),
            "{answer}"
        );
    }
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let raw = "{ not json".to_owned();
    let signature = sign(&Secret::new(ZOOM_SECRET), &timestamp, raw.as_bytes());
    let (status, answer) = app
        .webhook_raw(raw, Some(&timestamp), Some(&signature))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], "MALFORMED_JSON");
    assert_eq!(app.zoom_sessions().await["totalCount"], 0);
}

#[tokio::test]
async fn a_redelivered_event_is_stored_once_and_extra_fields_are_accepted() {
    let app = spawn_app().await;
    let mut started = session_events("s-dup", "Noah", "2026-11-22T09:00:00Z")[0].clone();
    started["payload"]["object"]["a_field_zoom_added_later"] = json!({ "nested": true });

    let (first, body) = app.webhook(&started).await;
    assert_eq!(
        (first, body["status"].as_str()),
        (StatusCode::OK, Some("stored"))
    );
    let (again, body) = app.webhook(&started).await;
    assert_eq!(
        (again, body["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );

    let sessions = app.zoom_sessions().await;
    assert_eq!(sessions["totalCount"], 1);
    assert_eq!(sessions["nodes"][0]["state"], "ACTIVE");
    assert_eq!(
        sessions["nodes"][0]["startUrl"],
        "https://shop.example.com/checkout"
    );
}

#[tokio::test]
async fn events_in_any_order_fold_into_the_same_session() {
    let app = spawn_app().await;
    for event in session_events("in-order", "Noah", "2026-11-22T09:00:00Z") {
        assert_eq!(app.webhook(&event).await.0, StatusCode::OK);
    }
    let mut reversed = session_events("reversed", "Noah", "2026-11-22T09:00:00Z");
    reversed.reverse();
    for event in reversed {
        assert_eq!(app.webhook(&event).await.0, StatusCode::OK);
    }

    let sessions = app.zoom_sessions().await;
    let nodes = sessions["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2);
    let strip = |node: &Value| {
        let mut node = node.clone();
        for key in ["id", "providerSessionId"] {
            node.as_object_mut().expect("object").remove(key);
        }
        node["attachedData"]
            .as_object_mut()
            .expect("object")
            .remove("coBrowseSessionId");
        node["attachedData"]
            .as_object_mut()
            .expect("object")
            .remove("pairs");
        node
    };
    assert_eq!(strip(&nodes[0]), strip(&nodes[1]));
    let node = &nodes[0];
    assert_eq!(node["state"], "ENDED");
    assert_eq!(node["pin"], "482913");
    assert_eq!(node["endReason"], "The session ended");
    assert_eq!(node["durationSeconds"], 600.0);
    let agent = node["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["role"] == "AGENT")
        .expect("agent")
        .clone();
    assert_eq!(agent["name"], "Noah");
    assert_eq!(
        agent["connections"].as_array().expect("connections").len(),
        2
    );
    assert_eq!(
        agent["connections"][0]["leaveReason"],
        "Network connection error"
    );
}

#[tokio::test]
async fn a_store_failure_answers_503_so_that_zoom_retries() {
    let app = spawn_app().await;
    let url = format!(
        "sqlite://{}",
        app.dir.path().join("events.sqlite").display()
    );
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("the store file opens");
    sqlx::query("DROP TABLE zoom_events")
        .execute(&pool)
        .await
        .expect("dropped");

    let (status, answer) = app
        .webhook(&session_events("s-fail", "Noah", "2026-11-22T09:00:00Z")[0])
        .await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "STORE_UNAVAILABLE");
}

#[tokio::test]
async fn sessions_of_both_providers_are_listed_filtered_and_fetched_by_id() {
    let app = spawn_app().await;
    for event in session_events("zoom-old", "Noah", "2020-01-01T10:00:00Z") {
        app.webhook(&event).await;
    }
    for event in &session_events("zoom-live", "Mia", "2026-11-22T09:00:00Z")[..3] {
        app.webhook(event).await;
    }
    let app = &app;
    let list = |filter: &str| {
        let query = format!("{{ cobrowseSessions(filter: {filter}) {{ totalCount nodes {{ id provider providerSessionId state }} }} }}");
        async move { app.data(&query, json!({})).await["cobrowseSessions"].clone() }
    };

    let all = list("{}").await;
    let zoom = list("{ provider: ZOOM }").await;
    let purecloud = list("{ provider: PURECLOUD }").await;
    assert_eq!(zoom["totalCount"], 2);
    assert!(purecloud["totalCount"].as_u64().expect("count") > 0);
    assert_eq!(
        all["totalCount"].as_u64(),
        Some(
            zoom["totalCount"].as_u64().expect("n") + purecloud["totalCount"].as_u64().expect("n")
        )
    );
    let live_zoom = list("{ provider: ZOOM, state: ACTIVE }").await;
    assert_eq!(live_zoom["nodes"][0]["providerSessionId"], "zoom-live");
    let old = list(r#"{ startedBefore: "2021-01-01T00:00:00Z" }"#).await;
    assert_eq!(old["totalCount"], 1);
    assert_eq!(old["nodes"][0]["providerSessionId"], "zoom-old");

    let id = old["nodes"][0]["id"].clone();
    let node = app.data("query($id: ID!) { node(id: $id) { __typename ... on Session { provider providerSessionId state } } }", json!({ "id": id })).await;
    assert_eq!(
        node["node"],
        json!({ "__typename": "Session", "provider": "ZOOM", "providerSessionId": "zoom-old", "state": "ENDED" })
    );

    let body = app.graphql(r#"{ cobrowseSessions(filter: { startedAfter: "2026-01-01T00:00:00Z", startedBefore: "2025-01-01T00:00:00Z" }) { totalCount } }"#, json!({})).await;
    assert_eq!(crate::helpers::first_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_zoom_session_exposes_the_engage_keys_of_its_agent() {
    let app = spawn_app().await;
    for event in &session_events("engage", "Noah", "2026-11-22T09:00:00Z")[..3] {
        app.webhook(event).await;
    }
    let joined = app.zoom_sessions().await["nodes"][0]["attachedData"].clone();
    assert_eq!(joined["coBrowseAssociated"], true);
    assert_eq!(joined["coBrowseSessionsQuantity"], 1);
    assert_eq!(joined["coBrowseSessionId"], "engage");
    assert!(
        joined["isCoBrowseDenied"].is_null(),
        "absent while never denied"
    );
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
        .expect("time")
        .timestamp_millis()
        .to_string();
    assert_eq!(
        joined["pairs"],
        json!([
            { "key": "CoBrowseAssociated", "value": "Yes" },
            { "key": "CoBrowseSessionsQuantity", "value": "1" },
            { "key": "CoBrowseSessionId", "value": "engage" },
            { "key": "CoBrowseStartTime", "value": start },
        ])
    );

    for event in &session_events("engage", "Noah", "2026-11-22T09:00:00Z")[3..] {
        app.webhook(event).await;
    }
    let exited = app.zoom_sessions().await["nodes"][0]["attachedData"].clone();
    assert_eq!(exited["coBrowseAssociated"], false);
    assert_eq!(
        exited["coBrowseDuration"], 600,
        "from the session start to the agent's last exit"
    );
    let keys: Vec<&str> = exited["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| p["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        [
            "CoBrowseAssociated",
            "CoBrowseSessionsQuantity",
            "CoBrowseSessionId",
            "CoBrowseStartTime",
            "CoBrowseDuration",
            "CoBrowseEndTime"
        ]
    );
}

#[tokio::test]
async fn an_agent_over_the_session_limit_is_denied() {
    let app = spawn_with(Options {
        settings: vec![("engage.agent_sessions_limit", "1".into())],
        ..Options::default()
    })
    .await;
    // Noah is in session A (joined at 09:01, still connected) when session B
    // starts at 09:05 and he joins it.
    for event in &session_events("limit-a", "Noah", "2026-11-22T09:00:00Z")[..3] {
        app.webhook(event).await;
    }
    for event in &session_events("limit-b", "Noah", "2026-11-22T09:05:00Z")[..3] {
        app.webhook(event).await;
    }

    let sessions = app.zoom_sessions().await;
    let by_id = |id: &str| {
        sessions["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["providerSessionId"] == id)
            .expect("session")["attachedData"]
            .clone()
    };
    let a = by_id("limit-a");
    let b = by_id("limit-b");
    assert!(a["isCoBrowseDenied"].is_null(), "{a}");
    assert_eq!(b["isCoBrowseDenied"], true, "{b}");
    assert!(
        b["coBrowseSessionsQuantity"].is_null(),
        "a denied session is not counted: {b}"
    );
    assert!(b["pairs"]
        .as_array()
        .expect("pairs")
        .contains(&json!({ "key": "IsCoBrowseDenied", "value": "Yes" })));
}

#[tokio::test]
async fn purecloud_conversations_expose_the_engage_keys_of_their_sessions() {
    let app = spawn_with(Options {
        conversations: 24,
        ..Options::default()
    })
    .await;
    let data = app
        .data(
            "{ activeCobrowseConversations { nodes { cobrowseSessions { providerSessionId startTime } attachedData { coBrowseAssociated coBrowseSessionsQuantity coBrowseSessionId coBrowseStartTime coBrowseDuration isCoBrowseDenied } } } }",
            json!({}),
        )
        .await;
    let nodes = data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes");
    let two = nodes
        .iter()
        .find(|n| n["cobrowseSessions"].as_array().expect("s").len() == 2)
        .expect("a conversation with two sessions");
    let keys = &two["attachedData"];
    assert_eq!(keys["coBrowseSessionsQuantity"], 2);
    assert_eq!(
        keys["coBrowseSessionId"], two["cobrowseSessions"][1]["providerSessionId"],
        "the latest session"
    );
    assert_eq!(
        keys["coBrowseStartTime"], two["cobrowseSessions"][0]["startTime"],
        "the first session's start"
    );
    assert_eq!(
        keys["coBrowseAssociated"], true,
        "the agent is in the live second session"
    );
    assert!(
        keys["coBrowseDuration"]
            .as_i64()
            .expect("duration of the first session")
            > 0
    );
    assert!(keys["isCoBrowseDenied"].is_null());
}

#[tokio::test]
async fn subscribers_see_sessions_change_as_webhooks_arrive() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let app = spawn_app().await;
    let mut socket = crate::helpers::ws_connect(&app.addr.to_string()).await;
    let send = |value: Value| Message::Text(value.to_string().into());
    socket
        .send(send(json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {}", crate::helpers::test_key()) }
        })))
        .await
        .expect("sent");
    let next_json = |message: Option<Result<Message, _>>| -> Value {
        match message.expect("a message").expect("no error") {
            Message::Text(text) => serde_json::from_str(&text).expect("json"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(next_json(socket.next().await)["type"], "connection_ack");
    socket
        .send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { cobrowseSessionUpdates(providerSessionId: \"live\") { event session { providerSessionId state participants { name } } } }" } })))
        .await
        .expect("sent");
    // The subscription is registered once the server has read the message;
    // a ping round trip proves it has.
    socket
        .send(send(json!({ "type": "ping" })))
        .await
        .expect("sent");
    assert_eq!(next_json(socket.next().await)["type"], "pong");

    let events = session_events("live", "Noah", "2026-11-22T09:00:00Z");
    app.webhook(&events[0]).await;
    app.webhook(&events[2]).await;

    let first = next_json(socket.next().await);
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(
        first["payload"]["data"]["cobrowseSessionUpdates"]["event"],
        "cobrowse.session_started"
    );
    let second = next_json(socket.next().await);
    assert_eq!(
        second["payload"]["data"]["cobrowseSessionUpdates"]["event"],
        "cobrowse.session_user_joined"
    );
    assert_eq!(
        second["payload"]["data"]["cobrowseSessionUpdates"]["session"]["participants"]
            .as_array()
            .expect("people")
            .len(),
        2
    );
}

#[tokio::test]
async fn ended_sessions_past_their_retention_are_deleted() {
    let app = spawn_with(Options {
        settings: vec![("store.retention", "1s".into())],
        ..Options::default()
    })
    .await;
    for event in session_events("ancient", "Noah", "2020-01-01T10:00:00Z") {
        app.webhook(&event).await;
    }
    for event in &session_events("ongoing", "Mia", "2020-01-01T10:00:00Z")[..3] {
        app.webhook(event).await;
    }

    // The purge runs every second; wait for it.
    let left = crate::helpers::eventually(
        "the purge runs",
        std::time::Duration::from_secs(10),
        || async {
            let sessions = app.zoom_sessions().await;
            let left: Vec<String> = sessions["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| n["providerSessionId"].as_str().expect("id").to_owned())
                .collect();
            if left.len() == 1 {
                Ok(left)
            } else {
                Err(format!("{left:?}"))
            }
        },
    )
    .await;
    assert_eq!(
        left,
        ["ongoing"],
        "the ended session went; the active one, however old, stays"
    );
}

#[tokio::test]
async fn pages_of_sessions_across_providers_do_not_overlap_and_cover_all() {
    let app = spawn_app().await;
    for (i, base) in [
        "2026-11-22T08:00:00Z",
        "2026-11-22T08:10:00Z",
        "2026-11-22T08:20:00Z",
    ]
    .iter()
    .enumerate()
    {
        for event in &session_events(&format!("page-{i}"), "Noah", base)[..2] {
            app.webhook(event).await;
        }
    }
    let page = "query($after: String) { cobrowseSessions(first: 4, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { provider providerSessionId startTime } } } }";
    let (mut seen, mut after, mut starts) = (Vec::new(), Value::Null, Vec::new());
    let total = loop {
        let data = app.data(page, json!({ "after": after })).await;
        let connection = &data["cobrowseSessions"];
        for edge in connection["edges"].as_array().expect("edges") {
            seen.push(format!(
                "{}:{}",
                edge["node"]["provider"], edge["node"]["providerSessionId"]
            ));
            starts.push(edge["node"]["startTime"].as_str().map(str::to_owned));
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break connection["totalCount"].as_u64().expect("count") as usize;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    };
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (unique.len(), seen.len()),
        (total, total),
        "every session once: {seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.starts_with("\"ZOOM\""))
            && seen.iter().any(|s| s.starts_with("\"PURECLOUD\""))
    );
    let parsed: Vec<_> = starts
        .iter()
        .flatten()
        .map(|s| chrono::DateTime::parse_from_rfc3339(s).expect("time"))
        .collect();
    assert!(
        parsed.windows(2).all(|w| w[0] >= w[1]),
        "newest start first"
    );
}

#[tokio::test]
async fn an_oversized_webhook_body_is_413_and_stores_nothing() {
    let app = spawn_with(Options {
        settings: vec![("webhooks.max_body_bytes", "1024".into())],
        ..Options::default()
    })
    .await;
    let mut started = session_events("big", "Noah", "2026-11-22T09:00:00Z")[0].clone();
    started["payload"]["object"]["padding"] = json!("x".repeat(2048));

    let (status, answer) = app.webhook(&started).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(app.zoom_sessions().await["totalCount"], 0);
}

#[tokio::test]
async fn responses_with_pushed_zoom_data_are_not_cacheable() {
    let app = spawn_app().await;
    app.webhook(&session_events("fresh", "Noah", "2026-11-22T09:00:00Z")[0])
        .await;

    let response = app
        .http
        .post(app.url("/graphql"))
        .json(
            &json!({ "query": "{ cobrowseSessions(filter: { provider: ZOOM }) { totalCount } }" }),
        )
        .send()
        .await
        .map(crate::helpers::verified)
        .expect("answers");

    assert_eq!(
        response.headers()["cache-control"],
        "private, max-age=0",
        "webhook data changes at any moment"
    );
}

/// The next update's event, kind, and the session's state and end reason.
async fn next_update(ws: &mut crate::helpers::Ws) -> Value {
    loop {
        if let crate::helpers::Frame::Json(message) = ws.next().await {
            if message["type"] == "next" {
                return message["payload"]["data"]["cobrowseSessionUpdates"].clone();
            }
        }
    }
}

/// A Zoom session whose end never came (a lost delivery) is taken as
/// ended once no event came for `webhooks.zoom_idle_after`: ended at its
/// latest activity with an end reason that says so, told, counted, its
/// Engage keys following; a later event makes it active again.
#[tokio::test]
async fn a_session_whose_end_never_came_is_ended_when_it_goes_idle_and_wakes_on_a_later_event() {
    let app = spawn_with(Options {
        settings: vec![
            ("webhooks.zoom_idle_after", "1s".into()),
            ("engage.max_session_length", "1s".into()),
        ],
        ..Options::default()
    })
    .await;
    let mut ws = crate::helpers::Ws::ready(&app.url("")).await;
    ws.subscribe(
        "z",
        "subscription { cobrowseSessionUpdates(providerSessionId: \"quiet\") { event kind session { state endTime endReason attachedData { coBrowseEndTime } } } }",
    )
    .await;
    ws.sync().await;
    let events = session_events("quiet", "Noah", "2026-11-22T09:00:00Z");
    for event in [&events[0], &events[2]] {
        assert_eq!(app.webhook(event).await.0, StatusCode::OK);
    }
    assert_eq!(
        next_update(&mut ws).await["event"],
        "cobrowse.session_started"
    );
    assert_eq!(
        next_update(&mut ws).await["event"],
        "cobrowse.session_user_joined"
    );
    // No event comes: after the window it is taken as ended, at the
    // latest activity (the join's event time).
    let ended = next_update(&mut ws).await;
    assert_eq!(ended["event"], "gateway.session_idle_ended", "{ended}");
    assert_eq!(ended["kind"], "ENDED");
    let session = &ended["session"];
    assert_eq!(session["state"], "ENDED", "{session}");
    let activity =
        chrono::DateTime::from_timestamp_millis(events[2]["event_ts"].as_i64().expect("ts"))
            .expect("a time");
    let end = chrono::DateTime::parse_from_rfc3339(session["endTime"].as_str().expect("an end"))
        .expect("a time");
    assert_eq!(end, activity, "{session}");
    assert!(
        session["endReason"]
            .as_str()
            .is_some_and(|r| r.contains("went idle") && r.contains("1s")),
        "{session}"
    );
    let keys_end = chrono::DateTime::parse_from_rfc3339(
        session["attachedData"]["coBrowseEndTime"]
            .as_str()
            .expect("an Engage end"),
    )
    .expect("a time");
    assert_eq!(keys_end, activity);
    let idle_ended = "cobrowse_gateway_zoom_sessions_idle_ended_total";
    assert_eq!(crate::helpers::metric(&app.url(""), idle_ended).await, 1.0);
    // An event after that activity: active again, told as a change.
    assert_eq!(app.webhook(&events[3]).await.0, StatusCode::OK);
    let woke = next_update(&mut ws).await;
    assert_eq!(
        (&woke["event"], &woke["kind"], &woke["session"]["state"]),
        (
            &json!("cobrowse.session_user_left"),
            &json!("CHANGED"),
            &json!("ACTIVE")
        ),
        "{woke}"
    );
    assert!(woke["session"]["endTime"].is_null(), "{woke}");
    // Quiet again: ended again, from the new activity.
    let again = next_update(&mut ws).await;
    assert_eq!(again["event"], "gateway.session_idle_ended", "{again}");
    assert_eq!(crate::helpers::metric(&app.url(""), idle_ended).await, 2.0);
}
