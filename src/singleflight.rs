//! Single-flight for calls that moka cannot coalesce by key (bulk calls).
//!
//! The first caller for a key starts the work on its own task; callers that
//! arrive while it runs wait for the same result. The work runs to the end
//! even if every caller goes away, so a cache it fills is filled once.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};

type Flight<V> = (u64, Shared<BoxFuture<'static, V>>);

/// A group of in-flight calls keyed by `K`.
pub(crate) struct Group<K, V: Clone> {
    calls: Arc<Mutex<HashMap<K, Flight<V>>>>,
    next: AtomicU64,
}

impl<K, V> Default for Group<K, V>
where
    V: Clone,
{
    fn default() -> Self {
        Self {
            calls: Arc::new(Mutex::new(HashMap::new())),
            next: AtomicU64::new(0),
        }
    }
}

impl<K, V> Group<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Runs `work` for `key` unless a call for `key` is in flight, in which
    /// case its result is awaited instead.
    pub(crate) async fn run<F>(&self, key: K, work: impl FnOnce() -> F) -> V
    where
        F: Future<Output = V> + Send + 'static,
    {
        let flight = {
            let mut calls = self.calls.lock().expect("single-flight lock poisoned");
            match calls.get(&key) {
                Some((_, flight)) => flight.clone(),
                None => {
                    let id = self.next.fetch_add(1, Ordering::Relaxed);
                    let calls_ref = Arc::clone(&self.calls);
                    let own_key = key.clone();
                    let work = work();
                    // The work logs in the span of the caller that started
                    // it, and its upstream calls end by its deadline.
                    let task = tokio::spawn(tracing::Instrument::in_current_span(
                        crate::deadline::carry(async move {
                            let value = work.await;
                            let mut calls = calls_ref.lock().expect("single-flight lock poisoned");
                            if calls.get(&own_key).is_some_and(|(f, _)| *f == id) {
                                calls.remove(&own_key);
                            }
                            value
                        }),
                    ));
                    let flight = async move { task.await.expect("single-flight task panicked") }
                        .boxed()
                        .shared();
                    calls.insert(key, (id, flight.clone()));
                    flight
                }
            }
        };
        flight.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let group: Group<&'static str, usize> = Group::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        // join_all polls every call once before any can finish: all ten
        // join while the first one's work waits at the gate.
        let calls = futures::future::join_all((0..10).map(|_| {
            let (runs, mut gate) = (Arc::clone(&runs), gate.clone());
            group.run("k", move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                gate.wait_for(|open| *open).await.expect("sender alive");
                42
            })
        }));
        let opener = async {
            while runs.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            release.send(true).expect("receivers alive");
        };
        let (results, ()) = tokio::join!(calls, opener);
        assert_eq!(results, vec![42; 10]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
