//! The query root: entry points, `node(id:)` and the active-conversations
//! connection with its look-ahead prefetch.

use std::cmp::Ordering;
use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields};
use async_graphql::{Context, Interface, Object, Result, SimpleObject, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::context::{source, store};
use super::conversation::{
    read_full, CobrowseMediaParticipantView, Cobrowsesession, Communication, ConversationView,
    Fallible, PureCloudSession, Screenshare, Session,
};
use super::directory::{self, load_queue, load_user, Loaders, QueueView, UserView, WrapupCodeView};
use super::errors::{self, bad_input, GqlResult};
use super::guard::Needs;
use super::history::{History, HistoryCursor, HistoryFilter};
use super::ids::{check_other_id, check_upstream_id, NodeId};
use super::paging::{cursor_text, invalid_cursor, page_weight, Page};
use super::sessions::{SessionCount, SessionCursor, SessionFilter};
use super::shape;
use super::statistics::{CobrowseStatistics, StatisticsGroupBy};
use super::values::{IntervalInput, SessionMedia};
use crate::purecloud::Model;
use crate::purecloud::{self, Shapes};
use crate::upstream::shortened;

/// An object with a global id that `node(id:)` can fetch again.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Global id (opaque; use it with `node(id:)`)."
))]
pub(crate) enum Node {
    Conversation(ConversationView),
    Participant(CobrowseMediaParticipantView),
    Cobrowsesession(Cobrowsesession),
    Screenshare(Screenshare),
    Session(Session),
    User(UserView),
    Queue(QueueView),
}

/// The most ids `nodes(ids:)` takes at once.
const MAX_NODE_IDS: usize = 100;

/// Extra fields of a conversation connection.
#[derive(SimpleObject)]
pub(crate) struct ConversationCount {
    /// How many conversations match, over all pages.
    total_count: usize,
}

/// The entry points of the graph.
pub(crate) struct Query;

