//! `POST /billing/update/{token}/reactivate`: the way back after a cancel.
//! The canceled case's page (where the cancel email's button leads) posts
//! here; the answer is a 303 to the processor's account page for the
//! customer, which sends them back to the page. Opening the account page
//! changes nothing by itself, so a repeated post only opens it again.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::answer::{say, see_other};
use super::refusals::refusals;
use super::tokens::posted_case;
use super::view::base;
use crate::domain::case::CaseState;
use crate::state::AppState;

pub async fn reactivate(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let engine = &state.engine;
    let (case, locale) = match posted_case(engine, &request, &token).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
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
