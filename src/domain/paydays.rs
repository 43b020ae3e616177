//! Pay calendars: on which days people are paid, and the pay cycles that
//! are the norm in a country. The planner aims funds retries at the days
//! a customer is most likely to have been paid; the simulator gives each
//! generated customer one of these calendars. Pure.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// A day of the month a salary lands on; a weekend moves it to the
/// business day before (employers pay early, not late).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayRule {
    Day(u32),
    LastBusinessDay,
    /// The n-th business day (Brazil's "quinto dia útil").
    BusinessDay(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayCycle {
    Monthly(DayRule),
    /// Twice a month (US semi-monthly, Mexico's quincena).
    Twice(DayRule, DayRule),
    /// Every `weeks` weeks on `weekday`; `phase` picks which of the
    /// alternating weeks (0..weeks), counted from 2024-01-01.
    Weeks {
        weeks: u32,
        weekday: Weekday,
        phase: u32,
    },
}

pub fn is_business_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn last_day_of_month(year: i32, month: u32) -> NaiveDate {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    first_next.and_then(|d| d.pred_opt()).expect("valid month")
}

fn business_day_on_or_before(mut date: NaiveDate) -> NaiveDate {
    while !is_business_day(date) {
        date = date.pred_opt().expect("valid date");
    }
    date
}

impl DayRule {
    /// The date this rule pays on in a month.
    pub fn in_month(self, year: i32, month: u32) -> NaiveDate {
        let last = last_day_of_month(year, month);
        match self {
            Self::Day(day) => business_day_on_or_before(
                NaiveDate::from_ymd_opt(year, month, day.clamp(1, last.day())).expect("clamped"),
            ),
            Self::LastBusinessDay => business_day_on_or_before(last),
            Self::BusinessDay(n) => {
                let mut date = NaiveDate::from_ymd_opt(year, month, 1).expect("1st");
                let mut seen = 0;
                loop {
                    if is_business_day(date) {
                        seen += 1;
                        if seen >= n.max(1) {
                            return date;
                        }
                    }
                    date = date.succ_opt().expect("valid date");
                }
            }
        }
    }

    fn pays_on(self, date: NaiveDate) -> bool {
        self.in_month(date.year(), date.month()) == date
    }
}

/// Monday 2024-01-01: week phases count from here.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date")
}

impl PayCycle {
    pub fn pays_on(self, date: NaiveDate) -> bool {
        match self {
            Self::Monthly(rule) => rule.pays_on(date),
            Self::Twice(a, b) => a.pays_on(date) || b.pays_on(date),
            Self::Weeks {
                weeks,
                weekday,
                phase,
            } => {
                let week = (date - epoch()).num_days().div_euclid(7);
                date.weekday() == weekday
                    && week.rem_euclid(i64::from(weeks.max(1))) == i64::from(phase)
            }
        }
    }

    /// The last payday on or before `date` (within the last 62 days).
    pub fn last_on_or_before(self, date: NaiveDate) -> Option<NaiveDate> {
        (0..62)
            .map(|back| date - Duration::days(back))
            .find(|d| self.pays_on(*d))
    }

