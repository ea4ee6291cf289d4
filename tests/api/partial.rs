//! Partial results as the GraphQL specification says (Handling Field
//! Errors): a failed field is `null` in `data`, present, with its error at
//! its path; a non-null field's failure nulls its nearest nullable parent;
//! `data` is `null` only when a failure reaches the root.

use cobrowse_gateway::graph::ids::NodeId;
use cobrowse_gateway::sim::Faults;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// A conversation id upstream does not know.
const MISSING: &str = "00000000-0000-4000-8000-000000000000";

struct Case {
    name: &'static str,
    /// Queries run before upstream starts failing (what is cached by then).
    warm: &'static [&'static str],
    /// Whether upstream answers 503 to everything after the warm queries.
    fail_upstream: bool,
    query: &'static str,
    /// `data` as it must be: `"*"` is any non-null value; `null` must be
    /// there and null; objects must have exactly these keys.
    data: Value,
    /// The errors' paths (`"agent"` is the index of the participant whose
    /// purpose is agent, `"*"` any index) and codes: every error matches one,
    /// and each is matched.
    errors: &'static [(&'static [&'static str], &'static str)],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a failing nullable root field beside a working one",
            warm: &[],
            fail_upstream: false,
            query: r#"{ a: wrapupCodes { name } c: conversation(conversationId: "00000000-0000-4000-8000-000000000000") { id } }"#,
            data: json!({ "a": "*", "c": null }),
            errors: &[(&["c"], "UPSTREAM_NOT_FOUND")],
        },
        Case {
            name: "the only root field fails",
            warm: &[],
            fail_upstream: false,
            query: r#"{ c: conversation(conversationId: "00000000-0000-4000-8000-000000000000") { id } }"#,
            data: json!({ "c": null }),
            errors: &[(&["c"], "UPSTREAM_NOT_FOUND")],
        },
        Case {
            name: "a failing field inside a list item (one participant's user lookup)",
            warm: &["query($id: String!) { conversation(conversationId: $id) { participants { purpose state } } }"],
            fail_upstream: true,
            query: "query($id: String!) { conversation(conversationId: $id) { participants { purpose user { name } } } }",
            data: json!({ "conversation": { "participants": "*" } }),
            errors: &[(
                &["conversation", "participants", "agent", "user"],
                "UPSTREAM_UNAVAILABLE",
            )],
        },
        Case {
            // A communication's participant (non-null) needs the view, which
            // fails: the communication, its list and its participant are
            // non-null too, so the failure nulls the nearest nullable
            // parent, the conversation's participant list.
            name: "a failing non-null field nulls its nearest nullable parent",
            warm: &["query($id: String!) { wrapupCodes { name } conversation(conversationId: $id) { participants { cobrowseSessions { id } } } }"],
            fail_upstream: true,
            query: "query($id: String!) { codes: wrapupCodes { name } conversation(conversationId: $id) { id participants { cobrowseSessions { participant { cobrowseRole } } } } }",
            data: json!({ "codes": "*", "conversation": { "id": "*", "participants": null } }),
            errors: &[(
                &["conversation", "participants", "*", "cobrowseSessions", "*", "participant"],
                "UPSTREAM_UNAVAILABLE",
            )],
        },
        Case {
            name: "a failing non-null root field nulls data",
            warm: &[],
            fail_upstream: false,
            query: r#"{ codes: wrapupCodes { name } n: nodes(ids: ["not-a-node-id"]) { id } }"#,
            data: Value::Null,
            errors: &[(&["n"], "BAD_USER_INPUT")],
        },
        Case {
            name: "nodes(ids:) with an id that does not exist",
            warm: &[],
            fail_upstream: false,
            query: "query($nodes: [ID!]!) { nodes(ids: $nodes) { id } }",
            data: json!({ "nodes": ["*", null] }),
            errors: &[],
        },
    ]
}

