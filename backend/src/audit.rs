//! The audit log: who changed what, when, in which tenant. Rows are written on
//! the same connection (transaction) as the change they record.

use crate::db::now_ms;
use crate::ids::new_id;

pub struct Actor<'a> {
    pub id: Option<&'a str>,
    pub email: Option<&'a str>,
}

impl<'a> Actor<'a> {
    pub fn user(id: &'a str, email: &'a str) -> Self {
        Self {
            id: Some(id),
            email: Some(email),
        }
    }

    pub fn system() -> Self {
        Self {
            id: None,
            email: None,
        }
    }
}

pub async fn record(
    conn: &mut sqlx::AnyConnection,
    tenant_id: Option<&str>,
    actor: &Actor<'_>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor_id, actor_email, action, target, detail, at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(new_id("aud"))
    .bind(tenant_id)
    .bind(actor.id)
    .bind(actor.email)
    .bind(action)
    .bind(target)
    .bind(detail)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub tenant_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub at: i64,
}

/// Newest first; `tenant_id = None` lists every tenant's (operators only).
pub async fn list(
    db: &crate::db::Db,
    tenant_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = match tenant_id {
        Some(t) => {
            sqlx::query_as(
                "SELECT id, tenant_id, actor_email, action, target, detail, at FROM audit_log \
             WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            )
            .bind(t)
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT id, tenant_id, actor_email, action, target, detail, at FROM audit_log \
             ORDER BY at DESC, id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(
            |(id, tenant_id, actor_email, action, target, detail, at)| AuditEntry {
                id,
                tenant_id,
                actor_email,
                action,
                target,
                detail,
                at,
            },
        )
        .collect())
}
