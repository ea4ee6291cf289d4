//! Browser-facing features in real headless Chromium, and the
//! GraphQL-over-HTTP conformance audit, both driven by `web/tests/*.mjs`
//! (installed by `npm ci --prefix web`; Chromium from Debian's `chromium`).

use std::path::PathBuf;

use tokio::process::Command;

use crate::helpers::{command, keys_file, start, zoom_event, ZOOM_SECRET};
use crate::helpers::{spawn_app, spawn_with, test_key, Options};

fn web() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// Runs a node script from `web/tests` and fails with its output if it fails.
async fn node(script: &str, arg: &str) -> String {
    node_with(script, &[arg], &[]).await
}

/// [`node`] with environment variables.
async fn node_with(script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let modules = web().join("node_modules");
    assert!(
        modules.join("playwright-core").is_dir() && modules.join("graphql-http").is_dir(),
        "the web test tools are not installed: run `npm ci --prefix web` (scripts/test does)"
    );
    let output = Command::new("node")
        .arg(web().join("tests").join(script))
        .args(args)
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
        &[&app.url("/graphql")],
        &[("AUDIT_AUTHORIZATION", &format!("Bearer {}", test_key()))],
    )
    .await;

    assert!(report.contains(", 0 failed"), "{report}");
    assert!(
        !report.contains("WARN") && !report.contains("ERROR"),
        "{report}"
    );
}

/// Fails early, saying what to install, when Chromium is missing.
fn require_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is not installed: apt-get install chromium (scripts/test does)"
    );
}

/// A signed-webhook-ready `cobrowse.session_started` of a new Zoom session
/// started now by a customer: (session id, body).
fn session_started(customer: &str) -> (String, String) {
    let session = format!("browser-{:016x}", rand::random::<u64>());
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = zoom_event(
        "acc-browser",
        &session,
        "cobrowse.session_started",
        0,
        serde_json::json!({ "start_time": now, "start_url": "https://shop.example.com/", "user_id": "u-1", "user_name": customer, "role_type": "customer" }),
    );
    (session, event.to_string())
}

