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
pub(crate) mod schemas;
mod stats;
mod views;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};

use self::error::ApiError;

fn bad_request(message: String) -> actix_web::Error {
    ApiError::bad_request(message).into()
}

/// An endpoint that takes `allowed` (`"GET, PUT"`): any other method gets
/// 405 with an `Allow` header, in the API's error shape.
fn endpoint(path: &'static str, allowed: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, allowed))
            .insert_header(("Cache-Control", "no-store"))
            .json(error::ErrorBody {
                error: format!("method not allowed: /api{path} takes {allowed}"),
                errors: Vec::new(),
            })
    }))
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
            .app_data(
                web::PathConfig::default().error_handler(|e, _| bad_request(format!("path: {e}"))),
            )
            .service(endpoint("/cases", "GET").route(web::get().to(cases::list)))
            .service(endpoint("/cases.csv", "GET").route(web::get().to(export::csv)))
            .service(endpoint("/cases/{id}", "GET").route(web::get().to(cases::show)))
            .service(endpoint("/cases/{id}/{action}", "POST").route(web::post().to(cases::action)))
            .service(endpoint("/stats", "GET").route(web::get().to(stats::show)))
            .service(endpoint("/plan", "POST").route(web::post().to(plan::show)))
            .service(
                endpoint("/policy", "GET, PUT")
                    .route(web::get().to(policy::show))
                    .route(web::put().to(policy::put)),
            )
            .service(endpoint("/policy/versions", "GET").route(web::get().to(policy::versions)))
            .service(
                endpoint("/policy/versions/{version}", "GET").route(web::get().to(policy::version)),
            )
            .service(endpoint("/policy/diff", "GET").route(web::get().to(policy::diff)))
            .service(
                endpoint("/policy/backtest", "POST").route(web::post().to(policy::run_backtest)),
            )
            .service(endpoint("/policy/move", "POST").route(web::post().to(policy::move_cases)))
            .service(endpoint("/outbox", "GET").route(web::get().to(outbox::list)))
            .service(endpoint("/events", "GET").route(web::get().to(events::list)))
            .service(endpoint("/events/replay", "POST").route(web::post().to(events::replay_since)))
            .service(
                endpoint("/events/{id}/replay", "POST").route(web::post().to(events::replay_one)),
            )
            .service(endpoint("/openapi.json", "GET").route(web::get().to(openapi::document)))
            .default_service(web::to(|| async {
                HttpResponse::from_error(ApiError::not_found("no such API endpoint"))
            })),
    );
}
