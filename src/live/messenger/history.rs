//! The back-fill: Co-browse for Messenger sessions of messaging
//! conversations the listener never heard (they went on before it
//! started, or while it was away), from analytics and their messages.
//!
//! Analytics has no Messenger co-browse field (docs/upstream.md,
//! "Co-browse for Messenger"): it names the web messaging conversations
//! (segment filter `mediaType` `message`) that started within
//! `messenger.history`, newest first; each one not read to its end yet is
//! read as the polling fallback reads it (its messages' metadata, then the
//! co-browse messages in bulk), and noted read once its agent leg is over
//! and all of it is stored. Voice co-browse leaves no message, so no
//! voice call is read. It runs when the listener starts, then every
//! `notifications.reconcile_interval`, each run from where the last one
//! began (less [`OVERLAP`]: analytics lags). A run reads [`CHUNK`]
//! conversations at a time and lets the resolver's live work go between
//! two chunks: a long back-fill never holds up what the topics tell.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::Worker;
use crate::purecloud::queries::{self, ANALYTICS_PAGE_SIZE};

use crate::upstream::{Credential, UpstreamError};

/// How far before the last run's start the next run reads again.
const OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The most analytics pages one run reads (the newest conversations
/// first; older ones are left unread, and said so).
const MAX_PAGES: u32 = 100;

/// Conversations read between two turns of the resolver's live work.
const CHUNK: usize = 50;

/// What the back-fill covers, from settings, and where it says what it
/// did.
#[derive(Clone, Debug)]
pub(crate) struct MessengerBackfill {
    /// How far back (`messenger.history`; zero: no back-fill).
    pub(crate) span: Duration,
    /// How often it runs again.
    pub(crate) every: Duration,
    pub(crate) status: Arc<Mutex<HistoryStatus>>,
}

/// What `/readyz` shows of the back-fill.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryStatus {
    /// The oldest start of a messaging conversation it has looked at
    /// (none: it has not run).
    pub(crate) from: Option<DateTime<Utc>>,
    /// When its last run ended.
    pub(crate) at: Option<DateTime<Utc>>,
    /// Conversations analytics named in the last run.
    pub(crate) named: usize,
    /// Of those, how many were read (the others were read to their end
    /// before, or are heard live).
    pub(crate) read: usize,
    /// Why the last run failed or stopped short.
    pub(crate) error: Option<String>,
}

/// The back-fill's state in the resolver.
pub(super) struct Backfill {
    settings: MessengerBackfill,
    /// Where the last finished run began.
    last: Option<DateTime<Utc>>,
    /// The run under way, and the conversations it has still to read.
    run: Option<Run>,
}

/// One run of the back-fill.
struct Run {
    began: DateTime<Utc>,
    from: DateTime<Utc>,
    named: usize,
    read: usize,
    cut: bool,
    queue: std::collections::VecDeque<String>,
}

impl Backfill {
    pub(super) fn new(settings: MessengerBackfill) -> Self {
        Self {
            settings,
            last: None,
            run: None,
        }
    }

    pub(super) fn on(&self) -> bool {
        !self.settings.span.is_zero()
    }

    pub(super) fn every(&self) -> Duration {
        self.settings.every
    }

    /// What `/readyz` shows of it.
    fn status(&self) -> std::sync::MutexGuard<'_, HistoryStatus> {
        self.settings.status.lock().expect("history status lock")
    }

    /// Where a run starting `now` reads from.
    fn from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let span = chrono::Duration::from_std(self.settings.span).unwrap_or(chrono::TimeDelta::MAX);
        let oldest = now.checked_sub_signed(span).unwrap_or(DateTime::UNIX_EPOCH);
        self.last
            .map_or(oldest, |last| (last - OVERLAP).max(oldest))
    }
}

/// The messaging conversations analytics names that started at `from` or
/// later, newest first, each once; whether it had more than one run
/// reads.
async fn named(
    worker: &Worker,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, bool), UpstreamError> {
    let client = worker.source.client();
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for page_number in 1..=MAX_PAGES {
        let query = queries::messaging(from, now, page_number);
        let page = client
            .details_page(&Credential::Service, &query)
            .await?
            .value;
        let count = page.conversations.len();
        let mut past = false;
        for record in page.conversations {
            // Analytics matches whole days: what started before `from` is
            // trimmed here (and, newest first, ends the reading).
            if record.conversation_start.is_some_and(|t| t < from) {
                past = true;
                continue;
            }
            if let Some(id) = record.conversation_id {
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
        }
        if past || count < ANALYTICS_PAGE_SIZE as usize {
            return Ok((ids, false));
        }
    }
    Ok((ids, true))
}

impl Worker {
    /// One turn of the back-fill: a run starts (analytics names the
    /// conversations) when none is under way, then up to [`CHUNK`] of its
    /// conversations are read. Whether the run has more to read.
    pub(super) async fn backfill(&mut self) -> bool {
        if self.history.run.is_none() {
            let now = Utc::now();
            let from = self.history.from(now);
            match self.start_run(from, now).await {
                Ok(run) => self.history.run = Some(run),
                Err(e) => {
                    let mut status = self.history.status();
                    status.at = Some(Utc::now());
                    status.error = Some(e.clone());
                    warn!(error = %e, "cannot back-fill Co-browse for Messenger sessions from analytics; trying again later");
                    return false;
                }
            }
        }
        let Some(run) = self.history.run.as_mut() else {
            return false;
        };
        let chunk: Vec<String> = run.queue.drain(..run.queue.len().min(CHUNK)).collect();
        if !chunk.is_empty() {
            let bursts = self.read_conversations(chunk).await;
            self.resolve(bursts).await;
        }
        if self
            .history
            .run
            .as_ref()
            .is_some_and(|r| !r.queue.is_empty())
        {
            return true;
        }
        if let Some(run) = self.history.run.take() {
            self.finish(&run);
        }
        false
    }

    /// What analytics names since `from` and is not read yet, to read.
    async fn start_run(&mut self, from: DateTime<Utc>, now: DateTime<Utc>) -> Result<Run, String> {
        let (mut ids, cut) = named(self, from, now).await.map_err(|e| e.to_string())?;
        let named = ids.len();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let read = self
            .store
            .messenger_read(&refs)
            .await
            .map_err(|e| e.to_string())?;
        ids.retain(|id| !read.contains(id) && !self.known.contains(id) && !self.ended.contains(id));
        Ok(Run {
            began: now,
            from,
            named,
            read: ids.len(),
            cut,
            queue: ids.into(),
        })
    }

    /// A run read all it had to: `/readyz` and the log say so.
    fn finish(&mut self, run: &Run) {
        self.history.last = Some(run.began);
        let mut status = self.history.status();
        let Run {
            from, named, read, ..
        } = *run;
        status.at = Some(Utc::now());
        status.from = Some(status.from.map_or(from, |f| f.min(from)));
        status.named = named;
        status.read = read;
        status.error = run.cut.then(|| {
            format!(
                "analytics named more than {} messaging conversations since {from}: only the newest were read",
                MAX_PAGES * ANALYTICS_PAGE_SIZE
            )
        });
        if let Some(why) = &status.error {
            warn!(error = %why, "the Co-browse for Messenger back-fill stopped short");
        } else if read > 0 {
            info!(named, read, since = %from, "read the co-browse messages of messaging conversations analytics named");
        }
    }
}
