//! The customer's billing page, where every email's link leads:
//! `GET /billing/update/{token}` shows what is owed and the ways out;
//! `POST /billing/update/{token}/card` sends the customer to the
//! processor's card page (303); coming back to `/billing/update/{token}/done`
//! retries the charge at once. Any bad, tampered, foreign or expired token
//! gets the same friendly 404 page, which reveals nothing.

pub mod limit;
mod words;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use self::words::{PageWords, page_words};
use crate::domain::brand::Brand;
use crate::domain::ids::CustomerId;
use crate::domain::links::{self, LinkSubject, Purpose};
use crate::domain::locale::Locale;
use crate::domain::policy::OfferKind;
use crate::engine::Engine;
use crate::engine::apply::timezone_of;
use crate::engine::customer_actions;
use crate::jobs::send_email::plan_name;
use crate::mail::Why;
use crate::state::AppState;
use crate::store::cases::CaseRow;

/// What every page shares: the brand, the language, the footer.
struct Chrome {
    lang: &'static str,
    brand: Brand,
    footer: &'static str,
    questions: &'static str,
}

#[derive(Template)]
#[template(path = "pages/update.html")]
struct UpdatePage {
    c: Chrome,
    p: PageView,
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
    c: Chrome,
    title: &'a str,
    message: &'a str,
}

/// What the update page shows.
struct PageView {
    title: String,
    status: &'static str,
    settled: bool,
    message: String,
    amount: Option<String>,
    details: Vec<(&'static str, String)>,
    can_update_card: bool,
    update_label: &'static str,
    card_action: String,
    invoice_url: Option<String>,
    pay_label: &'static str,
    other_options: &'static str,
    /// The policy's offers: (form action, label).
    offers: Vec<(String, String)>,
}

/// Who a genuine token is for.
enum Holder {
    Case(Box<CaseRow>),
    Customer(String),
}

fn chrome(engine: &Engine, locale: Locale) -> Chrome {
    let w = page_words(locale);
    Chrome {
        lang: locale.as_str(),
        brand: engine.config.brand.clone(),
        footer: w.footer,
        questions: w.questions,
    }
}

fn html(status: StatusCode, body: askama::Result<String>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'",
            ))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a billing page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn message(
    engine: &Engine,
    locale: Locale,
    status: StatusCode,
    title: &str,
    message: &str,
) -> HttpResponse {
    let c = chrome(engine, locale);
    html(status, MessagePage { c, title, message }.render())
}

/// The language of a page: the customer's own when the processor told us,
/// else the browser's, else the policy's default.
async fn locale_for(engine: &Engine, request: &HttpRequest, customer_id: Option<&str>) -> Locale {
    if let Some(id) = customer_id {
        if let Ok(Some(info)) = engine.store.cached_customer(id).await {
            if let Some(locale) = info.locale.as_deref().and_then(Locale::parse) {
                return locale;
            }
        }
    }
    browser_locale(request.headers()).unwrap_or(engine.policy().default_locale)
}

/// The first shipped language the browser asks for.
fn browser_locale(headers: &header::HeaderMap) -> Option<Locale> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Locale::first_of(v.split(',')))
}

/// The one answer to every token that does not lead to a page.
fn invalid_link(engine: &Engine, locale: Locale) -> HttpResponse {
    let w = page_words(locale);
    message(
        engine,
        locale,
        StatusCode::NOT_FOUND,
        w.invalid_title,
        w.invalid_message,
    )
}

/// Whether a case ended long enough ago that its links no longer work.
fn ended_long_ago(engine: &Engine, case: &CaseRow) -> bool {
    let days = i64::from(engine.policy().link_days_after_end);
    case.has_ended() && case.updated_at + days * 86_400_000 < engine.clock.now_ms()
}

/// What `token` is for, if it is genuine, meant for `purpose`, unexpired
/// and its case exists (and did not end too long ago).
async fn holder(
    engine: &Engine,
    request: &HttpRequest,
    token: &str,
    purpose: Purpose,
) -> Result<Holder, HttpResponse> {
    link_holder(engine, request, token, purpose)
        .await
        .map(|(holder, _)| holder)
}

/// `holder`, with the purpose the token was signed for (a billing link
/// may be looked at as a receipt).
async fn link_holder(
    engine: &Engine,
    request: &HttpRequest,
    token: &str,
    purpose: Purpose,
) -> Result<(Holder, Purpose), HttpResponse> {
    let now = engine.clock.now().timestamp();
    let refused = |why: &dyn std::fmt::Display| {
        tracing::info!(reason = %why, "billing page: link refused");
    };
    let link = match links::verify(&engine.link_secrets(), token, purpose, now) {
        Ok(link) => link,
        Err(e) => {
            refused(&e);
            let locale = locale_for(engine, request, None).await;
            return Err(invalid_link(engine, locale));
        }
    };
    match link.subject {
        LinkSubject::Case(id) => match engine.store.case_by_id(id).await {
            Ok(Some(case)) if case.state.is_some() && !ended_long_ago(engine, &case) => {
                Ok((Holder::Case(Box::new(case)), link.purpose))
            }
            Ok(_) => {
                refused(&"no such case, or it ended long ago");
                let locale = locale_for(engine, request, None).await;
                Err(invalid_link(engine, locale))
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "billing page: reading the case failed");
                Err(HttpResponse::ServiceUnavailable().finish())
            }
        },
        LinkSubject::Customer(id) => Ok((Holder::Customer(id), link.purpose)),
    }
}

