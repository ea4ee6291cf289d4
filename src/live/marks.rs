//! What subscribers are told: a session's marks before and after a change.
//!
//! A [`Mark`] is what a subscriber cares about in one co-browse or
//! screen-share session: whether it goes on, and a digest of who is in it,
//! who is still connected and whether someone controls the page. Marks are
//! taken from whichever upstream shape the change came with (an event's
//! co-browse or screen-share body, or an analytics record) and compared:
//! a new session is `Started`, one that stopped going on is `Ended`, one
//! whose digest moved is `Changed`.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use crate::purecloud::{self, Media};
use crate::upstream::events::ScreenShareEvent;
use crate::upstream::model::CobrowseConversation;

/// One session as a subscriber sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    pub id: Arc<str>,
    pub media: Media,
    pub active: bool,
    digest: u64,
    /// The participants in it: what joins one shape's session to another's
    /// (events key sessions by `cobrowseSessionId`, analytics by its room
    /// id, which Genesys does not document as equal).
    people: Box<[Box<str>]>,
}

/// What happened to a session.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum UpdateKind {
    Started,
    Changed,
    Ended,
}

/// A change of one PureCloud session, for subscribers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LiveUpdate {
    pub kind: UpdateKind,
    pub conversation_id: Arc<str>,
    pub session_id: Arc<str>,
    pub media: Media,
}

/// What the live index tells subscribers (and the other replicas).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Notice {
    /// A session changed.
    Session(LiveUpdate),
    /// Notifications were not heard for this long; the back-fill after it
    /// reported what it could see, but a session that began and ended
    /// meanwhile is not in it.
    Gap(std::time::Duration),
    /// What the listening replica's index holds now of conversations that
    /// changed (none: no longer active), for the other replicas' copies;
    /// it precedes the sessions' notices, so that a subscriber told of a
    /// change reads it from any replica. Not for subscribers.
    Listed(Vec<(Arc<str>, Option<crate::purecloud::Listed>)>),
    /// A Co-browse for Messenger session changed (told this way only by a
    /// store without a shared feed, which tells every replica itself).
    Messenger(crate::messenger::Change),
}

/// One communication of a session: its participant, whether it goes on,
/// and whether it controls (or shares, for a screen share).
type CommunicationMark<'a> = (&'a str, bool, bool);

fn marks<'a>(
    media: Media,
    legs: impl Iterator<Item = (&'a str, CommunicationMark<'a>)>,
) -> Vec<Mark> {
    let mut sessions: BTreeMap<&str, Vec<CommunicationMark<'a>>> = BTreeMap::new();
    for (session, leg) in legs {
        sessions.entry(session).or_default().push(leg);
    }
    sessions
        .into_iter()
        .map(|(id, mut legs)| {
            legs.sort_unstable();
            let mut hasher = DefaultHasher::new();
            legs.hash(&mut hasher);
            Mark {
                id: id.into(),
                media,
                active: legs.iter().any(|(_, active, _)| *active),
                digest: hasher.finish(),
                people: legs.iter().map(|(p, _, _)| Box::from(*p)).collect(),
            }
        })
        .collect()
}

/// The co-browse sessions of a co-browse event's body: its participants
/// grouped by `cobrowseSessionId`.
pub(crate) fn of_view(view: &CobrowseConversation) -> Vec<Mark> {
    marks(
        Media::Cobrowse,
        view.participants.iter().filter_map(|p| {
            let session = p.cobrowse_session_id.as_deref()?;
            let active = purecloud::going_on::view_participant(p);
            let leg = (
                p.id.as_deref().unwrap_or(""),
                active,
                !p.controlling.is_empty(),
            );
            Some((session, leg))
        }),
    )
}

/// The screen-share sessions of a screen-share event's body: its
/// participants grouped by room (`context`).
pub(crate) fn of_screenshare(body: &ScreenShareEvent) -> Vec<Mark> {
    marks(
        Media::Screenshare,
        body.participants.iter().filter_map(|p| {
            let session = p.context.as_deref().or(p.id.as_deref())?;
            let active = purecloud::going_on::screenshare_participant(p);
            let leg = (
                p.id.as_deref().unwrap_or(""),
                active,
                p.sharing == Some(true),
            );
            Some((session, leg))
        }),
    )
}

/// The sessions of a conversation built from any shape (an analytics
/// record, in a back-fill), both media.
pub(crate) fn of_model(model: &purecloud::ConversationModel) -> Vec<Mark> {
    let sessions = model
        .sessions()
        .into_iter()
        .chain(model.screenshare_sessions());
    let mut all = Vec::new();
    for session in sessions {
        let legs = session.legs(model).map(|leg| {
            let participant = &model.participants[leg.participant];
            let controls = match session.media {
                Media::Cobrowse => !participant.controlling.is_empty(),
                Media::Screenshare => {
                    leg.role == Some(crate::upstream::enums::CobrowseRole::Sharer)
                }
            };
            (
                &*session.id,
                (
                    participant.id.as_deref().unwrap_or(""),
                    leg.active,
                    controls,
                ),
            )
        });
        all.extend(marks(session.media, legs));
    }
    all
}

