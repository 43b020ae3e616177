//! The policy as the dashboard's form: its fields filled from a policy, and
//! a posted form (or TOML) read back into one. Keys the form does not show
//! (networks, time zone, language, link days, an offer's labels in other
//! languages) carry over from the running policy. Every problem names its key, as `check-config` does.

use crate::domain::policy::{
    FinalAction, OfferKind, Policy, RawFinal, RawHoldout, RawOffer, RawPolicy, RawRetries,
    RawStage, RetryOwner, StageEmail, Tone,
};
use crate::domain::policy_text::{self, Format};

/// Blank stage and offer rows offered for adding.
const SPARE_STAGES: usize = 2;
const SPARE_OFFERS: usize = 1;
/// At most this many rows are read back.
const MAX_ROWS: usize = 12;

#[derive(Debug, Clone, Default)]
pub struct StageRow {
    pub day: String,
    pub email: String,
    pub tone: String,
    /// (value, selected) for the selects.
    pub emails: Vec<(&'static str, bool)>,
    pub tones: Vec<(&'static str, bool)>,
}

#[derive(Debug, Clone, Default)]
pub struct OfferRow {
    pub id: String,
    pub kind: String,
    pub price: String,
    pub label: String,
    pub proration: String,
    pub pause_days: String,
    pub thank_you: bool,
    pub kinds: Vec<(&'static str, bool)>,
}

/// What the form's fields show.
#[derive(Debug, Clone, Default)]
pub struct FormView {
    pub retry_owner: String,
    pub max_attempts: String,
    pub window_days: String,
    pub stages: Vec<StageRow>,
    pub final_day: String,
    pub final_action: String,
    pub downgrade_price: String,
    pub quiet_hours: String,
    pub min_gap: String,
    pub offers: Vec<OfferRow>,
    pub holdout_version: String,
    pub holdout_share: String,
    /// The whole policy as TOML, for the text editor.
    pub toml: String,
    pub owners: Vec<(&'static str, bool)>,
    pub actions: Vec<(&'static str, bool)>,
}

/// The options of a select, the current one marked.
fn choices(options: &[&'static str], current: &str) -> Vec<(&'static str, bool)> {
    options.iter().map(|o| (*o, *o == current)).collect()
}

impl FormView {
    /// Marks the selected options (after the values are in).
    fn with_choices(mut self) -> Self {
        self.owners = choices(&OWNERS, &self.retry_owner);
        self.actions = choices(&ACTIONS, &self.final_action);
        for s in &mut self.stages {
            s.emails = choices(&EMAILS, &s.email);
            s.tones = choices(&TONES, &s.tone);
        }
        for o in &mut self.offers {
            o.kinds = choices(&OFFER_KINDS, &o.kind);
        }
        self
    }
}

pub const OWNERS: [&str; 3] = ["dunwell", "processor", "after_processor"];
pub const EMAILS: [&str; 2] = ["payment_failed", "final_notice"];
pub const TONES: [&str; 3] = ["friendly", "firm", "final"];
pub const ACTIONS: [&str; 5] = ["cancel", "downgrade", "mark_uncollectible", "pause", "none"];
pub const OFFER_KINDS: [&str; 2] = ["plan_change", "pause"];

impl FormView {
    /// The form showing `policy`, with blank rows to add stages and offers.
    pub fn of(policy: &Policy) -> Self {
        let mut stages: Vec<StageRow> = policy
            .stages
            .iter()
            .map(|s| StageRow {
                day: s.day.to_string(),
                email: s.email.as_str().into(),
                tone: s.tone.as_str().into(),
                ..StageRow::default()
            })
            .collect();
        stages.extend((0..SPARE_STAGES).map(|_| StageRow::default()));
        let mut offers: Vec<OfferRow> = policy
            .offers
            .iter()
            .map(|o| OfferRow {
                id: o.id.clone(),
                kind: o.kind.as_str().into(),
                price: o
                    .price
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                label: o.label.clone(),
                proration: o.proration_behavior.into(),
                pause_days: match o.kind {
                    OfferKind::Pause => o.pause_days.to_string(),
                    OfferKind::PlanChange => String::new(),
                },
                thank_you: o.thank_you,
                ..OfferRow::default()
            })
            .collect();
        offers.extend((0..SPARE_OFFERS).map(|_| OfferRow::default()));
        Self {
            retry_owner: policy.retry_owner.as_str().into(),
            max_attempts: policy.retries.max_attempts.to_string(),
            window_days: policy.retries.window_days.to_string(),
            stages,
            final_day: policy.final_.day.to_string(),
            final_action: policy.final_.action.as_str().into(),
            downgrade_price: policy
                .final_
                .downgrade_price
                .as_ref()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            quiet_hours: policy
                .courtesy
                .quiet_hours
                .map_or_else(|| "off".into(), |(a, b)| format!("{a}-{b}")),
            min_gap: policy.courtesy.min_gap_hours.to_string(),
            offers,
            holdout_version: policy
                .holdout
                .map(|h| h.version.to_string())
                .unwrap_or_default(),
            holdout_share: policy
                .holdout
                .map(|h| h.share_percent.to_string())
                .unwrap_or_default(),
            toml: policy_text::canonical_toml(policy),
            ..Self::default()
        }
        .with_choices()
    }
}

/// The posted fields, by name.
pub struct Posted(pub Vec<(String, String)>);

impl Posted {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }
}

fn whole(value: &str, key: &str, errors: &mut Vec<String>) -> Option<u32> {
    if value.is_empty() {
        errors.push(format!("policy.{key}: required"));
        return None;
    }
    value.parse().ok().or_else(|| {
        errors.push(format!(
            "policy.{key}: must be a whole number, got {value:?}"
        ));
        None
    })
}

fn pick<T: Copy>(
    value: &str,
    key: &str,
    options: &[(&str, T)],
    errors: &mut Vec<String>,
) -> Option<T> {
    let found = options
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v);
    if found.is_none() {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        errors.push(format!(
            "policy.{key}: must be one of {}, got {value:?}",
            names.join(", ")
        ));
    }
    found
}

/// The policy a posted form describes, on top of `running` (for the keys
/// the form does not show), validated. With a `toml` field, that text is
/// the policy instead.
pub fn read(posted: &Posted, running: &Policy) -> Result<Policy, Vec<String>> {
    if posted.get("editor") == "toml" {
        return policy_text::parse(posted.get("toml"), Format::Toml);
    }
    let mut errors = Vec::new();
    let mut raw: RawPolicy = policy_text::to_raw(running);
    raw.retry_owner = pick(
        posted.get("retry_owner"),
        "retry_owner",
        &[
            ("dunwell", RetryOwner::Dunwell),
            ("processor", RetryOwner::Processor),
            ("after_processor", RetryOwner::AfterProcessor),
        ],
        &mut errors,
    );
    let previous = raw.retries.take().unwrap_or_default();
    raw.retries = Some(RawRetries {
        max_attempts: whole(
            posted.get("max_attempts"),
            "retries.max_attempts",
            &mut errors,
        ),
        window_days: whole(
            posted.get("window_days"),
            "retries.window_days",
            &mut errors,
        ),
        max_per_card_30_days: previous.max_per_card_30_days,
    });
    let mut stages = Vec::new();
    for i in 0..MAX_ROWS {
        let day = posted.get(&format!("stage{i}_day"));
        if day.is_empty() {
            continue;
        }
        let key = format!("stages[{i}]");
        let day = whole(day, &format!("{key}.day"), &mut errors);
        let email = pick(
            posted.get(&format!("stage{i}_email")),
            &format!("{key}.email"),
            &[
                ("payment_failed", StageEmail::PaymentFailed),
                ("final_notice", StageEmail::FinalNotice),
            ],
            &mut errors,
        );
        let tone = pick(
            posted.get(&format!("stage{i}_tone")),
            &format!("{key}.tone"),
            &[
                ("friendly", Tone::Friendly),
                ("firm", Tone::Firm),
                ("final", Tone::Final),
            ],
            &mut errors,
        );
        if let (Some(day), Some(email), Some(tone)) = (day, email, tone) {
            stages.push(RawStage { day, email, tone });
        }
    }
    raw.stages = Some(stages);
    let price = posted.get("downgrade_price");
    raw.final_ = Some(RawFinal {
        day: whole(posted.get("final_day"), "final.day", &mut errors),
        action: pick(
            posted.get("final_action"),
            "final.action",
            &[
                ("cancel", FinalAction::Cancel),
                ("downgrade", FinalAction::Downgrade),
                ("mark_uncollectible", FinalAction::MarkUncollectible),
                ("pause", FinalAction::Pause),
                ("none", FinalAction::None),
            ],
            &mut errors,
        ),
        downgrade_price: (!price.is_empty()).then(|| price.to_owned()),
    });
    raw.quiet_hours = Some(posted.get("quiet_hours").to_owned());
    raw.min_hours_between_emails = whole(
        posted.get("min_gap"),
        "min_hours_between_emails",
        &mut errors,
    );
    let mut offers = Vec::new();
    for i in 0..MAX_ROWS {
        let id = posted.get(&format!("offer{i}_id"));
        if id.is_empty() {
            continue;
        }
        let kind = pick(
            posted.get(&format!("offer{i}_kind")),
            &format!("offers[{i}].kind"),
            &[
                ("plan_change", OfferKind::PlanChange),
                ("pause", OfferKind::Pause),
            ],
            &mut errors,
        );
        let price = posted.get(&format!("offer{i}_price"));
        let proration = posted.get(&format!("offer{i}_proration"));
        let pause_days = posted.get(&format!("offer{i}_pause_days"));
        let pause_days = if pause_days.is_empty() {
            None
        } else {
            whole(pause_days, &format!("offers[{i}].pause_days"), &mut errors)
        };
        // Labels in other languages are edited as TOML; the form keeps them.
        let labels = running
            .offers
            .iter()
            .find(|o| o.id == id && !o.labels.is_empty())
            .map(|o| {
                o.labels
                    .iter()
                    .map(|(l, t)| (l.as_str().to_owned(), t.clone()))
                    .collect()
            });
        if let Some(kind) = kind {
            offers.push(RawOffer {
                id: id.to_owned(),
                kind,
                price: (!price.is_empty()).then(|| price.to_owned()),
                label: posted.get(&format!("offer{i}_label")).to_owned(),
                proration_behavior: (!proration.is_empty()).then(|| proration.to_owned()),
                labels,
                pause_days,
                thank_you: (posted.get(&format!("offer{i}_thank_you")) == "on").then_some(true),
            });
        }
    }
    raw.offers = Some(offers);
    let (version, share) = (posted.get("holdout_version"), posted.get("holdout_share"));
    raw.holdout = if version.is_empty() && share.is_empty() {
        None
    } else {
        let version = version.parse::<i64>().ok().or_else(|| {
            errors.push(format!(
                "policy.holdout.version: must be a version number, got {version:?}"
            ));
            None
        });
        let share = share.parse::<f64>().ok().or_else(|| {
            errors.push(format!(
                "policy.holdout.share_percent: must be a number like 10, got {share:?}"
            ));
            None
        });
        Some(RawHoldout {
            version,
            share_percent: share,
        })
    };
    if !errors.is_empty() {
        // The policy's own checks too, so every problem shows at once.
        if let Err(more) = raw.validate() {
            let more: Vec<String> = more
                .into_iter()
                .filter(|e| !errors_mention(&errors, e.split(':').next().unwrap_or("")))
                .collect();
            errors.extend(more);
        }
        return Err(errors);
    }
    raw.validate()
}

fn errors_mention(errors: &[String], key: &str) -> bool {
    errors.iter().any(|e| e.starts_with(&format!("{key}:")))
}

/// The form as posted, to show again beside its errors.
pub fn echo(posted: &Posted) -> FormView {
    let rows = |prefix: &str| {
        (0..MAX_ROWS)
            .filter(|i| {
                posted
                    .0
                    .iter()
                    .any(|(k, _)| k.starts_with(&format!("{prefix}{i}_")))
            })
            .collect::<Vec<usize>>()
    };
    let mut stages: Vec<StageRow> = rows("stage")
        .into_iter()
        .map(|i| StageRow {
            day: posted.get(&format!("stage{i}_day")).into(),
            email: posted.get(&format!("stage{i}_email")).into(),
            tone: posted.get(&format!("stage{i}_tone")).into(),
            ..StageRow::default()
        })
        .filter(|s| !s.day.is_empty())
        .collect();
    stages.extend((0..SPARE_STAGES).map(|_| StageRow::default()));
    let mut offers: Vec<OfferRow> = rows("offer")
        .into_iter()
        .map(|i| OfferRow {
            id: posted.get(&format!("offer{i}_id")).into(),
            kind: posted.get(&format!("offer{i}_kind")).into(),
            price: posted.get(&format!("offer{i}_price")).into(),
            label: posted.get(&format!("offer{i}_label")).into(),
            proration: posted.get(&format!("offer{i}_proration")).into(),
            pause_days: posted.get(&format!("offer{i}_pause_days")).into(),
            thank_you: posted.get(&format!("offer{i}_thank_you")) == "on",
            ..OfferRow::default()
        })
        .filter(|o| !o.id.is_empty())
        .collect();
    offers.extend((0..SPARE_OFFERS).map(|_| OfferRow::default()));
    FormView {
        retry_owner: posted.get("retry_owner").into(),
        max_attempts: posted.get("max_attempts").into(),
        window_days: posted.get("window_days").into(),
        stages,
        final_day: posted.get("final_day").into(),
        final_action: posted.get("final_action").into(),
        downgrade_price: posted.get("downgrade_price").into(),
        quiet_hours: posted.get("quiet_hours").into(),
        min_gap: posted.get("min_gap").into(),
        offers,
        holdout_version: posted.get("holdout_version").into(),
        holdout_share: posted.get("holdout_share").into(),
        toml: posted.get("toml").into(),
        ..FormView::default()
    }
    .with_choices()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(policy: &Policy) -> Posted {
        let f = FormView::of(policy);
        let mut out = vec![
            ("retry_owner".into(), f.retry_owner),
            ("max_attempts".into(), f.max_attempts),
            ("window_days".into(), f.window_days),
            ("final_day".into(), f.final_day),
            ("final_action".into(), f.final_action),
            ("downgrade_price".into(), f.downgrade_price),
            ("quiet_hours".into(), f.quiet_hours),
            ("min_gap".into(), f.min_gap),
            ("holdout_version".into(), f.holdout_version),
            ("holdout_share".into(), f.holdout_share),
        ];
        for (i, s) in f.stages.into_iter().enumerate() {
            out.push((format!("stage{i}_day"), s.day));
            out.push((format!("stage{i}_email"), s.email));
            out.push((format!("stage{i}_tone"), s.tone));
        }
        for (i, o) in f.offers.into_iter().enumerate() {
            out.push((format!("offer{i}_id"), o.id));
            out.push((format!("offer{i}_kind"), o.kind));
            out.push((format!("offer{i}_price"), o.price));
            out.push((format!("offer{i}_label"), o.label));
            out.push((format!("offer{i}_proration"), o.proration));
        }
        Posted(out)
    }

    #[test]
    fn the_form_of_a_policy_reads_back_as_that_policy() {
        let policy = policy_text::parse(
            "[policy]\nquiet_hours = \"off\"\n[[policy.offers]]\nid = \"yearly\"\nkind = \"plan_change\"\nprice = \"price_y\"\nlabel = \"Yearly\"\n[policy.holdout]\nversion = 1\nshare_percent = 10\n",
            Format::Toml,
        )
        .unwrap();
        assert_eq!(read(&fields(&policy), &Policy::default()).unwrap(), policy);
    }

    #[test]
    fn an_edited_stage_and_every_bad_field_are_read() {
        let running = Policy::default();
        let mut posted = fields(&running);
        for (k, v) in &mut posted.0 {
            match k.as_str() {
                "stage1_day" => *v = "2".into(),
                "stage4_day" => *v = "10".into(),
                "stage4_email" => *v = "payment_failed".into(),
                "stage4_tone" => *v = "firm".into(),
                _ => {}
            }
        }
        let p = read(&posted, &running).unwrap();
        let days: Vec<u32> = p.stages.iter().map(|s| s.day).collect();
        assert_eq!(days, [0, 2, 7, 10, 14]);

        for (k, v) in &mut posted.0 {
            match k.as_str() {
                "max_attempts" => *v = "many".into(),
                "final_action" => *v = "explode".into(),
                "window_days" => *v = "0".into(),
                _ => {}
            }
        }
        let errors = read(&posted, &running).unwrap_err().join("\n");
        for key in [
            "policy.retries.max_attempts",
            "policy.final.action",
            "policy.retries.window_days",
        ] {
            assert!(errors.contains(key), "{key} missing: {errors}");
        }
    }
}
