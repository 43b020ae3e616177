//! The `dunwell` binary: check-config, migrate, trigger.

use std::process::Output;

use tokio::process::Command;

use crate::backend_tests;
use crate::helpers::*;

pub(crate) fn dunwell() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dunwell"));
    // Start from a clean slate: no DUNWELL_* from the caller's environment.
    for (key, _) in std::env::vars() {
        if key.starts_with("DUNWELL_") || key == "DATABASE_URL" || key == "PORT" {
            cmd.env_remove(key);
        }
    }
    cmd.env("DUNWELL_LOG", "warn");
    cmd
}

pub(crate) fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn check_config_names_every_bad_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = dunwell()
        .current_dir(dir.path())
        .arg("check-config")
        .env("DUNWELL_BIND", "not-an-address")
        .env("DUNWELL_PROCESSOR", "paypal")
        .env("DUNWELL_CLOCK_SPEED", "fast")
        .env("DUNWELL_WEBHOOK_SECRETS", "whsec_ok,,")
        .output()
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for key in [
        "DUNWELL_BIND",
        "DUNWELL_PROCESSOR",
        "DUNWELL_CLOCK_SPEED",
        "DUNWELL_WEBHOOK_SECRETS",
    ] {
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn check_config_reads_the_file_lets_env_override_and_redacts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dunwell.toml"),
        "bind = \"0.0.0.0:9000\"\npublic_url = \"https://billing.example.com\"\nwebhook_secrets = [\"whsec_fromfile_secret\"]\n",
    )
    .unwrap();
    let out = dunwell()
        .current_dir(dir.path())
        .arg("check-config")
        .env("DUNWELL_BIND", "127.0.0.1:9100")
        .env("DUNWELL_ADMIN_TOKEN", "admin-token-that-is-long")
        .env(
            "DUNWELL_DATABASE_URL",
            "postgres://app:pg-password@db.internal/dunwell",
        )
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("bind = \"127.0.0.1:9100\""), "{stdout}");
    assert!(stdout.contains("https://billing.example.com"), "{stdout}");
    assert!(
        stdout.contains("webhook_secrets = 1 configured"),
        "{stdout}"
    );
    for secret in [
        "whsec_fromfile_secret",
        "admin-token-that-is-long",
        "pg-password",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed"
        );
    }
}

#[tokio::test]
async fn check_config_says_who_may_read_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let check = |vars: &[(&str, &str)]| {
        let mut cmd = dunwell();
        cmd.current_dir(dir.path()).arg("check-config");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output()
    };
    let out = check(&[("DUNWELL_BIND", "0.0.0.0:8080")]).await.unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("warning: /metrics is closed: 0.0.0.0:8080 is not a loopback address"),
        "{stdout}"
    );
    let out = check(&[
        ("DUNWELL_BIND", "0.0.0.0:8080"),
        ("DUNWELL_METRICS_BIND", "[::]:9091"),
    ])
    .await
    .unwrap();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("metrics_bind = \"[::]:9091\""), "{stdout}");
    assert!(
        stdout.contains("warning: /metrics is served open on [::]:9091 (DUNWELL_METRICS_BIND): keep that port internal"),
        "{stdout}"
    );
    assert!(!stdout.contains("/metrics is closed"), "{stdout}");
    let out = check(&[("DUNWELL_METRICS_BIND", "127.0.0.1:8080")])
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("another port than bind"));
}

