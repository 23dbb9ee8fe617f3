//! The durable inbox. An event is committed here before its sender hears 2xx;
//! workers take rows with a lease; the reconciler re-queues rows the queue lost.
//!
//! States: pending → processing (leased) → done | dead; a transient failure
//! returns the row to pending with a later `next_attempt_at`. A row the
//! tenant's plan holds goes processing → held, and back to pending when the
//! hold ends.
//!
//! This module is the only writer of the inbox and of what became of each
//! row: its run, the run's attempts and its dead letter. The worker decides
//! (succeeded, retry when, dead with which reason) and calls the functions
//! below inside its own transaction; a replay goes through [`replay`].

use crate::db::{Db, now_ms};
use crate::ids::{DeadLetterId, InboxId, PairId, RunId, TenantId};

#[derive(Debug, Clone)]
pub struct InboxRow {
    pub id: InboxId,
    pub tenant_id: TenantId,
    pub pair_id: PairId,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub received_at: i64,
}

pub enum Inserted {
    New(InboxId),
    Duplicate,
}

/// Stores an event unless its id was seen for this pair before.
pub async fn insert(
    db: &Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
    event_id: &str,
    event_type: &str,
    payload: &str,
) -> Result<Inserted, sqlx::Error> {
    let id = InboxId::generate();
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

/// Stores the changes a poll found, on the poll's transaction; returns the
/// rows it made. A change seen before (same event id) is not stored again,
/// and a change of this flow still waiting for the same subject is
/// superseded: a stock row's or a record's newest state is what gets written.
pub async fn insert_changes(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &TenantId,
    pair_id: &PairId,
    event_type: &str,
    changes: &[connect_jobs::flows::Change],
    batch: Option<&str>,
) -> Result<Vec<InboxId>, sqlx::Error> {
    let now = now_ms();
    let mut made = Vec::new();
    for change in changes {
        let id = InboxId::generate();
        let payload = change.record.to_string();
        let inserted = sqlx::query(
            "INSERT INTO inbox (id, tenant_id, pair_id, event_id, event_type, payload, status, attempts, \
               next_attempt_at, enqueued_at, received_at, updated_at, subject, batch) \
             VALUES ($1,$2,$3,$4,$5,$6,'pending',0,$7,$7,$7,$7,$8,$9) ON CONFLICT (pair_id, event_id) DO NOTHING",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(pair_id)
        .bind(&change.event_id)
        .bind(event_type)
        .bind(&payload)
        .bind(now)
        .bind(&change.subject)
        .bind(batch)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            continue;
        }
        // Only the same flow's change of the record: the shipments and the
        // invoices flows both read a Sage Pro invoice, under one subject.
        sqlx::query(
            "UPDATE inbox SET status = 'done', last_error = 'superseded by a newer change', updated_at = $1 \
             WHERE pair_id = $2 AND subject = $3 AND event_type = $5 AND id <> $4 AND status = 'pending' \
               AND (lease_until IS NULL OR lease_until < $1)",
        )
        .bind(now)
        .bind(pair_id)
        .bind(&change.subject)
        .bind(&id)
        .bind(event_type)
        .execute(&mut *conn)
        .await?;
        made.push(id);
    }
    Ok(made)
}

/// Makes the row of a poll of `flow` unless one is waiting or running;
/// `slot` tells polls apart (the scheduled time, or when it was asked for).
pub async fn insert_poll(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
    slot: &str,
) -> Result<Option<InboxId>, sqlx::Error> {
    let event_type = connect_jobs::flows::poll_event(flow);
    let open: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM inbox WHERE pair_id = $1 AND event_type = $2 \
         AND status IN ('pending', 'processing') LIMIT 1",
    )
    .bind(pair_id)
    .bind(&event_type)
    .fetch_optional(&mut *conn)
    .await?;
    if open.is_some() {
        return Ok(None);
    }
    let id = InboxId::generate();
    let now = now_ms();
    let payload = serde_json::json!({ "poll": flow }).to_string();
    let done = sqlx::query(
        "INSERT INTO inbox (id, tenant_id, pair_id, event_id, event_type, payload, status, attempts, \
           next_attempt_at, enqueued_at, received_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,'pending',0,$7,$7,$7,$7) ON CONFLICT (pair_id, event_id) DO NOTHING",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(pair_id)
    .bind(format!("poll:{flow}:{slot}"))
    .bind(&event_type)
    .bind(&payload)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok((done.rows_affected() == 1).then_some(id))
}

/// Takes the row for `lease_ms` if it is due and nobody holds it. A change
/// with a subject waits while an earlier change of that subject, of the same
/// flow, waits or runs: they run one at a time, in arrival order.
pub async fn claim(
    db: &Db,
    id: &InboxId,
    owner: &str,
    lease_ms: i64,
) -> Result<Option<InboxRow>, sqlx::Error> {
    let now = now_ms();
    type Claimed = (InboxId, TenantId, PairId, String, String, String, i64, i64);
    let row: Option<Claimed> = sqlx::query_as(
        "UPDATE inbox SET status = 'processing', lease_until = $1, lease_owner = $2, attempts = attempts + 1, \
           updated_at = $3 \
         WHERE id = $4 AND status IN ('pending', 'processing') AND next_attempt_at <= $3 \
           AND (lease_until IS NULL OR lease_until < $3) \
           AND (subject IS NULL OR NOT EXISTS (SELECT 1 FROM inbox o \
             WHERE o.pair_id = inbox.pair_id AND o.subject = inbox.subject \
               AND o.event_type = inbox.event_type AND o.id <> inbox.id \
               AND ((o.status = 'pending' AND o.received_at < inbox.received_at) \
                 OR (o.status = 'processing' AND o.lease_until >= $3)))) \
         RETURNING id, tenant_id, pair_id, event_id, event_type, payload, attempts, received_at",
    )
    .bind(now + lease_ms)
    .bind(owner)
    .bind(now)
    .bind(id)
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
        received_at: r.7,
    }))
}

