//! `final_action`: at the end of the schedule, cancel the subscription,
//! downgrade it to `downgrade_price`, mark the invoice uncollectible or
//! pause collection, through the processor with an idempotency key. Re-reads
//! the invoice first: paid at the last minute means recovered, not canceled.

use serde_json::json;

use super::{Line, Reread, case_is_live, conclude, reread_invoice, reschedule, settled_meanwhile};
use crate::domain::case::Input;
use crate::domain::ids::{InvoiceId, SubscriptionId, SubscriptionItemId};
use crate::domain::policy::FinalAction;
use crate::engine::Engine;
use crate::processor::{ProcessorError, idempotency_key};
use crate::store::cases::CaseRow;
use crate::store::work::WorkRow;

fn action_of(text: &str) -> Option<FinalAction> {
    [
        FinalAction::Cancel,
        FinalAction::Downgrade,
        FinalAction::MarkUncollectible,
        FinalAction::Pause,
        FinalAction::None,
    ]
    .into_iter()
    .find(|a| a.as_str() == text)
}

/// Why the action cannot be carried out on this case, if it cannot.
fn missing(action: FinalAction, case: &CaseRow, engine: &Engine) -> Option<&'static str> {
    match action {
        FinalAction::Cancel | FinalAction::Pause | FinalAction::Downgrade
            if case.subscription_id.is_none() =>
        {
            Some("the invoice belongs to no subscription")
        }
        FinalAction::Downgrade if case.subscription_item_id.is_none() => {
            Some("the invoice does not name the subscription item to change")
        }
        FinalAction::Downgrade if engine.policy().final_.downgrade_price.is_none() => {
            Some("policy.final.downgrade_price is not set")
        }
        _ => None,
    }
}

async fn carry_out(
    engine: &Engine,
    action: FinalAction,
    case: &CaseRow,
    key: &str,
) -> Result<(), ProcessorError> {
    let processor = &engine.processor;
    let bad = |e: anyhow::Error| ProcessorError::Protocol(e.to_string());
    let subscription = || -> Result<SubscriptionId, ProcessorError> {
        SubscriptionId::parse(case.subscription_id.as_deref().unwrap_or_default())
            .map_err(|e| bad(e.into()))
    };
    match action {
        FinalAction::Cancel => processor.cancel_subscription(&subscription()?, key).await,
        FinalAction::Downgrade => {
            let item =
                SubscriptionItemId::parse(case.subscription_item_id.as_deref().unwrap_or_default())
                    .map_err(|e| bad(e.into()))?;
            let price = engine
                .policy()
                .final_
                .downgrade_price
                .clone()
                .ok_or_else(|| bad(anyhow::anyhow!("no downgrade price")))?;
            processor
                .change_price(&subscription()?, &item, &price, key)
                .await
        }
        FinalAction::MarkUncollectible => {
            let invoice = InvoiceId::parse(&case.invoice_id).map_err(|e| bad(e.into()))?;
            processor.mark_uncollectible(&invoice, key).await
        }
        FinalAction::Pause => processor.pause_collection(&subscription()?, key).await,
        FinalAction::None => Ok(()),
    }
}

pub async fn perform(engine: &Engine, work: &WorkRow, case: &CaseRow) -> anyhow::Result<()> {
    let text = work.detail["action"].as_str().unwrap_or_default();
    let Some(action) = action_of(text) else {
        anyhow::bail!("unknown final action {text:?}");
    };
    if !case_is_live(case) {
        return conclude(engine, work, None, "skipped", "the case moved on", vec![]).await;
    }
    match reread_invoice(engine, work, case).await? {
        Reread::Settled(input, word) => return settled_meanwhile(engine, work, input, word).await,
        Reread::Unavailable(e) => {
            let why = format!("could not read the invoice before the final action ({e})");
            return reschedule(engine, work, &work.detail, &why).await;
        }
        Reread::Open(_) => {}
    }
    if let Some(why) = missing(action, case, engine) {
        let text = format!(
            "final action {} not possible: {why}; the case is closed",
            action.as_str()
        );
        let line = Line {
            kind: "note",
            detail: json!({"text": text}),
        };
        return conclude(
            engine,
            work,
            Some(Input::Close),
            "failed",
            &text,
            vec![line],
        )
        .await;
    }
    let key = idempotency_key(case.id, action.as_str(), 1);
    match carry_out(engine, action, case, &key).await {
        Ok(()) => {
            let line = Line {
                kind: "final_action",
                detail: json!({"action": action.as_str(), "idempotency_key": key}),
            };
            conclude(
                engine,
                work,
                Some(Input::FinalActionDone),
                "done",
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
            conclude(engine, work, None, "failed", &text, vec![line]).await
        }
        Err(e) => {
            // The same key replays whatever the processor did.
            let why = format!(
                "final action {} failed at the processor ({e})",
                action.as_str()
            );
            reschedule(engine, work, &work.detail, &why).await
        }
    }
}
