//! The Clarity eCommerce simulator (`shared/specs/clarity.md`), one store per
//! sandbox pair, under `/sandbox/clarity/{pair_id}/…`:
//!
//! - `POST /oauth/token`: client credentials (Basic or form), tokens valid 3600 s.
//! - `/api/v1/*` behind bearer tokens and scopes: orders ([`orders`]),
//!   shipments, returns, inventory, and the JSON documents that share one
//!   create/replace/patch path in [`docs`] (products, customers, coupons);
//!   lists follow the Phoenix conventions ([`query`]); POSTs honour
//!   `Idempotency-Key` ([`idempotency`]); webhook subscriptions ([`webhooks`]).
//! - A persistent webhook outbox worked by [`spawn_dispatcher`], signing each
//!   delivery as [`signature`] says.
//! - The JSON it answers is its own ([`wire`]), written from the spec apart
//!   from the connector's.
//! - Control routes under `/__sim/` (not faulted): place orders, capture a
//!   payment, read the webhook log. A pair id is no secret (it is in the
//!   pair's webhook URL), so they take the store's own client credentials
//!   (HTTP Basic, as at `/oauth/token`) or one of its bearer tokens
//!   ([`sim_control_gate`]); the tenant's API reaches the same controls
//!   under `/api/v1/pairs/{id}/sandbox/…`.
//!
//! Every `/oauth` and `/api` call first asks the pair's fault registry what to
//! do: answer 500/503 or 429 in Clarity's problem shape, or do the work and
//! then hold the answer (a timeout whose write happened).

mod coupons;
mod customers;
mod docs;
mod idempotency;
mod inventory;
mod orders;
mod products;
mod query;
mod returns;
mod seed;
mod shipments;
pub mod signature;
mod webhooks;
pub mod wire;
pub use webhooks::signing_secret;

use std::collections::HashMap;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use sha2::Digest;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use self::wire::{Page, Problem, ProblemField};
use super::faults::{FaultKind, RateLimit};
use super::{FaultDecision, SandboxState, SimSystem};
use connect_store::now_ms;

pub use orders::{PayloadMode, create_orders};
pub(crate) use seed::insert_rows;
pub use seed::seed;
pub use webhooks::{
    DispatcherConfig, dispatch_due, spawn_dispatcher, spawn_dispatcher_with, wake_dispatcher,
};

/// Calls per second before 429 when the pair sets no limit. The spec's
/// 120 per minute, allowed as short bursts: a fixed one-second window at
/// 2/s would throttle a single page-through of the order list.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit::per_minute(120);
/// Lifetime of an access token (spec §1).
pub const TOKEN_TTL_SECS: i64 = 3600;

