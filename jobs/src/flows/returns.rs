//! Returns and refunds, Clarity → ERP: a refunded Clarity return becomes an
//! Intacct AR adjustment (a credit memo) or a Sage Pro credit memo
//! (`POST /invoices`, `InvoiceType=CreditMemo`, `Restock` per line), through
//! the pair's returns template, once per return. It waits for its order:
//! until the orders flow has written the order, the return is retried. A
//! return not refunded yet is skipped (its refund webhook brings it back).

use serde_json::Value;

use super::ledger::{LedgerKey, idempotency_key};
use super::{
    ErpTarget, Flow, FlowContext, FlowError, Needs, Side, Trigger, Written, accepted_output, route,
    written_order,
};
use crate::connectors::intacct::wire::ArAdjustment;
use crate::connectors::sagepro::wire::InvoiceInput;
use crate::mapping::pipeline::map_record;

pub struct Returns;

#[async_trait::async_trait]
impl Flow for Returns {
    fn name(&self) -> &'static str {
        "returns"
    }
    fn noun(&self) -> &'static str {
        "return"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Webhook(&["return.refunded", "return.created"])
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
            history: false,
        }
    }
    fn source_id(&self, event: &Value) -> Option<String> {
        field(&event["data"]["object"], "returnId")
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        credit(ctx, event).await
    }
}

fn field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

async fn credit(ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
    let object = &event["data"]["object"];
    let source_id = field(object, "returnId")
        .ok_or_else(|| FlowError::Event("data.object.returnId is missing".into()))?;
    let ret = if object.get("lines").is_some() {
        object.clone()
    } else {
        serde_json::to_value(ctx.clarity.get_return(&source_id).await?)
            .map_err(|e| FlowError::Event(format!("return {source_id}: {e}")))?
    };
    let order_id = field(&ret, "orderId")
        .ok_or_else(|| FlowError::Event(format!("return {source_id} names no orderId")))?;
    let key = LedgerKey {
        flow: "returns",
        source_id: source_id.clone(),
        operation: "create",
    };
    let entry = ctx
        .ledger
        .lookup(
            &key,
            &idempotency_key("clarity", "returns", &source_id, "create"),
        )
        .await?;
    if let Some(target) = entry.target_id {
        return Ok(Written::already(source_id, target));
    }
    if ret.get("status").and_then(Value::as_str) != Some("refunded") {
        return Ok(Written::skipped(
            source_id,
            order_id,
            "not refunded yet: the credit memo is made when the return is refunded".into(),
        ));
    }
    written_order(ctx, &order_id, "return").await?;
    let mut mapped = map_record(ctx.template, ctx.schema, &source_id, &ret, &ctx.inputs);
    let mut output = accepted_output(&mut mapped)?;
    let routed = route(ctx, &mut output)?;
    let mapping = |what: &str, e: serde_json::Error| FlowError::Mapping {
        target: "return".into(),
        message: format!("the template's output is not {what}: {e}"),
    };
    let target_id = match routed.as_ref().unwrap_or(ctx.erp) {
        ErpTarget::Intacct(client) => {
            let adjustment: ArAdjustment = serde_json::from_value(output)
                .map_err(|e| mapping("an Intacct AR adjustment", e))?;
            client
                .create_ar_adjustment(&entry.idempotency_key, &adjustment)
                .await?
        }
        ErpTarget::Sagepro(client) => {
            let memo: InvoiceInput =
                serde_json::from_value(output).map_err(|e| mapping("a Sage Pro credit memo", e))?;
            client
                .create_invoice(&entry.idempotency_key, &memo)
                .await?
                .invoice_no
        }
    };
    ctx.ledger.complete(&key, &target_id).await?;
    Ok(Written::created(source_id, target_id, mapped.flags))
}
