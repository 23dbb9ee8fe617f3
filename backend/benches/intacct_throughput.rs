//! Sales orders per second through the Intacct connector against the Intacct
//! simulator, with the simulator set to Intacct's usual service level
//! (2 concurrent requests per company) and 250 ms per request: one function
//! per request against 10 functions per request. The arithmetic ceiling is
//! 2 / 0.25 s = 8 requests/s, so 8 orders/s single and 80 orders/s batched.
//!
//! `cargo bench -p connect --bench intacct_throughput`. The router runs in
//! process on 127.0.0.1:0 over a SQLite file, as in tests/contract_intacct.rs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use connect::db::Db;
use connect::sandbox::intacct::{self, SimConfig};
use connect::sandbox::{FaultRegistry, FaultSettings, SandboxCredentials, SandboxState, SimSystem};
use connect_jobs::connectors::OpenGate;
use connect_jobs::connectors::intacct::{
    ApiFunction, BatchMode, IntacctClient, IntacctConfig, SoTransaction,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use serde_json::json;

const ORDERS: usize = 40;
const PER_REQUEST: usize = 10;

struct Bench {
    client: IntacctClient,
    next: AtomicUsize,
    _dir: tempfile::TempDir,
}

async fn setup() -> Bench {
    connect_jobs::connectors::http::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(&format!("sqlite://{}/b.db", dir.path().display()))
        .await
        .expect("database");
    db.migrate().await.expect("migrations");
    let (tenant_id, pair_id, now) = ("tnt_bench", "pair_bench", connect::db::now_ms());
    let mut tx = db.begin_write().await.expect("tx");
    sqlx::query("INSERT INTO tenants (id, name, plan_id, status, created_at) VALUES ($1, 'Bench', 'trial', 'active', $2)")
        .bind(tenant_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .expect("tenant");
    sqlx::query(
        "INSERT INTO pairs (id, tenant_id, name, erp, environment, status, created_at, updated_at) \
         VALUES ($1, $2, 'Bench', 'intacct', 'sandbox', 'active', $3, $3)",
    )
    .bind(pair_id)
    .bind(tenant_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("pair");
    let creds = SandboxCredentials::generate(pair_id, tenant_id);
    creds.insert(&mut tx).await.expect("credentials");
    intacct::seed(&mut tx, pair_id).await.expect("seed");
    tx.commit().await.expect("commit");

    let faults = Arc::new(FaultRegistry::new());
    faults
        .set(
            &db,
            pair_id,
            SimSystem::Intacct,
            FaultSettings {
                concurrency_limit: Some(2),
                latency_ms: 250,
                ..FaultSettings::default()
            },
        )
        .await
        .expect("faults");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = SandboxState {
        db,
        faults,
        http: reqwest::Client::new(),
        self_url: base.clone().into(),
        memo: Default::default(),
    };
    let app = axum::Router::new().nest(
        "/sandbox/intacct",
        intacct::router_with(state, SimConfig::default()),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let config = IntacctConfig {
        endpoint_url: format!("{base}/sandbox/intacct/{pair_id}/ia/xml/xmlgw.phtml"),
        sender_id: creds.intacct_sender_id.clone(),
        sender_password: SecretString::from(creds.intacct_sender_password.clone()),
        company_id: creds.intacct_company_id.clone(),
        user_id: creds.intacct_user_id.clone(),
        user_password: SecretString::from(creds.intacct_user_password.clone()),
        entity_id: None,
    };
    let http = connect_jobs::connectors::http::client(Default::default());
    let client = IntacctClient::new(config, http, Arc::new(OpenGate));
    client.test_connection().await.expect("session");
    Bench {
        client,
        next: AtomicUsize::new(0),
        _dir: dir,
    }
}

impl Bench {
    /// The next order with a number no earlier iteration used.
    fn order(&self) -> (String, SoTransaction) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let reference = format!("CO-B{n}");
        let order = serde_json::from_value(json!({
            "transactiontype": "Sales Order",
            "datecreated": {"year": "2024", "month": "06", "day": "01"},
            "customerid": "CUS-5001", "documentno": reference, "referenceno": reference,
            "termname": "Net 30", "currency": "USD",
            "sotransitems": [{"itemid": "SKU-1001", "quantity": "2", "price": "19.99",
                              "warehouseid": "WH1", "locationid": "US-EAST"}]
        }))
        .expect("order");
        (format!("bench-{reference}"), order)
    }

    async fn single(&self) {
        let calls = (0..ORDERS).map(|_| {
            let (id, order) = self.order();
            let client = self.client.clone();
            async move { client.create_sales_order(&id, &order).await }
        });
        for r in futures::future::join_all(calls).await {
            r.expect("create");
        }
    }

    async fn batched(&self) {
        let calls = (0..ORDERS / PER_REQUEST).map(|_| {
            let functions: Vec<ApiFunction> = (0..PER_REQUEST)
                .map(|_| {
                    let (id, order) = self.order();
                    ApiFunction::create_sales_order(&id, &order)
                })
                .collect::<Result<_, _>>()
                .expect("the orders build");
            let client = self.client.clone();
            async move { client.batch(&functions, BatchMode::default()).await }
        });
        for r in futures::future::join_all(calls).await {
            for outcome in r.expect("batch") {
                outcome.expect("create");
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let b = rt.block_on(setup());
    let mut group = c.benchmark_group("intacct_sales_orders_c2_250ms");
    // Each iteration takes seconds: keep the run bounded.
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(ORDERS as u64));
    group.bench_function("one_function_per_request_40_orders", |bench| {
        bench.iter(|| rt.block_on(b.single()))
    });
    group.bench_function("ten_functions_per_request_40_orders", |bench| {
        bench.iter(|| rt.block_on(b.batched()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
