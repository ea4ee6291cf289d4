//! Every way the simulator can end a co-browse, walked step by step in
//! service mode with notifications on: after each step, the listing (a
//! conversation is listed while one of its co-browse or screen-share
//! communications goes on), the sessions' state, and what a subscriber is
//! told. A conversation whose communications ended leaves the listing
//! with the event that ended them, whatever its participants do next
//! (wrap-up pending, a call that goes on).

use std::collections::BTreeSet;
use std::time::Duration;

use cobrowse_gateway::sim::Faults;
use serde_json::{json, Value};

use crate::helpers::{metric, spawn_with, Frame, Options, TestApp, Ws};

const UPDATES: &str = "subscription { cobrowseSessionUpdates(provider: PURECLOUD) { kind providerSessionId session { mediaType state } } }";

/// A gateway listening to the simulator's notifications (analytics
/// without lag, heartbeats every 100 ms, and `extra`), and a subscriber.
async fn live_with(extra: &[(&'static str, &str)]) -> (TestApp, Ws) {
    let mut settings: Vec<(&'static str, String)> = vec![
        ("notifications.enabled", "true".into()),
        ("notifications.analytics_lag", "0s".into()),
        ("notifications.heartbeat_timeout", "1s".into()),
    ];
    settings.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let app = spawn_with(Options {
        conversations: 2,
        faults: Faults {
            heartbeat_ms: 100,
            ..Faults::default()
        },
        settings,
        ..Options::default()
    })
    .await;
    crate::live::wait_mode_at(&app.url(""), "listening", Duration::from_secs(15)).await;
    let mut ws = Ws::ready(&app.url("")).await;
    ws.subscribe("u", UPDATES).await;
    ws.sync().await;
    (app, ws)
}

/// What a subscriber is told: kind, media and the session's state when
/// told.
type Told = (String, String, String);

/// Waits until the gateway has heard every event the simulator sent.
async fn settle(app: &TestApp) {
    crate::helpers::eventually(
        "every event sent is heard",
        Duration::from_secs(15),
        || async {
            let hub: Value = reqwest::get(format!("{}/__sim/notifications", app.sim.url()))
                .await
                .expect("answers")
                .json()
                .await
                .expect("JSON");
            let sent = hub["eventsSent"].as_f64().expect("a count");
            let base = app.url("");
            let series = |kind: &str| {
                format!("cobrowse_gateway_notifications_heard_total{{kind=\"{kind}\"}}")
            };
            let heard = metric(&base, &series("cobrowse")).await
                + metric(&base, &series("screenshare")).await;
            (heard >= sent).then_some(())
        },
    )
    .await;
}

/// The next `n` updates the subscriber is told.
async fn told(ws: &mut Ws, n: usize) -> Vec<Told> {
    let mut got = Vec::new();
    while got.len() < n {
        match ws.next().await {
            Frame::Json(m) if m["type"] == "next" => {
                let update = &m["payload"]["data"]["cobrowseSessionUpdates"];
                let text = |v: &Value| v.as_str().unwrap_or("null").to_owned();
                got.push((
                    text(&update["kind"]),
                    text(&update["session"]["mediaType"]),
                    text(&update["session"]["state"]),
                ));
            }
            other => panic!("an update, not {other:?}"),
        }
    }
    got.sort();
    got
}

/// The conversations the listing holds.
async fn listed(app: &TestApp) -> BTreeSet<String> {
    app.active_conversation_ids().await.into_iter().collect()
}

/// The states of a conversation's co-browse sessions (read by id: a
/// conversation that left the listing stays readable).
async fn session_states(app: &TestApp, id: &str) -> Vec<String> {
    let data = app
        .data(
            "query($id: String!) { conversation(conversationId: $id) { cobrowseSessions { state } } }",
            json!({ "id": id }),
        )
        .await;
    data["conversation"]["cobrowseSessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["state"].as_str().expect("a state").to_owned())
        .collect()
}

/// A step of a walk: what the simulator is told, what the subscriber is
/// told then, and whether the conversation is listed after it.
struct Step {
    what: Value,
    told: &'static [(&'static str, &'static str, &'static str)],
    listed: bool,
}

fn act(
    act: Value,
    told: &'static [(&'static str, &'static str, &'static str)],
    listed: bool,
) -> Step {
    Step {
        what: act,
        told,
        listed,
    }
}

