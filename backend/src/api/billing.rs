//! The tenant's subscription and plan: what it is on, and the owner's
//! upgrade or downgrade.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::ApiJson;
use crate::auth::{Principal, Role};
use crate::billing::statement::{Statement, StatementError, parse_period};
use crate::billing::subscription::{self, By, ChangeError};
use crate::billing::{Plan, Subscription, plans};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Invalid(message) => ApiError::invalid("plan", message),
            ChangeError::OverLimit(message) => ApiError::PlanLimit(crate::billing::PlanLimit {
                message,
                field: "plan",
            }),
            ChangeError::Db(e) => e.into(),
        }
    }
}

/// The plans on offer, in order, with their limits.
#[utoipa::path(get, path = "/api/v1/plans", tag = "billing", responses((status = 200, body = Vec<Plan>)), security(("bearer" = [])))]
pub async fn list_plans(
    State(state): State<AppState>,
    _who: Principal,
) -> ApiResult<Json<Vec<Plan>>> {
    Ok(Json(plans::all(&state.db).await?))
}

/// The tenant's subscription: plan, interval, status, period, trial end,
/// and a downgrade waiting for the period's end.
#[utoipa::path(get, path = "/api/v1/subscription", tag = "billing", responses((status = 200, body = Subscription)), security(("bearer" = [])))]
pub async fn get_subscription(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(subscription::get(&state.db, &who.tenant_id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    pub plan: String,
}

/// The owner moves the tenant to another plan: an upgrade takes effect at
/// once (held work is released), a downgrade at the end of the period, and
/// is refused (403 `plan_limit`) while the tenant has more than the lower
/// plan allows.
#[utoipa::path(put, path = "/api/v1/plan", tag = "billing", request_body = PlanChange,
    responses((status = 200, body = Subscription), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_plan(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<PlanChange>,
) -> ApiResult<Json<Subscription>> {
    if who.role != Role::Owner {
        return Err(ApiError::Forbidden(
            "only the account's owner changes its plan".to_owned(),
        ));
    }
    subscription::change_plan(
        &state.db,
        &who.tenant_id,
        body.plan.trim(),
        By::Owner(who.actor()),
    )
    .await?;
    crate::sync::holds::release_if_lifted(&state, &who.tenant_id).await?;
    Ok(Json(subscription::get(&state.db, &who.tenant_id).await?))
}

impl From<StatementError> for ApiError {
    fn from(e: StatementError) -> Self {
        match e {
            StatementError::Period(m) => ApiError::invalid("period", m),
            StatementError::Db(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StatementQuery {
    pub format: Option<String>,
}

/// The tenant's usage statement for a month (`YYYY-MM`): plan, transactions,
/// API calls, overage and the priced lines, as JSON, or as CSV with
/// `?format=csv` (or `Accept: text/csv`).
#[utoipa::path(get, path = "/api/v1/statements/{period}", tag = "billing",
    params(("period" = String, Path), ("format" = Option<String>, Query)),
    responses((status = 200, body = Statement), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn statement(
    State(state): State<AppState>,
    who: Principal,
    Path(period): Path<String>,
    Query(q): Query<StatementQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let period = parse_period(&period, &crate::usage::current_period())?;
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                format!("'{other}' is not a format: use json or csv"),
            ));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    let s = state
        .billing
        .statement(&state.db, &who.tenant_id, &period)
        .await?;
    if csv {
        let name = format!("attachment; filename=\"statement-{period}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            s.to_csv(),
        )
            .into_response());
    }
    Ok(Json(s).into_response())
}
