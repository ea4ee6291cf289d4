//! DTOs of the analytics conversation details query (UPSTREAM.md §1,
//! "Analytics (historical) query").

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::model::Time;

/// The request body of `POST /api/v2/analytics/conversations/details/query`.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailsQuery {
    /// `start/end`, both ISO-8601.
    pub interval: String,
    pub order: Option<String>,
    pub paging: Option<Paging>,
    #[serde(default)]
    pub segment_filters: Vec<Filter>,
}

/// Paging of the details query.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Paging {
    pub page_size: u32,
    pub page_number: u32,
}

/// A filter clause (`type` is `and` or `or`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Filter {
    #[serde(rename = "type")]
    pub filter_type: String,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
}

/// One predicate of a filter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Predicate {
    pub dimension: String,
    pub value: String,
}

/// The answer of the details query.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailsResponse {
    #[serde(default)]
    pub conversations: Vec<AnalyticsConversation>,
    pub total_hits: Option<i64>,
}

/// A conversation as analytics reports it.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalyticsConversation {
    pub conversation_id: Option<String>,
    pub conversation_start: Option<Time>,
    pub conversation_end: Option<Time>,
    pub originating_direction: Option<String>,
    #[serde(default)]
    pub participants: Vec<AnalyticsParticipant>,
}

/// A participant as analytics reports it.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalyticsParticipant {
    pub participant_id: Option<String>,
    pub participant_name: Option<String>,
    pub purpose: Option<String>,
    pub user_id: Option<String>,
    #[serde(default)]
    pub sessions: Vec<AnalyticsSession>,
}

/// One media session of a participant.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalyticsSession {
    pub session_id: Option<String>,
    pub media_type: Option<String>,
    pub direction: Option<String>,
    pub provider: Option<String>,
    pub peer_id: Option<String>,
    pub cobrowse_role: Option<String>,
    pub cobrowse_room_id: Option<String>,
    pub screen_share_room_id: Option<String>,
    pub sharing_screen: Option<bool>,
    #[serde(default)]
    pub segments: Vec<AnalyticsSegment>,
}

/// One segment of an analytics session (`segmentType` is lower case).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalyticsSegment {
    pub segment_start: Option<Time>,
    pub segment_end: Option<Time>,
    pub segment_type: Option<String>,
    pub disconnect_type: Option<String>,
    pub queue_id: Option<String>,
    pub wrap_up_code: Option<String>,
    pub wrap_up_note: Option<String>,
}
