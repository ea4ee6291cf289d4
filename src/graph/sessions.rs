//! `Query.cobrowseSessions`: co-browse sessions of every provider in one
//! keyset-paged listing, newest start first.
//!
//! PureCloud sessions come from the conversations with co-browse going on
//! now (a few dozen, in memory). Zoom sessions can be many (every session
//! the webhook store holds within its retention), so their filter, order
//! and paging go into the store's query: a page reads at most one more
//! session than it returns, `totalCount` is a count, and every stored
//! session is reachable by paging.

use std::cmp::Ordering;
use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Result, SimpleObject};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::context::{source, store};
use super::conversation::{PureCloudSession, Session, SessionProvider, SessionState};
use super::errors::{bad_input, GqlResult};
use super::paging::{cursor_text, invalid_cursor, Page};
use crate::purecloud::Shapes;
use crate::store::{self, Bound, Place, Window};

/// Which co-browse sessions to list.
#[derive(InputObject, Default)]
pub(crate) struct SessionFilter {
    /// Only sessions of this provider.
    provider: Option<SessionProvider>,
    /// Only active or only ended sessions.
    state: Option<SessionState>,
    /// Only sessions that started at or after this time.
    started_after: Option<DateTime<Utc>>,
    /// Only sessions that started before this time.
    started_before: Option<DateTime<Utc>>,
}

impl SessionFilter {
    fn matches(&self, session: &Session) -> bool {
        let start = session.start();
        self.provider.is_none_or(|p| p == session.provider())
            && self.state.is_none_or(|s| s == session.state())
            && self
                .started_after
                .is_none_or(|a| start.is_some_and(|t| t >= a))
            && self
                .started_before
                .is_none_or(|b| start.is_some_and(|t| t < b))
    }

    fn wants(&self, provider: SessionProvider) -> bool {
        self.provider.is_none_or(|p| p == provider)
    }

    /// The same filter, as the store takes it.
    fn for_store(&self) -> store::StoredSessionFilter {
        store::StoredSessionFilter {
            ended: match self.state {
                Some(SessionState::Ended) => Some(true),
                Some(SessionState::Active) => Some(false),
                Some(SessionState::Offered) | None => None,
            },
            offered: self.state.map(|s| s == SessionState::Offered),
            started_after: self.started_after,
            started_before: self.started_before,
            ..store::StoredSessionFilter::default()
        }
    }
}

/// Extra fields of a session connection.
#[derive(SimpleObject)]
pub(crate) struct SessionCount {
    /// How many sessions match, over all pages.
    total_count: usize,
}

type ListedSession = (SessionCursor, Session);

/// One page of the listing.
pub(super) async fn list(
    ctx: &Context<'_>,
    filter: SessionFilter,
    page: Page<SessionCursor>,
) -> Result<Connection<SessionCursor, Session, SessionCount, EmptyFields>> {
    if let (Some(a), Some(b)) = (filter.started_after, filter.started_before) {
        if a >= b {
            return Err(bad_input("`startedAfter` must be before `startedBefore`"));
        }
    }
    let mut purecloud: Vec<ListedSession> = Vec::new();
    if filter.wants(SessionProvider::Purecloud) {
        purecloud = purecloud_sessions(ctx)
            .await?
            .into_iter()
            .filter(|s| filter.matches(s))
            .map(|s| (SessionCursor::of(&s), s))
            .collect();
        purecloud.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut stored = Vec::new();
    // Zoom sessions are never offers.
    if filter.wants(SessionProvider::Zoom) && filter.state != Some(SessionState::Offered) {
        stored.push(Stored::zoom(ctx, filter.for_store()));
    }
    // Co-browse for Messenger sessions are PureCloud's, kept in the store.
    if filter.wants(SessionProvider::Purecloud) {
        stored.push(Stored::messenger(ctx, filter.for_store()));
    }
    let (window, more_inside) = window(&page, &purecloud, &stored).await?;
    // Is there anything before `after` (at it included), or after `before`?
    let earlier = match &page.after {
        Some(a) => purecloud.iter().any(|(c, _)| c <= a) || Stored::any(&stored, a, true).await?,
        None => false,
    };
    let later = match &page.before {
        Some(b) => purecloud.iter().any(|(c, _)| c >= b) || Stored::any(&stored, b, false).await?,
        None => false,
    };
    let (has_previous, has_next) = if page.first.is_none() {
        (more_inside || earlier, later)
    } else {
        (earlier, more_inside || later)
    };
    let mut total_count = purecloud.len();
    for side in &stored {
        total_count += side.count().await?;
    }
    let mut connection =
        Connection::with_additional_fields(has_previous, has_next, SessionCount { total_count });
    for (cursor, session) in window {
        connection.edges.push(Edge::new(cursor, session));
    }
    Ok(connection)
}

/// The sessions of the page, and whether the window between its cursors
/// holds more than the page: every PureCloud session of the window, and at
/// most n + 1 stored sessions of each stored kind from the page's end of
/// it, merged.
async fn window(
    page: &Page<SessionCursor>,
    purecloud: &[ListedSession],
    stored: &[Stored<'_>],
) -> Result<(Vec<ListedSession>, bool)> {
    let (after, before) = (page.after.as_ref(), page.before.as_ref());
    let inside = |c: &SessionCursor| after.is_none_or(|a| c > a) && before.is_none_or(|b| c < b);
    let n = page.first.or(page.last).unwrap_or(0);
    let from_back = page.first.is_none();
    let mut window: Vec<ListedSession> = purecloud
        .iter()
        .filter(|(c, _)| inside(c))
        .cloned()
        .collect();
    for side in stored {
        window.extend(
            side.window(Window {
                after: after.and_then(|c| side.bound(c, false, true)),
                before: before.and_then(|c| side.bound(c, false, false)),
                limit: n + 1,
                from_back,
            })
            .await?,
        );
    }
    window.sort_by(|a, b| a.0.cmp(&b.0));
    let more = window.len() > n;
    if from_back {
        window.drain(..window.len().saturating_sub(n));
    } else {
        window.truncate(n);
    }
    Ok((window, more))
}

/// Which kind of stored session.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Zoom,
    Messenger,
}

/// A kind of session kept in the store (Zoom's, Co-browse for
/// Messenger's), and the filter in the store's terms.
pub(super) struct Stored<'a> {
    store: &'a dyn crate::store::EventStore,
    filter: store::StoredSessionFilter,
    side: Side,
}

