//! What customers do on their pages, fed to their case like an event: back
//! from the processor's card page, the return spends the visit the page's
//! button opened (once: a reload, the back button or an image tag pointing
//! at the return finds it spent and changes nothing), the case learns the
//! customer's default payment method from the processor, and a method not
//! tried yet on the invoice brings one retry, through the same gate as
//! every charge.

use crate::domain::ids::CaseId;
use anyhow::Context as _;
use serde_json::json;

use super::Engine;
use super::apply::apply;
use crate::domain::card_visit::{self, CardVisit, Found, Returned};
use crate::domain::case::{EventInput, Input};
use crate::store::{card_visits, cases};

/// The customer came back from the card page to case `case_id` with visit
/// `visit_id`. `None`: no such open visit of this case (spent before, or
/// never opened), and nothing changed.
pub async fn card_returned(
    engine: &Engine,
    case_id: CaseId,
    visit_id: &str,
) -> anyhow::Result<Option<Found>> {
    let visit = engine
        .store
        .card_visit(visit_id)
        .await
        .with_context(|| format!("reading card visit {visit_id}"))?;
    let Some(visit) = visit.filter(|v| v.case_id == Some(case_id) && v.returned.is_none()) else {
        return Ok(None);
    };
    let customer = crate::domain::ids::CustomerId::parse(&visit.customer_id)
        .with_context(|| format!("card visit {visit_id}: the customer id"))?;
    let asked = engine.processor.default_payment_method(&customer).await;
    if let Err(e) = &asked {
        tracing::warn!(error = %e, case_id = %case_id, "reading the customer's payment method after the card page failed; its webhook will bring the retry");
    }
    let Some((mut tx, case)) = engine.lock_case(case_id).await? else {
        return Ok(None);
    };
    let method = asked.as_ref().ok().cloned().flatten();
    let found = card_visit::found(&visit, &asked);
    let returned = Returned {
        at: engine.clock.now(),
        method: method.clone(),
        found,
    };
    if !card_visits::spend_card_visit(&mut tx, visit_id, case_id, &returned)
        .await
        .with_context(|| format!("spending card visit {visit_id} of case {case_id}"))?
    {
        return Ok(None);
    }
    // A card the processor's webhook brought meanwhile is already planned.
    let seen = |m: &String| {
        case.track
            .case
            .as_ref()
            .is_some_and(|c| c.methods.contains(m))
    };
    if let (Found::NewMethod, Some(method)) = (found, &method)
        && !seen(method)
    {
        let input = Input::Event {
            // One input per payment method: seen once, a no-op after.
            id: format!("page:card-updated:{case_id}:{method}"),
            created: engine.clock.now(),
            what: EventInput::NewPaymentMethod {
                method: Some(method.clone()),
            },
        };
        let cause = "the customer updated their card on the billing page";
        let applied = apply(engine, &mut tx, &case, input, cause)
            .await
            .with_context(|| format!("applying {} to case {}", cause, case.id))?;
        if applied.changed {
            let detail = json!({"text": cause, "payment_method": method});
            cases::add_timeline(&mut tx, case_id, engine.clock.now_ms(), "note", &detail)
                .await
                .with_context(|| format!("adding to the timeline of case {case_id}"))?;
        }
    }
    tx.commit().await.with_context(|| {
        format!("committing the return of card visit {visit_id} to case {case_id}")
    })?;
    engine.wake_runner();
    Ok(Some(found))
}

/// The customer leaves case `case_id`'s page for the processor's card page:
/// a visit that the return spends (its id goes in the return URL).
pub async fn open_card_visit(engine: &Engine, case_id: CaseId) -> anyhow::Result<Option<String>> {
    let Some(case) = engine
        .store
        .case_by_id(case_id)
        .await
        .with_context(|| format!("reading case {case_id}"))?
    else {
        return Ok(None);
    };
    let known = case.track.case.as_ref();
    let visit = CardVisit {
        id: crate::random::base62(22),
        case_id: Some(case_id),
        customer_id: case.customer_id.to_string(),
        opened_at: engine.clock.now(),
        retries_before: known.map_or(0, |c| c.retries_made),
        known_methods: known.map(|c| c.methods.clone()).unwrap_or_default(),
        returned: None,
    };
    engine
        .store
        .open_card_visit(&visit)
        .await
        .with_context(|| format!("opening a card visit for case {case_id}"))?;
    Ok(Some(visit.id))
}
