//! PureCloud conversations as one owned domain model, as `zoom` is for Zoom
//! sessions.
//!
//! Upstream gives a conversation in two shapes: the full form (`GET
//! /conversations/{id}`: participants with their co-browse and screenshare
//! communications) and the co-browse view (`CobrowseConversation`, also what
//! the active listing returns: participants as `CobrowseMediaParticipant`,
//! with state, direction, roles and controls). [`Conversation::build`] makes
//! one [`Conversation`] of whichever shapes were fetched, by plain functions
//! ([`from_full`], [`from_view`], [`overlay_view`]); a new source of
//! conversations (notification events, analytics records) is one more such
//! function, not a branch in the graph. [`Models`] keeps what was built, so
//! a hot read builds nothing.
//!
//! Communications and their value types (segments, wrap-up, after-call
//! work, addresses) are upstream's own records, kept as they came.

pub(crate) mod going_on;
mod listing;
pub(crate) mod queries;
mod record;

use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) use listing::{ActiveListing, Listed};
pub(crate) use record::from_record;

use crate::upstream::enums::*;
use crate::upstream::model;
use crate::upstream::wire::Wire;

pub(crate) use crate::upstream::model::{
    Address, AfterCallWork, Cobrowsesession, EntityRef, ErrorBody, ErrorDetail, Screenshare,
    Segment, Time, Wrapup,
};

/// A built conversation, shared by the cache of models and every reader.
pub(crate) type Model = Arc<ConversationModel>;

/// Which upstream shapes a conversation holds, or a selection needs.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shapes {
    pub full: bool,
    pub view: bool,
}

impl Shapes {
    pub(crate) const NONE: Self = Self {
        full: false,
        view: false,
    };
    pub(crate) const FULL: Self = Self {
        full: true,
        view: false,
    };
    pub(crate) const VIEW: Self = Self {
        full: false,
        view: true,
    };

    /// Both sets.
    pub(crate) fn and(self, other: Self) -> Self {
        Self {
            full: self.full || other.full,
            view: self.view || other.view,
        }
    }
}

/// The upstream records a conversation was built from. They are the data
/// cache's own values (shared, not copied).
#[derive(Clone, Default)]
pub(crate) struct Inputs {
    pub full: Option<Arc<model::Conversation>>,
    pub view: Option<Arc<model::CobrowseConversation>>,
    /// The analytics record it was listed with, while neither shape is
    /// held (it is neither: a selection beyond ids needs one fetched).
    pub record: Option<Arc<crate::upstream::analytics::AnalyticsConversation>>,
}

impl Inputs {
    /// Which of `shapes` these inputs do not hold.
    pub(crate) fn lacking(&self, shapes: Shapes) -> Shapes {
        Shapes {
            full: shapes.full && self.full.is_none(),
            view: shapes.view && self.view.is_none(),
        }
    }

    pub(crate) fn same(&self, other: &Inputs) -> bool {
        fn eq<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        eq(&self.full, &other.full)
            && eq(&self.view, &other.view)
            && eq(&self.record, &other.record)
    }
}

/// One conversation, from whichever shapes were fetched.
#[derive(Default)]
pub(crate) struct ConversationModel {
    pub id: Arc<str>,
    pub inputs: Inputs,
    pub name: Option<String>,
    pub external_tag: Option<String>,
    pub start_time: Option<Time>,
    pub end_time: Option<Time>,
    pub address: Option<String>,
    pub recording_state: Option<Wire<RecordingState>>,
    pub max_participants: Option<i32>,
    pub conversation_ids: Vec<String>,
    /// In upstream order: the full form's when it is there, else the view's.
    pub participants: Vec<ParticipantModel>,
}

