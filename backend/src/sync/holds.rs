//! Work held by the tenant's plan: put aside when a job finds its tenant
//! over the plan (see [`crate::billing::holds`]), let go once the hold no
//! longer applies. Subscriptions roll over here too, since a new period is
//! one of the things that lets held work go.

use crate::billing::holds::plan_state;
use crate::billing::subscription;
use crate::db::now_ms;
use crate::state::AppState;
use crate::usage::current_period;

use super::inbox;

/// Releases the tenant's held work wherever its plan no longer holds it
/// (after an upgrade, a raised limit, a grace, a release, a new period).
/// Returns how many rows go again.
pub async fn release_if_lifted(state: &AppState, tenant_id: &str) -> Result<u64, sqlx::Error> {
    let period = current_period();
    let plan = plan_state(&state.db, tenant_id, &period, None).await?;
    let now = now_ms();
    let mut released = 0;
    for (environment, production) in [("production", true), ("sandbox", false)] {
        if plan.hold_reason(production, now, &period).is_none() {
            released += inbox::release_held(&state.db, tenant_id, environment).await?;
        }
    }
    if released > 0 {
        tracing::info!(tenant_id, released, "held work released");
        metrics::counter!("connect_held_released_total").increment(released);
    }
    Ok(released)
}

/// One pass: subscriptions whose trial or period ended roll forward, usage
/// warnings go out, and held work whose hold has ended goes again.
pub async fn tick(state: &AppState) -> anyhow::Result<u64> {
    let now = now_ms();
    for tenant_id in subscription::due_tenants(&state.db, now).await? {
        if let Some(change) = subscription::roll(&state.db, &tenant_id, now).await? {
            tracing::info!(tenant_id, ?change, "subscription rolled over");
        }
    }
    let warned = crate::notices::tick(state).await?;
    if warned > 0 {
        tracing::info!(warned, "usage warnings sent");
    }
    let mut released = 0;
    for tenant_id in inbox::tenants_with_held(&state.db).await? {
        released += release_if_lifted(state, &tenant_id).await?;
    }
    Ok(released)
}
