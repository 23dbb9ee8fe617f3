//! A pair's flows over the API: which run, their schedules and rules, and
//! that a flow switched off does not run.

mod common;
#[path = "flows/customers.rs"]
mod customers;
#[path = "flows/documents.rs"]
mod documents;
#[path = "flows/faults.rs"]
mod faults;
#[path = "flows/faults_polled.rs"]
mod faults_polled;
#[path = "flows/money.rs"]
mod money;

use std::time::Duration;

use common::sims::Sims;
use common::{TestApp, WebSession, sample_order, spawn_app};
use rust_decimal::Decimal;
use serde_json::{Value, json};

async fn flows(app: &TestApp, token: &str, pair: &str) -> Vec<Value> {
    app.call(
        "GET",
        &format!("/api/v1/pairs/{pair}/flows"),
        Some(token),
        None,
        200,
    )
    .await
    .as_array()
    .cloned()
    .unwrap()
}

fn flow<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter().find(|f| f["flow"] == name).unwrap()
}

#[tokio::test]
async fn a_new_pair_lists_every_flow_with_orders_on() {
    let app = spawn_app().await;
    let token = app.tenant("Flows Co").await;
    for erp in ["intacct", "sagepro"] {
        let pair = app.sandbox_pair(&token, erp).await;
        let all = flows(&app, &token, &pair).await;
        let names: Vec<&str> = all.iter().map(|f| f["flow"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "orders",
                "customers",
                "products",
                "inventory",
                "shipments",
                "payments",
                "returns",
                "invoices"
            ]
        );
        for f in &all {
            let name = f["flow"].as_str().unwrap();
            assert_eq!(
                f["enabled"],
                name == "orders",
                "{erp} {name} starts {}",
                f["enabled"]
            );
            assert!(
                f["description"].as_str().is_some_and(|d| d.ends_with('.')),
                "{f}"
            );
            assert_eq!(f["counts_24h"], json!({"succeeded": 0, "failed": 0}));
            if f["available"] == false {
                assert!(f["reason"].as_str().is_some_and(|r| !r.is_empty()), "{f}");
            }
        }
        let orders = flow(&all, "orders");
        assert_eq!(orders["available"], true);
        assert_eq!(orders["trigger"], "webhook");
        assert_eq!(flow(&all, "inventory")["trigger"], "poll");
        assert_eq!(flow(&all, "customers")["trigger"], "webhook_and_poll");
        assert_eq!(flow(&all, "customers")["polls"], true);
        assert_eq!(orders["polls"], false);
        assert_eq!(flow(&all, "inventory")["interval_s"], 300);
        assert_eq!(flow(&all, "customers")["conflict_rule"], "newest_wins");
    }
    app.stop().await;
}

#[tokio::test]
async fn payments_cannot_be_turned_on_for_sage_pro_and_bad_settings_name_the_field() {
    let app = spawn_app().await;
    let token = app.tenant("Rules Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let payments = flow(&flows(&app, &token, &pair).await, "payments").clone();
    assert_eq!(payments["available"], false);
    assert!(
        payments["reason"]
            .as_str()
            .unwrap()
            .contains("no payment endpoint"),
        "{payments}"
    );
    let put = |flow: &str, body: Value, status: u16| {
        let (app, token, pair) = (&app, &token, &pair);
        let path = format!("/api/v1/pairs/{pair}/flows/{flow}");
        async move {
            app.call("PUT", &path, Some(token), Some(body), status)
                .await
        }
    };
    let refused = put("payments", json!({"enabled": true}), 422).await;
    assert_eq!(refused["error"]["field"], "enabled");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no payment endpoint")
    );
    let e = put("inventory", json!({"interval_s": 30}), 422).await;
    assert_eq!(e["error"]["field"], "interval_s");
    let e = put("orders", json!({"interval_s": 600}), 422).await;
    assert_eq!(e["error"]["field"], "interval_s");
    let e = put("customers", json!({"conflict_rule": "loudest_wins"}), 422).await;
    assert_eq!(e["error"]["field"], "conflict_rule");
    put("shipping", json!({"enabled": true}), 404).await;
    put("orders", json!({"enabled": true, "turbo": 1}), 422).await;
    // A rule and a schedule are kept, and said back.
    let customers = put("customers", json!({"conflict_rule": "erp_wins"}), 200).await;
    assert_eq!(customers["conflict_rule"], "erp_wins");
    let inventory = put("inventory", json!({"interval_s": 120}), 200).await;
    assert_eq!(inventory["interval_s"], 120);
    let all = flows(&app, &token, &pair).await;
    assert_eq!(flow(&all, "customers")["conflict_rule"], "erp_wins");
    assert_eq!(flow(&all, "inventory")["interval_s"], 120);
    assert_eq!(flow(&all, "inventory")["enabled"], false);
    // Each change is in the tenant's audit log.
    let audit = app
        .call("GET", "/api/v1/audit", Some(&token), None, 200)
        .await;
    let changes = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "flow.updated")
        .count();
    assert_eq!(changes, 2, "{audit}");
    app.stop().await;
}

