//! The simulator's world: deterministic, seeded, realistic data.
//!
//! Each conversation has a customer, an ACD and an agent participant. The
//! customer (sharer) and the agent (viewer) hold co-browse communications that
//! share a `cobrowseSessionId`; some conversations have a second, later
//! session, some a screenshare, some are over (wrap-up, after-call work). The
//! co-browse view (`CobrowseConversation`) is built with the conversation so
//! the two stay consistent, and mutations update both.
//!
//! A few values are deliberately ones the gateway does not know (a segment of
//! type `Sharing`), as a growing upstream would send them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use serde::{Deserialize, Serialize};

use crate::upstream::model::*;
use crate::upstream::wire::Wire;

pub(super) const FIRST_NAMES: &[&str] = &[
    "Ava", "Noah", "Mia", "Liam", "Zoe", "Ethan", "Aria", "Lucas", "Chloe", "Mateo", "Nora",
    "Omar", "Ines", "Kenji", "Priya", "Sven", "Leila", "Tomas", "Yara", "Felix",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "Thompson", "Garcia", "Okafor", "Nakamura", "Schmidt", "Rossi", "Haddad", "Novak", "Silva",
    "Kowalski", "Dubois", "Larsen", "Moreau", "Ibrahim", "Chen", "Murphy",
];
const QUEUES: &[&str] = &[
    "Web Support",
    "Billing",
    "Onboarding",
    "Mortgages",
    "Premium Care",
    "Claims",
];
pub(super) const PAGES: &[&str] = &[
    "/checkout",
    "/account/settings",
    "/loans/apply",
    "/claims/new",
    "/billing/invoices",
    "/onboarding/step-3",
];
const WRAPUPS: &[&str] = &[
    "Resolved - guided checkout",
    "Resolved - form assistance",
    "Escalated to specialist",
    "Customer dropped",
    "Follow-up scheduled",
    "Technical issue",
    "Billing explained",
    "Sale completed",
    "No action needed",
    "Complaint logged",
    "Callback requested",
    "Duplicate contact",
];

/// The provider name the simulator reports for co-browse.
pub(crate) const COBROWSE_PROVIDER: &str = "PureCloud Cobrowse";

/// One conversation in both of its upstream shapes, and where it is in its
/// life ([`Phase`]).
#[derive(Clone, Debug)]
pub(crate) struct SimConversation {
    pub full: Conversation,
    pub view: CobrowseConversation,
    pub phase: LifePhase,
    /// When it last changed.
    pub changed: DateTime<Utc>,
    /// Its full form before that change: what analytics, which lags real
    /// time, still reports for a while (none: it did not exist).
    pub before: Option<Box<Conversation>>,
}

/// The divisions conversations belong to: `(id, name)`.
pub(crate) const DIVISIONS: [(&str, &str); 2] = [("div-north", "North"), ("div-south", "South")];

impl SimConversation {
    /// Notes that it is about to change at `now` (keeping the form that
    /// analytics reports until its lag has passed).
    pub(crate) fn will_change(&mut self, now: DateTime<Utc>) {
        self.before = Some(Box::new(self.full.clone()));
        self.changed = now;
    }

    /// The full form analytics reports at `now`, lagging real time by
    /// `lag`: the one before the last change while that change is recent
    /// (none when the conversation itself is that recent).
    pub(crate) fn as_analytics_sees(
        &self,
        now: DateTime<Utc>,
        lag: Duration,
    ) -> Option<&Conversation> {
        if self.changed <= now - lag {
            Some(&self.full)
        } else {
            self.before.as_deref()
        }
    }
    /// The id of the division the conversation belongs to.
    pub(crate) fn division(&self) -> Option<&str> {
        self.full
            .divisions
            .first()
            .and_then(|d| d.division.as_ref())
            .and_then(|d| d.id.as_deref())
    }

    /// Whether any co-browse communication is still going.
    pub(crate) fn has_active_cobrowse(&self) -> bool {
        self.full.participants.iter().any(|p| {
            p.cobrowsesessions
                .iter()
                .any(|c| c.state.as_ref().is_some_and(|s| !s.get().is_ended()))
        })
    }

    /// Disconnects every live communication of a participant (upstream's
    /// participant PATCH): the conversation ends with its last co-browse.
    pub(crate) fn disconnect(&mut self, participant_id: &str, now: DateTime<Utc>) -> bool {
        if !self.hang_up(participant_id, now) {
            return false;
        }
        if !self.has_active_cobrowse() {
            self.finish(now);
            self.phase = LifePhase::Ended;
        }
        self.changed = now;
        true
    }

