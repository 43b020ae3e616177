//! Versioned policies through the operator API: a case keeps the version
//! it opened under when a new one is applied; an explicit move re-plans it
//! once, with a timeline entry; an invalid policy is refused with every
//! error and changes nothing; the holdout opens its share of new cases
//! under the other version and the statistics compare them.

use std::collections::BTreeMap;

use dunwell::domain::holdout::falls_in;
use dunwell::domain::work::WorkStatus;
use dunwell::trigger::Scenario;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::stand_in::*;

const TOKEN: &str = "operator-token-0123456789";

/// Sends a request with the operator's token; the status and JSON body.
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<(&str, String)>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(TOKEN);
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

async fn put_toml(app: &TestApp, query: &str, toml: &str) -> (u16, Value) {
    let path = format!("/api/policy{query}");
    call(
        app,
        reqwest::Method::PUT,
        &path,
        Some(("application/toml", toml.into())),
    )
    .await
}

/// The case's pending work: key → due time (ms).
async fn pending(app: &TestApp, s: &Scenario) -> BTreeMap<String, i64> {
    let case = app.case(&s.invoice).await;
    app.store
        .work_of(case.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.status == WorkStatus::Pending)
        .map(|w| (w.key, w.due_at))
        .collect()
}

/// Emails on days 0 and 2, a final notice on day 5, cancel on day 8, one
/// retry only.
const FASTER: &str = r#"
[policy]
quiet_hours = "off"
min_hours_between_emails = 0
[policy.retries]
max_attempts = 1
[[policy.stages]]
day = 0
email = "payment_failed"
tone = "friendly"
[[policy.stages]]
day = 2
email = "payment_failed"
tone = "firm"
[[policy.stages]]
day = 5
email = "final_notice"
tone = "final"
[policy.final]
day = 8
action = "cancel"
"#;

async fn open(app: &TestApp, s: &Scenario) {
    app.send("charge.failed", &event(s, "charge")).await;
    app.send("invoice.payment_failed", &event(s, "failed"))
        .await;
    app.run_due_jobs().await;
}