/// Credentials in any URL the configuration holds never reach check-config's
/// output or the start-up log.
#[tokio::test]
async fn every_url_printed_hides_its_credentials() {
    use crate::process::{Process, eventually};
    let dir = tempfile::tempdir().unwrap();
    let urls = [
        (
            "DUNWELL_DATABASE_URL",
            "postgres://db.internal/app?user=app&password=db-query-secret&sslmode=require",
        ),
        (
            "DUNWELL_NOTIFY_URL",
            "https://hooks:notify-password@hooks.example.com/in?token=notify-query-token",
        ),
        ("DUNWELL_NOTIFY_SECRET", "notify-signing-secret-0123"),
        (
            "DUNWELL_STRIPE_API_BASE",
            "https://sk_test_basekey:base-password@stripe.example.com/",
        ),
    ];
    let secrets = [
        "db-query-secret",
        "notify-password",
        "notify-query-token",
        "notify-signing-secret-0123",
        "sk_test_basekey",
        "base-password",
    ];
    let mut cmd = dunwell();
    cmd.current_dir(dir.path()).arg("check-config");
    for (k, v) in urls {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for shown in [
        "notify_url = \"https://redacted:redacted@hooks.example.com/in?token=redacted\"",
        "stripe_api_base = \"https://redacted:redacted@stripe.example.com/\"",
        "?user=app&password=redacted&sslmode=require",
    ] {
        assert!(stdout.contains(shown), "{shown} not in {stdout}");
    }
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed: {stdout}{stderr}"
        );
    }
    // A database URL the store cannot read: the error names it, redacted.
    let bad = format!(
        "sqlite://{}?mode=rwc&key=db-query-secret",
        dir.path().join("redact.db").display()
    );
    let out = dunwell()
        .current_dir(dir.path())
        .arg("migrate")
        .env("DUNWELL_DATABASE_URL", &bad)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("key=redacted"), "{stderr}");
    assert!(!format!("{stdout}{stderr}").contains("db-query-secret"));
    // The start-up log of the real service.
    let db = format!("sqlite://{}", dir.path().join("redact.db").display());
    let mut urls = urls;
    urls[0].1 = &db;
    let mut env = urls.to_vec();
    env.push(("DUNWELL_WEBHOOK_SECRETS", SECRET));
    let process = Process::start("redact", "serve", &env);
    eventually(
        std::time::Duration::from_secs(10),
        "the notify line logged",
        || async { (!process.log_lines("DUNWELL_NOTIFY_URL").is_empty()).then_some(()) },
    )
    .await;
    // A case opens; its event cannot reach the receiver (no such host
    // here): the failure is logged and stored without the URL's secrets.
    let out = dunwell()
        .args(["trigger", "invoice.payment_failed", "--url"])
        .arg(process.url("/webhooks/stripe"))
        .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    // The failure is logged, then stored: wait for the stored one.
    let store = dunwell::store::Store::connect(&db).await.unwrap();
    let stored = eventually(
        std::time::Duration::from_secs(20),
        "a failed delivery stored",
        || async {
            let stored = format!(
                "{:?}",
                store
                    .outgoing_of(dunwell::domain::ids::CaseId::new(1))
                    .await
                    .unwrap()
            );
            stored
                .contains("could not reach the receiver")
                .then_some(stored)
        },
    )
    .await;
    store.close().await;
    let log = process.log_lines("");
    assert!(
        log.iter()
            .any(|l| l.contains("outgoing event not delivered")),
        "{log:#?}"
    );
    for secret in secrets {
        assert!(
            !log.iter().any(|l| l.contains(secret)),
            "{secret} logged: {log:#?}"
        );
    }
    drop(process);
    for secret in secrets {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
}

