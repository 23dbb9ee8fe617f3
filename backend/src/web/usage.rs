//! The usage page: the plan, its meters against the limits in force, the
//! trial's countdown, held work, and the owner's upgrade or downgrade (a
//! confirmation page first, saying when it takes effect and what starts
//! syncing).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Nav, WebUser, check_csrf};
use crate::auth::Role;
use crate::billing::subscription::{self, By, Status};
use crate::billing::summary::{self, Usage};
use crate::billing::{Plan, Subscription, plans};
use crate::db::now_ms;
use crate::error::ApiError;
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// One meter: what, used, the limit in words, and the share used (0–100).
pub struct Meter {
    pub what: &'static str,
    pub used: i64,
    pub limit: String,
    pub percent: i64,
}

fn meter(what: &'static str, used: i64, limit: Option<i64>) -> Meter {
    Meter {
        what,
        used,
        limit: limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
        percent: match limit {
            Some(0) => 100,
            Some(n) => (used.saturating_mul(100) / n).clamp(0, 100),
            None => 0,
        },
    }
}

/// The UTC date of a Unix-ms time, for pages.
pub fn day(ms: impl std::borrow::Borrow<i64>) -> String {
    let ms = *ms.borrow();
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

fn price(plan: &Plan) -> String {
    if plan.price_cents == 0 {
        return plan.billing.clone();
    }
    format!(
        "${}/month, {}",
        plan.price_cents / 100,
        plan.billing.trim_start_matches("per month, ")
    )
}

/// A plan in the comparison table.
pub struct PlanRow {
    pub plan: Plan,
    pub price: String,
    pub current: bool,
    /// "Upgrade" or "Downgrade"; empty when it cannot be chosen here.
    pub action: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "usage.html")]
struct UsagePage {
    nav: Nav,
    usage: Usage,
    sub: Subscription,
    meters: Vec<Meter>,
    plans: Vec<PlanRow>,
    is_owner: bool,
    owner_email: String,
    trial_days_left: Option<i64>,
    /// A warning sentence for the period's transactions (≥ 80 %), if any.
    warning: Option<String>,
    flash: Option<String>,
    error: String,
}

#[derive(Deserialize)]
pub struct UsageQuery {
    #[serde(default)]
    changed: Option<String>,
}

async fn owner_email(state: &AppState, tenant_id: &str) -> Result<String, ApiError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT email FROM users WHERE tenant_id = $1 AND role = 'owner' ORDER BY created_at LIMIT 1",
    )
    .bind(tenant_id)
    .fetch_optional(state.db.pool())
    .await?;
    Ok(row.map(|(e,)| e).unwrap_or_default())
}

async fn page(
    state: &AppState,
    u: WebUser,
    flash: Option<String>,
    error: String,
) -> Result<UsagePage, ApiError> {
    let usage = summary::for_tenant(&state.db, &u.who.tenant_id).await?;
    let sub = subscription::get(&state.db, &u.who.tenant_id).await?;
    let all = plans::all(&state.db).await?;
    let l = &usage.limits;
    let meters = vec![
        meter(
            "Transactions this month",
            usage.transactions,
            l.transactions_per_month,
        ),
        meter(
            "Production pairs",
            usage.production_pairs,
            l.production_pairs,
        ),
        meter("Sandbox pairs", usage.sandbox_pairs, l.sandbox_pairs),
        meter("Users", usage.users, l.users),
    ];
    let warning = l.transactions_per_month.and_then(|n| {
        let used = usage.transactions;
        let ceiling = l.transactions_ceiling.unwrap_or(n);
        if used >= ceiling {
            Some(format!(
                "You've used {used} of {ceiling} transactions this period. New work is waiting \
                 ({} held). Nothing is lost: it syncs when the period rolls over, or right after \
                 an upgrade.",
                usage.held.count
            ))
        } else if used >= n {
            Some(format!(
                "You've used {used} of the {n} transactions your plan includes this period; \
                 work keeps flowing up to {ceiling}, then waits."
            ))
        } else if used * 5 >= n * 4 {
            Some(format!(
                "You've used {used} of the {n} transactions your plan includes this period (80 %)."
            ))
        } else {
            None
        }
    });
    let rank = |id: &str| all.iter().position(|p| p.id == id).unwrap_or(0);
    let here = rank(&sub.plan);
    let plans = all
        .iter()
        .map(|p| PlanRow {
            price: price(p),
            current: p.id == sub.plan,
            action: if p.id == sub.plan || p.trial_days.is_some() || p.price_cents == 0 {
                ""
            } else if rank(&p.id) > here {
                "Upgrade"
            } else {
                "Downgrade"
            },
            plan: p.clone(),
        })
        .collect();
    let trial_days_left = match (sub.status, sub.trial_ends_at) {
        (Status::Trialing, Some(end)) => {
            Some(((end - now_ms()) as f64 / DAY_MS as f64).ceil().max(0.0) as i64)
        }
        _ => None,
    };
    Ok(UsagePage {
        owner_email: owner_email(state, &u.who.tenant_id).await?,
        is_owner: u.who.role == Role::Owner,
        nav: u.nav,
        usage,
        sub,
        meters,
        plans,
        trial_days_left,
        warning,
        flash,
        error,
    })
}

