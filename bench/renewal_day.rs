//! Renewal-day benchmark: `--failures` failed renewals (default 50,000)
//! arrive within `--arrival-secs` (default 120), signed, through the intake
//! of a real `dunwell serve` (SQLite) whose processor is a local Stripe
//! stand-in that allows `--limit` requests a second (default 100, Stripe's
//! live mode) and answers 429 beyond it, counting them.
//!
//! cargo run --release --example renewal_day -- --dunwell target/release/dunwell \
//!     [--failures 50000] [--arrival-secs 120] [--limit 100] [--speed 1000] [--out bench/out]
//!
//! dunwell runs with a live-mode key, so its limiter's default applies
//! (80 requests/s, `DUNWELL_STRIPE_MAX_RPS`), and with its engine clock
//! `--speed` times faster than real time so that the first retries (planned
//! hours to days after the failure, in each customer's morning) fall due
//! during the run. Every second the bench samples the database and the
//! stand-in: events accepted, cases opened, first emails out (each reads the
//! customer from the processor first, for their time zone), first retries
//! made (re-read the invoice, then charge), processor calls that second and
//! 429s. It prints when each was complete, the calls it took and the floor
//! the limit puts under them (calls / rate), and writes the samples
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
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
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
    let mut dunwell = tokio::process::Command::new(&a.dunwell)
        .arg("serve")
        .env("DUNWELL_BIND", format!("127.0.0.1:{port}"))
        .env("DUNWELL_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
        .env("DUNWELL_PROCESSOR", "stripe")
        .env("DUNWELL_STRIPE_API_KEY", "sk_live_bench_renewal_day_0000")
        .env(
            "DUNWELL_STRIPE_API_BASE",
            format!("http://127.0.0.1:{stand_port}/"),
        )
        .env("DUNWELL_PUBLIC_URL", "https://billing.example.com")
        .env("DUNWELL_CLOCK_SPEED", a.speed.to_string())
        .env("DUNWELL_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(
            std::path::Path::new(&a.out).join("renewal_day.log"),
        )?)
        .kill_on_drop(true)
        .spawn()?;
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let up = Instant::now();
    while !client
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
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&db).read_only(true))
        .await?;

    println!(
        "renewal day: {} failures in {} s; stand-in allows {}/s; dunwell's limit {DUNWELL_DEFAULT_RPS}/s; engine clock x{}",
        a.failures, a.arrival_secs, a.limit, a.speed
    );
    let started = Instant::now();
    let accepted = Arc::new(AtomicU64::new(0));
    let sender = tokio::spawn(send_failures(
        client.clone(),
        format!("http://127.0.0.1:{port}/webhooks/stripe"),
        a.failures,
        a.arrival_secs,
        accepted.clone(),
    ));

    // The engine's clock, to tell work due from work planned for later.
    let timeline: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'simulated_clock'")
            .fetch_one(&pool)
            .await?;
    let timeline: dunwell::clock::Timeline = serde_json::from_str(&timeline)?;
    let engine_now = move || {
        let real = dunwell::clock::unix_millis();
        timeline.sim_ms + ((real - timeline.real_ms) as f64 * timeline.speed) as i64
    };
    let mut samples: Vec<Sample> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_calls = 0;
    loop {
        tick.tick().await;
        let counts: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COALESCE(SUM(cases), 0) FROM case_counts), \
             (SELECT COUNT(*) FROM case_work WHERE work_key = 'email:payment_failed:0' AND status <> 'pending'), \
             (SELECT COUNT(*) FROM case_work WHERE work_key = 'retry:1' AND status <> 'pending'), \
             (SELECT COUNT(*) FROM case_work WHERE status = 'pending' AND due_at <= $1)",
        )
        .bind(engine_now())
        .fetch_one(&pool)
        .await?;
        let calls = stand_in.tally.calls.load(Ordering::Relaxed);
        let sample = Sample {
            secs: started.elapsed().as_secs_f64(),
            accepted: accepted.load(Ordering::Relaxed),
            opened: counts.0,
            emailed: counts.1,
            retried: counts.2,
            calls: calls - last_calls,
            refused: stand_in.tally.refused.load(Ordering::Relaxed),
            due: counts.3,
        };
        last_calls = calls;
        samples.push(sample);
        let n = a.failures as i64;
        if sample.opened >= n && sample.emailed >= n && sample.retried >= n {
            break;
        }
        // The last first retries may be planned days ahead (a payday):
        // done when nothing has been due or called for a minute after the
        // first emails.
        let idle = samples.iter().rev().take(60);
        if sample.emailed >= n
            && samples.len() > 60
            && idle.clone().all(|s| s.due == 0 && s.calls == 0)
        {
            println!("nothing due for a minute: stopping");
            break;
        }
        if started.elapsed() > Duration::from_secs(a.timeout_secs) {
            println!("timed out after {} s", a.timeout_secs);
            break;
        }
        if samples.len() % 30 == 0 {
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
    sender.await??;
    dunwell.start_kill()?;
    let _ = dunwell.wait().await;
    server_handle.stop(true).await;
    summarise(&a, &samples, &stand_in.tally);
    write_csv(&a, &samples)?;
    plot(&a, &samples)?;
    Ok(())
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

/// When each stage was complete, the calls, and the limit's floor.
fn summarise(a: &Args, samples: &[Sample], tally: &Tally) {
    let n = a.failures as i64;
    let done_at = |f: &dyn Fn(&Sample) -> bool| {
        samples
            .iter()
            .find(|s| f(s))
            .map_or("not within the run".to_owned(), |s| {
                format!("{:.0} s ({:.1} min)", s.secs, s.secs / 60.0)
            })
    };
    println!(
        "every failure accepted:   {}",
        done_at(&|s| s.accepted as i64 >= n)
    );
    println!("every case opened:        {}", done_at(&|s| s.opened >= n));
    println!("every first email out:    {}", done_at(&|s| s.emailed >= n));
    println!("every first retry made:   {}", done_at(&|s| s.retried >= n));
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let calls = load(&tally.calls);
    println!(
        "processor calls: {calls} (customer reads {}, invoice reads {}, charges {}, other {}); 429s: {}",
        load(&tally.customers),
        load(&tally.invoices),
        load(&tally.pays),
        load(&tally.other),
        load(&tally.refused)
    );
    let busiest = samples.iter().map(|s| s.calls).max().unwrap_or(0);
    // The limit's floor for the calls made: the time they take at exactly
    // the limit, against the time from the first call to the last sample.
    let first_call = samples
        .iter()
        .position(|s| s.calls > 0)
        .map_or(0.0, |i| samples[i].secs - 1.0);
    let took = samples.last().map_or(0.0, |s| s.secs) - first_call;
    let floor = calls as f64 / DUNWELL_DEFAULT_RPS;
    println!(
        "busiest second: {busiest} calls; floor for {calls} calls at {DUNWELL_DEFAULT_RPS}/s: {:.0} s ({:.1} min); took {:.0} s from the first call: {:.2} of the floor",
        floor,
        floor / 60.0,
        took,
        floor / took.max(1.0)
    );
    // While due work waited (the limit, not the schedule, held it back):
    // how close the calls came to the limit.
    let busy: Vec<&Sample> = samples
        .windows(2)
        .filter(|w| w[0].due > 0 && w[1].due > 0)
        .map(|w| &w[1])
        .collect();
    let busy_calls: u64 = busy.iter().map(|s| s.calls).sum();
    println!(
        "seconds with due work waiting: {}; calls in them: {busy_calls}, {:.1}/s: {:.2} of the limit",
        busy.len(),
        busy_calls as f64 / busy.len().max(1) as f64,
        busy_calls as f64 / (busy.len().max(1) as f64 * DUNWELL_DEFAULT_RPS)
    );
    let customers = load(&tally.customers) as f64;
    if let Some(s) = samples.iter().find(|s| s.emailed >= n) {
        println!(
            "first emails (one customer read each): floor {:.0} s for {customers} reads at {DUNWELL_DEFAULT_RPS}/s, {:.0} s taken (all calls share the limit)",
            customers / DUNWELL_DEFAULT_RPS,
            s.secs - first_call
        );
    }
}

fn write_csv(a: &Args, samples: &[Sample]) -> anyhow::Result<()> {
    let mut csv = String::from(
        "secs,accepted,opened,first_emails,first_retries,calls,refused_total,due_work\n",
    );
    for s in samples {
        csv.push_str(&format!(
            "{:.1},{},{},{},{},{},{},{}\n",
            s.secs, s.accepted, s.opened, s.emailed, s.retried, s.calls, s.refused, s.due
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
                "Renewal day: {} failures in {} s — what waits",
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
