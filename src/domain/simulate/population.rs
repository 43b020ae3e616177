//! A generated population of failed renewals. Every number here is an
//! assumption, printed by `dunwell simulate` and listed in the README:
//! change them and the verdict may change, which is why `--history`
//! exists (play the policy against your own failed invoices instead).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::Scenario;
use super::customer::{Customer, Truth};
use super::models::{Cycles, Generic, Model};
use super::rng::Rng;
use crate::domain::events::DeclineDetails;
use crate::domain::paydays::PayCycle;

/// The assumptions, one per line, as `dunwell simulate` prints them.
pub const ASSUMPTIONS: &[&str] = &[
    "failures spread evenly over 2026, at any hour; amounts log-normal around 25 USD",
    "countries: US 36%, GB 9%, DE 8%, CA 5%, FR 5%, AU 5%, BR 5%, JP 4%, IN 4%, ES/NL/MX/IT 3% each, SE/PL 2% each, none known 3%; US, CA, AU and BR customers live in any of their zones",
    "pay cycles drawn per customer from the country's norms (US: 43% fortnightly Friday, 30% weekly Friday, 19% 15th and month end, 8% the 1st; most of Europe: month end; JP: the 25th ...), 10% of customers on a cycle foreign to their country",
    "declines: insufficient_funds 40%, do_not_honor 16.5%, generic_decline 13.5%, expired_card 11%, card_velocity_exceeded 3%, processing/issuer errors 5%, other hard 7.5%, authentication_required 3.5%",
    "insufficient_funds: after each payday the balance covers the invoice with 80% (25% of customers: 20%), for about 5 days (exponential), available from 05:00 local; 3% chance on any other day",
    "do_not_honor / generic_decline hide funds (50%), passing issuer trouble (25%, 40% per attempt) or a dead card (25%)",
    "processing and issuer errors pass: 75% per attempt, 30% of that within 2 hours of the last",
    "emails: a dead or blocked card's owner adds a new card after an email with 16% (day 0), 11% (reminders), 21% (final notice); funds-short customers 5% (new card or paying the invoice page); 25% never read emails; a new card is approved 90% of the time",
    "card brands: Visa 55%, Mastercard 35% (US: 33%, Amex 8%, Discover 4%); 40% of Visa dead cards carry a category-1 response, 40% of Mastercard dead cards advice 03/21, 5% of Mastercard soft declines advice 24-30 (wait)",
    "earlier payments: 0-12 renewals on the invoice's day of month; 30% of funds-short customers also paid an earlier failure on their payday",
];

fn country_pick(rng: &mut Rng) -> Option<&'static str> {
    let countries: &[(Option<&str>, f64)] = &[
        (Some("US"), 36.0),
        (Some("GB"), 9.0),
        (Some("DE"), 8.0),
        (Some("CA"), 5.0),
        (Some("FR"), 5.0),
        (Some("AU"), 5.0),
        (Some("BR"), 5.0),
        (Some("JP"), 4.0),
        (Some("IN"), 4.0),
        (Some("ES"), 3.0),
        (Some("NL"), 3.0),
        (Some("MX"), 3.0),
        (Some("IT"), 3.0),
        (Some("SE"), 2.0),
        (Some("PL"), 2.0),
        (None, 3.0),
    ];
    *rng.pick(countries)
}

/// Where the customer really lives: any of a big country's zones.
fn true_zone(country: Option<&str>, rng: &mut Rng) -> Tz {
    use chrono_tz::{America, Australia};
    let zones: &[(Tz, f64)] = match country {
        Some("US") | None => &[
            (America::New_York, 0.47),
            (America::Chicago, 0.29),
            (America::Denver, 0.07),
            (America::Los_Angeles, 0.17),
        ],
        Some("CA") => &[
            (America::Toronto, 0.62),
            (America::Vancouver, 0.14),
            (America::Edmonton, 0.15),
            (America::Halifax, 0.09),
        ],
        Some("AU") => &[
            (Australia::Sydney, 0.58),
            (Australia::Brisbane, 0.2),
            (Australia::Adelaide, 0.08),
            (Australia::Perth, 0.14),
        ],
        Some("BR") => &[(America::Sao_Paulo, 0.9), (America::Manaus, 0.1)],
        Some(other) => {
            return crate::domain::zones::of_country(other).unwrap_or(chrono_tz::UTC);
        }
    };
    *rng.pick(zones)
}

