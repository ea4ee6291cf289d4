//! Compiling a document into a [`Plan`]: the fields it selects, as enums
//! the writer matches on, with each response key written out once.
//!
//! A document compiles only when every field it selects is one the plan
//! covers, with no arguments beyond literal `first` / `last` on the
//! listing, no fragments, no directives, no variables and no response key
//! twice in one selection; anything else is left to the general engine
//! (which is where a document is validated: a plan is only made of one it
//! has answered, see [`super::Plans`]).

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field as Selected, OperationType, Selection,
    SelectionSet,
};
use async_graphql::Value;

/// Why a document does not compile (for the log, in `verify` mode).
pub(crate) type Declined = &'static str;

/// A field of the response: its key, written as `"key":` once, and what
/// fills it.
pub(crate) struct Field<K> {
    pub(super) key: Box<[u8]>,
    pub(super) kind: K,
}

/// `activeCobrowseConversations` and what of it is selected.
pub(crate) struct Plan {
    pub(super) key: Box<[u8]>,
    pub(super) first: Option<i32>,
    pub(super) last: Option<i32>,
    pub(super) connection: Vec<Field<ConnectionField>>,
    /// The names of every `ConversationField` field selected under `nodes`, and
    /// of every participant field under their `participants` (what the
    /// shape tables decide the fetch by).
    pub(super) conversation_names: Vec<&'static str>,
    pub(super) participant_names: Option<Vec<&'static str>>,
    pub(super) user_names: Vec<&'static str>,
    pub(super) queue_names: Vec<&'static str>,
    /// The length of its last response (the next one's buffer).
    pub(super) size_hint: std::sync::atomic::AtomicUsize,
    /// What it last read, while the same reads would read the same.
    pub(super) gathered: std::sync::Mutex<Option<std::sync::Arc<super::LastListingRead>>>,
}

pub(crate) enum ConnectionField {
    Typename,
    TotalCount,
    Nodes(Nodes),
}

/// The selection of the page's conversations.
pub(crate) struct Nodes {
    pub(super) fields: Vec<Field<ConversationField>>,
    /// The bytes of each conversation's object, a function of its model
    /// and its participants' user and queue records, but for the values
    /// that read the clock (durations of what has not ended): kept per
    /// conversation, with those values written afresh into them.
    pub(super) kept: super::object_bytes::ObjectBytes,
}

pub(crate) enum ConversationField {
    Typename,
    Id,
    /// `conversationId`.
    OwnId,
    Name,
    StartTime,
    EndTime,
    DurationSeconds,
    ExternalTag,
    Address,
    MaxParticipants,
    Participants(Vec<Field<ParticipantField>>),
    CobrowseSessions(Vec<Field<SessionField>>),
}

pub(crate) enum ParticipantField {
    Typename,
    Id,
    /// `participantId`.
    OwnId,
    Name,
    Address,
    StartTime,
    ConnectedTime,
    EndTime,
    Purpose,
    PurposeRaw,
    State,
    StateRaw,
    WrapupRequired,
    CobrowseSessionId,
    CobrowseRole,
    ViewerUrl,
    User(Vec<Field<DirectoryField>>),
    Queue(Vec<Field<DirectoryField>>),
    CobrowseSessions(Vec<Field<CommunicationField>>),
}

