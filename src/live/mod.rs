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
pub(crate) mod marks;
pub(crate) mod messenger;
mod topics;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument as _};

use crate::cache::Kind;
use crate::metrics::Metrics;
use crate::source::Source;
use crate::upstream::analytics::AnalyticsConversation;
use crate::upstream::notifications::{
    TopicAnswer, MAX_CHANNELS_PER_CLIENT, MAX_TOPICS_PER_CHANNEL,
};
use crate::upstream::Credential;
use channel::{ChannelReport, Heard, SlotConfig};
pub(crate) use index::{Index, Serving};
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

/// Starts listening with `source`'s (the gateway's own) credentials.
pub(crate) fn spawn(
    source: Source,
    store: Arc<dyn crate::store::EventStore>,
    live: Arc<Live>,
    settings: LiveSettings,
    publish: Publish,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    show_mode(&metrics, "starting");
    let (reports, received) = mpsc::channel(REPORTS);
    let (messenger, resolving) = messenger::Resolver::spawn(
        source.clone(),
        store,
        (Arc::clone(&publish), Arc::clone(&metrics)),
        (
            settings.poll_interval,
            messenger::MessengerBackfill {
                span: settings.messenger_history,
                every: settings.reconcile_interval,
                status: Arc::clone(&live.history),
            },
        ),
    );
    let listener = Listener {
        messenger,
        _resolving: messenger::AbortOnDrop(resolving),
        source,
        live,
        settings,
        publish,
        metrics,
        reports,
        slots: Vec::new(),
        why_not: None,
        pending: None,
        backfill_at: None,
        last_backfill: None,
        backfilled_at: None,
        relisted: None,
        unheard_since: None,
        garbled: crate::throttle::Throttle::new(GARBLED_EVERY),
        topic_rules: None,
    };
    tokio::spawn(
        listener
            .run(received)
            .instrument(tracing::info_span!("live.listener")),
    )
}

/// Reports the slots may queue before they wait for the listener.
const REPORTS: usize = 8_192;

/// Failed connections in a row after which a slot counts as refused.
const REFUSED_AFTER: u32 = 3;

struct Slot {
    topics: watch::Sender<Arc<[String]>>,
    task: tokio::task::JoinHandle<()>,
    connected: bool,
    last_heard: Instant,
    rejected: Vec<TopicAnswer>,
    failures: u32,
    why: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Listener {
    /// Resolves co-browse messages to Co-browse for Messenger facts.
    messenger: messenger::Resolver,
    _resolving: messenger::AbortOnDrop,
    source: Source,
    live: Arc<Live>,
    settings: LiveSettings,
    publish: Publish,
    metrics: Arc<Metrics>,
    reports: mpsc::Sender<ChannelReport>,
    slots: Vec<Slot>,
    /// Why the queues cannot be listened to as a whole (none: they can).
    why_not: Option<String>,
    /// A socket connected at this instant; until a back-fill started after
    /// it succeeds, the index is not served.
    pending: Option<Instant>,
    backfill_at: Option<Instant>,
    last_backfill: Option<Instant>,
    /// The same, as a time of day (for `/readyz`).
    backfilled_at: Option<chrono::DateTime<chrono::Utc>>,
    relisted: Option<Instant>,
    /// Since when some topics have not been heard (a socket lost or not
    /// connected after being so).
    unheard_since: Option<Instant>,
    /// The warnings of notifications that do not read (a flood of them
    /// writes one line per [`GARBLED_EVERY`]).
    garbled: crate::throttle::Throttle,
    /// What the topics require, as Genesys publishes it (none: not read yet).
    topic_rules: Option<Vec<topics::TopicRequirement>>,
}

impl Listener {
    async fn run(mut self, mut received: mpsc::Receiver<ChannelReport>) {
        let mut relist = tokio::time::interval(self.settings.relist_interval);
        let mut poll = tokio::time::interval(self.settings.poll_interval);
        let every = self.settings.reconcile_interval;
        let mut reconcile = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        for interval in [&mut relist, &mut poll, &mut reconcile] {
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            let backfill_at = self.backfill_at;
            tokio::select! {
                _ = relist.tick() => self.relist().await,
                _ = reconcile.tick() => {
                    self.backfill_at.get_or_insert_with(Instant::now);
                }
                report = received.recv() => match report {
                    Some(report) => self.on_report(report).await,
                    None => return,
                },
                _ = poll.tick() => {
                    if self.cannot_listen().is_some() {
                        self.backfill().await;
                    }
                }
                () = sleep_until(backfill_at), if backfill_at.is_some() => self.backfill().await,
            }
            self.update_serving();
        }
    }

