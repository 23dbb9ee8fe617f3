//! Usage warnings: when a tenant's transactions this period reach 80 % and
//! 100 % of what its plan includes, and when work starts being held at the
//! plan's ceiling, the owner gets a mail, the audit log a row and the
//! metrics a count, once each per period (the `plan_notices` row decides,
//! so several processes never send one twice). The usage page shows the
//! same as a banner.

use crate::audit::{self, Actor};
use crate::db::now_ms;
use crate::mail::{Mail, UsageWarning};
use crate::state::AppState;
use crate::usage::current_period;

/// The thresholds crossed by `used` of `included`, in percent of
/// `included`: 80, 100, and the ceiling (`100 × multiple`) when it is above.
pub fn crossed(used: i64, included: i64, multiple: i64) -> Vec<i64> {
    let mut out = Vec::new();
    if included <= 0 {
        return out;
    }
    for pct in [80, 100] {
        if used.saturating_mul(100) >= included.saturating_mul(pct) {
            out.push(pct);
        }
    }
    let ceiling = 100 * multiple.max(1);
    if ceiling > 100 && used.saturating_mul(100) >= included.saturating_mul(ceiling) {
        out.push(ceiling);
    }
    out
}

fn words(threshold: i64, used: i64, included: i64) -> (String, String) {
    match threshold {
        80 => (
            "You've used 80 % of your plan's transactions".to_owned(),
            "Work keeps flowing. Upgrade before the period ends to keep room.".to_owned(),
        ),
        100 => (
            "You've used all the transactions your plan includes".to_owned(),
            "Work keeps flowing within fair use; past the plan's ceiling it waits, and nothing is lost."
                .to_owned(),
        ),
        _ => (
            "New work is waiting on your plan's limit".to_owned(),
            format!(
                "{used} transactions are past the plan's ceiling of {}. New events are kept and \
                 sync, oldest first, when the period rolls over or right after an upgrade.",
                included * threshold / 100
            ),
        ),
    }
}

/// One pass over the tenants near or past their plan this period; returns
/// how many warnings were sent.
pub async fn tick(state: &AppState) -> anyhow::Result<usize> {
    let period = current_period();
    type Row = (String, String, String, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.id, t.name, pl.name, u.count, \
           COALESCE(o.transactions_per_month, pl.transactions_per_month), pl.fair_use_multiple \
         FROM usage_counters u JOIN tenants t ON t.id = u.tenant_id \
         JOIN plans pl ON pl.id = t.plan_id LEFT JOIN limit_overrides o ON o.tenant_id = t.id \
         WHERE u.period = $1 AND u.metric = 'transactions' \
           AND COALESCE(o.transactions_per_month, pl.transactions_per_month) IS NOT NULL \
           AND u.count * 100 >= COALESCE(o.transactions_per_month, pl.transactions_per_month) * 80",
    )
    .bind(&period)
    .fetch_all(state.db.pool())
    .await?;
    let mut sent = 0;
    for (tenant_id, company, plan, used, included, multiple) in rows {
        for threshold in crossed(used, included, multiple) {
            if warn(state, &tenant_id, &period, threshold, |owner| {
                let (headline, detail) = words(threshold, used, included);
                let link = format!("{}/usage", state.public_url);
                let facts = UsageWarning {
                    headline: &headline,
                    company: &company,
                    used,
                    period: &period,
                    plan: &plan,
                    included,
                    detail: &detail,
                    link: &link,
                };
                Mail::usage_warning(owner, headline.clone(), &facts, &tenant_id)
            })
            .await?
            {
                sent += 1;
            }
        }
    }
    Ok(sent)
}

/// Records the notice once; when this call is the one that recorded it,
/// writes the audit row, counts it, and mails the owners.
async fn warn(
    state: &AppState,
    tenant_id: &str,
    period: &str,
    threshold: i64,
    mail: impl Fn(&str) -> Result<Mail, crate::mail::MailError>,
) -> anyhow::Result<bool> {
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO plan_notices (tenant_id, period, threshold, created_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (tenant_id, period, threshold) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(period)
    .bind(threshold)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        Some(tenant_id),
        &Actor::system(),
        "usage.warning",
        Some(tenant_id),
        Some(&format!(
            "{threshold} % of the plan's transactions in {period}"
        )),
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("connect_usage_warnings_total", "threshold" => threshold.to_string())
        .increment(1);
    let owners: Vec<(String,)> =
        sqlx::query_as("SELECT email FROM users WHERE tenant_id = $1 AND role = 'owner'")
            .bind(tenant_id)
            .fetch_all(state.db.pool())
            .await?;
    for (owner,) in owners {
        if let Err(e) = state.mailer.send(mail(&owner)?).await {
            tracing::error!(error = %e, tenant_id, "could not mail a usage warning; the banner shows it");
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::crossed;

    #[test]
    fn thresholds_are_80_100_and_the_fair_use_ceiling() {
        assert_eq!(crossed(79, 100, 1), Vec::<i64>::new());
        assert_eq!(crossed(80, 100, 1), [80]);
        assert_eq!(crossed(100, 100, 1), [80, 100]);
        assert_eq!(crossed(299, 100, 3), [80, 100]);
        assert_eq!(crossed(300, 100, 3), [80, 100, 300]);
        assert_eq!(crossed(5, 0, 1), Vec::<i64>::new());
    }
}
