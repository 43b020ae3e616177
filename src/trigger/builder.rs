//! Realistic processor events, as Stripe would send them, in either API
//! shape. Used by `dunwell trigger`, the tests and the intake benchmark.
//! Pure: every id and time comes from the `Scenario`.

use serde_json::{Value, json};

use crate::domain::money::{Currency, Money};

/// Stripe API version of the older invoice shape (top-level `subscription`, `charge`).
pub const LEGACY_API_VERSION: &str = "2024-06-20";
/// First API version of the newer shape (`parent.subscription_details`).
pub const BASIL_API_VERSION: &str = "2025-03-31.basil";

/// The event types `trigger` can build.
pub const EVENT_TYPES: &[&str] = &[
    "invoice.payment_failed",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.upcoming",
    "charge.failed",
    "payment_intent.payment_failed",
    "charge.dispute.created",
    "charge.dispute.closed",
    "customer.source.expiring",
    "payment_method.attached",
    "customer.updated",
    "customer.subscription.deleted",
];

#[derive(Debug, Clone)]
pub struct Scenario {
    pub event_id: String,
    pub api_version: String,
    /// Unix seconds of the event.
    pub now: i64,
    pub customer: String,
    pub customer_email: String,
    pub customer_name: String,
    pub invoice: String,
    pub subscription: String,
    pub price: String,
    pub payment_method: String,
    pub amount: Money,
    pub decline_code: String,
    pub attempt_count: u32,
    pub card_brand: String,
    pub card_exp_month: u32,
    pub card_exp_year: i32,
    /// How a closed dispute ended (`won`, `lost`...).
    pub dispute_status: String,
}

impl Scenario {
    /// A complete scenario with sample customer, plan and card: $49.00 a
    /// month, declined for insufficient funds, newer API shape.
    pub fn example(event_id: &str, now: i64) -> Self {
        Self {
            event_id: event_id.to_owned(),
            api_version: BASIL_API_VERSION.to_owned(),
            now,
            customer: "cus_RtG7mN2pQx4Lkz".into(),
            customer_email: "maria.silva@example.com".into(),
            customer_name: "Maria Silva".into(),
            invoice: "in_1QfJ2hLzO8hYb3nXk9uT4sVa".into(),
            subscription: "sub_1PzX4cLzO8hYb3nXa7bC9dEf".into(),
            price: "price_1PzX1aLzO8hYb3nXpRoMonth".into(),
            payment_method: "pm_1PzX3bLzO8hYb3nXvIsA4242".into(),
            amount: Money::from_minor(4900, Currency::parse("usd").expect("usd"))
                .expect("positive"),
            decline_code: "insufficient_funds".into(),
            attempt_count: 1,
            card_brand: "visa".into(),
            card_exp_month: 8,
            card_exp_year: 2030,
            dispute_status: "won".into(),
        }
    }

    /// True for API versions before 2025-03-31 (the older invoice shape).
    pub fn legacy_shape(&self) -> bool {
        self.api_version.as_str() < "2025-03-31"
    }