#[Object]
impl Query {
    /// One conversation by its PureCloud id.
    #[graphql(guard = "Needs::READ")]
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
    ) -> Result<Option<ConversationView>> {
        check_upstream_id("conversationId", &conversation_id)?;
        Ok(Some(ConversationView(
            read_full(ctx, &conversation_id).await?,
        )))
    }

    /// The conversations with co-browse or screen share going on now, newest first: a conversation is listed while at least one of its co-browse or screen-share communications is neither `disconnected` nor `terminated` and has no end (`disconnectedTime`). One whose communications ended is not listed, even while its agent is still in wrap-up (it stays readable by `conversation(conversationId:)` and in `cobrowseHistory`). With the gateway's own credentials (service mode): every such conversation of the organisation. With a caller's own token (passthrough): that user's.
    #[graphql(
        guard = "Needs::READ",
        complexity = "page_weight(first, last) * child_complexity + 1"
    )]
    async fn active_cobrowse_conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Return the first N after `after` (at most the configured page size).")]
        first: Option<i32>,
        #[graphql(desc = "A cursor from a previous page.")] after: Option<String>,
        #[graphql(desc = "Return the last N before `before`.")] last: Option<i32>,
        #[graphql(desc = "A cursor from a previous page.")] before: Option<String>,
    ) -> Fallible<Connection<ListingCursor, ConversationView, ConversationCount, EmptyFields>> {
        let page: Page<ListingCursor> = Page::parse(ctx, first, after, last, before)?;
        let source = source(ctx);
        let listing = source
            .active_listing()
            .await
            .map_err(|e| errors::upstream_for("activeCobrowseConversations", &e))?;
        if listing.cut {
            errors::listing_cut(ctx);
        }
        let mut sorted = in_order(source, &listing);
        with_messenger(ctx, &mut sorted).await;
        let (start, end) = page.window(&sorted);
        let mut connection = Connection::with_additional_fields(
            start > 0,
            end < sorted.len(),
            ConversationCount {
                total_count: sorted.len(),
            },
        );
        let nodes: Vec<Model> = sorted[start..end]
            .iter()
            .map(|(_, model)| Arc::clone(model))
            .collect();
        let nodes = prefetch(ctx, nodes).await;
        for ((cursor, _), node) in sorted[start..end].iter().zip(nodes) {
            connection
                .edges
                .push(Edge::new(cursor.clone(), ConversationView(node)));
        }
        Ok(Some(connection))
    }

    /// One co-browse session of a conversation.
    #[graphql(guard = "Needs::READ")]
    async fn cobrowse_session(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        cobrowse_session_id: String,
    ) -> Result<Option<Session>> {
        check_upstream_id("conversationId", &conversation_id)?;
        check_other_id("cobrowseSessionId", &cobrowse_session_id)?;
        purecloud_session(ctx, &conversation_id, &cobrowse_session_id).await
    }

    /// Co-browse sessions of every provider, newest start first: PureCloud sessions of the conversations with co-browse going on now (their ended sessions too), and the Zoom sessions the webhook store holds.
    #[graphql(
        guard = "Needs::READ",
        complexity = "page_weight(first, last) * child_complexity + 1"
    )]
    async fn cobrowse_sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the sessions that match.")] filter: Option<SessionFilter>,
        #[graphql(desc = "Return the first N after `after`.")] first: Option<i32>,
        #[graphql(desc = "A cursor from a previous page.")] after: Option<String>,
        #[graphql(desc = "Return the last N before `before`.")] last: Option<i32>,
        #[graphql(desc = "A cursor from a previous page.")] before: Option<String>,
    ) -> Fallible<Connection<SessionCursor, Session, SessionCount, EmptyFields>> {
        let page: Page<SessionCursor> = Page::parse(ctx, first, after, last, before)?;
        let filter = filter.unwrap_or_default();
        super::sessions::list(ctx, filter, page).await.map(Some)
    }

    /// Fetches any object by its global id.
    #[graphql(guard = "Needs::READ")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let Some(node_id) = NodeId::decode(&id) else {
            return Err(bad_input(format!(
                "`{}` is not a node id of this gateway",
                shortened(id.as_str(), 64)
            )));
        };
        load_node(ctx, node_id).await
    }

    /// Fetches several objects by their global ids, in order (null for those not found).
    #[graphql(
        guard = "Needs::READ",
        complexity = "ids.len().max(1) * child_complexity + 1"
    )]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Result<Node>>>> {
        if ids.len() > MAX_NODE_IDS {
            return Err(bad_input(format!("at most {MAX_NODE_IDS} ids at once")));
        }
        let mut decoded = Vec::with_capacity(ids.len());
        for id in &ids {
            match NodeId::decode(id) {
                Some(node_id) => decoded.push(node_id),
                None => {
                    return Err(bad_input(format!(
                        "`{}` is not a node id of this gateway",
                        shortened(id.as_str(), 64)
                    )))
                }
            }
        }
        // Each id stands alone: one that upstream does not know is null,
        // one that fails is null with its error at its index.
        let loads = decoded.into_iter().map(|id| async move {
            match load_node(ctx, id).await {
                Ok(node) => node.map(Ok),
                Err(e) if errors::is_not_found(&e) => None,
                Err(e) => Some(Err(e)),
            }
        });
        Ok(futures::future::join_all(loads).await)
    }

    /// One user by PureCloud id.
    #[graphql(guard = "Needs::READ")]
    async fn user(&self, ctx: &Context<'_>, user_id: String) -> Result<Option<UserView>> {
        check_upstream_id("userId", &user_id)?;
        load_user(ctx, &user_id).await
    }

    /// One routing queue by PureCloud id.
    #[graphql(guard = "Needs::READ")]
    async fn queue(&self, ctx: &Context<'_>, queue_id: String) -> Result<Option<QueueView>> {
        check_upstream_id("queueId", &queue_id)?;
        load_queue(ctx, &queue_id).await
    }

    /// Co-browse and screen-share sessions of every provider in an interval (at most 31 days), newest interaction first: PureCloud sessions from analytics (upstream needs `analytics:conversationDetail:view`), Zoom sessions from the webhook store. By default only those of conversations (and Zoom sessions) that ended.
    #[graphql(
        guard = "Needs::READ",
        complexity = "page_weight(first, None) * child_complexity + 1"
    )]
    async fn cobrowse_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The interval the interactions started in.")] interval: IntervalInput,
        #[graphql(desc = "Only the sessions that match.")] filter: Option<HistoryFilter>,
        #[graphql(desc = "Return the first N after `after`.")] first: Option<i32>,
        #[graphql(desc = "A cursor from a previous page.")] after: Option<String>,
    ) -> Fallible<History> {
        let page: Page<HistoryCursor> = Page::parse(ctx, first, after, None, None)?;
        super::history::history(ctx, interval, filter.unwrap_or_default(), page).await
    }

    /// Counts and durations of agents' co-browse and screen-share work in an interval (at most 31 days), per queue, user or media type and time bucket, from analytics. Upstream needs the permission `analytics:conversationAggregate:view` for it.
    #[graphql(guard = "Needs::READ")]
    async fn cobrowse_statistics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The interval to report on.")] interval: IntervalInput,
        #[graphql(
            desc = "The length of each time bucket, an ISO-8601 period (`PT30M`, `PT1H`, `P1D`); none: one bucket for the whole interval."
        )]
        granularity: Option<String>,
        #[graphql(desc = "What to group by.", default_with = "StatisticsGroupBy::Queue")]
        group_by: StatisticsGroupBy,
        #[graphql(desc = "Only these media (none: both).")] media_types: Option<Vec<SessionMedia>>,
    ) -> Fallible<CobrowseStatistics> {
        super::statistics::statistics(ctx, interval, granularity, group_by, media_types).await
    }

    /// Every wrap-up code of the organisation.
    #[graphql(guard = "Needs::READ")]
    async fn wrapup_codes(&self, ctx: &Context<'_>) -> Fallible<Vec<WrapupCodeView>> {
        directory::wrapup_codes(source(ctx)).await.map(Some)
    }
}

