//! The operators' API: every tenant, suspension.

use axum::Json;
use axum::extract::{Path, State};

use crate::audit::Actor;
use crate::auth::Operator;
use crate::error::{ApiError, ApiResult};
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
    id: &str,
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
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set(&state, &op, &id, "suspended").await
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/resume", tag = "admin", params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn resume(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set(&state, &op, &id, "active").await
}
