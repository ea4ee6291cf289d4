//! Co-browse for Messenger in the simulator (docs/upstream.md, "Co-browse
//! for Messenger"): web messaging and voice conversations routed through
//! the world's queues to its agents; co-browse offered through the real
//! route (`POST /api/v2/conversations/{id}/cobrowse`, its permission by
//! channel); each offer, answer and expiry of a web messaging conversation
//! a message with a `CoBrowse` metadata event on the queue's message topic
//! (no session id there) and the full event on the messages routes; the
//! guest routes; the customer accepting, rejecting or letting the offer
//! expire. Voice leaves no message: only the offer's answer knows it.
//!
//! Side doors for tests and the demo (`/__sim/messenger/...`):
//! - `POST /__sim/messenger/conversations` (`{"channel": "webmessaging" |
//!   "voice"}`): a customer starts a conversation; it is routed and an
//!   agent answers. Answers its id, queue, agent and deployment.
//! - `POST /__sim/messenger/conversations/{id}/messages` (`{"text": ".."}`):
//!   the customer writes.
//! - `POST /__sim/messenger/conversations/{id}/end`: the agent's leg ends.
//! - `POST /__sim/messenger/sessions/{id}/answer` (`{"outcome": "accepted"
//!   | "rejected"}`): the customer answers an offer.
//! - `GET /__sim/messenger/page?gateway=URL`: a customer's page with a
//!   stand-in Messenger (`window.Genesys`, its command queue and
//!   `subscribe`; `window.simMessenger.emit(name, data)` fires an event as
//!   the Messenger would) and the gateway's page script loaded from `URL`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::messenger_wire::{
    uuid, MessageDataBody, MsgConversation, Offer, PageReported, SimMessage, SimOffer,
};
use super::Sim;
use super::{error_body, Grant, SimState};
use crate::upstream::notifications::{queue_topic, user_messages_topic, TopicMedia};

/// The most messaging conversations the simulator keeps (the oldest ended
/// go first).
const MAX_CONVERSATIONS: usize = 10_000;

/// The most messages one bulk read takes (the route's documented limit).
const BULK_LIMIT: usize = 1_000;

/// The simulator's messaging conversations.
#[derive(Default)]
pub(crate) struct Messaging {
    pub(super) conversations: HashMap<String, MsgConversation>,
    /// Conversation of each offered session.
    pub(super) sessions: HashMap<String, String>,
    order: Vec<String>,
    /// The demo's stories told so far (each conversation's number).
    pub(super) stories: u64,
}

impl Messaging {
    fn insert(&mut self, conversation: MsgConversation) {
        if self.order.len() >= MAX_CONVERSATIONS {
            let gone = self.order.remove(0);
            if let Some(c) = self.conversations.remove(&gone) {
                for offer in c.offers {
                    self.sessions.remove(&offer.session_id);
                }
            }
        }
        self.order.push(conversation.id.clone());
        self.conversations
            .insert(conversation.id.clone(), conversation);
    }

    pub(crate) fn conversation(&self, id: &str) -> Option<&MsgConversation> {
        self.conversations.get(id)
    }

    fn by_session(&mut self, session: &str) -> Option<&mut MsgConversation> {
        let id = self.sessions.get(session)?;
        self.conversations.get_mut(id)
    }

    /// Ids of the conversations going on (the agent's leg not ended).
    pub(crate) fn going_on(&self) -> Vec<String> {
        self.order
            .iter()
            .filter(|id| {
                self.conversations
                    .get(*id)
                    .is_some_and(|c| c.agent_ended.is_none())
            })
            .cloned()
            .collect()
    }
}

impl MsgConversation {
    /// Adds a co-browse message (none for voice).
    pub(super) fn say(
        &mut self,
        inbound: bool,
        kind: &'static str,
        session: &str,
        token: Option<String>,
        at: DateTime<Utc>,
    ) {
        if self.voice {
            return;
        }
        self.messages.push(SimMessage {
            id: uuid(),
            at,
            inbound,
            text: String::new(),
            cobrowse: Some((kind, session.to_owned(), token)),
        });
    }
}

