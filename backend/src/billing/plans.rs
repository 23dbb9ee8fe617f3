//! Plans are data: rows an operator can add to, each with the limits the
//! product enforces. A tenant's effective limits are its plan's with the
//! operator's overrides on top.

use serde::Serialize;

use crate::db::Db;

/// How often a plan is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Monthly,
    Annual,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "monthly" => Some(Interval::Monthly),
            "annual" => Some(Interval::Annual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Monthly => "monthly",
            Interval::Annual => "annual",
        }
    }

    pub fn months(self) -> u8 {
        match self {
            Interval::Monthly => 1,
            Interval::Annual => 12,
        }
    }
}

/// What a tenant may have and do. `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Limits {
    pub production_pairs: Option<i64>,
    pub sandbox_pairs: Option<i64>,
    pub users: Option<i64>,
    /// Flows switched on at once in one pair.
    pub flows_per_pair: Option<i64>,
    /// The volume the plan states: warnings at 80 % and 100 % of it.
    pub transactions_per_month: Option<i64>,
    /// Above this, new work is held (never dropped) until the period rolls
    /// over, the plan or limit is raised, or an operator lifts the hold.
    pub transactions_ceiling: Option<i64>,
    /// Requests a minute to our own `/api/v1`.
    pub api_requests_per_minute: Option<i64>,
    /// Outbound calls a minute to the ERPs, as the connector limiters pace them.
    pub api_calls_per_minute: Option<i64>,
}

/// An operator's limits for one tenant; `None` keeps the plan's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Overrides {
    pub production_pairs: Option<i64>,
    pub sandbox_pairs: Option<i64>,
    pub users: Option<i64>,
    pub transactions_per_month: Option<i64>,
    pub api_requests_per_minute: Option<i64>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    /// How the price is stated ("per month, billed annually").
    pub billing: String,
    pub interval: Interval,
    /// Days of free trial a new tenant on this plan gets.
    pub trial_days: Option<i64>,
    /// Multiple of `transactions_per_month` at which work is held: 1 makes
    /// the stated volume a hard limit, 3 is "unlimited within fair use".
    pub fair_use_multiple: i64,
    pub fair_use_note: String,
    /// Cents per started 1,000 transactions past the included volume;
    /// `None`: within fair use they cost nothing more.
    pub overage_cents_per_1000: Option<i64>,
    pub limits: Limits,
}

impl Plan {
    /// This plan's limits with a tenant's overrides on top.
    pub fn limits_with(&self, o: &Overrides) -> Limits {
        let included = o
            .transactions_per_month
            .or(self.limits.transactions_per_month);
        Limits {
            production_pairs: o.production_pairs.or(self.limits.production_pairs),
            sandbox_pairs: o.sandbox_pairs.or(self.limits.sandbox_pairs),
            users: o.users.or(self.limits.users),
            flows_per_pair: self.limits.flows_per_pair,
            transactions_per_month: included,
            transactions_ceiling: included.map(|n| n.saturating_mul(self.fair_use_multiple.max(1))),
            api_requests_per_minute: o
                .api_requests_per_minute
                .or(self.limits.api_requests_per_minute),
            api_calls_per_minute: self.limits.api_calls_per_minute,
        }
    }

    /// Whether going over the stated volume is fair use rather than a limit.
    pub fn is_fair_use(&self) -> bool {
        self.fair_use_multiple > 1
    }
}

type PlanRow = (
    String,
    String,
    i64,
    String,
    String,
    Option<i64>,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn from_row(r: PlanRow) -> Plan {
    let mut plan = Plan {
        id: r.0,
        name: r.1,
        price_cents: r.2,
        billing: r.3,
        interval: Interval::parse(&r.4).unwrap_or(Interval::Monthly),
        trial_days: r.5,
        fair_use_multiple: r.6,
        fair_use_note: r.7,
        overage_cents_per_1000: r.15,
        limits: Limits {
            production_pairs: r.8,
            sandbox_pairs: r.9,
            users: r.10,
            flows_per_pair: r.11,
            transactions_per_month: r.12,
            transactions_ceiling: None,
            api_requests_per_minute: r.13,
            api_calls_per_minute: r.14,
        },
    };
    plan.limits = plan.limits_with(&Overrides::default());
    plan
}

async fn select(db: &Db, filter: &str, id: &str) -> Result<Vec<Plan>, sqlx::Error> {
    let rows: Vec<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, name, price_cents, billing, billing_interval, trial_days, fair_use_multiple, \
         fair_use_note, production_pairs, sandbox_pairs, users, flows_per_pair, \
         transactions_per_month, api_requests_per_minute, api_calls_per_minute, \
         overage_cents_per_1000 FROM plans {filter} ORDER BY position"
    )))
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn get(db: &Db, plan_id: &str) -> Result<Option<Plan>, sqlx::Error> {
    Ok(select(db, "WHERE id = $1", plan_id).await?.pop())
}

