//! Pre-dunning: a customer whose card will have expired by the renewal is
//! warned once, before any payment fails.

use chrono::{Datelike, Duration, Utc};
use dunwell::trigger::Scenario;

use crate::helpers::{Backend, TestApp, spawn_manual};

fn scenario(customer: &str, exp_month: u32, exp_year: i32) -> Scenario {
    Scenario {
        customer: customer.into(),
        invoice: format!("in_{customer}"),
        card_exp_month: exp_month,
        card_exp_year: exp_year,
        ..Scenario::example("evt_unused", crate::helpers::now())
    }
}

fn event(s: &Scenario, id: &str) -> Scenario {
    Scenario {
        event_id: format!("evt_{id}_{}", s.customer),
        ..s.clone()
    }
}

/// The `invoice.upcoming` of a renewal a few weeks on (next month or later).
fn upcoming(s: &Scenario, id: &str) -> Scenario {
    Scenario {
        now: (Utc::now() + Duration::days(40)).timestamp(),
        ..event(s, id)
    }
}

async fn notices(app: &TestApp, customer: &str) -> Vec<dunwell::store::notices::Notice> {
    app.store.notices_of(customer).await.unwrap()
}

async fn a_card_expiring_before_the_renewal_is_warned_about_once(backend: Backend) {
    let Some(app) = spawn_manual(backend, &[]).await else {
        return;
    };
    let today = crate::helpers::pinned();
    let s = scenario("cus_expiring", today.month(), today.year());
    app.send("payment_method.attached", &event(&s, "pm")).await;
    app.send("invoice.upcoming", &upcoming(&s, "up1")).await;
    app.run_due_jobs().await;
    let sent = notices(&app, "cus_expiring").await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let notice = &sent[0];
    assert_eq!(
        notice.kind,
        dunwell::domain::notice::NoticeKind::CardExpiring
    );
    assert_eq!(notice.status, dunwell::domain::notice::NoticeStatus::Outbox);
    assert_eq!(notice.recipient.as_deref(), Some("maria.silva@example.com"));
    let text = notice.body_text.as_deref().unwrap();
    let month = today.format("%B %Y").to_string();
    assert!(
        text.contains(&format!(
            "Visa ending 4242 we have on file expires at the end of {month}"
        )),
        "{text}"
    );
    assert!(
        text.contains("$49.00") && text.contains("/billing/update/ucus_expiring.b."),
        "{text}"
    );
    assert!(
        notice
            .body_html
            .as_deref()
            .unwrap()
            .contains("Update your card")
    );
    // The link leads to a page that names the card and offers the button.
    let start = text.find("/billing/update/").unwrap();
    let link = text[start..].split_whitespace().next().unwrap();
    let page = app.get(link).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("Keep your subscription running"), "{body}");
    assert!(body.contains("Visa ending 4242"), "{body}");
    assert!(body.contains(&format!("{link}/card")), "{body}");

    // The next upcoming reminder and Stripe's own expiring notice for the
    // same card and expiry do not write again.
    app.send("invoice.upcoming", &upcoming(&s, "up2")).await;
    app.send("customer.source.expiring", &event(&s, "expiring"))
        .await;
    app.run_due_jobs().await;
    assert_eq!(notices(&app, "cus_expiring").await.len(), 1);
    app.shutdown().await;
}

async fn a_card_valid_at_the_renewal_or_unknown_gets_no_warning(backend: Backend) {
    let Some(app) = spawn_manual(backend, &[]).await else {
        return;
    };
    let valid = scenario("cus_valid", 8, 2030);
    app.send("payment_method.attached", &event(&valid, "pm"))
        .await;
    app.send("invoice.upcoming", &upcoming(&valid, "up")).await;
    let unknown = scenario("cus_unknown", 1, 2020);
    app.send("invoice.upcoming", &upcoming(&unknown, "up"))
        .await;
    app.run_due_jobs().await;
    assert!(notices(&app, "cus_valid").await.is_empty());
    assert!(notices(&app, "cus_unknown").await.is_empty());
    app.shutdown().await;
}

async fn a_new_card_before_the_warning_goes_out_cancels_it(backend: Backend) {
    let Some(app) = spawn_manual(backend, &[]).await else {
        return;
    };
    let today = crate::helpers::pinned();
    let old = scenario("cus_replaced", today.month(), today.year());
    app.send("customer.source.expiring", &event(&old, "expiring"))
        .await;
    let new = Scenario {
        payment_method: "pm_NewCard2031".into(),
        ..scenario("cus_replaced", 3, 2031)
    };
    app.send("payment_method.attached", &event(&new, "pm"))
        .await;
    app.run_due_jobs().await;
    let sent = notices(&app, "cus_replaced").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].status,
        dunwell::domain::notice::NoticeStatus::Skipped
    );
    app.shutdown().await;
}

/// A notice whose SMTP delivery fails is tried again with the emails'
/// backoff (15 min, 30 min, 1 h...), and given up after as many tries, the
/// same rule as a case's emails.
async fn a_notice_that_fails_to_send_is_tried_again(backend: Backend) {
    // Nothing listens on port 1: every delivery fails for sure.
    let smtp = [
        ("smtp_url", "smtp://127.0.0.1:1"),
        ("mail_from", "billing@example.com"),
    ];
    let Some(app) = spawn_manual(backend, &smtp).await else {
        return;
    };
    let today = crate::helpers::pinned();
    let s = scenario("cus_smtp_down", today.month(), today.year());
    app.send("payment_method.attached", &event(&s, "pm")).await;
    app.send("invoice.upcoming", &upcoming(&s, "up")).await;
    app.run_due_jobs().await;
    let first = &notices(&app, "cus_smtp_down").await[0];
    assert_eq!(
        first.status,
        dunwell::domain::notice::NoticeStatus::Pending,
        "put off, not dropped: {first:#?}"
    );
    assert_eq!(first.tries, 1);
    assert!(first.error.as_deref().unwrap_or_default().contains("SMTP"));
    // Not before its backoff.
    app.advance(Duration::minutes(10));
    app.run_due_jobs().await;
    assert_eq!(notices(&app, "cus_smtp_down").await[0].tries, 1);
    for _ in 0..8 {
        app.advance(Duration::hours(5));
        app.run_due_jobs().await;
    }
    let last = &notices(&app, "cus_smtp_down").await[0];
    assert_eq!(
        last.status,
        dunwell::domain::notice::NoticeStatus::Failed,
        "{last:#?}"
    );
    assert_eq!(last.tries, dunwell::jobs::MAX_TRIES);
    app.shutdown().await;
}

crate::backend_tests!(
    a_notice_that_fails_to_send_is_tried_again,
    a_card_expiring_before_the_renewal_is_warned_about_once,
    a_card_valid_at_the_renewal_or_unknown_gets_no_warning,
    a_new_card_before_the_warning_goes_out_cancels_it,
);
