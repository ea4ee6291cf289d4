//! The PureCloud enumerations the graph exposes.
//!
//! Each is a GraphQL enum with an `UNKNOWN` fallback; the wire keeps the raw
//! string (see [`super::wire`]). One fact has up to three spellings: the REST
//! routes' (dotted lower case, the first table of each enum), the
//! notification events' short forms and analytics' camelCase (the alias
//! tables). Every allowed value of every spelling in the pinned SDK release
//! (`tests/fixtures/genesys-sdk.json`) maps to a named value: the tests below
//! read them from there (docs/upstream.md, "Wire spellings").

use super::wire::wire_enum;

wire_enum! {
    /// The connection state of a communication.
    CommunicationState {
        Alerting = "alerting", Dialing = "dialing", Contacting = "contacting",
        Offering = "offering", Connected = "connected", Disconnected = "disconnected",
        Terminated = "terminated", Converting = "converting", Uploading = "uploading",
        Transmitting = "transmitting", Parked = "parked", Scheduled = "scheduled",
        /// Upstream reports no state.
        None = "none",
    }
}

impl CommunicationState {
    /// Whether a communication in this state is over.
    pub fn is_ended(self) -> bool {
        matches!(self, Self::Disconnected | Self::Terminated)
    }
}

wire_enum! {
    /// What caused a communication or participant to disconnect.
    DisconnectType {
        Endpoint = "endpoint", EndpointDoNotDisturb = "endpoint.donotdisturb",
        Client = "client", System = "system", Timeout = "timeout", Transfer = "transfer",
        TransferConference = "transfer.conference", TransferConsult = "transfer.consult",
        TransferForward = "transfer.forward", TransferNoAnswer = "transfer.noanswer",
        TransferNotAvailable = "transfer.notavailable",
        TransferDoNotDisturb = "transfer.donotdisturb",
        TransportFailure = "transport.failure", Error = "error", Peer = "peer",
        Other = "other", Spam = "spam", Uncallable = "uncallable",
        Inactivity = "inactivity", SessionExpired = "session.expired", Takeover = "takeover",
    }
    aliases [DisconnectType::EVENTS, DisconnectType::ANALYTICS]
}

impl DisconnectType {
    /// The notification events' short forms (the queue and user co-browse and
    /// screen-share topics' participant models); other values as REST.
    pub(crate) const EVENTS: &'static [(&'static str, Self)] = &[
        ("endpoint.dnd", Self::EndpointDoNotDisturb),
        ("transfer.dnd", Self::TransferDoNotDisturb),
    ];

    /// Analytics (`AnalyticsConversationSegment.disconnectType`), every value.
    pub(crate) const ANALYTICS: &'static [(&'static str, Self)] = &[
        ("client", Self::Client),
        ("conferenceTransfer", Self::TransferConference),
        ("consultTransfer", Self::TransferConsult),
        ("dndEndpoint", Self::EndpointDoNotDisturb),
        ("dndTransfer", Self::TransferDoNotDisturb),
        ("endpoint", Self::Endpoint),
        ("error", Self::Error),
        ("forwardTransfer", Self::TransferForward),
        ("inactivity", Self::Inactivity),
        ("noAnswerTransfer", Self::TransferNoAnswer),
        ("notAvailableTransfer", Self::TransferNotAvailable),
        ("other", Self::Other),
        ("peer", Self::Peer),
        ("sessionExpired", Self::SessionExpired),
        ("spam", Self::Spam),
        ("system", Self::System),
        ("takeover", Self::Takeover),
        ("timeout", Self::Timeout),
        ("transfer", Self::Transfer),
        ("transportFailure", Self::TransportFailure),
        ("uncallable", Self::Uncallable),
    ];
}

wire_enum! {
    /// Why a participant is in the conversation.
    ParticipantPurpose {
        Agent = "agent", User = "user", Customer = "customer", External = "external",
        Acd = "acd", Ivr = "ivr", Api = "api", Botflow = "botflow", Campaign = "campaign",
        Dialer = "dialer", Group = "group", Inbound = "inbound", Outbound = "outbound",
        Station = "station", Voicemail = "voicemail", Workflow = "workflow",
        Fax = "fax", Manual = "manual", VoiceSurveyFlow = "voicesurveyflow",
    }
}

wire_enum! {
    /// Which side started the participant's leg.
    Direction { Inbound = "inbound", Outbound = "outbound" }
}

wire_enum! {
    /// The part a client plays in a co-browse session.
    CobrowseRole {
        /// The client whose browser is shared (usually the customer).
        Sharer = "sharer",
        /// A client watching the shared browser (usually the agent).
        Viewer = "viewer",
    }
}

wire_enum! {
    /// How wrap-up is asked of a participant.
    WrapupPrompt {
        Mandatory = "mandatory", Optional = "optional", AgentRequested = "agentRequested",
        Timeout = "timeout", ForcedTimeout = "forcedTimeout",
    }
}

wire_enum! {
    /// The state of after-call work. The wire value `unknown` reads as `UNKNOWN`.
    AfterCallWorkState {
        NotApplicable = "notApplicable", Skipped = "skipped", Pending = "pending",
        Complete = "complete",
    }
}

