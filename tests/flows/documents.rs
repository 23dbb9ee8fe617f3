//! Shipments and invoices, ERP → Clarity: a document the ERP made from an
//! order reaches the Clarity order once.

use std::time::Duration;

use connect_jobs::connectors::sagepro::wire::{InventoryAdjustment, Invoice, InvoiceInput};
use serde_json::{Value, json};

use super::common::sims::Sims;
use super::common::{TestApp, spawn_app};
use super::polling_on;

/// A shopper's order that reached Sage Pro and was invoiced there (which
/// ships it): the Clarity order id and the invoice.
pub(super) async fn invoiced_order(
    app: &TestApp,
    token: &str,
    pair: &str,
    sims: &Sims,
) -> (String, Invoice) {
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(token),
            Some(json!({"count": 1})),
            202,
        )
        .await;
    let oid = placed["order_ids"][0].as_str().unwrap().to_owned();
    let run = app.run_of(token, pair, &oid, "succeeded").await;
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
    (oid, invoice)
}

#[tokio::test]
async fn a_sage_pro_invoice_ships_the_clarity_order_and_writes_its_invoice_back_once() {
    let app = spawn_app().await;
    let token = app.tenant("Ship Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "shipments").await;
    polling_on(&app, &token, &pair, "invoices").await;
    let (oid, invoice) = invoiced_order(&app, &token, &pair, &sims).await;
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

#[tokio::test]
async fn the_first_run_brings_an_invoice_made_before_the_flow_was_on_and_a_backfill_writes_nothing_twice()
 {
    let app = spawn_app().await;
    let (email, token) = app.owner("Backfill Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    let (oid, invoice) = invoiced_order(&app, &token, &pair, &sims).await;
    // Turned on after the invoice: the first run reads what changed since
    // the pair was made (and not the seeded company's history before it).
    polling_on(&app, &token, &pair, "invoices").await;
    let flow_path = format!("/api/v1/pairs/{pair}/flows/invoices");
    app.eventually("the first run done", Duration::from_secs(60), || async {
        let f = app.call("GET", &flow_path, Some(&token), None, 200).await;
        f["backfill"]["status"] == "done"
    })
    .await;
    let first = app.call("GET", &flow_path, Some(&token), None, 200).await["backfill"].clone();
    assert_eq!(first["first_run"], true, "{first}");
    assert_eq!(
        (&first["read"], &first["written"]),
        (&json!(1), &json!(1)),
        "{first}"
    );
    let order = sims.clarity.get_order(&oid).await.unwrap();
    assert_eq!(
        order["erpReferences"]["sagePro"]["invoiceNo"],
        invoice.invoice_no.as_str()
    );
    let path = format!("/api/v1/pairs/{pair}/flows/invoices/backfill");
    for (body, field) in [
        (json!({"since": "last week"}), "since"),
        (json!({"since": "2999-01-01"}), "since"),
        (json!({"since": "2026-01-01", "to": "x"}), ""),
    ] {
        let e = app.call("POST", &path, Some(&token), Some(body), 422).await;
        if !field.is_empty() {
            assert_eq!(e["error"]["field"], field, "{e}");
        }
    }
    let e = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/flows/orders/backfill"),
            Some(&token),
            Some(json!({"since": "2026-01-01"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "flow", "{e}");
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let started = app
        .call(
            "POST",
            &path,
            Some(&token),
            Some(json!({"since": today})),
            202,
        )
        .await;
    assert_eq!(started["flow"], "invoices");
    assert!(
        started["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("bkf")),
        "{started}"
    );
    app.eventually("the backfill done", Duration::from_secs(60), || async {
        let f = app.call("GET", &flow_path, Some(&token), None, 200).await;
        f["backfill"]["status"] == "done"
    })
    .await;
    let b = app.call("GET", &flow_path, Some(&token), None, 200).await["backfill"].clone();
    assert_eq!(b["id"], started["id"]);
    assert!(b["read"].as_i64().unwrap() >= 1, "{b}");
    assert_eq!(b["failed"], 0, "{b}");
    assert_eq!(b["pending"], 0, "{b}");
    assert_eq!(b["read"], b["written"], "{b}");
    assert_eq!(b["first_run"], false);
    // Read again, written once: the invoice's one run.
    let runs = super::runs_of(&app, &token, &pair, "invoices").await;
    let of: Vec<&Value> = runs
        .iter()
        .filter(|r| r["source_id"] == invoice.invoice_no.as_str())
        .collect();
    assert_eq!(of.len(), 1, "{runs:#?}");
    // The pair page shows it.
    let web = super::common::WebSession::sign_in(&app, &email).await;
    let (status, html) = web.get(&app, &format!("/pairs/{pair}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"backfill-invoices\""), "{html}");
    app.stop().await;
}

/// A shopper's order that reached Intacct, and a document of `definition`
/// converted from its sales order there: the Clarity order id and the
/// document's key.
pub(super) async fn converted_in_intacct(
    app: &TestApp,
    token: &str,
    pair: &str,
    sims: &Sims,
    definition: &str,
) -> (String, String) {
    use connect_jobs::connectors::intacct::wire::SoTransaction;
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(token),
            Some(json!({"count": 1})),
            202,
        )
        .await;
    let oid = placed["order_ids"][0].as_str().unwrap().to_owned();
    let so = app.run_of(token, pair, &oid, "succeeded").await["target_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let customer = sims
        .intacct
        .read_by_query(
            "SODOCUMENT",
            &["DOCID", "CUSTVENDID"],
            &format!("DOCID = '{so}'"),
            1,
        )
        .await
        .unwrap()[0]["CUSTVENDID"]
        .clone();
    let doc: SoTransaction = serde_json::from_value(json!({
        "transactiontype": definition, "datecreated": {"year": "2026", "month": "01", "day": "20"},
        "createdfrom": so, "customerid": customer, "referenceno": oid, "termname": "Net 30",
        "shippingmethod": "UPS Ground", "basecurr": "USD", "currency": "USD",
        "sotransitems": [{"itemid": "SKU-1001", "quantity": "1", "unit": "Each", "price": "19.99",
            "warehouseid": "WH1", "locationid": "US-EAST", "departmentid": "ECOM"}]
    }))
    .unwrap();
    let key = sims
        .intacct
        .create_sales_order(&format!("{definition}-1"), &doc)
        .await
        .unwrap_or_else(|e| panic!("a {definition} in Intacct: {e:?}"));
    (oid, key)
}

#[tokio::test]
async fn an_intacct_sales_invoice_converted_from_the_order_is_written_back_to_clarity() {
    let app = spawn_app().await;
    let token = app.tenant("Intacct Invoice Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "invoices").await;
    // Accounting converts the sales order into a Sales Invoice in Intacct.
    let (oid, key) = converted_in_intacct(&app, &token, &pair, &sims, "Sales Invoice").await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/invoices/run"),
        Some(&token),
        None,
        202,
    )
    .await;
    let run = app.run_of(&token, &pair, &key, "succeeded").await;
    assert_eq!(run["flow"], "invoices");
    assert_eq!(run["target_id"], oid.as_str());
    let order = sims.clarity.get_order(&oid).await.unwrap();
    let refs = &order["erpReferences"]["intacct"];
    assert_eq!(refs["invoiceDocId"], key.as_str(), "{order}");
    assert!(
        refs["invoiceRecordKey"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{order}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_intacct_sales_shipper_ships_the_clarity_order_with_its_carrier() {
    let app = spawn_app().await;
    let token = app.tenant("Intacct Ship Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "shipments").await;
    let (oid, key) = converted_in_intacct(&app, &token, &pair, &sims, "Sales Shipper").await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/shipments/run"),
        Some(&token),
        None,
        202,
    )
    .await;
    let run = app.run_of(&token, &pair, &key, "succeeded").await;
    assert_eq!(run["flow"], "shipments");
    let shipment = sims
        .clarity
        .get_shipment(run["target_id"].as_str().unwrap())
        .await
        .expect("the shipment in Clarity");
    assert_eq!(shipment.order_id, oid);
    assert_eq!(shipment.carrier, "UPS");
    assert_eq!(shipment.service.as_deref(), Some("Ground"));
    app.stop().await;
}
