//! Requests a minute per tenant to our own `/api/v1`, from the plan
//! (`api_requests_per_minute`, after an operator's override). Counted in
//! fixed one-minute windows through the shared limiter, so every server
//! process using the same Redis counts together; answered with 429 and
//! `Retry-After` when spent, and with `X-RateLimit-*` headers always.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;

use crate::error::ApiError;
use crate::state::AppState;

const WINDOW: Duration = Duration::from_secs(60);

/// One request's standing against its tenant's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window ends.
    pub reset_s: u64,
}

/// Where the extractor leaves the standing for [`headers`] to answer with.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Standing>>>);

/// Counts the request against the tenant's quota once; a request over it is
/// refused. A limiter that cannot answer (Redis down) lets the request
/// through: the quota protects the service, it must not take it down.
pub async fn charge(
    parts: &Parts,
    state: &AppState,
    tenant_id: &str,
    per_minute: Option<i64>,
) -> Result<(), ApiError> {
    let (Some(slot), Some(limit)) = (parts.extensions.get::<Slot>(), per_minute) else {
        return Ok(());
    };
    if slot.0.lock().is_some() {
        return Ok(());
    }
    let limit = u64::try_from(limit).unwrap_or(0);
    let window = match state.limiter.hit(&format!("api:{tenant_id}"), WINDOW).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, tenant_id, "could not count an API request; let through");
            return Ok(());
        }
    };
    let reset_s = window.resets_in.as_millis().div_ceil(1000).max(1) as u64;
    *slot.0.lock() = Some(Standing {
        limit,
        remaining: limit.saturating_sub(window.hits),
        reset_s,
    });
    if window.hits > limit {
        metrics::counter!("connect_api_rate_limited_total").increment(1);
        return Err(ApiError::TooManyRequests {
            message: format!(
                "this account's plan allows {limit} API requests a minute; try again in {reset_s} s"
            ),
            retry_after: reset_s,
        });
    }
    Ok(())
}

/// Middleware on `/api/v1`: gives each request a [`Slot`] and answers with
/// the standing the extractor left in it.
pub async fn headers(mut req: Request, next: Next) -> Response {
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    let standing = *slot.0.lock();
    if let Some(s) = standing {
        let h = resp.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", s.limit),
            ("x-ratelimit-remaining", s.remaining),
            ("x-ratelimit-reset", s.reset_s),
        ] {
            h.insert(name, HeaderValue::from(value));
        }
    }
    resp
}
