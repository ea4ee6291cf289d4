//! Fixtures: the dashboard query, keys, upstream route names, and the
//! Zoom webhook events of a session (built in one place).

use serde_json::{json, Value};

/// The query a co-browse dashboard sends: every active co-browse
/// conversation with its participants, their user and queue names, and the
/// co-browse sessions with their segments.
pub const DASHBOARD: &str = include_str!("../../queries/dashboard.graphql");

/// The webhook secret of test gateways.
pub const ZOOM_SECRET: &str = "test-zoom-secret";

/// The API key test gateways accept, with every scope. Made afresh for each
/// test run.
pub fn test_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(cobrowse_gateway::auth::api_keys::generate)
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
    pub const DETAILS: &str = "POST /api/v2/analytics/conversations/details/query";
    pub const DETAILS_BY_ID: &str = "GET /api/v2/analytics/conversations/details";
    pub const DETAILS_JOBS: &str = "POST /api/v2/analytics/conversations/details/jobs";
    pub const AGGREGATES: &str = "POST /api/v2/analytics/conversations/aggregates/query";
    pub const TOKEN_INFO: &str = "GET /api/v2/tokens/me";
}

/// One Zoom Cobrowse webhook event: `kind` (`cobrowse.session_started`,
/// ...) of session `session` in account `account`, with `object` (the
/// session id is added), `ts` milliseconds after a fixed instant.
pub fn zoom_event(account: &str, session: &str, kind: &str, ts: i64, object: Value) -> Value {
    let mut object = object;
    object["session_id"] = json!(session);
    json!({
        "event": kind,
        "event_ts": 1_763_802_000_000_i64 + ts,
        "payload": { "account_id": account, "object": object },
    })
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
    let event = |name: &str, ts: i64, object: Value| zoom_event("acc-1", session, name, ts, object);
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
