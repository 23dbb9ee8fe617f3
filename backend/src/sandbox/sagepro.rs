//! The Sage Pro simulator (`shared/specs/sage-pro.md`): the bridge REST API a
//! Sage Pro agent would serve, one company per sandbox pair, under
//! `/sandbox/sagepro/{pair_id}/api/v1/sagepro/…`.
//!
//! - `X-API-Key` against the pair's sandbox credentials; company `01`.
//! - `POST /orders` with a required `Idempotency-Key` ([`orders`]): validation
//!   against the masters in Pro Series wording, server-assigned zero-padded
//!   `SalesOrderNo`, unique `ExternalOrderId`, stock commitment/backorder.
//!   The idempotency record, the number, the order and its stock effects
//!   commit in one write transaction, so races are settled by the database.
//! - Masters and stock reads ([`masters`]), with `ModifiedSince` paging.
//!
//! Faults: 503 `UNAVAILABLE` / 500 `INTERNAL`, half of the injected write
//! errors as `409 RECORD_LOCKED` (the desktop-user lock), 429 with
//! Retry-After, and timeouts that commit first and answer late.

mod masters;
mod orders;
mod seed;

use std::collections::HashMap;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use connect_jobs::connectors::sagepro::wire::{ErrorBody, ErrorDetail, FieldDetail};

use super::faults::{FaultKind, RateLimit};
use super::{FaultDecision, SandboxState, SimSystem};
use crate::db::Db;

pub use orders::list_orders;
pub use seed::seed;

/// Calls per second before 429 when the pair sets none (the spec's 60 per
/// minute, allowed as bursts so one order's calls are not throttled).
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit::per_minute(60);
/// The one company of a sandbox.
pub const COMPANY: &str = "01";

pub fn router(state: SandboxState) -> Router {
    let base = "/{pair_id}/api/v1/sagepro";
    Router::new()
        .route(
            &format!("{base}/orders"),
            get(orders::list).post(orders::create),
        )
        .route(
            &format!("{base}/orders/{{sales_order_no}}"),
            get(orders::get_one),
        )
        .route(&format!("{base}/products"), get(masters::list_products))
        .route(
            &format!("{base}/products/{{item_code}}"),
            get(masters::get_product),
        )
        .route(&format!("{base}/customers"), get(masters::list_customers))
        .route(
            &format!("{base}/customers/{{customer_no}}"),
            get(masters::get_customer),
        )
        .route(&format!("{base}/inventory"), get(masters::list_inventory))
        .route(
            &format!("{base}/inventory/{{item_code}}"),
            get(masters::get_item_inventory),
        )
        .route(
            &format!("{base}/inventory/{{item_code}}/{{warehouse}}"),
            get(masters::get_inventory),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

// ---------------------------------------------------------------------------
// Errors: {"Error": {Code, Message, Details, RequestId}}

#[derive(Debug)]
pub(crate) struct SpError {
    status: StatusCode,
    body: Box<ErrorBody>,
    retry_after: Option<u64>,
}

pub(crate) type SpResult<T> = Result<T, SpError>;

impl SpError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message: message.into(),
                    details: Vec::new(),
                    request_id: uuid::Uuid::now_v7().to_string(),
                },
            }),
            retry_after: None,
        }
    }

    pub(crate) fn detail(mut self, field: &str, message: impl Into<String>) -> Self {
        self.body.error.details.push(FieldDetail {
            field: field.to_owned(),
            message: message.into(),
            existing_key: None,
        });
        self
    }

    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// `422 VALIDATION_FAILED` with the canonical message and one field detail.
    pub(crate) fn validation(message: &str, field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            message,
        )
        .detail(field, detail)
    }

    /// `409 DUPLICATE` naming the record that holds the key.
    pub(crate) fn duplicate(field: &str, value: &str, existing: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "DUPLICATE",
            format!("Duplicate {field}"),
        );
        e.body.error.details.push(FieldDetail {
            field: field.to_owned(),
            message: format!("'{value}' already exists on {existing}"),
            existing_key: Some(existing.to_owned()),
        });
        e
    }

    pub(crate) fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "sage pro simulator: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
        )
    }
}

