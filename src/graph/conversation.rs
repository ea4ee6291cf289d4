//! Conversations, their participants and communications, and co-browse
//! sessions of either provider: the graph's types that refer to each other
//! (a participant names its conversation, a session its communications),
//! kept in one file so that no two files import each other. Each is a thin
//! view over the domain: [`crate::purecloud::ConversationModel`] for PureCloud,
//! [`ZoomSession`] for Zoom. What a selection needs fetched comes from
//! [`super::shape`].

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, Union, ID};
use chrono::{DateTime, Utc};

use super::context::{duration_seconds, source};
use super::directory::{queue_ref, user_ref, QueueView, UserView};
use super::engage::{EngageData, COMPLEXITY};
use super::errors::GqlResult;
use super::guard::Needs;
use super::ids::NodeId;
use super::messenger::{end_reason, SessionChannel, SessionOffer, SessionProduct, TimeSource};
use super::shape;
use super::values::{
    AddressView, AfterCallWorkView, Attribute, EntityRefView, ErrorInfo, SegmentView, SessionMedia,
    WrapupView,
};
use crate::messenger::{MessengerSession, Phase};
use crate::purecloud::Model;
use crate::purecloud::{self, CommunicationAt, Media, Shapes, Time};
use crate::upstream::enums::*;
use crate::upstream::wire::Wire;
use crate::zoom::event::ZoomRole;
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

/// The answer of a field that reads from upstream or the store beyond what
/// its parent holds. Such a field is nullable, so that its failure nulls it
/// alone (partial results, `super::partial`) and not the parents up to the
/// nearest nullable one: one conversation's failure never blanks a
/// dashboard. A communication's own `participant` is the exception: it is
/// always there, and fails only with its conversation's extra shape.
pub(crate) type Fallible<T> = Result<Option<T>>;

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

/// A participant of a conversation, as co-browse sees it.
#[derive(Clone)]
pub(crate) struct CobrowseMediaParticipantView {
    conversation: Model,
    index: usize,
}

impl CobrowseMediaParticipantView {
    /// Participant `index` of `conversation`.
    pub(crate) fn new(conversation: &Model, index: usize) -> Self {
        Self {
            conversation: Arc::clone(conversation),
            index,
        }
    }

    /// The participant with this id, with what `look` (a selection of it)
    /// needs.
    pub(crate) async fn find(
        ctx: &Context<'_>,
        conversation: &Model,
        id: &str,
    ) -> Result<Option<Self>> {
        let model = with_participants(ctx, conversation, &ctx.look_ahead()).await?;
        Ok(model.participant(id).map(|i| Self::new(&model, i)))
    }

    fn get(&self) -> &purecloud::ParticipantModel {
        &self.conversation.participants[self.index]
    }
}