impl SimState {
    /// A messaging or voice conversation as `GET /api/v2/conversations/{id}`
    /// answers it: its customer and agent, their queue and state.
    pub(crate) fn messaging_conversation(
        &self,
        id: &str,
    ) -> Option<crate::upstream::model::Conversation> {
        use crate::upstream::model::{Conversation, Participant};
        use crate::upstream::wire::Wire;
        let messaging = self.messaging.lock().expect("messaging lock");
        let c = messaging.conversation(id)?;
        let participant =
            |purpose: &str, user: Option<&str>, end: Option<DateTime<Utc>>| Participant {
                id: Some(format!("{}-{purpose}", c.id)),
                start_time: Some(c.started),
                connected_time: Some(c.started),
                end_time: end,
                user_id: user.map(str::to_owned),
                queue_id: (!c.queue_id.is_empty()).then(|| c.queue_id.clone()),
                queue_name: (!c.queue_name.is_empty()).then(|| c.queue_name.clone()),
                purpose: Some(Wire::new(purpose)),
                ..Participant::default()
            };
        Some(Conversation {
            id: Some(c.id.clone()),
            start_time: Some(c.started),
            participants: vec![
                participant("customer", None, None),
                participant("agent", Some(&c.agent_id), c.agent_ended),
            ],
            self_uri: Some(format!("/api/v2/conversations/{}", c.id)),
            ..Conversation::default()
        })
    }

    /// The messaging and voice conversations analytics reports to a caller
    /// who sees `division`s as `sees` says, `lag` behind real time.
    pub(crate) fn messaging_records(
        &self,
        lag: Duration,
        sees: &dyn Fn(Option<&str>) -> bool,
    ) -> Vec<crate::upstream::analytics::AnalyticsConversation> {
        let now = Utc::now();
        let messaging = self.messaging.lock().expect("messaging lock");
        messaging
            .conversations
            .values()
            .filter(|c| sees(Some(c.division)))
            .filter_map(|c| c.analytics(now, lag))
            .collect()
    }

    /// Tells the sockets subscribed to its queue's message topic that a
    /// web messaging conversation changed (voice is on other topics).
    pub(super) fn messaging_changed(&self, conversation: &MsgConversation) {
        if conversation.voice {
            return;
        }
        let body = conversation.topic_body();
        let division = Some(conversation.division);
        if !conversation.queue_id.is_empty() {
            let topic = queue_topic(&conversation.queue_id, TopicMedia::Messages);
            self.hub.publish_body(&topic, division, &body);
        }
        let topic = user_messages_topic(&conversation.agent_id);
        self.hub.publish_body(&topic, division, &body);
    }

    /// The customer lets offers whose time passed expire (told as the
    /// customer's Messenger tells it: an `OfferingExpired` message).
    pub(crate) fn expire_offers(&self, now: DateTime<Utc>) {
        let mut messaging = self.messaging.lock().expect("messaging lock");
        let ids = messaging.going_on();
        for id in ids {
            let Some(c) = messaging.conversations.get_mut(&id) else {
                continue;
            };
            let mut changed = false;
            for i in 0..c.offers.len() {
                let offer = &c.offers[i];
                if offer.answer.is_none() && offer.ends <= now {
                    let (session, ends) = (offer.session_id.clone(), offer.ends);
                    c.offers[i].answer = Some(("OfferingExpired", ends));
                    c.say(true, "OfferingExpired", &session, None, ends);
                    changed = true;
                }
            }
            if changed {
                self.messaging_changed(c);
            }
        }
    }
}

fn refuse(status: StatusCode, code: &str, why: &str) -> Response {
    error_body(status, code, why)
}

fn not_found(what: &str) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "not.found",
        &format!("The requested {what} was not found."),
    )
}

