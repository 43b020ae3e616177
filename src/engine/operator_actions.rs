//! What an operator does to a case (pause, resume, close, retry now), fed
//! to it like any other input and written on its timeline as theirs, with
//! the result. A request the case cannot follow changes nothing and says
//! why.

use crate::domain::ids::CaseId;
use anyhow::Context as _;
use serde_json::json;

use super::Engine;
use super::apply::apply;
use crate::domain::case::{CaseState, Input};
use crate::domain::case_record::CaseRow;
use crate::store::cases;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    Pause,
    Resume,
    Close,
    RetryNow,
}

impl OperatorAction {
    pub const ALL: [Self; 4] = [Self::Pause, Self::Resume, Self::Close, Self::RetryNow];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Close => "close",
            Self::RetryNow => "retry-now",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// How an operator's request ended.
#[derive(Debug)]
pub enum ActOutcome {
    /// Done; the case as it is now.
    Done(Box<CaseRow>),
    /// The case cannot follow it now (why); nothing changed.
    Refused(String),
    NoSuchCase,
}

/// Why `action` cannot apply to a case in `state`, if it cannot.
fn refusal(action: OperatorAction, state: Option<CaseState>) -> Option<String> {
    let Some(state) = state else {
        return Some("no case is open for this invoice".into());
    };
    if state.is_terminal() {
        return Some(format!("the case has ended ({})", state.as_str()));
    }
    match (action, state) {
        (OperatorAction::Pause, CaseState::Paused) => Some("the case is already paused".into()),
        (OperatorAction::Resume, s) if s != CaseState::Paused => {
            Some(format!("the case is not paused ({})", s.as_str()))
        }
        (OperatorAction::RetryNow, CaseState::Paused) => {
            Some("the case is paused: resume it first".into())
        }
        _ => None,
    }
}

/// Carries out `action` on case `case_id` for `operator` (who, for the
/// timeline), with their `note`.
pub async fn act(
    engine: &Engine,
    case_id: CaseId,
    action: OperatorAction,
    operator: &str,
    note: Option<&str>,
) -> anyhow::Result<ActOutcome> {
    let Some((mut tx, case)) = engine.lock_case(case_id).await? else {
        return Ok(ActOutcome::NoSuchCase);
    };
    if let Some(why) = refusal(action, case.track.outcome()) {
        return Ok(ActOutcome::Refused(why));
    }
    let input = match action {
        OperatorAction::Pause => Input::Pause,
        OperatorAction::Resume => Input::Resume,
        OperatorAction::Close => Input::Close,
        OperatorAction::RetryNow => Input::RetryNow {
            reason: format!("{operator} asked to retry now"),
        },
    };
    let cause = format!("{operator}: {}", action.as_str());
    let applied = apply(engine, &mut tx, &case, input, &cause)
        .await
        .with_context(|| format!("applying {} to case {}", &cause, case.id))?;
    let refused = applied
        .notes
        .iter()
        .find(|n| n.starts_with("no charge now"))
        .cloned()
        .or_else(|| (!applied.changed).then(|| "nothing to change".to_owned()));
    let detail = json!({
        "action": action.as_str(),
        "by": operator,
        "note": note,
        "result": refused.as_deref().unwrap_or("done"),
    });
    let now = engine.clock.now_ms();
    cases::add_timeline(&mut tx, case_id, now, "operator", &detail)
        .await
        .with_context(|| format!("adding to the timeline of case {case_id}"))?;
    let after = cases::lock_case(&mut tx, case_id)
        .await
        .with_context(|| format!("reading case {case_id} after the action"))?;
    tx.commit()
        .await
        .with_context(|| format!("committing the operator's action on case {case_id}"))?;
    engine.wake_runner();
    tracing::info!(case_id = %case_id, action = action.as_str(), operator, refused = ?refused, "operator action");
    Ok(match (refused, after) {
        (Some(why), _) => ActOutcome::Refused(why),
        (None, Some(case)) => ActOutcome::Done(Box::new(case)),
        (None, None) => ActOutcome::NoSuchCase,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_a_case_cannot_follow_are_refused_with_a_reason() {
        use OperatorAction::*;
        assert_eq!(refusal(Pause, Some(CaseState::Retrying)), None);
        assert_eq!(refusal(Close, Some(CaseState::Paused)), None);
        assert_eq!(refusal(Resume, Some(CaseState::Paused)), None);
        assert_eq!(refusal(RetryNow, Some(CaseState::AwaitingCustomer)), None);
        let why = |a, s| refusal(a, s).unwrap();
        assert_eq!(
            why(Pause, Some(CaseState::Recovered)),
            "the case has ended (recovered)"
        );
        assert_eq!(
            why(Pause, Some(CaseState::Paused)),
            "the case is already paused"
        );
        assert_eq!(
            why(Resume, Some(CaseState::Retrying)),
            "the case is not paused (retrying)"
        );
        assert_eq!(
            why(RetryNow, Some(CaseState::Paused)),
            "the case is paused: resume it first"
        );
        assert_eq!(why(Close, None), "no case is open for this invoice");
        for a in OperatorAction::ALL {
            assert_eq!(OperatorAction::parse(a.as_str()), Some(a));
        }
    }
}
