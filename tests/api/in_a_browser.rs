//! The customer's way, in a real browser (Debian's headless `chromium`):
//! from the link in the email to the billing page, a click on "Update your
//! card" that lands on the processor's card page, back to our page, and the
//! retry that recovers; on another case, an offer's confirm step and the
//! page after it; in German and euros, a declined new card, a second one
//! that pays, and a bank's request to confirm. Every page is checked with
//! axe-core and kept as screenshots (`target/test-artifacts/`).

use dunwell::domain::case::CaseState;
use dunwell::trigger::Scenario;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::browser::{Browser, artifacts_dir, axe_for_test, chromium, violations as found};
use crate::helpers::*;
use crate::stand_in::*;

const POLICY: &str = r#"
[[offers]]
id = "yearly"
kind = "plan_change"
price = "price_yearly"
label = "Switch to yearly and save 20%"
labels = { de = "Jährlich zahlen und 20 % sparen" }
proration_behavior = "create_prorations"
"#;

/// The processor's card page, played by the stand-in: a page whose only
/// link goes back where the portal session said to return.
async fn portal_page(server: &MockServer) -> String {
    // As the processor's portal does: the session's page links back to the
    // return URL it was given (with the billing page's visit in it).
    let uri = server.uri();
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(move |request: &wiremock::Request| {
            let back = url::form_urlencoded::parse(&request.body)
                .into_owned()
                .find(|(k, _)| k == "return_url")
                .map(|(_, v)| v)
                .unwrap_or_default();
            let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "bps_1", "url": format!("{uri}/p/session/test_portal?return={back}")
            }))
        })
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/p/session/test_portal"))
        .respond_with(|request: &wiremock::Request| {
            let back = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "return")
                .map(|(_, v)| v.replace('&', "&amp;").replace('"', "&quot;"))
                .unwrap_or_default();
            let page = format!(
                r#"<!doctype html><title>Stripe portal stand-in</title>
                <h1>Update your payment method</h1>
                <a id="return" href="{back}">Return to Acme Analytics</a>"#
            );
            ResponseTemplate::new(200).set_body_raw(page, "text/html")
        })
        .mount(server)
        .await;
    format!("{}/p/session/test_portal", server.uri())
}

/// Runs `walk` with the browser on a thread of its own (it blocks) and
/// hands the browser back.
async fn in_browser<T: Send + 'static>(
    mut browser: Browser,
    walk: impl FnOnce(&mut Browser) -> T + Send + 'static,
) -> (Browser, T) {
    tokio::task::spawn_blocking(move || {
        let out = walk(&mut browser);
        (browser, out)
    })
    .await
    .expect("the browser's walk")
}

