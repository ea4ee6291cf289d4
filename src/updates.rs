//! The process-wide channel's message: one change of a co-browse session,
//! of either provider, or a gap in what the gateway heard.
//!
//! Webhook ingest publishes a Zoom [`SessionUpdate`] after its event is
//! committed, the live index a PureCloud one when a notification (or a
//! back-fill) changed a session, the replicas' feed what another replica
//! committed; GraphQL subscriptions deliver them. The message lives here,
//! below all of them, so that none of those layers imports another for it.
//!
//! An update names its session; the session is read only when a subscriber
//! asks for it, once per update however many ask ([`SessionUpdate::state`]),
//! so a webhook's acknowledgement never waits on reading a long session.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::live::{LiveUpdate, Notice};
use crate::messenger::MessengerSession;
use crate::purecloud::{MediaSession, Model};
use crate::store::FeedItem;
use crate::zoom::event::EventKind;
use crate::zoom::fold::ZoomSession;

/// How many updates the channel holds for slow subscribers.
pub(crate) const UPDATE_BUFFER: usize = 1024;

/// A session as a subscriber reads it after a change.
#[derive(Clone)]
pub(crate) enum UpdatedSession {
    /// A PureCloud co-browse or screen share session of a conversation.
    PureCloud(Model, MediaSession),
    Zoom(Arc<ZoomSession>),
    Messenger(Arc<MessengerSession>),
}

/// One change of a session.
#[derive(Clone)]
pub(crate) struct SessionUpdate {
    origin: Origin,
    /// The session as it is after the change, read once when the first
    /// subscriber asks.
    state: Arc<OnceCell<Option<UpdatedSession>>>,
}

impl std::fmt::Debug for SessionUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionUpdate")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Where a change came from, and what it names.
#[derive(Clone, Debug)]
pub(crate) enum Origin {
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
    pub(crate) fn fed(item: FeedItem) -> Option<Self> {
        match item {
            FeedItem::Zoom {
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
            FeedItem::Lagged(why) => Some(Self {
                origin: Origin::Lagged(why.into()),
                state: Arc::default(),
            }),
            FeedItem::Notice { body, .. } => Self::heard(serde_json::from_str::<Notice>(&body)),
            FeedItem::Messenger { sequence, change } => Some(Self {
                origin: Origin::Messenger {
                    change,
                    sequence: Some(sequence),
                },
                state: Arc::default(),
            }),
            FeedItem::Conversation { .. } => None,
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
    pub(crate) fn sequence(&self) -> Option<i64> {
        match self.origin {
            Origin::Zoom { sequence, .. } | Origin::Messenger { sequence, .. } => sequence,
            _ => None,
        }
    }

    /// The lag notice this update stands for, if it is one.
    pub(crate) fn lag(&self) -> Option<String> {
        match &self.origin {
            Origin::Gap(unheard) => Some(format!("Genesys notifications were not heard for {} ms; sessions that began and ended meanwhile were missed; query the sessions again", unheard.as_millis())),
            Origin::Lagged(why) => Some(format!("{why}; query the sessions again")),
            Origin::Zoom { .. } | Origin::PureCloud(_) | Origin::Messenger { .. } => None,
        }
    }

    /// The provider's id of the session.
    pub(crate) fn provider_session_id(&self) -> &str {
        match &self.origin {
            Origin::Zoom { session_id, .. } => session_id,
            Origin::PureCloud(update) => &update.session_id,
            Origin::Messenger { change, .. } => &change.session_id,
            Origin::Gap(_) | Origin::Lagged(_) => "",
        }
    }

    /// Where the change came from.
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The session after the change, read once however many subscribers
    /// ask (none yet: nobody has).
    pub(crate) fn state(&self) -> &OnceCell<Option<UpdatedSession>> {
        &self.state
    }
}