    /// Lists the queues and shares their topics out over the slots (and
    /// reads what the topics require, until that has been read once).
    async fn relist(&mut self) {
        if self.topic_rules.is_none() {
            match topics::read(self.source.client()).await {
                Ok(rules) => self.topic_rules = Some(rules),
                Err(e) => {
                    warn!(code = e.code(), error = %e, "cannot read what the notification topics require (GET /api/v2/notifications/availabletopics); trying again at the next relist")
                }
            }
        }
        let (topics, queues) = match topics::wanted(self.source.client()).await {
            Ok(wanted) => wanted,
            Err(why) => {
                self.why_not = Some(why);
                return;
            }
        };
        self.why_not = None;
        if queues == 0 {
            self.why_not = Some("there are no queues to listen to".into());
        }
        let mut chunks: Vec<Arc<[String]>> = topics
            .chunks(MAX_TOPICS_PER_CHANNEL)
            .map(Arc::from)
            .collect();
        if chunks.len() > MAX_CHANNELS_PER_CLIENT {
            self.why_not = Some(format!(
                "{queues} queues need more than {MAX_CHANNELS_PER_CLIENT} channels"
            ));
            chunks.truncate(MAX_CHANNELS_PER_CLIENT);
        }
        self.slots.truncate(chunks.len());
        for (i, chunk) in chunks.into_iter().enumerate() {
            match self.slots.get(i) {
                Some(slot) => {
                    slot.topics.send_replace(chunk);
                }
                None => self.start_slot(i, chunk),
            }
        }
        self.relisted = Some(Instant::now());
        self.metrics
            .live
            .channels
            .set(i64::try_from(self.slots.len()).unwrap_or(i64::MAX));
    }

    fn start_slot(&mut self, i: usize, topics: Arc<[String]>) {
        let (tx, rx) = watch::channel(topics);
        let config = SlotConfig {
            heartbeat_timeout: self.settings.heartbeat_timeout,
            connect_timeout: self.settings.connect_timeout,
        };
        let task = tokio::spawn(
            channel::run(
                i,
                self.source.client().clone(),
                rx,
                self.reports.clone(),
                config,
            )
            .instrument(tracing::info_span!("live.channel", slot = i)),
        );
        self.slots.push(Slot {
            topics: tx,
            task,
            connected: false,
            last_heard: Instant::now(),
            rejected: Vec::new(),
            failures: 0,
            why: None,
        });
    }

