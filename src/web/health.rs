//! `/healthz`: the process answers. `/readyz`: the database answers and, in
//! roles that process events and run jobs, those loops are running (503
//! with the reason otherwise). Served by every role.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::clock::Clock;
use crate::jobs::supervisor::Health;
use crate::store::Store;
use crate::web::api::auth::{bearer, same_secret};

/// What the health checks and the metrics look at.
#[derive(Clone)]
pub struct Probe {
    pub store: Store,
    /// The background loops this role runs (event processor, job runner).
    pub loops: Vec<Arc<Health>>,
    pub clock: Clock,
    /// What `/metrics` on this listener does.
    pub metrics: MetricsHere,
    /// Wrong metrics tokens are throttled like the operator's, per client
    /// address (`DUNWELL_CLIENT_IP_HEADER` when set).
    pub sign_in: crate::web::sign_in::SignIn,
    pub client_ip_header: Option<String>,
}

/// What `/metrics` does on one listener (`domain::metrics_access`).
#[derive(Clone)]
pub enum MetricsHere {
    /// Served, behind `DUNWELL_METRICS_TOKEN` when it is `Some`.
    Served(Option<SecretString>),
    /// Not served on a public bind without a token: 403 and this reason.
    Closed(String),
    /// Served on `DUNWELL_METRICS_BIND` instead: 404 naming it.
    Elsewhere(std::net::SocketAddr),
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

/// `GET /metrics`: Prometheus text, behind `DUNWELL_METRICS_TOKEN` when set
/// and closed on a public bind without it.
pub async fn metrics(probe: web::Data<Probe>, request: HttpRequest) -> HttpResponse {
    match &probe.metrics {
        MetricsHere::Closed(why) => {
            return HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body(format!("{why}\n"));
        }
        MetricsHere::Elsewhere(at) => {
            return HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body(format!(
                    "/metrics is served on the metrics address {at} (DUNWELL_METRICS_BIND)\n"
                ));
        }
        MetricsHere::Served(Some(expected)) => {
            let ip = crate::web::client_ip::client_ip(&request, probe.client_ip_header.as_deref());
            if let Err(wait) = probe.sign_in.check(ip) {
                return HttpResponse::TooManyRequests()
                    .insert_header((header::RETRY_AFTER, wait.to_string()))
                    .content_type("text/plain; charset=utf-8")
                    .body("too many wrong tokens from this address; try again later\n");
            }
            let given = bearer(request.headers()).unwrap_or_default();
            if !same_secret(given.as_bytes(), expected.expose_secret().as_bytes()) {
                probe.sign_in.failed(ip);
                return HttpResponse::Unauthorized()
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
                    .content_type("text/plain; charset=utf-8")
                    .body("a valid bearer token is required (DUNWELL_METRICS_TOKEN)\n");
            }
        }
        MetricsHere::Served(None) => {}
    }
    let text = crate::meters::render(
        &probe.store,
        probe.clock.now_ms(),
        chrono::Utc::now().timestamp_millis(),
    )
    .await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

/// The metrics listener's one route.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

/// The routes every role serves (the `worker` role serves only these).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(alive))
        .route("/readyz", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}
