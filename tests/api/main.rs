//! Integration tests: the gateway and the simulator as real HTTP servers on
//! loopback, driven through their front doors.

mod abuse;
pub(crate) mod auth;
mod binary;
mod browser;
mod compiled;
mod dashboard;
mod docs;
mod edge;
mod ends;
mod errors;
mod fuzz;
mod genesys;
mod graph;
mod hardening;
mod helpers;
mod layers;
mod limits;
pub(crate) mod live;
mod messenger;
mod newcomer;
mod notifications;
mod partial;
mod replicas;
mod reports;
mod resilience;
mod schema;
mod sdk;
mod selections;
mod shape;
mod simulator;
mod sockets;
mod store;
mod surface;
pub(crate) mod webhooks;
mod words;
mod zoom_rest;