    /// The conversation is over: it has its end, and the view reports
    /// every participant `terminated` (after-call work done), which is how
    /// a notification event says that a conversation ended.
    pub(crate) fn finish(&mut self, now: DateTime<Utc>) {
        self.full.end_time.get_or_insert(now);
        for participant in &mut self.view.participants {
            participant.state = Some(Wire::new("terminated"));
            participant.end_time.get_or_insert(now);
        }
    }

    /// Disconnects every live communication of a participant, and ends its
    /// participation; the conversation goes on.
    pub(super) fn hang_up(&mut self, participant_id: &str, now: DateTime<Utc>) -> bool {
        let Some(participant) = self
            .full
            .participants
            .iter_mut()
            .find(|p| p.id.as_deref() == Some(participant_id))
        else {
            return false;
        };
        disconnect_media(participant, (true, true), now);
        participant.end_time.get_or_insert(now);
        if let Some(media) = self.media_mut(participant_id) {
            media.state = Some(Wire::new("disconnected"));
            media.disconnect_type = Some(Wire::new("client"));
            media.end_time.get_or_insert(now);
        }
        true
    }

    /// Every live co-browse and/or screen-share communication of every
    /// participant disconnects; the participants stay (a call or chat that
    /// goes on).
    pub(super) fn end_media(&mut self, (cobrowse, screenshare): (bool, bool), now: DateTime<Utc>) {
        for participant in &mut self.full.participants {
            disconnect_media(participant, (cobrowse, screenshare), now);
        }
    }

    /// The co-browse view of a participant.
    pub(crate) fn media_mut(
        &mut self,
        participant_id: &str,
    ) -> Option<&mut CobrowseMediaParticipant> {
        self.view
            .participants
            .iter_mut()
            .find(|p| p.id.as_deref() == Some(participant_id))
    }

    /// The full form of a participant.
    pub(crate) fn participant_mut(&mut self, participant_id: &str) -> Option<&mut Participant> {
        self.full
            .participants
            .iter_mut()
            .find(|p| p.id.as_deref() == Some(participant_id))
    }
}

/// Disconnects a participant's live co-browse and/or screen-share
/// communications, as its client would.
fn disconnect_media(
    participant: &mut Participant,
    (cobrowse, screenshare): (bool, bool),
    now: DateTime<Utc>,
) {
    let live = |state: &Option<Wire<crate::upstream::enums::CommunicationState>>| {
        state.as_ref().is_some_and(|s| !s.get().is_ended())
    };
    for comm in participant
        .cobrowsesessions
        .iter_mut()
        .filter(|c| cobrowse && live(&c.state))
    {
        comm.state = Some(Wire::new("disconnected"));
        comm.disconnected_time = Some(now);
        comm.disconnect_type = Some(Wire::new("client"));
        close_segments(&mut comm.segments, now);
    }
    for share in participant
        .screenshares
        .iter_mut()
        .filter(|s| screenshare && live(&s.state))
    {
        share.state = Some(Wire::new("disconnected"));
        share.disconnected_time = Some(now);
        share.disconnect_type = Some(Wire::new("client"));
        close_segments(&mut share.segments, now);
    }
}

fn close_segments(segments: &mut [Segment], now: DateTime<Utc>) {
    for segment in segments.iter_mut().filter(|s| s.end_time.is_none()) {
        segment.end_time = Some(now);
        segment.how_ended = Some("Disconnect".into());
    }
}

/// Everything the simulator serves.
#[derive(Clone, Debug)]
pub(crate) struct World {
    pub conversations: Vec<SimConversation>,
    pub conversation_index: HashMap<String, usize>,
    pub users: BTreeMap<String, User>,
    pub queues: BTreeMap<String, Queue>,
    pub wrapup_codes: Vec<WrapupCode>,
    /// Drives the world's changes ([`super::life`]), seeded with the world.
    pub(super) rng: StdRng,
    /// Conversations started so far (numbers their external tags).
    pub(super) started: usize,
}

impl World {
    /// The conversation with this id.
    pub(crate) fn conversation(&self, id: &str) -> Option<&SimConversation> {
        self.conversation_index
            .get(id)
            .map(|&i| &self.conversations[i])
    }

