//! `cargo bench --bench gateway`: the product's speed, measured in one run.
//! (Options after `--`: `cargo bench --bench gateway -- --duration-s 5`.)
//! The load generator lives here, outside the product: neither its code nor
//! `hdrhistogram` ships in the gateway.
//!
//! Everything runs in this process on loopback: the simulator, the gateway,
//! a bare axum server (the HTTP ceiling) and the load generator (tokio tasks
//! recording into HDR histograms). Every response body is checked: a non-200
//! or a body with `errors` counts as a failure and is reported.
//!
//! Scenarios:
//! 1. warm dashboard query (everything cached) against the gateway, served
//!    from its response cache and resolved afresh from its data cache (by
//!    the compiled path, as it comes and with the cache changed before
//!    every request, and by the general engine, these loaded in turns with
//!    Tailcall), and against a static JSON endpoint of the same bytes on a
//!    bare axum server;
//! 2. cold dashboard query (cache emptied first) with 20 ms of upstream latency;
//! 3. single-flight: 500 concurrent identical cold queries;
//! 4. economy: dashboards refreshing a wall while the world changes, with
//!    the live index kept by notifications and with TTL polling, side by
//!    side in one run: upstream calls per minute of each;
//! 5. peak resident memory of the process;
//! 6. Co-browse for Messenger, live: event to subscriber (`benches/messenger.rs`);
//! 7. legacy co-browse, live: each change to a subscriber and to the wall,
//!    checked against the target of p99 within a second (`benches/live.rs`).
//!
//! Beside 1, Tailcall 1.6.14 serves the same data from the same simulator
//! (`benches/peers`, installed by `scripts/peers` when missing; `--no-peer`
//! skips it) and is loaded the same way, in turns; after 3, the scaling run (1b)
//! resolves the dashboard for 10, 30, 100 and 300 conversations, and 1c
//! each query of the README.
//!
//! Scenarios 1 to 3 read with notifications off (`notifications.enabled =
//! false`), so that their upstream call counts are the query's own.

#[path = "../tests/common/documentation.rs"]
mod documentation;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use axum::routing::get;
use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::de::IgnoredAny;
use serde::Deserialize;
use tokio::net::TcpListener;

use cobrowse_gateway::settings::{Layers, Settings};
use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
use cobrowse_gateway::startup::Gateway;

mod live;
mod messenger;
mod peer;

/// The dashboard query of the README.
const DASHBOARD: &str = include_str!("../tests/queries/dashboard.graphql");

/// How hard to push.
#[derive(Clone, Debug, clap::Parser)]
struct BenchOptions {
    /// Seconds per load run.
    #[arg(long = "duration-s", default_value = "10", value_parser = seconds)]
    duration: Duration,
    /// Concurrent clients of the load runs.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Conversations the simulator seeds.
    #[arg(long, default_value_t = 24)]
    conversations: usize,
    /// Cold queries measured one after another.
    #[arg(long, default_value_t = 50)]
    cold_queries: usize,
    /// Concurrent identical cold queries of the single-flight run.
    #[arg(long, default_value_t = 500)]
    single_flight: usize,
    /// Minutes of the economy run (0 skips it).
    #[arg(long = "economy-minutes", default_value_t = 5)]
    economy_minutes: u64,
    /// Co-browse for Messenger events of the live Messenger run (0 skips
    /// it).
    #[arg(long = "messenger-events", default_value_t = 200)]
    messenger_events: usize,
    /// Conversations the live PureCloud run walks from start to end (0
    /// skips it).
    #[arg(long = "live-conversations", default_value_t = 70)]
    live_conversations: usize,
    /// Dashboards of the economy run, each refreshing every 2 s.
    #[arg(long, default_value_t = 50)]
    dashboards: usize,
    /// Conversations of the scaling run (resolve time per response as the
    /// page grows; 0 skips it).
    #[arg(long, value_delimiter = ',', default_value = "10,30,100,300")]
    scaling: Vec<usize>,
    /// Load runs of the compiled path, the general engine and Tailcall,
    /// taken in turns.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Skips the side-by-side run with Tailcall (installed by
    /// `scripts/peers` when missing).
    #[arg(long = "no-peer")]
    no_peer: bool,
    /// Passed by `cargo bench`; means nothing here.
    #[arg(long, hide = true)]
    bench: bool,
}

fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    let outcome = run(BenchOptions::parse()).await;
    let _ = std::fs::remove_dir_all(bench_dir());
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Throughput and latency of one load run.
#[derive(Debug)]
struct LoadReport {
    /// Responses answered (failures included).
    requests: u64,
    failures: u64,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    first_failure: Option<String>,
    histogram: Histogram<u64>,
    elapsed: Duration,
}

