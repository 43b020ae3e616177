//! Where rendered emails go: an SMTP server (lettre) when
//! `DUNWELL_SMTP_URL` is set, else nowhere but the outbox table, which
//! always keeps a copy.

use anyhow::Context;
use lettre::message::header::{Date, MessageId};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::Rendered;
use crate::config::Config;

#[derive(Clone)]
pub struct Mailer {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    /// Where replies go: the brand's support address.
    reply_to: Option<Mailbox>,
    /// Sends of this process wait their turn (`DUNWELL_SMTP_MAX_PER_SEC`).
    pace: std::sync::Arc<crate::pace::Pace>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &self.smtp.is_some())
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// The configured mailer; on PostgreSQL its SMTP pace is shared by
    /// every process on `store`.
    pub fn from_config(config: &Config, store: &crate::store::Store) -> anyhow::Result<Self> {
        let mut from: Mailbox = config
            .mail_from
            .as_deref()
            .unwrap_or("dunwell <billing@localhost>")
            .parse()
            .context("DUNWELL_MAIL_FROM is not a valid mailbox")?;
        // The brand names the sender unless DUNWELL_MAIL_FROM does.
        let brand = &config.brand;
        if let Some(name) = brand.sender_name.clone().or_else(|| {
            config
                .mail_from
                .as_deref()
                .is_none_or(|f| !f.contains('<'))
                .then(|| brand.name.clone())
        }) {
            from.name = Some(super::one_line(&name));
        }
        let reply_to = match &brand.support_email {
            Some(address) => Some(
                address
                    .parse()
                    .context("brand.support_email is not a valid address")?,
            ),
            None => None,
        };
        let smtp = match &config.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .context("DUNWELL_SMTP_URL is not a valid SMTP URL")?
                    .timeout(Some(std::time::Duration::from_secs(30)))
                    .build(),
            ),
            None => None,
        };
        Ok(Self {
            smtp,
            from,
            reply_to,
            pace: std::sync::Arc::new({
                let mut pace = crate::pace::Pace::new(config.smtp_max_per_sec);
                pace.share(store, "smtp");
                pace
            }),
        })
    }

    /// Whether emails leave through SMTP (else they stay in the outbox).
    pub fn delivers(&self) -> bool {
        self.smtp.is_some()
    }

    /// What becomes of an email to `recipient` before anything is sent:
    /// `no_recipient`, `outbox` (no SMTP server) or `sending`.
    pub fn first_status(&self, recipient: Option<&str>) -> &'static str {
        match (recipient, self.delivers()) {
            (None, _) => "no_recipient",
            (Some(_), true) => "sending",
            (Some(_), false) => "outbox",
        }
    }

    /// Sends one email. `message_id` is stable per (case, kind, stage), so
    /// even a resend after a crash is recognisable as the same message.
    pub async fn send(&self, to: &str, mail: &Rendered, message_id: &str) -> anyhow::Result<()> {
        let Some(smtp) = &self.smtp else {
            anyhow::bail!("no SMTP server configured");
        };
        let to: Mailbox = to
            .parse()
            .context("the customer's email address is not valid")?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            // One line whatever the template produced: a CR or LF in a
            // customer's name cannot add a header.
            .subject(super::one_line(&mail.subject))
            .header(MessageId::from(message_id.to_owned()))
            .header(Date::now());
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .context("building the email")?;
        self.pace.acquire().await;
        smtp.send(message).await.context("SMTP delivery")?;
        Ok(())
    }
}
