//! Kill the server process (SIGKILL) while orders are in flight, or while the
//! polled flows are reading their ERP, restart it on the same data: every
//! acknowledged order, and every change the ERP made, still arrives exactly
//! once.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Output;
use serde_json::{Value, json};

/// A launched `connect serve`, killed (SIGKILL) and reaped when dropped: a
/// test that fails part way does not leave its server running. Only this
/// child is signalled, through its own handle.
struct Served(std::process::Child);

impl Served {
    /// Kills the server as a crash would, and reaps it.
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL");
        let _ = self.0.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // A child already reaped is not signalled again: its pid may be
        // another process's by now, and `Child::kill` knows it has exited.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn orders_survive_a_killed_server() {
    let (mut env, _dir) = common::fresh_env(&[]).await;
    let (child, api) = common::launch(&env, "warn", Output::Null, Stdio::inherit()).await;
    let mut served = Served(child);
    // The restart keeps the address, as a real deployment does: the Clarity
    // simulator's pending webhook deliveries are addressed to it.
    let bound = api.base.trim_start_matches("http://").to_owned();
    env.insert("CONNECT_BIND".into(), bound);
    api.wait_ready().await;
    let token = api.tenant("Crash Co").await;
    let pair = api.sandbox_pair(&token, "sagepro").await;
    // Slow the ERP down so that work is in flight when the process dies.
    api.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "sagepro", "latency_ms": 300})),
        200,
    )
    .await;
    let r = api
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(&token),
            Some(json!({"count": 12})),
            202,
        )
        .await;
    let ids: Vec<String> = r["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The premise: the workers had started on the orders and not finished.
    let sandbox = api
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(&token),
            None,
            200,
        )
        .await;
    let arrived = api
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders"),
            Some(&token),
            None,
            200,
        )
        .await;
    let arrived = arrived.as_array().map_or(0, Vec::len);
    served.kill();
    assert!(
        sandbox["calls_received"]["sagepro"].as_u64().unwrap_or(0) > 0,
        "no call had reached the ERP when the server was killed: {sandbox}"
    );
    assert!(
        arrived < ids.len(),
        "every order had arrived before the kill ({arrived}): nothing was in flight"
    );

    served = Served(
        common::launch(&env, "warn", Output::Null, Stdio::inherit())
            .await
            .0,
    );
    api.wait_ready().await;
    let path = format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders");
    let start = Instant::now();
    let held = loop {
        let held = api.call("GET", &path, Some(&token), None, 200).await;
        let held: Vec<Value> = held.as_array().cloned().unwrap_or_default();
        if ids
            .iter()
            .all(|id| held.iter().any(|o| o["CustomerPO"] == *id))
            || start.elapsed() > Duration::from_secs(90)
        {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    drop(served);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for o in &held {
        *counts
            .entry(o["CustomerPO"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    for id in &ids {
        assert_eq!(
            counts.get(id).copied().unwrap_or(0),
            1,
            "order {id} after the crash: {counts:?}"
        );
    }
    assert_eq!(held.len(), ids.len());
}

/// The Clarity level of `sku` at `location`, if Clarity has one.
async fn clarity_level(
    sims: &common::sims::Sims,
    sku: &str,
    location: &str,
) -> Option<rust_decimal::Decimal> {
    sims.clarity
        .get_inventory(sku)
        .await
        .ok()?
        .locations
        .into_iter()
        .find(|l| l.location_id == location)
        .map(|l| l.quantity_on_hand)
}

#[tokio::test]
async fn a_poll_killed_mid_read_is_read_again_and_each_change_lands_once() {
    use connect_jobs::connectors::sagepro::wire::InventoryAdjustment;
    // A poll slowed to 5 s a request is in flight, not timed out and retried,
    // when the process dies.
    let (mut env, _dir) = common::fresh_env(&[
        ("CONNECT_LEASE_MS", "3000"),
        ("CONNECT_HTTP_TIMEOUT_MS", "20000"),
        // Clarity answers 429 for the rest of a minute once its 120 are
        // spent: room to wait that out rather than dead-letter the writes.
        ("CONNECT_RETRY_CAP_MS", "5000"),
        ("CONNECT_MAX_ATTEMPTS", "60"),
    ])
    .await;
    let (child, api) = common::launch(&env, "warn", Output::Null, Stdio::inherit()).await;
    let mut served = Served(child);
    let bound = api.base.trim_start_matches("http://").to_owned();
    env.insert("CONNECT_BIND".into(), bound);
    api.wait_ready().await;
    let token = api.tenant("Poll Crash Co").await;
    let pair = api.sandbox_pair(&token, "sagepro").await;
    let sims = common::sims::Sims::of(&api, &token, &pair).await;
    let flow = format!("/api/v1/pairs/{pair}/flows/inventory");
    api.call(
        "PUT",
        &flow,
        Some(&token),
        Some(json!({"enabled": true})),
        200,
    )
    .await;
    let first = Instant::now();
    let polled_at = loop {
        let f = api.call("GET", &flow, Some(&token), None, 200).await;
        if let Some(at) = f["last_poll_at"].as_i64() {
            break at;
        }
        assert!(
            first.elapsed() < Duration::from_secs(30),
            "no first poll: {f}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Three counts in Sage Pro, then a poll slowed down so that the process
    // dies in the middle of reading them.
    let skus = ["SKU-1010", "SKU-1011", "SKU-1012"];
    let mut counted = Vec::new();
    for (i, sku) in skus.iter().enumerate() {
        let row = sims.sagepro.get_inventory(sku, "MAIN").await.unwrap();
        let level = row.qty_on_hand + rust_decimal::Decimal::from(10 + i as i64);
        sims.sagepro
            .update_inventory(
                &format!("count-{i}"),
                sku,
                "MAIN",
                &InventoryAdjustment {
                    qty_on_hand: Some(level),
                    reason: "count".into(),
                    reference: format!("CC-{i}"),
                },
                row.row_version,
            )
            .await
            .unwrap();
        counted.push(level);
    }
    api.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "sagepro", "latency_ms": 5000})),
        200,
    )
    .await;
    api.call("POST", &format!("{flow}/run"), Some(&token), None, 202)
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mid = api.call("GET", &flow, Some(&token), None, 200).await;
    assert_eq!(
        mid["last_poll_at"].as_i64(),
        Some(polled_at),
        "the poll had finished before the kill: {mid}"
    );
    served.kill();

    served = Served(
        common::launch(&env, "warn", Output::Null, Stdio::inherit())
            .await
            .0,
    );
    api.wait_ready().await;
    api.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "sagepro", "latency_ms": 0})),
        200,
    )
    .await;
    // Waited on through our own API: asking Clarity three times a second
    // would spend its 120 requests a minute that the flow's writes need.
    let runs_path = format!("/api/v1/pairs/{pair}/runs?flow=inventory&limit=100");
    let start = Instant::now();
    let runs = loop {
        let runs = api.call("GET", &runs_path, Some(&token), None, 200).await;
        let done = runs
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "succeeded" && r["source_id"] != "poll");
        if done.count() >= skus.len() {
            break runs;
        }
        if start.elapsed() > Duration::from_secs(150) {
            let state = api.call("GET", &flow, Some(&token), None, 200).await;
            panic!("the counts did not reach Clarity after the restart: {state:#} {runs:#}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    for (sku, level) in skus.iter().zip(&counted) {
        assert_eq!(
            clarity_level(&sims, sku, "WH1").await,
            Some(*level),
            "{sku}"
        );
    }
    let runs: Vec<&Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source_id"] != "poll")
        .collect();
    for sku in skus {
        let of: Vec<&&Value> = runs
            .iter()
            .filter(|r| r["source_id"] == format!("{sku}@MAIN").as_str())
            .collect();
        assert_eq!(of.len(), 1, "{sku}: {runs:#?}");
        assert_eq!(of[0]["status"], "succeeded");
    }
    assert_eq!(runs.len(), skus.len(), "only the counted rows: {runs:#?}");
    drop(served);
}