fn phase(told: &'static [(&'static str, &'static str, &'static str)], listed: bool) -> Step {
    Step {
        what: Value::Null,
        told,
        listed,
    }
}

const STARTED_COBROWSE: (&str, &str, &str) = ("STARTED", "COBROWSE", "ACTIVE");
const CHANGED_COBROWSE: (&str, &str, &str) = ("CHANGED", "COBROWSE", "ACTIVE");
const ENDED_COBROWSE: (&str, &str, &str) = ("ENDED", "COBROWSE", "ENDED");
const STARTED_SHARE: (&str, &str, &str) = ("STARTED", "SCREENSHARE", "ACTIVE");
const ENDED_SHARE: (&str, &str, &str) = ("ENDED", "SCREENSHARE", "ENDED");

/// Starts a conversation, takes it through `steps` (a phase step when
/// `what` is null, else an act) and checks each; its id.
async fn walk(app: &TestApp, ws: &mut Ws, name: &str, steps: Vec<Step>) -> String {
    walk_from(app, ws, name, json!({}), steps).await
}

/// [`walk`], for a conversation started as `start` says.
async fn walk_from(
    app: &TestApp,
    ws: &mut Ws,
    name: &str,
    start: Value,
    steps: Vec<Step>,
) -> String {
    let (_, change) = app
        .sim_post(None, "/__sim/world/conversations", &start)
        .await;
    let id = change["conversationId"].as_str().expect("an id").to_owned();
    for (n, step) in steps.into_iter().enumerate() {
        let path = if step.what.is_null() {
            format!("/__sim/world/conversations/{id}/step")
        } else {
            format!("/__sim/world/conversations/{id}/act")
        };
        let (status, answer) = app.sim_post(None, &path, &step.what).await;
        assert!(status.is_success(), "{name} step {n}: {answer}");
        settle(app).await;
        let mut expected: Vec<Told> = step
            .told
            .iter()
            .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
            .collect();
        expected.sort();
        assert_eq!(
            told(ws, expected.len()).await,
            expected,
            "{name} step {n} ({answer}): told"
        );
        assert_eq!(
            listed(app).await.contains(&id),
            step.listed,
            "{name} step {n} ({answer}): listed"
        );
        if step.told.iter().any(|t| t.1 == "COBROWSE") {
            let states = session_states(app, &id).await;
            let ended = step.told.contains(&ENDED_COBROWSE);
            assert_eq!(
                states.last().map(String::as_str),
                Some(if ended { "ENDED" } else { "ACTIVE" }),
                "{name} step {n}: the session's state"
            );
        }
    }
    id
}

/// The steps that bring a new conversation to a co-browse going on.
fn cobrowsing() -> Vec<Step> {
    vec![
        phase(&[], false),
        phase(&[], false),
        phase(&[STARTED_COBROWSE], true),
    ]
}

fn then(mut first: Vec<Step>, rest: Vec<Step>) -> Vec<Step> {
    first.extend(rest);
    first
}

