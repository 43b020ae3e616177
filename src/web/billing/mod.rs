//! The customer's billing page, where every email's link leads:
//! `GET /billing/update/{token}` shows what is owed and the ways out;
//! `POST /billing/update/{token}/card` opens a visit and sends the customer
//! to the processor's card page (303); coming back to
//! `/billing/update/{token}/done?visit=…` spends the visit (once, however
//! often it is loaded: a card the invoice has not seen brings one charge)
//! and redirects (303) to the page, which shows what came of it — paid,
//! declined, or still on its way (with a Check again link). Any bad,
//! tampered, foreign or expired token gets the same friendly 404 page,
//! which reveals nothing. A canceled subscription's page has a button
//! (`POST …/reactivate`) to the processor's checkout for it, and says
//! "welcome back" once the customer subscribed again.

mod answer;
pub mod limit;
mod offers;
mod reactivate;
mod refusals;
mod tokens;
mod view;
mod words;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use self::answer::{
    UpdatePage, browser_locale, chrome, html, invalid_link, locale_for, message, say, see_other,
};
use self::refusals::refusals;
use self::tokens::{Holder, holder, link_holder};
use self::view::{base, case_view, customer_view, payer, planned};
use self::words::page_words;
use serde::Deserialize;

use crate::domain::card_visit::{self, VisitOutcome};
use crate::domain::ids::CustomerId;
use crate::domain::links::Purpose;
use crate::domain::locale::Locale;
use crate::engine::Engine;
use crate::engine::customer_actions;
use crate::engine::offers::OfferContext;
use crate::state::AppState;
use crate::web::origin::cross_site;

pub use self::offers::{offer, offer_terms};
pub use self::reactivate::reactivate;

/// The visit a page or return names (`?visit=…`); the offer just taken
/// (`?offer=…`).
#[derive(Debug, Deserialize)]
pub struct VisitQuery {
    visit: Option<String>,
    offer: Option<String>,
}

impl VisitQuery {
    /// The visit named, when it can be one (visit ids are short base62):
    /// anything else names none, and is never echoed into a URL.
    fn visit_id(&self) -> Option<&str> {
        self.visit
            .as_deref()
            .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
    }
}

/// What came of visit `id` to case `case`, if it is this case's and spent.
async fn visit_outcome(
    engine: &Engine,
    case: &crate::store::cases::CaseRow,
    id: Option<&str>,
    next_retry: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<VisitOutcome> {
    let id = id?;
    let visit = match engine.store.card_visit(id).await {
        Ok(visit) => visit?,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "billing page: reading a card visit failed");
            return None;
        }
    };
    if visit.case_id != Some(case.id) {
        return None;
    }
    card_visit::outcome(
        &visit,
        case.track.case.as_ref(),
        next_retry,
        engine.clock.now(),
    )
}

/// `GET /billing/update/{token}` (with `?visit=…` after a card update).
pub async fn page(
    state: web::Data<AppState>,
    token: web::Path<String>,
    query: web::Query<VisitQuery>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    let (view, locale) = match link_holder(engine, &request, &token, Purpose::Receipt).await {
        Ok((Holder::Case(case), signed_for)) => {
            let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
            let name = case.customer_name.as_deref();
            let email = case.customer_email.as_deref();
            let mut payer = payer(engine, &case.customer_id, name, email).await;
            let canceled = case.track.case.as_ref().map(|c| c.state)
                == Some(crate::domain::case::CaseState::Canceled);
            if canceled && signed_for == Purpose::Billing {
                payer.subscribed_again = reactivate::subscribed_again(engine, &case).await;
            }
            let policy = engine.policy_of(&case).await;
            let planned = planned(engine, &case).await;
            let visit = visit_outcome(engine, &case, query.visit_id(), planned.next_retry).await;
            let offers = match OfferContext::read(engine, &policy, &case).await {
                Ok(offers) => offers,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), case_id = %case.id, "billing page: reading the offers failed");
                    OfferContext::default()
                }
            };
            let view = case_view(
                engine,
                &policy,
                &case,
                &token,
                signed_for,
                &payer,
                locale,
                &planned,
                visit,
                query.visit_id(),
                &offers,
                query.offer.as_deref(),
            );
            (view, locale)
        }
        Ok((Holder::Customer(id), _)) => {
            let locale = locale_for(engine, &request, Some(&id)).await;
            let payer = payer(engine, &id, None, None).await;
            (customer_view(engine, &token, &payer, locale), locale)
        }
        Err(answer) => return answer,
    };
    let c = chrome(engine, locale);
    html(engine, StatusCode::OK, UpdatePage { c, p: view }.render())
}

