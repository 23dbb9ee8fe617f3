//! "Backfill from date X": one poll of a flow that reads the source from a
//! date instead of the flow's cursor, so history reaches the target. A
//! flow's first run is one too, from the day its pair was made (the sync
//! engine records it, `sync/poll.rs`). The
//! request is stored; the flow's next poll (asked for at once) takes it,
//! reads from the date, and queues the changes with the backfill's id in
//! the inbox; from there they run like any change, with retries, dead
//! letters and the ledger's once-only writes (a record already synced is
//! not written again). Progress is counted from those inbox rows, so it
//! survives a restart, and so does the work.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::flows;
use crate::audit;
use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::ids::{PairId, TenantId, new_id};
use crate::state::AppState;

/// Who "requested" a flow's first run.
pub const FIRST_RUN: &str = "first run";

/// `POST /api/v1/pairs/{id}/flows/{flow}/backfill`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// A date (`2026-01-01`, from its start in UTC) or an RFC 3339 time.
    pub since: String,
}

/// A backfill and how far it has come.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Backfill {
    pub id: String,
    pub flow: String,
    /// The flow's first run, which reads the changes since the pair was
    /// made (rather than a backfill someone asked for).
    pub first_run: bool,
    /// Where it reads from, RFC 3339.
    pub since: String,
    /// `waiting` (for its poll), `running` (changes queued, not all done)
    /// or `done`.
    pub status: String,
    /// Changes the source answered from `since` that were new to the flow.
    pub read: i64,
    /// Changes in the target: run to the end now, or taken by the flow
    /// before.
    pub written: i64,
    /// Changes that became dead letters.
    pub failed: i64,
    /// Changes still queued or retrying.
    pub pending: i64,
    /// Seconds left at the rate so far, while running.
    pub eta_s: Option<i64>,
    pub requested_at: i64,
    pub read_at: Option<i64>,
}

/// The start of `since`, in ms; a date alone is its first instant in UTC.
pub fn parse_since(since: &str, now: i64) -> Result<i64, ApiError> {
    let since = since.trim();
    let at = OffsetDateTime::parse(since, &Rfc3339).ok().or_else(|| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(since, format)
            .ok()
            .map(|d| d.midnight().assume_utc())
    });
    let at = at.ok_or_else(|| {
        ApiError::invalid(
            "since",
            format!("`{since}` is not a date (2026-01-31) or an RFC 3339 time"),
        )
    })?;
    let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    if ms > now {
        return Err(ApiError::invalid("since", "is in the future"));
    }
    Ok(ms)
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Stores a backfill of a polling flow that is on (managers only); the
/// caller asks for the poll that takes it.
pub async fn request(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    body: BackfillRequest,
) -> Result<Backfill, ApiError> {
    flows::check_pollable(state, who, pair_id, flow).await?;
    let now = now_ms();
    let since_ms = parse_since(&body.since, now)?;
    if let Some(waiting) = latest(state, &who.tenant_id, pair_id, flow)
        .await?
        .filter(|b| b.status == "waiting")
    {
        return Err(ApiError::Conflict {
            message: format!(
                "a backfill of {flow} from {} is waiting for its poll",
                waiting.since
            ),
            field: Some("since".into()),
        });
    }
    let id = new_id("bkf");
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO backfills (id, tenant_id, pair_id, flow, since_ms, status, requested_by, created_at) \
         VALUES ($1,$2,$3,$4,$5,'pending',$6,$7)",
    )
    .bind(&id)
    .bind(&who.tenant_id)
    .bind(pair_id)
    .bind(flow)
    .bind(since_ms)
    .bind(&who.email)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Some(&who.tenant_id),
        &who.actor(),
        "flow.backfill",
        Some(pair_id.as_str()),
        Some(&format!("{flow} from {}", rfc3339(since_ms))),
    )
    .await?;
    tx.commit().await?;
    latest(state, &who.tenant_id, pair_id, flow)
        .await?
        .ok_or(ApiError::NotFound("backfill"))
}

type Row = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    String,
    i64,
    Option<i64>,
);

/// The flow's latest backfill, with its progress.
pub async fn latest(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<Option<Backfill>, ApiError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, flow, since_ms, status, found, queued, requested_by, created_at, read_at FROM backfills \
         WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .fetch_optional(state.db.pool())
    .await?;
    let Some((id, flow, since_ms, status, found, queued, by, created_at, read_at)) = row else {
        return Ok(None);
    };
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM inbox WHERE pair_id = $1 AND batch = $2 GROUP BY status",
    )
    .bind(pair_id)
    .bind(&id)
    .fetch_all(state.db.pool())
    .await?;
    let count = |s: &str| counts.iter().filter(|c| c.0 == s).map(|c| c.1).sum::<i64>();
    let (done, failed) = (count("done"), count("dead"));
    let pending = counts.iter().map(|c| c.1).sum::<i64>() - done - failed;
    // Changes the flow had taken before are in the target already.
    let written = done + (found - queued).max(0);
    let progress = Progress {
        written: done,
        failed,
        pending,
        read_at,
        now: now_ms(),
    };
    Ok(Some(Backfill {
        id,
        flow,
        first_run: by == FIRST_RUN,
        since: rfc3339(since_ms),
        status: match (status.as_str(), pending) {
            ("pending", _) => "waiting",
            (_, 0) => "done",
            _ => "running",
        }
        .to_owned(),
        read: found,
        written,
        failed,
        pending,
        eta_s: progress.eta_s(),
        requested_at: created_at,
        read_at,
    }))
}

/// What the ETA is worked out from.
struct Progress {
    written: i64,
    failed: i64,
    pending: i64,
    read_at: Option<i64>,
    now: i64,
}

impl Progress {
    /// Seconds left at the rate so far; `None` before anything finished
    /// or once nothing is left.
    fn eta_s(&self) -> Option<i64> {
        let finished = self.written + self.failed;
        let elapsed = self.now - self.read_at?;
        (self.pending > 0 && finished > 0).then(|| (elapsed * self.pending / finished + 999) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_date_or_a_time_and_never_ahead() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_since("2026-01-31", now).unwrap(), 1_769_817_600_000);
        assert_eq!(
            parse_since("2026-01-31T01:00:00Z", now).unwrap(),
            1_769_821_200_000
        );
        for bad in ["last week", "2026-02-30", "2030-01-01"] {
            let e = parse_since(bad, now).unwrap_err();
            assert!(
                matches!(&e, ApiError::BadRequest { field: Some(f), .. } if f == "since"),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn the_eta_follows_the_rate_so_far() {
        let p = Progress {
            written: 40,
            failed: 10,
            pending: 100,
            read_at: Some(0),
            now: 10_000,
        };
        assert_eq!(p.eta_s(), Some(20));
        assert_eq!(Progress { pending: 0, ..p }.eta_s(), None);
        let p = Progress {
            written: 0,
            failed: 0,
            pending: 5,
            read_at: Some(0),
            now: 1,
        };
        assert_eq!(p.eta_s(), None, "no rate yet");
    }
}
