//! Polls: a polling flow's source read from its cursor, each change stored
//! as an inbox row of its own (run like a webhook's record), and the cursor
//! moved in the same transaction, so a crash mid-poll reads again and never
//! skips. A poll holds its cursor with a lease: two workers never poll one
//! pair's flow at once. The cursor table is written here only.

use std::time::Duration;

use connect_jobs::flows::{Flow, FlowError, PollContext};
use serde_json::Value;

use super::inbox::{self, InboxRow, RowEnd};
use super::inputs::PairStatus;
use super::{Engine, Outcome};
use crate::db::{Db, now_ms};
use crate::ids::{InboxId, PairId, TenantId};

/// What became of a poll that did not fail.
pub(super) enum Polled {
    /// Its changes and cursor are stored, its row ended: the new rows to queue.
    Stored(Vec<InboxId>),
    /// Another worker polls this flow right now; this row waits.
    Busy,
}

impl Engine {
    /// One poll of `flow` for the row's pair.
    pub(super) async fn poll(
        &self,
        row: &InboxRow,
        flow: &'static dyn Flow,
        status: &PairStatus,
    ) -> Result<Polled, FlowError> {
        let db = &self.state.db;
        let store = |e: sqlx::Error| FlowError::Store(e.into());
        let lease_ms = self.state.config.lease.as_millis() as i64;
        let Some(cursor) = take(
            db,
            &row.tenant_id,
            &row.pair_id,
            flow.name(),
            &self.owner,
            lease_ms,
        )
        .await
        .map_err(store)?
        else {
            return Ok(Polled::Busy);
        };
        let result = self
            .read_and_store(row, flow, status, cursor.as_ref())
            .await;
        if result.is_err()
            && let Err(e) = release(db, &row.pair_id, flow.name(), &self.owner).await
        {
            tracing::warn!(error = %e, "could not release a cursor; its lease will run out");
        }
        result
    }

    async fn read_and_store(
        &self,
        row: &InboxRow,
        flow: &'static dyn Flow,
        status: &PairStatus,
        cursor: Option<&Value>,
    ) -> Result<Polled, FlowError> {
        let pair = self.pair_inputs(row, status).await?;
        let (template, _) = pair
            .template(&self.state.db, &row.tenant_id, &row.pair_id, flow)
            .await?;
        let ctx = PollContext {
            clarity: &pair.clients.clarity,
            erp: &pair.clients.erp,
            template: &template,
        };
        let db = &self.state.db;
        let store = |e: sqlx::Error| FlowError::Store(e.into());
        let reading = history(db, row, flow.name(), cursor.is_none())
            .await
            .map_err(store)?;
        let from = reading
            .as_ref()
            .map(|r| connect_jobs::flows::cursor::Cursor::from_time(r.since_ms));
        let page = flow.poll(&ctx, from.as_ref().or(cursor)).await?;
        let mut tx = db.begin_write().await.map_err(store)?;
        let record_event = match flow.trigger() {
            connect_jobs::flows::Trigger::Poll { record } => record,
            connect_jobs::flows::Trigger::Webhook(_) => {
                return Err(FlowError::Event(format!(
                    "the {} flow does not poll",
                    flow.name()
                )));
            }
        };
        let made = inbox::insert_changes(
            &mut tx,
            &row.tenant_id,
            &row.pair_id,
            record_event,
            &page.changes,
            reading.as_ref().map(|r| r.id.as_str()),
        )
        .await
        .map_err(store)?;
        let now = now_ms();
        if let Some(r) = &reading {
            r.store(
                &mut tx,
                row,
                flow.name(),
                page.changes.len(),
                made.len(),
                now,
            )
            .await
            .map_err(store)?;
        }
        if !save(
            &mut tx,
            &row.pair_id,
            flow.name(),
            &self.owner,
            &page.cursor,
            now,
        )
        .await
        .map_err(store)?
        {
            // The lease ran out and another poll took the cursor: this one's
            // reading is dropped; the other stores what it read.
            return Ok(Polled::Busy);
        }
        sqlx::query("UPDATE pair_flows SET last_poll_at = $1 WHERE pair_id = $2 AND flow = $3")
            .bind(now)
            .bind(&row.pair_id)
            .bind(flow.name())
            .execute(&mut *tx)
            .await
            .map_err(store)?;
        if !inbox::end_row(&mut tx, &row.id, &self.owner, &RowEnd::Succeeded, now)
            .await
            .map_err(store)?
        {
            return Ok(Polled::Busy);
        }
        // A poll is shown as a run only once it failed: the run that said
        // so is brought to its end.
        if row.attempts > 1 {
            let found = format!("{} new changes", made.len());
            let end = inbox::RunEnd::Succeeded {
                skipped: None,
                source_id: "poll",
                target_id: &found,
                flags: None,
            };
            inbox::record_run(
                &mut tx,
                row,
                flow.name(),
                Some("poll"),
                None,
                now,
                &end,
                now,
            )
            .await
            .map_err(store)?;
        }
        tx.commit().await.map_err(store)?;
        tracing::info!(
            flow = flow.name(),
            changes = page.changes.len(),
            new = made.len(),
            "polled"
        );
        Ok(Polled::Stored(made))
    }

