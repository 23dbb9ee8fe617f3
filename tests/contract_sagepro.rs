//! Contract tests: the Sage Pro connector against the Sage Pro simulator over
//! real HTTP on a local port, with a fresh SQLite database per test.

use std::sync::Arc;
use std::time::Duration;

use connect::db::Db;
use connect::sandbox::sagepro;
use connect::sandbox::{FaultRegistry, FaultSettings, SandboxCredentials, SandboxState, SimSystem};
use connect_jobs::connectors::sagepro::wire::SalesOrder;
use connect_jobs::connectors::sagepro::{SageProClient, SageProConfig};
use connect_jobs::connectors::{ConnectorError, CountingGate};
use secrecy::SecretString;
use serde_json::{Value, json};

struct Sim {
    base: String,
    state: SandboxState,
    pair_id: String,
    creds: SandboxCredentials,
    meter: Arc<CountingGate>,
    _dir: tempfile::TempDir,
}

/// A fresh SQLite file, or a fresh Postgres database when
/// `CONNECT_TEST_BACKEND=postgres` (the same switch as the other suites).
async fn test_db(dir: &tempfile::TempDir) -> Db {
    let url = if std::env::var("CONNECT_TEST_BACKEND").as_deref() == Ok("postgres") {
        let admin = std::env::var("CONNECT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("connect_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres at {admin} is required: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("database URL");
        format!("{base}/{name}")
    } else {
        format!("sqlite://{}/t.db", dir.path().display())
    };
    let db = Db::connect(&url).await.expect("database");
    db.migrate().await.expect("migrations");
    db
}

async fn spawn_sim() -> Sim {
    connect_jobs::connectors::http::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = test_db(&dir).await;
    let tenant_id = "tnt_contract";
    let pair_id = format!("pair_{}", uuid::Uuid::now_v7().simple());
    let now = connect::db::now_ms();
    let mut tx = db.begin_write().await.expect("tx");
    sqlx::query(
        "INSERT INTO tenants (id, name, plan_id, status, created_at) VALUES ($1, $2, 'trial', 'active', $3)",
    )
    .bind(tenant_id)
    .bind("Contract Co")
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("tenant");
    sqlx::query(
        "INSERT INTO pairs (id, tenant_id, name, erp, environment, status, created_at, updated_at) \
         VALUES ($1, $2, 'Sandbox', 'sagepro', 'sandbox', 'active', $3, $3)",
    )
    .bind(&pair_id)
    .bind(tenant_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("pair");
    let creds = SandboxCredentials::generate(&pair_id, tenant_id);
    creds.insert(&mut tx).await.expect("credentials");
    sagepro::seed(&mut tx, &pair_id).await.expect("seed");
    tx.commit().await.expect("commit");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = SandboxState {
        db,
        faults: Arc::new(FaultRegistry::new()),
        http: reqwest::Client::new(),
        self_url: base.clone().into(),
    };
    let app = axum::Router::new().nest("/sandbox/sagepro", sagepro::router(state.clone()));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Sim {
        base,
        state,
        pair_id,
        creds,
        meter: Arc::new(CountingGate::default()),
        _dir: dir,
    }
}

impl Sim {
    fn api(&self) -> String {
        format!(
            "{}/sandbox/sagepro/{}/api/v1/sagepro",
            self.base, self.pair_id
        )
    }

    fn client(&self) -> SageProClient {
        self.client_with_key(&self.creds.sagepro_api_key)
    }

    fn client_with_key(&self, key: &str) -> SageProClient {
        SageProClient::new(
            SageProConfig {
                base_url: self.api(),
                api_key: SecretString::from(key.to_owned()),
                company: None,
            },
            connect_jobs::connectors::http::client(Default::default()),
            self.meter.clone(),
        )
    }

    async fn set_faults(&self, settings: FaultSettings) {
        self.state
            .faults
            .set(&self.state.db, &self.pair_id, SimSystem::Sagepro, settings)
            .await
            .expect("faults");
    }

    async fn get(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.api()))
            .header("X-API-Key", &self.creds.sagepro_api_key)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }
}

