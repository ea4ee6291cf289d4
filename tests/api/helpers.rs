//! `spawn_app()`: a simulator and a gateway on `127.0.0.1:0`, and a handle
//! to query the one and count calls at the other.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use cobrowse_gateway::settings::{Layers, Settings};
use cobrowse_gateway::sim::{Faults, SimConfig, Simulator, Stats};
use cobrowse_gateway::startup::Gateway;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The query a co-browse dashboard sends: every active co-browse
/// conversation with its participants, their user and queue names, and the
/// co-browse sessions with their segments.
pub const DASHBOARD: &str = include_str!("../queries/dashboard.graphql");

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

/// The webhook secret of test gateways.
pub const ZOOM_SECRET: &str = "test-zoom-secret";

/// The API key test gateways accept, with every scope. Made afresh for each
/// test run.
pub fn test_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(cobrowse_gateway::auth::api_keys::generate)
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

/// Writes a keys file in `dir` holding `keys` (`(id, key, scopes)`), and
/// returns its path.
pub fn keys_file(dir: &std::path::Path, keys: &[(&str, &str, &[&str])]) -> String {
    use cobrowse_gateway::auth::api_keys::entry;
    let text: String = keys
        .iter()
        .map(|(id, key, scopes)| entry(id, key, scopes))
        .collect();
    let path = dir.join(format!("keys-{}.toml", rand_suffix()));
    std::fs::write(&path, text).expect("the keys file is written");
    path.display().to_string()
}

fn rand_suffix() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Settings of a gateway that reads from `sim`, with fast retries and its
/// event store in `dir`.
pub fn settings_for(
    sim: &Simulator,
    dir: &std::path::Path,
    extra: &[(&str, String)],
) -> Result<Settings, String> {
    let mut layers = Layers::defaults();
    let mut pairs: Vec<(&str, String)> = vec![
        (
            "store.path",
            dir.join("events.sqlite").display().to_string(),
        ),
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
    ];
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
    let settings = settings_for(&sim, dir.path(), &options.settings).expect("valid test settings");
    let gateway = Gateway::build(settings).await.expect("the gateway starts");
    let addr = gateway.local_addr();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(gateway.run_until_stopped(async {
        let _ = rx.await;
    }));
    let app = TestApp {
        addr,
        sim,
        http: authorized_client(),
        dir,
        shutdown: Some(tx),
    };
    app.reset_calls().await;
    app
}

impl TestApp {
    /// Posts a GraphQL request and returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the gateway answers");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("a JSON body")
    }

    /// Posts one operation of a document and returns the whole body.
    pub async fn graphql_operation(
        &self,
        document: &str,
        operation: &str,
        variables: Value,
    ) -> Value {
        let response = self
            .http
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": document, "operationName": operation, "variables": variables }))
            .send()
            .await
            .expect("the gateway answers");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("a JSON body")
    }

    /// Posts a GraphQL request and returns `data`, failing on any error.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// The calls the simulator has served since the last reset.
    pub async fn upstream_calls(&self) -> Stats {
        self.http
            .get(format!("{}/__sim/stats", self.sim.url()))
            .send()
            .await
            .expect("the simulator answers")
            .json()
            .await
            .expect("stats JSON")
    }

    /// Forgets the calls counted so far.
    pub async fn reset_calls(&self) {
        let status = self
            .http
            .post(format!("{}/__sim/stats/reset", self.sim.url()))
            .send()
            .await
            .expect("the simulator answers")
            .status();
        assert!(status.is_success());
    }

    /// Changes how the simulator misbehaves.
    pub async fn set_faults(&self, faults: &Faults) {
        let status = self
            .http
            .put(format!("{}/__sim/faults", self.sim.url()))
            .json(faults)
            .send()
            .await
            .expect("the simulator answers")
            .status();
        assert!(status.is_success());
    }

    /// Makes every token the simulator issued stop working.
    pub async fn expire_tokens(&self) {
        let status = self
            .http
            .post(format!("{}/__sim/tokens/expire", self.sim.url()))
            .send()
            .await
            .expect("the simulator answers")
            .status();
        assert!(status.is_success());
    }

    /// The ids of the conversations the simulator lists as active.
    pub async fn active_conversation_ids(&self) -> Vec<String> {
        let data = self
            .data(
                "{ activeCobrowseConversations { nodes { conversationId } } }",
                json!({}),
            )
            .await;
        data["activeCobrowseConversations"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["conversationId"].as_str().expect("id").to_owned())
            .collect()
    }
}

