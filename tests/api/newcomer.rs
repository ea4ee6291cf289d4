//! The first five minutes: what a newcomer types, and the mistakes they
//! make, each answered with what to do.

use std::process::Output;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{command, post_query, query_json, spawn_with, start, Options};

/// Runs the binary to its end (within 30 s).
async fn run(mut command: tokio::process::Command) -> (Output, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("the binary ends within 30 s")
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// The line of `report` that shows `path`, split on runs of spaces.
fn row<'a>(report: &'a str, path: &str) -> Vec<&'a str> {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(path))
        .unwrap_or_else(|| panic!("no line for {path}:\n{report}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[tokio::test]
async fn check_prints_every_setting_in_effect_with_its_source_and_hides_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, "[cache]\nlive_ttl = \"3s\"\n").expect("write");
    let mut check = command(&["check", "--listen", "localhost:9099", "--config"]);
    check
        .arg(&config)
        .env("COBROWSE_ZOOM_WEBHOOK_SECRET", "a-very-private-secret")
        .env("COBROWSE_SERVER_CORS_ORIGINS", "http://localhost:3000");

    let (output, report, stderr) = run(check).await;

    assert!(output.status.success(), "{stderr}");
    assert!(report.starts_with("settings are valid"), "{report}");
    for setting in cobrowse_gateway::settings::SETTINGS {
        row(&report, setting.path);
    }
    assert_eq!(
        row(&report, "server.listen"),
        [
            "server.listen",
            "127.0.0.1:9099 (`localhost:9099`)",
            "command line"
        ]
    );
    assert_eq!(
        row(&report, "cache.live_ttl"),
        ["cache.live_ttl", "3s", "settings file"]
    );
    assert_eq!(
        row(&report, "cache.directory_ttl"),
        ["cache.directory_ttl", "10m", "default"]
    );
    assert_eq!(
        row(&report, "webhooks.zoom_secret"),
        [
            "webhooks.zoom_secret",
            "(set; not shown)",
            "environment (COBROWSE_ZOOM_WEBHOOK_SECRET)"
        ]
    );
    assert_eq!(row(&report, "upstream.client_secret")[1], "(unset)");
    assert!(!report.contains("a-very-private-secret"), "{report}");
    assert!(report.contains("demo mode"), "{report}");
}

#[tokio::test]
async fn check_refuses_a_mistake_with_what_to_write_instead() {
    for (args, says) in [
        (
            vec!["check", "--set", "cache.livettl=3s"],
            "did you mean cache.live_ttl?",
        ),
        (
            vec!["check", "--set", "cache.live_ttl=5"],
            "`5` has no unit: write 5s",
        ),
        (vec!["check", "--listen", "8080"], "like 127.0.0.1:8080"),
        (
            vec![
                "check",
                "--set",
                "server.cors_origins=https://wall.example.com/",
            ],
            "write it as the browser sends it, `https://wall.example.com`",
        ),
    ] {
        let (output, _, stderr) = run(command(&args)).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let mut typo = command(&["check"]);
    typo.env("COBROWSE_CACHE_LIVETTL", "3s");
    let (output, _, stderr) = run(typo).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("did you mean COBROWSE_CACHE_LIVE_TTL?"),
        "{stderr}"
    );
}

#[tokio::test]
async fn listen_takes_a_host_name() {
    let (mut child, base, _printed, _logs) = start(command(&["--listen", "localhost:0"])).await;
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let body = query_json(&base, "{ __typename }").await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    child.kill().await.expect("stops");
}

