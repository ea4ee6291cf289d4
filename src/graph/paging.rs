//! Relay pagination over keyset cursors: checked `first` / `last` /
//! `after` / `before`, the window they pick, opaque cursor text.

use async_graphql::connection::CursorType;
use async_graphql::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::errors::bad_input;
use crate::upstream::shortened;

/// Limits resolvers enforce.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_page_size: usize,
}

/// How many items a connection's selection is counted for in complexity:
/// its `first` or `last`, or the default page.
pub(super) fn page_weight(first: Option<i32>, last: Option<i32>) -> usize {
    first
        .or(last)
        .map_or(super::limits::DEFAULT_PAGE_SIZE, |n| n.max(0) as usize)
}

/// Checked pagination arguments over keyset cursors of type `C`.
pub(super) struct Page<C> {
    pub(super) first: Option<usize>,
    pub(super) last: Option<usize>,
    pub(super) after: Option<C>,
    pub(super) before: Option<C>,
}

impl<C: CursorType<Error = String> + Ord> Page<C> {
    pub(super) fn parse(
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Self> {
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        Self::checked(max, first, after.as_deref(), last, before.as_deref()).map_err(bad_input)
    }

    /// [`Self::parse`] with the largest page `max`; the error is the
    /// message of a `BAD_USER_INPUT`.
    pub(super) fn checked(
        max: usize,
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> Result<Self, String> {
        let count = |name: &str, n: Option<i32>| -> Result<Option<usize>, String> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Err(format!("`{name}` must not be negative")),
                Some(n) if n as usize > max => Err(format!("`{name}` must be at most {max}")),
                Some(n) => Ok(Some(n as usize)),
            }
        };
        let cursor = |c: Option<&str>| c.map(C::decode_cursor).transpose();
        let (first, last) = (count("first", first)?, count("last", last)?);
        if first.is_some() && last.is_some() {
            return Err("pass `first` or `last`, not both".to_owned());
        }
        Ok(Self {
            first: first.or(if last.is_none() {
                Some(max.min(super::limits::DEFAULT_PAGE_SIZE))
            } else {
                None
            }),
            last,
            after: cursor(after)?,
            before: cursor(before)?,
        })
    }

    /// The half-open range of `sorted` this page covers.
    pub(super) fn window<T>(&self, sorted: &[(C, T)]) -> (usize, usize) {
        let mut start = match &self.after {
            Some(after) => sorted.partition_point(|(c, _)| c <= after),
            None => 0,
        };
        let mut end = match &self.before {
            Some(before) => sorted.partition_point(|(c, _)| c < before),
            None => sorted.len(),
        };
        end = end.max(start);
        if let Some(first) = self.first {
            end = end.min(start + first);
        }
        if let Some(last) = self.last {
            start = start.max(end.saturating_sub(last));
        }
        (start, end)
    }
}

pub(super) fn invalid_cursor(cursor: &str) -> String {
    format!(
        "`{}` is not a cursor of this connection",
        shortened(cursor, 64)
    )
}

/// The text of an opaque cursor after its `prefix` (which names its kind
/// and version).
pub(super) fn cursor_text(cursor: &str, prefix: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid_cursor(cursor))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid_cursor(cursor))?;
    text.strip_prefix(prefix)
        .map(str::to_owned)
        .ok_or_else(|| invalid_cursor(cursor))
}
