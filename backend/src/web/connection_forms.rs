//! The connection forms on a pair's page: base URL, settings and write-only
//! secrets for Clarity and the pair's ERP, plus "Test connection".

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value};

use super::pages::{WebUser, check_csrf, render_pair};
use crate::error::ApiError;
use crate::ids::{IdPath, PairId};
use crate::pairs::connections::{self, ConnectionInput};
use crate::pairs::{self, Pair};
use crate::state::AppState;

pub fn system_label(system: &str) -> &'static str {
    match system {
        "clarity" => "Clarity",
        "intacct" => "Sage Intacct",
        "sagepro" => "Sage Pro",
        _ => "Unknown system",
    }
}

fn field_label(name: &str) -> &'static str {
    match name {
        "client_id" => "Client ID",
        "client_secret" => "Client secret",
        "webhook_secret" => "Webhook signing secret (only for a webhook registered by hand)",
        "sender_id" => "Web Services sender ID",
        "sender_password" => "Sender password",
        "company_id" => "Company ID",
        "user_id" => "User ID",
        "user_password" => "User password",
        "entity_id" => "Entity (location ID, multi-entity companies)",
        "timezone" => "Company time zone (IANA, e.g. America/New_York; empty is UTC)",
        "api_key" => "API key",
        "company" => "Company",
        _ => "Setting",
    }
}

#[derive(Debug, Clone)]
pub struct CredentialField {
    pub name: &'static str,
    pub label: &'static str,
    pub secret: bool,
    pub required: bool,
    /// Settings only; a secret's value never goes back into a page.
    pub value: String,
    pub saved: bool,
}

#[derive(Debug, Clone)]
pub struct ConnectionForm {
    pub system: String,
    pub label: &'static str,
    pub base_url: String,
    /// The sandbox's own simulator, reached inside this process.
    pub builtin: bool,
    pub fields: Vec<CredentialField>,
    pub configured: bool,
    pub webhook_registered: bool,
    pub last_test: Option<(bool, String)>,
    pub error: String,
    /// `base_url` or a credential's name.
    pub error_field: String,
}

impl ConnectionForm {
    /// One form per system of the pair, filled from what is saved.
    pub fn for_pair(pair: &Pair) -> Vec<ConnectionForm> {
        ["clarity", pair.erp.as_str()]
            .into_iter()
            .map(|system| {
                let saved = pair.connections.iter().find(|c| c.system == system);
                let fields = connections::fields(system)
                    .iter()
                    .map(|(name, secret, required)| CredentialField {
                        name,
                        label: field_label(name),
                        secret: *secret,
                        required: *required,
                        value: match (secret, saved) {
                            (false, Some(c)) => c
                                .settings
                                .get(*name)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            _ => String::new(),
                        },
                        saved: saved.is_some_and(|c| c.saved_secrets.iter().any(|s| s == name)),
                    })
                    .collect();
                ConnectionForm {
                    system: system.to_owned(),
                    label: system_label(system),
                    base_url: saved.and_then(|c| c.base_url.clone()).unwrap_or_default(),
                    builtin: saved.is_some_and(|c| c.builtin),
                    fields,
                    configured: saved.is_some_and(|c| c.configured),
                    webhook_registered: saved.is_some_and(|c| c.webhook_registered),
                    last_test: saved.and_then(|c| {
                        Some((
                            c.last_test_ok?,
                            c.last_test_detail.clone().unwrap_or_default(),
                        ))
                    }),
                    error: String::new(),
                    error_field: String::new(),
                }
            })
            .collect()
    }
}

/// The wizard's step for a system's connection.
fn step_of(system: &str) -> &'static str {
    if system == "clarity" {
        "clarity"
    } else {
        "erp"
    }
}

/// Saves a connection form. Blank secret fields keep their saved values.
pub async fn save(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, system)): IdPath<(PairId, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    let sent = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    check_csrf(sent("csrf"), &u.nav.csrf).map_err(IntoResponse::into_response)?;
    let credentials: Map<String, Value> = connections::fields(&system)
        .iter()
        .filter(|(name, _, _)| !sent(name).trim().is_empty())
        .map(|(name, _, _)| ((*name).to_owned(), Value::String(sent(name).to_owned())))
        .collect();
    let input = ConnectionInput {
        base_url: sent("base_url").trim().to_owned(),
        credentials,
    };
    match connections::put(&state, &u.who, &id, &system, input).await {
        // The onboarding wizard embeds this form and takes the user back.
        Ok(()) if sent("next").starts_with("/welcome") => {
            Ok(Redirect::to(&format!("/welcome?step={}", step_of(&system))).into_response())
        }
        Ok(()) => {
            Ok(Redirect::to(&format!("/pairs/{id}?saved={system}#connections")).into_response())
        }
        Err(e @ (ApiError::BadRequest { .. } | ApiError::Conflict { .. })) => {
            let pair = pairs::get(&state, &u.who.tenant_id, &id)
                .await
                .map_err(IntoResponse::into_response)?;
            let Some(mut refused) = ConnectionForm::for_pair(&pair)
                .into_iter()
                .find(|f| f.system == system)
            else {
                return Err(e.into_response());
            };
            refused.base_url = sent("base_url").to_owned();
            for f in refused.fields.iter_mut().filter(|f| !f.secret) {
                f.value = sent(f.name).to_owned();
            }
            refused.error = e.public_message();
            refused.error_field = e
                .field()
                .unwrap_or_default()
                .trim_start_matches("credentials.")
                .to_owned();
            // 422 like the API, so scripts posting the form can tell; browsers
            // render the page all the same.
            let status = e.status();
            render_pair(&state, u, &id, |_| None, Some(refused), None)
                .await
                .map(|page| (status, page).into_response())
                .map_err(IntoResponse::into_response)
        }
        Err(e) => Err(e.into_response()),
    }
}

/// Makes a real call with the saved credentials and shows the result.
pub async fn test(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, system)): IdPath<(PairId, String)>,
    Form(form): Form<super::pages::CsrfForm>,
) -> Result<Response, Response> {
    check_csrf(&form.csrf, &u.nav.csrf).map_err(IntoResponse::into_response)?;
    match connections::test(&state, &u.who, &id, &system).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/pairs/{id}?tested={system}#connections")).into_response())
        }
        Err(e @ ApiError::BadRequest { .. }) => render_pair(
            &state,
            u,
            &id,
            |_| Some((e.public_message(), true)),
            None,
            None,
        )
        .await
        .map_err(IntoResponse::into_response),
        Err(e) => Err(e.into_response()),
    }
}

impl CredentialField {
    pub fn error_field_is(&self, field: &str) -> bool {
        self.name == field
    }
}

impl ConnectionForm {
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }
}

/// "Rotate webhook secret" on the Clarity form.
pub async fn rotate(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(id): IdPath<PairId>,
    Form(form): Form<super::pages::CsrfForm>,
) -> Result<Response, Response> {
    check_csrf(&form.csrf, &u.nav.csrf).map_err(IntoResponse::into_response)?;
    match connections::rotate_webhook_secret(&state, &u.who, &id).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/pairs/{id}?rotated=clarity#connections")).into_response())
        }
        Err(e @ ApiError::BadRequest { .. }) => render_pair(
            &state,
            u,
            &id,
            |_| Some((e.public_message(), true)),
            None,
            None,
        )
        .await
        .map_err(IntoResponse::into_response),
        Err(e) => Err(e.into_response()),
    }
}
