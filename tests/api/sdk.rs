//! Genesys Cloud as its SDKs document it (docs/upstream.md): the simulator
//! does what the pinned SDK release says, and the gateway reads it right.
//! The lists (enum values, region hosts) come from the fixture that
//! `scripts/genesys-sdk-fixture` extracts from that release.

use std::collections::BTreeSet;

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{route, spawn_with, withhold, Options, TestApp};

/// The last day, as a GraphQL `IntervalInput`.
fn last_day() -> Value {
    let now = Utc::now();
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({ "start": at(now - Duration::hours(24)), "end": at(now + Duration::minutes(1)) })
}

async fn app(conversations: usize) -> TestApp {
    spawn_with(Options {
        conversations,
        ..Options::default()
    })
    .await
}

const HISTORY: &str = r#"query($interval: IntervalInput!, $first: Int, $after: String) {
  cobrowseHistory(interval: $interval, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id provider providerSessionId roomId conversation { id conversationId }
      communications { disconnectType disconnectTypeRaw segments { type typeRaw disconnectType disconnectTypeRaw } }
      participants { participant { purpose user { userId name state } } }
    } }
  }
}"#;

async fn history(app: &TestApp) -> Vec<Value> {
    history_in(app, last_day(), 50).await
}

/// Every session of the history of `interval`, `first` at a time.
async fn history_in(app: &TestApp, interval: Value, first: u64) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .data(
                HISTORY,
                json!({ "interval": interval, "first": first, "after": after }),
            )
            .await;
        let page = &data["cobrowseHistory"];
        nodes.extend(
            page["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return nodes;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Every `(enum, raw)` pair of a node's communications and segments.
fn spellings(node: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for comm in node["communications"].as_array().expect("communications") {
        let mut pairs = vec![(&comm["disconnectType"], &comm["disconnectTypeRaw"])];
        for segment in comm["segments"].as_array().expect("segments") {
            pairs.push((&segment["type"], &segment["typeRaw"]));
            pairs.push((&segment["disconnectType"], &segment["disconnectTypeRaw"]));
        }
        for (value, raw) in pairs {
            if let (Some(value), Some(raw)) = (value.as_str(), raw.as_str()) {
                out.push((value.to_owned(), raw.to_owned()));
            }
        }
    }
    out
}

#[tokio::test]
async fn history_reads_analytics_spellings_as_the_same_values_rest_shows() {
    let app = app(40).await;
    let nodes = history(&app).await;
    let purecloud: Vec<&Value> = nodes
        .iter()
        .filter(|n| n["provider"] == "PURECLOUD")
        .collect();
    assert!(!purecloud.is_empty());
    let mut seen = BTreeSet::new();
    for node in &purecloud {
        for (value, raw) in spellings(node) {
            assert_ne!(value, "UNKNOWN", "{raw} reads as UNKNOWN in history");
            seen.insert((value, raw));
        }
    }
    assert!(
        seen.contains(&("TRANSPORT_FAILURE".into(), "transportFailure".into())),
        "analytics' camelCase is read: {seen:?}"
    );
    assert!(
        seen.contains(&("SHARING".into(), "sharing".into())),
        "{seen:?}"
    );

    // The same session read over REST shows the same values, spelled as
    // REST spells them.
    let failed = purecloud
        .iter()
        .find(|n| {
            spellings(n)
                .iter()
                .any(|(_, raw)| raw == "transportFailure")
        })
        .expect("a session that ended on a transport failure");
    let id = failed["conversation"]["id"].as_str().expect("an id");
    let data = app
        .data(
            "query($id: ID!) { node(id: $id) { ... on Conversation { cobrowseSessions { providerSessionId roomId communications { disconnectType disconnectTypeRaw } } } } }",
            json!({ "id": id }),
        )
        .await;
    let sessions = data["node"]["cobrowseSessions"]
        .as_array()
        .expect("sessions");
    let rest: BTreeSet<(&str, &str)> = sessions
        .iter()
        .flat_map(|s| s["communications"].as_array().expect("communications"))
        .filter_map(|c| {
            Some((
                c["disconnectType"].as_str()?,
                c["disconnectTypeRaw"].as_str()?,
            ))
        })
        .collect();
    assert!(
        rest.contains(&("TRANSPORT_FAILURE", "transport.failure")),
        "{rest:?}"
    );

    // Analytics names the session by its room, which is not the REST
    // cobrowseSessionId: the history says so, and nothing joins by it.
    let room = failed["roomId"]
        .as_str()
        .expect("read from analytics: a room id");
    assert_eq!(failed["providerSessionId"], room);
    for session in sessions {
        assert!(session["roomId"].is_null(), "read over REST: {session}");
        assert_ne!(session["providerSessionId"], room, "the simulator's differ");
    }
    // A history session's id, stored by a client, still reads.
    let data = app
        .data(
            "query($id: ID!) { node(id: $id) { ... on Session { providerSessionId roomId } } }",
            json!({ "id": failed["id"] }),
        )
        .await;
    assert_eq!(data["node"]["roomId"], room, "{data}");
}

#[tokio::test]
async fn the_user_list_answers_active_users_unless_asked_for_any_state() {
    let app = app(40).await;
    let token = app.sim_token().await;
    let (status, all) = app
        .sim_get(&token, "/api/v2/users?state=any&pageSize=100")
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let users = all["entities"].as_array().expect("users");
    let states: BTreeSet<&str> = users.iter().filter_map(|u| u["state"].as_str()).collect();
    assert_eq!(states, BTreeSet::from(["active", "inactive", "deleted"]));
    let left = users
        .iter()
        .find(|u| u["state"] == "deleted")
        .expect("an agent who left");
    let id = left["id"].as_str().expect("an id");

    let (_, default) = app.sim_get(&token, &format!("/api/v2/users?id={id}")).await;
    assert_eq!(
        default["entities"],
        json!([]),
        "the default is state=active"
    );
    let (_, any) = app
        .sim_get(&token, &format!("/api/v2/users?id={id}&state=any"))
        .await;
    assert_eq!(any["entities"][0]["id"], id);
    let (status, body) = app.sim_get(&token, "/api/v2/users?state=gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn agents_who_left_keep_their_names_in_history_and_in_conversations() {
    let app = app(40).await;
    let nodes = history(&app).await;
    let mut states = BTreeSet::new();
    let mut conversations = BTreeSet::new();
    for node in nodes.iter().filter(|n| n["provider"] == "PURECLOUD") {
        for p in node["participants"].as_array().expect("participants") {
            if p["participant"]["purpose"] != "AGENT" {
                continue;
            }
            let user = &p["participant"]["user"];
            assert!(user["name"].is_string(), "every agent has a name: {node:#}");
            let state = user["state"].as_str().expect("a state").to_owned();
            if state != "active" {
                conversations.insert(node["conversation"]["id"].as_str().expect("id").to_owned());
            }
            states.insert(state);
        }
    }
    assert!(
        states.contains("inactive") && states.contains("deleted"),
        "{states:?}"
    );

    // A conversation read by id names them too.
    let id = conversations
        .first()
        .expect("a conversation of an agent who left");
    let data = app
        .data(
            "query($id: ID!) { node(id: $id) { ... on Conversation { participants { purpose user { name state } } } } }",
            json!({ "id": id }),
        )
        .await;
    let agents: Vec<&Value> = data["node"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter(|p| p["purpose"] == "AGENT")
        .collect();
    assert!(!agents.is_empty());
    for agent in agents {
        assert!(agent["user"]["name"].is_string(), "{agent}");
    }
}

#[tokio::test]
async fn a_conversation_read_needs_conversation_communication_view() {
    let app = app(4).await;
    let data = app
        .data(
            "{ activeCobrowseConversations { nodes { id } } }",
            json!({}),
        )
        .await;
    let id = data["activeCobrowseConversations"]["nodes"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_owned();
    withhold(
        &app.sim.url(),
        app.sim.client_id(),
        &["conversation:communication:view"],
    )
    .await;
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Conversation { participants { name } } } }",
            json!({ "id": id }),
        )
        .await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "UPSTREAM_FORBIDDEN", "{body}");
    let message = error["message"].as_str().expect("a message");
    assert!(
        message.contains("conversation:communication:view"),
        "{message}"
    );
}

/// The pinned SDK release's facts (scripts/genesys-sdk-fixture).
fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/genesys-sdk.json")).expect("the fixture")
}

