//! The HTTP edge: media types, methods, limits, persisted queries, caching
//! headers, readiness, metrics and request ids.

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{route, spawn_app, spawn_with, Options, DASHBOARD};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The participant id of the customer in a `conversation { participants
/// { participantId purpose } }` response body.
fn customer_id(body: &str) -> Value {
    serde_json::from_str::<Value>(body).expect("json")["data"]["conversation"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["purpose"] == "CUSTOMER")
        .expect("customer")["participantId"]
        .clone()
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn request_errors_are_400_without_data_under_graphql_response_json_and_200_under_json() {
    let app = spawn_app().await;
    let invalid = json!({ "query": "{ noSuchField }" }).to_string();

    let strict = app
        .post_raw(
            Some(GRAPHQL_RESPONSE),
            Some("application/json"),
            invalid.clone(),
        )
        .await;
    assert_eq!(strict.status(), StatusCode::BAD_REQUEST);
    assert!(strict.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with(GRAPHQL_RESPONSE));
    let body = json_of(strict).await;
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );

    let legacy = app
        .post_raw(Some("application/json"), Some("application/json"), invalid)
        .await;
    assert_eq!(legacy.status(), StatusCode::OK);
    assert!(legacy.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(json_of(legacy).await.get("data").is_none());
}

#[tokio::test]
async fn malformed_requests_are_400_with_a_clear_message() {
    let app = spawn_app().await;
    for (body, says) in [
        (r#"{ "query": "#.to_owned(), "not valid JSON"),
        (
            json!({ "query": 7 }).to_string(),
            "`query` must be a string",
        ),
        (
            json!({ "notquery": "{ __typename }" }).to_string(),
            "`query` is required",
        ),
        (
            json!({ "query": "{ __typename }", "variables": [1] }).to_string(),
            "`variables` must be an object",
        ),
        (
            json!({ "query": "{ __typename }", "operationName": 1 }).to_string(),
            "`operationName` must be a string",
        ),
        (
            json!({ "query": "{ __typename }", "extensions": "x" }).to_string(),
            "`extensions` must be an object",
        ),
        (
            json!([{ "query": "{ __typename }" }]).to_string(),
            "batched requests are not accepted",
        ),
        (String::new(), "empty"),
    ] {
        for accept in [None, Some("application/json"), Some(GRAPHQL_RESPONSE)] {
            let response = app
                .post_raw(accept, Some("application/json"), body.clone())
                .await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{body} with {accept:?}"
            );
            let answer = json_of(response).await;
            let message = answer["errors"][0]["message"].as_str().expect("message");
            assert!(message.contains(says), "{body}: {message}");
            assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        }
    }
    assert_eq!(app.upstream_calls().await.total, 0);
}

#[tokio::test]
async fn unsupported_media_types_methods_and_sizes_are_refused() {
    let app = spawn_with(Options {
        settings: vec![("server.max_body_bytes", "2048".into())],
        ..Options::default()
    })
    .await;
    let query = json!({ "query": "{ __typename }" }).to_string();

    assert_eq!(
        app.post_raw(None, None, query.clone()).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        app.post_raw(None, Some("text/plain"), query.clone())
            .await
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        app.post_raw(
            None,
            Some("application/json; charset=latin1"),
            query.clone()
        )
        .await
        .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        app.post_raw(Some("text/csv"), Some("application/json"), query.clone())
            .await
            .status(),
        StatusCode::NOT_ACCEPTABLE
    );
    let huge = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(4096)) }).to_string();
    let response = app.post_raw(None, Some("application/json"), huge).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json_of(response).await["errors"][0]["extensions"]["code"],
        "PAYLOAD_TOO_LARGE"
    );

    let mutation = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { disconnectParticipant(conversationId: \"c\", participantId: \"p\") { name } }")])
        .send()
        .await
        .expect("answers");
    assert_eq!(mutation.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(mutation.headers()["allow"], "POST");
    let put = app
        .http
        .put(app.url("/graphql"))
        .body(query)
        .send()
        .await
        .expect("answers");
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        app.upstream_calls().await.total,
        0,
        "nothing refused reached upstream"
    );
}

