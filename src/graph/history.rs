//! `Query.cobrowseHistory`: the sessions of an interval, of every provider,
//! newest interaction first, page by page.
//!
//! PureCloud sessions come from the analytics details query (co-browse and
//! screen-share media, ended conversations unless asked otherwise, the
//! queue and user filters as segment filters), read one analytics page at
//! a time and built from their records ([`crate::purecloud::from_record`]):
//! an ended conversation's record is final, and serves its sessions,
//! roles, times, segments and participants' names without a conversation
//! read. Zoom sessions come from the webhook store. The two are merged on
//! one keyset order: the interaction's start (the conversation's, the Zoom
//! session's), newest first, then provider and id.
//!
//! A filter by conversation ids reads those conversations' records by id
//! (the analytics multi-get) instead of running the details query.
//!
//! A cursor carries its keyset place and the analytics page it was on, so
//! that the next page starts reading there; analytics may shift records
//! between pages (new data streams in), so a page that starts past the
//! cursor sends the reading one page back, and records already passed are
//! skipped by their key.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::connection::{
    Connection, ConnectionNameType, CursorType, Edge, EdgeNameType, EmptyFields,
};
use async_graphql::{Context, ErrorExtensions as _, InputObject, OutputType, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::context::source;
use super::conversation::{Fallible, PureCloudSession, Session, SessionProvider};
use super::errors::{bad_input, upstream_for};
use super::ids::check_upstream_id;
use super::paging::{cursor_text, invalid_cursor, Page};
use super::sessions::{SessionCursor, Stored};
use super::values::{IntervalInput, SessionMedia};
use crate::cache::Report;
use crate::purecloud;
use crate::purecloud::queries::ANALYTICS_PAGE_SIZE;
use crate::purecloud::Listed;
use crate::store::{self, Window};
use crate::upstream::analytics::{AnalyticsConversation, DetailsQuery};

/// The most analytics pages one history page reads.
const MAX_PAGES_PER_REQUEST: u32 = 20;

/// The most ids a queue or user filter takes.
const MAX_FILTER_IDS: usize = 20;

/// The most ids the conversation filter takes: one analytics multi-get.
const MAX_CONVERSATION_IDS: usize = crate::upstream::BULK_PAGE_SIZE;

/// Which sessions the history lists.
#[derive(InputObject, Default)]
pub(crate) struct HistoryFilter {
    /// Only sessions of conversations routed through one of these queues (PureCloud; Zoom sessions have no queue and are left out).
    queue_ids: Option<Vec<String>>,
    /// Only sessions of conversations one of these agents took part in (PureCloud; Zoom sessions are left out).
    user_ids: Option<Vec<String>>,
    /// Only sessions of these conversations (at most 100; PureCloud, read by id from analytics; Zoom sessions are left out).
    conversation_ids: Option<Vec<String>>,
    /// Only these media (Zoom sessions are co-browse).
    media_types: Option<Vec<SessionMedia>>,
    /// Only these providers.
    providers: Option<Vec<SessionProvider>>,
    /// Also sessions of conversations (and Zoom sessions) still going on; by default only those that ended.
    #[graphql(default)]
    include_active: bool,
}

impl HistoryFilter {
    fn check(&self) -> Result<()> {
        for (name, ids, most) in [
            ("queueIds", &self.queue_ids, MAX_FILTER_IDS),
            ("userIds", &self.user_ids, MAX_FILTER_IDS),
            (
                "conversationIds",
                &self.conversation_ids,
                MAX_CONVERSATION_IDS,
            ),
        ] {
            let Some(ids) = ids else { continue };
            if ids.len() > most {
                return Err(bad_input(format!("`{name}` takes at most {most} ids")));
            }
            for id in ids {
                check_upstream_id(name, id)?;
            }
        }
        Ok(())
    }

    fn wants(&self, provider: SessionProvider) -> bool {
        self.providers
            .as_ref()
            .is_none_or(|p| p.is_empty() || p.contains(&provider))
    }

    fn wants_media(&self, media: SessionMedia) -> bool {
        self.media_types
            .as_ref()
            .is_none_or(|m| m.is_empty() || m.contains(&media))
    }

    /// Whether Zoom sessions can match: they have no queue or user, and
    /// are co-browse.
    fn wants_zoom(&self) -> bool {
        self.wants(SessionProvider::Zoom)
            && self.queue_ids.as_ref().is_none_or(Vec::is_empty)
            && self.user_ids.as_ref().is_none_or(Vec::is_empty)
            && self.conversation_ids.as_ref().is_none_or(Vec::is_empty)
            && self.wants_media(SessionMedia::Cobrowse)
    }

    /// Whether a record read by id is one the queue and user filters want
    /// (the details query applies them upstream).
    fn wants_record(&self, record: &AnalyticsConversation) -> bool {
        let segments = || {
            record
                .participants
                .iter()
                .flat_map(|p| &p.sessions)
                .flat_map(|s| &s.segments)
        };
        let queue = self.queue_ids.as_ref().filter(|ids| !ids.is_empty());
        let user = self.user_ids.as_ref().filter(|ids| !ids.is_empty());
        queue.is_none_or(|ids| {
            segments().any(|s| s.queue_id.as_ref().is_some_and(|q| ids.contains(q)))
        }) && user.is_none_or(|ids| {
            record
                .participants
                .iter()
                .any(|p| p.user_id.as_ref().is_some_and(|u| ids.contains(u)))
        })
    }

    /// The details query of page `page` (none: a details job's query).
    fn query(&self, interval: &IntervalInput, page: Option<u32>) -> DetailsQuery {
        let media = SessionMedia::wires(self.media_types.as_deref());
        purecloud::queries::HistoryQuery {
            start: interval.start,
            end: interval.end,
            media: &media,
            queue_ids: self.queue_ids.as_deref().unwrap_or_default(),
            user_ids: self.user_ids.as_deref().unwrap_or_default(),
            include_active: self.include_active,
        }
        .details(page)
    }
}

/// Where in upstream's answer a history page resumes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum HistoryPlace {
    /// A page (from 1) of the synchronous details query.
    Page(u32),
    /// A page of a details job's results: the job and the cursor that
    /// fetched the page (none: its first).
    Job {
        job: Arc<str>,
        cursor: Option<Arc<str>>,
    },
}

