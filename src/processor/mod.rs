//! The payment processor, seen from dunwell: the calls of DESIGN.md
//! ("Processor calls"), each POST with an idempotency key derived from
//! (case, action, attempt).

pub mod simulated;
pub mod stripe;

use crate::domain::events::{Charge, Customer, DeclineDetails, Invoice};
use crate::domain::ids::{
    ChargeId, CustomerId, InvoiceId, PriceId, SubscriptionId, SubscriptionItemId,
};
use crate::domain::price::Price;

/// The idempotency key of one side effect: a re-run job sends the same key,
/// so the processor replays its first answer instead of acting twice.
/// Stripe's keys are account-wide, so a key names the invoice (unique in the
/// account) and this install (a random id stored in its database: a second
/// install, or the same one after a database reset, never reuses a key).
/// `fresh` counts the earlier answers stored under this attempt's keys that
/// call for a new key (5xx, idempotency errors).
pub fn idempotency_key(
    install: &str,
    invoice: &str,
    action: &str,
    attempt: u32,
    fresh: u32,
) -> String {
    let base = format!("dunwell-{install}-{invoice}-{action}-{attempt}");
    match fresh {
        0 => base,
        n => format!("{base}-r{n}"),
    }
}

/// What a charge attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PayOutcome {
    /// The invoice is paid.
    Paid(Box<Invoice>),
    /// The card was refused (HTTP 402 `card_error`).
    Declined(DeclineDetails),
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The processor failed while acting (HTTP 5xx). It stores that answer
    /// for the key, so re-read the invoice and make a fresh attempt later.
    #[error("processor error {status}: {message}")]
    Server { status: u16, message: String },
    /// Refused as invalid (HTTP 4xx other than 402/429): retrying will not help.
    #[error("processor refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// The idempotency key was used before for another request (Stripe's
    /// `idempotency_error`): a bug, or another install on the account.
    /// Logged loudly; the work goes on under a fresh key.
    #[error("idempotency key already used for another request: {0}")]
    KeyReused(String),
    /// Timeouts, connection errors and 429s that outlasted our own retries.
    #[error("processor unreachable: {0}")]
    Unreachable(String),
    #[error("unexpected processor answer: {0}")]
    Protocol(String),
}

/// The processor configured (`DUNWELL_PROCESSOR`).
#[derive(Debug, Clone)]
pub enum Processor {
    Stripe(stripe::StripeClient),
    Simulated(std::sync::Arc<simulated::SimulatedProcessor>),
}

impl Processor {
    /// The configured processor; on PostgreSQL its calls keep to the rate
    /// limit together with every other process on `store`.
    pub fn from_config(
        config: &crate::config::Config,
        store: &crate::store::Store,
    ) -> anyhow::Result<Self> {
        use crate::config::ProcessorKind;
        Ok(match config.processor {
            ProcessorKind::Stripe => {
                let key = config.stripe_api_key.clone().ok_or_else(|| {
                    anyhow::anyhow!("processor = stripe needs DUNWELL_STRIPE_API_KEY")
                })?;
                Self::Stripe(
                    stripe::StripeClient::new(
                        config.stripe_api_base.clone(),
                        key,
                        std::time::Duration::from_secs(config.stripe_timeout_secs),
                        config.stripe_max_rps,
                    )?
                    .sharing_pace(store),
                )
            }
            ProcessorKind::Simulated => Self::Simulated(Default::default()),
        })
    }

    pub async fn pay_invoice(
        &self,
        invoice: &InvoiceId,
        idempotency_key: &str,
    ) -> Result<PayOutcome, ProcessorError> {
        match self {
            Self::Stripe(c) => c.pay_invoice(invoice, idempotency_key).await,
            Self::Simulated(s) => s.pay_invoice(invoice, idempotency_key),
        }
    }

    pub async fn get_invoice(&self, invoice: &InvoiceId) -> Result<Invoice, ProcessorError> {
        match self {
            Self::Stripe(c) => c.get_invoice(invoice).await,
            Self::Simulated(s) => s.get_invoice(invoice),
        }
    }

