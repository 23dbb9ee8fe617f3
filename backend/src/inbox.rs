//! The durable inbox. An event is committed here before its sender hears 2xx;
//! workers take rows with a lease; the reconciler re-queues rows the queue lost.
//!
//! States: pending → processing (leased) → done | dead; a transient failure
//! returns the row to pending with a later `next_attempt_at`.

use crate::db::{Db, now_ms};
use crate::ids::new_id;

#[derive(Debug, Clone)]
pub struct InboxRow {
    pub id: String,
    pub tenant_id: String,
    pub pair_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
}

pub enum Inserted {
    New(String),
    Duplicate,
}

/// Stores an event unless its id was seen for this pair before.
pub async fn insert(
    db: &Db,
    tenant_id: &str,
    pair_id: &str,
    event_id: &str,
    event_type: &str,
    payload: &str,
) -> Result<Inserted, sqlx::Error> {
    let id = new_id("evt");
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO inbox (id, tenant_id, pair_id, event_id, event_type, payload, status, attempts, \
           next_attempt_at, enqueued_at, received_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,'pending',0,$7,$7,$7,$7) ON CONFLICT (pair_id, event_id) DO NOTHING",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(pair_id)
    .bind(event_id)
    .bind(event_type)
    .bind(payload)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(if done.rows_affected() == 1 {
        Inserted::New(id)
    } else {
        Inserted::Duplicate
    })
}

/// Takes the row for `lease_ms` if it is due and nobody holds it.
pub async fn claim(
    db: &Db,
    id: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<Option<InboxRow>, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE inbox SET status = 'processing', lease_until = $1, lease_owner = $2, attempts = attempts + 1, \
           updated_at = $3 \
         WHERE id = $4 AND status IN ('pending', 'processing') AND next_attempt_at <= $3 \
           AND (lease_until IS NULL OR lease_until < $3)",
    )
    .bind(now + lease_ms)
    .bind(owner)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let row: Option<(String, String, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, tenant_id, pair_id, event_id, event_type, payload, attempts FROM inbox WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| InboxRow {
        id: r.0,
        tenant_id: r.1,
        pair_id: r.2,
        event_id: r.3,
        event_type: r.4,
        payload: r.5,
        attempts: r.6,
    }))
}

/// Extends a lease we still hold; false when it was lost.
pub async fn renew(db: &Db, id: &str, owner: &str, lease_ms: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE inbox SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'processing'",
    )
    .bind(now_ms() + lease_ms)
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a row back without counting the attempt (shutdown, paused pair).
pub async fn release(db: &Db, id: &str, owner: &str, delay_ms: i64) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE inbox SET status = 'pending', lease_until = NULL, lease_owner = NULL, enqueued_at = NULL, \
           attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, next_attempt_at = $1, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND status = 'processing'",
    )
    .bind(now + delay_ms)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Rows that are due and not held, oldest first, marked as handed to the queue.
/// `requeue_after_ms` keeps rows just pushed from being pushed again.
pub async fn due_for_queue(
    db: &Db,
    requeue_after_ms: i64,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let now = now_ms();
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM inbox WHERE status IN ('pending', 'processing') AND next_attempt_at <= $1 \
           AND (lease_until IS NULL OR lease_until < $1) \
           AND (enqueued_at IS NULL OR enqueued_at < $2) \
         ORDER BY next_attempt_at LIMIT $3",
    )
    .bind(now)
    .bind(now - requeue_after_ms)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
    for id in &ids {
        sqlx::query("UPDATE inbox SET enqueued_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(db.pool())
            .await?;
    }
    Ok(ids)
}

/// Events not yet done, for the pair page and health.
pub async fn backlog(db: &Db, tenant_id: &str, pair_id: &str) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM inbox WHERE tenant_id = $1 AND pair_id = $2 AND status IN ('pending','processing')",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_one(db.pool())
    .await?;
    Ok(n)
}
