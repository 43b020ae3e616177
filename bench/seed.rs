//! Million-case benchmark, part one: seeds a database with `--cases` cases
//! (default 1,000,000), each with its planned work, timeline, emails and
//! customer, as a month of real recovery leaves them.
//!
//! cargo run --release --example seed -- --database PATH [--cases N] [--templates T]
//!
//! 1. Template cases go through the real product: `T` signed
//!    `invoice.payment_failed` events (a spread of decline codes, currencies
//!    and simulated-processor outcomes) posted to the intake over 30 engine
//!    days, a day's share each day, and the job runner's work done day by
//!    day against the simulated processor. What is left is a month's mix:
//!    recovered on the first or a later retry, waiting for a new card,
//!    canceled after the last stage, and live cases with work still planned.
//! 2. The templates are copied (SQL, one statement per table) until there
//!    are `N` cases: each copy gets its own case, invoice, customer,
//!    subscription and email, and its times moved back by up to a day (not
//!    the due times of its planned work), so what the lookups and the
//!    statistics' hourly counts index differs from copy to copy.
//!
//! The webhook log is not copied (it is the intake's history, not a case's),
//! and the copies' emails keep only the first 200 characters of their
//! bodies (the full ones would take ~15 GB a million cases): the bytes the
//! bodies as sent take per case are printed from the templates. `bench/million.sh`
//! runs this and then `million` (the measurements) against `dunwell serve`.

#[path = "post.rs"]
mod post;

use std::time::Instant;

use dunwell::clock::Clock;
use dunwell::config::Config;
use dunwell::startup::{Application, Options, Role};
use dunwell::trigger::builder::Scenario;
use futures_util::StreamExt;
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Row, SqlitePool};

const SECRET: &str = "whsec_bench_seed";
const DAY_MS: i64 = 86_400_000;
const DAYS: i64 = 30;
/// How far copy `k.n` moves its times back, in ms: up to a day, so that
/// openings fill every hour. Planned work keeps its due time (moved back,
/// some would fall due while the bench reads).
const SHIFT: &str = "(k.n * 7919000 % 86400000)";

/// Decline codes and simulated-processor outcomes the templates cycle
/// through (the invoice id's suffix scripts the outcome of each retry).
const MIX: [(&str, &str); 8] = [
    ("insufficient_funds", "_ok"),
    ("insufficient_funds", "_recovers3"),
    ("insufficient_funds", "_insufficient_funds"),
    ("do_not_honor", "_do_not_honor"),
    ("generic_decline", ""),
    ("expired_card", "_expired_card"),
    ("card_velocity_exceeded", "_recovers2"),
    ("processing_error", "_ok"),
];
const CURRENCIES: [(&str, i64); 3] = [("usd", 4900), ("eur", 2900), ("gbp", 9900)];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cases: i64 = 1_000_000;
    let mut templates: i64 = 600;
    let mut path: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().expect("flag value");
        match flag.as_str() {
            "--cases" => cases = value.parse()?,
            "--templates" => templates = value.parse()?,
            "--database" => path = Some(value),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let path = path.ok_or_else(|| anyhow::anyhow!("--database PATH is required"))?;
    anyhow::ensure!(
        !std::path::Path::new(&path).exists(),
        "{path} exists: seed a new file"
    );
    let started = Instant::now();
    play_templates(&path, templates).await?;
    println!(
        "templates: {templates} cases through intake, events and 30 days of jobs in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                // A rollback journal while copying: a WAL would hold every
                // copied page once more until the end (tens of GB).
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Off),
        )
        .await?;
    let t = Instant::now();
    let copies = (cases + templates - 1) / templates;
    // Copy k of template case `id` is case `id + k * stride`.
    let stride: i64 = sqlx::query_scalar("SELECT MAX(id) + 1 FROM cases")
        .fetch_one(&pool)
        .await?;
    copy_templates(&pool, copies, stride).await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&pool)
        .await?;
    println!(
        "copied: {total} cases in {:.1} s ({copies} copies of each template)",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    sqlx::query("ANALYZE").execute(&pool).await?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&pool)
        .await?;
    println!("analyzed in {:.1} s", t.elapsed().as_secs_f64());
    describe(&pool, stride).await?;
    pool.close().await;
    Ok(())
}

