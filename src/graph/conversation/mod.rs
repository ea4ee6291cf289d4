//! Conversations, their participants and communications, and co-browse
//! sessions of either provider: the graph's types that refer to each other
//! (a participant names its conversation, a session its communications).
//! Their definitions live here, at the folder's root, so that the files of
//! their resolvers (`participant`, `communication`, `session`, `people`)
//! each depend on the root and never on each other. Each is a thin view over
//! the domain: [`crate::purecloud::ConversationModel`] for PureCloud,
//! [`ZoomSession`] for Zoom. What a selection needs fetched comes from
//! [`super::shape`].

mod communication;
mod participant;
mod people;
mod session;

pub(crate) use communication::{Cobrowsesession, Screenshare};

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, Union, ID};
use chrono::{DateTime, Utc};

use super::context::{duration_seconds, source};
use super::engage::EngageData;
use super::errors::GqlResult;
use super::ids::NodeId;
use super::shape;
use crate::messenger::MessengerSession;
use crate::purecloud::Model;
use crate::purecloud::{self, Shapes, Time};
use crate::upstream::enums::*;
use crate::upstream::wire::Wire;
use crate::zoom::fold::ZoomSession;

/// `model` with what a selection of its participants (`look`) needs; the
/// selection is looked at only for the shapes `model` does not hold.
async fn with_participants(
    ctx: &Context<'_>,
    model: &Model,
    look: &async_graphql::Lookahead<'_>,
) -> Result<Model> {
    let held = model.shapes();
    if held.full && held.view {
        return Ok(Arc::clone(model));
    }
    with(
        ctx,
        model,
        shape::participant(look, held, model.final_record()),
    )
    .await
}

/// `model` with at least `shapes`, fetched (and built) when missing. The
/// fetch is boxed: every resolver that may fetch awaits this, and a fetch's
/// state would otherwise sit inline in each of their futures, which are all
/// alive at once while a page resolves.
async fn with(ctx: &Context<'_>, model: &Model, shapes: Shapes) -> Result<Model> {
    let held = model.shapes();
    if (held.full || !shapes.full) && (held.view || !shapes.view) {
        return Ok(Arc::clone(model));
    }
    let fetch = source(ctx).conversation(&model.id, shapes, Some(model));
    Box::pin(fetch).await.gql()
}

/// Conversation `id` in its full form (upstream's 404 is an error).
pub(crate) async fn read_full(ctx: &Context<'_>, id: &str) -> Result<Model> {
    let fetch = source(ctx).conversation(id, Shapes::FULL, None);
    Box::pin(fetch).await.gql()
}

/// A conversation that has (or had) co-browse or screen-share media.
#[derive(Clone)]
pub(crate) struct ConversationView(pub(crate) Model);

