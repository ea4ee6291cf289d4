//! The organisation as a service sees it: the active set from analytics in
//! service mode (every page, each conversation once), history and
//! statistics from analytics, and missing permissions said plainly.

use std::collections::BTreeSet;

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::helpers::{
    command_for, first_code, route, session_events, spawn_with, start, withhold, Options, TestApp,
};

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The last `hours` hours, as a GraphQL `IntervalInput`.
fn last_hours(hours: i64) -> Value {
    let now = Utc::now();
    json!({ "start": rfc3339(now - Duration::hours(hours)), "end": rfc3339(now + Duration::minutes(1)) })
}

/// What the simulator answers the gateway's own client at `path`.
async fn upstream(app: &TestApp, path: &str, body: &Value) -> Value {
    let token = app.sim_token().await;
    app.sim_post(Some(&token), path, body).await.1
}

#[tokio::test]
async fn the_organisations_active_set_follows_every_analytics_page_and_lists_each_conversation_once(
) {
    // 260 conversations: about 195 going on, two pages of 100 with the
    // second repeating a record of the first.
    let app = spawn_with(Options {
        conversations: 260,
        ..Options::default()
    })
    .await;
    let data = app
        .data(
            "{ activeCobrowseConversations(first: 100) { totalCount nodes { conversationId } } }",
            json!({}),
        )
        .await;
    let total = data["activeCobrowseConversations"]["totalCount"]
        .as_u64()
        .expect("a count");
    let going_on = app.agents().await.iter().map(|a| a.2.len()).sum::<usize>();
    assert_eq!(
        total as usize, going_on,
        "every conversation with co-browse going on, once"
    );
    assert!(total > 100, "more than one analytics page: {total}");
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS), 2, "{calls:?}");
    // Paged through by the client: each conversation once.
    let mut seen = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .data(
                "query($after: String) { activeCobrowseConversations(first: 40, after: $after) { pageInfo { hasNextPage endCursor } nodes { conversationId } } }",
                json!({ "after": after }),
            )
            .await;
        let connection = &page["activeCobrowseConversations"];
        for node in connection["nodes"].as_array().expect("nodes") {
            assert!(
                seen.insert(node["conversationId"].to_string()),
                "{node} twice"
            );
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len() as u64, total);
}

/// The active set as the gateway lists it now.
async fn listed(app: &TestApp) -> Vec<Value> {
    let data = app
        .data(
            "{ activeCobrowseConversations { nodes { conversationId participants { purpose state } } } }",
            json!({}),
        )
        .await;
    data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone()
}

#[tokio::test]
async fn the_active_set_follows_the_world_as_it_changes() {
    let app = spawn_with(Options {
        conversations: 4,
        settings: vec![
            ("cache.live_ttl", "1ms".into()),
            ("server.response_cache", "false".into()),
        ],
        ..Options::default()
    })
    .await;
    let step = |id: String| {
        let app = &app;
        async move {
            let path = format!("/__sim/world/conversations/{id}/step");
            let (_, change) = app.sim_post(None, &path, &json!({})).await;
            change["phase"].as_str().expect("a phase").to_owned()
        }
    };
    let (_, started) = app
        .sim_post(None, "/__sim/world/conversations", &json!({}))
        .await;
    let id = started["conversationId"]
        .as_str()
        .expect("an id")
        .to_owned();
    let has = |nodes: &[Value]| {
        nodes
            .iter()
            .find(|n| n["conversationId"] == id.as_str())
            .cloned()
    };
    for expected in ["routed", "agent_joined"] {
        assert_eq!(step(id.clone()).await, expected);
        assert!(
            has(&listed(&app).await).is_none(),
            "not listed before co-browse"
        );
    }
    assert_eq!(step(id.clone()).await, "cobrowse_started");
    let node = has(&listed(&app).await).expect("listed once co-browse starts");
    let agent = node["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["purpose"] == "AGENT")
        .cloned()
        .expect("an agent");
    assert_eq!(agent["state"], "CONNECTED");
    for expected in ["control_granted", "screenshare_started"] {
        assert_eq!(step(id.clone()).await, expected);
        assert!(
            has(&listed(&app).await).is_some(),
            "listed while it goes on"
        );
    }
    // Analytics has no end for it while the agent wraps up; its sessions
    // say it is over: no longer listed.
    for expected in ["disconnected", "wrapped_up", "ended"] {
        assert_eq!(step(id.clone()).await, expected);
        assert!(
            has(&listed(&app).await).is_none(),
            "{expected}: gone once its co-browse and screen share ended"
        );
    }
}

const STATISTICS: &str = r#"query($interval: IntervalInput!, $groupBy: StatisticsGroupBy!, $granularity: String) {
  cobrowseStatistics(interval: $interval, granularity: $granularity, groupBy: $groupBy) {
    start end granularity
    groups {
      queue { id name } user { id } mediaType
      buckets { start end sessions connected handleSeconds averageHandleSeconds talkSeconds averageTalkSeconds
                metrics { metric count sum min max } }
    }
  }
}"#;