async fn load_node(ctx: &Context<'_>, id: NodeId) -> Result<Option<Node>> {
    id.check()?;
    let full = |conversation: String| async move { read_full(ctx, &conversation).await };
    Ok(match id {
        NodeId::Conversation { conversation } => Some(Node::Conversation(ConversationView(
            full(conversation).await?,
        ))),
        NodeId::Participant {
            conversation,
            participant,
        } => {
            let model = full(conversation).await?;
            CobrowseMediaParticipantView::find(ctx, &model, &participant)
                .await?
                .map(Node::Participant)
        }
        NodeId::Cobrowsesession {
            conversation,
            communication,
            ..
        } => match Communication::at(&full(conversation).await?, &communication) {
            Some(Communication::Cobrowsesession(c)) => Some(Node::Cobrowsesession(c)),
            _ => None,
        },
        NodeId::Screenshare {
            conversation,
            communication,
            ..
        } => match Communication::at(&full(conversation).await?, &communication) {
            Some(Communication::Screenshare(s)) => Some(Node::Screenshare(s)),
            _ => None,
        },
        NodeId::PureCloudSession {
            conversation,
            session,
        } => purecloud_session(ctx, &conversation, &session)
            .await?
            .map(Node::Session),
        NodeId::ZoomSession { account, session } => {
            let found = store(ctx).session(Some(&account), &session).await.gql()?;
            found.map(|z| Node::Session(Session::Zoom(Arc::new(z))))
        }
        NodeId::MessengerSession { session } => {
            let found = store(ctx).messenger_session(&session).await.gql()?;
            found.map(|m| Node::Session(Session::Messenger(Arc::new(m))))
        }
        NodeId::User { user } => load_user(ctx, &user).await?.map(Node::User),
        NodeId::Queue { queue } => load_queue(ctx, &queue).await?.map(Node::Queue),
    })
}

/// Session `session` of PureCloud conversation `conversation`: from the
/// conversation routes, or, for a session read from analytics (whose id is
/// analytics' room id, not a REST `cobrowseSessionId`), from the
/// conversation's analytics record, read by id.
async fn purecloud_session(
    ctx: &Context<'_>,
    conversation: &str,
    session: &str,
) -> Result<Option<Session>> {
    let model = read_full(ctx, conversation).await?;
    if let Some(found) = model.session(session) {
        return Ok(Some(Session::PureCloud(PureCloudSession::new(
            &model, found,
        ))));
    }
    let source = super::context::source(ctx);
    let report = source
        .details_by_ids(&[conversation.to_owned()])
        .await
        .map_err(|e| super::errors::upstream(&e))?;
    let crate::cache::Report::Details(records) = &*report else {
        unreachable!("a details key holds a details report");
    };
    let Some(record) = records.first() else {
        return Ok(None);
    };
    let model = source.listed(&crate::purecloud::Listed::Record(Arc::clone(record)));
    let found = model.session(session);
    Ok(found.map(|s| Session::PureCloud(PureCloudSession::new(&model, s))))
}

