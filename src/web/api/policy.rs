//! The policy under `/api/policy`: the running version, every stored one
//! and their diffs; `PUT` a new one (TOML or JSON, validated exactly as
//! `check-config` validates, every error with its key); a dry run with the
//! plans it gives beside the running one's; a backtest; moving chosen live
//! cases to the running version.

use crate::domain::ids::CaseId;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ErrorBody};
use crate::domain::policy::Policy;
use crate::domain::policy_text::{self, Format};
use crate::engine::Engine;
use crate::engine::backtest::{self, Backtest};
use crate::engine::policies::{Applied, Source};
use crate::engine::policy_moves::{MoveOutcome, move_to_running};
use crate::plan::{PlanArgs, preview, to_json};
use crate::state::AppState;
use crate::store::policies::PolicyVersion;

/// The failures a dry run plans under both policies: (decline code, country).
pub const PREVIEW_CASES: [(&str, &str); 4] = [
    ("insufficient_funds", "US"),
    ("do_not_honor", "DE"),
    ("expired_card", "GB"),
    ("authentication_required", "FR"),
];

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn version_json(v: &PolicyVersion, running: i64, with_text: bool) -> Value {
    let mut out = json!({
        "version": v.version,
        "created_at": time(v.created_at),
        "author": v.author,
        "reason": v.reason,
        "source": v.source,
        "running": v.version == running,
    });
    if with_text {
        out["toml"] = json!(v.policy);
        if let Ok(raw) = policy_text::raw(&v.policy, Format::Toml) {
            out["policy"] = serde_json::to_value(raw).unwrap_or(Value::Null);
        }
    }
    out
}

async fn stored(engine: &Engine, version: i64) -> Result<PolicyVersion, ApiError> {
    engine
        .store
        .policy_version(version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no policy version {version}")))
}

/// The running policy: its version, who made it, when and why, its TOML
/// and its keys as JSON.
#[utoipa::path(get, path = "/api/policy", tag = "policy", operation_id = "show_policy",
    responses((status = 200, description = "The running policy version", body = Object),
              (status = 401, body = ErrorBody)))]
pub async fn show(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    engine.refresh_policy().await?;
    let running = engine.policy_version();
    let v = stored(engine, running).await?;
    Ok(HttpResponse::Ok().json(version_json(&v, running, true)))
}

#[derive(Debug, Deserialize)]
pub struct PutParams {
    reason: Option<String>,
    author: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// Whole numbers, also when written with a zero fraction (`7.0`), as JSON
/// Schema counts them.
fn whole_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    Vec::<serde_json::Number>::deserialize(d)?
        .into_iter()
        .map(|n| {
            n.as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a case id")))
        })
        .collect()
}

/// The JSON form of a submitted policy: its keys alone, or this envelope.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PolicyEnvelope {
    /// Why (required for PUT unless `?reason=` gives it).
    #[schema(min_length = 1, pattern = "\\S")]
    reason: Option<String>,
    /// Who (default: operator).
    author: Option<String>,
    /// The policy's keys, as in the `[policy]` table of the TOML file (or
    /// give them at the top level, beside `reason` and `author`).
    #[schema(value_type = Option<Object>)]
    policy: Option<Value>,
}

/// What a request body holds: the policy, and the reason and author when
/// a JSON envelope gives them.
struct Submitted {
    policy: Policy,
    reason: Option<String>,
    author: Option<String>,
}

/// Reads the body as JSON (`Content-Type: application/json`) or TOML.
/// JSON may wrap the policy: `{"reason": "...", "author": "...", "policy": {...}}`.
fn submitted(request: &HttpRequest, body: &[u8]) -> Result<Submitted, ApiError> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("body: the policy must be UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "body: give the policy as TOML (a [policy] table or its keys) or JSON",
        ));
    }
    let invalid = |errors| ApiError::invalid("the policy is not valid; nothing changed", errors);
    if !json {
        let policy = policy_text::parse(text, Format::Toml).map_err(invalid)?;
        return Ok(Submitted {
            policy,
            reason: None,
            author: None,
        });
    }
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| invalid(vec![format!("policy: {e}")]))?;
    let take = |value: &mut Value, key: &str| -> Result<Option<String>, ApiError> {
        match value.as_object_mut().and_then(|o| o.remove(key)) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad_request(format!("{key}: must be text"))),
        }
    };
    let reason = take(&mut value, "reason")?;
    if reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "reason: must not be blank when given",
        ));
    }
    let author = take(&mut value, "author")?;
    let policy = policy_text::parse(&value.to_string(), Format::Json).map_err(invalid)?;
    Ok(Submitted {
        policy,
        reason,
        author,
    })
}

