//! The shape of the graph: every seed field reachable, references resolved,
//! global ids, pagination and mutations.

use serde_json::{json, Value};

use crate::helpers::{first_code, route, spawn_app};

/// Every field of the seed models, by GraphQL type (issue #2).
const SEED_FIELDS: &[(&str, &[&str])] = &[
    (
        "Cobrowsesession",
        &[
            "state",
            "id",
            "disconnectType",
            "self",
            "cobrowseSessionId",
            "cobrowseRole",
            "controlling",
            "viewerUrl",
            "providerEventTime",
            "startAlertingTime",
            "connectedTime",
            "disconnectedTime",
            "provider",
            "peerId",
            "segments",
            "wrapup",
            "afterCallWork",
        ],
    ),
    (
        "CobrowseMediaParticipant",
        &[
            "id",
            "name",
            "address",
            "startTime",
            "connectedTime",
            "endTime",
            "startHoldTime",
            "purpose",
            "state",
            "direction",
            "disconnectType",
            "held",
            "wrapupRequired",
            "wrapupPrompt",
            "user",
            "queue",
            "attributes",
            "errorInfo",
            "script",
            "wrapupTimeoutMs",
            "wrapupSkipped",
            "provider",
            "externalContact",
            "externalOrganization",
            "wrapup",
            "peer",
            "cobrowseSessionId",
            "cobrowseRole",
            "controlling",
            "viewerUrl",
            "providerEventTime",
        ],
    ),
    (
        "Screenshare",
        &[
            "state",
            "id",
            "context",
            "sharing",
            "peerCount",
            "disconnectType",
            "startAlertingTime",
            "connectedTime",
            "disconnectedTime",
            "provider",
            "peerId",
            "segments",
            "wrapup",
            "afterCallWork",
            "afterCallWorkRequired",
        ],
    ),
    (
        "Segment",
        &["startTime", "endTime", "type", "howEnded", "disconnectType"],
    ),
    (
        "Wrapup",
        &[
            "code",
            "name",
            "notes",
            "tags",
            "durationSeconds",
            "endTime",
            "provisional",
        ],
    ),
    ("AfterCallWork", &["startTime", "endTime", "state"]),
    (
        "Address",
        &[
            "name",
            "nameRaw",
            "addressNormalized",
            "addressRaw",
            "addressDisplayable",
        ],
    ),
];

