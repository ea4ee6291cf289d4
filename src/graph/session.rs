//! A co-browse session as one node whatever its provider: a PureCloud session
//! (the communications of a conversation that share one `cobrowseSessionId`)
//! or a Zoom Cobrowse session (folded from webhook events).

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::communication::{CobrowseComm, SegmentObject};
use super::conversation::{Conversation, ConversationData, Participant};
use super::engage::EngageData;
use super::errors::GqlResult;
use super::ids::NodeId;
use super::{duration_seconds, source};
use crate::upstream::enums::CobrowseRole;
use crate::upstream::model::Time;
use crate::upstream::wire::Wire;
use crate::zoom::event::ZoomRole;
use crate::zoom::fold::ZoomSession;

/// Where a co-browse session comes from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SessionProvider {
    /// Genesys Cloud (PureCloud) co-browse, read from its API.
    Purecloud,
    /// Zoom Cobrowse SDK, pushed to the gateway as webhooks.
    Zoom,
}

/// Whether a co-browse session goes on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// It goes on.
    Active,
    /// It is over.
    Ended,
}

/// The part a person plays in a session.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionRole {
    /// PureCloud: the client whose browser is shared.
    Sharer,
    /// PureCloud: a client viewing the shared browser.
    Viewer,
    /// Zoom: the customer.
    Customer,
    /// Zoom: the agent.
    Agent,
    /// Upstream did not say.
    Unknown,
}

/// One PureCloud co-browse session of a conversation.
#[derive(Clone)]
pub(crate) struct PureCloudSession {
    conversation: ConversationData,
    session_id: Arc<str>,
    /// The communications of the session, found once.
    comms: Vec<CobrowseComm>,
}

impl PureCloudSession {
    /// Session `session_id` of `conversation` (which holds the full form).
    pub(crate) fn new(conversation: ConversationData, session_id: &str) -> Self {
        let mut comms = conversation.cobrowse_comms();
        comms.retain(|c| c.dto().cobrowse_session_id.as_deref() == Some(session_id));
        Self {
            conversation,
            session_id: session_id.into(),
            comms,
        }
    }

    fn start(&self) -> Option<Time> {
        self.comms
            .iter()
            .filter_map(|c| c.dto().connected_time.or(c.dto().start_alerting_time))
            .min()
    }

    fn end(&self) -> Option<Time> {
        if self.comms.is_empty() || self.comms.iter().any(CobrowseComm::is_active) {
            return None;
        }
        self.comms
            .iter()
            .filter_map(|c| c.dto().disconnected_time)
            .max()
    }
}

/// A co-browse session of either provider, as one node (`Session` in the
/// schema). Not PureCloud's `Cobrowsesession`, which is one participant's
/// co-browse communication: a PureCloud session holds the communications of
/// every participant that share its `cobrowseSessionId`.
#[derive(Clone)]
pub(crate) enum Session {
    PureCloud(PureCloudSession),
    Zoom(Arc<ZoomSession>),
}

impl From<PureCloudSession> for Session {
    fn from(session: PureCloudSession) -> Self {
        Session::PureCloud(session)
    }
}

impl Session {
    /// The provider.
    pub(crate) fn provider(&self) -> SessionProvider {
        match self {
            Session::PureCloud(_) => SessionProvider::Purecloud,
            Session::Zoom(_) => SessionProvider::Zoom,
        }
    }

    /// The provider's id of the session.
    pub(crate) fn provider_id(&self) -> &str {
        match self {
            Session::PureCloud(s) => &s.session_id,
            Session::Zoom(z) => &z.session_id,
        }
    }

    /// When it started.
    pub(crate) fn start(&self) -> Option<Time> {
        match self {
            Session::PureCloud(s) => s.start(),
            Session::Zoom(z) => z
                .start_time
                .or_else(|| z.participants.iter().filter_map(|p| p.first_join()).min()),
        }
    }

    /// When it ended (null while it goes on).
    pub(crate) fn end(&self) -> Option<Time> {
        match self {
            Session::PureCloud(s) => s.end(),
            Session::Zoom(z) => z.end_time.filter(|_| z.ended),
        }
    }

    /// Whether it goes on.
    pub(crate) fn state(&self) -> SessionState {
        let active = match self {
            Session::PureCloud(s) => s.comms.iter().any(CobrowseComm::is_active),
            Session::Zoom(z) => !z.ended,
        };
        if active {
            SessionState::Active
        } else {
            SessionState::Ended
        }
    }
}

