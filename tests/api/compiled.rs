//! The compiled path against the general engine, both ways, bytes
//! compared (`server.compiled_queries = verify`: the gateway runs the plan
//! as of the same instant as the engine's answer and sends `x-compiled:
//! match`, `mismatch` or `declined`). Every test gateway runs in verify
//! mode, so every query of the suite is compared too (`helpers::verified`
//! fails a test on a mismatch); here: the README's queries, random
//! selections of what plans cover (`COMPILED_CASES`, default 2,000 per
//! run), partial results, and the production mode (`on`).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};

use crate::helpers::{metrics_text, spawn_with, Options, TestApp};
use cobrowse_gateway::sim::Faults;

/// The fields plans cover, by type (`name:Type` selects an object).
const COVERED: &[(&str, &[&str])] = &[
    (
        "ConversationConnection",
        &["__typename", "totalCount", "nodes:Conversation"],
    ),
    (
        "Conversation",
        &[
            "__typename",
            "id",
            "conversationId",
            "name",
            "startTime",
            "endTime",
            "durationSeconds",
            "externalTag",
            "address",
            "maxParticipants",
            "participants:CobrowseMediaParticipant",
            "cobrowseSessions:Session",
        ],
    ),
    (
        "CobrowseMediaParticipant",
        &[
            "__typename",
            "id",
            "participantId",
            "name",
            "address",
            "startTime",
            "connectedTime",
            "endTime",
            "purpose",
            "purposeRaw",
            "state",
            "stateRaw",
            "wrapupRequired",
            "cobrowseSessionId",
            "cobrowseRole",
            "viewerUrl",
            "user:User",
            "queue:Queue",
            "cobrowseSessions:Cobrowsesession",
        ],
    ),
    (
        "User",
        &[
            "__typename",
            "id",
            "userId",
            "name",
            "email",
            "username",
            "title",
            "department",
            "state",
        ],
    ),
    (
        "Queue",
        &[
            "__typename",
            "id",
            "queueId",
            "name",
            "description",
            "memberCount",
        ],
    ),
    (
        "Cobrowsesession",
        &[
            "__typename",
            "id",
            "communicationId",
            "state",
            "stateRaw",
            "cobrowseSessionId",
            "cobrowseRole",
            "connectedTime",
            "disconnectedTime",
            "durationSeconds",
            "provider",
            "peerId",
            "viewerUrl",
            "segments:Segment",
        ],
    ),
    (
        "Segment",
        &[
            "__typename",
            "type",
            "typeRaw",
            "startTime",
            "endTime",
            "durationSeconds",
            "howEnded",
        ],
    ),
    (
        "Session",
        &[
            "__typename",
            "id",
            "provider",
            "mediaType",
            "providerSessionId",
            "state",
            "startTime",
            "endTime",
            "durationSeconds",
            "startUrl",
            "pin",
            "endReason",
            "viewerUrl",
        ],
    ),
];

/// A random selection of `ty`'s covered fields: one to four of them, some
/// under an alias, objects with their own selection.
fn selection(rng: &mut StdRng, ty: &str) -> String {
    let fields = COVERED
        .iter()
        .find(|(name, _)| *name == ty)
        .map(|(_, fields)| *fields)
        .expect("a covered type");
    let count = rng.random_range(1..=fields.len().min(4));
    let picked: Vec<&&str> = fields.choose_multiple(rng, count).collect();
    let mut parts = Vec::with_capacity(picked.len());
    for (i, field) in picked.into_iter().enumerate() {
        let alias = if rng.random_bool(0.1) {
            format!("a{i}: ")
        } else {
            String::new()
        };
        match field.split_once(':') {
            Some((name, of)) => parts.push(format!("{alias}{name} {}", selection(rng, of))),
            None => parts.push(format!("{alias}{field}")),
        }
    }
    format!("{{ {} }}", parts.join(" "))
}

/// A random query of the active listing: paged or not (now and then past
/// the page limit, which the engine refuses at its path and the plan
/// declines), a random covered selection.
fn query(rng: &mut StdRng) -> String {
    let arguments = match rng.random_range(0..20) {
        0..=11 => String::new(),
        12..=16 => format!("(first: {})", rng.random_range(0..=25)),
        17..=18 => format!("(last: {})", rng.random_range(0..=25)),
        _ => format!("(first: {})", rng.random_range(51..=500)),
    };
    let alias = if rng.random_bool(0.1) { "list: " } else { "" };
    format!(
        "{{ {alias}activeCobrowseConversations{arguments} {} }}",
        selection(rng, "ConversationConnection")
    )
}

