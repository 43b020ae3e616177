//! The way back after a cancel: the cancel email's button opens the case's
//! page, which says what happened and offers to reactivate; that button
//! opens the processor's checkout for the canceled subscription's prices
//! (a canceled subscription cannot be resumed, only started again), which
//! returns to the page; once the customer subscribed again the page says
//! so and offers nothing more. A subscription that cannot be copied opens
//! the account page instead. The page's rare answers speak the customer's
//! language too.

use dunwell::domain::case::CaseState;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::stand_in::*;

const PORTAL: &str = "https://billing.stripe.com/p/session/test_account";
const CHECKOUT: &str = "https://checkout.stripe.com/c/pay/cs_test_again";

/// The canceled subscription as the processor keeps it (its prices), a
/// checkout for it, and `since`: the customer's subscriptions created
/// since the cancel.
async fn mount_resubscribe(
    server: &MockServer,
    s: &dunwell::trigger::Scenario,
    since: serde_json::Value,
) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/subscriptions/{}", s.subscription)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": s.subscription, "object": "subscription", "status": "canceled",
            "customer": s.customer,
            "items": {"object": "list", "data": [
                {"id": "si_1", "price": {"id": "price_team_monthly"}, "quantity": 3},
                {"id": "si_legacy", "price": null, "quantity": 1},
                {"id": "si_2", "price": {"id": "price_api_calls_metered"}}
            ]}
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "cs_test_again", "url": CHECKOUT})),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": since, "has_more": false})),
        )
        .mount(server)
        .await;
}

