//! Live PureCloud: in service mode the gateway keeps the organisation's
//! active set by listening to the Notifications API. Changes in the
//! simulator's world reach the wall and subscribers within a second with
//! no upstream read; every gap (a dropped socket, stopped heartbeats, a
//! maintenance close, an expired channel) ends with the index equal to
//! upstream's truth; when notifications cannot be had it polls and says
//! so; with many queues it stays within upstream's channel limits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cobrowse_gateway::sim::Faults;
use serde_json::{json, Value};

use crate::helpers::{metrics_text, spawn_with, withhold, Frame, Options, TestApp, Ws};

/// The wall a dashboard shows: every field is one the co-browse view (an
/// event's body) serves.
const WALL: &str = "{ activeCobrowseConversations(first: 100) { nodes { conversationId participants { id participantId purpose state cobrowseSessionId controllingIds wrapup { code } } } } }";

const UPDATES: &str = "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { event kind provider providerSessionId } }";

fn faults() -> Faults {
    Faults {
        heartbeat_ms: 100,
        ..Faults::default()
    }
}

async fn live_app(conversations: usize, faults: Faults, extra: &[(&'static str, &str)]) -> TestApp {
    let mut settings: Vec<(&'static str, String)> = vec![
        ("notifications.enabled", "true".into()),
        ("notifications.analytics_lag", "0s".into()),
        ("notifications.heartbeat_timeout", "1s".into()),
        ("server.readiness_interval", "10ms".into()),
    ];
    settings.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    spawn_with(Options {
        conversations,
        faults,
        settings,
        ..Options::default()
    })
    .await
}

/// What `/readyz` says of the listener.
async fn status(app: &TestApp) -> Value {
    status_at(&app.url("")).await
}

/// [`status`] of the gateway at `base`.
pub(crate) async fn status_at(base: &str) -> Value {
    let body: Value = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("JSON");
    body["checks"]["notifications"].clone()
}

/// Waits (up to 15 s) until the listener is in `mode`; its status then.
async fn wait_mode(app: &TestApp, mode: &str) -> Value {
    wait_mode_at(&app.url(""), mode, Duration::from_secs(15)).await
}

/// [`wait_mode`] for the gateway at `base`, within `within`.
pub(crate) async fn wait_mode_at(base: &str, mode: &str, within: Duration) -> Value {
    crate::helpers::eventually(&format!("the listener is {mode}"), within, || async {
        let status = status_at(base).await;
        (status["mode"] == mode).then_some(status)
    })
    .await
}

/// The wall as the gateway shows it: each conversation's participants
/// with their state, control and wrap-up.
async fn wall(app: &TestApp) -> BTreeMap<String, Value> {
    wall_at(app, &app.url("")).await
}

/// [`wall`] as the gateway at `base` (another replica on `app`'s
/// simulator) shows it.
pub(crate) async fn wall_at(app: &TestApp, base: &str) -> BTreeMap<String, Value> {
    let response = crate::helpers::verified(
        app.http
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": WALL }))
            .send()
            .await
            .expect("the gateway answers"),
    );
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success() && body["errors"].is_null(), "{body}");
    body["data"]["activeCobrowseConversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["conversationId"].as_str().expect("an id").to_owned(),
                n["participants"].clone(),
            )
        })
        .collect()
}

