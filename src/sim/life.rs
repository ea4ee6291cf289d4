//! The world changes over time, one step at a time.
//!
//! A conversation lives through the [`Phase`]s in order: a customer starts
//! it on a web page, a queue routes it, an agent joins, a co-browse session
//! starts (the customer shares, the agent views), the customer grants
//! control, a screen share starts, both disconnect, the agent applies a
//! wrap-up, and the conversation ends. Each step applies the next phase to
//! both upstream shapes of one conversation, so every route (conversation
//! reads, the listings, analytics) answers from the same world.
//!
//! Tests drive it deterministically ([`World::start_conversation`],
//! [`World::advance`]); demo mode runs [`World::tick`] at a pace. Conversations
//! the world was generated with join in where they are: the active ones are
//! at [`Phase::ScreenshareStarted`] (their next step disconnects them).

use chrono::{DateTime, Duration, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::data::{
    agent_id, customer_id, media, participant_mut, ref_to, segment, uuid, with_purpose, LifePhase,
    SimConversation, World, COBROWSE_PROVIDER, DIVISIONS, FIRST_NAMES, LAST_NAMES, PAGES,
};
use crate::upstream::model::*;
use crate::upstream::wire::Wire;

/// What one step did: the conversation it changed and the phase it is in now.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stepped {
    pub conversation_id: String,
    pub phase: LifePhase,
}

/// Why a step could not be taken.
#[derive(Debug, PartialEq)]
pub(crate) enum StepError {
    NotFound,
    Over,
}

/// The most conversations the world holds; beyond it, starting one forgets
/// the oldest that ended.
const MAX_CONVERSATIONS: usize = 5_000;

