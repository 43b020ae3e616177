//! The operator API: JSON under `/api`, behind the operator's bearer token
//! (`DUNWELL_ADMIN_TOKEN`); without a token configured it does not exist.
//! Every error is `{"error": "..."}`.

pub mod auth;
mod cases;
pub mod error;
mod events;
mod export;
mod openapi;
mod outbox;
pub(crate) mod params;
mod plan;
pub mod policy;
mod stats;
mod views;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};

use self::error::ApiError;

fn bad_request(message: String) -> actix_web::Error {
    ApiError::bad_request(message).into()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(auth::require_token))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| bad_request(format!("query: {e}"))),
            )
            .app_data(
                web::JsonConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|e, _| bad_request(format!("body: {e}"))),
            )
            .route("/cases", web::get().to(cases::list))
            .route("/cases.csv", web::get().to(export::csv))
            .route("/cases/{id}", web::get().to(cases::show))
            .route("/cases/{id}/{action}", web::post().to(cases::action))
            .route("/stats", web::get().to(stats::show))
            .route("/plan", web::post().to(plan::show))
            .route("/policy", web::get().to(policy::show))
            .route("/policy", web::put().to(policy::put))
            .route("/policy/versions", web::get().to(policy::versions))
            .route("/policy/versions/{version}", web::get().to(policy::version))
            .route("/policy/diff", web::get().to(policy::diff))
            .route("/policy/backtest", web::post().to(policy::run_backtest))
            .route("/policy/move", web::post().to(policy::move_cases))
            .route("/outbox", web::get().to(outbox::list))
            .route("/events", web::get().to(events::list))
            .route("/events/replay", web::post().to(events::replay_since))
            .route("/events/{id}/replay", web::post().to(events::replay_one))
            .route("/openapi.json", web::get().to(openapi::document))
            .default_service(web::to(|| async {
                HttpResponse::from_error(ApiError::not_found("no such API endpoint"))
            })),
    );
}
