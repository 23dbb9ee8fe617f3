//! A pair's mapping templates: versioned documents, one per flow. Every edit is
//! a new version (author, time); the pair pins one; restore pins an old one as
//! a new version, so history only grows.

use connect_jobs::mapping::{CompiledTemplate, builtin_template};
use serde::Serialize;
use serde_json::Value;

use crate::audit;
use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::pairs::{Erp, FLOWS};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateInfo {
    pub flow: String,
    pub version: i64,
    pub updated_at: i64,
    pub author: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateVersion {
    pub flow: String,
    pub version: i64,
    pub author: String,
    pub created_at: i64,
    #[schema(value_type = Object)]
    pub document: Value,
}

/// Copies the pre-built templates for the pair's ERP into the pair (version 1).
pub async fn install_builtin(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    pair_id: &str,
    erp: Erp,
    author: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for flow in FLOWS {
        let Some(doc) = builtin_template(flow, erp.as_str()) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO templates (pair_id, tenant_id, flow, version, document, author, created_at) \
             VALUES ($1,$2,$3,1,$4,$5,$6)",
        )
        .bind(pair_id)
        .bind(tenant_id)
        .bind(flow)
        .bind(doc)
        .bind(format!("built-in (copied by {author})"))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO pair_flows (pair_id, tenant_id, flow, pinned_version, updated_at) VALUES ($1,$2,$3,1,$4)",
        )
        .bind(pair_id)
        .bind(tenant_id)
        .bind(flow)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn list(
    state: &AppState,
    tenant_id: &str,
    pair_id: &str,
) -> Result<Vec<TemplateInfo>, ApiError> {
    crate::pairs::get(state, tenant_id, pair_id).await?;
    let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
        "SELECT f.flow, f.pinned_version, t.created_at, t.author FROM pair_flows f \
         JOIN templates t ON t.pair_id = f.pair_id AND t.flow = f.flow AND t.version = f.pinned_version \
         WHERE f.tenant_id = $1 AND f.pair_id = $2 ORDER BY f.flow",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_all(state.db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(flow, version, updated_at, author)| TemplateInfo {
            flow,
            version,
            updated_at,
            author,
        })
        .collect())
}

/// The pinned version of a flow's template.
pub async fn current(
    state: &AppState,
    tenant_id: &str,
    pair_id: &str,
    flow: &str,
) -> Result<TemplateVersion, ApiError> {
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT t.version, t.document, t.author, t.created_at FROM pair_flows f \
         JOIN templates t ON t.pair_id = f.pair_id AND t.flow = f.flow AND t.version = f.pinned_version \
         WHERE f.tenant_id = $1 AND f.pair_id = $2 AND f.flow = $3",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .fetch_optional(state.db.pool())
    .await?;
    let (version, doc, author, created_at) = row.ok_or(ApiError::NotFound("template"))?;
    Ok(TemplateVersion {
        flow: flow.to_owned(),
        version,
        author,
        created_at,
        document: serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.into()))?,
    })
}

pub async fn versions(
    state: &AppState,
    tenant_id: &str,
    pair_id: &str,
    flow: &str,
) -> Result<Vec<TemplateInfo>, ApiError> {
    crate::pairs::get(state, tenant_id, pair_id).await?;
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT version, created_at, author FROM templates WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 \
         ORDER BY version DESC",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .fetch_all(state.db.pool())
    .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("template"));
    }
    Ok(rows
        .into_iter()
        .map(|(version, updated_at, author)| TemplateInfo {
            flow: flow.to_owned(),
            version,
            updated_at,
            author,
        })
        .collect())
}

/// Saves a new version after compiling it; a template that does not compile is refused.
pub async fn save(
    state: &AppState,
    who: &Principal,
    pair_id: &str,
    flow: &str,
    document: Value,
    action: &str,
) -> Result<TemplateInfo, ApiError> {
    who.require_manager()?;
    crate::pairs::get(state, &who.tenant_id, pair_id).await?;
    if !FLOWS.contains(&flow) {
        return Err(ApiError::NotFound("flow"));
    }
    CompiledTemplate::compile(&document).map_err(|e| ApiError::BadRequest {
        code: "invalid_template",
        message: format!("rule {} ({}): {}", e.rule, e.target, e.message),
        field: Some(format!("rules[{}]", e.rule)),
    })?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (next,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM templates WHERE pair_id = $1 AND flow = $2",
    )
    .bind(pair_id)
    .bind(flow)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO templates (pair_id, tenant_id, flow, version, document, author, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(pair_id)
    .bind(&who.tenant_id)
    .bind(flow)
    .bind(next)
    .bind(document.to_string())
    .bind(&who.email)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO pair_flows (pair_id, tenant_id, flow, pinned_version, updated_at) VALUES ($1,$2,$3,$4,$5) \
         ON CONFLICT (pair_id, flow) DO UPDATE SET pinned_version = excluded.pinned_version, updated_at = excluded.updated_at",
    )
    .bind(pair_id)
    .bind(&who.tenant_id)
    .bind(flow)
    .bind(next)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Some(&who.tenant_id),
        &who.actor(),
        action,
        Some(&format!("{pair_id}/{flow}")),
        Some(&format!("version {next}")),
    )
    .await?;
    tx.commit().await?;
    Ok(TemplateInfo {
        flow: flow.to_owned(),
        version: next,
        updated_at: now,
        author: who.email.clone(),
    })
}

pub async fn restore(
    state: &AppState,
    who: &Principal,
    pair_id: &str,
    flow: &str,
    version: i64,
) -> Result<TemplateInfo, ApiError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT document FROM templates WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 AND version = $4",
    )
    .bind(&who.tenant_id)
    .bind(pair_id)
    .bind(flow)
    .bind(version)
    .fetch_optional(state.db.pool())
    .await?;
    let (doc,) = row.ok_or(ApiError::NotFound("template version"))?;
    let doc: Value = serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.into()))?;
    save(state, who, pair_id, flow, doc, "template.restored").await
}

/// One stored version of a flow's template, pinned or not.
pub async fn at_version(
    state: &AppState,
    tenant_id: &str,
    pair_id: &str,
    flow: &str,
    version: i64,
) -> Result<Option<TemplateVersion>, ApiError> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT document, author, created_at FROM templates \
         WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 AND version = $4",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .bind(version)
    .fetch_optional(state.db.pool())
    .await?;
    row.map(|(doc, author, created_at)| {
        Ok(TemplateVersion {
            flow: flow.to_owned(),
            version,
            author,
            created_at,
            document: serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.into()))?,
        })
    })
    .transpose()
}
