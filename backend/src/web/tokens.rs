//! API tokens in the web UI: list, create (the token is shown once), revoke.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{CsrfForm, Nav, WebUser, check_csrf};
use crate::auth::tokens::{self, TokenInfo};
use crate::error::ApiError;

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Nav,
    tokens: Vec<TokenRow>,
    /// The token just created: shown this once, never stored in plaintext.
    created: Option<String>,
    form_name: String,
    error: String,
    /// The expiry field as typed, and what was wrong with it.
    form_days: String,
    days_error: String,
}

struct TokenRow {
    id: String,
    name: String,
    prefix: String,
    created: String,
    last_used: Option<String>,
    revoked: bool,
    expires: Option<String>,
    expired: bool,
}

impl From<TokenInfo> for TokenRow {
    fn from(t: TokenInfo) -> Self {
        TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: super::when(t.created_at),
            last_used: t.last_used_at.map(super::when),
            revoked: t.revoked_at.is_some(),
            expires: t.expires_at.map(super::when),
            expired: t.expires_at.is_some_and(|at| at <= crate::db::now_ms()),
        }
    }
}

/// The form's fields and their errors, for showing it again.
#[derive(Default)]
struct FormState {
    name: String,
    error: String,
    days: String,
    days_error: String,
}

async fn page(
    state: &crate::state::AppState,
    u: WebUser,
    created: Option<String>,
    form: FormState,
) -> Result<Response, ApiError> {
    let tokens = tokens::list(&state.db, &u.who.tenant_id)
        .await?
        .into_iter()
        .map(TokenRow::from)
        .collect();
    Ok(TokensPage {
        nav: u.nav,
        tokens,
        created,
        form_name: form.name,
        error: form.error,
        form_days: form.days,
        days_error: form.days_error,
    }
    .into_response())
}

pub async fn list(
    State(state): State<crate::state::AppState>,
    u: WebUser,
) -> Result<Response, ApiError> {
    page(&state, u, None, FormState::default()).await
}

#[derive(Deserialize)]
pub struct NewToken {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// Days until it expires; blank for never.
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create(
    State(state): State<crate::state::AppState>,
    u: WebUser,
    Form(f): Form<NewToken>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    let again = |error: String, days_error: String| FormState {
        name: f.name.clone(),
        error,
        days: f.expires_in_days.clone(),
        days_error,
    };
    let name = match tokens::parse_name(Some(&f.name)) {
        Ok(n) => n,
        Err(why) => {
            let form = again(format!("The name {why}."), String::new());
            return page(&state, u, None, form).await;
        }
    };
    let days = f.expires_in_days.trim();
    let expires_at = match days {
        "" => Ok(None),
        d => d
            .parse::<i64>()
            .map_err(|_| format!("'{d}' is not a whole number of days"))
            .and_then(|d| tokens::parse_expiry(Some(d), crate::db::now_ms())),
    };
    let expires_at = match expires_at {
        Ok(at) => at,
        Err(why) => {
            let form = again(String::new(), format!("Expires in: {why}."));
            return page(&state, u, None, form).await;
        }
    };
    let (_, token) = tokens::issue(
        &state.db,
        &u.who.tenant_id,
        &u.who.user_id,
        &u.who.actor(),
        &name,
        expires_at,
    )
    .await?;
    page(&state, u, Some(token), FormState::default()).await
}

pub async fn revoke(
    State(state): State<crate::state::AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    u.who.require_manager()?;
    if !tokens::revoke_recorded(&state.db, &u.who.tenant_id, &u.who.actor(), &id).await? {
        return Err(ApiError::NotFound("token"));
    }
    Ok(Redirect::to("/tokens").into_response())
}
