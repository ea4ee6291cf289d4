//! What a selection needs fetched, derived from the query in one place.
//!
//! Each table names every field of its GraphQL type with what serves it: a
//! conversation's and a participant's fields need the full form, the
//! co-browse view, or either ([`Shapes`]); a user's and a queue's fields
//! need its directory record or only its id. A test walks every field of
//! the schema and fails when a table misses one (or names one that does not
//! exist), so no field can silently resolve from a shape that was not
//! fetched; `tests/api/shape.rs` proves over HTTP that each field, selected
//! alone, answers what it answers with every shape fetched.

use async_graphql::Lookahead;

use crate::purecloud::Shapes;

/// Needs nothing fetched: the id a conversation was listed by.
const N: Serves = Serves::Nothing;
/// Either shape serves it; a conversation listed by its analytics record,
/// which holds neither, needs one (the full form) fetched.
const E: Serves = Serves::Either;
/// Either shape serves it, or the final analytics record of an ended
/// conversation (see [`participant`]).
const A: Serves = Serves::Any;
const F: Serves = Serves::Shape(Shapes::FULL);
const V: Serves = Serves::Shape(Shapes::VIEW);

/// What serves a field.
#[derive(Copy, Clone, Debug)]
enum Serves {
    Nothing,
    Either,
    Any,
    Shape(Shapes),
}

impl Serves {
    /// What must be fetched for it beyond `held` (and a final `record`).
    fn beyond(self, held: Shapes, record: bool) -> Shapes {
        match self {
            Serves::Nothing => Shapes::NONE,
            Serves::Any if record => Shapes::NONE,
            Serves::Either | Serves::Any if held == Shapes::NONE => Shapes::FULL,
            Serves::Either | Serves::Any => Shapes::NONE,
            Serves::Shape(shapes) => Shapes {
                full: shapes.full && !held.full,
                view: shapes.view && !held.view,
            },
        }
    }
}

/// Every field of `Conversation`. `participants` adds what its own
/// selection needs ([`PARTICIPANT`]).
const CONVERSATION: &[(&str, Serves)] = &[
    ("id", N),
    ("conversationId", N),
    ("name", E),
    ("startTime", F),
    ("endTime", F),
    ("durationSeconds", F),
    ("externalTag", F),
    ("address", F),
    ("recordingState", F),
    ("recordingStateRaw", F),
    ("maxParticipants", F),
    ("conversationIds", F),
    ("participants", E),
    ("cobrowseSessions", F),
    ("attachedData", F),
    ("screenshares", F),
];

/// Every field of `CobrowseMediaParticipant`.
const PARTICIPANT: &[(&str, Serves)] = &[
    ("id", E),
    ("participantId", E),
    ("name", A),
    ("address", E),
    ("startTime", E),
    ("startAlertingTime", V),
    ("connectedTime", E),
    ("endTime", E),
    ("startHoldTime", V),
    ("purpose", A),
    ("purposeRaw", A),
    ("state", E),
    ("stateRaw", E),
    ("direction", V),
    ("directionRaw", V),
    ("disconnectType", V),
    ("disconnectTypeRaw", V),
    ("held", V),
    ("wrapupRequired", E),
    ("wrapupPrompt", E),
    ("wrapupPromptRaw", E),
    ("user", A),
    ("queue", A),
    ("team", V),
    ("attributes", E),
    ("errorInfo", V),
    ("script", V),
    ("wrapupTimeoutMs", E),
    ("wrapupSkipped", E),
    ("alertingTimeoutMs", E),
    ("provider", V),
    ("externalContact", V),
    ("externalContactId", E),
    ("externalOrganization", V),
    ("wrapup", E),
    ("peer", V),
    ("peerId", V),
    ("cobrowseSessionId", V),
    ("cobrowseRole", V),
    ("cobrowseRoleRaw", V),
    ("controlling", V),
    ("controllingIds", V),
    ("viewerUrl", V),
    ("providerEventTime", V),
    ("cobrowseSessions", F),
    ("screenshares", F),
    ("participantType", F),
    ("locale", F),
    ("startAcwTime", E),
    ("endAcwTime", E),
    ("conversation", E),
];

/// Every field of `User`: whether it needs the user's record.
const USER: &[(&str, bool)] = &[
    ("id", false),
    ("userId", false),
    ("name", true),
    ("email", true),
    ("username", true),
    ("title", true),
    ("department", true),
    ("state", true),
];

/// Every field of `Queue`: whether it needs the queue's record.
const QUEUE: &[(&str, bool)] = &[
    ("id", false),
    ("queueId", false),
    ("name", true),
    ("description", true),
    ("memberCount", true),
];

/// The shapes of `table` that `look` selects a field of, leaving out those
/// in `held` (whose fields are not looked for at all).
fn needs(look: &Lookahead<'_>, table: &[(&str, Serves)], held: Shapes, record: bool) -> Shapes {
    // One walk over the selection (fragments included), each field looked
    // up in the table: no lookahead is built per field of the table.
    let mut all = Shapes::NONE;
    for field in look.selection_fields() {
        all = all.and(needs_named(
            field.selection_set().map(|child| child.name()),
            table,
            held,
            record,
        ));
    }
    all
}

