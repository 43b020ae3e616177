//! Renewal-day benchmark: `--failures` failed renewals (default 50,000)
//! arrive within `--arrival-secs` (default 120), signed, through the intake
//! of a real `dunwell serve` (SQLite) whose processor is a local Stripe
//! stand-in that allows `--limit` requests a second (default 100, Stripe's
//! live mode) and answers 429 beyond it, counting them.
//!
//! cargo run --release --example renewal_day -- --dunwell target/release/dunwell \
//!     [--failures 50000] [--arrival-secs 120] [--limit 100] [--speed 1000]
//!     [--day-0-only] [--out bench/out]
//!
//! dunwell runs with a live-mode key, so its limiter's default applies
//! (80 requests/s, `DUNWELL_STRIPE_MAX_RPS`). The run has two phases on one
//! database:
//! 1. **Day 0, in real time.** The engine's clock starts at 15:00 UTC, mid
//!    morning for the customers (the stand-in and the cards place them in the
//!    US, New York's clock), so the first emails are not held for the night,
//!    whatever the hour the bench runs at. Each first email reads the customer
//!    from the processor first (their address, for the time zone): 50,000
//!    reads at 80/s is the limit's floor, about 10.4 minutes.
//! 2. **The first retries**, planned hours to days after the failure in each
//!    customer's morning: dunwell is stopped cleanly and started again with
//!    its clock `--speed` times faster (the stored timeline goes on from the
//!    simulated time it had reached), so they fall due during the run.
//!    `--day-0-only` stops after phase 1.
//!
//! Every second the bench samples the database and the stand-in: events
//! accepted, cases opened, first emails out, first retries made (re-read the
//! invoice, then charge), processor calls that second and 429s. It prints
//! when each was complete, the calls each phase took and the floor the limit
//! puts under them (calls / rate), and writes the samples
//! (`renewal_day.csv`) and a plot of the backlogs and the call rate
//! (`renewal_day.svg`) to `--out`.

#[path = "post.rs"]
mod post;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use dunwell::trigger::builder::{self, Scenario};
use futures_util::StreamExt;
use plotters::prelude::*;
use secrecy::SecretString;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

const SECRET: &str = "whsec_bench_renewal_day";
/// What dunwell's limiter allows with a live key when not configured.
const DUNWELL_DEFAULT_RPS: f64 = 80.0;

struct Args {
    dunwell: String,
    failures: u64,
    arrival_secs: f64,
    limit: usize,
    speed: f64,
    out: String,
    timeout_secs: u64,
    day_0_only: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        dunwell: "target/release/dunwell".into(),
        failures: 50_000,
        arrival_secs: 120.0,
        limit: 100,
        speed: 1000.0,
        out: "bench/out".into(),
        timeout_secs: 3600,
        day_0_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--day-0-only" {
            a.day_0_only = true;
            continue;
        }
        let value = it.next().expect("flag value");
        match flag.as_str() {
            "--dunwell" => a.dunwell = value,
            "--failures" => a.failures = value.parse()?,
            "--arrival-secs" => a.arrival_secs = value.parse()?,
            "--limit" => a.limit = value.parse()?,
            "--speed" => a.speed = value.parse()?,
            "--out" => a.out = value,
            "--timeout-secs" => a.timeout_secs = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

/// The stand-in's tally: every call (by kind) and the 429s it answered.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    customers: AtomicU64,
    invoices: AtomicU64,
    pays: AtomicU64,
    other: AtomicU64,
    refused: AtomicU64,
    /// When the calls of the last second came (the limit's window).
    window: Mutex<VecDeque<Instant>>,
}

struct StandIn {
    tally: Tally,
    limit: usize,
}

impl StandIn {
    /// Whether one more call fits in the last second; counts it either way.
    fn admit(&self) -> bool {
        let now = Instant::now();
        let mut window = self.tally.window.lock().expect("window");
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= self.limit {
            self.tally.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        window.push_back(now);
        self.tally.calls.fetch_add(1, Ordering::Relaxed);
        true
    }
}

fn rate_limited() -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header(("Retry-After", "1"))
        .insert_header(("Stripe-Should-Retry", "true"))
        .json(
            json!({"error": {"type": "invalid_request_error", "code": "rate_limit",
            "message": "Too many requests hit the API too quickly."}}),
        )
}

