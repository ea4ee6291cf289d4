//! Spawning: a simulator and a gateway on `127.0.0.1:0` in this process
//! ([`spawn_app`], [`spawn_with`]), or the gateway binary ([`command`],
//! [`start`]).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use cobrowse_gateway::settings::{Layers, Settings};
use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
use cobrowse_gateway::startup::Gateway;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::fixtures::{keys_file, test_key, ZOOM_SECRET};

/// How to start the pair.
pub struct Options {
    pub conversations: usize,
    pub seed: u64,
    pub faults: Faults,
    pub settings: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            conversations: 12,
            seed: 42,
            faults: Faults::default(),
            settings: Vec::new(),
        }
    }
}

/// A running simulator and gateway.
pub struct TestApp {
    pub addr: SocketAddr,
    pub sim: Simulator,
    pub http: reqwest::Client,
    /// Holds the event store's file.
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a simulator with default options and a gateway reading from it.
pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

/// An HTTP client that sends [`test_key`] with every request.
pub fn authorized_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", test_key()).parse().expect("a header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// Settings of a gateway that reads from `sim`, with fast retries and its
/// event store in `dir`.
pub fn settings_for(
    sim: &Simulator,
    dir: &std::path::Path,
    extra: &[(&str, String)],
) -> Result<Settings, String> {
    let mut layers = Layers::defaults();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    // A test that names a PostgreSQL store has no SQLite file.
    if !extra.iter().any(|(path, _)| *path == "store.url") {
        pairs.push((
            "store.path",
            dir.join("events.sqlite").display().to_string(),
        ));
    }
    pairs.extend([
        // Test sessions have fixed dates; a 30-day retention would purge them
        // at start-up (and, as time passes, in every test).
        ("store.retention", "36500d".into()),
        ("webhooks.zoom_secret", ZOOM_SECRET.into()),
        ("server.listen", "127.0.0.1:0".into()),
        ("upstream.url", sim.url()),
        ("upstream.login_url", sim.url()),
        ("upstream.client_id", sim.client_id().into()),
        (
            "upstream.client_secret",
            sim.client_secret().expose().into(),
        ),
        ("upstream.base_backoff", "5ms".into()),
        ("upstream.max_backoff", "20ms".into()),
        // Tests fire hundreds of requests at once; the rate-limit tests set
        // their own limits.
        ("limits.requests_per_second", "0".into()),
        // Most tests count the upstream calls of a query exactly: a
        // listener calling upstream in the background would blur them.
        // Live tests (`live.rs`) turn notifications on.
        ("notifications.enabled", "false".into()),
        // Every query with a compiled plan is answered both ways and the
        // bytes compared (`helpers::requests::verified`).
        ("server.compiled_queries", "verify".into()),
    ]);
    // Service mode (the default) needs a credential: the test key, with
    // every scope. Passthrough mode takes none.
    if !extra.contains(&("auth.mode", "passthrough".to_owned())) {
        pairs.push((
            "auth.api_keys_file",
            keys_file(
                dir,
                &[("tests", test_key(), &["read", "write", "webhooks:admin"])],
            ),
        ));
    }
    pairs.extend(extra.iter().cloned());
    for (path, value) in pairs {
        layers = layers.set(path, &value).map_err(|e| e.to_string())?;
    }
    layers.build().map_err(|e| e.to_string())
}

/// Starts a simulator and a gateway as `options` say.
pub async fn spawn_with(options: Options) -> TestApp {
    let mut config = SimConfig::local(options.conversations, options.seed);
    config.faults = options.faults;
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut app = TestApp {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        sim,
        http: authorized_client(),
        dir,
        shutdown: None,
        running: None,
    };
    app.restart(&options.settings).await;
    app.reset_calls().await;
    app
}

impl TestApp {
    /// Stops the gateway (once it has stopped) and starts a new one with
    /// `settings` on the same simulator and event store file.
    pub async fn restart(&mut self, settings: &[(&'static str, String)]) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.expect("the gateway stopped");
        }
        let settings =
            settings_for(&self.sim, self.dir.path(), settings).expect("valid test settings");
        let gateway = Gateway::build(settings).await.expect("the gateway starts");
        self.addr = gateway.local_addr();
        let (tx, rx) = oneshot::channel();
        self.running = Some(tokio::spawn(async move {
            let _ = gateway
                .run_until_stopped(async {
                    let _ = rx.await;
                })
                .await;
        }));
        self.shutdown = Some(tx);
    }
}

/// The gateway binary, as a newcomer runs it.
const BIN: &str = env!("CARGO_BIN_EXE_cobrowse-gateway");

/// The binary with a clean `COBROWSE_*` environment and its event store in a
/// fresh file under this test run's temp dir.
pub fn command(args: &[&str]) -> Command {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut command = Command::new(BIN);
    command.args(args).kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("COBROWSE_") {
            command.env_remove(name);
        }
    }
    command.env(
        "COBROWSE_STORE_PATH",
        dir.path().join(format!("events-{n}.sqlite")),
    );
    command
}

/// Starts the binary and waits for the line that gives its address. Its
/// stderr (the logs) is collected by a task so the pipe never fills.
pub async fn start(
    mut command: Command,
) -> (Child, String, Vec<String>, tokio::task::JoinHandle<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let logs = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .expect("readable stderr");
        text
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("readable stdout") {
            seen.push(line.clone());
            if let Some(rest) = line.strip_prefix("cobrowse-gateway listening on ") {
                return rest.to_owned();
            }
        }
        panic!("the binary exited without listening: {seen:?}");
    })
    .await
    .expect("the binary listens within 30 s");
    (child, base, seen, logs)
}

/// The binary reading from `sim`, with its credentials.
pub fn command_for(sim: &Simulator, args: &[&str]) -> Command {
    let mut command = command(args);
    command
        .env("COBROWSE_UPSTREAM_URL", sim.url())
        .env("COBROWSE_LOGIN_URL", sim.url())
        .env("COBROWSE_CLIENT_ID", sim.client_id())
        .env("COBROWSE_CLIENT_SECRET", sim.client_secret().expose());
    command
}

/// A new, empty database on the test PostgreSQL server named by
/// `COBROWSE_TEST_POSTGRES_URL` (`scripts/test` starts one on loopback);
/// its URL.
pub async fn postgres_database() -> String {
    use sqlx::Connection as _;
    let admin = std::env::var("COBROWSE_TEST_POSTGRES_URL").expect(
        "COBROWSE_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which starts a PostgreSQL server on loopback",
    );
    let name = format!("replicas_{:016x}", rand::random::<u64>());
    let mut admin_connection = sqlx::PgConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin_connection)
        .await
        .expect("a database is created");
    let mut url = reqwest::Url::parse(&admin).expect("a URL");
    url.set_path(&name);
    url.to_string()
}
