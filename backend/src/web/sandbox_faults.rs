//! The fault panel of a sandbox pair's page: what each simulator is set to do
//! wrong, and a form to change it, so a user can watch the pair ride out
//! errors, timeouts, limits and scripted failures without a line of code.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::pages::{WebUser, check_csrf, render_pair};
use crate::api::sandbox::{FaultsRequest, apply_faults};
use crate::error::ApiError;
use crate::ids::{IdPath, PairId};
use crate::pairs::Pair;
use crate::sandbox::{FaultKind, FaultSettings, ScriptedFault, SimSystem};
use crate::state::AppState;

/// One simulator's panel, as text fields (a refused form shows what was typed).
#[derive(Debug, Clone)]
pub struct FaultsForm {
    pub system: &'static str,
    pub label: &'static str,
    pub error_rate: String,
    pub timeout_rate: String,
    pub latency_ms: String,
    pub jitter_ms: String,
    pub rate_limit_per_s: String,
    pub concurrency_limit: String,
    /// What is left of the script, e.g. "2 × record_locked, then 1 × timeout".
    pub script_left: String,
    pub calls_received: u64,
    pub error: String,
    pub error_field: String,
}

impl FaultsForm {
    fn from_settings(system: SimSystem, s: &FaultSettings, calls_received: u64) -> Self {
        let percent = |r: f64| format!("{}", (r * 100.0 * 100.0).round() / 100.0);
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        FaultsForm {
            system: system.as_str(),
            label: super::connection_forms::system_label(system.as_str()),
            error_rate: percent(s.error_rate),
            timeout_rate: percent(s.timeout_rate),
            latency_ms: s.latency_ms.to_string(),
            jitter_ms: s.jitter_ms.to_string(),
            rate_limit_per_s: opt(s.rate_limit_per_s),
            concurrency_limit: opt(s.concurrency_limit),
            script_left: s
                .script
                .iter()
                .map(|f| format!("{} × {}", f.count, f.fault.as_str()))
                .collect::<Vec<_>>()
                .join(", then "),
            calls_received,
            error: String::new(),
            error_field: String::new(),
        }
    }

    /// The panels of a sandbox pair: Clarity and its ERP.
    pub async fn for_pair(state: &AppState, pair: &Pair) -> Result<Vec<FaultsForm>, ApiError> {
        let mut forms = Vec::new();
        for system in [SimSystem::Clarity, erp_system(pair)] {
            let settings = state
                .sandbox
                .faults
                .get(&state.db, &pair.id, system)
                .await?;
            let calls = state.sandbox.faults.calls_received(&pair.id, system);
            forms.push(Self::from_settings(system, &settings, calls));
        }
        Ok(forms)
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        FaultKind::ALL.iter().map(|k| k.as_str()).collect()
    }
}

fn erp_system(pair: &Pair) -> SimSystem {
    SimSystem::parse(pair.erp.as_str()).unwrap_or(SimSystem::Intacct)
}

/// Reads the form into the API's request; a number that does not parse is
/// refused naming its field.
fn parse(system: &str, f: &HashMap<String, String>) -> Result<FaultsRequest, ApiError> {
    let text = |name: &str| f.get(name).map(|v| v.trim()).unwrap_or_default();
    fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<Option<T>, ApiError> {
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(name, format!("'{v}' is not a whole number")))
    }
    let percent = |name: &'static str| -> Result<Option<f64>, ApiError> {
        let v = text(name);
        if v.is_empty() {
            return Ok(None);
        }
        let p: f64 = v
            .trim_end_matches('%')
            .parse()
            .map_err(|_| ApiError::invalid(name, format!("'{v}' is not a percentage")))?;
        if !(0.0..=100.0).contains(&p) {
            return Err(ApiError::invalid(name, "must be between 0 and 100 %"));
        }
        Ok(Some(p / 100.0))
    };
    let script = match text("script_fault") {
        "" => None,
        kind => {
            let fault = FaultKind::parse(kind)
                .ok_or_else(|| ApiError::invalid("script", format!("'{kind}' is not a fault")))?;
            let count = number::<u32>("script_count", text("script_count"))?.unwrap_or(1);
            Some(vec![ScriptedFault { fault, count }])
        }
    };
    Ok(FaultsRequest {
        system: system.to_owned(),
        error_rate: percent("error_rate")?,
        timeout_rate: percent("timeout_rate")?,
        latency_ms: number("latency_ms", text("latency_ms"))?,
        jitter_ms: number("jitter_ms", text("jitter_ms"))?,
        rate_limit_per_s: number("rate_limit_per_s", text("rate_limit_per_s"))?,
        concurrency_limit: number("concurrency_limit", text("concurrency_limit"))?,
        hang_ms: None,
        script: script.unwrap_or_default(),
    })
}