/// Upstream's truth: the conversations listed by the rule (one of their
/// co-browse or screen-share sessions goes on: a segment not ended), as
/// analytics (without lag, in these tests) gives them.
async fn truth(app: &TestApp) -> BTreeSet<String> {
    let token = app.sim_token().await;
    let now = chrono::Utc::now();
    let query = json!({
        "interval": format!("{}/{}", (now - chrono::Duration::days(8)).to_rfc3339(), (now + chrono::Duration::minutes(1)).to_rfc3339()),
        "paging": { "pageSize": 100, "pageNumber": 1 },
        "conversationFilters": [{ "type": "and", "predicates": [
            { "dimension": "conversationEnd", "operator": "notExists" }
        ]}],
        "segmentFilters": [{ "type": "or", "predicates": [
            { "dimension": "mediaType", "value": "cobrowse" },
            { "dimension": "mediaType", "value": "screenshare" }
        ]}],
    });
    let (_, body) = app
        .sim_post(
            Some(&token),
            "/api/v2/analytics/conversations/details/query",
            &query,
        )
        .await;
    let goes_on = |session: &Value| {
        let segments = session["segments"].as_array().cloned().unwrap_or_default();
        segments.is_empty() || segments.iter().any(|s| s["segmentEnd"].is_null())
    };
    body["conversations"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| {
            r["participants"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|p| p["sessions"].as_array().into_iter().flatten())
                .any(goes_on)
        })
        .map(|r| r["conversationId"].as_str().expect("an id").to_owned())
        .collect()
}

/// The simulator's notification channels and high-water marks.
async fn hub(app: &TestApp) -> Value {
    reqwest::get(format!("{}/__sim/notifications", app.sim.url()))
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON")
}

/// How many notification sockets the simulator has opened so far.
async fn sockets_opened(app: &TestApp) -> u64 {
    hub(app).await["socketsOpened"].as_u64().expect("a count")
}

async fn start(app: &TestApp) -> String {
    let (_, change) = app
        .sim_post(None, "/__sim/world/conversations", &json!({}))
        .await;
    change["conversationId"].as_str().expect("an id").to_owned()
}

async fn step(app: &TestApp, id: &str) -> String {
    let (_, change) = app
        .sim_post(
            None,
            &format!("/__sim/world/conversations/{id}/step"),
            &json!(null),
        )
        .await;
    change["phase"].as_str().expect("a phase").to_owned()
}

/// The PureCloud updates a subscriber receives next until `count` came
/// (lag notices included as `"lagged"`).
async fn updates(ws: &mut Ws, count: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < count {
        match ws.next().await {
            Frame::Json(message) if message["type"] == "next" => {
                let payload = &message["payload"];
                match payload["errors"][0]["extensions"]["code"].as_str() {
                    Some(code) => got.push(code.to_owned()),
                    None => got.push(
                        payload["data"]["cobrowseSessionUpdates"]["event"]
                            .as_str()
                            .expect("an event")
                            .to_owned(),
                    ),
                }
            }
            other => panic!("an update, not {other:?}"),
        }
    }
    got
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 99).div_ceil(100) - 1]
}

#[tokio::test]
async fn changes_reach_the_wall_and_subscribers_within_a_second_without_an_upstream_read() {
    let app = live_app(8, faults(), &[]).await;
    wait_mode(&app, "listening").await;
    let mut ws = Ws::ready(&app.url("")).await;
    ws.subscribe("live", UPDATES).await;
    ws.sync().await;
    // Warm: the wall is read once (records of the back-fill need their
    // full forms once; events keep them from then on).
    let mut before = wall(&app).await;
    let response = app.post_graphql(&json!({ "query": WALL })).await;
    let cache_control = response.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cache_control.ends_with("max-age=0"),
        "kept fresh by events: clients ask again, the gateway answers from what it keeps: {cache_control}"
    );
    app.reset_calls().await;

    let (mut wall_latencies, mut pushed_latencies) = (Vec::new(), Vec::new());
    for _ in 0..70 {
        let id = start(&app).await;
        loop {
            let changed = Instant::now();
            let phase = step(&app, &id).await;
            // What a subscriber is told, and whether the wall shows it.
            let told = match phase.as_str() {
                "cobrowse_started" | "control_granted" | "screenshare_started" => 1,
                "disconnected" => 2,
                _ => 0,
            };
            // The wall shows it from its co-browse's start, and no longer
            // once its communications ended (disconnected: the agent's
            // wrap-up and the end change nothing there).
            let shows = matches!(
                phase.as_str(),
                "cobrowse_started" | "control_granted" | "disconnected"
            );
            if told > 0 {
                let events = updates(&mut ws, told).await;
                pushed_latencies.push(changed.elapsed());
                assert!(
                    events.iter().all(|e| e.starts_with("purecloud.session_")),
                    "{events:?}"
                );
            }
            if shows {
                let what = format!("{phase}: the wall shows it");
                before = crate::helpers::eventually(&what, Duration::from_secs(30), || async {
                    let now = wall(&app).await;
                    (now.get(&id) != before.get(&id)).then_some(now)
                })
                .await;
                wall_latencies.push(changed.elapsed());
            }
            if matches!(phase.as_str(), "disconnected" | "wrapped_up" | "ended") {
                assert!(!before.contains_key(&id), "{phase}: still on the wall");
            }
            if phase == "ended" {
                break;
            }
        }
    }
    let calls = app.upstream_calls().await;
    assert_eq!(
        calls.total, 0,
        "a warm wall reads nothing upstream while events keep it: {calls:?}"
    );
    assert!(wall_latencies.len() >= 200 && pushed_latencies.len() >= 200);
    let (wall_p99, pushed_p99) = (p99(wall_latencies), p99(pushed_latencies));
    // Figures to read, not bounds: freshness latency is the benchmark's.
    println!("freshness p99: wall {wall_p99:?}, subscriber {pushed_p99:?}");
}

