//! A co-browse session of either provider: its resolvers, and the people
//! of a PureCloud session.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::*;
use crate::graph::context::duration_seconds;
use crate::graph::engage::{EngageData, COMPLEXITY};
use crate::graph::guard::Needs;
use crate::graph::ids::NodeId;
use crate::graph::messenger::{
    end_reason, SessionChannel, SessionOffer, SessionProduct, TimeSource,
};
use crate::graph::values::{SegmentView, SessionMedia};
use crate::messenger::Phase;
use crate::purecloud::Model;
use crate::purecloud::{self, Media, Time};

impl PureCloudSession {
    pub(crate) fn new(conversation: &Model, session: purecloud::MediaSession) -> Self {
        Self {
            conversation: Arc::clone(conversation),
            session,
        }
    }

    fn legs(&self) -> impl Iterator<Item = purecloud::Leg<'_>> {
        self.session.legs(&self.conversation)
    }
}

impl From<&crate::updates::UpdatedSession> for Session {
    fn from(state: &crate::updates::UpdatedSession) -> Self {
        use crate::updates::UpdatedSession;
        match state {
            UpdatedSession::PureCloud(conversation, session) => {
                Session::PureCloud(PureCloudSession::new(conversation, session.clone()))
            }
            UpdatedSession::Zoom(session) => Session::Zoom(Arc::clone(session)),
            UpdatedSession::Messenger(session) => Session::Messenger(Arc::clone(session)),
        }
    }
}

impl Session {
    /// The provider.
    pub(crate) fn provider(&self) -> SessionProvider {
        match self {
            Session::PureCloud(_) | Session::Messenger(_) => SessionProvider::Purecloud,
            Session::Zoom(_) => SessionProvider::Zoom,
        }
    }

    /// The provider's id of the session.
    pub(crate) fn provider_id(&self) -> &str {
        match self {
            Session::PureCloud(s) => &s.session.id,
            Session::Zoom(z) => &z.session_id,
            Session::Messenger(m) => &m.id,
        }
    }

    /// When it started.
    pub(crate) fn start(&self) -> Option<Time> {
        match self {
            Session::PureCloud(s) => s.session.start(&s.conversation),
            Session::Zoom(z) => z.start(),
            Session::Messenger(m) => m.start().map(|s| s.at),
        }
    }

    /// When it ended (null while it goes on).
    pub(crate) fn end(&self) -> Option<Time> {
        match self {
            Session::PureCloud(s) => s.session.end(&s.conversation),
            Session::Zoom(z) => z.end_time.filter(|_| z.ended),
            Session::Messenger(m) => m.end().map(|e| e.at),
        }
    }

    /// Its global id.
    pub(crate) fn node_id(&self) -> NodeId {
        match self {
            Session::PureCloud(s) => NodeId::PureCloudSession {
                conversation: s.conversation.id.to_string(),
                session: s.session.id.to_string(),
            },
            Session::Zoom(z) => NodeId::ZoomSession {
                account: z.account_id.clone(),
                session: z.session_id.clone(),
            },
            Session::Messenger(m) => NodeId::MessengerSession {
                session: m.id.clone(),
            },
        }
    }

    /// Co-browse or screen share.
    pub(crate) fn media(&self) -> SessionMedia {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Screenshare => {
                SessionMedia::Screenshare
            }
            _ => SessionMedia::Cobrowse,
        }
    }

    /// The URL a viewer opens the session with (PureCloud co-browse).
    pub(crate) fn viewer_link(&self) -> Option<&str> {
        match self {
            Session::PureCloud(s) => s.legs().find_map(|l| l.viewer_url),
            Session::Zoom(_) | Session::Messenger(_) => None,
        }
    }

    /// The page the session started from, its PIN and why it ended (Zoom;
    /// Co-browse for Messenger: why it ended).
    pub(crate) fn zoom_texts(&self) -> [Option<&str>; 3] {
        match self {
            Session::Zoom(z) => [
                z.start_url.as_deref(),
                z.session_pin.as_deref(),
                z.end_reason.as_deref(),
            ],
            Session::Messenger(m) => [None, None, end_reason(m, crate::freshness::now_utc())],
            Session::PureCloud(_) => [None; 3],
        }
    }

    /// Whether it goes on.
    pub(crate) fn state(&self) -> SessionState {
        let active = match self {
            Session::PureCloud(s) => s.session.active(&s.conversation),
            Session::Zoom(z) => !z.ended,
            Session::Messenger(m) => {
                return match m.phase(crate::freshness::now_utc()) {
                    Phase::Offered => SessionState::Offered,
                    Phase::Active => SessionState::Active,
                    Phase::Ended => SessionState::Ended,
                }
            }
        };
        if active {
            SessionState::Active
        } else {
            SessionState::Ended
        }
    }

    /// Which co-browse product it is.
    pub(crate) fn product_kind(&self) -> SessionProduct {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Screenshare => {
                SessionProduct::LegacyScreenshare
            }
            Session::PureCloud(_) => SessionProduct::LegacyCobrowse,
            Session::Messenger(_) => SessionProduct::MessengerCobrowse,
            Session::Zoom(_) => SessionProduct::ZoomCobrowse,
        }
    }
}

