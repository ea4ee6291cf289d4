//! Subscriptions: co-browse session changes as they arrive, over
//! graphql-transport-ws at `/graphql/ws`.
//!
//! Both providers publish on one bounded broadcast channel of
//! [`SessionUpdate`]s ([`crate::updates`]): webhook ingest a Zoom one after
//! its event is committed, the live index a PureCloud one when a
//! notification (or a back-fill) changed a session. A subscriber that falls more than the channel's capacity behind gets an
//! error item saying how many updates it missed (never a silent gap) and
//! keeps receiving.
//!
//! An update names its session; the session is read (Zoom: from the store;
//! PureCloud: the conversation through the cache, which the event that
//! caused the update has just refreshed) only when a subscriber asks for
//! it, once per update however many ask (so a webhook's acknowledgement
//! never waits on reading a long session).

use super::guard::Needs;
use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, Subscription as SubscriptionMacro};
use futures::Stream;
use tokio::sync::broadcast;

use super::context::{source, store};
use super::conversation::{Fallible, Session, SessionProvider};
use super::errors::{coded, GqlResult};
use crate::live::UpdateKind;
use crate::purecloud::Shapes;
use crate::updates::{Origin, SessionUpdate, UpdatedSession};
use crate::zoom::event::EventKind;

/// What happened to a session.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "SessionUpdateKind")]
pub(crate) enum SessionUpdateKind {
    /// It started (or was first heard of).
    Started,
    /// Someone joined or left, control was granted, or its state moved.
    Changed,
    /// It is over.
    Ended,
}

/// The provider of an update's session; `None` for a lag notice, which
/// every subscriber gets.
fn provider_of(update: &SessionUpdate) -> Option<SessionProvider> {
    match update.origin() {
        Origin::Zoom { .. } => Some(SessionProvider::Zoom),
        Origin::PureCloud(_) | Origin::Messenger { .. } => Some(SessionProvider::Purecloud),
        Origin::Gap(_) | Origin::Lagged(_) => None,
    }
}

/// Reads the session an update names, as it is now.
async fn read(update: &SessionUpdate, ctx: &Context<'_>) -> Result<Option<UpdatedSession>> {
    match update.origin() {
        Origin::Zoom {
            account_id,
            session_id,
            ..
        } => store(ctx)
            .session(Some(account_id), session_id)
            .await
            .map(|found| found.map(|s| UpdatedSession::Zoom(Arc::new(s))))
            .gql(),
        Origin::PureCloud(update) => {
            let model = source(ctx)
                .conversation(&update.conversation_id, Shapes::FULL, None)
                .await
                .map_err(|e| super::errors::upstream(&e))?;
            Ok(model
                .session(&update.session_id)
                .map(|s| UpdatedSession::PureCloud(model, s)))
        }
        Origin::Messenger { change, .. } => store(ctx)
            .messenger_session(&change.session_id)
            .await
            .map(|found| found.map(|s| UpdatedSession::Messenger(Arc::new(s))))
            .gql(),
        Origin::Gap(_) | Origin::Lagged(_) => Ok(None),
    }
}

/// One change of a co-browse session.
#[Object(name = "SessionUpdate")]
impl SessionUpdate {
    /// What caused the change: the Zoom webhook event (e.g. `cobrowse.session_user_joined`), or `gateway.session_idle_ended` when no event came for a Zoom session for `webhooks.zoom_idle_after` and the gateway took it as ended; for legacy PureCloud co-browse and screen share `purecloud.session_started`, `purecloud.session_changed` or `purecloud.session_ended`; for Co-browse for Messenger `messenger.offered`, `messenger.accepted`, `messenger.rejected`, `messenger.expired`, `messenger.started` or `messenger.ended`.
    async fn event(&self) -> &str {
        match self.origin() {
            Origin::Zoom { event, .. } => event.wire(),
            Origin::PureCloud(update) => match update.kind {
                UpdateKind::Started => "purecloud.session_started",
                UpdateKind::Changed => "purecloud.session_changed",
                UpdateKind::Ended => "purecloud.session_ended",
            },
            Origin::Messenger { change, .. } => &change.event,
            Origin::Gap(_) => "purecloud.gap",
            Origin::Lagged(_) => "feed.lagged",
        }
    }
    /// What happened to the session.
    async fn kind(&self) -> SessionUpdateKind {
        match self.origin() {
            Origin::Zoom { event, .. } => match event {
                EventKind::SessionStarted => SessionUpdateKind::Started,
                EventKind::UserJoined | EventKind::UserLeft => SessionUpdateKind::Changed,
                EventKind::SessionEnded | EventKind::IdleEnded => SessionUpdateKind::Ended,
            },
            Origin::PureCloud(update) => match update.kind {
                UpdateKind::Started => SessionUpdateKind::Started,
                UpdateKind::Changed => SessionUpdateKind::Changed,
                UpdateKind::Ended => SessionUpdateKind::Ended,
            },
            Origin::Messenger { change, .. } => match change.event.as_str() {
                "messenger.offered" => SessionUpdateKind::Started,
                "messenger.rejected" | "messenger.expired" | "messenger.ended" => {
                    SessionUpdateKind::Ended
                }
                _ => SessionUpdateKind::Changed,
            },
            Origin::Gap(_) | Origin::Lagged(_) => SessionUpdateKind::Changed,
        }
    }
    /// Which provider's session changed.
    #[graphql(name = "provider")]
    async fn provider_field(&self) -> SessionProvider {
        provider_of(self).unwrap_or(SessionProvider::Purecloud)
    }
    /// The provider's id of the session (Zoom's session id; PureCloud's `cobrowseSessionId`, or a screen share's room).
    #[graphql(name = "providerSessionId")]
    async fn provider_session_id_field(&self) -> &str {
        self.provider_session_id()
    }
    /// Its place in the shared change feed (several replicas on PostgreSQL): pass it as `after` to resume after this update. Null for a single process and for PureCloud updates.
    #[graphql(name = "sequence")]
    async fn sequence_field(&self) -> Option<String> {
        self.sequence().map(|s| s.to_string())
    }
    /// The session as it is after the change (read when this update is delivered: it may include later changes too).
    async fn session(&self, ctx: &Context<'_>) -> Fallible<Session> {
        let state = self.state().get_or_try_init(|| read(self, ctx)).await?;
        match state {
            Some(session) => Ok(Some(Session::from(session))),
            // Purged since (Zoom: retention or `purgeEndedZoomSessions`).
            None => Err(coded(
                "NOT_FOUND",
                format!("session {} is no longer known", self.provider_session_id()),
            )),
        }
    }
}

