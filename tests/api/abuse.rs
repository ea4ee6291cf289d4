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
                .map(crate::helpers::verified)
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
    // Closed after the timeout, never before; not at all within 30 s is a
    // missed close.
    let (code, reason) = tokio::time::timeout(Duration::from_secs(30), ws.closed())
        .await
        .expect("closed when the init timeout passed");
    assert_eq!(code, 4408, "{reason}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// The resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// How a connection the test opened ended.
struct Ended {
    /// How it behaved (see [`misbehave`]).
    kind: usize,
    /// The first bytes the gateway sent, if any.
    said: String,
    /// When the gateway closed it, from when it was opened.
    after: Duration,
    /// Whether the gateway closed it (not the client, giving up after 20 s).
    closed: bool,
}

/// Opens a connection that behaves as `kind` says, and reports when the
/// gateway closes it (reads until EOF; gives up after 20 s).
async fn misbehave(addr: String, kind: usize) -> Ended {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    let opened = std::time::Instant::now();
    let (mut read, mut write) = stream.split();
    let mut said = Vec::new();
    let behave = async {
        match kind {
            // Idle: connects and says nothing.
            0 => std::future::pending::<()>().await,
            // Slowloris: headers a byte at a time, never finished.
            1 => {
                for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
                    .iter()
                    .cycle()
                {
                    if write.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                std::future::pending::<()>().await
            }
            // A WebSocket that never sends connection_init.
            _ => {
                let _ = write
                    .write_all(
                        b"GET /graphql/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                          Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
                    )
                    .await;
                std::future::pending::<()>().await
            }
        }
    };
    let until_eof = async {
        let mut buffer = [0u8; 4096];
        loop {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => said.extend_from_slice(&buffer[..n]),
            }
        }
    };
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            () = behave => {},
            () = until_eof => {},
        }
    })
    .await
    .is_ok();
    Ended {
        kind,
        said: String::from_utf8_lossy(&said[..said.len().min(64)]).into_owned(),
        after: opened.elapsed(),
        closed,
    }
}