pub fn router(state: SandboxState) -> Router {
    let api = Router::new()
        .route("/{pair_id}/oauth/token", post(token))
        .route("/{pair_id}/api/v1/orders", get(orders::list))
        .route(
            "/{pair_id}/api/v1/orders/{order_id}",
            get(orders::get_one).patch(orders::patch),
        )
        .route(
            "/{pair_id}/api/v1/orders/{order_id}/cancel",
            post(orders::cancel),
        )
        .route(
            "/{pair_id}/api/v1/orders/{order_id}/shipments",
            post(shipments::create),
        )
        .route("/{pair_id}/api/v1/shipments", get(shipments::list))
        .route(
            "/{pair_id}/api/v1/shipments/{shipment_id}",
            get(shipments::get_one),
        )
        .route(
            "/{pair_id}/api/v1/products",
            docs::collection_routes(&products::PRODUCTS),
        )
        .route(
            "/{pair_id}/api/v1/products/{product_id}",
            get(products::get_one).merge(docs::write_routes(&products::PRODUCTS, true)),
        )
        .route(
            "/{pair_id}/api/v1/customers",
            docs::collection_routes(&customers::CUSTOMERS),
        )
        .route(
            "/{pair_id}/api/v1/customers/{customer_id}",
            docs::document_routes(&customers::CUSTOMERS, true),
        )
        .route("/{pair_id}/api/v1/inventory", get(inventory::list))
        .route(
            "/{pair_id}/api/v1/inventory/adjustments",
            post(inventory::adjust),
        )
        .route("/{pair_id}/api/v1/inventory/{sku}", get(inventory::get_one))
        .route(
            "/{pair_id}/api/v1/inventory/{sku}/locations/{location_id}",
            put(inventory::put),
        )
        .route(
            "/{pair_id}/api/v1/returns",
            get(returns::list).post(returns::create),
        )
        .route(
            "/{pair_id}/api/v1/returns/{return_id}",
            get(returns::get_one),
        )
        .route(
            "/{pair_id}/api/v1/returns/{return_id}/approve",
            post(returns::approve),
        )
        .route(
            "/{pair_id}/api/v1/returns/{return_id}/receive",
            post(returns::receive),
        )
        .route(
            "/{pair_id}/api/v1/returns/{return_id}/refund",
            post(returns::refund),
        )
        .route(
            "/{pair_id}/api/v1/coupons",
            docs::collection_routes(&coupons::COUPONS),
        )
        .route(
            "/{pair_id}/api/v1/coupons/{code}",
            docs::document_routes(&coupons::COUPONS, false),
        )
        .route(
            "/{pair_id}/api/v1/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/{pair_id}/api/v1/webhooks/{webhook_id}",
            delete(webhooks::remove),
        )
        .route(
            "/{pair_id}/api/v1/webhooks/{webhook_id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/{pair_id}/api/v1/webhooks/{webhook_id}/test",
            post(webhooks::test_ping),
        )
        .route(
            "/{pair_id}/api/v1/webhooks/{webhook_id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/{pair_id}/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry_delivery),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), fault_gate));
    let admin = Router::new()
        .route("/{pair_id}/__sim/orders", post(orders::sim_orders))
        .route(
            "/{pair_id}/__sim/orders/{order_id}/capture",
            post(orders::sim_capture),
        )
        .route("/{pair_id}/__sim/webhook-log", get(webhooks::webhook_log))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            sim_control_gate,
        ));
    api.merge(admin).with_state(state)
}

// ---------------------------------------------------------------------------
// Errors: RFC 7807 problem+json

/// A Clarity error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    problem: Box<Problem>,
    headers: Vec<(header::HeaderName, String)>,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A request body read as `T`; anything else is 400 `BAD_REQUEST`.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &str,
        title: &str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            problem: Box::new(Problem {
                kind: wire::problem_type(code),
                title: title.to_owned(),
                status: status.as_u16(),
                code: code.to_owned(),
                detail: Some(detail.into()),
                errors: Vec::new(),
                request_id: Some(request_id()),
                existing_id: None,
            }),
            headers: Vec::new(),
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Bad request",
            detail,
        )
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found", detail)
    }

    pub(crate) fn validation(field: &str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            "Validation failed",
            format!("{field}: {message}"),
        );
        e.problem.errors.push(ProblemField {
            field: field.to_owned(),
            code: code.to_owned(),
            message,
        });
        e
    }

    pub(crate) fn conflict(detail: impl Into<String>, existing_id: Option<String>) -> Self {
        let mut e = Self::new(StatusCode::CONFLICT, "CONFLICT", "Conflict", detail);
        e.problem.existing_id = existing_id;
        e
    }

    pub(crate) fn precondition(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
            "Precondition failed",
            detail,
        )
    }

    pub(crate) fn unauthorized(detail: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Unauthorized",
            detail,
        );
        e.headers.push((
            header::WWW_AUTHENTICATE,
            "Bearer error=\"invalid_token\"".to_owned(),
        ));
        e
    }

    fn insufficient_scope(scope: &str) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Forbidden",
            format!("the token lacks the scope {scope}"),
        );
        e.headers.push((
            header::WWW_AUTHENTICATE,
            format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
        ));
        e
    }

    pub(crate) fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "clarity simulator: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
            "the store could not complete the request",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = self.problem.request_id.clone().unwrap_or_default();
        let mut response = (self.status, Json(&*self.problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("x-request-id", v);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        response
    }
}

fn request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

// ---------------------------------------------------------------------------
// Faults

