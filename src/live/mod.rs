//! Live PureCloud: the organisation's active set kept by the Notifications
//! API instead of polled.
//!
//! In service mode the gateway lists the queues, subscribes both co-browse
//! topics of every queue ([`channel`]: at most 1,000 topics per channel and
//! 20 channels), back-fills the active set from analytics, and from then on
//! applies every event as it arrives ([`index`]): the conversation's
//! co-browse view in the cache is replaced by the event's body, its full
//! form is dropped, the kept responses that read it go stale, and
//! subscribers are told ([`marks`]).
//!
//! Every gap ends in a back-fill: a socket that closes or goes silent past
//! the heartbeat timeout, a maintenance notice, a channel that expired, a
//! message that does not read. While the index is being recovered it is
//! not served (reads go to analytics). When notifications cannot be had
//! (topics rejected, sockets refused, queues unlisted) the index is polled
//! from analytics every `notifications.poll_interval` instead, and
//! `/readyz`, the metrics and the log say so; listening resumes when it can.

mod channel;
pub(crate) mod index;
mod listener;
pub(crate) mod marks;
pub(crate) mod messenger;
mod topics;

use listener::active_records;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::source::Source;
use crate::upstream::notifications::TopicAnswer;
pub(crate) use index::{Index, Serving};
pub(crate) use listener::spawn;
pub(crate) use marks::{LiveUpdate, Notice, UpdateKind};
pub(crate) use messenger::MessengerStatus;

/// How the listener keeps the index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LiveSettings {
    /// Silence after which a socket is taken for dead.
    pub heartbeat_timeout: Duration,
    /// How often analytics is polled when notifications cannot be had.
    pub poll_interval: Duration,
    /// How often queues are listed again (new queues get topics).
    pub relist_interval: Duration,
    /// How often the index is reconciled with analytics while events keep
    /// it (what an event missed is set right, and counted).
    pub reconcile_interval: Duration,
    /// How far analytics lags real time (a back-fill does not undo what
    /// events said within it, and is taken again once it has passed).
    pub analytics_lag: Duration,
    /// How far back the active set looks.
    pub lookback: Duration,
    /// How long connecting a socket may take.
    pub connect_timeout: Duration,
    /// Other replicas copy the index: what it holds of each change is
    /// published ([`Notice::Listed`]) before the change's notices.
    pub shares_index: bool,
    /// How far back Co-browse for Messenger is back-filled from analytics
    /// (zero: not at all).
    pub messenger_history: Duration,
}

/// Tells subscribers of a change, or of a gap.
pub(crate) type Publish = Arc<dyn Fn(Notice) + Send + Sync>;

/// What `/readyz` shows of the listener.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Status {
    /// `starting`, `listening`, `recovering` or `polling`.
    pub mode: &'static str,
    /// Why it is not listening.
    pub reason: Option<String>,
    pub channels: usize,
    pub topics: usize,
    pub conversations: usize,
    pub last_backfill: Option<chrono::DateTime<chrono::Utc>>,
    /// The index answers for the active set (reads of it go upstream
    /// while not).
    pub served: bool,
    /// Co-browse for Messenger: heard on the message topics or polled.
    pub messenger: MessengerStatus,
    /// What each topic requires, as Genesys publishes it, and whether the
    /// client has it.
    pub topic_requirements: Vec<topics::TopicRequirement>,
}

/// The live index and what the listener says of itself.
pub(crate) struct Live {
    pub index: Index,
    status: Mutex<Status>,
    mirror: Mutex<Mirror>,
    /// What the Messenger back-fill last did (its task writes it).
    history: Arc<Mutex<messenger::HistoryStatus>>,
    /// Whether the log said once that this replica's copy is whole (it is
    /// made whole again after every gap the listener has: routine).
    told_whole: std::sync::atomic::AtomicBool,
}

/// Several replicas: how this replica's index stands as a copy of the
/// listening replica's.
#[derive(Debug)]
struct Mirror {
    /// This replica listens: its index is the original.
    leading: bool,
    /// Counts the times the copy lost track (a gap in the feed, a new
    /// listener, this replica's own listening ended).
    lost: u64,
    /// The copy is whole: a back-fill of its own that started after it
    /// last lost track succeeded.
    whole: bool,
    /// The listener may be served until then, as its lease last said.
    leader_serving_until: Option<std::time::Instant>,
}

impl crate::source::LiveActiveSet for Live {
    fn listing(&self) -> Option<Arc<crate::purecloud::ActiveListing>> {
        self.index.listing()
    }
}

