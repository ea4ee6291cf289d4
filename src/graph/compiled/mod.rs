//! The compiled path: a query document the general engine has answered
//! once is compiled into a [`Plan`] (per document and operation, kept in a
//! bounded cache), and from then on answered by walking the domain data and
//! writing the JSON response directly, with no per-field futures, values
//! or maps.
//!
//! It answers only what it can answer exactly as the general engine would:
//! the dashboard's types (the active listing, conversations, participants,
//! their users, queues, co-browse communications and segments, PureCloud
//! sessions), from data that is cached and fresh. It reads the same cache
//! entries the engine's resolvers read (so the response's freshness, tags
//! and `Cache-Control` are the same), never calls upstream, and never
//! answers with an error: a miss, an expired entry, a field it does not
//! cover, a caller without the `read` scope all leave the request to the
//! general engine, which fetches, reports and validates as ever.
//!
//! `server.compiled_queries = verify` runs both for every request a plan
//! exists for and compares the bytes (`tests/api/compiled.rs` runs every
//! test gateway that way).

mod object_bytes;
mod plan;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::cache::{CacheVersion, ReadFreshness, Scope};
use crate::purecloud::ActiveListing;
use crate::purecloud::Model;
use crate::purecloud::{Inputs, Shapes};
use crate::source::Source;
use crate::upstream::model;
pub(crate) use plan::Plan;

use super::query::{in_order, ListingCursor};
use super::shape;

/// The most documents whose plan (or refusal) is kept.
const MAX_PLANS: u64 = 1_024;

/// What a document compiled to.
pub(crate) enum Compiled {
    Plan(Plan),
    /// The plan does not cover it.
    Declined,
}

/// Plans by document, bounded.
pub(crate) struct Plans {
    plans: moka::sync::Cache<[u8; 32], Arc<Compiled>>,
    max_page_size: usize,
    memo: Mutex<Option<Memo>>,
}

/// What the last active listing read was sorted into, and the
/// conversations built for its page from cached inputs: a warm read finds
/// both here instead of sorting and building (looking up the built models)
/// again. The same data either way: a model is a function of its inputs,
/// which are compared by identity. One listing at a time; forgotten when
/// another is read.
struct Memo {
    listing: Arc<ActiveListing>,
    sorted: Arc<[(ListingCursor, Model)]>,
    built: HashMap<Arc<str>, (Inputs, Model)>,
}

impl Plans {
    /// An empty cache; pages are at most `max_page_size`.
    pub(crate) fn new(max_page_size: usize) -> Self {
        Self {
            plans: moka::sync::Cache::new(MAX_PLANS),
            max_page_size,
            memo: Mutex::new(None),
        }
    }

    /// The key of operation `operation` of document `query`.
    pub(crate) fn key(query: &str, operation: Option<&str>) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(query.as_bytes());
        hash.update([0]);
        hash.update(operation.unwrap_or_default().as_bytes());
        hash.finalize().into()
    }

    /// What the document under `key` compiled to, if it was compiled.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<Compiled>> {
        self.plans.get(key)
    }

    /// Compiles a document the general engine answered without a request
    /// error (so it parsed and validated), and keeps what it compiled to.
    pub(crate) fn learn(
        &self,
        key: [u8; 32],
        query: &str,
        operation: Option<&str>,
    ) -> Arc<Compiled> {
        let compiled = match async_graphql::parser::parse_query(query) {
            Ok(document) => match plan::compile(&document, operation) {
                Ok(plan) => Compiled::Plan(plan),
                Err(why) => {
                    tracing::debug!(why, "a query the compiled path does not cover");
                    Compiled::Declined
                }
            },
            Err(_) => Compiled::Declined,
        };
        let compiled = Arc::new(compiled);
        self.plans.insert(key, Arc::clone(&compiled));
        compiled
    }

    /// The response body of `plan`, from cached data, with the number of
    /// cache reads it took; `None` when it cannot answer from the cache
    /// alone. Runs in the request's freshness scope.
    pub(crate) async fn run(&self, plan: &Plan, source: &Source) -> Option<(Vec<u8>, u64)> {
        let (gathered, reads) = self.gather(plan, source).await?;
        let data = &gathered.data;
        Some((write::response(plan, data), reads + data.reads))
    }
}

