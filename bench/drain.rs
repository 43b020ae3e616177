//! Job-drain benchmark: how fast a worker carries out due work against a
//! local processor stand-in (the simulated processor), and how the due-work
//! lookup behaves as open cases pile up.
//!
//! cargo run --release --example drain -- [--cases 5000] [--database-url URL] [--runner]
//!     [--workers N [--latency-ms MS]]
//!
//! Opens `--cases` cases through the real intake and event processor
//! (signed `invoice.payment_failed` events over HTTP), moves the engine's
//! clock four days on so each case has a retry and two emails due, then
//! times draining all of it: one retry (re-read invoice, charge with an
//! idempotency key, decline, plan the next attempt) or one email (render,
//! outbox, or held back by the reminder gap) per job. By default
//! `jobs::run_due` drains (what tests use); `--runner` starts the job
//! runner `serve` runs and times until nothing due is left; `--workers N`
//! starts N `dunwell worker` processes (the release binary beside this
//! example) on the same database instead, with the engine's clock moved for
//! them through the stored simulated timeline, and times from their first
//! job done to the last; with `--latency-ms` their processor is a local
//! Stripe stand-in (`slow_stripe.rs`) that answers after that delay, as the
//! real API does over a network, instead of the instant simulated one. A
//! PostgreSQL URL names a server: each run creates a database of its own
//! there and drops it afterwards.

#[path = "post.rs"]
mod post;
#[path = "slow_stripe.rs"]
mod slow_stripe;

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
    let mut workers: usize = 0;
    let mut latency_ms: Option<u64> = None;
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
            "--workers" => workers = value.parse()?,
            "--latency-ms" => latency_ms = Some(value.parse()?),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let dir = tempfile::tempdir()?;
    let (url, fresh) = match url {
        Some(server) if dunwell::config::is_postgres_url(&server) => {
            let fresh = FreshDatabase::create(&server).await?;
            (fresh.url.clone(), Some(fresh))
        }
        Some(url) => (url, None),
        None => (format!("sqlite://{}/drain.db", dir.path().display()), None),
    };
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
    if workers > 0 {
        // Worker processes read the engine's clock from the database.
        let timeline = dunwell::clock::Timeline {
            real_ms: dunwell::clock::unix_millis(),
            sim_ms: engine.clock.now_ms(),
            speed: 1.0,
        };
        let timeline = serde_json::to_string(&timeline)?;
        store
            .set_setting(dunwell::clock::TIMELINE_KEY, &timeline)
            .await?;
    }
    let commits_before = commits(&store);
    let (t, cpu) = (Instant::now(), cpu_secs());
    let (ran, drained, how) = if workers > 0 {
        let busy = machine_busy_secs();
        let processor = match latency_ms {
            Some(ms) => Some(slow_stripe::start(std::time::Duration::from_millis(ms))?),
            None => None,
        };
        let (ran, took) = drain_with_workers(&engine, &url, workers, processor, dir.path()).await?;
        let busy = machine_busy_secs() - busy;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "  machine CPU from the workers' start to the last job: {busy:.2} core-s ({:.0}% of {cores} cores; {:.0} jobs per core-s)",
            100.0 * busy / (took.as_secs_f64() * cores as f64),
            ran as f64 / busy
        );
        let processor = match latency_ms {
            Some(ms) => format!("a processor answering in {ms} ms"),
            None => "the simulated processor".to_owned(),
        };
        (
            ran,
            took,
            format!("{workers} worker process(es), {processor}"),
        )
    } else if runner {
        let ran = drain_with_runner(&engine).await?;
        (ran, t.elapsed(), "job runner".to_owned())
    } else {
        let ran = dunwell::jobs::run_due(&engine).await?;
        (ran, t.elapsed(), "run_due".to_owned())
    };
    let cpu = cpu_secs() - cpu;
    // This process's group commits (SQLite, when it drained itself).
    let commits = match commits(&store) - commits_before {
        0 => String::new(),
        n => format!(", {n} commits"),
    };
    println!(
        "drained {ran} due jobs in {:.2} s: {:.0} jobs/s ({}, {how}{commits})",
        drained.as_secs_f64(),
        ran as f64 / drained.as_secs_f64(),
        store.backend(),
    );
    if workers == 0 {
        println!(
            "  process CPU while draining: {cpu:.2} s ({:.2} cores busy)",
            cpu / drained.as_secs_f64()
        );
    }
    for (kind, status, result, n) in outcomes(&store).await? {
        println!("  {n:>6} {kind} {status}: {result}");
    }
    let _ = stop.send(());
    server.await??;
    if let Some(fresh) = fresh {
        fresh.drop_it().await?;
    }
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
    let ran = due_now(&engine.store, engine.clock.now_ms()).await?;
    let health = std::sync::Arc::new(dunwell::jobs::supervisor::Health::new("job runner"));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(dunwell::jobs::runner::supervise(
        engine.clone(),
        health,
        shutdown,
    ));
    while due_now(&engine.store, engine.clock.now_ms()).await? > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    runner.await?;
    Ok(ran as usize)
}