/// A field of `User` or `Queue`.
pub(crate) enum DirectoryField {
    Typename,
    Id,
    /// `userId` / `queueId`.
    OwnId,
    /// A field of the record, by its name.
    Record(&'static str),
}

/// A field of `Cobrowsesession`.
pub(crate) enum CommunicationField {
    Typename,
    Id,
    /// `communicationId`.
    OwnId,
    State,
    StateRaw,
    CobrowseSessionId,
    CobrowseRole,
    ConnectedTime,
    DisconnectedTime,
    DurationSeconds,
    Provider,
    PeerId,
    ViewerUrl,
    Segments(Vec<Field<SegmentField>>),
}

pub(crate) enum SegmentField {
    Typename,
    Type,
    TypeRaw,
    StartTime,
    EndTime,
    DurationSeconds,
    HowEnded,
}

/// A field of a PureCloud `SessionField`.
pub(crate) enum SessionField {
    Typename,
    Id,
    Provider,
    MediaType,
    ProviderSessionId,
    State,
    StartTime,
    EndTime,
    DurationSeconds,
    StartUrl,
    Pin,
    EndReason,
    ViewerUrl,
}

/// The plan of operation `name` of `document`.
pub(crate) fn compile(document: &ExecutableDocument, name: Option<&str>) -> Result<Plan, Declined> {
    if !document.fragments.is_empty() {
        return Err("fragments");
    }
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).ok_or("no operation")?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().ok_or("no operation")?
        }
        (DocumentOperations::Multiple(_), None) => return Err("several operations"),
    };
    let operation = &operation.node;
    if operation.ty != OperationType::Query {
        return Err("not a query");
    }
    if !operation.variable_definitions.is_empty() || !operation.directives.is_empty() {
        return Err("variables or directives");
    }
    let [root] = operation.selection_set.node.items.as_slice() else {
        return Err("not one root field");
    };
    let Selection::Field(root) = &root.node else {
        return Err("not one root field");
    };
    let root = &root.node;
    if root.name.node != "activeCobrowseConversations" || !root.directives.is_empty() {
        return Err("root field");
    }
    let (mut first, mut last) = (None, None);
    for (argument, value) in &root.arguments {
        let n = match value.node.clone().into_const() {
            Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            _ => None,
        }
        .ok_or("argument")?;
        match argument.node.as_str() {
            "first" => first = Some(n),
            "last" => last = Some(n),
            _ => return Err("argument"),
        }
    }
    let mut names = Names::default();
    let connection = fields(&root.selection_set.node, |field| {
        Ok(match field.name.node.as_str() {
            "__typename" => leaf(field, ConnectionField::Typename)?,
            "totalCount" => leaf(field, ConnectionField::TotalCount)?,
            "nodes" => ConnectionField::Nodes(Nodes {
                fields: conversation(field, &mut names)?,
                kept: super::object_bytes::ObjectBytes::default(),
            }),
            _ => return Err("connection field"),
        })
    })?;
    Ok(Plan {
        key: key_of(root),
        first,
        last,
        connection,
        conversation_names: names.conversation,
        participant_names: names.participant,
        user_names: names.user,
        queue_names: names.queue,
        size_hint: std::sync::atomic::AtomicUsize::new(0),
        gathered: std::sync::Mutex::default(),
    })
}

/// The field names selected per type (what the fetch is decided by).
#[derive(Default)]
struct Names {
    conversation: Vec<&'static str>,
    participant: Option<Vec<&'static str>>,
    user: Vec<&'static str>,
    queue: Vec<&'static str>,
}

/// `"key":`, escaped as JSON.
fn key_of(field: &Selected) -> Box<[u8]> {
    let key = field.alias.as_ref().unwrap_or(&field.name).node.as_str();
    let mut bytes = serde_json::to_vec(key).expect("a string serializes");
    bytes.push(b':');
    bytes.into_boxed_slice()
}

/// The fields of `set`, each made by `of`; no fragments, no arguments or
/// directives, no key twice.
fn fields<K>(
    set: &SelectionSet,
    mut of: impl FnMut(&Selected) -> Result<K, Declined>,
) -> Result<Vec<Field<K>>, Declined> {
    let mut out: Vec<Field<K>> = Vec::with_capacity(set.items.len());
    for item in &set.items {
        let Selection::Field(field) = &item.node else {
            return Err("fragment");
        };
        let field = &field.node;
        if !field.arguments.is_empty() || !field.directives.is_empty() {
            return Err("arguments or directives");
        }
        let key = key_of(field);
        if out.iter().any(|f| f.key == key) {
            return Err("a key twice");
        }
        out.push(Field {
            key,
            kind: of(field)?,
        });
    }
    if out.is_empty() {
        return Err("empty selection");
    }
    Ok(out)
}

/// A leaf field (no selection of its own).
fn leaf<K>(field: &Selected, kind: K) -> Result<K, Declined> {
    if field.selection_set.node.items.is_empty() {
        Ok(kind)
    } else {
        Err("a selection on a leaf")
    }
}