/// Invoice `id` as Stripe shows it, open (`paid` false) or paid.
fn invoice(id: &str, paid: bool) -> serde_json::Value {
    let s = Scenario {
        invoice: id.to_owned(),
        ..Scenario::example("evt_standin", dunwell::clock::unix_secs())
    };
    let kind = if paid {
        "invoice.paid"
    } else {
        "invoice.payment_failed"
    };
    builder::build(kind, &s).expect("a known event type")["data"]["object"].clone()
}

async fn stripe(
    request: HttpRequest,
    state: web::Data<StandIn>,
    path: web::Path<String>,
) -> HttpResponse {
    if !state.admit() {
        return rate_limited();
    }
    let t = &state.tally;
    let parts: Vec<&str> = path.split('/').collect();
    match (request.method().as_str(), parts.as_slice()) {
        ("GET", ["customers", id]) => {
            t.customers.fetch_add(1, Ordering::Relaxed);
            HttpResponse::Ok().json(json!({"id": id, "object": "customer",
                "email": format!("{id}@example.com"), "name": "Bench Customer",
                "address": {"country": "US"}}))
        }
        ("GET", ["invoices", id]) => {
            t.invoices.fetch_add(1, Ordering::Relaxed);
            HttpResponse::Ok().json(invoice(id, false))
        }
        ("POST", ["invoices", id, "pay"]) => {
            t.pays.fetch_add(1, Ordering::Relaxed);
            // One in four first retries takes the money; the rest decline.
            if id.bytes().map(u64::from).sum::<u64>() % 4 == 0 {
                HttpResponse::Ok().json(invoice(id, true))
            } else {
                HttpResponse::PaymentRequired().json(json!({"error": {
                    "type": "card_error", "code": "card_declined",
                    "decline_code": "insufficient_funds", "message": "Your card was declined."}}))
            }
        }
        _ => {
            t.other.fetch_add(1, Ordering::Relaxed);
            HttpResponse::Ok().json(json!({"id": parts.get(1), "status": "active"}))
        }
    }
}

/// One second's sample.
#[derive(Clone, Copy, Default)]
struct Sample {
    secs: f64,
    accepted: u64,
    opened: i64,
    emailed: i64,
    retried: i64,
    calls: u64,
    refused: u64,
    /// Case work due by now (engine clock) and not done: what waits.
    due: i64,
    /// 1: day 0 in real time; 2: the first retries, the clock sped up.
    phase: u8,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    std::fs::create_dir_all(&a.out)?;
    let stand_in = web::Data::new(StandIn {
        tally: Tally::default(),
        limit: a.limit,
    });
    let data = stand_in.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/{path:.*}", web::to(stripe))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let stand_port = server.addrs()[0].port();
    let server = server.run();
    let server_handle = server.handle();
    tokio::spawn(server);

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("dunwell.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dunwell = Dunwell {
        binary: a.dunwell.clone(),
        port,
        database_url: format!("sqlite://{}", db.display()),
        stripe_base: format!("http://127.0.0.1:{stand_port}/"),
        log: std::path::Path::new(&a.out).join("renewal_day.log"),
        client: reqwest::Client::new(),
    };
    // Day 0 starts at 15:00 UTC on the engine's clock, in real time.
    dunwell.migrate().await?;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&db))
        .await?;
    let real = dunwell::clock::unix_millis();
    let day_ms = 86_400_000;
    let start = dunwell::clock::Timeline {
        real_ms: real,
        sim_ms: real - real.rem_euclid(day_ms) + 15 * 3_600_000,
        speed: 1.0,
    };
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
        .bind(dunwell::clock::TIMELINE_KEY)
        .bind(serde_json::to_string(&start)?)
        .execute(&pool)
        .await?;
    let mut child = dunwell.start(1.0).await?;

    println!(
        "renewal day: {} failures in {} s; stand-in allows {}/s; dunwell's limit {DUNWELL_DEFAULT_RPS}/s; day 0 in real time from 15:00 UTC, then the engine clock x{}",
        a.failures, a.arrival_secs, a.limit, a.speed
    );
    let started = Instant::now();
    let accepted = Arc::new(AtomicU64::new(0));
    let sender = tokio::spawn(send_failures(
        dunwell.client.clone(),
        format!("http://127.0.0.1:{port}/webhooks/stripe"),
        a.failures,
        a.arrival_secs,
        accepted.clone(),
    ));
    let n = a.failures as i64;
    let mut sampler = Sampler {
        pool: &pool,
        tally: &stand_in.tally,
        accepted: &accepted,
        started,
        samples: Vec::new(),
        last_calls: 0,
        timeout: Duration::from_secs(a.timeout_secs),
    };
    sampler
        .until(1, |s| s.opened >= n && s.emailed >= n)
        .await?;
    sender.await??;
    let day_0 = stand_in.tally.snapshot();
    if !a.day_0_only {
        println!("day 0 done: restarting dunwell with its clock x{}", a.speed);
        dunwell.stop(&mut child).await?;
        child = dunwell.start(a.speed).await?;
        // Every case plans a first retry; one canceled (the case ended)
        // counts as made.
        sampler.until(2, |s| s.retried >= n).await?;
    }
    dunwell.stop(&mut child).await?;
    server_handle.stop(true).await;
    let samples = sampler.samples;
    summarise(&a, &samples, &day_0, &stand_in.tally.snapshot());
    write_csv(&a, &samples)?;
    plot(&a, &samples)?;
    Ok(())
}