/// A participant of a conversation, as co-browse sees it (the `CobrowseMediaParticipant` of PureCloud, joined with the participant's co-browse and screen-share communications).
#[Object(name = "CobrowseMediaParticipant")]
impl CobrowseMediaParticipantView {
    /// Global id of this participant (opaque; use it with `node(id:)`).
    pub(crate) async fn id(&self) -> ID {
        ID(NodeId::Participant {
            conversation: self.conversation.id.to_string(),
            participant: self.get().id.clone().unwrap_or_default(),
        }
        .encode())
    }
    /// The participant's PureCloud id.
    async fn participant_id(&self) -> Option<&str> {
        self.get().id.as_deref()
    }
    /// The participant's display name.
    async fn name(&self) -> Option<&str> {
        self.get().name.as_deref()
    }
    /// The participant's address (an e-mail address or URL for web participants).
    async fn address(&self) -> Option<&str> {
        self.get().address.as_deref()
    }
    /// When the participant first joined the conversation.
    async fn start_time(&self) -> Option<Time> {
        self.get().start_time
    }
    /// When the participant's co-browse communication first started alerting.
    async fn start_alerting_time(&self) -> Option<Time> {
        self.get().start_alerting_time
    }
    /// When the participant's co-browse media connected.
    async fn connected_time(&self) -> Option<Time> {
        self.get().connected_time
    }
    /// When the participant's co-browse media disconnected.
    async fn end_time(&self) -> Option<Time> {
        self.get().end_time
    }
    /// When the participant's current hold began.
    async fn start_hold_time(&self) -> Option<Time> {
        self.get().start_hold_time
    }
    /// Why the participant is in the conversation.
    async fn purpose(&self) -> Option<ParticipantPurpose> {
        self.get().purpose.as_ref().map(Wire::get)
    }
    /// `purpose` exactly as upstream sent it.
    async fn purpose_raw(&self) -> Option<&str> {
        self.get().purpose.as_ref().map(Wire::raw)
    }
    /// The participant's co-browse state.
    async fn state(&self) -> Option<CommunicationState> {
        self.get().state.as_ref().map(Wire::get)
    }
    /// `state` exactly as upstream sent it.
    async fn state_raw(&self) -> Option<&str> {
        self.get().state.as_ref().map(Wire::raw)
    }
    /// Whether the participant came in (`INBOUND`) or was called out to.
    async fn direction(&self) -> Option<Direction> {
        self.get().direction.as_ref().map(Wire::get)
    }
    /// `direction` exactly as upstream sent it.
    async fn direction_raw(&self) -> Option<&str> {
        self.get().direction.as_ref().map(Wire::raw)
    }
    /// Why the participant disconnected; null until then.
    async fn disconnect_type(&self) -> Option<DisconnectType> {
        self.get().disconnect_type.as_ref().map(Wire::get)
    }
    /// `disconnectType` exactly as upstream sent it.
    async fn disconnect_type_raw(&self) -> Option<&str> {
        self.get().disconnect_type.as_ref().map(Wire::raw)
    }
    /// Whether the participant is on hold.
    async fn held(&self) -> Option<bool> {
        self.get().held
    }
    /// Whether the participant must wrap up.
    async fn wrapup_required(&self) -> Option<bool> {
        self.get().wrapup_required
    }
    /// How wrap-up is asked of the participant.
    async fn wrapup_prompt(&self) -> Option<WrapupPrompt> {
        self.get().wrapup_prompt.as_ref().map(Wire::get)
    }
    /// `wrapupPrompt` exactly as upstream sent it.
    async fn wrapup_prompt_raw(&self) -> Option<&str> {
        self.get().wrapup_prompt.as_ref().map(Wire::raw)
    }
    /// The PureCloud user behind this participant (agents).
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<UserView>> {
        user_ref(ctx, self.get().user_id.clone()).await
    }
    /// The routing queue of this participant.
    async fn queue(&self, ctx: &Context<'_>) -> Result<Option<QueueView>> {
        queue_ref(ctx, self.get().queue_id.clone()).await
    }
    /// The team of this participant.
    async fn team(&self) -> Option<EntityRefView<'_>> {
        self.get().team.as_ref().map(EntityRefView)
    }
    /// Ad-hoc attributes of the participant, as key/value pairs sorted by key.
    async fn attributes(&self) -> Vec<Attribute<'_>> {
        let attributes = &self.get().attributes;
        attributes
            .iter()
            .map(|(k, v)| Attribute::new(k, v))
            .collect()
    }
    /// Details of the error the conversation ended in, if it did.
    async fn error_info(&self) -> Option<ErrorInfo<'_>> {
        self.get().error_info.as_ref().map(ErrorInfo)
    }
    /// The script this participant should follow.
    async fn script(&self) -> Option<EntityRefView<'_>> {
        self.get().script.as_ref().map(EntityRefView)
    }
    /// How long the participant has to wrap up, in milliseconds.
    async fn wrapup_timeout_ms(&self) -> Option<i64> {
        self.get().wrapup_timeout_ms
    }
    /// Whether the participant skipped wrap-up.
    async fn wrapup_skipped(&self) -> Option<bool> {
        self.get().wrapup_skipped
    }
    /// How long the participant may alert before timing out, in milliseconds.
    async fn alerting_timeout_ms(&self) -> Option<i64> {
        self.get().alerting_timeout_ms
    }
    /// The provider of the participant's co-browse communication.
    async fn provider(&self) -> Option<&str> {
        self.get().provider.as_deref()
    }
    /// The external contact this participant is (customers).
    async fn external_contact(&self) -> Option<EntityRefView<'_>> {
        self.get().external_contact.as_ref().map(EntityRefView)
    }
    /// The external contact's id, from whichever upstream shape has it.
    async fn external_contact_id(&self) -> Option<&str> {
        self.get().external_contact_id.as_deref()
    }
    /// The external organisation this participant represents.
    async fn external_organization(&self) -> Option<EntityRefView<'_>> {
        self.get().external_organization.as_ref().map(EntityRefView)
    }
    /// The wrap-up applied to this participant, if any.
    async fn wrapup(&self) -> Option<WrapupView<'_>> {
        self.get().wrapup.as_ref().map(WrapupView)
    }
    /// The communication on the other leg of this participant's co-browse.
    async fn peer(&self, ctx: &Context<'_>) -> Result<Option<Communication>> {
        let Some(peer) = self.get().peer.as_deref() else {
            return Ok(None);
        };
        let model = with(ctx, &self.conversation, Shapes::FULL).await?;
        Ok(Communication::at(&model, peer))
    }
    /// The id of the peer communication, as upstream sent it.
    async fn peer_id(&self) -> Option<&str> {
        self.get().peer.as_deref()
    }
    /// The co-browse session this participant is in now (or was in last).
    async fn cobrowse_session_id(&self) -> Option<&str> {
        self.get().cobrowse_session_id.as_deref()
    }
    /// Whether this participant shares (`SHARER`) or views (`VIEWER`).
    async fn cobrowse_role(&self) -> Option<CobrowseRole> {
        self.get().cobrowse_role.as_ref().map(Wire::get)
    }
    /// `cobrowseRole` exactly as upstream sent it.
    async fn cobrowse_role_raw(&self) -> Option<&str> {
        self.get().cobrowse_role.as_ref().map(Wire::raw)
    }
    /// The participants this one has been granted control of (empty when it cannot control any shared page).
    async fn controlling(&self, ctx: &Context<'_>) -> Fallible<Vec<CobrowseMediaParticipantView>> {
        controlled(ctx, &self.conversation, &self.get().controlling)
            .await
            .map(Some)
    }
    /// Ids of the participants this one controls, as upstream sent them.
    async fn controlling_ids(&self) -> Vec<&str> {
        self.get().controlling.iter().map(String::as_str).collect()
    }
    /// The URL that opens the co-browse session in a browser (viewers).
    async fn viewer_url(&self) -> Option<&str> {
        self.get().viewer_url.as_deref()
    }
    /// When the provider event behind the latest update happened (provider clock, corrected).
    async fn provider_event_time(&self) -> Option<Time> {
        self.get().provider_event_time
    }
    /// The participant's co-browse communications.
    async fn cobrowse_sessions(&self) -> Vec<Cobrowsesession> {
        (0..self.get().cobrowsesessions.len())
            .map(|c| Cobrowsesession::new(&self.conversation, self.index, c))
            .collect()
    }
    /// The participant's screen-share communications.
    async fn screenshares(&self) -> Vec<Screenshare> {
        (0..self.get().screenshares.len())
            .map(|s| Screenshare::new(&self.conversation, self.index, s))
            .collect()
    }
    /// `External` or `Internal`.
    async fn participant_type(&self) -> Option<&str> {
        self.get().participant_type.as_deref()
    }
    /// The participant's locale.
    async fn locale(&self) -> Option<&str> {
        self.get().locale.as_deref()
    }
    /// When after-call work started.
    async fn start_acw_time(&self) -> Option<Time> {
        self.get().start_acw_time
    }
    /// When after-call work ended.
    async fn end_acw_time(&self) -> Option<Time> {
        self.get().end_acw_time
    }
    /// The conversation this participant is in.
    async fn conversation(&self) -> ConversationView {
        ConversationView(Arc::clone(&self.conversation))
    }
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

