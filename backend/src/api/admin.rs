//! The operators' API: every tenant, suspension.

use axum::Json;
use axum::extract::{Query, State};

use super::extract::ApiJson;
use crate::audit::Actor;
use crate::auth::Operator;
use crate::egress::{AddError, PrivateTarget};
use crate::error::{ApiError, ApiResult};
use crate::fleet::{self, TenantRow};
use crate::ids::{IdPath, TenantId};
use crate::state::AppState;
use crate::tenants;

#[derive(Debug, Default, serde::Deserialize)]
pub struct TenantsQuery {
    pub q: Option<String>,
    pub plan: Option<String>,
    pub status: Option<String>,
    pub sort: Option<String>,
}

impl TenantsQuery {
    pub fn parse(self) -> Result<fleet::Query, ApiError> {
        if let Some(sort) = self.sort.as_deref().filter(|s| !s.is_empty())
            && !fleet::SORTS.contains(&sort)
        {
            return Err(ApiError::invalid(
                "sort",
                format!("'{sort}' is not a sort: use {}", fleet::SORTS.join(", ")),
            ));
        }
        Ok(fleet::Query {
            search: self.q,
            plan: self.plan,
            status: self.status,
            sort: self.sort.filter(|s| !s.is_empty()),
        })
    }
}

/// Every tenant with what needs attention, riskiest first (`sort=risk`,
/// the default; or `name`, `created`, `usage`), narrowed by `q` (name, id
/// or owner e-mail), `plan` and `status`.
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin",
    params(("q" = Option<String>, Query), ("plan" = Option<String>, Query), ("status" = Option<String>, Query), ("sort" = Option<String>, Query)),
    responses((status = 200, body = Vec<TenantRow>)))]
pub async fn tenants(
    State(state): State<AppState>,
    _op: Operator,
    Query(q): Query<TenantsQuery>,
) -> ApiResult<Json<Vec<TenantRow>>> {
    let q = q.parse()?;
    Ok(Json(fleet::select(
        fleet::tenants(&state.db, None).await?,
        &q,
    )))
}

/// One tenant as an operator sees it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TenantDetail {
    pub tenant: TenantRow,
    pub subscription: crate::billing::Subscription,
    pub limits: crate::billing::Limits,
    pub overrides: crate::billing::Overrides,
    pub usage_history: Vec<fleet::PeriodUsage>,
    pub users: Vec<crate::team::Member>,
    pub invites: Vec<crate::team::Invite>,
    pub pairs: Vec<crate::pairs::Pair>,
    pub audit: Vec<crate::audit::AuditEntry>,
}

/// Shared by the API and the operator's tenant page.
pub async fn detail(state: &AppState, id: &TenantId) -> Result<TenantDetail, ApiError> {
    let tenant = fleet::tenants(&state.db, Some(id))
        .await?
        .pop()
        .ok_or(ApiError::NotFound("tenant"))?;
    let (_, limits) = crate::billing::plans::of_tenant(&state.db, id).await?;
    Ok(TenantDetail {
        tenant,
        subscription: crate::billing::subscription::get(&state.db, id).await?,
        limits,
        overrides: crate::billing::plans::overrides(&state.db, id).await?,
        usage_history: fleet::usage_history(&state.db, id).await?,
        users: crate::team::members(&state.db, id).await?,
        invites: crate::team::pending_invites(&state.db, id).await?,
        pairs: crate::pairs::list(state, id).await?,
        audit: crate::audit::list(&state.db, Some(id), 20).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = TenantDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn tenant(
    State(state): State<AppState>,
    _op: Operator,
    IdPath(id): IdPath<TenantId>,
) -> ApiResult<Json<TenantDetail>> {
    Ok(Json(detail(&state, &id).await?))
}

/// `{"reason": "…"}`, optional here (the audit row names the operator
/// either way); the portal's forms require it.
fn reason_of(body: &axum::body::Bytes) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Reason {
        reason: String,
    }
    let r: Reason = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            "reason",
            format!("the body is not {{\"reason\": \"…\"}}: {e}"),
        )
    })?;
    Ok(Some(super::admin_billing::reason(&r.reason)?.to_owned()))
}