impl<'a> Stored<'a> {
    pub(super) fn zoom(ctx: &Context<'a>, filter: store::StoredSessionFilter) -> Self {
        Self {
            store: store(ctx),
            filter,
            side: Side::Zoom,
        }
    }

    pub(super) fn messenger(ctx: &Context<'a>, filter: store::StoredSessionFilter) -> Self {
        Self {
            store: store(ctx),
            filter,
            side: Side::Messenger,
        }
    }

    /// Where `cursor` sits among this kind's sessions, as a bound after it
    /// (`after`) or before it; `inclusive`: a session at the cursor's very
    /// place is inside. None: every session is on that side of it.
    pub(super) fn bound(
        &self,
        cursor: &SessionCursor,
        inclusive: bool,
        after: bool,
    ) -> Option<Bound> {
        match self.side {
            Side::Zoom => Some(cursor.bound(inclusive)),
            Side::Messenger => cursor.messenger_bound(inclusive, after),
        }
    }

    pub(super) async fn window(&self, window: Window) -> Result<Vec<ListedSession>> {
        let sessions: Vec<Session> = match self.side {
            Side::Zoom => self
                .store
                .sessions(&self.filter, &window)
                .await
                .gql()?
                .into_iter()
                .map(|z| Session::Zoom(Arc::new(z)))
                .collect(),
            Side::Messenger => self
                .store
                .messenger_sessions(&self.filter, &window)
                .await
                .gql()?
                .into_iter()
                .map(|m| Session::Messenger(Arc::new(m)))
                .collect(),
        };
        Ok(sessions
            .into_iter()
            .map(|session| (SessionCursor::of(&session), session))
            .collect())
    }

    async fn count(&self) -> Result<usize> {
        match self.side {
            Side::Zoom => self.store.count(&self.filter).await.gql(),
            Side::Messenger => self.store.messenger_count(&self.filter).await.gql(),
        }
    }

