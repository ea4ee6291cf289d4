//! Writing a plan's response: one pass over the plan and the domain data
//! into one buffer, each value written as the general engine's response
//! serializes it (strings escaped by `serde_json`, times as RFC 3339, enums
//! by their GraphQL names, floats by `serde_json`'s shortest form).

use std::sync::Arc;

use async_graphql::resolver_utils::EnumType;
use serde::Serializer as _;

use super::object_bytes::{Hole, Records};
use super::plan::{
    CommunicationField as M, ConnectionField, ConversationField as C, DirectoryField, Field, Nodes,
    ParticipantField as P, Plan, SegmentField as S, SessionField as X,
};
use super::PlanData;
use crate::graph::context::duration_seconds;
use crate::graph::conversation::{PureCloudSession, Session};
use crate::graph::ids::NodeId;
use crate::purecloud::Model;
use crate::purecloud::Time;
use crate::upstream::wire::{Wire, WireEnum};

/// The response body: `{"data":{…}}`.
pub(super) fn response(plan: &Plan, data: &PlanData) -> Vec<u8> {
    // As large as this plan's last response and a little more, so that a
    // dashboard's 30 KB are not copied as the buffer grows.
    let hint = plan.size_hint.load(std::sync::atomic::Ordering::Relaxed);
    let mut out = Out::new(Vec::with_capacity(hint + hint / 8 + 256));
    out.raw(b"{\"data\":{");
    out.raw(&plan.key);
    out.object(&plan.connection, |out, field| match field {
        ConnectionField::Typename => out.str("ConversationConnection"),
        ConnectionField::TotalCount => out.int(Some(data.total as i64)),
        ConnectionField::Nodes(nodes) => {
            out.list(
                data.nodes.iter().zip(&data.records),
                |out, (node, records)| {
                    kept_conversation(out, data, node, records, nodes);
                },
            );
        }
    });
    out.raw(b"}}");
    plan.size_hint
        .store(out.0.len(), std::sync::atomic::Ordering::Relaxed);
    out.0
}

/// A conversation's object: the bytes kept for the same conversation and
/// `records` (with the durations until now written afresh), or written
/// (and kept) now.
fn kept_conversation(
    out: &mut Out,
    data: &PlanData,
    model: &Model,
    records: &Records,
    nodes: &Nodes,
) {
    let until_now = |out: &mut Vec<u8>, since| float(out, duration_seconds(Some(since), None));
    if nodes.kept.copy(model, records, &mut out.0, until_now) {
        return;
    }
    let start = out.0.len();
    out.1 = Some((start, Vec::new()));
    conversation(out, data, model, &nodes.fields);
    let holes = out.1.take().map(|(_, holes)| holes).unwrap_or_default();
    nodes
        .kept
        .put(model, records.clone(), &out.0[start..], holes);
}

/// The user and queue records of each of `model`'s participants, among
/// those read for the response.
pub(super) fn records_of(
    model: &Model,
    users: &[(Arc<str>, Arc<crate::upstream::model::User>)],
    queues: &[(Arc<str>, Arc<crate::upstream::model::Queue>)],
) -> Records {
    model
        .participants
        .iter()
        .map(|p| {
            (
                held(users, p.user_id.as_ref()).cloned(),
                held(queues, p.queue_id.as_ref()).cloned(),
            )
        })
        .collect()
}

fn conversation(out: &mut Out, data: &PlanData, model: &Model, fields: &[Field<C>]) {
    out.object(fields, |out, field| match field {
        C::Typename => out.str("Conversation"),
        C::Id => out.id(&NodeId::Conversation {
            conversation: model.id.to_string(),
        }),
        C::OwnId => out.str(&model.id),
        C::Name => out.opt_str(model.name.as_deref()),
        C::StartTime => out.time(model.start_time),
        C::EndTime => out.time(model.end_time),
        C::DurationSeconds => out.duration(model.start_time, model.end_time),
        C::ExternalTag => out.opt_str(model.external_tag.as_deref()),
        C::Address => out.opt_str(model.address.as_deref()),
        C::MaxParticipants => out.int(model.max_participants.map(i64::from)),
        C::Participants(fields) => out.list(0..model.participants.len(), |out, i| {
            participant(out, data, model, i, fields);
        }),
        C::CobrowseSessions(fields) => out.list(model.sessions().into_iter(), |out, s| {
            session(
                out,
                &Session::PureCloud(PureCloudSession::new(model, s)),
                fields,
            );
        }),
    });
}