/// The flows that poll their ERP for changes to send to Clarity.
const POLLED: [&str; 5] = [
    "customers",
    "products",
    "inventory",
    "shipments",
    "invoices",
];

/// The flow's state as the API shows it (its `last_poll_at`).
async fn flow_of(api: &common::Api, token: &str, pair: &str, flow: &str) -> Value {
    api.call(
        "GET",
        &format!("/api/v1/pairs/{pair}/flows/{flow}"),
        Some(token),
        None,
        200,
    )
    .await
}

/// The pair's runs of one flow, newest first (up to 100).
async fn runs_of(api: &common::Api, token: &str, pair: &str, flow: &str) -> Vec<Value> {
    api.call(
        "GET",
        &format!("/api/v1/pairs/{pair}/runs?flow={flow}&limit=100"),
        Some(token),
        None,
        200,
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// Asks for a poll of `flow` now.
async fn poll_now(api: &common::Api, token: &str, pair: &str, flow: &str) {
    api.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/{flow}/run"),
        Some(token),
        None,
        202,
    )
    .await;
}

/// Every call to `system`'s simulator of the pair takes `ms` longer.
async fn latency(api: &common::Api, token: &str, pair: &str, system: &str, ms: u64) {
    api.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(token),
        Some(json!({"system": system, "latency_ms": ms})),
        200,
    )
    .await;
}

