//! The way back after a cancel: the cancel email's button opens the case's
//! page, which says what happened and offers to reactivate; that button
//! opens the processor's account page (a portal session without a flow),
//! which returns to the page. The page's rare answers speak the customer's
//! language too.

use dunwell::domain::case::CaseState;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::stand_in::*;

const PORTAL: &str = "https://billing.stripe.com/p/session/test_account";

async fn german_customer(server: &MockServer, s: &dunwell::trigger::Scenario) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", s.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": s.customer, "object": "customer", "email": s.customer_email,
            "name": "Lena Vogel", "preferred_locales": ["de-DE", "en"]
        })))
        .mount(server)
        .await;
}

/// The link in the case's email of `kind`.
async fn link_in(app: &TestApp, s: &dunwell::trigger::Scenario, kind: &str) -> (String, String) {
    let case = app.case(&s.invoice).await;
    let mails = app.store.outbox(Some(case.id), 50).await.unwrap();
    let mail = mails
        .iter()
        .find(|m| m.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} email"));
    let start = mail.body_text.find("/billing/update/").expect("a link");
    let link = mail.body_text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    (link, mail.body_text.clone())
}

async fn post(app: &TestApp, to: &str, origin: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}{to}", app.address))
        .header("origin", origin)
        .header("accept-language", "de-DE,de;q=0.9")
        .send()
        .await
        .unwrap()
}

async fn a_canceled_customer_finds_the_way_back(backend: Backend) {
    let s = scenario("in_reactivate");
    let server = stripe(&s, "insufficient_funds", 0).await;
    german_customer(&server, &s).await;
    mount_portal(&server, PORTAL).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(23, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Canceled));
    let charged = requests(&server, "POST", "/pay").await.len();

    // The cancel email's button says what it does and leads to the page.
    let (link, text) = link_in(&app, &s, "subscription_canceled").await;
    assert!(text.contains("Abonnement wieder aufnehmen"), "{text}");
    assert!(!text.contains("antworten Sie auf diese E-Mail"), "{text}");
    let page = app.get(&link).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for shown in [
        "Ihr Abonnement wurde gekündigt",
        "Sie können es jederzeit in Ihrem Kundenkonto wieder aufnehmen",
        "Abonnement wieder aufnehmen",
        "/reactivate\"",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert!(!page.contains("Karte aktualisieren"), "{page}");

    // Its button: 303 to the processor's account page, which returns to
    // the page; no flow, so the customer sees their whole account.
    let posted = post(&app, &format!("{link}/reactivate"), &app.address).await;
    assert_eq!(posted.status(), 303);
    assert_eq!(posted.headers()["location"], PORTAL);
    let sessions = requests(&server, "POST", "/v1/billing_portal/sessions").await;
    assert_eq!(sessions.len(), 1);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sessions[0].body)
        .into_owned()
        .collect();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("customer"), Some(s.customer.as_str()));
    assert!(field("return_url").unwrap().ends_with(&link), "{form:?}");
    assert_eq!(field("flow_data[type]"), None, "{form:?}");
    // Again (the back button, a double click): the page opens again and
    // nothing else happens.
    assert_eq!(
        post(&app, &format!("{link}/reactivate"), &app.address)
            .await
            .status(),
        303
    );
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), charged);
    assert_eq!(requests(&server, "DELETE", &s.subscription).await.len(), 1);

    // The rare answers, in German: a post from elsewhere, the card button
    // of an ended case, the account page down.
    let forged = post(&app, &format!("{link}/reactivate"), "https://evil.example").await;
    assert_eq!(forged.status(), 403);
    let forged = forged.text().await.unwrap();
    assert!(
        forged.contains("Bitte verwenden Sie den Link aus Ihrer E-Mail"),
        "{forged}"
    );
    let card = post(&app, &format!("{link}/card"), &app.address).await;
    assert_eq!(card.status(), 409);
    let card = card.text().await.unwrap();
    assert!(card.contains("Hier ist nichts mehr zu bezahlen"), "{card}");
    server.reset().await;
    german_customer(&server, &s).await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"type": "invalid_request_error", "message": "No configuration provided"}
        })))
        .mount(&server)
        .await;
    let down = post(&app, &format!("{link}/reactivate"), &app.address).await;
    assert_eq!(down.status(), 503);
    let down = down.text().await.unwrap();
    assert!(
        down.contains("Ihr Kundenkonto lässt sich gerade nicht öffnen"),
        "{down}"
    );
    app.shutdown().await;
}

/// A case still being worked on has nothing to reactivate: its page has
/// no such button, and a post sends the customer back to the page.
async fn a_live_case_has_nothing_to_reactivate(backend: Backend) {
    let s = scenario("in_reactivate_live");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    let link = link_in_email(&app, &s).await;
    let page = app.get(&link).await.text().await.unwrap();
    assert!(!page.contains("/reactivate"), "{page}");
    let posted = post(&app, &format!("{link}/reactivate"), &app.address).await;
    assert_eq!(posted.status(), 303);
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(posted.headers()["location"], format!("../{token}").as_str());
    assert!(
        requests(&server, "POST", "/v1/billing_portal/sessions")
            .await
            .is_empty()
    );
    app.shutdown().await;
}

crate::backend_tests!(
    a_canceled_customer_finds_the_way_back,
    a_live_case_has_nothing_to_reactivate,
);