/// Extends a lease we still hold; false when it was lost.
pub async fn renew(db: &Db, id: &InboxId, owner: &str, lease_ms: i64) -> Result<bool, sqlx::Error> {
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
pub async fn release(db: &Db, id: &InboxId, owner: &str, delay_ms: i64) -> Result<(), sqlx::Error> {
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

/// Puts a claimed row aside, held by the tenant's plan: not run, not
/// counted as an attempt, not pushed again until [`release_held`].
pub async fn hold(db: &Db, id: &InboxId, owner: &str, reason: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE inbox SET status = 'held', held_reason = $1, held_at = $2, lease_until = NULL, \
           lease_owner = NULL, enqueued_at = NULL, \
           attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND status = 'processing'",
    )
    .bind(reason)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Lets the tenant's held rows of pairs in `environment` run again, due in
/// the order they arrived. Returns how many.
pub async fn release_held(db: &Db, tenant_id: &str, environment: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE inbox SET status = 'pending', held_reason = NULL, held_at = NULL, \
           next_attempt_at = received_at, updated_at = $3 \
         WHERE tenant_id = $1 AND status = 'held' \
           AND pair_id IN (SELECT id FROM pairs WHERE tenant_id = $1 AND environment = $2)",
    )
    .bind(tenant_id)
    .bind(environment)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// Tenants with held rows.
pub async fn tenants_with_held(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT tenant_id FROM inbox WHERE status = 'held'")
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
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
pub async fn backlog(db: &Db, tenant_id: &TenantId, pair_id: &PairId) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM inbox WHERE tenant_id = $1 AND pair_id = $2 AND status IN ('pending','processing')",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_one(db.pool())
    .await?;
    Ok(n)
}

/// How a claimed row ends one attempt.
pub enum RowEnd<'a> {
    /// Nothing to sync (a ping, an event no flow handles yet): the event
    /// stays in the inbox as done, with the reason, and no run is shown.
    Skipped { why: &'a str },
    /// The record was written.
    Succeeded,
    /// A transient failure: the row waits until `at` and goes again.
    Retry { at: i64, message: &'a str },
    /// A permanent failure.
    Dead { message: &'a str },
}

/// Ends the row's attempt, if `owner` still holds its lease. `false`: the
/// lease was lost, another worker owns the outcome, and this one must write
/// nothing more of it.
pub async fn end_row(
    conn: &mut sqlx::AnyConnection,
    id: &InboxId,
    owner: &str,
    end: &RowEnd<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let q = match end {
        RowEnd::Skipped { why } => sqlx::query(
            "UPDATE inbox SET status = 'done', lease_until = NULL, last_error = $3, updated_at = $4 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(*why)
        .bind(now),
        RowEnd::Succeeded => sqlx::query(
            "UPDATE inbox SET status = 'done', lease_until = NULL, last_error = NULL, updated_at = $3 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(now),
        RowEnd::Retry { at, message } => sqlx::query(
            "UPDATE inbox SET status = 'pending', lease_until = NULL, lease_owner = NULL, enqueued_at = NULL, \
             next_attempt_at = $3, last_error = $4, updated_at = $5 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(*at)
        .bind(*message)
        .bind(now),
        RowEnd::Dead { message } => sqlx::query(
            "UPDATE inbox SET status = 'dead', lease_until = NULL, last_error = $3, updated_at = $4 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(*message)
        .bind(now),
    };
    Ok(q.execute(&mut *conn).await?.rows_affected() == 1)
}

/// What a run keeps of one attempt's end.
pub enum RunEnd<'a> {
    Succeeded {
        source_id: &'a str,
        target_id: &'a str,
        flags: Option<String>,
        /// The flow decided not to write, and why: the run is `skipped`.
        skipped: Option<&'a str>,
    },
    Retrying {
        message: &'a str,
        field: Option<&'a str>,
    },
    Dead {
        message: &'a str,
        field: Option<&'a str>,
        flags: Option<String>,
    },
}

/// The row's run, made on its first attempt and carried on by each later
/// one, with this attempt's end, in one statement. A replay runs with the
/// pair's current template, so `version` is written each time it is known.
/// Gives the run's id.
#[allow(clippy::too_many_arguments)]
pub async fn record_run(
    conn: &mut sqlx::AnyConnection,
    row: &InboxRow,
    flow: &str,
    source_id: Option<&str>,
    version: Option<i64>,
    started_at: i64,
    end: &RunEnd<'_>,
    now: i64,
) -> Result<RunId, sqlx::Error> {
    const INSERT: &str = "INSERT INTO runs (id, tenant_id, pair_id, inbox_id, flow, source_id, status, attempts, \
           template_version, started_at, updated_at, target_id, error, error_field, flags, finished_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,1,$8,$9,$10,$11,$12,$13,$14,$15) \
         ON CONFLICT (inbox_id) DO UPDATE SET status = excluded.status, attempts = runs.attempts + 1, \
           template_version = COALESCE(excluded.template_version, runs.template_version), \
           updated_at = excluded.updated_at, error = excluded.error, error_field = excluded.error_field, ";
    let (status, source_id, target_id, error, field, flags, finished_at, rest) = match end {
        RunEnd::Succeeded {
            source_id,
            target_id,
            flags,
            skipped,
        } => (
            if skipped.is_some() {
                "skipped"
            } else {
                "succeeded"
            },
            Some(*source_id),
            Some(*target_id),
            *skipped,
            None,
            flags.as_deref(),
            Some(now),
            "source_id = excluded.source_id, target_id = excluded.target_id, flags = excluded.flags, \
             finished_at = excluded.finished_at",
        ),
        RunEnd::Retrying { message, field } => (
            "retrying",
            source_id,
            None,
            Some(*message),
            *field,
            None,
            None,
            // Flags, target and finish stay as the last attempt left them.
            "flags = runs.flags",
        ),
        RunEnd::Dead {
            message,
            field,
            flags,
        } => (
            "dead",
            source_id,
            None,
            Some(*message),
            *field,
            flags.as_deref(),
            Some(now),
            "flags = excluded.flags, finished_at = excluded.finished_at",
        ),
    };
    let sql = format!("{INSERT}{rest} RETURNING id");
    // Only fixed column names are formatted in; every value is bound.
    let (run_id,): (RunId,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(RunId::generate())
        .bind(&row.tenant_id)
        .bind(&row.pair_id)
        .bind(&row.id)
        .bind(flow)
        .bind(source_id)
        .bind(status)
        .bind(version)
        .bind(started_at)
        .bind(now)
        .bind(target_id)
        .bind(error)
        .bind(field)
        .bind(flags)
        .bind(finished_at)
        .fetch_one(&mut *conn)
        .await?;
    Ok(run_id)
}

/// Why a row was given up on, as its dead letter keeps it.
pub struct DeadLetter<'a> {
    pub flow: &'a str,
    pub source_id: Option<&'a str>,
    pub message: &'a str,
    pub field: Option<&'a str>,
    /// Every validation issue, as JSON.
    pub details: Option<String>,
}

/// A dead letter keeps the reason a row died, for replay.
pub async fn dead_letter(
    conn: &mut sqlx::AnyConnection,
    row: &InboxRow,
    run_id: &RunId,
    dl: &DeadLetter<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dead_letters (id, tenant_id, pair_id, inbox_id, run_id, flow, source_id, reason, field, details, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
    )
    .bind(DeadLetterId::generate())
    .bind(&row.tenant_id)
    .bind(&row.pair_id)
    .bind(&row.id)
    .bind(run_id)
    .bind(dl.flow)
    .bind(dl.source_id)
    .bind(dl.message)
    .bind(dl.field)
    .bind(&dl.details)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One attempt of a run, with how it ended (`succeeded`, `retrying`, `dead`).
pub async fn record_attempt(
    conn: &mut sqlx::AnyConnection,
    run_id: &str,
    started_at: i64,
    now: i64,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO run_attempts (run_id, attempt, started_at, finished_at, outcome, error) \
         SELECT $1, COALESCE(MAX(attempt), 0) + 1, $2, $3, $4, $5 FROM run_attempts WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(started_at)
    .bind(now)
    .bind(outcome)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A dead letter replayed: marked so, and its row back to pending from its
/// first attempt, due now; its run shows it is retrying.
pub async fn replay(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &TenantId,
    dl_id: &str,
    inbox_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dead_letters SET replayed_at = $1 WHERE id = $2")
        .bind(now)
        .bind(dl_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_until = NULL, \
         lease_owner = NULL, enqueued_at = $1, updated_at = $1 WHERE id = $2 AND tenant_id = $3",
    )
    .bind(now)
    .bind(inbox_id)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE runs SET status = 'retrying', updated_at = $1, finished_at = NULL WHERE inbox_id = $2")
        .bind(now)
        .bind(inbox_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