impl World {
    /// A customer starts a new conversation from a web page.
    pub(crate) fn start_conversation(&mut self, now: DateTime<Utc>) -> Stepped {
        self.make_room();
        let id = uuid(&mut self.rng);
        let first = FIRST_NAMES[self.rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[self.rng.random_range(0..LAST_NAMES.len())];
        let page = PAGES[self.rng.random_range(0..PAGES.len())];
        let name = format!("{first} {last}");
        let email = format!(
            "{}.{}@mail.example.net",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let customer = Participant {
            id: Some(uuid(&mut self.rng)),
            start_time: Some(now),
            connected_time: Some(now),
            name: Some(name.clone()),
            purpose: Some(Wire::new("customer")),
            participant_type: Some("External".into()),
            address: Some(email),
            locale: Some("en-US".into()),
            wrapup_required: Some(false),
            attributes: [
                ("source", "web".to_owned()),
                ("url", format!("https://shop.example.com{page}")),
                ("pageTitle", format!("Example Shop - {}", &page[1..])),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            ..Participant::default()
        };
        let (division_id, division_name) = DIVISIONS[self.started % DIVISIONS.len()];
        let division = DivisionRef {
            division: Some(EntityRef {
                id: Some(division_id.into()),
                name: Some(division_name.into()),
                self_uri: Some(format!("/api/v2/authorization/divisions/{division_id}")),
            }),
            entities: Vec::new(),
        };
        self.started += 1;
        let view_customer = media(&customer, "inbound", None);
        let conversation = SimConversation {
            full: Conversation {
                id: Some(id.clone()),
                name: Some(format!("Co-browse with {name}")),
                external_tag: Some(format!("web-{:06}", self.started)),
                start_time: Some(now),
                address: Some(format!("https://shop.example.com{page}")),
                participants: vec![customer],
                max_participants: Some(3),
                recording_state: Some(Wire::new("NONE")),
                divisions: vec![division.clone()],
                self_uri: Some(format!("/api/v2/conversations/{id}")),
                ..Conversation::default()
            },
            view: CobrowseConversation {
                id: Some(id.clone()),
                name: Some(format!("Co-browse with {name}")),
                participants: vec![view_customer],
                other_media_uris: Vec::new(),
                divisions: vec![division],
                self_uri: Some(format!("/api/v2/conversations/cobrowsesessions/{id}")),
            },
            phase: LifePhase::Started,
            changed: now,
            before: None,
        };
        self.conversation_index
            .insert(id.clone(), self.conversations.len());
        self.conversations.push(conversation);
        Stepped {
            conversation_id: id,
            phase: LifePhase::Started,
        }
    }

    /// Moves conversation `id` on to its next phase.
    pub(crate) fn advance(&mut self, id: &str, now: DateTime<Utc>) -> Result<Stepped, StepError> {
        let index = *self.conversation_index.get(id).ok_or(StepError::NotFound)?;
        let next = self.conversations[index]
            .phase
            .next()
            .ok_or(StepError::Over)?;
        let queue = {
            let queues: Vec<&Queue> = self.queues.values().collect();
            queues[self.rng.random_range(0..queues.len())].clone()
        };
        let agent = {
            let users: Vec<&User> = self.users.values().collect();
            users[self.rng.random_range(0..users.len())].clone()
        };
        let code = self.wrapup_codes[self.rng.random_range(0..self.wrapup_codes.len())].clone();
        let ids = [uuid(&mut self.rng), uuid(&mut self.rng)];
        let session = format!("cb-{:012x}", self.rng.random::<u64>() & 0xffff_ffff_ffff);
        let conv = &mut self.conversations[index];
        conv.will_change(now);
        match next {
            LifePhase::Started => unreachable!("no phase leads to the first"),
            LifePhase::Routed => route(conv, &queue, &ids[0], now),
            LifePhase::AgentJoined => join(conv, &agent, &ids[0], now),
            LifePhase::CobrowseStarted => start_cobrowse(conv, &session, &ids, now),
            LifePhase::ControlGranted => grant_control(conv),
            LifePhase::ScreenshareStarted => start_screenshare(conv, &ids, now),
            LifePhase::Disconnected => {
                for pid in [customer_id(conv), agent_id(conv)].into_iter().flatten() {
                    conv.hang_up(&pid, now);
                }
                begin_after_call_work(conv, now);
            }
            LifePhase::WrappedUp => wrap_up(conv, &code, now),
            LifePhase::Ended => end(conv, now),
        }
        conv.phase = next;
        refresh_views(conv);
        Ok(Stepped {
            conversation_id: id.to_owned(),
            phase: next,
        })
    }

    /// One step of the demo pace: a new conversation while fewer than
    /// `target` go on, else the one that has waited longest moves on.
    pub(crate) fn tick(&mut self, now: DateTime<Utc>, target: usize) -> Stepped {
        let going_on = self
            .conversations
            .iter()
            .filter(|c| c.phase != LifePhase::Ended);
        if going_on.clone().count() < target {
            return self.start_conversation(now);
        }
        let id = going_on
            .min_by_key(|c| c.changed)
            .and_then(|c| c.full.id.clone());
        match id {
            Some(id) => self.advance(&id, now).expect("a conversation going on"),
            None => self.start_conversation(now),
        }
    }

    /// The demo at its start, in a steady state: the conversations it was
    /// generated with that go on are finished (they become history), and
    /// `target` new ones go on, the `j`-th `j` phases (modulo the life's
    /// length) into its life, each phase `step` ago apart, as if the demo
    /// had always run. [`Self::tick`] moves each on once per round, so the
    /// spread holds.
    pub(crate) fn warm_up(&mut self, now: DateTime<Utc>, target: usize, step: Duration) {
        let going: Vec<String> = self
            .conversations
            .iter()
            .filter(|c| c.phase != LifePhase::Ended)
            .filter_map(|c| c.full.id.clone())
            .collect();
        for id in going {
            while self
                .advance(&id, now)
                .is_ok_and(|c| c.phase != LifePhase::Ended)
            {}
        }
        // Started to wrapped up: every phase but the end.
        let phases = 8;
        for j in 0..target {
            let taken = (j % phases) as i32;
            let started = now - step * (taken + 1);
            let id = self.start_conversation(started).conversation_id;
            for k in 0..taken {
                let _ = self.advance(&id, started + step * (k + 1));
            }
        }
    }

    /// An administrator creates `count` queues; answers their ids.
    pub(crate) fn add_queues(&mut self, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| {
                let id = uuid(&mut self.rng);
                let n = self.queues.len() + 1;
                self.queues.insert(
                    id.clone(),
                    Queue {
                        self_uri: Some(format!("/api/v2/routing/queues/{id}")),
                        id: Some(id.clone()),
                        name: Some(format!("Co-browse queue {n}")),
                        description: Some("Created while the world ran".into()),
                        member_count: Some(5),
                    },
                );
                id
            })
            .collect()
    }

    /// Forgets the oldest ended conversation when the world is full.
    fn make_room(&mut self) {
        if self.conversations.len() < MAX_CONVERSATIONS {
            return;
        }
        let oldest = self
            .conversations
            .iter()
            .enumerate()
            .filter(|(_, c)| c.phase == LifePhase::Ended)
            .min_by_key(|(_, c)| c.changed)
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            self.conversations.remove(i);
            self.conversation_index = self
                .conversations
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((c.full.id.clone()?, i)))
                .collect();
        }
    }
}

