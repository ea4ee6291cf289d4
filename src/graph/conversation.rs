//! Conversations and their participants.
//!
//! A conversation reaches the graph in one or both of its upstream shapes:
//! the full form (`GET /conversations/{id}`: participants with their
//! co-browse and screenshare communications) and the co-browse view
//! (`CobrowseConversation`: participants as `CobrowseMediaParticipant`, also
//! what the active listing returns). [`ConversationData`] holds what has been
//! fetched; resolvers that produce participants look ahead at the selection
//! and fetch the missing shape only when a selected field needs it.

use std::sync::Arc;

use async_graphql::{Context, Lookahead, Object, Result, ID};

use super::communication::{
    CobrowseComm, Communication, EntityRefObject, ErrorInfo, ScreenshareComm, WrapupObject,
};
use super::directory::{queue_ref, user_ref, Queue, User};
use super::engage::EngageData;
use super::errors::GqlResult;
use super::ids::NodeId;
use super::session::{PureCloudSession, Session};
use super::{duration_seconds, selects_any, source};
use crate::source::{SharedError, Source};
use crate::upstream::enums::*;
use crate::upstream::model::{self, Time};
use crate::upstream::wire::Wire;
use crate::upstream::UpstreamError;

/// Participant fields only the co-browse view carries.
const VIEW_FIELDS: &[&str] = &[
    "startHoldTime",
    "state",
    "stateRaw",
    "direction",
    "directionRaw",
    "disconnectType",
    "disconnectTypeRaw",
    "held",
    "errorInfo",
    "script",
    "team",
    "provider",
    "peer",
    "cobrowseSessionId",
    "cobrowseRole",
    "cobrowseRoleRaw",
    "controlling",
    "viewerUrl",
    "providerEventTime",
    "startAlertingTime",
    "externalOrganization",
];

/// Participant fields only the full conversation carries.
const FULL_PARTICIPANT_FIELDS: &[&str] = &[
    "cobrowseSessions",
    "screenshares",
    "participantType",
    "locale",
    "startAcwTime",
    "endAcwTime",
];

/// Conversation fields only the full conversation carries.
const FULL_CONVERSATION_FIELDS: &[&str] = &[
    "startTime",
    "endTime",
    "durationSeconds",
    "externalTag",
    "address",
    "recordingState",
    "recordingStateRaw",
    "maxParticipants",
    "conversationIds",
    "cobrowseSessions",
    "screenshares",
];

/// What the graph holds of one conversation.
#[derive(Clone)]
pub(crate) struct ConversationData {
    pub(crate) id: Arc<str>,
    pub(crate) full: Option<Arc<model::Conversation>>,
    pub(crate) view: Option<Arc<model::CobrowseConversation>>,
}

impl ConversationData {
    /// From the full form.
    pub(crate) fn from_full(id: &str, full: Arc<model::Conversation>) -> Self {
        Self {
            id: id.into(),
            full: Some(full),
            view: None,
        }
    }

    /// From the co-browse view (a listing entry).
    pub(crate) fn from_view(view: Arc<model::CobrowseConversation>) -> Self {
        let id = view.id.as_deref().unwrap_or_default().into();
        Self {
            id,
            full: None,
            view: Some(view),
        }
    }

    /// Fetches the full form if it is missing.
    pub(crate) async fn with_full(mut self, source: &Source) -> Result<Self, SharedError> {
        if self.full.is_none() {
            self.full = Some(source.conversation(&self.id).await?);
        }
        Ok(self)
    }

