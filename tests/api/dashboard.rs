//! The upstream economy of the dashboard query, counted at the simulator.

use std::time::{Duration, Instant};

use cobrowse_gateway::sim::Faults;
use serde_json::{json, Value};

use crate::helpers::{route, spawn_app, spawn_with, Options, DASHBOARD};

/// An answer without the durations of live sessions, which grow with the clock.
fn without_durations(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            map.remove("durationSeconds");
            for v in map.values_mut() {
                *v = without_durations(v.take());
            }
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                *v = without_durations(v.take());
            }
        }
        _ => {}
    }
    value
}

fn listed(data: &Value) -> usize {
    data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .len()
}

/// Checks that every agent has a user name and every queue a name, and
/// that every conversation lists its co-browse sessions.
fn assert_resolved(data: &Value) {
    for node in data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
    {
        for participant in node["participants"].as_array().expect("participants") {
            if participant["purpose"] == "AGENT" {
                assert!(participant["user"]["name"].is_string(), "{participant:#}");
                assert!(participant["queue"]["name"].is_string(), "{participant:#}");
            }
        }
        assert!(!node["cobrowseSessions"]
            .as_array()
            .expect("sessions")
            .is_empty());
    }
}

#[tokio::test]
async fn a_cold_dashboard_query_in_service_mode_costs_one_analytics_page_one_read_per_conversation_and_one_bulk_call_per_directory(
) {
    let app = spawn_app().await;

    let data = app.data(DASHBOARD, json!({})).await;

    let n = listed(&data) as u64;
    assert!(n > 3, "the simulator lists several active conversations");
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS), 1, "{calls:?}");
    assert_eq!(calls.route(route::LISTING), 0, "{calls:?}");
    assert_eq!(calls.route(route::CONVERSATION), n, "{calls:?}");
    assert_eq!(calls.route(route::USERS), 1, "{calls:?}");
    assert_eq!(calls.route(route::QUEUES), 1, "{calls:?}");
    assert_eq!(calls.total, n + 3, "no other call: {calls:?}");
    assert_resolved(&data);
}

#[tokio::test]
async fn a_cold_dashboard_query_in_passthrough_mode_lists_the_callers_own_conversations_at_the_same_cost(
) {
    let app = spawn_with(Options {
        conversations: 40,
        settings: vec![("auth.mode", "passthrough".into())],
        ..Options::default()
    })
    .await;
    let agents = app.agents().await;
    let (_, token, mine) = &agents[0];
    assert!(mine.len() > 1, "the busiest agent has several: {agents:?}");
    app.reset_calls().await;

    let bearer = format!("Bearer {token}");
    let data = app.data_as(&[("authorization", &bearer)], DASHBOARD).await;

    let mut listed: Vec<String> = data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["conversationId"].as_str().expect("id").to_owned())
        .collect();
    listed.sort();
    let mut expected = mine.clone();
    expected.sort();
    assert_eq!(listed, expected, "only the agent's own conversations");
    let n = listed.len() as u64;
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::LISTING), 1, "{calls:?}");
    assert_eq!(calls.route(route::DETAILS), 0, "{calls:?}");
    assert_eq!(calls.route(route::CONVERSATION), n, "{calls:?}");
    assert_eq!(calls.route(route::USERS), 1, "{calls:?}");
    assert_eq!(calls.route(route::QUEUES), 1, "{calls:?}");
    assert_eq!(
        calls.route(route::TOKEN_INFO),
        1,
        "the token proven once: {calls:?}"
    );
    assert_eq!(calls.total, n + 4, "no other call: {calls:?}");
    assert_resolved(&data);

    // Warm: nothing more upstream.
    app.reset_calls().await;
    app.data_as(&[("authorization", &bearer)], DASHBOARD).await;
    assert_eq!(app.upstream_calls().await.total, 0);
}

