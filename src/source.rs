//! The data layer resolvers call: upstream reads through the cache.
//!
//! A [`Source`] pairs the PureCloud client and the cache with the [`Access`]
//! of one caller: the credential its calls carry and the scope its cache
//! entries are keyed by. The gateway holds one bound to its own credentials;
//! a request in passthrough mode gets one bound to its caller's token
//! ([`Source::with_access`]), so neither its cache entries nor its flights
//! are ever shared with another caller. Single reads go through moka's per-key single-flight;
//! bulk reads (users, queues) serve what the cache has and fetch the rest in
//! chunks of [`BULK_PAGE_SIZE`], with identical concurrent bulk fetches
//! coalesced by a [`singleflight::Group`]. Mutations invalidate what they
//! change, and record it in [`Changes`] for the response cache.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::try_join_all;

use crate::cache::{Cache, Cacheable, ClosedReport, Kind, Report, Scope, Value, WrapupCodes};
use crate::changes::Changes;
use crate::purecloud::{self, ActiveListing, Inputs, Listed, Models, Shapes};
use crate::singleflight;
use crate::upstream::analytics::{self, AggregatesQuery, DetailsQuery};
use crate::upstream::model::*;
use crate::upstream::{Credential, Entity, Fetched, PureCloud, UpstreamError, BULK_PAGE_SIZE};

/// An upstream error shared between the callers of one flight.
pub(crate) type SharedError = Arc<UpstreamError>;

type BulkKey = (Scope, Kind, Arc<[Arc<str>]>);
type BulkResult = Result<Arc<Vec<(Arc<str>, Value)>>, SharedError>;

/// The credential a caller's upstream calls carry, and the cache scope
/// that credential's data lives under.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    pub credential: Credential,
    pub scope: Scope,
}

/// Upstream reads and writes, cached and coalesced, on behalf of one
/// [`Access`]. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Source {
    shared: Arc<SourceState>,
    access: Access,
}

struct SourceState {
    client: PureCloud,
    cache: Cache,
    bulk: singleflight::Group<BulkKey, BulkResult>,
    changes: Arc<Changes>,
    models: Models,
    /// How far back the org-wide active set looks for conversations.
    active_lookback: std::time::Duration,
    /// Analytics details jobs of long histories.
    jobs: crate::jobs::Jobs,
    /// The org-wide active set kept by pushed events, asked before
    /// upstream (service mode).
    kept: std::sync::OnceLock<Arc<dyn LiveActiveSet>>,
    /// Several replicas: where a mutation's change is told to the others.
    shared_changes: std::sync::OnceLock<Arc<dyn crate::changes::SharedChanges>>,
    /// The conversations with a Co-browse for Messenger session going on.
    messenger_active: crate::messenger::active::Active,
}

/// An org-wide active set kept up to date elsewhere (the live index).
pub(crate) trait LiveActiveSet: Send + Sync {
    /// The active set, when it may be served now (noting its freshness in
    /// the request's scope); none: read it from upstream.
    fn listing(&self) -> Option<Arc<ActiveListing>>;
}

/// How many conversations [`Models`] keeps built, and for how long unread.
/// Each holds its upstream records, so this also bounds how long those
/// outlive the data cache.
const MODELS: u64 = 2_048;
const MODELS_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

impl Source {
    /// A source reading with the gateway's own credentials, whose data is
    /// cached under `scope`.
    pub(crate) fn new(
        client: PureCloud,
        cache: Cache,
        scope: Scope,
        active_lookback: std::time::Duration,
        jobs: crate::jobs::JobSettings,
    ) -> Self {
        Self {
            shared: Arc::new(SourceState {
                client,
                cache,
                bulk: singleflight::Group::default(),
                changes: Arc::new(Changes::new()),
                models: Models::new(MODELS, MODELS_IDLE),
                active_lookback,
                jobs: crate::jobs::Jobs::new(jobs),
                kept: std::sync::OnceLock::new(),
                shared_changes: std::sync::OnceLock::new(),
                messenger_active: crate::messenger::active::Active::default(),
            }),
            access: Access {
                credential: Credential::Service,
                scope,
            },
        }
    }