/// Every plan, in the order they are offered.
pub async fn all(db: &Db) -> Result<Vec<Plan>, sqlx::Error> {
    select(db, "WHERE $1 = $1", "").await
}

pub async fn overrides(db: &Db, tenant_id: &str) -> Result<Overrides, sqlx::Error> {
    type Row = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT production_pairs, sandbox_pairs, users, transactions_per_month, \
         api_requests_per_minute FROM limit_overrides WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map_or_else(Overrides::default, |r| Overrides {
        production_pairs: r.0,
        sandbox_pairs: r.1,
        users: r.2,
        transactions_per_month: r.3,
        api_requests_per_minute: r.4,
    }))
}

/// A plan an operator adds. Checked by [`NewPlan::check`].
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// Lowercase letters, digits and `-`, 2 to 32 characters.
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    /// How the price reads ("per month, billed annually").
    pub billing: String,
    /// `monthly` or `annual`.
    pub interval: String,
    pub trial_days: Option<i64>,
    #[serde(default = "one")]
    pub fair_use_multiple: i64,
    #[serde(default)]
    pub fair_use_note: String,
    pub overage_cents_per_1000: Option<i64>,
    pub production_pairs: Option<i64>,
    pub sandbox_pairs: Option<i64>,
    pub users: Option<i64>,
    pub flows_per_pair: Option<i64>,
    pub transactions_per_month: Option<i64>,
    pub api_requests_per_minute: Option<i64>,
    pub api_calls_per_minute: Option<i64>,
}

fn one() -> i64 {
    1
}

