//! The onboarding wizard, server-rendered, no JavaScript: 1) company,
//! 2) try the sandbox (one click: a sandbox pair for the chosen ERP and 5
//! sample orders) or connect your own systems, 3) Clarity and 4) the ERP,
//! each with a connection test, 5) flows, with the orders template previewed
//! on sample records, 6) go live (a production pair on a Trial is refused
//! with the plan's words). Progress is saved at each step.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::connection_forms::ConnectionForm;
use super::pages::{Nav, WebUser, check_csrf};
use crate::error::ApiError;
use crate::ids::{IdPath, PairId};
use crate::onboarding::{self, Progress, STEPS};
use crate::pairs::{self, Environment, NewPair, Pair, ParsedPair, flows};
use crate::sandbox::clarity::PayloadMode;
use crate::state::AppState;

/// Sample orders the sandbox path sends.
const SAMPLE_ORDERS: u32 = 5;

/// A flow on the flows step.
pub struct FlowRow {
    pub name: String,
    pub what: String,
    pub enabled: bool,
    pub available: bool,
    pub reason: String,
}

/// One previewed order: its id, and what would be sent or why not.
pub struct PreviewRow {
    pub source_id: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "welcome.html")]
struct WelcomePage {
    nav: Nav,
    steps: &'static [&'static str],
    /// The step shown, and how far the tenant has come.
    step: String,
    reached: usize,
    progress: Progress,
    pair: Option<Pair>,
    connection: Option<ConnectionForm>,
    flows: Vec<FlowRow>,
    preview: Vec<PreviewRow>,
    orders_in_erp: usize,
    error: String,
    upgrade: bool,
}

#[derive(Deserialize)]
pub struct StepQuery {
    #[serde(default)]
    step: String,
}

fn label(step: &str) -> &'static str {
    match step {
        "company" => "Company",
        "start" => "Sandbox or your systems",
        "clarity" => "Connect Clarity",
        "erp" => "Connect your ERP",
        "flows" => "Flows and templates",
        _ => "Go live",
    }
}

async fn render(
    state: &AppState,
    u: WebUser,
    step: &str,
    error: Option<ApiError>,
) -> Result<Response, ApiError> {
    let progress = onboarding::get(&state.db, &u.who.tenant_id).await?;
    let reached = progress.index();
    let pair = match &progress.pair_id {
        Some(id) => pairs::get(state, &u.who.tenant_id, &PairId::stored(id.clone()))
            .await
            .ok(),
        None => None,
    };
    let system = match (step, &pair) {
        ("clarity", Some(_)) => Some("clarity"),
        ("erp", Some(p)) => Some(p.erp.as_str()),
        _ => None,
    };
    let connection = match (system, &pair) {
        (Some(system), Some(p)) => ConnectionForm::for_pair(p)
            .into_iter()
            .find(|c| c.system == system),
        _ => None,
    };
    let mut flows_shown = Vec::new();
    let mut preview = Vec::new();
    let mut orders_in_erp = 0;
    if let Some(p) = &pair {
        if step == "flows" {
            for f in flows::list(state, &u.who.tenant_id, &p.id).await? {
                flows_shown.push(FlowRow {
                    what: flows::kind(&f.flow).map_or("", |k| k.does).to_owned(),
                    name: f.flow,
                    enabled: f.enabled,
                    available: f.available,
                    reason: f.reason.unwrap_or_default(),
                });
            }
            let request = crate::preview::PreviewRequest {
                records: None,
                sample: Some(3),
                version: None,
            };
            if let Ok(r) =
                crate::preview::run(state, &u.who.tenant_id, &p.id, "orders", request).await
            {
                preview = r
                    .results
                    .into_iter()
                    .map(|r| PreviewRow {
                        source_id: r.source_id.unwrap_or_default(),
                        ok: r.errors.is_empty(),
                        detail: if r.errors.is_empty() {
                            r.output
                                .map(|o| o.to_string())
                                .unwrap_or_default()
                                .chars()
                                .take(160)
                                .collect()
                        } else {
                            r.errors
                                .iter()
                                .map(|e| format!("{}: {}", e.field, e.message))
                                .collect::<Vec<_>>()
                                .join("; ")
                        },
                    })
                    .collect();
            }
        }
        if step == "live" && p.environment == Environment::Sandbox {
            let held = match p.erp {
                pairs::Erp::Intacct => {
                    crate::sandbox::intacct::list_sales_orders(&state.db, &p.id).await
                }
                pairs::Erp::Sagepro => crate::sandbox::sagepro::list_orders(&state.db, &p.id).await,
            };
            orders_in_erp = held.map(|o| o.len()).unwrap_or(0);
        }
    }
    let (error, upgrade) = match error {
        Some(e) => (e.public_message(), matches!(e, ApiError::PlanLimit(_))),
        None => (String::new(), false),
    };
    Ok(WelcomePage {
        nav: u.nav,
        steps: &STEPS,
        step: step.to_owned(),
        reached,
        progress,
        pair,
        connection,
        flows: flows_shown,
        preview,
        orders_in_erp,
        error,
        upgrade,
    }
    .into_response())
}