impl From<sqlx::Error> for SpError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for SpError {
    fn into_response(self) -> Response {
        let request_id = self.body.error.request_id.clone();
        let mut r = (self.status, Json(&*self.body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            r.headers_mut().insert("x-request-id", v);
        }
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

// ---------------------------------------------------------------------------
// Auth and faults

/// Runs before every call: company and API key first (a stranger learns
/// nothing of faults), then the pair's fault decision.
async fn gate(
    State(state): State<SandboxState>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    let pair_id = params.get("pair_id").cloned().unwrap_or_default();
    if let Err(e) = authenticate(&state.db, &pair_id, request.headers()).await {
        return e.into_response();
    }
    let write = matches!(*request.method(), Method::POST | Method::PUT);
    let fate = state
        .faults
        .before_call(
            &state.db,
            &pair_id,
            SimSystem::Sagepro,
            Some(DEFAULT_RATE_LIMIT),
        )
        .await;
    let mut response = match fate.decision {
        FaultDecision::Proceed => next.run(request).await,
        FaultDecision::Error => {
            let roll: f64 = rand::random();
            let kind = if write && roll < 0.5 {
                FaultKind::RecordLocked
            } else if roll < 0.75 {
                FaultKind::Unavailable
            } else {
                FaultKind::ServerError
            };
            scripted_error(kind).into_response()
        }
        FaultDecision::RateLimited { retry_after_s } => SpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests",
        )
        .retry_after(retry_after_s)
        .into_response(),
        FaultDecision::Timeout { hang }
        | FaultDecision::Scripted {
            kind: FaultKind::Timeout,
            hang,
        } => {
            let response = next.run(request).await;
            tokio::time::sleep(hang).await;
            response
        }
        FaultDecision::Scripted {
            kind: FaultKind::Reset,
            ..
        } => super::faults::reset_response(),
        FaultDecision::Scripted { kind, .. } => scripted_error(kind).into_response(),
    };
    super::faults::quota_headers(response.headers_mut(), fate.quota);
    if !response.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
    {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// An injected fault in Sage Pro's own shape (spec error table).
fn scripted_error(kind: FaultKind) -> SpError {
    match kind {
        FaultKind::RecordLocked => SpError::new(
            StatusCode::CONFLICT,
            "RECORD_LOCKED",
            "Record is in use by another user",
        )
        .detail("SalesOrderNo", "SOMAST locked")
        .retry_after(2),
        FaultKind::Unavailable | FaultKind::GatewayTimeout => SpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Sage Pro data is unavailable (reindex in progress)",
        )
        .retry_after(5),
        FaultKind::RateLimited | FaultKind::ConcurrencyLimit => SpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests",
        )
        .retry_after(1),
        FaultKind::SessionExpired | FaultKind::Unauthorized => SpError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Missing or invalid X-API-Key",
        ),
        FaultKind::Validation => SpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            "Validation failed",
        )
        .detail("CustomerNo", "Customer does not exist (injected fault)"),
        FaultKind::NotFound => SpError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Record not found (injected fault)",
        ),
        FaultKind::ServerError | FaultKind::Timeout | FaultKind::Reset => SpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
        ),
    }
}

async fn authenticate(db: &Db, pair_id: &str, headers: &HeaderMap) -> SpResult<()> {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let unauthorized = || {
        SpError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Missing or invalid X-API-Key",
        )
    };
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let creds = super::SandboxCredentials::load(db, pair_id)
        .await?
        .ok_or_else(unauthorized)?;
    let a = sha2::Sha256::digest(key.trim().as_bytes());
    let b = sha2::Sha256::digest(creds.sagepro_api_key.as_bytes());
    if !bool::from(a.as_slice().ct_eq(b.as_slice())) {
        return Err(unauthorized());
    }
    if let Some(company) = headers.get("x-sagepro-company") {
        let company = company.to_str().unwrap_or("").trim();
        if company != COMPANY {
            return Err(SpError::not_found(format!(
                "Company '{company}' does not exist"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Paging

/// `Page` (1-based, default 1) and `PageSize` (default 100, at most 500).
pub(crate) fn paging(params: &super::clarity::ListParams) -> SpResult<(u32, u32)> {
    let page = match params.one("Page") {
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| SpError::bad_request("Page must be a positive integer"))?,
        None => 1,
    };
    let size = match params.one("PageSize") {
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| SpError::bad_request("PageSize must be a positive integer"))?
            .min(500),
        None => 100,
    };
    Ok((page, size))
}

pub(crate) fn modified_since(params: &super::clarity::ListParams) -> SpResult<Option<i64>> {
    match params.one("ModifiedSince") {
        Some(s) => super::clarity::parse_time_ms(s)
            .map(Some)
            .ok_or_else(|| SpError::bad_request("ModifiedSince must be an RFC 3339 time")),
        None => Ok(None),
    }
}

/// Runs a paged list of the `body` JSON of `table`.
pub(crate) async fn paged(
    db: &Db,
    table: &str,
    filter: &super::clarity::Filter,
    order_by: &str,
    (page, size): (u32, u32),
) -> SpResult<Response> {
    use super::clarity::{Bind, Filter};
    use sqlx::Row;
    let where_sql = filter.where_sql();
    let count_sql = format!("SELECT COUNT(*) FROM {table} WHERE {where_sql}");
    let total: i64 = filter
        .bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql)))
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    let mut f = Filter {
        clauses: filter.clauses.clone(),
        binds: filter.binds.clone(),
    };
    let limit = f.push(Bind::Int(size as i64));
    let offset = f.push(Bind::Int(size as i64 * (page as i64 - 1)));
    let sql = format!(
        "SELECT body FROM {table} WHERE {where_sql} ORDER BY {order_by} LIMIT {limit} OFFSET {offset}"
    );
    let rows = f
        .bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .fetch_all(db.pool())
        .await?;
    let mut data = Vec::with_capacity(rows.len());
    for r in rows {
        let body: String = r.try_get(0)?;
        data.push(serde_json::from_str::<serde_json::Value>(&body).map_err(SpError::internal)?);
    }
    let seen = size as i64 * (page as i64 - 1) + data.len() as i64;
    Ok(Json(connect_jobs::connectors::sagepro::wire::ListPage {
        data,
        page,
        page_size: size,
        total_count: total.max(0) as u64,
        has_more: seen < total,
    })
    .into_response())
}

/// A single record with its `ETag: "<RowVersion>"`.
pub(crate) fn with_etag(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut r = (status, Json(value)).into_response();
    if let Some(v) = value.get("RowVersion").and_then(|v| v.as_i64())
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        r.headers_mut().insert(header::ETAG, h);
    }
    r
}
