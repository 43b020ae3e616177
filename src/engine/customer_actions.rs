//! What customers do on their pages, fed to their case like an event: back
//! from the processor's card page, the case learns the customer's default
//! payment method from the processor, and a method not tried yet on the
//! invoice brings one retry, through the same gate as every charge. Coming
//! back again (a reload, the back button, an image tag pointing at the
//! page) finds the same method and changes nothing.

use crate::domain::ids::CaseId;
use anyhow::Context as _;
use serde_json::json;

use super::Engine;
use super::apply::apply;
use crate::domain::case::{EventInput, Input};
use crate::store::cases;

/// What the return from the card page came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardReturn {
    /// The processor shows a payment method this case had not seen: a
    /// retry is planned (now, or as soon as the gate allows).
    NewMethod,
    /// Nothing new to charge: the same method as before, none yet, or the
    /// case no longer charges.
    NothingNew,
    /// The processor could not be asked; its webhook for the new card
    /// will bring the retry.
    Unknown,
}

/// The customer came back from the card page for case `case_id`.
pub async fn card_updated(engine: &Engine, case_id: CaseId) -> anyhow::Result<CardReturn> {
    let Some(case) = engine
        .store
        .case_by_id(case_id)
        .await
        .with_context(|| format!("reading case {case_id}"))?
    else {
        return Ok(CardReturn::NothingNew);
    };
    let customer = &case.customer_id;
    let method = match engine.processor.default_payment_method(customer).await {
        Ok(Some(method)) => method,
        Ok(None) => return Ok(CardReturn::NothingNew),
        Err(e) => {
            tracing::warn!(error = %e, case_id = %case_id, "reading the customer's payment method after the card page failed; its webhook will bring the retry");
            return Ok(CardReturn::Unknown);
        }
    };
    let Some((mut tx, case)) = engine.lock_case(case_id).await? else {
        return Ok(CardReturn::NothingNew);
    };
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
    let planned = applied.changed && applied.notes.is_empty();
    if applied.changed {
        let detail = json!({"text": cause, "payment_method": method});
        cases::add_timeline(&mut tx, case_id, engine.clock.now_ms(), "note", &detail)
            .await
            .with_context(|| format!("adding to the timeline of case {case_id}"))?;
    }
    tx.commit()
        .await
        .with_context(|| format!("committing the new card of case {case_id}"))?;
    engine.wake_runner();
    Ok(if planned {
        CardReturn::NewMethod
    } else {
        CardReturn::NothingNew
    })
}
