//! `Query.cobrowseStatistics`: counts and durations of agents' co-browse
//! and screen-share work, per queue, user, media type or channel and time
//! bucket: legacy co-browse and screen share from the analytics aggregates
//! query (docs/upstream.md, "Analytics"), whose statistics come through as
//! they are (`t*` in milliseconds) beside the same numbers in seconds; Co-browse for
//! Messenger's offers, outcomes and durations counted from the sessions
//! the gateway holds (analytics does not document counting them).

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{source, store_for_report};
use super::conversation::Fallible;
use super::directory::{queue_ref, user_ref, QueueView, UserView};
use super::errors::{bad_input, upstream_for, GqlResult};
use super::messenger::SessionChannel;
use super::values::{IntervalInput, SessionMedia};
use crate::cache::Report;
use crate::messenger::stats::Tally;
use crate::messenger::MessengerChannel;
use crate::upstream::analytics::{parse_period, AggregateMetric, Stats};
use crate::upstream::UpstreamError;

/// The most time buckets one statistics report has.
const MAX_BUCKETS: i64 = 744;

/// The most Co-browse for Messenger sessions one report counts.
const MAX_MESSENGER_SESSIONS: usize = 20_000;

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
    /// Co-browse for Messenger's channel (web messaging or voice); legacy co-browse has none, so only Messenger sessions are counted.
    Channel,
}

impl StatisticsGroupBy {
    fn dimension(self) -> &'static str {
        match self {
            StatisticsGroupBy::Queue => "queueId",
            StatisticsGroupBy::User => "userId",
            StatisticsGroupBy::MediaType => "mediaType",
            StatisticsGroupBy::Channel => "channel",
        }
    }
}

/// Counts and durations of co-browse work in an interval.
pub(crate) struct CobrowseStatistics {
    interval: IntervalInput,
    granularity: Option<String>,
    groups: Vec<StatisticsGroup>,
}

/// Counts and durations of co-browse and screen-share work in an interval, per group and time bucket.
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
    channel: Option<MessengerChannel>,
    buckets: Vec<StatisticsBucket>,
}