/// A co-browse session, whatever its provider. PureCloud sessions group the
/// co-browse communications of a conversation that share one
/// `cobrowseSessionId`; Zoom sessions are folded from Zoom Cobrowse webhooks.
#[Object(name = "Session")]
impl Session {
    /// Global id of this session (opaque; use it with `node(id:)`).
    pub async fn id(&self) -> ID {
        let id = match self {
            Session::PureCloud(s) => NodeId::PureCloudSession {
                conversation: s.conversation.id.to_string(),
                session: s.session_id.to_string(),
            },
            Session::Zoom(z) => NodeId::ZoomSession {
                account: z.account_id.clone(),
                session: z.session_id.clone(),
            },
        };
        ID(id.encode())
    }
    /// Where the session comes from.
    #[graphql(name = "provider")]
    async fn provider_field(&self) -> SessionProvider {
        self.provider()
    }
    /// The provider's id of the session (PureCloud's `cobrowseSessionId`, Zoom's `session_id`).
    async fn provider_session_id(&self) -> &str {
        self.provider_id()
    }
    /// Whether the session goes on.
    #[graphql(name = "state")]
    async fn state_field(&self) -> SessionState {
        self.state()
    }
    /// When the session started.
    async fn start_time(&self) -> Option<Time> {
        self.start()
    }
    /// When the session ended; null while it goes on.
    async fn end_time(&self) -> Option<Time> {
        self.end()
    }
    /// Seconds from start to end (or to now while the session goes on).
    async fn duration_seconds(&self) -> Option<f64> {
        duration_seconds(self.start(), self.end())
    }
    /// The page the session started from (Zoom).
    async fn start_url(&self) -> Option<&str> {
        match self {
            Session::Zoom(z) => z.start_url.as_deref(),
            Session::PureCloud(_) => None,
        }
    }
    /// The PIN that joins the session (Zoom).
    async fn pin(&self) -> Option<&str> {
        match self {
            Session::Zoom(z) => z.session_pin.as_deref(),
            Session::PureCloud(_) => None,
        }
    }
    /// Why the session ended (Zoom: "The session ended", "Network connection error", ...).
    async fn end_reason(&self) -> Option<&str> {
        match self {
            Session::Zoom(z) => z.end_reason.as_deref(),
            Session::PureCloud(_) => None,
        }
    }
    /// The URL a viewer opens the session with (PureCloud).
    async fn viewer_url(&self) -> Option<&str> {
        match self {
            Session::PureCloud(s) => s.comms.iter().find_map(|c| c.dto().viewer_url.as_deref()),
            Session::Zoom(_) => None,
        }
    }
    /// The people in the session, with every connection they made.
    async fn participants(&self, ctx: &Context<'_>) -> Result<Vec<SessionParticipant>> {
        match self {
            Session::Zoom(z) => Ok((0..z.participants.len())
                .map(|i| SessionParticipant::Zoom(Arc::clone(z), i))
                .collect()),
            Session::PureCloud(s) => {
                let look = ctx.look_ahead().field("participant");
                let data = s.conversation.clone().for_participants(ctx, &look).await?;
                let all = data.participants();
                let mut chosen: Vec<(usize, Vec<CobrowseComm>)> = Vec::new();
                for comm in &s.comms {
                    let index = comm.participant_index();
                    match chosen.iter_mut().find(|(i, _)| *i == index) {
                        Some((_, comms)) => comms.push(comm.clone()),
                        None => chosen.push((index, vec![comm.clone()])),
                    }
                }
                Ok(chosen
                    .into_iter()
                    .filter_map(|(i, comms)| {
                        all.get(i)
                            .cloned()
                            .map(|p| SessionParticipant::PureCloud(p, comms))
                    })
                    .collect())
            }
        }
    }
    /// The conversation the session belongs to (PureCloud).
    async fn conversation(&self) -> Option<Conversation> {
        match self {
            Session::PureCloud(s) => Some(Conversation(s.conversation.clone())),
            Session::Zoom(_) => None,
        }
    }
    /// The co-browse communications of the session (PureCloud).
    async fn communications(&self) -> Vec<CobrowseComm> {
        match self {
            Session::PureCloud(s) => s.comms.clone(),
            Session::Zoom(_) => Vec::new(),
        }
    }
    /// The segments of every communication of the session, by start time (PureCloud).
    async fn segments(&self) -> Vec<SegmentObject<'_>> {
        let Session::PureCloud(s) = self else {
            return Vec::new();
        };
        let full = s
            .conversation
            .full
            .as_ref()
            .expect("sessions come from the full form");
        let mut segments: Vec<SegmentObject<'_>> = full
            .participants
            .iter()
            .flat_map(|p| &p.cobrowsesessions)
            .filter(|c| c.cobrowse_session_id.as_deref() == Some(&*s.session_id))
            .flat_map(|c| c.segments.iter().map(SegmentObject))
            .collect();
        segments.sort_by_key(|seg| seg.0.start_time);
        segments
    }
    /// Engage reporting keys of the interaction this session belongs to: for
    /// PureCloud the conversation, for Zoom the session itself.
    #[graphql(complexity = "super::engage::COMPLEXITY + child_complexity")]
    async fn attached_data(&self, ctx: &Context<'_>) -> Result<EngageData> {
        match self {
            Session::PureCloud(s) => {
                let full = s
                    .conversation
                    .full
                    .as_ref()
                    .expect("sessions come from the full form");
                Ok(EngageData::of_conversation(ctx, full))
            }
            Session::Zoom(z) => EngageData::of_zoom(ctx, z).await,
        }
    }
}

