//! What the update page shows for a case or, for a card-expiry link, a
//! customer.

use crate::domain::policy::{Offer, OfferKind, Policy};
use crate::engine::offers::OfferContext;
use crate::mail::offer_labels;
use crate::mail::offer_words::{self, OfferFacts};
use chrono::{DateTime, Utc};

use super::words::{PageWords, page_words};
use crate::domain::card_visit::VisitOutcome;
use crate::domain::deadline::deadline_day;
use crate::domain::links::Purpose;
use crate::domain::locale::Locale;
use crate::engine::Engine;
use crate::engine::apply::timezone_of;
use crate::jobs::send_email::plan_name;
use crate::mail::Why;
use crate::mail::words::card_name;
use crate::store::cases::CaseRow;
use crate::store::notices::Card;

/// A box at the top of the page: what came of the customer's last step.
pub(super) struct Banner {
    pub(super) title: &'static str,
    pub(super) message: String,
    /// Good news (green) rather than something to do (amber).
    pub(super) ok: bool,
}

/// What the update page shows.
pub(super) struct PageView {
    pub(super) banner: Option<Banner>,
    /// A result is on its way: a link that loads the page again.
    pub(super) check_again: Option<(String, &'static str)>,
    pub(super) title: String,
    pub(super) status: &'static str,
    pub(super) settled: bool,
    pub(super) message: String,
    pub(super) amount: Option<String>,
    pub(super) details: Vec<(&'static str, String)>,
    pub(super) can_update_card: bool,
    pub(super) update_label: &'static str,
    pub(super) card_action: String,
    pub(super) invoice_url: Option<String>,
    pub(super) pay_label: &'static str,
    /// The bank wants the payment confirmed: this button comes first.
    pub(super) confirm: bool,
    pub(super) confirm_label: &'static str,
    pub(super) other_options: &'static str,
    /// The policy's offers: each leads to its confirm step.
    pub(super) offers: Vec<OfferButton>,
    /// A canceled subscription: the button that opens the processor's
    /// account page, where the customer can reactivate it.
    pub(super) reactivate_action: Option<String>,
    pub(super) reactivate_label: &'static str,
}

/// An offer on the page: its confirm step, its label, its price.
pub(super) struct OfferButton {
    pub(super) href: String,
    pub(super) label: String,
    pub(super) price: Option<String>,
}

/// Who the page is for and the card they pay with, as far as we know.
pub(super) struct Payer {
    name: Option<String>,
    email: Option<String>,
    card: Option<Card>,
    /// After a cancel: subscribed again since (the processor says so).
    pub(super) subscribed_again: bool,
}

/// The payer behind `customer_id`: what the case says, else what the
/// processor told us of the customer; their latest card.
pub(super) async fn payer(
    engine: &Engine,
    customer_id: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> Payer {
    let store = &engine.store;
    let known = store.cached_customer(customer_id).await;
    let card = store.current_card(customer_id).await;
    if let Some(e) = known.as_ref().err().or(card.as_ref().err()) {
        tracing::warn!(error = %format!("{e:#}"), "billing page: reading the customer failed");
    }
    let known = known.ok().flatten().unwrap_or_default();
    Payer {
        name: name.map(str::to_owned).or(known.name),
        email: email.map(str::to_owned).or(known.email),
        card: card.ok().flatten(),
        subscribed_again: false,
    }
}

/// The payer's lines on the page: who is billed, and which card (brand and
/// last 4 only).
fn payer_details(payer: &Payer, locale: Locale) -> (Option<String>, Option<String>) {
    let billed_to = match (&payer.name, &payer.email) {
        // One per line (the page keeps the line break).
        (Some(name), Some(email)) => Some(format!("{name}\n{email}")),
        (Some(one), None) | (None, Some(one)) => Some(one.clone()),
        (None, None) => None,
    };
    let card = payer
        .card
        .as_ref()
        .filter(|c| c.last4.is_some())
        .map(|c| card_name(locale, c.brand.as_deref(), c.last4.as_deref()));
    (billed_to, card)
}

pub(super) fn base(engine: &Engine) -> &str {
    engine.config.public_url.as_str().trim_end_matches('/')
}

/// What the case has planned, for the page: its next charge and the day
/// its final action comes (the instants the emails name).
#[derive(Debug, Default)]
pub(super) struct Planned {
    pub(super) next_retry: Option<DateTime<Utc>>,
    pub(super) final_at: Option<DateTime<Utc>>,
}

/// Case `case`'s planned work.
pub(super) async fn planned(engine: &Engine, case: &CaseRow) -> Planned {
    use crate::domain::work::{Work, WorkStatus};
    let rows = match engine.store.work_of(case.id).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), case_id = %case.id, "billing page: reading the planned work failed");
            return Planned::default();
        }
    };
    let due = |want: fn(&Work) -> bool| {
        rows.iter()
            .filter(|w| w.status == WorkStatus::Pending && want(&w.work))
            .map(|w| w.due_at)
            .min()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
    };
    Planned {
        next_retry: due(|w| matches!(w, Work::Retry(_))),
        final_at: due(|w| matches!(w, Work::Final(_))),
    }
}

