use chrono::{NaiveDate, Timelike};

use super::*;
use crate::domain::decline::classify;
use crate::domain::events::DeclineDetails;
use crate::domain::networks::{Network, violation};
use crate::domain::paydays::is_business_day;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn classified(code: &str) -> Classification {
    classify(&DeclineDetails {
        code: Some("card_declined".into()),
        decline_code: Some(code.into()),
        ..Default::default()
    })
}

const NY: Tz = chrono_tz::America::New_York;

struct Case<'a> {
    code: &'a str,
    attempts: Vec<PastAttempt>,
    now: &'a str,
    paid: Vec<DateTime<Utc>>,
    country: Option<&'a str>,
    tz: Tz,
}

impl Case<'_> {
    fn plan(&self) -> NextRetry {
        self.plan_at(utc(self.now))
    }

    fn plan_at(&self, now: DateTime<Utc>) -> NextRetry {
        self.plan_with(now, Tuning::DEFAULT)
    }

    fn plan_with(&self, now: DateTime<Utc>, tuning: Tuning) -> NextRetry {
        let mut policy = Policy::default();
        policy.retries.tuning = tuning;
        let latest = classified(self.code);
        next_retry(&PlanInput {
            case_key: "case_1",
            first_failed_at: self.attempts.first().map_or(now, |a| a.at),
            now,
            attempts: &self.attempts,
            retries_made: self.attempts.len().saturating_sub(1) as u32,
            latest: &latest,
            timezone: self.tz,
            country: self.country,
            paid_at: &self.paid,
            policy: &policy,
            learned: None,
            card_elsewhere: &[],
        })
    }
}

fn failed(at: &str, category: DeclineCategory) -> Vec<PastAttempt> {
    vec![PastAttempt {
        at: utc(at),
        category,
    }]
}

fn at(next: &NextRetry) -> DateTime<Utc> {
    match next {
        NextRetry::At { at, .. } => *at,
        other => panic!("no retry planned: {other:?}"),
    }
}

fn reason(next: &NextRetry) -> &str {
    match next {
        NextRetry::At { reason, .. }
        | NextRetry::NoMore { reason }
        | NextRetry::WaitForCustomer { reason }
        | NextRetry::WaitForNewPaymentMethod { reason } => reason,
    }
}

/// The case's retries, each declined again as funds, until the plan
/// stops: (local date, reason) of each.
fn walk(mut case: Case<'_>) -> Vec<(NaiveDate, String)> {
    let mut tries = Vec::new();
    let mut now = utc(case.now);
    for _ in 0..20 {
        let NextRetry::At { at, reason } = case.plan_at(now) else {
            break;
        };
        tries.push((at.with_timezone(&case.tz).date_naive(), reason));
        case.attempts.push(PastAttempt {
            at,
            category: DeclineCategory::Funds,
        });
        now = at;
    }
    tries
}

#[test]
fn hard_declines_wait_for_a_new_card() {
    let mut case = Case {
        code: "expired_card",
        attempts: failed("2026-03-03T10:00:00Z", DeclineCategory::Hard),
        now: "2026-03-03T10:00:00Z",
        paid: vec![],
        country: None,
        tz: Tz::UTC,
    };
    assert!(matches!(
        case.plan(),
        NextRetry::WaitForNewPaymentMethod { .. }
    ));
    case.code = "authentication_required";
    assert!(matches!(case.plan(), NextRetry::WaitForCustomer { .. }));
}