/// The plans the running and the proposed policy give `PREVIEW_CASES`.
pub fn plans_side_by_side(engine: &Engine, proposed: &Policy) -> Vec<Value> {
    let running = engine.policy();
    let learned = engine.learned.current();
    let now = engine.clock.now();
    PREVIEW_CASES
        .iter()
        .map(|(code, country)| {
            let args = PlanArgs::failing_now(code, Some((*country).into()), None);
            let plan = |p: &Policy| match preview(p, &args, now, Some(&learned)) {
                Ok(p) => to_json(&p),
                Err(e) => json!({"error": format!("{e:#}")}),
            };
            json!({
                "decline_code": code,
                "country": country,
                "running": plan(&running),
                "proposed": plan(proposed),
            })
        })
        .collect()
}

/// Stores the policy in the body as the next version and runs it for new
/// cases (open cases keep theirs). `reason` is required. `dry_run=true`
/// validates only, and answers with the diff and the plans both policies
/// give a few failures.
#[utoipa::path(put, path = "/api/policy", tag = "policy", operation_id = "put_policy",
    request_body(description = "The policy as TOML (a [policy] table or its keys), or as JSON: its keys, or an envelope with the reason and author",
        content((String = "application/toml"), (String = "text/plain"), (PolicyEnvelope = "application/json"))),
    params(("reason" = Option<String>, Query, min_length = 1, pattern = "\\S", description = "Why (required unless the JSON body gives it)"),
           ("author" = Option<String>, Query, description = "Who (default: operator)"),
           ("dry_run" = Option<bool>, Query, description = "Validate and compare only")),
    responses((status = 201, description = "Stored as a new version, running now", body = Object),
              (status = 200, description = "The same as the running version (nothing stored), or a dry run", body = Object),
              (status = 400, description = "No policy in the body, or not UTF-8", body = ErrorBody),
              (status = 422, description = "Not valid: every error with its key", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn put(
    state: web::Data<AppState>,
    request: HttpRequest,
    params: web::Query<PutParams>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    if params
        .reason
        .as_deref()
        .is_some_and(|r| r.trim().is_empty())
    {
        return Err(ApiError::bad_request(
            "reason: must not be blank when given",
        ));
    }
    let s = submitted(&request, &body)?;
    engine.refresh_policy().await?;
    let running = engine.policy_version();
    let running_text = policy_text::canonical_toml(&engine.policy());
    let diff = policy_text::diff(&running_text, &policy_text::canonical_toml(&s.policy));
    if params.dry_run {
        return Ok(HttpResponse::Ok().json(json!({
            "valid": true,
            "running_version": running,
            "changes": policy_text::changes(&diff),
            "diff": policy_text::diff_text(&diff),
            "plans": plans_side_by_side(engine, &s.policy),
        })));
    }
    let reason = s
        .reason
        .or_else(|| params.reason.clone())
        .unwrap_or_default();
    let author = s
        .author
        .or_else(|| params.author.clone())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "operator".into());
    match engine
        .apply_policy(&s.policy, author.trim(), &reason, Source::Api)
        .await?
    {
        Err(errors) => Err(ApiError::invalid(
            "the policy is not valid; nothing changed",
            errors,
        )),
        Ok(Applied::Unchanged(v)) => Ok(HttpResponse::Ok().json(json!({
            "version": v,
            "stored": false,
            "message": format!("the same as the running version {v}: nothing stored"),
        }))),
        Ok(Applied::New(v)) => Ok(HttpResponse::Created().json(json!({
            "version": v,
            "stored": true,
            "diff": policy_text::diff_text(&diff),
            "message": format!("version {v} runs for new cases; open cases keep their version until moved"),
        }))),
    }
}

/// Every stored version, newest first.
#[utoipa::path(get, path = "/api/policy/versions", tag = "policy", operation_id = "list_policy_versions",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn versions(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    engine.refresh_policy().await?;
    let running = engine.policy_version();
    let list: Vec<Value> = engine
        .store
        .policy_versions()
        .await?
        .iter()
        .map(|v| version_json(v, running, false))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"running": running, "versions": list})))
}