    /// The same client and cache on behalf of another caller.
    pub(crate) fn with_access(&self, access: Access) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            access,
        }
    }

    /// Whose credentials this source reads with.
    pub(crate) fn access(&self) -> &Access {
        &self.access
    }

    /// Serves the gateway's own active set from `kept` when it can.
    pub(crate) fn keep_active_set(&self, kept: Arc<dyn LiveActiveSet>) {
        let _ = self.shared.kept.set(kept);
    }

    /// Tells `shared` (the other replicas) of every conversation a mutation
    /// changes.
    pub(crate) fn share_changes(&self, shared: Arc<dyn crate::changes::SharedChanges>) {
        let _ = self.shared.shared_changes.set(shared);
    }

    /// The conversations with a Co-browse for Messenger session going on.
    pub(crate) fn messenger_active(&self) -> &crate::messenger::active::Active {
        &self.shared.messenger_active
    }

    /// Takes a Co-browse for Messenger session as it is now; when that
    /// changes which conversations are active, the responses kept that
    /// read the active set go stale.
    pub(crate) fn note_messenger(&self, session: &crate::messenger::MessengerSession) {
        if self
            .shared
            .messenger_active
            .note(session, chrono::Utc::now())
        {
            let tags: Vec<crate::changes::Tag> = Kind::ActiveListing.tag("").into_iter().collect();
            self.shared.changes.record(tags);
        }
    }

    /// Takes a Co-browse for Messenger change another replica told (see
    /// [`Self::note_messenger`]).
    pub(crate) fn note_messenger_change(&self, change: &crate::messenger::Change) {
        if self.shared.messenger_active.note_change(change) {
            let tags: Vec<crate::changes::Tag> = Kind::ActiveListing.tag("").into_iter().collect();
            self.shared.changes.record(tags);
        }
    }

    /// The client underneath (for readiness checks and counters).
    pub(crate) fn client(&self) -> &PureCloud {
        &self.shared.client
    }

    /// The credential scope of every read.
    pub(crate) fn scope(&self) -> Scope {
        self.access.scope
    }

    /// The record of what mutations changed (the response cache reads it).
    pub(crate) fn changes(&self) -> &Arc<Changes> {
        &self.shared.changes
    }

    /// The cache underneath.
    pub(crate) fn cache(&self) -> &Cache {
        &self.shared.cache
    }

    fn credential(&self) -> &Credential {
        &self.access.credential
    }

    /// A cached read of `id`. `call` fetches it from the client with this
    /// source's credential; the cache may run it again later (background
    /// retries), so it gets owned handles each time.
    async fn cached<T, F, Fut>(&self, id: &str, call: F) -> Result<Arc<T>, SharedError>
    where
        T: Cacheable,
        F: Fn(PureCloud, Arc<Credential>, Arc<str>) -> Fut + Copy + Send + Sync + 'static,
        Fut: Future<Output = Result<Fetched<T>, UpstreamError>> + Send + 'static,
    {
        let client = self.client().clone();
        let credential = Arc::new(self.credential().clone());
        let owned: Arc<str> = id.into();
        let fetch = move || call(client.clone(), Arc::clone(&credential), Arc::clone(&owned));
        self.shared
            .cache
            .get_or_fetch(self.scope(), id, fetch)
            .await
    }

    /// Conversation `id` with at least `shapes`: what `known` holds (a
    /// listing entry, or a conversation read before) and the rest fetched.
    /// A conversation without co-browse has no view (upstream answers 404):
    /// that is not an error, the view is left out.
    pub(crate) async fn conversation(
        &self,
        id: &str,
        shapes: Shapes,
        known: Option<&Arc<purecloud::ConversationModel>>,
    ) -> Result<Arc<purecloud::ConversationModel>, SharedError> {
        let inputs = known.map(|k| k.inputs.clone()).unwrap_or_default();
        let Shapes {
            full: want_full,
            view: want_view,
        } = inputs.lacking(shapes);
        if let (false, false, Some(known)) = (want_full, want_view, known) {
            return Ok(Arc::clone(known));
        }
        // One shape is the common case: its fetch is awaited inline. Both at
        // once are boxed, so that a waiting call holds one fetch's state,
        // not two (a cold page has hundreds of these waiting at once).
        let (full, view) = match (want_full, want_view) {
            (true, true) => {
                let both = Box::pin(async {
                    futures::try_join!(self.full_form(id), self.optional_view(id))
                });
                let (full, view) = both.await?;
                (Some(full), view)
            }
            (true, false) => (Some(self.full_form(id).await?), inputs.view.clone()),
            (false, true) => (inputs.full.clone(), self.optional_view(id).await?),
            (false, false) => (inputs.full.clone(), inputs.view.clone()),
        };
        Ok(self.model_of(
            id,
            Inputs {
                full,
                view,
                record: None,
            },
        ))
    }

    /// What [`Self::conversation`] would build conversation `known` from,
    /// from what is cached and fresh, without a fetch: `None` when
    /// something it needs is not (the compiled path then leaves the request
    /// to the general engine); `Some(None)` when `known` holds `shapes`
    /// already. With the inputs, the number of cache reads; what the reads
    /// would note in the response is noted in `noted`.
    pub(crate) async fn peek_inputs(
        &self,
        shapes: Shapes,
        known: &purecloud::ConversationModel,
        noted: &mut crate::cache::ReadFreshness,
    ) -> Option<Option<(Inputs, u64)>> {
        let inputs = &known.inputs;
        let Shapes {
            full: want_full,
            view: want_view,
        } = inputs.lacking(shapes);
        if !want_full && !want_view {
            return Some(None);
        }
        let cache = self.cache();
        let full = match want_full {
            true => Some(
                cache
                    .peek::<Conversation>(self.scope(), &known.id, noted)
                    .await?,
            ),
            false => inputs.full.clone(),
        };
        let view = match want_view {
            true => Some(
                cache
                    .peek::<CobrowseConversation>(self.scope(), &known.id, noted)
                    .await?,
            ),
            false => inputs.view.clone(),
        };
        let inputs = Inputs {
            full,
            view,
            record: None,
        };
        Some(Some((inputs, u64::from(want_full) + u64::from(want_view))))
    }

    /// Conversation `id` built from `inputs` (once: the models are kept).
    pub(crate) fn model_of(&self, id: &str, inputs: Inputs) -> Arc<purecloud::ConversationModel> {
        self.shared.models.of(self.scope().value(), id, inputs)
    }

    /// [`Self::active_listing`] from what is kept, without a fetch; the
    /// second value counts the cache reads.
    pub(crate) async fn peek_active_listing(&self) -> Option<(Arc<ActiveListing>, u64)> {
        if let (Credential::Service, Some(kept)) = (self.credential(), self.shared.kept.get()) {
            if let Some(listing) = kept.listing() {
                return Some((listing, 0));
            }
        }
        static LISTING: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        let id = LISTING.get_or_init(|| Arc::from(""));
        let mut noted = crate::cache::ReadFreshness::default();
        let cache = self.cache();
        let listing = cache
            .peek::<ActiveListing>(self.scope(), id, &mut noted)
            .await?;
        cache.note_again(&noted).then_some((listing, 1))
    }

    /// The co-browse view of a conversation, or none when it has none
    /// (upstream answers 404 for a conversation without co-browse).
    async fn optional_view(
        &self,
        id: &str,
    ) -> Result<Option<Arc<CobrowseConversation>>, SharedError> {
        match self.view_form(id).await {
            Ok(view) => Ok(Some(view)),
            Err(e) if matches!(*e, UpstreamError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The conversation a listing entry is: its co-browse view, or its
    /// analytics record (which holds neither shape).
    pub(crate) fn listed(&self, entry: &Listed) -> Arc<purecloud::ConversationModel> {
        let (id, inputs) = match entry {
            Listed::View(view) => (
                view.id.as_deref(),
                Inputs {
                    view: Some(Arc::clone(view)),
                    ..Inputs::default()
                },
            ),
            Listed::Record(record) => (
                record.conversation_id.as_deref(),
                Inputs {
                    record: Some(Arc::clone(record)),
                    ..Inputs::default()
                },
            ),
        };
        self.model_of(id.unwrap_or_default(), inputs)
    }

    /// The full form of a conversation.
    async fn full_form(&self, id: &str) -> Result<Arc<Conversation>, SharedError> {
        self.cached(id, |client, credential, id| async move {
            client.conversation(&credential, &id).await
        })
        .await
    }

    /// The co-browse view of a conversation.
    async fn view_form(&self, id: &str) -> Result<Arc<CobrowseConversation>, SharedError> {
        self.cached(id, |client, credential, id| async move {
            client.cobrowse_conversation(&credential, &id).await
        })
        .await
    }

    /// The active co-browse conversations. A caller's own token (passthrough)
    /// has a user: upstream's per-user listing answers "my co-browse
    /// sessions". The gateway's client-credentials token has none, and that
    /// listing refuses it: the whole organisation's active set comes from
    /// the analytics details query ([`purecloud::queries::active`]), every page, one
    /// record per conversation.
    pub(crate) async fn active_listing(&self) -> Result<Arc<ActiveListing>, SharedError> {
        if let (Credential::Service, Some(kept)) = (self.credential(), self.shared.kept.get()) {
            if let Some(listing) = kept.listing() {
                return Ok(listing);
            }
        }
        let lookback = self.shared.active_lookback;
        self.cached("", move |client, credential, _| async move {
            if let Credential::Bearer(_) = *credential {
                let listing = client.cobrowse_conversations(&credential).await?;
                return Ok(Fetched {
                    value: ActiveListing {
                        entries: listing
                            .value
                            .items
                            .into_iter()
                            .filter(purecloud::going_on::view)
                            .map(|v| Listed::View(Arc::new(v)))
                            .collect(),
                        cut: listing.value.cut,
                    },
                    bytes: listing.bytes,
                });
            }
            let query = purecloud::queries::active(chrono::Utc::now(), lookback);
            let records = client.details_all_pages(&credential, &query).await?;
            Ok(Fetched {
                value: ActiveListing {
                    entries: records
                        .value
                        .into_iter()
                        .filter(purecloud::going_on::record)
                        .map(|r| Listed::Record(Arc::new(r)))
                        .collect(),
                    cut: false,
                },
                bytes: records.bytes,
            })
        })
        .await
    }

    /// The aggregates query's answer, cached by the query: an interval that
    /// ended well before now ([`closed`]) as long as directory data, the
    /// current one as long as live state.
    pub(crate) async fn aggregates(
        &self,
        query: &AggregatesQuery,
    ) -> Result<Arc<Report>, SharedError> {
        let key = format!(
            "aggregates:{}",
            serde_json::to_string(query).expect("a DTO")
        );
        self.report(
            &key,
            closed(&query.interval),
            |client, credential, key| async move {
                let query: AggregatesQuery = report_query(&key)?;
                let answer = client.aggregates(&credential, &query).await?;
                Ok(Fetched {
                    value: Report::Aggregates(answer.value),
                    bytes: answer.bytes,
                })
            },
        )
        .await
    }

    /// One page of the details query, cached as [`Source::aggregates`] is.
    pub(crate) async fn details_page(
        &self,
        query: &DetailsQuery,
    ) -> Result<Arc<Report>, SharedError> {
        let key = format!("details:{}", serde_json::to_string(query).expect("a DTO"));
        self.report(
            &key,
            closed(&query.interval),
            |client, credential, key| async move {
                let query: DetailsQuery = report_query(&key)?;
                let answer = client.details_page(&credential, &query).await?;
                Ok(Fetched {
                    value: Report::Details(
                        answer
                            .value
                            .conversations
                            .into_iter()
                            .map(Arc::new)
                            .collect(),
                    ),
                    bytes: answer.bytes,
                })
            },
        )
        .await
    }

    /// The analytics records of specific conversations (the multi-get; at
    /// most [`crate::upstream::BULK_PAGE_SIZE`] ids), cached as an open
    /// interval's details page is.
    pub(crate) async fn details_by_ids(&self, ids: &[String]) -> Result<Arc<Report>, SharedError> {
        let key = format!(
            "details-ids:{}",
            serde_json::to_string(ids).expect("strings")
        );
        self.report(&key, false, |client, credential, key| async move {
            let ids: Vec<String> = report_query(&key)?;
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let answer = client.details_by_ids(&credential, &ids).await?;
            Ok(Fetched {
                value: Report::Details(answer.value.into_iter().map(Arc::new).collect()),
                bytes: answer.bytes,
            })
        })
        .await
    }

    /// When a history reads with a job (longer intervals) and how often it
    /// asks after one.
    pub(crate) fn job_settings(&self) -> crate::jobs::JobSettings {
        self.shared.jobs.settings()
    }

    /// The fulfilled job of `query` for this caller, or how long to wait.
    pub(crate) async fn details_job(
        &self,
        query: &DetailsQuery,
    ) -> Result<crate::jobs::Ready, SharedError> {
        self.shared
            .jobs
            .ready(
                self.client(),
                self.credential(),
                self.scope().value(),
                query,
            )
            .await
            .map_err(Arc::new)
    }

    /// A page of a fulfilled job's results (each read once: a history page
    /// reads on from its cursor); the job is forgotten when upstream no
    /// longer has it, so that the next read submits it again.
    pub(crate) async fn details_job_page(
        &self,
        query: &DetailsQuery,
        job: &str,
        cursor: Option<&str>,
    ) -> Result<crate::upstream::analytics::JobResults, SharedError> {
        let answer = self
            .client()
            .details_job_results(
                self.credential(),
                job,
                cursor,
                purecloud::queries::ANALYTICS_PAGE_SIZE,
            )
            .await;
        if let Err(UpstreamError::NotFound { .. }) = &answer {
            self.shared.jobs.forget(self.scope().value(), query);
        }
        answer.map(|f| f.value).map_err(Arc::new)
    }

    /// A cached report: `key` is its kind and query, which `call` reads
    /// back (so that a retry in the background can make it again).
    async fn report<F, Fut>(
        &self,
        key: &str,
        closed: bool,
        call: F,
    ) -> Result<Arc<Report>, SharedError>
    where
        F: Fn(PureCloud, Arc<Credential>, Arc<str>) -> Fut + Copy + Send + Sync + 'static,
        Fut: Future<Output = Result<Fetched<Report>, UpstreamError>> + Send + 'static,
    {
        if !closed {
            return self.cached::<Report, _, _>(key, call).await;
        }
        let closed = self
            .cached::<ClosedReport, _, _>(key, move |client, credential, key| async move {
                let open = call(client, credential, key).await?;
                Ok(Fetched {
                    value: ClosedReport(Arc::new(open.value)),
                    bytes: open.bytes,
                })
            })
            .await?;
        Ok(Arc::clone(&closed.0))
    }

    /// Every wrap-up code of the organisation.
    pub(crate) async fn wrapup_codes(&self) -> Result<Arc<WrapupCodes>, SharedError> {
        self.cached("", |client, credential, _| async move {
            let codes = client.wrapup_codes(&credential).await?;
            Ok(Fetched {
                value: WrapupCodes(codes.value.items),
                bytes: codes.bytes,
            })
        })
        .await
    }

    /// Users by id; ids upstream does not know are absent from the map.
    pub(crate) async fn users(
        &self,
        ids: &[Arc<str>],
    ) -> Result<HashMap<Arc<str>, Arc<User>>, SharedError> {
        self.bulk(ids).await
    }

    /// Queues by id; ids upstream does not know are absent from the map.
    pub(crate) async fn queues(
        &self,
        ids: &[Arc<str>],
    ) -> Result<HashMap<Arc<str>, Arc<Queue>>, SharedError> {
        self.bulk(ids).await
    }

    /// Disconnects a participant, or applies a wrap-up / hold / skip to it.
    pub(crate) async fn patch_participant(
        &self,
        conversation_id: &str,
        participant_id: &str,
        body: &MediaParticipantRequest,
    ) -> Result<(), UpstreamError> {
        self.client()
            .patch_participant(self.credential(), conversation_id, participant_id, body)
            .await?;
        self.forget_conversation(conversation_id).await;
        Ok(())
    }

    /// The queue and the agent of a conversation, as its participants say
    /// (the last of each named), read straight from upstream.
    pub(crate) async fn routing(
        &self,
        conversation_id: &str,
    ) -> Result<(Option<String>, Option<String>), UpstreamError> {
        let conversation = self
            .client()
            .conversation(self.credential(), conversation_id)
            .await?
            .value;
        let mut routing = (None, None);
        for p in &conversation.participants {
            if p.queue_id.is_some() {
                routing.0.clone_from(&p.queue_id);
            }
            let agent = p.purpose.as_ref().is_some_and(|w| w.raw() == "agent");
            if agent && p.user_id.is_some() {
                routing.1.clone_from(&p.user_id);
            }
        }
        Ok(routing)
    }

    /// Offers co-browse in a conversation (Co-browse for Messenger): a new
    /// offer on every call.
    pub(crate) async fn offer_cobrowse(
        &self,
        conversation_id: &str,
    ) -> Result<crate::upstream::messages::CobrowseOffer, UpstreamError> {
        let offer = self
            .client()
            .offer_cobrowse(self.credential(), conversation_id)
            .await?;
        self.forget_conversation(conversation_id).await;
        Ok(offer.value)
    }

    /// Sets attributes of a participant.
    pub(crate) async fn patch_participant_attributes(
        &self,
        conversation_id: &str,
        participant_id: &str,
        body: &ParticipantAttributes,
    ) -> Result<(), UpstreamError> {
        self.client()
            .patch_participant_attributes(self.credential(), conversation_id, participant_id, body)
            .await?;
        self.forget_conversation(conversation_id).await;
        Ok(())
    }

    /// Forgets a conversation a mutation changed, here and (through the
    /// shared store's feed) on every other replica.
    async fn forget_conversation(&self, id: &str) {
        self.forget_changed(id).await;
        if let Some(shared) = self.shared.shared_changes.get() {
            shared.conversation_changed(id).await;
        }
    }

    /// Forgets a conversation that changed upstream (and the listing that
    /// shows it), and records the change, so that kept responses that read
    /// either go stale.
    pub(crate) async fn forget_changed(&self, id: &str) {
        for kind in [Kind::Conversation, Kind::CobrowseConversation] {
            self.shared.cache.invalidate(self.scope(), kind, id).await;
        }
        self.shared
            .cache
            .invalidate(self.scope(), Kind::ActiveListing, "")
            .await;
        self.note_changed(id);
    }

    /// Marks the kept responses that read conversation `id` (or the active
    /// set) stale, at once.
    pub(crate) fn note_changed(&self, id: &str) {
        self.shared.changes.record(
            [Kind::Conversation.tag(id), Kind::ActiveListing.tag("")]
                .into_iter()
                .flatten(),
        );
    }

    /// Caches a co-browse view an event brought (it replaces the cached
    /// one).
    pub(crate) async fn keep_view(&self, id: &str, view: Arc<CobrowseConversation>) {
        // (The replicas' shared cache forgets the view it replaces.)
        self.shared
            .cache
            .invalidate(self.scope(), Kind::CobrowseConversation, id)
            .await;
        self.cache_view(id, view).await;
    }

    /// [`Self::keep_view`] once the view it replaces is forgotten already
    /// (by [`Self::forget_changed`]).
    pub(crate) async fn cache_view(&self, id: &str, view: Arc<CobrowseConversation>) {
        self.shared.cache.insert(self.scope(), id, view).await;
    }

    /// Serves `ids` from the cache and fetches the misses in bulk chunks.
    async fn bulk<T: Cacheable + Entity>(
        &self,
        ids: &[Arc<str>],
    ) -> Result<HashMap<Arc<str>, Arc<T>>, SharedError> {
        let mut unique: Vec<&Arc<str>> = ids.iter().collect();
        unique.sort_unstable();
        unique.dedup();
        let mut found = HashMap::with_capacity(unique.len());
        // Sorted, so identical sets make identical single-flight keys.
        let mut missing: Vec<Arc<str>> = Vec::new();
        for id in unique {
            match self.shared.cache.get::<T>(self.scope(), id).await {
                Some(value) => {
                    found.insert(Arc::clone(id), value);
                }
                None => missing.push(Arc::clone(id)),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let flights = missing.chunks(BULK_PAGE_SIZE).map(|chunk| {
            let key: BulkKey = (self.scope(), T::KIND, chunk.into());
            self.shared.bulk.run(key, || {
                fetch_chunk::<T>(
                    self.shared.cache.clone(),
                    self.scope(),
                    self.client().clone(),
                    self.credential().clone(),
                    chunk.to_vec(),
                )
            })
        });
        let fetched = match try_join_all(flights).await {
            Ok(fetched) => fetched,
            // Stale-if-error: ride out an outage on expired values, if every
            // missing one is still held.
            Err(error) => {
                for id in &missing {
                    match self
                        .shared
                        .cache
                        .get_stale::<T>(self.scope(), id, &error)
                        .await
                    {
                        Some(value) => {
                            found.insert(Arc::clone(id), value);
                        }
                        None => return Err(error),
                    }
                }
                return Ok(found);
            }
        };
        for values in fetched {
            for (id, value) in values.iter() {
                if let Some(value) = T::unwrap(value.clone()) {
                    found.insert(Arc::clone(id), value);
                }
            }
        }
        if missing.iter().any(|id| !found.contains_key(id)) {
            // Upstream knows no such id now; it may tomorrow. A response
            // that says so is fresh only as long as live state.
            self.shared.cache.note_absent();
        }
        Ok(found)
    }
}

/// How long after an interval's end analytics is taken to have caught up
/// (its data lags real time by seconds): from then on the interval is
/// closed, and its reports are cached as long as directory data.
const ANALYTICS_SETTLE: chrono::Duration = chrono::Duration::minutes(5);

/// Whether an interval (`start/end`) ended well before now.
fn closed(interval: &str) -> bool {
    analytics::parse_interval(interval)
        .is_some_and(|(_, end)| end < chrono::Utc::now() - ANALYTICS_SETTLE)
}

/// The query a report's cache key carries.
fn report_query<T: serde::de::DeserializeOwned>(key: &str) -> Result<T, UpstreamError> {
    let json = key.split_once(':').map_or(key, |(_, json)| json);
    serde_json::from_str(json).map_err(|e| UpstreamError::BadResponse {
        detail: format!("a cached report's query does not read back: {e}"),
        correlation_id: None,
    })
}

/// One bulk flight: `chunk` from the cache if a flight that finished just
/// before this one filled it, else from upstream (and into the cache).
async fn fetch_chunk<T: Cacheable + Entity>(
    cache: Cache,
    scope: Scope,
    client: PureCloud,
    credential: Credential,
    chunk: Vec<Arc<str>>,
) -> BulkResult {
    let mut cached = Vec::with_capacity(chunk.len());
    for id in &chunk {
        match cache.get::<T>(scope, id).await {
            Some(value) => cached.push((Arc::clone(id), T::wrap(value))),
            None => break,
        }
    }
    if cached.len() == chunk.len() {
        return Ok(Arc::new(cached));
    }
    let ids: Vec<&str> = chunk.iter().map(|id| &**id).collect();
    // Replicas sharing a cache fetch one chunk once for all.
    let name = format!("bulk:{}", ids.join(","));
    let (fetched, age) = cache
        .fetch_shared(scope, T::KIND, &name, || {
            client.entities::<T>(&credential, &ids)
        })
        .await
        .map_err(Arc::new)?;
    let mut values = Vec::with_capacity(fetched.value.len());
    for entity in fetched.value {
        let Some(id) = entity.id().map(Arc::<str>::from) else {
            continue;
        };
        let value = Arc::new(entity);
        cache.insert_aged(scope, &id, Arc::clone(&value), age).await;
        values.push((id, T::wrap(value)));
    }
    Ok(Arc::new(values))
}
