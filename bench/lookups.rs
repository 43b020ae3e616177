//! Million-case benchmark, part two: how the operator's reads and the
//! due-work lookup answer on a big database (seeded by `seed`), against a
//! running `dunwell serve`.
//!
//! cargo run --release --example lookups -- --url http://127.0.0.1:PORT \
//!     --token ADMIN_TOKEN --database PATH [--requests 200]
//!
//! Every request is timed one at a time (an operator's dashboard, not a
//! load test) after a few unmeasured warm-up requests; p50, p99 and the
//! slowest are printed per read. The due-work lookup and the planner's
//! learning read are timed through the store's own queries on a second
//! connection to the same file.

use std::time::{Duration, Instant};

use dunwell::store::Store;
use serde_json::Value;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mut url, mut token, mut path) = (None, None, None);
    let mut requests: usize = 200;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().expect("flag value");
        match flag.as_str() {
            "--url" => url = Some(value),
            "--token" => token = Some(value),
            "--database" => path = Some(value),
            "--requests" => requests = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let (Some(url), Some(token), Some(path)) = (url, token, path) else {
        anyhow::bail!("--url, --token and --database are required");
    };
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .build();
        let client = client.clone();
        async move {
            let response = client.execute(request?).await?;
            anyhow::ensure!(
                response.status().is_success(),
                "GET {path}: {}",
                response.status()
            );
            anyhow::Ok(response.bytes().await?)
        }
    };

    println!(
        "{:<46} {:>8} {:>8} {:>8}",
        "read", "p50 ms", "p99 ms", "max ms"
    );
    let store = Store::connect(&format!("sqlite://{path}")).await?;
    let real = dunwell::clock::unix_millis();
    let mut timings = Vec::new();
    for _ in 0..requests {
        let t = Instant::now();
        store.due_work(real, real, 100).await?;
        timings.push(t.elapsed());
    }
    report("due-work lookup (100 due now)", &mut timings);
    for _ in 0..requests {
        let t = Instant::now();
        store.next_due(real).await?;
        timings.push(t.elapsed());
    }
    report("next due time", &mut timings);
    // The planner's learning read (every quarter hour, 180 days back).
    let since = real - 180 * 86_400_000;
    for _ in 0..requests.min(20) {
        let t = Instant::now();
        store.retry_history(since).await?;
        timings.push(t.elapsed());
    }
    report("learned retry outcomes (180 days)", &mut timings);

    // Something to look for: one case from the middle of the list.
    let page: Value = serde_json::from_slice(&get("/api/cases?limit=200".into()).await?)?;
    let middle = &page["cases"][100];
    let field = |name: &str| middle[name].as_str().unwrap_or_default().to_owned();
    let (id, email, customer, invoice) = (
        middle["id"].as_i64().unwrap_or(1),
        field("customer_email"),
        field("customer_id"),
        field("invoice_id"),
    );
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(10);
    let reads = [
        ("GET /api/cases (first page of 50)", "/api/cases".to_owned()),
        (
            "GET /api/cases?state=recovered",
            "/api/cases?state=recovered".into(),
        ),
        (
            "GET /api/cases?state=retrying",
            "/api/cases?state=retrying".into(),
        ),
        (
            "GET /api/cases?code=do_not_honor",
            "/api/cases?code=do_not_honor".into(),
        ),
        (
            "GET /api/cases?category=hard",
            "/api/cases?category=hard".into(),
        ),
        (
            "GET /api/cases?email=…",
            format!("/api/cases?email={email}"),
        ),
        (
            "GET /api/cases?customer=…",
            format!("/api/cases?customer={customer}"),
        ),
        (
            "GET /api/cases?invoice=…",
            format!("/api/cases?invoice={invoice}"),
        ),
        (
            "GET /api/cases?opened_from=&opened_to= (1 day)",
            format!(
                "/api/cases?opened_from={day}&opened_to={}",
                day + chrono::Days::new(1)
            ),
        ),
        (
            "GET /api/cases/{id} (timeline, work)",
            format!("/api/cases/{id}"),
        ),
        ("GET /api/stats (last 90 days)", "/api/stats".into()),
        (
            "GET /api/stats?from=&to= (one week)",
            format!("/api/stats?from={day}&to={}", day + chrono::Days::new(7)),
        ),
        ("GET /metrics", "/metrics".into()),
    ];
    for (name, path) in reads {
        for _ in 0..3 {
            get(path.clone()).await?;
        }
        for _ in 0..requests {
            let t = Instant::now();
            get(path.clone()).await?;
            timings.push(t.elapsed());
        }
        report(name, &mut timings);
    }

    // Walking the list: each page after the one before, by its cursor.
    let mut cursor: Option<String> = None;
    for _ in 0..requests {
        let path = match &cursor {
            Some(c) => format!("/api/cases?limit=50&cursor={c}"),
            None => "/api/cases?limit=50".into(),
        };
        let t = Instant::now();
        let page: Value = serde_json::from_slice(&get(path).await?)?;
        timings.push(t.elapsed());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    report("GET /api/cases, pages 1..N by cursor", &mut timings);
    Ok(())
}

/// Prints one read's p50, p99 and slowest, and empties `timings`.
fn report(name: &str, timings: &mut Vec<Duration>) {
    timings.sort();
    let at = |q: f64| {
        let i = ((timings.len() as f64 * q).ceil() as usize).clamp(1, timings.len()) - 1;
        timings[i].as_secs_f64() * 1000.0
    };
    println!(
        "{name:<46} {:>8.2} {:>8.2} {:>8.2}",
        at(0.50),
        at(0.99),
        at(1.0)
    );
    timings.clear();
}
