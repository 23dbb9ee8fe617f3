//! Reading whole collections: page to the end, and incremental reads by
//! modification time (spec §2, "Incremental polling"): ask from the
//! checkpoint minus an overlap, page until `hasMore` is false, drop what was
//! already seen at the same version, and move the checkpoint to the newest
//! `updatedDate` read.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::client::{Call, ClarityClient, ListQuery};
use super::wire::Page;
use crate::connectors::{ConnectorError, System};

/// Pages are asked this big when the caller does not say (the spec's cap).
const FULL_PAGE: u32 = 200;
/// Re-read this far behind the checkpoint: clocks and commits are not
/// perfectly ordered, and `updatedDate` has whole seconds (spec §2: 2 min).
pub const CHECKPOINT_OVERLAP: time::Duration = time::Duration::minutes(2);
/// A list that keeps saying `hasMore` beyond this many pages is broken.
const MAX_PAGES: u32 = 10_000;

/// Where an incremental read stands: the newest `updatedDate` read so far,
/// and the versions read inside the overlap window before it (those come
/// back on the next read and are not news).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    pub updated_since: Option<OffsetDateTime>,
    /// id → (version, updatedDate) of records inside the overlap window.
    pub recent: BTreeMap<String, (i64, OffsetDateTime)>,
}

/// What an incremental read found.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes<T> {
    /// Each changed record once, at its newest version, oldest change first.
    pub records: Vec<T>,
    /// Where the next read starts.
    pub cursor: Cursor,
}

impl ClarityClient {
    /// One page of any collection (`/products`, `/returns`, …).
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> Result<Page<T>, ConnectorError> {
        self.send(Call {
            method: Method::GET,
            path,
            query: &query.to_pairs(),
            body: None,
            idempotency_key: None,
            if_match: None,
        })
        .await
    }

    /// Every record of a collection that matches `query`, paging to the end
    /// (from `query.page_index`, 200 a page unless `query.page_size` says).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut q = query.clone();
        q.page_size = Some(q.page_size.unwrap_or(FULL_PAGE));
        let first = q.page_index.unwrap_or(0);
        let mut out = Vec::new();
        for index in first..first.saturating_add(MAX_PAGES) {
            q.page_index = Some(index);
            let page: Page<T> = self.list_page(path, &q).await?;
            let empty = page.results.is_empty();
            out.extend(page.results);
            if !page.has_more || empty {
                return Ok(out);
            }
        }
        Err(ConnectorError::Protocol {
            system: System::Clarity,
            message: format!("{path}: still hasMore after {MAX_PAGES} pages"),
        })
    }

    /// Records of `path` changed since `cursor` (all of them from a default
    /// cursor): reads from `updatedDate − 2 min`, pages to the end, drops
    /// what the cursor already saw at the same version (spec §2 dedupes on
    /// (id, version)) and returns the cursor for the next read. `query` may
    /// add filters; its paging and sort are set here.
    pub async fn changed_since<T: DeserializeOwned>(
        &self,
        path: &str,
        id_field: &str,
        cursor: &Cursor,
        query: &ListQuery,
    ) -> Result<Changes<T>, ConnectorError> {
        let q = ListQuery {
            updated_date_min: cursor.updated_since.map(|c| c - CHECKPOINT_OVERLAP),
            sort: Some(format!("updatedDate:asc,{id_field}:asc")),
            page_index: None,
            ..query.clone()
        };
        let rows: Vec<serde_json::Value> = self.list_all(path, &q).await?;
        let mut next = cursor.clone();
        // A record changed while we paged shows up again at its new version:
        // keep one entry per id, at the newest version.
        let mut at: HashMap<String, usize> = HashMap::new();
        let mut kept: Vec<serde_json::Value> = Vec::with_capacity(rows.len());
        for row in rows {
            let id = match &row[id_field] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let version = row["version"].as_i64().unwrap_or(0);
            let updated = row["updatedDate"]
                .as_str()
                .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                .ok_or_else(|| ConnectorError::Protocol {
                    system: System::Clarity,
                    message: format!("{path}: {id} has no readable updatedDate"),
                })?;
            if next.recent.get(&id).is_some_and(|(v, _)| *v >= version) {
                continue;
            }
            next.recent.insert(id.clone(), (version, updated));
            if next.updated_since.is_none_or(|n| updated > n) {
                next.updated_since = Some(updated);
            }
            match at.get(&id) {
                Some(&i) => kept[i] = row,
                None => {
                    at.insert(id, kept.len());
                    kept.push(row);
                }
            }
        }
        if let Some(since) = next.updated_since {
            next.recent
                .retain(|_, (_, updated)| *updated >= since - CHECKPOINT_OVERLAP);
        }
        let records = kept
            .into_iter()
            .map(|row| {
                serde_json::from_value(row).map_err(|e| ConnectorError::Protocol {
                    system: System::Clarity,
                    message: format!("{path}: unreadable record: {e}"),
                })
            })
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Changes {
            records,
            cursor: next,
        })
    }
}
