//! Partial results as the GraphQL specification says (Handling Field
//! Errors): a field that fails is `null` in `data` with its error at its
//! path; the failure of a non-null field nulls its nearest nullable parent;
//! `data` is `null` only when a failure reaches the root.
//!
//! async-graphql drops a failed field's key from its object instead (and
//! answers `data: null` when every root field failed), so the gateway
//! completes results itself, in the resolve hook every field and list item
//! passes through ([`Completion::settle`]): no failure leaves that hook as an
//! error; it becomes a `null`, and a non-null one is remembered until the
//! nearest nullable field above it (or the root) takes it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_graphql::{PathSegment, QueryPathNode, QueryPathSegment, Response, ServerResult, Value};

/// One request's field errors and its non-null failures not yet absorbed.
#[derive(Default)]
pub(crate) struct Completion {
    errors: Mutex<Vec<async_graphql::ServerError>>,
    /// Paths of non-null fields that failed, waiting for a nullable parent.
    failed: Mutex<Vec<Vec<PathSegment>>>,
    /// How many paths `failed` holds: the hot path reads only this.
    pending: AtomicUsize,
}

impl Completion {
    /// Completes one field (or list item) at `path` whose type is
    /// `return_type` (`"Conversation!"`, `"[User]"`, …) from what its
    /// resolver gave.
    pub(crate) fn settle(
        &self,
        path: &QueryPathNode<'_>,
        return_type: &str,
        result: ServerResult<Option<Value>>,
    ) -> ServerResult<Option<Value>> {
        match result {
            Ok(value) if self.pending.load(Ordering::Acquire) == 0 => return Ok(value),
            Ok(value) => {
                if !self.absorb_under(path) {
                    return Ok(value);
                }
            }
            Err(mut error) => {
                self.absorb_under(path);
                if error.path.is_empty() {
                    error.path = segments(path);
                }
                lock(&self.errors).push(error);
            }
        }
        if return_type.ends_with('!') {
            lock(&self.failed).push(segments(path));
            self.pending.fetch_add(1, Ordering::AcqRel);
        }
        Ok(Some(Value::Null))
    }

    /// Puts the errors into the response, and nulls `data` when a non-null
    /// failure reached the root. Leaves the state empty for the next event
    /// of a subscription.
    pub(crate) fn finish(&self, response: &mut Response) {
        response
            .errors
            .extend(std::mem::take(&mut *lock(&self.errors)));
        let failed = std::mem::take(&mut *lock(&self.failed));
        self.pending.store(0, Ordering::Release);
        if !failed.is_empty() {
            response.data = Value::Null;
        }
    }

    /// Removes the failures strictly under `path`; whether there were any.
    fn absorb_under(&self, path: &QueryPathNode<'_>) -> bool {
        let mut failed = lock(&self.failed);
        let before = failed.len();
        failed.retain(|f| !is_under(f, path));
        let absorbed = before - failed.len();
        if absorbed > 0 {
            self.pending.fetch_sub(absorbed, Ordering::AcqRel);
        }
        absorbed > 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn segments(path: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut nodes: Vec<&QueryPathNode<'_>> = std::iter::once(path).chain(path.parents()).collect();
    nodes.reverse();
    nodes
        .into_iter()
        .map(|node| match node.segment {
            QueryPathSegment::Index(i) => PathSegment::Index(i),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        })
        .collect()
}

/// Whether `failed` lies strictly below `path`.
fn is_under(failed: &[PathSegment], path: &QueryPathNode<'_>) -> bool {
    let depth = 1 + path.parents().count();
    if failed.len() <= depth {
        return false;
    }
    std::iter::once(path)
        .chain(path.parents())
        .zip(failed[..depth].iter().rev())
        .all(|(node, segment)| match (node.segment, segment) {
            (QueryPathSegment::Index(a), PathSegment::Index(b)) => a == *b,
            (QueryPathSegment::Name(a), PathSegment::Field(b)) => a == b,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(
        parent: Option<&'a QueryPathNode<'a>>,
        segment: QueryPathSegment<'a>,
    ) -> QueryPathNode<'a> {
        QueryPathNode { parent, segment }
    }

    #[test]
    fn a_failure_below_a_nullable_field_nulls_that_field_and_no_more() {
        let completion = Completion::default();
        let root = node(None, QueryPathSegment::Name("conversation"));
        let list = node(Some(&root), QueryPathSegment::Name("participants"));
        let item = node(Some(&list), QueryPathSegment::Index(1));
        let id = node(Some(&item), QueryPathSegment::Name("id"));

        let failed = completion.settle(&id, "ID!", Err(async_graphql::ServerError::new("x", None)));
        assert_eq!(failed.unwrap(), Some(Value::Null));
        // The item is non-null: it is null for now and passes the failure up.
        let item_value = completion.settle(&item, "Participant!", Ok(Some(Value::Null)));
        assert_eq!(item_value.unwrap(), Some(Value::Null));
        // The list is nullable: it takes the failure.
        let list_value = completion.settle(&list, "[Participant!]", Ok(Some(Value::List(vec![]))));
        assert_eq!(list_value.unwrap(), Some(Value::Null));
        // Its parent keeps its value.
        let kept = Some(Value::String("kept".into()));
        assert_eq!(
            completion
                .settle(&root, "Conversation", Ok(kept.clone()))
                .unwrap(),
            kept
        );

        let mut response = Response::new(Value::Object(Default::default()));
        completion.finish(&mut response);
        assert_ne!(response.data, Value::Null);
        assert_eq!(response.errors.len(), 1);
        assert_eq!(
            response.errors[0].path,
            vec![
                PathSegment::Field("conversation".into()),
                PathSegment::Field("participants".into()),
                PathSegment::Index(1),
                PathSegment::Field("id".into()),
            ]
        );
    }

    #[test]
    fn a_non_null_failure_that_reaches_the_root_nulls_data() {
        let completion = Completion::default();
        let root = node(None, QueryPathSegment::Name("wrapupCodes"));
        let value = completion.settle(
            &root,
            "[WrapupCode!]!",
            Err(async_graphql::ServerError::new("x", None)),
        );
        assert_eq!(value.unwrap(), Some(Value::Null));
        let mut response = Response::new(Value::Object(Default::default()));
        completion.finish(&mut response);
        assert_eq!(response.data, Value::Null);
        assert_eq!(response.errors.len(), 1);
    }

    #[test]
    fn a_sibling_path_that_shares_a_prefix_is_not_under() {
        let a = node(None, QueryPathSegment::Name("a"));
        let failed = vec![
            PathSegment::Field("ab".into()),
            PathSegment::Field("x".into()),
        ];
        assert!(!is_under(&failed, &a));
        let failed = vec![
            PathSegment::Field("a".into()),
            PathSegment::Field("x".into()),
        ];
        assert!(is_under(&failed, &a));
        assert!(!is_under(&[PathSegment::Field("a".into())], &a));
    }
}
