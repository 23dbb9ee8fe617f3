//! Orders → sales orders: Clarity `order.created` into Intacct or Sage Pro.

use serde_json::Value;

use super::ledger::{LedgerKey, LedgerStore, idempotency_key};
use super::{ErpTarget, FlowError};
use crate::connectors::clarity::ClarityClient;
use crate::mapping::CompiledTemplate;

pub struct OrderContext<'a> {
    pub clarity: &'a ClarityClient,
    pub erp: &'a ErpTarget,
    pub template: &'a CompiledTemplate,
    pub ledger: &'a dyn LedgerStore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    pub source_id: String,
    pub target_id: String,
    /// False when the ledger already knew the order: nothing was written.
    pub created: bool,
}

/// The order id an event is about, if it names one.
pub fn order_id(event: &Value) -> Option<&str> {
    event
        .pointer("/data/object/orderId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub async fn sync_order(ctx: &OrderContext<'_>, event: &Value) -> Result<OrderOutcome, FlowError> {
    let source_id = order_id(event)
        .ok_or_else(|| FlowError::Event("data.object.orderId is missing".into()))?
        .to_owned();
    let key = LedgerKey {
        flow: "orders",
        source_id: source_id.clone(),
        operation: "create",
    };
    if let Some(done) = ctx.ledger.lookup(&key).await?.and_then(|e| e.target_id) {
        return Ok(OrderOutcome {
            source_id,
            target_id: done,
            created: false,
        });
    }
    let object = &event["data"]["object"];
    // An event may carry the whole order or only its id; then we fetch it.
    let order = if object.get("lineItems").is_some() {
        object.clone()
    } else {
        ctx.clarity.get_order(&source_id).await?
    };
    let output = ctx.template.apply(&order)?;
    let entry = ctx
        .ledger
        .reserve(
            &key,
            &idempotency_key("clarity", "orders", &source_id, "create"),
        )
        .await?;
    let target_id = match ctx.erp {
        ErpTarget::Intacct(client) => {
            let so = serde_json::from_value(output).map_err(|e| FlowError::Mapping {
                target: "sales order".into(),
                message: format!("the template's output is not an Intacct sales order: {e}"),
            })?;
            client
                .create_sales_order(&entry.idempotency_key, &so)
                .await?
        }
        ErpTarget::Sagepro(client) => {
            client
                .create_order(&entry.idempotency_key, &output)
                .await?
                .sales_order_no
        }
    };
    ctx.ledger.complete(&key, &target_id).await?;
    Ok(OrderOutcome {
        source_id,
        target_id,
        created: true,
    })
}
