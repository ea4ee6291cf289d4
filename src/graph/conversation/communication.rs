//! A participant's communications (co-browse, screen share, and every other
//! media): their resolvers, and the participant that owns one.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::*;
use crate::graph::context::duration_seconds;
use crate::graph::ids::NodeId;
use crate::graph::values::{AddressView, AfterCallWorkView, SegmentView, WrapupView};
use crate::purecloud::Model;
use crate::purecloud::{self, CommunicationAt, Time};
use crate::upstream::enums::*;
use crate::upstream::wire::Wire;

/// Declares a communication type: the struct (a view of communication
/// `index` of participant `participant`), and a GraphQL object with the
/// fields every communication has (PureCloud's `Cobrowsesession` and
/// `Screenshare` share most of their model) plus the type's own `$extra`
/// resolvers.
macro_rules! communication {
    (
        $(#[$doc:meta])*
        $ty:ident, $record:ty, $list:ident,
        { $($extra:tt)* }
    ) => {
        #[derive(Clone)]
        pub(crate) struct $ty {
            conversation: Model,
            participant: usize,
            index: usize,
        }

        impl $ty {
            pub(crate) fn new(conversation: &Model, participant: usize, index: usize) -> Self {
                Self { conversation: Arc::clone(conversation), participant, index }
            }

            fn get(&self) -> &$record {
                &self.conversation.participants[self.participant].$list[self.index]
            }
        }

        $(#[$doc])*
        #[Object]
        impl $ty {
            /// Global id of this communication (opaque; use it with `node(id:)`).
            pub(crate) async fn id(&self) -> ID {
                ID(NodeId::$ty {
                    conversation: self.conversation.id.to_string(),
                    participant: self.conversation.participants[self.participant]
                        .id
                        .clone()
                        .unwrap_or_default(),
                    communication: self.get().id.clone().unwrap_or_default(),
                }
                .encode())
            }
            /// The communication's PureCloud id.
            async fn communication_id(&self) -> Option<&str> {
                self.get().id.as_deref()
            }
            /// The connection state.
            async fn state(&self) -> Option<CommunicationState> {
                self.get().state.as_ref().map(Wire::get)
            }
            /// `state` exactly as upstream sent it.
            async fn state_raw(&self) -> Option<&str> {
                self.get().state.as_ref().map(Wire::raw)
            }
            /// The state the communication started in.
            async fn initial_state(&self) -> Option<CommunicationState> {
                self.get().initial_state.as_ref().map(Wire::get)
            }
            /// What caused the disconnect; null until then.
            async fn disconnect_type(&self) -> Option<DisconnectType> {
                self.get().disconnect_type.as_ref().map(Wire::get)
            }
            /// `disconnectType` exactly as upstream sent it.
            async fn disconnect_type_raw(&self) -> Option<&str> {
                self.get().disconnect_type.as_ref().map(Wire::raw)
            }
            /// When the communication started alerting.
            async fn start_alerting_time(&self) -> Option<Time> {
                self.get().start_alerting_time
            }
            /// When the communication connected.
            async fn connected_time(&self) -> Option<Time> {
                self.get().connected_time
            }
            /// When the communication disconnected; null while connected.
            async fn disconnected_time(&self) -> Option<Time> {
                self.get().disconnected_time
            }
            /// Seconds connected: to the disconnect, or to now while connected.
            async fn duration_seconds(&self) -> Option<f64> {
                duration_seconds(self.get().connected_time, self.get().disconnected_time)
            }
            /// The provider of the communication.
            async fn provider(&self) -> Option<&str> {
                self.get().provider.as_deref()
            }
            /// The id of the communication on the matching leg, as upstream sent it.
            async fn peer_id(&self) -> Option<&str> {
                self.get().peer_id.as_deref()
            }
            /// The communication on the matching leg.
            async fn peer(&self) -> Option<Communication> {
                Communication::at(&self.conversation, self.get().peer_id.as_deref()?)
            }
            /// The communication's timeline.
            async fn segments(&self) -> Vec<SegmentView<'_>> {
                self.get().segments.iter().map(SegmentView).collect()
            }
            /// Wrap-up data, once applied.
            async fn wrapup(&self) -> Option<WrapupView<'_>> {
                self.get().wrapup.as_ref().map(WrapupView)
            }
            /// After-call work of the communication.
            async fn after_call_work(&self) -> Option<AfterCallWorkView<'_>> {
                self.get().after_call_work.as_ref().map(AfterCallWorkView)
            }
            /// Whether after-call work is required (agent-requested ACW only).
            async fn after_call_work_required(&self) -> Option<bool> {
                self.get().after_call_work_required
            }
            /// The participant this communication belongs to.
            async fn participant(&self, ctx: &Context<'_>) -> Result<CobrowseMediaParticipantView> {
                owner(ctx, &self.conversation, self.participant).await
            }
            $($extra)*
        }
    };
}

