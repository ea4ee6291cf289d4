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

use crate::live::{Live, Notice, Publish};
use crate::purecloud::Listed;
use crate::source::Source;
use crate::store::postgres::PgStore;
use crate::store::{FeedItem, StoreError};
use crate::updates::SessionUpdate;

/// The lease of the notification listener.
pub(crate) const LISTENER_LEASE: &str = "notifications";

/// Notices the listener may queue for the feed before it waits.
const NOTICES: usize = 4_096;

/// Follows the feed: every replica's subscribers hear every change; what
/// another replica changed (a mutation, a PureCloud event its listener
/// heard) is forgotten from this one's caches; what the listener's index
/// holds of each change is copied into this one's (`live`; the listener's
/// cached co-browse views with it).
pub(crate) async fn follow(
    store: &Arc<PgStore>,
    source: &Arc<Source>,
    live: Option<Arc<Live>>,
    updates: &broadcast::Sender<SessionUpdate>,
    catch_up: Duration,
) -> Result<JoinHandle<()>, StoreError> {
    let me = store.replica().to_owned();
    let updates = updates.clone();
    let caches = Caches::spawn(Arc::clone(source));
    let source = Arc::clone(source);
    let publish = Arc::new(move |item: FeedItem| {
        // What this replica wrote it has forgotten already.
        let elsewhere = item.writer().is_some_and(|writer| writer != me);
        let update = match item {
            FeedItem::Conversation { id, .. } => {
                if elsewhere {
                    source.note_changed(&id);
                    caches.forget(Forget::Changed(id));
                }
                return;
            }
            FeedItem::Notice { body, .. } => {
                let notice = serde_json::from_str::<Notice>(&body);
                if let Ok(Notice::Listed(listed)) = notice {
                    if let (true, Some(live)) = (elsewhere, &live) {
                        live.copy(&listed);
                        for (id, _) in &listed {
                            source.note_changed(id);
                        }
                        caches.forget(Forget::Copied(listed));
                    }
                    return;
                }
                if let (Ok(Notice::Gap(_)), Some(live)) = (&notice, &live) {
                    live.lost_track();
                }
                SessionUpdate::heard(notice)
            }
            FeedItem::Lagged(why) => {
                if let Some(live) = &live {
                    live.lost_track();
                }
                SessionUpdate::fed(FeedItem::Lagged(why))
            }
            item @ FeedItem::Zoom { .. } => SessionUpdate::fed(item),
            FeedItem::Messenger { sequence, change } => {
                // Before subscribers hear of it: the active set takes it.
                source.note_messenger_change(&change);
                SessionUpdate::fed(FeedItem::Messenger { sequence, change })
            }
        };
        let Some(update) = update else { return };
        if let (true, Some(id)) = (elsewhere, update.purecloud_conversation()) {
            source.note_changed(id);
            caches.forget(Forget::Changed(id.to_owned()));
        }
        // No subscriber is not an error.
        let _ = updates.send(update);
    });
    store.follow(publish, catch_up).await
}

/// What another replica changed, for this one's caches.
enum Forget {
    /// A conversation changed: its cached forms are dropped.
    Changed(String),
    /// What the listener's index holds now: cached forms dropped, and its
    /// co-browse views cached as the listener caches them.
    Copied(Vec<(Arc<str>, Option<Listed>)>),
}

/// Forgets what other replicas changed from this one's caches, in the
/// order the feed told it (a later view is never overwritten by an older).
struct Caches {
    queue: mpsc::Sender<Forget>,
    source: Arc<Source>,
}

/// Changes queued for the caches before they are forgotten out of order.
const FORGETS: usize = 4_096;

impl Caches {
    fn spawn(source: Arc<Source>) -> Self {
        let (queue, mut queued) = mpsc::channel(FORGETS);
        let forgetting = Arc::clone(&source);
        tokio::spawn(async move {
            while let Some(forget) = queued.recv().await {
                apply(&forgetting, forget).await;
            }
        });
        Self { queue, source }
    }