#[tokio::test]
async fn queries_work_over_get_with_json_variables() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;

    let response = app
        .http
        .get(app.url("/graphql"))
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .query(&[
            (
                "query",
                "query One($id: String!) { conversation(conversationId: $id) { conversationId } }",
            ),
            ("variables", &json!({ "id": ids[0] }).to_string()),
            ("operationName", "One"),
        ])
        .send()
        .await
        .expect("answers");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_of(response).await["data"]["conversation"]["conversationId"],
        ids[0]
    );
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn automatic_persisted_queries_work_over_post_and_get() {
    let app = spawn_app().await;
    let query = "{ activeCobrowseConversations { totalCount } }";
    let hash = hex::encode(Sha256::digest(query));

    // Unknown hash: the client is told to send the query.
    let miss = json_of(
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "extensions": persisted(&hash) }).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(
        miss["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    // Query and hash: registered and run.
    let registered = json_of(
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "query": query, "extensions": persisted(&hash) }).to_string(),
        )
        .await,
    )
    .await;
    assert!(
        registered["data"]["activeCobrowseConversations"]["totalCount"]
            .as_u64()
            .is_some(),
        "{registered}"
    );
    // Hash alone, over GET: found.
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[("extensions", persisted(&hash).to_string())])
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_of(response).await["data"], registered["data"]);
    // A hash that does not match its query is refused.
    let wrong = app
        .post_raw(
            None,
            Some("application/json"),
            json!({ "query": "{ __typename }", "extensions": persisted(&hash) }).to_string(),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cache_control_follows_the_shortest_ttl_of_the_data_and_is_no_store_on_errors() {
    let app = spawn_with(Options {
        settings: vec![
            ("cache.live_ttl", "5s".into()),
            ("cache.directory_ttl", "10m".into()),
        ],
        ..Options::default()
    })
    .await;
    let cache_control = |response: &reqwest::Response| {
        response.headers()[CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let post = |query: &str| {
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "query": query }).to_string(),
        )
    };

    let dashboard = post(DASHBOARD).await;
    let value = cache_control(&dashboard);
    let max_age: u64 = value
        .strip_prefix("private, max-age=")
        .expect("private (an authenticated caller's) with max-age")
        .parse()
        .expect("seconds");
    assert!(max_age <= 5, "live data lives 5 s: {value}");
    assert!(json_of(dashboard).await.get("errors").is_none());

    let users = post("{ wrapupCodes { name } }").await;
    let value = cache_control(&users);
    let max_age: u64 = value
        .strip_prefix("private, max-age=")
        .expect("private")
        .parse()
        .expect("seconds");
    assert!(
        (590..=600).contains(&max_age),
        "directory data lives 10 min: {value}"
    );

    let failed = post(r#"{ conversation(conversationId: "missing") { name } }"#).await;
    assert_eq!(cache_control(&failed), "no-store");
    let mutation = post(
        r#"mutation { disconnectParticipant(conversationId: "c", participantId: "p") { name } }"#,
    )
    .await;
    assert_eq!(cache_control(&mutation), "no-store");
}

/// Makes upstream answer 5xx to everything, and has three calls fail (what
/// makes readiness say "not ready").
async fn fail_upstream_three_times(app: &crate::helpers::TestApp) {
    app.set_faults(&cobrowse_gateway::sim::Faults {
        error_fraction: 1.0,
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        app.graphql(
            r#"{ conversation(conversationId: "x") { name } }"#,
            json!({}),
        )
        .await;
    }
}

#[tokio::test]
async fn readiness_follows_upstream_and_health_does_not() {
    let app = spawn_with(Options {
        settings: vec![("server.readiness_interval", "0s".into())],
        ..Options::default()
    })
    .await;
    let get = |path: &str| app.http.get(app.url(path)).send();

    assert_eq!(
        get("/healthz").await.expect("answers").status(),
        StatusCode::OK
    );
    assert_eq!(
        get("/readyz").await.expect("answers").status(),
        StatusCode::OK
    );

    fail_upstream_three_times(&app).await;
    let not_ready = get("/readyz").await.expect("answers");
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json_of(not_ready).await;
    assert!(
        body["checks"]["upstream_calls"]
            .as_str()
            .expect("check")
            .contains("failed"),
        "{body}"
    );
    assert_eq!(
        get("/healthz").await.expect("answers").status(),
        StatusCode::OK
    );

    app.set_faults(&cobrowse_gateway::sim::Faults::default())
        .await;
    app.graphql(
        r#"{ conversation(conversationId: "y") { name } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        get("/readyz").await.expect("answers").status(),
        StatusCode::OK,
        "ready again"
    );
}

#[tokio::test]
async fn a_flood_of_readiness_checks_costs_one_probe_per_interval() {
    let app = spawn_with(Options {
        settings: vec![("server.readiness_interval", "1h".into())],
        ..Options::default()
    })
    .await;
    let probe = || async {
        let response = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("answers");
        (response.status(), json_of(response).await)
    };
    let (status, first) = probe().await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let probed_at = first["probed_at"]
        .as_str()
        .expect("a probe time")
        .to_owned();

    // Upstream fails now, but the last probe stands until the interval ends.
    fail_upstream_three_times(&app).await;
    let answers = futures::future::join_all((0..200).map(|_| probe())).await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["probed_at"], probed_at.as_str(), "{body}");
    }
}

