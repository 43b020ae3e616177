//! HTTP routes: the webhook intake, health checks, and (later) customer pages
//! and the operator surface.

pub mod health;

use actix_web::web;

use crate::webhooks::intake;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks/stripe", web::post().to(intake::receive))
        .route("/healthz", web::get().to(health::alive))
        .route("/readyz", web::get().to(health::ready));
}
