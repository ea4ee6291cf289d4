//! The peer of the side-by-side run: Tailcall 1.6.14, a Rust
//! GraphQL-over-REST gateway with a compiled query plan, serving the same
//! dashboard data from the bench's own simulator (`benches/peers/`), loaded
//! by the same client in the same run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use serde_json::Value;

use cobrowse_gateway::sim::Simulator;

/// Tailcall's configuration, with UPSTREAM, TOKEN, BODY and PORT to fill.
const CONFIG: &str = include_str!("peers/tailcall.graphql");

/// Tailcall's form of the dashboard query.
pub const DASHBOARD: &str = include_str!("peers/dashboard.graphql");

/// A running Tailcall (killed when dropped).
pub struct Peer {
    pub url: String,
    _child: tokio::process::Child,
    _config: tempfile::NamedTempFile,
}

/// Where `scripts/peers` installs it (`TAILCALL_DIR` to choose another).
fn install_dir() -> PathBuf {
    std::env::var_os("TAILCALL_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/cobrowse-peers")
        },
        PathBuf::from,
    )
}

/// Starts Tailcall over `sim`, installing it first (`scripts/peers`) when
/// it is missing; answers once it serves the dashboard.
pub async fn start(sim: &Simulator) -> anyhow::Result<Peer> {
    let dir = install_dir();
    let binary = dir.join("node_modules/@tailcallhq/core-linux-x64-gnu/bin/tailcall");
    if !binary.exists() {
        println!(
            "   installing Tailcall and wrk (scripts/peers {})",
            dir.display()
        );
        let status =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers"))
                .arg(&dir)
                .stdout(Stdio::null())
                .status()
                .context("running scripts/peers")?;
        if !status.success() {
            bail!("scripts/peers could not install Tailcall ({status}); run it by hand, or pass --no-peer");
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = tempfile::Builder::new().suffix(".graphql").tempfile()?;
    std::fs::write(config.path(), configuration(sim, port).await?)?;
    let log = tempfile::NamedTempFile::new()?;
    let lib = dir.join("glibc/root/usr/lib/x86_64-linux-gnu");
    let child = tokio::process::Command::new(lib.join("ld-linux-x86-64.so.2"))
        .arg("--library-path")
        .arg(&lib)
        .arg(&binary)
        .arg("start")
        .arg(config.path())
        .env("TAILCALL_TRACKER", "false")
        .stdout(log.reopen()?)
        .stderr(log.reopen()?)
        .kill_on_drop(true)
        .spawn()
        .context("starting Tailcall")?;
    let peer = Peer {
        url: format!("http://127.0.0.1:{port}/graphql"),
        _child: child,
        _config: config,
    };
    if let Err(e) = peer.ready().await {
        let said = std::fs::read_to_string(log.path()).unwrap_or_default();
        bail!("{e}; Tailcall said:\n{said}");
    }
    Ok(peer)
}

impl Peer {
    /// The request body of its dashboard query.
    pub fn body() -> Bytes {
        Bytes::from(serde_json::json!({ "query": DASHBOARD }).to_string())
    }

    async fn ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(Self::body())
                .send()
                .await;
            if let Ok(answer) = answer {
                let body: Value = answer.json().await.unwrap_or_default();
                if body["errors"].is_null() && body["data"].is_object() {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    bail!("Tailcall answers the dashboard with {body}");
                }
            }
            if Instant::now() > deadline {
                bail!("Tailcall does not answer on {}", self.url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The configuration: the simulator's URL, a token of the gateway's client,
/// the analytics query of the gateway's active set (the same lookback).
async fn configuration(sim: &Simulator, port: u16) -> anyhow::Result<String> {
    let token = super::sim_token(sim).await?;
    let token = token.as_str();
    let now = chrono::Utc::now();
    let interval = format!(
        "{}/{}",
        (now - chrono::Duration::days(7)).format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        (now + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ"),
    );
    let body = serde_json::json!({
        "interval": interval,
        "order": "desc",
        "orderBy": "conversationStart",
        "paging": { "pageSize": 100, "pageNumber": 1 },
        "conversationFilters": [{ "type": "and", "predicates": [
            { "type": "dimension", "dimension": "conversationEnd", "operator": "notExists" }
        ]}],
        "segmentFilters": [{ "type": "or", "predicates": [
            { "type": "dimension", "dimension": "mediaType", "value": "cobrowse" },
            { "type": "dimension", "dimension": "mediaType", "value": "screenshare" }
        ]}],
    });
    Ok(CONFIG
        .replace("UPSTREAM", &sim.url())
        .replace("TOKEN", token)
        .replace("BODY", &literal(&body))
        .replace("PORT", &port.to_string()))
}

/// A JSON value as a GraphQL input literal (Tailcall's `body`).
fn literal(value: &Value) -> String {
    match value {
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", literal(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// One conversation as both answers must agree on it: its id, name,
/// participants' names (sorted) and number of co-browse segments.
type Summary = (String, String, Vec<String>, usize);

/// A conversation's summary from its id, name and participants, whose
/// co-browse sessions are under `sessions`.
fn summary(id: &Value, name: &Value, participants: &Value, sessions: &str) -> Summary {
    let participants = participants.as_array().map_or(&[][..], Vec::as_slice);
    let mut names: Vec<String> = participants
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    let segments = participants
        .iter()
        .filter_map(|p| p[sessions].as_array())
        .flatten()
        .map(|s| s["segments"].as_array().map_or(0, Vec::len))
        .sum();
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (text(id), text(name), names, segments)
}

/// Checks that both answers carry the same conversations (each one's id,
/// name, participants' names and number of co-browse segments); answers
/// how many.
pub fn same_data(gateway: &[u8], peer: &[u8]) -> anyhow::Result<usize> {
    let (gateway, peer): (Value, Value) = (
        serde_json::from_slice(gateway)?,
        serde_json::from_slice(peer)?,
    );
    let mut ours: Vec<Summary> = gateway["data"]["activeCobrowseConversations"]["nodes"]
        .as_array()
        .context("the gateway's nodes")?
        .iter()
        .map(|n| {
            summary(
                &n["conversationId"],
                &n["name"],
                &n["participants"],
                "cobrowseSessions",
            )
        })
        .collect();
    let mut theirs: Vec<Summary> = peer["data"]["active"]["conversations"]
        .as_array()
        .context("Tailcall's conversations")?
        .iter()
        .map(|r| {
            let c = &r["conversation"];
            summary(
                &r["conversationId"],
                &c["name"],
                &c["participants"],
                "cobrowsesessions",
            )
        })
        .collect();
    ours.sort();
    theirs.sort();
    if ours != theirs {
        bail!("the gateway and Tailcall answer different data:\n  gateway {ours:?}\n  Tailcall {theirs:?}");
    }
    Ok(ours.len())
}
