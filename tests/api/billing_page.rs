//! The customer's billing page, reached the way customers reach it: from
//! the link in the email, to the processor's card page and back, which
//! retries the charge. Bad links get one friendly page that tells nothing.

use dunwell::domain::case::CaseState;
use dunwell::domain::links::{self, LinkSubject};
use dunwell::trigger::Scenario;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::stand_in::*;

const PORTAL: &str = "https://billing.stripe.com/p/session/test_portal";

async fn with_portal(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "bps_1", "url": PORTAL})),
        )
        .mount(server)
        .await;
}

/// The path of the card-update link in the case's first email.
async fn link_in_email(app: &TestApp, s: &Scenario) -> String {
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

/// A case whose first email went out (the processor declines for funds),
/// and the path of the link in it.
async fn a_case_emailed(
    backend: Backend,
    invoice: &str,
) -> Option<(Scenario, MockServer, TestApp, String)> {
    let s = scenario(invoice);
    let server = stripe(&s, "insufficient_funds", 0).await;
    with_portal(&server).await;
    let app = app_with(backend, &server, &[]).await?;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    let link = link_in_email(&app, &s).await;
    Some((s, server, app, link))
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn the_email_link_leads_to_a_new_card_and_a_retry(backend: Backend) {
    let s = Scenario {
        decline_code: "expired_card".into(),
        api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
        ..scenario("in_page_card")
    };
    let server = stripe(&s, "expired_card", 1).await;
    with_portal(&server).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("charge.failed", &event(&s, "charge")).await;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    assert_eq!(state(&app, &s).await, Some(CaseState::AwaitingCustomer));
    assert!(requests(&server, "POST", "/pay").await.is_empty());

    // The link in the email opens the page.
    let link = link_in_email(&app, &s).await;
    let page = app.get(&link).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("49.00 USD"), "{body}");
    assert!(body.contains(&s.invoice), "{body}");
    assert!(body.contains("Update your card"), "{body}");
    assert!(body.contains("the card on file has expired"), "{body}");

    // Its button: 303 to the processor's card page, set up as documented.
    let client = no_redirects();
    let posted = client
        .post(format!("{}{link}/card", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
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
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("customer").as_deref(), Some(s.customer.as_str()));
    assert_eq!(
        field("flow_data[type]").as_deref(),
        Some("payment_method_update")
    );
    let back = field("return_url").expect("a return URL");
    assert!(back.ends_with(&format!("{link}/done")), "{back}");
    assert!(sessions[0].headers.contains_key("idempotency-key"));

    // Back from the card page: the charge is tried again at once.
    let back_path = &back[back.find("/billing/").unwrap()..];
    let returned = app.get(back_path).await;
    assert_eq!(returned.status(), 200);
    assert!(
        returned
            .text()
            .await
            .unwrap()
            .contains("try your card again now")
    );
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    // Coming back again (a reload) charges nothing more.
    app.get(back_path).await;
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    let settled = app.get(&link).await.text().await.unwrap();
    assert!(settled.contains("Your payment went through"), "{settled}");
    assert!(!settled.contains("Update your card"));
    app.shutdown().await;
}

async fn bad_links_get_one_page_that_tells_nothing(backend: Backend) {
    let Some((s, server, app, link)) = a_case_emailed(backend, "in_page_bad").await else {
        return;
    };
    let token = link.trim_start_matches("/billing/update/").to_owned();
    let secret = app.engine.link_secret().to_vec();
    let now = app.engine.clock.now().timestamp();
    let mut bad = vec![
        "nonsense".to_owned(),
        links::sign(&secret, &LinkSubject::Case(1), now - 60),
        links::sign(&secret, &LinkSubject::Case(999), now + 3600),
        links::sign(
            b"another install's secret",
            &LinkSubject::Case(1),
            now + 3600,
        ),
    ];
    // Every byte of the genuine token, changed.
    for i in 0..token.len() {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
        let tampered = String::from_utf8(bytes).unwrap();
        if tampered != token {
            bad.push(tampered);
        }
    }
    for token in &bad {
        let page = app.get(&format!("/billing/update/{token}")).await;
        assert_eq!(page.status(), 404, "{token}");
        let body = page.text().await.unwrap();
        assert!(body.contains("no longer valid"), "{body}");
        assert!(
            !body.contains(&s.invoice) && !body.contains("49.00"),
            "{body}"
        );
        let posted = no_redirects()
            .post(format!("{}/billing/update/{token}/card", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 404, "{token}");
    }
    assert!(
        requests(&server, "POST", "/v1/billing_portal/sessions")
            .await
            .is_empty()
    );
    // The genuine one still works.
    assert_eq!(app.get(&link).await.status(), 200);
    app.shutdown().await;
}

async fn a_cross_site_post_is_refused(backend: Backend) {
    let Some((_, server, app, link)) = a_case_emailed(backend, "in_page_csrf").await else {
        return;
    };
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let posted = no_redirects()
            .post(format!("{}{link}/card", app.address))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 403, "{name}: {value}");
    }
    assert!(
        requests(&server, "POST", "/v1/billing_portal/sessions")
            .await
            .is_empty()
    );
    app.shutdown().await;
}

crate::backend_tests!(
    the_email_link_leads_to_a_new_card_and_a_retry,
    bad_links_get_one_page_that_tells_nothing,
    a_cross_site_post_is_refused,
);
