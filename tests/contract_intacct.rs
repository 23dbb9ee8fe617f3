//! Contract tests: the Intacct connector against the Intacct simulator, over real
//! HTTP on a local port, with a fresh database per test (SQLite, or Postgres
//! with `CONNECT_TEST_BACKEND=postgres`).

use std::sync::Arc;
use std::time::Duration;

use connect::db::Db;
use connect::sandbox::intacct::{self, SimConfig};
use connect::sandbox::{FaultRegistry, FaultSettings, SandboxCredentials, SandboxState, SimSystem};
use connect_jobs::connectors::intacct::element::Element;
use connect_jobs::connectors::intacct::wire::Response as WireResponse;
use connect_jobs::connectors::intacct::{IntacctClient, IntacctConfig, SoTransaction};
use connect_jobs::connectors::{ConnectorError, CountingGate};
use secrecy::SecretString;
use serde_json::json;

struct Sim {
    base: String,
    db: Db,
    state: SandboxState,
    faults: Arc<FaultRegistry>,
    pair_id: String,
    creds: SandboxCredentials,
    _dir: tempfile::TempDir,
}

async fn spawn_sim() -> Sim {
    spawn_sim_with(SimConfig::default()).await
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

async fn spawn_sim_with(config: SimConfig) -> Sim {
    connect_jobs::connectors::http::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = test_db(&dir).await;
    let tenant_id = "tnt_contract";
    let pair_id = format!("pair_{}", uuid::Uuid::now_v7().simple());
    let now = connect::db::now_ms();
    let mut tx = db.begin_write().await.expect("tx");
    sqlx::query("INSERT INTO tenants (id, name, plan_id, status, created_at) VALUES ($1, $2, 'trial', 'active', $3)")
        .bind(tenant_id)
        .bind("Contract Co")
        .bind(now)
        .execute(&mut *tx)
        .await
        .expect("tenant");
    sqlx::query(
        "INSERT INTO pairs (id, tenant_id, name, erp, environment, status, created_at, updated_at) \
         VALUES ($1, $2, 'Sandbox', 'intacct', 'sandbox', 'active', $3, $3)",
    )
    .bind(&pair_id)
    .bind(tenant_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("pair");
    let creds = SandboxCredentials::generate(&pair_id, tenant_id);
    creds.insert(&mut tx).await.expect("credentials");
    intacct::seed(&mut tx, &pair_id).await.expect("seed");
    tx.commit().await.expect("commit");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let faults = Arc::new(FaultRegistry::new());
    let state = SandboxState {
        db: db.clone(),
        faults: faults.clone(),
        http: reqwest::Client::new(),
        self_url: base.clone().into(),
        memo: Default::default(),
    };
    let app = axum::Router::new().nest(
        "/sandbox/intacct",
        intacct::router_with(state.clone(), config),
    );
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Sim {
        base,
        db,
        state,
        faults,
        pair_id,
        creds,
        _dir: dir,
    }
}

impl Sim {
    fn endpoint(&self) -> String {
        format!(
            "{}/sandbox/intacct/{}/ia/xml/xmlgw.phtml",
            self.base, self.pair_id
        )
    }

    fn config(&self) -> IntacctConfig {
        IntacctConfig {
            endpoint_url: self.endpoint(),
            sender_id: self.creds.intacct_sender_id.clone(),
            sender_password: SecretString::from(self.creds.intacct_sender_password.clone()),
            company_id: self.creds.intacct_company_id.clone(),
            user_id: self.creds.intacct_user_id.clone(),
            user_password: SecretString::from(self.creds.intacct_user_password.clone()),
            entity_id: None,
        }
    }

    fn client(&self) -> (IntacctClient, Arc<CountingGate>) {
        self.client_with(self.config())
    }

    fn client_with(&self, config: IntacctConfig) -> (IntacctClient, Arc<CountingGate>) {
        let meter = Arc::new(CountingGate::default());
        let http = connect_jobs::connectors::http::client(Default::default());
        (IntacctClient::new(config, http, meter.clone()), meter)
    }

    async fn set_faults(&self, settings: FaultSettings) {
        self.faults
            .set(&self.db, &self.pair_id, SimSystem::Intacct, settings)
            .await
            .expect("faults");
    }

    async fn orders(&self) -> Vec<serde_json::Value> {
        intacct::list_sales_orders(&self.db, &self.pair_id)
            .await
            .expect("list")
    }

    /// Posts raw XML, as a client other than ours would.
    async fn post(&self, body: String) -> (u16, String) {
        let resp = reqwest::Client::new()
            .post(self.endpoint())
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
            .expect("post");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    /// A request envelope around `functions`, signed in with the login block.
    fn envelope(&self, unique: bool, transaction: bool, functions: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>{}</senderid>\
             <password>{}</password><controlid>raw-1</controlid><uniqueid>{unique}</uniqueid>\
             <dtdversion>3.0</dtdversion></control><operation transaction=\"{transaction}\">\
             <authentication><login><userid>{}</userid><companyid>{}</companyid><password>{}</password>\
             </login></authentication><content>{functions}</content></operation></request>",
            self.creds.intacct_sender_id,
            self.creds.intacct_sender_password,
            self.creds.intacct_user_id,
            self.creds.intacct_company_id,
            self.creds.intacct_user_password
        )
    }
}

fn order(reference: &str) -> SoTransaction {
    serde_json::from_value(json!({
        "transactiontype":"Sales Order","datecreated":{"year":"2024","month":"06","day":"01"},"customerid":"CUS-5001",
        "documentno":reference,"referenceno":reference,"customerponumber":reference,"termname":"Net 30",
        "shippingmethod":null,"basecurr":"USD","currency":"USD","exchratetype":null,"state":"Pending","message":null,
        "sotransitems":[{"itemid":"SKU-1001","quantity":"2","unit":"Each","price":"19.99","warehouseid":"WH1","locationid":"US-EAST","departmentid":"ECOM","memo":null}],
        "subtotals":[{"description":"Tax","total":"3.20"},{"description":"Shipping","total":"5.00"}]
    }))
    .expect("order json")
}

fn results(xml: &str) -> Vec<Element> {
    let root = Element::parse(xml).expect("xml response");
    root.find("operation")
        .map(|op| op.find_all("result").cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn test_connection_signs_in_and_describes_the_session() {
    let sim = spawn_sim().await;
    let (client, meter) = sim.client();
    let detail = client.test_connection().await.expect("connection");
    assert!(
        detail.starts_with(&format!(
            "signed in as ws_user at {} (top level), session valid until ",
            sim.creds.intacct_company_id
        )),
        "{detail}"
    );
    assert_eq!(meter.calls(), 1);

    let mut config = sim.config();
    config.entity_id = Some("US-EAST".into());
    let (client, _) = sim.client_with(config);
    let detail = client.test_connection().await.expect("entity connection");
    assert!(detail.contains("(entity US-EAST)"), "{detail}");
}

#[tokio::test]
async fn wrong_passwords_are_auth_errors_that_say_what_to_fix() {
    let sim = spawn_sim().await;
    let mut config = sim.config();
    config.user_password = SecretString::from("wrong".to_owned());
    let (client, _) = sim.client_with(config);
    match client.test_connection().await {
        Err(ConnectorError::Auth { message, .. }) => {
            assert!(message.contains("user 'ws_user'"), "{message}");
            assert!(
                message.contains("Sign-in information is incorrect"),
                "{message}"
            );
        }
        other => panic!("expected Auth, got {other:?}"),
    }

    let mut config = sim.config();
    config.sender_password = SecretString::from("wrong".to_owned());
    let (client, _) = sim.client_with(config);
    match client.test_connection().await {
        Err(e @ ConnectorError::Auth { .. }) => {
            assert!(!e.is_transient());
            let message = e.to_string();
            assert!(
                message.contains("sender 'clarity-connect-sandbox'"),
                "{message}"
            );
        }
        other => panic!("expected Auth, got {other:?}"),
    }

    let mut config = sim.config();
    config.entity_id = Some("MARS".into());
    let (client, _) = sim.client_with(config);
    assert!(matches!(
        client.test_connection().await,
        Err(ConnectorError::Auth { .. })
    ));
}

#[tokio::test]
async fn create_sales_order_returns_its_key_and_the_simulator_holds_the_document() {
    let sim = spawn_sim().await;
    let (client, meter) = sim.client();
    let key = client
        .create_sales_order("clarity-order-CO-100045-create-v1", &order("CO-100045"))
        .await
        .expect("create");
    assert_eq!(key, "Sales Order-CO-100045");
    // One sign-in, one create: the session is reused.
    assert_eq!(meter.calls(), 2);

    let orders = sim.orders().await;
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    assert_eq!(o["key"], "Sales Order-CO-100045");
    assert_eq!(o["DOCNO"], "CO-100045");
    assert_eq!(o["REFERENCENO"], "CO-100045");
    assert_eq!(o["CUSTOMERID"], "CUS-5001");
    // 2 × 19.99 + 3.20 tax + 5.00 shipping
    assert_eq!(o["TOTAL"], "48.18");
    assert_eq!(o["lines"][0]["ITEMID"], "SKU-1001");
    assert_eq!(o["lines"][0]["VALUE"], "39.98");

    assert_eq!(
        client
            .find_sales_order("Sales Order", "CO-100045")
            .await
            .expect("find"),
        Some(key)
    );
    assert_eq!(
        client
            .find_sales_order("Sales Order", "CO-404")
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        client
            .find_sales_order("Sales Invoice", "CO-100045")
            .await
            .expect("find"),
        None
    );
}

#[tokio::test]
async fn the_same_control_id_again_returns_the_same_key_and_creates_nothing() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let first = client
        .create_sales_order("clarity-order-CO-1-create-v1", &order("CO-1"))
        .await
        .expect("first");
    let second = client
        .create_sales_order("clarity-order-CO-1-create-v1", &order("CO-1"))
        .await
        .expect("second");
    assert_eq!(first, second);
    assert_eq!(sim.orders().await.len(), 1);

    // Auto-numbered: the key comes from the definition's sequence, and the
    // repeat is resolved through the reference number.
    let mut auto = order("CO-2");
    auto.documentno = None;
    let k1 = client
        .create_sales_order("clarity-order-CO-2-create-v1", &auto)
        .await
        .expect("auto");
    assert_eq!(k1, "Sales Order-SO0001");
    let k2 = client
        .create_sales_order("clarity-order-CO-2-create-v1", &auto)
        .await
        .expect("auto again");
    assert_eq!(k1, k2);
    assert_eq!(sim.orders().await.len(), 2);
}

#[tokio::test]
async fn concurrent_repeats_of_one_control_id_create_one_document() {
    let sim = spawn_sim().await;
    sim.set_faults(FaultSettings {
        concurrency_limit: Some(8),
        ..FaultSettings::default()
    })
    .await;
    let (client, _) = sim.client();
    client.test_connection().await.expect("session");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move {
                c.create_sales_order("clarity-order-CO-9-create-v1", &order("CO-9"))
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().expect("create"), "Sales Order-CO-9");
    }
    assert_eq!(sim.orders().await.len(), 1);
}

#[tokio::test]
async fn business_failures_are_validation_errors_naming_the_field() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();

    let mut o = order("CO-3");
    o.sotransitems[0].itemid = "SKU-9999".into();
    match client.create_sales_order("c-3", &o).await {
        Err(e @ ConnectorError::Validation { .. }) => {
            assert!(!e.is_transient());
            assert_eq!(e.field(), Some("sotransitems[0].itemid"));
            assert!(e.to_string().contains("SKU-9999"), "{e}");
        }
        other => panic!("expected Validation, got {other:?}"),
    }

    let mut o = order("CO-4");
    o.customerid = "CUS-0000".into();
    let e = client.create_sales_order("c-4", &o).await.unwrap_err();
    assert_eq!(e.field(), Some("customerid"), "{e}");

    let mut o = order("CO-5");
    o.sotransitems[0].locationid = None;
    let e = client.create_sales_order("c-5", &o).await.unwrap_err();
    assert_eq!(e.field(), Some("sotransitems[0].locationid"), "{e}");

    let mut o = order("CO-6");
    o.sotransitems[0].quantity = "0".into();
    let e = client.create_sales_order("c-6", &o).await.unwrap_err();
    assert_eq!(e.field(), Some("sotransitems[0].quantity"), "{e}");

    let mut o = order("CO-7");
    o.transactiontype = "Sales Ordr".into();
    let e = client.create_sales_order("c-7", &o).await.unwrap_err();
    assert_eq!(e.field(), Some("transactiontype"), "{e}");

    let mut o = order("CO-8");
    o.termname = None;
    let e = client.create_sales_order("c-8", &o).await.unwrap_err();
    assert_eq!(e.field(), Some("termname"), "{e}");

    // A document number used before, under a new control id.
    client
        .create_sales_order("c-10a", &order("CO-10"))
        .await
        .expect("first");
    let e = client
        .create_sales_order("c-10b", &order("CO-10"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("documentno"), "{e}");

    // A failed create does not burn its control id: fixed data goes through.
    let key = client
        .create_sales_order("c-3", &order("CO-3"))
        .await
        .expect("fixed");
    assert_eq!(key, "Sales Order-CO-3");
    assert_eq!(sim.orders().await.len(), 2);
}

#[tokio::test]
async fn injected_server_errors_are_transient_server_errors() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    client.test_connection().await.expect("session");
    sim.set_faults(FaultSettings {
        error_rate: 1.0,
        ..FaultSettings::default()
    })
    .await;
    match client.create_sales_order("c-1", &order("CO-1")).await {
        Err(e @ ConnectorError::Server { status: 502, .. }) => assert!(e.is_transient()),
        other => panic!("expected Server 502, got {other:?}"),
    }
    assert!(sim.orders().await.is_empty());
}

#[tokio::test]
async fn rate_limits_are_rate_limited_with_the_retry_after_hint() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    sim.set_faults(FaultSettings {
        rate_limit_per_s: Some(1),
        ..FaultSettings::default()
    })
    .await;
    client
        .test_connection()
        .await
        .expect("the first call fits the limit");
    match client.create_sales_order("c-1", &order("CO-1")).await {
        Err(e @ ConnectorError::RateLimited { .. }) => {
            assert!(e.is_transient());
            let ConnectorError::RateLimited { retry_after, .. } = e else {
                unreachable!()
            };
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // The raw answer is HTTP 429 with GW-0010.
    let (status, body) = sim.post(sim.envelope(false, false, "<function controlid=\"f\"><readByQuery><object>ITEM</object><fields>ITEMID</fields><query></query></readByQuery></function>")).await;
    assert_eq!(status, 429);
    assert!(body.contains("<errorno>GW-0010</errorno>"), "{body}");
}

#[tokio::test]
async fn concurrent_writes_share_a_request_and_each_keeps_its_own_outcome() {
    let sim = spawn_sim().await;
    let (client, meter) = sim.client();
    client.test_connection().await.expect("session");
    let before = meter.calls();
    // A slow company: the writes queue behind the first request.
    sim.set_faults(FaultSettings {
        latency_ms: 300,
        concurrency_limit: Some(2),
        ..FaultSettings::default()
    })
    .await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                let mut o = order(&format!("CO-B{i}"));
                if i == 5 {
                    o.customerid = "NO-SUCH-CUSTOMER".into();
                }
                c.create_sales_order(&format!("b-{i}"), &o).await
            })
        })
        .collect();
    let mut keys = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(key) => keys.push(key),
            Err(ConnectorError::Validation { .. }) if i == 5 => {}
            Err(other) => panic!("write {i}: {other:?}"),
        }
    }
    assert_eq!(keys.len(), 11, "the bad record failed alone: {keys:?}");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 11, "each write its own document");
    let requests = meter.calls() - before;
    assert!(
        requests <= 4,
        "12 writes took {requests} requests: they were not shared"
    );
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_wait_then_get_a_concurrency_error() {
    let sim = spawn_sim_with(SimConfig {
        queue_wait: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await;
    // One request per write, so that three writes are three requests.
    let client = sim.client().0.with_write_batch(1);
    client.test_connection().await.expect("session");
    sim.set_faults(FaultSettings {
        concurrency_limit: Some(1),
        latency_ms: 1000,
        ..FaultSettings::default()
    })
    .await;
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                c.create_sales_order(&format!("c-{i}"), &order(&format!("CO-{i}")))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e @ ConnectorError::ConcurrencyLimit { .. }) => {
                assert!(e.is_transient());
                limited += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, limited), (1, 2));
    // Within the limit, requests queue for a slot instead of failing.
    sim.set_faults(FaultSettings {
        concurrency_limit: Some(1),
        latency_ms: 50,
        ..FaultSettings::default()
    })
    .await;
    let (oa, ob) = (order("CO-A"), order("CO-B"));
    let (a, b) = tokio::join!(
        client.create_sales_order("c-a", &oa),
        client.create_sales_order("c-b", &ob)
    );
    a.expect("a");
    b.expect("b");
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_call_repeated() {
    let sim = spawn_sim().await;
    let (client, meter) = sim.client();
    client.test_connection().await.expect("session");
    assert_eq!(
        intacct::expire_sessions(&sim.state, &sim.pair_id)
            .await
            .unwrap(),
        1
    );
    let key = client
        .create_sales_order("c-1", &order("CO-1"))
        .await
        .expect("create after re-login");
    assert_eq!(key, "Sales Order-CO-1");
    // sign-in, refused create, sign-in again, create
    assert_eq!(meter.calls(), 4);
    assert_eq!(sim.orders().await.len(), 1);
}

#[tokio::test]
async fn a_timed_out_create_is_resolved_by_its_control_id_on_retry() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let client = client.with_request_timeout(Duration::from_millis(400));
    client.test_connection().await.expect("session");
    sim.set_faults(FaultSettings {
        timeout_rate: 1.0,
        hang_ms: 1500,
        ..FaultSettings::default()
    })
    .await;
    let e = client
        .create_sales_order("clarity-order-CO-77-create-v1", &order("CO-77"))
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Timeout { .. }), "{e:?}");
    // The simulator committed the work before it held the answer.
    assert_eq!(sim.orders().await.len(), 1);
    sim.set_faults(FaultSettings::default()).await;
    let key = client
        .create_sales_order("clarity-order-CO-77-create-v1", &order("CO-77"))
        .await
        .expect("retry");
    assert_eq!(key, "Sales Order-CO-77");
    assert_eq!(sim.orders().await.len(), 1);
}

