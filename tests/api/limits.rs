//! Query limits: depth, complexity, aliases, root fields, document size,
//! and introspection, all refused before any upstream call.

use serde_json::{json, Value};

use crate::helpers::{first_code, spawn_app, spawn_with, Options, TestApp};

const LIMIT_CODES: [&str; 6] = [
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COMPLEX",
    "TOO_MANY_ALIASES",
    "TOO_MANY_ROOT_FIELDS",
    "QUERY_TOO_LARGE",
    "INTROSPECTION_DISABLED",
];

/// The operations of every `graphql` block of the README but subscriptions:
/// `(document, operation name)`.
fn readme_operations() -> Vec<(String, String)> {
    let readme = crate::helpers::documentation();
    let mut operations = Vec::new();
    for block in readme.split("```graphql\n").skip(1) {
        let document = block.split("```").next().expect("a closed block");
        if document.trim_start().starts_with("subscription") {
            continue;
        }
        let names: Vec<String> = document
            .lines()
            .filter_map(|line| line.strip_prefix("query "))
            .map(|rest| rest.chars().take_while(|c| c.is_alphanumeric()).collect())
            .collect();
        // No date that goes stale: intervals are variables.
        let dated = document.as_bytes().windows(10).any(|w| {
            w.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                _ => c.is_ascii_digit(),
            })
        });
        assert!(!dated, "a README block with a fixed date:\n{document}");
        // One operation per block: a reader copies a block and runs it.
        assert_eq!(names.len(), 1, "a README block with {names:?}:\n{document}");
        operations.push((document.to_owned(), names[0].clone()));
    }
    operations
}

/// The limit error of a response, if it has one: (code, measured, limit).
fn limit_error(body: &Value) -> Option<(String, u64, u64)> {
    body["errors"].as_array()?.iter().find_map(|e| {
        let code = e["extensions"]["code"].as_str()?;
        LIMIT_CODES.contains(&code).then(|| {
            (
                code.to_owned(),
                e["extensions"]["measured"].as_u64().unwrap_or(0),
                e["extensions"]["limit"].as_u64().unwrap_or(0),
            )
        })
    })
}