/// The work of one queue, user or media type, bucket by bucket.
#[Object]
impl StatisticsGroup {
    /// The queue (grouped by queue).
    async fn queue(&self, ctx: &Context<'_>) -> Result<Option<QueueView>> {
        queue_ref(ctx, self.queue.clone()).await
    }
    /// The agent (grouped by user).
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<UserView>> {
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
    /// The channel (grouped by channel).
    async fn channel(&self) -> Option<SessionChannel> {
        self.channel.map(Into::into)
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
    messenger: Tally,
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
    /// Co-browse for Messenger's offers in the bucket (by their start, else their offer), their outcomes and durations.
    async fn messenger(&self) -> MessengerStatistics {
        MessengerStatistics(self.messenger)
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

/// Co-browse for Messenger's numbers of one group and bucket.
pub(crate) struct MessengerStatistics(Tally);

/// Co-browse for Messenger sessions offered in a bucket, as the gateway holds them: outcomes, and durations where both ends are known.
#[Object]
impl MessengerStatistics {
    /// Co-browse offers.
    async fn offers(&self) -> i64 {
        self.0.offers
    }
    /// Offers the customer accepted (or whose session the page reported started).
    async fn accepted(&self) -> i64 {
        self.0.accepted
    }
    /// Offers the customer rejected.
    async fn rejected(&self) -> i64 {
        self.0.rejected
    }
    /// Offers that expired unanswered.
    async fn expired(&self) -> i64 {
        self.0.expired
    }
    /// Offers not answered yet.
    async fn pending(&self) -> i64 {
        self.0.pending
    }
    /// Accepted out of answered (accepted, rejected, expired); null when none was answered.
    async fn acceptance_rate(&self) -> Option<f64> {
        self.0.acceptance_rate()
    }
    /// Sessions whose end is known.
    async fn ended(&self) -> i64 {
        self.0.ended
    }
    /// Of those, ends the customer's page reported (the others are inferred from the conversation's agent leg).
    async fn ended_by_page(&self) -> i64 {
        self.0.ended_by_page
    }
    /// Seconds from start to end, summed over the sessions with both known.
    async fn duration_seconds(&self) -> f64 {
        self.0.seconds
    }
    /// Mean seconds from start to end, over the sessions with both known.
    async fn average_duration_seconds(&self) -> Option<f64> {
        self.0.average_seconds()
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
    let mut groups = Vec::new();
    // Analytics cannot group by channel (legacy co-browse has none).
    if group_by == StatisticsGroupBy::Channel {
        // No analytics report to be kept with: kept as long as live state.
        crate::freshness::note(source(ctx).cache().live_ttl());
    } else {
        groups = analytics_groups(
            ctx,
            &interval,
            granularity.as_deref(),
            group_by,
            media.as_deref(),
        )
        .await?;
    }
    if media
        .as_ref()
        .is_none_or(|m| m.is_empty() || m.contains(&SessionMedia::Cobrowse))
    {
        let sessions = messenger_sessions(ctx, &interval).await?;
        add_messenger(
            &mut groups,
            &sessions,
            (&interval, granularity.as_deref()),
            group_by,
        );
    }
    groups.sort_by(|a, b| {
        (
            &a.queue,
            &a.user,
            &a.media,
            a.channel.map(MessengerChannel::wire),
        )
            .cmp(&(
                &b.queue,
                &b.user,
                &b.media,
                b.channel.map(MessengerChannel::wire),
            ))
    });
    Ok(Some(CobrowseStatistics {
        interval,
        granularity,
        groups,
    }))
}

/// The groups of the analytics aggregates query.
async fn analytics_groups(
    ctx: &Context<'_>,
    interval: &IntervalInput,
    granularity: Option<&str>,
    group_by: StatisticsGroupBy,
    media: Option<&[SessionMedia]>,
) -> Result<Vec<StatisticsGroup>> {
    let media = SessionMedia::wires(media);
    let query = crate::purecloud::queries::statistics(
        (interval.start, interval.end),
        granularity,
        group_by.dimension(),
        &media,
        &METRICS,
    );
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
                messenger: Tally::default(),
            });
        }
        buckets.sort_by_key(|b| b.start);
        let value = |key: &str| result.group.get(key).cloned();
        groups.push(StatisticsGroup {
            queue: value("queueId").map(Arc::from),
            user: value("userId").map(Arc::from),
            media: value("mediaType"),
            channel: None,
            buckets,
        });
    }
    Ok(groups)
}

/// The Co-browse for Messenger sessions listed in the interval (by start,
/// else offer): at most [`MAX_MESSENGER_SESSIONS`], else the report is
/// refused with what to do.
async fn messenger_sessions(
    ctx: &Context<'_>,
    interval: &IntervalInput,
) -> Result<Vec<crate::messenger::MessengerSession>> {
    let filter = crate::store::StoredSessionFilter {
        started_after: Some(interval.start),
        started_before: Some(interval.end),
        ..crate::store::StoredSessionFilter::default()
    };
    let window = crate::store::Window {
        limit: MAX_MESSENGER_SESSIONS + 1,
        ..crate::store::Window::default()
    };
    let sessions = store_for_report(ctx)
        .messenger_sessions(&filter, &window)
        .await
        .gql()?;
    if sessions.len() > MAX_MESSENGER_SESSIONS {
        return Err(bad_input(format!(
            "the interval holds more than {MAX_MESSENGER_SESSIONS} Co-browse for Messenger sessions: ask for a shorter one"
        )));
    }
    Ok(sessions)
}

/// Counts `sessions` into the groups (a group of their queue, agent or
/// channel, made when analytics had none; under media type, the co-browse
/// group) and buckets (those of `granularity` from the interval's start,
/// or the whole interval).
fn add_messenger(
    groups: &mut Vec<StatisticsGroup>,
    sessions: &[crate::messenger::MessengerSession],
    (interval, granularity): (&IntervalInput, Option<&str>),
    group_by: StatisticsGroupBy,
) {
    let now = crate::freshness::now_utc();
    let step = granularity.and_then(parse_period);
    for session in sessions {
        let Some(at) = session.listed_at() else {
            continue;
        };
        let (start, end) = match step {
            Some(step) => {
                let seconds = step.num_seconds().max(1);
                let k = (at - interval.start).num_seconds().max(0) / seconds;
                let start = interval.start + chrono::Duration::seconds(k * seconds);
                (start, (start + step).min(interval.end))
            }
            None => (interval.start, interval.end),
        };
        let (queue, user, media, channel) = match group_by {
            StatisticsGroupBy::Queue => {
                (session.queue_id.as_deref().map(Arc::from), None, None, None)
            }
            StatisticsGroupBy::User => {
                (None, session.user_id.as_deref().map(Arc::from), None, None)
            }
            StatisticsGroupBy::MediaType => (None, None, Some("cobrowse".to_owned()), None),
            StatisticsGroupBy::Channel => (None, None, None, session.channel),
        };
        let index = match groups.iter().position(|g| {
            g.queue == queue && g.user == user && g.media == media && g.channel == channel
        }) {
            Some(i) => i,
            None => {
                groups.push(StatisticsGroup {
                    queue,
                    user,
                    media,
                    channel,
                    buckets: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let buckets = &mut groups[index].buckets;
        let bucket = match buckets.iter().position(|b| b.start == start) {
            Some(i) => i,
            None => {
                buckets.push(StatisticsBucket {
                    start,
                    end,
                    metrics: Vec::new(),
                    messenger: Tally::default(),
                });
                buckets.sort_by_key(|b| b.start);
                buckets
                    .iter()
                    .position(|b| b.start == start)
                    .expect("just added")
            }
        };
        buckets[bucket].messenger.add(session, now);
    }
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
