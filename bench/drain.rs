//! Job-drain benchmark: how fast a worker carries out due work against a
//! local processor stand-in (the simulated processor), and how the due-work
//! lookup behaves as open cases pile up.
//!
//! cargo run --release --example drain -- [--cases 5000] [--database-url URL] [--runner]
//!
//! Opens `--cases` cases through the real intake and event processor
//! (signed `invoice.payment_failed` events over HTTP), moves the engine's
//! clock four days on so each case has a retry and two emails due, then
//! times draining all of it: one retry (re-read invoice, charge with an
//! idempotency key, decline, plan the next attempt) or one email (render,
//! outbox, or held back by the reminder gap) per job. By default
//! `jobs::run_due` drains (what tests use); `--runner` starts the job
//! runner `serve` runs and times until nothing due is left.

#[path = "post.rs"]
mod post;

use std::time::Instant;

use dunwell::clock::Clock;
use dunwell::config::Config;
use dunwell::startup::{Application, Options, Role};
use dunwell::store::Store;
use dunwell::trigger::builder::Scenario;
use secrecy::SecretString;

const SECRET: &str = "whsec_bench_drain";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cases: usize = 5000;
    let mut url: Option<String> = None;
    let mut runner = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--runner" {
            runner = true;
            continue;
        }
        let value = args.next().expect("flag value");
        match flag.as_str() {
            "--cases" => cases = value.parse()?,
            "--database-url" => url = Some(value),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let dir = tempfile::tempdir()?;
    let url = url.unwrap_or_else(|| format!("sqlite://{}/drain.db", dir.path().display()));
    let config = Config::from_pairs([
        ("bind", "127.0.0.1:0"),
        ("database_url", url.as_str()),
        ("webhook_secrets", SECRET),
    ])
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = Options {
        clock: Some(Clock::real()),
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

    let started = Instant::now();
    let client = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{port}/webhooks/stripe");
    let secret = SecretString::from(SECRET);
    let mut posts = futures_util::stream::iter(0..cases)
        .map(|i| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            let secret = secret.clone();
            async move {
                let now = dunwell::clock::unix_secs();
                let s = Scenario {
                    invoice: format!("in_bench{i:07}"),
                    customer: format!("cus_bench{i:07}"),
                    ..Scenario::example(&format!("evt_bench{i:07}"), now)
                };
                post::failure(&client, &endpoint, &secret, &s).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32);
    use futures_util::StreamExt;
    while let Some(result) = posts.next().await {
        result?;
    }
    while store.count_pending_events().await? > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let opened = started.elapsed();
    println!(
        "opened {cases} cases through intake + event processor in {:.2} s ({:.0} cases/s)",
        opened.as_secs_f64(),
        cases as f64 / opened.as_secs_f64()
    );

    // The due-work lookup with every case's future work pending.
    let lookups = 200;
    let t = Instant::now();
    for _ in 0..lookups {
        store
            .due_work(engine.clock.now_ms(), dunwell::clock::unix_millis(), 200)
            .await?;
    }
    println!(
        "due-work lookup with {} pending rows: {:.3} ms each",
        cases * 6,
        t.elapsed().as_secs_f64() * 1000.0 / lookups as f64
    );

    // Four days on, to 15:00 UTC: the customers' afternoon, so the emails
    // go out rather than wait for morning (the figure must not depend on
    // the hour the bench is run at).
    engine.clock.advance(chrono::Duration::days(4));
    let hour = engine.clock.now().timestamp().rem_euclid(86_400);
    engine.clock.advance(chrono::Duration::seconds(
        (15 * 3600 - hour).rem_euclid(86_400),
    ));
    let commits_before = commits(&store);
    let (t, cpu) = (Instant::now(), cpu_secs());
    let ran = if runner {
        drain_with_runner(&engine).await?
    } else {
        dunwell::jobs::run_due(&engine).await?
    };
    let (drained, cpu) = (t.elapsed(), cpu_secs() - cpu);
    println!(
        "drained {ran} due jobs in {:.2} s: {:.0} jobs/s ({}, {}, {} commits)",
        drained.as_secs_f64(),
        ran as f64 / drained.as_secs_f64(),
        store.backend(),
        if runner { "job runner" } else { "run_due" },
        commits(&store) - commits_before
    );
    println!(
        "  process CPU while draining: {cpu:.2} s ({:.2} cores busy)",
        cpu / drained.as_secs_f64()
    );
    for (kind, status, result, n) in outcomes(&store).await? {
        println!("  {n:>6} {kind} {status}: {result}");
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// Group commits of the SQLite store so far (0 on PostgreSQL).
fn commits(store: &Store) -> u64 {
    match store {
        Store::Sqlite(_, side) => side.turn.commits(),
        Store::Postgres(_) => 0,
    }
}

/// What the jobs did, by kind, status and (the start of) their result.
async fn outcomes(store: &Store) -> anyhow::Result<Vec<(String, String, String, i64)>> {
    const SQL: &str = "SELECT kind, status, COALESCE(substr(result, 1, 48), ''), COUNT(*) \
        FROM case_work GROUP BY 1, 2, 3 ORDER BY 4 DESC";
    Ok(match store {
        Store::Sqlite(pool, _) => sqlx::query_as(SQL).fetch_all(pool).await?,
        Store::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
    })
}

/// This process's CPU time so far (user + system), from /proc.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Starts the job runner and waits until no work is due and not done;
/// returns how many pieces were due when it started.
async fn drain_with_runner(engine: &dunwell::engine::Engine) -> anyhow::Result<usize> {
    let due = |engine: &dunwell::engine::Engine| {
        let (store, now) = (engine.store.clone(), engine.clock.now_ms());
        async move {
            let backlogs = store.backlogs(now, dunwell::clock::unix_millis()).await?;
            anyhow::Ok(
                backlogs
                    .iter()
                    .filter(|b| b.queue != "events")
                    .map(|b| b.depth)
                    .sum::<i64>(),
            )
        }
    };
    let ran = due(engine).await?;
    let health = std::sync::Arc::new(dunwell::jobs::supervisor::Health::new("job runner"));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(dunwell::jobs::runner::supervise(
        engine.clone(),
        health,
        shutdown,
    ));
    while due(engine).await? > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    runner.await?;
    Ok(ran as usize)
}
