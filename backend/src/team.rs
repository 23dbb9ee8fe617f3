//! A tenant's team: invitations by e-mail, roles, removal, ownership handed
//! on, password resets and changes. Links in mail carry a random 192-bit
//! token; only its SHA-256 is stored, so a database dump opens nothing, and
//! each token expires and works once.

use serde::Serialize;

use crate::audit::{self, Actor};
use crate::auth::{Role, password, random_token, token_hash};
use crate::billing::{Counted, PlanLimit, enforce};
use crate::db::{Db, is_unique_violation, now_ms};
use crate::ids::new_id;

/// How long an invitation link works.
pub const INVITE_TTL_MS: i64 = 7 * 86_400_000;
/// How long a password-reset link works.
pub const RESET_TTL_MS: i64 = 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Plan(#[from] PlanLimit),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for TeamError {
    fn from(e: sqlx::Error) -> Self {
        TeamError::Internal(e.into())
    }
}

/// Who acts on the team, and with which role.
pub struct Acting<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub role: Role,
}

impl Acting<'_> {
    pub fn actor(&self) -> Actor<'_> {
        Actor::user(self.user_id, self.email)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invite {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A role named in a request, for a team member.
pub fn parse_role(raw: &str) -> Result<Role, TeamError> {
    Role::parse(raw.trim())
        .filter(|r| Role::TEAM.contains(r))
        .ok_or_else(|| TeamError::Invalid {
            field: "role",
            message: format!("'{raw}' is not a role: use owner, admin, member or read_only"),
        })
}

pub async fn members(db: &Db, tenant_id: &str) -> Result<Vec<Member>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, email, role, created_at FROM users WHERE tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, email, role, created_at)| Member {
            id,
            email,
            role: Role::parse(&role).unwrap_or(Role::ReadOnly),
            created_at,
        })
        .collect())
}

/// Invitations not yet taken up, not withdrawn and not expired.
pub async fn pending_invites(db: &Db, tenant_id: &str) -> Result<Vec<Invite>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, email, role, created_at, expires_at FROM invites WHERE tenant_id = $1 \
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at",
    )
    .bind(tenant_id)
    .bind(now_ms())
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, email, role, created_at, expires_at)| Invite {
            id,
            email,
            role: Role::parse(&role).unwrap_or(Role::ReadOnly),
            created_at,
            expires_at,
        })
        .collect())
}

pub fn may_manage_team(by: &Acting<'_>) -> Result<(), TeamError> {
    if by.role.can_manage() {
        Ok(())
    } else {
        Err(TeamError::Forbidden(
            "only the owner and admins manage the team".into(),
        ))
    }
}

/// Invites `email` to the tenant as `role`; returns the invitation and the
/// token for its link (shown nowhere else: it goes in the mail).
pub async fn invite(
    db: &Db,
    tenant_id: &str,
    by: &Acting<'_>,
    email: &str,
    role: Role,
) -> Result<(Invite, String), TeamError> {
    may_manage_team(by)?;
    if role == Role::Owner {
        return Err(TeamError::Invalid {
            field: "role",
            message: "invite as admin, then hand ownership on from the team page".into(),
        });
    }
    let email = crate::tenants::parse_email(email).map_err(|e| match e {
        crate::tenants::AccountError::Invalid { field, message } => {
            TeamError::Invalid { field, message }
        }
        other => TeamError::Internal(other.into()),
    })?;
    let lower = email.to_lowercase();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE email_lower = $1")
        .bind(&lower)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(TeamError::Conflict {
            field: "email",
            message: format!("{email} already has an account"),
        });
    }
    // A new invitation to the same address replaces the open one.
    sqlx::query(
        "UPDATE invites SET revoked_at = $3 WHERE tenant_id = $1 AND email_lower = $2 \
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(&lower)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    enforce::check(db, &mut tx, tenant_id, Counted::Users, None).await??;
    let id = new_id("inv");
    let token = random_token("inv_");
    let expires_at = now + INVITE_TTL_MS;
    sqlx::query(
        "INSERT INTO invites (id, tenant_id, email, email_lower, role, token_hash, invited_by, \
         created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(&email)
    .bind(&lower)
    .bind(role.as_str())
    .bind(token_hash(&token))
    .bind(by.user_id)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Some(tenant_id),
        &by.actor(),
        "user.invited",
        Some(&id),
        Some(&format!("{email} as {}", role.as_str())),
    )
    .await?;
    tx.commit().await?;
    Ok((
        Invite {
            id,
            email,
            role,
            created_at: now,
            expires_at,
        },
        token,
    ))
}

