//! DTOs that mirror the PureCloud wire (docs/upstream.md, "Routes" and "Models").
//!
//! Field names are the wire's (camelCase); every field is optional, unknown
//! fields are ignored and enumerations are [`Wire`] strings, so an upstream
//! that grows never breaks decoding. The simulator serializes the same types,
//! which keeps the two ends of the wire honest with each other.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::enums::*;
use super::wire::Wire;

/// A timestamp as upstream sends it (ISO-8601, UTC).
pub(crate) type Time = DateTime<Utc>;

/// A reference to another entity (`DomainEntityRef` / `UriReference`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntityRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub self_uri: Option<String>,
}

/// Address and name data for an endpoint.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Address {
    pub name: Option<String>,
    pub name_raw: Option<String>,
    pub address_normalized: Option<String>,
    pub address_raw: Option<String>,
    pub address_displayable: Option<String>,
}

/// One stretch of a communication's timeline.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Segment {
    pub start_time: Option<Time>,
    pub end_time: Option<Time>,
    #[serde(rename = "type")]
    pub segment_type: Option<Wire<SegmentType>>,
    pub how_ended: Option<String>,
    pub disconnect_type: Option<Wire<DisconnectType>>,
}

/// Wrap-up (disposition) data.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Wrapup {
    pub code: Option<String>,
    pub name: Option<String>,
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub duration_seconds: Option<i64>,
    pub end_time: Option<Time>,
    pub provisional: Option<bool>,
}

/// After-call work of a communication.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AfterCallWork {
    pub start_time: Option<Time>,
    pub end_time: Option<Time>,
    pub state: Option<Wire<AfterCallWorkState>>,
}

/// A co-browse communication of a participant.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cobrowsesession {
    pub state: Option<Wire<CommunicationState>>,
    pub initial_state: Option<Wire<CommunicationState>>,
    pub id: Option<String>,
    pub disconnect_type: Option<Wire<DisconnectType>>,
    #[serde(rename = "self")]
    pub self_address: Option<Address>,
    pub cobrowse_session_id: Option<String>,
    pub cobrowse_role: Option<Wire<CobrowseRole>>,
    #[serde(default)]
    pub controlling: Vec<String>,
    pub viewer_url: Option<String>,
    pub provider_event_time: Option<Time>,
    pub start_alerting_time: Option<Time>,
    pub connected_time: Option<Time>,
    pub disconnected_time: Option<Time>,
    pub provider: Option<String>,
    pub peer_id: Option<String>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    pub wrapup: Option<Wrapup>,
    pub after_call_work: Option<AfterCallWork>,
    pub after_call_work_required: Option<bool>,
}

/// A screen-share communication of a participant.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Screenshare {
    pub state: Option<Wire<CommunicationState>>,
    pub initial_state: Option<Wire<CommunicationState>>,
    pub id: Option<String>,
    pub context: Option<String>,
    pub sharing: Option<bool>,
    pub peer_count: Option<i32>,
    pub disconnect_type: Option<Wire<DisconnectType>>,
    pub start_alerting_time: Option<Time>,
    pub connected_time: Option<Time>,
    pub disconnected_time: Option<Time>,
    pub provider: Option<String>,
    pub peer_id: Option<String>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    pub wrapup: Option<Wrapup>,
    pub after_call_work: Option<AfterCallWork>,
    pub after_call_work_required: Option<bool>,
}

/// A participant as the generic conversation endpoint returns it.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Participant {
    pub id: Option<String>,
    pub start_time: Option<Time>,
    pub end_time: Option<Time>,
    pub connected_time: Option<Time>,
    pub name: Option<String>,
    pub user_uri: Option<String>,
    pub user_id: Option<String>,
    pub external_contact_id: Option<String>,
    pub external_organization_id: Option<String>,
    pub queue_id: Option<String>,
    pub group_id: Option<String>,
    pub team_id: Option<String>,
    pub queue_name: Option<String>,
    pub purpose: Option<Wire<ParticipantPurpose>>,
    pub participant_type: Option<String>,
    pub address: Option<String>,
    pub ani: Option<String>,
    pub ani_name: Option<String>,
    pub dnis: Option<String>,
    pub locale: Option<String>,
    pub wrapup_required: Option<bool>,
    pub wrapup_prompt: Option<Wire<WrapupPrompt>>,
    pub wrapup_timeout_ms: Option<i64>,
    pub wrapup_skipped: Option<bool>,
    pub wrapup: Option<Wrapup>,
    pub alerting_timeout_ms: Option<i64>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub cobrowsesessions: Vec<Cobrowsesession>,
    #[serde(default)]
    pub screenshares: Vec<Screenshare>,
    pub screen_recording_state: Option<String>,
    pub flagged_reason: Option<String>,
    pub start_acw_time: Option<Time>,
    pub end_acw_time: Option<Time>,
}

/// A whole conversation (`GET /api/v2/conversations/{id}`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Conversation {
    pub id: Option<String>,
    pub name: Option<String>,
    pub external_tag: Option<String>,
    pub start_time: Option<Time>,
    pub end_time: Option<Time>,
    pub address: Option<String>,
    #[serde(default)]
    pub participants: Vec<Participant>,
    #[serde(default)]
    pub conversation_ids: Vec<String>,
    pub max_participants: Option<i32>,
    pub recording_state: Option<Wire<RecordingState>>,
    #[serde(default)]
    pub divisions: Vec<DivisionRef>,
    pub self_uri: Option<String>,
}