    /// Fetches the co-browse view if it is missing. A conversation without
    /// co-browse has no view (upstream answers 404): that is not an error.
    pub(crate) async fn with_view(mut self, source: &Source) -> Result<Self, SharedError> {
        if self.view.is_none() {
            match source.cobrowse_conversation(&self.id).await {
                Ok(view) => self.view = Some(view),
                Err(e) if matches!(*e, UpstreamError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self)
    }

    /// Fetches what a selection of participants needs.
    pub(crate) async fn for_participants(
        self,
        ctx: &Context<'_>,
        look: &Lookahead<'_>,
    ) -> Result<Self> {
        let source = source(ctx);
        let want_view = self.view.is_none() && selects_any(look, VIEW_FIELDS);
        let want_full = self.full.is_none() && selects_any(look, FULL_PARTICIPANT_FIELDS);
        let (view, full) = futures::try_join!(
            async {
                match want_view {
                    true => self.clone().with_view(source).await.map(|d| d.view),
                    false => Ok(self.view.clone()),
                }
            },
            async {
                match want_full {
                    true => self.clone().with_full(source).await.map(|d| d.full),
                    false => Ok(self.full.clone()),
                }
            }
        )
        .gql()?;
        Ok(Self {
            id: self.id,
            full,
            view,
        })
    }

    /// Whether a selection of conversations needs the full form.
    pub(crate) fn selection_needs_full(look: &Lookahead<'_>) -> bool {
        selects_any(look, FULL_CONVERSATION_FIELDS)
            || selects_any(&look.field("participants"), FULL_PARTICIPANT_FIELDS)
    }

    /// Every participant, in upstream order.
    pub(crate) fn participants(&self) -> Vec<Participant> {
        let view_index = |id: Option<&str>| {
            let view = self.view.as_ref()?;
            view.participants
                .iter()
                .position(|p| p.id.as_deref() == id && id.is_some())
        };
        match (&self.full, &self.view) {
            (Some(full), _) => (0..full.participants.len())
                .map(|i| Participant {
                    conversation: self.clone(),
                    full: Some(i),
                    view: view_index(full.participants[i].id.as_deref()),
                })
                .collect(),
            (None, Some(view)) => (0..view.participants.len())
                .map(|i| Participant {
                    conversation: self.clone(),
                    full: None,
                    view: Some(i),
                })
                .collect(),
            (None, None) => Vec::new(),
        }
    }

    /// One participant by id.
    pub(crate) fn participant(&self, id: &str) -> Option<Participant> {
        self.participants()
            .into_iter()
            .find(|p| p.pid() == Some(id))
    }

    /// Every co-browse communication, with its participant index.
    pub(crate) fn cobrowse_comms(&self) -> Vec<CobrowseComm> {
        let Some(full) = &self.full else {
            return Vec::new();
        };
        full.participants
            .iter()
            .enumerate()
            .flat_map(|(p, participant)| {
                (0..participant.cobrowsesessions.len())
                    .map(move |c| CobrowseComm::new(self.clone(), p, c))
            })
            .collect()
    }

    /// The co-browse sessions, in order of first start.
    pub(crate) fn sessions(&self) -> Vec<PureCloudSession> {
        let mut ids: Vec<(Option<Time>, &str)> = Vec::new();
        let Some(full) = &self.full else {
            return Vec::new();
        };
        for comm in full.participants.iter().flat_map(|p| &p.cobrowsesessions) {
            let Some(id) = comm.cobrowse_session_id.as_deref() else {
                continue;
            };
            let start = comm.connected_time.or(comm.start_alerting_time);
            match ids.iter_mut().find(|(_, known)| *known == id) {
                Some(entry) => entry.0 = entry.0.min(start).or(entry.0).or(start),
                None => ids.push((start, id)),
            }
        }
        ids.sort_by_key(|(start, _)| *start);
        ids.into_iter()
            .map(|(_, id)| PureCloudSession::new(self.clone(), id))
            .collect()
    }

    /// Finds a communication (co-browse or screenshare) by its id.
    pub(crate) fn communication(&self, id: &str) -> Option<Communication> {
        let full = self.full.as_ref()?;
        for (p, participant) in full.participants.iter().enumerate() {
            if let Some(c) = participant
                .cobrowsesessions
                .iter()
                .position(|c| c.id.as_deref() == Some(id))
            {
                return Some(Communication::Cobrowsesession(CobrowseComm::new(
                    self.clone(),
                    p,
                    c,
                )));
            }
            if let Some(s) = participant
                .screenshares
                .iter()
                .position(|s| s.id.as_deref() == Some(id))
            {
                return Some(Communication::Screenshare(ScreenshareComm::new(
                    self.clone(),
                    p,
                    s,
                )));
            }
        }
        None
    }
}

/// A conversation that has (or had) co-browse or screen-share media.
pub(crate) struct Conversation(pub(crate) ConversationData);

impl Conversation {
    async fn full(&self, ctx: &Context<'_>) -> Result<Arc<model::Conversation>> {
        match &self.0.full {
            Some(full) => Ok(Arc::clone(full)),
            None => source(ctx).conversation(&self.0.id).await.gql(),
        }
    }
}

/// A conversation that has (or had) co-browse or screen-share media.
#[Object]
impl Conversation {
    /// Global id of this conversation (opaque; use it with `node(id:)`).
    pub async fn id(&self) -> ID {
        ID(NodeId::Conversation {
            conversation: self.0.id.to_string(),
        }
        .encode())
    }
    /// The conversation's PureCloud id.
    async fn conversation_id(&self) -> &str {
        &self.0.id
    }
    /// The conversation's name.
    async fn name(&self) -> Option<&str> {
        if let Some(full) = &self.0.full {
            return full.name.as_deref();
        }
        self.0.view.as_ref()?.name.as_deref()
    }
    /// When the conversation started.
    async fn start_time(&self, ctx: &Context<'_>) -> Result<Option<Time>> {
        Ok(self.full(ctx).await?.start_time)
    }
    /// When the conversation ended; null while it goes on.
    async fn end_time(&self, ctx: &Context<'_>) -> Result<Option<Time>> {
        Ok(self.full(ctx).await?.end_time)
    }
    /// Seconds from start to end (or to now, while it goes on).
    async fn duration_seconds(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        let full = self.full(ctx).await?;
        Ok(duration_seconds(full.start_time, full.end_time))
    }
    /// A tag set by an external system.
    async fn external_tag(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self.full(ctx).await?.external_tag.clone())
    }
    /// The conversation's address (for web conversations, the page it started on).
    async fn address(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self.full(ctx).await?.address.clone())
    }
    /// Whether the conversation is being recorded.
    async fn recording_state(&self, ctx: &Context<'_>) -> Result<Option<RecordingState>> {
        Ok(self
            .full(ctx)
            .await?
            .recording_state
            .as_ref()
            .map(Wire::get))
    }
    /// `recordingState` exactly as upstream sent it.
    async fn recording_state_raw(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self
            .full(ctx)
            .await?
            .recording_state
            .as_ref()
            .map(|w| w.raw().to_owned()))
    }
    /// The most participants the conversation has had at once.
    async fn max_participants(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        Ok(self.full(ctx).await?.max_participants)
    }
    /// Ids of conversations this one was merged with.
    async fn conversation_ids(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(self.full(ctx).await?.conversation_ids.clone())
    }
    /// The participants, optionally only those of the given purposes.
    async fn participants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only participants with one of these purposes.")] purpose: Option<
            Vec<ParticipantPurpose>,
        >,
    ) -> Result<Vec<Participant>> {
        let data = self
            .0
            .clone()
            .for_participants(ctx, &ctx.look_ahead())
            .await?;
        let mut participants = data.participants();
        if let Some(purposes) = purpose {
            participants.retain(|p| p.purpose_value().is_some_and(|x| purposes.contains(&x)));
        }
        Ok(participants)
    }
    /// The co-browse sessions of this conversation, oldest first.
    async fn cobrowse_sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        let data = ConversationData {
            full: Some(self.full(ctx).await?),
            ..self.0.clone()
        };
        Ok(data
            .sessions()
            .into_iter()
            .map(Session::PureCloud)
            .collect())
    }
    /// Engage co-browse reporting keys of this conversation, computed from
    /// its co-browse communications.
    async fn attached_data(&self, ctx: &Context<'_>) -> Result<EngageData> {
        let full = self.full(ctx).await?;
        Ok(EngageData::of_conversation(ctx, &full))
    }
    /// Every screen-share communication of every participant.
    async fn screenshares(&self, ctx: &Context<'_>) -> Result<Vec<ScreenshareComm>> {
        let full = self.full(ctx).await?;
        let data = ConversationData {
            full: Some(Arc::clone(&full)),
            ..self.0.clone()
        };
        Ok(full
            .participants
            .iter()
            .enumerate()
            .flat_map(|(p, participant)| {
                let data = data.clone();
                (0..participant.screenshares.len())
                    .map(move |s| ScreenshareComm::new(data.clone(), p, s))
            })
            .collect())
    }
}

