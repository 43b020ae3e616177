//! `dunwell demo`: a scripted story in a temporary database, on the
//! simulated processor, at a fast clock, whatever today's date: two
//! renewals fail on the same Monday morning; one customer's card pays on
//! the third retry, the other's never does and the subscription is
//! canceled at the end of the schedule. Every step each case takes (its
//! emails, retries and final action, from its timeline) is printed as it
//! happens, in simulated time. Nothing outside the temporary folder is
//! touched, and the operator's configuration file is not read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::config::Config;
use crate::domain::case::CaseState;
use crate::startup::{Application, Role};
use crate::trigger::builder::{self, Scenario};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// How many times faster than real time the story runs.
    #[arg(long, default_value_t = 300_000.0)]
    pub speed: f64,
}

/// Where simulated time starts: a Monday morning, so the story reads the
/// same on any day it is run.
const START: &str = "2026-03-02T09:00:00Z";

/// The longest the story may take in real time.
const PATIENCE: Duration = Duration::from_secs(120);

/// The two customers: one recovers on the third retry, one never pays.
const STORY: [(&str, &str, &str); 2] = [
    (
        "Ada (pays on the third retry)",
        "cus_demo_ada",
        "in_demo_ada_recovers3",
    ),
    (
        "Ben (card keeps declining)",
        "cus_demo_ben",
        "in_demo_ben_insufficient_funds",
    ),
];

pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    if !(args.speed.is_finite() && args.speed >= 1.0) {
        bail!("--speed: 1 or more, got {}", args.speed);
    }
    let dir = std::env::temp_dir().join(format!(
        "dunwell-demo-{}-{}",
        std::process::id(),
        crate::random::base62(8)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let outcome = story(args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn story(args: &DemoArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let secret = format!("whsec_demo{}", crate::random::base62(16));
    let database = format!("sqlite://{}", dir.join("demo.db").display());
    let speed = args.speed.to_string();
    let config = Config::from_pairs([
        ("database_url", database.as_str()),
        ("bind", "127.0.0.1:0"),
        ("webhook_secrets", secret.as_str()),
        ("clock_speed", speed.as_str()),
        ("clock_start", START),
        ("brand.name", "Acme"),
    ])
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "dunwell demo: a temporary database, the simulated processor (no money moves), simulated time from Monday 2 March 2026 at {}x",
        args.speed
    );
    let app = Application::build(config, Role::Serve).await?;
    let port = app.port();
    let store = app.store().clone();
    let clock = app.engine().clock.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));

    let url = format!("http://127.0.0.1:{port}/webhooks/stripe");
    let secret = SecretString::from(secret);
    let client = reqwest::Client::new();
    for (who, customer, invoice) in STORY {
        // The processor's clock is real time (the engine maps it onto its
        // own, simulated one).
        let now = crate::clock::unix_secs();
        let s = Scenario {
            event_id: format!("evt_demo_{}", crate::random::base62(12)),
            customer: customer.into(),
            invoice: invoice.into(),
            subscription: format!("sub_{customer}"),
            customer_name: who.split(' ').next().unwrap_or(who).into(),
            decline_code: "insufficient_funds".into(),
            ..Scenario::example("evt_unused", now)
        };
        // As the processor does: the charge's failure, then the invoice's.
        for kind in ["charge.failed", "invoice.payment_failed"] {
            let s = Scenario {
                event_id: format!("evt_demo_{}", crate::random::base62(12)),
                ..s.clone()
            };
            let event = builder::build(kind, &s)?;
            // Signed now in real time (the intake's tolerance is real).
            let signed_at = crate::clock::unix_secs();
            let (body, header) = crate::trigger::signed(&event, &secret, signed_at);
            let answer = client
                .post(&url)
                .header("content-type", "application/json")
                .header("stripe-signature", header)
                .body(body)
                .send()
                .await
                .with_context(|| format!("posting {kind}"))?;
            if !answer.status().is_success() {
                bail!("the intake refused {kind}: {}", answer.status());
            }
        }
        println!(
            "{}  {who}: the renewal of {invoice} fails (insufficient_funds); the processor's webhooks arrive",
            stamp(clock.now())
        );
    }

    let deadline = Instant::now() + PATIENCE;
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ended: BTreeMap<&str, CaseState> = BTreeMap::new();
    // After both ended, a few simulated days more: the last emails wait for
    // the customer's morning.
    let epilogue = Duration::from_secs_f64((4.0 * 86_400.0 / args.speed).max(0.5));
    let mut all_ended_at: Option<Instant> = None;
    while Instant::now() < deadline && all_ended_at.is_none_or(|at| at.elapsed() < epilogue) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (who, _, invoice) in STORY {
            let Some(case) = store.case_by_invoice(invoice).await? else {
                continue;
            };
            let timeline = store.timeline(case.id).await?;
            let from = *shown.get(invoice).unwrap_or(&0);
            for entry in timeline.iter().skip(from) {
                let at = DateTime::<Utc>::from_timestamp_millis(entry.at).unwrap_or_default();
                println!("{}  {who}: {}", stamp(at), step(&entry.kind, &entry.detail));
            }
            shown.insert(invoice, timeline.len());
            if let Some(state) = case.state.filter(|s| s.is_terminal()) {
                ended.insert(invoice, state);
            }
        }
        if ended.len() == STORY.len() && all_ended_at.is_none() {
            all_ended_at = Some(Instant::now());
        }
    }
    let _ = stop.send(());
    running.await.context("the demo's server")??;
    if ended.len() < STORY.len() {
        bail!("the story did not end within {PATIENCE:?} (try a higher --speed)");
    }
    println!("The end:");
    for (who, _, invoice) in STORY {
        let state = ended.get(invoice).map(|s| s.as_str()).unwrap_or("open");
        println!("  {who}: {state}");
    }
    println!(
        "Try it yourself: `cargo run --release -- serve` with DUNWELL_CLOCK_SPEED, then `dunwell trigger` (README, \"Trying it\")."
    );
    Ok(())
}

/// A simulated instant as the story prints it.
fn stamp(at: DateTime<Utc>) -> String {
    at.format("%a %d %b %H:%M").to_string()
}

/// One timeline entry in a line: what happened and the facts that say
/// most.
fn step(kind: &str, detail: &serde_json::Value) -> String {
    let text = |key: &str| {
        detail.get(key).map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
    };
    match kind {
        "note" => text("text").unwrap_or_default(),
        "canceled" => format!("planned work dropped: {}", text("what").unwrap_or_default()),
        "transition" => format!("the case is now {}", text("to").unwrap_or_default()),
        _ => {
            let facts: Vec<String> = [
                "kind",
                "tone",
                "attempt",
                "outcome",
                "decline_code",
                "action",
                "at",
                "reason",
            ]
            .iter()
            .filter_map(|key| Some(format!("{key}={}", text(key)?)))
            .collect();
            match facts.is_empty() {
                true => kind.replace('_', " "),
                false => format!("{} ({})", kind.replace('_', " "), facts.join(", ")),
            }
        }
    }
}
