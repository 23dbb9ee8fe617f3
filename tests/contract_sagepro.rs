//! Contract tests: the Sage Pro connector against the Sage Pro simulator over
//! real HTTP on a local port, with a fresh SQLite database per test.

use std::sync::Arc;
use std::time::Duration;

use connect::db::Db;
use connect::sandbox::sagepro;
use connect::sandbox::{
    FaultKind, FaultRegistry, FaultSettings, SandboxCredentials, SandboxState, ScriptedFault,
    SimSystem,
};
use connect_jobs::connectors::sagepro::wire::{
    CustomerInput, InventoryAdjustment, InvoiceInput, LineInput, ProductUpdate, SalesOrder,
    ShipLine,
};
use connect_jobs::connectors::sagepro::{SageProClient, SageProConfig};
use connect_jobs::connectors::{ConnectorError, CountingGate, ErrorClass};
use rust_decimal::Decimal;
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
        memo: Default::default(),
    };
    let app = axum::Router::new().nest("/sandbox/sagepro", sagepro::router(state.clone()));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    let sim = Sim {
        base,
        state,
        pair_id,
        creds,
        meter: Arc::new(CountingGate::default()),
        _dir: dir,
    };
    // Tests make more calls than the spec's 60 a minute; the one about that
    // limit puts the default back.
    sim.set_faults(fast()).await;
    sim
}

