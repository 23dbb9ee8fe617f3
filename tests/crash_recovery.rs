//! Kill the server process (SIGKILL) while orders are in flight, restart it on
//! the same data: every acknowledged order still arrives exactly once.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Output;
use serde_json::{Value, json};

#[tokio::test]
async fn orders_survive_a_killed_server() {
    let (mut env, _dir) = common::fresh_env(&[]).await;
    let (mut child, api) = common::launch(&env, "warn", Output::Null, Stdio::inherit()).await;
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
    child.kill().expect("SIGKILL");
    assert!(
        sandbox["calls_received"]["sagepro"].as_u64().unwrap_or(0) > 0,
        "no call had reached the ERP when the server was killed: {sandbox}"
    );
    assert!(
        arrived < ids.len(),
        "every order had arrived before the kill ({arrived}): nothing was in flight"
    );
    let _ = child.wait();

    let (mut child, _) = common::launch(&env, "warn", Output::Null, Stdio::inherit()).await;
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
    child.kill().ok();
    let _ = child.wait();
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
    let (mut child, api) = common::launch(&env, "warn", Output::Null, Stdio::inherit()).await;
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
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let (mut child, _) = common::launch(&env, "warn", Output::Null, Stdio::inherit()).await;
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
    child.kill().ok();
    let _ = child.wait();
}