/// A queue takes the conversation: its ACD participant joins.
fn route(conv: &mut SimConversation, queue: &Queue, id: &str, now: DateTime<Utc>) {
    let acd = Participant {
        id: Some(id.into()),
        start_time: Some(now),
        connected_time: Some(now),
        name: queue.name.clone(),
        queue_id: queue.id.clone(),
        queue_name: queue.name.clone(),
        purpose: Some(Wire::new("acd")),
        participant_type: Some("Internal".into()),
        wrapup_required: Some(false),
        ..Participant::default()
    };
    let mut view = media(&acd, "inbound", None);
    view.queue = ref_to("routing/queues", queue.id.as_deref());
    conv.full.participants.push(acd);
    conv.view.participants.push(view);
}

/// The queue hands the conversation to an agent of its own.
fn join(conv: &mut SimConversation, agent: &User, id: &str, now: DateTime<Utc>) {
    let queue = with_purpose(conv, "acd").map(|acd| (acd.queue_id.clone(), acd.name.clone()));
    let (queue_id, queue_name) = queue.unwrap_or_default();
    if let Some(acd) = participant_mut(conv, "acd") {
        acd.end_time = Some(now);
    }
    let participant = Participant {
        id: Some(id.into()),
        start_time: Some(now),
        connected_time: Some(now),
        name: agent.name.clone(),
        user_uri: agent.self_uri.clone(),
        user_id: agent.id.clone(),
        queue_id: queue_id.clone(),
        queue_name,
        purpose: Some(Wire::new("agent")),
        participant_type: Some("Internal".into()),
        address: agent.email.clone(),
        wrapup_required: Some(true),
        wrapup_prompt: Some(Wire::new("optional")),
        wrapup_timeout_ms: Some(60_000),
        wrapup_skipped: Some(false),
        alerting_timeout_ms: Some(8_000),
        ..Participant::default()
    };
    let mut view = media(&participant, "inbound", None);
    view.user = ref_to("users", agent.id.as_deref());
    view.queue = ref_to("routing/queues", queue_id.as_deref());
    view.script = Some(EntityRef {
        id: Some("script-cobrowse-assist".into()),
        name: Some("Co-browse assist".into()),
        self_uri: None,
    });
    conv.full.participants.push(participant);
    conv.view.participants.push(view);
}

/// The customer shares the page and the agent views it: one communication
/// each, sharing one `cobrowseSessionId`.
pub(super) fn start_cobrowse(
    conv: &mut SimConversation,
    session: &str,
    ids: &[String; 2],
    now: DateTime<Utc>,
) {
    let comm = |id: &str, peer: &str, role: &str, p: &Participant| Cobrowsesession {
        state: Some(Wire::new("connected")),
        initial_state: Some(Wire::new("alerting")),
        id: Some(id.into()),
        self_address: Some(Address {
            name: p.name.clone(),
            name_raw: p.name.clone(),
            address_normalized: p.address.as_deref().map(str::to_lowercase),
            address_raw: p.address.clone(),
            address_displayable: p.address.clone(),
        }),
        cobrowse_session_id: Some(session.into()),
        cobrowse_role: Some(Wire::new(role)),
        viewer_url: (role == "viewer")
            .then(|| format!("https://cobrowse.example.com/view/{session}")),
        provider_event_time: Some(now),
        start_alerting_time: Some(now - Duration::seconds(3)),
        connected_time: Some(now),
        provider: Some(COBROWSE_PROVIDER.into()),
        peer_id: Some(peer.into()),
        segments: vec![
            segment(now - Duration::seconds(3), Some(now), "Alert", None),
            segment(now, None, "Interact", None),
        ],
        after_call_work_required: Some(role == "viewer"),
        ..Cobrowsesession::default()
    };
    let [sharer, viewer] = ids;
    if let Some(customer) = participant_mut(conv, "customer") {
        let c = comm(sharer, viewer, "sharer", customer);
        customer.cobrowsesessions.push(c);
    }
    if let Some(agent) = participant_mut(conv, "agent") {
        let c = comm(viewer, sharer, "viewer", agent);
        agent.cobrowsesessions.push(c);
    }
}