    /// Runs a poll row to its end: changes queued, or the failure recorded
    /// as any record's would be (retried, or a dead letter naming it).
    pub(super) async fn run_poll(
        &self,
        row: &InboxRow,
        flow: &'static dyn Flow,
        status: &PairStatus,
    ) -> Option<Outcome> {
        match self.poll(row, flow, status).await {
            Ok(Polled::Stored(made)) => {
                for id in made {
                    if let Err(e) = self.state.queue.push(id.as_str()).await {
                        tracing::warn!(error = %e, "queue push failed; the reconciler will retry");
                    }
                }
                None
            }
            Ok(Polled::Busy) => {
                if let Err(e) = inbox::release(
                    &self.state.db,
                    &row.id,
                    &self.owner,
                    BUSY_WAIT.as_millis() as i64,
                )
                .await
                {
                    tracing::error!(error = %e, "could not put back a poll; its lease will run out");
                }
                None
            }
            Err(e) => Some(Outcome::Failed(e)),
        }
    }
}

/// How long a poll waits when another one of the same flow is running.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Takes the flow's cursor for `lease_ms`: `None` if another poll holds it,
/// else the stored position (`Some(None)` before the first poll).
async fn take(
    db: &Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<Option<Option<Value>>, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO flow_cursors (pair_id, tenant_id, flow, position, updated_at) \
         VALUES ($1, $2, $3, 'null', $4) ON CONFLICT (pair_id, flow) DO NOTHING",
    )
    .bind(pair_id)
    .bind(tenant_id)
    .bind(flow)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let taken: Option<(String,)> = sqlx::query_as(
        "UPDATE flow_cursors SET lease_owner = $1, lease_until = $2 \
         WHERE pair_id = $3 AND flow = $4 AND (lease_until IS NULL OR lease_until < $5 OR lease_owner = $1) \
         RETURNING position",
    )
    .bind(owner)
    .bind(now + lease_ms)
    .bind(pair_id)
    .bind(flow)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(taken.map(|(position,)| {
        serde_json::from_str::<Value>(&position)
            .ok()
            .filter(|v| !v.is_null())
    }))
}

/// Moves the cursor and lets it go, if this poll still holds it.
async fn save(
    conn: &mut sqlx::AnyConnection,
    pair_id: &PairId,
    flow: &str,
    owner: &str,
    position: &Value,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE flow_cursors SET position = $1, updated_at = $2, lease_owner = NULL, lease_until = NULL \
         WHERE pair_id = $3 AND flow = $4 AND lease_owner = $5",
    )
    .bind(position.to_string())
    .bind(now)
    .bind(pair_id)
    .bind(flow)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn release(db: &Db, pair_id: &PairId, flow: &str, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE flow_cursors SET lease_owner = NULL, lease_until = NULL \
         WHERE pair_id = $1 AND flow = $2 AND lease_owner = $3",
    )
    .bind(pair_id)
    .bind(flow)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A poll that reads history instead of from the cursor: a backfill the
/// tenant asked for, or the flow's first run, which reads what changed since
/// the pair was made (a backfill reaches further back).
struct History {
    id: String,
    since_ms: i64,
    /// The first run's own record, made with its changes.
    first_run: bool,
}

async fn history(
    db: &crate::db::Db,
    row: &InboxRow,
    flow: &str,
    first: bool,
) -> Result<Option<History>, sqlx::Error> {
    let asked: Option<(String, i64)> = sqlx::query_as(
        "SELECT id, since_ms FROM backfills WHERE pair_id = $1 AND flow = $2 AND status = 'pending' \
         ORDER BY created_at LIMIT 1",
    )
    .bind(&row.pair_id)
    .bind(flow)
    .fetch_optional(db.pool())
    .await?;
    if let Some((id, since_ms)) = asked {
        return Ok(Some(History {
            id,
            since_ms,
            first_run: false,
        }));
    }
    if !first {
        return Ok(None);
    }
    let made: Option<(i64,)> = sqlx::query_as("SELECT created_at FROM pairs WHERE id = $1")
        .bind(&row.pair_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(made.map(|(since_ms,)| History {
        id: crate::ids::new_id("bkf"),
        since_ms,
        first_run: true,
    }))
}

impl History {
    /// What the read found, with the changes, in their transaction.
    async fn store(
        &self,
        conn: &mut sqlx::AnyConnection,
        row: &InboxRow,
        flow: &str,
        found: usize,
        queued: usize,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        if self.first_run {
            sqlx::query(
                "INSERT INTO backfills (id, tenant_id, pair_id, flow, since_ms, status, found, queued, \
                 requested_by, created_at, read_at) VALUES ($1,$2,$3,$4,$5,'read',$6,$7,$8,$9,$9)",
            )
            .bind(&self.id)
            .bind(&row.tenant_id)
            .bind(&row.pair_id)
            .bind(flow)
            .bind(self.since_ms)
            .bind(found as i64)
            .bind(queued as i64)
            .bind(crate::pairs::backfill::FIRST_RUN)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        } else {
            sqlx::query(
                "UPDATE backfills SET status = 'read', found = $1, queued = $2, read_at = $3 \
                 WHERE id = $4 AND status = 'pending'",
            )
            .bind(found as i64)
            .bind(queued as i64)
            .bind(now)
            .bind(&self.id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
