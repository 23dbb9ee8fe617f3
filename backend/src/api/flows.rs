//! A pair's flows: which run, on what schedule (`pairs::flows`).

use axum::Json;
use axum::extract::State;

use super::extract::ApiJson;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::ids::{IdPath, PairId};
use crate::pairs::backfill::{self, Backfill, BackfillRequest};
use crate::pairs::flows::{self, FlowUpdate, PairFlow};
use crate::state::AppState;

/// The pair's flows, every one of the eight, with whether it runs and why not.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/flows", tag = "pairs", params(("id" = String, Path)),
    responses((status = 200, body = Vec<PairFlow>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list_flows(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Vec<PairFlow>>> {
    Ok(Json(flows::list(&state, &who.tenant_id, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/pairs/{id}/flows/{flow}", tag = "pairs",
    params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 200, body = PairFlow), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_flow(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
) -> ApiResult<Json<PairFlow>> {
    Ok(Json(flows::get(&state, &who.tenant_id, &id, &flow).await?))
}

/// Switches a flow on or off, sets a polling flow's interval (60 to 86,400
/// seconds) or the customers flow's conflict rule. A flow that cannot run on
/// this pair (payments on Sage Pro) is refused with the reason.
#[utoipa::path(put, path = "/api/v1/pairs/{id}/flows/{flow}", tag = "pairs", request_body = FlowUpdate,
    params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 200, body = PairFlow), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_flow(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<FlowUpdate>,
) -> ApiResult<Json<PairFlow>> {
    Ok(Json(flows::update(&state, &who, &id, &flow, body).await?))
}

/// Whether a poll was made.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PollQueued {
    /// The poll's inbox row; `null` when a poll of this flow is already
    /// waiting or running (it reads the same changes).
    pub poll_id: Option<String>,
    pub message: String,
}

/// Polls the flow's source now, besides its schedule (polling flows that are on).
#[utoipa::path(post, path = "/api/v1/pairs/{id}/flows/{flow}/run", tag = "pairs",
    params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 202, body = PollQueued), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn run_flow(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
) -> ApiResult<(axum::http::StatusCode, Json<PollQueued>)> {
    flows::check_pollable(&state, &who, &id, &flow).await?;
    let queued = crate::sync::schedule::poll_now(&state, &who.tenant_id, &id, &flow).await?;
    let message = match &queued {
        Some(_) => format!("the {flow} flow polls now"),
        None => format!("a poll of the {flow} flow is already on its way"),
    };
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(PollQueued {
            poll_id: queued.map(|id| id.to_string()),
            message,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/pairs/{id}/flows/{flow}/backfill", tag = "pairs", request_body = BackfillRequest,
    params(("id" = String, Path), ("flow" = String, Path)),
    responses((status = 202, body = Backfill), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn backfill_flow(
    State(state): State<AppState>,
    who: Principal,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    ApiJson(body): ApiJson<BackfillRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<Backfill>)> {
    let stored = backfill::request(&state, &who, &id, &flow, body).await?;
    // A poll already waiting takes the backfill as well.
    crate::sync::schedule::poll_now(&state, &who.tenant_id, &id, &flow).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(stored)))
}
