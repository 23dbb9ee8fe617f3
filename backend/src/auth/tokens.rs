//! API tokens: per tenant, stored hashed, shown once, revocable.

use serde::Serialize;

use crate::audit::{self, Actor};
use crate::auth::token_hash;
use crate::db::now_ms;
use crate::ids::new_id;
use crate::sandbox::random_token;

pub const PREFIX: &str = "cct_";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// The first characters, so a user can tell tokens apart.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Creates a token and returns (id, the token itself). The token is not stored.
pub async fn create(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    user_id: &str,
    name: &str,
) -> Result<(String, String), sqlx::Error> {
    let token = random_token(PREFIX);
    let id = new_id("tok");
    sqlx::query(
        "INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, prefix, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(user_id)
    .bind(name)
    .bind(token_hash(&token))
    .bind(&token[..PREFIX.len() + 6])
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok((id, token))
}

pub async fn list(db: &crate::db::Db, tenant_id: &str) -> Result<Vec<TokenInfo>, sqlx::Error> {
    type Row = (String, String, String, i64, Option<i64>, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens \
         WHERE tenant_id = $1 ORDER BY created_at DESC",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, prefix, created_at, last_used_at, revoked_at)| TokenInfo {
                id,
                name,
                prefix,
                created_at,
                last_used_at,
                revoked_at,
            },
        )
        .collect())
}

/// Revokes a token of this tenant; false when there is no such token.
pub async fn revoke(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(tenant_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates a token and its audit row in one transaction; returns (id, token).
pub async fn issue(
    db: &crate::db::Db,
    tenant_id: &str,
    user_id: &str,
    actor: &Actor<'_>,
    name: &str,
) -> Result<(String, String), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let (id, token) = create(&mut tx, tenant_id, user_id, name).await?;
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "token.created",
        Some(&id),
        Some(name),
    )
    .await?;
    tx.commit().await?;
    Ok((id, token))
}

/// Revokes a token and records who did, in one transaction; false when the
/// tenant has no such live token.
pub async fn revoke_recorded(
    db: &crate::db::Db,
    tenant_id: &str,
    actor: &Actor<'_>,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if !revoke(&mut tx, tenant_id, id).await? {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "token.revoked",
        Some(id),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A token's label: 1 to 100 characters.
pub fn parse_name(name: Option<&str>) -> Result<String, &'static str> {
    let name = name.map(str::trim).unwrap_or("API token");
    if name.chars().any(char::is_control) {
        return Err(crate::error::CONTROL_CHARACTERS);
    }
    match name.chars().count() {
        0 => Err("must not be empty"),
        1..=100 => Ok(name.to_owned()),
        _ => Err("must be at most 100 characters"),
    }
}
