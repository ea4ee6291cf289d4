//! A co-browse session as one node: the communications that share one
//! `cobrowseSessionId` (the customer's sharer and the agents' viewers).

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, ID};

use super::communication::{CobrowseComm, SegmentObject};
use super::conversation::{Conversation, ConversationData, Participant};
use super::errors::GqlResult;
use super::ids::NodeId;
use super::{duration_seconds, source};
use crate::upstream::enums::CobrowseRole;
use crate::upstream::model::Time;
use crate::upstream::wire::Wire;

/// Where a co-browse session comes from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionProvider {
    /// Genesys Cloud (PureCloud) co-browse, read from its API.
    Purecloud,
}

/// Whether a co-browse session goes on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// At least one of its communications is still connected.
    Active,
    /// Every communication has disconnected.
    Ended,
}

/// One co-browse session of a PureCloud conversation.
#[derive(Clone)]
pub struct PureCloudSession {
    conversation: ConversationData,
    session_id: Arc<str>,
    /// The communications of the session, found once.
    comms: Vec<CobrowseComm>,
}

impl PureCloudSession {
    /// Session `session_id` of `conversation` (which holds the full form).
    pub fn new(conversation: ConversationData, session_id: &str) -> Self {
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

    async fn participants_with_role(
        &self,
        ctx: &Context<'_>,
        role: Option<CobrowseRole>,
    ) -> Result<Vec<Participant>> {
        let data = self
            .conversation
            .clone()
            .for_participants(ctx, &ctx.look_ahead())
            .await?;
        let all = data.participants();
        let mut chosen: Vec<usize> = Vec::new();
        for comm in &self.comms {
            let matches =
                role.is_none_or(|r| comm.dto().cobrowse_role.as_ref().map(Wire::get) == Some(r));
            if matches && !chosen.contains(&comm.participant_index()) {
                chosen.push(comm.participant_index());
            }
        }
        Ok(chosen
            .into_iter()
            .filter_map(|i| all.get(i).cloned())
            .collect())
    }
}

/// One co-browse session: the communications of a conversation that share
/// one `cobrowseSessionId`, whatever participant holds them.
#[Object(name = "CoBrowseSession")]
impl PureCloudSession {
    /// Global id of this session (opaque; use it with `node(id:)`).
    pub async fn id(&self) -> ID {
        ID(NodeId::PureCloudSession {
            conversation: self.conversation.id.to_string(),
            session: self.session_id.to_string(),
        }
        .encode())
    }
    /// Where the session comes from.
    async fn provider(&self) -> SessionProvider {
        SessionProvider::Purecloud
    }
    /// The provider's id of the session (PureCloud's `cobrowseSessionId`).
    async fn provider_session_id(&self) -> &str {
        &self.session_id
    }
    /// Whether the session goes on.
    async fn state(&self) -> SessionState {
        if self.comms.iter().any(CobrowseComm::is_active) {
            SessionState::Active
        } else {
            SessionState::Ended
        }
    }
    /// When the first communication of the session connected.
    async fn start_time(&self) -> Option<Time> {
        self.start()
    }
    /// When the last communication disconnected; null while the session goes on.
    async fn end_time(&self) -> Option<Time> {
        self.end()
    }
    /// Seconds from start to end (or to now while the session goes on).
    async fn duration_seconds(&self) -> Option<f64> {
        duration_seconds(self.start(), self.end())
    }
    /// The URL a viewer opens the session with.
    async fn viewer_url(&self) -> Option<String> {
        self.comms.iter().find_map(|c| c.dto().viewer_url.clone())
    }
    /// The conversation the session belongs to.
    async fn conversation(&self) -> Conversation {
        Conversation(self.conversation.clone())
    }
    /// The co-browse communications of the session.
    async fn communications(&self) -> Vec<CobrowseComm> {
        self.comms.clone()
    }
    /// The participants that hold a communication of the session.
    async fn participants(&self, ctx: &Context<'_>) -> Result<Vec<Participant>> {
        self.participants_with_role(ctx, None).await
    }
    /// The participant whose browser is shared.
    async fn sharer(&self, ctx: &Context<'_>) -> Result<Option<Participant>> {
        Ok(self
            .participants_with_role(ctx, Some(CobrowseRole::Sharer))
            .await?
            .into_iter()
            .next())
    }
    /// The participants viewing the shared browser.
    async fn viewers(&self, ctx: &Context<'_>) -> Result<Vec<Participant>> {
        self.participants_with_role(ctx, Some(CobrowseRole::Viewer))
            .await
    }
    /// The segments of every communication of the session, by start time.
    async fn segments(&self) -> Vec<SegmentObject<'_>> {
        let full = self
            .conversation
            .full
            .as_ref()
            .expect("sessions come from the full form");
        let mut segments: Vec<SegmentObject<'_>> = full
            .participants
            .iter()
            .flat_map(|p| &p.cobrowsesessions)
            .filter(|c| c.cobrowse_session_id.as_deref() == Some(&*self.session_id))
            .flat_map(|c| c.segments.iter().map(SegmentObject))
            .collect();
        segments.sort_by_key(|s| s.0.start_time);
        segments
    }
}

/// Loads a session for `node(id:)` and `Query.cobrowseSession`.
pub async fn load_session(
    ctx: &Context<'_>,
    conversation: &str,
    session: &str,
) -> Result<Option<PureCloudSession>> {
    let full = source(ctx).conversation(conversation).await.gql()?;
    let data = ConversationData::from_full(conversation, full);
    Ok(data
        .sessions()
        .into_iter()
        .find(|s| &*s.session_id == session))
}
