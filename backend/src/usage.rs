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