#[tokio::test]
async fn metrics_count_requests_upstream_calls_and_the_cache() {
    let app = spawn_with(Options {
        settings: vec![("server.operation_names", "Dashboard, Other".into())],
        ..Options::default()
    })
    .await;
    // One 429 with `Retry-After: 0` makes one retry to count.
    app.set_faults(&cobrowse_gateway::sim::Faults {
        rate_limit_next: 1,
        retry_after_s: 0,
        ..Default::default()
    })
    .await;
    let post = |query: &str| {
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "query": query, "operationName": "Dashboard" }).to_string(),
        )
    };
    post(DASHBOARD).await;
    post(DASHBOARD).await;
    // Names the operator did not list are one label, whatever callers send.
    for junk in ["Junk1", "Junk2", "Junk3"] {
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "query": format!("query {junk} {{ __typename }}"), "operationName": junk })
                .to_string(),
        )
        .await;
    }

    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");

    for needle in [
        "cobrowse_gateway_graphql_requests_total{operation=\"Dashboard\",outcome=\"ok\"} 1",
        "cobrowse_gateway_graphql_requests_total{operation=\"Dashboard\",outcome=\"cached\"} 1",
        "cobrowse_gateway_graphql_request_duration_seconds_bucket{operation=\"Dashboard\"",
        "cobrowse_gateway_graphql_requests_total{operation=\"other\",outcome=\"ok\"} 3",
        // The start-up permission check, then the query's retry.
        "cobrowse_gateway_upstream_requests_total{route=\"analytics_details\",status=\"200\"} 2",
        "cobrowse_gateway_upstream_requests_total{route=\"users\",status=\"200\"} 1",
        "cobrowse_gateway_upstream_token_refreshes_total 1",
        "cobrowse_gateway_upstream_in_flight 0",
        "cobrowse_gateway_cache_hits_total",
        "cobrowse_gateway_cache_entries",
        "cobrowse_gateway_upstream_retries_total{reason=\"rate_limited\",route=\"analytics_details\"} 1",
        "cobrowse_gateway_upstream_requests_total{route=\"analytics_details\",status=\"429\"} 1",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    assert!(!text.contains("Junk"), "caller-chosen names are not labels");
    let calls = app.upstream_calls().await;
    assert_eq!(calls.route(route::DETAILS), 2, "the 429 and its retry");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_clients() {
    let app = spawn_app().await;

    let made = app
        .post_raw(
            None,
            Some("application/json"),
            json!({ "query": "{ __typename }" }).to_string(),
        )
        .await;
    let id = made.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let kept = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .expect("answers");
    assert_eq!(kept.headers()["x-request-id"], "client-chosen-42");
}

/// Upstream slower than the request may take: its calls end by the
/// request's deadline, and each field that needed them fails with
/// `UPSTREAM_TIMEOUT` within the limit (the request is not cut off whole).
#[tokio::test]
async fn a_request_whose_upstream_is_slower_than_its_time_limit_answers_within_it() {
    let app = spawn_with(Options {
        settings: vec![("server.request_timeout", "300ms".into())],
        ..Options::default()
    })
    .await;
    // Upstream answers after a minute: only the request timeout ends the
    // request well before that (a generous bound, a hundred times it).
    app.set_faults(&cobrowse_gateway::sim::Faults {
        latency_ms: 60_000,
        ..Default::default()
    })
    .await;

    let response = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "query": DASHBOARD }).to_string(),
        ),
    )
    .await
    .expect("cut off, not waited out");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body = json_of(response).await;
    assert_eq!(
        body["data"]["activeCobrowseConversations"],
        Value::Null,
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UPSTREAM_TIMEOUT",
        "{body}"
    );
}

