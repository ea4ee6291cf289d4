//! Subscriptions: co-browse session changes as they arrive, over
//! graphql-transport-ws at `/graphql/ws`.
//!
//! Both providers publish on one bounded broadcast channel: webhook ingest
//! a Zoom [`SessionUpdate`] after its event is committed, the live index a
//! PureCloud one when a notification (or a back-fill) changed a session. A
//! subscriber that falls more than the channel's capacity behind gets an
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
use tokio::sync::{broadcast, OnceCell};

use super::context::{source, store};
use super::conversation::{Fallible, PureCloudSession, Session, SessionProvider};
use super::errors::{coded, GqlResult};
use crate::live::{LiveUpdate, Notice, UpdateKind};
use crate::purecloud::Shapes;
use crate::zoom::event::EventKind;

/// How many updates the channel holds for slow subscribers.
pub(crate) const UPDATE_BUFFER: usize = 1024;

/// What happened to a session.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "SessionUpdateKind")]
pub(crate) enum Kind {
    /// It started (or was first heard of).
    Started,
    /// Someone joined or left, control was granted, or its state moved.
    Changed,
    /// It is over.
    Ended,
}

/// One change of a session.
#[derive(Clone)]
pub(crate) struct SessionUpdate {
    origin: Origin,
    /// The session as it is after the change, read once when the first
    /// subscriber asks.
    state: Arc<OnceCell<Option<Session>>>,
}

impl std::fmt::Debug for SessionUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionUpdate")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
enum Origin {
    Zoom {
        event: EventKind,
        account_id: Arc<str>,
        session_id: Arc<str>,
        /// Its place in the shared change feed (several replicas).
        sequence: Option<i64>,
    },
    PureCloud(LiveUpdate),
    /// A Co-browse for Messenger session changed.
    Messenger {
        change: crate::messenger::Change,
        /// Its place in the shared change feed (several replicas).
        sequence: Option<i64>,
    },
    /// PureCloud changes were not heard for this long (never delivered as
    /// an update: subscribers get a lag notice).
    Gap(std::time::Duration),
    /// Changes of the shared feed that cannot be told, and why (never
    /// delivered as an update: subscribers get a lag notice).
    Lagged(Arc<str>),
}

impl SessionUpdate {
    /// A change of Zoom session `session_id` of `account_id` by `event`.
    pub(crate) fn new(event: EventKind, account_id: &str, session_id: &str) -> Self {
        Self {
            origin: Origin::Zoom {
                event,
                account_id: account_id.into(),
                session_id: session_id.into(),
                sequence: None,
            },
            state: Arc::default(),
        }
    }

    /// A change of a PureCloud session heard by the live index, or a gap
    /// in what it heard (none: a notice that is not for subscribers).
    pub(crate) fn purecloud(notice: Notice) -> Option<Self> {
        let origin = match notice {
            Notice::Session(update) => Origin::PureCloud(update),
            Notice::Messenger(change) => Origin::Messenger {
                change,
                sequence: None,
            },
            Notice::Gap(unheard) => Origin::Gap(unheard),
            Notice::Listed(_) => return None,
        };
        Some(Self {
            origin,
            state: Arc::default(),
        })
    }

    /// A PureCloud notice as the feed holds it, read: one that does not
    /// read is a lag (the change it stood for is not known).
    pub(crate) fn heard(notice: Result<Notice, serde_json::Error>) -> Option<Self> {
        match notice {
            Ok(notice) => Self::purecloud(notice),
            Err(e) => Some(Self {
                origin: Origin::Lagged(
                    format!("a PureCloud change in the feed does not read ({e})").into(),
                ),
                state: Arc::default(),
            }),
        }
    }

    /// What the shared change feed told (several replicas on PostgreSQL),
    /// when subscribers are to hear of it.
    pub(crate) fn fed(item: crate::store::FeedItem) -> Option<Self> {
        match item {
            crate::store::FeedItem::Zoom {
                sequence,
                event,
                account_id,
                session_id,
            } => {
                let mut update = Self::new(event, &account_id, &session_id);
                if let Origin::Zoom { sequence: at, .. } = &mut update.origin {
                    *at = Some(sequence);
                }
                Some(update)
            }
            crate::store::FeedItem::Lagged(why) => Some(Self {
                origin: Origin::Lagged(why.into()),
                state: Arc::default(),
            }),
            crate::store::FeedItem::Notice { body, .. } => {
                Self::heard(serde_json::from_str::<Notice>(&body))
            }
            crate::store::FeedItem::Messenger { sequence, change } => Some(Self {
                origin: Origin::Messenger {
                    change,
                    sequence: Some(sequence),
                },
                state: Arc::default(),
            }),
            crate::store::FeedItem::Conversation { .. } => None,
        }
    }