/// A co-browse session, whatever its provider. PureCloud sessions group the co-browse communications of a conversation that share one `cobrowseSessionId`; Zoom sessions are folded from Zoom Cobrowse webhooks.
#[Object]
impl Session {
    /// Global id of this session (opaque; use it with `node(id:)`).
    pub(crate) async fn id(&self) -> ID {
        ID(self.node_id().encode())
    }
    /// Where the session comes from.
    #[graphql(name = "provider")]
    async fn provider_field(&self) -> SessionProvider {
        self.provider()
    }
    /// Co-browse (a shared browser page) or screen share (PureCloud only).
    async fn media_type(&self) -> SessionMedia {
        self.media()
    }
    /// The provider's id of the session: PureCloud's `cobrowseSessionId` (a screen share's room `context`), Zoom's `session_id`. A PureCloud session read from analytics (the history; the wall while the active set is polled, or after a back-fill set it right) has analytics' room id instead (`roomId`), which Genesys does not document as equal.
    async fn provider_session_id(&self) -> &str {
        self.provider_id()
    }
    /// Analytics' id of the session's room (`cobrowseRoomId`, `screenShareRoomId`), when the session was read from analytics; null when it was read from the conversation routes or events (PureCloud), and for Zoom.
    async fn room_id(&self) -> Option<&str> {
        match self {
            Session::PureCloud(s) if s.conversation.read_from_analytics() => Some(&s.session.id),
            _ => None,
        }
    }
    /// Whether the session goes on.
    #[graphql(name = "state")]
    async fn state_field(&self) -> SessionState {
        self.state()
    }
    /// When the session started.
    async fn start_time(&self) -> Option<Time> {
        self.start()
    }
    /// When the session ended; null while it goes on.
    async fn end_time(&self) -> Option<Time> {
        self.end()
    }
    /// Seconds from start to end (or to now while the session goes on).
    async fn duration_seconds(&self) -> Option<f64> {
        duration_seconds(self.start(), self.end())
    }
    /// The page the session started from (Zoom).
    async fn start_url(&self) -> Option<&str> {
        self.zoom_texts()[0]
    }
    /// The PIN that joins the session (Zoom).
    async fn pin(&self) -> Option<&str> {
        self.zoom_texts()[1]
    }
    /// Why the session ended (Zoom: "The session ended", "Network connection error", ...).
    async fn end_reason(&self) -> Option<&str> {
        self.zoom_texts()[2]
    }
    /// The URL a viewer opens the session with (PureCloud co-browse).
    async fn viewer_url(&self) -> Option<&str> {
        self.viewer_link()
    }
    /// Which co-browse product the session is.
    #[graphql(name = "product")]
    async fn product_field(&self) -> SessionProduct {
        self.product_kind()
    }
    /// The channel a Co-browse for Messenger session was offered in (null for the other products, and when upstream did not say).
    async fn channel(&self) -> Option<SessionChannel> {
        match self {
            Session::Messenger(m) => m.channel.map(Into::into),
            _ => None,
        }
    }
    /// The offer the session began as (Co-browse for Messenger).
    async fn offer(&self) -> Option<SessionOffer> {
        match self {
            Session::Messenger(m) => Some(SessionOffer(Arc::clone(m))),
            _ => None,
        }
    }
    /// Who told the gateway the session started (null while it has not).
    async fn start_source(&self) -> Option<TimeSource> {
        match self {
            Session::Messenger(m) => m.start().map(|s| s.source.into()),
            _ => self.start().map(|_| TimeSource::Provider),
        }
    }
    /// Who told the gateway the session ended (null while it goes on). `CONVERSATION` is an inference: the conversation's agent leg ended and the customer's page did not report the end.
    async fn end_source(&self) -> Option<TimeSource> {
        match self {
            Session::Messenger(m) => m.end().map(|e| e.source.into()),
            _ => self.end().map(|_| TimeSource::Provider),
        }
    }
    /// The id of the conversation the session belongs to (PureCloud).
    async fn conversation_id(&self) -> Option<&str> {
        match self {
            Session::PureCloud(s) => Some(&s.conversation.id),
            Session::Messenger(m) => Some(&m.conversation_id),
            Session::Zoom(_) => None,
        }
    }
    /// The code a viewer joins a Co-browse for Messenger session with. Only for callers who may act as an agent (the `write` scope, or a passed-through Genesys token); never logged.
    #[graphql(guard = "Needs::WRITE")]
    async fn join_code(&self) -> Option<&str> {
        match self {
            Session::Messenger(m) => m.join_code.as_ref().map(|c| c.expose()),
            _ => None,
        }
    }
    /// The people in the session, with every connection they made.
    async fn participants(&self, ctx: &Context<'_>) -> Fallible<Vec<SessionParticipant>> {
        match self {
            Session::Messenger(_) => Ok(Some(Vec::new())),
            Session::Zoom(z) => Ok(Some(
                (0..z.participants.len())
                    .map(|i| SessionParticipant::Zoom(Arc::clone(z), i))
                    .collect(),
            )),
            Session::PureCloud(s) => session_people(ctx, s).await.map(Some),
        }
    }
    /// The conversation the session belongs to (PureCloud; for Co-browse for Messenger the web messaging or voice conversation, read when asked for).
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Option<ConversationView>> {
        match self {
            Session::PureCloud(s) => Ok(Some(ConversationView(Arc::clone(&s.conversation)))),
            Session::Messenger(m) => Ok(Some(ConversationView(
                read_full(ctx, &m.conversation_id).await?,
            ))),
            Session::Zoom(_) => Ok(None),
        }
    }
    /// The co-browse communications of the session (PureCloud co-browse).
    async fn communications(&self) -> Vec<Cobrowsesession> {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Cobrowse => s
                .session
                .comms
                .iter()
                .map(|&(p, c)| Cobrowsesession::new(&s.conversation, p, c))
                .collect(),
            _ => Vec::new(),
        }
    }
    /// The screen-share communications of the session (PureCloud screen share).
    async fn screenshares(&self) -> Vec<Screenshare> {
        match self {
            Session::PureCloud(s) if s.session.media == Media::Screenshare => s
                .session
                .comms
                .iter()
                .map(|&(p, c)| Screenshare::new(&s.conversation, p, c))
                .collect(),
            _ => Vec::new(),
        }
    }
    /// The segments of every communication of the session, by start time (PureCloud).
    async fn segments(&self) -> Vec<SegmentView<'_>> {
        let Session::PureCloud(s) = self else {
            return Vec::new();
        };
        let mut segments: Vec<SegmentView<'_>> = s
            .legs()
            .flat_map(|l| l.segments.iter().map(SegmentView))
            .collect();
        segments.sort_by_key(|seg| seg.0.start_time);
        segments
    }
    /// Engage reporting keys of the interaction this session belongs to: for PureCloud the conversation, for Zoom the session itself.
    #[graphql(complexity = "COMPLEXITY + child_complexity")]
    async fn attached_data(&self, ctx: &Context<'_>) -> Fallible<EngageData> {
        match self {
            Session::PureCloud(s) => Ok(Some(EngageData::of_conversation(ctx, &s.conversation))),
            Session::Zoom(z) => EngageData::of_zoom(ctx, z).await.map(Some),
            Session::Messenger(_) => Ok(None),
        }
    }
}

