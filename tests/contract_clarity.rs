//! Contract tests: the Clarity connector against the Clarity simulator over
//! real HTTP on a local port, a fresh SQLite database per test, and signed
//! webhook deliveries to a receiver the test runs itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use connect::db::Db;
use connect::sandbox::clarity::{self, DispatcherConfig, PayloadMode};
use connect::sandbox::{
    FaultKind, FaultRegistry, FaultSettings, SandboxCredentials, SandboxState, ScriptedFault,
    SimSystem,
};
use connect_jobs::connectors::clarity::signature;
use connect_jobs::connectors::clarity::wire::{
    Coupon, Customer, InventoryAdjustment, InventoryLevels, InventoryRecord, InventorySet,
    NewReturn, NewShipment, Order, Product, ReturnLine,
};
use connect_jobs::connectors::clarity::{
    Changes, ClarityClient, ClarityConfig, Created, Cursor, ListQuery,
};
use connect_jobs::connectors::{ConnectorError, CountingGate};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
    clarity::seed(&mut tx, &pair_id).await.expect("seed");
    tx.commit().await.expect("commit");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = SandboxState {
        db,
        faults: Arc::new(FaultRegistry::new()),
        http: connect_jobs::connectors::http::client(Default::default()),
        self_url: base.clone().into(),
        memo: Default::default(),
    };
    let app = axum::Router::new().nest("/sandbox/clarity", clarity::router(state.clone()));
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
    fn store_url(&self) -> String {
        format!("{}/sandbox/clarity/{}", self.base, self.pair_id)
    }

    fn client(&self) -> ClarityClient {
        self.client_with_secret(&self.creds.clarity_client_secret)
    }

    fn client_with_secret(&self, secret: &str) -> ClarityClient {
        ClarityClient::new(
            ClarityConfig::new(
                &self.store_url(),
                &self.creds.clarity_client_id,
                SecretString::from(secret.to_owned()),
            ),
            connect_jobs::connectors::http::client(Default::default()),
            self.meter.clone(),
        )
    }

    /// The next `count` calls fail with `fault`; a held one (timeout) is
    /// held `hang_ms`, or the registry's default when `None`.
    async fn script_faults(&self, fault: FaultKind, count: u32, hang_ms: Option<u64>) {
        let defaults = FaultSettings::default();
        self.set_faults(FaultSettings {
            script: vec![ScriptedFault { fault, count }],
            hang_ms: hang_ms.unwrap_or(defaults.hang_ms),
            ..defaults
        })
        .await;
    }

    async fn set_faults(&self, settings: FaultSettings) {
        self.state
            .faults
            .set(&self.state.db, &self.pair_id, SimSystem::Clarity, settings)
            .await
            .expect("faults");
    }

    /// A control route (`/__sim/…`) called with the store's own client credentials.
    fn control(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}/__sim/{path}", self.store_url()))
            .basic_auth(
                &self.creds.clarity_client_id,
                Some(&self.creds.clarity_client_secret),
            )
    }

    /// A bearer token fetched by hand, for calls the connector does not make.
    async fn raw_token(&self) -> String {
        let r: Value = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.store_url()))
            .basic_auth(
                &self.creds.clarity_client_id,
                Some(&self.creds.clarity_client_secret),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        r["access_token"].as_str().expect("access_token").to_owned()
    }
}

/// A webhook receiver that verifies nothing itself: it hands every request to
/// the test and answers with the status the test chose for that attempt.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>,
}

async fn spawn_receiver(fail_first: usize) -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            let seen = seen.clone();
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send((headers, body.to_vec()));
                if n < fail_first {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Receiver { url, rx }
}

impl Receiver {
    async fn next(&mut self) -> (HeaderMap, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(15), self.rx.recv())
            .await
            .expect("a delivery within 15 s")
            .expect("receiver open")
    }
}

/// Waits (bounded) until `n` deliveries are marked delivered: the receiver
/// sees a request before the dispatcher records its answer.
async fn wait_delivered(sim: &Sim, n: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (done,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sim_clarity_deliveries WHERE status = 'delivered'",
        )
        .fetch_one(sim.state.db.pool())
        .await
        .unwrap();
        if done >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{done} of {n} delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn now_unix() -> i64 {
    connect::db::now_ms() / 1000
}

#[tokio::test]
async fn a_token_is_cached_and_renewed_once_after_a_401() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let detail = client.test_connection().await.expect("connection test");
    assert!(
        detail.starts_with("signed in as client ") && detail.contains("(scopes "),
        "{detail}"
    );
    assert!(detail.ends_with("; 0 orders visible"), "{detail}");
    assert_eq!(sim.meter.calls(), 2, "one token request, one read");

    client
        .list_orders(&ListQuery::default())
        .await
        .expect("list");
    assert_eq!(sim.meter.calls(), 3, "the cached token is reused");

    // The store forgets every token: the next call gets 401, one new token, one retry.
    sqlx::query("DELETE FROM sim_clarity_tokens")
        .execute(sim.state.db.pool())
        .await
        .unwrap();
    client
        .list_orders(&ListQuery::default())
        .await
        .expect("list after 401");
    assert_eq!(sim.meter.calls(), 6, "401, token, retry");
    client
        .list_orders(&ListQuery::default())
        .await
        .expect("list");
    assert_eq!(sim.meter.calls(), 7);
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_authentication_error() {
    let sim = spawn_sim().await;
    let err = sim
        .client_with_secret("cs_wrong")
        .test_connection()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn an_api_call_without_a_valid_token_is_401_with_www_authenticate() {
    let sim = spawn_sim().await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/orders", sim.store_url()))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn a_token_without_the_scope_is_403() {
    let sim = spawn_sim().await;
    let mut config = ClarityConfig::new(
        &sim.store_url(),
        &sim.creds.clarity_client_id,
        SecretString::from(sim.creds.clarity_client_secret.clone()),
    );
    config.scopes = vec!["products:read".into()];
    let client = ClarityClient::new(
        config,
        reqwest::Client::new(),
        Arc::new(connect_jobs::connectors::OpenGate),
    );
    let err = client.get_order("CO-100001").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn orders_page_to_the_end_in_a_stable_order_and_balance() {
    let sim = spawn_sim().await;
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 137, PayloadMode::Full)
        .await
        .expect("orders");
    assert_eq!(ids.len(), 137);
    assert_eq!(ids[0], "CO-100001");
    assert_eq!(ids[136], "CO-100137");
    let client = sim.client();

    let mut seen = Vec::new();
    let mut index = 0;
    loop {
        let page = client
            .list_orders(&ListQuery {
                page_size: Some(50),
                page_index: Some(index),
                sort: Some("updatedDate:asc,orderId:asc".into()),
                ..ListQuery::default()
            })
            .await
            .expect("page");
        assert_eq!(page.total_count, 137);
        assert_eq!(page.page_index, index);
        for o in &page.results {
            let order: Order = serde_json::from_value(o.clone()).expect("an Order");
            assert!(order.totals_balance(), "{order:?}");
            seen.push(order.order_id);
        }
        if !page.has_more {
            break;
        }
        index += 1;
    }
    assert_eq!(index, 2);
    assert_eq!(
        seen, ids,
        "every order once, in id order (same updatedDate)"
    );

    let one = client.get_order("CO-100042").await.expect("get");
    assert_eq!(one["orderId"], "CO-100042");
    assert_eq!(one["version"], 1);
    assert!(one["customerId"].as_str().unwrap().starts_with("CUS-50"));
    assert!(
        one["lineItems"][0]["sku"]
            .as_str()
            .unwrap()
            .starts_with("SKU-1")
    );

    let err = client.get_order("CO-999999").await.unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");

    let later = client
        .list_orders(&ListQuery {
            updated_date_min: Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1)),
            ..ListQuery::default()
        })
        .await
        .expect("filtered");
    assert_eq!(later.total_count, 0);
    let earlier = client
        .list_orders(&ListQuery {
            updated_date_min: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(2)),
            status: vec!["processing".into()],
            page_size: Some(1),
            ..ListQuery::default()
        })
        .await
        .expect("filtered");
    assert_eq!(earlier.total_count, 137);
    assert!(earlier.has_more);
    let cancelled = client
        .list_orders(&ListQuery {
            status: vec!["cancelled".into()],
            ..ListQuery::default()
        })
        .await
        .expect("filtered");
    assert_eq!(cancelled.total_count, 0);
}