    fn forget(&self, forget: Forget) {
        if let Err(mpsc::error::TrySendError::Full(forget)) = self.queue.try_send(forget) {
            // Far behind: forgotten out of order rather than not at all.
            let source = Arc::clone(&self.source);
            tokio::spawn(async move { apply(&source, forget).await });
        }
    }
}

async fn apply(source: &Source, forget: Forget) {
    match forget {
        Forget::Changed(id) => source.forget_changed(&id).await,
        Forget::Copied(listed) => {
            for (id, now) in listed {
                // Noted changed again once forgotten: a response read from
                // the old copies in between is not kept either.
                source.forget_changed(&id).await;
                if let Some(Listed::View(view)) = now {
                    source.cache_view(&id, view).await;
                }
            }
        }
    }
}

/// Holds the listener lease when it can, and listens only while it holds
/// it: `listen` starts the listener with a publisher that writes to the
/// feed. Each start of listening is a lag notice to every subscriber. The
/// lease is renewed every third of `ttl`; a renewal that fails or is
/// refused stops the listener at once, before the lease can expire for
/// another replica. While another replica listens, this one's index is a
/// copy of its index (kept from the feed by [`follow`]), made whole by
/// `backfill` (a task that back-fills it once, on start and after each
/// time it lost track) and served while the listener's lease says its own
/// may be.
pub(crate) fn lead(
    store: Arc<PgStore>,
    live: Arc<Live>,
    ttl: Duration,
    listen: impl Fn(Publish) -> JoinHandle<()> + Send + 'static,
    backfill: impl Fn() -> JoinHandle<()> + Send + 'static,
) -> JoinHandle<()> {
    let publish = feed_writer(Arc::clone(&store));
    tokio::spawn(async move {
        let mut listening: Option<JoinHandle<()>> = None;
        let mut backfilling: Option<JoinHandle<()>> = None;
        let mut ticks = tokio::time::interval(ttl / 3);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        live.stand_by("another replica holds the notification lease");
        loop {
            ticks.tick().await;
            let serving = listening.is_some() && live.index.servable();
            let lease =
                tokio::time::timeout(ttl / 3, store.lease(LISTENER_LEASE, ttl, serving)).await;
            match (lease, listening.is_some()) {
                (Ok(Ok(lease)), false) if lease.held => {
                    info!(
                        replica = store.replica(),
                        "holds the notification lease: listening to Genesys"
                    );
                    if let Some(task) = backfilling.take() {
                        task.abort();
                    }
                    live.lead();
                    // Between the last holder's end and this one's
                    // back-fill, changes went unheard: subscribers are told
                    // so (never a silent skip).
                    publish(Notice::Gap(ttl));
                    listening = Some(listen(Arc::clone(&publish)));
                }
                (Ok(Ok(lease)), true) if lease.held => {}
                (outcome, was_listening) => {
                    if let Some(task) = listening.take() {
                        task.abort();
                    }
                    let why = match &outcome {
                        Ok(Ok(_)) => "another replica holds the notification lease".to_owned(),
                        Ok(Err(e)) => format!("the notification lease cannot be renewed: {e}"),
                        Err(_) => "the notification lease cannot be renewed in time".to_owned(),
                    };
                    if was_listening {
                        warn!(reason = why.as_str(), "stopped listening to Genesys");
                    }
                    live.stand_by(&why);
                    match outcome {
                        Ok(Ok(lease)) => live.leader_says(lease.holder_serving, lease.left),
                        // The database cannot say: the copy is served no more.
                        _ => live.leader_says(false, Duration::ZERO),
                    }
                    let idle = backfilling.as_ref().is_none_or(JoinHandle::is_finished);
                    if idle && live.wants_backfill().is_some() {
                        backfilling = Some(backfill());
                    }
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
        Notice::Messenger(change) => change.conversation_id.clone(),
        Notice::Gap(_) | Notice::Listed(_) => String::new(),
    };
    let body = serde_json::to_string(notice).expect("a notice serializes");
    store.feed_notice(&subject, &body).await
}