#[tokio::test]
async fn a_hundred_concurrent_cold_passthrough_queries_of_one_token_cost_the_same_calls_as_one() {
    let app = spawn_with(Options {
        conversations: 40,
        faults: Faults {
            latency_ms: 30,
            ..Faults::default()
        },
        settings: vec![("auth.mode", "passthrough".into())],
        ..Options::default()
    })
    .await;
    let agents = app.agents().await;
    let (_, token, mine) = &agents[0];
    app.reset_calls().await;
    let bearer = format!("Bearer {token}");

    let headers = [("authorization", bearer.as_str())];
    let answers =
        futures::future::join_all((0..100).map(|_| app.data_as(&headers, DASHBOARD))).await;

    let first = without_durations(answers[0].clone());
    assert!(answers
        .iter()
        .all(|a| without_durations(a.clone()) == first));
    let n = mine.len() as u64;
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::LISTING), 1, "{calls:?}");
    assert_eq!(calls.route(route::CONVERSATION), n, "{calls:?}");
    assert_eq!(calls.route(route::USERS), 1, "{calls:?}");
    assert_eq!(calls.route(route::QUEUES), 1, "{calls:?}");
    assert_eq!(calls.route(route::TOKEN_INFO), 1, "{calls:?}");
    assert_eq!(calls.total, n + 4, "{calls:?}");
}

#[tokio::test]
async fn the_same_dashboard_query_within_the_ttl_costs_no_upstream_call() {
    let app = spawn_app().await;
    let first = app.data(DASHBOARD, json!({})).await;
    app.reset_calls().await;

    let second = app.data(DASHBOARD, json!({})).await;

    assert_eq!(app.upstream_calls().await.total, 0);
    assert_eq!(without_durations(first), without_durations(second));
}

#[tokio::test]
async fn live_state_is_fetched_again_once_its_ttl_has_passed() {
    let app = spawn_with(Options {
        settings: vec![("cache.live_ttl", "300ms".into())],
        ..Options::default()
    })
    .await;
    app.data(DASHBOARD, json!({})).await;
    app.reset_calls().await;

    // moka keeps its own clock: the TTL passes in real time. Until it does,
    // the dashboard is answered from the cache; the first read after it
    // goes upstream.
    crate::helpers::eventually("the live TTL passes", Duration::from_secs(3), || async {
        app.data(DASHBOARD, json!({})).await;
        let calls = app.upstream_calls().await;
        (calls.route(route::DETAILS) > 0).then_some(())
    })
    .await;

    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS), 1, "{calls:?}");
    assert_eq!(calls.route(route::USERS), 0, "users live longer: {calls:?}");
}

#[tokio::test]
async fn a_hundred_concurrent_identical_cold_queries_cost_the_same_calls_as_one() {
    let app = spawn_with(Options {
        faults: Faults {
            latency_ms: 30,
            ..Faults::default()
        },
        ..Options::default()
    })
    .await;

    let queries = (0..100).map(|_| app.data(DASHBOARD, json!({})));
    let answers: Vec<Value> = futures::future::join_all(queries)
        .await
        .into_iter()
        .map(without_durations)
        .collect();

    let n = listed(&answers[0]) as u64;
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "every answer is the same"
    );
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS), 1, "{calls:?}");
    assert_eq!(calls.route(route::CONVERSATION), n, "{calls:?}");
    assert_eq!(calls.route(route::USERS), 1, "{calls:?}");
    assert_eq!(calls.route(route::QUEUES), 1, "{calls:?}");
    assert_eq!(calls.total, n + 3, "{calls:?}");
}

#[tokio::test]
async fn cold_latency_is_about_three_upstream_round_trips_whatever_the_number_of_conversations() {
    // Long enough that the gateway's own work (a debug build on a busy
    // 2-core machine) stays small beside it.
    let latency = Duration::from_millis(250);
    for conversations in [4, 40] {
        let app = spawn_with(Options {
            conversations,
            faults: Faults {
                latency_ms: latency.as_millis() as u64,
                ..Faults::default()
            },
            ..Options::default()
        })
        .await;
        let started = Instant::now();
        let data = app.data(DASHBOARD, json!({})).await;
        let took = started.elapsed();
        assert!(listed(&data) >= conversations / 2, "{conversations} seeded");
        // Three round trips: the analytics page, the conversations (concurrently),
        // then users and queues (concurrently).
        assert!(
            took >= latency * 3,
            "{conversations} conversations took {took:?}"
        );
        // Fetched one after another, 40 conversations would take 40 more.
        assert!(
            took < latency * 4,
            "{conversations} conversations took {took:?}"
        );
    }
}