    async fn on_report(&mut self, report: ChannelReport) {
        match report {
            ChannelReport::Connected {
                slot,
                topics,
                rejected,
                gap,
            } => {
                let Some(s) = self.slots.get_mut(slot) else {
                    return;
                };
                if !rejected.is_empty() {
                    warn!(slot, rejected = rejected.len(), missing_permissions = ?missing(&rejected), "notification topics were rejected; the active set is polled from analytics until they are permitted");
                }
                info!(slot, topics, gap, "notification channel subscribed");
                s.connected = true;
                s.failures = 0;
                s.why = None;
                s.last_heard = Instant::now();
                s.rejected = rejected;
                let now = Instant::now();
                if gap {
                    self.pending = Some(now);
                }
                self.backfill_at = Some(now);
            }
            ChannelReport::Heard { slot, at, heard } => {
                if let Some(s) = self.slots.get_mut(slot) {
                    s.last_heard = at;
                }
                self.heard(at, heard).await;
            }
            ChannelReport::Lost { slot, why } => {
                warn!(
                    slot,
                    why, "notification socket lost; reconnecting, then back-filling"
                );
                self.metrics
                    .live
                    .notification_gaps
                    .with_label_values(&["lost"])
                    .inc();
                self.unheard_since.get_or_insert_with(Instant::now);
                if let Some(s) = self.slots.get_mut(slot) {
                    s.connected = false;
                    s.why = Some(why);
                }
            }
            ChannelReport::Failed { slot, why } => {
                warn!(slot, why, "cannot connect a notification socket; retrying");
                self.metrics
                    .live
                    .notification_gaps
                    .with_label_values(&["failed"])
                    .inc();
                if let Some(s) = self.slots.get_mut(slot) {
                    s.connected = false;
                    s.failures += 1;
                    s.why = Some(why);
                }
            }
        }
    }

    /// Applies what a socket said.
    async fn heard(&mut self, at: Instant, heard: Heard) {
        let kind = match &heard {
            Heard::Alive => "heartbeat",
            Heard::Cobrowse(_) => "cobrowse",
            Heard::Screenshare(_) => "screenshare",
            Heard::Messages(_) => "messages",
            Heard::Garbled(_) => "garbled",
        };
        self.metrics
            .live
            .notifications_heard
            .with_label_values(&[kind])
            .inc();
        let index = &self.live.index;
        match heard {
            Heard::Alive => {}
            Heard::Cobrowse(view) => {
                index.lease().heard();
                let applied = index.apply_view(Arc::clone(&view), at.into_std());
                self.share(&applied.changed);
                if let Some(id) = applied.changed.first() {
                    self.source.keep_view(id, view).await;
                }
                self.announce(applied).await;
            }
            Heard::Screenshare(body) => {
                index.lease().heard();
                let applied = index.apply_screenshare(&body, at.into_std());
                self.share(&applied.changed);
                self.announce(applied).await;
            }
            Heard::Messages(signals) => {
                index.lease().heard();
                self.messenger.take(signals).await;
            }
            Heard::Garbled(why) => {
                if let Some(unsaid) = self.garbled.admit() {
                    warn!(
                        why,
                        unsaid,
                        "a notification does not read; back-filling so that nothing is lost (at most one such warning per {}s; `unsaid` counts those kept quiet since the last, cobrowse_gateway_notifications_heard_total{{kind=\"garbled\"}} counts every one)",
                        GARBLED_EVERY.as_secs()
                    );
                }
                self.backfill_at = Some(Instant::now());
            }
        }
    }

    /// Publishes what the index holds now of the conversations that
    /// changed, for the other replicas' copies.
    fn share(&self, changed: &[Arc<str>]) {
        if !self.settings.shares_index {
            return;
        }
        for ids in changed.chunks(SHARED_PER_NOTICE) {
            (self.publish)(Notice::Listed(self.live.index.listed(ids)));
        }
    }

    /// Forgets the full forms of what changed, marks kept responses that
    /// read it stale, and tells subscribers.
    async fn announce(&self, applied: index::Applied) {
        if applied.changed.is_empty() {
            return;
        }
        let cache = self.source.cache();
        for id in &applied.changed {
            cache
                .invalidate(self.source.scope(), Kind::Conversation, id)
                .await;
        }
        let mut tags: Vec<crate::changes::Tag> = applied
            .changed
            .iter()
            .filter_map(|id| Kind::Conversation.tag(id))
            .collect();
        // The active set holds what changed (its view or record), so a
        // response that read the set read the change too.
        tags.extend(Kind::ActiveListing.tag(""));
        self.source.changes().record(tags);
        for update in applied.updates {
            (self.publish)(Notice::Session(update));
        }
    }