/// Notes `name` among `names` (once).
fn note(names: &mut Vec<&'static str>, name: &'static str) {
    if !names.contains(&name) {
        names.push(name);
    }
}

fn conversation(
    field: &Selected,
    names: &mut Names,
) -> Result<Vec<Field<ConversationField>>, Declined> {
    use ConversationField as C;
    fields(&field.selection_set.node, |field| {
        let (name, kind): (&'static str, _) = match field.name.node.as_str() {
            "__typename" => return leaf(field, C::Typename),
            "id" => ("id", C::Id),
            "conversationId" => ("conversationId", C::OwnId),
            "name" => ("name", C::Name),
            "startTime" => ("startTime", C::StartTime),
            "endTime" => ("endTime", C::EndTime),
            "durationSeconds" => ("durationSeconds", C::DurationSeconds),
            "externalTag" => ("externalTag", C::ExternalTag),
            "address" => ("address", C::Address),
            "maxParticipants" => ("maxParticipants", C::MaxParticipants),
            "participants" => {
                note(&mut names.conversation, "participants");
                return Ok(C::Participants(participant(field, names)?));
            }
            "cobrowseSessions" => {
                note(&mut names.conversation, "cobrowseSessions");
                return Ok(C::CobrowseSessions(session(field)?));
            }
            _ => return Err("conversation field"),
        };
        note(&mut names.conversation, name);
        leaf(field, kind)
    })
}

fn participant(
    field: &Selected,
    names: &mut Names,
) -> Result<Vec<Field<ParticipantField>>, Declined> {
    use ParticipantField as P;
    let mut selected = names.participant.take().unwrap_or_default();
    let fields = fields(&field.selection_set.node, |field| {
        let (name, kind): (&'static str, _) = match field.name.node.as_str() {
            "__typename" => return leaf(field, P::Typename),
            "id" => ("id", P::Id),
            "participantId" => ("participantId", P::OwnId),
            "name" => ("name", P::Name),
            "address" => ("address", P::Address),
            "startTime" => ("startTime", P::StartTime),
            "connectedTime" => ("connectedTime", P::ConnectedTime),
            "endTime" => ("endTime", P::EndTime),
            "purpose" => ("purpose", P::Purpose),
            "purposeRaw" => ("purposeRaw", P::PurposeRaw),
            "state" => ("state", P::State),
            "stateRaw" => ("stateRaw", P::StateRaw),
            "wrapupRequired" => ("wrapupRequired", P::WrapupRequired),
            "cobrowseSessionId" => ("cobrowseSessionId", P::CobrowseSessionId),
            "cobrowseRole" => ("cobrowseRole", P::CobrowseRole),
            "viewerUrl" => ("viewerUrl", P::ViewerUrl),
            "user" => {
                note(&mut selected, "user");
                return Ok(P::User(directory(field, USER, &mut names.user)?));
            }
            "queue" => {
                note(&mut selected, "queue");
                return Ok(P::Queue(directory(field, QUEUE, &mut names.queue)?));
            }
            "cobrowseSessions" => {
                note(&mut selected, "cobrowseSessions");
                return Ok(P::CobrowseSessions(communication(field)?));
            }
            _ => return Err("participant field"),
        };
        note(&mut selected, name);
        leaf(field, kind)
    });
    names.participant = Some(selected);
    fields
}

/// The fields of `User`: its own id's name and its record's fields.
const USER: (&str, &[&str]) = (
    "userId",
    &["name", "email", "username", "title", "department", "state"],
);
/// The fields of `Queue`.
const QUEUE: (&str, &[&str]) = ("queueId", &["name", "description", "memberCount"]);