/// The people of a PureCloud session: each participant with a
/// communication in it, with those communications, with what the selection
/// of `participant` needs.
async fn session_people(
    ctx: &Context<'_>,
    s: &PureCloudSession,
) -> Result<Vec<SessionParticipant>> {
    let look = ctx.look_ahead().field("participant");
    let fetched = with_participants(ctx, &s.conversation, &look).await?;
    // A conversation fetched beyond its analytics record may list its
    // participants in another order: find the session in it again.
    let (model, session) = match fetched.session(&s.session.id) {
        Some(session) if !Arc::ptr_eq(&fetched, &s.conversation) => (fetched, session),
        _ => (Arc::clone(&s.conversation), s.session.clone()),
    };
    let mut people: Vec<(usize, PureCloudPerson)> = Vec::new();
    for leg in session.legs(&model) {
        let join = SessionJoin {
            id: leg.id.map(str::to_owned),
            join: leg.connected,
            leave: leg.disconnected,
            reason: leg.disconnect_type.map(str::to_owned),
        };
        match people.iter_mut().find(|(i, _)| *i == leg.participant) {
            Some((_, person)) => person.joins.push(join),
            None => people.push((
                leg.participant,
                PureCloudPerson {
                    participant: CobrowseMediaParticipantView::new(&model, leg.participant),
                    role: leg.role,
                    name: leg.name.map(str::to_owned),
                    joins: vec![join],
                },
            )),
        }
    }
    Ok(people
        .into_iter()
        .map(|(_, person)| SessionParticipant::PureCloud(person))
        .collect())
}
