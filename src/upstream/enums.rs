//! The PureCloud enumerations the graph exposes.
//!
//! Each is a GraphQL enum with an `UNKNOWN` fallback; the wire keeps the raw
//! string (see [`super::wire`]). Spellings are those of UPSTREAM.md §1.

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
}

wire_enum! {
    /// Why a participant is in the conversation.
    ParticipantPurpose {
        Agent = "agent", User = "user", Customer = "customer", External = "external",
        Acd = "acd", Ivr = "ivr", Api = "api", Botflow = "botflow", Campaign = "campaign",
        Dialer = "dialer", Group = "group", Inbound = "inbound", Outbound = "outbound",
        Station = "station", Voicemail = "voicemail", Workflow = "workflow",
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
    /// The kind of a segment of a communication's timeline. The wire value
    /// `Unknown` reads as `UNKNOWN`.
    SegmentType {
        Alert = "Alert", System = "System", Delay = "Delay", Hold = "Hold",
        Interact = "Interact", Ivr = "IVR", Dialing = "Dialing", Wrapup = "Wrapup",
        Voicemail = "Voicemail", Scheduled = "Scheduled", SdkOnly = "SdkOnly",
    }
}

wire_enum! {
    /// Whether a conversation is being recorded.
    RecordingState { Active = "ACTIVE", Paused = "PAUSED", None = "NONE" }
}
