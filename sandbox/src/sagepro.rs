//! The Sage Pro simulator (`shared/specs/sage-pro.md`): the bridge REST API a
//! Sage Pro agent would serve, one company per sandbox pair, under
//! `/sandbox/sagepro/{pair_id}/api/v1/sagepro/…`.
//!
//! - [`access`]: `X-API-Key` with scopes (`403` on a write without `write`),
//!   company `01`, one write at a time per company (`409 RECORD_LOCKED`).
//! - [`orders`]: create (idempotent), full-replace update while Open or
//!   Backordered, reads; stock commitment and backorders.
//! - [`invoices`]: from an order (ships remaining quantities) or direct and
//!   credit memos (restock); reads.
//! - [`customers`], [`masters`]: customer create/update, product and
//!   physical-count stock updates (`If-Match` → `412`), reads.
//! - [`idempotency`]: `Idempotency-Key` on every POST (and on a PUT that sends
//!   one), compared on canonical JSON, kept 7 days. Every write commits its
//!   record, number, document and stock effects in one transaction.
//! - [`wire`]: the JSON, the simulator's own reading of the spec (not the
//!   connector's), and each record's full field list. A write body may name
//!   those fields only (read-only ones are ignored); any other name is
//!   `422 VALIDATION_FAILED` naming it ([`parse_body`]). A list takes its
//!   endpoint's filters only ([`listing`]).
//!
//! Faults: injected errors split into `409 RECORD_LOCKED` (half of the write
//! errors: the desktop user's lock), `503 UNAVAILABLE` and `500 INTERNAL`;
//! 429 with Retry-After and X-RateLimit headers (60 a minute by default);
//! timeouts that commit first and answer late; scripted faults in the
//! spec's error shapes.

mod access;
mod customers;
mod idempotency;
mod invoices;
mod listing;
mod lookup;
mod masters;
mod orders;
mod rules;
mod seed;
mod stock;
pub mod wire;

use std::collections::HashMap;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use self::wire::{ErrorBody, ErrorDetail, FieldDetail};
use super::faults::{FaultKind, RateLimit};
use super::{FaultDecision, SandboxState, SimSystem};

pub use access::{KeyScope, issue_api_key};
pub use orders::list_orders;
pub use seed::seed;

/// The spec's 60 requests a minute per key, as a token bucket: bursts of up
/// to 60, refilled one a second.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit::per_minute(60);
/// The one company of a sandbox.
pub const COMPANY: &str = "01";
/// Seconds a caller is told to wait on `409 RECORD_LOCKED` (spec §4).
pub const LOCKED_RETRY_AFTER_S: u64 = 5;
/// Seconds a caller is told to wait on `503 UNAVAILABLE`.
pub const UNAVAILABLE_RETRY_AFTER_S: u64 = 5;

