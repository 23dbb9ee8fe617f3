//! Invoices, ERP → Clarity: each invoice the ERP made or changed since the
//! last poll (an Intacct Sales Invoice, a Sage Pro invoice) is written onto
//! its Clarity order through the pair's invoices template: the invoice
//! number, amounts and status in `erpReferences` and the notes, and the
//! order status its status map gives (`PATCH /orders/{orderId}`). Each
//! state of an invoice is written once.

use serde_json::Value;

use super::cursor;
use super::documents::{self, document_id};
use super::ledger::{LedgerKey, idempotency_key};
use super::{
    Flow, FlowContext, FlowError, Needs, PollContext, PollPage, Side, Trigger, Written,
    accepted_output,
};
use crate::mapping::pipeline::map_record;

/// The event type of one changed invoice.
pub const RECORD_EVENT: &str = "erp.invoice";

pub struct Invoices;

#[async_trait::async_trait]
impl Flow for Invoices {
    fn name(&self) -> &'static str {
        "invoices"
    }
    fn noun(&self) -> &'static str {
        "invoice"
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
        document_id(event)
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        write_back(ctx, event).await
    }
    async fn poll(
        &self,
        ctx: &PollContext<'_>,
        cursor: Option<&Value>,
    ) -> Result<PollPage, FlowError> {
        documents::poll(
            "invoices",
            ctx,
            cursor,
            "invoice_definition",
            "Sales Invoice",
        )
        .await
    }
}

async fn write_back(ctx: &FlowContext<'_>, record: &Value) -> Result<Written, FlowError> {
    let source_id = document_id(record)
        .ok_or_else(|| FlowError::Event("the invoice has no DOCID or InvoiceNo".into()))?;
    let written = format!("{source_id}:{}", cursor::version_of(record));
    let key = LedgerKey {
        flow: "invoices",
        source_id: written.clone(),
        operation: "update",
    };
    let entry = ctx
        .ledger
        .lookup(
            &key,
            &idempotency_key("erp", "invoices", &written, "update"),
        )
        .await?;
    if let Some(done) = entry.target_id {
        return Ok(Written::already(source_id, done));
    }
    let mut mapped = map_record(ctx.template, ctx.schema, &source_id, record, &ctx.inputs);
    let mut output = accepted_output(&mut mapped)?;
    let order_id = output
        .as_object_mut()
        .and_then(|o| o.remove("orderId"))
        .and_then(|v| v.as_str().map(str::trim).map(str::to_owned))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FlowError::Mapping {
            target: "orderId".into(),
            message: format!("the template gives no Clarity order for invoice {source_id}"),
        })?;
    // A PATCH sets the same fields however often it is sent.
    ctx.clarity.patch_order(&order_id, &output).await?;
    ctx.ledger.complete(&key, &order_id).await?;
    Ok(Written::created(source_id, order_id, mapped.flags))
}
