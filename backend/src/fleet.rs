//! The operators' view over every tenant: one row each with what says it
//! needs attention (failures, dead letters, usage against the plan, a trial
//! ending, held work), sorted by risk, searchable; and one tenant's detail
//! (usage history, users, pairs, recent audit).

use serde::Serialize;

use crate::db::{Db, now_ms};
use crate::usage::current_period;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub plan: String,
    /// `active` or `suspended`.
    pub status: String,
    /// The subscription's: `trialing`, `active`, `past_due`, `canceled`.
    pub subscription: String,
    pub created_at: i64,
    pub owner_email: String,
    pub users: i64,
    pub pairs: i64,
    pub transactions: i64,
    pub api_calls: i64,
    /// Transactions against what the plan includes, in percent; `None`: unlimited.
    pub usage_percent: Option<i64>,
    pub runs_24h: i64,
    pub failed_24h: i64,
    pub dead_letters: i64,
    pub held: i64,
    pub trial_ends_at: Option<i64>,
    /// Higher needs attention sooner; see [`risk`].
    pub risk: i64,
    /// Why, in words, most pressing first.
    pub reasons: Vec<String>,
}

/// The risk score and its reasons: failing first (failure rate and dead
/// letters), then held work, then usage near the plan, then a trial ending
/// within 3 days.
pub fn risk(t: &TenantRow, now: i64) -> (i64, Vec<String>) {
    let mut score = 0;
    let mut why = Vec::new();
    if t.runs_24h > 0 && t.failed_24h * 10 >= t.runs_24h {
        score += 1000 + t.failed_24h * 100 / t.runs_24h.max(1);
        why.push(format!(
            "{} of {} runs failed in 24 h",
            t.failed_24h, t.runs_24h
        ));
    }
    if t.dead_letters > 0 {
        score += 500 + t.dead_letters.min(499);
        why.push(format!("{} dead letters", t.dead_letters));
    }
    if t.held > 0 {
        score += 400;
        why.push(format!("{} events held by plan", t.held));
    }
    if let Some(p) = t.usage_percent.filter(|p| *p >= 80) {
        score += 200 + p.min(199);
        why.push(format!("{p} % of the plan's transactions"));
    }
    if let Some(end) = t.trial_ends_at.filter(|_| t.subscription == "trialing") {
        let days = (end - now).div_euclid(DAY_MS);
        if days <= 3 {
            score += 100 + (3 - days.max(0)) * 10;
            why.push(if end <= now {
                "trial ended".to_owned()
            } else {
                format!("trial ends in {} d", days.max(0) + 1)
            });
        }
    }
    if t.subscription == "past_due" {
        score += 150;
        why.push("trial over, not upgraded".to_owned());
    }
    (score, why)
}

/// How to order and narrow the list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Name, id or owner e-mail contains this (case-insensitive).
    pub search: Option<String>,
    pub plan: Option<String>,
    pub status: Option<String>,
    /// `risk` (default), `name`, `created`, `usage`.
    pub sort: Option<String>,
}

pub const SORTS: [&str; 4] = ["risk", "name", "created", "usage"];

#[derive(sqlx::FromRow)]
struct Raw {
    id: String,
    name: String,
    plan_id: String,
    status: String,
    sub_status: Option<String>,
    trial_ends_at: Option<i64>,
    created_at: i64,
    owner_email: Option<String>,
    users: i64,
    pairs: i64,
    transactions: Option<i64>,
    api_calls: Option<i64>,
    included: Option<i64>,
    runs_24h: i64,
    failed_24h: i64,
    dead_letters: i64,
    held: i64,
}

/// Every tenant (or one), with its risk.
pub async fn tenants(db: &Db, one: Option<&str>) -> Result<Vec<TenantRow>, sqlx::Error> {
    let now = now_ms();
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT t.id, t.name, t.plan_id, t.status, s.status AS sub_status, s.trial_ends_at, t.created_at, \
           (SELECT u.email FROM users u WHERE u.tenant_id = t.id AND u.role = 'owner' ORDER BY u.created_at LIMIT 1) AS owner_email, \
           (SELECT COUNT(*) FROM users u WHERE u.tenant_id = t.id) AS users, \
           (SELECT COUNT(*) FROM pairs p WHERE p.tenant_id = t.id) AS pairs, \
           (SELECT c.count FROM usage_counters c WHERE c.tenant_id = t.id AND c.period = $1 AND c.metric = 'transactions') AS transactions, \
           (SELECT c.count FROM usage_counters c WHERE c.tenant_id = t.id AND c.period = $1 AND c.metric = 'api_calls') AS api_calls, \
           COALESCE(o.transactions_per_month, pl.transactions_per_month) AS included, \
           (SELECT COUNT(*) FROM runs r WHERE r.tenant_id = t.id AND r.started_at >= $2) AS runs_24h, \
           (SELECT COUNT(*) FROM runs r WHERE r.tenant_id = t.id AND r.started_at >= $2 AND r.status = 'dead') AS failed_24h, \
           (SELECT COUNT(*) FROM dead_letters d WHERE d.tenant_id = t.id AND d.replayed_at IS NULL) AS dead_letters, \
           (SELECT COUNT(*) FROM inbox i WHERE i.tenant_id = t.id AND i.status = 'held') AS held \
         FROM tenants t LEFT JOIN subscriptions s ON s.tenant_id = t.id \
         LEFT JOIN plans pl ON pl.id = t.plan_id LEFT JOIN limit_overrides o ON o.tenant_id = t.id \
         WHERE ($3 = '' OR t.id = $3) ORDER BY t.created_at DESC",
    )
    .bind(current_period())
    .bind(now - DAY_MS)
    .bind(one.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|r| to_row(r, now)).collect())
}

