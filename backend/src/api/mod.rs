//! The JSON API v1 (design.md's contract), with its OpenAPI document generated
//! from the handlers and served at `/api/v1/openapi.json`.

mod account;
pub mod admin;
pub mod admin_billing;
pub mod audit;
mod billing;
pub mod extract;
mod flows;
mod pairs;
pub mod sandbox;
mod team;
mod templates;
mod tenant_data;

pub use team::{request_reset, send_invite};

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Clarity Connect API", version = "1", description = "Integration pairs between Clarity eCommerce and Sage Intacct / Sage Pro. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`. Request bodies are JSON with `content-type: application/json` (415 `unsupported_media_type` otherwise; the `.csv` routes take `text/csv`), one JSON value each (text after it is a 400); bodies over 2 MiB are a 413 `too_large`."),
    modifiers(&BearerAuth),
    tags((name = "account"), (name = "pairs"), (name = "runs"), (name = "templates"), (name = "sandbox"), (name = "admin"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from POST /api/v1/auth/token. A revoked or unknown token \
                         gets 401 `unauthorized`; one past its `expires_at`, 401 `token_expired`.",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn router() -> Router<AppState> {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(account::signup))
        .routes(routes!(account::token))
        .routes(routes!(account::me))
        .routes(routes!(account::list_tokens))
        .routes(routes!(account::revoke_token))
        .routes(routes!(account::usage))
        .routes(routes!(billing::list_plans))
        .routes(routes!(billing::get_subscription))
        .routes(routes!(billing::put_plan))
        .routes(routes!(billing::statement))
        .routes(routes!(team::list_users))
        .routes(routes!(team::list_invites, team::invite))
        .routes(routes!(team::resend_invite))
        .routes(routes!(team::withdraw_invite))
        .routes(routes!(team::accept_invite))
        .routes(routes!(team::set_role, team::remove_user))
        .routes(routes!(team::password_reset))
        .routes(routes!(team::password_reset_confirm))
        .routes(routes!(team::change_password))
        .routes(routes!(team::sign_out_everywhere))
        .routes(routes!(audit::audit_log))
        .routes(routes!(pairs::create, pairs::list))
        .routes(routes!(pairs::get))
        .routes(routes!(pairs::activate))
        .routes(routes!(pairs::pause))
        .routes(routes!(pairs::put_connection))
        .routes(routes!(pairs::test_connection))
        .routes(routes!(pairs::rotate_webhook_secret))
        .routes(routes!(flows::list_flows))
        .routes(routes!(flows::get_flow, flows::put_flow))
        .routes(routes!(flows::run_flow))
        .routes(routes!(flows::backfill_flow))
        .routes(routes!(pairs::list_runs))
        .routes(routes!(pairs::dead_letters))
        .routes(routes!(pairs::replay))
        .routes(routes!(templates::list_templates))
        .routes(routes!(templates::get_template, templates::put_template))
        .routes(routes!(templates::template_versions))
        .routes(routes!(templates::template_version))
        .routes(routes!(templates::restore_template))
        .routes(routes!(templates::diff))
        .routes(routes!(templates::preview_template))
        .routes(routes!(templates::list_suggestions))
        .routes(routes!(templates::accept_suggestion))
        .routes(routes!(templates::reject_suggestion))
        .routes(routes!(templates::list_lookups))
        .routes(routes!(templates::get_lookup, templates::put_lookup))
        .routes(routes!(
            templates::list_builtins,
            templates::start_from_builtin
        ))
        .routes(routes!(templates::check_rule))
        .routes(routes!(tenant_data::list_rates, tenant_data::put_rates))
        .routes(routes!(tenant_data::export_csv, tenant_data::import_csv))
        .routes(routes!(sandbox::info))
        .routes(routes!(sandbox::orders))
        .routes(routes!(sandbox::erp_sales_orders))
        .routes(routes!(sandbox::faults))
        .routes(routes!(admin::tenants))
        .routes(routes!(audit::admin_audit_log))
        .routes(routes!(admin::tenant))
        .routes(routes!(admin::suspend))
        .routes(routes!(admin::resume))
        .routes(routes!(admin_billing::set_plan))
        .routes(routes!(admin_billing::set_limits))
        .routes(routes!(admin_billing::set_grace))
        .routes(routes!(admin_billing::release_holds))
        .routes(routes!(admin_billing::outbox))
        .routes(routes!(
            admin_billing::list_plans,
            admin_billing::create_plan
        ))
        .routes(routes!(admin_billing::resend_invite))
        .routes(routes!(admin::private_targets, admin::allow_private_target))
        .routes(routes!(admin::withdraw_private_target))
        .split_for_parts();
    let doc = std::sync::Arc::new(doc);
    let router = router.layer(axum::middleware::from_fn(crate::auth::quota::headers));
    router.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json((*doc).clone()) }
        }),
    )
}
