//! The customer's billing page, reached the way customers reach it: from
//! the link in the email, to the processor's card page and back, which
//! retries the charge. Bad links get one friendly page that tells nothing.

use dunwell::domain::case::CaseState;
use dunwell::domain::links::{self, LinkSubject, Purpose};
use dunwell::domain::money::{Currency, Money};
use dunwell::trigger::Scenario;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::stand_in::*;

const PORTAL: &str = "https://billing.stripe.com/p/session/test_portal";

async fn with_portal(server: &MockServer) {
    mount_portal(server, PORTAL).await;
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
    assert!(body.contains("$49.00"), "{body}");
    assert!(body.contains("ACME-"), "the invoice's number: {body}");
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
    let (prefix, visit) = back
        .split_once("/done?visit=")
        .expect("a visit in the return URL");
    assert!(prefix.ends_with(&link), "{back}");
    assert!(visit.len() >= 20 && visit.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(sessions[0].headers.contains_key("idempotency-key"));

    // Back from the card page, where the customer added a card: the return
    // redirects to the page, which says the new card is being charged (and
    // offers to check again until the result is known).
    mount_customer_card(&server, &s, "pm_NewCard2031").await;
    let back_path = &back[back.find("/billing/").unwrap()..];
    let returned = no_redirects()
        .get(format!("{}{back_path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(returned.status(), 303);
    let result_page = returned.headers()["location"].to_str().unwrap().to_owned();
    // Relative, so it holds behind any host and path prefix.
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(result_page, format!("../{token}?visit={visit}"));
    let charging = app.get(back_path).await.text().await.unwrap();
    assert!(charging.contains("charging your new card"), "{charging}");
    assert!(
        charging.contains(&format!(r#"href="?visit={visit}">Check again</a>"#)),
        "{charging}"
    );
    assert!(
        !charging.contains("http-equiv"),
        "no automatic refresh: {charging}"
    );
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    // The page now says it worked, with nothing more to check.
    let worked = app.get(back_path).await.text().await.unwrap();
    assert!(worked.contains("Your new card worked"), "{worked}");
    assert!(!worked.contains("Check again"), "{worked}");
    // Coming back again (a reload) charges nothing more.
    app.get(back_path).await;
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    let settled = app.get(&link).await.text().await.unwrap();
    assert!(settled.contains("Your payment went through"), "{settled}");
    assert!(!settled.contains("Update your card"));
    app.shutdown().await;
}

/// The customer clicks the page's card button: the path of the return URL
/// the processor was given (with its visit).
async fn leave_for_card_page(app: &TestApp, server: &MockServer, link: &str) -> String {
    let posted = no_redirects()
        .post(format!("{}{link}/card", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    let sessions = requests(server, "POST", "/v1/billing_portal/sessions").await;
    let last = sessions.last().expect("a portal session");
    let back = url::form_urlencoded::parse(&last.body)
        .into_owned()
        .find(|(k, _)| k == "return_url")
        .expect("a return URL")
        .1;
    back[back.find("/billing/").unwrap()..].to_owned()
}

/// Loading the return page again and again (a reload, the back button, an
/// image tag pointing at it) charges at most once per trip to the card
/// page, and only for a card that was not tried yet; without a trip of
/// this case's it charges nothing; a closed case's link opens no card page.
async fn the_return_page_charges_once_however_often_it_loads(backend: Backend) {
    let Some((s, server, app, link)) = a_case_emailed(backend, "in_page_reload").await else {
        return;
    };
    // Back without a new card: the processor still shows the card that
    // failed (as the refused charge named it).
    app.send("charge.failed", &event(&s, "charge")).await;
    mount_customer_card(&server, &s, &s.payment_method).await;
    let done = leave_for_card_page(&app, &server, &link).await;
    for _ in 0..10 {
        let page = app.get(&done).await;
        assert_eq!(page.status(), 200);
        let text = page.text().await.unwrap();
        assert!(text.contains("This card was already declined"), "{text}");
        app.run_due_jobs().await;
    }
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 0);

    // With a new card: the same return, loaded again, charges nothing (its
    // trip was spent); nor does a return without a trip, or with a made-up
    // one.
    server.reset().await;
    mount_stripe(&server, &s, "insufficient_funds", 0).await;
    with_portal(&server).await;
    mount_customer_card(&server, &s, "pm_NewCard2031").await;
    for stale in [
        done.clone(),
        format!("{link}/done"),
        format!("{link}/done?visit=MadeUp0000000000000000"),
    ] {
        assert_eq!(app.get(&stale).await.status(), 200);
        app.run_due_jobs().await;
    }
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 0);

    // A new trip: fifty loads of its return, a minute apart, charge once.
    let done = leave_for_card_page(&app, &server, &link).await;
    for _ in 0..50 {
        assert_eq!(app.get(&done).await.status(), 200);
        app.advance(chrono::Duration::minutes(1));
        app.run_due_jobs().await;
    }
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    let declined = app.get(&done).await.text().await.unwrap();
    assert!(
        declined.contains("Your new card was declined too"),
        "{declined}"
    );
    // Another trip back with the same card: already declined, no charge.
    let again = leave_for_card_page(&app, &server, &link).await;
    let text = app.get(&again).await.text().await.unwrap();
    assert!(text.contains("This card was already declined"), "{text}");
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    let case = app.case(&s.invoice).await;
    assert_eq!(case.track.case.as_ref().unwrap().retries_made, 1);
    let notes = app.store.timeline(case.id).await.unwrap();
    let updates = notes
        .iter()
        .filter(|t| t.detail["payment_method"] == "pm_NewCard2031")
        .count();
    assert_eq!(updates, 1, "one card update on the timeline: {notes:?}");

    // A closed case's link opens no card page any more.
    let trips = requests(&server, "POST", "/v1/billing_portal/sessions")
        .await
        .len();
    let closed = app
        .engine
        .store
        .case_by_invoice(&s.invoice)
        .await
        .unwrap()
        .unwrap();
    dunwell::engine::operator_actions::act(
        &app.engine,
        closed.id,
        dunwell::engine::operator_actions::OperatorAction::Close,
        "ops",
        None,
    )
    .await
    .unwrap();
    let posted = no_redirects()
        .post(format!("{}{link}/card", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 409);
    assert_eq!(
        requests(&server, "POST", "/v1/billing_portal/sessions")
            .await
            .len(),
        trips
    );
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
        links::sign(
            &secret,
            &LinkSubject::Case(dunwell::domain::ids::CaseId::new(1)),
            Purpose::Billing,
            now - 60,
        ),
        links::sign(
            &secret,
            &LinkSubject::Case(dunwell::domain::ids::CaseId::new(999)),
            Purpose::Billing,
            now + 3600,
        ),
        links::sign(
            b"another install's secret",
            &LinkSubject::Case(dunwell::domain::ids::CaseId::new(1)),
            Purpose::Billing,
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
            .header("origin", &app.address)
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
    // A receipt link (the thank-you's) only looks: it cannot act.
    let case = app.case(&s.invoice).await;
    let receipt = links::sign(
        &secret,
        &LinkSubject::Case(case.id),
        Purpose::Receipt,
        now + 3600,
    );
    let page = app.get(&format!("/billing/update/{receipt}")).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        !body.contains("/card"),
        "no card button on a receipt: {body}"
    );
    let posted = no_redirects()
        .post(format!("{}/billing/update/{receipt}/card", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404);
    // The genuine one still works.
    assert_eq!(app.get(&link).await.status(), 200);
    app.shutdown().await;
}

async fn a_cross_site_post_is_refused(backend: Backend) {
    let Some((_, server, app, link)) = a_case_emailed(backend, "in_page_csrf").await else {
        return;
    };
    let port = app.address.rsplit(':').next().unwrap();
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        // A sandboxed frame, and a POST that names no origin at all.
        vec![("origin", "null")],
        vec![
            ("origin", "null"),
            ("referer", &format!("{}/x", app.address)),
        ],
        vec![],
        vec![("referer", "https://evil.example/page")],
        // A name the attacker points at this server: Origin matches Host.
        vec![
            ("host", "attacker.example"),
            ("origin", "http://attacker.example"),
        ],
        // Another port of this machine is another origin.
        vec![("origin", "http://127.0.0.1:1")],
    ] {
        let mut post = no_redirects().post(format!("{}{link}/card", app.address));
        for (name, value) in &headers {
            post = post.header(*name, *value);
        }
        let posted = post.send().await.unwrap();
        assert_eq!(posted.status(), 403, "{headers:?}");
        assert!(
            posted
                .text()
                .await
                .unwrap()
                .contains("did not come from your billing page")
        );
    }
    // The page's own form, as browsers post it: by Origin, by Referer, or
    // with `Origin: null` (its no-referrer policy) and the browser's word.
    let localhost = format!("http://localhost:{port}");
    for headers in [
        vec![("origin", app.address.as_str())],
        vec![("referer", &format!("{}{link}", app.address))],
        vec![("origin", "null"), ("sec-fetch-site", "same-origin")],
        vec![("host", &localhost[7..]), ("origin", localhost.as_str())],
    ] {
        let mut post = no_redirects().post(format!("{}{link}/card", app.address));
        for (name, value) in &headers {
            post = post.header(*name, *value);
        }
        assert_eq!(post.send().await.unwrap().status(), 303, "{headers:?}");
    }
    assert_eq!(
        requests(&server, "POST", "/v1/billing_portal/sessions")
            .await
            .len(),
        4,
        "only our own pages' posts opened a card page"
    );
    app.shutdown().await;
}

crate::backend_tests!(
    the_email_link_leads_to_a_new_card_and_a_retry,
    the_return_page_charges_once_however_often_it_loads,
    bad_links_get_one_page_that_tells_nothing,
    a_cross_site_post_is_refused,
);

/// `DUNWELL_LINK_SECRET` rotated: the new secret first, the old one after;
/// links signed with the old one still open the page, new ones use the new.
async fn links_survive_a_secret_rotation(backend: Backend) {
    let old = "old-link-secret-0123456789abcdef0123456789";
    let new = "new-link-secret-0123456789abcdef0123456789";
    let rotated = format!("{new},{old}");
    let s = scenario("in_page_rotate");
    let server = stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[("link_secret", rotated.as_str())]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    let later = app.engine.clock.now().timestamp() + 3600;
    let by_old = links::sign(
        old.as_bytes(),
        &LinkSubject::Case(case.id),
        Purpose::Billing,
        later,
    );
    assert_eq!(
        app.get(&format!("/billing/update/{by_old}")).await.status(),
        200
    );
    let emailed = link_in_email(&app, &s).await;
    let token = emailed.trim_start_matches("/billing/update/");
    assert!(links::verify(&[new.as_bytes()], token, Purpose::Billing, 0).is_ok());
    let stranger = links::sign(
        b"never-configured-secret-0123456789abcdef",
        &LinkSubject::Case(case.id),
        Purpose::Billing,
        later,
    );
    assert_eq!(
        app.get(&format!("/billing/update/{stranger}"))
            .await
            .status(),
        404
    );
    app.shutdown().await;
}

/// An email due in the customer's quiet hours waits for their morning.
async fn page_amounts_read_as_the_customer_reads_them(backend: Backend) {
    let money =
        |minor, currency| Money::from_minor(minor, Currency::parse(currency).unwrap()).unwrap();
    let usd = scenario("in_page_usd");
    let eur = Scenario {
        amount: money(1999, "eur"),
        ..scenario("in_page_eur")
    };
    let jpy = Scenario {
        amount: money(1000, "jpy"),
        ..scenario("in_page_jpy")
    };
    let server = MockServer::start().await;
    for s in [&usd, &eur, &jpy] {
        mount_stripe(&server, s, "insufficient_funds", 0).await;
    }
    with_portal(&server).await;
    // The processor knows the euro customer reads German.
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", eur.customer)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": eur.customer, "object": "customer", "email": eur.customer_email,
            "name": "Lena Vogel", "preferred_locales": ["de-DE", "en"]
        })))
        .mount(&server)
        .await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    for s in [&usd, &eur, &jpy] {
        app.send("invoice.payment_failed", &event(s, "failed"))
            .await;
    }
    app.run_due_jobs().await;
    for (s, shown, never) in [
        (&usd, "$49.00", "49.00 USD"),
        (&eur, "19,99 €", "€19.99"),
        (&jpy, "¥1,000", "¥10.00"),
    ] {
        let link = link_in_email(&app, s).await;
        // The browser asks for English; the customer's own language wins.
        let page = no_redirects()
            .get(format!("{}{link}", app.address))
            .header("accept-language", "en-US,en;q=0.9")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap();
        assert!(body.contains(shown), "{shown} missing: {body}");
        assert!(!body.contains(never), "{never} shown: {body}");
        if s.invoice == eur.invoice {
            assert!(body.contains(r#"lang="de""#), "{body}");
            assert!(body.contains("Karte aktualisieren"), "{body}");
        } else {
            assert!(body.contains(r#"lang="en""#), "{body}");
        }
    }
    app.shutdown().await;
}

async fn pages_are_rate_limited_per_client(backend: Backend) {
    let s = scenario("in_page_limit");
    let server = stripe(&s, "insufficient_funds", 0).await;
    with_portal(&server).await;
    let limits = [
        ("page_requests_per_minute", "12"),
        ("client_ip_header", "Fly-Client-IP"),
    ];
    let Some(app) = app_with(backend, &server, &limits).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    let link = link_in_email(&app, &s).await;
    let client = no_redirects();
    let get = |from: &'static str| {
        client
            .get(format!("{}{link}", app.address))
            .header("fly-client-ip", from)
            .header("accept-language", "de")
            .send()
    };
    let post = |from: &'static str| {
        client
            .post(format!("{}{link}/card", app.address))
            .header("fly-client-ip", from)
            .header("origin", &app.address)
            .send()
    };
    // 12 a minute: two posts (5 each) and two views, then no more.
    assert_eq!(post("203.0.113.7").await.unwrap().status(), 303);
    assert_eq!(post("203.0.113.7").await.unwrap().status(), 303);
    assert_eq!(get("203.0.113.7").await.unwrap().status(), 200);
    assert_eq!(get("203.0.113.7").await.unwrap().status(), 200);
    let refused = get("203.0.113.7").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body = refused.text().await.unwrap();
    assert!(body.contains("Zu viele Versuche"), "{body}");
    assert!(!body.contains("49"), "{body}");
    assert_eq!(post("203.0.113.7").await.unwrap().status(), 429);
    // A list the client started itself: the entry the proxy appended
    // counts, so a made-up first entry is no way around the limit.
    for forged in ["198.51.100.99, 203.0.113.7", "10.9.8.7,203.0.113.7"] {
        let answer = client
            .get(format!("{}{link}", app.address))
            .header("fly-client-ip", forged)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 429, "{forged}");
    }
    // Refused requests reach nothing behind the page.
    assert_eq!(
        requests(&server, "POST", "/v1/billing_portal/sessions")
            .await
            .len(),
        2
    );
    // Another client is counted apart, and the first is let in again
    // once its bucket refilled.
    assert_eq!(get("198.51.100.2").await.unwrap().status(), 200);
    app.advance(chrono::Duration::seconds(5));
    assert_eq!(get("203.0.113.7").await.unwrap().status(), 200);
    assert_eq!(get("203.0.113.7").await.unwrap().status(), 429);
    // The webhook intake is not a page: never limited here.
    app.send("invoice.payment_failed", &event(&s, "failed_again"))
        .await;
    app.shutdown().await;
}

async fn quiet_hours_hold_an_email_until_morning(backend: Backend) {
    use chrono::Timelike;
    let s = scenario("in_page_quiet");
    let server = stripe(&s, "insufficient_funds", 0).await;
    // Quiet from the engine's hour (UTC, the default time zone) for two hours.
    let hour = crate::helpers::pinned().hour();
    let quiet = format!("{hour}-{}", (hour + 2) % 24);
    let Some(app) = app_with(backend, &server, &[("policy.quiet_hours", quiet.as_str())]).await
    else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    assert_eq!(mails(&app, &s, "payment_failed").await, 0, "held back");
    let case = app.case(&s.invoice).await;
    let work = app.store.work_of(case.id).await.unwrap();
    let email = work
        .iter()
        .find(|w| w.key.starts_with("email:payment_failed"))
        .unwrap();
    let due = chrono::DateTime::from_timestamp_millis(email.due_at).unwrap();
    assert_eq!(due.hour(), (hour + 2) % 24);
    assert_eq!(due.minute(), 0);
    let timeline = app.store.timeline(case.id).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|t| t.detail.to_string().contains("quiet hours")),
        "{timeline:?}"
    );
    app.shutdown().await;
}

crate::backend_tests!(
    links_survive_a_secret_rotation,
    quiet_hours_hold_an_email_until_morning,
    pages_are_rate_limited_per_client,
    page_amounts_read_as_the_customer_reads_them,
);

/// The bank wants the payment confirmed (3-D Secure): one email asks for it
/// however many of the processor's events say so, its button leads to the
/// processor's hosted invoice page (where the bank's check runs), and the
/// billing page puts that button first.
async fn a_bank_confirmation_gets_one_email_whose_button_confirms(backend: Backend) {
    let s = Scenario {
        decline_code: "authentication_required".into(),
        ..scenario("in_page_3ds")
    };
    let server = stripe(&s, "authentication_required", 0).await;
    with_portal(&server).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.send("charge.failed", &event(&s, "charge")).await;
    app.send("invoice.payment_action_required", &event(&s, "action"))
        .await;
    app.run_due_jobs().await;
    app.send("invoice.payment_action_required", &event(&s, "action2"))
        .await;
    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    let sent = app.store.outbox(Some(case.id), 100).await.unwrap();
    let subjects: Vec<_> = sent.iter().map(|m| (&m.kind, &m.subject)).collect();
    assert_eq!(sent.len(), 1, "one email per request: {subjects:?}");
    let mail = &sent[0];
    assert_eq!(mail.kind, "action_required");
    let hosted = format!("https://invoice.stripe.com/i/acct_1Acme/test_{}", s.invoice);
    assert!(
        mail.body_text
            .contains(&format!("Confirm the payment: {hosted}")),
        "{}",
        mail.body_text
    );
    assert!(
        mail.body_html.contains(&format!("href=\"{hosted}\"")),
        "{}",
        mail.body_html
    );
    // The billing page (the email's other link) asks to confirm first.
    let start = mail
        .body_text
        .find("/billing/update/")
        .expect("the page's link");
    let link = mail.body_text[start..].split_whitespace().next().unwrap();
    let page = app.get(link).await.text().await.unwrap();
    assert!(
        page.contains("Please confirm the payment with your bank"),
        "{page}"
    );
    let confirm = page
        .find(&format!("href=\"{hosted}\""))
        .expect("the confirm button");
    let card = page.find("/card\"").expect("the card button");
    assert!(confirm < card, "confirming comes first: {page}");
    assert!(requests(&server, "POST", "/pay").await.is_empty());
    app.shutdown().await;
}

crate::backend_tests!(a_bank_confirmation_gets_one_email_whose_button_confirms);