    /// The conversation with this id, to change it.
    pub(crate) fn conversation_mut(&mut self, id: &str) -> Option<&mut SimConversation> {
        let index = *self.conversation_index.get(id)?;
        self.conversations.get_mut(index)
    }

    /// Generates `conversations` conversations from `seed`, timed around `now`.
    pub(crate) fn generate(conversations: usize, seed: u64, now: DateTime<Utc>) -> Self {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed),
            now: now.trunc_subsecs(3),
        };
        let wrapup_codes: Vec<WrapupCode> = WRAPUPS
            .iter()
            .map(|name| {
                let id = g.uuid();
                WrapupCode {
                    self_uri: Some(format!("/api/v2/routing/wrapupcodes/{id}")),
                    id: Some(id),
                    name: Some((*name).into()),
                    date_created: Some(g.now - Duration::days(400)),
                }
            })
            .collect();
        let queues: Vec<Queue> = QUEUES
            .iter()
            .map(|name| {
                let id = g.uuid();
                Queue {
                    self_uri: Some(format!("/api/v2/routing/queues/{id}")),
                    id: Some(id),
                    name: Some((*name).into()),
                    description: Some(format!("{name} co-browse queue")),
                    member_count: Some(g.rng.random_range(4..40)),
                }
            })
            .collect();
        let agent_count = (conversations / 2).clamp(4, 40);
        // Agents leave: the fourth of every eight is inactive, the eighth
        // deleted; their conversations stay.
        let users: Vec<User> = (0..agent_count)
            .map(|i| {
                let id = g.uuid();
                let (first, last) = g.name();
                let handle = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
                User {
                    self_uri: Some(format!("/api/v2/users/{id}")),
                    id: Some(id),
                    name: Some(format!("{first} {last}")),
                    email: Some(format!("{handle}@example.com")),
                    username: Some(format!("{handle}@example.com")),
                    title: Some("Customer Care Agent".into()),
                    department: Some("Digital Care".into()),
                    state: Some(
                        match i % 8 {
                            3 => "inactive",
                            7 => "deleted",
                            _ => "active",
                        }
                        .into(),
                    ),
                }
            })
            .collect();
        let convs: Vec<SimConversation> = (0..conversations)
            .map(|i| {
                let mut conv = g.conversation(i, &users, &queues, &wrapup_codes);
                // Conversations alternate between two divisions, which
                // partner clients may be limited to.
                let (id, name) = DIVISIONS[i % DIVISIONS.len()];
                let division = DivisionRef {
                    division: Some(EntityRef {
                        id: Some(id.into()),
                        name: Some(name.into()),
                        self_uri: Some(format!("/api/v2/authorization/divisions/{id}")),
                    }),
                    entities: Vec::new(),
                };
                conv.full.divisions = vec![division.clone()];
                conv.view.divisions = vec![division];
                conv.phase = if conv.full.end_time.is_some() {
                    LifePhase::Ended
                } else {
                    LifePhase::ScreenshareStarted
                };
                conv
            })
            .collect();
        let conversation_index = convs
            .iter()
            .enumerate()
            .map(|(i, c)| (c.full.id.clone().expect("generated with an id"), i))
            .collect();
        World {
            conversations: convs,
            conversation_index,
            users: users
                .into_iter()
                .map(|u| (u.id.clone().expect("generated with an id"), u))
                .collect(),
            queues: queues
                .into_iter()
                .map(|q| (q.id.clone().expect("generated with an id"), q))
                .collect(),
            wrapup_codes,
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_11fe),
            started: conversations,
        }
    }
}

/// A random version-4 UUID.
pub(super) fn uuid(rng: &mut impl Rng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
    )
}

struct Gen {
    rng: StdRng,
    now: DateTime<Utc>,
}

/// What one co-browse session looks like, before it becomes two communications.
struct SessionPlan {
    id: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    control_granted: bool,
    odd_segment: bool,
}

impl SessionPlan {
    /// The state of a communication of this session: over once it ended.
    fn state<E: crate::upstream::wire::WireEnum>(&self) -> Wire<E> {
        Wire::new(if self.end.is_some() {
            "disconnected"
        } else {
            "connected"
        })
    }
}

impl Gen {
    fn uuid(&mut self) -> String {
        uuid(&mut self.rng)
    }

    fn name(&mut self) -> (&'static str, &'static str) {
        (
            FIRST_NAMES[self.rng.random_range(0..FIRST_NAMES.len())],
            LAST_NAMES[self.rng.random_range(0..LAST_NAMES.len())],
        )
    }

