//! Browser-facing features in real headless Chromium, and the
//! GraphQL-over-HTTP conformance audit, both driven by `web/tests/*.mjs`
//! (installed by `npm ci --prefix web`; Chromium from Debian's `chromium`).

use std::path::PathBuf;

use tokio::process::Command;

use crate::helpers::{command, start};
use crate::helpers::{spawn_app, test_key};

fn web() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// Runs a node script from `web/tests` and fails with its output if it fails.
async fn node(script: &str, arg: &str) -> String {
    node_with(script, arg, &[]).await
}

/// [`node`] with environment variables.
async fn node_with(script: &str, arg: &str, env: &[(&str, &str)]) -> String {
    let modules = web().join("node_modules");
    assert!(
        modules.join("playwright-core").is_dir() && modules.join("graphql-http").is_dir(),
        "the web test tools are not installed: run `npm ci --prefix web` (scripts/test does)"
    );
    let output = Command::new("node")
        .arg(web().join("tests").join(script))
        .arg(arg)
        .current_dir(web())
        .envs(env.iter().copied())
        .output()
        .await
        .expect("node runs (install Node.js)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{script} failed:\n{text}");
    text
}

#[tokio::test]
async fn the_graphql_over_http_audit_reports_no_error_and_no_warning() {
    let app = spawn_app().await;

    let report = node_with(
        "audit.mjs",
        &app.url("/graphql"),
        &[("AUDIT_AUTHORIZATION", &format!("Bearer {}", test_key()))],
    )
    .await;

    assert!(report.contains(", 0 failed"), "{report}");
    assert!(
        !report.contains("WARN") && !report.contains("ERROR"),
        "{report}"
    );
}

#[tokio::test]
async fn graphiql_runs_a_query_in_headless_chromium_without_leaving_loopback() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is not installed: apt-get install chromium (scripts/test does)"
    );
    assert!(
        cobrowse_gateway::http::graphiql::assets_are_embedded(),
        "the GraphiQL assets were not embedded: run `npm ci --prefix web` and rebuild"
    );
    let (mut child, base, _printed, _logs) = start(command(&["--listen", "127.0.0.1:0"])).await;

    let report = node("graphiql.mjs", &base).await;

    child.kill().await.expect("stops");
    assert!(report.contains("GraphiQL ran the query"), "{report}");
}
