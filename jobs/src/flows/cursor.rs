//! The cursor of a polling flow, and what a poll's rows come to: the
//! changes the cursor has not taken, and the cursor after them. Shared by
//! every flow that polls an ERP by modified time.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Change, PollPage};
use crate::connectors::intacct::wire::format_timestamp;

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

/// The changes among `rows` (each with its modified time) that the cursor
/// has not taken, and the cursor after them. The first poll (no cursor)
/// takes the source as it stands as its starting point and sends nothing:
/// turning a flow on syncs the changes made from then on.
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
