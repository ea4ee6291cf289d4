//! Written parts of responses, kept: the bytes of a conversation's object,
//! a function of immutable data (its model and the user and queue records
//! of its participants, compared by identity) and of the clock, reused
//! while that data is the same. The values that read the clock (the
//! duration of what has not ended) are holes in the kept bytes, written
//! afresh into every copy.
//!
//! Holding the model and records it was written from keeps their
//! addresses from being reused, so identity is a safe comparison. Bounded:
//! a selection keeps at most [`MAX_ENTRIES`] conversations, and all kept
//! parts together at most [`MAX_BYTES`] (beyond, parts are written and not
//! kept).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::purecloud::{ConversationModel, Time};
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
pub(crate) struct ObjectBytes {
    parts: Mutex<HashMap<usize, ObjectPart>>,
}

struct ObjectPart {
    model: Arc<ConversationModel>,
    records: Records,
    bytes: Box<[u8]>,
    holes: Box<[Hole]>,
}

/// A value of kept bytes that is a duration until now: at `at`, `len`
/// bytes long when written, since `since`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hole {
    pub at: usize,
    pub len: usize,
    pub since: Time,
}

fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl ObjectBytes {
    /// Appends to `out` the bytes written from exactly `model` and
    /// `records`, if they are kept, with each hole's value written by
    /// `fill`; whether they were.
    pub(crate) fn copy(
        &self,
        model: &Arc<ConversationModel>,
        records: &Records,
        out: &mut Vec<u8>,
        mut fill: impl FnMut(&mut Vec<u8>, Time),
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
        if !unchanged {
            return false;
        }
        let mut from = 0;
        for hole in part.holes.iter() {
            out.extend_from_slice(&part.bytes[from..hole.at]);
            fill(out, hole.since);
            from = hole.at + hole.len;
        }
        out.extend_from_slice(&part.bytes[from..]);
        true
    }

    /// Keeps `bytes`, written from `model` and `records`, with the
    /// `holes` in them (in order).
    pub(crate) fn put(
        &self,
        model: &Arc<ConversationModel>,
        records: Records,
        bytes: &[u8],
        holes: Vec<Hole>,
    ) {
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
            ObjectPart {
                model: Arc::clone(model),
                records,
                bytes: bytes.into(),
                holes: holes.into(),
            },
        );
        if let Some(old) = replaced {
            KEPT_BYTES.fetch_sub(old.bytes.len(), Ordering::Relaxed);
        }
    }

    fn forget(parts: &mut HashMap<usize, ObjectPart>) {
        let bytes: usize = parts.values().map(|p| p.bytes.len()).sum();
        KEPT_BYTES.fetch_sub(bytes, Ordering::Relaxed);
        parts.clear();
    }
}

impl Drop for ObjectBytes {
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

    fn model() -> Arc<ConversationModel> {
        Arc::new(ConversationModel::build("c1", Inputs::default()))
    }

    fn user(name: &str) -> Arc<User> {
        Arc::new(User {
            name: Some(name.into()),
            ..User::default()
        })
    }

    #[test]
    fn kept_bytes_are_reused_only_for_the_same_model_and_the_same_records() {
        let kept = ObjectBytes::default();
        let (a, b) = (model(), model());
        let ann = user("Ann");
        let records: Records = vec![(Some(Arc::clone(&ann)), None)];
        kept.put(&a, records.clone(), b"[1]", Vec::new());
        let mut out = Vec::new();
        let never = |_: &mut Vec<u8>, _| unreachable!("no holes");
        assert!(kept.copy(&a, &records, &mut out, never));
        assert_eq!(out, b"[1]");
        // Equal content, other values: written again.
        assert!(!kept.copy(&b, &records, &mut out, never));
        assert!(!kept.copy(&a, &vec![(Some(user("Ann")), None)], &mut out, never));
        assert!(!kept.copy(&a, &vec![(None, None)], &mut out, never));
        assert_eq!(out, b"[1]");
    }

    #[test]
    fn holes_are_written_afresh_into_every_copy() {
        let kept = ObjectBytes::default();
        let a = model();
        let (t1, t2) = (
            "2026-12-01T10:00:00Z".parse().expect("a time"),
            "2026-12-01T11:00:00Z".parse().expect("a time"),
        );
        let holes = vec![
            Hole {
                at: 5,
                len: 2,
                since: t1,
            },
            Hole {
                at: 12,
                len: 4,
                since: t2,
            },
        ];
        kept.put(&a, Vec::new(), b"{\"a\":10,\"b\":2.25}", holes);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        assert!(kept.copy(&a, &Vec::new(), &mut out, |out, since| {
            seen.push(since);
            out.extend_from_slice(if since == t1 { b"7" } else { b"100.5" });
        }));
        assert_eq!(out, b"{\"a\":7,\"b\":100.5}");
        assert_eq!(seen, [t1, t2]);
    }
}
