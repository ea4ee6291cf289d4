//! Who may call, what they may see: API keys, JWTs (HS256, RS256, ES256),
//! scopes, passthrough tokens and the isolation of their data, rate limits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cobrowse_gateway::sim::{ClientCredentials, Faults};
use futures::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::{first_code, keys_file, route, spawn_with, Options, TestApp};

const ISSUER: &str = "https://idp.example.com";
const AUDIENCE: &str = "cobrowse-gateway";
pub(crate) const SECRET: &str = "an-hs256-secret-that-is-long-enough-for-tests";

const COUNT: &str = "{ activeCobrowseConversations { totalCount } }";
const DISCONNECT: &str =
    r#"mutation { disconnectParticipant(conversationId: "c", participantId: "p") { name } }"#;

/// An HS256 JWT of `claims`.
pub fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signs")
}

/// Claims that pass, with `extra` merged over them.
pub(crate) fn claims(extra: Value) -> Value {
    let mut claims = json!({
        "sub": "alice", "iss": ISSUER, "aud": AUDIENCE,
        "exp": chrono::Utc::now().timestamp() + 600, "scope": "read",
    });
    for (k, v) in extra.as_object().expect("an object") {
        claims[k] = v.clone();
    }
    claims
}

pub(crate) fn jwt_settings(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("auth.jwt_secret", SECRET.to_owned()),
        ("auth.jwt_issuer", ISSUER.to_owned()),
        ("auth.jwt_audience", AUDIENCE.to_owned()),
    ];
    settings.extend(extra.iter().cloned());
    settings
}