/// The step asked for when it was reached already, else the current one.
pub async fn show(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<StepQuery>,
) -> Result<Response, ApiError> {
    let progress = onboarding::get(&state.db, &u.who.tenant_id).await?;
    let asked = STEPS.iter().position(|s| *s == q.step);
    let step = match asked {
        Some(i) if i <= progress.index() => STEPS[i],
        _ => STEPS[progress.index()],
    };
    render(&state, u, step, None).await
}

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    erp: String,
    #[serde(default)]
    action: String,
    /// Flows switched on (checkboxes named `flow`).
    #[serde(default)]
    flow: Vec<String>,
}

async fn advance(
    state: &AppState,
    tenant_id: &str,
    to: &str,
    p: &mut Progress,
) -> Result<(), ApiError> {
    let i = STEPS.iter().position(|s| *s == to).unwrap_or(0);
    if i > p.index() {
        p.step = to.to_owned();
    }
    onboarding::save(&state.db, tenant_id, p).await?;
    Ok(())
}

/// One step's form. Refusals show on the same step, with what to do.
pub async fn submit(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(step): IdPath<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let f = StepForm::from_pairs(pairs);
    check_csrf(&f.csrf, &u.nav.csrf)?;
    let tenant_id = u.who.tenant_id.to_string();
    let mut p = onboarding::get(&state.db, &tenant_id).await?;
    let done = match step.as_str() {
        "company" => company(&state, &u, &f).await.map(|()| "start"),
        "start" => start(&state, &u, &f, &mut p).await.map(|()| "clarity"),
        "clarity" | "erp" => connection_step(&state, &u, &f, &p, &step).await,
        "flows" => flows_step(&state, &u, &f, &p).await.map(|()| "live"),
        "live" => {
            p.completed_at = Some(crate::db::now_ms());
            onboarding::save(&state.db, &tenant_id, &p).await?;
            let to = p
                .pair_id
                .as_deref()
                .map_or("/pairs".to_owned(), |id| format!("/pairs/{id}"));
            return Ok(Redirect::to(&to).into_response());
        }
        _ => Err(ApiError::NotFound("step")),
    };
    match done {
        // A connection test stays on its step and says it was tested.
        Ok(next) if next == step => {
            Ok(Redirect::to(&format!("/welcome?step={next}&tested=1")).into_response())
        }
        Ok(next) => {
            advance(&state, &tenant_id, next, &mut p).await?;
            Ok(Redirect::to(&format!("/welcome?step={next}")).into_response())
        }
        Err(
            e @ (ApiError::BadRequest { .. } | ApiError::Conflict { .. } | ApiError::PlanLimit(_)),
        ) => {
            let status = e.status();
            Ok((status, render(&state, u, &step, Some(e)).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

impl StepForm {
    /// From the form's pairs: repeated `flow` checkboxes become a list.
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = StepForm {
            csrf: String::new(),
            company: String::new(),
            choice: String::new(),
            erp: String::new(),
            action: String::new(),
            flow: Vec::new(),
        };
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "company" => f.company = v,
                "choice" => f.choice = v,
                "erp" => f.erp = v,
                "action" => f.action = v,
                "flow" => f.flow.push(v),
                _ => {}
            }
        }
        f
    }
}

async fn company(state: &AppState, u: &WebUser, f: &StepForm) -> Result<(), ApiError> {
    u.who.require_manager()?;
    let name = f.company.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "company",
            "the company's name: 1 to 120 characters",
        ));
    }
    sqlx::query("UPDATE tenants SET name = $2 WHERE id = $1")
        .bind(&u.who.tenant_id)
        .bind(name)
        .execute(state.db.pool())
        .await?;
    Ok(())
}