/// A co-browse or screen-share communication.
#[derive(Union)]
pub(crate) enum Communication {
    Cobrowsesession(Cobrowsesession),
    Screenshare(Screenshare),
}

impl Communication {
    /// The communication with this id in `model`.
    pub(crate) fn at(model: &Model, id: &str) -> Option<Self> {
        Some(match model.communication(id)? {
            CommunicationAt::Cobrowse { participant, index } => {
                Communication::Cobrowsesession(Cobrowsesession::new(model, participant, index))
            }
            CommunicationAt::Screenshare { participant, index } => {
                Communication::Screenshare(Screenshare::new(model, participant, index))
            }
        })
    }
}

/// Declares a communication type: the struct (a view of communication
/// `index` of participant `participant`), and a GraphQL object with the
/// fields every communication has (PureCloud's `Cobrowsesession` and
/// `Screenshare` share most of their model) plus the type's own `$extra`
/// resolvers.
macro_rules! communication {
    (
        $(#[$doc:meta])*
        $ty:ident, $record:ty, $list:ident,
        { $($extra:tt)* }
    ) => {
        #[derive(Clone)]
        pub(crate) struct $ty {
            conversation: Model,
            participant: usize,
            index: usize,
        }

        impl $ty {
            pub(crate) fn new(conversation: &Model, participant: usize, index: usize) -> Self {
                Self { conversation: Arc::clone(conversation), participant, index }
            }

            fn get(&self) -> &$record {
                &self.conversation.participants[self.participant].$list[self.index]
            }
        }

        $(#[$doc])*
        #[Object]
        impl $ty {
            /// Global id of this communication (opaque; use it with `node(id:)`).
            pub(crate) async fn id(&self) -> ID {
                ID(NodeId::$ty {
                    conversation: self.conversation.id.to_string(),
                    participant: self.conversation.participants[self.participant]
                        .id
                        .clone()
                        .unwrap_or_default(),
                    communication: self.get().id.clone().unwrap_or_default(),
                }
                .encode())
            }
            /// The communication's PureCloud id.
            async fn communication_id(&self) -> Option<&str> {
                self.get().id.as_deref()
            }
            /// The connection state.
            async fn state(&self) -> Option<CommunicationState> {
                self.get().state.as_ref().map(Wire::get)
            }
            /// `state` exactly as upstream sent it.
            async fn state_raw(&self) -> Option<&str> {
                self.get().state.as_ref().map(Wire::raw)
            }
            /// The state the communication started in.
            async fn initial_state(&self) -> Option<CommunicationState> {
                self.get().initial_state.as_ref().map(Wire::get)
            }
            /// What caused the disconnect; null until then.
            async fn disconnect_type(&self) -> Option<DisconnectType> {
                self.get().disconnect_type.as_ref().map(Wire::get)
            }
            /// `disconnectType` exactly as upstream sent it.
            async fn disconnect_type_raw(&self) -> Option<&str> {
                self.get().disconnect_type.as_ref().map(Wire::raw)
            }
            /// When the communication started alerting.
            async fn start_alerting_time(&self) -> Option<Time> {
                self.get().start_alerting_time
            }
            /// When the communication connected.
            async fn connected_time(&self) -> Option<Time> {
                self.get().connected_time
            }
            /// When the communication disconnected; null while connected.
            async fn disconnected_time(&self) -> Option<Time> {
                self.get().disconnected_time
            }
            /// Seconds connected: to the disconnect, or to now while connected.
            async fn duration_seconds(&self) -> Option<f64> {
                duration_seconds(self.get().connected_time, self.get().disconnected_time)
            }
            /// The provider of the communication.
            async fn provider(&self) -> Option<&str> {
                self.get().provider.as_deref()
            }
            /// The id of the communication on the matching leg, as upstream sent it.
            async fn peer_id(&self) -> Option<&str> {
                self.get().peer_id.as_deref()
            }
            /// The communication on the matching leg.
            async fn peer(&self) -> Option<Communication> {
                Communication::at(&self.conversation, self.get().peer_id.as_deref()?)
            }
            /// The communication's timeline.
            async fn segments(&self) -> Vec<SegmentView<'_>> {
                self.get().segments.iter().map(SegmentView).collect()
            }
            /// Wrap-up data, once applied.
            async fn wrapup(&self) -> Option<WrapupView<'_>> {
                self.get().wrapup.as_ref().map(WrapupView)
            }
            /// After-call work of the communication.
            async fn after_call_work(&self) -> Option<AfterCallWorkView<'_>> {
                self.get().after_call_work.as_ref().map(AfterCallWorkView)
            }
            /// Whether after-call work is required (agent-requested ACW only).
            async fn after_call_work_required(&self) -> Option<bool> {
                self.get().after_call_work_required
            }
            /// The participant this communication belongs to.
            async fn participant(&self, ctx: &Context<'_>) -> Result<CobrowseMediaParticipantView> {
                owner(ctx, &self.conversation, self.participant).await
            }
            $($extra)*
        }
    };
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