async fn set(
    state: &AppState,
    op: &Operator,
    id: &TenantId,
    status: &str,
    body: &axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let why = reason_of(body)?;
    let actor = Actor::user(&op.user_id, &op.email);
    if !tenants::set_status(&state.db, &actor, id, status, why.as_deref()).await? {
        return Err(ApiError::NotFound("tenant"));
    }
    Ok(Json(serde_json::json!({"id": id, "status": status})))
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/suspend", tag = "admin", params(("id" = String, Path)),
    request_body(content = Option<super::admin_billing::Release>, description = "optional: `{\"reason\": \"…\"}`, kept in the audit log"),
    responses((status = 200, body = Object)))]
pub async fn suspend(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    set(&state, &op, &id, "suspended", &body).await
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/resume", tag = "admin", params(("id" = String, Path)),
    request_body(content = Option<super::admin_billing::Release>, description = "optional: `{\"reason\": \"…\"}`, kept in the audit log"),
    responses((status = 200, body = Object)))]
pub async fn resume(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    set(&state, &op, &id, "active", &body).await
}

/// Internal networks this tenant's production Sage Pro connections may reach.
#[utoipa::path(get, path = "/api/v1/admin/tenants/{id}/private-targets", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = Vec<PrivateTarget>)))]
pub async fn private_targets(
    State(state): State<AppState>,
    _op: Operator,
    IdPath(id): IdPath<TenantId>,
) -> ApiResult<Json<Vec<PrivateTarget>>> {
    if !tenants::exists(&state.db, &id).await? {
        return Err(ApiError::NotFound("tenant"));
    }
    Ok(Json(crate::egress::allowances::list(&state.db, &id).await?))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowTarget {
    /// An internal address or network, e.g. `10.20.0.15` or `10.20.0.0/24` (at most a /16).
    pub network: String,
    /// Why it is allowed (ticket, contact): required, it is what the next operator reads.
    pub note: String,
}

/// Allows one internal network for the tenant's production Sage Pro connections.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/private-targets", tag = "admin", params(("id" = String, Path)),
    request_body = AllowTarget, responses((status = 201, body = PrivateTarget)))]
pub async fn allow_private_target(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
    ApiJson(body): ApiJson<AllowTarget>,
) -> ApiResult<(axum::http::StatusCode, Json<PrivateTarget>)> {
    let target = allow(&state, &op, &id, &body.network, &body.note).await?;
    Ok((axum::http::StatusCode::CREATED, Json(target)))
}

/// Shared by the API and the operator page.
pub async fn allow(
    state: &AppState,
    op: &Operator,
    tenant_id: &TenantId,
    network: &str,
    note: &str,
) -> Result<PrivateTarget, ApiError> {
    let net = crate::egress::allowances::parse_network(network)
        .map_err(|e| ApiError::invalid("network", e.to_string()))?;
    if note.trim().is_empty() || note.len() > 500 {
        return Err(ApiError::invalid(
            "note",
            "say why this network is allowed (1 to 500 characters)",
        ));
    }
    crate::egress::allowances::add(
        &state.db,
        &Actor::user(&op.user_id, &op.email),
        tenant_id,
        net,
        note,
    )
    .await
    .map_err(|e| match e {
        AddError::NoTenant => ApiError::NotFound("tenant"),
        AddError::Duplicate(_) => ApiError::Conflict {
            message: e.to_string(),
            field: Some("network".into()),
        },
        AddError::Db(e) => e.into(),
    })
}

/// Withdraws an allowance; connections using it fail from their next call.
#[utoipa::path(delete, path = "/api/v1/admin/tenants/{id}/private-targets/{target_id}", tag = "admin",
    params(("id" = String, Path), ("target_id" = String, Path)), responses((status = 204)))]
pub async fn withdraw_private_target(
    State(state): State<AppState>,
    op: Operator,
    IdPath((id, target_id)): IdPath<(TenantId, String)>,
) -> ApiResult<axum::http::StatusCode> {
    if crate::egress::allowances::remove(
        &state.db,
        &Actor::user(&op.user_id, &op.email),
        &id,
        &target_id,
    )
    .await?
    {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("private target"))
    }
}
