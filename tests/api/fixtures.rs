//! Real-shaped processor payloads of both API versions: accepted, stored,
//! and understood by the typed parser.

use dunwell::domain::events::{Event, EventKind};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(every_fixture_is_accepted_and_handled);

async fn every_fixture_is_accepted_and_handled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let fixtures = fixtures();
    assert_eq!(fixtures.len(), 18, "nine event types in two shapes");
    for (name, body) in &fixtures {
        // The two shapes share event ids; give each delivery its own.
        let mut event: serde_json::Value = serde_json::from_slice(body).unwrap();
        let id = format!("{}_{}", event["id"].as_str().unwrap(), name.len());
        let shape = name.split('/').next().unwrap();
        event["id"] = format!("{id}{shape}").into();
        let body = serde_json::to_vec(&event).unwrap();
        let response = app.post_event(&body).await;
        assert_eq!(response.status(), 200, "{name}");
    }
    app.wait_processed().await;
    assert_eq!(app.event_count().await, 18);
    for (name, body) in &fixtures {
        let event: serde_json::Value = serde_json::from_slice(body).unwrap();
        let shape = name.split('/').next().unwrap();
        let id = format!("{}_{}{shape}", event["id"].as_str().unwrap(), name.len());
        let stored = app.store.event_by_id(&id).await.unwrap().unwrap();
        assert_eq!(
            stored.outcome.as_deref(),
            Some("handled"),
            "{name}: {:?}",
            stored.last_error
        );
    }
    app.shutdown().await;
}

fn parse(name: &str) -> EventKind {
    Event::parse(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .kind
}

#[test]
fn both_invoice_shapes_give_the_same_invoice() {
    let basil = parse("basil/invoice.payment_failed.json");
    let legacy = parse("legacy/invoice.payment_failed.json");
    let (EventKind::InvoicePaymentFailed(b), EventKind::InvoicePaymentFailed(l)) = (basil, legacy)
    else {
        panic!("not invoice.payment_failed");
    };
    for invoice in [&b, &l] {
        assert_eq!(invoice.id.as_str(), "in_1QfJ2hLzO8hYb3nXk9uT4sVa");
        assert_eq!(invoice.customer.as_str(), "cus_RtG7mN2pQx4Lkz");
        assert_eq!(
            invoice.subscription.as_ref().unwrap().as_str(),
            "sub_1PzX4cLzO8hYb3nXa7bC9dEf"
        );
        assert_eq!(invoice.amount_due.to_string(), "49.00 USD");
        assert_eq!(
            invoice.customer_email.as_deref(),
            Some("maria.silva@example.com")
        );
        assert!(invoice.hosted_invoice_url.is_some());
        assert!(invoice.next_payment_attempt.is_none());
        let line = invoice.line.as_ref().unwrap();
        assert_eq!(
            line.subscription_item.as_ref().unwrap().as_str(),
            "si_RtG8pQw3ErTy5U"
        );
        assert_eq!(
            line.price.as_ref().unwrap().as_str(),
            "price_1PzX1aLzO8hYb3nXpRoMonth"
        );
    }
    // Only the older shape names the charge and payment intent on the invoice.
    assert!(b.charge.is_none() && b.payment_intent.is_none());
    assert_eq!(
        l.charge.as_ref().unwrap().as_str(),
        "ch_3QfJ2iLzO8hYb3nX1a2B3c4D"
    );
    assert_eq!(
        l.payment_intent.as_ref().unwrap().as_str(),
        "pi_3QfJ2iLzO8hYb3nX1pIntent"
    );
}

#[test]
fn decline_details_come_from_charge_and_payment_intent() {
    for shape in ["basil", "legacy"] {
        let EventKind::ChargeFailed(charge) = parse(&format!("{shape}/charge.failed.json")) else {
            panic!("charge.failed");
        };
        assert_eq!(charge.decline.code.as_deref(), Some("card_declined"));
        assert_eq!(
            charge.decline.decline_code.as_deref(),
            Some("insufficient_funds")
        );
        assert_eq!(
            charge.decline.advice_code.as_deref(),
            Some("try_again_later")
        );
        assert_eq!(charge.decline.network_decline_code.as_deref(), Some("51"));
        assert_eq!(charge.decline.card_brand.as_deref(), Some("visa"));
        assert_eq!(charge.invoice.is_some(), shape == "legacy");
        // The card charged, as the billing page names it: brand and last 4.
        let card = charge.card.expect("the charged card");
        assert_eq!(card.country.as_deref(), Some("PT"));
        assert_eq!(card.last4.as_deref(), Some("4242"));
        assert_eq!(card.brand.as_deref(), Some("visa"));
        assert!(card.expiry.is_some());
        assert_eq!(card.customer, charge.customer);

        let EventKind::PaymentIntentPaymentFailed(intent) =
            parse(&format!("{shape}/payment_intent.payment_failed.json"))
        else {
            panic!("payment_intent.payment_failed");
        };
        assert_eq!(
            intent.decline.decline_code.as_deref(),
            Some("insufficient_funds")
        );
        assert_eq!(
            intent.payment_method.unwrap().as_str(),
            "pm_1PzX3bLzO8hYb3nXvIsA4242"
        );
    }
}

#[test]
fn the_other_types_parse_into_their_structs() {
    let EventKind::InvoicePaid(paid) = parse("basil/invoice.paid.json") else {
        panic!()
    };
    assert!(paid.status.is_settled());
    let EventKind::InvoiceVoided(void) = parse("legacy/invoice.voided.json") else {
        panic!()
    };
    assert!(void.status.is_settled());
    let EventKind::InvoiceUpcoming(up) = parse("basil/invoice.upcoming.json") else {
        panic!()
    };
    assert!(up.next_payment_attempt.is_some());
    let EventKind::CustomerSourceExpiring(card) = parse("basil/customer.source.expiring.json")
    else {
        panic!()
    };
    let expiry = card.expiry.unwrap();
    assert_eq!((expiry.month, expiry.year), (11, 2026));
    let EventKind::PaymentMethodAttached(pm) = parse("legacy/payment_method.attached.json") else {
        panic!()
    };
    assert_eq!(pm.customer.unwrap().as_str(), "cus_RtG7mN2pQx4Lkz");
    let EventKind::CustomerSubscriptionDeleted(sub) =
        parse("basil/customer.subscription.deleted.json")
    else {
        panic!()
    };
    assert_eq!(sub.item.unwrap().as_str(), "si_RtG8pQw3ErTy5U");
    assert_eq!(sub.status.as_deref(), Some("canceled"));
}
