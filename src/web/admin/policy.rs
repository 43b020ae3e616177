//! `GET /admin/policy`: the running policy version (who, when, why), how it
//! does against its holdout or the version before, the plan it gives a
//! failure the operator describes (the same as `dunwell plan` and
//! `POST /api/plan`), the editor (`policy_edit`) and every stored version.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::policy_form::FormView;
use super::{Frame, page, when};
use crate::domain::policy::Policy;
use crate::domain::policy::{FinalAction, StageEmail};
use crate::domain::policy_text;
use crate::domain::timeline::{Step, StepAction};
use crate::engine::policy_stats::{self, Comparison};
use crate::plan::{PlanArgs, preview};
use crate::state::AppState;

/// Codes an operator most often asks about.
const CODES: [&str; 8] = [
    "insufficient_funds",
    "do_not_honor",
    "generic_decline",
    "expired_card",
    "card_velocity_exceeded",
    "authentication_required",
    "stolen_card",
    "processing_error",
];

#[derive(Template)]
#[template(path = "admin/policy.html")]
struct PolicyPage {
    f: Frame,
    flash: Option<String>,
    running: Running,
    doing: Option<Doing>,
    form: FormView,
    /// (version, when, source, author, reason, running)
    versions: Vec<(i64, String, String, String, String, bool)>,
    /// A stored version's diff against the running one, when asked.
    diff: Option<(i64, Vec<policy_text::DiffLine>)>,
    summary: Vec<(&'static str, String)>,
    codes: [&'static str; 8],
    decline_code: String,
    country: String,
    timezone: String,
    error: Option<String>,
    headline: String,
    steps: Vec<(String, String, String)>,
    retries_end: String,
}

/// The running version's record.
pub(super) struct Running {
    pub version: i64,
    pub when: String,
    pub author: String,
    pub reason: String,
    pub source: String,
    pub holdout: String,
}

/// How the running version does, as the page words it.
pub(super) struct Doing {
    pub title: String,
    pub note: String,
    /// (version, cases, too young, recovered of those old enough, rate,
    /// interval)
    pub rows: Vec<(String, i64, i64, String, String, String)>,
    pub age_days: i64,
    pub difference: String,
    pub verdict: &'static str,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub(super) fn doing(c: &Comparison) -> Doing {
    let row = |label: String, r: &policy_stats::VersionResult| {
        let ended = r.recovery.trials > 0;
        (
            label,
            r.cases,
            r.too_young,
            format!("{} of {}", r.recovery.successes, r.recovery.trials),
            if ended {
                percent(r.recovery.rate)
            } else {
                "–".into()
            },
            if ended {
                format!("{} – {}", percent(r.recovery.low), percent(r.recovery.high))
            } else {
                "–".into()
            },
        )
    };
    let judged = |r: &policy_stats::VersionResult| {
        i64::try_from(r.recovery.trials).unwrap_or(i64::MAX) >= policy_stats::MIN_JUDGED
    };
    let decided = judged(&c.running) && judged(&c.other);
    let (title, note, other) = match c.kind {
        "holdout" => (
            format!("Version {} against its holdout (version {})", c.running.version, c.other.version),
            "New cases are assigned at random, over the same weeks: a fair comparison.".to_owned(),
            format!("{} (holdout)", c.other.version),
        ),
        _ => (
            format!("Version {} against version {} before it", c.running.version, c.other.version),
            "Before and after the change, over as many weeks: other things changed too, so read it with care.".to_owned(),
            format!("{} (before)", c.other.version),
        ),
    };
    Doing {
        title,
        note,
        rows: vec![
            row(format!("{} (running)", c.running.version), &c.running),
            row(other, &c.other),
        ],
        difference: if decided {
            format!(
                "{:+.1} points (95% interval {:+.1} to {:+.1})",
                c.difference * 100.0,
                c.difference_low * 100.0,
                c.difference_high * 100.0
            )
        } else {
            format!(
                "not yet: each side needs {} cases at least {} days old",
                policy_stats::MIN_JUDGED,
                c.age_days
            )
        },
        verdict: c.verdict,
        age_days: c.age_days,
    }
}

/// What a planned step does, as the policy pages say it.
pub(super) fn what(s: &Step) -> String {
    match s.action {
        StepAction::Retry => "retry the charge".to_owned(),
        StepAction::Email => format!(
            "email: {}{}",
            s.kind.map(StageEmail::as_str).unwrap_or_default(),
            s.tone
                .map(|t| format!(" ({})", t.as_str()))
                .unwrap_or_default()
        ),
        StepAction::Final => format!(
            "final action: {}",
            s.final_action.map(FinalAction::as_str).unwrap_or_default()
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct PreviewParams {
    decline_code: Option<String>,
    country: Option<String>,
    timezone: Option<String>,
    /// A stored version to diff against the running one.
    diff: Option<String>,
    /// The version just applied.
    applied: Option<String>,
}

/// The running version's record as the page shows it.
pub(super) async fn running(state: &AppState) -> anyhow::Result<(Running, Policy)> {
    let engine = &state.engine;
    engine.refresh_policy().await?;
    let version = engine.policy_version();
    let policy = engine.policy();
    let row = engine.store.policy_version(version).await?;
    let holdout = policy.holdout.map_or_else(
        || "none".to_owned(),
        |h| {
            format!(
                "{}% of new cases open under version {}",
                h.share_percent, h.version
            )
        },
    );
    let running = match row {
        Some(r) => Running {
            version,
            when: when(r.created_at),
            author: r.author,
            reason: r.reason,
            source: r.source,
            holdout,
        },
        None => Running {
            version,
            when: String::new(),
            author: String::new(),
            reason: String::new(),
            source: String::new(),
            holdout,
        },
    };
    Ok((running, (*policy).clone()))
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

pub async fn show(state: web::Data<AppState>, params: web::Query<PreviewParams>) -> HttpResponse {
    match render(&state, &params).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the policy page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn render(state: &AppState, params: &PreviewParams) -> anyhow::Result<HttpResponse> {
    let engine = &state.engine;
    let (running, policy) = running(state).await?;
    let versions = engine
        .store
        .policy_versions()
        .await?
        .into_iter()
        .map(|v| {
            let on = v.version == running.version;
            (
                v.version,
                when(v.created_at),
                v.source,
                v.author,
                v.reason,
                on,
            )
        })
        .collect();
    let diff = match params
        .diff
        .as_deref()
        .and_then(|d| d.trim().parse::<i64>().ok())
    {
        Some(n) => match engine.store.policy_version(n).await? {
            Some(v) => {
                let now = policy_text::canonical_toml(&policy);
                Some((n, policy_text::diff(&v.policy, &now)))
            }
            None => None,
        },
        None => None,
    };
    let flash = params
        .applied
        .as_deref()
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| format!("Version {v} runs for new cases now. Open cases keep the version they opened under; move chosen ones from their case page or the API."));
    let comparison = policy_stats::compare(engine).await?;
    let decline_code = given(&params.decline_code).unwrap_or_else(|| "insufficient_funds".into());
    let args = PlanArgs::failing_now(
        &decline_code,
        given(&params.country),
        given(&params.timezone),
    );
    let mut body = PolicyPage {
        f: Frame::new(state, "policy"),
        flash,
        doing: comparison.comparison.as_ref().map(doing),
        form: FormView::of(&policy),
        versions,
        diff,
        running,
        summary: policy.summary(),
        codes: CODES,
        decline_code,
        country: args.country.clone().unwrap_or_default(),
        timezone: args.timezone.clone().unwrap_or_default(),
        error: None,
        headline: String::new(),
        steps: Vec::new(),
        retries_end: String::new(),
    };
    match preview(
        &policy,
        &args,
        engine.clock.now(),
        Some(&engine.learned.current()),
    ) {
        Ok(p) => {
            let tz = p.timezone();
            let d = p.decline();
            body.headline = format!(
                "{} ({}): {} · failed now, in {}",
                d.code,
                d.category.as_str(),
                d.reason,
                tz.name()
            );
            body.steps = p
                .steps()
                .iter()
                .map(|s| {
                    let what = what(s);
                    let at =
                        s.at.with_timezone(&tz)
                            .format("%a %Y-%m-%d %H:%M %Z")
                            .to_string();
                    (at, what, s.reason.clone())
                })
                .collect();
            body.retries_end = p.retries_end().to_owned();
        }
        Err(e) => body.error = Some(format!("{e:#}")),
    }
    Ok(page(StatusCode::OK, body.render()))
}