#[tokio::test]
async fn statistics_are_upstreams_aggregates_in_seconds_with_the_raw_figures_beside() {
    let app = spawn_with(Options {
        conversations: 40,
        ..Options::default()
    })
    .await;
    let interval = last_hours(2);
    let variables = json!({ "interval": interval, "groupBy": "QUEUE", "granularity": "PT30M" });
    let data = app.data(STATISTICS, variables.clone()).await;

    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::AGGREGATES), 1, "{calls:?}");
    assert_eq!(
        calls.route(route::QUEUES),
        1,
        "queue names in one bulk call: {calls:?}"
    );
    let report = &data["cobrowseStatistics"];
    assert_eq!(report["granularity"], "PT30M");
    let groups = report["groups"].as_array().expect("groups");
    assert!(groups.len() > 1, "{report:#}");
    let mut sessions = 0;
    for group in groups {
        assert!(group["queue"]["name"].is_string(), "{group}");
        for bucket in group["buckets"].as_array().expect("buckets") {
            sessions += bucket["sessions"].as_u64().expect("sessions");
            let raw = |name: &str| {
                bucket["metrics"]
                    .as_array()
                    .expect("metrics")
                    .iter()
                    .find(|m| m["metric"] == name)
                    .cloned()
            };
            if let Some(handle) = raw("tHandle") {
                let sum = handle["sum"].as_f64().expect("a sum");
                let count = handle["count"].as_f64().expect("a count");
                let close = |field: &str, expected: f64| {
                    let got = bucket[field].as_f64().expect("a number");
                    assert!(
                        (got - expected).abs() < 1e-6,
                        "{field}: {got} != {expected}"
                    );
                };
                close("handleSeconds", sum / 1000.0);
                close("averageHandleSeconds", sum / count / 1000.0);
            }
            let connected = raw("nConnected").map_or(0, |m| m["count"].as_u64().expect("a count"));
            assert_eq!(bucket["connected"].as_u64(), Some(connected));
        }
    }
    // The same figures as upstream's own answer.
    let upstream = upstream(
        &app,
        "/api/v2/analytics/conversations/aggregates/query",
        &json!({
            "interval": format!("{}/{}", interval["start"].as_str().expect("start"), interval["end"].as_str().expect("end")),
            "metrics": ["nCobrowseSessions"],
            "filter": { "type": "or", "predicates": [
                { "dimension": "mediaType", "value": "cobrowse" },
                { "dimension": "mediaType", "value": "screenshare" }
            ]},
        }),
    )
    .await;
    let expected: u64 = upstream["results"]
        .as_array()
        .expect("results")
        .iter()
        .flat_map(|r| r["data"].as_array().expect("data"))
        .flat_map(|b| b["metrics"].as_array().expect("metrics"))
        .map(|m| m["stats"]["count"].as_u64().expect("a count"))
        .sum();
    assert!(expected > 0);
    assert_eq!(sessions, expected);

    // Cached by interval: another selection of the same report costs nothing.
    app.reset_calls().await;
    let by_queue = app
        .data(
            "query($interval: IntervalInput!) { cobrowseStatistics(interval: $interval, granularity: \"PT30M\") { groups { buckets { sessions } } } }",
            json!({ "interval": interval }),
        )
        .await;
    assert!(by_queue["cobrowseStatistics"]["groups"].is_array());
    assert_eq!(app.upstream_calls().await.total, 0);

    // By media type and by user.
    for (group_by, key) in [("MEDIA_TYPE", "mediaType"), ("USER", "user")] {
        let data = app
            .data(
                STATISTICS,
                json!({ "interval": interval, "groupBy": group_by }),
            )
            .await;
        let groups = data["cobrowseStatistics"]["groups"]
            .as_array()
            .expect("groups");
        assert!(groups.len() > 1, "{group_by}: {data}");
        assert!(
            groups.iter().all(|g| !g[key].is_null()),
            "{group_by}: {data}"
        );
        assert!(groups
            .iter()
            .all(|g| g["buckets"].as_array().expect("buckets").len() == 1));
    }
}

