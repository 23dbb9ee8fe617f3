//! Runs (one per inbox event, with its attempts) and dead letters, tenant-scoped.

use connect_jobs::mapping::pipeline::Flag;
use connect_jobs::mapping::validate::ValidationIssue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::{Db, now_ms};
use crate::error::ApiError;
use crate::ids::{PairId, TenantId};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Run {
    pub id: String,
    pub flow: String,
    /// running, retrying, succeeded, skipped or dead
    pub status: String,
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub attempts: i64,
    pub error: Option<String>,
    pub error_field: Option<String>,
    pub template_version: Option<i64>,
    /// What the mapping flagged without blocking the write: fuzzy SKU
    /// matches (`fuzzy_sku`) and anomalies (`anomaly:<kind>`).
    pub flags: Vec<RunFlag>,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// A flag on a run (or, in a preview, one the run would get).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunFlag {
    /// `fuzzy_sku`, or `anomaly:totals_mismatch`, `anomaly:amount_outlier` …
    pub kind: String,
    /// The source field (`lineItems[1].sku`).
    pub field: String,
    pub message: String,
}

impl From<Flag> for RunFlag {
    fn from(f: Flag) -> Self {
        Self {
            kind: f.kind,
            field: f.field,
            message: f.message,
        }
    }
}

/// One validation issue of a record the mapping refused (on a dead letter,
/// or in a preview).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssueDetail {
    /// The record's id (the Clarity order id).
    pub record: String,
    /// The field, with element indexes: a source field the conversions read
    /// (`lineItems[1].sku`, `currency`) or a target field (`sotransitems[0].itemid`).
    pub field: String,
    /// The offending value; null when the field is missing.
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    /// required, type, max_len, enum, reference or unknown; in a preview,
    /// `source` when the stored event could not be read.
    pub rule: String,
    pub message: String,
    /// How to fix it, when that can be said (for an unknown SKU: the three
    /// closest catalog items).
    pub suggestion: Option<String>,
}

impl From<ValidationIssue> for IssueDetail {
    fn from(i: ValidationIssue) -> Self {
        Self {
            record: i.record,
            field: i.field,
            value: i.value,
            rule: i.rule.as_str().to_owned(),
            message: i.message,
            suggestion: i.suggestion,
        }
    }
}

/// A JSON list column; a value that does not parse reads as empty rather
/// than failing the whole listing.
fn json_list<T: for<'de> Deserialize<'de>>(text: Option<String>) -> Vec<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

type RunRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

/// Which runs to list: by status, by flow, or both.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunFilter<'a> {
    pub status: Option<&'a str>,
    pub flow: Option<&'a str>,
}

pub async fn list(
    db: &Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
    filter: RunFilter<'_>,
    limit: i64,
) -> Result<Vec<Run>, sqlx::Error> {
    let mut sql = "SELECT id, flow, status, source_id, target_id, attempts, error, error_field, template_version, \
                started_at, updated_at, finished_at, flags FROM runs WHERE tenant_id = $1 AND pair_id = $2"
        .to_owned();
    let mut n = 2;
    let mut values = Vec::new();
    for (column, value) in [("status", filter.status), ("flow", filter.flow)] {
        if let Some(v) = value {
            n += 1;
            sql.push_str(&format!(" AND {column} = ${n}"));
            values.push(v);
        }
    }
    sql.push_str(&format!(
        " ORDER BY started_at DESC, id DESC LIMIT ${}",
        n + 1
    ));
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(pair_id);
    for v in values {
        query = query.bind(v);
    }
    let rows: Vec<RunRow> = query.bind(limit).fetch_all(db.pool()).await?;
    Ok(rows
        .into_iter()
        .map(|r| Run {
            id: r.0,
            flow: r.1,
            status: r.2,
            source_id: r.3,
            target_id: r.4,
            attempts: r.5,
            error: r.6,
            error_field: r.7,
            template_version: r.8,
            flags: json_list(r.12),
            started_at: r.9,
            updated_at: r.10,
            finished_at: r.11,
        })
        .collect())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: String,
    pub flow: String,
    pub source_id: Option<String>,
    pub reason: String,
    pub field: Option<String>,
    /// Every validation issue when the mapping refused the record (empty for
    /// other failures): what to fix before replaying.
    pub details: Vec<IssueDetail>,
    pub run_id: Option<String>,
    pub created_at: i64,
    pub replayed_at: Option<i64>,
}

pub async fn dead_letters(
    db: &Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    type Row = (
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, flow, source_id, reason, field, run_id, created_at, replayed_at, details FROM dead_letters \
         WHERE tenant_id = $1 AND pair_id = $2 ORDER BY created_at DESC, id DESC LIMIT 500",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeadLetter {
            id: r.0,
            flow: r.1,
            source_id: r.2,
            reason: r.3,
            field: r.4,
            details: json_list(r.8),
            run_id: r.5,
            created_at: r.6,
            replayed_at: r.7,
        })
        .collect())
}

/// Sends a dead letter's event through its flow again, with the pair's current
/// template. Returns the inbox id to push.
pub async fn replay(
    db: &Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
    dl_id: &str,
) -> Result<String, ApiError> {
    let mut tx = db.begin_write().await?;
    let row: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT inbox_id, replayed_at FROM dead_letters WHERE tenant_id = $1 AND pair_id = $2 AND id = $3",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(dl_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (inbox_id, replayed) = row.ok_or(ApiError::NotFound("dead letter"))?;
    if replayed.is_some() {
        return Err(ApiError::Conflict {
            message: "this dead letter was already replayed".into(),
            field: None,
        });
    }
    crate::sync::inbox::replay(&mut tx, tenant_id, dl_id, &inbox_id, now_ms()).await?;
    tx.commit().await?;
    Ok(inbox_id)
}