#[tokio::test]
async fn orders_switched_off_do_not_run_and_run_again_when_on() {
    let app = spawn_app().await;
    let token = app.tenant("Switch Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let off = app
        .call(
            "PUT",
            &format!("/api/v1/pairs/{pair}/flows/orders"),
            Some(&token),
            Some(json!({"enabled": false})),
            200,
        )
        .await;
    assert_eq!(off["enabled"], false);
    let order = |id: &str| sample_order(id, "USD", &[("SKU-1001", "Classic Widget", 1, "12.50")]);
    app.deliver_order(&token, &pair, &order("CO-OFF-1")).await;
    // The event is taken and set aside: no run, nothing in the ERP.
    app.eventually("the event is handled", Duration::from_secs(30), || async {
        let p = app
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair}"),
                Some(&token),
                None,
                200,
            )
            .await;
        p["health"]["backlog"] == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs, json!([]), "a flow that is off does not run");
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/flows/orders"),
        Some(&token),
        Some(json!({"enabled": true})),
        200,
    )
    .await;
    app.deliver_order(&token, &pair, &order("CO-ON-1")).await;
    let run = app.run_of(&token, &pair, "CO-ON-1", "succeeded").await;
    assert_eq!(run["flow"], "orders");
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    app.stop().await;
}

/// Clarity's on-hand level of `sku` at `location`; `None` while Clarity
/// turns the test away (its 120 requests a minute are shared with the
/// product's writes).
async fn clarity_level(sims: &Sims, sku: &str, location: &str) -> Option<Decimal> {
    let levels = sims.clarity.get_inventory(sku).await.ok()?;
    levels
        .locations
        .iter()
        .find(|l| l.location_id == location)
        .map(|l| l.quantity_on_hand)
}

/// Intacct's stock rows of `sku`: warehouse, on hand, on hold.
async fn intacct_stock(sims: &Sims, sku: &str) -> Vec<(String, Decimal, Decimal)> {
    sims.intacct
        .inventory_levels(&[sku.to_owned()], &["ONHAND", "ONHOLD"])
        .await
        .expect("Intacct stock")
        .into_iter()
        .map(|l| (l.warehouse_id, l.quantities[0].1, l.quantities[1].1))
        .collect()
}

