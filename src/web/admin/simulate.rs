//! `GET /admin/simulate`: `dunwell simulate` in the dashboard — the
//! running policy played against a generated population beside the two
//! plain schedules, with the model's assumptions.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::charts::{Row, rows};
use super::{Frame, page};
use crate::domain::simulate::report::Tally;
use crate::domain::simulate::{ensemble, models, population};
use crate::state::AppState;

/// The dashboard runs at most this many invoices per request.
const MAX_POPULATION: u64 = 50_000;

#[derive(Template)]
#[template(path = "admin/simulate.html")]
struct SimulatePage {
    f: Frame,
    population: u64,
    seed: u64,
    ran: bool,
    error: Option<String>,
    assumptions: &'static [&'static str],
    /// (strategy, recovered %, revenue %, attempts per failure, median days, violations)
    results: Vec<(String, String, String, String, String, String)>,
    groups: Vec<String>,
    /// (strategy, one cell per group)
    breakdown: Vec<(String, Vec<String>)>,
    chart: String,
}

#[derive(Debug, Deserialize)]
pub struct SimulateParams {
    population: Option<String>,
    seed: Option<String>,
}

fn number(raw: &Option<String>, name: &str, default: u64) -> Result<u64, String> {
    match raw.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a whole number, got {v:?}")),
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn chart(tallies: &[Tally]) -> String {
    let bars: Vec<Row> = tallies
        .iter()
        .map(|t| Row {
            label: t.name.clone(),
            parts: vec![(t.revenue_share() * 100.0, "recovered")],
            note: format!(
                "{} · {:.2} tries",
                percent(t.revenue_share()),
                t.attempts_per_failure()
            ),
        })
        .collect();
    rows(
        "Recovered revenue by strategy, with attempts per failure",
        &bars,
    )
}

pub async fn show(state: web::Data<AppState>, params: web::Query<SimulateParams>) -> HttpResponse {
    let mut body = SimulatePage {
        f: Frame::new(&state, "simulate"),
        population: 20_000,
        seed: 7,
        ran: false,
        error: None,
        assumptions: population::ASSUMPTIONS,
        results: Vec::new(),
        groups: Vec::new(),
        breakdown: Vec::new(),
        chart: String::new(),
    };
    let asked = params.population.is_some() || params.seed.is_some();
    let parsed = number(&params.population, "population", 20_000)
        .and_then(|n| {
            if (1..=MAX_POPULATION).contains(&n) {
                Ok(n)
            } else {
                Err(format!("population must be 1 to {MAX_POPULATION} here (the command line takes more), got {n}"))
            }
        })
        .and_then(|n| Ok((n, number(&params.seed, "seed", 7)?)));
    let (n, seed) = match parsed {
        Ok(v) => v,
        Err(e) => {
            body.error = Some(e);
            return page(StatusCode::BAD_REQUEST, body.render());
        }
    };
    body.population = n;
    body.seed = seed;
    if !asked {
        return page(StatusCode::OK, body.render());
    }
    let policy = state.engine.policy().clone();
    let tallies = web::block(move || {
        let scenarios = ensemble::population_of(&models::TODAY, seed, n);
        ensemble::run_all(&scenarios, &policy, |_| {})
    })
    .await;
    let Ok(tallies) = tallies else {
        body.error = Some("the simulation could not run".into());
        return page(StatusCode::INTERNAL_SERVER_ERROR, body.render());
    };
    body.ran = true;
    body.results = tallies
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                percent(t.recovered_share()),
                percent(t.revenue_share()),
                format!("{:.2}", t.attempts_per_failure()),
                t.median_days().map_or("–".into(), |d| format!("{d:.1}")),
                t.violations.to_string(),
            )
        })
        .collect();
    body.groups = tallies
        .first()
        .map(|t| t.groups.keys().map(|g| (*g).to_owned()).collect())
        .unwrap_or_default();
    body.breakdown = tallies
        .iter()
        .map(|t| {
            let cells = t.groups.values().map(|g| g.cell()).collect();
            (t.name.clone(), cells)
        })
        .collect();
    body.chart = chart(&tallies);
    page(StatusCode::OK, body.render())
}
