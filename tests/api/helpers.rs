//! `spawn_app()`: a simulator and a gateway on `127.0.0.1:0`, and a handle
//! to query the one and count calls at the other.

use std::net::SocketAddr;

use cobrowse_gateway::settings::{Layers, Settings};
use cobrowse_gateway::sim::{Faults, SimConfig, Simulator, Stats};
use cobrowse_gateway::startup::Gateway;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The query a co-browse dashboard sends: every active co-browse
/// conversation with its participants, their user and queue names, and the
/// co-browse sessions with their segments.
pub const DASHBOARD: &str = r#"
query Dashboard {
  activeCobrowseConversations {
    totalCount
    nodes {
      id
      conversationId
      name
      startTime
      participants {
        participantId
        name
        purpose
        state
        user { name }
        queue { name }
        cobrowseSessions {
          cobrowseSessionId
          cobrowseRole
          state
          segments { type startTime endTime }
        }
      }
      cobrowseSessions {
        providerSessionId
        state
        startTime
        durationSeconds
      }
    }
  }
}"#;

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
        (
            "auth.api_keys_file",
            keys_file(
                dir,
                &[("tests", test_key(), &["read", "write", "webhooks:admin"])],
            ),
        ),
        // Tests fire hundreds of requests at once; the rate-limit tests set
        // their own limits.
        ("limits.requests_per_second", "0".into()),
    ];
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
