//! Monthly usage statements, and the seam where a payment provider plugs
//! in. [`BillingProvider`] turns a tenant's period into a statement; the
//! built-in [`InvoiceProvider`] prices it from the plan and the metered
//! counts and charges nothing (no cards here). A Stripe or Chargebee
//! provider would implement the same trait and push the statement's lines
//! as invoice items.

use serde::Serialize;

use super::plans::{self, Plan};
use crate::db::Db;
use crate::usage::{API_CALLS, TRANSACTIONS};

#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("{0}")]
    Period(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// One priced line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub description: String,
    pub quantity: i64,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub tenant_id: String,
    pub company: String,
    /// `2026-12`: a UTC calendar month, as usage is counted.
    pub period: String,
    pub plan: String,
    pub plan_name: String,
    pub interval: String,
    pub transactions: i64,
    /// What the plan includes (after an operator's override); `None`: unlimited.
    pub included_transactions: Option<i64>,
    pub overage_transactions: i64,
    pub overage_cents: i64,
    pub api_calls: i64,
    pub lines: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
    /// Which provider made it.
    pub provider: String,
}

impl Statement {
    /// The statement as CSV: one row per line, then the total.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let money = |c: i64| format!("{}.{:02}", c / 100, (c % 100).abs());
        let _ = w.write_record([
            "period",
            "company",
            "plan",
            "description",
            "quantity",
            "amount",
        ]);
        for l in &self.lines {
            let _ = w.write_record([
                self.period.as_str(),
                self.company.as_str(),
                self.plan_name.as_str(),
                l.description.as_str(),
                &l.quantity.to_string(),
                &money(l.amount_cents),
            ]);
        }
        let _ = w.write_record([
            self.period.as_str(),
            self.company.as_str(),
            self.plan_name.as_str(),
            "Total",
            "",
            &money(self.total_cents),
        ]);
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

/// Checks a period (`YYYY-MM`, not in the future).
pub fn parse_period(raw: &str, now_period: &str) -> Result<String, StatementError> {
    let raw = raw.trim();
    let ok = raw.len() == 7
        && raw.as_bytes()[4] == b'-'
        && raw[..4].bytes().all(|b| b.is_ascii_digit())
        && raw[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    if !ok {
        return Err(StatementError::Period(format!(
            "'{raw}' is not a period: use YYYY-MM, e.g. {now_period}"
        )));
    }
    if raw > now_period {
        return Err(StatementError::Period(format!(
            "{raw} has not started yet; the current period is {now_period}"
        )));
    }
    Ok(raw.to_owned())
}

/// The priced lines for a period's counts on a plan.
pub fn price(plan: &Plan, included: Option<i64>, transactions: i64) -> (Vec<Line>, i64, i64) {
    let mut lines = vec![Line {
        description: format!("{} plan, {}", plan.name, plan.billing),
        quantity: 1,
        amount_cents: plan.price_cents,
    }];
    let over = included.map_or(0, |n| (transactions - n).max(0));
    let over_cents = match plan.overage_cents_per_1000 {
        Some(per_1000) if over > 0 => (over + 999) / 1000 * per_1000,
        _ => 0,
    };
    if over > 0 {
        lines.push(Line {
            description: if over_cents == 0 {
                "Transactions past the included volume (within fair use)".to_owned()
            } else {
                "Transactions past the included volume".to_owned()
            },
            quantity: over,
            amount_cents: over_cents,
        });
    }
    (lines, over, over_cents)
}

#[async_trait::async_trait]
pub trait BillingProvider: Send + Sync {
    fn name(&self) -> &'static str;
    async fn statement(
        &self,
        db: &Db,
        tenant_id: &str,
        period: &str,
    ) -> Result<Statement, StatementError>;
}

/// Statements from the metered counts, for printing or export.
pub struct InvoiceProvider;

#[async_trait::async_trait]
impl BillingProvider for InvoiceProvider {
    fn name(&self) -> &'static str {
        "invoice"
    }

    async fn statement(
        &self,
        db: &Db,
        tenant_id: &str,
        period: &str,
    ) -> Result<Statement, StatementError> {
        let (plan, limits) = plans::of_tenant(db, tenant_id).await?;
        let (company,): (String,) = sqlx::query_as("SELECT name FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_one(db.pool())
            .await?;
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT metric, count FROM usage_counters WHERE tenant_id = $1 AND period = $2",
        )
        .bind(tenant_id)
        .bind(period)
        .fetch_all(db.pool())
        .await?;
        let count = |m: &str| counts.iter().find(|(k, _)| k == m).map_or(0, |(_, n)| *n);
        let transactions = count(TRANSACTIONS);
        let included = limits.transactions_per_month;
        let (lines, overage_transactions, overage_cents) = price(&plan, included, transactions);
        Ok(Statement {
            tenant_id: tenant_id.to_owned(),
            company,
            period: period.to_owned(),
            total_cents: lines.iter().map(|l| l.amount_cents).sum(),
            plan: plan.id.clone(),
            plan_name: plan.name.clone(),
            interval: plan.interval.as_str().to_owned(),
            transactions,
            included_transactions: included,
            overage_transactions,
            overage_cents,
            api_calls: count(API_CALLS),
            lines,
            currency: "USD".to_owned(),
            provider: self.name().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::plans::{Interval, Limits};

    fn plan(overage: Option<i64>) -> Plan {
        Plan {
            id: "connect".into(),
            name: "Connect".into(),
            price_cents: 59900,
            billing: "per month, billed annually".into(),
            interval: Interval::Annual,
            trial_days: None,
            fair_use_multiple: 3,
            fair_use_note: String::new(),
            overage_cents_per_1000: overage,
            limits: Limits::default(),
        }
    }

    #[test]
    fn overage_is_counted_and_priced_only_when_the_plan_prices_it() {
        let (lines, over, cents) = price(&plan(None), Some(50_000), 52_500);
        assert_eq!((over, cents), (2_500, 0));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].amount_cents, 59900);
        let (_, over, cents) = price(&plan(Some(500)), Some(50_000), 52_500);
        assert_eq!((over, cents), (2_500, 1_500), "3 started thousands at $5");
        let (lines, over, _) = price(&plan(Some(500)), Some(50_000), 10);
        assert_eq!((lines.len(), over), (1, 0));
    }

    #[test]
    fn periods_are_months_up_to_now() {
        assert_eq!(parse_period("2026-11", "2026-12").unwrap(), "2026-11");
        for bad in ["2026-13", "26-11", "2026/11", "2027-01", ""] {
            assert!(parse_period(bad, "2026-12").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_csv_has_a_row_per_line_and_the_total() {
        let (lines, over, cents) = price(&plan(Some(500)), Some(50_000), 52_500);
        let s = Statement {
            tenant_id: "tnt_1".into(),
            company: "Acme, Inc.".into(),
            period: "2026-11".into(),
            plan: "connect".into(),
            plan_name: "Connect".into(),
            interval: "annual".into(),
            transactions: 52_500,
            included_transactions: Some(50_000),
            overage_transactions: over,
            overage_cents: cents,
            api_calls: 9,
            total_cents: lines.iter().map(|l| l.amount_cents).sum(),
            lines,
            currency: "USD".into(),
            provider: "invoice".into(),
        };
        let csv = s.to_csv();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 4, "{csv}");
        assert!(rows[1].contains("\"Acme, Inc.\""), "{csv}");
        assert!(rows[3].ends_with("Total,,614.00"), "{csv}");
    }
}