fn directory(
    field: &Selected,
    (own_id, record): (&'static str, &'static [&'static str]),
    names: &mut Vec<&'static str>,
) -> Result<Vec<Field<DirectoryField>>, Declined> {
    fields(&field.selection_set.node, |field| {
        let name = field.name.node.as_str();
        let kind = match name {
            "__typename" => return leaf(field, DirectoryField::Typename),
            "id" => {
                note(names, "id");
                DirectoryField::Id
            }
            _ if name == own_id => {
                note(names, own_id);
                DirectoryField::OwnId
            }
            _ => {
                let name = *record
                    .iter()
                    .find(|n| **n == name)
                    .ok_or("directory field")?;
                note(names, name);
                DirectoryField::Record(name)
            }
        };
        leaf(field, kind)
    })
}

fn communication(field: &Selected) -> Result<Vec<Field<CommunicationField>>, Declined> {
    use CommunicationField as M;
    fields(&field.selection_set.node, |field| {
        let kind = match field.name.node.as_str() {
            "__typename" => M::Typename,
            "id" => M::Id,
            "communicationId" => M::OwnId,
            "state" => M::State,
            "stateRaw" => M::StateRaw,
            "cobrowseSessionId" => M::CobrowseSessionId,
            "cobrowseRole" => M::CobrowseRole,
            "connectedTime" => M::ConnectedTime,
            "disconnectedTime" => M::DisconnectedTime,
            "durationSeconds" => M::DurationSeconds,
            "provider" => M::Provider,
            "peerId" => M::PeerId,
            "viewerUrl" => M::ViewerUrl,
            "segments" => return Ok(M::Segments(segment(field)?)),
            _ => return Err("communication field"),
        };
        leaf(field, kind)
    })
}

fn segment(field: &Selected) -> Result<Vec<Field<SegmentField>>, Declined> {
    use SegmentField as S;
    fields(&field.selection_set.node, |field| {
        let kind = match field.name.node.as_str() {
            "__typename" => S::Typename,
            "type" => S::Type,
            "typeRaw" => S::TypeRaw,
            "startTime" => S::StartTime,
            "endTime" => S::EndTime,
            "durationSeconds" => S::DurationSeconds,
            "howEnded" => S::HowEnded,
            _ => return Err("segment field"),
        };
        leaf(field, kind)
    })
}

fn session(field: &Selected) -> Result<Vec<Field<SessionField>>, Declined> {
    use SessionField as S;
    fields(&field.selection_set.node, |field| {
        let kind = match field.name.node.as_str() {
            "__typename" => S::Typename,
            "id" => S::Id,
            "provider" => S::Provider,
            "mediaType" => S::MediaType,
            "providerSessionId" => S::ProviderSessionId,
            "state" => S::State,
            "startTime" => S::StartTime,
            "endTime" => S::EndTime,
            "durationSeconds" => S::DurationSeconds,
            "startUrl" => S::StartUrl,
            "pin" => S::Pin,
            "endReason" => S::EndReason,
            "viewerUrl" => S::ViewerUrl,
            _ => return Err("session field"),
        };
        leaf(field, kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str) -> Result<Plan, Declined> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        compile(&document, None)
    }

    #[test]
    fn the_readme_dashboard_compiles_and_keys_are_written_once_with_aliases() {
        let dashboard =
            plan(include_str!("../../../tests/queries/dashboard.graphql")).expect("plan");
        assert_eq!(&*dashboard.key, b"\"activeCobrowseConversations\":");
        assert!(dashboard.conversation_names.contains(&"participants"));
        assert_eq!(dashboard.user_names, ["name"]);
        let aliased =
            plan("{ a: activeCobrowseConversations(first: 3) { n: totalCount } }").expect("plan");
        assert_eq!(&*aliased.key, b"\"a\":");
        assert_eq!(aliased.first, Some(3));
    }

    #[test]
    fn what_the_plan_does_not_cover_is_declined() {
        for query in [
            "{ activeCobrowseConversations { nodes { ...F } } } fragment F on ConversationField { id }",
            "{ activeCobrowseConversations { nodes { id @include(if: true) } } }",
            "query Q($n: Int) { activeCobrowseConversations(first: $n) { totalCount } }",
            "{ activeCobrowseConversations(after: \"x\") { totalCount } }",
            "{ activeCobrowseConversations { nodes { participants(purpose: [AGENT]) { id } } } }",
            "{ activeCobrowseConversations { nodes { id id } } }",
            "{ activeCobrowseConversations { edges { cursor } } }",
            "{ activeCobrowseConversations { totalCount } conversation(conversationId: \"x\") { id } }",
            "{ node(id: \"x\") { id } }",
            "mutation { x }",
        ] {
            assert!(plan(query).is_err(), "{query} should not compile");
        }
    }
}
