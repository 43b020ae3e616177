//! The floor under the payday theory. A theory of when money appears can
//! be wrong about a customer (money also comes from transfers, top-ups,
//! limits that reset; pay cycles differ from the country's norm), so it
//! may pull a try sooner but never removes one: `Tuning::spread_tries` are
//! spread evenly over the window's business mornings, and a funds retry
//! that no payday would bring soon comes by then anyway; while the budget
//! allows, one try stays planned for the rest of the window. A funds
//! decline's first retry comes within `Tuning::first_retry_days` of the
//! failure.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::calendar::{local_date, local_morning_before};
use crate::domain::paydays::is_business_day;

/// How many tries the spread shares the rest of the window among: the
/// tries it plans over a whole window (`spread_tries`) less those made —
/// tries a payday brings count against it —, and while the policy's budget
/// allows, at least one, so a case never ends early.
pub fn tries_to_spread(spread_tries: u32, max_attempts: u32, retries_made: u32) -> u32 {
    let budget = max_attempts.saturating_sub(retries_made);
    spread_tries.saturating_sub(retries_made).max(1).min(budget)
}

/// The spread's next try.
#[derive(Debug, Clone)]
pub struct Spread {
    pub at: DateTime<Utc>,
    pub reason: String,
    /// A payday up to this morning may take the try's place instead: the
    /// morning after `at`, when the tries left still fit after it (a try on
    /// the payday beats one the day before it).
    pub payday_until: DateTime<Utc>,
}

/// The spread's slot for the next try, if one fits before `window_end`:
/// the business mornings left in the window (never the local day of the
/// last try, none before `earliest`) shared evenly by the tries left, so
/// that the last of them lands on the window's last morning; pulled in to
/// a morning before `first_retry_days` for the first retry (given for the
/// first retry of a funds decline only).
#[allow(clippy::too_many_arguments)]
pub fn slot(
    tz: Tz,
    case_key: &str,
    salt: u32,
    first_failed: DateTime<Utc>,
    last_try: DateTime<Utc>,
    earliest: DateTime<Utc>,
    window_end: DateTime<Utc>,
    tries_left: u32,
    first_retry_days: Option<i64>,
) -> Option<Spread> {
    if tries_left == 0 || earliest >= window_end {
        return None;
    }
    // Never the local day of the last try.
    let next_day = local_date(last_try, tz) + Duration::days(1);
    let floor = earliest.max(day_start(next_day, tz));
    let mornings = mornings_between(tz, case_key, salt, next_day, floor, window_end);
    if mornings.is_empty() {
        return None;
    }
    let tries = tries_left as usize;
    let index = mornings.len().div_ceil(tries) - 1;
    let even = mornings[index];
    // The tries after this one need `tries - 1` mornings after it.
    let last_fitting = mornings.len().saturating_sub(tries).max(index);
    let mut payday_until = mornings[(index + 1).min(last_fitting)];
    if let Some(days) = first_retry_days {
        let deadline = first_failed + Duration::days(days);
        if payday_until >= deadline {
            payday_until = even;
        }
        if even >= deadline {
            // The latest morning inside the deadline; with none inside it
            // (a weekend, a deadline a lesson shortened), the first there is.
            let (at, reason) = match mornings.iter().rev().find(|at| **at < deadline) {
                Some(at) => (
                    *at,
                    format!(
                        "the first retry comes within {days} days of the failure, whatever the paydays say"
                    ),
                ),
                None => (
                    mornings[0],
                    format!(
                        "the first retry comes on the first business morning after the failure (none is left within {days} days), whatever the paydays say"
                    ),
                ),
            };
            return Some(Spread {
                at,
                reason,
                payday_until: at,
            });
        }
    }
    Some(Spread {
        at: even,
        payday_until,
        reason: format!(
            "{tries_left} {} left in the budget, spread over the {} business {} left in the window",
            if tries_left == 1 { "try" } else { "tries" },
            mornings.len(),
            if mornings.len() == 1 {
                "morning"
            } else {
                "mornings"
            },
        ),
    })
}

/// Every business-day morning from `from_day` on that is at or after
/// `floor` and before `end`.
fn mornings_between(
    tz: Tz,
    case_key: &str,
    salt: u32,
    from_day: NaiveDate,
    floor: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut day = from_day;
    // A window is at most 60 days (the policy's bound); two more for zones.
    for _ in 0..64 {
        let at = local_morning_before(day, tz, case_key, salt, end);
        if at >= end {
            break;
        }
        if is_business_day(day) && at >= floor {
            out.push(at);
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    out
}

/// The first instant of `day` in `tz` (an hour on when midnight does not
/// exist there).
fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let midnight = day.and_hms_opt(0, 0, 0).expect("valid time");
    match tz.from_local_datetime(&midnight).earliest() {
        Some(at) => at.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(midnight + Duration::hours(1)))
            .earliest()
            .map_or_else(|| midnight.and_utc(), |at| at.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::schedule::Tuning;

    #[test]
    fn the_readme_states_the_floor() {
        let t = Tuning::DEFAULT;
        crate::readme_claims::assert_readme_says(&[
            format!(
                "first retry comes within {} days of the failure",
                t.first_retry_days
            ),
            format!("a floor: {} tries spread evenly", t.spread_tries),
        ]);
    }
}
