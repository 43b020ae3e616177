//! Signing in with the operator token: a session cookie (HttpOnly,
//! SameSite=Strict, Secure when the dashboard is served over https).

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{Frame, forged, page, see_other};
use crate::domain::session::{self, SESSION_SECS};
use crate::state::AppState;
use crate::web::api::auth::same_secret;

const COOKIE: &str = "dunwell_admin";

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    f: Frame,
    error: Option<&'static str>,
}

/// The key sessions are signed with: the operator token itself, so a new
/// token ends every session.
fn key(state: &AppState) -> Option<Vec<u8>> {
    state
        .config
        .admin_token
        .as_ref()
        .map(|t| t.expose_secret().as_bytes().to_vec())
}

pub(super) fn signed_in(state: &AppState, request: &HttpRequest) -> bool {
    let (Some(key), Some(cookie)) = (key(state), request.cookie(COOKIE)) else {
        return false;
    };
    session::valid(&key, cookie.value(), crate::clock::unix_millis() / 1000)
}

fn login_page(state: &AppState, status: StatusCode, error: Option<&'static str>) -> HttpResponse {
    let body = LoginPage {
        f: Frame::new(state, ""),
        error,
    }
    .render();
    page(status, body)
}

pub async fn form(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    if signed_in(&state, &request) {
        return see_other("/admin");
    }
    login_page(&state, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct Credentials {
    token: String,
}

fn cookie(state: &AppState, value: String, max_age: i64) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.public_url.scheme() == "https")
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

pub async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<Credentials>,
) -> HttpResponse {
    if crate::web::origin::cross_site(&request, &state.config.public_url) {
        return forged();
    }
    let Some(key) = key(&state) else {
        return HttpResponse::NotFound().finish();
    };
    if !same_secret(form.token.trim().as_bytes(), &key) {
        tracing::warn!("dashboard: a sign-in with a wrong token");
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That token is not the operator token."),
        );
    }
    let expires = crate::clock::unix_millis() / 1000 + SESSION_SECS;
    let value = session::issue(&key, expires);
    tracing::info!("dashboard: signed in");
    HttpResponse::SeeOther()
        .cookie(cookie(&state, value, SESSION_SECS))
        .insert_header(("Location", "/admin"))
        .finish()
}

pub async fn sign_out(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    if crate::web::origin::cross_site(&request, &state.config.public_url) {
        return forged();
    }
    HttpResponse::SeeOther()
        .cookie(cookie(&state, String::new(), 0))
        .insert_header(("Location", "/admin/login"))
        .finish()
}
