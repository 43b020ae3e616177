//! A price as the processor states it (`GET /v1/prices/{id}`): what an
//! offer costs and how often, so the customer reads it in their language
//! and the price's own currency, never the operator's English label alone.

use serde_json::Value;

use super::ids::PriceId;

/// How often a recurring price bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurring {
    pub interval: Interval,
    /// Every `count` intervals (1: every month).
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub id: PriceId,
    /// The product's name (expanded), else the price's nickname.
    pub product: Option<String>,
    /// In the currency's minor units.
    pub unit_amount: i64,
    /// Lower-case ISO code, as the processor writes it (`usd`).
    pub currency: String,
    pub recurring: Option<Recurring>,
}

impl Price {
    /// Reads the processor's price object (its `product` expanded or not).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let id = v["id"].as_str().ok_or("a price without an id")?;
        let id = PriceId::parse(id).map_err(|e| e.to_string())?;
        let unit_amount = v["unit_amount"]
            .as_i64()
            .or_else(|| {
                v["unit_amount_decimal"]
                    .as_str()?
                    .parse::<f64>()
                    .ok()
                    .map(|a| a.round() as i64)
            })
            .ok_or("a price without a unit_amount")?;
        let currency = v["currency"]
            .as_str()
            .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .ok_or("a price without a currency")?
            .to_ascii_lowercase();
        let recurring = match &v["recurring"] {
            Value::Object(r) => {
                let interval = match r.get("interval").and_then(Value::as_str) {
                    Some("day") => Interval::Day,
                    Some("week") => Interval::Week,
                    Some("month") => Interval::Month,
                    Some("year") => Interval::Year,
                    other => return Err(format!("an unknown interval {other:?}")),
                };
                let count = r
                    .get("interval_count")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .clamp(1, 365) as u32;
                Some(Recurring { interval, count })
            }
            _ => None,
        };
        let product = v["product"]["name"]
            .as_str()
            .or_else(|| v["nickname"].as_str())
            .map(|n| {
                let line: String = n
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                line.trim().to_owned()
            })
            .filter(|n| !n.is_empty());
        Ok(Self {
            id,
            product,
            unit_amount,
            currency,
            recurring,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_expanded_price_and_a_bare_one() {
        let expanded = r#"{"id":"price_basic","object":"price","currency":"eur","unit_amount":1900,
            "recurring":{"interval":"month","interval_count":1},"product":{"id":"prod_1","name":"Basic"}}"#;
        let p = Price::from_json(expanded).unwrap();
        assert_eq!(p.product.as_deref(), Some("Basic"));
        assert_eq!((p.unit_amount, p.currency.as_str()), (1900, "eur"));
        assert_eq!(
            p.recurring,
            Some(Recurring {
                interval: Interval::Month,
                count: 1
            })
        );
        let bare = r#"{"id":"price_year","currency":"USD","unit_amount":47000,"nickname":"Pro yearly",
            "recurring":{"interval":"year"},"product":"prod_2"}"#;
        let p = Price::from_json(bare).unwrap();
        assert_eq!(p.product.as_deref(), Some("Pro yearly"));
        assert_eq!(p.currency, "usd");
        assert_eq!(p.recurring.unwrap().interval, Interval::Year);
        assert!(Price::from_json(r#"{"id":"price_x","currency":"usd"}"#).is_err());
    }
}
