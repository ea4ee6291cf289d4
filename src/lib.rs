//! cobrowse-gateway: one GraphQL graph over co-browse conversations.
//!
//! See `ARCHITECTURE.md` for the map of the code and its invariants.

pub mod auth;
pub mod cache;
pub mod canonical;
pub mod changes;
pub mod engage;
pub mod freshness;
pub mod graph;
pub mod http;
pub mod metrics;
pub mod nesting;
pub mod secret;
pub mod settings;
pub mod sim;
mod singleflight;
pub mod source;
pub mod startup;
pub mod store;
pub mod upstream;
pub mod zoom;