/// How to run the `dunwell` under test.
struct Dunwell {
    binary: String,
    port: u16,
    database_url: String,
    stripe_base: String,
    log: std::path::PathBuf,
    client: reqwest::Client,
}

impl Dunwell {
    fn command(&self, role: &str) -> anyhow::Result<tokio::process::Command> {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg(role)
            .env("DUNWELL_BIND", format!("127.0.0.1:{}", self.port))
            .env("DUNWELL_DATABASE_URL", &self.database_url)
            .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
            .env("DUNWELL_PROCESSOR", "stripe")
            .env("DUNWELL_STRIPE_API_KEY", "sk_live_bench_renewal_day_0000")
            .env("DUNWELL_STRIPE_API_BASE", &self.stripe_base)
            .env("DUNWELL_PUBLIC_URL", "https://billing.example.com")
            .env("DUNWELL_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.log)?,
            )
            .kill_on_drop(true);
        Ok(command)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let status = self.command("migrate")?.status().await?;
        anyhow::ensure!(status.success(), "dunwell migrate failed");
        Ok(())
    }

    /// `dunwell serve` with its clock at `speed`, once it is ready.
    async fn start(&self, speed: f64) -> anyhow::Result<tokio::process::Child> {
        let child = self
            .command("serve")?
            .env("DUNWELL_CLOCK_SPEED", speed.to_string())
            .spawn()?;
        let ready = format!("http://127.0.0.1:{}/readyz", self.port);
        let up = Instant::now();
        while !self
            .client
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            anyhow::ensure!(
                up.elapsed() < Duration::from_secs(30),
                "dunwell did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(child)
    }

    /// SIGTERM, and the clean exit it asks for.
    async fn stop(&self, child: &mut tokio::process::Child) -> anyhow::Result<()> {
        if let Some(pid) = child.id() {
            std::process::Command::new("kill")
                .arg(pid.to_string())
                .status()?;
        }
        anyhow::ensure!(
            child.wait().await?.success(),
            "dunwell did not stop cleanly"
        );
        Ok(())
    }
}

/// Samples the database and the stand-in every second.
struct Sampler<'a> {
    pool: &'a sqlx::SqlitePool,
    tally: &'a Tally,
    accepted: &'a AtomicU64,
    started: Instant,
    samples: Vec<Sample>,
    last_calls: u64,
    timeout: Duration,
}

