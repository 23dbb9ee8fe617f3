//! One way to start the app for a test: on port 0, with its own database
//! (a fresh SQLite file, or a fresh Postgres database when
//! `CONNECT_TEST_BACKEND=postgres`) and its own queue (embedded, or a private
//! Redis namespace). A missing server fails the test loudly.
#![allow(dead_code)]

pub mod sims;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use connect::config::Config;
use connect::startup::{Application, Role};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery staple";

/// An HTTP client aimed at one running app (in this process or a launched binary).
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

pub struct TestApp {
    pub api: Api,
    pub state: connect::state::AppState,
    pub shutdown: CancellationToken,
    pub task: Option<tokio::task::JoinHandle<()>>,
    pub env: HashMap<String, String>,
    pub dir: Option<tempfile::TempDir>,
}

/// A test that panics must still stop its app: the workers' thread ends only
/// on shutdown, and the test's process would otherwise wait for it.
impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `embedded` (the default) or `postgres`; anything else stops the test
/// rather than quietly running on the embedded default.
pub fn backend() -> String {
    let backend = std::env::var("CONNECT_TEST_BACKEND").unwrap_or_else(|_| "embedded".into());
    assert!(
        matches!(backend.as_str(), "embedded" | "postgres"),
        "CONNECT_TEST_BACKEND={backend:?}: use `embedded` or `postgres`"
    );
    backend
}

/// Settings for a fresh, isolated app (database, queue, data folder).
pub async fn fresh_env(extra: &[(&str, &str)]) -> (HashMap<String, String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("CONNECT_BIND".into(), "127.0.0.1:0".into());
    env.insert("CONNECT_DATA_DIR".into(), dir.path().display().to_string());
    env.insert(
        "CONNECT_MASTER_KEY".into(),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
    );
    env.insert("CONNECT_RECONCILE_MS".into(), "300".into());
    env.insert("CONNECT_REQUEUE_AFTER_MS".into(), "3000".into());
    env.insert("CONNECT_RETRY_BASE_MS".into(), "100".into());
    env.insert("CONNECT_RETRY_CAP_MS".into(), "1000".into());
    env.insert("CONNECT_HTTP_TIMEOUT_MS".into(), "2000".into());
    env.insert("CONNECT_LEASE_MS".into(), "4000".into());
    env.insert("CONNECT_MAX_ATTEMPTS".into(), "30".into());
    // Tests sign up many tenants from 127.0.0.1; the sign-up throttle's own
    // tests set a low allowance.
    env.insert("CONNECT_SIGNUPS_PER_HOUR".into(), "10000".into());
    if backend() == "postgres" {
        let admin = std::env::var("CONNECT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("connect_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("Postgres at {admin} is required for CONNECT_TEST_BACKEND=postgres: {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = admin
            .rsplit_once('/')
            .map(|(b, _)| format!("{b}/{name}"))
            .expect("db url");
        env.insert("CONNECT_DATABASE_URL".into(), url);
        let redis = std::env::var("CONNECT_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        env.insert("CONNECT_REDIS_URL".into(), redis);
        env.insert(
            "CONNECT_QUEUE_NAMESPACE".into(),
            format!("test-{}", uuid::Uuid::now_v7().simple()),
        );
    }
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    (env, dir)
}

/// Where a launched binary's standard output goes once its address is read.
pub enum Output {
    Null,
    Inherit,
    File(std::fs::File),
}

/// Starts `connect serve` with `env` only (plus PATH and RUST_LOG), on a port
/// the process picks itself (`CONNECT_BIND=127.0.0.1:0`), unless `env` names
/// one: the address is read from the line it prints, so no other process can
/// take the port between our choosing it and the server binding it.
pub async fn launch(
    env: &HashMap<String, String>,
    rust_log: &str,
    stdout: Output,
    stderr: std::process::Stdio,
) -> (std::process::Child, Api) {
    launch_with(&["serve"], env, rust_log, stdout, stderr).await
}

/// [`launch`] with other arguments (`serve --no-workers`).
pub async fn launch_with(
    args: &[&str],
    env: &HashMap<String, String>,
    rust_log: &str,
    stdout: Output,
    stderr: std::process::Stdio,
) -> (std::process::Child, Api) {
    use std::io::{BufRead, BufReader, Write};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_connect"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", rust_log)
        .env("CONNECT_BIND", "127.0.0.1:0")
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr);
    let mut child = command.spawn().expect("connect binary starts");
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the address, then keeps copying the output where the test wants
    // it, so the process never writes into a full pipe.
    std::thread::spawn(move || {
        let mut sink: Box<dyn Write> = match stdout {
            Output::Null => Box::new(std::io::sink()),
            Output::Inherit => Box::new(std::io::stdout()),
            Output::File(f) => Box::new(f),
        };
        let mut tx = Some(tx);
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some((_, url)) = line.split_once("listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.trim().to_owned());
            }
            let _ = writeln!(sink, "{line}");
        }
    });
    let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("wait for the address")
        .expect("the binary prints the address it listens on");
    (child, Api::new(url))
}

