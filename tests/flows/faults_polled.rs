//! The polled flows, ERP → Clarity, under 30 % errors and 10 % timeouts:
//! on the ERP (the poll's reads) and on Clarity (the writes). Every change
//! the ERP made still lands in Clarity exactly once, one run each.

use std::time::Duration;

use connect_jobs::connectors::clarity::ListQuery;
use connect_jobs::connectors::intacct::wire::SoTransaction;
use connect_jobs::connectors::sagepro::wire::{InventoryAdjustment, ProductUpdate};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::common::TestApp;
use super::common::sims::Sims;
use super::faults::{all_succeeded, faults, faulty_app, runs_when};
use super::{clarity_level, intacct_stock, polling_on};

/// Asks for a poll of `flow` now.
async fn poll_now(app: &TestApp, token: &str, pair: &str, flow: &str) {
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/{flow}/run"),
        Some(token),
        None,
        202,
    )
    .await;
}

/// Faults on both systems of the pair, or on neither.
async fn faults_on_both(app: &TestApp, token: &str, pair: &str, erp: &str, on: bool) {
    faults(app, token, pair, erp, on).await;
    faults(app, token, pair, "clarity", on).await;
}

/// The runs of records (a poll's own run is not one), each of `ids` once
/// and succeeded, and none of anything else.
fn assert_one_run_each(runs: &[Value], ids: &[String]) {
    let records: Vec<&Value> = runs.iter().filter(|r| r["source_id"] != "poll").collect();
    for id in ids {
        let of: Vec<&&Value> = records
            .iter()
            .filter(|r| r["source_id"] == id.as_str())
            .collect();
        assert_eq!(of.len(), 1, "one run of {id}: {records:#?}");
        assert_eq!(of[0]["status"], "succeeded", "{of:#?}");
    }
    assert_eq!(records.len(), ids.len(), "only these records: {records:#?}");
}

/// Waits until Clarity's level of each (sku, location) is the expected one.
async fn clarity_levels_are(app: &TestApp, sims: &Sims, expected: &[(String, String, Decimal)]) {
    app.eventually(
        "Clarity's levels equal the ERP's",
        Duration::from_secs(30),
        || async {
            for (sku, location, level) in expected {
                if clarity_level(sims, sku, location).await != Some(*level) {
                    return false;
                }
            }
            true
        },
    )
    .await;
}

/// Intacct's on-hand quantity of `sku` in `warehouse`.
async fn on_hand(sims: &Sims, sku: &str, warehouse: &str) -> Decimal {
    let stock = intacct_stock(sims, sku).await;
    stock
        .iter()
        .find(|(w, _, _)| w == warehouse)
        .map(|(_, on_hand, _)| *on_hand)
        .unwrap_or_else(|| panic!("{sku} in {warehouse}: {stock:?}"))
}

#[tokio::test]
async fn intacct_stock_moves_under_intacct_and_clarity_faults_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Intacct Stock Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "inventory").await;
    // Goods come back into four stock rows: a Sales Return in Intacct,
    // through its own API, adds to each row's on-hand quantity.
    let rows = [
        ("SKU-1020", "WH1", 2),
        ("SKU-1021", "WH2", 3),
        ("SKU-1022", "WH3", 4),
        ("SKU-1020", "WH2", 5),
    ];
    let mut before = Vec::new();
    for (sku, wh, _) in &rows {
        before.push(on_hand(&sims, sku, wh).await);
    }
    let lines: Vec<Value> = rows
        .iter()
        .map(|(sku, wh, qty)| {
            json!({"itemid": sku, "quantity": qty.to_string(), "unit": "Each", "price": "10.00",
                "warehouseid": wh, "locationid": "US-EAST", "departmentid": "ECOM"})
        })
        .collect();
    let doc: SoTransaction = serde_json::from_value(json!({
        "transactiontype": "Sales Return", "datecreated": {"year": "2026", "month": "01", "day": "20"},
        "customerid": "CUS-5001", "referenceno": "RMA-FAULTS-1", "termname": "Net 30",
        "basecurr": "USD", "currency": "USD", "sotransitems": lines
    }))
    .unwrap();
    sims.intacct
        .create_sales_order("stock-return-1", &doc)
        .await
        .expect("a Sales Return in Intacct");
    let mut expected = Vec::new();
    for ((sku, wh, qty), was) in rows.iter().zip(before) {
        let moved = on_hand(&sims, sku, wh).await;
        assert_eq!(moved, was + Decimal::from(*qty), "{sku}@{wh} moved");
        expected.push((sku.to_string(), wh.to_string(), moved));
    }
    let subjects: Vec<String> = rows
        .iter()
        .map(|(sku, wh, _)| format!("{sku}@{wh}"))
        .collect();
    faults_on_both(&app, &token, &pair, "intacct", true).await;
    poll_now(&app, &token, &pair, "inventory").await;
    let runs = runs_when(
        &app,
        &token,
        &pair,
        &["inventory"],
        "every moved row written",
        |runs| all_succeeded(runs, &subjects),
    )
    .await;
    faults_on_both(&app, &token, &pair, "intacct", false).await;
    // Intacct's warehouses are Clarity's locations of the same id.
    clarity_levels_are(&app, &sims, &expected).await;
    assert_one_run_each(&runs, &subjects);
    app.stop().await;
}