#[tokio::test]
async fn created_orders_are_delivered_as_signed_webhooks() {
    let sim = spawn_sim().await;
    let mut receiver = spawn_receiver(0).await;
    let client = sim.client();
    let sub = client
        .register_webhook(&receiver.url, &["order.created"])
        .await
        .expect("subscription");
    assert!(sub.id.starts_with("wh_"));
    assert!(sub.secret.expose_secret().starts_with("whsec_"));
    assert_eq!(sub.events, vec!["order.created".to_owned()]);

    let shutdown = CancellationToken::new();
    let dispatcher = clarity::spawn_dispatcher(sim.state.clone(), shutdown.clone());
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 3, PayloadMode::Full)
        .await
        .expect("orders");
    let mut got = Vec::new();
    for _ in 0..3 {
        let (headers, body) = receiver.next().await;
        let header = headers[signature::SIGNATURE_HEADER].to_str().unwrap();
        let t = signature::verify(
            header,
            &body,
            &[sub.secret.expose_secret()],
            now_unix(),
            signature::DEFAULT_TOLERANCE_SECS,
        )
        .expect("the signature verifies");
        assert_eq!(
            headers[signature::TIMESTAMP_HEADER].to_str().unwrap(),
            t.to_string()
        );
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(headers[signature::ID_HEADER].to_str().unwrap(), event["id"]);
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(event["type"], "order.created");
        assert_eq!(event["attempt"], 1);
        let order: Order = serde_json::from_value(event["data"]["object"].clone()).unwrap();
        got.push(order.order_id);
        // A tampered body does not verify.
        let mut tampered = body.clone();
        tampered[0] = b' ';
        assert_eq!(
            signature::verify(
                header,
                &tampered,
                &[sub.secret.expose_secret()],
                now_unix(),
                300
            ),
            Err(signature::SignatureError::Mismatch)
        );
    }
    got.sort();
    assert_eq!(got, ids);

    // Id-only payloads carry just the order id.
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 1, PayloadMode::IdOnly)
        .await
        .unwrap();
    let (_, body) = receiver.next().await;
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["data"]["object"], json!({ "orderId": ids[0] }));

    wait_delivered(&sim, 4).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), dispatcher)
        .await
        .expect("the dispatcher stops promptly")
        .expect("no panic");

    let log: Value = sim
        .control(reqwest::Method::GET, "webhook-log")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = log["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|d| d["status"] == "delivered"));
    assert_eq!(results[0]["attemptLog"][0]["statusCode"], 204);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_its_attempt_number() {
    let sim = spawn_sim().await;
    let mut receiver = spawn_receiver(2).await;
    let sub = sim
        .client()
        .register_webhook(&receiver.url, &["order.created"])
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let config = DispatcherConfig {
        poll_interval: Duration::from_millis(20),
        retry_schedule: vec![Duration::from_millis(50)],
        ..DispatcherConfig::default()
    };
    let dispatcher = clarity::spawn_dispatcher_with(sim.state.clone(), shutdown.clone(), config);
    clarity::create_orders(&sim.state, &sim.pair_id, 1, PayloadMode::Full)
        .await
        .unwrap();
    let mut event_ids = Vec::new();
    for attempt in 1..=3 {
        let (headers, body) = receiver.next().await;
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["attempt"], attempt);
        signature::verify(
            headers[signature::SIGNATURE_HEADER].to_str().unwrap(),
            &body,
            &[sub.secret.expose_secret()],
            now_unix(),
            300,
        )
        .expect("every attempt is signed afresh");
        event_ids.push(event["id"].as_str().unwrap().to_owned());
    }
    assert!(
        event_ids.windows(2).all(|w| w[0] == w[1]),
        "same event id on every attempt"
    );
    wait_delivered(&sim, 1).await;
    shutdown.cancel();
    dispatcher.await.unwrap();
    let (status, attempts): (String, i64) =
        sqlx::query_as("SELECT status, attempts FROM sim_clarity_deliveries")
            .fetch_one(sim.state.db.pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("delivered", 3));
}

#[tokio::test]
async fn after_a_secret_rotation_both_secrets_sign() {
    let sim = spawn_sim().await;
    let mut receiver = spawn_receiver(0).await;
    let sub = sim
        .client()
        .register_webhook(&receiver.url, &["order.created", "ping"])
        .await
        .unwrap();
    let token = sim.raw_token().await;
    let rotated: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/webhooks/{}/rotate-secret",
            sim.store_url(),
            sub.id
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, sub.secret.expose_secret());

    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/webhooks/{}/test",
            sim.store_url(),
            sub.id
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // Driven synchronously: one pass of the dispatcher.
    let n = clarity::dispatch_due(&sim.state, &DispatcherConfig::default())
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (headers, body) = receiver.next().await;
    let header = headers[signature::SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(header.matches("v1=").count(), 2);
    for secret in [sub.secret.expose_secret(), new_secret.as_str()] {
        signature::verify(header, &body, &[secret], now_unix(), 300).expect("verifies");
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["type"], "ping");

    // Listing never shows a secret; deleting stops deliveries.
    let list: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/webhooks", sim.store_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["results"][0]["webhookId"], sub.id.as_str());
    assert!(list["results"][0].get("secret").is_none());
    sim.client().delete_webhook(&sub.id).await.expect("delete");
    clarity::create_orders(&sim.state, &sim.pair_id, 1, PayloadMode::Full)
        .await
        .unwrap();
    assert_eq!(
        clarity::dispatch_due(&sim.state, &DispatcherConfig::default())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn shipments_are_idempotent_and_move_the_order_status() {
    let sim = spawn_sim().await;
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 1, PayloadMode::Full)
        .await
        .unwrap();
    let client = sim.client();
    let order = client.get_order(&ids[0]).await.unwrap();
    let lines: Vec<Value> = order["lineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"lineId": l["lineId"], "sku": l["sku"], "quantity": l["quantity"]}))
        .collect();
    let shipment = json!({"carrier": "UPS", "service": "Ground", "trackingNumber": "1Z999",
        "shippedDate": "2024-06-02T15:00:00Z", "lines": lines});
    let first = client
        .create_shipment("ship-1", &ids[0], &shipment)
        .await
        .expect("shipment");
    let again = client
        .create_shipment("ship-1", &ids[0], &shipment)
        .await
        .expect("replay");
    assert_eq!(first["shipmentId"], again["shipmentId"]);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sim_clarity_shipments")
        .fetch_one(sim.state.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    let changed = json!({"carrier": "FedEx", "lines": []});
    let err = client
        .create_shipment("ship-1", &ids[0], &changed)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Refused { .. }), "{err:?}");

    let order = client.get_order(&ids[0]).await.unwrap();
    assert_eq!(order["status"], "shipped");
    assert_eq!(order["version"], 2);

    let patched = client
        .patch_order(
            &ids[0],
            &json!({"erpReferences": {"sagePro": {"salesOrderNo": "0001001"}}}),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched["erpReferences"]["sagePro"]["salesOrderNo"],
        "0001001"
    );
    assert_eq!(patched["version"], 3);
    let err = client
        .patch_order(&ids[0], &json!({"totalAmount": "1.00"}))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("totalAmount"));
}

#[tokio::test]
async fn injected_faults_map_to_transient_errors() {
    let sim = spawn_sim().await;
    let client = sim.client();
    client.test_connection().await.expect("healthy first");

    sim.set_faults(FaultSettings {
        error_rate: 1.0,
        ..FaultSettings::default()
    })
    .await;
    let err = client.list_orders(&ListQuery::default()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Server { .. }), "{err:?}");
    assert!(err.is_transient());

    sim.set_faults(FaultSettings {
        rate_limit_per_s: Some(1),
        ..FaultSettings::default()
    })
    .await;
    // Two calls inside one window: at least the second is refused.
    let a = client.list_orders(&ListQuery::default()).await;
    let b = client.list_orders(&ListQuery::default()).await;
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

// ---------------------------------------------------------------------------
// The store's other resources, error classes, idempotency and rate limits.

impl Sim {
    /// A client whose calls give up after `total` (for held answers).
    fn client_with_timeout(&self, total: Duration) -> ClarityClient {
        ClarityClient::new(
            ClarityConfig::new(
                &self.store_url(),
                &self.creds.clarity_client_id,
                SecretString::from(self.creds.clarity_client_secret.clone()),
            ),
            connect_jobs::connectors::http::client(connect_jobs::connectors::http::Timeouts {
                connect: Duration::from_secs(2),
                total,
            }),
            self.meter.clone(),
        )
    }

    /// Every event the store emitted, oldest first, as (type, payload).
    async fn events(&self) -> Vec<(String, Value)> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT event_type, payload FROM sim_clarity_events WHERE pair_id = $1 ORDER BY created_at, event_id",
        )
        .bind(&self.pair_id)
        .fetch_all(self.state.db.pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(t, p)| (t, serde_json::from_str(&p).unwrap()))
            .collect()
    }

    /// Every event type the store emitted, oldest first, without the
    /// `order.paid` that follows each order the random shopper paid by card
    /// (`placed_orders_paid_at_checkout_are_announced_as_paid` covers those).
    async fn event_types(&self) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| t != "order.paid")
            .collect()
    }

    /// The types of the events about one order, oldest first.
    async fn order_event_types(&self, order_id: &str) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .filter(|(_, p)| p["data"]["object"]["orderId"] == order_id)
            .map(|(t, _)| t)
            .collect()
    }

    async fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let token = self.raw_token().await;
        reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", self.store_url()))
            .bearer_auth(token)
    }
}

fn refused_with(err: &ConnectorError, code: &str) -> bool {
    matches!(err, ConnectorError::Refused { message, .. } if message.contains(code))
}

