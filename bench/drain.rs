//! Job-drain benchmark: how fast a worker carries out due work against a
//! local processor stand-in (the simulated processor), and how the due-work
//! lookup behaves as open cases pile up.
//!
//! cargo run --release --example drain -- [--cases 5000] [--database-url URL]
//!
//! Opens `--cases` cases through the real intake and event processor
//! (signed `invoice.payment_failed` events over HTTP), moves the engine's
//! clock four days on so each case has a retry and two emails due, then
//! times `jobs::run_due` draining all of it: one retry (re-read invoice,
//! charge with an idempotency key, decline, plan the next attempt) or one
//! email (render, outbox) per job, each concluded in its own transaction.

#[path = "post.rs"]
mod post;

use std::time::Instant;

use dunwell::clock::Clock;
use dunwell::config::Config;
use dunwell::startup::{Application, Options, Role};
use dunwell::trigger::builder::Scenario;
use secrecy::SecretString;

const SECRET: &str = "whsec_bench_drain";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cases: usize = 5000;
    let mut url: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
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

    engine.clock.advance(chrono::Duration::days(4));
    let t = Instant::now();
    let ran = dunwell::jobs::run_due(&engine).await?;
    let drained = t.elapsed();
    println!(
        "drained {ran} due jobs in {:.2} s: {:.0} jobs/s ({})",
        drained.as_secs_f64(),
        ran as f64 / drained.as_secs_f64(),
        store.backend()
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}
