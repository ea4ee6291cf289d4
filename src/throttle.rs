//! Warnings that can come in floods are written at most once per interval.
//!
//! A peer that sends garbage (a broken proxy, a hostile socket) can cause
//! the same warning thousands of times a second: each line costs a write,
//! and the flood buries everything else in the log. A [`Throttle`] lets the
//! first warning of an interval through with its own detail and keeps the
//! rest quiet, counting them; the next one written says how many were kept
//! quiet before it. The metric beside each warning still counts every one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one warning per interval, with a count of the ones kept quiet.
pub(crate) struct Throttle {
    every: Duration,
    state: Mutex<ThrottleWindow>,
}

#[derive(Default)]
struct ThrottleWindow {
    /// When the last warning written was.
    opened: Option<Instant>,
    /// Warnings kept quiet since.
    quiet: u64,
}

impl Throttle {
    /// One warning per `every`.
    pub(crate) const fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new(ThrottleWindow {
                opened: None,
                quiet: 0,
            }),
        }
    }

    /// Whether to write this warning now: `Some(n)`, with the `n` warnings
    /// kept quiet since the last one written; `None` to keep it quiet.
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut window = self.state.lock().expect("throttle lock");
        if window
            .opened
            .is_some_and(|opened| now.saturating_duration_since(opened) < self.every)
        {
            window.quiet += 1;
            return None;
        }
        window.opened = Some(now);
        Some(std::mem::take(&mut window.quiet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_an_interval_is_written_and_the_next_one_counts_the_quiet_ones() {
        let throttle = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(throttle.admit_at(start), Some(0));
        for ms in 1..=500 {
            assert_eq!(throttle.admit_at(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(
            throttle.admit_at(start + Duration::from_secs(10)),
            Some(500)
        );
        assert_eq!(throttle.admit_at(start + Duration::from_secs(11)), None);
        assert_eq!(throttle.admit_at(start + Duration::from_secs(25)), Some(1));
    }
}
