//! The asynchronous analytics details jobs, as the SDKs document them
//! (docs/upstream.md, "Analytics"): `POST .../details/jobs` takes an
//! `AsyncConversationQuery` (the details query without `paging`) and
//! answers `202 {jobId}`; `GET .../jobs/{jobId}` says its `state`
//! (`QUEUED`, then `PENDING`, then `FULFILLED` after
//! [`super::Faults::analytics_job_ms`]); `GET .../jobs/{jobId}/results`
//! pages its records by `cursor` (`pageSize`, 100 when absent: the SDKs
//! name no default or most), and refuses a job not yet fulfilled. Unlike
//! the synchronous query, a job matches every conversation with activity
//! during the interval (started before its end, not ended before its
//! start). A job's records are those of the moment it was submitted, as
//! analytics (lagging) had them; the simulator keeps the last
//! [`MAX_JOBS`] jobs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use super::Sim;
use super::{analytics, error_body, Grant, SimState};
use crate::upstream::analytics::{
    AnalyticsConversation, DetailsQuery, JobResults, JobStatus, JobSubmitted,
};

/// How many jobs the simulator remembers (the oldest is forgotten).
pub(crate) const MAX_JOBS: usize = 100;

/// One submitted job.
pub(crate) struct Job {
    id: String,
    client: Arc<str>,
    submitted: Instant,
    submitted_at: chrono::DateTime<Utc>,
    takes: Duration,
    records: Arc<Vec<AnalyticsConversation>>,
}

impl Job {
    fn state(&self) -> &'static str {
        let age = self.submitted.elapsed();
        if age >= self.takes {
            "FULFILLED"
        } else if age >= self.takes / 2 {
            "PENDING"
        } else {
            "QUEUED"
        }
    }
}

/// The jobs, newest last.
#[derive(Default)]
pub(crate) struct SimJobs(std::sync::Mutex<VecDeque<Job>>);

fn refuse(status: StatusCode, code: &str, why: &str) -> Response {
    error_body(status, code, why)
}

/// `POST /api/v2/analytics/conversations/details/jobs`.
pub(super) async fn submit(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    let query: DetailsQuery = match serde_json::from_slice(&body) {
        Ok(query) => query,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad.request",
                &format!("Invalid request body: {e}"),
            )
        }
    };
    if query.paging.is_some() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "An asynchronous query takes no paging; its results are paged by cursor.",
        );
    }
    let faults = sim.faults.read().expect("faults lock").clone();
    let records = match sim.analytics(&grant, |held| analytics::job_records(held, &query)) {
        Ok(records) => records,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "bad.request", &why),
    };
    let id = super::data::uuid(&mut rand::rng());
    let job = Job {
        id: id.clone(),
        client: Arc::clone(&grant.client),
        submitted: Instant::now(),
        submitted_at: Utc::now(),
        takes: Duration::from_millis(faults.analytics_job_ms),
        records: Arc::new(records),
    };
    let mut jobs = sim.jobs.0.lock().expect("jobs lock");
    if jobs.len() == MAX_JOBS {
        jobs.pop_front();
    }
    jobs.push_back(job);
    (
        StatusCode::ACCEPTED,
        Json(JobSubmitted { job_id: Some(id) }),
    )
        .into_response()
}

/// The job `id` of the caller's client.
fn with_job<T>(sim: &SimState, grant: &Grant, id: &str, then: impl FnOnce(&Job) -> T) -> Option<T> {
    let jobs = sim.jobs.0.lock().expect("jobs lock");
    jobs.iter()
        .find(|j| j.id == id && j.client == grant.client)
        .map(then)
}

fn no_job() -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "not.found",
        "The requested job was not found.",
    )
}

/// `GET /api/v2/analytics/conversations/details/jobs/{jobId}`.
pub(super) async fn status(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    Path(id): Path<String>,
) -> Response {
    let status = with_job(&sim, &grant, &id, |job| {
        let state = job.state();
        let done = job.submitted_at
            + chrono::Duration::from_std(job.takes).unwrap_or(chrono::Duration::zero());
        JobStatus {
            state: Some(state.into()),
            submission_date: Some(job.submitted_at),
            completion_date: (state == "FULFILLED").then_some(done),
            expiration_date: Some(done + chrono::Duration::days(1)),
            error_message: None,
        }
    });
    match status {
        Some(status) => Json(status).into_response(),
        None => no_job(),
    }
}

/// `GET /api/v2/analytics/conversations/details/jobs/{jobId}/results`.
pub(super) async fn results(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut cursor = 0usize;
    let mut page_size = 100usize;
    for (key, value) in form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        let parsed = match key.as_ref() {
            "cursor" => value
                .strip_prefix('o')
                .and_then(|n| n.parse().ok())
                .map(|n| cursor = n),
            "pageSize" => value.parse().ok().filter(|n| *n > 0).map(|n| page_size = n),
            _ => Some(()),
        };
        if parsed.is_none() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad.request",
                &format!("{key} is not valid"),
            );
        }
    }
    let found = with_job(&sim, &grant, &id, |job| {
        (job.state() == "FULFILLED").then(|| Arc::clone(&job.records))
    });
    let records = match found {
        None => return no_job(),
        Some(None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad.request",
                "The job's results are not available yet: its state is not FULFILLED.",
            )
        }
        Some(Some(records)) => records,
    };
    let end = cursor.saturating_add(page_size).min(records.len());
    Json(JobResults {
        conversations: records.get(cursor..end).unwrap_or_default().to_vec(),
        cursor: (end < records.len()).then(|| format!("o{end}")),
        data_availability_date: Some(Utc::now()),
    })
    .into_response()
}
