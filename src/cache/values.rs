//! What the cache holds: the kinds of upstream value ([`Cacheable`]),
//! analytics reports and wrap-up codes as one value each.

use std::sync::Arc;

use crate::cache::Kind;
use crate::purecloud::ActiveListing;
use crate::upstream::model::{CobrowseConversation, Conversation, Queue, User, WrapupCode};

/// An analytics answer (statistics or a page of history).
#[derive(Debug, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) enum Report {
    Aggregates(crate::upstream::analytics::AggregatesResponse),
    /// A details page's records, shared: the conversations built from them
    /// are kept by record (`purecloud::Models`), not built per request.
    Details(Vec<Arc<crate::upstream::analytics::AnalyticsConversation>>),
}

/// An analytics answer about an interval well in the past: it changes
/// rarely, and lives as long as directory data.
#[derive(Debug, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) struct ClosedReport(pub Arc<Report>);

/// All wrap-up codes of the organisation.
#[derive(Debug, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) struct WrapupCodes(pub Vec<WrapupCode>);

/// A value the cache can hold.
#[derive(Clone)]
pub(crate) enum Value {
    Conversation(Arc<Conversation>),
    CobrowseConversation(Arc<CobrowseConversation>),
    ActiveListing(Arc<ActiveListing>),
    User(Arc<User>),
    Queue(Arc<Queue>),
    WrapupCodes(Arc<WrapupCodes>),
    OpenReport(Arc<Report>),
    ClosedReport(Arc<ClosedReport>),
}

impl Value {
    /// The bytes it holds in memory: the decoded value and everything it
    /// owns on the heap (what `cache.max_bytes` bounds), not its size on
    /// the wire, which is several times smaller.
    pub(crate) fn weight(&self) -> usize {
        use get_size2::GetSize as _;
        match self {
            Value::Conversation(v) => v.get_size(),
            Value::CobrowseConversation(v) => v.get_size(),
            Value::ActiveListing(v) => v.get_size(),
            Value::User(v) => v.get_size(),
            Value::Queue(v) => v.get_size(),
            Value::WrapupCodes(v) => v.get_size(),
            Value::OpenReport(v) => v.get_size(),
            Value::ClosedReport(v) => v.get_size(),
        }
    }
}

/// A type that has a [`Kind`] and lives in a [`Value`] (and, encoded, in
/// the replicas' shared cache).
pub(crate) trait Cacheable:
    serde::Serialize + serde::de::DeserializeOwned + Send + Sync + Sized + 'static
{
    const KIND: Kind;
    fn wrap(value: Arc<Self>) -> Value;
    fn unwrap(value: Value) -> Option<Arc<Self>>;
}

macro_rules! cacheable {
    ($($ty:ty => $variant:ident),+ $(,)?) => {$(
        impl Cacheable for $ty {
            const KIND: Kind = Kind::$variant;
            fn wrap(value: Arc<Self>) -> Value {
                Value::$variant(value)
            }
            fn unwrap(value: Value) -> Option<Arc<Self>> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )+};
}

cacheable! {
    Conversation => Conversation,
    CobrowseConversation => CobrowseConversation,
    ActiveListing => ActiveListing,
    User => User,
    Queue => Queue,
    WrapupCodes => WrapupCodes,
    Report => OpenReport,
    ClosedReport => ClosedReport,
}
