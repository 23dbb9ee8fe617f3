//! Each tenant's subscription: plan, billing interval, status and current
//! period. It changes only through the actions here (sign-up, an owner's
//! upgrade or downgrade, an operator's plan, override or grace, and the
//! rollover of a period), each in one transaction with its audit row.

use serde::Serialize;

use super::plans::{self, Interval, Plan};
use crate::audit::{self, Actor};
use crate::db::{Db, now_ms};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Trialing,
    Active,
    /// The trial ended (or a payment failed): production work is held.
    PastDue,
    Canceled,
    /// An operator suspended the tenant.
    Suspended,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "trialing" => Some(Status::Trialing),
            "active" => Some(Status::Active),
            "past_due" => Some(Status::PastDue),
            "canceled" => Some(Status::Canceled),
            "suspended" => Some(Status::Suspended),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Trialing => "trialing",
            Status::Active => "active",
            Status::PastDue => "past_due",
            Status::Canceled => "canceled",
            Status::Suspended => "suspended",
        }
    }
}

/// A downgrade that takes effect when the period ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PendingChange {
    pub plan: String,
    pub at: i64,
}

/// Times are Unix milliseconds, like every time in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub plan: String,
    pub interval: Interval,
    pub status: Status,
    pub period_start: i64,
    pub period_end: i64,
    pub trial_ends_at: Option<i64>,
    /// The renewal date: when the next period starts.
    pub renews_at: i64,
    pub pending_change: Option<PendingChange>,
    /// Until then, an expired trial or a plan's transaction ceiling holds
    /// nothing: an operator's grace period.
    pub grace_until: Option<i64>,
}

impl Subscription {
    /// Whether production work may run now: a lapsed trial or a past-due or
    /// canceled subscription holds it, unless an operator granted grace.
    pub fn runs_production(&self, now: i64) -> bool {
        if self.grace_until.is_some_and(|g| now < g) {
            return true;
        }
        match self.status {
            Status::Active => true,
            Status::Trialing => self.trial_ends_at.is_none_or(|end| now < end),
            Status::PastDue | Status::Canceled | Status::Suspended => false,
        }
    }

    pub fn in_grace(&self, now: i64) -> bool {
        self.grace_until.is_some_and(|g| now < g)
    }
}

/// The UTC date of `ms`, for audit details.
fn date(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// `ms` moved by whole calendar months, the day kept where the month has it
/// (Jan 31 + 1 month = Feb 28/29), in UTC.
pub fn add_months(ms: i64, months: u8) -> i64 {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.saturating_add(i64::from(months) * 30 * DAY_MS);
    };
    let total = i32::from(u8::from(t.month())) - 1 + i32::from(months);
    let year = t.year() + total.div_euclid(12);
    let month =
        time::Month::try_from((total.rem_euclid(12) + 1) as u8).unwrap_or(time::Month::January);
    let day = t.day().min(month.length(year));
    let moved = time::Date::from_calendar_date(year, month, day)
        .map(|d| t.replace_date(d))
        .unwrap_or(t);
    (moved.unix_timestamp_nanos() / 1_000_000) as i64
}

/// What a period end (or a trial end) does to a subscription at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollover {
    /// The trial is over: production work is held until an upgrade.
    TrialEnded,
    /// A new period starts at the old end, with the pending plan if any.
    NewPeriod {
        start: i64,
        end: i64,
        plan: Option<String>,
    },
}

/// The rollovers due at `now`, in order. A subscription asleep for several
/// periods rolls straight to the one containing `now`.
pub fn due(sub: &Subscription, now: i64) -> Option<Rollover> {
    match sub.status {
        Status::Trialing => sub
            .trial_ends_at
            .filter(|end| now >= *end)
            .map(|_| Rollover::TrialEnded),
        Status::Active if now >= sub.period_end => {
            let mut start = sub.period_end;
            let mut end = add_months(start, sub.interval.months());
            while now >= end && end > start {
                start = end;
                end = add_months(start, sub.interval.months());
            }
            Some(Rollover::NewPeriod {
                start,
                end,
                plan: sub.pending_change.as_ref().map(|p| p.plan.clone()),
            })
        }
        _ => None,
    }
}

