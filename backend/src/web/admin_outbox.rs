//! The operators' outbox: mail kept because no SMTP server is configured
//! (`CONNECT_SMTP_URL`), newest first, so an invitation or a reset link can
//! still be handed over by support.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::pages::operator;
use crate::error::ApiError;
use crate::mail::OutboxMail;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "admin_outbox.html")]
struct OutboxPage {
    email: String,
    csrf: String,
    smtp: bool,
    mails: Vec<OutboxMail>,
}

pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Response> {
    let op = operator((&headers, &state)).await?;
    let mails = crate::mail::outbox(&state.db, 200)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(OutboxPage {
        email: op.email,
        csrf: op.csrf,
        smtp: state.mailer.kind() == "smtp",
        mails,
    }
    .into_response())
}
