//! A case the events could not place well (no address on the invoice)
//! moves to the customer's own clock once their address is read from the
//! processor — as long as no retry was made yet, so no schedule a customer
//! was already charged on shifts under them.

use crate::domain::ids::CaseId;
use anyhow::Context as _;

use super::Engine;
use super::apply::apply;
use crate::domain::case::Input;
use crate::domain::case_record::CaseRow;
use crate::domain::zones::{self, ZoneSource};
use crate::store::cases;

/// Whether the customer's address may still move `case`: the events
/// placed it only by its card or by the default, and it is live and not
/// yet retried.
pub fn may_move(case: &CaseRow) -> bool {
    let untouched = case
        .track
        .case
        .as_ref()
        .is_some_and(|c| c.retries_made == 0 && !c.state.is_terminal());
    source_of(case).rank() < ZoneSource::CustomerAddress.rank() && untouched
}

/// What placed the case (cases from before sources were kept: the default).
fn source_of(case: &CaseRow) -> ZoneSource {
    case.timezone_source
        .as_deref()
        .and_then(ZoneSource::parse)
        .unwrap_or(ZoneSource::Policy)
}

/// Moves case `case_id` to `country`'s clock if that is better than what
/// placed it and it was not retried yet; says whether it moved.
pub async fn by_customer_address(
    engine: &Engine,
    case_id: CaseId,
    country: &str,
) -> anyhow::Result<bool> {
    let Some(tz) = zones::of_country(country) else {
        return Ok(false);
    };
    let Some((mut tx, case)) = engine.lock_case(case_id).await? else {
        return Ok(false);
    };
    if !may_move(&case) {
        return Ok(false);
    }
    let country = country.trim().to_ascii_uppercase();
    cases::relocate(
        &mut tx,
        case_id,
        tz.name(),
        ZoneSource::CustomerAddress,
        &country,
    )
    .await
    .with_context(|| format!("moving case {case_id} to {country}'s clock"))?;
    let Some(moved) = cases::lock_case(&mut tx, case_id)
        .await
        .with_context(|| format!("locking the moved case {case_id}"))?
    else {
        return Ok(false);
    };
    let reason = format!(
        "the customer's address at the processor is in {country}: the case now runs on {} (was {} from {})",
        tz.name(),
        case.timezone,
        source_of(&case).as_str()
    );
    apply(
        engine,
        &mut tx,
        &moved,
        Input::Replan { reason },
        "customer address",
    )
    .await
    .with_context(|| format!("planning case {case_id} again on the customer's clock"))?;
    tx.commit()
        .await
        .with_context(|| format!("committing the move of case {case_id}"))?;
    engine.wake_runner();
    tracing::info!(
        case_id = %case_id,
        country,
        timezone = tz.name(),
        "case placed by the customer's address"
    );
    Ok(true)
}
