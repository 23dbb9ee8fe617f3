//! The new flows under 30 % errors and 10 % timeouts on their target
//! simulator: every record still lands exactly once.

use std::time::Duration;

use connect_jobs::connectors::intacct::Object;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::common::sims::Sims;
use super::common::{TestApp, fresh_env, sample_order, start};
use super::{polling_on, runs_of, turn_on};

/// The app with quick retries and room for many: a record that takes two
/// calls gets through an attempt at 0.6² under these faults, so a long run
/// of failures is likely somewhere among a test's records, and the default
/// backoff (1 s doubling to 10 min) would outlast the test.
pub(super) async fn faulty_app() -> TestApp {
    let (env, dir) = fresh_env(&[
        ("CONNECT_RETRY_BASE_MS", "200"),
        ("CONNECT_RETRY_CAP_MS", "2000"),
        ("CONNECT_MAX_ATTEMPTS", "40"),
    ])
    .await;
    start(env, dir).await
}

/// 30 % errors and 10 % timeouts on `system`'s simulator (`on`), or none.
pub(super) async fn faults(app: &TestApp, token: &str, pair: &str, system: &str, on: bool) {
    let body = if on {
        json!({"system": system, "error_rate": 0.3, "timeout_rate": 0.1, "hang_ms": 2500})
    } else {
        json!({"system": system, "error_rate": 0.0, "timeout_rate": 0.0})
    };
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(token),
        Some(body),
        200,
    )
    .await;
}

/// The pair's runs of `flows` once `done` holds of them, waiting up to
/// 150 s; on timeout the runs are in the panic, so a failure says which
/// write kept failing and why.
pub(super) async fn runs_when(
    app: &TestApp,
    token: &str,
    pair: &str,
    flows: &[&str],
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        let mut runs = Vec::new();
        for flow in flows {
            runs.extend(runs_of(app, token, pair, flow).await);
        }
        if done(&runs) {
            return runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after 150 s waiting for {what}: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether each of `ids` has a succeeded run among `runs`.
pub(super) fn all_succeeded(runs: &[Value], ids: &[String]) -> bool {
    ids.iter().all(|id| {
        runs.iter()
            .any(|r| r["source_id"] == id.as_str() && r["status"] == "succeeded")
    })
}

#[tokio::test]
async fn payments_under_intacct_faults_each_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Payments Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    turn_on(&app, &token, &pair, "payments").await;
    faults(&app, &token, &pair, "intacct", true).await;
    let ids: Vec<String> = (1..=5).map(|i| format!("CO-FP-{i}")).collect();
    for id in &ids {
        let mut order = sample_order(id, "USD", &[("SKU-1001", "Widget", 1, "10.00")]);
        order["paymentInfo"] = json!({"method": "credit_card", "status": "captured", "amount": "10.00",
            "transactionId": format!("ch_{id}"), "capturedAt": "2026-01-15T10:05:00Z"});
        app.deliver_order(&token, &pair, &order).await;
        app.deliver(
            &token,
            &pair,
            &format!("evt_paid_{id}"),
            "order.paid",
            &order,
        )
        .await;
    }
    runs_when(
        &app,
        &token,
        &pair,
        &["payments"],
        "every payment written",
        |runs| runs.iter().filter(|r| r["status"] == "succeeded").count() == ids.len(),
    )
    .await;
    faults(&app, &token, &pair, "intacct", false).await;
    let found = sims
        .intacct
        .read_by_query("ARPYMT", &["DOCNUMBER"], "DOCNUMBER LIKE 'ch_CO-FP-%'", 100)
        .await
        .expect("Intacct answers");
    let mut numbers: Vec<String> = found
        .iter()
        .filter_map(|r| r["DOCNUMBER"].as_str().map(str::to_owned))
        .collect();
    numbers.sort();
    let expected: Vec<String> = ids.iter().map(|id| format!("ch_{id}")).collect();
    assert_eq!(numbers, expected, "each payment exactly once");
    let runs = runs_of(&app, &token, &pair, "payments").await;
    assert_eq!(runs.len(), ids.len(), "{runs:#?}");
    app.stop().await;
}

#[tokio::test]
async fn prices_under_clarity_faults_each_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Prices Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "products").await;
    let skus = ["SKU-1005", "SKU-1006", "SKU-1007", "SKU-1008"];
    for (i, sku) in skus.iter().enumerate() {
        let mut item = serde_json::Map::new();
        item.insert("ITEMID".into(), json!(sku));
        item.insert("BASEPRICE".into(), json!(format!("{}.50", 30 + i)));
        sims.intacct
            .update(&format!("price-{i}"), Object::Item, &item)
            .await
            .expect("a new price in Intacct");
    }
    faults(&app, &token, &pair, "clarity", true).await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/products/run"),
        Some(&token),
        None,
        202,
    )
    .await;
    let ids: Vec<String> = skus.iter().map(|s| s.to_string()).collect();
    // On timeout, the runs say which write kept failing and why.
    runs_when(
        &app,
        &token,
        &pair,
        &["products"],
        "every price written",
        |runs| all_succeeded(runs, &ids),
    )
    .await;
    faults(&app, &token, &pair, "clarity", false).await;
    for (i, sku) in skus.iter().enumerate() {
        let p = sims.clarity.get_product(sku).await.expect("in Clarity");
        assert_eq!(
            p.price,
            Decimal::new((30 + i as i64) * 100 + 50, 2),
            "{sku}"
        );
    }
    let runs: Vec<Value> = runs_of(&app, &token, &pair, "products")
        .await
        .into_iter()
        .filter(|r| r["source_id"] != "poll")
        .collect();
    assert_eq!(runs.len(), skus.len(), "one run per change: {runs:#?}");
    app.stop().await;
}

