//! What the integration tests share, by job: spawning gateways and
//! binaries, typed requests, fixtures, and assertions.

mod assertions;
mod fixtures;
mod requests;
mod spawn;

pub use assertions::*;
pub use fixtures::*;
pub use requests::*;
pub use spawn::*;
