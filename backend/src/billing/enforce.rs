//! Refusals at creation: a pair, a user or a switched-on flow beyond what the
//! tenant's plan allows is refused with words that say which limit, and which
//! plan lifts it. Counts are taken in the transaction that would create the
//! thing, after the subscription row is locked, so two requests at once
//! cannot both squeeze under the limit.

use super::plans::{self, Limits, Plan};
use crate::db::Db;

/// A refusal by plan: `403 {"error":{"code":"plan_limit", ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanLimit {
    pub message: String,
    pub field: &'static str,
}

/// What a plan counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    ProductionPairs,
    SandboxPairs,
    Users,
    FlowsPerPair,
}

impl Counted {
    fn limit(self, l: &Limits) -> Option<i64> {
        match self {
            Counted::ProductionPairs => l.production_pairs,
            Counted::SandboxPairs => l.sandbox_pairs,
            Counted::Users => l.users,
            Counted::FlowsPerPair => l.flows_per_pair,
        }
    }

    fn noun(self, n: i64) -> &'static str {
        match (self, n == 1) {
            (Counted::ProductionPairs, true) => "production pair",
            (Counted::ProductionPairs, false) => "production pairs",
            (Counted::SandboxPairs, true) => "sandbox pair",
            (Counted::SandboxPairs, false) => "sandbox pairs",
            (Counted::Users, true) => "user",
            (Counted::Users, false) => "users",
            (Counted::FlowsPerPair, true) => "flow switched on per pair",
            (Counted::FlowsPerPair, false) => "flows switched on per pair",
        }
    }

    fn goal(self) -> &'static str {
        match self {
            Counted::ProductionPairs => "go live",
            Counted::SandboxPairs => "add another sandbox pair",
            Counted::Users => "add more users",
            Counted::FlowsPerPair => "switch on more flows",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Counted::ProductionPairs | Counted::SandboxPairs => "environment",
            Counted::Users => "email",
            Counted::FlowsPerPair => "enabled",
        }
    }
}

/// The refusal for having `count` of `what` on `plan` (with `limits`), if
/// one more is over the limit. Names the first plan up the list that allows
/// one more.
pub fn refuse(
    what: Counted,
    count: i64,
    plan: &Plan,
    limits: &Limits,
    all: &[Plan],
) -> Option<PlanLimit> {
    let limit = what.limit(limits)?;
    if count < limit {
        return None;
    }
    let mut message = format!(
        "Your {} plan includes {limit} {}.",
        plan.name,
        what.noun(limit)
    );
    let next = all
        .iter()
        .skip_while(|p| p.id != plan.id)
        .skip(1)
        .find(|p| what.limit(&p.limits).is_none_or(|n| n > count));
    match next {
        Some(p) => message.push_str(&format!(" Upgrade to {} to {}.", p.name, what.goal())),
        None => message.push_str(" Contact us to raise the limit."),
    }
    Some(PlanLimit {
        message,
        field: what.field(),
    })
}

async fn count(
    conn: &mut sqlx::AnyConnection,
    what: Counted,
    tenant_id: &str,
    pair_id: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = match what {
        Counted::ProductionPairs | Counted::SandboxPairs => {
            let env = if what == Counted::ProductionPairs {
                "production"
            } else {
                "sandbox"
            };
            sqlx::query_as("SELECT COUNT(*) FROM pairs WHERE tenant_id = $1 AND environment = $2")
                .bind(tenant_id)
                .bind(env)
                .fetch_one(conn)
                .await?
        }
        // Invitations not yet taken up hold their seat.
        Counted::Users => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM users WHERE tenant_id = $1) + \
                 (SELECT COUNT(*) FROM invites WHERE tenant_id = $1 AND accepted_at IS NULL \
                  AND revoked_at IS NULL AND expires_at > $2)",
            )
            .bind(tenant_id)
            .bind(crate::db::now_ms())
            .fetch_one(conn)
            .await?
        }
        Counted::FlowsPerPair => sqlx::query_as(
            "SELECT COUNT(*) FROM pair_flows WHERE tenant_id = $1 AND pair_id = $2 AND enabled = 1",
        )
        .bind(tenant_id)
        .bind(pair_id.unwrap_or_default())
        .fetch_one(conn)
        .await?,
    };
    Ok(n)
}

/// Refuses one more of `what` for the tenant when its plan is full. Call it
/// in the transaction that creates the thing.
pub async fn check(
    db: &Db,
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    what: Counted,
    pair_id: Option<&str>,
) -> Result<Result<(), PlanLimit>, sqlx::Error> {
    sqlx::query("UPDATE subscriptions SET updated_at = updated_at WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    let (plan, limits) = plans::of_tenant(db, tenant_id).await?;
    if what.limit(&limits).is_none() {
        return Ok(Ok(()));
    }
    let n = count(conn, what, tenant_id, pair_id).await?;
    let all = plans::all(db).await?;
    Ok(match refuse(what, n, &plan, &limits, &all) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    })
}

/// Why the tenant does not fit `plan` as it stands (for a downgrade), if it
/// does not.
pub async fn over_plan(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    plan: &Plan,
) -> Result<Option<String>, sqlx::Error> {
    for what in [
        Counted::ProductionPairs,
        Counted::SandboxPairs,
        Counted::Users,
    ] {
        let Some(limit) = what.limit(&plan.limits) else {
            continue;
        };
        let n = count(conn, what, tenant_id, None).await?;
        if n > limit {
            return Ok(Some(format!(
                "You have {n} {}; the {} plan includes {limit}. Remove {} before moving to it.",
                what.noun(n),
                plan.name,
                n - limit
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::plans::Interval;

    fn plan(id: &str, name: &str, production: Option<i64>, users: Option<i64>) -> Plan {
        Plan {
            id: id.into(),
            name: name.into(),
            price_cents: 100,
            billing: String::new(),
            interval: Interval::Annual,
            trial_days: None,
            fair_use_multiple: 1,
            fair_use_note: String::new(),
            overage_cents_per_1000: None,
            limits: Limits {
                production_pairs: production,
                users,
                ..Limits::default()
            },
        }
    }

    #[test]
    fn a_full_plan_names_its_limit_and_the_plan_that_lifts_it() {
        let all = [
            plan("trial", "Trial", Some(0), Some(3)),
            plan("connect", "Connect", Some(1), Some(10)),
            plan("growth", "Growth", Some(3), Some(25)),
        ];
        let r = refuse(Counted::ProductionPairs, 0, &all[0], &all[0].limits, &all).unwrap();
        assert_eq!(
            r.message,
            "Your Trial plan includes 0 production pairs. Upgrade to Connect to go live."
        );
        assert_eq!(r.field, "environment");
        // Connect's one pair is in use: Growth is the plan with room.
        let r = refuse(Counted::ProductionPairs, 1, &all[1], &all[1].limits, &all).unwrap();
        assert!(
            r.message.contains("includes 1 production pair."),
            "{}",
            r.message
        );
        assert!(
            r.message.ends_with("Upgrade to Growth to go live."),
            "{}",
            r.message
        );
        // Room left: no refusal.
        assert_eq!(
            refuse(Counted::Users, 2, &all[0], &all[0].limits, &all),
            None
        );
        let r = refuse(Counted::Users, 25, &all[2], &all[2].limits, &all).unwrap();
        assert!(
            r.message.ends_with("Contact us to raise the limit."),
            "{}",
            r.message
        );
        assert_eq!(r.field, "email");
    }
}