#[tokio::test]
async fn a_port_in_use_says_to_choose_another_with_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("an address");

    let (output, _, stderr) = run(command(&["--listen", &addr.to_string()])).await;

    assert!(!output.status.success());
    assert!(
        stderr.contains("the port is in use") && stderr.contains("--listen 127.0.0.1:"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_store_path_that_cannot_be_opened_is_named_and_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").expect("write");
    for (path, says) in [
        (file.join("events.sqlite"), "a-file is a file, not a folder"),
        (
            dir.path().to_path_buf(),
            "it is a folder: name a file in it",
        ),
        (file.clone(), "not a SQLite database"),
    ] {
        let mut gateway = command(&["--listen", "127.0.0.1:0"]);
        gateway.env("COBROWSE_STORE_PATH", &path);
        let (output, _, stderr) = run(gateway).await;
        assert!(!output.status.success(), "{}", path.display());
        assert!(
            stderr.contains("store.path") && stderr.contains(says) && !stderr.contains("code: 14"),
            "{}: {stderr}",
            path.display()
        );
    }
}

#[tokio::test]
async fn without_store_path_the_store_is_in_the_data_directory_whatever_the_working_directory() {
    use cobrowse_gateway::sim::{SimConfig, Simulator};
    let sim = Simulator::start(SimConfig::local(2, 1))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cwd, data) = (dir.path().join("cwd"), dir.path().join("data"));
    std::fs::create_dir_all(&cwd).expect("mkdir");
    let keys = crate::helpers::keys_file(
        dir.path(),
        &[("ops", crate::helpers::test_key(), &["read"])],
    );
    // Service mode (the demo keeps a temporary store of its own).
    let mut gateway = crate::helpers::command_for(&sim, &["--listen", "127.0.0.1:0"]);
    gateway
        .env("COBROWSE_AUTH_API_KEYS_FILE", &keys)
        .env_remove("COBROWSE_STORE_PATH")
        .env_remove("STATE_DIRECTORY")
        .env("XDG_DATA_HOME", &data)
        .current_dir(&cwd);

    let (mut child, _base, _printed, logs) = start(gateway).await;
    child.kill().await.expect("stops");

    let store = data.join("cobrowse-gateway").join("events.sqlite");
    assert!(store.is_file(), "no store at {}", store.display());
    assert_eq!(std::fs::read_dir(&cwd).expect("readable").count(), 0);
    let logs = logs.await.expect("logs");
    assert!(logs.contains(&store.display().to_string()), "{logs}");
}

