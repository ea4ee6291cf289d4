//! The bodies of the queue co-browse and screen-share topics' events, as
//! the SDKs' event models have them (`QueueConversationCobrowseEventTopic*`,
//! `QueueConversationScreenShareEventTopic*`; docs/upstream.md,
//! "Notifications"). They are not the REST conversation: no `selfUri`, no
//! participant `startAlertingTime`; the conversation adds `address`,
//! `utilizationLabelId`, `inactivityTimeout`, the participants
//! `initialState`, `conversationRoutingData`, `mediaRoles`, `resumeTime`,
//! `parkTime` and more. References carry `id` and `name` only.
//!
//! The gateway reads events with these types and never takes from an event
//! a field its model lacks: what an event does not carry comes from a read
//! (the full form). The simulator serializes the same types. A test checks
//! every field name against the pinned SDK release's models.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::enums::*;
use super::model::{
    CobrowseConversation, CobrowseMediaParticipant, DivisionRef, EntityRef, ErrorBody, Time, Wrapup,
};
use super::wire::Wire;

/// A reference in an event (`...EventTopicUriReference`): id and name.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UriReference {
    pub id: Option<String>,
    pub name: Option<String>,
}

impl UriReference {
    fn entity(&self) -> EntityRef {
        EntityRef {
            id: self.id.clone(),
            name: self.name.clone(),
            self_uri: None,
        }
    }
}

/// A domain entity in an event (`...EventTopicDomainEntityRef`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DomainEntityRef {
    pub id: Option<String>,
    pub self_uri: Option<String>,
}

/// A division the conversation is in (`...EventTopicConversationDivisionMembership`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DivisionMembership {
    pub division: Option<DomainEntityRef>,
    #[serde(default)]
    pub entities: Vec<DomainEntityRef>,
}

/// A wrap-up in an event (`...EventTopicWrapup`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventWrapup {
    pub code: Option<String>,
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub duration_seconds: Option<i64>,
    pub end_time: Option<Time>,
}

/// How a participant was routed (`...EventTopicConversationRoutingData`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoutingData {
    pub queue: Option<UriReference>,
    pub language: Option<UriReference>,
    pub priority: Option<i32>,
    #[serde(default)]
    pub skills: Vec<UriReference>,
}

/// Declares an event participant: the fields both topics' participant
/// models share, and the media's own.
macro_rules! event_participant {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[skip_serializing_none]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name {
            pub id: Option<String>,
            pub name: Option<String>,
            pub address: Option<String>,
            pub start_time: Option<Time>,
            pub connected_time: Option<Time>,
            pub end_time: Option<Time>,
            pub start_hold_time: Option<Time>,
            /// A free string in the event models.
            pub purpose: Option<Wire<ParticipantPurpose>>,
            pub state: Option<Wire<CommunicationState>>,
            pub initial_state: Option<Wire<CommunicationState>>,
            pub direction: Option<Wire<Direction>>,
            pub disconnect_type: Option<Wire<DisconnectType>>,
            pub held: Option<bool>,
            pub wrapup_required: Option<bool>,
            pub wrapup_prompt: Option<Wire<WrapupPrompt>>,
            pub user: Option<UriReference>,
            pub queue: Option<UriReference>,
            pub team: Option<UriReference>,
            #[serde(default)]
            pub attributes: BTreeMap<String, String>,
            pub error_info: Option<ErrorBody>,
            pub script: Option<UriReference>,
            pub wrapup_timeout_ms: Option<i64>,
            pub wrapup_skipped: Option<bool>,
            pub alerting_timeout_ms: Option<i64>,
            pub provider: Option<String>,
            pub external_contact: Option<UriReference>,
            pub external_contact_initial_division_id: Option<String>,
            pub external_organization: Option<UriReference>,
            pub wrapup: Option<EventWrapup>,
            pub conversation_routing_data: Option<RoutingData>,
            pub peer: Option<String>,
            pub screen_recording_state: Option<String>,
            pub flagged_reason: Option<String>,
            pub start_acw_time: Option<Time>,
            pub end_acw_time: Option<Time>,
            pub resume_time: Option<Time>,
            pub park_time: Option<Time>,
            #[serde(default)]
            pub media_roles: Vec<String>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }
    };
}

event_participant! {
    /// A participant of a co-browse topic's event
    /// (`QueueConversationCobrowseEventTopicCobrowseMediaParticipant`).
    CobrowseEventParticipant {
        cobrowse_session_id: Option<String>,
        cobrowse_role: Option<Wire<CobrowseRole>>,
        viewer_url: Option<String>,
        provider_event_time: Option<Time>,
        #[serde(default)]
        controlling: Vec<String>,
    }
}