#[test]
fn funds_declines_aim_at_the_countrys_paydays_in_the_local_morning() {
    // Tuesday 3 March 2026 in New York: most US earners are paid on Fridays.
    let case = Case {
        code: "insufficient_funds",
        attempts: failed("2026-03-03T15:00:00Z", DeclineCategory::Funds),
        now: "2026-03-03T15:00:00Z",
        paid: vec![],
        country: Some("US"),
        tz: NY,
    };
    let next = case.plan();
    let when = at(&next).with_timezone(&NY);
    assert_eq!(when.date_naive(), date(2026, 3, 6));
    assert!((8..11).contains(&when.hour()), "{when}");
    assert!(
        reason(&next).contains("a payday for") && reason(&next).contains("US"),
        "{next:?}"
    );

    // A German failing on the 10th: the month's last business day is
    // three weeks off; the theory may be wrong about this customer, so
    // the first retry comes within four days anyway, the budget spread
    // over the window, and the payday still gets its try.
    let berlin = chrono_tz::Europe::Berlin;
    let case = Case {
        country: Some("DE"),
        tz: berlin,
        attempts: failed("2026-03-10T09:00:00Z", DeclineCategory::Funds),
        now: "2026-03-10T09:00:00Z",
        ..case
    };
    let tries = walk(case);
    assert!(tries[0].0 < date(2026, 3, 14), "{tries:?}");
    assert!(
        tries[0]
            .1
            .contains("the next likely payday, Tue 31 Mar, would be later"),
        "{tries:?}"
    );
    let payday = tries.iter().find(|(d, _)| *d == date(2026, 3, 31));
    assert!(
        payday.is_some_and(|(_, why)| why.contains("a payday for")),
        "{tries:?}"
    );
    assert!(
        tries.len() >= Tuning::DEFAULT.spread_tries as usize,
        "{tries:?}"
    );
}

#[test]
fn a_learned_payday_wins_and_renewals_teach_nothing() {
    let lisbon = chrono_tz::Europe::Lisbon;
    // Two earlier failures were paid on the 25th; renewals on the 10th.
    let paid: Vec<_> = [
        "2025-12-25T09:00:00Z",
        "2026-01-10T09:00:00Z",
        "2026-01-26T09:00:00Z",
        "2026-02-10T09:00:00Z",
    ]
    .iter()
    .map(|s| utc(s))
    .collect();
    let case = Case {
        code: "insufficient_funds",
        attempts: failed("2026-03-10T10:00:00Z", DeclineCategory::Funds),
        now: "2026-03-10T10:00:00Z",
        paid,
        country: Some("PT"),
        tz: lisbon,
    };
    // Tries before it (the budget spread over the window), and one on it.
    let tries = walk(case);
    let own = tries.iter().find(|(d, _)| *d == date(2026, 3, 25));
    assert!(
        own.is_some_and(|(_, why)| why.contains("own payday")),
        "{tries:?}"
    );
}

#[test]
fn never_the_same_local_day_as_the_last_try() {
    // Failed on a Friday morning (a payday): not again that day, nor on
    // the same day as any later try.
    let case = Case {
        code: "insufficient_funds",
        attempts: failed("2026-03-06T14:00:00Z", DeclineCategory::Funds),
        now: "2026-03-06T14:00:00Z",
        paid: vec![],
        country: Some("US"),
        tz: NY,
    };
    let tries = walk(case);
    assert!(tries[0].0 > date(2026, 3, 6), "{tries:?}");
    assert!(tries.windows(2).all(|w| w[0].0 < w[1].0), "{tries:?}");
}

/// The first three retries of a `do_not_honor` failing Tue 3 March 2026
/// in New York, with `tuning`.
fn generic_walk(tuning: Tuning) -> Vec<(NaiveDate, String)> {
    let mut case = Case {
        code: "do_not_honor",
        attempts: failed("2026-03-03T15:00:00Z", DeclineCategory::Transient),
        now: "2026-03-03T15:00:00Z",
        paid: vec![],
        country: Some("US"),
        tz: NY,
    };
    let mut days = Vec::new();
    for _ in 0..3 {
        let next = case.plan_with(utc(case.now), tuning);
        let when = at(&next);
        days.push((
            when.with_timezone(&NY).date_naive(),
            reason(&next).to_owned(),
        ));
        case.attempts.push(PastAttempt {
            at: when,
            category: DeclineCategory::Transient,
        });
    }
    days
}

