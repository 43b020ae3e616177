//! The policy's offers on the customer's page: `GET` shows an offer's
//! confirm step (what changes, the new price as the processor states it,
//! from when), its button `POST`s to the same address, which carries the
//! offer out once and redirects to the page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Duration;

use super::answer::{Chrome, chrome, html, invalid_link, locale_for, say, see_other};
use super::refusals::refusals;
use super::tokens::{Holder, holder, posted_case};
use super::view::base;
use crate::domain::links::Purpose;
use crate::engine::apply::timezone_of;
use crate::engine::offers::OfferContext;
use crate::jobs::send_email::plan_name;
use crate::mail::offer_words::{self, OfferFacts, Terms};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "pages/offer.html")]
struct OfferPage {
    c: Chrome,
    t: Terms,
    action: String,
    back: String,
}

/// `GET /billing/offers/{token}/{offer}`: the offer's confirm step. An
/// offer already taken, or a case that ended, sends the customer to the
/// page, which says where things stand.
pub async fn offer_terms(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    let (token, offer_id) = path.into_inner();
    let case = match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => case,
        Ok(Holder::Customer(id)) => {
            let locale = locale_for(engine, &request, Some(&id)).await;
            return invalid_link(engine, locale);
        }
        Err(answer) => return answer,
    };
    let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
    let policy = engine.policy_of(&case).await;
    let Some(offer) = policy.offers.iter().find(|o| o.id == offer_id) else {
        return say(
            engine,
            locale,
            StatusCode::NOT_FOUND,
            refusals(locale).offer_gone,
        );
    };
    let offers = match OfferContext::read(engine, &policy, &case).await {
        Ok(offers) => offers,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), case_id = %case.id, "offer page: reading the offers failed");
            OfferContext::default()
        }
    };
    if offers.taken.is_some() || case.has_ended() || case.subscription_id.is_none() {
        return see_other(&format!("../../update/{token}"));
    }
    // A choice the processor could not carry out yet stands (posting again
    // completes it): its terms, its pause's end, are the ones shown.
    let pending = match engine.store.offer_choice(case.id).await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), case_id = %case.id, "offer page: reading the pending choice failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    if let Some(p) = &pending
        && p.offer_id != offer.id
        && policy.offers.iter().any(|o| o.id == p.offer_id)
    {
        return see_other(&p.offer_id);
    }
    let tz = timezone_of(engine, &case);
    let ends = pending
        .and_then(|p| p.resumes_at)
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .unwrap_or_else(|| engine.clock.now() + Duration::days(i64::from(offer.pause_days)));
    let resumes_on = locale.date(ends.with_timezone(&tz).date_naive());
    let open_amount = locale.money(case.amount_due, &case.currency);
    let current_plan = case.description.as_deref().and_then(plan_name);
    let facts = OfferFacts {
        offer,
        price: offers.price(offer.price.as_ref()),
        current_plan: current_plan.as_deref(),
        open_amount: &open_amount,
        resumes_on: &resumes_on,
    };
    let page = OfferPage {
        c: chrome(engine, locale),
        t: offer_words::terms(locale, &facts),
        action: format!("{}/billing/offers/{token}/{}", base(engine), offer.id),
        back: format!("{}/billing/update/{token}", base(engine)),
    };
    html(engine, StatusCode::OK, page.render())
}

/// `POST /billing/offers/{token}/{offer}`: the customer takes an offer
/// (the confirm step's button); the same post twice changes the
/// subscription once; done, it redirects (303) to the page, which shows the
/// new state.
pub async fn offer(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    use crate::engine::offers::{OfferOutcome, take_offer};
    let engine = &state.engine;
    let (token, offer_id) = path.into_inner();
    let (case, locale) = match posted_case(engine, &request, &token).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let words = refusals(locale);
    let say = |status, said| say(engine, locale, status, said);
    let policy = engine.policy_of(&case).await;
    let Some(offer) = policy.offers.iter().find(|o| o.id == offer_id) else {
        return say(StatusCode::NOT_FOUND, words.offer_gone);
    };
    match take_offer(engine, case.id, offer).await {
        // Post, redirect, get: the page shows the new state, and a reload
        // posts nothing again.
        Ok(OfferOutcome::Done(taken)) => {
            see_other(&format!("../../update/{token}?offer={}", taken.offer.id))
        }
        Ok(OfferOutcome::CaseEnded) => say(StatusCode::CONFLICT, words.nothing_to_change),
        Ok(OfferOutcome::NotPossible(why)) => {
            tracing::warn!(case_id = %case.id, offer = %offer.id, why, "an offer cannot apply to this case");
            say(StatusCode::CONFLICT, words.offer_not_here)
        }
        Ok(OfferOutcome::Refused) => say(StatusCode::CONFLICT, words.offer_refused),
        Ok(OfferOutcome::Unavailable) => say(StatusCode::SERVICE_UNAVAILABLE, words.offer_busy),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), case_id = %case.id, "taking an offer failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}