/// A new link for an open (or expired, not taken up) invitation: a new
/// token and a new expiry; the old link stops working. By the team's
/// managers (checked by the caller) or by an operator.
pub async fn reissue(
    db: &Db,
    tenant_id: &str,
    actor: &Actor<'_>,
    invite_id: &str,
) -> Result<(Invite, String), TeamError> {
    let token = random_token("inv_");
    let now = now_ms();
    let expires_at = now + INVITE_TTL_MS;
    let mut tx = db.begin_write().await?;
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "UPDATE invites SET token_hash = $3, expires_at = $4 WHERE tenant_id = $1 AND id = $2 \
         AND accepted_at IS NULL AND revoked_at IS NULL RETURNING email, role, created_at",
    )
    .bind(tenant_id)
    .bind(invite_id)
    .bind(token_hash(&token))
    .bind(expires_at)
    .fetch_optional(&mut *tx)
    .await?;
    let (email, role, created_at) = row.ok_or(TeamError::NotFound("invitation"))?;
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "user.invite_resent",
        Some(invite_id),
        Some(&email),
    )
    .await?;
    tx.commit().await?;
    Ok((
        Invite {
            id: invite_id.to_owned(),
            email,
            role: Role::parse(&role).unwrap_or(Role::ReadOnly),
            created_at,
            expires_at,
        },
        token,
    ))
}

/// Withdraws an open invitation.
pub async fn withdraw_invite(
    db: &Db,
    tenant_id: &str,
    by: &Acting<'_>,
    invite_id: &str,
) -> Result<(), TeamError> {
    may_manage_team(by)?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE invites SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 \
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(invite_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(TeamError::NotFound("invitation"));
    }
    audit::record(
        &mut tx,
        Some(tenant_id),
        &by.actor(),
        "user.invite_withdrawn",
        Some(invite_id),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The account an accepted invitation made.
pub struct Joined {
    pub user_id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: Role,
}

const TOKEN_USED: &str =
    "this link is not valid: it may have expired or been used already; ask for a new one";

/// Takes up an invitation: the new user, with the password they chose.
pub async fn accept(db: &Db, token: &str, pw: &str) -> Result<Joined, TeamError> {
    password::check_strength(pw).map_err(|message| TeamError::Invalid {
        field: "password",
        message,
    })?;
    let hash = password::hash(pw.to_owned()).await?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    // Claimed in one statement: two accepts of one link cannot both win.
    let claimed: Option<(String, String, String, String)> = sqlx::query_as(
        "UPDATE invites SET accepted_at = $2 WHERE token_hash = $1 AND accepted_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $2 RETURNING id, tenant_id, email, role",
    )
    .bind(token_hash(token.trim()))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((invite_id, tenant_id, email, role)) = claimed else {
        return Err(TeamError::Invalid {
            field: "token",
            message: TOKEN_USED.into(),
        });
    };
    let user_id = new_id("usr");
    let inserted = sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_lower, password_hash, role, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(&user_id)
    .bind(&tenant_id)
    .bind(&email)
    .bind(email.to_lowercase())
    .bind(&hash)
    .bind(&role)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(TeamError::Conflict {
                field: "token",
                message: format!("{email} already has an account; sign in instead"),
            });
        }
        other => {
            other?;
        }
    }
    audit::record(
        &mut tx,
        Some(&tenant_id),
        &Actor::user(&user_id, &email),
        "user.joined",
        Some(&invite_id),
        Some(&format!("{email} as {role}")),
    )
    .await?;
    tx.commit().await?;
    Ok(Joined {
        user_id,
        tenant_id,
        email,
        role: Role::parse(&role).unwrap_or(Role::ReadOnly),
    })
}

async fn member(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<(String, Role), TeamError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT email, role FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    let (email, role) = row.ok_or(TeamError::NotFound("user"))?;
    Ok((email, Role::parse(&role).unwrap_or(Role::ReadOnly)))
}

