//! `/healthz`: the process answers. `/readyz`: the database answers and, in
//! roles that process events and run jobs, those loops are running (503
//! with the reason otherwise). Served by every role.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::jobs::supervisor::Health;
use crate::store::Store;

/// What the health checks look at.
#[derive(Clone)]
pub struct Probe {
    pub store: Store,
    /// The background loops this role runs (event processor, job runner).
    pub loops: Vec<Arc<Health>>,
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
    for health in &probe.loops {
        if let Err(why) = health.check() {
            tracing::warn!(reason = %why, "readiness check: a background loop is not running");
            return unavailable(why);
        }
    }
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": probe.store.backend(),
        "running": probe.loops.iter().map(|h| h.name()).collect::<Vec<_>>(),
    }))
}

/// The health routes alone (the `worker` role serves only these).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(alive))
        .route("/readyz", web::get().to(ready));
}
