//! Browser sessions: a random id in an HttpOnly, SameSite=Lax cookie (Secure
//! behind TLS), stored hashed with its CSRF token and expiry.

use super::random_token;
use crate::auth::token_hash;
use crate::db::{Db, now_ms};

pub const COOKIE: &str = "cc_session";
pub const LIFETIME_MS: i64 = 12 * 60 * 60 * 1000;

pub struct NewSession {
    pub id: String,
    pub csrf: String,
}

pub async fn create(db: &Db, user_id: &str) -> Result<NewSession, sqlx::Error> {
    let id = random_token("s_");
    let csrf = random_token("");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at, created_at) VALUES ($1,$2,$3,$4,$5)",
    )
    .bind(token_hash(&id))
    .bind(user_id)
    .bind(&csrf)
    .bind(now + LIFETIME_MS)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(NewSession { id, csrf })
}

pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(token_hash(id))
        .execute(db.pool())
        .await?;
    Ok(())
}

pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        LIFETIME_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session id from a Cookie header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Constant-time comparison of a submitted CSRF token with the session's.
pub fn csrf_matches(sent: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty()
        && sent.len() == expected.len()
        && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_and_same_site() {
        let c = set_cookie("abc", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        assert!(set_cookie("abc", true).contains("; Secure"));
    }

    #[test]
    fn the_session_id_is_found_among_other_cookies() {
        assert_eq!(from_cookie_header("a=1; cc_session=xyz; b=2"), Some("xyz"));
        assert_eq!(from_cookie_header("a=1"), None);
    }
}