#[test]
fn generic_declines_go_to_paydays_under_the_default() {
    // A second try within a day rarely pays when the block lasts (the
    // `long-blocks` model): the default aims at the payday at once, Friday
    // 6 March, then spreads the rest.
    let days = generic_walk(Tuning::DEFAULT);
    assert_eq!(days[0].0, date(2026, 3, 6), "{days:?}");
    assert!(days[0].1.contains("funds decline in disguise"), "{days:?}");
    assert!(days.windows(2).all(|w| w[0].0 < w[1].0), "{days:?}");
    assert!(
        !days.iter().any(|d| d.1.contains("short back-off")),
        "{days:?}"
    );
}

#[test]
fn generic_declines_may_get_short_back_offs_then_paydays() {
    let tuning = Tuning {
        generic_short_tries: 2,
        generic_backoff_hours: [4, 12],
        ..Tuning::DEFAULT
    };
    let days = generic_walk(tuning);
    assert_eq!(days[0].0, date(2026, 3, 4), "{days:?}");
    assert!(days[0].1.contains("short back-off (4 h)"), "{days:?}");
    assert_eq!(days[1].0, date(2026, 3, 5), "{days:?}");
    // The third is a payday: Friday 6 March.
    assert_eq!(days[2].0, date(2026, 3, 6), "{days:?}");
    assert!(days[2].1.contains("funds decline in disguise"), "{days:?}");
}

#[test]
fn transient_declines_back_off_from_hours_to_days() {
    let t0 = utc("2026-03-03T07:00:00Z");
    let mut case = Case {
        code: "processing_error",
        attempts: failed("2026-03-03T07:00:00Z", DeclineCategory::Transient),
        now: "2026-03-03T07:00:00Z",
        paid: vec![],
        country: None,
        tz: chrono_tz::Europe::Lisbon,
    };
    let first = at(&case.plan());
    assert!(first - t0 >= Duration::hours(4));
    assert!(first - t0 < Duration::hours(30), "{first}");
    let mut nows = Vec::new();
    for _ in 0..4 {
        let next = at(&case.plan());
        case.attempts.push(PastAttempt {
            at: next,
            category: DeclineCategory::Transient,
        });
        nows.push(next.to_rfc3339());
    }
    let gaps: Vec<_> = case
        .attempts
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .collect();
    assert!(gaps.last().unwrap() >= &Duration::hours(48), "{gaps:?}");
    for a in &case.attempts[1..] {
        let local = a.at.with_timezone(&chrono_tz::Europe::Lisbon);
        assert!(is_business_day(local.date_naive()), "{local}");
    }
}

#[test]
fn nothing_past_the_window_or_the_budget() {
    let mut case = Case {
        code: "insufficient_funds",
        attempts: failed("2026-03-03T15:00:00Z", DeclineCategory::Funds),
        now: "2026-03-24T15:00:00Z",
        paid: vec![],
        country: Some("US"),
        tz: NY,
    };
    // Three weeks later the window (21 days) is over.
    assert!(matches!(case.plan(), NextRetry::NoMore { .. }));
    // A day before its end, with paydays passed untried: one more morning.
    case.now = "2026-03-23T15:00:00Z";
    let next = case.plan();
    assert!(at(&next) < utc("2026-03-24T15:00:00Z"), "{next:?}");
    assert!(
        reason(&next).contains("passed since the last try"),
        "{next:?}"
    );

    let many: Vec<_> = (0..9)
        .map(|i| PastAttempt {
            at: utc("2026-03-03T10:00:00Z") + Duration::hours(i),
            category: DeclineCategory::Transient,
        })
        .collect();
    let case = Case {
        code: "processing_error",
        attempts: many,
        now: "2026-03-04T10:00:00Z",
        country: None,
        ..case
    };
    assert!(matches!(case.plan(), NextRetry::NoMore { .. }));
}

fn plan_with(latest: &Classification, attempts: &[PastAttempt], now: DateTime<Utc>) -> NextRetry {
    let policy = Policy::default();
    next_retry(&PlanInput {
        case_key: "c",
        first_failed_at: attempts[0].at,
        now,
        attempts,
        retries_made: 0,
        latest,
        timezone: Tz::UTC,
        country: None,
        paid_at: &[],
        policy: &policy,
        learned: None,
        card_elsewhere: &[],
    })
}

