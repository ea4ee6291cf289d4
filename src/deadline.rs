//! The instant by which a request's upstream calls must be done.
//!
//! A GraphQL request has `server.request_timeout`; the upstream calls it
//! causes must end before it does, retries included, so that a hung
//! upstream gives the caller a field error naming the route
//! (`UPSTREAM_TIMEOUT`) instead of the whole request timing out. The
//! request runs inside a [`scope`] (a task-local); the client reads
//! [`current`] before every attempt and backoff. Work spawned on the
//! request's behalf (single-flight fetches, loader batches) carries it
//! ([`carry`]), as it carries the request's span. Outside a scope
//! (background work: the live index, back-fills) there is none, and only
//! `upstream.timeout` and `upstream.max_attempts` bound a call.

use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as its upstream calls' deadline.
pub(crate) async fn scope<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The deadline of the current request, if any.
pub(crate) fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// `work`, to be spawned, carrying the current request's deadline (if any).
pub(crate) fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let deadline = current();
    async move {
        match deadline {
            Some(deadline) => DEADLINE.scope(deadline, work).await,
            None => work.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawned_work_carries_the_deadline_and_background_work_has_none() {
        let at = Instant::now() + std::time::Duration::from_secs(5);
        assert_eq!(current(), None);
        let seen = scope(at, async {
            tokio::spawn(carry(async { current() }))
                .await
                .expect("runs")
        })
        .await;
        assert_eq!(seen, Some(at));
        let plain = scope(at, async {
            tokio::spawn(async { current() }).await.expect("runs")
        })
        .await;
        assert_eq!(plain, None);
    }
}
