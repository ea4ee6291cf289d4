//! The event store under pressure: a disk that fills up and empties again,
//! many sessions, a session with a long history, and reads that must not
//! hold up webhook writes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, Options, TestApp};

/// A `session_started` event of session `id`, with a long start URL so
/// that each one takes room.
fn started(id: &str, padding: usize) -> Value {
    json!({
        "event": "cobrowse.session_started",
        "event_ts": 1_763_802_000_000_i64,
        "payload": { "account_id": "acc-disk", "object": {
            "session_id": id,
            "start_time": "2026-11-22T09:00:00Z",
            "start_url": format!("https://shop.example.com/{}", "x".repeat(padding)),
        } }
    })
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
    let started_at = Instant::now();
    let mut recovered = 0;
    while recovered < 20 {
        assert!(
            started_at.elapsed() < Duration::from_secs(10),
            "no recovery"
        );
        let id = format!("after-{recovered}");
        let (status, _) = app.webhook(&started(&id, 2_000)).await;
        if status == StatusCode::OK {
            acknowledged.push(id);
            recovered += 1;
        }
    }
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
    // Reads answer at once, not after a lock timeout.
    let started_at = Instant::now();
    let body = app
        .graphql(
            "{ cobrowseSessions(filter: { provider: ZOOM }) { totalCount } }",
            json!({}),
        )
        .await;
    assert!(started_at.elapsed() < Duration::from_secs(1));
    assert_eq!(
        body["data"]["cobrowseSessions"]["totalCount"],
        acknowledged.len(),
        "{body}"
    );
}
