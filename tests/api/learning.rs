//! The planner learns from this install's own retry outcomes: `dunwell
//! plan` and `POST /api/plan` read them from the database and say when a
//! slot moved because of them, and from how many outcomes.

use serde_json::{Value, json};

use crate::cli::{dunwell, text};
use crate::helpers::*;
use crate::stand_in::*;

const TOKEN: &str = "operator-token-0123456789";

async fn execute(url: &str, statements: &[String]) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }
}

/// 20 weeks of finished funds retries in New York: Wednesday mornings
/// paid half the time, Friday mornings one time in ten.
fn history(case_id: i64) -> Vec<String> {
    let mut sql = vec![format!(
        "UPDATE cases SET timezone = 'America/New_York', decline_category = 'funds', \
         decline_code = 'insufficient_funds' WHERE id = {case_id}"
    )];
    // Wednesdays 14:30 UTC (09:30 or 10:30 in New York) from 22 weeks
    // before the engine's pinned start: inside the 180 days the planner
    // learns from.
    use chrono::{Datelike, Duration};
    let start = crate::helpers::pinned().date_naive() - Duration::weeks(22);
    let wednesday = start - Duration::days(i64::from(start.weekday().num_days_from_monday()) - 2);
    let first = wednesday
        .and_hms_opt(14, 30, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let mut n = 0;
    for week in 0..20i64 {
        for (day, paid_of_10) in [(0i64, 5), (2, 1)] {
            for i in 0..10 {
                n += 1;
                let due = first + (week * 7 + day) * 86_400_000;
                let result = if i < paid_of_10 {
                    "'paid'"
                } else {
                    "'declined'"
                };
                sql.push(format!(
                    "INSERT INTO case_work (case_id, kind, work_key, due_at, status, detail, created_at, finished_at, result) \
                     VALUES ({case_id}, 'retry', 'learned-{n}', {due}, 'done', '{{}}', {due}, {due}, {result})"
                ));
            }
        }
    }
    sql
}

async fn plans_say_what_they_learned_from_past_outcomes(backend: Backend) {
    let s = scenario("in_learned");
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.wait_processed().await;
    let case = app.case(&s.invoice).await;
    execute(&app.db.url, &history(case.id.get())).await;

    // The CLI, on the same database.
    let out = dunwell()
        .args([
            "plan",
            "--decline-code",
            "insufficient_funds",
            "--country",
            "US",
            "--failed-at",
            "2026-03-02T15:00:00Z",
            "--json",
        ])
        .env("DUNWELL_DATABASE_URL", &app.db.url)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["learned_outcomes"], 400, "{plan}");
    let first_retry = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"] == "retry")
        .unwrap();
    // Wednesday 4 March instead of the payday Friday 6 March.
    assert!(
        first_retry["local"]
            .as_str()
            .unwrap()
            .starts_with("2026-03-04"),
        "{first_retry}"
    );
    let reason = first_retry["reason"].as_str().unwrap();
    assert!(
        reason.contains("learned from") && reason.contains("past retries"),
        "{reason}"
    );

    // The operator API, once the running process has refreshed (at start).
    let db = app.shutdown().await;
    let app = spawn_on(db, &[("admin_token", TOKEN)]).await;
    let mut answer = Value::Null;
    for _ in 0..50 {
        answer = reqwest::Client::new()
            .post(format!("{}/api/plan", app.address))
            .bearer_auth(TOKEN)
            .json(
                &json!({"decline_code": "insufficient_funds", "country": "US",
                          "failed_at": "2026-03-02T15:00:00Z"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if answer["learned_outcomes"] == 400 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answer["learned_outcomes"], 400, "{answer}");
    assert_eq!(answer["steps"], plan["steps"]);
    app.shutdown().await;
}

crate::backend_tests!(plans_say_what_they_learned_from_past_outcomes);

/// Ten finished funds retries a day for 42 days in a US case, a quarter of
/// them paid whatever the day: money that comes between paydays.
fn money_any_day(case_id: i64) -> Vec<String> {
    let mut sql = vec![format!(
        "UPDATE cases SET timezone = 'America/New_York', country = 'US', \
         decline_category = 'funds', decline_code = 'insufficient_funds' WHERE id = {case_id}"
    )];
    let start = crate::helpers::pinned() - chrono::Duration::days(60);
    let first = start.timestamp_millis();
    for day in 0..42i64 {
        for i in 0..10i64 {
            let due = first + day * 86_400_000 + i * 60_000;
            let result = if i < 2 + day % 2 {
                "'paid'"
            } else {
                "'declined'"
            };
            sql.push(format!(
                "INSERT INTO case_work (case_id, kind, work_key, due_at, status, detail, created_at, finished_at, result) \
                 VALUES ({case_id}, 'retry', 'anyday-{day}-{i}', {due}, 'done', '{{}}', {due}, {due}, {result})"
            ));
        }
    }
    sql
}

async fn plans_say_what_the_days_between_tries_taught(backend: Backend) {
    let s = scenario("in_anyday");
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    app.send("invoice.payment_failed", &event(&s, "failed"))
        .await;
    app.wait_processed().await;
    let case = app.case(&s.invoice).await;
    let db_url = app.db.url.clone();
    // Without the database, from an empty directory: no install's history.
    let empty = tempfile::tempdir().unwrap();
    let plan = |with_history: bool| {
        let db_url = db_url.clone();
        let empty = empty.path().to_owned();
        async move {
            let mut cmd = dunwell();
            cmd.current_dir(empty).args([
                "plan",
                "--decline-code",
                "insufficient_funds",
                "--country",
                "US",
                "--failed-at",
                "2026-03-02T15:00:00Z",
                "--json",
            ]);
            if with_history {
                cmd.env("DUNWELL_DATABASE_URL", &db_url);
            }
            let out = cmd.output().await.unwrap();
            let (stdout, stderr) = text(&out);
            assert!(out.status.success(), "{stderr}");
            serde_json::from_str::<Value>(&stdout).unwrap()
        }
    };
    let retries = |plan: &Value| {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "retry")
            .cloned()
            .collect::<Vec<_>>()
    };
    let before = plan(false).await;
    execute(&app.db.url, &money_any_day(case.id.get())).await;
    let after = plan(true).await;
    assert_eq!(after["learned_outcomes"], 420, "{after}");
    // Retries between paydays paid about a quarter of the time: more
    // tries, said with the figure and how many outcomes it rests on.
    let (was, now) = (retries(&before), retries(&after));
    assert!(now.len() > was.len(), "{} then {}", was.len(), now.len());
    let reasons: Vec<&str> = now.iter().map(|s| s["reason"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().any(
            |r| r.contains("when no payday had passed since the try before paid")
                && r.contains("money comes between paydays here")
        ),
        "{reasons:#?}"
    );
    app.shutdown().await;
}

crate::backend_tests!(plans_say_what_the_days_between_tries_taught);