wire_enum! {
    /// The kind of a segment of a communication's timeline. REST spells them capitalised (`Interact`), analytics in lower case (`interact`); the wire value `unknown` reads as `UNKNOWN`.
    SegmentType {
        Alert = "Alert", System = "System", Delay = "Delay", Hold = "Hold",
        Interact = "Interact", Ivr = "IVR", Dialing = "Dialing", Wrapup = "Wrapup",
        Voicemail = "Voicemail", Scheduled = "Scheduled", SdkOnly = "SdkOnly",
        /// A co-browse or screen share in progress (analytics `sharing`).
        Sharing = "sharing", Contacting = "contacting", Converting = "converting",
        Transmitting = "transmitting", Uploading = "uploading", Parked = "parked",
        Callback = "callback", Barging = "barging", Coaching = "coaching",
        Monitoring = "monitoring", ScreenMonitoring = "screenmonitoring",
    }
}

wire_enum! {
    /// Whether a conversation is being recorded.
    RecordingState { Active = "ACTIVE", Paused = "PAUSED", None = "NONE" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::wire::WireEnum;

    /// The pinned SDK release's models (scripts/genesys-sdk-fixture).
    fn sdk_models() -> serde_json::Map<String, serde_json::Value> {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/genesys-sdk.json"
        )))
        .expect("the fixture is JSON");
        fixture["models"].as_object().expect("models").clone()
    }

    /// Whether `raw` maps to a named value of the enum the field reads as;
    /// `None` for a field the graph does not expose as one of these enums.
    fn maps(model: &str, field: &str, raw: &str) -> Option<bool> {
        fn named<E: WireEnum + PartialEq>(raw: &str) -> bool {
            // `unknown` and `none` are upstream's own words for "not known".
            E::from_wire(raw) != E::UNKNOWN || raw == "unknown"
        }
        Some(match (model, field) {
            // The state fields of other things than communications.
            ("User" | "AsyncQueryStatus" | "ChannelTopic", "state") => return None,
            (_, "state" | "initialState") => named::<CommunicationState>(raw),
            (_, "disconnectType") => named::<DisconnectType>(raw),
            (_, "segmentType") => named::<SegmentType>(raw),
            (_, "purpose" | "conversationInitiator") => named::<ParticipantPurpose>(raw),
            (_, "direction" | "originatingDirection") => named::<Direction>(raw),
            (_, "cobrowseRole") => named::<CobrowseRole>(raw),
            (_, "wrapupPrompt") => named::<WrapupPrompt>(raw),
            (_, "recordingState") => named::<RecordingState>(raw),
            _ => return None,
        })
    }

    #[test]
    fn every_allowed_value_of_every_spelling_maps_to_a_named_value() {
        let mut checked = 0;
        let mut unnamed = Vec::new();
        for (model, spec) in sdk_models() {
            for (field, values) in spec["enums"].as_object().expect("enums") {
                for raw in values.as_array().expect("values") {
                    let raw = raw.as_str().expect("a string");
                    match maps(&model, field, raw) {
                        Some(true) => checked += 1,
                        Some(false) => unnamed.push(format!("{model}.{field} = {raw}")),
                        None => {}
                    }
                }
            }
        }
        assert!(unnamed.is_empty(), "read as UNKNOWN: {unnamed:#?}");
        assert!(checked > 300, "the fixture's values were read ({checked})");
    }

    #[test]
    fn the_three_spellings_of_one_fact_read_alike() {
        for (rest, event, analytics) in [
            (
                "transfer.conference",
                "transfer.conference",
                "conferenceTransfer",
            ),
            ("endpoint.donotdisturb", "endpoint.dnd", "dndEndpoint"),
            ("transfer.donotdisturb", "transfer.dnd", "dndTransfer"),
            ("transport.failure", "transport.failure", "transportFailure"),
            ("session.expired", "session.expired", "sessionExpired"),
        ] {
            let value = DisconnectType::from_wire(rest);
            assert_ne!(value, DisconnectType::Unknown, "{rest}");
            assert_eq!(DisconnectType::from_wire(event), value, "{event}");
            assert_eq!(DisconnectType::from_wire(analytics), value, "{analytics}");
            assert_eq!(
                value.as_wire(),
                Some(rest),
                "written back as REST spells it"
            );
        }
        assert_eq!(
            SegmentType::from_wire("Interact"),
            SegmentType::from_wire("interact")
        );
        assert_eq!(SegmentType::from_wire("sharing"), SegmentType::Sharing);
    }

    #[test]
    fn the_analytics_table_spells_every_value_analytics_allows_and_nothing_else() {
        let models = sdk_models();
        let allowed = &models["AnalyticsConversationSegment"]["enums"]["disconnectType"];
        let mut allowed: Vec<&str> = allowed
            .as_array()
            .expect("values")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let mut table: Vec<&str> = DisconnectType::ANALYTICS.iter().map(|(w, _)| *w).collect();
        allowed.sort_unstable();
        table.sort_unstable();
        assert_eq!(table, allowed);
        for (short, _) in DisconnectType::EVENTS {
            let event = &models["QueueConversationCobrowseEventTopicCobrowseMediaParticipant"];
            assert!(
                event["enums"]["disconnectType"]
                    .as_array()
                    .expect("values")
                    .iter()
                    .any(|v| v == short),
                "{short} is an event spelling"
            );
        }
    }
}