    /// Reconciles the index with analytics.
    async fn backfill(&mut self) {
        let started = Instant::now();
        self.backfill_at = None;
        let records = match active_records(&self.source, self.settings.lookback, &self.live.index)
            .await
        {
            Ok(records) => records,
            Err(e) => {
                warn!(code = e.code(), error = %e, "cannot back-fill the live index; trying again");
                self.metrics
                    .live
                    .backfills
                    .with_label_values(&["failed"])
                    .inc();
                self.backfill_at = Some(Instant::now() + Duration::from_secs(2));
                return;
            }
        };
        self.live.index.lease().heard();
        let applied =
            self.live
                .index
                .reconcile(records, started.into_std(), self.settings.analytics_lag);
        if self.last_backfill.is_some() && applied.corrections > 0 {
            // Not the first fill: what it set right, events had missed
            // (or a gap hid).
            let cause = if self.pending.is_some() {
                "gap"
            } else {
                "reconcile"
            };
            self.metrics
                .live
                .corrections
                .with_label_values(&[cause])
                .inc_by(applied.corrections as u64);
            info!(
                corrections = applied.corrections,
                cause, "a back-fill set right what events had not said"
            );
        }
        self.share(&applied.changed);
        for id in &applied.changed {
            self.source
                .cache()
                .invalidate(self.source.scope(), Kind::CobrowseConversation, id)
                .await;
        }
        self.announce(applied).await;
        self.metrics.live.backfills.with_label_values(&["ok"]).inc();
        let recovered = self.pending.is_some_and(|p| p <= started);
        if recovered {
            self.pending = None;
            if let Some(since) = self.unheard_since.take() {
                (self.publish)(Notice::Gap(since.elapsed()));
            }
            if !self.settings.analytics_lag.is_zero() {
                // Once analytics has caught up with the gap, once more.
                self.backfill_at = Some(Instant::now() + self.settings.analytics_lag);
            }
        }
        self.last_backfill = Some(started);
        self.backfilled_at = Some(chrono::Utc::now());
    }

    /// Why the index cannot be kept by events now (none: it can).
    fn cannot_listen(&self) -> Option<String> {
        if let Some(why) = &self.why_not {
            return Some(why.clone());
        }
        // Message topics are Co-browse for Messenger's: refused, only its
        // sessions are polled ([`Listener::messenger_polls`]).
        let rejected: Vec<TopicAnswer> = self
            .slots
            .iter()
            .flat_map(|s| &s.rejected)
            .filter(|r| !r.is_messages())
            .cloned()
            .collect();
        if !rejected.is_empty() {
            return Some(format!(
                "{} notification topics were rejected (missing permissions: {})",
                rejected.len(),
                missing(&rejected).join(", ")
            ));
        }
        self.slots
            .iter()
            .find(|s| s.failures >= REFUSED_AFTER)
            .map(|s| {
                format!(
                    "notification sockets are refused: {}",
                    s.why.as_deref().unwrap_or("unknown")
                )
            })
    }

    /// The mode the listener is in, given why it cannot listen (if so).
    fn mode(&self, cannot_listen: Option<&str>) -> &'static str {
        if cannot_listen.is_some() {
            "polling"
        } else if self.relisted.is_some()
            && self.pending.is_none()
            && self.last_backfill.is_some()
            && self.slots.iter().all(|s| s.connected)
        {
            "listening"
        } else if self.last_backfill.is_none() {
            "starting"
        } else {
            "recovering"
        }
    }