    /// The PureCloud conversation that changed, for a PureCloud update.
    pub(crate) fn purecloud_conversation(&self) -> Option<&str> {
        match &self.origin {
            Origin::PureCloud(update) => Some(&update.conversation_id),
            _ => None,
        }
    }

    /// Its place in the shared change feed, if it came through one.
    fn sequence(&self) -> Option<i64> {
        match self.origin {
            Origin::Zoom { sequence, .. } | Origin::Messenger { sequence, .. } => sequence,
            _ => None,
        }
    }

    /// The lag notice this update stands for, if it is one.
    fn lag(&self) -> Option<String> {
        match &self.origin {
            Origin::Gap(unheard) => Some(format!("Genesys notifications were not heard for {} ms; sessions that began and ended meanwhile were missed; query the sessions again", unheard.as_millis())),
            Origin::Lagged(why) => Some(format!("{why}; query the sessions again")),
            Origin::Zoom { .. } | Origin::PureCloud(_) | Origin::Messenger { .. } => None,
        }
    }

    /// The provider of the session; `None` for a lag notice, which every
    /// subscriber gets.
    fn provider(&self) -> Option<SessionProvider> {
        match self.origin {
            Origin::Zoom { .. } => Some(SessionProvider::Zoom),
            Origin::PureCloud(_) | Origin::Messenger { .. } => Some(SessionProvider::Purecloud),
            Origin::Gap(_) | Origin::Lagged(_) => None,
        }
    }

    /// The provider's id of the session.
    fn provider_session_id(&self) -> &str {
        match &self.origin {
            Origin::Zoom { session_id, .. } => session_id,
            Origin::PureCloud(update) => &update.session_id,
            Origin::Messenger { change, .. } => &change.session_id,
            Origin::Gap(_) | Origin::Lagged(_) => "",
        }
    }

    async fn read(&self, ctx: &Context<'_>) -> Result<Option<Session>> {
        match &self.origin {
            Origin::Zoom {
                account_id,
                session_id,
                ..
            } => store(ctx)
                .session(Some(account_id), session_id)
                .await
                .map(|found| found.map(|s| Session::Zoom(Arc::new(s))))
                .gql(),
            Origin::PureCloud(update) => {
                let model = source(ctx)
                    .conversation(&update.conversation_id, Shapes::FULL, None)
                    .await
                    .map_err(|e| super::errors::upstream(&e))?;
                Ok(model
                    .session(&update.session_id)
                    .map(|s| Session::PureCloud(PureCloudSession::new(&model, s))))
            }
            Origin::Messenger { change, .. } => store(ctx)
                .messenger_session(&change.session_id)
                .await
                .map(|found| found.map(|s| Session::Messenger(Arc::new(s))))
                .gql(),
            Origin::Gap(_) | Origin::Lagged(_) => Ok(None),
        }
    }
}

/// One change of a co-browse session.
#[Object(name = "SessionUpdate")]
impl SessionUpdate {
    /// What caused the change: the Zoom webhook event (e.g. `cobrowse.session_user_joined`), or `gateway.session_idle_ended` when no event came for a Zoom session for `webhooks.zoom_idle_after` and the gateway took it as ended; for legacy PureCloud co-browse and screen share `purecloud.session_started`, `purecloud.session_changed` or `purecloud.session_ended`; for Co-browse for Messenger `messenger.offered`, `messenger.accepted`, `messenger.rejected`, `messenger.expired`, `messenger.started` or `messenger.ended`.
    async fn event(&self) -> &str {
        match &self.origin {
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
    async fn kind(&self) -> Kind {
        match &self.origin {
            Origin::Zoom { event, .. } => match event {
                EventKind::SessionStarted => Kind::Started,
                EventKind::UserJoined | EventKind::UserLeft => Kind::Changed,
                EventKind::SessionEnded | EventKind::IdleEnded => Kind::Ended,
            },
            Origin::PureCloud(update) => match update.kind {
                UpdateKind::Started => Kind::Started,
                UpdateKind::Changed => Kind::Changed,
                UpdateKind::Ended => Kind::Ended,
            },
            Origin::Messenger { change, .. } => match change.event.as_str() {
                "messenger.offered" => Kind::Started,
                "messenger.rejected" | "messenger.expired" | "messenger.ended" => Kind::Ended,
                _ => Kind::Changed,
            },
            Origin::Gap(_) | Origin::Lagged(_) => Kind::Changed,
        }
    }
    /// Which provider's session changed.
    #[graphql(name = "provider")]
    async fn provider_field(&self) -> SessionProvider {
        self.provider().unwrap_or(SessionProvider::Purecloud)
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
        let state = self.state.get_or_try_init(|| self.read(ctx)).await?;
        match state {
            Some(session) => Ok(Some(session.clone())),
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
        let wanted = move |update: &SessionUpdate| match update.provider() {
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
