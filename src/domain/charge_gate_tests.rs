//! The charge gate, as a property: whatever a customer reloads, adds or
//! takes, whatever an operator asks and whatever the processor reports, a
//! case never charges more often than the policy's attempts, the card
//! networks' caps and the minimum gap allow. The engine is played here as
//! it runs: a planned retry charges when due (if the case still waits for
//! that attempt), and its decline goes back to the case.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::case::{Command, Context, EventInput, Input, Track};
use super::decline::{Classification, classify};
use super::events::DeclineDetails;
use super::policy::Policy;
use super::schedule::MIN_GAP;

/// Instants where the calendar turns: month ends, mid-December, the
/// year's end, an ordinary Tuesday.
const STARTS: [&str; 6] = [
    "2026-01-30T22:00:00Z",
    "2026-02-27T10:00:00Z",
    "2026-11-10T15:00:00Z",
    "2026-12-15T12:00:00Z",
    "2026-12-31T23:30:00Z",
    "2027-02-28T08:00:00Z",
];

/// The card the invoice failed on, then the cards a customer may add.
const CARDS: [&str; 4] = ["pm_old", "pm_a", "pm_b", "pm_c"];

fn refused(brand: &str, method: &str) -> Classification {
    Classification {
        method: Some(method.to_owned()),
        ..classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            card_brand: Some(brand.into()),
            ..Default::default()
        })
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// Back from the card page: the processor shows this card.
    PageReturn(usize),
    /// The processor's webhook for a card (each delivery its own id).
    Webhook(usize),
    OperatorRetryNow,
    OfferTaken,
    Wait,
}

fn step() -> impl Strategy<Value = (u32, Step)> {
    let what = prop_oneof![
        (0..CARDS.len()).prop_map(Step::PageReturn),
        (0..CARDS.len()).prop_map(Step::Webhook),
        Just(Step::OperatorRetryNow),
        Just(Step::OfferTaken),
        Just(Step::Wait),
    ];
    // Minutes until the step: reloads in a burst, or days apart.
    let gap = prop_oneof![0u32..3, 0u32..120, 0u32..3000];
    (gap, what)
}

/// Every charge made: (when, on which card).
fn play(
    policy: &Policy,
    brand: &str,
    start: DateTime<Utc>,
    steps: &[(u32, Step)],
) -> Vec<(DateTime<Utc>, &'static str)> {
    let ctx = Context {
        case_key: "case-1",
        timezone: Tz::UTC,
        country: None,
        paid_at: &[],
        policy,
        learned: None,
        card_elsewhere: &[],
        disputed: false,
    };
    let mut track = Track::default();
    let mut card = CARDS[0];
    let mut charges = vec![(start, card)];
    let mut pending: Option<(u32, DateTime<Utc>)> = None;
    let carry_out = |commands: Vec<Command>, pending: &mut Option<(u32, DateTime<Utc>)>| {
        for command in commands {
            match command {
                Command::CancelPendingRetries | Command::CancelPendingWork => *pending = None,
                Command::ScheduleRetry { attempt, at, .. } => *pending = Some((attempt, at)),
                _ => {}
            }
        }
    };
    let opened = track.apply(
        Input::Event {
            id: "evt_charge".into(),
            created: start,
            what: EventInput::Decline(refused(brand, card)),
        },
        start,
        &ctx,
    );
    carry_out(opened, &mut pending);
    let failed = track.apply(
        Input::Event {
            id: "evt_failed".into(),
            created: start,
            what: EventInput::PaymentFailed {
                processor_will_retry: false,
                attempt_count: 1,
            },
        },
        start,
        &ctx,
    );
    carry_out(failed, &mut pending);
    let mut now = start;
    for (i, (minutes, step)) in steps.iter().enumerate() {
        let until = now + Duration::minutes(i64::from(*minutes));
        // Planned retries due meanwhile run, each on its own time.
        while let Some((attempt, at)) = pending.filter(|(_, at)| *at <= until) {
            pending = None;
            now = at.max(now);
            let live = track
                .case
                .as_ref()
                .is_some_and(|c| !c.state.is_terminal() && c.retries_made + 1 == attempt);
            if live {
                charges.push((now, card));
                let input = Input::RetryDeclined {
                    attempt,
                    decline: refused(brand, card),
                };
                let commands = track.apply(input, now, &ctx);
                carry_out(commands, &mut pending);
            }
        }
        now = until;
        let input = match step {
            Step::PageReturn(n) | Step::Webhook(n) => {
                let method = CARDS[*n];
                let id = match step {
                    Step::PageReturn(_) => format!("page:card-updated:1:{method}"),
                    _ => format!("evt_pm_{i}"),
                };
                let before = track.case.as_ref().map(|c| c.methods.clone());
                let input = Input::Event {
                    id,
                    created: now,
                    what: EventInput::NewPaymentMethod {
                        method: Some(method.to_owned()),
                    },
                };
                let commands = track.apply(input, now, &ctx);
                let after = track.case.as_ref().map(|c| c.methods.clone());
                if before != after {
                    card = method;
                }
                carry_out(commands, &mut pending);
                continue;
            }
            Step::OperatorRetryNow => Input::RetryNow {
                reason: "operator".into(),
            },
            Step::OfferTaken => Input::OfferTaken {
                reason: "offer".into(),
            },
            Step::Wait => continue,
        };
        let commands = track.apply(input, now, &ctx);
        carry_out(commands, &mut pending);
    }
    charges
}

