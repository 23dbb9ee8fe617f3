//! Inventory levels, ERP → Clarity: each poll reads the stock rows the ERP
//! changed since the cursor (Intacct `ITEMWAREHOUSEINFO` by `WHENMODIFIED`,
//! Sage Pro `GET /inventory?ModifiedSince=`), and each changed row is one
//! record: mapped through the pair's inventory template and sent to Clarity
//! as an absolute level (`PUT /inventory/{sku}/locations/{locationId}`).
//!
//! A stock row is a snapshot: however often one SKU moved between two
//! polls, the poll sees its latest level once, and a newer change of a row
//! still waiting in the inbox replaces it there (the change's subject is the
//! row). An absolute set sent twice leaves the same level, so a retry is
//! harmless; the ledger records each state of a row written, once.
//!
//! The engine starts a flow's first poll from the day its pair was made
//! (older history is a backfill away): a full sync of a large catalog runs
//! at Clarity's 120 writes a minute, and is asked for, not implied.

use serde_json::Value;

use super::cursor::{self, Polled, page};
use super::ledger::{LedgerKey, idempotency_key};
use super::{
    Flow, FlowContext, FlowError, Needs, PollContext, PollPage, Side, Trigger, Written,
    accepted_output,
};
use crate::connectors::clarity::wire::InventorySet;
use crate::mapping::pipeline::map_record;

/// The event type of one changed stock row.
pub const RECORD_EVENT: &str = "erp.inventory";

/// Intacct's stock row and the quantities the templates read (spec §6.4).
const INTACCT_FIELDS: [&str; 5] = ["ITEMID", "WAREHOUSEID", "ONHAND", "ONORDER", "ONHOLD"];

pub struct Inventory;

#[async_trait::async_trait]
impl Flow for Inventory {
    fn name(&self) -> &'static str {
        "inventory"
    }
    fn noun(&self) -> &'static str {
        "stock level"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Poll {
            record: RECORD_EVENT,
        }
    }
    fn source(&self) -> Side {
        Side::Erp
    }
    fn target(&self) -> Side {
        Side::Clarity
    }
    fn needs(&self) -> Needs {
        Needs::default()
    }
    fn source_id(&self, event: &Value) -> Option<String> {
        subject(event)
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        set_level(ctx, event).await
    }
    async fn poll(
        &self,
        ctx: &PollContext<'_>,
        cursor: Option<&Value>,
    ) -> Result<PollPage, FlowError> {
        let cursor = cursor::stored("inventory", cursor)?;
        let from = cursor.as_ref().and_then(|c| c.modified_ms);
        let rows = cursor::read_changed(
            ctx.erp,
            from,
            "ITEMWAREHOUSEINFO",
            &INTACCT_FIELDS,
            |client, since| client.list_inventory(since, &[]),
        )
        .await?;
        let rows = rows
            .into_iter()
            .filter_map(|(record, at)| polled(record, at))
            .collect();
        Ok(page(
            "inventory",
            cursor.as_ref(),
            rows,
            cursor::overlap(ctx.erp),
        ))
    }
}

fn polled(record: Value, at: Option<i64>) -> Option<Polled> {
    Some(Polled {
        subject: subject(&record)?,
        version: version(&record),
        record,
        at,
    })
}

/// The stock row a change is about: `ITEM@WAREHOUSE`.
fn subject(record: &Value) -> Option<String> {
    for (item, place) in [("ITEMID", "WAREHOUSEID"), ("ItemCode", "Warehouse")] {
        let field = |k: &str| {
            record
                .get(k)
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_i64().map(|n| n.to_string()))
                })
                .filter(|s| !s.is_empty())
        };
        if let (Some(item), Some(place)) = (field(item), field(place)) {
            return Some(format!("{item}@{place}"));
        }
    }
    None
}

/// What tells two states of one row apart: Sage Pro's `RowVersion`, else
/// Intacct's modified time with the quantities (two changes within one
/// second have the same `WHENMODIFIED`).
fn version(record: &Value) -> String {
    if let Some(v) = record.get("RowVersion").and_then(Value::as_i64) {
        return format!("v{v}");
    }
    let field = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    format!(
        "{}/{}/{}/{}",
        field("WHENMODIFIED"),
        field("ONHAND"),
        field("ONORDER"),
        field("ONHOLD")
    )
}

/// One stock row to Clarity.
async fn set_level(ctx: &FlowContext<'_>, record: &Value) -> Result<Written, FlowError> {
    let source_id = subject(record)
        .ok_or_else(|| FlowError::Event("the stock row names no item and warehouse".into()))?;
    let mut mapped = map_record(ctx.template, ctx.schema, &source_id, record, &ctx.inputs);
    let output = accepted_output(&mut mapped)?;
    let field = |name: &str| {
        output
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| FlowError::Mapping {
                target: name.into(),
                message: format!("the template gives no {name} for {source_id}"),
            })
    };
    let (sku, location) = (field("sku")?, field("locationId")?);
    let level: InventorySet =
        serde_json::from_value(output.clone()).map_err(|e| FlowError::Mapping {
            target: "quantityOnHand".into(),
            message: format!("the template's output is not a Clarity stock level: {e}"),
        })?;
    // Each state of a row is written once: a retry of a level Clarity
    // already took is done, and counts once.
    let written = format!("{source_id}:{}", version(record));
    let key = LedgerKey {
        flow: "inventory",
        source_id: written.clone(),
        operation: "set",
    };
    let target_id = format!("{sku}@{location}");
    let entry = ctx
        .ledger
        .lookup(&key, &idempotency_key("erp", "inventory", &written, "set"))
        .await?;
    if entry.target_id.is_some() {
        return Ok(Written::already(source_id, target_id));
    }
    ctx.clarity
        .set_inventory(&sku, &location, &level, None)
        .await?;
    ctx.ledger.complete(&key, &target_id).await?;
    Ok(Written::created(source_id, target_id, mapped.flags))
}