fn cases() -> usize {
    std::env::var("COMPILED_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// A gateway in verify mode whose every answer is compared (no response
/// cache: a kept response is served before either path runs).
async fn spawn_compared() -> TestApp {
    spawn_with(Options {
        settings: vec![("server.response_cache", "false".to_owned())],
        ..Options::default()
    })
    .await
}

/// A gateway as in production (compiled queries on), without a response
/// cache (whose kept responses would answer before the plan).
async fn spawn_on() -> TestApp {
    spawn_with(Options {
        settings: vec![
            ("server.compiled_queries", "on".to_owned()),
            ("server.response_cache", "false".to_owned()),
        ],
        ..Options::default()
    })
    .await
}

/// Posts `body`; its `x-compiled` header (`helpers::verified` has failed
/// the test on a mismatch already) and the body.
async fn compared(app: &TestApp, body: &Value) -> (Option<String>, Value) {
    let response = app.post_graphql(body).await;
    assert_eq!(response.status(), 200);
    let compiled = response
        .headers()
        .get("x-compiled")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (compiled, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn random_selections_of_what_plans_cover_answer_the_same_bytes_both_ways() {
    let app = spawn_compared().await;
    let seed = rand::random::<u64>();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
    for _ in 0..cases() {
        let query = query(&mut rng);
        let (compiled, body) = compared(&app, &json!({ "query": query })).await;
        let compiled = match compiled {
            Some(compiled) => compiled,
            // A large page past the complexity limit: refused before
            // anything ran (so never compiled).
            None if body.get("data").is_none() && body["errors"].is_array() => "refused".into(),
            None => panic!("seed {seed}: no plan for {query}: {body}"),
        };
        if compiled == "match" {
            assert!(body.get("errors").is_none(), "seed {seed}: {query}: {body}");
        }
        *outcomes.entry(compiled).or_default() += 1;
    }
    println!("seed {seed}: {outcomes:?}");
    let matched = outcomes.get("match").copied().unwrap_or(0);
    // Declined: a selection that needs a view upstream has none of (a
    // conversation without co-browse), or a page past the limit.
    assert!(
        matched * 10 >= cases() * 8,
        "seed {seed}: too few compared ({outcomes:?})"
    );
}

/// The GraphQL blocks of the README, each with the variables it needs.
fn readme_queries() -> Vec<String> {
    let readme = crate::helpers::documentation();
    readme
        .split("```graphql")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_readme_queries_answer_the_same_bytes_both_ways_and_the_dashboard_is_compiled() {
    let app = spawn_compared().await;
    let known = crate::selections::known(&app).await;
    let queries = readme_queries();
    assert!(queries.len() >= 6, "the README's queries: {queries:?}");
    let mut compiled_any = false;
    for query in &queries {
        let variables = json!({
            "id": known.conversations[0],
            "interval": { "start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z" },
        });
        for _ in 0..2 {
            let (compiled, _) =
                compared(&app, &json!({ "query": query, "variables": variables })).await;
            let (unvaried, body) = compared(&app, &json!({ "query": query })).await;
            if query.contains("query Dashboard") {
                // Variables it does not declare change nothing.
                assert_eq!(compiled.as_deref(), Some("match"), "{body}");
                assert_eq!(unvaried.as_deref(), Some("match"), "{body}");
                compiled_any = true;
            } else {
                assert_eq!(compiled, None, "{query}");
            }
        }
    }
    assert!(compiled_any, "the README shows the dashboard query");
    let dashboard = include_str!("../queries/dashboard.graphql");
    let (compiled, _) = compared(&app, &json!({ "query": dashboard })).await;
    assert_eq!(compiled.as_deref(), Some("match"));
}

#[tokio::test]
async fn a_partial_result_is_the_general_engines_and_the_plan_answers_again_once_data_is_back() {
    let app = spawn_compared().await;
    // Cached: the listing and each conversation, not its users' names.
    let warm = "{ activeCobrowseConversations { nodes { participants { purpose } } } }";
    assert_eq!(
        compared(&app, &json!({ "query": warm })).await.0.as_deref(),
        Some("match")
    );
    let query = "{ activeCobrowseConversations { totalCount nodes { participants { purpose user { name } } } } }";
    app.set_faults(&Faults {
        error_fraction: 1.0,
        error_status: 503,
        ..Faults::default()
    })
    .await;
    let (compiled, body) = compared(&app, &json!({ "query": query })).await;
    assert_eq!(compiled.as_deref(), Some("declined"), "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .all(|e| e["path"][5] == "user" && e["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"),
        "{body}"
    );
    assert!(body["data"]["activeCobrowseConversations"]["totalCount"].is_number());
    app.set_faults(&Faults::default()).await;
    let (compiled, body) = compared(&app, &json!({ "query": query })).await;
    assert_eq!(compiled.as_deref(), Some("match"), "{body}");
    // The root field failing whole: data null at its path, declined.
    let cold = spawn_compared().await;
    cold.set_faults(&Faults {
        error_fraction: 1.0,
        error_status: 503,
        ..Faults::default()
    })
    .await;
    let (compiled, body) = compared(&cold, &json!({ "query": query })).await;
    assert_eq!(compiled.as_deref(), Some("declined"), "{body}");
    assert_eq!(body["data"]["activeCobrowseConversations"], Value::Null);
}

#[tokio::test]
async fn in_production_mode_the_plan_answers_warm_queries_without_calling_upstream() {
    let app = spawn_on().await;
    let dashboard = include_str!("../queries/dashboard.graphql");
    let first = app.post_graphql(&json!({ "query": dashboard })).await;
    assert!(first.headers().get("x-compiled").is_none());
    let first: Value = first.json().await.expect("JSON");
    app.reset_calls().await;
    let answered = app.post_graphql(&json!({ "query": dashboard })).await;
    assert_eq!(
        answered
            .headers()
            .get("x-compiled")
            .map(|v| v.to_str().expect("ascii")),
        Some("answered")
    );
    assert!(answered.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .starts_with("private, max-age="));
    let answered: Value = answered.json().await.expect("JSON");
    assert_eq!(app.upstream_calls().await.total, 0);
    assert!(answered.get("errors").is_none());
    let ids = |body: &Value| -> Vec<Value> {
        body["data"]["activeCobrowseConversations"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["conversationId"].clone())
            .collect()
    };
    assert_eq!(ids(&answered), ids(&first));
    let metrics = metrics_text(&app.url("")).await;
    assert!(
        metrics.contains("cobrowse_gateway_compiled_total{outcome=\"answered\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_change_upstream_reaches_the_next_compiled_answer_and_nothing_kept_is_served_stale() {
    let app = spawn_on().await;
    // No durations: each conversation's participants are kept as written.
    let query = "{ activeCobrowseConversations { nodes { conversationId participants { participantId purpose state cobrowseSessions { state } } } } }";
    let states = |body: &Value, conversation: &str, participant: &str| -> Value {
        let nodes = body["data"]["activeCobrowseConversations"]["nodes"]
            .as_array()
            .expect("nodes");
        let node = nodes
            .iter()
            .find(|n| n["conversationId"] == conversation)
            .expect("the conversation");
        node["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .find(|p| p["participantId"] == participant)
            .expect("the participant")
            .clone()
    };
    let first: Value = app
        .post_graphql(&json!({ "query": query }))
        .await
        .json()
        .await
        .expect("JSON");
    let answered = app.post_graphql(&json!({ "query": query })).await;
    assert_eq!(answered.headers()["x-compiled"], "answered");
    let answered: Value = answered.json().await.expect("JSON");
    let node = &first["data"]["activeCobrowseConversations"]["nodes"][0];
    let conversation = node["conversationId"].as_str().expect("an id").to_owned();
    let agent = node["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["purpose"] == "AGENT")
        .expect("an agent");
    let agent_id = agent["participantId"].as_str().expect("an id").to_owned();
    assert_eq!(
        states(&answered, &conversation, &agent_id)["state"],
        "CONNECTED"
    );
    app.data(
        "mutation($c: String!, $p: String!) { disconnectParticipant(conversationId: $c, participantId: $p) { state } }",
        json!({ "c": conversation, "p": agent_id }),
    )
    .await;
    // The engine reads the changed conversation (the mutation forgot it)...
    let after: Value = app
        .post_graphql(&json!({ "query": query }))
        .await
        .json()
        .await
        .expect("JSON");
    // ...and the plan answers from the new data, not from what it kept.
    let again = app.post_graphql(&json!({ "query": query })).await;
    assert_eq!(again.headers()["x-compiled"], "answered");
    let again: Value = again.json().await.expect("JSON");
    let disconnected = states(&after, &conversation, &agent_id);
    assert_eq!(disconnected["state"], "DISCONNECTED", "{disconnected}");
    assert_eq!(states(&again, &conversation, &agent_id), disconnected);
}