#[tokio::test]
async fn idle_slow_and_silent_connections_are_bounded_in_number_and_time_and_memory() {
    let mut command = command(&["--listen", "127.0.0.1:0"]);
    command
        .env("COBROWSE_SERVER_MAX_CONNECTIONS", "1000")
        .env("COBROWSE_SERVER_HEADER_READ_TIMEOUT", "1s")
        .env("COBROWSE_SERVER_WEBSOCKET_INIT_TIMEOUT", "1s");
    let (mut child, base, _, _logs) = start(command).await;
    let pid = child.id().expect("a pid");
    let before = rss_mib(pid);
    let addr = base.trim_start_matches("http://").to_owned();

    // 3,000 connections: idle ones, slowloris ones, and WebSockets that
    // never initialise, a third each.
    // (In batches of 100 every 50 ms, so that the kernel's accept queue
    // does not overflow: a connection it drops is never seen by the
    // gateway, and the test measures the gateway, not TCP's timers.)
    let sampler = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        for _ in 0..60 {
            peak = peak.max(rss_mib(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let mut connections = Vec::new();
    for i in 0..3_000 {
        connections.push(tokio::spawn(misbehave(addr.clone(), i % 3)));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut ended = Vec::new();
    for connection in connections {
        ended.push(connection.await.expect("the task ends"));
    }
    let peak = sampler.await.expect("sampled");
    let after = rss_mib(pid);

    let refused = ended
        .iter()
        .filter(|e| e.said.starts_with("HTTP/1.1 503"))
        .count();
    let slowest = ended.iter().map(|e| e.after).max().expect("some");
    if let Some(e) = ended.iter().max_by_key(|e| e.after) {
        println!("the slowest: kind {} said {:?}", e.kind, e.said);
    }
    println!(
        "3000 connections: {refused} refused at the cap; all closed within {slowest:?}; RSS {before:.1} -> {peak:.1} -> {after:.1} MiB"
    );
    let metrics = crate::helpers::metrics_text(&base).await;
    assert!(
        metrics.contains(&format!(
            "cobrowse_gateway_connections_refused_total {refused}"
        )),
        "every refusal is counted"
    );
    assert!(refused > 0, "the cap of 1,000 was reached");
    // A task lets go of its place just after its socket is closed: allow it
    // a moment.
    crate::helpers::eventually(
        "none is left open but the one asking",
        Duration::from_secs(10),
        || async {
            let open = crate::helpers::metrics_text(&base)
                .await
                .lines()
                .find(|l| l.starts_with("cobrowse_gateway_connections_open "))
                .expect("the gauge")
                .to_owned();
            if open == "cobrowse_gateway_connections_open 1" {
                Ok(())
            } else {
                Err(open)
            }
        },
    )
    .await;
    let left_open: Vec<&Ended> = ended.iter().filter(|e| !e.closed).collect();
    assert!(
        left_open.is_empty(),
        "every connection is closed by the gateway after its timeout (1 s), none left to the client's 20 s: {} were not, for example kind {:?}",
        left_open.len(),
        left_open.first().map(|e| e.kind)
    );
    let websockets_told = ended
        .iter()
        .filter(|e| e.said.starts_with("HTTP/1.1 101"))
        .count();
    assert!(
        websockets_told > 0,
        "some WebSockets were upgraded and then closed"
    );
    assert!(
        peak - before < 96.0,
        "1,000 open connections cost {:.1} MiB",
        peak - before
    );

    // And the gateway serves as before.
    let body = crate::helpers::query_json(&base, "{ __typename }").await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    assert!(child.try_wait().expect("a status").is_none());
    child.kill().await.expect("stops");
}

#[tokio::test]
async fn ids_that_are_not_plain_path_segments_are_refused_everywhere_before_any_upstream_call() {
    use cobrowse_gateway::graph::ids::NodeId;
    let app = crate::helpers::spawn_app().await;
    let long = "x".repeat(10_000);
    let node = |id: NodeId| json!(id.encode());
    let cases: Vec<(&str, Value)> = vec![
        ("query($id: String!) { user(userId: $id) { name } }", json!({ "id": ".." })),
        ("query($id: String!) { user(userId: $id) { name } }", json!({ "id": "a/b" })),
        ("query($id: String!) { queue(queueId: $id) { name } }", json!({ "id": "%2e%2e" })),
        ("query($id: String!) { conversation(conversationId: $id) { name } }", json!({ "id": "../users" })),
        (
            "query($id: String!) { conversation(conversationId: $id) { name } }",
            json!({ "id": long }),
        ),
        (
            "mutation($id: String!) { disconnectParticipant(conversationId: \"c\", participantId: $id) { name } }",
            json!({ "id": "p?x=1" }),
        ),
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": node(NodeId::User { user: "..".into() }) })),
        (
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": node(NodeId::Conversation { conversation: long.clone() }) }),
        ),
        (
            "query($id: ID!) { nodes(ids: [$id]) { id } }",
            json!({ "id": node(NodeId::ZoomSession { account: "a".into(), session: long.clone() }) }),
        ),
    ];
    app.reset_calls().await;
    for (query, variables) in cases {
        let body = app.graphql(query, variables.clone()).await;
        assert_eq!(
            crate::helpers::first_code(&body),
            "BAD_USER_INPUT",
            "{query} {variables}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().expect("a message");
        assert!(
            message.len() < 200,
            "the refusal does not echo the input: {message}"
        );
    }
    assert_eq!(
        app.upstream_calls().await.total,
        0,
        "refused before upstream"
    );
}

#[tokio::test]
async fn a_bad_cursor_is_named_not_echoed() {
    let app = crate::helpers::spawn_app().await;
    let cursor = "A".repeat(20_000);
    for field in ["activeCobrowseConversations", "cobrowseSessions"] {
        let body = app
            .graphql(
                &format!("query($c: String) {{ {field}(after: $c) {{ totalCount }} }}"),
                json!({ "c": cursor }),
            )
            .await;
        assert_eq!(
            crate::helpers::first_code(&body),
            "BAD_USER_INPUT",
            "{field}"
        );
        let message = body["errors"][0]["message"].as_str().expect("a message");
        assert!(message.len() < 200, "{field}: {} bytes", message.len());
    }
}

#[tokio::test]
async fn a_user_upstream_does_not_know_is_fresh_only_as_long_as_live_state() {
    let app = crate::helpers::spawn_app().await;
    let response = app.post_graphql(&json!({ "query": r#"{ user(userId: "00000000-0000-4000-8000-00000000dead") { name } }"# })).await;
    let cache_control = response.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("JSON");
    assert!(body["data"]["user"].is_null(), "{body}");
    let max_age: u64 = cache_control
        .strip_prefix("private, max-age=")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{cache_control}"));
    assert!(
        max_age <= 5,
        "not the directory's 10 minutes: {cache_control}"
    );
}
