//! `POST /billing/update/{token}/reactivate`: the way back after a cancel.
//! The canceled case's page (where the cancel email's button leads) posts
//! here; the answer is a 303 to the processor's account page for the
//! customer, which sends them back to the page. Opening the account page
//! changes nothing by itself, so a repeated post only opens it again.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::answer::{invalid_link, locale_for, say, see_other};
use super::forged;
use super::refusals::refusals;
use super::tokens::{Holder, holder};
use super::view::base;
use crate::domain::case::CaseState;
use crate::domain::links::Purpose;
use crate::state::AppState;
use crate::web::origin::cross_site;

pub async fn reactivate(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    if cross_site(&request, &engine.config.public_url) {
        return forged(engine, &request);
    }
    let case = match holder(engine, &request, &token, Purpose::Billing).await {
        Ok(Holder::Case(case)) => case,
        Ok(Holder::Customer(id)) => {
            let locale = locale_for(engine, &request, Some(&id)).await;
            return invalid_link(engine, locale);
        }
        Err(answer) => return answer,
    };
    let locale = locale_for(engine, &request, Some(&case.customer_id)).await;
    // Only a canceled subscription has something to reactivate; any other
    // case's page says where things stand.
    if case.state != Some(CaseState::Canceled) {
        return see_other(&format!("../{token}"));
    }
    let page = format!("{}/billing/update/{token}", base(engine));
    let key = format!(
        "{}-{}",
        engine.idempotency_key(case.customer_id.as_str(), "account", 1, 0),
        crate::random::base62(12)
    );
    match engine
        .processor
        .account_session(&case.customer_id, &page, &key)
        .await
    {
        Ok(url) => see_other(&url),
        Err(e) => {
            tracing::error!(error = %e, case_id = %case.id, "opening the processor's account page failed");
            say(
                engine,
                locale,
                StatusCode::SERVICE_UNAVAILABLE,
                refusals(locale).account_page_down,
            )
        }
    }
}