#[tokio::test]
async fn products_page_to_the_end_filter_and_change_under_if_match() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let all: Vec<Product> = client
        .list_all(
            "/products",
            &ListQuery {
                page_size: Some(30),
                ..ListQuery::default()
            },
        )
        .await
        .expect("every product");
    assert_eq!(all.len(), 200);
    let ids: std::collections::HashSet<_> = all.iter().map(|p| p.product_id.clone()).collect();
    assert_eq!(ids.len(), 200, "no product twice across 7 pages");

    let filtered = client
        .list_products(&ListQuery {
            filters: vec![("skuStartsWith".into(), "SKU-100".into())],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(filtered.total_count >= 1 && filtered.total_count < 200);
    assert!(
        filtered
            .results
            .iter()
            .all(|p| p.sku.starts_with("SKU-100"))
    );

    let created = client
        .create_product(
            "prod-new-1",
            &json!({"sku": "ERP-9001", "name": "Torque Wrench", "price": "49.90",
                    "categories": ["Tools"], "tags": {"brand": "acme"}}),
        )
        .await
        .expect("create");
    let Created::New(product) = created else {
        panic!("a new product: {created:?}")
    };
    assert_eq!(product.product_id, "P-10001");
    assert_eq!(product.version, 1);
    assert_eq!(product.status, "active");
    let by_tag = client
        .list_products(&ListQuery {
            filters: vec![("tags.brand".into(), "ACME".into())],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_tag.results.len(), 1);
    assert_eq!(by_tag.results[0].sku, "ERP-9001");
    assert_eq!(
        client.get_product("ERP-9001").await.unwrap().product_id,
        "P-10001"
    );

    // 409 CONFLICT names the record that holds the SKU.
    let again = client
        .create_product(
            "prod-new-2",
            &json!({"sku": "ERP-9001", "name": "Other", "price": "1.00"}),
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        Created::Exists {
            existing_id: "P-10001".into()
        }
    );

    let patched = client
        .patch_product(
            "P-10001",
            &json!({"price": "44.00", "tags": {"size": "L"}}),
            Some(1),
        )
        .await
        .expect("patch at the current version");
    assert_eq!(patched.version, 2);
    assert_eq!(patched.price.to_string(), "44.00");
    assert_eq!(patched.tags["brand"], "acme", "objects merge");
    assert_eq!(patched.tags["size"], "L");
    let stale = client
        .patch_product("P-10001", &json!({"price": "1.00"}), Some(1))
        .await
        .unwrap_err();
    assert!(refused_with(&stale, "PRECONDITION_FAILED"), "{stale:?}");
    assert!(!stale.is_transient());

    let mut whole = serde_json::to_value(&patched).unwrap();
    whole["name"] = json!("Torque Wrench XL");
    whole["tags"] = json!({});
    let replaced = client
        .replace_product("P-10001", &whole, Some(2))
        .await
        .expect("put");
    assert_eq!(replaced.version, 3);
    assert!(replaced.tags.is_empty(), "PUT replaces");

    let bad = client
        .patch_product("P-10001", &json!({"price": "1.999"}), None)
        .await
        .unwrap_err();
    assert_eq!(bad.field(), Some("price"));
    let read_only = client
        .patch_product("P-10001", &json!({"productId": "P-1"}), None)
        .await
        .unwrap_err();
    assert_eq!(read_only.field(), Some("productId"));
    let missing = client.get_product("P-404").await.unwrap_err();
    assert!(
        matches!(missing, ConnectorError::NotFound { .. }),
        "{missing:?}"
    );
    let unknown_filter = client
        .list_products(&ListQuery {
            filters: vec![("colour".into(), "red".into())],
            ..ListQuery::default()
        })
        .await
        .unwrap_err();
    assert!(
        refused_with(&unknown_filter, "BAD_REQUEST"),
        "{unknown_filter:?}"
    );
    let r = sim
        .raw(reqwest::Method::POST, "/products")
        .await
        .header("content-type", "application/json")
        .body("{\"sku\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "BAD_REQUEST");

    let events = sim.event_types().await;
    assert_eq!(
        events,
        ["product.created", "product.updated", "product.updated"],
        "one event per change; refused and no-op writes emit nothing"
    );
}

/// Moves every customer's `updatedDate` an hour back, as if seeded earlier.
async fn age_customers(sim: &Sim) {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT customer_id, body FROM sim_clarity_customers WHERE pair_id = $1")
            .bind(&sim.pair_id)
            .fetch_all(sim.state.db.pool())
            .await
            .unwrap();
    let old = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (id, body) in rows {
        let mut v: Value = serde_json::from_str(&body).unwrap();
        v["updatedDate"] = json!(old);
        sqlx::query(
            "UPDATE sim_clarity_customers SET body = $1 WHERE pair_id = $2 AND customer_id = $3",
        )
        .bind(v.to_string())
        .bind(&sim.pair_id)
        .bind(id)
        .execute(sim.state.db.pool())
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn customers_are_unique_by_email_and_read_incrementally() {
    let sim = spawn_sim().await;
    age_customers(&sim).await;
    let client = sim.client();
    let first: Changes<Customer> = client
        .changed_since(
            "/customers",
            "customerId",
            &Cursor::default(),
            &ListQuery::default(),
        )
        .await
        .expect("full read");
    assert_eq!(first.records.len(), 40);
    let cursor = first.cursor.clone();
    let checkpoint = cursor.updated_since.expect("a checkpoint");

    // The overlap re-reads the same versions: nothing new.
    let nothing: Changes<Customer> = client
        .changed_since("/customers", "customerId", &cursor, &ListQuery::default())
        .await
        .unwrap();
    assert!(nothing.records.is_empty(), "{:?}", nothing.records);
    assert_eq!(nothing.cursor, cursor);

    let Created::New(jane) = client
        .create_customer(
            "cus-1",
            &json!({"email": "Jane.Roe@Example.com", "firstName": "Jane"}),
        )
        .await
        .unwrap()
    else {
        panic!("a new customer")
    };
    assert_eq!(jane.customer_id, "CUS-6001");
    let dup = client
        .create_customer("cus-2", &json!({"email": "jane.roe@example.COM"}))
        .await
        .unwrap();
    assert_eq!(
        dup,
        Created::Exists {
            existing_id: "CUS-6001".into()
        }
    );
    let seeded = first.records[3].customer_id.clone();
    client
        .patch_customer(
            &seeded,
            &json!({"erpReferences": {"intacct": {"customerId": "C-100"}}}),
            None,
        )
        .await
        .unwrap();
    let changed: Changes<Customer> = client
        .changed_since("/customers", "customerId", &cursor, &ListQuery::default())
        .await
        .unwrap();
    let mut ids: Vec<_> = changed
        .records
        .iter()
        .map(|c| c.customer_id.clone())
        .collect();
    ids.sort();
    let mut want = vec!["CUS-6001".to_owned(), seeded.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert!(changed.cursor.updated_since > Some(checkpoint));
    // An order read the same way: every one once, then only what changed.
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 3, PayloadMode::Full)
        .await
        .unwrap();
    let orders: Changes<Order> = client
        .changed_since(
            "/orders",
            "orderId",
            &Cursor::default(),
            &ListQuery::default(),
        )
        .await
        .unwrap();
    assert_eq!(orders.records.len(), 3);
    client
        .patch_order(&ids[1], &json!({"notes": "gift wrap"}))
        .await
        .unwrap();
    let again: Changes<Order> = client
        .changed_since("/orders", "orderId", &orders.cursor, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(again.records.len(), 1);
    assert_eq!(again.records[0].order_id, ids[1]);
    assert_eq!(again.records[0].version, 2);

    let bad = client
        .create_customer("cus-3", &json!({"email": "not-an-email"}))
        .await
        .unwrap_err();
    assert_eq!(bad.field(), Some("email"));
    let by_email = client
        .list_customers(&ListQuery {
            filters: vec![("emailContains".into(), "roe@".into())],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_email.total_count, 1);
    assert_eq!(
        sim.event_types().await,
        [
            "customer.created",
            "customer.updated",
            "order.created",
            "order.created",
            "order.created",
            "order.updated"
        ]
    );
}

#[tokio::test]
async fn inventory_levels_are_set_and_adjusted_with_four_decimals() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let levels = client.get_inventory("SKU-1001").await.expect("levels");
    assert_eq!(levels.locations.len(), 3);
    let wh1 = levels
        .locations
        .iter()
        .find(|l| l.location_id == "WH1")
        .unwrap();
    let all: Vec<InventoryRecord> = client
        .list_all("/inventory", &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 600, "200 SKUs at 3 locations, 3 pages");

    let level = |q: &str| InventorySet {
        quantity_on_hand: q.parse().unwrap(),
        reason: Some("erp_sync".into()),
        source_ref: Some("intacct:ITEMWAREHOUSEINFO:WH1/SKU-1001".into()),
    };
    let set = client
        .set_inventory("SKU-1001", "WH1", &level("12.3456"), Some(wh1.version))
        .await
        .expect("set");
    assert_eq!(set.quantity_on_hand.to_string(), "12.3456");
    assert_eq!(set.version, wh1.version + 1);
    let stale = client
        .set_inventory("SKU-1001", "WH1", &level("1"), Some(wh1.version))
        .await
        .unwrap_err();
    assert!(refused_with(&stale, "PRECONDITION_FAILED"), "{stale:?}");
    let fine = client
        .set_inventory("SKU-1001", "WH1", &level("1.23456"), None)
        .await
        .unwrap_err();
    assert_eq!(fine.field(), Some("quantityOnHand"));

    let adjustment = InventoryAdjustment {
        sku: "SKU-1001".into(),
        location_id: "WH1".into(),
        delta: "-2.5".parse().unwrap(),
        reason: Some("order".into()),
        source_ref: Some("sagepro:0001".into()),
    };
    let after = client
        .adjust_inventory("adj-1", &adjustment)
        .await
        .expect("adjust");
    assert_eq!(after.quantity_on_hand.to_string(), "9.8456");
    let replay = client
        .adjust_inventory("adj-1", &adjustment)
        .await
        .expect("replay");
    assert_eq!(replay, after, "the same key answers the same");
    let now = client.get_inventory("SKU-1001").await.unwrap();
    let wh1 = now
        .locations
        .iter()
        .find(|l| l.location_id == "WH1")
        .unwrap();
    assert_eq!(wh1.quantity_on_hand.to_string(), "9.8456", "counted once");
    let reused = client
        .adjust_inventory(
            "adj-1",
            &InventoryAdjustment {
                delta: "-1".parse().unwrap(),
                ..adjustment.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        refused_with(&reused, "IDEMPOTENCY_KEY_REUSED"),
        "{reused:?}"
    );
    let overdraw = client
        .adjust_inventory(
            "adj-2",
            &InventoryAdjustment {
                delta: "-100".parse().unwrap(),
                ..adjustment.clone()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(overdraw.field(), Some("delta"));
    let no_key = sim
        .raw(reqwest::Method::POST, "/inventory/adjustments")
        .await
        .json(&json!({"sku": "SKU-1001", "locationId": "WH1", "delta": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 400, "the key is required here");
    assert_eq!(
        sim.event_types().await,
        ["inventory.updated", "inventory.updated"]
    );
}

async fn shipped_order(sim: &Sim, client: &ClarityClient) -> Order {
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 1, PayloadMode::Full)
        .await
        .unwrap();
    let shipment = client
        .record_shipment(
            &format!("ship-{}", ids[0]),
            &ids[0],
            &NewShipment {
                carrier: "UPS".into(),
                service: Some("Ground".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                tracking_url: None,
                shipped_date: Some("2024-06-02T15:00:00Z".into()),
                lines: Vec::new(),
            },
        )
        .await
        .expect("shipment");
    assert_eq!(
        shipment.tracking_number.as_deref(),
        Some("1Z999AA10123456784")
    );
    assert_eq!(
        client.get_shipment(&shipment.shipment_id).await.unwrap(),
        shipment
    );
    serde_json::from_value(client.get_order(&ids[0]).await.unwrap()).unwrap()
}

#[tokio::test]
async fn status_and_tracking_are_written_back() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let order = shipped_order(&sim, &client).await;
    assert_eq!(order.status, "shipped");
    let listed = client
        .list_shipments(&ListQuery {
            filters: vec![("orderId".into(), order.order_id.clone())],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.total_count, 1);
    let stale = client
        .set_order_status(&order.order_id, "completed", Some(order.version - 1))
        .await
        .unwrap_err();
    assert!(refused_with(&stale, "PRECONDITION_FAILED"), "{stale:?}");
    let done = client
        .set_order_status(&order.order_id, "completed", Some(order.version))
        .await
        .unwrap();
    assert_eq!(done["status"], "completed");
    let cancel = client.cancel_order(&order.order_id).await.unwrap_err();
    assert!(refused_with(&cancel, "CONFLICT"), "{cancel:?}");

    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 1, PayloadMode::Full)
        .await
        .unwrap();
    let cancelled = client.cancel_order(&ids[0]).await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        client.cancel_order(&ids[0]).await.unwrap()["version"],
        cancelled["version"]
    );
    let created_since = client
        .list_orders(&ListQuery {
            created_date_min: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(1)),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(created_since.total_count, 2);
    assert_eq!(
        sim.event_types().await,
        [
            "order.created",
            "shipment.created",
            "order.updated",
            "order.updated",
            "order.created",
            "order.cancelled"
        ]
    );
}

#[tokio::test]
async fn a_return_goes_from_request_to_refund() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let order = shipped_order(&sim, &client).await;
    let line = &order.line_items[0];
    let before = client.get_inventory(&line.sku).await.unwrap();
    let on_hand = |levels: &InventoryLevels| {
        levels
            .locations
            .iter()
            .find(|l| l.location_id == "WH1")
            .unwrap()
            .quantity_on_hand
    };
    let rma = NewReturn {
        order_id: order.order_id.clone(),
        reason: Some("damaged".into()),
        lines: vec![ReturnLine {
            line_id: line.line_id.clone(),
            sku: Some(line.sku.clone()),
            quantity: rust_decimal::Decimal::ONE,
            refund_amount: None,
            restock: true,
            condition: Some("opened".into()),
        }],
    };
    let created = client.create_return("rma-1", &rma).await.expect("return");
    assert_eq!(created.status, "requested");
    assert_eq!(created.customer_id, order.customer_id);
    // One unit's share of the line, in money: two places, half away from zero.
    assert_eq!(
        created.refund_amount,
        (line.line_total / line.quantity)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    );
    assert_eq!(client.create_return("rma-1", &rma).await.unwrap(), created);
    let too_many = client
        .create_return(
            "rma-2",
            &NewReturn {
                lines: vec![ReturnLine {
                    quantity: line.quantity,
                    ..rma.lines[0].clone()
                }],
                ..rma.clone()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(too_many.field(), Some("lines[0].quantity"));
    let early = client.receive_return(&created.return_id).await.unwrap_err();
    assert!(refused_with(&early, "CONFLICT"), "{early:?}");
    assert_eq!(
        client
            .approve_return(&created.return_id)
            .await
            .unwrap()
            .status,
        "approved"
    );
    assert_eq!(
        client
            .receive_return(&created.return_id)
            .await
            .unwrap()
            .status,
        "received"
    );
    let after = client.get_inventory(&line.sku).await.unwrap();
    assert_eq!(
        on_hand(&after),
        on_hand(&before) + rust_decimal::Decimal::ONE,
        "restocked"
    );
    let over = client
        .refund_return(
            &created.return_id,
            created.refund_amount + rust_decimal::Decimal::ONE,
        )
        .await
        .unwrap_err();
    assert_eq!(over.field(), Some("amount"));
    let refunded = client
        .refund_return(&created.return_id, created.refund_amount)
        .await
        .expect("refund");
    assert_eq!(refunded.status, "refunded");
    assert!(refunded.refund_transaction_id.is_some());
    let order_now: Order =
        serde_json::from_value(client.get_order(&order.order_id).await.unwrap()).unwrap();
    assert_eq!(order_now.payment_info.status, "partially_refunded");
    let listed = client
        .list_returns(&ListQuery {
            status: vec!["refunded".into()],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.results,
        vec![client.get_return(&created.return_id).await.unwrap()]
    );
    let events = sim.event_types().await;
    assert_eq!(
        events[3..],
        [
            "return.created",
            "return.updated",
            "inventory.updated",
            "return.updated",
            "return.refunded",
            "order.refunded"
        ]
    );
}

#[tokio::test]
async fn coupons_page_conflict_and_patch() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let first = client
        .list_coupons(&ListQuery {
            page_size: Some(1),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((first.total_count, first.has_more), (2, true));
    let all: Vec<Coupon> = client
        .list_all(
            "/coupons",
            &ListQuery {
                page_size: Some(1),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let Created::New(summer) = client
        .create_coupon(
            "cpn-1",
            &json!({"couponCode": "SUMMER5", "type": "fixed_amount", "value": "5.00", "currency": "USD"}),
        )
        .await
        .unwrap()
    else {
        panic!("a new coupon")
    };
    assert_eq!(summer.version, 1);
    assert_eq!(
        client
            .create_coupon(
                "cpn-2",
                &json!({"couponCode": "summer5", "type": "percent", "value": "5"})
            )
            .await
            .unwrap(),
        Created::Exists {
            existing_id: "SUMMER5".into()
        }
    );
    let patched = client
        .patch_coupon("summer5", &json!({"active": false}), Some(1))
        .await
        .unwrap();
    assert!(!patched.active);
    assert_eq!(patched.version, 2);
    let inactive = client
        .list_coupons(&ListQuery {
            filters: vec![("active".into(), "false".into())],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(inactive.results, vec![patched]);
    let bad = client
        .patch_coupon("SUMMER5", &json!({"type": "percent", "value": "150"}), None)
        .await
        .unwrap_err();
    assert_eq!(bad.field(), Some("value"));
    assert_eq!(
        sim.event_types().await,
        ["coupon.created", "coupon.updated"]
    );
}

#[tokio::test]
async fn new_resources_are_delivered_as_signed_webhooks() {
    let sim = spawn_sim().await;
    let mut receiver = spawn_receiver(0).await;
    let client = sim.client();
    let sub = client
        .register_webhook(&receiver.url, &["product.updated", "customer.created"])
        .await
        .unwrap();
    client
        .patch_product("P-1001", &json!({"status": "inactive"}), None)
        .await
        .unwrap();
    client
        .create_customer("c-1", &json!({"email": "hook@example.com"}))
        .await
        .unwrap();
    assert_eq!(
        clarity::dispatch_due(&sim.state, &DispatcherConfig::default())
            .await
            .unwrap(),
        2
    );
    let mut types = Vec::new();
    for _ in 0..2 {
        let (headers, body) = receiver.next().await;
        signature::verify(
            headers[signature::SIGNATURE_HEADER].to_str().unwrap(),
            &body,
            &[sub.secret.expose_secret()],
            now_unix(),
            300,
        )
        .expect("signed");
        let event: Value = serde_json::from_slice(&body).unwrap();
        if event["type"] == "product.updated" {
            assert_eq!(event["previousAttributes"], json!({"status": "active"}));
            assert_eq!(event["data"]["object"]["version"], 2);
        }
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(types, ["customer.created", "product.updated"]);
}

#[tokio::test]
async fn a_capture_announces_order_paid() {
    let sim = spawn_sim().await;
    let client = sim.client();
    // Find an order paid on terms (authorized), placing more if needed.
    let mut authorized = None;
    for _ in 0..20 {
        let ids = clarity::create_orders(&sim.state, &sim.pair_id, 5, PayloadMode::Full)
            .await
            .unwrap();
        for id in ids {
            let o = client.get_order(&id).await.unwrap();
            if o["paymentInfo"]["status"] == "authorized" {
                authorized = Some(id);
            }
        }
        if authorized.is_some() {
            break;
        }
    }
    let id = authorized.expect("an order on terms");
    let capture = format!("orders/{id}/capture");
    let paid: Value = sim
        .control(reqwest::Method::POST, &capture)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paid["paymentInfo"]["status"], "captured");
    let again: Value = sim
        .control(reqwest::Method::POST, &capture)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["version"], paid["version"],
        "capturing twice changes nothing"
    );
    assert_eq!(
        sim.order_event_types(&id).await,
        ["order.created", "order.paid"],
        "paid once, on capture"
    );
    assert_eq!(
        sim.events().await.last().map(|(t, _)| t.as_str()),
        Some("order.paid")
    );
}

#[tokio::test]
async fn placed_orders_paid_at_checkout_are_announced_as_paid() {
    let sim = spawn_sim().await;
    let client = sim.client();
    let (mut card, mut terms) = (0, 0);
    for _ in 0..20 {
        let ids = clarity::create_orders(&sim.state, &sim.pair_id, 5, PayloadMode::IdOnly)
            .await
            .unwrap();
        for id in ids {
            let order = client.get_order(&id).await.unwrap();
            let expected: &[&str] = match order["paymentInfo"]["status"].as_str() {
                Some("captured") => {
                    card += 1;
                    &["order.created", "order.paid"]
                }
                Some("authorized") => {
                    terms += 1;
                    &["order.created"]
                }
                other => panic!("a placed order's payment is {other:?}"),
            };
            assert_eq!(sim.order_event_types(&id).await, expected, "{id}");
        }
        if card > 0 && terms > 0 {
            break;
        }
    }
    assert!(card > 0 && terms > 0, "both kinds of payment were placed");
    // Both events of a paid order were written in one transaction: same
    // instant, and adjacent in the outbox.
    let events = sim.events().await;
    let paid = events.iter().position(|(t, _)| t == "order.paid").unwrap();
    let (created, paid) = (&events[paid - 1], &events[paid]);
    assert_eq!(created.0, "order.created");
    assert_eq!(created.1["data"], paid.1["data"]);
    assert_eq!(created.1["createdAt"], paid.1["createdAt"]);

    // The shopper's admin route places them the same way.
    let placed: Value = sim
        .control(reqwest::Method::POST, "orders")
        .json(&json!({"count": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for id in placed["orderIds"].as_array().unwrap() {
        let id = id.as_str().unwrap();
        let paid = client.get_order(id).await.unwrap()["paymentInfo"]["status"] == "captured";
        let types = sim.order_event_types(id).await;
        assert_eq!(types.contains(&"order.paid".to_owned()), paid, "{id}");
    }
}

#[tokio::test]
async fn each_scripted_fault_is_its_error_class() {
    let sim = spawn_sim().await;
    let client = sim.client();
    client
        .test_connection()
        .await
        .expect("a cached token first");
    let everything = ListQuery::default();
    let list = || client.list_orders(&everything);

    // Two 503s, then the store answers again.
    sim.script_faults(FaultKind::Unavailable, 2, None).await;
    for _ in 0..2 {
        let e = list().await.unwrap_err();
        assert!(
            matches!(e, ConnectorError::Server { status: 503, .. }),
            "{e:?}"
        );
        assert!(e.is_transient());
    }
    list().await.expect("recovered");

    type Expect = fn(&ConnectorError) -> bool;
    let cases: Vec<(FaultKind, Expect)> = vec![
        (FaultKind::ServerError, |e| {
            matches!(e, ConnectorError::Server { status: 500, .. })
        }),
        (FaultKind::GatewayTimeout, |e| {
            matches!(e, ConnectorError::Server { status: 504, .. })
        }),
        (
            FaultKind::RateLimited,
            |e| matches!(e, ConnectorError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(1)),
        ),
        (FaultKind::ConcurrencyLimit, |e| {
            matches!(e, ConnectorError::RateLimited { .. })
        }),
        (FaultKind::RecordLocked, |e| {
            matches!(e, ConnectorError::RateLimited { .. })
        }),
        (
            FaultKind::Validation,
            |e| matches!(e, ConnectorError::Validation { field: Some(f), .. } if f == "customer.email"),
        ),
        (FaultKind::NotFound, |e| {
            matches!(e, ConnectorError::NotFound { .. })
        }),
        (FaultKind::Reset, |e| {
            e.is_transient() && !matches!(e, ConnectorError::Server { .. })
        }),
    ];
    for (kind, expected) in cases {
        sim.script_faults(kind, 1, None).await;
        let e = list().await.unwrap_err();
        assert!(expected(&e), "{kind:?} gave {e:?}");
        list()
            .await
            .unwrap_or_else(|e| panic!("after {kind:?}: {e:?}"));
    }

    // One 401: the client takes a new token and the retry succeeds.
    sim.script_faults(FaultKind::Unauthorized, 1, None).await;
    let before = sim.meter.calls();
    list().await.expect("a 401 costs one new token");
    assert_eq!(sim.meter.calls() - before, 3, "401, token, retry");

    // A refused token request is an authentication error in OAuth's shape.
    let fresh = sim.client();
    sim.script_faults(FaultKind::Unauthorized, 1, None).await;
    let e = fresh.test_connection().await.unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Auth { message, .. } if message.contains("invalid_client")),
        "{e:?}"
    );

    // A held answer is a timeout for the client.
    let impatient = sim.client_with_timeout(Duration::from_millis(700));
    impatient.test_connection().await.expect("a token first");
    sim.script_faults(FaultKind::Timeout, 1, Some(1_500)).await;
    let e = impatient
        .list_orders(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Timeout { .. }), "{e:?}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_create_retried_after_a_timeout_creates_one_record() {
    let sim = spawn_sim().await;
    let client = sim.client_with_timeout(Duration::from_millis(700));
    client.test_connection().await.expect("token first");
    sim.script_faults(FaultKind::Timeout, 1, Some(1_500)).await;
    let body = json!({"email": "retry@example.com", "firstName": "Rita"});
    let first = client
        .create_customer("cus-retry-1", &body)
        .await
        .unwrap_err();
    assert!(matches!(first, ConnectorError::Timeout { .. }), "{first:?}");
    assert!(first.is_transient());
    let again = client
        .create_customer("cus-retry-1", &body)
        .await
        .expect("the retry");
    let Created::New(customer) = again else {
        panic!("the stored answer is replayed, not a conflict: {again:?}")
    };
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sim_clarity_customers WHERE pair_id = $1 AND email_lower = $2",
    )
    .bind(&sim.pair_id)
    .bind("retry@example.com")
    .fetch_one(sim.state.db.pool())
    .await
    .unwrap();
    assert_eq!(n, 1, "one record");
    assert_eq!(customer.customer_id, "CUS-6001");
    assert_eq!(
        sim.event_types().await,
        ["customer.created"],
        "and one event"
    );
}

#[tokio::test]
async fn a_second_401_stops_without_a_loop() {
    // A store that issues tokens and refuses every one of them.
    let tokens = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (t, c) = (tokens.clone(), calls.clone());
    let app = axum::Router::new()
        .route(
            "/oauth/token",
            axum::routing::post(move || {
                let t = t.clone();
                async move {
                    let n = t.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}))
                }
            }),
        )
        .route(
            "/api/v1/orders/{id}",
            axum::routing::get(move || {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Bearer error=\"invalid_token\"")],
                        axum::Json(json!({"type": "t", "title": "Unauthorized", "status": 401, "code": "UNAUTHORIZED"})),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = ClarityClient::new(
        ClarityConfig::new(&base, "id", SecretString::from("secret".to_owned())),
        reqwest::Client::new(),
        Arc::new(connect_jobs::connectors::OpenGate),
    );
    let e = client.get_order("CO-1").await.unwrap_err();
    assert!(matches!(e, ConnectorError::Auth { .. }), "{e:?}");
    assert_eq!(tokens.load(Ordering::SeqCst), 2, "one refresh");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one retry, then stop");
}

#[tokio::test]
async fn the_default_rate_limit_is_120_a_minute_with_headers() {
    let sim = spawn_sim().await;
    let token = sim.raw_token().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/orders?pageSize=1", sim.store_url());
    let started = std::time::Instant::now();
    let mut ok = 1; // the token call took one
    let limited = loop {
        let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "120");
        assert!(r.headers().contains_key("x-ratelimit-remaining"));
        assert!(r.headers().contains_key("x-ratelimit-reset"));
        ok += 1;
        assert!(ok <= 200, "no 429 after {ok} calls");
    };
    // 2 tokens a second come back while the loop runs.
    let refilled = (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!((120..=120 + refilled).contains(&ok), "429 after {ok} calls");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    assert_eq!(body["status"], 429);
}

// ---------------------------------------------------------------------------
// Every resource carries the spec's full field list (§3), every writable
// field is taken and an unknown one refused (422 UNKNOWN_FIELD), and every
// list takes the Phoenix filters on every field of its resource (§0.3, §2)
// and refuses anything else (400 BAD_REQUEST, a malformed query).

/// Each field of a resource as the spec lists it, with its JSON type
/// (`string`, `number`, `bool`, `object`, `array`, `null`; `a|b` when either).
type Spec = &'static [(&'static str, &'static str)];

const ORDER_FIELDS: Spec = &[
    ("orderId", "string"),
    ("customerId", "string"),
    ("orderDate", "string"),
    ("status", "string"),
    ("totalAmount", "string"),
    ("currency", "string"),
    ("shippingAddress", "object"),
    ("billingAddress", "object"),
    ("lineItems", "array"),
    ("paymentInfo", "object"),
    ("couponCode", "string|null"),
    ("subtotalAmount", "string"),
    ("discountAmount", "string"),
    ("shippingAmount", "string"),
    ("taxAmount", "string"),
    ("email", "string"),
    ("channel", "string"),
    ("erpReferences", "object"),
    ("version", "number"),
    ("createdDate", "string"),
    ("updatedDate", "string"),
    // Not in §3.1's table, but PATCH sets it: every order carries it.
    ("notes", "string|null"),
];
const LINE_ITEM_FIELDS: Spec = &[
    ("lineId", "string"),
    ("sku", "string"),
    ("productId", "string"),
    ("name", "string"),
    ("quantity", "number"),
    ("unitPrice", "string"),
    ("tax", "string"),
    ("discount", "string"),
    ("lineTotal", "string"),
];
/// Address fields; §3.1's example leaves out the ones the shopper left empty.
const ADDRESS_FIELDS: Spec = &[
    ("firstName", "string"),
    ("lastName", "string"),
    ("company", "string"),
    ("line1", "string"),
    ("line2", "string"),
    ("city", "string"),
    ("region", "string"),
    ("postalCode", "string"),
    ("country", "string"),
    ("phone", "string"),
    ("email", "string"),
];
const PAYMENT_FIELDS: Spec = &[
    ("method", "string"),
    ("status", "string"),
    ("amount", "string"),
    ("transactionId", "string|null"),
    ("gateway", "string|null"),
    ("cardBrand", "string|null"),
    ("last4", "string|null"),
    ("poNumber", "string|null"),
    ("terms", "string|null"),
    ("capturedAt", "string|null"),
];
const PRODUCT_FIELDS: Spec = &[
    ("productId", "string"),
    ("sku", "string"),
    ("name", "string"),
    ("description", "string|null"),
    ("price", "string"),
    ("currency", "string"),
    ("status", "string"),
    ("taxable", "bool"),
    ("weight", "number|null"),
    ("weightUnit", "string|null"),
    ("categories", "array"),
    ("tags", "object"),
    ("erpReferences", "object"),
    ("version", "number"),
    ("createdDate", "string"),
    ("updatedDate", "string"),
];
const CUSTOMER_FIELDS: Spec = &[
    ("customerId", "string"),
    ("email", "string"),
    ("firstName", "string|null"),
    ("lastName", "string|null"),
    ("company", "string|null"),
    ("phone", "string|null"),
    ("billingAddress", "object|null"),
    ("shippingAddresses", "array"),
    ("taxExempt", "bool"),
    ("priceGroup", "string|null"),
    ("status", "string"),
    ("erpReferences", "object"),
    ("version", "number"),
    ("createdDate", "string"),
    ("updatedDate", "string"),
    // Beside §3.3's list: the store's customers carry their currency (§9's
    // multi-currency question), which the product's customer schema maps.
    ("currency", "string"),
];
const INVENTORY_FIELDS: Spec = &[
    ("sku", "string"),
    ("locationId", "string"),
    ("quantityOnHand", "number"),
    ("quantityReserved", "number"),
    ("quantityAvailable", "number"),
    ("backorderable", "bool"),
    ("updatedDate", "string"),
    // The `ETag` of §1.
    ("version", "number"),
];
const SHIPMENT_FIELDS: Spec = &[
    ("shipmentId", "string"),
    ("orderId", "string"),
    ("carrier", "string"),
    ("service", "string|null"),
    ("trackingNumber", "string|null"),
    ("trackingUrl", "string|null"),
    ("shippedDate", "string"),
    ("lines", "array"),
    ("status", "string"),
    ("createdDate", "string"),
];
const SHIPMENT_LINE_FIELDS: Spec = &[
    ("lineId", "string"),
    ("sku", "string"),
    ("quantity", "number"),
];
const RETURN_FIELDS: Spec = &[
    ("returnId", "string"),
    ("orderId", "string"),
    ("customerId", "string"),
    ("status", "string"),
    ("reason", "string|null"),
    ("lines", "array"),
    ("refundAmount", "string"),
    ("currency", "string"),
    ("refundTransactionId", "string|null"),
    ("createdDate", "string"),
    ("updatedDate", "string"),
    ("version", "number"),
];
const RETURN_LINE_FIELDS: Spec = &[
    ("lineId", "string"),
    ("sku", "string"),
    ("quantity", "number"),
    ("refundAmount", "string"),
    ("restock", "bool"),
    ("condition", "string|null"),
];
const COUPON_FIELDS: Spec = &[
    ("couponCode", "string"),
    ("type", "string"),
    ("value", "string|null"),
    ("currency", "string|null"),
    ("startsAt", "string|null"),
    ("endsAt", "string|null"),
    ("usageLimit", "number|null"),
    ("timesUsed", "number"),
    ("active", "bool"),
    ("appliesToSkus", "array"),
    ("updatedDate", "string"),
    ("version", "number"),
    ("createdDate", "string"),
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

fn field_names(v: &Value) -> std::collections::BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Each field of `v` is of its type in `spec`.
fn assert_types(what: &str, v: &Value, spec: &[(&str, &str)]) {
    for (field, ty) in spec {
        if let Some(value) = v.get(*field) {
            let t = json_type(value);
            assert!(
                ty.split('|').any(|x| x == t),
                "{what}.{field} is {t}, the spec types it {ty}: {v}"
            );
        }
    }
}

/// `v` has exactly the fields of `spec` (camelCase, none missing, none
/// extra), each of its type.
fn assert_fields(what: &str, v: &Value, spec: &[(&str, &str)]) {
    let want: std::collections::BTreeSet<&str> = spec.iter().map(|(f, _)| *f).collect();
    assert_eq!(field_names(v), want, "{what}: the spec's field list: {v}");
    assert_types(what, v, spec);
}

fn assert_order(what: &str, o: &Value) {
    assert_fields(what, o, ORDER_FIELDS);
    assert_fields(
        &format!("{what}.paymentInfo"),
        &o["paymentInfo"],
        PAYMENT_FIELDS,
    );
    for (i, l) in o["lineItems"].as_array().unwrap().iter().enumerate() {
        assert_fields(&format!("{what}.lineItems[{i}]"), l, LINE_ITEM_FIELDS);
    }
    for a in ["shippingAddress", "billingAddress"] {
        let allowed: std::collections::BTreeSet<&str> =
            ADDRESS_FIELDS.iter().map(|(f, _)| *f).collect();
        assert!(field_names(&o[a]).is_subset(&allowed), "{what}.{a}: {o}");
        for f in [
            "firstName",
            "lastName",
            "line1",
            "city",
            "region",
            "postalCode",
            "country",
        ] {
            assert!(o[a][f].is_string(), "{what}.{a}.{f}: {o}");
        }
        assert_types(&format!("{what}.{a}"), &o[a], ADDRESS_FIELDS);
    }
}

/// `422 VALIDATION_FAILED` whose `errors[0]` names `field` with `code`.
fn assert_field_refused(what: &str, answer: &(u16, Value), field: &str, code: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 422, "{what}: {body}");
    assert_eq!(body["code"], "VALIDATION_FAILED", "{what}: {body}");
    assert_eq!(body["errors"][0]["field"], field, "{what}: {body}");
    assert_eq!(body["errors"][0]["code"], code, "{what}: {body}");
    assert!(body["requestId"].is_string(), "{what}: {body}");
}

/// `400 BAD_REQUEST` in the problem shape of §1.
fn assert_bad_query(what: &str, answer: &(u16, Value)) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{what}: {body}");
    assert_eq!(body["code"], "BAD_REQUEST", "{what}: {body}");
    assert_eq!(body["status"], 400, "{what}: {body}");
    for f in ["type", "title", "detail", "requestId"] {
        assert!(body[f].is_string(), "{what}: {f} in {body}");
    }
}

impl Sim {
    /// Lifts the 120-a-minute limit: these tests make many calls.
    async fn unlimited(&self) {
        self.set_faults(FaultSettings {
            rate_limit_per_s: Some(10_000),
            ..FaultSettings::default()
        })
        .await;
    }

    /// Any API call with `token`, answered as (status, body).
    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut r = reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", self.store_url()))
            .bearer_auth(token);
        if let Some(k) = idempotency_key {
            r = r.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET {path}`, which must answer 200.
    async fn read(&self, token: &str, path: &str) -> Value {
        let (status, body) = self
            .call(token, reqwest::Method::GET, path, None, None)
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// The `results` of `GET {path}` (one page of up to 200).
    async fn results(&self, token: &str, path: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page = self.read(token, &format!("{path}{sep}pageSize=200")).await;
        assert_eq!(page["hasMore"], false, "{path}: one page holds it");
        page["results"].as_array().unwrap().clone()
    }

    /// The values of `field` in what `GET {path}` lists, in its order.
    async fn listed(&self, token: &str, path: &str, field: &str) -> Vec<String> {
        self.results(token, path)
            .await
            .iter()
            .map(|r| r[field].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn every_resource_answers_the_spec_field_list_with_its_types() {
    let sim = spawn_sim().await;
    sim.unlimited().await;
    let token = sim.raw_token().await;
    use reqwest::Method;

    // Orders, as read and as listed (cards and purchase orders alike).
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 8, PayloadMode::Full)
        .await
        .unwrap();
    for id in &ids {
        assert_order(id, &sim.read(&token, &format!("/orders/{id}")).await);
    }
    for o in sim.results(&token, "/orders").await {
        assert_order("listed order", &o);
    }
    let (status, patched) = sim
        .call(
            &token,
            Method::PATCH,
            &format!("/orders/{}", ids[0]),
            Some(&json!({"notes": "gift wrap"})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_order("patched order", &patched);

    // Products: seeded, created with the fewest fields (the rest null or
    // empty, not absent), listed.
    assert_fields(
        "product",
        &sim.read(&token, "/products/P-1001").await,
        PRODUCT_FIELDS,
    );
    let (status, created) = sim
        .call(
            &token,
            Method::POST,
            "/products",
            Some(&json!({"sku": "F-1", "name": "Field Test", "price": "1.00"})),
            Some("f-p1"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_fields("created product", &created, PRODUCT_FIELDS);
    for p in sim.results(&token, "/products?skuStartsWith=SKU-10").await {
        assert_fields("listed product", &p, PRODUCT_FIELDS);
    }

    // Customers.
    let customer = sim.read(&token, "/customers/CUS-5001").await;
    assert_fields("customer", &customer, CUSTOMER_FIELDS);
    assert_types(
        "customer.billingAddress",
        &customer["billingAddress"],
        ADDRESS_FIELDS,
    );
    let (status, created) = sim
        .call(
            &token,
            Method::POST,
            "/customers",
            Some(&json!({"email": "f@example.com"})),
            Some("f-c1"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_fields("created customer", &created, CUSTOMER_FIELDS);
    for c in sim.results(&token, "/customers").await {
        assert_fields("listed customer", &c, CUSTOMER_FIELDS);
    }

    // Inventory: the list and one SKU's locations.
    for r in sim.results(&token, "/inventory?sku=SKU-1001").await {
        assert_fields("listed inventory", &r, INVENTORY_FIELDS);
    }
    let levels = sim.read(&token, "/inventory/SKU-1001").await;
    assert_eq!(levels["locations"].as_array().unwrap().len(), 3);
    for r in levels["locations"].as_array().unwrap() {
        assert_fields("inventory location", r, INVENTORY_FIELDS);
    }

    // A shipment and a return.
    let (status, shipment) = sim
        .call(
            &token,
            Method::POST,
            &format!("/orders/{}/shipments", ids[1]),
            Some(&json!({"carrier": "UPS"})),
            Some("f-s1"),
        )
        .await;
    assert_eq!(status, 201, "{shipment}");
    assert_fields("created shipment", &shipment, SHIPMENT_FIELDS);
    let id = shipment["shipmentId"].as_str().unwrap();
    assert_fields(
        "shipment",
        &sim.read(&token, &format!("/shipments/{id}")).await,
        SHIPMENT_FIELDS,
    );
    for s in sim.results(&token, "/shipments").await {
        assert_fields("listed shipment", &s, SHIPMENT_FIELDS);
        for l in s["lines"].as_array().unwrap() {
            assert_fields("shipment line", l, SHIPMENT_LINE_FIELDS);
        }
    }
    let (status, rma) = sim
        .call(
            &token,
            Method::POST,
            "/returns",
            Some(&json!({"orderId": ids[1], "lines": [{"lineId": "1", "quantity": 1}]})),
            Some("f-r1"),
        )
        .await;
    assert_eq!(status, 201, "{rma}");
    assert_fields("created return", &rma, RETURN_FIELDS);
    let id = rma["returnId"].as_str().unwrap();
    assert_fields(
        "return",
        &sim.read(&token, &format!("/returns/{id}")).await,
        RETURN_FIELDS,
    );
    for r in sim.results(&token, "/returns").await {
        assert_fields("listed return", &r, RETURN_FIELDS);
        for l in r["lines"].as_array().unwrap() {
            assert_fields("return line", l, RETURN_LINE_FIELDS);
        }
    }

    // Coupons: seeded and created.
    assert_fields(
        "coupon",
        &sim.read(&token, "/coupons/save10").await,
        COUPON_FIELDS,
    );
    let (status, created) = sim
        .call(
            &token,
            Method::POST,
            "/coupons",
            Some(&json!({"couponCode": "SHIPFREE", "type": "free_shipping"})),
            Some("f-k1"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_fields("created coupon", &created, COUPON_FIELDS);
    for c in sim.results(&token, "/coupons").await {
        assert_fields("listed coupon", &c, COUPON_FIELDS);
    }
}

#[tokio::test]
async fn every_writable_field_is_taken_and_an_unknown_one_is_refused() {
    let sim = spawn_sim().await;
    sim.unlimited().await;
    let token = sim.raw_token().await;
    use reqwest::Method;
    let address = json!({ "firstName": "Ann", "lastName": "Lee", "company": "Lee Co", "line1": "1 Main St",
        "line2": "Suite 2", "city": "Austin", "region": "TX", "postalCode": "78701", "country": "US",
        "phone": "512-555-0100", "email": "ann@lee.example" });
    let echoed = |what: &str, sent: &Value, got: &Value| {
        for (field, value) in sent.as_object().unwrap() {
            assert_eq!(&got[field], value, "{what}.{field}: {got}");
        }
    };

    // Products (§3.2): every writable field on POST, PUT and PATCH.
    let product = json!({ "sku": "W-1", "name": "Writable", "description": "All fields", "price": "12.50",
        "currency": "CAD", "status": "inactive", "taxable": false, "weight": 1.5, "weightUnit": "kg",
        "categories": ["Tools"], "tags": {"brand": "acme"}, "erpReferences": {"sagePro": {"itemCode": "W-1"}} });
    let (status, p) = sim
        .call(
            &token,
            Method::POST,
            "/products",
            Some(&product),
            Some("w-p1"),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    echoed("created product", &product, &p);
    let id = p["productId"].as_str().unwrap().to_owned();
    let replaced = json!({ "sku": "W-1", "name": "Writable 2", "description": null, "price": "13.00",
        "currency": "USD", "status": "discontinued", "taxable": true, "weight": null, "weightUnit": null,
        "categories": [], "tags": {}, "erpReferences": {} });
    let (status, p) = sim
        .call(
            &token,
            Method::PUT,
            &format!("/products/{id}"),
            Some(&replaced),
            None,
        )
        .await;
    assert_eq!(status, 200, "{p}");
    echoed("replaced product", &replaced, &p);
    let answer = sim
        .call(
            &token,
            Method::PATCH,
            &format!("/products/{id}"),
            Some(&json!({"colour": "red"})),
            None,
        )
        .await;
    assert_field_refused("product colour", &answer, "colour", "UNKNOWN_FIELD");
    let answer = sim
        .call(
            &token,
            Method::POST,
            "/products",
            Some(&json!({"sku": "W-2", "name": "x", "price": "1.00", "Price": "2.00"})),
            Some("w-p2"),
        )
        .await;
    assert_field_refused("product Price (case)", &answer, "Price", "UNKNOWN_FIELD");

    // Customers (§3.3).
    let customer = json!({ "email": "ann@lee.example", "firstName": "Ann", "lastName": "Lee", "company": "Lee Co",
        "phone": "512-555-0100", "billingAddress": address, "shippingAddresses": [address, address],
        "taxExempt": true, "priceGroup": "wholesale", "status": "disabled", "currency": "CAD",
        "erpReferences": {"sagePro": {"customerNo": "LEEA01"}} });
    let (status, c) = sim
        .call(
            &token,
            Method::POST,
            "/customers",
            Some(&customer),
            Some("w-c1"),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    echoed("created customer", &customer, &c);
    let id = c["customerId"].as_str().unwrap().to_owned();
    let patch = json!({"status": "active", "taxExempt": false, "priceGroup": "retail"});
    let (status, c) = sim
        .call(
            &token,
            Method::PATCH,
            &format!("/customers/{id}"),
            Some(&patch),
            None,
        )
        .await;
    assert_eq!(status, 200, "{c}");
    echoed("patched customer", &patch, &c);
    let answer = sim
        .call(
            &token,
            Method::POST,
            "/customers",
            Some(&json!({"email": "x@lee.example", "nickname": "X"})),
            Some("w-c2"),
        )
        .await;
    assert_field_refused("customer nickname", &answer, "nickname", "UNKNOWN_FIELD");

    // Coupons (§3.7).
    let coupon = json!({ "couponCode": "TENOFF", "type": "fixed_amount", "value": "10.00", "currency": "USD",
        "startsAt": "2024-06-01T00:00:00Z", "endsAt": "2024-12-31T00:00:00Z", "usageLimit": 100, "active": false,
        "appliesToSkus": ["SKU-1001"] });
    let (status, k) = sim
        .call(
            &token,
            Method::POST,
            "/coupons",
            Some(&coupon),
            Some("w-k1"),
        )
        .await;
    assert_eq!(status, 201, "{k}");
    echoed("created coupon", &coupon, &k);
    let patch = json!({"active": true, "usageLimit": null, "appliesToSkus": []});
    let (status, k) = sim
        .call(&token, Method::PATCH, "/coupons/tenoff", Some(&patch), None)
        .await;
    assert_eq!(status, 200, "{k}");
    echoed("patched coupon", &patch, &k);
    let answer = sim
        .call(
            &token,
            Method::PATCH,
            "/coupons/TENOFF",
            Some(&json!({"maxDiscount": "5.00"})),
            None,
        )
        .await;
    assert_field_refused(
        "coupon maxDiscount",
        &answer,
        "maxDiscount",
        "UNKNOWN_FIELD",
    );

    // Orders (§3.1): PATCH takes status, erpReferences and notes; the rest
    // of the order may come back unchanged, not changed; a name that is no
    // order field is unknown.
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 2, PayloadMode::Full)
        .await
        .unwrap();
    let order = sim.read(&token, &format!("/orders/{}", ids[0])).await;
    let patch = json!({ "status": "on_hold", "erpReferences": {"sagePro": {"salesOrderNo": "0001234"}},
        "notes": "call first", "orderId": ids[0], "currency": order["currency"] });
    let (status, o) = sim
        .call(
            &token,
            Method::PATCH,
            &format!("/orders/{}", ids[0]),
            Some(&patch),
            None,
        )
        .await;
    assert_eq!(status, 200, "{o}");
    echoed("patched order", &patch, &o);
    let answer = sim
        .call(
            &token,
            Method::PATCH,
            &format!("/orders/{}", ids[0]),
            Some(&json!({"giftWrap": true})),
            None,
        )
        .await;
    assert_field_refused("order giftWrap", &answer, "giftWrap", "UNKNOWN_FIELD");
    let answer = sim
        .call(
            &token,
            Method::PATCH,
            &format!("/orders/{}", ids[0]),
            Some(&json!({"totalAmount": "0.01"})),
            None,
        )
        .await;
    assert_field_refused("order totalAmount", &answer, "totalAmount", "READ_ONLY");

    // Shipments (§3.5): every field a shipment has that the store does not set.
    let lines: Vec<Value> = order["lineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"lineId": l["lineId"], "sku": l["sku"], "quantity": l["quantity"]}))
        .collect();
    let shipment = json!({ "orderId": ids[0], "carrier": "FedEx", "service": "2Day", "trackingNumber": "7946",
        "trackingUrl": "https://fedex.example/t/7946", "shippedDate": "2024-06-02T15:00:00Z",
        "lines": lines, "status": "label_created" });
    let path = format!("/orders/{}/shipments", ids[0]);
    for (key, field, mut body, code) in [
        ("w-s1", "weight", shipment.clone(), "UNKNOWN_FIELD"),
        ("w-s2", "lines[0].serial", shipment.clone(), "UNKNOWN_FIELD"),
        ("w-s3", "orderId", shipment.clone(), "READ_ONLY"),
    ] {
        match field {
            "weight" => body["weight"] = json!(2),
            "lines[0].serial" => body["lines"][0]["serial"] = json!("S1"),
            _ => body["orderId"] = json!(ids[1]),
        }
        let answer = sim
            .call(&token, Method::POST, &path, Some(&body), Some(key))
            .await;
        assert_field_refused(field, &answer, field, code);
    }
    let (status, s) = sim
        .call(&token, Method::POST, &path, Some(&shipment), Some("w-s4"))
        .await;
    assert_eq!(status, 201, "{s}");
    echoed("created shipment", &shipment, &s);

    // Returns (§3.6) and refunds.
    let rma = json!({ "orderId": ids[0], "reason": "damaged",
        "lines": [{"lineId": "1", "sku": order["lineItems"][0]["sku"], "quantity": 1, "refundAmount": "1.00",
                   "restock": false, "condition": "damaged"}] });
    let mut unknown = rma.clone();
    unknown["lines"][0]["colour"] = json!("red");
    let answer = sim
        .call(
            &token,
            Method::POST,
            "/returns",
            Some(&unknown),
            Some("w-r1"),
        )
        .await;
    assert_field_refused(
        "return line colour",
        &answer,
        "lines[0].colour",
        "UNKNOWN_FIELD",
    );
    let mut read_only = rma.clone();
    read_only["status"] = json!("approved");
    let answer = sim
        .call(
            &token,
            Method::POST,
            "/returns",
            Some(&read_only),
            Some("w-r2"),
        )
        .await;
    assert_field_refused("return status", &answer, "status", "READ_ONLY");
    let (status, r) = sim
        .call(&token, Method::POST, "/returns", Some(&rma), Some("w-r3"))
        .await;
    assert_eq!(status, 201, "{r}");
    echoed("created return", &rma, &r);
    let id = r["returnId"].as_str().unwrap().to_owned();
    sim.call(
        &token,
        Method::POST,
        &format!("/returns/{id}/approve"),
        None,
        None,
    )
    .await;
    let answer = sim
        .call(
            &token,
            Method::POST,
            &format!("/returns/{id}/refund"),
            Some(&json!({"amount": "1.00", "memo": "x"})),
            None,
        )
        .await;
    assert_field_refused("refund memo", &answer, "memo", "UNKNOWN_FIELD");

    // Inventory (§3.4): PUT's quantityOnHand, reason and sourceRef (the
    // record's other fields back unchanged); an adjustment's five fields.
    let record = sim
        .results(&token, "/inventory?sku=SKU-1001&locationId=WH2")
        .await[0]
        .clone();
    let mut set = record.clone();
    set["quantityOnHand"] = json!(41);
    set["reason"] = json!("erp_sync");
    set["sourceRef"] = json!("sagepro:SKU-1001/WEST");
    let (status, after) = sim
        .call(
            &token,
            Method::PUT,
            "/inventory/SKU-1001/locations/WH2",
            Some(&set),
            None,
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["quantityOnHand"], 41);
    let answer = sim
        .call(
            &token,
            Method::PUT,
            "/inventory/SKU-1001/locations/WH2",
            Some(&json!({"quantityOnHand": 40, "bin": "A1"})),
            None,
        )
        .await;
    assert_field_refused("inventory bin", &answer, "bin", "UNKNOWN_FIELD");
    let answer = sim
        .call(
            &token,
            Method::PUT,
            "/inventory/SKU-1001/locations/WH2",
            Some(&json!({"quantityOnHand": 40, "quantityReserved": 7})),
            None,
        )
        .await;
    assert_field_refused(
        "inventory quantityReserved",
        &answer,
        "quantityReserved",
        "READ_ONLY",
    );
    let adjustment = json!({"sku": "SKU-1001", "locationId": "WH2", "delta": -1, "reason": "damage", "sourceRef": "r-1"});
    let (status, adjusted) = sim
        .call(
            &token,
            Method::POST,
            "/inventory/adjustments",
            Some(&adjustment),
            Some("w-a1"),
        )
        .await;
    assert_eq!(status, 201, "{adjusted}");
    assert_eq!(adjusted["quantityOnHand"], 40);
    let mut unknown = adjustment.clone();
    unknown["note"] = json!("x");
    let answer = sim
        .call(
            &token,
            Method::POST,
            "/inventory/adjustments",
            Some(&unknown),
            Some("w-a2"),
        )
        .await;
    assert_field_refused("adjustment note", &answer, "note", "UNKNOWN_FIELD");
}

#[tokio::test]
async fn every_list_filters_on_every_field_and_refuses_anything_else() {
    let sim = spawn_sim().await;
    sim.unlimited().await;
    let token = sim.raw_token().await;
    use reqwest::Method;

    // Orders: the columns' filters and any other field's, checked against
    // the same rule applied here to the whole list.
    let ids = clarity::create_orders(&sim.state, &sim.pair_id, 12, PayloadMode::Full)
        .await
        .unwrap();
    let all = sim.results(&token, "/orders").await;
    assert_eq!(all.len(), 12);
    let first = &all[0];
    let money = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    let ids_of = |pick: &dyn Fn(&Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|o| pick(o))
            .map(|o| o["orderId"].as_str().unwrap().to_owned())
            .collect()
    };
    let total = money(&first["totalAmount"]);
    let sku = first["lineItems"][0]["sku"].as_str().unwrap().to_owned();
    let email = first["email"].as_str().unwrap().to_owned();
    let prefix: String = email.chars().take(5).collect();
    let n_lines = first["lineItems"].as_array().unwrap().len();
    let currency = first["currency"].as_str().unwrap().to_owned();
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("totalAmountMin={total}"),
            ids_of(&|o| money(&o["totalAmount"]) >= total),
        ),
        (
            format!("totalAmountMax={total}"),
            ids_of(&|o| money(&o["totalAmount"]) <= total),
        ),
        (
            format!("currency={}", currency.to_lowercase()),
            ids_of(&|o| o["currency"] == currency.as_str()),
        ),
        (
            format!("NotCurrency={currency}"),
            ids_of(&|o| o["currency"] != currency.as_str()),
        ),
        (
            format!("emailStartsWith={prefix}"),
            ids_of(&|o| o["email"].as_str().unwrap().starts_with(&prefix)),
        ),
        (
            format!("lineItemsAnySku={sku}"),
            ids_of(&|o| {
                o["lineItems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["sku"] == sku.as_str())
            }),
        ),
        (
            format!("lineItemsCount={n_lines}"),
            ids_of(&|o| o["lineItems"].as_array().unwrap().len() == n_lines),
        ),
        ("channel=web".to_owned(), ids_of(&|_| true)),
        ("channel=phone".to_owned(), vec![]),
        (
            "couponCode=SAVE10&couponCode=SPRING15".to_owned(),
            ids_of(&|o| !o["couponCode"].is_null()),
        ),
        (
            "NotcouponCode=SAVE10".to_owned(),
            ids_of(&|o| o["couponCode"] != "SAVE10"),
        ),
        (
            format!("orderId={}&orderId={}", ids[0], ids[1]),
            ids_of(&|o| o["orderId"] == ids[0].as_str() || o["orderId"] == ids[1].as_str()),
        ),
        (
            format!("NotorderId={}", ids[0]),
            ids_of(&|o| o["orderId"] != ids[0].as_str()),
        ),
        (
            format!("customerId={}", first["customerId"].as_str().unwrap()),
            ids_of(&|o| o["customerId"] == first["customerId"]),
        ),
        (
            format!("status=PROCESSING&currency={currency}"),
            ids_of(&|o| o["currency"] == currency.as_str()),
        ),
        (
            "updatedDateMin=2000-01-01T00:00:00Z&channel=web".to_owned(),
            ids_of(&|_| true),
        ),
        (
            "updatedDateMin=2999-01-01T00:00:00Z&channel=web".to_owned(),
            vec![],
        ),
    ];
    for (query, want) in &cases {
        assert_eq!(
            &sim.listed(&token, &format!("/orders?{query}"), "orderId")
                .await,
            want,
            "/orders?{query}"
        );
    }
    // A JSON filter pages like the rest: the count is of what matched.
    let page = sim
        .read(&token, "/orders?channel=web&pageSize=5&pageIndex=2")
        .await;
    assert_eq!(page["totalCount"], 12);
    assert_eq!(page["hasMore"], false);
    let tail: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = all[10..]
        .iter()
        .map(|o| o["orderId"].as_str().unwrap())
        .collect();
    assert_eq!(tail, want);
    // Sorting on any order field, the key breaking ties.
    let by_total = sim
        .listed(&token, "/orders?sort=totalAmount:desc", "orderId")
        .await;
    let mut want = all.clone();
    want.sort_by(|a, b| {
        money(&b["totalAmount"])
            .partial_cmp(&money(&a["totalAmount"]))
            .unwrap()
            .then(a["orderId"].as_str().cmp(&b["orderId"].as_str()))
    });
    let want: Vec<String> = want
        .iter()
        .map(|o| o["orderId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(by_total, want);

    // The other resources: a filter of each value type.
    for (path, field, want) in [
        (
            "/products?status=active&skuStartsWith=SKU-100&priceMin=0",
            "sku",
            9,
        ),
        (
            "/products?taxable=true&categoriesAny=kitchen&skuEndsWith=1",
            "sku",
            10,
        ),
        ("/products?status=inactive", "sku", 0),
        (
            "/customers?priceGroup=wholesale&taxExempt=false",
            "customerId",
            20,
        ),
        ("/customers?status=disabled", "customerId", 0),
        ("/customers?currency=CAD", "customerId", 6),
        (
            "/inventory?sku=SKU-1001&locationId=WH2&locationId=WH3",
            "locationId",
            2,
        ),
        (
            "/inventory?backorderable=true&sku=SKU-1001&quantityOnHandMin=0",
            "locationId",
            3,
        ),
        ("/coupons?type=percent&active=true", "couponCode", 2),
        ("/coupons?usageLimitMin=1", "couponCode", 0),
    ] {
        let got = sim.listed(&token, path, field).await;
        assert_eq!(got.len(), want, "{path}: {got:?}");
    }
    let (status, _) = sim
        .call(
            &token,
            Method::POST,
            &format!("/orders/{}/shipments", ids[0]),
            Some(&json!({"carrier": "UPS"})),
            Some("l-s1"),
        )
        .await;
    assert_eq!(status, 201);
    for (path, want) in [
        ("/shipments?carrier=ups&status=shipped", 1),
        ("/shipments?status=delivered", 0),
        (
            &format!("/shipments?orderId={}&linesCount=0", ids[0]) as &str,
            0,
        ),
    ] {
        assert_eq!(sim.results(&token, path).await.len(), want, "{path}");
    }
    let (status, _) = sim
        .call(
            &token,
            Method::POST,
            "/returns",
            Some(&json!({"orderId": ids[0], "lines": [{"lineId": "1", "quantity": 1}]})),
            Some("l-r1"),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        sim.results(&token, "/returns?status=requested&refundAmountMin=0")
            .await
            .len(),
        1
    );
    assert_eq!(
        sim.results(&token, "/returns?Notstatus=requested")
            .await
            .len(),
        0
    );

    // Unknown filters and values not of the field's type: 400 BAD_REQUEST.
    for path in [
        "/orders?colour=red",
        "/orders?status=bogus",
        "/orders?NotStatus=bogus",
        "/orders?totalAmountMin=lots",
        "/orders?updatedDateMin=yesterday",
        "/orders?orderDateMax=soon",
        "/orders?sort=colour:asc",
        "/orders?sort=totalAmount:sideways",
        "/products?colour=red",
        "/products?status=sold_out",
        "/products?taxable=maybe",
        "/products?priceMax=cheap",
        "/customers?nickname=x",
        "/customers?status=active&status=gone",
        "/inventory?warehouse=WH1",
        "/inventory?quantityOnHandMin=many",
        "/shipments?updatedDateMin=2024-06-01T00:00:00Z",
        "/shipments?status=lost",
        "/returns?state=requested",
        "/coupons?type=bogo",
        "/coupons?activeMin=true",
    ] {
        let answer = sim.call(&token, Method::GET, path, None, None).await;
        assert_bad_query(path, &answer);
    }
}
