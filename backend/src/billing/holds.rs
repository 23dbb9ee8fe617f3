//! When the plan holds a tenant's work: the trial ended (production pairs
//! only), or the period's transactions reached the plan's ceiling. Held work
//! is accepted and kept, never dropped: it runs, in arrival order, once the
//! hold no longer applies (a new period, an upgrade, a raised limit, an
//! operator's grace or release).

use serde::Serialize;

use super::subscription::Status;

/// What the plan says about a tenant's work now, read with each job.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct PlanState {
    pub plan_name: Option<String>,
    pub sub_status: Option<String>,
    pub trial_ends_at: Option<i64>,
    pub grace_until: Option<i64>,
    pub holds_lifted_period: Option<String>,
    /// The period's transactions so far.
    pub transactions: Option<i64>,
    /// Work of the tenant running now that arrived before the row being
    /// decided: it may become transactions, so it counts against the
    /// ceiling, and the oldest row always goes first.
    #[sqlx(default)]
    pub in_flight_before: Option<i64>,
    /// The stated volume (after an operator's override) and its multiple.
    pub included: Option<i64>,
    pub fair_use_multiple: Option<i64>,
}

impl PlanState {
    /// Why work of a pair (production or not) is held now, if it is.
    pub fn hold_reason(&self, production: bool, now: i64, period: &str) -> Option<String> {
        if self.grace_until.is_some_and(|g| now < g)
            || self.holds_lifted_period.as_deref() == Some(period)
        {
            return None;
        }
        let plan = self.plan_name.as_deref().unwrap_or("current");
        let status = self.sub_status.as_deref().and_then(Status::parse);
        let trial_over = match status {
            Some(Status::Trialing) => self.trial_ends_at.is_some_and(|end| now >= end),
            Some(Status::PastDue | Status::Canceled) => true,
            _ => false,
        };
        if production && trial_over {
            return Some(match status {
                Some(Status::Canceled) => {
                    "held by plan: the subscription is canceled; production work waits for a plan"
                        .to_owned()
                }
                _ => "held by plan: the trial has ended; production work waits for an upgrade"
                    .to_owned(),
            });
        }
        let ceiling = self
            .included
            .map(|n| n.saturating_mul(self.fair_use_multiple.unwrap_or(1).max(1)))?;
        let used = self.transactions.unwrap_or(0);
        (used + self.in_flight_before.unwrap_or(0) >= ceiling).then(|| {
            format!(
                "held by plan: {used} of the {plan} plan's {ceiling} transactions this period are used"
            )
        })
    }
}

/// The tenant's plan state for `period` (`usage::current_period()`); with
/// `before` (a row being decided: its `received_at` and id), the work
/// running now that arrived before it.
pub async fn plan_state(
    db: &crate::db::Db,
    tenant_id: &str,
    period: &str,
    before: Option<(i64, &str)>,
) -> Result<PlanState, sqlx::Error> {
    let (received, row_id) = before.unwrap_or((i64::MIN, ""));
    let found: Option<PlanState> = sqlx::query_as(
        "SELECT pl.name AS plan_name, s.status AS sub_status, s.trial_ends_at, s.grace_until, \
           s.holds_lifted_period, u.count AS transactions, \
           (SELECT COUNT(*) FROM inbox i WHERE i.tenant_id = t.id AND i.status = 'processing' \
              AND i.lease_until > $5 AND i.id <> $4 \
              AND (i.received_at < $3 OR (i.received_at = $3 AND i.id < $4))) AS in_flight_before, \
           COALESCE(o.transactions_per_month, pl.transactions_per_month) AS included, \
           pl.fair_use_multiple \
         FROM tenants t LEFT JOIN plans pl ON pl.id = t.plan_id \
         LEFT JOIN subscriptions s ON s.tenant_id = t.id \
         LEFT JOIN limit_overrides o ON o.tenant_id = t.id \
         LEFT JOIN usage_counters u ON u.tenant_id = t.id AND u.period = $2 AND u.metric = 'transactions' \
         WHERE t.id = $1",
    )
    .bind(tenant_id)
    .bind(period)
    .bind(received)
    .bind(row_id)
    .bind(crate::db::now_ms())
    .fetch_optional(db.pool())
    .await?;
    let mut state = found.unwrap_or_default();
    if before.is_none() {
        state.in_flight_before = None;
    }
    Ok(state)
}

/// Held work, for the usage page and the admin portal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Held {
    pub count: i64,
    /// When the oldest held event arrived (Unix ms).
    pub oldest_at: Option<i64>,
}

/// The tenant's held work: how many events, and when the oldest arrived.
pub async fn held(db: &crate::db::Db, tenant_id: &str) -> Result<Held, sqlx::Error> {
    let (count, oldest_at): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(received_at) FROM inbox WHERE tenant_id = $1 AND status = 'held'",
    )
    .bind(tenant_id)
    .fetch_one(db.pool())
    .await?;
    Ok(Held { count, oldest_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(transactions: i64) -> PlanState {
        PlanState {
            plan_name: Some("Trial".into()),
            sub_status: Some("trialing".into()),
            trial_ends_at: Some(1_000),
            transactions: Some(transactions),
            included: Some(100),
            fair_use_multiple: Some(1),
            ..PlanState::default()
        }
    }

    #[test]
    fn a_trial_holds_production_after_its_end_and_every_pair_at_its_ceiling() {
        let s = trial(10);
        assert_eq!(s.hold_reason(true, 999, "2026-12"), None);
        assert!(
            s.hold_reason(true, 1_000, "2026-12")
                .unwrap()
                .contains("trial has ended")
        );
        // Sandbox pairs stay usable after the trial.
        assert_eq!(s.hold_reason(false, 5_000, "2026-12"), None);
        let full = trial(100);
        let why = full.hold_reason(false, 10, "2026-12").unwrap();
        assert!(
            why.contains("100 of the Trial plan's 100 transactions"),
            "{why}"
        );
    }

    #[test]
    fn work_already_running_counts_against_the_ceiling_and_the_oldest_goes_first() {
        let mut s = trial(98);
        s.trial_ends_at = None;
        // Two slots left: the oldest row and the one after it go, the third waits.
        s.in_flight_before = Some(0);
        assert_eq!(s.hold_reason(false, 0, "p"), None);
        s.in_flight_before = Some(1);
        assert_eq!(s.hold_reason(false, 0, "p"), None);
        s.in_flight_before = Some(2);
        assert!(s.hold_reason(false, 0, "p").is_some());
    }

    #[test]
    fn fair_use_holds_only_at_its_multiple_and_grace_or_a_release_lifts_holds() {
        let mut s = PlanState {
            plan_name: Some("Connect".into()),
            sub_status: Some("active".into()),
            transactions: Some(250),
            included: Some(100),
            fair_use_multiple: Some(3),
            ..PlanState::default()
        };
        assert_eq!(s.hold_reason(true, 0, "2026-12"), None);
        s.transactions = Some(300);
        assert!(s.hold_reason(true, 0, "2026-12").is_some());
        s.holds_lifted_period = Some("2026-12".into());
        assert_eq!(s.hold_reason(true, 0, "2026-12"), None);
        assert!(s.hold_reason(true, 0, "2027-01").is_some());
        s.grace_until = Some(50);
        assert_eq!(s.hold_reason(true, 10, "2027-01"), None);
        // Unlimited plans never hold.
        s.included = None;
        s.grace_until = None;
        assert_eq!(s.hold_reason(true, 100, "2027-01"), None);
    }
}
