//! The customer's billing page, where every email's link leads:
//! `GET /billing/update/{token}` shows what is owed and the ways out;
//! `POST /billing/update/{token}/card` sends the customer to the
//! processor's card page (303); coming back to `/billing/update/{token}/done`
//! retries the charge at once. Any bad, tampered, foreign or expired token
//! gets the same friendly 404 page, which reveals nothing.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use crate::domain::ids::CustomerId;
use crate::domain::links::{self, LinkSubject};
use crate::domain::money::Money;
use crate::engine::Engine;
use crate::engine::apply::timezone_of;
use crate::engine::customer_actions;
use crate::state::AppState;
use crate::store::cases::CaseRow;

#[derive(Template)]
#[template(path = "pages/update.html")]
struct UpdatePage {
    p: PageView,
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
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
    card_action: String,
    invoice_url: Option<String>,
    /// The policy's offers: (form action, label).
    offers: Vec<(String, String)>,
}

/// Who a genuine token is for.
enum Holder {
    Case(Box<CaseRow>),
    Customer(String),
}

fn html(status: actix_web::http::StatusCode, body: askama::Result<String>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Frame-Options", "DENY"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a billing page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn message(status: actix_web::http::StatusCode, title: &str, message: &str) -> HttpResponse {
    html(status, MessagePage { title, message }.render())
}

/// The one answer to every token that does not lead to a page.
fn invalid_link() -> HttpResponse {
    message(
        actix_web::http::StatusCode::NOT_FOUND,
        "This link is no longer valid",
        "Links in our emails work for a limited time. The most recent email about your payment has a fresh one; if you need help, reply to it.",
    )
}

/// What `token` is for, if it is genuine, unexpired and its case exists.
async fn holder(engine: &Engine, token: &str) -> Result<Holder, HttpResponse> {
    let now = engine.clock.now().timestamp();
    let subject = links::verify(engine.link_secret(), token, now).map_err(|e| {
        tracing::info!(reason = %e, "billing page: link refused");
        invalid_link()
    })?;
    match subject {
        LinkSubject::Case(id) => match engine.store.case_by_id(id).await {
            Ok(Some(case)) if case.state.is_some() => Ok(Holder::Case(Box::new(case))),
            Ok(_) => Err(invalid_link()),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "billing page: reading the case failed");
                Err(HttpResponse::ServiceUnavailable().finish())
            }
        },
        LinkSubject::Customer(id) => Ok(Holder::Customer(id)),
    }
}

fn base(engine: &Engine) -> &str {
    engine.config.public_url.as_str().trim_end_matches('/')
}

