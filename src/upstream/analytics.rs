//! DTOs of the analytics queries (docs/upstream.md, "Analytics"): conversation details
//! (the org-wide active set, history) and aggregates (statistics).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::model::Time;

/// The request body of `POST /api/v2/analytics/conversations/details/query`.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailsQuery {
    /// `start/end`, both ISO-8601.
    pub interval: String,
    /// `asc` (upstream's default), `desc` or `unordered`.
    pub order: Option<String>,
    /// `conversationStart` (upstream's default), `conversationEnd`,
    /// `segmentStart` or `segmentEnd`.
    pub order_by: Option<String>,
    pub paging: Option<Paging>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversation_filters: Vec<Filter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_filters: Vec<Filter>,
}

/// Paging of the details query.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Paging {
    pub page_size: u32,
    pub page_number: u32,
}

/// A filter: predicates and clauses joined by `type` (`and` or `or`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Filter {
    #[serde(rename = "type")]
    pub filter_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicates: Vec<Predicate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<Clause>,
}

/// A group of predicates inside a filter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Clause {
    #[serde(rename = "type")]
    pub clause_type: String,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
}

/// One predicate of a filter.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Predicate {
    /// `dimension` (upstream's default), `property` or `metric`.
    #[serde(rename = "type")]
    pub predicate_type: Option<String>,
    pub dimension: Option<String>,
    /// `matches` (upstream's default), `exists` or `notExists`.
    pub operator: Option<String>,
    pub value: Option<String>,
}

impl Predicate {
    /// `dimension` matches `value`.
    pub(crate) fn matches(dimension: &str, value: &str) -> Self {
        Self {
            predicate_type: Some("dimension".into()),
            dimension: Some(dimension.into()),
            operator: None,
            value: Some(value.into()),
        }
    }

    /// `dimension` has a value (for `conversationEnd`: ended).
    pub(crate) fn exists(dimension: &str) -> Self {
        Self {
            operator: Some("exists".into()),
            value: None,
            ..Self::matches(dimension, "")
        }
    }

    /// `dimension` has no value (for `conversationEnd`: still going on).
    pub(crate) fn not_exists(dimension: &str) -> Self {
        Self {
            predicate_type: Some("dimension".into()),
            dimension: Some(dimension.into()),
            operator: Some("notExists".into()),
            value: None,
        }
    }
}

impl Filter {
    /// Predicates that must all hold.
    pub(crate) fn and(predicates: Vec<Predicate>) -> Self {
        Self {
            filter_type: "and".into(),
            predicates,
            clauses: Vec::new(),
        }
    }

    /// Predicates of which one must hold.
    pub(crate) fn or(predicates: Vec<Predicate>) -> Self {
        Self {
            filter_type: "or".into(),
            predicates,
            clauses: Vec::new(),
        }
    }
}

/// The answer of the details query.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailsResponse {
    #[serde(default)]
    pub conversations: Vec<AnalyticsConversation>,
    /// Approximate while data streams in.
    pub total_hits: Option<i64>,
}

/// The answer of `POST /api/v2/analytics/conversations/details/jobs`
/// (`AsyncQueryResponse`). The job's query is a [`DetailsQuery`] without
/// `paging` (`AsyncConversationQuery`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobSubmitted {
    pub job_id: Option<String>,
}

/// `GET .../details/jobs/{jobId}` (`AsyncQueryStatus`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobStatus {
    /// `QUEUED`, `PENDING`, `FULFILLED`, `FAILED`, `CANCELLED`, `EXPIRED`.
    pub state: Option<String>,
    pub error_message: Option<String>,
    pub expiration_date: Option<Time>,
    pub submission_date: Option<Time>,
    pub completion_date: Option<Time>,
}

/// A page of a job's results, `GET .../details/jobs/{jobId}/results`
/// (`AnalyticsConversationAsyncQueryResponse`): no `cursor` on the last.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobResults {
    #[serde(default)]
    pub conversations: Vec<AnalyticsConversation>,
    pub cursor: Option<String>,
    pub data_availability_date: Option<Time>,
}

