//! One askama struct per template file; `render` picks a kind's three.

use askama::Template;

use super::{MailKind, MailView, Rendered};

macro_rules! email_templates {
    ($($kind:ident => ($subject:literal, $text:literal, $html:literal)),* $(,)?) => {
        $(
            #[allow(non_snake_case)]
            mod $kind {
                use askama::Template;
                use crate::mail::MailView;

                #[derive(Template)]
                #[template(path = $subject)]
                pub struct Subject<'a> {
                    pub m: &'a MailView,
                }

                #[derive(Template)]
                #[template(path = $text)]
                pub struct Text<'a> {
                    pub m: &'a MailView,
                }

                #[derive(Template)]
                #[template(path = $html)]
                pub struct Html<'a> {
                    pub m: &'a MailView,
                }
            }
        )*

        pub fn render(kind: MailKind, m: &MailView) -> anyhow::Result<Rendered> {
            match kind {
                $(
                    MailKind::$kind => Ok(Rendered {
                        subject: $kind::Subject { m }.render()?.trim().to_owned(),
                        text: $kind::Text { m }.render()?,
                        html: $kind::Html { m }.render()?,
                    }),
                )*
            }
        }
    };
}

email_templates! {
    PaymentFailed => (
        "email/payment_failed/subject.txt",
        "email/payment_failed/body.txt",
        "email/payment_failed/body.html"
    ),
    FinalNotice => (
        "email/final_notice/subject.txt",
        "email/final_notice/body.txt",
        "email/final_notice/body.html"
    ),
    ActionRequired => (
        "email/action_required/subject.txt",
        "email/action_required/body.txt",
        "email/action_required/body.html"
    ),
    ThankYou => (
        "email/thank_you/subject.txt",
        "email/thank_you/body.txt",
        "email/thank_you/body.html"
    ),
    CardExpiring => (
        "email/card_expiring/subject.txt",
        "email/card_expiring/body.txt",
        "email/card_expiring/body.html"
    ),
}