    /// Ids of related objects share the invoice's suffix, so a charge, its
    /// payment intent and its invoice line up across events.
    fn related(&self, prefix: &str) -> String {
        let suffix = self.invoice.strip_prefix("in_").unwrap_or(&self.invoice);
        format!("{prefix}{suffix}")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build {0:?}; known types: {list}", list = EVENT_TYPES.join(", "))]
pub struct UnknownEventType(pub String);

/// Builds the full event envelope for `event_type`.
pub fn build(event_type: &str, s: &Scenario) -> Result<Value, UnknownEventType> {
    let (object, previous) = match event_type {
        "invoice.payment_failed" => (invoice(s, "open", false), None),
        "invoice.payment_action_required" => (invoice(s, "open", false), None),
        "invoice.paid" | "invoice.payment_succeeded" => (invoice(s, "paid", true), None),
        "invoice.voided" => (invoice(s, "void", false), None),
        "invoice.marked_uncollectible" => (invoice(s, "uncollectible", false), None),
        "invoice.upcoming" => (upcoming_invoice(s), None),
        "charge.failed" => (charge(s), None),
        "payment_intent.payment_failed" => (payment_intent(s), None),
        "charge.dispute.created" => (dispute(s, "needs_response"), None),
        "charge.dispute.closed" => (dispute(s, &s.dispute_status), None),
        "customer.source.expiring" => (legacy_card(s), None),
        "payment_method.attached" => (payment_method(s), None),
        "customer.updated" => (
            customer(s),
            Some(json!({"invoice_settings": {"default_payment_method": s.related("pm_old")}})),
        ),
        "customer.subscription.deleted" => (subscription(s), None),
        other => return Err(UnknownEventType(other.to_owned())),
    };
    let mut data = json!({ "object": object });
    if let Some(previous) = previous {
        data["previous_attributes"] = previous;
    }
    Ok(json!({
        "id": s.event_id,
        "object": "event",
        "api_version": s.api_version,
        "created": s.now,
        "data": data,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
    }))
}

fn card(s: &Scenario) -> Value {
    json!({
        "brand": s.card_brand,
        "checks": {"address_line1_check": null, "address_postal_code_check": "pass", "cvc_check": null},
        "country": "US",
        "exp_month": s.card_exp_month,
        "exp_year": s.card_exp_year,
        "fingerprint": "Xt5EWLLDS7FJjR1c",
        "funding": "credit",
        "last4": "4242",
        "networks": {"available": [s.card_brand], "preferred": null},
        "wallet": null,
    })
}

fn period(s: &Scenario) -> (i64, i64) {
    let end = s.now - 3600;
    (end - 30 * 86_400, end)
}

fn invoice(s: &Scenario, status: &str, paid: bool) -> Value {
    let (start, end) = period(s);
    let amount = s.amount.minor();
    let currency = s.amount.currency().as_str().to_owned();
    let description = format!("1 × Pro (at {} / month)", s.amount);
    let mut invoice = json!({
        "id": s.invoice,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Acme Software",
        "amount_due": amount,
        "amount_paid": if paid { amount } else { 0 },
        "amount_remaining": if paid { 0 } else { amount },
        "attempt_count": s.attempt_count,
        "attempted": true,
        "auto_advance": status == "open",
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": end,
        "currency": currency,
        "customer": s.customer,
        "customer_email": s.customer_email,
        "customer_name": s.customer_name,
        "default_payment_method": null,
        "description": null,
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/acct_1Acme/test_{}", s.invoice),
        "invoice_pdf": format!("https://pay.stripe.com/invoice/acct_1Acme/test_{}/pdf", s.invoice),
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": null,
        "number": format!("ACME-{}", &s.invoice[s.invoice.len().saturating_sub(4)..]),
        "period_end": end,
        "period_start": start,
        "status": status,
        "status_transitions": {
            "finalized_at": end,
            "marked_uncollectible_at": if status == "uncollectible" { Some(s.now) } else { None },
            "paid_at": if paid { Some(s.now) } else { None },
            "voided_at": if status == "void" { Some(s.now) } else { None },
        },
        "subtotal": amount,
        "total": amount,
        "webhooks_delivered_at": end,
    });
    let mut line = json!({
        "id": s.related("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discountable": true,
        "livemode": false,
        "metadata": {},
        "period": {"start": start, "end": end},
        "quantity": 1,
    });
    if s.legacy_shape() {
        invoice["subscription"] = json!(s.subscription);
        invoice["charge"] = json!(s.related("ch_"));
        invoice["payment_intent"] = json!(s.related("pi_"));
        invoice["paid"] = json!(paid);
        line["type"] = json!("subscription");
        line["subscription"] = json!(s.subscription);
        line["subscription_item"] = json!(s.related("si_"));
        line["price"] = json!({
            "id": s.price, "object": "price", "active": true, "currency": currency,
            "product": "prod_Pro", "recurring": {"interval": "month", "interval_count": 1},
            "type": "recurring", "unit_amount": amount,
        });
        line["proration"] = json!(false);
    } else {
        invoice["parent"] = json!({
            "type": "subscription_details",
            "quote_details": null,
            "subscription_details": {"metadata": {}, "subscription": s.subscription},
        });
        line["parent"] = json!({
            "type": "subscription_item_details",
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null,
                "proration": false,
                "proration_details": {"credited_items": null},
                "subscription": s.subscription,
                "subscription_item": s.related("si_"),
            },
        });
        line["pricing"] = json!({
            "type": "price_details",
            "price_details": {"price": s.price, "product": "prod_Pro"},
            "unit_amount_decimal": amount.to_string(),
        });
    }
    invoice["lines"] = json!({
        "object": "list",
        "data": [line],
        "has_more": false,
        "total_count": 1,
        "url": format!("/v1/invoices/{}/lines", s.invoice),
    });
    invoice
}

fn upcoming_invoice(s: &Scenario) -> Value {
    let mut upcoming = invoice(s, "draft", false);
    let renewal = s.now + 3 * 86_400;
    let object = upcoming.as_object_mut().expect("invoice is an object");
    object.remove("id");
    object.remove("hosted_invoice_url");
    object.remove("invoice_pdf");
    object.remove("number");
    object.insert("attempt_count".into(), json!(0));
    object.insert("next_payment_attempt".into(), json!(renewal));
    object.insert("period_end".into(), json!(renewal));
    upcoming
}

/// The decline as Stripe reports it: the failure code is the decline code for
/// codes that are their own error (`expired_card`...), else `card_declined`.
pub fn failure_code(decline_code: &str) -> &str {
    match decline_code {
        code @ ("expired_card"
        | "incorrect_cvc"
        | "incorrect_number"
        | "processing_error"
        | "authentication_required") => code,
        _ => "card_declined",
    }
}

fn charge(s: &Scenario) -> Value {
    let mut charge = json!({
        "id": s.related("ch_"),
        "object": "charge",
        "amount": s.amount.minor(),
        "amount_captured": 0,
        "amount_refunded": 0,
        "billing_details": {"email": s.customer_email, "name": s.customer_name},
        "captured": false,
        "created": s.now,
        "currency": s.amount.currency().as_str(),
        "customer": s.customer,
        "description": "Subscription update",
        "failure_code": failure_code(&s.decline_code),
        "failure_message": "Your card was declined.",
        "livemode": false,
        "outcome": {
            "advice_code": null,
            "network_advice_code": null,
            "network_decline_code": null,
            "network_status": "declined_by_network",
            "reason": s.decline_code,
            "risk_level": "normal",
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        },
        "paid": false,
        "payment_intent": s.related("pi_"),
        "payment_method": s.payment_method,
        "payment_method_details": {"card": card(s), "type": "card"},
        "status": "failed",
    });
    if s.legacy_shape() {
        charge["invoice"] = json!(s.invoice);
    }
    charge
}

fn payment_intent(s: &Scenario) -> Value {
    let mut intent = json!({
        "id": s.related("pi_"),
        "object": "payment_intent",
        "amount": s.amount.minor(),
        "currency": s.amount.currency().as_str(),
        "customer": s.customer,
        "created": s.now,
        "description": "Subscription update",
        "last_payment_error": {
            "charge": s.related("ch_"),
            "code": failure_code(&s.decline_code),
            "decline_code": s.decline_code,
            "doc_url": format!("https://stripe.com/docs/error-codes/{}", failure_code(&s.decline_code)),
            "message": "Your card was declined.",
            "payment_method": {"id": s.payment_method, "object": "payment_method", "card": card(s), "type": "card"},
            "type": "card_error",
        },
        "latest_charge": s.related("ch_"),
        "livemode": false,
        "payment_method": null,
        "status": "requires_payment_method",
    });
    if s.legacy_shape() {
        intent["invoice"] = json!(s.invoice);
    }
    intent
}

fn dispute(s: &Scenario, status: &str) -> Value {
    json!({
        "id": s.related("dp_"),
        "object": "dispute",
        "amount": s.amount.minor(),
        "charge": s.related("ch_"),
        "created": s.now,
        "currency": s.amount.currency().as_str(),
        "is_charge_refundable": false,
        "livemode": false,
        "payment_intent": s.related("pi_"),
        "reason": "fraudulent",
        "status": status,
    })
}

fn legacy_card(s: &Scenario) -> Value {
    let mut card = card(s);
    card["id"] = json!(s.related("card_"));
    card["object"] = json!("card");
    card["customer"] = json!(s.customer);
    card
}

fn payment_method(s: &Scenario) -> Value {
    json!({
        "id": s.payment_method,
        "object": "payment_method",
        "billing_details": {"email": s.customer_email, "name": s.customer_name},
        "card": card(s),
        "created": s.now,
        "customer": s.customer,
        "livemode": false,
        "type": "card",
    })
}

fn customer(s: &Scenario) -> Value {
    json!({
        "id": s.customer,
        "object": "customer",
        "address": {"country": "US"},
        "created": s.now - 400 * 86_400,
        "currency": s.amount.currency().as_str(),
        "default_source": null,
        "delinquent": true,
        "email": s.customer_email,
        "invoice_settings": {"custom_fields": null, "default_payment_method": s.payment_method, "footer": null},
        "livemode": false,
        "name": s.customer_name,
    })
}

fn subscription(s: &Scenario) -> Value {
    let (start, end) = period(s);
    json!({
        "id": s.subscription,
        "object": "subscription",
        "canceled_at": s.now,
        "cancellation_details": {"comment": null, "feedback": null, "reason": "payment_failed"},
        "created": start - 400 * 86_400,
        "currency": s.amount.currency().as_str(),
        "customer": s.customer,
        "ended_at": s.now,
        "items": {
            "object": "list",
            "data": [{
                "id": s.related("si_"),
                "object": "subscription_item",
                "current_period_end": end,
                "current_period_start": start,
                "price": {"id": s.price, "object": "price", "currency": s.amount.currency().as_str(), "unit_amount": s.amount.minor()},
                "quantity": 1,
                "subscription": s.subscription,
            }],
        },
        "livemode": false,
        "status": "canceled",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{Event, EventKind};

    fn scenario(api_version: &str) -> Scenario {
        Scenario {
            api_version: api_version.into(),
            customer: "cus_Test".into(),
            invoice: "in_1Test".into(),
            subscription: "sub_Test".into(),
            price: "price_Pro".into(),
            ..Scenario::example("evt_1Test", 1_760_000_000)
        }
    }

    #[test]
    fn every_type_in_both_shapes_parses_into_its_typed_event() {
        for version in [LEGACY_API_VERSION, BASIL_API_VERSION] {
            let s = scenario(version);
            for event_type in EVENT_TYPES {
                let body = serde_json::to_vec(&build(event_type, &s).unwrap()).unwrap();
                let event =
                    Event::parse(&body).unwrap_or_else(|e| panic!("{event_type} ({version}): {e}"));
                assert_ne!(event.kind, EventKind::Ignored, "{event_type}");
            }
        }
    }

    #[test]
    fn both_shapes_name_the_same_subscription_and_item() {
        for version in [LEGACY_API_VERSION, BASIL_API_VERSION] {
            let body =
                serde_json::to_vec(&build("invoice.payment_failed", &scenario(version)).unwrap())
                    .unwrap();
            let EventKind::InvoicePaymentFailed(invoice) = Event::parse(&body).unwrap().kind else {
                panic!("wrong kind");
            };
            assert_eq!(invoice.subscription.unwrap().as_str(), "sub_Test");
            let line = invoice.line.unwrap();
            assert_eq!(line.subscription_item.unwrap().as_str(), "si_1Test");
            assert_eq!(line.price.unwrap().as_str(), "price_Pro");
        }
    }

    #[test]
    fn unknown_types_are_refused_with_the_list() {
        let err = build("invoice.exploded", &scenario(BASIL_API_VERSION)).unwrap_err();
        assert!(err.to_string().contains("invoice.payment_failed"));
    }
}
