//! The simulated processor: the default on a fresh machine, so dunwell can
//! be tried without a processor account. No money moves. Outcomes are
//! scripted by the invoice id's suffix, deterministically:
//!
//! | invoice id ends with | retries |
//! | --- | --- |
//! | `_ok` | the first retry succeeds |
//! | `_recovers<N>` (e.g. `_recovers3`) | retries 1..N-1 decline `insufficient_funds`, retry N succeeds |
//! | `_<decline code>` (e.g. `_do_not_honor`, `_insufficient_funds`) | every retry declines with that code |
//! | `_<hard decline code>` (e.g. `_expired_card`, `_stolen_card`) | the failure was that code; dunwell retries only after a new payment method, and that retry succeeds |
//! | anything else | the first retry declines `insufficient_funds`, the second succeeds |
//!
//! A repeated idempotency key replays the first answer, as Stripe does.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{PayOutcome, ProcessorError};
use crate::domain::decline::classify;
use crate::domain::events::{DeclineDetails, Invoice};
use crate::domain::ids::InvoiceId;
use crate::trigger::builder::{self, Scenario};

#[derive(Debug, Default)]
struct State {
    /// Charge attempts per invoice.
    attempts: HashMap<String, u32>,
    paid: HashMap<String, bool>,
    replies: HashMap<String, PayOutcome>,
    /// Cards "added" on the simulated card page, per customer.
    cards_added: HashMap<String, u32>,
    /// Customers subscribed again after a cancel.
    resubscribed: std::collections::HashSet<String>,
}

#[derive(Debug, Default)]
pub struct SimulatedProcessor {
    state: Mutex<State>,
}

/// What the script says retry number `attempt` of `invoice` gets.
pub fn scripted_outcome(invoice: &str, attempt: u32) -> Result<(), String> {
    const FUNDS: &str = "insufficient_funds";
    if invoice.ends_with("_ok") {
        return Ok(());
    }
    if let Some(n) = invoice
        .rsplit_once("_recovers")
        .and_then(|(_, n)| n.parse::<u32>().ok())
    {
        return if attempt >= n.max(1) {
            Ok(())
        } else {
            Err(FUNDS.into())
        };
    }
    // The longest suffix that is a known decline code wins (`_card_velocity_exceeded`).
    let parts: Vec<&str> = invoice.split('_').collect();
    for start in 1..parts.len() {
        let code = parts[start..].join("_");
        let c = classify(&DeclineDetails {
            decline_code: Some(code.clone()),
            ..Default::default()
        });
        if !c.unknown {
            // dunwell retries a hard decline only with a new card, which works.
            return if c.category == crate::domain::decline::DeclineCategory::Hard {
                Ok(())
            } else {
                Err(code)
            };
        }
    }
    if attempt >= 2 {
        Ok(())
    } else {
        Err(FUNDS.into())
    }
}

impl SimulatedProcessor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The simulated card page: every visit adds a card, which becomes the
    /// customer's default.
    pub fn add_card(&self, customer: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state.cards_added.entry(customer.to_owned()).or_default() += 1;
    }

    /// The simulated checkout after a cancel: the customer is subscribed
    /// again.
    pub fn resubscribe(&self, customer: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.resubscribed.insert(customer.to_owned());
    }

    pub fn resubscribed(&self, customer: &str) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.resubscribed.contains(customer)
    }

    /// The customer's default payment method: the latest card added on the
    /// simulated card page (`None`: none was, and the one on file is not
    /// known here).
    pub fn default_payment_method(&self, customer: &str) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .cards_added
            .get(customer)
            .map(|n| format!("pm_sim_{customer}_{n}"))
    }

    fn invoice(&self, id: &InvoiceId, paid: bool) -> Result<Invoice, ProcessorError> {
        let scenario = Scenario {
            invoice: id.to_string(),
            ..Scenario::example("evt_simulated", crate::clock::unix_secs())
        };
        let event_type = if paid {
            "invoice.paid"
        } else {
            "invoice.payment_failed"
        };
        let event = builder::build(event_type, &scenario)
            .map_err(|e| ProcessorError::Protocol(e.to_string()))?;
        Invoice::from_json(&event["data"]["object"].to_string())
            .map_err(|e| ProcessorError::Protocol(e.to_string()))
    }

    pub fn pay_invoice(
        &self,
        invoice: &InvoiceId,
        idempotency_key: &str,
    ) -> Result<PayOutcome, ProcessorError> {
        let mut state = self.state.lock().expect("simulated state");
        if let Some(reply) = state.replies.get(idempotency_key) {
            return Ok(reply.clone());
        }
        let attempt = {
            let n = state.attempts.entry(invoice.to_string()).or_default();
            *n += 1;
            *n
        };
        let outcome = match scripted_outcome(invoice.as_str(), attempt) {
            Ok(()) => {
                state.paid.insert(invoice.to_string(), true);
                PayOutcome::Paid(Box::new(self.invoice(invoice, true)?))
            }
            Err(code) => PayOutcome::Declined(DeclineDetails {
                code: Some(builder::failure_code(&code).to_owned()),
                decline_code: Some(code),
                message: Some("Simulated decline (no real money moves).".into()),
                ..Default::default()
            }),
        };
        tracing::info!(invoice = %invoice, attempt, "simulated processor: scripted charge attempt");
        state
            .replies
            .insert(idempotency_key.to_owned(), outcome.clone());
        Ok(outcome)
    }

    /// A subscription or invoice change: nothing to simulate but the log line.
    pub fn record(&self, action: &str, object: &str) -> Result<(), ProcessorError> {
        tracing::info!(action, object, "simulated processor: no real change made");
        Ok(())
    }

    pub fn get_invoice(&self, invoice: &InvoiceId) -> Result<Invoice, ProcessorError> {
        let paid = self
            .state
            .lock()
            .expect("simulated state")
            .paid
            .get(invoice.as_str())
            .copied()
            .unwrap_or(false);
        self.invoice(invoice, paid)
    }
}

