//! Where a funds retry goes: the customer's likely paydays. A day's
//! likelihood comes from the pay cycles common in their country and, when
//! their own earlier payments show one, their own payday. A retry waits
//! until it is likely that a payday passed since the last try, and lands
//! on that payday's morning, when the money is freshest.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::calendar::{local_date, local_morning_before};
use crate::domain::decline::DeclineCategory;
use crate::domain::learned::{Estimate, Estimates, day_bucket_name};
use crate::domain::paydays::{
    DayRule, PayCycle, country_norms, is_business_day, payday_likelihood,
};

/// Retry once a payday since the last try is at least this likely (one
/// in five: a failed try costs little, a missed payday a month).
const PAYDAY_LIKELY: f64 = 0.2;
/// Failing that, one try on the best payday left if it is at least this likely.
const PAYDAY_POSSIBLE: f64 = 0.1;
/// How sure a learned payday is.
const LEARNED: f64 = 0.9;

/// The learned payday (day of month), when the customer's payments
/// cluster on one. Payments within a day of the invoice's own renewal day
/// say when the subscription renews, not when they are paid: ignored.
pub fn learned_payday(paid_at: &[DateTime<Utc>], tz: Tz, renewal_day: Option<u32>) -> Option<u32> {
    let near_renewal = |day: u32| {
        renewal_day.is_some_and(|r| {
            let gap = day.abs_diff(r);
            gap <= 1 || gap >= 30
        })
    };
    let mut counts = [0u32; 33];
    for at in paid_at {
        let day = local_date(*at, tz).day();
        if !near_renewal(day) {
            counts[day as usize] += 1;
        }
    }
    // A day counts with its neighbours: salaries move by a day or two
    // around weekends.
    let score = |d: usize| counts[d] * 2 + counts[d + 1] + counts[d - 1];
    let best = (1..=31).max_by_key(|&d| (score(d), std::cmp::Reverse(d)))?;
    // Two payments at least, on the day or next to it.
    (counts[best] >= 1 && counts[best - 1] + counts[best] + counts[best + 1] >= 2)
        .then_some(best as u32)
}

/// How likely the customer is paid on a given day.
pub struct Paydays {
    norms: Vec<(PayCycle, f64)>,
    country: Option<String>,
    learned: Option<u32>,
}

impl Paydays {
    pub fn new(country: Option<&str>, learned: Option<u32>) -> Self {
        Self {
            norms: country_norms(country),
            country: country.map(|c| c.trim().to_ascii_uppercase()),
            learned,
        }
    }

    fn is_learned(&self, date: NaiveDate) -> bool {
        self.learned
            .is_some_and(|day| DayRule::Day(day).in_month(date.year(), date.month()) == date)
    }

    pub fn on(&self, date: NaiveDate) -> f64 {
        let common = payday_likelihood(&self.norms, date);
        if self.is_learned(date) {
            common.max(LEARNED)
        } else {
            common
        }
    }

    /// Why `date` is a good day, for the timeline.
    fn describe(&self, date: NaiveDate, since_last: f64) -> String {
        let day = date.format("%a %-d %b");
        if let Some(learned) = self.learned.filter(|_| self.is_learned(date)) {
            return format!(
                "{day} is the customer's own payday (their payments cluster on day {learned})"
            );
        }
        let whose = self
            .country
            .as_deref()
            .map_or("common pay cycles".to_owned(), |c| {
                format!("pay cycles common in {c}")
            });
        format!(
            "{day} is a payday for {:.0}% of earners by {whose} ({:.0}% that a payday passed since the last try)",
            self.on(date) * 100.0,
            since_last * 100.0
        )
    }
}

/// The funds retry's slot: the first likely payday after the last try
/// (and after `earliest`) by which a payday has probably passed; else the
/// best payday left in the window if it is at all likely; else none.
pub fn slot(
    paydays: &Paydays,
    tz: Tz,
    earliest: DateTime<Utc>,
    last_try: DateTime<Utc>,
    window_end: DateTime<Utc>,
    mut morning: impl FnMut(NaiveDate) -> DateTime<Utc>,
) -> Option<(DateTime<Utc>, String)> {
    let first_day = local_date(last_try, tz) + Duration::days(1);
    let end_day = local_date(window_end, tz);
    let mut missed = 1.0;
    // A likely payday already passed without a try (a network wait, a
    // pause): the next business morning is as good as a payday.
    let mut passed_untried: Option<NaiveDate> = None;
    let mut best: Option<(f64, NaiveDate)> = None;
    let mut day = first_day;
    while day <= end_day {
        let likely = paydays.on(day);
        missed *= 1.0 - likely;
        let passed = 1.0 - missed;
        let at = morning(day);
        let open = at >= earliest && at < window_end && is_business_day(day);
        if open && passed >= PAYDAY_LIKELY && (likely > 0.0 || passed_untried.is_some()) {
            let reason = match passed_untried.filter(|_| likely == 0.0) {
                Some(payday) => format!(
                    "a likely payday ({}) passed since the last try; {:.0}% that one did",
                    payday.format("%a %-d %b"),
                    passed * 100.0
                ),
                None => paydays.describe(day, passed),
            };
            return Some((at, reason));
        }
        if likely > 0.0 && !open && at < earliest && passed >= PAYDAY_LIKELY {
            passed_untried = Some(day);
        }
        if open && likely > 0.0 && best.is_none_or(|(p, _)| passed > p) {
            best = Some((passed, day));
        }
        day = day.succ_opt().expect("valid date");
    }
    let (passed, day) = best.filter(|(p, _)| *p >= PAYDAY_POSSIBLE)?;
    Some((
        morning(day),
        format!(
            "no payday is likely before the window ends; the best chance left: {}",
            paydays.describe(day, passed)
        ),
    ))
}

