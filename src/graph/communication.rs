//! Communications (co-browse and screen-share) and the small value types
//! they share: segments, wrap-up, after-call work, addresses, references.

use async_graphql::{Context, Object, Result, Union, ID};

use super::conversation::{Attribute, ConversationData, Participant};
use super::errors::GqlResult;
use super::ids::NodeId;
use super::session::{PureCloudSession, Session};
use super::{duration_seconds, source};
use crate::upstream::enums::*;
use crate::upstream::model::{self, Time};
use crate::upstream::wire::Wire;

/// A co-browse or screen-share communication.
#[derive(Union)]
pub(crate) enum Communication {
    Cobrowsesession(CobrowseComm),
    Screenshare(ScreenshareComm),
}

/// Builds the participant that owns communication `p` of `conversation`,
/// loading what the selection of that participant needs.
async fn owner(
    ctx: &Context<'_>,
    conversation: &ConversationData,
    p: usize,
) -> Result<Participant> {
    let data = conversation
        .clone()
        .for_participants(ctx, &ctx.look_ahead())
        .await?;
    let id = data
        .full
        .as_ref()
        .and_then(|f| f.participants.get(p))
        .and_then(|p| p.id.clone());
    let view = id.as_deref().and_then(|id| {
        data.view
            .as_ref()?
            .participants
            .iter()
            .position(|m| m.id.as_deref() == Some(id))
    });
    Ok(Participant {
        conversation: data,
        full: Some(p),
        view,
    })
}

/// Declares a communication type: the struct, its access to the upstream
/// DTO, and a GraphQL object with the fields every communication has
/// (PureCloud's `Cobrowsesession` and `Screenshare` share most of their
/// model) plus the type's own `$extra` resolvers.
macro_rules! communication {
    (
        $(#[$doc:meta])*
        $ty:ident, $gql:literal, $model:ty, $list:ident, $variant:ident,
        { $($extra:tt)* }
    ) => {
        #[derive(Clone)]
        pub(crate) struct $ty {
            conversation: ConversationData,
            participant: usize,
            index: usize,
        }

        impl $ty {
            /// Communication `index` of participant `participant`;
            /// `conversation` must hold the full form.
            pub(crate) fn new(conversation: ConversationData, participant: usize, index: usize) -> Self {
                debug_assert!(conversation.full.is_some());
                Self { conversation, participant, index }
            }

            pub(crate) fn dto(&self) -> &$model {
                &self.full_participant().$list[self.index]
            }

            fn full_participant(&self) -> &model::Participant {
                let full = self
                    .conversation
                    .full
                    .as_ref()
                    .expect("communications come from the full form");
                &full.participants[self.participant]
            }
        }

        $(#[$doc])*
        #[Object(name = $gql)]
        impl $ty {
            /// Global id of this communication (opaque; use it with `node(id:)`).
            pub(crate) async fn id(&self) -> ID {
                ID(NodeId::$variant {
                    conversation: self.conversation.id.to_string(),
                    participant: self.full_participant().id.clone().unwrap_or_default(),
                    communication: self.dto().id.clone().unwrap_or_default(),
                }
                .encode())
            }
            /// The communication's PureCloud id.
            async fn communication_id(&self) -> Option<&str> {
                self.dto().id.as_deref()
            }
            /// The connection state.
            async fn state(&self) -> Option<CommunicationState> {
                self.dto().state.as_ref().map(Wire::get)
            }
            /// `state` exactly as upstream sent it.
            async fn state_raw(&self) -> Option<&str> {
                self.dto().state.as_ref().map(Wire::raw)
            }
            /// The state the communication started in.
            async fn initial_state(&self) -> Option<CommunicationState> {
                self.dto().initial_state.as_ref().map(Wire::get)
            }
            /// What caused the disconnect; null until then.
            async fn disconnect_type(&self) -> Option<DisconnectType> {
                self.dto().disconnect_type.as_ref().map(Wire::get)
            }
            /// `disconnectType` exactly as upstream sent it.
            async fn disconnect_type_raw(&self) -> Option<&str> {
                self.dto().disconnect_type.as_ref().map(Wire::raw)
            }
            /// When the communication started alerting.
            async fn start_alerting_time(&self) -> Option<Time> {
                self.dto().start_alerting_time
            }
            /// When the communication connected.
            async fn connected_time(&self) -> Option<Time> {
                self.dto().connected_time
            }
            /// When the communication disconnected; null while connected.
            async fn disconnected_time(&self) -> Option<Time> {
                self.dto().disconnected_time
            }
            /// Seconds connected: to the disconnect, or to now while connected.
            async fn duration_seconds(&self) -> Option<f64> {
                duration_seconds(self.dto().connected_time, self.dto().disconnected_time)
            }
            /// The provider of the communication.
            async fn provider(&self) -> Option<&str> {
                self.dto().provider.as_deref()
            }
            /// The id of the communication on the matching leg, as upstream sent it.
            async fn peer_id(&self) -> Option<&str> {
                self.dto().peer_id.as_deref()
            }
            /// The communication on the matching leg.
            async fn peer(&self) -> Option<Communication> {
                self.conversation
                    .communication(self.dto().peer_id.as_deref()?)
            }
            /// The communication's timeline.
            async fn segments(&self) -> Vec<SegmentObject<'_>> {
                self.dto().segments.iter().map(SegmentObject).collect()
            }
            /// Wrap-up data, once applied.
            async fn wrapup(&self) -> Option<WrapupObject<'_>> {
                self.dto().wrapup.as_ref().map(WrapupObject)
            }
            /// After-call work of the communication.
            async fn after_call_work(&self) -> Option<AfterCallWorkObject<'_>> {
                self.dto().after_call_work.as_ref().map(AfterCallWorkObject)
            }
            /// Whether after-call work is required (agent-requested ACW only).
            async fn after_call_work_required(&self) -> Option<bool> {
                self.dto().after_call_work_required
            }
            /// The participant this communication belongs to.
            async fn participant(&self, ctx: &Context<'_>) -> Result<Participant> {
                owner(ctx, &self.conversation, self.participant).await
            }
            $($extra)*
        }
    };
}