    /// How sure a customer of this cycle, phase unknown, is paid on
    /// `date`: 1 for a fixed date, 1/weeks for a weekday of a multi-week cycle.
    pub fn likelihood_on(self, date: NaiveDate) -> f64 {
        match self {
            Self::Weeks { weeks, weekday, .. } => {
                if date.weekday() == weekday {
                    1.0 / f64::from(weeks.max(1))
                } else {
                    0.0
                }
            }
            _ => {
                if self.pays_on(date) {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

impl PayCycle {
    /// How sure a customer of this cycle, phase unknown, was paid on some
    /// day after `after` through `through` (62 days at most are looked at).
    pub fn likelihood_between(self, after: NaiveDate, through: NaiveDate) -> f64 {
        let days =
            (1..=(through - after).num_days().clamp(0, 62)).map(|k| after + Duration::days(k));
        match self {
            Self::Weeks { weeks, weekday, .. } => {
                let k = days.filter(|d| d.weekday() == weekday).count() as f64;
                (k / f64::from(weeks.max(1))).min(1.0)
            }
            _ => {
                let mut days = days;
                if days.any(|d| self.pays_on(d)) {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// How likely a customer of the cycles `norms` was paid on some local day
/// after `after` through `through`: the learning's "a payday passed since
/// the last try".
pub fn payday_passed(norms: &[(PayCycle, f64)], after: NaiveDate, through: NaiveDate) -> f64 {
    norms
        .iter()
        .map(|(cycle, share)| share * cycle.likelihood_between(after, through))
        .sum::<f64>()
        .min(1.0)
}

/// The pay cycles common in a country, with the share of earners on each
/// (phase 0; the weekly ones' phase is unknown to anyone but the customer).
/// Rounded from national payroll surveys (US BLS: about 43% biweekly, 30%
/// weekly; UK and most of Europe monthly, near the end of the month; Japan
/// the 25th; Brazil the 5th business day with an advance on the 20th;
/// Mexico the quincena; Australia fortnightly). Elsewhere: the 1st, the
/// 15th and the last business day.
pub fn country_norms(country: Option<&str>) -> Vec<(PayCycle, f64)> {
    use DayRule::{BusinessDay, Day, LastBusinessDay};
    use PayCycle::{Monthly, Twice, Weeks};
    let weeks = |weeks, weekday| Weeks {
        weeks,
        weekday,
        phase: 0,
    };
    let country = country.map(|c| c.trim().to_ascii_uppercase());
    match country.as_deref() {
        Some("US") => vec![
            (weeks(2, Weekday::Fri), 0.43),
            (weeks(1, Weekday::Fri), 0.30),
            (Twice(Day(15), LastBusinessDay), 0.19),
            (Monthly(Day(1)), 0.08),
        ],
        Some("CA") => vec![
            (weeks(2, Weekday::Fri), 0.50),
            (Twice(Day(15), LastBusinessDay), 0.25),
            (weeks(1, Weekday::Fri), 0.10),
            (Monthly(LastBusinessDay), 0.15),
        ],
        Some("GB" | "UK" | "IE") => vec![
            (Monthly(LastBusinessDay), 0.55),
            (Monthly(Day(25)), 0.15),
            (weeks(1, Weekday::Fri), 0.15),
            (weeks(4, Weekday::Fri), 0.15),
        ],
        Some("AU" | "NZ") => vec![
            (weeks(2, Weekday::Thu), 0.55),
            (weeks(1, Weekday::Thu), 0.20),
            (Monthly(Day(15)), 0.25),
        ],
        Some("JP" | "KR") => vec![(Monthly(Day(25)), 0.85), (Monthly(Day(10)), 0.15)],
        Some("BR") => vec![
            (Twice(Day(20), BusinessDay(5)), 0.65),
            (Monthly(BusinessDay(5)), 0.35),
        ],
        Some("MX" | "PH") => vec![
            (Twice(Day(15), LastBusinessDay), 0.8),
            (weeks(1, Weekday::Fri), 0.2),
        ],
        Some("IN" | "PK" | "BD" | "CN") => {
            vec![(Monthly(Day(1)), 0.7), (Monthly(LastBusinessDay), 0.3)]
        }
        Some("SE" | "NO" | "DK" | "FI") => {
            vec![(Monthly(Day(25)), 0.85), (Monthly(LastBusinessDay), 0.15)]
        }
        Some("NL") => vec![(Monthly(Day(25)), 0.6), (Monthly(LastBusinessDay), 0.4)],
        Some("IT") => vec![(Monthly(Day(27)), 0.6), (Monthly(LastBusinessDay), 0.4)],
        Some(
            "DE" | "AT" | "CH" | "FR" | "BE" | "LU" | "ES" | "PT" | "PL" | "CZ" | "HU" | "RO"
            | "GR",
        ) => vec![
            (Monthly(LastBusinessDay), 0.75),
            (Monthly(Day(1)), 0.1),
            (Monthly(Day(15)), 0.15),
        ],
        _ => vec![
            (Monthly(Day(1)), 0.35),
            (Monthly(Day(15)), 0.25),
            (Monthly(LastBusinessDay), 0.4),
        ],
    }
}

/// How likely a customer in `country` is paid on `date`, from the norms
/// alone: the share of earners whose payday it may be.
pub fn payday_likelihood(norms: &[(PayCycle, f64)], date: NaiveDate) -> f64 {
    norms
        .iter()
        .map(|(cycle, share)| share * cycle.likelihood_on(date))
        .sum::<f64>()
        .min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_payday_passed_between_two_tries_by_the_countrys_cycles() {
        let de = country_norms(Some("DE"));
        // Germany pays at the month's end: 27 to 31 March crosses it.
        assert!(payday_passed(&de, d(2026, 3, 27), d(2026, 4, 1)) >= 0.75);
        assert_eq!(payday_passed(&de, d(2026, 3, 9), d(2026, 3, 12)), 0.0);
        // The US: a week holds a Friday, so every weekly earner's payday
        // and half the fortnightly ones'.
        let us = country_norms(Some("US"));
        let week = payday_passed(&us, d(2026, 3, 9), d(2026, 3, 16));
        assert!((0.5..=1.0).contains(&week), "{week}");
        assert_eq!(payday_passed(&us, d(2026, 3, 9), d(2026, 3, 11)), 0.0);
        assert_eq!(payday_passed(&us, d(2026, 3, 11), d(2026, 3, 11)), 0.0);
    }

    #[test]
    fn monthly_days_move_to_the_business_day_before() {
        // 15 March 2026 is a Sunday: paid Friday the 13th.
        assert_eq!(DayRule::Day(15).in_month(2026, 3), d(2026, 3, 13));
        // 31 May 2026 is a Sunday: the last business day is Friday the 29th.
        assert_eq!(DayRule::LastBusinessDay.in_month(2026, 5), d(2026, 5, 29));
        // 1 March 2026 is a Sunday: the 5th business day is Friday the 6th.
        assert_eq!(DayRule::BusinessDay(5).in_month(2026, 3), d(2026, 3, 6));
        assert_eq!(DayRule::Day(31).in_month(2026, 2), d(2026, 2, 27));
    }

    #[test]
    fn fortnightly_cycles_alternate() {
        let a = PayCycle::Weeks {
            weeks: 2,
            weekday: Weekday::Fri,
            phase: 0,
        };
        let b = PayCycle::Weeks {
            weeks: 2,
            weekday: Weekday::Fri,
            phase: 1,
        };
        let fridays = [d(2026, 3, 6), d(2026, 3, 13), d(2026, 3, 20)];
        let paid_a: Vec<bool> = fridays.iter().map(|f| a.pays_on(*f)).collect();
        let paid_b: Vec<bool> = fridays.iter().map(|f| b.pays_on(*f)).collect();
        assert_eq!(paid_a[0], paid_a[2]);
        assert_ne!(paid_a[0], paid_a[1]);
        assert!(paid_a.iter().zip(&paid_b).all(|(x, y)| x != y));
        assert_eq!(a.likelihood_on(d(2026, 3, 6)), 0.5);
        assert_eq!(
            a.last_on_or_before(d(2026, 3, 12)).unwrap().weekday(),
            Weekday::Fri
        );
    }

    #[test]
    fn norms_make_fridays_likely_in_the_us_and_month_ends_in_germany() {
        let us = country_norms(Some("us"));
        let friday = payday_likelihood(&us, d(2026, 3, 6));
        let tuesday = payday_likelihood(&us, d(2026, 3, 10));
        assert!(friday > 0.5 && tuesday == 0.0, "{friday} {tuesday}");
        let de = country_norms(Some("DE"));
        assert!(payday_likelihood(&de, d(2026, 3, 31)) >= 0.75);
        assert_eq!(payday_likelihood(&de, d(2026, 3, 6)), 0.0);
        for country in [
            None,
            Some("US"),
            Some("GB"),
            Some("JP"),
            Some("BR"),
            Some("ZZ"),
        ] {
            let total: f64 = country_norms(country).iter().map(|(_, s)| s).sum();
            assert!((total - 1.0).abs() < 1e-9, "{country:?} {total}");
        }
    }
}
