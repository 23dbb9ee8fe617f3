//! Sandbox pairs only: the simulators' endpoints and demo credentials, test
//! orders, what the ERP simulator holds, and fault injection.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::extract::ApiJson;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{IdPath, PairId};
use crate::pairs::{self, Environment, Erp, Pair};
use crate::sandbox::clarity::PayloadMode;
use crate::sandbox::{self, FaultSettings, SandboxCredentials, ScriptedFault, SimSystem};
use crate::state::AppState;

async fn sandbox_pair(
    state: &AppState,
    who: &Principal,
    id: &PairId,
) -> Result<(Pair, SandboxCredentials), ApiError> {
    let pair = pairs::get(state, &who.tenant_id, id).await?;
    if pair.environment != Environment::Sandbox {
        return Err(ApiError::BadRequest {
            code: "not_sandbox",
            message: "this is a production pair; sandbox tools work on sandbox pairs only".into(),
            field: None,
        });
    }
    let creds = SandboxCredentials::load(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("sandbox"))?;
    Ok((pair, creds))
}

/// The simulators' endpoints and the sandbox's demo credentials (not customer secrets).
#[utoipa::path(get, path = "/api/v1/pairs/{id}/sandbox", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn info(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Value>> {
    let (_, c) = sandbox_pair(&state, &who, &id).await?;
    let webhook_url = pairs::webhook_url(&state, &id);
    let faults = &state.sandbox.faults;
    // The subscription the pair's Clarity connection registered, if any.
    let webhook_id = pairs::connections::load(&state, &who.tenant_id, &id, "clarity")
        .await?
        .and_then(|l| l.webhook_id);
    let webhook_secret = match webhook_id {
        Some(w) => crate::sandbox::clarity::signing_secret(&state.db, &id, &w).await?,
        None => None,
    };
    let base = &state.public_url;
    Ok(Json(json!({
        "clarity": {
            "base_url": format!("{base}/sandbox/clarity/{id}"),
            "token_url": format!("{base}/sandbox/clarity/{id}/oauth/token"),
            "api_url": format!("{base}/sandbox/clarity/{id}/api/v1"),
            "client_id": c.clarity_client_id,
            "client_secret": c.clarity_client_secret,
            "webhook_secret": webhook_secret,
            "webhook_url": webhook_url,
        },
        "intacct": {
            "endpoint_url": format!("{base}/sandbox/intacct/{id}/ia/xml/xmlgw.phtml"),
            "sender_id": c.intacct_sender_id,
            "sender_password": c.intacct_sender_password,
            "company_id": c.intacct_company_id,
            "user_id": c.intacct_user_id,
            "user_password": c.intacct_user_password,
        },
        "sagepro": {
            "base_url": format!("{base}/sandbox/sagepro/{id}/api/v1/sagepro"),
            "api_key": c.sagepro_api_key,
        },
        // What each simulator is set to do, with what is left of its script.
        "faults": {
            "clarity": faults.get(&state.db, &id, SimSystem::Clarity).await?,
            "intacct": faults.get(&state.db, &id, SimSystem::Intacct).await?,
            "sagepro": faults.get(&state.db, &id, SimSystem::Sagepro).await?,
        },
        // The most requests each simulator served at once for this pair.
        "peak_in_flight": {
            "clarity": faults.peak_in_flight(&id, SimSystem::Clarity),
            "intacct": faults.peak_in_flight(&id, SimSystem::Intacct),
            "sagepro": faults.peak_in_flight(&id, SimSystem::Sagepro),
        },
        // Requests each simulator has served for this pair since the server started.
        "calls_received": {
            "clarity": faults.calls_received(&id, SimSystem::Clarity),
            "intacct": faults.calls_received(&id, SimSystem::Intacct),
            "sagepro": faults.calls_received(&id, SimSystem::Sagepro),
        },
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OrdersRequest {
    /// 1..=500
    pub count: u32,
    /// "full" (default): the event carries the order; "id": only its id.
    pub payload: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrdersCreated {
    pub order_ids: Vec<String>,
}

/// The Clarity simulator places `count` orders and sends their signed `order.created` webhooks.
#[utoipa::path(post, path = "/api/v1/pairs/{id}/sandbox/orders", tag = "sandbox", params(("id" = String, Path)),
    request_body = OrdersRequest, responses((status = 202, body = OrdersCreated)), security(("bearer" = [])))]
pub async fn orders(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
    ApiJson(body): ApiJson<OrdersRequest>,
) -> ApiResult<(StatusCode, Json<OrdersCreated>)> {
    sandbox_pair(&state, &who, &id).await?;
    if !(1..=500).contains(&body.count) {
        return Err(ApiError::invalid("count", "must be between 1 and 500"));
    }
    let mode = match body.payload.as_deref() {
        None | Some("full") => PayloadMode::Full,
        Some("id") => PayloadMode::IdOnly,
        Some(other) => {
            return Err(ApiError::invalid(
                "payload",
                format!("'{other}' is not a payload mode (use full or id)"),
            ));
        }
    };
    let order_ids = sandbox::clarity::create_orders(&state.sandbox, &id, body.count, mode).await?;
    Ok((StatusCode::ACCEPTED, Json(OrdersCreated { order_ids })))
}

/// What the pair's ERP simulator now holds.
#[utoipa::path(get, path = "/api/v1/pairs/{id}/sandbox/erp/sales-orders", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn erp_sales_orders(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
) -> ApiResult<Json<Vec<Value>>> {
    let (pair, _) = sandbox_pair(&state, &who, &id).await?;
    let orders = match pair.erp {
        Erp::Intacct => sandbox::intacct::list_sales_orders(&state.db, &id).await?,
        Erp::Sagepro => sandbox::sagepro::list_orders(&state.db, &id).await?,
    };
    Ok(Json(orders))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultsRequest {
    /// clarity, intacct or sagepro
    pub system: String,
    pub error_rate: Option<f64>,
    pub timeout_rate: Option<f64>,
    pub latency_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub rate_limit_per_s: Option<u32>,
    pub concurrency_limit: Option<u32>,
    pub hang_ms: Option<u64>,
    /// Faults for the next calls, in order: `[{"fault": "record_locked", "count": 3}]`.
    /// Kinds: server_error, unavailable, gateway_timeout, timeout, reset,
    /// rate_limited, concurrency_limit, session_expired, record_locked,
    /// unauthorized, validation, not_found.
    #[serde(default)]
    pub script: Vec<ScriptedFault>,
}

/// Sets a simulator's faults; fields left out keep their defaults.
#[utoipa::path(put, path = "/api/v1/pairs/{id}/sandbox/faults", tag = "sandbox", params(("id" = String, Path)),
    request_body = FaultsRequest, responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn faults(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<PairId>,
    ApiJson(body): ApiJson<FaultsRequest>,
) -> ApiResult<Json<Value>> {
    let (system, settings) = apply_faults(&state, &who, &id, body).await?;
    Ok(Json(
        json!({ "system": system.as_str(), "settings": settings }),
    ))
}

/// Validates and saves one simulator's faults (the API and the pair page).
pub async fn apply_faults(
    state: &AppState,
    who: &Principal,
    id: &PairId,
    body: FaultsRequest,
) -> ApiResult<(SimSystem, FaultSettings)> {
    who.require_operator()?;
    let (pair, _) = sandbox_pair(state, who, id).await?;
    let system = SimSystem::parse(&body.system)
        .filter(|s| *s == SimSystem::Clarity || s.as_str() == pair.erp.as_str())
        .ok_or_else(|| {
            ApiError::invalid(
                "system",
                format!(
                    "'{}' is not a simulator of this pair (use clarity or {})",
                    body.system,
                    pair.erp.as_str()
                ),
            )
        })?;
    let d = FaultSettings::default();
    let settings = FaultSettings {
        error_rate: body.error_rate.unwrap_or(d.error_rate),
        timeout_rate: body.timeout_rate.unwrap_or(d.timeout_rate),
        latency_ms: body.latency_ms.unwrap_or(d.latency_ms),
        jitter_ms: body.jitter_ms.unwrap_or(d.jitter_ms),
        rate_limit_per_s: body.rate_limit_per_s.or(d.rate_limit_per_s),
        concurrency_limit: body.concurrency_limit.or(d.concurrency_limit),
        hang_ms: body.hang_ms.unwrap_or(d.hang_ms),
        script: body.script,
    };
    settings
        .validate()
        .map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    state
        .sandbox
        .faults
        .set(&state.db, id, system, settings.clone())
        .await?;
    Ok((system, settings))
}