#[tokio::test]
async fn customers_under_sage_pro_faults_each_land_once() {
    use connect_jobs::connectors::clarity::Created;
    let app = faulty_app().await;
    let token = app.tenant("Faulty Customers Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    turn_on(&app, &token, &pair, "customers").await;
    faults(&app, &token, &pair, "sagepro", true).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let body = json!({"email": format!("buyer{i}@faults.example"), "firstName": "Buyer",
            "lastName": format!("No{i}"), "company": format!("Faults {i} Ltd")});
        match sims
            .clarity
            .create_customer(&format!("fault-cust-{i}"), &body)
            .await
            .expect("a Clarity customer")
        {
            Created::New(c) => ids.push(c.customer_id),
            Created::Exists { existing_id } => panic!("exists: {existing_id}"),
        }
    }
    // On timeout, the runs say which write kept failing and why.
    runs_when(
        &app,
        &token,
        &pair,
        &["customers"],
        "every customer written",
        |runs| all_succeeded(runs, &ids),
    )
    .await;
    faults(&app, &token, &pair, "sagepro", false).await;
    let held = sims
        .sagepro
        .list_customers(None, &[])
        .await
        .expect("Sage Pro's customers");
    for id in &ids {
        let copies = held
            .iter()
            .filter(|c| c.external_customer_id == *id)
            .count();
        assert_eq!(copies, 1, "customer {id} in Sage Pro");
    }
    app.stop().await;
}

#[tokio::test]
async fn shipments_and_invoices_under_clarity_faults_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Docs Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "shipments").await;
    polling_on(&app, &token, &pair, "invoices").await;
    let (oid, invoice) = super::documents::invoiced_order(&app, &token, &pair, &sims).await;
    faults(&app, &token, &pair, "clarity", true).await;
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
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        let mut runs = Vec::new();
        for flow in ["shipments", "invoices"] {
            runs.extend(runs_of(&app, &token, &pair, flow).await);
        }
        let done = runs
            .iter()
            .filter(|r| r["source_id"] == no.as_str() && r["status"] == "succeeded")
            .count();
        if done == 2 {
            break;
        }
        // On timeout, the runs say which write kept failing and why.
        assert!(
            std::time::Instant::now() < deadline,
            "the shipment and the invoice were not both written: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    faults(&app, &token, &pair, "clarity", false).await;
    let shipments = sims
        .clarity
        .list_shipments(&Default::default())
        .await
        .expect("Clarity's shipments")
        .results
        .into_iter()
        .filter(|s| s.order_id == oid)
        .count();
    assert_eq!(shipments, 1, "one shipment for the order");
    let order = sims.clarity.get_order(&oid).await.unwrap();
    assert_eq!(order["erpReferences"]["sagePro"]["invoiceNo"], no.as_str());
    app.stop().await;
}