#[test]
fn mastercard_waits_are_honoured() {
    let mut latest = classified("insufficient_funds");
    latest.retry_after = Some(std::time::Duration::from_secs(10 * 24 * 3600));
    let first = failed("2026-03-03T10:00:00Z", DeclineCategory::Funds);
    let next = plan_with(&latest, &first, first[0].at);
    assert!(at(&next) >= first[0].at + Duration::days(10), "{next:?}");
    assert!(reason(&next).contains("wait 240 h"), "{next:?}");
}

#[test]
fn a_full_card_ledger_blocks_the_slot_and_says_so() {
    // The processor made 14 attempts on this Visa card in the last days:
    // with the failure, 15 in 30 days is the cap.
    let mut latest = classified("processing_error");
    latest.network = Network::Visa;
    let start = utc("2026-03-01T10:00:00Z");
    let attempts: Vec<_> = (0..15)
        .map(|i| PastAttempt {
            at: start + Duration::hours(6 * i),
            category: DeclineCategory::Transient,
        })
        .collect();
    let now = attempts.last().unwrap().at;
    let next = plan_with(&latest, &attempts, now);
    // The window (21 days from the first) closes before the oldest frees.
    assert!(matches!(next, NextRetry::NoMore { .. }), "{next:?}");
    assert!(reason(&next).contains("Visa allows 15"), "{next:?}");
    // A Mastercard allows 35 in 30 days but 10 in 24 hours.
    latest.network = Network::Mastercard;
    let burst: Vec<_> = (0..10)
        .map(|i| PastAttempt {
            at: start + Duration::hours(i),
            category: DeclineCategory::Transient,
        })
        .collect();
    let next = plan_with(&latest, &burst, start + Duration::hours(10));
    assert!(at(&next) >= start + Duration::hours(24), "{next:?}");
}

#[test]
fn refusals_that_forbid_retries_are_never_retried() {
    let mut d = DeclineDetails {
        code: Some("card_declined".into()),
        decline_code: Some("insufficient_funds".into()),
        network_advice_code: Some("21".into()),
        card_brand: Some("mastercard".into()),
        ..Default::default()
    };
    let first = failed("2026-03-03T10:00:00Z", DeclineCategory::Funds);
    let next = plan_with(&classify(&d), &first, first[0].at);
    assert!(matches!(next, NextRetry::WaitForNewPaymentMethod { .. }));
    d.network_advice_code = None;
    d.network_decline_code = Some("14".into());
    d.card_brand = Some("visa".into());
    let next = plan_with(&classify(&d), &first, first[0].at);
    assert!(matches!(next, NextRetry::WaitForNewPaymentMethod { .. }));
}

#[test]
fn learned_outcomes_pull_a_payday_slot_sooner_only_when_they_are_many_and_clear() {
    use crate::domain::learned::{Estimates, Outcome};
    // US, failing Monday 2 March: the plan aims at Friday 6 March. Past
    // funds retries on Wednesday mornings did far better than on Fridays.
    let history = |tries: u32| {
        (0..20).flat_map(move |week| {
            let wednesday = date(2025, 10, 1) + Duration::weeks(week);
            [
                Outcome {
                    category: DeclineCategory::Funds,
                    code: Some("insufficient_funds".into()),
                    local: wednesday.and_hms_opt(9, 0, 0).unwrap(),
                    days_since_failure: 5,
                    hours_since_last: 72,
                    after_payday: true,
                    tries,
                    paid: tries / 2,
                },
                Outcome {
                    category: DeclineCategory::Funds,
                    code: Some("insufficient_funds".into()),
                    local: (wednesday + Duration::days(2))
                        .and_hms_opt(9, 0, 0)
                        .unwrap(),
                    days_since_failure: 5,
                    hours_since_last: 72,
                    after_payday: true,
                    tries,
                    paid: tries / 10,
                },
            ]
        })
    };
    // A budget of two: the spread is sparse, so the plan's first try is
    // the payday.
    let plan = |learned: &Estimates| {
        let mut policy = Policy::default();
        policy.retries.max_attempts = 2;
        let latest = classified("insufficient_funds");
        let attempts = failed("2026-03-02T15:00:00Z", DeclineCategory::Funds);
        next_retry(&PlanInput {
            case_key: "case_1",
            first_failed_at: attempts[0].at,
            now: attempts[0].at,
            attempts: &attempts,
            retries_made: 0,
            latest: &latest,
            timezone: NY,
            country: Some("US"),
            paid_at: &[],
            policy: &policy,
            learned: Some(learned),
            card_elsewhere: &[],
        })
    };
    let rich = Estimates::from_outcomes(history(10));
    let next = plan(&rich);
    assert_eq!(
        at(&next).with_timezone(&NY).date_naive(),
        date(2026, 3, 4),
        "{next:?}"
    );
    assert!(reason(&next).contains("learned from"), "{next:?}");
    assert!(reason(&next).contains("of your past retries"), "{next:?}");
    // One outcome per cell says nothing yet: the payday stands.
    let thin = Estimates::from_outcomes(history(1).take(4));
    assert_eq!(
        at(&plan(&thin)).with_timezone(&NY).date_naive(),
        date(2026, 3, 6)
    );
}

