//! Mutations for partner apps, on the media-agnostic participant endpoints.
//! Each one invalidates the cached conversation it changed and answers with
//! the participant as upstream now has it.

use std::collections::BTreeMap;

use async_graphql::{Context, InputObject, Object, Result};

use super::context::{source, store};
use super::conversation::{read_full, CobrowseMediaParticipantView, Session};
use super::errors::{bad_input, coded, GqlResult};
use super::guard::Needs;
use super::ids::{check_other_id, check_upstream_id};
use crate::live::Notice;
use crate::messenger::{Fact, FactSource, MessengerChannel, What};
use crate::updates::SessionUpdate;
use crate::upstream::model::{MediaParticipantRequest, ParticipantAttributes, Wrapup};

const MAX_ATTRIBUTES: usize = 50;
const MAX_KEY_LEN: usize = 256;
const MAX_VALUE_LEN: usize = 4096;
const MAX_NOTES_LEN: usize = 4096;

/// One attribute to set.
#[derive(InputObject)]
pub(crate) struct AttributeInput {
    /// The attribute's name (1 to 256 characters).
    pub key: String,
    /// The attribute's value (at most 4096 characters).
    pub value: String,
}

/// A wrap-up to apply.
#[derive(InputObject)]
pub(crate) struct WrapupInput {
    /// The wrap-up code's id (see `Query.wrapupCodes`).
    pub code: String,
    /// Notes (at most 4096 characters).
    pub notes: Option<String>,
    /// Tags.
    #[graphql(default)]
    pub tags: Vec<String>,
    /// How long wrap-up took, in seconds.
    pub duration_seconds: Option<i64>,
}

/// The root of mutations.
pub(crate) struct Mutation;

#[Object]
impl Mutation {
    /// Disconnects a participant from the co-browse (and every other) media of a conversation.
    #[graphql(guard = "Needs::WRITE")]
    async fn disconnect_participant(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        participant_id: String,
    ) -> Result<Option<CobrowseMediaParticipantView>> {
        let body = MediaParticipantRequest {
            state: Some("disconnected".into()),
            ..MediaParticipantRequest::default()
        };
        patch(ctx, &conversation_id, &participant_id, &body).await
    }

    /// Applies a wrap-up code to a participant.
    #[graphql(guard = "Needs::WRITE")]
    async fn apply_wrapup(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        participant_id: String,
        wrapup: WrapupInput,
    ) -> Result<Option<CobrowseMediaParticipantView>> {
        if wrapup.code.trim().is_empty() {
            return Err(bad_input("`wrapup.code` must not be empty"));
        }
        if wrapup
            .notes
            .as_ref()
            .is_some_and(|n| n.len() > MAX_NOTES_LEN)
        {
            return Err(bad_input(format!(
                "`wrapup.notes` must be at most {MAX_NOTES_LEN} characters"
            )));
        }
        if wrapup.duration_seconds.is_some_and(|d| d < 0) {
            return Err(bad_input("`wrapup.durationSeconds` must not be negative"));
        }
        let body = MediaParticipantRequest {
            wrapup: Some(Wrapup {
                code: Some(wrapup.code),
                notes: wrapup.notes,
                tags: wrapup.tags,
                duration_seconds: wrapup.duration_seconds,
                ..Wrapup::default()
            }),
            ..MediaParticipantRequest::default()
        };
        patch(ctx, &conversation_id, &participant_id, &body).await
    }