/// Runs before every `/oauth` and `/api` call of a pair.
async fn fault_gate(
    State(state): State<SandboxState>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    let pair_id = params.get("pair_id").cloned().unwrap_or_default();
    let token_call = request.uri().path().ends_with("/oauth/token");
    // A set concurrency limit refuses what is over it at once (the store has
    // no queue); the slot is held until the answer is ready.
    let limit = state
        .faults
        .get(&state.db, &pair_id, SimSystem::Clarity)
        .await
        .ok()
        .and_then(|s| s.concurrency_limit);
    let _slot = match limit.map(|l| state.faults.try_slot(&pair_id, SimSystem::Clarity, l)) {
        Some(None) => return scripted_error(FaultKind::ConcurrencyLimit).into_response(),
        Some(Some(slot)) => Some(slot),
        None => None,
    };
    let fate = state
        .faults
        .before_call(
            &state.db,
            &pair_id,
            SimSystem::Clarity,
            Some(DEFAULT_RATE_LIMIT),
        )
        .await;
    let mut response = match fate.decision {
        FaultDecision::Proceed => next.run(request).await,
        FaultDecision::Error => {
            let kind = if rand::random::<bool>() {
                FaultKind::Unavailable
            } else {
                FaultKind::ServerError
            };
            scripted_error(kind).into_response()
        }
        FaultDecision::RateLimited { retry_after_s } => rate_limited(retry_after_s).into_response(),
        FaultDecision::Timeout { hang }
        | FaultDecision::Scripted {
            kind: FaultKind::Timeout,
            hang,
        } => {
            // The work happens and commits; only the answer is late.
            let response = next.run(request).await;
            tokio::time::sleep(hang).await;
            response
        }
        FaultDecision::Scripted {
            kind: FaultKind::Reset,
            ..
        } => super::faults::reset_response(),
        FaultDecision::Scripted { kind, .. } if token_call => match kind {
            // The token endpoint speaks OAuth (RFC 6749 §5.2), not problem+json.
            FaultKind::Unauthorized | FaultKind::SessionExpired => oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed (injected fault)",
            ),
            FaultKind::Validation => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request is malformed (injected fault)",
            ),
            _ => scripted_error(kind).into_response(),
        },
        FaultDecision::Scripted { kind, .. } => scripted_error(kind).into_response(),
    };
    super::faults::quota_headers(response.headers_mut(), fate.quota);
    if !response.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&request_id())
    {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

fn rate_limited(retry_after_s: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "Too many requests",
        format!("rate limit exceeded; retry after {retry_after_s} s"),
    )
    .with_header(header::RETRY_AFTER, retry_after_s.to_string())
}

/// An injected fault in Clarity's own shape (spec §2).
fn scripted_error(kind: FaultKind) -> ApiError {
    match kind {
        FaultKind::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Service unavailable",
            "the store is temporarily unavailable",
        )
        .with_header(header::RETRY_AFTER, "1".to_owned()),
        FaultKind::GatewayTimeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "UNAVAILABLE",
            "Gateway timeout",
            "the store did not answer in time",
        ),
        FaultKind::RateLimited => rate_limited(1),
        FaultKind::ConcurrencyLimit => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests",
            "too many concurrent requests for this client",
        )
        .with_header(header::RETRY_AFTER, "1".to_owned()),
        FaultKind::SessionExpired => ApiError::unauthorized("the access token has expired"),
        FaultKind::Unauthorized => ApiError::unauthorized("the access token is not valid"),
        // Clarity has no record locks; its one "busy, come back" answer is
        // the idempotency guard's (spec §6).
        FaultKind::RecordLocked => ApiError::new(
            StatusCode::CONFLICT,
            "IDEMPOTENCY_IN_PROGRESS",
            "Request in progress",
            "the resource is being modified by another request; retry",
        )
        .with_header(header::RETRY_AFTER, "1".to_owned()),
        FaultKind::Validation => ApiError::validation(
            "customer.email",
            "invalid_format",
            "must be a valid email address (injected fault)",
        ),
        FaultKind::NotFound => ApiError::not_found("the resource does not exist (injected fault)"),
        FaultKind::ServerError | FaultKind::Timeout | FaultKind::Reset => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
            "an unexpected error occurred",
        ),
    }
}

// ---------------------------------------------------------------------------
// OAuth 2.0 client credentials