/// Co-browse for Messenger's upstream routes.
pub(super) fn routes() -> axum::Router<Arc<SimState>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/v2/conversations/{id}/cobrowse", post(offer))
        .route("/api/v2/conversations/messages/{id}", get(conversation))
        .route(
            "/api/v2/conversations/messages/{id}/messages/bulk",
            post(bulk),
        )
        .route(
            "/api/v2/webdeployments/deployments/{d}/cobrowse/{s}",
            get(guest_get).delete(guest_delete),
        )
}

/// `POST /api/v2/conversations/{id}/cobrowse`: a new offer. Web messaging
/// needs `conversation:cobrowse:add`, voice `conversation:cobrowseVoice:add`
/// (the route's table lets either in; the channel decides here).
pub(super) async fn offer(
    State(sim): Sim,
    Extension(grant): Extension<Grant>,
    Path(id): Path<String>,
) -> Response {
    let mut messaging = sim.messaging.lock().expect("messaging lock");
    let Some(c) = messaging.conversations.get_mut(&id) else {
        return not_found("conversation");
    };
    let needs = if c.voice {
        "conversation:cobrowseVoice:add"
    } else {
        "conversation:cobrowse:add"
    };
    if sim.withheld(&grant.client, needs) {
        return super::missing_permission(needs);
    }
    if c.agent_ended.is_some() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "conversation.not.active",
            "The conversation is not active: co-browse can be offered only while an agent is connected.",
        );
    }
    let now = Utc::now();
    let (body, ends) = sim.make_offer(c, now);
    messaging.sessions.insert(body.id.clone(), id);
    drop(messaging);
    sim.expire_at(ends, now);
    (StatusCode::OK, Json(body)).into_response()
}

impl SimState {
    /// The agent offers co-browse in `c` (its answer, and when it ends).
    pub(super) fn make_offer(
        &self,
        c: &mut MsgConversation,
        now: DateTime<Utc>,
    ) -> (Offer, DateTime<Utc>) {
        let offer_ms = self.faults.read().expect("faults lock").messenger_offer_ms;
        let offer = SimOffer {
            session_id: uuid(),
            join_code: format!("{:06}", rand::rng().random_range(0..1_000_000)),
            ends: now + Duration::milliseconds(i64::try_from(offer_ms).unwrap_or(i64::MAX)),
            answer: None,
            deleted: false,
            page: PageReported::No,
        };
        let body = c.offer_body(&offer);
        let (session, token, ends) = (
            offer.session_id.clone(),
            offer.join_code.clone(),
            offer.ends,
        );
        c.offers.push(offer);
        c.say(false, "Offering", &session, Some(token), now);
        self.messaging_changed(c);
        (body, ends)
    }

    /// The customer's Messenger lets the offers ending at `ends` expire.
    pub(super) fn expire_at(self: &Arc<Self>, ends: DateTime<Utc>, now: DateTime<Utc>) {
        let expiring = Arc::clone(self);
        let wait = (ends - now).to_std().unwrap_or_default();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            expiring.expire_offers(Utc::now());
        });
    }
}

/// `POST /api/v2/conversations/messages/{id}/messages/bulk`: these
/// messages (at most 1,000 ids), with their text and events.
pub(super) async fn bulk(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let ids: Vec<String> = match serde_json::from_slice(&body) {
        Ok(ids) => ids,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad.request",
                &format!("The body must be a list of message ids: {e}"),
            )
        }
    };
    if ids.len() > BULK_LIMIT {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad.request",
            &format!(
                "The max messages you can request in the body is {BULK_LIMIT}; this request names {}.",
                ids.len()
            ),
        );
    }
    let messaging = sim.messaging.lock().expect("messaging lock");
    let Some(c) = messaging.conversation(&id) else {
        return not_found("conversation");
    };
    let entities: Vec<MessageDataBody> = c
        .messages
        .iter()
        .filter(|m| ids.contains(&m.id))
        .map(|m| m.data(&c.id))
        .collect();
    Json(serde_json::json!({ "entities": entities })).into_response()
}

/// `GET /api/v2/conversations/messages/{id}`.
pub(super) async fn conversation(State(sim): Sim, Path(id): Path<String>) -> Response {
    let messaging = sim.messaging.lock().expect("messaging lock");
    match messaging.conversation(&id).filter(|c| !c.voice) {
        Some(c) => Json(c.rest()).into_response(),
        None => not_found("conversation"),
    }
}

