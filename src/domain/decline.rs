//! What a refused payment means for dunning: a category that decides how (or
//! whether) to retry, the card networks' own retry rules, and whether the
//! reason may be shown to the customer. Pure: details in, verdict out.

use std::time::Duration;

use super::events::DeclineDetails;
use super::networks::Network;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCategory {
    /// The issuer will not approve this card: wait for a new payment method.
    Hard,
    /// Not enough money now: retry when the customer is likely to have it.
    Funds,
    /// A passing refusal: back off and retry.
    Transient,
    /// The customer must act (authenticate the payment).
    CustomerAction,
}

impl DeclineCategory {
    pub const ALL: [Self; 4] = [
        Self::Hard,
        Self::Funds,
        Self::Transient,
        Self::CustomerAction,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Funds => "funds",
            Self::Transient => "transient",
            Self::CustomerAction => "customer_action",
        }
    }

    /// Whether retrying the same card can succeed at all.
    pub fn retryable(self) -> bool {
        matches!(self, Self::Funds | Self::Transient)
    }
}

/// The verdict on one refusal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    pub category: DeclineCategory,
    /// The most specific code we were given (`insufficient_funds`...).
    pub code: String,
    /// A card network forbids retrying this card (Visa category 1,
    /// Mastercard advice 03/21, Stripe's `do_not_try_again`).
    pub network_forbids_retry: bool,
    /// A network asked us to wait at least this long (Mastercard 24–30).
    pub retry_after: Option<Duration>,
    /// A fraud-type reason: never name it to the customer.
    pub fraud: bool,
    /// The code is not one we know: treated as transient, worth a log line.
    pub unknown: bool,
    /// For the timeline: why this category.
    pub reason: String,
    /// The refused card's network: its retry caps apply.
    #[serde(default)]
    pub network: Network,
    /// The refused payment method (`pm_...`), when the event named it: a
    /// card that is already known to have failed is no "new card".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

impl Classification {
    /// What the customer may read about the refusal: plain words, and never
    /// a fraud-type reason (a stolen-card flag reads as a plain decline).
    pub fn customer_reason(&self) -> &'static str {
        if self.fraud {
            return "your bank declined the payment";
        }
        match self.code.as_str() {
            "expired_card" => "the card on file has expired",
            "incorrect_number" | "invalid_number" => "the card number on file is not valid",
            "insufficient_funds" | "withdrawal_count_limit_exceeded" | "card_velocity_exceeded" => {
                "your bank declined it, which often means the balance was short or the limit reached"
            }
            "authentication_required" => "your bank asked you to confirm the payment",
            "card_not_supported" | "currency_not_supported" | "transaction_not_allowed" => {
                "the card on file does not accept this kind of payment"
            }
            _ => match self.category {
                DeclineCategory::Transient => "your bank could not process it just then",
                DeclineCategory::CustomerAction => "your bank asked you to confirm the payment",
                _ => "your bank declined the payment",
            },
        }
    }
}

/// Stripe codes that need a new payment method before any retry.
const HARD: &[&str] = &[
    "expired_card",
    "incorrect_number",
    "invalid_number",
    "incorrect_cvc",
    "invalid_cvc",
    "invalid_expiry_month",
    "invalid_expiry_year",
    "incorrect_zip",
    "lost_card",
    "stolen_card",
    "pickup_card",
    "fraudulent",
    "merchant_blacklist",
    "restricted_card",
    "revocation_of_authorization",
    "revocation_of_all_authorizations",
    "stop_payment_order",
    "do_not_try_again",
    "transaction_not_allowed",
    "card_not_supported",
    "currency_not_supported",
    "security_violation",
    "invalid_account",
    "new_account_information_available",
    "service_not_allowed",
    "not_permitted",
    "invalid_amount",
    "duplicate_transaction",
];

/// Reasons that must never reach the customer.
const FRAUD: &[&str] = &[
    "lost_card",
    "stolen_card",
    "pickup_card",
    "fraudulent",
    "merchant_blacklist",
    "security_violation",
];

const FUNDS: &[&str] = &[
    "insufficient_funds",
    "withdrawal_count_limit_exceeded",
    "card_velocity_exceeded",
];

const TRANSIENT: &[&str] = &[
    "processing_error",
    "issuer_not_available",
    "try_again_later",
    "reenter_transaction",
    "generic_decline",
    "do_not_honor",
    "call_issuer",
    "approve_with_id",
    "no_action_taken",
    "card_declined",
    "offline_pin_required",
    "online_or_offline_pin_required",
    "pin_try_exceeded",
    "rate_limit",
];

const CUSTOMER_ACTION: &[&str] = &["authentication_required", "authentication_not_handled"];

/// Visa category 1 ("issuer will never approve") response codes.
const VISA_NEVER: &[&str] = &[
    "04", "07", "12", "14", "15", "41", "43", "46", "57", "R0", "R1", "R3",
];

