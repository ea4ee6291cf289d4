//! Co-browse for Messenger as the listener hears it: the message topics
//! say which messages of a conversation carry co-browse events (no session
//! id there); one read of the bulk messages route per conversation and
//! burst of such events names their sessions; the facts they state are
//! stored (each once) and told to subscribers. A conversation whose agent
//! leg ended ends its sessions that go on, unless the page said so first
//! (`Source::Conversation`: an inference, shown as one).
//!
//! The assumption that the topics' `messageMetadata.events` are filled in
//! at runtime is this module's alone (docs/upstream.md, "unverified"): when
//! it does not hold, no co-browse message is ever marked, and the polling
//! fallback over known conversations ([`Resolver::poll`]) reads the same
//! messages from `GET /api/v2/conversations/messages/{id}`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::Utc;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tracing::warn;

use super::{Notice, Publish};
use crate::messenger::signals::{facts_of, Signals};
use crate::messenger::{Fact, Phase, Source as FactSource, What};
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

/// Conversations read at once.
const READS_AT_ONCE: usize = 4;

/// The most sessions of one conversation looked at for an end.
const SESSIONS_PER_CONVERSATION: usize = 50;

/// Hands signals to the resolver's task.
#[derive(Clone)]
pub(crate) struct Resolver {
    tx: mpsc::Sender<Signals>,
}

impl Resolver {
    /// Starts the resolver's task.
    pub(crate) fn spawn(
        source: Source,
        store: Arc<dyn EventStore>,
        publish: Publish,
        metrics: Arc<Metrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUED);
        let worker = Worker {
            source,
            store,
            publish,
            metrics,
            seen: Seen::default(),
            ended: Seen::default(),
        };
        (Self { tx }, tokio::spawn(worker.run(rx)))
    }

    /// Takes what a topic event said (waits while the resolver is behind:
    /// the listener's own queue bounds the wait).
    pub(crate) async fn take(&self, signals: Signals) {
        let _ = self.tx.send(signals).await;
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
}

/// One conversation's share of a burst: its latest signals and the
/// messages not read yet.
struct Burst {
    signals: Signals,
    unread: Vec<String>,
}

struct Worker {
    source: Source,
    store: Arc<dyn EventStore>,
    publish: Publish,
    metrics: Arc<Metrics>,
    seen: Seen,
    /// Conversations whose agent leg's end was applied.
    ended: Seen,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Signals>) {
        while let Some(first) = rx.recv().await {
            // A burst: everything queued now, grouped by conversation.
            let mut bursts: HashMap<String, Burst> = HashMap::new();
            let mut next = Some(first);
            while let Some(signals) = next.take().or_else(|| rx.try_recv().ok()) {
                self.gather(&mut bursts, signals);
            }
            let bursts: Vec<Burst> = bursts.into_values().collect();
            let read: Vec<(Burst, Result<Vec<Fact>, String>)> =
                futures::stream::iter(bursts.into_iter().map(|b| self.read(b)))
                    .buffer_unordered(READS_AT_ONCE)
                    .collect()
                    .await;
            for (burst, facts) in read {
                match facts {
                    Ok(facts) => {
                        let mut kept = true;
                        for fact in facts {
                            kept &= self.keep(&fact).await;
                        }
                        if !kept {
                            for id in &burst.unread {
                                self.seen.remove(id);
                            }
                        }
                    }
                    Err(why) => {
                        // Read again when the next event repeats them.
                        for id in &burst.unread {
                            self.seen.remove(id);
                        }
                        warn!(conversation = %burst.signals.conversation_id, error = %why, "cannot read the co-browse messages of a conversation; reading them again at its next event");
                    }
                }
                if burst.signals.agent_left {
                    self.agent_left(&burst.signals).await;
                }
            }
        }
    }

    fn gather(&mut self, bursts: &mut HashMap<String, Burst>, signals: Signals) {
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
        keep(&*self.store, &self.publish, &self.metrics, fact, source).await
    }

    /// The agent's leg of a conversation ended: its sessions that go on
    /// end then, as far as the gateway can tell.
    async fn agent_left(&mut self, signals: &Signals) {
        if !self.ended.insert(&signals.conversation_id) {
            return;
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
                return;
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
            }
        }
    }
}

/// Stores `fact`, counts it, and tells this process's subscribers when it
/// was new and the store has no feed to tell them (a shared store tells
/// every replica itself).
pub(crate) async fn keep(
    store: &dyn EventStore,
    publish: &Publish,
    metrics: &Metrics,
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
            if told.is_some() && !appended.fed {
                publish(Notice::Messenger(fact.change()));
            }
            true
        }
        Err(e) => {
            warn!(session = %fact.session_id, error = %e, "cannot store a co-browse fact; it is read again from its source");
            false
        }
    }
}
