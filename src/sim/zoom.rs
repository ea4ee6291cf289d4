//! Demo Zoom Cobrowse traffic: signed webhook deliveries, played over real
//! HTTP into a gateway's `/webhooks/zoom`, one event every `period`.
//!
//! Sessions follow one script (started, the customer and an agent join, the
//! agent's connection drops and comes back, everyone leaves, the session
//! ends) with fresh ids, rotating through a few agents, so a demo shows Zoom
//! sessions beside PureCloud ones and subscriptions see them change.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use tracing::{debug, warn};

use super::zoom_api::ZoomWorld;
use crate::secret::Secret;
use crate::zoom::signature::sign;

const AGENTS: &[&str] = &["Noah Okafor", "Mia Nakamura", "Omar Haddad"];
const CUSTOMERS: &[&str] = &["Ava Thompson", "Lucas Silva", "Zoe Larsen", "Kenji Rossi"];
const PAGES: &[&str] = &[
    "/checkout",
    "/loans/apply",
    "/account/settings",
    "/claims/new",
];

/// The `User-Agent` of the demo player's deliveries: a demo gateway logs
/// them at `debug`, so that its log shows the requests of people.
pub(crate) const PLAYER_AGENT: &str = "cobrowse-gateway-demo-player";

/// The `step`-th event of demo session `n` of run `run`, timed now.
fn event(run: &str, n: usize, step: usize) -> Value {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let session = format!("zoom-demo-{run}-{n:05}");
    let (agent, customer) = (AGENTS[n % AGENTS.len()], CUSTOMERS[n % CUSTOMERS.len()]);
    let user = |id: &str, name: &str, role: &str| json!({ "user_id": id, "user_name": name, "role_type": role });
    let (name, mut object) = match step {
        0 => (
            "cobrowse.session_started",
            json!({ "start_time": now, "start_url": format!("https://shop.example.com{}", PAGES[n % PAGES.len()]) }),
        ),
        1 => (
            "cobrowse.session_user_joined",
            json!({ "user_connection_id": format!("{session}-c1"), "join_time": now }),
        ),
        2 => (
            "cobrowse.session_user_joined",
            json!({ "user_connection_id": format!("{session}-a1"), "join_time": now }),
        ),
        3 => (
            "cobrowse.session_user_left",
            json!({ "user_connection_id": format!("{session}-a1"), "leave_time": now, "leave_reason": "Network connection error" }),
        ),
        4 => (
            "cobrowse.session_user_joined",
            json!({ "user_connection_id": format!("{session}-a2"), "join_time": now }),
        ),
        5 => (
            "cobrowse.session_user_left",
            json!({ "user_connection_id": format!("{session}-a2"), "leave_time": now, "leave_reason": "Left the session" }),
        ),
        6 => (
            "cobrowse.session_user_left",
            json!({ "user_connection_id": format!("{session}-c1"), "leave_time": now, "leave_reason": "The session end" }),
        ),
        _ => (
            "cobrowse.session_ended",
            json!({ "end_time": now, "session_pin": format!("{:06}", 100_000 + n * 7_919 % 900_000), "end_reason": "The session ended" }),
        ),
    };
    let who = match step {
        0 | 1 | 6 => user("u-customer", customer, "customer"),
        2..=5 => user("u-agent", agent, "agent"),
        _ => json!({}),
    };
    object["session_id"] = json!(session);
    if let (Some(object), Some(who)) = (object.as_object_mut(), who.as_object()) {
        object.extend(who.clone());
    }
    json!({
        "event": name,
        "event_ts": Utc::now().timestamp_millis(),
        "payload": { "account_id": "demo-account", "object": object }
    })
}

/// Events per scripted session.
const STEPS: usize = 8;

/// Posts demo events to `url` (a gateway's `/webhooks/zoom`) until the task
/// is dropped: every `period`, each running session plays its next event,
/// and every `STEPS / 2` periods a new session starts (so two overlap).
/// Each event happens in the Zoom account `zoom` first, which its API
/// answers from, whether or not the webhook arrives.
pub(crate) async fn play(url: String, secret: Secret, period: Duration, zoom: Arc<ZoomWorld>) {
    let client = reqwest::Client::builder()
        .user_agent(PLAYER_AGENT)
        .build()
        .unwrap_or_default();
    let mut ticks = tokio::time::interval(period);
    let mut running: Vec<(usize, usize)> = Vec::with_capacity(2);
    let mut next = 0;
    // Ids unique to this run: a restart on the same store starts new sessions.
    let run = format!("{:x}", Utc::now().timestamp());
    for tick in 0usize.. {
        ticks.tick().await;
        if tick % (STEPS / 2) == 0 {
            running.push((next, 0));
            next += 1;
        }
        for (n, step) in &mut running {
            let (session, played) = (*n, *step);
            let event = event(&run, session, played);
            zoom.record(&event);
            *step += 1;
            if zoom.drops_webhook() {
                debug!(
                    session,
                    step = played,
                    "left a demo Zoom webhook unsent (a fault)"
                );
                continue;
            }
            let body = event.to_string();
            let timestamp = Utc::now().timestamp().to_string();
            let signature = sign(&secret, &timestamp, body.as_bytes());
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-zm-request-timestamp", &timestamp)
                .header("x-zm-signature", signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    debug!(session, step = played, "played a demo Zoom event")
                }
                Ok(response) => {
                    warn!(status = %response.status(), "the gateway refused a demo Zoom event")
                }
                Err(e) => warn!(error = %e, "could not post a demo Zoom event"),
            }
        }
        running.retain(|(_, step)| *step < STEPS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoom::event::{parse, Inbound};
    use crate::zoom::fold::fold;

    #[test]
    fn every_scripted_event_is_a_valid_webhook_and_a_session_folds_to_ended() {
        let events: Vec<_> = (0..STEPS)
            .map(
                |step| match parse(event("run", 3, step).to_string().as_bytes()).expect("valid") {
                    Inbound::Event(e) => *e,
                    Inbound::UrlValidation { .. } => panic!("events only"),
                },
            )
            .collect();
        let session = fold(&events).expect("a session");
        assert!(session.ended);
        assert_eq!(session.participants.len(), 2);
        assert_eq!(
            session
                .participants
                .iter()
                .map(|p| p.connections.len())
                .sum::<usize>(),
            3
        );
    }
}