pub async fn spawn_app() -> TestApp {
    let (env, dir) = fresh_env(&[]).await;
    start(env, dir).await
}

pub async fn start(env: HashMap<String, String>, dir: tempfile::TempDir) -> TestApp {
    start_as(env, dir, Role::All).await
}

/// The app in one role: `Role::Web` serves and takes webhooks but runs no
/// workers, for tests that drive the sync engine themselves.
pub async fn start_as(env: HashMap<String, String>, dir: tempfile::TempDir, role: Role) -> TestApp {
    let config = Config::from_env(&env).expect("test config");
    if std::env::var_os("RUST_LOG").is_some() {
        connect::telemetry::init_logging(config.log_format);
    }
    let app = Application::build(config, role).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        app.run_until_stopped(token).await.expect("app runs");
    });
    TestApp {
        api: Api::new(base),
        state,
        shutdown,
        task: Some(task),
        env,
        dir: Some(dir),
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// Creates a platform operator (through the CLI, as in production) and
    /// returns an API token for `/api/v1/admin/*`.
    pub async fn operator(&self, email: &str) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_connect"))
            .args(["admin", "create-operator", "--email", email])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .env("CONNECT_OPERATOR_PASSWORD", PASSWORD)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the connect binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = self
            .call(
                "POST",
                "/api/v1/auth/token",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
                200,
            )
            .await;
        t["token"].as_str().unwrap().to_owned()
    }

    /// Waits until `check` holds, checking again each time a worker of this
    /// app finishes with an inbox row (and at least every second, for what
    /// changes without one); fails the test after `within`. Shadows
    /// [`Api::eventually`], which can only poll.
    pub async fn eventually<F, Fut>(&self, what: &str, within: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the check, so work finishing during it is not missed.
            let done = self.state.work_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if check().await {
                return;
            }
            let next = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
            tokio::select! {
                _ = done => {}
                _ = tokio::time::sleep_until(next) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                if check().await {
                    return;
                }
                panic!("timed out after {within:?} waiting for: {what}");
            }
        }
    }

    pub async fn stop(mut self) -> (HashMap<String, String>, tempfile::TempDir) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            // A panic in the app, or a shutdown that hangs, is a failure of
            // the test that stopped it, not something to step over.
            match tokio::time::timeout(Duration::from_secs(40), t).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("the app under test failed: {e}"),
                Err(_) => panic!("the app under test did not shut down within 40 s"),
            }
        }
        (
            std::mem::take(&mut self.env),
            self.dir.take().expect("the app's folder"),
        )
    }
}

impl Api {
    pub fn new(base: String) -> Api {
        connect_jobs::connectors::http::install_crypto_provider();
        Api {
            base,
            client: reqwest::Client::new(),
        }
    }

