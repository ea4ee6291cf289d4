//! The event store under pressure: a disk that fills up and empties again,
//! many sessions, a session with a long history, and reads that must not
//! hold up webhook writes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, zoom_event, Options, TestApp};

/// A `session_started` event of session `id`, with a long start URL so
/// that each one takes room.
fn started(id: &str, padding: usize) -> Value {
    let object = json!({
        "start_time": "2026-11-22T09:00:00Z",
        "start_url": format!("https://shop.example.com/{}", "x".repeat(padding)),
    });
    zoom_event("acc-disk", id, "cobrowse.session_started", 0, object)
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (e.g. `4m`), or says why it cannot.
    fn mount(size: &str) -> Result<Self, String> {
        if !cfg!(target_os = "linux") {
            return Err("a tmpfs needs Linux".into());
        }
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("mounting a tmpfs needs root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({status}): no CAP_SYS_ADMIN here"
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills `dir` with a file until at most `leave` bytes are free.
fn fill(dir: &std::path::Path, leave: u64) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 4096];
    loop {
        let free = free_bytes(dir);
        if free <= leave {
            break;
        }
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    file.sync_all().ok();
    path
}

fn free_bytes(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .expect("df runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df prints the free bytes")
}

/// The session ids committed to the store file at `path`, read with a
/// connection of its own (what a restarted gateway would find).
async fn committed_sessions(path: &std::path::Path) -> std::collections::HashSet<String> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("the store file opens");
    let rows: Vec<(String,)> = sqlx::query_as("SELECT session_id FROM zoom_events")
        .fetch_all(&mut connection)
        .await
        .expect("readable");
    rows.into_iter().map(|(id,)| id).collect()
}

async fn readiness(app: &TestApp) -> (StatusCode, Value) {
    let response = app
        .http
        .get(format!("http://{}/readyz", app.addr))
        .send()
        .await
        .expect("answers");
    (response.status(), response.json().await.expect("JSON"))
}

#[tokio::test]
async fn on_a_full_disk_webhooks_get_503_every_200_is_committed_and_the_store_recovers_when_space_returns(
) {
    let disk = match SmallDisk::mount("3m") {
        Ok(disk) => disk,
        Err(why) => {
            println!("SKIPPED on_a_full_disk_...: {why}");
            return;
        }
    };
    let store = disk.path().join("events.sqlite");
    let app = spawn_with(Options {
        settings: vec![
            ("store.path", store.display().to_string()),
            ("server.readiness_interval", "0s".into()),
        ],
        ..Options::default()
    })
    .await;
    let filler = fill(disk.path(), 200 * 1024);

    // Post until the disk is full, then on: every answer is 200 (stored)
    // or 503, and the 200s are what counts.
    let (mut acknowledged, mut refused, mut n) = (Vec::new(), 0, 0);
    while refused < 20 && n < 3_000 {
        let id = format!("full-{n}");
        n += 1;
        let (status, body) = app.webhook(&started(&id, 2_000)).await;
        match status {
            StatusCode::OK => {
                assert_eq!(body["status"], "stored", "{body}");
                acknowledged.push(id);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["error"]["code"], "STORE_UNAVAILABLE", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(refused >= 20, "the disk never filled up ({n} posted)");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_ne!(body["checks"]["store"], "ok", "{body}");

    // Space returns: the store takes writes again by itself.
    std::fs::remove_file(&filler).expect("the filler goes");
    let recovery = async {
        let mut recovered = 0;
        while recovered < 20 {
            let id = format!("after-{recovered}");
            let (status, _) = app.webhook(&started(&id, 2_000)).await;
            if status == StatusCode::OK {
                acknowledged.push(id);
                recovered += 1;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), recovery)
        .await
        .expect("the store recovers");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every acknowledged event is committed, as a separate connection (or
    // a restarted gateway) sees the file.
    let committed = committed_sessions(&store).await;
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !committed.contains(*id))
        .collect();
    println!(
        "{} acknowledged, {refused} refused, {} lost",
        acknowledged.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but not committed: {lost:?}");
    // Reads answer, not a lock timeout's error.
    let body = app
        .graphql(
            "{ cobrowseSessions(filter: { provider: ZOOM }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["cobrowseSessions"]["totalCount"],
        acknowledged.len(),
        "{body}"
    );
}

/// A `session_started` event of session `id` that started `minute`
/// minutes after a base instant (many sessions share each minute).
fn started_at(id: &str, minute: i64) -> cobrowse_gateway::zoom::event::ZoomEvent {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").expect("time")
        + chrono::Duration::minutes(minute);
    let object = json!({ "start_time": start.to_rfc3339() });
    event(zoom_event(
        "acc-many",
        id,
        "cobrowse.session_started",
        0,
        object,
    ))
}

fn event(body: Value) -> cobrowse_gateway::zoom::event::ZoomEvent {
    match cobrowse_gateway::zoom::event::parse(body.to_string().as_bytes()).expect("valid") {
        cobrowse_gateway::zoom::event::Inbound::Event(event) => *event,
        _ => unreachable!("events only"),
    }
}

/// A gateway whose store already holds `events` (appended through the
/// store itself, before the gateway opens it).
async fn gateway_over(
    events: impl IntoIterator<Item = cobrowse_gateway::zoom::event::ZoomEvent>,
    settings: Vec<(&'static str, String)>,
) -> (TestApp, tempfile::TempDir) {
    use cobrowse_gateway::store::EventStore;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("events.sqlite");
    let store = cobrowse_gateway::store::sqlite::SqliteStore::open(&path)
        .await
        .expect("opens");
    for event in events {
        store.append(&event).await.expect("stored");
    }
    drop(store);
    let mut settings = settings;
    settings.push(("store.path", path.display().to_string()));
    let app = spawn_with(Options {
        settings,
        ..Options::default()
    })
    .await;
    (app, dir)
}

const PAGE: &str = "query($after: String, $before: String, $first: Int, $last: Int) {
  cobrowseSessions(filter: { provider: ZOOM }, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { providerSessionId }
  }
}";

#[tokio::test]
async fn every_stored_session_is_reachable_by_paging_and_the_count_is_true() {
    // 2,500 sessions, 25 to each start minute (the old listing stopped at
    // 1,000).
    let total = 2_500;
    let (app, _dir) = gateway_over(
        (0..total).map(|i| started_at(&format!("z{i:05}"), (i / 25) as i64)),
        Vec::new(),
    )
    .await;
    let mut seen = std::collections::HashSet::new();
    let (mut after, mut pages) = (Value::Null, 0);
    let mut slowest = Duration::ZERO;
    loop {
        let started = Instant::now();
        let body = app
            .graphql(PAGE, json!({ "first": 100, "after": after }))
            .await;
        slowest = slowest.max(started.elapsed());
        let listing = &body["data"]["cobrowseSessions"];
        assert_eq!(listing["totalCount"], total, "{body}");
        assert_eq!(listing["pageInfo"]["hasPreviousPage"], pages > 0);
        for node in listing["nodes"].as_array().expect("nodes") {
            assert!(seen.insert(node["providerSessionId"].as_str().expect("id").to_owned()));
        }
        pages += 1;
        if listing["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = listing["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), total, "every session, once");
    assert_eq!(pages, 25);
    println!("25 pages of 100 out of 2,500; the slowest took {slowest:?}");

    // Backwards from the end, a page at a time, the same sessions.
    let mut back = std::collections::HashSet::new();
    let mut before = Value::Null;
    loop {
        let body = app
            .graphql(PAGE, json!({ "last": 100, "before": before }))
            .await;
        let listing = &body["data"]["cobrowseSessions"];
        for node in listing["nodes"].as_array().expect("nodes") {
            back.insert(node["providerSessionId"].as_str().expect("id").to_owned());
        }
        if listing["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = listing["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(back, seen);
}

#[tokio::test]
async fn a_busy_session_does_not_hold_up_other_sessions_acknowledgements() {
    use cobrowse_gateway::zoom::event::ZoomEvent;
    // A session with 3,000 events already, and more arriving all the time.
    fn connection(i: usize) -> Value {
        let kind = if i.is_multiple_of(2) {
            "cobrowse.session_user_joined"
        } else {
            "cobrowse.session_user_left"
        };
        let object = json!({
            "user_id": format!("u{}", i % 40), "user_name": "Noah",
            "role_type": "agent", "user_connection_id": format!("c{}", i / 2),
            "join_time": "2026-11-22T09:00:00Z", "leave_time": "2026-11-22T09:05:00Z",
        });
        zoom_event("acc-busy", "busy", kind, i as i64, object)
    }
    let history: Vec<ZoomEvent> = (0..3_000).map(|i| event(connection(i))).collect();
    let (app, _dir) = gateway_over(history, Vec::new()).await;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let hammer = |from: usize| {
        let (app, stop) = (&app, &stop);
        async move {
            let mut i = from;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, _) = app.webhook(&connection(i)).await;
                assert_eq!(status, StatusCode::OK);
                i += 4;
            }
        }
    };
    let others = async {
        let mut slowest = Duration::ZERO;
        for i in 0..100 {
            let sent = Instant::now();
            let (status, body) = app.webhook(&started(&format!("other-{i}"), 10)).await;
            slowest = slowest.max(sent.elapsed());
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        slowest
    };
    let (slowest, ..) = tokio::join!(
        others,
        hammer(3_000),
        hammer(3_001),
        hammer(3_002),
        hammer(3_003)
    );
    // A figure to read, not a bound: latency is the benchmark's to judge.
    println!("other sessions' slowest acknowledgement beside a 3,000-event session: {slowest:?}");
}

#[tokio::test]
async fn the_agent_limit_is_answered_by_bounded_queries_and_webhooks_do_not_wait_on_it() {
    // 1,500 sessions of one agent, a minute apart, all still connected.
    let session = |i: usize| {
        let at = (chrono::DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z").expect("time")
            + chrono::Duration::seconds(20 * i as i64))
        .to_rfc3339();
        let id = format!("load-{i}");
        let agent = json!({ "user_id": "u-a", "user_name": "Noah", "role_type": "agent",
            "user_connection_id": "c1", "join_time": at });
        [
            zoom_event(
                "acc-load",
                &id,
                "cobrowse.session_started",
                i as i64,
                json!({ "start_time": at }),
            ),
            zoom_event(
                "acc-load",
                &id,
                "cobrowse.session_user_joined",
                1 + i as i64,
                agent,
            ),
        ]
    };
    let events = (0..1_500).flat_map(session).map(event);
    let (app, _dir) = gateway_over(events, vec![("engage.agent_sessions_limit", "2".into())]).await;
    let query = "{ cobrowseSessions(filter: { provider: ZOOM }, first: 100) { nodes { providerSessionId attachedData { isCoBrowseDenied } } } }";
    let read = async {
        let started = Instant::now();
        let body = app.graphql(query, json!({})).await;
        (started.elapsed(), body)
    };
    let acknowledge = async {
        let mut slowest = Duration::ZERO;
        for i in 0..30 {
            let sent = Instant::now();
            let (status, _) = app.webhook(&started(&format!("beside-{i}"), 10)).await;
            assert_eq!(status, StatusCode::OK);
            slowest = slowest.max(sent.elapsed());
        }
        slowest
    };
    let ((took, body), slowest) = tokio::join!(read, acknowledge);
    println!("a page of 100 sessions with the agent limit over 1,500 sessions: {took:?}; slowest webhook beside it: {slowest:?}");
    let nodes = body["data"]["cobrowseSessions"]["nodes"]
        .as_array()
        .expect("nodes");
    assert_eq!(nodes.len(), 100, "{body}");
    // The newest sessions are the agent's 3rd and later at once: denied.
    assert!(
        nodes
            .iter()
            .take(90)
            .all(|n| n["attachedData"]["isCoBrowseDenied"] == true),
        "{body}"
    );
}

/// Start-up with a PostgreSQL store that cannot be used says why as the
/// database or the network says it: nobody listening, no such database,
/// a user without the rights the migrations need (not "pool timed out").
#[tokio::test]
async fn a_postgresql_store_that_cannot_be_used_is_told_in_words() {
    use sqlx::Connection as _;
    let admin =
        std::env::var("COBROWSE_TEST_POSTGRES_URL").expect("scripts/test starts PostgreSQL");
    let sim =
        cobrowse_gateway::sim::Simulator::start(cobrowse_gateway::sim::SimConfig::local(2, 1))
            .await
            .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let start_with = |url: String| {
        let settings = crate::helpers::settings_for(&sim, dir.path(), &[("store.url", url)])
            .expect("valid settings");
        async move {
            let built = tokio::time::timeout(
                Duration::from_secs(30),
                cobrowse_gateway::startup::Gateway::build(settings),
            )
            .await
            .expect("start-up answers, it does not hang");
            format!("{:#}", built.err().expect("start-up fails"))
        }
    };
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let said = start_with(format!("postgres://postgres@{dead}/gateway")).await;
    assert!(
        said.contains(&format!("connection refused at {dead}")),
        "{said}"
    );
    let mut url = reqwest::Url::parse(&admin).expect("a URL");
    let missing = format!("nothing_{:08x}", rand::random::<u32>());
    url.set_path(&missing);
    let said = start_with(url.to_string()).await;
    assert!(
        said.contains(&format!("database `{missing}` does not exist")),
        "{said}"
    );
    // A user that may log in but not create tables (PostgreSQL 15 grants
    // no CREATE on schema public to others than the database's owner).
    let mut connection = sqlx::PgConnection::connect(&admin).await.expect("admin");
    let (role, database) = (
        format!("reader_{:08x}", rand::random::<u32>()),
        format!("owned_{:08x}", rand::random::<u32>()),
    );
    for statement in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("CREATE DATABASE {database}"),
    ] {
        sqlx::query(&statement)
            .execute(&mut connection)
            .await
            .expect("admin statement");
    }
    // A wrong password (scripts/postgres checks the passwords of the
    // members of `password_checked`).
    let checked = format!("checked_{:08x}", rand::random::<u32>());
    sqlx::query(&format!(
        "CREATE ROLE {checked} LOGIN PASSWORD 'right' IN ROLE password_checked"
    ))
    .execute(&mut connection)
    .await
    .expect("admin statement");
    let mut wrong = url.clone();
    wrong.set_path("postgres");
    wrong.set_username(&checked).expect("a user");
    wrong.set_password(Some("wrong")).expect("a password");
    let said = start_with(wrong.to_string()).await;
    assert!(
        said.contains(&format!(
            "password authentication failed for user `{checked}`"
        )),
        "{said}"
    );
    assert!(!said.contains("wrong"), "the password is not shown: {said}");
    url.set_path(&database);
    url.set_username(&role).expect("a user");
    let said = start_with(url.to_string()).await;
    assert!(
        said.contains(&format!(
            "user `{role}` may not create the gateway's tables in database `{database}`"
        )) && said.contains(&format!("GRANT CREATE ON SCHEMA public TO {role}")),
        "{said}"
    );
    assert!(!said.contains("pool timed out"), "{said}");
}