#[test]
fn early_retries_that_paid_bring_the_first_retry_forward_and_say_so() {
    use crate::domain::learned::{Estimates, Outcome};
    // 300 early retries (day 1) paid 4 in 10, 300 later ones 2 in 10.
    let outcome = |day: i64, days_since_failure: u32, paid: u32| Outcome {
        category: DeclineCategory::Funds,
        code: Some("insufficient_funds".into()),
        local: (date(2025, 10, 1) + Duration::days(day))
            .and_hms_opt(9, 0, 0)
            .unwrap(),
        days_since_failure,
        hours_since_last: if days_since_failure < 4 { 30 } else { 150 },
        after_payday: days_since_failure >= 4,
        tries: 10,
        paid,
    };
    let rows = (0..30).flat_map(|d| [outcome(d, 1, 4), outcome(d, 9, 2)]);
    let learned = Estimates::from_outcomes(rows);
    let latest = classified("insufficient_funds");
    let attempts = failed("2026-03-02T15:00:00Z", DeclineCategory::Funds);
    let policy = Policy::default();
    let plan = |learned: Option<&Estimates>| {
        next_retry(&PlanInput {
            case_key: "case_1",
            first_failed_at: attempts[0].at,
            now: attempts[0].at,
            attempts: &attempts,
            retries_made: 0,
            latest: &latest,
            timezone: NY,
            country: Some("US"),
            paid_at: &[],
            policy: &policy,
            learned,
            card_elsewhere: &[],
        })
    };
    // Without: the payday Friday 6 March, inside the four days.
    let without = plan(None);
    assert_eq!(
        at(&without).with_timezone(&NY).date_naive(),
        date(2026, 3, 6)
    );
    let with = plan(Some(&learned));
    assert!(at(&with) < attempts[0].at + Duration::days(2), "{with:?}");
    assert!(
        reason(&with).contains("in the first 3 days after a failure paid 39% of 300")
            && reason(&with).contains("the first retry within 2 days instead of 4"),
        "{with:?}"
    );
    // The second retry is no first retry: the lesson says nothing there.
    let mut after_one = attempts.clone();
    after_one.push(PastAttempt {
        at: at(&with),
        category: DeclineCategory::Funds,
    });
    let second = next_retry(&PlanInput {
        case_key: "case_1",
        first_failed_at: attempts[0].at,
        now: at(&with),
        attempts: &after_one,
        retries_made: 1,
        latest: &latest,
        timezone: NY,
        country: Some("US"),
        paid_at: &[],
        policy: &policy,
        learned: Some(&learned),
        card_elsewhere: &[],
    });
    assert!(
        !reason(&second).contains("first retry within"),
        "{second:?}"
    );
}

