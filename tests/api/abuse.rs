//! What an attacker tries against the running binary: input built to blow
//! the stack, connections that never finish, sockets that never
//! authenticate. The process must survive, answer with a clear code, and
//! keep serving everyone else.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{command, start, Frame, Ws};

/// A list argument nested `depth` levels deep.
fn deep_list(depth: usize) -> String {
    format!(
        "{{ user(userId: {}\"x\"{}) {{ id }} }}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// An input object nested `depth` levels deep.
fn deep_object(depth: usize) -> String {
    format!(
        "{{ cobrowseSessions(filter: {}1{}) {{ totalCount }} }}",
        "{provider: ".repeat(depth),
        "}".repeat(depth)
    )
}

/// Selection sets nested `depth` levels deep.
fn deep_selection(depth: usize) -> String {
    format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth))
}

/// A POST body whose variables nest `depth` arrays deep (written as text:
/// a `serde_json::Value` that deep would itself overflow when dropped).
fn deep_variables_body(depth: usize) -> String {
    format!(
        r#"{{"query": "query($x: [String]) {{ __typename }}", "variables": {{"x": {}"x"{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// The nesting refusal of a response: its measured value and limit.
fn nesting_refusal(body: &Value) -> (u64, u64) {
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"],
        "NESTING_TOO_DEEP",
        "{}",
        &body.to_string()[..body.to_string().len().min(500)]
    );
    (
        error["extensions"]["measured"].as_u64().expect("measured"),
        error["extensions"]["limit"].as_u64().expect("limit"),
    )
}

#[tokio::test]
async fn documents_and_variables_nested_to_overflow_the_stack_are_refused_and_the_process_lives() {
    let (mut child, base, _, _logs) = start(command(&["--listen", "127.0.0.1:0"])).await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        let http = http.clone();
        let url = format!("{base}/graphql");
        async move {
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the gateway answers");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("a JSON body"))
        }
    };

    for (document, depth) in [
        (deep_list(2_000), 2_002),
        (deep_object(1_500), 1_502),
        (deep_selection(5_000), 5_000),
    ] {
        let (status, body) = post(json!({ "query": document }).to_string()).await;
        assert_eq!(
            status, 200,
            "a GraphQL request error under application/json"
        );
        assert_eq!(nesting_refusal(&body), (depth, 64));

        let response = http
            .get(format!("{base}/graphql"))
            .query(&[("query", &document)])
            .send()
            .await
            .expect("the gateway answers");
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(nesting_refusal(&body), (depth, 64), "over GET");
    }

    // Variables: deeper than the JSON reader's own limit, and deeper than
    // the gateway's but within the reader's.
    for (depth, measured) in [(100_000, 100_002), (100, 102)] {
        let (status, body) = post(deep_variables_body(depth)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(nesting_refusal(&body), (measured, 66));
    }
    let response = http
        .get(format!("{base}/graphql"))
        .query(&[
            ("query", "query($x: [String]) { __typename }"),
            (
                "variables",
                &format!("{{\"x\": {}1{}}}", "[".repeat(3_000), "]".repeat(3_000)),
            ),
        ])
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 400);
    assert_eq!(
        nesting_refusal(&response.json().await.expect("JSON")),
        (3_001, 65)
    );

    // Over a WebSocket, documents and variables alike.
    let mut ws = Ws::ready_with(&base, json!({})).await;
    ws.subscribe("deep", &deep_list(2_000)).await;
    match ws.next().await {
        Frame::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(message["id"], "deep");
            let body = json!({ "errors": message["payload"] });
            assert_eq!(nesting_refusal(&body), (2_002, 64));
        }
        other => panic!("expected an error message, got {other:?}"),
    }
    let variables = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    ws.send_text(format!(
        r#"{{"id": "vars", "type": "subscribe", "payload": {{"query": "query($x: [Int]) {{ __typename }}", "variables": {{"x": {variables}}}}}}}"#
    ))
    .await;
    match ws.next().await {
        Frame::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            let body = json!({ "errors": message["payload"] });
            assert_eq!(nesting_refusal(&body), (100, 64));
        }
        other => panic!("expected an error message, got {other:?}"),
    }
    ws.sync().await;

    // Still alive, still serving.
    assert!(
        child.try_wait().expect("a status").is_none(),
        "the process died"
    );
    let (status, body) =
        post(json!({ "query": "{ activeCobrowseConversations { totalCount } }" }).to_string())
            .await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    child.kill().await.expect("stops");
}

#[tokio::test]
async fn a_socket_that_never_initialises_is_closed_with_4408() {
    let app = crate::helpers::spawn_with(crate::helpers::Options {
        settings: vec![("server.websocket_init_timeout", "300ms".into())],
        ..Default::default()
    })
    .await;
    let started = std::time::Instant::now();
    let mut ws = Ws::open(&app.addr.to_string()).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4408, "{reason}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
}