fn case_view(engine: &Engine, case: &CaseRow, token: &str) -> PageView {
    let state = case.track.case.as_ref().map(|c| c.state);
    let owed = Money::describe(case.amount_due, &case.currency);
    let tz = timezone_of(engine, case);
    let opened = case
        .opened_at
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.with_timezone(&tz).format("%-d %B %Y").to_string());
    let mut details = vec![("Invoice", case.invoice_id.clone())];
    if let Some(product) = &case.description {
        details.insert(0, ("Plan", product.clone()));
    }
    use crate::domain::case::CaseState;
    match (state, opened) {
        (Some(CaseState::Recovered), _) => {
            let paid = case.amount_paid.unwrap_or(case.amount_due);
            details.push(("Paid", Money::describe(paid, &case.currency)));
        }
        (Some(s), Some(date)) if !s.is_terminal() => details.push(("Payment due since", date)),
        _ => {}
    }
    let (title, status, settled, message, live) = match state {
        Some(CaseState::Recovered) => (
            "Your payment went through".to_owned(),
            "Paid",
            true,
            "Thank you: the invoice is paid and there is nothing more to do.".to_owned(),
            false,
        ),
        Some(s) if s.is_terminal() => (
            "This invoice is closed".to_owned(),
            "Closed",
            true,
            "There is nothing to pay here any more. If you would like to come back, reply to our last email.".to_owned(),
            false,
        ),
        _ => {
            let reason = case
                .track
                .case
                .as_ref()
                .and_then(|c| c.latest.as_ref())
                .map_or("your bank declined the payment", |l| l.customer_reason());
            (
                "Your payment didn't go through".to_owned(),
                "Payment due",
                false,
                format!("We couldn't take the payment: {reason}. Update your card and we'll try again right away."),
                true,
            )
        }
    };
    PageView {
        title,
        status,
        settled,
        message,
        amount: live.then_some(owed),
        details,
        can_update_card: live,
        card_action: format!("{}/billing/update/{token}/card", base(engine)),
        // Only a secure page of the processor's is linked.
        invoice_url: case
            .hosted_invoice_url
            .clone()
            .filter(|u| live && u.starts_with("https://")),
        offers: if live && case.subscription_id.is_some() {
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

fn customer_view(engine: &Engine, token: &str) -> PageView {
    PageView {
        title: "Keep your subscription running".into(),
        status: "Card expiring",
        settled: false,
        message: "The card we have on file expires soon. Add a new one now and your next payment goes through without a hitch.".into(),
        amount: None,
        details: Vec::new(),
        can_update_card: true,
        card_action: format!("{}/billing/update/{token}/card", base(engine)),
        invoice_url: None,
        offers: Vec::new(),
    }
}

/// `GET /billing/update/{token}`.
pub async fn page(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let engine = &state.engine;
    let view = match holder(engine, &token).await {
        Ok(Holder::Case(case)) => case_view(engine, &case, &token),
        Ok(Holder::Customer(_)) => customer_view(engine, &token),
        Err(answer) => return answer,
    };
    html(
        actix_web::http::StatusCode::OK,
        UpdatePage { p: view }.render(),
    )
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

/// `POST /billing/update/{token}/card`: 303 to the processor's card page.
pub async fn card(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    if cross_site(&request, engine) {
        return message(
            actix_web::http::StatusCode::FORBIDDEN,
            "Please use the link in your email",
            "This request did not come from your billing page.",
        );
    }
    let customer = match holder(engine, &token).await {
        Ok(Holder::Case(case)) => case.customer_id,
        Ok(Holder::Customer(id)) => id,
        Err(answer) => return answer,
    };
    let Ok(customer) = CustomerId::parse(&customer) else {
        return invalid_link();
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
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "We couldn't open the card page just now",
                "Please try again in a minute. Nothing was charged.",
            )
        }
    }
}

/// `GET /billing/update/{token}/done`: back from the card page; the charge
/// is tried again now.
pub async fn done(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let engine = &state.engine;
    match holder(engine, &token).await {
        Ok(Holder::Case(case)) => {
            let live = case
                .track
                .case
                .as_ref()
                .is_some_and(|c| !c.state.is_terminal());
            if live {
                if let Err(e) = customer_actions::card_updated(engine, case.id).await {
                    tracing::error!(error = %format!("{e:#}"), case_id = case.id, "retrying after the card update failed");
                }
            }
            message(
                actix_web::http::StatusCode::OK,
                "Thanks — we'll try your card again now",
                "You'll get an email as soon as the payment goes through. You can close this page.",
            )
        }
        Ok(Holder::Customer(_)) => message(
            actix_web::http::StatusCode::OK,
            "Thanks — your card is up to date",
            "Your next payment will use the new card. You can close this page.",
        ),
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
    use actix_web::http::StatusCode;
    let engine = &state.engine;
    let (token, offer_id) = path.into_inner();
    if cross_site(&request, engine) {
        return message(
            StatusCode::FORBIDDEN,
            "Please use the link in your email",
            "This request did not come from your billing page.",
        );
    }
    let case = match holder(engine, &token).await {
        Ok(Holder::Case(case)) => case,
        Ok(Holder::Customer(_)) => return invalid_link(),
        Err(answer) => return answer,
    };
    let Some(offer) = engine.policy().offers.iter().find(|o| o.id == offer_id) else {
        return message(
            StatusCode::NOT_FOUND,
            "This offer is not available",
            "It may have ended. Your billing page shows what you can do now.",
        );
    };
    match take_offer(engine, case.id, offer).await {
        Ok(OfferOutcome::Done(taken)) => {
            let text = match taken.kind {
                crate::domain::policy::OfferKind::PlanChange => format!(
                    "Done: {}. We'll take care of the open payment and email you as soon as it has gone through.",
                    taken.label
                ),
                crate::domain::policy::OfferKind::Pause => format!(
                    "Done: {}. Nothing more will be charged while your subscription is paused.",
                    taken.label
                ),
            };
            message(StatusCode::OK, "Your subscription is updated", &text)
        }
        Ok(OfferOutcome::CaseEnded) => message(
            StatusCode::CONFLICT,
            "There is nothing to change any more",
            "This invoice is settled or closed. Your billing page shows where things stand.",
        ),
        Ok(OfferOutcome::NotPossible(why)) => {
            tracing::warn!(case_id = case.id, offer = %offer.id, why, "an offer cannot apply to this case");
            message(
                StatusCode::CONFLICT,
                "We couldn't make this change here",
                "Please reply to our email and we'll sort it out with you. Nothing was changed.",
            )
        }
        Ok(OfferOutcome::Refused) => message(
            StatusCode::CONFLICT,
            "We couldn't make this change",
            "Nothing was changed. Please update your card instead, or reply to our email and we'll help.",
        ),
        Ok(OfferOutcome::Unavailable) => message(
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
