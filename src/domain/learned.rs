//! What your own history says about retries: how often a retry of a given
//! kind of refusal succeeded by the customer's local weekday and hour and
//! by the day of the month, shrunk toward the planner's own heuristic when
//! the data is thin. The planner uses it to pull a payday slot sooner,
//! between slots its rules already allow, and to spread one or two more
//! tries where a refusal's retries pay well here (`category_rate`); never
//! past the budget, the window or a network's rule. Pure.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::decline::DeclineCategory;

/// Pseudo-outcomes of the prior in every estimate: a cell needs about this
/// many real outcomes before it says much.
const PRIOR_WEIGHT: f64 = 30.0;
/// Outcomes of one code before it is estimated apart from its category.
const CODE_MIN: u32 = 50;

/// Retries counted in one local hour of some day.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub category: DeclineCategory,
    pub code: Option<String>,
    /// The attempt's local time (the case's time zone).
    pub local: NaiveDateTime,
    pub tries: u32,
    pub paid: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    tries: u32,
    paid: u32,
}

impl Tally {
    fn add(&mut self, tries: u32, paid: u32) {
        self.tries += tries;
        self.paid += paid.min(tries);
    }

    fn shrunk(self, toward: f64) -> f64 {
        (f64::from(self.paid) + PRIOR_WEIGHT * toward) / (f64::from(self.tries) + PRIOR_WEIGHT)
    }
}

/// Local hours in buckets: night, early morning, morning, afternoon, evening.
fn hour_bucket(hour: u32) -> u8 {
    match hour {
        0..=5 => 0,
        6..=8 => 1,
        9..=11 => 2,
        12..=17 => 3,
        _ => 4,
    }
}

/// Days of the month in buckets around the common paydays.
fn day_bucket(day: u32) -> u8 {
    match day {
        1..=3 => 0,
        4..=9 => 1,
        10..=14 => 2,
        15..=17 => 3,
        18..=24 => 4,
        25..=27 => 5,
        _ => 6,
    }
}

pub fn day_bucket_name(local: NaiveDateTime) -> &'static str {
    [
        "days 1–3",
        "days 4–9",
        "days 10–14",
        "days 15–17",
        "days 18–24",
        "days 25–27",
        "days 28–31",
    ][usize::from(day_bucket(local.day()))]
}

/// A key: the category, and the code when it has data of its own.
type Key = (DeclineCategory, Option<String>);

#[derive(Debug, Clone, Default)]
pub struct Estimates {
    overall: HashMap<Key, Tally>,
    week_hour: HashMap<(Key, u8, u8), Tally>,
    month_day: HashMap<(Key, u8), Tally>,
}

/// The estimate for one slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub rate: f64,
    /// Real outcomes behind it (its cells').
    pub outcomes: u32,
}

impl Estimates {
    pub fn from_outcomes(outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        let mut e = Self::default();
        for o in outcomes {
            let weekday = o.local.weekday().num_days_from_monday() as u8;
            let hour = hour_bucket(o.local.hour());
            let day = day_bucket(o.local.day());
            let keys = [(o.category, None), (o.category, o.code.clone())];
            for key in keys.into_iter().take(if o.code.is_some() { 2 } else { 1 }) {
                e.overall
                    .entry(key.clone())
                    .or_default()
                    .add(o.tries, o.paid);
                e.week_hour
                    .entry((key.clone(), weekday, hour))
                    .or_default()
                    .add(o.tries, o.paid);
                e.month_day
                    .entry((key, day))
                    .or_default()
                    .add(o.tries, o.paid);
            }
        }
        e
    }

    pub fn is_empty(&self) -> bool {
        self.overall.is_empty()
    }

    /// Outcomes counted in all.
    pub fn outcomes(&self) -> u32 {
        self.overall
            .iter()
            .filter(|((_, code), _)| code.is_none())
            .map(|(_, t)| t.tries)
            .sum()
    }

    /// How often a retry of `code` (of `category`: the category's figure
    /// until the code has `CODE_MIN` outcomes of its own) paid here,
    /// whenever it was made, shrunk toward `prior`.
    pub fn category_rate(&self, category: DeclineCategory, code: &str, prior: f64) -> Estimate {
        let by_code: Key = (category, Some(code.to_owned()));
        let tally = match self.overall.get(&by_code) {
            Some(t) if t.tries >= CODE_MIN => *t,
            _ => self
                .overall
                .get(&(category, None))
                .copied()
                .unwrap_or_default(),
        };
        Estimate {
            rate: tally.shrunk(prior),
            outcomes: tally.tries,
        }
    }

    /// How likely a retry of `category` (`code`) at `local` succeeds, from
    /// the data shrunk toward `prior` (the heuristic's belief).
    pub fn estimate(
        &self,
        category: DeclineCategory,
        code: &str,
        local: NaiveDateTime,
        prior: f64,
    ) -> Estimate {
        let by_code: Key = (category, Some(code.to_owned()));
        let key = if self
            .overall
            .get(&by_code)
            .is_some_and(|t| t.tries >= CODE_MIN)
        {
            by_code
        } else {
            (category, None)
        };
        let overall = self.overall.get(&key).copied().unwrap_or_default();
        let base = overall.shrunk(prior).max(1e-6);
        let weekday = local.weekday().num_days_from_monday() as u8;
        let cell = self
            .week_hour
            .get(&(key.clone(), weekday, hour_bucket(local.hour())))
            .copied()
            .unwrap_or_default();
        let day = self
            .month_day
            .get(&(key, day_bucket(local.day())))
            .copied()
            .unwrap_or_default();
        let lift = |t: Tally| t.shrunk(base) / base;
        Estimate {
            rate: (base * lift(cell) * lift(day)).clamp(0.0, 1.0),
            outcomes: cell.tries + day.tries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    fn outcome(local: NaiveDateTime, tries: u32, paid: u32) -> Outcome {
        Outcome {
            category: DeclineCategory::Funds,
            code: Some("insufficient_funds".into()),
            local,
            tries,
            paid,
        }
    }

    #[test]
    fn thin_data_stays_near_the_prior_and_rich_data_speaks() {
        let none = Estimates::default();
        let e = none.estimate(
            DeclineCategory::Funds,
            "insufficient_funds",
            at(2026, 3, 5, 9),
            0.2,
        );
        assert!((e.rate - 0.2).abs() < 1e-9 && e.outcomes == 0);

        // Thursdays 9-11 succeed half the time, Mondays almost never.
        let mut rows = Vec::new();
        for week in 0..20 {
            rows.push(outcome(
                at(2026, 1, 1, 9) + chrono::Duration::weeks(week),
                10,
                5,
            ));
            rows.push(outcome(
                at(2026, 1, 5, 9) + chrono::Duration::weeks(week),
                10,
                0,
            ));
        }
        let e = Estimates::from_outcomes(rows);
        assert_eq!(e.outcomes(), 400);
        let thursday = e.estimate(
            DeclineCategory::Funds,
            "insufficient_funds",
            at(2026, 3, 5, 10),
            0.2,
        );
        let monday = e.estimate(
            DeclineCategory::Funds,
            "insufficient_funds",
            at(2026, 3, 9, 10),
            0.2,
        );
        assert!(thursday.rate > 0.35, "{thursday:?}");
        assert!(monday.rate < 0.1, "{monday:?}");
        assert!(thursday.outcomes >= 200);
        // A category without data of its own: the prior.
        let other = e.estimate(
            DeclineCategory::Transient,
            "do_not_honor",
            at(2026, 3, 5, 10),
            0.3,
        );
        assert!((other.rate - 0.3).abs() < 1e-9);
    }
}