/// A person in a co-browse session.
pub(crate) enum SessionParticipant {
    PureCloud(Participant, Vec<CobrowseComm>),
    Zoom(Arc<ZoomSession>, usize),
}

/// One connection of a person to a session.
pub(crate) struct SessionJoin {
    id: Option<String>,
    join: Option<DateTime<Utc>>,
    leave: Option<DateTime<Utc>>,
    reason: Option<String>,
}

/// A person in a co-browse session, whatever the provider.
#[Object]
impl SessionParticipant {
    /// The person's display name.
    async fn name(&self) -> Option<String> {
        match self {
            SessionParticipant::PureCloud(p, comms) => {
                p.display_name().map(str::to_owned).or_else(|| {
                    comms
                        .iter()
                        .find_map(|c| c.dto().self_address.as_ref()?.name.clone())
                })
            }
            SessionParticipant::Zoom(z, i) => z.participants[*i].name.clone(),
        }
    }
    /// The provider's id of the person (PureCloud participant id; Zoom user id, unique within the session only).
    async fn provider_user_id(&self) -> Option<String> {
        match self {
            SessionParticipant::PureCloud(p, _) => p.pid().map(str::to_owned),
            SessionParticipant::Zoom(z, i) => Some(z.participants[*i].user_id.clone()),
        }
    }
    /// Sharer or viewer (PureCloud); customer or agent (Zoom).
    async fn role(&self) -> SessionRole {
        match self {
            SessionParticipant::PureCloud(_, comms) => match comms
                .first()
                .and_then(|c| c.dto().cobrowse_role.as_ref())
                .map(Wire::get)
            {
                Some(CobrowseRole::Sharer) => SessionRole::Sharer,
                Some(CobrowseRole::Viewer) => SessionRole::Viewer,
                _ => SessionRole::Unknown,
            },
            SessionParticipant::Zoom(z, i) => match z.participants[*i].role {
                Some(ZoomRole::Customer) => SessionRole::Customer,
                Some(ZoomRole::Agent) => SessionRole::Agent,
                None => SessionRole::Unknown,
            },
        }
    }
    /// Every connection, oldest first (PureCloud: each co-browse communication).
    async fn connections(&self) -> Vec<SessionJoin> {
        match self {
            SessionParticipant::PureCloud(_, comms) => comms
                .iter()
                .map(|c| SessionJoin {
                    id: c.dto().id.clone(),
                    join: c.dto().connected_time,
                    leave: c.dto().disconnected_time,
                    reason: c.dto().disconnect_type.as_ref().map(|d| d.raw().to_owned()),
                })
                .collect(),
            SessionParticipant::Zoom(z, i) => z.participants[*i]
                .connections
                .iter()
                .map(|c| SessionJoin {
                    id: Some(c.connection_id.clone()),
                    join: c.join_time,
                    leave: c.leave_time,
                    reason: c.leave_reason.clone(),
                })
                .collect(),
        }
    }
    /// The PureCloud participant behind this person (PureCloud).
    async fn participant(&self) -> Option<Participant> {
        match self {
            SessionParticipant::PureCloud(p, _) => Some(p.clone()),
            SessionParticipant::Zoom(..) => None,
        }
    }
}

/// One connection of a person to a session.
#[Object]
impl SessionJoin {
    /// The connection's id (Zoom `user_connection_id`; PureCloud communication id).
    async fn connection_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// When the connection joined.
    async fn join_time(&self) -> Option<Time> {
        self.join
    }
    /// When it left; null while connected.
    async fn leave_time(&self) -> Option<Time> {
        self.leave
    }
    /// Why it left (Zoom `leave_reason`; PureCloud `disconnectType`).
    async fn leave_reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
    /// Seconds connected (to now while connected).
    async fn duration_seconds(&self) -> Option<f64> {
        duration_seconds(self.join, self.leave)
    }
}

/// Loads a PureCloud session for `node(id:)` and `Query.cobrowseSession`.
pub(crate) async fn load_session(
    ctx: &Context<'_>,
    conversation: &str,
    session: &str,
) -> Result<Option<Session>> {
    let full = source(ctx).conversation(conversation).await.gql()?;
    let data = ConversationData::from_full(conversation, full);
    Ok(data
        .sessions()
        .into_iter()
        .find(|s| &*s.session_id == session)
        .map(Session::PureCloud))
}