/// Picks a field from the co-browse view, else from the full participant.
macro_rules! either {
    ($self:ident . $field:ident) => {
        $self
            .media()
            .and_then(|m| m.$field.as_ref())
            .or_else(|| $self.full().and_then(|f| f.$field.as_ref()))
    };
}

/// A participant of a conversation, as co-browse sees it.
#[derive(Clone)]
pub(crate) struct Participant {
    pub(crate) conversation: ConversationData,
    pub(crate) full: Option<usize>,
    pub(crate) view: Option<usize>,
}

impl Participant {
    fn full(&self) -> Option<&model::Participant> {
        self.conversation
            .full
            .as_ref()?
            .participants
            .get(self.full?)
    }

    fn media(&self) -> Option<&model::CobrowseMediaParticipant> {
        self.conversation
            .view
            .as_ref()?
            .participants
            .get(self.view?)
    }

    pub(crate) fn display_name(&self) -> Option<&str> {
        either!(self.name).map(String::as_str)
    }

    pub(crate) fn pid(&self) -> Option<&str> {
        self.media()
            .and_then(|m| m.id.as_deref())
            .or_else(|| self.full().and_then(|f| f.id.as_deref()))
    }

    /// The user and queue ids this participant refers to.
    pub(crate) fn references(&self) -> (Option<Arc<str>>, Option<Arc<str>>) {
        let user = self
            .media()
            .and_then(|m| m.user.as_ref()?.id.as_deref())
            .or_else(|| self.full()?.user_id.as_deref());
        let queue = self
            .media()
            .and_then(|m| m.queue.as_ref()?.id.as_deref())
            .or_else(|| self.full()?.queue_id.as_deref());
        (user.map(Arc::from), queue.map(Arc::from))
    }

