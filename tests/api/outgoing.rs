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

const TOKEN: &str = "operator-token-0123456789";

/// The operator API, as a script would call it.
async fn api(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// The types and sequences the receiver was sent, in arrival order.
async fn arrivals(receiver: &MockServer) -> Vec<(String, i64)> {
    receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (
                body["type"].as_str().unwrap().to_owned(),
                body["sequence"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A case lived through twelve days while the receiver answered 503: the
/// first retry pays (the case recovers on day 1 or so), and both its
/// events were tried ten times and given up. The processor's stand-in,
/// the receiver, the app (with `extra`) and the case's scenario.
async fn while_the_receiver_is_down(
    backend: Backend,
    invoice: &str,
    extra: &[(&str, &str)],
) -> Option<(MockServer, MockServer, TestApp, dunwell::trigger::Scenario)> {
    let s = scenario(invoice);
    let server = stripe(&s, "insufficient_funds", 1).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&receiver)
        .await;
    let url = format!("{}/hooks", receiver.uri());
    let mut pairs = vec![
        ("notify_url", url.as_str()),
        ("notify_secret", NOTIFY_SECRET),
    ];
    pairs.extend_from_slice(extra);
    let app = app_with(backend, &server, &pairs).await?;
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.live_through(12, 2).await;
    Some((server, receiver, app, s))
}

/// The receiver is back: it answers 200 and forgets what it was sent.
async fn receiver_back(receiver: &MockServer) {
    receiver.reset().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(200))
        .mount(receiver)
        .await;
}

/// With the receiver down, a case's events wait for each other: the case
/// recovers while its `case.opened` is being retried, and `case.recovered`
/// is first sent only after `case.opened` was given up; every payload
/// carries the case's sequence. Given-up events are kept, listed by the
/// API, and replayed in order once the receiver is back.
async fn events_arrive_in_order_and_given_up_ones_are_replayed(backend: Backend) {
    let Some((_server, receiver, app, s)) =
        while_the_receiver_is_down(backend, "in_notify_order", &[("admin_token", TOKEN)]).await
    else {
        return;
    };
    assert_eq!(
        state(&app, &s).await,
        Some(dunwell::domain::case::CaseState::Recovered)
    );
    let sent = arrivals(&receiver).await;
    let types: Vec<&str> = sent.iter().map(|(t, _)| t.as_str()).collect();
    let first_recovered = types.iter().position(|t| *t == "case.recovered");
    let last_opened = types.iter().rposition(|t| *t == "case.opened");
    assert_eq!(
        types.iter().filter(|t| **t == "case.opened").count(),
        10,
        "ten tries: {types:?}"
    );
    assert!(
        first_recovered.is_some_and(|r| last_opened.is_some_and(|o| r > o)),
        "case.recovered went before case.opened was given up: {types:?}"
    );
    for (kind, sequence) in &sent {
        let want = if kind == "case.opened" { 1 } else { 2 };
        assert_eq!(*sequence, want, "{kind}");
    }

    // Both were given up: kept, and listed.
    let (status, listed) = api(&app, reqwest::Method::GET, "/api/events?status=failed").await;
    assert_eq!(status, 200, "{listed}");
    let events = listed["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["case.recovered", "case.opened"], "{listed}");
    assert!(
        events
            .iter()
            .all(|e| e["tries"] == 10 && e["given_up_at"].is_string())
    );
    assert!(events[0]["last_error"].as_str().unwrap().contains("503"));
    let (status, bad) = api(&app, reqwest::Method::GET, "/api/events?status=lost").await;
    assert_eq!(status, 400, "{bad}");
    // The dashboard says so on its overview, and lists them with buttons.
    let cookie = crate::dashboard::sign_in_with(&app, TOKEN).await;
    let admin = |path: &str| {
        no_redirects()
            .get(format!("{}{path}", app.address))
            .header("cookie", &cookie)
            .send()
    };
    let overview = admin("/admin").await.unwrap().text().await.unwrap();
    assert!(
        overview.contains("2 events your systems never took"),
        "{overview}"
    );
    let page = admin("/admin/attention")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Events your systems never took (2)"),
        "{page}"
    );
    assert!(page.contains("case.recovered #2"), "{page}");
    assert!(page.contains("case.opened #1"), "{page}");
    assert!(page.contains("action=\"/admin/events/replay\""), "{page}");

    // The receiver is back: everything given up since the start goes again,
    // in the case's order.
    receiver_back(&receiver).await;
    let since = "2000-01-01";
    let (status, replayed) = api(
        &app,
        reqwest::Method::POST,
        &format!("/api/events/replay?since={since}"),
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["replayed"], 2, "{replayed}");
    app.run_due_jobs().await;
    app.run_due_jobs().await;
    assert_eq!(
        arrivals(&receiver).await,
        [
            ("case.opened".to_owned(), 1),
            ("case.recovered".to_owned(), 2)
        ]
    );
    let (_, failed) = api(&app, reqwest::Method::GET, "/api/events?status=failed").await;
    assert_eq!(failed["events"].as_array().unwrap().len(), 0, "{failed}");
    // Only a given-up event is replayed; an unknown one is not found.
    let id = events[0]["id"].as_i64().unwrap();
    let (status, said) = api(
        &app,
        reqwest::Method::POST,
        &format!("/api/events/{id}/replay"),
    )
    .await;
    assert_eq!(status, 409, "{said}");
    assert!(said["error"].as_str().unwrap().contains("delivered"));
    let (status, _) = api(&app, reqwest::Method::POST, "/api/events/999999/replay").await;
    assert_eq!(status, 404);
    // The dashboard's button does the same, and says what it did.
    let posted = no_redirects()
        .post(format!("{}/admin/events/{id}/replay", app.address))
        .header("origin", &app.address)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    assert_eq!(posted.headers()["location"], "/admin/attention?replayed=0");
    let page = admin("/admin/attention?replayed=0")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("0 events sent again"), "{page}");
    assert!(page.contains("Nothing needs you"), "{page}");
    app.shutdown().await;
}

crate::backend_tests!(
    case_events_are_signed_retried_and_delivered_once,
    no_notify_url_no_events,
    events_arrive_in_order_and_given_up_ones_are_replayed,
);

/// The operator's way to a given-up event in Chromium: the overview's
/// banner, its link to Needs attention, and *Replay all* there, followed to
/// the end — the receiver, back up, gets both events in the case's order.
/// Screenshots: `dashboard-overview-attention-laptop.png`,
/// `dashboard-attention-laptop.png`, `dashboard-attention-replayed-laptop.png`.
#[tokio::test]
async fn an_operator_replays_given_up_events_in_a_browser() {
    let Some(binary) = crate::browser::chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI"
        );
        eprintln!("skipped: no chromium on the PATH");
        return;
    };
    let extra = [
        ("admin_token", crate::dashboard::TOKEN),
        ("brand.name", "Acme Analytics"),
    ];
    let Some((_server, receiver, app, _)) =
        while_the_receiver_is_down(Backend::Sqlite, "in_notify_browser", &extra).await
    else {
        return;
    };
    app.store
        .set_setting(
            dunwell::jobs::claim::RUNNER_SEEN,
            &dunwell::clock::unix_millis().to_string(),
        )
        .await
        .unwrap();
    receiver_back(&receiver).await;
    let dir = crate::browser::artifacts_dir();
    let shots = [
        dir.join("dashboard-overview-attention-laptop.png"),
        dir.join("dashboard-attention-laptop.png"),
        dir.join("dashboard-attention-replayed-laptop.png"),
    ];
    let address = app.address.clone();
    let walk = {
        let shots = shots.clone();
        move || {
            let mut b = crate::dashboard::signed_in(&binary, &address);
            let overview = b.text();
            b.screenshot(&shots[0]);
            b.click("a[href='/admin/attention']");
            b.wait_for_page(|href| href.ends_with("/admin/attention"));
            let listed = b.text();
            b.screenshot(&shots[1]);
            b.click("form[action='/admin/events/replay'] button");
            b.wait_for_page(|href| href.contains("replayed="));
            let replayed = b.text();
            b.screenshot(&shots[2]);
            (overview, listed, replayed)
        }
    };
    let (overview, listed, replayed) = tokio::task::spawn_blocking(walk).await.unwrap();
    assert!(
        overview.contains("Needs attention: 2 events your systems never took — see what needs you"),
        "only what there is: {overview}"
    );
    assert!(listed.contains("case.opened #1"), "{listed}");
    assert!(listed.contains("case.recovered #2"), "{listed}");
    assert!(replayed.contains("2 events sent again"), "{replayed}");
    // Sent again is not delivered yet: the page claims nothing more.
    assert!(!replayed.contains("reached your systems"), "{replayed}");
    app.run_due_jobs().await;
    app.run_due_jobs().await;
    assert_eq!(
        arrivals(&receiver).await,
        [
            ("case.opened".to_owned(), 1),
            ("case.recovered".to_owned(), 2)
        ]
    );
    crate::browser::assert_shots(&shots);
    app.shutdown().await;
}