/// A subscription created since the cancel: `status`, its metadata and
/// its one price.
fn since_cancel(status: &str, metadata: serde_json::Value, price: &str) -> serde_json::Value {
    json!({"id": "sub_since", "object": "subscription", "status": status, "metadata": metadata,
           "items": {"object": "list", "data": [{"id": "si_9", "price": {"id": price}, "quantity": 1}]}})
}

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
    // Since the cancel: a trial of another product, and a subscription
    // that ended at once; neither brings this one back.
    mount_resubscribe(
        &server,
        &s,
        json!([
            since_cancel("trialing", json!({}), "price_other_product"),
            since_cancel("incomplete_expired", json!({}), "price_team_monthly"),
        ]),
    )
    .await;
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
        "Sie können es jederzeit wieder aufnehmen",
        "Abonnement wieder aufnehmen",
        "/reactivate\"",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert!(!page.contains("Karte aktualisieren"), "{page}");

    // Its button: 303 to the processor's checkout for the same prices and
    // quantities, which returns to the page either way.
    let posted = post(&app, &format!("{link}/reactivate"), &app.address).await;
    assert_eq!(posted.status(), 303);
    assert_eq!(posted.headers()["location"], CHECKOUT);
    let sessions = requests(&server, "POST", "/v1/checkout/sessions").await;
    assert_eq!(sessions.len(), 1);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sessions[0].body)
        .into_owned()
        .collect();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("mode"), Some("subscription"));
    assert_eq!(field("customer"), Some(s.customer.as_str()));
    assert_eq!(field("line_items[0][price]"), Some("price_team_monthly"));
    assert_eq!(field("line_items[0][quantity]"), Some("3"));
    // An item without a price is left out (no gap in the numbering); a
    // metered price takes no quantity.
    assert_eq!(
        field("line_items[1][price]"),
        Some("price_api_calls_metered")
    );
    assert_eq!(field("line_items[1][quantity]"), None);
    assert_eq!(field("line_items[2][price]"), None);
    assert_eq!(
        field("subscription_data[metadata][dunwell_resubscribes]"),
        Some(s.subscription.as_str())
    );
    assert!(field("success_url").unwrap().ends_with(&link), "{form:?}");
    assert!(field("cancel_url").unwrap().ends_with(&link), "{form:?}");
    // Again (the back button, a double click): the same checkout — one
    // idempotency key — and nothing charged here.
    assert_eq!(
        post(&app, &format!("{link}/reactivate"), &app.address)
            .await
            .status(),
        303
    );
    let sessions = requests(&server, "POST", "/v1/checkout/sessions").await;
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[0].headers["idempotency-key"],
        sessions[1].headers["idempotency-key"]
    );
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), charged);
    assert_eq!(requests(&server, "DELETE", &s.subscription).await.len(), 1);

    // Back from a paid checkout: the page welcomes them and offers nothing
    // more; the button, posted again, only shows the page.
    for (how, since) in [
        (
            "the checkout's subscription",
            since_cancel(
                "active",
                json!({"dunwell_resubscribes": s.subscription}),
                "price_team_monthly",
            ),
        ),
        (
            "one made elsewhere with the same price",
            since_cancel("trialing", json!({}), "price_team_monthly"),
        ),
    ] {
        server.reset().await;
        german_customer(&server, &s).await;
        mount_resubscribe(&server, &s, json!([since])).await;
        let page = app.get(&link).await.text().await.unwrap();
        assert!(
            page.contains("Ihr Abonnement läuft wieder"),
            "{how}: {page}"
        );
    }
    let page = app.get(&link).await.text().await.unwrap();
    assert!(!page.contains("/reactivate\""), "{page}");
    let posted = post(&app, &format!("{link}/reactivate"), &app.address).await;
    assert_eq!(posted.status(), 303);
    assert!(
        posted.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with(&link)
    );
    assert!(
        requests(&server, "POST", "/v1/checkout/sessions")
            .await
            .is_empty()
    );
    let asked = requests(&server, "GET", "/v1/subscriptions").await;
    let query = asked[0].url.query().unwrap_or_default().to_owned();
    assert!(
        query.contains(&format!("customer={}", s.customer)),
        "{query}"
    );
    assert!(query.contains("created%5Bgte%5D="), "{query}");

    // The rare answers, in German: a post from elsewhere, the card button
    // of an ended case.
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
    // A subscription the processor no longer has cannot be copied: the
    // button opens the account page (a portal session without a flow).
    server.reset().await;
    german_customer(&server, &s).await;
    mount_portal(&server, PORTAL).await;
    let posted = post(&app, &format!("{link}/reactivate"), &app.address).await;
    assert_eq!(posted.status(), 303);
    assert_eq!(posted.headers()["location"], PORTAL);
    let portal = requests(&server, "POST", "/v1/billing_portal/sessions").await;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&portal[0].body)
        .into_owned()
        .collect();
    assert!(
        !form.iter().any(|(k, _)| k == "flow_data[type]"),
        "{form:?}"
    );
    // And when that is down too, the customer is told, in German.
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
    for opened in ["/v1/billing_portal/sessions", "/v1/checkout/sessions"] {
        assert!(
            requests(&server, "POST", opened).await.is_empty(),
            "{opened}"
        );
    }
    app.shutdown().await;
}

/// On the simulated processor (the README's first command) the button
/// has no checkout to open: the customer is subscribed again and comes
/// straight back to a page that welcomes them and offers nothing more.
async fn on_the_simulated_processor_the_way_back_ends_welcomed(backend: Backend) {
    let s = scenario("in_sim_back_insufficient_funds");
    let Some(app) = spawn_manual(backend, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(23, 6).await;
    assert_eq!(state(&app, &s).await, Some(CaseState::Canceled));
    let (link, _) = link_in(&app, &s, "subscription_canceled").await;
    let page = app.get(&link).await.text().await.unwrap();
    assert!(
        page.contains("Your subscription has been canceled"),
        "{page}"
    );
    let posted = post(&app, &format!("{link}/reactivate"), &app.address).await;
    assert_eq!(posted.status(), 303);
    let back = posted.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.ends_with(&link), "{back}");
    let page = app.get(&link).await.text().await.unwrap();
    assert!(page.contains("Your subscription is active again"), "{page}");
    assert!(!page.contains("/reactivate\""), "{page}");
    app.shutdown().await;
}

crate::backend_tests!(
    on_the_simulated_processor_the_way_back_ends_welcomed,
    a_canceled_customer_finds_the_way_back,
    a_live_case_has_nothing_to_reactivate,
);
