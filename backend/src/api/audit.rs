//! The audit log: a tenant's own entries, and every tenant's for operators,
//! filtered by actor, action and UTC days, as JSON or CSV.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::ApiQuery;
use crate::audit::{self, AuditEntry, AuditFilter, FilterError, FilterQuery};
use crate::auth::{Operator, Principal};
use crate::error::{ApiError, ApiResult};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::tenants;

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

/// JSON (the default) or CSV.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` for a CSV download (`text/csv`); left out, JSON.
    pub format: Option<String>,
}

/// The operators' filters besides those of [`FilterQuery`].
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Only this tenant's entries (its id, `ten_…`); left out, every tenant's
    /// and the platform's own.
    pub tenant: Option<String>,
}

/// Whether `format` asks for CSV; anything but `json` or `csv` is refused.
pub fn wants_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format.map(str::trim).unwrap_or("") {
        "" | "json" => Ok(false),
        "csv" => Ok(true),
        other => Err(ApiError::invalid(
            "format",
            format!(
                "{:?} is not a format: use csv, or leave it out for JSON",
                other.chars().take(20).collect::<String>()
            ),
        )),
    }
}

/// An operator's tenant filter: `None` for every tenant; an id that is not
/// one of ours, or names no tenant, is a 422 naming `tenant`.
pub async fn tenant_filter(
    state: &AppState,
    raw: Option<&str>,
) -> Result<Option<TenantId>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let unknown = || {
        ApiError::invalid(
            "tenant",
            format!(
                "no tenant has the id {:?}",
                raw.chars()
                    .filter(|c| !c.is_control())
                    .take(40)
                    .collect::<String>()
            ),
        )
    };
    let id = TenantId::parse(raw).map_err(|_| unknown())?;
    if !tenants::exists(&state.db, &id).await? {
        return Err(unknown());
    }
    Ok(Some(id))
}

/// A CSV download of audit entries, named after today's UTC date
/// (`audit-log-2026-03-01.csv`; `prefix` tells operators' apart).
pub fn csv_download(prefix: &str, entries: &[AuditEntry], with_tenant: bool) -> Response {
    let today = audit::timestamp(crate::db::now_ms());
    let day = today.get(..10).unwrap_or("export");
    let mut resp = audit::to_csv(entries, with_tenant).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{prefix}-{day}.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The caller's tenant's audit log, newest first: who changed what, and
/// when. Filters combine; a bad one is a 422 naming the parameter.
#[utoipa::path(get, path = "/api/v1/audit", tag = "account", params(FilterQuery, FormatQuery),
    responses((status = 200, description = "The entries; with `format=csv`, a CSV file with the header `at,actor_email,action,target,detail,id`",
            content((Vec<AuditEntry> = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A bad filter; the error names the parameter", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_log(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<FilterQuery>,
    ApiQuery(format): ApiQuery<FormatQuery>,
) -> ApiResult<Response> {
    let csv = wants_csv(format.format.as_deref())?;
    let filter = AuditFilter::parse(&q)?;
    let entries = audit::search(&state.db, Some(&who.tenant_id), &filter).await?;
    Ok(if csv {
        csv_download("audit-log", &entries, false)
    } else {
        Json(entries).into_response()
    })
}

/// Every tenant's audit log (and the platform's own entries, with no
/// tenant), newest first, each entry with its `tenant_id`; `tenant` narrows
/// it to one. Operators only.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(TenantQuery, FilterQuery, FormatQuery),
    responses((status = 200, description = "The entries; with `format=csv`, a CSV file with the header `at,tenant_id,actor_email,action,target,detail,id`",
            content((Vec<AuditEntry> = "application/json"), (String = "text/csv"))),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "A bad filter or an unknown tenant; the error names the parameter", body = crate::error::ErrorBody)))]
pub async fn admin_audit_log(
    State(state): State<AppState>,
    _op: Operator,
    ApiQuery(q): ApiQuery<FilterQuery>,
    ApiQuery(t): ApiQuery<TenantQuery>,
    ApiQuery(format): ApiQuery<FormatQuery>,
) -> ApiResult<Response> {
    let csv = wants_csv(format.format.as_deref())?;
    let tenant = tenant_filter(&state, t.tenant.as_deref()).await?;
    let filter = AuditFilter::parse(&q)?;
    let entries = audit::search(&state.db, tenant.as_deref(), &filter).await?;
    Ok(if csv {
        let name = match &tenant {
            Some(t) => format!("audit-log-{t}"),
            None => "audit-log-all-tenants".to_owned(),
        };
        csv_download(&name, &entries, true)
    } else {
        Json(entries).into_response()
    })
}
