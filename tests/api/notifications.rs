//! The simulator speaks Genesys Cloud's Notifications API: channels, topic
//! subscriptions with their verdicts and limits, one socket per channel
//! carrying the changes of the world's conversations, heartbeats, pongs,
//! and the faults a client must survive.

use std::time::Duration;

use cobrowse_gateway::sim::Faults;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{client_token, spawn_with, withhold, Options, TestApp};

const CHANNELS: &str = "/api/v2/notifications/channels";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A partner client of its own (so that the gateway's channels do not
/// count against it), seeing both divisions, and its token.
async fn partner(app: &TestApp) -> (String, String) {
    let (_, client) = app
        .sim_post(
            None,
            "/__sim/clients",
            &json!({ "divisions": ["div-north", "div-south"] }),
        )
        .await;
    let id = client["client_id"].as_str().expect("an id").to_owned();
    let secret = client["client_secret"].as_str().expect("a secret");
    let token = client_token(&app.sim.url(), &id, secret).await;
    (id, token)
}

async fn channel(app: &TestApp, token: &str) -> Value {
    let (status, channel) = app.sim_post(Some(token), CHANNELS, &json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    channel
}

async fn subscribe(
    app: &TestApp,
    token: &str,
    channel: &Value,
    method: reqwest::Method,
    topics: &[String],
    query: &str,
) -> (StatusCode, Value) {
    let id = channel["id"].as_str().expect("an id");
    let body: Vec<Value> = topics.iter().map(|t| json!({ "id": t })).collect();
    let response = reqwest::Client::new()
        .request(
            method,
            format!("{}{CHANNELS}/{id}/subscriptions{query}", app.sim.url()),
        )
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn exists(app: &TestApp, token: &str, channel: &Value) -> StatusCode {
    let id = channel["id"].as_str().expect("an id");
    reqwest::Client::new()
        .head(format!("{}{CHANNELS}/{id}", app.sim.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the simulator answers")
        .status()
}

async fn connect(channel: &Value) -> Socket {
    let uri = channel["connectUri"].as_str().expect("a connectUri");
    let (socket, _) = tokio_tungstenite::connect_async(uri)
        .await
        .expect("the socket connects");
    socket
}

/// The next message on the socket (none: it closed).
async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("JSON"));
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// The next message that is not a heartbeat (within 10 s).
async fn next_event(socket: &mut Socket) -> Option<Value> {
    let skip_heartbeats = async {
        loop {
            let message = next(socket).await?;
            if message["topicName"] != "channel.metadata" {
                return Some(message);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), skip_heartbeats)
        .await
        .expect("an event within 10 s")
}

/// Both topics of every queue of the world.
async fn queue_topics(app: &TestApp, token: &str) -> Vec<String> {
    let mut queues = Vec::new();
    for page in 1.. {
        let (_, body) = app
            .sim_get(
                token,
                &format!("/api/v2/routing/queues?pageSize=500&pageNumber={page}"),
            )
            .await;
        let got = body["entities"].as_array().expect("queues");
        queues.extend(got.iter().cloned());
        if got.len() < 500 {
            break;
        }
    }
    queues
        .iter()
        .flat_map(|q| {
            let id = q["id"].as_str().expect("an id");
            [
                format!("v2.routing.queues.{id}.conversations.cobrowseSessions"),
                format!("v2.routing.queues.{id}.conversations.screenshares"),
            ]
        })
        .collect()
}

async fn step(app: &TestApp, id: &str) -> Value {
    let (status, change) = app
        .sim_post(
            None,
            &format!("/__sim/world/conversations/{id}/step"),
            &json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{change}");
    change
}

async fn app() -> TestApp {
    spawn_with(Options {
        conversations: 6,
        faults: Faults {
            heartbeat_ms: 200,
            ..Faults::default()
        },
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_channel_carries_every_change_of_its_queues_conversations_with_heartbeats_and_pongs() {
    let app = app().await;
    let (_, token) = partner(&app).await;
    let channel = channel(&app, &token).await;
    assert!(channel["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("streaming-")));
    assert!(channel["expires"].is_string());
    let topics = queue_topics(&app, &token).await;
    let (status, answer) =
        subscribe(&app, &token, &channel, reqwest::Method::PUT, &topics, "").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let states: Vec<&Value> = answer["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|t| &t["state"])
        .collect();
    assert_eq!(states.len(), topics.len());
    assert!(states.iter().all(|s| *s == "Permitted"), "{answer}");
    assert_eq!(exists(&app, &token, &channel).await, StatusCode::OK);
    let mut socket = connect(&channel).await;

    // Heartbeats come at the configured pace; a ping is answered pong.
    let beat = next(&mut socket).await.expect("a heartbeat");
    assert_eq!(beat["topicName"], "channel.metadata");
    assert_eq!(beat["eventBody"]["message"], "WebSocket Heartbeat");
    socket
        .send(Message::Text(r#"{"message":"ping"}"#.into()))
        .await
        .expect("sent");
    loop {
        let message = next(&mut socket).await.expect("open");
        if message["eventBody"]["message"] == "pong" {
            assert_eq!(message["topicName"], "channel.metadata");
            break;
        }
    }

    // A conversation is published from the moment a queue routes it, on
    // that queue's topics, every step, until it ends.
    let (_, started) = app
        .sim_post(None, "/__sim/world/conversations", &json!({}))
        .await;
    let id = started["conversationId"]
        .as_str()
        .expect("an id")
        .to_owned();
    let mut phases = Vec::new();
    loop {
        let change = step(&app, &id).await;
        let phase = change["phase"].as_str().expect("a phase").to_owned();
        let event = next_event(&mut socket).await.expect("an event");
        let topic = event["topicName"].as_str().expect("a topic");
        assert!(
            topic.starts_with("v2.routing.queues.")
                && topic.ends_with(".conversations.cobrowseSessions"),
            "{topic}"
        );
        assert!(topics.iter().any(|t| t == topic));
        assert_eq!(event["version"], "2");
        assert!(event["metadata"]["CorrelationId"].is_string());
        assert_eq!(event["eventBody"]["id"], id.as_str(), "{phase}");
        has_the_event_models_shape(
            &event["eventBody"],
            "QueueConversationCobrowseEventTopicCobrowseConversation",
            "QueueConversationCobrowseEventTopicCobrowseMediaParticipant",
        );
        let participants = event["eventBody"]["participants"]
            .as_array()
            .expect("participants");
        assert!(participants.len() >= 2, "{phase}");
        if phase == "ended" {
            assert!(
                participants.iter().all(|p| p["state"] == "terminated"),
                "an ended conversation's participants are terminated: {event}"
            );
        } else {
            assert!(participants.iter().any(|p| p["state"] != "terminated"));
        }
        if matches!(
            phase.as_str(),
            "screenshare_started" | "disconnected" | "wrapped_up" | "ended"
        ) {
            let share = next_event(&mut socket).await.expect("a screen-share event");
            let topic = share["topicName"].as_str().expect("a topic");
            assert!(topic.ends_with(".conversations.screenshares"), "{topic}");
            has_the_event_models_shape(
                &share["eventBody"],
                "QueueConversationScreenShareEventTopicScreenShareConversation",
                "QueueConversationScreenShareEventTopicScreenShareMediaParticipant",
            );
            let sharing: Vec<&Value> = share["eventBody"]["participants"]
                .as_array()
                .expect("participants")
                .iter()
                .map(|p| &p["sharing"])
                .collect();
            assert!(sharing.contains(&&json!(true)), "{share}");
        }
        phases.push(phase);
        if phases.last().map(String::as_str) == Some("ended") {
            break;
        }
    }
    assert_eq!(phases.len(), 8, "{phases:?}");
}

/// Checks that an event body has only fields of the SDK's event models (the
/// pinned release's, from the fixture), and the events' own.
fn has_the_event_models_shape(body: &Value, conversation: &str, participant: &str) {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/genesys-sdk.json")).expect("the fixture");
    let fields = |model: &str| {
        fixture["models"][model]["fields"]
            .as_object()
            .unwrap_or_else(|| panic!("{model}"))
            .clone()
    };
    let only_theirs = |object: &Value, model: &str| {
        let theirs = fields(model);
        for key in object.as_object().expect("an object").keys() {
            assert!(theirs.contains_key(key), "{model} has no {key}: {object}");
        }
    };
    only_theirs(body, conversation);
    let participants = body["participants"].as_array().expect("participants");
    for p in participants {
        only_theirs(p, participant);
    }
    assert!(
        body["selfUri"].is_null() && body["address"].is_string(),
        "{body}"
    );
    for p in participants {
        if p["cobrowseSessionId"].is_string() || p["context"].is_string() {
            assert!(
                p["initialState"].is_string(),
                "a session's first state: {p}"
            );
        }
    }
}

#[tokio::test]
async fn channels_keep_upstreams_limits_and_nothing_is_queued_without_a_socket() {
    let app = app().await;
    let (_, token) = partner(&app).await;
    let topics = queue_topics(&app, &token).await;

    // 1,000 topics per channel.
    let (_, added) = app
        .sim_post(None, "/__sim/world/queues", &json!({ "count": 500 }))
        .await;
    assert_eq!(added.as_array().map(Vec::len), Some(500));
    let many = queue_topics(&app, &token).await;
    assert!(many.len() > 1_000);
    let first = channel(&app, &token).await;
    let (status, body) = subscribe(
        &app,
        &token,
        &first,
        reqwest::Method::PUT,
        &many[..1_000],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = subscribe(
        &app,
        &token,
        &first,
        reqwest::Method::POST,
        &many[1_000..],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("1000")));

    // Nothing is queued while no socket is connected.
    let cobrowse: Vec<String> = many
        .iter()
        .filter(|t| t.ends_with("cobrowseSessions"))
        .cloned()
        .collect();
    let (status, _) = subscribe(&app, &token, &first, reqwest::Method::PUT, &cobrowse, "").await;
    assert_eq!(status, StatusCode::OK);
    let (_, started) = app
        .sim_post(None, "/__sim/world/conversations", &json!({}))
        .await;
    let id = started["conversationId"]
        .as_str()
        .expect("an id")
        .to_owned();
    step(&app, &id).await;
    let mut socket = connect(&first).await;
    step(&app, &id).await;
    let event = next_event(&mut socket).await.expect("an event");
    let agent_joined = event["eventBody"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .any(|p| p["purpose"] == "agent");
    assert!(
        agent_joined,
        "the first event is the change after connecting, not the one before: {event}"
    );

    // One socket per channel: a second drops the first.
    let mut second = connect(&first).await;
    assert!(next_event(&mut socket).await.is_none(), "the first closed");
    step(&app, &id).await;
    assert!(next_event(&mut second).await.is_some());

    // Twenty channels per client: a 21st removes the least recently used
    // of those without a socket.
    let mut made = Vec::new();
    for _ in 0..19 {
        made.push(channel(&app, &token).await);
    }
    let (_, listed) = app.sim_get(&token, CHANNELS).await;
    assert_eq!(listed["entities"].as_array().map(Vec::len), Some(20));
    channel(&app, &token).await;
    let (_, listed) = app.sim_get(&token, CHANNELS).await;
    let ids: Vec<&str> = listed["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 20);
    assert!(
        ids.contains(&first["id"].as_str().expect("an id")),
        "the one with a socket stays"
    );
    assert!(
        !ids.contains(&made[0]["id"].as_str().expect("an id")),
        "the oldest idle one went"
    );
    assert_eq!(exists(&app, &token, &made[0]).await, StatusCode::NOT_FOUND);

    // A channel lives its lifetime unless subscribed again.
    app.set_faults(&Faults {
        heartbeat_ms: 200,
        channel_lifetime_ms: 300,
        ..Faults::default()
    })
    .await;
    let short = channel(&app, &token).await;
    let renewed = channel(&app, &token).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (status, _) =
            subscribe(&app, &token, &renewed, reqwest::Method::PUT, &topics, "").await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(exists(&app, &token, &short).await, StatusCode::NOT_FOUND);
    assert_eq!(exists(&app, &token, &renewed).await, StatusCode::OK);
}

#[tokio::test]
async fn topics_are_rejected_for_missing_permissions_and_faults_and_sockets_fail_on_demand() {
    let app = app().await;
    let (client, token) = partner(&app).await;
    let topics = queue_topics(&app, &token).await;
    let channel = channel(&app, &token).await;

    // A withheld permission rejects its topics, naming it.
    withhold(&app.sim.url(), &client, &["conversation:screenshare:view"]).await;
    let (status, body) = subscribe(&app, &token, &channel, reqwest::Method::PUT, &topics, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = subscribe(
        &app,
        &token,
        &channel,
        reqwest::Method::PUT,
        &topics,
        "?ignoreErrors=true",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for topic in body["entities"].as_array().expect("entities") {
        let screenshare = topic["id"]
            .as_str()
            .is_some_and(|t| t.ends_with("screenshares"));
        if screenshare {
            assert_eq!(topic["state"], "Rejected");
            assert_eq!(
                topic["missingPermissions"],
                json!(["conversation:screenshare:view"])
            );
        } else {
            assert_eq!(topic["state"], "Permitted");
        }
    }
    let (_, held) = app
        .sim_get(
            &token,
            &format!(
                "{CHANNELS}/{}/subscriptions",
                channel["id"].as_str().expect("id")
            ),
        )
        .await;
    assert_eq!(
        held["entities"].as_array().map(Vec::len),
        Some(topics.len() / 2)
    );
    withhold(&app.sim.url(), &client, &[]).await;

    // A fault rejects a topic outright.
    app.set_faults(&Faults {
        heartbeat_ms: 200,
        reject_topics: vec![topics[0].clone()],
        ..Faults::default()
    })
    .await;
    let (_, body) = subscribe(
        &app,
        &token,
        &channel,
        reqwest::Method::PUT,
        &topics,
        "?ignoreErrors=true",
    )
    .await;
    assert_eq!(body["entities"][0]["state"], "Rejected");
    assert_eq!(body["entities"][1]["state"], "Permitted");

    // Maintenance: socket_closing is announced, the socket closes after
    // the grace and its channel is gone.
    app.set_faults(&Faults {
        heartbeat_ms: 200,
        socket_closing_grace_ms: 300,
        ..Faults::default()
    })
    .await;
    let mut socket = connect(&channel).await;
    let (_, announced) = app
        .sim_post(None, "/__sim/notifications/socket_closing", &json!(null))
        .await;
    assert!(announced["announced"].as_u64() >= Some(1));
    let notice = next_event(&mut socket).await.expect("a notice");
    assert_eq!(notice["topicName"], "v2.system.socket_closing");
    assert!(
        next_event(&mut socket).await.is_none(),
        "closed after the grace"
    );
    assert_eq!(exists(&app, &token, &channel).await, StatusCode::NOT_FOUND);

    // Dropped sockets, stopped heartbeats, expired channels, refused sockets.
    let channel = self::channel(&app, &token).await;
    let mut socket = connect(&channel).await;
    app.sim_post(None, "/__sim/notifications/drop", &json!(null))
        .await;
    assert!(next_event(&mut socket).await.is_none(), "dropped");
    let mut socket = connect(&channel).await;
    app.set_faults(&Faults {
        heartbeat_ms: 50,
        heartbeats_stopped: true,
        ..Faults::default()
    })
    .await;
    let quiet = tokio::time::timeout(Duration::from_millis(500), next(&mut socket)).await;
    assert!(quiet.is_err(), "no heartbeat while they are stopped");
    app.sim_post(None, "/__sim/notifications/expire", &json!(null))
        .await;
    assert!(
        next_event(&mut socket).await.is_none(),
        "its channel expired"
    );
    assert_eq!(exists(&app, &token, &channel).await, StatusCode::NOT_FOUND);
    app.set_faults(&Faults {
        refuse_sockets: true,
        ..Faults::default()
    })
    .await;
    let channel = self::channel(&app, &token).await;
    let refused =
        tokio_tungstenite::connect_async(channel["connectUri"].as_str().expect("uri")).await;
    assert!(refused.is_err(), "sockets are refused");
}