/// The most charges on one card within any `window`.
fn most_in(charges: &[(DateTime<Utc>, &str)], window: Duration) -> usize {
    let mut per_card: BTreeMap<&str, Vec<DateTime<Utc>>> = BTreeMap::new();
    for (at, card) in charges {
        per_card.entry(card).or_default().push(*at);
    }
    per_card
        .values()
        .flat_map(|times| {
            times.iter().map(|from| {
                times
                    .iter()
                    .filter(|t| **t >= *from && **t < *from + window)
                    .count()
            })
        })
        .max()
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_sequence_charges_past_the_policy_the_networks_or_the_gap(
        start in proptest::sample::select(STARTS.to_vec()),
        brand in proptest::sample::select(vec!["visa", "mastercard", "amex"]),
        max_attempts in 1u32..30,
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let mut policy = Policy::default();
        policy.retries.max_attempts = max_attempts;
        let start = DateTime::parse_from_rfc3339(start).unwrap().to_utc();
        let charges = play(&policy, brand, start, &steps);
        // The opening failure was the processor's, not one of ours.
        let ours = charges.len() - 1;
        prop_assert!(ours <= max_attempts as usize, "{ours} charges, {max_attempts} allowed: {charges:?}");
        for (i, (at, card)) in charges.iter().enumerate() {
            if let Some((before, _)) = charges[..i].iter().rev().find(|(_, c)| c == card) {
                prop_assert!(*at - *before >= MIN_GAP, "charges of {card} too close: {charges:?}");
            }
        }
        let caps = policy.networks;
        let per_30_days = match brand {
            "visa" => caps.visa_per_30_days,
            "mastercard" => caps.mastercard_per_30_days,
            _ => caps.other_per_30_days,
        };
        prop_assert!(most_in(&charges, Duration::days(30)) <= per_30_days as usize, "{charges:?}");
        if brand == "mastercard" {
            prop_assert!(
                most_in(&charges, Duration::hours(24)) <= caps.mastercard_per_24_hours as usize,
                "{charges:?}"
            );
        }
    }

    /// Reloading the return page, however often, charges at most once per
    /// card the customer really added.
    #[test]
    fn reloads_charge_once_per_new_card(
        reloads in proptest::collection::vec((0u32..5, 1usize..CARDS.len()), 1..60),
    ) {
        let policy = Policy::default();
        let start = DateTime::parse_from_rfc3339(STARTS[2]).unwrap().to_utc();
        let steps: Vec<(u32, Step)> = reloads.iter().map(|(m, card)| (*m, Step::PageReturn(*card))).collect();
        // Enough time afterwards for every planned retry to run.
        let mut all = steps.clone();
        all.push((60, Step::Wait));
        let charges = play(&policy, "visa", start, &all);
        let cards: std::collections::BTreeSet<usize> = reloads.iter().map(|(_, c)| *c).collect();
        prop_assert!(charges.len() - 1 <= cards.len(), "{charges:?} for cards {cards:?}");
        // The card the invoice failed on is never "new".
        prop_assert!(charges.iter().skip(1).all(|(_, card)| *card != CARDS[0]));
    }
}

#[test]
fn the_card_that_failed_is_no_new_card() {
    let policy = Policy::default();
    let start = DateTime::parse_from_rfc3339(STARTS[2]).unwrap().to_utc();
    let reloads: Vec<(u32, Step)> = (0..50).map(|_| (0, Step::PageReturn(0))).collect();
    assert_eq!(play(&policy, "visa", start, &reloads).len(), 1);
    // Fifty loads after adding one new card: one charge, at once.
    let reloads: Vec<(u32, Step)> = (0..50).map(|_| (0, Step::PageReturn(1))).collect();
    let mut then = reloads.clone();
    then.push((1, Step::Wait));
    let charges = play(&policy, "visa", start, &then);
    assert_eq!(charges.len(), 2, "{charges:?}");
    assert_eq!(charges[1], (start, CARDS[1]), "a new card is tried at once");
    // The operator's retry-now on the new card right after: refused until
    // the card's gap has passed.
    let mut more = then.clone();
    more.push((1, Step::OperatorRetryNow));
    more.push((1, Step::Wait));
    assert_eq!(play(&policy, "visa", start, &more).len(), 2);
    more.push((MIN_GAP.num_minutes() as u32, Step::OperatorRetryNow));
    more.push((1, Step::Wait));
    let charges = play(&policy, "visa", start, &more);
    assert_eq!(charges.len(), 3, "{charges:?}");
    assert!(charges[2].0 - charges[1].0 >= MIN_GAP);
}

#[test]
fn an_offer_inside_the_gap_charges_when_the_gap_ends() {
    let policy = Policy::default();
    let start = DateTime::parse_from_rfc3339(STARTS[2]).unwrap().to_utc();
    let steps = [
        (2, Step::OfferTaken),
        (MIN_GAP.num_minutes() as u32, Step::Wait),
    ];
    let charges = play(&policy, "visa", start, &steps);
    assert_eq!(charges.len(), 2, "the offer's retry is kept: {charges:?}");
    assert_eq!(
        charges[1].0,
        start + MIN_GAP,
        "at the gap's end, not before"
    );
}

#[test]
fn the_readme_states_the_gap_the_code_keeps() {
    crate::readme_claims::assert_readme_says(&[format!(
        "at least {} minutes after the card's previous charge",
        MIN_GAP.num_minutes()
    )]);
}
