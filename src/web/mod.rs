//! HTTP routes: the webhook intake, the customer's billing page and health
//! checks.

pub mod admin;
pub mod api;
pub mod billing;
pub mod client_ip;
pub mod headers;
pub mod health;
pub mod home;
pub mod origin;
pub mod requests;
pub mod sign_in;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::webhooks::intake;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::home))
        .route("/webhooks/stripe", web::post().to(intake::receive))
        .service(
            web::scope("/billing")
                .wrap(from_fn(billing::limit::pages))
                .route("/update/{token}", web::get().to(billing::page))
                .route("/update/{token}/card", web::post().to(billing::card))
                .route("/update/{token}/done", web::get().to(billing::done))
                .route(
                    "/update/{token}/reactivate",
                    web::post().to(billing::reactivate),
                )
                .route(
                    "/offers/{token}/{offer}",
                    web::get().to(billing::offer_terms),
                )
                .route("/offers/{token}/{offer}", web::post().to(billing::offer)),
        )
        .configure(api::routes)
        .configure(admin::routes)
        .configure(health::routes);
}
