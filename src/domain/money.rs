//! Amounts as the processor sends them: integer minor units plus a currency.
//! `rust_decimal` turns them into major units for display and parsing.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency must be a three-letter ISO code like `usd`, got {0:?}")]
    Currency(String),
    #[error("amount {amount:?} is not a number with at most {exponent} decimals for {currency}")]
    Amount {
        amount: String,
        currency: String,
        exponent: u32,
    },
    #[error("amount must not be negative")]
    Negative,
}

/// A currency code, lower-case as the processor writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let lower = raw.trim().to_ascii_lowercase();
        match lower.as_bytes() {
            [a, b, c] if lower.bytes().all(|x| x.is_ascii_lowercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(MoneyError::Currency(raw.chars().take(10).collect())),
        }
    }

    pub fn as_str(&self) -> &str {
        // Built only from ASCII lower-case letters.
        std::str::from_utf8(&self.0).unwrap_or("xxx")
    }

    /// Decimal places in the processor's minor units. Stripe's own table is the
    /// truth here, not ISO 4217 (Stripe treats ISK and UGX differently from ISO).
    pub fn exponent(&self) -> u32 {
        const ZERO: &[&str] = &[
            "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
            "vuv", "xaf", "xof", "xpf",
        ];
        const THREE: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];
        let code = self.as_str();
        if ZERO.contains(&code) {
            0
        } else if THREE.contains(&code) {
            3
        } else {
            2
        }
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// `minor` units of the currency named `currency` as the customer reads
    /// it ("49.00 USD"); the raw figures when the currency is unknown.
    pub fn describe(minor: i64, currency: &str) -> String {
        Currency::parse(currency)
            .ok()
            .and_then(|c| Self::from_minor(minor, c).ok())
            .map_or_else(|| format!("{minor} {currency}"), |m| m.to_string())
    }

    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Self { minor, currency })
    }

    /// Parses a major-unit amount such as `49.00` for `usd` into 4900 cents.
    pub fn parse_major(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let exponent = currency.exponent();
        let bad = || MoneyError::Amount {
            amount: amount.chars().take(20).collect(),
            currency: currency.to_string(),
            exponent,
        };
        let value: Decimal = amount.trim().parse().map_err(|_| bad())?;
        if value.is_sign_negative() {
            return Err(MoneyError::Negative);
        }
        if value.normalize().scale() > exponent {
            return Err(bad());
        }
        let minor = value
            .checked_mul(Decimal::from(10_i64.pow(exponent)))
            .and_then(|m| i64::try_from(m.trunc()).ok())
            .ok_or_else(bad)?;
        Self::from_minor(minor, currency)
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn major(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }
}

impl fmt::Display for Money {
    /// `49.00 USD`: the amount with the currency's own number of decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.major(),
            self.currency.as_str().to_ascii_uppercase()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(c: &str) -> Currency {
        Currency::parse(c).unwrap()
    }

    #[test]
    fn displays_with_the_currency_exponent() {
        assert_eq!(
            Money::from_minor(4900, cur("usd")).unwrap().to_string(),
            "49.00 USD"
        );
        assert_eq!(
            Money::from_minor(4900, cur("JPY")).unwrap().to_string(),
            "4900 JPY"
        );
        assert_eq!(
            Money::from_minor(1500, cur("kwd")).unwrap().to_string(),
            "1.500 KWD"
        );
    }

    #[test]
    fn parses_major_amounts() {
        assert_eq!(
            Money::parse_major("49.00", cur("usd")).unwrap().minor(),
            4900
        );
        assert_eq!(Money::parse_major("49", cur("usd")).unwrap().minor(), 4900);
        assert_eq!(Money::parse_major("500", cur("jpy")).unwrap().minor(), 500);
        assert!(Money::parse_major("49.001", cur("usd")).is_err());
        assert!(Money::parse_major("4.5", cur("jpy")).is_err());
        assert!(Money::parse_major("-1", cur("usd")).is_err());
        assert!(Money::parse_major("abc", cur("usd")).is_err());
        assert!(Money::parse_major("99999999999999999999999", cur("usd")).is_err());
    }

    #[test]
    fn rejects_bad_currencies() {
        assert!(Currency::parse("us").is_err());
        assert!(Currency::parse("usd1").is_err());
        assert!(Currency::parse("u$d").is_err());
    }
}
