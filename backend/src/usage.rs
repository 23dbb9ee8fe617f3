//! Metering: every processed transaction and every outbound API call is counted
//! per tenant per calendar month (UTC), exactly: each count is an upsert in
//! the transaction of the work it counts where there is one. A sync attempt's
//! API calls are tallied in memory while it runs and stored with its outcome
//! ([`CallTally`]); calls a person waits on (testing a connection) are stored
//! as they go.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use std::time::Duration;

use connect_jobs::connectors::{CallGate, CallPermit, ConnectorError, System};
use connect_jobs::limits::{Admission, Limiter, Limits};
use serde::Serialize;

use crate::db::Db;

pub const TRANSACTIONS: &str = "transactions";
pub const API_CALLS: &str = "api_calls";

/// `2026-11` for now.
pub fn current_period() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

pub async fn add(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    metric: &str,
    n: i64,
) -> Result<(), sqlx::Error> {
    add_counts(conn, tenant_id, &[(metric, n)]).await
}

/// Adds several metrics' counts in one statement; zero counts are left out.
pub async fn add_counts(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    counts: &[(&str, i64)],
) -> Result<(), sqlx::Error> {
    let counts: Vec<_> = counts.iter().filter(|(_, n)| *n != 0).collect();
    if counts.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..counts.len())
        .map(|i| format!("($1, $2, ${}, ${})", 3 + 2 * i, 4 + 2 * i))
        .collect();
    let sql = format!(
        "INSERT INTO usage_counters (tenant_id, period, metric, count) VALUES {} \
         ON CONFLICT (tenant_id, period, metric) DO UPDATE SET count = usage_counters.count + excluded.count",
        rows.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(current_period());
    for (metric, n) in counts {
        query = query.bind(*metric).bind(*n);
    }
    query.execute(conn).await?;
    Ok(())
}

/// API calls made and not yet stored: a sync attempt's calls are stored with
/// its outcome, in its transaction, instead of one write per call. Whatever
/// is taken and then not stored is given back.
#[derive(Debug, Default)]
pub struct CallTally(AtomicI64);

impl CallTally {
    pub fn take(&self) -> i64 {
        self.0.swap(0, Ordering::AcqRel)
    }

    pub fn give_back(&self, n: i64) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    fn count(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Where a gate's counts go.
pub enum Metering {
    /// Stored as each call goes.
    Each,
    /// Held for the caller to store ([`CallTally`]).
    Tallied(Arc<CallTally>),
}

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
    pub limits: crate::billing::Limits,
    pub trial_ends_at: Option<i64>,
    /// Work the plan holds: how many events, and when the oldest arrived.
    pub held: crate::billing::Held,
    pub transactions: i64,
    pub api_calls: i64,
    pub production_pairs: i64,
    pub sandbox_pairs: i64,
    pub users: i64,
}

pub async fn plan(db: &Db, plan_id: &str) -> Result<Option<PlanLimits>, sqlx::Error> {
    type Row = (
        String,
        String,
        i64,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        String,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, name, price_cents, billing, production_pairs, sandbox_pairs, users, \
         transactions_per_month, api_calls_per_minute, fair_use_note FROM plans WHERE id = $1",
    )
    .bind(plan_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| PlanLimits {
        id: r.0,
        name: r.1,
        price_cents: r.2,
        billing: r.3,
        production_pairs: r.4,
        sandbox_pairs: r.5,
        users: r.6,
        transactions_per_month: r.7,
        api_calls_per_minute: r.8,
        fair_use_note: r.9,
    }))
}

pub async fn plans(db: &Db) -> Result<Vec<PlanLimits>, sqlx::Error> {
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM plans ORDER BY position")
        .fetch_all(db.pool())
        .await?;
    let mut out = Vec::new();
    for (id,) in ids {
        if let Some(p) = plan(db, &id).await? {
            out.push(p);
        }
    }
    Ok(out)
}

pub async fn for_tenant(db: &Db, tenant_id: &str, plan_id: &str) -> Result<Usage, sqlx::Error> {
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
    let plan = plan(db, plan_id)
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound)?;
    let (_, limits) = crate::billing::plans::of_tenant(db, tenant_id).await?;
    let trial_ends_at: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT trial_ends_at FROM subscriptions WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(db.pool())
            .await?;
    let held = crate::billing::holds::held(db, tenant_id).await?;
    Ok(Usage {
        period,
        plan,
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

/// Admits a tenant's outbound calls under its limits on each system, and
/// counts the ones that go.
pub struct TenantGate {
    pub db: Db,
    pub tenant_id: String,
    pub limiter: Arc<dyn Limiter>,
    /// How long a call may wait for its turn before its job is put back.
    pub max_wait: Duration,
    pub metering: Metering,
}

impl TenantGate {
    pub fn shared(
        db: Db,
        limiter: Arc<dyn Limiter>,
        tenant_id: &str,
        max_wait: Duration,
        metering: Metering,
    ) -> Arc<dyn CallGate> {
        Arc::new(Self {
            db,
            tenant_id: tenant_id.to_owned(),
            limiter,
            max_wait,
            metering,
        })
    }
}

/// What each system tolerates from one customer, from the specs: Clarity 120
/// requests a minute per client; Sage Intacct about two concurrent requests
/// per company; Sage Pro 60 requests a minute per key and one write at a time
/// (held as one call at a time).
pub fn default_limits(system: System) -> Limits {
    match system {
        System::Clarity => Limits {
            per_minute: Some(120),
            concurrent: None,
        },
        System::Intacct => Limits {
            per_minute: None,
            concurrent: Some(2),
        },
        System::Sagepro => Limits {
            per_minute: Some(60),
            concurrent: Some(1),
        },
    }
}

#[async_trait::async_trait]
impl CallGate for TenantGate {
    async fn admit(&self, system: System) -> Result<CallPermit, ConnectorError> {
        let key = format!("{}:{}", self.tenant_id, system.as_str());
        let permit = match self
            .limiter
            .admit(&key, default_limits(system), self.max_wait)
            .await
        {
            Ok(Admission::Go(permit)) => permit,
            Ok(Admission::NotBefore(wait)) => {
                metrics::counter!("connect_outbound_throttled_total", "system" => system.as_str())
                    .increment(1);
                return Err(ConnectorError::Throttled { system, wait });
            }
            Err(e) => {
                return Err(ConnectorError::Connect {
                    system,
                    message: e.to_string(),
                });
            }
        };
        metrics::counter!("connect_outbound_calls_total", "system" => system.as_str()).increment(1);
        if let Metering::Tallied(tally) = &self.metering {
            tally.count();
            return Ok(permit);
        }
        let result = async {
            let mut conn = self.db.pool().acquire().await?;
            add(&mut conn, &self.tenant_id, API_CALLS, 1).await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, tenant_id = %self.tenant_id, "could not count an API call");
        }
        Ok(permit)
    }
}