#[tokio::test]
async fn returns_under_intacct_faults_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Returns Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    turn_on(&app, &token, &pair, "returns").await;
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
    app.run_of(&token, &pair, &oid, "succeeded").await;
    faults(&app, &token, &pair, "intacct", true).await;
    let ret = super::money::refunded_return(&sims, &oid).await;
    let rid = ret["returnId"].as_str().unwrap().to_owned();
    runs_when(
        &app,
        &token,
        &pair,
        &["returns"],
        "the credit written",
        |runs| all_succeeded(runs, std::slice::from_ref(&rid)),
    )
    .await;
    faults(&app, &token, &pair, "intacct", false).await;
    let found = sims
        .intacct
        .read_by_query(
            "ARADJUSTMENT",
            &["RECORDID"],
            &format!("RECORDID = 'CM-{rid}'"),
            10,
        )
        .await
        .expect("Intacct answers");
    assert_eq!(found.len(), 1, "one credit memo: {found:?}");
    app.stop().await;
}

/// A Clarity customer as the `customer.created/updated` webhook carries it.
fn clarity_customer(id: &str, company: &str, phone: &str) -> Value {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    json!({
        "customerId": id, "email": format!("{}@faults.example", id.to_lowercase()),
        "firstName": "Buyer", "lastName": id, "company": company, "phone": phone,
        "billingAddress": {"firstName": "Buyer", "lastName": id, "line1": "1 Main St",
            "city": "Boston", "region": "MA", "postalCode": "02110", "country": "US"},
        "shippingAddresses": [], "taxExempt": false, "status": "active",
        "erpReferences": {}, "version": 1, "createdDate": now, "updatedDate": now,
    })
}

