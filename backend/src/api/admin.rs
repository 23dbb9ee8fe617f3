//! The operators' API: every tenant, suspension.

use axum::Json;
use axum::extract::State;

use super::extract::ApiJson;
use crate::audit::Actor;
use crate::auth::Operator;
use crate::egress::{AddError, PrivateTarget};
use crate::error::{ApiError, ApiResult};
use crate::ids::{IdPath, TenantId};
use crate::state::AppState;
use crate::tenants::{self, TenantSummary};

#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin", responses((status = 200, body = Vec<TenantSummary>)))]
pub async fn tenants(
    State(state): State<AppState>,
    _op: Operator,
) -> ApiResult<Json<Vec<TenantSummary>>> {
    Ok(Json(tenants::summaries(&state.db).await?))
}

async fn set(
    state: &AppState,
    op: &Operator,
    id: &TenantId,
    status: &str,
) -> ApiResult<Json<serde_json::Value>> {
    if !tenants::set_status(&state.db, &Actor::user(&op.user_id, &op.email), id, status).await? {
        return Err(ApiError::NotFound("tenant"));
    }
    Ok(Json(serde_json::json!({"id": id, "status": status})))
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/suspend", tag = "admin", params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn suspend(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
) -> ApiResult<Json<serde_json::Value>> {
    set(&state, &op, &id, "suspended").await
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/resume", tag = "admin", params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn resume(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
) -> ApiResult<Json<serde_json::Value>> {
    set(&state, &op, &id, "active").await
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