/// Due work not done yet (work, notices, outgoing events).
async fn due_now(store: &Store, engine_now_ms: i64) -> anyhow::Result<i64> {
    let backlogs = store
        .backlogs(engine_now_ms, dunwell::clock::unix_millis())
        .await?;
    Ok(backlogs
        .iter()
        .filter(|b| b.queue != "events")
        .map(|b| b.depth)
        .sum())
}

/// Starts `n` `dunwell worker` processes on `url` and waits until no work
/// is due; returns how many pieces were due, and the time from the first
/// one done to the last (the processes' start-up is not timed).
async fn drain_with_workers(
    engine: &dunwell::engine::Engine,
    url: &str,
    n: usize,
    stripe_api_base: Option<String>,
    dir: &std::path::Path,
) -> anyhow::Result<(usize, std::time::Duration)> {
    let exe = std::env::current_exe()?;
    let dunwell = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("dunwell"))
        .filter(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("build the binary first: cargo build --release"))?;
    let due = due_now(&engine.store, engine.clock.now_ms()).await?;
    let mut children = Vec::new();
    for i in 0..n {
        let log = std::fs::File::create(dir.join(format!("worker{i}.log")))?;
        let mut worker = tokio::process::Command::new(&dunwell);
        worker
            .arg("worker")
            .env("DUNWELL_DATABASE_URL", url)
            .env("DUNWELL_BIND", "127.0.0.1:0")
            .env("DUNWELL_WEBHOOK_SECRETS", SECRET);
        if let Some(base) = &stripe_api_base {
            // No rate limit to speak of: the latency is what is measured.
            worker
                .env("DUNWELL_PROCESSOR", "stripe")
                .env("DUNWELL_STRIPE_API_KEY", "sk_live_bench_drain_0000")
                .env("DUNWELL_STRIPE_API_BASE", base)
                .env("DUNWELL_STRIPE_MAX_RPS", "10000");
        }
        children.push(
            worker
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()?,
        );
    }
    let logs = || {
        for i in 0..n {
            let log = std::fs::read_to_string(dir.join(format!("worker{i}.log")));
            eprintln!("--- worker {i} ---\n{}", log.unwrap_or_default());
        }
    };
    let mut first: Option<Instant> = None;
    let started = Instant::now();
    loop {
        let left = due_now(&engine.store, engine.clock.now_ms()).await?;
        if left < due && first.is_none() {
            first = Some(Instant::now());
        }
        if left == 0 {
            break;
        }
        for child in &mut children {
            if let Some(status) = child.try_wait()? {
                logs();
                anyhow::bail!("a worker process ended early ({status})");
            }
        }
        if started.elapsed() > std::time::Duration::from_secs(600) {
            logs();
            anyhow::bail!("{left} pieces of work still due after 10 minutes");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let took = first.map_or_else(Default::default, |t| t.elapsed());
    for child in &children {
        if let Some(pid) = child.id() {
            // SIGTERM: a clean stop.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
    for mut child in children {
        if !child.wait().await?.success() {
            logs();
            anyhow::bail!("a worker process failed");
        }
    }
    Ok((due as usize, took))
}

/// A database of this run's own on a PostgreSQL server, dropped at the end.
struct FreshDatabase {
    server: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    async fn create(server: &str) -> anyhow::Result<Self> {
        use sqlx::Connection;
        let name = format!("dunwell_drain_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(server).await?;
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await?;
        }
        let mut url = url::Url::parse(server)?;
        url.set_path(&name);
        Ok(Self {
            server: server.to_owned(),
            url: url.to_string(),
            name,
        })
    }

    async fn drop_it(self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.server).await?;
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

/// CPU time the whole machine spent busy so far (all processes, every
/// core), from /proc/stat: what worker processes and the database share.
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle
    // and iowait.
    let busy: f64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .take(6)
        .map(|(_, t)| t)
        .sum();
    busy / 100.0
}
