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
