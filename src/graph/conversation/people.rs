//! The people of a session and how each joined: their resolvers.

use async_graphql::Object;

use super::*;
use crate::graph::context::duration_seconds;
use crate::purecloud::Time;
use crate::upstream::enums::*;
use crate::zoom::event::ZoomRole;

/// A person in a co-browse session, whatever the provider.
#[Object]
impl SessionParticipant {
    /// The person's display name.
    async fn name(&self) -> Option<String> {
        match self {
            SessionParticipant::PureCloud(p) => {
                p.participant.get().name.clone().or_else(|| p.name.clone())
            }
            SessionParticipant::Zoom(z, i) => z.participants[*i].name.clone(),
        }
    }
    /// The provider's id of the person (PureCloud participant id; Zoom user id, unique within the session only).
    async fn provider_user_id(&self) -> Option<String> {
        match self {
            SessionParticipant::PureCloud(p) => p.participant.get().id.clone(),
            SessionParticipant::Zoom(z, i) => Some(z.participants[*i].user_id.clone()),
        }
    }
    /// Sharer or viewer (PureCloud); customer or agent (Zoom).
    async fn role(&self) -> SessionRole {
        match self {
            SessionParticipant::PureCloud(p) => match p.role {
                Some(CobrowseRole::Sharer) => SessionRole::Sharer,
                Some(CobrowseRole::Viewer) => SessionRole::Viewer,
                _ => SessionRole::Unknown,
            },
            SessionParticipant::Zoom(z, i) => match z.participants[*i].role {
                Some(ZoomRole::Customer) => SessionRole::Customer,
                Some(ZoomRole::Agent) => SessionRole::Agent,
                None => SessionRole::Unknown,
            },
        }
    }
    /// Every connection, oldest first (PureCloud: each co-browse communication).
    async fn connections(&self) -> Vec<SessionJoin> {
        match self {
            SessionParticipant::PureCloud(p) => p.joins.clone(),
            SessionParticipant::Zoom(z, i) => z.participants[*i]
                .connections
                .iter()
                .map(|c| SessionJoin {
                    id: Some(c.connection_id.clone()),
                    join: c.join_time,
                    leave: c.leave_time,
                    reason: c.leave_reason.clone(),
                })
                .collect(),
        }
    }
    /// The PureCloud participant behind this person (PureCloud).
    async fn participant(&self) -> Option<CobrowseMediaParticipantView> {
        match self {
            SessionParticipant::PureCloud(p) => Some(p.participant.clone()),
            SessionParticipant::Zoom(..) => None,
        }
    }
}

/// One connection of a person to a session.
#[Object]
impl SessionJoin {
    /// The connection's id (Zoom `user_connection_id`; PureCloud communication id).
    async fn connection_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// When the connection joined.
    async fn join_time(&self) -> Option<Time> {
        self.join
    }
    /// When it left; null while connected.
    async fn leave_time(&self) -> Option<Time> {
        self.leave
    }
    /// Why it left (Zoom `leave_reason`; PureCloud `disconnectType`).
    async fn leave_reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
    /// Seconds connected (to now while connected).
    async fn duration_seconds(&self) -> Option<f64> {
        duration_seconds(self.join, self.leave)
    }
}
