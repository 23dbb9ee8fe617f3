//! Login throttling per account and per client address, kept in the database so
//! that every web process sees the same counts.

use crate::db::{Db, now_ms};

pub const WINDOW_MS: i64 = 15 * 60 * 1000;
pub const MAX_PER_ACCOUNT: i64 = 5;
pub const MAX_PER_ADDRESS: i64 = 30;

/// Seconds until the caller may try again, or `None` when allowed.
pub async fn check(db: &Db, email_lower: &str, address: &str) -> Result<Option<u64>, sqlx::Error> {
    let since = now_ms() - WINDOW_MS;
    for (subject, max) in [
        (format!("account:{email_lower}"), MAX_PER_ACCOUNT),
        (format!("address:{address}"), MAX_PER_ADDRESS),
    ] {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM login_attempts WHERE subject = $1 AND at > $2",
        )
        .bind(&subject)
        .bind(since)
        .fetch_one(db.pool())
        .await?;
        if count >= max {
            let wait_ms = oldest.unwrap_or(since) + WINDOW_MS - now_ms();
            return Ok(Some((wait_ms.max(1000) / 1000) as u64));
        }
    }
    Ok(None)
}

pub async fn record_failure(db: &Db, email_lower: &str, address: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for subject in [
        format!("account:{email_lower}"),
        format!("address:{address}"),
    ] {
        sqlx::query("INSERT INTO login_attempts (subject, at) VALUES ($1, $2)")
            .bind(subject)
            .bind(now)
            .execute(db.pool())
            .await?;
    }
    // Old rows are of no use; trim them while we are here.
    sqlx::query("DELETE FROM login_attempts WHERE at < $1")
        .bind(now - WINDOW_MS)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A successful sign-in clears the account's failures (not the address's).
pub async fn clear_account(db: &Db, email_lower: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_attempts WHERE subject = $1")
        .bind(format!("account:{email_lower}"))
        .execute(db.pool())
        .await?;
    Ok(())
}