type Row = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    String,
);

const SELECT: &str = "SELECT t.plan_id, s.billing_interval, s.status, s.period_start, s.period_end, \
     s.trial_ends_at, s.pending_plan_id, s.grace_until, t.status \
     FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id WHERE s.tenant_id = $1";

fn from_row(r: Row) -> Subscription {
    let suspended = r.8 == "suspended";
    Subscription {
        plan: r.0,
        interval: Interval::parse(&r.1).unwrap_or(Interval::Monthly),
        status: if suspended {
            Status::Suspended
        } else {
            Status::parse(&r.2).unwrap_or(Status::Active)
        },
        period_start: r.3,
        period_end: r.4,
        trial_ends_at: r.5,
        renews_at: r.4,
        pending_change: r.6.map(|plan| PendingChange { plan, at: r.4 }),
        grace_until: r.7,
    }
}

pub async fn get(db: &Db, tenant_id: &str) -> Result<Subscription, sqlx::Error> {
    let row: Row = sqlx::query_as(SELECT)
        .bind(tenant_id)
        .fetch_one(db.pool())
        .await?;
    Ok(from_row(row))
}

async fn get_in(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
) -> Result<Subscription, sqlx::Error> {
    // Touching the row first takes its lock on Postgres (SQLite's writer
    // lock is already held): two changes to one subscription run in turn.
    sqlx::query("UPDATE subscriptions SET updated_at = updated_at WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    let row: Row = sqlx::query_as(SELECT)
        .bind(tenant_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(from_row(row))
}

/// The subscription a new tenant starts with, on `plan`, in the sign-up's
/// transaction.
pub async fn start(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    plan: &Plan,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (status, end, trial_ends) = match plan.trial_days {
        Some(days) => {
            let end = now + days * DAY_MS;
            (Status::Trialing, end, Some(end))
        }
        None => (
            Status::Active,
            add_months(now, plan.interval.months()),
            None,
        ),
    };
    sqlx::query(
        "INSERT INTO subscriptions (tenant_id, billing_interval, status, period_start, period_end, \
         trial_ends_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$4)",
    )
    .bind(tenant_id)
    .bind(plan.interval.as_str())
    .bind(status.as_str())
    .bind(now)
    .bind(end)
    .bind(trial_ends)
    .execute(conn)
    .await?;
    Ok(())
}

/// Why a plan change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(String),
    /// The tenant has more than the lower plan allows.
    #[error("{0}")]
    OverLimit(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What a plan change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// In effect now.
    Now,
    /// Takes effect at this time (the end of the period).
    AtPeriodEnd(i64),
    /// Nothing to do: already on that plan, or a pending downgrade withdrawn.
    Unchanged,
}

/// Who asks for a change: the tenant's owner (self-service rules) or an
/// operator (any plan, at once).
pub enum By<'a> {
    Owner(Actor<'a>),
    Operator { actor: Actor<'a>, reason: &'a str },
}

/// Changes the tenant's plan. An owner's upgrade takes effect at once and
/// starts a new period; an owner's downgrade waits for the end of the period
/// and is refused while the tenant has more than the lower plan allows. An
/// operator's change takes effect at once.
pub async fn change_plan(
    db: &Db,
    tenant_id: &str,
    to: &str,
    by: By<'_>,
) -> Result<Changed, ChangeError> {
    let all = plans::all(db).await?;
    let Some(target) = all.iter().find(|p| p.id == to) else {
        let names: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
        return Err(ChangeError::Invalid(format!(
            "there is no plan '{to}'; plans are {}",
            names.join(", ")
        )));
    };
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let sub = get_in(&mut tx, tenant_id).await?;
    let rank = |id: &str| all.iter().position(|p| p.id == id).unwrap_or(0);
    let upgrade = rank(to) > rank(&sub.plan);
    if let By::Owner(_) = by {
        if target.trial_days.is_some() {
            return Err(ChangeError::Invalid(format!(
                "the {} plan is for new accounts only",
                target.name
            )));
        }
        if target.price_cents == 0 {
            return Err(ChangeError::Invalid(format!(
                "the {} plan is by contract: contact sales to move to it",
                target.name
            )));
        }
    }
    if sub.plan == to {
        if sub.pending_change.is_none() {
            return Ok(Changed::Unchanged);
        }
        // Staying on the plan withdraws a downgrade that was waiting.
        sqlx::query(
            "UPDATE subscriptions SET pending_plan_id = NULL, updated_at = $2 WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        record(&mut tx, tenant_id, &by, "plan.downgrade_withdrawn", to).await?;
        tx.commit().await?;
        return Ok(Changed::Unchanged);
    }
    let action = match &by {
        By::Owner(_) if !upgrade => {
            if let Some(over) = super::enforce::over_plan(&mut tx, tenant_id, target).await? {
                return Err(ChangeError::OverLimit(over));
            }
            sqlx::query(
                "UPDATE subscriptions SET pending_plan_id = $2, updated_at = $3 WHERE tenant_id = $1",
            )
            .bind(tenant_id)
            .bind(to)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            record(&mut tx, tenant_id, &by, "plan.downgrade_scheduled", to).await?;
            tx.commit().await?;
            return Ok(Changed::AtPeriodEnd(sub.period_end));
        }
        By::Owner(_) => "plan.upgraded",
        By::Operator { .. } => "plan.set",
    };
    switch(&mut tx, tenant_id, target, now).await?;
    record(&mut tx, tenant_id, &by, action, to).await?;
    tx.commit().await?;
    Ok(Changed::Now)
}

/// Puts the tenant on `plan` now, with a new period from `now`.
async fn switch(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    plan: &Plan,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tenants SET plan_id = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(&plan.id)
        .execute(&mut *conn)
        .await?;
    let (status, end) = match plan.trial_days {
        Some(days) => (Status::Trialing, now + days * DAY_MS),
        None => (Status::Active, add_months(now, plan.interval.months())),
    };
    sqlx::query(
        "UPDATE subscriptions SET billing_interval = $2, status = $3, period_start = $4, \
         period_end = $5, pending_plan_id = NULL, updated_at = $4 WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(plan.interval.as_str())
    .bind(status.as_str())
    .bind(now)
    .bind(end)
    .execute(conn)
    .await?;
    Ok(())
}

async fn record(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    by: &By<'_>,
    action: &str,
    plan: &str,
) -> Result<(), sqlx::Error> {
    let (actor, detail) = match by {
        By::Owner(actor) => (actor, format!("plan {plan}")),
        By::Operator { actor, reason } => (actor, format!("plan {plan}; reason: {reason}")),
    };
    audit::record(
        conn,
        Some(tenant_id),
        actor,
        action,
        Some(tenant_id),
        Some(&detail),
    )
    .await
}

/// An operator's grace period: until `until`, an expired trial and the
/// transaction ceiling hold nothing. `None` ends it.
pub async fn set_grace(
    db: &Db,
    tenant_id: &str,
    until: Option<i64>,
    actor: &Actor<'_>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    get_in(&mut tx, tenant_id).await?;
    sqlx::query("UPDATE subscriptions SET grace_until = $2, updated_at = $3 WHERE tenant_id = $1")
        .bind(tenant_id)
        .bind(until)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    let detail = match until {
        Some(at) => format!("grace until {}; reason: {reason}", date(at)),
        None => format!("grace ended; reason: {reason}"),
    };
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "plan.grace",
        Some(tenant_id),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An operator lifts the plan's holds on the tenant's work for the rest of
/// `period` without changing its limits.
pub async fn lift_holds(
    db: &Db,
    tenant_id: &str,
    period: &str,
    actor: &Actor<'_>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    get_in(&mut tx, tenant_id).await?;
    sqlx::query(
        "UPDATE subscriptions SET holds_lifted_period = $2, updated_at = $3 WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(period)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "plan.holds_released",
        Some(tenant_id),
        Some(&format!("holds lifted for {period}; reason: {reason}")),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Rolls the tenant's subscription forward if a period or the trial has
/// ended. Returns what happened, if anything.
pub async fn roll(db: &Db, tenant_id: &str, now: i64) -> Result<Option<Rollover>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let sub = get_in(&mut tx, tenant_id).await?;
    let Some(change) = due(&sub, now) else {
        return Ok(None);
    };
    match &change {
        Rollover::TrialEnded => {
            sqlx::query("UPDATE subscriptions SET status = 'past_due', updated_at = $2 WHERE tenant_id = $1")
                .bind(tenant_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                Some(tenant_id),
                &Actor::system(),
                "trial.ended",
                Some(tenant_id),
                Some("production pairs hold their work until the plan is upgraded"),
            )
            .await?;
        }
        Rollover::NewPeriod { start, end, plan } => {
            if let Some(plan) = plan {
                sqlx::query("UPDATE tenants SET plan_id = $2 WHERE id = $1")
                    .bind(tenant_id)
                    .bind(plan)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE subscriptions SET period_start = $2, period_end = $3, pending_plan_id = NULL, \
                 updated_at = $4 WHERE tenant_id = $1",
            )
            .bind(tenant_id)
            .bind(start)
            .bind(end)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let detail = match plan {
                Some(p) => format!("new period; now on plan {p}"),
                None => "new period".to_owned(),
            };
            audit::record(
                &mut tx,
                Some(tenant_id),
                &Actor::system(),
                "subscription.renewed",
                Some(tenant_id),
                Some(&detail),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Some(change))
}

/// Tenants whose trial or period has ended by `now`.
pub async fn due_tenants(db: &Db, now: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT tenant_id FROM subscriptions WHERE \
         (status = 'trialing' AND trial_ends_at <= $1) OR (status = 'active' AND period_end <= $1)",
    )
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u8, d: u8) -> i64 {
        let date = time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap();
        (date.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn sub(status: Status, interval: Interval, start: i64, end: i64) -> Subscription {
        Subscription {
            plan: "connect".into(),
            interval,
            status,
            period_start: start,
            period_end: end,
            trial_ends_at: None,
            renews_at: end,
            pending_change: None,
            grace_until: None,
        }
    }

    #[test]
    fn months_keep_the_day_or_the_months_last_day() {
        assert_eq!(add_months(at(2026, 1, 31), 1), at(2026, 2, 28));
        assert_eq!(add_months(at(2028, 1, 31), 1), at(2028, 2, 29));
        assert_eq!(add_months(at(2026, 12, 7), 1), at(2027, 1, 7));
        assert_eq!(add_months(at(2026, 3, 15), 12), at(2027, 3, 15));
    }

    #[test]
    fn a_period_rolls_to_the_one_holding_now_with_the_pending_plan() {
        let mut s = sub(
            Status::Active,
            Interval::Monthly,
            at(2026, 1, 10),
            at(2026, 2, 10),
        );
        assert_eq!(due(&s, at(2026, 2, 9)), None);
        s.pending_change = Some(PendingChange {
            plan: "connect".into(),
            at: s.period_end,
        });
        assert_eq!(
            due(&s, at(2026, 4, 20)),
            Some(Rollover::NewPeriod {
                start: at(2026, 4, 10),
                end: at(2026, 5, 10),
                plan: Some("connect".into()),
            })
        );
    }

    #[test]
    fn a_trial_ends_once_and_grace_keeps_production_running() {
        let mut s = sub(
            Status::Trialing,
            Interval::Monthly,
            at(2026, 1, 1),
            at(2026, 1, 15),
        );
        s.trial_ends_at = Some(at(2026, 1, 15));
        assert!(s.runs_production(at(2026, 1, 14)));
        assert!(!s.runs_production(at(2026, 1, 15)));
        assert_eq!(due(&s, at(2026, 1, 15)), Some(Rollover::TrialEnded));
        s.status = Status::PastDue;
        assert_eq!(due(&s, at(2026, 3, 1)), None);
        assert!(!s.runs_production(at(2026, 1, 16)));
        s.grace_until = Some(at(2026, 1, 20));
        assert!(s.runs_production(at(2026, 1, 16)));
        assert!(!s.runs_production(at(2026, 1, 21)));
    }
}
