//! The policy's offers on the customer's billing page: a plan change goes to
//! the processor once however often it is posted, with the offer's price
//! and proration, then the charge is tried again; a pause ends the case.

use dunwell::domain::case::CaseState;
use dunwell::trigger::Scenario;
use wiremock::MockServer;

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

async fn a_plan_change_posted_twice_changes_the_plan_once(backend: Backend) {
    let Some((s, server, app, link)) = emailed(backend, "in_offer_plan").await else {
        return;
    };
    // The page shows the offer as a button whose form posts to its action.
    let page = app.get(&link).await.text().await.unwrap();
    assert!(page.contains("Switch to yearly and save 20%"), "{page}");
    let token = link.trim_start_matches("/billing/update/");
    let action = format!("/billing/offers/{token}/yearly");
    assert!(page.contains(&action), "{page}");

    for _ in 0..3 {
        let answer = app
            .client
            .post(format!("{}{action}", app.address))
            .header("origin", &app.address)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let body = answer.text().await.unwrap();
        assert!(body.contains("Switch to yearly and save 20%"), "{body}");
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

    // Then the charge is tried again now, and it goes through.
    app.run_due_jobs().await;
    assert_eq!(requests(&server, "POST", "/pay").await.len(), 1);
    assert_eq!(state(&app, &s).await, Some(CaseState::Recovered));
    let timeline = app
        .store
        .timeline(app.case(&s.invoice).await.id)
        .await
        .unwrap();
    assert_eq!(timeline.iter().filter(|t| t.kind == "offer").count(), 1);

    // Another offer afterwards changes nothing more.
    let other = app
        .client
        .post(format!("{}/billing/offers/{token}/pause", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert!(other.text().await.unwrap().contains("yearly"));
    let changes = requests(
        &server,
        "POST",
        &format!("/v1/subscriptions/{}", s.subscription),
    )
    .await;
    assert_eq!(changes.len(), 1);
    app.shutdown().await;
}

async fn a_pause_ends_the_case(backend: Backend) {
    let Some((s, server, app, link)) = emailed(backend, "in_offer_pause").await else {
        return;
    };
    let token = link.trim_start_matches("/billing/update/");
    let answer = app
        .client
        .post(format!("{}/billing/offers/{token}/pause", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
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
    assert_eq!(state(&app, &s).await, Some(CaseState::Closed));
    assert_eq!(pending_work(&app, &s).await, 0);
    // Unknown offers and foreign sites are refused.
    let unknown = app
        .client
        .post(format!(
            "{}/billing/offers/{token}/free-forever",
            app.address
        ))
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
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
    a_plan_change_posted_twice_changes_the_plan_once,
    a_pause_ends_the_case,
);
