//! `GET /admin/cases` (search and list), `GET /admin/cases/{id}` (the case,
//! its planned work, its timeline, the operator's buttons) and
//! `POST /admin/cases/{id}/{action}`.

use crate::domain::ids::CaseId;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::{Frame, page, see_other, when};
use crate::domain::case::CaseState;
use crate::domain::stats::major;
use crate::engine::operator_actions::{ActOutcome, OperatorAction, act};
use crate::state::AppState;
use crate::store::cases::CaseRow;
use crate::store::reports::CaseQuery;
use crate::web::api::error::ApiError;
use crate::web::api::params::{cursor, cursor_of};

const PAGE: i64 = 50;

fn amount(case: &CaseRow) -> String {
    format!(
        "{} {}",
        crate::domain::stats::grouped(&major(case.amount_due, &case.currency)),
        case.currency.to_ascii_uppercase()
    )
}

struct ListedCase {
    id: i64,
    invoice: String,
    customer: String,
    state: String,
    amount: String,
    decline: String,
    opened: String,
}

#[derive(Template)]
#[template(path = "admin/cases.html")]
struct CasesPage {
    f: Frame,
    q: String,
    states: Vec<(&'static str, bool)>,
    cases: Vec<ListedCase>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    q: Option<String>,
    state: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let q = params.q.as_deref().unwrap_or_default().trim().to_owned();
    let wanted_state = params
        .state
        .as_deref()
        .filter(|s| CaseState::parse(s).is_some())
        .map(str::to_owned);
    let mut query = CaseQuery {
        state: wanted_state.clone(),
        limit: PAGE + 1,
        // A cursor that is not ours starts from the newest, as none would.
        after: params.cursor.as_deref().and_then(|c| cursor(c).ok()),
        ..CaseQuery::default()
    };
    match q.as_str() {
        "" => {}
        q if q.contains('@') => query.email = Some(q.to_owned()),
        q if q.starts_with("cus_") => query.customer_id = Some(q.to_owned()),
        q => query.invoice_id = Some(q.to_owned()),
    }
    let mut rows = state.store.find_cases(&query).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next = rows.last().filter(|_| more).map(|c| {
        let cursor = cursor_of(c.opened_at.unwrap_or_default(), c.id.get());
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        url.append_pair("q", &q);
        url.append_pair("state", wanted_state.as_deref().unwrap_or_default());
        url.append_pair("cursor", &cursor);
        format!("/admin/cases?{}", url.finish())
    });
    let cases = rows
        .iter()
        .map(|c| {
            let cause = c
                .track
                .case
                .as_ref()
                .and_then(|k| k.cause.as_ref().or(k.latest.as_ref()));
            ListedCase {
                id: c.id.get(),
                invoice: c.invoice_label(),
                customer: c.customer_label(),
                state: c.state.map(|s| s.as_str()).unwrap_or_default().to_owned(),
                amount: amount(c),
                decline: cause.map(|d| d.code.clone()).unwrap_or_default(),
                opened: c.opened_at.map(when).unwrap_or_default(),
            }
        })
        .collect();
    let body = CasesPage {
        f: Frame::new(&state, "cases"),
        q,
        states: CaseState::ALL
            .iter()
            .map(|s| (s.as_str(), wanted_state.as_deref() == Some(s.as_str())))
            .collect(),
        cases,
        next,
    }
    .render();
    Ok(page(StatusCode::OK, body))
}

#[derive(Template)]
#[template(path = "admin/case.html")]
struct CasePage {
    f: Frame,
    id: i64,
    state: String,
    headline: String,
    flash: Option<String>,
    flash_bad: bool,
    facts: Vec<(&'static str, String)>,
    /// (action, label, the primary one)
    actions: Vec<(&'static str, String, bool)>,
    work: Vec<(String, String, String)>,
    timeline: Vec<(String, String, String)>,
}

/// A timeline entry's detail as one readable line.
fn describe(detail: &Value) -> String {
    match detail {
        Value::Object(map) => map
            .iter()
            .filter(|(k, v)| k.as_str() != "idempotency_key" && !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        other => other.to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    done: Option<String>,
    refused: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    params: web::Query<ShowParams>,
) -> Result<HttpResponse, ApiError> {
    let id = CaseId::new(id.into_inner());
    let store = &state.store;
    let Some(case) = store.case_by_id(id).await?.filter(|c| c.state.is_some()) else {
        return Err(ApiError::not_found(format!("no case {id}")));
    };
    let k = case.track.case.as_ref();
    let case_state = k.map(|c| c.state);
    let cause = k.and_then(|c| c.cause.as_ref().or(c.latest.as_ref()));
    let mut facts = vec![
        ("Amount", amount(&case)),
        ("Customer", case.customer_email.clone().unwrap_or_default()),
        ("Customer id", case.customer_id.to_string()),
        (
            "Invoice",
            case.invoice_number
                .clone()
                .unwrap_or_else(|| case.invoice_id.to_string()),
        ),
        ("Opened", case.opened_at.map(when).unwrap_or_default()),
        ("Retries made", k.map_or(0, |c| c.retries_made).to_string()),
        (
            "Time zone",
            format!(
                "{} (from {})",
                case.timezone,
                case.timezone_source
                    .as_deref()
                    .unwrap_or("policy_default")
                    .replace('_', " ")
            ),
        ),
    ];
    if let Some(d) = cause {
        facts.push((
            "Decline",
            format!("{} ({}): {}", d.code, d.category.as_str(), d.reason),
        ));
    }
    if let Some(by) = k.and_then(|c| c.recovered_by) {
        facts.push(("Recovered by", by.as_str().replace('_', " ")));
    }
    if let Some(why) = &case.needs_attention {
        facts.push(("Needs attention", why.clone()));
    }
    state.engine.refresh_policy().await?;
    let running = state.engine.policy_version();
    facts.push((
        "Policy version",
        match case.policy_version {
            Some(v) if v == running => format!("{v} (running)"),
            Some(v) => format!("{v} (version {running} runs for new cases)"),
            None => "–".into(),
        },
    ));
    let mut actions = match case_state {
        Some(s) if s.is_terminal() => Vec::new(),
        Some(CaseState::Paused) => vec![
            ("resume", "Resume".to_owned(), true),
            ("close", "Close".to_owned(), false),
        ],
        Some(_) => vec![
            ("retry-now", "Retry now".to_owned(), true),
            ("pause", "Pause".to_owned(), false),
            ("close", "Close".to_owned(), false),
        ],
        None => Vec::new(),
    };
    if !actions.is_empty() && running > 0 && case.policy_version != Some(running) {
        actions.push((
            MOVE_POLICY,
            format!("Move to policy version {running}"),
            false,
        ));
    }
    let work = store
        .work_of(id)
        .await?
        .iter()
        .filter(|w| w.status.as_str() == "pending")
        .map(|w| (when(w.due_at), w.work.kind().to_owned(), w.key.clone()))
        .collect();
    let timeline = store
        .timeline(id)
        .await?
        .iter()
        .rev()
        .map(|t| (when(t.at), t.kind.replace('_', " "), describe(&t.detail)))
        .collect();
    let (flash, flash_bad) = match (&params.done, &params.refused) {
        (_, Some(why)) => (Some(format!("Nothing changed: {why}")), true),
        (Some(action), _) => (Some(format!("Done: {action}.")), false),
        _ => (None, false),
    };
    let body = CasePage {
        f: Frame::new(&state, "cases"),
        id: id.get(),
        state: case
            .state
            .map(|s| s.as_str())
            .unwrap_or_default()
            .to_owned(),
        headline: format!(
            "{} · {}",
            case.customer_email.as_deref().unwrap_or(&case.customer_id),
            amount(&case)
        ),
        flash,
        flash_bad,
        facts,
        actions,
        work,
        timeline,
    }
    .render();
    Ok(page(StatusCode::OK, body))
}

/// The case page's action that moves a case to the running policy.
const MOVE_POLICY: &str = "move-policy";

async fn act_on(state: &AppState, id: CaseId, action: &str) -> Result<HttpResponse, ApiError> {
    let back = |query: String| see_other(&format!("/admin/cases/{id}?{query}"));
    let encode = |k: &str, v: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair(k, v)
            .finish()
    };
    if action == MOVE_POLICY {
        use crate::engine::policy_moves::{MoveOutcome, move_to_running};
        return Ok(
            match move_to_running(&state.engine, id, "operator (dashboard)", None).await? {
                MoveOutcome::Moved { from, case } => back(encode(
                    "done",
                    &format!(
                        "moved from policy version {from} to {}; what is still ahead is planned again",
                        case.policy_version.unwrap_or_default()
                    ),
                )),
                MoveOutcome::Refused(why) => back(encode("refused", &why)),
                MoveOutcome::NoSuchCase => {
                    return Err(ApiError::not_found(format!("no case {id}")));
                }
            },
        );
    }
    let Some(action) = OperatorAction::parse(action) else {
        return Err(ApiError::not_found(format!("no action {action:?}")));
    };
    Ok(
        match act(&state.engine, id, action, "operator (dashboard)", None).await? {
            ActOutcome::Done(_) => back(encode("done", action.as_str())),
            ActOutcome::Refused(why) => back(encode("refused", &why)),
            ActOutcome::NoSuchCase => return Err(ApiError::not_found(format!("no case {id}"))),
        },
    )
}

pub async fn action(
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    act_on(&state, CaseId::new(id), &action).await
}
