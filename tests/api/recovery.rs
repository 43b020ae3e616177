//! The recovery engine end to end: signed events in over HTTP, wiremock as
//! Stripe, the engine's clock moved by hand and due jobs run as the workers
//! would. Every test runs on SQLite and on PostgreSQL.

use chrono::Duration;
use dunwell::domain::case::CaseState;
use dunwell::trigger::Scenario;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::Backend;
use crate::stand_in::*;

async fn soft_declines_then_recovered(backend: Backend) {
    let s = scenario("in_soft");
    let server = stripe(&s, "insufficient_funds", 3).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.send("charge.failed", &event(&s, "charge")).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Retrying));
    // The friendly email goes out at once.
    app.run_due_jobs().await;
    assert_eq!(mails(&app, &s, "payment_failed").await, 1);

    // Through the whole retry window: where the planner puts the three
    // retries depends on the calendar's paydays.
    app.live_through(22, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    let case = app.case(&s.invoice).await;
    let paid = requests(&server, "POST", "/pay").await;
    assert_eq!(
        keys(&paid),
        (1..=3).map(|n| pay_key(&app, &s, n, 0)).collect::<Vec<_>>()
    );
    assert_eq!(mails(&app, &s, "thank_you").await, 1);
    assert_eq!(
        pending_work(&app, &s).await,
        0,
        "recovery stops all pending work"
    );

    // Nothing more happens afterwards, whatever arrives.
    app.send("invoice.paid", &event(&s, "paid")).await;
    app.live_through(10, 12).await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 3);
    assert_eq!(requests(&server, "DELETE", &s.subscription).await.len(), 0);
    assert_eq!(mails(&app, &s, "thank_you").await, 1);
    let timeline = app.store.timeline(case.id).await.unwrap();
    let attempts: Vec<_> = timeline.iter().filter(|t| t.kind == "attempt").collect();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].detail["decline_code"], "insufficient_funds");
    assert_eq!(attempts[0].detail["category"], "funds");
    assert_eq!(attempts[2].detail["outcome"], "paid");
    // The planner's running counts took each retry as it finished, with
    // the case's refusal and time zone.
    let learned = app.store.retry_history(0).await.unwrap();
    let tries: i64 = learned.iter().map(|r| r.tries).sum();
    let paid: i64 = learned.iter().map(|r| r.paid).sum();
    assert_eq!((tries, paid), (3, 1), "{learned:?}");
    assert!(
        learned
            .iter()
            .all(|r| r.category.as_deref() == Some("funds")
                && r.code.as_deref() == Some("insufficient_funds")
                && r.timezone == case.timezone
                && r.country == case.country),
        "{learned:?}"
    );
    // Each retry also counts by whole days since the case opened and whole
    // hours since the retry before it (since the opening, for the first).
    let mut by_hour = learned.clone();
    by_hour.sort_by_key(|r| r.hour_ms);
    let opened = case.opened_at.unwrap();
    let hour = 3_600_000;
    let mut last = opened;
    for r in &by_hour {
        // The retry was due within its hour: its day count is that of the
        // hour's start or end.
        let day = 86_400_000;
        let days = [
            (r.hour_ms - opened) / day,
            (r.hour_ms + hour - opened) / day,
        ];
        assert!(
            days.contains(&r.days_since_failure),
            "{r:?} opened {opened}"
        );
        let gap_hours = (r.hour_ms - last) as f64 / hour as f64;
        assert!(
            (r.hours_since_last as f64 - gap_hours).abs() <= 1.0,
            "{r:?} after {last}"
        );
        last = r.hour_ms;
    }
    app.shutdown().await;
}

async fn expired_card_waits_for_a_new_card(backend: Backend) {
    for api_version in [
        dunwell::trigger::LEGACY_API_VERSION,
        dunwell::trigger::BASIL_API_VERSION,
    ] {
        for charge_first in [true, false] {
            let s = Scenario {
                decline_code: "expired_card".into(),
                api_version: api_version.into(),
                ..scenario(&format!("in_expired_{}_{charge_first}", &api_version[..4]))
            };
            expired_card_case(backend, &s, charge_first).await;
        }
    }
}

