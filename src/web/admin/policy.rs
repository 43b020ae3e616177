//! `GET /admin/policy`: the effective policy, and the plan it gives a
//! failure the operator describes (decline code, country or time zone) —
//! the same plan as `dunwell plan` and `POST /api/plan`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Frame, page};
use crate::domain::policy::{FinalAction, StageEmail};
use crate::domain::timeline::StepAction;
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

#[derive(Debug, Deserialize)]
pub struct PreviewParams {
    decline_code: Option<String>,
    country: Option<String>,
    timezone: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

pub async fn show(state: web::Data<AppState>, params: web::Query<PreviewParams>) -> HttpResponse {
    let engine = &state.engine;
    let decline_code = given(&params.decline_code).unwrap_or_else(|| "insufficient_funds".into());
    let args = PlanArgs {
        decline_code: decline_code.clone(),
        failed_at: None,
        timezone: given(&params.timezone),
        country: given(&params.country),
        paid_at: Vec::new(),
        amount: None,
        currency: "usd".into(),
        card_brand: None,
        json: false,
    };
    let mut body = PolicyPage {
        f: Frame::new(&state, "policy"),
        summary: engine.policy().summary(),
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
        &engine.policy(),
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
                    let what = match s.action {
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
                    };
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
    page(StatusCode::OK, body.render())
}
