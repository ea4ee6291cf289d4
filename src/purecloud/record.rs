//! A conversation from its analytics record (docs/upstream.md, "Analytics"): what the
//! details query says of it, as the domain model.
//!
//! Analytics speaks of sessions and segments where the conversation API
//! speaks of communications: each co-browse session of a participant
//! becomes a co-browse communication, grouped with its peers by analytics'
//! `cobrowseRoomId` (which Genesys does not document as equal to the REST
//! `cobrowseSessionId`: a session built from a record is keyed by its room,
//! and says so as `Session.roomId`), each screen-share session a screen
//! share (grouped by `screenShareRoomId`); a session's times come from its segments, and it is over
//! once its last segment ended. A participant's queue is the queue of its
//! segments. Segment types and disconnect types keep upstream's spelling
//! (lower case, camelCase) as raw values.

use std::sync::Arc;

use super::{ConversationModel, Inputs, ParticipantModel};
use crate::upstream::analytics::{AnalyticsConversation, AnalyticsSegment, AnalyticsSession};
use crate::upstream::model::{Cobrowsesession, Screenshare, Segment, Time, Wrapup};
use crate::upstream::wire::Wire;

/// A conversation from its analytics record.
pub(crate) fn from_record(id: &str, record: &AnalyticsConversation) -> ConversationModel {
    ConversationModel {
        id: id.into(),
        inputs: Inputs::default(),
        external_tag: record.external_tag.clone(),
        start_time: record.conversation_start,
        end_time: record.conversation_end,
        participants: record
            .participants
            .iter()
            .map(|p| {
                let queue = p
                    .sessions
                    .iter()
                    .flat_map(|s| &s.segments)
                    .find_map(|s| s.queue_id.as_deref());
                ParticipantModel {
                    id: p.participant_id.clone(),
                    name: p.participant_name.clone(),
                    purpose: p.purpose.as_deref().map(Wire::new),
                    user_id: p.user_id.as_deref().map(Arc::from),
                    queue_id: queue.map(Arc::from),
                    start_time: first_start(p.sessions.iter().flat_map(|s| &s.segments)),
                    cobrowsesessions: p
                        .sessions
                        .iter()
                        .filter(|s| s.media_type.as_deref() == Some("cobrowse"))
                        .map(cobrowse)
                        .collect(),
                    screenshares: p
                        .sessions
                        .iter()
                        .filter(|s| s.media_type.as_deref() == Some("screenshare"))
                        .map(screenshare)
                        .collect(),
                    ..ParticipantModel::default()
                }
            })
            .collect(),
        ..ConversationModel::default()
    }
}

fn first_start<'a>(segments: impl Iterator<Item = &'a AnalyticsSegment>) -> Option<Time> {
    segments.filter_map(|s| s.segment_start).min()
}

/// When a session connected, ended and alerted, from its segments.
struct Times {
    alert: Option<Time>,
    connected: Option<Time>,
    ended: Option<Time>,
}

fn times(session: &AnalyticsSession) -> Times {
    let segments = &session.segments;
    let alert = segments
        .iter()
        .filter(|s| s.segment_type.as_deref() == Some("alert"))
        .filter_map(|s| s.segment_start)
        .min();
    let connected = segments
        .iter()
        .filter(|s| s.segment_type.as_deref() != Some("alert"))
        .filter_map(|s| s.segment_start)
        .min();
    let over = !segments.is_empty() && segments.iter().all(|s| s.segment_end.is_some());
    let ended = over
        .then(|| segments.iter().filter_map(|s| s.segment_end).max())
        .flatten();
    Times {
        alert,
        connected,
        ended,
    }
}

fn state<E: crate::upstream::wire::WireEnum>(times: &Times) -> Wire<E> {
    Wire::new(if times.ended.is_some() {
        "disconnected"
    } else {
        "connected"
    })
}

fn segments(session: &AnalyticsSession) -> Vec<Segment> {
    session
        .segments
        .iter()
        .map(|s| Segment {
            start_time: s.segment_start,
            end_time: s.segment_end,
            segment_type: s.segment_type.as_deref().map(Wire::new),
            how_ended: None,
            disconnect_type: s.disconnect_type.as_deref().map(Wire::new),
        })
        .collect()
}

fn wrapup(session: &AnalyticsSession) -> Option<Wrapup> {
    session
        .segments
        .iter()
        .find(|s| s.wrap_up_code.is_some())
        .map(|s| Wrapup {
            code: s.wrap_up_code.clone(),
            notes: s.wrap_up_note.clone(),
            ..Wrapup::default()
        })
}