#[tokio::test]
async fn an_explicit_config_file_must_exist() {
    let out = dunwell()
        .args(["--config", "/nonexistent/dunwell.toml", "check-config"])
        .output()
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[tokio::test]
async fn migrate_creates_the_schema() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let out = dunwell()
        .arg("migrate")
        .env("DUNWELL_DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(db.sqlite_path().unwrap().exists());
    assert_eq!(db.store().await.count_events().await.unwrap(), 0);
}

backend_tests!(trigger_posts_a_signed_event_of_either_shape);

async fn trigger_posts_a_signed_event_of_either_shape(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = format!("{}/webhooks/stripe", app.address);
    for (event_id, version) in [
        ("evt_trigger_basil", "2025-03-31.basil"),
        ("evt_trigger_legacy", "2024-06-20"),
    ] {
        let out = dunwell()
            .args(["trigger", "invoice.payment_failed", "--url", &url])
            .args(["--customer", "cus_Trigger1", "--invoice", "in_Trigger1"])
            .args(["--decline-code", "expired_card", "--event-id", event_id])
            .args([
                "--api-version",
                version,
                "--amount",
                "19.99",
                "--currency",
                "eur",
            ])
            .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
            .output()
            .await
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains(" 200 "), "{stdout}");
        let stored = app
            .store
            .event_by_id(event_id)
            .await
            .unwrap()
            .expect("stored");
        let event = dunwell::domain::events::Event::parse(stored.payload.as_bytes()).unwrap();
        let dunwell::domain::events::EventKind::InvoicePaymentFailed(invoice) = event.kind else {
            panic!("wrong kind");
        };
        assert_eq!(invoice.customer.as_str(), "cus_Trigger1");
        assert_eq!(invoice.amount_due.to_string(), "19.99 EUR");
        assert!(invoice.subscription.is_some());
    }
    // A secret the endpoint does not know: refused, and trigger says so.
    let out = dunwell()
        .args(["trigger", "charge.failed", "--url", &url])
        .env("DUNWELL_WEBHOOK_SECRETS", "whsec_somebody_else")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("400") && stderr.contains("refused"),
        "{stdout}{stderr}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn trigger_refuses_unknown_types_and_missing_secrets() {
    let out = dunwell()
        .args(["trigger", "invoice.exploded", "--dry-run"])
        .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
        .output()
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("known types"), "{stderr}");

    let out = dunwell()
        .args(["trigger", "invoice.paid", "--dry-run"])
        .output()
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("DUNWELL_WEBHOOK_SECRETS"), "{stderr}");
}

#[tokio::test]
async fn check_config_validates_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dunwell.toml"),
        "[policy]\nretry_owner = \"processor\"\n[policy.final]\nday = 10\naction = \"downgrade\"\n",
    )
    .unwrap();
    let out = dunwell()
        .current_dir(dir.path())
        .arg("check-config")
        .output()
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("policy.final.downgrade_price"), "{stderr}");
    // Stages of the default policy after day 10 are named too.
    assert!(stderr.contains("policy.stages[3].day"), "{stderr}");

    std::fs::write(
        dir.path().join("dunwell.toml"),
        "[policy]\nretry_owner = \"processor\"\n[policy.final]\nday = 21\naction = \"downgrade\"\ndowngrade_price = \"price_basic\"\n",
    )
    .unwrap();
    let out = dunwell()
        .current_dir(dir.path())
        .arg("check-config")
        .env("DUNWELL_POLICY__DEFAULT_TIMEZONE", "America/New_York")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("policy.retry_owner = processor"),
        "{stdout}"
    );
    assert!(
        stdout.contains("policy.default_timezone = America/New_York"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "policy.stages = day 0 payment_failed (friendly), day 3 payment_failed (firm)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("policy.final = day 21 downgrade"),
        "{stdout}"
    );
}

