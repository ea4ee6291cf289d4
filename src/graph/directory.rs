//! Users, queues and wrap-up codes: long-lived directory data.
//!
//! References (`user`, `queue`) resolve through per-request [`Loaders`]:
//! every reference asked for while a response is being built is gathered into
//! one bulk call (after the cache has served what it has). The loaders live
//! and die with the request; what outlives it lives in the cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Object, Result, ID};

use super::errors::{coded, GqlResult};
use super::ids::NodeId;
use super::shape;
use crate::source::{SharedError, Source};
use crate::upstream::model;
use crate::upstream::BULK_PAGE_SIZE;

/// The per-request batch loaders. Each keeps what it loaded for the rest
/// of the request, so a reference asked for twice is loaded once.
pub(crate) struct Loaders {
    users: DataLoader<UserLoader, HashMapCache>,
    queues: DataLoader<QueueLoader, HashMapCache>,
}

impl Loaders {
    /// Loads these users and queues in one batch each, ahead of the
    /// resolvers that will ask for them one by one. Failures are left for
    /// those resolvers to report at their own paths.
    /// What the data cache holds is handed to the loaders at once, so that
    /// a warm response does not wait out the loaders' batching delay.
    pub(crate) async fn prefetch(&self, mut users: Vec<Arc<str>>, mut queues: Vec<Arc<str>>) {
        for ids in [&mut users, &mut queues] {
            ids.sort_unstable();
            ids.dedup();
        }
        let users = cached(&self.users, &self.users.loader().0, users).await;
        let queues = cached(&self.queues, &self.queues.loader().0, queues).await;
        let users = async {
            if !users.is_empty() {
                drop(self.users.load_many(users).await);
            }
        };
        let queues = async {
            if !queues.is_empty() {
                drop(self.queues.load_many(queues).await);
            }
        };
        futures::join!(users, queues);
    }

    /// Fresh loaders for one request.
    pub(crate) fn new(source: &Arc<Source>) -> Self {
        // The delay gathers every reference of one resolution wave.
        let delay = Duration::from_millis(2);
        Self {
            users: DataLoader::with_cache(
                UserLoader(Arc::clone(source)),
                spawn_in_span,
                HashMapCache::default(),
            )
            .delay(delay)
            .max_batch_size(BULK_PAGE_SIZE * 10),
            queues: DataLoader::with_cache(
                QueueLoader(Arc::clone(source)),
                spawn_in_span,
                HashMapCache::default(),
            )
            .delay(delay)
            .max_batch_size(BULK_PAGE_SIZE * 10),
        }
    }
}

/// Feeds `loader` what the data cache holds of `ids` (counted and noted
/// in the response's freshness as the loader's own read would be); answers
/// the ids it does not hold, for the loader to fetch.
async fn cached<T, L>(
    loader: &DataLoader<L, HashMapCache>,
    source: &Source,
    ids: Vec<Arc<str>>,
) -> Vec<Arc<str>>
where
    T: crate::cache::Cacheable,
    L: Loader<Arc<str>, Value = Arc<T>>,
{
    let mut held = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match source.cache().get::<T>(source.scope(), &id).await {
            Some(value) => held.push((id, value)),
            None => missing.push(id),
        }
    }
    loader.feed_many(held).await;
    missing
}

/// Spawns a batch in the span of the request that started it, so its
/// upstream calls log with that request's id (and end by its deadline), and
/// in its freshness scope, so that what the batch reads counts towards the
/// response's `max-age`.
fn spawn_in_span(batch: futures::future::BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    let batch = tracing::Instrument::in_current_span(crate::deadline::carry(batch));
    match crate::freshness::current() {
        Some(freshness) => tokio::spawn(freshness.scope(batch)),
        None => tokio::spawn(batch),
    }
}

struct UserLoader(Arc<Source>);
struct QueueLoader(Arc<Source>);

impl Loader<Arc<str>> for UserLoader {
    type Value = Arc<model::User>;
    type Error = SharedError;

    async fn load(&self, keys: &[Arc<str>]) -> Result<HashMap<Arc<str>, Self::Value>, Self::Error> {
        self.0.users(keys).await
    }
}

impl Loader<Arc<str>> for QueueLoader {
    type Value = Arc<model::Queue>;
    type Error = SharedError;

    async fn load(&self, keys: &[Arc<str>]) -> Result<HashMap<Arc<str>, Self::Value>, Self::Error> {
        self.0.queues(keys).await
    }
}

/// Resolves a user reference: without a load when only its id is asked for.
pub(crate) async fn user_ref(ctx: &Context<'_>, id: Option<Arc<str>>) -> Result<Option<UserView>> {
    let Some(id) = id else { return Ok(None) };
    if !shape::user_data(&ctx.look_ahead()) {
        return Ok(Some(UserView { id, data: None }));
    }
    let loaders = ctx.data_unchecked::<Loaders>();
    match loaders.users.load_one(Arc::clone(&id)).await.gql()? {
        Some(data) => Ok(Some(UserView {
            id,
            data: Some(data),
        })),
        None => Err(not_found("user", &id)),
    }
}