/// In the newer API shape the charge names no invoice: it is matched to
/// the customer's case by amount, whichever arrives first.
async fn expired_card_case(backend: Backend, s: &Scenario, charge_first: bool) {
    let s = s.clone();
    let server = stripe(&s, "expired_card", 1).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    // Stripe usually sends the charge's failure first; not always.
    if charge_first {
        app.send("charge.failed", &event(&s, "charge")).await;
    }
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    if !charge_first {
        app.send("charge.failed", &event(&s, "charge")).await;
    }
    app.live_through(5, 6).await;
    let why = format!("{} charge first: {charge_first}", s.api_version);
    assert_eq!(
        state(&app, &s).await,
        Some(CaseState::AwaitingCustomer),
        "{why}"
    );
    assert!(
        requests(&server, "POST", "/pay").await.is_empty(),
        "a hard decline is not retried ({why})"
    );
    let case = app.case(&s.invoice).await;
    assert_eq!(
        case.charge_id.as_deref(),
        Some(format!("ch_{}", &s.invoice[3..]).as_str()),
        "{why}"
    );

    // The card already declined, attached again, is nothing new.
    app.send("payment_method.attached", &event(&s, "pm_same"))
        .await;
    app.run_due_jobs().await;
    assert!(requests(&server, "POST", "/pay").await.is_empty());
    let new_card = Scenario {
        payment_method: "pm_NewCard2031".into(),
        ..event(&s, "pm")
    };
    app.send("payment_method.attached", &new_card).await;
    app.run_due_jobs().await;
    assert_eq!(
        requests(&server, "POST", "/pay").await.len(),
        1,
        "a new card is retried right away"
    );
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    assert_eq!(mails(&app, &s, "thank_you").await, 1);
    app.shutdown().await;
}

async fn every_retry_fails_then_cancel(backend: Backend) {
    let s = scenario("in_allfail");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(23, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Canceled));
    assert_eq!(requests(&server, "DELETE", &s.subscription).await.len(), 1);
    let attempts = requests(&server, "POST", "/pay").await.len();
    assert!((1..=8).contains(&attempts), "{attempts} attempts");
    assert_eq!(mails(&app, &s, "final_notice").await, 1);
    // The final action is not repeated, and nothing is charged after it.
    app.live_through(10, 12).await;
    assert_eq!(requests(&server, "DELETE", &s.subscription).await.len(), 1);
    assert_eq!(requests(&server, "POST", "/pay").await.len(), attempts);
    app.shutdown().await;
}

async fn every_retry_fails_then_downgrade(backend: Backend) {
    let s = scenario("in_downgrade");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let policy = [
        ("policy.final.action", "downgrade"),
        ("policy.final.downgrade_price", "price_Basic"),
    ];
    let Some(app) = app_with(backend, &server, &policy).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(23, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Downgraded));
    let updates = requests(
        &server,
        "POST",
        &format!("/v1/subscriptions/{}", s.subscription),
    )
    .await;
    assert_eq!(updates.len(), 1);
    let form = String::from_utf8_lossy(&updates[0].body).to_string();
    assert!(
        form.contains("items%5B0%5D%5Bprice%5D=price_Basic"),
        "{form}"
    );
    assert!(
        requests(&server, "DELETE", &s.subscription)
            .await
            .is_empty()
    );
    app.shutdown().await;
}

async fn voided_midway_stops_everything(backend: Backend) {
    let s = scenario("in_voided");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    // The first retry falls on a likely payday in the customer's morning,
    // so when depends on today's date (a Friday night put it on Monday, more
    // than three days on): live until it has been made, ten days at most.
    let mut before = 0;
    for _ in 0..10 {
        app.live_through(1, 6).await;
        before = requests(&server, "POST", "/pay").await.len();
        if before >= 1 {
            break;
        }
    }
    assert!(before >= 1, "no retry within ten days");
    app.send("invoice.voided", &event(&s, "voided")).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Closed));
    app.live_through(25, 12).await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), before);
    assert!(
        requests(&server, "DELETE", &s.subscription)
            .await
            .is_empty()
    );
    assert_eq!(pending_work(&app, &s).await, 0);
    app.shutdown().await;
}

async fn the_same_event_three_times_counts_once(backend: Backend) {
    let s = scenario("in_triple");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    for _ in 0..3 {
        app.send("invoice.payment_failed", &event(&s, "failed"))
            .await;
    }
    let case = app.case(&s.invoice).await;
    assert_eq!(case.version, 1, "applied once");
    app.run_due_jobs().await;
    assert_eq!(mails(&app, &s, "payment_failed").await, 1);
    let work = app.store.work_of(case.id).await.unwrap();
    let retries = work.iter().filter(|w| w.work.kind() == "retry").count();
    assert_eq!(retries, 1);
    app.shutdown().await;
}

async fn a_job_run_twice_charges_once(backend: Backend) {
    let s = scenario("in_twice");
    let server = stripe(&s, "insufficient_funds", 1).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    let case = app.case(&s.invoice).await;
    let retry = planned_retry(&app, case.id).await;
    app.advance(Duration::days(4));
    // Two workers handed the same job at once (a redelivery).
    let (a, b) = tokio::join!(
        dunwell::jobs::run_work(&app.engine, retry.id),
        dunwell::jobs::run_work(&app.engine, retry.id)
    );
    a.unwrap();
    b.unwrap();
    // And once more after it finished.
    dunwell::jobs::run_work(&app.engine, retry.id)
        .await
        .unwrap();
    let paid = requests(&server, "POST", "/pay").await;
    assert_eq!(keys(&paid), vec![pay_key(&app, &s, 1, 0)]);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    app.shutdown().await;
}

