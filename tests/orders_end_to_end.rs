//! The order path, end to end over real HTTP: the Clarity simulator sends signed
//! `order.created` webhooks, workers map them and create sales orders in the
//! Intacct and Sage Pro simulators, exactly once — under faults and restarts too.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

async fn erp_orders(app: &TestApp, token: &str, pair: &str) -> Vec<Value> {
    app.call(
        "GET",
        &format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders"),
        Some(token),
        None,
        200,
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// The Clarity order id each ERP record came from.
fn reference(erp: &str, o: &Value) -> String {
    let v = match erp {
        "intacct" => o.get("REFERENCENO").or_else(|| o.get("referenceno")),
        _ => o.get("CustomerPO"),
    };
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

async fn wait_for_all(
    app: &TestApp,
    token: &str,
    pair: &str,
    erp: &str,
    ids: &[String],
    within: Duration,
) {
    app.eventually(
        &format!("{} orders in {erp}", ids.len()),
        within,
        || async {
            let held = erp_orders(app, token, pair).await;
            ids.iter()
                .all(|id| held.iter().any(|o| reference(erp, o) == *id))
        },
    )
    .await;
}

/// Every order's run has succeeded: the ERP may hold an order whose creating
/// call timed out on our side, and its run finishes only on the retry.
async fn wait_for_runs_succeeded(app: &TestApp, token: &str, pair: &str, count: usize) {
    app.eventually(
        &format!("{count} succeeded runs"),
        Duration::from_secs(60),
        || async {
            let runs = app
                .call(
                    "GET",
                    &format!("/api/v1/pairs/{pair}/runs"),
                    Some(token),
                    None,
                    200,
                )
                .await;
            let runs = runs.as_array().unwrap();
            runs.len() == count && runs.iter().all(|r| r["status"] == "succeeded")
        },
    )
    .await;
}

fn assert_exactly_once(held: &[Value], erp: &str, ids: &[String]) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for o in held {
        *counts.entry(reference(erp, o)).or_default() += 1;
    }
    for id in ids {
        assert_eq!(
            counts.get(id).copied().unwrap_or(0),
            1,
            "order {id} should be in {erp} exactly once: {counts:?}"
        );
    }
    assert_eq!(held.len(), ids.len(), "no extra records in {erp}");
}

async fn send_orders(
    app: &TestApp,
    token: &str,
    pair: &str,
    count: u32,
    payload: &str,
) -> Vec<String> {
    let r = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(token),
            Some(json!({"count": count, "payload": payload})),
            202,
        )
        .await;
    r["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The tenant's metered API calls equal the requests its simulators served
/// (failed, timed-out and rate-limited ones included): exact, not "at least".
async fn assert_calls_metered_exactly(app: &TestApp, token: &str, pair: &str) {
    let sandbox = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(token),
            None,
            200,
        )
        .await;
    let served: i64 = ["clarity", "intacct", "sagepro"]
        .iter()
        .map(|s| sandbox["calls_received"][s].as_i64().unwrap())
        .sum();
    let usage = app
        .call("GET", "/api/v1/usage", Some(token), None, 200)
        .await;
    assert!(served > 0);
    assert_eq!(
        usage["api_calls"].as_i64().unwrap(),
        served,
        "metered calls vs calls the simulators served: {usage} {}",
        sandbox["calls_received"]
    );
}

async fn orders_arrive_exactly_once(erp: &str, payload: &str) {
    let app = spawn_app().await;
    let token = app.tenant("Orders Co").await;
    let pair = app.sandbox_pair(&token, erp).await;
    let ids = send_orders(&app, &token, &pair, 8, payload).await;
    assert_eq!(ids.len(), 8);
    wait_for_all(&app, &token, &pair, erp, &ids, Duration::from_secs(60)).await;
    wait_for_runs_succeeded(&app, &token, &pair, ids.len()).await;
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs"),
            Some(&token),
            None,
            200,
        )
        .await;
    for r in runs.as_array().unwrap() {
        assert_eq!(r["status"], "succeeded");
        assert!(ids.contains(&r["source_id"].as_str().unwrap().to_owned()));
        assert!(r["target_id"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(r["attempts"].as_i64().unwrap() >= 1);
    }
    assert_exactly_once(&erp_orders(&app, &token, &pair).await, erp, &ids);
    let usage = app
        .call("GET", "/api/v1/usage", Some(&token), None, 200)
        .await;
    assert_eq!(
        usage["transactions"], 8,
        "each order is one transaction: {usage}"
    );
    assert_calls_metered_exactly(&app, &token, &pair).await;
    assert_queue_swept(&app).await;
    app.stop().await;
}

/// The queue lets go of finished jobs: its store does not grow with every
/// order. (The last acknowledgement may trail the last run by a moment.)
async fn assert_queue_swept(app: &TestApp) {
    let queue = &app.state.queue;
    let mut held = u64::MAX;
    for _ in 0..50 {
        queue.sweep_finished().await.expect("sweep the queue");
        held = queue.held().await.expect("count the queue");
        if held == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the queue still holds {held} jobs after every order was delivered");
}

#[tokio::test]
async fn orders_reach_intacct_exactly_once() {
    orders_arrive_exactly_once("intacct", "full").await;
}

#[tokio::test]
async fn orders_reach_sage_pro_exactly_once() {
    orders_arrive_exactly_once("sagepro", "full").await;
}

#[tokio::test]
async fn orders_announced_by_id_only_are_fetched_from_clarity() {
    orders_arrive_exactly_once("sagepro", "id").await;
}

#[tokio::test]
async fn under_errors_and_timeouts_every_order_still_arrives_exactly_once() {
    for erp in ["intacct", "sagepro"] {
        let app = spawn_app().await;
        let token = app.tenant("Faulty Co").await;
        let pair = app.sandbox_pair(&token, erp).await;
        app.call(
            "PUT",
            &format!("/api/v1/pairs/{pair}/sandbox/faults"),
            Some(&token),
            Some(json!({"system": erp, "error_rate": 0.3, "timeout_rate": 0.1, "hang_ms": 2500})),
            200,
        )
        .await;
        let ids = send_orders(&app, &token, &pair, 10, "full").await;
        wait_for_all(&app, &token, &pair, erp, &ids, Duration::from_secs(120)).await;
        wait_for_runs_succeeded(&app, &token, &pair, ids.len()).await;
        assert_exactly_once(&erp_orders(&app, &token, &pair).await, erp, &ids);
        // The premise: faults fired, and orders got through by retrying.
        let runs = app
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair}/runs?limit=100"),
                Some(&token),
                None,
                200,
            )
            .await;
        let retried = runs
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["attempts"].as_i64().unwrap_or(0) > 1)
            .count();
        assert!(
            retried > 0,
            "{erp}: no order needed a retry under 30 % errors: {runs}"
        );
        let usage = app
            .call("GET", "/api/v1/usage", Some(&token), None, 200)
            .await;
        assert_eq!(usage["transactions"], 10, "{usage}");
        assert_calls_metered_exactly(&app, &token, &pair).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn an_unknown_order_becomes_a_dead_letter_with_the_reason() {
    let app = spawn_app().await;
    let token = app.tenant("Dead Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    // An order whose customer the ERP does not know: a permanent validation failure.
    let order = json!({
        "orderId": "CO-DEAD-1", "customerId": "NOBODY", "orderDate": "2026-11-20T10:00:00Z", "status": "processing",
        "currency": "USD", "subtotalAmount": "10.00", "discountAmount": "0.00", "shippingAmount": "0.00",
        "taxAmount": "0.00", "totalAmount": "10.00",
        "shippingAddress": {"firstName": "A", "lastName": "B", "line1": "1 Main St", "city": "Austin", "region": "TX", "postalCode": "78701", "country": "US"},
        "billingAddress": {"firstName": "A", "lastName": "B", "line1": "1 Main St", "city": "Austin", "region": "TX", "postalCode": "78701", "country": "US"},
        "lineItems": [{"lineId": "1", "sku": "SKU-1001", "name": "x", "quantity": 1, "unitPrice": "10.00", "tax": "0.00", "discount": "0.00", "lineTotal": "10.00"}],
        "paymentInfo": {"method": "credit_card", "status": "captured", "amount": "10.00"},
        "couponCode": null
    });
    app.deliver_order(&token, &pair, &order).await;
    app.eventually("a dead letter", Duration::from_secs(30), || async {
        let dl = app
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair}/dead-letters"),
                Some(&token),
                None,
                200,
            )
            .await;
        dl.as_array().unwrap().len() == 1
    })
    .await;
    let dl = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/dead-letters"),
            Some(&token),
            None,
            200,
        )
        .await;
    let dl = &dl[0];
    assert_eq!(dl["source_id"], "CO-DEAD-1");
    assert_eq!(dl["field"], "CustomerNo", "{dl}");
    assert!(dl["reason"].as_str().unwrap().contains("Customer"), "{dl}");
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs?status=dead"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert!(erp_orders(&app, &token, &pair).await.is_empty());
    // Replay is accepted (the data is still wrong, so it dead-letters again).
    app.call(
        "POST",
        &format!(
            "/api/v1/pairs/{pair}/dead-letters/{}/replay",
            dl["id"].as_str().unwrap()
        ),
        Some(&token),
        None,
        202,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn losing_the_queue_loses_no_order() {
    let app = spawn_app().await;
    let token = app.tenant("Flushed Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    // A slow ERP keeps orders waiting in the queue when it is wiped.
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "intacct", "latency_ms": 200})),
        200,
    )
    .await;
    let ids = send_orders(&app, &token, &pair, 10, "full").await;
    // Wipe the queue again and again while the webhooks come in. The
    // premise, asserted: it held jobs when it was wiped, while orders were
    // still on their way to the ERP.
    let mut first_drop: Option<(u64, usize)> = None;
    for wipe in 0..25 {
        let arrived = erp_orders(&app, &token, &pair).await.len();
        let dropped = app.state.queue.purge().await.expect("purge the queue");
        if dropped > 0 && first_drop.is_none() {
            first_drop = Some((dropped, arrived));
        }
        if first_drop.is_some() && wipe >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, arrived) = first_drop.expect("the queue held jobs when it was purged");
    assert!(
        arrived < ids.len(),
        "orders were still on their way when the queue was purged ({arrived} had arrived)"
    );
    wait_for_all(
        &app,
        &token,
        &pair,
        "intacct",
        &ids,
        Duration::from_secs(90),
    )
    .await;
    assert_exactly_once(&erp_orders(&app, &token, &pair).await, "intacct", &ids);
    app.stop().await;
}