/// A place in the history: its keyset place and where in analytics it
/// came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HistoryCursor {
    key: SessionCursor,
    place: HistoryPlace,
}

impl CursorType for HistoryCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bad = || invalid_cursor(s);
        if let Ok(rest) = cursor_text(s, "h2:") {
            let mut parts = rest.splitn(3, ':');
            let mut text = || -> Result<String, String> {
                let part = parts.next().ok_or_else(bad)?;
                let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| bad())?;
                String::from_utf8(bytes).map_err(|_| bad())
            };
            let (job, cursor) = (text()?, text()?);
            let key = parts.next().ok_or_else(bad)?;
            if job.is_empty() {
                return Err(bad());
            }
            return Ok(Self {
                place: HistoryPlace::Job {
                    job: job.into(),
                    cursor: (!cursor.is_empty()).then(|| cursor.into()),
                },
                key: SessionCursor::decode_cursor(key).map_err(|_| bad())?,
            });
        }
        let rest = cursor_text(s, "h1:")?;
        let (page, key) = rest.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            place: HistoryPlace::Page(page.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?),
            key: SessionCursor::decode_cursor(key).map_err(|_| bad())?,
        })
    }

    fn encode_cursor(&self) -> String {
        let key = self.key.encode_cursor();
        let text = match &self.place {
            HistoryPlace::Page(page) => format!("h1:{page}:{key}"),
            HistoryPlace::Job { job, cursor } => format!(
                "h2:{}:{}:{key}",
                URL_SAFE_NO_PAD.encode(job.as_bytes()),
                URL_SAFE_NO_PAD.encode(cursor.as_deref().unwrap_or_default())
            ),
        };
        URL_SAFE_NO_PAD.encode(text)
    }
}

/// Names the history's connection types apart from `cobrowseSessions`'.
pub(crate) struct HistoryName;

impl ConnectionNameType for HistoryName {
    fn type_name<T: OutputType>() -> String {
        "SessionHistoryConnection".into()
    }
}

impl EdgeNameType for HistoryName {
    fn type_name<T: OutputType>() -> String {
        "SessionHistoryEdge".into()
    }
}

/// The history's connection.
pub(crate) type History =
    Connection<HistoryCursor, Session, EmptyFields, EmptyFields, HistoryName, HistoryName>;

/// One listed session with its key and where in analytics it came from.
type Found = (SessionCursor, HistoryPlace, Session);