#[tokio::test]
async fn plan_prints_the_timeline_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<&'static str>| {
        let mut cmd = dunwell();
        cmd.current_dir(dir.path()).arg("plan").args(args);
        cmd
    };
    let out = run(vec![
        "--decline-code",
        "insufficient_funds",
        "--failed-at",
        "2026-03-03T10:00:00Z",
        "--timezone",
        "Europe/Lisbon",
        "--amount",
        "49.00",
        "--json",
    ])
    .output()
    .await
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["decline_code"], "insufficient_funds");
    assert_eq!(plan["category"], "funds");
    assert_eq!(plan["timezone"], "Europe/Lisbon");
    assert_eq!(plan["failed_at"], "2026-03-03T10:00:00Z");
    assert_eq!(plan["waits_for_new_payment_method"], false);
    let steps = plan["steps"].as_array().unwrap();
    let retries: Vec<_> = steps.iter().filter(|s| s["action"] == "retry").collect();
    assert!(!retries.is_empty() && retries.len() <= 8, "{stdout}");
    assert_eq!(steps.iter().filter(|s| s["action"] == "email").count(), 4);
    let last = steps.last().unwrap();
    assert_eq!(last["action"], "final");
    assert_eq!(last["final_action"], "cancel");
    let times: Vec<&str> = steps.iter().map(|s| s["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    for step in steps {
        assert!(step["at"].as_str().unwrap().ends_with('Z'));
        assert!(!step["reason"].as_str().unwrap().is_empty());
    }
    for retry in retries {
        let local = chrono::DateTime::parse_from_rfc3339(retry["local"].as_str().unwrap()).unwrap();
        use chrono::{Datelike, Timelike};
        assert!(local.weekday().number_from_monday() <= 5, "{local}");
        assert!((8..11).contains(&local.hour()), "{local}");
    }

    let out = run(vec![
        "--decline-code",
        "expired_card",
        "--country",
        "US",
        "--json",
    ])
    .output()
    .await
    .unwrap();
    let plan: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(plan["waits_for_new_payment_method"], true);
    assert_eq!(plan["timezone"], "America/New_York");
    assert!(
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] != "retry")
    );

    let out = run(vec![
        "--decline-code",
        "insufficient_funds",
        "--timezone",
        "Mars/Base",
    ])
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("IANA"), "{:?}", text(&out));
}

#[tokio::test]
async fn preview_email_renders_each_kind_in_the_policy_tone() {
    let dir = tempfile::tempdir().unwrap();
    let preview = |args: &[&str]| {
        let mut cmd = dunwell();
        cmd.current_dir(dir.path()).arg("preview-email").args(args);
        cmd
    };
    let out = preview(&["payment_failed", "--stage", "3"])
        .output()
        .await
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.starts_with("Subject: First reminder: your payment of $49.00 is 3 days overdue"),
        "{stdout}"
    );
    assert!(stdout.contains("/billing/update/"), "{stdout}");
    // The same stage in German; a stage the policy does not have is an error.
    let out = preview(&["payment_failed", "--stage", "3", "--locale", "de"])
        .output()
        .await
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(
        stdout.starts_with(
            "Subject: Erste Erinnerung: Ihre Zahlung über 49,00 $ ist seit 3 Tagen offen"
        ),
        "{stdout}"
    );
    let out = preview(&["payment_failed", "--stage", "5"])
        .output()
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no payment_failed stage on day 5"),
        "{stderr}"
    );
    assert!(stderr.contains("0, 3, 7"), "{stderr}");

    let out = preview(&["thank_you", "--format", "html"])
        .output()
        .await
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("<!doctype html>") && stdout.contains("Thank you!"),
        "{stdout}"
    );

    let out = preview(&["nope"]).output().await.unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("unknown email kind \"nope\""), "{stderr}");
    let out = preview(&["thank_you", "--format", "pdf"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn check_config_refuses_unknown_keys_at_every_level() {
    let dir = tempfile::tempdir().unwrap();
    for (file, key) in [
        ("bnd = \"127.0.0.1:9\"\n", "bnd"),
        ("[policy]\nretry_ownr = \"processor\"\n", "retry_ownr"),
        ("[policy.retries]\nmax_atempts = 3\n", "max_atempts"),
    ] {
        std::fs::write(dir.path().join("dunwell.toml"), file).unwrap();
        let out = dunwell()
            .current_dir(dir.path())
            .arg("check-config")
            .output()
            .await
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(key), "{file}: {stderr}");
    }
    // A mistyped environment variable too.
    std::fs::remove_file(dir.path().join("dunwell.toml")).unwrap();
    let out = dunwell()
        .current_dir(dir.path())
        .arg("check-config")
        .env("DUNWELL_WEBHOOK_SECRET", "whsec_typo")
        .output()
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("DUNWELL_WEBHOOK_SECRET)"), "{stderr}");
}