/// Every API host of the SDK's region table (`api.mypurecloud.ie`, ...).
fn region_hosts() -> Vec<String> {
    let hosts: Vec<String> = fixture()["regionHosts"]
        .as_object()
        .expect("region hosts")
        .values()
        .map(|url| {
            let url = url.as_str().expect("a URL");
            url.strip_prefix("https://").expect("https").to_owned()
        })
        .collect();
    assert!(hosts.len() >= 18, "{hosts:?}");
    hosts
}

#[test]
fn the_readme_names_the_api_host_of_every_region_of_the_sdk() {
    let readme = crate::helpers::documentation();
    let missing: Vec<String> = region_hosts()
        .into_iter()
        .filter(|api| !readme.contains(&format!("| `https://{api}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's region table lacks {missing:?}"
    );
}

#[tokio::test]
async fn history_of_given_conversations_reads_them_by_id_not_by_a_details_query() {
    let app = app(40).await;
    let all = history(&app).await;
    let chosen: BTreeSet<&str> = all
        .iter()
        .filter(|n| n["provider"] == "PURECLOUD")
        .filter_map(|n| n["conversation"]["conversationId"].as_str())
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .take(3)
        .collect();
    assert_eq!(chosen.len(), 3);
    app.reset_calls().await;
    let data = app
        .data(
            "query($interval: IntervalInput!, $ids: [String!]) { cobrowseHistory(interval: $interval, filter: { conversationIds: $ids }, first: 100) { pageInfo { hasNextPage } edges { node { provider conversation { conversationId } } } } }",
            json!({ "interval": last_day(), "ids": chosen }),
        )
        .await;
    let history = &data["cobrowseHistory"];
    assert_eq!(history["pageInfo"]["hasNextPage"], false);
    let got: BTreeSet<&str> = history["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            e["node"]["conversation"]["conversationId"]
                .as_str()
                .expect("an id")
        })
        .collect();
    assert_eq!(got, chosen, "their sessions, and only theirs (no Zoom)");
    let expected = all
        .iter()
        .filter(|n| {
            n["conversation"]["conversationId"]
                .as_str()
                .is_some_and(|id| chosen.contains(id))
        })
        .count();
    assert_eq!(history["edges"].as_array().expect("edges").len(), expected);
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS_BY_ID), 1, "{calls:?}");
    assert_eq!(calls.route(route::DETAILS), 0, "{calls:?}");

    let too_many: Vec<String> = (0..101).map(|i| format!("c-{i}")).collect();
    let body = app
        .graphql(
            "query($interval: IntervalInput!, $ids: [String!]) { cobrowseHistory(interval: $interval, filter: { conversationIds: $ids }) { edges { cursor } } }",
            json!({ "interval": last_day(), "ids": too_many }),
        )
        .await;
    let message = body["errors"][0]["message"].as_str().expect("an error");
    assert!(message.contains("conversationIds"), "{message}");
}

