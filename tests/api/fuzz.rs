//! Bad input loses nothing and breaks nothing: random and mutated webhook
//! deliveries and GraphQL requests, generated with proptest strategies and
//! sent over HTTP to a real gateway. Every answer must be a 2xx or a clear
//! 4xx with a stable code: never a 5xx, never a dropped connection (a
//! panicking handler drops it). Each run draws fresh cases; a failure prints
//! the input. `FUZZ_CASES` sets how many per target (default 300).

use cobrowse_gateway::secret::Secret;
use cobrowse_gateway::zoom::signature::sign;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ZOOM_SECRET};

fn cases() -> usize {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[a-z_.]{1,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value inside `value`.
fn paths(value: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut next = at.clone();
                next.push(k.clone());
                paths(v, next, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut next = at.clone();
                next.push(i.to_string());
                paths(v, next, out);
            }
        }
        _ => {}
    }
}

/// `value` with the thing at `path` replaced by `with` (or removed).
fn mutate(value: &mut Value, path: &[String], with: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        if let Some(with) = with {
            *value = with;
        }
        return;
    };
    let mut target = value;
    for key in parents {
        target = match target {
            Value::Object(map) => map.get_mut(key).expect("a path from paths()"),
            Value::Array(items) => &mut items[key.parse::<usize>().expect("an index")],
            _ => return,
        };
    }
    match (target, with) {
        (Value::Object(map), Some(with)) => {
            map.insert(last.clone(), with);
        }
        (Value::Object(map), None) => {
            map.remove(last);
        }
        (Value::Array(items), Some(with)) => items[last.parse::<usize>().expect("an index")] = with,
        (Value::Array(items), None) => {
            items.remove(last.parse::<usize>().expect("an index"));
        }
        _ => {}
    }
}

/// A webhook body: a valid event with up to three random mutations, or
/// random bytes.
fn webhook_body() -> impl Strategy<Value = Vec<u8>> {
    let events = crate::helpers::session_events("fuzz", "Ada", "2026-11-22T09:00:00Z");
    let mutated = (
        0..events.len(),
        prop::collection::vec(
            (any::<prop::sample::Index>(), prop::option::of(any_json())),
            0..4,
        ),
    )
        .prop_map(move |(which, mutations)| {
            let mut event = events[which].clone();
            for (index, with) in mutations {
                let mut all = Vec::new();
                paths(&event, Vec::new(), &mut all);
                let path = index.get(&all).clone();
                mutate(&mut event, &path, with);
            }
            event.to_string().into_bytes()
        });
    prop_oneof![
        6 => mutated,
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// Draws `n` values of `strategy`.
fn draw<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::default();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

/// Asserts an answer is a 2xx or a 4xx whose JSON body names a code.
async fn clear_answer(
    response: reqwest::Result<reqwest::Response>,
    input: &dyn std::fmt::Debug,
) -> u16 {
    let response = response.unwrap_or_else(|e| panic!("no answer ({e}) to {input:?}"));
    let response = crate::helpers::verified(response);
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert!(
        (200..300).contains(&status) || (400..500).contains(&status),
        "HTTP {status} for {input:?}: {text}"
    );
    if status >= 400 {
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("HTTP {status} without a JSON body for {input:?}: {text}"));
        let code = body["error"]["code"]
            .as_str()
            .or_else(|| body["errors"][0]["extensions"]["code"].as_str());
        assert!(
            code.is_some_and(
                |c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')
            ),
            "HTTP {status} without a code for {input:?}: {text}"
        );
    }
    status
}

async fn post_webhook(
    app: &TestApp,
    body: &[u8],
    headers: &[(&str, String)],
) -> reqwest::Result<reqwest::Response> {
    let mut request = app
        .http
        .post(format!("http://{}/webhooks/zoom", app.addr))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await
}

#[tokio::test]
async fn mutated_and_random_webhook_deliveries_get_a_2xx_or_a_clear_4xx() {
    let app = spawn_app().await;
    let secret = Secret::new(ZOOM_SECRET);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for body in draw(webhook_body(), cases()) {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = sign(&secret, &timestamp, &body);
        let headers = [
            ("x-zm-request-timestamp", timestamp),
            ("x-zm-signature", signature),
            ("content-type", "application/json".to_owned()),
        ];
        let input = String::from_utf8_lossy(&body).into_owned();
        let status = clear_answer(post_webhook(&app, &body, &headers).await, &input).await;
        *statuses.entry(status).or_default() += 1;
    }
    // Both kinds of answer were exercised.
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&400),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn random_webhook_headers_are_refused_with_401_before_the_body_is_read() {
    let app = spawn_app().await;
    let headers = draw(
        (
            prop::option::of("[ -~]{0,40}"),
            prop::option::of("[ -~]{0,90}"),
            prop::collection::vec(any::<u8>(), 0..100),
        ),
        cases(),
    );
    for (timestamp, signature, body) in headers {
        let mut list = Vec::new();
        if let Some(t) = &timestamp {
            list.push(("x-zm-request-timestamp", t.clone()));
        }
        if let Some(s) = &signature {
            list.push(("x-zm-signature", s.clone()));
        }
        let input = (&timestamp, &signature);
        let status = clear_answer(post_webhook(&app, &body, &list).await, &input).await;
        assert_eq!(status, 401, "{input:?}");
    }
}

/// A GraphQL request: a method, a content type, an accept header and a body
/// or query string, each sometimes right and often wrong.
#[derive(Debug, Clone)]
struct GraphqlRequest {
    get: bool,
    content_type: Option<String>,
    accept: Option<String>,
    body: Vec<u8>,
}

fn graphql_request() -> impl Strategy<Value = GraphqlRequest> {
    let query = prop_oneof![
        Just(Value::String("{ __typename }".into())),
        Just(Value::String("{ activeCobrowseConversations(first: 2) { totalCount } }".into())),
        Just(Value::String("query($id: String!) { conversation(conversationId: $id) { name } }".into())),
        Just(Value::String("mutation { disconnectParticipant(conversationId: \"c\", participantId: \"p\") { name } }".into())),
        "[{}()a-zA-Z:$!@ ]{0,60}".prop_map(Value::String),
        any_json(),
    ];
    let params = (
        query,
        prop::option::of(any_json()),
        prop::option::of(any_json()),
        prop::option::of(any_json()),
    )
        .prop_map(|(query, variables, operation, extensions)| {
            let mut object = serde_json::Map::new();
            object.insert("query".into(), query);
            if let Some(v) = variables {
                object.insert("variables".into(), v);
            }
            if let Some(o) = operation {
                object.insert("operationName".into(), o);
            }
            if let Some(e) = extensions {
                object.insert("extensions".into(), e);
            }
            Value::Object(object)
        });
    let body = prop_oneof![
        6 => params.prop_map(|p| p.to_string().into_bytes()),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ];
    (
        any::<bool>(),
        prop::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("application/json; charset=utf-8".to_owned()),
            Just("application/json; charset=latin1".to_owned()),
            Just("text/plain".to_owned()),
            "[ -~]{0,30}".prop_map(String::from),
        ]),
        prop::option::of(prop_oneof![
            Just("application/graphql-response+json".to_owned()),
            Just("application/json".to_owned()),
            Just("*/*".to_owned()),
            "[ -~]{0,30}".prop_map(String::from),
        ]),
        body,
    )
        .prop_map(|(get, content_type, accept, body)| GraphqlRequest {
            get,
            content_type,
            accept,
            body,
        })
}

