//! Staying up when upstream does not: the simulator's fault knobs against
//! stale-if-error and the circuit breakers. Each test says what clients see
//! during the fault, and that the gateway recovers by itself afterwards.
//!
//! Test gateways here keep upstream data for 1 ms (so every query goes to
//! upstream again) with a minute of stale grace, and no response cache.

use std::time::{Duration, Instant};

use cobrowse_gateway::sim::{Faults, Simulator};
use serde_json::{json, Value};

use crate::helpers::{route, spawn_with, Options, TestApp, DASHBOARD};

fn options(extra: &[(&'static str, &str)]) -> Options {
    let mut settings: Vec<(&'static str, String)> = vec![
        ("server.response_cache", "false".into()),
        ("cache.live_ttl", "1ms".into()),
        ("cache.directory_ttl", "1ms".into()),
        ("cache.stale_grace", "1m".into()),
        ("upstream.breaker_cooldown", "300ms".into()),
        // Readiness is probed on every call here (it is kept for an interval
        // by default), so that tests see it change at once.
        ("server.readiness_interval", "0s".into()),
    ];
    settings.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Options {
        conversations: 8,
        settings,
        ..Options::default()
    }
}

/// The dashboard query's whole body (HTTP 200 asserted).
async fn dashboard(app: &TestApp) -> Value {
    app.graphql(DASHBOARD, json!({})).await
}

/// The codes of a body's errors.
fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("-").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The stale-data warning of a body, if any.
fn stale_warning(body: &Value) -> Option<&Value> {
    body["extensions"]["warnings"]
        .as_array()?
        .iter()
        .find(|w| w["code"] == "STALE_DATA")
}

/// The conversations of a dashboard body, by id, with their names.
fn conversations(body: &Value) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = body["data"]["activeCobrowseConversations"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no conversations in {body:#}"))
        .iter()
        .map(|n| {
            (
                n["conversationId"].as_str().expect("id").to_owned(),
                n["name"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}

/// Queries until a dashboard comes back complete, fresh and error-free, and
/// asserts it holds the conversations of `before`; fails after `within`.
/// Each attempt is a real query: the gateway must recover from its own
/// retries and probes.
async fn until_recovered(app: &TestApp, before: &[(String, String)], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let body = dashboard(app).await;
        if codes(&body).is_empty() && stale_warning(&body).is_none() {
            assert_eq!(conversations(&body), before);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered after {within:?}: {body:#}"
        );
        tokio::task::yield_now().await;
    }
}

/// Runs the dashboard `n` times during a fault: every response must be the
/// whole dashboard, as before the fault, with no error; stale values are
/// allowed (and warned about). Returns how many responses held stale data.
async fn ride_out(app: &TestApp, before: &[(String, String)], n: usize) -> usize {
    let mut stale = 0;
    for _ in 0..n {
        let body = dashboard(app).await;
        assert!(codes(&body).is_empty(), "{body:#}");
        assert_eq!(conversations(&body), before);
        if let Some(warning) = stale_warning(&body) {
            stale += 1;
            let reads = warning["reads"].as_array().expect("reads");
            assert!(!reads.is_empty(), "{warning}");
            assert!(
                warning["count"].as_u64() >= Some(reads.len() as u64),
                "{warning}"
            );
        }
    }
    stale
}

/// Twenty dashboards under `faults` must each be whole and error-free; once
/// the faults are gone, the gateway recovers on its own.
async fn rides_out(faults: Faults) {
    let app = spawn_with(options(&[])).await;
    let before = conversations(&dashboard(&app).await);

    app.set_faults(&faults).await;
    app.reset_calls().await;
    ride_out(&app, &before, 20).await;
    let calls = app.upstream_calls().await;
    assert!(
        calls.route(route::CONVERSATION) >= 20 * 6,
        "every query went upstream: {calls:?}"
    );

    app.set_faults(&Faults::default()).await;
    until_recovered(&app, &before, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn with_30_percent_429s_clients_get_every_answer_and_no_error() {
    rides_out(Faults {
        rate_limit_fraction: 0.3,
        retry_after_s: 0,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn when_upstream_rate_limits_for_longer_than_the_gateway_waits_stale_data_is_served_with_a_warning(
) {
    let app = spawn_with(options(&[])).await;
    let before = conversations(&dashboard(&app).await);
    // Every call is answered 429 with a minute's Retry-After: more than
    // upstream.max_retry_after (5 s), so the gateway does not wait.
    app.set_faults(&Faults {
        rate_limit_fraction: 1.0,
        retry_after_s: 60,
        ..Faults::default()
    })
    .await;

    // Answered long before the minute upstream asks for (a generous
    // bound, half of it).
    let body = tokio::time::timeout(Duration::from_secs(30), dashboard(&app))
        .await
        .expect("answered without waiting for the Retry-After");
    assert!(codes(&body).is_empty(), "{body:#}");
    assert_eq!(conversations(&body), before);
    let warning = stale_warning(&body).expect("a stale-data warning");
    let reads = warning["reads"].as_array().expect("reads");
    assert!(
        reads
            .iter()
            .all(|r| r["upstreamCode"] == "UPSTREAM_RATE_LIMITED"),
        "{warning}"
    );
    assert!(
        reads.iter().any(|r| r["kind"] == "conversation"),
        "{warning}"
    );

    app.set_faults(&Faults::default()).await;
    until_recovered(&app, &before, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn with_20_percent_5xx_clients_get_every_answer_and_no_error() {
    rides_out(Faults {
        error_fraction: 0.2,
        error_status: 503,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn a_slow_upstream_is_ridden_out_on_stale_data_then_the_circuit_fails_fast_then_recovers() {
    let app = spawn_with(options(&[
        ("upstream.timeout", "1s"),
        ("upstream.max_attempts", "2"),
    ]))
    .await;
    let before = conversations(&dashboard(&app).await);

    app.set_faults(&Faults {
        latency_ms: 2_000,
        ..Faults::default()
    })
    .await;
    // Every call times out (twice): the dashboard is served from stale data.
    let body = dashboard(&app).await;
    assert!(codes(&body).is_empty(), "{body:#}");
    assert_eq!(conversations(&body), before);
    let warning = stale_warning(&body).expect("a stale-data warning");
    assert!(
        warning["reads"]
            .as_array()
            .expect("reads")
            .iter()
            .any(|r| r["upstreamCode"] == "UPSTREAM_TIMEOUT"),
        "{warning}"
    );
    // Six conversations failed: their route's circuit is open, so a
    // conversation now comes from stale data without asking upstream.
    app.reset_calls().await;
    let body = app
        .graphql(
            "query($id: String!) { conversation(conversationId: $id) { conversationId name } }",
            json!({ "id": before[0].0 }),
        )
        .await;
    let calls = app.upstream_calls().await;
    assert_eq!(
        calls.route(route::CONVERSATION),
        0,
        "the open circuit answers without upstream: {calls:?}"
    );
    assert!(codes(&body).is_empty(), "{body:#}");
    assert_eq!(body["data"]["conversation"]["name"], before[0].1.as_str());
    let warning = stale_warning(&body).expect("a stale-data warning");
    // The open circuit refused the call at once, or (on a busy machine) the
    // read joined a background retry or a half-open probe already under way,
    // which timed out: stale data at once either way.
    assert!(
        ["UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT"].contains(
            &warning["reads"][0]["upstreamCode"]
                .as_str()
                .unwrap_or_default()
        ),
        "{warning}"
    );
    // What was never cached fails fast with a clear code.
    let body = app
        .graphql(
            r#"{ conversation(conversationId: "never-seen") { name } }"#,
            json!({}),
        )
        .await;
    assert_eq!(codes(&body), ["UPSTREAM_UNAVAILABLE"], "{body:#}");
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .is_some(),
        "{body:#}"
    );

    app.set_faults(&Faults::default()).await;
    until_recovered(&app, &before, Duration::from_secs(15)).await;
}

#[tokio::test]
async fn upstream_down_then_back_serves_stale_data_reports_not_ready_and_recovers() {
    let mut app = spawn_with(options(&[])).await;
    let before = conversations(&dashboard(&app).await);
    let config = app.sim.config().clone();
    let http = reqwest::Client::new();
    let ready = |app: &TestApp| {
        let (http, url) = (http.clone(), format!("http://{}/readyz", app.addr));
        async move {
            http.get(url)
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(ready(&app).await, 200);

    // Down: nothing listens on upstream's port.
    let sim = std::mem::replace(
        &mut app.sim,
        Simulator::start(cobrowse_gateway::sim::SimConfig::local(1, 1))
            .await
            .expect("a placeholder simulator"),
    );
    let addr = sim.addr();
    sim.stop().await;
    for _ in 0..3 {
        let body = dashboard(&app).await;
        assert!(codes(&body).is_empty(), "{body:#}");
        assert_eq!(conversations(&body), before);
        let warning = stale_warning(&body).expect("stale data while upstream is down");
        assert!(warning["reads"]
            .as_array()
            .expect("reads")
            .iter()
            .all(|r| r["upstreamCode"] == "UPSTREAM_UNAVAILABLE"));
    }
    let body = app
        .graphql(
            r#"{ conversation(conversationId: "never-seen") { name } }"#,
            json!({}),
        )
        .await;
    assert_eq!(codes(&body), ["UPSTREAM_UNAVAILABLE"], "{body:#}");
    assert_eq!(ready(&app).await, 503);

    // Back, on the same address with the same credentials and data.
    let mut config = config;
    config.listen = addr;
    app.sim = Simulator::start(config).await.expect("upstream is back");
    // The values served stale are fetched again in the background, before
    // any client asks.
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.upstream_calls().await.route(route::CONVERSATION) == 0 {
        assert!(Instant::now() < deadline, "no background refetch");
        tokio::task::yield_now().await;
    }
    until_recovered(&app, &before, Duration::from_secs(15)).await;
    assert_eq!(ready(&app).await, 200);
}

#[tokio::test]
async fn a_failing_token_endpoint_does_not_matter_while_the_token_is_valid() {
    let app = spawn_with(options(&[])).await;
    let before = conversations(&dashboard(&app).await);
    app.set_faults(&Faults {
        token_down: true,
        ..Faults::default()
    })
    .await;
    app.reset_calls().await;

    for _ in 0..5 {
        let body = dashboard(&app).await;
        assert!(
            codes(&body).is_empty() && stale_warning(&body).is_none(),
            "{body:#}"
        );
        assert_eq!(conversations(&body), before);
    }
    assert_eq!(app.upstream_calls().await.route(route::TOKEN), 0);
    let ready = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .expect("answers");
    assert_eq!(ready.status(), 200);

    // Upstream now revokes the token while it cannot issue another: the
    // dashboard rides on stale data, and recovers once tokens come back.
    app.expire_tokens().await;
    let body = dashboard(&app).await;
    assert!(codes(&body).is_empty(), "{body:#}");
    assert!(stale_warning(&body).is_some(), "{body:#}");
    app.set_faults(&Faults::default()).await;
    until_recovered(&app, &before, Duration::from_secs(15)).await;
}