#[tokio::test]
async fn asking_only_for_what_the_listing_holds_costs_only_the_listing_in_either_mode() {
    // Service mode: analytics records hold ids (and start times) only.
    let app = spawn_app().await;
    let data = app
        .data(
            "{ activeCobrowseConversations { totalCount nodes { id conversationId } } }",
            json!({}),
        )
        .await;
    assert!(listed(&data) > 3, "{data}");
    let calls = app.upstream_calls().await;
    assert_eq!(calls.total, 1, "{calls:?}");
    assert_eq!(calls.route(route::DETAILS), 1);

    // Passthrough: the per-user listing holds each conversation's co-browse view.
    let app = spawn_with(Options {
        settings: vec![("auth.mode", "passthrough".into())],
        ..Options::default()
    })
    .await;
    let agents = app.agents().await;
    app.reset_calls().await;
    let bearer = format!("Bearer {}", agents[0].1);
    app.data_as(
        &[("authorization", &bearer)],
        "{ activeCobrowseConversations { nodes { name participants { name state cobrowseSessionId user { userId } } } } }",
    )
    .await;
    let calls = app.upstream_calls().await;
    assert_eq!(calls.total - calls.route(route::TOKEN_INFO), 1, "{calls:?}");
    assert_eq!(calls.route(route::LISTING), 1);
}

#[tokio::test]
async fn a_conversation_by_id_resolves_users_and_queues_in_bulk() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    app.reset_calls().await;

    let data = app
        .data(
            "query($id: String!) { conversation(conversationId: $id) { participants { user { name } queue { name } } } }",
            json!({ "id": ids[0] }),
        )
        .await;

    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::CONVERSATION), 1, "{calls:?}");
    assert_eq!(calls.route(route::USERS), 1, "{calls:?}");
    assert_eq!(calls.route(route::QUEUES), 1, "{calls:?}");
    assert_eq!(
        calls.route(route::USER) + calls.route(route::QUEUE),
        0,
        "{calls:?}"
    );
    assert!(data["conversation"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .any(|p| p["user"]["name"].is_string()));
}

#[tokio::test]
async fn the_co_browse_view_is_fetched_only_when_a_selected_field_needs_it() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    let query = |fields: &str| {
        format!("query($id: String!) {{ conversation(conversationId: $id) {{ participants {{ {fields} }} }} }}")
    };
    app.reset_calls().await;

    app.data(&query("name purpose"), json!({ "id": ids[0] }))
        .await;
    let calls = app.upstream_calls().await;
    assert_eq!(
        (
            calls.route(route::CONVERSATION),
            calls.route(route::COBROWSE_VIEW)
        ),
        (1, 0),
        "{calls:?}"
    );

    let data = app
        .data(&query("name state cobrowseRole"), json!({ "id": ids[0] }))
        .await;
    let calls = app.upstream_calls().await;
    assert_eq!(
        (
            calls.route(route::CONVERSATION),
            calls.route(route::COBROWSE_VIEW)
        ),
        (1, 1),
        "{calls:?}"
    );
    let participants = data["conversation"]["participants"]
        .as_array()
        .expect("participants");
    assert!(participants
        .iter()
        .any(|p| p["state"] == "CONNECTED" && p["cobrowseRole"] == "SHARER"));
}

#[tokio::test]
async fn calls_in_flight_to_upstream_are_bounded() {
    let app = spawn_with(Options {
        conversations: 40,
        faults: Faults {
            latency_ms: 40,
            ..Faults::default()
        },
        settings: vec![("upstream.max_in_flight", "4".into())],
        ..Options::default()
    })
    .await;

    let data = app.data(DASHBOARD, json!({})).await;

    let calls = app.upstream_calls().await;
    assert!(listed(&data) > 8, "more conversations than the bound");
    assert_eq!(calls.max_in_flight, 4, "{calls:?}");
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_it_is_used() {
    let app = spawn_with(Options {
        faults: Faults {
            token_lifetime_s: 1,
            ..Faults::default()
        },
        ..Options::default()
    })
    .await;

    // The token lives 1 s and is refreshed past half its life. The gateway's
    // own clock decides, and no event says the half has passed: only
    // waiting lets that time pass (a request that comes later than the
    // whole second finds it expired, and is refreshed all the same).
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.data(DASHBOARD, json!({})).await;

    let calls = app.upstream_calls().await;
    assert_eq!(
        calls.route(route::TOKEN),
        1,
        "refreshed ahead of expiry: {calls:?}"
    );
    assert_eq!(
        calls.route(route::DETAILS),
        1,
        "and never refused: {calls:?}"
    );
}
