//! A customer takes one of the policy's offers on their billing page: a
//! plan change (`POST /v1/subscriptions/{id}` with the offer's price) or a
//! pause of collection. One offer per case, carried out exactly once: the
//! choice is recorded before the processor is called, the call carries a
//! key of its own, and a choice already carried out is only confirmed.
//! Then a plan change retries the charge now when the rules allow it, and a
//! pause (until `resumes_at`, fixed at the first choice) ends the case:
//! nothing more is collected. Carried out, the offer brings one
//! confirmation email (`offer_taken`).

use crate::domain::ids::CaseId;
use anyhow::Context as _;
use serde_json::json;

use super::Engine;
use super::apply::apply;
use crate::domain::case::Input;
use crate::domain::case_record::CaseRow;
use crate::domain::ids::PriceId;
use crate::domain::mail_kind::MailKind;
use crate::domain::policy::Policy;
use crate::domain::policy::Tone;
use crate::domain::policy::{Offer, OfferKind};
use crate::domain::price::Price;
use crate::domain::work::{Email, NewWork, Work};
use crate::processor::ProcessorError;
use crate::store::offers::{choose_offer, forget_offer, offer_done};
use crate::store::{cases, work};
use chrono::{DateTime, Utc};

/// An offer carried out for a case.
#[derive(Debug, Clone)]
pub struct Taken {
    pub offer: Offer,
    /// When collection resumes (a pause).
    pub resumes_at: Option<DateTime<Utc>>,
}

/// How taking an offer went.
#[derive(Debug)]
pub enum OfferOutcome {
    /// Carried out, now or before: the offer that stands for the case
    /// (the first one taken, whatever was posted later).
    Done(Taken),
    /// The case has ended (paid, closed): nothing to change.
    CaseEnded,
    /// The offer cannot apply to this invoice (no subscription to change).
    NotPossible(&'static str),
    /// The processor refused: the customer may choose another way out.
    Refused,
    /// The processor could not be reached: the same choice may be posted
    /// again and goes through once.
    Unavailable,
}

fn live(case: &CaseRow) -> bool {
    case.track.case.is_some() && !case.has_ended()
}

/// Why `offer` cannot apply to `case`, if it cannot.
fn missing(offer: &Offer, case: &CaseRow) -> Option<&'static str> {
    if case.subscription_id.is_none() {
        return Some("the invoice belongs to no subscription");
    }
    if offer.kind == OfferKind::PlanChange && case.subscription_item_id.is_none() {
        return Some("the invoice does not name the subscription item to change");
    }
    None
}

async fn carry_out(
    engine: &Engine,
    offer: &Offer,
    case: &CaseRow,
    resumes_at: Option<i64>,
    key: &str,
) -> Result<(), ProcessorError> {
    let bad = |e: String| ProcessorError::Protocol(e);
    // A missing id is an error naming the case, never an empty id.
    let missing = |what: &str| bad(format!("case {}: no {what} id is known", case.id));
    let subscription = case
        .subscription_id
        .as_ref()
        .ok_or_else(|| missing("subscription"))?;
    match offer.kind {
        OfferKind::PlanChange => {
            let item = case
                .subscription_item_id
                .as_ref()
                .ok_or_else(|| missing("subscription item"))?;
            let price = offer
                .price
                .as_ref()
                .ok_or_else(|| bad("the offer names no price".into()))?;
            engine
                .processor
                .change_price(subscription, item, price, offer.proration_behavior, key)
                .await
        }
        OfferKind::Pause => {
            // The processor counts in seconds.
            let resumes = resumes_at.map(|ms| ms.div_euclid(1000));
            engine
                .processor
                .pause_collection(subscription, resumes, key)
                .await
        }
    }
}