/// A web server of its own origin on loopback, serving a blank page at `/`
/// (a dashboard's origin).
async fn origin_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let origin = format!("http://{}", listener.local_addr().expect("an address"));
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>a dashboard</title><p>a dashboard</p>")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// A web server of its own origin on loopback serving `html` at `/` (a
/// shop's page).
async fn page_server(html: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let origin = format!("http://{}", listener.local_addr().expect("an address"));
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.lock().expect("the page").clone();
            async move { axum::response::Html(html) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

#[tokio::test]
async fn the_home_page_wall_shows_a_session_a_signed_webhook_just_started() {
    require_chromium();
    // Demo mode; with a webhook secret of its own, the demo plays no Zoom
    // sessions, so the only one is the test's.
    let mut demo = command(&["--listen", "127.0.0.1:0"]);
    demo.env("COBROWSE_ZOOM_WEBHOOK_SECRET", ZOOM_SECRET);
    let (mut child, base, _printed, _logs) = start(demo).await;
    let (session, event) = session_started("Wall Test Customer");

    let report = node_with(
        "wall.mjs",
        &[&base],
        &[
            ("ZOOM_SECRET", ZOOM_SECRET),
            ("WALL_EVENT", &event),
            ("SESSION_ID", &session),
        ],
    )
    .await;

    child.kill().await.expect("stops");
    assert!(report.contains("the wall showed the session"), "{report}");
}

#[tokio::test]
async fn the_wall_and_graphiql_work_on_localhost_and_behind_a_proxy_with_public_origins() {
    require_chromium();
    // A demo gateway reached as `localhost` (the 127.0.0.1 form is the
    // tests above), and one behind a proxy whose name browsers use: the
    // name is resolved to the gateway, Host and Origin stay the name.
    let proxied = "gw.example.test";
    for public in [None, Some(proxied)] {
        let mut demo = command(&["--listen", "127.0.0.1:0"]);
        demo.env("COBROWSE_ZOOM_WEBHOOK_SECRET", ZOOM_SECRET);
        if let Some(name) = public {
            demo.env("COBROWSE_SERVER_PUBLIC_ORIGINS", format!("http://{name}"));
        }
        let (mut child, direct, _printed, _logs) = start(demo).await;
        let port = direct.rsplit(':').next().expect("a port");
        let (base, map) = match public {
            None => (format!("http://localhost:{port}"), String::new()),
            Some(name) => (format!("http://{name}"), format!("{name}=127.0.0.1:{port}")),
        };
        let (session, event) = session_started("Wall Test Customer");
        let env = [
            ("ZOOM_SECRET", ZOOM_SECRET),
            ("WALL_EVENT", event.as_str()),
            ("SESSION_ID", session.as_str()),
            ("WEBHOOK_BASE", direct.as_str()),
            ("HOST_MAP", map.as_str()),
        ];
        let wall = node_with("wall.mjs", &[&base], &env).await;
        let graphiql = node_with("graphiql.mjs", &[&base], &env[4..]).await;
        child.kill().await.expect("stops");
        assert!(
            wall.contains("the wall showed the session"),
            "{base}: {wall}"
        );
        assert!(
            graphiql.contains("GraphiQL ran the query"),
            "{base}: {graphiql}"
        );
    }
}

#[tokio::test]
async fn pages_of_an_allowed_origin_query_and_subscribe_and_other_origins_cannot() {
    require_chromium();
    let (allowed, denied) = (origin_server().await, origin_server().await);
    let app = spawn_with(Options {
        settings: vec![("server.cors_origins", allowed.clone())],
        ..Options::default()
    })
    .await;
    let (_, event) = session_started("Cross Origin Customer");

    let report = node_with(
        "cors.mjs",
        &[&app.url(""), &format!("{allowed}/"), &format!("{denied}/")],
        &[
            ("API_KEY", test_key()),
            ("ZOOM_SECRET", ZOOM_SECRET),
            ("ZOOM_EVENT", &event),
        ],
    )
    .await;

    assert!(report.contains("cors: 2 passed"), "{report}");
}

#[tokio::test]
async fn graphiql_runs_a_query_in_headless_chromium_without_leaving_loopback() {
    require_chromium();
    let (mut child, base, _printed, _logs) = start(command(&["--listen", "127.0.0.1:0"])).await;

    let report = node("graphiql.mjs", &base).await;

    child.kill().await.expect("stops");
    assert!(report.contains("GraphiQL ran the query"), "{report}");
}

#[tokio::test]
async fn the_vendored_assets_are_the_pinned_packages_byte_for_byte() {
    let lock: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(web().join("package-lock.json")).expect("web/package-lock.json"),
    )
    .expect("the lock is JSON");
    let installed = web().join("node_modules");
    let app = spawn_app().await;
    for asset in &cobrowse_gateway::http::graphiql::ASSETS {
        let pinned = &lock["packages"][format!("node_modules/{}", asset.package)]["version"];
        assert!(pinned.is_string(), "{} is not in the lock", asset.package);
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(installed.join(asset.package).join("package.json"))
                .expect("the package is installed (npm ci --prefix web; scripts/test does)"),
        )
        .expect("package.json is JSON");
        assert_eq!(
            &manifest["version"], pinned,
            "{} installed is not the pinned version: run `npm ci --prefix web`",
            asset.package
        );
        let original = std::fs::read(installed.join(asset.package).join(asset.path))
            .expect("the package has the file");
        let vendored = std::fs::read(web().join("vendor").join(asset.name)).expect("vendored");
        assert!(
            vendored == original && asset.bytes == original.as_slice(),
            "web/vendor/{} is not {}@{} {}: run scripts/vendor-web",
            asset.name,
            asset.package,
            pinned,
            asset.path
        );
        let served = app
            .http
            .get(app.url(&format!("/graphiql/assets/{}", asset.name)))
            .send()
            .await
            .expect("served");
        assert_eq!(served.status(), 200);
        assert_eq!(
            served.headers()["content-type"].to_str().unwrap(),
            asset.content_type
        );
        assert!(
            served.bytes().await.expect("a body").as_ref() == original.as_slice(),
            "{} is not served byte for byte",
            asset.name
        );
    }
}