/// The pair's runs of one flow, newest first (up to 100).
async fn runs_of(app: &TestApp, token: &str, pair: &str, flow: &str) -> Vec<Value> {
    app.call(
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

/// Turns a flow on (no wait: for flows that run on webhooks).
async fn turn_on(app: &TestApp, token: &str, pair: &str, flow: &str) {
    let on = app
        .call(
            "PUT",
            &format!("/api/v1/pairs/{pair}/flows/{flow}"),
            Some(token),
            Some(json!({"enabled": true})),
            200,
        )
        .await;
    assert_eq!(on["enabled"], true, "{on}");
}

async fn inventory_runs(app: &TestApp, token: &str, pair: &str) -> Vec<Value> {
    runs_of(app, token, pair, "inventory").await
}

/// Turns the inventory flow on and waits for its first poll, which takes
/// the ERP's levels as they stand as its starting point.
async fn inventory_on(app: &TestApp, token: &str, pair: &str, body: Value) -> Value {
    let on = app
        .call(
            "PUT",
            &format!("/api/v1/pairs/{pair}/flows/inventory"),
            Some(token),
            Some(body),
            200,
        )
        .await;
    assert_eq!(on["enabled"], true);
    assert!(on["next_run_at"].as_i64().is_some(), "{on}");
    let path = format!("/api/v1/pairs/{pair}/flows/inventory");
    app.eventually("the first poll", Duration::from_secs(30), || async {
        let f = app.call("GET", &path, Some(token), None, 200).await;
        f["cursor"]["modified_ms"].as_i64().is_some() && f["last_run_at"].is_null()
    })
    .await;
    let flow = app.call("GET", &path, Some(token), None, 200).await;
    assert!(flow["last_poll_at"].is_i64(), "the poll is shown: {flow}");
    assert!(
        inventory_runs(app, token, pair).await.is_empty(),
        "the first poll sends nothing"
    );
    flow
}

#[tokio::test]
async fn a_stock_move_in_intacct_reaches_clarity_once_and_only_the_row_that_moved() {
    let app = spawn_app().await;
    let token = app.tenant("Stock Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    let sku = "SKU-1001";
    let before = intacct_stock(&sims, sku).await;
    assert_eq!(before.len(), 3, "{before:?}");
    inventory_on(&app, &token, &pair, json!({"enabled": true})).await;

    // A sales order written to Intacct puts stock on hold: the row changed,
    // and the next poll sends that one row's on-hand level.
    app.deliver_order(
        &token,
        &pair,
        &sample_order("CO-STOCK-1", "USD", &[(sku, "Classic Widget", 3, "12.50")]),
    )
    .await;
    app.run_of(&token, &pair, "CO-STOCK-1", "succeeded").await;
    let after = intacct_stock(&sims, sku).await;
    let (moved_wh, moved, _) = after
        .iter()
        .find(|(w, _, hold)| before.iter().any(|(bw, _, bh)| bw == w && bh != hold))
        .cloned()
        .expect("the order moved Intacct's stock");
    let run = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/flows/inventory/run"),
            Some(&token),
            None,
            202,
        )
        .await;
    assert!(run["poll_id"].is_string(), "{run}");
    let source = format!("{sku}@{moved_wh}");
    let synced = app.run_of(&token, &pair, &source, "succeeded").await;
    assert_eq!(synced["target_id"], source, "{synced}");
    app.eventually(
        "the new level in Clarity",
        Duration::from_secs(30),
        || async { clarity_level(&sims, sku, &moved_wh).await == Some(moved) },
    )
    .await;
    // Polled again, the same change is not sent twice.
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/inventory/run"),
        Some(&token),
        None,
        202,
    )
    .await;
    app.eventually("the second poll", Duration::from_secs(30), || async {
        let f = app
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair}/flows/inventory"),
                Some(&token),
                None,
                200,
            )
            .await;
        f["counts_24h"]["succeeded"] == 1
            && app
                .call(
                    "GET",
                    &format!("/api/v1/pairs/{pair}"),
                    Some(&token),
                    None,
                    200,
                )
                .await["health"]["backlog"]
                == 0
    })
    .await;
    let runs = inventory_runs(&app, &token, &pair).await;
    assert_eq!(runs.len(), 1, "one row moved, one run: {runs:?}");
    assert_eq!(runs[0]["flow"], "inventory");
    // Runs filter by flow; every run names its flow.
    let orders = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs?flow=orders"),
            Some(&token),
            None,
            200,
        )
        .await;
    let orders = orders.as_array().unwrap();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["source_id"], "CO-STOCK-1");
    let all = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let bad = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs?flow=shipping"),
            Some(&token),
            None,
            422,
        )
        .await;
    assert_eq!(bad["error"]["field"], "flow");
    app.stop().await;
}