    /// Offers co-browse to the customer of a web messaging or voice conversation (Genesys Cloud Co-browse for Messenger; `POST /api/v2/conversations/{conversationId}/cobrowse`), as the agent's app would. Every call makes a new offer: it is not idempotent. Upstream needs `conversation:cobrowse:add` (web messaging) or `conversation:cobrowseVoice:add` (voice) of whoever calls it: the caller's own token in passthrough, the gateway's credentials in service mode. Answers the session the offer begins (its `joinCode` too); the only way a voice offer becomes known without the page script.
    #[graphql(guard = "Needs::WRITE")]
    async fn offer_cobrowse(&self, ctx: &Context<'_>, conversation_id: String) -> Result<Session> {
        check_upstream_id("conversationId", &conversation_id)?;
        let offer = source(ctx)
            .offer_cobrowse(&conversation_id)
            .await
            .map_err(|e| super::errors::upstream_for("offerCobrowse", &e))?;
        let Some(session_id) = offer
            .id
            .clone()
            .filter(|id| check_other_id("id", id).is_ok())
        else {
            return Err(coded(
                "UPSTREAM_INVALID",
                "Genesys answered the co-browse offer without a usable session id",
            ));
        };
        // Where the conversation was routed, for history and statistics by
        // queue and agent (the messages say it too, when they are heard).
        let (queue_id, user_id) = match source(ctx).routing(&conversation_id).await {
            Ok(routing) => routing,
            Err(e) => {
                tracing::warn!(conversation = %conversation_id, error = %e, "the offer's conversation could not be read: its queue and agent stay unknown until its messages say them");
                (None, None)
            }
        };
        let fact = Fact {
            key: format!("offer:{session_id}"),
            session_id: session_id.clone(),
            conversation_id,
            at: crate::freshness::now_utc(),
            what: What::Offered {
                source: FactSource::Gateway,
                channel: offer
                    .communication_type
                    .as_deref()
                    .and_then(MessengerChannel::of_communication_type),
                offer_ends: offer.date_offer_ends,
                queue_id,
                user_id,
                join_code: offer.join_code,
            },
        };
        let store = store(ctx);
        let (appended, session) = store.append_messenger(&fact).await.gql()?;
        if let Some(session) = &session {
            source(ctx).note_messenger(session);
        }
        if let (Some(session), false) = (&session, appended.fed) {
            let update = SessionUpdate::purecloud(Notice::Messenger(fact.change(session)));
            if let Some(update) = update {
                // No subscriber is not an error.
                let _ = ctx
                    .data_unchecked::<tokio::sync::broadcast::Sender<SessionUpdate>>()
                    .send(update);
            }
        }
        let session = match session {
            Some(session) => session,
            None => store
                .messenger_session(&session_id)
                .await
                .gql()?
                .ok_or_else(|| {
                    coded(
                        "NOT_FOUND",
                        format!("session {session_id} is no longer known"),
                    )
                })?,
        };
        Ok(Session::Messenger(std::sync::Arc::new(session)))
    }

    /// Deletes the Zoom sessions (with their stored webhook events) that ended before `endedBefore`; returns how many. Retention does this on its own (`store.retention`); this is for an operator who must erase sooner. Needs the `webhooks:admin` scope.
    #[graphql(guard = "Needs::WEBHOOKS_ADMIN")]
    async fn purge_ended_zoom_sessions(
        &self,
        ctx: &Context<'_>,
        ended_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        store(ctx).purge_ended_before(ended_before).await.gql()
    }

    /// Sets (adds or replaces) attributes of a participant.
    #[graphql(guard = "Needs::WRITE")]
    async fn set_participant_attributes(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        participant_id: String,
        attributes: Vec<AttributeInput>,
    ) -> Result<Option<CobrowseMediaParticipantView>> {
        if attributes.is_empty() || attributes.len() > MAX_ATTRIBUTES {
            return Err(bad_input(format!("pass 1 to {MAX_ATTRIBUTES} attributes")));
        }
        let mut map = BTreeMap::new();
        for AttributeInput { key, value } in attributes {
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(bad_input(format!(
                    "attribute keys must be 1 to {MAX_KEY_LEN} characters"
                )));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(bad_input(format!(
                    "attribute `{key}` is longer than {MAX_VALUE_LEN} characters"
                )));
            }
            map.insert(key, value);
        }
        check_ids(&conversation_id, &participant_id)?;
        let body = ParticipantAttributes { attributes: map };
        source(ctx)
            .patch_participant_attributes(&conversation_id, &participant_id, &body)
            .await
            .gql()?;
        reread(ctx, &conversation_id, &participant_id).await
    }
}

fn check_ids(conversation_id: &str, participant_id: &str) -> Result<()> {
    check_upstream_id("conversationId", conversation_id)?;
    check_upstream_id("participantId", participant_id)
}

async fn patch(
    ctx: &Context<'_>,
    conversation_id: &str,
    participant_id: &str,
    body: &MediaParticipantRequest,
) -> Result<Option<CobrowseMediaParticipantView>> {
    check_ids(conversation_id, participant_id)?;
    source(ctx)
        .patch_participant(conversation_id, participant_id, body)
        .await
        .gql()?;
    reread(ctx, conversation_id, participant_id).await
}

async fn reread(
    ctx: &Context<'_>,
    conversation_id: &str,
    participant_id: &str,
) -> Result<Option<CobrowseMediaParticipantView>> {
    let model = read_full(ctx, conversation_id).await?;
    CobrowseMediaParticipantView::find(ctx, &model, participant_id).await
}