    fn conversation(
        &mut self,
        index: usize,
        users: &[User],
        queues: &[Queue],
        codes: &[WrapupCode],
    ) -> SimConversation {
        let id = self.uuid();
        let active = index % 4 != 3;
        // Every conversation started 10 to 45 minutes ago, which leaves room
        // for two sessions that both start in the past.
        let start = self.now - Duration::seconds(self.rng.random_range(600..2700));
        let agent = &users[self.rng.random_range(0..users.len())];
        let queue = &queues[self.rng.random_range(0..queues.len())];
        let (first, last) = self.name();
        let customer = Customer {
            name: format!("{first} {last}"),
            email: format!(
                "{}.{}@mail.example.net",
                first.to_lowercase(),
                last.to_lowercase()
            ),
        };
        let page = PAGES[self.rng.random_range(0..PAGES.len())];
        let plans = self.session_plans(index, active, start);
        let ids = [self.uuid(), self.uuid(), self.uuid()];
        let end = (!active)
            .then(|| plans.last().and_then(|p| p.end))
            .flatten();
        let (customer_comms, agent_comms) =
            self.cobrowse_comms(&plans, &ids[0], &customer, agent, codes, page);
        let screenshare = self.screenshares(&plans);
        let script = EntityRef {
            id: Some(self.uuid()),
            name: Some("Co-browse assist".into()),
            self_uri: None,
        };
        let setting = ConversationSetting {
            index,
            start,
            end,
            page,
            queue,
            agent,
        };
        let [customer_id, agent_id, acd_id] = ids;
        let mut people = [
            self.customer(&setting, customer_id, &customer, customer_comms),
            acd(&setting, acd_id),
            agent_participant(&setting, agent_id, agent_comms),
        ];
        if let Some((customer_share, agent_share)) = screenshare {
            people[0].screenshares.push(customer_share);
            people[2].screenshares.push(agent_share);
        }
        let view = view_participants(&people, &setting, script);
        assemble(id, &setting, people, view)
    }

    /// One or two sessions, one after the other; the last goes on while the
    /// conversation is active.
    fn session_plans(
        &mut self,
        index: usize,
        active: bool,
        start: DateTime<Utc>,
    ) -> Vec<SessionPlan> {
        let session_count = if self.rng.random_bool(0.25) { 2 } else { 1 };
        let mut plans = Vec::with_capacity(session_count);
        let mut at = start + Duration::seconds(self.rng.random_range(45..120));
        for k in 0..session_count {
            let last_session = k + 1 == session_count;
            let end = if last_session && active {
                None
            } else {
                let length = Duration::seconds(self.rng.random_range(60..300));
                Some((at + length).min(self.now - Duration::seconds(180)))
            };
            plans.push(SessionPlan {
                id: format!("cb-{:012x}", self.rng.random::<u64>() & 0xffff_ffff_ffff),
                start: at,
                end,
                control_granted: self.rng.random_bool(0.5),
                odd_segment: index % 5 == 2 && k == 0,
            });
            if let Some(end) = end {
                let gap = Duration::seconds(self.rng.random_range(30..120));
                at = (end + gap).min(self.now - Duration::seconds(60));
            }
        }
        plans
    }

    /// Per session, the customer's sharing communication and the agent's
    /// viewing one (wrapped up once the session ended).
    fn cobrowse_comms(
        &mut self,
        plans: &[SessionPlan],
        customer_id: &str,
        customer: &Customer,
        agent: &User,
        codes: &[WrapupCode],
        page: &str,
    ) -> (Vec<Cobrowsesession>, Vec<Cobrowsesession>) {
        let mut customer_comms = Vec::new();
        let mut agent_comms = Vec::new();
        for plan in plans {
            let customer_comm = self.uuid();
            let agent_comm = self.uuid();
            customer_comms.push(self.comm(
                plan,
                &customer_comm,
                &agent_comm,
                "sharer",
                &customer.name,
                &customer.email,
                None,
            ));
            let control = plan.control_granted.then(|| customer_id.to_owned());
            let mut viewer = self.comm(
                plan,
                &agent_comm,
                &customer_comm,
                "viewer",
                agent.name.as_deref().unwrap_or("Agent"),
                agent.email.as_deref().unwrap_or(""),
                control,
            );
            viewer.viewer_url = Some(format!("https://cobrowse.example.com/view/{}", plan.id));
            if let Some(end) = plan.end {
                let code = &codes[self.rng.random_range(0..codes.len())];
                viewer.wrapup = Some(Wrapup {
                    code: code.id.clone(),
                    name: code.name.clone(),
                    notes: Some(format!("Co-browsed {page} with the customer.")),
                    tags: vec!["cobrowse".into()],
                    duration_seconds: Some(self.rng.random_range(10..90)),
                    end_time: Some(end + Duration::seconds(40)),
                    provisional: Some(false),
                });
                viewer.after_call_work = Some(AfterCallWork {
                    start_time: Some(end),
                    end_time: Some(end + Duration::seconds(40)),
                    state: Some(Wire::new("complete")),
                });
                viewer.after_call_work_required = Some(true);
            } else {
                viewer.after_call_work_required = Some(false);
            }
            agent_comms.push(viewer);
        }
        (customer_comms, agent_comms)
    }