/// Mastercard merchant advice codes 24–30: retry no sooner than this.
fn mastercard_wait(advice: &str) -> Option<Duration> {
    const HOUR: u64 = 3600;
    let hours = match advice {
        "24" => 1,
        "25" => 24,
        "26" => 48,
        "27" => 96,
        "28" => 144,
        "29" => 192,
        "30" => 240,
        _ => return None,
    };
    Some(Duration::from_secs(hours * HOUR))
}

fn category_of(code: &str) -> Option<DeclineCategory> {
    if HARD.contains(&code) {
        Some(DeclineCategory::Hard)
    } else if FUNDS.contains(&code) {
        Some(DeclineCategory::Funds)
    } else if CUSTOMER_ACTION.contains(&code) {
        Some(DeclineCategory::CustomerAction)
    } else if TRANSIENT.contains(&code) {
        Some(DeclineCategory::Transient)
    } else {
        None
    }
}

/// A field's trimmed value, if it says anything.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn brand_is(details: &DeclineDetails, brand: &str) -> bool {
    details
        .card_brand
        .as_deref()
        .is_some_and(|b| b.eq_ignore_ascii_case(brand))
}

/// Classifies a refusal from everything the processor said about it.
pub fn classify(details: &DeclineDetails) -> Classification {
    // The issuer's reason is more specific than the error code
    // (`card_declined` + `insufficient_funds`).
    let code = given(&details.decline_code)
        .or(given(&details.code))
        .unwrap_or("generic_decline")
        .to_ascii_lowercase();
    let specific = category_of(&code);
    let known = specific
        .or_else(|| given(&details.code).and_then(|c| category_of(&c.to_ascii_lowercase())));
    let mut category = known.unwrap_or(DeclineCategory::Transient);
    let mut reason = match (specific, known) {
        (Some(c), _) => format!("`{code}` is a {} decline", c.as_str()),
        (None, Some(c)) => format!(
            "`{code}` is not a known decline code; treated as {} from its error code",
            c.as_str()
        ),
        (None, None) => format!("`{code}` is not a known decline code; treated as transient"),
    };

    let mut network_forbids_retry = false;
    let advice = given(&details.advice_code).map(str::to_ascii_lowercase);
    match advice.as_deref() {
        Some("do_not_try_again") => {
            network_forbids_retry = true;
            reason = format!("{reason}; the processor advises never to retry this card");
        }
        Some("confirm_card_data") if category.retryable() => {
            category = DeclineCategory::Hard;
            reason = format!("{reason}; the card data must be confirmed by the customer");
        }
        _ => {}
    }

    let network_code = given(&details.network_decline_code).map(str::to_ascii_uppercase);
    if brand_is(details, "visa")
        && let Some(code) = network_code.as_deref().filter(|c| VISA_NEVER.contains(c))
    {
        network_forbids_retry = true;
        reason = format!("{reason}; Visa response {code} forbids reattempts");
    }

    let mut retry_after = None;
    let network_advice = given(&details.network_advice_code);
    match network_advice {
        Some(a @ ("03" | "21")) => {
            network_forbids_retry = true;
            reason = format!("{reason}; Mastercard advice {a} forbids retrying this card");
        }
        Some(a) => {
            if let Some(wait) = mastercard_wait(a) {
                retry_after = Some(wait);
                reason = format!(
                    "{reason}; Mastercard advice {a}: retry after {} h",
                    wait.as_secs() / 3600
                );
            }
        }
        None => {}
    }

    if network_forbids_retry && category.retryable() {
        category = DeclineCategory::Hard;
    }
    Classification {
        category,
        fraud: FRAUD.contains(&code.as_str()),
        unknown: specific.is_none(),
        code,
        network_forbids_retry,
        retry_after,
        reason,
        network: Network::of(details.card_brand.as_deref()),
        method: None,
    }
}

