//! What customers do on their pages, fed to their case like an event: back
//! from the processor's card page means a new card, so the case retries now
//! (the processor's webhook for the new card may come later, or never).

use serde_json::json;

use super::Engine;
use super::apply::apply;
use crate::domain::case::{EventInput, Input};
use crate::store::cases;

/// The customer came back from the card page for case `case_id`. Once per
/// attempt: reloading the page does not retry again.
pub async fn card_updated(engine: &Engine, case_id: i64) -> anyhow::Result<()> {
    let mut tx = engine.store.begin().await?;
    let Some(case) = cases::lock_case(&mut tx, case_id).await? else {
        return Ok(());
    };
    let attempt = case.track.case.as_ref().map_or(0, |c| c.retries_made);
    let input = Input::Event {
        id: format!("page:card-updated:{case_id}:{attempt}"),
        created: engine.clock.now(),
        what: EventInput::NewPaymentMethod,
    };
    let cause = "the customer updated their card on the billing page";
    if apply(engine, &mut tx, &case, input, cause).await?.changed {
        let detail = json!({"text": cause});
        cases::add_timeline(&mut tx, case_id, engine.clock.now_ms(), "note", &detail).await?;
    }
    tx.commit().await?;
    engine.wake_runner();
    Ok(())
}
