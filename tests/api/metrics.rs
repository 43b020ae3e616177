//! `GET /metrics`: Prometheus text that parses, that moves when a webhook
//! arrives, and that names what the database holds; its optional token.

use std::collections::BTreeMap;

use crate::helpers::*;
use crate::stand_in::{event, scenario};

/// Parses Prometheus text exposition: every sample line is
/// `name{label="value",...} number`; comments are `# HELP` / `# TYPE`.
/// Samples by their full series text.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP") | Some(&"TYPE")),
                "bad comment: {line}"
            );
            if words[0] == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&words[2]),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels: {line}");
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        samples.insert(series.to_owned(), value);
    }
    samples
}

/// The sum of every series of `name` whose labels contain all of `labels`.
fn total(samples: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let answer = app.get("/metrics").await;
    assert_eq!(answer.status(), 200);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    parse(&answer.text().await.unwrap())
}

async fn metrics_parse_and_move_when_a_webhook_arrives(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let before = scrape(&app).await;
    let received = |s: &BTreeMap<String, f64>| total(s, "dunwell_webhooks_received_total", &[]);
    let refused = |s: &BTreeMap<String, f64>| {
        total(
            s,
            "dunwell_webhooks_refused_total",
            &["reason=\"signature\""],
        )
    };
    let events = |s: &BTreeMap<String, f64>| {
        total(
            s,
            "dunwell_events_total",
            &["type=\"invoice.payment_failed\""],
        )
    };
    let s = event(&scenario("in_metrics"), "failed");
    let body = serde_json::to_vec(
        &dunwell::trigger::builder::build("invoice.payment_failed", &s).unwrap(),
    )
    .unwrap();
    assert_eq!(app.post_event(&body).await.status(), 200);
    let forged = sign_webhook(&body, "whsec_not_ours_0000", now());
    assert_eq!(app.post_signed(body.clone(), &forged).await.status(), 400);
    app.wait_processed().await;
    let after = scrape(&app).await;
    assert!(received(&after) >= received(&before) + 2.0, "{after:#?}");
    assert!(refused(&after) >= refused(&before) + 1.0, "{after:#?}");
    assert!(events(&after) >= events(&before) + 1.0, "{after:#?}");
    // What the database holds, read at the scrape.
    assert_eq!(
        total(&after, "dunwell_policy_version", &[]),
        1.0,
        "{after:#?}"
    );
    assert_eq!(
        total(&after, "dunwell_cases", &["state=\"retrying\""]),
        1.0,
        "{after:#?}"
    );
    assert_eq!(
        total(&after, "dunwell_failed_amount", &["currency=\"usd\""]),
        49.0
    );
    // Work planned for later (the retries) is no backlog; once it is due
    // and not done, it is.
    let depth =
        |s: &BTreeMap<String, f64>| total(s, "dunwell_queue_depth", &["queue=\"case_work\""]);
    let case = app.case("in_metrics").await;
    let planned = app.store.work_of(case.id).await.unwrap();
    assert!(
        planned
            .iter()
            .any(|w| w.status == dunwell::domain::work::WorkStatus::Pending),
        "{planned:?}"
    );
    // Whatever was due at once (the first email, unless it is night where
    // the customer lives) is done first.
    app.run_due_jobs().await;
    let settled = scrape(&app).await;
    assert_eq!(depth(&settled), 0.0, "{settled:#?}");
    app.engine.clock.advance(chrono::Duration::days(30));
    let late = scrape(&app).await;
    assert!(depth(&late) >= 1.0, "{late:#?}");
    assert!(
        total(&late, "dunwell_queue_lag_seconds", &["queue=\"case_work\""]) > 86_400.0,
        "{late:#?}"
    );
    // Requests are timed by route, never by raw path.
    assert!(
        total(
            &after,
            "dunwell_http_request_duration_seconds_count",
            &["route=\"/webhooks/stripe\"", "status=\"200\""]
        ) >= 1.0,
        "{after:#?}"
    );
    assert!(!after.keys().any(|k| k.contains("in_metrics")));
    app.shutdown().await;
}

async fn a_metrics_token_guards_the_metrics(backend: Backend) {
    let token = "metrics-token-0123456789";
    let Some(app) = spawn_app_with(backend, &[("metrics_token", token)]).await else {
        return;
    };
    assert_eq!(app.get("/metrics").await.status(), 401);
    let answer = reqwest::Client::new()
        .get(format!("{}/metrics", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(!parse(&answer.text().await.unwrap()).is_empty());
    // Guessing is throttled per address, as the operator's token is (the
    // tokenless request above was the first wrong one).
    let free = dunwell::domain::sign_in_throttle::FREE_FAILURES;
    for _ in 0..free {
        let wrong = reqwest::Client::new()
            .get(format!("{}/metrics", app.address))
            .bearer_auth("metrics-token-guess-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
    }
    let held = reqwest::Client::new()
        .get(format!("{}/metrics", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 429);
    assert!(held.headers().contains_key("retry-after"));
    app.shutdown().await;
}

async fn metrics_are_closed_on_a_public_bind_without_a_token(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("bind", "0.0.0.0:0")]).await else {
        return;
    };
    let answer = app.get("/metrics").await;
    assert_eq!(answer.status(), 403);
    let why = answer.text().await.unwrap();
    assert!(why.contains("DUNWELL_METRICS_TOKEN"), "{why}");
    assert!(why.contains("DUNWELL_METRICS_BIND"), "{why}");
    assert_eq!(app.get("/healthz").await.status(), 200, "health stays open");
    app.shutdown().await;
}

async fn a_metrics_address_serves_the_metrics_alone(backend: Backend) {
    let port = free_port();
    let at = format!("127.0.0.1:{port}");
    let Some(app) = spawn_app_with(backend, &[("bind", "0.0.0.0:0"), ("metrics_bind", &at)]).await
    else {
        return;
    };
    let main = app.get("/metrics").await;
    assert_eq!(main.status(), 404);
    assert!(main.text().await.unwrap().contains(&at));
    let client = reqwest::Client::new();
    let answer = client
        .get(format!("http://{at}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(!parse(&answer.text().await.unwrap()).is_empty());
    for other in ["/healthz", "/api/cases", "/admin", "/billing/update/x"] {
        let answer = client
            .get(format!("http://{at}{other}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{other} on the metrics address");
    }
    app.shutdown().await;
    assert!(
        client
            .get(format!("http://{at}/metrics"))
            .send()
            .await
            .is_err(),
        "the metrics address closes with the application"
    );

    // With a token too, the metrics address asks for it.
    let token = "metrics-token-0123456789";
    let Some(app) =
        spawn_app_with(backend, &[("metrics_bind", &at), ("metrics_token", token)]).await
    else {
        return;
    };
    let url = format!("http://{at}/metrics");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let answer = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    app.shutdown().await;
}

crate::backend_tests!(
    metrics_parse_and_move_when_a_webhook_arrives,
    a_metrics_token_guards_the_metrics,
    metrics_are_closed_on_a_public_bind_without_a_token,
    a_metrics_address_serves_the_metrics_alone,
);
