//! `GET /api/openapi.json`: the API's OpenAPI 3.1 document, generated from
//! the handlers' and types' own annotations (utoipa), so it cannot drift
//! from the code.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{cases, events, export, outbox, plan, policy, stats};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dunwell operator API",
        description = "Cases, their timelines and the operator's actions, recovery statistics, the versioned policy (edit, diff, backtest, move cases), plan previews, the outbox, and the events sent to `DUNWELL_NOTIFY_URL` (list, replay). Every request carries `Authorization: Bearer <DUNWELL_ADMIN_TOKEN>`; errors are `{\"error\": \"...\"}`."
    ),
    paths(
        cases::list,
        cases::show,
        cases::action,
        export::csv,
        stats::show,
        plan::show,
        policy::show,
        policy::put,
        policy::versions,
        policy::version,
        policy::diff,
        policy::run_backtest,
        policy::move_cases,
        outbox::list,
        events::list,
        events::replay_one,
        events::replay_since
    ),
    modifiers(&BearerToken),
    security(("operator_token" = []))
)]
pub struct ApiDoc;

/// The operator token as the document's one security scheme.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("DUNWELL_ADMIN_TOKEN"))
                    .build(),
            ),
        );
    }
}

/// Where a list's items lead: a listed case's page, a listed event's
/// replay (OpenAPI links, for clients and for schemathesis's stateful
/// tests). Written into the JSON: utoipa 5.5 writes a link's
/// `operationId` as `operation_id`, which the specification does not know.
fn with_links(mut doc: serde_json::Value) -> serde_json::Value {
    for (path, name, operation, expression) in [
        (
            "/api/cases",
            "case",
            "show_case",
            "$response.body#/cases/0/id",
        ),
        (
            "/api/events",
            "replay",
            "replay_event",
            "$response.body#/events/0/id",
        ),
    ] {
        if let Some(answer) = doc
            .pointer_mut(&format!(
                "/paths/{}/get/responses/200",
                path.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(serde_json::Value::as_object_mut)
        {
            answer.insert(
                "links".to_owned(),
                serde_json::json!({
                    name: {"operationId": operation, "parameters": {"id": expression}}
                }),
            );
        }
    }
    doc
}

pub async fn document() -> HttpResponse {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    HttpResponse::Ok().json(with_links(doc))
}