    /// Says how the index may be served, leases for what events keep,
    /// and updates the status.
    fn update_serving(&self) {
        let reason = self.cannot_listen();
        let mode = self.mode(reason.as_deref());
        let rejected = self.slots.iter().flat_map(|s| &s.rejected);
        let messenger = messenger::polls(rejected, reason.as_deref());
        self.messenger.poll(messenger.is_some());
        let index = &self.live.index;
        match mode {
            "listening" => {
                let heard = self.slots.iter().map(|s| s.last_heard).min();
                if let Some(heard) = heard {
                    index
                        .lease()
                        .extend((heard + self.settings.heartbeat_timeout).into_std());
                }
                index.serve(Serving::Pushed);
            }
            "polling" => {
                index.lease().revoke();
                index.serve(match self.last_backfill {
                    Some(at) => Serving::PolledUntil((at + self.settings.poll_interval).into_std()),
                    None => Serving::No,
                });
            }
            _ => {
                index.lease().revoke();
                index.serve(Serving::No);
            }
        }
        let mut status = self.live.status.lock().expect("status lock");
        let messenger_mode = if messenger.is_some() { "polling" } else { mode };
        if status.messenger.mode != messenger_mode {
            if let Some(why) = &messenger {
                warn!(why, "Co-browse for Messenger's offers are polled from the conversations the gateway knows");
            }
        }
        if status.mode != mode {
            match (mode, &reason) {
                ("polling", Some(reason)) => warn!(
                    reason,
                    "not listening: the active set is polled from analytics"
                ),
                _ => info!(mode, "live index"),
            }
            show_mode(&self.metrics, mode);
        }
        *status = Status {
            mode,
            reason,
            channels: self.slots.len(),
            topics: self.slots.iter().map(|s| s.topics.borrow().len()).sum(),
            conversations: index.len(),
            last_backfill: self.backfilled_at,
            served: index.serving() != Serving::No,
            messenger: MessengerStatus {
                mode: messenger_mode,
                reason: messenger,
                polled: self.messenger.polled(),
                ..MessengerStatus::default()
            },
            topic_requirements: self.topic_rules.as_deref().map_or_else(Vec::new, |rules| {
                topics::standing(
                    rules,
                    self.slots.iter().flat_map(|s| &s.rejected),
                    self.slots.iter().any(|s| s.connected),
                )
            }),
        };
    }
}

/// The conversations analytics does not call ended now. Which of them are
/// listed (the rule of [`crate::purecloud::going_on`], by their sessions'
/// segments) the index decides as it reconciles, from the marks it builds
/// of each record anyway. The details query sees only conversations that
/// started within `lookback`; those the index lists that it did not answer
/// (a call that went on for days) are read by id, so that a long
/// conversation is not taken off for its age.
async fn active_records(
    source: &Source,
    lookback: Duration,
    index: &index::Index,
) -> Result<Vec<Arc<AnalyticsConversation>>, crate::upstream::UpstreamError> {
    let query = crate::purecloud::queries::active(chrono::Utc::now(), lookback);
    let client = source.client();
    let mut records = client
        .details_all_pages(&Credential::Service, &query)
        .await?
        .value;
    let answered: std::collections::HashSet<&str> = records
        .iter()
        .filter_map(|r| r.conversation_id.as_deref())
        .collect();
    let unanswered: Vec<Arc<str>> = index
        .ids()
        .into_iter()
        .filter(|id| !answered.contains(&**id))
        .collect();
    for chunk in unanswered.chunks(crate::upstream::BULK_PAGE_SIZE) {
        let ids: Vec<&str> = chunk.iter().map(|id| &**id).collect();
        let found = client.details_by_ids(&Credential::Service, &ids).await?;
        records.extend(found.value);
    }
    Ok(records
        .into_iter()
        .filter(|r| r.conversation_end.is_none())
        .map(Arc::new)
        .collect())
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

/// Sets the mode gauges: 1 for `mode`, 0 for the others.
fn show_mode(metrics: &Metrics, mode: &str) {
    for m in ["listening", "polling", "recovering", "starting"] {
        metrics
            .live
            .mode
            .with_label_values(&[m])
            .set(i64::from(m == mode));
    }
}

/// How often a notification that does not read is warned of at most.
const GARBLED_EVERY: Duration = Duration::from_secs(10);

/// Conversations per [`Notice::Listed`] (a back-fill may change many).
const SHARED_PER_NOTICE: usize = 100;

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
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