/// Resolves a queue reference: without a load when only its id is asked for.
pub(crate) async fn queue_ref(
    ctx: &Context<'_>,
    id: Option<Arc<str>>,
) -> Result<Option<QueueView>> {
    let Some(id) = id else { return Ok(None) };
    if !shape::queue_data(&ctx.look_ahead()) {
        return Ok(Some(QueueView { id, data: None }));
    }
    let loaders = ctx.data_unchecked::<Loaders>();
    match loaders.queues.load_one(Arc::clone(&id)).await.gql()? {
        Some(data) => Ok(Some(QueueView {
            id,
            data: Some(data),
        })),
        None => Err(not_found("queue", &id)),
    }
}

fn not_found(what: &str, id: &str) -> async_graphql::Error {
    coded(
        "UPSTREAM_NOT_FOUND",
        format!("{what} {id} was not found upstream"),
    )
}

/// A PureCloud user, usually the agent behind a participant.
pub(crate) struct UserView {
    pub(crate) id: Arc<str>,
    pub(crate) data: Option<Arc<model::User>>,
}

/// A PureCloud user, usually the agent behind a participant.
#[Object(name = "User")]
impl UserView {
    /// Global id of this user (opaque; use it with `node(id:)`).
    pub async fn id(&self) -> ID {
        ID(NodeId::User {
            user: self.id.to_string(),
        }
        .encode())
    }
    /// The user's PureCloud id.
    async fn user_id(&self) -> &str {
        &self.id
    }
    /// Display name.
    async fn name(&self) -> Option<&str> {
        self.data.as_ref()?.name.as_deref()
    }
    /// E-mail address.
    async fn email(&self) -> Option<&str> {
        self.data.as_ref()?.email.as_deref()
    }
    /// Login name.
    async fn username(&self) -> Option<&str> {
        self.data.as_ref()?.username.as_deref()
    }
    /// Job title.
    async fn title(&self) -> Option<&str> {
        self.data.as_ref()?.title.as_deref()
    }
    /// Department.
    async fn department(&self) -> Option<&str> {
        self.data.as_ref()?.department.as_deref()
    }
    /// Account state (`active`, `inactive`, `deleted`).
    async fn state(&self) -> Option<&str> {
        self.data.as_ref()?.state.as_deref()
    }
}

/// A routing queue that offered the conversation.
pub(crate) struct QueueView {
    pub(crate) id: Arc<str>,
    pub(crate) data: Option<Arc<model::Queue>>,
}

/// A routing queue that offered the conversation.
#[Object(name = "Queue")]
impl QueueView {
    /// Global id of this queue (opaque; use it with `node(id:)`).
    pub async fn id(&self) -> ID {
        ID(NodeId::Queue {
            queue: self.id.to_string(),
        }
        .encode())
    }
    /// The queue's PureCloud id.
    async fn queue_id(&self) -> &str {
        &self.id
    }
    /// Queue name.
    async fn name(&self) -> Option<&str> {
        self.data.as_ref()?.name.as_deref()
    }
    /// What the queue is for.
    async fn description(&self) -> Option<&str> {
        self.data.as_ref()?.description.as_deref()
    }
    /// How many users are members of the queue.
    async fn member_count(&self) -> Option<i64> {
        self.data.as_ref()?.member_count
    }
}

/// A wrap-up code an agent can apply after a conversation.
pub(crate) struct WrapupCodeView(pub(crate) model::WrapupCode);

/// A wrap-up code an agent can apply after a conversation.
#[Object(name = "WrapupCode")]
impl WrapupCodeView {
    /// The code's id (what `Wrapup.code` holds).
    async fn code_id(&self) -> Option<&str> {
        self.0.id.as_deref()
    }
    /// The code's name.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// When the code was created.
    async fn date_created(&self) -> Option<model::Time> {
        self.0.date_created
    }
}

/// Every wrap-up code of the organisation.
pub(crate) async fn wrapup_codes(source: &Source) -> Result<Vec<WrapupCodeView>> {
    let codes = source.wrapup_codes().await.gql()?;
    Ok(codes.0.iter().cloned().map(WrapupCodeView).collect())
}

/// Loads one user for `node(id:)` and `Query.user`.
pub(crate) async fn load_user(ctx: &Context<'_>, id: &str) -> Result<Option<UserView>> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let id: Arc<str> = id.into();
    let data = loaders.users.load_one(Arc::clone(&id)).await.gql()?;
    Ok(data.map(|data| UserView {
        id,
        data: Some(data),
    }))
}

/// Loads one queue for `node(id:)` and `Query.queue`.
pub(crate) async fn load_queue(ctx: &Context<'_>, id: &str) -> Result<Option<QueueView>> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let id: Arc<str> = id.into();
    let data = loaders.queues.load_one(Arc::clone(&id)).await.gql()?;
    Ok(data.map(|data| QueueView {
        id,
        data: Some(data),
    }))
}