communication! {
    /// One participant's co-browse communication (`Cobrowsesession` upstream).
    /// The customer's communication shares; the agent's views. Both carry the
    /// same `cobrowseSessionId`; the session they make up, for any provider,
    /// is a `Session`.
    CobrowseComm, "Cobrowsesession", model::Cobrowsesession, cobrowsesessions, Cobrowsesession,
    {
        /// Name and address of this end of the communication.
        #[graphql(name = "self")]
        async fn self_address(&self) -> Option<AddressObject<'_>> {
            self.dto().self_address.as_ref().map(AddressObject)
        }
        /// The co-browse session id the sharer and its viewers share.
        async fn cobrowse_session_id(&self) -> Option<&str> {
            self.dto().cobrowse_session_id.as_deref()
        }
        /// Whether this client shares or views.
        async fn cobrowse_role(&self) -> Option<CobrowseRole> {
            self.dto().cobrowse_role.as_ref().map(Wire::get)
        }
        /// `cobrowseRole` exactly as upstream sent it.
        async fn cobrowse_role_raw(&self) -> Option<&str> {
            self.dto().cobrowse_role.as_ref().map(Wire::raw)
        }
        /// The participants this client has been granted control of (empty when
        /// it cannot control any shared page).
        async fn controlling(&self, ctx: &Context<'_>) -> Result<Vec<Participant>> {
            if self.dto().controlling.is_empty() {
                return Ok(Vec::new());
            }
            let data = self
                .conversation
                .clone()
                .for_participants(ctx, &ctx.look_ahead())
                .await?;
            Ok(self
                .dto()
                .controlling
                .iter()
                .filter_map(|id| data.participant(id))
                .collect())
        }
        /// Ids of the participants this client controls, as upstream sent them.
        async fn controlling_ids(&self) -> Vec<&str> {
            self.dto().controlling.iter().map(String::as_str).collect()
        }
        /// The URL that opens the session in a browser (viewers).
        async fn viewer_url(&self) -> Option<&str> {
            self.dto().viewer_url.as_deref()
        }
        /// When the provider event behind the latest update happened.
        async fn provider_event_time(&self) -> Option<Time> {
            self.dto().provider_event_time
        }
        /// The co-browse session this communication is part of.
        async fn session(&self) -> Option<Session> {
            let id = self.dto().cobrowse_session_id.as_deref()?;
            Some(Session::PureCloud(PureCloudSession::new(
                self.conversation.clone(),
                id,
            )))
        }
    }
}