backend_tests!(
    trigger_dry_run_prints_what_it_signed,
    trigger_sends_the_charge_that_carries_the_decline_code,
);

/// `trigger invoice.payment_failed --decline-code …` sends the matching
/// `charge.failed` first, as the processor does, so the case plans by the
/// code given (not as a generic decline).
async fn trigger_sends_the_charge_that_carries_the_decline_code(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = format!("{}/webhooks/stripe", app.address);
    let out = dunwell()
        .args([
            "trigger",
            "invoice.payment_failed",
            "--decline-code",
            "expired_card",
        ])
        .args(["--invoice", "in_trigger_code", "--url", &url])
        .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let charge = stdout.find("charge.failed").expect("the charge is sent");
    let invoice = stdout
        .find("invoice.payment_failed")
        .expect("then the invoice");
    assert!(charge < invoice, "{stdout}");
    app.wait_processed().await;
    let case = app.case("in_trigger_code").await;
    let cause = case
        .track
        .case
        .as_ref()
        .and_then(|c| c.cause.as_ref().or(c.latest.as_ref()))
        .map(|d| d.code.clone());
    assert_eq!(cause.as_deref(), Some("expired_card"), "{case:?}");
    app.shutdown().await;
}

/// `trigger --dry-run`: the body on stdout is exactly the signed bytes and
/// the header on stderr signs them, so the pair replays as it is.
async fn trigger_dry_run_prints_what_it_signed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let out = dunwell()
        .args(["trigger", "invoice.payment_failed", "--dry-run"])
        .args(["--event-id", "evt_dry_run_replayed"])
        .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let header = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Stripe-Signature: "))
        .expect("the signature header on stderr")
        .to_owned();
    let replayed = app.post_signed(out.stdout.clone(), &header).await;
    assert_eq!(replayed.status(), 200, "the printed bytes verify");
    app.wait_processed().await;
    assert!(
        app.store
            .event_by_id("evt_dry_run_replayed")
            .await
            .unwrap()
            .is_some()
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_log_filter_or_format_that_cannot_be_read_is_refused() {
    for (key, value, says) in [
        (
            "DUNWELL_LOG",
            "info,[",
            "DUNWELL_LOG: \"info,[\" is not a log filter",
        ),
        (
            "DUNWELL_LOG_FORMAT",
            "xml",
            "DUNWELL_LOG_FORMAT: must be text or json",
        ),
    ] {
        let out = dunwell()
            .arg("check-config")
            .env(key, value)
            .output()
            .await
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(says), "{key}: {stderr}");
    }
}

