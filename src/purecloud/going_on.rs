//! What "going on" means, written once and used by every path (pushed
//! events, back-fills from analytics, passthrough listings, the graph, the
//! wall):
//!
//! - a **communication goes on** while its state is neither `disconnected`
//!   nor `terminated` and it has no end (a `disconnectedTime`; where a shape
//!   gives only its participant, as the co-browse view and the screen-share
//!   event do, the participant's `endTime`; in an analytics record, a
//!   segment without its end);
//! - a **session is ACTIVE** while one of its communications goes on;
//! - a **conversation is listed** by `activeCobrowseConversations` while
//!   one of its co-browse or screen-share communications goes on. A
//!   conversation whose communications ended, with its agent still in
//!   wrap-up (`conversationEnd` not yet set upstream), is not listed: it
//!   stays readable by id and in history.

use super::{ConversationModel, Time};
use crate::upstream::analytics::AnalyticsConversation;
use crate::upstream::enums::CommunicationState;
use crate::upstream::events::ScreenShareEventParticipant;
use crate::upstream::model::{
    CobrowseConversation, CobrowseMediaParticipant, Cobrowsesession, Screenshare,
};
use crate::upstream::wire::Wire;

/// Whether a communication in `state`, ended at `ended` (if it has), goes
/// on.
pub(crate) fn goes_on(state: Option<&Wire<CommunicationState>>, ended: Option<Time>) -> bool {
    ended.is_none() && state.is_some_and(|s| !s.get().is_ended())
}

/// Whether a co-browse communication goes on.
pub(crate) fn cobrowse(comm: &Cobrowsesession) -> bool {
    goes_on(comm.state.as_ref(), comm.disconnected_time)
}

/// Whether a screen-share communication goes on.
pub(crate) fn screenshare(share: &Screenshare) -> bool {
    goes_on(share.state.as_ref(), share.disconnected_time)
}

/// Whether a participant of the co-browse view holds a co-browse
/// communication that goes on.
pub(crate) fn view_participant(p: &CobrowseMediaParticipant) -> bool {
    p.cobrowse_session_id.is_some() && goes_on(p.state.as_ref(), p.end_time)
}

/// Whether a participant of a screen-share event holds a screen share that
/// goes on.
pub(crate) fn screenshare_participant(p: &ScreenShareEventParticipant) -> bool {
    goes_on(p.state.as_ref(), p.end_time)
}

/// Whether a conversation as its co-browse view gives it is listed.
pub(crate) fn view(view: &CobrowseConversation) -> bool {
    view.participants.iter().any(view_participant)
}

/// Whether a conversation as its analytics record gives it is listed (its
/// sessions' segments, not only `conversationEnd`, which stays unset while
/// wrap-up is pending).
pub(crate) fn record(record: &AnalyticsConversation) -> bool {
    record.conversation_end.is_none()
        && super::from_record(
            record.conversation_id.as_deref().unwrap_or_default(),
            record,
        )
        .is_listed()
}

impl ConversationModel {
    /// Whether it is listed: one of its co-browse or screen-share
    /// communications goes on.
    pub(crate) fn is_listed(&self) -> bool {
        self.participants.iter().any(|p| {
            p.cobrowsesessions.iter().any(cobrowse) || p.screenshares.iter().any(screenshare)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        s.parse().expect("a time")
    }

    #[test]
    fn a_communication_goes_on_until_it_is_disconnected_terminated_or_has_an_end() {
        let state = |s: &str| Some(Wire::new(s));
        assert!(goes_on(state("connected").as_ref(), None));
        assert!(goes_on(state("alerting").as_ref(), None));
        assert!(
            goes_on(state("someNewState").as_ref(), None),
            "unknown is not over"
        );
        assert!(!goes_on(state("disconnected").as_ref(), None));
        assert!(!goes_on(state("terminated").as_ref(), None));
        assert!(
            !goes_on(None, None),
            "a communication without a state is not known to go on"
        );
        let end = Some(time("2026-03-01T10:00:00Z"));
        assert!(!goes_on(state("connected").as_ref(), end), "an end ends it");
    }

    #[test]
    fn a_view_is_listed_by_its_co_browse_participants_only() {
        let participant =
            |session: Option<&str>, state: &str, end: Option<Time>| CobrowseMediaParticipant {
                cobrowse_session_id: session.map(str::to_owned),
                state: Some(Wire::new(state)),
                end_time: end,
                ..CobrowseMediaParticipant::default()
            };
        let of = |participants| CobrowseConversation {
            participants,
            ..CobrowseConversation::default()
        };
        let ended = Some(time("2026-03-01T10:00:00Z"));
        assert!(view(&of(vec![participant(Some("s"), "connected", None)])));
        // In wrap-up: every co-browse participant disconnected, its end set.
        assert!(!view(&of(vec![
            participant(Some("s"), "disconnected", ended),
            participant(Some("s"), "disconnected", ended),
        ])));
        // The call goes on, the co-browse does not.
        assert!(!view(&of(vec![
            participant(None, "connected", None),
            participant(Some("s"), "disconnected", None),
        ])));
    }
}