/// [`needs`] of the fields named `names`.
fn needs_named<'a>(
    names: impl IntoIterator<Item = &'a str>,
    table: &[(&str, Serves)],
    held: Shapes,
    record: bool,
) -> Shapes {
    let mut all = Shapes::NONE;
    for name in names {
        if let Some((_, serves)) = table.iter().find(|(field, _)| *field == name) {
            all = all.and(serves.beyond(held, record));
        }
    }
    all
}

/// The shapes a selection of participants needs beyond those `held`. A
/// conversation that holds neither shape has no participants yet (it
/// needs the full form whatever is selected), unless it was built from
/// the `record` analytics keeps of an ended conversation: that is final,
/// and serves the participants' names, purposes, users and queues.
pub(crate) fn participant(look: &Lookahead<'_>, held: Shapes, record: bool) -> Shapes {
    with_participants(
        needs(look, PARTICIPANT, held, record),
        held,
        record,
        look.exists(),
    )
}

/// `needs` of a selection of participants (that `exists`), with the full
/// form a conversation holding neither shape needs for any of them.
fn with_participants(needs: Shapes, held: Shapes, record: bool, exists: bool) -> Shapes {
    if held == Shapes::NONE && !record && exists {
        needs.and(Shapes::FULL)
    } else {
        needs
    }
}

/// The shapes a selection of conversations needs beyond those `held`, its
/// participants' included.
pub(crate) fn conversation(look: &Lookahead<'_>, held: Shapes) -> Shapes {
    needs(look, CONVERSATION, held, false).and(participant(
        &look.field("participants"),
        held,
        false,
    ))
}

/// [`conversation`] of a selection of conversations that names these
/// fields, and these of their participants (`None`: `participants` is not
/// selected): what the compiled path decides its reads by.
pub(crate) fn conversation_named(
    fields: &[&str],
    participants: Option<&[&str]>,
    held: Shapes,
) -> Shapes {
    let participant = needs_named(
        participants.unwrap_or_default().iter().copied(),
        PARTICIPANT,
        held,
        false,
    );
    needs_named(fields.iter().copied(), CONVERSATION, held, false).and(with_participants(
        participant,
        held,
        false,
        participants.is_some(),
    ))
}

/// Whether a selection of users that names these fields needs their
/// records.
pub(crate) fn user_data_named(fields: &[&str]) -> bool {
    record_named(fields.iter().copied(), USER)
}

/// [`user_data_named`] of queues.
pub(crate) fn queue_data_named(fields: &[&str]) -> bool {
    record_named(fields.iter().copied(), QUEUE)
}

/// Whether a selection of users needs their records.
pub(crate) fn user_data(look: &Lookahead<'_>) -> bool {
    needs_record(look, USER)
}

/// Whether a selection of queues needs their records.
pub(crate) fn queue_data(look: &Lookahead<'_>) -> bool {
    needs_record(look, QUEUE)
}

/// Whether `look` selects a field of `table` that needs the record.
fn needs_record(look: &Lookahead<'_>, table: &[(&str, bool)]) -> bool {
    look.selection_fields()
        .iter()
        .any(|field| record_named(field.selection_set().map(|child| child.name()), table))
}

/// Whether a field named in `names` is one of `table` that needs the record.
fn record_named<'a>(names: impl IntoIterator<Item = &'a str>, table: &[(&str, bool)]) -> bool {
    names
        .into_iter()
        .any(|name| table.iter().any(|(field, data)| *data && *field == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of `type` in the SDL the code builds.
    fn fields_of(sdl: &str, type_name: &str) -> Vec<String> {
        let start = sdl
            .find(&format!("\ntype {type_name} "))
            .unwrap_or_else(|| panic!("type {type_name} in the schema"));
        let body = &sdl[start..];
        let body = &body[..body.find("\n}").expect("the type's end")];
        let mut in_doc = false;
        let mut fields = Vec::new();
        for line in body.lines() {
            if line.trim() == "\"\"\"" {
                in_doc = !in_doc;
                continue;
            }
            let Some(field) = line.strip_prefix('\t') else {
                continue;
            };
            if in_doc || !field.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            if let Some(end) = field.find([':', '(']) {
                fields.push(field[..end].to_owned());
            }
        }
        fields
    }

    fn names<T>(table: &[(&str, T)]) -> Vec<String> {
        table.iter().map(|(name, _)| (*name).to_owned()).collect()
    }

    #[test]
    fn every_field_of_the_schema_says_what_serves_it() {
        let sdl = crate::graph::sdl();
        for (type_name, table) in [
            ("Conversation", names(CONVERSATION)),
            ("CobrowseMediaParticipant", names(PARTICIPANT)),
            ("User", names(USER)),
            ("Queue", names(QUEUE)),
        ] {
            let mut in_schema = fields_of(&sdl, type_name);
            let mut in_table = table;
            in_schema.sort();
            in_table.sort();
            assert_eq!(in_table, in_schema, "the table of {type_name}");
        }
    }
}
