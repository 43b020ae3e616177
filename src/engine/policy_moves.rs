//! An operator moves chosen live cases to the running policy version: the
//! case's emails, final action and next retry are planned again under it,
//! once, with a timeline entry saying who moved it from which version.
//! Nothing else ever changes a case's version.

use crate::domain::ids::CaseId;
use anyhow::Context as _;
use serde_json::json;

use super::Engine;
use super::apply::apply;
use crate::domain::case::Input;
use crate::domain::case_record::CaseRow;
use crate::store::cases;
use crate::store::policies as stored;

/// How a move ended.
#[derive(Debug)]
pub enum MoveOutcome {
    /// Moved from version `from`; the case as it is now.
    Moved {
        from: i64,
        case: Box<CaseRow>,
    },
    /// The case cannot move (why); nothing changed.
    Refused(String),
    NoSuchCase,
}

/// Why a case on `version` (in `state`) cannot move to `running`, if not.
fn refusal(case: &CaseRow, running: i64) -> Option<String> {
    let Some(state) = case.track.outcome() else {
        return Some("no case is open for this invoice".into());
    };
    if state.is_terminal() {
        return Some(format!("the case has ended ({})", state.as_str()));
    }
    if running == 0 {
        return Some("no policy version is stored yet".into());
    }
    (case.policy_version == Some(running))
        .then(|| format!("the case already runs under version {running}"))
}

/// Moves case `case_id` to the running version for `operator`, with
/// their `note`.
pub async fn move_to_running(
    engine: &Engine,
    case_id: CaseId,
    operator: &str,
    note: Option<&str>,
) -> anyhow::Result<MoveOutcome> {
    // Another process may have stored a newer version a moment ago.
    engine
        .refresh_policy()
        .await
        .context("reading the newest policy version")?;
    let running = engine.policy_version();
    let Some((mut tx, case)) = engine.lock_case(case_id).await? else {
        return Ok(MoveOutcome::NoSuchCase);
    };
    if let Some(why) = refusal(&case, running) {
        return Ok(MoveOutcome::Refused(why));
    }
    let from = case.policy_version.unwrap_or(0);
    stored::move_case(&mut tx, case_id, running)
        .await
        .with_context(|| format!("moving case {case_id} to policy version {running}"))?;
    let Some(moved) = cases::lock_case(&mut tx, case_id)
        .await
        .with_context(|| format!("locking the moved case {case_id}"))?
    else {
        return Ok(MoveOutcome::NoSuchCase);
    };
    let now = engine.clock.now_ms();
    let detail = json!({"from": from, "to": running, "by": operator, "note": note});
    cases::add_timeline(&mut tx, case_id, now, "policy_moved", &detail)
        .await
        .with_context(|| format!("adding to the timeline of case {case_id}"))?;
    let reason = format!(
        "{operator} moved the case from policy version {from} to {running}: what is still ahead is planned under version {running}"
    );
    apply(
        engine,
        &mut tx,
        &moved,
        Input::AdoptPolicy { reason },
        &format!("{operator}: policy version {running}"),
    )
    .await
    .with_context(|| format!("planning case {case_id} again under policy version {running}"))?;
    let after = cases::lock_case(&mut tx, case_id)
        .await
        .with_context(|| format!("reading case {case_id} after the move"))?;
    tx.commit()
        .await
        .with_context(|| format!("committing the move of case {case_id}"))?;
    engine.wake_runner();
    tracing::info!(
        case_id = %case_id,
        from,
        to = running,
        operator,
        "case moved to the running policy"
    );
    Ok(match after {
        Some(case) => MoveOutcome::Moved {
            from,
            case: Box::new(case),
        },
        None => MoveOutcome::NoSuchCase,
    })
}