#[tokio::test]
async fn a_customer_goes_from_the_email_to_a_new_card_or_a_new_plan_in_two_clicks() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI (.ci/run installs it)"
        );
        eprintln!(
            "skipped: no chromium on the PATH (apt-get install chromium, or set DUNWELL_TEST_CHROMIUM)"
        );
        return;
    };
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}");
    let bind = format!("127.0.0.1:{port}");
    let card = Scenario {
        decline_code: "expired_card".into(),
        api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
        customer_name: "Jamie Rivera".into(),
        customer_email: "jamie.rivera@example.com".into(),
        ..scenario("in_browser_card")
    };
    let plan = scenario("in_browser_plan");
    let server = MockServer::start().await;
    mount_stripe(&server, &card, "expired_card", 1).await;
    mount_stripe(&server, &plan, "insufficient_funds", 1).await;
    // On the processor's card page the customer adds a new card.
    mount_customer_card(&server, &card, "pm_NewCard2031").await;
    mount_price(&server, "price_yearly", "Pro yearly", 47_000, "usd", "year").await;
    let extra = [
        ("bind", bind.as_str()),
        ("public_url", address.as_str()),
        ("brand.name", "Acme Analytics"),
        ("brand.support_email", "help@acme.example"),
        ("brand.accent_color", "#4f46e5"),
    ];
    let app = app_with_policy(Backend::Sqlite, &server, &extra, POLICY)
        .await
        .expect("SQLite is always there");
    app.send("charge.failed", &event(&card, "charge")).await;
    app.send("invoice.payment_failed", &event(&card, "failed"))
        .await;
    app.send("invoice.payment_failed", &event(&plan, "failed"))
        .await;
    app.run_due_jobs().await;
    assert_eq!(state(&app, &card).await, Some(CaseState::AwaitingCustomer));

    // The links exactly as the emails carry them.
    let card_link = format!("{address}{}", link_in_email(&app, &card).await);
    let plan_link = format!("{address}{}", link_in_email(&app, &plan).await);
    let portal = portal_page(&server).await;
    let dir = artifacts_dir();
    let phone = dir.join("billing-page-phone.png");
    let laptop = dir.join("billing-page-laptop.png");

    // The pages are checked with axe-core as they are walked: no serious
    // or critical WCAG 2.1 AA violation.
    let axe = axe_for_test();

    // Click one: the email's link. Click two: "Update your card", which
    // lands on the processor's card page; the customer comes back.
    let browser = Browser::launch(&binary);
    let walk = {
        let (card_link, portal, phone, laptop) = (
            card_link.clone(),
            portal.clone(),
            phone.clone(),
            laptop.clone(),
        );
        let axe = axe.clone();
        move |b: &mut Browser| {
            b.viewport(390, 844, 2.0, true);
            b.open(&card_link);
            let page = b.text();
            let mut violations = found(b, &axe, "the billing page");
            b.screenshot(&phone);
            b.viewport(1366, 900, 1.0, false);
            b.open(&card_link);
            b.screenshot(&laptop);
            b.click("form[action$='/card'] button");
            let landed = b.wait_for_page(|href| href.starts_with(&portal));
            b.click("a#return");
            b.wait_for_page(|href| href.contains("?visit="));
            violations.extend(found(b, &axe, "the page after a card update"));
            (page, landed, b.text(), violations)
        }
    };
    let (browser, (page, landed, back, mut violations)) = in_browser(browser, walk).await;
    for shown in [
        "Acme Analytics",
        "Jamie Rivera",
        "Visa ending 4242",
        "$49.00",
        "Update your card",
        "the card on file has expired",
        "help@acme.example",
        "Switch to yearly and save 20%",
    ] {
        assert!(
            page.contains(shown),
            "{shown} missing from the page: {page}"
        );
    }
    assert!(landed.starts_with(&portal), "{landed}");
    assert!(back.contains("charging your new card"), "{back}");
    let sessions = requests(&server, "POST", "/v1/billing_portal/sessions").await;
    assert_eq!(sessions.len(), 1);
    let body = String::from_utf8_lossy(&sessions[0].body).into_owned();
    assert!(
        body.contains("flow_data%5Btype%5D=payment_method_update"),
        "{body}"
    );
    app.run_due_jobs().await;
    assert_eq!(state(&app, &card).await, Some(CaseState::Recovered));
    assert_eq!(requests(&server, "POST", &pay_path(&card)).await.len(), 1);

    // The settled page, and the other case's offer: its confirm step
    // (the terms, the processor's price), then the page with the new plan.
    let offer_shot = dir.join("offer-confirm-phone.png");
    let taken_shot = dir.join("offer-taken-phone.png");
    let walk = {
        let (card_link, plan_link) = (card_link.clone(), plan_link.clone());
        let (offer_shot, taken_shot) = (offer_shot.clone(), taken_shot.clone());
        let axe = axe.clone();
        move |b: &mut Browser| {
            b.open(&card_link);
            let settled = b.text();
            let mut violations = found(b, &axe, "the settled page");
            b.viewport(390, 844, 2.0, true);
            b.open(&plan_link);
            b.click("a[href*='/billing/offers/']");
            b.wait_for_page(|href| href.contains("/billing/offers/"));
            let terms = b.text();
            violations.extend(found(b, &axe, "an offer's confirm step"));
            b.screenshot(&offer_shot);
            b.click("form[action*='/billing/offers/'] button");
            b.wait_for_page(|href| href.contains("?offer="));
            violations.extend(found(b, &axe, "the page after an offer"));
            b.screenshot(&taken_shot);
            (settled, terms, b.text(), violations)
        }
    };
    let (browser, (settled, terms, taken, more)) = in_browser(browser, walk).await;
    drop(browser);
    violations.extend(more);
    assert!(violations.is_empty(), "accessibility: {violations:#?}");
    assert!(settled.contains("Your payment went through"), "{settled}");
    assert!(!settled.contains("Update your card"), "{settled}");
    assert!(terms.contains("Switch to Pro yearly?"), "{terms}");
    assert!(
        terms.contains("From today you pay $470.00 per year."),
        "{terms}"
    );
    assert!(
        taken.contains("Done: your plan is now Pro yearly."),
        "the page names the new plan: {taken}"
    );
    let changes = requests(
        &server,
        "POST",
        &format!("/v1/subscriptions/{}", plan.subscription),
    )
    .await;
    assert_eq!(changes.len(), 1);
    // The offer came minutes after the refusal: its retry keeps the gap
    // between two charges of a card, then runs.
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", &pay_path(&plan)).await.len(), 0);
    app.advance(chrono::Duration::minutes(16));
    app.run_due_jobs().await;
    assert_eq!(state(&app, &plan).await, Some(CaseState::Recovered));
    crate::browser::assert_shots([&phone, &laptop, &offer_shot, &taken_shot]);
    app.shutdown().await;
}

