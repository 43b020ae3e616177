//! HTTP routes: the webhook intake and health checks.

pub mod health;

use actix_web::web;

use crate::webhooks::intake;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks/stripe", web::post().to(intake::receive))
        .configure(health::routes);
}
