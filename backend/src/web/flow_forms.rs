//! The flows panel of a pair's page: each flow switched on or off, a polling
//! flow's interval, the customers flow's conflict rule, "Poll now" and
//! "Backfill from" a date. The
//! same rules as the API (`pairs::flows`); a refused form says why above it.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{WebUser, check_csrf, render_pair};
use crate::error::ApiError;
use crate::ids::{IdPath, PairId};
use crate::pairs::backfill::{self, BackfillRequest};
use crate::pairs::flows::{self, FlowUpdate};
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FlowForm {
    csrf: String,
    /// `on` or `off`.
    enabled: String,
    interval_s: String,
    conflict_rule: String,
    /// Backfill from this date.
    since: String,
}

impl FlowForm {
    fn update(&self) -> Result<FlowUpdate, ApiError> {
        let enabled = match self.enabled.as_str() {
            "on" => Some(true),
            "off" => Some(false),
            "" => None,
            other => {
                return Err(ApiError::invalid(
                    "enabled",
                    format!("`{other}` is not on or off"),
                ));
            }
        };
        let interval_s = match self.interval_s.trim() {
            "" => None,
            s => Some(s.parse::<i64>().map_err(|_| {
                ApiError::invalid("interval_s", format!("`{s}` is not a number of seconds"))
            })?),
        };
        let conflict_rule = Some(self.conflict_rule.trim().to_owned()).filter(|r| !r.is_empty());
        Ok(FlowUpdate {
            enabled,
            interval_s,
            conflict_rule,
        })
    }
}

pub async fn save(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    Form(form): Form<FlowForm>,
) -> Result<Response, ApiError> {
    check_csrf(&form.csrf, &u.nav.csrf)?;
    let saved = match form.update() {
        Ok(update) => flows::update(&state, &u.who, &id, &flow, update).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(f) => {
            let state_word = if f.enabled { "on" } else { "off" };
            Ok(Redirect::to(&format!(
                "/pairs/{id}?flow={flow}&flow_state={state_word}#flows"
            ))
            .into_response())
        }
        Err(e @ (ApiError::BadRequest { .. } | ApiError::PlanLimit(_))) => {
            let message = format!("The {flow} flow was not changed: {e}");
            render_pair(&state, u, &id, |_| Some((message, true)), None, None).await
        }
        Err(e) => Err(e),
    }
}

pub async fn poll(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    Form(form): Form<FlowForm>,
) -> Result<Response, ApiError> {
    check_csrf(&form.csrf, &u.nav.csrf)?;
    match flows::check_pollable(&state, &u.who, &id, &flow).await {
        Ok(()) => {
            let made =
                crate::sync::schedule::poll_now(&state, &u.who.tenant_id, &id, &flow).await?;
            let word = if made.is_some() { "polling" } else { "already" };
            Ok(
                Redirect::to(&format!("/pairs/{id}?flow={flow}&flow_state={word}#flows"))
                    .into_response(),
            )
        }
        Err(e @ ApiError::BadRequest { .. }) => {
            let message = format!("The {flow} flow cannot poll: {e}");
            render_pair(&state, u, &id, |_| Some((message, true)), None, None).await
        }
        Err(e) => Err(e),
    }
}

pub async fn backfill(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    Form(form): Form<FlowForm>,
) -> Result<Response, ApiError> {
    check_csrf(&form.csrf, &u.nav.csrf)?;
    let request = BackfillRequest {
        since: form.since.clone(),
    };
    match backfill::request(&state, &u.who, &id, &flow, request).await {
        Ok(_) => {
            crate::sync::schedule::poll_now(&state, &u.who.tenant_id, &id, &flow).await?;
            Ok(Redirect::to(&format!(
                "/pairs/{id}?flow={flow}&flow_state=backfill#flows"
            ))
            .into_response())
        }
        Err(e @ (ApiError::BadRequest { .. } | ApiError::Conflict { .. })) => {
            let message = format!("The {flow} flow cannot backfill: {e}");
            render_pair(&state, u, &id, |_| Some((message, true)), None, None).await
        }
        Err(e) => Err(e),
    }
}
