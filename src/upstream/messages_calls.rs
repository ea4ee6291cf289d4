//! The client's Co-browse for Messenger routes (docs/upstream.md,
//! "Co-browse for Messenger"): the offer, the bulk messages read and the
//! message conversation.

use reqwest::Method;

use super::{decode, messages, Credential, Fetched, PureCloud, Route, UpstreamError};

impl PureCloud {
    /// `POST /api/v2/conversations/{id}/cobrowse`: a new co-browse offer in
    /// the conversation (each call makes another).
    pub(crate) async fn offer_cobrowse(
        &self,
        cred: &Credential,
        conversation_id: &str,
    ) -> Result<Fetched<messages::CobrowseOffer>, UpstreamError> {
        let url = self.url(&["conversations", conversation_id, "cobrowse"])?;
        let (body, correlation) = self
            .send::<()>(cred, Route::CobrowseOffer, Method::POST, url, None)
            .await?;
        decode(Route::CobrowseOffer, body, correlation)
    }

    /// `POST /api/v2/conversations/messages/{id}/messages/bulk`: the
    /// messages `ids` of a conversation (at most
    /// [`messages::BULK_MESSAGES`]), without their text.
    pub(crate) async fn messages_bulk(
        &self,
        cred: &Credential,
        conversation_id: &str,
        ids: &[&str],
    ) -> Result<Fetched<messages::MessageListing>, UpstreamError> {
        debug_assert!(ids.len() <= messages::BULK_MESSAGES);
        let url = self.url(&[
            "conversations",
            "messages",
            conversation_id,
            "messages",
            "bulk",
        ])?;
        self.post_json(cred, Route::MessagesBulk, url, &ids).await
    }

    /// `GET /api/v2/conversations/messages/{id}`: a messaging conversation
    /// with its participants' messages (ids and metadata; never text).
    pub(crate) async fn message_conversation(
        &self,
        cred: &Credential,
        conversation_id: &str,
    ) -> Result<Fetched<messages::MessageConversation>, UpstreamError> {
        let url = self.url(&["conversations", "messages", conversation_id])?;
        self.get_json(cred, Route::MessageConversation, url).await
    }
}