fn base(engine: &Engine) -> &str {
    engine.config.public_url.as_str().trim_end_matches('/')
}

fn case_view(
    engine: &Engine,
    case: &CaseRow,
    token: &str,
    purpose: Purpose,
    locale: Locale,
) -> PageView {
    use crate::domain::case::CaseState;
    let w: &PageWords = page_words(locale);
    let state = case.track.case.as_ref().map(|c| c.state);
    let owed = locale.money(case.amount_due, &case.currency);
    let tz = timezone_of(engine, case);
    let opened = case
        .opened_at
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| locale.short_date(t.with_timezone(&tz).date_naive()));
    let mut details = Vec::new();
    if let Some(plan) = case.description.as_deref().and_then(plan_name) {
        details.push((w.plan, plan));
    }
    details.push((
        w.invoice,
        case.invoice_number
            .clone()
            .unwrap_or_else(|| case.invoice_id.clone()),
    ));
    match (state, opened) {
        (Some(CaseState::Recovered), _) => {
            let paid = case.amount_paid.unwrap_or(case.amount_due);
            details.push((w.paid, locale.money(paid, &case.currency)));
        }
        (Some(s), Some(date)) if !s.is_terminal() => details.push((w.due_since, date)),
        _ => {}
    }
    let (title, status, settled, message, live) = match state {
        Some(CaseState::Recovered) => (
            w.paid_title,
            w.paid_status,
            true,
            w.paid_message.to_owned(),
            false,
        ),
        Some(s) if s.is_terminal() => (
            w.closed_title,
            w.closed_status,
            true,
            w.closed_message.to_owned(),
            false,
        ),
        _ => {
            let latest = case.track.case.as_ref().and_then(|c| c.latest.as_ref());
            let reason = match Why::of(latest) {
                Why::Funds => w.reason_funds,
                Why::Expired => w.reason_expired,
                Why::Card => w.reason_card,
                Why::Auth => w.reason_auth,
                Why::Declined => w.reason_declined,
            };
            (
                w.due_title,
                w.due_status,
                false,
                w.due_message.replace("{reason}", reason),
                true,
            )
        }
    };
    // A receipt link only looks.
    let act = live && purpose == Purpose::Billing;
    PageView {
        title: title.to_owned(),
        status,
        settled,
        message,
        amount: live.then_some(owed),
        details,
        can_update_card: act,
        update_label: w.update_card,
        card_action: format!("{}/billing/update/{token}/card", base(engine)),
        // Only a secure page of the processor's is linked.
        invoice_url: case
            .hosted_invoice_url
            .clone()
            .filter(|u| act && u.starts_with("https://")),
        pay_label: w.pay_invoice,
        other_options: w.other_options,
        offers: if act && case.subscription_id.is_some() {
            offers_for(engine, token)
        } else {
            Vec::new()
        },
    }
}

/// The policy's offers as the page's buttons.
fn offers_for(engine: &Engine, token: &str) -> Vec<(String, String)> {
    engine
        .policy()
        .offers
        .iter()
        .map(|o| {
            let action = format!("{}/billing/offers/{token}/{}", base(engine), o.id);
            (action, o.label.clone())
        })
        .collect()
}

fn customer_view(engine: &Engine, token: &str, locale: Locale) -> PageView {
    let w = page_words(locale);
    PageView {
        title: w.expiring_title.into(),
        status: w.expiring_status,
        settled: false,
        message: w.expiring_message.into(),
        amount: None,
        details: Vec::new(),
        can_update_card: true,
        update_label: w.update_card,
        card_action: format!("{}/billing/update/{token}/card", base(engine)),
        invoice_url: None,
        pay_label: w.pay_invoice,
        other_options: w.other_options,
        offers: Vec::new(),
    }
}

/// `GET /billing/update/{token}`.
pub async fn page(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    let (view, locale) = match link_holder(engine, &request, &token, Purpose::Receipt).await {
        Ok((Holder::Case(case), signed_for)) => {
            let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
            (case_view(engine, &case, &token, signed_for, locale), locale)
        }
        Ok((Holder::Customer(id), _)) => {
            let locale = locale_for(engine, &request, Some(&id)).await;
            (customer_view(engine, &token, locale), locale)
        }
        Err(answer) => return answer,
    };
    let c = chrome(engine, locale);
    html(StatusCode::OK, UpdatePage { c, p: view }.render())
}

