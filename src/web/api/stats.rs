//! `GET /api/stats?from=&to=`: recovery statistics of the cases opened in
//! [from, to) — by default the last 90 days — per currency.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::params::instant;
use super::views;
use crate::domain::stats::report;
use crate::state::AppState;

/// The window when none is given.
const DEFAULT_DAYS: i64 = 90;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// [from, to) in unix ms (engine clock), checked.
pub fn window(params: &StatsParams, now_ms: i64) -> Result<(i64, i64), ApiError> {
    let to = match &params.to {
        Some(raw) => instant("to", raw)?,
        // The end of now: cases opened this very millisecond count.
        None => now_ms + 1,
    };
    let from = match &params.from {
        Some(raw) => instant("from", raw)?,
        None => to - DEFAULT_DAYS * 86_400_000,
    };
    if from >= to {
        return Err(ApiError::bad_request("from: must be before to"));
    }
    Ok((from, to))
}

/// `GET /api/stats`.
pub async fn show(
    state: web::Data<AppState>,
    params: web::Query<StatsParams>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = window(&params, state.engine.clock.now_ms())?;
    let (groups, times) = state.store.recovery_counts(from, to).await?;
    Ok(HttpResponse::Ok().json(json!({
        "from": views::instant(from),
        "to": views::instant(to),
        "currencies": report(&groups, &times),
    })))
}
