//! Sign-up, tokens, the caller, usage.

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use crate::audit::Actor;
use crate::auth::tokens::{self, TokenInfo};
use crate::auth::{Principal, Role, ratelimit};
use crate::billing::summary::{self, Usage};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tenants::{self, AccountError, SignUp};

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { field, message } => ApiError::invalid(field, message),
            AccountError::EmailTaken => ApiError::Conflict {
                message: e.to_string(),
                field: Some("email".into()),
            },
            AccountError::BadCredentials => ApiError::BadRequest {
                code: "bad_credentials",
                message: e.to_string(),
                field: None,
            },
            AccountError::Internal(e) => ApiError::Internal(e),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignupRequest {
    pub company: String,
    pub email: String,
    pub password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignupResponse {
    pub tenant_id: String,
    pub user_id: String,
}

/// Creates a tenant on the Trial plan with its owner.
#[utoipa::path(post, path = "/api/v1/signup", tag = "account", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; `Retry-After` says when to retry", body = crate::error::ErrorBody)))]
pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<SignupResponse>)> {
    let address = addr.ip().to_string();
    if let Some(wait) =
        ratelimit::check_signup(&state.db, &address, state.config.signups_per_hour).await?
    {
        return Err(ApiError::TooManyRequests {
            message: ratelimit::sign_up_wait_message(wait),
            retry_after: wait,
        });
    }
    let input = SignUp::parse(&body.company, &body.email, &body.password)?;
    let created = tenants::sign_up(&state.db, &state.vault, input).await;
    if matches!(created, Ok(_) | Err(AccountError::EmailTaken)) {
        ratelimit::record_signup(&state.db, &address).await?;
    }
    let created = created?;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            tenant_id: created.tenant_id,
            user_id: created.user_id,
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
    /// A label for the token list; defaults to "API token".
    pub name: Option<String>,
    /// Days until the token stops working (1 to 3650); left out, it does not expire.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Shown once: only its hash is stored.
    pub token: String,
    pub id: String,
    /// When the token stops working (epoch ms); `null` when it never expires.
    pub expires_at: Option<i64>,
}

/// Exchanges email and password for a bearer token of the caller's tenant.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "account", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::ErrorBody),
        (status = 422, description = "A bad `name` or `expires_in_days`; the error names the field", body = crate::error::ErrorBody),
        (status = 429, description = "Too many sign-in attempts for this account from this address (or from this address overall); `Retry-After` says when to retry", body = crate::error::ErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let email_lower = body.email.trim().to_lowercase();
    let address = addr.ip().to_string();
    if let Some(wait) = ratelimit::admit(&state.db, &email_lower, &address).await? {
        return Err(ApiError::TooManyRequests {
            message: ratelimit::sign_in_wait_message(wait),
            retry_after: wait,
        });
    }
    let user = match tenants::authenticate(&state.db, &body.email, &body.password).await {
        Ok(u) => u,
        Err(AccountError::BadCredentials) => {
            ratelimit::record_failure(&state.db, &email_lower, &address).await?;
            return Err(ApiError::Unauthorized);
        }
        Err(e) => return Err(e.into()),
    };
    ratelimit::record_success(&state.db, &email_lower, &address).await?;
    // An operator's token (no tenant) reaches /api/v1/admin/* only.
    let tenant_id = user.tenant_id;
    let name =
        tokens::parse_name(body.name.as_deref()).map_err(|m| ApiError::invalid("name", m))?;
    let expires_at = tokens::parse_expiry(body.expires_in_days, crate::db::now_ms())
        .map_err(|m| ApiError::invalid("expires_in_days", m))?;
    let (id, token) = tokens::issue(
        &state.db,
        tenant_id.as_deref(),
        &user.user_id,
        &Actor::user(&user.user_id, &user.email),
        &name,
        expires_at,
    )
    .await?;
    Ok(Json(TokenResponse {
        token,
        id,
        expires_at,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub plan: String,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "account", responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn me(who: Principal) -> Json<Me> {
    Json(Me {
        tenant_id: who.tenant_id.into(),
        user_id: who.user_id.into(),
        email: who.email,
        role: who.role,
        plan: who.plan,
    })
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "account", responses((status = 200, body = Vec<TokenInfo>)), security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(tokens::list(&state.db, &who.tenant_id).await?))
}

/// Revokes one of the tenant's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require_manager()?;
    if !tokens::revoke_recorded(&state.db, &who.tenant_id, &who.actor(), &id).await? {
        return Err(ApiError::NotFound("token"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The current period's counts against the plan's limits.
#[utoipa::path(get, path = "/api/v1/usage", tag = "account", responses((status = 200, body = Usage)), security(("bearer" = [])))]
pub async fn usage(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Usage>> {
    Ok(Json(summary::for_tenant(&state.db, &who.tenant_id).await?))
}