#[tokio::test]
async fn a_closed_interval_is_kept_longer_than_the_current_one_and_bad_intervals_are_refused() {
    let app = spawn_with(Options::default()).await;
    let max_age = |response: &reqwest::Response| -> u64 {
        let value = response.headers()["cache-control"]
            .to_str()
            .expect("text")
            .to_owned();
        value
            .rsplit("max-age=")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{value}"))
    };
    let now = Utc::now();
    let yesterday = json!({ "start": rfc3339(now - Duration::days(2)), "end": rfc3339(now - Duration::days(1)) });
    let query = "query($interval: IntervalInput!) { cobrowseStatistics(interval: $interval) { groups { buckets { sessions } } } }";
    let closed = app
        .post_graphql(&json!({ "query": query, "variables": { "interval": yesterday } }))
        .await;
    let open = app
        .post_graphql(&json!({ "query": query, "variables": { "interval": last_hours(1) } }))
        .await;
    assert!(max_age(&closed) > 590, "the directory TTL (10 min)");
    assert!(max_age(&open) <= 5, "the live TTL (5 s)");

    for (interval, granularity, says) in [
        (
            json!({ "start": rfc3339(now), "end": rfc3339(now - Duration::hours(1)) }),
            None,
            "before",
        ),
        (
            json!({ "start": rfc3339(now - Duration::days(40)), "end": rfc3339(now) }),
            None,
            "31 days",
        ),
        (last_hours(1), Some("half an hour"), "ISO-8601"),
        (
            json!({ "start": rfc3339(now - Duration::days(30)), "end": rfc3339(now) }),
            Some("PT1M"),
            "buckets",
        ),
    ] {
        let body = app
            .graphql(
                "query($interval: IntervalInput!, $g: String) { cobrowseStatistics(interval: $interval, granularity: $g) { start } cobrowseHistory(interval: $interval) { edges { cursor } } }",
                json!({ "interval": interval, "g": granularity }),
            )
            .await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body.to_string().contains(says), "{says}: {body}");
    }
    assert_eq!(app.upstream_calls().await.route(route::AGGREGATES), 2);
}

const HISTORY: &str = r#"query($interval: IntervalInput!, $filter: HistoryFilter, $first: Int, $after: String) {
  cobrowseHistory(interval: $interval, filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id provider providerSessionId mediaType state startTime endTime durationSeconds
      participants { name role participant { purpose user { userId } queue { queueId } } connections { joinTime leaveTime } }
      segments { type startTime endTime }
    } }
  }
}"#;

