//! The operator's dashboard, `/admin`: server-rendered pages (askama, SVG
//! charts drawn on the server, no script) behind a sign-in with the
//! operator token, kept in an HttpOnly, SameSite=Strict cookie (Secure
//! when the public URL is https). Without a token configured `/admin` does
//! not exist. Actions are POSTs that refuse other sites' forms.

mod attention;
mod cases;
mod charts;
mod login;
mod outbox;
mod overview;
mod policy;
mod policy_edit;
mod policy_form;
mod simulate;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpResponse, web};

use crate::state::AppState;

/// What every dashboard page shares.
pub(super) struct Frame {
    pub brand: String,
    pub accent: String,
    pub signed_in: bool,
    pub section: &'static str,
}

impl Frame {
    fn new(state: &AppState, section: &'static str) -> Self {
        let brand = &state.config.brand;
        Self {
            brand: brand.name.clone(),
            accent: brand.accent.clone(),
            signed_in: !section.is_empty(),
            section,
        }
    }
}

fn page(status: StatusCode, body: askama::Result<String>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("Referrer-Policy", "same-origin"))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Unix ms as the dashboard shows a moment.
fn when(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The answer to a form posted from another site.
fn forged() -> HttpResponse {
    HttpResponse::Forbidden().body("This request did not come from the dashboard.")
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// No operator token configured: the dashboard does not exist.
async fn require_token(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let enabled = request
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.config.admin_token.is_some());
    if !enabled {
        return Ok(request.into_response(HttpResponse::NotFound().finish()));
    }
    next.call(request).await.map(|r| r.map_into_boxed_body())
}

/// Signed in, or sent to the sign-in page; a POST from another site is
/// refused.
async fn require_session(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(request.into_response(HttpResponse::NotFound().finish()));
    };
    if !login::signed_in(&state, request.request()).await {
        return Ok(request.into_response(see_other("/admin/login")));
    }
    if request.method() == actix_web::http::Method::POST
        && crate::web::origin::cross_site(request.request(), &state.config.public_url)
    {
        return Ok(request.into_response(forged()));
    }
    next.call(request).await.map(|r| r.map_into_boxed_body())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(require_token))
            .route("/login", web::get().to(login::form))
            .route("/login", web::post().to(login::sign_in))
            .route("/logout", web::post().to(login::sign_out))
            .service(
                web::scope("")
                    .wrap(from_fn(require_session))
                    .route("", web::get().to(overview::show))
                    .route("/", web::get().to(overview::show))
                    .route("/cases", web::get().to(cases::list))
                    .route("/cases/{id}", web::get().to(cases::show))
                    .route("/cases/{id}/{action}", web::post().to(cases::action))
                    .route("/policy", web::get().to(policy::show))
                    .route("/policy", web::post().to(policy_edit::draft))
                    .route("/policy/apply", web::post().to(policy_edit::apply))
                    .route("/simulate", web::get().to(simulate::show))
                    .route("/outbox", web::get().to(outbox::list))
                    .route("/outbox/{id}/html", web::get().to(outbox::html))
                    .route("/attention", web::get().to(attention::show))
                    .route("/events/replay", web::post().to(attention::replay_all))
                    .route("/events/{id}/replay", web::post().to(attention::replay_one)),
            ),
    );
}
