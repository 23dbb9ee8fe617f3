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
}

struct TokenRow {
    id: String,
    name: String,
    prefix: String,
    created: String,
    last_used: Option<String>,
    revoked: bool,
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
        }
    }
}

async fn page(
    state: &crate::state::AppState,
    u: WebUser,
    created: Option<String>,
    form_name: String,
    error: String,
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
        form_name,
        error,
    }
    .into_response())
}

pub async fn list(
    State(state): State<crate::state::AppState>,
    u: WebUser,
) -> Result<Response, ApiError> {
    page(&state, u, None, String::new(), String::new()).await
}

#[derive(Deserialize)]
pub struct NewToken {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<crate::state::AppState>,
    u: WebUser,
    Form(f): Form<NewToken>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    let name = match tokens::parse_name(Some(&f.name)) {
        Ok(n) => n,
        Err(why) => return page(&state, u, None, f.name, format!("The name {why}.")).await,
    };
    let (_, token) = tokens::issue(
        &state.db,
        &u.who.tenant_id,
        &u.who.user_id,
        &u.who.actor(),
        &name,
    )
    .await?;
    page(&state, u, Some(token), String::new(), String::new()).await
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
