//! The invoice object in both API shapes: up to 2025-02-24 it carries
//! `subscription`, `charge`, `payment_intent` and `paid` at the top level;
//! from 2025-03-31 those moved to `parent.subscription_details`, the lines'
//! `parent.subscription_item_details` and `payments`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::expandable::{self, required, typed};
use super::timestamp;
use crate::domain::ids::{
    ChargeId, CustomerId, InvoiceId, PaymentIntentId, PriceId, SubscriptionId, SubscriptionItemId,
};
use crate::domain::money::{Currency, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Uncollectible,
    Void,
    #[serde(other)]
    Unknown,
}

impl Invoice {
    /// Reads an invoice object (an API response, or an event's `data.object`).
    pub fn from_json(object: &str) -> Result<Self, serde_json::Error> {
        parse(object)
    }
}

impl InvoiceStatus {
    /// Paid, voided or uncollectible invoices end a case instead of a retry.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Paid | Self::Void | Self::Uncollectible)
    }
}

/// What the subscription is billed for, from the invoice's first subscription line.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceLine {
    pub subscription_item: Option<SubscriptionItemId>,
    pub price: Option<PriceId>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    pub id: InvoiceId,
    pub customer: CustomerId,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    /// `customer_address.country` (two letters), when the invoice has it.
    pub customer_country: Option<String>,
    pub subscription: Option<SubscriptionId>,
    pub charge: Option<ChargeId>,
    pub payment_intent: Option<PaymentIntentId>,
    pub status: InvoiceStatus,
    pub amount_due: Money,
    pub amount_remaining: Money,
    /// What payments took (zero until paid).
    pub amount_paid: Money,
    pub attempt_count: u32,
    /// Set when the processor will retry the charge by itself.
    pub next_payment_attempt: Option<DateTime<Utc>>,
    pub hosted_invoice_url: Option<String>,
    /// The number the customer's invoice shows (`A1B2C3D4-0007`).
    pub number: Option<String>,
    pub billing_reason: Option<String>,
    pub created: DateTime<Utc>,
    pub line: Option<InvoiceLine>,
}

/// `invoice.upcoming` describes an invoice that does not exist yet: no id.
#[derive(Debug, Clone, PartialEq)]
pub struct UpcomingInvoice {
    pub customer: CustomerId,
    pub customer_email: Option<String>,
    pub subscription: Option<SubscriptionId>,
    pub amount_due: Money,
    /// When the renewal will be charged.
    pub next_payment_attempt: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub line: Option<InvoiceLine>,
}

#[derive(Deserialize)]
struct RawAddress {
    country: Option<String>,
}

#[derive(Deserialize)]
struct RawInvoice {
    id: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    customer: Option<String>,
    customer_email: Option<String>,
    customer_name: Option<String>,
    customer_address: Option<RawAddress>,
    // Shape before 2025-03-31.
    #[serde(default, deserialize_with = "expandable::id")]
    subscription: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    charge: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    payment_intent: Option<String>,
    paid: Option<bool>,
    // Shape from 2025-03-31.
    parent: Option<RawParent>,
    payments: Option<RawList<RawInvoicePayment>>,
    status: Option<InvoiceStatus>,
    amount_due: i64,
    amount_remaining: Option<i64>,
    #[serde(default)]
    amount_paid: i64,
    currency: Currency,
    #[serde(default)]
    attempt_count: u32,
    next_payment_attempt: Option<i64>,
    hosted_invoice_url: Option<String>,
    number: Option<String>,
    billing_reason: Option<String>,
    created: Option<i64>,
    period_end: Option<i64>,
    lines: Option<RawList<RawLine>>,
}

#[derive(Deserialize)]
struct RawList<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

#[derive(Deserialize)]
struct RawParent {
    subscription_details: Option<RawSubscriptionDetails>,
}

#[derive(Deserialize)]
struct RawSubscriptionDetails {
    #[serde(default, deserialize_with = "expandable::id")]
    subscription: Option<String>,
}

#[derive(Deserialize)]
struct RawInvoicePayment {
    payment: Option<RawPaymentRef>,
}

#[derive(Deserialize)]
struct RawPaymentRef {
    #[serde(default, deserialize_with = "expandable::id")]
    payment_intent: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    charge: Option<String>,
}

#[derive(Deserialize)]
struct RawLine {
    description: Option<String>,
    // Shape before 2025-03-31.
    #[serde(default, deserialize_with = "expandable::id")]
    subscription: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    subscription_item: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    price: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    plan: Option<String>,
    // Shape from 2025-03-31.
    parent: Option<RawLineParent>,
    pricing: Option<RawPricing>,
}

#[derive(Deserialize)]
struct RawLineParent {
    subscription_item_details: Option<RawItemDetails>,
}

#[derive(Deserialize)]
struct RawItemDetails {
    #[serde(default, deserialize_with = "expandable::id")]
    subscription: Option<String>,
    subscription_item: Option<String>,
}

#[derive(Deserialize)]
struct RawPricing {
    price_details: Option<RawPriceDetails>,
}

