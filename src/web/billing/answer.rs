//! What every billing page answer shares: the brand and language around
//! it, the security headers, the message pages and the one answer to a
//! link that leads nowhere.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::view::PageView;
use super::words::page_words;
use crate::domain::brand::Brand;
use crate::domain::locale::Locale;
use crate::engine::Engine;

/// What every page shares: the brand, the language, the footer.
pub(super) struct Chrome {
    pub(super) lang: &'static str,
    pub(super) brand: Brand,
    pub(super) footer: &'static str,
    pub(super) questions: &'static str,
}

#[derive(Template)]
#[template(path = "pages/update.html")]
pub(super) struct UpdatePage {
    pub(super) c: Chrome,
    pub(super) p: PageView,
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
    c: Chrome,
    title: &'a str,
    message: &'a str,
}

pub(super) fn chrome(engine: &Engine, locale: Locale) -> Chrome {
    let w = page_words(locale);
    Chrome {
        lang: locale.as_str(),
        brand: engine.config.brand.clone(),
        footer: w.footer,
        questions: w.questions,
    }
}

pub(super) fn html(
    engine: &Engine,
    status: StatusCode,
    body: askama::Result<String>,
) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Content-Security-Policy", policy(engine)))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a billing page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The pages' content security policy: no script at all, images only over
/// https, forms only to us and on to https pages — the processor's card
/// page is reached by a redirect after the form, which browsers check
/// against `form-action` too. A processor API served over plain http (a
/// local stand-in) is let in by its origin.
fn policy(engine: &Engine) -> String {
    let api = &engine.config.stripe_api_base;
    let processor = match api.scheme() {
        "http" => format!(" {}", api.origin().ascii_serialization()),
        _ => String::new(),
    };
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self' https:{processor}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// A 303 to `location` (absolute, or relative to the request's path),
/// never cached.
pub(super) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

pub(super) fn message(
    engine: &Engine,
    locale: Locale,
    status: StatusCode,
    title: &str,
    message: &str,
) -> HttpResponse {
    let c = chrome(engine, locale);
    html(engine, status, MessagePage { c, title, message }.render())
}

/// One of the rare answers (`refusals`), in the customer's language.
pub(super) fn say(
    engine: &Engine,
    locale: Locale,
    status: StatusCode,
    said: super::refusals::Said,
) -> HttpResponse {
    message(engine, locale, status, said.title, said.message)
}

/// The language of a page: the customer's own when the processor told us,
/// else the browser's, else the policy's default.
pub(super) async fn locale_for(
    engine: &Engine,
    request: &HttpRequest,
    customer_id: Option<&str>,
) -> Locale {
    if let Some(id) = customer_id
        && let Ok(Some(info)) = engine.store.cached_customer(id).await
        && let Some(locale) = info.locale.as_deref().and_then(Locale::parse)
    {
        return locale;
    }
    browser_locale(request.headers()).unwrap_or(engine.policy().default_locale)
}

/// The first shipped language the browser asks for.
pub(super) fn browser_locale(headers: &header::HeaderMap) -> Option<Locale> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Locale::first_of(v.split(',')))
}

/// The one answer to every token that does not lead to a page.
pub(super) fn invalid_link(engine: &Engine, locale: Locale) -> HttpResponse {
    let w = page_words(locale);
    message(
        engine,
        locale,
        StatusCode::NOT_FOUND,
        w.invalid_title,
        w.invalid_message,
    )
}