/// What a plan's response is written from.
struct PlanData {
    total: usize,
    nodes: Vec<Arc<crate::purecloud::ConversationModel>>,
    users: Vec<(Arc<str>, Arc<model::User>)>,
    queues: Vec<(Arc<str>, Arc<model::Queue>)>,
    /// Each node's participants' user and queue records (what its kept
    /// bytes are compared by).
    records: Vec<object_bytes::Records>,
    reads: u64,
}

/// The data a plan last read for a listing, and what says whether the same
/// reads would read it now: the same scope, the same listing, the cache's
/// [`CacheVersion`] unchanged since before they read, and what they read still
/// fresh ([`crate::cache::Cache::note_again`]). Then the plan writes from it
/// instead of reading the cache again, noting in the response what the
/// reads would.
pub(crate) struct LastListingRead {
    scope: Scope,
    listing: Arc<ActiveListing>,
    version: CacheVersion,
    noted: ReadFreshness,
    data: PlanData,
}

impl Plans {
    /// What the general engine's `activeCobrowseConversations` and its
    /// prefetch read for the same selection, from the cache only: read
    /// now, or the plan's last read when the same reads would read the
    /// same. With the number of reads of the listing.
    async fn gather(&self, plan: &Plan, source: &Source) -> Option<(Arc<LastListingRead>, u64)> {
        // Co-browse for Messenger's conversations are read beside the
        // listing by the engine only (for now).
        if !source.messenger_active().is_empty() {
            return None;
        }
        let (listing, reads) = source.peek_active_listing().await?;
        if listing.cut {
            // The engine answers it, with the error that says so.
            return None;
        }
        let cache = source.cache();
        // Before the reads: a change while they read makes it old.
        let version = cache.version();
        let last = plan.gathered.lock().expect("gathered lock").clone();
        if let Some(last) = last {
            if last.version == version
                && last.scope == source.scope()
                && Arc::ptr_eq(&last.listing, &listing)
                && cache.note_again(&last.noted)
            {
                return Some((last, reads));
            }
        }
        let mut noted = ReadFreshness::default();
        let data = self.read(plan, source, &listing, &mut noted).await?;
        if !cache.note_again(&noted) {
            return None;
        }
        let gathered = Arc::new(LastListingRead {
            scope: source.scope(),
            listing,
            version,
            noted,
            data,
        });
        *plan.gathered.lock().expect("gathered lock") = Some(Arc::clone(&gathered));
        Some((gathered, reads))
    }

    /// Reads the page of `listing` and what the selection needs of it,
    /// noting in `noted` what the reads would note in the response.
    async fn read(
        &self,
        plan: &Plan,
        source: &Source,
        listing: &Arc<ActiveListing>,
        noted: &mut ReadFreshness,
    ) -> Option<PlanData> {
        let page = super::paging::Page::<ListingCursor>::checked(
            self.max_page_size,
            plan.first,
            None,
            plan.last,
            None,
        )
        .ok()?;
        let mut reads = 0;
        let sorted = self.sorted(source, Arc::clone(listing));
        let (start, end) = page.window(&sorted);
        let page = &sorted[start..end];
        let held = page.first().map_or(Shapes::NONE, |(_, n)| n.shapes());
        // The engine fetches for the whole page what its first conversation
        // lacks, then each field what its own conversation still lacks: the
        // same only when every conversation holds the same shapes (a live
        // index may list some by their view and some by their analytics
        // record), and none is the final record of an ended one (which
        // serves some participant fields itself).
        if page
            .iter()
            .any(|(_, node)| node.shapes() != held || node.final_record())
        {
            return None;
        }
        let needs = shape::conversation_named(
            &plan.conversation_names,
            plan.participant_names.as_deref(),
            held,
        );
        let mut nodes = Vec::with_capacity(page.len());
        let mut peeked = Vec::new();
        for (i, (_, node)) in page.iter().enumerate() {
            nodes.push(Arc::clone(node));
            if needs == Shapes::NONE {
                continue;
            }
            if let Some((inputs, read)) = source.peek_inputs(needs, node, noted).await? {
                reads += read;
                peeked.push((i, inputs));
            }
        }
        self.build(source, &mut nodes, peeked);
        let users = directory::<model::User>(
            source,
            &nodes,
            shape::user_data_named(&plan.user_names),
            |p| &p.user_id,
            noted,
        )
        .await?;
        let queues = directory::<model::Queue>(
            source,
            &nodes,
            shape::queue_data_named(&plan.queue_names),
            |p| &p.queue_id,
            noted,
        )
        .await?;
        reads += (users.len() + queues.len()) as u64;
        let records = nodes
            .iter()
            .map(|node| write::records_of(node, &users, &queues))
            .collect();
        Some(PlanData {
            total: sorted.len(),
            nodes,
            users,
            queues,
            records,
            reads,
        })
    }

