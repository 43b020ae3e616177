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

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
