//! Co-browse for Messenger: Genesys Cloud's co-browse since legacy co-browse
//! and screen share ended (27 January 2025). An agent offers co-browse
//! inside a web messaging or voice conversation; the customer's Messenger
//! accepts, rejects or lets the offer expire; one sharer, one viewer.
//!
//! No single upstream source tells a session's whole life
//! (`docs/upstream.md`, "Co-browse for Messenger"), so a session is a fold
//! of [`Fact`]s from three sources:
//! - the conversation's messages: an offer and its outcome (the message
//!   topics say which messages carry co-browse events, the messages routes
//!   name the session);
//! - the gateway's own offer mutation (the only trace of a voice offer);
//! - the customer's page (a script beside the Messenger forwards
//!   `sessionStarted` / `sessionEnded`): the only source of a start and end
//!   as they happened; without it, an end is inferred from the
//!   conversation's agent leg ending.
//!
//! Facts are stored once each (by [`Fact::key`]) and folded by
//! [`MessengerSession::apply`]; the same facts give the same session in
//! whatever order they arrive, except that among several offers of one
//! session the first heard fills its fields and the others fill gaps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::upstream::messages::JoinCode;

pub mod active;
pub(crate) mod signals;
pub mod stats;

/// The conversation channel a session was offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MessengerChannel {
    /// A web messaging conversation (`communicationType: Message`).
    WebMessaging,
    /// A voice call (`communicationType: Call`).
    Voice,
}

impl MessengerChannel {
    /// Its name in the store.
    pub(crate) fn wire(self) -> &'static str {
        match self {
            MessengerChannel::WebMessaging => "webmessaging",
            MessengerChannel::Voice => "voice",
        }
    }

    /// The channel of a `CobrowseWebMessagingSession.communicationType`
    /// (`Call`, `Message`; `Unknown` or anything else: none).
    pub(crate) fn of_communication_type(wire: &str) -> Option<Self> {
        match wire {
            "Message" => Some(MessengerChannel::WebMessaging),
            "Call" => Some(MessengerChannel::Voice),
            _ => None,
        }
    }
}

/// What became of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Not answered yet (and its offer has not ended).
    #[default]
    Pending,
    Accepted,
    Rejected,
    /// Not answered before `dateOfferEnds`.
    Expired,
}

impl Outcome {
    /// The outcome a message's co-browse event (sub)type names (`Offering`
    /// is the offer itself: none).
    pub(crate) fn of_event(wire: &str) -> Option<Self> {
        match wire {
            "OfferingAccepted" => Some(Outcome::Accepted),
            "OfferingRejected" => Some(Outcome::Rejected),
            "OfferingExpired" => Some(Outcome::Expired),
            _ => None,
        }
    }
}

/// Where a fact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FactSource {
    /// The conversation's messages (message topics, messages routes).
    Messages,
    /// The gateway's offer mutation.
    Gateway,
    /// The customer's page (the page script's report).
    Page,
    /// Inferred from the conversation: its agent leg ended.
    Conversation,
}

/// What one fact says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum What {
    /// Co-browse was offered.
    #[serde(rename_all = "camelCase")]
    Offered {
        source: FactSource,
        channel: Option<MessengerChannel>,
        offer_ends: Option<DateTime<Utc>>,
        queue_id: Option<String>,
        user_id: Option<String>,
        /// The code a viewer joins with. Shown only to callers who may
        /// act as an agent; never logged (`Debug` hides it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        join_code: Option<JoinCode>,
    },
    /// The customer answered the offer (or it expired).
    #[serde(rename_all = "camelCase")]
    Answered { outcome: Outcome },
    /// The session started.
    #[serde(rename_all = "camelCase")]
    Started { source: FactSource },
    /// The session ended.
    #[serde(rename_all = "camelCase")]
    Ended { source: FactSource },
}