/// One page of `Query.cobrowseHistory`.
pub(crate) async fn history(
    ctx: &Context<'_>,
    interval: IntervalInput,
    filter: HistoryFilter,
    page: Page<HistoryCursor>,
) -> Fallible<History> {
    interval.check()?;
    filter.check()?;
    let want = page.first.unwrap_or(0);
    let after = page.after.as_ref();
    let mut found: Vec<Found> = Vec::new();
    let mut more = false;
    if filter.wants(SessionProvider::Purecloud) {
        let (sessions, exhausted) = purecloud(ctx, &interval, &filter, after, want).await?;
        found.extend(sessions);
        more |= !exhausted;
    }
    if filter.wants_zoom() {
        found.extend(zoom(ctx, &interval, &filter, after, want).await?);
    }
    if filter.wants(SessionProvider::Purecloud) && filter.wants_media(SessionMedia::Cobrowse) {
        found.extend(messenger(ctx, &interval, &filter, after, want).await?);
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    more |= found.len() > want;
    found.truncate(want);
    let mut connection = History::new(after.is_some(), more);
    // A stored session (Zoom's, Messenger's) keeps the analytics place of
    // the legacy PureCloud session before it, so that reading resumes where
    // analytics left off.
    let mut place_of = after.map_or(HistoryPlace::Page(1), |c| c.place.clone());
    for (key, place, session) in found {
        if matches!(session, Session::PureCloud(_)) {
            place_of = place;
        }
        let cursor = HistoryCursor {
            key,
            place: place_of.clone(),
        };
        connection.edges.push(Edge::new(cursor, session));
    }
    Ok(Some(connection))
}

/// The PureCloud sessions after `after`, at least `want + 1` of them unless
/// analytics runs out first (then `true`): given conversations by id, a
/// long interval from a job, others from the details query.
async fn purecloud(
    ctx: &Context<'_>,
    interval: &IntervalInput,
    filter: &HistoryFilter,
    after: Option<&HistoryCursor>,
    want: usize,
) -> Result<(Vec<Found>, bool)> {
    if let Some(ids) = filter
        .conversation_ids
        .as_ref()
        .filter(|ids| !ids.is_empty())
    {
        return by_ids(ctx, interval, filter, ids, after).await;
    }
    let span = (interval.end - interval.start).to_std().unwrap_or_default();
    if span > source(ctx).job_settings().after {
        return by_job(ctx, interval, filter, after, want).await;
    }
    by_query(ctx, interval, filter, after, want).await
}

/// [`purecloud`] from the synchronous details query, page by page.
async fn by_query(
    ctx: &Context<'_>,
    interval: &IntervalInput,
    filter: &HistoryFilter,
    after: Option<&HistoryCursor>,
    want: usize,
) -> Result<(Vec<Found>, bool)> {
    let source = source(ctx);
    let mut page = match after.map(|c| &c.place) {
        Some(HistoryPlace::Page(page)) => *page,
        _ => 1,
    };
    let mut stepped_back = false;
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    // The first page each start (ms) was seen on: a cursor resumes there,
    // so that conversations of one instant that analytics orders otherwise
    // than the keyset are read again, not skipped over a page boundary.
    let mut first_page: HashMap<i64, u32> = HashMap::new();
    for _ in 0..MAX_PAGES_PER_REQUEST {
        let report = source
            .details_page(&filter.query(interval, Some(page)))
            .await
            .map_err(|e| upstream_for("cobrowseHistory", &e))?;
        let Report::Details(records) = &*report else {
            unreachable!("a details key holds a details report");
        };
        // Records shifted to later pages since the cursor was made: the
        // cursor's own place may be on the page before.
        if let (Some(after), Some(first)) = (after, records.first()) {
            let first_key = conversation_key(first.conversation_start, first_id(first), "");
            if page > 1 && !stepped_back && first_key > after.key {
                page -= 1;
                stepped_back = true;
                continue;
            }
        }
        let wanted = Wanted {
            interval,
            filter,
            after,
        };
        for record in records {
            let place = |started: purecloud::Time| {
                HistoryPlace::Page(*first_page.entry(started.timestamp_millis()).or_insert(page))
            };
            wanted.sessions(source, record, &mut seen, &mut found, place);
        }
        if records.len() < ANALYTICS_PAGE_SIZE as usize {
            return Ok((found, true));
        }
        if found.len() > want {
            return Ok((found, false));
        }
        page += 1;
    }
    if found.is_empty() {
        return Err(bad_input(format!(
            "the history read {MAX_PAGES_PER_REQUEST} analytics pages without finding a session; narrow the interval or the filter"
        )));
    }
    Ok((found, false))
}

/// The PureCloud sessions of the conversations `ids` after `after`, from
/// one multi-get (`GET .../details?id=..`) rather than the details query:
/// every one of them, so nothing is left to read.
async fn by_ids(
    ctx: &Context<'_>,
    interval: &IntervalInput,
    filter: &HistoryFilter,
    ids: &[String],
    after: Option<&HistoryCursor>,
) -> Result<(Vec<Found>, bool)> {
    let source = source(ctx);
    let report = source
        .details_by_ids(ids)
        .await
        .map_err(|e| upstream_for("cobrowseHistory", &e))?;
    let Report::Details(records) = &*report else {
        unreachable!("a details key holds a details report");
    };
    let wanted = Wanted {
        interval,
        filter,
        after,
    };
    let (mut seen, mut found) = (HashSet::new(), Vec::new());
    for record in records.iter().filter(|r| filter.wants_record(r)) {
        wanted.sessions(source, record, &mut seen, &mut found, |_| {
            HistoryPlace::Page(1)
        });
    }
    Ok((found, true))
}

/// The PureCloud sessions after `after` from a details job (a long
/// interval): at least `want + 1` unless its results run out first (then
/// `true`). A job not fulfilled by the request's deadline answers
/// `HISTORY_PREPARING` with `retryAfterSeconds`; asked again, the same job
/// is found.
async fn by_job(
    ctx: &Context<'_>,
    interval: &IntervalInput,
    filter: &HistoryFilter,
    after: Option<&HistoryCursor>,
    want: usize,
) -> Result<(Vec<Found>, bool)> {
    let source = source(ctx);
    let query = filter.query(interval, None);
    let failed = |e: crate::source::SharedError| upstream_for("cobrowseHistory", &e);
    let job = match source.details_job(&query).await.map_err(failed)? {
        crate::jobs::Ready::Fulfilled(job) => job,
        crate::jobs::Ready::Preparing { retry_after } => return Err(preparing(retry_after)),
    };
    // The cursor's page of this job's results; another job (the first
    // expired): its first page, the keyset skipping what was passed.
    let mut cursor = match after.map(|c| &c.place) {
        Some(HistoryPlace::Job { job: j, cursor }) if *j == job => cursor.clone(),
        _ => None,
    };
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for _ in 0..MAX_PAGES_PER_REQUEST {
        let page = source
            .details_job_page(&query, &job, cursor.as_deref())
            .await
            .map_err(failed)?;
        let place = HistoryPlace::Job {
            job: Arc::clone(&job),
            cursor: cursor.clone(),
        };
        let wanted = Wanted {
            interval,
            filter,
            after,
        };
        for record in page.conversations.into_iter().map(Arc::new) {
            wanted.sessions(source, &record, &mut seen, &mut found, |_| place.clone());
        }
        match page.cursor {
            None => return Ok((found, true)),
            Some(next) if found.len() <= want => cursor = Some(next.into()),
            Some(_) => return Ok((found, false)),
        }
    }
    Ok((found, false))
}

/// The error of a history whose analytics job still runs.
fn preparing(retry_after: std::time::Duration) -> async_graphql::Error {
    let seconds = retry_after.as_secs().max(1);
    async_graphql::Error::new(format!(
        "the history of this interval is being prepared by analytics (an asynchronous job); ask again in {seconds} s"
    ))
    .extend_with(move |_, e| {
        e.set("code", super::errors::code::HISTORY_PREPARING);
        e.set("retryAfterSeconds", seconds);
    })
}

/// What one history page wants of analytics records.
struct Wanted<'a> {
    interval: &'a IntervalInput,
    filter: &'a HistoryFilter,
    after: Option<&'a HistoryCursor>,
}