    /// Sometimes (three times in ten) a screen share alongside the last
    /// session: the customer's and the agent's ends.
    fn screenshares(&mut self, plans: &[SessionPlan]) -> Option<(Screenshare, Screenshare)> {
        if !self.rng.random_bool(0.3) {
            return None;
        }
        let plan = plans.last().expect("at least one session");
        let room = format!("{:016x}@conference.example.com", self.rng.random::<u64>());
        let customer_share = self.uuid();
        let agent_share = self.uuid();
        let share = |id: &str, peer: &str, sharing: bool| Screenshare {
            state: Some(plan.state()),
            initial_state: Some(Wire::new("alerting")),
            id: Some(id.into()),
            context: Some(room.clone()),
            sharing: Some(sharing),
            peer_count: Some(1),
            disconnect_type: plan.end.map(|_| Wire::new("endpoint")),
            start_alerting_time: Some(plan.start + Duration::seconds(20)),
            connected_time: Some(plan.start + Duration::seconds(24)),
            disconnected_time: plan.end,
            provider: Some("PureCloud Screenshare".into()),
            peer_id: Some(peer.into()),
            segments: vec![
                segment(
                    plan.start + Duration::seconds(20),
                    Some(plan.start + Duration::seconds(24)),
                    "Alert",
                    None,
                ),
                segment(
                    plan.start + Duration::seconds(24),
                    plan.end,
                    "Interact",
                    plan.end.map(|_| "endpoint"),
                ),
            ],
            wrapup: None,
            after_call_work: None,
            after_call_work_required: Some(false),
        };
        Some((
            share(&customer_share, &agent_share, true),
            share(&agent_share, &customer_share, false),
        ))
    }

