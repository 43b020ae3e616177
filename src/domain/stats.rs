//! Recovery statistics a finance person can trust, from the store's
//! grouped counts: per currency (never summed across currencies), only
//! invoices that failed (a case was opened), what failed, what was
//! recovered (what the paying charge took), what was lost (ended unpaid:
//! canceled, downgraded, closed) and what is still open; rates by count and
//! by revenue; by decline category and code; by how the money came in; and
//! the median time from the failure to the payment.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::case::{CaseState, RecoveredBy};
use crate::domain::money::Currency;

/// One group of cases as the store counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub currency: String,
    pub state: CaseState,
    pub category: Option<String>,
    pub code: Option<String>,
    pub recovered_by: Option<RecoveredBy>,
    pub recovered_on_retry: Option<u32>,
    pub count: i64,
    /// Sum of what was owed (minor units).
    pub due_minor: i64,
    /// Sum of what the paying charges took (what was owed where unknown).
    pub paid_minor: i64,
}

/// How many recovered cases of a currency took this many whole hours from
/// the failure to the payment.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryTime {
    pub currency: String,
    pub hours: i64,
    pub count: i64,
}

/// A number of cases and their money.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Amount {
    pub count: i64,
    /// Minor units (cents).
    pub minor: i64,
    /// In the currency's major unit, as text ("1234.50", "1000" for JPY).
    pub amount: String,
}

/// Failed and recovered within one slice (a category, a code).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Slice {
    pub key: String,
    pub failed: Amount,
    pub recovered: Amount,
    pub lost: Amount,
    pub recovery_rate_by_count: Option<f64>,
    pub recovery_rate_by_revenue: Option<f64>,
}

/// Recovered money by how it came in.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Method {
    /// `retry`, `card_update`, `offer`, `processor`, or `unknown` (cases
    /// recovered before dunwell kept this).
    pub method: String,
    /// Which of our retries, for `retry`.
    pub retry: Option<u32>,
    pub recovered: Amount,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrencyReport {
    pub currency: String,
    pub failed: Amount,
    pub recovered: Amount,
    pub lost: Amount,
    pub open: Amount,
    pub recovery_rate_by_count: Option<f64>,
    pub recovery_rate_by_revenue: Option<f64>,
    pub median_days_to_recover: Option<f64>,
    pub by_category: Vec<Slice>,
    pub by_code: Vec<Slice>,
    pub by_method: Vec<Method>,
}

#[derive(Debug, Clone, Default)]
struct Tally {
    failed: (i64, i64),
    recovered: (i64, i64),
    lost: (i64, i64),
    open: (i64, i64),
}

impl Tally {
    fn add(&mut self, g: &Group) {
        self.failed.0 += g.count;
        self.failed.1 += g.due_minor;
        match g.state {
            CaseState::Recovered => {
                self.recovered.0 += g.count;
                self.recovered.1 += g.paid_minor;
            }
            s if s.is_terminal() => {
                self.lost.0 += g.count;
                self.lost.1 += g.due_minor;
            }
            _ => {
                self.open.0 += g.count;
                self.open.1 += g.due_minor;
            }
        }
    }

    fn rates(&self) -> (Option<f64>, Option<f64>) {
        (
            ratio(self.recovered.0, self.failed.0),
            ratio(self.recovered.1, self.failed.1),
        )
    }
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    // Four places: 0.1234 is 12.34 %.
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// `minor` units of `currency` as text in its major unit.
pub fn major(minor: i64, currency: &str) -> String {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent());
    Decimal::new(minor, exponent).to_string()
}

/// An amount as a person reads it on the dashboard: thousands grouped
/// with commas ("69800" → "69,800", "1234567.50" → "1,234,567.50"). The
/// API keeps plain numbers.
pub fn grouped(amount: &str) -> String {
    let (sign, rest) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::from(sign);
    for (i, d) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*d);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out
}

fn amount((count, minor): (i64, i64), currency: &str) -> Amount {
    Amount {
        count,
        minor,
        amount: major(minor, currency),
    }
}