/// One participant: the full form's participant and the co-browse view's
/// `CobrowseMediaParticipant` of the same id, as one record.
#[derive(Default, Debug, PartialEq)]
pub(crate) struct ParticipantModel {
    pub id: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub start_time: Option<Time>,
    pub start_alerting_time: Option<Time>,
    pub connected_time: Option<Time>,
    pub end_time: Option<Time>,
    pub start_hold_time: Option<Time>,
    pub purpose: Option<Wire<ParticipantPurpose>>,
    pub state: Option<Wire<CommunicationState>>,
    pub direction: Option<Wire<Direction>>,
    pub disconnect_type: Option<Wire<DisconnectType>>,
    pub held: Option<bool>,
    pub wrapup_required: Option<bool>,
    pub wrapup_prompt: Option<Wire<WrapupPrompt>>,
    pub wrapup_timeout_ms: Option<i64>,
    pub wrapup_skipped: Option<bool>,
    pub wrapup: Option<Wrapup>,
    pub alerting_timeout_ms: Option<i64>,
    pub user_id: Option<Arc<str>>,
    pub queue_id: Option<Arc<str>>,
    pub team: Option<EntityRef>,
    pub script: Option<EntityRef>,
    pub external_contact: Option<EntityRef>,
    pub external_contact_id: Option<String>,
    pub external_organization: Option<EntityRef>,
    pub attributes: BTreeMap<String, String>,
    pub error_info: Option<ErrorBody>,
    pub provider: Option<String>,
    pub peer: Option<String>,
    pub cobrowse_session_id: Option<String>,
    pub cobrowse_role: Option<Wire<CobrowseRole>>,
    pub controlling: Vec<String>,
    pub viewer_url: Option<String>,
    pub provider_event_time: Option<Time>,
    pub participant_type: Option<String>,
    pub locale: Option<String>,
    pub start_acw_time: Option<Time>,
    pub end_acw_time: Option<Time>,
    pub cobrowsesessions: Vec<Cobrowsesession>,
    pub screenshares: Vec<Screenshare>,
}

/// Where a communication sits in its conversation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum CommunicationAt {
    /// Co-browse communication `index` of participant `participant`.
    Cobrowse { participant: usize, index: usize },
    /// Screen-share communication `index` of participant `participant`.
    Screenshare { participant: usize, index: usize },
}

/// What a session's communications are.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Media {
    Cobrowse,
    Screenshare,
}

/// A PureCloud session: the co-browse communications of one conversation
/// that share a `cobrowseSessionId`, or its screen-share communications
/// that share a room (`context`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MediaSession {
    pub id: Arc<str>,
    pub media: Media,
    /// (participant, communication) of each, in participant order.
    pub comms: Vec<(usize, usize)>,
}

/// One communication of a session, whatever its media.
pub(crate) struct Leg<'a> {
    pub participant: usize,
    pub id: Option<&'a str>,
    pub alerted: Option<Time>,
    pub connected: Option<Time>,
    pub disconnected: Option<Time>,
    pub disconnect_type: Option<&'a str>,
    /// Co-browse: its role; screen share: sharer when it shares its screen.
    pub role: Option<CobrowseRole>,
    pub segments: &'a [Segment],
    pub active: bool,
    pub viewer_url: Option<&'a str>,
    /// The name on its own address (co-browse).
    pub name: Option<&'a str>,
}

impl ConversationModel {
    /// The conversation of these inputs (empty when there are none).
    pub(crate) fn build(id: &str, inputs: Inputs) -> Self {
        let mut conversation = match (&inputs.full, &inputs.view) {
            (Some(full), view) => {
                let mut conversation = from_full(id, full);
                if let Some(view) = view {
                    overlay_view(&mut conversation, view);
                }
                conversation
            }
            (None, Some(view)) => from_view(id, view),
            (None, None) => match &inputs.record {
                Some(record) => from_record(id, record),
                None => ConversationModel {
                    id: id.into(),
                    ..ConversationModel::default()
                },
            },
        };
        conversation.inputs = inputs;
        conversation
    }

    /// The shapes this was built from.
    pub(crate) fn shapes(&self) -> Shapes {
        Shapes {
            full: self.inputs.full.is_some(),
            view: self.inputs.view.is_some(),
        }
    }

    /// Whether it was built from the analytics record of a conversation
    /// that ended: a record that will not change.
    pub(crate) fn final_record(&self) -> bool {
        self.read_from_analytics() && self.end_time.is_some()
    }

