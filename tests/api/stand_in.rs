//! A Stripe stand-in (wiremock) and helpers to drive cases against it:
//! scenarios, signed events, requests received, the case's state and mail.

use dunwell::domain::case::CaseState;
use dunwell::domain::work::WorkStatus;
use dunwell::trigger::Scenario;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, TestDb, spawn_config, spawn_manual, test_config};
use dunwell::startup::{Options, Role};

pub(crate) fn scenario(invoice: &str) -> Scenario {
    Scenario {
        invoice: invoice.into(),
        customer: format!("cus_{invoice}"),
        subscription: format!("sub_{invoice}"),
        ..Scenario::example("evt_unused", crate::helpers::now())
    }
}

/// The scenario for one event (each event needs its own id).
pub(crate) fn event(s: &Scenario, id: &str) -> Scenario {
    Scenario {
        event_id: format!("evt_{id}_{}", s.invoice),
        ..s.clone()
    }
}

/// The idempotency key of charge attempt `attempt` on the case's invoice
/// (`fresh` keys after stored failures).
pub(crate) fn pay_key(app: &TestApp, s: &Scenario, attempt: u32, fresh: u32) -> String {
    app.engine
        .idempotency_key(&s.invoice, "pay", attempt, fresh)
}

pub(crate) fn object(event_type: &str, s: &Scenario) -> Value {
    dunwell::trigger::builder::build(event_type, s).expect("builds")["data"]["object"].clone()
}

pub(crate) fn decline(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(402).set_body_json(json!({"error": {
        "type": "card_error", "code": "card_declined", "decline_code": code,
        "message": "Your card was declined."
    }}))
}

pub(crate) fn pay_path(s: &Scenario) -> String {
    format!("/v1/invoices/{}/pay", s.invoice)
}

/// A Stripe stand-in that shows the invoice open and pays it on the
/// `succeed_on`-th attempt (never when 0), declining before with `code`.
pub(crate) async fn stripe(s: &Scenario, code: &str, succeed_on: u64) -> MockServer {
    let server = MockServer::start().await;
    mount_stripe(&server, s, code, succeed_on).await;
    server
}

/// The customer of `s` as the processor shows them now: their default
/// payment method is `card` (what the return from the card page reads).
pub(crate) async fn mount_customer_card(server: &MockServer, s: &Scenario, card: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", s.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": s.customer, "object": "customer", "email": s.customer_email,
            "name": s.customer_name,
            "invoice_settings": {"default_payment_method": card},
        })))
        .mount(server)
        .await;
}

/// `stripe`'s answers for scenario `s`, on a stand-in serving others too.
pub(crate) async fn mount_stripe(server: &MockServer, s: &Scenario, code: &str, succeed_on: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/invoices/{}", s.invoice)))
        .respond_with(ResponseTemplate::new(200).set_body_json(object("invoice.payment_failed", s)))
        .with_priority(10)
        .mount(server)
        .await;
    let declines = if succeed_on == 0 {
        u64::MAX
    } else {
        succeed_on - 1
    };
    if declines > 0 {
        Mock::given(method("POST"))
            .and(path(pay_path(s)))
            .respond_with(decline(code))
            .up_to_n_times(declines)
            .with_priority(2)
            .mount(server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(pay_path(s)))
        .respond_with(ResponseTemplate::new(200).set_body_json(object("invoice.paid", s)))
        .with_priority(5)
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v1/subscriptions/{}", s.subscription)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": s.subscription, "status": "canceled"})),
        )
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/subscriptions/{}", s.subscription)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": s.subscription, "status": "active"})),
        )
        .mount(server)
        .await;
}

pub(crate) async fn app_with(
    backend: Backend,
    server: &MockServer,
    extra: &[(&str, &str)],
) -> Option<TestApp> {
    let uri = server.uri();
    let mut pairs = vec![
        ("processor", "stripe"),
        ("stripe_api_key", "sk_test_dunwell"),
        ("stripe_api_base", uri.as_str()),
    ];
    pairs.extend_from_slice(extra);
    spawn_manual(backend, &pairs).await
}

/// `app_with`, under the policy written as the TOML of a `[policy]` table.
pub(crate) async fn app_with_policy(
    backend: Backend,
    server: &MockServer,
    extra: &[(&str, &str)],
    policy: &str,
) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let uri = server.uri();
    let mut pairs = vec![
        ("processor", "stripe"),
        ("stripe_api_key", "sk_test_dunwell"),
        ("stripe_api_base", uri.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let mut config = test_config(&db, &pairs);
    let policy = format!("quiet_hours = \"off\"\nmin_hours_between_emails = 0\n{policy}");
    let raw: dunwell::domain::policy::RawPolicy = toml::from_str(&policy).expect("policy TOML");
    config.policy = raw.validate().expect("a valid policy");
    let options = Options {
        clock: Some(crate::helpers::pinned_clock()),
        job_workers: false,
    };
    Some(spawn_config(db, config, Role::Serve, options).await)
}

pub(crate) async fn requests(server: &MockServer, verb: &str, suffix: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().ends_with(suffix))
        .collect()
}

pub(crate) fn keys(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

pub(crate) async fn state(app: &TestApp, s: &Scenario) -> Option<CaseState> {
    app.case(&s.invoice).await.state
}

pub(crate) async fn mails(app: &TestApp, s: &Scenario, kind: &str) -> usize {
    let case = app.case(&s.invoice).await;
    let all = app.store.outbox(Some(case.id), 100).await.unwrap();
    all.iter().filter(|m| m.kind == kind).count()
}

pub(crate) async fn planned_retry(
    app: &TestApp,
    case_id: dunwell::domain::ids::CaseId,
) -> dunwell::store::work::WorkRow {
    app.store
        .work_of(case_id)
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.work.kind() == "retry")
        .expect("a retry is planned")
}

pub(crate) async fn pending_work(app: &TestApp, s: &Scenario) -> usize {
    let case = app.case(&s.invoice).await;
    let work = app.store.work_of(case.id).await.unwrap();
    work.iter()
        .filter(|w| w.status == WorkStatus::Pending)
        .count()
}

/// The path of the card-update link in the case's first email.
pub(crate) async fn link_in_email(app: &TestApp, s: &Scenario) -> String {
    let case = app.case(&s.invoice).await;
    let mails = app.store.outbox(Some(case.id), 10).await.unwrap();
    let mail = mails
        .iter()
        .find(|m| m.kind == "payment_failed")
        .expect("the day-0 email");
    let start = mail
        .body_text
        .find("/billing/update/")
        .expect("a card-update link");
    mail.body_text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The processor's portal: a session (`POST /v1/billing_portal/sessions`)
/// whose page is `url`.
pub(crate) async fn mount_portal(server: &MockServer, url: &str) {
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "bps_1", "url": url})))
        .mount(server)
        .await;
}

/// The processor's price `id` (`GET /v1/prices/{id}`, product expanded):
/// `amount` minor units of `currency` every `interval`.
pub(crate) async fn mount_price(
    server: &MockServer,
    id: &str,
    product: &str,
    amount: i64,
    currency: &str,
    interval: &str,
) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/prices/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "object": "price", "currency": currency, "unit_amount": amount,
            "recurring": {"interval": interval, "interval_count": 1},
            "product": {"id": format!("prod_{id}"), "object": "product", "name": product},
        })))
        .mount(server)
        .await;
}