async fn a_case_keeps_its_version_until_moved_once(backend: Backend) {
    let a = scenario("in_policy_a");
    let b = scenario("in_policy_b");
    let c = scenario("in_policy_c");
    let server = stripe(&a, "insufficient_funds", 0).await;
    mount_stripe(&server, &b, "insufficient_funds", 0).await;
    mount_stripe(&server, &c, "insufficient_funds", 0).await;
    let Some(app) = app_with(backend, &server, &[("admin_token", TOKEN)]).await else {
        return;
    };
    open(&app, &a).await;
    open(&app, &c).await;
    assert_eq!(app.case(&a.invoice).await.policy_version, Some(1));
    let before = pending(&app, &a).await;
    assert!(before.contains_key("email:payment_failed:3"), "{before:?}");

    let (status, body) = put_toml(&app, "?reason=faster%20cycle&author=ana", FASTER).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 2);
    assert!(
        body["diff"].as_str().unwrap().contains("+day = 2"),
        "{body}"
    );
    let (_, running) = call(&app, reqwest::Method::GET, "/api/policy", None).await;
    assert_eq!(running["version"], 2);
    assert_eq!(running["author"], "ana");
    assert_eq!(running["reason"], "faster cycle");
    assert_eq!(running["source"], "api");
    assert_eq!(running["policy"]["final"]["day"], 8);

    // The open case keeps version 1 and every planned time.
    app.run_due_jobs().await;
    assert_eq!(app.case(&a.invoice).await.policy_version, Some(1));
    assert_eq!(pending(&app, &a).await, before);
    // A new case opens under version 2.
    open(&app, &b).await;
    assert_eq!(app.case(&b.invoice).await.policy_version, Some(2));
    let planned_b = pending(&app, &b).await;
    assert!(
        planned_b.contains_key("email:payment_failed:2"),
        "{planned_b:?}"
    );
    assert!(
        !planned_b.contains_key("email:payment_failed:3"),
        "{planned_b:?}"
    );

    // The operator moves case a: re-planned once under version 2.
    let case_a = app.case(&a.invoice).await;
    let move_body = json!({"cases": [case_a.id], "note": "align with the new cycle"}).to_string();
    let (status, moved) = call(
        &app,
        reqwest::Method::POST,
        "/api/policy/move",
        Some(("application/json", move_body.clone())),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved["results"][0],
        json!({"case_id": case_a.id, "moved": true, "from": 1, "to": 2})
    );
    assert_eq!(app.case(&a.invoice).await.policy_version, Some(2));
    let after = pending(&app, &a).await;
    for gone in [
        "email:payment_failed:3",
        "email:payment_failed:7",
        "email:final_notice:14",
    ] {
        assert!(!after.contains_key(gone), "{gone} still planned: {after:?}");
    }
    let opened = case_a.opened_at.unwrap();
    let day = 86_400_000;
    assert!(after.contains_key("email:payment_failed:2"), "{after:?}");
    assert!(after.contains_key("email:final_notice:5"), "{after:?}");
    // Day 8 ends at the customer's midnight (no zone known: the policy's UTC).
    let opened_at = chrono::DateTime::from_timestamp_millis(opened).unwrap();
    let final_at = dunwell::domain::deadline::final_instant(opened_at, 8, chrono_tz::UTC);
    assert_eq!(
        after["final"],
        final_at.timestamp_millis(),
        "cancel after day 8 now"
    );
    assert!(final_at.timestamp_millis() > opened + 8 * day);
    let timeline = app.store.timeline(case_a.id).await.unwrap();
    let moves: Vec<_> = timeline
        .iter()
        .filter(|t| t.kind == "policy_moved")
        .collect();
    assert_eq!(moves.len(), 1, "{timeline:?}");
    assert_eq!(moves[0].detail["from"], 1);
    assert_eq!(moves[0].detail["to"], 2);
    assert_eq!(moves[0].detail["note"], "align with the new cycle");

    // Once: a second move is refused and changes nothing.
    let (_, again) = call(
        &app,
        reqwest::Method::POST,
        "/api/policy/move",
        Some(("application/json", move_body)),
    )
    .await;
    assert_eq!(again["results"][0]["moved"], false);
    assert_eq!(
        again["results"][0]["error"],
        "the case already runs under version 2"
    );
    assert_eq!(pending(&app, &a).await, after);
    let timeline = app.store.timeline(case_a.id).await.unwrap();
    assert_eq!(
        timeline.iter().filter(|t| t.kind == "policy_moved").count(),
        1
    );

    // Weeks later: c kept version 1's schedule (retries until day 21,
    // day-3 and day-7 reminders), b had version 2's (one retry, cancel on
    // day 8), and a version 2's from its move on.
    app.live_through(16, 6).await;
    let retries = |case: &dunwell::store::cases::CaseRow| {
        case.track.case.as_ref().map_or(0, |c| c.retries_made)
    };
    let (case_a, case_b, case_c) = (
        app.case(&a.invoice).await,
        app.case(&b.invoice).await,
        app.case(&c.invoice).await,
    );
    // How many retries v1 placed by now is the planner's business (its
    // paydays); that c still runs v1's schedule is this test's.
    assert!(retries(&case_c) >= 1, "v1 retries on: {:?}", case_c.track);
    let c_opened = chrono::DateTime::from_timestamp_millis(case_c.opened_at.unwrap()).unwrap();
    assert_eq!(
        pending(&app, &c).await["final"],
        dunwell::domain::deadline::final_instant(c_opened, 21, chrono_tz::UTC).timestamp_millis(),
        "v1's cancel after day 21 stays planned"
    );
    assert!(
        !case_c.has_ended(),
        "v1 cancels on day 21: {:?}",
        case_c.state
    );
    assert_eq!(
        mails(&app, &c, "payment_failed").await,
        3,
        "days 0, 3 and 7"
    );
    assert_eq!(retries(&case_b), 1);
    assert_eq!(
        case_b.state,
        Some(dunwell::domain::case::CaseState::Canceled)
    );
    assert_eq!(mails(&app, &b, "payment_failed").await, 2, "days 0 and 2");
    assert!(retries(&case_a) <= 1, "{:?}", case_a.track);
    assert_eq!(
        case_a.state,
        Some(dunwell::domain::case::CaseState::Canceled)
    );

    // The history: who, why, and what changed.
    let (_, list) = call(&app, reqwest::Method::GET, "/api/policy/versions", None).await;
    assert_eq!(list["running"], 2);
    assert_eq!(list["versions"][1]["source"], "file");
    let (_, diff) = call(
        &app,
        reqwest::Method::GET,
        "/api/policy/diff?from=1&to=2",
        None,
    )
    .await;
    assert!(
        diff["diff"].as_str().unwrap().contains("-day = 21"),
        "{diff}"
    );
}