/// Every session of the history, page by page.
async fn whole_history(app: &TestApp, filter: Value, first: u64) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .data(
                HISTORY,
                json!({ "interval": last_hours(24), "filter": filter, "first": first, "after": after }),
            )
            .await;
        let history = &data["cobrowseHistory"];
        let edges = history["edges"].as_array().expect("edges");
        assert!(edges.len() as u64 <= first);
        nodes.extend(edges.iter().map(|e| e["node"].clone()));
        if history["pageInfo"]["hasNextPage"] != true {
            return nodes;
        }
        after = history["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn history_lists_ended_sessions_of_every_provider_page_by_page_without_reading_conversations()
{
    let app = spawn_with(Options {
        conversations: 40,
        ..Options::default()
    })
    .await;
    let base = rfc3339(Utc::now() - Duration::hours(3));
    for event in session_events("zoom-history-1", "Agent Zed", &base) {
        let (status, _) = app.webhook(&event).await;
        assert_eq!(status, 200);
    }
    app.reset_calls().await;

    let nodes = whole_history(&app, Value::Null, 4).await;

    let calls = app.upstream_calls().await;
    assert_eq!(
        calls.route(route::CONVERSATION),
        0,
        "records serve it: {calls:?}"
    );
    assert!(calls.route(route::DETAILS) >= 1, "{calls:?}");
    let ids: BTreeSet<&str> = nodes
        .iter()
        .map(|n| n["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), nodes.len(), "each session once");
    assert!(nodes.iter().all(|n| n["state"] == "ENDED"), "ended only");
    assert!(nodes.iter().any(|n| n["provider"] == "ZOOM"));
    assert!(nodes.iter().any(|n| n["mediaType"] == "SCREENSHARE"));
    for node in nodes.iter().filter(|n| n["provider"] == "PURECLOUD") {
        let roles: BTreeSet<&str> = node["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .map(|p| p["role"].as_str().expect("a role"))
            .collect();
        assert_eq!(roles, BTreeSet::from(["SHARER", "VIEWER"]), "{node:#}");
        assert!(
            node["durationSeconds"].as_f64().is_some_and(|d| d > 0.0),
            "{node}"
        );
        assert!(!node["segments"].as_array().expect("segments").is_empty());
        let agent = node["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .find(|p| p["participant"]["purpose"] == "AGENT")
            .expect("an agent");
        assert!(
            agent["participant"]["user"]["userId"].is_string(),
            "{agent}"
        );
    }
    // What the simulator ended: each ended conversation's co-browse and
    // screen-share rooms.
    let upstream = upstream(
        &app,
        "/api/v2/analytics/conversations/details/query",
        &json!({ "interval": format!("{}/{}", last_hours(24)["start"].as_str().expect("start"), last_hours(24)["end"].as_str().expect("end")),
                 "paging": { "pageSize": 100, "pageNumber": 1 },
                 "conversationFilters": [{ "type": "and", "predicates": [{ "dimension": "conversationEnd", "operator": "exists" }] }] }),
    )
    .await;
    let mut rooms = BTreeSet::new();
    for conversation in upstream["conversations"].as_array().expect("conversations") {
        for session in conversation["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .flat_map(|p| p["sessions"].as_array().into_iter().flatten())
        {
            let room = session["cobrowseRoomId"]
                .as_str()
                .or(session["screenShareRoomId"].as_str());
            rooms.insert(room.expect("a room").to_owned());
        }
    }
    let listed: BTreeSet<String> = nodes
        .iter()
        .filter(|n| n["provider"] == "PURECLOUD")
        .map(|n| n["providerSessionId"].as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(listed, rooms);
}

#[tokio::test]
async fn history_filters_by_media_queue_user_and_provider() {
    let app = spawn_with(Options {
        conversations: 40,
        ..Options::default()
    })
    .await;
    let base = rfc3339(Utc::now() - Duration::hours(3));
    for event in session_events("zoom-history-2", "Agent Zed", &base) {
        app.webhook(&event).await;
    }
    let all = whole_history(&app, json!({ "includeActive": true }), 50).await;
    assert!(
        all.iter().any(|n| n["state"] == "ACTIVE"),
        "includeActive lists live sessions too"
    );

    let shares = whole_history(&app, json!({ "mediaTypes": ["SCREENSHARE"] }), 50).await;
    assert!(!shares.is_empty());
    assert!(shares
        .iter()
        .all(|n| n["mediaType"] == "SCREENSHARE" && n["provider"] == "PURECLOUD"));

    let zoom = whole_history(&app, json!({ "providers": ["ZOOM"] }), 50).await;
    assert_eq!(zoom.len(), 1, "{zoom:?}");
    assert_eq!(zoom[0]["providerSessionId"], "zoom-history-2");

    let pick = |key: &str| -> String {
        all.iter()
            .filter(|n| n["provider"] == "PURECLOUD" && n["state"] == "ENDED")
            .flat_map(|n| n["participants"].as_array().expect("participants"))
            .find_map(|p| p["participant"][key][format!("{key}Id")].as_str())
            .expect("an id")
            .to_owned()
    };
    for (key, filter) in [("queue", "queueIds"), ("user", "userIds")] {
        let id = pick(key);
        let nodes = whole_history(&app, json!({ filter: [id], "includeActive": true }), 50).await;
        assert!(!nodes.is_empty(), "{filter}");
        for node in &nodes {
            assert_eq!(node["provider"], "PURECLOUD", "Zoom sessions have no {key}");
            assert!(
                node["participants"]
                    .as_array()
                    .expect("participants")
                    .iter()
                    .any(|p| p["participant"][key][format!("{key}Id")] == id.as_str()),
                "{filter}: {node:#}"
            );
        }
    }
}

#[tokio::test]
async fn a_missing_permission_fails_only_its_fields_naming_the_feature_and_the_permission() {
    let app = spawn_with(Options::default()).await;
    withhold(
        &app.sim.url(),
        app.sim.client_id(),
        &[
            "analytics:conversationDetail:view",
            "analytics:agentConversationDetail:view",
            "analytics:conversationAggregate:view",
        ],
    )
    .await;

    let body = app
        .graphql(
            "query($interval: IntervalInput!) { wrapupCodes { name } activeCobrowseConversations { totalCount } cobrowseStatistics(interval: $interval) { start } cobrowseHistory(interval: $interval) { edges { cursor } } }",
            json!({ "interval": last_hours(1) }),
        )
        .await;

    assert!(
        body["data"]["wrapupCodes"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    let errors = body["errors"].as_array().expect("errors");
    for (field, permission) in [
        (
            "activeCobrowseConversations",
            "analytics:conversationDetail:view",
        ),
        ("cobrowseStatistics", "analytics:conversationAggregate:view"),
        ("cobrowseHistory", "analytics:conversationDetail:view"),
    ] {
        assert!(body["data"][field].is_null(), "{field}: {body}");
        let error = errors
            .iter()
            .find(|e| e["path"][0] == field)
            .unwrap_or_else(|| panic!("an error at {field}: {body}"));
        assert_eq!(error["extensions"]["code"], "UPSTREAM_FORBIDDEN");
        let named = error["extensions"]["permission"].as_str().expect("named");
        assert!(named.contains(permission), "{named}");
        assert_eq!(error["extensions"]["feature"], field);
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.contains(field) && message.contains(permission),
            "{message}"
        );
    }
}

#[tokio::test]
async fn start_up_says_which_features_a_missing_permission_makes_unavailable() {
    let sim =
        cobrowse_gateway::sim::Simulator::start(cobrowse_gateway::sim::SimConfig::local(4, 1))
            .await
            .expect("simulator");
    withhold(
        &sim.url(),
        sim.client_id(),
        &[
            "analytics:conversationAggregate:view",
            "conversation:communication:view",
            // The other of the two details permissions is enough.
            "analytics:conversationDetail:view",
        ],
    )
    .await;
    let mut command = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    command
        .env(
            "COBROWSE_AUTH_JWT_SECRET",
            "a-jwt-secret-of-at-least-32-characters-for-this-test",
        )
        .env("COBROWSE_AUTH_JWT_ISSUER", "https://idp.example.com")
        .env("COBROWSE_AUTH_JWT_AUDIENCE", "cobrowse-gateway");
    let (mut child, _, _, logs) = start(command).await;
    child.kill().await.expect("stops");
    let logs = logs.await.expect("logs collected");
    let line = logs
        .lines()
        .find(|l| l.contains("analytics:conversationAggregate:view"))
        .unwrap_or_else(|| panic!("a line names the permission: {logs}"));
    assert!(
        line.contains("cobrowseStatistics") && line.contains("unavailable"),
        "{line}"
    );
    let line = logs
        .lines()
        .find(|l| l.contains("lacks conversation:communication:view"))
        .unwrap_or_else(|| panic!("a line names the conversation read: {logs}"));
    assert!(line.contains("conversations by id"), "{line}");
    assert!(
        !logs.contains("lacks analytics:conversationDetail:view"),
        "either details permission will do: {logs}"
    );
}