async fn jwt_app(extra: &[(&'static str, String)]) -> TestApp {
    spawn_with(Options {
        settings: jwt_settings(extra),
        ..Options::default()
    })
    .await
}

/// Posts `query` with `headers` and no default credentials.
async fn post_as(app: &TestApp, headers: &[(&str, &str)], query: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    crate::helpers::verified(request.send().await.expect("the gateway answers"))
}

async fn body_as(app: &TestApp, headers: &[(&str, &str)], query: &str) -> (u16, Value) {
    let response = post_as(app, headers, query).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// A refused request: what it is, its headers, what the refusal says.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_request_without_good_credentials_is_a_401_with_unauthenticated_and_costs_no_upstream_call(
) {
    let app = jwt_app(&[]).await;
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<Case> = vec![
        ("no credentials", vec![], "authentication is required"),
        (
            "a scheme that is not Bearer",
            vec![("authorization", "Basic abc".into())],
            "Bearer <token>",
        ),
        (
            "an unknown API key",
            vec![("x-api-key", "cbg_nope".into())],
            "API key is not known",
        ),
        (
            "an unknown API key as a bearer",
            vec![("authorization", bearer("cbg_nope"))],
            "API key is not known",
        ),
        (
            "an expired JWT",
            vec![(
                "authorization",
                bearer(&hs256(SECRET, &claims(json!({ "exp": now - 120 })))),
            )],
            "expired",
        ),
        (
            "a JWT not valid yet",
            vec![(
                "authorization",
                bearer(&hs256(SECRET, &claims(json!({ "nbf": now + 300 })))),
            )],
            "not valid yet",
        ),
        (
            "a JWT from another issuer",
            vec![(
                "authorization",
                bearer(&hs256(
                    SECRET,
                    &claims(json!({ "iss": "https://evil.example.com" })),
                )),
            )],
            "issuer",
        ),
        (
            "a JWT for another audience",
            vec![(
                "authorization",
                bearer(&hs256(SECRET, &claims(json!({ "aud": "someone-else" })))),
            )],
            "aud",
        ),
        (
            "a JWT signed with another secret",
            vec![(
                "authorization",
                bearer(&hs256(
                    "another-secret-another-secret-another",
                    &claims(json!({})),
                )),
            )],
            "signature",
        ),
        (
            "a JWT without aud",
            vec![(
                "authorization",
                bearer(&hs256(
                    SECRET,
                    &json!({ "sub": "a", "iss": ISSUER, "exp": now + 600 }),
                )),
            )],
            "lacks exp, iss or aud",
        ),
        (
            "an unsigned JWT",
            vec![(
                "authorization",
                bearer(&format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
                    URL_SAFE_NO_PAD.encode(claims(json!({})).to_string())
                )),
            )],
            "well-formed JWT",
        ),
    ];
    for (case, headers, why) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = post_as(&app, &headers, COUNT).await;
        assert_eq!(response.status(), 401, "{case}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .expect("text")
                .starts_with("Bearer"),
            "{case}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{case}: {body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(why), "{case}: {message}");
        assert!(body.get("data").is_none(), "{case}");
    }
    assert_eq!(app.upstream_calls().await.total, 0);
}

#[tokio::test]
async fn scopes_gate_fields_a_read_token_reads_and_gets_forbidden_at_a_mutation() {
    let app = jwt_app(&[]).await;
    let reader = bearer(&hs256(SECRET, &claims(json!({ "scope": "read" }))));
    let writer = bearer(&hs256(
        SECRET,
        &claims(json!({ "scope": null, "scp": ["read", "write"] })),
    ));
    let nobody = bearer(&hs256(SECRET, &claims(json!({ "scope": "profile email" }))));

    let (status, body) = body_as(&app, &[("authorization", &reader)], COUNT).await;
    assert_eq!(status, 200);
    assert!(
        body["data"]["activeCobrowseConversations"]["totalCount"].as_u64() > Some(0),
        "{body}"
    );

    let (status, body) = body_as(&app, &[("authorization", &reader)], DISCONNECT).await;
    assert_eq!(
        status, 200,
        "a missing scope is a field error, not a request error"
    );
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["disconnectParticipant"]));
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(
        message.contains("`write`") && message.contains("has: read"),
        "{message}"
    );

    // The writer passes the guard and reaches upstream (which knows no "c").
    let (_, body) = body_as(&app, &[("authorization", &writer)], DISCONNECT).await;
    assert_eq!(first_code(&body), "UPSTREAM_NOT_FOUND", "{body}");

    let (_, body) = body_as(&app, &[("authorization", &nobody)], COUNT).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn api_keys_carry_their_scopes_and_the_response_cache_never_serves_a_caller_without_them() {
    let dir = tempfile::tempdir().expect("dir");
    let reader = cobrowse_gateway::auth::api_keys::generate();
    let admin = cobrowse_gateway::auth::api_keys::generate();
    let file = keys_file(
        dir.path(),
        &[
            ("reader", &reader, &["read"]),
            ("admin", &admin, &["webhooks:admin"]),
        ],
    );
    let app = spawn_with(Options {
        settings: vec![("auth.api_keys_file", file)],
        ..Options::default()
    })
    .await;

    // The reader's answer is cached...
    let first = post_as(&app, &[("x-api-key", &reader)], COUNT).await;
    assert_eq!(first.status(), 200);
    let second = post_as(&app, &[("authorization", &bearer(&reader))], COUNT).await;
    assert_eq!(
        second.headers().get("x-cache").map(|v| v.to_str().unwrap()),
        Some("HIT")
    );
    // ...but not for the admin key, which may not read.
    let (status, body) = body_as(&app, &[("x-api-key", &admin)], COUNT).await;
    assert_eq!(status, 200);
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

    // Only webhooks:admin may purge the webhook store.
    let purge = r#"mutation { purgeEndedZoomSessions(endedBefore: "2000-01-01T00:00:00Z") }"#;
    let (_, body) = body_as(&app, &[("x-api-key", &reader)], purge).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let (_, body) = body_as(&app, &[("x-api-key", &admin)], purge).await;
    assert_eq!(body["data"]["purgeEndedZoomSessions"], 0, "{body}");
}

