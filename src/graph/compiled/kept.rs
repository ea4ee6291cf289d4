//! Written parts of responses, kept: the bytes of a selection whose value
//! is a function of immutable data alone (a conversation's model and the
//! user and queue records of its participants, compared by identity; no
//! field that reads the clock), reused while that data is the same.
//!
//! Holding the model and records it was written from keeps their
//! addresses from being reused, so identity is a safe comparison. Bounded:
//! a selection keeps at most [`MAX_ENTRIES`] conversations, and all kept
//! parts together at most [`MAX_BYTES`] (beyond, parts are written and not
//! kept).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::purecloud::Conversation;
use crate::upstream::model::{Queue, User};

/// The most conversations one selection keeps the bytes of.
const MAX_ENTRIES: usize = 512;
/// The most bytes kept by every selection of every plan together.
const MAX_BYTES: usize = 8 << 20;

static KEPT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The user and queue records of each participant, in order.
pub(crate) type Records = Vec<(Option<Arc<User>>, Option<Arc<Queue>>)>;

/// The kept bytes of one selection, by conversation.
#[derive(Default)]
pub(crate) struct Kept {
    parts: Mutex<HashMap<usize, Part>>,
}

struct Part {
    model: Arc<Conversation>,
    records: Records,
    bytes: Box<[u8]>,
}

fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl Kept {
    /// Appends to `out` the bytes written from exactly `model` and
    /// `records`, if they are kept; whether they were.
    pub(crate) fn copy(
        &self,
        model: &Arc<Conversation>,
        records: &Records,
        out: &mut Vec<u8>,
    ) -> bool {
        let parts = self.parts.lock().expect("kept parts lock");
        let Some(part) = parts.get(&(Arc::as_ptr(model) as usize)) else {
            return false;
        };
        let unchanged = Arc::ptr_eq(&part.model, model)
            && part.records.len() == records.len()
            && part
                .records
                .iter()
                .zip(records)
                .all(|(a, b)| same(&a.0, &b.0) && same(&a.1, &b.1));
        if unchanged {
            out.extend_from_slice(&part.bytes);
        }
        unchanged
    }

    /// Keeps `bytes`, written from `model` and `records`.
    pub(crate) fn put(&self, model: &Arc<Conversation>, records: Records, bytes: &[u8]) {
        let mut parts = self.parts.lock().expect("kept parts lock");
        if parts.len() >= MAX_ENTRIES {
            Self::forget(&mut parts);
        }
        if KEPT_BYTES.fetch_add(bytes.len(), Ordering::Relaxed) + bytes.len() > MAX_BYTES {
            KEPT_BYTES.fetch_sub(bytes.len(), Ordering::Relaxed);
            return;
        }
        let replaced = parts.insert(
            Arc::as_ptr(model) as usize,
            Part {
                model: Arc::clone(model),
                records,
                bytes: bytes.into(),
            },
        );
        if let Some(old) = replaced {
            KEPT_BYTES.fetch_sub(old.bytes.len(), Ordering::Relaxed);
        }
    }

    fn forget(parts: &mut HashMap<usize, Part>) {
        let bytes: usize = parts.values().map(|p| p.bytes.len()).sum();
        KEPT_BYTES.fetch_sub(bytes, Ordering::Relaxed);
        parts.clear();
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if let Ok(parts) = self.parts.get_mut() {
            Self::forget(parts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purecloud::Inputs;

    fn model() -> Arc<Conversation> {
        Arc::new(Conversation::build("c1", Inputs::default()))
    }

    fn user(name: &str) -> Arc<User> {
        Arc::new(User {
            name: Some(name.into()),
            ..User::default()
        })
    }

    #[test]
    fn kept_bytes_are_reused_only_for_the_same_model_and_the_same_records() {
        let kept = Kept::default();
        let (a, b) = (model(), model());
        let ann = user("Ann");
        let records: Records = vec![(Some(Arc::clone(&ann)), None)];
        kept.put(&a, records.clone(), b"[1]");
        let mut out = Vec::new();
        assert!(kept.copy(&a, &records, &mut out));
        assert_eq!(out, b"[1]");
        // Equal content, other values: written again.
        assert!(!kept.copy(&b, &records, &mut out));
        assert!(!kept.copy(&a, &vec![(Some(user("Ann")), None)], &mut out));
        assert!(!kept.copy(&a, &vec![(None, None)], &mut out));
        assert_eq!(out, b"[1]");
    }
}