impl NewPlan {
    /// The first thing wrong, as (field, reason).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let id_ok = (2..=32).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(("id", "use 2 to 32 lowercase letters, digits or '-'".into()));
        }
        for (field, text, max) in [
            ("name", &self.name, 60),
            ("billing", &self.billing, 120),
            ("fair_use_note", &self.fair_use_note, 300),
        ] {
            if text.chars().count() > max || text.chars().any(char::is_control) {
                return Err((
                    field,
                    format!("at most {max} characters, no control characters"),
                ));
            }
        }
        if self.name.trim().is_empty() {
            return Err(("name", "is required".into()));
        }
        if Interval::parse(&self.interval).is_none() {
            return Err(("interval", "use monthly or annual".into()));
        }
        if self.price_cents < 0 {
            return Err(("price_cents", "cannot be negative".into()));
        }
        if !(1..=100).contains(&self.fair_use_multiple) {
            return Err(("fair_use_multiple", "use 1 (a hard limit) to 100".into()));
        }
        for (field, value) in [
            ("trial_days", self.trial_days),
            ("overage_cents_per_1000", self.overage_cents_per_1000),
            ("production_pairs", self.production_pairs),
            ("sandbox_pairs", self.sandbox_pairs),
            ("users", self.users),
            ("flows_per_pair", self.flows_per_pair),
            ("transactions_per_month", self.transactions_per_month),
            ("api_requests_per_minute", self.api_requests_per_minute),
            ("api_calls_per_minute", self.api_calls_per_minute),
        ] {
            if value.is_some_and(|n| !(0..=1_000_000_000_000).contains(&n)) {
                return Err((
                    field,
                    "must be 0 or more (leave it out for unlimited)".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Adds a plan after the others; `Ok(false)` when its id is taken.
pub async fn create(
    db: &Db,
    p: &NewPlan,
    actor: &crate::audit::Actor<'_>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let (next,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(position), 0) + 1 FROM plans")
        .fetch_one(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO plans (id, name, price_cents, billing, production_pairs, sandbox_pairs, users, \
         transactions_per_month, api_calls_per_minute, fair_use_note, position, api_requests_per_minute, \
         flows_per_pair, fair_use_multiple, billing_interval, trial_days, overage_cents_per_1000) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
    )
    .bind(&p.id)
    .bind(p.name.trim())
    .bind(p.price_cents)
    .bind(&p.billing)
    .bind(p.production_pairs)
    .bind(p.sandbox_pairs)
    .bind(p.users)
    .bind(p.transactions_per_month)
    .bind(p.api_calls_per_minute)
    .bind(&p.fair_use_note)
    .bind(next)
    .bind(p.api_requests_per_minute)
    .bind(p.flows_per_pair)
    .bind(p.fair_use_multiple)
    .bind(&p.interval)
    .bind(p.trial_days)
    .bind(p.overage_cents_per_1000)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(false),
        other => {
            other?;
        }
    }
    crate::audit::record(
        &mut tx,
        None,
        actor,
        "plan.created",
        Some(&p.id),
        Some(&p.name),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Sets an operator's limits for the tenant (all of them: a limit left out
/// goes back to the plan's), with the operator and the reason in the audit.
pub async fn set_overrides(
    db: &Db,
    tenant_id: &str,
    o: &Overrides,
    actor: &crate::audit::Actor<'_>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let now = crate::db::now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM limit_overrides WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    if !o.is_empty() {
        sqlx::query(
            "INSERT INTO limit_overrides (tenant_id, production_pairs, sandbox_pairs, users, \
             transactions_per_month, api_requests_per_minute, updated_at, updated_by, reason) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(tenant_id)
        .bind(o.production_pairs)
        .bind(o.sandbox_pairs)
        .bind(o.users)
        .bind(o.transactions_per_month)
        .bind(o.api_requests_per_minute)
        .bind(now)
        .bind(actor.email.unwrap_or("system"))
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    }
    let shown = |n: Option<i64>| n.map_or_else(|| "plan".to_owned(), |n| n.to_string());
    let detail = format!(
        "production_pairs {}, sandbox_pairs {}, users {}, transactions_per_month {}, \
         api_requests_per_minute {}; reason: {reason}",
        shown(o.production_pairs),
        shown(o.sandbox_pairs),
        shown(o.users),
        shown(o.transactions_per_month),
        shown(o.api_requests_per_minute),
    );
    crate::audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "plan.limits_overridden",
        Some(tenant_id),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A tenant's plan and its effective limits.
pub async fn of_tenant(db: &Db, tenant_id: &str) -> Result<(Plan, Limits), sqlx::Error> {
    let (plan_id,): (String,) = sqlx::query_as("SELECT plan_id FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(db.pool())
        .await?;
    let plan = get(db, &plan_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let limits = plan.limits_with(&overrides(db, tenant_id).await?);
    Ok((plan, limits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect() -> Plan {
        Plan {
            id: "connect".into(),
            name: "Connect".into(),
            price_cents: 59900,
            billing: String::new(),
            interval: Interval::Annual,
            trial_days: None,
            fair_use_multiple: 3,
            fair_use_note: String::new(),
            overage_cents_per_1000: None,
            limits: Limits {
                production_pairs: Some(1),
                transactions_per_month: Some(50_000),
                api_requests_per_minute: Some(3000),
                ..Limits::default()
            },
        }
    }

    #[test]
    fn overrides_replace_the_plans_numbers_and_move_the_ceiling_with_the_volume() {
        let plan = connect();
        let plain = plan.limits_with(&Overrides::default());
        assert_eq!(plain.transactions_ceiling, Some(150_000));
        assert_eq!(plain.production_pairs, Some(1));
        let raised = plan.limits_with(&Overrides {
            production_pairs: Some(4),
            transactions_per_month: Some(100_000),
            ..Overrides::default()
        });
        assert_eq!(raised.production_pairs, Some(4));
        assert_eq!(raised.transactions_ceiling, Some(300_000));
        assert_eq!(raised.api_requests_per_minute, Some(3000));
    }

    #[test]
    fn a_hard_limit_plan_holds_at_its_stated_volume_and_unlimited_stays_unlimited() {
        let mut trial = connect();
        trial.fair_use_multiple = 1;
        trial.limits.transactions_per_month = Some(1000);
        assert_eq!(
            trial
                .limits_with(&Overrides::default())
                .transactions_ceiling,
            Some(1000)
        );
        trial.limits.transactions_per_month = None;
        assert_eq!(
            trial
                .limits_with(&Overrides::default())
                .transactions_ceiling,
            None
        );
    }
}