/// Every cycle some country has, for a model that mixes them evenly.
fn every_cycle() -> Vec<(PayCycle, f64)> {
    use crate::domain::paydays::DayRule::{Day, LastBusinessDay};
    let weeks = |weeks, weekday| PayCycle::Weeks {
        weeks,
        weekday,
        phase: 0,
    };
    vec![
        (weeks(1, Weekday::Fri), 1.0),
        (weeks(2, Weekday::Fri), 1.0),
        (weeks(2, Weekday::Thu), 1.0),
        (weeks(4, Weekday::Fri), 1.0),
        (PayCycle::Twice(Day(15), LastBusinessDay), 1.0),
        (PayCycle::Monthly(Day(1)), 1.0),
        (PayCycle::Monthly(Day(15)), 1.0),
        (PayCycle::Monthly(Day(25)), 1.0),
        (PayCycle::Monthly(LastBusinessDay), 1.0),
    ]
}

/// A cycle from `norms`, its phase drawn when it alternates.
fn draw_cycle(norms: &[(PayCycle, f64)], rng: &mut Rng) -> PayCycle {
    match *rng.pick(norms) {
        PayCycle::Weeks { weeks, weekday, .. } => PayCycle::Weeks {
            weeks,
            weekday,
            phase: rng.below(u64::from(weeks)) as u32,
        },
        other => other,
    }
}

/// The customer's pay cycle. A mixed model draws it from a side stream so
/// the main one stays aligned with `today`'s.
fn pay_cycle(country: Option<&str>, cycles: Cycles, rng: &mut Rng, side: Rng) -> PayCycle {
    let country = if rng.chance(0.1) {
        None
    } else {
        country.or(Some("US"))
    };
    let norm = draw_cycle(&crate::domain::paydays::country_norms(country), rng);
    match cycles {
        Cycles::CountryNorms => norm,
        Cycles::Mixed => draw_cycle(&every_cycle(), &mut { side }),
    }
}

struct Code {
    code: &'static str,
    weight: f64,
}

const CODES: &[Code] = &[
    Code {
        code: "insufficient_funds",
        weight: 40.0,
    },
    Code {
        code: "do_not_honor",
        weight: 16.5,
    },
    Code {
        code: "generic_decline",
        weight: 13.5,
    },
    Code {
        code: "expired_card",
        weight: 11.0,
    },
    Code {
        code: "card_velocity_exceeded",
        weight: 3.0,
    },
    Code {
        code: "processing_error",
        weight: 2.0,
    },
    Code {
        code: "issuer_not_available",
        weight: 2.0,
    },
    Code {
        code: "try_again_later",
        weight: 1.0,
    },
    Code {
        code: "incorrect_number",
        weight: 1.0,
    },
    Code {
        code: "incorrect_cvc",
        weight: 1.0,
    },
    Code {
        code: "lost_card",
        weight: 1.0,
    },
    Code {
        code: "stolen_card",
        weight: 1.0,
    },
    Code {
        code: "pickup_card",
        weight: 0.5,
    },
    Code {
        code: "transaction_not_allowed",
        weight: 3.0,
    },
    Code {
        code: "authentication_required",
        weight: 3.5,
    },
];

