//! Products and prices, ERP → Clarity: each poll reads the items the ERP
//! changed since the cursor (Intacct `ITEM` by `WHENMODIFIED`, Sage Pro
//! `GET /products?ModifiedSince=`); each changed item is one record, mapped
//! through the pair's products template and written to Clarity by SKU: the
//! store's product is replaced when the SKU exists, else created. Name,
//! price, status (active or inactive) and the ERP references travel with it.
//!
//! As with inventory, a newer change of an item still waiting supersedes it.

use serde_json::Value;

use super::cursor::{self, Polled, page};
use super::ledger::{LedgerKey, idempotency_key};
use super::{
    Flow, FlowContext, FlowError, Needs, PollContext, PollPage, Side, Trigger, Written,
    accepted_output,
};
use crate::connectors::ConnectorError;
use crate::connectors::clarity::Created;
use crate::mapping::pipeline::map_record;

/// The event type of one changed item.
pub const RECORD_EVENT: &str = "erp.product";

/// The item fields the templates read (spec §6.3).
const INTACCT_FIELDS: [&str; 10] = [
    "ITEMID",
    "NAME",
    "STATUS",
    "ITEMTYPE",
    "BASEPRICE",
    "TAXABLE",
    "SODESCRIPTION",
    "WEIGHT",
    "PRODUCTLINEID",
    "UOMGRP",
];

pub struct Products;

#[async_trait::async_trait]
impl Flow for Products {
    fn name(&self) -> &'static str {
        "products"
    }
    fn noun(&self) -> &'static str {
        "product"
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
        item_id(event)
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        write_product(ctx, event).await
    }
    async fn poll(
        &self,
        ctx: &PollContext<'_>,
        cursor: Option<&Value>,
    ) -> Result<PollPage, FlowError> {
        let cursor = cursor::stored("products", cursor)?;
        let from = cursor.as_ref().and_then(|c| c.modified_ms);
        let rows = cursor::read_changed(ctx.erp, from, "ITEM", &INTACCT_FIELDS, |client, since| {
            client.list_products(since, &[])
        })
        .await?;
        let rows = rows
            .into_iter()
            .filter_map(|(record, at)| {
                Some(Polled {
                    subject: item_id(&record)?,
                    version: cursor::version_of(&record),
                    record,
                    at,
                })
            })
            .collect();
        Ok(page(
            "products",
            cursor.as_ref(),
            rows,
            cursor::overlap(ctx.erp),
        ))
    }
}

/// The ERP's id of the item: Intacct `ITEMID`, Sage Pro `ItemCode`.
fn item_id(record: &Value) -> Option<String> {
    ["ITEMID", "ItemCode"].iter().find_map(|k| {
        record
            .get(*k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    })
}

/// One item to Clarity, by SKU.
async fn write_product(ctx: &FlowContext<'_>, record: &Value) -> Result<Written, FlowError> {
    let source_id = item_id(record)
        .ok_or_else(|| FlowError::Event("the item has no ITEMID or ItemCode".into()))?;
    let mut mapped = map_record(ctx.template, ctx.schema, &source_id, record, &ctx.inputs);
    let output = accepted_output(&mut mapped)?;
    let sku = output
        .get("sku")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| FlowError::Mapping {
            target: "sku".into(),
            message: format!("the template gives no sku for item {source_id}"),
        })?;
    // Each state of an item is written once.
    let written = format!("{source_id}:{}", cursor::version_of(record));
    let key = LedgerKey {
        flow: "products",
        source_id: written.clone(),
        operation: "upsert",
    };
    let entry = ctx
        .ledger
        .lookup(
            &key,
            &idempotency_key("erp", "products", &written, "upsert"),
        )
        .await?;
    if let Some(target_id) = entry.target_id {
        return Ok(Written::already(source_id, target_id));
    }
    let (product_id, created) = match ctx.clarity.get_product(&sku).await {
        Ok(existing) => {
            let replaced = ctx
                .clarity
                .replace_product(&existing.product_id, &output, None)
                .await?;
            (replaced.product_id, false)
        }
        Err(ConnectorError::NotFound { .. }) => {
            match ctx
                .clarity
                .create_product(&entry.idempotency_key, &output)
                .await?
            {
                Created::New(p) => (p.product_id, true),
                // Made meanwhile (another item mapped to the same SKU).
                Created::Exists { existing_id } => {
                    let replaced = ctx
                        .clarity
                        .replace_product(&existing_id, &output, None)
                        .await?;
                    (replaced.product_id, false)
                }
            }
        }
        Err(e) => return Err(e.into()),
    };
    ctx.ledger.complete(&key, &product_id).await?;
    Ok(Written {
        source_id,
        target_id: product_id,
        created,
        flags: mapped.flags,
        history: None,
        skipped: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_item_is_known_by_its_erp_id_and_told_apart_by_its_content() {
        let a = json!({"ITEMID": "SKU-1001", "BASEPRICE": "12.50", "WHENMODIFIED": "01/02/2026 10:00:00"});
        let mut b = a.clone();
        b["BASEPRICE"] = json!("13.00");
        assert_eq!(item_id(&a).as_deref(), Some("SKU-1001"));
        assert_ne!(
            cursor::version_of(&a),
            cursor::version_of(&b),
            "a new price in the same second is a new state"
        );
        assert_eq!(cursor::version_of(&a), cursor::version_of(&a.clone()));
        let s = json!({"ItemCode": "SKU-2", "RowVersion": 4});
        assert_eq!(
            (item_id(&s).as_deref(), cursor::version_of(&s).as_str()),
            (Some("SKU-2"), "v4")
        );
    }
}