/// The README's `js` block that contains `marker`, pointed at `base` with
/// the test key, written as a module under `web/` (where its imports
/// resolve); the file is removed when the guard drops.
fn readme_snippet(marker: &str, base: &str) -> tempfile::TempPath {
    let readme = crate::helpers::documentation();
    let block = readme
        .split("```js\n")
        .skip(1)
        .map(|b| b.split("```").next().expect("a closed block"))
        .find(|b| b.contains(marker))
        .unwrap_or_else(|| panic!("the README has no js block with {marker}"));
    let host = base.trim_start_matches("http://");
    let code = block
        .replace("'paste-your-key'", &format!("'{}'", test_key()))
        .replace("http://127.0.0.1:8080", &format!("http://{host}"))
        .replace("ws://127.0.0.1:8080", &format!("ws://{host}"));
    let file = tempfile::Builder::new()
        .prefix(".snippet-")
        .suffix(".mjs")
        .tempfile_in(web())
        .expect("a file under web/");
    std::fs::write(file.path(), code).expect("written");
    file.into_temp_path()
}

#[tokio::test]
async fn the_readme_client_snippets_run_as_written() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("temp dir");
    // Demo mode (its world moves and its Zoom sessions are played in),
    // with an API key required.
    let mut demo = command(&["--listen", "127.0.0.1:0"]);
    demo.env(
        "COBROWSE_AUTH_API_KEYS_FILE",
        keys_file(dir.path(), &[("readme", test_key(), &["read"])]),
    );
    let (mut child, base, _printed, _logs) = start(demo).await;

    let query = readme_snippet("fetch(", &base);
    let ran = Command::new("node")
        .arg(&*query)
        .current_dir(web())
        .output()
        .await
        .expect("node runs");
    let said = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success() && said.contains("active conversations"),
        "{said}{}",
        String::from_utf8_lossy(&ran.stderr)
    );

    let subscription = readme_snippet("graphql-ws", &base);
    // Plain `node`, as a reader runs it (Node 20 has no WebSocket of its
    // own: the snippet brings one).
    let mut listener = Command::new("node")
        .arg(&*subscription)
        .current_dir(web())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = tokio::io::BufReader::new(listener.stdout.take().expect("stdout")).lines();
    let update = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("an update within 20 s (the demo plays a Zoom event every 3 s)")
        .expect("readable")
        .expect("a line");
    let update: serde_json::Value = serde_json::from_str(&update).expect("the snippet prints JSON");
    assert!(
        update["kind"].is_string() && update["provider"].is_string(),
        "{update}"
    );
    listener.kill().await.expect("stops");
    child.kill().await.expect("stops");
}