/// One JSON log line per request, carrying the request id the caller sent
/// (and sends back), naming the route rather than the path.
#[tokio::test]
async fn json_logs_carry_a_request_id_per_request() {
    use crate::process::{Process, eventually};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dunwell.db").display());
    let process = Process::start(
        "json",
        "serve",
        &[
            ("DUNWELL_DATABASE_URL", url.as_str()),
            ("DUNWELL_LOG_FORMAT", "json"),
        ],
    );
    let answer = reqwest::Client::new()
        .get(process.url("/billing/update/some.secret.token"))
        .header("x-request-id", "req-42.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.headers()["x-request-id"], "req-42.abc");
    let line = eventually(
        std::time::Duration::from_secs(5),
        "the request's log line",
        || async {
            process
                .log_lines("\"request_id\":\"req-42.abc\"")
                .into_iter()
                .find(|l| l.contains("\"message\":\"request\""))
        },
    )
    .await;
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(parsed["route"], "/billing/update/{token}");
    assert_eq!(parsed["status"], 404);
    assert!(!line.contains("some.secret.token"), "{line}");
    // Without one, the answer carries a new id.
    let answer = reqwest::get(process.url("/healthz")).await.unwrap();
    assert_eq!(answer.headers()["x-request-id"].len(), 16);
}

#[tokio::test]
async fn platform_conventions_and_production_warnings() {
    // DATABASE_URL and PORT when ours are unset; ours win when set.
    let out = dunwell()
        .arg("check-config")
        .env("DATABASE_URL", "postgres://app:pw@db.internal:5432/dunwell")
        .env("PORT", "9999")
        .env("DUNWELL_PROCESSOR", "stripe")
        .env("DUNWELL_STRIPE_API_KEY", "sk_live_0123456789")
        .env("DUNWELL_SMTP_URL", "smtp://user:pass@mail.example.com:587")
        .env("DUNWELL_MAIL_FROM", "billing@example.com")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("bind = \"0.0.0.0:9999\""), "{stdout}");
    assert!(stdout.contains("db.internal:5432/dunwell"), "{stdout}");
    assert!(!stdout.contains(":pw@"), "{stdout}");
    for warning in [
        "warning: public_url (DUNWELL_PUBLIC_URL) is \"http://127.0.0.1:8080/\"",
        "warning: smtp_url (DUNWELL_SMTP_URL) sends credentials over plain smtp://",
        "warning: webhook_secrets (DUNWELL_WEBHOOK_SECRETS) is unset",
        "warning: /metrics is closed: 0.0.0.0:9999 is not a loopback address",
    ] {
        assert!(stdout.contains(warning), "{warning} missing: {stdout}");
    }
    assert!(
        stdout.contains("with 4 warning(s) for production"),
        "{stdout}"
    );
    let out = dunwell()
        .arg("check-config")
        .env("PORT", "9999")
        .env("DUNWELL_BIND", "127.0.0.1:7000")
        .output()
        .await
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("bind = \"127.0.0.1:7000\""), "{stdout}");
}

/// The operator's own words: a file under `DUNWELL_TEMPLATES_DIR` replaces
/// what a kind says in a language (`preview-email` shows it, the layout
/// stays dunwell's); a file that does not parse, uses a value the view
/// lacks, or names an unknown kind or language stops `check-config` with
/// its path and line.
#[tokio::test]
async fn the_operators_templates_override_the_words_and_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("own");
    std::fs::create_dir_all(own.join("email/payment_failed")).unwrap();
    std::fs::write(
        own.join("email/payment_failed/en.txt"),
        "{% if m.tone == \"friendly\" %}Heads up: {{ m.amount }} did not go through{% else %}Still open: {{ m.amount }}{% endif %}\n\n\
         Hi from Acme's own words{% if m.plan_name %} about {{ m.plan_name }}{% endif %}.\n",
    )
    .unwrap();
    let with = |cmd: &mut Command, templates: &std::path::Path| {
        cmd.current_dir(dir.path())
            .env("DUNWELL_TEMPLATES_DIR", templates);
    };
    let mut cmd = dunwell();
    with(&mut cmd, &own);
    let out = cmd
        .args(["preview-email", "payment_failed", "--format", "text"])
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("Subject: Heads up: $49.00 did not go through"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Hi from Acme's own words about Pro."),
        "{stdout}"
    );
    assert!(
        stdout.contains("/billing/update/"),
        "the layout and its link stay: {stdout}"
    );
    // Another language keeps dunwell's words.
    let mut cmd = dunwell();
    with(&mut cmd, &own);
    let out = cmd
        .args([
            "preview-email",
            "payment_failed",
            "--locale",
            "de",
            "--format",
            "text",
        ])
        .output()
        .await
        .unwrap();
    assert!(text(&out).0.contains("Wir wollten"), "{:?}", text(&out));
    let mut cmd = dunwell();
    with(&mut cmd, &own);
    let out = cmd.arg("check-config").output().await.unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("(1 files)"), "{:?}", text(&out));

    // Broken files: every problem, each with its file (and line).
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(bad.join("email/thank_you")).unwrap();
    std::fs::create_dir_all(bad.join("email/final_notice")).unwrap();
    std::fs::create_dir_all(bad.join("email/paymnet_failed")).unwrap();
    std::fs::write(
        bad.join("email/thank_you/en.txt"),
        "Thanks\n\nYou paid {{ m.amount }}.\n{% if m.plan_name %}\nno end\n",
    )
    .unwrap();
    std::fs::write(
        bad.join("email/final_notice/fr.txt"),
        "Dernier rappel\n\nVous devez {{ m.amout }}.\n",
    )
    .unwrap();
    std::fs::write(bad.join("email/final_notice/klingon.txt"), "x").unwrap();
    let mut cmd = dunwell();
    with(&mut cmd, &bad);
    let out = cmd.arg("check-config").output().await.unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for said in [
        "email/thank_you/en.txt:",
        "email/final_notice/fr.txt:3",
        "email/paymnet_failed: not an email kind",
        "email/final_notice/klingon.txt: name it <lang>.txt",
    ] {
        assert!(stderr.contains(said), "{said} missing: {stderr}");
    }
}

