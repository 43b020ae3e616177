//! `retry_charge`: one planned charge attempt. Re-reads the invoice first
//! (paid → recovered, voided/uncollectible → closed), then pays with an
//! idempotency key made of this install's id, the invoice, the attempt
//! number and how many fresh keys the attempt needed so far
//! (`processor::idempotency_key`: `dunwell-{install}-{invoice}-pay-{attempt}`,
//! `-r{n}` after the n-th answer that calls for a new key), records the
//! attempt and feeds the outcome to the case.
//!
//! Processor failures never count against the customer's attempts: after a
//! timeout or a 429 (which the client already retried under the same key)
//! the same key is used again later; after a 5xx (which Stripe stores for
//! the key) the invoice is re-read and, still open, a fresh attempt with a
//! new key follows after a backoff.

use anyhow::Context;
use serde_json::json;

use super::{
    Line, Reread, after_processor_failure, case_is_live, conclude, reread_invoice, reschedule,
    settled_meanwhile,
};
use crate::domain::case::Input;
use crate::domain::decline::classify;
use crate::domain::policy::RetryOwner;
use crate::domain::work::{Retry, Work, WorkStatus};
use crate::engine::Engine;
use crate::processor::{PayOutcome, ProcessorError};
use crate::store::cases::CaseRow;
use crate::store::work::WorkRow;

pub async fn perform(
    engine: &Engine,
    work: &WorkRow,
    retry: &Retry,
    case: &CaseRow,
) -> anyhow::Result<()> {
    let attempt = retry.attempt;
    let expected = case.track.case.as_ref().map(|c| c.retries_made + 1);
    if !case_is_live(case) || expected != Some(attempt) {
        let text = "the case moved on";
        return conclude(engine, work, None, WorkStatus::Skipped, text, vec![]).await;
    }
    if engine.policy_of(case).await.retry_owner == RetryOwner::Processor {
        let text = "retry_owner = processor: dunwell does not charge";
        return conclude(engine, work, None, WorkStatus::Skipped, text, vec![]).await;
    }
    // The truth first: the invoice may have been paid, voided or marked
    // uncollectible since the attempt was planned.
    match reread_invoice(engine, work, case)
        .await
        .context("re-reading the invoice before charging")?
    {
        Reread::Settled(input, word) => return settled_meanwhile(engine, work, input, word).await,
        Reread::Unavailable(e) => {
            let why = format!("could not read the invoice before charging ({e})");
            return reschedule(engine, work, &work.work, &why).await;
        }
        Reread::Open(invoice) => {
            if let Some(next) = invoice.next_payment_attempt {
                let text = format!(
                    "the processor will retry this invoice itself at {}: dunwell does not double up (turn off the processor's automatic retries)",
                    next.to_rfc3339()
                );
                tracing::warn!("{text}");
                let line = Line {
                    kind: "note",
                    detail: json!({"text": text}),
                };
                return conclude(engine, work, None, WorkStatus::Skipped, &text, vec![line]).await;
            }
        }
    }
    let invoice = &case.invoice_id;
    let key = engine.idempotency_key(&case.invoice_id, "pay", attempt, retry.fresh);
    let fresh_attempt = || {
        Work::Retry(Retry {
            fresh: retry.fresh + 1,
            ..retry.clone()
        })
    };
    match engine.processor.pay_invoice(invoice, &key).await {
        Ok(PayOutcome::Paid(_)) => {
            crate::meters::charge_attempt("succeeded", "none");
            let line = Line {
                kind: "attempt",
                detail: json!({"attempt": attempt, "outcome": "paid", "idempotency_key": key}),
            };
            let input = Input::RetrySucceeded { attempt };
            conclude(
                engine,
                work,
                Some(input),
                WorkStatus::Done,
                "paid",
                vec![line],
            )
            .await
        }
        Ok(PayOutcome::Declined(details)) => {
            let decline = classify(&details);
            crate::meters::charge_attempt("declined", decline.category.as_str());
            if decline.unknown {
                tracing::warn!(code = %decline.code, "unknown decline code: treated as transient");
            }
            let line = Line {
                kind: "attempt",
                detail: json!({
                    "attempt": attempt,
                    "outcome": "declined",
                    "decline_code": decline.code,
                    "category": decline.category.as_str(),
                    "reason": decline.reason,
                    "idempotency_key": key,
                }),
            };
            let result = format!("declined: {}", decline.code);
            let input = Input::RetryDeclined { attempt, decline };
            conclude(
                engine,
                work,
                Some(input),
                WorkStatus::Done,
                &result,
                vec![line],
            )
            .await
        }
        Err(e @ ProcessorError::Rejected { .. }) => {
            crate::meters::charge_attempt("rejected", "none");
            let reread = reread_invoice(engine, work, case).await;
            if let Reread::Settled(input, word) =
                reread.context("re-reading the invoice after a refused charge")?
            {
                return settled_meanwhile(engine, work, input, word).await;
            }
            let text = format!("the processor refused the charge request: {e}");
            let line = Line {
                kind: "note",
                detail: json!({"text": text}),
            };
            conclude(engine, work, None, WorkStatus::Failed, &text, vec![line]).await
        }
        Err(e) => {
            crate::meters::charge_attempt("error", "none");
            let what = format!("charge attempt {attempt}");
            after_processor_failure(engine, work, case, e, &key, fresh_attempt(), &what).await
        }
    }
}
