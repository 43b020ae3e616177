//! Disputes: a chargeback is about a charge, usually an earlier successful
//! one that no open case names, so it is traced to its customer (the case
//! that names the charge, else a read of the charge made before the event's
//! transaction, see `lookups`). While the customer has an open dispute
//! their live cases are paused and a new case starts paused: nobody is
//! charged or chased mid-chargeback. A won dispute resumes them, re-planned
//! from now; any other outcome leaves them paused and flags them for the
//! operator.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::Engine;
use super::apply::apply;
use super::route::DisputeNews;
use crate::domain::case::{CaseState, EventInput, Input};
use crate::domain::case_record::{CaseLink, CaseRow};
use crate::domain::dispute::DisputeState;
use crate::store::Tx;
use crate::store::cases;
use crate::store::customers;

/// Applies dispute news to the customer's cases.
pub async fn handle(
    engine: &Engine,
    tx: &mut Tx,
    news: &DisputeNews,
    event_id: &str,
    cause: &str,
    created: DateTime<Utc>,
) -> anyhow::Result<()> {
    let now_ms = engine.clock.now_ms();
    let customer = whose(tx, news)
        .await
        .with_context(|| format!("finding the customer of dispute {}", news.id))?;
    let status = match news.state {
        DisputeState::Open => "open",
        _ => news.status.as_str(),
    };
    customers::record_dispute(
        tx,
        &news.id,
        customer.as_deref(),
        news.charge.as_deref(),
        status,
        now_ms,
    )
    .await
    .with_context(|| format!("recording dispute {}", news.id))?;
    let Some(customer) = customer else {
        tracing::warn!(dispute = %news.id, "the disputed charge's customer is unknown to the processor: no case paused");
        return Ok(());
    };
    let what = match news.state {
        DisputeState::Open => EventInput::DisputeOpened,
        DisputeState::Won
            if customers::has_open_dispute(tx, &customer)
                .await
                .with_context(|| format!("looking for another open dispute of {customer}"))? =>
        {
            tracing::info!(dispute = %news.id, "dispute won, but another is still open: cases stay paused");
            return Ok(());
        }
        DisputeState::Won => EventInput::DisputeWon,
        DisputeState::ClosedOtherwise => {
            return flag_paused(engine, tx, &customer, news).await;
        }
    };
    for case in customer_cases(tx, &customer).await? {
        let input = Input::Event {
            id: event_id.to_owned(),
            created,
            what: what.clone(),
        };
        apply(engine, tx, &case, input, cause)
            .await
            .with_context(|| format!("applying {} to case {}", cause, case.id))?;
    }
    Ok(())
}

/// The customer's opened cases, each locked for the rest of `tx`, in id
/// order.
async fn customer_cases(tx: &mut Tx, customer: &str) -> anyhow::Result<Vec<CaseRow>> {
    let ids = cases::cases_linked(tx, CaseLink::Customer, customer)
        .await
        .with_context(|| format!("finding the cases of {customer}"))?;
    let mut locked = Vec::with_capacity(ids.len());
    for id in ids {
        let case = cases::lock_case(tx, id)
            .await
            .with_context(|| format!("locking case {id}"))?;
        locked.extend(case);
    }
    Ok(locked)
}

/// The customer behind the disputed charge. An error when the charge has
/// not been read yet (the processor was unreachable): the event is tried
/// again later.
async fn whose(tx: &mut Tx, news: &DisputeNews) -> anyhow::Result<Option<String>> {
    if let Some(charge) = &news.charge {
        return match customers::charge_owner(tx, charge)
            .await
            .with_context(|| format!("looking up the owner of charge {charge}"))?
        {
            Some(owner) => Ok(owner),
            None => anyhow::bail!(
                "the customer of disputed charge {charge} is not known yet (reading the charge failed); the event will be tried again"
            ),
        };
    }
    if let Some(intent) = &news.payment_intent {
        let ids = cases::cases_linked(tx, CaseLink::PaymentIntent, intent)
            .await
            .with_context(|| format!("finding the cases of payment intent {intent}"))?;
        if let Some(&id) = ids.first() {
            let case = cases::lock_case(tx, id)
                .await
                .with_context(|| format!("locking case {id}"))?;
            return Ok(case.map(|c| c.customer_id.into()));
        }
    }
    Ok(None)
}

/// A dispute lost (or otherwise closed against us): the customer's paused
/// cases stay paused, flagged for the operator to decide.
async fn flag_paused(
    engine: &Engine,
    tx: &mut Tx,
    customer: &str,
    news: &DisputeNews,
) -> anyhow::Result<()> {
    let why = format!(
        "dispute {} closed {}: the case stays paused for the operator",
        news.id, news.status
    );
    for case in customer_cases(tx, customer).await? {
        if case.state != Some(CaseState::Paused) {
            continue;
        }
        let detail = json!({"reason": why, "dispute": news.id});
        super::outgoing::needs_attention(engine, tx, &case, &why, detail)
            .await
            .with_context(|| format!("flagging case {} for the operator", case.id))?;
    }
    tracing::warn!(dispute = %news.id, status = %news.status, "dispute closed against the merchant: cases stay paused");
    Ok(())
}