#[tokio::test]
async fn a_sage_pro_count_reaches_clarity_and_polls_do_not_overlap() {
    let app = spawn_app().await;
    let token = app.tenant("Count Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    inventory_on(
        &app,
        &token,
        &pair,
        json!({"enabled": true, "interval_s": 60}),
    )
    .await;
    let sku = "SKU-1002";
    let row = sims
        .sagepro
        .get_inventory(sku, "WEST")
        .await
        .expect("Sage Pro stock");
    // A physical count in Sage Pro, through its own API.
    let counted = row.qty_on_hand + Decimal::from(41);
    sims.sagepro
        .update_inventory(
            "count-1",
            sku,
            "WEST",
            &connect_jobs::connectors::sagepro::wire::InventoryAdjustment {
                qty_on_hand: Some(counted),
                reason: "count".into(),
                reference: "CC-1".into(),
            },
            row.row_version,
        )
        .await
        .expect("count");
    // Asked twice at once: one poll is made, the other is told one is on its way.
    let path = format!("/api/v1/pairs/{pair}/flows/inventory/run");
    let (a, b) = tokio::join!(
        app.call("POST", &path, Some(&token), None, 202),
        app.call("POST", &path, Some(&token), None, 202)
    );
    assert_eq!(
        [&a, &b].iter().filter(|r| r["poll_id"].is_string()).count(),
        1,
        "{a} {b}"
    );
    app.eventually("the count in Clarity", Duration::from_secs(60), || async {
        clarity_level(&sims, sku, "WH2").await == Some(counted)
    })
    .await;
    let run = app
        .run_of(&token, &pair, &format!("{sku}@WEST"), "succeeded")
        .await;
    assert_eq!(run["target_id"], format!("{sku}@WH2"));
    app.stop().await;
}