impl Live {
    /// An empty index; nothing is served from it until it is filled.
    pub(crate) fn new(lease: Arc<crate::cache::PushLease>) -> Self {
        Self {
            index: Index::new(lease),
            status: Mutex::new(Status {
                mode: "starting",
                reason: None,
                channels: 0,
                topics: 0,
                conversations: 0,
                last_backfill: None,
                served: false,
                messenger: MessengerStatus {
                    mode: "starting",
                    ..MessengerStatus::default()
                },
                topic_requirements: Vec::new(),
            }),
            mirror: Mutex::new(Mirror {
                leading: false,
                lost: 0,
                whole: false,
                leader_serving_until: None,
            }),
            history: Arc::default(),
            told_whole: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// This replica starts listening: its index is the original.
    pub(crate) fn lead(&self) {
        self.mirror.lock().expect("mirror lock").leading = true;
    }

    /// Another replica listens (or none can now): this index becomes a
    /// copy of the listener's, not served until a back-fill of its own has
    /// made it whole, and what it kept is no longer leased for.
    pub(crate) fn stand_by(&self, reason: &str) {
        self.index.lease().revoke();
        {
            let mut copy = self.mirror.lock().expect("mirror lock");
            if copy.leading {
                copy.leading = false;
                copy.lost += 1;
                copy.whole = false;
            }
        }
        let mut status = self.status.lock().expect("status lock");
        status.mode = "standby";
        status.reason = Some(reason.to_owned());
        status.channels = 0;
        status.topics = 0;
        drop(status);
        self.serve_copy();
    }

    /// The listener's lease says whether its index may be served, and how
    /// long it has left.
    pub(crate) fn leader_says(&self, serving: bool, left: Duration) {
        let until = serving.then(|| std::time::Instant::now() + left);
        self.mirror
            .lock()
            .expect("mirror lock")
            .leader_serving_until = until;
        self.serve_copy();
    }

    /// Takes what the listener's index holds of some conversations.
    pub(crate) fn copy(&self, listed: &[(Arc<str>, Option<crate::purecloud::Listed>)]) {
        if self.mirror.lock().expect("mirror lock").leading {
            return;
        }
        self.index.copy(listed, std::time::Instant::now());
        self.status.lock().expect("status lock").conversations = self.index.len();
    }

    /// The copy missed changes (a gap in the feed, a new listener): not
    /// served until a back-fill of its own.
    pub(crate) fn lost_track(&self) {
        let mut copy = self.mirror.lock().expect("mirror lock");
        if copy.leading {
            return;
        }
        copy.lost += 1;
        copy.whole = false;
        drop(copy);
        self.serve_copy();
    }

    /// When the copy is to be made whole, the count of times it lost track
    /// (to hand [`Self::backfilled`]).
    pub(crate) fn wants_backfill(&self) -> Option<u64> {
        let copy = self.mirror.lock().expect("mirror lock");
        (!copy.leading && !copy.whole).then_some(copy.lost)
    }

    /// A back-fill of its own started when the copy had lost track `lost`
    /// times succeeded: whole, unless it lost track again meanwhile.
    pub(crate) fn backfilled(&self, lost: u64) {
        let mut copy = self.mirror.lock().expect("mirror lock");
        if copy.leading || copy.lost != lost {
            return;
        }
        copy.whole = true;
        drop(copy);
        let mut status = self.status.lock().expect("status lock");
        status.conversations = self.index.len();
        status.last_backfill = Some(chrono::Utc::now());
        drop(status);
        self.serve_copy();
    }

    /// Serves the copy while it is whole and the listener's is servable.
    fn serve_copy(&self) {
        let copy = self.mirror.lock().expect("mirror lock");
        if copy.leading {
            return;
        }
        let serving = match copy.leader_serving_until {
            Some(until) if copy.whole => Serving::PolledUntil(until),
            _ => Serving::No,
        };
        drop(copy);
        self.index.serve(serving);
        self.status.lock().expect("status lock").served = serving != Serving::No;
    }

    /// What the listener is doing now.
    pub(crate) fn status(&self) -> Status {
        let mut status = self.status.lock().expect("status lock").clone();
        status.messenger.history = self.history.lock().expect("history lock").clone();
        status
    }
}

/// Several replicas, on one that does not listen: makes its copy of the
/// listener's index whole with a back-fill of its own (at start, and after
/// each time it lost track), trying again every few seconds until it
/// succeeds or is no longer wanted.
pub(crate) async fn backfill_copy(source: Source, live: Arc<Live>, settings: LiveSettings) {
    while let Some(lost) = live.wants_backfill() {
        let started = std::time::Instant::now();
        match active_records(&source, settings.lookback, &live.index).await {
            Ok(records) => {
                let applied = live
                    .index
                    .reconcile(records, started, settings.analytics_lag);
                for id in &applied.changed {
                    source.forget_changed(id).await;
                }
                live.backfilled(lost);
                let conversations = live.index.len();
                if live
                    .told_whole
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    debug!(
                        conversations,
                        "this replica's copy of the active set is whole again"
                    );
                } else {
                    info!(
                        conversations,
                        "this replica's copy of the active set is whole"
                    );
                }
            }
            Err(e) => {
                warn!(code = e.code(), error = %e, "cannot back-fill this replica's copy of the active set; trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// The permissions rejected topics lack.
pub(crate) fn missing(rejected: &[TopicAnswer]) -> Vec<String> {
    let mut missing: Vec<String> = rejected
        .iter()
        .flat_map(|r| r.missing_permissions.iter().cloned())
        .collect();
    missing.sort();
    missing.dedup();
    missing
}