fn slices(tallies: BTreeMap<String, Tally>, currency: &str) -> Vec<Slice> {
    let mut out: Vec<Slice> = tallies
        .into_iter()
        .map(|(key, t)| {
            let (by_count, by_revenue) = t.rates();
            Slice {
                key,
                failed: amount(t.failed, currency),
                recovered: amount(t.recovered, currency),
                lost: amount(t.lost, currency),
                recovery_rate_by_count: by_count,
                recovery_rate_by_revenue: by_revenue,
            }
        })
        .collect();
    // Biggest first: what matters most leads.
    out.sort_by(|a, b| b.failed.minor.cmp(&a.failed.minor).then(a.key.cmp(&b.key)));
    out
}

/// The median of a histogram of whole hours, in days (one decimal).
fn median_days(histogram: &BTreeMap<i64, i64>) -> Option<f64> {
    let total: i64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    // The value at 0-based rank `r` of the sorted durations.
    let at = |rank: i64| {
        let mut seen = 0;
        for (hours, count) in histogram {
            seen += count;
            if rank < seen {
                return *hours as f64;
            }
        }
        0.0
    };
    let hours = if total % 2 == 1 {
        at(total / 2)
    } else {
        (at(total / 2 - 1) + at(total / 2)) / 2.0
    };
    Some((hours / 24.0 * 10.0).round() / 10.0)
}