/// The sessions of a history, as (conversation, session) pairs.
fn keys(nodes: &[Value]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = nodes
        .iter()
        .map(|n| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&n["conversation"]["conversationId"]),
                text(&n["providerSessionId"]),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_long_history_is_read_with_an_analytics_job_page_by_page_and_says_the_same() {
    let sync = app(40).await;
    let by_job = spawn_with(Options {
        conversations: 40,
        settings: vec![("upstream.history_job_after", "1h".into())],
        ..Options::default()
    })
    .await;
    let expected = keys(&history_in(&sync, last_day(), 100).await);
    assert!(expected.len() > 10);
    by_job.reset_calls().await;
    let paged = history_in(&by_job, last_day(), 4).await;
    let got = keys(&paged);
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "each session once across pages");
    assert_eq!(got, expected, "the job's history is the query's");
    let calls = by_job.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS_JOBS), 1, "one job: {calls:?}");
    assert_eq!(calls.route(route::DETAILS), 0, "{calls:?}");
}

#[tokio::test]
async fn a_history_whose_job_still_runs_says_so_with_a_retry_hint_and_the_retry_finds_the_same_job()
{
    let app = spawn_with(Options {
        conversations: 12,
        faults: cobrowse_gateway::sim::Faults {
            analytics_job_ms: 2_500,
            ..cobrowse_gateway::sim::Faults::default()
        },
        settings: vec![
            ("upstream.history_job_after", "1h".into()),
            ("upstream.history_job_poll", "200ms".into()),
            ("server.request_timeout", "1s".into()),
        ],
        ..Options::default()
    })
    .await;
    let query = "query($interval: IntervalInput!) { cobrowseHistory(interval: $interval, first: 5) { edges { node { providerSessionId } } } }";
    // The same interval each time: a job is of one query.
    let interval = last_day();
    let body = app.graphql(query, json!({ "interval": interval })).await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "HISTORY_PREPARING", "{body}");
    let wait = error["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("a hint");
    assert!(wait >= 1, "{body}");
    assert!(body["data"]["cobrowseHistory"].is_null(), "{body}");

    // Asked again as told, until the job is done: the same job answers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        let body = app.graphql(query, json!({ "interval": interval })).await;
        if body["errors"].is_null() {
            let edges = body["data"]["cobrowseHistory"]["edges"]
                .as_array()
                .expect("edges");
            assert!(!edges.is_empty(), "{body}");
            break;
        }
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "HISTORY_PREPARING",
            "{body}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the job never finished"
        );
    }
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS_JOBS), 1, "{calls:?}");
}
