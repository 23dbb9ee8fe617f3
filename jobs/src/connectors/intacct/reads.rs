//! Reads: `read` / `readByName` by key, `readByQuery` + `readMore` and `query`
//! with offset paging, both to the end (spec §5.1–§5.4), and the look-ups built
//! on them (sales orders by reference, inventory levels, WHENMODIFIED deltas).
//!
//! Reads go with `uniqueid=false` and throw-away control ids (spec §8.2).

use std::collections::BTreeSet;

use crate::connectors::{ConnectorError, System};

use super::classify;
use super::client::{BatchMode, IntacctClient, MAX_FUNCTIONS_PER_REQUEST, error_message};
use super::functions::{ApiFunction, Data, Done, Record, protocol, quote, status_of, text};
use super::wire::{
    Condition, Conditions, Direction, FieldValue, FieldValues, Filter, Order, OrderBy, Query,
    ReadByQuery, Select, SelectItem, Status,
};

const SYSTEM: System = System::Intacct;

/// `read` takes at most 100 keys (spec §9).
pub const MAX_READ_KEYS: usize = 100;
/// `readByQuery` / `readMore` page: 1–1000 (spec §9).
pub const MAX_READ_BY_QUERY_PAGE: u32 = 1000;
/// `query` page: 1–2000 (spec §9).
pub const MAX_QUERY_PAGE: u32 = 2000;
/// How far back a WHENMODIFIED poll reaches before its checkpoint (spec §5.4).
pub const MODIFIED_OVERLAP_MS: i64 = 5 * 60 * 1000;

fn read_id() -> String {
    format!("read-{}", uuid::Uuid::now_v7())
}

fn bad_page(field: &str, size: u32, max: u32) -> ConnectorError {
    ConnectorError::Validation {
        system: SYSTEM,
        field: Some(field.to_owned()),
        message: format!("page size {size} is outside 1..={max}"),
    }
}

/// One item's quantities in one warehouse (`ITEMWAREHOUSEINFO`, spec §6.4).
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryLevel {
    pub item_id: String,
    pub warehouse_id: String,
    /// Quantity per total name (ONHAND, ONORDER, ONHOLD, or the tenant's own).
    pub quantities: Vec<(String, rust_decimal::Decimal)>,
}

/// The quantity columns of ITEMWAREHOUSEINFO. The public docs do not list them
/// (spec §6.4), so they are configuration; these are the simulator's.
pub const DEFAULT_INVENTORY_TOTALS: [&str; 3] = ["ONHAND", "ONORDER", "ONHOLD"];

/// Where a WHENMODIFIED poll got to (spec §5.4): the newest WHENMODIFIED seen
/// and the records seen within the overlap window before it, so the next poll
/// can drop them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Unix ms of the newest WHENMODIFIED seen (Intacct's zone-less time read
    /// in the company's zone: an instant).
    pub when_modified_ms: Option<i64>,
    /// `(RECORDNO, WHENMODIFIED)` of the records in the overlap window.
    pub seen: BTreeSet<(String, String)>,
}

impl IntacctClient {
    /// Generic `read` by RECORDNO; more than 100 keys go as several functions
    /// of one request. `fields` empty means all (`*`).
    pub async fn read(
        &self,
        object: &str,
        recordnos: &[String],
        fields: &[&str],
    ) -> Result<Vec<Record>, ConnectorError> {
        self.read_keys(object, recordnos, fields, false).await
    }