/// The simulated processor's price for `id`: 19.00 USD a month, or 190.00
/// a year when the id names a year; the product named after the id
/// (`price_basic_monthly` → "Basic").
pub fn price(id: &crate::domain::ids::PriceId) -> crate::domain::price::Price {
    use crate::domain::price::{Interval, Price, Recurring};
    let raw = id.as_str().trim_start_matches("price_");
    let yearly = raw.contains("year") || raw.contains("annual");
    let name = raw
        .split(['_', '-'])
        .find(|w| !w.is_empty() && !["monthly", "month", "yearly", "year", "annual"].contains(w))
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        });
    Price {
        id: id.clone(),
        product: name,
        unit_amount: if yearly { 19_000 } else { 1_900 },
        currency: "usd".into(),
        recurring: Some(Recurring {
            interval: if yearly {
                Interval::Year
            } else {
                Interval::Month
            },
            count: 1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> InvoiceId {
        InvoiceId::parse(s).unwrap()
    }

    fn declined_with(outcome: &PayOutcome) -> Option<String> {
        match outcome {
            PayOutcome::Declined(d) => d.decline_code.clone(),
            PayOutcome::Paid(_) => None,
        }
    }

    #[test]
    fn the_script_by_suffix() {
        assert_eq!(scripted_outcome("in_1_ok", 1), Ok(()));
        assert_eq!(
            scripted_outcome("in_1_recovers3", 2),
            Err("insufficient_funds".into())
        );
        assert_eq!(scripted_outcome("in_1_recovers3", 3), Ok(()));
        assert_eq!(scripted_outcome("in_1_expired_card", 1), Ok(()));
        assert_eq!(
            scripted_outcome("in_1_do_not_honor", 9),
            Err("do_not_honor".into())
        );
        assert_eq!(
            scripted_outcome("in_1_card_velocity_exceeded", 1),
            Err("card_velocity_exceeded".into())
        );
        assert_eq!(
            scripted_outcome("in_1abc", 1),
            Err("insufficient_funds".into())
        );
        assert_eq!(scripted_outcome("in_1abc", 2), Ok(()));
    }

    #[test]
    fn a_repeated_key_replays_and_counts_once() {
        let p = SimulatedProcessor::new();
        let invoice = id("in_sim_recovers2");
        let first = p.pay_invoice(&invoice, "k1").unwrap();
        assert_eq!(declined_with(&first).as_deref(), Some("insufficient_funds"));
        // The same job run again: same answer, no second charge attempt.
        assert_eq!(p.pay_invoice(&invoice, "k1").unwrap(), first);
        assert!(!p.get_invoice(&invoice).unwrap().status.is_settled());
        let second = p.pay_invoice(&invoice, "k2").unwrap();
        assert!(matches!(second, PayOutcome::Paid(_)));
        assert!(p.get_invoice(&invoice).unwrap().status.is_settled());
    }
}
