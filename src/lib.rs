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
mod jobs;
mod live;
pub mod messenger;
mod metrics;
mod nesting;
mod origin;
mod purecloud;
mod redis_state;
mod replicas;
pub mod secret;
pub mod settings;
pub mod sim;
mod singleflight;
mod source;
pub mod startup;
pub mod store;
mod throttle;
mod updates;
mod upstream;
pub mod zoom;

/// The unit tests' allocator: counts the bytes each thread holds, so that
/// a test can measure what a value holds in memory
/// ([`test_alloc::held`]).
#[cfg(test)]
pub(crate) mod test_alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    thread_local! {
        static HELD: Cell<isize> = const { Cell::new(0) };
    }

    fn count(bytes: isize) {
        HELD.with(|held| held.set(held.get() + bytes));
    }

    // SAFETY: every call is passed to the system allocator unchanged; the
    // count is a thread-local without a destructor, which never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as isize);
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count(-(layout.size() as isize));
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count(new_size as isize - layout.size() as isize);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Bytes this thread holds now (allocated and not freed, by it).
    pub(crate) fn held() -> isize {
        HELD.with(Cell::get)
    }
}
