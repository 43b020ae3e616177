//! `send_email`: renders one email (askama, HTML + text) and delivers it
//! through SMTP, or leaves it in the outbox when no SMTP server is
//! configured. The outbox row is written before sending and is unique per
//! (case, kind, stage), so no email goes out twice whatever reruns happen.

use crate::domain::ids::CaseId;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::customer;
use super::{Line, case_is_live, conclude, defer, reschedule};
use crate::domain::courtesy::hold_until;
use crate::domain::deadline;
use crate::domain::links::{self, LinkSubject, Purpose};
use crate::domain::locale::Locale;
use crate::domain::policy::{Policy, RetryOwner};
use crate::domain::work::{Email, WorkStatus};
use crate::engine::Engine;
use crate::engine::apply::timezone_of;
use crate::engine::offers::OfferContext;
use crate::mail::words::{self, words};
use crate::mail::{
    MailKind, MailView, Why, offer_labels, offer_words, reminder_of, render_with, upsell,
};
use crate::store::cases;
use crate::store::cases::CaseRow;
use crate::store::mail::{NewMail, insert_mail_in};
use crate::store::work;
use crate::store::work::WorkRow;

/// The plan's name from the invoice line's text: Stripe writes
/// "1 × Pro (at $49.00 / month)"; a short plain description is the name.
pub fn plan_name(description: &str) -> Option<String> {
    let text = description.trim();
    let name = match text.split_once(" × ") {
        Some((_, rest)) => rest.split(" (at ").next().unwrap_or(rest).trim(),
        None => text,
    };
    (!name.is_empty() && name.chars().count() <= 60).then(|| crate::mail::one_line(name))
}

/// What the templates show for this case's `email`, in `locale`.
#[allow(clippy::too_many_arguments)]
pub fn view(
    engine: &Engine,
    policy: &Policy,
    case: &CaseRow,
    email: &Email,
    locale: Locale,
    next_retry: Option<DateTime<Utc>>,
    offers: &OfferContext,
) -> MailView {
    let tz = timezone_of(engine, case);
    let w = words(locale);
    // The thank-you names what was paid; the others what is owed.
    let minor = match email.kind {
        MailKind::ThankYou => case.amount_paid.unwrap_or(case.amount_due),
        _ => case.amount_due,
    };
    let name = case
        .customer_name
        .as_deref()
        .and_then(customer::first_name)
        .map(str::to_owned);
    let now = engine.clock.now();
    let opened = case
        .opened_at
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or(now);
    let final_at = deadline::final_instant(opened, policy.final_.day, tz);
    let latest = case.track.case.as_ref().and_then(|c| c.latest.as_ref());
    // The thank-you's link only shows the receipt.
    let purpose = match email.kind {
        MailKind::ThankYou => Purpose::Receipt,
        _ => Purpose::Billing,
    };
    let expires = now.timestamp() + links::VALID_DAYS * 86_400;
    let token = links::sign(
        engine.link_secret(),
        &LinkSubject::Case(case.id),
        purpose,
        expires,
    );
    let base = engine.config.public_url.as_str().trim_end_matches('/');
    let plan_name = case.description.as_deref().and_then(plan_name);
    let date = |t: DateTime<Utc>| locale.date(t.with_timezone(&tz).date_naive());
    let reminder = reminder_of(policy, email.stage);
    let retrying = policy.retry_owner != RetryOwner::Processor
        && latest.is_none_or(|l| l.category.retryable() && !l.network_forbids_retry);
    let owed = locale.money(case.amount_due, &case.currency);
    // The offer taken, or the plan a downgrade moved to.
    let (offer_kind, new_price, resumes_on) = match (email.kind, &offers.taken) {
        (MailKind::OfferTaken, Some((offer, resumes_at))) => (
            offer.kind.as_str(),
            offers.price(offer.price.as_ref()),
            resumes_at
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .map(date)
                .unwrap_or_default(),
        ),
        (MailKind::SubscriptionDowngraded, _) => (
            "plan_change",
            offers.price(policy.final_.downgrade_price.as_ref()),
            String::new(),
        ),
        _ => ("", None, String::new()),
    };
    MailView {
        locale,
        brand: engine.config.brand.clone(),
        name,
        amount: locale.money(minor, &case.currency),
        plan: plan_name
            .clone()
            .unwrap_or_else(|| w.your_subscription.to_owned()),
        plan_name,
        invoice_number: case.invoice_number.clone(),
        tone: email.tone.as_str(),
        reminder,
        ordinal: words::ordinal(locale, reminder),
        days: email.stage,
        days_plural: locale.plural(u64::from(email.stage)),
        why: Why::of(latest).as_str(),
        next_retry: next_retry
            .filter(|_| retrying)
            .filter(|t| *t < final_at)
            .map(date),
        final_action: policy.final_.action.as_str(),
        final_date: locale.date(deadline::announced_day(opened, policy.final_.day, tz)),
        update_url: format!("{base}/billing/update/{token}"),
        invoice_url: case
            .hosted_invoice_url
            .clone()
            .filter(|u| u.starts_with("https://")),
        offers: offer_labels(policy, locale, &offers.prices, &owed, &|days| {
            date(now + chrono::Duration::days(i64::from(days)))
        }),
        upsell: upsell(policy, locale, &offers.prices),
        offer_kind,
        offer_plan: new_price.and_then(|p| p.product.clone()),
        offer_price: new_price.map(|p| offer_words::price_text(locale, p)),
        resumes_on,
        card: String::new(),
        card_expires: String::new(),
        renewal_date: String::new(),
        date: date(now),
    }
}

