//! Processor calls that cannot go wrong: keys unique across installs on one
//! account, a reused key or a stored 5xx never stalls the work, and work
//! that finally gives up says so on its case.

use chrono::Duration;
use dunwell::domain::case::CaseState;
use dunwell::domain::work::WorkStatus;

use crate::account::Account;
use crate::helpers::*;
use crate::stand_in::{app_with, event, scenario, state};

/// Two installs (two fresh databases, so both have a case number 1) on one
/// processor account: both invoices are paid, no key is used twice.
async fn two_installs_share_one_account(backend: Backend) {
    let (server, account) = Account::start(1, "processing_error").await;
    let mut invoices = Vec::new();
    for install in ["a", "b"] {
        let Some(app) = app_with(backend, &server, &[]).await else {
            return;
        };
        let s = scenario(&format!("in_install_{install}"));
        app.send("invoice.payment_failed", &event(&s, "failed"))
            .await;
        app.live_through(10, 6).await;
        assert_eq!(app.case(&s.invoice).await.id.get(), 1);
        assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
        invoices.push(s.invoice);
        app.shutdown().await;
    }
    let keys = account.keys("POST", "/pay");
    let unique: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(keys.len(), 4, "two attempts each: {keys:?}");
    assert_eq!(unique.len(), 4, "no key reused across installs: {keys:?}");
    for invoice in invoices {
        assert!(account.is_paid(&invoice));
    }
}

/// The processor answers `idempotency_error` (the key was used for another
/// request): logged as the bug it is, retried under a fresh key, and the
/// invoice is paid; never taken for a decline, never dropped.
async fn a_reused_key_goes_on_under_a_fresh_one(backend: Backend) {
    let (server, account) = Account::start(0, "processing_error").await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    let s = scenario("in_reused");
    let key = app.engine.idempotency_key(&s.invoice, "pay", 1, 0);
    // Someone else's request took the key first.
    let taken = reqwest::Client::new()
        .post(format!("{}/v1/invoices/in_someone_else/pay", server.uri()))
        .header("idempotency-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 200);
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(10, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    let ours = account.keys("POST", &format!("{}/pay", s.invoice));
    assert_eq!(
        ours,
        vec![
            key.clone(),
            app.engine.idempotency_key(&s.invoice, "pay", 1, 1)
        ]
    );
    let case = app.case(&s.invoice).await;
    let attempts = app.store.timeline(case.id).await.unwrap();
    assert!(
        !attempts
            .iter()
            .any(|t| t.kind == "attempt" && t.detail["outcome"] == "declined"),
        "a reused key is no decline"
    );
    app.shutdown().await;
}

const DOWNGRADE: [(&str, &str); 2] = [
    ("policy.final.action", "downgrade"),
    ("policy.final.downgrade_price", "price_Basic"),
];

/// A downgrade that gets a 500 (which the processor stores for the key) is
/// made again under a fresh key after a backoff: applied exactly once, and
/// the case does not stick.
async fn a_downgrade_after_a_500_is_applied_once(backend: Backend) {
    let (server, account) = Account::start(u32::MAX, "insufficient_funds").await;
    let Some(app) = app_with(backend, &server, &DOWNGRADE).await else {
        return;
    };
    let s = scenario("in_down500");
    let subscription = format!("/v1/subscriptions/{}", s.subscription);
    account.fail_next(&subscription, 500);
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(23, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Downgraded));
    let keys = account.keys("POST", &subscription);
    assert_eq!(
        keys,
        vec![
            app.engine.idempotency_key(&s.invoice, "downgrade", 1, 0),
            app.engine.idempotency_key(&s.invoice, "downgrade", 1, 1)
        ],
        "the stored 500 is not replayed forever: a fresh key follows"
    );
    let case = app.case(&s.invoice).await;
    assert_eq!(case.needs_attention, None);
    let pending = app.store.work_of(case.id).await.unwrap();
    assert!(pending.iter().all(|w| w.status != WorkStatus::Pending));
    app.shutdown().await;
}

/// The processor refuses the final action for good: the work fails, and the
/// case says so on its timeline and in a flag the operator can list.
async fn work_that_gives_up_flags_its_case(backend: Backend) {
    let (server, account) = Account::start(u32::MAX, "insufficient_funds").await;
    let Some(app) = app_with(backend, &server, &DOWNGRADE).await else {
        return;
    };
    let s = scenario("in_refused");
    account.fail_next(&format!("/v1/subscriptions/{}", s.subscription), 400);
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(23, 6).await;
    let case = app.case(&s.invoice).await;
    let live = state(&app, &s).await.is_some_and(|s| !s.is_terminal());
    assert!(live, "the downgrade did not happen");
    let flag = case.needs_attention.expect("flagged for the operator");
    assert!(flag.contains("final"), "{flag}");
    let timeline = app.store.timeline(case.id).await.unwrap();
    assert!(timeline.iter().any(|t| t.kind == "needs_attention"));
    let work = app.store.work_of(case.id).await.unwrap();
    let last = work.iter().find(|w| w.key == "final").unwrap();
    assert_eq!(last.status, WorkStatus::Failed);
    // Flagged cases are listed for the operator.
    let flagged = app.store.cases_needing_attention(10).await.unwrap();
    assert_eq!(
        flagged.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![case.id]
    );
    app.advance(Duration::days(1));
    app.shutdown().await;
}

crate::backend_tests!(
    two_installs_share_one_account,
    a_reused_key_goes_on_under_a_fresh_one,
    a_downgrade_after_a_500_is_applied_once,
    work_that_gives_up_flags_its_case,
);
