//! HTTP routes: the webhook intake, the customer's billing page and health
//! checks.

pub mod billing;
pub mod health;

use actix_web::web;

use crate::webhooks::intake;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks/stripe", web::post().to(intake::receive))
        .route("/billing/update/{token}", web::get().to(billing::page))
        .route(
            "/billing/update/{token}/card",
            web::post().to(billing::card),
        )
        .route("/billing/update/{token}/done", web::get().to(billing::done))
        .route(
            "/billing/offers/{token}/{offer}",
            web::post().to(billing::offer),
        )
        .configure(health::routes);
}