/// What the page says of a trip to the card page.
fn visit_banner(
    w: &PageWords,
    outcome: VisitOutcome,
    date: impl Fn(DateTime<Utc>) -> String,
) -> Banner {
    let (title, message, ok) = match outcome {
        VisitOutcome::Paid => (w.visit_paid_title, w.visit_paid_message.to_owned(), true),
        VisitOutcome::Declined => (
            w.visit_declined_title,
            w.visit_declined_message.to_owned(),
            false,
        ),
        VisitOutcome::Charging => (
            w.visit_charging_title,
            w.visit_charging_message.to_owned(),
            true,
        ),
        VisitOutcome::ChargeOn(at) => (
            w.visit_saved_title,
            w.visit_charge_on_message.replace("{date}", &date(at)),
            true,
        ),
        VisitOutcome::Saved => (w.visit_saved_title, w.visit_saved_message.to_owned(), true),
        VisitOutcome::AlreadyTried => (
            w.visit_already_title,
            w.visit_already_message.to_owned(),
            false,
        ),
        VisitOutcome::NoNewCard => (
            w.visit_no_card_title,
            w.visit_no_card_message.to_owned(),
            false,
        ),
        VisitOutcome::Checking => (
            w.visit_checking_title,
            w.visit_checking_message.to_owned(),
            true,
        ),
    };
    Banner { title, message, ok }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn case_view(
    engine: &Engine,
    policy: &Policy,
    case: &CaseRow,
    token: &str,
    purpose: Purpose,
    payer: &Payer,
    locale: Locale,
    planned: &Planned,
    visit: Option<VisitOutcome>,
    visit_id: Option<&str>,
    offers: &OfferContext,
    offer_shown: Option<&str>,
) -> PageView {
    use crate::domain::case::CaseState;
    let w: &PageWords = page_words(locale);
    let state = case.track.case.as_ref().map(|c| c.state);
    let owed = locale.money(case.amount_due, &case.currency);
    let tz = timezone_of(engine, case);
    let opened = case
        .opened_at
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| locale.short_date(t.with_timezone(&tz).date_naive()));
    let (billed_to, card) = payer_details(payer, locale);
    let mut details = Vec::new();
    if let Some(who) = billed_to {
        details.push((w.billed_to, who));
    }
    // After a plan change, the plan the customer is on now.
    let new_plan = offers.taken.as_ref().and_then(|(o, _)| {
        let price = offers.price(o.price.as_ref())?;
        (o.kind == OfferKind::PlanChange).then(|| price.product.clone())?
    });
    if let Some(plan) = new_plan.or_else(|| case.description.as_deref().and_then(plan_name)) {
        details.push((w.plan, plan));
    }
    details.push((
        w.invoice,
        case.invoice_number
            .clone()
            .unwrap_or_else(|| case.invoice_id.to_string()),
    ));
    match (state, opened) {
        (Some(CaseState::Recovered), _) => {
            let paid = case.amount_paid.unwrap_or(case.amount_due);
            details.push((w.paid, locale.money(paid, &case.currency)));
        }
        (Some(s), Some(date)) if !s.is_terminal() => details.push((w.due_since, date)),
        _ => {}
    }
    if let Some(card) = card {
        details.push((w.card, card));
    }
    let live_state = state.is_some_and(|s| !s.is_terminal());
    let day = |t: DateTime<Utc>| locale.date(t.with_timezone(&tz).date_naive());
    if live_state {
        if let Some(at) = planned.next_retry {
            details.push((w.next_retry, day(at)));
        }
        if let Some(at) = planned.final_at {
            details.push((w.pay_by, day(deadline_day(at))));
        }
    }
    let latest = case.track.case.as_ref().and_then(|c| c.latest.as_ref());
    let auth = live_state && Why::of(latest) == Why::Auth;
    let day_of = |ms: Option<i64>| {
        ms.and_then(DateTime::<Utc>::from_timestamp_millis)
            .map(day)
            .unwrap_or_default()
    };
    let paused_until = offers
        .taken
        .as_ref()
        .filter(|(o, _)| o.kind == OfferKind::Pause)
        .map(|(_, resumes)| day_of(*resumes));
    let (title, status, settled, message, live) = match state {
        Some(s) if s.is_terminal() && paused_until.is_some() => {
            let (status, title, message) =
                offer_words::paused(locale, paused_until.as_deref().unwrap_or_default());
            (title, status, true, message, false)
        }
        Some(CaseState::Canceled) if payer.subscribed_again => (
            w.resubscribed_title,
            w.resubscribed_status,
            true,
            w.resubscribed_message.to_owned(),
            false,
        ),
        Some(CaseState::Canceled) => {
            let on = case
                .ended_at
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .map(|t| locale.short_date(t.with_timezone(&tz).date_naive()))
                .unwrap_or_default();
            let message = w
                .canceled_message
                .replace("{amount}", &owed)
                .replace("{date}", &on);
            (w.canceled_title, w.canceled_status, true, message, false)
        }
        Some(CaseState::Recovered) => (
            w.paid_title,
            w.paid_status,
            true,
            w.paid_message.to_owned(),
            false,
        ),
        Some(s) if s.is_terminal() => (
            w.closed_title,
            w.closed_status,
            true,
            w.closed_message.to_owned(),
            false,
        ),
        _ if auth => (
            w.confirm_title,
            w.due_status,
            false,
            w.confirm_message.to_owned(),
            true,
        ),
        _ => {
            let reason = match Why::of(latest) {
                Why::Funds => w.reason_funds,
                Why::Expired => w.reason_expired,
                Why::Card => w.reason_card,
                Why::Auth => w.reason_auth,
                Why::Declined => w.reason_declined,
            };
            (
                w.due_title,
                w.due_status,
                false,
                w.due_message.replace("{reason}", reason),
                true,
            )
        }
    };
    // A receipt link only looks.
    let act = live && purpose == Purpose::Billing;
    // Only a secure page of the processor's is linked.
    let invoice_url = case
        .hosted_invoice_url
        .clone()
        .filter(|u| act && u.starts_with("https://"));
    let open_amount = locale.money(case.amount_due, &case.currency);
    let facts = |o: &'_ Offer, resumes_on: String| (o.clone(), resumes_on);
    let taken_banner = offers
        .taken
        .as_ref()
        .filter(|(o, _)| offer_shown == Some(o.id.as_str()))
        .map(|(o, resumes)| {
            let (o, resumes_on) = facts(o, day_of(*resumes));
            let f = OfferFacts {
                offer: &o,
                price: offers.price(o.price.as_ref()),
                current_plan: None,
                open_amount: &open_amount,
                resumes_on: &resumes_on,
            };
            let (title, message) = offer_words::done(locale, &f);
            Banner {
                title,
                message,
                ok: true,
            }
        });
    let banner = visit.map(|v| visit_banner(w, v, day)).or(taken_banner);
    PageView {
        check_again: visit
            .filter(|v| v.refreshes())
            .zip(visit_id)
            .map(|(_, id)| (format!("?visit={id}"), w.check_again)),
        banner,
        confirm: auth && invoice_url.is_some(),
        confirm_label: w.confirm_button,
        title: title.to_owned(),
        status,
        settled,
        message,
        amount: live.then_some(owed),
        details,
        can_update_card: act,
        update_label: w.update_card,
        card_action: format!("{}/billing/update/{token}/card", base(engine)),
        reactivate_action: (state == Some(CaseState::Canceled)
            && !payer.subscribed_again
            && paused_until.is_none()
            && purpose == Purpose::Billing)
            .then(|| format!("{}/billing/update/{token}/reactivate", base(engine))),
        reactivate_label: w.reactivate,
        invoice_url,
        pay_label: w.pay_invoice,
        other_options: w.other_options,
        // One offer per case: none once one was taken.
        offers: if act && case.subscription_id.is_some() && offers.taken.is_none() {
            let now = engine.clock.now();
            let resumes_on = |days: u32| day(now + chrono::Duration::days(i64::from(days)));
            offers_for(
                engine,
                policy,
                token,
                locale,
                offers,
                &open_amount,
                &resumes_on,
            )
        } else {
            Vec::new()
        },
    }
}

