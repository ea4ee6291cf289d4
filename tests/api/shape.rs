//! Every field of a conversation and of a participant, selected alone,
//! answers what it answers when every upstream shape is fetched: the
//! gateway fetches, for each field, the shape that serves it. Walked over
//! the schema itself, so a new field is covered the day it is added; from
//! the active listing (which starts from the co-browse view) and from
//! `conversation(conversationId:)` (which starts from the full form).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// The fields of `type_name`, each with the selection it needs (`""` for a
/// leaf, `{ __typename }` for an object, a union or an interface).
async fn fields(app: &TestApp, type_name: &str) -> Vec<(String, &'static str)> {
    let data = app
        .data(
            "query($t: String!) { __type(name: $t) { fields { name type { kind ofType { kind ofType { kind ofType { kind } } } } } } }",
            json!({ "t": type_name }),
        )
        .await;
    data["__type"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|field| {
            let mut ty = &field["type"];
            while ty["kind"] == "NON_NULL" || ty["kind"] == "LIST" {
                ty = &ty["ofType"];
            }
            let leaf = matches!(ty["kind"].as_str(), Some("SCALAR" | "ENUM"));
            let name = field["name"].as_str().expect("a name").to_owned();
            (name, if leaf { "" } else { "{ __typename }" })
        })
        .collect()
}

/// Values that depend on the time they are read at are compared by
/// presence only.
fn comparable(field: &str, value: &Value) -> Value {
    match field {
        "durationSeconds" => json!(!value.is_null()),
        _ => value.clone(),
    }
}

/// The values at `path`, through every item of the lists on the way; the
/// last key's value as it is.
fn values<'a>(data: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    let (last, through) = path.split_last().expect("a path");
    let mut found = vec![data];
    for key in through {
        found = found
            .into_iter()
            .flat_map(|v| match &v[*key] {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
    }
    found.into_iter().map(|v| &v[*last]).collect()
}

/// Where a conversation is reached: the query around it and the path to it.
struct Root {
    open: &'static str,
    close: &'static str,
    path: &'static [&'static str],
    variables: Value,
}

/// Asks for `field` alone and beside `everything` (fields that need both
/// shapes), inside `within` (a path below the conversation), and compares.
/// Returns how many of the values were not null.
async fn same_alone_and_with_everything(
    app: &TestApp,
    root: &Root,
    within: &[&str],
    field: (&str, &str),
    everything: &str,
) -> usize {
    let (field, selection) = field;
    let query = |inner: String| {
        let inner = within
            .iter()
            .rev()
            .fold(inner, |inner, key| format!("{key} {{ {inner} }}"));
        format!("{} {inner} {}", root.open, root.close)
    };
    let alone = query(format!("{field} {selection}"));
    let with_everything = query(format!("{field} {selection} {everything}"));
    let a = app.data(&alone, root.variables.clone()).await;
    let b = app.data(&with_everything, root.variables.clone()).await;
    let path: Vec<&str> = root
        .path
        .iter()
        .chain(within)
        .copied()
        .chain([field])
        .collect();
    let (a, b) = (values(&a, &path), values(&b, &path));
    assert_eq!(a.len(), b.len(), "{alone}");
    assert!(!a.is_empty(), "{alone}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(comparable(field, x), comparable(field, y), "{alone}");
    }
    b.iter().filter(|v| !v.is_null()).count()
}

#[tokio::test]
async fn every_field_selected_alone_answers_what_it_answers_with_every_shape_fetched() {
    let app = spawn_app().await;
    let id = app.active_conversation_ids().await.swap_remove(0);
    let roots = [
        // The listing starts from the co-browse view.
        Root {
            open: "{ activeCobrowseConversations { nodes {",
            close: "} } }",
            path: &["activeCobrowseConversations", "nodes"],
            variables: json!({}),
        },
        // One conversation starts from the full form.
        Root {
            open: "query($id: String!) { conversation(conversationId: $id) {",
            close: "} }",
            path: &["conversation"],
            variables: json!({ "id": id }),
        },
    ];
    // Per type, two fields only the full form serves and two only the view
    // serves, so that one of each is not the field compared (aliased, so
    // that they never merge with it).
    let participant = "s_: state r_: cobrowseRoleRaw c_: cobrowseSessions { id } l_: locale";
    let conversation =
        format!("t_: startTime e_: externalTag p_: participants {{ {participant} }}");
    let types = [
        ("Conversation", &[][..], conversation.as_str()),
        (
            "CobrowseMediaParticipant",
            &["participants"][..],
            participant,
        ),
    ];
    let mut without_a_value = Vec::new();
    for (type_name, within, everything) in types {
        for (field, selection) in fields(&app, type_name).await {
            let mut seen = 0;
            for root in &roots {
                seen += same_alone_and_with_everything(
                    &app,
                    root,
                    within,
                    (&field, selection),
                    everything,
                )
                .await;
            }
            if seen == 0 {
                without_a_value.push(format!("{type_name}.{field}"));
            }
        }
    }
    // The comparison means something only for fields the simulator fills:
    // nearly all of them.
    println!("never answered with a value: {without_a_value:?}");
    assert!(
        without_a_value.len() <= 12,
        "never answered with a value: {without_a_value:?}"
    );
}
