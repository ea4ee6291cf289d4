//! The simulator's world: its conversations, each held in its full form
//! and in its co-browse view (`CobrowseConversation`) so that the two stay
//! consistent and mutations update both, the users, queues and wrap-up
//! codes they refer to, each conversation's phase of life, and the pieces
//! conversations are made of (segments, media, references), which seeding
//! ([`super::seeding`]) and life ([`super::life`]) both use.
//!
//! A few values are deliberately ones the gateway does not know (a segment of
//! type `Sharing`), as a growing upstream would send them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use serde::{Deserialize, Serialize};

use crate::upstream::model::*;
use crate::upstream::wire::Wire;

pub(super) const FIRST_NAMES: &[&str] = &[
    "Ava", "Noah", "Mia", "Liam", "Zoe", "Ethan", "Aria", "Lucas", "Chloe", "Mateo", "Nora",
    "Omar", "Ines", "Kenji", "Priya", "Sven", "Leila", "Tomas", "Yara", "Felix",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "Thompson", "Garcia", "Okafor", "Nakamura", "Schmidt", "Rossi", "Haddad", "Novak", "Silva",
    "Kowalski", "Dubois", "Larsen", "Moreau", "Ibrahim", "Chen", "Murphy",
];
pub(super) const PAGES: &[&str] = &[
    "/checkout",
    "/account/settings",
    "/loans/apply",
    "/claims/new",
    "/billing/invoices",
    "/onboarding/step-3",
];

/// The provider name the simulator reports for co-browse.
pub(crate) const COBROWSE_PROVIDER: &str = "PureCloud Cobrowse";

/// One conversation in both of its upstream shapes, and where it is in its
/// life ([`Phase`]).
#[derive(Clone, Debug)]
pub(crate) struct SimConversation {
    pub full: Conversation,
    pub view: CobrowseConversation,
    pub phase: LifePhase,
    /// When it last changed.
    pub changed: DateTime<Utc>,
    /// Its full form before that change: what analytics, which lags real
    /// time, still reports for a while (none: it did not exist).
    pub before: Option<Box<Conversation>>,
}

/// The divisions conversations belong to: `(id, name)`.
pub(crate) const DIVISIONS: [(&str, &str); 2] = [("div-north", "North"), ("div-south", "South")];

impl SimConversation {
    /// Notes that it is about to change at `now` (keeping the form that
    /// analytics reports until its lag has passed).
    pub(crate) fn will_change(&mut self, now: DateTime<Utc>) {
        self.before = Some(Box::new(self.full.clone()));
        self.changed = now;
    }

    /// The full form analytics reports at `now`, lagging real time by
    /// `lag`: the one before the last change while that change is recent
    /// (none when the conversation itself is that recent).
    pub(crate) fn as_analytics_sees(
        &self,
        now: DateTime<Utc>,
        lag: Duration,
    ) -> Option<&Conversation> {
        if self.changed <= now - lag {
            Some(&self.full)
        } else {
            self.before.as_deref()
        }
    }
    /// The id of the division the conversation belongs to.
    pub(crate) fn division(&self) -> Option<&str> {
        self.full
            .divisions
            .first()
            .and_then(|d| d.division.as_ref())
            .and_then(|d| d.id.as_deref())
    }

    /// Whether any co-browse communication is still going.
    pub(crate) fn has_active_cobrowse(&self) -> bool {
        self.full.participants.iter().any(|p| {
            p.cobrowsesessions
                .iter()
                .any(|c| c.state.as_ref().is_some_and(|s| !s.get().is_ended()))
        })
    }

    /// Disconnects every live communication of a participant (upstream's
    /// participant PATCH): the conversation ends with its last co-browse.
    pub(crate) fn disconnect(&mut self, participant_id: &str, now: DateTime<Utc>) -> bool {
        if !self.hang_up(participant_id, now) {
            return false;
        }
        if !self.has_active_cobrowse() {
            self.finish(now);
            self.phase = LifePhase::Ended;
        }
        self.changed = now;
        true
    }

    /// The conversation is over: it has its end, and the view reports
    /// every participant `terminated` (after-call work done), which is how
    /// a notification event says that a conversation ended.
    pub(crate) fn finish(&mut self, now: DateTime<Utc>) {
        self.full.end_time.get_or_insert(now);
        for participant in &mut self.view.participants {
            participant.state = Some(Wire::new("terminated"));
            participant.end_time.get_or_insert(now);
        }
    }

    /// Disconnects every live communication of a participant, and ends its
    /// participation; the conversation goes on.
    pub(super) fn hang_up(&mut self, participant_id: &str, now: DateTime<Utc>) -> bool {
        let Some(participant) = self
            .full
            .participants
            .iter_mut()
            .find(|p| p.id.as_deref() == Some(participant_id))
        else {
            return false;
        };
        disconnect_media(participant, (true, true), now);
        participant.end_time.get_or_insert(now);
        if let Some(media) = self.media_mut(participant_id) {
            media.state = Some(Wire::new("disconnected"));
            media.disconnect_type = Some(Wire::new("client"));
            media.end_time.get_or_insert(now);
        }
        true
    }

