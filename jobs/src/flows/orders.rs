//! Orders → sales orders (or invoices): Clarity `order.created` into Intacct
//! or Sage Pro, through the whole mapping pipeline
//! ([`crate::mapping::pipeline::map_record`]): a record with any validation
//! issue is refused before anything is written.

use serde_json::Value;

use super::ledger::{LedgerKey, idempotency_key};
use super::{
    ErpTarget, Flow, FlowContext, FlowError, Needs, Side, Trigger, Written, accepted_output, route,
};
use crate::connectors::sagepro::wire::InvoiceInput;
use crate::mapping::CompiledTemplate;
use crate::mapping::pipeline::map_record;
use crate::mapping::schema::TargetSchema;

/// The orders flow.
pub struct Orders;

#[async_trait::async_trait]
impl Flow for Orders {
    fn name(&self) -> &'static str {
        "orders"
    }
    fn noun(&self) -> &'static str {
        "order"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Webhook(&["order.created"])
    }
    fn source(&self) -> Side {
        Side::Clarity
    }
    fn target(&self) -> Side {
        Side::Erp
    }
    fn needs(&self) -> Needs {
        Needs {
            catalog: true,
            history: true,
        }
    }
    fn source_id(&self, event: &Value) -> Option<String> {
        order_id(event).map(str::to_owned)
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        sync_order(ctx, event).await
    }
}

/// The order id an event is about, if it names one.
pub fn order_id(event: &Value) -> Option<&str> {
    event
        .pointer("/data/object/orderId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Whether a template's output is a Sage Pro invoice (`POST /invoices`)
/// rather than a sales order.
fn is_invoice(template: &CompiledTemplate, schema: Option<&TargetSchema>) -> bool {
    let named = |r: &str| r.eq_ignore_ascii_case("Invoice");
    template.record().is_some_and(named) || schema.is_some_and(|s| named(&s.record))
}

async fn sync_order(ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
    let source_id = order_id(event)
        .ok_or_else(|| FlowError::Event("data.object.orderId is missing".into()))?
        .to_owned();
    let key = LedgerKey {
        flow: "orders",
        source_id: source_id.clone(),
        operation: "create",
    };
    // An order written before is done; otherwise this is the key to send.
    let entry = ctx
        .ledger
        .lookup(
            &key,
            &idempotency_key("clarity", "orders", &source_id, "create"),
        )
        .await?;
    if let Some(done) = entry.target_id {
        return Ok(Written::already(source_id, done));
    }
    let object = &event["data"]["object"];
    // An event may carry the whole order or only its id; then we fetch it.
    let order = if object.get("lineItems").is_some() {
        object.clone()
    } else {
        ctx.clarity.get_order(&source_id).await?
    };
    let mut mapped = map_record(ctx.template, ctx.schema, &source_id, &order, &ctx.inputs);
    let mut output = accepted_output(&mut mapped)?;
    let routed = route(ctx, &mut output)?;
    let erp = routed.as_ref().unwrap_or(ctx.erp);
    let target_id = match erp {
        ErpTarget::Intacct(client) => {
            let so = serde_json::from_value(output).map_err(|e| FlowError::Mapping {
                target: "sales order".into(),
                message: format!("the template's output is not an Intacct sales order: {e}"),
            })?;
            client
                .create_sales_order(&entry.idempotency_key, &so)
                .await?
        }
        ErpTarget::Sagepro(client) if is_invoice(ctx.template, ctx.schema) => {
            let invoice: InvoiceInput =
                serde_json::from_value(output).map_err(|e| FlowError::Mapping {
                    target: "invoice".into(),
                    message: format!("the template's output is not a Sage Pro invoice: {e}"),
                })?;
            client
                .create_invoice(&entry.idempotency_key, &invoice)
                .await?
                .invoice_no
        }
        ErpTarget::Sagepro(client) => {
            client
                .create_order(&entry.idempotency_key, &output)
                .await?
                .sales_order_no
        }
    };
    ctx.ledger.complete(&key, &target_id).await?;
    Ok(Written {
        source_id,
        target_id,
        created: true,
        flags: mapped.flags,
        history: Some(mapped.normalized.unwrap_or(order)),
        skipped: None,
    })
}