impl Sampler<'_> {
    /// Samples phase `phase` until `done` says so of a sample, or the run's
    /// time limit.
    async fn until(&mut self, phase: u8, done: impl Fn(&Sample) -> bool) -> anyhow::Result<()> {
        // The engine's clock (as this start of dunwell stored it), to tell
        // work due from work planned for later.
        let timeline: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(dunwell::clock::TIMELINE_KEY)
            .fetch_one(self.pool)
            .await?;
        let timeline: dunwell::clock::Timeline = serde_json::from_str(&timeline)?;
        let engine_now = || {
            let real = dunwell::clock::unix_millis();
            timeline.sim_ms + ((real - timeline.real_ms) as f64 * timeline.speed) as i64
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let counts: (i64, i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT COALESCE(SUM(cases), 0) FROM case_counts), \
                 (SELECT COUNT(*) FROM case_work WHERE work_key = 'email:payment_failed:0' AND status <> 'pending'), \
                 (SELECT COUNT(*) FROM case_work WHERE work_key = 'retry:1' AND status <> 'pending'), \
                 (SELECT COUNT(*) FROM case_work WHERE status = 'pending' AND due_at <= $1)",
            )
            .bind(engine_now())
            .fetch_one(self.pool)
            .await?;
            let calls = self.tally.calls.load(Ordering::Relaxed);
            let sample = Sample {
                secs: self.started.elapsed().as_secs_f64(),
                accepted: self.accepted.load(Ordering::Relaxed),
                opened: counts.0,
                emailed: counts.1,
                retried: counts.2,
                calls: calls - self.last_calls,
                refused: self.tally.refused.load(Ordering::Relaxed),
                due: counts.3,
                phase,
            };
            self.last_calls = calls;
            self.samples.push(sample);
            if done(&sample) {
                return Ok(());
            }
            if self.started.elapsed() > self.timeout {
                println!("timed out after {} s", self.timeout.as_secs());
                return Ok(());
            }
            if self.samples.len().is_multiple_of(30) {
                println!(
                    "  {:>5.0} s: accepted {} opened {} emailed {} first retries {} ({} calls/s, {} refused)",
                    sample.secs,
                    sample.accepted,
                    sample.opened,
                    sample.emailed,
                    sample.retried,
                    sample.calls,
                    sample.refused
                );
            }
        }
    }
}

/// Posts the failures at an even pace over `secs`, 32 at a time at most.
async fn send_failures(
    client: reqwest::Client,
    endpoint: String,
    failures: u64,
    secs: f64,
    accepted: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let secret = SecretString::from(SECRET);
    let started = tokio::time::Instant::now();
    let every = Duration::from_secs_f64(secs / failures as f64);
    let mut posts = futures_util::stream::iter(0..failures)
        .map(|i| {
            let (client, endpoint, secret) = (client.clone(), endpoint.clone(), secret.clone());
            let accepted = accepted.clone();
            async move {
                tokio::time::sleep_until(started + every * i as u32).await;
                let now = dunwell::clock::unix_secs();
                let s = Scenario {
                    invoice: format!("in_renewal{i:07}"),
                    customer: format!("cus_renewal{i:07}"),
                    subscription: format!("sub_renewal{i:07}"),
                    customer_email: format!("customer{i:07}@example.com"),
                    ..Scenario::example(&format!("evt_renewal{i:07}"), now)
                };
                post::failure(&client, &endpoint, &secret, &s).await?;
                accepted.fetch_add(1, Ordering::Relaxed);
                anyhow::Ok(())
            }
        })
        .buffered(32);
    while let Some(result) = posts.next().await {
        result?;
    }
    Ok(())
}

