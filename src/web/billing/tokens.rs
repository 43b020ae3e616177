//! Who a link is for: a genuine, unexpired token for the wanted purpose
//! whose case exists and did not end too long ago.

use actix_web::{HttpRequest, HttpResponse};

use super::answer::{invalid_link, locale_for};
use crate::domain::links::{self, LinkSubject, Purpose};
use crate::domain::locale::Locale;
use crate::engine::Engine;
use crate::store::cases::CaseRow;

/// Who a genuine token is for.
pub(super) enum Holder {
    Case(Box<CaseRow>),
    Customer(String),
}

/// A post about a case from its page (an offer taken, a reactivation):
/// refused (403) when it came from another site, the friendly 404 when the
/// token leads to no case (a card-expiry link has none); else the case and
/// the customer's language.
pub(super) async fn posted_case(
    engine: &Engine,
    request: &HttpRequest,
    token: &str,
) -> Result<(Box<CaseRow>, Locale), HttpResponse> {
    if crate::web::origin::cross_site(request, &engine.config.public_url) {
        return Err(super::forged(engine, request));
    }
    match holder(engine, request, token, Purpose::Billing).await? {
        Holder::Case(case) => {
            let locale = locale_for(engine, request, Some(&case.customer_id)).await;
            Ok((case, locale))
        }
        Holder::Customer(id) => {
            let locale = locale_for(engine, request, Some(&id)).await;
            Err(invalid_link(engine, locale))
        }
    }
}

/// Whether a case ended long enough ago that its links no longer work.
fn ended_long_ago(engine: &Engine, case: &CaseRow) -> bool {
    let days = i64::from(engine.policy().link_days_after_end);
    case.has_ended() && case.updated_at + days * 86_400_000 < engine.clock.now_ms()
}

/// What `token` is for, if it is genuine, meant for `purpose`, unexpired
/// and its case exists (and did not end too long ago).
pub(super) async fn holder(
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
pub(super) async fn link_holder(
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
