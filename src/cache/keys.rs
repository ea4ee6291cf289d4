//! The parts of a cache key: the credential scope a value was fetched
//! with, the kind of upstream value, and its id.

use std::hash::BuildHasher;
use std::sync::Arc;

/// The credentials a value was fetched with, as an opaque hash.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Scope(u64);

impl Scope {
    /// The opaque value (for keys of other caches).
    pub(crate) fn value(self) -> u64 {
        self.0
    }

    /// The scope of a set of credentials (hashed with a per-process key).
    pub(crate) fn of(parts: &[&str]) -> Self {
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        Scope(KEYS.get_or_init(Default::default).hash_one(parts))
    }
}

/// What kind of upstream value an entry holds.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Kind {
    Conversation,
    CobrowseConversation,
    ActiveListing,
    User,
    Queue,
    WrapupCodes,
    /// An analytics answer about an interval that is still going on (or
    /// just ended, while analytics catches up).
    OpenReport,
    /// An analytics answer about an interval well in the past.
    ClosedReport,
}

impl Kind {
    /// A name for warnings and logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Conversation => "conversation",
            Kind::CobrowseConversation => "cobrowse_conversation",
            Kind::ActiveListing => "active_listing",
            Kind::User => "user",
            Kind::Queue => "queue",
            Kind::WrapupCodes => "wrapup_codes",
            Kind::OpenReport => "open_report",
            Kind::ClosedReport => "closed_report",
        }
    }

    /// The change tag of a read of this kind of `id`, or `None` for kinds
    /// mutations do not change (users, queues, wrap-up codes; analytics
    /// reports, which lag upstream's own changes and live by their TTL). A
    /// conversation's full form and co-browse view share one tag.
    pub(crate) fn tag(self, id: &str) -> Option<crate::changes::Tag> {
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let keys = KEYS.get_or_init(Default::default);
        match self {
            Kind::Conversation | Kind::CobrowseConversation => Some(keys.hash_one(("c", id))),
            Kind::ActiveListing => Some(keys.hash_one("listing")),
            Kind::User
            | Kind::Queue
            | Kind::WrapupCodes
            | Kind::OpenReport
            | Kind::ClosedReport => None,
        }
    }

    pub(super) fn is_live(self) -> bool {
        matches!(
            self,
            Kind::Conversation
                | Kind::CobrowseConversation
                | Kind::ActiveListing
                | Kind::OpenReport
        )
    }
}

/// A cache key: scope, kind and upstream id.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Key {
    pub(super) scope: Scope,
    pub(super) kind: Kind,
    pub(super) id: Arc<str>,
}
