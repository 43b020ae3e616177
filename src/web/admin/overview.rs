//! `GET /admin`: what was recovered, per currency — the same statistics as
//! `/api/stats` — with the weekly charts, where the money went, and how
//! each decline category fares.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::charts::{self, Row, Week};
use super::{Frame, page};
use crate::domain::stats::{CurrencyReport, report, slots};
use crate::state::AppState;
use crate::store::reports::WeekRow;

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    f: Frame,
    /// What waits for the operator (cases given up, events given up or
    /// parked), only what there is: a banner linking to the Needs
    /// attention page.
    attention: Vec<String>,
    /// No job runner claimed lately: what the operator should know.
    runner_missing: Option<String>,
    /// Recovered by the day it was paid: (period, amount, cases).
    paid_in: Vec<(&'static str, String, String)>,
    days: i64,
    currency: String,
    currencies: Vec<String>,
    /// (name, figure, note)
    tiles: Vec<(&'static str, String, String)>,
    revenue_chart: String,
    rate_chart: String,
    funnel_chart: String,
    category_chart: String,
    slots_chart: String,
}

#[derive(Debug, Deserialize)]
pub struct OverviewParams {
    currency: Option<String>,
    days: Option<i64>,
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".into(), |r| format!("{:.1}%", r * 100.0))
}

/// A money figure for a chart's note: the amount alone (the currency is
/// the page's).
fn figure(amount: &crate::domain::stats::Amount) -> String {
    crate::domain::stats::grouped(&amount.amount)
}

fn money(amount: &crate::domain::stats::Amount, currency: &str) -> String {
    format!(
        "{} {}",
        crate::domain::stats::grouped(&amount.amount),
        currency.to_ascii_uppercase()
    )
}

fn tiles(r: &CurrencyReport) -> Vec<(&'static str, String, String)> {
    let c = &r.currency;
    let cases = |n: i64| format!("{n} case{}", if n == 1 { "" } else { "s" });
    vec![
        ("Failed", money(&r.failed, c), cases(r.failed.count)),
        (
            "Recovered",
            money(&r.recovered, c),
            cases(r.recovered.count),
        ),
        (
            "Recovery rate",
            percent(r.recovery_rate_by_revenue),
            format!("{} by count", percent(r.recovery_rate_by_count)),
        ),
        (
            "Median time to recover",
            r.median_days_to_recover
                .map_or_else(|| "–".into(), |d| format!("{d:.1} days")),
            "from failure to payment".into(),
        ),
        ("Still open", money(&r.open, c), cases(r.open.count)),
        ("Lost", money(&r.lost, c), cases(r.lost.count)),
    ]
}

/// Every week of the window for one currency, empty weeks included.
fn weeks(rows: &[WeekRow], currency: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Week> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    let monday = |d: NaiveDate| d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
    let mut by_week: BTreeMap<i64, (f64, f64, i64, i64)> = BTreeMap::new();
    let mut day = monday(from.date_naive());
    while day <= to.date_naive() {
        by_week.insert((day - epoch).num_days(), Default::default());
        day += Duration::days(7);
    }
    let exponent = |minor: i64| {
        crate::domain::stats::major(minor, currency)
            .parse::<f64>()
            .unwrap_or(0.0)
    };
    for r in rows.iter().filter(|r| r.currency == currency) {
        let w = by_week.entry(r.week).or_default();
        w.0 += exponent(r.due_minor);
        w.3 += r.count;
        if r.state == "recovered" {
            w.1 += exponent(r.paid_minor);
            w.2 += r.count;
        }
    }
    by_week
        .into_iter()
        .map(|(week, (failed, recovered, won, all))| Week {
            label: (epoch + Duration::days(week)).format("%b %-d").to_string(),
            failed,
            recovered,
            rate: (all > 0).then(|| won as f64 / all as f64),
        })
        .collect()
}

fn funnel(r: &CurrencyReport) -> String {
    let mut rows = vec![Row {
        label: "Failed".into(),
        parts: vec![(r.failed.minor as f64, "failed")],
        note: figure(&r.failed),
    }];
    for m in &r.by_method {
        let label = match (m.method.as_str(), m.retry) {
            ("retry", Some(n)) => format!("Recovered by retry {n}"),
            ("card_update", _) => "Recovered after card update".into(),
            ("offer", _) => "Recovered after an offer".into(),
            ("processor", _) => "Paid at the processor".into(),
            (other, _) => format!("Recovered ({other})"),
        };
        rows.push(Row {
            label,
            parts: vec![(m.recovered.minor as f64, "recovered")],
            note: figure(&m.recovered),
        });
    }
    rows.push(Row {
        label: "Lost".into(),
        parts: vec![(r.lost.minor as f64, "lost")],
        note: figure(&r.lost),
    });
    rows.push(Row {
        label: "Still open".into(),
        parts: vec![(r.open.minor as f64, "open")],
        note: figure(&r.open),
    });
    let title = format!(
        "Where the failed money went, {}",
        r.currency.to_ascii_uppercase()
    );
    charts::rows(&title, &rows)
}

fn categories(r: &CurrencyReport) -> String {
    let rows: Vec<Row> = r
        .by_category
        .iter()
        .map(|s| Row {
            label: s.key.replace('_', " "),
            parts: vec![
                (s.recovered.minor as f64, "recovered"),
                (s.lost.minor as f64, "lost"),
                (
                    (s.failed.minor - s.recovered.minor - s.lost.minor).max(0) as f64,
                    "open",
                ),
            ],
            note: format!(
                "{} of {}",
                percent(s.recovery_rate_by_revenue),
                crate::domain::stats::grouped(&s.failed.amount)
            ),
        })
        .collect();
    charts::rows("Outcomes by decline category", &rows)
}

/// What was recovered this week, last week and this month (UTC, on the
/// engine's clock), by the day it was paid.
async fn paid_in(
    state: &AppState,
    currency: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(&'static str, String, String)>> {
    let today = now.date_naive();
    let start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis()
    };
    let this_week = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let last_week = this_week - Duration::days(7);
    let this_month = today.with_day(1).unwrap_or(today);
    let end = now.timestamp_millis() + 1;
    let mut out = Vec::new();
    for (label, from, until) in [
        ("Recovered this week", start(this_week), end),
        ("Recovered last week", start(last_week), start(this_week)),
        ("Recovered this month", start(this_month), end),
    ] {
        let (count, minor) = state.store.recovered_between(currency, from, until).await?;
        let amount = crate::domain::stats::grouped(&crate::domain::stats::major(minor, currency));
        out.push((
            label,
            format!("{amount} {}", currency.to_ascii_uppercase()),
            format!("{count} case{} paid", if count == 1 { "" } else { "s" }),
        ));
    }
    Ok(out)
}

/// "2 events your systems never took", one part per kind there is.
fn attention_said(counts: &crate::store::attention::AttentionCounts) -> Vec<String> {
    let s = |n: i64| if n == 1 { "" } else { "s" };
    [
        (counts.cases, format!("case{} given up", s(counts.cases))),
        (
            counts.events_given_up,
            format!("event{} your systems never took", s(counts.events_given_up)),
        ),
        (
            counts.events_parked,
            format!("processor event{} not handled", s(counts.events_parked)),
        ),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect()
}

/// When no job runner has claimed work within twice its lease (read from
/// the database: a web role runs none), why retries and emails wait.
async fn runner_missing(state: &AppState) -> anyhow::Result<Option<String>> {
    use crate::jobs::claim::{RUNNER_MISSING_AFTER_MS, RUNNER_SEEN};
    let seen = state
        .store
        .setting(RUNNER_SEEN)
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let now = crate::clock::unix_millis();
    let start = "retries, emails and final actions wait until a `dunwell worker` (or `dunwell serve`) runs against this database";
    Ok(match seen {
        None => Some(format!(
            "No job runner has run against this database yet: {start}."
        )),
        Some(at) if now - at > RUNNER_MISSING_AFTER_MS => Some(format!(
            "No job runner has claimed work for {} minutes (last at {}): {start}.",
            (now - at) / 60_000,
            super::when(at)
        )),
        Some(_) => None,
    })
}

pub async fn show(
    state: web::Data<AppState>,
    params: web::Query<OverviewParams>,
) -> Result<HttpResponse, crate::web::api::error::ApiError> {
    let days = params.days.unwrap_or(90).clamp(7, 730);
    let now = state.engine.clock.now();
    let from = now - Duration::days(days);
    let (from_ms, to_ms) = (from.timestamp_millis(), now.timestamp_millis() + 1);
    let (groups, times) = state.store.recovery_counts(from_ms, to_ms).await?;
    let reports = report(&groups, &times);
    let rows = state.store.weekly_counts(from_ms, to_ms).await?;
    // The asked currency, else the one with the most failed money.
    let chosen = params
        .currency
        .as_deref()
        .and_then(|c| reports.iter().find(|r| r.currency == c))
        .or_else(|| reports.iter().max_by_key(|r| r.failed.minor));
    let currency = chosen.map_or("usd".to_owned(), |r| r.currency.clone());
    let empty = CurrencyReport {
        currency: currency.clone(),
        failed: Default::default(),
        recovered: Default::default(),
        lost: Default::default(),
        open: Default::default(),
        recovery_rate_by_count: None,
        recovery_rate_by_revenue: None,
        median_days_to_recover: None,
        by_category: Vec::new(),
        by_method: Vec::new(),
        by_code: Vec::new(),
    };
    let r = chosen.unwrap_or(&empty);
    let weeks = weeks(&rows, &currency, from, now);
    let attempts: Vec<_> = state
        .store
        .retry_outcomes(from_ms, to_ms)
        .await?
        .into_iter()
        .filter_map(|(tz, at, n, paid)| {
            let tz = tz.parse().unwrap_or(state.engine.policy().default_timezone);
            let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
            Some((
                DateTime::<Utc>::from_timestamp_millis(at)?,
                tz,
                count(n),
                count(paid),
            ))
        })
        .collect();
    let attention = state.store.attention_counts().await?;
    let runner_missing = runner_missing(&state).await?;
    let paid_in = paid_in(&state, &currency, now).await?;
    let body = OverviewPage {
        f: Frame::new(&state, "overview"),
        attention: attention_said(&attention),
        runner_missing,
        paid_in,
        days,
        currencies: reports.iter().map(|r| r.currency.clone()).collect(),
        tiles: tiles(r),
        revenue_chart: charts::revenue(&weeks, &currency.to_ascii_uppercase()),
        rate_chart: charts::rate(&weeks),
        funnel_chart: funnel(r),
        category_chart: categories(r),
        slots_chart: charts::slots(&slots(&attempts)),
        currency,
    }
    .render();
    Ok(page(StatusCode::OK, body))
}
