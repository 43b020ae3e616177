//! The backtest the policy editor offers before applying: the running and
//! a proposed policy played on this install's own closed cases (their real
//! decline codes, countries, amounts and outcomes) and on a generated
//! population, side by side.

use anyhow::Context as _;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::Engine;
use crate::domain::policy::Policy;
use crate::domain::policy_record::ClosedCase;
use crate::domain::simulate::backtest::{Compared, compare};
use crate::domain::simulate::history::{Row, scenario};
use crate::domain::simulate::play::Played;
use crate::domain::simulate::report::Tally;
use crate::domain::simulate::{Scenario, models, population};
use crate::store::Store;

/// How far back ended cases are read, by when they opened, and how many at
/// most.
const HISTORY_DAYS: i64 = 180;
const MAX_OWN: i64 = 5_000;
/// The generated population's size and seed (the same figures each time).
pub const POPULATION: u64 = 5_000;
pub const SEED: u64 = 7;

/// Both comparisons.
#[derive(Debug, Clone)]
pub struct Backtest {
    /// On the operator's own closed cases (`None`: none closed yet).
    pub own: Option<Compared>,
    pub own_cases: usize,
    /// What really happened to those cases (recovered when, for how much;
    /// attempts are not counted): the yardstick for the model's figures.
    pub actual: Tally,
    pub generated: Compared,
}

/// A closed case as history: paid in the end if it was recovered.
pub fn row_of(case: &ClosedCase) -> Option<Row> {
    let failed_at = DateTime::<Utc>::from_timestamp_millis(case.opened_at)?;
    let ended_at = DateTime::<Utc>::from_timestamp_millis(case.ended_at)?;
    Some(Row {
        failed_at,
        // A case that never learned its refusal is planned as a generic one.
        decline_code: case
            .decline_code
            .clone()
            .unwrap_or_else(|| "generic_decline".into()),
        amount_minor: case.amount_due,
        currency: case.currency.to_ascii_lowercase(),
        country: case.country.clone(),
        paid_at: (case.state == "recovered").then_some(ended_at.max(failed_at)),
        card_brand: None,
    })
}

/// The operator's ended cases opened in the 180 days before `now`, as scenarios
/// (keyed as their cases are, so the planner's jitter matches), with what
/// really happened to them.
pub async fn own_history(
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<Scenario>, Tally)> {
    let since = (now - Duration::days(HISTORY_DAYS)).timestamp_millis();
    let closed = store
        .closed_cases(since, MAX_OWN)
        .await
        .context("reading the closed cases")?;
    let mut actual = Tally::new("actual");
    let mut scenarios = Vec::new();
    for case in &closed {
        let Some(row) = row_of(case) else { continue };
        let s = scenario(&row, format!("case-{}", case.id), case.id as u64);
        let played = Played {
            recovered_at: row.paid_at,
            ..Played::default()
        };
        actual.add(&s, &played);
        scenarios.push(s);
    }
    Ok((scenarios, actual))
}

/// Plays `proposed` beside the running policy.
pub async fn run(engine: &Engine, proposed: Policy) -> anyhow::Result<Backtest> {
    compare_on(&engine.store, engine.clock.now(), engine.policy(), proposed).await
}

/// Plays `proposed` beside `running` on the store's closed cases (before
/// `now`) and on the generated population.
pub async fn compare_on(
    store: &Store,
    now: DateTime<Utc>,
    running: Arc<Policy>,
    proposed: Policy,
) -> anyhow::Result<Backtest> {
    let (own, actual) = own_history(store, now)
        .await
        .context("reading this install's own history")?;
    let proposed = Arc::new(proposed);
    tokio::task::spawn_blocking(move || {
        let generated: Vec<Scenario> = (0..POPULATION)
            .map(|i| population::scenario(&models::TODAY, SEED, i))
            .collect();
        Backtest {
            own: (!own.is_empty()).then(|| compare(&own, &running, &proposed)),
            own_cases: own.len(),
            actual,
            generated: compare(&generated, &running, &proposed),
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("the backtest stopped: {e}"))
}