#[tokio::test]
async fn every_end_takes_a_conversation_off_the_listing_with_the_event_that_ends_it() {
    let (app, mut ws) = live_with(&[]).await;
    let hang_up = |purpose: &str| json!({ "act": "hang_up", "purpose": purpose });

    // Disconnected with the agent's wrap-up pending (and never given while
    // it matters): out at once; the wrap-up and the end change nothing.
    let steps = then(
        cobrowsing(),
        vec![
            phase(&[CHANGED_COBROWSE], true),
            phase(&[STARTED_SHARE], true),
            phase(&[ENDED_COBROWSE, ENDED_SHARE], false),
            phase(&[], false),
            phase(&[], false),
        ],
    );
    walk(
        &app,
        &mut ws,
        "wrap-up pending, then given, then terminated",
        steps,
    )
    .await;

    // Participant by participant, no wrap-up required: the session goes on
    // while one of them is in it; the last one out terminates it.
    let steps = then(
        cobrowsing(),
        vec![
            act(json!({ "act": "skip_wrapup" }), &[], true),
            act(hang_up("customer"), &[CHANGED_COBROWSE], true),
            act(hang_up("agent"), &[ENDED_COBROWSE], false),
        ],
    );
    walk(&app, &mut ws, "one by one, without wrap-up", steps).await;

    // The co-browse ends while the call goes on; a second one starts and
    // ends in the same conversation.
    let steps = then(
        cobrowsing(),
        vec![
            act(json!({ "act": "end_cobrowse" }), &[ENDED_COBROWSE], false),
            act(
                json!({ "act": "start_cobrowse" }),
                &[STARTED_COBROWSE],
                true,
            ),
            act(json!({ "act": "end_cobrowse" }), &[ENDED_COBROWSE], false),
        ],
    );
    walk(&app, &mut ws, "co-browse over, the call goes on", steps).await;

    // A screen share without co-browse, and a screen share that outlives
    // the co-browse beside it.
    let steps = vec![
        phase(&[], false),
        phase(&[], false),
        act(
            json!({ "act": "start_screenshare" }),
            &[STARTED_SHARE],
            true,
        ),
        act(json!({ "act": "end_screenshare" }), &[ENDED_SHARE], false),
    ];
    walk(&app, &mut ws, "screen share only", steps).await;
    let steps = then(
        cobrowsing(),
        vec![
            act(
                json!({ "act": "start_screenshare" }),
                &[STARTED_SHARE],
                true,
            ),
            act(json!({ "act": "end_cobrowse" }), &[ENDED_COBROWSE], true),
            act(json!({ "act": "end_screenshare" }), &[ENDED_SHARE], false),
        ],
    );
    walk(&app, &mut ws, "screen share after the co-browse", steps).await;

    // Nothing else was told: the next update is the next start.
    walk(&app, &mut ws, "a last start", cobrowsing()).await;
}

#[tokio::test]
async fn a_periodic_reconciliation_sets_right_an_end_whose_event_was_lost_and_counts_it() {
    let (app, mut ws) = live_with(&[("notifications.reconcile_interval", "1s")]).await;
    let id = walk(&app, &mut ws, "co-browsing", cobrowsing()).await;
    // Upstream fails to deliver the event of the co-browse's end; the
    // sockets stay up, nothing says there was a gap.
    app.sim_post(None, "/__sim/notifications/lose", &json!({ "count": 1 }))
        .await;
    let path = format!("/__sim/world/conversations/{id}/act");
    app.sim_post(None, &path, &json!({ "act": "end_cobrowse" }))
        .await;
    let series = "cobrowse_gateway_live_corrections_total{cause=\"reconcile\"}";
    crate::helpers::eventually(
        "a reconciliation sets it right",
        Duration::from_secs(30),
        || async { (metric(&app.url(""), series).await >= 1.0).then_some(()) },
    )
    .await;
    assert!(!listed(&app).await.contains(&id), "off the listing");
    assert_eq!(told(&mut ws, 1).await, [to_owned(ENDED_COBROWSE)]);
}

#[tokio::test]
async fn a_conversation_that_began_before_the_lookback_stays_listed_through_reconciliation() {
    // The details query sees conversations that started within the last
    // hour (whole days); this one began two days ago, and its co-browse
    // starts now.
    let (app, mut ws) = live_with(&[
        ("notifications.reconcile_interval", "1s"),
        ("upstream.active_lookback", "1h"),
    ])
    .await;
    let start = json!({ "startedSecondsAgo": 2 * 86_400 });
    let id = walk_from(&app, &mut ws, "long", start, cobrowsing()).await;
    let backfills = "cobrowse_gateway_live_backfills_total{outcome=\"ok\"}";
    let before = metric(&app.url(""), backfills).await;
    crate::helpers::eventually(
        "two reconciliations run",
        Duration::from_secs(30),
        || async { (metric(&app.url(""), backfills).await >= before + 2.0).then_some(()) },
    )
    .await;
    assert!(listed(&app).await.contains(&id), "still listed");
    let corrections = "cobrowse_gateway_live_corrections_total{cause=\"reconcile\"}";
    assert_eq!(
        metric(&app.url(""), corrections).await,
        0.0,
        "nothing to set right"
    );
}

fn to_owned((a, b, c): (&str, &str, &str)) -> Told {
    (a.to_owned(), b.to_owned(), c.to_owned())
}