fn to_row(r: Raw, now: i64) -> TenantRow {
    let transactions = r.transactions.unwrap_or(0);
    let mut t = TenantRow {
        id: r.id,
        name: r.name,
        plan: r.plan_id,
        status: r.status,
        subscription: r.sub_status.unwrap_or_else(|| "active".to_owned()),
        trial_ends_at: r.trial_ends_at,
        created_at: r.created_at,
        owner_email: r.owner_email.unwrap_or_default(),
        users: r.users,
        pairs: r.pairs,
        transactions,
        api_calls: r.api_calls.unwrap_or(0),
        usage_percent: r
            .included
            .map(|n| if n <= 0 { 100 } else { transactions * 100 / n }),
        runs_24h: r.runs_24h,
        failed_24h: r.failed_24h,
        dead_letters: r.dead_letters,
        held: r.held,
        risk: 0,
        reasons: Vec::new(),
    };
    let (score, reasons) = risk(&t, now);
    t.risk = score;
    t.reasons = reasons;
    t
}

/// The list as the query asks: filtered, then sorted (risk by default).
pub fn select(mut rows: Vec<TenantRow>, q: &Query) -> Vec<TenantRow> {
    if let Some(s) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let s = s.to_lowercase();
        rows.retain(|t| {
            t.name.to_lowercase().contains(&s)
                || t.id.to_lowercase().contains(&s)
                || t.owner_email.to_lowercase().contains(&s)
        });
    }
    if let Some(p) = q.plan.as_deref().filter(|p| !p.is_empty()) {
        rows.retain(|t| t.plan == p);
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        rows.retain(|t| t.status == s || t.subscription == s);
    }
    match q.sort.as_deref().unwrap_or("risk") {
        "name" => rows.sort_by_key(|t| t.name.to_lowercase()),
        "created" => rows.sort_by_key(|t| std::cmp::Reverse(t.created_at)),
        "usage" => rows.sort_by_key(|t| std::cmp::Reverse(t.usage_percent.unwrap_or(-1))),
        _ => rows.sort_by_key(|t| (std::cmp::Reverse(t.risk), t.name.to_lowercase())),
    }
    rows
}

/// One period's counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodUsage {
    pub period: String,
    pub transactions: i64,
    pub api_calls: i64,
}

/// The tenant's last 12 periods, newest first (periods with no counts are
/// shown as zero).
pub async fn usage_history(db: &Db, tenant_id: &str) -> Result<Vec<PeriodUsage>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT period, metric, count FROM usage_counters WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(db.pool())
            .await?;
    let now = current_period();
    let (mut year, mut month): (i32, i32) = (
        now[..4].parse().unwrap_or(2026),
        now[5..].parse().unwrap_or(1),
    );
    let mut out = Vec::with_capacity(12);
    for _ in 0..12 {
        let period = format!("{year:04}-{month:02}");
        let count = |m: &str| {
            rows.iter()
                .find(|(p, k, _)| *p == period && k == m)
                .map_or(0, |(_, _, n)| *n)
        };
        out.push(PeriodUsage {
            transactions: count("transactions"),
            api_calls: count("api_calls"),
            period,
        });
        month -= 1;
        if month == 0 {
            month = 12;
            year -= 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> TenantRow {
        TenantRow {
            id: format!("tnt_{name}"),
            name: name.into(),
            plan: "connect".into(),
            status: "active".into(),
            subscription: "active".into(),
            created_at: 0,
            owner_email: format!("{name}@x.test"),
            users: 1,
            pairs: 1,
            transactions: 0,
            api_calls: 0,
            usage_percent: Some(10),
            runs_24h: 100,
            failed_24h: 0,
            dead_letters: 0,
            held: 0,
            trial_ends_at: None,
            risk: 0,
            reasons: vec![],
        }
    }

    fn scored(mut t: TenantRow) -> TenantRow {
        let (s, r) = risk(&t, 10 * DAY_MS);
        t.risk = s;
        t.reasons = r;
        t
    }

    #[test]
    fn failing_tenants_come_first_then_held_work_then_usage_then_trials() {
        let quiet = scored(row("quiet"));
        let mut failing = row("failing");
        failing.failed_24h = 30;
        let mut held = row("held");
        held.held = 5;
        let mut busy = row("busy");
        busy.usage_percent = Some(95);
        let mut trial = row("trial");
        trial.subscription = "trialing".into();
        trial.trial_ends_at = Some(11 * DAY_MS);
        let rows = vec![
            quiet,
            scored(trial),
            scored(busy),
            scored(held),
            scored(failing),
        ];
        let names: Vec<String> = select(rows, &Query::default())
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["failing", "held", "busy", "trial", "quiet"]);
    }

    #[test]
    fn search_matches_name_id_or_owner_and_filters_narrow() {
        let rows = vec![scored(row("acme")), scored(row("globex"))];
        let q = Query {
            search: Some("GLOBEX@".into()),
            ..Query::default()
        };
        let found = select(rows.clone(), &q);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "globex");
        let q = Query {
            plan: Some("trial".into()),
            ..Query::default()
        };
        assert!(select(rows, &q).is_empty());
    }
}