    /// `readByName`: keys are business ids (CUSTOMERID, ITEMID, …).
    pub async fn read_by_name(
        &self,
        object: &str,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Record>, ConnectorError> {
        self.read_keys(object, ids, fields, true).await
    }

    async fn read_keys(
        &self,
        object: &str,
        keys: &[String],
        fields: &[&str],
        by_name: bool,
    ) -> Result<Vec<Record>, ConnectorError> {
        let fields = field_list(fields);
        let mut out = Vec::new();
        let chunks: Vec<&[String]> = keys.chunks(MAX_READ_KEYS).collect();
        for group in chunks.chunks(MAX_FUNCTIONS_PER_REQUEST) {
            let functions: Vec<ApiFunction> = group
                .iter()
                .map(|keys| {
                    if by_name {
                        ApiFunction::read_by_name(&read_id(), object, keys, &fields)
                    } else {
                        ApiFunction::read(&read_id(), object, keys, &fields)
                    }
                })
                .collect::<Result<_, _>>()?;
            for outcome in self.batch(&functions, BatchMode::default()).await? {
                out.extend(outcome?.records().iter().cloned());
            }
        }
        Ok(out)
    }

    /// `readByQuery`, then `readMore` until nothing remains. `query` uses the
    /// SQL-like syntax (values quoted with [`quote`]); it may be empty.
    pub async fn read_by_query(
        &self,
        object: &str,
        fields: &[&str],
        query: &str,
        pagesize: u32,
    ) -> Result<Vec<Record>, ConnectorError> {
        if !(1..=MAX_READ_BY_QUERY_PAGE).contains(&pagesize) {
            return Err(bad_page("pagesize", pagesize, MAX_READ_BY_QUERY_PAGE));
        }
        let first = ApiFunction::read_by_query(
            &read_id(),
            ReadByQuery {
                object: object.to_owned(),
                fields: field_list(fields),
                query: query.to_owned(),
                pagesize: Some(pagesize),
                return_format: None,
                docparid: None,
            },
        )?;
        let mut data = self.data_of(first).await?;
        let mut records = std::mem::take(&mut data.records);
        // Each page must shrink what remains; a cursor that does not is a bug
        // on the other side, not a reason to loop forever.
        let mut remaining = data.numremaining.unwrap_or(0);
        while remaining > 0 {
            let Some(result_id) = data.result_id.clone() else {
                return Err(protocol(format!(
                    "readByQuery on {object}: {remaining} records remain but no resultId came back"
                )));
            };
            data = self
                .data_of(ApiFunction::read_more(&read_id(), &result_id)?)
                .await?;
            let left = data.numremaining.unwrap_or(0);
            if data.records.is_empty() || left >= remaining {
                return Err(protocol(format!(
                    "readMore on {object} made no progress ({remaining} then {left} remaining)"
                )));
            }
            records.append(&mut data.records);
            remaining = left;
        }
        Ok(records)
    }

    /// `query`, page by page with `offset` until `numremaining` is 0. Each page
    /// is a new query (spec §5.1), so order by a unique key to page stably.
    pub async fn query_all(&self, mut query: Query) -> Result<Vec<Record>, ConnectorError> {
        let pagesize = query.pagesize.unwrap_or(100);
        if !(1..=MAX_QUERY_PAGE).contains(&pagesize) {
            return Err(bad_page("pagesize", pagesize, MAX_QUERY_PAGE));
        }
        query.pagesize = Some(pagesize);
        let mut offset = query.offset.unwrap_or(0);
        let mut records = Vec::new();
        loop {
            query.offset = Some(offset);
            let mut data = self
                .data_of(ApiFunction::query(&read_id(), query.clone())?)
                .await?;
            let got = data.records.len() as u32;
            records.append(&mut data.records);
            if data.numremaining.unwrap_or(0) == 0 || got == 0 {
                return Ok(records);
            }
            offset += got;
        }
    }

    /// One read function's `<data>`. Reads never need a refused control id
    /// resolved, so this stays below [`IntacctClient::batch`] (which resolves
    /// writes through these reads).
    async fn data_of(&self, f: ApiFunction) -> Result<Data, ConnectorError> {
        let results = self.call(std::slice::from_ref(&f), false, false).await?;
        let [result] = results.as_slice() else {
            return Err(protocol(format!(
                "{}: expected one <result>, got {}",
                f.record,
                results.len()
            )));
        };
        if status_of(result) != Status::Success {
            return Err(classify::function_failure(&error_message(result), &f));
        }
        Done::from_result(&f.controlid, result)
            .data
            .ok_or_else(|| protocol(format!("{}: the read returned no <data>", f.record)))
    }

    /// The first record of `object` whose `field` equals `value`.
    pub(crate) async fn find_by(
        &self,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Record>, ConnectorError> {
        let mut select = vec!["RECORDNO"];
        if !field.eq_ignore_ascii_case("RECORDNO") {
            select.push(field);
        }
        let query = Query {
            object: object.to_owned(),
            select: select_of(&select),
            filter: Some(Filter {
                condition: Condition::equal_to(field, value),
            }),
            orderby: Some(order_by(&[("RECORDNO", Direction::Ascending)])),
            options: None,
            pagesize: Some(1),
            offset: None,
            docparid: None,
        };
        Ok(self
            .data_of(ApiFunction::query(&read_id(), query)?)
            .await?
            .records
            .into_iter()
            .next())
    }

    /// The key (DOCID) of the transaction of this definition whose reference
    /// number (`PONUMBER`, set from `referenceno`) is `reference_no`, if any.
    pub async fn find_sales_order(
        &self,
        transaction_type: &str,
        reference_no: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.find_sales_order_by(transaction_type, "PONUMBER", reference_no)
            .await
    }

    pub(crate) async fn find_sales_order_by(
        &self,
        transaction_type: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let query = Query {
            object: "SODOCUMENT".to_owned(),
            select: select_of(&["RECORDNO", "DOCID", "DOCNO", "DOCPARID", "PONUMBER"]),
            filter: Some(Filter {
                condition: Condition::And(Conditions {
                    conditions: vec![
                        Condition::equal_to("DOCPARID", transaction_type),
                        Condition::equal_to(field, value),
                    ],
                }),
            }),
            orderby: Some(order_by(&[("RECORDNO", Direction::Ascending)])),
            options: None,
            pagesize: Some(10),
            offset: None,
            docparid: Some(transaction_type.to_owned()),
        };
        let data = self.data_of(ApiFunction::query(&read_id(), query)?).await?;
        Ok(first_docid(&data.records, transaction_type))
    }

    /// Per-warehouse quantities of items (`ITEMWAREHOUSEINFO`, spec §6.4), read
    /// with `readByQuery … ITEMID IN (…)` to the end. `totals` names the
    /// quantity columns ([`DEFAULT_INVENTORY_TOTALS`] in the simulator).
    pub async fn inventory_levels(
        &self,
        item_ids: &[String],
        totals: &[&str],
    ) -> Result<Vec<InventoryLevel>, ConnectorError> {
        let mut fields = vec!["ITEMID", "WAREHOUSEID"];
        fields.extend_from_slice(totals);
        let mut out = Vec::new();
        // `in` takes at most 1000 values (spec §9).
        for ids in item_ids.chunks(1000) {
            let list: Vec<String> = ids.iter().map(|i| quote(i)).collect();
            let q = format!("ITEMID IN ({})", list.join(","));
            for r in self
                .read_by_query("ITEMWAREHOUSEINFO", &fields, &q, MAX_READ_BY_QUERY_PAGE)
                .await?
            {
                let quantities = totals
                    .iter()
                    .map(|t| {
                        let v = text(&r, t).unwrap_or_else(|| "0".to_owned());
                        v.parse::<rust_decimal::Decimal>()
                            .map(|d| ((*t).to_owned(), d))
                            .map_err(|_| {
                                protocol(format!(
                                    "ITEMWAREHOUSEINFO {}: {t} '{v}' is not a number",
                                    text(&r, "ITEMID").unwrap_or_default()
                                ))
                            })
                    })
                    .collect::<Result<_, _>>()?;
                out.push(InventoryLevel {
                    item_id: text(&r, "ITEMID").unwrap_or_default(),
                    warehouse_id: text(&r, "WAREHOUSEID").unwrap_or_default(),
                    quantities,
                });
            }
        }
        Ok(out)
    }

    /// Records of `object` modified since the checkpoint (spec §5.4): a `query`
    /// with `WHENMODIFIED >= checkpoint − 5 min`, ordered by WHENMODIFIED then
    /// RECORDNO, paged to the end; records already seen at the same
    /// WHENMODIFIED are dropped. Returns them and the next checkpoint. Hard
    /// deletes do not show up here.
    pub async fn modified_since(
        &self,
        object: &str,
        fields: &[&str],
        checkpoint: &Checkpoint,
    ) -> Result<(Vec<Record>, Checkpoint), ConnectorError> {
        self.documents_modified_since(object, None, fields, checkpoint)
            .await
    }

    /// [`Self::modified_since`] for Order Entry documents of one transaction
    /// definition (`docparid`, e.g. "Sales Shipper"); `None` reads all.
    pub async fn documents_modified_since(
        &self,
        object: &str,
        docparid: Option<&str>,
        fields: &[&str],
        checkpoint: &Checkpoint,
    ) -> Result<(Vec<Record>, Checkpoint), ConnectorError> {
        let mut select: Vec<&str> = vec!["RECORDNO", "WHENMODIFIED"];
        for f in fields {
            if !select.iter().any(|s| s.eq_ignore_ascii_case(f)) {
                select.push(f);
            }
        }
        let filter = checkpoint.when_modified_ms.map(|ms| Filter {
            condition: Condition::GreaterThanOrEqualTo(FieldValue {
                field: "WHENMODIFIED".to_owned(),
                value: self.timestamp_of(ms - MODIFIED_OVERLAP_MS),
            }),
        });
        let query = Query {
            object: object.to_owned(),
            select: select_of(&select),
            filter,
            orderby: Some(order_by(&[
                ("WHENMODIFIED", Direction::Ascending),
                ("RECORDNO", Direction::Ascending),
            ])),
            options: None,
            pagesize: Some(MAX_QUERY_PAGE),
            offset: None,
            docparid: docparid.map(str::to_owned),
        };
        let rows = self.query_all(query).await?;
        let key = |r: &Record| {
            (
                text(r, "RECORDNO").unwrap_or_default(),
                text(r, "WHENMODIFIED").unwrap_or_default(),
            )
        };
        let mut seen_now = BTreeSet::new();
        let mut fresh = Vec::new();
        for r in rows {
            let k = key(&r);
            // Offset pages can repeat a row when the data moves (spec §5.1).
            if checkpoint.seen.contains(&k) || !seen_now.insert(k) {
                continue;
            }
            fresh.push(r);
        }
        let newest = seen_now
            .iter()
            .filter_map(|(_, w)| self.instant_of(w))
            .max()
            .max(checkpoint.when_modified_ms);
        let mut seen = checkpoint.seen.clone();
        seen.extend(seen_now);
        if let Some(n) = newest {
            seen.retain(|(_, w)| {
                self.instant_of(w)
                    .is_some_and(|t| t >= n - MODIFIED_OVERLAP_MS)
            });
        }
        Ok((
            fresh,
            Checkpoint {
                when_modified_ms: newest,
                seen,
            },
        ))
    }
}

/// `*` for no fields, else a comma-separated list.
fn field_list(fields: &[&str]) -> String {
    if fields.is_empty() {
        "*".to_owned()
    } else {
        fields.join(",")
    }
}

fn select_of(fields: &[&str]) -> Select {
    Select {
        items: fields
            .iter()
            .map(|f| SelectItem::Field((*f).to_owned()))
            .collect(),
    }
}

fn order_by(orders: &[(&str, Direction)]) -> OrderBy {
    OrderBy {
        order: orders
            .iter()
            .map(|(f, d)| Order {
                field: (*f).to_owned(),
                direction: Some(*d),
            })
            .collect(),
    }
}

/// `in` with many values, for callers building their own filters.
pub fn one_of(field: &str, values: &[String]) -> Condition {
    Condition::In(FieldValues {
        field: field.to_owned(),
        value: values.to_vec(),
    })
}

fn first_docid(records: &[Record], transaction_type: &str) -> Option<String> {
    records.iter().find_map(|d| {
        text(d, "DOCID").or_else(|| text(d, "DOCNO").map(|no| format!("{transaction_type}-{no}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docid_falls_back_to_definition_and_number() {
        let r: Record = serde_json::from_value(serde_json::json!({"DOCNO": "CO-7"})).unwrap();
        assert_eq!(
            first_docid(&[r], "Sales Order").as_deref(),
            Some("Sales Order-CO-7")
        );
    }

    #[test]
    fn field_lists_default_to_everything() {
        assert_eq!(field_list(&[]), "*");
        assert_eq!(field_list(&["ITEMID", "NAME"]), "ITEMID,NAME");
    }
}