impl Wanted<'_> {
    /// Adds to `found` the sessions of `record` the filter wants after the
    /// cursor, each with its `place` (given the conversation's start); none
    /// when the record was `seen` or did not start in the interval
    /// (analytics matches more: whole days, or activity).
    fn sessions(
        &self,
        source: &crate::source::Source,
        record: &Arc<AnalyticsConversation>,
        seen: &mut HashSet<String>,
        found: &mut Vec<Found>,
        place: impl FnOnce(purecloud::Time) -> HistoryPlace,
    ) {
        let (Some(id), Some(started)) =
            (record.conversation_id.as_deref(), record.conversation_start)
        else {
            return;
        };
        if started < self.interval.start
            || started >= self.interval.end
            || !seen.insert(id.to_owned())
        {
            return;
        }
        let place = place(started);
        let model = source.listed(&Listed::Record(Arc::clone(record)));
        for session in sessions_of(&model, self.filter) {
            let key = conversation_key(Some(started), id, &session.id);
            if self.after.is_none_or(|a| key > a.key) {
                let session = Session::PureCloud(PureCloudSession::new(&model, session));
                found.push((key, place.clone(), session));
            }
        }
    }
}

fn first_id(record: &AnalyticsConversation) -> &str {
    record.conversation_id.as_deref().unwrap_or_default()
}