/// A German customer paying in euros: a new card that is declined too (the
/// page says so), a second card that pays (the page says so); on another
/// invoice, a bank's request to confirm whose page puts "Zahlung
/// bestätigen" first; on a third, the yearly plan in German and euros →
/// its confirm step → the page shows the new plan, and one confirmation
/// email. Each page is checked with axe-core.
#[tokio::test]
async fn a_german_customer_sees_a_declined_card_then_a_paid_one_and_a_bank_confirmation() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI (.ci/run installs it)"
        );
        eprintln!("skipped: no chromium on the PATH");
        return;
    };
    let axe = axe_for_test();
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}");
    let bind = format!("127.0.0.1:{port}");
    let euros = |minor| {
        dunwell::domain::money::Money::from_minor(
            minor,
            dunwell::domain::money::Currency::parse("eur").unwrap(),
        )
        .unwrap()
    };
    let funds = Scenario {
        amount: euros(1999),
        customer_name: "Lena Vogel".into(),
        ..scenario("in_browser_de")
    };
    let sca = Scenario {
        amount: euros(4900),
        decline_code: "authentication_required".into(),
        customer_name: "Jonas Keller".into(),
        ..scenario("in_browser_3ds")
    };
    let offer = Scenario {
        amount: euros(1900),
        customer_name: "Mia Schulz".into(),
        ..scenario("in_browser_de_plan")
    };
    let server = MockServer::start().await;
    mount_stripe(&server, &offer, "insufficient_funds", 1).await;
    mount_price(
        &server,
        "price_yearly",
        "Pro jährlich",
        19_000,
        "eur",
        "year",
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", offer.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": offer.customer, "object": "customer", "email": offer.customer_email,
            "name": "Mia Schulz", "preferred_locales": ["de-DE"],
        })))
        .mount(&server)
        .await;
    // The first charge after a new card is declined, the second pays.
    mount_stripe(&server, &funds, "insufficient_funds", 2).await;
    mount_stripe(&server, &sca, "authentication_required", 0).await;
    let customer = |card: &str| {
        json!({
            "id": funds.customer, "object": "customer", "email": funds.customer_email,
            "name": "Lena Vogel", "preferred_locales": ["de-DE", "en"],
            "invoice_settings": {"default_payment_method": card},
        })
    };
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", funds.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer("pm_ErsteKarte")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", sca.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": sca.customer, "object": "customer", "email": sca.customer_email,
            "name": "Jonas Keller", "preferred_locales": ["de-DE"],
        })))
        .mount(&server)
        .await;
    let portal = portal_page(&server).await;
    let extra = [
        ("bind", bind.as_str()),
        ("public_url", address.as_str()),
        ("brand.name", "Acme Analytics"),
    ];
    let app = app_with_policy(Backend::Sqlite, &server, &extra, POLICY)
        .await
        .expect("SQLite is always there");
    app.send("invoice.payment_failed", &event(&funds, "failed"))
        .await;
    app.send("invoice.payment_failed", &event(&sca, "failed"))
        .await;
    app.send("invoice.payment_action_required", &event(&sca, "action"))
        .await;
    app.send("invoice.payment_failed", &event(&offer, "failed"))
        .await;
    app.run_due_jobs().await;
    let offer_link = format!("{address}{}", link_in_email(&app, &offer).await);
    let funds_link = format!("{address}{}", link_in_email(&app, &funds).await);
    let case = app.case(&sca.invoice).await;
    let sent = app.store.outbox(Some(case.id), 10).await.unwrap();
    assert_eq!(sent.len(), 1, "one email asks to confirm: {sent:?}");
    let start = sent[0].body_text.find("/billing/update/").unwrap();
    let sca_link = format!(
        "{address}{}",
        sent[0].body_text[start..]
            .split_whitespace()
            .next()
            .unwrap()
    );
    let dir = artifacts_dir();
    let shots = [
        dir.join("declined-de-phone.png"),
        dir.join("paid-de-phone.png"),
        dir.join("confirm-de-phone.png"),
        dir.join("offer-confirm-de-phone.png"),
        dir.join("offer-taken-de-phone.png"),
    ];

    // The first card: back from the card page, charging; then declined.
    let browser = Browser::launch(&binary);
    let walk = {
        let (link, portal, axe) = (funds_link.clone(), portal.clone(), axe.clone());
        move |b: &mut Browser| {
            b.viewport(390, 844, 2.0, true);
            b.open(&link);
            let page = b.text();
            b.click("form[action$='/card'] button");
            b.wait_for_page(|href| href.starts_with(&portal));
            b.click("a#return");
            b.wait_for_page(|href| href.contains("?visit="));
            let violations = found(b, &axe, "charging, in German");
            (page, b.text(), violations)
        }
    };
    let (browser, (page, charging, mut violations)) = in_browser(browser, walk).await;
    assert!(page.contains("19,99 €"), "{page}");
    assert!(page.contains("Karte aktualisieren"), "{page}");
    assert!(
        charging.contains("Wir belasten jetzt Ihre neue Karte"),
        "{charging}"
    );
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", &pay_path(&funds)).await.len(), 1);
    let walk = {
        let (axe, shot) = (axe.clone(), shots[0].clone());
        move |b: &mut Browser| {
            b.click("a[href^='?visit=']");
            b.wait_for_text("Auch Ihre neue Karte wurde abgelehnt");
            let violations = found(b, &axe, "declined, in German");
            b.screenshot(&shot);
            (b.text(), violations)
        }
    };
    let (browser, (declined, more)) = in_browser(browser, walk).await;
    violations.extend(more);
    assert!(declined.contains("andere Karte"), "{declined}");

    // The second card pays; the page says so.
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", funds.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer("pm_ZweiteKarte")))
        .with_priority(1)
        .mount(&server)
        .await;
    let walk = {
        let (portal, axe) = (portal.clone(), axe.clone());
        move |b: &mut Browser| {
            b.click("form[action$='/card'] button");
            b.wait_for_page(|href| href.starts_with(&portal));
            b.click("a#return");
            b.wait_for_page(|href| href.contains("?visit="));
            let _ = axe;
        }
    };
    let (browser, ()) = in_browser(browser, walk).await;
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", &pay_path(&funds)).await.len(), 2);
    assert_eq!(state(&app, &funds).await, Some(CaseState::Recovered));
    let walk = {
        let (axe, shot, sca_link, confirm_shot) = (
            axe.clone(),
            shots[1].clone(),
            sca_link.clone(),
            shots[2].clone(),
        );
        move |b: &mut Browser| {
            b.click("a[href^='?visit=']");
            b.wait_for_text("Ihre neue Karte hat funktioniert");
            let mut violations = found(b, &axe, "paid, in German");
            b.screenshot(&shot);
            let paid = b.text();
            // The bank's request: the page asks to confirm first.
            b.open(&sca_link);
            violations.extend(found(b, &axe, "a bank's confirmation, in German"));
            b.screenshot(&confirm_shot);
            let first =
                b.eval("document.querySelector('.card a.button, .card form button').textContent");
            (paid, b.text(), first, violations)
        }
    };
    let (browser, (paid, confirm, first, more)) = in_browser(browser, walk).await;
    violations.extend(more);

    // The yearly plan, in German and euros: the offer's confirm step, then
    // the page with the new plan.
    let walk = {
        let (axe, link, terms_shot, taken_shot) = (
            axe.clone(),
            offer_link.clone(),
            shots[3].clone(),
            shots[4].clone(),
        );
        move |b: &mut Browser| {
            b.open(&link);
            let page = b.text();
            b.click("a[href*='/billing/offers/']");
            b.wait_for_page(|href| href.contains("/billing/offers/"));
            let terms = b.text();
            let mut violations = found(b, &axe, "an offer's terms, in German");
            b.screenshot(&terms_shot);
            b.click("form[action*='/billing/offers/'] button");
            b.wait_for_page(|href| href.contains("?offer="));
            violations.extend(found(b, &axe, "the new plan, in German"));
            b.screenshot(&taken_shot);
            (page, terms, b.text(), violations)
        }
    };
    let (browser, (offer_page, terms, taken, more)) = in_browser(browser, walk).await;
    drop(browser);
    violations.extend(more);
    assert!(
        offer_page.contains("Jährlich zahlen und 20 % sparen"),
        "{offer_page}"
    );
    assert!(offer_page.contains("190,00 € pro Jahr"), "{offer_page}");
    assert!(terms.contains("Zu Pro jährlich wechseln?"), "{terms}");
    assert!(
        terms.contains("Ab heute zahlen Sie 190,00 € pro Jahr."),
        "{terms}"
    );
    assert!(
        taken.contains("Erledigt: Ihr Tarif ist jetzt Pro jährlich."),
        "{taken}"
    );
    app.run_due_jobs().await;
    assert_eq!(mails(&app, &offer, "offer_taken").await, 1);
    let case = app.case(&offer.invoice).await;
    let sent = app.store.outbox(Some(case.id), 10).await.unwrap();
    let confirmation = sent.iter().find(|m| m.kind == "offer_taken").unwrap();
    assert!(
        confirmation.body_text.contains("190,00 € pro Jahr"),
        "{}",
        confirmation.body_text
    );
    assert!(paid.contains("Vielen Dank"), "{paid}");
    assert!(
        confirm.contains("Bitte bestätigen Sie die Zahlung bei Ihrer Bank"),
        "{confirm}"
    );
    assert!(confirm.contains("49,00 €"), "{confirm}");
    assert_eq!(first.as_str(), Some("Zahlung bestätigen"), "{confirm}");
    assert!(violations.is_empty(), "accessibility: {violations:#?}");
    crate::browser::assert_shots(&shots);
    app.shutdown().await;
}