/// A production key with the default (simulated) processor is an error,
/// not "configuration OK": the stand-in would "pay" invoices and thank
/// customers for money that never moved.
#[tokio::test]
async fn a_live_key_with_the_simulated_processor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["sk_live_0123456789", "rk_live_0123456789"] {
        let out = check_config_in(
            dir.path(),
            &[
                ("DUNWELL_STRIPE_API_KEY", key),
                ("DUNWELL_PUBLIC_URL", "https://billing.example.com"),
                ("DUNWELL_SMTP_URL", "smtps://mail.example.com"),
                ("DUNWELL_MAIL_FROM", "billing@example.com"),
            ],
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}");
        assert!(
            stderr.contains("processor (DUNWELL_PROCESSOR): is \"simulated\" (the default) while stripe_api_key (DUNWELL_STRIPE_API_KEY) is a live key"),
            "{stderr}"
        );
        assert!(!stdout.contains("configuration OK"), "{stdout}");
        // `serve` refuses to start the same way.
        let out = dunwell()
            .current_dir(dir.path())
            .arg("serve")
            .env("DUNWELL_STRIPE_API_KEY", key)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out).1.contains("is a live key"));
    }
    // A test key with the simulated processor is only unused.
    let out = check_config_in(
        dir.path(),
        &[("DUNWELL_STRIPE_API_KEY", "sk_test_0123456789")],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("warning: stripe_api_key (DUNWELL_STRIPE_API_KEY) is set but unused"),
        "{stdout}"
    );
}