    /// The conversations of `listing` in cursor order (as the engine's
    /// `in_order`), sorted once per listing.
    fn sorted(
        &self,
        source: &Source,
        listing: Arc<ActiveListing>,
    ) -> Arc<[(ListingCursor, Model)]> {
        let mut memo = self.memo.lock().expect("memo lock");
        match &*memo {
            Some(kept) if Arc::ptr_eq(&kept.listing, &listing) => Arc::clone(&kept.sorted),
            _ => {
                let sorted: Arc<[_]> = in_order(source, &listing).into();
                *memo = Some(Memo {
                    listing,
                    sorted: Arc::clone(&sorted),
                    built: HashMap::new(),
                });
                sorted
            }
        }
    }

    /// Puts in `nodes` the conversation each of `peeked` (an index in
    /// `nodes` and its inputs) is built from them: kept, or built now.
    fn build(&self, source: &Source, nodes: &mut [Model], peeked: Vec<(usize, Inputs)>) {
        let mut missing = Vec::new();
        {
            let memo = self.memo.lock().expect("memo lock");
            let built = memo.as_ref().map(|m| &m.built);
            for (i, inputs) in peeked {
                match built.and_then(|b| b.get(&nodes[i].id)) {
                    Some((kept, model)) if kept.same(&inputs) => nodes[i] = Arc::clone(model),
                    _ => missing.push((i, inputs)),
                }
            }
        }
        if missing.is_empty() {
            return;
        }
        let mut made = Vec::with_capacity(missing.len());
        for (i, inputs) in missing {
            let model = source.model_of(&nodes[i].id, inputs.clone());
            made.push((Arc::clone(&nodes[i].id), inputs, Arc::clone(&model)));
            nodes[i] = model;
        }
        if let Some(memo) = self.memo.lock().expect("memo lock").as_mut() {
            // Bounded by the listing: at most one entry per conversation.
            if memo.built.len() + made.len() <= memo.sorted.len() * 2 + 16 {
                for (id, inputs, model) in made {
                    memo.built.insert(id, (inputs, model));
                }
            }
        }
    }
}

/// The users (or queues) the participants of `nodes` name, sorted by id,
/// when `wanted`: each read from the cache once.
async fn directory<T: crate::cache::Cacheable>(
    source: &Source,
    nodes: &[Arc<crate::purecloud::ConversationModel>],
    wanted: bool,
    id: impl Fn(&crate::purecloud::ParticipantModel) -> &Option<Arc<str>>,
    noted: &mut ReadFreshness,
) -> Option<Vec<(Arc<str>, Arc<T>)>> {
    if !wanted {
        return Some(Vec::new());
    }
    let mut ids: Vec<&Arc<str>> = nodes
        .iter()
        .flat_map(|node| node.participants.iter().filter_map(|p| id(p).as_ref()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        let value = source.cache().peek::<T>(source.scope(), id, noted).await?;
        found.push((Arc::clone(id), value));
    }
    Some(found)
}
