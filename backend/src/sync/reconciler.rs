//! Pushes again every inbox row that is due and not leased: rows whose job the
//! queue lost (Redis flushed, a crash between commit and push), retries whose
//! time has come, rows of killed workers whose lease ran out.

use tokio_util::sync::CancellationToken;

use super::inbox;
use crate::state::AppState;

pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut reconcile = tokio::time::interval(state.config.reconcile_every);
    let mut sweep = tokio::time::interval(state.queue.sweep_every());
    let mut plans = tokio::time::interval(state.config.plans_every);
    for timer in [&mut reconcile, &mut sweep, &mut plans] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = reconcile.tick() => {
                match tick(&state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(pushed = n, "reconciler pushed due rows"),
                    Err(e) => tracing::warn!(error = %e, "reconciler tick failed"),
                }
                match super::schedule::tick(&state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(polls = n, "scheduled polls"),
                    Err(e) => tracing::warn!(error = %e, "could not schedule polls"),
                }
            }
            _ = plans.tick() => match super::holds::tick(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(released = n, "released held work"),
                Err(e) => tracing::warn!(error = %e, "could not roll subscriptions or release held work"),
            },
            _ = sweep.tick() => if let Err(e) = state.queue.sweep_finished().await {
                tracing::warn!(error = %e, "could not sweep finished jobs");
            },
        }
    }
}

/// One pass; returns how many rows were pushed.
pub async fn tick(state: &AppState) -> anyhow::Result<usize> {
    let requeue_after = state.config.requeue_after.as_millis() as i64;
    let ids = inbox::due_for_queue(&state.db, requeue_after, 500).await?;
    for id in &ids {
        state.queue.push(id).await?;
    }
    metrics::counter!("connect_reconciler_pushed_total").increment(ids.len() as u64);
    Ok(ids.len())
}
