//! Pre-dunning: a customer whose card will have expired by their next
//! renewal is told before the payment fails, once per card and expiry.

use anyhow::Context as _;

use super::Engine;
use super::route::PreDunning;
use crate::domain::events::CardExpiry;
use crate::domain::notice::{Card, CardExpiring, NewNotice, NoticeKind};
use crate::store::Tx;
use crate::store::notices;

/// One warning per card and expiry: the same card may reach us as a
/// PaymentMethod and as a legacy source, with different ids.
fn notice_key(card: &Card) -> String {
    let which = match (&card.brand, &card.last4) {
        (Some(brand), Some(last4)) => format!("{}-{last4}", brand.to_ascii_lowercase()),
        _ => card.payment_method_id.clone(),
    };
    format!("{which}:{}-{:02}", card.exp_year, card.exp_month)
}

/// Plans the warning `pre` calls for, if the card really expires in time.
/// `event_card` is the card the event itself carried (already remembered).
pub async fn consider(
    engine: &Engine,
    tx: &mut Tx,
    pre: &PreDunning,
    event_card: Option<&Card>,
) -> anyhow::Result<()> {
    let now_ms = engine.clock.now_ms();
    let (customer_id, card, renewal) = match pre {
        PreDunning::SourceExpiring { customer_id } => {
            let Some(card) = event_card.cloned() else {
                return Ok(());
            };
            (customer_id, card, None)
        }
        PreDunning::Upcoming {
            customer_id,
            renewal,
            ..
        } => {
            let Some(card) = notices::card_of(tx, customer_id)
                .await
                .with_context(|| format!("reading the card of {customer_id}"))?
            else {
                return Ok(());
            };
            let expiry = CardExpiry {
                month: card.exp_month,
                year: card.exp_year,
            };
            if !expiry.expired_by(*renewal) {
                return Ok(());
            }
            (customer_id, card, Some(renewal))
        }
    };
    let (email, amount, product) = match pre {
        PreDunning::Upcoming {
            email,
            amount,
            product,
            ..
        } => (email.clone(), Some(amount), product.clone()),
        PreDunning::SourceExpiring { .. } => (None, None, None),
    };
    let recipient = match email {
        Some(email) => Some(email),
        None => notices::email_of(tx, customer_id)
            .await
            .with_context(|| format!("reading the email address of {customer_id}"))?,
    };
    let notice = NewNotice {
        customer_id: customer_id.clone(),
        kind: NoticeKind::CardExpiring,
        key: notice_key(&card),
        recipient,
        detail: CardExpiring {
            payment_method: card.payment_method_id.clone(),
            brand: card.brand.clone(),
            last4: card.last4.clone(),
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            renewal: renewal.copied(),
            amount_minor: amount.map(|a| a.minor()),
            currency: amount.map(|a| a.currency().as_str().to_owned()),
            product,
        },
        due_at: now_ms,
    };
    if notices::insert_notice(tx, &notice, now_ms)
        .await
        .with_context(|| format!("planning the card-expiring notice of {customer_id}"))?
        .is_some()
    {
        tracing::info!(customer_id, card = %card.payment_method_id, "card expires before the renewal: warning the customer");
    }
    Ok(())
}
