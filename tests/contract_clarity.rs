//! Contract tests: the Clarity connector against the Clarity simulator over
//! real HTTP on a local port, a fresh SQLite database per test, and signed
//! webhook deliveries to a receiver the test runs itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use connect::db::Db;
use connect::sandbox::clarity::{self, DispatcherConfig, PayloadMode};
use connect::sandbox::{FaultRegistry, FaultSettings, SandboxCredentials, SandboxState, SimSystem};
use connect_jobs::connectors::clarity::signature;
use connect_jobs::connectors::clarity::wire::Order;
use connect_jobs::connectors::clarity::{ClarityClient, ClarityConfig, ListQuery};
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

    async fn set_faults(&self, settings: FaultSettings) {
        self.state
            .faults
            .set(&self.state.db, &self.pair_id, SimSystem::Clarity, settings)
            .await
            .expect("faults");
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
    assert!(detail.starts_with("token ok (scopes "), "{detail}");
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

    let log: Value = reqwest::get(format!("{}/__sim/webhook-log", sim.store_url()))
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