/// Whether `email` is the friendly first word about a payment the bank
/// wants confirmed while the case's `action_required` email asks exactly
/// that: one email per request, not two with the same subject.
async fn confirmation_asked_apart(
    engine: &Engine,
    case: &CaseRow,
    email: &Email,
) -> anyhow::Result<bool> {
    use crate::domain::policy::Tone;
    use crate::domain::work::Work;
    let latest = case.track.case.as_ref().and_then(|c| c.latest.as_ref());
    if email.kind != MailKind::PaymentFailed
        || email.tone != Tone::Friendly
        || Why::of(latest) != Why::Auth
    {
        return Ok(false);
    }
    let work = engine.store.work_of(case.id).await?;
    Ok(work.iter().any(|w| {
        matches!(&w.work, Work::Email(e) if e.kind == MailKind::ActionRequired)
            && matches!(w.status, WorkStatus::Pending | WorkStatus::Done)
    }))
}

/// When the case's next planned retry is due, if one is.
async fn next_retry(engine: &Engine, case_id: CaseId) -> anyhow::Result<Option<DateTime<Utc>>> {
    let work = engine
        .store
        .work_of(case_id)
        .await
        .with_context(|| format!("reading the planned work of case {case_id}"))?;
    Ok(work
        .iter()
        .filter(|w| {
            w.status == WorkStatus::Pending && matches!(w.work, crate::domain::work::Work::Retry(_))
        })
        .filter_map(|w| DateTime::<Utc>::from_timestamp_millis(w.due_at))
        .min())
}