/// `GET /api/v2/webdeployments/deployments/{d}/cobrowse/{s}` (no
/// authentication): the offer, by session id or join code.
pub(super) async fn guest_get(
    State(sim): Sim,
    Path((deployment, session)): Path<(String, String)>,
) -> Response {
    let messaging = sim.messaging.lock().expect("messaging lock");
    for c in messaging.conversations.values() {
        if c.deployment_id != deployment {
            continue;
        }
        if let Some(o) = c
            .offers
            .iter()
            .find(|o| !o.deleted && (o.session_id == session || o.join_code == session))
        {
            return Json(c.offer_body(o)).into_response();
        }
    }
    not_found("cobrowse session")
}

/// `DELETE /api/v2/webdeployments/deployments/{d}/cobrowse/{s}` (no
/// authentication): ends the customer's session.
pub(super) async fn guest_delete(
    State(sim): Sim,
    Path((deployment, session)): Path<(String, String)>,
) -> Response {
    let mut messaging = sim.messaging.lock().expect("messaging lock");
    for c in messaging.conversations.values_mut() {
        if c.deployment_id != deployment {
            continue;
        }
        if let Some(o) = c
            .offers
            .iter_mut()
            .find(|o| !o.deleted && (o.session_id == session || o.join_code == session))
        {
            o.deleted = true;
            return StatusCode::NO_CONTENT.into_response();
        }
    }
    not_found("cobrowse session")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessagingStart {
    #[serde(default)]
    channel: Option<String>,
    /// Transferred to an agent in person: no queue.
    #[serde(default)]
    direct: bool,
}

/// What starting a conversation answers.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub id: String,
    pub queue_id: String,
    pub agent_user_id: String,
    pub deployment_id: String,
}

/// `POST /__sim/messenger/conversations`.
pub(super) async fn start(State(sim): Sim, body: Bytes) -> Response {
    let start: MessagingStart = if body.is_empty() {
        MessagingStart {
            channel: None,
            direct: false,
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, "bad.request", &e.to_string()),
        }
    };
    let voice = match start.channel.as_deref() {
        None | Some("webmessaging") => false,
        Some("voice") => true,
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad.request",
                &format!("channel is webmessaging or voice, not {other}"),
            )
        }
    };
    Json(sim.start_messaging(voice, start.direct, Utc::now())).into_response()
}

