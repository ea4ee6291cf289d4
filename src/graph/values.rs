//! The value types of communications and participants: segments, wrap-up,
//! after-call work, addresses, references, errors and attributes; and the
//! values reports take (intervals, media). Thin views over the domain's
//! records; they refer to nothing else in the graph but error codes.

use async_graphql::{Enum, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::errors::bad_input;

use super::context::duration_seconds;
use crate::purecloud::{self, Time};
use crate::upstream::enums::*;
use crate::upstream::wire::Wire;

/// One stretch of a communication's timeline.
pub(crate) struct SegmentView<'a>(pub(crate) &'a purecloud::Segment);

/// One stretch of a communication's timeline.
#[Object(name = "Segment")]
impl SegmentView<'_> {
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
pub(crate) struct WrapupView<'a>(pub(crate) &'a purecloud::Wrapup);

/// Wrap-up (disposition) data.
#[Object(name = "Wrapup")]
impl WrapupView<'_> {
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
pub(crate) struct AfterCallWorkView<'a>(pub(crate) &'a purecloud::AfterCallWork);

/// After-call work of a communication.
#[Object(name = "AfterCallWork")]
impl AfterCallWorkView<'_> {
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
pub(crate) struct AddressView<'a>(pub(crate) &'a purecloud::Address);

/// Address and name data of an endpoint.
#[Object(name = "Address")]
impl AddressView<'_> {
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
pub(crate) struct EntityRefView<'a>(pub(crate) &'a purecloud::EntityRef);

/// A reference to another PureCloud entity.
#[Object(name = "EntityRef")]
impl EntityRefView<'_> {
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
pub(crate) struct ErrorInfo<'a>(pub(crate) &'a purecloud::ErrorBody);

/// Upstream's account of an error a conversation ended in.
#[Object]
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
    async fn details(&self) -> Vec<ErrorDetailView<'_>> {
        self.0.details.iter().map(ErrorDetailView).collect()
    }
    /// Nested errors.
    async fn errors(&self) -> Vec<ErrorInfo<'_>> {
        self.0.errors.iter().map(ErrorInfo).collect()
    }
}

/// One detail of an [`ErrorInfo`].
pub(crate) struct ErrorDetailView<'a>(pub(crate) &'a purecloud::ErrorDetail);

/// One field-level detail of an error.
#[Object(name = "ErrorDetail")]
impl ErrorDetailView<'_> {
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

/// One key/value attribute.
pub(crate) struct Attribute<'a> {
    key: &'a str,
    value: &'a str,
}

impl<'a> Attribute<'a> {
    pub(crate) fn new(key: &'a str, value: &'a str) -> Self {
        Self { key, value }
    }
}

/// One key/value attribute.
#[Object]
impl Attribute<'_> {
    /// The attribute's name.
    async fn key(&self) -> &str {
        self.key
    }
    /// The attribute's value.
    async fn value(&self) -> &str {
        self.value
    }
}

/// The longest interval a report covers: analytics' own limit.
pub(crate) const MAX_INTERVAL_DAYS: i64 = 31;

/// A span of time: from `start` (included) to `end` (excluded).
#[derive(InputObject, Clone, Copy)]
pub(crate) struct IntervalInput {
    /// Where it starts (included).
    pub(crate) start: DateTime<Utc>,
    /// Where it ends (excluded).
    pub(crate) end: DateTime<Utc>,
}

impl IntervalInput {
    /// Refuses an empty, backwards or too long interval.
    pub(crate) fn check(&self) -> Result<()> {
        if self.start >= self.end {
            return Err(bad_input("the interval's `start` must be before its `end`"));
        }
        if self.end - self.start > chrono::Duration::days(MAX_INTERVAL_DAYS) {
            return Err(bad_input(format!(
                "an interval may span at most {MAX_INTERVAL_DAYS} days (what analytics answers); ask for several"
            )));
        }
        Ok(())
    }
}

/// The media of a PureCloud session.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionMedia {
    /// Co-browse: a shared browser page.
    Cobrowse,
    /// Screen share.
    Screenshare,
}

impl SessionMedia {
    /// Analytics' names of `media` (none or empty: none, which the
    /// queries take as both).
    pub(crate) fn wires(media: Option<&[SessionMedia]>) -> Vec<&'static str> {
        media.unwrap_or_default().iter().map(|m| m.wire()).collect()
    }

    /// As analytics writes it.
    pub(crate) fn wire(self) -> &'static str {
        match self {
            SessionMedia::Cobrowse => "cobrowse",
            SessionMedia::Screenshare => "screenshare",
        }
    }
}
