//! The demo's Co-browse for Messenger, in a steady state from its first
//! second: `target` web messaging and voice conversations go on, each at
//! its own place in one story (an agent offers co-browse through the same
//! path as the real route; the customer accepts, rejects or lets the offer
//! expire; the session goes on for a while; the customer's page reports it
//! ending, or it ends with the agent's leg), spread evenly over the story's
//! steps when the demo starts ([`SimState::messenger_warm_up`]). Each pace
//! moves the conversation that waited longest one step on, so the spread
//! holds however long the demo runs. What a customer does is chosen by the
//! conversation's number, not by chance: the mix is the same at every
//! moment.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::messenger_wire::{PageReported, Story};
use super::SimState;

/// One page report to send: the session, the event, the channel.
type PageReportSent = (String, &'static str, &'static str);

/// The steps of a story, from the conversation's start to its agent leg's
/// end (a rejected offer ends sooner).
pub(crate) const STEPS: u8 = 6;

/// What the customer of story `index` does with the offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OfferAnswer {
    Accept,
    Reject,
    LetExpire,
}

fn answer(index: u64) -> OfferAnswer {
    match index % 8 {
        3 => OfferAnswer::Reject,
        6 => OfferAnswer::LetExpire,
        _ => OfferAnswer::Accept,
    }
}

/// Whether story `index` is a voice call (one in five; voice leaves no
/// message: the gateway sees only what its own offers and the pages say).
fn voice(index: u64) -> bool {
    index % 5 == 4
}

impl SimState {
    /// One step of the Messenger demo: a new conversation while fewer than
    /// `target` go on, else the one that waited longest moves on; the page
    /// report that step makes is sent to `pages` (the gateway's base URL)
    /// from the simulator's own origin.
    pub(crate) async fn messenger_step(
        self: &Arc<Self>,
        target: usize,
        pages: Option<&str>,
        own: &str,
    ) {
        let now = Utc::now();
        let Some(pick) = self.next_story(target, now) else {
            return;
        };
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

    /// The demo at its start: `target` conversations, the `j`-th `j` steps
    /// (modulo the story's length) into its story, each step `step` ago
    /// apart, as if the demo had always run.
    pub(crate) fn messenger_warm_up(self: &Arc<Self>, target: usize, step: chrono::Duration) {
        let now = Utc::now();
        for j in 0..target {
            let stage = (j % usize::from(STEPS)) as i32;
            let started = now - step * (stage + 1);
            let id = self.start_story(started);
            for taken in 0..stage {
                self.move_on(&id, started + step * (taken + 1));
            }
        }
    }

    /// The conversation to move on (none: a new one was started).
    fn next_story(self: &Arc<Self>, target: usize, now: DateTime<Utc>) -> Option<String> {
        let messaging = self.messaging.lock().expect("messaging lock");
        let going = messaging.going_on();
        if going.len() < target {
            drop(messaging);
            self.start_story(now);
            return None;
        }
        going
            .iter()
            .filter_map(|id| messaging.conversation(id))
            .min_by_key(|c| c.story.map(|s| s.moved))
            .map(|c| c.id.clone())
    }

    /// A customer starts the next story's conversation at `at`: its id.
    fn start_story(&self, at: DateTime<Utc>) -> String {
        let index = {
            let mut messaging = self.messaging.lock().expect("messaging lock");
            messaging.stories += 1;
            messaging.stories - 1
        };
        let started = self.start_messaging(voice(index), index % 10 == 7, at);
        let mut messaging = self.messaging.lock().expect("messaging lock");
        if let Some(c) = messaging.conversations.get_mut(&started.id) {
            c.story = Some(Story {
                index,
                stage: 0,
                moved: at,
            });
        }
        started.id
    }

    /// Moves conversation `id`'s story on by one step at `now`: a page
    /// report to send, if that step is one.
    fn move_on(self: &Arc<Self>, id: &str, now: DateTime<Utc>) -> Option<PageReportSent> {
        let mut messaging = self.messaging.lock().expect("messaging lock");
        let c = messaging.conversations.get_mut(id)?;
        let mut story = c.story?;
        story.moved = now;
        story.stage += 1;
        c.story = Some(story);
        let channel = if c.voice { "voice" } else { "webmessaging" };
        let answer = answer(story.index);
        let session = c.offers.last().map(|o| o.session_id.clone());
        match (story.stage, session) {
            (1, _) => {
                let (body, ends) = self.make_offer(c, now);
                messaging.sessions.insert(body.id, id.to_owned());
                drop(messaging);
                self.expire_at(ends, now);
                None
            }
            (2, Some(session)) if answer == OfferAnswer::Accept => {
                let offer = c.offers.last_mut()?;
                offer.answer = Some(("OfferingAccepted", now));
                offer.page = PageReported::Started;
                c.say(true, "OfferingAccepted", &session, None, now);
                self.messaging_changed(c);
                Some((session, "sessionStarted", channel))
            }
            (2, Some(session)) if answer == OfferAnswer::Reject => {
                c.offers.last_mut()?.answer = Some(("OfferingRejected", now));
                c.say(true, "OfferingRejected", &session, None, now);
                self.messaging_changed(c);
                None
            }
            // The customer's page says the session ended (every other
            // accepted one; the others end with the agent's leg).
            (5, Some(session)) if answer == OfferAnswer::Accept && story.index % 2 == 0 => {
                c.offers.last_mut()?.page = PageReported::Ended;
                Some((session, "sessionEnded", channel))
            }
            (stage, _) if stage >= STEPS || (stage >= 4 && answer == OfferAnswer::Reject) => {
                c.agent_ended.get_or_insert(now);
                self.messaging_changed(c);
                None
            }
            // The session (or the open offer) goes on.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stories' mix: accepted web messaging sessions going on, as the
    /// gateway sees them (voice leaves no message).
    fn going_on_web(sim: &SimState) -> usize {
        let messaging = sim.messaging.lock().expect("messaging lock");
        messaging
            .conversations
            .values()
            .filter(|c| c.agent_ended.is_none() && !c.voice)
            .filter(|c| {
                c.offers.last().is_some_and(|o| {
                    o.answer.is_some_and(|a| a.0 == "OfferingAccepted")
                        && o.page != PageReported::Ended
                })
            })
            .count()
    }

    #[tokio::test]
    async fn the_demo_keeps_accepted_sessions_going_from_its_first_step_on() {
        let sim = crate::sim::Simulator::start(crate::sim::SimConfig::local(4, 1))
            .await
            .expect("a simulator");
        let state = sim.state();
        state.messenger_warm_up(12, chrono::Duration::seconds(60));
        let first = going_on_web(&state);
        assert!(first >= 2, "{first} from the first second");
        let mut counts = Vec::new();
        for _ in 0..600 {
            state.messenger_step(12, None, "").await;
            counts.push(going_on_web(&state));
        }
        let (least, most) = (
            counts.iter().min().copied().unwrap_or(0),
            counts.iter().max().copied().unwrap_or(0),
        );
        assert!(least >= 2, "at least two at every step: {counts:?}");
        assert!(most <= first * 2 + 1, "no wave: {counts:?}");
    }
}
