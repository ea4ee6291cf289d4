//! The active co-browse conversations as upstream lists them: co-browse
//! views (the per-user listing) or analytics records (the org-wide details
//! query), in upstream's order.

use std::sync::Arc;

use crate::upstream::model::CobrowseConversation;

/// The active co-browse conversations, as upstream listed them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) struct ActiveListing {
    pub entries: Vec<Listed>,
    /// Upstream's listing had more pages than the client follows: these
    /// are the first ones only (the listing field says so).
    pub cut: bool,
}

/// One conversation of the active listing: a co-browse view (the per-user
/// listing) or an analytics record (the org-wide details query).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, get_size2::GetSize)]
pub(crate) enum Listed {
    View(Arc<CobrowseConversation>),
    Record(Arc<crate::upstream::analytics::AnalyticsConversation>),
}