communication! {
    /// One participant's co-browse communication (`Cobrowsesession` upstream). The customer's communication shares; the agent's views. Both carry the same `cobrowseSessionId`; the session they make up, for any provider, is a `Session`.
    Cobrowsesession, purecloud::Cobrowsesession, cobrowsesessions,
    {
        /// Name and address of this end of the communication.
        #[graphql(name = "self")]
        async fn self_address(&self) -> Option<AddressView<'_>> {
            self.get().self_address.as_ref().map(AddressView)
        }
        /// The co-browse session id the sharer and its viewers share.
        async fn cobrowse_session_id(&self) -> Option<&str> {
            self.get().cobrowse_session_id.as_deref()
        }
        /// Whether this client shares or views.
        async fn cobrowse_role(&self) -> Option<CobrowseRole> {
            self.get().cobrowse_role.as_ref().map(Wire::get)
        }
        /// `cobrowseRole` exactly as upstream sent it.
        async fn cobrowse_role_raw(&self) -> Option<&str> {
            self.get().cobrowse_role.as_ref().map(Wire::raw)
        }
        /// The participants this client has been granted control of (empty when it cannot control any shared page).
        async fn controlling(&self, ctx: &Context<'_>) -> Fallible<Vec<CobrowseMediaParticipantView>> {
            controlled(ctx, &self.conversation, &self.get().controlling)
                .await
                .map(Some)
        }
        /// Ids of the participants this client controls, as upstream sent them.
        async fn controlling_ids(&self) -> Vec<&str> {
            self.get().controlling.iter().map(String::as_str).collect()
        }
        /// The URL that opens the session in a browser (viewers).
        async fn viewer_url(&self) -> Option<&str> {
            self.get().viewer_url.as_deref()
        }
        /// When the provider event behind the latest update happened.
        async fn provider_event_time(&self) -> Option<Time> {
            self.get().provider_event_time
        }
        /// The co-browse session this communication is part of.
        async fn session(&self) -> Option<Session> {
            let id = self.get().cobrowse_session_id.as_deref()?;
            let session = self.conversation.session(id)?;
            Some(Session::PureCloud(PureCloudSession::new(&self.conversation, session)))
        }
    }
}

