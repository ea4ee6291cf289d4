//! Co-browse for Messenger as the listener hears it: the message topics
//! say which messages of a conversation carry co-browse events (no session
//! id there); one read of the bulk messages route per conversation and
//! burst of such events names their sessions; the facts they state are
//! stored (each once) and told to subscribers. A conversation whose agent
//! leg ended ends its sessions that go on, unless the page said so first
//! (`FactSource::Conversation`: an inference, shown as one).
//!
//! The assumption that the topics' `messageMetadata.events` are filled in
//! at runtime is this module's alone (docs/upstream.md, "unverified"): the
//! polling fallback reads the same metadata from
//! `GET /api/v2/conversations/messages/{id}` of every conversation the
//! gateway knows, when the message topics are refused
//! ([`Resolver::poll`]). What the listener never heard (before it started,
//! or while it was away) the back-fill of [`history`] reads the same way,
//! from the messaging conversations analytics reports.

mod history;

pub(crate) use history::{HistoryStatus, MessengerBackfill};

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use tokio::sync::{mpsc, watch};
use tracing::{warn, Instrument as _};

use super::{Notice, Publish};
use crate::messenger::signals::{facts_of, Signals};
use crate::messenger::{Fact, FactSource, Phase, What};
use crate::metrics::Metrics;
use crate::source::Source;
use crate::store::EventStore;
use crate::upstream::messages::BULK_MESSAGES;
use crate::upstream::Credential;

/// Signals the listener may queue before it waits for the resolver.
const QUEUED: usize = 4_096;

/// Message ids remembered as read (a topic event repeats every message
/// of its conversation).
const SEEN: usize = 200_000;

/// How long a burst gathers after its first event: the messages of one
/// conversation told within it are read with one bulk read.
const GATHER: Duration = Duration::from_millis(50);

/// The most events one burst gathers.
const BURST: usize = 4_096;

/// Conversations read at once.
const READS_AT_ONCE: usize = 4;

/// The most sessions of one conversation looked at for an end.
const SESSIONS_PER_CONVERSATION: usize = 50;

/// The most conversations one poll reads.
const POLLED: usize = 1_000;

/// Hands signals to the resolver's task.
#[derive(Clone)]
pub(crate) struct Resolver {
    tx: mpsc::Sender<Signals>,
    polling: Arc<watch::Sender<bool>>,
    polled: Arc<AtomicUsize>,
}

impl Resolver {
    /// Starts the resolver's task; when told to poll, it reads the
    /// conversations it knows every `interval`; it back-fills `history`.
    pub(crate) fn spawn(
        source: Source,
        store: Arc<dyn EventStore>,
        (publish, metrics): (Publish, Arc<Metrics>),
        (interval, history): (Duration, MessengerBackfill),
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUED);
        let (polling, poll_rx) = watch::channel(false);
        let polled = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            history: history::Backfill::new(history),
            source,
            store,
            publish,
            metrics,
            seen: Seen::default(),
            ended: Seen::default(),
            known: Seen::default(),
            polled: Arc::clone(&polled),
        };
        let resolver = Self {
            tx,
            polling: Arc::new(polling),
            polled,
        };
        let task = worker
            .run(rx, poll_rx, interval)
            .instrument(tracing::info_span!("live.messenger"));
        (resolver, tokio::spawn(task))
    }

    /// Takes what a topic event said (waits while the resolver is behind:
    /// the listener's own queue bounds the wait).
    pub(crate) async fn take(&self, signals: Signals) {
        let _ = self.tx.send(signals).await;
    }

    /// Polls (the message topics are refused, or nothing can be heard) or
    /// not.
    pub(crate) fn poll(&self, on: bool) {
        self.polling
            .send_if_modified(|was| std::mem::replace(was, on) != on);
    }

    /// How many conversations the last poll read.
    pub(crate) fn polled(&self) -> usize {
        self.polled.load(Ordering::Relaxed)
    }
}

/// A bounded set of ids, the oldest forgotten first.
#[derive(Default)]
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// Adds `id`; false when it was there.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= SEEN {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }

    fn remove(&mut self, id: &str) {
        self.set.remove(id);
    }

    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// The ids held, newest last.
    fn ids(&self) -> impl Iterator<Item = &String> {
        self.order.iter().filter(|id| self.set.contains(*id))
    }
}

/// One conversation's share of a burst: its latest signals and the
/// messages not read yet.
struct Burst {
    signals: Signals,
    unread: Vec<String>,
}

