//! What a test makes happen to a conversation beyond its next phase
//! ([`super::life`]): each of the ways Genesys Cloud ends a co-browse
//! (co-browse or screen share ending while the call goes on, participants
//! hanging up one by one, wrap-up required and never given, or waived, or
//! given) and a screen share without co-browse. `POST
//! /__sim/world/conversations/{id}/act` applies one; every route then
//! answers from the changed world, and the notification sockets hear it.

use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::data::LifePhase;
use super::data::{participant_mut, with_purpose};
use super::data::{uuid, SimConversation, World};
use super::life::{self, StepError, Stepped};

/// One thing that happens to a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "snake_case", deny_unknown_fields)]
pub enum Act {
    /// A co-browse session starts: the customer shares, the agent views.
    StartCobrowse,
    /// The co-browse session ends; the call (or chat) goes on.
    EndCobrowse,
    /// A screen share starts (beside co-browse, or alone).
    StartScreenshare,
    /// The screen share ends; the call goes on.
    EndScreenshare,
    /// One participant (by purpose: `customer` or `agent`) hangs up: its
    /// communications disconnect and it leaves. Once everyone but the queue
    /// has left, the agent is in after-call work if its wrap-up is
    /// required, else the conversation ends.
    HangUp { purpose: String },
    /// The agent's wrap-up is not required after all (a conversation
    /// everyone left then ends).
    SkipWrapup,
    /// The agent applies a wrap-up code (a conversation everyone left then
    /// ends).
    WrapUp,
}

impl World {
    /// Applies `act` to conversation `id`.
    pub(crate) fn act(
        &mut self,
        id: &str,
        act: &Act,
        now: DateTime<Utc>,
    ) -> Result<Stepped, StepError> {
        let index = *self.conversation_index.get(id).ok_or(StepError::NotFound)?;
        if self.conversations[index].phase == LifePhase::Ended {
            return Err(StepError::Over);
        }
        let ids = [uuid(&mut self.rng), uuid(&mut self.rng)];
        let session = format!("cb-{:012x}", self.rng.random::<u64>() & 0xffff_ffff_ffff);
        let code = self.wrapup_codes[self.rng.random_range(0..self.wrapup_codes.len())].clone();
        let conv = &mut self.conversations[index];
        conv.will_change(now);
        match act {
            Act::StartCobrowse => life::start_cobrowse(conv, &session, &ids, now),
            Act::EndCobrowse => conv.end_media((true, false), now),
            Act::StartScreenshare => life::start_screenshare(conv, &ids, now),
            Act::EndScreenshare => conv.end_media((false, true), now),
            Act::HangUp { purpose } => {
                let pid = with_purpose(conv, purpose).and_then(|p| p.id.clone());
                let Some(pid) = pid else {
                    return Err(StepError::NotFound);
                };
                conv.hang_up(&pid, now);
            }
            Act::SkipWrapup => {
                if let Some(agent) = participant_mut(conv, "agent") {
                    agent.wrapup_required = Some(false);
                    agent.wrapup_skipped = Some(true);
                }
            }
            Act::WrapUp => life::wrap_up(conv, &code, now),
        }
        settle(conv, now);
        Ok(Stepped {
            conversation_id: id.to_owned(),
            phase: conv.phase,
        })
    }
}

/// After an act: once everyone but the queue has left, after-call work
/// while the agent's wrap-up is pending, else the end; the views made
/// again from the full form.
fn settle(conv: &mut SimConversation, now: DateTime<Utc>) {
    let everyone_left = conv
        .full
        .participants
        .iter()
        .filter(|p| p.purpose.as_ref().map(|w| w.raw()) != Some("acd"))
        .all(|p| p.end_time.is_some());
    if everyone_left {
        let pending = with_purpose(conv, "agent")
            .is_some_and(|a| a.wrapup_required == Some(true) && a.wrapup.is_none());
        if pending {
            life::begin_after_call_work(conv, now);
            conv.phase = LifePhase::Disconnected;
        } else {
            life::end(conv, now);
            conv.phase = LifePhase::Ended;
        }
    }
    life::refresh_views(conv);
}
