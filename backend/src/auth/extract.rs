//! Request → [`Principal`]. The tenant comes only from here: handlers never take
//! a tenant id from the URL or the body.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};

use crate::auth::{Role, session, token_hash, tokens};
use crate::db::now_ms;
use crate::error::ApiError;
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    Token,
    Session { csrf: String },
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: Role,
    pub plan: String,
    pub via: Via,
}

impl Principal {
    /// This caller, as the audit log names them.
    pub fn actor(&self) -> crate::audit::Actor<'_> {
        crate::audit::Actor::user(&self.user_id, &self.email)
    }

    /// Operating pairs (pause, resume, replay, run now, backfill, sandbox
    /// orders and faults): every role but read-only.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        if self.role.can_operate() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "read-only users can look but not change anything".to_owned(),
            ))
        }
    }

    pub fn require_manager(&self) -> Result<(), ApiError> {
        if self.role.can_manage() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs the owner or admin role".to_owned(),
            ))
        }
    }
}

/// A platform operator (admin portal).
#[derive(Debug, Clone)]
pub struct Operator {
    pub user_id: String,
    pub email: String,
    pub csrf: String,
}

/// The caller behind a bearer token or a session cookie, any role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub tenant_id: Option<String>,
    pub tenant_status: Option<String>,
    pub email: String,
    pub role: Role,
    pub plan: Option<String>,
    /// The tenant's requests a minute to `/api/v1`; `None` is unlimited.
    pub api_quota: Option<i64>,
    pub via: Via,
}

type Row = (
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// The caller's tenant, plan and quota, joined to the user.
const TENANT_JOIN: &str = "LEFT JOIN tenants t ON t.id = u.tenant_id \
     LEFT JOIN plans pl ON pl.id = t.plan_id \
     LEFT JOIN limit_overrides o ON o.tenant_id = t.id";

pub async fn caller(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let value = auth.to_str().map_err(|_| ApiError::Unauthorized)?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or(ApiError::Unauthorized)?
            .trim();
        // Read on every request, never cached: a token revoked or expired
        // in any process is refused by all of them from the next request.
        type TokenRow = (
            String,
            Option<String>,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            String,
            Option<i64>,
            Option<i64>,
        );
        let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT u.id, u.tenant_id, u.email, u.role, t.plan_id, t.status, \
             COALESCE(o.api_requests_per_minute, pl.api_requests_per_minute), \
             k.id, k.expires_at, k.last_used_at \
             FROM api_tokens k JOIN users u ON u.id = k.user_id {TENANT_JOIN} \
             WHERE k.token_hash = $1 AND k.revoked_at IS NULL"
        )))
        .bind(token_hash(token))
        .fetch_optional(state.db.pool())
        .await?;
        let Some((a, b, c, d, e, f, quota, token_id, expires_at, last_used_at)) = row else {
            return Err(ApiError::Unauthorized);
        };
        let now = now_ms();
        if let Some(at) = expires_at.filter(|at| *at <= now) {
            return Err(ApiError::TokenExpired(format!(
                "this API token expired at {}; create a new one",
                tokens::instant(at)
            )));
        }
        if tokens::last_used_is_stale(last_used_at, now) {
            tokens::touch(&state.db, &token_id, now).await?;
        }
        let row = (a, b, c, d, e, f, quota);
        return Ok(Some(to_caller(row, Via::Token)));
    }
    let Some(cookie) = parts
        .headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(session::from_cookie_header)
    else {
        return Ok(None);
    };
    type SessionRow = (
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        String,
    );
    let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT u.id, u.tenant_id, u.email, u.role, t.plan_id, t.status, \
         COALESCE(o.api_requests_per_minute, pl.api_requests_per_minute), s.csrf_token \
         FROM sessions s JOIN users u ON u.id = s.user_id {TENANT_JOIN} \
         WHERE s.id_hash = $1 AND s.expires_at > $2"
    )))
    .bind(token_hash(cookie))
    .bind(now_ms())
    .fetch_optional(state.db.pool())
    .await?;
    Ok(row
        .map(|(a, b, c, d, e, f, g, csrf)| to_caller((a, b, c, d, e, f, g), Via::Session { csrf })))
}

fn to_caller(row: Row, via: Via) -> Caller {
    let (user_id, tenant_id, email, role, plan, status, api_quota) = row;
    Caller {
        user_id,
        tenant_id,
        tenant_status: status,
        email,
        role: Role::parse(&role).unwrap_or(Role::ReadOnly),
        plan,
        api_quota,
        via,
    }
}

/// Cookie-authenticated changes must carry the session's CSRF token (forms
/// post it as a field and check it themselves; JSON callers send a header).
fn check_csrf_header(parts: &Parts, via: &Via) -> Result<(), ApiError> {
    let Via::Session { csrf } = via else {
        return Ok(());
    };
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if parts.uri.path().starts_with("/api/") {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::auth::session::csrf_matches(sent, csrf) {
            return Err(ApiError::Forbidden(
                "missing or wrong X-CSRF-Token header".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Read-only users look and do nothing else: every request of theirs that
/// is not a read is refused, but for their own account (password, sessions,
/// signing out) and previews and rule checks, which write nothing.
pub fn refuse_read_only(parts: &Parts, role: Role) -> Result<(), ApiError> {
    if role.can_operate() || matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let path = parts.uri.path();
    let own_account = matches!(
        path,
        "/logout"
            | "/account/password"
            | "/account/sessions"
            | "/api/v1/me/password"
            | "/api/v1/me/sessions/revoke"
    );
    if own_account || path.ends_with("/preview") || path.ends_with("/check") {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "read-only users can look but not change anything; ask an admin for the member role".into(),
    ))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let c = caller(parts, state).await?.ok_or(ApiError::Unauthorized)?;
        check_csrf_header(parts, &c.via)?;
        let (Some(tenant_id), Some(plan)) = (c.tenant_id, c.plan) else {
            return Err(ApiError::Forbidden(
                "operators use the admin portal, not tenant routes".to_owned(),
            ));
        };
        if c.tenant_status.as_deref() == Some("suspended") {
            return Err(ApiError::Forbidden(
                "this account is suspended; contact support".to_owned(),
            ));
        }
        refuse_read_only(parts, c.role)?;
        crate::auth::quota::charge(parts, state, &tenant_id, c.api_quota).await?;
        Ok(Principal {
            user_id: UserId::stored(c.user_id),
            tenant_id: TenantId::stored(tenant_id),
            email: c.email,
            role: c.role,
            plan,
            via: c.via,
        })
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let c = caller(parts, state).await?.ok_or(ApiError::Unauthorized)?;
        check_csrf_header(parts, &c.via)?;
        if c.role != Role::Operator {
            return Err(ApiError::Forbidden("operators only".to_owned()));
        }
        let csrf = match c.via {
            Via::Session { csrf } => csrf,
            Via::Token => String::new(),
        };
        Ok(Operator {
            user_id: c.user_id,
            email: c.email,
            csrf,
        })
    }
}
