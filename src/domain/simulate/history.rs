//! An operator's own failed invoices as scenarios. Columns (a header row,
//! any order, more columns ignored):
//!
//! - `failed_at` — when the payment first failed (RFC 3339, or
//!   `YYYY-MM-DD HH:MM:SS` in UTC, or a date);
//! - `decline_code` — the issuer's reason (`insufficient_funds`...);
//! - `amount` — in major units (`49.00`);
//! - `currency` — three letters;
//! - `country` — two letters, may be empty;
//! - `paid_at` — when the invoice was paid in the end; empty if never;
//! - `card_brand` — optional (`visa`, `mastercard`...).
//!
//! What history cannot tell is what *another* schedule would have met, so
//! the customers are read conservatively: money that was there when the
//! invoice was paid is taken to be there from the start of that local day
//! (salaries land overnight) for five days, and never before; a card that could not be retried (hard decline,
//! authentication) was replaced on `paid_at`; an invoice never paid is
//! never paid, whatever the schedule.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::Scenario;
use super::customer::{Customer, Reaction, Truth};
use crate::domain::decline::classify;
use crate::domain::events::DeclineDetails;
use crate::domain::money::{Currency, Money};

/// How long money seen on `paid_at` is taken to stay.
const MONEY_STAYS_DAYS: i64 = 5;

fn instant(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .map(|t| t.and_utc())
}

fn start_of_local_day(at: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let day = at.with_timezone(&tz).date_naive();
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map_or(at, |t| t.with_timezone(&Utc))
}

/// One failed invoice as history tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub failed_at: DateTime<Utc>,
    /// The issuer's reason, lower case.
    pub decline_code: String,
    pub amount_minor: i64,
    /// Lower-case three letters.
    pub currency: String,
    /// Two upper-case letters.
    pub country: Option<String>,
    /// When it was paid in the end (not before `failed_at`); `None`: never.
    pub paid_at: Option<DateTime<Utc>>,
    pub card_brand: Option<String>,
}

/// The scenario `row` stands for, read conservatively (see above); `key`
/// seeds the planner's jitter as a case id would, `seed` the customer.
pub fn scenario(row: &Row, key: String, seed: u64) -> Scenario {
    let decline = DeclineDetails {
        code: Some("card_declined".into()),
        decline_code: Some(row.decline_code.clone()),
        card_brand: row.card_brand.clone(),
        ..Default::default()
    };
    let retryable = classify(&decline).category.retryable();
    let tz = row
        .country
        .as_deref()
        .and_then(crate::domain::zones::of_country)
        .unwrap_or(chrono_tz::UTC);
    let failed_at = row.failed_at;
    let (truth, scripted) = match row.paid_at {
        Some(paid) if retryable => {
            let from = start_of_local_day(paid, tz).max(failed_at);
            (
                Truth::Window {
                    from,
                    until: from + Duration::days(MONEY_STAYS_DAYS),
                },
                None,
            )
        }
        Some(at) => (Truth::Dead, Some((Reaction::NewCard, at))),
        None => (Truth::Dead, None),
    };
    Scenario {
        key,
        failed_at,
        decline,
        amount_minor: row.amount_minor,
        currency: row.currency.clone(),
        country: row.country.clone(),
        paid_before: Vec::new(),
        customer: Customer {
            truth,
            tz,
            responsiveness: 0.0,
            seed,
            new_card_approved: 1.0,
            off_payday: 0.0,
        },
        scripted,
    }
}

/// Reads the CSV text; every bad row is reported with its line number.
pub fn read(text: &str) -> Result<Vec<Scenario>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut errors = Vec::new();
    let required = ["failed_at", "decline_code", "amount", "currency"];
    for name in required {
        if column(name).is_none() {
            errors.push(format!("line 1: the header has no `{name}` column (needs failed_at, decline_code, amount, currency; country, paid_at and card_brand are optional)"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut scenarios = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let get = |name: &str| {
            column(name)
                .and_then(|c| record.get(c))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let mut bad = |what: String| errors.push(format!("line {line}: {what}"));
        let Some(failed_at) = get("failed_at").and_then(instant) else {
            bad(format!(
                "failed_at {:?} is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS)",
                get("failed_at").unwrap_or("")
            ));
            continue;
        };
        let Some(code) = get("decline_code") else {
            bad("decline_code is empty".into());
            continue;
        };
        let currency = match Currency::parse(get("currency").unwrap_or("")) {
            Ok(c) => c,
            Err(e) => {
                bad(format!("currency: {e}"));
                continue;
            }
        };
        let amount = match Money::parse_major(get("amount").unwrap_or(""), currency) {
            Ok(a) => a,
            Err(e) => {
                bad(format!("amount: {e}"));
                continue;
            }
        };
        let paid_at = match get("paid_at") {
            None => None,
            Some(raw) => match instant(raw) {
                Some(t) if t >= failed_at => Some(t),
                Some(_) => {
                    bad(format!("paid_at {raw:?} is before failed_at"));
                    continue;
                }
                None => {
                    bad(format!("paid_at {raw:?} is not a time"));
                    continue;
                }
            },
        };
        let country = get("country").map(str::to_ascii_uppercase);
        if let Some(c) = &country
            && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            bad(format!("country {c:?} is not a two-letter code"));
            continue;
        }
        let row = Row {
            failed_at,
            decline_code: code.to_ascii_lowercase(),
            amount_minor: amount.minor(),
            currency: currency.as_str().to_owned(),
            country,
            paid_at,
            card_brand: get("card_brand").map(str::to_ascii_lowercase),
        };
        scenarios.push(scenario(&row, format!("history_{line}"), line as u64));
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_reports_bad_ones_by_line() {
        let ok = "failed_at,decline_code,amount,currency,country,paid_at\n\
                  2026-03-03T10:00:00Z,insufficient_funds,49.00,usd,US,2026-03-13T15:00:00Z\n\
                  2026-03-04 08:00:00,expired_card,19.99,EUR,de,\n";
        let rows = read(ok).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].amount_minor, 4900);
        assert!(matches!(rows[0].customer.truth, Truth::Window { .. }));
        assert_eq!(rows[1].country.as_deref(), Some("DE"));
        assert!(matches!(rows[1].customer.truth, Truth::Dead));
        assert!(rows[1].scripted.is_none());

        let bad = "failed_at,decline_code,amount,currency\n\
                   yesterday,insufficient_funds,1,usd\n\
                   2026-03-03,insufficient_funds,1.234,usd\n";
        let errors = read(bad).unwrap_err();
        assert!(errors[0].starts_with("line 2: failed_at"), "{errors:?}");
        assert!(errors[1].starts_with("line 3: amount"), "{errors:?}");
        let errors = read("when,code\n").unwrap_err();
        assert!(errors[0].contains("failed_at"), "{errors:?}");
    }
}