    /// Whether it was built from an analytics record alone: its sessions
    /// are keyed by analytics' room ids.
    pub(crate) fn read_from_analytics(&self) -> bool {
        self.inputs.record.is_some() && self.inputs.full.is_none() && self.inputs.view.is_none()
    }

    /// The index of the participant with this id.
    pub(crate) fn participant(&self, id: &str) -> Option<usize> {
        self.participants
            .iter()
            .position(|p| p.id.as_deref() == Some(id))
    }

    /// Where the communication with this id is.
    pub(crate) fn communication(&self, id: &str) -> Option<CommunicationAt> {
        self.participants
            .iter()
            .enumerate()
            .find_map(|(participant, p)| {
                let cobrowse = p
                    .cobrowsesessions
                    .iter()
                    .position(|c| c.id.as_deref() == Some(id));
                let share = || {
                    p.screenshares
                        .iter()
                        .position(|s| s.id.as_deref() == Some(id))
                };
                match cobrowse {
                    Some(index) => Some(CommunicationAt::Cobrowse { participant, index }),
                    None => {
                        share().map(|index| CommunicationAt::Screenshare { participant, index })
                    }
                }
            })
    }

    /// The co-browse sessions, in order of first start (those without a
    /// start last, in order of appearance).
    pub(crate) fn sessions(&self) -> Vec<MediaSession> {
        self.grouped(Media::Cobrowse, |p| {
            p.cobrowsesessions
                .iter()
                .map(|c| {
                    let start = c.connected_time.or(c.start_alerting_time);
                    (c.cobrowse_session_id.as_deref(), start)
                })
                .collect()
        })
    }

    /// The screen-share sessions (a communication without a room is a
    /// session of its own), in order of first start.
    pub(crate) fn screenshare_sessions(&self) -> Vec<MediaSession> {
        self.grouped(Media::Screenshare, |p| {
            p.screenshares
                .iter()
                .map(|s| {
                    let start = s.connected_time.or(s.start_alerting_time);
                    (s.context.as_deref().or(s.id.as_deref()), start)
                })
                .collect()
        })
    }

    /// Communications grouped into sessions by the id `keys` gives each of
    /// a participant's (none: in no session), in order of first start.
    fn grouped(
        &self,
        media: Media,
        keys: impl Fn(&ParticipantModel) -> Vec<(Option<&str>, Option<Time>)>,
    ) -> Vec<MediaSession> {
        let mut sessions: Vec<(Option<Time>, MediaSession)> = Vec::new();
        for (p, participant) in self.participants.iter().enumerate() {
            for (c, (id, start)) in keys(participant).into_iter().enumerate() {
                let Some(id) = id else {
                    continue;
                };
                match sessions.iter_mut().find(|(_, s)| &*s.id == id) {
                    Some((first, session)) => {
                        *first = (*first).min(start).or(*first).or(start);
                        session.comms.push((p, c));
                    }
                    None => sessions.push((
                        start,
                        MediaSession {
                            id: id.into(),
                            media,
                            comms: vec![(p, c)],
                        },
                    )),
                }
            }
        }
        sessions.sort_by_key(|(start, _)| *start);
        sessions.into_iter().map(|(_, s)| s).collect()
    }

    /// The session with this id: a co-browse session, else a screen share.
    pub(crate) fn session(&self, id: &str) -> Option<MediaSession> {
        self.sessions()
            .into_iter()
            .chain(self.screenshare_sessions())
            .find(|s| &*s.id == id)
    }
}

