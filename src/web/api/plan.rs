//! `POST /api/plan`: what `dunwell plan --json` prints, for a failure
//! described in the body (`{"decline_code": "insufficient_funds",
//! "country": "DE"}`), under the running policy.

use actix_web::{HttpResponse, web};

use super::error::{ApiError, ErrorBody};
use crate::plan::{PlanArgs, preview, to_json};
use crate::state::AppState;

/// The plan the running policy gives a failure: what `dunwell plan --json` prints.
#[utoipa::path(post, path = "/api/plan", tag = "policy", operation_id = "preview_plan", request_body = PlanArgs,
    responses((status = 200, description = "The planned retries, emails and final action", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn show(
    state: web::Data<AppState>,
    args: web::Json<PlanArgs>,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let p = preview(
        &engine.policy(),
        &args,
        engine.clock.now(),
        Some(&engine.learned.current()),
    )
    .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    Ok(HttpResponse::Ok().json(to_json(&p)))
}