/// A division a conversation belongs to, with the entities in it.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DivisionRef {
    pub division: Option<EntityRef>,
    #[serde(default)]
    pub entities: Vec<EntityRef>,
}

/// What upstream says of the token a call carried (`TokenInfo`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
pub(crate) struct TokenInfo {
    pub organization: Option<EntityRef>,
    #[serde(rename = "OAuthClient")]
    pub oauth_client: Option<EntityRef>,
    #[serde(default, rename = "authorizedScope")]
    pub authorized_scope: Vec<String>,
}

/// Error details as upstream reports them (`ErrorBody`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    pub message: Option<String>,
    pub code: Option<String>,
    pub status: Option<i32>,
    pub entity_id: Option<String>,
    pub entity_name: Option<String>,
    pub message_with_params: Option<String>,
    #[serde(default)]
    pub message_params: BTreeMap<String, String>,
    pub context_id: Option<String>,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
    #[serde(default)]
    pub errors: Vec<ErrorBody>,
}

/// One detail line of an [`ErrorBody`].
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDetail {
    pub error_code: Option<String>,
    pub field_name: Option<String>,
    pub entity_id: Option<String>,
    pub entity_name: Option<String>,
}

/// A participant as the co-browse endpoints return it.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CobrowseMediaParticipant {
    pub id: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub start_time: Option<Time>,
    pub start_alerting_time: Option<Time>,
    pub connected_time: Option<Time>,
    pub end_time: Option<Time>,
    pub start_hold_time: Option<Time>,
    pub purpose: Option<Wire<ParticipantPurpose>>,
    pub state: Option<Wire<CommunicationState>>,
    pub direction: Option<Wire<Direction>>,
    pub disconnect_type: Option<Wire<DisconnectType>>,
    pub held: Option<bool>,
    pub wrapup_required: Option<bool>,
    pub wrapup_prompt: Option<Wire<WrapupPrompt>>,
    pub user: Option<EntityRef>,
    pub queue: Option<EntityRef>,
    pub team: Option<EntityRef>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub error_info: Option<ErrorBody>,
    pub script: Option<EntityRef>,
    pub wrapup_timeout_ms: Option<i64>,
    pub wrapup_skipped: Option<bool>,
    pub alerting_timeout_ms: Option<i64>,
    pub provider: Option<String>,
    pub external_contact: Option<EntityRef>,
    pub external_organization: Option<EntityRef>,
    pub wrapup: Option<Wrapup>,
    pub peer: Option<String>,
    pub cobrowse_session_id: Option<String>,
    pub cobrowse_role: Option<Wire<CobrowseRole>>,
    #[serde(default)]
    pub controlling: Vec<String>,
    pub viewer_url: Option<String>,
    pub provider_event_time: Option<Time>,
    pub start_acw_time: Option<Time>,
    pub end_acw_time: Option<Time>,
}

/// The co-browse view of a conversation.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CobrowseConversation {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub participants: Vec<CobrowseMediaParticipant>,
    #[serde(default)]
    pub other_media_uris: Vec<String>,
    #[serde(default)]
    pub divisions: Vec<DivisionRef>,
    pub self_uri: Option<String>,
}

/// The paging envelope of every PureCloud entity listing.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listing<T> {
    #[serde(default = "Vec::new")]
    pub entities: Vec<T>,
    pub page_size: Option<i64>,
    pub page_number: Option<i64>,
    pub total: Option<i64>,
    pub page_count: Option<i64>,
    pub first_uri: Option<String>,
    pub self_uri: Option<String>,
    pub next_uri: Option<String>,
    pub previous_uri: Option<String>,
    pub last_uri: Option<String>,
}

/// A PureCloud user (the fields the graph shows).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub state: Option<String>,
    pub self_uri: Option<String>,
}

/// A routing queue (the fields the graph shows).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Queue {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub member_count: Option<i64>,
    pub self_uri: Option<String>,
}

/// A wrap-up code.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WrapupCode {
    pub id: Option<String>,
    pub name: Option<String>,
    pub date_created: Option<Time>,
    pub self_uri: Option<String>,
}

/// The body of `PATCH /api/v2/conversations/{cid}/participants/{pid}`.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MediaParticipantRequest {
    pub wrapup: Option<Wrapup>,
    pub state: Option<String>,
    pub recording: Option<bool>,
    pub muted: Option<bool>,
    pub confined: Option<bool>,
    pub held: Option<bool>,
    pub wrapup_skipped: Option<bool>,
}

/// The body of `PATCH .../participants/{pid}/attributes`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParticipantAttributes {
    pub attributes: BTreeMap<String, String>,
}

/// The OAuth token endpoint's answer.
#[derive(Serialize, Deserialize, Clone, Debug, get_size2::GetSize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// The OAuth token endpoint's error body.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, get_size2::GetSize)]
pub(crate) struct TokenError {
    pub error: Option<String>,
    pub description: Option<String>,
    pub error_description: Option<String>,
}