impl LoadReport {
    /// One report of several runs: their responses over their time.
    fn merged(runs: &[LoadReport]) -> LoadReport {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        for run in runs {
            histogram.add(&run.histogram).expect("same bounds");
        }
        let elapsed: Duration = runs.iter().map(|r| r.elapsed).sum();
        LoadReport::of(
            histogram,
            elapsed,
            runs.iter().map(|r| r.failures).sum(),
            runs.iter().find_map(|r| r.first_failure.clone()),
        )
    }

    fn of(
        histogram: Histogram<u64>,
        elapsed: Duration,
        failures: u64,
        first_failure: Option<String>,
    ) -> LoadReport {
        LoadReport {
            requests: histogram.len(),
            failures,
            per_second: histogram.len() as f64 / elapsed.as_secs_f64(),
            p50: Duration::from_micros(histogram.value_at_quantile(0.50)),
            p99: Duration::from_micros(histogram.value_at_quantile(0.99)),
            first_failure,
            histogram,
            elapsed,
        }
    }
}

#[derive(Deserialize)]
struct Body {
    data: Option<IgnoredAny>,
    errors: Option<IgnoredAny>,
}

/// Checks one answer: 200, JSON, data and no errors.
fn check(status: reqwest::StatusCode, body: &[u8]) -> Result<(), String> {
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body {
            errors: Some(_), ..
        }) => {
            // The errors, not the data before them (a failure is read
            // rarely: parsing the body again costs nothing that counts).
            let errors = serde_json::from_slice::<serde_json::Value>(body)
                .map(|b| b["errors"].to_string())
                .unwrap_or_default();
            let errors: String = errors.chars().take(600).collect();
            Err(format!("errors in body: {errors}"))
        }
        Ok(Body { data: None, .. }) => Err("no data in body".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("not a GraphQL response: {e}")),
    }
}

/// Something a load run does before each request.
type Hook = Arc<dyn Fn() + Send + Sync>;

/// Runs `concurrency` clients posting `body` to `url` for `duration`.
async fn load(url: &str, body: Bytes, concurrency: usize, duration: Duration) -> LoadReport {
    load_with(url, body, concurrency, duration, None).await
}

/// [`load`], calling `before` before each request.
async fn load_with(
    url: &str,
    body: Bytes,
    concurrency: usize,
    duration: Duration,
    before: Option<Hook>,
) -> LoadReport {
    let client = client(concurrency);
    let failures = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
            let before = before.clone();
            let (failures, first_failure) = (Arc::clone(&failures), Arc::clone(&first_failure));
            tokio::spawn(async move {
                let mut histogram =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                while Instant::now() < deadline {
                    if let Some(before) = &before {
                        before();
                    }
                    let sent = Instant::now();
                    let outcome = match client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(response) => {
                            let status = response.status();
                            match response.bytes().await {
                                Ok(bytes) => check(status, &bytes),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    histogram.saturating_record(sent.elapsed().as_micros() as u64);
                    if let Err(why) = outcome {
                        failures.fetch_add(1, Ordering::Relaxed);
                        first_failure.lock().expect("lock").get_or_insert(why);
                    }
                }
                histogram
            })
        })
        .collect();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    for worker in workers {
        histogram
            .add(worker.await.expect("worker"))
            .expect("same bounds");
    }
    let elapsed = started.elapsed();
    let first_failure = first_failure.lock().expect("lock").take();
    LoadReport::of(
        histogram,
        elapsed,
        failures.load(Ordering::Relaxed),
        first_failure,
    )
}

/// The sum of a gateway's metric `name` over its labels.
async fn metric_sum(client: &reqwest::Client, url: &str, name: &str) -> anyhow::Result<u64> {
    let base = url.strip_suffix("/graphql").unwrap_or(url);
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if let Some((_, value)) = rest
            .rsplit_once(' ')
            .filter(|_| rest.starts_with(['{', ' ']))
        {
            sum += value.parse::<f64>()?;
        }
    }
    Ok(sum as u64)
}

/// The gateway's upstream calls (its own count: Tailcall calls the same
/// simulator).
const UPSTREAM_CALLS: &str = "cobrowse_gateway_upstream_requests_total";