#[tokio::test]
async fn an_upstream_url_ending_in_api_v2_is_taken_as_its_base() {
    // The simulator's URL as Genesys's docs write endpoints: with the
    // version, and the token endpoint.
    let app = spawn_with(Options::default()).await;
    let base = app.sim.url();
    let settings = crate::helpers::settings_for(
        &app.sim,
        app.dir.path(),
        &[
            ("upstream.url", format!("{base}/api/v2/")),
            ("upstream.login_url", format!("{base}/oauth/token")),
        ],
    )
    .expect("valid settings");
    let gateway = cobrowse_gateway::startup::Gateway::build(settings)
        .await
        .expect("the gateway starts");
    let url = format!("http://{}/graphql", gateway.local_addr());
    tokio::spawn(gateway.run_until_stopped(std::future::pending()));

    let body: serde_json::Value = app
        .http
        .post(url)
        .json(&json!({ "query": "{ activeCobrowseConversations { totalCount } }" }))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert!(
        body["data"]["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0),
        "{body}"
    );
}

#[tokio::test]
async fn zoom_test_event_delivers_a_signed_session_a_running_gateway_stores() {
    let secret = "the-zoom-app-secret";
    let mut gateway = command(&["--listen", "127.0.0.1:0"]);
    gateway.env("COBROWSE_ZOOM_WEBHOOK_SECRET", secret);
    let (mut child, base, _printed, _logs) = start(gateway).await;
    let url = format!("{base}/webhooks/zoom");
    let test_event = |args: &[&str], secret: &str| {
        let mut cmd = command(&["zoom-test-event", "--url", &url]);
        cmd.args(args).env("COBROWSE_ZOOM_WEBHOOK_SECRET", secret);
        cmd
    };
    let active = || async {
        let body = query_json(
            &base,
            "{ cobrowseSessions(filter: { provider: ZOOM, state: ACTIVE }) { nodes { providerSessionId } } }",
        )
        .await;
        body["data"]["cobrowseSessions"]["nodes"].to_string()
    };

    let (output, said, stderr) = run(test_event(&[], secret)).await;
    assert!(output.status.success(), "{stderr}");
    assert!(
        said.contains("URL validation: answered as Zoom expects"),
        "{said}"
    );
    let session = said
        .split_whitespace()
        .find(|w| w.starts_with("zoom-test-"))
        .expect("the session id is printed")
        .trim_end_matches(':')
        .to_owned();
    let listed = active().await;
    assert!(listed.contains(&session), "{session} not in {listed}");

    let (output, _, stderr) = run(test_event(&["--end", &session], secret)).await;
    assert!(output.status.success(), "{stderr}");
    assert!(!active().await.contains(&session));

    let (output, _, stderr) = run(test_event(&[], "another-secret")).await;
    assert!(!output.status.success());
    assert!(stderr.contains("is not this one"), "{stderr}");
    child.kill().await.expect("stops");
}

#[tokio::test]
async fn demo_mode_logs_one_line_per_request_and_none_per_played_webhook() {
    let (mut child, base, printed, logs) = start(command(&["--listen", "127.0.0.1:0"])).await;
    assert!(
        printed.iter().any(|l| l.starts_with("demo mode:")),
        "{printed:?}"
    );
    // The demo plays its first Zoom event at once: wait until it is stored.
    let zoom = "{ cobrowseSessions(filter: { provider: ZOOM }) { totalCount } }";
    crate::helpers::eventually(
        "a demo Zoom session is played",
        Duration::from_secs(30),
        || async {
            (query_json(&base, zoom).await["data"]["cobrowseSessions"]["totalCount"] != 0)
                .then_some(())
        },
    )
    .await;
    let home = post_query(&base, "{ __typename }").await;
    assert!(home.status().is_success());
    child.kill().await.expect("stops");
    let logs = logs.await.expect("logs");

    let served: Vec<&str> = logs.lines().filter(|l| l.contains(" served ")).collect();
    assert!(
        served.iter().any(|l| l.contains("INFO")
            && l.contains("path=\"/graphql\"")
            && l.contains("status=200")),
        "{logs}"
    );
    assert!(
        served.len() >= 2 && served.iter().all(|l| l.contains("request_id=")),
        "{logs}"
    );
    assert!(!logs.contains("/webhooks/zoom"), "{logs}");
}

#[tokio::test]
async fn health_answers_for_a_running_gateway_and_fails_for_none() {
    let (mut child, base, _printed, _logs) = start(command(&["--listen", "127.0.0.1:0"])).await;
    let address = base.trim_start_matches("http://").to_owned();
    let probe = format!("{base}/readyz");
    for args in [
        vec!["health", "--url", &base],
        vec!["health", "--ready", "--url", &base],
        // The address alone, and the probe's own URL.
        vec!["health", "--url", &address],
        vec!["health", "--url", &probe],
    ] {
        let (output, said, stderr) = run(command(&args)).await;
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(said.contains("200 OK"), "{said}");
    }
    child.kill().await.expect("stops");
    let _ = child.wait().await;

    let (output, _, stderr) = run(command(&["health", "--url", &base])).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(&format!("no answer: connection refused at {address}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn backup_copies_the_store_while_the_gateway_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, copy) = (
        dir.path().join("events.sqlite"),
        dir.path().join("copy.sqlite"),
    );
    let with_store = |args: &[&str], path: &std::path::Path| {
        let mut cmd = command(args);
        cmd.env("COBROWSE_STORE_PATH", path)
            .env("COBROWSE_ZOOM_WEBHOOK_SECRET", crate::helpers::ZOOM_SECRET);
        cmd
    };
    let (mut child, base, _printed, _logs) =
        start(with_store(&["--listen", "127.0.0.1:0"], &store)).await;
    let event = crate::helpers::zoom_event(
        "acc-backup",
        "backed-up-session",
        "cobrowse.session_started",
        0,
        json!({ "start_time": chrono::Utc::now().to_rfc3339() }),
    );
    let stored = crate::helpers::post_signed_webhook(
        &reqwest::Client::new(),
        &base,
        crate::helpers::ZOOM_SECRET,
        event.to_string(),
    )
    .await
    .expect("delivered");
    assert_eq!(stored.status(), 200);

    let (output, said, stderr) = run(with_store(
        &["backup", "--to", copy.to_str().unwrap()],
        &store,
    ))
    .await;
    assert!(output.status.success(), "{stderr}");
    assert!(said.contains("backed up"), "{said}");
    let (output, _, stderr) = run(with_store(
        &["backup", "--to", copy.to_str().unwrap()],
        &store,
    ))
    .await;
    assert!(
        !output.status.success() && stderr.contains("never overwrites"),
        "{stderr}"
    );
    child.kill().await.expect("stops");

    // A gateway started on the copy has the session.
    let (mut restored, base, _printed, _logs) =
        start(with_store(&["--listen", "127.0.0.1:0"], &copy)).await;
    let body = query_json(
        &base,
        "{ cobrowseSessions(filter: { provider: ZOOM }) { nodes { providerSessionId } } }",
    )
    .await;
    assert!(body.to_string().contains("backed-up-session"), "{body}");
    restored.kill().await.expect("stops");
}

#[tokio::test]
async fn check_with_a_postgresql_store_hides_its_password_and_ignores_the_file_path() {
    // As in the container image, which sets COBROWSE_STORE_PATH.
    let mut check = command(&["check"]);
    check.env(
        "COBROWSE_STORE_URL",
        "postgres://gateway:s3cr3t@db.internal:5432/cobrowse",
    );
    let (output, report, stderr) = run(check).await;
    assert!(output.status.success(), "{stderr}");
    assert!(
        report.contains("store:    PostgreSQL at postgres://gateway:***@db.internal:5432/cobrowse"),
        "{report}"
    );
    assert_eq!(
        row(&report, "store.path")[1],
        "(not used: store.url is set)"
    );
    assert!(!report.contains("s3cr3t"), "{report}");
}

/// The licence `Cargo.toml` declares is in the repository, one file per
/// licence of the expression, and the README's first section says which
/// Rust to install, as `Cargo.toml` says it.
#[test]
fn the_declared_licences_and_rust_version_are_where_a_team_looks() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).expect("Cargo.toml");
    let value = |key: &str| {
        manifest
            .lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .trim()
                    .strip_prefix('=')?
                    .trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')
            })
            .unwrap_or_else(|| panic!("Cargo.toml has no {key}"))
            .to_owned()
    };
    let license = value("license");
    let files = [
        ("MIT", "LICENSE-MIT", "Permission is hereby granted"),
        ("Apache-2.0", "LICENSE-APACHE", "Apache License"),
    ];
    for id in license.split(" OR ") {
        let (_, file, opening) = files
            .iter()
            .find(|(name, _, _)| *name == id)
            .unwrap_or_else(|| panic!("no file known for licence {id}"));
        let text = std::fs::read_to_string(format!("{root}/{file}"))
            .unwrap_or_else(|e| panic!("{file} for licence {id}: {e}"));
        assert!(text.contains(opening), "{file} is not the {id} text");
    }
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README");
    let first = readme.split("\n## ").nth(1).expect("a first section");
    let rust = value("rust-version");
    assert!(
        first.contains(&format!("Rust {rust} or newer")),
        "the first section names Rust {rust}"
    );
    assert!(
        first.contains("sh.rustup.rs"),
        "the first section gives the rustup command"
    );
    assert!(readme.contains("LICENSE-MIT") && readme.contains("LICENSE-APACHE"));
}

