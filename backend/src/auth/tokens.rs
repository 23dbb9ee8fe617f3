//! API tokens: per tenant, stored hashed, shown once, revocable, optionally
//! expiring. Every request reads its token's row (no cache), so a revoked or
//! expired token is refused at once by every process; the last-used time is
//! written at most once a [`LAST_USED_EVERY_MS`] per token, so a busy
//! script does not turn each of its reads into a write.

use serde::Serialize;

use super::random_token;
use crate::audit::{self, Actor};
use crate::auth::token_hash;
use crate::db::now_ms;
use crate::ids::new_id;

pub const PREFIX: &str = "cct_";
/// How stale `last_used_at` may get before a use writes it again.
pub const LAST_USED_EVERY_MS: i64 = 60_000;
/// The longest expiry a token may be given.
pub const MAX_EXPIRY_DAYS: i64 = 3650;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// The first characters, so a user can tell tokens apart.
    pub prefix: String,
    pub created_at: i64,
    /// Last use, to the minute (writes are spaced [`LAST_USED_EVERY_MS`] apart).
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// When the token stops working (epoch ms); `null` when it never expires.
    pub expires_at: Option<i64>,
}

/// Creates a token and returns (id, the token itself). The token is not stored.
pub async fn create(
    conn: &mut sqlx::AnyConnection,
    tenant_id: Option<&str>,
    user_id: &str,
    name: &str,
    expires_at: Option<i64>,
) -> Result<(String, String), sqlx::Error> {
    let token = random_token(PREFIX);
    let id = new_id("tok");
    sqlx::query(
        "INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, prefix, created_at, expires_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(user_id)
    .bind(name)
    .bind(token_hash(&token))
    .bind(&token[..PREFIX.len() + 6])
    .bind(now_ms())
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok((id, token))
}

pub async fn list(db: &crate::db::Db, tenant_id: &str) -> Result<Vec<TokenInfo>, sqlx::Error> {
    type Row = (
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at, expires_at FROM api_tokens \
         WHERE tenant_id = $1 ORDER BY created_at DESC",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, prefix, created_at, last_used_at, revoked_at, expires_at)| TokenInfo {
                id,
                name,
                prefix,
                created_at,
                last_used_at,
                revoked_at,
                expires_at,
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
/// A new token for a tenant's user, or for an operator (no tenant).
pub async fn issue(
    db: &crate::db::Db,
    tenant_id: Option<&str>,
    user_id: &str,
    actor: &Actor<'_>,
    name: &str,
    expires_at: Option<i64>,
) -> Result<(String, String), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let (id, token) = create(&mut tx, tenant_id, user_id, name, expires_at).await?;
    audit::record(
        &mut tx,
        tenant_id,
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

/// A token's lifetime in whole days, 1 to [`MAX_EXPIRY_DAYS`]; `None` (or a
/// blank form field) never expires. Returns the expiry time (epoch ms).
pub fn parse_expiry(days: Option<i64>, now: i64) -> Result<Option<i64>, String> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => Ok(Some(now + d * DAY_MS)),
        Some(d) => Err(format!(
            "must be between 1 and {MAX_EXPIRY_DAYS} days (got {d}); leave it out for a token that does not expire"
        )),
    }
}

/// Whether a use at `now` should write `last_used_at`.
pub fn last_used_is_stale(last_used_at: Option<i64>, now: i64) -> bool {
    last_used_at.is_none_or(|at| now - at >= LAST_USED_EVERY_MS)
}

/// Records a use of the token, unless one was recorded within the last
/// minute; the condition is repeated in SQL so concurrent uses write once.
pub async fn touch(db: &crate::db::Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
         AND (last_used_at IS NULL OR last_used_at <= $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - LAST_USED_EVERY_MS)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// An instant as a person reads it in an error message (RFC 3339, UTC).
pub fn instant(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_is_whole_days_within_ten_years_or_none() {
        assert_eq!(parse_expiry(None, 1_000), Ok(None));
        assert_eq!(parse_expiry(Some(1), 1_000), Ok(Some(1_000 + DAY_MS)));
        assert!(parse_expiry(Some(0), 1_000).is_err());
        assert!(parse_expiry(Some(-5), 1_000).is_err());
        assert!(parse_expiry(Some(MAX_EXPIRY_DAYS + 1), 1_000).is_err());
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        assert!(last_used_is_stale(None, 100_000));
        assert!(!last_used_is_stale(Some(100_000 - 59_999), 100_000));
        assert!(last_used_is_stale(Some(100_000 - 60_000), 100_000));
    }

    #[test]
    fn instants_read_as_utc_dates() {
        assert_eq!(instant(0), "1970-01-01T00:00:00Z");
    }
}
