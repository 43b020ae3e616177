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
    pub kind: NoticeKind,
    pub key: String,
    pub recipient: Option<String>,
    pub detail: CardExpiring,
    pub due_at: i64,
}

/// What a notice warns of (`notices.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The card on file expires before the next renewal.
    CardExpiring,
}

impl NoticeKind {
    pub const ALL: [Self; 1] = [Self::CardExpiring];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardExpiring => "card_expiring",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Where a notice stands (`notices.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// Planned, or put off after a failure: the job runner takes it when due.
    Pending,
    /// No longer true when it fell due (a new card, no renewal): not sent.
    Skipped,
    /// Nobody to write to.
    NoRecipient,
    /// Written; no SMTP server is configured, so it stays in the outbox.
    Outbox,
    /// Handed to the SMTP server, no answer yet.
    Sending,
    Sent,
    /// Given up after the tries allowed.
    Failed,
}

impl NoticeStatus {
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Skipped,
        Self::NoRecipient,
        Self::Outbox,
        Self::Sending,
        Self::Sent,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Skipped => "skipped",
            Self::NoRecipient => "no_recipient",
            Self::Outbox => "outbox",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
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
