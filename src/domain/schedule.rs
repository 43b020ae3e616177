//! The smart retry planner: when to try the card again, and why. A pure
//! function of the case's history, the latest decline, the customer's time
//! zone and payment history, the policy and `now`.
//!
//! - hard declines (and anything a card network forbids) wait for a new
//!   payment method; authentication waits for the customer;
//! - funds declines aim at the customer's payday: the day of month their
//!   past payments cluster on, else the 1st, the 15th and the last business
//!   day; never the same local day as the last funds decline;
//! - transient declines back off from hours to days;
//! - every attempt lands in the customer's local morning on a business day,
//!   spread by a per-case jitter, and never past the window, the final
//!   action, `max_attempts` or the networks' 30-day cap.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::decline::{Classification, DeclineCategory};
use super::policy::Policy;

/// One charge attempt already made on the current payment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PastAttempt {
    pub at: DateTime<Utc>,
    pub category: DeclineCategory,
}

#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// Stable per case: seeds the jitter.
    pub case_key: &'a str,
    pub first_failed_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Attempts on the current payment method, oldest first (the failure
    /// that opened the case included).
    pub attempts: &'a [PastAttempt],
    /// Our own retries so far (counts against `max_attempts`).
    pub retries_made: u32,
    pub latest: &'a Classification,
    pub timezone: Tz,
    /// The customer's earlier successful payments.
    pub paid_at: &'a [DateTime<Utc>],
    pub policy: &'a Policy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextRetry {
    At {
        at: DateTime<Utc>,
        reason: String,
    },
    WaitForNewPaymentMethod {
        reason: String,
    },
    WaitForCustomer {
        reason: String,
    },
    /// No retry fits: budget, window or network cap exhausted.
    NoMore {
        reason: String,
    },
}

/// Local mornings: attempts start between these hours (jittered).
const MORNING_START_HOUR: u32 = 8;
const MORNING_SPREAD_MINUTES: u64 = 150;
/// Gaps after a transient decline, by how many transient declines so far.
const TRANSIENT_BACKOFF_HOURS: [i64; 5] = [4, 12, 24, 48, 72];

fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

fn is_business_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn next_business_day_on_or_after(mut date: NaiveDate) -> NaiveDate {
    while !is_business_day(date) {
        date = date.succ_opt().expect("dates far from the end of time");
    }
    date
}

fn last_day_of_month(year: i32, month: u32) -> NaiveDate {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    first_next.and_then(|d| d.pred_opt()).expect("valid month")
}

fn last_business_day(year: i32, month: u32) -> NaiveDate {
    let mut date = last_day_of_month(year, month);
    while !is_business_day(date) {
        date = date.pred_opt().expect("valid date");
    }
    date
}

