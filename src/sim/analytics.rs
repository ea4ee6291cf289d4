//! The simulator's analytics queries (docs/upstream.md, "Analytics"), answered from the
//! same world as every other route.
//!
//! Details: `interval` matches conversations that *started* on a day the
//! interval touches (upstream's granularity, so a client must trim to the
//! exact interval itself); `order`/`orderBy`; `paging` (at most 100 a
//! page); conversation filters on `conversationEnd` (`exists`,
//! `notExists`) and `conversationId`; segment filters on `mediaType`,
//! `queueId`, `userId` and `purpose`. As upstream does, a record can appear
//! on two pages (page 2 starts with the last [`Faults::analytics_page_overlap`]
//! records of page 1) and `totalHits` is approximate (it counts them). Both
//! queries lag real time by [`Faults::analytics_lag_ms`]: a conversation
//! that changed more recently reads as it was before its last change.
//!
//! Multi-get (`GET ...details?id=a,b`): the records of those conversations
//! as the details query would report them now, any day; unknown ids left
//! out.
//!
//! Aggregates: `nCobrowseSessions`, `nConnected`, `nOffered`, `tAlert`,
//! `tTalk`, `tAcw` and `tHandle` of agents' co-browse and screen-share
//! communications, grouped by `queueId`, `userId` and `mediaType`, in
//! buckets of `granularity`; empty groups and buckets are left out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};

use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::answers::{bad_request, parse_json};
use super::data::{SimConversation, World};
use super::{Faults, Grant, Sim};
use crate::upstream::analytics::*;
use crate::upstream::analytics::{self, parse_period};
use crate::upstream::enums::DisconnectType;
use crate::upstream::model::{Conversation, Participant, Segment, Wrapup};
use crate::upstream::wire::{spelling, Wire};

/// The most records a details page holds.
pub(crate) const MAX_PAGE_SIZE: u32 = 100;

/// The most buckets an aggregates query may ask for.
const MAX_BUCKETS: i64 = 1_000;

/// The longest interval upstream takes.
const MAX_INTERVAL_DAYS: i64 = 31;

/// Why a query is refused (upstream answers 400 with it).
pub(crate) type QueryRefusal = String;

/// `start/end`, both ISO-8601 instants, start before end.
pub(crate) fn parse_interval(text: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), QueryRefusal> {
    let (start, end) = analytics::parse_interval(text)
        .ok_or("interval must be two ISO-8601 instants separated by /")?;
    if start >= end {
        return Err("the interval's start must be before its end".into());
    }
    if end - start > Duration::days(MAX_INTERVAL_DAYS) {
        return Err(format!(
            "the interval may span at most {MAX_INTERVAL_DAYS} days"
        ));
    }
    Ok((start, end))
}

/// How far analytics lags real time.
pub(crate) fn lag(faults: &Faults) -> Duration {
    Duration::milliseconds(i64::try_from(faults.analytics_lag_ms).unwrap_or(i64::MAX))
}

/// What analytics holds for a caller: the world's conversations it `sees`,
/// as they were [`Faults::analytics_lag_ms`] ago, and the `messaging` and
/// voice conversations of Co-browse for Messenger (already so).
pub(crate) struct Holdings<'a> {
    pub(crate) world: &'a World,
    pub(crate) messaging: &'a [AnalyticsConversation],
    pub(crate) faults: &'a Faults,
    pub(crate) sees: &'a dyn Fn(&SimConversation) -> bool,
}

impl Holdings<'_> {
    /// Every record analytics reports now.
    fn records(&self) -> impl Iterator<Item = AnalyticsConversation> + '_ {
        let now = Utc::now();
        let lag = lag(self.faults);
        self.world
            .conversations
            .iter()
            .filter(|c| (self.sees)(c))
            .filter_map(move |c| c.as_analytics_sees(now, lag))
            .map(to_analytics)
            .chain(self.messaging.iter().cloned())
    }
}