pub async fn show(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<UsageQuery>,
) -> Result<Response, ApiError> {
    let flash = q.changed.map(|_| "Your plan change is saved.".to_owned());
    Ok(page(&state, u, flash, String::new()).await?.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "plan_confirm.html")]
struct ConfirmPage {
    nav: Nav,
    plan: Plan,
    price: String,
    upgrade: bool,
    takes_effect: String,
    held: i64,
}

#[derive(Deserialize)]
pub struct ConfirmQuery {
    #[serde(default)]
    to: String,
}

/// "Upgrade to Connect": what it costs, when it takes effect, and what
/// starts syncing, before anything changes.
pub async fn confirm(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<ConfirmQuery>,
) -> Result<Response, ApiError> {
    if q.to.is_empty() {
        return Ok(Redirect::to("/usage#plans").into_response());
    }
    let all = plans::all(&state.db).await?;
    let plan = all
        .iter()
        .find(|p| p.id == q.to)
        .cloned()
        .ok_or(ApiError::NotFound("plan"))?;
    let sub = subscription::get(&state.db, &u.who.tenant_id).await?;
    let rank = |id: &str| all.iter().position(|p| p.id == id).unwrap_or(0);
    let upgrade = rank(&plan.id) > rank(&sub.plan);
    let held = crate::billing::holds::held(&state.db, &u.who.tenant_id)
        .await?
        .count;
    Ok(ConfirmPage {
        nav: u.nav,
        price: price(&plan),
        takes_effect: if upgrade {
            "at once".to_owned()
        } else {
            format!("at the end of this period, on {}", day(sub.period_end))
        },
        plan,
        upgrade,
        held,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    csrf: String,
    plan: String,
}

pub async fn change(
    State(state): State<AppState>,
    u: WebUser,
    Form(f): Form<PlanForm>,
) -> Result<Response, Response> {
    check_csrf(&f.csrf, &u.nav.csrf).map_err(IntoResponse::into_response)?;
    if u.who.role != Role::Owner {
        return Err(
            ApiError::Forbidden("only the account's owner changes its plan".into()).into_response(),
        );
    }
    let tenant_id = u.who.tenant_id.clone();
    let changed = subscription::change_plan(
        &state.db,
        &tenant_id,
        f.plan.trim(),
        By::Owner(u.who.actor()),
    )
    .await;
    match changed {
        Ok(_) => {
            crate::sync::holds::release_if_lifted(&state, &tenant_id)
                .await
                .map_err(|e| ApiError::from(e).into_response())?;
            Ok(Redirect::to("/usage?changed=1").into_response())
        }
        Err(e) => {
            let e = ApiError::from(e);
            if matches!(e, ApiError::Internal(_)) {
                return Err(e.into_response());
            }
            let shown = page(&state, u, None, e.public_message())
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(shown.into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "statement.html")]
struct StatementPage {
    nav: Nav,
    s: crate::billing::statement::Statement,
}

impl StatementPage {
    fn money(&self, cents: &i64) -> String {
        format!("${}.{:02}", cents / 100, (cents % 100).abs())
    }
}

/// The month's statement, laid out to print.
pub async fn statement(
    State(state): State<AppState>,
    u: WebUser,
    crate::ids::IdPath(period): crate::ids::IdPath<String>,
) -> Result<Response, ApiError> {
    let period = crate::billing::statement::parse_period(&period, &crate::usage::current_period())
        .map_err(|e| ApiError::invalid("period", e.to_string()))?;
    let s = state
        .billing
        .statement(&state.db, &u.who.tenant_id, &period)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(StatementPage { nav: u.nav, s }.into_response())
}