/// Names the sessions of `after` (another shape's marks of the same
/// conversation) as `before` names them where they are the same session:
/// one of `after` that `before` does not name, and one of `before` that
/// `after` does not name, of the same media and with a participant in
/// common (the join is by conversation and participant, not by id).
pub(crate) fn align(before: &[Mark], after: &mut [Mark]) {
    let unmatched: Vec<&Mark> = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.id == b.id))
        .collect();
    let mut taken: Vec<&Arc<str>> = Vec::new();
    for mark in after.iter_mut() {
        if before.iter().any(|b| b.id == mark.id) {
            continue;
        }
        let same = unmatched.iter().find(|b| {
            b.media == mark.media
                && !taken.contains(&&b.id)
                && b.people
                    .iter()
                    .any(|p| !p.is_empty() && mark.people.contains(p))
        });
        if let Some(same) = same {
            taken.push(&same.id);
            mark.id = Arc::clone(&same.id);
        }
    }
}

/// What happened to the sessions of conversation `id` between `before` and
/// `after` (marks of one media, or of both).
pub(crate) fn diff(id: &Arc<str>, before: &[Mark], after: &[Mark]) -> Vec<LiveUpdate> {
    let update = |kind, mark: &Mark| LiveUpdate {
        kind,
        conversation_id: Arc::clone(id),
        session_id: Arc::clone(&mark.id),
        media: mark.media,
    };
    let mut updates = Vec::new();
    for mark in after {
        match before
            .iter()
            .find(|b| b.id == mark.id && b.media == mark.media)
        {
            None => {
                // Started, and perhaps over already (it began and ended
                // while nothing was heard): both are said.
                updates.push(update(UpdateKind::Started, mark));
                if !mark.active {
                    updates.push(update(UpdateKind::Ended, mark));
                }
            }
            Some(old) if old.active && !mark.active => {
                updates.push(update(UpdateKind::Ended, mark))
            }
            Some(old) if old.digest != mark.digest && mark.active => {
                updates.push(update(UpdateKind::Changed, mark));
            }
            Some(_) => {}
        }
    }
    for old in before.iter().filter(|b| b.active) {
        if !after.iter().any(|a| a.id == old.id && a.media == old.media) {
            updates.push(update(UpdateKind::Ended, old));
        }
    }
    updates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::model::CobrowseMediaParticipant;
    use crate::upstream::wire::Wire;

    fn view(states: &[(&str, &str, bool)]) -> CobrowseConversation {
        CobrowseConversation {
            id: Some("c".into()),
            participants: states
                .iter()
                .map(|(id, state, controlling)| CobrowseMediaParticipant {
                    id: Some((*id).into()),
                    state: Some(Wire::new(*state)),
                    cobrowse_session_id: Some("s".into()),
                    controlling: if *controlling {
                        vec!["x".into()]
                    } else {
                        Vec::new()
                    },
                    ..CobrowseMediaParticipant::default()
                })
                .collect(),
            ..CobrowseConversation::default()
        }
    }

    fn kinds(before: &[Mark], after: &[Mark]) -> Vec<UpdateKind> {
        diff(&Arc::from("c"), before, after)
            .into_iter()
            .map(|u| u.kind)
            .collect()
    }

    #[test]
    fn a_session_starts_changes_and_ends_and_an_unchanged_one_says_nothing() {
        let none: Vec<Mark> = Vec::new();
        let one = of_view(&view(&[("a", "connected", false)]));
        let two = of_view(&view(&[
            ("a", "connected", false),
            ("b", "connected", false),
        ]));
        let control = of_view(&view(&[
            ("a", "connected", false),
            ("b", "connected", true),
        ]));
        let over = of_view(&view(&[
            ("a", "disconnected", false),
            ("b", "disconnected", true),
        ]));
        assert_eq!(kinds(&none, &one), [UpdateKind::Started]);
        assert_eq!(kinds(&one, &one), []);
        assert_eq!(
            kinds(&one, &two),
            [UpdateKind::Changed],
            "a participant joined"
        );
        assert_eq!(
            kinds(&two, &control),
            [UpdateKind::Changed],
            "control granted"
        );
        assert_eq!(kinds(&control, &over), [UpdateKind::Ended]);
        assert_eq!(kinds(&over, &over), []);
        assert_eq!(
            kinds(&control, &none),
            [UpdateKind::Ended],
            "gone while active"
        );
        assert_eq!(
            kinds(&none, &over),
            [UpdateKind::Started, UpdateKind::Ended],
            "begun and over while nothing was heard"
        );
    }
}
