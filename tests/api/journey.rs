//! A fresh install as the README's first command runs it (`dunwell serve`,
//! SQLite, the simulated processor, mail to the outbox), driven from
//! outside: the failed payment's email, its link, the card button and back,
//! the retry, the thank-you and its link. Every link the emails carry is
//! followed to its page.

use std::time::Duration;

use dunwell::domain::case::CaseState;
use dunwell::store::Store;
use dunwell::trigger::Scenario;

use crate::helpers::*;
use crate::process::{Process, eventually};
use crate::restarts::{post, ready};
use crate::stand_in::{event, scenario};

/// The customer link in the case's first email of `kind`, once written.
async fn link_in(store: &Store, invoice: &str, kind: &str, public: &str) -> String {
    eventually(Duration::from_secs(20), kind, || async {
        let case = store.case_by_invoice(invoice).await.ok()??;
        let mails = store.outbox(Some(case.id), 20).await.ok()?;
        let mail = mails.iter().find(|m| m.kind == kind)?;
        let start = mail.body_text.find(public)?;
        let link = mail.body_text[start..].split_whitespace().next()?;
        assert!(link.contains("/billing/update/"), "{link}");
        Some(link.to_owned())
    })
    .await
}

#[tokio::test]
async fn a_fresh_install_takes_a_customer_from_the_email_to_a_paid_invoice() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    // The address the links name is the one the process listens on.
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let public = format!("http://127.0.0.1:{port}");
    let process = Process::start(
        "serve",
        "serve",
        &[
            ("DUNWELL_DATABASE_URL", db.url.as_str()),
            ("DUNWELL_WEBHOOK_SECRETS", SECRET),
            ("DUNWELL_BIND", bind.as_str()),
            ("DUNWELL_PUBLIC_URL", public.as_str()),
        ],
    );
    ready(&process).await;
    let store = db.store().await;
    // The simulation refuses this invoice as an expired card until a new
    // card is added: only the customer can fix it.
    let s = Scenario {
        decline_code: "expired_card".into(),
        ..scenario("in_journey_expired_card")
    };
    post(&process, "invoice.payment_failed", &event(&s, "failed")).await;
    let link = link_in(&store, &s.invoice, "payment_failed", &public).await;

    // Click one: the email's link.
    let client = no_redirects();
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("$49.00"), "{body}");
    assert!(body.contains("Update your card"), "{body}");

    // Click two: the card button. The simulation has no card page of its
    // own: it sends the customer straight back, as if a card was added.
    let posted = client
        .post(format!("{link}/card"))
        .header("origin", &public)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    let back = posted.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&format!("{link}/done?visit=")), "{back}");
    // The return spends the trip and redirects to the page, which shows
    // the result as soon as it is known (it refreshes itself meanwhile).
    let done = client.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap();
    let result = url::Url::parse(&back)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string();
    assert!(result.starts_with(&format!("{link}?visit=")), "{result}");

    // The retry runs on its own and recovers; the page says so; the
    // thank-you's link shows the receipt.
    eventually(Duration::from_secs(20), "the case recovered", || async {
        let case = store.case_by_invoice(&s.invoice).await.ok()??;
        (case.state == Some(CaseState::Recovered)).then_some(())
    })
    .await;
    let after = client
        .get(&result)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(after.contains("Your new card worked"), "{after}");
    let receipt = link_in(&store, &s.invoice, "thank_you", &public).await;
    let page = client.get(&receipt).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("Your payment went through"), "{body}");
    assert!(!body.contains("/card"), "a receipt cannot act: {body}");
    drop(process);
}