#[tokio::test]
async fn malformed_xml_and_bad_envelopes_fail_at_the_control_level() {
    let sim = spawn_sim().await;
    let (status, body) = sim.post("<request><control>".into()).await;
    assert_eq!(status, 200);
    let r = WireResponse::from_xml(&body).expect("gateway error parses");
    assert!(r.errormessage.unwrap().has_errno("XL03000003"));

    // getAPISession must be alone.
    let (_, body) = sim
        .post(sim.envelope(false, false, "<function controlid=\"a\"><getAPISession/></function><function controlid=\"b\"><readMore><resultId>x</resultId></readMore></function>"))
        .await;
    let r = WireResponse::from_xml(&body).unwrap();
    assert_eq!(
        r.control.status,
        connect_jobs::connectors::intacct::wire::Status::Failure
    );
    assert!(body.contains("only function"), "{body}");
}

#[tokio::test]
async fn a_failing_function_in_a_transaction_rolls_back_its_siblings() {
    let sim = spawn_sim().await;
    let customer = "<function controlid=\"c1\"><create><CUSTOMER><CUSTOMERID>C-NEW</CUSTOMERID><NAME>New Co</NAME>\
        <DISPLAYCONTACT><PRINTAS>New Co</PRINTAS><EMAIL1>a@b.c</EMAIL1></DISPLAYCONTACT><TERMNAME>Net 30</TERMNAME></CUSTOMER></create></function>";
    let bad_order = "<function controlid=\"c2\"><create_sotransaction><transactiontype>Sales Order</transactiontype>\
        <datecreated><year>2024</year><month>06</month><day>01</day></datecreated><customerid>C-NEW</customerid>\
        <termname>Net 30</termname><sotransitems><sotransitem><itemid>SKU-0</itemid><quantity>1</quantity>\
        <locationid>US-EAST</locationid></sotransitem></sotransitems></create_sotransaction></function>";
    let (_, body) = sim
        .post(sim.envelope(true, true, &format!("{customer}{bad_order}")))
        .await;
    let rs = results(&body);
    assert_eq!(rs[0].child_text("status"), Some("aborted"), "{body}");
    assert_eq!(rs[1].child_text("status"), Some("failure"), "{body}");
    assert!(body.matches("XL03000009").count() >= 2, "{body}");

    // Nothing was kept, and the aborted control id is still usable.
    let read = "<function controlid=\"r\"><readByName><object>CUSTOMER</object><keys>C-NEW</keys><fields>CUSTOMERID</fields></readByName></function>";
    let (_, body) = sim.post(sim.envelope(false, false, read)).await;
    assert!(body.contains("count=\"0\""), "{body}");
    let (_, body) = sim.post(sim.envelope(true, false, customer)).await;
    let rs = results(&body);
    assert_eq!(rs[0].child_text("status"), Some("success"), "{body}");
    assert!(body.contains("<customer><RECORDNO>"), "{body}");
}

