//! Secrets are write-only. Marker secrets are saved through the API and the web
//! form, then used for real (connection tests, orders that call Clarity and the
//! ERP with them); afterwards no API response, page, log line (debug level, the
//! binary's own output) or byte of the database holds any of them.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Api, PASSWORD};
use serde_json::{Value, json};

/// Distinct markers, so a failure says which secret leaked.
struct Markers(Vec<String>);

impl Markers {
    fn new(n: usize) -> Self {
        let run = uuid::Uuid::now_v7().simple().to_string();
        Markers(
            (0..n)
                .map(|i| format!("MARK{i}x{}", &run[run.len() - 12..]))
                .collect(),
        )
    }

    fn get(&self, i: usize) -> &str {
        &self.0[i]
    }

    fn assert_absent(&self, where_: &str, haystack: &[u8]) {
        for m in &self.0 {
            assert!(
                !haystack.windows(m.len()).any(|w| w == m.as_bytes()),
                "secret {m} found in {where_}"
            );
        }
    }
}

#[tokio::test]
async fn saved_secrets_never_appear_in_responses_pages_logs_or_the_database() {
    let markers = Markers::new(7);
    let (mut env, dir) = common::fresh_env(&[]).await;
    env.insert("CONNECT_LOG_FORMAT".into(), "json".into());
    let logs = tempfile::tempdir().unwrap();
    let out = std::fs::File::create(logs.path().join("out.log")).unwrap();
    let err = std::fs::File::create(logs.path().join("err.log")).unwrap();
    let (mut child, api) =
        common::launch(&env, "debug", common::Output::File(out), Stdio::from(err)).await;
    api.wait_ready().await;

    let token = api.tenant("Secretive").await;
    let sp = api.sandbox_pair(&token, "sagepro").await;
    let ia = api.sandbox_pair(&token, "intacct").await;
    let sandbox = |pair: &str| {
        let (api, token, path) = (&api, &token, format!("/api/v1/pairs/{pair}/sandbox"));
        async move { api.call("GET", &path, Some(token), None, 200).await }
    };
    let sp_box = sandbox(&sp).await;
    let ia_box = sandbox(&ia).await;

    // Through the API: wrong-but-plausible secrets, so that using them fails
    // and the failure paths (errors, retries, dead letters) are exercised too.
    let put = |pair: &str, system: &str, body: Value| {
        let (api, token) = (&api, &token);
        let path = format!("/api/v1/pairs/{pair}/connections/{system}");
        async move { api.call("PUT", &path, Some(token), Some(body), 204).await }
    };
    put(
        &sp,
        "sagepro",
        json!({"base_url": sp_box["sagepro"]["base_url"],
               "credentials": {"api_key": markers.get(0)}}),
    )
    .await;
    put(
        &sp,
        "clarity",
        json!({"base_url": sp_box["clarity"]["base_url"],
               "credentials": {"client_id": sp_box["clarity"]["client_id"],
                               "client_secret": markers.get(1)}}),
    )
    .await;
    put(
        &ia,
        "intacct",
        json!({"base_url": ia_box["intacct"]["endpoint_url"],
               "credentials": {"sender_id": ia_box["intacct"]["sender_id"],
                               "sender_password": markers.get(2),
                               "company_id": ia_box["intacct"]["company_id"],
                               "user_id": ia_box["intacct"]["user_id"],
                               "user_password": markers.get(3)}}),
    )
    .await;
    // A hand-registered webhook: the caller brings the signing secret.
    put(
        &ia,
        "clarity",
        json!({"base_url": ia_box["clarity"]["base_url"],
               "credentials": {"client_id": "cli_manual", "client_secret": markers.get(4),
                               "webhook_secret": markers.get(5)}}),
    )
    .await;

    // Use them: connection tests, and orders fetched by id from Clarity (the
    // worker authenticates with the marker secret) and sent to Sage Pro.
    for (pair, system) in [(&sp, "sagepro"), (&sp, "clarity"), (&ia, "intacct")] {
        let path = format!("/api/v1/pairs/{pair}/connections/{system}/test");
        let r = api.call("POST", &path, Some(&token), None, 200).await;
        assert_eq!(r["ok"], false, "a wrong secret fails the test: {r}");
    }
    api.call(
        "POST",
        &format!("/api/v1/pairs/{sp}/sandbox/orders"),
        Some(&token),
        Some(json!({"count": 2, "payload": "id"})),
        202,
    )
    .await;
    let runs_path = format!("/api/v1/pairs/{sp}/runs");
    api.eventually(
        "the worker tries the marker secret",
        Duration::from_secs(30),
        || async {
            let runs = api.call("GET", &runs_path, Some(&token), None, 200).await;
            runs.as_array()
                .is_some_and(|r| r.iter().any(|r| !r["error"].is_null()))
        },
    )
    .await;

    // Through the web form: a refused save re-renders the form, a good one saves.
    let web = Session::login(&api, &token).await;
    let form_path = format!("/pairs/{sp}/connections/sagepro");
    let (status, page) = web
        .post(
            &form_path,
            &[("base_url", "not a url"), ("api_key", markers.get(6))],
        )
        .await;
    assert_eq!(status, 422, "{page}");
    markers.assert_absent("the re-rendered connection form", page.as_bytes());
    let sp_url = sp_box["sagepro"]["base_url"].as_str().unwrap();
    let (status, _) = web
        .post(
            &form_path,
            &[("base_url", sp_url), ("api_key", markers.get(6))],
        )
        .await;
    assert_eq!(status, 303);

    // Every API read the tenant can make, as the OpenAPI document lists them.
    let doc = api
        .call("GET", "/api/v1/openapi.json", None, None, 200)
        .await;
    let period = api
        .call("GET", "/api/v1/usage", Some(&token), None, 200)
        .await["period"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut read = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if ops.get("get").is_none() || path.contains("/admin/") {
            continue;
        }
        for pair in [&sp, &ia] {
            let mut url = path
                .replace("{id}", pair)
                .replace("{flow}", "orders")
                .replace("{version}", "1")
                .replace("{table}", "skus")
                .replace("{period}", &period);
            if path.ends_with("/diff") {
                url.push_str("?from=1&to=1");
            }
            let resp = api
                .client
                .get(api.url(&url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
            markers.assert_absent(&format!("GET {url}"), &resp.bytes().await.unwrap());
            read += 1;
        }
    }
    assert!(read >= 20, "only {read} API reads");
    for page in [
        "/pairs",
        "/usage",
        "/tokens",
        &format!("/pairs/{sp}"),
        &format!("/pairs/{ia}"),
        "/metrics",
    ] {
        let body = web.get(page).await;
        markers.assert_absent(&format!("page {page}"), body.as_bytes());
    }
    let pair_page = web.get(&format!("/pairs/{sp}")).await;
    assert!(
        pair_page.contains("saved — leave blank to keep"),
        "the page says the secret is saved"
    );

    // A clean stop on SIGTERM, then the process's whole output.
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = wait_exit(&mut child, Duration::from_secs(40)).await;
    assert_eq!(status.code(), Some(0), "SIGTERM ends the process cleanly");
    let mut output = std::fs::read(logs.path().join("out.log")).unwrap();
    output.extend(std::fs::read(logs.path().join("err.log")).unwrap());
    let text = String::from_utf8_lossy(&output);
    assert!(
        text.lines().count() > 50 && text.contains(&sp) && text.contains("DEBUG"),
        "the debug log was captured: {} lines",
        text.lines().count()
    );
    markers.assert_absent("the process's log output", &output);

    // The database: every file of the embedded default, or every row of Postgres.
    if common::backend() == "postgres" {
        let rows = postgres_dump(&env["CONNECT_DATABASE_URL"]).await;
        assert!(
            rows.len() > 1000,
            "the dump holds the data: {} bytes",
            rows.len()
        );
        markers.assert_absent("the Postgres database", rows.as_bytes());
    } else {
        let mut scanned = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            scanned += bytes.len();
            markers.assert_absent(&path.display().to_string(), &bytes);
        }
        assert!(scanned > 10_000, "the database files were read");
    }
}

async fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > within {
            child.kill().ok();
            panic!("the process did not exit within {within:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every row of every table, as text.
async fn postgres_dump(url: &str) -> String {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .expect("the test database");
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let mut all = String::new();
    for t in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{t}\" t"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for r in rows {
            all.push_str(&r.get::<String, _>(0));
            all.push('\n');
        }
    }
    all
}

/// A signed-in browser without the browser: session cookie and CSRF token.
struct Session<'a> {
    api: &'a Api,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Session<'a> {
    async fn login(api: &'a Api, token: &str) -> Self {
        let me = api.call("GET", "/api/v1/me", Some(token), None, 200).await;
        let email = me["user"]["email"]
            .as_str()
            .or_else(|| me["email"].as_str())
            .unwrap_or_else(|| panic!("an email in {me}"))
            .to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = client
            .post(api.url("/login"))
            .form(&[("email", email.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 303);
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut s = Session {
            api,
            client,
            cookie,
            csrf: String::new(),
        };
        let page = s.get("/pairs").await;
        s.csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .expect("a CSRF token")
            .to_owned();
        s
    }

    async fn get(&self, path: &str) -> String {
        let resp = self
            .client
            .get(self.api.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.text().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let resp = self
            .client
            .post(self.api.url(path))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}
