//! The analytics queries the gateway asks, built from what a caller or a
//! worker wants in the domain's words: the conversations going on now, a
//! history of co-browse sessions, statistics, the messaging conversations
//! of the Messenger back-fill. The graph and the workers say what they
//! want; how analytics spells it lives here, next to the rest of PureCloud.

use chrono::{DateTime, Utc};

use crate::upstream::analytics::{self, AggregatesQuery, DetailsQuery, Filter, Paging, Predicate};

/// Records per analytics details page: the most upstream is known to take.
pub(crate) const ANALYTICS_PAGE_SIZE: u32 = 100;

/// The media of legacy co-browse sessions, as analytics names them.
const SESSION_MEDIA: [&str; 2] = ["cobrowse", "screenshare"];

/// Newest first, one page of the most upstream takes (none: a job's query).
fn details(
    interval: String,
    page: Option<u32>,
    conversation_filters: Vec<Filter>,
    segment_filters: Vec<Filter>,
) -> DetailsQuery {
    DetailsQuery {
        interval,
        order: Some("desc".into()),
        order_by: Some("conversationStart".into()),
        paging: page.map(|page_number| Paging {
            page_size: ANALYTICS_PAGE_SIZE,
            page_number,
        }),
        conversation_filters,
        segment_filters,
    }
}

/// Sessions of any of `media` (analytics' names; none: both legacy media).
fn media_filter(media: &[&str]) -> Filter {
    let media = if media.is_empty() {
        &SESSION_MEDIA[..]
    } else {
        media
    };
    Filter::or(
        media
            .iter()
            .map(|m| Predicate::matches("mediaType", m))
            .collect(),
    )
}

/// The conversations going on now with co-browse or screen-share media:
/// started within `lookback` (upstream matches whole days), not yet ended,
/// newest first, in pages of the most upstream takes.
pub(crate) fn active(now: DateTime<Utc>, lookback: std::time::Duration) -> DetailsQuery {
    let lookback = chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::days(1));
    details(
        analytics::interval(now - lookback, now + chrono::Duration::minutes(1)),
        Some(1),
        vec![Filter::and(vec![Predicate::not_exists("conversationEnd")])],
        vec![media_filter(&[])],
    )
}

/// What a history of PureCloud co-browse sessions asks for.
pub(crate) struct HistoryQuery<'a> {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// Analytics' names of the media wanted; empty: both.
    pub(crate) media: &'a [&'a str],
    /// Conversations routed through one of these queues; empty: any.
    pub(crate) queue_ids: &'a [String],
    /// Conversations one of these agents took part in; empty: any.
    pub(crate) user_ids: &'a [String],
    /// Conversations still going on too, not only those that ended.
    pub(crate) include_active: bool,
}

impl HistoryQuery<'_> {
    /// The details query of page `page` (none: a details job's query).
    pub(crate) fn details(&self, page: Option<u32>) -> DetailsQuery {
        let mut segment_filters = vec![media_filter(self.media)];
        for (dimension, ids) in [("queueId", self.queue_ids), ("userId", self.user_ids)] {
            if !ids.is_empty() {
                segment_filters.push(Filter::or(
                    ids.iter()
                        .map(|id| Predicate::matches(dimension, id))
                        .collect(),
                ));
            }
        }
        let conversation_filters = if self.include_active {
            Vec::new()
        } else {
            vec![Filter::and(vec![Predicate::exists("conversationEnd")])]
        };
        details(
            analytics::interval(self.start, self.end),
            page,
            conversation_filters,
            segment_filters,
        )
    }
}

/// The aggregates query of co-browse statistics: `metrics` of sessions of
/// `media` (none: both) between `start` and `end`, grouped by `dimension`,
/// in buckets of `granularity` (an ISO-8601 period; none: the whole
/// interval).
pub(crate) fn statistics(
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    granularity: Option<&str>,
    dimension: &str,
    media: &[&str],
    metrics: &[&str],
) -> AggregatesQuery {
    AggregatesQuery {
        interval: analytics::interval(start, end),
        granularity: granularity.map(str::to_owned),
        time_zone: None,
        group_by: vec![dimension.to_owned()],
        filter: Some(media_filter(media)),
        metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
    }
}

/// Page `page` of the conversations with messaging (`message`) sessions
/// that started from `from` (upstream matches whole days) to now.
pub(crate) fn messaging(from: DateTime<Utc>, now: DateTime<Utc>, page: u32) -> DetailsQuery {
    details(
        analytics::interval(from, now + chrono::TimeDelta::minutes(1)),
        Some(page),
        Vec::new(),
        vec![Filter::or(vec![Predicate::matches("mediaType", "message")])],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_query_filters_what_was_asked_and_only_that() {
        let (start, end) = (
            "2026-01-01T00:00:00Z".parse().unwrap(),
            "2026-01-02T00:00:00Z".parse().unwrap(),
        );
        let queues = ["q1".to_owned()];
        let ask = HistoryQuery {
            start,
            end,
            media: &["cobrowse"],
            queue_ids: &queues,
            user_ids: &[],
            include_active: false,
        };
        let query = serde_json::to_value(ask.details(Some(2))).unwrap();
        assert_eq!(query["paging"]["pageNumber"], 2);
        assert_eq!(query["segmentFilters"].as_array().unwrap().len(), 2);
        assert_eq!(
            query["conversationFilters"][0]["predicates"][0]["dimension"],
            "conversationEnd"
        );
        let job = serde_json::to_value(ask.details(None)).unwrap();
        assert!(job.get("paging").is_none_or(|p| p.is_null()), "{job}");
        let both = media_filter(&[]);
        assert_eq!(both.predicates.len(), 2);
    }
}
