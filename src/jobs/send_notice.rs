//! `send_notice`: writes one pre-dunning email (the card on file expires
//! before the renewal) and delivers it by SMTP or leaves it in the record.
//! The notice row exists before anything is sent and is marked `sending`
//! first, so a crash can never make it go out twice.

use super::customer;
use super::send_email::plan_name;
use super::{MAX_TRIES, backoff};
use crate::domain::links::{self, LinkSubject, Purpose};
use crate::domain::locale::Locale;
use crate::domain::notice::NoticeStatus;
use crate::engine::Engine;
use crate::mail::words::{card_name, words};
use crate::mail::{MailKind, MailView, render_with};
use crate::store::notices::Notice;
use anyhow::Context;

/// What the template shows for this notice, in `locale`.
pub fn view(engine: &Engine, notice: &Notice, locale: Locale) -> MailView {
    let d = &notice.detail;
    let tz = engine.policy().default_timezone;
    let w = words(locale);
    let card = card_name(locale, d.brand.as_deref(), d.last4.as_deref());
    let amount = match (d.amount_minor, &d.currency) {
        (Some(minor), Some(currency)) => locale.money(minor, currency),
        _ => String::new(),
    };
    let renewal_date = d.renewal.map_or_else(String::new, |r| {
        locale.date(r.with_timezone(&tz).date_naive())
    });
    let now = engine.clock.now();
    let expires = now.timestamp() + links::VALID_DAYS * 86_400;
    let subject = LinkSubject::Customer(notice.customer_id.clone());
    let token = links::sign(engine.link_secret(), &subject, Purpose::Billing, expires);
    let base = engine.config.public_url.as_str().trim_end_matches('/');
    let plan_name = d.product.as_deref().and_then(plan_name);
    MailView {
        locale,
        brand: engine.config.brand.clone(),
        name: None,
        amount,
        plan: plan_name
            .clone()
            .unwrap_or_else(|| w.your_subscription.to_owned()),
        plan_name,
        invoice_number: None,
        tone: "friendly",
        reminder: 1,
        ordinal: String::new(),
        days: 0,
        days_plural: locale.plural(0),
        why: "expired",
        next_retry: None,
        final_action: "none",
        final_date: String::new(),
        update_url: format!("{base}/billing/update/{token}"),
        invoice_url: None,
        offers: Vec::new(),
        upsell: None,
        offer_kind: "",
        offer_plan: None,
        offer_price: None,
        resumes_on: String::new(),
        card,
        card_expires: locale.month_year(d.exp_year, d.exp_month),
        renewal_date,
        date: locale.date(now.with_timezone(&tz).date_naive()),
    }
}

pub async fn perform(engine: &Engine, notice: &Notice) -> anyhow::Result<()> {
    let store = &engine.store;
    let now = engine.clock.now_ms();
    let card = Some(notice.detail.payment_method.clone());
    // A new card since the notice was planned: nothing to warn about.
    let current = store
        .current_card(&notice.customer_id)
        .await
        .with_context(|| format!("reading the current card for notice {}", notice.id))?;
    if current.map(|c| c.payment_method_id) != card {
        tracing::info!(
            notice_id = notice.id,
            "the customer has a newer card: notice not sent"
        );
        return store
            .record_notice(notice.id, NoticeStatus::Skipped, "", "", "", None, now)
            .await;
    }
    // No invoice told us who they are: the processor is asked (cached).
    let known = notice.recipient.as_deref();
    let found = customer::recipient(engine, &notice.customer_id, known)
        .await
        .with_context(|| format!("finding who notice {} goes to", notice.id))?;
    let (recipient, their_name, locale) = match found {
        Ok(found) => found,
        Err(e) => {
            let why = format!("could not read the customer ({e})");
            return put_off(engine, notice, &why).await;
        }
    };
    if let (None, Some(email)) = (known, &recipient) {
        store
            .set_notice_recipient(notice.id, email)
            .await
            .with_context(|| format!("remembering the recipient of notice {}", notice.id))?;
    }
    let mut view = view(engine, notice, locale);
    view.name = their_name
        .as_deref()
        .and_then(customer::first_name)
        .map(str::to_owned);
    let mail = &render_with(MailKind::CardExpiring, &view, &engine.config.mail_overrides)
        .with_context(|| format!("rendering notice {}", notice.id))?;
    let record = |status, error: Option<String>| async move {
        store
            .record_notice(
                notice.id,
                status,
                &mail.subject,
                &mail.text,
                &mail.html,
                error.as_deref(),
                now,
            )
            .await
    };
    let first = engine.mailer.first_status(recipient.as_deref());
    let status = NoticeStatus::parse(first)
        .with_context(|| format!("notice {}: mail status {first:?}", notice.id))?;
    if status != NoticeStatus::Sending {
        crate::meters::email(MailKind::CardExpiring.as_str(), first);
    }
    record(status, None)
        .await
        .with_context(|| format!("recording notice {}", notice.id))?;
    let (Some(to), NoticeStatus::Sending) = (recipient.as_deref(), status) else {
        return Ok(());
    };
    let message_id = format!(
        "<dunwell-{}-notice-{}@dunwell>",
        engine.install_id, notice.id
    );
    match engine.mailer.send(to, mail, &message_id).await {
        Ok(()) => {
            crate::meters::email(MailKind::CardExpiring.as_str(), "sent");
            record(NoticeStatus::Sent, None).await
        }
        // The same rule as emails: a send that failed for sure is tried
        // again after a backoff, up to `MAX_TRIES`.
        Err(e) => {
            crate::meters::email(MailKind::CardExpiring.as_str(), "failed");
            put_off(engine, notice, &format!("SMTP delivery failed: {e:#}")).await
        }
    }
}

/// Tries the notice again later, or gives it up (`failed`) past `MAX_TRIES`.
async fn put_off(engine: &Engine, notice: &Notice, why: &str) -> anyhow::Result<()> {
    let tries = notice.tries + 1;
    let store = &engine.store;
    if tries > MAX_TRIES {
        tracing::error!(
            notice_id = notice.id,
            why,
            "notice given up after {MAX_TRIES} failures"
        );
        let text = format!("{why}; gave up after {MAX_TRIES} failures");
        return store.give_up_notice(notice.id, &text).await;
    }
    let at = engine.clock.now() + backoff(tries);
    tracing::warn!(notice_id = notice.id, why, at = %at, "notice put off");
    store
        .reschedule_notice(notice.id, at.timestamp_millis(), tries, why)
        .await
        .with_context(|| format!("putting off notice {}", notice.id))?;
    engine.wake_runner();
    Ok(())
}