    /// Every live co-browse and/or screen-share communication of every
    /// participant disconnects; the participants stay (a call or chat that
    /// goes on).
    pub(super) fn end_media(&mut self, (cobrowse, screenshare): (bool, bool), now: DateTime<Utc>) {
        for participant in &mut self.full.participants {
            disconnect_media(participant, (cobrowse, screenshare), now);
        }
    }

    /// The co-browse view of a participant.
    pub(crate) fn media_mut(
        &mut self,
        participant_id: &str,
    ) -> Option<&mut CobrowseMediaParticipant> {
        self.view
            .participants
            .iter_mut()
            .find(|p| p.id.as_deref() == Some(participant_id))
    }

    /// The full form of a participant.
    pub(crate) fn participant_mut(&mut self, participant_id: &str) -> Option<&mut Participant> {
        self.full
            .participants
            .iter_mut()
            .find(|p| p.id.as_deref() == Some(participant_id))
    }
}

/// Disconnects a participant's live co-browse and/or screen-share
/// communications, as its client would.
fn disconnect_media(
    participant: &mut Participant,
    (cobrowse, screenshare): (bool, bool),
    now: DateTime<Utc>,
) {
    let live = |state: &Option<Wire<crate::upstream::enums::CommunicationState>>| {
        state.as_ref().is_some_and(|s| !s.get().is_ended())
    };
    for comm in participant
        .cobrowsesessions
        .iter_mut()
        .filter(|c| cobrowse && live(&c.state))
    {
        comm.state = Some(Wire::new("disconnected"));
        comm.disconnected_time = Some(now);
        comm.disconnect_type = Some(Wire::new("client"));
        close_segments(&mut comm.segments, now);
    }
    for share in participant
        .screenshares
        .iter_mut()
        .filter(|s| screenshare && live(&s.state))
    {
        share.state = Some(Wire::new("disconnected"));
        share.disconnected_time = Some(now);
        share.disconnect_type = Some(Wire::new("client"));
        close_segments(&mut share.segments, now);
    }
}

fn close_segments(segments: &mut [Segment], now: DateTime<Utc>) {
    for segment in segments.iter_mut().filter(|s| s.end_time.is_none()) {
        segment.end_time = Some(now);
        segment.how_ended = Some("Disconnect".into());
    }
}

/// Everything the simulator serves.
#[derive(Clone, Debug)]
pub(crate) struct World {
    pub conversations: Vec<SimConversation>,
    pub conversation_index: HashMap<String, usize>,
    pub users: BTreeMap<String, User>,
    pub queues: BTreeMap<String, Queue>,
    pub wrapup_codes: Vec<WrapupCode>,
    /// Drives the world's changes ([`super::life`]), seeded with the world.
    pub(super) rng: StdRng,
    /// Conversations started so far (numbers their external tags).
    pub(super) started: usize,
}

impl World {
    /// The conversation with this id.
    pub(crate) fn conversation(&self, id: &str) -> Option<&SimConversation> {
        self.conversation_index
            .get(id)
            .map(|&i| &self.conversations[i])
    }

    /// The conversation with this id, to change it.
    pub(crate) fn conversation_mut(&mut self, id: &str) -> Option<&mut SimConversation> {
        let index = *self.conversation_index.get(id)?;
        self.conversations.get_mut(index)
    }
}

/// A random version-4 UUID.
pub(super) fn uuid(rng: &mut impl Rng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
    )
}

pub(super) fn segment(
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    kind: &str,
    disconnect: Option<&str>,
) -> Segment {
    Segment {
        start_time: Some(start),
        end_time: end,
        segment_type: Some(Wire::new(kind)),
        how_ended: end.map(|_| {
            if disconnect.is_some() {
                "Disconnect"
            } else {
                "Transition"
            }
            .into()
        }),
        disconnect_type: disconnect.map(Wire::new),
    }
}

pub(super) fn ref_to(collection: &str, id: Option<&str>) -> Option<EntityRef> {
    id.map(|id| EntityRef {
        id: Some(id.into()),
        name: None,
        self_uri: Some(format!("/api/v2/{collection}/{id}")),
    })
}

/// The co-browse view of a participant: its own fields plus those of its
/// latest co-browse communication.
pub(super) fn media(
    p: &Participant,
    direction: &str,
    script: Option<EntityRef>,
) -> CobrowseMediaParticipant {
    let comm = p.cobrowsesessions.last();
    CobrowseMediaParticipant {
        id: p.id.clone(),
        name: p.name.clone(),
        address: p.address.clone(),
        start_time: p.start_time,
        start_alerting_time: comm.and_then(|c| c.start_alerting_time),
        connected_time: p.connected_time,
        end_time: p.end_time,
        start_hold_time: None,
        purpose: p.purpose.clone(),
        state: comm.and_then(|c| c.state.clone()),
        direction: Some(Wire::new(direction)),
        disconnect_type: comm.and_then(|c| c.disconnect_type.clone()),
        held: Some(false),
        wrapup_required: p.wrapup_required,
        wrapup_prompt: p.wrapup_prompt.clone(),
        user: None,
        queue: None,
        team: None,
        attributes: p.attributes.clone(),
        error_info: None,
        script,
        wrapup_timeout_ms: p.wrapup_timeout_ms,
        wrapup_skipped: p.wrapup_skipped,
        alerting_timeout_ms: p.alerting_timeout_ms,
        provider: comm.and_then(|c| c.provider.clone()),
        external_contact: None,
        external_organization: None,
        wrapup: p.wrapup.clone(),
        peer: comm.and_then(|c| c.peer_id.clone()),
        cobrowse_session_id: comm.and_then(|c| c.cobrowse_session_id.clone()),
        cobrowse_role: comm.and_then(|c| c.cobrowse_role.clone()),
        controlling: comm.map(|c| c.controlling.clone()).unwrap_or_default(),
        viewer_url: comm.and_then(|c| c.viewer_url.clone()),
        provider_event_time: comm.and_then(|c| c.provider_event_time),
        start_acw_time: p.start_acw_time,
        end_acw_time: p.end_acw_time,
    }
}