/// The policy's offers as the page's buttons, in the customer's words.
fn offers_for(
    engine: &Engine,
    policy: &Policy,
    token: &str,
    locale: Locale,
    offers: &OfferContext,
    open_amount: &str,
    resumes_on: &dyn Fn(u32) -> String,
) -> Vec<OfferButton> {
    let labels = offer_labels(policy, locale, &offers.prices, open_amount, resumes_on);
    policy
        .offers
        .iter()
        .zip(labels)
        .map(|(o, label)| OfferButton {
            href: format!("{}/billing/offers/{token}/{}", base(engine), o.id),
            label,
            price: offers
                .price(o.price.as_ref())
                .map(|p| offer_words::price_text(locale, p)),
        })
        .collect()
}

pub(super) fn customer_view(
    engine: &Engine,
    token: &str,
    payer: &Payer,
    locale: Locale,
) -> PageView {
    let w = page_words(locale);
    let (billed_to, card) = payer_details(payer, locale);
    let details = [(w.billed_to, billed_to), (w.card, card)]
        .into_iter()
        .filter_map(|(label, value)| Some((label, value?)))
        .collect();
    PageView {
        banner: None,
        check_again: None,
        confirm: false,
        confirm_label: w.confirm_button,
        title: w.expiring_title.into(),
        status: w.expiring_status,
        settled: false,
        message: w.expiring_message.into(),
        amount: None,
        details,
        can_update_card: true,
        update_label: w.update_card,
        card_action: format!("{}/billing/update/{token}/card", base(engine)),
        reactivate_action: None,
        reactivate_label: w.reactivate,
        invoice_url: None,
        pay_label: w.pay_invoice,
        other_options: w.other_options,
        offers: Vec::new(),
    }
}
