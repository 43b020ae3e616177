//! `send_email`: renders one email (askama, HTML + text) and delivers it
//! through SMTP, or leaves it in the outbox when no SMTP server is
//! configured. The outbox row is written before sending and is unique per
//! (case, kind, stage), so no email goes out twice whatever reruns happen.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::customer::{self, Contact};
use super::{Line, case_is_live, conclude, reschedule};
use crate::domain::links::{self, LinkSubject};
use crate::domain::money::Money;
use crate::domain::policy::{FinalAction, RetryOwner};
use crate::domain::work::{Email, WorkStatus};
use crate::engine::Engine;
use crate::engine::apply::timezone_of;
use crate::mail::{MailKind, MailView, reminder_of, render};
use crate::store::cases;
use crate::store::cases::CaseRow;
use crate::store::mail::{NewMail, insert_mail_in};
use crate::store::work;
use crate::store::work::WorkRow;

/// How long a card-update link in an email stays valid.
const LINK_DAYS: i64 = 45;

fn consequence(action: FinalAction) -> &'static str {
    match action {
        FinalAction::Cancel => "your subscription will be canceled",
        FinalAction::Downgrade => "your subscription will move to a smaller plan",
        FinalAction::MarkUncollectible => "the invoice will be closed as unpaid",
        FinalAction::Pause => "your subscription will be paused",
        FinalAction::None => "we will stop retrying the payment",
    }
}

/// What the templates show for this case's `email`.
pub fn view(engine: &Engine, case: &CaseRow, email: &Email) -> MailView {
    let policy = engine.policy();
    let tz = timezone_of(engine, case);
    // The thank-you names what was paid; the others what is owed.
    let minor = match email.kind {
        MailKind::ThankYou => case.amount_paid.unwrap_or(case.amount_due),
        _ => case.amount_due,
    };
    let amount = Money::describe(minor, &case.currency);
    let name = case
        .customer_name
        .as_deref()
        .and_then(customer::first_name)
        .unwrap_or("there")
        .to_owned();
    let opened = case
        .opened_at
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or_else(|| engine.clock.now());
    let final_at = opened + Duration::days(i64::from(policy.final_.day));
    let latest = case.track.case.as_ref().and_then(|c| c.latest.as_ref());
    let expires = engine.clock.now().timestamp() + LINK_DAYS * 86_400;
    let token = links::sign(engine.link_secret(), &LinkSubject::Case(case.id), expires);
    let base = engine.config.public_url.as_str().trim_end_matches('/');
    MailView {
        name,
        amount,
        product: case
            .description
            .clone()
            .unwrap_or_else(|| "your subscription".into()),
        tone: email.tone.as_str(),
        reminder: reminder_of(policy, email.stage),
        days: email.stage,
        update_url: format!("{base}/billing/update/{token}"),
        invoice_url: case.hosted_invoice_url.clone(),
        reason: latest
            .map_or("your bank declined the payment", |l| l.customer_reason())
            .to_owned(),
        consequence: consequence(policy.final_.action).to_owned(),
        final_date: final_at
            .with_timezone(&tz)
            .format("%A %-d %B %Y")
            .to_string(),
        offers: policy.offers.iter().map(|o| o.label.clone()).collect(),
        retrying: policy.retry_owner == RetryOwner::Dunwell
            && latest.is_none_or(|l| l.category.retryable() && !l.network_forbids_retry),
        card: String::new(),
        card_expires: String::new(),
        renewal_date: String::new(),
    }
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
    // A dunning email for a case that ended is moot; the thank-you is not.
    if kind != MailKind::ThankYou && !case_is_live(case) {
        let text = "the case moved on";
        return conclude(engine, work, None, WorkStatus::Skipped, text, vec![]).await;
    }
    let mut view = view(engine, case, email);
    // The events named no address: the processor is asked (cached).
    let known = case.customer_email.as_deref();
    let info = match customer::addressee(engine, &case.customer_id, known).await? {
        Contact::Known(info) => info,
        Contact::Unavailable(e) => {
            let why = format!("could not read the customer ({e})");
            return reschedule(engine, work, &work.work, &why).await;
        }
    };
    if let (None, Some(first)) = (
        &case.customer_name,
        info.name.as_deref().and_then(customer::first_name),
    ) {
        view.name = first.to_owned();
    }
    let recipient = info.email.as_deref();
    let rendered = render(kind, &view)?;
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
        // Nothing leaves the building: the outbox row, the timeline line and
        // the end of the work commit together.
        return write_to_outbox(engine, work, &new, line(status)).await;
    }
    let mail_id = match store.insert_mail(&new, now).await? {
        Some(id) => id,
        None => match store.mail_for(case.id, kind.as_str(), stage).await? {
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
            store.mark_mail(mail_id, "sent", None, now).await?;
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
            let error = format!("{e:#}");
            store
                .mark_mail(mail_id, "failed", Some(&error), now)
                .await?;
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
    let mut tx = engine.store.begin().await?;
    let (status, result) = match insert_mail_in(&mut tx, mail, now).await? {
        Some(_) => {
            cases::add_timeline(&mut tx, work.case_id, now, line.kind, &line.detail).await?;
            (WorkStatus::Done, mail.status)
        }
        None => (
            WorkStatus::Skipped,
            "this email was written before: not written again",
        ),
    };
    work::finish_work(&mut tx, work.id, status, result, now).await?;
    tx.commit().await?;
    engine.wake_runner();
    Ok(())
}