    /// A processor-hosted page where the customer replaces their card, which
    /// sends them back to `return_url`; returns the page's URL. The
    /// simulated processor has no such page: the customer goes straight back
    /// (as if they had added a card).
    pub async fn card_update_session(
        &self,
        customer: &CustomerId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, ProcessorError> {
        match self {
            Self::Stripe(c) => {
                c.card_update_session(customer, return_url, idempotency_key)
                    .await
            }
            Self::Simulated(s) => {
                tracing::info!(customer = %customer, "simulated processor: no card page, straight back with a new card");
                s.add_card(customer.as_str());
                Ok(return_url.to_owned())
            }
        }
    }

    /// The processor's account page for the customer (where a canceled
    /// subscription can be reactivated), which sends them back to
    /// `return_url`; returns the page's URL. The simulated processor has no
    /// such page: the customer goes straight back.
    pub async fn account_session(
        &self,
        customer: &CustomerId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, ProcessorError> {
        match self {
            Self::Stripe(c) => {
                c.account_session(customer, return_url, idempotency_key)
                    .await
            }
            Self::Simulated(_) => {
                tracing::info!(customer = %customer, "simulated processor: no account page, straight back");
                Ok(return_url.to_owned())
            }
        }
    }

    /// Where a canceled customer starts their subscription again: a
    /// checkout page for the canceled `subscription`'s prices (back to
    /// `return_url`), or, when that subscription cannot be copied, the
    /// account page. The simulated processor has neither page: the
    /// customer is subscribed again and goes straight back.
    pub async fn resubscribe_session(
        &self,
        customer: &CustomerId,
        subscription: Option<&SubscriptionId>,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, ProcessorError> {
        match self {
            Self::Stripe(c) => {
                if let Some(subscription) = subscription
                    && let Some(url) = c
                        .resubscribe_session(customer, subscription, return_url, idempotency_key)
                        .await?
                {
                    return Ok(url);
                }
                // An account page lives minutes: a fresh one each time.
                let fresh = format!("{idempotency_key}-{}", crate::random::base62(12));
                self.account_session(customer, return_url, &fresh).await
            }
            Self::Simulated(s) => {
                tracing::info!(customer = %customer, "simulated processor: no checkout page, subscribed again");
                s.resubscribe(customer.as_str());
                Ok(return_url.to_owned())
            }
        }
    }

    /// Whether `customer` came back after subscription `old` was canceled:
    /// a live subscription created at or after `since` (unix seconds, real
    /// time) that the reactivate button made or that has one of `old`'s
    /// prices.
    pub async fn subscribed_again(
        &self,
        customer: &CustomerId,
        old: Option<&SubscriptionId>,
        since: i64,
    ) -> Result<bool, ProcessorError> {
        match self {
            Self::Stripe(c) => c.subscribed_again(customer, old, since).await,
            Self::Simulated(s) => Ok(s.resubscribed(customer.as_str())),
        }
    }

    /// The customer's default payment method as the processor has it now
    /// (`pm_...`; `None`: none, or no such customer).
    pub async fn default_payment_method(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<String>, ProcessorError> {
        match self {
            Self::Stripe(c) => Ok(c
                .get_customer(customer)
                .await?
                .and_then(|c| c.default_payment_method)
                .map(|m| m.to_string())),
            Self::Simulated(s) => Ok(s.default_payment_method(customer.as_str())),
        }
    }

    /// The charge (whose customer a dispute touches); `None`: unknown.
    pub async fn get_charge(&self, charge: &ChargeId) -> Result<Option<Charge>, ProcessorError> {
        match self {
            Self::Stripe(c) => c.get_charge(charge).await,
            // The simulation keeps no charges.
            Self::Simulated(_) => Ok(None),
        }
    }

    /// The customer (email, name) when an event lacks them; `None`: unknown.
    pub async fn get_customer(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Customer>, ProcessorError> {
        match self {
            Self::Stripe(c) => c.get_customer(customer).await,
            // The simulation keeps no customers.
            Self::Simulated(_) => Ok(None),
        }
    }

    pub async fn cancel_subscription(
        &self,
        subscription: &SubscriptionId,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        match self {
            Self::Stripe(c) => c.cancel_subscription(subscription, idempotency_key).await,
            Self::Simulated(s) => s.record("cancel", subscription.as_str()),
        }
    }

    pub async fn change_price(
        &self,
        subscription: &SubscriptionId,
        item: &SubscriptionItemId,
        price: &PriceId,
        proration: &str,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        match self {
            Self::Stripe(c) => {
                c.change_price(subscription, item, price, proration, idempotency_key)
                    .await
            }
            Self::Simulated(s) => s.record("downgrade", subscription.as_str()),
        }
    }

    /// Pauses collection, until `resumes_at` (unix seconds) when given.
    pub async fn pause_collection(
        &self,
        subscription: &SubscriptionId,
        resumes_at: Option<i64>,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        match self {
            Self::Stripe(c) => {
                c.pause_collection(subscription, resumes_at, idempotency_key)
                    .await
            }
            Self::Simulated(s) => s.record("pause", subscription.as_str()),
        }
    }

    /// The price `price` as the processor states it (`None`: unknown).
    /// The simulated processor invents one from the id: 19.00 USD a month,
    /// or 190.00 a year for an id that names a year.
    pub async fn price(&self, price: &PriceId) -> Result<Option<Price>, ProcessorError> {
        match self {
            Self::Stripe(c) => c.get_price(price).await,
            Self::Simulated(_) => Ok(Some(simulated::price(price))),
        }
    }

    pub async fn mark_uncollectible(
        &self,
        invoice: &InvoiceId,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        match self {
            Self::Stripe(c) => c.mark_uncollectible(invoice, idempotency_key).await,
            Self::Simulated(s) => s.record("mark_uncollectible", invoice.as_str()),
        }
    }
}
