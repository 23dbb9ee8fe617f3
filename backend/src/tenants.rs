//! Tenants and their users: sign-up, sign-in, operators, suspension.

use crate::audit::{self, Actor};
use crate::auth::{Role, password};
use crate::db::{Db, is_unique_violation, now_ms};
use crate::ids::new_id;
use crate::vault::Vault;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("email or password is wrong")]
    BadCredentials,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Internal(e.into())
    }
}

/// A sign-up request that has been checked.
#[derive(Debug)]
pub struct SignUp {
    pub company: String,
    pub email: String,
    pub password: String,
}

impl SignUp {
    pub fn parse(company: &str, email: &str, password: &str) -> Result<Self, AccountError> {
        let company = company.trim();
        if company.is_empty() {
            return Err(AccountError::Invalid {
                field: "company",
                message: "is required".into(),
            });
        }
        if company.chars().any(char::is_control) {
            return Err(AccountError::Invalid {
                field: "company",
                message: crate::error::CONTROL_CHARACTERS.into(),
            });
        }
        if company.chars().count() > 120 {
            return Err(AccountError::Invalid {
                field: "company",
                message: "must be at most 120 characters".into(),
            });
        }
        let email = parse_email(email)?;
        password::check_strength(password).map_err(|message| AccountError::Invalid {
            field: "password",
            message,
        })?;
        Ok(Self {
            company: company.to_owned(),
            email,
            password: password.to_owned(),
        })
    }
}

pub fn parse_email(raw: &str) -> Result<String, AccountError> {
    let email = raw.trim();
    if email.chars().any(char::is_control) {
        return Err(AccountError::Invalid {
            field: "email",
            message: crate::error::CONTROL_CHARACTERS.into(),
        });
    }
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        });
    if valid {
        Ok(email.to_owned())
    } else {
        Err(AccountError::Invalid {
            field: "email",
            message: "is not a valid email address".into(),
        })
    }
}

pub struct Created {
    pub tenant_id: String,
    pub user_id: String,
}

/// Creates the tenant (on Trial), its owner, and its data key, in one transaction.
pub async fn sign_up(db: &Db, vault: &Vault, input: SignUp) -> Result<Created, AccountError> {
    let hash = password::hash(input.password).await?;
    let tenant_id = new_id("tnt");
    let user_id = new_id("usr");
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO tenants (id, name, plan_id, status, created_at) VALUES ($1,$2,'trial','active',$3)")
        .bind(&tenant_id)
        .bind(&input.company)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_lower, password_hash, role, created_at) \
         VALUES ($1,$2,$3,$4,$5,'owner',$6)",
    )
    .bind(&user_id)
    .bind(&tenant_id)
    .bind(&input.email)
    .bind(input.email.to_lowercase())
    .bind(&hash)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(AccountError::EmailTaken),
        other => {
            other?;
        }
    }
    let trial = crate::billing::plans::get(db, "trial")
        .await?
        .ok_or_else(|| AccountError::Internal(anyhow::anyhow!("the trial plan is missing")))?;
    crate::billing::subscription::start(&mut tx, &tenant_id, &trial, now).await?;
    vault
        .create_data_key(&mut tx, &tenant_id)
        .await
        .map_err(|e| AccountError::Internal(e.into()))?;
    audit::record(
        &mut tx,
        Some(&tenant_id),
        &Actor::user(&user_id, &input.email),
        "tenant.created",
        Some(&tenant_id),
        Some(&format!("company {} on plan trial", input.company)),
    )
    .await?;
    tx.commit().await?;
    Ok(Created { tenant_id, user_id })
}

pub struct Authenticated {
    pub user_id: String,
    pub tenant_id: Option<String>,
    pub email: String,
    pub role: Role,
}

/// Checks email and password. Takes the same time whether or not the account exists.
pub async fn authenticate(db: &Db, email: &str, pw: &str) -> Result<Authenticated, AccountError> {
    let row: Option<(String, Option<String>, String, String, String)> = sqlx::query_as(
        "SELECT id, tenant_id, email, role, password_hash FROM users WHERE email_lower = $1",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(db.pool())
    .await?;
    let hash = row
        .as_ref()
        .map_or_else(|| password::dummy_hash().to_owned(), |r| r.4.clone());
    let ok = password::verify(pw.to_owned(), hash).await;
    match row {
        Some((user_id, tenant_id, email, role, _)) if ok => Ok(Authenticated {
            user_id,
            tenant_id,
            email,
            role: Role::parse(&role).unwrap_or(Role::ReadOnly),
        }),
        _ => Err(AccountError::BadCredentials),
    }
}

pub async fn create_operator(db: &Db, email: &str, pw: &str) -> Result<String, AccountError> {
    let email = parse_email(email)?;
    password::check_strength(pw).map_err(|message| AccountError::Invalid {
        field: "password",
        message,
    })?;
    let hash = password::hash(pw.to_owned()).await?;
    let id = new_id("usr");
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_lower, password_hash, role, created_at) \
         VALUES ($1, NULL, $2, $3, $4, 'operator', $5)",
    )
    .bind(&id)
    .bind(&email)
    .bind(email.to_lowercase())
    .bind(hash)
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(AccountError::EmailTaken),
        other => {
            other?;
        }
    }
    audit::record(
        &mut tx,
        None,
        &Actor::system(),
        "operator.created",
        Some(&id),
        Some(&email),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn exists(db: &Db, tenant_id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// Suspends or resumes a tenant; false when there is no such tenant.
pub async fn set_status(
    db: &Db,
    operator: &Actor<'_>,
    tenant_id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE tenants SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        Some(tenant_id),
        operator,
        &format!("tenant.{status}"),
        Some(tenant_id),
        reason.map(|r| format!("reason: {r}")).as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_up_names_the_bad_field() {
        let e = SignUp::parse("", "a@b.co", "long enough pw").unwrap_err();
        assert!(matches!(
            e,
            AccountError::Invalid {
                field: "company",
                ..
            }
        ));
        let e = SignUp::parse("Acme", "not-an-email", "long enough pw").unwrap_err();
        assert!(matches!(e, AccountError::Invalid { field: "email", .. }));
        let e = SignUp::parse("Acme", "a@b.co", "short").unwrap_err();
        assert!(matches!(
            e,
            AccountError::Invalid {
                field: "password",
                ..
            }
        ));
        assert!(SignUp::parse(" Acme ", " a@b.co ", "long enough pw").is_ok());
    }
}