/// The record of `id` among those read for the response.
fn held<'a, T>(records: &'a [(Arc<str>, Arc<T>)], id: Option<&Arc<str>>) -> Option<&'a Arc<T>> {
    let id = id?;
    records
        .binary_search_by(|(k, _)| k.as_ref().cmp(id.as_ref()))
        .ok()
        .map(|i| &records[i].1)
}

fn participant(out: &mut Out, data: &PlanData, model: &Model, index: usize, fields: &[Field<P>]) {
    let p = &model.participants[index];
    out.object(fields, |out, field| match field {
        P::Typename => out.str("CobrowseMediaParticipant"),
        P::Id => out.id(&NodeId::Participant {
            conversation: model.id.to_string(),
            participant: p.id.clone().unwrap_or_default(),
        }),
        P::OwnId => out.opt_str(p.id.as_deref()),
        P::Name => out.opt_str(p.name.as_deref()),
        P::Address => out.opt_str(p.address.as_deref()),
        P::StartTime => out.time(p.start_time),
        P::ConnectedTime => out.time(p.connected_time),
        P::EndTime => out.time(p.end_time),
        P::Purpose => out.wire(p.purpose.as_ref()),
        P::PurposeRaw => out.opt_str(p.purpose.as_ref().map(Wire::raw)),
        P::State => out.wire(p.state.as_ref()),
        P::StateRaw => out.opt_str(p.state.as_ref().map(Wire::raw)),
        P::WrapupRequired => out.bool(p.wrapup_required),
        P::CobrowseSessionId => out.opt_str(p.cobrowse_session_id.as_deref()),
        P::CobrowseRole => out.wire(p.cobrowse_role.as_ref()),
        P::ViewerUrl => out.opt_str(p.viewer_url.as_deref()),
        P::User(fields) => reference(
            out,
            p.user_id.as_ref(),
            &data.users,
            fields,
            ("User", |id| NodeId::User {
                user: id.to_owned(),
            }),
            |out, user: &crate::upstream::model::User, name| {
                out.opt_str(match name {
                    "name" => user.name.as_deref(),
                    "email" => user.email.as_deref(),
                    "username" => user.username.as_deref(),
                    "title" => user.title.as_deref(),
                    "department" => user.department.as_deref(),
                    _ => user.state.as_deref(),
                });
            },
        ),
        P::Queue(fields) => reference(
            out,
            p.queue_id.as_ref(),
            &data.queues,
            fields,
            ("Queue", |id| NodeId::Queue {
                queue: id.to_owned(),
            }),
            |out, queue: &crate::upstream::model::Queue, name| match name {
                "memberCount" => out.int(queue.member_count),
                "name" => out.opt_str(queue.name.as_deref()),
                _ => out.opt_str(queue.description.as_deref()),
            },
        ),
        P::CobrowseSessions(fields) => out.list(0..p.cobrowsesessions.len(), |out, c| {
            communication(out, model, index, c, fields);
        }),
    });
}

/// A user or queue reference: null without an id; its record's fields
/// from `held` (which holds every record the selection needs).
fn reference<T>(
    out: &mut Out,
    id: Option<&Arc<str>>,
    held: &[(Arc<str>, Arc<T>)],
    fields: &[Field<DirectoryField>],
    (typename, node): (&str, fn(&str) -> NodeId),
    record: impl Fn(&mut Out, &T, &str),
) {
    let Some(id) = id else {
        return out.null();
    };
    let data = self::held(held, Some(id)).map(|record| &**record);
    out.object(fields, |out, field| match (field, data) {
        (DirectoryField::Typename, _) => out.str(typename),
        (DirectoryField::Id, _) => out.id(&node(id)),
        (DirectoryField::OwnId, _) => out.str(id),
        (DirectoryField::Record(name), Some(data)) => record(out, data, name),
        (DirectoryField::Record(_), None) => out.null(),
    });
}

