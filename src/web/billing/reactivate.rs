//! `POST /billing/update/{token}/reactivate`: the way back after a cancel.
//! The canceled case's page (where the cancel email's button leads) posts
//! here; the answer is a 303 to the processor's checkout page for the
//! canceled subscription's prices (a canceled subscription cannot be
//! resumed, only started again), which sends them back to the page; the
//! account page when the subscription cannot be copied. Opening the page
//! charges nothing by itself: a repeated post on the same day from the
//! same link opens the same checkout (one idempotency key per case, day
//! and link), and once the customer is subscribed again a post only shows
//! the page, which says so.

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
    if subscribed_again(engine, &case).await {
        return see_other(&page);
    }
    // One checkout per case, day and link (each email's link is its own
    // return address, and a key replayed with other parameters is refused).
    let day = u32::try_from(crate::clock::unix_millis() / 86_400_000).unwrap_or_default();
    let key = format!(
        "{}-{}",
        engine.idempotency_key(case.invoice_id.as_str(), "resubscribe", 1, day),
        link_tag(&page)
    );
    match engine
        .processor
        .resubscribe_session(
            &case.customer_id,
            case.subscription_id.as_ref(),
            &page,
            &key,
        )
        .await
    {
        Ok(url) => see_other(&url),
        Err(e) => {
            tracing::error!(error = %e, case_id = %case.id, "opening the processor's checkout page failed");
            say(
                engine,
                locale,
                StatusCode::SERVICE_UNAVAILABLE,
                refusals(locale).account_page_down,
            )
        }
    }
}

/// 12 hex digits of the link's SHA-256: which link asked, in a key.
fn link_tag(page: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(page.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How long the page waits for the processor to say whether a canceled
/// customer subscribed again.
const ASK_AT_MOST: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether the customer of canceled `case` has subscribed again since the
/// cancel (asked of the processor; `false` when it cannot say).
pub(super) async fn subscribed_again(
    engine: &crate::engine::Engine,
    case: &crate::domain::case_record::CaseRow,
) -> bool {
    let canceled_ms = case.ended_at.unwrap_or_else(|| engine.clock.now_ms());
    let since = engine.clock.to_real_ms(canceled_ms) / 1000;
    let asked =
        engine
            .processor
            .subscribed_again(&case.customer_id, case.subscription_id.as_ref(), since);
    // The page does not wait long on the processor: without an answer it
    // shows the button, whose checkout is made once per day and link.
    match tokio::time::timeout(ASK_AT_MOST, asked).await {
        Ok(Ok(again)) => again,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, case_id = %case.id, "asking the processor whether a canceled customer subscribed again failed");
            false
        }
        Err(_) => {
            tracing::warn!(case_id = %case.id, "the processor did not say in time whether a canceled customer subscribed again");
            false
        }
    }
}
