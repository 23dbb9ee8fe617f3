//! The cursor of a polling flow, and what a poll's rows come to: the
//! changes the cursor has not taken, and the cursor after them. Shared by
//! every flow that polls an ERP by modified time.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::{Change, ErpTarget, FlowError, PollPage};
use crate::connectors::ConnectorError;
use crate::connectors::intacct::Checkpoint;
use crate::connectors::intacct::functions::text;
use crate::connectors::intacct::reads::MODIFIED_OVERLAP_MS;
use crate::connectors::intacct::wire::format_timestamp;

/// Sage Pro's polling overlap (spec §2: checkpoint − 2 min).
pub const SAGEPRO_OVERLAP_MS: i64 = 2 * 60 * 1000;

/// What an ERP answers a poll with: each record and its modified time.
pub type Rows = Vec<(Value, Option<i64>)>;

/// Reads the stored cursor of `flow`; `None` before its first poll.
pub fn stored(flow: &str, cursor: Option<&Value>) -> Result<Option<Cursor>, FlowError> {
    cursor
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| FlowError::Event(format!("stored {flow} cursor: {e}")))
}

/// How far back each poll reads again, per the ERP's spec.
pub fn overlap(erp: &ErpTarget) -> i64 {
    match erp {
        ErpTarget::Intacct(_) => MODIFIED_OVERLAP_MS,
        ErpTarget::Sagepro(_) => SAGEPRO_OVERLAP_MS,
    }
}

/// Reads an ERP's records changed since the cursor's time: Intacct's
/// `intacct_object` by `WHENMODIFIED` (the overlap applied by the
/// connector), or what `sagepro` lists from `ModifiedSince` (inclusive),
/// the overlap before it.
pub async fn read_changed<'a, T, F, Fut>(
    erp: &'a ErpTarget,
    from: Option<i64>,
    intacct_object: &str,
    intacct_fields: &[&str],
    sagepro: F,
) -> Result<Rows, ConnectorError>
where
    T: Serialize,
    F: FnOnce(&'a crate::connectors::sagepro::SageProClient, Option<OffsetDateTime>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ConnectorError>>,
{
    read_changed_of(erp, from, (intacct_object, None), intacct_fields, sagepro).await
}

/// [`read_changed`] of Intacct Order Entry documents of one definition
/// (`("SODOCUMENT", Some("Sales Shipper"))`).
pub async fn read_changed_of<'a, T, F, Fut>(
    erp: &'a ErpTarget,
    from: Option<i64>,
    (intacct_object, docparid): (&str, Option<&str>),
    intacct_fields: &[&str],
    sagepro: F,
) -> Result<Rows, ConnectorError>
where
    T: Serialize,
    F: FnOnce(&'a crate::connectors::sagepro::SageProClient, Option<OffsetDateTime>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ConnectorError>>,
{
    match erp {
        ErpTarget::Intacct(client) => {
            let from = Checkpoint {
                when_modified_ms: from,
                seen: Default::default(),
            };
            let (rows, _) = client
                .documents_modified_since(intacct_object, docparid, intacct_fields, &from)
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    let at = text(&r, "WHENMODIFIED")
                        .as_deref()
                        .and_then(|t| client.instant_of(t));
                    (Value::Object(r), at)
                })
                .collect())
        }
        ErpTarget::Sagepro(client) => {
            let since = from.map(|ms| ms - SAGEPRO_OVERLAP_MS).and_then(|ms| {
                OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
            });
            Ok(sagepro(client, since)
                .await?
                .into_iter()
                .map(|row| {
                    let record = serde_json::to_value(row).unwrap_or(Value::Null);
                    let at = record
                        .get("LastModified")
                        .and_then(Value::as_str)
                        .and_then(|t| {
                            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64);
                    (record, at)
                })
                .collect())
        }
    }
}

/// One row a poll read: the record, its identity, what tells its states
/// apart, and its modified time (epoch ms) where the source gives one.
pub struct Polled {
    pub record: Value,
    pub subject: String,
    pub version: String,
    pub at: Option<i64>,
}

/// How far a poll has read: the newest modified time seen, and
/// the changes already taken within the overlap before it (the next poll
/// reads that stretch again, as the specs advise, and skips them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub modified_ms: Option<i64>,
    #[serde(default)]
    pub seen: Vec<(String, i64)>,
    /// The modified time as the ERP writes it, for people reading the cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

/// What tells two states of a polled record apart: Sage Pro's
/// `RowVersion`, else a digest of what the ERP answered (two Intacct edits
/// within one second share a `WHENMODIFIED`).
pub fn version_of(record: &Value) -> String {
    if let Some(v) = record.get("RowVersion").and_then(Value::as_i64) {
        return format!("v{v}");
    }
    digest(record)
}

/// A short, stable digest of a JSON value.
pub fn digest(v: &Value) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(v.to_string().as_bytes())[..8])
}

impl Cursor {
    /// A cursor that reads from `ms` on, as a backfill does: every record
    /// modified from then is a change.
    pub fn from_time(ms: i64) -> Value {
        serde_json::to_value(Cursor {
            modified_ms: Some(ms),
            seen: Vec::new(),
            modified: None,
        })
        .unwrap_or(Value::Null)
    }
}

/// The changes among `rows` (each with its modified time) that the cursor
/// has not taken, and the cursor after them. Without a cursor the source is
/// taken as it stands as the starting point and nothing is sent (the engine
/// starts a first run from a time instead: the pair's making).
pub fn page(flow: &str, cursor: Option<&Cursor>, rows: Vec<Polled>, overlap_ms: i64) -> PollPage {
    let first = cursor.is_none();
    let cursor = cursor.cloned().unwrap_or_default();
    let mut changes = Vec::new();
    let mut seen = cursor.seen.clone();
    let mut newest = cursor.modified_ms;
    for Polled {
        record,
        subject,
        version,
        at,
    } in rows
    {
        let event_id = format!("{flow}:{subject}:{version}");
        if seen.iter().any(|(id, _)| *id == event_id) {
            continue;
        }
        let at = at.or(newest).unwrap_or(0);
        newest = newest.max(Some(at));
        seen.push((event_id.clone(), at));
        if !first {
            changes.push(Change {
                event_id,
                subject,
                record,
            });
        }
    }
    if let Some(n) = newest {
        seen.retain(|(_, at)| *at >= n - overlap_ms);
    }
    seen.sort();
    PollPage {
        changes,
        cursor: serde_json::to_value(Cursor {
            modified_ms: newest,
            seen,
            modified: newest.map(format_timestamp),
        })
        .unwrap_or(Value::Null),
    }
}
