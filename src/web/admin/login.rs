//! Signing in with the operator token: a server-side session (a random id,
//! its hash stored with an expiry), named by an HttpOnly, SameSite=Strict
//! cookie (Secure when the dashboard is served over https) tagged with the
//! installation's session secret. Signing out revokes it on the server; a
//! new operator token ends every session. Wrong tokens are throttled per
//! client address.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{Frame, forged, page, see_other};
use crate::domain::session::{self, SESSION_SECS};
use crate::state::AppState;
use crate::web::api::auth::same_secret;
use crate::web::client_ip::client_ip;

const COOKIE: &str = "dunwell_admin";

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    f: Frame,
    error: Option<String>,
}

fn now_secs() -> i64 {
    crate::clock::unix_millis().div_euclid(1000)
}

/// The operator token's mark under the session secret.
fn token_mark(state: &AppState) -> Option<String> {
    let token = state.config.admin_token.as_ref()?;
    Some(session::token_mark(
        state.sign_in.key(),
        token.expose_secret(),
    ))
}

/// The stored hash of the session the request's cookie names, if its tag
/// is ours.
fn session_hash(state: &AppState, request: &HttpRequest) -> Option<String> {
    let cookie = request.cookie(COOKIE)?;
    session::session_id(state.sign_in.key(), cookie.value()).map(session::id_hash)
}

pub(super) async fn signed_in(state: &AppState, request: &HttpRequest) -> bool {
    let (Some(mark), Some(hash)) = (token_mark(state), session_hash(state, request)) else {
        return false;
    };
    match state.store.session_holds(&hash, &mark, now_secs()).await {
        Ok(holds) => holds,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "dashboard: looking up a session failed");
            false
        }
    }
}

fn login_page(state: &AppState, status: StatusCode, error: Option<String>) -> HttpResponse {
    let body = LoginPage {
        f: Frame::new(state, ""),
        error,
    }
    .render();
    page(status, body)
}

pub async fn form(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    if signed_in(&state, &request).await {
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

/// The answer while wrong tokens hold the address back.
fn held_back(state: &AppState, wait_secs: i64) -> HttpResponse {
    let mut response = login_page(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        Some(format!(
            "Too many wrong tokens from your address. Try again in {wait_secs} seconds."
        )),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(wait_secs));
    response
}

pub async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<Credentials>,
) -> HttpResponse {
    if crate::web::origin::cross_site(&request, &state.config.public_url) {
        return forged();
    }
    let (Some(expected), Some(mark)) = (state.config.admin_token.as_ref(), token_mark(&state))
    else {
        return HttpResponse::NotFound().finish();
    };
    let ip = client_ip(&request, state.config.client_ip_header.as_deref());
    if let Err(wait) = state.sign_in.check(ip) {
        return held_back(&state, wait);
    }
    if !same_secret(
        form.token.trim().as_bytes(),
        expected.expose_secret().as_bytes(),
    ) {
        tracing::warn!(client = ?ip, "dashboard: a sign-in with a wrong token");
        state.sign_in.failed(ip);
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That token is not the operator token.".into()),
        );
    }
    state.sign_in.succeeded(ip);
    let id = crate::random::base62(32);
    let now = now_secs();
    if let Err(e) = state
        .store
        .create_session(&session::id_hash(&id), &mark, now, now + SESSION_SECS)
        .await
    {
        tracing::error!(error = %format!("{e:#}"), "dashboard: storing a session failed");
        return login_page(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Signing in failed just now; please try again in a minute.".into()),
        );
    }
    tracing::info!("dashboard: signed in");
    let value = session::cookie_value(state.sign_in.key(), &id);
    HttpResponse::SeeOther()
        .cookie(cookie(&state, value, SESSION_SECS))
        .insert_header(("Location", "/admin"))
        .finish()
}

/// Ends the session on the server (the cookie alone no longer opens
/// anything, wherever a copy of it went) and clears the cookie.
pub async fn sign_out(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    if crate::web::origin::cross_site(&request, &state.config.public_url) {
        return forged();
    }
    if let Some(hash) = session_hash(&state, &request) {
        if let Err(e) = state.store.revoke_session(&hash, now_secs()).await {
            tracing::error!(error = %format!("{e:#}"), "dashboard: revoking a session failed");
            return HttpResponse::ServiceUnavailable()
                .body("Signing out failed just now; please try again in a minute.");
        }
        tracing::info!("dashboard: signed out");
    }
    HttpResponse::SeeOther()
        .cookie(cookie(&state, String::new(), 0))
        .insert_header(("Location", "/admin/login"))
        .finish()
}
