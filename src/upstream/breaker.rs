//! A circuit breaker per upstream route.
//!
//! Closed, calls go through and failures in a row are counted (an outage:
//! unreachable, 5xx after retries, timeouts; an answer such as a 404 or a
//! 429 resets the count, upstream being up). At `threshold` the circuit
//! opens: calls fail at once with `UPSTREAM_UNAVAILABLE` for `cooldown`.
//! Then one call may probe (half-open): success closes the circuit, failure
//! opens it for another cooldown. A probe whose caller goes away releases
//! its turn, so a cancelled request cannot hold a circuit open.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What a call should do.
pub(super) enum Admission<'a> {
    /// Go ahead; report the outcome on the ticket.
    Go(Ticket<'a>),
    /// The circuit is open: fail at once, retry after this long.
    Refused {
        retry_after: Duration,
        failures: u32,
    },
}

/// One admitted call.
pub(super) struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen { probing: bool, failures: u32 },
}

/// The breaker of one route.
pub(super) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    pub(super) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    /// Whether a call may go now.
    pub(super) fn admit(&self) -> Admission<'_> {
        let mut state = self.state.lock().expect("breaker lock");
        let now = Instant::now();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until, failures } if now < until => {
                return Admission::Refused {
                    retry_after: until - now,
                    failures,
                }
            }
            State::Open { failures, .. }
            | State::HalfOpen {
                probing: false,
                failures,
            } => {
                *state = State::HalfOpen {
                    probing: true,
                    failures,
                };
                true
            }
            State::HalfOpen {
                probing: true,
                failures,
            } => {
                return Admission::Refused {
                    retry_after: Duration::from_secs(1),
                    failures,
                }
            }
        };
        Admission::Go(Ticket {
            breaker: self,
            probe,
            reported: false,
        })
    }

    /// Whether the circuit is open or probing now (for readiness).
    pub(super) fn is_open(&self) -> bool {
        !matches!(
            *self.state.lock().expect("breaker lock"),
            State::Closed { .. }
        )
    }
}

impl Ticket<'_> {
    /// The call got an answer that shows upstream is up.
    pub(super) fn succeeded(mut self) {
        self.reported = true;
        *self.breaker.state.lock().expect("breaker lock") = State::Closed { failures: 0 };
    }

    /// The call failed as an outage does. True when this opened the circuit.
    pub(super) fn failed(mut self) -> bool {
        self.reported = true;
        let breaker = self.breaker;
        let mut state = breaker.state.lock().expect("breaker lock");
        let failures = match *state {
            State::Closed { failures }
            | State::Open { failures, .. }
            | State::HalfOpen { failures, .. } => failures.saturating_add(1),
        };
        if self.probe || failures >= breaker.threshold {
            let was_closed = matches!(*state, State::Closed { .. });
            *state = State::Open {
                until: Instant::now() + breaker.cooldown,
                failures,
            };
            was_closed
        } else {
            *state = State::Closed { failures };
            false
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            let mut state = self.breaker.state.lock().expect("breaker lock");
            if let State::HalfOpen { failures, .. } = *state {
                *state = State::HalfOpen {
                    probing: false,
                    failures,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(breaker: &Breaker) -> Ticket<'_> {
        match breaker.admit() {
            Admission::Go(ticket) => ticket,
            Admission::Refused { .. } => panic!("refused"),
        }
    }

    fn refused(breaker: &Breaker) -> bool {
        matches!(breaker.admit(), Admission::Refused { .. })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_refuses_during_the_cooldown_then_one_probe_decides() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        assert!(!go(&breaker).failed());
        assert!(!go(&breaker).failed());
        assert!(go(&breaker).failed(), "the third failure opens it");
        assert!(refused(&breaker));

        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = go(&breaker);
        assert!(refused(&breaker), "one probe at a time");
        probe.failed();
        assert!(refused(&breaker), "a failed probe opens it again");

        tokio::time::advance(Duration::from_secs(10)).await;
        go(&breaker).succeeded();
        assert!(!breaker.is_open());
        go(&breaker).succeeded();
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count_and_an_abandoned_probe_frees_its_turn() {
        let breaker = Breaker::new(2, Duration::from_secs(5));
        go(&breaker).failed();
        go(&breaker).succeeded();
        assert!(!go(&breaker).failed(), "the count restarted");
        go(&breaker).failed();
        assert!(refused(&breaker));

        tokio::time::advance(Duration::from_secs(5)).await;
        drop(go(&breaker));
        go(&breaker).succeeded();
        assert!(!breaker.is_open());
    }
}
