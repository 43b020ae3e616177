//! `/healthz`: the process answers. `/readyz`: the database answers and, in
//! roles that run jobs, the job runner is running. Served by every role.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::jobs::runner::RunnerHealth;
use crate::store::Store;

/// What the health checks look at.
#[derive(Clone)]
pub struct Probe {
    pub store: Store,
    /// The job runner, in roles that run jobs.
    pub runner: Option<Arc<RunnerHealth>>,
}

pub async fn alive() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn ready(probe: web::Data<Probe>) -> HttpResponse {
    let unavailable = |reason: String| {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "error": reason,
        }))
    };
    if let Err(e) = probe.store.ping().await {
        tracing::warn!(error = %format!("{e:#}"), "readiness check: database unreachable");
        return unavailable("database unreachable".into());
    }
    if let Some(runner) = &probe.runner {
        if let Err(why) = runner.check() {
            tracing::warn!(reason = %why, "readiness check: no job runner");
            return unavailable(format!("job runner not running: {why}"));
        }
    }
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": probe.store.backend(),
        "jobs": probe.runner.is_some(),
    }))
}

/// The health routes alone (the `worker` role serves only these).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(alive))
        .route("/readyz", web::get().to(ready));
}