communication! {
    /// One participant's screen-share communication (`Screenshare` upstream).
    Screenshare, purecloud::Screenshare, screenshares,
    {
        /// The conference room of the share (an XMPP JID).
        async fn context(&self) -> Option<&str> {
            self.get().context.as_deref()
        }
        /// Whether this participant is the one sharing its screen.
        async fn sharing(&self) -> Option<bool> {
            self.get().sharing
        }
        /// How many peers this participant sees in the conference.
        async fn peer_count(&self) -> Option<i32> {
            self.get().peer_count
        }
    }
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

impl PureCloudSession {
    pub(crate) fn new(conversation: &Model, session: purecloud::MediaSession) -> Self {
        Self {
            conversation: Arc::clone(conversation),
            session,
        }
    }

    fn legs(&self) -> impl Iterator<Item = purecloud::Leg<'_>> {
        self.session.legs(&self.conversation)
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
    /// Co-browse for Messenger (provider `PURECLOUD`), folded from the
    /// conversation's messages, the gateway's offers and the page's reports.
    Messenger(Arc<MessengerSession>),
}

impl From<&crate::updates::UpdatedSession> for Session {
    fn from(state: &crate::updates::UpdatedSession) -> Self {
        use crate::updates::UpdatedSession;
        match state {
            UpdatedSession::PureCloud(conversation, session) => {
                Session::PureCloud(PureCloudSession::new(conversation, session.clone()))
            }
            UpdatedSession::Zoom(session) => Session::Zoom(Arc::clone(session)),
            UpdatedSession::Messenger(session) => Session::Messenger(Arc::clone(session)),
        }
    }
}

impl Session {
    /// The provider.
    pub(crate) fn provider(&self) -> SessionProvider {
        match self {
            Session::PureCloud(_) | Session::Messenger(_) => SessionProvider::Purecloud,
            Session::Zoom(_) => SessionProvider::Zoom,
        }
    }

    /// The provider's id of the session.
    pub(crate) fn provider_id(&self) -> &str {
        match self {
            Session::PureCloud(s) => &s.session.id,
            Session::Zoom(z) => &z.session_id,
            Session::Messenger(m) => &m.id,
        }
    }

    /// When it started.
    pub(crate) fn start(&self) -> Option<Time> {
        match self {
            Session::PureCloud(s) => s.session.start(&s.conversation),
            Session::Zoom(z) => z.start(),
            Session::Messenger(m) => m.start().map(|s| s.at),
        }
    }

    /// When it ended (null while it goes on).
    pub(crate) fn end(&self) -> Option<Time> {
        match self {
            Session::PureCloud(s) => s.session.end(&s.conversation),
            Session::Zoom(z) => z.end_time.filter(|_| z.ended),
            Session::Messenger(m) => m.end().map(|e| e.at),
        }
    }

    /// Its global id.
    pub(crate) fn node_id(&self) -> NodeId {
        match self {
            Session::PureCloud(s) => NodeId::PureCloudSession {
                conversation: s.conversation.id.to_string(),
                session: s.session.id.to_string(),
            },
            Session::Zoom(z) => NodeId::ZoomSession {
                account: z.account_id.clone(),
                session: z.session_id.clone(),
            },
            Session::Messenger(m) => NodeId::MessengerSession {
                session: m.id.clone(),
            },
        }
    }

    /// Co-browse or screen share.
    pub(crate) fn media(&self) -> SessionMedia {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Screenshare => {
                SessionMedia::Screenshare
            }
            _ => SessionMedia::Cobrowse,
        }
    }

    /// The URL a viewer opens the session with (PureCloud co-browse).
    pub(crate) fn viewer_link(&self) -> Option<&str> {
        match self {
            Session::PureCloud(s) => s.legs().find_map(|l| l.viewer_url),
            Session::Zoom(_) | Session::Messenger(_) => None,
        }
    }

    /// The page the session started from, its PIN and why it ended (Zoom;
    /// Co-browse for Messenger: why it ended).
    pub(crate) fn zoom_texts(&self) -> [Option<&str>; 3] {
        match self {
            Session::Zoom(z) => [
                z.start_url.as_deref(),
                z.session_pin.as_deref(),
                z.end_reason.as_deref(),
            ],
            Session::Messenger(m) => [None, None, end_reason(m, crate::freshness::now_utc())],
            Session::PureCloud(_) => [None; 3],
        }
    }

    /// Whether it goes on.
    pub(crate) fn state(&self) -> SessionState {
        let active = match self {
            Session::PureCloud(s) => s.session.active(&s.conversation),
            Session::Zoom(z) => !z.ended,
            Session::Messenger(m) => {
                return match m.phase(crate::freshness::now_utc()) {
                    Phase::Offered => SessionState::Offered,
                    Phase::Active => SessionState::Active,
                    Phase::Ended => SessionState::Ended,
                }
            }
        };
        if active {
            SessionState::Active
        } else {
            SessionState::Ended
        }
    }

    /// Which co-browse product it is.
    pub(crate) fn product_kind(&self) -> SessionProduct {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Screenshare => {
                SessionProduct::LegacyScreenshare
            }
            Session::PureCloud(_) => SessionProduct::LegacyCobrowse,
            Session::Messenger(_) => SessionProduct::MessengerCobrowse,
            Session::Zoom(_) => SessionProduct::ZoomCobrowse,
        }
    }
}

