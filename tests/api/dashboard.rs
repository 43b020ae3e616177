//! The operator's dashboard: no token, no dashboard; the sign-in and its
//! cookie; pages that show what the API shows; and, in headless Chromium,
//! an operator who signs in, reads the overview, opens a case and pauses
//! it (screenshots kept in `target/test-artifacts/`).

use chrono::Duration;
use dunwell::domain::money::{Currency, Money};
use dunwell::trigger::Scenario;
use wiremock::MockServer;

use crate::browser::{Browser, artifacts_dir, chromium};
use crate::helpers::*;
use crate::stand_in::*;

pub(crate) const TOKEN: &str = "dashboard-token-0123456789";

/// Signs in; the session cookie's `name=value`.
async fn sign_in(app: &TestApp) -> String {
    sign_in_with(app, TOKEN).await
}

/// Signs in with `token`, as the sign-in form does; the session cookie's
/// `name=value`.
pub(crate) async fn sign_in_with(app: &TestApp, token: &str) -> String {
    sign_in_at(&app.address, token).await
}

/// Signs in to the dashboard at `address` (a test app's or a process's).
pub(crate) async fn sign_in_at(address: &str, token: &str) -> String {
    let answer = no_redirects()
        .post(format!("{address}/admin/login"))
        .header("origin", address)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(part), "{part} missing: {cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

/// A dozen cases over six weeks, in two currencies: paid at the processor,
/// recovered by a retry, voided, still open.
/// A laptop-sized browser signed in to the dashboard at `address`, as an
/// operator does it: the token typed into the sign-in form.
pub(crate) fn signed_in(binary: &std::path::Path, address: &str) -> Browser {
    let mut b = Browser::launch(binary);
    b.viewport(1366, 900, 1.0, false);
    b.open(&format!("{address}/admin/login"));
    b.type_into("#token", TOKEN);
    b.click("form[action='/admin/login'] button");
    b.wait_for_page(|href| href.ends_with("/admin"));
    b
}

pub(crate) async fn seeded(
    backend: Backend,
    extra: &[(&str, &str)],
) -> Option<(MockServer, TestApp)> {
    let server = MockServer::start().await;
    let mut pairs = vec![("admin_token", TOKEN)];
    pairs.extend_from_slice(extra);
    let codes = [
        "insufficient_funds",
        "expired_card",
        "do_not_honor",
        "insufficient_funds",
    ];
    let mut scenarios = Vec::new();
    for i in 0..12_i64 {
        let currency = if i % 5 == 4 { "eur" } else { "usd" };
        let s = Scenario {
            api_version: dunwell::trigger::LEGACY_API_VERSION.into(),
            decline_code: codes[i as usize % codes.len()].into(),
            customer_email: format!("customer{i}@example.com"),
            amount: Money::from_minor(1900 + 1000 * (i % 4), Currency::parse(currency).unwrap())
                .unwrap(),
            now: now() - Duration::days(3 * i + 1).num_seconds(),
            ..scenario(&format!("in_dash_{i}"))
        };
        // A third of them pays on our second retry.
        let pays_on = if i % 3 == 2 { 2 } else { 0 };
        mount_stripe(&server, &s, &s.decline_code, pays_on).await;
        scenarios.push(s);
    }
    let app = app_with(backend, &server, &pairs).await?;
    for (i, s) in scenarios.iter().enumerate() {
        app.send("charge.failed", &event(s, "charge")).await;
        app.send("invoice.payment_failed", &event(s, "failed"))
            .await;
        match i % 3 {
            0 => app.send("invoice.paid", &event(s, "paid")).await,
            1 if i > 3 => app.send("invoice.voided", &event(s, "void")).await,
            _ => {}
        }
    }
    app.run_due_jobs().await;
    // Ten days of retries, in six-hour steps.
    app.live_through(10, 6).await;
    Some((server, app))
}

async fn the_dashboard_signs_in_and_shows_the_figures(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(app.get("/admin").await.status(), 404);
    assert_eq!(app.get("/admin/login").await.status(), 404);
    app.shutdown().await;

    let Some((_server, app)) = seeded(backend, &[]).await else {
        return;
    };
    let client = no_redirects();
    let answer = client
        .get(format!("{}/admin", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/admin/login");
    let wrong = client
        .post(format!("{}/admin/login", app.address))
        .header("origin", &app.address)
        .form(&[("token", "not-the-token-at-all")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let cookie = sign_in(&app).await;
    let get = |path: &str| {
        client
            .get(format!("{}{path}", app.address))
            .header("cookie", &cookie)
            .send()
    };
    let overview = get("/admin").await.unwrap();
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.unwrap();
    assert_eq!(html.matches("<svg class=\"chart").count(), 5, "{html}");
    assert!(
        html.contains("paid of"),
        "the slots chart has attempts: {html}"
    );
    assert!(
        html.contains("Recovered by") || html.contains("Paid at the processor"),
        "{html}"
    );
    // The tiles show what /api/stats says, per currency.
    let stats: serde_json::Value = client
        .get(format!("{}/api/stats", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let usd = stats["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "usd")
        .unwrap();
    let recovered = format!("{} USD", usd["recovered"]["amount"].as_str().unwrap());
    assert!(html.contains(&recovered), "{recovered} not on the overview");
    let cases = get("/admin/cases?q=customer3@example.com")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cases.contains("customer3@example.com") && !cases.contains("customer4@"),
        "{cases}"
    );
    let id = app.case("in_dash_1").await.id;
    let page = get(&format!("/admin/cases/{id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("expired_card") && page.contains("Timeline"),
        "{page}"
    );
    // The policy with a plan preview, the same as `dunwell plan`.
    let policy = get("/admin/policy?decline_code=expired_card&country=DE")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(policy.contains("Europe/Berlin"), "{policy}");
    assert!(policy.contains("final action: cancel"), "{policy}");
    assert!(
        policy.contains("day 0 payment_failed (friendly)"),
        "{policy}"
    );
    let bad = get("/admin/policy?decline_code=x&timezone=Mars/Base")
        .await
        .unwrap();
    assert_eq!(bad.status(), 200);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("is not an IANA time zone")
    );
    // The backtest: the running policy beside the plain schedules.
    let simulated = get("/admin/simulate?population=1500&seed=7")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "dunwell policy",
        "days 3/7/14/21",
        "8 in 14 days",
        "<svg",
        "pay cycles",
        "insufficient_funds",
    ] {
        assert!(simulated.contains(needle), "{needle}: {simulated}");
    }
    let too_many = get("/admin/simulate?population=900000").await.unwrap();
    assert_eq!(too_many.status(), 400);
    assert!(
        too_many
            .text()
            .await
            .unwrap()
            .contains("population must be 1 to 50000")
    );
    // The outbox, and an email's HTML on a sandboxed page of its own.
    let outbox = get(&format!("/admin/outbox?case={id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(outbox.contains("Your card has expired"), "{outbox}");
    let mail = app.store.outbox(Some(id), 1).await.unwrap().remove(0);
    let html = get(&format!("/admin/outbox/{}/html", mail.id))
        .await
        .unwrap();
    assert!(
        html.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(html.text().await.unwrap(), mail.body_html);
    // A form from another site cannot act, even with the cookie.
    let forged = client
        .post(format!("{}/admin/cases/{id}/close", app.address))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_ne!(
        app.case("in_dash_1").await.state,
        Some(dunwell::domain::case::CaseState::Closed)
    );
    // Signed out: the cookie is cleared.
    let out = client
        .post(format!("{}/admin/logout", app.address))
        .header("cookie", &cookie)
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    app.shutdown().await;
}

crate::backend_tests!(
    the_dashboard_signs_in_and_shows_the_figures,
    the_overview_says_when_no_runner_works_and_finds_invoice_numbers,
);

/// The overview says when no job runner has claimed work (read from the
/// database, as a web role without one reads it), amounts group their
/// thousands, and the search finds the invoice numbers the lists show.
async fn the_overview_says_when_no_runner_works_and_finds_invoice_numbers(backend: Backend) {
    let s = dunwell::trigger::Scenario {
        amount: dunwell::domain::money::Money::from_minor(
            69_800,
            dunwell::domain::money::Currency::parse("jpy").unwrap(),
        )
        .unwrap(),
        ..crate::stand_in::scenario("in_dash_yen_0001")
    };
    let server = crate::stand_in::stripe(&s, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[("admin_token", TOKEN)]).await else {
        return;
    };
    app.send(
        "invoice.payment_failed",
        &crate::stand_in::event(&s, "failed"),
    )
    .await;
    let cookie = sign_in(&app).await;
    let get = |path: String| {
        let cookie = cookie.clone();
        let address = app.address.clone();
        async move {
            no_redirects()
                .get(format!("{address}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let overview = get("/admin".into()).await;
    assert!(
        overview.contains("No job runner has run against this database yet"),
        "{overview}"
    );
    assert!(overview.contains("69,800 JPY"), "{overview}");
    // What a runner's heartbeat writes (a real `serve` does it: the browser
    // walk's overview below has no such banner): three minutes ago is too
    // long, a moment ago is fine.
    use dunwell::jobs::claim::RUNNER_SEEN;
    let now = dunwell::clock::unix_millis();
    app.store
        .set_setting(RUNNER_SEEN, &(now - 180_000).to_string())
        .await
        .unwrap();
    let overview = get("/admin".into()).await;
    assert!(
        overview.contains("No job runner has claimed work for 3 minutes"),
        "{overview}"
    );
    app.store
        .set_setting(RUNNER_SEEN, &now.to_string())
        .await
        .unwrap();
    let overview = get("/admin".into()).await;
    assert!(!overview.contains("No job runner"), "{overview}");
    // Paid today: this week's and this month's recoveries count it by the
    // day the money came in, last week's does not.
    app.send("invoice.paid", &crate::stand_in::event(&s, "paid"))
        .await;
    let overview = get("/admin".into()).await;
    for (period, amount) in [
        ("Recovered this week", "69,800 JPY"),
        ("Recovered last week", "0 JPY"),
        ("Recovered this month", "69,800 JPY"),
    ] {
        let tile = format!("<div class=\"k\">{period}</div><div class=\"v\">{amount}</div>");
        assert!(overview.contains(&tile), "{tile} missing: {overview}");
    }
    // The number the lists show finds the case, as the processor's id does.
    let number = app.case(&s.invoice).await.invoice_number.unwrap();
    for q in [number.as_str(), s.invoice.as_str()] {
        let found = get(format!("/admin/cases?q={q}")).await;
        assert!(found.contains(&number), "{q}: {found}");
        assert!(found.contains("69,800 JPY"), "{q}: {found}");
    }
    app.shutdown().await;
}

/// The operator's way in a real browser, with screenshots.
#[tokio::test]
async fn an_operator_signs_in_opens_a_case_and_pauses_it_in_a_browser() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI"
        );
        eprintln!("skipped: no chromium on the PATH");
        return;
    };
    let Some((_server, app)) = seeded(Backend::Sqlite, &[("brand.name", "Acme Analytics")]).await
    else {
        return;
    };
    let open = app.case("in_dash_1").await;
    // This harness runs jobs by hand: what a runner's heartbeat writes.
    app.store
        .set_setting(
            dunwell::jobs::claim::RUNNER_SEEN,
            &dunwell::clock::unix_millis().to_string(),
        )
        .await
        .unwrap();
    let address = app.address.clone();
    let dir = artifacts_dir();
    let shots = [
        dir.join("dashboard-overview-laptop.png"),
        dir.join("dashboard-overview-phone.png"),
        dir.join("dashboard-case-laptop.png"),
        dir.join("dashboard-policy-laptop.png"),
        dir.join("dashboard-simulate-laptop.png"),
    ];
    let walk = {
        let shots = shots.clone();
        move || {
            let mut b = signed_in(&binary, &address);
            let overview = b.text();
            b.screenshot(&shots[0]);
            b.viewport(390, 844, 2.0, true);
            b.open(&format!("{address}/admin"));
            b.screenshot(&shots[1]);
            b.viewport(1366, 900, 1.0, false);
            b.open(&format!("{address}/admin/cases"));
            b.click(&format!("a[href='/admin/cases/{}']", open.id));
            b.wait_for_page(|href| href.ends_with(&format!("/admin/cases/{}", open.id)));
            b.click(&format!(
                "form[action='/admin/cases/{}/pause'] button",
                open.id
            ));
            b.wait_for_page(|href| href.contains("done=pause"));
            let paused = b.text();
            b.screenshot(&shots[2]);
            b.open(&format!(
                "{address}/admin/policy?decline_code=insufficient_funds&country=DE"
            ));
            b.screenshot(&shots[3]);
            b.open(&format!("{address}/admin/simulate"));
            b.click("form[action='/admin/simulate'] button");
            b.wait_for_page(|href| href.contains("population="));
            let simulated = b.text();
            b.screenshot(&shots[4]);
            (overview, paused, simulated)
        }
    };
    let (overview, paused, simulated) = tokio::task::spawn_blocking(walk).await.unwrap();
    assert!(
        simulated.contains("20000 failed renewals, seed 7"),
        "{simulated}"
    );
    assert!(overview.contains("Recovery overview"), "{overview}");
    assert!(overview.contains("Acme Analytics"), "{overview}");
    assert!(paused.contains("Done: pause."), "{paused}");
    assert_eq!(
        app.case("in_dash_1").await.state,
        Some(dunwell::domain::case::CaseState::Paused)
    );
    crate::browser::assert_shots(&shots);
    app.shutdown().await;
}

/// A real `dunwell worker` notes its heartbeat in the database, which is
/// how a web role's dashboard knows a runner is at work.
#[tokio::test]
async fn a_running_worker_notes_its_heartbeat_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("beat.db").display());
    let worker =
        crate::process::Process::start("worker", "worker", &[("DUNWELL_DATABASE_URL", &url)]);
    let store = dunwell::store::Store::connect(&url).await.unwrap();
    let seen = crate::process::eventually(
        std::time::Duration::from_secs(60),
        "the worker's heartbeat",
        || async {
            store
                .setting(dunwell::jobs::claim::RUNNER_SEEN)
                .await
                .ok()
                .flatten()
        },
    )
    .await;
    let at: i64 = seen.parse().unwrap();
    assert!(
        (dunwell::clock::unix_millis() - at).abs() < 60_000,
        "{seen}"
    );
    drop(worker);
}

/// At 100,000x from a start a month before today, the overview's window
/// (90 days back from the engine's clock) and `/api/stats` hold the case
/// the real binary opened and recovered: its times are on the engine's
/// clock, not the processor's real one (which is weeks past the window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_fast_clock_the_overview_holds_what_the_engine_did() {
    use crate::process::{Process, eventually};
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let port = free_port().to_string();
    let address = format!("http://127.0.0.1:{port}");
    let bind = format!("127.0.0.1:{port}");
    let serve = Process::start(
        "serve",
        "serve",
        &[
            ("DUNWELL_DATABASE_URL", db.url.as_str()),
            ("DUNWELL_WEBHOOK_SECRETS", "whsec_fast"),
            ("DUNWELL_CLOCK_SPEED", "100000"),
            ("DUNWELL_ADMIN_TOKEN", TOKEN),
            ("DUNWELL_BIND", bind.as_str()),
            ("DUNWELL_PUBLIC_URL", address.as_str()),
        ],
    );
    crate::restarts::ready(&serve).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dunwell"))
        .args(["trigger", "invoice.payment_failed", "--invoice"])
        .args([
            "in_fast_recovers2",
            "--amount",
            "1234.50",
            "--currency",
            "usd",
        ])
        .args(["--url", &serve.url("/webhooks/stripe")])
        .env("DUNWELL_WEBHOOK_SECRETS", "whsec_fast")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let store = db.store().await;
    let case = eventually(
        std::time::Duration::from_secs(60),
        "the case recovered",
        || async {
            let case = store.case_by_invoice("in_fast_recovers2").await.unwrap()?;
            (case.state == Some(dunwell::domain::case::CaseState::Recovered)).then_some(case)
        },
    )
    .await;
    let real_now = chrono::Utc::now().timestamp_millis();
    assert!(
        case.opened_at
            .is_some_and(|at| at < real_now - 14 * 86_400_000),
        "opened on the engine's clock, weeks before real time: {:?}",
        case.opened_at
    );
    let stats: serde_json::Value = reqwest::Client::new()
        .get(format!("{address}/api/stats"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let usd = &stats["currencies"][0];
    assert_eq!(usd["recovered"]["count"], 1, "{stats}");
    let cookie = sign_in_at(&address, TOKEN).await;
    let overview = no_redirects()
        .get(format!("{address}/admin"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tile = "<div class=\"k\">Recovered</div><div class=\"v\">1,234.50 USD</div>";
    assert!(overview.contains(tile), "{tile} missing: {overview}");
    store.close().await;
}
