//! `POST /api/plan`: what `dunwell plan --json` prints, for a failure
//! described in the body (`{"decline_code": "insufficient_funds",
//! "country": "DE"}`), under the running policy.

use actix_web::{HttpResponse, web};

use super::error::ApiError;
use crate::plan::{PlanArgs, preview, to_json};
use crate::state::AppState;

pub async fn show(
    state: web::Data<AppState>,
    args: web::Json<PlanArgs>,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let p = preview(engine.policy(), &args, engine.clock.now())
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    Ok(HttpResponse::Ok().json(to_json(&p)))
}