/// Sets a member's role. Making someone owner hands ownership on: only the
/// owner can, and they become an admin. An admin cannot change the owner.
pub async fn set_role(
    db: &Db,
    tenant_id: &str,
    by: &Acting<'_>,
    user_id: &str,
    role: &str,
) -> Result<Member, TeamError> {
    may_manage_team(by)?;
    let mut tx = db.begin_write().await?;
    let (email, current) = member(&mut tx, tenant_id, user_id).await?;
    let role = parse_role(role)?;
    if current == Role::Owner && role != Role::Owner {
        return Err(TeamError::Conflict {
            field: "role",
            message: "the owner stays owner until they hand ownership on to someone else".into(),
        });
    }
    if role == Role::Owner && current != Role::Owner {
        if by.role != Role::Owner {
            return Err(TeamError::Forbidden(
                "only the owner hands ownership on".into(),
            ));
        }
        sqlx::query("UPDATE users SET role = 'admin' WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(by.user_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
    let action = if role == Role::Owner && current != Role::Owner {
        "user.ownership_transferred"
    } else {
        "user.role_changed"
    };
    audit::record(
        &mut tx,
        Some(tenant_id),
        &by.actor(),
        action,
        Some(user_id),
        Some(&format!(
            "{email}: {} → {}",
            current.as_str(),
            role.as_str()
        )),
    )
    .await?;
    tx.commit().await?;
    let created: (i64,) = sqlx::query_as("SELECT created_at FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(db.pool())
        .await?;
    Ok(Member {
        id: user_id.to_owned(),
        email,
        role,
        created_at: created.0,
    })
}

/// Removes a member: their sessions end and their API tokens stop working.
/// The owner cannot be removed (hand ownership on first).
pub async fn remove(
    db: &Db,
    tenant_id: &str,
    by: &Acting<'_>,
    user_id: &str,
) -> Result<(), TeamError> {
    may_manage_team(by)?;
    let mut tx = db.begin_write().await?;
    let (email, role) = member(&mut tx, tenant_id, user_id).await?;
    if role == Role::Owner {
        return Err(TeamError::Conflict {
            field: "id",
            message: "the owner cannot be removed; hand ownership on first".into(),
        });
    }
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM password_resets WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    // Tokens stay as rows for the audit trail, owned by nobody who can use them.
    sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    // The account itself is closed: its sign-in address is freed and its
    // password can never match.
    let closed = format!("removed+{user_id}@invalid");
    sqlx::query(
        "UPDATE users SET tenant_id = NULL, email_lower = $2, password_hash = '!', role = 'removed' \
         WHERE id = $1",
    )
    .bind(user_id)
    .bind(&closed)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Some(tenant_id),
        &by.actor(),
        "user.removed",
        Some(user_id),
        Some(&email),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A password reset asked for `email`: the token for the mail and the
/// user's tenant, or `None` when there is no such account (the caller
/// answers the same either way).
pub async fn request_reset(
    db: &Db,
    email: &str,
) -> Result<Option<(String, Option<String>, String)>, sqlx::Error> {
    let lower = email.trim().to_lowercase();
    let row: Option<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT id, tenant_id, email FROM users WHERE email_lower = $1 AND role <> 'removed'",
    )
    .bind(&lower)
    .fetch_optional(db.pool())
    .await?;
    let Some((user_id, tenant_id, email)) = row else {
        return Ok(None);
    };
    let token = random_token("rst_");
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    // One open reset per account: a new request replaces the old link.
    sqlx::query("DELETE FROM password_resets WHERE user_id = $1")
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4)",
    )
    .bind(token_hash(&token))
    .bind(&user_id)
    .bind(now)
    .bind(now + RESET_TTL_MS)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id.as_deref(),
        &Actor::user(&user_id, &email),
        "user.password_reset_requested",
        Some(&user_id),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Some((email, tenant_id, token)))
}

/// Sets a new password from a reset link; every session of the account ends.
pub async fn confirm_reset(db: &Db, token: &str, pw: &str) -> Result<(), TeamError> {
    password::check_strength(pw).map_err(|message| TeamError::Invalid {
        field: "password",
        message,
    })?;
    let hash = password::hash(pw.to_owned()).await?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let claimed: Option<(String,)> = sqlx::query_as(
        "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         AND expires_at > $2 RETURNING user_id",
    )
    .bind(token_hash(token.trim()))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id,)) = claimed else {
        return Err(TeamError::Invalid {
            field: "token",
            message: TOKEN_USED.into(),
        });
    };
    set_password(&mut tx, &user_id, &hash, "user.password_reset").await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the caller's password after checking the current one; every
/// other session of the account ends.
pub async fn change_password(
    db: &Db,
    user_id: &str,
    current: &str,
    new: &str,
) -> Result<(), TeamError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?;
    let stored = row.map(|(h,)| h).ok_or(TeamError::NotFound("user"))?;
    if !password::verify(current.to_owned(), stored).await {
        return Err(TeamError::Invalid {
            field: "current_password",
            message: "is not your current password".into(),
        });
    }
    password::check_strength(new).map_err(|message| TeamError::Invalid {
        field: "new_password",
        message,
    })?;
    let hash = password::hash(new.to_owned()).await?;
    let mut tx = db.begin_write().await?;
    set_password(&mut tx, user_id, &hash, "user.password_changed").await?;
    tx.commit().await?;
    Ok(())
}

async fn set_password(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    hash: &str,
    action: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let who: (Option<String>, String) =
        sqlx::query_as("SELECT tenant_id, email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    audit::record(
        conn,
        who.0.as_deref(),
        &Actor::user(user_id, &who.1),
        action,
        Some(user_id),
        None,
    )
    .await
}

/// Ends every session of the account (browsers elsewhere are signed out);
/// API tokens are revoked separately, on the tokens page.
pub async fn sign_out_everywhere(db: &Db, user_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_the_four_team_roles_and_nothing_else() {
        assert_eq!(parse_role("read_only").unwrap(), Role::ReadOnly);
        assert_eq!(parse_role(" admin ").unwrap(), Role::Admin);
        for bad in ["operator", "Owner", "root", ""] {
            assert!(
                matches!(
                    parse_role(bad),
                    Err(TeamError::Invalid { field: "role", .. })
                ),
                "{bad}"
            );
        }
    }
}