struct Worker {
    history: history::Backfill,
    source: Source,
    store: Arc<dyn EventStore>,
    publish: Publish,
    metrics: Arc<Metrics>,
    seen: Seen,
    /// Conversations whose agent leg's end was applied.
    ended: Seen,
    /// Messaging conversations heard of (what a poll reads, besides the
    /// conversations of sessions not over).
    known: Seen,
    polled: Arc<AtomicUsize>,
}

impl Worker {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Signals>,
        mut polling: watch::Receiver<bool>,
        interval: Duration,
    ) {
        let mut next_poll = tokio::time::Instant::now();
        let mut next_sweep = tokio::time::Instant::now() + interval;
        let mut next_history = tokio::time::Instant::now();
        loop {
            let poll = *polling.borrow_and_update();
            tokio::select! {
                first = rx.recv() => {
                    let Some(first) = first else { return };
                    // A burst: what comes within GATHER of its first event,
                    // grouped by conversation.
                    let mut bursts: HashMap<String, Burst> = HashMap::new();
                    self.gather(&mut bursts, first);
                    let window = tokio::time::Instant::now() + GATHER;
                    for _ in 1..BURST {
                        match tokio::time::timeout_at(window, rx.recv()).await {
                            Ok(Some(signals)) => self.gather(&mut bursts, signals),
                            Ok(None) | Err(_) => break,
                        }
                    }
                    self.resolve(bursts).await;
                }
                () = tokio::time::sleep_until(next_poll), if poll => {
                    let bursts = self.poll().await;
                    self.resolve(bursts).await;
                    next_poll = tokio::time::Instant::now() + interval;
                }
                () = tokio::time::sleep_until(next_sweep) => {
                    self.sweep().await;
                    next_sweep = tokio::time::Instant::now() + interval;
                }
                () = tokio::time::sleep_until(next_history), if self.history.on() => {
                    // A chunk at a time: what the topics tell goes between.
                    let more = self.backfill().await;
                    next_history = tokio::time::Instant::now()
                        + if more { Duration::ZERO } else { self.history.every() };
                }
                changed = polling.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    next_poll = tokio::time::Instant::now();
                }
            }
        }
    }

    /// Reads every conversation the gateway knows (those heard of, and
    /// those of sessions not over): their signals, as bursts.
    async fn poll(&mut self) -> HashMap<String, Burst> {
        let mut ids: Vec<String> = self.known.ids().cloned().collect();
        let going_on = crate::store::StoredSessionFilter {
            ended: Some(false),
            ..crate::store::StoredSessionFilter::default()
        };
        let window = crate::store::Window {
            limit: POLLED,
            ..crate::store::Window::default()
        };
        match self.store.messenger_sessions(&going_on, &window).await {
            Ok(sessions) => ids.extend(sessions.into_iter().map(|s| s.conversation_id)),
            Err(e) => {
                warn!(error = %e, "cannot list the co-browse sessions going on to poll their conversations")
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| !self.ended.contains(id));
        ids.truncate(POLLED);
        self.polled.store(ids.len(), Ordering::Relaxed);
        self.read_conversations(ids).await
    }

    /// Reads each conversation's messages (their metadata, not their
    /// text): their signals, as bursts.
    async fn read_conversations(&mut self, ids: Vec<String>) -> HashMap<String, Burst> {
        let read = self
            .each(ids, |client, id| async move {
                client.message_conversation(&Credential::Service, &id).await
            })
            .await;
        let mut bursts = HashMap::new();
        for (id, answer) in read {
            match answer {
                Ok(conversation) => {
                    if let Some(signals) = Signals::of(&conversation.value) {
                        self.gather(&mut bursts, signals);
                    }
                }
                // Not a messaging conversation (a voice call): nothing to read.
                Err(crate::upstream::UpstreamError::NotFound { .. }) => {
                    self.known.remove(&id);
                }
                Err(e) => {
                    warn!(conversation = %id, error = %e, "cannot poll a messaging conversation")
                }
            }
        }
        bursts
    }

    /// `call` of each id, [`READS_AT_ONCE`] at a time: each id with its
    /// answer.
    async fn each<T, F>(
        &self,
        ids: Vec<String>,
        call: impl Fn(crate::upstream::PureCloud, String) -> F,
    ) -> Vec<(String, T)>
    where
        F: std::future::Future<Output = T>,
    {
        futures::stream::iter(ids.into_iter().map(|id| {
            let answer = call(self.source.client().clone(), id.clone());
            async move { (id, answer.await) }
        }))
        .buffer_unordered(READS_AT_ONCE)
        .collect()
        .await
    }

    /// Voice leaves no message, and voice conversations are on no topic the
    /// gateway hears: the conversations of voice sessions going on are read
    /// (`GET /api/v2/conversations/{id}`) to learn when their agent leg
    /// ended.
    async fn sweep(&mut self) {
        let going_on = crate::store::StoredSessionFilter {
            ended: Some(false),
            offered: Some(false),
            ..crate::store::StoredSessionFilter::default()
        };
        let window = crate::store::Window {
            limit: POLLED,
            ..crate::store::Window::default()
        };
        let sessions = match self.store.messenger_sessions(&going_on, &window).await {
            Ok(sessions) => sessions,
            Err(e) => {
                warn!(error = %e, "cannot list the voice co-browse sessions going on");
                return;
            }
        };
        let mut calls: Vec<String> = sessions
            .into_iter()
            .filter(|s| s.channel == Some(crate::messenger::MessengerChannel::Voice))
            .map(|s| s.conversation_id)
            .filter(|id| !self.ended.contains(id))
            .collect();
        calls.sort_unstable();
        calls.dedup();
        let read = self
            .each(calls, |client, id| async move {
                client.conversation(&Credential::Service, &id).await
            })
            .await;
        for (id, answer) in read {
            match answer {
                Ok(conversation) => {
                    let signals = Signals::of_call(&id, &conversation.value);
                    if signals.agent_left {
                        self.agent_left(&signals).await;
                    }
                }
                Err(e) => {
                    warn!(conversation = %id, error = %e, "cannot read a voice conversation to learn whether its agent left")
                }
            }
        }
    }

    /// Reads the unread co-browse messages of each burst, stores what they
    /// state, and ends the sessions of conversations whose agent left
    /// (noting them read to their end once everything of them is kept).
    async fn resolve(&mut self, bursts: HashMap<String, Burst>) {
        let bursts: Vec<Burst> = bursts.into_values().collect();
        let read: Vec<(Burst, Result<Vec<Fact>, String>)> =
            futures::stream::iter(bursts.into_iter().map(|b| self.read(b)))
                .buffer_unordered(READS_AT_ONCE)
                .collect()
                .await;
        for (burst, facts) in read {
            let mut kept = true;
            match facts {
                Ok(facts) => {
                    for fact in facts {
                        kept &= self.keep(&fact).await;
                    }
                }
                Err(why) => {
                    kept = false;
                    warn!(conversation = %burst.signals.conversation_id, error = %why, "cannot read the co-browse messages of a conversation; reading them again at its next event");
                }
            }
            if !kept {
                // Read again when the next event repeats them.
                for id in &burst.unread {
                    self.seen.remove(id);
                }
            }
            if burst.signals.agent_left
                && self.agent_left(&burst.signals).await == Some(true)
                && kept
            {
                self.note_read(&burst.signals).await;
            }
        }
    }

    /// Notes a conversation whose agent left as read to its end: the
    /// back-fill leaves it alone.
    async fn note_read(&self, signals: &Signals) {
        let at = signals.agent_end.unwrap_or_else(Utc::now);
        if let Err(e) = self
            .store
            .mark_messenger_read(&signals.conversation_id, at)
            .await
        {
            warn!(conversation = %signals.conversation_id, error = %e, "cannot note a messaging conversation as read; the back-fill reads it again");
        }
    }

    fn gather(&mut self, bursts: &mut HashMap<String, Burst>, signals: Signals) {
        if signals.agent_left {
            self.known.remove(&signals.conversation_id);
        } else {
            self.known.insert(&signals.conversation_id);
        }
        let unread: Vec<String> = signals
            .marked
            .iter()
            .filter(|m| self.seen.insert(&m.message_id))
            .map(|m| m.message_id.clone())
            .collect();
        match bursts.get_mut(&signals.conversation_id) {
            Some(burst) => {
                burst.unread.extend(unread);
                burst.signals = signals;
            }
            None => {
                bursts.insert(signals.conversation_id.clone(), Burst { signals, unread });
            }
        }
    }

    /// The facts of a burst's unread messages: one bulk read per 1,000.
    async fn read(&self, burst: Burst) -> (Burst, Result<Vec<Fact>, String>) {
        let mut facts = Vec::new();
        let client = self.source.client();
        for chunk in burst.unread.chunks(BULK_MESSAGES) {
            let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let conversation = &burst.signals.conversation_id;
            match client
                .messages_bulk(&Credential::Service, conversation, &ids)
                .await
            {
                Ok(listing) => {
                    self.metrics
                        .live
                        .messenger_reads
                        .with_label_values(&["ok"])
                        .inc();
                    for message in &listing.value.entities {
                        facts.extend(facts_of(&burst.signals, message));
                    }
                }
                Err(e) => {
                    self.metrics
                        .live
                        .messenger_reads
                        .with_label_values(&["failed"])
                        .inc();
                    return (burst, Err(e.to_string()));
                }
            }
        }
        (burst, Ok(facts))
    }

    /// Stores `fact` and tells subscribers when it was new; false when it
    /// could not be stored.
    async fn keep(&self, fact: &Fact) -> bool {
        let source = match &fact.what {
            What::Offered { source, .. } | What::Started { source } | What::Ended { source } => {
                *source
            }
            What::Answered { .. } => FactSource::Messages,
        };
        let told = (&self.source, &self.publish, &*self.metrics);
        keep(&*self.store, told, fact, source).await
    }

    /// The agent's leg of a conversation ended: its sessions that go on
    /// end then, as far as the gateway can tell. Whether every end was
    /// kept (none: it was applied before).
    async fn agent_left(&mut self, signals: &Signals) -> Option<bool> {
        if !self.ended.insert(&signals.conversation_id) {
            return None;
        }
        let sessions = match self
            .store
            .messenger_of_conversation(&signals.conversation_id, SESSIONS_PER_CONVERSATION)
            .await
        {
            Ok(sessions) => sessions,
            Err(e) => {
                self.ended.remove(&signals.conversation_id);
                warn!(conversation = %signals.conversation_id, error = %e, "cannot read a conversation's co-browse sessions to end them; trying again at its next event");
                return Some(false);
            }
        };
        let at = signals.agent_end.unwrap_or_else(Utc::now);
        for session in sessions {
            if session.phase(at) != Phase::Active {
                continue;
            }
            let fact = Fact {
                key: format!("leg:{}", session.id),
                session_id: session.id.clone(),
                conversation_id: session.conversation_id.clone(),
                at,
                what: What::Ended {
                    source: FactSource::Conversation,
                },
            };
            if !self.keep(&fact).await {
                self.ended.remove(&signals.conversation_id);
                return Some(false);
            }
        }
        Some(true)
    }
}

