//! The bodies the simulator's queue topics carry: its own event types, the
//! SDKs' event models field for field ([`crate::upstream::events`]), filled
//! from the conversation's co-browse view and full form. Not the REST
//! conversation: no `selfUri`, no `startAlertingTime`, references without
//! their `selfUri`; the event's own fields (`initialState`,
//! `conversationRoutingData`, the conversation's `address`) as the
//! conversation has them.

use crate::upstream::events::{
    CobrowseEvent, CobrowseEventParticipant, DivisionMembership, DomainEntityRef, EventWrapup,
    RoutingData, ScreenShareEvent, ScreenShareEventParticipant, UriReference,
};
use crate::upstream::model::{Conversation, DivisionRef, EntityRef, Participant, Wrapup};

use super::data::SimConversation;

fn reference(entity: Option<&EntityRef>) -> Option<UriReference> {
    entity.map(|e| UriReference {
        id: e.id.clone(),
        name: e.name.clone(),
    })
}

fn reference_to(id: Option<&String>) -> Option<UriReference> {
    id.map(|id| UriReference {
        id: Some(id.clone()),
        name: None,
    })
}

fn wrapup(w: &Wrapup) -> EventWrapup {
    EventWrapup {
        code: w.code.clone(),
        notes: w.notes.clone(),
        tags: w.tags.clone(),
        duration_seconds: w.duration_seconds,
        end_time: w.end_time,
    }
}

fn divisions(divisions: &[DivisionRef]) -> Vec<DivisionMembership> {
    let entity = |e: &EntityRef| DomainEntityRef {
        id: e.id.clone(),
        self_uri: e.self_uri.clone(),
    };
    divisions
        .iter()
        .map(|d| DivisionMembership {
            division: d.division.as_ref().map(entity),
            entities: d.entities.iter().map(entity).collect(),
        })
        .collect()
}

fn routing(p: &Participant) -> Option<RoutingData> {
    p.queue_id.as_ref().map(|queue| RoutingData {
        queue: reference_to(Some(queue)),
        ..RoutingData::default()
    })
}

fn participant<'a>(full: &'a Conversation, id: Option<&String>) -> Option<&'a Participant> {
    full.participants.iter().find(|p| p.id.as_ref() == id)
}

/// The body of the co-browse topic's event.
pub(super) fn cobrowse(conversation: &SimConversation) -> CobrowseEvent {
    let full = &conversation.full;
    let participants = conversation
        .view
        .participants
        .iter()
        .map(|m| {
            let p = participant(full, m.id.as_ref());
            CobrowseEventParticipant {
                id: m.id.clone(),
                name: m.name.clone(),
                address: m.address.clone(),
                start_time: m.start_time,
                connected_time: m.connected_time,
                end_time: m.end_time,
                start_hold_time: m.start_hold_time,
                purpose: m.purpose.clone(),
                state: m.state.clone(),
                initial_state: p
                    .and_then(|p| p.cobrowsesessions.last())
                    .and_then(|c| c.initial_state.clone()),
                direction: m.direction.clone(),
                disconnect_type: m.disconnect_type.clone(),
                held: m.held,
                wrapup_required: m.wrapup_required,
                wrapup_prompt: m.wrapup_prompt.clone(),
                user: reference(m.user.as_ref()),
                queue: reference(m.queue.as_ref()),
                team: reference(m.team.as_ref()),
                attributes: m.attributes.clone(),
                error_info: m.error_info.clone(),
                script: reference(m.script.as_ref()),
                wrapup_timeout_ms: m.wrapup_timeout_ms,
                wrapup_skipped: m.wrapup_skipped,
                alerting_timeout_ms: m.alerting_timeout_ms,
                provider: m.provider.clone(),
                external_contact: reference(m.external_contact.as_ref()),
                external_organization: reference(m.external_organization.as_ref()),
                wrapup: m.wrapup.as_ref().map(wrapup),
                conversation_routing_data: p.and_then(routing),
                peer: m.peer.clone(),
                screen_recording_state: p.and_then(|p| p.screen_recording_state.clone()),
                flagged_reason: p.and_then(|p| p.flagged_reason.clone()),
                start_acw_time: m.start_acw_time,
                end_acw_time: m.end_acw_time,
                cobrowse_session_id: m.cobrowse_session_id.clone(),
                cobrowse_role: m.cobrowse_role.clone(),
                viewer_url: m.viewer_url.clone(),
                provider_event_time: m.provider_event_time,
                controlling: m.controlling.clone(),
                ..CobrowseEventParticipant::default()
            }
        })
        .collect();
    CobrowseEvent {
        id: conversation.view.id.clone(),
        name: conversation.view.name.clone(),
        participants,
        other_media_uris: conversation.view.other_media_uris.clone(),
        address: full.address.clone(),
        divisions: divisions(&conversation.view.divisions),
        ..CobrowseEvent::default()
    }
}

/// The body of the screen-share topic's event (none: no participant has
/// a screen share yet).
pub(super) fn screenshare(conversation: &SimConversation) -> Option<ScreenShareEvent> {
    let full = &conversation.full;
    let participants: Vec<ScreenShareEventParticipant> = full
        .participants
        .iter()
        .filter_map(|p| {
            let share = p.screenshares.last()?;
            Some(ScreenShareEventParticipant {
                id: p.id.clone(),
                name: p.name.clone(),
                address: p.address.clone(),
                start_time: p.start_time,
                connected_time: p.connected_time,
                end_time: p.end_time,
                purpose: p.purpose.clone(),
                state: share.state.clone(),
                initial_state: share.initial_state.clone(),
                disconnect_type: share.disconnect_type.clone(),
                wrapup_required: p.wrapup_required,
                wrapup_prompt: p.wrapup_prompt.clone(),
                user: reference_to(p.user_id.as_ref()),
                queue: reference_to(p.queue_id.as_ref()),
                attributes: p.attributes.clone(),
                wrapup: p.wrapup.as_ref().map(wrapup),
                conversation_routing_data: routing(p),
                provider: share.provider.clone(),
                peer: share.peer_id.clone(),
                start_acw_time: p.start_acw_time,
                end_acw_time: p.end_acw_time,
                context: share.context.clone(),
                peer_count: share.peer_count,
                sharing: share.sharing,
                ..ScreenShareEventParticipant::default()
            })
        })
        .collect();
    if participants.is_empty() {
        return None;
    }
    Some(ScreenShareEvent {
        id: full.id.clone(),
        name: full.name.clone(),
        participants,
        address: full.address.clone(),
        divisions: divisions(&full.divisions),
        ..ScreenShareEvent::default()
    })
}