impl SimState {
    /// A customer starts a conversation, routed to a queue (or, `direct`,
    /// transferred to an agent in person) and answered by an active agent.
    pub(crate) fn start_messaging(&self, voice: bool, direct: bool, now: DateTime<Utc>) -> Started {
        let (mut queue, agent) = {
            let world = self.world.read().expect("world lock");
            let mut rng = rand::rng();
            let queues: Vec<_> = world.queues.values().collect();
            let users: Vec<_> = world
                .users
                .values()
                .filter(|u| u.state.as_deref().is_none_or(|s| s == "active"))
                .collect();
            let q = queues[rng.random_range(0..queues.len())];
            let u = users[rng.random_range(0..users.len())];
            (
                (
                    q.id.clone().unwrap_or_default(),
                    q.name.clone().unwrap_or_default(),
                ),
                (
                    u.id.clone().unwrap_or_default(),
                    u.name.clone().unwrap_or_default(),
                ),
            )
        };
        if direct {
            queue = (String::new(), String::new());
        }
        let id = uuid();
        let conversation = MsgConversation {
            id: id.clone(),
            voice,
            division: super::data::DIVISIONS[0].0,
            queue_id: queue.0.clone(),
            queue_name: queue.1,
            agent_id: agent.0.clone(),
            agent_name: agent.1,
            deployment_id: uuid(),
            started: now,
            agent_ended: None,
            messages: Vec::new(),
            offers: Vec::new(),
            story: None,
        };
        let started = Started {
            id,
            queue_id: queue.0,
            agent_user_id: agent.0,
            deployment_id: conversation.deployment_id.clone(),
        };
        self.messaging_changed(&conversation);
        self.messaging
            .lock()
            .expect("messaging lock")
            .insert(conversation);
        started
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Said {
    text: String,
}

/// `POST /__sim/messenger/conversations/{id}/messages`: the customer writes.
pub(super) async fn write(
    State(sim): Sim,
    Path(id): Path<String>,
    Json(said): Json<Said>,
) -> Response {
    let mut messaging = sim.messaging.lock().expect("messaging lock");
    let Some(c) = messaging.conversations.get_mut(&id) else {
        return not_found("conversation");
    };
    c.messages.push(SimMessage {
        id: uuid(),
        at: Utc::now(),
        inbound: true,
        text: said.text,
        cobrowse: None,
    });
    sim.messaging_changed(c);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /__sim/messenger/conversations/{id}/end`: the agent's leg ends.
pub(super) async fn end(State(sim): Sim, Path(id): Path<String>) -> Response {
    let mut messaging = sim.messaging.lock().expect("messaging lock");
    let Some(c) = messaging.conversations.get_mut(&id) else {
        return not_found("conversation");
    };
    c.agent_ended.get_or_insert_with(Utc::now);
    sim.messaging_changed(c);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    outcome: String,
    /// What the customer's Messenger writes with the answer, if anything.
    #[serde(default)]
    text: Option<String>,
}

/// `POST /__sim/messenger/sessions/{id}/answer`: the customer answers.
pub(super) async fn answer(
    State(sim): Sim,
    Path(session): Path<String>,
    Json(answer): Json<Answer>,
) -> Response {
    let kind = match answer.outcome.as_str() {
        "accepted" => "OfferingAccepted",
        "rejected" => "OfferingRejected",
        other => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad.request",
                &format!("outcome is accepted or rejected, not {other}"),
            )
        }
    };
    let mut messaging = sim.messaging.lock().expect("messaging lock");
    let Some(c) = messaging.by_session(&session) else {
        return not_found("cobrowse session");
    };
    let now = Utc::now();
    let Some(offer) = c.offers.iter_mut().find(|o| o.session_id == session) else {
        return not_found("cobrowse session");
    };
    if offer.answer.is_some() || offer.ends <= now {
        return refuse(
            StatusCode::CONFLICT,
            "offer.not.pending",
            "The offer was answered or has expired.",
        );
    }
    offer.answer = Some((kind, now));
    c.say(true, kind, &session, None, now);
    if let (Some(text), false, Some(said)) = (answer.text, c.voice, c.messages.last_mut()) {
        said.text = text;
    }
    sim.messaging_changed(c);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /__sim/messenger/page?gateway=URL`: a customer's page as a
/// website that runs Genesys Messenger and the gateway's page script has
/// it; the Messenger is a stand-in that a test (or the demo) drives.
pub(super) async fn page(
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let Some(gateway) = query
        .get("gateway")
        .filter(|g| g.starts_with("http://") || g.starts_with("https://"))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "gateway=http(s)://... is required",
        );
    };
    let gateway = gateway.replace(['"', '<', '>', '\'', '&'], "");
    let html = format!(
        r#"<!doctype html><meta charset="utf-8"><title>A shop with Genesys Messenger</title>
<p>A customer's page.</p>
<script>
  // A stand-in for the Messenger snippet: Genesys("subscribe", name, handler).
  (function () {{
    var handlers = {{}};
    window.Genesys = function (command, name, handler) {{
      if (command === "subscribe") (handlers[name] = handlers[name] || []).push(handler);
    }};
    window.simMessenger = {{
      emit: function (name, data) {{ (handlers[name] || []).forEach(function (h) {{ h({{ event: name, data: data }}); }}); }},
      subscribed: function () {{ return Object.keys(handlers).sort(); }}
    }};
  }})();
</script>
<script src="{gateway}/messenger-cobrowse.js"></script>"#
    );
    axum::response::Html(html).into_response()
}