#[tokio::test]
async fn random_graphql_requests_get_a_2xx_or_a_clear_4xx() {
    let app = spawn_app().await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for input in draw(graphql_request(), cases()) {
        let url = app.url("/graphql");
        let mut request = if input.get {
            // The body's JSON fields become query-string parameters.
            let params: Vec<(String, String)> = serde_json::from_slice::<Value>(&input.body)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .map(|o| {
                    o.into_iter()
                        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                        .collect()
                })
                .unwrap_or_else(|| {
                    vec![(
                        "query".into(),
                        String::from_utf8_lossy(&input.body).into_owned(),
                    )]
                });
            app.http.get(&url).query(&params)
        } else {
            app.http.post(&url).body(input.body.clone())
        };
        if let Some(ct) = input
            .content_type
            .as_deref()
            .filter(|v| reqwest::header::HeaderValue::from_str(v).is_ok())
        {
            request = request.header("content-type", ct);
        }
        if let Some(accept) = input
            .accept
            .as_deref()
            .filter(|v| reqwest::header::HeaderValue::from_str(v).is_ok())
        {
            request = request.header("accept", accept);
        }
        let status = clear_answer(request.send().await, &input).await;
        *statuses.entry(status).or_default() += 1;
    }
    assert!(
        statuses.contains_key(&200) && statuses.keys().any(|s| *s >= 400),
        "{statuses:?}"
    );
    // Nothing bad input did changed what good input gets.
    let body = app
        .graphql("{ activeCobrowseConversations { totalCount } }", json!({}))
        .await;
    assert!(body["data"]["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0));
}

/// A document with brackets nested to a random depth (up to 6,000, far past
/// what recursion survives) at a random place, and variables likewise.
fn nested_request() -> impl Strategy<Value = (bool, String, Option<String>)> {
    let opener = prop_oneof![Just('['), Just('{'), Just('(')];
    (
        any::<bool>(),
        prop::collection::vec(opener, 0..6_000),
        0..4usize,
        prop::option::of(0..6_000usize),
    )
        .prop_map(|(get, mut openers, place, mut variables)| {
            // A URL carries at most some 64 KB (each bracket is 3 bytes
            // escaped there).
            if get {
                openers.truncate(2_000);
                variables = variables.map(|d| d.min(2_000));
            }
            let open: String = openers.iter().collect();
            let close: String = openers
                .iter()
                .rev()
                .map(|c| match c {
                    '[' => ']',
                    '{' => '}',
                    _ => ')',
                })
                .collect();
            let document = match place {
                0 => format!("{{ user(userId: {open}\"x\"{close}) {{ id }} }}"),
                1 => format!("{{ cobrowseSessions(filter: {open}1{close}) {{ totalCount }} }}"),
                2 => format!("{open}{close}"),
                _ => format!("query($x: {open}String{close}) {{ __typename }}"),
            };
            let variables =
                variables.map(|d| format!("{{\"x\": {}1{}}}", "[".repeat(d), "]".repeat(d)));
            (get, document, variables)
        })
}

#[tokio::test]
async fn documents_and_variables_nested_to_any_depth_get_a_clear_answer() {
    let app = spawn_app().await;
    let url = app.url("/graphql");
    for (get, document, variables) in draw(nested_request(), cases() / 3) {
        let request = if get {
            let mut params = vec![("query", document.clone())];
            if let Some(v) = &variables {
                params.push(("variables", v.clone()));
            }
            app.http.get(&url).query(&params)
        } else {
            let body = match &variables {
                Some(v) => format!(
                    r#"{{"query": {}, "variables": {v}}}"#,
                    Value::String(document.clone())
                ),
                None => json!({ "query": document }).to_string(),
            };
            app.http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
        };
        let input = (get, document.len(), variables.as_ref().map(String::len));
        clear_answer(request.send().await, &input).await;
    }
    // Alive, and serving.
    let body = app
        .graphql("{ activeCobrowseConversations { totalCount } }", json!({}))
        .await;
    assert!(body["data"]["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0));
}

/// Strings an id or a cursor might be: plain ids, path tricks, escapes,
/// any text, long text.
fn id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("a/../b".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("00000000-0000-4000-8000-000000000000".to_owned()),
        "[a-z0-9-]{1,40}",
        "[ -~]{0,40}",
        ".{0,20}",
        (1..20_000usize).prop_map(|n| "x".repeat(n)),
    ]
}

#[tokio::test]
async fn random_ids_cursors_and_node_ids_get_data_or_a_clear_refusal() {
    use cobrowse_gateway::graph::ids::NodeId;
    let app = spawn_app().await;
    let queries = [
        "query($v: String!) { user(userId: $v) { name } }",
        "query($v: String!) { queue(queueId: $v) { name } }",
        "query($v: String!) { conversation(conversationId: $v) { name } }",
        "query($v: String!) { cobrowseSession(conversationId: $v, cobrowseSessionId: $v) { state } }",
        "query($v: String) { activeCobrowseConversations(after: $v) { totalCount } }",
        "query($v: String) { cobrowseSessions(before: $v, last: 2) { totalCount } }",
        "query($v: ID!) { node(id: $v) { id } }",
        "mutation($v: String!) { setParticipantAttributes(conversationId: $v, participantId: $v, attributes: []) { name } }",
    ];
    let inputs = draw((0..queries.len() + 2, id_like()), cases());
    for (which, value) in inputs {
        let (query, value) = match which {
            // Node ids of ours with the value inside.
            w if w == queries.len() => (queries[6], NodeId::User { user: value }.encode()),
            w if w > queries.len() => (
                queries[6],
                NodeId::ZoomSession {
                    account: "a".into(),
                    session: value,
                }
                .encode(),
            ),
            w => (queries[w], value),
        };
        let body = app.graphql(query, json!({ "v": value })).await;
        for error in body["errors"].as_array().into_iter().flatten() {
            let code = error["extensions"]["code"].as_str().unwrap_or_default();
            assert!(
                ["BAD_USER_INPUT", "UPSTREAM_NOT_FOUND", "NOT_FOUND"].contains(&code),
                "{query} with {:?}: {error}",
                &value[..value.len().min(80)]
            );
            let message = error["message"].as_str().expect("a message");
            assert!(message.len() < 400, "echoed: {} bytes", message.len());
        }
    }
}

/// A client message: a valid one of either dialect, a mutated one, or junk.
fn socket_message() -> impl Strategy<Value = String> {
    let valid = prop_oneof![
        Just(json!({ "type": "connection_init", "payload": {} })),
        Just(json!({ "type": "ping" })),
        Just(json!({ "type": "pong" })),
        Just(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { cobrowseSessionUpdates { event } }" } })
        ),
        Just(json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ __typename }" } })),
        Just(json!({ "id": "1", "type": "complete" })),
        Just(json!({ "id": "3", "type": "start", "payload": { "query": "{ __typename }" } })),
        Just(json!({ "type": "connection_terminate" })),
    ];
    let mutated = (
        valid.clone(),
        prop::collection::vec(
            (any::<prop::sample::Index>(), prop::option::of(any_json())),
            0..3,
        ),
    )
        .prop_map(|(mut message, mutations)| {
            for (index, with) in mutations {
                let mut all = Vec::new();
                paths(&message, Vec::new(), &mut all);
                let path = index.get(&all).clone();
                mutate(&mut message, &path, with);
            }
            message
        });
    prop_oneof![
        3 => valid.prop_map(|v| v.to_string()),
        4 => mutated.prop_map(|v| v.to_string()),
        1 => "[ -~]{0,60}",
    ]
}

#[tokio::test]
async fn random_socket_conversations_end_in_an_answer_or_a_protocol_close() {
    use crate::helpers::{Frame, Ws};
    let app = spawn_app().await;
    let closes = [1000u16, 4400, 4401, 4403, 4409, 4429];
    let conversations = draw(prop::collection::vec(socket_message(), 1..6), cases() / 3);
    for (n, messages) in conversations.iter().enumerate() {
        let dialect = if n % 2 == 0 {
            "graphql-transport-ws"
        } else {
            "graphql-ws"
        };
        let mut ws = Ws::open_with(&app.addr.to_string(), dialect).await;
        for message in messages {
            ws.send_text(message.clone()).await;
        }
        // A ping (in the dialect that has it) proves the socket still reads;
        // either way the socket answers or closes with a protocol code.
        ws.send_text(json!({ "type": "ping" }).to_string()).await;
        loop {
            match ws.next().await {
                Frame::Json(message) => {
                    if message["type"] == "pong"
                        || (n % 2 == 1 && message["type"] != "connection_ack")
                    {
                        break;
                    }
                }
                Frame::Closed(code, reason) => {
                    assert!(closes.contains(&code), "{code} {reason} after {messages:?}");
                    break;
                }
                Frame::Gone => panic!("the socket ended without a close frame after {messages:?}"),
            }
        }
    }
    let body = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
}

/// A JWT-shaped bearer token: a header (sometimes with `crit`, `alg: none`,
/// a foreign `kid`), claims, and a signature that verifies only sometimes.
fn jwt_like() -> impl Strategy<Value = (String, bool)> {
    let header = prop_oneof![
        Just(json!({ "alg": "HS256", "typ": "JWT" })),
        Just(json!({ "alg": "HS256", "crit": ["exp"] })),
        Just(json!({ "alg": "HS256", "crit": [] })),
        Just(json!({ "alg": "none" })),
        Just(json!({ "alg": "RS256", "kid": "nope" })),
        any_json(),
    ];
    let claims = prop_oneof![
        Just(
            json!({ "sub": "f", "iss": "https://idp.example.com", "aud": "cobrowse-gateway", "exp": 4_102_444_800_i64, "scope": "read" })
        ),
        any_json(),
    ];
    (header, claims, any::<bool>()).prop_map(|(header, claims, sign)| {
        use base64::Engine as _;
        use hmac::Mac;
        let encode =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", encode(&header), encode(&claims));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(crate::auth::SECRET.as_bytes())
            .expect("a key");
        mac.update(input.as_bytes());
        let signature = if sign {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        } else {
            "c2lnbmF0dXJl".to_owned()
        };
        // Only a plain HS256 header with good claims and a true signature
        // may pass.
        let valid = sign
            && header == json!({ "alg": "HS256", "typ": "JWT" })
            && claims["iss"] == "https://idp.example.com";
        (format!("{input}.{signature}"), valid)
    })
}

#[tokio::test]
async fn random_jwt_shaped_tokens_are_admitted_only_when_valid() {
    let app = crate::helpers::spawn_with(crate::helpers::Options {
        settings: crate::auth::jwt_settings(&[]),
        ..Default::default()
    })
    .await;
    for (token, valid) in draw(jwt_like(), cases()) {
        let response = reqwest::Client::new()
            .post(app.url("/graphql"))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await;
        let status = clear_answer(response, &token).await;
        assert_eq!(status, if valid { 200 } else { 401 }, "{token}");
    }
}