/// A conversation that has (or had) co-browse or screen-share media.
#[Object(name = "Conversation")]
impl ConversationView {
    /// Global id of this conversation (opaque; use it with `node(id:)`).
    pub(crate) async fn id(&self) -> ID {
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
    async fn name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        // Either shape has it; a conversation built from its analytics
        // record holds neither.
        let needs = if self.0.shapes() == Shapes::NONE {
            Shapes::FULL
        } else {
            Shapes::NONE
        };
        let model = with(ctx, &self.0, needs).await?;
        Ok(model.name.clone())
    }
    /// When the conversation started.
    async fn start_time(&self, ctx: &Context<'_>) -> Result<Option<Time>> {
        Ok(with(ctx, &self.0, Shapes::FULL).await?.start_time)
    }
    /// When the conversation ended; null while it goes on.
    async fn end_time(&self, ctx: &Context<'_>) -> Result<Option<Time>> {
        Ok(with(ctx, &self.0, Shapes::FULL).await?.end_time)
    }
    /// Seconds from start to end (or to now, while it goes on).
    async fn duration_seconds(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        let full = with(ctx, &self.0, Shapes::FULL).await?;
        Ok(duration_seconds(full.start_time, full.end_time))
    }
    /// A tag set by an external system.
    async fn external_tag(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(with(ctx, &self.0, Shapes::FULL).await?.external_tag.clone())
    }
    /// The conversation's address (for web conversations, the page it started on).
    async fn address(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(with(ctx, &self.0, Shapes::FULL).await?.address.clone())
    }
    /// Whether the conversation is being recorded.
    async fn recording_state(&self, ctx: &Context<'_>) -> Result<Option<RecordingState>> {
        let full = with(ctx, &self.0, Shapes::FULL).await?;
        Ok(full.recording_state.as_ref().map(Wire::get))
    }
    /// `recordingState` exactly as upstream sent it.
    async fn recording_state_raw(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let full = with(ctx, &self.0, Shapes::FULL).await?;
        Ok(full.recording_state.as_ref().map(|w| w.raw().to_owned()))
    }
    /// The most participants the conversation has had at once.
    async fn max_participants(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        Ok(with(ctx, &self.0, Shapes::FULL).await?.max_participants)
    }
    /// Ids of conversations this one was merged with.
    async fn conversation_ids(&self, ctx: &Context<'_>) -> Fallible<Vec<String>> {
        let model = with(ctx, &self.0, Shapes::FULL).await?;
        Ok(Some(model.conversation_ids.clone()))
    }
    /// The participants, optionally only those of the given purposes.
    async fn participants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only participants with one of these purposes.")] purpose: Option<
            Vec<ParticipantPurpose>,
        >,
    ) -> Fallible<Vec<CobrowseMediaParticipantView>> {
        let model = with_participants(ctx, &self.0, &ctx.look_ahead()).await?;
        let wanted = |p: &purecloud::ParticipantModel| match &purpose {
            None => true,
            Some(purposes) => p
                .purpose
                .as_ref()
                .is_some_and(|x| purposes.contains(&x.get())),
        };
        Ok(Some(
            (0..model.participants.len())
                .filter(|&i| wanted(&model.participants[i]))
                .map(|i| CobrowseMediaParticipantView::new(&model, i))
                .collect(),
        ))
    }
    /// The co-browse sessions of this conversation, oldest first.
    async fn cobrowse_sessions(&self, ctx: &Context<'_>) -> Fallible<Vec<Session>> {
        let model = with(ctx, &self.0, Shapes::FULL).await?;
        let sessions = model.sessions().into_iter();
        Ok(Some(
            sessions
                .map(|session| Session::PureCloud(PureCloudSession::new(&model, session)))
                .collect(),
        ))
    }
    /// Engage co-browse reporting keys of this conversation, computed from its co-browse communications.
    async fn attached_data(&self, ctx: &Context<'_>) -> Fallible<EngageData> {
        let model = with(ctx, &self.0, Shapes::FULL).await?;
        Ok(Some(EngageData::of_conversation(ctx, &model)))
    }
    /// Every screen-share communication of every participant.
    async fn screenshares(&self, ctx: &Context<'_>) -> Fallible<Vec<Screenshare>> {
        let model = with(ctx, &self.0, Shapes::FULL).await?;
        Ok(Some(
            model
                .participants
                .iter()
                .enumerate()
                .flat_map(|(p, participant)| {
                    let model = &model;
                    (0..participant.screenshares.len()).map(move |s| Screenshare::new(model, p, s))
                })
                .collect(),
        ))
    }
}

/// The answer of a field that reads from upstream or the store beyond what
/// its parent holds. Such a field is nullable, so that its failure nulls it
/// alone (partial results, `super::partial`) and not the parents up to the
/// nearest nullable one: one conversation's failure never blanks a
/// dashboard. A communication's own `participant` is the exception: it is
/// always there, and fails only with its conversation's extra shape.
pub(crate) type Fallible<T> = Result<Option<T>>;

/// A participant of a conversation, as co-browse sees it.
#[derive(Clone)]
pub(crate) struct CobrowseMediaParticipantView {
    conversation: Model,
    index: usize,
}

