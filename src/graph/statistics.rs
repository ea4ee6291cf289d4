//! `Query.cobrowseStatistics`: counts and durations of agents' co-browse
//! and screen-share work, per queue, user or media type and time bucket,
//! from the analytics aggregates query (docs/upstream.md, "Analytics"). Upstream's
//! statistics come through as they are (`t*` in milliseconds), beside the
//! same numbers in seconds.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::source;
use super::conversation::Fallible;
use super::directory::{queue_ref, user_ref, Queue, User};
use super::errors::{bad_input, upstream_for, GqlResult};
use super::values::{IntervalInput, SessionMedia};
use crate::cache::Report;
use crate::upstream::analytics::{parse_period, AggregateMetric, AggregatesQuery, Stats};
use crate::upstream::UpstreamError;

/// The most time buckets one statistics report has.
const MAX_BUCKETS: i64 = 744;

/// The metrics a report asks for.
const METRICS: [&str; 4] = ["nCobrowseSessions", "nConnected", "tHandle", "tTalk"];

/// What statistics are grouped by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum StatisticsGroupBy {
    /// The queue that routed the work.
    Queue,
    /// The agent who did it.
    User,
    /// Co-browse or screen share.
    MediaType,
}

impl StatisticsGroupBy {
    fn dimension(self) -> &'static str {
        match self {
            StatisticsGroupBy::Queue => "queueId",
            StatisticsGroupBy::User => "userId",
            StatisticsGroupBy::MediaType => "mediaType",
        }
    }
}

/// Counts and durations of co-browse work in an interval.
pub(crate) struct CobrowseStatistics {
    interval: IntervalInput,
    granularity: Option<String>,
    groups: Vec<StatisticsGroup>,
}

/// Counts and durations of co-browse and screen-share work in an interval,
/// per group and time bucket.
#[Object]
impl CobrowseStatistics {
    /// Where the interval starts.
    async fn start(&self) -> DateTime<Utc> {
        self.interval.start
    }
    /// Where the interval ends.
    async fn end(&self) -> DateTime<Utc> {
        self.interval.end
    }
    /// The length of each bucket (an ISO-8601 period); null: one bucket for the whole interval.
    async fn granularity(&self) -> Option<&str> {
        self.granularity.as_deref()
    }
    /// One entry per queue, user or media type that had work in the interval.
    async fn groups(&self) -> &[StatisticsGroup] {
        &self.groups
    }
}

/// The work of one queue, user or media type.
pub(crate) struct StatisticsGroup {
    queue: Option<Arc<str>>,
    user: Option<Arc<str>>,
    media: Option<String>,
    buckets: Vec<StatisticsBucket>,
}

/// The work of one queue, user or media type, bucket by bucket.
#[Object]
impl StatisticsGroup {
    /// The queue (grouped by queue).
    async fn queue(&self, ctx: &Context<'_>) -> Result<Option<Queue>> {
        queue_ref(ctx, self.queue.clone()).await
    }
    /// The agent (grouped by user).
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user_ref(ctx, self.user.clone()).await
    }
    /// The media type (grouped by media type).
    async fn media_type(&self) -> Option<SessionMedia> {
        match self.media.as_deref() {
            Some("cobrowse") => Some(SessionMedia::Cobrowse),
            Some("screenshare") => Some(SessionMedia::Screenshare),
            _ => None,
        }
    }
    /// The media type exactly as upstream sent it.
    async fn media_type_raw(&self) -> Option<&str> {
        self.media.as_deref()
    }
    /// The time buckets that had work, oldest first.
    async fn buckets(&self) -> &[StatisticsBucket] {
        &self.buckets
    }
}

/// One time bucket of a group.
pub(crate) struct StatisticsBucket {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    metrics: Vec<AggregateMetric>,
}

impl StatisticsBucket {
    fn stats(&self, metric: &str) -> Option<&Stats> {
        self.metrics
            .iter()
            .find(|m| m.metric == metric)
            .map(|m| &m.stats)
    }

    fn count(&self, metric: &str) -> i64 {
        self.stats(metric).and_then(|s| s.count).unwrap_or(0)
    }

    /// A time metric's total in seconds.
    fn seconds(&self, metric: &str) -> Option<f64> {
        self.stats(metric).and_then(|s| s.sum).map(|ms| ms / 1000.0)
    }

    /// A time metric's mean in seconds.
    fn mean_seconds(&self, metric: &str) -> Option<f64> {
        let stats = self.stats(metric)?;
        let count = stats.count.filter(|c| *c > 0)?;
        Some(stats.sum? / count as f64 / 1000.0)
    }
}