pub fn router(state: SandboxState) -> Router {
    let base = "/{pair_id}/api/v1/sagepro";
    Router::new()
        .route(
            &format!("{base}/orders"),
            get(orders::list).post(orders::create),
        )
        .route(
            &format!("{base}/orders/{{sales_order_no}}"),
            get(orders::get_one).put(orders::update),
        )
        .route(&format!("{base}/products"), get(masters::list_products))
        .route(
            &format!("{base}/products/{{item_code}}"),
            get(masters::get_product).put(masters::update_product),
        )
        .route(
            &format!("{base}/customers"),
            get(customers::list).post(customers::create),
        )
        .route(
            &format!("{base}/customers/{{customer_no}}"),
            get(customers::get_one).put(customers::update),
        )
        .route(&format!("{base}/inventory"), get(masters::list_inventory))
        .route(
            &format!("{base}/inventory/{{item_code}}"),
            get(masters::get_item_inventory),
        )
        .route(
            &format!("{base}/inventory/{{item_code}}/{{warehouse}}"),
            get(masters::get_inventory).put(masters::adjust_inventory),
        )
        .route(
            &format!("{base}/invoices"),
            get(invoices::list).post(invoices::create),
        )
        .route(
            &format!("{base}/invoices/{{invoice_no}}"),
            get(invoices::get_one),
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

/// Runs before every call: API key and scope first (a stranger learns
/// nothing of faults), then the pair's fault decision, then the concurrency
/// cap and, for a write, the company's write lock.
async fn gate(
    State(state): State<SandboxState>,
    Path(params): Path<HashMap<String, String>>,
    mut request: Request,
    next: Next,
) -> Response {
    let pair_id = params.get("pair_id").cloned().unwrap_or_default();
    let principal = match access::authenticate(&state.db, &pair_id, request.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let write = matches!(*request.method(), Method::POST | Method::PUT);
    if write && !principal.write {
        return access::forbidden(KeyScope::Write).into_response();
    }
    request.extensions_mut().insert(principal);
    let target = LockTarget::of(request.uri().path(), &params);
    // The slot is taken before the injected latency, so a slow call holds
    // it as slow work would.
    let limit = state
        .faults
        .get(&state.db, &pair_id, SimSystem::Sagepro)
        .await
        .ok()
        .and_then(|s| s.concurrency_limit);
    let slot = limit.map(|l| state.faults.try_slot(&pair_id, SimSystem::Sagepro, l));
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
        FaultDecision::Proceed => match admit(&pair_id, write, &slot, &target) {
            Ok(lock) => {
                let response = next.run(request).await;
                drop(lock);
                response
            }
            Err(e) => e.into_response(),
        },
        FaultDecision::Timeout { hang }
        | FaultDecision::Scripted {
            kind: FaultKind::Timeout,
            hang,
        } => match admit(&pair_id, write, &slot, &target) {
            Ok(lock) => {
                let response = next.run(request).await;
                drop(lock);
                tokio::time::sleep(hang).await;
                response
            }
            Err(e) => e.into_response(),
        },
        FaultDecision::Error => {
            // Half of the injected write errors are a desktop user's lock.
            let roll: f64 = rand::random();
            let kind = if write && roll < 0.5 {
                FaultKind::RecordLocked
            } else if roll < 0.75 {
                FaultKind::Unavailable
            } else {
                FaultKind::ServerError
            };
            scripted_error(kind, &target).into_response()
        }
        FaultDecision::RateLimited { retry_after_s } => rate_limited(retry_after_s).into_response(),
        FaultDecision::Scripted {
            kind: FaultKind::Reset,
            ..
        } => super::faults::reset_response(),
        FaultDecision::Scripted { kind, .. } => scripted_error(kind, &target).into_response(),
    };
    drop(slot);
    super::faults::quota_headers(response.headers_mut(), fate.quota);
    if !response.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
    {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Past the faults: within the concurrency cap, and for a write, holding the
/// company's write lock (a second write meanwhile is `409 RECORD_LOCKED`).
fn admit(
    pair_id: &str,
    write: bool,
    slot: &Option<Option<super::faults::Slot>>,
    target: &LockTarget,
) -> SpResult<Option<access::WriteLock>> {
    if matches!(slot, Some(None)) {
        return Err(SpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many concurrent requests for this company",
        )
        .retry_after(1));
    }
    if !write {
        return Ok(None);
    }
    access::WriteLock::try_take(pair_id)
        .map(Some)
        .ok_or_else(|| record_locked(target))
}

/// The record a lock error names: the one in the path, else the file.
struct LockTarget {
    field: &'static str,
    value: String,
}

impl LockTarget {
    fn of(path: &str, params: &HashMap<String, String>) -> Self {
        let collection = path
            .split("/api/v1/sagepro/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        let (field, param, file) = match collection {
            "orders" => ("SalesOrderNo", "sales_order_no", "SOMAST"),
            "customers" => ("CustomerNo", "customer_no", "ARCUST"),
            "invoices" => ("InvoiceNo", "invoice_no", "ARMAST"),
            "inventory" => ("ItemCode", "item_code", "ICILOC"),
            _ => ("ItemCode", "item_code", "ICITEM"),
        };
        LockTarget {
            field,
            value: params
                .get(param)
                .map(|v| v.trim().to_uppercase())
                .unwrap_or_else(|| file.to_owned()),
        }
    }
}

fn record_locked(target: &LockTarget) -> SpError {
    SpError::new(
        StatusCode::CONFLICT,
        "RECORD_LOCKED",
        "Record is in use by another user",
    )
    .detail(target.field, format!("{} locked", target.value))
    .retry_after(LOCKED_RETRY_AFTER_S)
}

fn rate_limited(retry_after_s: u64) -> SpError {
    SpError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "Too many requests",
    )
    .retry_after(retry_after_s)
}

/// An injected fault in Sage Pro's own shape (spec §1 error table, §4).
fn scripted_error(kind: FaultKind, target: &LockTarget) -> SpError {
    match kind {
        FaultKind::RecordLocked => record_locked(target),
        // The spec has no 502/504: an agent that cannot reach its data in
        // time answers 503 UNAVAILABLE.
        FaultKind::Unavailable | FaultKind::GatewayTimeout => SpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Sage Pro data is unavailable (reindex or period close in progress)",
        )
        .retry_after(UNAVAILABLE_RETRY_AFTER_S),
        FaultKind::RateLimited => rate_limited(1),
        FaultKind::ConcurrencyLimit => SpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many concurrent requests for this company",
        )
        .retry_after(1),
        // Keys do not expire in Sage Pro: a lost session is a refused key.
        FaultKind::SessionExpired | FaultKind::Unauthorized => SpError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Missing or invalid X-API-Key",
        ),
        FaultKind::Validation => SpError::validation(
            "Invalid Customer Number",
            "CustomerNo",
            "Customer does not exist (injected fault)",
        ),
        FaultKind::NotFound => SpError::not_found("Record not found (injected fault)"),
        FaultKind::ServerError | FaultKind::Timeout | FaultKind::Reset => SpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
        ),
    }
}

// ---------------------------------------------------------------------------
// Answers

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

// ---------------------------------------------------------------------------
// Request bodies and preconditions

