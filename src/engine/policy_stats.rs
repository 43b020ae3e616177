//! How the running policy version does on real customers: beside its
//! holdout's version over the same weeks (a randomized comparison), or
//! else beside the version before it over as many weeks before the change
//! (before/after: other things changed too). Recovery is counted among
//! cases that reached their end, with 95 % intervals.

use anyhow::Context as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::Engine;
use crate::domain::case::CaseState;
use crate::domain::holdout::{Rate, difference, wilson};

/// One version's cases in the comparison's window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionResult {
    pub version: i64,
    /// Cases opened under it in the window.
    pub cases: i64,
    /// Of them, still live.
    pub live: i64,
    /// Recovered among those that ended, with its interval.
    pub recovery: Rate,
}

/// The running version against the one it is compared with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comparison {
    /// `holdout` (randomized, the same weeks) or `before_after`.
    pub kind: &'static str,
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
    from: i64,
    until: i64,
) -> anyhow::Result<VersionResult> {
    let counts = engine
        .store
        .version_counts(version, from, until)
        .await
        .with_context(|| format!("counting the cases of policy version {version}"))?;
    let (mut cases, mut live, mut ended, mut recovered) = (0, 0, 0u64, 0u64);
    for (state, n) in counts.states {
        cases += n;
        match CaseState::parse(&state) {
            Some(CaseState::Recovered) => {
                ended += n as u64;
                recovered += n as u64;
            }
            Some(s) if s.is_terminal() => ended += n as u64,
            _ => live += n,
        }
    }
    Ok(VersionResult {
        version,
        cases,
        live,
        recovery: wilson(recovered, ended),
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
    let mine = result(engine, running, start, end)
        .await
        .context("reading the running version's result")?;
    let theirs = result(engine, other, other_from, other_until)
        .await
        .context("reading the result of the version it is compared with")?;
    let (d, low, high) = difference(&theirs.recovery, &mine.recovery);
    let decided = mine.recovery.trials > 0 && theirs.recovery.trials > 0;
    let verdict = match (decided, low > 0.0, high < 0.0) {
        (false, _, _) => "no ended cases on one side yet",
        (true, true, _) => "better",
        (true, _, true) => "worse",
        _ => "no clear difference yet",
    };
    out.comparison = Some(Comparison {
        kind,
        running: mine,
        other: theirs,
        difference: d,
        difference_low: low,
        difference_high: high,
        verdict,
    });
    Ok(out)
}
