//! Sessions whose end never came: Zoom's deliveries can be lost (and a
//! stopped demo leaves its sessions open), so a session with no event for
//! `webhooks.zoom_idle_after` is taken as ended by an event of the
//! gateway's own, stored like Zoom's: `gateway.session_idle_ended`, which
//! names the latest activity it saw (`quiet_since`). The marker is a
//! function of the session and that activity alone (its time is
//! `quiet_since` plus the window), so every replica that makes it makes the
//! same one, stored once. Any event later than `quiet_since` makes the
//! session active again ([`super::parts::Head`]).

use super::event::{parse_stored, Inbound, ZoomEvent};

/// The idle end of session `session_id` of `account_id`, whose latest
/// activity was at `quiet_since` (epoch ms), after `idle_after_s`.
pub(crate) fn idle_end(
    account_id: &str,
    session_id: &str,
    quiet_since: i64,
    idle_after_s: u64,
) -> ZoomEvent {
    let window = i64::try_from(idle_after_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let body = serde_json::json!({
        "event": super::event::EventKind::IdleEnded.wire(),
        "event_ts": quiet_since.saturating_add(window),
        "payload": {
            "account_id": account_id,
            "object": {
                "session_id": session_id,
                "quiet_since": quiet_since,
                "idle_after_s": idle_after_s,
            },
        },
    });
    match parse_stored(body.to_string().as_bytes()) {
        Ok(Inbound::Event(event)) => *event,
        other => unreachable!("the gateway's idle end reads back: {other:?}"),
    }
}

/// The end reason an idle end gives.
pub(crate) fn reason(idle_after_s: u64) -> String {
    let window = humantime::format_duration(std::time::Duration::from_secs(idle_after_s));
    format!("No event for {window}: taken as ended (it went idle)")
}