#[tokio::test]
async fn the_pair_page_lists_the_flows_and_switches_them() {
    let app = spawn_app().await;
    let (email, token) = app.owner("Page Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let web = WebSession::sign_in(&app, &email).await;
    let page = web.get(&app, &format!("/pairs/{pair}")).await.1;
    assert!(
        page.contains("id=\"flows\""),
        "the pair page has a flows panel"
    );
    for flow in [
        "orders",
        "customers",
        "products",
        "inventory",
        "shipments",
        "payments",
        "returns",
        "invoices",
    ] {
        assert!(
            page.contains(&format!("id=\"flow-{flow}\"")),
            "{flow} is listed"
        );
    }
    assert!(
        page.contains("no payment endpoint"),
        "the page says why payments cannot run"
    );
    // Turned on from the page, with its interval.
    let (status, _) = web
        .post(
            &app,
            &format!("/pairs/{pair}/flows/inventory"),
            &[("enabled", "on"), ("interval_s", "600")],
        )
        .await;
    assert_eq!(status, 303);
    let f = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/flows/inventory"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(
        (f["enabled"].as_bool(), f["interval_s"].as_i64()),
        (Some(true), Some(600))
    );
    let page = web
        .get(&app, &format!("/pairs/{pair}?flow=inventory&flow_state=on"))
        .await
        .1;
    assert!(
        page.contains("The inventory flow is on."),
        "the page says so"
    );
    assert!(page.contains("Poll now"));
    // A bad interval is refused on the page, with the reason, and changes nothing.
    let (status, page) = web
        .post(
            &app,
            &format!("/pairs/{pair}/flows/inventory"),
            &[("enabled", "on"), ("interval_s", "5")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("was not changed") && page.contains("60 to 86400 seconds"),
        "{}",
        &page[..page.len().min(400)]
    );
    let f = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/flows/inventory"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(f["interval_s"], 600);
    // Runs filtered by flow.
    let page = web
        .get(&app, &format!("/pairs/{pair}?runs=inventory"))
        .await
        .1;
    assert!(
        page.contains("of the inventory flow"),
        "the runs are one flow's"
    );
    app.stop().await;
}

/// Clarity's product of `sku`, if Clarity answers now.
async fn clarity_product(
    sims: &Sims,
    sku: &str,
) -> Option<connect_jobs::connectors::clarity::wire::Product> {
    sims.clarity.get_product(sku).await.ok()
}

/// Turns a polling flow on and waits for its first poll (the starting point).
async fn polling_on(app: &TestApp, token: &str, pair: &str, flow: &str) {
    let path = format!("/api/v1/pairs/{pair}/flows/{flow}");
    let on = app
        .call(
            "PUT",
            &path,
            Some(token),
            Some(json!({"enabled": true})),
            200,
        )
        .await;
    assert_eq!(on["enabled"], true, "{on}");
    app.eventually(
        &format!("the first {flow} poll"),
        Duration::from_secs(30),
        || async {
            // A source with no records yet has no modified time to keep.
            app.call("GET", &path, Some(token), None, 200).await["last_poll_at"].is_i64()
        },
    )
    .await;
}

#[tokio::test]
async fn a_price_changed_in_intacct_reaches_the_clarity_product() {
    let app = spawn_app().await;
    let token = app.tenant("Price Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "products").await;
    let sku = "SKU-1003";
    let mut item = serde_json::Map::new();
    item.insert("ITEMID".into(), json!(sku));
    item.insert("BASEPRICE".into(), json!("77.25"));
    sims.intacct
        .update(
            "price-1",
            connect_jobs::connectors::intacct::Object::Item,
            &item,
        )
        .await
        .expect("a new price in Intacct");
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/products/run"),
        Some(&token),
        None,
        202,
    )
    .await;
    let run = app.run_of(&token, &pair, sku, "succeeded").await;
    assert_eq!(run["flow"], "products");
    app.eventually(
        "the new price in Clarity",
        Duration::from_secs(30),
        || async {
            clarity_product(&sims, sku)
                .await
                .is_some_and(|p| p.price == Decimal::new(7725, 2))
        },
    )
    .await;
    let p = clarity_product(&sims, sku).await.unwrap();
    assert_eq!(
        run["target_id"], p.product_id,
        "the run names the Clarity product"
    );
    // One change, one run: the other 199 items were not written.
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs?flow=products"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    app.stop().await;
}

#[tokio::test]
async fn a_sage_pro_item_taken_off_the_web_turns_inactive_in_clarity() {
    let app = spawn_app().await;
    let token = app.tenant("Web Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "products").await;
    let sku = "SKU-1004";
    let before = sims
        .sagepro
        .get_product(sku)
        .await
        .expect("the Sage Pro item");
    sims.sagepro
        .update_product(
            "web-off-1",
            sku,
            &connect_jobs::connectors::sagepro::wire::ProductUpdate {
                web_enabled: Some(false),
                price: Some(Decimal::new(1999, 2)),
                ..Default::default()
            },
            Some(before.row_version),
        )
        .await
        .expect("the item taken off the web");
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/products/run"),
        Some(&token),
        None,
        202,
    )
    .await;
    app.run_of(&token, &pair, sku, "succeeded").await;
    app.eventually(
        "the item inactive in Clarity",
        Duration::from_secs(30),
        || async {
            clarity_product(&sims, sku)
                .await
                .is_some_and(|p| p.status == "inactive" && p.price == Decimal::new(1999, 2))
        },
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_poll_that_fails_is_retried_and_its_change_arrives_once() {
    let app = spawn_app().await;
    let token = app.tenant("Flaky Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "products").await;
    let sku = "SKU-1005";
    let mut item = serde_json::Map::new();
    item.insert("ITEMID".into(), json!(sku));
    item.insert("BASEPRICE".into(), json!("55.55"));
    sims.intacct
        .update(
            "price-2",
            connect_jobs::connectors::intacct::Object::Item,
            &item,
        )
        .await
        .expect("a new price in Intacct");
    // Intacct fails the next calls: the poll fails, is retried, and gets through.
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "intacct", "script": [{"fault": "server_error", "count": 2}]})),
        200,
    )
    .await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/products/run"),
        Some(&token),
        None,
        202,
    )
    .await;
    let poll = app.run_of(&token, &pair, "poll", "succeeded").await;
    assert!(
        poll["attempts"].as_i64().unwrap() >= 2,
        "the poll failed first: {poll}"
    );
    assert_eq!(poll["flow"], "products");
    app.run_of(&token, &pair, sku, "succeeded").await;
    app.eventually("the price in Clarity", Duration::from_secs(30), || async {
        clarity_product(&sims, sku)
            .await
            .is_some_and(|p| p.price == Decimal::new(5555, 2))
    })
    .await;
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs?flow=products"),
            Some(&token),
            None,
            200,
        )
        .await;
    let of_item = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source_id"] == sku)
        .count();
    assert_eq!(of_item, 1, "the change is written once: {runs}");
    app.stop().await;
}
