//! Subscriptions: co-browse session changes as they arrive, over
//! graphql-transport-ws at `/graphql/ws`.
//!
//! Webhook ingest publishes a [`SessionUpdate`] on a bounded broadcast
//! channel after the event is committed. A subscriber that falls more than
//! the channel's capacity behind gets an error item saying how many updates
//! it missed (never a silent gap) and keeps receiving.
//!
//! An update names its session; the session's state is read from the store
//! only when a subscriber asks for it, once per update however many ask
//! (so a webhook's acknowledgement never waits on reading a long session).

use super::guard::Needs;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, Subscription as SubscriptionMacro};
use futures::Stream;
use tokio::sync::{broadcast, OnceCell};

use super::context::store;
use super::conversation::{Fallible, Session, SessionProvider};
use super::errors::{coded, GqlResult};
use crate::zoom::event::EventKind;
use crate::zoom::fold::ZoomSession;

/// How many updates the channel holds for slow subscribers.
pub(crate) const UPDATE_BUFFER: usize = 1024;

/// One change of a session.
#[derive(Clone, Debug)]
pub(crate) struct SessionUpdate {
    pub event: EventKind,
    pub account_id: Arc<str>,
    pub session_id: Arc<str>,
    /// The session's state, read once when the first subscriber asks.
    state: Arc<OnceCell<Option<Arc<ZoomSession>>>>,
}

impl SessionUpdate {
    /// A change of session `session_id` of `account_id` by `event`.
    pub(crate) fn new(event: EventKind, account_id: &str, session_id: &str) -> Self {
        Self {
            event,
            account_id: account_id.into(),
            session_id: session_id.into(),
            state: Arc::default(),
        }
    }
}

/// One change of a co-browse session.
#[Object(name = "SessionUpdate")]
impl SessionUpdate {
    /// The webhook event behind the change (e.g. `cobrowse.session_user_joined`).
    async fn event(&self) -> &str {
        self.event.wire()
    }
    /// The session as it is after the change (read when this update is
    /// delivered: it may include later changes too).
    async fn session(&self, ctx: &Context<'_>) -> Fallible<Session> {
        let state = self
            .state
            .get_or_try_init(|| async {
                store(ctx)
                    .session(Some(&self.account_id), &self.session_id)
                    .await
                    .map(|found| found.map(Arc::new))
            })
            .await
            .gql()?;
        match state {
            Some(session) => Ok(Some(Session::Zoom(Arc::clone(session)))),
            // Purged since (retention or `purgeEndedZoomSessions`).
            None => Err(coded(
                "NOT_FOUND",
                format!("session {} is no longer stored", self.session_id),
            )),
        }
    }
}

/// The root of subscriptions.
pub(crate) struct Subscription;

#[SubscriptionMacro]
impl Subscription {
    /// Session changes as they happen: Zoom sessions as their webhooks are
    /// stored. PureCloud sessions are read on demand and are not pushed.
    #[graphql(guard = "Needs::READ")]
    async fn cobrowse_session_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only updates of this provider.")] provider: Option<SessionProvider>,
        #[graphql(desc = "Only updates of this session (provider session id).")]
        provider_session_id: Option<String>,
    ) -> impl Stream<Item = Result<SessionUpdate>> {
        let receiver = ctx
            .data_unchecked::<broadcast::Sender<SessionUpdate>>()
            .subscribe();
        let wanted = move |update: &SessionUpdate| {
            provider.is_none_or(|p| p == SessionProvider::Zoom)
                && provider_session_id
                    .as_deref()
                    .is_none_or(|id| id == &*update.session_id)
        };
        futures::stream::unfold((receiver, wanted), |(mut receiver, wanted)| async move {
            loop {
                match receiver.recv().await {
                    Ok(update) if wanted(&update) => return Some((Ok(update), (receiver, wanted))),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let error = coded(
                            "SUBSCRIPTION_LAGGED",
                            format!("{missed} updates were missed; query the sessions again"),
                        );
                        return Some((Err(error), (receiver, wanted)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}
