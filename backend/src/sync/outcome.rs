//! Records what became of one attempt, in one transaction: the ledger's
//! completions and the usage they count, the run and its attempt, the inbox
//! state (through [`super::inbox`], the only writer of those tables) and the
//! tenant's order history. The retry decision is `connect_jobs::retry`'s.

use connect_jobs::flows::FlowError;
use connect_jobs::mapping::anomaly::OrderSummary;
use connect_jobs::mapping::pipeline::Flag;
use connect_jobs::retry::{Backoff, RetryPolicy, Verdict};

use super::{Attempt, Outcome, inbox};
use crate::db::now_ms;
use crate::state::AppState;

/// Writes the attempt's outcome. Returns the order the tenant's history
/// gained, with the history revision it made, for the in-memory window.
pub(super) async fn record(
    state: &AppState,
    owner: &str,
    attempt: &Attempt<'_>,
) -> Result<Option<(i64, OrderSummary)>, sqlx::Error> {
    let row = attempt.row;
    let now = now_ms();
    let started_at = now - attempt.elapsed.as_millis() as i64;
    let mut tx = state.db.begin_write().await?;
    // What reached the target is a fact whoever holds the lease: stored
    // (and counted) even when the outcome is left to a new holder.
    if let Some(ledger) = &attempt.ledger {
        ledger.commit(&mut tx).await?;
    }
    if !inbox::lease_held(&mut tx, &row.id, owner).await? {
        tx.commit().await?;
        tracing::warn!("lease lost before the outcome was recorded; leaving it to the new holder");
        return Ok(None);
    }
    if let Outcome::Skipped(why) = &attempt.outcome {
        inbox::finish_skipped(&mut tx, &row.id, why, now).await?;
        tx.commit().await?;
        metrics::counter!("connect_jobs_total", "queue" => "inbox", "outcome" => "skipped")
            .increment(1);
        return Ok(None);
    }
    let source_id = match &attempt.outcome {
        Outcome::Done(w) => Some(w.source_id.clone()),
        _ => serde_json::from_str(&row.payload)
            .ok()
            .and_then(|event| connect_jobs::flows::for_event(&row.event_type)?.source_id(&event)),
    };
    let run_id = inbox::open_run(
        &mut tx,
        row,
        attempt.flow,
        source_id.as_deref(),
        attempt.version,
        started_at,
    )
    .await?;
    let mut remembered = None;
    let (label, error): (&str, Option<String>) = match &attempt.outcome {
        Outcome::Done(w) => {
            inbox::finish_succeeded(
                &mut tx,
                &row.id,
                &run_id,
                &w.source_id,
                &w.target_id,
                flags_json(&w.flags),
                now,
            )
            .await?;
            // Only what was written counts in the tenant's history.
            if let Some(order) = &w.history {
                let (summary, revision) = crate::history::record_order(
                    &mut tx,
                    &row.tenant_id,
                    &row.pair_id,
                    &w.source_id,
                    order,
                )
                .await?;
                remembered = Some((revision, summary));
            }
            tracing::info!(source_id = %w.source_id, target_id = %w.target_id, created = w.created, "{} synced", attempt.noun);
            ("succeeded", None)
        }
        // Answered before a run was made.
        Outcome::Skipped(_) => return Ok(None),
        Outcome::Failed(err) => {
            failed(
                state,
                &mut tx,
                attempt,
                err,
                &run_id,
                source_id.as_deref(),
                now,
            )
            .await?
        }
    };
    inbox::record_attempt(&mut tx, &run_id, started_at, now, label, error.as_deref()).await?;
    tx.commit().await?;
    metrics::counter!("connect_jobs_total", "queue" => "inbox", "outcome" => label).increment(1);
    metrics::histogram!("connect_run_duration_seconds", "flow" => attempt.flow)
        .record(attempt.elapsed.as_secs_f64());
    Ok(remembered)
}

/// A failed attempt: a retry when the policy allows one, else a dead letter.
async fn failed(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    attempt: &Attempt<'_>,
    err: &FlowError,
    run_id: &str,
    source_id: Option<&str>,
    now: i64,
) -> Result<(&'static str, Option<String>), sqlx::Error> {
    let row = attempt.row;
    let cfg = &state.config;
    let message = err.to_string();
    let field = err.field();
    let policy = RetryPolicy {
        backoff: Backoff {
            base: cfg.retry_base,
            cap: cfg.retry_cap,
        },
        max_attempts: cfg.max_attempts,
    };
    match policy.after_failure(err.class(), row.attempts as u32, rand::random()) {
        Verdict::RetryIn(delay) => {
            let at = now + delay.as_millis() as i64;
            inbox::schedule_retry(tx, &row.id, run_id, at, &message, field.as_deref(), now).await?;
            tracing::warn!(error = %message, retry_in_ms = delay.as_millis() as u64, "attempt failed; will retry");
            Ok(("retrying", Some(message)))
        }
        Verdict::GiveUp => {
            let (details, flags) = match err {
                FlowError::Invalid { issues, flags } => (
                    Some(serde_json::to_string(issues).unwrap_or_else(|_| "[]".into())),
                    flags_json(flags),
                ),
                _ => (None, None),
            };
            let dl = inbox::DeadLetter {
                source_id,
                message: &message,
                field: field.as_deref(),
                details,
                flags,
            };
            inbox::dead_letter(tx, row, run_id, &dl, now).await?;
            tracing::error!(error = %message, field = ?field, "permanent failure; dead-lettered");
            Ok(("dead", Some(message)))
        }
    }
}

/// A run's flags as its JSON column; NULL for none.
fn flags_json(flags: &[Flag]) -> Option<String> {
    (!flags.is_empty()).then(|| serde_json::to_string(flags).unwrap_or_else(|_| "[]".into()))
}