#[tokio::test]
async fn field_errors_null_the_field_or_its_nearest_nullable_parent_and_keep_their_codes() {
    for case in cases() {
        let app = spawn_app().await;
        let id = app.active_conversation_ids().await.swap_remove(0);
        let variables = variables(case.query, &id);
        for warm in case.warm {
            app.data(warm, variables.clone()).await;
        }
        let agent = agent_index(&app, &id).await;
        if case.fail_upstream {
            app.set_faults(&Faults {
                error_fraction: 1.0,
                ..Faults::default()
            })
            .await;
        }

        let body = app.graphql(case.query, variables).await;

        let name = case.name;
        assert!(
            body.as_object().expect("an object").contains_key("data"),
            "{name}: {body:#}"
        );
        assert_shape(&case.data, &body["data"], &format!("{name}: {body:#}"));
        let errors: Vec<(Vec<Value>, &str)> = body["errors"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let path = e["path"].as_array().expect("a path").clone();
                (path, e["extensions"]["code"].as_str().expect("a code"))
            })
            .collect();
        let matches = |(path, code): &(Vec<Value>, &str), (want, want_code): &(&[&str], &str)| {
            code == want_code
                && path.len() == want.len()
                && path.iter().zip(want.iter()).all(|(got, want)| match *want {
                    "*" => got.is_u64(),
                    "agent" => *got == json!(agent),
                    field => *got == json!(field),
                })
        };
        if case.errors.iter().all(|(path, _)| !path.contains(&"*")) {
            assert_eq!(errors.len(), case.errors.len(), "{name}: {body:#}");
        }
        assert_eq!(
            errors.is_empty(),
            case.errors.is_empty(),
            "{name}: {body:#}"
        );
        for error in &errors {
            assert!(
                case.errors.iter().any(|want| matches(error, want)),
                "{name}: {error:?} in {body:#}"
            );
        }
        for want in case.errors {
            assert!(
                errors.iter().any(|error| matches(error, want)),
                "{name}: {want:?} in {body:#}"
            );
        }
        for (path, _) in &errors {
            assert!(nulled(&body["data"], path), "{name}: {path:?} in {body:#}");
        }
    }
}

#[tokio::test]
async fn a_response_with_a_field_error_is_never_kept_by_the_response_cache() {
    let app = spawn_app().await;
    let partial = &cases()[0];
    let working = "{ wrapupCodes { name } }";

    let mut bodies = Vec::new();
    for _ in 0..2 {
        let response = app.post_graphql(&json!({ "query": partial.query })).await;
        assert!(
            response.headers().get("x-cache").is_none(),
            "computed afresh"
        );
        bodies.push(response.json::<Value>().await.expect("json"));
    }
    for body in &mut bodies {
        body["errors"][0]["extensions"]
            .as_object_mut()
            .expect("extensions")
            .remove("correlationId")
            .expect("upstream's correlation id: each answer is its own");
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_shape(&partial.data, &bodies[1]["data"], &bodies[1].to_string());
    assert_eq!(
        bodies[1]["errors"][0]["extensions"]["code"],
        "UPSTREAM_NOT_FOUND"
    );

    // The cache is on: a response without errors is kept.
    app.post_graphql(&json!({ "query": working })).await;
    assert_eq!(
        app.post_graphql(&json!({ "query": working }))
            .await
            .headers()["x-cache"],
        "HIT"
    );
}

fn variables(query: &str, id: &str) -> Value {
    if query.contains("$nodes") {
        let known = NodeId::Conversation {
            conversation: id.into(),
        };
        let missing = NodeId::Conversation {
            conversation: MISSING.into(),
        };
        json!({ "nodes": [known.encode(), missing.encode()] })
    } else if query.contains("$id") {
        json!({ "id": id })
    } else {
        json!({})
    }
}

/// The index of the conversation's agent among its participants.
async fn agent_index(app: &TestApp, id: &str) -> usize {
    let data = app
        .data(
            "query($id: String!) { conversation(conversationId: $id) { participants { purpose } } }",
            json!({ "id": id }),
        )
        .await;
    data["conversation"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .position(|p| p["purpose"] == "AGENT")
        .expect("an agent")
}

fn assert_shape(template: &Value, value: &Value, context: &str) {
    match template {
        Value::String(s) if s == "*" => assert!(!value.is_null(), "{context}"),
        Value::Object(keys) => {
            let object = value.as_object().unwrap_or_else(|| panic!("{context}"));
            let mut have: Vec<&String> = object.keys().collect();
            let mut want: Vec<&String> = keys.keys().collect();
            have.sort();
            want.sort();
            assert_eq!(have, want, "{context}");
            for (key, inner) in keys {
                assert_shape(inner, &object[key], context);
            }
        }
        Value::Array(items) => {
            let list = value.as_array().unwrap_or_else(|| panic!("{context}"));
            assert_eq!(list.len(), items.len(), "{context}");
            for (inner, item) in items.iter().zip(list) {
                assert_shape(inner, item, context);
            }
        }
        other => assert_eq!(other, value, "{context}"),
    }
}

/// Whether the value at `path`, or a parent of it, is there and null.
fn nulled(data: &Value, path: &[Value]) -> bool {
    let mut value = data;
    for segment in path {
        let next = match (segment, value) {
            (_, Value::Null) => return true,
            (Value::String(key), Value::Object(map)) => map.get(key),
            (Value::Number(i), Value::Array(list)) => {
                list.get(i.as_u64().unwrap_or(u64::MAX) as usize)
            }
            _ => None,
        };
        match next {
            Some(next) => value = next,
            None => return false,
        }
    }
    value.is_null()
}
