//! `retry_owner = "after_processor"`: dunwell writes from the first
//! failure, charges only once the processor gave up, and counts the
//! processor's attempts on the card's ledger.

use dunwell::trigger::Scenario;
use serde_json::json;

use crate::helpers::*;
use crate::stand_in::*;

/// The processor's failure number `attempt`; `next` when it plans another.
async fn processor_failed(app: &TestApp, s: &Scenario, attempt: u32, next: Option<i64>) {
    let mut body = dunwell::trigger::builder::build(
        "invoice.payment_failed",
        &event(s, &format!("failed_{attempt}")),
    )
    .unwrap();
    body["data"]["object"]["attempt_count"] = json!(attempt);
    body["data"]["object"]["next_payment_attempt"] = json!(next);
    let body = serde_json::to_vec(&body).unwrap();
    assert_eq!(app.post_event(&body).await.status(), 200);
    app.wait_processed().await;
}

async fn retries_planned(app: &TestApp, s: &Scenario) -> usize {
    let case = app.case(&s.invoice).await;
    app.store
        .work_of(case.id)
        .await
        .unwrap()
        .iter()
        .filter(|w| w.work.kind() == "retry")
        .count()
}

async fn the_processor_retries_first_and_dunwell_takes_over(backend: Backend) {
    let s = scenario("in_handoff");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let extra = [("policy.retry_owner", "after_processor")];
    let Some(app) = app_with(backend, &server, &extra).await else {
        return;
    };
    let in_three_days = now() + 3 * 86_400;
    app.send("charge.failed", &event(&s, "charge")).await;
    app.wait_processed().await;
    processor_failed(&app, &s, 1, Some(in_three_days)).await;
    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    assert_eq!(case.state, Some(dunwell::domain::case::CaseState::Retrying));
    assert_eq!(
        retries_planned(&app, &s).await,
        0,
        "no charge while the processor retries"
    );
    let mails = app.store.outbox(Some(case.id), 10).await.unwrap();
    assert!(
        mails.iter().any(|m| m.kind == "payment_failed"),
        "the customer hears from the first failure"
    );

    processor_failed(&app, &s, 3, Some(in_three_days + 3 * 86_400)).await;
    assert_eq!(retries_planned(&app, &s).await, 0);

    // The processor's last word: no next attempt. dunwell plans its own.
    processor_failed(&app, &s, 4, None).await;
    assert_eq!(retries_planned(&app, &s).await, 1);
    let case = app.case(&s.invoice).await;
    let track = case.track.case.as_ref().unwrap();
    assert_eq!(
        track.attempts.len(),
        4,
        "the processor's attempts are on the ledger"
    );
    assert_eq!(track.retries_made, 0);
    let timeline = app.store.timeline(case.id).await.unwrap();
    assert!(
        timeline.iter().any(|t| t.detail["text"]
            .as_str()
            .is_some_and(|x| x.contains("gave up after 4 attempts"))),
        "{timeline:?}"
    );
    app.shutdown().await;
}

crate::backend_tests!(the_processor_retries_first_and_dunwell_takes_over);