#[tokio::test]
async fn customers_to_intacct_under_intacct_faults_each_land_once() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Intacct Customers Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    // Its first poll made before the faults: none runs during the test.
    polling_on(&app, &token, &pair, "customers").await;
    faults(&app, &token, &pair, "intacct", true).await;
    let ids: Vec<String> = (1..=4).map(|i| format!("CUS-FLT-{i}")).collect();
    for id in &ids {
        let c = clarity_customer(id, &format!("Faults {id} Ltd"), "+1 617 555 0100");
        app.deliver(
            &token,
            &pair,
            &format!("evt_created_{id}"),
            "customer.created",
            &c,
        )
        .await;
    }
    runs_when(
        &app,
        &token,
        &pair,
        &["customers"],
        "every customer created",
        |runs| all_succeeded(runs, &ids),
    )
    .await;
    // Two of them change in Clarity: a new company name and phone.
    let changed = &ids[..2];
    for id in changed {
        let c = clarity_customer(id, &format!("Renamed {id} Inc"), "+1 617 555 0199");
        app.deliver(
            &token,
            &pair,
            &format!("evt_updated_{id}"),
            "customer.updated",
            &c,
        )
        .await;
    }
    let runs = runs_when(
        &app,
        &token,
        &pair,
        &["customers"],
        "every change written",
        |runs| {
            changed.iter().all(|id| {
                runs.iter()
                    .filter(|r| r["source_id"] == id.as_str() && r["status"] == "succeeded")
                    .count()
                    == 2
            })
        },
    )
    .await;
    faults(&app, &token, &pair, "intacct", false).await;
    let runs: Vec<&Value> = runs.iter().filter(|r| r["source_id"] != "poll").collect();
    assert_eq!(
        runs.len(),
        ids.len() + changed.len(),
        "one run per change: {runs:#?}"
    );
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:#?}");
    let found = sims
        .intacct
        .read_by_query(
            "CUSTOMER",
            &["CUSTOMERID", "NAME", "DISPLAYCONTACT"],
            "CUSTOMERID LIKE 'CUS-FLT-%'",
            100,
        )
        .await
        .expect("Intacct answers");
    let mut held: Vec<&str> = found
        .iter()
        .filter_map(|c| c["CUSTOMERID"].as_str())
        .collect();
    held.sort();
    assert_eq!(held, ids, "each customer exactly once: {found:#?}");
    for c in &found {
        let id = c["CUSTOMERID"].as_str().unwrap();
        let (name, phone) = if changed.iter().any(|x| x == id) {
            (format!("Renamed {id} Inc"), "+1 617 555 0199")
        } else {
            (format!("Faults {id} Ltd"), "+1 617 555 0100")
        };
        assert_eq!(c["NAME"], name.as_str(), "{c:?}");
        let contact = &c["DISPLAYCONTACT"];
        assert_eq!(contact["PHONE1"], phone, "{c:?}");
        assert_eq!(
            contact["EMAIL1"],
            format!("{}@faults.example", id.to_lowercase()).as_str(),
            "{c:?}"
        );
        assert_eq!(contact["MAILADDRESS"]["CITY"], "Boston", "{c:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn returns_under_sage_pro_faults_each_become_one_credit_memo() {
    let app = faulty_app().await;
    let token = app.tenant("Faulty Pro Returns Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    turn_on(&app, &token, &pair, "returns").await;
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(&token),
            Some(json!({"count": 3})),
            202,
        )
        .await;
    let orders: Vec<String> = placed["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(orders.len(), 3, "{placed}");
    for oid in &orders {
        app.run_of(&token, &pair, oid, "succeeded").await;
    }
    faults(&app, &token, &pair, "sagepro", true).await;
    let mut rids = Vec::new();
    for oid in &orders {
        let ret = super::money::refunded_return(&sims, oid).await;
        rids.push(ret["returnId"].as_str().unwrap().to_owned());
    }
    let runs = runs_when(
        &app,
        &token,
        &pair,
        &["returns"],
        "every credit memo written",
        |runs| all_succeeded(runs, &rids),
    )
    .await;
    faults(&app, &token, &pair, "sagepro", false).await;
    let memos: Vec<_> = sims
        .sagepro
        .list_invoices(None, &[])
        .await
        .expect("Sage Pro's invoices")
        .into_iter()
        .filter(|i| rids.contains(&i.customer_po))
        .collect();
    for (rid, oid) in rids.iter().zip(&orders) {
        let of: Vec<_> = memos.iter().filter(|m| m.customer_po == *rid).collect();
        assert_eq!(of.len(), 1, "one credit memo for {rid}: {memos:#?}");
        let memo = of[0];
        assert_eq!(memo.invoice_type, "CreditMemo", "{memo:?}");
        assert_eq!(memo.line_items.len(), 1, "{memo:?}");
        let memo = serde_json::to_value(memo).unwrap();
        assert_eq!(memo["LineItems"][0]["Restock"], true, "{memo}");
        // The run names it, and it credits the order's customer.
        let ran: Vec<&Value> = runs
            .iter()
            .filter(|r| r["source_id"] == rid.as_str())
            .collect();
        let done: Vec<&&Value> = ran.iter().filter(|r| r["status"] == "succeeded").collect();
        assert_eq!(done.len(), 1, "{rid}: {ran:#?}");
        assert_eq!(done[0]["target_id"], memo["InvoiceNo"], "{ran:#?}");
        let order_run = app.run_of(&token, &pair, oid, "succeeded").await;
        let so = sims
            .sagepro
            .get_order(order_run["target_id"].as_str().unwrap())
            .await
            .expect("the sales order");
        assert_eq!(memo["CustomerNo"], so.customer_no.as_str(), "{memo}");
    }
    // return.created is skipped, return.refunded written: two runs a
    // return, and nothing failed on the way.
    let runs = runs_of(&app, &token, &pair, "returns").await;
    assert_eq!(runs.len(), 2 * rids.len(), "{runs:#?}");
    assert!(
        runs.iter()
            .all(|r| r["status"] == "succeeded" || r["status"] == "skipped"),
        "{runs:#?}"
    );
    app.stop().await;
}
