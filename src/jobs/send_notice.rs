//! `send_notice`: writes one pre-dunning email (the card on file expires
//! before the renewal) and delivers it by SMTP or leaves it in the record.
//! The notice row exists before anything is sent and is marked `sending`
//! first, so a crash can never make it go out twice.

use chrono::DateTime;
use serde_json::Value;

use super::customer::{self, Contact};
use super::{MAX_TRIES, backoff};
use crate::domain::links::{self, LinkSubject};
use crate::domain::money::{Currency, Money};
use crate::engine::Engine;
use crate::mail::{MailKind, MailView, render};
use crate::store::notices::Notice;

const LINK_DAYS: i64 = 45;

fn text(detail: &Value, key: &str) -> Option<String> {
    detail[key].as_str().map(str::to_owned)
}

fn month_name(month: u64, year: i64) -> String {
    chrono::NaiveDate::from_ymd_opt(year as i32, month as u32, 1).map_or_else(
        || format!("{month}/{year}"),
        |d| d.format("%B %Y").to_string(),
    )
}

/// What the template shows for this notice.
pub fn view(engine: &Engine, notice: &Notice) -> MailView {
    let d = &notice.detail;
    let tz = engine.policy().default_timezone;
    let card = match (text(d, "brand"), text(d, "last4")) {
        (Some(brand), Some(last4)) => {
            let mut brand = brand;
            if let Some(first) = brand.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            format!("{brand} card ending {last4}")
        }
        (None, Some(last4)) => format!("card ending {last4}"),
        _ => "card on file".into(),
    };
    let amount = match (d["amount_minor"].as_i64(), text(d, "currency")) {
        (Some(minor), Some(currency)) => Currency::parse(&currency)
            .ok()
            .and_then(|c| Money::from_minor(minor, c).ok())
            .map_or_else(String::new, |m| m.to_string()),
        _ => String::new(),
    };
    let renewal_date = text(d, "renewal")
        .and_then(|r| DateTime::parse_from_rfc3339(&r).ok())
        .map_or_else(String::new, |r| {
            r.with_timezone(&tz).format("%A %-d %B %Y").to_string()
        });
    let expires = engine.clock.now().timestamp() + LINK_DAYS * 86_400;
    let subject = LinkSubject::Customer(notice.customer_id.clone());
    let token = links::sign(engine.link_secret(), &subject, expires);
    let base = engine.config.public_url.as_str().trim_end_matches('/');
    MailView {
        name: "there".into(),
        amount,
        product: text(d, "product").unwrap_or_else(|| "your subscription".into()),
        tone: "friendly",
        reminder: String::new(),
        days: 0,
        update_url: format!("{base}/billing/update/{token}"),
        invoice_url: None,
        reason: String::new(),
        consequence: String::new(),
        final_date: String::new(),
        offers: Vec::new(),
        retrying: false,
        card,
        card_expires: month_name(
            d["exp_month"].as_u64().unwrap_or(0),
            d["exp_year"].as_i64().unwrap_or(0),
        ),
        renewal_date,
    }
}

pub async fn perform(engine: &Engine, notice: &Notice) -> anyhow::Result<()> {
    let store = &engine.store;
    let now = engine.clock.now_ms();
    let card = text(&notice.detail, "payment_method");
    // A new card since the notice was planned: nothing to warn about.
    if store.current_card(&notice.customer_id).await? != card {
        tracing::info!(
            notice_id = notice.id,
            "the customer has a newer card: notice not sent"
        );
        return store
            .record_notice(notice.id, "skipped", "", "", "", None, now)
            .await;
    }
    // No invoice told us who they are: the processor is asked (cached).
    let known = notice.recipient.as_deref();
    let info = match customer::addressee(engine, &notice.customer_id, known).await? {
        Contact::Known(info) => info,
        Contact::Unavailable(e) => {
            let why = format!("could not read the customer ({e})");
            return put_off(engine, notice, &why).await;
        }
    };
    if let (None, Some(email)) = (known, &info.email) {
        store.set_notice_recipient(notice.id, email).await?;
    }
    let recipient = info.email;
    let mut view = view(engine, notice);
    if let Some(first) = info.name.as_deref().and_then(customer::first_name) {
        view.name = first.to_owned();
    }
    let mail = &render(MailKind::CardExpiring, &view)?;
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
    let status = engine.mailer.first_status(recipient.as_deref());
    record(status, None).await?;
    let (Some(to), "sending") = (recipient.as_deref(), status) else {
        return Ok(());
    };
    let message_id = format!(
        "<dunwell-{}-notice-{}@dunwell>",
        engine.install_id, notice.id
    );
    match engine.mailer.send(to, mail, &message_id).await {
        Ok(()) => record("sent", None).await,
        // The same rule as emails: a send that failed for sure is tried
        // again after a backoff, up to `MAX_TRIES`.
        Err(e) => put_off(engine, notice, &format!("SMTP delivery failed: {e:#}")).await,
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
        .await?;
    engine.wake_runner();
    Ok(())
}