fn communication(
    out: &mut Out,
    model: &Model,
    participant: usize,
    index: usize,
    fields: &[Field<M>],
) {
    let p = &model.participants[participant];
    let c = &p.cobrowsesessions[index];
    out.object(fields, |out, field| match field {
        M::Typename => out.str("Cobrowsesession"),
        M::Id => out.id(&NodeId::Cobrowsesession {
            conversation: model.id.to_string(),
            participant: p.id.clone().unwrap_or_default(),
            communication: c.id.clone().unwrap_or_default(),
        }),
        M::OwnId => out.opt_str(c.id.as_deref()),
        M::State => out.wire(c.state.as_ref()),
        M::StateRaw => out.opt_str(c.state.as_ref().map(Wire::raw)),
        M::CobrowseSessionId => out.opt_str(c.cobrowse_session_id.as_deref()),
        M::CobrowseRole => out.wire(c.cobrowse_role.as_ref()),
        M::ConnectedTime => out.time(c.connected_time),
        M::DisconnectedTime => out.time(c.disconnected_time),
        M::DurationSeconds => out.duration(c.connected_time, c.disconnected_time),
        M::Provider => out.opt_str(c.provider.as_deref()),
        M::PeerId => out.opt_str(c.peer_id.as_deref()),
        M::ViewerUrl => out.opt_str(c.viewer_url.as_deref()),
        M::Segments(fields) => out.list(c.segments.iter(), |out, s| segment(out, s, fields)),
    });
}

fn segment(out: &mut Out, s: &crate::upstream::model::Segment, fields: &[Field<S>]) {
    out.object(fields, |out, field| match field {
        S::Typename => out.str("Segment"),
        S::Type => out.wire(s.segment_type.as_ref()),
        S::TypeRaw => out.opt_str(s.segment_type.as_ref().map(Wire::raw)),
        S::StartTime => out.time(s.start_time),
        S::EndTime => out.time(s.end_time),
        S::DurationSeconds => out.duration(s.start_time, s.end_time),
        S::HowEnded => out.opt_str(s.how_ended.as_deref()),
    });
}

fn session(out: &mut Out, session: &Session, fields: &[Field<X>]) {
    out.object(fields, |out, field| match field {
        X::Typename => out.str("Session"),
        X::Id => out.id(&session.node_id()),
        X::Provider => out.name(session.provider()),
        X::MediaType => out.name(session.media()),
        X::ProviderSessionId => out.str(session.provider_id()),
        X::State => out.name(session.state()),
        X::StartTime => out.time(session.start()),
        X::EndTime => out.time(session.end()),
        X::DurationSeconds => out.duration(session.start(), session.end()),
        X::StartUrl => out.opt_str(session.zoom_texts()[0]),
        X::Pin => out.opt_str(session.zoom_texts()[1]),
        X::EndReason => out.opt_str(session.zoom_texts()[2]),
        X::ViewerUrl => out.opt_str(session.viewer_link()),
    });
}

/// A float as `serde_json` writes it.
fn float(out: &mut Vec<u8>, value: Option<f64>) {
    let mut json = serde_json::Serializer::new(out);
    match value {
        Some(value) => (&mut json).serialize_f64(value),
        None => (&mut json).serialize_none(),
    }
    .expect("writing to a Vec");
}

/// The response being written, and while a conversation's object is
/// written to be kept, where it starts and its holes so far.
struct Out(Vec<u8>, Option<(usize, Vec<Hole>)>);

impl Out {
    fn new(buffer: Vec<u8>) -> Self {
        Self(buffer, None)
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn null(&mut self) {
        self.raw(b"null");
    }

    /// `{"key":value,…}`, each value written by `value`.
    fn object<K>(&mut self, fields: &[Field<K>], mut value: impl FnMut(&mut Self, &K)) {
        self.raw(b"{");
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            self.raw(&field.key);
            value(self, &field.kind);
        }
        self.raw(b"}");
    }

