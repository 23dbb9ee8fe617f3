//! Pairs, their connections, runs and dead letters (templates: [`super::templates`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::extract::{ApiJson, ApiQuery};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{IdPath, PairId};
use crate::pairs::connections::{self, ConnectionInput, TestResult};
use crate::pairs::{self, NewPair, Pair, ParsedPair};
use crate::runs::{self, DeadLetter, Run};
use crate::state::AppState;

/// Creates a pair. A sandbox pair comes connected to the built-in simulators, with default templates.
#[utoipa::path(post, path = "/api/v1/pairs", tag = "pairs", request_body = NewPair,
    responses((status = 201, body = Pair), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewPair>,
) -> ApiResult<(StatusCode, Json<Pair>)> {
    let input = ParsedPair::try_from(body)?;
    Ok((
        StatusCode::CREATED,
        Json(pairs::create(&state, &who, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/pairs", tag = "pairs", responses((status = 200, body = Vec<Pair>)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<Pair>>> {
    Ok(Json(pairs::list(&state, &who.tenant_id).await?))
}

#[utoipa::path(get, path = "/api/v1/pairs/{id}", tag = "pairs", params(("id" = String, Path)),
    responses((status = 200, body = Pair), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Pair>> {
    Ok(Json(pairs::get(&state, &who.tenant_id, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/pairs/{id}/activate", tag = "pairs", params(("id" = String, Path)),
    responses((status = 200, body = Pair), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Pair>> {
    Ok(Json(pairs::set_status(&state, &who, &id, "active").await?))
}

#[utoipa::path(post, path = "/api/v1/pairs/{id}/pause", tag = "pairs", params(("id" = String, Path)),
    responses((status = 200, body = Pair)), security(("bearer" = [])))]
pub async fn pause(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Pair>> {
    Ok(Json(pairs::set_status(&state, &who, &id, "paused").await?))
}

/// Saves a connection's base URL and credentials. Secrets are write-only.
#[utoipa::path(put, path = "/api/v1/pairs/{id}/connections/{system}", tag = "pairs", request_body = ConnectionInput,
    params(("id" = String, Path), ("system" = String, Path, description = "clarity, intacct or sagepro")),
    responses((status = 204), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_connection(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, system)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<ConnectionInput>,
) -> ApiResult<StatusCode> {
    connections::put(&state, &who, &id, &system, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a real call to the system with the saved credentials.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/connections/{system}/test", tag = "pairs",
    params(("id" = String, Path), ("system" = String, Path)), responses((status = 200, body = TestResult)), security(("bearer" = [])))]
pub async fn test_connection(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, system)): IdPath<(PairId, String)>,
) -> ApiResult<Json<TestResult>> {
    Ok(Json(connections::test(&state, &who, &id, &system).await?))
}

/// Rotates the Clarity webhook signing secret: Clarity signs with the old and
/// the new one for 24 h, and both are accepted until then.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/connections/clarity/rotate-webhook-secret", tag = "pairs",
    params(("id" = String, Path)), responses((status = 200, body = connections::RotatedSecret)), security(("bearer" = [])))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<connections::RotatedSecret>> {
    Ok(Json(
        connections::rotate_webhook_secret(&state, &who, &id).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RunQuery {
    /// running, retrying, succeeded, skipped or dead
    pub status: Option<String>,
    /// One flow's runs: orders, customers, products, inventory, shipments,
    /// payments, returns or invoices
    pub flow: Option<String>,
    /// 1..=500, default 50
    pub limit: Option<i64>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/runs", tag = "runs", params(("id" = String, Path), RunQuery),
    responses((status = 200, body = Vec<Run>)), security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> ApiResult<Json<Vec<Run>>> {
    pairs::get(&state, &who.tenant_id, &id).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 500"));
    }
    if let Some(s) = &q.status
        && !["running", "retrying", "succeeded", "skipped", "dead"].contains(&s.as_str())
    {
        return Err(ApiError::invalid(
            "status",
            format!("'{s}' is not a run status"),
        ));
    }
    if let Some(f) = &q.flow
        && crate::pairs::flows::kind(f).is_none()
    {
        return Err(ApiError::invalid("flow", format!("'{f}' is not a flow")));
    }
    let filter = runs::RunFilter {
        status: q.status.as_deref(),
        flow: q.flow.as_deref(),
    };
    Ok(Json(
        runs::list(&state.db, &who.tenant_id, &id, filter, limit).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/pairs/{id}/dead-letters", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = Vec<DeadLetter>)), security(("bearer" = [])))]
pub async fn dead_letters(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Vec<DeadLetter>>> {
    pairs::get(&state, &who.tenant_id, &id).await?;
    Ok(Json(
        runs::dead_letters(&state.db, &who.tenant_id, &id).await?,
    ))
}

/// Sends the dead letter's event through the flow again, with the current template.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/dead-letters/{dl_id}/replay", tag = "runs",
    params(("id" = String, Path), ("dl_id" = String, Path)), responses((status = 202), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, dl_id)): IdPath<(PairId, String)>,
) -> ApiResult<StatusCode> {
    who.require_operator()?;
    pairs::get(&state, &who.tenant_id, &id).await?;
    let inbox_id = runs::replay(&state.db, &who.tenant_id, &id, &dl_id).await?;
    if let Err(e) = state.queue.push(&inbox_id).await {
        tracing::warn!(error = %e, "push after replay failed; the reconciler will retry");
    }
    Ok(StatusCode::ACCEPTED)
}