/// `check-config` warns about everything `serve` warns about at start: the
/// simulated processor, a loopback public_url, no SMTP, a fast clock,
/// `/metrics` open beyond this machine; "configuration OK" only when
/// nothing is left to say.
#[tokio::test]
async fn check_config_warns_as_serve_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_config_in(
        dir.path(),
        &[
            ("DUNWELL_CLOCK_SPEED", "1000"),
            ("DUNWELL_BIND", "0.0.0.0:8080"),
            ("DUNWELL_METRICS_BIND", "0.0.0.0:9091"),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for warning in [
        "warning: processor is \"simulated\" (DUNWELL_PROCESSOR): no real money moves",
        "warning: public_url (DUNWELL_PUBLIC_URL) is \"http://127.0.0.1:8080/\"",
        "warning: smtp_url (DUNWELL_SMTP_URL) is unset",
        "warning: clock_speed (DUNWELL_CLOCK_SPEED) is 1000",
        "warning: /metrics is served open on 0.0.0.0:9091 (DUNWELL_METRICS_BIND): keep that port internal, or set DUNWELL_METRICS_TOKEN",
        "warning: webhook_secrets (DUNWELL_WEBHOOK_SECRETS) is unset",
    ] {
        assert!(stdout.contains(warning), "{warning} missing: {stdout}");
    }
    assert!(!stdout.contains("configuration OK"), "{stdout}");
    // serve logs the same sentences.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dunwell"))
        .current_dir(dir.path())
        .arg("serve")
        .env("DUNWELL_BIND", "127.0.0.1:0")
        .env("DUNWELL_CLOCK_SPEED", "1000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = String::new();
    let mut stdout = tokio::io::BufReader::new(child.stderr.take().unwrap());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    use tokio::io::AsyncBufReadExt;
    while !log.contains("clock_speed (DUNWELL_CLOCK_SPEED) is 1000") {
        let mut line = String::new();
        match tokio::time::timeout_at(deadline, stdout.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => log.push_str(&line),
            _ => break,
        }
    }
    let _ = child.kill().await;
    for said in [
        "processor is \\\"simulated\\\" (DUNWELL_PROCESSOR): no real money moves",
        "smtp_url (DUNWELL_SMTP_URL) is unset",
        "clock_speed (DUNWELL_CLOCK_SPEED) is 1000",
    ] {
        assert!(
            log.contains(said) || log.contains(&said.replace("\\\"", "\"")),
            "{said} missing from serve's log:\n{log}"
        );
    }
}

/// A typo nested in the policy hides nothing: every mistake, at every
/// depth, is named at once by its key path, with the nearest known key; a
/// mistyped variable gets its "did you mean" too.
#[tokio::test]
async fn every_config_error_is_named_at_once_with_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dunwell.toml"),
        r##"
bnd = "127.0.0.1:9"
[policy]
retry_ownr = "processor"
[policy.retries]
max_atempts = 3
[[policy.stages]]
day = 0
email = "payment_failed"
tone = "angry"
[policy.final]
day = "soon"
[brand]
colour = "#fff"
"##,
    )
    .unwrap();
    let out = check_config_in(dir.path(), &[("DUNWELL_WEBHOOK_SECRET", "whsec_typo")]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for said in [
        "bnd: unknown configuration key (in the file, or DUNWELL_BND); did you mean bind (DUNWELL_BIND)?",
        "webhook_secret: unknown configuration key (in the file, or DUNWELL_WEBHOOK_SECRET); did you mean webhook_secrets (DUNWELL_WEBHOOK_SECRETS)?",
        "policy.retry_ownr: unknown key; did you mean `retry_owner`?",
        "policy.retries.max_atempts: unknown key; did you mean `max_attempts`?",
        "policy.stages[0].tone: unknown value `angry`",
        "policy.final.day: ",
        "brand.colour: unknown key",
    ] {
        assert!(stderr.contains(said), "{said} missing:\n{stderr}");
    }
    assert!(!stderr.contains("default."), "{stderr}");
}

/// `dunwell check-config` in `dir` with `env` set.
async fn check_config_in(dir: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = dunwell();
    cmd.current_dir(dir).arg("check-config");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().await.unwrap()
}

/// `dunwell demo` tells its story on any date, in a temporary database:
/// one customer recovered by a retry, one canceled at the end.
#[tokio::test]
async fn the_demo_tells_its_story_whatever_the_date() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        dunwell().current_dir(dir.path()).arg("demo").output(),
    )
    .await
    .expect("the demo ends")
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for said in [
        "email (kind=payment_failed, tone=friendly",
        "attempt (attempt=1, outcome=declined, decline_code=insufficient_funds",
        "Ada (pays on the third retry): the case is now recovered",
        "email (kind=thank_you",
        "Ben (card keeps declining): final action (action=cancel",
        "Ben (card keeps declining): email (kind=subscription_canceled",
        "Ada (pays on the third retry): recovered",
        "Ben (card keeps declining): canceled",
    ] {
        assert!(stdout.contains(said), "{said} missing:\n{stdout}");
    }
    // Nothing left behind where it ran.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
