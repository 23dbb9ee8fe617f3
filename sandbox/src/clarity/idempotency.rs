//! `Idempotency-Key` on POSTs (spec §6): the stored answer of (pair, route,
//! key) is replayed for the same body and refused for a different one. The
//! answer is stored in the transaction of the write it describes, so a retry
//! after a lost answer finds either both or neither.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

use super::{ApiError, ApiResult};
use connect_store::{is_unique_violation, now_ms};

/// One POST's key (when sent) and the hash of what it asked for.
pub(crate) struct Idempotency {
    key: Option<String>,
    route: String,
    hash: String,
}

impl Idempotency {
    /// `route` names the endpoint (`POST /products`); the key is optional.
    pub(crate) fn from_request(headers: &HeaderMap, route: String, body: &[u8]) -> ApiResult<Self> {
        let key = match headers.get("idempotency-key") {
            None => None,
            Some(v) => {
                let k = v
                    .to_str()
                    .map_err(|_| ApiError::bad_request("Idempotency-Key must be text"))?
                    .trim()
                    .to_owned();
                if k.is_empty() || k.len() > 255 {
                    return Err(ApiError::bad_request(
                        "Idempotency-Key must be 1 to 255 characters",
                    ));
                }
                Some(k)
            }
        };
        let mut h = sha2::Sha256::new();
        h.update(b"POST ");
        h.update(route.as_bytes());
        h.update(b"\n");
        h.update(body);
        Ok(Self {
            key,
            route,
            hash: hex::encode(h.finalize()),
        })
    }

    /// For endpoints where the spec makes the key mandatory.
    pub(crate) fn require_key(&self) -> ApiResult<()> {
        match self.key {
            Some(_) => Ok(()),
            None => Err(ApiError::bad_request(format!(
                "{} requires an Idempotency-Key header",
                self.route
            ))),
        }
    }

    /// The stored answer for this key, replayed; or a refusal when the key
    /// came with another body.
    pub(crate) async fn replay(
        &self,
        conn: &mut sqlx::AnyConnection,
        pair_id: &str,
    ) -> ApiResult<Option<Response>> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT request_hash, status_code, response FROM sim_clarity_idempotency \
             WHERE pair_id = $1 AND route = $2 AND idem_key = $3",
        )
        .bind(pair_id)
        .bind(&self.route)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((stored_hash, status, response)) = row else {
            return Ok(None);
        };
        if stored_hash != self.hash {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "Idempotency key reused",
                format!("Key '{key}' was used with a different request body"),
            ));
        }
        let value: serde_json::Value =
            serde_json::from_str(&response).map_err(ApiError::internal)?;
        let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        let mut r = (status, Json(value)).into_response();
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        Ok(Some(r))
    }

    /// Stores the answer beside the write. A unique violation means another
    /// request with this key is committing now (Postgres): answer 409
    /// `IDEMPOTENCY_IN_PROGRESS` and let the caller's transaction roll back.
    pub(crate) async fn store(
        &self,
        conn: &mut sqlx::AnyConnection,
        pair_id: &str,
        status: StatusCode,
        response: &serde_json::Value,
    ) -> ApiResult<()> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        let stored = sqlx::query(
            "INSERT INTO sim_clarity_idempotency (pair_id, route, idem_key, request_hash, status_code, response, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(pair_id)
        .bind(&self.route)
        .bind(key)
        .bind(&self.hash)
        .bind(status.as_u16() as i64)
        .bind(response.to_string())
        .bind(now_ms())
        .execute(&mut *conn)
        .await;
        match stored {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_IN_PROGRESS",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed",
            )
            .with_header(header::RETRY_AFTER, "1".to_owned())),
            Err(e) => Err(e.into()),
        }
    }
}