/// An RFC 6749 §5.2 error answer of the token endpoint.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"clarity\""),
        );
    }
    r
}

/// `POST /oauth/token` (spec §1).
async fn token(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
    }
    let (client_id, client_secret) = match basic_credentials(&headers) {
        Some(pair) => pair,
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client authentication is required",
                );
            }
        },
    };
    let creds = match super::SandboxCredentials::load(&state.db, &pair_id).await {
        Ok(c) => c,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let Some(creds) = creds else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    };
    let id_ok = constant_eq(&client_id, &creds.clarity_client_id);
    let secret_ok = constant_eq(&client_secret, &creds.clarity_client_secret);
    if !(id_ok & secret_ok) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    let requested: Vec<&str> = form
        .get("scope")
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();
    let known = wire::SCOPES;
    if let Some(bad) = requested.iter().find(|s| !known.contains(s)) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("unknown scope {bad}"),
        );
    }
    // No scope asked for: the client gets everything it is allowed.
    let granted = if requested.is_empty() {
        known.join(" ")
    } else {
        requested.join(" ")
    };
    let now = now_ms();
    let access_token = make_jwt(
        &creds.clarity_client_secret,
        &client_id,
        &pair_id,
        &granted,
        now,
    );
    let stored = sqlx::query(
        "INSERT INTO sim_clarity_tokens (token_hash, pair_id, client_id, scopes, expires_at, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(token_hash(&access_token))
    .bind(&pair_id)
    .bind(&client_id)
    .bind(&granted)
    .bind(now + TOKEN_TTL_SECS * 1000)
    .bind(now)
    .execute(state.db.pool())
    .await;
    if let Err(e) = stored {
        return ApiError::internal(e).into_response();
    }
    // Expired tokens of this pair are of no use to anyone.
    let _ = sqlx::query("DELETE FROM sim_clarity_tokens WHERE pair_id = $1 AND expires_at < $2")
        .bind(&pair_id)
        .bind(now - 60_000)
        .execute(state.db.pool())
        .await;
    let mut r = Json(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
        "scope": granted,
    }))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn constant_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    let (ha, hb) = (
        sha2::Sha256::digest(a.as_bytes()),
        sha2::Sha256::digest(b.as_bytes()),
    );
    bool::from(ha.as_slice().ct_eq(hb.as_slice()))
}

fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A real HS256 JWT, as Clarity's ASP.NET Identity issues (spec §0.3).
fn make_jwt(key: &str, client_id: &str, pair_id: &str, scope: &str, now_ms: i64) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let iat = now_ms / 1000;
    let claims = serde_json::json!({
        "iss": "clarity-sandbox",
        "sub": client_id,
        "aud": pair_id,
        "scope": scope,
        "iat": iat,
        "exp": iat + TOKEN_TTL_SECS,
        "jti": uuid::Uuid::now_v7().simple().to_string(),
    });
    let payload = b64.encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Checks the bearer token of an API call and that it carries `scope`.
pub(crate) async fn authorize(
    state: &SandboxState,
    pair_id: &str,
    headers: &HeaderMap,
    scope: &str,
) -> ApiResult<()> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT scopes, expires_at FROM sim_clarity_tokens WHERE token_hash = $1 AND pair_id = $2",
    )
    .bind(token_hash(token))
    .bind(pair_id)
    .fetch_optional(state.db.pool())
    .await?;
    let Some((scopes, expires_at)) = row else {
        return Err(ApiError::unauthorized("the access token is invalid"));
    };
    if expires_at <= now_ms() {
        return Err(ApiError::unauthorized("the access token expired"));
    }
    if !scopes.split_whitespace().any(|s| s == scope) {
        return Err(ApiError::insufficient_scope(scope));
    }
    Ok(())
}

