//! Customer emails. What each kind says is an askama template per language
//! (`templates/email/<kind>/<locale>.txt`: the subject, a blank line, then
//! paragraphs); one shared layout (`templates/email/layout.{html,txt}`)
//! puts the brand, the greeting, the summary, the button and the footer
//! around it, as HTML and as plain text. Languages without a template of
//! their own fall back to English.

pub mod offer_words;
pub mod overrides;
pub mod preview;
mod templates;
pub mod transport;
pub mod words;

pub use transport::Mailer;

use crate::domain::brand::Brand;
use crate::domain::locale::Locale;
pub use crate::domain::mail_kind::MailKind;
use crate::domain::policy::{Policy, StageEmail, Tone};
use crate::domain::price::Price;

impl From<StageEmail> for MailKind {
    fn from(stage: StageEmail) -> Self {
        match stage {
            StageEmail::PaymentFailed => Self::PaymentFailed,
            StageEmail::FinalNotice => Self::FinalNotice,
        }
    }
}

/// Which firm reminder the email of policy stage `day` is (1, 2…): the
/// policy's firm stages up to it.
pub fn reminder_of(policy: &Policy, day: u32) -> u32 {
    let n = policy
        .stages
        .iter()
        .filter(|s| s.tone == Tone::Firm && s.day <= day)
        .count();
    n.max(1) as u32
}

/// Why a payment failed, as the customer is told: the wording of every
/// email follows it, and nothing fraud-like is ever said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Balance or limit: a retry on payday may work.
    Funds,
    /// The card expired: a new one is needed.
    Expired,
    /// The bank will not take this card again (number invalid, closed…).
    Card,
    /// The bank asks the customer to confirm (3-D Secure).
    Auth,
    /// Anything else, fraud-like included: "your bank declined the payment".
    Declined,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Funds => "funds",
            Self::Expired => "expired",
            Self::Card => "card",
            Self::Auth => "auth",
            Self::Declined => "declined",
        }
    }

    pub fn of(decline: Option<&crate::domain::decline::Classification>) -> Self {
        use crate::domain::decline::DeclineCategory;
        let Some(d) = decline else {
            return Self::Declined;
        };
        if d.fraud {
            return Self::Declined;
        }
        match (d.category, d.code.as_str()) {
            (_, "expired_card") => Self::Expired,
            (DeclineCategory::Funds, _) => Self::Funds,
            (DeclineCategory::CustomerAction, _) => Self::Auth,
            (DeclineCategory::Hard, _) => Self::Card,
            (DeclineCategory::Transient, _) => Self::Declined,
        }
    }
}

/// What every template may show, in the customer's language already (the
/// operator's own templates read it as `m`, serialized).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MailView {
    #[serde(serialize_with = "locale_tag")]
    pub locale: Locale,
    pub brand: Brand,
    /// First name, when known.
    pub name: Option<String>,
    /// What is owed (what was paid, in a thank-you): `$49.00`, `19,99 €`.
    pub amount: String,
    /// The plan's name, or "your subscription" in the customer's language.
    pub plan: String,
    /// The plan's name when known (for the summary).
    pub plan_name: Option<String>,
    /// The invoice's number as the customer's invoice shows it.
    pub invoice_number: Option<String>,
    /// friendly | firm | final.
    pub tone: &'static str,
    /// Which firm reminder this is (1, 2…) and its word ("second").
    pub reminder: u32,
    pub ordinal: String,
    /// Days since the payment failed (the stage's day), and its CLDR
    /// plural category in the view's language (`one`, `other`…).
    pub days: u32,
    pub days_plural: &'static str,
    /// funds | expired | card | auth | declined (`Why`).
    pub why: &'static str,
    /// When dunwell will try the card again, if a retry is planned.
    pub next_retry: Option<String>,
    /// cancel | downgrade | mark_uncollectible | pause | none.
    pub final_action: &'static str,
    /// When the final action happens.
    pub final_date: String,
    /// The signed link to the customer's billing page.
    pub update_url: String,
    /// The processor's hosted invoice page (`https://` only).
    pub invoice_url: Option<String>,
    /// Offer labels (plan changes, pause), shown on the page.
    pub offers: Vec<String>,
    /// A gentle line for the thank-you (a plan change the policy marks
    /// `thank_you`, never a downgrade).
    pub upsell: Option<String>,
    /// The offer taken (`offer_taken`), or the final downgrade: its kind
    /// (`plan_change` | `pause` | empty), the new plan's name and price as
    /// the processor states them, and when a pause ends.
    pub offer_kind: &'static str,
    pub offer_plan: Option<String>,
    pub offer_price: Option<String>,
    pub resumes_on: String,
    /// The card on file ("Visa ending 4242"), pre-dunning.
    pub card: String,
    /// Its last month ("December 2026").
    pub card_expires: String,
    /// When the next payment is taken.
    pub renewal_date: String,
    /// When the payment went through (thank-you) or the case ended.
    pub date: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// `kind` in the view's language, in dunwell's own words.