/// A JWK set with one ES256 public key, and a signer of its private key.
fn es256_key(kid: &str) -> (Value, EncodingKey) {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("the key reads back");
    // An uncompressed point: 0x04, then x and y.
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    (jwk, EncodingKey::from_ec_der(pkcs8.as_ref()))
}

/// A JWK with one RS256 public key, and a signer of its private key.
fn rs256_key(kid: &str) -> (Value, EncodingKey) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("a key");
    let jwk = json!({
        "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    });
    let der = key.to_pkcs1_der().expect("DER");
    (jwk, EncodingKey::from_rsa_der(der.as_bytes()))
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_jwks_file_by_kid() {
    let dir = tempfile::tempdir().expect("dir");
    let (ec_jwk, ec_key) = es256_key("ec-1");
    let (rsa_jwk, rsa_key) = rs256_key("rsa-1");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [ec_jwk, rsa_jwk] }).to_string()).expect("written");
    let app = spawn_with(Options {
        settings: vec![
            ("auth.jwks_file", jwks.display().to_string()),
            ("auth.jwt_issuer", ISSUER.to_owned()),
            ("auth.jwt_audience", AUDIENCE.to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let good = claims(json!({}));

    for token in [
        sign(Algorithm::ES256, "ec-1", &ec_key, &good),
        sign(Algorithm::RS256, "rsa-1", &rsa_key, &good),
    ] {
        let (status, body) = body_as(&app, &[("authorization", &bearer(&token))], COUNT).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }

    let (_, stranger) = es256_key("ec-1");
    let refused = [
        (
            "a key that is not in the set",
            sign(Algorithm::ES256, "ec-1", &stranger, &good),
            "signature",
        ),
        (
            "an unknown kid",
            sign(Algorithm::ES256, "ec-9", &ec_key, &good),
            "kid",
        ),
        (
            "an RSA kid with an EC signature",
            sign(Algorithm::ES256, "rsa-1", &ec_key, &good),
            "algorithm",
        ),
        (
            "HS256, which this gateway does not take",
            hs256(SECRET, &good),
            "HS256",
        ),
    ];
    for (case, token, why) in refused {
        let (status, body) = body_as(&app, &[("authorization", &bearer(&token))], COUNT).await;
        assert_eq!(status, 401, "{case}: {body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(why), "{case}: {message}");
    }
}

/// Registers a simulator client limited to `divisions` and gets a token.
pub(crate) async fn partner_token(app: &TestApp, divisions: &[&str]) -> String {
    let http = reqwest::Client::new();
    let client: ClientCredentials = http
        .post(format!("{}/__sim/clients", app.sim.url()))
        .json(&json!({ "divisions": divisions }))
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("credentials");
    crate::helpers::client_token(&app.sim.url(), &client.client_id, &client.client_secret).await
}

const CONVERSATION: &str =
    "query($id: String!) { conversation(conversationId: $id) { conversationId name } }";

/// What the simulator itself answers `token` for a conversation: its name,
/// or `None` for a 404.
async fn upstream_view(app: &TestApp, token: &str, id: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v2/conversations/{id}", app.sim.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the simulator answers");
    match response.status().as_u16() {
        200 => Some(
            response.json::<Value>().await.expect("json")["name"]
                .as_str()
                .expect("name")
                .to_owned(),
        ),
        404 => None,
        other => panic!("unexpected HTTP {other}"),
    }
}

/// The gateway's answer for a conversation: its name, or `None` for a null
/// with `UPSTREAM_NOT_FOUND`.
async fn gateway_view(app: &TestApp, token: &str, id: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": CONVERSATION, "variables": { "id": id } }))
        .send()
        .await
        .map(crate::helpers::verified)
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    match body["data"]["conversation"]["name"].as_str() {
        Some(name) => {
            assert!(body.get("errors").is_none(), "{body}");
            Some(name.to_owned())
        }
        None => {
            assert_eq!(first_code(&body), "UPSTREAM_NOT_FOUND", "{body}");
            None
        }
    }
}

#[tokio::test]
async fn passthrough_callers_see_only_what_their_own_tokens_return_even_when_racing_for_the_same_ids(
) {
    // Latency makes the two callers' fetches overlap: a shared flight or a
    // shared cache entry would hand one caller the other's answer.
    let app = spawn_with(Options {
        conversations: 8,
        faults: Faults {
            latency_ms: 150,
            ..Faults::default()
        },
        settings: vec![("auth.mode", "passthrough".into())],
        ..Options::default()
    })
    .await;
    let north = partner_token(&app, &["div-north"]).await;
    let south = partner_token(&app, &["div-south"]).await;
    let everyone = partner_token(&app, &["div-north", "div-south"]).await;
    // Every conversation, as a client of both divisions finds them in
    // analytics (a client-credentials token has no user to list for).
    let ids: Vec<String> = {
        let now = chrono::Utc::now();
        let all: Value = reqwest::Client::new()
            .post(format!(
                "{}/api/v2/analytics/conversations/details/query",
                app.sim.url()
            ))
            .bearer_auth(&everyone)
            .json(&json!({
                "interval": format!("{}/{}", (now - chrono::Duration::days(1)).to_rfc3339(), now.to_rfc3339()),
                "paging": { "pageSize": 100, "pageNumber": 1 },
            }))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("json");
        all["conversations"]
            .as_array()
            .expect("conversations")
            .iter()
            .map(|c| c["conversationId"].as_str().expect("id").to_owned())
            .collect()
    };
    assert!(ids.len() >= 4, "{ids:?}");
    let mut expected = Vec::new();
    for token in [&north, &south] {
        let mut views = Vec::new();
        for id in &ids {
            views.push(upstream_view(&app, token, id).await);
        }
        expected.push(views);
    }
    assert!(expected[0].iter().any(Option::is_some) && expected[1].iter().any(Option::is_some));
    assert_ne!(
        expected[0], expected[1],
        "the two callers must see different things"
    );
    app.reset_calls().await;

    // Both callers ask for every id, five times each, all at once.
    let asks = (0..5).flat_map(|_| {
        [(0, &north), (1, &south)]
            .into_iter()
            .flat_map(|(who, token)| {
                ids.iter()
                    .enumerate()
                    .map(move |(i, id)| (who, i, token, id))
            })
    });
    let answers = join_all(asks.map(|(who, i, token, id)| {
        let app = &app;
        async move { (who, i, gateway_view(app, token, id).await) }
    }))
    .await;
    for (who, i, seen) in answers {
        assert_eq!(
            seen, expected[who][i],
            "caller {who}, conversation {}",
            ids[i]
        );
    }
    // Every id was fetched for each caller on its own: a flight shared by
    // both would have made fewer calls (and shown one of them the other's
    // answer, above).
    let calls = app.upstream_calls().await;
    assert!(
        calls.route(route::CONVERSATION) >= 2 * ids.len() as u64,
        "{calls:?}"
    );
    assert_eq!(
        calls.route("GET /api/v2/tokens/me"),
        2,
        "each token is proven once: {calls:?}"
    );

    // What each caller may see is cached now, under its own token; a 404
    // is not cached, so only those are asked again. Still apart.
    app.reset_calls().await;
    for (who, token) in [(0, &north), (1, &south)] {
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(gateway_view(&app, token, id).await, expected[who][i]);
        }
    }
    let not_found = expected.iter().flatten().filter(|v| v.is_none()).count() as u64;
    assert_eq!(
        app.upstream_calls().await.route(route::CONVERSATION),
        not_found
    );

    // The per-user listing differs too: two agents' tokens, each listing
    // its own conversations, never the other's.
    let agents = app.agents().await;
    let (first, second) = (&agents[0], &agents[1]);
    assert_ne!(first.2, second.2, "{agents:?}");
    for (_, token, mine) in [first, second] {
        let (_, body) = body_as(&app, &[("authorization", &bearer(token))], COUNT).await;
        assert_eq!(
            body["data"]["activeCobrowseConversations"]["totalCount"],
            mine.len(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn passthrough_refuses_missing_unknown_and_revoked_tokens_with_401() {
    let app = spawn_with(Options {
        settings: vec![("auth.mode", "passthrough".into())],
        ..Options::default()
    })
    .await;
    let (status, body) = body_as(&app, &[], COUNT).await;
    assert_eq!((status, first_code(&body)), (401, "UNAUTHENTICATED"));
    let (status, body) = body_as(&app, &[("authorization", "Bearer not-a-token")], COUNT).await;
    assert_eq!(
        (status, first_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );

    let token = partner_token(&app, &["div-north", "div-south"]).await;
    let (status, body) = body_as(&app, &[("authorization", &bearer(&token))], COUNT).await;
    assert_eq!(status, 200, "{body}");
    // Upstream revokes the token while the gateway still trusts it: the
    // next read upstream refuses makes the whole request a 401.
    app.expire_tokens().await;
    let ids_query =
        r#"{ conversation(conversationId: "00000000-0000-4000-8000-000000000000") { name } }"#;
    let (status, body) = body_as(&app, &[("authorization", &bearer(&token))], ids_query).await;
    assert_eq!(
        (status, first_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body.get("data").is_none());
    // And it is not trusted any more: even a cached read is refused.
    let (status, _) = body_as(&app, &[("authorization", &bearer(&token))], COUNT).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn each_caller_has_its_own_token_bucket_and_a_refusal_says_when_to_retry() {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (
        cobrowse_gateway::auth::api_keys::generate(),
        cobrowse_gateway::auth::api_keys::generate(),
    );
    let file = keys_file(dir.path(), &[("a", &a, &["read"]), ("b", &b, &["read"])]);
    let app = spawn_with(Options {
        settings: vec![
            ("auth.api_keys_file", file),
            ("limits.requests_per_second", "0.5".into()),
            ("limits.request_burst", "3".into()),
        ],
        ..Options::default()
    })
    .await;

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(post_as(&app, &[("x-api-key", &a)], COUNT).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes, [200, 200, 200, 429]);
    let refused = statuses.pop().expect("the fourth");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(first_code(&body), "RATE_LIMITED");
    let metrics = crate::helpers::metrics_text(&format!("http://{}", app.addr)).await;
    assert!(
        metrics.contains(r#"cobrowse_gateway_requests_refused_total{reason="rate_limited"} 1"#),
        "{metrics}"
    );

    assert_eq!(
        post_as(&app, &[("x-api-key", &b)], COUNT).await.status(),
        200
    );
}

#[tokio::test]
async fn a_subscription_needs_credentials_in_its_connection_init() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let app = jwt_app(&[]).await;
    let connect = |payload: Value| {
        let app = &app;
        async move {
            let mut socket = crate::helpers::ws_connect(&app.addr.to_string()).await;
            socket
                .send(Message::Text(
                    json!({ "type": "connection_init", "payload": payload })
                        .to_string()
                        .into(),
                ))
                .await
                .expect("sent");
            socket
                .next()
                .await
                .expect("an answer")
                .expect("no transport error")
        }
    };

    match connect(json!({})).await {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4403);
            assert!(
                frame.reason.contains("authentication is required"),
                "{}",
                frame.reason
            );
        }
        other => panic!("expected a close, got {other:?}"),
    }
    let token = hs256(SECRET, &claims(json!({})));
    match connect(json!({ "Authorization": bearer(&token) })).await {
        Message::Text(text) => assert!(text.contains("connection_ack"), "{text}"),
        other => panic!("expected an ack, got {other:?}"),
    }
}

#[tokio::test]
async fn a_jwt_naming_critical_extensions_is_refused() {
    use hmac::Mac;
    let app = jwt_app(&[]).await;
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let signed = |header: Value| {
        let input = format!("{}.{}", encode(&header), encode(&claims(json!({}))));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("a key");
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let plain = signed(json!({ "alg": "HS256", "typ": "JWT" }));
    let (status, body) = body_as(&app, &[("authorization", &bearer(&plain))], COUNT).await;
    assert_eq!(status, 200, "the same token without crit: {body}");
    let critical = signed(json!({ "alg": "HS256", "typ": "JWT", "crit": ["exp"], "exp": 1 }));
    let (status, body) = body_as(&app, &[("authorization", &bearer(&critical))], COUNT).await;
    assert_eq!(
        (status, first_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .contains("crit"));
}

#[tokio::test]
async fn empty_jwt_issuer_or_audience_refuse_to_start() {
    let sim =
        cobrowse_gateway::sim::Simulator::start(cobrowse_gateway::sim::SimConfig::local(2, 1))
            .await
            .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    for (path, other) in [
        ("auth.jwt_issuer", "auth.jwt_audience"),
        ("auth.jwt_audience", "auth.jwt_issuer"),
    ] {
        let refused = crate::helpers::settings_for(
            &sim,
            dir.path(),
            &[
                ("auth.jwt_secret", SECRET.into()),
                (path, " ".into()),
                (other, "x".into()),
            ],
        )
        .expect_err("refused");
        assert!(
            refused.contains(path) && refused.contains("must not be empty"),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn jwt_settings_without_issuer_and_audience_refuse_to_start() {
    let sim =
        cobrowse_gateway::sim::Simulator::start(cobrowse_gateway::sim::SimConfig::local(2, 1))
            .await
            .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    let settings =
        crate::helpers::settings_for(&sim, dir.path(), &[("auth.jwt_secret", SECRET.into())])
            .expect("valid settings");
    let error = cobrowse_gateway::startup::Gateway::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(
        error
            .to_string()
            .contains("auth.jwt_issuer and auth.jwt_audience are required"),
        "{error}"
    );

    let short =
        crate::helpers::settings_for(&sim, dir.path(), &[("auth.jwt_secret", "short".into())])
            .expect_err("refused");
    assert!(
        short.contains("auth.jwt_secret") && short.contains("32 characters"),
        "{short}"
    );
}

#[tokio::test]
async fn a_changed_keys_file_takes_effect_without_a_restart_and_a_broken_one_changes_nothing() {
    use cobrowse_gateway::auth::api_keys::{entry, generate};
    let dir = tempfile::tempdir().expect("dir");
    let (old, new) = (generate(), generate());
    let path = dir.path().join("keys.toml");
    // Files are replaced whole, as deployment tools do: write, then rename.
    let replace = |text: String| {
        let next = dir.path().join("keys.toml.next");
        std::fs::write(&next, text).expect("written");
        std::fs::rename(&next, &path).expect("renamed");
    };
    replace(entry("old", &old, &["read"]));
    let app = spawn_with(Options {
        settings: vec![
            ("auth.api_keys_file", path.display().to_string()),
            ("auth.reload_interval", "20ms".into()),
        ],
        ..Options::default()
    })
    .await;
    assert_eq!(
        post_as(&app, &[("x-api-key", &old)], COUNT).await.status(),
        200
    );

    // The old key is revoked and a new one added.
    replace(entry("new", &new, &["read"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while post_as(&app, &[("x-api-key", &old)], COUNT).await.status() != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the old key still works"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        post_as(&app, &[("x-api-key", &new)], COUNT).await.status(),
        200
    );

    // A broken file is reported and leaves the keys in force.
    replace("[[key]]\nid = \"broken\"\n".into());
    let metrics = || async { crate::helpers::metrics_text(&format!("http://{}", app.addr)).await };
    while !metrics()
        .await
        .contains(r#"cobrowse_gateway_auth_reloads_total{outcome="failed"} 1"#)
    {
        assert!(
            std::time::Instant::now() < deadline + std::time::Duration::from_secs(5),
            "no failed reload seen"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        post_as(&app, &[("x-api-key", &new)], COUNT).await.status(),
        200
    );
    assert_eq!(
        post_as(&app, &[("x-api-key", &old)], COUNT).await.status(),
        401
    );
}
