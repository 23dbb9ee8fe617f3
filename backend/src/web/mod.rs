//! The web UI: server-rendered askama pages, plain forms (post/redirect/get),
//! CSS embedded with rust-embed. Works without JavaScript.

mod admin_outbox;
mod admin_tenant;
mod audit;
mod connection_forms;
mod flow_forms;
pub mod hygiene;
mod pages;
mod sandbox_faults;
mod team;
mod template_editor;
mod tenant_data;
mod tokens;
mod usage;
mod welcome;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use rust_embed::RustEmbed;

use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "../static/"]
struct Assets;

pub use crate::auth::session::csrf_matches;

/// `2026-11-25 08:41 UTC`, from epoch milliseconds.
pub fn when(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// Who may reach a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A signed-in tenant user; only their own tenant's records.
    Tenant,
    Operator,
}

#[derive(Debug, Clone, Copy)]
pub struct PageRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Every page route, as data: the router is built from this list and the
/// tenant-isolation test walks it, so no page can be added that the test
/// does not cover.
fn routes() -> Vec<(PageRoute, MethodRouter<AppState>)> {
    use Access::*;
    let r = |method, path, access| PageRoute {
        method,
        path,
        access,
    };
    vec![
        (r("GET", "/", Public), get(pages::home)),
        (r("GET", "/login", Public), get(pages::login_form)),
        (r("POST", "/login", Public), post(pages::login)),
        (r("GET", "/signup", Public), get(pages::signup_form)),
        (r("POST", "/signup", Public), post(pages::signup)),
        (r("POST", "/logout", Public), post(pages::logout)),
        (r("GET", "/invites/accept", Public), get(team::accept_form)),
        (r("POST", "/invites/accept", Public), post(team::accept)),
        (r("GET", "/password-reset", Public), get(team::reset_form)),
        (
            r("POST", "/password-reset", Public),
            post(team::reset_request),
        ),
        (
            r("POST", "/password-reset/confirm", Public),
            post(team::reset_confirm),
        ),
        (r("GET", "/pairs", Tenant), get(pages::pairs)),
        (r("POST", "/pairs", Tenant), post(pages::create_pair)),
        (r("GET", "/pairs/{id}", Tenant), get(pages::pair)),
        (
            r("POST", "/pairs/{id}/activate", Tenant),
            post(pages::activate),
        ),
        (r("POST", "/pairs/{id}/pause", Tenant), post(pages::pause)),
        (
            r("POST", "/pairs/{id}/flows/{flow}", Tenant),
            post(flow_forms::save),
        ),
        (
            r("POST", "/pairs/{id}/flows/{flow}/run", Tenant),
            post(flow_forms::poll),
        ),
        (
            r("POST", "/pairs/{id}/flows/{flow}/backfill", Tenant),
            post(flow_forms::backfill),
        ),
        (
            r("POST", "/pairs/{id}/connections/{system}", Tenant),
            post(connection_forms::save),
        ),
        (
            r("POST", "/pairs/{id}/connections/{system}/test", Tenant),
            post(connection_forms::test),
        ),
        (
            r("POST", "/pairs/{id}/sandbox-orders", Tenant),
            post(pages::sandbox_orders),
        ),
        (
            r("POST", "/pairs/{id}/connections/clarity/rotate", Tenant),
            post(connection_forms::rotate),
        ),
        (
            r("POST", "/pairs/{id}/sandbox-faults/{system}", Tenant),
            post(sandbox_faults::save),
        ),
        (
            r("POST", "/pairs/{id}/dead-letters/{dl}/replay", Tenant),
            post(pages::replay),
        ),
        // The mapping editor (template_editor.rs).
        (
            r("GET", "/pairs/{id}/templates/{flow}", Tenant),
            get(template_editor::show),
        ),
        (
            r("POST", "/pairs/{id}/templates/{flow}/rules", Tenant),
            post(template_editor::add_rule),
        ),
        (
            r("POST", "/pairs/{id}/templates/{flow}/rules/{index}", Tenant),
            post(template_editor::save_rule),
        ),
        (
            r("POST", "/pairs/{id}/templates/{flow}/preview", Tenant),
            post(template_editor::preview_pasted),
        ),
        (
            r("POST", "/pairs/{id}/templates/{flow}/lookups", Tenant),
            post(template_editor::upload_new_lookup),
        ),
        (
            r(
                "POST",
                "/pairs/{id}/templates/{flow}/lookups/{table}",
                Tenant,
            ),
            post(template_editor::save_lookup),
        ),
        (
            r(
                "GET",
                "/pairs/{id}/templates/{flow}/lookups/{table}/csv",
                Tenant,
            ),
            get(template_editor::download_lookup),
        ),
        (
            r(
                "POST",
                "/pairs/{id}/templates/{flow}/lookups/{table}/csv",
                Tenant,
            ),
            post(template_editor::upload_lookup),
        ),
        (
            r(
                "POST",
                "/pairs/{id}/templates/{flow}/suggestions/{decision}",
                Tenant,
            ),
            post(template_editor::decide_suggestion),
        ),
        (
            r(
                "POST",
                "/pairs/{id}/templates/{flow}/versions/{version}/restore",
                Tenant,
            ),
            post(template_editor::restore),
        ),
        (
            r("POST", "/pairs/{id}/templates/{flow}/builtin", Tenant),
            post(template_editor::builtin),
        ),
        (r("GET", "/rates", Tenant), get(tenant_data::list)),
        (r("POST", "/rates", Tenant), post(tenant_data::add)),
        (r("GET", "/rates.csv", Tenant), get(tenant_data::export)),
        (
            r("POST", "/rates/import", Tenant),
            post(tenant_data::import),
        ),
        (
            r("POST", "/rates/{from}/{to}/{date}/remove", Tenant),
            post(tenant_data::remove),
        ),
        (r("GET", "/usage", Tenant), get(usage::show)),
        (r("GET", "/usage/plan", Tenant), get(usage::confirm)),
        (r("POST", "/usage/plan", Tenant), post(usage::change)),
        (
            r("GET", "/usage/statements/{period}", Tenant),
            get(usage::statement),
        ),
        (r("GET", "/welcome", Tenant), get(welcome::show)),
        (r("POST", "/welcome/skip", Tenant), post(welcome::skip)),
        (r("POST", "/welcome/{step}", Tenant), post(welcome::submit)),
        (r("GET", "/team", Tenant), get(team::show)),
        (r("POST", "/team/invites", Tenant), post(team::invite)),
        (
            r("POST", "/team/invites/{id}/{action}", Tenant),
            post(team::invite_action),
        ),
        (
            r("POST", "/team/users/{id}/role", Tenant),
            post(team::set_role),
        ),
        (
            r("POST", "/team/users/{id}/remove", Tenant),
            post(team::remove),
        ),
        (r("GET", "/account", Tenant), get(team::account)),
        (
            r("POST", "/account/password", Tenant),
            post(team::change_password),
        ),
        (
            r("POST", "/account/sessions", Tenant),
            post(team::sign_out_everywhere),
        ),
        (r("GET", "/tokens", Tenant), get(tokens::list)),
        (r("POST", "/tokens", Tenant), post(tokens::create)),
        (
            r("POST", "/tokens/{id}/revoke", Tenant),
            post(tokens::revoke),
        ),
        (r("GET", "/audit", Tenant), get(audit::show)),
        (r("GET", "/audit.csv", Tenant), get(audit::export)),
        (r("GET", "/admin", Operator), get(pages::admin)),
        (r("GET", "/admin/outbox", Operator), get(admin_outbox::show)),
        (r("GET", "/admin/audit", Operator), get(audit::admin_show)),
        (
            r("GET", "/admin/audit.csv", Operator),
            get(audit::admin_export),
        ),
        (
            r("GET", "/admin/tenants/{id}", Operator),
            get(admin_tenant::show),
        ),
        (
            r("POST", "/admin/tenants/{id}/private-targets", Operator),
            post(admin_tenant::allow),
        ),
        (
            r(
                "POST",
                "/admin/tenants/{id}/private-targets/{target_id}/withdraw",
                Operator,
            ),
            post(admin_tenant::withdraw),
        ),
        (
            r("POST", "/admin/tenants/{id}/billing/{action}", Operator),
            post(admin_tenant::billing),
        ),
        (
            r("POST", "/admin/tenants/{id}/{action}", Operator),
            post(pages::admin_tenant),
        ),
        (r("GET", "/static/{*path}", Public), get(asset)),
    ]
}

/// The page routes, for tests and tools that must see every one of them.
pub fn page_routes() -> Vec<PageRoute> {
    routes().into_iter().map(|(r, _)| r).collect()
}

pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (r, handler)| {
            router.route(r.path, handler)
        })
}

async fn asset(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
                (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
            ],
            file.data,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