/// The command `deploy/env.example` gives to check a deployment's settings
/// runs on the shipped file itself: every value reaches `check`, and what
/// it refuses is only the deployment's own files, which this machine has
/// not (`env $(cat … | xargs)` stopped at the first comment).
#[tokio::test]
async fn the_shipped_env_files_check_command_runs_on_the_shipped_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/env.example");
    let text = std::fs::read_to_string(example).expect("deploy/env.example");
    let printed = text
        .lines()
        .find_map(|l| l.trim_start_matches('#').trim().strip_prefix("sudo "))
        .expect("the file says how to check it");
    let unit = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/cobrowse-gateway.service"
    );
    let unit = std::fs::read_to_string(unit).expect("the unit file");
    assert!(
        unit.contains(printed),
        "the unit file gives the same command"
    );
    let line = printed
        .replace("/etc/cobrowse-gateway/env", example)
        .replace(
            "exec cobrowse-gateway",
            &format!("exec {}", env!("CARGO_BIN_EXE_cobrowse-gateway")),
        );
    let words: Vec<&str> = line.splitn(3, ' ').collect();
    assert_eq!(&words[..2], ["sh", "-c"], "{printed}");
    let mut shell = tokio::process::Command::new("sh");
    shell.arg("-c").arg(words[2].trim_matches('\''));
    for (name, _) in std::env::vars() {
        if name.starts_with("COBROWSE_") {
            shell.env_remove(name);
        }
    }
    let (output, stdout, stderr) = run(shell).await;
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert!(
        output.status.success() || !errors.is_empty(),
        "check ran: {stdout}{stderr}"
    );
    for error in &errors {
        assert!(
            error.contains("/etc/cobrowse-gateway/"),
            "only the deployment's own files are missing here: {stderr}"
        );
    }
}

