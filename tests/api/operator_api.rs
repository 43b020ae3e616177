//! The operator API through HTTP: the bearer token, the case list with its
//! filters and pages, a case's detail, the operator's actions on its
//! timeline, and recovery statistics equal to figures computed by hand.

use dunwell::domain::money::{Currency, Money};
use dunwell::domain::stats::report;
use dunwell::trigger::Scenario;
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::*;
use crate::stand_in::*;

const TOKEN: &str = "operator-token-0123456789";

fn with_token() -> [(&'static str, &'static str); 1] {
    [("admin_token", TOKEN)]
}

async fn api(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", app.address);
    let mut request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = api(app, "GET", path, Some(TOKEN)).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Cases opened on one Stripe stand-in, each failed (declined for its
/// code), none retried yet.
async fn cases_opened(backend: Backend, scenarios: &[Scenario]) -> Option<(MockServer, TestApp)> {
    let server = MockServer::start().await;
    for s in scenarios {
        mount_stripe(&server, s, &s.decline_code, 0).await;
    }
    let app = app_with(backend, &server, &with_token()).await?;
    for s in scenarios {
        // The refused charge first (it names the decline), then the invoice.
        app.send("charge.failed", &event(s, "charge")).await;
        app.send("invoice.payment_failed", &event(s, "failed"))
            .await;
    }
    app.run_due_jobs().await;
    Some((server, app))
}

fn failing(invoice: &str, code: &str, email: &str) -> Scenario {
    Scenario {
        decline_code: code.into(),
        customer_email: email.into(),
        // The shape whose charge names its invoice.
        api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
        ..scenario(invoice)
    }
}

async fn the_token_guards_every_endpoint(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // No token configured: the operator surface does not exist.
    let (status, body) = api(&app, "GET", "/api/cases", Some(TOKEN)).await;
    assert_eq!((status, body), (404, json!({"error": "not found"})));
    app.shutdown().await;

    let Some(app) = spawn_app_with(backend, &with_token()).await else {
        return;
    };
    for (method, path) in [
        ("GET", "/api/cases"),
        ("GET", "/api/cases/1"),
        ("POST", "/api/cases/1/pause"),
        ("GET", "/api/stats"),
    ] {
        for token in [None, Some("wrong-token-0123456789"), Some("")] {
            let (status, body) = api(&app, method, path, token).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            let text = body.to_string();
            assert!(text.contains("Bearer"), "{text}");
            assert!(!text.contains(TOKEN), "the token leaked: {text}");
        }
    }
    let answer = reqwest::Client::new()
        .get(format!("{}/api/cases", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.headers()["www-authenticate"],
        "Bearer realm=\"dunwell\""
    );
    assert_eq!(
        get(&app, "/api/cases").await,
        json!({"cases": [], "next_cursor": null})
    );
    let (status, body) = api(&app, "GET", "/api/nothing-here", Some(TOKEN)).await;
    assert_eq!(status, 404, "{body}");
    app.shutdown().await;
}

async fn the_case_list_filters_and_pages(backend: Backend) {
    let scenarios = [
        failing("in_list_a", "insufficient_funds", "ann@example.com"),
        failing("in_list_b", "expired_card", "bob@example.com"),
        failing("in_list_c", "insufficient_funds", "cy@example.com"),
        failing("in_list_d", "do_not_honor", "dee@example.com"),
        failing("in_list_e", "insufficient_funds", "eve@example.com"),
    ];
    let Some((_server, app)) = cases_opened(backend, &scenarios).await else {
        return;
    };
    let invoices = |body: &Value| -> Vec<String> {
        body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["invoice_id"].as_str().unwrap().to_owned())
            .collect()
    };
    // All five, newest first, two at a time, each exactly once.
    let mut seen = Vec::new();
    let mut path = "/api/cases?limit=2".to_owned();
    loop {
        let page = get(&app, &path).await;
        let got = invoices(&page);
        assert!(got.len() <= 2);
        seen.extend(got);
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/api/cases?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "in_list_e",
            "in_list_d",
            "in_list_c",
            "in_list_b",
            "in_list_a"
        ]
    );
    let funds = get(&app, "/api/cases?category=funds").await;
    assert_eq!(invoices(&funds), ["in_list_e", "in_list_c", "in_list_a"]);
    let first = &funds["cases"][0];
    assert_eq!(first["decline_code"], "insufficient_funds");
    assert_eq!(first["amount"], "49.00");
    assert_eq!(first["currency"], "usd");
    assert_eq!(first["state"], "retrying");
    assert_eq!(
        invoices(&get(&app, "/api/cases?code=expired_card").await),
        ["in_list_b"]
    );
    assert_eq!(
        invoices(&get(&app, "/api/cases?state=awaiting_customer").await),
        ["in_list_b"]
    );
    assert_eq!(
        invoices(&get(&app, "/api/cases?email=dee@example.com").await),
        ["in_list_d"]
    );
    assert_eq!(
        invoices(&get(&app, "/api/cases?customer=cus_in_list_c").await),
        ["in_list_c"]
    );
    assert!(invoices(&get(&app, "/api/cases?opened_to=2000-01-01").await).is_empty());
    assert_eq!(
        invoices(&get(&app, "/api/cases?opened_from=2000-01-01&category=hard").await),
        ["in_list_b"]
    );
    for (bad, names) in [
        ("state=lost", "state"),
        ("category=broke", "category"),
        ("limit=0", "limit"),
        ("opened_from=yesterday", "opened_from"),
        ("cursor=nonsense", "cursor"),
        ("colour=blue", "colour"),
    ] {
        let (status, body) = api(&app, "GET", &format!("/api/cases?{bad}"), Some(TOKEN)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(names), "{bad}: {error}");
    }
    app.shutdown().await;
}

async fn actions_change_the_case_and_show_on_its_timeline(backend: Backend) {
    let s = failing("in_act", "insufficient_funds", "ann@example.com");
    let Some((server, app)) = cases_opened(backend, std::slice::from_ref(&s)).await else {
        return;
    };
    let id = app.case(&s.invoice).await.id;
    let detail = get(&app, &format!("/api/cases/{id}")).await;
    assert_eq!(detail["state"], "retrying");
    assert_eq!(detail["latest_decline"]["code"], "insufficient_funds");
    let planned = |d: &Value| -> Vec<String> {
        d["work"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["status"] == "pending")
            .map(|w| w["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(planned(&detail).contains(&"retry:1".to_owned()), "{detail}");
    assert!(detail["timeline"].as_array().unwrap().len() >= 2);

    let post = |action: &str| {
        let path = format!("/api/cases/{id}/{action}");
        let app = &app;
        async move { api(app, "POST", &path, Some(TOKEN)).await }
    };
    let (status, body) = post("pause").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["case"]["state"], "paused");
    assert!(planned(&get(&app, &format!("/api/cases/{id}")).await).is_empty());
    let (status, body) = post("pause").await;
    assert_eq!(
        (status, body),
        (409, json!({"error": "the case is already paused"}))
    );
    let (status, body) = post("retry-now").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post("resume").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["case"]["state"], "retrying");
    // The card was refused moments ago: a charge now would come too soon.
    let (status, body) = post("retry-now").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("15 minutes"),
        "{body}"
    );
    app.advance(chrono::Duration::minutes(20));
    let (status, body) = post("retry-now").await;
    assert_eq!(status, 200, "{body}");
    // Asked twice, the gap after the first charge holds the second back.
    app.run_due_jobs().await;
    let (status, body) = post("retry-now").await;
    assert_eq!(status, 409, "{body}");
    // The retry asked for ran at once (the stand-in declined it again).
    assert_eq!(requests(&server, "POST", &pay_path(&s)).await.len(), 1);
    let (status, body) = post("close").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["case"]["state"], "closed");
    let (status, body) = post("resume").await;
    assert_eq!(
        (status, body),
        (409, json!({"error": "the case has ended (closed)"}))
    );
    let (status, _) = post("explode").await;
    assert_eq!(status, 404);
    let (status, _) = api(&app, "POST", "/api/cases/999999/pause", Some(TOKEN)).await;
    assert_eq!(status, 404);

    let detail = get(&app, &format!("/api/cases/{id}")).await;
    let actions: Vec<(String, bool)> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "operator")
        .map(|l| {
            let action = l["detail"]["action"].as_str().unwrap().to_owned();
            (action, l["detail"]["result"] == "done")
        })
        .collect();
    let expected = [
        ("pause", true),
        ("resume", true),
        ("retry-now", false),
        ("retry-now", true),
        ("retry-now", false),
        ("close", true),
    ]
    .map(|(a, done)| (a.to_owned(), done));
    assert_eq!(actions, expected);
    assert!(detail["ended_at"].is_string());
    app.shutdown().await;
}