/// The pair's rows still to run (waiting or running).
async fn backlog(api: &common::Api, token: &str, pair: &str) -> i64 {
    let p = api
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}"),
            Some(token),
            None,
            200,
        )
        .await;
    p["health"]["backlog"].as_i64().unwrap_or(-1)
}

/// How many calls `system`'s simulator of the pair has had (since the
/// process started).
async fn calls_to(api: &common::Api, token: &str, pair: &str, system: &str) -> u64 {
    let info = api
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(token),
            None,
            200,
        )
        .await;
    info["calls_received"][system].as_u64().unwrap_or(0)
}

/// Intacct's on-hand quantity of `sku` in `warehouse`.
async fn intacct_on_hand(
    sims: &common::sims::Sims,
    sku: &str,
    warehouse: &str,
) -> rust_decimal::Decimal {
    let levels = sims
        .intacct
        .inventory_levels(&[sku.to_owned()], &["ONHAND"])
        .await
        .expect("Intacct stock");
    levels
        .iter()
        .find(|l| l.warehouse_id == warehouse)
        .map(|l| l.quantities[0].1)
        .unwrap_or_else(|| panic!("{sku} in {warehouse}: {levels:?}"))
}

/// A JSON object as an Intacct record.
fn record(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

/// An Intacct Order Entry document of `definition`: its lines are (item,
/// warehouse, quantity).
fn intacct_document(
    definition: &str,
    customer: &Value,
    created_from: Option<&str>,
    reference: &str,
    lines: &[(&str, &str, i64)],
) -> connect_jobs::connectors::intacct::wire::SoTransaction {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, wh, qty)| {
            json!({"itemid": sku, "quantity": qty.to_string(), "unit": "Each", "price": "19.99",
                "warehouseid": wh, "locationid": "US-EAST", "departmentid": "ECOM"})
        })
        .collect();
    serde_json::from_value(json!({
        "transactiontype": definition, "datecreated": {"year": "2026", "month": "01", "day": "20"},
        "createdfrom": created_from, "customerid": customer, "referenceno": reference,
        "termname": "Net 30", "shippingmethod": "UPS Ground", "basecurr": "USD", "currency": "USD",
        "sotransitems": lines
    }))
    .expect("an Intacct document")
}