proptest::proptest! {
    /// Whatever the history: a planned retry is in the future, inside
    /// the window, within the budget, on a local business-day morning,
    /// a funds retry never on the local day of the last try, never breaks a network
    /// rule (checked by `networks::violation`, independently of the
    /// planner), and a hard or forbidden decline is never retried. Learned
    /// paydays (random earlier payments) only choose among such slots.
    #[test]
    fn planned_retries_obey_every_rule(
        start in 1_700_000_000i64..1_900_000_000,
        gaps_h in proptest::collection::vec(1i64..120, 0..30),
        funds in proptest::collection::vec(proptest::bool::ANY, 30),
        now_after_h in 0i64..600,
        zone in proptest::sample::select(vec![
            chrono_tz::UTC, chrono_tz::Europe::Lisbon, chrono_tz::America::New_York,
            chrono_tz::Asia::Tokyo, chrono_tz::Australia::Sydney, chrono_tz::Pacific::Kiritimati,
        ]),
        country in proptest::option::of(proptest::sample::select(vec!["US", "GB", "DE", "JP", "BR", "AU", "ZZ"])),
        paid_days in proptest::collection::vec(1u32..29, 0..6),
        code in proptest::sample::select(vec![
            "insufficient_funds", "processing_error", "do_not_honor", "generic_decline",
            "expired_card", "authentication_required",
        ]),
        brand in proptest::sample::select(vec!["visa", "mastercard", "amex"]),
        advice in proptest::option::of(proptest::sample::select(vec!["03", "21", "24", "26", "30"])),
        visa_code in proptest::option::of(proptest::sample::select(vec!["14", "41", "51"])),
        history in proptest::collection::vec((0i64..400, 0u32..24, 1u32..60, 0u32..60), 0..40),
    ) {
        // Any learned history at all: it may move a slot, never past a rule.
        let outcomes = history.iter().map(|(day, hour, tries, paid)| crate::domain::learned::Outcome {
            category: if day % 2 == 0 { DeclineCategory::Funds } else { DeclineCategory::Transient },
            code: None,
            local: (NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + Duration::days(*day)).and_hms_opt(*hour, 0, 0).unwrap(),
            days_since_failure: (*day % 40) as u32,
            hours_since_last: (*hour * 31) % 720,
            after_payday: day % 3 == 0,
            tries: *tries,
            paid: (*paid).min(*tries),
        });
        let learned = crate::domain::learned::Estimates::from_outcomes(outcomes);
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
        let latest = classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some(code.into()),
            card_brand: Some(brand.into()),
            network_advice_code: advice.map(str::to_owned),
            network_decline_code: visa_code.map(str::to_owned),
            ..Default::default()
        });
        let retries_made = (attempts.len() - 1) as u32;
        let input = PlanInput {
            case_key: "case_prop",
            first_failed_at: first,
            now,
            attempts: &attempts,
            retries_made,
            latest: &latest,
            timezone: zone,
            country,
            paid_at: &paid,
            policy: &policy,
            learned: Some(&learned),
            card_elsewhere: &[],
        };
        let next = next_retry(&input);
        let unlearned = next_retry(&PlanInput { learned: None, ..input.clone() });
        if let (NextRetry::At { at, .. }, NextRetry::At { at: planned, .. }) = (&next, &unlearned) {
            proptest::prop_assert!(at <= planned, "learned data only pulls a slot sooner");
        } else {
            proptest::prop_assert_eq!(
                std::mem::discriminant(&next),
                std::mem::discriminant(&unlearned),
                "learned data never decides whether to retry"
            );
        }
        if let NextRetry::At { at, .. } = next {
            proptest::prop_assert!(latest.category.retryable() && !latest.network_forbids_retry);
            proptest::prop_assert!(at >= now);
            proptest::prop_assert!(at >= attempts.last().unwrap().at);
            proptest::prop_assert!(at < first + Duration::days(21));
            proptest::prop_assert!(retries_made < policy.retries.max_attempts);
            let local = at.with_timezone(&zone);
            proptest::prop_assert!(is_business_day(local.date_naive()), "{local}");
            proptest::prop_assert!((7..12).contains(&local.hour()), "{local}");
            if latest.category == DeclineCategory::Funds {
                // A funds retry never lands on the local day of the last try.
                let last = attempts.last().unwrap();
                proptest::prop_assert_ne!(last.at.with_timezone(&zone).date_naive(), local.date_naive());
            }
            let ledger: Vec<_> = attempts.iter().map(|a| a.at).collect();
            let broken = violation(
                &policy.networks,
                &Ledger { network: latest.network, attempts: &ledger },
                Some(&latest),
                at,
            );
            proptest::prop_assert!(broken.is_none(), "{broken:?}");
            let in_30_days = attempts.iter().filter(|a| a.at > at - Duration::days(30)).count();
            proptest::prop_assert!(in_30_days < policy.retries.max_per_card_30_days as usize);
        } else if latest.category.retryable() && !latest.network_forbids_retry {
            // Not retrying a retryable decline always says why.
            proptest::prop_assert!(!reason(&next).is_empty());
        }
        // Whatever the learned payday, may_retry_now agrees with the caps.
        if may_retry_now(&input).is_ok() {
            let ledger: Vec<_> = attempts.iter().map(|a| a.at).collect();
            let broken = violation(
                &policy.networks,
                &Ledger { network: latest.network, attempts: &ledger },
                Some(&latest),
                now,
            );
            proptest::prop_assert!(broken.is_none(), "{broken:?}");
        }
    }
}