/// Runs before every `/__sim/` control call: the store's client id and
/// secret (HTTP Basic) or a live bearer token of this store, else 401. An
/// unknown store answers the same 401, so ids cannot be probed.
async fn sim_control_gate(
    State(state): State<SandboxState>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    let pair_id = params
        .get("pair_id")
        .map(String::as_str)
        .unwrap_or_default();
    match control_caller_ok(&state, pair_id, request.headers()).await {
        Ok(true) => next.run(request).await,
        Ok(false) => {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Unauthorized",
                "the store's client credentials (HTTP Basic) or one of its bearer tokens are required",
            );
            e.headers.push((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"clarity sandbox\", Bearer".to_owned(),
            ));
            e.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn control_caller_ok(
    state: &SandboxState,
    pair_id: &str,
    headers: &HeaderMap,
) -> ApiResult<bool> {
    if let Some((id, secret)) = basic_credentials(headers) {
        let Some(creds) = super::SandboxCredentials::load(&state.db, pair_id).await? else {
            return Ok(false);
        };
        let id_ok = constant_eq(&id, &creds.clarity_client_id);
        let secret_ok = constant_eq(&secret, &creds.clarity_client_secret);
        return Ok(id_ok & secret_ok);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return Ok(false);
    };
    let live: Option<(i64,)> = sqlx::query_as(
        "SELECT expires_at FROM sim_clarity_tokens WHERE token_hash = $1 AND pair_id = $2",
    )
    .bind(token_hash(token))
    .bind(pair_id)
    .fetch_optional(state.db.pool())
    .await?;
    Ok(live.is_some_and(|(expires_at,)| expires_at > now_ms()))
}

// ---------------------------------------------------------------------------
// Shared helpers

/// RFC 3339 UTC, whole seconds, from Unix milliseconds.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Parses an RFC 3339 time (or a `YYYY-MM-DD[THH:MM:SS]` without offset, read
/// as UTC, as the Phoenix examples write it) into Unix milliseconds.
pub(crate) fn parse_time_ms(s: &str) -> Option<i64> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(t) = time::PrimitiveDateTime::parse(s, &fmt) {
        return Some((t.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &date)
        .ok()
        .map(|d| (d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A list query in the Phoenix conventions (spec §0.3, §2): keys compared
/// case-insensitively, repeated keys are OR-ed.
#[derive(Debug, Default)]
pub(crate) struct ListParams {
    values: Vec<(String, String)>,
}

impl ListParams {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self {
            values: url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.to_lowercase(), v.into_owned()))
                .collect(),
        }
    }

    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        let key = key.to_lowercase();
        self.values
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn one(&self, key: &str) -> Option<&str> {
        self.all(key).into_iter().next()
    }

    /// Every (lower-cased key, value), in the order given.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The same query without `keys` (lower-case).
    pub(crate) fn without(&self, keys: &[&str]) -> Self {
        Self {
            values: self
                .values
                .iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Sets `key` when the query did not.
    pub(crate) fn set_default(&mut self, key: &str, value: &str) {
        if self.one(key).is_none() {
            self.values.push((key.to_lowercase(), value.to_owned()));
        }
    }

    /// `pageSize` (default 50, at most 200) and 0-based `pageIndex`.
    pub(crate) fn paging(&self) -> ApiResult<(u32, u32)> {
        let size = match self.one("pageSize") {
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::bad_request("pageSize must be a positive integer"))?
                .min(200),
            None => 50,
        };
        let index = match self.one("pageIndex") {
            Some(s) => s
                .parse::<u32>()
                .map_err(|_| ApiError::bad_request("pageIndex must be a non-negative integer"))?,
            None => 0,
        };
        Ok((size, index))
    }

    pub(crate) fn time(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.one(key) {
            Some(s) => parse_time_ms(s)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{key} must be an RFC 3339 time"))),
            None => Ok(None),
        }
    }
}

/// Builds `WHERE` clauses with `$n` placeholders for both databases.
#[derive(Default)]
pub(crate) struct Filter {
    pub(crate) clauses: Vec<String>,
    pub(crate) binds: Vec<Bind>,
}

#[derive(Clone, Debug)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

impl Filter {
    pub(crate) fn new(pair_id: &str) -> Self {
        let mut f = Self::default();
        let p = f.push(Bind::Text(pair_id.to_owned()));
        f.clauses.push(format!("pair_id = {p}"));
        f
    }

    pub(crate) fn push(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    pub(crate) fn cond(&mut self, column: &str, op: &str, bind: Bind) {
        let p = self.push(bind);
        self.clauses.push(format!("{column} {op} {p}"));
    }

    /// `column IN (…)` (or `NOT IN`) over `values`; nothing when empty.
    pub(crate) fn any_of(&mut self, column: &str, values: &[&str], negate: bool) {
        if values.is_empty() {
            return;
        }
        let ps: Vec<String> = values
            .iter()
            .map(|v| self.push(Bind::Text((*v).to_owned())))
            .collect();
        let not = if negate { "NOT " } else { "" };
        self.clauses
            .push(format!("{column} {not}IN ({})", ps.join(", ")));
    }

    pub(crate) fn where_sql(&self) -> String {
        self.clauses.join(" AND ")
    }

    pub(crate) fn bind_all<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// Runs a paged list over `table` (whose `body` column holds the JSON) with
/// the filter and order given, and answers the spec's envelope.
pub(crate) async fn paged(
    state: &SandboxState,
    table: &str,
    filter: &Filter,
    order_by: &str,
    (size, index): (u32, u32),
) -> ApiResult<Json<Page<serde_json::Value>>> {
    let where_sql = filter.where_sql();
    let count_sql = format!("SELECT COUNT(*) FROM {table} WHERE {where_sql}");
    let total: i64 = {
        use sqlx::Row;
        let q = filter.bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql.clone())));
        q.fetch_one(state.db.pool()).await?.try_get(0)?
    };
    let mut f = Filter {
        clauses: filter.clauses.clone(),
        binds: filter.binds.clone(),
    };
    let limit = f.push(Bind::Int(size as i64));
    let offset = f.push(Bind::Int(size as i64 * index as i64));
    let sql = format!(
        "SELECT body FROM {table} WHERE {where_sql} ORDER BY {order_by} LIMIT {limit} OFFSET {offset}"
    );
    let rows = {
        use sqlx::Row;
        f.bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.clone())))
            .fetch_all(state.db.pool())
            .await?
            .into_iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?
    };
    let results = rows
        .iter()
        .map(|b| serde_json::from_str(b).map_err(ApiError::internal))
        .collect::<Result<Vec<serde_json::Value>, _>>()?;
    let seen = size as u64 * index as u64 + results.len() as u64;
    Ok(Json(Page {
        results,
        page_index: index,
        page_size: size,
        total_count: total.max(0) as u64,
        has_more: seen < total.max(0) as u64,
    }))
}