#[tokio::test]
async fn the_default_limits_admit_every_query_of_the_readme() {
    let app = spawn_app().await;
    let first = app
        .data(
            "{ activeCobrowseConversations(first: 1) { nodes { id conversationId } } }",
            json!({}),
        )
        .await["activeCobrowseConversations"]["nodes"][0]
        .clone();
    let operations = readme_operations();
    assert!(operations.len() >= 6, "{operations:?}");
    for (document, name) in operations {
        // `One` takes a conversation id, `Again` a global node id.
        let id = if name == "Again" {
            &first["id"]
        } else {
            &first["conversationId"]
        };
        // The reports take the last day, as the README's shell example
        // computes it.
        let now = chrono::Utc::now();
        let interval = json!({
            "start": (now - chrono::Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "end": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        let body = app
            .graphql_operation(&document, &name, json!({ "id": id, "interval": interval }))
            .await;
        assert!(body.get("errors").is_none(), "{name}: {body:#}");
        assert!(body["data"].is_object(), "{name}: {body:#}");
    }
}

async fn refused(app: &TestApp, query: &str) -> (String, u64, u64) {
    app.reset_calls().await;
    let body = app.graphql(query, json!({})).await;
    assert!(
        body.get("data").is_none() || body["data"].is_null(),
        "{body:#}"
    );
    let refusal = limit_error(&body).unwrap_or_else(|| panic!("not refused: {body:#}"));
    let message = body["errors"][0]["message"].as_str().expect("a message");
    assert!(message.contains(&refusal.1.to_string()), "{message}");
    assert_eq!(
        app.upstream_calls().await.total,
        0,
        "refused before any upstream call"
    );
    refusal
}

#[tokio::test]
async fn over_limit_documents_are_refused_with_the_measured_value_and_no_upstream_call() {
    let app = spawn_with(Options {
        settings: vec![("limits.max_complexity", "300".into())],
        ..Options::default()
    })
    .await;

    // Depth: participants nest through `controlling`.
    let deep = format!(
        "{{ conversation(conversationId: \"x\") {{ participants {{ {} name {} }} }} }}",
        "controlling { ".repeat(20),
        "}".repeat(20)
    );
    let (code, measured, limit) = refused(&app, &deep).await;
    assert_eq!((code.as_str(), limit), ("QUERY_TOO_DEEP", 16));
    assert_eq!(measured, 23);

    // Complexity: a page's selection counts once per requested item.
    let query = |first: u32| {
        format!("{{ activeCobrowseConversations(first: {first}) {{ nodes {{ id name }} }} }}")
    };
    let (code, measured, limit) = refused(&app, &query(100)).await;
    assert_eq!(
        (code.as_str(), measured, limit),
        ("QUERY_TOO_COMPLEX", 301, 300)
    );
    assert!(app
        .graphql(&query(99), json!({}))
        .await
        .get("errors")
        .is_none());

    let aliases: String = (0..41).map(|i| format!("a{i}: __typename ")).collect();
    let (code, measured, limit) = refused(&app, &format!("{{ {aliases} }}")).await;
    assert_eq!(
        (code.as_str(), measured, limit),
        ("TOO_MANY_ALIASES", 41, 40)
    );

    let roots: String = (0..11)
        .map(|i| format!("q{i}: wrapupCodes {{ name }} "))
        .collect();
    let (code, measured, limit) = refused(&app, &format!("{{ {roots} }}")).await;
    assert_eq!(
        (code.as_str(), measured, limit),
        ("TOO_MANY_ROOT_FIELDS", 11, 10)
    );

    let padded = format!("{{ __typename }}{}", " ".repeat(33_000));
    let (code, measured, limit) = refused(&app, &padded).await;
    assert_eq!((code.as_str(), limit), ("QUERY_TOO_LARGE", 32_768));
    assert_eq!(measured, padded.len() as u64);
}

#[tokio::test]
async fn engage_keys_weigh_more_than_a_field_in_complexity() {
    // With an agent limit, a Zoom session's keys cost a store query.
    let app = spawn_with(Options {
        settings: vec![("limits.max_complexity", "1".into())],
        ..Options::default()
    })
    .await;
    let sessions = |selection: &str| {
        format!("{{ cobrowseSessions(first: 20) {{ nodes {{ providerSessionId {selection} }} }} }}")
    };
    let (_, without, _) = refused(&app, &sessions("")).await;
    let (code, with, _) = refused(&app, &sessions("attachedData { isCoBrowseDenied }")).await;
    assert_eq!(code, "QUERY_TOO_COMPLEX");
    assert_eq!(
        with - without,
        20 * (10 + 1),
        "20 nodes, each 10 plus its one field"
    );
}

#[tokio::test]
async fn a_too_large_document_is_a_request_error_under_graphql_response_json() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": format!("{{ __typename }}{}", " ".repeat(40_000)) }))
        .send()
        .await
        .map(crate::helpers::verified)
        .expect("answers");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(first_code(&body), "QUERY_TOO_LARGE");
}

const INTROSPECTION: &str =
    "{ __schema { queryType { name } } __type(name: \"Conversation\") { name } }";

#[tokio::test]
async fn introspection_can_be_turned_off_and_data_queries_still_work() {
    let open = spawn_app().await;
    let body = open.graphql(INTROSPECTION, json!({})).await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );

    let closed = spawn_with(Options {
        settings: vec![("server.introspection", "false".into())],
        ..Options::default()
    })
    .await;
    let body = closed.graphql(INTROSPECTION, json!({})).await;
    assert_eq!(first_code(&body), "INTROSPECTION_DISABLED", "{body}");
    let hidden = closed
        .graphql(
            "{ ... on Query { __schema { types { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&hidden), "INTROSPECTION_DISABLED", "{hidden}");
    let data: Value = closed
        .data(
            "{ __typename activeCobrowseConversations { totalCount } }",
            json!({}),
        )
        .await;
    assert!(data["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0));
}