pub async fn perform(
    engine: &Engine,
    work: &WorkRow,
    email: &Email,
    case: &CaseRow,
) -> anyhow::Result<()> {
    let kind = email.kind;
    let stage = email.stage as i32;
    let tone = email.tone.as_str();
    // A dunning email for a case that ended is moot; what tells of the end is not.
    if !kind.after_the_end() && !case_is_live(case) {
        let text = "the case moved on";
        return conclude(engine, work, None, WorkStatus::Skipped, text, vec![]).await;
    }
    if confirmation_asked_apart(engine, case, email)
        .await
        .with_context(|| format!("reading the planned emails of case {}", case.id))?
    {
        let text = "the bank's request to confirm has its own email (action_required)";
        return conclude(engine, work, None, WorkStatus::Skipped, text, vec![]).await;
    }
    // Never at night in the customer's time zone, never two reminders too close.
    let last = engine
        .store
        .last_reminder(&case.customer_id)
        .await
        .context("reading the customer's last reminder")?
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    let tz = timezone_of(engine, case);
    // The case's own version: its emails follow the policy it opened under.
    let policy = engine.policy_of(case).await;
    let courtesy = &policy.courtesy;
    if let Some((at, why)) = hold_until(kind, engine.clock.now(), tz, last, courtesy) {
        return defer(engine, work, at, why).await;
    }
    // The events named no address: the processor is asked (cached), also
    // for the customer's language.
    let known = case.customer_email.as_deref();
    let (recipient, their_name, locale) =
        match customer::recipient(engine, &case.customer_id, known)
            .await
            .context("finding the recipient")?
        {
            Ok(found) => found,
            Err(e) => {
                let why = format!("could not read the customer ({e})");
                return reschedule(engine, work, &work.work, &why).await;
            }
        };
    place_by_address(engine, case)
        .await
        .context("placing the case by the customer's address")?;
    let mut view = view(
        engine,
        &policy,
        case,
        email,
        locale,
        next_retry(engine, case.id)
            .await
            .context("finding the next retry")?,
        &OfferContext::read(engine, &policy, case).await?,
    );
    if view.name.is_none() {
        view.name = their_name
            .as_deref()
            .and_then(customer::first_name)
            .map(str::to_owned);
    }
    let recipient = recipient.as_deref();
    let rendered = render_with(kind, &view, &engine.config.mail_overrides)
        .with_context(|| format!("rendering the {} email", kind.as_str()))?;
    let status = engine.mailer.first_status(recipient);
    let now = engine.clock.now_ms();
    let store = &engine.store;
    let line = |delivered: &str| Line {
        kind: "email",
        detail: json!({
            "kind": kind.as_str(),
            "tone": tone,
            "stage": stage,
            "status": delivered,
            "subject": rendered.subject,
        }),
    };
    let new = NewMail {
        case_id: case.id,
        kind: kind.as_str(),
        stage,
        recipient,
        subject: &rendered.subject,
        body_text: &rendered.text,
        body_html: &rendered.html,
        status,
    };
    if status != "sending" {
        crate::meters::email(kind.as_str(), status);
        // Nothing leaves the building: the outbox row, the timeline line and
        // the end of the work commit together.
        return write_to_outbox(engine, work, &new, line(status)).await;
    }
    let mail_id = match store
        .insert_mail(&new, now)
        .await
        .context("recording the email before sending")?
    {
        Some(id) => id,
        None => match store
            .mail_for(case.id, kind.as_str(), stage)
            .await
            .context("reading the email written before")?
        {
            // Only a send that failed for sure is tried again.
            Some((id, previous)) if previous == "failed" => id,
            _ => {
                let text = "this email was written before: not sent again";
                return conclude(engine, work, None, WorkStatus::Skipped, text, vec![]).await;
            }
        },
    };
    let to = recipient.unwrap_or_default();
    let message_id = format!(
        "<dunwell-{}-{}-{}-{stage}@dunwell>",
        engine.install_id,
        case.id,
        kind.as_str()
    );
    match engine.mailer.send(to, &rendered, &message_id).await {
        Ok(()) => {
            crate::meters::email(kind.as_str(), "sent");
            store
                .mark_mail(mail_id, "sent", None, now)
                .await
                .context("marking the email sent")?;
            conclude(
                engine,
                work,
                None,
                WorkStatus::Done,
                "sent",
                vec![line("sent")],
            )
            .await
        }
        Err(e) => {
            crate::meters::email(kind.as_str(), "failed");
            let error = format!("{e:#}");
            store
                .mark_mail(mail_id, "failed", Some(&error), now)
                .await
                .context("marking the email failed")?;
            let why = format!("SMTP delivery failed: {error}");
            reschedule(engine, work, &work.work, &why).await
        }
    }
}

/// Writes the email to the outbox and ends the work in one transaction.
async fn write_to_outbox(
    engine: &Engine,
    work: &WorkRow,
    mail: &NewMail<'_>,
    line: Line,
) -> anyhow::Result<()> {
    let now = engine.clock.now_ms();
    let mut tx = engine
        .store
        .begin()
        .await
        .context("beginning the outbox write")?;
    let (status, result) = match insert_mail_in(&mut tx, mail, now)
        .await
        .context("writing the email to the outbox")?
    {
        Some(_) => {
            cases::add_timeline(&mut tx, work.case_id, now, line.kind, &line.detail)
                .await
                .context("adding the email to the timeline")?;
            (WorkStatus::Done, mail.status)
        }
        None => (
            WorkStatus::Skipped,
            "this email was written before: not written again",
        ),
    };
    work::finish_work(&mut tx, work, status, result, now)
        .await
        .context("ending the email work")?;
    tx.commit().await.context("committing the outbox write")?;
    engine.wake_runner();
    Ok(())
}

/// The customer was just read from the processor (cached): a case the
/// events placed only by card or not at all moves to their address's
/// clock before its first retry.
async fn place_by_address(engine: &Engine, case: &CaseRow) -> anyhow::Result<()> {
    // Checked again under the case's lock; here it spares the read.
    if !crate::engine::relocate::may_move(case) {
        return Ok(());
    }
    let country = engine
        .store
        .cached_customer(&case.customer_id)
        .await
        .context("reading the cached customer")?
        .and_then(|c| c.country);
    if let Some(country) = country {
        crate::engine::relocate::by_customer_address(engine, case.id, &country)
            .await
            .with_context(|| format!("moving case {} to {country}'s clock", case.id))?;
    }
    Ok(())
}
