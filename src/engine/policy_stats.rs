//! How the running policy version does on real customers: beside its
//! holdout's version over the same weeks (a randomized comparison), or
//! else beside the version before it over as many weeks before the change
//! (before/after: other things changed too). Each case is judged at the
//! same age: recovered within N days of opening (N: the later final day of
//! the two versions, and one more), among the cases at least N days old —
//! recoveries come early and losses late, so counting among cases that
//! ended would favour a version whose cases are still young. No verdict
//! until each side has `MIN_JUDGED` cases old enough; 95 % intervals.

use anyhow::Context as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::Engine;
use crate::domain::case::CaseState;
use crate::domain::holdout::{Rate, difference, wilson};

/// How many cases each side needs at the comparison's age before it
/// gives a verdict.
pub const MIN_JUDGED: i64 = 10;

/// One version's cases in the comparison's window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionResult {
    pub version: i64,
    /// Cases opened under it in the window.
    pub cases: i64,
    /// Of them, still live.
    pub live: i64,
    /// Of them, opened fewer than `age_days` ago: not judged yet.
    pub too_young: i64,
    /// Recovered within `age_days` of opening, among the cases at least
    /// that old (`trials`), with its interval.
    pub recovery: Rate,
}

/// The running version against the one it is compared with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comparison {
    /// `holdout` (randomized, the same weeks) or `before_after`.
    pub kind: &'static str,
    /// The age at which every case is judged, in days.
    pub age_days: i64,
    pub running: VersionResult,
    pub other: VersionResult,
    /// The running version's recovery rate minus the other's, with its
    /// 95 % interval; it says "better" or "worse" only when the interval
    /// excludes 0.
    pub difference: f64,
    pub difference_low: f64,
    pub difference_high: f64,
    pub verdict: &'static str,
}

/// The policy section of the statistics.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyStats {
    pub running_version: i64,
    /// The holdout's share of new cases, when one is configured.
    pub holdout_share_percent: Option<f64>,
    /// `None`: nothing to compare with yet.
    pub comparison: Option<Comparison>,
}

async fn result(
    engine: &Engine,
    version: i64,
    (from, until): (i64, i64),
    age_days: i64,
) -> anyhow::Result<VersionResult> {
    let counts = engine
        .store
        .version_counts(version, from, until)
        .await
        .with_context(|| format!("counting the cases of policy version {version}"))?;
    let live = counts
        .states
        .iter()
        .filter(|(state, _)| CaseState::parse(state).is_some_and(|s| !s.is_terminal()))
        .map(|(_, n)| n)
        .sum();
    let age_ms = age_days * 86_400_000;
    let cutoff = engine.clock.now_ms() - age_ms;
    let aged = engine
        .store
        .version_at_age(version, from, until, cutoff, age_ms)
        .await
        .with_context(|| format!("judging the cases of policy version {version}"))?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(VersionResult {
        version,
        cases: aged.cases,
        live,
        too_young: aged.cases - aged.mature,
        recovery: wilson(count(aged.recovered), count(aged.mature)),
    })
}

/// The running version's comparison, as `/api/stats` and the dashboard show it.
pub async fn compare(engine: &Engine) -> anyhow::Result<PolicyStats> {
    let running = engine.policy_version();
    let holdout = engine.policy().holdout;
    let mut out = PolicyStats {
        running_version: running,
        holdout_share_percent: holdout.map(|h| h.share_percent),
        comparison: None,
    };
    let Some(start) = engine
        .store
        .version_first_day(running)
        .await
        .with_context(|| format!("reading the first day of policy version {running}"))?
    else {
        return Ok(out);
    };
    let end = engine.clock.now_ms() + 1;
    let (kind, other, other_from, other_until) = match holdout {
        Some(h) => ("holdout", h.version, start, end),
        None if running > 1 => {
            let previous = running - 1;
            // As long before the change as the running version has run.
            ("before_after", previous, start - (end - start), start)
        }
        None => return Ok(out),
    };
    // Both sides judged at one age: when the later of their final
    // actions has run, and a day more.
    let last_day = |p: &crate::domain::policy::Policy| i64::from(p.final_.day);
    let age_days = last_day(&*engine.policy_at(running).await)
        .max(last_day(&*engine.policy_at(other).await))
        + 1;
    let mine = result(engine, running, (start, end), age_days)
        .await
        .context("reading the running version's result")?;
    let theirs = result(engine, other, (other_from, other_until), age_days)
        .await
        .context("reading the result of the version it is compared with")?;
    let (d, low, high) = difference(&theirs.recovery, &mine.recovery);
    let judged = |r: &VersionResult| i64::try_from(r.recovery.trials).unwrap_or(i64::MAX);
    let decided = judged(&mine) >= MIN_JUDGED && judged(&theirs) >= MIN_JUDGED;
    let verdict = match (decided, low > 0.0, high < 0.0) {
        (false, _, _) => "too few cases old enough yet",
        (true, true, _) => "better",
        (true, _, true) => "worse",
        _ => "no clear difference yet",
    };
    out.comparison = Some(Comparison {
        kind,
        age_days,
        running: mine,
        other: theirs,
        difference: d,
        difference_low: low,
        difference_high: high,
        verdict,
    });
    Ok(out)
}
