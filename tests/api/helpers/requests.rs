//! Requests: GraphQL over HTTP and WebSocket, webhooks, metrics, and the
//! simulator's side doors, each typed once.

use std::time::Duration;

use cobrowse_gateway::sim::{Faults, SimStats};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::fixtures::{test_key, ZOOM_SECRET};
use super::spawn::{authorized_client, TestApp};

/// `response`, once it is known not to be a `verify`-mode mismatch: every
/// test gateway runs `server.compiled_queries = verify`, so every query a
/// test sends whose document has a plan is answered both ways, and the
/// compiled path's bytes must be the general engine's.
pub fn verified(response: reqwest::Response) -> reqwest::Response {
    let compiled = response.headers().get("x-compiled");
    assert_ne!(
        compiled.and_then(|v| v.to_str().ok()),
        Some("mismatch"),
        "the compiled plan answered other bytes than the general engine (the gateway's log has both)"
    );
    response
}

/// The JSON body of the answer to `request` (verified).
pub async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    verified(request.send().await.expect("the gateway answers"))
        .json()
        .await
        .expect("a JSON body")
}

impl TestApp {
    /// The gateway's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts `body` (JSON) to `/graphql` as the test client; the response
    /// as it came.
    pub async fn post_graphql(&self, body: &Value) -> reqwest::Response {
        verified(
            self.http
                .post(self.url("/graphql"))
                .json(body)
                .send()
                .await
                .expect("the gateway answers"),
        )
    }