/// One thing known of a session, from one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fact {
    /// What makes it one fact: the same fact heard again has the same key
    /// (`message:{id}` for a message, `offer:{session}` for the gateway's
    /// offer, `page:{session}:started`, `page:{session}:ended`,
    /// `leg:{session}` for an inferred end).
    pub key: String,
    pub session_id: String,
    pub conversation_id: String,
    /// When it happened, by its source's clock.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub what: What,
}

impl Fact {
    /// What it tells subscribers: `messenger.offered`, `.accepted`,
    /// `.rejected`, `.expired`, `.started` or `.ended`.
    pub fn event(&self) -> &'static str {
        match &self.what {
            What::Offered { .. } => "messenger.offered",
            What::Answered { outcome } => match outcome {
                Outcome::Accepted => "messenger.accepted",
                Outcome::Rejected => "messenger.rejected",
                Outcome::Expired => "messenger.expired",
                Outcome::Pending => "messenger.offered",
            },
            What::Started { .. } => "messenger.started",
            What::Ended { .. } => "messenger.ended",
        }
    }

    /// The change it made to `session` (as it is after it), for
    /// subscribers and the other replicas.
    pub fn change(&self, session: &MessengerSession) -> Change {
        Change {
            event: self.event().to_owned(),
            session_id: self.session_id.clone(),
            conversation_id: self.conversation_id.clone(),
            active: session.phase(Utc::now()) == Phase::Active,
        }
    }

    /// Its place in the canonical order: time, then key.
    fn rank(&self) -> (DateTime<Utc>, &str) {
        (self.at, &self.key)
    }
}

/// A change of a session, as subscribers are told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// [`Fact::event`].
    pub event: String,
    pub session_id: String,
    pub conversation_id: String,
    /// Whether the session goes on after it (`ACTIVE`).
    #[serde(default)]
    pub active: bool,
}

/// A time and the source that told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub at: DateTime<Utc>,
    pub source: FactSource,
}

/// A Messenger co-browse session as its facts describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessengerSession {
    pub id: String,
    pub conversation_id: String,
    pub channel: Option<MessengerChannel>,
    pub queue_id: Option<String>,
    pub user_id: Option<String>,
    /// When it was offered, and by which source first.
    pub offered: Option<Told>,
    pub offer_ends: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    /// When the outcome was told (and the key of its fact, for order).
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    answer_key: String,
    /// The start the page reported.
    pub page_start: Option<DateTime<Utc>>,
    /// The earliest end told, by the best source (the page over an
    /// inference from the conversation).
    pub end: Option<Told>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_code: Option<JoinCode>,
    /// How many distinct facts made it.
    pub facts: usize,
}

/// Whether a session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Offered, not answered, the offer not ended.
    Offered,
    /// Accepted (or reported started) and not ended.
    Active,
    /// Ended, or never started (rejected, expired).
    Ended,
}

impl MessengerSession {
    /// A session nothing is known of yet.
    pub fn new(id: &str, conversation_id: &str) -> Self {
        Self {
            id: id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            channel: None,
            queue_id: None,
            user_id: None,
            offered: None,
            offer_ends: None,
            outcome: Outcome::Pending,
            answered_at: None,
            answer_key: String::new(),
            page_start: None,
            end: None,
            join_code: None,
            facts: 0,
        }
    }

