//! Customers, their payment methods (and legacy cards) and subscriptions.

use serde::Deserialize;

use super::expandable::{self, required, typed};
use crate::domain::ids::{
    CustomerId, PaymentMethodId, PriceId, SubscriptionId, SubscriptionItemId,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardExpiry {
    pub month: u32,
    pub year: i32,
}

impl CardExpiry {
    /// The first instant the card no longer works: cards are valid through
    /// the last day of their expiry month.
    pub fn lapses_at(self) -> Option<chrono::DateTime<chrono::Utc>> {
        let (year, month) = if self.month >= 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        chrono::NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    }

    /// Whether a charge at `at` would meet an expired card.
    pub fn expired_by(self, at: chrono::DateTime<chrono::Utc>) -> bool {
        self.lapses_at().is_some_and(|lapse| lapse <= at)
    }
}

/// A PaymentMethod (`payment_method.attached`) or a legacy card
/// (`customer.source.expiring`), reduced to what dunning needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub customer: Option<CustomerId>,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub expiry: Option<CardExpiry>,
    /// The issuing bank's country (two letters).
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: CustomerId,
    pub email: Option<String>,
    pub name: Option<String>,
    pub default_payment_method: Option<PaymentMethodId>,
    pub country: Option<String>,
    /// Languages the customer reads, in order (`["de-DE", "en"]`).
    pub preferred_locales: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub customer: CustomerId,
    pub status: Option<String>,
    pub item: Option<SubscriptionItemId>,
    pub price: Option<PriceId>,
}

#[derive(Deserialize)]
pub(super) struct RawCard {
    pub(super) brand: Option<String>,
    last4: Option<String>,
    /// The issuing bank's country.
    country: Option<String>,
    exp_month: Option<u32>,
    exp_year: Option<i32>,
}

impl RawCard {
    /// The card as the payment method `id` of `customer`.
    pub(super) fn into_method(
        self,
        id: PaymentMethodId,
        customer: Option<CustomerId>,
    ) -> PaymentMethod {
        PaymentMethod {
            id,
            customer,
            expiry: expiry(&self),
            brand: self.brand,
            last4: self.last4,
            country: self.country,
        }
    }
}

#[derive(Deserialize)]
struct RawPaymentMethod {
    id: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    customer: Option<String>,
    /// PaymentMethods nest the card; legacy card objects are the card.
    card: Option<RawCard>,
    #[serde(flatten)]
    legacy: RawCard,
}

fn expiry(card: &RawCard) -> Option<CardExpiry> {
    match (card.exp_month, card.exp_year) {
        (Some(month @ 1..=12), Some(year)) => Some(CardExpiry { month, year }),
        _ => None,
    }
}

pub(super) fn parse_payment_method(object: &str) -> Result<PaymentMethod, serde_json::Error> {
    let raw: RawPaymentMethod = serde_json::from_str(object)?;
    let card = raw.card.unwrap_or(raw.legacy);
    Ok(card.into_method(
        required(raw.id, "id", PaymentMethodId::try_from)?,
        typed(raw.customer, "customer", CustomerId::try_from)?,
    ))
}

#[derive(Deserialize)]
struct RawCustomer {
    id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    invoice_settings: Option<RawInvoiceSettings>,
    #[serde(default, deserialize_with = "expandable::id")]
    default_source: Option<String>,
    address: Option<RawAddress>,
    #[serde(default)]
    preferred_locales: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawInvoiceSettings {
    #[serde(default, deserialize_with = "expandable::id")]
    default_payment_method: Option<String>,
}

#[derive(Deserialize)]
struct RawAddress {
    country: Option<String>,
}

impl Customer {
    /// Reads a customer object (an API response, or an event's `data.object`).
    pub fn from_json(object: &str) -> Result<Self, serde_json::Error> {
        parse_customer(object)
    }
}

pub(super) fn parse_customer(object: &str) -> Result<Customer, serde_json::Error> {
    let raw: RawCustomer = serde_json::from_str(object)?;
    let method = raw
        .invoice_settings
        .and_then(|s| s.default_payment_method)
        .or(raw.default_source);
    Ok(Customer {
        preferred_locales: raw.preferred_locales.clone().unwrap_or_default(),
        id: required(raw.id, "id", CustomerId::try_from)?,
        email: raw.email,
        name: raw.name,
        default_payment_method: typed(method, "default_payment_method", PaymentMethodId::try_from)?,
        country: raw.address.and_then(|a| a.country),
    })
}

/// `customer.updated` lists the old values of what changed in
/// `previous_attributes`; a changed default payment method shows up there.
pub(super) fn default_payment_method_changed(
    previous: Option<&str>,
) -> Result<bool, serde_json::Error> {
    let Some(previous) = previous else {
        return Ok(false);
    };
    let value: serde_json::Value = serde_json::from_str(previous)?;
    let settings_changed = value
        .get("invoice_settings")
        .is_some_and(|s| s.get("default_payment_method").is_some());
    Ok(settings_changed || value.get("default_source").is_some())
}

#[derive(Deserialize)]
struct RawSubscription {
    id: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    customer: Option<String>,
    status: Option<String>,
    items: Option<RawItems>,
}

#[derive(Deserialize)]
struct RawItems {
    #[serde(default)]
    data: Vec<RawItem>,
}

#[derive(Deserialize)]
struct RawItem {
    id: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    price: Option<String>,
}

pub(super) fn parse_subscription(object: &str) -> Result<Subscription, serde_json::Error> {
    let raw: RawSubscription = serde_json::from_str(object)?;
    let first = raw.items.and_then(|i| i.data.into_iter().next());
    let (item, price) = first.map(|i| (i.id, i.price)).unwrap_or_default();
    Ok(Subscription {
        id: required(raw.id, "id", SubscriptionId::try_from)?,
        customer: required(raw.customer, "customer", CustomerId::try_from)?,
        status: raw.status,
        item: typed(item, "items.id", SubscriptionItemId::try_from)?,
        price: typed(price, "items.price", PriceId::try_from)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_works_through_its_expiry_month() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let dec = CardExpiry {
            month: 12,
            year: 2026,
        };
        assert!(!dec.expired_by(at("2026-12-31T23:59:59Z")));
        assert!(dec.expired_by(at("2027-01-01T00:00:00Z")));
        let june = CardExpiry {
            month: 6,
            year: 2026,
        };
        assert_eq!(june.lapses_at(), Some(at("2026-07-01T00:00:00Z")));
    }
}