/// Loads each of `contenders` (a GraphQL URL, the body to post, what to do
/// before each request)
/// `options.rounds` times, in turns, who goes first rotating each round,
/// so that a slow moment of the machine falls on all of them alike: each
/// one's runs, and the process's peak resident memory during them and how
/// far it rose over where each run began (MiB, the largest of its runs).
async fn in_turns(
    options: &BenchOptions,
    contenders: &[(String, Bytes, Option<Hook>)],
) -> Vec<(Vec<LoadReport>, (f64, f64))> {
    let mut runs: Vec<(Vec<LoadReport>, (f64, f64))> = contenders
        .iter()
        .map(|_| (Vec::new(), (0.0, 0.0)))
        .collect();
    // A second of each first, unmeasured: the process grows its buffers
    // and pools under load once, before any measured run (else the first
    // run's figures carry that).
    for (url, body, before) in contenders {
        let warm_up = Duration::from_secs(1);
        load_with(
            url,
            body.clone(),
            options.concurrency,
            warm_up,
            before.clone(),
        )
        .await;
    }
    for round in 0..options.rounds as usize {
        for turn in 0..contenders.len() {
            let i = (round + turn) % contenders.len();
            let (url, body, before) = &contenders[i];
            reset_peak();
            let began = hwm_mib().unwrap_or(0.0);
            let report = load_with(
                url,
                body.clone(),
                options.concurrency,
                options.duration,
                before.clone(),
            )
            .await;
            let (reports, (peak, rise)) = &mut runs[i];
            reports.push(report);
            let ended = hwm_mib().unwrap_or(0.0);
            *peak = peak.max(ended);
            *rise = rise.max(ended - began);
        }
    }
    runs
}

/// How many responses the gateway whose GraphQL endpoint is `url`
/// answered by a compiled plan (its
/// `cobrowse_gateway_compiled_total{outcome="answered"}`).
async fn compiled_answers(client: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    metric_sum(
        client,
        url,
        "cobrowse_gateway_compiled_total{outcome=\"answered\"}",
    )
    .await
}

/// The API key bench clients send (made afresh for each run).
fn bench_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(cobrowse_gateway::auth::api_keys::generate)
}

/// A client that authenticates as the bench's caller, as a real one would.
fn client(pool: usize) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", bench_key())
            .parse()
            .expect("a key is a valid header"),
    );
    reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .default_headers(headers)
        .build()
        .expect("client")
}

/// The folder of this run's files (the keys file, each gateway's event
/// store) in the temp dir, not in `./data` of whatever directory the
/// benchmark runs in; removed when the run ends.
fn bench_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("cobrowse-bench-{}", std::process::id()))
}

/// The keys file bench gateways read: the bench's key with the read scope.
fn keys_file() -> anyhow::Result<std::path::PathBuf> {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    if let Some(path) = PATH.get() {
        return Ok(path.clone());
    }
    std::fs::create_dir_all(bench_dir())?;
    let path = bench_dir().join("keys.toml");
    std::fs::write(
        &path,
        cobrowse_gateway::auth::api_keys::entry("bench", bench_key(), &["read"]),
    )?;
    Ok(PATH.get_or_init(|| path).clone())
}

