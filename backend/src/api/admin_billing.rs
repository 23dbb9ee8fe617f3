//! Operators' billing actions on one tenant: set its plan, override its
//! limits, grant a grace period, release its held work. Each needs a reason
//! and is audited with the operator; each lets held work go that no longer
//! has to wait.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use crate::audit::Actor;
use crate::auth::Operator;
use crate::billing::subscription::{self, By};
use crate::billing::{Limits, Overrides, Subscription, plans};
use crate::error::{ApiError, ApiResult};
use crate::ids::{IdPath, TenantId};
use crate::state::AppState;
use crate::sync::holds::release_if_lifted;
use crate::tenants;

/// What the next operator reads: required, at most 500 characters.
pub fn reason(text: &str) -> Result<&str, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 500 {
        return Err(ApiError::invalid(
            "reason",
            "say why (1 to 500 characters): it is kept in the audit log",
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "reason",
            crate::error::CONTROL_CHARACTERS,
        ));
    }
    Ok(text)
}

async fn tenant(state: &AppState, id: &TenantId) -> Result<(), ApiError> {
    if tenants::exists(&state.db, id).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound("tenant"))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlan {
    pub plan: String,
    pub reason: String,
}

/// Puts the tenant on any plan, at once.
#[utoipa::path(put, path = "/api/v1/admin/tenants/{id}/plan", tag = "admin", params(("id" = String, Path)),
    request_body = SetPlan, responses((status = 200, body = Subscription), (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_plan(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
    ApiJson(body): ApiJson<SetPlan>,
) -> ApiResult<Json<Subscription>> {
    let why = reason(&body.reason)?;
    tenant(&state, &id).await?;
    let by = By::Operator {
        actor: Actor::user(&op.user_id, &op.email),
        reason: why,
    };
    subscription::change_plan(&state.db, &id, body.plan.trim(), by).await?;
    release_if_lifted(&state, &id).await?;
    Ok(Json(subscription::get(&state.db, &id).await?))
}

/// Each override in range; the error names the field.
pub fn check_overrides(o: &Overrides) -> Result<(), ApiError> {
    let checked = [
        ("production_pairs", o.production_pairs, 10_000),
        ("sandbox_pairs", o.sandbox_pairs, 10_000),
        ("users", o.users, 100_000),
        (
            "transactions_per_month",
            o.transactions_per_month,
            1_000_000_000_000,
        ),
        (
            "api_requests_per_minute",
            o.api_requests_per_minute,
            1_000_000,
        ),
    ];
    for (field, value, max) in checked {
        if let Some(n) = value
            && !(0..=max).contains(&n)
        {
            return Err(ApiError::invalid(
                field,
                format!("{n} is out of range: use 0 to {max}, or leave it out for the plan's"),
            ));
        }
    }
    Ok(())
}

pub fn check_grace_days(days: i64) -> Result<(), ApiError> {
    if (0..=365).contains(&days) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "days",
            "use 1 to 365 days, or 0 to end the grace period",
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLimits {
    pub production_pairs: Option<i64>,
    pub sandbox_pairs: Option<i64>,
    pub users: Option<i64>,
    pub transactions_per_month: Option<i64>,
    pub api_requests_per_minute: Option<i64>,
    pub reason: String,
}

/// The tenant's effective limits after an override.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LimitsAnswer {
    pub overrides: Overrides,
    pub limits: Limits,
}

/// Overrides the tenant's plan limits; a limit left out is the plan's.
#[utoipa::path(put, path = "/api/v1/admin/tenants/{id}/limits", tag = "admin", params(("id" = String, Path)),
    request_body = SetLimits, responses((status = 200, body = LimitsAnswer), (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_limits(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
    ApiJson(body): ApiJson<SetLimits>,
) -> ApiResult<Json<LimitsAnswer>> {
    let why = reason(&body.reason)?;
    let checked = [
        ("production_pairs", body.production_pairs, 10_000),
        ("sandbox_pairs", body.sandbox_pairs, 10_000),
        ("users", body.users, 100_000),
        (
            "transactions_per_month",
            body.transactions_per_month,
            1_000_000_000_000,
        ),
        (
            "api_requests_per_minute",
            body.api_requests_per_minute,
            1_000_000,
        ),
    ];
    for (field, value, max) in checked {
        if let Some(n) = value
            && !(0..=max).contains(&n)
        {
            return Err(ApiError::invalid(
                field,
                format!("{n} is out of range: use 0 to {max}, or leave it out for the plan's"),
            ));
        }
    }
    tenant(&state, &id).await?;
    let overrides = Overrides {
        production_pairs: body.production_pairs,
        sandbox_pairs: body.sandbox_pairs,
        users: body.users,
        transactions_per_month: body.transactions_per_month,
        api_requests_per_minute: body.api_requests_per_minute,
    };
    plans::set_overrides(
        &state.db,
        &id,
        &overrides,
        &Actor::user(&op.user_id, &op.email),
        why,
    )
    .await?;
    release_if_lifted(&state, &id).await?;
    let (_, limits) = plans::of_tenant(&state.db, &id).await?;
    Ok(Json(LimitsAnswer { overrides, limits }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grace {
    /// Days from now; 0 ends a grace period.
    pub days: i64,
    pub reason: String,
}

/// A grace period: until it ends, an expired trial and the transaction
/// ceiling hold none of the tenant's work.
#[utoipa::path(put, path = "/api/v1/admin/tenants/{id}/grace", tag = "admin", params(("id" = String, Path)),
    request_body = Grace, responses((status = 200, body = Subscription), (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_grace(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
    ApiJson(body): ApiJson<Grace>,
) -> ApiResult<Json<Subscription>> {
    let why = reason(&body.reason)?;
    if !(0..=365).contains(&body.days) {
        return Err(ApiError::invalid(
            "days",
            "use 1 to 365 days, or 0 to end the grace period",
        ));
    }
    tenant(&state, &id).await?;
    let until = (body.days > 0).then(|| crate::db::now_ms() + body.days * 86_400_000);
    subscription::set_grace(
        &state.db,
        &id,
        until,
        &Actor::user(&op.user_id, &op.email),
        why,
    )
    .await?;
    release_if_lifted(&state, &id).await?;
    Ok(Json(subscription::get(&state.db, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Released {
    /// Held events that go again now, in arrival order.
    pub released: u64,
}

/// Releases the tenant's held work for the rest of this period without
/// changing its limits.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/holds/release", tag = "admin", params(("id" = String, Path)),
    request_body = Release, responses((status = 202, body = Released), (status = 422, body = crate::error::ErrorBody)))]
pub async fn release_holds(
    State(state): State<AppState>,
    op: Operator,
    IdPath(id): IdPath<TenantId>,
    ApiJson(body): ApiJson<Release>,
) -> ApiResult<(StatusCode, Json<Released>)> {
    let why = reason(&body.reason)?;
    tenant(&state, &id).await?;
    let period = crate::usage::current_period();
    subscription::lift_holds(
        &state.db,
        &id,
        &period,
        &Actor::user(&op.user_id, &op.email),
        why,
    )
    .await?;
    let released = release_if_lifted(&state, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(Released { released })))
}

#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    pub limit: Option<i64>,
}

/// Mail kept because no SMTP server is configured, newest first.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin", params(("limit" = Option<i64>, Query)),
    responses((status = 200, body = Vec<crate::mail::OutboxMail>)))]
pub async fn outbox(
    State(state): State<AppState>,
    _op: Operator,
    axum::extract::Query(q): axum::extract::Query<OutboxQuery>,
) -> ApiResult<Json<Vec<crate::mail::OutboxMail>>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    Ok(Json(crate::mail::outbox(&state.db, limit).await?))
}

/// Sends an open invitation again, with a new link, for the tenant.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/invites/{invite_id}/resend", tag = "admin",
    params(("id" = String, Path), ("invite_id" = String, Path)), request_body = Release,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn resend_invite(
    State(state): State<AppState>,
    op: Operator,
    IdPath((id, invite_id)): IdPath<(TenantId, String)>,
    ApiJson(body): ApiJson<Release>,
) -> ApiResult<Json<serde_json::Value>> {
    let why = reason(&body.reason)?;
    tenant(&state, &id).await?;
    let actor = Actor::user(&op.user_id, &op.email);
    let (invite, token) = crate::team::reissue(&state.db, &id, &actor, &invite_id).await?;
    super::team::send_invite(&state, &id, "Clarity Connect support", &invite, &token).await?;
    tracing::info!(tenant_id = %id, invite_id, reason = why, "operator resent an invitation");
    Ok(Json(
        serde_json::json!({"id": invite.id, "expires_at": invite.expires_at}),
    ))
}

/// Every plan, with its limits (operators).
#[utoipa::path(get, path = "/api/v1/admin/plans", tag = "admin", responses((status = 200, body = Vec<crate::billing::Plan>)))]
pub async fn list_plans(
    State(state): State<AppState>,
    _op: Operator,
) -> ApiResult<Json<Vec<crate::billing::Plan>>> {
    Ok(Json(plans::all(&state.db).await?))
}

/// Adds a plan, offered after the others; a limit left out is unlimited.
#[utoipa::path(post, path = "/api/v1/admin/plans", tag = "admin", request_body = plans::NewPlan,
    responses((status = 201, body = crate::billing::Plan), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_plan(
    State(state): State<AppState>,
    op: Operator,
    ApiJson(body): ApiJson<plans::NewPlan>,
) -> ApiResult<(StatusCode, Json<crate::billing::Plan>)> {
    body.check()
        .map_err(|(field, message)| ApiError::invalid(field, message))?;
    if !plans::create(&state.db, &body, &Actor::user(&op.user_id, &op.email)).await? {
        return Err(ApiError::Conflict {
            message: format!("a plan '{}' exists already", body.id),
            field: Some("id".into()),
        });
    }
    let plan = plans::get(&state.db, &body.id)
        .await?
        .ok_or(ApiError::NotFound("plan"))?;
    Ok((StatusCode::CREATED, Json(plan)))
}
