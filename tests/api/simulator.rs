//! The simulator speaks upstream's protocol, shapes and errors.

use base64::Engine as _;
use cobrowse_gateway::sim::{SimConfig, Simulator};
use serde_json::{json, Value};

struct Sim {
    sim: Simulator,
    http: reqwest::Client,
    token: String,
}

async fn sim() -> Sim {
    let sim = Simulator::start(SimConfig::local(10, 5))
        .await
        .expect("simulator");
    let http = reqwest::Client::new();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        sim.client_id(),
        sim.client_secret().expose()
    ));
    let answer: Value = http
        .post(format!("{}/oauth/token", sim.url()))
        .header("Authorization", format!("Basic {basic}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["token_type"], "bearer");
    assert!(answer["expires_in"].as_u64().is_some());
    let token = answer["access_token"].as_str().expect("token").to_owned();
    Sim { sim, http, token }
}

impl Sim {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.sim.url()))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("answers")
    }
}

#[tokio::test]
async fn wrong_client_credentials_are_refused_with_an_oauth_error() {
    let s = sim().await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:wrong", s.sim.client_id()));
    let response = s
        .http
        .post(format!("{}/oauth/token", s.sim.url()))
        .header("Authorization", format!("Basic {basic}"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn api_calls_need_a_valid_bearer_token_and_errors_are_error_bodies() {
    let s = sim().await;
    let response = s
        .http
        .get(format!(
            "{}/api/v2/conversations/cobrowsesessions",
            s.sim.url()
        ))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("ININ-Correlation-Id"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "bad.credentials");
    assert_eq!(body["status"], 401);

    let response = s.get("/api/v2/conversations/does-not-exist").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "not.found");
    assert_eq!(body["status"], 404);
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn users_and_queues_answer_in_bulk_and_check_their_parameters() {
    let s = sim().await;
    let listing: Value = s
        .get("/api/v2/users?pageSize=3")
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = listing["entities"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(listing["nextUri"].is_string());

    let query: String = ids.iter().map(|id| format!("id={id}&")).collect();
    let bulk: Value = s
        .get(&format!("/api/v2/users?{query}id=unknown"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        bulk["entities"].as_array().expect("users").len(),
        3,
        "unknown ids are left out"
    );

    assert_eq!(s.get("/api/v2/users?pageSize=0").await.status(), 400);
    assert_eq!(
        s.get("/api/v2/routing/queues?pageNumber=x").await.status(),
        400
    );
    let queues: Value = s
        .get("/api/v2/routing/queues")
        .await
        .json()
        .await
        .expect("json");
    assert!(queues["entities"].as_array().expect("queues").len() >= 4);
}

#[tokio::test]
async fn fault_settings_are_checked() {
    let s = sim().await;
    let status = s
        .http
        .put(format!("{}/__sim/faults", s.sim.url()))
        .json(&json!({ "error_fraction": 2.0 }))
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status, 400);
}
