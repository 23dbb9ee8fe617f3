//! Shipments, tracking and order status, ERP → Clarity: each shipping
//! document the ERP made or changed since the last poll (an Intacct Sales
//! Shipper, a Sage Pro invoice made from the order) becomes one Clarity
//! shipment on the order, with carrier and tracking number, through the
//! pair's shipments template; its status map sets the order status a
//! shipment does not imply. One document is one shipment, written once.

use serde_json::Value;

use super::documents::{self, document_id};
use super::ledger::{LedgerKey, idempotency_key};
use super::{
    Flow, FlowContext, FlowError, Needs, PollContext, PollPage, Side, Trigger, Written,
    accepted_output,
};
use crate::connectors::clarity::wire::NewShipment;
use crate::mapping::pipeline::map_record;

/// The event type of one changed shipping document.
pub const RECORD_EVENT: &str = "erp.shipment";

pub struct Shipments;

#[async_trait::async_trait]
impl Flow for Shipments {
    fn name(&self) -> &'static str {
        "shipments"
    }
    fn noun(&self) -> &'static str {
        "shipment"
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
        ship(ctx, event).await
    }
    async fn poll(
        &self,
        ctx: &PollContext<'_>,
        cursor: Option<&Value>,
    ) -> Result<PollPage, FlowError> {
        documents::poll(
            "shipments",
            ctx,
            cursor,
            "shipment_definition",
            "Sales Shipper",
        )
        .await
    }
}

async fn ship(ctx: &FlowContext<'_>, record: &Value) -> Result<Written, FlowError> {
    let source_id = document_id(record)
        .ok_or_else(|| FlowError::Event("the document has no DOCID or InvoiceNo".into()))?;
    let key = LedgerKey {
        flow: "shipments",
        source_id: source_id.clone(),
        operation: "create",
    };
    let entry = ctx
        .ledger
        .lookup(
            &key,
            &idempotency_key("erp", "shipments", &source_id, "create"),
        )
        .await?;
    if let Some(done) = entry.target_id {
        return Ok(Written::already(source_id, done));
    }
    let mut mapped = map_record(ctx.template, ctx.schema, &source_id, record, &ctx.inputs);
    let mut output = accepted_output(&mut mapped)?;
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let order_id = text(&output, "orderId").ok_or_else(|| FlowError::Mapping {
        target: "orderId".into(),
        message: format!("the template gives no Clarity order for {source_id}"),
    })?;
    let status = text(&output, "orderStatus");
    if let Some(o) = output.as_object_mut() {
        o.remove("orderId");
        o.remove("orderStatus");
    }
    let shipment: NewShipment = serde_json::from_value(output).map_err(|e| FlowError::Mapping {
        target: "shipment".into(),
        message: format!("the template's output is not a Clarity shipment: {e}"),
    })?;
    let made = ctx
        .clarity
        .record_shipment(&entry.idempotency_key, &order_id, &shipment)
        .await?;
    if let Some(status) = status {
        ctx.clarity
            .set_order_status(&order_id, &status, None)
            .await?;
    }
    ctx.ledger.complete(&key, &made.shipment_id).await?;
    Ok(Written::created(source_id, made.shipment_id, mapped.flags))
}
