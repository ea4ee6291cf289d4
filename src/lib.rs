//! cobrowse-gateway: one GraphQL graph over co-browse conversations.
//!
//! See `ARCHITECTURE.md` for the map of the code and its invariants.

pub mod cache;
pub mod graph;
pub mod secret;
pub mod server;
pub mod settings;
pub mod sim;
mod singleflight;
pub mod source;
pub mod startup;
pub mod upstream;
