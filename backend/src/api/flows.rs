//! A pair's flows: which run, on what schedule (`pairs::flows`).

use axum::Json;
use axum::extract::State;

use super::extract::ApiJson;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::ids::{IdPath, PairId};
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
