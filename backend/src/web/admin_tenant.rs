//! The operator's page for one tenant: its internal networks allowed for
//! on-premises Sage Pro, with the form to allow or withdraw one.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{CsrfForm, check_csrf, operator};
use crate::audit::Actor;
use crate::auth::Operator;
use crate::egress::{PrivateTarget, allowances};
use crate::error::ApiError;
use crate::ids::{IdPath, TenantId};
use crate::state::AppState;
use crate::tenants::{self, TenantSummary};

#[derive(Template, WebTemplate)]
#[template(path = "admin_tenant.html")]
struct TenantPage {
    email: String,
    csrf: String,
    tenant: TenantSummary,
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
) -> Result<Response, Response> {
    let internal = |e: sqlx::Error| ApiError::from(e).into_response();
    let tenant = tenants::summary(&state.db, tenant_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound("tenant").into_response())?;
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
            tenant,
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
    page(&state, &op, &id, None).await
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
            page(&state, &op, &id, Some((f, e))).await
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