/// Loads, for one page of listed conversations, what the selection needs,
/// all at once: the missing shapes concurrently, then users and queues in
/// one batch each (kept by the request's loaders). Failures are left for the
/// fields to report at their own paths.
async fn prefetch(ctx: &Context<'_>, nodes: Vec<Model>) -> Vec<Model> {
    let look = ctx.look_ahead();
    let selections = [look.field("edges").field("node"), look.field("nodes")];
    // What the listing entries (views, or analytics records: neither
    // shape) do not hold.
    let held = nodes.first().map_or(Shapes::NONE, |n| n.shapes());
    let needs = selections
        .iter()
        .fold(Shapes::NONE, |all, s| all.and(shape::conversation(s, held)));
    let source = source(ctx);
    let nodes = if needs == Shapes::NONE {
        nodes
    } else {
        futures::future::join_all(nodes.into_iter().map(|node| async move {
            match source.conversation(&node.id, needs, Some(&node)).await {
                Ok(model) => model,
                Err(_) => node,
            }
        }))
        .await
    };
    let wants_users = selections
        .iter()
        .any(|s| shape::user_data(&s.field("participants").field("user")));
    let wants_queues = selections
        .iter()
        .any(|s| shape::queue_data(&s.field("participants").field("queue")));
    if wants_users || wants_queues {
        let (mut users, mut queues) = (Vec::new(), Vec::new());
        for participant in nodes.iter().flat_map(|node| &node.participants) {
            users.extend(participant.user_id.clone().filter(|_| wants_users));
            queues.extend(participant.queue_id.clone().filter(|_| wants_queues));
        }
        ctx.data_unchecked::<Loaders>()
            .prefetch(users, queues)
            .await;
    }
    nodes
}

/// The conversations of `listing`, in the order of their cursors.
pub(super) fn in_order(
    source: &crate::source::Source,
    listing: &crate::purecloud::ActiveListing,
) -> Vec<(ListingCursor, Model)> {
    let mut sorted: Vec<(ListingCursor, Model)> = listing
        .entries
        .iter()
        .map(|view| {
            let model = source.listed(view);
            (ListingCursor::of(&model), model)
        })
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
}

/// Adds to `sorted` (in order) the conversations with a Co-browse for
/// Messenger session going on that it does not hold, each read (cached) as
/// the conversation routes have it; one that cannot be read is reported at
/// the field's path and left out.
async fn with_messenger(ctx: &Context<'_>, sorted: &mut Vec<(ListingCursor, Model)>) {
    let ids = source(ctx).messenger_active().conversations();
    if ids.is_empty() {
        return;
    }
    let listed: std::collections::HashSet<&str> = sorted.iter().map(|(c, _)| &*c.id).collect();
    let missing: Vec<String> = ids
        .into_iter()
        .filter(|id| !listed.contains(id.as_str()))
        .collect();
    let read = futures::future::join_all(missing.iter().map(|id| read_full(ctx, id))).await;
    for model in read {
        match model {
            Ok(model) => sorted.push((ListingCursor::of(&model), model)),
            Err(e) => ctx.add_error(e.into_server_error(ctx.item.pos)),
        }
    }
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
}

/// A keyset cursor over the active listing: newest start first, then id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListingCursor {
    start_ms: i64,
    id: Arc<str>,
}

impl ListingCursor {
    fn of(conversation: &purecloud::ConversationModel) -> Self {
        // An analytics record says when the conversation started; a view
        // says when each participant did.
        let start = conversation.start_time.or_else(|| {
            conversation
                .participants
                .iter()
                .filter_map(|p| p.start_time)
                .min()
        });
        Self {
            start_ms: start.map_or(i64::MIN, |t| t.timestamp_millis()),
            id: Arc::clone(&conversation.id),
        }
    }
}

impl Ord for ListingCursor {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .start_ms
            .cmp(&self.start_ms)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for ListingCursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl CursorType for ListingCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let invalid = || invalid_cursor(s);
        let rest = cursor_text(s, "c1:")?;
        let (start, id) = rest.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            start_ms: start.parse().map_err(|_| invalid())?,
            id: id.into(),
        })
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("c1:{}:{}", self.start_ms, self.id))
    }
}