/// The customer of case `case_id` takes `offer`.
pub async fn take_offer(
    engine: &Engine,
    case_id: CaseId,
    offer: &Offer,
) -> anyhow::Result<OfferOutcome> {
    let Some((mut tx, case)) = engine.lock_case(case_id).await? else {
        return Ok(OfferOutcome::CaseEnded);
    };
    let policy = engine.policy_of(&case).await;
    let ends = |o: &Offer| pause_end(engine, o);
    let chosen = choose_offer(
        &mut tx,
        case_id,
        &offer.id,
        offer.kind.as_str(),
        engine.clock.now_ms(),
        ends(offer),
    )
    .await
    .with_context(|| format!("recording the offer chosen for case {case_id}"))?;
    let standing = policy
        .offers
        .iter()
        .find(|o| o.id == chosen.offer_id)
        .cloned();
    if chosen.done {
        tx.commit()
            .await
            .with_context(|| format!("committing the offer of case {case_id}"))?;
        let resumes_at = instant(chosen.resumes_at);
        return Ok(standing.map_or(OfferOutcome::CaseEnded, |offer| {
            OfferOutcome::Done(Taken { offer, resumes_at })
        }));
    }
    if !live(&case) {
        forget_offer(&mut tx, case_id)
            .await
            .with_context(|| format!("forgetting the offer of ended case {case_id}"))?;
        tx.commit()
            .await
            .with_context(|| format!("committing the ended case {case_id}"))?;
        return Ok(OfferOutcome::CaseEnded);
    }
    // A pending choice of an offer the policy no longer has is replaced.
    let mut resumes_at = chosen.resumes_at;
    let offer = match standing {
        Some(o) => o,
        None => {
            forget_offer(&mut tx, case_id)
                .await
                .with_context(|| format!("forgetting the withdrawn offer of case {case_id}"))?;
            let again = choose_offer(
                &mut tx,
                case_id,
                &offer.id,
                offer.kind.as_str(),
                engine.clock.now_ms(),
                ends(offer),
            )
            .await
            .with_context(|| format!("recording the offer chosen again for case {case_id}"))?;
            resumes_at = again.resumes_at;
            offer.clone()
        }
    };
    if let Some(why) = missing(&offer, &case) {
        forget_offer(&mut tx, case_id)
            .await
            .with_context(|| format!("forgetting the impossible offer of case {case_id}"))?;
        tx.commit()
            .await
            .with_context(|| format!("committing the forgotten offer of case {case_id}"))?;
        return Ok(OfferOutcome::NotPossible(why));
    }
    tx.commit()
        .await
        .with_context(|| format!("committing the offer chosen for case {case_id}"))?;

    // A choice made before pauses had an end gets one now.
    let resumes_at = resumes_at.or_else(|| ends(&offer));
    // A pause's request names its end: a pause chosen again after a refusal
    // (a new end) is a new request, under a key of its own.
    let action = match resumes_at {
        Some(at) => format!("offer-{}-{}", offer.id, at.div_euclid(1000)),
        None => format!("offer-{}", offer.id),
    };
    let key = engine.idempotency_key(&case.invoice_id, &action, 1, 0);
    match carry_out(engine, &offer, &case, resumes_at, &key).await {
        Ok(()) => {}
        Err(e @ ProcessorError::Rejected { .. }) => {
            tracing::warn!(case_id = %case_id, offer = %offer.id, error = %e, "the processor refused the customer's offer");
            let mut tx = engine
                .store
                .begin()
                .await
                .with_context(|| format!("starting a transaction for case {case_id}"))?;
            forget_offer(&mut tx, case_id)
                .await
                .with_context(|| format!("forgetting the refused offer of case {case_id}"))?;
            let detail =
                json!({"text": format!("the processor refused the offer {:?}: {e}", offer.id)});
            cases::add_timeline(&mut tx, case_id, engine.clock.now_ms(), "note", &detail)
                .await
                .with_context(|| format!("adding to the timeline of case {case_id}"))?;
            tx.commit()
                .await
                .with_context(|| format!("committing the refused offer of case {case_id}"))?;
            return Ok(OfferOutcome::Refused);
        }
        Err(e) => {
            tracing::warn!(case_id = %case_id, offer = %offer.id, error = %e, "the processor was unavailable for the customer's offer");
            return Ok(OfferOutcome::Unavailable);
        }
    }

    let now = engine.clock.now_ms();
    let Some((mut tx, case)) = engine.lock_case(case_id).await? else {
        return Ok(OfferOutcome::CaseEnded);
    };
    if offer_done(&mut tx, case_id, now)
        .await
        .with_context(|| format!("marking the offer of case {case_id} carried out"))?
    {
        let detail = json!({
            "offer": offer.id,
            "kind": offer.kind.as_str(),
            "price": offer.price.as_ref().map(|p| p.as_str()),
            "resumes_at": instant(resumes_at).map(|t| t.to_rfc3339()),
            "idempotency_key": key,
            "text": format!("the customer took the offer {:?} on the billing page", offer.label),
        });
        cases::add_timeline(&mut tx, case_id, now, "offer", &detail)
            .await
            .with_context(|| format!("adding to the timeline of case {case_id}"))?;
        let (input, cause) = match offer.kind {
            OfferKind::PlanChange => (
                Input::OfferTaken {
                    reason: format!("the customer changed plans ({}): retrying now", offer.id),
                },
                "the customer changed plans on the billing page",
            ),
            OfferKind::Pause => (
                Input::Close,
                "the customer paused the subscription on the billing page: nothing more is collected",
            ),
        };
        apply(engine, &mut tx, &case, input, cause)
            .await
            .with_context(|| format!("applying {} to case {}", cause, case.id))?;
        // One confirmation, planned after the case's own plan moved on (a
        // pause ends the case and cancels what was pending).
        let confirm = NewWork {
            work: Work::Email(Email {
                kind: MailKind::OfferTaken,
                tone: Tone::Friendly,
                stage: 0,
            }),
            due_at: now,
        };
        work::insert_works(&mut tx, case_id, &[confirm], now)
            .await
            .with_context(|| format!("planning the offer's confirmation for case {case_id}"))?;
    }
    tx.commit()
        .await
        .with_context(|| format!("committing the offer of case {case_id}"))?;
    engine.wake_runner();
    let resumes_at = instant(resumes_at);
    Ok(OfferOutcome::Done(Taken { offer, resumes_at }))
}

