//! The operator's page for one tenant: plan, limits and overrides, usage
//! history, pairs, users, recent audit, with the billing actions (plan,
//! limits, grace, release held work, resend an invitation), each needing a
//! reason; and its internal networks allowed for on-premises Sage Pro.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{CsrfForm, check_csrf, operator};
use crate::api::admin::TenantDetail;
use crate::audit::Actor;
use crate::auth::Operator;
use crate::egress::{PrivateTarget, allowances};
use crate::error::ApiError;
use crate::ids::{IdPath, TenantId};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "admin_tenant.html")]
struct TenantPage {
    email: String,
    csrf: String,
    d: TenantDetail,
    plans: Vec<String>,
    flash: Option<String>,
    action_error: String,
    targets: Vec<PrivateTarget>,
    network: String,
    note: String,
    error_field: String,
    error: String,
}

async fn page(
    state: &AppState,
    op: &Operator,
    tenant_id: &TenantId,
    form: Option<(AllowForm, ApiError)>,
    outcome: Option<Result<String, ApiError>>,
) -> Result<Response, Response> {
    let internal = |e: sqlx::Error| ApiError::from(e).into_response();
    let d = crate::api::admin::detail(state, tenant_id)
        .await
        .map_err(IntoResponse::into_response)?;
    let plans = crate::billing::plans::all(&state.db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let (flash, action_error) = match outcome {
        None => (None, String::new()),
        Some(Ok(done)) => (Some(done), String::new()),
        Some(Err(e)) => (None, e.public_message()),
    };
    let targets = allowances::list(&state.db, tenant_id)
        .await
        .map_err(internal)?;
    let (status, network, note, error_field, error) = match form {
        None => (StatusCode::OK, "".into(), "".into(), "".into(), "".into()),
        Some((f, e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            f.network,
            f.note,
            e.field().unwrap_or("network").to_owned(),
            e.to_string(),
        ),
    };
    Ok((
        status,
        TenantPage {
            email: op.email.clone(),
            csrf: op.csrf.clone(),
            d,
            plans,
            flash,
            action_error,
            targets,
            network,
            note,
            error_field,
            error,
        },
    )
        .into_response())
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath<TenantId>,
) -> Result<Response, Response> {
    let op = operator((&headers, &state)).await?;
    page(&state, &op, &id, None, None).await
}

#[derive(Deserialize)]
pub struct AllowForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    network: String,
    #[serde(default)]
    note: String,
}

pub async fn allow(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath<TenantId>,
    Form(f): Form<AllowForm>,
) -> Result<Response, Response> {
    let op = operator((&headers, &state)).await?;
    check_csrf(&f.csrf, &op.csrf).map_err(IntoResponse::into_response)?;
    match crate::api::admin::allow(&state, &op, &id, &f.network, &f.note).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/tenants/{id}")).into_response()),
        Err(e @ (ApiError::BadRequest { .. } | ApiError::Conflict { .. })) => {
            page(&state, &op, &id, Some((f, e)), None).await
        }
        Err(e) => Err(e.into_response()),
    }
}

pub async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath((id, target_id)): IdPath<(TenantId, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    let op = operator((&headers, &state)).await?;
    check_csrf(&f.csrf, &op.csrf).map_err(IntoResponse::into_response)?;
    let removed = allowances::remove(
        &state.db,
        &Actor::user(&op.user_id, &op.email),
        &id,
        &target_id,
    )
    .await
    .map_err(|e| ApiError::from(e).into_response())?;
    if !removed {
        return Err(ApiError::NotFound("private target").into_response());
    }
    Ok(Redirect::to(&format!("/admin/tenants/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct BillingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    production_pairs: String,
    #[serde(default)]
    sandbox_pairs: String,
    #[serde(default)]
    users: String,
    #[serde(default)]
    transactions_per_month: String,
    #[serde(default)]
    api_requests_per_minute: String,
}

/// An empty field keeps the plan's limit; anything else must be a number.
fn limit(field: &'static str, raw: &str) -> Result<Option<i64>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::invalid(field, format!("'{raw}' is not a whole number")))
}

/// The billing actions of the tenant page, through the same code as
/// `/api/v1/admin/tenants/{id}/…`; the page shows what happened.
pub async fn billing(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath((id, action)): IdPath<(TenantId, String)>,
    Form(f): Form<BillingForm>,
) -> Result<Response, Response> {
    let op = operator((&headers, &state)).await?;
    check_csrf(&f.csrf, &op.csrf).map_err(IntoResponse::into_response)?;
    let outcome = billing_action(&state, &op, &id, &action, &f).await;
    page(&state, &op, &id, None, Some(outcome)).await
}

async fn billing_action(
    state: &AppState,
    op: &Operator,
    id: &TenantId,
    action: &str,
    f: &BillingForm,
) -> Result<String, ApiError> {
    use crate::api::admin_billing as ab;
    let why = ab::reason(&f.reason)?;
    let actor = Actor::user(&op.user_id, &op.email);
    let done = match action {
        "plan" => {
            let by = crate::billing::subscription::By::Operator { actor, reason: why };
            crate::billing::subscription::change_plan(&state.db, id, f.plan.trim(), by).await?;
            format!("Now on the {} plan.", f.plan.trim())
        }
        "limits" => {
            let o = crate::billing::Overrides {
                production_pairs: limit("production_pairs", &f.production_pairs)?,
                sandbox_pairs: limit("sandbox_pairs", &f.sandbox_pairs)?,
                users: limit("users", &f.users)?,
                transactions_per_month: limit("transactions_per_month", &f.transactions_per_month)?,
                api_requests_per_minute: limit(
                    "api_requests_per_minute",
                    &f.api_requests_per_minute,
                )?,
            };
            ab::check_overrides(&o)?;
            crate::billing::plans::set_overrides(&state.db, id, &o, &actor, why).await?;
            "Limits saved.".to_owned()
        }
        "grace" => {
            let days = limit("days", &f.days)?.unwrap_or(-1);
            ab::check_grace_days(days)?;
            let until = (days > 0).then(|| crate::db::now_ms() + days * 86_400_000);
            crate::billing::subscription::set_grace(&state.db, id, until, &actor, why).await?;
            if days > 0 {
                format!("Grace for {days} days.")
            } else {
                "Grace ended.".to_owned()
            }
        }
        "release" => {
            let period = crate::usage::current_period();
            crate::billing::subscription::lift_holds(&state.db, id, &period, &actor, why).await?;
            "Holds lifted for this period.".to_owned()
        }
        other => match other.strip_prefix("resend-") {
            Some(invite_id) => {
                let (invite, token) =
                    crate::team::reissue(&state.db, id, &actor, invite_id).await?;
                crate::api::send_invite(state, id, "Clarity Connect support", &invite, &token)
                    .await?;
                format!("Invitation sent again to {}.", invite.email)
            }
            None => return Err(ApiError::NotFound("action")),
        },
    };
    let released = crate::sync::holds::release_if_lifted(state, id).await?;
    Ok(if released > 0 {
        format!("{done} {released} held events go again now.")
    } else {
        done
    })
}
