//! Subscriptions: co-browse session changes as they arrive, over
//! graphql-transport-ws at `/graphql/ws`.
//!
//! Webhook ingest publishes a [`SessionUpdate`] on a bounded broadcast
//! channel after the event is committed. A subscriber that falls more than
//! the channel's capacity behind gets an error item saying how many updates
//! it missed (never a silent gap) and keeps receiving.

use crate::auth::Needs;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, Subscription as SubscriptionMacro};
use futures::Stream;
use tokio::sync::broadcast;

use super::errors::coded;
use super::session::{CoBrowseSession, SessionProvider};
use crate::zoom::event::EventKind;
use crate::zoom::fold::ZoomSession;

/// How many updates the channel holds for slow subscribers.
pub const UPDATE_BUFFER: usize = 1024;

/// One change of a session.
#[derive(Clone, Debug)]
pub struct SessionUpdate {
    pub event: EventKind,
    pub session: Arc<ZoomSession>,
}

/// One change of a co-browse session.
#[Object(name = "SessionUpdate")]
impl SessionUpdate {
    /// The webhook event behind the change (e.g. `cobrowse.session_user_joined`).
    async fn event(&self) -> &str {
        self.event.wire()
    }
    /// The session as it is after the change.
    async fn session(&self) -> CoBrowseSession {
        CoBrowseSession::Zoom(Arc::clone(&self.session))
    }
}

/// The root of subscriptions.
pub struct Subscription;

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
                    .is_none_or(|id| id == update.session.session_id)
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
