//! What a tenant used this period against what its plan allows: the
//! usage page's and `GET /api/v1/usage`'s summary. The counts come from
//! metering (`crate::usage`), the limits from the plan and its overrides.

use serde::Serialize;

use crate::db::Db;
use crate::usage::{API_CALLS, TRANSACTIONS, current_period};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanLimits {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub billing: String,
    /// `null` means unlimited.
    pub production_pairs: Option<i64>,
    pub sandbox_pairs: Option<i64>,
    pub users: Option<i64>,
    pub transactions_per_month: Option<i64>,
    pub api_calls_per_minute: Option<i64>,
    pub fair_use_note: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub period: String,
    pub plan: PlanLimits,
    /// The limits in force: the plan's, with an operator's overrides.
    pub limits: super::Limits,
    pub trial_ends_at: Option<i64>,
    /// Work the plan holds: how many events, and when the oldest arrived.
    pub held: super::Held,
    pub transactions: i64,
    pub api_calls: i64,
    pub production_pairs: i64,
    pub sandbox_pairs: i64,
    pub users: i64,
}

impl From<&super::Plan> for PlanLimits {
    fn from(p: &super::Plan) -> Self {
        PlanLimits {
            id: p.id.clone(),
            name: p.name.clone(),
            price_cents: p.price_cents,
            billing: p.billing.clone(),
            production_pairs: p.limits.production_pairs,
            sandbox_pairs: p.limits.sandbox_pairs,
            users: p.limits.users,
            transactions_per_month: p.limits.transactions_per_month,
            api_calls_per_minute: p.limits.api_calls_per_minute,
            fair_use_note: p.fair_use_note.clone(),
        }
    }
}

pub async fn for_tenant(db: &Db, tenant_id: &str) -> Result<Usage, sqlx::Error> {
    let period = current_period();
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT metric, count FROM usage_counters WHERE tenant_id = $1 AND period = $2",
    )
    .bind(tenant_id)
    .bind(&period)
    .fetch_all(db.pool())
    .await?;
    let count = |m: &str| counts.iter().find(|(k, _)| k == m).map_or(0, |(_, v)| *v);
    let pairs: Vec<(String, i64)> = sqlx::query_as(
        "SELECT environment, COUNT(*) FROM pairs WHERE tenant_id = $1 GROUP BY environment",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    let pairs_in = |env: &str| pairs.iter().find(|(k, _)| k == env).map_or(0, |(_, v)| *v);
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(db.pool())
        .await?;
    let (plan, limits) = super::plans::of_tenant(db, tenant_id).await?;
    let trial_ends_at: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT trial_ends_at FROM subscriptions WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(db.pool())
            .await?;
    let held = super::holds::held(db, tenant_id).await?;
    Ok(Usage {
        period,
        plan: PlanLimits::from(&plan),
        limits,
        trial_ends_at: trial_ends_at.and_then(|(t,)| t),
        held,
        transactions: count(TRANSACTIONS),
        api_calls: count(API_CALLS),
        production_pairs: pairs_in("production"),
        sandbox_pairs: pairs_in("sandbox"),
        users,
    })
}
