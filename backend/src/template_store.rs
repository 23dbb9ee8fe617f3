//! Where a pair's mapping templates are first written: a new pair gets the
//! pre-built template of every flow as its version 1, in the transaction that
//! creates the pair. Kept apart from [`crate::templates`] (reading, saving and
//! checking versions), which needs the pairs module, so that creating a pair
//! needs nothing above the database.

use connect_jobs::mapping::FLOWS;
use connect_jobs::mapping::builtin_template;

use crate::db::now_ms;
use crate::ids::{PairId, TenantId};

/// Copies the pre-built templates for the pair's ERP into the pair (version 1).
pub async fn install_builtin(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &TenantId,
    pair_id: &PairId,
    erp: &str,
    author: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for flow in FLOWS {
        let Some(doc) = builtin_template(flow, erp) else {
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
        // Orders run from the start; the tenant turns the other flows on.
        sqlx::query(
            "INSERT INTO pair_flows (pair_id, tenant_id, flow, pinned_version, updated_at, enabled) \
             VALUES ($1,$2,$3,1,$4,$5)",
        )
        .bind(pair_id)
        .bind(tenant_id)
        .bind(flow)
        .bind(now)
        .bind(i64::from(flow == "orders"))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The version of a flow's template a pair runs, and its document as
/// stored; `None` when the pair has no template for the flow.
/// The newest saved version of the pair's `flow` template written for
/// `direction` (customers run both ways: the pinned version serves its own
/// direction, and the newest saved version of the other direction serves
/// that one). Versions are scanned newest first; documents are small.
pub async fn latest_for_direction(
    db: &crate::db::Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
    direction: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, document FROM templates WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 \
         ORDER BY version DESC LIMIT 200",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().find(|(_, doc)| {
        serde_json::from_str::<serde_json::Value>(doc)
            .ok()
            .and_then(|d| {
                d.get("direction")
                    .and_then(|v| v.as_str())
                    .map(|v| v == direction)
            })
            .unwrap_or(false)
    }))
}

pub async fn pinned(
    db: &crate::db::Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.version, t.document FROM pair_flows f \
         JOIN templates t ON t.pair_id = f.pair_id AND t.flow = f.flow AND t.version = f.pinned_version \
         WHERE f.tenant_id = $1 AND f.pair_id = $2 AND f.flow = $3",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .fetch_optional(db.pool())
    .await
}