#[derive(Deserialize)]
struct RawPriceDetails {
    #[serde(default, deserialize_with = "expandable::id")]
    price: Option<String>,
}

struct Normalized {
    subscription: Option<String>,
    charge: Option<String>,
    payment_intent: Option<String>,
    line: Option<InvoiceLine>,
}

impl RawInvoice {
    /// Reads whichever shape is present, the older top-level fields first.
    fn normalize(&mut self) -> Result<Normalized, serde_json::Error> {
        let lines = self.lines.take().map(|l| l.data).unwrap_or_default();
        let line_subscription = lines.iter().find_map(|l| {
            l.subscription.clone().or_else(|| {
                l.parent
                    .as_ref()?
                    .subscription_item_details
                    .as_ref()?
                    .subscription
                    .clone()
            })
        });
        let line = match lines.into_iter().next() {
            Some(l) => Some(line_of(l)?),
            None => None,
        };
        let parent_subscription = self
            .parent
            .take()
            .and_then(|p| p.subscription_details)
            .and_then(|d| d.subscription);
        let payment = self
            .payments
            .take()
            .and_then(|p| p.data.into_iter().find_map(|p| p.payment));
        let (pay_charge, pay_intent) = payment
            .map(|p| (p.charge, p.payment_intent))
            .unwrap_or_default();
        Ok(Normalized {
            subscription: self
                .subscription
                .take()
                .or(parent_subscription)
                .or(line_subscription),
            charge: self.charge.take().or(pay_charge),
            payment_intent: self.payment_intent.take().or(pay_intent),
            line,
        })
    }

    fn status(&self) -> InvoiceStatus {
        match (self.status, self.paid) {
            (Some(status), _) => status,
            (None, Some(true)) => InvoiceStatus::Paid,
            (None, _) => InvoiceStatus::Open,
        }
    }
}

fn line_of(raw: RawLine) -> Result<InvoiceLine, serde_json::Error> {
    let item = raw.subscription_item.or(raw
        .parent
        .and_then(|p| p.subscription_item_details)
        .and_then(|d| d.subscription_item));
    let price = raw
        .price
        .or(raw
            .pricing
            .and_then(|p| p.price_details)
            .and_then(|d| d.price))
        .or(raw.plan);
    Ok(InvoiceLine {
        subscription_item: typed(
            item,
            "lines.subscription_item",
            SubscriptionItemId::try_from,
        )?,
        price: typed(price, "lines.price", PriceId::try_from)?,
        description: raw.description,
    })
}

fn money(minor: i64, currency: Currency, field: &str) -> Result<Money, serde_json::Error> {
    Money::from_minor(minor, currency)
        .map_err(|e| serde::de::Error::custom(format!("{field}: {e}")))
}

pub(super) fn parse(object: &str) -> Result<Invoice, serde_json::Error> {
    let mut raw: RawInvoice = serde_json::from_str(object)?;
    let n = raw.normalize()?;
    let status = raw.status();
    Ok(Invoice {
        id: required(raw.id, "id", InvoiceId::try_from)?,
        customer: required(raw.customer, "customer", CustomerId::try_from)?,
        customer_email: raw.customer_email,
        customer_name: raw.customer_name,
        customer_country: raw.customer_address.and_then(|a| a.country),
        subscription: typed(n.subscription, "subscription", SubscriptionId::try_from)?,
        charge: typed(n.charge, "charge", ChargeId::try_from)?,
        payment_intent: typed(
            n.payment_intent,
            "payment_intent",
            PaymentIntentId::try_from,
        )?,
        status,
        amount_due: money(raw.amount_due, raw.currency, "amount_due")?,
        amount_remaining: money(
            raw.amount_remaining.unwrap_or(raw.amount_due),
            raw.currency,
            "amount_remaining",
        )?,
        amount_paid: money(raw.amount_paid, raw.currency, "amount_paid")?,
        attempt_count: raw.attempt_count,
        next_payment_attempt: raw.next_payment_attempt.and_then(timestamp),
        hosted_invoice_url: raw.hosted_invoice_url,
        number: raw.number,
        billing_reason: raw.billing_reason,
        created: raw
            .created
            .and_then(timestamp)
            .ok_or_else(|| serde::de::Error::custom("created is missing"))?,
        line: n.line,
    })
}

pub(super) fn parse_upcoming(object: &str) -> Result<UpcomingInvoice, serde_json::Error> {
    let mut raw: RawInvoice = serde_json::from_str(object)?;
    let n = raw.normalize()?;
    Ok(UpcomingInvoice {
        customer: required(raw.customer, "customer", CustomerId::try_from)?,
        customer_email: raw.customer_email,
        subscription: typed(n.subscription, "subscription", SubscriptionId::try_from)?,
        amount_due: money(raw.amount_due, raw.currency, "amount_due")?,
        next_payment_attempt: raw.next_payment_attempt.and_then(timestamp),
        period_end: raw.period_end.and_then(timestamp),
        line: n.line,
    })
}
