//! Seeding the world: from a seed, deterministic and realistic
//! conversations (a customer, an ACD and an agent participant; co-browse
//! communications sharing a session; some with a second session or a screen
//! share, some over), with the users, queues and wrap-up codes they refer
//! to.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::data::{media, ref_to, segment, uuid, LifePhase, SimConversation, World};
use super::data::{COBROWSE_PROVIDER, DIVISIONS, FIRST_NAMES, LAST_NAMES, PAGES};
use crate::upstream::model::*;
use crate::upstream::wire::Wire;

impl World {
    /// Generates `conversations` conversations from `seed`, timed around `now`.
    pub(crate) fn generate(conversations: usize, seed: u64, now: DateTime<Utc>) -> Self {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed),
            now: now.trunc_subsecs(3),
        };
        let wrapup_codes = g.wrapup_codes();
        let queues = g.queues();
        let users = g.users((conversations / 2).clamp(4, 40));
        let convs: Vec<SimConversation> = (0..conversations)
            .map(|i| {
                let mut conv = g.conversation(i, &users, &queues, &wrapup_codes);
                in_division(&mut conv, i);
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

/// Puts conversation `i` in its division: conversations alternate between
/// two, which partner clients may be limited to.
fn in_division(conv: &mut SimConversation, i: usize) {
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
}

impl Gen {
    /// The organisation's wrap-up codes.
    fn wrapup_codes(&mut self) -> Vec<WrapupCode> {
        WRAPUPS
            .iter()
            .map(|name| {
                let id = self.uuid();
                WrapupCode {
                    self_uri: Some(format!("/api/v2/routing/wrapupcodes/{id}")),
                    id: Some(id),
                    name: Some((*name).into()),
                    date_created: Some(self.now - Duration::days(400)),
                }
            })
            .collect()
    }

    /// The organisation's queues.
    fn queues(&mut self) -> Vec<Queue> {
        QUEUES
            .iter()
            .map(|name| {
                let id = self.uuid();
                Queue {
                    self_uri: Some(format!("/api/v2/routing/queues/{id}")),
                    id: Some(id),
                    name: Some((*name).into()),
                    description: Some(format!("{name} co-browse queue")),
                    member_count: Some(self.rng.random_range(4..40)),
                }
            })
            .collect()
    }

    /// `count` agents. Agents leave: the fourth of every eight is
    /// inactive, the eighth deleted; their conversations stay.
    fn users(&mut self, count: usize) -> Vec<User> {
        (0..count)
            .map(|i| {
                let id = self.uuid();
                let (first, last) = self.name();
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
            .collect()
    }
}

pub(super) const QUEUES: &[&str] = &[
    "Web Support",
    "Billing",
    "Onboarding",
    "Mortgages",
    "Premium Care",
    "Claims",
];

pub(super) const WRAPUPS: &[&str] = &[
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

pub(super) struct Gen {
    rng: StdRng,
    now: DateTime<Utc>,
}

/// What one co-browse session looks like, before it becomes two communications.
pub(super) struct SessionPlan {
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
pub(super) struct Customer {
    name: String,
    email: String,
}

/// What the participants of one conversation share.
pub(super) struct ConversationSetting<'a> {
    index: usize,
    start: DateTime<Utc>,
    /// The conversation's end, once it ended.
    end: Option<DateTime<Utc>>,
    page: &'a str,
    queue: &'a Queue,
    agent: &'a User,
}

/// The queue's leg: it routed the conversation and handed it on.
pub(super) fn acd(at: &ConversationSetting<'_>, id: String) -> Participant {
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

pub(super) fn agent_participant(
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
pub(super) fn assemble(
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
pub(super) fn view_participants(
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