/// Stores `fact`, counts it, notes the session in the active set when it
/// changed, and tells this process's subscribers of the change when the
/// store has no feed to tell them (a shared store tells every replica
/// itself).
pub(crate) async fn keep(
    store: &dyn EventStore,
    (data, publish, metrics): (&Source, &Publish, &Metrics),
    fact: &Fact,
    source: FactSource,
) -> bool {
    let label = match source {
        FactSource::Messages => "messages",
        FactSource::Gateway => "gateway",
        FactSource::Page => "page",
        FactSource::Conversation => "conversation",
    };
    match store.append_messenger(fact).await {
        Ok((appended, told)) => {
            let outcome = if appended.inserted { "stored" } else { "known" };
            metrics
                .live
                .messenger_facts
                .with_label_values(&[label, outcome])
                .inc();
            if let Some(session) = &told {
                data.note_messenger(session);
                if !appended.fed {
                    publish(Notice::Messenger(fact.change(session)));
                }
            }
            true
        }
        Err(e) => {
            warn!(session = %fact.session_id, error = %e, "cannot store a co-browse fact; it is read again from its source");
            false
        }
    }
}

/// How Co-browse for Messenger's offers and outcomes reach the gateway.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct MessengerStatus {
    /// The listener's mode, or `polling` when the message topics are
    /// refused: each conversation the gateway knows is read every
    /// `notifications.poll_interval`.
    pub mode: &'static str,
    /// Why they are polled.
    pub reason: Option<String>,
    /// How many conversations the last poll read.
    pub polled: usize,
    /// How far back the back-fill from analytics has read.
    pub history: HistoryStatus,
}

/// Stops a task when dropped (the resolver stops with its listener).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why Co-browse for Messenger's offers and outcomes are polled rather
/// than heard (none: they are heard): some message topics were `rejected`,
/// or the listener `cannot_listen` at all.
pub(crate) fn polls<'a>(
    rejected: impl Iterator<Item = &'a crate::upstream::notifications::TopicAnswer>,
    cannot_listen: Option<&str>,
) -> Option<String> {
    let rejected: Vec<_> = rejected.filter(|r| r.is_messages()).cloned().collect();
    if !rejected.is_empty() {
        return Some(format!(
            "{} message topics were rejected (missing permissions: {})",
            rejected.len(),
            super::missing(&rejected).join(", ")
        ));
    }
    cannot_listen.map(str::to_owned)
}