/// When a pause chosen now ends (engine clock, ms); `None` for a plan change.
fn pause_end(engine: &Engine, offer: &Offer) -> Option<i64> {
    (offer.kind == OfferKind::Pause)
        .then(|| engine.clock.now_ms() + i64::from(offer.pause_days) * 86_400_000)
}

fn instant(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
}

/// What the processor and the case say of the policy's offers, read
/// before the view: the prices it states, the offer the customer took.
#[derive(Debug, Default)]
pub struct OfferContext {
    pub prices: Vec<Price>,
    /// The offer taken and carried out, and when a pause ends (engine
    /// clock, ms).
    pub taken: Option<(Offer, Option<i64>)>,
}

impl OfferContext {
    /// Reads the prices of `policy`'s offers and final downgrade (cached by
    /// the processor client; one that cannot be read is left out, and the
    /// words do without it) and the offer case `case` took.
    pub async fn read(engine: &Engine, policy: &Policy, case: &CaseRow) -> anyhow::Result<Self> {
        let ids = policy
            .offers
            .iter()
            .filter_map(|o| o.price.as_ref())
            .chain(policy.final_.downgrade_price.as_ref());
        let mut prices = Vec::new();
        for id in ids {
            match engine.processor.price(id).await {
                Ok(Some(price)) => prices.push(price),
                Ok(None) => tracing::warn!(price = %id, "the processor knows no such price"),
                Err(e) => tracing::warn!(price = %id, error = %e, "reading a price failed"),
            }
        }
        let taken = engine
            .store
            .offer_choice(case.id)
            .await
            .with_context(|| format!("reading the offer case {} took", case.id))?
            .filter(|c| c.done)
            .and_then(|c| {
                let offer = policy.offers.iter().find(|o| o.id == c.offer_id)?;
                Some((offer.clone(), c.resumes_at))
            });
        Ok(Self { prices, taken })
    }

    pub fn price(&self, id: Option<&PriceId>) -> Option<&Price> {
        id.and_then(|id| self.prices.iter().find(|p| &p.id == id))
    }
}