/// The root of subscriptions.
pub(crate) struct Subscription;

#[SubscriptionMacro]
impl Subscription {
    /// Session changes as they happen, of both providers in one stream: Zoom sessions as their webhooks are stored, PureCloud sessions as Genesys's notifications (or a back-fill after a gap) tell the gateway. Only in service mode for PureCloud (passthrough callers read their own sessions on demand).
    #[graphql(guard = "Needs::READ")]
    async fn cobrowse_session_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only updates of this provider.")] provider: Option<SessionProvider>,
        #[graphql(desc = "Only updates of this session (provider session id).")]
        provider_session_id: Option<String>,
        #[graphql(
            desc = "Resume after this `sequence` (the last update a previous subscription delivered; several replicas on PostgreSQL): the Zoom updates committed since are delivered first, then live ones, none twice. A gap since is a `SUBSCRIPTION_LAGGED` error."
        )]
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<SessionUpdate>>> {
        // First, so that nothing falls between the replay and live updates.
        let receiver = ctx
            .data_unchecked::<broadcast::Sender<SessionUpdate>>()
            .subscribe();
        let wanted = move |update: &SessionUpdate| match provider_of(update) {
            // A lag notice goes to everyone.
            None => true,
            Some(of) => {
                provider.is_none_or(|p| p == of)
                    && provider_session_id
                        .as_deref()
                        .is_none_or(|id| id == update.provider_session_id())
            }
        };
        let (replayed, replayed_to) = match after {
            None => (Vec::new(), None),
            Some(after) => {
                if !store(ctx).has_feed() {
                    return Err(super::errors::bad_input(
                        "`after` resumes from the change feed several replicas share (store.url); this gateway runs alone and has none",
                    ));
                }
                let after: i64 = after.trim().parse().map_err(|_| {
                    super::errors::bad_input(
                        "`after` is the `sequence` of an update a subscription delivered",
                    )
                })?;
                replay(store(ctx), after, &wanted).await?
            }
        };
        let live = futures::stream::unfold(
            (receiver, wanted),
            move |(mut receiver, wanted)| async move {
                loop {
                    match receiver.recv().await {
                        // Delivered by the replay already.
                        Ok(update)
                            if update
                                .sequence()
                                .zip(replayed_to)
                                .is_some_and(|(at, to)| at <= to) => {}
                        Ok(update) if wanted(&update) => {
                            if let Some(lag) = update.lag() {
                                let error = coded("SUBSCRIPTION_LAGGED", lag);
                                return Some((Err(error), (receiver, wanted)));
                            }
                            return Some((Ok(update), (receiver, wanted)));
                        }
                        Ok(_) => {}
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
            },
        );
        Ok(futures::StreamExt::chain(
            futures::stream::iter(replayed),
            live,
        ))
    }
}

/// The most changes a resuming subscriber is replayed; further behind, it
/// is told it lagged and goes on from now.
const MAX_REPLAY: usize = 10_000;

/// The updates of the shared feed after `after` that `wanted` lets
/// through, and the last sequence replayed.
async fn replay(
    store: &dyn crate::store::EventStore,
    after: i64,
    wanted: &impl Fn(&SessionUpdate) -> bool,
) -> Result<(Vec<Result<SessionUpdate>>, Option<i64>)> {
    const PAGE: i64 = 500;
    let (mut replayed, mut last, mut read) = (Vec::new(), after, 0);
    loop {
        let page = store.feed_after(last, PAGE).await.gql()?;
        let done = page.read < PAGE as usize;
        (last, read) = (page.last, read + page.read);
        for item in page.items {
            match SessionUpdate::fed(item) {
                Some(update) if wanted(&update) => replayed.push(match update.lag() {
                    Some(lag) => Err(coded("SUBSCRIPTION_LAGGED", lag)),
                    None => Ok(update),
                }),
                _ => {}
            }
        }
        if done {
            return Ok((replayed, Some(last)));
        }
        if read >= MAX_REPLAY {
            replayed.push(Err(coded(
                "SUBSCRIPTION_LAGGED",
                format!("more than {MAX_REPLAY} changes were committed since `after`; query the sessions again"),
            )));
            return Ok((replayed, Some(last)));
        }
    }
}