/// The spec's example order, on catalog codes (SKU-1002 has stock at MAIN).
fn order(external: &str) -> Value {
    json!({
      "CustomerNo": "cus-5001",
      "OrderDate": "2024-06-01",
      "OrderType": "Standard",
      "CustomerPO": external,
      "ExternalOrderId": format!("clarity:{external}"),
      "ShipToAddress": { "Name": "Jane Doe", "Address1": "1 Main St", "City": "Austin", "State": "TX", "Zip": "78701", "Country": "US" },
      "BillToAddress": { "Name": "Jane Doe", "Address1": "1 Main St", "City": "Austin", "State": "TX", "Zip": "78701", "Country": "US" },
      "LineItems": [ { "ItemCode": "sku-1002", "Quantity": 2, "UnitPrice": 19.99, "TaxAmount": 3.20 } ],
      "FreightAmount": 0,
      "TotalAmount": 43.18,
      "PaymentTerms": "NET30"
    })
}

#[tokio::test]
async fn the_connection_test_reads_the_item_count() {
    let sim = spawn_sim().await;
    let detail = sim.client().test_connection().await.expect("connected");
    assert_eq!(detail, "connected to company 01; 200 items");
    assert_eq!(sim.meter.calls(), 1);

    let err = sim
        .client_with_key("sp_wrong")
        .test_connection()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn an_order_is_created_with_a_server_number_and_replayed_by_key() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let created = client
        .create_order("clarity-order-CO-100045", &order("CO-100045"))
        .await
        .expect("created");
    assert_eq!(created.sales_order_no, "0001001");
    let body: SalesOrder = serde_json::from_value(created.body.clone()).expect("a SalesOrder");
    assert_eq!(body.customer_no, "CUS-5001", "codes are upper-cased");
    assert_eq!(body.line_items[0].item_code, "SKU-1002");
    assert_eq!(body.line_items[0].extended_amount.to_string(), "39.98");
    assert_eq!(body.line_items[0].warehouse, "MAIN");
    assert_eq!(body.total_amount.to_string(), "43.18");
    assert_eq!(body.status, "Open");
    assert_eq!(body.row_version, 1);

    // The same key and body: the same order, not a second one.
    let again = client
        .create_order("clarity-order-CO-100045", &order("CO-100045"))
        .await
        .expect("replayed");
    assert_eq!(again.sales_order_no, "0001001");
    assert_eq!(again.body, created.body);
    let held = sagepro::list_orders(&sim.state.db, &sim.pair_id)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);

    // The raw replay says so.
    let r = reqwest::Client::new()
        .post(format!("{}/orders", sim.api()))
        .header("X-API-Key", &sim.creds.sagepro_api_key)
        .header("Idempotency-Key", "clarity-order-CO-100045")
        .json(&order("CO-100045"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(r.headers()["etag"], "\"1\"");

    // Stock was committed once: 2 units of SKU-1002 at MAIN.
    let stock = sim.get("/inventory/SKU-1002/MAIN").await;
    assert_eq!(stock["QtyCommitted"], 2);
    assert_eq!(
        stock["QtyAvailable"].as_i64().unwrap(),
        stock["QtyOnHand"].as_i64().unwrap() - 2
    );

    // The next order gets the next number; lookups by ExternalOrderId work.
    let next = client
        .create_order("clarity-order-CO-100046", &order("CO-100046"))
        .await
        .unwrap();
    assert_eq!(next.sales_order_no, "0001002");
    assert_eq!(
        client
            .find_order_by_external_id("clarity:CO-100046")
            .await
            .unwrap(),
        Some("0001002".to_owned())
    );
    assert_eq!(
        client
            .find_order_by_external_id("clarity:nope")
            .await
            .unwrap(),
        None
    );
    let page = client
        .list_orders(&[("CustomerPO", "CO-100045".into())], 1, 10)
        .await
        .unwrap();
    assert_eq!(page.total_count, 1);
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_refused() {
    let sim = spawn_sim().await;
    let client = sim.client();
    client.create_order("k-1", &order("CO-1")).await.unwrap();
    let mut changed = order("CO-1");
    changed["Notes"] = json!("changed");
    let err = client.create_order("k-1", &changed).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("IDEMPOTENCY_KEY_REUSED"), "{err}");
}

#[tokio::test]
async fn a_duplicate_external_order_id_returns_the_existing_order() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let first = client
        .create_order("attempt-1", &order("CO-7"))
        .await
        .unwrap();
    // A retry under another key (say, the ledger lost its key): no second order.
    let second = client
        .create_order("attempt-2", &order("CO-7"))
        .await
        .unwrap();
    assert_eq!(second.sales_order_no, first.sales_order_no);
    assert_eq!(second.body["ExternalOrderId"], "clarity:CO-7");
    assert_eq!(
        sagepro::list_orders(&sim.state.db, &sim.pair_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn validation_names_the_field_in_pro_series_words() {
    let sim = spawn_sim().await;
    let client = sim.client();

    let mut unknown = order("CO-1");
    unknown["CustomerNo"] = json!("ZZZ99");
    let err = client.create_order("v-1", &unknown).await.unwrap_err();
    assert_eq!(err.field(), Some("CustomerNo"), "{err:?}");
    assert!(err.to_string().contains("Invalid Customer Number"), "{err}");
    assert!(err.to_string().contains("ZZZ99"), "{err}");
    assert!(!err.is_transient());

    let mut item = order("CO-2");
    item["LineItems"][0]["ItemCode"] = json!("NOPE-1");
    let err = client.create_order("v-2", &item).await.unwrap_err();
    assert_eq!(err.field(), Some("LineItems[0].ItemCode"));
    assert!(err.to_string().contains("Invalid Item Code"));

    let mut qty = order("CO-3");
    qty["LineItems"][0]["Quantity"] = json!(0);
    let err = client.create_order("v-3", &qty).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Quantity must be greater than zero")
    );

    let mut total = order("CO-4");
    total["TotalAmount"] = json!(50.00);
    let err = client.create_order("v-4", &total).await.unwrap_err();
    assert_eq!(err.field(), Some("TotalAmount"));
    assert!(
        err.to_string()
            .contains("Order total does not match line totals")
    );

    let mut long = order("CO-5");
    long["ShipToAddress"]["City"] = json!("A city name far longer than twenty");
    let err = client.create_order("v-5", &long).await.unwrap_err();
    assert_eq!(err.field(), Some("ShipToAddress.City"));

    let mut none = order("CO-6");
    none["CustomerNo"] = json!("");
    let err = client.create_order("v-6", &none).await.unwrap_err();
    assert!(err.to_string().contains("No Customer Number"));

    // A rejected request stores nothing: the fixed body may reuse its key.
    client
        .create_order("v-1", &order("CO-1"))
        .await
        .expect("fixed");
}

#[tokio::test]
async fn short_stock_backorders_and_defaults_come_from_the_masters() {
    let sim = spawn_sim().await;
    // SKU-1001 has no stock at MAIN; no prices, addresses or terms are sent.
    let body = json!({
        "CustomerNo": "CUS-5002", "OrderDate": "2024-06-01", "OrderType": "Standard",
        "LineItems": [ { "ItemCode": "SKU-1001", "Quantity": 1 } ]
    });
    let created = sim.client().create_order("bo-1", &body).await.unwrap();
    let o: SalesOrder = serde_json::from_value(created.body).unwrap();
    assert_eq!(o.status, "Backordered");
    assert_eq!(o.payment_terms, "NET30");
    assert!(!o.ship_to_address.address1.is_empty());
    assert_eq!(o.line_items[0].unit_price.to_string(), "4.49");
    assert!(!o.line_items[0].description.is_empty());
    let stock = sim.get("/inventory/SKU-1001/MAIN").await;
    assert_eq!(stock["QtyCommitted"], 0, "availability never goes negative");
}

#[tokio::test]
async fn a_post_without_an_idempotency_key_is_400() {
    let sim = spawn_sim().await;
    let r = reqwest::Client::new()
        .post(format!("{}/orders", sim.api()))
        .header("X-API-Key", &sim.creds.sagepro_api_key)
        .json(&order("CO-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Error"]["Code"], "BAD_REQUEST");
}

#[tokio::test]
async fn lists_page_with_modified_since() {
    let sim = spawn_sim().await;
    let page = sim.get("/products?Page=2&PageSize=150").await;
    assert_eq!(page["TotalCount"], 200);
    assert_eq!(page["Data"].as_array().unwrap().len(), 50);
    assert_eq!(page["HasMore"], false);
    let customers = sim.get("/customers?CustomerNo=cus-5003").await;
    assert_eq!(customers["Data"][0]["CustomerNo"], "CUS-5003");
    assert_eq!(customers["Data"][0]["ExternalCustomerId"], "CUS-5003");
    let stock = sim.get("/inventory?ItemCode=SKU-1100").await;
    assert_eq!(stock["TotalCount"], 3);
    let future = sim
        .get("/products?ModifiedSince=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["TotalCount"], 0);
    let web = sim
        .get("/products?ItemCodeStartsWith=SKU-11&PageSize=500")
        .await;
    assert_eq!(web["TotalCount"], 100);
}

#[tokio::test]
async fn injected_faults_map_to_transient_errors() {
    let sim = spawn_sim().await;
    let client = sim.client();
    sim.set_faults(FaultSettings {
        error_rate: 1.0,
        ..FaultSettings::default()
    })
    .await;
    let err = client
        .find_order_by_external_id("clarity:CO-1")
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Server { .. }), "{err:?}");
    assert!(err.is_transient());
    // Writes fail as a 5xx or as a desktop user's record lock; nothing is created.
    for i in 0..6 {
        let err = client
            .create_order(&format!("f-{i}"), &order("CO-1"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectorError::Server { .. } | ConnectorError::RecordLocked { .. }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
    }
    assert!(
        sagepro::list_orders(&sim.state.db, &sim.pair_id)
            .await
            .unwrap()
            .is_empty()
    );

    sim.set_faults(FaultSettings {
        rate_limit_per_s: Some(1),
        ..FaultSettings::default()
    })
    .await;
    let a = client.test_connection().await;
    let b = client.test_connection().await;
    let limited = [a, b]
        .into_iter()
        .filter_map(Result::err)
        .find(|e| matches!(e, ConnectorError::RateLimited { .. }))
        .expect("a 429");
    assert!(matches!(
        limited,
        ConnectorError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(1)
    ));
}

#[tokio::test]
async fn a_timed_out_create_committed_and_the_retry_replays_it() {
    let sim = spawn_sim().await;
    sim.set_faults(FaultSettings {
        timeout_rate: 1.0,
        hang_ms: 3_000,
        ..FaultSettings::default()
    })
    .await;
    let impatient = SageProClient::new(
        SageProConfig {
            base_url: sim.api(),
            api_key: SecretString::from(sim.creds.sagepro_api_key.clone()),
            company: Some("01".into()),
        },
        connect_jobs::connectors::http::client(connect_jobs::connectors::http::Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_millis(500),
        }),
        Arc::new(connect_jobs::connectors::OpenGate),
    );
    let err = impatient
        .create_order("t-1", &order("CO-9"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    sim.set_faults(FaultSettings::default()).await;
    let replay = sim
        .client()
        .create_order("t-1", &order("CO-9"))
        .await
        .unwrap();
    assert_eq!(replay.sales_order_no, "0001001");
    assert_eq!(
        sagepro::list_orders(&sim.state.db, &sim.pair_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn concurrent_creates_settle_in_the_database() {
    let sim = spawn_sim().await;
    sim.set_faults(FaultSettings {
        rate_limit_per_s: Some(10_000),
        ..FaultSettings::default()
    })
    .await;
    let client = sim.client();

    let race = order("CO-RACE");
    // The same key eight times at once: one order; every answer names it
    // (or, on Postgres, says the first request is still in progress).
    let same =
        futures::future::join_all((0..8).map(|_| client.create_order("race-1", &race))).await;
    let numbers: Vec<String> = same
        .into_iter()
        .filter_map(|r| match r {
            Ok(c) => Some(c.sales_order_no),
            Err(e) => {
                assert!(e.is_transient(), "{e:?}");
                None
            }
        })
        .collect();
    assert!(!numbers.is_empty());
    assert!(numbers.iter().all(|n| n == "0001001"), "{numbers:?}");

    // Eight different orders at once: eight consecutive numbers, no gaps.
    let many = futures::future::join_all((0..8).map(|i| {
        let client = client.clone();
        async move {
            client
                .create_order(&format!("many-{i}"), &order(&format!("CO-M{i}")))
                .await
        }
    }))
    .await;
    let mut numbers: Vec<String> = many
        .into_iter()
        .map(|r| r.expect("created").sales_order_no)
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1002..=1009).map(|n| format!("{n:07}")).collect();
    assert_eq!(numbers, expected);
    assert_eq!(
        sagepro::list_orders(&sim.state.db, &sim.pair_id)
            .await
            .unwrap()
            .len(),
        9
    );
}