/// The customer lets the agent control the shared page.
fn grant_control(conv: &mut SimConversation) {
    let customer = customer_id(conv);
    if let Some(comm) =
        participant_mut(conv, "agent").and_then(|agent| agent.cobrowsesessions.last_mut())
    {
        comm.controlling = customer.into_iter().collect();
    }
}

/// A screen share starts beside the co-browse session: the customer's end
/// shares, the agent's watches.
pub(super) fn start_screenshare(conv: &mut SimConversation, ids: &[String; 2], now: DateTime<Utc>) {
    let room = format!("{}@conference.example.com", &ids[0][..16]);
    let share = |id: &str, peer: &str, sharing: bool| Screenshare {
        state: Some(Wire::new("connected")),
        initial_state: Some(Wire::new("alerting")),
        id: Some(id.into()),
        context: Some(room.clone()),
        sharing: Some(sharing),
        peer_count: Some(1),
        start_alerting_time: Some(now - Duration::seconds(4)),
        connected_time: Some(now),
        provider: Some("PureCloud Screenshare".into()),
        peer_id: Some(peer.into()),
        segments: vec![
            segment(now - Duration::seconds(4), Some(now), "Alert", None),
            segment(now, None, "Interact", None),
        ],
        after_call_work_required: Some(false),
        ..Screenshare::default()
    };
    let [customer_share, agent_share] = ids;
    if let Some(customer) = participant_mut(conv, "customer") {
        customer
            .screenshares
            .push(share(customer_share, agent_share, true));
    }
    if let Some(agent) = participant_mut(conv, "agent") {
        agent
            .screenshares
            .push(share(agent_share, customer_share, false));
    }
}

/// After the agent's co-browse ends, after-call work is pending.
pub(super) fn begin_after_call_work(conv: &mut SimConversation, now: DateTime<Utc>) {
    let Some(agent) = participant_mut(conv, "agent") else {
        return;
    };
    agent.start_acw_time.get_or_insert(now);
    if let Some(comm) = agent.cobrowsesessions.last_mut() {
        comm.after_call_work.get_or_insert(AfterCallWork {
            start_time: Some(now),
            end_time: None,
            state: Some(Wire::new("pending")),
        });
    }
}

/// The agent applies a wrap-up code, which completes after-call work.
pub(super) fn wrap_up(conv: &mut SimConversation, code: &WrapupCode, now: DateTime<Utc>) {
    let Some(agent) = participant_mut(conv, "agent") else {
        return;
    };
    let started = agent.start_acw_time.unwrap_or(now);
    let wrapup = Wrapup {
        code: code.id.clone(),
        name: code.name.clone(),
        notes: Some("Co-browsed the page with the customer.".into()),
        tags: vec!["cobrowse".into()],
        duration_seconds: Some((now - started).num_seconds()),
        end_time: Some(now),
        provisional: Some(false),
    };
    agent.wrapup = Some(wrapup.clone());
    agent.end_acw_time = Some(now);
    agent.end_time.get_or_insert(now);
    if let Some(comm) = agent.cobrowsesessions.last_mut() {
        comm.wrapup = Some(wrapup);
        if let Some(acw) = &mut comm.after_call_work {
            acw.end_time = Some(now);
            acw.state = Some(Wire::new("complete"));
        }
    }
}

/// The conversation ends: everyone still there leaves.
pub(super) fn end(conv: &mut SimConversation, now: DateTime<Utc>) {
    for pid in conv
        .full
        .participants
        .iter()
        .filter(|p| p.end_time.is_none())
        .filter_map(|p| p.id.clone())
        .collect::<Vec<_>>()
    {
        conv.hang_up(&pid, now);
    }
    conv.finish(now);
}

/// The co-browse view of every participant, made again from its full form.
pub(super) fn refresh_views(conv: &mut SimConversation) {
    let pids: Vec<String> = conv
        .full
        .participants
        .iter()
        .filter_map(|p| p.id.clone())
        .collect();
    for pid in pids {
        refresh_view(conv, &pid);
    }
}

