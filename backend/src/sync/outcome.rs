//! Records what became of one attempt, in one transaction: the ledger's
//! completions and the usage they count, the run and its attempt, the inbox
//! state (through [`super::inbox`], the only writer of those tables) and the
//! tenant's order history. The retry decision is `connect_jobs::retry`'s.

use connect_jobs::flows::FlowError;
use connect_jobs::mapping::anomaly::OrderSummary;
use connect_jobs::mapping::pipeline::Flag;
use connect_jobs::retry::{Backoff, RetryPolicy, Verdict};

use super::inbox::{self, RowEnd, RunEnd};
use super::{Attempt, Outcome};
use crate::db::now_ms;
use crate::state::AppState;

/// Writes the attempt's outcome. Returns the order the tenant's history
/// gained, with the history revision it made, for the in-memory window.
pub(super) async fn record(
    state: &AppState,
    owner: &str,
    attempt: &Attempt<'_>,
) -> Result<Option<(i64, OrderSummary)>, sqlx::Error> {
    let written = write(state, owner, attempt).await;
    if written.is_err()
        && let Some(ledger) = &attempt.ledger
    {
        ledger.rolled_back();
    }
    written
}

async fn write(
    state: &AppState,
    owner: &str,
    attempt: &Attempt<'_>,
) -> Result<Option<(i64, OrderSummary)>, sqlx::Error> {
    let row = attempt.row;
    let now = now_ms();
    let started_at = now - attempt.elapsed.as_millis() as i64;
    let verdict = match &attempt.outcome {
        Outcome::Failed(err) => Some(decide(state, row.attempts, err, now)),
        _ => None,
    };
    let message = match &attempt.outcome {
        Outcome::Failed(err) => err.to_string(),
        _ => String::new(),
    };
    let end = match (&attempt.outcome, verdict) {
        (Outcome::Skipped(why), _) => RowEnd::Skipped { why },
        (Outcome::Done(_), _) => RowEnd::Succeeded,
        (Outcome::Failed(_), Some(Some(at))) => RowEnd::Retry {
            at,
            message: &message,
        },
        (Outcome::Failed(_), _) => RowEnd::Dead { message: &message },
    };
    let mut tx = state.db.begin_write().await?;
    // What reached the target is a fact whoever holds the lease: stored
    // (and counted) even when the outcome is left to a new holder.
    if let Some(ledger) = &attempt.ledger {
        ledger.commit(&mut tx).await?;
    }
    if !inbox::end_row(&mut tx, &row.id, owner, &end, now).await? {
        tx.commit().await?;
        tracing::warn!("lease lost before the outcome was recorded; leaving it to the new holder");
        return Ok(None);
    }
    if let RowEnd::Skipped { .. } = end {
        tx.commit().await?;
        metrics::counter!("connect_jobs_total", "queue" => "inbox", "outcome" => "skipped")
            .increment(1);
        return Ok(None);
    }
    let polled = matches!(
        connect_jobs::flows::for_event(&row.event_type),
        Some(connect_jobs::flows::Work::Poll(_))
    );
    let source_id = match &attempt.outcome {
        Outcome::Done(w) => Some(w.source_id.clone()),
        // A failed poll is about no one record.
        _ if polled => Some("poll".to_owned()),
        _ => serde_json::from_str(&row.payload)
            .ok()
            .and_then(|event| attempt.flow?.source_id(&event)),
    };
    let field = match &attempt.outcome {
        Outcome::Failed(err) => err.field(),
        _ => None,
    };
    let run_end = match (&attempt.outcome, &end) {
        (Outcome::Done(w), _) => RunEnd::Succeeded {
            source_id: &w.source_id,
            target_id: &w.target_id,
            flags: flags_json(&w.flags),
            skipped: w.skipped.as_deref(),
        },
        (_, RowEnd::Retry { .. }) => RunEnd::Retrying {
            message: &message,
            field: field.as_deref(),
        },
        (Outcome::Failed(err), _) => RunEnd::Dead {
            message: &message,
            field: field.as_deref(),
            flags: match err {
                FlowError::Invalid { flags, .. } => flags_json(flags),
                _ => None,
            },
        },
        // Ended above.
        (Outcome::Skipped(_), _) => return Ok(None),
    };
    let run_id = inbox::record_run(
        &mut tx,
        row,
        attempt.flow_name(),
        source_id.as_deref(),
        attempt.version,
        started_at,
        &run_end,
        now,
    )
    .await?;
    let mut remembered = None;
    let (label, error): (&str, Option<&str>) = match (&attempt.outcome, &end) {
        (Outcome::Done(w), _) => {
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
            tracing::info!(source_id = %w.source_id, target_id = %w.target_id, created = w.created, "{} synced", attempt.flow.map_or("record", |f| f.noun()));
            ("succeeded", None)
        }
        (_, RowEnd::Retry { at, .. }) => {
            tracing::warn!(error = %message, retry_in_ms = at - now, "attempt failed; will retry");
            ("retrying", Some(&message))
        }
        (Outcome::Failed(err), _) => {
            let details = match err {
                FlowError::Invalid { issues, .. } => {
                    Some(serde_json::to_string(issues).unwrap_or_else(|_| "[]".into()))
                }
                _ => None,
            };
            let dl = inbox::DeadLetter {
                flow: attempt.flow_name(),
                source_id: source_id.as_deref(),
                message: &message,
                field: field.as_deref(),
                details,
            };
            inbox::dead_letter(&mut tx, row, &run_id, &dl, now).await?;
            tracing::error!(error = %message, field = ?field, "permanent failure; dead-lettered");
            ("dead", Some(&message))
        }
        (Outcome::Skipped(_), _) => return Ok(None),
    };
    inbox::record_attempt(&mut tx, &run_id, started_at, now, label, error).await?;
    tx.commit().await?;
    metrics::counter!("connect_jobs_total", "queue" => "inbox", "outcome" => label).increment(1);
    metrics::histogram!("connect_run_duration_seconds", "flow" => attempt.flow_name())
        .record(attempt.elapsed.as_secs_f64());
    Ok(remembered)
}

/// After a failure: when to try again (`Some(at)`, epoch ms), or `None` to
/// give up, as the retry policy says.
fn decide(state: &AppState, attempts: i64, err: &FlowError, now: i64) -> Option<i64> {
    let cfg = &state.config;
    let policy = RetryPolicy {
        backoff: Backoff {
            base: cfg.retry_base,
            cap: cfg.retry_cap,
        },
        max_attempts: cfg.max_attempts,
    };
    match policy.after_failure(err.class(), attempts as u32, rand::random()) {
        Verdict::RetryIn(delay) => Some(now + delay.as_millis() as i64),
        Verdict::GiveUp => None,
    }
}

/// A run's flags as its JSON column; NULL for none.
fn flags_json(flags: &[Flag]) -> Option<String> {
    (!flags.is_empty()).then(|| serde_json::to_string(flags).unwrap_or_else(|_| "[]".into()))
}
