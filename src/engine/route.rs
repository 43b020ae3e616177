//! Where an event goes: which case (by invoice, or by the customer, charge
//! or subscription it names) and what it means for that case.

use crate::domain::case::EventInput;
use crate::domain::decline::{Classification, classify};
use chrono::{DateTime, Utc};

use crate::domain::case_record::{CaseFacts, CaseLink};
use crate::domain::dispute::DisputeState;
use crate::domain::events::{
    Charge, Dispute, Event, EventKind, Invoice, PaymentIntent, PaymentMethod,
};
use crate::domain::ids::{ChargeId, CustomerId, PaymentIntentId};
use crate::domain::money::Money;
use crate::domain::notice::Card;
use crate::domain::zones::ZoneSource;

#[derive(Debug, Clone, Default)]
pub struct Routed {
    /// The invoice the event is about: its case is created when new.
    pub facts: Option<CaseFacts>,
    /// Otherwise, the existing cases this points at.
    pub link: Option<(CaseLink, String)>,
    /// What it means; `None`: nothing for a case.
    pub what: Option<EventInput>,
    /// A successful payment to remember: (invoice, customer).
    pub payment: Option<(String, String)>,
    /// A failed charge that names no invoice (the newer API shape): matched
    /// to the customer's case by amount when no case knows its ids.
    pub unlinked: Option<Unlinked>,
    /// The customer's card, to remember (pre-dunning checks renewals
    /// against it).
    pub card: Option<Card>,
    /// A reason to warn the customer before a payment fails.
    pub pre_dunning: Option<PreDunning>,
    /// A dispute opened or closed: it touches all of its customer's cases.
    pub dispute: Option<DisputeNews>,
}

/// What a dispute event says.
#[derive(Debug, Clone)]
pub struct DisputeNews {
    pub id: String,
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    pub state: DisputeState,
    /// The processor's word (`needs_response`, `won`, `lost`...).
    pub status: String,
}

fn dispute_news(dispute: &Dispute, closed: bool) -> DisputeNews {
    let status = dispute.status.clone().unwrap_or_else(|| "open".into());
    let state = match (closed, status.as_str()) {
        (false, _) => DisputeState::Open,
        (true, "won") => DisputeState::Won,
        (true, _) => DisputeState::ClosedOtherwise,
    };
    DisputeNews {
        id: dispute.id.to_string(),
        charge: dispute.charge.as_ref().map(ToString::to_string),
        payment_intent: dispute.payment_intent.as_ref().map(ToString::to_string),
        state,
        status,
    }
}

#[derive(Debug, Clone)]
pub enum PreDunning {
    /// The processor says the card expires soon (`customer.source.expiring`).
    SourceExpiring { customer_id: String },
    /// A renewal is coming (`invoice.upcoming`): warn if the customer's card
    /// will have expired by then.
    Upcoming {
        customer_id: String,
        renewal: DateTime<Utc>,
        amount: Money,
        email: Option<String>,
        product: Option<String>,
    },
}

fn card_of(pm: &PaymentMethod) -> Option<Card> {
    let expiry = pm.expiry?;
    Some(Card {
        customer_id: pm.customer.as_ref()?.to_string(),
        payment_method_id: pm.id.to_string(),
        brand: pm.brand.clone(),
        last4: pm.last4.clone(),
        exp_month: expiry.month,
        exp_year: expiry.year,
    })
}

#[derive(Debug, Clone)]
pub struct Unlinked {
    pub customer_id: CustomerId,
    pub charge_id: Option<ChargeId>,
    pub payment_intent_id: Option<PaymentIntentId>,
    pub amount: i64,
    pub currency: String,
}

fn invoice_facts(invoice: &Invoice) -> CaseFacts {
    let line = invoice.line.as_ref();
    CaseFacts {
        country: invoice
            .customer_country
            .clone()
            .map(|c| (c, ZoneSource::InvoiceAddress)),
        invoice_id: invoice.id.clone(),
        customer_id: invoice.customer.clone(),
        subscription_id: invoice.subscription.clone(),
        subscription_item_id: line.and_then(|l| l.subscription_item.clone()),
        price_id: line.and_then(|l| l.price.clone()),
        charge_id: invoice.charge.clone(),
        payment_intent_id: invoice.payment_intent.clone(),
        customer_email: invoice.customer_email.clone(),
        customer_name: invoice.customer_name.clone(),
        // A paid invoice has nothing remaining: what was owed is its due.
        amount_due: match invoice.amount_remaining.minor() {
            0 => invoice.amount_due.minor(),
            remaining => remaining,
        },
        amount_paid: Some(invoice.amount_paid.minor()).filter(|paid| *paid > 0),
        currency: invoice.amount_due.currency().as_str().to_owned(),
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        invoice_number: invoice.number.clone(),
        description: line.and_then(|l| l.description.clone()),
        from_invoice: true,
    }
}

fn charge_facts(charge: &Charge) -> Option<CaseFacts> {
    Some(CaseFacts {
        charge_id: Some(charge.id.clone()),
        payment_intent_id: charge.payment_intent.clone(),
        country: charge
            .card
            .as_ref()
            .and_then(|c| c.country.clone())
            .map(|c| (c, ZoneSource::CardCountry)),
        ..CaseFacts::new(
            charge.invoice.clone()?,
            charge.customer.clone()?,
            charge.amount.minor(),
            charge.amount.currency().as_str(),
        )
    })
}

fn intent_facts(intent: &PaymentIntent) -> Option<CaseFacts> {
    Some(CaseFacts {
        payment_intent_id: Some(intent.id.clone()),
        ..CaseFacts::new(
            intent.invoice.clone()?,
            intent.customer.clone()?,
            intent.amount.minor(),
            intent.amount.currency().as_str(),
        )
    })
}

