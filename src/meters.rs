//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and
//! its Prometheus exporter. Counters and histograms are recorded where
//! things happen (intake, jobs, the processor client, every HTTP request);
//! what the database knows (cases by state, money per currency, queue
//! backlogs) is read when scraped, with the same statistics code as
//! `/api/stats`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::case::CaseState;
use crate::domain::stats::report;
use crate::store::Store;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Seconds: from 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.install_recorder())
            .unwrap_or_else(|e| {
                // Another recorder is installed (an embedding program):
                // ours still renders, just without the facade's events.
                tracing::warn!(error = %e, "metrics: recorder not installed");
                PrometheusBuilder::new().build_recorder().handle()
            });
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(
        "dunwell_webhooks_received_total",
        "Webhook requests received."
    );
    describe_counter!(
        "dunwell_webhooks_refused_total",
        "Webhook requests refused, by reason (nothing of them is stored)."
    );
    describe_counter!(
        "dunwell_events_total",
        "Events accepted and stored, by type (duplicates counted as duplicate=true)."
    );
    describe_counter!(
        "dunwell_charge_attempts_total",
        "Charge attempts (retries) by outcome and decline category."
    );
    describe_counter!("dunwell_emails_total", "Emails by kind and result.");
    describe_counter!(
        "dunwell_outgoing_events_total",
        "Deliveries of events to DUNWELL_NOTIFY_URL by type and result."
    );
    describe_histogram!(
        "dunwell_processor_request_duration_seconds",
        "Processor API calls by operation and outcome."
    );
    describe_histogram!(
        "dunwell_http_request_duration_seconds",
        "HTTP requests by method, route and status."
    );
    describe_gauge!("dunwell_cases", "Opened cases by state.");
    describe_gauge!(
        "dunwell_policy_version",
        "The policy version that runs for new cases (the newest stored)."
    );
    describe_gauge!(
        "dunwell_failed_amount",
        "Failed invoices' amount by currency (major units, all time)."
    );
    describe_gauge!(
        "dunwell_recovered_amount",
        "Recovered amount by currency (what the paying charges took, major units, all time)."
    );
    describe_gauge!(
        "dunwell_lost_amount",
        "Amount of cases ended unpaid, by currency."
    );
    describe_gauge!("dunwell_open_amount", "Amount of live cases, by currency.");
    describe_gauge!(
        "dunwell_recovery_rate",
        "Recovered share of failed invoices by currency, by count or by revenue."
    );
    describe_gauge!(
        "dunwell_queue_depth",
        "Items due and not done yet, per queue."
    );
    describe_gauge!(
        "dunwell_queue_lag_seconds",
        "How late the oldest due item of each queue is."
    );
}

pub fn webhook_received() {
    counter!("dunwell_webhooks_received_total").increment(1);
}

pub fn webhook_refused(reason: &'static str) {
    counter!("dunwell_webhooks_refused_total", "reason" => reason).increment(1);
}

pub fn event_accepted(event_type: &str, duplicate: bool) {
    counter!(
        "dunwell_events_total",
        "type" => event_type.to_owned(),
        "duplicate" => if duplicate { "true" } else { "false" }
    )
    .increment(1);
}

/// `outcome`: succeeded, declined, error; `category` of a decline.
pub fn charge_attempt(outcome: &'static str, category: &'static str) {
    counter!("dunwell_charge_attempts_total", "outcome" => outcome, "category" => category)
        .increment(1);
}

pub fn email(kind: &str, result: &str) {
    counter!("dunwell_emails_total", "kind" => kind.to_owned(), "result" => result.to_owned())
        .increment(1);
}

/// `result`: delivered, retry, given_up.
pub fn outgoing(kind: &str, result: &'static str) {
    counter!("dunwell_outgoing_events_total", "type" => kind.to_owned(), "result" => result)
        .increment(1);
}

pub fn processor_call(operation: String, outcome: &'static str, took: Duration) {
    histogram!(
        "dunwell_processor_request_duration_seconds",
        "operation" => operation,
        "outcome" => outcome
    )
    .record(took.as_secs_f64());
}

/// `route` is the matched pattern (`/billing/update/{token}`), never the
/// path itself: tokens stay out of the metrics and the series stay few.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    histogram!(
        "dunwell_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .record(took.as_secs_f64());
}

/// Reads what the database knows into the gauges.
async fn refresh(store: &Store, engine_now_ms: i64, real_now_ms: i64) -> anyhow::Result<()> {
    let counts = store.cases_by_state().await?;
    // Every state, so one that empties reads 0 rather than its last count.
    for state in CaseState::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map_or(0, |(_, n)| *n);
        gauge!("dunwell_cases", "state" => state.as_str()).set(n as f64);
    }
    let (groups, times) = store.recovery_counts(i64::MIN, i64::MAX).await?;
    for r in report(&groups, &times) {
        let money = |m: &crate::domain::stats::Amount| m.amount.parse::<f64>().unwrap_or(0.0);
        let c = r.currency.clone();
        gauge!("dunwell_failed_amount", "currency" => c.clone()).set(money(&r.failed));
        gauge!("dunwell_recovered_amount", "currency" => c.clone()).set(money(&r.recovered));
        gauge!("dunwell_lost_amount", "currency" => c.clone()).set(money(&r.lost));
        gauge!("dunwell_open_amount", "currency" => c.clone()).set(money(&r.open));
        for (by, rate) in [
            ("count", r.recovery_rate_by_count),
            ("revenue", r.recovery_rate_by_revenue),
        ] {
            if let Some(rate) = rate {
                gauge!("dunwell_recovery_rate", "currency" => c.clone(), "by" => by).set(rate);
            }
        }
    }
    gauge!("dunwell_policy_version").set(store.newest_policy_version().await? as f64);
    for b in store.backlogs(engine_now_ms, real_now_ms).await? {
        gauge!("dunwell_queue_depth", "queue" => b.queue).set(b.depth as f64);
        gauge!("dunwell_queue_lag_seconds", "queue" => b.queue).set(b.lag_ms as f64 / 1000.0);
    }
    Ok(())
}

/// The exposition text: the database's figures read now, then everything.
pub async fn render(store: &Store, engine_now_ms: i64, real_now_ms: i64) -> String {
    // The gauges are the process's: one scrape reads and renders them at a
    // time, so what it renders is what it read (tests run several apps,
    // each with its own database, in one process).
    static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = SCRAPE.lock().await;
    let handle = handle();
    if let Err(e) = refresh(store, engine_now_ms, real_now_ms).await {
        tracing::warn!(error = %format!("{e:#}"), "metrics: reading the database failed");
    }
    handle.run_upkeep();
    handle.render()
}