    /// `[…]`, each item written by `item`.
    fn list<T>(&mut self, items: impl Iterator<Item = T>, mut item: impl FnMut(&mut Self, T)) {
        self.raw(b"[");
        for (i, value) in items.enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            item(self, value);
        }
        self.raw(b"]");
    }

    fn str(&mut self, text: &str) {
        // Most text (ids, names, enum names) needs no escape: copied whole.
        if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.0.reserve(text.len() + 2);
            self.0.push(b'"');
            self.0.extend_from_slice(text.as_bytes());
            self.0.push(b'"');
            return;
        }
        let mut json = serde_json::Serializer::new(&mut self.0);
        (&mut json).serialize_str(text).expect("writing to a Vec");
    }

    fn opt_str(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.str(text),
            None => self.null(),
        }
    }

    fn id(&mut self, id: &NodeId) {
        self.str(&id.encode());
    }

    /// A time as `to_rfc3339` writes it (what the engine's `DateTime`
    /// scalar is), without its allocation and formatting machinery.
    fn time(&mut self, time: Option<Time>) {
        use chrono::{Datelike as _, Timelike as _};
        let Some(time) = time else {
            return self.null();
        };
        let naive = time.naive_utc();
        let (date, clock) = (naive.date(), naive.time());
        let (year, nano) = (date.year(), clock.nanosecond());
        if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
            // A signed year, a leap second: chrono's own way.
            return self.str(&time.to_rfc3339());
        }
        let out = &mut self.0;
        let two = |out: &mut Vec<u8>, n: u32| {
            out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
        };
        let year = year as u32;
        out.push(b'"');
        two(out, year / 100);
        two(out, year % 100);
        out.push(b'-');
        two(out, date.month());
        out.push(b'-');
        two(out, date.day());
        out.push(b'T');
        let seconds = clock.num_seconds_from_midnight();
        two(out, seconds / 3_600);
        out.push(b':');
        two(out, seconds / 60 % 60);
        out.push(b':');
        two(out, seconds % 60);
        // Milli-, micro- or nanoseconds, as many digits as it takes.
        let (digits, mut fraction) = match nano {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (3, n / 1_000_000),
            n if n % 1_000 == 0 => (6, n / 1_000),
            n => (9, n),
        };
        if digits > 0 {
            out.push(b'.');
            let start = out.len();
            out.resize(start + digits, b'0');
            for place in out[start..].iter_mut().rev() {
                *place = b'0' + (fraction % 10) as u8;
                fraction /= 10;
            }
        }
        out.extend_from_slice(b"+00:00\"");
    }

    /// The seconds from `start` to `end`, or until now when it has not
    /// ended (a hole of the bytes being kept).
    fn duration(&mut self, start: Option<Time>, end: Option<Time>) {
        let at = self.0.len();
        float(&mut self.0, duration_seconds(start, end));
        if let (Some(since), None, Some((base, holes))) = (start, end, &mut self.1) {
            holes.push(Hole {
                at: at - *base,
                len: self.0.len() - at,
                since,
            });
        }
    }

    fn int(&mut self, value: Option<i64>) {
        match value {
            Some(value) => {
                let mut json = serde_json::Serializer::new(&mut self.0);
                (&mut json).serialize_i64(value).expect("writing to a Vec");
            }
            None => self.null(),
        }
    }

    fn bool(&mut self, value: Option<bool>) {
        self.raw(match value {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        });
    }

    /// An enum value by its GraphQL name.
    fn name<E: EnumType>(&mut self, value: E) {
        match E::items().iter().find(|item| item.value == value) {
            Some(item) => self.str(item.name),
            None => self.null(),
        }
    }

    fn wire<E: EnumType + WireEnum>(&mut self, value: Option<&Wire<E>>) {
        match value {
            Some(value) => self.name(value.get()),
            None => self.null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_the_engines_datetime_scalar_writes_them() {
        use chrono::TimeZone as _;
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..20_000 {
            let seconds = (next() % 400_000_000_000) as i64 - 100_000_000_000;
            let nanos = match case % 4 {
                0 => 0,
                1 => (next() % 1_000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                _ => (next() % 1_000_000_000) as u32,
            };
            let time = chrono::Utc
                .timestamp_opt(seconds, nanos)
                .single()
                .expect("a time");
            let mut out = Out::new(Vec::new());
            out.time(Some(time));
            let engine = serde_json::to_string(&time.to_rfc3339()).expect("a string");
            assert_eq!(String::from_utf8(out.0).expect("UTF-8"), engine);
        }
    }

    #[test]
    fn text_is_escaped_as_serde_json_escapes_it() {
        for text in [
            "plain",
            "",
            "quote \" and backslash \\",
            "tab\tnew line\ncontrol \u{1}\u{1f}",
            "unicode é ☃ \u{7f} \u{2028}",
        ] {
            let mut out = Out::new(Vec::new());
            out.str(text);
            let engine = serde_json::to_string(text).expect("a string");
            assert_eq!(String::from_utf8(out.0).expect("UTF-8"), engine);
        }
    }
}
