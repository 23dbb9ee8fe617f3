//! `POST /hooks/clarity/{pair_id}`: signed Clarity webhooks into the inbox.
//! The event is committed before we answer 2xx; a bad signature gets 401 and
//! stores nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use connect_jobs::connectors::clarity::signature;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::ids::{IdPath, PairId, TenantId};
use crate::state::{AppState, WebhookSecrets};
use crate::sync::inbox::{self, Inserted};

pub async fn clarity(
    State(state): State<AppState>,
    IdPath(pair_id): IdPath<PairId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let outcome = receive(&state, &pair_id, &headers, &body).await;
    let label = match &outcome {
        Ok((_, Json(v))) if v["duplicate"] == true => "duplicate",
        Ok(_) => "accepted",
        Err(ApiError::Unauthorized) => "bad_signature",
        Err(_) => "rejected",
    };
    metrics::counter!("connect_webhook_events_total", "source" => "clarity", "outcome" => label)
        .increment(1);
    outcome
}

async fn receive(
    state: &AppState,
    pair_id: &PairId,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let pair: Option<(TenantId, Option<i64>)> = sqlx::query_as(
        "SELECT p.tenant_id, r.inputs FROM pairs p \
         LEFT JOIN revisions r ON r.scope_id = p.id WHERE p.id = $1",
    )
    .bind(pair_id)
    .fetch_optional(state.db.pool())
    .await?;
    let (tenant_id, revision) = pair.ok_or(ApiError::NotFound("pair"))?;
    let revision = revision.unwrap_or(0);
    let all = match state.webhook_secrets.get(pair_id, revision) {
        Some(kept) => kept,
        None => {
            let loaded: WebhookSecrets =
                crate::pairs::connections::load(state, &tenant_id, pair_id, "clarity")
                    .await?
                    .map(|c| c.signing_secrets())
                    .unwrap_or_default()
                    .into();
            state
                .webhook_secrets
                .keep(pair_id, revision, loaded.clone());
            loaded
        }
    };
    let secrets = Some(crate::clients::valid_at(&all, crate::db::now_ms()))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Forbidden("this pair has no Clarity webhook secret yet".into()))?;
    let header = headers
        .get(signature::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(e) = signature::verify(
        header,
        body,
        &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
        now,
        signature::DEFAULT_TOLERANCE_SECS,
    ) {
        tracing::warn!(pair_id = %pair_id, reason = %e, "webhook signature refused");
        return Err(ApiError::Unauthorized);
    }
    let event: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
        code: "malformed",
        message: format!("body is not JSON: {e}"),
        field: None,
    })?;
    let event_id = event
        .get("id")
        .and_then(Value::as_str)
        .or_else(|| {
            headers
                .get(signature::ID_HEADER)
                .and_then(|v| v.to_str().ok())
        })
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or_else(|| ApiError::invalid("id", "the event has no id"))?;
    let event_type = event
        .get("type")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 100)
        .ok_or_else(|| ApiError::invalid("type", "the event has no type"))?;
    let payload =
        std::str::from_utf8(body).map_err(|_| ApiError::invalid("body", "is not UTF-8"))?;
    match inbox::insert(
        &state.db, &tenant_id, pair_id, event_id, event_type, payload,
    )
    .await?
    {
        Inserted::New(inbox_id) => {
            // The row is committed: from here a lost push only delays the work,
            // the reconciler pushes it again.
            if let Err(e) = state.queue.push(&inbox_id).await {
                tracing::warn!(error = %e, inbox_id = %inbox_id, "queue push failed; the reconciler will retry");
            }
            tracing::info!(
                tenant_id = %tenant_id,
                pair_id = %pair_id,
                event_id,
                event_type,
                inbox_id = %inbox_id,
                "webhook accepted"
            );
            Ok((
                StatusCode::OK,
                Json(json!({"received": true, "duplicate": false})),
            ))
        }
        Inserted::Duplicate => Ok((
            StatusCode::OK,
            Json(json!({"received": true, "duplicate": true})),
        )),
    }
}