/// When each stage was complete, the calls of each phase, and the floor
/// the limit puts under them.
fn summarise(a: &Args, samples: &[Sample], day_0: &Calls, all: &Calls) {
    let n = a.failures as i64;
    let done_at = |f: &dyn Fn(&Sample) -> bool| samples.iter().find(|s| f(s)).map(|s| s.secs);
    let show = |at: Option<f64>| {
        at.map_or("not within the run".to_owned(), |secs| {
            format!("{secs:.0} s ({:.1} min)", secs / 60.0)
        })
    };
    let rate = DUNWELL_DEFAULT_RPS;
    println!(
        "every failure accepted:   {}",
        show(done_at(&|s| s.accepted as i64 >= n))
    );
    println!(
        "every case opened:        {}",
        show(done_at(&|s| s.opened >= n))
    );
    let emailed = done_at(&|s| s.emailed >= n);
    println!("every first email out:    {}", show(emailed));
    println!(
        "every first retry made:   {}",
        show(done_at(&|s| s.retried >= n))
    );
    println!("429s: {}", all.refused);

    // Day 0: the first emails, one customer read each, in real time.
    let first_call = samples
        .iter()
        .position(|s| s.calls > 0)
        .map_or(0.0, |i| samples[i].secs - 1.0);
    println!("day 0 (real time): {}", day_0.describe());
    if let Some(done) = emailed {
        let took = done - first_call;
        let floor = n as f64 / rate;
        println!(
            "  first emails: floor {floor:.0} s ({n} customer reads at {rate}/s); {took:.0} s from the first call: {:.2} of the floor",
            floor / took.max(1.0)
        );
        let floor = day_0.calls as f64 / rate;
        println!(
            "  all day-0 calls: floor {floor:.0} s for {} at {rate}/s: {:.2} of the floor",
            day_0.calls,
            floor / took.max(1.0)
        );
    }
    let phase = |p: u8| samples.iter().filter(move |s| s.phase == p);
    println!(
        "  busiest second: {} calls",
        phase(1).map(|s| s.calls).max().unwrap_or(0)
    );

    // The first retries, the clock sped up.
    let retries = all.minus(day_0);
    if retries.calls == 0 {
        return;
    }
    println!(
        "first retries (engine clock x{}): {}",
        a.speed,
        retries.describe()
    );
    // From the first call on: before it, nothing had fallen due yet (the
    // schedule, not the limit, held the retries back).
    let started = phase(2).find(|s| s.calls > 0).map_or(0.0, |s| s.secs - 1.0);
    let ended = phase(2).next_back().map_or(0.0, |s| s.secs);
    let floor = retries.calls as f64 / rate;
    println!(
        "  floor {floor:.0} s for {} calls at {rate}/s; took {:.0} s from the first call: {:.2} of the floor",
        retries.calls,
        ended - started,
        floor / (ended - started).max(1.0)
    );
    // While due work waited (the limit, not the schedule, held it back):
    // how close the calls came to the limit.
    let in_2: Vec<&Sample> = phase(2).collect();
    let busy: Vec<&Sample> = in_2
        .windows(2)
        .filter(|w| w[0].due > 0 && w[1].due > 0)
        .map(|w| w[1])
        .collect();
    let busy_calls: u64 = busy.iter().map(|s| s.calls).sum();
    println!(
        "  seconds with due work waiting: {}; calls in them: {busy_calls}, {:.1}/s: {:.2} of the limit; busiest second: {} calls",
        busy.len(),
        busy_calls as f64 / busy.len().max(1) as f64,
        busy_calls as f64 / (busy.len().max(1) as f64 * rate),
        in_2.iter().map(|s| s.calls).max().unwrap_or(0)
    );
}

/// The stand-in's counts at one moment.
#[derive(Debug, Clone, Copy)]
struct Calls {
    calls: u64,
    customers: u64,
    invoices: u64,
    pays: u64,
    other: u64,
    refused: u64,
}

impl Tally {
    fn snapshot(&self) -> Calls {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Calls {
            calls: load(&self.calls),
            customers: load(&self.customers),
            invoices: load(&self.invoices),
            pays: load(&self.pays),
            other: load(&self.other),
            refused: load(&self.refused),
        }
    }
}

