//! `/healthz`: the process answers. `/readyz`: the database answers too.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

pub async fn alive() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "database": state.store.backend(),
        })),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "readiness check: database unreachable");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "status": "unavailable",
                "error": "database unreachable",
            }))
        }
    }
}
