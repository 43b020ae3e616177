//! The policy editor's steps: `POST /admin/policy` reads the form (or its
//! TOML), checks it as `check-config` does and shows the diff against the
//! running version and the plans both give a few failures side by side —
//! with `step=backtest`, also both played on this install's own closed
//! cases and on a generated population. `POST /admin/policy/apply` stores
//! it as the next version with the operator's reason; it runs for new
//! cases at once, without a restart.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::policy::{Running, running, what};
use super::policy_form::{self, FormView, Posted};
use super::{Frame, page, see_other};
use crate::domain::policy::Policy;
use crate::domain::policy_text::{self, DiffLine, Format};
use crate::domain::simulate::report::Tally;
use crate::engine::backtest::{self, Backtest};
use crate::engine::policies::{Applied, Source};
use crate::plan::{PlanArgs, preview};
use crate::state::AppState;
use crate::web::api::policy::PREVIEW_CASES;

/// One failure planned under both policies.
struct PlanPair {
    title: String,
    running: Vec<(String, String)>,
    proposed: Vec<(String, String)>,
}

/// One source of a backtest: (figure, what happened, running, proposed,
/// change) rows; what happened only for the install's own cases.
struct BacktestTable {
    title: String,
    actual: bool,
    rows: Vec<(&'static str, String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "admin/policy_draft.html")]
struct DraftPage {
    f: Frame,
    running: Running,
    form: FormView,
    errors: Vec<String>,
    changes: bool,
    diff: Vec<DiffLine>,
    plans: Vec<PlanPair>,
    backtest: Vec<BacktestTable>,
    /// The proposed policy's canonical TOML, carried to the apply step.
    proposed: String,
    reason: String,
}

fn steps(policy: &Policy, args: &PlanArgs, state: &AppState) -> Vec<(String, String)> {
    let engine = &state.engine;
    match preview(
        policy,
        args,
        engine.clock.now(),
        Some(&engine.learned.current()),
    ) {
        Ok(p) => {
            let tz = p.timezone();
            p.steps()
                .iter()
                .map(|s| {
                    let day = (s.at - engine.clock.now()).num_hours() as f64 / 24.0;
                    let at = s.at.with_timezone(&tz).format("%a %d %b %H:%M").to_string();
                    (format!("day {day:.1} · {at}"), what(s))
                })
                .collect()
        }
        Err(e) => vec![(String::new(), format!("{e:#}"))],
    }
}

fn plans(state: &AppState, running: &Policy, proposed: &Policy) -> Vec<PlanPair> {
    PREVIEW_CASES
        .iter()
        .map(|(code, country)| {
            let args = PlanArgs::failing_now(code, Some((*country).into()), None);
            PlanPair {
                title: format!("{code}, customer in {country}, failing now"),
                running: steps(running, &args, state),
                proposed: steps(proposed, &args, state),
            }
        })
        .collect()
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Recovered amounts per currency, "USD 1,234.00 of 5,000.00".
fn revenue(t: &Tally) -> String {
    t.revenue
        .iter()
        .map(|(currency, m)| {
            let major = |minor: i64| format!("{:.2}", minor as f64 / 100.0);
            format!(
                "{} {} of {}",
                currency.to_uppercase(),
                major(m.recovered_minor),
                major(m.total_minor)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn table(
    title: String,
    actual: Option<&Tally>,
    running: &Tally,
    proposed: &Tally,
) -> BacktestTable {
    let days = |t: &Tally| t.median_days().map_or("–".into(), |d| format!("{d:.1}"));
    let change = |a: f64, b: f64, unit: &str, scale: f64| format!("{:+.1}{unit}", (b - a) * scale);
    let happened = |f: &dyn Fn(&Tally) -> String| actual.map(f).unwrap_or_default();
    BacktestTable {
        title,
        actual: actual.is_some(),
        rows: vec![
            (
                "Recovered revenue",
                happened(&|t| percent(t.revenue_share())),
                percent(running.revenue_share()),
                percent(proposed.revenue_share()),
                change(
                    running.revenue_share(),
                    proposed.revenue_share(),
                    " pts",
                    100.0,
                ),
            ),
            (
                "Recovered amount",
                happened(&revenue),
                revenue(running),
                revenue(proposed),
                String::new(),
            ),
            (
                "Invoices recovered",
                happened(&|t| format!("{} of {}", t.recovered, t.invoices)),
                format!("{} of {}", running.recovered, running.invoices),
                format!("{} of {}", proposed.recovered, proposed.invoices),
                format!("{:+}", proposed.recovered as i64 - running.recovered as i64),
            ),
            (
                "Attempts per failure",
                happened(&|_| "–".into()),
                format!("{:.2}", running.attempts_per_failure()),
                format!("{:.2}", proposed.attempts_per_failure()),
                change(
                    running.attempts_per_failure(),
                    proposed.attempts_per_failure(),
                    "",
                    1.0,
                ),
            ),
            (
                "Median days to recover",
                happened(&days),
                days(running),
                days(proposed),
                match (running.median_days(), proposed.median_days()) {
                    (Some(a), Some(b)) => format!("{:+.1}", b - a),
                    _ => String::new(),
                },
            ),
        ],
    }
}

fn tables(b: &Backtest) -> Vec<BacktestTable> {
    let mut out = Vec::new();
    match &b.own {
        Some(c) => out.push(table(
            format!(
                "Your {} closed cases (their real decline codes, countries, amounts and outcomes)",
                b.own_cases
            ),
            Some(&b.actual),
            &c.running,
            &c.proposed,
        )),
        None => out.push(BacktestTable {
            title: "Your closed cases: none yet".into(),
            actual: false,
            rows: Vec::new(),
        }),
    }
    out.push(table(
        format!(
            "{} generated failed renewals (seed {})",
            backtest::POPULATION,
            backtest::SEED
        ),
        None,
        &b.generated.running,
        &b.generated.proposed,
    ));
    out
}

/// Reads the form: the draft page with errors, or with the diff, the
/// plans and (asked for) the backtest.
pub async fn draft(
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let posted = Posted(form.into_inner());
    match draft_page(&state, &posted).await {
        Ok((status, body)) => page(status, body.render()),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the policy draft failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn draft_page(state: &AppState, posted: &Posted) -> anyhow::Result<(StatusCode, DraftPage)> {
    let (running, current) = running(state).await?;
    let mut body = DraftPage {
        f: Frame::new(state, "policy"),
        running,
        form: policy_form::echo(posted),
        errors: Vec::new(),
        changes: false,
        diff: Vec::new(),
        plans: Vec::new(),
        backtest: Vec::new(),
        proposed: String::new(),
        reason: posted.get("reason").to_owned(),
    };
    let proposed = match policy_form::read(posted, &current) {
        Ok(p) => p,
        Err(errors) => {
            if body.form.toml.is_empty() {
                body.form.toml = policy_text::canonical_toml(&current);
            }
            body.errors = errors;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, body));
        }
    };
    let text = policy_text::canonical_toml(&proposed);
    let diff = policy_text::diff(&policy_text::canonical_toml(&current), &text);
    body.changes = policy_text::changes(&diff);
    body.diff = policy_text::hunks(&diff, 3);
    body.plans = plans(state, &current, &proposed);
    body.form = FormView::of(&proposed);
    body.proposed = text;
    if posted.get("step") == "backtest" {
        let b = backtest::run(&state.engine, proposed).await?;
        body.backtest = tables(&b);
    }
    Ok((StatusCode::OK, body))
}

/// Stores the proposed policy as the next version with the reason.
pub async fn apply(
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let posted = Posted(form.into_inner());
    let result = async {
        let proposed = match policy_text::parse(posted.get("proposed"), Format::Toml) {
            Ok(p) => p,
            Err(errors) => return Ok(Err(errors)),
        };
        state
            .engine
            .apply_policy(
                &proposed,
                "operator (dashboard)",
                posted.get("reason"),
                Source::Dashboard,
            )
            .await
    }
    .await;
    match result {
        Ok(Ok(Applied::New(v))) => see_other(&format!("/admin/policy?applied={v}")),
        Ok(Ok(Applied::Unchanged(_))) => see_other("/admin/policy"),
        Ok(Err(errors)) => {
            // Shown with the draft again (a missing reason, a holdout naming
            // no version): nothing was stored.
            let mut again = posted.0.clone();
            again.retain(|(k, _)| k != "editor" && k != "toml");
            again.push(("editor".into(), "toml".into()));
            again.push(("toml".into(), posted.get("proposed").to_owned()));
            let again = Posted(again);
            match draft_page(&state, &again).await {
                Ok((_, mut body)) => {
                    body.errors = errors;
                    page(StatusCode::UNPROCESSABLE_ENTITY, body.render())
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "the policy draft failed");
                    HttpResponse::InternalServerError().finish()
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "applying a policy failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
