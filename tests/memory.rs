//! Memory stays within what the settings say: twelve passthrough callers
//! reading, round and round for a minute, a co-browse listing that upstream
//! makes 100,000 items long (in pages of 1,000, as Genesys pages). The
//! gateway's peak resident memory must stay at or below
//! 2 × `cache.max_bytes` + 100 MB; it prints the figure. `MEMORY_SECONDS`
//! sets the length (default 60). A test target of its own, so that nothing
//! else runs beside it: `cargo test --release --test memory -- --nocapture`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
use serde_json::{json, Value};

#[allow(dead_code, unused_imports)] // this test uses a part of the shared helpers
#[path = "api/helpers/mod.rs"]
mod helpers;

use helpers::{client_token, command_for, start};

const CALLERS: usize = 12;
const ITEMS: usize = 100_000;
/// `cache.max_bytes`, its default.
const CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;

fn seconds() -> u64 {
    std::env::var("MEMORY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// The peak resident memory of a process so far (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    kib * 1024
}

/// The JSON answer of the simulator to `request`.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("the simulator answers");
    response.json().await.expect("JSON")
}

/// A new user token of `user`, from the simulator.
async fn user_token(sim: &Simulator, user: &Value) -> String {
    let request = reqwest::Client::new()
        .post(format!("{}/__sim/tokens", sim.url()))
        .json(&json!({ "userId": user }));
    answer(request).await["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// The agent with the most co-browse conversations going on, and how many
/// it has.
async fn busiest_agent(sim: &Simulator) -> (Value, usize) {
    let service = client_token(&sim.url(), sim.client_id(), sim.client_secret().expose()).await;
    let http = reqwest::Client::new();
    let users = answer(
        http.get(format!("{}/api/v2/users?pageSize=100", sim.url()))
            .bearer_auth(&service),
    )
    .await;
    let mut best = (Value::Null, 0);
    for user in users["entities"].as_array().expect("users") {
        let token = user_token(sim, &user["id"]).await;
        let path = "/api/v2/conversations/cobrowsesessions";
        let listing = answer(http.get(format!("{}{path}", sim.url())).bearer_auth(&token)).await;
        let n = listing["entities"].as_array().map_or(0, Vec::len);
        if n > best.1 {
            best = (user["id"].clone(), n);
        }
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_callers_of_a_listing_of_100000_stay_within_twice_the_cache_bound() {
    let sim = Simulator::start(SimConfig::local(40, 42))
        .await
        .expect("the simulator starts");
    let (agent, mine) = busiest_agent(&sim).await;
    assert!(mine > 0, "an agent with co-browse going on");
    let faults = Faults {
        listing_page_size: 1_000,
        listing_copies: u32::try_from(ITEMS.div_ceil(mine) - 1).expect("a count"),
        ..Faults::default()
    };
    reqwest::Client::new()
        .put(format!("{}/__sim/faults", sim.url()))
        .json(&faults)
        .send()
        .await
        .expect("the simulator answers");
    let mut command = command_for(&sim, &["--listen", "127.0.0.1:0"]);
    command
        .env("COBROWSE_AUTH_MODE", "passthrough")
        .env("COBROWSE_LIMITS_REQUESTS_PER_SECOND", "0");
    let (mut child, base, _, _logs) = start(command).await;
    let pid = child.id().expect("a pid");

    // Each caller its own token (its own credential scope) of that agent.
    let mut tokens = Vec::new();
    for _ in 0..CALLERS {
        tokens.push(user_token(&sim, &agent).await);
    }
    let until = Instant::now() + Duration::from_secs(seconds());
    let answered = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (base, answered) = (base.clone(), Arc::clone(&answered));
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut codes = Vec::new();
                while Instant::now() < until {
                    let response = http
                        .post(format!("{base}/graphql"))
                        .bearer_auth(&token)
                        .json(&json!({ "query": "{ activeCobrowseConversations(first: 10) { totalCount nodes { conversationId } } }" }))
                        .send()
                        .await
                        .expect("the gateway answers");
                    assert_eq!(response.status(), 200);
                    let body: Value = response.json().await.expect("JSON");
                    codes.push(body["errors"][0]["extensions"]["code"].clone());
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                codes
            })
        })
        .collect();
    let mut codes = Vec::new();
    for caller in callers {
        codes.extend(caller.await.expect("a caller"));
    }
    let peak = peak_rss(pid);
    child.kill().await.expect("stops");

    let bound = 2 * CACHE_MAX_BYTES + 100 * 1_000_000;
    println!(
        "{CALLERS} callers, a listing of {} items, {} s: {} answers, peak RSS {:.1} MB (bound {:.1} MB)",
        mine * (faults.listing_copies as usize + 1),
        seconds(),
        answered.load(Ordering::Relaxed),
        peak as f64 / 1e6,
        bound as f64 / 1e6
    );
    assert!(
        codes.iter().all(|c| c == "UPSTREAM_LIST_TOO_LARGE"),
        "every answer refuses the listing by name: {:?}",
        codes.iter().find(|c| *c != "UPSTREAM_LIST_TOO_LARGE")
    );
    assert!(peak <= bound, "peak RSS {peak} bytes over {bound}");
}