/// The answer of `GET /api/v2/analytics/conversations/details?id=..`
/// (`AnalyticsConversationWithoutAttributesMultiGetResponse`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct MultiGetResponse {
    #[serde(default)]
    pub conversations: Vec<AnalyticsConversation>,
}

/// A conversation as analytics reports it.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalyticsConversation {
    pub conversation_id: Option<String>,
    pub conversation_start: Option<Time>,
    pub conversation_end: Option<Time>,
    pub originating_direction: Option<String>,
    #[serde(default)]
    pub division_ids: Vec<String>,
    pub external_tag: Option<String>,
    #[serde(default)]
    pub participants: Vec<AnalyticsParticipant>,
}

/// A participant as analytics reports it.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
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
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
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
    #[serde(default)]
    pub metrics: Vec<SessionMetric>,
}

/// One segment of an analytics session (`segmentType` is lower case).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
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

/// A metric of a session (`tHandle` in milliseconds, ...).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionMetric {
    pub name: Option<String>,
    pub value: Option<f64>,
    pub emit_date: Option<Time>,
}

/// The request body of `POST /api/v2/analytics/conversations/aggregates/query`.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AggregatesQuery {
    pub interval: String,
    /// An ISO-8601 period (`PT30M`, `P1D`); none: the whole interval.
    pub granularity: Option<String>,
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    pub filter: Option<Filter>,
    #[serde(default)]
    pub metrics: Vec<String>,
}

/// The answer of the aggregates query.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AggregatesResponse {
    #[serde(default)]
    pub results: Vec<AggregateResult>,
}

/// The buckets of one group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AggregateResult {
    /// The group's dimension values (`queueId`, `mediaType`, ...).
    #[serde(default)]
    pub group: BTreeMap<String, String>,
    #[serde(default)]
    pub data: Vec<AggregateBucket>,
}

/// The metrics of one time bucket.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AggregateBucket {
    pub interval: String,
    #[serde(default)]
    pub metrics: Vec<AggregateMetric>,
}

/// One metric's statistics in a bucket.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AggregateMetric {
    pub metric: String,
    #[serde(default)]
    pub stats: Stats,
}

/// Statistics of a metric: `t*` metrics in milliseconds, `n*` as a count.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, get_size2::GetSize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stats {
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub count: Option<i64>,
    pub sum: Option<f64>,
}

/// An interval as analytics writes it: `start/end`, UTC, milliseconds.
pub(crate) fn interval(
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> String {
    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";
    format!("{}/{}", start.format(FORMAT), end.format(FORMAT))
}

/// An interval as analytics reads it (`start/end`, both ISO-8601 instants),
/// or none when it is not one.
pub(crate) fn parse_interval(
    text: &str,
) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    let instant = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let (start, end) = text.split_once('/')?;
    Some((instant(start)?, instant(end)?))
}

/// An ISO-8601 period of days, hours, minutes and seconds (`P1D`, `PT30M`,
/// `P1DT12H`, `P1W`).
pub(crate) fn parse_period(text: &str) -> Option<chrono::Duration> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = chrono::Duration::zero();
    let mut take = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
            } else {
                let (_, seconds) = units.iter().find(|(u, _)| *u == c)?;
                let n: i64 = number.parse().ok()?;
                total += chrono::Duration::seconds(n.checked_mul(*seconds)?);
                number.clear();
            }
        }
        number.is_empty().then_some(())
    };
    take(date, &[('W', 604_800), ('D', 86_400)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        take(time, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    (total > chrono::Duration::zero()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_read_as_iso_8601_says() {
        for (text, seconds) in [
            ("PT30M", 1_800),
            ("P1D", 86_400),
            ("P1DT12H", 129_600),
            ("P1W", 604_800),
            ("PT1H30M15S", 5_415),
        ] {
            assert_eq!(
                parse_period(text),
                Some(chrono::Duration::seconds(seconds)),
                "{text}"
            );
        }
        for text in ["", "P", "PT", "1D", "P1X", "PT5", "P0D", "P1H"] {
            assert_eq!(parse_period(text), None, "{text:?}");
        }
    }
}
