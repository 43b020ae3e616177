//! `GET /api/stats?from=&to=`: recovery statistics of the cases opened in
//! [from, to) — by default the last 90 days — per currency.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::params::instant;
use super::views;
use crate::domain::stats::{CurrencyReport, report};
use crate::engine::policy_stats::{self, PolicyStats};
use crate::state::AppState;

/// The window when none is given.
const DEFAULT_DAYS: i64 = 90;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Cases opened at or after: a date (2026-03-01) or an RFC 3339 time; 90 days before `to` when not given.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Cases opened before; now when not given.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

/// Recovery statistics of the cases opened in [from, to).
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub from: String,
    pub to: String,
    /// One report per currency; never summed across currencies.
    pub currencies: Vec<CurrencyReport>,
    /// How the running policy version does against its holdout (or the
    /// version before it), whatever the window.
    pub policy: PolicyStats,
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
    // An empty window is an empty report; a reversed one is a mistake.
    if from > to {
        return Err(ApiError::bad_request("from: must not be after to"));
    }
    Ok((from, to))
}

/// Recovery statistics per currency.
#[utoipa::path(get, path = "/api/stats", tag = "statistics", operation_id = "show_stats", params(StatsParams),
    responses((status = 200, body = Stats), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn show(
    state: web::Data<AppState>,
    params: web::Query<StatsParams>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = window(&params, state.engine.clock.now_ms())?;
    let (groups, times) = state.store.recovery_counts(from, to).await?;
    Ok(HttpResponse::Ok().json(Stats {
        from: views::instant(from),
        to: views::instant(to),
        currencies: report(&groups, &times),
        policy: policy_stats::compare(&state.engine).await?,
    }))
}
