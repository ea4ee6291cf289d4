//! The GraphQL values of Co-browse for Messenger that every session shows:
//! which co-browse product it is, the channel it was offered in, its offer
//! and the source of its start and end. A leaf below `conversation.rs`.

use std::sync::Arc;

use async_graphql::{Enum, Object};

use crate::messenger::{self, MessengerSession};
use crate::purecloud::Time;

/// Which co-browse product a session is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionProduct {
    /// Genesys Cloud's legacy co-browse for chat and voice (support ended 27 January 2025; its routes and data remain).
    LegacyCobrowse,
    /// Genesys Cloud's legacy screen share.
    LegacyScreenshare,
    /// Genesys Cloud Co-browse for Messenger (web messaging and voice).
    MessengerCobrowse,
    /// Zoom Cobrowse SDK.
    ZoomCobrowse,
}

/// The conversation channel a Messenger session was offered in.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionChannel {
    /// A web messaging conversation.
    WebMessaging,
    /// A voice call.
    Voice,
}

impl From<messenger::MessengerChannel> for SessionChannel {
    fn from(channel: messenger::MessengerChannel) -> Self {
        match channel {
            messenger::MessengerChannel::WebMessaging => SessionChannel::WebMessaging,
            messenger::MessengerChannel::Voice => SessionChannel::Voice,
        }
    }
}

/// What became of a co-browse offer.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum OfferOutcome {
    /// Not answered yet, and its time is not up.
    Pending,
    Accepted,
    Rejected,
    /// Not answered before the offer ended.
    Expired,
}

impl From<messenger::Outcome> for OfferOutcome {
    fn from(outcome: messenger::Outcome) -> Self {
        match outcome {
            messenger::Outcome::Pending => OfferOutcome::Pending,
            messenger::Outcome::Accepted => OfferOutcome::Accepted,
            messenger::Outcome::Rejected => OfferOutcome::Rejected,
            messenger::Outcome::Expired => OfferOutcome::Expired,
        }
    }
}

/// Who told the gateway a session's start or end.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimeSource {
    /// The provider's own record of the session: legacy co-browse and screen-share communications, Zoom's webhooks.
    Provider,
    /// Co-browse for Messenger: the conversation's messages (an accepted offer starts the session).
    Messages,
    /// Co-browse for Messenger: the customer's page (the gateway's page script forwarding the Messenger's `sessionStarted` and `sessionEnded`).
    Page,
    /// Co-browse for Messenger: inferred: the conversation's agent leg ended, and the page did not report the session's end.
    Conversation,
}

impl From<messenger::FactSource> for TimeSource {
    fn from(source: messenger::FactSource) -> Self {
        match source {
            messenger::FactSource::Messages | messenger::FactSource::Gateway => {
                TimeSource::Messages
            }
            messenger::FactSource::Page => TimeSource::Page,
            messenger::FactSource::Conversation => TimeSource::Conversation,
        }
    }
}

/// Who made a co-browse offer known to the gateway.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum OfferSource {
    /// The conversation's messages (the message topics and routes).
    Messages,
    /// The gateway's `offerCobrowse` mutation.
    Gateway,
}

/// A Co-browse for Messenger offer.
pub(crate) struct SessionOffer(pub(crate) Arc<MessengerSession>);

/// An agent's offer of co-browse in a conversation, and its outcome.
#[Object]
impl SessionOffer {
    /// When it was offered.
    async fn offered_at(&self) -> Option<Time> {
        self.0.offered.map(|o| o.at)
    }
    /// When the offer ends unanswered (`dateOfferEnds`), when known (the offer's answer has it; a message does not).
    async fn ends_at(&self) -> Option<Time> {
        self.0.offer_ends
    }
    /// What became of it (as of now: an unanswered offer past its end has expired).
    async fn outcome(&self) -> OfferOutcome {
        self.0.outcome_at(crate::freshness::now_utc()).into()
    }
    /// When the customer answered (or the offer expired, when told).
    async fn answered_at(&self) -> Option<Time> {
        self.0.answered_at
    }
    /// Who made the offer known to the gateway.
    async fn source(&self) -> Option<OfferSource> {
        self.0.offered.map(|o| match o.source {
            messenger::FactSource::Gateway => OfferSource::Gateway,
            _ => OfferSource::Messages,
        })
    }
}

/// Why a Messenger session ended, in words (null while it goes on).
pub(crate) fn end_reason(session: &MessengerSession, now: Time) -> Option<&'static str> {
    if let Some(end) = session.end() {
        return Some(match end.source {
            messenger::FactSource::Page => "The customer's page reported the session ended",
            messenger::FactSource::Conversation => {
                "The agent's leg of the conversation ended (no report from the customer's page)"
            }
            messenger::FactSource::Messages | messenger::FactSource::Gateway => "The session ended",
        });
    }
    if session.start().is_some() {
        return None;
    }
    match session.outcome_at(now) {
        messenger::Outcome::Rejected => Some("The customer rejected the offer"),
        messenger::Outcome::Expired => Some("The offer expired unanswered"),
        messenger::Outcome::Pending | messenger::Outcome::Accepted => None,
    }
}