async fn stats_equal_figures_computed_by_hand(backend: Backend) {
    let eur = Scenario {
        amount: Money::from_minor(1999, Currency::parse("eur").unwrap()).unwrap(),
        ..failing("in_stats_eur", "insufficient_funds", "eu@example.com")
    };
    let scenarios = [
        failing("in_stats_paid", "insufficient_funds", "a@example.com"),
        failing("in_stats_lost", "expired_card", "b@example.com"),
        failing("in_stats_open", "insufficient_funds", "c@example.com"),
        eur.clone(),
    ];
    let Some((_server, app)) = cases_opened(backend, &scenarios).await else {
        return;
    };
    // Paid at the processor; one closed unpaid; one still open. An
    // invoice paid without ever failing is no recovery at all.
    app.send("invoice.paid", &event(&scenarios[0], "paid"))
        .await;
    app.send("invoice.paid", &event(&eur, "paid")).await;
    app.send(
        "invoice.paid",
        &event(&scenario("in_stats_healthy"), "paid"),
    )
    .await;
    let lost = app.case("in_stats_lost").await.id;
    let (status, _) = api(
        &app,
        "POST",
        &format!("/api/cases/{lost}/close"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);

    let stats = get(&app, "/api/stats").await;
    let currencies = stats["currencies"].as_array().unwrap();
    assert_eq!(currencies.len(), 2, "{stats}");
    let eur = &currencies[0];
    assert_eq!(eur["currency"], "eur");
    assert_eq!(
        eur["failed"],
        json!({"count": 1, "minor": 1999, "amount": "19.99"})
    );
    assert_eq!(
        eur["recovered"],
        json!({"count": 1, "minor": 1999, "amount": "19.99"})
    );
    assert_eq!(eur["recovery_rate_by_revenue"], 1.0);
    let usd = &currencies[1];
    assert_eq!(usd["currency"], "usd");
    assert_eq!(
        usd["failed"],
        json!({"count": 3, "minor": 14700, "amount": "147.00"})
    );
    assert_eq!(
        usd["recovered"],
        json!({"count": 1, "minor": 4900, "amount": "49.00"})
    );
    assert_eq!(
        usd["lost"],
        json!({"count": 1, "minor": 4900, "amount": "49.00"})
    );
    assert_eq!(
        usd["open"],
        json!({"count": 1, "minor": 4900, "amount": "49.00"})
    );
    assert_eq!(usd["recovery_rate_by_count"], 0.3333);
    assert_eq!(usd["recovery_rate_by_revenue"], 0.3333);
    assert_eq!(usd["median_days_to_recover"], 0.0);
    assert_eq!(
        usd["by_method"],
        json!([{"method": "processor", "retry": null,
                "recovered": {"count": 1, "minor": 4900, "amount": "49.00"}}])
    );
    let categories: Vec<(String, i64, i64)> = usd["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["failed"]["count"].as_i64().unwrap(),
                c["recovered"]["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        categories,
        [("funds".to_owned(), 2, 1), ("hard".to_owned(), 1, 0)]
    );
    // A window of whole hours is read from the running counts (the
    // default one's last hour, where these cases opened, from the cases):
    // the same figures, and the same as counting every case.
    let whole = get(&app, "/api/stats?from=2000-01-01&to=2100-01-01").await;
    assert_eq!(whole["currencies"], stats["currencies"]);
    let (far, future) = (946_684_800_000, 4_102_444_800_000);
    let (groups, times) = app.store.recovery_counts(far, future).await.unwrap();
    let (all, all_times) = app
        .store
        .recovery_counts_from_cases(far, future)
        .await
        .unwrap();
    assert_eq!(report(&groups, &times), report(&all, &all_times));
    // The hour these cases opened in, read from the hourly counts.
    let hour = 3_600_000;
    let opened = app.case("in_stats_paid").await.opened_at.unwrap() / hour * hour;
    let (from, to) = (opened - 1, opened + hour + 1);
    let (groups, times) = app.store.recovery_counts(from, to).await.unwrap();
    let (all, all_times) = app
        .store
        .recovery_counts_from_cases(from, to)
        .await
        .unwrap();
    assert_eq!(report(&groups, &times), report(&all, &all_times));
    assert!(!all.is_empty());
    // A window with nothing in it, and one the wrong way round.
    let empty = get(&app, "/api/stats?from=2000-01-01&to=2000-02-01").await;
    assert_eq!(empty["currencies"], json!([]));
    let (status, body) = api(
        &app,
        "GET",
        "/api/stats?from=2001-01-01&to=2000-01-01",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    app.shutdown().await;
}

async fn plan_outbox_and_export_answer_as_documented(backend: Backend) {
    let scenarios = [
        failing("in_misc_a", "insufficient_funds", "ann@example.com"),
        Scenario {
            customer_name: "Rivera, \"Jamie\"".into(),
            ..failing("in_misc_b", "expired_card", "=cmd@example.com")
        },
    ];
    let Some((_server, app)) = cases_opened(backend, &scenarios).await else {
        return;
    };
    // The plan: what `dunwell plan --json` prints for the same failure.
    let body = json!({"decline_code": "insufficient_funds", "country": "DE",
                      "failed_at": "2026-03-03T10:00:00Z", "amount": "49.00"});
    let answer = reqwest::Client::new()
        .post(format!("{}/api/plan", app.address))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let planned: Value = answer.json().await.unwrap();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_dunwell"))
        .args([
            "plan",
            "--decline-code",
            "insufficient_funds",
            "--country",
            "DE",
        ])
        .args([
            "--failed-at",
            "2026-03-03T10:00:00Z",
            "--amount",
            "49.00",
            "--json",
        ])
        .env("DUNWELL_POLICY__QUIET_HOURS", "off")
        .env("DUNWELL_POLICY__MIN_HOURS_BETWEEN_EMAILS", "0")
        .env("DUNWELL_DATABASE_URL", "sqlite://unused.db")
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let printed: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(planned, printed);
    assert_eq!(planned["timezone"], "Europe/Berlin");
    for (bad, names) in [
        (
            json!({"decline_code": "x", "timezone": "Mars/Base"}),
            "timezone",
        ),
        (
            json!({"decline_code": "x", "failed_at": "soon"}),
            "failed_at",
        ),
        (json!({"decline_code": "x", "colour": "blue"}), "colour"),
        (json!({"country": "DE"}), "decline_code"),
    ] {
        let answer = reqwest::Client::new()
            .post(format!("{}/api/plan", app.address))
            .bearer_auth(TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{bad}");
        let error: Value = answer.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(names), "{error}");
    }

    // The outbox: rendered emails, newest first, in pages.
    let id = app.case("in_misc_a").await.id;
    let page = get(&app, &format!("/api/outbox?case={id}&limit=1")).await;
    let email = &page["emails"][0];
    assert_eq!(email["case_id"], id.get());
    assert_eq!(email["kind"], "payment_failed");
    assert!(
        email["subject"].as_str().unwrap().contains("$49.00"),
        "{email}"
    );
    assert!(email["text"].as_str().unwrap().contains("/billing/update/"));
    assert!(email["html"].as_str().unwrap().contains("<html"));
    let all = get(&app, "/api/outbox").await;
    assert_eq!(all["emails"].as_array().unwrap().len(), 2, "{all}");
    assert_eq!(all["next_before"], Value::Null);

    // The export: every case, quoted for a spreadsheet.
    let answer = reqwest::Client::new()
        .get(format!("{}/api/cases.csv", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = answer.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("id,invoice_id,"), "{csv}");
    assert!(
        lines[1].contains(",in_misc_b,") && lines[1].contains("'=cmd@example.com"),
        "{csv}"
    );
    assert!(lines[1].contains("\"Rivera, \"\"Jamie\"\"\""), "{csv}");
    assert!(
        lines[2].contains(",in_misc_a,") && lines[2].contains(",49.00,"),
        "{csv}"
    );
    let hard = reqwest::Client::new()
        .get(format!("{}/api/cases.csv?category=hard", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(hard.matches("\r\n").count(), 2, "{hard}");
    app.shutdown().await;
}

/// The OpenAPI document names every endpoint the API serves, with the
/// bearer token as its security, and is generated, not written by hand.
#[tokio::test]
async fn the_openapi_document_covers_the_api() {
    let Some(app) = spawn_app_with(Backend::Sqlite, &with_token()).await else {
        return;
    };
    let (status, _) = api(&app, "GET", "/api/openapi.json", None).await;
    assert_eq!(status, 401);
    let doc = get(&app, "/api/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/api/cases",
        "/api/cases/{id}",
        "/api/cases/{id}/{action}",
        "/api/cases.csv",
        "/api/stats",
        "/api/plan",
        "/api/outbox",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["operator_token"]["scheme"],
        "bearer"
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "CaseSummary",
        "CaseDetail",
        "CurrencyReport",
        "ErrorBody",
        "PlanArgs",
    ] {
        assert!(schemas.contains_key(schema), "{schema} missing");
    }
    let list = &doc["paths"]["/api/cases"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"category") && names.contains(&"cursor"),
        "{names:?}"
    );
    // Client generators need one operationId per operation, and every
    // answer an operation can give; bounds and values live in the schema.
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "{id} twice ({method} {path})");
            let answers = op["responses"].as_object().unwrap();
            assert!(answers.contains_key("401"), "{method} {path}: no 401");
            let takes_input = op.get("parameters").is_some() || op.get("requestBody").is_some();
            if takes_input {
                assert!(answers.contains_key("400"), "{method} {path}: no 400");
            }
        }
    }
    let limit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 200, "{limit}");
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    // A listed case leads to its page, a listed event to its replay.
    for (path, link, operation) in [
        ("/api/cases", "case", "show_case"),
        ("/api/events", "replay", "replay_event"),
    ] {
        let link = &doc["paths"][path]["get"]["responses"]["200"]["links"][link];
        assert_eq!(link["operationId"], operation, "{path}: {link}");
        assert!(ids.contains(operation), "{operation}");
    }
    let put = &doc["paths"]["/api/policy"]["put"]["requestBody"]["content"];
    for form in ["application/toml", "application/json"] {
        assert!(put.get(form).is_some(), "{form} missing: {put}");
    }
    // A method an endpoint does not take: 405 and what it takes.
    let answer = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(b"TRACE").unwrap(),
            format!("{}/api/cases", app.address),
        )
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 405);
    assert_eq!(answer.headers()["allow"], "GET");
    let answer = reqwest::Client::new()
        .delete(format!("{}/api/policy", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 405);
    assert_eq!(answer.headers()["allow"], "GET, PUT");
    app.shutdown().await;
}

crate::backend_tests!(
    the_token_guards_every_endpoint,
    the_case_list_filters_and_pages,
    actions_change_the_case_and_show_on_its_timeline,
    stats_equal_figures_computed_by_hand,
    plan_outbox_and_export_answer_as_documented,
);