async fn start(
    state: &AppState,
    u: &WebUser,
    f: &StepForm,
    p: &mut Progress,
) -> Result<(), ApiError> {
    let sandbox = match f.choice.as_str() {
        "sandbox" => true,
        "connect" => false,
        _ => {
            return Err(ApiError::invalid(
                "choice",
                "choose the sandbox or your own systems",
            ));
        }
    };
    // Choosing again reuses the pair made the first time.
    if p.path.as_deref() == Some(f.choice.as_str()) && p.pair_id.is_some() {
        return Ok(());
    }
    let input = ParsedPair::try_from(NewPair {
        name: if sandbox {
            format!(
                "Sandbox · {}",
                if f.erp == "sagepro" {
                    "Sage Pro"
                } else {
                    "Sage Intacct"
                }
            )
        } else {
            "Live".to_owned()
        },
        erp: if f.erp.is_empty() {
            "intacct".into()
        } else {
            f.erp.clone()
        },
        environment: if sandbox { "sandbox" } else { "production" }.into(),
    })?;
    let pair = pairs::create(state, &u.who, input).await?;
    if sandbox {
        crate::sandbox::clarity::create_orders(
            &state.sandbox,
            &pair.id,
            SAMPLE_ORDERS,
            PayloadMode::Full,
        )
        .await?;
    }
    p.path = Some(f.choice.clone());
    p.erp = Some(pair.erp.as_str().to_owned());
    p.pair_id = Some(pair.id.to_string());
    Ok(())
}

/// Tests the step's connection (`action=test`), or goes on to the next step.
async fn connection_step(
    state: &AppState,
    u: &WebUser,
    f: &StepForm,
    p: &Progress,
    step: &str,
) -> Result<&'static str, ApiError> {
    let pair_id = PairId::stored(p.pair_id.clone().ok_or(ApiError::invalid(
        "choice",
        "choose the sandbox or your own systems first",
    ))?);
    let pair = pairs::get(state, &u.who.tenant_id, &pair_id).await?;
    let system = if step == "clarity" {
        "clarity"
    } else {
        pair.erp.as_str()
    };
    let next = if step == "clarity" { "erp" } else { "flows" };
    if f.action == "test" {
        let result = pairs::connections::test(state, &u.who, &pair_id, system).await?;
        if !result.ok {
            return Err(ApiError::invalid(
                "connection",
                format!("the test failed: {}", result.detail),
            ));
        }
        return Ok(if step == "clarity" { "clarity" } else { "erp" });
    }
    Ok(next)
}

async fn flows_step(
    state: &AppState,
    u: &WebUser,
    f: &StepForm,
    p: &Progress,
) -> Result<(), ApiError> {
    let pair_id = PairId::stored(p.pair_id.clone().ok_or(ApiError::invalid(
        "choice",
        "choose the sandbox or your own systems first",
    ))?);
    for flow in flows::list(state, &u.who.tenant_id, &pair_id).await? {
        let on = f.flow.contains(&flow.flow);
        if on != flow.enabled && (flow.available || !on) {
            let update = flows::FlowUpdate {
                enabled: Some(on),
                interval_s: None,
                conflict_rule: None,
            };
            flows::update(state, &u.who, &pair_id, &flow.flow, update).await?;
        }
    }
    Ok(())
}

/// Marks the wizard finished without going through it (a user who knows
/// the way); the dashboard stops offering it.
pub async fn skip(
    State(state): State<AppState>,
    u: WebUser,
    Form(f): Form<super::pages::CsrfForm>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    let mut p = onboarding::get(&state.db, &u.who.tenant_id).await?;
    p.completed_at = Some(crate::db::now_ms());
    onboarding::save(&state.db, &u.who.tenant_id, &p).await?;
    Ok(Redirect::to("/pairs").into_response())
}

impl WelcomePage {
    fn label(&self, step: &&str) -> &'static str {
        label(step)
    }
}