    fn customer(
        &mut self,
        at: &ConversationSetting<'_>,
        id: String,
        person: &Customer,
        comms: Vec<Cobrowsesession>,
    ) -> Participant {
        Participant {
            id: Some(id),
            start_time: Some(at.start),
            connected_time: Some(at.start + Duration::seconds(2)),
            end_time: at.end,
            name: Some(person.name.clone()),
            external_contact_id: self.rng.random_bool(0.5).then(|| self.uuid()),
            purpose: Some(Wire::new("customer")),
            participant_type: Some("External".into()),
            address: Some(person.email.clone()),
            locale: Some("en-US".into()),
            wrapup_required: Some(false),
            attributes: BTreeMap::from([
                ("source".to_owned(), "web".to_owned()),
                (
                    "url".to_owned(),
                    format!("https://shop.example.com{}", at.page),
                ),
                (
                    "pageTitle".to_owned(),
                    format!("Example Shop - {}", &at.page[1..]),
                ),
            ]),
            cobrowsesessions: comms,
            ..Participant::default()
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn comm(
        &mut self,
        plan: &SessionPlan,
        id: &str,
        peer: &str,
        role: &str,
        name: &str,
        address: &str,
        controls: Option<String>,
    ) -> Cobrowsesession {
        let alert = plan.start - Duration::seconds(3);
        let mut segments = vec![segment(alert, Some(plan.start), "Alert", None)];
        if plan.odd_segment {
            let mid = plan.start + Duration::seconds(30);
            segments.push(segment(plan.start, Some(mid), "Sharing", None));
            // Some sessions end badly: the REST spellings analytics and the
            // events spell otherwise (docs/upstream.md, "Wire spellings").
            segments.push(segment(
                mid,
                plan.end,
                "Interact",
                plan.end.map(|_| "transport.failure"),
            ));
        } else {
            segments.push(segment(
                plan.start,
                plan.end,
                "Interact",
                plan.end.map(|_| "peer"),
            ));
        }
        Cobrowsesession {
            state: Some(plan.state()),
            initial_state: Some(Wire::new("alerting")),
            id: Some(id.into()),
            disconnect_type: plan.end.map(|_| {
                Wire::new(match (role, plan.odd_segment) {
                    (_, true) => "transport.failure",
                    ("sharer", false) => "client",
                    _ => "peer",
                })
            }),
            self_address: Some(Address {
                name: Some(name.into()),
                name_raw: Some(name.into()),
                address_normalized: Some(address.to_lowercase()),
                address_raw: Some(address.into()),
                address_displayable: Some(address.into()),
            }),
            cobrowse_session_id: Some(plan.id.clone()),
            cobrowse_role: Some(Wire::new(role)),
            controlling: controls.into_iter().collect(),
            viewer_url: None,
            provider_event_time: Some(
                plan.end.unwrap_or(plan.start)
                    + Duration::milliseconds(self.rng.random_range(5..400)),
            ),
            start_alerting_time: Some(alert),
            connected_time: Some(plan.start),
            disconnected_time: plan.end,
            provider: Some(COBROWSE_PROVIDER.into()),
            peer_id: Some(peer.into()),
            segments,
            wrapup: None,
            after_call_work: None,
            after_call_work_required: None,
        }
    }
}

/// The customer of a conversation.
struct Customer {
    name: String,
    email: String,
}

/// What the participants of one conversation share.
struct ConversationSetting<'a> {
    index: usize,
    start: DateTime<Utc>,
    /// The conversation's end, once it ended.
    end: Option<DateTime<Utc>>,
    page: &'a str,
    queue: &'a Queue,
    agent: &'a User,
}

/// The queue's leg: it routed the conversation and handed it on.
fn acd(at: &ConversationSetting<'_>, id: String) -> Participant {
    Participant {
        id: Some(id),
        start_time: Some(at.start + Duration::seconds(1)),
        end_time: Some(at.start + Duration::seconds(20)),
        connected_time: Some(at.start + Duration::seconds(1)),
        name: at.queue.name.clone(),
        queue_id: at.queue.id.clone(),
        queue_name: at.queue.name.clone(),
        purpose: Some(Wire::new("acd")),
        participant_type: Some("Internal".into()),
        wrapup_required: Some(false),
        ..Participant::default()
    }
}

fn agent_participant(
    at: &ConversationSetting<'_>,
    id: String,
    comms: Vec<Cobrowsesession>,
) -> Participant {
    let agent = at.agent;
    Participant {
        id: Some(id),
        start_time: Some(at.start + Duration::seconds(20)),
        connected_time: Some(at.start + Duration::seconds(25)),
        end_time: at.end,
        name: agent.name.clone(),
        user_uri: agent.self_uri.clone(),
        user_id: agent.id.clone(),
        queue_id: at.queue.id.clone(),
        queue_name: at.queue.name.clone(),
        purpose: Some(Wire::new("agent")),
        participant_type: Some("Internal".into()),
        address: agent.email.clone(),
        wrapup_required: Some(true),
        wrapup_prompt: Some(Wire::new(if at.index.is_multiple_of(3) {
            "mandatory"
        } else {
            "optional"
        })),
        wrapup_timeout_ms: Some(60_000),
        wrapup_skipped: Some(false),
        wrapup: comms.last().and_then(|c| c.wrapup.clone()),
        alerting_timeout_ms: Some(8_000),
        start_acw_time: at.end,
        end_acw_time: at.end.map(|e| e + Duration::seconds(40)),
        cobrowsesessions: comms,
        ..Participant::default()
    }
}

/// The conversation in both upstream shapes.
fn assemble(
    id: String,
    at: &ConversationSetting<'_>,
    people: [Participant; 3],
    view: Vec<CobrowseMediaParticipant>,
) -> SimConversation {
    let name = format!(
        "Co-browse with {}",
        people[0].name.as_deref().unwrap_or_default()
    );
    let full = Conversation {
        id: Some(id.clone()),
        name: Some(name),
        external_tag: Some(format!("web-{:06}", at.index + 1)),
        start_time: Some(at.start),
        end_time: at.end,
        address: Some(format!("https://shop.example.com{}", at.page)),
        participants: people.into(),
        conversation_ids: Vec::new(),
        max_participants: Some(3),
        recording_state: Some(Wire::new("NONE")),
        divisions: Vec::new(),
        self_uri: Some(format!("/api/v2/conversations/{id}")),
    };
    let view = CobrowseConversation {
        id: Some(id.clone()),
        name: full.name.clone(),
        participants: view,
        other_media_uris: Vec::new(),
        divisions: Vec::new(),
        self_uri: Some(format!("/api/v2/conversations/cobrowsesessions/{id}")),
    };
    SimConversation {
        full,
        view,
        phase: LifePhase::Started,
        changed: at.end.unwrap_or(at.start),
        before: None,
    }
}

/// The co-browse view of the three participants (customer, queue, agent).
fn view_participants(
    people: &[Participant; 3],
    at: &ConversationSetting<'_>,
    script: EntityRef,
) -> Vec<CobrowseMediaParticipant> {
    let [customer, acd, agent] = people;
    let mut view = vec![
        media(customer, "inbound", None),
        media(acd, "inbound", None),
        media(agent, "inbound", Some(script)),
    ];
    view[1].state = Some(Wire::new("disconnected"));
    view[1].disconnect_type = Some(Wire::new("transfer"));
    view[1].queue = ref_to("routing/queues", at.queue.id.as_deref());
    view[2].user = ref_to("users", at.agent.id.as_deref());
    view[2].queue = ref_to("routing/queues", at.queue.id.as_deref());
    view[0].external_contact = ref_to(
        "externalcontacts/contacts",
        customer.external_contact_id.as_deref(),
    );
    if at.index % 10 == 9 {
        view[0].error_info = Some(ErrorBody {
            message: Some("The co-browse viewer lost its connection.".into()),
            code: Some("cobrowse.viewer.connection.lost".into()),
            status: Some(500),
            ..ErrorBody::default()
        });
    }
    view
}

pub(super) fn segment(
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    kind: &str,
    disconnect: Option<&str>,
) -> Segment {
    Segment {
        start_time: Some(start),
        end_time: end,
        segment_type: Some(Wire::new(kind)),
        how_ended: end.map(|_| {
            if disconnect.is_some() {
                "Disconnect"
            } else {
                "Transition"
            }
            .into()
        }),
        disconnect_type: disconnect.map(Wire::new),
    }
}

pub(super) fn ref_to(collection: &str, id: Option<&str>) -> Option<EntityRef> {
    id.map(|id| EntityRef {
        id: Some(id.into()),
        name: None,
        self_uri: Some(format!("/api/v2/{collection}/{id}")),
    })
}

/// The co-browse view of a participant: its own fields plus those of its
/// latest co-browse communication.
pub(super) fn media(
    p: &Participant,
    direction: &str,
    script: Option<EntityRef>,
) -> CobrowseMediaParticipant {
    let comm = p.cobrowsesessions.last();
    CobrowseMediaParticipant {
        id: p.id.clone(),
        name: p.name.clone(),
        address: p.address.clone(),
        start_time: p.start_time,
        start_alerting_time: comm.and_then(|c| c.start_alerting_time),
        connected_time: p.connected_time,
        end_time: p.end_time,
        start_hold_time: None,
        purpose: p.purpose.clone(),
        state: comm.and_then(|c| c.state.clone()),
        direction: Some(Wire::new(direction)),
        disconnect_type: comm.and_then(|c| c.disconnect_type.clone()),
        held: Some(false),
        wrapup_required: p.wrapup_required,
        wrapup_prompt: p.wrapup_prompt.clone(),
        user: None,
        queue: None,
        team: None,
        attributes: p.attributes.clone(),
        error_info: None,
        script,
        wrapup_timeout_ms: p.wrapup_timeout_ms,
        wrapup_skipped: p.wrapup_skipped,
        alerting_timeout_ms: p.alerting_timeout_ms,
        provider: comm.and_then(|c| c.provider.clone()),
        external_contact: None,
        external_organization: None,
        wrapup: p.wrapup.clone(),
        peer: comm.and_then(|c| c.peer_id.clone()),
        cobrowse_session_id: comm.and_then(|c| c.cobrowse_session_id.clone()),
        cobrowse_role: comm.and_then(|c| c.cobrowse_role.clone()),
        controlling: comm.map(|c| c.controlling.clone()).unwrap_or_default(),
        viewer_url: comm.and_then(|c| c.viewer_url.clone()),
        provider_event_time: comm.and_then(|c| c.provider_event_time),
        start_acw_time: p.start_acw_time,
        end_acw_time: p.end_acw_time,
    }
}

/// Where a conversation is in its life; each step moves it to the next.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifePhase {
    /// A customer started it; no one else is there yet.
    Started,
    /// A queue (the ACD participant) took it.
    Routed,
    /// The queue handed it to an agent.
    AgentJoined,
    /// The customer shares the browser, the agent views it.
    CobrowseStarted,
    /// The customer let the agent control the page.
    ControlGranted,
    /// A screen share started beside the co-browse session.
    ScreenshareStarted,
    /// Customer and agent disconnected; the agent is in after-call work.
    Disconnected,
    /// The agent applied a wrap-up code.
    WrappedUp,
    /// The conversation is over.
    Ended,
}

