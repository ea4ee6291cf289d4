//! The simulator's Zoom Cobrowse SDK REST API (docs/upstream.md, "Zoom
//! Cobrowse SDK REST API"), over real HTTP: what the webhooks told is what
//! the API answers, live and past, with Zoom's paging, its API JWT and its
//! errors.

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::Value;

use cobrowse_gateway::sim::{SimConfig, Simulator};

use crate::helpers::session_events;

async fn simulator() -> Simulator {
    Simulator::start(SimConfig::local(4, 7))
        .await
        .expect("simulator")
}

/// An API JWT for `sim`'s Zoom account, living `life` seconds (negative:
/// expired), signed with `secret` (the account's when none).
fn jwt(sim: &Simulator, life: i64, secret: Option<&str>) -> String {
    let now = Utc::now().timestamp();
    let claims =
        serde_json::json!({ "iss": sim.zoom().api_key(), "iat": now - 60, "exp": now + life });
    let secret = secret.unwrap_or(sim.config().zoom_api_secret.expose());
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a token")
}

/// `GET` of `path` below the simulator's Zoom API, with `token`.
async fn get(sim: &Simulator, path: &str, token: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/zoom/v2/cobrowsesdk{path}", sim.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

/// Plays the first `steps` events of session `id` (started `minutes_ago`)
/// into the simulator's Zoom account.
fn play(sim: &Simulator, id: &str, minutes_ago: i64, steps: usize) {
    let base = (Utc::now() - chrono::Duration::minutes(minutes_ago))
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    for event in session_events(id, "Noah", &base).iter().take(steps) {
        sim.zoom().record(event);
    }
}

fn ids(body: &Value) -> Vec<&str> {
    body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["session_id"].as_str().expect("an id"))
        .collect()
}