fn disconnect_type<E: crate::upstream::wire::WireEnum>(
    session: &AnalyticsSession,
) -> Option<Wire<E>> {
    session
        .segments
        .iter()
        .rev()
        .find_map(|s| s.disconnect_type.as_deref())
        .map(Wire::new)
}

fn cobrowse(session: &AnalyticsSession) -> Cobrowsesession {
    let times = times(session);
    Cobrowsesession {
        state: Some(state(&times)),
        id: session.session_id.clone(),
        disconnect_type: disconnect_type(session),
        cobrowse_session_id: session.cobrowse_room_id.clone(),
        cobrowse_role: session.cobrowse_role.as_deref().map(Wire::new),
        start_alerting_time: times.alert,
        connected_time: times.connected,
        disconnected_time: times.ended,
        provider: session.provider.clone(),
        peer_id: session.peer_id.clone(),
        segments: segments(session),
        wrapup: wrapup(session),
        ..Cobrowsesession::default()
    }
}

fn screenshare(session: &AnalyticsSession) -> Screenshare {
    let times = times(session);
    Screenshare {
        state: Some(state(&times)),
        id: session.session_id.clone(),
        context: session.screen_share_room_id.clone(),
        sharing: session.sharing_screen,
        disconnect_type: disconnect_type(session),
        start_alerting_time: times.alert,
        connected_time: times.connected,
        disconnected_time: times.ended,
        provider: session.provider.clone(),
        peer_id: session.peer_id.clone(),
        segments: segments(session),
        wrapup: wrapup(session),
        ..Screenshare::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::analytics::AnalyticsParticipant;

    fn time(s: &str) -> Time {
        s.parse().expect("a time")
    }

    fn segment(kind: &str, start: &str, end: Option<&str>) -> AnalyticsSegment {
        AnalyticsSegment {
            segment_start: Some(time(start)),
            segment_end: end.map(time),
            segment_type: Some(kind.into()),
            queue_id: Some("q1".into()),
            ..AnalyticsSegment::default()
        }
    }

    #[test]
    fn sessions_become_communications_timed_by_their_segments() {
        let record = AnalyticsConversation {
            conversation_id: Some("c1".into()),
            conversation_start: Some(time("2026-11-30T10:00:00Z")),
            participants: vec![AnalyticsParticipant {
                participant_id: Some("p1".into()),
                participant_name: Some("Ava".into()),
                purpose: Some("agent".into()),
                user_id: Some("u1".into()),
                sessions: vec![
                    AnalyticsSession {
                        session_id: Some("s1".into()),
                        media_type: Some("cobrowse".into()),
                        cobrowse_role: Some("viewer".into()),
                        cobrowse_room_id: Some("room".into()),
                        segments: vec![
                            segment(
                                "alert",
                                "2026-11-30T10:01:00Z",
                                Some("2026-11-30T10:01:03Z"),
                            ),
                            AnalyticsSegment {
                                disconnect_type: Some("transportFailure".into()),
                                wrap_up_code: Some("code-1".into()),
                                ..segment(
                                    "interact",
                                    "2026-11-30T10:01:03Z",
                                    Some("2026-11-30T10:05:00Z"),
                                )
                            },
                        ],
                        ..AnalyticsSession::default()
                    },
                    AnalyticsSession {
                        session_id: Some("s2".into()),
                        media_type: Some("screenshare".into()),
                        sharing_screen: Some(false),
                        segments: vec![segment("interact", "2026-11-30T10:02:00Z", None)],
                        ..AnalyticsSession::default()
                    },
                ],
            }],
            ..AnalyticsConversation::default()
        };
        let c = from_record("c1", &record);
        let p = &c.participants[0];
        assert_eq!(p.queue_id.as_deref(), Some("q1"));
        assert_eq!(p.user_id.as_deref(), Some("u1"));
        let comm = &p.cobrowsesessions[0];
        assert_eq!(comm.cobrowse_session_id.as_deref(), Some("room"));
        assert_eq!(comm.start_alerting_time, Some(time("2026-11-30T10:01:00Z")));
        assert_eq!(comm.connected_time, Some(time("2026-11-30T10:01:03Z")));
        assert_eq!(comm.disconnected_time, Some(time("2026-11-30T10:05:00Z")));
        assert_eq!(comm.state.as_ref().map(Wire::raw), Some("disconnected"));
        assert_eq!(
            comm.disconnect_type.as_ref().map(Wire::raw),
            Some("transportFailure")
        );
        assert_eq!(
            comm.wrapup.as_ref().and_then(|w| w.code.as_deref()),
            Some("code-1")
        );
        let share = &p.screenshares[0];
        assert_eq!(share.state.as_ref().map(Wire::raw), Some("connected"));
        assert_eq!(share.disconnected_time, None);
        assert_eq!(c.sessions().len(), 1);
    }
}
