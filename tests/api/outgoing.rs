//! Events for the operator's systems (`DUNWELL_NOTIFY_URL`): written with
//! the case change, POSTed signed like the processor's webhooks, tried again
//! after a receiver's 500, each id answered 2xx once.

use std::collections::BTreeMap;

use dunwell::domain::outgoing::OutgoingStatus;
use dunwell::webhooks::signature::verify;
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::stand_in::*;

const NOTIFY_SECRET: &str = "notify-secret-0123456789abcdef";

async fn case_events_are_signed_retried_and_delivered_once(backend: Backend) {
    let s = dunwell::trigger::Scenario {
        api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
        ..scenario("in_notify")
    };
    // The first retry is declined, the second pays.
    let server = stripe(&s, "insufficient_funds", 2).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let url = format!("{}/hooks", receiver.uri());
    let extra = [
        ("notify_url", url.as_str()),
        ("notify_secret", NOTIFY_SECRET),
    ];
    let Some(app) = app_with(backend, &server, &extra).await else {
        return;
    };
    app.send("charge.failed", &event(&s, "charge")).await;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    // The receiver's 500: the event waits a minute, then goes again.
    let case = app.case(&s.invoice).await;
    let pending = app.store.outgoing_of(case.id).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:#?}");
    assert_eq!(pending[0].status, OutgoingStatus::Pending);
    assert_eq!(pending[0].tries, 1);
    app.live_through(20, 6).await;
    assert_eq!(
        state(&app, &s).await,
        Some(dunwell::domain::case::CaseState::Recovered)
    );

    let secrets = [SecretString::from(NOTIFY_SECRET.to_owned())];
    let mut deliveries: BTreeMap<String, usize> = BTreeMap::new();
    let mut types = Vec::new();
    for request in receiver.received_requests().await.unwrap() {
        let header = request.headers["dunwell-signature"].to_str().unwrap();
        let t: i64 = header[2..header.find(',').unwrap()].parse().unwrap();
        verify(Some(header), &request.body, &secrets, t, 5).expect("a valid signature");
        let wrong = [SecretString::from("another-secret-0123456789".to_owned())];
        assert!(verify(Some(header), &request.body, &wrong, t, 5).is_err());
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        assert_eq!(request.headers["dunwell-event-id"].to_str().unwrap(), id);
        assert_eq!(body["data"]["case"]["invoice_id"], s.invoice);
        let count = deliveries.entry(id).or_default();
        *count += 1;
        if *count == 1 {
            types.push(body["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        types,
        ["case.opened", "case.attempt_failed", "case.recovered"],
        "{deliveries:?}"
    );
    // The first was sent twice (500, then 200); every other once.
    let mut counts: Vec<usize> = deliveries.values().copied().collect();
    counts.sort();
    assert_eq!(counts, [1, 1, 2]);
    let stored = app.store.outgoing_of(case.id).await.unwrap();
    assert!(
        stored.iter().all(|e| e.status == OutgoingStatus::Delivered),
        "{stored:#?}"
    );
    let failed: Value = serde_json::from_str(&stored[1].payload).unwrap();
    assert_eq!(failed["data"]["decline_code"], "insufficient_funds");
    assert_eq!(failed["data"]["attempt"], 1);
    let recovered: Value = serde_json::from_str(&stored[2].payload).unwrap();
    assert_eq!(recovered["data"]["case"]["state"], "recovered");
    assert_eq!(recovered["data"]["case"]["recovered_by"], "retry");
    assert_eq!(recovered["data"]["previous_state"], "retrying");
    app.shutdown().await;
}

/// Without a notify URL nothing is written for anyone.
async fn no_notify_url_no_events(backend: Backend) {
    let s = scenario("in_no_notify");
    let server = stripe(&s, "insufficient_funds", 1).await;
    let Some(app) = app_with(backend, &server, &[]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.run_due_jobs().await;
    let case = app.case(&s.invoice).await;
    assert!(app.store.outgoing_of(case.id).await.unwrap().is_empty());
    app.shutdown().await;
}

crate::backend_tests!(
    case_events_are_signed_retried_and_delivered_once,
    no_notify_url_no_events,
);