impl LifePhase {
    /// The phase after this one.
    pub fn next(self) -> Option<LifePhase> {
        Some(match self {
            LifePhase::Started => LifePhase::Routed,
            LifePhase::Routed => LifePhase::AgentJoined,
            LifePhase::AgentJoined => LifePhase::CobrowseStarted,
            LifePhase::CobrowseStarted => LifePhase::ControlGranted,
            LifePhase::ControlGranted => LifePhase::ScreenshareStarted,
            LifePhase::ScreenshareStarted => LifePhase::Disconnected,
            LifePhase::Disconnected => LifePhase::WrappedUp,
            LifePhase::WrappedUp => LifePhase::Ended,
            LifePhase::Ended => return None,
        })
    }
}

/// The last participant of `purpose` (`customer`, `agent`, `acd`).
pub(super) fn with_purpose<'a>(
    conv: &'a SimConversation,
    purpose: &str,
) -> Option<&'a Participant> {
    conv.full
        .participants
        .iter()
        .rev()
        .find(|p| p.purpose.as_ref().map(Wire::raw) == Some(purpose))
}

pub(super) fn customer_id(conv: &SimConversation) -> Option<String> {
    with_purpose(conv, "customer").and_then(|p| p.id.clone())
}

pub(super) fn agent_id(conv: &SimConversation) -> Option<String> {
    with_purpose(conv, "agent").and_then(|p| p.id.clone())
}