/// A post from another site: refused in the browser's language (the
/// token is not looked at).
pub(super) fn forged(engine: &Engine, request: &HttpRequest) -> HttpResponse {
    let locale = browser_locale(request.headers()).unwrap_or(engine.policy().default_locale);
    say(
        engine,
        locale,
        StatusCode::FORBIDDEN,
        refusals(locale).forged,
    )
}

/// `POST /billing/update/{token}/card`: 303 to the processor's card page.
pub async fn card(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    if cross_site(&request, &engine.config.public_url) {
        return forged(engine, &request);
    }
    let customer = match holder(engine, &request, &token, Purpose::Billing).await {
        // A settled or closed case has nothing left to pay: no card page
        // (the page hides the button; an old form must not open one).
        Ok(Holder::Case(case)) if case.has_ended() => {
            let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
            return say(
                engine,
                locale,
                StatusCode::CONFLICT,
                refusals(locale).nothing_to_pay,
            );
        }
        Ok(Holder::Case(case)) => (case.customer_id.to_string(), Some(case.id)),
        Ok(Holder::Customer(id)) => (id, None),
        Err(answer) => return answer,
    };
    let (customer, case_id) = customer;
    let locale = locale_for(engine, &request, Some(&customer)).await;
    let Ok(customer) = CustomerId::parse(&customer) else {
        return invalid_link(engine, locale);
    };
    let mut return_url = format!("{}/billing/update/{token}/done", base(engine));
    // A case's visit: the return spends it once.
    if let Some(case_id) = case_id {
        match customer_actions::open_card_visit(engine, case_id).await {
            Ok(Some(visit)) => return_url.push_str(&format!("?visit={visit}")),
            Ok(None) => return invalid_link(engine, locale),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), case_id = %case_id, "opening a card visit failed");
                return unavailable(engine, locale);
            }
        }
    }
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
        Ok(url) => see_other(&url),
        Err(e) => {
            tracing::error!(error = %e, customer = %customer, "opening the processor's card page failed");
            unavailable(engine, locale)
        }
    }
}

fn unavailable(engine: &Engine, locale: Locale) -> HttpResponse {
    say(
        engine,
        locale,
        StatusCode::SERVICE_UNAVAILABLE,
        refusals(locale).card_page_down,
    )
}

/// `GET /billing/update/{token}/done?visit=…`: back from the card page.
/// The first return spends the visit the page's button opened (a payment
/// method the invoice has not seen brings one retry, through the charge
/// gate), then every load redirects (303) to the page, which shows what
/// came of it. Loading it again, or without a visit of this case's,
/// changes nothing.
pub async fn done(
    state: web::Data<AppState>,
    token: web::Path<String>,
    query: web::Query<VisitQuery>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => {
            let visit = query.visit_id();
            if let Some(visit) = visit
                && !case.has_ended()
                && let Err(e) = customer_actions::card_returned(engine, case.id, visit).await
            {
                tracing::error!(error = %format!("{e:#}"), case_id = %case.id, "the return from the card page failed");
            }
            // Relative to `…/update/{token}/done`: the page, on whatever
            // host and path prefix the customer came through.
            let mut page = format!("../{token}");
            if let Some(visit) = visit {
                page.push_str(&format!("?visit={visit}"));
            }
            see_other(&page)
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