#[tokio::test]
async fn sessions_told_by_webhooks_are_live_then_past_with_their_users() {
    let sim = simulator().await;
    play(&sim, "going-on", 30, 3);
    play(&sim, "over", 90, usize::MAX);
    let token = jwt(&sim, 600, None);

    let (status, live) = get(&sim, "/live_sessions", &token).await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(ids(&live), ["going-on"], "{live}");
    let going_on = &live["sessions"][0];
    assert_eq!(going_on["user_count"], 2, "{live}");
    let roles: Vec<&str> = going_on["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["role_type"].as_str().expect("a role"))
        .collect();
    assert_eq!(roles, ["customer", "agent"], "{live}");
    assert!(going_on.get("end_time").is_none(), "{live}");

    let (status, past) = get(&sim, "/past_sessions", &token).await;
    assert_eq!(status, StatusCode::OK, "{past}");
    assert_eq!(ids(&past), ["over"], "{past}");
    let over = &past["sessions"][0];
    assert!(
        over["end_time"].is_string() && over["duration"].is_string(),
        "{past}"
    );

    let (status, one) = get(&sim, "/sessions/over", &token).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["session_id"], "over");
    let (status, users) = get(&sim, "/sessions/over/users", &token).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let connections = users["users"].as_array().expect("users");
    assert_eq!(connections.len(), 3, "each connection: {users}");
    assert!(
        connections.iter().all(|u| u["leave_time"].is_string()),
        "{users}"
    );

    let (status, missing) = get(&sim, "/sessions/nowhere", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(missing["code"].is_number() && missing["message"].is_string());
}

#[tokio::test]
async fn lists_are_paged_thirty_to_three_hundred_by_a_token_of_their_own() {
    let sim = simulator().await;
    for n in 0..65 {
        play(&sim, &format!("live-{n:02}"), 10, 1);
    }
    let token = jwt(&sim, 600, None);
    let mut seen = Vec::new();
    let mut next = String::new();
    for page in 0.. {
        let path = format!("/live_sessions?page_size=30&next_page_token={next}");
        let (status, body) = get(&sim, &path, &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(ids(&body).into_iter().map(str::to_owned));
        next = body["next_page_token"]
            .as_str()
            .expect("a token")
            .to_owned();
        if next.is_empty() {
            assert_eq!(page, 2, "65 sessions are three pages of 30");
            break;
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 65);

    for size in ["29", "301", "many"] {
        let (status, body) = get(&sim, &format!("/live_sessions?page_size={size}"), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{size}: {body}");
    }
    // A token goes with its list.
    let (_, first) = get(&sim, "/live_sessions?page_size=30", &token).await;
    let other = format!(
        "/past_sessions?next_page_token={}",
        first["next_page_token"].as_str().expect("a token")
    );
    let (status, body) = get(&sim, &other, &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn only_an_api_jwt_of_the_account_opens_the_api() {
    let sim = simulator().await;
    let refused = [
        ("none", String::new()),
        ("another secret", jwt(&sim, 600, Some("not-the-api-secret"))),
        ("expired", jwt(&sim, -10, None)),
        ("not a JWT", "abc".to_owned()),
    ];
    for (what, token) in refused {
        let (status, body) = get(&sim, "/live_sessions", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["code"], 124, "{what}: {body}");
    }
    let (status, body) = get(&sim, "/live_sessions", &jwt(&sim, 600, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn told_to_the_account_limits_and_refuses_calls_as_zoom_does() {
    let sim = simulator().await;
    let faults = format!("{}/__sim/zoom/faults", sim.url());
    let http = reqwest::Client::new();
    let put = |body: Value| {
        let (http, faults) = (http.clone(), faults.clone());
        async move {
            let status = http
                .put(&faults)
                .json(&body)
                .send()
                .await
                .expect("answers")
                .status();
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
    };
    let token = jwt(&sim, 600, None);

    put(serde_json::json!({ "rate_limit_next": 2, "retry_after_s": 30 })).await;
    for _ in 0..2 {
        let response = http
            .get(format!("{}/zoom/v2/cobrowsesdk/live_sessions", sim.url()))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry = response.headers()["retry-after"].to_str().expect("ASCII");
        let at = chrono::DateTime::parse_from_rfc3339(retry).expect("an ISO 8601 date-time");
        assert!(at > Utc::now(), "{retry}");
        assert_eq!(response.headers()["x-ratelimit-type"], "Daily-limit");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["code"], 429, "{body}");
    }
    let (status, body) = get(&sim, "/live_sessions", &token).await;
    assert_eq!(status, StatusCode::OK, "the limit passed: {body}");

    put(serde_json::json!({ "refuse_tokens": true })).await;
    let (status, body) = get(&sim, "/live_sessions", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], 124, "{body}");

    // Unknown knobs are refused, not ignored.
    let status = http
        .put(&faults)
        .json(&serde_json::json!({ "drop_webhook": 1 }))
        .send()
        .await
        .expect("answers")
        .status();
    assert!(status.is_client_error(), "{status}");
}

#[tokio::test]
async fn the_gateways_client_walks_every_page_and_says_why_when_it_cannot() {
    use cobrowse_gateway::zoom::api::{ZoomApi, ZoomApiError};
    let sim = simulator().await;
    for n in 0..350 {
        play(&sim, &format!("live-{n:03}"), 10, 1);
    }
    play(&sim, "over", 90, usize::MAX);
    let client = |secret: cobrowse_gateway::secret::Secret| {
        ZoomApi::new(
            &format!("{}/zoom/v2", sim.url()),
            sim.zoom().api_key().to_owned(),
            secret,
        )
        .expect("a client")
    };
    let api = client(sim.config().zoom_api_secret.clone());
    let today = Utc::now().date_naive();
    let month_ago = today - chrono::Duration::days(30);

    let live = api.live_sessions(month_ago, today, 10).await.expect("live");
    assert_eq!(live.len(), 350, "two pages of at most 300");
    assert!(live.iter().all(|s| s.end_time.is_none()));
    let bounded = api.live_sessions(month_ago, today, 1).await.expect("live");
    assert_eq!(bounded.len(), 300, "no more pages than allowed");
    let past = api
        .past_sessions(today - chrono::Duration::days(1), today, 10)
        .await
        .expect("past");
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].session_id, "over");
    assert!(past[0].end_time.is_some() && !past[0].users.is_empty());

    let faults = format!("{}/__sim/zoom/faults", sim.url());
    let http = reqwest::Client::new();
    let limited = serde_json::json!({ "rate_limit_next": 1, "retry_after_s": 60 });
    http.put(&faults)
        .json(&limited)
        .send()
        .await
        .expect("answers");
    match api.live_sessions(month_ago, today, 10).await {
        Err(ZoomApiError::RateLimited {
            retry_after: Some(at),
        }) => assert!(at > Utc::now()),
        other => panic!("a rate limit with its time: {other:?}"),
    }
    let wrong = client(cobrowse_gateway::secret::Secret::new("not-the-api-secret"));
    match wrong.live_sessions(month_ago, today, 10).await {
        Err(ZoomApiError::Refused { code: 124, .. }) => {}
        other => panic!("refused credentials: {other:?}"),
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let nowhere = format!("http://{}/v2", closed.local_addr().expect("an address"));
    drop(closed);
    let unreachable = ZoomApi::new(
        &nowhere,
        "key".into(),
        cobrowse_gateway::secret::Secret::new("secret"),
    )
    .expect("a client");
    match unreachable.live_sessions(month_ago, today, 10).await {
        Err(ZoomApiError::Unreachable(_)) => {}
        other => panic!("unreachable: {other:?}"),
    }
}