/// A co-browse session, whatever its provider. PureCloud sessions group the co-browse communications of a conversation that share one `cobrowseSessionId`; Zoom sessions are folded from Zoom Cobrowse webhooks.
#[Object]
impl Session {
    /// Global id of this session (opaque; use it with `node(id:)`).
    pub(crate) async fn id(&self) -> ID {
        ID(self.node_id().encode())
    }
    /// Where the session comes from.
    #[graphql(name = "provider")]
    async fn provider_field(&self) -> SessionProvider {
        self.provider()
    }
    /// Co-browse (a shared browser page) or screen share (PureCloud only).
    async fn media_type(&self) -> SessionMedia {
        self.media()
    }
    /// The provider's id of the session: PureCloud's `cobrowseSessionId` (a screen share's room `context`), Zoom's `session_id`. A PureCloud session read from analytics (the history; the wall while the active set is polled, or after a back-fill set it right) has analytics' room id instead (`roomId`), which Genesys does not document as equal.
    async fn provider_session_id(&self) -> &str {
        self.provider_id()
    }
    /// Analytics' id of the session's room (`cobrowseRoomId`, `screenShareRoomId`), when the session was read from analytics; null when it was read from the conversation routes or events (PureCloud), and for Zoom.
    async fn room_id(&self) -> Option<&str> {
        match self {
            Session::PureCloud(s) if s.conversation.read_from_analytics() => Some(&s.session.id),
            _ => None,
        }
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
        self.zoom_texts()[0]
    }
    /// The PIN that joins the session (Zoom).
    async fn pin(&self) -> Option<&str> {
        self.zoom_texts()[1]
    }
    /// Why the session ended (Zoom: "The session ended", "Network connection error", ...).
    async fn end_reason(&self) -> Option<&str> {
        self.zoom_texts()[2]
    }
    /// The URL a viewer opens the session with (PureCloud co-browse).
    async fn viewer_url(&self) -> Option<&str> {
        self.viewer_link()
    }
    /// Which co-browse product the session is.
    #[graphql(name = "product")]
    async fn product_field(&self) -> SessionProduct {
        self.product_kind()
    }
    /// The channel a Co-browse for Messenger session was offered in (null for the other products, and when upstream did not say).
    async fn channel(&self) -> Option<SessionChannel> {
        match self {
            Session::Messenger(m) => m.channel.map(Into::into),
            _ => None,
        }
    }
    /// The offer the session began as (Co-browse for Messenger).
    async fn offer(&self) -> Option<SessionOffer> {
        match self {
            Session::Messenger(m) => Some(SessionOffer(Arc::clone(m))),
            _ => None,
        }
    }
    /// Who told the gateway the session started (null while it has not).
    async fn start_source(&self) -> Option<TimeSource> {
        match self {
            Session::Messenger(m) => m.start().map(|s| s.source.into()),
            _ => self.start().map(|_| TimeSource::Provider),
        }
    }
    /// Who told the gateway the session ended (null while it goes on). `CONVERSATION` is an inference: the conversation's agent leg ended and the customer's page did not report the end.
    async fn end_source(&self) -> Option<TimeSource> {
        match self {
            Session::Messenger(m) => m.end().map(|e| e.source.into()),
            _ => self.end().map(|_| TimeSource::Provider),
        }
    }
    /// The id of the conversation the session belongs to (PureCloud).
    async fn conversation_id(&self) -> Option<&str> {
        match self {
            Session::PureCloud(s) => Some(&s.conversation.id),
            Session::Messenger(m) => Some(&m.conversation_id),
            Session::Zoom(_) => None,
        }
    }
    /// The code a viewer joins a Co-browse for Messenger session with. Only for callers who may act as an agent (the `write` scope, or a passed-through Genesys token); never logged.
    #[graphql(guard = "Needs::WRITE")]
    async fn join_code(&self) -> Option<&str> {
        match self {
            Session::Messenger(m) => m.join_code.as_ref().map(|c| c.expose()),
            _ => None,
        }
    }
    /// The people in the session, with every connection they made.
    async fn participants(&self, ctx: &Context<'_>) -> Fallible<Vec<SessionParticipant>> {
        match self {
            Session::Messenger(_) => Ok(Some(Vec::new())),
            Session::Zoom(z) => Ok(Some(
                (0..z.participants.len())
                    .map(|i| SessionParticipant::Zoom(Arc::clone(z), i))
                    .collect(),
            )),
            Session::PureCloud(s) => session_people(ctx, s).await.map(Some),
        }
    }
    /// The conversation the session belongs to (PureCloud; for Co-browse for Messenger the web messaging or voice conversation, read when asked for).
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Option<ConversationView>> {
        match self {
            Session::PureCloud(s) => Ok(Some(ConversationView(Arc::clone(&s.conversation)))),
            Session::Messenger(m) => Ok(Some(ConversationView(
                read_full(ctx, &m.conversation_id).await?,
            ))),
            Session::Zoom(_) => Ok(None),
        }
    }
    /// The co-browse communications of the session (PureCloud co-browse).
    async fn communications(&self) -> Vec<Cobrowsesession> {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Cobrowse => s
                .session
                .comms
                .iter()
                .map(|&(p, c)| Cobrowsesession::new(&s.conversation, p, c))
                .collect(),
            _ => Vec::new(),
        }
    }
    /// The screen-share communications of the session (PureCloud screen share).
    async fn screenshares(&self) -> Vec<Screenshare> {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Screenshare => s
                .session
                .comms
                .iter()
                .map(|&(p, c)| Screenshare::new(&s.conversation, p, c))
                .collect(),
            _ => Vec::new(),
        }
    }
    /// The segments of every communication of the session, by start time (PureCloud).
    async fn segments(&self) -> Vec<SegmentView<'_>> {
        let Session::PureCloud(s) = self else {
            return Vec::new();
        };
        let mut segments: Vec<SegmentView<'_>> = s
            .legs()
            .flat_map(|l| l.segments.iter().map(SegmentView))
            .collect();
        segments.sort_by_key(|seg| seg.0.start_time);
        segments
    }
    /// Engage reporting keys of the interaction this session belongs to: for PureCloud the conversation, for Zoom the session itself.
    #[graphql(complexity = "COMPLEXITY + child_complexity")]
    async fn attached_data(&self, ctx: &Context<'_>) -> Fallible<EngageData> {
        match self {
            Session::PureCloud(s) => Ok(Some(EngageData::of_conversation(ctx, &s.conversation))),
            Session::Zoom(z) => EngageData::of_zoom(ctx, z).await.map(Some),
            Session::Messenger(_) => Ok(None),
        }
    }
}

