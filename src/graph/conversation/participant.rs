//! A participant of a conversation as co-browse sees it: its resolvers.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::*;
use crate::graph::directory::{queue_ref, user_ref, QueueView, UserView};
use crate::graph::ids::NodeId;
use crate::graph::values::{Attribute, EntityRefView, ErrorInfo, WrapupView};
use crate::purecloud::Model;
use crate::purecloud::{self, Shapes, Time};
use crate::upstream::enums::*;
use crate::upstream::wire::Wire;

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

    pub(super) fn get(&self) -> &purecloud::ParticipantModel {
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