/// The body as JSON (for the idempotency hash) and as `T`. Malformed JSON,
/// or a value of the wrong type, is `400 BAD_REQUEST`; a name that is not a
/// field of the record `shape` describes is `422 VALIDATION_FAILED` naming
/// it (read-only fields are accepted and ignored, spec §3.2; an unknown one
/// is not silently dropped).
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    shape: &Shape,
) -> SpResult<(serde_json::Value, T)> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| SpError::bad_request(format!("Malformed JSON: {e}")))?;
    shape.check(&value, "")?;
    let typed = serde_json::from_value(value.clone())
        .map_err(|e| SpError::bad_request(format!("Malformed request body: {e}")))?;
    Ok((value, typed))
}

/// The names a write body may carry: the fields of the record it writes and,
/// for each nested object (or list of objects), that one's (spec §2, §3).
pub(crate) struct Shape {
    what: &'static str,
    fields: &'static [&'static str],
    /// Names the body takes beside the record's fields.
    extra: &'static [&'static str],
    nested: &'static [(&'static str, &'static Shape)],
}

static ADDRESS: Shape = Shape {
    what: "an Address",
    fields: wire::ADDRESS_FIELDS,
    extra: &[],
    nested: &[],
};
static LINE: Shape = Shape {
    what: "a LineItem",
    fields: wire::LINE_FIELDS,
    extra: &[],
    nested: &[],
};
static SHIPPED_LINE: Shape = Shape {
    what: "a shipped line",
    fields: &["LineNo", "QtyShipped"],
    extra: &[],
    nested: &[],
};
/// `POST /orders`, `PUT /orders/{SalesOrderNo}`.
pub(crate) static ORDER_BODY: Shape = Shape {
    what: "a sales order",
    fields: wire::ORDER_FIELDS,
    extra: &[],
    nested: &[
        ("ShipToAddress", &ADDRESS),
        ("BillToAddress", &ADDRESS),
        ("LineItems", &LINE),
    ],
};
/// `PUT /products/{ItemCode}`.
pub(crate) static PRODUCT_BODY: Shape = Shape {
    what: "an item",
    fields: wire::PRODUCT_FIELDS,
    extra: &[],
    nested: &[],
};
/// `POST /customers`, `PUT /customers/{CustomerNo}`.
pub(crate) static CUSTOMER_BODY: Shape = Shape {
    what: "a customer",
    fields: wire::CUSTOMER_FIELDS,
    extra: &[],
    nested: &[("BillToAddress", &ADDRESS), ("ShipToAddress", &ADDRESS)],
};
/// `PUT /inventory/{ItemCode}/{Warehouse}`: the count, its reason and reference.
pub(crate) static STOCK_COUNT_BODY: Shape = Shape {
    what: "a stock record",
    fields: wire::INVENTORY_FIELDS,
    extra: &["Reason", "Reference"],
    nested: &[],
};
/// `POST /invoices`: from an order (`Lines`) or direct / credit.
pub(crate) static INVOICE_BODY: Shape = Shape {
    what: "an invoice",
    fields: wire::INVOICE_FIELDS,
    extra: &["AppliesToInvoiceNo", "Lines"],
    nested: &[
        ("ShipToAddress", &ADDRESS),
        ("BillToAddress", &ADDRESS),
        ("LineItems", &LINE),
        ("Lines", &SHIPPED_LINE),
    ],
};

impl Shape {
    /// `422 VALIDATION_FAILED` on the first name that is not a field,
    /// with its path (`LineItems[0].Colour`) in `Details[0].Field`.
    fn check(&self, value: &serde_json::Value, at: &str) -> SpResult<()> {
        let Some(object) = value.as_object() else {
            return Ok(());
        };
        for (key, v) in object {
            let path = format!("{at}{key}");
            let key = key.as_str();
            if !(self.fields.contains(&key) || self.extra.contains(&key)) {
                return Err(SpError::validation(
                    "Unknown field",
                    &path,
                    format!("{key} is not a field of {}", self.what),
                ));
            }
            if let Some((_, inner)) = self.nested.iter().find(|(n, _)| *n == key) {
                match v {
                    serde_json::Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            inner.check(item, &format!("{path}[{i}]."))?;
                        }
                    }
                    other => inner.check(other, &format!("{path}."))?,
                }
            }
        }
        Ok(())
    }
}

/// `If-Match: "<RowVersion>"` (weak tags and bare numbers accepted).
pub(crate) fn if_match(headers: &HeaderMap) -> SpResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            SpError::bad_request("If-Match must be an ETag such as \"3\"")
                .detail("If-Match", "not a RowVersion")
        })
}

/// `412 PRECONDITION_FAILED` when the client's `RowVersion` is not current:
/// someone (a desktop user, say) changed the record since it was read.
pub(crate) fn check_version(
    expected: Option<i64>,
    current: i64,
    field: &str,
    key: &str,
) -> SpResult<()> {
    match expected {
        Some(v) if v != current => Err(SpError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
            "The record was changed by another user",
        )
        .detail(field, format!("{key} is at RowVersion {current}, not {v}"))),
        _ => Ok(()),
    }
}