/// The work of one group in one time bucket.
#[Object]
impl StatisticsBucket {
    /// Where the bucket starts.
    async fn start(&self) -> DateTime<Utc> {
        self.start
    }
    /// Where it ends.
    async fn end(&self) -> DateTime<Utc> {
        self.end
    }
    /// Co-browse sessions agents connected to (`nCobrowseSessions`).
    async fn sessions(&self) -> i64 {
        self.count("nCobrowseSessions")
    }
    /// Communications agents connected (`nConnected`).
    async fn connected(&self) -> i64 {
        self.count("nConnected")
    }
    /// Handle time (talk plus after-call work), in seconds, summed (`tHandle`).
    async fn handle_seconds(&self) -> Option<f64> {
        self.seconds("tHandle")
    }
    /// Mean handle time per communication, in seconds.
    async fn average_handle_seconds(&self) -> Option<f64> {
        self.mean_seconds("tHandle")
    }
    /// Time connected, in seconds, summed (`tTalk`).
    async fn talk_seconds(&self) -> Option<f64> {
        self.seconds("tTalk")
    }
    /// Mean time connected per communication, in seconds.
    async fn average_talk_seconds(&self) -> Option<f64> {
        self.mean_seconds("tTalk")
    }
    /// Upstream's statistics as they came (times in milliseconds).
    async fn metrics(&self) -> Vec<MetricStatistics> {
        self.metrics
            .iter()
            .map(|m| MetricStatistics {
                metric: m.metric.clone(),
                count: m.stats.count,
                sum: m.stats.sum,
                min: m.stats.min,
                max: m.stats.max,
            })
            .collect()
    }
}

/// One upstream metric's statistics in a bucket (`t*` in milliseconds).
#[derive(SimpleObject)]
pub(crate) struct MetricStatistics {
    /// Upstream's metric name (`tHandle`, `nConnected`, ...).
    metric: String,
    /// How many values.
    count: Option<i64>,
    /// Their sum.
    sum: Option<f64>,
    /// The least.
    min: Option<f64>,
    /// The greatest.
    max: Option<f64>,
}

/// The report of `Query.cobrowseStatistics`.
pub(crate) async fn statistics(
    ctx: &Context<'_>,
    interval: IntervalInput,
    granularity: Option<String>,
    group_by: StatisticsGroupBy,
    media: Option<Vec<SessionMedia>>,
) -> Fallible<CobrowseStatistics> {
    interval.check()?;
    if let Some(g) = &granularity {
        let Some(step) = parse_period(g) else {
            return Err(bad_input(format!(
                "`granularity` must be an ISO-8601 period such as PT30M, PT1H or P1D, not `{}`",
                crate::upstream::shortened(g, 32)
            )));
        };
        let buckets = (interval.end - interval.start).num_seconds() / step.num_seconds().max(1);
        if buckets > MAX_BUCKETS {
            return Err(bad_input(format!(
                "{g} makes {buckets} buckets of this interval; at most {MAX_BUCKETS}: choose a longer granularity"
            )));
        }
    }
    let query = AggregatesQuery {
        interval: interval.wire(),
        granularity: granularity.clone(),
        time_zone: None,
        group_by: vec![group_by.dimension().to_owned()],
        filter: Some(SessionMedia::filter(media.as_deref())),
        metrics: METRICS.iter().map(|m| (*m).to_owned()).collect(),
    };
    let report = source(ctx)
        .aggregates(&query)
        .await
        .map_err(|e| upstream_for("cobrowseStatistics", &e))?;
    let Report::Aggregates(answer) = &*report else {
        unreachable!("an aggregates key holds an aggregates report");
    };
    let mut groups = Vec::with_capacity(answer.results.len());
    for result in &answer.results {
        let mut buckets = Vec::with_capacity(result.data.len());
        for bucket in &result.data {
            let (start, end) = bucket_interval(&bucket.interval).gql()?;
            buckets.push(StatisticsBucket {
                start,
                end,
                metrics: bucket.metrics.clone(),
            });
        }
        buckets.sort_by_key(|b| b.start);
        let value = |key: &str| result.group.get(key).cloned();
        groups.push(StatisticsGroup {
            queue: value("queueId").map(Arc::from),
            user: value("userId").map(Arc::from),
            media: value("mediaType"),
            buckets,
        });
    }
    groups.sort_by(|a, b| (&a.queue, &a.user, &a.media).cmp(&(&b.queue, &b.user, &b.media)));
    Ok(Some(CobrowseStatistics {
        interval,
        granularity,
        groups,
    }))
}

/// A bucket's `start/end`.
fn bucket_interval(text: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), UpstreamError> {
    crate::upstream::analytics::parse_interval(text).ok_or_else(|| UpstreamError::BadResponse {
        detail: format!(
            "analytics_aggregates: a bucket's interval `{}` is not start/end",
            crate::upstream::shortened(text, 80)
        ),
        correlation_id: None,
    })
}
