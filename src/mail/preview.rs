//! `dunwell preview-email KIND [--stage N] [--format html|text]`: a template
//! rendered with sample data and the tone the policy gives that stage.

use super::{MailKind, MailView, reminder_of, render, sample_view};
use crate::domain::policy::Policy;

#[derive(Debug, Clone, clap::Args)]
pub struct PreviewArgs {
    /// payment_failed, final_notice, action_required, thank_you or card_expiring.
    pub kind: String,
    /// The policy stage (days since the first failure) whose tone to use.
    #[arg(long, default_value_t = 0)]
    pub stage: u32,
    /// html or text.
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// The rendered email, headed by its subject.
pub fn run(policy: &Policy, args: &PreviewArgs) -> anyhow::Result<String> {
    let Some(kind) = MailKind::parse(&args.kind) else {
        let known: Vec<_> = MailKind::ALL.iter().map(|k| k.as_str()).collect();
        anyhow::bail!(
            "unknown email kind {:?}; known: {}",
            args.kind,
            known.join(", ")
        );
    };
    let tone = match kind {
        MailKind::FinalNotice => "final",
        MailKind::PaymentFailed => policy
            .stages
            .iter()
            .find(|s| s.day == args.stage)
            .map_or("friendly", |s| s.tone.as_str()),
        MailKind::ActionRequired | MailKind::ThankYou | MailKind::CardExpiring => "friendly",
    };
    let view = MailView {
        reminder: reminder_of(policy, args.stage),
        days: args.stage,
        ..sample_view(tone)
    };
    let mail = render(kind, &view)?;
    let body = match args.format.as_str() {
        "text" => mail.text,
        "html" => mail.html,
        other => anyhow::bail!("--format must be html or text, got {other:?}"),
    };
    Ok(format!(
        "Subject: {}\n\n{}\n",
        mail.subject,
        body.trim_end()
    ))
}