    /// Whether any stored session lies before `cursor`, at it included (or
    /// after it, when `before` is false).
    async fn any(stored: &[Self], cursor: &SessionCursor, before: bool) -> Result<bool> {
        for side in stored {
            let Some(bound) = side.bound(cursor, true, !before) else {
                // Every session of this kind is on the asked side.
                if !side
                    .window(Window {
                        limit: 1,
                        ..Window::default()
                    })
                    .await?
                    .is_empty()
                {
                    return Ok(true);
                }
                continue;
            };
            let window = if before {
                Window {
                    before: Some(bound),
                    limit: 1,
                    from_back: true,
                    ..Window::default()
                }
            } else {
                Window {
                    after: Some(bound),
                    limit: 1,
                    ..Window::default()
                }
            };
            if !side.window(window).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The PureCloud sessions of the conversations the active listing names.
/// A conversation that cannot be read is reported at this field's path; the
/// others are still listed.
async fn purecloud_sessions(ctx: &Context<'_>) -> Result<Vec<Session>> {
    let source = source(ctx);
    let listing = source
        .active_listing()
        .await
        .map_err(|e| super::errors::upstream_for("cobrowseSessions", &e))?;
    if listing.cut {
        super::errors::listing_cut(ctx);
    }
    let fetched = futures::future::join_all(listing.entries.iter().map(|entry| async move {
        let listed = source.listed(entry);
        source
            .conversation(&listed.id, Shapes::FULL, Some(&listed))
            .await
    }))
    .await;
    let mut sessions = Vec::new();
    for result in fetched {
        match result {
            Ok(model) => sessions.extend(
                model
                    .sessions()
                    .into_iter()
                    .map(|s| Session::PureCloud(PureCloudSession::new(&model, s))),
            ),
            Err(e) => ctx.add_error(super::errors::upstream(&e).into_server_error(ctx.item.pos)),
        }
    }
    Ok(sessions)
}

/// A keyset cursor over sessions: newest start first, then provider, id
/// and (Zoom) account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionCursor {
    start_ms: i64,
    provider: SessionProvider,
    id: String,
    /// Zoom's account id (a Zoom session id is unique within its account).
    account: String,
}

impl SessionCursor {
    /// The cursor of these parts.
    pub(super) fn new(
        start_ms: i64,
        provider: SessionProvider,
        id: String,
        account: String,
    ) -> Self {
        Self {
            start_ms,
            provider,
            id,
            account,
        }
    }

    fn of(session: &Session) -> Self {
        let account = match session {
            Session::Zoom(z) => z.account_id.clone(),
            Session::PureCloud(_) | Session::Messenger(_) => String::new(),
        };
        Self {
            start_ms: session.start().map_or(i64::MIN, |t| t.timestamp_millis()),
            provider: session.provider(),
            id: session.provider_id().to_owned(),
            account,
        }
    }

    /// This cursor's place among Zoom sessions. A PureCloud session sits
    /// before every Zoom session with the same start.
    pub(super) fn bound(&self, inclusive: bool) -> Bound {
        let zoom = self.provider == SessionProvider::Zoom;
        Bound {
            place: Place {
                start_ms: (self.start_ms != i64::MIN).then_some(self.start_ms),
                session_id: if zoom { self.id.clone() } else { String::new() },
                account_id: if zoom {
                    self.account.clone()
                } else {
                    String::new()
                },
            },
            inclusive,
        }
    }
}

impl SessionCursor {
    /// This cursor's place among Co-browse for Messenger sessions (all
    /// PureCloud's, ordered by start and id like a legacy session; a Zoom
    /// session sits after every PureCloud session with its start): a bound
    /// after it (`after`) or before it. None: every one is on that side.
    pub(super) fn messenger_bound(&self, inclusive: bool, after: bool) -> Option<Bound> {
        let known = (self.start_ms != i64::MIN).then_some(self.start_ms);
        if self.provider != SessionProvider::Zoom {
            return Some(Bound {
                place: Place {
                    start_ms: known,
                    session_id: self.id.clone(),
                    account_id: String::new(),
                },
                inclusive,
            });
        }
        match known {
            // After a Zoom session that started at t: the sessions that
            // started before t, i.e. at t - 1 ms or earlier (from the
            // smallest id); before it: those that started at t or later.
            Some(t) => Some(Bound {
                place: Place {
                    start_ms: Some(t - 1),
                    session_id: String::new(),
                    account_id: String::new(),
                },
                inclusive: after,
            }),
            // A Zoom session of unknown start is listed after every
            // PureCloud one: nothing is after it, everything before it.
            None if after => Some(Bound {
                place: Place {
                    start_ms: None,
                    session_id: "\u{10FFFF}".into(),
                    account_id: String::new(),
                },
                inclusive: false,
            }),
            None => None,
        }
    }
}

impl Ord for SessionCursor {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .start_ms
            .cmp(&self.start_ms)
            .then_with(|| self.provider.cmp(&other.provider))
            .then_with(|| self.id.cmp(&other.id))
            .then_with(|| self.account.cmp(&other.account))
    }
}

impl PartialOrd for SessionCursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl CursorType for SessionCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let invalid = || invalid_cursor(s);
        let rest = cursor_text(s, "s1:")?;
        let (start, rest) = rest.split_once(':').ok_or_else(invalid)?;
        let start_ms = start.parse().map_err(|_| invalid())?;
        let (provider, rest) = rest.split_once(':').ok_or_else(invalid)?;
        let (provider, account, id) = match provider {
            "P" => (SessionProvider::Purecloud, String::new(), rest.to_owned()),
            "Z" => {
                let (account, id) = rest.split_once(':').ok_or_else(invalid)?;
                let account = account.replace("%3A", ":").replace("%25", "%");
                (SessionProvider::Zoom, account, id.to_owned())
            }
            _ => return Err(invalid()),
        };
        Ok(Self {
            start_ms,
            provider,
            id,
            account,
        })
    }

    fn encode_cursor(&self) -> String {
        let text = match self.provider {
            SessionProvider::Purecloud => format!("s1:{}:P:{}", self.start_ms, self.id),
            SessionProvider::Zoom => format!(
                "s1:{}:Z:{}:{}",
                self.start_ms,
                self.account.replace('%', "%25").replace(':', "%3A"),
                self.id
            ),
        };
        URL_SAFE_NO_PAD.encode(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_survive_their_text_with_colons_in_ids() {
        for cursor in [
            SessionCursor {
                start_ms: 1_700_000_000_000,
                provider: SessionProvider::Zoom,
                id: "a:b".into(),
                account: "acc:1%".into(),
            },
            SessionCursor {
                start_ms: i64::MIN,
                provider: SessionProvider::Purecloud,
                id: "x:y".into(),
                account: String::new(),
            },
        ] {
            let text = cursor.encode_cursor();
            assert_eq!(SessionCursor::decode_cursor(&text), Ok(cursor));
        }
    }
}