#[tokio::test]
async fn read_by_query_pages_with_read_more() {
    let sim = spawn_sim().await;
    let q = "<function controlid=\"q\"><readByQuery><object>ITEM</object><fields>ITEMID,BASEPRICE,WHENMODIFIED</fields>\
             <query>ITEMID LIKE 'SKU-1%' AND STATUS = 'active'</query><pagesize>75</pagesize></readByQuery></function>";
    let (_, body) = sim.post(sim.envelope(false, false, q)).await;
    let rs = results(&body);
    let data = rs[0].find("data").expect("data");
    assert_eq!(data.attr_value("count"), Some("75"));
    assert_eq!(data.attr_value("totalcount"), Some("200"));
    assert_eq!(data.attr_value("numremaining"), Some("125"));
    assert_eq!(
        data.find_all("item").next().unwrap().child_text("ITEMID"),
        Some("SKU-1001")
    );
    let mut result_id = data.attr_value("resultId").unwrap().to_owned();
    let mut seen = 75;
    for expected_remaining in ["50", "0"] {
        let more = format!(
            "<function controlid=\"m\"><readMore><resultId>{result_id}</resultId></readMore></function>"
        );
        let (_, body) = sim.post(sim.envelope(false, false, &more)).await;
        let rs = results(&body);
        let data = rs[0].find("data").expect("data");
        assert_eq!(
            data.attr_value("numremaining"),
            Some(expected_remaining),
            "{body}"
        );
        seen += data.find_all("item").count();
        result_id = data.attr_value("resultId").unwrap_or("").to_owned();
    }
    assert_eq!(seen, 200);

    let bad = "<function controlid=\"q\"><readByQuery><object>ITEM</object><fields>NOPE</fields><query></query></readByQuery></function>";
    let (_, body) = sim.post(sim.envelope(false, false, bad)).await;
    assert!(body.contains("XL03000010"), "{body}");
}

