//! Contract tests: the Intacct connector against the Intacct simulator, over real
//! HTTP on a local port, with a fresh SQLite database per test.

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
    faults: Arc<FaultRegistry>,
    pair_id: String,
    creds: SandboxCredentials,
    _dir: tempfile::TempDir,
}

async fn spawn_sim() -> Sim {
    spawn_sim_with(SimConfig::default()).await
}

async fn spawn_sim_with(config: SimConfig) -> Sim {
    connect_jobs::connectors::http::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .expect("database");
    db.migrate().await.expect("migrations");
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
    };
    let app = axum::Router::new().nest("/sandbox/intacct", intacct::router_with(state, config));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Sim {
        base,
        db,
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
async fn requests_over_the_concurrency_limit_wait_then_get_a_concurrency_error() {
    let sim = spawn_sim_with(SimConfig {
        queue_wait: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await;
    let (client, _) = sim.client();
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
        intacct::expire_sessions(&sim.db, &sim.pair_id)
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