/// Where a conversation is in its life; each step moves it to the next.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifePhase {
    /// A customer started it; no one else is there yet.
    Started,
    /// A queue (the ACD participant) took it.
    Routed,
    /// The queue handed it to an agent.
    AgentJoined,
    /// The customer shares the browser, the agent views it.
    CobrowseStarted,
    /// The customer let the agent control the page.
    ControlGranted,
    /// A screen share started beside the co-browse session.
    ScreenshareStarted,
    /// Customer and agent disconnected; the agent is in after-call work.
    Disconnected,
    /// The agent applied a wrap-up code.
    WrappedUp,
    /// The conversation is over.
    Ended,
}

impl LifePhase {
    /// The phase after this one.
    pub fn next(self) -> Option<LifePhase> {
        Some(match self {
            LifePhase::Started => LifePhase::Routed,
            LifePhase::Routed => LifePhase::AgentJoined,
            LifePhase::AgentJoined => LifePhase::CobrowseStarted,
            LifePhase::CobrowseStarted => LifePhase::ControlGranted,
            LifePhase::ControlGranted => LifePhase::ScreenshareStarted,
            LifePhase::ScreenshareStarted => LifePhase::Disconnected,
            LifePhase::Disconnected => LifePhase::WrappedUp,
            LifePhase::WrappedUp => LifePhase::Ended,
            LifePhase::Ended => return None,
        })
    }
}

/// The last participant of `purpose` (`customer`, `agent`, `acd`).
pub(super) fn with_purpose<'a>(
    conv: &'a SimConversation,
    purpose: &str,
) -> Option<&'a Participant> {
    conv.full
        .participants
        .iter()
        .rev()
        .find(|p| p.purpose.as_ref().map(Wire::raw) == Some(purpose))
}

pub(super) fn customer_id(conv: &SimConversation) -> Option<String> {
    with_purpose(conv, "customer").and_then(|p| p.id.clone())
}

pub(super) fn agent_id(conv: &SimConversation) -> Option<String> {
    with_purpose(conv, "agent").and_then(|p| p.id.clone())
}

pub(super) fn participant_mut<'a>(
    conv: &'a mut SimConversation,
    purpose: &str,
) -> Option<&'a mut Participant> {
    conv.full
        .participants
        .iter_mut()
        .rev()
        .find(|p| p.purpose.as_ref().map(Wire::raw) == Some(purpose))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_world() {
        let now = Utc::now();
        let a = World::generate(12, 3, now);
        let b = World::generate(12, 3, now);
        let ids = |w: &World| {
            w.conversations
                .iter()
                .map(|c| c.full.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&World::generate(12, 4, now)));
    }

    #[test]
    fn every_time_is_in_the_past_and_sessions_do_not_overlap() {
        let now = Utc::now();
        let world = World::generate(40, 9, now);
        for conv in &world.conversations {
            let customer = &conv.full.participants[0];
            let mut previous_end = None;
            for comm in &customer.cobrowsesessions {
                let connected = comm.connected_time.expect("connected");
                assert!(connected < now);
                assert!(comm
                    .disconnected_time
                    .is_none_or(|d| connected <= d && d < now));
                assert!(previous_end.is_none_or(|e| e <= connected));
                previous_end = comm.disconnected_time;
            }
        }
    }

    #[test]
    fn sharer_and_viewer_share_a_session_id() {
        let world = World::generate(8, 1, Utc::now());
        for conv in &world.conversations {
            let sessions = |purpose: &str| -> Vec<Option<String>> {
                conv.full
                    .participants
                    .iter()
                    .filter(|p| p.purpose.as_ref().map(Wire::raw) == Some(purpose))
                    .flat_map(|p| {
                        p.cobrowsesessions
                            .iter()
                            .map(|c| c.cobrowse_session_id.clone())
                    })
                    .collect()
            };
            assert!(!sessions("customer").is_empty());
            assert_eq!(sessions("customer"), sessions("agent"));
        }
        assert!(world
            .conversations
            .iter()
            .any(SimConversation::has_active_cobrowse));
        assert!(!world
            .conversations
            .iter()
            .all(SimConversation::has_active_cobrowse));
    }
}