    /// Polls `/readyz` until the app answers 200, for at most 30 s.
    pub async fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the app at {} did not become ready", self.base);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request and checks the status; returns the JSON body (or Null).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        expect: u16,
    ) -> Value {
        let mut req = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, expect, "{method} {path} answered {status}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
    }

    /// Signs up a new tenant and returns a bearer token for it.
    pub async fn tenant(&self, company: &str) -> String {
        self.owner(company).await.1
    }

    /// A new tenant on the Connect plan, as a paying customer with one
    /// production pair is (a trial has none).
    pub async fn paying_tenant(&self, company: &str) -> String {
        let token = self.tenant(company).await;
        self.call(
            "PUT",
            "/api/v1/plan",
            Some(&token),
            Some(json!({"plan": "connect"})),
            200,
        )
        .await;
        token
    }

    /// Signs up a new tenant: its owner's email (to sign in to the web UI
    /// with [`PASSWORD`]) and a bearer token.
    pub async fn owner(&self, company: &str) -> (String, String) {
        let email = format!("owner-{}@example.com", uuid::Uuid::now_v7().simple());
        self.call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"company": company, "email": email, "password": PASSWORD})),
            201,
        )
        .await;
        let t = self
            .call(
                "POST",
                "/api/v1/auth/token",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
                200,
            )
            .await;
        (email, t["token"].as_str().unwrap().to_owned())
    }

    /// The secret the pair's Clarity simulator signs its webhooks with now.
    pub async fn webhook_secret(&self, token: &str, pair: &str) -> String {
        let info = self
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair}/sandbox"),
                Some(token),
                None,
                200,
            )
            .await;
        info["clarity"]["webhook_secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Delivers `order.created` for `order` to the pair's webhook, signed as
    /// Clarity signs it, and checks it was taken.
    pub async fn deliver_order(&self, token: &str, pair: &str, order: &Value) {
        let id = order["orderId"].as_str().unwrap();
        self.deliver(token, pair, &format!("evt_{id}"), "order.created", order)
            .await;
    }

    /// Delivers one Clarity event about `object` to the pair's webhook,
    /// signed as Clarity signs it, and checks it was taken.
    pub async fn deliver(
        &self,
        token: &str,
        pair: &str,
        event_id: &str,
        event_type: &str,
        object: &Value,
    ) {
        use connect_jobs::connectors::clarity::signature;
        let secret = self.webhook_secret(token, pair).await;
        let body =
            json!({"id": event_id, "type": event_type, "data": {"object": object}}).to_string();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let resp = self
            .client
            .post(self.url(&format!("/hooks/clarity/{pair}")))
            .header("content-type", "application/json")
            .header(
                signature::SIGNATURE_HEADER,
                signature::signature_header(&[&secret], now, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "webhook {event_id}");
    }

    /// The pair's run of `source` once it has `status` (waiting up to 60 s);
    /// on timeout, the runs of `source` there are are in the panic.
    pub async fn run_of(&self, token: &str, pair: &str, source: &str, status: &str) -> Value {
        let path = format!("/api/v1/pairs/{pair}/runs");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let runs = self.call("GET", &path, Some(token), None, 200).await;
            let of_source: Vec<&Value> = runs
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["source_id"] == source)
                .collect();
            if let Some(found) = of_source.iter().find(|r| r["status"] == status) {
                return (*found).clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out after 60s waiting for the run of {source} to be {status}; its runs: {of_source:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn sandbox_pair(&self, token: &str, erp: &str) -> String {
        let p = self
            .call(
                "POST",
                "/api/v1/pairs",
                Some(token),
                Some(json!({"name": format!("{erp} sandbox {}", uuid::Uuid::now_v7().simple()), "erp": erp, "environment": "sandbox"})),
                201,
            )
            .await;
        p["id"].as_str().unwrap().to_owned()
    }

    /// Polls until `check` holds or the deadline passes (then fails with `what`).
    pub async fn eventually<F, Fut>(&self, what: &str, within: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while start.elapsed() < within {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("timed out after {within:?} waiting for: {what}");
    }
}

/// A browser without JavaScript, signed in: its session cookie and the CSRF
/// token its pages carry.
pub struct WebSession {
    pub client: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
}

impl WebSession {
    /// Sign in with the test password and read the CSRF token off `/pairs`.
    pub async fn sign_in(api: &Api, email: &str) -> WebSession {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = client
            .post(api.url("/login"))
            .form(&[("email", email), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 303, "{email} signs in");
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut session = WebSession {
            client,
            cookie,
            csrf: String::new(),
        };
        let page = session.get(api, "/pairs").await.1;
        session.csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a CSRF token on the page")
            .to_owned();
        session
    }

    pub async fn get(&self, api: &Api, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(api.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A form post with the session's CSRF token first.
    pub async fn post(&self, api: &Api, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let resp = self
            .client
            .post(api.url(path))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A file upload form (multipart/form-data) as a browser sends it, with
    /// the given CSRF token (a test may forge one) and text fields before the
    /// file: (status, Location header or "", body).
    /// A multipart form post of one CSV file with the session's cookie, for
    /// [`Self::upload`] or a test that needs its own headers on it.
    pub fn upload_request(
        &self,
        api: &Api,
        path: &str,
        csrf: &str,
        fields: &[(&str, &str)],
        filename: &str,
        content: &str,
    ) -> reqwest::RequestBuilder {
        let boundary = "----connect-test-boundary";
        let mut body = String::new();
        for (name, value) in std::iter::once(&("csrf", csrf)).chain(fields) {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
        ));
        self.client
            .post(api.url(path))
            .header("cookie", &self.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
    }

    pub async fn upload(
        &self,
        api: &Api,
        path: &str,
        csrf: &str,
        fields: &[(&str, &str)],
        filename: &str,
        content: &str,
    ) -> (u16, String, String) {
        let resp = self
            .upload_request(api, path, csrf, fields, filename, content)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, resp.text().await.unwrap())
    }
}

/// A sandbox order: the sample customer CUS-5001 and the given lines
/// (sku, name, quantity, unit price), totals that add up.
pub fn sample_order(id: &str, currency: &str, lines: &[(&str, &str, i64, &str)]) -> Value {
    let mut items = Vec::new();
    let mut subtotal = rust_decimal::Decimal::ZERO;
    for (i, (sku, name, qty, price)) in lines.iter().enumerate() {
        let p: rust_decimal::Decimal = price.parse().unwrap();
        let amount = p * rust_decimal::Decimal::from(*qty);
        subtotal += amount;
        items.push(json!({"lineId": (i + 1).to_string(), "sku": sku, "name": name, "quantity": qty,
            "unitPrice": price, "tax": "0.00", "discount": "0.00", "lineTotal": format!("{amount:.2}")}));
    }
    let total = format!("{subtotal:.2}");
    let address = json!({"firstName": "Jane", "lastName": "Doe", "line1": "100 Main St", "city": "austin",
        "region": "Texas", "postalCode": "78701", "country": "United States"});
    json!({
        "orderId": id, "customerId": "CUS-5001", "orderDate": "2026-01-15T10:00:00Z", "status": "processing",
        "currency": currency, "subtotalAmount": total, "discountAmount": "0.00", "shippingAmount": "0.00",
        "taxAmount": "0.00", "totalAmount": total, "email": "jane@example.com",
        "shippingAddress": address, "billingAddress": address, "lineItems": items,
        "paymentInfo": {"method": "credit_card", "status": "captured", "amount": total},
        "couponCode": null, "erpReferences": {}, "version": 1,
        "createdDate": "2026-01-15T10:00:00Z", "updatedDate": "2026-01-15T10:00:00Z"
    })
}
