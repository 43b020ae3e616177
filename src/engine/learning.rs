//! The planner's learned estimates: this install's retry outcomes of the
//! last 180 days, read from the store and turned into local times, kept in
//! memory and refreshed every quarter hour (`jobs::learn`).

use anyhow::Context as _;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::domain::decline::DeclineCategory;
use crate::domain::learned::RetryHistory;
use crate::domain::learned::{Estimates, Outcome, after_payday};
use crate::store::Store;

/// How far back outcomes count.
const HISTORY_DAYS: i64 = 180;

/// The current estimates, shared by the engine's users.
#[derive(Debug, Clone, Default)]
pub struct Learned(Arc<RwLock<Arc<Estimates>>>);

impl Learned {
    pub fn current(&self) -> Arc<Estimates> {
        self.0.read().map(|e| e.clone()).unwrap_or_default()
    }

    pub fn set(&self, estimates: Estimates) {
        if let Ok(mut e) = self.0.write() {
            *e = Arc::new(estimates);
        }
    }
}

/// Rows as outcomes: the attempt's local time in its case's zone, and
/// whether a payday of its country's common cycles likely passed since the
/// try before.
pub fn outcomes(rows: Vec<RetryHistory>) -> impl Iterator<Item = Outcome> {
    rows.into_iter().filter_map(|row| {
        let category = DeclineCategory::parse(row.category.as_deref()?)?;
        let tz: Tz = row.timezone.parse().ok()?;
        let at = DateTime::<Utc>::from_timestamp_millis(row.hour_ms)?;
        let hours_since_last = u32::try_from(row.hours_since_last).ok()?;
        Some(Outcome {
            category,
            code: row.code,
            local: at.with_timezone(&tz).naive_local(),
            days_since_failure: u32::try_from(row.days_since_failure).ok()?,
            hours_since_last,
            after_payday: after_payday(
                row.country.as_deref(),
                tz,
                at - Duration::hours(i64::from(hours_since_last)),
                at,
            ),
            tries: u32::try_from(row.tries).ok()?,
            paid: u32::try_from(row.paid).ok()?,
        })
    })
}

/// Reads the last 180 days (before `now`) of outcomes.
pub async fn load(store: &Store, now: DateTime<Utc>) -> anyhow::Result<Estimates> {
    let since = (now - Duration::days(HISTORY_DAYS)).timestamp_millis();
    let rows = store
        .retry_history(since)
        .await
        .context("reading the retry history")?;
    Ok(Estimates::from_outcomes(outcomes(rows)))
}