/// `check` names every mistake in one run, each on its own `error:` line,
/// says "not set" of a required setting never given, and asks for the
/// scheme a bare host lacks; a log filter that names nothing (`verbose`
/// is read as a target, and would silence the log) is refused by `check`
/// and at start-up alike.
#[tokio::test]
async fn check_names_every_mistake_at_once_in_words() {
    let mut two = command(&["check"]);
    two.env("COBROWSE_UPSTREAM_URL", "https://apps.mypurecloud.ie")
        .env("COBROWSE_CLIENT_ID", "gateway")
        .env("COBROWSE_LOG_FILTER", "verbose");
    let (output, _, stderr) = run(two).await;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 3, "{stderr}");
    for says in [
        "`upstream.client_secret` (COBROWSE_CLIENT_SECRET, not set): required",
        "the API of that region is https://api.mypurecloud.ie",
        "`verbose` names neither a level (trace, debug, info, warn, error, off)",
    ] {
        assert!(errors.iter().any(|e| e.contains(says)), "{says}: {stderr}");
    }
    let mut bare = command(&["check", "--set", "upstream.url=api.mypurecloud.ie"]);
    bare.env("COBROWSE_CLIENT_ID", "gateway")
        .env("COBROWSE_CLIENT_SECRET", "secret");
    let (_, _, stderr) = run(bare).await;
    assert!(
        stderr.contains("has no scheme: add it, as in https://api.mypurecloud.ie"),
        "{stderr}"
    );
    let mut serve = command(&["--listen", "127.0.0.1:0"]);
    serve.env("COBROWSE_LOG_FILTER", "verbose");
    let (output, _, stderr) = run(serve).await;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`verbose` names neither a level"),
        "{stderr}"
    );
    for good in [
        "debug",
        "cobrowse_gateway::live=trace,info",
        "tower_http=debug,warn",
    ] {
        let (output, _, stderr) =
            run(command(&["check", "--set", &format!("log.filter={good}")])).await;
        assert!(output.status.success(), "{good}: {stderr}");
    }
}

/// The Zoom webhook secret the demo printed at start.
fn demo_secret(printed: &[String]) -> String {
    printed
        .iter()
        .find_map(|l| {
            l.strip_prefix("demo mode: Zoom webhook secret for this run")?
                .rsplit(": ")
                .next()
        })
        .unwrap_or_else(|| panic!("the demo prints its secret: {printed:?}"))
        .to_owned()
}

