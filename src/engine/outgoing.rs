//! Writes the operator's outgoing events (`DUNWELL_NOTIFY_URL`) in the
//! transaction that changes the case, so an event exists exactly when its
//! change was committed; the job runner delivers them
//! (`jobs::deliver_event`).

use anyhow::Context as _;
use serde_json::{Value, json};

use super::Engine;
use crate::domain::case::Track;
use crate::domain::case_record::CaseRow;
use crate::domain::outgoing::NewOutgoing;
use crate::domain::outgoing::OutgoingType;
use crate::domain::stats::major;
use crate::store::Tx;
use crate::store::cases;
use crate::store::outgoing::{insert_outgoing, next_sequence};

/// The case as an event shows it: `row`'s facts with `track`'s state.
fn case_json(row: &CaseRow, track: &Track) -> Value {
    let case = track.case.as_ref();
    let cause = case.and_then(|c| c.cause.as_ref().or(c.latest.as_ref()));
    json!({
        "id": row.id,
        "invoice_id": row.invoice_id,
        "invoice_number": row.invoice_number,
        "customer_id": row.customer_id,
        "customer_email": row.customer_email,
        "subscription_id": row.subscription_id,
        "state": case.map(|c| c.state.as_str()),
        "currency": row.currency,
        "amount_due": row.amount_due,
        "amount": major(row.amount_due, &row.currency),
        "decline_category": cause.map(|d| d.category.as_str()),
        "decline_code": cause.map(|d| d.code.as_str()),
        "retries_made": case.map_or(0, |c| c.retries_made),
        "recovered_by": case.and_then(|c| c.recovered_by).map(|r| r.as_str()),
    })
}

/// Records event `kind` about `row` (now in `track`'s state) with `detail`
/// merged into its data. Nothing when no notify URL is configured.
pub async fn record(
    engine: &Engine,
    tx: &mut Tx,
    row: &CaseRow,
    track: &Track,
    kind: OutgoingType,
    detail: Value,
) -> anyhow::Result<()> {
    if engine.config.notify_url.is_none() {
        return Ok(());
    }
    let now = engine.clock.now();
    let event_id = format!("evt_{}", crate::random::base62(24));
    // The case's events are numbered: a receiver sees their order (they
    // are also delivered in it) and notices a gap.
    let sequence = next_sequence(tx, row.id).await?;
    let mut data = json!({ "case": case_json(row, track) });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), detail) {
        data.extend(extra);
    }
    let payload = json!({
        "id": event_id,
        "object": "event",
        "type": kind.as_str(),
        "sequence": sequence,
        "created": now.timestamp(),
        "data": data,
    });
    let now_ms = now.timestamp_millis();
    let new = NewOutgoing {
        event_id: &event_id,
        case_id: row.id,
        kind,
        payload: &payload.to_string(),
        due_at: now_ms,
        sequence,
    };
    insert_outgoing(tx, &new, now_ms).await
}

/// Work on the locked case `row` was given up: flagged for the operator,
/// on its timeline, and told to their systems.
pub async fn needs_attention(
    engine: &Engine,
    tx: &mut Tx,
    row: &CaseRow,
    why: &str,
    detail: Value,
) -> anyhow::Result<()> {
    let now = engine.clock.now_ms();
    let id = row.id;
    cases::flag_attention(tx, id, Some(why))
        .await
        .with_context(|| format!("setting the attention flag of case {id}"))?;
    cases::add_timeline(tx, id, now, "needs_attention", &detail)
        .await
        .with_context(|| format!("adding to the timeline of case {id}"))?;
    let told = json!({ "reason": why });
    record(
        engine,
        tx,
        row,
        &row.track,
        OutgoingType::NeedsAttention,
        told,
    )
    .await
}
