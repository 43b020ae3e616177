//! A case as the engine reads it: the facts the processor told us about an
//! invoice, the stored case they were merged into, and how processor objects
//! point at their case. The store decodes rows into these.

use super::case::{CaseState, Track};
use super::decline::Classification;
use super::ids::{
    CaseId, ChargeId, CustomerId, InvoiceId, PaymentIntentId, PriceId, SubscriptionId,
    SubscriptionItemId,
};
use super::zones::ZoneSource;

/// What the processor told us about an invoice, merged into its case row.
#[derive(Debug, Clone)]
pub struct CaseFacts {
    pub invoice_id: InvoiceId,
    pub customer_id: CustomerId,
    pub subscription_id: Option<SubscriptionId>,
    pub subscription_item_id: Option<SubscriptionItemId>,
    pub price_id: Option<PriceId>,
    pub charge_id: Option<ChargeId>,
    pub payment_intent_id: Option<PaymentIntentId>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    /// What is owed (minor units); a settled invoice's zero remainder is
    /// never taken for it.
    pub amount_due: i64,
    /// What the invoice's payment took, once paid.
    pub amount_paid: Option<i64>,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub invoice_number: Option<String>,
    pub description: Option<String>,
    /// Facts read off the invoice itself win over those from a charge.
    pub from_invoice: bool,
    /// A country that places the customer, and where it came from.
    pub country: Option<(String, ZoneSource)>,
}

impl CaseFacts {
    /// Facts that name the invoice, its customer and what is owed; the rest
    /// unknown until set.
    pub fn new(
        invoice_id: InvoiceId,
        customer_id: CustomerId,
        amount_due: i64,
        currency: &str,
    ) -> Self {
        Self {
            invoice_id,
            customer_id,
            subscription_id: None,
            subscription_item_id: None,
            price_id: None,
            charge_id: None,
            payment_intent_id: None,
            customer_email: None,
            customer_name: None,
            amount_due,
            amount_paid: None,
            currency: currency.to_owned(),
            hosted_invoice_url: None,
            invoice_number: None,
            description: None,
            from_invoice: false,
            country: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CaseRow {
    pub id: CaseId,
    pub invoice_id: InvoiceId,
    pub customer_id: CustomerId,
    pub subscription_id: Option<SubscriptionId>,
    pub subscription_item_id: Option<SubscriptionItemId>,
    pub price_id: Option<PriceId>,
    pub charge_id: Option<ChargeId>,
    pub payment_intent_id: Option<PaymentIntentId>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub amount_due: i64,
    pub amount_paid: Option<i64>,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub invoice_number: Option<String>,
    pub description: Option<String>,
    pub timezone: String,
    /// Where the time zone came from (`invoice_address`, `card_country`,
    /// `policy_default`); `None` on cases older than this.
    pub timezone_source: Option<String>,
    /// The customer's country, from the same signal as the time zone.
    pub country: Option<String>,
    /// Why work on the case was given up; `None`: nothing to look at.
    pub needs_attention: Option<String>,
    /// The case's state; `None` while no case was opened for the invoice.
    pub state: Option<CaseState>,
    pub version: i64,
    pub track: Track,
    pub opened_at: Option<i64>,
    pub updated_at: i64,
    /// When the case reached its end (engine clock); `None` while live.
    pub ended_at: Option<i64>,
    /// The policy version the case opened under (and keeps); `None` while
    /// no case is open.
    pub policy_version: Option<i64>,
}

impl CaseRow {
    /// The invoice as people know it: its number, else the processor's id.
    pub fn invoice_label(&self) -> String {
        self.invoice_number
            .clone()
            .unwrap_or_else(|| self.invoice_id.to_string())
    }

    /// The customer as the operator knows them: their email, else the
    /// processor's id.
    pub fn customer_label(&self) -> String {
        self.customer_email
            .clone()
            .unwrap_or_else(|| self.customer_id.to_string())
    }

    /// Whether the case reached an end (recovered, canceled, closed…).
    pub fn has_ended(&self) -> bool {
        self.track
            .case
            .as_ref()
            .is_some_and(|c| c.state.is_terminal())
    }
}

/// Which column points a processor object at its case.
#[derive(Debug, Clone, Copy)]
pub enum CaseLink {
    Customer,
    Subscription,
    Charge,
    PaymentIntent,
}

/// A failed charge that names no invoice, waiting for its case.
#[derive(Debug, Clone)]
pub struct PaymentFailure {
    pub customer_id: CustomerId,
    pub charge_id: Option<ChargeId>,
    pub payment_intent_id: Option<PaymentIntentId>,
    pub amount: i64,
    pub currency: String,
    pub decline: Classification,
    pub event_id: String,
    pub at: i64,
}
