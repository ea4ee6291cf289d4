//! The client's conversation routes: a conversation, its co-browse view,
//! the caller's co-browse listing, and the participant changes mutations make.

use reqwest::Method;

use super::model::*;
use super::paging::Paged;
use super::{Credential, Fetched, PureCloud, Route, UpstreamError};

impl PureCloud {
    /// `GET /api/v2/conversations/{id}`.
    pub(crate) async fn conversation(
        &self,
        cred: &Credential,
        id: &str,
    ) -> Result<Fetched<Conversation>, UpstreamError> {
        let url = self.url(&["conversations", id])?;
        self.get_json(cred, Route::Conversation, url).await
    }

    /// `GET /api/v2/conversations/cobrowsesessions/{id}`.
    pub(crate) async fn cobrowse_conversation(
        &self,
        cred: &Credential,
        id: &str,
    ) -> Result<Fetched<CobrowseConversation>, UpstreamError> {
        let url = self.url(&["conversations", "cobrowsesessions", id])?;
        self.get_json(cred, Route::CobrowseConversation, url).await
    }

    /// `GET /api/v2/conversations/cobrowsesessions`: the active co-browse
    /// conversations, following `nextUri` when upstream pages the listing.
    pub(crate) async fn cobrowse_conversations(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<CobrowseConversation>>, UpstreamError> {
        let first = self.url(&["conversations", "cobrowsesessions"])?;
        self.all_pages(cred, Route::CobrowseListing, first).await
    }

    /// `PATCH /api/v2/conversations/{cid}/participants/{pid}`.
    pub(crate) async fn patch_participant(
        &self,
        cred: &Credential,
        conversation_id: &str,
        participant_id: &str,
        body: &MediaParticipantRequest,
    ) -> Result<(), UpstreamError> {
        let url = self.url(&[
            "conversations",
            conversation_id,
            "participants",
            participant_id,
        ])?;
        self.send(
            cred,
            Route::PatchParticipant,
            Method::PATCH,
            url,
            Some(body),
        )
        .await
        .map(drop)
    }

    /// `PATCH /api/v2/conversations/{cid}/participants/{pid}/attributes`.
    pub(crate) async fn patch_participant_attributes(
        &self,
        cred: &Credential,
        conversation_id: &str,
        participant_id: &str,
        body: &ParticipantAttributes,
    ) -> Result<(), UpstreamError> {
        let url = self.url(&[
            "conversations",
            conversation_id,
            "participants",
            participant_id,
            "attributes",
        ])?;
        self.send(
            cred,
            Route::PatchParticipantAttributes,
            Method::PATCH,
            url,
            Some(body),
        )
        .await
        .map(drop)
    }
}