#[tokio::test]
async fn every_polled_flow_killed_mid_poll_on_both_erps_reads_again_and_lands_each_change_once() {
    use connect_jobs::connectors::clarity::ListQuery;
    use connect_jobs::connectors::intacct::Object;
    use connect_jobs::connectors::sagepro::wire::{
        Address, CustomerInput, InventoryAdjustment, InvoiceInput, ProductUpdate,
    };
    use rust_decimal::Decimal;
    use std::collections::HashSet;
    // Each ERP call slowed to 6 s: the polls are in flight, not timed out
    // and retried, when the process dies; every poll of both pairs is taken
    // at once (Intacct's two calls at a time hold the rest back).
    let (mut env, _dir) = common::fresh_env(&[
        ("CONNECT_LEASE_MS", "3000"),
        ("CONNECT_HTTP_TIMEOUT_MS", "20000"),
        ("CONNECT_RETRY_CAP_MS", "5000"),
        ("CONNECT_MAX_ATTEMPTS", "60"),
        ("CONNECT_WORKER_CONCURRENCY", "12"),
    ])
    .await;
    let (child, api) = common::launch(&env, "warn", Output::Null, Stdio::inherit()).await;
    let mut served = Served(child);
    let bound = api.base.trim_start_matches("http://").to_owned();
    env.insert("CONNECT_BIND".into(), bound);
    api.wait_ready().await;
    let token = api.tenant("Every Poll Crash Co").await;
    let pairs: HashMap<&str, String> = [
        ("intacct", api.sandbox_pair(&token, "intacct").await),
        ("sagepro", api.sandbox_pair(&token, "sagepro").await),
    ]
    .into();
    let si = common::sims::Sims::of(&api, &token, &pairs["intacct"]).await;
    let ss = common::sims::Sims::of(&api, &token, &pairs["sagepro"]).await;
    // Inventory on Sage Pro is the test above's.
    let polled: Vec<(&str, &str)> = ["intacct", "sagepro"]
        .into_iter()
        .flat_map(|erp| POLLED.into_iter().map(move |flow| (erp, flow)))
        .filter(|&(erp, flow)| (erp, flow) != ("sagepro", "inventory"))
        .collect();
    for &(erp, flow) in &polled {
        api.call(
            "PUT",
            &format!("/api/v1/pairs/{}/flows/{flow}", pairs[erp]),
            Some(&token),
            Some(json!({"enabled": true})),
            200,
        )
        .await;
    }
    let start = Instant::now();
    for &(erp, flow) in &polled {
        loop {
            let f = flow_of(&api, &token, &pairs[erp], flow).await;
            if f["last_poll_at"].is_i64() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "no first poll of {erp} {flow}: {f}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    // A shopper's order on each pair, written to its ERP by the orders flow:
    // the shipments and invoices below are made from it.
    let mut orders: HashMap<&str, (String, String)> = HashMap::new();
    for erp in ["intacct", "sagepro"] {
        let pair = &pairs[erp];
        let placed = api
            .call(
                "POST",
                &format!("/api/v1/pairs/{pair}/sandbox/orders"),
                Some(&token),
                Some(json!({"count": 1})),
                202,
            )
            .await;
        let oid = placed["order_ids"][0].as_str().unwrap().to_owned();
        let so = api.run_of(&token, pair, &oid, "succeeded").await["target_id"]
            .as_str()
            .unwrap()
            .to_owned();
        orders.insert(erp, (oid, so));
    }
    // The Intacct order put stock on hold: the inventory flow takes those
    // rows now, so that the killed polls read only the changes below.
    let held = flow_of(&api, &token, &pairs["intacct"], "inventory").await["last_poll_at"].clone();
    poll_now(&api, &token, &pairs["intacct"], "inventory").await;
    let start = Instant::now();
    loop {
        let f = flow_of(&api, &token, &pairs["intacct"], "inventory").await;
        if f["last_poll_at"] != held
            && backlog(&api, &token, &pairs["intacct"]).await == 0
            && backlog(&api, &token, &pairs["sagepro"]).await == 0
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let runs = runs_of(&api, &token, &pairs["intacct"], "inventory").await;
            panic!("the held stock did not settle: {f:#} {runs:#?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut earlier: HashSet<String> = HashSet::new();
    for &(erp, flow) in &polled {
        for r in runs_of(&api, &token, &pairs[erp], flow).await {
            earlier.insert(r["id"].as_str().unwrap().to_owned());
        }
    }

    // Intacct, through its own API: a new customer, a new price, goods
    // returned into three stock rows, and the order shipped and invoiced
    // (each of which takes one from SKU-1001's stock in WH2). The stock rows
    // are not in WH1, where Clarity takes a shipment's units from its own
    // stock: the Clarity shipment of the order's (random) lines, landing
    // after the ERP's level, would leave that level one shipment lower.
    si.intacct
        .create(
            "crash-customer",
            Object::Customer,
            &record(
                json!({"CUSTOMERID": "CRASH-I-01", "NAME": "Crash Intacct Co",
                "TERMNAME": "Net 30", "CURRENCY": "USD",
                "DISPLAYCONTACT": {"PRINTAS": "Ivy Intacct", "FIRSTNAME": "Ivy",
                    "LASTNAME": "Intacct", "EMAIL1": "ivy@crash-intacct.example",
                    "PHONE1": "512-555-0177", "MAILADDRESS": {"ADDRESS1": "7 Crash St",
                        "CITY": "Austin", "STATE": "TX", "ZIP": "78701",
                        "COUNTRY": "United States"}}}),
            ),
        )
        .await
        .expect("a new customer in Intacct");
    si.intacct
        .update(
            "crash-price",
            Object::Item,
            &record(json!({"ITEMID": "SKU-1055", "BASEPRICE": "61.25"})),
        )
        .await
        .expect("a new price in Intacct");
    let returned = [
        ("SKU-1070", "WH2", 2),
        ("SKU-1071", "WH3", 3),
        ("SKU-1072", "WH2", 4),
    ];
    si.intacct
        .create_sales_order(
            "crash-return",
            &intacct_document(
                "Sales Return",
                &json!("CUS-5001"),
                None,
                "RMA-CRASH-1",
                &returned,
            ),
        )
        .await
        .expect("a Sales Return in Intacct");
    let (i_oid, i_so) = orders["intacct"].clone();
    let i_customer = si
        .intacct
        .read_by_query(
            "SODOCUMENT",
            &["DOCID", "CUSTVENDID"],
            &format!("DOCID = '{i_so}'"),
            1,
        )
        .await
        .unwrap()[0]["CUSTVENDID"]
        .clone();
    let mut i_docs = Vec::new();
    for definition in ["Sales Shipper", "Sales Invoice"] {
        let key = si
            .intacct
            .create_sales_order(
                &format!("crash-{definition}"),
                &intacct_document(
                    definition,
                    &i_customer,
                    Some(&i_so),
                    &i_oid,
                    &[("SKU-1001", "WH2", 1)],
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("a {definition} in Intacct: {e:?}"));
        i_docs.push(key);
    }
    let (i_shipper, i_invoice) = (i_docs[0].clone(), i_docs[1].clone());
    let mut i_levels = Vec::new();
    for (sku, wh) in returned
        .iter()
        .map(|(sku, wh, _)| (*sku, *wh))
        .chain([("SKU-1001", "WH2")])
    {
        i_levels.push((sku, wh, intacct_on_hand(&si, sku, wh).await));
    }

    // Sage Pro, through its own API: a new customer, an item renamed and
    // repriced, and the order invoiced (which ships it).
    let s_customer = ss
        .sagepro
        .create_customer(
            "crash-customer",
            &CustomerInput {
                customer_no: Some("CRASH01".into()),
                company: Some("Crash Pro Co".into()),
                contact: Some("Sam Pro".into()),
                email: Some("sam@crash-pro.example".into()),
                phone: Some("555-0150".into()),
                bill_to_address: Some(Address {
                    name: "Sam Pro".into(),
                    address1: "9 Crash Ave".into(),
                    city: "Austin".into(),
                    state: "TX".into(),
                    zip: "78701".into(),
                    country: "US".into(),
                    ..Default::default()
                }),
                payment_terms: Some("NET30".into()),
                ..Default::default()
            },
        )
        .await
        .expect("a new customer in Sage Pro")
        .customer_no;
    let item = ss.sagepro.get_product("SKU-1056").await.expect("the item");
    ss.sagepro
        .update_product(
            "crash-item",
            "SKU-1056",
            &ProductUpdate {
                description: Some("Crash Widget".into()),
                price: Some(Decimal::new(4475, 2)),
                ..Default::default()
            },
            Some(item.row_version),
        )
        .await
        .expect("the item changed in Sage Pro");
    let (s_oid, s_so) = orders["sagepro"].clone();
    // Stock is counted in first: the shopper's SKUs may have none on hand.
    let order = ss.sagepro.get_order(&s_so).await.expect("the sales order");
    for (i, line) in order.line_items.iter().enumerate() {
        let row = ss
            .sagepro
            .get_inventory(&line.item_code, "MAIN")
            .await
            .expect("Sage Pro stock");
        ss.sagepro
            .update_inventory(
                &format!("crash-count-{i}"),
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
    let s_invoice = ss
        .sagepro
        .create_invoice(
            "crash-invoice",
            &InvoiceInput {
                sales_order_no: Some(s_so.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("an invoice made from the sales order")
        .invoice_no;

    // What each flow is to write once: the ERP's records it changed.
    let mut expected: HashMap<(&str, &str), Vec<String>> = HashMap::new();
    expected.insert(("intacct", "customers"), vec!["CRASH-I-01".into()]);
    expected.insert(("intacct", "products"), vec!["SKU-1055".into()]);
    expected.insert(
        ("intacct", "inventory"),
        i_levels
            .iter()
            .map(|(sku, wh, _)| format!("{sku}@{wh}"))
            .collect(),
    );
    expected.insert(("intacct", "shipments"), vec![i_shipper.clone()]);
    expected.insert(("intacct", "invoices"), vec![i_invoice.clone()]);
    expected.insert(("sagepro", "customers"), vec![s_customer.clone()]);
    expected.insert(("sagepro", "products"), vec!["SKU-1056".into()]);
    expected.insert(("sagepro", "shipments"), vec![s_invoice.clone()]);
    expected.insert(("sagepro", "invoices"), vec![s_invoice.clone()]);

    // Both ERPs slowed down, every flow asked to poll, and the process
    // killed once both ERPs have a poll's request in hand.
    let mut polled_at: HashMap<(&str, &str), Value> = HashMap::new();
    for &(erp, flow) in &polled {
        let f = flow_of(&api, &token, &pairs[erp], flow).await;
        polled_at.insert((erp, flow), f["last_poll_at"].clone());
    }
    let mut calls: HashMap<&str, u64> = HashMap::new();
    for erp in ["intacct", "sagepro"] {
        calls.insert(erp, calls_to(&api, &token, &pairs[erp], erp).await);
        latency(&api, &token, &pairs[erp], erp, 6000).await;
    }
    for &(erp, flow) in &polled {
        poll_now(&api, &token, &pairs[erp], flow).await;
    }
    let start = Instant::now();
    loop {
        let mut reached = true;
        for erp in ["intacct", "sagepro"] {
            reached &= calls_to(&api, &token, &pairs[erp], erp).await > calls[erp];
        }
        if reached {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no poll reached both ERPs within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Room for the other polls to start; none can have ended in it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for &(erp, flow) in &polled {
        let f = flow_of(&api, &token, &pairs[erp], flow).await;
        assert_eq!(
            f["last_poll_at"],
            polled_at[&(erp, flow)],
            "the {erp} {flow} poll had finished before the kill: {f}"
        );
    }
    served.kill();

    served = Served(
        common::launch(&env, "warn", Output::Null, Stdio::inherit())
            .await
            .0,
    );
    api.wait_ready().await;
    for erp in ["intacct", "sagepro"] {
        latency(&api, &token, &pairs[erp], erp, 0).await;
    }
    // Done when each flow has polled again, each change has its succeeded
    // run, each customer written to Clarity has come back as Clarity's
    // webhook and been run, and nothing is left to run. Waited on through
    // our own API: Clarity's 120 requests a minute are the flows' writes'.
    let ended =
        |r: &Value| ["succeeded", "skipped", "dead"].contains(&r["status"].as_str().unwrap_or(""));
    let start = Instant::now();
    let runs: HashMap<(&str, &str), Vec<Value>> = loop {
        let mut runs = HashMap::new();
        let mut done = true;
        let mut dead = false;
        for &(erp, flow) in &polled {
            let f = flow_of(&api, &token, &pairs[erp], flow).await;
            done &= f["last_poll_at"] != polled_at[&(erp, flow)];
            let new: Vec<Value> = runs_of(&api, &token, &pairs[erp], flow)
                .await
                .into_iter()
                .filter(|r| !earlier.contains(r["id"].as_str().unwrap_or_default()))
                .filter(|r| r["source_id"] != "poll")
                .collect();
            dead |= new.iter().any(|r| r["status"] == "dead");
            for id in &expected[&(erp, flow)] {
                let landed = new
                    .iter()
                    .find(|r| r["source_id"] == id.as_str() && r["status"] == "succeeded");
                done &= landed.is_some();
                // Clarity announces the customer it was given: that comes
                // back and is run too.
                if flow == "customers"
                    && let Some(cid) = landed.and_then(|r| r["target_id"].as_str())
                {
                    done &= new.iter().any(|r| r["source_id"] == cid && ended(r));
                }
            }
            runs.insert((erp, flow), new);
        }
        for erp in ["intacct", "sagepro"] {
            done &= backlog(&api, &token, &pairs[erp]).await == 0;
        }
        if done {
            break runs;
        }
        if dead || start.elapsed() > Duration::from_secs(240) {
            let mut shown = Vec::new();
            for &(erp, flow) in &polled {
                let state = flow_of(&api, &token, &pairs[erp], flow).await;
                shown.push(json!({"erp": erp, "flow": flow, "state": state,
                    "expected": expected[&(erp, flow)], "runs": runs[&(erp, flow)]}));
            }
            panic!(
                "the changes did not all reach Clarity after the restart ({:?}): {:#}",
                start.elapsed(),
                Value::Array(shown)
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // One run per changed record, succeeded; none of anything else (but
    // the customers' own echo, which is skipped as our own write).
    let mut target: HashMap<(&str, &str, String), String> = HashMap::new();
    for &(erp, flow) in &polled {
        let of_flow = &runs[&(erp, flow)];
        let ids = &expected[&(erp, flow)];
        for id in ids {
            let of: Vec<&Value> = of_flow
                .iter()
                .filter(|r| r["source_id"] == id.as_str())
                .collect();
            assert_eq!(of.len(), 1, "{erp} {flow}: one run of {id}: {of_flow:#?}");
            assert_eq!(of[0]["status"], "succeeded", "{erp} {flow}: {of:#?}");
            let to = of[0]["target_id"].as_str().unwrap_or_default().to_owned();
            target.insert((erp, flow, id.clone()), to);
        }
        let others: Vec<&Value> = of_flow
            .iter()
            .filter(|r| !ids.iter().any(|id| r["source_id"] == id.as_str()))
            .collect();
        if flow == "customers" {
            assert_eq!(others.len(), 1, "{erp}: the echo only: {of_flow:#?}");
            assert_eq!(others[0]["status"], "skipped", "{erp}: {others:#?}");
            assert!(
                others[0]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("our own write")),
                "{erp}: {others:#?}"
            );
        } else {
            assert!(
                others.is_empty(),
                "{erp} {flow}: only the changes: {of_flow:#?}"
            );
        }
    }

    // In Clarity, read through its own API: each change once, as made.
    for (sims, erp, id, email) in [
        (&si, "intacct", "CRASH-I-01", "ivy@crash-intacct.example"),
        (&ss, "sagepro", s_customer.as_str(), "sam@crash-pro.example"),
    ] {
        let cid = &target[&(erp, "customers", id.to_owned())];
        let found = sims
            .clarity
            .list_customers(&ListQuery {
                filters: vec![("email".into(), email.into())],
                ..Default::default()
            })
            .await
            .expect("Clarity's customers")
            .results;
        assert_eq!(found.len(), 1, "{erp}: one customer of {email}: {found:#?}");
        let c = &found[0];
        assert_eq!(&c.customer_id, cid, "{c:?}");
        let refs = Value::Object(c.erp_references.clone());
        let linked = if erp == "intacct" {
            &refs["intacct"]["customerId"]
        } else {
            &refs["sagePro"]["customerNo"]
        };
        assert_eq!(linked, id, "{c:?}");
        if erp == "intacct" {
            assert_eq!(
                (
                    c.first_name.as_deref(),
                    c.last_name.as_deref(),
                    c.phone.as_deref()
                ),
                (Some("Ivy"), Some("Intacct"), Some("512-555-0177")),
                "{c:?}"
            );
        }
    }
    for (sims, erp, sku) in [(&si, "intacct", "SKU-1055"), (&ss, "sagepro", "SKU-1056")] {
        let found: Vec<_> = sims
            .clarity
            .list_products(&ListQuery {
                filters: vec![("skuStartsWith".into(), sku.into())],
                ..Default::default()
            })
            .await
            .expect("Clarity's products")
            .results
            .into_iter()
            .filter(|p| p.sku == sku)
            .collect();
        assert_eq!(found.len(), 1, "{erp}: one product {sku}: {found:#?}");
        let p = &found[0];
        assert_eq!(p.product_id, target[&(erp, "products", sku.to_owned())]);
        if erp == "intacct" {
            assert_eq!(p.price, Decimal::new(6125, 2), "{p:?}");
        } else {
            assert_eq!(
                (p.name.as_str(), p.price),
                ("Crash Widget", Decimal::new(4475, 2)),
                "{p:?}"
            );
        }
    }
    for (sku, wh, level) in &i_levels {
        assert_eq!(
            clarity_level(&si, sku, wh).await,
            Some(*level),
            "{sku}@{wh} in Clarity"
        );
    }
    for (sims, erp, oid, shipment_doc, invoice_doc) in [
        (&si, "intacct", &i_oid, &i_shipper, &i_invoice),
        (&ss, "sagepro", &s_oid, &s_invoice, &s_invoice),
    ] {
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
        assert_eq!(
            shipments.len(),
            1,
            "{erp}: one shipment of {oid}: {shipments:#?}"
        );
        assert_eq!(
            shipments[0].shipment_id,
            target[&(erp, "shipments", shipment_doc.clone())]
        );
        assert_eq!(target[&(erp, "invoices", invoice_doc.clone())], *oid);
        let order = sims.clarity.get_order(oid).await.expect("the order");
        let (refs, field) = if erp == "intacct" {
            (&order["erpReferences"]["intacct"], "invoiceDocId")
        } else {
            (&order["erpReferences"]["sagePro"], "invoiceNo")
        };
        assert_eq!(refs[field], invoice_doc.as_str(), "{erp}: {order}");
        assert!(
            order["status"]
                .as_str()
                .is_some_and(|s| s.contains("shipped")),
            "{erp}: {order}"
        );
    }
    drop(served);
}