#[test]
fn the_cards_attempts_for_other_invoices_count_too() {
    // One Mastercard pays two subscriptions: the other invoice's case made
    // nine attempts last evening, this one's failure is the tenth in 24 hours.
    let mut latest = classified("processing_error");
    latest.network = Network::Mastercard;
    let start = utc("2026-03-01T20:00:00Z");
    let elsewhere: Vec<_> = (0..9).map(|i| start + Duration::minutes(30 * i)).collect();
    let attempts = failed("2026-03-02T01:00:00Z", DeclineCategory::Transient);
    let policy = Policy::default();
    let input = PlanInput {
        case_key: "c",
        first_failed_at: attempts[0].at,
        now: attempts[0].at,
        attempts: &attempts,
        retries_made: 0,
        latest: &latest,
        timezone: Tz::UTC,
        country: None,
        paid_at: &[],
        policy: &policy,
        learned: None,
        card_elsewhere: &elsewhere,
    };
    let next = next_retry(&input);
    assert!(at(&next) >= start + Duration::hours(24), "{next:?}");
    assert!(
        reason(&next).contains("10 attempts per card in 24 hours"),
        "{next:?}"
    );
    assert!(may_retry_now(&input).is_err());
    let alone = next_retry(&PlanInput {
        card_elsewhere: &[],
        ..input
    });
    assert!(at(&alone) < start + Duration::hours(24), "{alone:?}");
}