#[tokio::test]
async fn the_messenger_page_script_reports_a_sessions_start_and_end_from_a_customers_page() {
    require_chromium();
    // The shop's origin serves the customer's page the simulator makes.
    let html = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let shop = page_server(std::sync::Arc::clone(&html)).await;
    let app = spawn_with(Options {
        settings: vec![("messenger.page_origins", shop.clone())],
        ..Options::default()
    })
    .await;
    let made = reqwest::get(format!(
        "{}/__sim/messenger/page?gateway={}",
        app.sim.url(),
        app.url("")
    ))
    .await
    .expect("the simulator answers")
    .text()
    .await
    .expect("a page");
    *html.lock().expect("the page") = made;
    let (_, call) = app
        .sim_post(
            None,
            "/__sim/messenger/conversations",
            &serde_json::json!({ "channel": "voice" }),
        )
        .await;
    let id = call["id"].as_str().expect("an id");
    let offered = app
        .graphql(
            "mutation($c: String!) { offerCobrowse(conversationId: $c) { providerSessionId } }",
            serde_json::json!({ "c": id }),
        )
        .await;
    let session = offered["data"]["offerCobrowse"]["providerSessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    let mut ws = crate::helpers::Ws::ready(&app.url("")).await;
    ws.subscribe(
        "m",
        "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { event providerSessionId } }",
    )
    .await;
    ws.sync().await;
    let page = format!("{shop}/");
    let report = node_with(
        "messenger.mjs",
        &[&page],
        &[("SESSION_ID", &session), ("CHANNEL", "CobrowseVoice")],
    )
    .await;
    assert!(
        report.contains("the page script reported the session"),
        "{report}"
    );
    for expected in ["messenger.started", "messenger.ended"] {
        let crate::helpers::Frame::Json(message) = ws.next().await else {
            panic!("an update");
        };
        let update = &message["payload"]["data"]["cobrowseSessionUpdates"];
        assert_eq!(update["event"], expected, "{message}");
        assert_eq!(update["providerSessionId"], session.as_str());
    }
}

#[tokio::test]
async fn the_demo_wall_shows_legacy_messenger_and_zoom_sessions_together() {
    require_chromium();
    let mut demo = command(&["--listen", "127.0.0.1:0"]);
    demo.env("COBROWSE_DEMO_PACE", "100ms");
    let (mut child, base, _printed, _logs) = start(demo).await;
    let report = node("wall-mix.mjs", &base).await;
    assert!(
        report.contains(
            "the wall showed LEGACY_COBROWSE, MESSENGER_COBROWSE, ZOOM_COBROWSE together"
        ),
        "{report}"
    );
    // The README's picture of it is drawn the same way (scripts/wall-picture).
    let dir = tempfile::tempdir().expect("a folder");
    let png = dir.path().join("wall.png");
    let drawn = node_with("picture.mjs", &[&base, &png.display().to_string()], &[]).await;
    child.kill().await.expect("stops");
    assert!(drawn.contains("drew the wall"), "{drawn}");
    let bytes = std::fs::read(&png).expect("the picture");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
}

/// The demo is alive from its first second and stays so: the wall, opened
/// at 5 s and at 2 minutes of a demo at its default pace, and after three
/// simulated hours of one at a fast pace (2,160 steps of the 5 s default
/// pace), shows at least 3 legacy Genesys, 2 Messenger and 1 Zoom session
/// active each time, with the total within half of the first sample.
#[tokio::test]
async fn the_demo_wall_is_alive_from_its_first_second_and_stays_so() {
    require_chromium();
    let sample = |base: String| async move {
        let report = node("wall-sample.mjs", &base).await;
        let line = report.lines().last().unwrap_or_default().to_owned();
        let counts: std::collections::BTreeMap<String, usize> =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {report}"));
        counts
    };
    let run = |pace: &'static str, later: std::time::Duration| async move {
        let mut demo = command(&["--listen", "127.0.0.1:0"]);
        demo.env("COBROWSE_DEMO_PACE", pace);
        let started = tokio::time::Instant::now();
        let (mut child, base, _printed, _logs) = start(demo).await;
        tokio::time::sleep_until(started + std::time::Duration::from_secs(5)).await;
        let first = sample(base.clone()).await;
        tokio::time::sleep_until(started + later).await;
        let then = sample(base).await;
        child.kill().await.expect("stops");
        (pace, first, then)
    };
    // 2,160 steps take 86.4 s at 40 ms; 110 s leaves room for a slow
    // machine (and ends before the other run's 2 minutes).
    let (slow, fast) = tokio::join!(
        run("5s", std::time::Duration::from_secs(120)),
        run("40ms", std::time::Duration::from_secs(110)),
    );
    for (pace, first, then) in [slow, fast] {
        let total = |c: &std::collections::BTreeMap<String, usize>| c.values().sum::<usize>();
        for counts in [&first, &then] {
            let of = |p: &str| counts.get(p).copied().unwrap_or(0);
            let legacy = of("LEGACY_COBROWSE") + of("LEGACY_SCREENSHARE");
            assert!(
                legacy >= 3 && of("MESSENGER_COBROWSE") >= 2 && of("ZOOM_COBROWSE") >= 1,
                "pace {pace}: {counts:?} (first {first:?})"
            );
            assert!(
                total(counts) * 2 >= total(&first) && total(counts) * 2 <= total(&first) * 3,
                "pace {pace}: {counts:?} against the first {first:?}"
            );
        }
    }
}