/// The report per currency, currencies in alphabetical order.
pub fn report(groups: &[Group], times: &[RecoveryTime]) -> Vec<CurrencyReport> {
    let mut currencies: BTreeMap<&str, Vec<&Group>> = BTreeMap::new();
    for g in groups {
        currencies.entry(g.currency.as_str()).or_default().push(g);
    }
    currencies
        .into_iter()
        .map(|(currency, groups)| {
            let mut all = Tally::default();
            let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
            let mut by_code: BTreeMap<String, Tally> = BTreeMap::new();
            let mut by_method: BTreeMap<(String, Option<u32>), (i64, i64)> = BTreeMap::new();
            for g in groups {
                all.add(g);
                let unknown = || "unknown".to_owned();
                by_category
                    .entry(g.category.clone().unwrap_or_else(unknown))
                    .or_default()
                    .add(g);
                by_code
                    .entry(g.code.clone().unwrap_or_else(unknown))
                    .or_default()
                    .add(g);
                if g.state == CaseState::Recovered {
                    let method = g
                        .recovered_by
                        .map_or_else(unknown, |m| m.as_str().to_owned());
                    let retry = g.recovered_on_retry.filter(|_| method == "retry");
                    let entry = by_method.entry((method, retry)).or_default();
                    entry.0 += g.count;
                    entry.1 += g.paid_minor;
                }
            }
            let histogram: BTreeMap<i64, i64> = times
                .iter()
                .filter(|t| t.currency == currency)
                .fold(BTreeMap::new(), |mut h, t| {
                    *h.entry(t.hours.max(0)).or_default() += t.count;
                    h
                });
            let (by_count, by_revenue) = all.rates();
            CurrencyReport {
                currency: currency.to_owned(),
                failed: amount(all.failed, currency),
                recovered: amount(all.recovered, currency),
                lost: amount(all.lost, currency),
                open: amount(all.open, currency),
                recovery_rate_by_count: by_count,
                recovery_rate_by_revenue: by_revenue,
                median_days_to_recover: median_days(&histogram),
                by_category: slices(by_category, currency),
                by_code: slices(by_code, currency),
                by_method: by_method
                    .into_iter()
                    .map(|((method, retry), money)| Method {
                        method,
                        retry,
                        recovered: amount(money, currency),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Charge attempts and the paid ones in each local weekday (Monday first)
/// and hour: which retry slots recover.
#[derive(Debug, Clone, PartialEq)]
pub struct Slots {
    /// [weekday][hour] = (attempts, paid)
    pub cells: [[(u32, u32); 24]; 7],
}

/// Attempts counted as `(hour they ran in, the customer's time zone,
/// attempts, paid)` by local slot (a zone offset by half an hour counts
/// in the local hour its UTC hour starts in).
pub fn slots(attempts: &[(chrono::DateTime<chrono::Utc>, chrono_tz::Tz, u32, u32)]) -> Slots {
    use chrono::{Datelike, Timelike};
    let mut cells = [[(0, 0); 24]; 7];
    for (when, tz, n, paid) in attempts {
        let local = when.with_timezone(tz);
        let cell =
            &mut cells[local.weekday().num_days_from_monday() as usize][local.hour() as usize];
        cell.0 += n;
        cell.1 += paid;
    }
    Slots { cells }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_group_their_thousands() {
        assert_eq!(grouped("69800"), "69,800");
        assert_eq!(grouped("1234567.50"), "1,234,567.50");
        assert_eq!(grouped("999.99"), "999.99");
        assert_eq!(grouped("-1000"), "-1,000");
        assert_eq!(grouped("0"), "0");
    }

    fn group(currency: &str, state: CaseState, code: &str, count: i64, due: i64) -> Group {
        Group {
            currency: currency.into(),
            state,
            category: Some(
                if code == "insufficient_funds" {
                    "funds"
                } else {
                    "hard"
                }
                .into(),
            ),
            code: Some(code.into()),
            recovered_by: (state == CaseState::Recovered).then_some(RecoveredBy::Retry),
            recovered_on_retry: (state == CaseState::Recovered).then_some(1),
            count,
            due_minor: due,
            paid_minor: due,
        }
    }

    #[test]
    fn currencies_are_never_summed_and_rates_are_by_count_and_revenue() {
        let groups = [
            group(
                "usd",
                CaseState::Recovered,
                "insufficient_funds",
                3,
                3 * 4900,
            ),
            group("usd", CaseState::Canceled, "expired_card", 1, 9900),
            group("usd", CaseState::Retrying, "insufficient_funds", 1, 4900),
            group("jpy", CaseState::Recovered, "insufficient_funds", 1, 1000),
        ];
        let times = [
            RecoveryTime {
                currency: "usd".into(),
                hours: 24,
                count: 1,
            },
            RecoveryTime {
                currency: "usd".into(),
                hours: 72,
                count: 2,
            },
        ];
        let report = report(&groups, &times);
        assert_eq!(report.len(), 2);
        let jpy = &report[0];
        assert_eq!(jpy.currency, "jpy");
        assert_eq!(jpy.recovered.amount, "1000");
        assert_eq!(jpy.median_days_to_recover, None);
        let usd = &report[1];
        assert_eq!((usd.failed.count, usd.failed.minor), (5, 29_500));
        assert_eq!(usd.failed.amount, "295.00");
        assert_eq!((usd.recovered.count, usd.recovered.minor), (3, 14_700));
        assert_eq!((usd.lost.count, usd.lost.minor), (1, 9_900));
        assert_eq!((usd.open.count, usd.open.minor), (1, 4_900));
        assert_eq!(usd.recovery_rate_by_count, Some(0.6));
        assert_eq!(usd.recovery_rate_by_revenue, Some(0.4983));
        assert_eq!(usd.median_days_to_recover, Some(3.0));
        let funds = &usd.by_category.iter().find(|s| s.key == "funds").unwrap();
        assert_eq!(funds.recovery_rate_by_count, Some(0.75));
        assert_eq!(usd.by_method.len(), 1);
        assert_eq!(usd.by_method[0].retry, Some(1));
    }

    #[test]
    fn attempts_fall_in_the_customers_local_slot() {
        use chrono::TimeZone;
        // Monday 2026-03-02 08:30 UTC is 09:30 in Berlin, 03:30 in New York.
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 8, 30, 0).unwrap();
        let s = slots(&[
            (at, chrono_tz::Europe::Berlin, 2, 1),
            (at, chrono_tz::America::New_York, 1, 1),
        ]);
        assert_eq!(s.cells[0][9], (2, 1));
        assert_eq!(s.cells[0][3], (1, 1));
        assert_eq!(s.cells[1][9], (0, 0));
    }

    #[test]
    fn the_median_of_an_even_count_is_between_the_middle_two() {
        let h: BTreeMap<i64, i64> = [(12, 1), (36, 1)].into();
        assert_eq!(median_days(&h), Some(1.0));
        assert_eq!(median_days(&BTreeMap::new()), None);
    }
}
