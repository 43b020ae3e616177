//! `dunwell preview-email KIND [--stage N] [--tone T] [--locale L] [--format html|text]`:
//! a template rendered with the effective policy and brand, the tone the
//! policy gives that stage, and an invented customer.

use super::overrides::Overrides;
use super::{MailKind, MailView, reminder_of, render_with, sample_view, words};
use crate::domain::brand::Brand;
use crate::domain::locale::Locale;
use crate::domain::policy::{Policy, StageEmail, Tone};

#[derive(Debug, Clone, clap::Args)]
pub struct PreviewArgs {
    /// payment_failed, final_notice, action_required, thank_you, card_expiring,
    /// subscription_canceled or subscription_downgraded.
    pub kind: String,
    /// The policy stage (days since the first failure) of a payment_failed
    /// or final_notice email; the first such stage when not given.
    #[arg(long)]
    pub stage: Option<u32>,
    /// friendly, firm or final: overrides the stage's tone.
    #[arg(long)]
    pub tone: Option<String>,
    /// en, de, fr, es or pt; the policy's default language when not given.
    #[arg(long)]
    pub locale: Option<String>,
    /// html or text.
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// The rendered email, headed by its subject.
/// The email `args` asks for, in the operator's words where `overrides`
/// has them.
pub fn run(
    policy: &Policy,
    brand: &Brand,
    overrides: &Overrides,
    args: &PreviewArgs,
) -> anyhow::Result<String> {
    let Some(kind) = MailKind::parse(&args.kind) else {
        let known: Vec<_> = MailKind::ALL.iter().map(|k| k.as_str()).collect();
        anyhow::bail!(
            "unknown email kind {:?}; known: {}",
            args.kind,
            known.join(", ")
        );
    };
    let locale = match args.locale.as_deref() {
        None => policy.default_locale,
        Some(tag) => Locale::parse(tag).ok_or_else(|| {
            anyhow::anyhow!("unknown --locale {tag:?}; known: en, de, fr, es, pt, pt-BR")
        })?,
    };
    let staged = |email: StageEmail| policy.stages.iter().filter(move |s| s.email == email);
    let (stage, tone) = match kind {
        MailKind::PaymentFailed | MailKind::FinalNotice => {
            let email = match kind {
                MailKind::PaymentFailed => StageEmail::PaymentFailed,
                _ => StageEmail::FinalNotice,
            };
            let found = match args.stage {
                Some(day) => staged(email).find(|s| s.day == day),
                None => staged(email).next(),
            };
            match (found, args.stage) {
                (Some(s), _) => (s.day, s.tone),
                (None, Some(day)) => {
                    let days: Vec<String> = staged(email).map(|s| s.day.to_string()).collect();
                    anyhow::bail!(
                        "the policy has no {} stage on day {day}; its {} stages are on days: {}",
                        kind.as_str(),
                        kind.as_str(),
                        if days.is_empty() {
                            "(none)".into()
                        } else {
                            days.join(", ")
                        }
                    );
                }
                (None, None) => (0, Tone::Final),
            }
        }
        _ => (0, Tone::Friendly),
    };
    let tone = match args.tone.as_deref() {
        None => tone,
        Some("friendly") => Tone::Friendly,
        Some("firm") => Tone::Firm,
        Some("final") => Tone::Final,
        Some(other) => anyhow::bail!("--tone must be friendly, firm or final, got {other:?}"),
    };
    let reminder = reminder_of(policy, stage);
    // The sample payment failed on 3 March 2026; this stage's email goes
    // out `stage` days later and names a retry two days on, if that is
    // still before the final action.
    let failed = chrono::NaiveDate::from_ymd_opt(2026, 3, 3).expect("a date");
    let on = |days: u32| locale.date(failed + chrono::Days::new(days.into()));
    let next = stage + 2;
    let view = MailView {
        reminder,
        ordinal: words::ordinal(locale, reminder),
        days: stage,
        days_plural: locale.plural(u64::from(stage)),
        next_retry: (next < policy.final_.day).then(|| on(next)),
        final_date: on(policy.final_.day),
        ..sample_view(policy, brand, tone.as_str(), locale)
    };
    let mail = render_with(kind, &view, overrides)?;
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