/// Learned outcomes needed behind an earlier slot before it may win.
const LEARNED_MIN_OUTCOMES: u32 = 40;
/// How much better (relatively) an earlier slot must have done.
const LEARNED_LIFT: f64 = 1.25;
/// What the heuristic believes of a payday retry before any data.
const LEARNED_PRIOR: f64 = 0.15;

/// Learned data may pull a planned slot sooner: to an earlier business-day
/// morning the rules already allow (after `earliest`, after the last try's
/// day, before the window ends) where retries of this kind succeeded
/// clearly more often. It never moves a slot later.
#[allow(clippy::too_many_arguments)]
pub fn pull_sooner(
    learned: &Estimates,
    category: DeclineCategory,
    code: &str,
    tz: Tz,
    planned: DateTime<Utc>,
    earliest: DateTime<Utc>,
    last_try: DateTime<Utc>,
    window_end: DateTime<Utc>,
    mut morning: impl FnMut(NaiveDate) -> DateTime<Utc>,
) -> Option<(DateTime<Utc>, String)> {
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).naive_local();
    let at_plan = learned.estimate(category, code, local(planned), LEARNED_PRIOR);
    let mut best: Option<(DateTime<Utc>, Estimate)> = None;
    let mut day = local_date(last_try, tz) + Duration::days(1);
    while day < local_date(planned, tz) {
        let at = morning(day);
        if is_business_day(day) && at >= earliest && at < window_end && at < planned {
            let e = learned.estimate(category, code, local(at), LEARNED_PRIOR);
            let clearly_better = e.outcomes >= LEARNED_MIN_OUTCOMES
                && e.rate >= at_plan.rate * LEARNED_LIFT
                && e.rate - at_plan.rate >= 0.03;
            if clearly_better && best.is_none_or(|(_, b)| e.rate > b.rate) {
                best = Some((at, e));
            }
        }
        day = day.succ_opt().expect("valid date");
    }
    let (at, e) = best?;
    let when = local(at);
    Some((
        at,
        format!(
            "learned from {} of your past retries: `{code}` retries on {} mornings ({}) succeeded {:.0}% against {:.0}% on the morning planned ({}), so sooner",
            e.outcomes,
            when.format("%a"),
            day_bucket_name(when),
            e.rate * 100.0,
            at_plan.rate * 100.0,
            local(planned).format("%a %-d %b")
        ),
    ))
}

/// `local_morning` bound to a case, for `slot`.
pub fn mornings(
    tz: Tz,
    case_key: &str,
    salt: u32,
    window_end: DateTime<Utc>,
) -> impl FnMut(NaiveDate) -> DateTime<Utc> + '_ {
    move |day| local_morning_before(day, tz, case_key, salt, window_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn renewals_do_not_teach_a_payday_but_recoveries_do() {
        let tz = chrono_tz::UTC;
        let renewals: Vec<_> = [
            "2026-01-03T10:00:00Z",
            "2026-02-03T10:00:00Z",
            "2026-03-03T10:00:00Z",
        ]
        .iter()
        .map(|s| utc(s))
        .collect();
        assert_eq!(learned_payday(&renewals, tz, Some(3)), None);
        assert_eq!(learned_payday(&renewals, tz, None), Some(3));
        let mut paid = renewals.clone();
        paid.push(utc("2025-11-25T10:00:00Z"));
        paid.push(utc("2025-12-26T10:00:00Z"));
        assert_eq!(learned_payday(&paid, tz, Some(3)), Some(25));
    }

    #[test]
    fn us_customers_are_retried_on_fridays_germans_at_month_end() {
        let tz = chrono_tz::America::New_York;
        // Tuesday 3 March 2026, 10:00 local.
        let failed = utc("2026-03-03T15:00:00Z");
        let end = failed + Duration::days(21);
        let us = Paydays::new(Some("US"), None);
        let (at, why) = slot(&us, tz, failed, failed, end, mornings(tz, "c", 1, end)).unwrap();
        let local = at.with_timezone(&tz);
        assert_eq!(
            local.date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()
        );
        assert!(why.contains("a payday for") && why.contains("US"), "{why}");

        let tz = chrono_tz::Europe::Berlin;
        let failed = utc("2026-03-10T09:00:00Z");
        let de = Paydays::new(Some("DE"), None);
        let (at, _) = slot(
            &de,
            tz,
            failed,
            failed,
            failed + Duration::days(21),
            mornings(tz, "c", 1, end),
        )
        .unwrap();
        assert_eq!(
            at.with_timezone(&tz).date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()
        );
        // Failing on the 3rd, month end is past the window: the 15th (Friday the 13th) at best.
        let failed = utc("2026-03-03T09:00:00Z");
        let (at, why) = slot(
            &de,
            tz,
            failed,
            failed,
            failed + Duration::days(21),
            mornings(tz, "c", 1, end),
        )
        .unwrap();
        assert_eq!(
            at.with_timezone(&tz).date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 13).unwrap()
        );
        assert!(why.contains("no payday is likely"), "{why}");
    }
}
