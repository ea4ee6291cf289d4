//! The Engage reporting keys as a GraphQL object: typed, and as the exact
//! key/value pairs Engage attaches.

use async_graphql::{Context, Object, Result};

use super::context::store;
use super::errors::GqlResult;
use super::values::Attribute;
use crate::engage::{attached, purecloud_steps, zoom_steps, AttachedData};
use crate::purecloud::{ConversationModel, Time};
use crate::store::AgentLoad;
use crate::zoom::fold::ZoomSession;

/// What `attachedData` counts for in query complexity besides its fields:
/// with an agent limit, a Zoom session's keys cost a store query.
pub(crate) const COMPLEXITY: usize = 10;

/// The Engage `agentSessionsLimit` (0: no limit), shared by the schema, and
/// how far back an agent's other sessions are looked for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AgentSessionsLimit {
    pub limit: usize,
    pub look_back: std::time::Duration,
}

/// Engage co-browse reporting data of one interaction.
pub(crate) struct EngageData {
    data: AttachedData,
    pairs: Vec<(&'static str, String)>,
}

impl EngageData {
    fn new(data: AttachedData) -> Self {
        let pairs = data.pairs();
        Self { data, pairs }
    }

    /// The keys of a PureCloud conversation, from its co-browse communications.
    pub(crate) fn of_conversation(ctx: &Context<'_>, conversation: &ConversationModel) -> Self {
        let limit = ctx.data_unchecked::<AgentSessionsLimit>().limit;
        Self::new(attached(&purecloud_steps(conversation, limit)))
    }

    /// The keys of a Zoom session. With an agent limit, the store answers
    /// how many other sessions each agent was in when it joined (one
    /// bounded query per session, counted in query complexity).
    pub(crate) async fn of_zoom(ctx: &Context<'_>, session: &ZoomSession) -> Result<Self> {
        let limits = ctx.data_unchecked::<AgentSessionsLimit>();
        let load = if limits.limit == 0 {
            AgentLoad::default()
        } else {
            store(ctx)
                .agent_load(session, limits.limit, limits.look_back)
                .await
                .gql()?
        };
        Ok(Self::new(attached(&zoom_steps(
            session,
            limits.limit,
            &load,
        ))))
    }
}

/// Engage co-browse reporting data of one interaction (Genesys Engage attaches it to the primary chat or voice interaction). Absent keys are null.
#[Object(name = "EngageAttachedData")]
impl EngageData {
    /// `CoBrowseAssociated`: true ("Yes") while an agent is in a session, false ("No") once the agent exits.
    async fn co_browse_associated(&self) -> Option<bool> {
        self.data.associated
    }
    /// `CoBrowseSessionsQuantity`: how many sessions the interaction had.
    async fn co_browse_sessions_quantity(&self) -> Option<u32> {
        self.data.sessions_quantity
    }
    /// `CoBrowseSessionId`: the latest session.
    async fn co_browse_session_id(&self) -> Option<&str> {
        self.data.session_id.as_deref()
    }
    /// `CoBrowseStartTime`: the start of the first session.
    async fn co_browse_start_time(&self) -> Option<Time> {
        self.data.start_time
    }
    /// `CoBrowseDuration`: summed seconds of every session (not used in Engage reporting).
    async fn co_browse_duration(&self) -> Option<i64> {
        self.data.duration_seconds
    }
    /// `CoBrowseEndTime`: the end of the last session (not used in Engage reporting 8.5.0+).
    async fn co_browse_end_time(&self) -> Option<Time> {
        self.data.end_time
    }
    /// `IsCoBrowseDenied`: true ("Yes") once a session was not allowed to start; false ("No") after a later allowed start; null when never denied.
    async fn is_co_browse_denied(&self) -> Option<bool> {
        self.data.denied
    }
    /// The keys exactly as Engage attaches them (times as epoch milliseconds).
    async fn pairs(&self) -> Vec<Attribute<'_>> {
        self.pairs
            .iter()
            .map(|(k, v)| Attribute::new(k, v))
            .collect()
    }
}
