//! Template API: the pair's templates and their versions, diff between
//! versions, dry-run preview, suggestions, lookup tables (JSON and CSV),
//! pre-built variants, and the editor's rule check.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::extract::{ApiJson, ApiQuery};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{IdPath, PairId};
use crate::pairs;
use crate::preview::{self, PreviewRequest, PreviewResponse};
use crate::state::AppState;
use crate::templates::diff::TemplateDiff;
use crate::templates::lookups::{self, LookupInfo};
use crate::templates::suggestions::{self, Decision, Suggestion};
use crate::templates::{
    self, BuiltinInfo, BuiltinRequest, RuleCheck, RuleCheckRequest, TemplateInfo, TemplateVersion,
};

/// The largest CSV a lookup table is replaced from.
const MAX_CSV_BYTES: usize = 1024 * 1024;

#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates", tag = "templates", params(("id" = String, Path)),
    responses((status = 200, body = Vec<TemplateInfo>)), security(("bearer" = [])))]
pub async fn list_templates(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Vec<TemplateInfo>>> {
    Ok(Json(templates::list(&state, &who.tenant_id, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}", tag = "templates", params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 200, body = TemplateVersion)), security(("bearer" = [])))]
pub async fn get_template(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
) -> ApiResult<Json<TemplateVersion>> {
    pairs::get(&state, &who.tenant_id, &id).await?;
    Ok(Json(
        templates::current(&state, &who.tenant_id, &id, &flow).await?,
    ))
}

/// Saves a new version of the flow's template. The body is the template
/// document, or the envelope GET answers (its `document` is saved), so a
/// template read can be written back unchanged. Refused, naming the rule
/// (`rules[3]`), when a rule does not compile or writes a field the target
/// record does not have; naming `rules` when there is no list of rules.
#[utoipa::path(put, path = "/api/v1/pairs/{id}/templates/{flow}", tag = "templates", params(("id" = String, Path), ("flow" = String, Path)),
    request_body = Object, responses((status = 200, body = TemplateInfo), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_template(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<TemplateInfo>> {
    let doc = templates::document_of(body, &flow)?;
    Ok(Json(
        templates::save(&state, &who, &id, &flow, doc, "template.saved").await?,
    ))
}

/// Every version, newest first, with author and time.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}/versions", tag = "templates", params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 200, body = Vec<TemplateInfo>)), security(("bearer" = [])))]
pub async fn template_versions(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
) -> ApiResult<Json<Vec<TemplateInfo>>> {
    Ok(Json(
        templates::versions(&state, &who.tenant_id, &id, &flow).await?,
    ))
}

/// One version's document, pinned or not.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}/versions/{version}", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = TemplateVersion), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn template_version(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow, version)): IdPath<(PairId, String, i64)>,
) -> ApiResult<Json<TemplateVersion>> {
    Ok(Json(
        templates::version(&state, &who.tenant_id, &id, &flow, version).await?,
    ))
}

/// Pins an old version again (as a new version).
#[utoipa::path(post, path = "/api/v1/pairs/{id}/templates/{flow}/versions/{version}/restore", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path), ("version" = i64, Path)), responses((status = 200, body = TemplateInfo)), security(("bearer" = [])))]
pub async fn restore_template(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow, version)): IdPath<(PairId, String, i64)>,
) -> ApiResult<Json<TemplateInfo>> {
    Ok(Json(
        templates::restore(&state, &who, &id, &flow, version).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DiffQuery {
    /// The older version.
    #[param(value_type = i64)]
    pub from: Option<String>,
    /// The newer version.
    #[param(value_type = i64)]
    pub to: Option<String>,
}

/// A version number from the query string, or a 422 naming the parameter.
fn version_param(name: &str, value: Option<&str>) -> Result<i64, ApiError> {
    let value = value.unwrap_or_default().trim();
    value.parse().map_err(|_| {
        ApiError::invalid(
            name,
            format!("'{value}' is not a version number: give ?from=1&to=2"),
        )
    })
}

/// What changed from one version to another: rules added, removed, changed
/// or moved (matched by target), and settings, lookup entries, conversions
/// and other keys by path.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}/diff", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path), DiffQuery),
    responses((status = 200, body = TemplateDiff), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn diff(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<Json<TemplateDiff>> {
    pairs::get(&state, &who.tenant_id, &id).await?;
    let from = version_param("from", q.from.as_deref())?;
    let to = version_param("to", q.to.as_deref())?;
    let a = templates::version(&state, &who.tenant_id, &id, &flow, from).await?;
    let b = templates::version(&state, &who.tenant_id, &id, &flow, to).await?;
    Ok(Json(templates::diff::diff(
        a.version,
        &a.document,
        b.version,
        &b.document,
    )))
}

/// Dry run: maps the given records (or the last `sample` source records)
/// with the template and validates what would be sent. Writes nothing and
/// calls nothing.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/templates/{flow}/preview", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)), request_body = PreviewRequest,
    responses((status = 200, body = PreviewResponse), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview_template(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> ApiResult<Json<PreviewResponse>> {
    Ok(Json(
        preview::run(&state, &who.tenant_id, &id, &flow, body).await?,
    ))
}

/// For target fields no rule fills: candidate source fields, up to three per
/// target, required targets first, each with its score and the reasons for
/// it. Deterministic; learns from this tenant's accepted suggestions.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}/suggestions", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 200, body = Vec<Suggestion>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list_suggestions(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
) -> ApiResult<Json<Vec<Suggestion>>> {
    Ok(Json(
        suggestions::list(&state, &who.tenant_id, &id, &flow).await?,
    ))
}

/// Accepts a suggestion: adds the rule `target ← source` as a new version
/// (never over an existing mapping) and remembers the choice for later rankings.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/templates/{flow}/suggestions/accept", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)), request_body = Decision,
    responses((status = 200, body = TemplateInfo), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn accept_suggestion(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<Decision>,
) -> ApiResult<Json<TemplateInfo>> {
    Ok(Json(
        suggestions::accept(&state, &who, &id, &flow, body).await?,
    ))
}

/// Rejects a suggestion: this source is not offered for this target again.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/templates/{flow}/suggestions/reject", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)), request_body = Decision,
    responses((status = 204), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reject_suggestion(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<Decision>,
) -> ApiResult<StatusCode> {
    suggestions::reject(&state, &who, &id, &flow, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The template's lookup tables, with their sizes.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}/lookups", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 200, body = Vec<LookupInfo>)), security(("bearer" = [])))]
pub async fn list_lookups(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
) -> ApiResult<Json<Vec<LookupInfo>>> {
    pairs::get(&state, &who.tenant_id, &id).await?;
    let t = templates::current(&state, &who.tenant_id, &id, &flow).await?;
    Ok(Json(lookups::list(&t.document)))
}

/// `skus.csv` → (`skus`, CSV); `skus` → (`skus`, JSON).
fn table_format(table: &str) -> (&str, bool) {
    match table.strip_suffix(".csv") {
        Some(name) => (name, true),
        None => (table, false),
    }
}

/// One lookup table: a JSON object of key → value, or — when the name ends
/// in `.csv` (`…/lookups/skus.csv`) — CSV with the header `key,value`.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}/lookups/{table}", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path), ("table" = String, Path, description = "the table's name; add `.csv` for CSV")),
    responses((status = 200, content((Object = "application/json"), (String = "text/csv"))), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_lookup(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow, table)): IdPath<(PairId, String, String)>,
) -> ApiResult<Response> {
    pairs::get(&state, &who.tenant_id, &id).await?;
    let (name, csv) = table_format(&table);
    let t = templates::current(&state, &who.tenant_id, &id, &flow).await?;
    let entries = lookups::table(&t.document, name)?;
    if !csv {
        return Ok(Json(entries).into_response());
    }
    Ok(csv_response(name, lookups::to_csv(entries)?))
}

/// A CSV download named after the table.
fn csv_response(name: &str, text: String) -> Response {
    let mut resp = Response::new(Body::from(text));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        lookups::file_name(name)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// Replaces (or adds) one lookup table, as a new template version: a JSON
/// object of key → value, or CSV (`key,value` header) when the name ends in
/// `.csv`. A CSV with any error saves nothing; the error names its line and
/// column. At most 20,000 entries and 1 MiB of CSV.
#[utoipa::path(put, path = "/api/v1/pairs/{id}/templates/{flow}/lookups/{table}", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path), ("table" = String, Path, description = "the table's name; add `.csv` to send CSV")),
    request_body(content((Object = "application/json"), (String = "text/csv"))),
    responses((status = 200, body = TemplateInfo), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_lookup(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow, table)): IdPath<(PairId, String, String)>,
    request: Request,
) -> ApiResult<Json<TemplateInfo>> {
    pairs::get(&state, &who.tenant_id, &id).await?;
    let (name, csv) = table_format(&table);
    let limit = if csv {
        MAX_CSV_BYTES
    } else {
        crate::server::BODY_LIMIT
    };
    let bytes = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| ApiError::BadRequest {
            code: "too_large",
            message: format!("is larger than {limit} bytes"),
            field: Some("body".into()),
        })?;
    let (entries, action) = if csv {
        (
            Value::Object(lookups::from_csv(&bytes)?),
            "template.lookup_imported",
        )
    } else {
        (
            super::extract::parse::<Value>(&bytes)?,
            "template.lookup_saved",
        )
    };
    Ok(Json(
        lookups::put(&state, &who, &id, &flow, name, entries, action).await?,
    ))
}

/// The pre-built templates this flow can start from, for the pair's ERP.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/templates/{flow}/builtin", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 200, body = Vec<BuiltinInfo>)), security(("bearer" = [])))]
pub async fn list_builtins(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
) -> ApiResult<Json<Vec<BuiltinInfo>>> {
    let pair = pairs::get(&state, &who.tenant_id, &id).await?;
    Ok(Json(templates::builtins(&flow, pair.erp)))
}

/// Starts over from a pre-built template: saves that variant as the next version.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/templates/{flow}/builtin", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)), request_body = BuiltinRequest,
    responses((status = 200, body = TemplateInfo), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn start_from_builtin(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<BuiltinRequest>,
) -> ApiResult<Json<TemplateInfo>> {
    Ok(Json(
        templates::start_from_builtin(&state, &who, &id, &flow, &body.variant).await?,
    ))
}

/// Compiles one rule with the template's settings and lookup tables and
/// checks its target, saving nothing: `{ok}` or what is wrong and where.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/templates/{flow}/check", tag = "templates",
    params(("id" = String, Path), ("flow" = String, Path)), request_body = RuleCheckRequest,
    responses((status = 200, body = RuleCheck), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn check_rule(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<RuleCheckRequest>,
) -> ApiResult<Json<RuleCheck>> {
    Ok(Json(
        templates::check_rule(&state, &who.tenant_id, &id, &flow, body.rule).await?,
    ))
}