/// The `index`-th invoice of `model`'s population seeded with `seed`.
/// Models share the draws they do not change: the same seed gives the
/// same invoices, countries, codes and amounts under every model.
pub fn scenario(model: &Model, seed: u64, index: u64) -> Scenario {
    let mut rng = Rng::stream(seed, index);
    let year_start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid");
    let failed_at = year_start + Duration::seconds(rng.below(365 * 86_400) as i64);
    let country = country_pick(&mut rng);
    let tz = true_zone(country, &mut rng);
    let brand = match (country, rng.unit()) {
        (_, x) if x < 0.55 => "visa",
        (Some("US"), x) if x < 0.88 => "mastercard",
        (Some("US"), x) if x < 0.96 => "amex",
        (Some("US"), _) => "discover",
        _ => "mastercard",
    };
    let weights: Vec<(&str, f64)> = CODES.iter().map(|c| (c.code, c.weight)).collect();
    let code = *rng.pick(&weights);
    let side = Rng::stream(seed ^ 0xc1c1e, index);
    let cycle = pay_cycle(country, model.cycles, &mut rng, side);
    let funds = Truth::Funds {
        cycle,
        p_cover: if rng.chance(0.25) { 0.2 } else { 0.8 },
    };
    let truth = match code {
        "insufficient_funds" | "card_velocity_exceeded" => funds,
        "do_not_honor" | "generic_decline" => match model.generic {
            Generic::Today => *rng.pick(&[
                (funds, 0.5),
                (Truth::Passing { p: 0.4 }, 0.25),
                (Truth::Dead, 0.25),
            ]),
            Generic::LongBlocks => {
                // A side stream: the main one stays aligned with `today`'s.
                let days = 1.0 + 3.0 * Rng::stream(seed ^ 0xb10c, index).unit();
                let lasts = Duration::minutes((days * 24.0 * 60.0) as i64);
                let blocked = Truth::Blocked {
                    until: failed_at + lasts,
                    p: 0.7,
                };
                *rng.pick(&[(funds, 0.4), (blocked, 0.45), (Truth::Dead, 0.15)])
            }
        },
        "processing_error" | "issuer_not_available" | "try_again_later" => {
            Truth::Passing { p: 0.75 }
        }
        "authentication_required" => Truth::Authenticate,
        _ => Truth::Dead,
    };
    let mut decline = DeclineDetails {
        code: Some("card_declined".into()),
        decline_code: Some(code.into()),
        card_brand: Some(brand.into()),
        ..Default::default()
    };
    // Side streams for what depends on the truth: the main stream stays
    // aligned across models.
    let mut codes = Rng::stream(seed ^ 0x04e7_c0de, index);
    match (brand, truth) {
        ("visa", Truth::Dead) if codes.chance(0.4) => {
            decline.network_decline_code =
                Some((*codes.pick(&[("14", 1.0), ("41", 1.0), ("43", 1.0), ("R1", 1.0)])).into());
        }
        ("mastercard", Truth::Dead) if codes.chance(0.4) => {
            decline.network_advice_code = Some((*codes.pick(&[("03", 1.0), ("21", 1.0)])).into());
        }
        ("mastercard", Truth::Funds { .. } | Truth::Passing { .. } | Truth::Blocked { .. })
            if codes.chance(0.05) =>
        {
            decline.network_advice_code = Some(format!("{}", 24 + codes.below(7)));
        }
        _ => {}
    }
    let amount_major = rng.log_normal(25.0, 0.9).clamp(1.0, 2000.0);
    let renewals = rng.below(13);
    let mut paid_before: Vec<DateTime<Utc>> = (1..=renewals)
        .filter_map(|m| {
            let date = failed_at.date_naive();
            let month = (date.year() * 12 + date.month0() as i32) - m as i32;
            let day = date.day().min(28);
            NaiveDate::from_ymd_opt(month.div_euclid(12), month.rem_euclid(12) as u32 + 1, day)
                .map(|d| d.and_time(failed_at.time()).and_utc())
        })
        .collect();
    let mut earlier = Rng::stream(seed ^ 0x9a1d, index);
    if matches!(truth, Truth::Funds { .. }) && earlier.chance(0.3) {
        for back in 1..=(1 + earlier.below(2)) {
            let from = failed_at.date_naive() - Duration::days(30 * back as i64 + 10);
            let payday = (0..40)
                .map(|i| from + Duration::days(i))
                .find(|d| cycle.pays_on(*d) && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun));
            if let Some(day) = payday {
                paid_before.push(day.and_hms_opt(14, 0, 0).expect("valid").and_utc());
            }
        }
    }
    paid_before.sort();
    let responsiveness = if rng.chance(0.25) {
        0.0
    } else {
        rng.log_normal(1.0, 0.4) * model.email
    };
    Scenario {
        key: format!("sim_{seed}_{index}"),
        failed_at,
        decline,
        amount_minor: (amount_major * 100.0).round() as i64,
        currency: "usd".into(),
        country: country.map(str::to_owned),
        paid_before,
        customer: Customer {
            truth,
            tz,
            responsiveness,
            seed: rng.next_u64(),
            new_card_approved: 0.9,
            off_payday: model.off_payday,
        },
        scripted: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::simulate::models::{MODELS, TODAY};

    #[test]
    fn a_seed_gives_the_same_population() {
        let a: Vec<_> = (0..50).map(|i| scenario(&TODAY, 7, i)).collect();
        let b: Vec<_> = (0..50).map(|i| scenario(&TODAY, 7, i)).collect();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.failed_at, y.failed_at);
            assert_eq!(x.decline, y.decline);
            assert_eq!(x.customer.truth, y.customer.truth);
            assert_eq!(x.amount_minor, y.amount_minor);
        }
        assert_ne!(scenario(&TODAY, 8, 0).failed_at, a[0].failed_at);
    }

    #[test]
    fn the_mix_matches_the_printed_assumptions() {
        let n = 20_000;
        let all: Vec<_> = (0..n).map(|i| scenario(&TODAY, 1, i)).collect();
        let share =
            |f: &dyn Fn(&Scenario) -> bool| all.iter().filter(|s| f(s)).count() as f64 / n as f64;
        let funds = share(&|s| s.decline.decline_code.as_deref() == Some("insufficient_funds"));
        assert!((0.38..0.42).contains(&funds), "{funds}");
        let us = share(&|s| s.country.as_deref() == Some("US"));
        assert!((0.33..0.39).contains(&us), "{us}");
        let visa = share(&|s| s.decline.card_brand.as_deref() == Some("visa"));
        assert!((0.52..0.58).contains(&visa), "{visa}");
    }

    #[test]
    fn models_share_the_invoices_and_differ_in_what_they_say_they_change() {
        let n = 4_000;
        let today: Vec<_> = (0..n).map(|i| scenario(&TODAY, 3, i)).collect();
        for model in MODELS {
            let other: Vec<_> = (0..n).map(|i| scenario(model, 3, i)).collect();
            for (a, b) in today.iter().zip(&other) {
                assert_eq!(a.failed_at, b.failed_at, "{}", model.name);
                assert_eq!(a.amount_minor, b.amount_minor);
                assert_eq!(a.customer.seed, b.customer.seed);
                assert_eq!(a.decline.decline_code, b.decline.decline_code);
                assert_eq!(a.country, b.country);
                assert_eq!(b.customer.off_payday, model.off_payday);
            }
            let blocked = other
                .iter()
                .filter(|s| matches!(s.customer.truth, Truth::Blocked { .. }))
                .count();
            assert_eq!(blocked > 0, model.generic == Generic::LongBlocks);
            let monthly_last = |all: &[Scenario]| {
                all.iter()
                    .filter(|s| {
                        s.country.as_deref() == Some("DE")
                            && matches!(
                                s.customer.truth,
                                Truth::Funds {
                                    cycle: PayCycle::Monthly(
                                        crate::domain::paydays::DayRule::LastBusinessDay
                                    ),
                                    ..
                                }
                            )
                    })
                    .count()
            };
            // Germans are mostly paid on the month's last business day,
            // unless the model mixes cycles evenly.
            let de_funds = other
                .iter()
                .filter(|s| {
                    s.country.as_deref() == Some("DE")
                        && matches!(s.customer.truth, Truth::Funds { .. })
                })
                .count();
            let share = monthly_last(&other) as f64 / de_funds as f64;
            match model.cycles {
                Cycles::CountryNorms => assert!(share > 0.5, "{} {share}", model.name),
                Cycles::Mixed => assert!(share < 0.25, "{} {share}", model.name),
            }
        }
    }
}
