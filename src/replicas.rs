//! Several replicas on one PostgreSQL store: each follows the change feed
//! into its own subscribers and caches, and one at a time — the holder of
//! the `notifications` lease — listens to Genesys's notifications and
//! writes what it hears into the feed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::graph::subscription::SessionUpdate;
use crate::live::{Live, Notice, Publish};
use crate::source::Source;
use crate::store::postgres::PgStore;
use crate::store::{FeedItem, StoreError};

/// The lease of the notification listener.
pub(crate) const LISTENER_LEASE: &str = "notifications";

/// Notices the listener may queue for the feed before it waits.
const NOTICES: usize = 4_096;

/// Follows the feed: every replica's subscribers hear every change; what
/// another replica changed (a mutation, a PureCloud event its listener
/// heard) is forgotten from this one's caches.
pub(crate) async fn follow(
    store: &Arc<PgStore>,
    source: &Arc<Source>,
    updates: &broadcast::Sender<SessionUpdate>,
    catch_up: Duration,
) -> Result<JoinHandle<()>, StoreError> {
    let (me, source, updates) = (
        store.replica().to_owned(),
        Arc::clone(source),
        updates.clone(),
    );
    let publish = Arc::new(move |item: FeedItem| {
        // What this replica wrote it has forgotten already.
        let elsewhere = item.writer().is_some_and(|writer| writer != me);
        let forget = |id: String| {
            let source = Arc::clone(&source);
            tokio::spawn(async move { source.forget_changed(&id).await });
        };
        if let (true, FeedItem::Conversation { id, .. }) = (elsewhere, &item) {
            forget(id.clone());
        }
        if let Some(update) = SessionUpdate::fed(item) {
            if let (true, Some(id)) = (elsewhere, update.purecloud_conversation()) {
                forget(id.to_owned());
            }
            // No subscriber is not an error.
            let _ = updates.send(update);
        }
    });
    store.follow(publish, catch_up).await
}

/// Holds the listener lease when it can, and listens only while it holds
/// it: `listen` starts the listener with a publisher that writes to the
/// feed. Each start of listening is a lag notice to every subscriber. The lease is renewed every third of `ttl`; a renewal that fails or
/// is refused stops the listener at once, before the lease can expire for
/// another replica.
pub(crate) fn lead(
    store: Arc<PgStore>,
    live: Arc<Live>,
    ttl: Duration,
    listen: impl Fn(Publish) -> JoinHandle<()> + Send + 'static,
) -> JoinHandle<()> {
    let publish = feed_writer(Arc::clone(&store));
    tokio::spawn(async move {
        let mut listening: Option<JoinHandle<()>> = None;
        let mut ticks = tokio::time::interval(ttl / 3);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        live.stand_by("another replica holds the notification lease");
        loop {
            ticks.tick().await;
            let held = tokio::time::timeout(ttl / 3, store.lease(LISTENER_LEASE, ttl)).await;
            match (held, listening.is_some()) {
                (Ok(Ok(true)), false) => {
                    info!(
                        replica = store.replica(),
                        "holds the notification lease: listening to Genesys"
                    );
                    // Between the last holder's end and this one's
                    // back-fill, changes went unheard: subscribers are told
                    // so (never a silent skip).
                    publish(Notice::Gap(ttl));
                    listening = Some(listen(Arc::clone(&publish)));
                }
                (Ok(Ok(true)), true) => {}
                (outcome, was_listening) => {
                    if let Some(task) = listening.take() {
                        task.abort();
                    }
                    let why = match outcome {
                        Ok(Ok(_)) => "another replica holds the notification lease".to_owned(),
                        Ok(Err(e)) => format!("the notification lease cannot be renewed: {e}"),
                        Err(_) => "the notification lease cannot be renewed in time".to_owned(),
                    };
                    if was_listening {
                        warn!(reason = why.as_str(), "stopped listening to Genesys");
                    }
                    live.stand_by(&why);
                }
            }
        }
    })
}

/// A publisher that writes the listener's notices into the feed, in the
/// order heard (one writer task), from which every replica tells its
/// subscribers. A notice that cannot be written (the writer far behind, the
/// database failing) is not dropped silently: the next one written is
/// preceded by a lag in the feed, so every subscriber hears it lagged.
fn feed_writer(store: Arc<PgStore>) -> Publish {
    let (tx, mut rx) = mpsc::channel::<Notice>(NOTICES);
    let lost = Arc::new(AtomicBool::new(false));
    let lost_by_writer = Arc::clone(&lost);
    tokio::spawn(async move {
        while let Some(notice) = rx.recv().await {
            if lost_by_writer.swap(false, Ordering::AcqRel)
                && store
                    .feed_lag("PureCloud changes were lost on their way between replicas")
                    .await
                    .is_err()
            {
                lost_by_writer.store(true, Ordering::Release);
            }
            if let Err(e) = write_notice(&store, &notice).await {
                warn!(error = %e, "a PureCloud change could not be written to the feed; subscribers will be told they lagged");
                lost_by_writer.store(true, Ordering::Release);
            }
        }
    });
    Arc::new(move |notice| {
        if tx.try_send(notice).is_err() {
            warn!("the feed writer is behind: a PureCloud change is dropped; subscribers will be told they lagged");
            lost.store(true, Ordering::Release);
        }
    })
}

async fn write_notice(store: &PgStore, notice: &Notice) -> Result<(), StoreError> {
    let subject = match notice {
        Notice::Session(update) => update.conversation_id.to_string(),
        Notice::Gap(_) => String::new(),
    };
    let body = serde_json::to_string(notice).expect("a notice serializes");
    store.feed_notice(&subject, &body).await
}