#[tokio::test]
async fn query_finds_sales_orders_by_reference_and_modification_time() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    for i in 1..=3 {
        client
            .create_sales_order(&format!("c-{i}"), &order(&format!("CO-{i}")))
            .await
            .expect("create");
    }
    let q = "<function controlid=\"q\"><query><object>SODOCUMENT</object><select><field>DOCID</field><field>TOTAL</field></select>\
             <filter><and><equalto><field>DOCPARID</field><value>Sales Order</value></equalto>\
             <greaterthanorequalto><field>WHENMODIFIED</field><value>01/01/2024 00:00:00</value></greaterthanorequalto></and></filter>\
             <orderby><order><field>RECORDNO</field><descending/></order></orderby><pagesize>2</pagesize></query></function>";
    let (_, body) = sim.post(sim.envelope(false, false, q)).await;
    let rs = results(&body);
    let data = rs[0].find("data").expect("data");
    assert_eq!(data.attr_value("totalcount"), Some("3"), "{body}");
    assert_eq!(data.attr_value("numremaining"), Some("1"));
    let docids: Vec<_> = data
        .find_all("SODOCUMENT")
        .map(|d| d.child_text("DOCID").unwrap().to_owned())
        .collect();
    assert_eq!(docids, ["Sales Order-CO-3", "Sales Order-CO-2"]);

    let q = "<function controlid=\"q\"><readByQuery><object>SODOCUMENT</object><fields>DOCID</fields>\
             <query>WHENMODIFIED &gt;= '01/01/2999 00:00:00'</query></readByQuery></function>";
    let (_, body) = sim.post(sim.envelope(false, false, q)).await;
    assert!(body.contains("totalcount=\"0\""), "{body}");
}

#[tokio::test]
async fn unbalanced_journal_entries_are_refused() {
    let sim = spawn_sim().await;
    let batch = |credit: &str| {
        format!(
            "<function controlid=\"gl\"><create><GLBATCH><JOURNAL>GJ</JOURNAL><BATCH_DATE>06/01/2024</BATCH_DATE>\
             <BATCH_TITLE>Settlement</BATCH_TITLE><REFERENCENO>SETTLE-1</REFERENCENO><ENTRIES>\
             <GLENTRY><ACCOUNTNO>1010</ACCOUNTNO><TR_TYPE>1</TR_TYPE><TRX_AMOUNT>970.00</TRX_AMOUNT><LOCATION>US-EAST</LOCATION></GLENTRY>\
             <GLENTRY><ACCOUNTNO>1200</ACCOUNTNO><TR_TYPE>-1</TR_TYPE><TRX_AMOUNT>{credit}</TRX_AMOUNT><LOCATION>US-EAST</LOCATION></GLENTRY>\
             </ENTRIES></GLBATCH></create></function>"
        )
    };
    let (_, body) = sim
        .post(sim.envelope(false, false, &batch("1000.00")))
        .await;
    assert!(body.contains("Unbalanced"), "{body}");
    assert!(
        body.contains("<data listtype=\"objects\" count=\"0\"/>"),
        "{body}"
    );
    let (_, body) = sim.post(sim.envelope(false, false, &batch("970.00"))).await;
    assert!(body.contains("<glbatch><RECORDNO>"), "{body}");
}

// ---------------------------------------------------------------------------
// The connector's batch, generic writes, reads and error classes
// ---------------------------------------------------------------------------

use connect::sandbox::{FaultKind, ScriptedFault};
use connect_jobs::connectors::intacct::functions::text;
use connect_jobs::connectors::intacct::{
    ApiFunction, BatchMode, Checkpoint, Object, Record, SoLineUpdate, SoUpdate,
};

fn rec(v: serde_json::Value) -> Record {
    serde_json::from_value(v).expect("record json")
}

fn script(fault: FaultKind) -> FaultSettings {
    FaultSettings {
        script: vec![ScriptedFault { fault, count: 1 }],
        ..FaultSettings::default()
    }
}

fn customer(id: &str) -> Record {
    rec(json!({"CUSTOMERID": id, "NAME": format!("{id} Co"),
               "DISPLAYCONTACT": {"PRINTAS": format!("{id} Co"), "EMAIL1": "a@example.com"},
               "TERMNAME": "Net 30", "CURRENCY": "USD"}))
}

#[tokio::test]
async fn scripted_session_expiry_is_answered_at_the_authentication_level_and_re_logged_once() {
    let sim = spawn_sim().await;
    let (client, meter) = sim.client();
    client.test_connection().await.expect("session");
    sim.set_faults(script(FaultKind::SessionExpired)).await;
    let key = client
        .create_sales_order("c-1", &order("CO-1"))
        .await
        .expect("create after re-login");
    assert_eq!(key, "Sales Order-CO-1");
    // sign-in, refused create, sign-in again, create
    assert_eq!(meter.calls(), 4);

    // The raw answer: control success, authentication failure, no result.
    client.test_connection().await.expect("session");
    sim.set_faults(script(FaultKind::SessionExpired)).await;
    let body = format!(
        "<request><control><senderid>{}</senderid><password>{}</password><controlid>x</controlid>\
         <uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation><authentication>\
         <sessionid>whatever..</sessionid></authentication><content><function controlid=\"r\"><readByName>\
         <object>ITEM</object><keys>SKU-1001</keys><fields>ITEMID</fields></readByName></function></content>\
         </operation></request>",
        sim.creds.intacct_sender_id, sim.creds.intacct_sender_password
    );
    let (_, body) = sim.post(body).await;
    let r = WireResponse::from_xml(&body).expect("response");
    let op = r.operation.expect("operation");
    assert_eq!(
        op.authentication.status,
        connect_jobs::connectors::intacct::wire::Status::Failure
    );
    assert!(op.result.is_empty());
    assert!(
        op.errormessage
            .unwrap()
            .joined()
            .contains("Invalid session")
    );
}

#[tokio::test]
async fn clock_based_session_expiry_signs_in_again() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let clock = Arc::new(AtomicI64::new(connect::db::now_ms()));
    let c = clock.clone();
    let sim = spawn_sim_with(SimConfig {
        session_ttl: Duration::from_secs(600),
        clock: Arc::new(move || c.load(Ordering::SeqCst)),
        ..SimConfig::default()
    })
    .await;
    let (client, meter) = sim.client();
    client
        .create_sales_order("c-1", &order("CO-1"))
        .await
        .expect("first");
    assert_eq!(meter.calls(), 2);
    // Within the sliding window the session holds.
    clock.fetch_add(500_000, Ordering::SeqCst);
    client
        .create_sales_order("c-2", &order("CO-2"))
        .await
        .expect("second");
    assert_eq!(meter.calls(), 3);
    // Past it, the simulator refuses the session and the client signs in again.
    clock.fetch_add(601_000, Ordering::SeqCst);
    client
        .create_sales_order("c-3", &order("CO-3"))
        .await
        .expect("third");
    assert_eq!(meter.calls(), 6);
    assert_eq!(sim.orders().await.len(), 3);
}