#[tokio::test]
async fn every_field_of_the_seed_models_is_in_the_schema_with_a_description() {
    let app = spawn_app().await;
    for (type_name, fields) in SEED_FIELDS {
        let data = app
            .data(
                "query($name: String!) { __type(name: $name) { description fields { name description } } }",
                json!({ "name": type_name }),
            )
            .await;
        let ty = &data["__type"];
        assert!(
            ty["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{type_name} has a description"
        );
        let present: Vec<&str> = ty["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f["name"].as_str().expect("name"))
            .collect();
        for field in *fields {
            assert!(
                present.contains(field),
                "{type_name}.{field} is missing; has {present:?}"
            );
        }
        for field in ty["fields"].as_array().expect("fields") {
            assert!(
                field["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{type_name}.{} has a description",
                field["name"]
            );
        }
    }
}

const EVERYTHING: &str = r#"
query($id: String!) {
  conversation(conversationId: $id) {
    id conversationId name startTime endTime durationSeconds externalTag address recordingState maxParticipants
    participants {
      id participantId name address startTime connectedTime endTime startHoldTime purpose state direction
      disconnectType held wrapupRequired wrapupPrompt user { id userId name email } queue { id queueId name }
      attributes { key value } errorInfo { message code status } script { id name }
      wrapupTimeoutMs wrapupSkipped provider externalContact { id } externalOrganization { id }
      wrapup { code name notes tags durationSeconds endTime provisional }
      peer { __typename ... on Cobrowsesession { communicationId } ... on Screenshare { communicationId } }
      cobrowseSessionId cobrowseRole controlling { participantId name } controllingIds viewerUrl providerEventTime
      cobrowseSessions {
        id communicationId state initialState disconnectType self { name nameRaw addressNormalized addressRaw addressDisplayable }
        cobrowseSessionId cobrowseRole controlling { participantId } viewerUrl providerEventTime startAlertingTime
        connectedTime disconnectedTime durationSeconds provider peerId peer { __typename }
        segments { startTime endTime durationSeconds type typeRaw howEnded disconnectType }
        wrapup { code name } afterCallWork { startTime endTime state durationSeconds } afterCallWorkRequired
        participant { participantId state } session { providerSessionId }
      }
      screenshares {
        id communicationId state context sharing peerCount disconnectType startAlertingTime connectedTime
        disconnectedTime provider peerId segments { type } wrapup { code } afterCallWork { state } afterCallWorkRequired
        peer { __typename } participant { participantId }
      }
    }
    cobrowseSessions {
      id provider providerSessionId state startTime endTime durationSeconds viewerUrl
      communications { communicationId cobrowseRole }
      participants {
        name role providerUserId
        connections { connectionId joinTime leaveTime leaveReason durationSeconds }
        participant { participantId purpose state }
      }
      segments { type startTime }
      attachedData { coBrowseSessionsQuantity pairs { key value } }
    }
    screenshares { communicationId sharing }
  }
}"#;

async fn conversation_with(
    app: &crate::helpers::TestApp,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let world = app
        .data(
            "{ activeCobrowseConversations(first: 100) { nodes { conversationId } } }",
            json!({}),
        )
        .await;
    for node in world["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
    {
        let data = app
            .data(EVERYTHING, json!({ "id": node["conversationId"] }))
            .await;
        if wanted(&data["conversation"]) {
            return data["conversation"].clone();
        }
    }
    panic!("no conversation of the simulator fits");
}

#[tokio::test]
async fn every_field_resolves_without_errors_and_references_become_objects() {
    let app = spawn_app().await;
    // A conversation with a screenshare and a control grant.
    let conversation = conversation_with(&app, |c| {
        !c["screenshares"]
            .as_array()
            .expect("screenshares")
            .is_empty()
            && c["participants"]
                .as_array()
                .expect("p")
                .iter()
                .any(|p| !p["controlling"].as_array().expect("c").is_empty())
    })
    .await;

    let participants = conversation["participants"]
        .as_array()
        .expect("participants");
    let agent = participants
        .iter()
        .find(|p| p["purpose"] == "AGENT")
        .expect("an agent");
    let customer = participants
        .iter()
        .find(|p| p["purpose"] == "CUSTOMER")
        .expect("a customer");
    // `controlling` names participants; they resolve to the participants themselves.
    assert_eq!(
        agent["controlling"][0]["participantId"],
        customer["participantId"]
    );
    assert_eq!(agent["controllingIds"][0], customer["participantId"]);
    // `peer` names the customer's communication.
    assert_eq!(agent["peer"]["__typename"], "Cobrowsesession");
    let customer_comms: Vec<&Value> = customer["cobrowseSessions"]
        .as_array()
        .expect("comms")
        .iter()
        .collect();
    assert!(customer_comms
        .iter()
        .any(|c| c["communicationId"] == agent["peer"]["communicationId"]));
    assert!(agent["user"]["name"].is_string());
    assert_eq!(agent["cobrowseRole"], "VIEWER");
    assert_eq!(customer["cobrowseRole"], "SHARER");
    // Sessions group the sharer and the viewer.
    let session = &conversation["cobrowseSessions"]
        .as_array()
        .expect("sessions")
        .last()
        .expect("one")
        .clone();
    assert_eq!(session["provider"], "PURECLOUD");
    let people = session["participants"].as_array().expect("participants");
    let sharer = people
        .iter()
        .find(|p| p["role"] == "SHARER")
        .expect("a sharer");
    let viewer = people
        .iter()
        .find(|p| p["role"] == "VIEWER")
        .expect("a viewer");
    assert_eq!(sharer["participant"]["purpose"], "CUSTOMER");
    assert_eq!(viewer["participant"]["purpose"], "AGENT");
    assert!(
        viewer["participant"]["state"].is_string(),
        "the view was fetched for `state`"
    );
    assert_eq!(
        viewer["connections"][0]["connectionId"],
        agent["cobrowseSessions"]
            .as_array()
            .expect("c")
            .last()
            .expect("one")["communicationId"]
    );
    assert_eq!(
        session["communications"].as_array().expect("comms").len(),
        2
    );
    // Screenshares: one side shares, the other watches.
    let shares = conversation["screenshares"].as_array().expect("shares");
    assert_eq!(shares.iter().filter(|s| s["sharing"] == true).count(), 1);
}

#[tokio::test]
async fn global_ids_fetch_their_nodes_again() {
    let app = spawn_app().await;
    let conversation = conversation_with(&app, |c| {
        !c["screenshares"].as_array().expect("s").is_empty()
    })
    .await;
    let agent = conversation["participants"]
        .as_array()
        .expect("p")
        .iter()
        .find(|p| p["purpose"] == "AGENT")
        .expect("agent")
        .clone();
    let ids = [
        (conversation["id"].clone(), "Conversation"),
        (agent["id"].clone(), "CobrowseMediaParticipant"),
        (
            agent["cobrowseSessions"][0]["id"].clone(),
            "Cobrowsesession",
        ),
        (agent["screenshares"][0]["id"].clone(), "Screenshare"),
        (conversation["cobrowseSessions"][0]["id"].clone(), "Session"),
        (agent["user"]["id"].clone(), "User"),
        (agent["queue"]["id"].clone(), "Queue"),
    ];

    for (id, typename) in ids {
        let data = app
            .data(
                "query($id: ID!) { node(id: $id) { __typename id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(data["node"]["__typename"], typename, "{id}");
        assert_eq!(data["node"]["id"], id);
    }
    let data = app
        .data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on CobrowseMediaParticipant { name state } } }",
            json!({ "ids": [agent["id"], conversation["id"]] }),
        )
        .await;
    assert_eq!(data["nodes"][0]["name"], agent["name"]);
    assert_eq!(data["nodes"][0]["state"], agent["state"]);
    assert_eq!(data["nodes"][1]["id"], conversation["id"]);
}

#[tokio::test]
async fn pages_of_active_conversations_do_not_overlap_and_cover_the_listing() {
    let app = spawn_app().await;
    let page = "query($after: String) { activeCobrowseConversations(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { conversationId } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let total = loop {
        let data = app.data(page, json!({ "after": after })).await;
        let connection = &data["activeCobrowseConversations"];
        for edge in connection["edges"].as_array().expect("edges") {
            seen.push(
                edge["node"]["conversationId"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            );
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break connection["totalCount"].as_u64().expect("count") as usize;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    };
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no overlap");
    assert_eq!(seen.len(), total, "every conversation once");

    let data = app.data("{ activeCobrowseConversations(last: 2) { pageInfo { hasPreviousPage } nodes { conversationId } } }", json!({})).await;
    let last: Vec<&str> = data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["conversationId"].as_str().expect("id"))
        .collect();
    assert_eq!(
        last,
        seen[seen.len() - 2..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn disconnecting_a_participant_changes_upstream_and_invalidates_the_cache() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    let query = "query($id: String!) { conversation(conversationId: $id) { participants { participantId purpose state cobrowseSessions { state } } } }";
    let before = app.data(query, json!({ "id": ids[0] })).await;
    let customer = before["conversation"]["participants"]
        .as_array()
        .expect("p")
        .iter()
        .find(|p| p["purpose"] == "CUSTOMER")
        .expect("customer")
        .clone();
    assert_eq!(customer["state"], "CONNECTED");

    let data = app
        .data(
            "mutation($c: String!, $p: String!) { disconnectParticipant(conversationId: $c, participantId: $p) { state cobrowseSessions { state } } }",
            json!({ "c": ids[0], "p": customer["participantId"] }),
        )
        .await;
    assert_eq!(data["disconnectParticipant"]["state"], "DISCONNECTED");

    let after = app.data(query, json!({ "id": ids[0] })).await;
    let customer = after["conversation"]["participants"]
        .as_array()
        .expect("p")
        .iter()
        .find(|p| p["purpose"] == "CUSTOMER")
        .expect("customer")
        .clone();
    assert_eq!(customer["state"], "DISCONNECTED");
    assert!(customer["cobrowseSessions"]
        .as_array()
        .expect("c")
        .iter()
        .all(|c| c["state"] == "DISCONNECTED"));
}

#[tokio::test]
async fn attributes_and_wrapups_are_written_through_the_participant_endpoints() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    let data = app
        .data("query($id: String!) { conversation(conversationId: $id) { participants { participantId purpose } } }", json!({ "id": ids[1] }))
        .await;
    let agent = data["conversation"]["participants"]
        .as_array()
        .expect("p")
        .iter()
        .find(|p| p["purpose"] == "AGENT")
        .expect("agent")["participantId"]
        .clone();
    app.reset_calls().await;

    let data = app
        .data(
            r#"mutation($c: String!, $p: String!) {
                setParticipantAttributes(conversationId: $c, participantId: $p, attributes: [{ key: "crm.case", value: "C-17" }]) { attributes { key value } }
                applyWrapup(conversationId: $c, participantId: $p, wrapup: { code: "resolved", notes: "done" }) { wrapup { code notes } }
            }"#,
            json!({ "c": ids[1], "p": agent }),
        )
        .await;

    assert!(data["setParticipantAttributes"]["attributes"]
        .as_array()
        .expect("a")
        .contains(&json!({ "key": "crm.case", "value": "C-17" })));
    assert_eq!(
        data["applyWrapup"]["wrapup"],
        json!({ "code": "resolved", "notes": "done" })
    );
    let calls = app.upstream_calls().await;
    assert_eq!(
        calls.route("PATCH /api/v2/conversations/{cid}/participants/{pid}/attributes"),
        1
    );
    assert_eq!(
        calls.route("PATCH /api/v2/conversations/{cid}/participants/{pid}"),
        1
    );

    let body = app
        .graphql(
            r#"mutation($c: String!) { setParticipantAttributes(conversationId: $c, participantId: "nobody", attributes: [{ key: "k", value: "v" }]) { participantId } }"#,
            json!({ "c": ids[1] }),
        )
        .await;
    assert_eq!(first_code(&body), "UPSTREAM_NOT_FOUND", "{body:#}");
    let body = app
        .graphql(
            r#"mutation($c: String!) { setParticipantAttributes(conversationId: $c, participantId: "x", attributes: []) { participantId } }"#,
            json!({ "c": ids[1] }),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body:#}");
}

#[tokio::test]
async fn wrapup_codes_are_listed_and_cached() {
    let app = spawn_app().await;
    let first = app.data("{ wrapupCodes { codeId name } }", json!({})).await;
    let second = app.data("{ wrapupCodes { codeId name } }", json!({})).await;
    assert!(first["wrapupCodes"].as_array().expect("codes").len() >= 10);
    assert_eq!(first, second);
    assert_eq!(
        app.upstream_calls()
            .await
            .route("GET /api/v2/routing/wrapupcodes"),
        1
    );
    assert_eq!(app.upstream_calls().await.route(route::USERS), 0);
}