/// The people of a PureCloud session: each participant with a
/// communication in it, with those communications, with what the selection
/// of `participant` needs.
async fn session_people(
    ctx: &Context<'_>,
    s: &PureCloudSession,
) -> Result<Vec<SessionParticipant>> {
    let look = ctx.look_ahead().field("participant");
    let fetched = with_participants(ctx, &s.conversation, &look).await?;
    // A conversation fetched beyond its analytics record may list its
    // participants in another order: find the session in it again.
    let (model, session) = match fetched.session(&s.session.id) {
        Some(session) if !Arc::ptr_eq(&fetched, &s.conversation) => (fetched, session),
        _ => (Arc::clone(&s.conversation), s.session.clone()),
    };
    let mut people: Vec<(usize, PureCloudPerson)> = Vec::new();
    for leg in session.legs(&model) {
        let join = SessionJoin {
            id: leg.id.map(str::to_owned),
            join: leg.connected,
            leave: leg.disconnected,
            reason: leg.disconnect_type.map(str::to_owned),
        };
        match people.iter_mut().find(|(i, _)| *i == leg.participant) {
            Some((_, person)) => person.joins.push(join),
            None => people.push((
                leg.participant,
                PureCloudPerson {
                    participant: CobrowseMediaParticipantView::new(&model, leg.participant),
                    role: leg.role,
                    name: leg.name.map(str::to_owned),
                    joins: vec![join],
                },
            )),
        }
    }
    Ok(people
        .into_iter()
        .map(|(_, person)| SessionParticipant::PureCloud(person))
        .collect())
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

/// A person in a co-browse session, whatever the provider.
#[Object]
impl SessionParticipant {
    /// The person's display name.
    async fn name(&self) -> Option<String> {
        match self {
            SessionParticipant::PureCloud(p) => {
                p.participant.get().name.clone().or_else(|| p.name.clone())
            }
            SessionParticipant::Zoom(z, i) => z.participants[*i].name.clone(),
        }
    }
    /// The provider's id of the person (PureCloud participant id; Zoom user id, unique within the session only).
    async fn provider_user_id(&self) -> Option<String> {
        match self {
            SessionParticipant::PureCloud(p) => p.participant.get().id.clone(),
            SessionParticipant::Zoom(z, i) => Some(z.participants[*i].user_id.clone()),
        }
    }
    /// Sharer or viewer (PureCloud); customer or agent (Zoom).
    async fn role(&self) -> SessionRole {
        match self {
            SessionParticipant::PureCloud(p) => match p.role {
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
            SessionParticipant::PureCloud(p) => p.joins.clone(),
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
    async fn participant(&self) -> Option<CobrowseMediaParticipantView> {
        match self {
            SessionParticipant::PureCloud(p) => Some(p.participant.clone()),
            SessionParticipant::Zoom(..) => None,
        }
    }
}

/// One connection of a person to a session.
#[derive(Clone)]
pub(crate) struct SessionJoin {
    id: Option<String>,
    join: Option<DateTime<Utc>>,
    leave: Option<DateTime<Utc>>,
    reason: Option<String>,
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