#[tokio::test]
async fn scripted_unauthorized_is_a_permanent_auth_error() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    client.test_connection().await.expect("session");
    sim.set_faults(script(FaultKind::Unauthorized)).await;
    match client.create_sales_order("c-1", &order("CO-1")).await {
        Err(e @ ConnectorError::Auth { .. }) => assert!(!e.is_transient(), "{e}"),
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(sim.orders().await.is_empty());
    // A login block is refused at the authentication level.
    sim.set_faults(script(FaultKind::Unauthorized)).await;
    match client.test_connection().await {
        Err(ConnectorError::Auth { message, .. }) => {
            assert!(
                message.contains("Sign-in information is incorrect"),
                "{message}"
            )
        }
        other => panic!("expected Auth, got {other:?}"),
    }
}

#[tokio::test]
async fn scripted_validation_and_not_found_fail_the_first_function_only() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    client.test_connection().await.expect("session");

    sim.set_faults(script(FaultKind::Validation)).await;
    let batch = [
        ApiFunction::create("cust-a", Object::Customer, &customer("C-A")),
        ApiFunction::create("cust-b", Object::Customer, &customer("C-B")),
    ];
    let out = client
        .batch(&batch, BatchMode::default())
        .await
        .expect("batch");
    match &out[0] {
        Err(e @ ConnectorError::Validation { message, .. }) => {
            assert!(!e.is_transient());
            // The field the simulator picked is one we sent, and the message says which.
            let field = e.field().expect("a field");
            assert!(customer("C-A").contains_key(field), "{e}");
            assert!(message.starts_with("CUSTOMER C-A: "), "{message}");
            assert!(
                message.contains(&format!("Correct {field}")),
                "correction kept: {message}"
            );
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    assert!(out[1].is_ok(), "{:?}", out[1]);

    // An order's validation names the line field.
    sim.set_faults(script(FaultKind::Validation)).await;
    let e = client
        .create_sales_order("c-v", &order("CO-V"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("sotransitems[0].quantity"), "{e}");

    sim.set_faults(script(FaultKind::NotFound)).await;
    let e = client
        .update(
            "upd-b",
            Object::Customer,
            &rec(json!({"CUSTOMERID": "C-B", "NAME": "B2"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::NotFound { .. }), "{e:?}");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("C-B"), "{e}");

    sim.set_faults(script(FaultKind::RecordLocked)).await;
    let e = client
        .update(
            "upd-b2",
            Object::Customer,
            &rec(json!({"CUSTOMERID": "C-B", "NAME": "B2"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectorError::RecordLocked { .. }) && e.is_transient(),
        "{e:?}"
    );
}

#[tokio::test]
async fn scripted_rate_and_concurrency_limits_are_transient_with_retry_after() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    client.test_connection().await.expect("session");
    for (fault, concurrency) in [
        (FaultKind::RateLimited, false),
        (FaultKind::ConcurrencyLimit, true),
    ] {
        sim.set_faults(script(fault)).await;
        let e = client
            .read_by_name("ITEM", &["SKU-1001".into()], &["ITEMID"])
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e:?}");
        match e {
            ConnectorError::RateLimited { retry_after, .. } if !concurrency => {
                assert_eq!(retry_after, Some(Duration::from_secs(1)))
            }
            ConnectorError::ConcurrencyLimit { retry_after, .. } if concurrency => {
                assert_eq!(retry_after, Some(Duration::from_secs(1)))
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
    // The script is used up: the next call goes through.
    assert_eq!(
        client
            .read_by_name("ITEM", &["SKU-1001".into()], &["ITEMID"])
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_batch_sends_many_functions_in_one_request() {
    let sim = spawn_sim().await;
    let (client, meter) = sim.client();
    client.test_connection().await.expect("session");
    let functions: Vec<ApiFunction> = (0..10)
        .map(|i| ApiFunction::create_sales_order(&format!("b-{i}"), &order(&format!("CO-B{i}"))))
        .collect::<Result<_, _>>()
        .expect("the orders build");
    let out = client
        .batch(&functions, BatchMode::default())
        .await
        .expect("batch");
    assert_eq!(meter.calls(), 2, "one sign-in, one request");
    let keys: Vec<String> = out
        .into_iter()
        .map(|r| r.expect("ok").key.unwrap())
        .collect();
    assert_eq!(keys[9], "Sales Order-CO-B9");
    assert_eq!(sim.orders().await.len(), 10);

    // Sent again (an unknown outcome), every function is resolved, nothing doubles.
    let again = client
        .batch(&functions, BatchMode::default())
        .await
        .expect("repeat");
    for (r, k) in again.iter().zip(&keys) {
        let done = r.as_ref().expect("resolved");
        assert!(done.already_processed);
        assert_eq!(done.key.as_ref(), Some(k));
    }
    assert_eq!(sim.orders().await.len(), 10);

    // Over the cap, nothing is sent.
    let calls = meter.calls();
    let many: Vec<ApiFunction> = (0..101)
        .map(|i| {
            ApiFunction::read_by_name(&format!("r-{i}"), "ITEM", &["SKU-1001".into()], "ITEMID")
        })
        .collect::<Result<_, _>>()
        .expect("the reads build");
    let e = client.batch(&many, BatchMode::default()).await.unwrap_err();
    assert_eq!(e.field(), Some("content.function"));
    assert_eq!(meter.calls(), calls);
}

#[tokio::test]
async fn a_transaction_batch_rolls_back_as_a_whole() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let mut bad = order("CO-T");
    bad.sotransitems[0].itemid = "SKU-0".into();
    let functions = [
        ApiFunction::create("t-cust", Object::Customer, &customer("C-T")),
        ApiFunction::create_sales_order("t-order", &bad).expect("builds"),
    ];
    let out = client
        .batch(&functions, BatchMode { transaction: true })
        .await
        .expect("batch");
    match &out[0] {
        Err(ConnectorError::Refused { message, .. }) => {
            assert!(message.contains("rolled back"), "{message}");
            assert!(message.contains("t-order"), "{message}");
        }
        other => panic!("expected Refused (aborted), got {other:?}"),
    }
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.field(), Some("sotransitems[0].itemid"), "{e}");
    assert!(
        client
            .read_by_name("CUSTOMER", &["C-T".into()], &[])
            .await
            .unwrap()
            .is_empty()
    );
    // The rolled-back control ids are free again.
    let mut good = bad.clone();
    good.sotransitems[0].itemid = "SKU-1001".into();
    let functions = [
        ApiFunction::create("t-cust", Object::Customer, &customer("C-T")),
        ApiFunction::create_sales_order("t-order", &good).expect("builds"),
    ];
    let out = client
        .batch(&functions, BatchMode { transaction: true })
        .await
        .expect("batch");
    assert!(out.iter().all(Result::is_ok), "{out:?}");
}

#[tokio::test]
async fn a_duplicate_control_id_is_refused_and_resolved_to_the_first_record() {
    let sim = spawn_sim().await;
    let create = "<function controlid=\"dup-1\"><create><CLASS><CLASSID>CL-D</CLASSID><NAME>D</NAME></CLASS></create></function>";
    let (_, body) = sim.post(sim.envelope(true, false, create)).await;
    assert_eq!(
        results(&body)[0].child_text("status"),
        Some("success"),
        "{body}"
    );
    let (_, body) = sim.post(sim.envelope(true, false, create)).await;
    assert_eq!(
        results(&body)[0].child_text("status"),
        Some("failure"),
        "{body}"
    );
    assert!(
        body.contains("control ID &apos;dup-1&apos; has already been processed"),
        "{body}"
    );

    let (client, _) = sim.client();
    let first = client
        .create("dup-2", Object::Customer, &customer("C-D"))
        .await
        .expect("first");
    let again = client
        .create("dup-2", Object::Customer, &customer("C-D"))
        .await
        .expect("again");
    assert_eq!(first, again);
    assert_eq!(first.id.as_deref(), Some("C-D"));
    assert_eq!(
        client
            .read_by_name("CUSTOMER", &["C-D".into()], &["CUSTOMERID"])
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_idempotent_create_retried_after_a_timeout_creates_one_record() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let client = client.with_request_timeout(Duration::from_millis(400));
    client.test_connection().await.expect("session");
    let batch = rec(
        json!({"JOURNAL": "GJ", "BATCH_DATE": "06/01/2024", "BATCH_TITLE": "Settlement",
        "REFERENCENO": "SETTLE-T", "ENTRIES": {"GLENTRY": [
            {"ACCOUNTNO": "1010", "TR_TYPE": "1", "TRX_AMOUNT": "970.00", "LOCATION": "US-EAST"},
            {"ACCOUNTNO": "6150", "TR_TYPE": "1", "TRX_AMOUNT": "30.00", "LOCATION": "US-EAST"},
            {"ACCOUNTNO": "1210", "TR_TYPE": "-1", "TRX_AMOUNT": "1000.00", "LOCATION": "US-EAST"}]}}),
    );
    sim.set_faults(FaultSettings {
        script: vec![ScriptedFault {
            fault: FaultKind::Timeout,
            count: 1,
        }],
        hang_ms: 1500,
        ..FaultSettings::default()
    })
    .await;
    let e = client
        .create("gl-settle-t", Object::GlBatch, &batch)
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Timeout { .. }), "{e:?}");
    let created = client
        .create("gl-settle-t", Object::GlBatch, &batch)
        .await
        .expect("retry");
    let found = client
        .read_by_query(
            "GLBATCH",
            &["RECORDNO", "REFERENCENO"],
            "REFERENCENO = 'SETTLE-T'",
            100,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], "RECORDNO"), Some(created.recordno));
}

#[tokio::test]
async fn generic_create_update_delete_for_every_writable_object() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let cases: Vec<(Object, Record, Record)> = vec![
        (
            Object::Customer,
            customer("C-G"),
            rec(json!({"CUSTOMERID": "C-G", "NAME": "Renamed"})),
        ),
        (
            Object::Contact,
            rec(json!({"CONTACTNAME": "C-G Ship", "PRINTAS": "C-G Ship",
            "MAILADDRESS": {"ADDRESS1": "1 Main St", "CITY": "Austin"}})),
            rec(json!({"CONTACTNAME": "C-G Ship", "EMAIL1": "ship@example.com"})),
        ),
        (
            Object::Item,
            rec(
                json!({"ITEMID": "SKU-G", "NAME": "G", "ITEMTYPE": "Non-Inventory", "BASEPRICE": "5.00"}),
            ),
            rec(json!({"ITEMID": "SKU-G", "BASEPRICE": "6.00"})),
        ),
        (
            Object::Location,
            rec(json!({"LOCATIONID": "LOC-G", "NAME": "G", "PARENTID": "US-EAST"})),
            rec(json!({"LOCATIONID": "LOC-G", "NAME": "G2"})),
        ),
        (
            Object::Department,
            rec(json!({"DEPARTMENTID": "DEP-G", "TITLE": "G"})),
            rec(json!({"DEPARTMENTID": "DEP-G", "TITLE": "G2"})),
        ),
        (
            Object::Class,
            rec(json!({"CLASSID": "CL-G", "NAME": "G"})),
            rec(json!({"CLASSID": "CL-G", "NAME": "G2"})),
        ),
        (
            Object::Project,
            rec(json!({"PROJECTID": "P-G", "NAME": "G", "PROJECTCATEGORY": "Contract"})),
            rec(json!({"PROJECTID": "P-G", "PROJECTSTATUS": "Completed"})),
        ),
        (
            Object::Warehouse,
            rec(json!({"WAREHOUSEID": "WH-G", "NAME": "G", "LOCATIONID": "US-WEST"})),
            rec(json!({"WAREHOUSEID": "WH-G", "NAME": "G2"})),
        ),
        (
            Object::GlBatch,
            rec(
                json!({"JOURNAL": "GJ", "BATCH_DATE": "06/01/2024", "BATCH_TITLE": "G",
            "REFERENCENO": "GL-G", "ENTRIES": {"GLENTRY": [
                {"ACCOUNTNO": "1010", "TR_TYPE": "1", "TRX_AMOUNT": "10.00", "LOCATION": "US-EAST"},
                {"ACCOUNTNO": "4000", "TR_TYPE": "-1", "TRX_AMOUNT": "10.00", "LOCATION": "US-EAST"}]}}),
            ),
            rec(json!({"BATCH_TITLE": "G2"})),
        ),
    ];
    for (object, fields, mut change) in cases {
        let created = client
            .create(&format!("{object}-create"), object, &fields)
            .await
            .unwrap_or_else(|e| panic!("{object} create: {e}"));
        if object.id_field().is_none() {
            change.insert("RECORDNO".into(), created.recordno.clone().into());
        }
        let updated = client
            .update(&format!("{object}-update"), object, &change)
            .await
            .unwrap_or_else(|e| panic!("{object} update: {e}"));
        assert_eq!(updated.recordno, created.recordno, "{object}");
        let read = client
            .read(
                object.as_str(),
                std::slice::from_ref(&created.recordno),
                &[],
            )
            .await
            .unwrap();
        let (k, v) = change
            .iter()
            .find(|(k, _)| *k != "RECORDNO" && Some(k.as_str()) != object.id_field())
            .unwrap();
        assert_eq!(read[0].get(k), Some(v), "{object}: {k}");
        client
            .delete(
                &format!("{object}-delete"),
                object,
                std::slice::from_ref(&created.recordno),
            )
            .await
            .unwrap_or_else(|e| panic!("{object} delete: {e}"));
        assert!(
            client
                .read(object.as_str(), &[created.recordno], &[])
                .await
                .unwrap()
                .is_empty()
        );
    }
    // A business failure names the record and the field, description2 included.
    let e = client
        .create("gl-bad", Object::GlBatch, &rec(json!({"JOURNAL": "GJ", "BATCH_DATE": "06/01/2024",
            "BATCH_TITLE": "Bad", "REFERENCENO": "GL-BAD", "ENTRIES": {"GLENTRY": [
                {"ACCOUNTNO": "1010", "TR_TYPE": "1", "TRX_AMOUNT": "10.00", "LOCATION": "US-EAST"},
                {"ACCOUNTNO": "9999", "TR_TYPE": "-1", "TRX_AMOUNT": "10.00", "LOCATION": "US-EAST"}]}})))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("ENTRIES.GLENTRY[1].ACCOUNTNO"), "{e}");
    assert!(e.to_string().contains("GLBATCH GL-BAD: "), "{e}");
    let e = client
        .delete("del-missing", Object::Class, &["999999".into()])
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn payments_apply_once_and_deleting_them_gives_the_balance_back() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let mut invoice = order("INV-P");
    invoice.transactiontype = "Sales Invoice".into();
    let key = client
        .create_sales_order("inv-p", &invoice)
        .await
        .expect("invoice");
    let doc = client
        .read_by_query(
            "SODOCUMENT",
            &["DOCID", "PRRECORDKEY", "TOTAL"],
            &format!("DOCID = '{key}'"),
            10,
        )
        .await
        .unwrap();
    let ar = text(&doc[0], "PRRECORDKEY").expect("AR record");
    let due = |client: IntacctClient, ar: String| async move {
        let r = client
            .read("ARINVOICE", &[ar], &["TOTALDUE", "TOTALPAID"])
            .await
            .unwrap();
        (
            text(&r[0], "TOTALDUE").unwrap(),
            text(&r[0], "TOTALPAID").unwrap(),
        )
    };
    assert_eq!(due(client.clone(), ar.clone()).await.0, "48.18");
    let payment = rec(
        json!({"FINANCIALENTITY": "BOA-CHK", "PAYMENTMETHOD": "PayPal",
        "CUSTOMERID": "CUS-5001", "DOCNUMBER": "ch_1", "RECEIPTDATE": "06/01/2024",
        "ARPYMTDETAILS": {"ARPYMTDETAIL": [{"RECORDKEY": ar, "TRX_PAYMENTAMOUNT": "20.005"}]}}),
    );
    let p = client
        .create("pay-1", Object::ArPayment, &payment)
        .await
        .expect("PayPal is a method");
    assert_eq!(
        due(client.clone(), ar.clone()).await,
        ("28.17".into(), "20.01".into())
    );
    client
        .update(
            "pay-1-upd",
            Object::ArPayment,
            &rec(json!({"RECORDNO": p.recordno, "DOCNUMBER": "ch_1b"})),
        )
        .await
        .expect("update");
    assert_eq!(
        due(client.clone(), ar.clone()).await.0,
        "28.17",
        "an update does not pay twice"
    );
    client
        .delete(
            "pay-1-del",
            Object::ArPayment,
            std::slice::from_ref(&p.recordno),
        )
        .await
        .expect("delete");
    assert_eq!(
        due(client.clone(), ar.clone()).await,
        ("48.18".into(), "0.00".into())
    );
    let mut over = payment.clone();
    over["ARPYMTDETAILS"]["ARPYMTDETAIL"][0]["TRX_PAYMENTAMOUNT"] = json!("99.00");
    let e = client
        .create("pay-2", Object::ArPayment, &over)
        .await
        .unwrap_err();
    assert_eq!(
        e.field(),
        Some("ARPYMTDETAILS.ARPYMTDETAIL[0].TRX_PAYMENTAMOUNT"),
        "{e}"
    );
}

#[tokio::test]
async fn reads_page_to_the_end() {
    let sim = spawn_sim().await;
    let (client, meter) = sim.client();
    let items = client
        .read_by_query("ITEM", &["ITEMID", "BASEPRICE"], "ITEMID LIKE 'SKU-1%'", 75)
        .await
        .expect("readByQuery");
    assert_eq!(items.len(), 200);
    assert_eq!(text(&items[199], "ITEMID").as_deref(), Some("SKU-1200"));
    assert_eq!(meter.calls(), 1 + 3, "sign-in, readByQuery, 2 × readMore");

    let q: connect_jobs::connectors::intacct::wire::Query = quick_xml::de::from_str(
        "<query><object>ITEM</object><select><field>RECORDNO</field><field>ITEMID</field></select>\
         <orderby><order><field>RECORDNO</field><ascending/></order></orderby><pagesize>30</pagesize></query>",
    )
    .unwrap();
    let rows = client.query_all(q).await.expect("query");
    let ids: std::collections::BTreeSet<_> =
        rows.iter().filter_map(|r| text(r, "ITEMID")).collect();
    assert_eq!((rows.len(), ids.len()), (200, 200));

    let recordnos: Vec<String> = rows.iter().filter_map(|r| text(r, "RECORDNO")).collect();
    let before = meter.calls();
    let read = client
        .read("ITEM", &recordnos[..150], &["ITEMID"])
        .await
        .expect("read");
    assert_eq!(read.len(), 150);
    assert_eq!(meter.calls(), before + 1, "two read functions, one request");

    // Codes in readByQuery strings (spec §5.2, §6.1, §6.3).
    assert_eq!(
        client
            .read_by_query("ITEM", &["ITEMID"], "ITEMTYPE = 'I' AND STATUS = 'T'", 1000)
            .await
            .unwrap()
            .len(),
        200
    );
    client
        .create_sales_order("o-1", &order("CO-S1"))
        .await
        .unwrap();
    let pending = client
        .read_by_query("SODOCUMENT", &["DOCID", "STATE"], "STATE = 'O'", 100)
        .await
        .unwrap();
    assert_eq!(text(&pending[0], "STATE").as_deref(), Some("Pending"));
    assert!(
        client
            .read_by_query("SODOCUMENT", &["DOCID"], "STATE = 'D'", 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Out-of-range pages are refused before anything is sent.
    assert_eq!(
        client
            .read_by_query("ITEM", &[], "", 1001)
            .await
            .unwrap_err()
            .field(),
        Some("pagesize")
    );
}

#[tokio::test]
async fn sales_orders_update_by_line_and_closed_ones_are_refused() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let key = client
        .create_sales_order("o-u", &order("CO-U"))
        .await
        .unwrap();
    let update = SoUpdate {
        message: Some("rush".into()),
        lines: vec![SoLineUpdate { line_num: 1, memo: Some("gift wrap".into()), quantity: Some("3".into()), ..Default::default() }],
        add_lines: vec![serde_json::from_value(json!({"itemid": "SKU-1002", "quantity": "1", "price": "10.00", "locationid": "US-EAST"})).unwrap()],
        ..Default::default()
    };
    assert_eq!(
        client
            .update_sales_order("o-u-1", &key, &update)
            .await
            .unwrap(),
        key
    );
    let o = &sim.orders().await[0];
    assert_eq!(o["lines"][0]["MEMO"], "gift wrap");
    assert_eq!(o["lines"][1]["ITEMID"], "SKU-1002");
    // 3 × 19.99 + 10.00 + 3.20 + 5.00
    assert_eq!(o["TOTAL"], "78.17");

    let bad = SoUpdate {
        lines: vec![SoLineUpdate {
            line_num: 2,
            quantity: Some("-1".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let e = client
        .update_sales_order("o-u-2", &key, &bad)
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("updatesotransitems[1].quantity"), "{e}");

    client
        .update_sales_order(
            "o-u-3",
            &key,
            &SoUpdate {
                state: Some("Closed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = client
        .update_sales_order(
            "o-u-4",
            &key,
            &SoUpdate {
                message: Some("late".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectorError::Validation { .. }) && e.to_string().contains("Closed"),
        "{e:?}"
    );
    let e = client
        .update_sales_order("o-u-5", "Sales Order-NOPE", &update)
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn inventory_levels_and_modified_since() {
    let sim = spawn_sim().await;
    let (client, _) = sim.client();
    let levels = client
        .inventory_levels(
            &["SKU-1001".into(), "SKU-1002".into()],
            &["ONHAND", "ONORDER", "ONHOLD"],
        )
        .await
        .unwrap();
    assert_eq!(levels.len(), 6);
    client
        .create_sales_order("o-i", &order("CO-I"))
        .await
        .unwrap();
    let levels = client
        .inventory_levels(&["SKU-1001".into()], &["ONHOLD"])
        .await
        .unwrap();
    let wh1 = levels.iter().find(|l| l.warehouse_id == "WH1").unwrap();
    assert_eq!(
        wh1.quantities[0],
        ("ONHOLD".to_owned(), rust_decimal::Decimal::from(2))
    );

    let (all, cp) = client
        .modified_since("CUSTOMER", &["CUSTOMERID"], &Checkpoint::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 40);
    // Nothing changed: the overlap window brings the same rows back, all dropped.
    let (none, cp) = client
        .modified_since("CUSTOMER", &["CUSTOMERID"], &cp)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .update(
            "c-upd",
            Object::Customer,
            &rec(json!({"CUSTOMERID": "CUS-5007", "NAME": "Changed"})),
        )
        .await
        .unwrap();
    let (changed, _) = client
        .modified_since("CUSTOMER", &["CUSTOMERID", "NAME"], &cp)
        .await
        .unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(text(&changed[0], "NAME").as_deref(), Some("Changed"));
}

// ---------------------------------------------------------------------------
// Credit memos (spec §6.7)
// ---------------------------------------------------------------------------

mod credit_memos {
    use super::*;
    use connect_jobs::connectors::intacct::ArAdjustment;

    /// A change that breaks a memo, and what the error must then say.
    type Breakage = (
        &'static str,
        Box<dyn Fn(&mut ArAdjustment)>,
        &'static str,
        &'static str,
    );

    fn memo(number: &str, amount: &str) -> ArAdjustment {
        serde_json::from_value(json!({
            "customerid": "CUS-5001",
            "datecreated": {"year": "2024", "month": "06", "day": "05"},
            "adjustmentno": number,
            "description": format!("Refund {number}"),
            "aradjustmentitems": {"lineitem": [
                {"glaccountno": "4000", "amount": amount, "memo": "Returned SKU-1001",
                 "locationid": "US-EAST", "departmentid": "ECOM"}
            ]}
        }))
        .expect("adjustment json")
    }

    #[tokio::test]
    async fn create_ar_adjustment_stores_a_credit_memo_and_a_repeat_creates_nothing() {
        let sim = spawn_sim().await;
        let (client, _) = sim.client();
        let key = client
            .create_ar_adjustment("cm-RMA-5501-v1", &memo("CM-RMA-5501", "-19.99"))
            .await
            .expect("credit memo");
        assert!(key.parse::<i64>().is_ok(), "the key is a RECORDNO: {key}");

        let found = client
            .read_by_query(
                "ARADJUSTMENT",
                &[
                    "RECORDNO",
                    "RECORDID",
                    "CUSTOMERID",
                    "TOTALENTERED",
                    "STATE",
                ],
                "RECORDID = 'CM-RMA-5501'",
                100,
            )
            .await
            .expect("read back");
        assert_eq!(found.len(), 1, "{found:?}");
        let text = |k: &str| {
            found[0]
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(text("RECORDNO"), key);
        assert_eq!(text("CUSTOMERID"), "CUS-5001");
        assert_eq!(text("TOTALENTERED"), "-19.99");
        assert_eq!(text("STATE"), "Posted");

        // The same control id again: refused by the gateway, found by its number.
        let again = client
            .create_ar_adjustment("cm-RMA-5501-v1", &memo("CM-RMA-5501", "-19.99"))
            .await
            .expect("repeat");
        assert_eq!(again, key);
        let all = client
            .read_by_query("ARADJUSTMENT", &["RECORDNO"], "", 100)
            .await
            .expect("all");
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn ar_adjustment_failures_are_validation_errors_naming_line_and_field() {
        let sim = spawn_sim().await;
        let (client, _) = sim.client();
        let cases: [Breakage; 6] = [
            (
                "a-1",
                Box::new(|m| m.customerid = "CUS-0000".into()),
                "Customer 'CUS-0000'",
                "customerid",
            ),
            (
                "a-2",
                Box::new(|m| m.aradjustmentitems.lineitem[0].amount = "abc".into()),
                "Line 1: amount 'abc'",
                "aradjustmentitems.lineitem[0].amount",
            ),
            (
                "a-3",
                Box::new(|m| m.aradjustmentitems.lineitem[0].glaccountno = Some("9999".into())),
                "Line 1: GL account '9999'",
                "aradjustmentitems.lineitem[0].glaccountno",
            ),
            (
                "a-4",
                Box::new(|m| m.aradjustmentitems.lineitem[0].locationid = None),
                "Line 1: a location",
                "aradjustmentitems.lineitem[0].locationid",
            ),
            (
                "a-5",
                Box::new(|m| m.aradjustmentitems.lineitem.clear()),
                "at least one aradjustmentitems/lineitem",
                "aradjustmentitems",
            ),
            (
                "a-6",
                Box::new(|m| m.action = Some("Later".into())),
                "action 'Later'",
                "action",
            ),
        ];
        for (control, change, says, field) in cases {
            let mut m = memo(&format!("CM-{control}"), "-5.00");
            change(&mut m);
            match client.create_ar_adjustment(control, &m).await {
                Err(e @ ConnectorError::Validation { .. }) => {
                    assert!(!e.is_transient());
                    assert!(e.to_string().contains(says), "{control}: {e}");
                    assert_eq!(e.field(), Some(field), "{control}: {e}");
                    assert!(
                        e.to_string().contains(&format!("CM-{control}")),
                        "names the memo: {e}"
                    );
                }
                other => panic!("{control}: expected Validation, got {other:?}"),
            }
        }
        // Several mistakes at once are reported together.
        let mut m = memo("CM-many", "0");
        m.customerid = "CUS-0000".into();
        let e = client.create_ar_adjustment("a-7", &m).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("CUS-0000") && text.contains("amount '0'"),
            "{text}"
        );
        // Nothing was stored, and a failed control id can be used again.
        let ok = client
            .create_ar_adjustment("a-1", &memo("CM-a-1", "-5.00"))
            .await;
        assert!(ok.is_ok(), "{ok:?}");
        let all = client
            .read_by_query("ARADJUSTMENT", &["RECORDNO"], "", 100)
            .await
            .expect("all");
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn a_sales_credit_memo_credits_ar_and_moves_no_stock() {
        let sim = spawn_sim().await;
        let (client, _) = sim.client();
        let stock = |c: &IntacctClient| {
            let c = c.clone();
            async move {
                c.read_by_query(
                    "ITEMWAREHOUSEINFO",
                    &["ONHAND", "ONHOLD"],
                    "ITEMID = 'SKU-1001' AND WAREHOUSEID = 'WH1'",
                    10,
                )
                .await
                .expect("stock")
            }
        };
        let before = stock(&client).await;
        let mut m = order("RMA-5501");
        m.subtotals.clear();
        m.state = None;
        let key = client
            .create_credit_memo("cm-doc-RMA-5501", "Sales Credit Memo", &m)
            .await
            .expect("credit memo document");
        assert_eq!(key, "Sales Credit Memo-RMA-5501");
        assert_eq!(
            stock(&client).await,
            before,
            "a credit memo moves no inventory"
        );
        let ar = client
            .read_by_query(
                "ARINVOICE",
                &["TOTALENTERED", "DOCNUMBER"],
                "DOCNUMBER = 'Sales Credit Memo-RMA-5501'",
                10,
            )
            .await
            .expect("AR record");
        assert_eq!(ar.len(), 1, "{ar:?}");
        assert_eq!(
            ar[0].get("TOTALENTERED").and_then(|v| v.as_str()),
            Some("-39.98")
        );
    }
}
