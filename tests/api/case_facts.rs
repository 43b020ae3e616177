//! Case facts that stay true: what was owed and what was paid, which
//! invoices are cases at all, the same end whatever the order of events,
//! and emails that never repeat themselves word for word.

use chrono::Duration;
use dunwell::domain::case::CaseState;
use dunwell::domain::work::WorkStatus;

use crate::helpers::Backend;
use crate::stand_in::*;

/// Every invoice.paid of an invoice that never failed opens no case: only a
/// case that had a failure can be recovered.
async fn a_healthy_renewal_is_no_case(backend: Backend) {
    let s = scenario("in_healthy");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.paid", &event(&s, "paid")).await;
    app.live_through(3, 6).await;
    assert_eq!(state(&app, &s).await, None, "no case was opened");
    let case = app.case(&s.invoice).await;
    assert!(
        app.store
            .outbox(Some(case.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(app.store.work_of(case.id).await.unwrap().is_empty());
    app.shutdown().await;
}

/// The failure delivered after the payment (processors do not keep order):
/// the invoice did fail and was paid, so the case is recovered, quietly.
async fn a_failure_delivered_after_the_payment_is_recovered_quietly(backend: Backend) {
    let s = scenario("in_early_paid");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.paid", &event(&s, "paid")).await;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(3, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    assert!(requests(&server, "POST", "/pay").await.is_empty());
    let case = app.case(&s.invoice).await;
    assert!(
        app.store
            .outbox(Some(case.id), 10)
            .await
            .unwrap()
            .is_empty(),
        "no dunning email for a paid invoice"
    );
    app.shutdown().await;
}

/// The thank-you names what was paid, and the case keeps what was owed.
async fn the_thank_you_names_the_amount_paid(backend: Backend) {
    let s = scenario("in_thanks");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.send("invoice.paid", &event(&s, "paid")).await;
    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    assert_eq!(case.amount_due, 4900, "what was owed is kept");
    assert_eq!(case.amount_paid, Some(4900));
    let mails = app.store.outbox(Some(case.id), 10).await.unwrap();
    let thanks = mails
        .iter()
        .find(|m| m.kind == "thank_you")
        .expect("a thank-you");
    assert!(thanks.body_text.contains("49.00"), "{}", thanks.body_text);
    assert!(!thanks.body_text.contains("0.00 USD") || thanks.body_text.contains("49.00 USD"));
    assert!(!thanks.subject.contains(" 0.00"), "{}", thanks.subject);
    app.shutdown().await;
}

/// A successful retry is `done` with its result, not `canceled` by the
/// recovery it caused.
async fn a_successful_retry_is_done(backend: Backend) {
    let s = scenario("in_done");
    let server = stripe(&s, "insufficient_funds", 1).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(10, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    let case = app.case(&s.invoice).await;
    let work = app.store.work_of(case.id).await.unwrap();
    let retry = work.iter().find(|w| w.key == "retry:1").expect("retry 1");
    assert_eq!(retry.status, WorkStatus::Done, "{retry:?}");
    assert_eq!(retry.result.as_deref(), Some("paid"));
    app.shutdown().await;
}

/// The bank asks the customer to authenticate, before or after the failure
/// arrives (or as an `authentication_required` decline): the same end state
/// and the same emails, and no charge while the bank waits.
async fn action_required_in_any_order(backend: Backend) {
    let orders: [&[&str]; 3] = [
        &["invoice.payment_failed", "invoice.payment_action_required"],
        &["invoice.payment_action_required", "invoice.payment_failed"],
        &["charge.failed", "invoice.payment_failed"],
    ];
    let mut outcomes = Vec::new();
    for (n, order) in orders.iter().enumerate() {
        let s = dunwell::trigger::Scenario {
            decline_code: "authentication_required".into(),
            api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
            ..scenario(&format!("in_sca_order{n}"))
        };
        let server = stripe(&s, "authentication_required", 0).await;
        let Some(app) = app_with(backend, &server, &[]).await else {
            return;
        };
        for (i, event_type) in order.iter().enumerate() {
            app.send(event_type, &event(&s, &format!("e{i}"))).await;
        }
        app.live_through(5, 6).await;
        let case = app.case(&s.invoice).await;
        let mut kinds: Vec<String> = app
            .store
            .outbox(Some(case.id), 20)
            .await
            .unwrap()
            .into_iter()
            .map(|m| format!("{}:{}", m.kind, m.stage))
            .collect();
        kinds.sort();
        assert!(
            requests(&server, "POST", "/pay").await.is_empty(),
            "{order:?}: no charge while the bank waits for the customer"
        );
        outcomes.push((state(&app, &s).await, kinds));
        app.shutdown().await;
    }
    assert_eq!(outcomes[0].0, Some(CaseState::AwaitingCustomer));
    assert!(
        outcomes[0].1.contains(&"action_required:0".to_owned()),
        "{outcomes:?}"
    );
    assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:?}");
}

/// The default day-3 and day-7 reminders never read the same.
async fn reminders_differ_stage_by_stage(backend: Backend) {
    let s = scenario("in_reminders");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.advance(Duration::days(8));
    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    let mails = app.store.outbox(Some(case.id), 20).await.unwrap();
    let stage = |n| {
        mails
            .iter()
            .find(|m| m.kind == "payment_failed" && m.stage == n)
            .unwrap_or_else(|| panic!("stage {n} written: {mails:?}"))
    };
    let (day3, day7) = (stage(3), stage(7));
    assert_ne!(day3.subject, day7.subject);
    assert_ne!(day3.body_text, day7.body_text);
    assert!(
        day7.subject.starts_with("Second reminder"),
        "{}",
        day7.subject
    );
    app.shutdown().await;
}

/// The store hands the engine typed facts: a case row whose stored id is
/// not one (changed by hand at a SQL prompt) is an error naming the case
/// and the column, never an empty or wrong id passed on. (An unknown state
/// the database itself refuses: `queue::the_database_refuses_...`.)
async fn a_broken_case_row_is_an_error_naming_the_case(backend: Backend) {
    let s = scenario("in_typed");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.wait_processed().await;
    let case = app.case(&s.invoice).await;
    assert_eq!(case.invoice_id, s.invoice.as_str());
    assert!(case.state.is_some());
    let id = case.id;
    for (column, value, reset) in [
        ("subscription_id", "in_not_a_subscription", "sub_fixed"),
        ("customer_id", "cus_bad-id", "cus_fixed"),
        ("charge_id", "", "ch_fixed"),
    ] {
        app.raw_sql(format!(
            "UPDATE cases SET {column} = '{value}' WHERE id = {id}"
        ))
        .await
        .unwrap();
        let err = app.store.case_by_id(id).await.expect_err(column);
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("case {id}")) && text.contains(column),
            "{text}"
        );
        app.raw_sql(format!(
            "UPDATE cases SET {column} = '{reset}' WHERE id = {id}"
        ))
        .await
        .unwrap();
    }
    assert!(app.store.case_by_id(id).await.unwrap().is_some());
    app.shutdown().await;
}

crate::backend_tests!(
    a_broken_case_row_is_an_error_naming_the_case,
    a_healthy_renewal_is_no_case,
    a_failure_delivered_after_the_payment_is_recovered_quietly,
    the_thank_you_names_the_amount_paid,
    a_successful_retry_is_done,
    action_required_in_any_order,
    reminders_differ_stage_by_stage,
);