impl super::SimState {
    /// Runs `read` on what analytics holds now for the holder of `grant`.
    pub(crate) fn analytics<R>(
        &self,
        grant: &super::Grant,
        read: impl FnOnce(&Holdings<'_>) -> R,
    ) -> R {
        let faults = self.faults.read().expect("faults lock").clone();
        let messaging = self.messaging_records(lag(&faults), &|d| grant.sees_division(d));
        let world = self.world.read().expect("world lock");
        read(&Holdings {
            world: &world,
            messaging: &messaging,
            faults: &faults,
            sees: &|c| grant.sees(c),
        })
    }
}

/// The records of `ids` (multi-get), in the order asked, each once.
pub(crate) fn by_ids(held: &Holdings<'_>, ids: &[String]) -> Vec<AnalyticsConversation> {
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut found: BTreeMap<String, AnalyticsConversation> = held
        .records()
        .filter_map(|c| {
            let id = c
                .conversation_id
                .clone()
                .filter(|id| wanted.contains(&**id))?;
            Some((id, c))
        })
        .collect();
    let mut out = Vec::with_capacity(found.len());
    for id in ids {
        if let Some(record) = found.remove(id.as_str()) {
            out.push(record);
        }
    }
    out
}

/// The records of an asynchronous job's query: every conversation with
/// activity during the interval (started before its end and not ended
/// before its start), filtered and ordered as the details query is.
pub(crate) fn job_records(
    held: &Holdings<'_>,
    query: &DetailsQuery,
) -> Result<Vec<AnalyticsConversation>, QueryRefusal> {
    let (start, end) = parse_interval(&query.interval)?;
    let active = |c: &AnalyticsConversation| {
        c.conversation_start.is_some_and(|t| t < end)
            && c.conversation_end.is_none_or(|t| t >= start)
    };
    matching(held, query, active)
}

/// The records of the conversations `world` reports that are `in_interval`
/// and match the query's filters, in its order.
fn matching(
    held: &Holdings<'_>,
    query: &DetailsQuery,
    in_interval: impl Fn(&AnalyticsConversation) -> bool,
) -> Result<Vec<AnalyticsConversation>, QueryRefusal> {
    let mut matches = Vec::new();
    for record in held.records().filter(|c| in_interval(c)) {
        if conversation_matches(&record, &query.conversation_filters)?
            && segments_match(&record, &query.segment_filters)?
        {
            matches.push(record);
        }
    }
    sort(&mut matches, query)?;
    Ok(matches)
}

/// One page of the details query.
pub(crate) fn details(
    held: &Holdings<'_>,
    query: &DetailsQuery,
) -> Result<DetailsResponse, QueryRefusal> {
    let (start, end) = parse_interval(&query.interval)?;
    let paging = query.paging.clone().unwrap_or(Paging {
        page_size: 25,
        page_number: 1,
    });
    if paging.page_size == 0 || paging.page_size > MAX_PAGE_SIZE || paging.page_number == 0 {
        return Err(format!(
            "paging.pageSize must be 1 to {MAX_PAGE_SIZE} and paging.pageNumber positive"
        ));
    }
    // Whole days: upstream matches conversations that started on a day the
    // interval touches.
    let day = TimeDelta::days(1);
    let first_day = start.duration_trunc(day).expect("a day divides time");
    let after_last_day = end.duration_trunc(day).expect("a day divides time")
        + if end.duration_trunc(day).expect("a day") == end {
            TimeDelta::zero()
        } else {
            day
        };
    let on_its_days = |c: &AnalyticsConversation| {
        c.conversation_start
            .is_some_and(|t| t >= first_day && t < after_last_day)
    };
    let matches = matching(held, query, on_its_days)?;
    let total = matches.len();
    let size = paging.page_size as usize;
    let overlap = (held.faults.analytics_page_overlap as usize).min(size - 1);
    let skip = match paging.page_number as usize {
        1 => 0,
        n => (n - 1) * size - overlap,
    };
    Ok(DetailsResponse {
        conversations: matches.into_iter().skip(skip).take(size).collect(),
        total_hits: Some((total + overlap.min(total)) as i64),
    })
}

fn sort(matches: &mut [AnalyticsConversation], query: &DetailsQuery) -> Result<(), QueryRefusal> {
    type Key = fn(&AnalyticsConversation) -> Option<DateTime<Utc>>;
    let key: Key = match query.order_by.as_deref().unwrap_or("conversationStart") {
        "conversationStart" => |c| c.conversation_start,
        "conversationEnd" => |c| c.conversation_end,
        "segmentStart" => |c| segment_times(c).filter_map(|s| s.segment_start).min(),
        "segmentEnd" => |c| segment_times(c).filter_map(|s| s.segment_end).max(),
        other => return Err(format!("orderBy {other} is not supported")),
    };
    let id = |c: &AnalyticsConversation| c.conversation_id.clone();
    match query.order.as_deref().unwrap_or("asc") {
        "asc" => matches.sort_by_key(|c| (key(c), id(c))),
        "desc" => matches.sort_by_key(|c| std::cmp::Reverse((key(c), id(c)))),
        "unordered" => matches.sort_by_key(id),
        other => return Err(format!("order must be asc, desc or unordered, not {other}")),
    }
    Ok(())
}

fn segment_times(c: &AnalyticsConversation) -> impl Iterator<Item = &AnalyticsSegment> {
    c.participants
        .iter()
        .flat_map(|p| &p.sessions)
        .flat_map(|s| &s.segments)
}

/// Whether a predicate of a filter holds, by operator: `matches` compares
/// the value, `exists`/`notExists` ask whether there is one.
fn holds(predicate: &Predicate, value: Option<&str>) -> Result<bool, QueryRefusal> {
    match predicate.operator.as_deref().unwrap_or("matches") {
        "matches" => {
            let wanted = predicate
                .value
                .as_deref()
                .ok_or("a `matches` predicate needs a value")?;
            Ok(value == Some(wanted))
        }
        "exists" => Ok(value.is_some()),
        "notExists" => Ok(value.is_none()),
        other => Err(format!("operator {other} is not supported")),
    }
}

/// Every filter holds: each is its predicates and clauses joined by its type.
fn all_hold(
    filters: &[Filter],
    test: &dyn Fn(&Predicate) -> Result<bool, QueryRefusal>,
) -> Result<bool, QueryRefusal> {
    for filter in filters {
        let mut results = Vec::new();
        for p in &filter.predicates {
            results.push(test(p)?);
        }
        for clause in &filter.clauses {
            let mut inner = Vec::new();
            for p in &clause.predicates {
                inner.push(test(p)?);
            }
            results.push(join(&clause.clause_type, &inner)?);
        }
        if !join(&filter.filter_type, &results)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn join(kind: &str, results: &[bool]) -> Result<bool, QueryRefusal> {
    match kind {
        "and" => Ok(results.iter().all(|r| *r)),
        "or" => Ok(results.is_empty() || results.iter().any(|r| *r)),
        other => Err(format!("filter type must be and or or, not {other}")),
    }
}

fn conversation_matches(
    c: &AnalyticsConversation,
    filters: &[Filter],
) -> Result<bool, QueryRefusal> {
    let end = c.conversation_end.map(|t| t.to_rfc3339());
    all_hold(filters, &|p| match p.dimension.as_deref() {
        Some("conversationEnd") => holds(p, end.as_deref()),
        Some("conversationId") => holds(p, c.conversation_id.as_deref()),
        other => Err(format!(
            "conversation dimension {} is not supported",
            other.unwrap_or("(none)")
        )),
    })
}

/// One communication (a participant's session) as segment filters see it.
struct Facet<'a> {
    session: &'a AnalyticsSession,
    participant: &'a AnalyticsParticipant,
}

/// Whether every segment filter holds for at least one communication.
fn segments_match(
    record: &AnalyticsConversation,
    filters: &[Filter],
) -> Result<bool, QueryRefusal> {
    if filters.is_empty() {
        return Ok(true);
    }
    let facets = record.participants.iter().flat_map(|participant| {
        participant.sessions.iter().map(move |session| Facet {
            session,
            participant,
        })
    });
    for filter in filters {
        let mut any = false;
        for facet in facets.clone() {
            if all_hold(std::slice::from_ref(filter), &|p| facet_holds(&facet, p))? {
                any = true;
                break;
            }
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

fn facet_holds(facet: &Facet<'_>, p: &Predicate) -> Result<bool, QueryRefusal> {
    let participant = facet.participant;
    let queue = facet
        .session
        .segments
        .iter()
        .find_map(|s| s.queue_id.as_deref());
    match p.dimension.as_deref() {
        Some("mediaType") => holds(p, facet.session.media_type.as_deref()),
        Some("queueId") => holds(p, queue),
        Some("userId") => holds(p, participant.user_id.as_deref()),
        Some("purpose") => holds(p, participant.purpose.as_deref()),
        other => Err(format!(
            "segment dimension {} is not supported",
            other.unwrap_or("(none)")
        )),
    }
}

/// A conversation as analytics reports it: every participant, with a
/// session per co-browse and screen-share communication.
pub(crate) fn to_analytics(conv: &Conversation) -> AnalyticsConversation {
    let participants = conv
        .participants
        .iter()
        .map(|p| {
            let queue = p.queue_id.as_ref();
            let cobrowse = p.cobrowsesessions.iter().map(|c| AnalyticsSession {
                session_id: c.id.clone(),
                media_type: Some("cobrowse".into()),
                direction: Some("inbound".into()),
                provider: c.provider.clone(),
                peer_id: c.peer_id.clone(),
                cobrowse_role: c.cobrowse_role.as_ref().map(|r| r.raw().to_owned()),
                cobrowse_room_id: c.cobrowse_session_id.as_deref().map(room_id),
                segments: segments(&c.segments, queue, c.wrapup.as_ref()),
                ..AnalyticsSession::default()
            });
            let shares = p.screenshares.iter().map(|s| AnalyticsSession {
                session_id: s.id.clone(),
                media_type: Some("screenshare".into()),
                direction: Some("inbound".into()),
                provider: s.provider.clone(),
                peer_id: s.peer_id.clone(),
                screen_share_room_id: s.context.as_deref().map(room_id),
                sharing_screen: s.sharing,
                segments: segments(&s.segments, queue, s.wrapup.as_ref()),
                ..AnalyticsSession::default()
            });
            AnalyticsParticipant {
                participant_id: p.id.clone(),
                participant_name: p.name.clone(),
                purpose: p.purpose.as_ref().map(Wire::raw).map(str::to_owned),
                user_id: p.user_id.clone(),
                sessions: cobrowse.chain(shares).collect(),
            }
        })
        .collect();
    AnalyticsConversation {
        conversation_id: conv.id.clone(),
        conversation_start: conv.start_time,
        conversation_end: conv.end_time,
        originating_direction: Some("inbound".into()),
        division_ids: conv
            .divisions
            .iter()
            .filter_map(|d| d.division.as_ref()?.id.clone())
            .collect(),
        external_tag: conv.external_tag.clone(),
        participants,
    }
}

fn segments(
    segments: &[Segment],
    queue: Option<&String>,
    wrapup: Option<&Wrapup>,
) -> Vec<AnalyticsSegment> {
    segments
        .iter()
        .map(|s| AnalyticsSegment {
            segment_start: s.start_time,
            segment_end: s.end_time,
            segment_type: s.segment_type.as_ref().map(|t| t.raw().to_lowercase()),
            disconnect_type: s.disconnect_type.as_ref().map(analytics_spelling),
            queue_id: queue.cloned(),
            wrap_up_code: wrapup.and_then(|w| w.code.clone()),
            wrap_up_note: wrapup.and_then(|w| w.notes.clone()),
        })
        .collect()
}

/// Analytics' id of a co-browse or screen-share room. Genesys documents it
/// as "a unique identifier for a ... room", never as equal to the REST
/// `cobrowseSessionId` or `context`: the simulator's differs from both
/// (one room, one id, derived from the session's), so that nothing can
/// rely on their being equal (docs/upstream.md, "Analytics").
fn room_id(session: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    ("room", session).hash(&mut hasher);
    let a = hasher.finish();
    session.hash(&mut hasher);
    let b = hasher.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// A disconnect type as analytics spells it (`transport.failure` is
/// `transportFailure`, `endpoint.donotdisturb` is `dndEndpoint`); a value
/// the table lacks as it came.
fn analytics_spelling(disconnect: &Wire<DisconnectType>) -> String {
    spelling(DisconnectType::ANALYTICS, disconnect.get())
        .unwrap_or(disconnect.raw())
        .to_owned()
}

/// The metrics the simulator computes.
const METRICS: &[&str] = &[
    "nCobrowseSessions",
    "nConnected",
    "nOffered",
    "tAlert",
    "tTalk",
    "tAcw",
    "tHandle",
];

/// The dimensions aggregates may be grouped by.
const GROUP_BY: &[&str] = &["queueId", "userId", "mediaType"];

/// One agent communication: what its metrics are made of.
struct Work<'a> {
    media: &'static str,
    participant: &'a Participant,
    alert: Option<DateTime<Utc>>,
    connected: Option<DateTime<Utc>>,
    disconnected: Option<DateTime<Utc>>,
    acw: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Work<'_> {
    /// The metric's value (milliseconds for `t*`, 1 for `n*`) and when it
    /// was emitted, if this communication has it.
    fn metric(&self, name: &str) -> Option<(f64, DateTime<Utc>)> {
        let ms = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_milliseconds() as f64;
        let acw = self.acw.map(|(a, b)| ms(a, b)).unwrap_or(0.0);
        match name {
            "nOffered" => Some((1.0, self.alert?)),
            "nConnected" => Some((1.0, self.connected?)),
            "nCobrowseSessions" if self.media == "cobrowse" => Some((1.0, self.connected?)),
            "tAlert" => Some((ms(self.alert?, self.connected?), self.connected?)),
            "tTalk" => Some((ms(self.connected?, self.disconnected?), self.disconnected?)),
            "tAcw" => self.acw.map(|(_, end)| (acw, end)),
            "tHandle" => {
                let talk = ms(self.connected?, self.disconnected?);
                let done = self.acw.map_or(self.disconnected?, |(_, end)| end);
                Some((talk + acw, done))
            }
            _ => None,
        }
    }

    fn holds(&self, p: &Predicate) -> Result<bool, QueryRefusal> {
        let participant = self.participant;
        match p.dimension.as_deref() {
            Some("mediaType") => holds(p, Some(self.media)),
            Some("queueId") => holds(p, participant.queue_id.as_deref()),
            Some("userId") => holds(p, participant.user_id.as_deref()),
            Some("purpose") => holds(p, participant.purpose.as_ref().map(Wire::raw)),
            other => Err(format!(
                "segment dimension {} is not supported",
                other.unwrap_or("(none)")
            )),
        }
    }

    fn dimension(&self, name: &str) -> Option<String> {
        match name {
            "mediaType" => Some(self.media.to_owned()),
            "queueId" => self.participant.queue_id.clone(),
            "userId" => self.participant.user_id.clone(),
            _ => None,
        }
    }
}

fn work_of(conv: &Conversation) -> Vec<Work<'_>> {
    let mut work = Vec::new();
    for p in conv
        .participants
        .iter()
        .filter(|p| p.purpose.as_ref().map(Wire::raw) == Some("agent"))
    {
        for c in &p.cobrowsesessions {
            let acw = c
                .after_call_work
                .as_ref()
                .and_then(|a| Some((a.start_time?, a.end_time?)));
            work.push(Work {
                media: "cobrowse",
                participant: p,
                alert: c.start_alerting_time,
                connected: c.connected_time,
                disconnected: c.disconnected_time,
                acw,
            });
        }
        for s in &p.screenshares {
            work.push(Work {
                media: "screenshare",
                participant: p,
                alert: s.start_alerting_time,
                connected: s.connected_time,
                disconnected: s.disconnected_time,
                acw: None,
            });
        }
    }
    work
}

/// What an aggregates query asks for, checked: its interval and the length
/// of its buckets.
fn checked(
    query: &AggregatesQuery,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Duration), QueryRefusal> {
    let (start, end) = parse_interval(&query.interval)?;
    let step = match &query.granularity {
        None => end - start,
        Some(g) => parse_period(g).ok_or_else(|| {
            format!("granularity {g} is not an ISO-8601 period such as PT30M or P1D")
        })?,
    };
    if (end - start).num_seconds() / step.num_seconds().max(1) > MAX_BUCKETS {
        return Err(format!(
            "the granularity makes more than {MAX_BUCKETS} buckets"
        ));
    }
    if query.metrics.is_empty() {
        return Err("metrics must name at least one metric".into());
    }
    if let Some(m) = query
        .metrics
        .iter()
        .find(|m| !METRICS.contains(&m.as_str()))
    {
        return Err(format!("metric {m} is not supported"));
    }
    if let Some(g) = query
        .group_by
        .iter()
        .find(|g| !GROUP_BY.contains(&g.as_str()))
    {
        return Err(format!("groupBy {g} is not supported"));
    }
    Ok((start, end, step))
}

/// Statistics by group, bucket start and metric.
type Groups = BTreeMap<BTreeMap<String, String>, BTreeMap<DateTime<Utc>, BTreeMap<String, Stats>>>;

/// The aggregates query, over the world's co-browse and screen-share
/// communications (whether `nCobrowseSessions` counts Co-browse for
/// Messenger is not documented, and the simulator's messaging
/// conversations are left out).
pub(crate) fn aggregates(
    world: &World,
    query: &AggregatesQuery,
    faults: &Faults,
    sees: &dyn Fn(&SimConversation) -> bool,
) -> Result<AggregatesResponse, QueryRefusal> {
    let (start, end, step) = checked(query)?;
    let mut groups = Groups::new();
    let (now, lag) = (Utc::now(), lag(faults));
    let reported = world
        .conversations
        .iter()
        .filter(|c| sees(c))
        .filter_map(|c| c.as_analytics_sees(now, lag));
    for full in reported {
        for work in work_of(full) {
            if let Some(filter) = &query.filter {
                if !all_hold(std::slice::from_ref(filter), &|p| work.holds(p))? {
                    continue;
                }
            }
            for metric in &query.metrics {
                let Some((value, at)) = work.metric(metric) else {
                    continue;
                };
                if at < start || at >= end {
                    continue;
                }
                let bucket =
                    start + step * ((at - start).num_seconds() / step.num_seconds()) as i32;
                let group = query
                    .group_by
                    .iter()
                    .filter_map(|g| Some((g.clone(), work.dimension(g)?)))
                    .collect();
                let stats = groups
                    .entry(group)
                    .or_default()
                    .entry(bucket)
                    .or_default()
                    .entry(metric.clone())
                    .or_default();
                add(stats, metric, value);
            }
        }
    }
    Ok(answer(groups, step, end))
}

/// The answer's shape: each group with its buckets, each bucket with its
/// metrics.
fn answer(groups: Groups, step: Duration, end: DateTime<Utc>) -> AggregatesResponse {
    let results = groups
        .into_iter()
        .map(|(group, buckets)| AggregateResult {
            group,
            data: buckets
                .into_iter()
                .map(|(from, metrics)| AggregateBucket {
                    interval: analytics::interval(from, (from + step).min(end)),
                    metrics: metrics
                        .into_iter()
                        .map(|(metric, stats)| AggregateMetric { metric, stats })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    AggregatesResponse { results }
}

/// Counts a value into a metric's statistics: `n*` carry a count, `t*` a
/// count, sum, min and max.
fn add(stats: &mut Stats, metric: &str, value: f64) {
    stats.count = Some(stats.count.unwrap_or(0) + 1);
    if metric.starts_with('t') {
        stats.sum = Some(stats.sum.unwrap_or(0.0) + value);
        stats.min = Some(stats.min.map_or(value, |m| m.min(value)));
        stats.max = Some(stats.max.map_or(value, |m| m.max(value)));
    }
}

pub(super) async fn details_query(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    let query: DetailsQuery = match parse_json(&body) {
        Ok(query) => query,
        Err(reject) => return reject.into_response(),
    };
    match sim.analytics(&grant, |held| details(held, &query)) {
        Ok(answer) => Json(answer).into_response(),
        Err(why) => bad_request(&why).into_response(),
    }
}

/// `GET /api/v2/analytics/conversations/details?id=a,b`: the records of
/// those conversations (comma-separated, or the parameter repeated), as the
/// details query would report them now; unknown ids are left out.
pub(super) async fn details_by_ids(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    RawQuery(raw): RawQuery,
) -> Response {
    let ids: Vec<String> = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "id")
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    if ids.is_empty() {
        return bad_request("id is required: comma-separated conversation ids").into_response();
    }
    Json(MultiGetResponse {
        conversations: sim.analytics(&grant, |held| by_ids(held, &ids)),
    })
    .into_response()
}

pub(super) async fn aggregates_query(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    let query: AggregatesQuery = match parse_json(&body) {
        Ok(query) => query,
        Err(reject) => return reject.into_response(),
    };
    let faults = sim.faults.read().expect("faults lock").clone();
    let world = sim.world.read().expect("world lock");
    match aggregates(&world, &query, &faults, &|c| grant.sees(c)) {
        Ok(answer) => Json(answer).into_response(),
        Err(why) => bad_request(&why).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_types_are_spelled_as_analytics_spells_them() {
        let spelled = |rest: &str| analytics_spelling(&Wire::new(rest));
        assert_eq!(spelled("transport.failure"), "transportFailure");
        assert_eq!(spelled("transfer.conference"), "conferenceTransfer");
        assert_eq!(spelled("endpoint.donotdisturb"), "dndEndpoint");
        assert_eq!(spelled("endpoint"), "endpoint");
        assert_eq!(spelled("ultraviolet"), "ultraviolet");
    }
}