#[cfg(test)]
mod tests {
    use super::cursor::Cursor;
    use super::*;
    use crate::connectors::intacct::wire::parse_timestamp;
    use serde_json::json;

    const OVERLAP: i64 = 5 * 60 * 1000;

    fn row(item: &str, wh: &str, onhand: &str, modified: &str) -> (Value, Option<i64>) {
        let r = json!({"ITEMID": item, "WAREHOUSEID": wh, "ONHAND": onhand, "ONORDER": "0",
            "ONHOLD": "0", "WHENMODIFIED": modified});
        let at = parse_timestamp(modified);
        (r, at)
    }

    fn page(cursor: Option<&Cursor>, rows: Vec<(Value, Option<i64>)>, overlap: i64) -> PollPage {
        let rows = rows
            .into_iter()
            .filter_map(|(r, at)| polled(r, at))
            .collect();
        super::page("inventory", cursor, rows, overlap)
    }

    fn cursor(p: &PollPage) -> Cursor {
        serde_json::from_value(p.cursor.clone()).unwrap()
    }

    #[test]
    fn the_first_poll_starts_from_the_levels_as_they_stand() {
        let p = page(
            None,
            vec![
                row("A", "WH1", "5", "01/02/2026 10:00:00"),
                row("B", "WH1", "7", "01/02/2026 10:00:05"),
            ],
            OVERLAP,
        );
        assert!(p.changes.is_empty());
        let c = cursor(&p);
        assert_eq!(c.modified_ms, parse_timestamp("01/02/2026 10:00:05"));
        assert_eq!(c.seen.len(), 2, "both are in the overlap: {c:?}");
        // Read again, as the overlap makes the next poll do: nothing new.
        let again = page(
            Some(&c),
            vec![
                row("A", "WH1", "5", "01/02/2026 10:00:00"),
                row("B", "WH1", "7", "01/02/2026 10:00:05"),
            ],
            OVERLAP,
        );
        assert!(again.changes.is_empty());
    }

    #[test]
    fn rows_of_the_cursors_second_are_taken_once_and_a_later_change_in_it_again() {
        let start = cursor(&page(
            None,
            vec![row("A", "WH1", "5", "01/02/2026 10:00:00")],
            OVERLAP,
        ));
        // The next poll reads the same second again: the row taken is
        // skipped, a row written later in that second is new, and so is a
        // second change of A within it (another quantity).
        let next = page(
            Some(&start),
            vec![
                row("A", "WH1", "5", "01/02/2026 10:00:00"),
                row("B", "WH2", "9", "01/02/2026 10:00:00"),
                row("A", "WH1", "4", "01/02/2026 10:00:00"),
            ],
            OVERLAP,
        );
        let ids: Vec<&str> = next.changes.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(ids, ["B@WH2", "A@WH1"]);
        let after = cursor(&next);
        assert_eq!(after.modified_ms, start.modified_ms);
        let again = page(
            Some(&after),
            vec![
                row("B", "WH2", "9", "01/02/2026 10:00:00"),
                row("A", "WH1", "4", "01/02/2026 10:00:00"),
            ],
            OVERLAP,
        );
        assert!(again.changes.is_empty());
    }

    #[test]
    fn a_row_that_moved_while_a_poll_was_paging_is_taken_by_the_next_poll() {
        let start = cursor(&page(
            None,
            vec![row("A", "WH1", "5", "01/02/2026 10:00:00")],
            OVERLAP,
        ));
        // Poll 1 pages through A, then B; C changed at 10:00:02 after its
        // page was read, so poll 1 never saw it, though B (10:00:03) is newer.
        let one = page(
            Some(&start),
            vec![
                row("A", "WH1", "6", "01/02/2026 10:00:01"),
                row("B", "WH1", "7", "01/02/2026 10:00:03"),
            ],
            OVERLAP,
        );
        assert_eq!(one.changes.len(), 2);
        let after = cursor(&one);
        // Poll 2 reads from the cursor less the overlap: C is new, A and B
        // are not sent again.
        let two = page(
            Some(&after),
            vec![
                row("A", "WH1", "6", "01/02/2026 10:00:01"),
                row("C", "WH1", "1", "01/02/2026 10:00:02"),
                row("B", "WH1", "7", "01/02/2026 10:00:03"),
            ],
            OVERLAP,
        );
        let ids: Vec<&str> = two.changes.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(ids, ["C@WH1"]);
    }

    #[test]
    fn what_is_taken_is_forgotten_once_it_is_older_than_the_overlap() {
        let start = cursor(&page(
            None,
            vec![row("A", "WH1", "5", "01/02/2026 10:00:00")],
            OVERLAP,
        ));
        let later = page(
            Some(&start),
            vec![row("B", "WH1", "1", "01/02/2026 10:30:00")],
            OVERLAP,
        );
        assert_eq!(later.changes.len(), 1);
        let c = cursor(&later);
        assert_eq!(c.seen.len(), 1, "A is out of the overlap: {c:?}");
        assert_eq!(c.modified.as_deref(), Some("01/02/2026 10:30:00"));
    }

    #[test]
    fn sage_pro_rows_are_told_apart_by_their_row_version() {
        let r = json!({"ItemCode": "SKU-1", "Warehouse": "MAIN", "QtyOnHand": 3, "RowVersion": 12});
        assert_eq!(subject(&r).as_deref(), Some("SKU-1@MAIN"));
        assert_eq!(version(&r), "v12");
    }
}
