//! Zoom Cobrowse webhooks: parsing, signatures, and the folded session state.

pub mod api;
pub mod event;
pub(crate) mod fold;
pub(crate) mod idle;
pub(crate) mod parts;
pub mod signature;
pub mod test_event;