async fn an_invalid_policy_is_refused_with_every_error(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    let bad = "[policy]\ndefault_timezone = \"Mars/Olympus\"\n[policy.retries]\nwindow_days = 0\n\
               [policy.final]\naction = \"downgrade\"\n";
    let (status, body) = put_toml(&app, "?reason=try", bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "the policy is not valid; nothing changed");
    let errors = body["errors"].to_string();
    for key in [
        "policy.default_timezone",
        "policy.retries.window_days",
        "policy.final.downgrade_price",
    ] {
        assert!(errors.contains(key), "{key} missing: {errors}");
    }
    // JSON is read the same way; an unknown key is named.
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        "/api/policy",
        Some((
            "application/json",
            json!({"reason": "x", "policy": {"retry_ownr": "dunwell"}}).to_string(),
        )),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["errors"].to_string().contains("retry_ownr"), "{body}");
    // Mistakes at different depths are all named, by key path, at once.
    let nested = "[policy.retries]\nmax_atempts = 3\n[[policy.stages]]\nday = 0\n\
                  email = \"payment_failed\"\ntone = \"angry\"\n";
    let (status, body) = put_toml(&app, "?reason=try", nested).await;
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].to_string();
    for said in [
        "policy.retries.max_atempts: unknown key; did you mean `max_attempts`?",
        "policy.stages[0].tone: unknown value `angry`",
    ] {
        assert!(errors.contains(said), "{said} missing: {errors}");
    }
    // A holdout must name a stored version; a reason is required.
    let holdout = "[policy.holdout]\nversion = 7\nshare_percent = 10\n";
    let (status, body) = put_toml(&app, "?reason=ab", holdout).await;
    assert_eq!(status, 422);
    assert!(
        body["errors"]
            .to_string()
            .contains("policy.holdout.version"),
        "{body}"
    );
    let (status, body) = put_toml(&app, "", FASTER).await;
    assert_eq!(status, 422);
    assert!(body["errors"].to_string().contains("reason"), "{body}");
    // Nothing was stored by any of them.
    let (_, list) = call(&app, reqwest::Method::GET, "/api/policy/versions", None).await;
    assert_eq!(list["versions"].as_array().unwrap().len(), 1, "{list}");

    // A dry run validates and compares without storing.
    let (status, body) = put_toml(&app, "?dry_run=true", FASTER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"], true);
    let plans = body["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 4);
    assert_ne!(plans[0]["running"], plans[0]["proposed"], "{}", plans[0]);
    // The running policy again: nothing to store.
    let (_, current) = call(&app, reqwest::Method::GET, "/api/policy", None).await;
    let same = current["toml"].as_str().unwrap().to_owned();
    let (status, body) = put_toml(&app, "?reason=same", &same).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stored"], false);
    let (_, list) = call(&app, reqwest::Method::GET, "/api/policy/versions", None).await;
    assert_eq!(list["versions"].as_array().unwrap().len(), 1, "{list}");
}

/// The install id the holdout test draws with.
const HOLDOUT_INSTALL: &str = "holdoutTest1";

async fn the_holdout_opens_its_share_under_the_other_version(backend: Backend) {
    // The holdout draws by install id: a fixed one makes the split, and so
    // the verdict on these few outcomes, the same on every run.
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    store.migrate().await.unwrap();
    store
        .setting_or_insert("install_id", || HOLDOUT_INSTALL.into())
        .await
        .unwrap();
    store.close().await;
    let app = spawn_on(db, &[("admin_token", TOKEN)]).await;
    let holdout = format!("{FASTER}\n[policy.holdout]\nversion = 1\nshare_percent = 30\n");
    let (status, body) = put_toml(&app, "?reason=ab%20test", &holdout).await;
    assert_eq!(status, 201, "{body}");
    let install = app.store.setting("install_id").await.unwrap().unwrap();
    let mut expected = BTreeMap::new();
    // (recovered, ended) per version: the first 20 pay, the next 10 are voided.
    let mut outcomes: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for i in 0..40 {
        let s = scenario(&format!("in_holdout_{i:02}"));
        app.send("invoice.payment_failed", &event(&s, "failed"))
            .await;
        let version = if falls_in(&format!("{install}:v2"), &s.invoice, 30.0) {
            1
        } else {
            2
        };
        *expected.entry(version).or_insert(0) += 1;
        assert_eq!(
            app.case(&s.invoice).await.policy_version,
            Some(version),
            "{}",
            s.invoice
        );
        let o = outcomes.entry(version).or_default();
        if i < 20 {
            app.send("invoice.paid", &event(&s, "paid")).await;
            *o = (o.0 + 1, o.1 + 1);
        } else if i < 30 {
            app.send("invoice.voided", &event(&s, "void")).await;
            o.1 += 1;
        }
    }
    assert!(
        expected[&1] > 0 && expected[&2] > expected[&1],
        "{expected:?}"
    );
    let (_, stats) = call(&app, reqwest::Method::GET, "/api/stats", None).await;
    let c = &stats["policy"]["comparison"];
    assert_eq!(stats["policy"]["running_version"], 2);
    assert_eq!(stats["policy"]["holdout_share_percent"], 30.0);
    assert_eq!(c["kind"], "holdout");
    assert_eq!(c["running"]["cases"], expected[&2]);
    assert_eq!(c["other"]["cases"], expected[&1]);
    assert_eq!(c["other"]["version"], 1);
    // Every case is judged at one age, the later final day and one more:
    // today they are all too young, whatever ended early (the paid ones
    // did, the open ones have not lost yet), so there is no verdict.
    let age = c["age_days"].as_i64().unwrap();
    assert_eq!(age, 22, "{c}");
    for (side, version) in [("running", 2), ("other", 1)] {
        assert_eq!(c[side]["too_young"], expected[&version], "{c}");
        assert_eq!(c[side]["recovery"]["trials"], 0, "{c}");
        let ended = outcomes[&version].1 as i64;
        assert_eq!(c[side]["live"], expected[&version] - ended, "{c}");
    }
    assert_eq!(c["verdict"], "too few cases old enough yet", "{c}");
    // At that age each case counts: recovered within it, or not (voided,
    // and still open both count as not), with Wilson's interval.
    app.advance(chrono::Duration::days(age));
    let (_, stats) = call(&app, reqwest::Method::GET, "/api/stats", None).await;
    let c = &stats["policy"]["comparison"];
    for (side, version) in [("running", 2), ("other", 1)] {
        let recovered = outcomes[&version].0;
        let judged = expected[&version] as u64;
        let rate = dunwell::domain::holdout::wilson(recovered, judged);
        let r = &c[side]["recovery"];
        assert_eq!(c[side]["too_young"], 0, "{c}");
        assert_eq!(r["successes"].as_u64(), Some(recovered), "{c}");
        assert_eq!(r["trials"].as_u64(), Some(judged), "{c}");
        assert!((r["low"].as_f64().unwrap() - rate.low).abs() < 1e-9, "{c}");
    }
    assert!(c["difference_low"].as_f64().unwrap() < 0.0, "{c}");
    assert_eq!(c["verdict"], "no clear difference yet", "{c}");
}

/// A version whose losses come late is not "better" early: its early
/// recoveries ended at once while its losses are still open. Counted among
/// ended cases it would win (4 of 4 against 5 of 10); judged at one age it
/// gets no verdict until its cases are old enough, and then loses.
async fn a_version_whose_losses_come_late_is_not_better_early(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    // Version 1: ten cases that ended, five of them paid.
    for i in 0..10 {
        let s = scenario(&format!("in_early_v1_{i:02}"));
        app.send("invoice.payment_failed", &event(&s, "failed"))
            .await;
        if i < 5 {
            app.send("invoice.paid", &event(&s, "paid")).await;
        } else {
            app.send("invoice.voided", &event(&s, "void")).await;
        }
    }
    app.advance(chrono::Duration::days(1));
    let (status, body) = put_toml(&app, "?reason=faster", FASTER).await;
    assert_eq!(status, 201, "{body}");
    // Version 2: sixteen cases, four paid at once, twelve still open.
    for i in 0..16 {
        let s = scenario(&format!("in_early_v2_{i:02}"));
        app.send("invoice.payment_failed", &event(&s, "failed"))
            .await;
        if i < 4 {
            app.send("invoice.paid", &event(&s, "paid")).await;
        }
    }
    let (_, stats) = call(&app, reqwest::Method::GET, "/api/stats", None).await;
    let c = &stats["policy"]["comparison"];
    assert_eq!(c["kind"], "before_after", "{c}");
    assert_ne!(c["verdict"], "better", "{c}");
    assert_eq!(c["verdict"], "too few cases old enough yet", "{c}");
    assert_eq!(c["running"]["too_young"], 16, "{c}");
    // Old enough: four of sixteen against five of ten.
    app.advance(chrono::Duration::days(c["age_days"].as_i64().unwrap()));
    let (_, stats) = call(&app, reqwest::Method::GET, "/api/stats", None).await;
    let c = &stats["policy"]["comparison"];
    assert_eq!(c["running"]["recovery"]["successes"], 4, "{c}");
    assert_eq!(c["running"]["recovery"]["trials"], 16, "{c}");
    assert_ne!(c["verdict"], "better", "{c}");
    assert!(c["difference"].as_f64().unwrap() < 0.0, "{c}");
}

/// The backtest through the API on closed cases whose figures follow by
/// hand: five expired cards (no retry can help), three paid by a new card
/// within the hour, two voided. Under any policy still open then, the three
/// come back on the new card (one charge each) and the two never do.
async fn the_backtest_plays_the_installs_own_closed_cases(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/policy/backtest",
        Some(("application/toml", FASTER.into())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["own"], Value::Null, "no closed case yet: {body}");
    for i in 0..5 {
        let s = Scenario {
            decline_code: "expired_card".into(),
            card_brand: "visa".into(),
            ..scenario(&format!("in_backtest_{i}"))
        };
        app.send("charge.failed", &event(&s, "charge")).await;
        app.send("invoice.payment_failed", &event(&s, "failed"))
            .await;
        let end = if i < 3 {
            "invoice.paid"
        } else {
            "invoice.voided"
        };
        app.send(end, &event(&s, "end")).await;
    }
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/policy/backtest",
        Some(("application/toml", FASTER.into())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let own = &body["own"];
    assert_eq!(own["cases"], 5, "{body}");
    for side in ["running", "proposed"] {
        let t = &own[side];
        assert_eq!(t["invoices"], 5, "{side}: {t}");
        assert_eq!(t["recovered"], 3, "{side}: {t}");
        assert_eq!(t["attempts"], 3, "{side}: {t}");
        assert_eq!(
            t["revenue"]["usd"]["recovered_minor"],
            3 * 4900,
            "{side}: {t}"
        );
        assert_eq!(t["revenue"]["usd"]["total_minor"], 5 * 4900, "{side}: {t}");
        assert!(
            t["median_days_to_recover"].as_f64().unwrap() < 0.05,
            "{side}: {t}"
        );
    }
    // What really happened: the same three, paid within the hour.
    assert_eq!(own["actual"]["recovered"], 3, "{own}");
    assert_eq!(own["actual"]["revenue"]["usd"]["recovered_minor"], 3 * 4900);
    let generated = &body["generated"];
    assert_eq!(generated["invoices"], 5000);
    assert_eq!(generated["running"]["invoices"], 5000);
    // One retry instead of eight: fewer attempts on the generated population.
    assert!(
        generated["proposed"]["attempts_per_failure"].as_f64()
            < generated["running"]["attempts_per_failure"].as_f64(),
        "{generated}"
    );
    // A policy that is not valid is refused with its keys, as for PUT.
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/policy/backtest",
        Some((
            "application/toml",
            "[policy.retries]\nwindow_days = 0\n".into(),
        )),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["errors"]
            .to_string()
            .contains("policy.retries.window_days"),
        "{body}"
    );
}

crate::backend_tests!(
    the_backtest_plays_the_installs_own_closed_cases,
    a_case_keeps_its_version_until_moved_once,
    an_invalid_policy_is_refused_with_every_error,
    the_holdout_opens_its_share_under_the_other_version,
    a_version_whose_losses_come_late_is_not_better_early,
);