pub(super) fn participant_mut<'a>(
    conv: &'a mut SimConversation,
    purpose: &str,
) -> Option<&'a mut Participant> {
    conv.full
        .participants
        .iter_mut()
        .rev()
        .find(|p| p.purpose.as_ref().map(Wire::raw) == Some(purpose))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_world() {
        let now = Utc::now();
        let a = World::generate(12, 3, now);
        let b = World::generate(12, 3, now);
        let ids = |w: &World| {
            w.conversations
                .iter()
                .map(|c| c.full.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&World::generate(12, 4, now)));
    }

    #[test]
    fn every_time_is_in_the_past_and_sessions_do_not_overlap() {
        let now = Utc::now();
        let world = World::generate(40, 9, now);
        for conv in &world.conversations {
            let customer = &conv.full.participants[0];
            let mut previous_end = None;
            for comm in &customer.cobrowsesessions {
                let connected = comm.connected_time.expect("connected");
                assert!(connected < now);
                assert!(comm
                    .disconnected_time
                    .is_none_or(|d| connected <= d && d < now));
                assert!(previous_end.is_none_or(|e| e <= connected));
                previous_end = comm.disconnected_time;
            }
        }
    }

    #[test]
    fn sharer_and_viewer_share_a_session_id() {
        let world = World::generate(8, 1, Utc::now());
        for conv in &world.conversations {
            let sessions = |purpose: &str| -> Vec<Option<String>> {
                conv.full
                    .participants
                    .iter()
                    .filter(|p| p.purpose.as_ref().map(Wire::raw) == Some(purpose))
                    .flat_map(|p| {
                        p.cobrowsesessions
                            .iter()
                            .map(|c| c.cobrowse_session_id.clone())
                    })
                    .collect()
            };
            assert!(!sessions("customer").is_empty());
            assert_eq!(sessions("customer"), sessions("agent"));
        }
        assert!(world
            .conversations
            .iter()
            .any(SimConversation::has_active_cobrowse));
        assert!(!world
            .conversations
            .iter()
            .all(SimConversation::has_active_cobrowse));
    }
}