    /// Folds in one new fact (the store has checked it is not a repeat):
    /// whether it changed what subscribers are told of (the first offer,
    /// the outcome, the start, the end or its source).
    pub fn apply(&mut self, fact: &Fact) -> bool {
        self.facts += 1;
        let at = fact.at;
        match &fact.what {
            What::Offered {
                source,
                channel,
                offer_ends,
                queue_id,
                user_id,
                join_code,
            } => {
                let told = self.offered.is_none();
                let first = self.offered.is_none_or(|o| at < o.at);
                if first {
                    self.offered = Some(Told {
                        at,
                        source: *source,
                    });
                }
                fill(&mut self.channel, channel, first);
                fill(&mut self.offer_ends, offer_ends, first);
                fill(&mut self.queue_id, queue_id, first);
                fill(&mut self.user_id, user_id, first);
                fill(&mut self.join_code, join_code, first);
                told
            }
            What::Answered { outcome } => {
                let earlier = match self.answered_at {
                    None => true,
                    Some(t) => fact.rank() < (t, self.answer_key.as_str()),
                };
                let told = earlier && self.outcome != *outcome;
                if earlier {
                    self.outcome = *outcome;
                    self.answered_at = Some(at);
                    self.answer_key = fact.key.clone();
                }
                told
            }
            What::Started { .. } => {
                let told = self.page_start.is_none();
                self.page_start = Some(self.page_start.map_or(at, |t| t.min(at)));
                told
            }
            What::Ended { source } => {
                let told = Told {
                    at,
                    source: *source,
                };
                let before = self.end;
                self.end = Some(match self.end {
                    None => told,
                    Some(old) => better_end(old, told),
                });
                before.map(|b| b.source) != self.end.map(|e| e.source)
            }
        }
    }

    /// When it started: the page's report, else the acceptance.
    pub fn start(&self) -> Option<Told> {
        if let Some(at) = self.page_start {
            return Some(Told {
                at,
                source: FactSource::Page,
            });
        }
        match (self.outcome, self.answered_at) {
            (Outcome::Accepted, Some(at)) => Some(Told {
                at,
                source: FactSource::Messages,
            }),
            _ => None,
        }
    }

    /// The outcome as of `now`: a session the page reported started was
    /// accepted (voice leaves no message to say so); a pending offer whose
    /// `dateOfferEnds` passed has expired, whether or not a message said so.
    pub fn outcome_at(&self, now: DateTime<Utc>) -> Outcome {
        match (self.outcome, self.offer_ends) {
            (Outcome::Pending, _) if self.page_start.is_some() => Outcome::Accepted,
            (Outcome::Pending, Some(ends)) if ends <= now => Outcome::Expired,
            (outcome, _) => outcome,
        }
    }

    /// Whether it goes on as of `now`.
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if self.end.is_some() {
            return Phase::Ended;
        }
        if self.start().is_some() {
            return Phase::Active;
        }
        match self.outcome_at(now) {
            Outcome::Pending => Phase::Offered,
            Outcome::Accepted => Phase::Active,
            Outcome::Rejected | Outcome::Expired => Phase::Ended,
        }
    }

    /// When it ended (a session that never started has no end).
    pub fn end(&self) -> Option<Told> {
        self.end
    }

    /// The time it is listed by: its start, else when it was offered.
    pub fn listed_at(&self) -> Option<DateTime<Utc>> {
        self.start().map(|s| s.at).or(self.offered.map(|o| o.at))
    }
}

/// The better of two ends: the page's over an inference, then the earlier.
fn better_end(a: Told, b: Told) -> Told {
    let inferred = |t: &Told| t.source == FactSource::Conversation;
    match (inferred(&a), inferred(&b)) {
        (true, false) => b,
        (false, true) => a,
        _ if b.at < a.at => b,
        _ => a,
    }
}

