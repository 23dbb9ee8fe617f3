//! Payments, Clarity → ERP: an `order.paid` webhook becomes an Intacct AR
//! payment (ARPYMT) through the pair's payments template, applied to the
//! order's invoice when the invoices flow has written its record key back
//! (else left unapplied for AR to match); or, with the `gl_batch` variant
//! (a template whose record is `glbatch`), a journal entry that debits the
//! method's undeposited-funds account. The payment waits for its order:
//! until the orders flow has written the order, the record is retried.
//! Sage Pro's API has no payment endpoint; the flow is unavailable there.

use serde_json::Value;

use super::ledger::{LedgerKey, idempotency_key};
use super::orders::order_id;
use super::{
    ErpTarget, Flow, FlowContext, FlowError, Needs, Side, Trigger, Written, accepted_output, route,
    written_order,
};
use crate::connectors::intacct::functions::{Object, Record};
use crate::mapping::pipeline::map_record;

pub struct Payments;

#[async_trait::async_trait]
impl Flow for Payments {
    fn name(&self) -> &'static str {
        "payments"
    }
    fn noun(&self) -> &'static str {
        "payment"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Webhook(&["order.paid"])
    }
    fn source(&self) -> Side {
        Side::Clarity
    }
    fn target(&self) -> Side {
        Side::Erp
    }
    fn needs(&self) -> Needs {
        Needs::default()
    }
    fn source_id(&self, event: &Value) -> Option<String> {
        order_id(event).map(str::to_owned)
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        pay(ctx, event).await
    }
}

async fn pay(ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
    let source_id = order_id(event)
        .ok_or_else(|| FlowError::Event("data.object.orderId is missing".into()))?
        .to_owned();
    let ErpTarget::Intacct(_) = ctx.erp else {
        return Err(FlowError::Event(
            "Sage Pro's API has no payment endpoint: payments cannot be written there".into(),
        ));
    };
    written_order(ctx, &source_id, "payment").await?;
    let key = LedgerKey {
        flow: "payments",
        source_id: source_id.clone(),
        operation: "create",
    };
    let entry = ctx
        .ledger
        .lookup(
            &key,
            &idempotency_key("clarity", "payments", &source_id, "create"),
        )
        .await?;
    if let Some(done) = entry.target_id {
        return Ok(Written::already(source_id, done));
    }
    let object = &event["data"]["object"];
    let order = if object.get("paymentInfo").is_some() {
        object.clone()
    } else {
        ctx.clarity.get_order(&source_id).await?
    };
    let mut mapped = map_record(ctx.template, ctx.schema, &source_id, &order, &ctx.inputs);
    let mut output = accepted_output(&mut mapped)?;
    let routed = route(ctx, &mut output)?;
    let ErpTarget::Intacct(client) = routed.as_ref().unwrap_or(ctx.erp) else {
        return Err(FlowError::Mapping {
            target: "_route".into(),
            message: "a payment can only be routed to an Intacct entity".into(),
        });
    };
    let object = payment_object(ctx);
    let record: Record = match output {
        Value::Object(o) => o,
        _ => {
            return Err(FlowError::Mapping {
                target: "payment".into(),
                message: format!(
                    "the template's output is not an Intacct {}",
                    object.as_str()
                ),
            });
        }
    };
    let done = client
        .create(&entry.idempotency_key, object, &record)
        .await?;
    ctx.ledger.complete(&key, &done.recordno).await?;
    Ok(Written::created(source_id, done.recordno, mapped.flags))
}

/// The Intacct object the pair's template writes: a journal entry when its
/// record is `glbatch`, else an AR payment.
fn payment_object(ctx: &FlowContext<'_>) -> Object {
    let named = |r: &str| r.eq_ignore_ascii_case("glbatch");
    if ctx.template.record().is_some_and(named) || ctx.schema.is_some_and(|s| named(&s.record)) {
        Object::GlBatch
    } else {
        Object::ArPayment
    }
}
