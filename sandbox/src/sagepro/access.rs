//! Who may call (spec §1): `X-API-Key` with scopes, the company header, and
//! the company's write lock (one write at a time, as a desktop Sage Pro
//! allows) with the optional cap on concurrent requests.

use std::collections::HashSet;
use std::sync::LazyLock;

use parking_lot::Mutex;

use axum::http::{HeaderMap, StatusCode};
use sha2::Digest;
use subtle::ConstantTimeEq;

use super::{COMPANY, SpError, SpResult};
use connect_store::{Db, now_ms};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    Read,
    Write,
    /// `SalesOrderNo` sent on `POST /orders` is kept instead of assigned.
    AssignNumbers,
}

impl KeyScope {
    fn as_str(self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Write => "write",
            KeyScope::AssignNumbers => "assign-numbers",
        }
    }
}

/// The authenticated caller, handed to handlers as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The hash of the key: what idempotency keys are scoped by (spec §6),
    /// so two clients of one company cannot replay each other's answers.
    pub key_id: String,
    pub write: bool,
    pub assign_numbers: bool,
}

/// Issues another key for the pair's company with `scopes` (the sandbox's own
/// key has read and write). Only the hash is stored; the key is shown once.
pub async fn issue_api_key(
    db: &Db,
    pair_id: &str,
    scopes: &[KeyScope],
) -> Result<String, sqlx::Error> {
    let key = crate::random_token("sp_test_");
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "INSERT INTO sim_sagepro_api_keys (key_hash, pair_id, scopes, created_at) VALUES ($1,$2,$3,$4)",
    )
    .bind(hash(&key))
    .bind(pair_id)
    .bind(scopes.join(" "))
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(key)
}

fn hash(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.trim().as_bytes()))
}

fn unauthorized() -> SpError {
    SpError::new(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "Missing or invalid X-API-Key",
    )
}

pub(crate) fn forbidden(scope: KeyScope) -> SpError {
    SpError::new(
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        format!("This API key lacks the '{}' scope", scope.as_str()),
    )
    .detail("X-API-Key", format!("'{}' scope required", scope.as_str()))
}

/// `401` for a missing or unknown key; the company header must name the
/// sandbox's one company.
pub(crate) async fn authenticate(
    db: &Db,
    pair_id: &str,
    headers: &HeaderMap,
) -> SpResult<Principal> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let creds = crate::SandboxCredentials::load(db, pair_id)
        .await?
        .ok_or_else(unauthorized)?;
    let key_id = hash(key);
    let a = sha2::Sha256::digest(key.trim().as_bytes());
    let b = sha2::Sha256::digest(creds.sagepro_api_key.as_bytes());
    let principal = if bool::from(a.as_slice().ct_eq(b.as_slice())) {
        Principal {
            key_id,
            write: true,
            assign_numbers: false,
        }
    } else {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT scopes FROM sim_sagepro_api_keys WHERE key_hash = $1 AND pair_id = $2",
        )
        .bind(&key_id)
        .bind(pair_id)
        .fetch_optional(db.pool())
        .await?;
        let (scopes,) = row.ok_or_else(unauthorized)?;
        let has = |s: KeyScope| scopes.split(' ').any(|x| x == s.as_str());
        if !has(KeyScope::Read) && !has(KeyScope::Write) {
            return Err(unauthorized());
        }
        Principal {
            key_id,
            write: has(KeyScope::Write),
            assign_numbers: has(KeyScope::AssignNumbers),
        }
    };
    if let Some(company) = headers.get("x-sagepro-company") {
        let company = company.to_str().unwrap_or("").trim();
        if company != COMPANY {
            return Err(SpError::not_found(format!(
                "Company '{company}' does not exist"
            )));
        }
    }
    Ok(principal)
}

/// Companies with a write in progress, in this process (the simulator's
/// agent is one process, like the one agent beside a Sage Pro install).
static WRITING: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

/// The company's write lock, released when dropped.
pub(crate) struct WriteLock(String);

impl WriteLock {
    /// `None` when another write of the company is in progress.
    pub(crate) fn try_take(pair_id: &str) -> Option<Self> {
        let mut writing = WRITING.lock();
        writing
            .insert(pair_id.to_owned())
            .then(|| WriteLock(pair_id.to_owned()))
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        WRITING.lock().remove(&self.0);
    }
}
