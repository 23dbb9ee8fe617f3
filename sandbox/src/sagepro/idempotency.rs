//! Idempotency records (spec §6): `(ApiKey, Idempotency-Key)` → the route and
//! body it was first used with, and the answer given. Kept 7 days, because
//! Sage Pro work is batch-oriented and replays can come days later.
//!
//! The body is compared as parsed JSON in a canonical form (object keys
//! sorted, whole numbers written alike), so a client that re-serialises the
//! same request with other whitespace or key order gets its stored answer.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use sha2::Digest;

use super::access::Principal;
use super::{SpError, SpResult, with_etag};
use connect_store::is_unique_violation;

/// How long a key and its answer are kept.
pub(super) const RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// (route, request hash, state, status, response, created at).
type StoredRow = (String, String, String, Option<i64>, Option<String>, i64);

/// The `Idempotency-Key` of one write and what it must match.
pub(super) struct IdemKey {
    /// The key as the client sent it, for messages.
    key: String,
    /// The stored key: the API key's hash, then the client's key. The
    /// table's primary key is (pair, stored key), so this scopes each client's
    /// keys to its API key without a second key column.
    scoped: String,
    route: String,
    hash: String,
}

impl IdemKey {
    /// Reads the header: `required` on POST (a missing key is `400`), optional
    /// on PUT, where a key given is honoured the same way.
    pub(super) fn from_headers(
        principal: &Principal,
        headers: &HeaderMap,
        route: String,
        body: &serde_json::Value,
        required: bool,
    ) -> SpResult<Option<Self>> {
        let key = headers
            .get("idempotency-key")
            .map(|v| v.to_str().map(str::trim).unwrap_or(""));
        let key = match key {
            None if !required => return Ok(None),
            None => "",
            Some(k) => k,
        };
        if key.is_empty() || key.chars().count() > 100 {
            return Err(SpError::bad_request(
                "Idempotency-Key header is required (1 to 100 characters)",
            )
            .detail("Idempotency-Key", "missing or too long"));
        }
        let mut h = sha2::Sha256::new();
        h.update(route.as_bytes());
        h.update(b"\n");
        h.update(canonical(body).as_bytes());
        Ok(Some(Self {
            key: key.to_owned(),
            scoped: format!("{}/{key}", principal.key_id),
            route,
            hash: hex::encode(h.finalize()),
        }))
    }

    /// The stored answer when this key was used before with the same request;
    /// `422 IDEMPOTENCY_KEY_REUSED` when with another. A record past its
    /// retention is forgotten here.
    pub(super) async fn replay(
        &self,
        conn: &mut sqlx::AnyConnection,
        pair_id: &str,
        now: i64,
    ) -> SpResult<Option<Response>> {
        let stored: Option<StoredRow> = sqlx::query_as(
            "SELECT route, request_hash, state, status_code, response, created_at \
                 FROM sim_sagepro_idempotency WHERE pair_id = $1 AND idem_key = $2",
        )
        .bind(pair_id)
        .bind(&self.scoped)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((route, hash, state, status, response, created_at)) = stored else {
            return Ok(None);
        };
        if created_at < now - RETENTION_MS {
            sqlx::query("DELETE FROM sim_sagepro_idempotency WHERE pair_id = $1 AND idem_key = $2")
                .bind(pair_id)
                .bind(&self.scoped)
                .execute(&mut *conn)
                .await?;
            return Ok(None);
        }
        if hash != self.hash {
            return Err(SpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                format!(
                    "Idempotency-Key '{}' was used with a different request ({route})",
                    self.key
                ),
            )
            .detail("Idempotency-Key", format!("first used on {route}")));
        }
        match (state.as_str(), status, response) {
            ("done", Some(status), Some(response)) => {
                let value: serde_json::Value =
                    serde_json::from_str(&response).map_err(SpError::internal)?;
                let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
                let mut r = answer(&self.route, status, &value);
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                Ok(Some(r))
            }
            _ => Err(in_progress()),
        }
    }

    /// Stores the answer in the write's own transaction, so the record exists
    /// exactly when the write does; expired records of the company go too.
    pub(super) async fn record(
        &self,
        conn: &mut sqlx::AnyConnection,
        pair_id: &str,
        status: StatusCode,
        value: &serde_json::Value,
        now: i64,
    ) -> SpResult<()> {
        sqlx::query("DELETE FROM sim_sagepro_idempotency WHERE pair_id = $1 AND created_at < $2")
            .bind(pair_id)
            .bind(now - RETENTION_MS)
            .execute(&mut *conn)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO sim_sagepro_idempotency (pair_id, idem_key, route, request_hash, state, status_code, response, created_at) \
             VALUES ($1,$2,$3,$4,'done',$5,$6,$7)",
        )
        .bind(pair_id)
        .bind(&self.scoped)
        .bind(&self.route)
        .bind(&self.hash)
        .bind(i64::from(status.as_u16()))
        .bind(value.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            // The same key, concurrently (Postgres): the other request wins.
            Err(e) if is_unique_violation(&e) => Err(in_progress()),
            Err(e) => Err(e.into()),
        }
    }
}

/// `409 IDEMPOTENCY_IN_PROGRESS`: the first request with this key still runs.
pub(super) fn in_progress() -> SpError {
    SpError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_IN_PROGRESS",
        "A request with this Idempotency-Key is still processing",
    )
    .retry_after(1)
}

/// A write's answer: the record with its `ETag`, and on a create its
/// `Location` (`POST /orders` → `/orders/{SalesOrderNo}`, …).
pub(super) fn answer(route: &str, status: StatusCode, value: &serde_json::Value) -> Response {
    let mut r = with_etag(status, value);
    let key_field = match route {
        "POST /orders" => Some(("orders", "SalesOrderNo")),
        "POST /customers" => Some(("customers", "CustomerNo")),
        "POST /invoices" => Some(("invoices", "InvoiceNo")),
        _ => None,
    };
    if let Some((collection, field)) = key_field
        && let Some(no) = value.get(field).and_then(|v| v.as_str())
        && let Ok(h) = HeaderValue::from_str(&format!("/api/v1/sagepro/{collection}/{no}"))
    {
        r.headers_mut().insert(header::LOCATION, h);
    }
    r
}

/// JSON with object keys sorted at every level and whole numbers written as
/// integers (`2`, `2.0` and `2e0` are one value).
pub(super) fn canonical(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_whitespace_key_order_and_number_spelling() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, 2.0, {"y":1,"x":"s"}], "a": 19.99}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":19.990,"b":[1.0,2,{"x":"s","y":1}]}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        let c: serde_json::Value =
            serde_json::from_str(r#"{"a":19.98,"b":[1,2,{"x":"s","y":1}]}"#).unwrap();
        assert_ne!(canonical(&a), canonical(&c));
    }
}