/// Moves the world on in the background until told to stop.
pub(crate) fn keep_changing(
    app: &TestApp,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<u32>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let url = format!("{}/__sim/world/tick", app.sim.url());
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut ticks = 0;
        loop {
            if stopped.try_recv().is_ok() {
                return ticks;
            }
            client
                .post(&url)
                .send()
                .await
                .expect("the simulator answers");
            ticks += 1;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
    (stop, task)
}

/// Waits until the wall equals upstream's truth: the same conversations,
/// each with the same participants in the same states as upstream's
/// co-browse view of it (it converges once the listener has recovered and
/// back-filled); fails after 10 s.
async fn converges(app: &TestApp, what: &str) {
    converges_at(app, &app.url(""), what, Duration::from_secs(10)).await;
}

/// [`converges`] for the gateway at `base` (another replica on `app`'s
/// simulator), within `within`.
pub(crate) async fn converges_at(app: &TestApp, base: &str, what: &str, within: Duration) {
    let token = app.sim_token().await;
    let what = format!("{what}: the wall is upstream's");
    crate::helpers::eventually(&what, within, || async {
        let shown: BTreeMap<String, BTreeSet<(String, String)>> = wall_at(app, base)
            .await
            .into_iter()
            .map(|(id, participants)| (id, states(&participants, "participantId")))
            .collect();
        let mut truth = BTreeMap::new();
        for id in self::truth(app).await {
            let path = format!("/api/v2/conversations/cobrowsesessions/{id}");
            let (_, view) = app.sim_get(&token, &path).await;
            truth.insert(id, states(&view["participants"], "id"));
        }
        if shown == truth {
            Ok(())
        } else {
            Err(format!("the wall {shown:?}, upstream {truth:?}"))
        }
    })
    .await;
}

/// Each participant's id and state (lower case: the wire's spelling).
fn states(participants: &Value, id: &str) -> BTreeSet<(String, String)> {
    participants
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p[id].as_str().unwrap_or_default().to_owned(),
                p["state"].as_str().unwrap_or_default().to_lowercase(),
            )
        })
        .collect()
}