proptest::proptest! {
    /// No early give-up: a soft decline that keeps failing is tried at
    /// least `Tuning::spread_tries` times (or its budget, or the business mornings
    /// the window has), and never ends while its budget allows a try and a
    /// business morning is left, from any date, in any zone and country,
    /// whatever the paydays and whatever the install's history taught; a
    /// funds decline's first retry comes within `Tuning::first_retry_days`.
    #[test]
    fn a_soft_decline_uses_its_budget_while_the_window_lasts(
        start in 1_767_225_600i64..1_830_297_600, // 2026 and 2027
        zone in proptest::sample::select(vec![
            chrono_tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::America::New_York,
            chrono_tz::Asia::Tokyo, chrono_tz::Australia::Sydney, chrono_tz::America::Sao_Paulo,
        ]),
        country in proptest::option::of(proptest::sample::select(vec!["US", "GB", "DE", "JP", "BR", "AU", "ZZ"])),
        code in proptest::sample::select(vec![
            "insufficient_funds", "do_not_honor", "generic_decline", "processing_error",
        ]),
        brand in proptest::sample::select(vec!["visa", "mastercard"]),
        max_attempts in 1u32..=12,
        window_days in 3u32..=30,
        history in proptest::collection::vec((0i64..60, 0u32..720, proptest::bool::ANY, 0u32..=100), 0..12),
    ) {
        // Any history, thin or rich (up to 100 outcomes per row): lessons
        // may add tries or bring one forward, never take one away.
        let learned = crate::domain::learned::Estimates::from_outcomes(history.iter().enumerate().map(
            |(i, (days, gap, payday, paid))| crate::domain::learned::Outcome {
                category: if i % 2 == 0 { DeclineCategory::Funds } else { DeclineCategory::Transient },
                code: Some(if i % 2 == 0 { "insufficient_funds" } else { "do_not_honor" }.into()),
                local: (NaiveDate::from_ymd_opt(2025, 6, 1).unwrap() + Duration::days(*days * 3))
                    .and_hms_opt(9, 0, 0)
                    .unwrap(),
                days_since_failure: *days as u32,
                hours_since_last: *gap,
                after_payday: *payday,
                tries: 100,
                paid: *paid,
            },
        ));
        let mut policy = Policy::default();
        policy.retries.max_attempts = max_attempts;
        policy.retries.window_days = window_days;
        policy.final_.day = policy.final_.day.max(window_days);
        let latest = classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some(code.into()),
            card_brand: Some(brand.into()),
            ..Default::default()
        });
        let first = DateTime::from_timestamp(start, 0).unwrap();
        let window_end = first + Duration::days(i64::from(window_days));
        let mut attempts = vec![PastAttempt { at: first, category: latest.category }];
        let mut now = first;
        let mut ended = None;
        let mut reasons = Vec::new();
        while attempts.len() <= 20 {
            let input = PlanInput {
                case_key: "case_walk",
                first_failed_at: first,
                now,
                attempts: &attempts,
                retries_made: (attempts.len() - 1) as u32,
                latest: &latest,
                timezone: zone,
                country,
                paid_at: &[],
                policy: &policy,
                learned: Some(&learned),
                card_elsewhere: &[],
            };
            match next_retry(&input) {
                NextRetry::At { at, reason } => {
                    proptest::prop_assert!(at < window_end && at >= now);
                    attempts.push(PastAttempt { at, category: latest.category });
                    reasons.push(reason);
                    now = at;
                }
                other => {
                    ended = Some(other);
                    break;
                }
            }
        }
        let tries = attempts.len() - 1;
        // Business days strictly after the failure's local day and before
        // the window's last local day: each has a morning inside the window.
        let first_day = first.with_timezone(&zone).date_naive();
        let last_day = window_end.with_timezone(&zone).date_naive();
        let inside = first_day
            .iter_days()
            .skip(1)
            .take_while(|d| *d < last_day)
            .filter(|d| is_business_day(*d))
            .count();
        let can = (max_attempts.min(Tuning::DEFAULT.spread_tries) as usize).min(inside);
        // Never ended while the budget allows a try and a business morning
        // is left after the last try's day.
        let last_try_day = attempts.last().unwrap().at.with_timezone(&zone).date_naive();
        let morning_left = last_try_day
            .iter_days()
            .skip(1)
            .take_while(|d| *d < last_day)
            .any(is_business_day);
        proptest::prop_assert!(
            tries >= max_attempts as usize || !morning_left,
            "ended early after {tries} tries: {ended:?}; why {reasons:#?}"
        );
        proptest::prop_assert!(
            tries >= can,
            "{tries} tries of {can} possible; ended {ended:?}; tries {:?}; why {reasons:#?}",
            attempts.iter().map(|a| a.at.with_timezone(&zone).to_string()).collect::<Vec<_>>()
        );
        if latest.category == DeclineCategory::Funds && can > 0 {
            let deadline = first + Duration::days(Tuning::DEFAULT.first_retry_days);
            let morning_before = first_day
                .iter_days()
                .skip(1)
                .take_while(|d| *d < deadline.with_timezone(&zone).date_naive())
                .any(is_business_day);
            if morning_before {
                proptest::prop_assert!(attempts[1].at < deadline, "first retry {}", attempts[1].at);
            }
        }
    }
}