pub async fn save(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, system)): IdPath<(PairId, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    let sent = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    check_csrf(sent("csrf"), &u.nav.csrf).map_err(IntoResponse::into_response)?;
    let reset = sent("reset") == "1";
    let mut request = if reset {
        Ok(FaultsRequest {
            system: system.clone(),
            ..FaultsRequest::default()
        })
    } else {
        parse(&system, &form)
    };
    // A new script entry replaces the script; none keeps what is left of it.
    if let Ok(r) = &mut request
        && !reset
        && sent("script_fault").is_empty()
        && let Some(sim) = SimSystem::parse(&system)
    {
        r.script = state
            .sandbox
            .faults
            .get(&state.db, &id, sim)
            .await
            .map_err(|e| ApiError::from(e).into_response())?
            .script;
    }
    let outcome = match request {
        Ok(r) => apply_faults(&state, &u.who, &id, r).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/pairs/{id}?faults={system}#sandbox")).into_response()),
        Err(e @ ApiError::BadRequest { .. }) if e.field() != Some("system") => {
            let pair = crate::pairs::get(&state, &u.who.tenant_id, &id)
                .await
                .map_err(IntoResponse::into_response)?;
            let forms = FaultsForm::for_pair(&state, &pair)
                .await
                .map_err(IntoResponse::into_response)?;
            let Some(mut refused) = forms.into_iter().find(|f| f.system == system) else {
                return Err(e.into_response());
            };
            for (name, slot) in [
                ("error_rate", &mut refused.error_rate),
                ("timeout_rate", &mut refused.timeout_rate),
                ("latency_ms", &mut refused.latency_ms),
                ("jitter_ms", &mut refused.jitter_ms),
                ("rate_limit_per_s", &mut refused.rate_limit_per_s),
                ("concurrency_limit", &mut refused.concurrency_limit),
            ] {
                *slot = form.get(name).cloned().unwrap_or_default();
            }
            refused.error = e.public_message();
            refused.error_field = match e.field().unwrap_or_default() {
                "script.count" => "script_count".to_owned(),
                other => other.to_owned(),
            };
            render_pair(&state, u, &id, |_| None, None, Some(refused))
                .await
                .map_err(IntoResponse::into_response)
        }
        Err(e) => Err(e.into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn percentages_and_numbers_are_read_or_refused_by_name() {
        let r = parse(
            "sagepro",
            &form(&[
                ("error_rate", "30"),
                ("timeout_rate", "5%"),
                ("latency_ms", "250"),
                ("rate_limit_per_s", ""),
                ("script_fault", "record_locked"),
                ("script_count", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(r.error_rate, Some(0.3));
        assert_eq!(r.timeout_rate, Some(0.05));
        assert_eq!(r.latency_ms, Some(250));
        assert_eq!(r.rate_limit_per_s, None);
        assert_eq!(
            r.script,
            vec![ScriptedFault {
                fault: FaultKind::RecordLocked,
                count: 3
            }]
        );
        let e = parse("sagepro", &form(&[("latency_ms", "fast")])).unwrap_err();
        assert_eq!(e.field(), Some("latency_ms"));
        let e = parse("sagepro", &form(&[("error_rate", "130")])).unwrap_err();
        assert_eq!(e.field(), Some("error_rate"));
        let e = parse("sagepro", &form(&[("script_fault", "gremlins")])).unwrap_err();
        assert_eq!(e.field(), Some("script"));
    }
}