    /// Posts raw bytes to `/graphql` with these `Accept` and
    /// `Content-Type` headers.
    pub async fn post_raw(
        &self,
        accept: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url("/graphql")).body(body);
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        verified(request.send().await.expect("the gateway answers"))
    }

    /// Posts a webhook body with a valid signature.
    pub async fn webhook(&self, body: &Value) -> (StatusCode, Value) {
        let raw = body.to_string();
        let (timestamp, signature) = signed(ZOOM_SECRET, &raw);
        self.webhook_raw(raw, Some(&timestamp), Some(&signature))
            .await
    }

    /// Posts a webhook body with the given headers.
    pub async fn webhook_raw(
        &self,
        body: String,
        timestamp: Option<&str>,
        signature: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("http://{}/webhooks/zoom", self.addr))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = timestamp {
            request = request.header("x-zm-request-timestamp", t);
        }
        if let Some(s) = signature {
            request = request.header("x-zm-signature", s);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The `x-zm-request-timestamp` and `x-zm-signature` of `body` signed now
/// with `secret`.
pub fn signed(secret: &str, body: &str) -> (String, String) {
    use cobrowse_gateway::secret::Secret;
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature =
        cobrowse_gateway::zoom::signature::sign(&Secret::new(secret), &timestamp, body.as_bytes());
    (timestamp, signature)
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
        let response = verified(response);
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
        let response = verified(response);
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
    pub async fn upstream_calls(&self) -> SimStats {
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
    /// A client-credentials token of the gateway's own client, straight
    /// from the simulator.
    pub async fn sim_token(&self) -> String {
        client_token(
            &self.sim.url(),
            self.sim.client_id(),
            self.sim.client_secret().expose(),
        )
        .await
    }

    /// A user token of `user_id` (an agent signed in), from the simulator.
    pub async fn user_token(&self, user_id: &str) -> String {
        access_token(
            reqwest::Client::new()
                .post(format!("{}/__sim/tokens", self.sim.url()))
                .json(&json!({ "userId": user_id })),
        )
        .await
    }

    /// Posts `body` (JSON) to the simulator at `path`, with `token` (none:
    /// a side door); the status and the JSON answer (null when none).
    pub async fn sim_post(
        &self,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.sim.url()))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the simulator answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The simulator as `token` sees it at `path` (a GET).
    pub async fn sim_get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.sim.url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("the simulator answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The agents of the simulator's world, each with a user token and the
    /// ids of its active co-browse conversations (upstream's per-user
    /// listing), busiest first; agents who left included.
    pub async fn agents(&self) -> Vec<(String, String, Vec<String>)> {
        let service = self.sim_token().await;
        let (_, users) = self
            .sim_get(&service, "/api/v2/users?state=any&pageSize=100")
            .await;
        let mut agents = Vec::new();
        for user in users["entities"].as_array().expect("users") {
            let id = user["id"].as_str().expect("an id").to_owned();
            let token = self.user_token(&id).await;
            let (status, listing) = self
                .sim_get(&token, "/api/v2/conversations/cobrowsesessions")
                .await;
            assert_eq!(status, StatusCode::OK, "{listing}");
            let ids = listing["entities"]
                .as_array()
                .expect("entities")
                .iter()
                .map(|c| c["id"].as_str().expect("an id").to_owned())
                .collect();
            agents.push((id, token, ids));
        }
        agents.sort_by_key(|(_, _, ids): &(String, String, Vec<String>)| {
            std::cmp::Reverse(ids.len())
        });
        agents
    }

    /// Posts a GraphQL query with these headers instead of the test key.
    pub async fn data_as(&self, headers: &[(&str, &str)], query: &str) -> Value {
        let mut request = reqwest::Client::new()
            .post(self.url("/graphql"))
            .json(&json!({ "query": query }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body: Value = request
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("a JSON body");
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

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

/// A client-credentials token from the simulator at `sim`.
pub async fn client_token(sim: &str, id: &str, secret: &str) -> String {
    access_token(
        reqwest::Client::new()
            .post(format!("{sim}/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await
}

/// The `access_token` of a token request's answer.
async fn access_token(request: reqwest::RequestBuilder) -> String {
    let token: Value = request
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("a token");
    token["access_token"]
        .as_str()
        .expect("an access_token")
        .to_owned()
}

/// Withholds `permissions` from the simulator's OAuth client `client`.
pub async fn withhold(sim: &str, client: &str, permissions: &[&str]) {
    let status = reqwest::Client::new()
        .put(format!("{sim}/__sim/clients/{client}/withheld"))
        .json(&permissions)
        .send()
        .await
        .expect("the simulator answers")
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// Posts a GraphQL query to a running gateway at `base` with [`test_key`].
pub async fn post_query(base: &str, query: &str) -> reqwest::Response {
    verified(
        authorized_client()
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the gateway answers: {e:?}")),
    )
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

/// The value of one series (`name{labels}` exactly as exposed) of the
/// gateway at `base`; 0 while it has not been exposed.
pub async fn metric(base: &str, series: &str) -> f64 {
    metrics_text(base)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// Posts `body` to the gateway's `/webhooks/zoom`, signed now with `secret`.
pub async fn post_signed_webhook(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    let (timestamp, signature) = signed(secret, &body);
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
    /// Messages that came before a [`Ws::sync`]'s pong, for [`Ws::next`].
    early: std::collections::VecDeque<Frame>,
}

impl Ws {
    /// Opens a socket speaking `subprotocol` to the gateway at `base`.
    pub async fn open_with(base: &str, subprotocol: &str) -> Self {
        Self {
            socket: ws_connect_with(base, subprotocol).await,
            early: std::collections::VecDeque::new(),
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
    /// pong comes after them). What a subscription sends before the pong
    /// is kept for [`Self::next`], in order.
    pub async fn sync(&mut self) {
        self.send(json!({ "type": "ping" })).await;
        loop {
            match self.receive().await {
                Frame::Json(pong) if pong["type"] == "pong" => return,
                Frame::Json(early) if early["type"] == "next" => {
                    self.early.push_back(Frame::Json(early));
                }
                other => panic!("expected pong, got {other:?}"),
            }
        }
    }

    /// The next message (within 10 s).
    pub async fn next(&mut self) -> Frame {
        match self.early.pop_front() {
            Some(early) => early,
            None => self.receive().await,
        }
    }

    /// The next message off the socket (within 10 s).
    async fn receive(&mut self) -> Frame {
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