fn settings_for(sim: &Simulator, extra: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let mut layers = Layers::defaults();
    let url = sim.url();
    let keys = keys_file()?.display().to_string();
    // Each gateway has an event store of its own: one scenario's sessions
    // are not another's (a Messenger session of scenario 6 is not in
    // scenario 7's simulator).
    static STORES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let store = bench_dir()
        .join(format!("store-{n}.sqlite"))
        .display()
        .to_string();
    for (path, value) in [
        ("server.listen", "127.0.0.1:0"),
        ("store.path", store.as_str()),
        ("upstream.url", url.as_str()),
        ("upstream.login_url", url.as_str()),
        ("upstream.client_id", sim.client_id()),
        ("upstream.client_secret", sim.client_secret().expose()),
        ("upstream.max_in_flight", "64"),
        ("log.filter", "warn"),
        ("auth.api_keys_file", keys.as_str()),
        // One caller makes every request here: no per-caller limit.
        ("limits.requests_per_second", "0"),
        ("notifications.enabled", "false"),
        ("server.readiness_interval", "100ms"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        layers = layers.set(path, value)?;
    }
    Ok(layers.build()?)
}

struct Running {
    url: String,
    sim: Simulator,
    clear_cache: Box<dyn Fn() + Send + Sync>,
    change_cache: Hook,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(
    options: &BenchOptions,
    faults: Faults,
    extra: &[(&str, &str)],
) -> anyhow::Result<Running> {
    let mut config = SimConfig::local(options.conversations, 7);
    config.faults = faults;
    start_on(config, extra).await
}

async fn start_on(config: SimConfig, extra: &[(&str, &str)]) -> anyhow::Result<Running> {
    let sim = Simulator::start(config).await?;
    let gateway = Gateway::build(settings_for(&sim, extra)?).await?;
    let url = format!("http://{}/graphql", gateway.local_addr());
    let clear_cache = Box::new(gateway.cache_clearer());
    let change_cache: Hook = Arc::new(gateway.cache_changer());
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Ok(Running {
        url,
        sim,
        clear_cache,
        change_cache,
        _stop: stop,
    })
}

/// A gateway that resolves every response (response cache off) from a
/// data cache that keeps everything for the run, with compiled queries
/// `compiled` (`on` or `off`).
async fn resolving_gateway(options: &BenchOptions, compiled: &str) -> anyhow::Result<Running> {
    start(
        options,
        Faults::default(),
        &[
            ("cache.live_ttl", "1h"),
            ("server.response_cache", "false"),
            ("server.compiled_queries", compiled),
        ],
    )
    .await
}

async fn upstream_calls(sim: &Simulator) -> anyhow::Result<u64> {
    let stats: cobrowse_gateway::sim::SimStats = reqwest::get(format!("{}/__sim/stats", sim.url()))
        .await?
        .json()
        .await?;
    let token_calls = stats.route("POST /oauth/token");
    Ok(stats.total - token_calls)
}

async fn reset(sim: &Simulator) -> anyhow::Result<()> {
    reqwest::Client::new()
        .post(format!("{}/__sim/stats/reset", sim.url()))
        .send()
        .await?;
    Ok(())
}

async fn one(
    client: &reqwest::Client,
    url: &str,
    body: &Bytes,
) -> anyhow::Result<(Duration, Bytes)> {
    let sent = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let took = sent.elapsed();
    check(status, &bytes).map_err(anyhow::Error::msg)?;
    Ok((took, bytes))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Runs every scenario and prints the report. Fails if any response failed.
async fn run(options: BenchOptions) -> anyhow::Result<()> {
    let body = Bytes::from(
        serde_json::json!({ "query": DASHBOARD, "operationName": "Dashboard" }).to_string(),
    );
    let client = client(1);
    let mut failed = 0u64;
    println!(
        "cobrowse-gateway bench: {} conversations seeded, {} clients, {} s per load run",
        options.conversations,
        options.concurrency,
        options.duration.as_secs()
    );

    // 1. Warm: everything cached, from the response cache and resolved
    //    afresh, side by side with Tailcall.
    failed += warm(&options, &client, &body).await?;

    // 2. Cold: the cache emptied before every query, 20 ms per upstream call.
    let latency = Faults {
        latency_ms: 20,
        ..Faults::default()
    };
    // Nothing may answer from memory: no response cache, data cache emptied.
    let cold = start(
        &options,
        latency.clone(),
        &[("server.response_cache", "false")],
    )
    .await?;
    reset(&cold.sim).await?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    for _ in 0..options.cold_queries {
        (cold.clear_cache)();
        match one(&client, &cold.url, &body).await {
            Ok((took, _)) => histogram.saturating_record(took.as_micros() as u64),
            Err(e) => {
                failed += 1;
                println!("   cold failure: {e}");
            }
        }
    }
    let calls = upstream_calls(&cold.sim).await?;
    println!("\n2. cold dashboard query, 20 ms upstream latency, cache emptied before each ({} queries one after another)", options.cold_queries);
    println!(
        "   p50 {}, p99 {}, upstream calls per query {:.1}",
        ms(Duration::from_micros(histogram.value_at_quantile(0.5))),
        ms(Duration::from_micros(histogram.value_at_quantile(0.99))),
        calls as f64 / options.cold_queries as f64
    );
    drop(cold);

    // 3. Single-flight: N concurrent identical cold queries.
    let flight = start(&options, latency, &[]).await?;
    reset(&flight.sim).await?;
    let started = Instant::now();
    let answers = futures::future::join_all(
        (0..options.single_flight).map(|_| one(&client, &flight.url, &body)),
    )
    .await;
    let took = started.elapsed();
    let errors = answers.iter().filter(|a| a.is_err()).count();
    failed += errors as u64;
    let calls = upstream_calls(&flight.sim).await?;
    println!(
        "\n3. single-flight: {} concurrent identical cold queries, 20 ms upstream latency",
        options.single_flight
    );
    println!("   upstream calls: {calls} in all ({:.3} per query), all answered in {}, failures {errors}", calls as f64 / options.single_flight as f64, ms(took));
    drop(flight);

    // 1b. Scaling: resolve time per response and per field as the page
    //     grows.
    if options.scaling.iter().any(|&n| n > 0) {
        failed += scaling(&options, &client).await?;
    }

    // 1c. Every query of the README, resolved afresh.
    failed += readme_queries(&options, &client).await?;

    // 4. Economy.
    if options.economy_minutes > 0 {
        failed += economy(&options, &body).await?;
    }

    // 6. Co-browse for Messenger, live.
    if options.messenger_events > 0 {
        failed += messenger::scenario(options.messenger_events).await?;
    }

    // 7. Legacy co-browse, live: each change's freshness.
    if options.live_conversations > 0 {
        failed += live::scenario(options.live_conversations).await?;
    }

    // 5. Memory.
    println!(
        "\n5. peak resident memory of this process (gateway, simulator and load generator): {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
    if failed > 0 {
        bail!("{failed} responses failed");
    }
    println!("\nall responses checked: 200, data, no errors");
    Ok(())
}

/// Scenario 1: the warm dashboard (everything cached, TTLs longer than the
/// run), served from the response cache, then resolved afresh from the data
/// cache by the compiled path and by the general engine, and beside them
/// Tailcall over the same simulator and a bare axum server of the same
/// bytes. The compiled path, the general engine and Tailcall are loaded in
/// turns ([`in_turns`]). Answers the failures.
async fn warm(
    options: &BenchOptions,
    client: &reqwest::Client,
    body: &Bytes,
) -> anyhow::Result<u64> {
    let mut failed = 0;
    let warm = start(options, Faults::default(), &[("cache.live_ttl", "1h")]).await?;
    let (_, sample) = one(client, &warm.url, body)
        .await
        .context("warming the cache")?;
    reset(&warm.sim).await?;
    let gateway = load(
        &warm.url,
        body.clone(),
        options.concurrency,
        options.duration,
    )
    .await;
    let warm_calls = upstream_calls(&warm.sim).await?;
    drop(warm);
    let resolving = resolving_gateway(options, "on").await?;
    // The first is the general engine's (and compiles the plan).
    one(client, &resolving.url, body)
        .await
        .context("warming the cache")?;
    // The general engine (compiled queries off), same data, same load.
    let engine = resolving_gateway(options, "off").await?;
    one(client, &engine.url, body)
        .await
        .context("warming the cache")?;
    // The peer, over the same simulator.
    let peer = if options.no_peer {
        None
    } else {
        let tailcall = peer::start(&resolving.sim).await.context("Tailcall")?;
        let (_, theirs) = one(client, &tailcall.url, &peer::Peer::body()).await?;
        let (_, ours) = one(client, &resolving.url, body).await?;
        let conversations = peer::same_data(&ours, &theirs)?;
        Some((tailcall, conversations))
    };
    let answered = compiled_answers(client, &resolving.url).await?;
    let called = metric_sum(client, &resolving.url, UPSTREAM_CALLS).await?;
    let mut contenders = vec![
        (resolving.url.clone(), body.clone(), None),
        (engine.url.clone(), body.clone(), None),
        // Every response read afresh: the cache changes before each.
        (
            resolving.url.clone(),
            body.clone(),
            Some(Arc::clone(&resolving.change_cache)),
        ),
    ];
    if let Some((tailcall, _)) = &peer {
        contenders.push((tailcall.url.clone(), peer::Peer::body(), None));
    }
    let runs = in_turns(options, &contenders).await;
    let [ours, general_runs, changing_runs, theirs] =
        [0, 1, 2, 3].map(|i| runs.get(i).map(|(r, _)| r.as_slice()).unwrap_or_default());
    let [(compiled_peak, compiled_rise), (general_peak, general_rise)] = [0, 1].map(|i| runs[i].1);
    let (resolved, general) = (LoadReport::merged(ours), LoadReport::merged(general_runs));
    let changing = LoadReport::merged(changing_runs);
    let by_plan = compiled_answers(client, &resolving.url).await? - answered;
    if by_plan < resolved.requests + changing.requests {
        bail!(
            "the compiled path answered {by_plan} of {} responses",
            resolved.requests + changing.requests
        );
    }
    drop(engine);
    let warm_calls =
        warm_calls + metric_sum(client, &resolving.url, UPSTREAM_CALLS).await? - called;
    drop(resolving);
    let bare = bare_server(sample.clone()).await?;
    let ceiling = load(&bare, body.clone(), options.concurrency, options.duration).await;
    println!("\n1. warm dashboard query ({} bytes per response; upstream calls during the runs: {warm_calls})", sample.len());
    println!(
        "   {:<40} {:>10} {:>12} {:>12} {:>9}",
        "", "req/s", "p50", "p99", "failures"
    );
    let tailcall = (!theirs.is_empty()).then(|| LoadReport::merged(theirs));
    let mut rows = vec![
        ("gateway, response cache", &gateway),
        ("gateway, compiled path (data cache)", &resolved),
        ("  the same, the cache changing each time", &changing),
        ("gateway, general engine (data cache)", &general),
    ];
    if let Some(tailcall) = &tailcall {
        rows.push(("Tailcall 1.6.14, same data, its cache", tailcall));
    }
    rows.push(("bare axum, static JSON", &ceiling));
    for (name, report) in rows {
        println!(
            "   {name:<40} {:>10.0} {:>12} {:>12} {:>9}",
            report.per_second,
            ms(report.p50),
            ms(report.p99),
            report.failures
        );
        if let Some(why) = &report.first_failure {
            println!("   first failure: {why}");
        }
        failed += report.failures;
    }
    println!(
        "   gateway / bare ceiling: {:.1} % with the response cache, {:.1} % resolving every response ({:.1} % by the general engine)",
        100.0 * gateway.per_second / ceiling.per_second,
        100.0 * resolved.per_second / ceiling.per_second,
        100.0 * general.per_second / ceiling.per_second
    );
    println!(
        "   compiled path / general engine: {:.2} (req/s), p99 {} vs {}; peak resident memory of the process during their loads: {compiled_peak:.1} MiB vs {general_peak:.1} MiB, rising by at most {compiled_rise:.1} vs {general_rise:.1} MiB over where a load began",
        resolved.per_second / general.per_second,
        ms(resolved.p99),
        ms(general.p99)
    );
    if let (Some(tailcall), Some((_, conversations))) = (&tailcall, &peer) {
        let rounds: Vec<String> = ours
            .iter()
            .zip(theirs)
            .map(|(o, t)| format!("{:.2}", o.per_second / t.per_second))
            .collect();
        let ahead = ours
            .iter()
            .zip(theirs)
            .filter(|(o, t)| o.per_second >= t.per_second)
            .count();
        println!(
            "   gateway resolving / Tailcall: {:.2} (req/s over {} rounds of {} s each, taking turns: {}; ahead in {ahead} of {}), p99 {} vs {} ({conversations} conversations, the same in both answers)",
            resolved.per_second / tailcall.per_second,
            ours.len(),
            options.duration.as_secs(),
            rounds.join(", "),
            ours.len(),
            ms(resolved.p99),
            ms(tailcall.p99)
        );
        println!(
            "   the cache changing each time / Tailcall: {:.2} (req/s), p99 {} vs {}",
            changing.per_second / tailcall.per_second,
            ms(changing.p99),
            ms(tailcall.p99)
        );
    }
    Ok(failed)
}

/// Scenario 1b: for each number of seeded conversations, the warm
/// dashboard resolved afresh (response cache off, data cache warm) one
/// query at a time: the median time per response and per field (each key
/// of the response's JSON is one field resolved). Answers the failures.
async fn scaling(options: &BenchOptions, client: &reqwest::Client) -> anyhow::Result<u64> {
    println!("\n1b. scaling: the warm dashboard (every active conversation on one page) resolved afresh, one query at a time");
    println!(
        "   {:>13} {:>8} {:>10} {:>14} {:>14} {:>14} {:>14} {:>22}",
        "conversations",
        "active",
        "fields",
        "per response",
        "per field",
        "read afresh",
        "per field",
        "general engine (off)"
    );
    // The whole active set on one page, however large.
    let query = DASHBOARD.replace(
        "activeCobrowseConversations {",
        "activeCobrowseConversations(first: 1000) {",
    );
    let body = &Bytes::from(
        serde_json::json!({ "query": query, "operationName": "Dashboard" }).to_string(),
    );
    let mut failed = 0;
    for &conversations in options.scaling.iter().filter(|&&n| n > 0) {
        let mut medians = Vec::new();
        let mut sizes = (0, 0);
        for compiled in ["on", "off"] {
            let config = SimConfig::local(conversations, 7);
            let running = start_on(
                config,
                &[
                    ("cache.live_ttl", "1h"),
                    ("server.response_cache", "false"),
                    ("limits.max_page_size", "1000"),
                    ("limits.max_complexity", "1000000"),
                    ("server.compiled_queries", compiled),
                ],
            )
            .await?;
            let (_, sample) = one(client, &running.url, body).await?;
            let answer: serde_json::Value = serde_json::from_slice(&sample)?;
            let active = answer["data"]["activeCobrowseConversations"]["totalCount"]
                .as_u64()
                .unwrap_or(0);
            sizes = (active, count_fields(&answer["data"]));
            // With compiled queries on, also with every response read
            // afresh (the cache changed before each).
            let afresh: &[bool] = if compiled == "on" {
                &[false, true]
            } else {
                &[false]
            };
            for &afresh in afresh {
                let mut times = Vec::new();
                for _ in 0..30 {
                    if afresh {
                        (running.change_cache)();
                    }
                    match one(client, &running.url, body).await {
                        Ok((took, _)) => times.push(took),
                        Err(e) => {
                            failed += 1;
                            println!("   failure: {e}");
                        }
                    }
                }
                times.sort();
                medians.push(times.get(times.len() / 2).copied().unwrap_or_default());
            }
        }
        let (active, fields) = sizes;
        let per_field = |d: Duration| d.as_secs_f64() * 1e6 / fields.max(1) as f64;
        println!(
            "   {conversations:>13} {active:>8} {fields:>10} {:>14} {:>11.2} µs {:>14} {:>11.2} µs {:>22}",
            ms(medians[0]),
            per_field(medians[0]),
            ms(medians[1]),
            per_field(medians[1]),
            ms(medians[2]),
        );
    }
    Ok(failed)
}

/// The documentation's operations (one per `graphql` block of README.md
/// and the pages of `docs/`, subscriptions aside): (document, operation
/// name). Fewer than six is an error: a page that moved must not leave the
/// scenario with nothing to run.
fn readme_operations() -> Vec<(String, String)> {
    let readme = documentation::documentation();
    let operations: Vec<(String, String)> = readme
        .split("```graphql\n")
        .skip(1)
        .filter_map(|block| {
            let document = block.split("```").next()?;
            let name: String = document
                .lines()
                .find_map(|line| line.strip_prefix("query "))?
                .chars()
                .take_while(|c| c.is_alphanumeric())
                .collect();
            Some((document.to_owned(), name))
        })
        .collect();
    assert!(
        operations.len() >= 6,
        "the documentation's queries: {} found",
        operations.len()
    );
    operations
}

/// Scenario 1c: each query of the README resolved afresh (response cache
/// off, data cache warm), one at a time, 30 times, by a gateway with
/// compiled queries and by one without, interleaved: the median time of
/// each, so that the compiled path is seen to make no query slower.
/// Answers the failures.
async fn readme_queries(options: &BenchOptions, client: &reqwest::Client) -> anyhow::Result<u64> {
    let running = resolving_gateway(options, "on").await?;
    let general = resolving_gateway(options, "off").await?;
    let first = {
        let body = Bytes::from(
            serde_json::json!({ "query": "{ activeCobrowseConversations(first: 1) { nodes { id conversationId } } }" })
                .to_string(),
        );
        let (_, answer) = one(client, &running.url, &body).await?;
        let answer: serde_json::Value = serde_json::from_slice(&answer)?;
        answer["data"]["activeCobrowseConversations"]["nodes"][0].clone()
    };
    let now = chrono::Utc::now();
    let interval = serde_json::json!({
        "start": (now - chrono::Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "end": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    println!("\n1c. each README query resolved afresh (data cache warm), one at a time, compiled queries on and off");
    println!(
        "   {:<24} {:>10} {:>14} {:>14}",
        "operation", "bytes", "median, on", "median, off"
    );
    let mut failed = 0;
    for (document, name) in readme_operations() {
        // `Again` takes a global node id, the others a conversation id.
        let id = if name == "Again" {
            &first["id"]
        } else {
            &first["conversationId"]
        };
        let body = Bytes::from(
            serde_json::json!({
                "query": document,
                "operationName": name,
                "variables": { "id": id, "interval": interval },
            })
            .to_string(),
        );
        let (mut on, mut off) = (Vec::new(), Vec::new());
        let mut bytes = 0;
        // The first of each warms the data cache (and compiles the plan).
        for i in 0..31 {
            // Each goes first every other time: neither is measured warmer.
            let mut order = [(&running.url, &mut on), (&general.url, &mut off)];
            if i % 2 == 1 {
                order.reverse();
            }
            for (url, times) in order {
                match one(client, url, &body).await {
                    Ok((took, answer)) => {
                        if i > 0 {
                            times.push(took);
                        }
                        bytes = answer.len();
                    }
                    Err(e) => {
                        failed += 1;
                        println!("   {name}: {e}");
                    }
                }
            }
        }
        let median = |mut times: Vec<Duration>| {
            times.sort();
            ms(times.get(times.len() / 2).copied().unwrap_or_default())
        };
        println!(
            "   {name:<24} {bytes:>10} {:>14} {:>14}",
            median(on),
            median(off)
        );
    }
    Ok(failed)
}

/// The fields of a response's `data`: one per key, in every object.
fn count_fields(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(fields) => {
            fields.len() + fields.values().map(count_fields).sum::<usize>()
        }
        serde_json::Value::Array(items) => items.iter().map(count_fields).sum(),
        _ => 0,
    }
}

/// What one side of the economy run cost upstream.
struct Economy {
    calls: u64,
    by_route: Vec<(String, u64)>,
    queries: u64,
    failures: u64,
    first_failure: Option<String>,
}

/// Scenario 4: `options.dashboards` dashboards refresh the README's wall
/// every 2 s for `options.economy_minutes` while the world changes once a
/// second, against two gateways side by side (each with its own simulator
/// of the same seed): one keeping the active set by notifications, one by
/// TTL polling. Prints the upstream calls per minute of each; answers the
/// failed responses.
async fn economy(options: &BenchOptions, body: &Bytes) -> anyhow::Result<u64> {
    let minutes = options.economy_minutes;
    println!(
        "\n4. economy: {} dashboards refreshing a ~30-conversation wall every 2 s for {minutes} min, the world changing once a second",
        options.dashboards
    );
    let (on, off) = tokio::join!(
        economy_side(options, body, true),
        economy_side(options, body, false)
    );
    let (on, off) = (on?, off?);
    let per_minute = |e: &Economy| e.calls as f64 / minutes as f64;
    for (name, side) in [
        ("notifications on", &on),
        ("notifications off (TTL polling)", &off),
    ] {
        println!(
            "   {name:<32} {:>8.1} upstream calls/min ({} queries answered, {} failures)",
            per_minute(side),
            side.queries,
            side.failures
        );
        let routes: Vec<String> = side
            .by_route
            .iter()
            .map(|(route, n)| format!("{route} {:.1}", *n as f64 / minutes as f64))
            .collect();
        println!("   {:<32} per minute: {}", "", routes.join(", "));
        if let Some(why) = &side.first_failure {
            println!("   first failure: {why}");
        }
    }
    println!(
        "   on / off: {:.3} of the calls (the budget of one client-credentials token is about 300/min)",
        per_minute(&on) / per_minute(&off).max(1e-9)
    );
    Ok(on.failures + off.failures)
}

async fn economy_side(options: &BenchOptions, body: &Bytes, live: bool) -> anyhow::Result<Economy> {
    // ~30 conversations going on, moving on once a second.
    let mut config = SimConfig::local(40, 7);
    config.pace = Some(Duration::from_secs(1));
    let enabled = if live { "true" } else { "false" };
    let running = start_on(config, &[("notifications.enabled", enabled)]).await?;
    // Warm-up: the listener subscribes and back-fills, the dashboards
    // fill the caches; then the counted minutes.
    let warm = Duration::from_secs(10);
    let counted = Duration::from_secs(60 * options.economy_minutes);
    let client = client(options.dashboards);
    let reset_at = Instant::now() + warm;
    let until = reset_at + counted;
    let failures = Arc::new(AtomicU64::new(0));
    let queries = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(None));
    let dashboards = (0..options.dashboards).map(|i| {
        let (client, url, body) = (client.clone(), running.url.clone(), body.clone());
        let (failures, queries, first) = (
            Arc::clone(&failures),
            Arc::clone(&queries),
            Arc::clone(&first_failure),
        );
        tokio::spawn(async move {
            let stagger = Duration::from_millis(2_000 * i as u64 / 50);
            let mut every = tokio::time::interval_at(
                tokio::time::Instant::now() + stagger,
                Duration::from_secs(2),
            );
            loop {
                every.tick().await;
                if Instant::now() >= until {
                    return;
                }
                let counted = Instant::now() >= reset_at;
                match one(&client, &url, &body).await {
                    Ok(_) if counted => {
                        queries.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        first
                            .lock()
                            .expect("lock")
                            .get_or_insert_with(|| e.to_string());
                    }
                }
            }
        })
    });
    let tasks: Vec<_> = dashboards.collect();
    tokio::time::sleep_until(reset_at.into()).await;
    reset(&running.sim).await?;
    for task in tasks {
        task.await?;
    }
    let stats: cobrowse_gateway::sim::SimStats =
        reqwest::get(format!("{}/__sim/stats", running.sim.url()))
            .await?
            .json()
            .await?;
    let mut by_route: Vec<(String, u64)> = stats
        .routes()
        .filter(|(route, _)| *route != "POST /oauth/token")
        .map(|(route, n)| (route.to_owned(), n))
        .collect();
    by_route.sort_by_key(|b| std::cmp::Reverse(b.1));
    let first_failure = first_failure.lock().expect("lock").take();
    Ok(Economy {
        calls: by_route.iter().map(|(_, n)| n).sum(),
        by_route,
        queries: queries.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
        first_failure,
    })
}

/// A client-credentials token of the simulator's client (what an agent's
/// app, or a peer reading the same simulator, holds).
async fn sim_token(sim: &Simulator) -> anyhow::Result<String> {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", sim.url()))
        .basic_auth(sim.client_id(), Some(sim.client_secret().expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token: {answer}"))
}

/// A bare axum server answering every POST with `body`: the HTTP ceiling.
async fn bare_server(body: Bytes) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/graphql",
        get(|| async { "" }).post(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/graphql", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn peak_rss() -> Option<String> {
    let overall = PEAK_KIB.load(Ordering::Relaxed) as f64 / 1024.0;
    Some(format!("{:.1} MiB", hwm_mib()?.max(overall)))
}

/// The process's resident high-water mark now (`VmHWM`), in MiB.
fn hwm_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The largest high-water mark seen before a reset, in KiB.
static PEAK_KIB: AtomicU64 = AtomicU64::new(0);

/// Starts measuring a phase's own peak: the high-water mark so far is kept
/// for the whole run's figure, then reset to the current size (Linux:
/// `clear_refs` 5).
fn reset_peak() {
    if let Some(mib) = hwm_mib() {
        PEAK_KIB.fetch_max((mib * 1024.0) as u64, Ordering::Relaxed);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
