//! cobrowse-gateway: one GraphQL graph over co-browse conversations.
//!
//! See `ARCHITECTURE.md` for the map of the code and its invariants.
//!
//! The public surface is what the binary, the benchmark and the integration
//! tests use: building and running a gateway ([`startup`], [`settings`]),
//! the simulator that stands in for PureCloud ([`sim`]), API keys
//! ([`auth`]), the schema's SDL and node ids ([`graph`]), the webhook event
//! store ([`store`]) and Zoom's webhook wire format ([`zoom`]). Everything
//! else is private to the crate, so the compiler reports what nothing uses.

#![warn(unreachable_pub)]

pub mod auth;
mod cache;
mod canonical;
mod changes;
pub mod check;
mod deadline;
mod engage;
mod freshness;
pub mod graph;
pub mod http;
mod live;
mod metrics;
mod nesting;
mod purecloud;
mod replicas;
pub mod secret;
pub mod settings;
pub mod sim;
mod singleflight;
mod soft;
mod source;
pub mod startup;
pub mod store;
mod throttle;
mod upstream;
pub mod zoom;