#[tokio::test]
async fn sage_pro_counts_under_sage_pro_and_clarity_faults_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Pro Stock Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "inventory").await;
    // Physical counts in Sage Pro, through its own API; its warehouses are
    // Clarity's locations through the template's locations_by_warehouse.
    let rows = [
        ("SKU-1030", "MAIN", "WH1"),
        ("SKU-1031", "WEST", "WH2"),
        ("SKU-1032", "EAST", "WH3"),
        ("SKU-1030", "WEST", "WH2"),
    ];
    let mut expected = Vec::new();
    for (i, (sku, warehouse, location)) in rows.iter().enumerate() {
        let row = sims
            .sagepro
            .get_inventory(sku, warehouse)
            .await
            .expect("Sage Pro stock");
        let counted = row.qty_on_hand + Decimal::from(11 + i as i64);
        let after = sims
            .sagepro
            .update_inventory(
                &format!("count-{i}"),
                sku,
                warehouse,
                &InventoryAdjustment {
                    qty_on_hand: Some(counted),
                    reason: "count".into(),
                    reference: format!("CC-{i}"),
                },
                row.row_version,
            )
            .await
            .expect("a count");
        assert_eq!(after.qty_on_hand, counted);
        expected.push((sku.to_string(), location.to_string(), counted));
    }
    let subjects: Vec<String> = rows
        .iter()
        .map(|(sku, warehouse, _)| format!("{sku}@{warehouse}"))
        .collect();
    faults_on_both(&app, &token, &pair, "sagepro", true).await;
    poll_now(&app, &token, &pair, "inventory").await;
    let runs = runs_when(
        &app,
        &token,
        &pair,
        &["inventory"],
        "every counted row written",
        |runs| all_succeeded(runs, &subjects),
    )
    .await;
    faults_on_both(&app, &token, &pair, "sagepro", false).await;
    clarity_levels_are(&app, &sims, &expected).await;
    assert_one_run_each(&runs, &subjects);
    app.stop().await;
}

#[tokio::test]
async fn sage_pro_products_under_sage_pro_and_clarity_faults_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Pro Products Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "products").await;
    // New names and prices in Sage Pro; the last item is taken off the web.
    let skus = ["SKU-1040", "SKU-1041", "SKU-1042", "SKU-1043"];
    let mut expected = Vec::new();
    for (i, sku) in skus.iter().enumerate() {
        let before = sims.sagepro.get_product(sku).await.expect("the item");
        let name = format!("Faulty Widget {i}");
        let price = Decimal::new((40 + i as i64) * 100 + 25, 2);
        let web = i + 1 < skus.len();
        sims.sagepro
            .update_product(
                &format!("item-{i}"),
                sku,
                &ProductUpdate {
                    description: Some(name.clone()),
                    price: Some(price),
                    web_enabled: Some(web),
                    ..Default::default()
                },
                Some(before.row_version),
            )
            .await
            .expect("the item changed in Sage Pro");
        expected.push((
            sku.to_string(),
            name,
            price,
            if web { "active" } else { "inactive" },
        ));
    }
    let ids: Vec<String> = skus.iter().map(|s| s.to_string()).collect();
    faults_on_both(&app, &token, &pair, "sagepro", true).await;
    poll_now(&app, &token, &pair, "products").await;
    let runs = runs_when(
        &app,
        &token,
        &pair,
        &["products"],
        "every item written",
        |runs| all_succeeded(runs, &ids),
    )
    .await;
    faults_on_both(&app, &token, &pair, "sagepro", false).await;
    for (sku, name, price, status) in &expected {
        let p = sims.clarity.get_product(sku).await.expect("in Clarity");
        assert_eq!(
            (p.name.as_str(), p.price, p.status.as_str()),
            (name.as_str(), *price, *status),
            "{sku}: {p:?}"
        );
        let run = runs
            .iter()
            .find(|r| r["source_id"] == sku.as_str())
            .unwrap();
        assert_eq!(run["target_id"], p.product_id.as_str(), "{run}");
    }
    // One product per SKU: a retried write made no second one.
    for sku in skus {
        let found = sims
            .clarity
            .list_products(&ListQuery {
                filters: vec![("skuStartsWith".into(), sku.into())],
                ..Default::default()
            })
            .await
            .expect("Clarity's products")
            .results;
        assert_eq!(
            found.iter().filter(|p| p.sku == sku).count(),
            1,
            "{sku}: {found:?}"
        );
    }
    assert_one_run_each(&runs, &ids);
    app.stop().await;
}

