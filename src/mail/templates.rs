//! One askama struct per (kind, language) template and the shared layout;
//! `render` writes a kind in the view's language, in HTML and plain text.

use askama::Template;

use super::overrides::Overrides;
use super::words::{Words, words};
use super::{MailKind, MailView, Rendered, Why, one_line};
use crate::domain::locale::Locale;

macro_rules! contents {
    ($($kind:ident => [$en:literal, $de:literal, $fr:literal, $es:literal, $pt:literal, $pt_br:literal]),* $(,)?) => {
        $(
            #[allow(non_snake_case)]
            mod $kind {
                use askama::Template;
                use crate::mail::MailView;

                #[derive(Template)]
                #[template(path = $en)]
                pub struct En<'a> {
                    pub m: &'a MailView,
                }

                #[derive(Template)]
                #[template(path = $de)]
                pub struct De<'a> {
                    pub m: &'a MailView,
                }

                #[derive(Template)]
                #[template(path = $fr)]
                pub struct Fr<'a> {
                    pub m: &'a MailView,
                }

                #[derive(Template)]
                #[template(path = $es)]
                pub struct Es<'a> {
                    pub m: &'a MailView,
                }

                #[derive(Template)]
                #[template(path = $pt)]
                pub struct Pt<'a> {
                    pub m: &'a MailView,
                }

                #[derive(Template)]
                #[template(path = $pt_br)]
                pub struct PtBr<'a> {
                    pub m: &'a MailView,
                }
            }
        )*

        /// What `kind` says in the view's language: the subject line, a
        /// blank line, then paragraphs separated by blank lines.
        fn content(kind: MailKind, m: &MailView) -> askama::Result<String> {
            match kind {
                $(
                    MailKind::$kind => match m.locale {
                        Locale::En => $kind::En { m }.render(),
                        Locale::De => $kind::De { m }.render(),
                        Locale::Fr => $kind::Fr { m }.render(),
                        Locale::Es => $kind::Es { m }.render(),
                        Locale::Pt => $kind::Pt { m }.render(),
                        Locale::PtBr => $kind::PtBr { m }.render(),
                    },
                )*
            }
        }
    };
}

contents! {
    PaymentFailed => [
        "email/payment_failed/en.txt", "email/payment_failed/de.txt", "email/payment_failed/fr.txt",
        "email/payment_failed/es.txt", "email/payment_failed/pt.txt", "email/payment_failed/pt-BR.txt"
    ],
    FinalNotice => [
        "email/final_notice/en.txt", "email/final_notice/de.txt", "email/final_notice/fr.txt",
        "email/final_notice/es.txt", "email/final_notice/pt.txt", "email/final_notice/pt-BR.txt"
    ],
    ActionRequired => [
        "email/action_required/en.txt", "email/action_required/de.txt", "email/action_required/fr.txt",
        "email/action_required/es.txt", "email/action_required/pt.txt", "email/action_required/pt-BR.txt"
    ],
    ThankYou => [
        "email/thank_you/en.txt", "email/thank_you/de.txt", "email/thank_you/fr.txt",
        "email/thank_you/es.txt", "email/thank_you/pt.txt", "email/thank_you/pt-BR.txt"
    ],
    CardExpiring => [
        "email/card_expiring/en.txt", "email/card_expiring/de.txt", "email/card_expiring/fr.txt",
        "email/card_expiring/es.txt", "email/card_expiring/pt.txt", "email/card_expiring/pt-BR.txt"
    ],
    SubscriptionCanceled => [
        "email/subscription_canceled/en.txt", "email/subscription_canceled/de.txt",
        "email/subscription_canceled/fr.txt", "email/subscription_canceled/es.txt",
        "email/subscription_canceled/pt.txt", "email/subscription_canceled/pt-BR.txt"
    ],
    SubscriptionDowngraded => [
        "email/subscription_downgraded/en.txt", "email/subscription_downgraded/de.txt",
        "email/subscription_downgraded/fr.txt", "email/subscription_downgraded/es.txt",
        "email/subscription_downgraded/pt.txt", "email/subscription_downgraded/pt-BR.txt"
    ],
    OfferTaken => [
        "email/offer_taken/en.txt", "email/offer_taken/de.txt", "email/offer_taken/fr.txt",
        "email/offer_taken/es.txt", "email/offer_taken/pt.txt", "email/offer_taken/pt-BR.txt"
    ],
}

