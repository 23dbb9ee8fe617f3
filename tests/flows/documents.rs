//! Shipments and invoices, ERP → Clarity: a document the ERP made from an
//! order reaches the Clarity order once.

use std::time::Duration;

use connect_jobs::connectors::sagepro::wire::{InventoryAdjustment, InvoiceInput};
use serde_json::{Value, json};

use super::common::sims::Sims;
use super::common::spawn_app;
use super::polling_on;

#[tokio::test]
async fn a_sage_pro_invoice_ships_the_clarity_order_and_writes_its_invoice_back_once() {
    let app = spawn_app().await;
    let token = app.tenant("Ship Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "shipments").await;
    polling_on(&app, &token, &pair, "invoices").await;
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(&token),
            Some(json!({"count": 1})),
            202,
        )
        .await;
    let oid = placed["order_ids"][0].as_str().unwrap().to_owned();
    let run = app.run_of(&token, &pair, &oid, "succeeded").await;
    let so = run["target_id"].as_str().unwrap().to_owned();
    // Stock is counted in first: the shopper's SKUs may have none on hand.
    let order = sims.sagepro.get_order(&so).await.expect("the sales order");
    for (i, line) in order.line_items.iter().enumerate() {
        let row = sims
            .sagepro
            .get_inventory(&line.item_code, "MAIN")
            .await
            .expect("Sage Pro stock");
        sims.sagepro
            .update_inventory(
                &format!("count-{i}"),
                &line.item_code,
                "MAIN",
                &InventoryAdjustment {
                    qty_on_hand: Some(line.quantity + row.qty_on_hand),
                    reason: "count".into(),
                    reference: format!("CC-{i}"),
                },
                row.row_version,
            )
            .await
            .expect("a count");
    }
    // The warehouse invoices the sales order in Sage Pro: that is the shipment.
    let invoice = sims
        .sagepro
        .create_invoice(
            "ship-1",
            &InvoiceInput {
                sales_order_no: Some(so.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("an invoice made from the sales order");
    assert_eq!(invoice.customer_po, oid);
    for flow in ["shipments", "invoices"] {
        app.call(
            "POST",
            &format!("/api/v1/pairs/{pair}/flows/{flow}/run"),
            Some(&token),
            None,
            202,
        )
        .await;
    }
    let no = invoice.invoice_no.clone();
    app.eventually(
        "the shipment and the invoice in Clarity",
        Duration::from_secs(60),
        || async {
            let order = sims.clarity.get_order(&oid).await.unwrap_or(Value::Null);
            order["erpReferences"]["sagePro"]["invoiceNo"] == no.as_str()
                && order["status"]
                    .as_str()
                    .is_some_and(|s| s.contains("shipped"))
        },
    )
    .await;
    let shipments_of = || async {
        sims.clarity
            .list_shipments(&Default::default())
            .await
            .expect("Clarity's shipments")
            .results
            .into_iter()
            .filter(|s| s.order_id == oid)
            .count()
    };
    assert_eq!(shipments_of().await, 1, "one shipment");
    // Polling again writes nothing more.
    for flow in ["shipments", "invoices"] {
        app.call(
            "POST",
            &format!("/api/v1/pairs/{pair}/flows/{flow}/run"),
            Some(&token),
            None,
            202,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs?flow=shipments"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(shipments_of().await, 1);
    app.stop().await;
}