impl MediaSession {
    /// Its communications, whatever the media.
    pub(crate) fn legs<'a>(
        &'a self,
        c: &'a ConversationModel,
    ) -> impl Iterator<Item = Leg<'a>> + 'a {
        self.comms.iter().map(move |&(p, i)| {
            let participant = &c.participants[p];
            match self.media {
                Media::Cobrowse => {
                    let comm = &participant.cobrowsesessions[i];
                    Leg {
                        participant: p,
                        id: comm.id.as_deref(),
                        alerted: comm.start_alerting_time,
                        connected: comm.connected_time,
                        disconnected: comm.disconnected_time,
                        disconnect_type: comm.disconnect_type.as_ref().map(Wire::raw),
                        role: comm.cobrowse_role.as_ref().map(Wire::get),
                        segments: &comm.segments,
                        active: going_on::cobrowse(comm),
                        viewer_url: comm.viewer_url.as_deref(),
                        name: comm.self_address.as_ref().and_then(|a| a.name.as_deref()),
                    }
                }
                Media::Screenshare => {
                    let share = &participant.screenshares[i];
                    Leg {
                        participant: p,
                        id: share.id.as_deref(),
                        alerted: share.start_alerting_time,
                        connected: share.connected_time,
                        disconnected: share.disconnected_time,
                        disconnect_type: share.disconnect_type.as_ref().map(Wire::raw),
                        role: share.sharing.map(|sharing| {
                            if sharing {
                                CobrowseRole::Sharer
                            } else {
                                CobrowseRole::Viewer
                            }
                        }),
                        segments: &share.segments,
                        active: going_on::screenshare(share),
                        viewer_url: None,
                        name: None,
                    }
                }
            }
        })
    }

    /// When it started: its first communication's connect (or alert).
    pub(crate) fn start(&self, conversation: &ConversationModel) -> Option<Time> {
        self.legs(conversation)
            .filter_map(|l| l.connected.or(l.alerted))
            .min()
    }

    /// Whether any of its communications goes on.
    pub(crate) fn active(&self, conversation: &ConversationModel) -> bool {
        self.legs(conversation).any(|l| l.active)
    }

    /// When it ended: its last disconnect, once none goes on.
    pub(crate) fn end(&self, conversation: &ConversationModel) -> Option<Time> {
        if self.comms.is_empty() || self.active(conversation) {
            return None;
        }
        self.legs(conversation).filter_map(|l| l.disconnected).max()
    }
}

/// A conversation from its full form.
pub(crate) fn from_full(id: &str, full: &model::Conversation) -> ConversationModel {
    ConversationModel {
        id: id.into(),
        inputs: Inputs::default(),
        name: full.name.clone(),
        external_tag: full.external_tag.clone(),
        start_time: full.start_time,
        end_time: full.end_time,
        address: full.address.clone(),
        recording_state: full.recording_state.clone(),
        max_participants: full.max_participants,
        conversation_ids: full.conversation_ids.clone(),
        participants: full.participants.iter().map(full_participant).collect(),
    }
}

fn full_participant(p: &model::Participant) -> ParticipantModel {
    ParticipantModel {
        id: p.id.clone(),
        name: p.name.clone(),
        address: p.address.clone(),
        start_time: p.start_time,
        connected_time: p.connected_time,
        end_time: p.end_time,
        purpose: p.purpose.clone(),
        wrapup_required: p.wrapup_required,
        wrapup_prompt: p.wrapup_prompt.clone(),
        wrapup_timeout_ms: p.wrapup_timeout_ms,
        wrapup_skipped: p.wrapup_skipped,
        wrapup: p.wrapup.clone(),
        alerting_timeout_ms: p.alerting_timeout_ms,
        user_id: p.user_id.as_deref().map(Arc::from),
        queue_id: p.queue_id.as_deref().map(Arc::from),
        external_contact_id: p.external_contact_id.clone(),
        attributes: p.attributes.clone(),
        participant_type: p.participant_type.clone(),
        locale: p.locale.clone(),
        start_acw_time: p.start_acw_time,
        end_acw_time: p.end_acw_time,
        state: Some(participant_state(p)),
        cobrowsesessions: p.cobrowsesessions.clone(),
        screenshares: p.screenshares.clone(),
        ..ParticipantModel::default()
    }
}

/// A participant's state as the co-browse view gives it, from the full
/// form: its latest co-browse communication's, or (with none) whether it
/// has left.
fn participant_state(p: &model::Participant) -> Wire<CommunicationState> {
    match p.cobrowsesessions.last().and_then(|c| c.state.clone()) {
        Some(state) => state,
        None => Wire::new(if p.end_time.is_some() {
            "disconnected"
        } else {
            "connected"
        }),
    }
}

