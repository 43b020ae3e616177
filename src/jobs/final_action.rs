//! `final_action`: at the end of the schedule, cancel the subscription,
//! downgrade it to `downgrade_price`, mark the invoice uncollectible or
//! pause collection, through the processor with an idempotency key. Re-reads
//! the invoice first: paid at the last minute means recovered, not canceled.

use anyhow::Context;
use serde_json::json;

use super::{
    Line, Reread, after_processor_failure, case_is_live, conclude, reread_invoice, reschedule,
    settled_meanwhile,
};
use crate::domain::case::Input;
use crate::domain::policy::{FinalAction, Policy};
use crate::domain::work::{Final, Work, WorkStatus};
use crate::engine::Engine;
use crate::processor::ProcessorError;
use crate::store::cases::CaseRow;
use crate::store::work::WorkRow;

/// Why the action cannot be carried out on this case, if it cannot.
fn missing(action: FinalAction, case: &CaseRow, policy: &Policy) -> Option<&'static str> {
    match action {
        FinalAction::Cancel | FinalAction::Pause | FinalAction::Downgrade
            if case.subscription_id.is_none() =>
        {
            Some("the invoice belongs to no subscription")
        }
        FinalAction::Downgrade if case.subscription_item_id.is_none() => {
            Some("the invoice does not name the subscription item to change")
        }
        FinalAction::Downgrade if policy.final_.downgrade_price.is_none() => {
            Some("policy.final.downgrade_price is not set")
        }
        _ => None,
    }
}

async fn carry_out(
    engine: &Engine,
    policy: &Policy,
    action: FinalAction,
    case: &CaseRow,
    key: &str,
) -> Result<(), ProcessorError> {
    let processor = &engine.processor;
    let bad = |e: anyhow::Error| ProcessorError::Protocol(format!("{e:#}"));
    // A missing id is an error naming the case, never an empty id.
    let missing = |what: &str| bad(anyhow::anyhow!("case {}: no {what} id is known", case.id));
    let subscription = || {
        case.subscription_id
            .as_ref()
            .ok_or_else(|| missing("subscription"))
    };
    match action {
        FinalAction::Cancel => processor.cancel_subscription(subscription()?, key).await,
        FinalAction::Downgrade => {
            let item = case
                .subscription_item_id
                .as_ref()
                .ok_or_else(|| missing("subscription item"))?;
            let price = policy
                .final_
                .downgrade_price
                .clone()
                .ok_or_else(|| bad(anyhow::anyhow!("no downgrade price")))?;
            processor
                .change_price(subscription()?, item, &price, "none", key)
                .await
        }
        FinalAction::MarkUncollectible => processor.mark_uncollectible(&case.invoice_id, key).await,
        FinalAction::Pause => processor.pause_collection(subscription()?, None, key).await,
        FinalAction::None => Ok(()),
    }
}

pub async fn perform(
    engine: &Engine,
    work: &WorkRow,
    last: &Final,
    case: &CaseRow,
) -> anyhow::Result<()> {
    let action = last.action;
    if !case_is_live(case) {
        let text = "the case moved on";
        return conclude(engine, work, None, WorkStatus::Skipped, text, vec![]).await;
    }
    match reread_invoice(engine, work, case)
        .await
        .context("re-reading the invoice before the final action")?
    {
        Reread::Settled(input, word) => return settled_meanwhile(engine, work, input, word).await,
        Reread::Unavailable(e) => {
            let why = format!("could not read the invoice before the final action ({e})");
            return reschedule(engine, work, &work.work, &why).await;
        }
        Reread::Open(_) => {}
    }
    // The case's own version: the downgrade price it was told about.
    let policy = engine.policy_of(case).await;
    if let Some(why) = missing(action, case, &policy) {
        let text = format!(
            "final action {} not possible: {why}; the case is closed",
            action.as_str()
        );
        let line = Line {
            kind: "note",
            detail: json!({"text": text}),
        };
        let input = Some(Input::Close);
        return conclude(engine, work, input, WorkStatus::Failed, &text, vec![line]).await;
    }
    let key = engine.idempotency_key(&case.invoice_id, action.as_str(), 1, last.fresh);
    let fresh_attempt = || {
        Work::Final(Final {
            fresh: last.fresh + 1,
            ..last.clone()
        })
    };
    match carry_out(engine, &policy, action, case, &key).await {
        Ok(()) => {
            let line = Line {
                kind: "final_action",
                detail: json!({"action": action.as_str(), "idempotency_key": key}),
            };
            let input = Some(Input::FinalActionDone);
            conclude(
                engine,
                work,
                input,
                WorkStatus::Done,
                action.as_str(),
                vec![line],
            )
            .await
        }
        Err(e @ ProcessorError::Rejected { .. }) => {
            let text = format!(
                "the processor refused the final action {}: {e}",
                action.as_str()
            );
            let line = Line {
                kind: "note",
                detail: json!({"text": text}),
            };
            conclude(engine, work, None, WorkStatus::Failed, &text, vec![line]).await
        }
        Err(e) => {
            let what = format!("final action {}", action.as_str());
            after_processor_failure(engine, work, case, e, &key, fresh_attempt(), &what).await
        }
    }
}