#[tokio::test]
async fn after_every_kind_of_gap_the_index_equals_upstream_and_subscribers_heard_of_it() {
    let app = live_app(
        10,
        Faults {
            socket_closing_grace_ms: 300,
            ..faults()
        },
        &[],
    )
    .await;
    wait_mode(&app, "listening").await;
    let mut ws = Ws::ready(&app.url("")).await;
    ws.subscribe("live", UPDATES).await;
    ws.sync().await;
    for fault in ["drop", "heartbeats", "socket_closing", "expire"] {
        let opened = sockets_opened(&app).await;
        let (stop, changing) = keep_changing(&app);
        match fault {
            "heartbeats" => {
                app.set_faults(&Faults {
                    heartbeats_stopped: true,
                    ..faults()
                })
                .await;
            }
            door => {
                app.sim_post(None, &format!("/__sim/notifications/{door}"), &json!(null))
                    .await;
            }
        }
        // The gateway notices and connects a new socket.
        let what = format!("{fault}: a new socket");
        crate::helpers::eventually(&what, Duration::from_secs(30), || async {
            (sockets_opened(&app).await != opened).then_some(())
        })
        .await;
        if fault == "heartbeats" {
            app.set_faults(&Faults {
                socket_closing_grace_ms: 300,
                ..faults()
            })
            .await;
        }
        wait_mode(&app, "listening").await;
        stop.send(()).expect("still changing");
        let ticks = changing.await.expect("ticked");
        assert!(ticks > 0);
        converges(&app, fault).await;
    }
    // Subscribers heard the changes, and of every gap there was.
    let mut heard = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
            Ok(Frame::Json(message)) if message["type"] == "next" => heard.push(message),
            Ok(other) => panic!("an update, not {other:?}"),
            Err(_) => break,
        }
    }
    let lagged = heard
        .iter()
        .filter(|m| m["payload"]["errors"][0]["extensions"]["code"] == "SUBSCRIPTION_LAGGED")
        .count();
    assert!(
        lagged >= 3,
        "a dropped socket, silent heartbeats and an expired channel are gaps: {lagged} lag notices"
    );
    assert!(heard.len() > lagged, "and changes were pushed");
    let metrics = metrics_text(&app.url("")).await;
    assert!(metrics.contains("cobrowse_gateway_notification_gaps_total{what=\"lost\"}"));
    assert!(metrics.contains("cobrowse_gateway_live_backfills_total{outcome=\"ok\"}"));
}

#[tokio::test]
async fn rejected_topics_fall_back_to_polling_and_say_so_and_listening_resumes_when_permitted() {
    let app = live_app(
        6,
        faults(),
        &[
            ("notifications.relist_interval", "300ms"),
            ("notifications.poll_interval", "200ms"),
        ],
    )
    .await;
    let status = wait_mode(&app, "listening").await;
    // What each topic requires, as upstream's availabletopics says, and
    // that the client has it.
    let token = app.sim_token().await;
    let (_, published) = app
        .sim_get(
            &token,
            "/api/v2/notifications/availabletopics?expand=requiresPermissions,enforced",
        )
        .await;
    let requires = |topic: &str| {
        published["entities"]
            .as_array()
            .expect("entities")
            .iter()
            .find(|t| t["id"] == topic)
            .map(|t| t["requiresPermissions"].clone())
            .unwrap_or_else(|| panic!("{topic} is published: {published}"))
    };
    let screenshares = "v2.routing.queues.{id}.conversations.screenshares";
    let requirements = status["topic_requirements"]
        .as_array()
        .expect("requirements");
    assert_eq!(requirements.len(), 4, "{status}");
    for requirement in requirements {
        let topic = requirement["topic"].as_str().expect("a topic");
        assert_eq!(requirement["requires"], requires(topic), "{requirement}");
        assert_eq!(requirement["enforced"], true);
        assert_eq!(requirement["permitted"], true, "{requirement}");
    }
    let screenshare_permission = requires(screenshares)[0]
        .as_str()
        .expect("a permission")
        .to_owned();
    withhold(
        &app.sim.url(),
        app.sim.client_id(),
        &[screenshare_permission.as_str()],
    )
    .await;
    let status = wait_mode(&app, "polling").await;
    let reason = status["reason"].as_str().expect("a reason");
    assert!(reason.contains(&screenshare_permission), "{reason}");
    for requirement in status["topic_requirements"]
        .as_array()
        .expect("requirements")
    {
        let lacking = requirement["topic"] == screenshares;
        assert_eq!(requirement["permitted"], !lacking, "{requirement}");
    }
    let metrics = metrics_text(&app.url("")).await;
    assert!(
        metrics.contains("cobrowse_gateway_live_mode{mode=\"polling\"} 1"),
        "{metrics}"
    );
    // Polled: the wall still follows the world, within the poll interval.
    let id = start(&app).await;
    for _ in 0..3 {
        step(&app, &id).await;
    }
    converges(&app, "polling").await;
    withhold(&app.sim.url(), app.sim.client_id(), &[]).await;
    wait_mode(&app, "listening").await;

    // Sockets refused: polling too, and back when they are taken again.
    app.set_faults(&Faults {
        refuse_sockets: true,
        ..faults()
    })
    .await;
    app.sim_post(None, "/__sim/notifications/drop", &json!(null))
        .await;
    let status = wait_mode(&app, "polling").await;
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains("refused")),
        "{status}"
    );
    app.set_faults(&faults()).await;
    wait_mode(&app, "listening").await;
    converges(&app, "listening again").await;
}