/// FNV-1a: a stable hash, the same on every machine and release.
fn stable_hash(text: &str, salt: u32) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes().chain(salt.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The learned payday (day of month), when the customer's payments cluster.
pub fn learned_payday(paid_at: &[DateTime<Utc>], tz: Tz) -> Option<u32> {
    let mut counts = [0u32; 32];
    for at in paid_at {
        counts[local_date(*at, tz).day() as usize] += 1;
    }
    // A day counts with its neighbours: salaries move by a day or two
    // around weekends.
    let score = |d: usize| counts[d] * 2 + counts.get(d + 1).copied().unwrap_or(0) + counts[d - 1];
    let best = (1..=31).max_by_key(|&d| (score(d), std::cmp::Reverse(d)))?;
    (counts[best] >= 2).then_some(best as u32)
}

/// Candidate payday dates in the month of `date`, in order.
fn paydays_in_month(year: i32, month: u32, learned: Option<u32>) -> Vec<NaiveDate> {
    let last = last_day_of_month(year, month).day();
    let mut days = match learned {
        Some(day) => vec![next_business_day_on_or_after(
            NaiveDate::from_ymd_opt(year, month, day.min(last)).expect("clamped day"),
        )],
        None => vec![
            next_business_day_on_or_after(NaiveDate::from_ymd_opt(year, month, 1).expect("1st")),
            next_business_day_on_or_after(NaiveDate::from_ymd_opt(year, month, 15).expect("15th")),
            last_business_day(year, month),
        ],
    };
    days.sort();
    days.dedup();
    days
}

/// The first payday on or after `from`.
fn next_payday(from: NaiveDate, learned: Option<u32>) -> NaiveDate {
    let (mut year, mut month) = (from.year(), from.month());
    loop {
        if let Some(day) = paydays_in_month(year, month, learned)
            .into_iter()
            .find(|d| *d >= from)
        {
            return day;
        }
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
}

/// The jittered local morning of `date` as a UTC instant.
pub fn local_morning(date: NaiveDate, tz: Tz, case_key: &str, salt: u32) -> DateTime<Utc> {
    let minutes = stable_hash(case_key, salt) % MORNING_SPREAD_MINUTES;
    let start = NaiveTime::from_hms_opt(MORNING_START_HOUR, 0, 0).expect("valid time")
        + Duration::minutes(minutes as i64);
    let local = date.and_time(start);
    // A DST gap has no such local time; take the instant just after it.
    tz.from_local_datetime(&local)
        .earliest()
        .unwrap_or_else(|| tz.from_utc_datetime(&(local - Duration::hours(1))))
        .with_timezone(&Utc)
}

/// When the policy's email of stage `day` goes out: the day-0 email with
/// the failure, later ones in the customer's local morning of that day.
pub fn stage_email_at(failed_at: DateTime<Utc>, day: u32, tz: Tz, case_key: &str) -> DateTime<Utc> {
    if day == 0 {
        return failed_at;
    }
    let date = (failed_at + Duration::days(i64::from(day)))
        .with_timezone(&tz)
        .date_naive();
    local_morning(date, tz, case_key, 1000 + day)
}

/// The first jittered business-day morning at or after `earliest`.
fn first_morning_at_or_after(
    earliest: DateTime<Utc>,
    tz: Tz,
    case_key: &str,
    salt: u32,
) -> DateTime<Utc> {
    let mut date = next_business_day_on_or_after(local_date(earliest, tz));
    loop {
        let at = local_morning(date, tz, case_key, salt);
        if at >= earliest {
            return at;
        }
        date = next_business_day_on_or_after(date.succ_opt().expect("valid date"));
    }
}

/// Whether a charge right now obeys every rule: the decline allows another
/// try on this card, the policy's budget is not spent, the network's wait
/// is over and its 30-day cap not reached. If not, why.
pub fn may_retry_now(input: &PlanInput<'_>) -> Result<(), String> {
    let policy = input.policy;
    let latest = input.latest;
    if !latest.category.retryable() || latest.network_forbids_retry {
        return Err(format!(
            "{}: the payment method must change first",
            latest.reason
        ));
    }
    if input.retries_made >= policy.retries.max_attempts {
        return Err(format!(
            "all {} retries allowed by the policy were made",
            policy.retries.max_attempts
        ));
    }
    let last = input
        .attempts
        .last()
        .map_or(input.first_failed_at, |a| a.at);
    if let Some(wait) = latest.retry_after {
        if last + Duration::seconds(wait.as_secs() as i64) > input.now {
            return Err("the card network asked to wait before the next attempt".into());
        }
    }
    let month_ago = input.now - Duration::days(30);
    let recent = input.attempts.iter().filter(|a| a.at > month_ago).count();
    let cap = policy.retries.max_per_card_30_days as usize;
    if recent >= cap {
        return Err(format!(
            "{cap} attempts on this card in 30 days is the network limit"
        ));
    }
    Ok(())
}

pub fn next_retry(input: &PlanInput<'_>) -> NextRetry {
    let policy = input.policy;
    let latest = input.latest;
    match latest.category {
        DeclineCategory::Hard => {
            return NextRetry::WaitForNewPaymentMethod {
                reason: format!(
                    "{}: no retry until the payment method changes",
                    latest.reason
                ),
            };
        }
        DeclineCategory::CustomerAction => {
            return NextRetry::WaitForCustomer {
                reason: format!(
                    "{}: the customer must authenticate the payment",
                    latest.reason
                ),
            };
        }
        DeclineCategory::Funds | DeclineCategory::Transient => {}
    }
    if input.retries_made >= policy.retries.max_attempts {
        return NextRetry::NoMore {
            reason: format!(
                "all {} retries allowed by the policy were made",
                policy.retries.max_attempts
            ),
        };
    }
    let window_end = input.first_failed_at
        + Duration::days(i64::from(policy.retries.window_days.min(policy.final_.day)));
    let last = input
        .attempts
        .last()
        .map_or(input.first_failed_at, |a| a.at);
    let mut earliest = input.now.max(last);
    let mut why: Vec<String> = Vec::new();

    if let Some(wait) = latest.retry_after {
        let after = last + Duration::seconds(wait.as_secs() as i64);
        if after > earliest {
            earliest = after;
            why.push(format!(
                "the network asked to wait {} h",
                wait.as_secs() / 3600
            ));
        }
    }

    // Card networks: at most N attempts on one card in any 30 days.
    let cap = policy.retries.max_per_card_30_days as usize;
    if input.attempts.len() >= cap {
        let oldest_in_window = input.attempts[input.attempts.len() - cap].at;
        let frees_at = oldest_in_window + Duration::days(30);
        if frees_at > earliest {
            earliest = frees_at;
            why.push(format!(
                "{cap} attempts on this card in 30 days is the network limit"
            ));
        }
    }

    let salt = input.retries_made + 1;
    let tz = input.timezone;
    let at = match latest.category {
        DeclineCategory::Funds => {
            let learned = learned_payday(input.paid_at, tz);
            let last_funds_day = input
                .attempts
                .iter()
                .rev()
                .find(|a| a.category == DeclineCategory::Funds)
                .map(|a| local_date(a.at, tz));
            let mut from = local_date(earliest, tz);
            if let Some(day) = last_funds_day.filter(|d| *d >= from) {
                from = day.succ_opt().expect("valid date");
            }
            let payday_slot = |learned: Option<u32>| {
                let payday = next_payday(from, learned);
                let at = local_morning(payday, tz, input.case_key, salt);
                if at >= earliest {
                    at
                } else {
                    let later = next_payday(payday.succ_opt().expect("valid date"), learned);
                    local_morning(later, tz, input.case_key, salt)
                }
            };
            let learned_slot = learned.map(|day| (day, payday_slot(Some(day))));
            match learned_slot {
                Some((day, at)) if at < window_end => {
                    why.push(format!(
                        "funds decline: the customer's payments cluster on day {day} of the month"
                    ));
                    at
                }
                _ => {
                    let at = payday_slot(None);
                    if at < window_end {
                        why.push(match learned {
                            Some(day) => format!(
                                "funds decline: the customer's usual payday (day {day}) is past the window, so a common payday (1st, 15th or last business day)"
                            ),
                            None => "funds decline: aiming at a common payday (1st, 15th or last business day)".into(),
                        });
                        at
                    } else {
                        // No payday left in the window: one more try on a
                        // later morning is better than none.
                        let after = earliest.max(last + Duration::days(2));
                        why.push(
                            "funds decline: no payday left in the window; a later morning instead"
                                .into(),
                        );
                        let next_day = local_date(after, tz);
                        let next_day = if Some(next_day) == last_funds_day {
                            next_day.succ_opt().expect("valid date")
                        } else {
                            next_day
                        };
                        first_morning_at_or_after(
                            after.max(local_morning(next_day, tz, input.case_key, salt)),
                            tz,
                            input.case_key,
                            salt,
                        )
                    }
                }
            }
        }
        _ => {
            let transient_so_far = input
                .attempts
                .iter()
                .filter(|a| a.category == DeclineCategory::Transient)
                .count()
                .max(1);
            let hours = TRANSIENT_BACKOFF_HOURS
                [(transient_so_far - 1).min(TRANSIENT_BACKOFF_HOURS.len() - 1)];
            earliest = earliest.max(last + Duration::hours(hours));
            why.push(format!("transient decline: backing off {hours} h"));
            first_morning_at_or_after(earliest, tz, input.case_key, salt)
        }
    };
    if at >= window_end {
        return NextRetry::NoMore {
            reason: format!(
                "the next good slot ({}) falls after the retry window ends",
                at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
            ),
        };
    }
    why.push(format!(
        "in the customer's local morning ({})",
        at.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z")
    ));
    NextRetry::At {
        at,
        reason: why.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decline::classify;
    use crate::domain::events::DeclineDetails;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn classified(code: &str) -> Classification {
        classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some(code.into()),
            ..Default::default()
        })
    }

    fn plan(code: &str, attempts: &[PastAttempt], now: &str, paid: &[DateTime<Utc>]) -> NextRetry {
        let policy = Policy::default();
        let latest = classified(code);
        next_retry(&PlanInput {
            case_key: "case_1",
            first_failed_at: attempts.first().map_or(utc(now), |a| a.at),
            now: utc(now),
            attempts,
            retries_made: attempts.len().saturating_sub(1) as u32,
            latest: &latest,
            timezone: chrono_tz::Europe::Lisbon,
            paid_at: paid,
            policy: &policy,
        })
    }

    fn at(next: &NextRetry) -> DateTime<Utc> {
        match next {
            NextRetry::At { at, .. } => *at,
            other => panic!("no retry planned: {other:?}"),
        }
    }

    #[test]
    fn hard_declines_wait_for_a_new_card() {
        let first = [PastAttempt {
            at: utc("2026-03-03T10:00:00Z"),
            category: DeclineCategory::Hard,
        }];
        assert!(matches!(
            plan("expired_card", &first, "2026-03-03T10:00:00Z", &[]),
            NextRetry::WaitForNewPaymentMethod { .. }
        ));
        assert!(matches!(
            plan(
                "authentication_required",
                &first,
                "2026-03-03T10:00:00Z",
                &[]
            ),
            NextRetry::WaitForCustomer { .. }
        ));
    }

    #[test]
    fn funds_declines_aim_at_a_payday_in_the_local_morning() {
        // Tuesday 3 March 2026; defaults: 15th is a Sunday -> Monday 16th.
        let first = [PastAttempt {
            at: utc("2026-03-03T10:00:00Z"),
            category: DeclineCategory::Funds,
        }];
        let next = plan("insufficient_funds", &first, "2026-03-03T10:00:00Z", &[]);
        let when = at(&next).with_timezone(&chrono_tz::Europe::Lisbon);
        assert_eq!(
            when.date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 16).unwrap()
        );
        assert!((8..11).contains(&when.hour_of_day()), "{when}");
        let NextRetry::At { reason, .. } = next else {
            unreachable!()
        };
        assert!(reason.contains("payday"), "{reason}");
    }

    #[test]
    fn a_learned_payday_wins_when_it_fits_the_window() {
        let paid: Vec<_> = [
            "2025-12-25T09:00:00Z",
            "2026-01-26T09:00:00Z",
            "2026-02-25T09:00:00Z",
        ]
        .iter()
        .map(|s| utc(s))
        .collect();
        assert_eq!(learned_payday(&paid, chrono_tz::Europe::Lisbon), Some(25));
        let first = [PastAttempt {
            at: utc("2026-03-10T10:00:00Z"),
            category: DeclineCategory::Funds,
        }];
        let next = plan("insufficient_funds", &first, "2026-03-10T10:00:00Z", &paid);
        let when = at(&next).with_timezone(&chrono_tz::Europe::Lisbon);
        assert_eq!(
            when.date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 25).unwrap()
        );
        let NextRetry::At { reason, .. } = next else {
            unreachable!()
        };
        assert!(reason.contains("day 25"), "{reason}");

        // Failing on the 3rd, the 25th is past the 21-day window: a common payday instead.
        let first = [PastAttempt {
            at: utc("2026-03-03T10:00:00Z"),
            category: DeclineCategory::Funds,
        }];
        let next = plan("insufficient_funds", &first, "2026-03-03T10:00:00Z", &paid);
        let when = at(&next).with_timezone(&chrono_tz::Europe::Lisbon);
        assert_eq!(
            when.date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 16).unwrap()
        );
        let NextRetry::At { reason, .. } = next else {
            unreachable!()
        };
        assert!(reason.contains("past the window"), "{reason}");
    }

    #[test]
    fn never_the_same_local_day_as_the_last_funds_decline() {
        // Failed on payday itself (Monday 16 March): next is the month's last business day.
        let first = [PastAttempt {
            at: utc("2026-03-16T09:00:00Z"),
            category: DeclineCategory::Funds,
        }];
        let next = at(&plan(
            "insufficient_funds",
            &first,
            "2026-03-16T09:00:00Z",
            &[],
        ));
        assert_eq!(
            next.with_timezone(&chrono_tz::Europe::Lisbon).date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()
        );
    }

    #[test]
    fn transient_declines_back_off_from_hours_to_days() {
        let t0 = utc("2026-03-03T07:00:00Z");
        let mut attempts = vec![PastAttempt {
            at: t0,
            category: DeclineCategory::Transient,
        }];
        let first = at(&plan(
            "processing_error",
            &attempts,
            "2026-03-03T07:00:00Z",
            &[],
        ));
        assert!(first - t0 >= Duration::hours(4));
        assert!(first - t0 < Duration::hours(30), "{first}");
        for _ in 0..3 {
            let last = attempts.last().unwrap().at;
            attempts.push(PastAttempt {
                at: at(&plan(
                    "processing_error",
                    &attempts,
                    &last.to_rfc3339(),
                    &[],
                )),
                category: DeclineCategory::Transient,
            });
        }
        let gaps: Vec<_> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps.last().unwrap() >= &Duration::hours(48), "{gaps:?}");
        for a in &attempts[1..] {
            let local = a.at.with_timezone(&chrono_tz::Europe::Lisbon);
            assert!(is_business_day(local.date_naive()), "{local}");
        }
    }

    #[test]
    fn nothing_past_the_window_or_the_budget() {
        let first = [PastAttempt {
            at: utc("2026-03-03T10:00:00Z"),
            category: DeclineCategory::Funds,
        }];
        // Three weeks later the window (21 days) is over.
        let next = plan("insufficient_funds", &first, "2026-03-24T10:00:00Z", &[]);
        assert!(matches!(next, NextRetry::NoMore { .. }), "{next:?}");
        // A day before its end, one more morning still fits.
        let next = plan("insufficient_funds", &first, "2026-03-23T10:00:00Z", &[]);
        assert!(at(&next) < utc("2026-03-24T10:00:00Z"), "{next:?}");
        let many: Vec<_> = (0..9)
            .map(|i| PastAttempt {
                at: utc("2026-03-03T10:00:00Z") + Duration::hours(i),
                category: DeclineCategory::Transient,
            })
            .collect();
        let next = plan("processing_error", &many, "2026-03-04T10:00:00Z", &[]);
        assert!(matches!(next, NextRetry::NoMore { .. }), "{next:?}");
    }

    #[test]
    fn mastercard_waits_are_honoured() {
        let mut latest = classified("insufficient_funds");
        latest.retry_after = Some(std::time::Duration::from_secs(10 * 24 * 3600));
        let policy = Policy::default();
        let first = [PastAttempt {
            at: utc("2026-03-03T10:00:00Z"),
            category: DeclineCategory::Funds,
        }];
        let next = next_retry(&PlanInput {
            case_key: "c",
            first_failed_at: first[0].at,
            now: first[0].at,
            attempts: &first,
            retries_made: 0,
            latest: &latest,
            timezone: Tz::UTC,
            paid_at: &[],
            policy: &policy,
        });
        assert!(at(&next) >= first[0].at + Duration::days(10), "{next:?}");
    }

    trait HourOfDay {
        fn hour_of_day(&self) -> u32;
    }
    impl<T: chrono::Timelike> HourOfDay for T {
        fn hour_of_day(&self) -> u32 {
            self.hour()
        }
    }

    proptest::proptest! {
        /// Whatever the history: a planned retry is in the future, inside
        /// the window, within the budget, on a local business-day morning,
        /// never on the local day of the last funds decline, and never
        /// breaks the 30-day card cap.
        #[test]
        fn planned_retries_obey_every_rule(
            start in 1_700_000_000i64..1_900_000_000,
            gaps_h in proptest::collection::vec(1i64..120, 0..12),
            funds in proptest::collection::vec(proptest::bool::ANY, 12),
            now_after_h in 0i64..600,
            zone in proptest::sample::select(vec![
                chrono_tz::UTC, chrono_tz::Europe::Lisbon, chrono_tz::America::New_York,
                chrono_tz::Asia::Tokyo, chrono_tz::Australia::Sydney, chrono_tz::Pacific::Kiritimati,
            ]),
            paid_days in proptest::collection::vec(1u32..29, 0..4),
            latest_funds in proptest::bool::ANY,
        ) {
            let policy = Policy::default();
            let first = DateTime::from_timestamp(start, 0).unwrap();
            let mut attempts = vec![PastAttempt { at: first, category: DeclineCategory::Funds }];
            let mut t = first;
            for (i, gap) in gaps_h.iter().enumerate() {
                t += Duration::hours(*gap);
                let category = if funds[i] { DeclineCategory::Funds } else { DeclineCategory::Transient };
                attempts.push(PastAttempt { at: t, category });
            }
            let now = t + Duration::hours(now_after_h);
            let paid: Vec<_> = paid_days
                .iter()
                .enumerate()
                .filter_map(|(i, d)| NaiveDate::from_ymd_opt(2024, i as u32 + 1, *d))
                .map(|d| d.and_hms_opt(9, 0, 0).unwrap().and_utc())
                .collect();
            let latest = classified(if latest_funds { "insufficient_funds" } else { "processing_error" });
            let retries_made = (attempts.len() - 1) as u32;
            let next = next_retry(&PlanInput {
                case_key: "case_prop",
                first_failed_at: first,
                now,
                attempts: &attempts,
                retries_made,
                latest: &latest,
                timezone: zone,
                paid_at: &paid,
                policy: &policy,
            });
            if let NextRetry::At { at, .. } = next {
                proptest::prop_assert!(at >= now);
                proptest::prop_assert!(at >= *attempts.last().map(|a| &a.at).unwrap());
                proptest::prop_assert!(at < first + Duration::days(21));
                proptest::prop_assert!(retries_made < policy.retries.max_attempts);
                let local = at.with_timezone(&zone);
                proptest::prop_assert!(is_business_day(local.date_naive()), "{local}");
                proptest::prop_assert!((7..12).contains(&local.hour_of_day()), "{local}");
                if latest_funds {
                    let last_funds = attempts.iter().rev().find(|a| a.category == DeclineCategory::Funds).unwrap();
                    proptest::prop_assert_ne!(local_date(last_funds.at, zone), local.date_naive());
                }
                let in_30_days = attempts.iter().filter(|a| a.at > at - Duration::days(30)).count();
                proptest::prop_assert!(in_30_days < policy.retries.max_per_card_30_days as usize);
            }
        }
    }
}
