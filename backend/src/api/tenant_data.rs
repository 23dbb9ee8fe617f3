//! Tenant-wide mapping data API: currency rates.
//!
//! The rate table is one per tenant (every pair converts with it), read by
//! anyone in the tenant and replaced by owners and admins, as JSON rows or a
//! CSV file. A refused table names the row or line and the field, and leaves
//! the stored one as it was.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, ApiQuery, body_error};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::rates::{self, RateInput, RatesError, StoredRate};
use crate::state::AppState;

impl From<RatesError> for ApiError {
    fn from(e: RatesError) -> Self {
        match e {
            RatesError::Invalid { field, message } => ApiError::invalid(&field, message),
            RatesError::Duplicate { .. } => ApiError::Conflict {
                message: e.to_string(),
                field: Some("date".into()),
            },
            RatesError::Db(e) => e.into(),
        }
    }
}

/// Optional filters: one side of the pair, or both.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RateFilter {
    /// Only rates converting from this ISO 4217 code.
    pub from: Option<String>,
    /// Only rates converting to this ISO 4217 code.
    pub to: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateTableBody {
    /// The whole table; it replaces the stored one.
    pub rates: Vec<RateInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RateTableResponse {
    pub rates: Vec<StoredRate>,
}

async fn listed(
    state: &AppState,
    who: &Principal,
    filter: &RateFilter,
) -> ApiResult<Vec<StoredRate>> {
    let code = |field: &str, raw: &Option<String>| {
        raw.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| rates::parse_code(field, s))
            .transpose()
    };
    let from = code("from", &filter.from)?;
    let to = code("to", &filter.to)?;
    Ok(rates::list(&state.db, &who.tenant_id, from, to).await?)
}

/// The tenant's currency rates, by pair and effective date.
#[utoipa::path(get, path = "/api/v1/currency-rates", tag = "currency rates", params(RateFilter),
    responses((status = 200, body = RateTableResponse), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_rates(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(filter): ApiQuery<RateFilter>,
) -> ApiResult<Json<RateTableResponse>> {
    Ok(Json(RateTableResponse {
        rates: listed(&state, &who, &filter).await?,
    }))
}

/// Replaces the tenant's rate table. Errors name the row and field
/// (`rates[3].rate`); on any error nothing is saved.
#[utoipa::path(put, path = "/api/v1/currency-rates", tag = "currency rates", request_body = RateTableBody,
    responses((status = 200, body = RateTableResponse), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_rates(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<RateTableBody>,
) -> ApiResult<Json<RateTableResponse>> {
    who.require_manager()?;
    let checked = rates::check_rows(&body.rates, |i| format!("rates[{i}]"), "rates")?;
    rates::replace(&state.db, &who.tenant_id, &who.actor(), &checked, "json").await?;
    Ok(Json(RateTableResponse {
        rates: rates::list(&state.db, &who.tenant_id, None, None).await?,
    }))
}

/// The tenant's rate table as CSV (`from,to,date,rate`), filtered like the list.
#[utoipa::path(get, path = "/api/v1/currency-rates.csv", tag = "currency rates", params(RateFilter),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_csv(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(filter): ApiQuery<RateFilter>,
) -> ApiResult<Response> {
    let rows = listed(&state, &who, &filter).await?;
    Ok(csv_response(rates::to_csv(&rows)))
}

fn csv_response(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"currency-rates.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// Replaces the tenant's rate table from a CSV file with the header
/// `from,to,date,rate`. Errors name the line (`line 4.rate`); on any error
/// nothing is saved.
#[utoipa::path(put, path = "/api/v1/currency-rates.csv", tag = "currency rates",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = RateTableResponse), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn import_csv(
    State(state): State<AppState>,
    who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<RateTableResponse>> {
    who.require_manager()?;
    let body = body.map_err(body_error)?;
    let checked = rates::parse_csv(&body)?;
    rates::replace(&state.db, &who.tenant_id, &who.actor(), &checked, "csv").await?;
    Ok(Json(RateTableResponse {
        rates: rates::list(&state.db, &who.tenant_id, None, None).await?,
    }))
}