/// Upstream routes as the simulator counts them.
pub mod route {
    pub const TOKEN: &str = "POST /oauth/token";
    pub const LISTING: &str = "GET /api/v2/conversations/cobrowsesessions";
    pub const COBROWSE_VIEW: &str = "GET /api/v2/conversations/cobrowsesessions/{id}";
    pub const CONVERSATION: &str = "GET /api/v2/conversations/{id}";
    pub const USERS: &str = "GET /api/v2/users";
    pub const USER: &str = "GET /api/v2/users/{id}";
    pub const QUEUES: &str = "GET /api/v2/routing/queues";
    pub const QUEUE: &str = "GET /api/v2/routing/queues/{id}";
}

/// The first error's `extensions.code`.
pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body:#}"))
}

/// The deliveries of one session: started, customer and agent join, the
/// agent drops and rejoins, everyone leaves, the session ends. Times are
/// minutes after `base` (an RFC 3339 instant).
pub fn session_events(session: &str, agent: &str, base: &str) -> Vec<Value> {
    let at = |minute: i64| {
        let t = chrono::DateTime::parse_from_rfc3339(base).expect("base time")
            + chrono::Duration::minutes(minute);
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let event = |name: &str, ts: i64, object: Value| {
        let mut object = object;
        object["session_id"] = json!(session);
        json!({ "event": name, "event_ts": 1_763_802_000_000_i64 + ts, "payload": { "account_id": "acc-1", "object": object } })
    };
    vec![
        event(
            "cobrowse.session_started",
            1,
            json!({ "start_time": at(0), "start_url": "https://shop.example.com/checkout", "user_id": "u-c", "user_name": "Ava", "role_type": "customer" }),
        ),
        event(
            "cobrowse.session_user_joined",
            2,
            json!({ "user_connection_id": "c1", "user_id": "u-c", "user_name": "Ava", "role_type": "customer", "join_time": at(0) }),
        ),
        event(
            "cobrowse.session_user_joined",
            3,
            json!({ "user_connection_id": "c2", "user_id": "u-a", "user_name": agent, "role_type": "agent", "join_time": at(1) }),
        ),
        event(
            "cobrowse.session_user_left",
            4,
            json!({ "user_connection_id": "c2", "user_id": "u-a", "user_name": agent, "role_type": "agent", "leave_time": at(3), "leave_reason": "Network connection error" }),
        ),
        event(
            "cobrowse.session_user_joined",
            5,
            json!({ "user_connection_id": "c3", "user_id": "u-a", "user_name": agent, "role_type": "agent", "join_time": at(4) }),
        ),
        event(
            "cobrowse.session_user_left",
            6,
            json!({ "user_connection_id": "c3", "user_id": "u-a", "role_type": "agent", "leave_time": at(10) }),
        ),
        event(
            "cobrowse.session_user_left",
            7,
            json!({ "user_connection_id": "c1", "user_id": "u-c", "role_type": "customer", "leave_time": at(10), "leave_reason": "The session end" }),
        ),
        event(
            "cobrowse.session_ended",
            8,
            json!({ "end_time": at(10), "session_pin": "482913", "end_reason": "The session ended", "start_time": at(0) }),
        ),
    ]
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

/// Posts a GraphQL query to a running gateway at `base` with [`test_key`].
pub async fn post_query(base: &str, query: &str) -> reqwest::Response {
    authorized_client()
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the gateway answers: {e:?}"))
}

/// Posts a GraphQL query to a running gateway and returns the whole body.
pub async fn query_json(base: &str, query: &str) -> Value {
    post_query(base, query)
        .await
        .json()
        .await
        .expect("a JSON body")
}

/// A WebSocket speaking graphql-transport-ws.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a graphql-transport-ws socket to the gateway at `base`
/// (`http://…` or `127.0.0.1:…`).
pub async fn ws_connect(base: &str) -> Socket {
    ws_connect_with(base, "graphql-transport-ws").await
}

/// Opens a socket speaking `subprotocol` to the gateway at `base`.
pub async fn ws_connect_with(base: &str, subprotocol: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let host = base.trim_start_matches("http://");
    let mut request = format!("ws://{host}/graphql/ws")
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        subprotocol.parse().expect("a header"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    socket
}

/// The Prometheus text of the gateway at `base` (`http://…`).
pub async fn metrics_text(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .expect("the gateway answers")
        .text()
        .await
        .expect("text")
}

/// Posts `body` to the gateway's `/webhooks/zoom`, signed now with `secret`.
pub async fn post_signed_webhook(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    use cobrowse_gateway::secret::Secret;
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature =
        cobrowse_gateway::zoom::signature::sign(&Secret::new(secret), &timestamp, body.as_bytes());
    client
        .post(format!("{base}/webhooks/zoom"))
        .header("x-zm-request-timestamp", timestamp)
        .header("x-zm-signature", signature)
        .body(body)
        .send()
        .await
}

/// What a test socket received next.
#[derive(Debug)]
pub enum Frame {
    /// A text message, as JSON.
    Json(Value),
    /// A close frame: its code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame.
    Gone,
}

/// A GraphQL-over-WebSocket client for tests (graphql-transport-ws unless
/// opened with another subprotocol).
pub struct Ws {
    socket: Socket,
}

impl Ws {
    /// Opens a socket speaking `subprotocol` to the gateway at `base`.
    pub async fn open_with(base: &str, subprotocol: &str) -> Self {
        Self {
            socket: ws_connect_with(base, subprotocol).await,
        }
    }

    /// Opens a graphql-transport-ws socket.
    pub async fn open(base: &str) -> Self {
        Self::open_with(base, "graphql-transport-ws").await
    }

    /// Opens a socket and sends `connection_init` with the test key; the
    /// gateway's acknowledgement is checked.
    pub async fn ready(base: &str) -> Self {
        Self::ready_with(
            base,
            json!({ "Authorization": format!("Bearer {}", test_key()) }),
        )
        .await
    }

    /// Opens a socket and initialises it with `payload`, expecting the ack.
    pub async fn ready_with(base: &str, payload: Value) -> Self {
        let mut ws = Self::open(base).await;
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match ws.next().await {
            Frame::Json(ack) if ack["type"] == "connection_ack" => ws,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    /// Sends one text message as it is.
    pub async fn send_text(&mut self, text: String) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .expect("sent");
    }

    /// Subscribes to `query` under `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }

    /// Proves the gateway has read every message sent so far (a ping's
    /// pong comes after them).
    pub async fn sync(&mut self) {
        self.send(json!({ "type": "ping" })).await;
        match self.next().await {
            Frame::Json(pong) if pong["type"] == "pong" => {}
            other => panic!("expected pong, got {other:?}"),
        }
    }

    /// The next message (within 10 s).
    pub async fn next(&mut self) -> Frame {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("the gateway says something within 10 s");
            return match message {
                Some(Ok(Message::Text(text))) => {
                    Frame::Json(serde_json::from_str(&text).expect("JSON"))
                }
                Some(Ok(Message::Close(frame))) => frame.map_or(Frame::Gone, |f| {
                    Frame::Closed(u16::from(f.code), f.reason.to_string())
                }),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Frame::Gone,
            };
        }
    }

    /// The close code and reason the socket ends with (messages before it
    /// are skipped).
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.next().await {
                Frame::Json(_) => continue,
                Frame::Closed(code, reason) => return (code, reason),
                Frame::Gone => panic!("the socket ended without a close frame"),
            }
        }
    }
}
