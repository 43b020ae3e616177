//! What your own history says about retries: how often a retry of a given
//! kind of refusal succeeded by the customer's local weekday and hour, by
//! the day of the month, by the days since the failure, by the hours since
//! the try before it and by whether a payday likely passed in between,
//! shrunk toward the planner's own heuristic when the data is thin. The
//! planner uses it to pull a payday slot sooner, between slots its rules
//! already allow, and (`schedule::lessons`) to add tries, bring the first
//! retry forward or stop waiting for paydays where the install's own
//! retries say so; never past the budget, the window or a network's rule.
//! Pure.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::decline::DeclineCategory;
use super::paydays::{country_norms, payday_passed};

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
    /// Whole days from the failure that opened the case.
    pub days_since_failure: u32,
    /// Whole hours from the try before (the failure, for the first retry).
    pub hours_since_last: u32,
    /// A payday of the customer's country's common cycles likely passed
    /// since the try before (`paydays::payday_passed` at least one half).
    pub after_payday: bool,
    pub tries: u32,
    pub paid: u32,
}

/// Whether a payday of `country`'s common cycles likely passed between two
/// tries (their local days in `tz`).
pub fn after_payday(country: Option<&str>, tz: Tz, last: DateTime<Utc>, at: DateTime<Utc>) -> bool {
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    payday_passed(&country_norms(country), day(last), day(at)) >= 0.5
}

/// Where a retry stood: how long after the failure, how long after the
/// try before, and whether a payday likely passed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stood {
    /// Days since the failure: 0 = 0–3, 1 = 4–9, 2 = 10–20, 3 = 21 on.
    Age(u8),
    /// Hours since the try before: 0 = under 48, 1 = 48 to under 168,
    /// 2 = a week or more.
    Gap(u8),
    AfterPayday(bool),
}

impl Stood {
    fn of(o: &Outcome) -> [Self; 3] {
        let age = match o.days_since_failure {
            0..=3 => 0,
            4..=9 => 1,
            10..=20 => 2,
            _ => 3,
        };
        let gap = match o.hours_since_last {
            0..48 => 0,
            48..168 => 1,
            _ => 2,
        };
        [
            Self::Age(age),
            Self::Gap(gap),
            Self::AfterPayday(o.after_payday),
        ]
    }
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
    stood: HashMap<(Key, Stood), Tally>,
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
                    .entry((key.clone(), day))
                    .or_default()
                    .add(o.tries, o.paid);
                for stood in Stood::of(&o) {
                    e.stood
                        .entry((key.clone(), stood))
                        .or_default()
                        .add(o.tries, o.paid);
                }
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

    /// The key `code`'s figures are read under: the code once it has
    /// `CODE_MIN` outcomes of its own, its category until then.
    fn key(&self, category: DeclineCategory, code: &str) -> Key {
        let by_code: Key = (category, Some(code.to_owned()));
        if self
            .overall
            .get(&by_code)
            .is_some_and(|t| t.tries >= CODE_MIN)
        {
            by_code
        } else {
            (category, None)
        }
    }

    /// How often a retry of `code` (of `category`: the category's figure
    /// until the code has `CODE_MIN` outcomes of its own) paid here,
    /// whenever it was made, shrunk toward `prior`.
    pub fn category_rate(&self, category: DeclineCategory, code: &str, prior: f64) -> Estimate {
        let tally = self
            .overall
            .get(&self.key(category, code))
            .copied()
            .unwrap_or_default();
        Estimate {
            rate: tally.shrunk(prior),
            outcomes: tally.tries,
        }
    }

    /// How often a retry of `code` that stood where `which` says paid
    /// here (the retries of every matching bucket together), shrunk toward
    /// `prior`.
    pub fn rate_where(
        &self,
        category: DeclineCategory,
        code: &str,
        prior: f64,
        which: impl Fn(Stood) -> bool,
    ) -> Estimate {
        let key = self.key(category, code);
        let mut tally = Tally::default();
        for ((k, stood), t) in &self.stood {
            if *k == key && which(*stood) {
                tally.add(t.tries, t.paid);
            }
        }
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
        let key = self.key(category, code);
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

/// Our finished retries in one UTC hour, by the case's opening refusal,
/// time zone and country, whole days since the case opened and whole hours
/// since the case's previous retry: what the planner learns from.
#[derive(Debug, Clone)]
pub struct RetryHistory {
    pub category: Option<String>,
    pub code: Option<String>,
    pub timezone: String,
    pub country: Option<String>,
    /// The hour's start, unix ms.
    pub hour_ms: i64,
    /// Whole days from the case's opening to the retry (at most 60).
    pub days_since_failure: i64,
    /// Whole hours from the case's previous retry, or its opening for the
    /// first (at most 720).
    pub hours_since_last: i64,
    pub tries: i64,
    pub paid: i64,
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
            days_since_failure: 5,
            hours_since_last: 72,
            after_payday: true,
            tries,
            paid,
        }
    }

    #[test]
    fn retries_are_told_apart_by_age_gap_and_payday() {
        let mut rows = Vec::new();
        // Early retries and retries after a payday pay; the rest seldom.
        for week in 0..20 {
            let when = at(2026, 1, 5, 9) + chrono::Duration::weeks(week);
            rows.push(Outcome {
                days_since_failure: 2,
                hours_since_last: 30,
                after_payday: false,
                ..outcome(when, 10, 4)
            });
            rows.push(Outcome {
                days_since_failure: 12,
                hours_since_last: 200,
                after_payday: true,
                ..outcome(when, 10, 4)
            });
            rows.push(Outcome {
                days_since_failure: 15,
                hours_since_last: 60,
                after_payday: false,
                ..outcome(when, 10, 0)
            });
        }
        let e = Estimates::from_outcomes(rows);
        let rate = |which: &dyn Fn(Stood) -> bool| {
            e.rate_where(DeclineCategory::Funds, "insufficient_funds", 0.2, which)
        };
        let early = rate(&|s| s == Stood::Age(0));
        let later = rate(&|s| matches!(s, Stood::Age(1..)));
        assert_eq!((early.outcomes, later.outcomes), (200, 400));
        assert!(
            early.rate > 0.35 && later.rate < 0.25,
            "{early:?} {later:?}"
        );
        let paydays = rate(&|s| s == Stood::AfterPayday(true));
        let other = rate(&|s| s == Stood::AfterPayday(false));
        assert!(
            paydays.rate > 0.35 && other.rate < 0.25,
            "{paydays:?} {other:?}"
        );
        let short = rate(&|s| s == Stood::Gap(0));
        let long = rate(&|s| s == Stood::Gap(2));
        assert!(short.rate > 0.35 && long.rate > 0.35, "{short:?} {long:?}");
        let middle = rate(&|s| s == Stood::Gap(1));
        assert!(middle.rate < 0.1, "{middle:?}");
        // Nothing seen: the prior.
        let none = Estimates::default().rate_where(
            DeclineCategory::Funds,
            "insufficient_funds",
            0.2,
            |s| s == Stood::Age(0),
        );
        assert!((none.rate - 0.2).abs() < 1e-9 && none.outcomes == 0);
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