impl Calls {
    fn minus(&self, earlier: &Calls) -> Calls {
        Calls {
            calls: self.calls - earlier.calls,
            customers: self.customers - earlier.customers,
            invoices: self.invoices - earlier.invoices,
            pays: self.pays - earlier.pays,
            other: self.other - earlier.other,
            refused: self.refused - earlier.refused,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} calls (customer reads {}, invoice reads {}, charges {}, other {}), {} answered 429",
            self.calls, self.customers, self.invoices, self.pays, self.other, self.refused
        )
    }
}

fn write_csv(a: &Args, samples: &[Sample]) -> anyhow::Result<()> {
    let mut csv = String::from(
        "secs,phase,accepted,opened,first_emails,first_retries,calls,refused_total,due_work\n",
    );
    for s in samples {
        csv.push_str(&format!(
            "{:.1},{},{},{},{},{},{},{},{}\n",
            s.secs, s.phase, s.accepted, s.opened, s.emailed, s.retried, s.calls, s.refused, s.due
        ));
    }
    let path = std::path::Path::new(&a.out).join("renewal_day.csv");
    std::fs::write(&path, csv)?;
    println!("samples: {}", path.display());
    Ok(())
}

/// A plotted line: its name, colour and value in a sample.
type Series = (&'static str, RGBColor, fn(&Sample) -> i64);

/// Two panels: what waits (accepted but not opened, opened without its
/// first email, opened without its first retry) and the calls per second
/// against the limits.
fn plot(a: &Args, samples: &[Sample]) -> anyhow::Result<()> {
    let path = std::path::Path::new(&a.out).join("renewal_day.svg");
    let root = SVGBackend::new(&path, (1000, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(440);
    let end = samples.last().map_or(1.0, |s| s.secs);
    let most = samples
        .iter()
        .map(|s| (s.accepted as i64 - s.retried.min(s.accepted as i64)).max(s.due))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "Renewal day: {} failures in {} s, day 0 in real time — what waits",
                a.failures, a.arrival_secs
            ),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end, 0i64..most + most / 10)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first failure")
        .y_desc("cases waiting")
        .draw()?;
    let series: [Series; 4] = [
        ("accepted, case not opened", RGBColor(120, 120, 120), |s| {
            s.accepted as i64 - s.opened
        }),
        ("opened, first email not out", RGBColor(31, 119, 180), |s| {
            s.opened - s.emailed
        }),
        ("opened, first retry not made", RGBColor(214, 39, 40), |s| {
            s.opened - s.retried
        }),
        ("work due and not done", RGBColor(148, 103, 189), |s| s.due),
    ];
    for (name, color, value) in series {
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.secs, value(s).max(0))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    // Where day 0 (real time) ends and the sped-up clock begins.
    if let Some(restart) = samples.iter().find(|s| s.phase == 2) {
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(LineSeries::new(
                [(restart.secs, 0), (restart.secs, most + most / 10)],
                grey.stroke_width(1),
            ))?
            .label(format!("restart: engine clock x{}", a.speed))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;

    let peak = samples
        .iter()
        .map(|s| s.calls)
        .max()
        .unwrap_or(1)
        .max(a.limit as u64);
    let mut calls = ChartBuilder::on(&bottom)
        .caption("Processor calls per second", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end, 0u64..peak + peak / 5)?;
    calls
        .configure_mesh()
        .x_desc("seconds since the first failure")
        .y_desc("calls/s")
        .draw()?;
    calls
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (s.secs, s.calls)),
            RGBColor(44, 160, 44).stroke_width(2),
        ))?
        .label("calls that second")
        .legend(|(x, y)| {
            PathElement::new(
                vec![(x, y), (x + 18, y)],
                RGBColor(44, 160, 44).stroke_width(2),
            )
        });
    for (limit, name, color) in [
        (
            DUNWELL_DEFAULT_RPS as u64,
            "dunwell's limit",
            RGBColor(31, 119, 180),
        ),
        (
            a.limit as u64,
            "the processor's (429 above)",
            RGBColor(214, 39, 40),
        ),
    ] {
        calls
            .draw_series(LineSeries::new(
                [(0.0, limit), (end, limit)],
                color.stroke_width(1),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    calls
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    println!("plot: {}", path.display());
    Ok(())
}
