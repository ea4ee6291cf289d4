//! The listener: the one task that holds the channels' slots, hears their
//! reports (events, heartbeats, closes, rejected topics), applies events to
//! the index, back-fills after every gap, relists the queues, and falls back
//! to polling analytics while notifications cannot be had.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn, Instrument as _};

use super::channel::{self, ChannelReport, Heard, SlotConfig};
use super::{index, messenger, missing, topics};
use super::{Live, LiveSettings, MessengerStatus, Notice, Publish, Serving, Status};
use crate::cache::Kind;
use crate::metrics::Metrics;
use crate::source::Source;
use crate::upstream::analytics::AnalyticsConversation;
use crate::upstream::notifications::{
    TopicAnswer, MAX_CHANNELS_PER_CLIENT, MAX_TOPICS_PER_CHANNEL,
};
use crate::upstream::Credential;

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
pub(super) const REPORTS: usize = 8_192;

/// Failed connections in a row after which a slot counts as refused.
pub(super) const REFUSED_AFTER: u32 = 3;

pub(super) struct Slot {
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

pub(super) struct Listener {
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
pub(super) async fn active_records(
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

/// Sets the mode gauges: 1 for `mode`, 0 for the others.
pub(super) fn show_mode(metrics: &Metrics, mode: &str) {
    for m in ["listening", "polling", "recovering", "starting"] {
        metrics
            .live
            .mode
            .with_label_values(&[m])
            .set(i64::from(m == mode));
    }
}

/// How often a notification that does not read is warned of at most.
pub(super) const GARBLED_EVERY: Duration = Duration::from_secs(10);

/// Conversations per [`Notice::Listed`] (a back-fill may change many).
pub(super) const SHARED_PER_NOTICE: usize = 100;

pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