/// The key of a PureCloud session in the history: its conversation's
/// start, then the conversation and session ids.
fn conversation_key(
    start: Option<purecloud::Time>,
    conversation: &str,
    session: &str,
) -> SessionCursor {
    SessionCursor::new(
        start.map_or(i64::MIN, |t| t.timestamp_millis()),
        SessionProvider::Purecloud,
        format!("{conversation}/{session}"),
        String::new(),
    )
}

/// The co-browse and screen-share sessions of a conversation the filter wants.
fn sessions_of(
    model: &purecloud::ConversationModel,
    filter: &HistoryFilter,
) -> Vec<purecloud::MediaSession> {
    let mut sessions = Vec::new();
    if filter.wants_media(SessionMedia::Cobrowse) {
        sessions.extend(model.sessions());
    }
    if filter.wants_media(SessionMedia::Screenshare) {
        sessions.extend(model.screenshare_sessions());
    }
    sessions.retain(|s| filter.include_active || !s.active(model));
    sessions
}

/// The Zoom sessions after `after`: at most `want + 1`.
async fn zoom(
    ctx: &Context<'_>,
    interval: &IntervalInput,
    filter: &HistoryFilter,
    after: Option<&HistoryCursor>,
    want: usize,
) -> Result<Vec<Found>> {
    let zoom = Stored::zoom(
        ctx,
        store::StoredSessionFilter {
            ended: (!filter.include_active).then_some(true),
            started_after: Some(interval.start),
            started_before: Some(interval.end),
            ..store::StoredSessionFilter::default()
        },
    );
    first_after(&zoom, after, want).await
}

/// At most `want + 1` of `stored`'s sessions after `after`.
async fn first_after(
    stored: &Stored<'_>,
    after: Option<&HistoryCursor>,
    want: usize,
) -> Result<Vec<Found>> {
    let found = stored
        .window(Window {
            after: after.and_then(|c| stored.bound(&c.key, false, true)),
            before: None,
            limit: want + 1,
            from_back: false,
        })
        .await?;
    Ok(found
        .into_iter()
        .map(|(key, session)| (key, HistoryPlace::Page(1), session))
        .collect())
}

/// The Co-browse for Messenger sessions after `after` (listed by their
/// start, else their offer, in the interval): at most `want + 1`. They come
/// from the store, where every offer the gateway heard of, made or was told
/// of by a page is kept for `store.retention`.
async fn messenger(
    ctx: &Context<'_>,
    interval: &IntervalInput,
    filter: &HistoryFilter,
    after: Option<&HistoryCursor>,
    want: usize,
) -> Result<Vec<Found>> {
    let ids = |ids: &Option<Vec<String>>| ids.clone().unwrap_or_default();
    let stored = Stored::messenger(
        ctx,
        store::StoredSessionFilter {
            ended: (!filter.include_active).then_some(true),
            started_after: Some(interval.start),
            started_before: Some(interval.end),
            queue_ids: ids(&filter.queue_ids),
            user_ids: ids(&filter.user_ids),
            conversation_ids: ids(&filter.conversation_ids),
            ..store::StoredSessionFilter::default()
        },
    );
    first_after(&stored, after, want).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_survive_their_text() {
        let key = SessionCursor::new(
            1_700_000_000_000,
            SessionProvider::Purecloud,
            "c:1/s".into(),
            String::new(),
        );
        for place in [
            HistoryPlace::Page(7),
            HistoryPlace::Job {
                job: "j:1".into(),
                cursor: Some("a:b/c".into()),
            },
            HistoryPlace::Job {
                job: "j".into(),
                cursor: None,
            },
        ] {
            let cursor = HistoryCursor {
                key: key.clone(),
                place,
            };
            let text = cursor.encode_cursor();
            assert_eq!(HistoryCursor::decode_cursor(&text), Ok(cursor));
        }
        assert!(HistoryCursor::decode_cursor("bm9wZQ").is_err());
        let zero = URL_SAFE_NO_PAD.encode("h1:0:x");
        assert!(HistoryCursor::decode_cursor(&zero).is_err());
    }
}