pub fn route(event: &Event) -> Routed {
    let on_invoice = |invoice: &Invoice, what| Routed {
        facts: Some(invoice_facts(invoice)),
        what: Some(what),
        ..Default::default()
    };
    match &event.kind {
        EventKind::InvoicePaymentFailed(invoice) => on_invoice(
            invoice,
            EventInput::PaymentFailed {
                processor_will_retry: invoice.next_payment_attempt.is_some(),
                attempt_count: invoice.attempt_count,
            },
        ),
        EventKind::InvoicePaid(invoice) => Routed {
            payment: Some((invoice.id.to_string(), invoice.customer.to_string())),
            ..on_invoice(invoice, EventInput::Paid)
        },
        EventKind::InvoicePaymentActionRequired(invoice) => {
            on_invoice(invoice, EventInput::ActionRequired)
        }
        EventKind::InvoiceVoided(invoice) => on_invoice(invoice, EventInput::Voided),
        EventKind::InvoiceMarkedUncollectible(invoice) => {
            on_invoice(invoice, EventInput::MarkedUncollectible)
        }
        EventKind::ChargeFailed(charge) => Routed {
            // The card refused is the customer's latest: its brand and last
            // 4 are what the billing page shows.
            card: charge.card.as_ref().and_then(card_of),
            ..on_failed_charge(charge)
        },
        EventKind::PaymentIntentPaymentFailed(intent) => {
            let what = EventInput::Decline(Classification {
                method: intent.payment_method.as_ref().map(ToString::to_string),
                ..classify(&intent.decline)
            });
            match intent_facts(intent) {
                Some(facts) => Routed {
                    facts: Some(facts),
                    what: Some(what),
                    ..Default::default()
                },
                None => Routed {
                    unlinked: intent.customer.as_ref().map(|c| Unlinked {
                        customer_id: c.clone(),
                        charge_id: None,
                        payment_intent_id: Some(intent.id.clone()),
                        amount: intent.amount.minor(),
                        currency: intent.amount.currency().as_str().to_owned(),
                    }),
                    ..linked(CaseLink::PaymentIntent, intent.id.to_string(), what)
                },
            }
        }
        EventKind::ChargeDisputeCreated(dispute) => Routed {
            dispute: Some(dispute_news(dispute, false)),
            ..Routed::default()
        },
        EventKind::ChargeDisputeClosed(dispute) => Routed {
            dispute: Some(dispute_news(dispute, true)),
            ..Routed::default()
        },
        EventKind::PaymentMethodAttached(pm) => Routed {
            card: card_of(pm),
            ..match &pm.customer {
                Some(customer) => linked(
                    CaseLink::Customer,
                    customer.to_string(),
                    EventInput::NewPaymentMethod {
                        method: Some(pm.id.to_string()),
                    },
                ),
                None => Routed::default(),
            }
        },
        EventKind::CustomerSourceExpiring(card) => Routed {
            card: card_of(card),
            pre_dunning: card.customer.as_ref().map(|c| PreDunning::SourceExpiring {
                customer_id: c.to_string(),
            }),
            ..Routed::default()
        },
        EventKind::InvoiceUpcoming(upcoming) => Routed {
            pre_dunning: upcoming
                .next_payment_attempt
                .or(upcoming.period_end)
                .map(|renewal| PreDunning::Upcoming {
                    customer_id: upcoming.customer.to_string(),
                    renewal,
                    amount: upcoming.amount_due,
                    email: upcoming.customer_email.clone(),
                    product: upcoming.line.as_ref().and_then(|l| l.description.clone()),
                }),
            ..Routed::default()
        },
        EventKind::CustomerUpdated {
            customer,
            default_payment_method_changed: true,
        } => linked(
            CaseLink::Customer,
            customer.id.to_string(),
            EventInput::NewPaymentMethod {
                method: customer
                    .default_payment_method
                    .as_ref()
                    .map(ToString::to_string),
            },
        ),
        EventKind::CustomerSubscriptionDeleted(subscription) => linked(
            CaseLink::Subscription,
            subscription.id.to_string(),
            EventInput::SubscriptionDeleted,
        ),
        EventKind::CustomerUpdated { .. } | EventKind::Ignored => Routed::default(),
    }
}

/// A refused charge: its case's facts when it names its invoice, else the
/// link to find the case by.
fn on_failed_charge(charge: &Charge) -> Routed {
    let what = EventInput::Decline(Classification {
        method: charge.payment_method.as_ref().map(ToString::to_string),
        ..classify(&charge.decline)
    });
    match (charge_facts(charge), &charge.payment_intent) {
        (Some(facts), _) => Routed {
            facts: Some(facts),
            what: Some(what),
            ..Default::default()
        },
        (None, pi) => Routed {
            unlinked: charge.customer.as_ref().map(|c| Unlinked {
                customer_id: c.clone(),
                charge_id: Some(charge.id.clone()),
                payment_intent_id: pi.clone(),
                amount: charge.amount.minor(),
                currency: charge.amount.currency().as_str().to_owned(),
            }),
            ..match pi {
                Some(pi) => linked(CaseLink::PaymentIntent, pi.to_string(), what),
                None => linked(CaseLink::Charge, charge.id.to_string(), what),
            }
        },
    }
}

/// What an event about the case found by `link` = `id` does to it.
fn linked(link: CaseLink, id: String, what: EventInput) -> Routed {
    Routed {
        link: Some((link, id)),
        what: Some(what),
        ..Default::default()
    }
}
