//! `GET /`: a small page saying what this address is and where to go —
//! the dashboard, the API's document, the health checks, the docs — rather
//! than a blank 404. It names nothing about any customer or case.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::state::AppState;

#[derive(Template)]
#[template(path = "pages/home.html")]
struct Home<'a> {
    name: &'a str,
    admin: bool,
}

pub async fn home(state: web::Data<AppState>) -> HttpResponse {
    let page = Home {
        name: &state.config.brand.name,
        admin: state.config.admin_token.is_some(),
    };
    match page.render() {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
            ))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering the home page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
