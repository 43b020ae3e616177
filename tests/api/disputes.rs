//! Disputes touch a customer, not a case: a chargeback on an earlier,
//! successful charge pauses the customer's live cases (the charge is read
//! to find them), a case that opens meanwhile starts paused, a won dispute
//! resumes them and any other outcome leaves them paused for the operator.
//! Also: a customer seen in no invoice is read from the processor.

use chrono::Duration;
use dunwell::domain::case::CaseState;
use dunwell::domain::work::WorkStatus;
use dunwell::trigger::Scenario;
use serde_json::json;

use crate::account::Account;
use crate::helpers::*;
use crate::stand_in::{app_with, event, scenario, state};

/// A dispute event about charge `charge` (an earlier one, named by no
/// case), `closed` with `status` or just opened.
async fn dispute(app: &TestApp, s: &Scenario, id: &str, charge: &str, closed: Option<&str>) {
    let (kind, s) = match closed {
        Some(status) => (
            "charge.dispute.closed",
            Scenario {
                dispute_status: status.into(),
                ..event(s, id)
            },
        ),
        None => ("charge.dispute.created", event(s, id)),
    };
    let mut body = dunwell::trigger::builder::build(kind, &s).unwrap();
    body["data"]["object"]["id"] = json!(format!("dp_{}", s.customer));
    body["data"]["object"]["charge"] = json!(charge);
    body["data"]["object"]["payment_intent"] = json!(null);
    let response = app.post_event(&serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(response.status(), 200);
    app.wait_processed().await;
}

async fn pending(app: &TestApp, invoice: &str) -> usize {
    let case = app.case(invoice).await;
    let work = app.store.work_of(case.id).await.unwrap();
    work.iter()
        .filter(|w| w.status == WorkStatus::Pending)
        .count()
}

async fn a_dispute_on_an_earlier_charge_pauses_until_won(backend: Backend) {
    let (server, account) = Account::start(1, "insufficient_funds").await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    let s = scenario("in_disputed_earlier");
    account.add_charge("ch_last_month", &s.customer);
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    dispute(&app, &s, "dispute", "ch_last_month", None).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Paused));
    assert_eq!(
        pending(&app, &s.invoice).await,
        0,
        "nothing planned while paused"
    );
    assert_eq!(account.keys("GET", "/v1/charges/ch_last_month").len(), 0);
    let reads = account
        .log()
        .into_iter()
        .filter(|(_, p, _)| p.ends_with("ch_last_month"))
        .count();
    assert_eq!(reads, 1, "the charge was read once to find its customer");
    app.live_through(5, 12).await;
    assert!(
        account.keys("POST", "/pay").is_empty(),
        "no charge during a dispute"
    );

    dispute(&app, &s, "won", "ch_last_month", Some("won")).await;
    assert_eq!(
        state(&app, &s).await,
        Some(CaseState::Retrying),
        "re-planned from now"
    );
    assert!(pending(&app, &s.invoice).await > 0);
    app.live_through(10, 6).await;
    assert!(!account.keys("POST", "/pay").is_empty(), "recovery resumed");
    app.shutdown().await;
}

async fn a_case_that_opens_during_a_dispute_starts_paused(backend: Backend) {
    let (server, account) = Account::start(0, "insufficient_funds").await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    let s = scenario("in_opens_disputed");
    account.add_charge("ch_before", &s.customer);
    dispute(&app, &s, "dispute", "ch_before", None).await;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Paused));
    app.live_through(5, 6).await;
    assert!(account.keys("POST", "/pay").is_empty(), "no charge attempt");
    let case = app.case(&s.invoice).await;
    assert!(
        app.store
            .outbox(Some(case.id), 10)
            .await
            .unwrap()
            .is_empty(),
        "no dunning email"
    );

    dispute(&app, &s, "lost", "ch_before", Some("lost")).await;
    assert_eq!(
        state(&app, &s).await,
        Some(CaseState::Paused),
        "left for the operator"
    );
    let case = app.case(&s.invoice).await;
    assert!(case.needs_attention.is_some_and(|why| why.contains("lost")));
    app.advance(Duration::days(30));
    app.run_due_jobs().await;
    assert!(account.keys("POST", "/pay").is_empty());
    app.shutdown().await;
}

/// `customer.source.expiring` for a customer seen in no invoice: the
/// customer is read (once) for the address, and the warning goes out.
async fn an_unknown_customer_is_read_for_the_warning(backend: Backend) {
    let (server, account) = Account::start(0, "insufficient_funds").await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    account.add_customer("cus_unseen", "ada@example.com", "Ada Lovelace");
    let s = Scenario {
        customer: "cus_unseen".into(),
        ..scenario("in_unseen")
    };
    app.send("customer.source.expiring", &event(&s, "expiring"))
        .await;
    app.run_due_jobs().await;
    let sent = app.store.notices_of("cus_unseen").await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].recipient.as_deref(), Some("ada@example.com"));
    assert_eq!(
        sent[0].status,
        dunwell::domain::notice::NoticeStatus::Outbox
    );
    assert!(
        sent[0].body_text.as_deref().unwrap().contains("Hi Ada"),
        "{:?}",
        sent[0].body_text
    );
    let reads = |log: Vec<(String, String, Option<String>)>| {
        log.into_iter()
            .filter(|(m, p, _)| m == "GET" && p == "/v1/customers/cus_unseen")
            .count()
    };
    assert_eq!(reads(account.log()), 1);
    assert!(
        app.store
            .cached_customer("cus_unseen")
            .await
            .unwrap()
            .is_some(),
        "cached"
    );
    app.shutdown().await;
}

crate::backend_tests!(
    a_dispute_on_an_earlier_charge_pauses_until_won,
    a_case_that_opens_during_a_dispute_starts_paused,
    an_unknown_customer_is_read_for_the_warning,
);