async fn a_429_is_retried_under_the_same_key(backend: Backend) {
    let s = scenario("in_limited");
    let server = stripe(&s, "insufficient_funds", 1).await;
    Mock::given(method("POST"))
        .and(path(pay_path(&s)))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({"error": {"type": "rate_limit_error"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    // Ten days: the first retry waits for a likely payday, which can be
    // more than three days away; once paid nothing more happens.
    app.live_through(10, 6).await;
    let paid = requests(&server, "POST", "/pay").await;
    assert_eq!(keys(&paid), vec![pay_key(&app, &s, 1, 0); 2]);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    app.shutdown().await;
}

async fn a_500_then_a_fresh_attempt(backend: Backend) {
    let s = scenario("in_fivehundred");
    let server = stripe(&s, "insufficient_funds", 1).await;
    Mock::given(method("POST"))
        .and(path(pay_path(&s)))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    // Ten days: the first retry waits for a likely payday (see above).
    app.live_through(10, 6).await;
    let case = app.case(&s.invoice).await;
    let paid = requests(&server, "POST", "/pay").await;
    // The 500 is stored by Stripe for its key: the next try uses a new one,
    // and it is still the customer's first attempt.
    assert_eq!(
        keys(&paid),
        vec![pay_key(&app, &s, 1, 0), pay_key(&app, &s, 1, 1)]
    );
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    let timeline = app.store.timeline(case.id).await.unwrap();
    let attempts: Vec<_> = timeline.iter().filter(|t| t.kind == "attempt").collect();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].detail["attempt"], 1);
    // The invoice was re-read after the 500 before trying again.
    let reads = requests(&server, "GET", &s.invoice).await.len();
    assert!(reads >= 3, "{reads} reads");
    app.shutdown().await;
}

async fn processor_owned_retries_make_no_pay_calls(backend: Backend) {
    let s = scenario("in_processor_owned");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let policy = [("policy.retry_owner", "processor")];
    let Some(app) = app_with(backend, &server, &policy).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(23, 12).await;
    assert!(requests(&server, "POST", "/pay").await.is_empty());
    assert!(
        mails(&app, &s, "payment_failed").await >= 2,
        "dunwell still writes"
    );
    app.send("invoice.paid", &event(&s, "paid")).await;
    assert_eq!(
        mails(&app, &s, "thank_you").await,
        0,
        "the case had ended already"
    );
    app.shutdown().await;
}

crate::backend_tests!(
    soft_declines_then_recovered,
    expired_card_waits_for_a_new_card,
    every_retry_fails_then_cancel,
    every_retry_fails_then_downgrade,
    voided_midway_stops_everything,
    the_same_event_three_times_counts_once,
    a_job_run_twice_charges_once,
    a_429_is_retried_under_the_same_key,
    a_500_then_a_fresh_attempt,
    processor_owned_retries_make_no_pay_calls,
);

/// The demo path: real job workers, the simulated processor and simulated
/// time (`DUNWELL_CLOCK_SPEED`), events as `dunwell trigger` sends them.
async fn simulated_time_and_processor_recover_on_their_own(backend: Backend) {
    let s = scenario("in_demo_recovers2");
    let Some(db) = crate::helpers::TestDb::new(backend).await else {
        return;
    };
    let app = crate::helpers::spawn_on(db, &[("clock_speed", "200000")]).await;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    // Two simulated retries a few simulated days apart: seconds of real time.
    let mut recovered = false;
    for _ in 0..300 {
        if state(&app, &s).await == Some(CaseState::Recovered) {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "recovered by the workers within 30 s");
    let case = app.case(&s.invoice).await;
    let timeline = app.store.timeline(case.id).await.unwrap();
    let attempts: Vec<_> = timeline.iter().filter(|t| t.kind == "attempt").collect();
    assert_eq!(attempts.len(), 2, "{timeline:#?}");
    assert_eq!(attempts[0].detail["outcome"], "declined");
    assert_eq!(attempts[1].detail["outcome"], "paid");
    for _ in 0..100 {
        if mails(&app, &s, "thank_you").await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(mails(&app, &s, "thank_you").await, 1);
    app.shutdown().await;
}

crate::backend_tests!(simulated_time_and_processor_recover_on_their_own);

/// A retry planned for later on the old card moves up when a new card comes.
async fn a_new_card_moves_the_planned_retry_up(backend: Backend) {
    let s = Scenario {
        decline_code: "do_not_honor".into(),
        ..scenario("in_newcard")
    };
    let server = stripe(&s, "do_not_honor", 1).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    assert!(
        requests(&server, "POST", "/pay").await.is_empty(),
        "the retry waits hours"
    );
    app.send("customer.updated", &event(&s, "customer")).await;
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    let case = app.case(&s.invoice).await;
    let retries: Vec<_> = app
        .store
        .work_of(case.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.work.kind() == "retry")
        .collect();
    assert_eq!(retries.len(), 1, "the same attempt, moved up");
    app.shutdown().await;
}

crate::backend_tests!(a_new_card_moves_the_planned_retry_up);

/// The bank wants the customer to authenticate: dunwell asks them, then the
/// payment they confirm ends the case.
async fn authentication_is_asked_for_then_paid(backend: Backend) {
    let s = scenario("in_sca");
    let server = stripe(&s, "authentication_required", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.send("invoice.payment_action_required", &event(&s, "action"))
        .await;
    app.run_due_jobs().await;
    assert_eq!(state(&app, &s).await, Some(CaseState::AwaitingCustomer));
    assert_eq!(mails(&app, &s, "action_required").await, 1);
    app.send("invoice.paid", &event(&s, "paid")).await;
    app.run_due_jobs().await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    assert_eq!(mails(&app, &s, "thank_you").await, 1);
    assert_eq!(pending_work(&app, &s).await, 0);
    app.shutdown().await;
}

/// A dispute pauses the case (nothing charged meanwhile); a deleted
/// subscription ends it.
async fn a_dispute_pauses_and_a_deleted_subscription_ends(backend: Backend) {
    let s = Scenario {
        api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
        ..scenario("in_disputed")
    };
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.send("charge.dispute.created", &event(&s, "dispute"))
        .await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Paused));
    assert_eq!(
        pending_work(&app, &s).await,
        0,
        "pausing cancels planned work"
    );
    app.live_through(25, 12).await;
    assert!(requests(&server, "POST", "/pay").await.is_empty());
    assert!(
        requests(&server, "DELETE", &s.subscription)
            .await
            .is_empty()
    );
    app.send("customer.subscription.deleted", &event(&s, "deleted"))
        .await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Canceled));
    app.shutdown().await;
}

