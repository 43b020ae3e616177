//! The policy's offers on the customer's billing page, walked as customers
//! walk them: a confirm step that states the terms in their language and
//! currency, one change at the processor however often it is posted, the
//! page showing the new state, one confirmation email; a pause with an end.

use dunwell::domain::case::CaseState;
use dunwell::trigger::Scenario;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::stand_in::*;

const POLICY: &str = r#"
[[offers]]
id = "yearly"
kind = "plan_change"
price = "price_yearly"
label = "Switch to yearly and save 20%"
proration_behavior = "create_prorations"

[[offers]]
id = "pause"
kind = "pause"
label = "Pause for a month"
"#;

/// A case whose day-0 email went out (funds decline, the retry that
/// follows succeeds) and the billing page path from that email.
async fn emailed(
    backend: Backend,
    invoice: &str,
) -> Option<(Scenario, MockServer, TestApp, String)> {
    let s = scenario(invoice);
    let server = stripe(&s, "insufficient_funds", 1).await;
    mount_price(&server, "price_yearly", "Pro yearly", 47_000, "usd", "year").await;
    let app = app_with_policy(backend, &server, &[], POLICY).await?;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    let link = link_in_email(&app, &s).await;
    // The customer reads the email an hour later.
    app.advance(chrono::Duration::hours(1));
    Some((s, server, app, link))
}

fn form_field(body: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The path a 303 leads to, from the path that answered it.
fn redirected(from: &str, answer: &reqwest::Response) -> String {
    assert_eq!(answer.status(), 303, "a redirect from {from}");
    let location = answer.headers()["location"].to_str().unwrap();
    let base = url::Url::parse("http://dunwell.invalid").unwrap();
    base.join(from).unwrap().join(location).unwrap()[url::Position::BeforePath..].to_owned()
}

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}{path}", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap()
}

/// Email → page → offer → its confirm step (terms, the processor's price,
/// from when) → confirmed once however often posted → the page shows the
/// new plan and no offer → one confirmation email; then the charge is
/// tried again and goes through.
async fn a_plan_change_is_confirmed_made_once_and_shown(backend: Backend) {
    let Some((s, server, app, link)) = emailed(backend, "in_offer_plan").await else {
        return;
    };
    // The page shows the offer with the processor's price; it leads to the
    // confirm step (a GET: nothing changes yet).
    let page = app.get(&link).await.text().await.unwrap();
    assert!(page.contains("Switch to yearly and save 20%"), "{page}");
    assert!(page.contains("$470.00 per year"), "{page}");
    let token = link.trim_start_matches("/billing/update/");
    let action = format!("/billing/offers/{token}/yearly");
    assert!(
        page.contains(&format!("href=\"http://127.0.0.1:8080{action}\"")),
        "{page}"
    );
    let terms = app.get(&action).await.text().await.unwrap();
    for said in [
        "Switch to Pro yearly?",
        "From today you pay $470.00 per year.",
        "The difference for the rest of the current period is added to your next invoice.",
        "We&#39;ll then try the open payment of $49.00 again.",
        "Yes, switch to Pro yearly",
    ] {
        assert!(terms.contains(said), "{said} missing: {terms}");
    }
    assert!(
        terms.contains(&format!("action=\"http://127.0.0.1:8080{action}\"")),
        "{terms}"
    );
    assert!(
        requests(
            &server,
            "POST",
            &format!("/v1/subscriptions/{}", s.subscription)
        )
        .await
        .is_empty(),
        "the confirm step changes nothing"
    );

    // Confirmed three times (a double click, a reload): one change.
    let mut shown = String::new();
    for _ in 0..3 {
        let answer = post(&app, &action).await;
        shown = redirected(&action, &answer);
        assert_eq!(shown, format!("{link}?offer=yearly"));
    }
    let changes = requests(
        &server,
        "POST",
        &format!("/v1/subscriptions/{}", s.subscription),
    )
    .await;
    assert_eq!(changes.len(), 1, "one change, whatever was posted");
    let body = String::from_utf8_lossy(&changes[0].body).into_owned();
    assert_eq!(
        form_field(&body, "items[0][price]").as_deref(),
        Some("price_yearly")
    );
    assert_eq!(
        form_field(&body, "proration_behavior").as_deref(),
        Some("create_prorations")
    );
    assert!(form_field(&body, "items[0][id]").is_some_and(|id| id.starts_with("si_")));
    assert!(
        changes[0].headers["idempotency-key"]
            .to_str()
            .unwrap()
            .contains("offer-yearly")
    );

    // The page now shows the new plan and offers nothing more.
    let after = app.get(&shown).await.text().await.unwrap();
    assert!(
        after.contains("Done: your plan is now Pro yearly."),
        "{after}"
    );
    assert!(after.contains("<dd>Pro yearly</dd>"), "{after}");
    assert!(!after.contains("/billing/offers/"), "{after}");

    // Then the charge is tried again now, and it goes through; one
    // confirmation email names the new plan and its price.
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    let case = app.case(&s.invoice).await;
    let sent = app.store.outbox(Some(case.id), 100).await.unwrap();
    let confirmations: Vec<_> = sent.iter().filter(|m| m.kind == "offer_taken").collect();
    assert_eq!(confirmations.len(), 1, "{sent:?}");
    assert_eq!(confirmations[0].subject, "Your plan is now Pro yearly");
    assert!(confirmations[0].body_text.contains("$470.00 per year"));
    let timeline = app.store.timeline(case.id).await.unwrap();
    assert_eq!(timeline.iter().filter(|t| t.kind == "offer").count(), 1);
    // The thank-you offers nothing: no offer is marked for it.
    let thanks = sent
        .iter()
        .find(|m| m.kind == "thank_you")
        .expect("a thank-you");
    assert!(
        !thanks.body_text.contains("By the way"),
        "{}",
        thanks.body_text
    );

    // Another offer afterwards changes nothing more: the one taken stands.
    let pause = format!("/billing/offers/{token}/pause");
    let other = post(&app, &pause).await;
    assert_eq!(redirected(&pause, &other), format!("{link}?offer=yearly"));
    let changes = requests(
        &server,
        "POST",
        &format!("/v1/subscriptions/{}", s.subscription),
    )
    .await;
    assert_eq!(changes.len(), 1);
    app.shutdown().await;
}