/// The co-browse view of participant `pid`, made again from its full form
/// (what only the view holds, such as its user and queue references, kept).
fn refresh_view(conv: &mut SimConversation, pid: &str) {
    let Some(p) = conv
        .full
        .participants
        .iter()
        .find(|p| p.id.as_deref() == Some(pid))
    else {
        return;
    };
    let mut fresh = media(p, "inbound", None);
    if conv.full.end_time.is_some() {
        // The conversation is over (see `SimConversation::finish`).
        fresh.state = Some(Wire::new("terminated"));
    } else if fresh.state.is_none() {
        fresh.state = Some(Wire::new(if p.end_time.is_some() {
            "disconnected"
        } else {
            "connected"
        }));
    }
    match conv.media_mut(pid) {
        Some(old) => {
            fresh.user = old.user.take();
            fresh.queue = old.queue.take();
            fresh.team = old.team.take();
            fresh.script = old.script.take();
            fresh.external_contact = old.external_contact.take();
            fresh.error_info = old.error_info.take();
            fresh.held = old.held;
            fresh.start_hold_time = old.start_hold_time;
            fresh.direction = old.direction.take();
            if fresh.disconnect_type.is_none() {
                fresh.disconnect_type = old.disconnect_type.take();
            }
            *old = fresh;
        }
        None => conv.view.participants.push(fresh),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_lives_through_every_phase_in_order() {
        let now = Utc::now();
        let mut world = World::generate(4, 1, now);
        let id = world.start_conversation(now).conversation_id;
        let mut seen = vec![LifePhase::Started];
        while let Ok(change) = world.advance(&id, now) {
            seen.push(change.phase);
        }
        assert_eq!(seen.len(), 9, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].next() == Some(w[1])));
        assert_eq!(world.advance(&id, now), Err(StepError::Over));
        let conv = world.conversation(&id).expect("kept");
        assert!(conv.full.end_time.is_some());
        assert!(!conv.has_active_cobrowse());
        let agent = with_purpose(conv, "agent").expect("an agent joined");
        assert!(agent.wrapup.is_some());
        assert_eq!(agent.cobrowsesessions.len(), 1);
        assert_eq!(agent.screenshares.len(), 1);
        assert_eq!(conv.view.participants.len(), conv.full.participants.len());
    }

    #[test]
    fn a_co_browse_session_is_active_between_its_start_and_the_disconnect() {
        let now = Utc::now();
        let mut world = World::generate(4, 1, now);
        let id = world.start_conversation(now).conversation_id;
        let mut active = Vec::new();
        while let Ok(change) = world.advance(&id, now) {
            let conv = world.conversation(&id).expect("kept");
            active.push((change.phase, conv.has_active_cobrowse()));
        }
        for (phase, is_active) in active {
            let expected =
                (LifePhase::CobrowseStarted..=LifePhase::ScreenshareStarted).contains(&phase);
            assert_eq!(is_active, expected, "{phase:?}");
        }
    }

    /// The demo's world has co-browse going on from its first second, and
    /// as many at every tick after (no wave: the phases stay spread).
    #[test]
    fn a_warmed_up_world_keeps_co_browse_going_at_every_tick() {
        let now = Utc::now();
        let mut world = World::generate(24, 7, now);
        world.warm_up(now, 18, Duration::seconds(90));
        let active = |world: &World| {
            world
                .conversations
                .iter()
                .filter(|c| c.has_active_cobrowse())
                .count()
        };
        let first = active(&world);
        assert!(first >= 3, "{first} from the first second");
        let counts: Vec<usize> = (0..2_000)
            .map(|i| {
                world.tick(now + Duration::seconds(5 * (i + 1)), 18);
                active(&world)
            })
            .collect();
        let least = counts.iter().min().copied().unwrap_or(0);
        let most = counts.iter().max().copied().unwrap_or(0);
        assert!(least >= 3, "{counts:?}");
        assert!(
            most * 2 <= first * 3 && least * 2 >= first,
            "within half of the first: {first}, {counts:?}"
        );
    }

    #[test]
    fn ticks_keep_the_target_going_on_and_the_same_seed_ticks_the_same_way() {
        let now = Utc::now();
        let run = || {
            let mut world = World::generate(8, 3, now);
            (0..40)
                .map(|_| world.tick(now, 6).phase)
                .collect::<Vec<_>>()
        };
        let changes = run();
        assert_eq!(changes, run());
        assert!(changes.contains(&LifePhase::Started));
        assert!(changes.contains(&LifePhase::Ended));
    }
}