crate::backend_tests!(
    authentication_is_asked_for_then_paid,
    a_dispute_pauses_and_a_deleted_subscription_ends
);

/// A worker dies while the charge is in flight (its job future dropped, the
/// lease left behind). When the lease runs out the job runs again and sends
/// the same Idempotency-Key, so the processor replays instead of charging
/// twice; the case recovers once.
async fn a_job_that_dies_mid_charge_reuses_its_key(backend: Backend) {
    let s = scenario("in_crash");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/invoices/{}", s.invoice)))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(object("invoice.payment_failed", &s)),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(pay_path(&s)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(object("invoice.paid", &s))
                .set_delay(std::time::Duration::from_millis(800)),
        )
        .mount(&server)
        .await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    let case = app.case(&s.invoice).await;
    let retry = planned_retry(&app, case.id).await;
    app.advance(Duration::days(4));
    let died = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        dunwell::jobs::run_work(&app.engine, retry.id),
    )
    .await;
    assert!(died.is_err(), "the job was cut off mid-charge");
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    // Its lease blocks other workers until it expires (the due emails run)...
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    assert_eq!(state(&app, &s).await, Some(CaseState::Retrying));
    // ...which is what releasing it stands for here.
    app.store
        .release_lease(dunwell::store::work::Leased::Work, retry.id)
        .await
        .unwrap();
    app.run_due_jobs().await;
    let paid = requests(&server, "POST", "/pay").await;
    assert_eq!(keys(&paid), vec![pay_key(&app, &s, 1, 0); 2]);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    assert_eq!(mails(&app, &s, "thank_you").await, 1);
    app.shutdown().await;
}

crate::backend_tests!(a_job_that_dies_mid_charge_reuses_its_key);

/// A charge request that times out is retried under the same key.
async fn a_timeout_is_retried_under_the_same_key(backend: Backend) {
    let s = scenario("in_slow");
    let server = stripe(&s, "insufficient_funds", 1).await;
    Mock::given(method("POST"))
        .and(path(pay_path(&s)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(object("invoice.paid", &s))
                .set_delay(std::time::Duration::from_millis(2500)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let Some(app) = app_with(backend, &server, &[("stripe_timeout_secs", "1")]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    // Ten days: the first retry waits for a likely payday, which can be
    // more than three days away; once paid nothing more happens.
    app.live_through(10, 6).await;
    let paid = requests(&server, "POST", "/pay").await;
    assert_eq!(keys(&paid), vec![pay_key(&app, &s, 1, 0); 2]);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    app.shutdown().await;
}

crate::backend_tests!(a_timeout_is_retried_under_the_same_key);
