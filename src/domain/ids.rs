//! Typed identifiers. Each is built only through `parse`, which checks the
//! processor's prefix convention, so a `CustomerId` can never hold an invoice id.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must look like `{prefix}...` (letters, digits, `_`), got {shown:?}")]
pub struct IdError {
    kind: &'static str,
    prefix: &'static str,
    shown: String,
}

/// Longest id we accept; Stripe's are well under 100 characters.
const MAX_ID_LEN: usize = 255;

fn check(raw: &str, kind: &'static str, prefixes: &'static [&'static str]) -> Result<(), IdError> {
    let well_formed = raw.len() <= MAX_ID_LEN
        && prefixes
            .iter()
            .any(|p| raw.len() > p.len() && raw.starts_with(p))
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(IdError {
            kind,
            prefix: prefixes[0],
            shown: raw.chars().take(40).collect(),
        })
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, [$($prefix:literal),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIXES: &'static [&'static str] = &[$($prefix),+];

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check(raw, $kind, Self::PREFIXES)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                check(&raw, $kind, Self::PREFIXES)?;
                Ok(Self(raw))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::try_from(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A processor event (`evt_...`).
    EventId, "event id", ["evt_"]
);
typed_id!(InvoiceId, "invoice id", ["in_"]);
typed_id!(CustomerId, "customer id", ["cus_"]);
typed_id!(SubscriptionId, "subscription id", ["sub_"]);
typed_id!(
    /// Subscription item (`si_...`), needed to change the plan of a subscription.
    SubscriptionItemId, "subscription item id", ["si_"]
);
typed_id!(ChargeId, "charge id", ["ch_", "py_"]);
typed_id!(PaymentIntentId, "payment intent id", ["pi_"]);
typed_id!(
    /// A payment method: modern `pm_`, legacy card `card_` or source `src_`.
    PaymentMethodId, "payment method id", ["pm_", "card_", "src_", "ba_"]
);
typed_id!(PriceId, "price id", ["price_", "plan_"]);
typed_id!(DisputeId, "dispute id", ["dp_", "du_"]);

/// A case: its row in `cases`. Made from a number the store read, an
/// operator's URL or a signed link's subject (a case that does not exist
/// is then simply not found): a case id is never an invoice's,
/// a work row's or an event's number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct CaseId(i64);

impl CaseId {
    pub const fn new(raw: i64) -> Self {
        Self(raw)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_ids() {
        assert_eq!(InvoiceId::parse("in_1Q2w3E").unwrap().as_str(), "in_1Q2w3E");
        assert!(ChargeId::parse("py_123").is_ok());
        assert!(PaymentMethodId::parse("card_1abc").is_ok());
    }

    #[test]
    fn rejects_wrong_prefix_empty_tail_and_odd_characters() {
        assert!(InvoiceId::parse("cus_123").is_err());
        assert!(InvoiceId::parse("in_").is_err());
        assert!(InvoiceId::parse("in_12 3").is_err());
        assert!(InvoiceId::parse("in_12'--").is_err());
        assert!(InvoiceId::parse(&format!("in_{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn error_names_the_kind_and_expected_prefix() {
        let err = CustomerId::parse("in_1").unwrap_err().to_string();
        assert!(err.contains("customer id") && err.contains("cus_"), "{err}");
    }

    #[test]
    fn deserialize_goes_through_parse() {
        let ok: SubscriptionId = serde_json::from_str("\"sub_9\"").unwrap();
        assert_eq!(ok.to_string(), "sub_9");
        assert!(serde_json::from_str::<SubscriptionId>("\"in_9\"").is_err());
    }
}