pub fn render(kind: MailKind, view: &MailView) -> anyhow::Result<Rendered> {
    templates::render(kind, view, &overrides::Overrides::default())
}

/// `kind` in the view's language, in the operator's words where
/// `overrides` has them.
pub fn render_with(
    kind: MailKind,
    view: &MailView,
    overrides: &overrides::Overrides,
) -> anyhow::Result<Rendered> {
    templates::render(kind, view, overrides)
}

fn locale_tag<S: serde::Serializer>(locale: &Locale, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(locale.as_str())
}

/// Sample data for `preview-email` and tests: the effective brand and
/// offers, an invented customer.
pub fn sample_view(policy: &Policy, brand: &Brand, tone: &'static str, locale: Locale) -> MailView {
    use chrono::NaiveDate;
    let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).expect("a March day");
    MailView {
        locale,
        brand: brand.clone(),
        name: Some("Ada".into()),
        amount: locale.money(4900, "usd"),
        plan: "Pro".into(),
        plan_name: Some("Pro".into()),
        invoice_number: Some("A1B2C3D4-0007".into()),
        tone,
        reminder: 1,
        ordinal: words::ordinal(locale, 1),
        days: 3,
        days_plural: locale.plural(3),
        why: Why::Funds.as_str(),
        next_retry: Some(locale.date(day(6))),
        final_action: policy.final_.action.as_str(),
        final_date: locale.date(day(24)),
        update_url: "http://127.0.0.1:8080/billing/update/c1.b.1900000000.sample".into(),
        invoice_url: Some("https://invoice.stripe.com/i/sample".into()),
        offers: offer_labels(policy, locale, &[], &locale.money(4900, "usd"), &|days| {
            locale.date(day(3) + chrono::Duration::days(i64::from(days)))
        }),
        upsell: upsell(policy, locale, &[]),
        // As an `offer_taken` or downgrade email shows them: the processor's
        // (simulated) price of the policy's first offer.
        offer_kind: policy
            .offers
            .first()
            .map_or("plan_change", |o| o.kind.as_str()),
        offer_plan: Some("Basic".into()),
        offer_price: Some(offer_words::price_text(
            locale,
            &crate::processor::simulated::price(
                &crate::domain::ids::PriceId::parse("price_basic").expect("an id"),
            ),
        )),
        resumes_on: locale.date(day(3) + chrono::Duration::days(30)),
        card: words::card_name(locale, Some("visa"), Some("4242")),
        card_expires: locale.month_year(2026, 3),
        renewal_date: locale.date(day(31)),
        date: locale.date(day(3)),
    }
}

/// The policy's offers as `locale` reads them: each label in the
/// customer's language, with the processor's price (`prices`) where
/// dunwell writes the label itself; `resumes_on`: when a pause chosen now
/// would end, written out; `open_amount`: the open payment.
pub fn offer_labels(
    policy: &Policy,
    locale: Locale,
    prices: &[Price],
    open_amount: &str,
    resumes_on: &dyn Fn(u32) -> String,
) -> Vec<String> {
    policy
        .offers
        .iter()
        .map(|offer| offer_label(policy, locale, offer, prices, open_amount, resumes_on))
        .collect()
}

fn offer_label(
    policy: &Policy,
    locale: Locale,
    offer: &crate::domain::policy::Offer,
    prices: &[Price],
    open_amount: &str,
    resumes_on: &dyn Fn(u32) -> String,
) -> String {
    let price = offer
        .price
        .as_ref()
        .and_then(|id| prices.iter().find(|p| &p.id == id));
    let facts = offer_words::OfferFacts {
        offer,
        price,
        current_plan: None,
        open_amount,
        resumes_on: &resumes_on(offer.pause_days),
    };
    offer_words::label(locale, policy.default_locale, &facts)
}

/// The thank-you's "by the way" line: a plan change the policy marks
/// `thank_you = true` (never simply the first offer, which may well be a
/// downgrade), in the operator's words for the customer's language (none
/// when they wrote none for it).
pub fn upsell(policy: &Policy, locale: Locale, prices: &[Price]) -> Option<String> {
    let offer = policy
        .offers
        .iter()
        .find(|o| o.thank_you && o.kind == crate::domain::policy::OfferKind::PlanChange)?;
    // Only the operator's own words: dunwell's labels are button captions
    // ("Switch to Basic"), not a sentence for "By the way: …".
    let own = locale == policy.default_locale || offer.labels.iter().any(|(l, _)| *l == locale);
    own.then(|| offer_label(policy, locale, offer, prices, "", &|_| String::new()))
}

/// What a name or other processor-given text may be in a header or a
/// line: control characters (CR, LF…) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests;