fn fast() -> FaultSettings {
    FaultSettings {
        rate_limit_per_s: Some(10_000),
        ..FaultSettings::default()
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

    async fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.api()))
            .header("X-API-Key", &self.creds.sagepro_api_key)
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
    assert_eq!(
        detail,
        "signed in to company 01 with the API key; 200 items in the catalog"
    );
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
    let found = client
        .list_orders(None, &[("CustomerPO", "CO-100045".into())])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].sales_order_no, "0001001");
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_refused() {
    let sim = spawn_sim().await;
    let client = sim.client();
    client.create_order("k-1", &order("CO-1")).await.unwrap();
    let mut changed = order("CO-1");
    changed["Notes"] = json!("changed");
    let err = client.create_order("k-1", &changed).await.unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert_eq!(err.field(), Some("Idempotency-Key"), "{err:?}");
    assert!(err.to_string().contains("IDEMPOTENCY_KEY_REUSED"), "{err}");

    // The same body written differently (key order, spacing, 2 vs 2.0) is
    // the same request: its stored answer comes back.
    let mut fields: Vec<(String, Value)> = order("CO-1")
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    fields.reverse();
    let mut text = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        let comma = if i + 1 < fields.len() { "," } else { "" };
        text.push_str(&format!("  {} :  {}{comma}\n", Value::from(k.as_str()), v));
    }
    text.push('}');
    let text = text.replace("\"Quantity\":2", "\"Quantity\": 2.0");
    assert!(text.contains("2.0"), "{text}");
    let r = sim
        .raw(reqwest::Method::POST, "/orders")
        .await
        .header("Idempotency-Key", "k-1")
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(
        sagepro::list_orders(&sim.state.db, &sim.pair_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn idempotency_records_expire_after_seven_days() {
    let sim = spawn_sim().await;
    let client = sim.client();
    client
        .create_order("old-key", &order("CO-OLD"))
        .await
        .unwrap();
    let eight_days = 8 * 24 * 60 * 60 * 1000_i64;
    sqlx::query(
        "UPDATE sim_sagepro_idempotency SET created_at = created_at - $1 WHERE pair_id = $2",
    )
    .bind(eight_days)
    .bind(&sim.pair_id)
    .execute(sim.state.db.pool())
    .await
    .unwrap();
    // Forgotten: the key is free for another request.
    let next = client
        .create_order("old-key", &order("CO-NEW"))
        .await
        .unwrap();
    assert_eq!(next.sales_order_no, "0001002");
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
    assert_eq!(customers["Data"][0]["Phone"], "512-555-0102");
    assert_eq!(customers["Data"][0]["TaxCode"], "OH");
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
    for _ in 0..4 {
        let err = client
            .find_order_by_external_id("clarity:CO-1")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectorError::Server { status: 500, .. }
                    | ConnectorError::Unavailable {
                        status: 503,
                        retry_after: Some(_),
                        ..
                    }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
    }
    // Writes fail as a 5xx or as a desktop user's record lock; nothing is created.
    for i in 0..6 {
        let err = client
            .create_order(&format!("f-{i}"), &order("CO-1"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectorError::Server { .. }
                    | ConnectorError::Unavailable { .. }
                    | ConnectorError::RecordLocked { .. }
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
    sim.set_faults(fast()).await;
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

/// Calls `f` until it stops failing with `RECORD_LOCKED` (what the worker's
/// retry does, without its Retry-After wait).
async fn through_locks<T, F, Fut>(mut f: F) -> Result<T, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectorError>>,
{
    for _ in 0..200 {
        match f().await {
            Err(ConnectorError::RecordLocked { .. }) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
    panic!("still locked after 200 tries");
}

#[tokio::test]
async fn concurrent_creates_settle_in_the_database() {
    let sim = spawn_sim().await;
    let client = sim.client();

    let race = order("CO-RACE");
    // The same key eight times at once: one order; every answer names it,
    // or is transient (the company's write lock, or the first request still
    // in progress).
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

    // Eight different orders at once, each retried through the lock: eight
    // consecutive numbers, no gaps.
    let many = futures::future::join_all((0..8).map(|i| {
        let client = client.clone();
        async move {
            let body = order(&format!("CO-M{i}"));
            let key = format!("many-{i}");
            through_locks(|| client.create_order(&key, &body)).await
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

/// A long order (999 lines) holds the company's write lock while it is
/// validated and committed; a second write meanwhile is refused.
#[tokio::test]
async fn a_second_write_while_one_runs_is_record_locked() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let mut big = order("CO-BIG");
    big["LineItems"] = Value::Array(
        (0..999)
            .map(|i| json!({"ItemCode": format!("SKU-{}", 1002 + (i % 150)), "Quantity": 1}))
            .collect(),
    );
    big.as_object_mut().unwrap().remove("TotalAmount");
    let mut locked = None;
    for attempt in 0..5 {
        let slow = {
            let client = client.clone();
            let big = big.clone();
            let mut big = big;
            big["ExternalOrderId"] = json!(format!("clarity:CO-BIG-{attempt}"));
            tokio::spawn(async move { client.create_order(&format!("big-{attempt}"), &big).await })
        };
        tokio::time::sleep(Duration::from_millis(40)).await;
        let small = client
            .create_order(
                &format!("small-{attempt}"),
                &order(&format!("CO-S{attempt}")),
            )
            .await;
        slow.await.unwrap().expect("the long order is created");
        if let Err(e) = small {
            locked = Some(e);
            break;
        }
    }
    let err = locked.expect("one of five small orders met the lock");
    assert!(
        matches!(
            &err,
            ConnectorError::RecordLocked { retry_after: Some(d), .. } if *d == Duration::from_secs(5)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("SOMAST locked"), "{err}");
    assert_eq!(
        err.class(),
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(5))
        }
    );
}

#[tokio::test]
async fn scripted_faults_answer_in_the_spec_shapes() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let script = |fault, count| FaultSettings {
        script: vec![ScriptedFault { fault, count }],
        ..fast()
    };

    // A desktop user's lock twice, then the write goes through.
    sim.set_faults(script(FaultKind::RecordLocked, 2)).await;
    for _ in 0..2 {
        let err = client
            .create_order("locked-1", &order("CO-L1"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnectorError::RecordLocked { retry_after: Some(d), .. } if *d == Duration::from_secs(5)),
            "{err:?}"
        );
    }
    let created = client
        .create_order("locked-1", &order("CO-L1"))
        .await
        .unwrap();
    assert_eq!(created.sales_order_no, "0001001");
    // A lock on a named record names it.
    sim.set_faults(script(FaultKind::RecordLocked, 1)).await;
    let err = client.get_order("0001001").await.unwrap_err();
    assert!(
        err.to_string().contains("SalesOrderNo: 0001001 locked"),
        "{err}"
    );

    type Expect = fn(&ConnectorError) -> bool;
    let cases: [(FaultKind, Expect); 8] = [
        (
            FaultKind::Unavailable,
            |e| matches!(e, ConnectorError::Unavailable { status: 503, retry_after: Some(d), .. } if *d == Duration::from_secs(5)),
        ),
        (FaultKind::GatewayTimeout, |e| {
            matches!(e, ConnectorError::Unavailable { status: 503, .. })
        }),
        (
            FaultKind::RateLimited,
            |e| matches!(e, ConnectorError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(1)),
        ),
        (FaultKind::ConcurrencyLimit, |e| {
            matches!(
                e,
                ConnectorError::RateLimited {
                    retry_after: Some(_),
                    ..
                }
            )
        }),
        (FaultKind::ServerError, |e| {
            matches!(e, ConnectorError::Server { status: 500, .. })
        }),
        (FaultKind::Unauthorized, |e| {
            matches!(e, ConnectorError::Auth { .. })
        }),
        (FaultKind::Validation, |e| e.field() == Some("CustomerNo")),
        (FaultKind::NotFound, |e| {
            matches!(e, ConnectorError::NotFound { .. })
        }),
    ];
    for (kind, expected) in cases {
        sim.set_faults(script(kind, 1)).await;
        let err = client.get_product("SKU-1002").await.unwrap_err();
        assert!(expected(&err), "{kind:?}: {err:?}");
        let transient = matches!(
            kind,
            FaultKind::Unavailable
                | FaultKind::GatewayTimeout
                | FaultKind::RateLimited
                | FaultKind::ConcurrencyLimit
                | FaultKind::ServerError
        );
        assert_eq!(err.is_transient(), transient, "{kind:?}: {err:?}");
        // The script is used up: the next call is served.
        client.get_product("SKU-1002").await.expect("served");
    }

    sim.set_faults(script(FaultKind::Reset, 1)).await;
    let err = client.get_product("SKU-1002").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn the_concurrency_cap_refuses_requests_over_it() {
    let sim = spawn_sim().await;
    sim.set_faults(FaultSettings {
        concurrency_limit: Some(1),
        latency_ms: 300,
        ..fast()
    })
    .await;
    let client = sim.client();
    let (a, b) = tokio::join!(client.get_product("SKU-1002"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.get_product("SKU-1003").await
    });
    a.expect("the first request holds the slot");
    let err = b.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_default_rate_limit_is_60_a_minute_with_quota_headers() {
    let sim = spawn_sim().await;
    sim.set_faults(FaultSettings::default()).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..70 {
        let r = sim
            .raw(reqwest::Method::GET, "/products/SKU-1002")
            .await
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 && limited.is_none() {
            limited = Some(r);
        }
    }
    assert!(statuses[..60].iter().all(|s| *s == 200), "{statuses:?}");
    let r = limited.expect("a 429 after 60 quick calls");
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(r.headers()["x-ratelimit-limit"], "60");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Error"]["Code"], "RATE_LIMITED");
}

#[tokio::test]
async fn a_read_only_key_reads_but_may_not_write() {
    let sim = spawn_sim().await;
    let key = sagepro::issue_api_key(&sim.state.db, &sim.pair_id, &[sagepro::KeyScope::Read])
        .await
        .unwrap();
    let reader = sim.client_with_key(&key);
    assert_eq!(
        reader.get_product("sku-1002").await.unwrap().item_code,
        "SKU-1002"
    );
    let err = reader
        .create_order("ro-1", &order("CO-RO"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("FORBIDDEN"), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_key_with_assign_numbers_keeps_its_sales_order_no() {
    let sim = spawn_sim().await;
    let key = sagepro::issue_api_key(
        &sim.state.db,
        &sim.pair_id,
        &[sagepro::KeyScope::Write, sagepro::KeyScope::AssignNumbers],
    )
    .await
    .unwrap();
    let client = sim.client_with_key(&key);
    let mut body = order("CO-N1");
    body["SalesOrderNo"] = json!("5555");
    let created = client.create_order("n-1", &body).await.unwrap();
    assert_eq!(created.sales_order_no, "0005555");
    let mut again = order("CO-N2");
    again["SalesOrderNo"] = json!("0005555");
    let err = client.create_order("n-2", &again).await.unwrap_err();
    assert_eq!(err.field(), Some("SalesOrderNo"), "{err:?}");
    // Without the scope the number is the server's.
    let plain = sim
        .client()
        .create_order("n-3", &order("CO-N3"))
        .await
        .unwrap();
    assert_eq!(plain.sales_order_no, "0001001");
}

#[tokio::test]
async fn every_list_pages_to_the_end_and_reads_from_modified_since() {
    let sim = spawn_sim().await;
    let client = sim.client();
    assert_eq!(client.list_products(None, &[]).await.unwrap().len(), 200);
    // 200 items in 3 warehouses: two pages of 500.
    let stock = client.list_inventory(None, &[]).await.unwrap();
    assert_eq!(stock.len(), 600);
    let customers = client.list_customers(None, &[]).await.unwrap();
    assert_eq!(customers.len(), 45);
    assert!(
        customers
            .iter()
            .all(|c| !c.phone.is_empty() && c.email.contains('@'))
    );
    assert!(
        customers
            .iter()
            .any(|c| c.customer_no == "DOEJ01" && c.contact == "Jane Doe")
    );
    assert!(customers.iter().any(|c| c.customer_no == "DOEJ02"));

    // Paging by hand: a small page size walks every record exactly once.
    let mut page = 1;
    let mut codes = Vec::new();
    loop {
        let p = client.list_page("/products", &[], page, 7).await.unwrap();
        assert_eq!(p.total_count, 200);
        codes.extend(
            p.data
                .iter()
                .map(|v| v["ItemCode"].as_str().unwrap().to_owned()),
        );
        if !p.has_more {
            break;
        }
        page += 1;
    }
    assert_eq!(page, 29);
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!((codes.len(), unique.len()), (200, 200));

    let since = time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let created = client.create_order("ms-1", &order("CO-MS")).await.unwrap();
    client
        .update_product(
            "ms-2",
            "SKU-1050",
            &ProductUpdate {
                price: Some(Decimal::new(2499, 2)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    client
        .create_invoice(
            "ms-3",
            &InvoiceInput {
                sales_order_no: Some(created.sales_order_no.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let products = client.list_products(Some(since), &[]).await.unwrap();
    assert_eq!(
        products
            .iter()
            .map(|p| p.item_code.as_str())
            .collect::<Vec<_>>(),
        ["SKU-1050"]
    );
    let orders = client.list_orders(Some(since), &[]).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status, "Invoiced");
    let stock = client.list_inventory(Some(since), &[]).await.unwrap();
    assert_eq!(
        stock
            .iter()
            .map(|s| (s.item_code.as_str(), s.warehouse.as_str()))
            .collect::<Vec<_>>(),
        [("SKU-1002", "MAIN")]
    );
    assert_eq!(
        client.list_invoices(Some(since), &[]).await.unwrap().len(),
        1
    );
    assert!(
        client
            .list_customers(Some(since), &[])
            .await
            .unwrap()
            .is_empty()
    );
    let later = since + time::Duration::hours(1);
    assert!(
        client
            .list_orders(Some(later), &[])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_open_order_is_replaced_and_an_invoiced_one_is_not() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let created = client.create_order("u-0", &order("CO-U")).await.unwrap();
    let no = created.sales_order_no;
    let mut body = order("CO-U");
    body["LineItems"][0]["Quantity"] = json!(5);
    body["TotalAmount"] = json!(103.15);
    body["Notes"] = json!("five now");
    let updated = client
        .update_order("u-1", &no, &body, Some(1))
        .await
        .unwrap();
    assert_eq!(updated.row_version, 2);
    assert_eq!(updated.line_items[0].quantity, Decimal::from(5));
    assert_eq!(updated.total_amount.to_string(), "103.15");
    assert_eq!(client.get_order(&no).await.unwrap(), updated);
    // The commitment follows the new quantity.
    let stock = client.get_inventory("SKU-1002", "MAIN").await.unwrap();
    assert_eq!(stock.qty_committed, Decimal::from(5));

    // Someone else's RowVersion: 412, naming the order.
    let err = client
        .update_order("u-2", &no, &body, Some(1))
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(err.field(), Some("SalesOrderNo"), "{err:?}");
    assert!(err.to_string().contains("PRECONDITION_FAILED"), "{err}");

    // Invoiced in full, the order can no longer change.
    client
        .create_invoice(
            "u-3",
            &InvoiceInput {
                sales_order_no: Some(no.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = client
        .update_order("u-4", &no, &body, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("INVALID_STATE"), "{err}");
    assert_eq!(err.field(), Some("Status"));
    let err = client.get_order("0009999").await.unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn products_update_their_editable_fields_only() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let before = client.get_product("SKU-1010").await.unwrap();
    let after = client
        .update_product(
            "p-1",
            "sku-1010",
            &ProductUpdate {
                price: Some(Decimal::new(1234, 2)),
                web_enabled: Some(false),
                ..Default::default()
            },
            Some(before.row_version),
        )
        .await
        .unwrap();
    assert_eq!(after.price.to_string(), "12.34");
    assert!(!after.web_enabled);
    assert_eq!(after.cost, before.cost, "Cost is read-only");
    assert_eq!(after.row_version, before.row_version + 1);
    let err = client
        .update_product("p-2", "NOPE-1", &ProductUpdate::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
    let err = client
        .update_product(
            "p-3",
            "SKU-1010",
            &ProductUpdate {
                description: Some("X".repeat(41)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("Description"));
}

#[tokio::test]
async fn customers_are_created_numbered_and_updated() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let input = CustomerInput {
        contact: Some("Jane Doe".into()),
        email: Some("jane.doe.3@example.com".into()),
        phone: Some("512-555-0199".into()),
        tax_code: Some("tx".into()),
        external_customer_id: Some("CUS-9001".into()),
        ..Default::default()
    };
    let created = client.create_customer("c-1", &input).await.unwrap();
    // DOEJ01 and DOEJ02 are taken by the seed.
    assert_eq!(created.customer_no, "DOEJ03");
    assert_eq!(created.payment_terms, "NET30");
    assert_eq!(created.tax_code, "TX");
    // A retry under the same key is the same customer.
    let again = client.create_customer("c-1", &input).await.unwrap();
    assert_eq!(again, created);
    assert_eq!(client.get_customer("doej03").await.unwrap(), created);

    // The email is unique: the duplicate names the field and the holder.
    let err = client
        .create_customer(
            "c-2",
            &CustomerInput {
                contact: Some("Other Person".into()),
                email: Some("JANE.DOE.3@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(err.field(), Some("Email"), "{err:?}");
    assert!(err.to_string().contains("DOEJ03"), "{err}");

    let err = client
        .create_customer(
            "c-3",
            &CustomerInput {
                customer_no: Some("cus-5001".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("CustomerNo"), "{err:?}");

    let updated = client
        .update_customer(
            "c-4",
            "DOEJ03",
            &CustomerInput {
                on_hold: Some(true),
                ..Default::default()
            },
            Some(1),
        )
        .await
        .unwrap();
    assert!(updated.on_hold);
    assert_eq!(updated.row_version, 2);
    assert_eq!(updated.email, created.email, "absent fields are kept");
    // On hold: an order for the customer is refused as INVALID_STATE.
    let mut body = order("CO-HOLD");
    body["CustomerNo"] = json!("DOEJ03");
    let err = client.create_order("c-5", &body).await.unwrap_err();
    assert!(err.to_string().contains("INVALID_STATE"), "{err}");
    assert_eq!(err.field(), Some("CustomerNo"));

    let found = client
        .list_customers(None, &[("Email", "jane.doe.3@example.com".into())])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_physical_count_needs_if_match_and_records_the_change() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let all = client.get_item_inventory("SKU-1020").await.unwrap();
    assert_eq!(all.len(), 3);
    let main = client.get_inventory("SKU-1020", "MAIN").await.unwrap();
    let count = InventoryAdjustment {
        qty_on_hand: Some(Decimal::from(40)),
        reason: "CYCLECOUNT".into(),
        reference: "CC-1".into(),
    };
    let after = client
        .update_inventory("i-1", "SKU-1020", "MAIN", &count, main.row_version)
        .await
        .unwrap();
    assert_eq!(after.qty_on_hand, Decimal::from(40));
    assert_eq!(after.qty_available, Decimal::from(40));
    assert_eq!(after.row_version, main.row_version + 1);
    let err = client
        .update_inventory("i-2", "SKU-1020", "MAIN", &count, main.row_version)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PRECONDITION_FAILED"), "{err}");
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sim_sagepro_adjustments WHERE pair_id = $1 AND item_code = 'SKU-1020'",
    )
    .bind(&sim.pair_id)
    .fetch_one(sim.state.db.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
    let r = sim
        .raw(reqwest::Method::PUT, "/inventory/SKU-1020/MAIN")
        .await
        .json(&json!({"QtyOnHand": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "If-Match is required");
}

#[tokio::test]
async fn invoices_ship_orders_and_credit_memos_restock() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let stock_before = client.get_inventory("SKU-1002", "MAIN").await.unwrap();
    let mut body = order("CO-INV");
    body["LineItems"][0]["Quantity"] = json!(3);
    body["LineItems"][0]["TaxAmount"] = json!(4.80);
    body["TotalAmount"] = json!(64.77);
    let no = client
        .create_order("inv-0", &body)
        .await
        .unwrap()
        .sales_order_no;

    // Ship one now.
    let first = client
        .create_invoice(
            "inv-1",
            &InvoiceInput {
                sales_order_no: Some(no.clone()),
                invoice_date: Some("2024-06-02".into()),
                lines: Some(vec![ShipLine {
                    line_no: 1,
                    qty_shipped: Decimal::ONE,
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.invoice_no, "0009001");
    assert_eq!(first.due_date, "2024-07-02", "NET30");
    assert_eq!(first.total_amount.to_string(), "21.59");
    assert_eq!(first.balance_due, first.total_amount);
    assert_eq!(
        client.get_order(&no).await.unwrap().status,
        "PartiallyShipped"
    );
    // More than remains is refused, naming the line.
    let err = client
        .create_invoice(
            "inv-2",
            &InvoiceInput {
                sales_order_no: Some(no.clone()),
                lines: Some(vec![ShipLine {
                    line_no: 1,
                    qty_shipped: Decimal::from(3),
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("Lines[0].QtyShipped"), "{err:?}");
    // The rest.
    let rest = client
        .create_invoice(
            "inv-3",
            &InvoiceInput {
                sales_order_no: Some(no.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.line_items[0].qty_shipped, Decimal::from(2));
    let shipped = client.get_order(&no).await.unwrap();
    assert_eq!(shipped.status, "Invoiced");
    assert_eq!(shipped.line_items[0].qty_shipped, Decimal::from(3));
    let stock = client.get_inventory("SKU-1002", "MAIN").await.unwrap();
    assert_eq!(
        stock.qty_on_hand,
        stock_before.qty_on_hand - Decimal::from(3)
    );
    assert_eq!(stock.qty_committed, stock_before.qty_committed);
    // Nothing left to invoice.
    let err = client
        .create_invoice(
            "inv-4",
            &InvoiceInput {
                sales_order_no: Some(no.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("INVALID_STATE"), "{err}");

    // A return: a credit memo with Restock puts the unit back on hand.
    let credit = client
        .create_invoice(
            "inv-5",
            &InvoiceInput {
                invoice_type: Some("CreditMemo".into()),
                customer_no: Some("CUS-5001".into()),
                applies_to_invoice_no: Some(first.invoice_no.clone()),
                customer_po: Some("RMA-5501".into()),
                line_items: vec![LineInput {
                    item_code: Some("SKU-1002".into()),
                    quantity: Some(Decimal::NEGATIVE_ONE),
                    unit_price: Some(Decimal::new(1999, 2)),
                    tax_amount: Some(Decimal::new(-160, 2)),
                    restock: Some(true),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(credit.invoice_type, "CreditMemo");
    assert_eq!(credit.total_amount.to_string(), "-21.59");
    let restocked = client.get_inventory("SKU-1002", "MAIN").await.unwrap();
    assert_eq!(restocked.qty_on_hand, stock.qty_on_hand + Decimal::ONE);

    let of_order = client
        .list_invoices(None, &[("SalesOrderNo", no.clone())])
        .await
        .unwrap();
    assert_eq!(of_order.len(), 2);
    let credits = client
        .list_invoices(None, &[("InvoiceType", "CreditMemo".into())])
        .await
        .unwrap();
    assert_eq!(credits.len(), 1);
    assert_eq!(
        client.get_invoice(&credit.invoice_no).await.unwrap(),
        credit
    );
}

#[tokio::test]
async fn every_list_sorts_by_a_named_field_and_refuses_an_unknown_one() {
    let sim = spawn_sim().await;
    let client = sim.client();

    // Customers by number: the seed's numbers in order, whatever their
    // LastModified.
    let p = client
        .list_page("/customers", &[("SortBy", "CustomerNo".into())], 1, 500)
        .await
        .unwrap();
    let nos: Vec<&str> = p
        .data
        .iter()
        .map(|c| c["CustomerNo"].as_str().unwrap())
        .collect();
    let mut sorted = nos.clone();
    sorted.sort();
    assert_eq!(nos, sorted);
    assert_eq!(nos.len(), 45);

    // Stock by warehouse, then the key (item, warehouse): pages do not
    // repeat or skip a record.
    let mut rows = Vec::new();
    for page in 1..=4 {
        let p = client
            .list_page("/inventory", &[("SortBy", "Warehouse".into())], page, 150)
            .await
            .unwrap();
        rows.extend(p.data.iter().map(|s| {
            (
                s["Warehouse"].as_str().unwrap().to_owned(),
                s["ItemCode"].as_str().unwrap().to_owned(),
            )
        }));
    }
    let mut expected = rows.clone();
    expected.sort();
    assert_eq!(rows, expected);
    assert_eq!(rows.len(), 600);

    // Orders by a field and by LastModified (the default) after an update.
    let a = client.create_order("s-1", &order("CO-S1")).await.unwrap();
    let b = client.create_order("s-2", &order("CO-S2")).await.unwrap();
    // LastModified has millisecond steps: the update must land on a later one.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut changed = order("CO-S1");
    changed["Notes"] = json!("later");
    client
        .update_order("s-put", &a.sales_order_no, &changed, Some(1))
        .await
        .unwrap();
    let list = |sort: Option<&'static str>| {
        let client = &client;
        async move {
            let filters: Vec<(&str, String)> = sort
                .map(|s| vec![("SortBy", s.to_owned())])
                .unwrap_or_default();
            client
                .list_page("/orders", &filters, 1, 100)
                .await
                .unwrap()
                .data
                .iter()
                .map(|o| o["SalesOrderNo"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let by_no = vec![a.sales_order_no.clone(), b.sales_order_no.clone()];
    let by_change = vec![b.sales_order_no.clone(), a.sales_order_no.clone()];
    assert_eq!(list(None).await, by_change, "LastModified by default");
    assert_eq!(list(Some("LastModified")).await, by_change);
    assert_eq!(list(Some("SalesOrderNo")).await, by_no);
    assert_eq!(list(Some("RowVersion,SalesOrderNo")).await, by_change);
    client
        .create_invoice(
            "s-3",
            &InvoiceInput {
                sales_order_no: Some(b.sales_order_no.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let invoices = client
        .list_page("/invoices", &[("SortBy", "InvoiceDate".into())], 1, 10)
        .await
        .unwrap();
    assert_eq!(invoices.total_count, 1);

    // Every list names the field it does not know.
    for path in [
        "/orders",
        "/products",
        "/customers",
        "/inventory",
        "/invoices",
    ] {
        let r = sim
            .raw(reqwest::Method::GET, &format!("{path}?SortBy=Colour"))
            .await
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["Error"]["Code"], "BAD_REQUEST", "{path}");
        assert!(
            body["Error"]["Message"]
                .as_str()
                .unwrap()
                .contains("'Colour'"),
            "{path}: {body}"
        );
        assert_eq!(body["Error"]["Details"][0]["Field"], "SortBy", "{path}");
    }
    let err = client
        .list_page("/products", &[("SortBy", "ItemCode,Price".into())], 1, 10)
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(err.field(), Some("SortBy"), "{err:?}");
    assert!(err.to_string().contains("'Price'"), "{err}");
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_api_key_that_sent_them() {
    let sim = spawn_sim().await;
    let other_key =
        sagepro::issue_api_key(&sim.state.db, &sim.pair_id, &[sagepro::KeyScope::Write])
            .await
            .unwrap();
    let mine = sim.client();
    let theirs = sim.client_with_key(&other_key);

    // One Idempotency-Key from two clients: two requests, two orders, and
    // neither sees the other's body as a reuse.
    let first = mine.create_order("shared-1", &order("CO-A")).await.unwrap();
    let second = theirs
        .create_order("shared-1", &order("CO-B"))
        .await
        .expect("another API key's Idempotency-Key is its own");
    assert_ne!(first.sales_order_no, second.sales_order_no);
    assert_eq!(second.body["CustomerPO"], "CO-B");

    // Each client still gets its own answer replayed, and its own reuse refused.
    let again = theirs
        .create_order("shared-1", &order("CO-B"))
        .await
        .unwrap();
    assert_eq!(again.sales_order_no, second.sales_order_no);
    let again = mine.create_order("shared-1", &order("CO-A")).await.unwrap();
    assert_eq!(again.sales_order_no, first.sales_order_no);
    let err = mine
        .create_order("shared-1", &order("CO-B"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("IDEMPOTENCY_KEY_REUSED"), "{err}");
    assert_eq!(
        sagepro::list_orders(&sim.state.db, &sim.pair_id)
            .await
            .unwrap()
            .len(),
        2
    );
}

// ---------------------------------------------------------------------------
// Every record carries the spec's full field list (§2, §3), every writable
// field is taken, every list filter of §3 works, and an unknown field or
// filter is refused in the spec's error shape.

/// Each field of a record as the spec lists it, with its JSON type
/// (`string`, `number`, `bool`, `object`, `array`; `a|b` when either).
type Spec = &'static [(&'static str, &'static str)];

const ADDRESS: Spec = &[
    ("Name", "string"),
    ("Address1", "string"),
    ("Address2", "string"),
    ("City", "string"),
    ("State", "string"),
    ("Zip", "string"),
    ("Country", "string"),
    ("Phone", "string"),
    ("Email", "string"),
];
/// §2 LineItem, as order and invoice lines carry it (`Restock` is on
/// credit-memo lines only).
const LINE: Spec = &[
    ("LineNo", "number"),
    ("ItemCode", "string"),
    ("Description", "string"),
    ("Quantity", "number"),
    ("UnitPrice", "number"),
    ("TaxAmount", "number"),
    ("Discount", "number"),
    ("Warehouse", "string"),
    ("ExtendedAmount", "number"),
    ("QtyShipped", "number"),
];
const ORDER: Spec = &[
    ("SalesOrderNo", "string"),
    ("CustomerNo", "string"),
    ("OrderDate", "string"),
    ("OrderType", "string"),
    ("Status", "string"),
    ("ShipToAddress", "object"),
    ("BillToAddress", "object"),
    ("LineItems", "array"),
    ("FreightAmount", "number"),
    ("TaxTotal", "number"),
    ("TotalAmount", "number"),
    ("PaymentTerms", "string"),
    ("CustomerPO", "string"),
    ("ExternalOrderId", "string|null"),
    ("ShipVia", "string"),
    ("SalesRep", "string"),
    ("Notes", "string"),
    ("RowVersion", "number"),
    ("LastModified", "string"),
];
const PRODUCT: Spec = &[
    ("ItemCode", "string"),
    ("Description", "string"),
    ("ExtendedDescription", "string"),
    ("Price", "number"),
    ("Cost", "number"),
    ("UnitOfMeasure", "string"),
    ("Weight", "number"),
    ("ProductLine", "string"),
    ("Taxable", "bool"),
    ("Status", "string"),
    ("DefaultWarehouse", "string"),
    ("WebEnabled", "bool"),
    ("RowVersion", "number"),
    ("LastModified", "string"),
];
const CUSTOMER: Spec = &[
    ("CustomerNo", "string"),
    ("Company", "string"),
    ("Contact", "string"),
    ("Email", "string"),
    ("Phone", "string"),
    ("BillToAddress", "object"),
    ("ShipToAddress", "object"),
    ("PaymentTerms", "string"),
    ("TaxCode", "string"),
    ("CreditLimit", "number"),
    ("Balance", "number"),
    ("OnHold", "bool"),
    ("Status", "string"),
    ("ExternalCustomerId", "string"),
    ("RowVersion", "number"),
    ("LastModified", "string"),
];
const INVENTORY: Spec = &[
    ("ItemCode", "string"),
    ("Warehouse", "string"),
    ("QtyOnHand", "number"),
    ("QtyCommitted", "number"),
    ("QtyOnOrder", "number"),
    ("QtyAvailable", "number"),
    ("ReorderPoint", "number"),
    ("RowVersion", "number"),
    ("LastModified", "string"),
];
const INVOICE: Spec = &[
    ("InvoiceNo", "string"),
    ("InvoiceType", "string"),
    ("InvoiceDate", "string"),
    ("DueDate", "string"),
    ("CustomerNo", "string"),
    ("SalesOrderNo", "string|null"),
    ("CustomerPO", "string"),
    ("ShipToAddress", "object"),
    ("BillToAddress", "object"),
    ("LineItems", "array"),
    ("FreightAmount", "number"),
    ("TaxTotal", "number"),
    ("TotalAmount", "number"),
    ("AmountPaid", "number"),
    ("BalanceDue", "number"),
    ("PaymentTerms", "string"),
    ("Status", "string"),
    ("RowVersion", "number"),
    ("LastModified", "string"),
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `v` has exactly the fields of `spec` (PascalCase, none missing, none
/// extra), each of its type.
fn assert_fields(what: &str, v: &Value, spec: &[(&str, &str)]) {
    let got: std::collections::BTreeSet<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    let want: std::collections::BTreeSet<&str> = spec.iter().map(|(f, _)| *f).collect();
    assert_eq!(got, want, "{what}: the spec's field list: {v}");
    for (field, ty) in spec {
        let t = json_type(&v[*field]);
        assert!(
            ty.split('|').any(|x| x == t),
            "{what}.{field} is {t}, the spec types it {ty}: {v}"
        );
    }
}

/// An order, its addresses and lines.
fn assert_order_fields(what: &str, o: &Value) {
    assert_fields(what, o, ORDER);
    assert_fields(
        &format!("{what}.ShipToAddress"),
        &o["ShipToAddress"],
        ADDRESS,
    );
    assert_fields(
        &format!("{what}.BillToAddress"),
        &o["BillToAddress"],
        ADDRESS,
    );
    for (i, l) in o["LineItems"].as_array().unwrap().iter().enumerate() {
        assert_fields(&format!("{what}.LineItems[{i}]"), l, LINE);
    }
}

impl Sim {
    /// Any call, answered as (status, body).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        idempotency_key: Option<&str>,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut r = self.raw(method, path).await;
        if let Some(k) = idempotency_key {
            r = r.header("Idempotency-Key", k);
        }
        if let Some(m) = if_match {
            r = r.header("If-Match", m);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The `Data` of `GET {path}` (one page of up to 500).
    async fn list(&self, path: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page = self.get(&format!("{path}{sep}PageSize=500")).await;
        assert_eq!(page["HasMore"], false, "{path}: one page holds it");
        page["Data"].as_array().unwrap().clone()
    }

    /// The values of `field` in what `GET {path}` lists, sorted.
    async fn listed(&self, path: &str, field: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .list(path)
            .await
            .iter()
            .map(|r| r[field].as_str().unwrap_or_default().to_owned())
            .collect();
        v.sort();
        v
    }
}

/// `422 VALIDATION_FAILED` naming `field` in `Details[0].Field`.
fn assert_unknown_field(answer: &(u16, Value), field: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 422, "{field}: {body}");
    assert_eq!(body["Error"]["Code"], "VALIDATION_FAILED", "{body}");
    assert_eq!(body["Error"]["Message"], "Unknown field", "{body}");
    assert_eq!(body["Error"]["Details"][0]["Field"], field, "{body}");
    assert!(body["Error"]["RequestId"].is_string(), "{body}");
}

/// `400 BAD_REQUEST` naming the query parameter in `Details[0].Field`.
fn assert_bad_query(path: &str, answer: &(u16, Value), param: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{path}: {body}");
    assert_eq!(body["Error"]["Code"], "BAD_REQUEST", "{path}: {body}");
    assert_eq!(
        body["Error"]["Details"][0]["Field"], param,
        "{path}: {body}"
    );
}

#[tokio::test]
async fn every_record_answers_the_spec_field_list_with_its_types() {
    let sim = spawn_sim().await;
    use reqwest::Method;

    // Orders: the 201 answer, the read and the list.
    let (status, created) = sim
        .send(
            Method::POST,
            "/orders",
            Some("f-1"),
            None,
            Some(&order("CO-F1")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_order_fields("created order", &created);
    let no = created["SalesOrderNo"].as_str().unwrap().to_owned();
    assert_order_fields("order", &sim.get(&format!("/orders/{no}")).await);
    let mut without_external = order("CO-F2");
    without_external
        .as_object_mut()
        .unwrap()
        .remove("ExternalOrderId");
    let (status, bare) = sim
        .send(
            Method::POST,
            "/orders",
            Some("f-2"),
            None,
            Some(&without_external),
        )
        .await;
    assert_eq!(status, 201, "{bare}");
    assert_order_fields("order without ExternalOrderId", &bare);
    assert_eq!(bare["ExternalOrderId"], Value::Null, "null where empty");
    for o in sim.list("/orders").await {
        assert_order_fields("listed order", &o);
    }

    // Products, customers (seeded and created) and stock.
    assert_fields("product", &sim.get("/products/SKU-1001").await, PRODUCT);
    for p in sim.list("/products").await {
        assert_fields("listed product", &p, PRODUCT);
    }
    let customer = sim.get("/customers/CUS-5001").await;
    assert_fields("customer", &customer, CUSTOMER);
    assert_fields(
        "customer.BillToAddress",
        &customer["BillToAddress"],
        ADDRESS,
    );
    assert_fields(
        "customer.ShipToAddress",
        &customer["ShipToAddress"],
        ADDRESS,
    );
    let (status, new_customer) = sim
        .send(
            Method::POST,
            "/customers",
            Some("f-3"),
            None,
            Some(&json!({"Contact": "Fay Fields", "Email": "fay@example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{new_customer}");
    assert_fields("created customer", &new_customer, CUSTOMER);
    assert_fields(
        "created customer.BillToAddress",
        &new_customer["BillToAddress"],
        ADDRESS,
    );
    for c in sim.list("/customers").await {
        assert_fields("listed customer", &c, CUSTOMER);
        assert_fields(
            "listed customer.ShipToAddress",
            &c["ShipToAddress"],
            ADDRESS,
        );
    }
    assert_fields(
        "stock",
        &sim.get("/inventory/SKU-1001/MAIN").await,
        INVENTORY,
    );
    let item_stock = sim.get("/inventory/SKU-1001").await;
    assert_eq!(item_stock.as_array().unwrap().len(), 3, "every warehouse");
    for s in item_stock.as_array().unwrap() {
        assert_fields("item stock", s, INVENTORY);
    }
    for s in sim.list("/inventory?ItemCode=SKU-1001").await {
        assert_fields("listed stock", &s, INVENTORY);
    }

    // Invoices: from the order, and a credit memo (its lines add Restock,
    // and it names the invoice it applies to).
    let (status, invoice) = sim
        .send(
            Method::POST,
            "/invoices",
            Some("f-4"),
            None,
            Some(&json!({"SalesOrderNo": no, "InvoiceDate": "2024-06-02"})),
        )
        .await;
    assert_eq!(status, 201, "{invoice}");
    assert_fields("invoice", &invoice, INVOICE);
    assert_fields("invoice.ShipToAddress", &invoice["ShipToAddress"], ADDRESS);
    assert_fields("invoice line", &invoice["LineItems"][0], LINE);
    let (status, memo) = sim
        .send(
            Method::POST,
            "/invoices",
            Some("f-5"),
            None,
            Some(&json!({ "InvoiceType": "CreditMemo", "CustomerNo": "CUS-5001", "InvoiceDate": "2024-06-05",
              "AppliesToInvoiceNo": invoice["InvoiceNo"], "CustomerPO": "RMA-5501",
              "LineItems": [ { "ItemCode": "SKU-1002", "Quantity": -1, "UnitPrice": 19.99, "TaxAmount": -1.60, "Restock": true } ] })),
        )
        .await;
    assert_eq!(status, 201, "{memo}");
    let mut memo_spec = INVOICE.to_vec();
    memo_spec.push(("AppliesToInvoiceNo", "string"));
    assert_fields("credit memo", &memo, &memo_spec);
    assert_eq!(memo["SalesOrderNo"], Value::Null);
    let mut credit_line = LINE.to_vec();
    credit_line.push(("Restock", "bool"));
    assert_fields("credit memo line", &memo["LineItems"][0], &credit_line);
    let listed = sim.list("/invoices").await;
    assert_eq!(listed.len(), 2);
    assert_fields("listed invoice", &listed[0], INVOICE);
    assert_fields("listed credit memo", &listed[1], &memo_spec);
}

#[tokio::test]
async fn every_writable_field_is_taken_and_an_unknown_one_is_refused() {
    let sim = spawn_sim().await;
    use reqwest::Method;
    let address = |name: &str| {
        json!({ "Name": name, "Address1": "1 Main St", "Address2": "Suite 4", "City": "Austin", "State": "TX",
                "Zip": "78701", "Country": "US", "Phone": "512-555-0199", "Email": "dock@example.com" })
    };

    // An order naming every writable field (§3.1, §2), and the read-only
    // ones, which are ignored.
    let full = json!({
        "CustomerNo": "cus-5001", "OrderDate": "2024-06-03", "OrderType": "Bid", "CustomerPO": "PO-W1",
        "ExternalOrderId": "clarity:W-1", "ShipToAddress": address("Dock"), "BillToAddress": address("Office"),
        "LineItems": [ { "ItemCode": "sku-1002", "Description": "Blue widget", "Quantity": 1.5, "UnitPrice": 10,
                         "TaxAmount": 0.5, "Discount": 1, "Warehouse": "west",
                         "LineNo": 7, "ExtendedAmount": 1, "QtyShipped": 3 } ],
        "FreightAmount": 4.5, "TotalAmount": 19, "PaymentTerms": "cod", "ShipVia": "UPS GROUND",
        "SalesRep": "js", "Notes": "Leave at the dock",
        "Status": "Closed", "TaxTotal": 99, "RowVersion": 9, "LastModified": "2020-01-01T00:00:00Z"
    });
    let (status, o) = sim
        .send(Method::POST, "/orders", Some("w-1"), None, Some(&full))
        .await;
    assert_eq!(status, 201, "{o}");
    for (field, want) in [
        ("CustomerNo", json!("CUS-5001")),
        ("OrderDate", json!("2024-06-03")),
        ("OrderType", json!("Bid")),
        ("CustomerPO", json!("PO-W1")),
        ("ExternalOrderId", json!("clarity:W-1")),
        ("ShipToAddress", address("Dock")),
        ("BillToAddress", address("Office")),
        ("FreightAmount", json!(4.5)),
        ("TaxTotal", json!(0.5)),
        ("TotalAmount", json!(19)),
        ("PaymentTerms", json!("COD")),
        ("ShipVia", json!("UPS GROUND")),
        ("SalesRep", json!("JS")),
        ("Notes", json!("Leave at the dock")),
        ("RowVersion", json!(1)),
    ] {
        assert_eq!(o[field], want, "{field}: {o}");
    }
    assert!(["Open", "Backordered"].contains(&o["Status"].as_str().unwrap()));
    let line = &o["LineItems"][0];
    for (field, want) in [
        ("LineNo", json!(1)),
        ("ItemCode", json!("SKU-1002")),
        ("Description", json!("Blue widget")),
        ("Quantity", json!(1.5)),
        ("UnitPrice", json!(10)),
        ("TaxAmount", json!(0.5)),
        ("Discount", json!(1)),
        ("Warehouse", json!("WEST")),
        ("ExtendedAmount", json!(14)),
        ("QtyShipped", json!(0)),
    ] {
        assert_eq!(line[field], want, "LineItems[0].{field}: {o}");
    }
    // PUT replaces them all the same way.
    let no = o["SalesOrderNo"].as_str().unwrap().to_owned();
    let mut replaced = full.clone();
    replaced["OrderType"] = json!("Standard");
    replaced["Notes"] = json!("Ring first");
    let (status, put) = sim
        .send(
            Method::PUT,
            &format!("/orders/{no}"),
            None,
            Some("\"1\""),
            Some(&replaced),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        (&put["OrderType"], &put["Notes"], &put["RowVersion"]),
        (&json!("Standard"), &json!("Ring first"), &json!(2))
    );

    // An unknown name, at any depth and in any case, is refused, not dropped.
    for (key, body, field) in [
        (
            "w-u1",
            {
                let mut b = order("CO-U1");
                b["Colour"] = json!("red");
                b
            },
            "Colour",
        ),
        (
            "w-u2",
            {
                let mut b = order("CO-U2");
                b["LineItems"][0]["Colour"] = json!("red");
                b
            },
            "LineItems[0].Colour",
        ),
        (
            "w-u3",
            {
                let mut b = order("CO-U3");
                b["ShipToAddress"]["Address3"] = json!("x");
                b
            },
            "ShipToAddress.Address3",
        ),
        (
            "w-u4",
            {
                let mut b = order("CO-U4");
                b["customerPO"] = json!("CO-U4");
                b
            },
            "customerPO",
        ),
    ] {
        let answer = sim
            .send(Method::POST, "/orders", Some(key), None, Some(&body))
            .await;
        assert_unknown_field(&answer, field);
    }
    let mut bad_put = replaced.clone();
    bad_put["Priority"] = json!(1);
    let answer = sim
        .send(
            Method::PUT,
            &format!("/orders/{no}"),
            None,
            None,
            Some(&bad_put),
        )
        .await;
    assert_unknown_field(&answer, "Priority");

    // A product's editable fields (§3.2); Cost is read-only and ignored.
    let editable = json!({
        "Description": "RED WIDGET", "ExtendedDescription": "A red widget", "Price": 21.5, "UnitOfMeasure": "bx",
        "Weight": 1.25, "ProductLine": "red", "Taxable": false, "Status": "Inactive", "DefaultWarehouse": "east",
        "WebEnabled": false
    });
    let before = sim.get("/products/SKU-1003").await;
    let mut body = editable.clone();
    body["Cost"] = json!(0.01);
    body["ItemCode"] = json!("SKU-1003");
    let (status, p) = sim
        .send(Method::PUT, "/products/SKU-1003", None, None, Some(&body))
        .await;
    assert_eq!(status, 200, "{p}");
    for (field, want) in [
        ("Description", json!("RED WIDGET")),
        ("ExtendedDescription", json!("A red widget")),
        ("Price", json!(21.5)),
        ("UnitOfMeasure", json!("BX")),
        ("Weight", json!(1.25)),
        ("ProductLine", json!("RED")),
        ("Taxable", json!(false)),
        ("Status", json!("Inactive")),
        ("DefaultWarehouse", json!("EAST")),
        ("WebEnabled", json!(false)),
        ("Cost", before["Cost"].clone()),
    ] {
        assert_eq!(p[field], want, "{field}: {p}");
    }
    let answer = sim
        .send(
            Method::PUT,
            "/products/SKU-1003",
            None,
            None,
            Some(&json!({"Colour": "red"})),
        )
        .await;
    assert_unknown_field(&answer, "Colour");

    // A customer's writable fields (§3.3); Balance is read-only.
    let new = json!({
        "CustomerNo": "wide01", "Company": "Wide Fields Ltd", "Contact": "Wanda Wide", "Email": "wanda@wide.example",
        "Phone": "512-555-0123", "BillToAddress": address("Wide Fields Ltd"), "ShipToAddress": address("Wide dock"),
        "PaymentTerms": "2/10net30", "TaxCode": "tx", "CreditLimit": 2500, "OnHold": true, "Status": "Inactive",
        "ExternalCustomerId": "CUS-9999", "Balance": 77
    });
    let (status, c) = sim
        .send(Method::POST, "/customers", Some("w-c1"), None, Some(&new))
        .await;
    assert_eq!(status, 201, "{c}");
    for (field, want) in [
        ("CustomerNo", json!("WIDE01")),
        ("Company", json!("Wide Fields Ltd")),
        ("Contact", json!("Wanda Wide")),
        ("Email", json!("wanda@wide.example")),
        ("Phone", json!("512-555-0123")),
        ("BillToAddress", address("Wide Fields Ltd")),
        ("ShipToAddress", address("Wide dock")),
        ("PaymentTerms", json!("2/10NET30")),
        ("TaxCode", json!("TX")),
        ("CreditLimit", json!(2500)),
        ("Balance", json!(0)),
        ("OnHold", json!(true)),
        ("Status", json!("Inactive")),
        ("ExternalCustomerId", json!("CUS-9999")),
    ] {
        assert_eq!(c[field], want, "{field}: {c}");
    }
    let (status, c) = sim
        .send(
            Method::PUT,
            "/customers/WIDE01",
            Some("w-c2"),
            Some("\"1\""),
            Some(&json!({"OnHold": false, "Status": "Active", "CreditLimit": 100})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (&c["OnHold"], &c["Status"], &c["CreditLimit"]),
        (&json!(false), &json!("Active"), &json!(100))
    );
    let answer = sim
        .send(
            Method::POST,
            "/customers",
            Some("w-c3"),
            None,
            Some(&json!({"Contact": "Una Known", "BillToAddress": {"Street": "1 Main"}})),
        )
        .await;
    assert_unknown_field(&answer, "BillToAddress.Street");

    // A physical count (§3.4): QtyOnHand, Reason, Reference.
    let stock = sim.get("/inventory/SKU-1001/MAIN").await;
    let etag = format!("\"{}\"", stock["RowVersion"]);
    let answer = sim
        .send(
            Method::PUT,
            "/inventory/SKU-1001/MAIN",
            None,
            Some(&etag),
            Some(&json!({"QtyOnHand": 40, "Reason": "CYCLE", "Reference": "REF-1", "Bin": "A1"})),
        )
        .await;
    assert_unknown_field(&answer, "Bin");
    let (status, counted) = sim
        .send(
            Method::PUT,
            "/inventory/SKU-1001/MAIN",
            None,
            Some(&etag),
            Some(&json!({"QtyOnHand": 40, "Reason": "cycle", "Reference": "REF-1"})),
        )
        .await;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(counted["QtyOnHand"], 40);

    // Invoices (§3.5): the from-order body's Lines, the direct one's fields.
    let answer = sim
        .send(
            Method::POST,
            "/invoices",
            Some("w-i1"),
            None,
            Some(&json!({"SalesOrderNo": no, "Lines": [{"LineNo": 1, "QtyShipped": 1, "Serial": "X"}]})),
        )
        .await;
    assert_unknown_field(&answer, "Lines[0].Serial");
    let (status, direct) = sim
        .send(
            Method::POST,
            "/invoices",
            Some("w-i2"),
            None,
            Some(&json!({
                "InvoiceType": "Invoice", "CustomerNo": "cus-5001", "InvoiceDate": "2024-06-04", "CustomerPO": "PO-D1",
                "ShipToAddress": address("Dock"), "BillToAddress": address("Office"), "FreightAmount": 2,
                "PaymentTerms": "net30",
                "LineItems": [ { "ItemCode": "SKU-1002", "Description": "Widget", "Quantity": 1, "UnitPrice": 10,
                                 "TaxAmount": 0.8, "Discount": 0.5, "Warehouse": "MAIN" } ]
            })),
        )
        .await;
    assert_eq!(status, 201, "{direct}");
    for (field, want) in [
        ("InvoiceType", json!("Invoice")),
        ("CustomerNo", json!("CUS-5001")),
        ("InvoiceDate", json!("2024-06-04")),
        ("DueDate", json!("2024-07-04")),
        ("CustomerPO", json!("PO-D1")),
        ("ShipToAddress", address("Dock")),
        ("BillToAddress", address("Office")),
        ("FreightAmount", json!(2)),
        ("TaxTotal", json!(0.8)),
        ("TotalAmount", json!(12.3)),
        ("PaymentTerms", json!("NET30")),
    ] {
        assert_eq!(direct[field], want, "{field}: {direct}");
    }
    assert_eq!(direct["LineItems"][0]["Description"], "Widget");
    assert_eq!(direct["LineItems"][0]["Discount"], json!(0.5));
    let answer = sim
        .send(
            Method::POST,
            "/invoices",
            Some("w-i3"),
            None,
            Some(&json!({"SalesOrderNo": no, "ShipDate": "2024-06-05"})),
        )
        .await;
    assert_unknown_field(&answer, "ShipDate");
}

#[tokio::test]
async fn every_list_filter_of_the_spec_works_and_anything_else_is_a_bad_query() {
    let sim = spawn_sim().await;
    use reqwest::Method;
    // A seeded record's LastModified is 30 days old: ModifiedSince from now
    // lists only what the test changes.
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    // Orders: two customers, two dates, one invoiced.
    let mut a = order("CO-FA");
    a["OrderDate"] = json!("2024-06-01");
    let mut b = order("CO-FB");
    b["CustomerNo"] = json!("CUS-5002");
    b["OrderDate"] = json!("2024-06-10");
    b.as_object_mut().unwrap().remove("ShipToAddress");
    b.as_object_mut().unwrap().remove("BillToAddress");
    let mut c = order("CO-FC");
    c["OrderDate"] = json!("2024-06-20");
    let mut nos = Vec::new();
    for (key, body) in [("fl-a", &a), ("fl-b", &b), ("fl-c", &c)] {
        let (status, o) = sim
            .send(Method::POST, "/orders", Some(key), None, Some(body))
            .await;
        assert_eq!(status, 201, "{o}");
        nos.push(o["SalesOrderNo"].as_str().unwrap().to_owned());
    }
    let (status, inv) = sim
        .send(
            Method::POST,
            "/invoices",
            Some("fl-i"),
            None,
            Some(&json!({"SalesOrderNo": nos[2], "InvoiceDate": "2024-06-21"})),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    let all: Vec<String> = nos.clone();
    let just = |i: &[usize]| i.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
    for (query, want) in [
        ("CustomerNo=cus-5001".to_owned(), just(&[0, 2])),
        ("CustomerNo=CUS-5002".to_owned(), just(&[1])),
        (
            "CustomerNo=CUS-5001&CustomerNo=CUS-5002".to_owned(),
            just(&[0, 1, 2]),
        ),
        ("Status=Invoiced".to_owned(), just(&[2])),
        ("Status=Open&Status=Backordered".to_owned(), just(&[0, 1])),
        ("OrderDateFrom=2024-06-05".to_owned(), just(&[1, 2])),
        ("OrderDateTo=2024-06-10".to_owned(), just(&[0, 1])),
        (
            "OrderDateFrom=2024-06-10&OrderDateTo=2024-06-10".to_owned(),
            just(&[1]),
        ),
        ("CustomerPO=CO-FB".to_owned(), just(&[1])),
        ("ExternalOrderId=clarity:CO-FC".to_owned(), just(&[2])),
        (
            format!("ModifiedSince={}", since.replace(':', "%3A")),
            just(&[0, 1, 2]),
        ),
        ("ModifiedSince=2999-01-01T00:00:00Z".to_owned(), vec![]),
    ] {
        assert_eq!(
            sim.listed(&format!("/orders?{query}"), "SalesOrderNo")
                .await,
            want,
            "/orders?{query}"
        );
    }

    // Products: one made Inactive and moved to another product line.
    let (status, p) = sim
        .send(
            Method::PUT,
            "/products/SKU-1104",
            None,
            None,
            Some(&json!({"Status": "Inactive", "ProductLine": "ZZZ"})),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let products = sim.list("/products").await;
    let line = products[0]["ProductLine"].as_str().unwrap().to_owned();
    let of_line: Vec<String> = {
        let mut v: Vec<String> = products
            .iter()
            .filter(|p| p["ProductLine"] == line.as_str())
            .map(|p| p["ItemCode"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert!(!of_line.is_empty() && of_line.len() < 200);
    let starts: Vec<String> = (1100..=1109).map(|n| format!("SKU-{n}")).collect();
    for (query, want) in [
        ("ItemCode=sku-1001".to_owned(), vec!["SKU-1001".to_owned()]),
        (
            "ItemCode=SKU-1001&ItemCode=SKU-1002".to_owned(),
            vec!["SKU-1001".to_owned(), "SKU-1002".to_owned()],
        ),
        ("ItemCodeStartsWith=sku-110".to_owned(), starts.clone()),
        ("Status=Inactive".to_owned(), vec!["SKU-1104".to_owned()]),
        ("ProductLine=zzz".to_owned(), vec!["SKU-1104".to_owned()]),
        (format!("ProductLine={line}"), of_line.clone()),
        (
            "ItemCodeStartsWith=SKU-110&Status=Active".to_owned(),
            starts
                .iter()
                .filter(|c| *c != "SKU-1104")
                .cloned()
                .collect(),
        ),
        (
            format!("ModifiedSince={}", since.replace(':', "%3A")),
            vec!["SKU-1104".to_owned()],
        ),
    ] {
        assert_eq!(
            sim.listed(&format!("/products?{query}"), "ItemCode").await,
            want,
            "/products?{query}"
        );
    }
    assert_eq!(sim.list("/products?Status=Active").await.len(), 199);

    // Customers: NameContains reads the company and the contact, nothing else.
    let (status, _) = sim
        .send(
            Method::POST,
            "/customers",
            Some("fl-c1"),
            None,
            Some(&json!({"CustomerNo": "QUUX01", "Contact": "Zed Quux", "Company": "Nameless Works",
                         "Email": "Zed@Quux.example", "BillToAddress": {"Name": "Zed", "Address1": "1 Elm", "City": "Xylo Springs"}})),
        )
        .await;
    assert_eq!(status, 201);
    for (query, want) in [
        ("CustomerNo=quux01", vec!["QUUX01"]),
        (
            "CustomerNo=QUUX01&CustomerNo=CUS-5001",
            vec!["CUS-5001", "QUUX01"],
        ),
        ("Email=zed@quux.example", vec!["QUUX01"]),
        ("NameContains=QUUX", vec!["QUUX01"]),
        ("NameContains=nameless", vec!["QUUX01"]),
        ("NameContains=Xylo", vec![]),
        ("NameContains=example", vec![]),
        ("NameContains=Zed&Email=nobody@example.com", vec![]),
    ] {
        assert_eq!(
            sim.listed(&format!("/customers?{query}"), "CustomerNo")
                .await,
            want,
            "/customers?{query}"
        );
    }
    let since_q = since.replace(':', "%3A");
    assert_eq!(
        sim.listed(&format!("/customers?ModifiedSince={since_q}"), "CustomerNo")
            .await,
        ["QUUX01"]
    );

    // Inventory: by item, warehouse and change (the three orders moved MAIN).
    let pairs = |rows: Vec<Value>| {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["ItemCode"].as_str().unwrap(),
                    r["Warehouse"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        pairs(sim.list("/inventory?ItemCode=sku-1001").await),
        ["SKU-1001/EAST", "SKU-1001/MAIN", "SKU-1001/WEST"]
    );
    assert_eq!(
        pairs(
            sim.list("/inventory?ItemCode=SKU-1001&Warehouse=west")
                .await
        ),
        ["SKU-1001/WEST"]
    );
    assert_eq!(sim.list("/inventory?Warehouse=EAST").await.len(), 200);
    assert_eq!(
        pairs(
            sim.list(&format!("/inventory?ModifiedSince={since_q}"))
                .await
        ),
        ["SKU-1002/MAIN"]
    );

    // Invoices: the one from order C, and a credit memo.
    let (status, memo) = sim
        .send(
            Method::POST,
            "/invoices",
            Some("fl-m"),
            None,
            Some(&json!({ "InvoiceType": "CreditMemo", "CustomerNo": "CUS-5002", "InvoiceDate": "2024-07-01",
              "LineItems": [ { "ItemCode": "SKU-1002", "Quantity": -1, "UnitPrice": 19.99 } ] })),
        )
        .await;
    assert_eq!(status, 201, "{memo}");
    let invoice_no = inv["InvoiceNo"].as_str().unwrap().to_owned();
    let memo_no = memo["InvoiceNo"].as_str().unwrap().to_owned();
    for (query, want) in [
        ("CustomerNo=cus-5001".to_owned(), vec![invoice_no.clone()]),
        (format!("SalesOrderNo={}", nos[2]), vec![invoice_no.clone()]),
        (
            "Status=Open".to_owned(),
            vec![invoice_no.clone(), memo_no.clone()],
        ),
        ("Status=Paid".to_owned(), vec![]),
        ("InvoiceType=CreditMemo".to_owned(), vec![memo_no.clone()]),
        ("InvoiceType=Invoice".to_owned(), vec![invoice_no.clone()]),
        (
            "InvoiceDateFrom=2024-06-22".to_owned(),
            vec![memo_no.clone()],
        ),
        (
            "InvoiceDateTo=2024-06-21".to_owned(),
            vec![invoice_no.clone()],
        ),
        (
            "InvoiceDateFrom=2024-06-21&InvoiceDateTo=2024-07-01".to_owned(),
            vec![invoice_no.clone(), memo_no.clone()],
        ),
        (
            format!("ModifiedSince={since_q}"),
            vec![invoice_no.clone(), memo_no.clone()],
        ),
    ] {
        assert_eq!(
            sim.listed(&format!("/invoices?{query}"), "InvoiceNo").await,
            want,
            "/invoices?{query}"
        );
    }

    // A parameter no list of that endpoint takes, or a bad value: 400
    // BAD_REQUEST naming it (spec §1: a malformed query string).
    for (path, param) in [
        ("/orders?Colour=red", "Colour"),
        ("/orders?ItemCode=SKU-1001", "ItemCode"),
        ("/orders?Status=Shipped", "Status"),
        ("/orders?OrderDateFrom=06/01/2024", "OrderDateFrom"),
        ("/orders?ModifiedSince=yesterday", "ModifiedSince"),
        ("/orders?Page=0", "Page"),
        ("/products?Warehouse=MAIN", "Warehouse"),
        ("/products?Status=Discontinued", "Status"),
        ("/customers?Status=Active", "Status"),
        ("/customers?Name=Doe", "Name"),
        ("/inventory?Status=Active", "Status"),
        ("/inventory?PageSize=x", "PageSize"),
        ("/invoices?InvoiceType=Memo", "InvoiceType"),
        ("/invoices?InvoiceDateTo=2024-13-01", "InvoiceDateTo"),
        ("/invoices?OrderDateFrom=2024-06-01", "OrderDateFrom"),
    ] {
        let answer = sim.send(Method::GET, path, None, None, None).await;
        assert_bad_query(path, &answer, param);
    }
    // Names are matched in any case, values of enums too.
    assert_eq!(sim.list("/orders?status=invoiced").await.len(), 1);
    assert_eq!(sim.list("/products?itemcode=SKU-1001").await.len(), 1);
}
