//! Failed charges, failed payment intents and disputes: where the decline
//! code lives (it is never on the invoice).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::customer::{PaymentMethod, RawCard};
use super::expandable::{self, required, typed};
use super::timestamp;
use crate::domain::ids::{
    ChargeId, CustomerId, DisputeId, InvoiceId, PaymentIntentId, PaymentMethodId,
};
use crate::domain::money::{Currency, Money};

/// Everything the processor told us about why a payment was refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclineDetails {
    /// `card_declined`, `expired_card`, `authentication_required`...
    pub code: Option<String>,
    /// The issuer's reason: `insufficient_funds`, `do_not_honor`...
    pub decline_code: Option<String>,
    /// Stripe's advice: `do_not_try_again`, `try_again_later`, `confirm_card_data`.
    pub advice_code: Option<String>,
    /// Mastercard merchant advice code (`03`, `21`, `24`...).
    pub network_advice_code: Option<String>,
    /// Raw network response code (Visa `05`, `51`...).
    pub network_decline_code: Option<String>,
    pub card_brand: Option<String>,
    /// For the operator only: may name fraud reasons.
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub id: ChargeId,
    pub customer: Option<CustomerId>,
    pub invoice: Option<InvoiceId>,
    pub payment_intent: Option<PaymentIntentId>,
    pub payment_method: Option<PaymentMethodId>,
    pub amount: Money,
    pub created: DateTime<Utc>,
    pub decline: DeclineDetails,
    /// The card charged (brand, last 4, expiry), when the charge names it.
    pub card: Option<PaymentMethod>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentIntent {
    pub id: PaymentIntentId,
    pub customer: Option<CustomerId>,
    /// Present up to 2025-02-24; later the invoice links to the intent instead.
    pub invoice: Option<InvoiceId>,
    pub payment_method: Option<PaymentMethodId>,
    pub amount: Money,
    pub decline: DeclineDetails,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dispute {
    pub id: DisputeId,
    pub charge: Option<ChargeId>,
    pub payment_intent: Option<PaymentIntentId>,
    pub amount: Money,
    pub reason: Option<String>,
    /// `needs_response`, `under_review`, `won`, `lost`, `warning_closed`...
    pub status: Option<String>,
}

#[derive(Deserialize)]
struct RawCharge {
    id: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    customer: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    invoice: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    payment_intent: Option<String>,
    payment_method: Option<String>,
    amount: i64,
    currency: Currency,
    created: Option<i64>,
    failure_code: Option<String>,
    failure_message: Option<String>,
    outcome: Option<RawOutcome>,
    payment_method_details: Option<RawMethodDetails>,
}

#[derive(Deserialize)]
struct RawOutcome {
    reason: Option<String>,
    advice_code: Option<String>,
    network_advice_code: Option<String>,
    network_decline_code: Option<String>,
    seller_message: Option<String>,
}

#[derive(Deserialize)]
struct RawMethodDetails {
    card: Option<RawCard>,
}

impl Charge {
    /// Reads a charge object (an API response, or an event's `data.object`).
    pub fn from_json(object: &str) -> Result<Self, serde_json::Error> {
        parse_charge(object)
    }
}

pub(super) fn parse_charge(object: &str) -> Result<Charge, serde_json::Error> {
    let raw: RawCharge = serde_json::from_str(object)?;
    let outcome = raw.outcome;
    let customer = typed(raw.customer, "customer", CustomerId::try_from)?;
    let payment_method = typed(
        raw.payment_method,
        "payment_method",
        PaymentMethodId::try_from,
    )?;
    let card = raw.payment_method_details.and_then(|d| d.card);
    let decline = DeclineDetails {
        code: raw.failure_code,
        decline_code: outcome.as_ref().and_then(|o| o.reason.clone()),
        advice_code: outcome.as_ref().and_then(|o| o.advice_code.clone()),
        network_advice_code: outcome.as_ref().and_then(|o| o.network_advice_code.clone()),
        network_decline_code: outcome
            .as_ref()
            .and_then(|o| o.network_decline_code.clone()),
        card_brand: card.as_ref().and_then(|c| c.brand.clone()),
        message: raw
            .failure_message
            .or_else(|| outcome.and_then(|o| o.seller_message)),
    };
    let card = match (card, &payment_method) {
        (Some(card), Some(id)) => Some(card.into_method(id.clone(), customer.clone())),
        _ => None,
    };
    Ok(Charge {
        id: required(raw.id, "id", ChargeId::try_from)?,
        customer,
        invoice: typed(raw.invoice, "invoice", InvoiceId::try_from)?,
        payment_intent: typed(
            raw.payment_intent,
            "payment_intent",
            PaymentIntentId::try_from,
        )?,
        payment_method,
        card,
        amount: Money::from_minor(raw.amount, raw.currency).map_err(serde::de::Error::custom)?,
        created: raw
            .created
            .and_then(timestamp)
            .ok_or_else(|| serde::de::Error::custom("created is missing"))?,
        decline,
    })
}

#[derive(Deserialize)]
struct RawPaymentIntent {
    id: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    customer: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    invoice: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    payment_method: Option<String>,
    amount: i64,
    currency: Currency,
    last_payment_error: Option<RawPaymentError>,
}

/// The `error` object of Stripe: also the body of a 402 from `/pay`.
#[derive(Deserialize)]
pub(crate) struct RawPaymentError {
    code: Option<String>,
    decline_code: Option<String>,
    advice_code: Option<String>,
    network_advice_code: Option<String>,
    network_decline_code: Option<String>,
    message: Option<String>,
    payment_method: Option<RawErrorMethod>,
}

#[derive(Deserialize)]
struct RawErrorMethod {
    id: Option<String>,
    card: Option<RawCard>,
}

impl From<RawPaymentError> for DeclineDetails {
    fn from(e: RawPaymentError) -> Self {
        Self {
            code: e.code,
            decline_code: e.decline_code,
            advice_code: e.advice_code,
            network_advice_code: e.network_advice_code,
            network_decline_code: e.network_decline_code,
            card_brand: e.payment_method.and_then(|m| m.card?.brand),
            message: e.message,
        }
    }
}

impl DeclineDetails {
    /// Reads `{"error": {...}}`, the body of a refused `POST /v1/invoices/{id}/pay`.
    pub fn from_error_body(body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Body {
            error: RawPaymentError,
        }
        serde_json::from_slice::<Body>(body)
            .ok()
            .map(|b| b.error.into())
    }
}

pub(super) fn parse_payment_intent(object: &str) -> Result<PaymentIntent, serde_json::Error> {
    let raw: RawPaymentIntent = serde_json::from_str(object)?;
    let method_from_error = raw
        .last_payment_error
        .as_ref()
        .and_then(|e| e.payment_method.as_ref()?.id.clone());
    Ok(PaymentIntent {
        id: required(raw.id, "id", PaymentIntentId::try_from)?,
        customer: typed(raw.customer, "customer", CustomerId::try_from)?,
        invoice: typed(raw.invoice, "invoice", InvoiceId::try_from)?,
        payment_method: typed(
            raw.payment_method.or(method_from_error),
            "payment_method",
            PaymentMethodId::try_from,
        )?,
        amount: Money::from_minor(raw.amount, raw.currency).map_err(serde::de::Error::custom)?,
        decline: raw.last_payment_error.map(Into::into).unwrap_or_default(),
    })
}

#[derive(Deserialize)]
struct RawDispute {
    id: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    charge: Option<String>,
    #[serde(default, deserialize_with = "expandable::id")]
    payment_intent: Option<String>,
    amount: i64,
    currency: Currency,
    reason: Option<String>,
    status: Option<String>,
}

pub(super) fn parse_dispute(object: &str) -> Result<Dispute, serde_json::Error> {
    let raw: RawDispute = serde_json::from_str(object)?;
    Ok(Dispute {
        id: required(raw.id, "id", DisputeId::try_from)?,
        charge: typed(raw.charge, "charge", ChargeId::try_from)?,
        payment_intent: typed(
            raw.payment_intent,
            "payment_intent",
            PaymentIntentId::try_from,
        )?,
        amount: Money::from_minor(raw.amount, raw.currency).map_err(serde::de::Error::custom)?,
        reason: raw.reason,
        status: raw.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_402_body_of_a_refused_pay() {
        let body = br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}"#;
        let d = DeclineDetails::from_error_body(body).unwrap();
        assert_eq!(d.code.as_deref(), Some("card_declined"));
        assert_eq!(d.decline_code.as_deref(), Some("insufficient_funds"));
        assert!(DeclineDetails::from_error_body(b"<html>").is_none());
    }
}