    fn purpose_value(&self) -> Option<ParticipantPurpose> {
        self.purpose_wire().map(Wire::get)
    }

    fn purpose_wire(&self) -> Option<&Wire<ParticipantPurpose>> {
        self.media()
            .and_then(|m| m.purpose.as_ref())
            .or_else(|| self.full().and_then(|f| f.purpose.as_ref()))
    }
}

/// A participant of a conversation, as co-browse sees it (the
/// `CobrowseMediaParticipant` of PureCloud, joined with the participant's
/// co-browse and screen-share communications).
#[Object(name = "CobrowseMediaParticipant")]
impl Participant {
    /// Global id of this participant (opaque; use it with `node(id:)`).
    pub async fn id(&self) -> ID {
        ID(NodeId::Participant {
            conversation: self.conversation.id.to_string(),
            participant: self.pid().unwrap_or_default().to_owned(),
        }
        .encode())
    }
    /// The participant's PureCloud id.
    async fn participant_id(&self) -> Option<&str> {
        self.pid()
    }
    /// The participant's display name.
    async fn name(&self) -> Option<&str> {
        either!(self.name).map(String::as_str)
    }
    /// The participant's address (an e-mail address or URL for web participants).
    async fn address(&self) -> Option<&str> {
        either!(self.address).map(String::as_str)
    }
    /// When the participant first joined the conversation.
    async fn start_time(&self) -> Option<Time> {
        either!(self.start_time).copied()
    }
    /// When the participant's co-browse communication first started alerting.
    async fn start_alerting_time(&self) -> Option<Time> {
        self.media()?.start_alerting_time
    }
    /// When the participant's co-browse media connected.
    async fn connected_time(&self) -> Option<Time> {
        either!(self.connected_time).copied()
    }
    /// When the participant's co-browse media disconnected.
    async fn end_time(&self) -> Option<Time> {
        either!(self.end_time).copied()
    }
    /// When the participant's current hold began.
    async fn start_hold_time(&self) -> Option<Time> {
        self.media()?.start_hold_time
    }
    /// Why the participant is in the conversation.
    async fn purpose(&self) -> Option<ParticipantPurpose> {
        self.purpose_value()
    }
    /// `purpose` exactly as upstream sent it.
    async fn purpose_raw(&self) -> Option<&str> {
        self.purpose_wire().map(Wire::raw)
    }
    /// The participant's co-browse state.
    async fn state(&self) -> Option<CommunicationState> {
        self.media()?.state.as_ref().map(Wire::get)
    }
    /// `state` exactly as upstream sent it.
    async fn state_raw(&self) -> Option<&str> {
        self.media()?.state.as_ref().map(Wire::raw)
    }
    /// Whether the participant came in (`INBOUND`) or was called out to.
    async fn direction(&self) -> Option<Direction> {
        self.media()?.direction.as_ref().map(Wire::get)
    }
    /// `direction` exactly as upstream sent it.
    async fn direction_raw(&self) -> Option<&str> {
        self.media()?.direction.as_ref().map(Wire::raw)
    }
    /// Why the participant disconnected; null until then.
    async fn disconnect_type(&self) -> Option<DisconnectType> {
        self.media()?.disconnect_type.as_ref().map(Wire::get)
    }
    /// `disconnectType` exactly as upstream sent it.
    async fn disconnect_type_raw(&self) -> Option<&str> {
        self.media()?.disconnect_type.as_ref().map(Wire::raw)
    }
    /// Whether the participant is on hold.
    async fn held(&self) -> Option<bool> {
        self.media()?.held
    }
    /// Whether the participant must wrap up.
    async fn wrapup_required(&self) -> Option<bool> {
        either!(self.wrapup_required).copied()
    }
    /// How wrap-up is asked of the participant.
    async fn wrapup_prompt(&self) -> Option<WrapupPrompt> {
        either!(self.wrapup_prompt).map(Wire::get)
    }
    /// `wrapupPrompt` exactly as upstream sent it.
    async fn wrapup_prompt_raw(&self) -> Option<&str> {
        either!(self.wrapup_prompt).map(Wire::raw)
    }
    /// The PureCloud user behind this participant (agents).
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user_ref(ctx, self.references().0).await
    }
    /// The routing queue of this participant.
    async fn queue(&self, ctx: &Context<'_>) -> Result<Option<Queue>> {
        queue_ref(ctx, self.references().1).await
    }
    /// The team of this participant.
    async fn team(&self) -> Option<EntityRefObject<'_>> {
        self.media()?.team.as_ref().map(EntityRefObject)
    }
    /// Ad-hoc attributes of the participant, as key/value pairs sorted by key.
    async fn attributes(&self) -> Vec<Attribute<'_>> {
        let attributes = match (self.media(), self.full()) {
            (Some(m), _) if !m.attributes.is_empty() => &m.attributes,
            (_, Some(f)) => &f.attributes,
            (Some(m), None) => &m.attributes,
            (None, None) => return Vec::new(),
        };
        attributes
            .iter()
            .map(|(k, v)| Attribute::new(k, v))
            .collect()
    }
    /// Details of the error the conversation ended in, if it did.
    async fn error_info(&self) -> Option<ErrorInfo<'_>> {
        self.media()?.error_info.as_ref().map(ErrorInfo)
    }
    /// The script this participant should follow.
    async fn script(&self) -> Option<EntityRefObject<'_>> {
        self.media()?.script.as_ref().map(EntityRefObject)
    }
    /// How long the participant has to wrap up, in milliseconds.
    async fn wrapup_timeout_ms(&self) -> Option<i64> {
        either!(self.wrapup_timeout_ms).copied()
    }
    /// Whether the participant skipped wrap-up.
    async fn wrapup_skipped(&self) -> Option<bool> {
        either!(self.wrapup_skipped).copied()
    }
    /// How long the participant may alert before timing out, in milliseconds.
    async fn alerting_timeout_ms(&self) -> Option<i64> {
        either!(self.alerting_timeout_ms).copied()
    }
    /// The provider of the participant's co-browse communication.
    async fn provider(&self) -> Option<&str> {
        self.media()?.provider.as_deref()
    }
    /// The external contact this participant is (customers).
    async fn external_contact(&self) -> Option<EntityRefObject<'_>> {
        self.media()?.external_contact.as_ref().map(EntityRefObject)
    }
    /// The external contact's id, from whichever upstream shape has it.
    async fn external_contact_id(&self) -> Option<&str> {
        self.media()
            .and_then(|m| m.external_contact.as_ref()?.id.as_deref())
            .or_else(|| self.full()?.external_contact_id.as_deref())
    }
    /// The external organisation this participant represents.
    async fn external_organization(&self) -> Option<EntityRefObject<'_>> {
        self.media()?
            .external_organization
            .as_ref()
            .map(EntityRefObject)
    }
    /// The wrap-up applied to this participant, if any.
    async fn wrapup(&self) -> Option<WrapupObject<'_>> {
        either!(self.wrapup).map(WrapupObject)
    }
    /// The communication on the other leg of this participant's co-browse.
    async fn peer(&self, ctx: &Context<'_>) -> Result<Option<Communication>> {
        let Some(peer) = self.media().and_then(|m| m.peer.as_deref()) else {
            return Ok(None);
        };
        let data = self
            .conversation
            .clone()
            .with_full(source(ctx))
            .await
            .gql()?;
        Ok(data.communication(peer))
    }
    /// The id of the peer communication, as upstream sent it.
    async fn peer_id(&self) -> Option<&str> {
        self.media()?.peer.as_deref()
    }
    /// The co-browse session this participant is in now (or was in last).
    async fn cobrowse_session_id(&self) -> Option<&str> {
        self.media()?.cobrowse_session_id.as_deref()
    }
    /// Whether this participant shares (`SHARER`) or views (`VIEWER`).
    async fn cobrowse_role(&self) -> Option<CobrowseRole> {
        self.media()?.cobrowse_role.as_ref().map(Wire::get)
    }
    /// `cobrowseRole` exactly as upstream sent it.
    async fn cobrowse_role_raw(&self) -> Option<&str> {
        self.media()?.cobrowse_role.as_ref().map(Wire::raw)
    }
    /// The participants this one has been granted control of (empty when it
    /// cannot control any shared page).
    async fn controlling(&self, ctx: &Context<'_>) -> Result<Vec<Participant>> {
        let Some(ids) = self.media().map(|m| &m.controlling) else {
            return Ok(Vec::new());
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let data = self
            .conversation
            .clone()
            .for_participants(ctx, &ctx.look_ahead())
            .await?;
        Ok(ids.iter().filter_map(|id| data.participant(id)).collect())
    }
    /// Ids of the participants this one controls, as upstream sent them.
    async fn controlling_ids(&self) -> Vec<&str> {
        self.media()
            .map(|m| m.controlling.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
    /// The URL that opens the co-browse session in a browser (viewers).
    async fn viewer_url(&self) -> Option<&str> {
        self.media()?.viewer_url.as_deref()
    }
    /// When the provider event behind the latest update happened (provider clock, corrected).
    async fn provider_event_time(&self) -> Option<Time> {
        self.media()?.provider_event_time
    }
    /// The participant's co-browse communications.
    async fn cobrowse_sessions(&self) -> Vec<CobrowseComm> {
        let (Some(p), Some(full)) = (self.full, self.full()) else {
            return Vec::new();
        };
        (0..full.cobrowsesessions.len())
            .map(|c| CobrowseComm::new(self.conversation.clone(), p, c))
            .collect()
    }
    /// The participant's screen-share communications.
    async fn screenshares(&self) -> Vec<ScreenshareComm> {
        let (Some(p), Some(full)) = (self.full, self.full()) else {
            return Vec::new();
        };
        (0..full.screenshares.len())
            .map(|s| ScreenshareComm::new(self.conversation.clone(), p, s))
            .collect()
    }
    /// `External` or `Internal`.
    async fn participant_type(&self) -> Option<&str> {
        self.full()?.participant_type.as_deref()
    }
    /// The participant's locale.
    async fn locale(&self) -> Option<&str> {
        self.full()?.locale.as_deref()
    }
    /// When after-call work started.
    async fn start_acw_time(&self) -> Option<Time> {
        either!(self.start_acw_time).copied()
    }
    /// When after-call work ended.
    async fn end_acw_time(&self) -> Option<Time> {
        either!(self.end_acw_time).copied()
    }
    /// The conversation this participant is in.
    async fn conversation(&self) -> Conversation {
        Conversation(self.conversation.clone())
    }
}

/// One key/value attribute.
pub(crate) struct Attribute<'a> {
    key: &'a str,
    value: &'a str,
}

impl<'a> Attribute<'a> {
    pub(crate) fn new(key: &'a str, value: &'a str) -> Self {
        Self { key, value }
    }
}

/// One key/value attribute.
#[Object]
impl Attribute<'_> {
    /// The attribute's name.
    async fn key(&self) -> &str {
        self.key
    }
    /// The attribute's value.
    async fn value(&self) -> &str {
        self.value
    }
}