/// Sets `slot` to `value` when `value` has one and either `slot` has none
/// or `value` comes from the first offer.
fn fill<T: Clone>(slot: &mut Option<T>, value: &Option<T>, first: bool) {
    if value.is_some() && (first || slot.is_none()) {
        slot.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("a time")
    }

    fn fact(key: &str, s: i64, what: What) -> Fact {
        Fact {
            key: key.into(),
            session_id: "s1".into(),
            conversation_id: "c1".into(),
            at: at(s),
            what,
        }
    }

    fn offered(source: FactSource, ends: i64, code: Option<&str>) -> What {
        What::Offered {
            source,
            channel: Some(MessengerChannel::WebMessaging),
            offer_ends: Some(at(ends)),
            queue_id: Some("q".into()),
            user_id: None,
            join_code: code.map(JoinCode::new),
        }
    }

    fn fold(facts: &[Fact]) -> MessengerSession {
        let mut s = MessengerSession::new("s1", "c1");
        for f in facts {
            let _ = s.apply(f);
        }
        s
    }

    #[test]
    fn the_same_facts_fold_to_the_same_session_in_any_order() {
        let facts = vec![
            fact(
                "message:m1",
                0,
                offered(FactSource::Messages, 300, Some("J1")),
            ),
            fact(
                "message:m2",
                20,
                What::Answered {
                    outcome: Outcome::Accepted,
                },
            ),
            fact(
                "page:s1:started",
                22,
                What::Started {
                    source: FactSource::Page,
                },
            ),
            fact(
                "leg:s1",
                500,
                What::Ended {
                    source: FactSource::Conversation,
                },
            ),
            fact(
                "page:s1:ended",
                600,
                What::Ended {
                    source: FactSource::Page,
                },
            ),
        ];
        let forward = fold(&facts);
        let mut reversed = facts.clone();
        reversed.reverse();
        assert_eq!(forward, fold(&reversed));
        let start = forward.start().expect("started");
        assert_eq!((start.at, start.source), (at(22), FactSource::Page));
        // The page's end wins over the inference, though it is later.
        let end = forward.end().expect("ended");
        assert_eq!((end.at, end.source), (at(600), FactSource::Page));
        assert_eq!(forward.phase(at(10_000)), Phase::Ended);
    }

    #[test]
    fn an_offer_goes_from_offered_to_active_or_ended_by_its_outcome() {
        let offer = fact("message:m1", 0, offered(FactSource::Messages, 300, None));
        let pending = fold(std::slice::from_ref(&offer));
        assert_eq!(pending.phase(at(10)), Phase::Offered);
        // Past `dateOfferEnds` with no answer: expired, told or not.
        assert_eq!(pending.outcome_at(at(301)), Outcome::Expired);
        assert_eq!(pending.phase(at(301)), Phase::Ended);
        let accepted = fold(&[
            offer.clone(),
            fact(
                "message:m2",
                20,
                What::Answered {
                    outcome: Outcome::Accepted,
                },
            ),
        ]);
        assert_eq!(accepted.phase(at(10_000)), Phase::Active);
        assert_eq!(
            accepted.start().map(|s| s.source),
            Some(FactSource::Messages)
        );
        let rejected = fold(&[
            offer,
            fact(
                "message:m2",
                20,
                What::Answered {
                    outcome: Outcome::Rejected,
                },
            ),
        ]);
        assert_eq!(rejected.phase(at(30)), Phase::Ended);
        assert_eq!(rejected.start(), None);
        assert_eq!(rejected.end(), None);
    }

    #[test]
    fn a_voice_offer_starts_with_the_page_report_alone() {
        let s = fold(&[
            fact(
                "offer:s1",
                0,
                What::Offered {
                    source: FactSource::Gateway,
                    channel: Some(MessengerChannel::Voice),
                    offer_ends: Some(at(300)),
                    queue_id: None,
                    user_id: Some("agent".into()),
                    join_code: Some(JoinCode::new("123456")),
                },
            ),
            fact(
                "page:s1:started",
                40,
                What::Started {
                    source: FactSource::Page,
                },
            ),
        ]);
        // Started before the offer ended: never expired.
        assert_eq!(s.phase(at(1_000)), Phase::Active);
        assert_eq!(s.outcome_at(at(1_000)), Outcome::Accepted);
        assert_eq!(s.listed_at(), Some(at(40)));
    }

    #[test]
    fn a_join_code_never_prints() {
        let s = fold(&[fact(
            "m",
            0,
            offered(FactSource::Gateway, 9, Some("SECRET-CODE")),
        )]);
        assert!(!format!("{s:?}").contains("SECRET-CODE"));
        assert_eq!(
            s.join_code.as_ref().map(JoinCode::expose),
            Some("SECRET-CODE")
        );
    }
}
