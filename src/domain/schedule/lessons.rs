//! What the install's own finished retries teach the planner about where a
//! retry stands — how long after the failure, how long after the try
//! before, whether a payday likely passed in between (`learned::Stood`).
//! Each lesson reads one refusal's retries (its code's, once the code has
//! enough of its own; its category's until then), shrunk toward a prior,
//! and acts only when the groups it compares each hold
//! `LESSON_MIN_OUTCOMES` and the difference is clear. A lesson adds a try,
//! brings one forward or stops a try from waiting for a payday; it never
//! removes a try, and the planner still applies the window, the budget and
//! every network rule after it. Each says what it saw and from how many
//! outcomes, for the plan's reasons. Pure.

use super::tuning::{
    BETWEEN_PAYDAYS_PAYS, EARLY_FIRST_RETRY_DAYS, EARLY_LIFT, LESSON_MIN_OUTCOMES,
    PAYDAYS_MATTER_FROM, PRIOR_BETWEEN_PAYDAYS, SOON_AFTER_PAYS, SOON_LIFT,
};
use crate::domain::decline::DeclineCategory;
use crate::domain::learned::{Estimate, Estimates, Stood};

/// A lesson: what it changes, and why in the plan's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson<T> {
    pub value: T,
    pub why: String,
}

fn pct(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

fn enough(a: Estimate, b: Estimate) -> bool {
    a.outcomes >= LESSON_MIN_OUTCOMES && b.outcomes >= LESSON_MIN_OUTCOMES
}

/// The refusal's overall rate here: each group is shrunk toward it, so a
/// thin group says what the whole says.
fn pooled(learned: &Estimates, category: DeclineCategory, code: &str) -> f64 {
    learned
        .category_rate(category, code, super::PRIOR_RETRY_PAYS)
        .rate
}

/// Retries in the first days after the failure (days 0–3) paid clearly
/// more here than later ones: the first retry comes within
/// `EARLY_FIRST_RETRY_DAYS` instead of `days`.
pub fn first_retry_days(
    learned: &Estimates,
    category: DeclineCategory,
    code: &str,
    days: i64,
) -> Option<Lesson<i64>> {
    if days <= EARLY_FIRST_RETRY_DAYS {
        return None;
    }
    let toward = pooled(learned, category, code);
    let early = learned.rate_where(category, code, toward, |s| s == Stood::Age(0));
    let later = learned.rate_where(category, code, toward, |s| matches!(s, Stood::Age(1..)));
    if !enough(early, later) || early.rate < later.rate * EARLY_LIFT {
        return None;
    }
    Some(Lesson {
        value: EARLY_FIRST_RETRY_DAYS,
        why: format!(
            "your retries of `{code}` in the first 3 days after a failure paid {} of {} against {} of {} later: the first retry within {EARLY_FIRST_RETRY_DAYS} days instead of {days}",
            pct(early.rate),
            early.outcomes,
            pct(later.rate),
            later.outcomes
        ),
    })
}

/// Retries made when no payday had passed since the try before paid well
/// here (money comes between paydays too): one more try spread from the
/// first rate of `BETWEEN_PAYDAYS_PAYS`, two from the second.
pub fn more_tries_between_paydays(
    learned: &Estimates,
    category: DeclineCategory,
    code: &str,
) -> Option<Lesson<u32>> {
    let between = learned.rate_where(category, code, PRIOR_BETWEEN_PAYDAYS, |s| {
        s == Stood::AfterPayday(false)
    });
    let more = BETWEEN_PAYDAYS_PAYS
        .iter()
        .filter(|r| between.rate >= **r)
        .count() as u32;
    if between.outcomes < LESSON_MIN_OUTCOMES || more == 0 {
        return None;
    }
    Some(Lesson {
        value: more,
        why: format!(
            "your retries of `{code}` when no payday had passed since the try before paid {} of {} (shrunk toward {}): money comes between paydays here",
            pct(between.rate),
            between.outcomes,
            pct(PRIOR_BETWEEN_PAYDAYS),
        ),
    })
}

/// Retries after a payday paid no clearly more here than retries between
/// paydays (less than `PAYDAYS_MATTER_FROM` times as often): a try no
/// longer waits past the spread's morning for a payday.
pub fn paydays_do_not_matter(
    learned: &Estimates,
    category: DeclineCategory,
    code: &str,
) -> Option<Lesson<()>> {
    let toward = pooled(learned, category, code);
    let after = learned.rate_where(category, code, toward, |s| s == Stood::AfterPayday(true));
    let between = learned.rate_where(category, code, toward, |s| s == Stood::AfterPayday(false));
    if !enough(after, between) || after.rate >= between.rate * PAYDAYS_MATTER_FROM {
        return None;
    }
    Some(Lesson {
        value: (),
        why: format!(
            "your retries of `{code}` after a likely payday paid {} of {} against {} of {} between paydays: paydays make little difference here, so no waiting for one",
            pct(after.rate),
            after.outcomes,
            pct(between.rate),
            between.outcomes
        ),
    })
}

/// A generic decline's retries within 48 hours of the try before paid
/// well here, and clearly better than retries after longer waits (blocks
/// that pass quickly): one short back-off before paydays.
pub fn generic_short_tries(
    learned: &Estimates,
    category: DeclineCategory,
    code: &str,
) -> Option<Lesson<usize>> {
    let toward = pooled(learned, category, code);
    let soon = learned.rate_where(category, code, toward, |s| s == Stood::Gap(0));
    let later = learned.rate_where(category, code, toward, |s| matches!(s, Stood::Gap(1..)));
    if !enough(soon, later) || soon.rate < SOON_AFTER_PAYS || soon.rate < later.rate * SOON_LIFT {
        return None;
    }
    Some(Lesson {
        value: 1,
        why: format!(
            "your retries of `{code}` within 48 h of the try before paid {} of {} against {} of {} after longer waits: blocks pass quickly here, a short back-off before paydays",
            pct(soon.rate),
            soon.outcomes,
            pct(later.rate),
            later.outcomes
        ),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate};

    use super::*;
    use crate::domain::learned::Outcome;

    const FUNDS: (DeclineCategory, &str) = (DeclineCategory::Funds, "insufficient_funds");
    const GENERIC: (DeclineCategory, &str) = (DeclineCategory::Transient, "do_not_honor");

    /// 300 retries of `code` for each (days since the failure, hours since
    /// the try before, after a payday, paid of every 10).
    fn history(
        (category, code): (DeclineCategory, &str),
        kinds: &[(u32, u32, bool, u32)],
    ) -> Estimates {
        let start = NaiveDate::from_ymd_opt(2026, 3, 2)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let mut rows = Vec::new();
        for (n, (days, gap_hours, after_payday, paid)) in kinds.iter().enumerate() {
            for i in 0..30 {
                rows.push(Outcome {
                    category,
                    code: Some(code.into()),
                    local: start + Duration::days(i + n as i64),
                    days_since_failure: *days,
                    hours_since_last: *gap_hours,
                    after_payday: *after_payday,
                    tries: 10,
                    paid: *paid,
                });
            }
        }
        Estimates::from_outcomes(rows)
    }

    #[test]
    fn thin_or_unclear_data_teaches_nothing() {
        let (f, code) = FUNDS;
        let none = Estimates::default();
        assert!(first_retry_days(&none, f, code, 4).is_none());
        assert!(more_tries_between_paydays(&none, f, code).is_none());
        assert!(paydays_do_not_matter(&none, f, code).is_none());
        assert!(generic_short_tries(&none, f, code).is_none());
        // The payday theory's own picture: paydays pay, early and quick
        // retries do not.
        let paydays = history(
            FUNDS,
            &[(2, 30, false, 0), (9, 150, true, 4), (16, 170, true, 4)],
        );
        assert!(first_retry_days(&paydays, f, code, 4).is_none());
        assert!(more_tries_between_paydays(&paydays, f, code).is_none());
        assert!(paydays_do_not_matter(&paydays, f, code).is_none());
        assert!(generic_short_tries(&paydays, f, code).is_none());
        // Only one side seen: nothing, however high.
        let one_sided = history(FUNDS, &[(2, 30, false, 5)]);
        assert!(paydays_do_not_matter(&one_sided, f, code).is_none());
        assert!(generic_short_tries(&one_sided, f, code).is_none());
    }

    #[test]
    fn money_between_paydays_adds_tries_and_stops_the_waiting() {
        let (f, code) = FUNDS;
        let anyday = history(
            FUNDS,
            &[(2, 30, false, 2), (9, 150, true, 2), (16, 170, false, 2)],
        );
        let more = more_tries_between_paydays(&anyday, f, code).unwrap();
        assert_eq!(more.value, 2);
        assert!(more.why.contains("of 600"), "{}", more.why);
        let flat = paydays_do_not_matter(&anyday, f, code).unwrap();
        assert!(flat.why.contains("20% of 300"), "{}", flat.why);
        // Quick retries paid as the others did: no short back-off.
        assert!(generic_short_tries(&anyday, f, code).is_none());
    }

    #[test]
    fn early_retries_that_pay_bring_the_first_one_forward() {
        let (f, code) = FUNDS;
        let early = history(
            FUNDS,
            &[(1, 30, false, 4), (9, 150, true, 2), (16, 170, true, 2)],
        );
        let lesson = first_retry_days(&early, f, code, 4).unwrap();
        assert_eq!(lesson.value, EARLY_FIRST_RETRY_DAYS);
        assert!(lesson.why.contains("instead of 4"), "{}", lesson.why);
        // Already as early: nothing to move.
        assert!(first_retry_days(&early, f, code, EARLY_FIRST_RETRY_DAYS).is_none());
    }

    #[test]
    fn blocks_that_pass_quickly_get_a_short_back_off_and_long_blocks_do_not() {
        let (g, code) = GENERIC;
        let quick = history(
            GENERIC,
            &[(1, 24, false, 3), (9, 150, false, 2), (16, 170, true, 2)],
        );
        let lesson = generic_short_tries(&quick, g, code).unwrap();
        assert_eq!(lesson.value, 1);
        assert!(lesson.why.contains("of 300 against"), "{}", lesson.why);
        let long = history(
            GENERIC,
            &[(1, 24, false, 1), (9, 150, false, 3), (16, 170, true, 3)],
        );
        assert!(generic_short_tries(&long, g, code).is_none());
    }
}