impl CobrowseComm {
    pub(crate) fn participant_index(&self) -> usize {
        self.participant
    }

    pub(crate) fn is_active(&self) -> bool {
        self.dto()
            .state
            .as_ref()
            .is_some_and(|s| !s.get().is_ended())
    }
}

communication! {
    /// One participant's screen-share communication (`Screenshare` upstream).
    ScreenshareComm, "Screenshare", model::Screenshare, screenshares, Screenshare,
    {
        /// The conference room of the share (an XMPP JID).
        async fn context(&self) -> Option<&str> {
            self.dto().context.as_deref()
        }
        /// Whether this participant is the one sharing its screen.
        async fn sharing(&self) -> Option<bool> {
            self.dto().sharing
        }
        /// How many peers this participant sees in the conference.
        async fn peer_count(&self) -> Option<i32> {
            self.dto().peer_count
        }
    }
}

/// One stretch of a communication's timeline.
pub(crate) struct SegmentObject<'a>(pub(crate) &'a model::Segment);

/// One stretch of a communication's timeline.
#[Object(name = "Segment")]
impl SegmentObject<'_> {
    /// When the segment started.
    async fn start_time(&self) -> Option<Time> {
        self.0.start_time
    }
    /// When the segment ended; null while it goes on.
    async fn end_time(&self) -> Option<Time> {
        self.0.end_time
    }
    /// Seconds from start to end (or to now while it goes on).
    async fn duration_seconds(&self) -> Option<f64> {
        duration_seconds(self.0.start_time, self.0.end_time)
    }
    /// What kind of activity the segment is.
    #[graphql(name = "type")]
    async fn segment_type(&self) -> Option<SegmentType> {
        self.0.segment_type.as_ref().map(Wire::get)
    }
    /// `type` exactly as upstream sent it.
    async fn type_raw(&self) -> Option<&str> {
        self.0.segment_type.as_ref().map(Wire::raw)
    }
    /// How the segment ended.
    async fn how_ended(&self) -> Option<&str> {
        self.0.how_ended.as_deref()
    }
    /// What caused the disconnect that ended the segment, if one did.
    async fn disconnect_type(&self) -> Option<DisconnectType> {
        self.0.disconnect_type.as_ref().map(Wire::get)
    }
    /// `disconnectType` exactly as upstream sent it.
    async fn disconnect_type_raw(&self) -> Option<&str> {
        self.0.disconnect_type.as_ref().map(Wire::raw)
    }
}

/// Wrap-up (disposition) data.
pub(crate) struct WrapupObject<'a>(pub(crate) &'a model::Wrapup);

/// Wrap-up (disposition) data.
#[Object(name = "Wrapup")]
impl WrapupObject<'_> {
    /// The wrap-up code's id.
    async fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }
    /// The wrap-up code's name.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// The agent's notes.
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }
    /// Tags applied with the wrap-up.
    async fn tags(&self) -> Vec<&str> {
        self.0.tags.iter().map(String::as_str).collect()
    }
    /// How long wrap-up took, in seconds.
    async fn duration_seconds(&self) -> Option<i64> {
        self.0.duration_seconds
    }
    /// When wrap-up ended.
    async fn end_time(&self) -> Option<Time> {
        self.0.end_time
    }
    /// Whether this wrap-up is provisional (may still change).
    async fn provisional(&self) -> Option<bool> {
        self.0.provisional
    }
}

/// After-call work of a communication.
pub(crate) struct AfterCallWorkObject<'a>(&'a model::AfterCallWork);

/// After-call work of a communication.
#[Object(name = "AfterCallWork")]
impl AfterCallWorkObject<'_> {
    /// When after-call work started.
    async fn start_time(&self) -> Option<Time> {
        self.0.start_time
    }
    /// When after-call work ended.
    async fn end_time(&self) -> Option<Time> {
        self.0.end_time
    }
    /// Seconds of after-call work (to now while it goes on).
    async fn duration_seconds(&self) -> Option<f64> {
        duration_seconds(self.0.start_time, self.0.end_time)
    }
    /// Where after-call work stands.
    async fn state(&self) -> Option<AfterCallWorkState> {
        self.0.state.as_ref().map(Wire::get)
    }
    /// `state` exactly as upstream sent it.
    async fn state_raw(&self) -> Option<&str> {
        self.0.state.as_ref().map(Wire::raw)
    }
}

