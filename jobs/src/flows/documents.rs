//! What the shipments and invoices flows poll: the ERP's documents made
//! from orders, by modified time. Intacct Order Entry documents of one
//! transaction definition (the template's setting names it: "Sales
//! Shipper", "Sales Invoice"); Sage Pro invoices, whose credit memos are
//! the returns flow's and are left out (spec §5: an invoice made from the
//! sales order is the shipment).

use serde_json::Value;

use super::cursor::{self, Polled, page};
use super::{FlowError, PollContext, PollPage};

/// The document fields the templates read (spec §6.1 read fields).
const INTACCT_FIELDS: [&str; 14] = [
    "DOCID",
    "DOCNO",
    "DOCPARID",
    "STATE",
    "PONUMBER",
    "CUSTVENDID",
    "SHIPVIA",
    "CURRENCY",
    "TOTAL",
    "WHENDUE",
    "PRRECORDKEY",
    "CREATEDFROM",
    "WHENCREATED",
    "SODOCUMENTENTRIES",
];

/// The document's id in the ERP: Intacct `DOCID`, Sage Pro `InvoiceNo`.
pub fn document_id(record: &Value) -> Option<String> {
    ["DOCID", "InvoiceNo"].iter().find_map(|k| {
        record
            .get(*k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    })
}

/// One poll of `flow`'s documents: Intacct's of the definition named by
/// the template's `definition_setting` (else `default_definition`).
pub async fn poll(
    flow: &str,
    ctx: &PollContext<'_>,
    cursor: Option<&Value>,
    definition_setting: &str,
    default_definition: &str,
) -> Result<PollPage, FlowError> {
    let cursor = cursor::stored(flow, cursor)?;
    let from = cursor.as_ref().and_then(|c| c.modified_ms);
    let definition = ctx
        .template
        .setting(definition_setting)
        .unwrap_or(default_definition);
    let rows = cursor::read_changed_of(
        ctx.erp,
        from,
        ("SODOCUMENT", Some(definition)),
        &INTACCT_FIELDS,
        |client, since| client.list_invoices(since, &[]),
    )
    .await?;
    let rows = rows
        .into_iter()
        .filter(|(r, _)| r.get("InvoiceType").and_then(Value::as_str) != Some("CreditMemo"))
        .filter_map(|(record, at)| {
            Some(Polled {
                subject: document_id(&record)?,
                version: cursor::version_of(&record),
                record,
                at,
            })
        })
        .collect();
    Ok(page(flow, cursor.as_ref(), rows, cursor::overlap(ctx.erp)))
}
