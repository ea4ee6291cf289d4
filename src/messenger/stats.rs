//! Counts of Co-browse for Messenger sessions for statistics: offers and
//! their outcomes, and durations where both ends are known. Genesys's
//! analytics does not say whether it counts these sessions
//! (docs/upstream.md), so the gateway counts what it holds.

use chrono::{DateTime, Utc};

use super::{MessengerSession, Outcome};

/// The sessions of one group and bucket, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub offers: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub expired: i64,
    pub pending: i64,
    /// Sessions whose end is known.
    pub ended: i64,
    /// Of those, ends the customer's page reported (the others inferred
    /// from the conversation's agent leg).
    pub ended_by_page: i64,
    /// Seconds from start to end, summed over the sessions with both.
    pub seconds: f64,
    /// How many sessions have both a start and an end.
    pub timed: i64,
}

impl Tally {
    /// Counts one session as of `now`.
    pub fn add(&mut self, session: &MessengerSession, now: DateTime<Utc>) {
        self.offers += 1;
        match session.outcome_at(now) {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Rejected => self.rejected += 1,
            Outcome::Expired => self.expired += 1,
            Outcome::Pending => self.pending += 1,
        }
        if let Some(end) = session.end() {
            self.ended += 1;
            if end.source == super::FactSource::Page {
                self.ended_by_page += 1;
            }
            if let Some(start) = session.start() {
                self.timed += 1;
                self.seconds += (end.at - start.at).num_milliseconds().max(0) as f64 / 1000.0;
            }
        }
    }

    /// Accepted offers out of those answered (accepted, rejected or
    /// expired); none when none was.
    pub fn acceptance_rate(&self) -> Option<f64> {
        let answered = self.accepted + self.rejected + self.expired;
        (answered > 0).then(|| self.accepted as f64 / answered as f64)
    }

    /// Mean seconds from start to end, over the sessions with both.
    pub fn average_seconds(&self) -> Option<f64> {
        (self.timed > 0).then(|| self.seconds / self.timed as f64)
    }
}