/// A German customer paying in euros: the pause's confirm step says until
/// when, in German; the processor is told when collection resumes; the
/// page says the subscription is paused until then; one confirmation.
async fn a_pause_has_an_end_in_the_customers_words(backend: Backend) {
    let s = Scenario {
        amount: dunwell::domain::money::Money::from_minor(
            1999,
            dunwell::domain::money::Currency::parse("eur").unwrap(),
        )
        .unwrap(),
        ..scenario("in_offer_pause")
    };
    let server = stripe(&s, "insufficient_funds", 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", s.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": s.customer, "object": "customer", "email": s.customer_email,
            "name": "Lena Vogel", "preferred_locales": ["de-DE", "en"]
        })))
        .mount(&server)
        .await;
    let Some(app) = app_with_policy(backend, &server, &[], POLICY).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    let link = link_in_email(&app, &s).await;
    let token = link.trim_start_matches("/billing/update/");
    let page = app.get(&link).await.text().await.unwrap();
    assert!(page.contains("19,99 €"), "{page}");

    let now = app.engine.clock.now();
    let ends = now + chrono::Duration::days(30);
    let day = dunwell::domain::locale::Locale::De.date(ends.date_naive());
    // The page's button says until when (the operator wrote no German).
    assert!(page.contains(&format!("Bis {day} pausieren")), "{page}");
    let action = format!("/billing/offers/{token}/pause");
    let terms = app.get(&action).await.text().await.unwrap();
    assert!(terms.contains("Abonnement pausieren?"), "{terms}");
    assert!(
        terms.contains(&format!("beginnt am {day} wieder")),
        "{day}: {terms}"
    );
    assert!(terms.contains("offene Zahlung von 19,99 €"), "{terms}");
    assert!(!terms.contains('$'), "{terms}");

    let shown = redirected(&action, &post(&app, &action).await);
    let changes = requests(
        &server,
        "POST",
        &format!("/v1/subscriptions/{}", s.subscription),
    )
    .await;
    assert_eq!(changes.len(), 1);
    let body = String::from_utf8_lossy(&changes[0].body).into_owned();
    assert_eq!(
        form_field(&body, "pause_collection[behavior]").as_deref(),
        Some("void")
    );
    let resumes: i64 = form_field(&body, "pause_collection[resumes_at]")
        .expect("a pause has an end")
        .parse()
        .unwrap();
    assert!(
        (resumes - ends.timestamp()).abs() < 60,
        "{resumes} vs {ends}"
    );
    assert_eq!(state(&app, &s).await, Some(CaseState::Closed));

    let after = app.get(&shown).await.text().await.unwrap();
    assert!(after.contains("Ihr Abonnement pausiert"), "{after}");
    assert!(
        after.contains(&format!("Bis {day} wird nichts berechnet")),
        "{after}"
    );
    assert!(!after.contains("/billing/offers/"), "{after}");

    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    let sent = app.store.outbox(Some(case.id), 100).await.unwrap();
    let confirmations: Vec<_> = sent.iter().filter(|m| m.kind == "offer_taken").collect();
    assert_eq!(confirmations.len(), 1, "{sent:?}");
    assert_eq!(
        confirmations[0].subject,
        format!("Ihr Abonnement pausiert bis {day}")
    );
    assert_eq!(pending_work(&app, &s).await, 0);

    // Unknown offers and foreign sites are refused.
    let unknown = post(&app, &format!("/billing/offers/{token}/free-forever")).await;
    assert_eq!(unknown.status(), 404);
    let unknown = app
        .get(&format!("/billing/offers/{token}/free-forever"))
        .await;
    assert_eq!(unknown.status(), 404);
    let forged = app
        .client
        .post(format!("{}/billing/offers/{token}/yearly", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    app.shutdown().await;
}

crate::backend_tests!(
    a_plan_change_is_confirmed_made_once_and_shown,
    a_pause_has_an_end_in_the_customers_words,
);