/// Codes that say nothing specific: often a funds decline in disguise,
/// sometimes a passing block, sometimes a card that is done.
pub fn is_generic(code: &str) -> bool {
    matches!(
        code,
        "do_not_honor" | "generic_decline" | "card_declined" | "no_action_taken" | "call_issuer"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(code: &str, decline: &str) -> DeclineDetails {
        DeclineDetails {
            code: Some(code.into()),
            decline_code: Some(decline.into()).filter(|d: &String| !d.is_empty()),
            ..Default::default()
        }
    }

    #[test]
    fn every_listed_code_has_its_category() {
        for (code, want) in [
            ("insufficient_funds", DeclineCategory::Funds),
            ("card_velocity_exceeded", DeclineCategory::Funds),
            ("expired_card", DeclineCategory::Hard),
            ("stolen_card", DeclineCategory::Hard),
            ("new_account_information_available", DeclineCategory::Hard),
            ("do_not_honor", DeclineCategory::Transient),
            ("issuer_not_available", DeclineCategory::Transient),
            ("authentication_required", DeclineCategory::CustomerAction),
        ] {
            let c = classify(&details("card_declined", code));
            assert_eq!(c.category, want, "{code}");
            assert!(!c.unknown, "{code}");
        }
        for list in [HARD, FUNDS, TRANSIENT, CUSTOMER_ACTION] {
            for code in list {
                assert!(!classify(&details("card_declined", code)).unknown, "{code}");
            }
        }
    }

    #[test]
    fn the_error_code_counts_when_there_is_no_decline_code() {
        let c = classify(&details("expired_card", ""));
        assert_eq!(c.category, DeclineCategory::Hard);
        assert_eq!(c.code, "expired_card");
        let c = classify(&details("authentication_required", ""));
        assert_eq!(c.category, DeclineCategory::CustomerAction);
    }

    #[test]
    fn unknown_codes_are_transient_and_flagged() {
        let c = classify(&details("card_declined", "something_new"));
        assert_eq!(c.category, DeclineCategory::Transient);
        assert!(c.unknown);
        assert!(c.reason.contains("not a known"));
        let c = classify(&DeclineDetails::default());
        assert_eq!(c.code, "generic_decline");
        assert!(!c.unknown);
    }

    #[test]
    fn fraud_reasons_are_flagged() {
        for code in ["stolen_card", "lost_card", "fraudulent", "pickup_card"] {
            assert!(classify(&details("card_declined", code)).fraud, "{code}");
        }
        assert!(!classify(&details("card_declined", "expired_card")).fraud);
    }

    #[test]
    fn visa_category_one_forbids_retries_only_on_visa() {
        let mut d = details("card_declined", "do_not_honor");
        d.network_decline_code = Some("14".into());
        d.card_brand = Some("visa".into());
        let c = classify(&d);
        assert!(c.network_forbids_retry);
        assert_eq!(c.category, DeclineCategory::Hard);
        assert!(c.reason.contains("Visa response 14"));
        d.card_brand = Some("mastercard".into());
        assert!(!classify(&d).network_forbids_retry);
        d.card_brand = Some("visa".into());
        d.network_decline_code = Some("51".into());
        assert!(!classify(&d).network_forbids_retry);
    }

    #[test]
    fn mastercard_advice_codes() {
        let mut d = details("card_declined", "insufficient_funds");
        d.network_advice_code = Some("03".into());
        let c = classify(&d);
        assert!(c.network_forbids_retry);
        assert_eq!(c.category, DeclineCategory::Hard);
        d.network_advice_code = Some("21".into());
        assert!(classify(&d).network_forbids_retry);
        d.network_advice_code = Some("26".into());
        let c = classify(&d);
        assert!(!c.network_forbids_retry);
        assert_eq!(c.category, DeclineCategory::Funds);
        assert_eq!(c.retry_after, Some(Duration::from_secs(48 * 3600)));
        d.network_advice_code = Some("02".into());
        assert_eq!(classify(&d).retry_after, None);
    }

    #[test]
    fn processor_advice_is_obeyed() {
        let mut d = details("card_declined", "generic_decline");
        d.advice_code = Some("do_not_try_again".into());
        let c = classify(&d);
        assert!(c.network_forbids_retry);
        assert_eq!(c.category, DeclineCategory::Hard);
        d.advice_code = Some("confirm_card_data".into());
        assert_eq!(classify(&d).category, DeclineCategory::Hard);
        d.advice_code = Some("try_again_later".into());
        assert_eq!(classify(&d).category, DeclineCategory::Transient);
    }

    #[test]
    fn reads_the_402_body_of_our_own_retry() {
        let body = br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}"#;
        let c = classify(&DeclineDetails::from_error_body(body).unwrap());
        assert_eq!(c.category, DeclineCategory::Funds);
        assert_eq!(c.code, "insufficient_funds");
    }

    proptest::proptest! {
        /// Whatever the processor sends: no panic, and a card a network
        /// forbids to retry is never classified as retryable.
        #[test]
        fn never_retries_what_a_network_forbids(
            code in proptest::option::of("[a-z_]{0,30}"),
            decline in proptest::option::of(proptest::sample::select(
                [HARD, FUNDS, TRANSIENT, CUSTOMER_ACTION].concat())),
            advice in proptest::option::of(proptest::sample::select(
                vec!["do_not_try_again", "try_again_later", "confirm_card_data", ""])),
            network_advice in proptest::option::of("[0-9]{2}"),
            network_code in proptest::option::of(proptest::sample::select(
                [VISA_NEVER, &["05", "51", "61"]].concat())),
            brand in proptest::option::of(proptest::sample::select(vec!["visa", "Visa", "mastercard", "amex"])),
        ) {
            let d = DeclineDetails {
                code,
                decline_code: decline.map(str::to_owned),
                advice_code: advice.map(str::to_owned),
                network_advice_code: network_advice,
                network_decline_code: network_code.map(str::to_owned),
                card_brand: brand.map(str::to_owned),
                message: None,
            };
            let c = classify(&d);
            if c.network_forbids_retry {
                proptest::prop_assert!(!c.category.retryable(), "{c:?}");
            }
            proptest::prop_assert!(!c.code.is_empty());
        }
    }
}