/// The template cases, through the real intake, event processor and jobs.
async fn play_templates(path: &str, templates: i64) -> anyhow::Result<()> {
    let url = format!("sqlite://{path}");
    let config = Config::from_pairs([
        ("bind", "127.0.0.1:0"),
        ("database_url", url.as_str()),
        ("webhook_secrets", SECRET),
    ])
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The engine's month starts 30 days ago and ends now, so the seeded
    // database is current for a `dunwell serve` started on it afterwards.
    let real = dunwell::clock::unix_millis();
    let clock = Clock::anchored(1.0, real, real - DAYS * DAY_MS);
    let options = Options {
        clock: Some(clock.clone()),
        job_workers: false,
    };
    let app = Application::build_with(config, Role::Serve, options).await?;
    let port = app.port();
    let engine = app.engine().clone();
    let store = app.store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{port}/webhooks/stripe");
    let secret = SecretString::from(SECRET);
    for day in 0..DAYS {
        let first = templates * day / DAYS;
        let last = templates * (day + 1) / DAYS;
        let now = clock.now_ms() / 1000;
        let mut posts = futures_util::stream::iter(first..last)
            .map(|i| post_failure(&client, &endpoint, &secret, i, now))
            .buffer_unordered(16);
        while let Some(result) = posts.next().await {
            result?;
        }
        while store.count_pending_events().await? > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // The day's work, hour by hour (retries fall in the customer's
        // morning, emails spread out).
        for _ in 0..24 {
            clock.advance(chrono::Duration::hours(1));
            dunwell::jobs::run_due(&engine).await?;
        }
    }
    // Exactly now again, for the next process on this database.
    let behind = dunwell::clock::unix_millis() - clock.now_ms();
    clock.advance(chrono::Duration::milliseconds(behind));
    dunwell::jobs::run_due(&engine).await?;
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// Template `i`'s failure, signed and posted; fails unless answered 200.
async fn post_failure(
    client: &reqwest::Client,
    endpoint: &str,
    secret: &SecretString,
    i: i64,
    now: i64,
) -> anyhow::Result<()> {
    let (code, outcome) = MIX[i as usize % MIX.len()];
    let (currency, minor) = CURRENCIES[i as usize % CURRENCIES.len()];
    let amount = dunwell::domain::money::Money::from_minor(
        minor,
        dunwell::domain::money::Currency::parse(currency).expect("currency"),
    )
    .expect("positive");
    let s = Scenario {
        invoice: format!("in_seed{i:06}{outcome}"),
        customer: format!("cus_seed{i:06}"),
        subscription: format!("sub_seed{i:06}"),
        customer_email: format!("customer{i:06}@example.com"),
        decline_code: code.to_owned(),
        amount,
        ..Scenario::example(&format!("evt_seed{i:06}"), now)
    };
    post::failure(client, endpoint, secret, &s).await
}

/// What copy `k` (1-based) of a template row changes: the columns named
/// here get the expression, every other column is copied as it is.
/// `k.n` is the copy number, `s.stride` the id stride, `{shift}` how far
/// the copy's times move back (under ten minutes).
fn overrides(table: &str) -> Vec<(&'static str, &'static str)> {
    match table {
        "cases" => vec![
            ("id", "t.id + k.n * s.stride"),
            ("invoice_id", "t.invoice_id || '_c' || k.n"),
            ("customer_id", "t.customer_id || '_c' || k.n"),
            ("subscription_id", "t.subscription_id || '_c' || k.n"),
            ("charge_id", "t.charge_id || '_c' || k.n"),
            ("payment_intent_id", "t.payment_intent_id || '_c' || k.n"),
            ("customer_email", "'c' || k.n || '.' || t.customer_email"),
            ("opened_at", "t.opened_at - {shift}"),
            ("updated_at", "t.updated_at - {shift}"),
            ("ended_at", "t.ended_at - {shift}"),
        ],
        "case_work" => vec![
            ("id", "NULL"),
            ("case_id", "t.case_id + k.n * s.stride"),
            ("created_at", "t.created_at - {shift}"),
            ("finished_at", "t.finished_at - {shift}"),
        ],
        "case_timeline" => vec![
            ("id", "NULL"),
            ("case_id", "t.case_id + k.n * s.stride"),
            ("at", "t.at - {shift}"),
        ],
        "outbox" => vec![
            ("id", "NULL"),
            ("case_id", "t.case_id + k.n * s.stride"),
            ("recipient", "'c' || k.n || '.' || t.recipient"),
            // The bodies as sent would take ~15 KB a case (printed from the
            // templates); the copies keep their first lines only.
            ("body_text", "substr(t.body_text, 1, 200)"),
            ("body_html", "substr(t.body_html, 1, 200)"),
            ("created_at", "t.created_at - {shift}"),
            ("sent_at", "t.sent_at - {shift}"),
        ],
        "outgoing_events" => vec![
            ("id", "NULL"),
            ("case_id", "t.case_id + k.n * s.stride"),
            ("event_id", "t.event_id || '_c' || k.n"),
        ],
        "customers" => vec![("customer_id", "t.customer_id || '_c' || k.n")],
        _ => vec![],
    }
}

/// Copies every template table's rows `copies - 1` times.
async fn copy_templates(pool: &SqlitePool, copies: i64, stride: i64) -> anyhow::Result<()> {
    for table in [
        "cases",
        "case_work",
        "case_timeline",
        "outbox",
        "outgoing_events",
        "customers",
    ] {
        let t = Instant::now();
        let columns: Vec<String> = sqlx::query(AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}')"
        )))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
        let changes = overrides(table);
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                changes
                    .iter()
                    .find(|(name, _)| name == c)
                    .map_or(format!("t.{c}"), |(_, e)| e.replace("{shift}", SHIFT))
            })
            .collect();
        let template_rows = if table == "customers" {
            "(SELECT * FROM customers)"
        } else if table == "cases" {
            "(SELECT * FROM cases WHERE id < (SELECT stride FROM s))"
        } else {
            "(SELECT * FROM {table} WHERE case_id < (SELECT stride FROM s))"
        }
        .replace("{table}", table);
        let sql = format!(
            "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < $1), \
             s(stride) AS (SELECT $2) \
             INSERT INTO {table} ({}) SELECT {} FROM k, s, {template_rows} AS t \
             ORDER BY k.n",
            columns.join(", "),
            values.join(", "),
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(copies - 1)
            .bind(stride)
            .execute(pool)
            .await?;
        println!(
            "  {table}: {} rows copied in {:.1} s",
            done.rows_affected(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The seeded database: cases by state, rows per table, size per case.
async fn describe(pool: &SqlitePool, stride: i64) -> anyhow::Result<()> {
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(pool)
        .await?;
    println!("cases by state:");
    for r in sqlx::query("SELECT state, COUNT(*) AS n FROM cases GROUP BY state ORDER BY n DESC")
        .fetch_all(pool)
        .await?
    {
        let state: Option<String> = r.get("state");
        let n: i64 = r.get("n");
        println!("  {:<20} {n:>9}", state.unwrap_or_else(|| "(none)".into()));
    }
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM case_work WHERE status = 'pending'")
            .fetch_one(pool)
            .await?;
    println!("pending work rows: {pending}");
    let (emails, body_bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(length(body_text) + length(body_html)), 0) FROM outbox \
         WHERE case_id < $1",
    )
    .bind(stride)
    .fetch_one(pool)
    .await?;
    let templates: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE id < $1")
        .bind(stride)
        .fetch_one(pool)
        .await?;
    println!(
        "emails as sent (templates): {:.1} per case, {:.0} bytes of bodies each, {:.0} bytes per case",
        emails as f64 / templates as f64,
        body_bytes as f64 / emails.max(1) as f64,
        body_bytes as f64 / templates.max(1) as f64
    );
    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await?;
    let bytes = page * pages;
    println!(
        "database: {:.1} MiB, {:.0} bytes per case",
        bytes as f64 / 1048576.0,
        bytes as f64 / cases as f64
    );
    // Per table (and its indexes), where SQLite was built with dbstat.
    if let Ok(rows) = sqlx::query(
        "SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT 14",
    )
    .fetch_all(pool)
    .await
    {
        for r in rows {
            let name: String = r.get("name");
            let b: i64 = r.get("bytes");
            println!(
                "  {name:<34} {:>9.1} MiB {:>7.0} bytes per case",
                b as f64 / 1048576.0,
                b as f64 / cases as f64
            );
        }
    }
    Ok(())
}