event_participant! {
    /// A participant of a screen-share topic's event
    /// (`QueueConversationScreenShareEventTopicScreenShareMediaParticipant`).
    ScreenShareEventParticipant {
        /// The room (the session all its participants share).
        context: Option<String>,
        peer_count: Option<i32>,
        sharing: Option<bool>,
    }
}

/// Declares an event's conversation with the participants of its media.
macro_rules! event_conversation {
    ($(#[$meta:meta])* $name:ident($participant:ty)) => {
        $(#[$meta])*
        #[skip_serializing_none]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name {
            pub id: Option<String>,
            pub name: Option<String>,
            #[serde(default)]
            pub participants: Vec<$participant>,
            #[serde(default)]
            pub other_media_uris: Vec<String>,
            pub address: Option<String>,
            pub utilization_label_id: Option<String>,
            pub inactivity_timeout: Option<Time>,
            #[serde(default)]
            pub divisions: Vec<DivisionMembership>,
        }
    };
}

event_conversation! {
    /// The body of a queue co-browse topic's event
    /// (`QueueConversationCobrowseEventTopicCobrowseConversation`).
    CobrowseEvent(CobrowseEventParticipant)
}

event_conversation! {
    /// The body of a queue screen-share topic's event
    /// (`QueueConversationScreenShareEventTopicScreenShareConversation`).
    ScreenShareEvent(ScreenShareEventParticipant)
}

fn divisions(memberships: &[DivisionMembership]) -> Vec<DivisionRef> {
    let entity = |d: &DomainEntityRef| EntityRef {
        id: d.id.clone(),
        name: None,
        self_uri: d.self_uri.clone(),
    };
    memberships
        .iter()
        .map(|m| DivisionRef {
            division: m.division.as_ref().map(entity),
            entities: m.entities.iter().map(entity).collect(),
        })
        .collect()
}

fn wrapup(w: &EventWrapup) -> Wrapup {
    Wrapup {
        code: w.code.clone(),
        notes: w.notes.clone(),
        tags: w.tags.clone(),
        duration_seconds: w.duration_seconds,
        end_time: w.end_time,
        ..Wrapup::default()
    }
}

/// Moves the fields every event participant has into a co-browse view's
/// participant; what the event model lacks (`startAlertingTime`,
/// references' `selfUri`) stays unset.
macro_rules! common_view {
    ($p:expr) => {{
        let p = $p;
        let entity = |r: Option<UriReference>| r.as_ref().map(UriReference::entity);
        CobrowseMediaParticipant {
            id: p.id,
            name: p.name,
            address: p.address,
            start_time: p.start_time,
            connected_time: p.connected_time,
            end_time: p.end_time,
            start_hold_time: p.start_hold_time,
            purpose: p.purpose,
            state: p.state,
            direction: p.direction,
            disconnect_type: p.disconnect_type,
            held: p.held,
            wrapup_required: p.wrapup_required,
            wrapup_prompt: p.wrapup_prompt,
            user: entity(p.user),
            queue: entity(p.queue),
            team: entity(p.team),
            attributes: p.attributes,
            error_info: p.error_info,
            script: entity(p.script),
            wrapup_timeout_ms: p.wrapup_timeout_ms,
            wrapup_skipped: p.wrapup_skipped,
            alerting_timeout_ms: p.alerting_timeout_ms,
            provider: p.provider,
            external_contact: entity(p.external_contact),
            external_organization: entity(p.external_organization),
            wrapup: p.wrapup.as_ref().map(wrapup),
            peer: p.peer,
            start_acw_time: p.start_acw_time,
            end_acw_time: p.end_acw_time,
            ..CobrowseMediaParticipant::default()
        }
    }};
}

impl CobrowseEvent {
    /// The conversation as the listing holds it (a co-browse view), from
    /// what the event carries (moved, not copied: an event is read once).
    pub(crate) fn into_view(self) -> CobrowseConversation {
        CobrowseConversation {
            id: self.id,
            name: self.name,
            participants: self
                .participants
                .into_iter()
                .map(|mut p| CobrowseMediaParticipant {
                    cobrowse_session_id: p.cobrowse_session_id.take(),
                    cobrowse_role: p.cobrowse_role.take(),
                    controlling: std::mem::take(&mut p.controlling),
                    viewer_url: p.viewer_url.take(),
                    provider_event_time: p.provider_event_time,
                    ..common_view!(p)
                })
                .collect(),
            other_media_uris: self.other_media_uris,
            divisions: divisions(&self.divisions),
            self_uri: None,
        }
    }
}

impl ScreenShareEvent {
    /// A conversation heard of only by a screen-share event, in the shape
    /// the listing holds (a co-browse view): its participants as the event
    /// gives them, none of them in a co-browse session.
    pub(crate) fn view(&self) -> CobrowseConversation {
        CobrowseConversation {
            id: self.id.clone(),
            name: self.name.clone(),
            participants: self
                .participants
                .iter()
                .cloned()
                .map(|p| common_view!(p))
                .collect(),
            other_media_uris: self.other_media_uris.clone(),
            divisions: divisions(&self.divisions),
            self_uri: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

    use super::*;

    /// The JSON field names `T` reads, as serde's derive lists them.
    fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
        struct Probe<'a>(&'a mut &'static [&'static str]);
        impl<'de> Deserializer<'de> for Probe<'_> {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                *self.0 = fields;
                Err(de::Error::custom("probed"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let mut fields: &'static [&'static str] = &[];
        let _ = T::deserialize(Probe(&mut fields));
        assert!(
            !fields.is_empty(),
            "{} is a struct",
            std::any::type_name::<T>()
        );
        fields
    }

    /// The JSON fields of an SDK model in the pinned release.
    fn sdk_fields(model: &str) -> Vec<String> {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/genesys-sdk.json"
        )))
        .expect("the fixture");
        fixture["models"][model]["fields"]
            .as_object()
            .unwrap_or_else(|| panic!("{model} is in the fixture"))
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_field_read_from_an_event_is_a_field_of_the_sdks_event_model() {
        let checks: [(&[&str], &str); 12] = [
            (
                fields_of::<CobrowseEvent>(),
                "QueueConversationCobrowseEventTopicCobrowseConversation",
            ),
            (
                fields_of::<CobrowseEventParticipant>(),
                "QueueConversationCobrowseEventTopicCobrowseMediaParticipant",
            ),
            (
                fields_of::<ScreenShareEvent>(),
                "QueueConversationScreenShareEventTopicScreenShareConversation",
            ),
            (
                fields_of::<ScreenShareEventParticipant>(),
                "QueueConversationScreenShareEventTopicScreenShareMediaParticipant",
            ),
            (
                fields_of::<UriReference>(),
                "QueueConversationCobrowseEventTopicUriReference",
            ),
            (
                fields_of::<EventWrapup>(),
                "QueueConversationCobrowseEventTopicWrapup",
            ),
            (
                fields_of::<DivisionMembership>(),
                "QueueConversationCobrowseEventTopicConversationDivisionMembership",
            ),
            (
                fields_of::<DomainEntityRef>(),
                "QueueConversationCobrowseEventTopicDomainEntityRef",
            ),
            (
                fields_of::<DomainEntityRef>(),
                "QueueConversationCobrowseEventTopicDivisionEntityRef",
            ),
            (
                fields_of::<RoutingData>(),
                "QueueConversationCobrowseEventTopicConversationRoutingData",
            ),
            (
                fields_of::<ErrorBody>(),
                "QueueConversationCobrowseEventTopicErrorBody",
            ),
            (
                fields_of::<crate::upstream::model::ErrorDetail>(),
                "QueueConversationCobrowseEventTopicDetail",
            ),
        ];
        for (ours, model) in checks {
            let theirs = sdk_fields(model);
            let foreign: Vec<&&str> = ours
                .iter()
                .filter(|f| !theirs.iter().any(|t| t == **f))
                .collect();
            assert!(foreign.is_empty(), "{model} has no {foreign:?}");
        }
        // What the issue named as the events' own is read.
        let conversation = fields_of::<CobrowseEvent>();
        for field in ["address", "utilizationLabelId", "inactivityTimeout"] {
            assert!(conversation.contains(&field), "{field}");
        }
        for participant in [
            fields_of::<CobrowseEventParticipant>(),
            fields_of::<ScreenShareEventParticipant>(),
        ] {
            for field in [
                "initialState",
                "conversationRoutingData",
                "mediaRoles",
                "resumeTime",
                "parkTime",
            ] {
                assert!(participant.contains(&field), "{field}");
            }
        }
    }

    #[test]
    fn an_event_read_as_a_view_leaves_unset_what_the_event_does_not_carry() {
        let event: CobrowseEvent = serde_json::from_value(serde_json::json!({
            "id": "c1",
            "address": "customer@example.com",
            "participants": [{
                "id": "p1",
                "startAlertingTime": "2026-12-01T10:00:00Z",
                "connectedTime": "2026-12-01T10:00:05Z",
                "state": "connected",
                "user": { "id": "u1", "name": "Ada", "selfUri": "/api/v2/users/u1" },
                "cobrowseSessionId": "s1",
            }],
            "selfUri": "/api/v2/conversations/c1",
        }))
        .expect("an event reads");
        let view = event.into_view();
        assert_eq!(view.self_uri, None);
        let p = &view.participants[0];
        assert_eq!(p.start_alerting_time, None, "not in the event model");
        assert!(p.connected_time.is_some());
        assert_eq!(p.cobrowse_session_id.as_deref(), Some("s1"));
        let user = p.user.as_ref().expect("a user");
        assert_eq!(
            (user.id.as_deref(), user.self_uri.as_deref()),
            (Some("u1"), None)
        );
    }
}