/// A conversation from its co-browse view alone.
pub(crate) fn from_view(id: &str, view: &model::CobrowseConversation) -> ConversationModel {
    ConversationModel {
        id: id.into(),
        name: view.name.clone(),
        participants: view
            .participants
            .iter()
            .map(|m| {
                let mut participant = ParticipantModel {
                    id: m.id.clone(),
                    ..ParticipantModel::default()
                };
                overlay_participant(&mut participant, m);
                participant
            })
            .collect(),
        ..ConversationModel::default()
    }
}

/// Lays the co-browse view over a conversation built from the full form:
/// each participant of the full form takes what the view says of the
/// participant with its id (the view wins where both speak). A participant
/// only the view has is left out: the full form is the conversation's roll.
pub(crate) fn overlay_view(
    conversation: &mut ConversationModel,
    view: &model::CobrowseConversation,
) {
    for participant in &mut conversation.participants {
        let Some(id) = participant.id.as_deref() else {
            continue;
        };
        if let Some(m) = view
            .participants
            .iter()
            .find(|m| m.id.as_deref() == Some(id))
        {
            overlay_participant(participant, m);
        }
    }
}

fn overlay_participant(p: &mut ParticipantModel, m: &model::CobrowseMediaParticipant) {
    fn over<T: Clone>(field: &mut Option<T>, view: &Option<T>) {
        if view.is_some() {
            field.clone_from(view);
        }
    }
    over(&mut p.id, &m.id);
    over(&mut p.name, &m.name);
    over(&mut p.address, &m.address);
    over(&mut p.start_time, &m.start_time);
    over(&mut p.start_alerting_time, &m.start_alerting_time);
    over(&mut p.connected_time, &m.connected_time);
    over(&mut p.end_time, &m.end_time);
    over(&mut p.start_hold_time, &m.start_hold_time);
    over(&mut p.purpose, &m.purpose);
    over(&mut p.state, &m.state);
    over(&mut p.direction, &m.direction);
    over(&mut p.disconnect_type, &m.disconnect_type);
    over(&mut p.held, &m.held);
    over(&mut p.wrapup_required, &m.wrapup_required);
    over(&mut p.wrapup_prompt, &m.wrapup_prompt);
    over(&mut p.wrapup_timeout_ms, &m.wrapup_timeout_ms);
    over(&mut p.wrapup_skipped, &m.wrapup_skipped);
    over(&mut p.wrapup, &m.wrapup);
    over(&mut p.alerting_timeout_ms, &m.alerting_timeout_ms);
    over(&mut p.team, &m.team);
    over(&mut p.script, &m.script);
    over(&mut p.external_contact, &m.external_contact);
    over(&mut p.external_organization, &m.external_organization);
    over(&mut p.error_info, &m.error_info);
    over(&mut p.provider, &m.provider);
    over(&mut p.peer, &m.peer);
    over(&mut p.cobrowse_session_id, &m.cobrowse_session_id);
    over(&mut p.cobrowse_role, &m.cobrowse_role);
    over(&mut p.viewer_url, &m.viewer_url);
    over(&mut p.provider_event_time, &m.provider_event_time);
    over(&mut p.start_acw_time, &m.start_acw_time);
    over(&mut p.end_acw_time, &m.end_acw_time);
    if let Some(user) = m.user.as_ref().and_then(|u| u.id.as_deref()) {
        p.user_id = Some(user.into());
    }
    if let Some(queue) = m.queue.as_ref().and_then(|q| q.id.as_deref()) {
        p.queue_id = Some(queue.into());
    }
    if let Some(contact) = m.external_contact.as_ref().and_then(|c| c.id.as_deref()) {
        p.external_contact_id = Some(contact.to_owned());
    }
    if !m.attributes.is_empty() {
        p.attributes.clone_from(&m.attributes);
    }
    p.controlling.clone_from(&m.controlling);
}

/// What was built from which inputs, so that a hot read builds nothing.
/// One conversation is kept per credential scope, id and set of shapes: a
/// newer input replaces the older, so no past generation of upstream
/// records is kept alive here. Bounded by entries and idle time.
pub(crate) struct Models {
    built: moka::sync::Cache<(u64, Arc<str>, u8), Arc<ConversationModel>>,
}

