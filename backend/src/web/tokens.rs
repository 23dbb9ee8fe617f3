//! API tokens in the web UI: list, create, revoke. A new token is shown
//! once, on the GET after the creating POST (POST → 303 → GET): it waits
//! server-side, sealed and bound to the session, and that GET takes it away,
//! so a reload, the back button or the browser's cache never show it again.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{CsrfForm, Nav, WebUser, check_csrf};
use crate::auth::tokens::{self, TokenInfo};
use crate::auth::{session, token_hash};
use crate::db::now_ms;
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::state::AppState;
use crate::vault::Sealed;

/// How long a created token waits for the GET that shows it.
const REVEAL_FOR_MS: i64 = 5 * 60 * 1000;
/// Binds the sealed token to its purpose (the vault's `system` slot).
const REVEAL_PURPOSE: &str = "api-token-reveal";

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
    state: &AppState,
    u: WebUser,
    created: Option<String>,
    form: FormState,
) -> Result<Response, ApiError> {
    let tokens = tokens::list(&state.db, &u.who.tenant_id)
        .await?
        .into_iter()
        .map(TokenRow::from)
        .collect();
    let mut resp = TokensPage {
        nav: u.nav,
        tokens,
        created,
        form_name: form.name,
        error: form.error,
        form_days: form.days,
        days_error: form.days_error,
    }
    .into_response();
    // This page may carry a secret: no cache may keep a copy.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The hashed session id the request came with (a `WebUser` always has one).
fn session_hash(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(session::from_cookie_header)
        .map(token_hash)
        .ok_or(ApiError::Unauthorized)
}

/// Keeps `token` for the next GET of this session (replacing one not yet shown).
async fn stash(
    state: &AppState,
    session: &str,
    tenant_id: &TenantId,
    token: &str,
) -> Result<(), ApiError> {
    let sealed = state
        .vault
        .encrypt(
            &state.db,
            tenant_id,
            session,
            REVEAL_PURPOSE,
            token.as_bytes(),
        )
        .await?;
    let now = now_ms();
    sqlx::query("DELETE FROM token_reveals WHERE session_hash = $1 OR expires_at < $2")
        .bind(session)
        .bind(now)
        .execute(state.db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO token_reveals (session_hash, tenant_id, ciphertext, nonce, data_key_id, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(session)
    .bind(tenant_id)
    .bind(sealed.ciphertext)
    .bind(sealed.nonce)
    .bind(sealed.key_id)
    .bind(now + REVEAL_FOR_MS)
    .execute(state.db.pool())
    .await?;
    Ok(())
}

/// The token waiting for this session, removed as it is read: shown once.
async fn take(
    state: &AppState,
    session: &str,
    tenant_id: &TenantId,
) -> Result<Option<String>, ApiError> {
    let row: Option<(Vec<u8>, Vec<u8>, String, i64)> = sqlx::query_as(
        "DELETE FROM token_reveals WHERE session_hash = $1 AND tenant_id = $2 \
         RETURNING ciphertext, nonce, data_key_id, expires_at",
    )
    .bind(session)
    .bind(tenant_id)
    .fetch_optional(state.db.pool())
    .await?;
    let Some((ciphertext, nonce, key_id, expires_at)) = row else {
        return Ok(None);
    };
    if expires_at < now_ms() {
        return Ok(None);
    }
    let sealed = Sealed {
        ciphertext,
        nonce,
        key_id,
    };
    let plain = state
        .vault
        .decrypt(&state.db, tenant_id, session, REVEAL_PURPOSE, &sealed)
        .await?;
    Ok(String::from_utf8(plain).ok())
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    u: WebUser,
) -> Result<Response, ApiError> {
    let created = take(&state, &session_hash(&headers)?, &u.who.tenant_id).await?;
    page(&state, u, created, FormState::default()).await
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
    State(state): State<AppState>,
    headers: HeaderMap,
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
        Some(u.who.tenant_id.as_str()),
        &u.who.user_id,
        &u.who.actor(),
        &name,
        expires_at,
    )
    .await?;
    stash(&state, &session_hash(&headers)?, &u.who.tenant_id, &token).await?;
    Ok(Redirect::to("/tokens").into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
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
