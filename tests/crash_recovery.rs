//! Kill the server process (SIGKILL) while orders are in flight, restart it on
//! the same data: every acknowledged order still arrives exactly once.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn launch(env: &HashMap<String, String>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_connect"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("connect binary starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server at {base} did not become ready");
}

async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    assert!(
        resp.status().is_success(),
        "{method} {url}: {}",
        resp.status()
    );
    resp.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn orders_survive_a_killed_server() {
    let port = free_port();
    let (mut env, _dir) = common::fresh_env(&[]).await;
    env.insert("CONNECT_BIND".into(), format!("127.0.0.1:{port}"));
    let base = format!("http://127.0.0.1:{port}");
    connect_jobs::connectors::http::install_crypto_provider();
    let client = reqwest::Client::new();

    let mut child = launch(&env);
    wait_ready(&client, &base).await;
    call(
        &client,
        "POST",
        &format!("{base}/api/v1/signup"),
        None,
        Some(
            json!({"company": "Crash Co", "email": "crash@co.test", "password": common::PASSWORD}),
        ),
    )
    .await;
    let t = call(
        &client,
        "POST",
        &format!("{base}/api/v1/auth/token"),
        None,
        Some(json!({"email": "crash@co.test", "password": common::PASSWORD})),
    )
    .await;
    let token = t["token"].as_str().unwrap().to_owned();
    let p = call(
        &client,
        "POST",
        &format!("{base}/api/v1/pairs"),
        Some(&token),
        Some(json!({"name": "crash", "erp": "sagepro", "environment": "sandbox"})),
    )
    .await;
    let pair = p["id"].as_str().unwrap().to_owned();
    // Slow the ERP down so that work is in flight when the process dies.
    call(
        &client,
        "PUT",
        &format!("{base}/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "sagepro", "latency_ms": 300})),
    )
    .await;
    let r = call(
        &client,
        "POST",
        &format!("{base}/api/v1/pairs/{pair}/sandbox/orders"),
        Some(&token),
        Some(json!({"count": 12})),
    )
    .await;
    let ids: Vec<String> = r["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let mut child = launch(&env);
    wait_ready(&client, &base).await;
    let url = format!("{base}/api/v1/pairs/{pair}/sandbox/erp/sales-orders");
    let start = Instant::now();
    let held = loop {
        let held = call(&client, "GET", &url, Some(&token), None).await;
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
