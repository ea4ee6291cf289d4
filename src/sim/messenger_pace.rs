//! The demo's Co-browse for Messenger: at the demo pace, customers start
//! web messaging and voice conversations, agents offer co-browse through
//! the same path as the real route, customers accept, reject or let offers
//! expire, and the customers' pages (when the simulator knows the
//! gateway's page-report endpoint) report sessions starting and ending, as
//! the gateway's page script would; some sessions end only with their
//! conversation's agent leg.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::messenger_wire::PageReported;
use super::SimState;

/// One page report to send: the session, the event, the channel.
type Report = (String, &'static str, &'static str);

impl SimState {
    /// One step of the Messenger demo: keeps `target` conversations going
    /// and moves one of them on; the page reports it makes are sent to
    /// `pages` (the gateway's base URL) from the simulator's own origin.
    pub(crate) async fn messenger_step(
        self: &Arc<Self>,
        target: usize,
        pages: Option<&str>,
        own: &str,
    ) {
        let now = Utc::now();
        let going = self.messaging.lock().expect("messaging lock").going_on();
        if going.len() < target {
            let mut rng = rand::rng();
            let (voice, direct) = (rng.random_bool(0.3), rng.random_bool(0.1));
            self.start_messaging(voice, direct, now);
            return;
        }
        let pick = going[rand::rng().random_range(0..going.len())].clone();
        let report = self.move_on(&pick, now);
        if let (Some((session, event, channel)), Some(base)) = (report, pages) {
            let body =
                serde_json::json!({ "sessionId": session, "event": event, "channel": channel });
            let sent = reqwest::Client::new()
                .post(format!("{base}/messenger/page-reports"))
                .header("origin", own)
                .body(body.to_string())
                .send()
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "the demo page could not report to the gateway");
            }
        }
    }

    /// Moves conversation `id`'s co-browse story on by one step: a page
    /// report to send, if that step is one.
    fn move_on(self: &Arc<Self>, id: &str, now: DateTime<Utc>) -> Option<Report> {
        let mut messaging = self.messaging.lock().expect("messaging lock");
        let c = messaging.conversations.get_mut(id)?;
        let channel = if c.voice { "voice" } else { "webmessaging" };
        let last = c
            .offers
            .last()
            .map(|o| (o.answer.map(|a| a.0), o.page, o.ends, o.session_id.clone()));
        let mut rng = rand::rng();
        match last {
            None => {
                let (body, ends) = self.make_offer(c, now);
                messaging.sessions.insert(body.id, id.to_owned());
                drop(messaging);
                self.expire_at(ends, now);
                None
            }
            // Unanswered (voice is answered by its page alone).
            Some((None, PageReported::No, ends, session)) if ends > now => {
                if c.voice || rng.random_bool(0.75) {
                    let offer = c.offers.last_mut()?;
                    offer.answer = Some(("OfferingAccepted", now));
                    offer.page = PageReported::Started;
                    c.say(true, "OfferingAccepted", &session, None, now);
                    self.messaging_changed(c);
                    Some((session, "sessionStarted", channel))
                } else {
                    c.offers.last_mut()?.answer = Some(("OfferingRejected", now));
                    c.say(true, "OfferingRejected", &session, None, now);
                    self.messaging_changed(c);
                    None
                }
            }
            Some((_, PageReported::Started, _, session)) if rng.random_bool(0.5) => {
                c.offers.last_mut()?.page = PageReported::Ended;
                Some((session, "sessionEnded", channel))
            }
            // Over (or the page never says): the agent's leg ends.
            Some(_) => {
                c.agent_ended.get_or_insert(now);
                self.messaging_changed(c);
                None
            }
        }
    }
}
