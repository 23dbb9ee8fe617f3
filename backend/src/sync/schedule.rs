//! When polling flows poll: each enabled polling flow of an active pair
//! gets a poll row in the inbox when its `next_poll_at` comes, and its next
//! time moves on by its interval in the same transaction (compared and set,
//! so two processes scheduling at once make one poll). A poll asked for
//! from the API ([`poll_now`]) is the same row, made at once.

use connect_jobs::flows;

use super::inbox;
use crate::db::now_ms;
use crate::ids::{InboxId, PairId, TenantId};
use crate::state::AppState;

/// Polls made per pass at most; the rest come with the next pass.
const BATCH: i64 = 200;

/// One pass: makes the due polls and queues them; returns how many.
pub async fn tick(state: &AppState) -> anyhow::Result<usize> {
    let now = now_ms();
    let due: Vec<(PairId, TenantId, String, i64, i64)> = sqlx::query_as(
        "SELECT f.pair_id, f.tenant_id, f.flow, f.interval_s, f.next_poll_at FROM pair_flows f \
         JOIN pairs p ON p.id = f.pair_id JOIN tenants t ON t.id = p.tenant_id \
         WHERE f.enabled = 1 AND f.next_poll_at IS NOT NULL AND f.next_poll_at <= $1 \
           AND p.status = 'active' AND t.status = 'active' \
         ORDER BY f.next_poll_at LIMIT $2",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(state.db.pool())
    .await?;
    let mut made = Vec::new();
    for (pair_id, tenant_id, flow, interval_s, at) in due {
        if !polls(&flow) {
            continue;
        }
        let mut tx = state.db.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE pair_flows SET next_poll_at = $1 \
             WHERE pair_id = $2 AND flow = $3 AND next_poll_at = $4",
        )
        .bind(now + interval_s * 1000)
        .bind(&pair_id)
        .bind(&flow)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 1
            && let Some(id) =
                inbox::insert_poll(&mut tx, &tenant_id, &pair_id, &flow, &at.to_string()).await?
        {
            made.push(id);
        }
        tx.commit().await?;
    }
    queue(state, &made).await;
    Ok(made.len())
}

/// A poll of the pair's flow now; `None` when one is already waiting or
/// running (it reads the same changes).
pub async fn poll_now(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<Option<InboxId>, sqlx::Error> {
    let mut tx = state.db.begin_write().await?;
    let made = inbox::insert_poll(
        &mut tx,
        tenant_id,
        pair_id,
        flow,
        &format!("now-{}", now_ms()),
    )
    .await?;
    tx.commit().await?;
    if let Some(id) = &made {
        queue(state, std::slice::from_ref(id)).await;
    }
    Ok(made)
}

/// Whether the engine runs `flow` by polling.
pub fn polls(flow: &str) -> bool {
    flows::poller(flow).is_some()
}

async fn queue(state: &AppState, ids: &[InboxId]) {
    for id in ids {
        if let Err(e) = state.queue.push(id.as_str()).await {
            tracing::warn!(error = %e, "queue push failed; the reconciler will retry");
        }
    }
}
