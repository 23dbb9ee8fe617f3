//! The team page (members, invitations, roles), the pages mail links open
//! (accept an invitation, reset a password) and the account page (change
//! the password, sign out everywhere).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Nav, WebUser, check_csrf, with_cookie};
use crate::auth::{Role, session};
use crate::error::ApiError;
use crate::ids::IdPath;
use crate::state::AppState;
use crate::team::{self, Acting, Invite, Member, TeamError};

fn acting(u: &WebUser) -> Acting<'_> {
    Acting {
        user_id: &u.who.user_id,
        email: &u.who.email,
        role: u.who.role,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "team.html")]
struct TeamPage {
    nav: Nav,
    me: String,
    members: Vec<Member>,
    invites: Vec<Invite>,
    can_manage: bool,
    is_owner: bool,
    flash: Option<String>,
    error: String,
    error_field: String,
    form_email: String,
}

async fn render(
    state: &AppState,
    u: WebUser,
    flash: Option<String>,
    error: Option<ApiError>,
    form_email: String,
) -> Result<Response, ApiError> {
    let members = team::members(&state.db, &u.who.tenant_id).await?;
    let invites = team::pending_invites(&state.db, &u.who.tenant_id).await?;
    let (error, error_field) = match error {
        Some(e) => (e.public_message(), e.field().unwrap_or_default().to_owned()),
        None => (String::new(), String::new()),
    };
    Ok(TeamPage {
        me: u.who.user_id.to_string(),
        can_manage: u.who.role.can_manage(),
        is_owner: u.who.role == Role::Owner,
        nav: u.nav,
        members,
        invites,
        flash,
        error,
        error_field,
        form_email,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<Done>,
) -> Result<Response, ApiError> {
    render(&state, u, q.done, None, String::new()).await
}

/// The page again with a refusal the user can act on (a bad field, a
/// conflict, the plan); an error page for the rest (not found, forbidden).
async fn refused(
    state: &AppState,
    u: WebUser,
    e: ApiError,
    email: String,
) -> Result<Response, ApiError> {
    match e {
        ApiError::BadRequest { .. } | ApiError::Conflict { .. } | ApiError::PlanLimit(_) => {
            render(state, u, None, Some(e), email).await
        }
        e => Err(e),
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    u: WebUser,
    Form(f): Form<InviteForm>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    let sent = async {
        let role = team::parse_role(&f.role)?;
        let (invite, token) =
            team::invite(&state.db, &u.who.tenant_id, &acting(&u), &f.email, role).await?;
        crate::api::send_invite(&state, &u.who.tenant_id, &u.who.email, &invite, &token).await?;
        Ok::<_, ApiError>(invite)
    }
    .await;
    match sent {
        Ok(invite) => Ok(Redirect::to(&format!(
            "/team?done=Invitation+sent+to+{}",
            urlencode(&invite.email)
        ))
        .into_response()),
        Err(e) => refused(&state, u, e, f.email).await,
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(id): IdPath<String>,
    Form(f): Form<RoleForm>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    let changed = team::set_role(&state.db, &u.who.tenant_id, &acting(&u), &id, &f.role).await;
    match changed {
        Ok(m) => Ok(Redirect::to(&format!(
            "/team?done={}+is+now+{}",
            urlencode(&m.email),
            m.role.as_str()
        ))
        .into_response()),
        Err(e) => refused(&state, u, e.into(), String::new()).await,
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn remove(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(id): IdPath<String>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    match team::remove(&state.db, &u.who.tenant_id, &acting(&u), &id).await {
        Ok(()) => Ok(Redirect::to("/team?done=Removed").into_response()),
        Err(e) => refused(&state, u, e.into(), String::new()).await,
    }
}

pub async fn invite_action(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, action)): IdPath<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    let done = async {
        match action.as_str() {
            "withdraw" => {
                team::withdraw_invite(&state.db, &u.who.tenant_id, &acting(&u), &id).await?;
                Ok("Invitation withdrawn")
            }
            "resend" => {
                team::may_manage_team(&acting(&u))?;
                let (invite, token) =
                    team::reissue(&state.db, &u.who.tenant_id, &u.who.actor(), &id).await?;
                crate::api::send_invite(&state, &u.who.tenant_id, &u.who.email, &invite, &token)
                    .await?;
                Ok("Invitation sent again")
            }
            _ => Err(ApiError::NotFound("action")),
        }
    }
    .await;
    match done {
        Ok(what) => Ok(Redirect::to(&format!("/team?done={}", urlencode(what))).into_response()),
        Err(e) => refused(&state, u, e, String::new()).await,
    }
}

// --- pages that mail links open --------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    /// "invite" or "reset".
    kind: &'static str,
    token: String,
    error: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub async fn accept_form(Query(q): Query<TokenQuery>) -> impl IntoResponse {
    SetPasswordPage {
        kind: "invite",
        token: q.token,
        error: String::new(),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
    password: String,
}

/// Takes up the invitation and signs the new user in.
pub async fn accept(
    State(state): State<AppState>,
    Form(f): Form<TokenForm>,
) -> Result<Response, ApiError> {
    match team::accept(&state.db, &f.token, &f.password).await {
        Ok(joined) => {
            let s = session::create(&state.db, &joined.user_id).await?;
            Ok(with_cookie(
                Redirect::to("/pairs").into_response(),
                session::set_cookie(&s.id, state.config.secure_cookies()),
            ))
        }
        Err(e @ (TeamError::Invalid { .. } | TeamError::Conflict { .. })) => Ok(SetPasswordPage {
            kind: "invite",
            token: f.token,
            error: e.to_string(),
        }
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "password_reset.html")]
struct ResetRequestPage {
    sent: bool,
}

/// The request form, or the new-password form when the link's token is on it.
pub async fn reset_form(Query(q): Query<TokenQuery>) -> Response {
    if q.token.is_empty() {
        ResetRequestPage { sent: false }.into_response()
    } else {
        SetPasswordPage {
            kind: "reset",
            token: q.token,
            error: String::new(),
        }
        .into_response()
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    email: String,
}

pub async fn reset_request(
    State(state): State<AppState>,
    Form(f): Form<ResetForm>,
) -> Result<Response, ApiError> {
    crate::api::request_reset(&state, &f.email).await?;
    Ok(ResetRequestPage { sent: true }.into_response())
}

pub async fn reset_confirm(
    State(state): State<AppState>,
    Form(f): Form<TokenForm>,
) -> Result<Response, ApiError> {
    match team::confirm_reset(&state.db, &f.token, &f.password).await {
        Ok(()) => Ok(Redirect::to("/login?reset=1").into_response()),
        Err(e @ TeamError::Invalid { .. }) => Ok(SetPasswordPage {
            kind: "reset",
            token: f.token,
            error: e.to_string(),
        }
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

// --- the account page --------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    role: &'static str,
    flash: Option<String>,
    error: String,
}

pub async fn account(u: WebUser, Query(q): Query<Done>) -> impl IntoResponse {
    AccountPage {
        role: u.who.role.as_str(),
        nav: u.nav,
        flash: q.done,
        error: String::new(),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    u: WebUser,
    Form(f): Form<PasswordForm>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    match team::change_password(
        &state.db,
        &u.who.user_id,
        &f.current_password,
        &f.new_password,
    )
    .await
    {
        // Every session ended with the change, this one too.
        Ok(()) => Ok(Redirect::to("/login?changed=1").into_response()),
        Err(e @ TeamError::Invalid { .. }) => Ok(AccountPage {
            role: u.who.role.as_str(),
            nav: u.nav,
            flash: None,
            error: e.to_string(),
        }
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    u: WebUser,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    team::sign_out_everywhere(&state.db, &u.who.user_id).await?;
    Ok(Redirect::to("/login").into_response())
}