/// The README's Zoom examples run against the demo as written: the demo
/// prints the webhook secret it made for this run (and never one the user
/// set), the exported secret signs `zoom-test-event` and the `curl`
/// block, and the demo's own Zoom player goes on when a secret is set.
#[tokio::test]
async fn the_readmes_zoom_examples_run_against_the_demo_as_written() {
    let (mut child, base, printed, _logs) = start(command(&["--listen", "127.0.0.1:0"])).await;
    let secret = demo_secret(&printed);
    let readme = crate::helpers::documentation();
    let blocks: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().expect("closed"))
        .collect();
    let demo_block = blocks
        .iter()
        .find(|b| b.contains("zoom-test-event --url http://127.0.0.1:8080"))
        .expect("the README's demo zoom-test-event block");
    let curl_block = blocks
        .iter()
        .find(|b| b.contains("x-zm-signature"))
        .expect("the README's curl block");
    let host = base.trim_start_matches("http://");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_cobrowse-gateway"))
        .parent()
        .expect("a folder")
        .display()
        .to_string();
    // One shell, as a reader runs the blocks one after the other: only the
    // address changes, and `export` takes the printed secret.
    {
        let script = format!("{demo_block}\n{curl_block}")
            .replace("127.0.0.1:8080", host)
            .replace("<the secret>", &secret);
        let mut sh = tokio::process::Command::new("sh");
        sh.arg("-c").arg(&script).env(
            "PATH",
            format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()),
        );
        for (name, _) in std::env::vars() {
            if name.starts_with("COBROWSE_") {
                sh.env_remove(name);
            }
        }
        let output = sh.output().await.expect("sh runs");
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success()
                && said.contains("(stored)")
                && said.trim_end().ends_with(r#"{"status":"stored"}"#),
            "{script}\n{said}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    child.kill().await.expect("stops");
    // A secret the user sets is never printed, and the player still plays.
    let mut chosen = command(&["--listen", "127.0.0.1:0"]);
    chosen.env("COBROWSE_ZOOM_WEBHOOK_SECRET", "a-secret-of-my-own");
    let (mut child, _base, printed, _logs) = start(chosen).await;
    let printed = printed.join("\n");
    assert!(!printed.contains("a-secret-of-my-own"), "{printed}");
    assert!(
        printed.contains("playing Zoom Cobrowse sessions"),
        "{printed}"
    );
    child.kill().await.expect("stops");
}

/// The demo starts empty each run: its store is a temporary file of its
/// own (a session a stopped demo never ended does not haunt the next
/// one), nothing is written to the data folder, and `check` says so; a
/// store named with `store.path` is kept.
#[tokio::test]
async fn the_demo_keeps_a_store_of_its_own_that_starts_empty_each_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let demo = || {
        let mut gateway = command(&["--listen", "127.0.0.1:0"]);
        gateway
            .env_remove("COBROWSE_STORE_PATH")
            .env_remove("STATE_DIRECTORY")
            .env("XDG_DATA_HOME", &data);
        gateway
    };
    let zoom = |base: &str| {
        let base = base.to_owned();
        async move {
            query_json(
                &base,
                "{ cobrowseSessions(first: 100, filter: { provider: ZOOM }) { nodes { providerSessionId } } }",
            )
            .await["data"]["cobrowseSessions"]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .filter_map(|n| n["providerSessionId"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    // A session delivered to the first run...
    let (mut child, base, printed, _logs) = start(demo()).await;
    let secret = demo_secret(&printed);
    let mut send = command(&["zoom-test-event", "--url", &format!("{base}/webhooks/zoom")]);
    send.env("COBROWSE_ZOOM_WEBHOOK_SECRET", &secret);
    let (output, said, stderr) = run(send).await;
    assert!(output.status.success(), "{stderr}");
    let session = said
        .split_whitespace()
        .find(|w| w.starts_with("zoom-test-"))
        .expect("a session")
        .trim_end_matches(':')
        .to_owned();
    assert!(zoom(&base).await.contains(&session));
    child.kill().await.expect("stops");
    let _ = child.wait().await;
    // ...is not in the next.
    let (mut child, base, _printed, logs) = start(demo()).await;
    assert!(
        !zoom(&base).await.contains(&session),
        "{session} outlived its run"
    );
    child.kill().await.expect("stops");
    assert!(!data.exists(), "the demo wrote to the data folder");
    assert!(logs.await.expect("logs").contains("emptied each run"));
    let mut check = command(&["check"]);
    check.env_remove("COBROWSE_STORE_PATH");
    let (_, said, _) = run(check).await;
    assert!(
        said.contains("a temporary file of the demo's own, emptied each run"),
        "{said}"
    );
}
