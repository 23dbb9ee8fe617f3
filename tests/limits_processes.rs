//! Outbound limits hold across worker processes: with a server and a second
//! `connect worker` sharing one Redis, the Intacct simulator never serves more
//! than the 2 concurrent requests per company Sage allows, while both
//! processes take work. Needs Redis (CONNECT_TEST_REDIS_URL, default
//! 127.0.0.1:6379) on either database backend; fails loudly without it.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::test]
async fn two_worker_processes_keep_to_intacct_two_concurrent_requests() {
    let redis =
        std::env::var("CONNECT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url::Url::parse(&redis)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(6379))))
        .unwrap_or_else(|| panic!("CONNECT_TEST_REDIS_URL {redis} is not a Redis URL"));
    tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("Redis at {redis} is required for this test: {e}"));
    let namespace = format!("test-{}", uuid::Uuid::now_v7().simple());
    let (env, _dir) = common::fresh_env(&[
        ("CONNECT_REDIS_URL", &redis),
        ("CONNECT_QUEUE_NAMESPACE", &namespace),
    ])
    .await;
    let (mut server, api) =
        common::launch(&env, "warn", common::Output::Null, Stdio::inherit()).await;
    api.wait_ready().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_connect"))
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "connect=info")
        .env("CONNECT_LOG_FORMAT", "json")
        .envs(&env)
        // A worker serves no simulators: it reaches them where users do.
        .env("CONNECT_PUBLIC_URL", &api.base)
        .stdout(log.reopen().unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("connect worker starts");

    let token = api.tenant("Two Workers Co").await;
    let pair = api.sandbox_pair(&token, "intacct").await;
    // Slow answers, and a simulator that would accept far more at once than
    // Sage does: whatever holds the line at 2 is our limiter.
    api.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "intacct", "latency_ms": 250, "concurrency_limit": 50})),
        200,
    )
    .await;
    let sent = api
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(&token),
            Some(json!({"count": 16})),
            202,
        )
        .await;
    let ids: Vec<String> = sent["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let runs_path = format!("/api/v1/pairs/{pair}/runs?status=succeeded");
    let start = Instant::now();
    loop {
        let runs = api.call("GET", &runs_path, Some(&token), None, 200).await;
        if runs.as_array().map_or(0, Vec::len) >= ids.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "orders did not all arrive: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let info = api
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(&token),
            None,
            200,
        )
        .await;
    let peak = info["peak_in_flight"]["intacct"].as_u64().unwrap();
    let held: Vec<Value> = api
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders"),
            Some(&token),
            None,
            200,
        )
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    worker.kill().ok();
    let _ = worker.wait();
    server.kill().ok();
    let _ = server.wait();

    assert_eq!(
        peak, 2,
        "at most 2 at once, and the limit was reached: {info}"
    );
    // Every order once in the ERP.
    assert_eq!(held.len(), ids.len(), "{held:?}");
    // The second process did its share: its log shows runs of this pair.
    let worker_log = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        worker_log
            .lines()
            .any(|l| l.contains(&pair) && l.contains("order synced")),
        "the worker process ran none of the orders:\n{worker_log}"
    );
}
