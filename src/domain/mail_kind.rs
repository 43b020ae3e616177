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
    /// After the final action: what happened and how to come back.
    SubscriptionCanceled,
    SubscriptionDowngraded,
    /// The customer took an offer on their page: what changed, from when.
    OfferTaken,
}

impl MailKind {
    pub const ALL: [Self; 8] = [
        Self::PaymentFailed,
        Self::FinalNotice,
        Self::ActionRequired,
        Self::ThankYou,
        Self::CardExpiring,
        Self::SubscriptionCanceled,
        Self::SubscriptionDowngraded,
        Self::OfferTaken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentFailed => "payment_failed",
            Self::FinalNotice => "final_notice",
            Self::ActionRequired => "action_required",
            Self::ThankYou => "thank_you",
            Self::CardExpiring => "card_expiring",
            Self::SubscriptionCanceled => "subscription_canceled",
            Self::SubscriptionDowngraded => "subscription_downgraded",
            Self::OfferTaken => "offer_taken",
        }
    }

    /// Written after the case has ended (not dunning: never held back by
    /// the spacing between reminders, never moot because the case ended).
    pub fn after_the_end(self) -> bool {
        matches!(
            self,
            Self::ThankYou
                | Self::SubscriptionCanceled
                | Self::SubscriptionDowngraded
                | Self::OfferTaken
        )
    }

    /// Reminders to pay: at most one per customer in the policy's gap.
    pub fn is_reminder(self) -> bool {
        matches!(self, Self::PaymentFailed | Self::ActionRequired)
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}