/// Everything around what a kind says.
struct Frame<'a> {
    m: &'a MailView,
    w: &'a Words,
    subject: String,
    greeting: String,
    paragraphs: Vec<String>,
    /// The button's label and link: the signed billing page, or where the
    /// bank's confirmation runs (the processor's hosted invoice page).
    button: &'a str,
    button_url: &'a str,
    /// The button confirms the payment with the bank.
    confirm: bool,
    /// Plan, amount and invoice as a small table.
    summary: Vec<(&'a str, String)>,
    /// Dunning emails show the invoice link and the offers.
    dunning: bool,
}

#[derive(Template)]
#[template(path = "email/layout.html")]
struct Html<'a> {
    f: &'a Frame<'a>,
}

#[derive(Template)]
#[template(path = "email/layout.txt")]
struct Text<'a> {
    f: &'a Frame<'a>,
}

/// Splits a content template's output into the subject and paragraphs
/// (lines of one paragraph joined).
fn split(content: &str) -> (String, Vec<String>) {
    let mut blocks = content
        .split("\n\n")
        .map(|b| b.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|b| !b.is_empty());
    let subject = blocks.next().unwrap_or_default();
    (subject, blocks.collect())
}

pub fn render(kind: MailKind, m: &MailView, overrides: &Overrides) -> anyhow::Result<Rendered> {
    let w = words(m.locale);
    // The operator's words; should they fail on a case the start-up check
    // did not foresee, the customer still gets dunwell's.
    let text = match overrides.content(kind, m) {
        Some(Ok(text)) => text,
        Some(Err(e)) => {
            tracing::error!(error = %e, kind = kind.as_str(), "the operator's template failed: dunwell's own words go out instead");
            content(kind, m)?
        }
        None => content(kind, m)?,
    };
    let (subject, paragraphs) = split(&text);
    let greeting = match &m.name {
        Some(name) => w.hello_name.replace("{name}", &one_line(name)),
        None => w.hello.to_owned(),
    };
    let confirming = match kind {
        MailKind::ActionRequired => true,
        MailKind::PaymentFailed | MailKind::FinalNotice => m.why == Why::Auth.as_str(),
        _ => false,
    };
    // Where the bank's check runs, when the processor gave a secure page.
    let confirm_at = m.invoice_url.as_deref().filter(|_| confirming);
    let button = match kind {
        _ if confirming => w.confirm_payment,
        MailKind::SubscriptionCanceled => w.reactivate,
        MailKind::ThankYou | MailKind::SubscriptionDowngraded | MailKind::OfferTaken => {
            w.view_account
        }
        _ => w.update_card,
    };
    let mut summary = Vec::new();
    if matches!(
        kind,
        MailKind::OfferTaken | MailKind::SubscriptionDowngraded
    ) {
        // What the customer has now, not what they had.
        if let Some(plan) = m.offer_plan.as_ref().or(m.plan_name.as_ref()) {
            summary.push((w.plan, plan.clone()));
        }
        if let Some(price) = &m.offer_price {
            summary.push((w.amount, price.clone()));
        } else if kind == MailKind::SubscriptionDowngraded {
            summary.push((w.amount, m.amount.clone()));
        }
    } else if kind != MailKind::CardExpiring {
        if let Some(plan) = &m.plan_name {
            summary.push((w.plan, plan.clone()));
        }
        summary.push((w.amount, m.amount.clone()));
        if let Some(number) = &m.invoice_number {
            summary.push((w.invoice, number.clone()));
        }
    }
    let frame = Frame {
        m,
        w,
        subject: one_line(&subject),
        greeting,
        paragraphs,
        button,
        button_url: confirm_at.unwrap_or(&m.update_url),
        confirm: confirm_at.is_some(),
        summary,
        dunning: matches!(
            kind,
            MailKind::PaymentFailed | MailKind::FinalNotice | MailKind::ActionRequired
        ),
    };
    Ok(Rendered {
        subject: frame.subject.clone(),
        text: Text { f: &frame }.render()?,
        html: Html { f: &frame }.render()?,
    })
}
