//! The team: users, invitations, roles; password resets and changes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::IdPath;
use crate::mail::{Invitation, Mail, Reset};
use crate::state::AppState;
use crate::team::{self, Acting, Invite, Member, TeamError};

impl From<TeamError> for ApiError {
    fn from(e: TeamError) -> Self {
        match e {
            TeamError::Invalid { field, message } => ApiError::invalid(field, message),
            TeamError::Forbidden(m) => ApiError::Forbidden(m),
            TeamError::NotFound(what) => ApiError::NotFound(what),
            TeamError::Conflict { field, message } => ApiError::Conflict {
                message,
                field: Some(field.into()),
            },
            TeamError::Plan(p) => ApiError::PlanLimit(p),
            TeamError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::mail::MailError> for ApiError {
    fn from(e: crate::mail::MailError) -> Self {
        match e {
            crate::mail::MailError::Smtp(m) => ApiError::Unavailable(format!(
                "the mail could not be sent ({m}); it is saved: send it again later"
            )),
            other => ApiError::Internal(other.into()),
        }
    }
}

fn acting(who: &Principal) -> Acting<'_> {
    Acting {
        user_id: &who.user_id,
        email: &who.email,
        role: who.role,
    }
}

/// Mails an invitation's link to the invitee.
pub async fn send_invite(
    state: &AppState,
    tenant_id: &str,
    inviter: &str,
    invite: &Invite,
    token: &str,
) -> Result<(), ApiError> {
    let (company,): (String,) = sqlx::query_as("SELECT name FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(state.db.pool())
        .await?;
    let link = format!("{}/invites/accept?token={token}", state.public_url);
    let expires = crate::auth::tokens::instant(invite.expires_at);
    let (role, company) = (invite.role.as_str(), company.as_str());
    let facts = Invitation {
        inviter,
        company,
        role,
        link: &link,
        expires: &expires,
    };
    let subject = format!("{inviter} invited you to {company} on Clarity Connect");
    let mail = Mail::invitation(&invite.email, subject, &facts, tenant_id)?;
    state.mailer.send(mail).await?;
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/users", tag = "team", responses((status = 200, body = Vec<Member>)), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(team::members(&state.db, &who.tenant_id).await?))
}

#[utoipa::path(get, path = "/api/v1/users/invites", tag = "team", responses((status = 200, body = Vec<Invite>)), security(("bearer" = [])))]
pub async fn list_invites(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<Invite>>> {
    Ok(Json(
        team::pending_invites(&state.db, &who.tenant_id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    /// `admin`, `member` or `read_only`.
    pub role: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InviteCreated {
    pub id: String,
    pub email: String,
    pub role: crate::auth::Role,
    pub expires_at: i64,
}

/// Invites a colleague by e-mail: a single-use link that expires in 7 days.
/// An open invitation holds a user seat of the plan.
#[utoipa::path(post, path = "/api/v1/users/invites", tag = "team", request_body = InviteRequest,
    responses((status = 201, body = InviteCreated), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InviteCreated>)> {
    let role = team::parse_role(&body.role)?;
    let (invite, token) =
        team::invite(&state.db, &who.tenant_id, &acting(&who), &body.email, role).await?;
    send_invite(&state, &who.tenant_id, &who.email, &invite, &token).await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteCreated {
            id: invite.id,
            email: invite.email,
            role: invite.role,
            expires_at: invite.expires_at,
        }),
    ))
}

/// A new link for an open invitation (the old one stops working).
#[utoipa::path(post, path = "/api/v1/users/invites/{id}/resend", tag = "team", params(("id" = String, Path)),
    responses((status = 200, body = InviteCreated), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn resend_invite(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<String>,
) -> ApiResult<Json<InviteCreated>> {
    team::may_manage_team(&acting(&who))?;
    let (invite, token) = team::reissue(&state.db, &who.tenant_id, &who.actor(), &id).await?;
    send_invite(&state, &who.tenant_id, &who.email, &invite, &token).await?;
    Ok(Json(InviteCreated {
        id: invite.id,
        email: invite.email,
        role: invite.role,
        expires_at: invite.expires_at,
    }))
}

#[utoipa::path(delete, path = "/api/v1/users/invites/{id}", tag = "team", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn withdraw_invite(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<String>,
) -> ApiResult<StatusCode> {
    team::withdraw_invite(&state.db, &who.tenant_id, &acting(&who), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    pub token: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Joined {
    pub user_id: String,
    pub tenant_id: String,
    pub role: crate::auth::Role,
    /// An API token for the new user.
    pub token: String,
}

/// Takes up an invitation with the new user's password: the account, and
/// an API token for it.
#[utoipa::path(post, path = "/api/v1/invites/accept", tag = "team", request_body = AcceptInvite,
    responses((status = 201, body = Joined), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn accept_invite(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AcceptInvite>,
) -> ApiResult<(StatusCode, Json<Joined>)> {
    let joined = team::accept(&state.db, &body.token, &body.password).await?;
    let (_, token) = crate::auth::tokens::issue(
        &state.db,
        Some(&joined.tenant_id),
        &joined.user_id,
        &crate::audit::Actor::user(&joined.user_id, &joined.email),
        "invitation",
        None,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Joined {
            user_id: joined.user_id,
            tenant_id: joined.tenant_id,
            role: joined.role,
            token,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: String,
}

/// Sets a member's role; `owner` hands ownership on (owner only).
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "team", params(("id" = String, Path)), request_body = RoleChange,
    responses((status = 200, body = Member), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set_role(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<String>,
    ApiJson(body): ApiJson<RoleChange>,
) -> ApiResult<Json<Member>> {
    Ok(Json(
        team::set_role(&state.db, &who.tenant_id, &acting(&who), &id, &body.role).await?,
    ))
}

/// Removes a member: their sessions end and their tokens stop working.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "team", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn remove_user(
    State(state): State<AppState>,
    who: Principal,
    IdPath(id): IdPath<String>,
) -> ApiResult<StatusCode> {
    team::remove(&state.db, &who.tenant_id, &acting(&who), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// Mails a password-reset link when the account exists. The answer is the
/// same 202 either way, so it tells nobody whether an address has an account.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "team", request_body = ResetRequest, responses((status = 202)))]
pub async fn password_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetRequest>,
) -> ApiResult<StatusCode> {
    request_reset(&state, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Shared by the API and the reset page.
pub async fn request_reset(state: &AppState, email: &str) -> Result<(), ApiError> {
    let Some((email, tenant_id, token)) = team::request_reset(&state.db, email).await? else {
        return Ok(());
    };
    let link = format!("{}/password-reset?token={token}", state.public_url);
    let facts = Reset {
        email: &email,
        link: &link,
    };
    let mail = Mail::reset(&facts, tenant_id.as_deref())?;
    if let Err(e) = state.mailer.send(mail).await {
        // Answering differently would tell who has an account.
        tracing::error!(error = %e, "could not send a password-reset mail");
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    pub token: String,
    pub password: String,
}

/// Sets the new password from a reset link; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "team", request_body = ResetConfirm,
    responses((status = 204), (status = 422, body = crate::error::ErrorBody)))]
pub async fn password_reset_confirm(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetConfirm>,
) -> ApiResult<StatusCode> {
    team::confirm_reset(&state.db, &body.token, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password; every session of the account ends.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "team", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    team::change_password(
        &state.db,
        &who.user_id,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedOut {
    pub sessions: u64,
}

/// Signs the caller out of every browser session.
#[utoipa::path(post, path = "/api/v1/me/sessions/revoke", tag = "team",
    responses((status = 200, body = SignedOut)), security(("bearer" = [])))]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<SignedOut>> {
    let sessions = team::sign_out_everywhere(&state.db, &who.user_id).await?;
    Ok(Json(SignedOut { sessions }))
}