impl Models {
    /// Keeps at most `capacity` conversations, each for at most `idle`
    /// after its last read.
    pub(crate) fn new(capacity: u64, idle: std::time::Duration) -> Self {
        Self {
            built: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(idle)
                .build(),
        }
    }

    /// The conversation of `inputs` (read under credential scope `scope`),
    /// built once.
    pub(crate) fn of(&self, scope: u64, id: &str, inputs: Inputs) -> Arc<ConversationModel> {
        let shapes = u8::from(inputs.full.is_some()) | (u8::from(inputs.view.is_some()) << 1);
        let key = (scope, Arc::<str>::from(id), shapes);
        // Concurrent callers with the same key wait for one build (500
        // requests of one cold dashboard would otherwise build 500 copies
        // at once); a kept conversation of other inputs is replaced.
        let replace = |built: &Arc<ConversationModel>| !built.inputs.same(&inputs);
        let build = || Arc::new(ConversationModel::build(id, inputs.clone()));
        self.built
            .entry(key)
            .or_insert_with_if(build, replace)
            .into_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        s.parse().expect("a time")
    }

    fn full() -> model::Conversation {
        model::Conversation {
            id: Some("c1".into()),
            name: Some("full name".into()),
            start_time: Some(time("2026-11-30T10:00:00Z")),
            participants: vec![
                model::Participant {
                    id: Some("customer".into()),
                    name: Some("Customer (full)".into()),
                    purpose: Some(Wire::new("customer")),
                    attributes: [("k".to_owned(), "full".to_owned())].into(),
                    cobrowsesessions: vec![model::Cobrowsesession {
                        id: Some("comm-1".into()),
                        cobrowse_session_id: Some("s1".into()),
                        connected_time: Some(time("2026-11-30T10:01:00Z")),
                        state: Some(Wire::new("connected")),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                model::Participant {
                    id: Some("agent".into()),
                    user_id: Some("user-from-full".into()),
                    locale: Some("en-GB".into()),
                    cobrowsesessions: vec![model::Cobrowsesession {
                        id: Some("comm-2".into()),
                        cobrowse_session_id: Some("s0".into()),
                        connected_time: Some(time("2026-11-30T10:00:30Z")),
                        disconnected_time: Some(time("2026-11-30T10:00:50Z")),
                        state: Some(Wire::new("disconnected")),
                        ..Default::default()
                    }],
                    screenshares: vec![model::Screenshare {
                        id: Some("share-1".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn view() -> model::CobrowseConversation {
        model::CobrowseConversation {
            id: Some("c1".into()),
            name: Some("view name".into()),
            participants: vec![
                model::CobrowseMediaParticipant {
                    id: Some("agent".into()),
                    state: Some(Wire::new("connected")),
                    user: Some(EntityRef {
                        id: Some("user-from-view".into()),
                        ..Default::default()
                    }),
                    controlling: vec!["customer".into()],
                    ..Default::default()
                },
                model::CobrowseMediaParticipant {
                    id: Some("customer".into()),
                    name: Some("Customer (view)".into()),
                    ..Default::default()
                },
                model::CobrowseMediaParticipant {
                    id: Some("only-in-the-view".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_full_form_gives_the_roll_and_the_view_wins_where_both_speak() {
        let c = ConversationModel::build(
            "c1",
            Inputs {
                full: Some(Arc::new(full())),
                view: Some(Arc::new(view())),
                record: None,
            },
        );
        assert_eq!(
            c.shapes(),
            Shapes {
                full: true,
                view: true
            }
        );
        assert_eq!(
            c.name.as_deref(),
            Some("full name"),
            "the conversation's own fields come from the full form"
        );
        let ids: Vec<_> = c.participants.iter().map(|p| p.id.as_deref()).collect();
        assert_eq!(
            ids,
            [Some("customer"), Some("agent")],
            "full order; view-only participants left out"
        );
        let (customer, agent) = (&c.participants[0], &c.participants[1]);
        assert_eq!(customer.name.as_deref(), Some("Customer (view)"));
        assert_eq!(
            customer.attributes["k"], "full",
            "an empty view keeps the full form's attributes"
        );
        assert_eq!(agent.user_id.as_deref(), Some("user-from-view"));
        assert_eq!(
            agent.locale.as_deref(),
            Some("en-GB"),
            "full-only fields stay"
        );
        assert_eq!(agent.controlling, ["customer"]);
        assert_eq!(
            agent.state.as_ref().map(Wire::get),
            Some(CommunicationState::Connected)
        );
        assert_eq!(
            customer.state.as_ref().map(Wire::get),
            Some(CommunicationState::Connected),
            "the view said nothing of it: its latest co-browse communication's"
        );
    }

    #[test]
    fn each_shape_alone_gives_what_it_has() {
        let from_full = ConversationModel::build(
            "c1",
            Inputs {
                full: Some(Arc::new(full())),
                view: None,
                record: None,
            },
        );
        assert_eq!(
            from_full.participants[1].user_id.as_deref(),
            Some("user-from-full")
        );
        assert_eq!(
            from_full.participants[1].state.as_ref().map(Wire::get),
            Some(CommunicationState::Disconnected),
            "its latest co-browse communication's state"
        );
        let from_view = ConversationModel::build(
            "c1",
            Inputs {
                full: None,
                view: Some(Arc::new(view())),
                record: None,
            },
        );
        assert_eq!(from_view.name.as_deref(), Some("view name"));
        assert_eq!(from_view.participants.len(), 3, "the view's roll");
        assert!(from_view
            .participants
            .iter()
            .all(|p| p.cobrowsesessions.is_empty()));
        assert_eq!(from_view.start_time, None);
    }

    #[test]
    fn sessions_group_communications_by_session_id_in_order_of_first_start() {
        let c = ConversationModel::build(
            "c1",
            Inputs {
                full: Some(Arc::new(full())),
                view: None,
                record: None,
            },
        );
        let sessions = c.sessions();
        let ids: Vec<&str> = sessions.iter().map(|s| &*s.id).collect();
        assert_eq!(ids, ["s0", "s1"]);
        assert!(!sessions[0].active(&c));
        assert_eq!(sessions[0].end(&c), Some(time("2026-11-30T10:00:50Z")));
        assert!(sessions[1].active(&c));
        assert_eq!(sessions[1].end(&c), None);
        assert_eq!(sessions[1].start(&c), Some(time("2026-11-30T10:01:00Z")));
        assert_eq!(
            c.communication("share-1"),
            Some(CommunicationAt::Screenshare {
                participant: 1,
                index: 0
            })
        );
        assert_eq!(
            c.communication("comm-1"),
            Some(CommunicationAt::Cobrowse {
                participant: 0,
                index: 0
            })
        );
        assert_eq!(c.communication("nothing"), None);
    }

    #[test]
    fn the_same_inputs_are_built_once_and_other_inputs_afresh() {
        let models = Models::new(16, std::time::Duration::from_secs(60));
        let full = Arc::new(full());
        let inputs = || Inputs {
            full: Some(Arc::clone(&full)),
            view: None,
            record: None,
        };
        let a = models.of(1, "c1", inputs());
        let b = models.of(1, "c1", inputs());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(
            !Arc::ptr_eq(&a, &models.of(2, "c1", inputs())),
            "another scope"
        );
        let with_view = models.of(
            1,
            "c1",
            Inputs {
                full: Some(Arc::clone(&full)),
                view: Some(Arc::new(view())),
                record: None,
            },
        );
        assert!(!Arc::ptr_eq(&a, &with_view));
        assert_eq!(
            with_view.shapes(),
            Shapes {
                full: true,
                view: true
            }
        );
        // A newer full form replaces the older one, which is let go.
        let newer = Arc::new(super::tests::full());
        let replaced = models.of(
            1,
            "c1",
            Inputs {
                full: Some(Arc::clone(&newer)),
                view: None,
                record: None,
            },
        );
        assert!(!Arc::ptr_eq(&a, &replaced));
        drop((a, b, replaced));
        models.built.run_pending_tasks();
        assert_eq!(
            Arc::strong_count(&full),
            3,
            "held by this test, the model of both shapes and the model of scope 2; not by the replaced one"
        );
    }
}
