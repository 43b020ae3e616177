//! What a pre-dunning notice says, as stored with it: typed, so a notice
//! whose detail is missing a field is an error naming the notice, never an
//! email with a year 0 card.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A `card_expiring` notice: the card that will have expired by the
/// renewal, and the renewal when an upcoming invoice announced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardExpiring {
    pub payment_method: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: u32,
    pub exp_year: i32,
    pub renewal: Option<DateTime<Utc>>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub product: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub customer_id: String,
    pub payment_method_id: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: u32,
    pub exp_year: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    pub customer_id: String,
    pub kind: &'static str,
    pub key: String,
    pub recipient: Option<String>,
    pub detail: CardExpiring,
    pub due_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_earlier_versions_stored_and_refuses_a_gap() {
        // As stored before the detail was typed (`to_rfc3339` offsets).
        let old = r#"{"payment_method":"pm_1","brand":"visa","last4":"4242",
            "exp_month":12,"exp_year":2026,"renewal":"2027-01-05T00:00:00+00:00",
            "amount_minor":4900,"currency":"usd","product":null}"#;
        let read: CardExpiring = serde_json::from_str(old).unwrap();
        assert_eq!((read.exp_month, read.exp_year), (12, 2026));
        assert_eq!(
            read.renewal.unwrap().to_rfc3339(),
            "2027-01-05T00:00:00+00:00"
        );
        let again: CardExpiring =
            serde_json::from_str(&serde_json::to_string(&read).unwrap()).unwrap();
        assert_eq!(again, read);
        let gap = r#"{"payment_method":"pm_1","exp_month":12}"#;
        let e = serde_json::from_str::<CardExpiring>(gap).unwrap_err();
        assert!(e.to_string().contains("exp_year"), "{e}");
    }
}
