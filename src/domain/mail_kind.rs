//! The kinds of email dunwell writes (templates under `templates/email/<kind>/`).

use serde::{Deserialize, Serialize};

/// Every email dunwell writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    PaymentFailed,
    FinalNotice,
    ActionRequired,
    ThankYou,
    /// Pre-dunning: the card on file expires before the next renewal.
    CardExpiring,
}

impl MailKind {
    pub const ALL: [Self; 5] = [
        Self::PaymentFailed,
        Self::FinalNotice,
        Self::ActionRequired,
        Self::ThankYou,
        Self::CardExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentFailed => "payment_failed",
            Self::FinalNotice => "final_notice",
            Self::ActionRequired => "action_required",
            Self::ThankYou => "thank_you",
            Self::CardExpiring => "card_expiring",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}