/// One stored version, with its TOML.
#[utoipa::path(get, path = "/api/policy/versions/{version}", tag = "policy", operation_id = "show_policy_version",
    params(("version" = i64, Path, minimum = 1, description = "A stored version's number")),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn version(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let n = number(&path, "version")?;
    let v = stored(engine, n).await?;
    Ok(HttpResponse::Ok().json(version_json(&v, engine.policy_version(), true)))
}

fn number(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            ApiError::bad_request(format!("{what}: a version number (1, 2…), got {raw:?}"))
        })
}

#[derive(Debug, Deserialize)]
pub struct DiffParams {
    from: String,
    to: Option<String>,
}

/// The line diff between two versions (`to` defaults to the running one).
#[utoipa::path(get, path = "/api/policy/diff", tag = "policy", operation_id = "diff_policy_versions",
    params(("from" = i64, Query, minimum = 1, description = "The older version"),
           ("to" = Option<i64>, Query, minimum = 1, description = "The newer version (default: the running one)")),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn diff(
    state: web::Data<AppState>,
    params: web::Query<DiffParams>,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let from = number(&params.from, "from")?;
    let to = match &params.to {
        Some(t) => number(t, "to")?,
        None => engine.policy_version(),
    };
    let (a, b) = (stored(engine, from).await?, stored(engine, to).await?);
    let lines = policy_text::diff(&a.policy, &b.policy);
    Ok(HttpResponse::Ok().json(json!({
        "from": from,
        "to": to,
        "changes": policy_text::changes(&lines),
        "diff": policy_text::diff_text(&lines),
    })))
}

/// Both comparisons of a backtest.
pub fn backtest_json(b: &Backtest) -> Value {
    let side = |c: &crate::domain::simulate::backtest::Compared| json!({"running": c.running.to_json(), "proposed": c.proposed.to_json()});
    json!({
        "own": b.own.as_ref().map(|c| {
            let mut v = side(c);
            v["cases"] = json!(b.own_cases);
            // What really happened (attempts are not counted there).
            v["actual"] = b.actual.to_json();
            v
        }),
        "generated": {
            "invoices": backtest::POPULATION,
            "seed": backtest::SEED,
            "running": b.generated.running.to_json(),
            "proposed": b.generated.proposed.to_json(),
        },
    })
}

/// The policy in the body (as for `PUT`) played beside the running one on
/// this install's closed cases and on a generated population.
#[utoipa::path(post, path = "/api/policy/backtest", tag = "policy", operation_id = "backtest_policy",
    request_body(description = "The policy as TOML, or as JSON (as for PUT /api/policy)",
        content((String = "application/toml"), (String = "text/plain"), (PolicyEnvelope = "application/json"))),
    responses((status = 200, description = "Recovered revenue, attempts per failure and days to recover, running vs proposed", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn run_backtest(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let s = submitted(&request, &body)?;
    let b = backtest::run(&state.engine, s.policy).await?;
    Ok(HttpResponse::Ok().json(backtest_json(&b)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// The cases to move to the running version (1 to 1000).
    #[schema(min_items = 1, max_items = 1000)]
    #[serde(deserialize_with = "whole_numbers")]
    cases: Vec<i64>,
    note: Option<String>,
}

/// Moves chosen live cases to the running version: what is still ahead
/// for each (emails, final action, next retry) is planned again under it,
/// with a timeline entry. Each case answers for itself.
#[utoipa::path(post, path = "/api/policy/move", tag = "policy", operation_id = "move_cases_to_running_policy", request_body = MoveBody,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn move_cases(
    state: web::Data<AppState>,
    body: web::Json<MoveBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.cases.is_empty() || body.cases.len() > 1000 {
        return Err(ApiError::bad_request(
            "cases: give 1 to 1000 case ids to move",
        ));
    }
    let engine = &state.engine;
    let mut results = Vec::new();
    for id in body.cases {
        let r = match move_to_running(engine, CaseId::new(id), "operator", body.note.as_deref())
            .await?
        {
            MoveOutcome::Moved { from, case } => json!({
                "case_id": id, "moved": true, "from": from, "to": case.policy_version,
            }),
            MoveOutcome::Refused(why) => json!({"case_id": id, "moved": false, "error": why}),
            MoveOutcome::NoSuchCase => {
                json!({"case_id": id, "moved": false, "error": format!("no case {id}")})
            }
        };
        results.push(r);
    }
    Ok(HttpResponse::Ok().json(json!({
        "running": engine.policy_version(),
        "results": results,
    })))
}
