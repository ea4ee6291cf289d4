//! Asynchronous analytics jobs for long histories (docs/upstream.md,
//! "Analytics"). A history over an interval longer than
//! `upstream.history_job_after` is not read with the synchronous details
//! query (paged by number, matching whole days) but with a details job:
//! submitted once per caller scope and query, its state polled every
//! `upstream.history_job_poll`, its results read page by page by their
//! cursor. A caller never waits past its request's deadline for a job: one
//! not fulfilled by then is [`Ready::Preparing`], and a retry finds the
//! same job. Jobs known are bounded ([`MAX_JOBS`]) and forgotten after
//! [`JOB_KEPT`] (upstream lets results expire).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::upstream::analytics::DetailsQuery;
use crate::upstream::{Credential, PureCloud, UpstreamError};

/// How many jobs are remembered at most.
const MAX_JOBS: u64 = 1_000;

/// How long a job's id is reused for the same query.
const JOB_KEPT: Duration = Duration::from_secs(30 * 60);

/// When a history uses a job, and how often it asks after one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JobSettings {
    /// Intervals longer than this are read with a job.
    pub after: Duration,
    /// How often a job's state is asked while it runs.
    pub poll: Duration,
}

/// What a job is when the caller must be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Its results can be read.
    Fulfilled(Arc<str>),
    /// It still runs: ask again after this long.
    Preparing { retry_after: Duration },
}

/// The jobs this process submitted, by caller scope and query.
pub(crate) struct Jobs {
    settings: JobSettings,
    known: moka::sync::Cache<(u64, String), Arc<str>>,
}

impl Jobs {
    pub(crate) fn new(settings: JobSettings) -> Self {
        Self {
            settings,
            known: moka::sync::Cache::builder()
                .max_capacity(MAX_JOBS)
                .time_to_live(JOB_KEPT)
                .build(),
        }
    }

    pub(crate) fn settings(&self) -> JobSettings {
        self.settings
    }

    /// The job of `query` (submitted now if there is none), once fulfilled,
    /// or how long to wait when it is not by the request's deadline.
    pub(crate) async fn ready(
        &self,
        client: &PureCloud,
        cred: &Credential,
        scope: u64,
        query: &DetailsQuery,
    ) -> Result<Ready, UpstreamError> {
        let key = (scope, serde_json::to_string(query).expect("a DTO"));
        let poll = self.settings.poll;
        // Without a request deadline (background work), a few polls at most.
        let until = crate::deadline::current().map_or_else(
            || Instant::now() + poll * 5,
            |d| d.checked_sub(poll).unwrap_or(d),
        );
        let mut resubmitted = false;
        loop {
            let job = match self.known.get(&key) {
                Some(job) => job,
                None => {
                    let job: Arc<str> = client.submit_details_job(cred, query).await?.into();
                    info!(
                        job = &*job,
                        interval = query.interval,
                        "submitted an analytics details job"
                    );
                    self.known.insert(key.clone(), Arc::clone(&job));
                    job
                }
            };
            let state = match client.details_job(cred, &job).await {
                Ok(status) => status,
                Err(UpstreamError::NotFound { .. }) => crate::upstream::analytics::JobStatus {
                    state: Some("EXPIRED".into()),
                    ..Default::default()
                },
                Err(e) => return Err(e),
            };
            match state.state.as_deref() {
                Some("FULFILLED") => return Ok(Ready::Fulfilled(job)),
                Some("QUEUED" | "PENDING") => {
                    if Instant::now() + poll > until {
                        return Ok(Ready::Preparing {
                            retry_after: poll.max(Duration::from_secs(1)),
                        });
                    }
                    tokio::time::sleep(poll).await;
                }
                Some("EXPIRED" | "CANCELLED") if !resubmitted => {
                    warn!(
                        job = &*job,
                        "an analytics job expired or was cancelled; submitting it again"
                    );
                    self.known.invalidate(&key);
                    resubmitted = true;
                }
                other => {
                    self.known.invalidate(&key);
                    return Err(UpstreamError::BadResponse {
                        detail: format!(
                            "the analytics details job {job} is {}: {}",
                            other.unwrap_or("in no state"),
                            state.error_message.as_deref().unwrap_or("no reason given")
                        ),
                        correlation_id: None,
                    });
                }
            }
        }
    }

    /// Forgets the job of `query` (its results expired under a cursor).
    pub(crate) fn forget(&self, scope: u64, query: &DetailsQuery) {
        let key = (scope, serde_json::to_string(query).expect("a DTO"));
        self.known.invalidate(&key);
    }
}
