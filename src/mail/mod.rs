//! Customer emails: askama templates (`templates/email/<kind>/`, an HTML and
//! a text body each) and the transports (SMTP via lettre, or the outbox).

pub mod preview;
mod templates;
pub mod transport;

pub use transport::Mailer;

pub use crate::domain::mail_kind::MailKind;
use crate::domain::policy::{Policy, StageEmail, Tone};

impl From<StageEmail> for MailKind {
    fn from(stage: StageEmail) -> Self {
        match stage {
            StageEmail::PaymentFailed => Self::PaymentFailed,
            StageEmail::FinalNotice => Self::FinalNotice,
        }
    }
}

/// Which firm reminder the email of policy stage `day` is ("First",
/// "Second"...): the policy's firm stages up to it.
pub fn reminder_of(policy: &Policy, day: u32) -> String {
    let n = policy
        .stages
        .iter()
        .filter(|s| s.tone == Tone::Firm && s.day <= day)
        .count();
    ordinal(n.max(1))
}

/// "First", "Second"... for reminder number `n` (1-based).
fn ordinal(n: usize) -> String {
    const WORDS: [&str; 10] = [
        "First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth",
        "Tenth",
    ];
    WORDS
        .get(n.wrapping_sub(1))
        .map_or_else(|| format!("{n}th"), |w| (*w).to_owned())
}

/// What every template may show. Built by the send_email job from the case.
#[derive(Debug, Clone, PartialEq)]
pub struct MailView {
    /// First name or "there".
    pub name: String,
    /// `49.00 USD`.
    pub amount: String,
    /// The plan or "your subscription".
    pub product: String,
    /// friendly | firm | final.
    pub tone: &'static str,
    /// Which reminder this is ("First", "Second"...), for firm emails: two
    /// stages never read the same.
    pub reminder: String,
    /// Days since the payment failed (the stage's day).
    pub days: u32,
    /// The signed card-update link.
    pub update_url: String,
    /// The processor's hosted invoice page, when known.
    pub invoice_url: Option<String>,
    /// Why the payment failed, in words safe for the customer.
    pub reason: String,
    /// The final action in words ("your subscription will be canceled").
    pub consequence: String,
    /// When the final action happens, in the customer's calendar.
    pub final_date: String,
    /// Offer labels (plan changes, pause).
    pub offers: Vec<String>,
    /// dunwell will retry the card by itself.
    pub retrying: bool,
    /// The card on file ("Visa ending 4242"), pre-dunning.
    pub card: String,
    /// Its last month ("December 2026").
    pub card_expires: String,
    /// When the next payment is taken.
    pub renewal_date: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn render(kind: MailKind, view: &MailView) -> anyhow::Result<Rendered> {
    templates::render(kind, view)
}

/// Sample data for `preview-email` and tests.
pub fn sample_view(tone: &'static str) -> MailView {
    MailView {
        name: "Ada".into(),
        amount: "49.00 USD".into(),
        product: "Pro plan (monthly)".into(),
        tone,
        reminder: "First".into(),
        days: 3,
        update_url: "http://127.0.0.1:8080/billing/update/c1.1900000000.sample".into(),
        invoice_url: Some("https://invoice.stripe.com/i/sample".into()),
        reason: "the card on file has expired".into(),
        consequence: "your subscription will be canceled".into(),
        final_date: "Tuesday 24 March 2026".into(),
        offers: vec!["Switch to yearly and save 20%".into()],
        retrying: true,
        card: "Visa card ending 4242".into(),
        card_expires: "March 2026".into(),
        renewal_date: "Wednesday 1 April 2026".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_renders_html_and_text() {
        for kind in MailKind::ALL {
            for tone in ["friendly", "firm", "final"] {
                let r = render(kind, &sample_view(tone)).unwrap();
                assert!(
                    !r.subject.is_empty() && !r.subject.contains('\n'),
                    "{kind:?}"
                );
                assert!(r.text.contains("Ada") && r.html.contains("Ada"), "{kind:?}");
                assert!(r.html.starts_with("<!doctype html>"), "{kind:?}");
                assert!(r.text.contains("49.00 USD"), "{kind:?}");
            }
        }
    }

    #[test]
    fn tones_grow_firmer_and_the_last_states_the_consequence() {
        let friendly = render(MailKind::PaymentFailed, &sample_view("friendly")).unwrap();
        let firm = render(MailKind::PaymentFailed, &sample_view("firm")).unwrap();
        let last = render(MailKind::PaymentFailed, &sample_view("final")).unwrap();
        assert!(friendly.text.contains("quick to fix"));
        assert!(firm.subject.starts_with("First reminder"));
        assert!(last.text.contains("your subscription will be canceled"));
        assert!(!friendly.text.contains("canceled"));
        let notice = render(MailKind::FinalNotice, &sample_view("final")).unwrap();
        assert!(
            notice
                .text
                .contains("Tuesday 24 March 2026, your subscription will be canceled")
        );
    }

    #[test]
    fn reminders_of_two_stages_read_differently() {
        let first = sample_view("firm");
        let second = MailView {
            reminder: "Second".into(),
            days: 7,
            ..sample_view("firm")
        };
        let (a, b) = (
            render(MailKind::PaymentFailed, &first).unwrap(),
            render(MailKind::PaymentFailed, &second).unwrap(),
        );
        assert_ne!(a.subject, b.subject);
        assert!(b.subject.starts_with("Second reminder"), "{}", b.subject);
        assert!(b.subject.contains("7 days"), "{}", b.subject);
        assert!(b.text.contains("second reminder"), "{}", b.text);
        assert!(b.text.contains("Tuesday 24 March 2026"), "{}", b.text);
    }

    #[test]
    fn html_escapes_what_the_processor_sent() {
        let mut view = sample_view("friendly");
        view.name = "<script>x</script>".into();
        let r = render(MailKind::PaymentFailed, &view).unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&#60;script&#62;") || r.html.contains("&lt;script&gt;"));
        // The plain-text body is not HTML: it shows the name as given.
        assert!(r.text.contains("<script>x</script>"));
    }
}
