//! What mutations changed, so that kept responses that read it go stale and
//! nothing else does.
//!
//! Every read of live upstream state (a conversation, the active listing)
//! is noted as a [`Tag`] in the request's scope ([`crate::freshness`]). A
//! kept response remembers its tags and the [`Changes::epoch`] its request
//! started in. A mutation that succeeded upstream [`record`](Changes::record)s
//! the tags it changed under a new epoch; a kept response is fresh while none
//! of its tags changed after its epoch. A mutation that failed, changed
//! nothing or never reached upstream (`mutation { __typename }`) records
//! nothing, whoever sent it and over whichever transport.
//!
//! Tags do not carry the credential scope: what one caller changed upstream
//! changed for every caller. The record of changed tags is bounded; when one
//! is dropped to make room, every response kept before that moment goes
//! stale (the safe side).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where a replica tells the others what a mutation changed (the shared
/// store's change feed), so that they forget it too.
#[async_trait::async_trait]
pub(crate) trait SharedChanges: Send + Sync {
    /// A mutation changed this conversation upstream.
    async fn conversation_changed(&self, conversation_id: &str);
}

/// A hashed name of one upstream value that mutations can change.
pub(crate) type Tag = u64;

/// The most changed tags remembered; older ones fold into the floor.
const REMEMBERED: u64 = 10_000;

/// What a response read: some tags, or too many to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reads {
    Tags(Box<[Tag]>),
    /// More than a response keeps track of: any change makes it stale.
    Everything,
}

/// The record of changes.
pub(crate) struct Changes {
    epoch: AtomicU64,
    /// The epoch of the latest change of any tag (a fast path: a response
    /// kept after it needs no look at its tags).
    latest: AtomicU64,
    /// Responses kept before this epoch are stale (a changed tag was
    /// forgotten to stay within bounds).
    floor: Arc<AtomicU64>,
    changed: moka::sync::Cache<Tag, u64>,
}

impl Default for Changes {
    fn default() -> Self {
        Self::new()
    }
}

impl Changes {
    /// An empty record.
    pub(crate) fn new() -> Self {
        let floor = Arc::new(AtomicU64::new(0));
        let forgotten = Arc::clone(&floor);
        let changed = moka::sync::Cache::builder()
            .max_capacity(REMEMBERED)
            .eviction_listener(
                move |_, epoch: u64, cause: moka::notification::RemovalCause| {
                    // Dropped to make room: what it said is forgotten. (A tag
                    // changed again just replaces its epoch.)
                    if cause.was_evicted() {
                        forgotten.fetch_max(epoch, Ordering::AcqRel);
                    }
                },
            )
            .build();
        Self {
            epoch: AtomicU64::new(0),
            latest: AtomicU64::new(0),
            floor,
            changed,
        }
    }

    /// The current epoch (taken when a request starts).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Records that `tags` changed (a mutation succeeded upstream).
    pub(crate) fn record(&self, tags: impl IntoIterator<Item = Tag>) {
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        for tag in tags {
            self.changed.insert(tag, epoch);
        }
        self.latest.fetch_max(epoch, Ordering::AcqRel);
    }

    /// Whether nothing `reads` names changed after `epoch`.
    pub(crate) fn unchanged_since(&self, epoch: u64, reads: &Reads) -> bool {
        if self.latest.load(Ordering::Acquire) <= epoch {
            return true;
        }
        if self.floor.load(Ordering::Acquire) > epoch {
            return false;
        }
        match reads {
            Reads::Everything => false,
            Reads::Tags(tags) => tags
                .iter()
                .all(|tag| self.changed.get(tag).is_none_or(|changed| changed <= epoch)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_goes_stale_only_when_something_it_read_changed_after_it_started() {
        let changes = Changes::new();
        let (a, b): (Tag, Tag) = (1, 2);
        let read_a = Reads::Tags(Box::new([a]));
        let started = changes.epoch();
        assert!(changes.unchanged_since(started, &read_a));
        changes.record([b]);
        assert!(
            changes.unchanged_since(started, &read_a),
            "b changed, not a"
        );
        assert!(!changes.unchanged_since(started, &Reads::Everything));
        changes.record([a]);
        assert!(!changes.unchanged_since(started, &read_a));
        assert!(
            changes.unchanged_since(changes.epoch(), &read_a),
            "a response started after"
        );
    }

    #[test]
    fn a_tag_changed_again_does_not_make_other_responses_stale() {
        let changes = Changes::new();
        let (a, c): (Tag, Tag) = (1, 3);
        let kept = changes.epoch();
        changes.record([a]);
        changes.record([a]);
        changes.changed.run_pending_tasks();
        assert!(changes.unchanged_since(kept, &Reads::Tags(Box::new([c]))));
        assert!(!changes.unchanged_since(kept, &Reads::Tags(Box::new([a]))));
    }
}