impl Communication {
    /// The communication with this id in `model`.
    pub(crate) fn at(model: &Model, id: &str) -> Option<Self> {
        Some(match model.communication(id)? {
            CommunicationAt::Cobrowse { participant, index } => {
                Communication::Cobrowsesession(Cobrowsesession::new(model, participant, index))
            }
            CommunicationAt::Screenshare { participant, index } => {
                Communication::Screenshare(Screenshare::new(model, participant, index))
            }
        })
    }
}

communication! {
    /// One participant's co-browse communication (`Cobrowsesession` upstream). The customer's communication shares; the agent's views. Both carry the same `cobrowseSessionId`; the session they make up, for any provider, is a `Session`.
    Cobrowsesession, purecloud::Cobrowsesession, cobrowsesessions,
    {
        /// Name and address of this end of the communication.
        #[graphql(name = "self")]
        async fn self_address(&self) -> Option<AddressView<'_>> {
            self.get().self_address.as_ref().map(AddressView)
        }
        /// The co-browse session id the sharer and its viewers share.
        async fn cobrowse_session_id(&self) -> Option<&str> {
            self.get().cobrowse_session_id.as_deref()
        }
        /// Whether this client shares or views.
        async fn cobrowse_role(&self) -> Option<CobrowseRole> {
            self.get().cobrowse_role.as_ref().map(Wire::get)
        }
        /// `cobrowseRole` exactly as upstream sent it.
        async fn cobrowse_role_raw(&self) -> Option<&str> {
            self.get().cobrowse_role.as_ref().map(Wire::raw)
        }
        /// The participants this client has been granted control of (empty when it cannot control any shared page).
        async fn controlling(&self, ctx: &Context<'_>) -> Fallible<Vec<CobrowseMediaParticipantView>> {
            controlled(ctx, &self.conversation, &self.get().controlling)
                .await
                .map(Some)
        }
        /// Ids of the participants this client controls, as upstream sent them.
        async fn controlling_ids(&self) -> Vec<&str> {
            self.get().controlling.iter().map(String::as_str).collect()
        }
        /// The URL that opens the session in a browser (viewers).
        async fn viewer_url(&self) -> Option<&str> {
            self.get().viewer_url.as_deref()
        }
        /// When the provider event behind the latest update happened.
        async fn provider_event_time(&self) -> Option<Time> {
            self.get().provider_event_time
        }
        /// The co-browse session this communication is part of.
        async fn session(&self) -> Option<Session> {
            let id = self.get().cobrowse_session_id.as_deref()?;
            let session = self.conversation.session(id)?;
            Some(Session::PureCloud(PureCloudSession::new(&self.conversation, session)))
        }
    }
}

communication! {
    /// One participant's screen-share communication (`Screenshare` upstream).
    Screenshare, purecloud::Screenshare, screenshares,
    {
        /// The conference room of the share (an XMPP JID).
        async fn context(&self) -> Option<&str> {
            self.get().context.as_deref()
        }
        /// Whether this participant is the one sharing its screen.
        async fn sharing(&self) -> Option<bool> {
            self.get().sharing
        }
        /// How many peers this participant sees in the conference.
        async fn peer_count(&self) -> Option<i32> {
            self.get().peer_count
        }
    }
}