/// A co-browse or screen-share communication.
#[derive(Union)]
pub(crate) enum Communication {
    Cobrowsesession(Cobrowsesession),
    Screenshare(Screenshare),
}

/// Where a co-browse session comes from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SessionProvider {
    /// Genesys Cloud (PureCloud) co-browse, read from its API.
    Purecloud,
    /// Zoom Cobrowse SDK, pushed to the gateway as webhooks.
    Zoom,
}

/// Whether a co-browse or screen-share session goes on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionState {
    /// It goes on: one of its communications is neither `disconnected` nor `terminated` and has no end (`disconnectedTime`). A Zoom session: started and not ended.
    Active,
    /// It is over: every communication ended, whatever its participants do next (a call that goes on, an agent's wrap-up).
    Ended,
    /// Co-browse for Messenger: offered to the customer, not answered yet (an offer rejected or expired is `ENDED`; accepted, `ACTIVE`).
    Offered,
}

/// The part a person plays in a session.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionRole {
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

/// One PureCloud co-browse or screen-share session of a conversation.
#[derive(Clone)]
pub(crate) struct PureCloudSession {
    conversation: Model,
    session: purecloud::MediaSession,
}

/// A co-browse session of either provider, as one node (`Session` in the
/// schema). Not PureCloud's `Cobrowsesession`, which is one participant's
/// co-browse communication: a PureCloud session holds the communications of
/// every participant that share its `cobrowseSessionId`.
#[derive(Clone)]
pub(crate) enum Session {
    PureCloud(PureCloudSession),
    Zoom(Arc<ZoomSession>),
    /// Co-browse for Messenger (provider `PURECLOUD`), folded from the
    /// conversation's messages, the gateway's offers and the page's reports.
    Messenger(Arc<MessengerSession>),
}

/// A PureCloud participant of a session, with its communications in it.
pub(crate) struct PureCloudPerson {
    participant: CobrowseMediaParticipantView,
    /// Its first communication's role.
    role: Option<CobrowseRole>,
    /// The name on its first communication's address.
    name: Option<String>,
    joins: Vec<SessionJoin>,
}

/// A person in a co-browse session.
pub(crate) enum SessionParticipant {
    PureCloud(PureCloudPerson),
    Zoom(Arc<ZoomSession>, usize),
}

/// One connection of a person to a session.
#[derive(Clone)]
pub(crate) struct SessionJoin {
    id: Option<String>,
    join: Option<DateTime<Utc>>,
    leave: Option<DateTime<Utc>>,
    reason: Option<String>,
}

/// The participants of `conversation` with these ids, with what the
/// selection of them needs.
async fn controlled(
    ctx: &Context<'_>,
    conversation: &Model,
    ids: &[String],
) -> Result<Vec<CobrowseMediaParticipantView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let model = with_participants(ctx, conversation, &ctx.look_ahead()).await?;
    Ok(ids
        .iter()
        .filter_map(|id| model.participant(id))
        .map(|i| CobrowseMediaParticipantView::new(&model, i))
        .collect())
}

/// Participant `index` of `conversation`, with what the selection of it
/// needs. Its index is the same in every model that holds the full form;
/// a conversation built from its analytics record holds neither shape, and
/// the participant is found again by id in the one fetched.
async fn owner(
    ctx: &Context<'_>,
    conversation: &Model,
    index: usize,
) -> Result<CobrowseMediaParticipantView> {
    let model = with_participants(ctx, conversation, &ctx.look_ahead()).await?;
    if conversation.shapes() != Shapes::NONE || Arc::ptr_eq(&model, conversation) {
        return Ok(CobrowseMediaParticipantView::new(&model, index));
    }
    let id = conversation.participants[index].id.as_deref();
    Ok(match id.and_then(|id| model.participant(id)) {
        Some(found) => CobrowseMediaParticipantView::new(&model, found),
        None => CobrowseMediaParticipantView::new(conversation, index),
    })
}