/// `count` shopper orders that reached Intacct, each converted there into a
/// Sales Shipper and a Sales Invoice: (Clarity order id, shipper key,
/// invoice key) of each.
async fn shipped_and_invoiced_in_intacct(
    app: &TestApp,
    token: &str,
    pair: &str,
    sims: &Sims,
    count: usize,
) -> Vec<(String, String, String)> {
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(token),
            Some(json!({"count": count})),
            202,
        )
        .await;
    let mut made = Vec::new();
    for oid in placed["order_ids"].as_array().unwrap() {
        let oid = oid.as_str().unwrap().to_owned();
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
        let mut keys = Vec::new();
        for definition in ["Sales Shipper", "Sales Invoice"] {
            let doc: SoTransaction = serde_json::from_value(json!({
                "transactiontype": definition,
                "datecreated": {"year": "2026", "month": "01", "day": "20"},
                "createdfrom": so, "customerid": customer, "referenceno": oid,
                "termname": "Net 30", "shippingmethod": "UPS Ground", "basecurr": "USD",
                "currency": "USD",
                "sotransitems": [{"itemid": "SKU-1001", "quantity": "1", "unit": "Each",
                    "price": "19.99", "warehouseid": "WH1", "locationid": "US-EAST",
                    "departmentid": "ECOM"}]
            }))
            .unwrap();
            let key = sims
                .intacct
                .create_sales_order(&format!("{definition}-{oid}"), &doc)
                .await
                .unwrap_or_else(|e| panic!("a {definition} in Intacct: {e:?}"));
            keys.push(key);
        }
        made.push((oid, keys[0].clone(), keys[1].clone()));
    }
    assert_eq!(made.len(), count, "{placed}");
    made
}

#[tokio::test]
async fn intacct_shipments_and_invoices_under_clarity_faults_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Intacct Docs Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "shipments").await;
    polling_on(&app, &token, &pair, "invoices").await;
    let docs = shipped_and_invoiced_in_intacct(&app, &token, &pair, &sims, 2).await;
    faults(&app, &token, &pair, "clarity", true).await;
    for flow in ["shipments", "invoices"] {
        poll_now(&app, &token, &pair, flow).await;
    }
    let keys: Vec<String> = docs
        .iter()
        .flat_map(|(_, shipper, invoice)| [shipper.clone(), invoice.clone()])
        .collect();
    let runs = runs_when(
        &app,
        &token,
        &pair,
        &["shipments", "invoices"],
        "every shipment and invoice written",
        |runs| all_succeeded(runs, &keys),
    )
    .await;
    faults(&app, &token, &pair, "clarity", false).await;
    for (oid, shipper, invoice) in &docs {
        let shipments: Vec<_> = sims
            .clarity
            .list_shipments(&ListQuery {
                filters: vec![("orderId".into(), oid.clone())],
                ..Default::default()
            })
            .await
            .expect("Clarity's shipments")
            .results
            .into_iter()
            .filter(|s| s.order_id == *oid)
            .collect();
        assert_eq!(shipments.len(), 1, "one shipment for {oid}: {shipments:#?}");
        let s = &shipments[0];
        assert_eq!(
            (s.carrier.as_str(), s.service.as_deref()),
            ("UPS", Some("Ground")),
            "{s:?}"
        );
        let shipped = runs
            .iter()
            .find(|r| r["source_id"] == shipper.as_str())
            .unwrap();
        assert_eq!(shipped["flow"], "shipments");
        assert_eq!(shipped["target_id"], s.shipment_id.as_str(), "{shipped}");
        let order = sims.clarity.get_order(oid).await.expect("the order");
        assert_eq!(
            order["erpReferences"]["intacct"]["invoiceDocId"],
            invoice.as_str(),
            "{order}"
        );
        assert!(
            order["status"]
                .as_str()
                .is_some_and(|s| s.contains("shipped")),
            "{order}"
        );
        let invoiced = runs
            .iter()
            .find(|r| r["source_id"] == invoice.as_str())
            .unwrap();
        assert_eq!(invoiced["flow"], "invoices");
        assert_eq!(invoiced["target_id"], oid.as_str(), "{invoiced}");
    }
    assert_one_run_each(&runs, &keys);
    app.stop().await;
}