/// Next value of a per-pair counter, starting after `start`, inside `conn`'s transaction.
pub(crate) async fn next_counter(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    name: &str,
    start: i64,
    by: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO sim_clarity_counters (pair_id, name, value) VALUES ($1,$2,$3) \
         ON CONFLICT (pair_id, name) DO NOTHING",
    )
    .bind(pair_id)
    .bind(name)
    .bind(start)
    .execute(&mut *conn)
    .await?;
    let (value,): (i64,) = sqlx::query_as(
        "UPDATE sim_clarity_counters SET value = value + $3 WHERE pair_id = $1 AND name = $2 RETURNING value",
    )
    .bind(pair_id)
    .bind(name)
    .bind(by)
    .fetch_one(&mut *conn)
    .await?;
    Ok(value)
}

/// Does this sandbox pair exist?
pub(crate) async fn pair_exists(state: &SandboxState, pair_id: &str) -> ApiResult<()> {
    match super::SandboxCredentials::load(&state.db, pair_id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no sandbox store {pair_id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_the_phoenix_forms() {
        assert_eq!(parse_time_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_time_ms("1970-01-02T00:00:00"), Some(86_400_000));
        assert_eq!(parse_time_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_time_ms("yesterday"), None);
        assert_eq!(rfc3339_ms(1500), "1970-01-01T00:00:01Z");
    }

    #[test]
    fn list_keys_are_case_insensitive_and_repeatable() {
        let p = ListParams::parse(Some("Status=a&status=b&PAGESIZE=500"));
        assert_eq!(p.all("status"), vec!["a", "b"]);
        assert_eq!(p.paging().unwrap(), (200, 0));
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        use base64::Engine;
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode("cli%2B1:s%3Acret");
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        assert_eq!(
            basic_credentials(&h),
            Some(("cli+1".to_owned(), "s:cret".to_owned()))
        );
    }
}
