//! Zoom Cobrowse webhooks: parsing, signatures, and the folded session state.

pub mod event;
pub mod fold;
pub mod parts;
pub mod signature;