/// Address and name data of an endpoint.
pub(crate) struct AddressObject<'a>(&'a model::Address);

/// Address and name data of an endpoint.
#[Object(name = "Address")]
impl AddressObject<'_> {
    /// The name to show.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// The name as received.
    async fn name_raw(&self) -> Option<&str> {
        self.0.name_raw.as_deref()
    }
    /// The address in normal form.
    async fn address_normalized(&self) -> Option<&str> {
        self.0.address_normalized.as_deref()
    }
    /// The address as received.
    async fn address_raw(&self) -> Option<&str> {
        self.0.address_raw.as_deref()
    }
    /// The address as it should be shown.
    async fn address_displayable(&self) -> Option<&str> {
        self.0.address_displayable.as_deref()
    }
}

/// A reference to another PureCloud entity.
pub(crate) struct EntityRefObject<'a>(pub(crate) &'a model::EntityRef);

/// A reference to another PureCloud entity.
#[Object(name = "EntityRef")]
impl EntityRefObject<'_> {
    /// The entity's id.
    async fn id(&self) -> Option<&str> {
        self.0.id.as_deref()
    }
    /// The entity's name, when upstream includes it.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// The entity's API path.
    async fn self_uri(&self) -> Option<&str> {
        self.0.self_uri.as_deref()
    }
}

/// Upstream's account of an error a conversation ended in.
pub(crate) struct ErrorInfo<'a>(pub(crate) &'a model::ErrorBody);

/// Upstream's account of an error a conversation ended in.
#[Object(name = "ErrorInfo")]
impl<'a> ErrorInfo<'a> {
    /// What went wrong.
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    /// Upstream's error code.
    async fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }
    /// The HTTP status upstream gave it.
    async fn status(&self) -> Option<i32> {
        self.0.status
    }
    /// The entity concerned.
    async fn entity_id(&self) -> Option<&str> {
        self.0.entity_id.as_deref()
    }
    /// The name of the entity concerned.
    async fn entity_name(&self) -> Option<&str> {
        self.0.entity_name.as_deref()
    }
    /// The message with `{placeholders}`.
    async fn message_with_params(&self) -> Option<&str> {
        self.0.message_with_params.as_deref()
    }
    /// Values of the placeholders.
    async fn message_params(&self) -> Vec<Attribute<'_>> {
        self.0
            .message_params
            .iter()
            .map(|(k, v)| Attribute::new(k, v))
            .collect()
    }
    /// Upstream's id of the failing request.
    async fn context_id(&self) -> Option<&str> {
        self.0.context_id.as_deref()
    }
    /// Field-level details.
    async fn details(&self) -> Vec<ErrorDetailObject<'_>> {
        self.0.details.iter().map(ErrorDetailObject).collect()
    }
    /// Nested errors.
    async fn errors(&self) -> Vec<ErrorInfo<'_>> {
        self.0.errors.iter().map(ErrorInfo).collect()
    }
}

/// One detail of an [`ErrorInfo`].
pub(crate) struct ErrorDetailObject<'a>(&'a model::ErrorDetail);

/// One field-level detail of an error.
#[Object(name = "ErrorDetail")]
impl ErrorDetailObject<'_> {
    /// The detail's error code.
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    /// The field concerned.
    async fn field_name(&self) -> Option<&str> {
        self.0.field_name.as_deref()
    }
    /// The entity concerned.
    async fn entity_id(&self) -> Option<&str> {
        self.0.entity_id.as_deref()
    }
    /// The name of the entity concerned.
    async fn entity_name(&self) -> Option<&str> {
        self.0.entity_name.as_deref()
    }
}

/// Loads a communication for `node(id:)`.
pub(crate) async fn load_communication(
    ctx: &Context<'_>,
    conversation: &str,
    communication: &str,
) -> Result<Option<Communication>> {
    let full = source(ctx).conversation(conversation).await.gql()?;
    Ok(ConversationData::from_full(conversation, full).communication(communication))
}