#[tokio::test]
async fn six_hundred_queues_take_two_channels_within_upstreams_limits_and_new_queues_are_heard() {
    let app = live_app(6, faults(), &[("notifications.relist_interval", "300ms")]).await;
    app.sim_post(None, "/__sim/world/queues", &json!({ "count": 594 }))
        .await;
    let status = crate::helpers::eventually(
        "two channels, listening",
        Duration::from_secs(30),
        || async {
            let status = status(&app).await;
            if status["channels"] == 2 && status["mode"] == "listening" {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        },
    )
    .await;
    // Three topics per queue, and each active agent's message topic.
    let agents = app.agents().await.len();
    assert!(
        status["topics"]
            .as_u64()
            .is_some_and(|t| t > 1_800 && t <= 1_800 + agents as u64),
        "{status}"
    );
    let hub = hub(&app).await;
    assert!(hub["mostTopicsPerChannel"].as_u64() <= Some(1_000), "{hub}");
    assert!(hub["mostChannelsPerClient"].as_u64() <= Some(20), "{hub}");
    // A conversation routed through a queue created after start-up is heard.
    let id = start(&app).await;
    let mut phase = String::new();
    while phase != "cobrowse_started" {
        phase = step(&app, &id).await;
    }
    converges(&app, "new queues").await;
}

#[tokio::test]
async fn passthrough_mode_does_not_listen_and_reads_the_callers_own_listing() {
    let app = spawn_with(Options {
        settings: vec![
            ("auth.mode", "passthrough".into()),
            ("notifications.enabled", "true".into()),
            ("server.readiness_interval", "10ms".into()),
        ],
        ..Options::default()
    })
    .await;
    let status = status(&app).await;
    assert!(
        status.as_str().is_some_and(|s| s.starts_with("off")),
        "{status}"
    );
    let hub = hub(&app).await;
    assert_eq!(hub["channels"], json!([]));
}

#[tokio::test]
async fn a_channel_is_subscribed_again_before_it_expires_and_keeps_its_socket() {
    let app = live_app(
        6,
        Faults {
            channel_lifetime_ms: 600,
            ..faults()
        },
        &[],
    )
    .await;
    wait_mode(&app, "listening").await;
    let opened = hub(&app).await["socketsOpened"].clone();
    // Three lifetimes pass: the channel lives on, its socket untouched.
    let until = Instant::now() + Duration::from_millis(1_800);
    while Instant::now() < until {
        let now = hub(&app).await;
        assert_eq!(now["socketsOpened"], opened, "{now}");
        assert_eq!(now["channels"].as_array().map(Vec::len), Some(1), "{now}");
        assert_eq!(status(&app).await["mode"], "listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = start(&app).await;
    let mut phase = String::new();
    while phase != "cobrowse_started" {
        phase = step(&app, &id).await;
    }
    converges(&app, "renewed channel").await;
}
