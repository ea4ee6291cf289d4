//! What the integration tests share, by job: spawning gateways and
//! binaries, typed requests, fixtures, and assertions.

mod assertions;
#[path = "../../common/documentation.rs"]
mod documentation;
mod fixtures;
mod requests;
mod spawn;

pub use assertions::*;
pub use documentation::documentation;
pub use fixtures::*;
pub use requests::*;
pub use spawn::*;