/// A POST from another site (a forged form) is refused: browsers say where
/// a request comes from in `Sec-Fetch-Site` and `Origin`.
fn cross_site(request: &HttpRequest, engine: &Engine) -> bool {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s == "cross-site") {
        return true;
    }
    match header("origin") {
        None | Some("null") => false,
        Some(origin) => {
            let ours = engine.config.public_url.origin().ascii_serialization();
            let own_host = request.connection_info().host().to_owned();
            origin != ours && origin.split("://").nth(1) != Some(own_host.as_str())
        }
    }
}

fn forged(engine: &Engine) -> HttpResponse {
    message(
        engine,
        Locale::En,
        StatusCode::FORBIDDEN,
        "Please use the link in your email",
        "This request did not come from your billing page.",
    )
}

/// `POST /billing/update/{token}/card`: 303 to the processor's card page.
pub async fn card(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    if cross_site(&request, engine) {
        return forged(engine);
    }
    let customer = match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => case.customer_id,
        Ok(Holder::Customer(id)) => id,
        Err(answer) => return answer,
    };
    let Ok(customer) = CustomerId::parse(&customer) else {
        return invalid_link(engine, Locale::En);
    };
    let return_url = format!("{}/billing/update/{token}/done", base(engine));
    // A portal session changes nothing by itself: a key per click.
    let key = format!(
        "{}-{}",
        engine.idempotency_key(customer.as_str(), "portal", 1, 0),
        crate::random::base62(12)
    );
    match engine
        .processor
        .card_update_session(&customer, &return_url, &key)
        .await
    {
        Ok(url) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => {
            tracing::error!(error = %e, customer = %customer, "opening the processor's card page failed");
            message(
                engine,
                Locale::En,
                StatusCode::SERVICE_UNAVAILABLE,
                "We couldn't open the card page just now",
                "Please try again in a minute. Nothing was charged.",
            )
        }
    }
}

/// `GET /billing/update/{token}/done`: back from the card page; the charge
/// is tried again now.
pub async fn done(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => {
            let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
            if case.track.case.is_some() && !case.has_ended() {
                if let Err(e) = customer_actions::card_updated(engine, case.id).await {
                    tracing::error!(error = %format!("{e:#}"), case_id = case.id, "retrying after the card update failed");
                }
            }
            let w = page_words(locale);
            message(engine, locale, StatusCode::OK, w.done_title, w.done_message)
        }
        Ok(Holder::Customer(id)) => {
            let locale = locale_for(engine, &request, Some(&id)).await;
            let w = page_words(locale);
            message(
                engine,
                locale,
                StatusCode::OK,
                w.card_saved_title,
                w.card_saved_message,
            )
        }
        Err(answer) => answer,
    }
}

/// `POST /billing/offers/{token}/{offer}`: the customer takes an offer;
/// the same post twice changes the subscription once.
pub async fn offer(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    use crate::engine::offers::{OfferOutcome, take_offer};
    let engine = &state.engine;
    let (token, offer_id) = path.into_inner();
    if cross_site(&request, engine) {
        return forged(engine);
    }
    let case = match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => case,
        Ok(Holder::Customer(_)) => return invalid_link(engine, Locale::En),
        Err(answer) => return answer,
    };
    let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
    let say = |status, title: &str, text: &str| message(engine, locale, status, title, text);
    let Some(offer) = engine.policy().offers.iter().find(|o| o.id == offer_id) else {
        return say(
            StatusCode::NOT_FOUND,
            "This offer is not available",
            "It may have ended. Your billing page shows what you can do now.",
        );
    };
    let w = page_words(locale);
    match take_offer(engine, case.id, offer).await {
        Ok(OfferOutcome::Done(taken)) => {
            let text = match taken.kind {
                OfferKind::PlanChange => w.offer_plan_message,
                OfferKind::Pause => w.offer_pause_message,
            };
            say(
                StatusCode::OK,
                w.offer_title,
                &text.replace("{offer}", &taken.label),
            )
        }
        Ok(OfferOutcome::CaseEnded) => say(
            StatusCode::CONFLICT,
            "There is nothing to change any more",
            "This invoice is settled or closed. Your billing page shows where things stand.",
        ),
        Ok(OfferOutcome::NotPossible(why)) => {
            tracing::warn!(case_id = case.id, offer = %offer.id, why, "an offer cannot apply to this case");
            say(
                StatusCode::CONFLICT,
                "We couldn't make this change here",
                "Please reply to our email and we'll sort it out with you. Nothing was changed.",
            )
        }
        Ok(OfferOutcome::Refused) => say(
            StatusCode::CONFLICT,
            "We couldn't make this change",
            "Nothing was changed. Please update your card instead, or reply to our email and we'll help.",
        ),
        Ok(OfferOutcome::Unavailable) => say(
            StatusCode::SERVICE_UNAVAILABLE,
            "We couldn't make this change just now",
            "Please try again in a minute: the change is made only once, however often you ask.",
        ),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), case_id = case.id, "taking an offer failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}