#[tokio::test]
async fn a_browser_opening_graphql_gets_graphiql_from_the_same_origin() {
    let app = spawn_app().await;

    let response = app
        .http
        .get(app.url("/graphql"))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("answers");

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.expect("html");
    assert!(page.contains("/graphiql/app.js"), "the GraphiQL page");
    assert!(
        page.contains("/graphiql/assets/graphiql.min.js"),
        "assets from this origin, not a CDN"
    );
    let asset = app
        .http
        .get(app.url("/graphiql/assets/graphiql.min.js"))
        .send()
        .await
        .expect("answers");
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.headers()[CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
}

#[tokio::test]
async fn repeated_queries_are_served_from_the_response_cache_until_a_mutation() {
    let app = spawn_app().await;
    let ids = app.active_conversation_ids().await;
    let query = "query One($id: String!) { conversation(conversationId: $id) { participants { participantId purpose state } } }";
    let post = |id: &str| {
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "query": query, "variables": { "id": id } }).to_string(),
        )
    };

    let first = post(&ids[0]).await;
    assert!(first.headers().get("x-cache").is_none(), "computed");
    let first = first.text().await.expect("body");
    let second = post(&ids[0]).await;
    assert_eq!(second.headers()["x-cache"], "HIT");
    assert_eq!(
        second.headers()["vary"],
        "Accept, Authorization, X-API-Key",
        "what the body depends on"
    );
    let max_age: u64 = second.headers()[CACHE_CONTROL]
        .to_str()
        .expect("ascii")
        .strip_prefix("private, max-age=")
        .expect("private")
        .parse()
        .expect("seconds");
    assert!(max_age <= 5);
    assert_eq!(second.text().await.expect("body"), first, "the same bytes");
    assert!(
        post(&ids[1]).await.headers().get("x-cache").is_none(),
        "other variables, other entry"
    );

    // Mutations that change nothing upstream leave kept responses alone,
    // whoever sends them: a bare `__typename`, an invalid one, one that
    // upstream refuses.
    for nothing in [
        "mutation { __typename }",
        "mutation { disconnectParticipant }",
        r#"mutation { disconnectParticipant(conversationId: "missing", participantId: "p") { state } }"#,
    ] {
        app.graphql(nothing, json!({})).await;
        assert_eq!(post(&ids[0]).await.headers()["x-cache"], "HIT", "{nothing}");
    }

    // A mutation makes the kept responses that read what it changed stale,
    // and no other.
    let customer = customer_id(&first);
    app.data(
        "mutation($c: String!, $p: String!) { disconnectParticipant(conversationId: $c, participantId: $p) { state } }",
        json!({ "c": ids[0], "p": customer }),
    )
    .await;
    let after = post(&ids[0]).await;
    assert!(
        after.headers().get("x-cache").is_none(),
        "recomputed after the mutation"
    );
    assert!(after.text().await.expect("body").contains("DISCONNECTED"));
    assert_eq!(
        post(&ids[1]).await.headers()["x-cache"],
        "HIT",
        "another conversation's response stays"
    );

    // Over a WebSocket too.
    let kept = post(&ids[1]).await.text().await.expect("body");
    let customer_of_other = customer_id(&kept);
    let mut ws = crate::helpers::Ws::ready(&app.addr.to_string()).await;
    ws.send(json!({ "id": "m", "type": "subscribe", "payload": {
        "query": "mutation($c: String!, $p: String!) { disconnectParticipant(conversationId: $c, participantId: $p) { state } }",
        "variables": { "c": ids[1], "p": customer_of_other },
    } }))
    .await;
    match ws.next().await {
        crate::helpers::Frame::Json(m) => assert_eq!(m["type"], "next", "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(
        post(&ids[1]).await.headers().get("x-cache").is_none(),
        "recomputed after the mutation over the socket"
    );
}

#[tokio::test]
async fn the_response_cache_can_be_turned_off() {
    let app = spawn_with(Options {
        settings: vec![("server.response_cache", "false".into())],
        ..Options::default()
    })
    .await;
    let post = || {
        app.post_raw(
            None,
            Some("application/json"),
            json!({ "query": DASHBOARD }).to_string(),
        )
    };
    post().await;

    let again = post().await;

    assert!(again.headers().get("x-cache").is_none());
    assert!(again.headers()[CACHE_CONTROL]
        .to_str()
        .expect("ascii")
        .starts_with("private, max-age="));
}

/// Browsers ask every origin for `/favicon.ico`: it answers with an icon
/// (a 404 there is a console error on every page), and the pages name it.
#[tokio::test]
async fn the_icon_browsers_ask_for_is_there_and_the_pages_name_it() {
    let app = spawn_app().await;
    let icon = app
        .http
        .get(app.url("/favicon.ico"))
        .send()
        .await
        .expect("answers");
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("max-age"));
    assert!(icon.text().await.expect("text").starts_with("<svg"));
    let home = app.http.get(app.url("/")).send().await.expect("answers");
    assert!(home
        .text()
        .await
        .expect("text")
        .contains(r#"<link rel="icon" href="/favicon.ico""#));
}
