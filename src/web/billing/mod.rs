//! The customer's billing page, where every email's link leads:
//! `GET /billing/update/{token}` shows what is owed and the ways out;
//! `POST /billing/update/{token}/card` sends the customer to the
//! processor's card page (303); coming back to `/billing/update/{token}/done`
//! retries the charge once for a payment method the invoice has not seen
//! (however often it is loaded). Any bad, tampered, foreign or expired token
//! gets the same friendly 404 page, which reveals nothing.

mod answer;
pub mod limit;
mod tokens;
mod view;
mod words;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use self::answer::{UpdatePage, chrome, html, invalid_link, locale_for, message};
use self::tokens::{Holder, holder, link_holder};
use self::view::{base, case_view, customer_view, payer};
use self::words::page_words;
use crate::domain::ids::CustomerId;
use crate::domain::links::Purpose;
use crate::domain::locale::Locale;
use crate::domain::policy::OfferKind;
use crate::engine::Engine;
use crate::engine::customer_actions;
use crate::state::AppState;
use crate::web::origin::cross_site;

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
            let name = case.customer_name.as_deref();
            let email = case.customer_email.as_deref();
            let payer = payer(engine, &case.customer_id, name, email).await;
            let policy = engine.policy_of(&case).await;
            let view = case_view(engine, &policy, &case, &token, signed_for, &payer, locale);
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
    if cross_site(&request, &engine.config.public_url) {
        return forged(engine);
    }
    let customer = match holder(engine, &request, &token, Purpose::Billing).await {
        // A settled or closed case has nothing left to pay: no card page
        // (the page hides the button; an old form must not open one).
        Ok(Holder::Case(case)) if case.has_ended() => {
            let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
            return message(
                engine,
                locale,
                StatusCode::CONFLICT,
                "There is nothing to pay here any more",
                "This invoice is settled or closed. Your billing page shows where things stand.",
            );
        }
        Ok(Holder::Case(case)) => case.customer_id.to_string(),
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

/// `GET /billing/update/{token}/done`: back from the card page. A payment
/// method the invoice has not seen brings one retry (through the charge
/// gate); loading the page again changes nothing.
pub async fn done(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => {
            let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
            if case.track.case.is_some()
                && !case.has_ended()
                && let Err(e) = customer_actions::card_updated(engine, case.id).await
            {
                tracing::error!(error = %format!("{e:#}"), case_id = %case.id, "retrying after the card update failed");
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
    if cross_site(&request, &engine.config.public_url) {
        return forged(engine);
    }
    let case = match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => case,
        Ok(Holder::Customer(_)) => return invalid_link(engine, Locale::En),
        Err(answer) => return answer,
    };
    let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
    let say = |status, title: &str, text: &str| message(engine, locale, status, title, text);
    let policy = engine.policy_of(&case).await;
    let Some(offer) = policy.offers.iter().find(|o| o.id == offer_id) else {
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
            tracing::warn!(case_id = %case.id, offer = %offer.id, why, "an offer cannot apply to this case");
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
            tracing::error!(error = %format!("{e:#}"), case_id = %case.id, "taking an offer failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}
