//! Each case runs on its customer's clock: the time zone comes from the
//! invoice's customer address, else the refused card's country, else the
//! policy's default — and once a case is open its clock no longer moves.

use dunwell::trigger::Scenario;
use serde_json::{Value, json};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::stand_in::*;

/// `event_type` for `s`, its customer's address in `country` when given.
async fn send_from(app: &TestApp, event_type: &str, s: &Scenario, country: Option<&str>) {
    let mut event = dunwell::trigger::builder::build(event_type, s).unwrap();
    if let Some(country) = country {
        event["data"]["object"]["customer_address"] = json!({"country": country});
    }
    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(app.post_event(&body).await.status(), 200);
    app.wait_processed().await;
}

async fn opening(app: &TestApp, invoice: &str) -> Value {
    let case = app.case(invoice).await;
    let timeline = app.store.timeline(case.id).await.unwrap();
    timeline
        .into_iter()
        .find(|t| t.kind == "transition" && t.detail["from"].is_null())
        .expect("the opening")
        .detail
}

async fn a_case_runs_on_its_customers_clock(backend: Backend) {
    let legacy = |invoice: &str| Scenario {
        api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
        ..scenario(invoice)
    };
    let (address, card, nothing) = (
        legacy("in_tz_address"),
        legacy("in_tz_card"),
        scenario("in_tz_none"),
    );
    let server = stripe(&address, "insufficient_funds", 0).await;
    mount_stripe(&server, &card, "insufficient_funds", 0).await;
    mount_stripe(&server, &nothing, "insufficient_funds", 0).await;
    let extra = [("policy.default_timezone", "Europe/Lisbon")];
    let Some(app) = app_with(backend, &server, &extra).await else {
        return;
    };
    // The card (issued in the US) comes first, then the invoice with a
    // German address: the address wins while no case is open.
    send_from(&app, "charge.failed", &event(&address, "charge"), None).await;
    send_from(
        &app,
        "invoice.payment_failed",
        &event(&address, "failed"),
        Some("DE"),
    )
    .await;
    let case = app.case(&address.invoice).await;
    assert_eq!(case.timezone, "Europe/Berlin");
    assert_eq!(case.timezone_source.as_deref(), Some("invoice_address"));
    let opened = opening(&app, &address.invoice).await;
    assert_eq!(opened["timezone"], "Europe/Berlin");
    assert_eq!(opened["timezone_source"], "invoice_address");
    // Once open, a later signal does not move the schedule's clock.
    send_from(
        &app,
        "invoice.payment_failed",
        &event(&address, "failed_again"),
        Some("JP"),
    )
    .await;
    assert_eq!(app.case(&address.invoice).await.timezone, "Europe/Berlin");

    // Only the card's country: its zone.
    send_from(&app, "charge.failed", &event(&card, "charge"), None).await;
    send_from(
        &app,
        "invoice.payment_failed",
        &event(&card, "failed"),
        None,
    )
    .await;
    let case = app.case(&card.invoice).await;
    assert_eq!(
        (case.timezone.as_str(), case.timezone_source.as_deref()),
        ("America/New_York", Some("card_country"))
    );
    // Nothing at all: the policy's default, said so.
    send_from(
        &app,
        "invoice.payment_failed",
        &event(&nothing, "failed"),
        None,
    )
    .await;
    let case = app.case(&nothing.invoice).await;
    assert_eq!(
        (case.timezone.as_str(), case.timezone_source.as_deref()),
        ("Europe/Lisbon", Some("policy_default"))
    );
    assert_eq!(
        opening(&app, &nothing.invoice).await["timezone_source"],
        "policy_default"
    );
    app.shutdown().await;
}

crate::backend_tests!(a_case_runs_on_its_customers_clock);

/// The events placed the customer only by their card (US); the processor's
/// record of them has a German address. Read for the first email, it
/// moves the case — not yet retried — to Berlin and re-plans its retry.
async fn the_customers_own_address_places_a_case_before_its_first_retry(backend: Backend) {
    let s = Scenario {
        api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
        ..scenario("in_tz_customer")
    };
    let server = MockServer::start().await;
    mount_stripe(&server, &s, "insufficient_funds", 0).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", s.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": s.customer, "object": "customer", "email": s.customer_email,
            "name": "Lena Vogel", "address": {"country": "DE"}
        })))
        .mount(&server)
        .await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    send_from(&app, "charge.failed", &event(&s, "charge"), None).await;
    send_from(&app, "invoice.payment_failed", &event(&s, "failed"), None).await;
    let case = app.case(&s.invoice).await;
    assert_eq!(case.timezone_source.as_deref(), Some("card_country"));
    let before = planned_retry(&app, case.id).await;

    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    assert_eq!(
        (
            case.timezone.as_str(),
            case.timezone_source.as_deref(),
            case.country.as_deref()
        ),
        ("Europe/Berlin", Some("customer_address"), Some("DE"))
    );
    let timeline = app.store.timeline(case.id).await.unwrap();
    assert!(
        timeline.iter().any(|t| t.detail["text"]
            .as_str()
            .is_some_and(|x| x.contains("address at the processor is in DE"))),
        "{timeline:?}"
    );
    // The retry was planned again on the German clock: a German payday
    // morning, not the American Friday it had.
    let after = planned_retry(&app, case.id).await;
    assert_ne!(before.due_at, after.due_at);
    let local = chrono::DateTime::from_timestamp_millis(after.due_at)
        .unwrap()
        .with_timezone(&chrono_tz::Europe::Berlin);
    use chrono::Timelike;
    assert!((8..11).contains(&local.hour()), "{local}");
    app.shutdown().await;
}

crate::backend_tests!(the_customers_own_address_places_a_case_before_its_first_retry);
