//! The sandbox as a closed room: a sandbox pair reaches its own simulators by
//! construction and public addresses otherwise (never loopback, private or
//! metadata addresses), a connection test never echoes what a remote server
//! wrote, the simulators' control routes need the store's credentials, and
//! every protocol route needs what its real counterpart asks for.

use std::sync::Arc;

use connect::clients::{self, Connection, Reach};
use connect::pairs::connections::{self, DETAIL_MAX, TestResult};
use connect_jobs::connectors::OpenGate;
use connect_jobs::egress::EgressPolicy;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::common::{self, TestApp, WebSession};

/// Credentials that would save if the address were acceptable (a Clarity
/// webhook secret, so no registration call is tried).
fn credentials(system: &str) -> Value {
    match system {
        "clarity" => json!({"client_id": "c", "client_secret": "s", "webhook_secret": "w"}),
        "intacct" => json!({"sender_id": "s", "sender_password": "p", "company_id": "C",
                            "user_id": "u", "user_password": "p"}),
        _ => json!({"api_key": "k"}),
    }
}

async fn put_connection(app: &TestApp, token: &str, pair: &str, system: &str, url: &str) -> Value {
    let resp = app
        .client
        .put(app.url(&format!("/api/v1/pairs/{pair}/connections/{system}")))
        .bearer_auth(token)
        .json(&json!({"base_url": url, "credentials": credentials(system)}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    json!({"status": status, "body": body})
}

async fn pair_connections(app: &TestApp, token: &str, pair: &str) -> Vec<Value> {
    let p = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}"),
            Some(token),
            None,
            200,
        )
        .await;
    p["connections"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_sandbox_connection_may_not_point_at_loopback_private_or_metadata_addresses() {
    let app = common::spawn_app().await;
    let token = app.tenant("Prober").await;
    let sp = app.sandbox_pair(&token, "sagepro").await;
    let ia = app.sandbox_pair(&token, "intacct").await;
    let other = app
        .sandbox_pair(&app.tenant("Neighbour").await, "sagepro")
        .await;
    let port = app
        .state
        .sandbox
        .self_url
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let attempts = [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.1.1:8443/api".to_owned(),
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}/api/v1/admin/tenants"),
        "http://127.0.0.1:6379/".to_owned(),
        "http://127.0.0.1:5432/".to_owned(),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[2002:7f00:1::]:{port}/"),
        "http://[2001:0:4136:e378:8000:63bf:5601:5601]/latest/meta-data/".to_owned(),
        // Another tenant's simulator is not this pair's own.
        format!("http://127.0.0.1:{port}/sandbox/sagepro/{other}/api/v1/sagepro"),
        format!("http://127.0.0.1:{port}/sandbox/clarity/{other}"),
    ];
    for (pair, system) in [(&sp, "clarity"), (&sp, "sagepro"), (&ia, "intacct")] {
        for url in &attempts {
            let r = put_connection(&app, &token, pair, system, url).await;
            assert_eq!(r["status"], 422, "{system} {url}: {r}");
            let e = &r["body"]["error"];
            assert_eq!(e["field"], "base_url", "{system} {url}: {r}");
            assert_eq!(e["code"], "invalid", "{system} {url}: {r}");
            assert!(
                e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("private, loopback or link-local"),
                "{system} {url}: {r}"
            );
        }
    }
    // Nothing was saved: the pairs still reach their own simulators.
    for pair in [&sp, &ia] {
        for c in pair_connections(&app, &token, pair).await {
            assert_eq!(c["builtin"], true, "{c}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_sandbox_pair_reaches_its_own_simulators_by_construction() {
    let app = common::spawn_app().await;
    let token = app.paying_tenant("Builtin").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let self_url = app.state.sandbox.self_url.to_string();
    let shown = pair_connections(&app, &token, &pair).await;
    assert_eq!(shown.len(), 2, "{shown:?}");
    for c in &shown {
        assert_eq!(c["builtin"], true, "{c}");
        let url = c["base_url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{self_url}/sandbox/")) && url.contains(&pair),
            "the page shows where the simulator answers: {c}"
        );
    }
    // What is stored is the marker, not an address a later reader trusts.
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT base_url FROM connections WHERE pair_id = $1 ORDER BY system")
            .bind(&pair)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(
        stored,
        [
            (connections::BUILTIN.to_owned(),),
            (connections::BUILTIN.to_owned(),)
        ]
    );
    let test = |system: &'static str| {
        let (app, token, pair) = (&app, &token, &pair);
        async move {
            app.call(
                "POST",
                &format!("/api/v1/pairs/{pair}/connections/{system}/test"),
                Some(token),
                None,
                200,
            )
            .await
        }
    };
    assert_eq!(test("clarity").await["ok"], true);
    assert_eq!(test("intacct").await["ok"], true);

    // Saving the form as shown (secrets left blank) keeps the built-in path.
    let intacct = shown.iter().find(|c| c["system"] == "intacct").unwrap();
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/connections/intacct"),
        Some(&token),
        Some(json!({"base_url": intacct["base_url"], "credentials": intacct["settings"]})),
        204,
    )
    .await;
    assert_eq!(test("intacct").await["ok"], true);
    let clarity = shown.iter().find(|c| c["system"] == "clarity").unwrap();
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/connections/clarity"),
        Some(&token),
        Some(json!({"base_url": connections::BUILTIN, "credentials": clarity["settings"]})),
        204,
    )
    .await;
    assert_eq!(test("clarity").await["ok"], true);
    for c in pair_connections(&app, &token, &pair).await {
        assert_eq!(c["builtin"], true, "{c}");
    }

    // A production pair has no built-in simulator to name.
    let prod = app
        .call(
            "POST",
            "/api/v1/pairs",
            Some(&token),
            Some(json!({"name": "Live", "erp": "sagepro", "environment": "production"})),
            201,
        )
        .await;
    let prod = prod["id"].as_str().unwrap();
    for url in [
        connections::BUILTIN.to_owned(),
        format!("{self_url}/sandbox/sagepro/{prod}/api/v1/sagepro"),
    ] {
        let r = put_connection(&app, &token, prod, "sagepro", &url).await;
        assert_eq!(r["status"], 422, "{url}: {r}");
        assert_eq!(r["body"]["error"]["field"], "base_url", "{url}: {r}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// What a connection test shows

/// What a hostile or internal server answers: a credential, a file, terminal
/// escapes and line breaks.
const LEAK: &str = "AKIAZZLEAKEDKEY99 root:x:0:0:/etc/shadow internal-only-data";
const MARKERS: [&str; 4] = ["AKIAZZLEAKEDKEY99", "root:x", "shadow", "internal-only"];

fn answer(path: &str) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let mode = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    let (kind, code) = mode.rsplit_once('-').unwrap_or((mode, "200"));
    let status = code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let noisy = format!("\u{1b}[2J{LEAK}\r\n{LEAK}");
    let (content_type, body) = match kind {
        "problem" => (
            "application/problem+json",
            json!({"type": LEAK, "title": noisy, "status": status.as_u16(),
                   "code": if status == StatusCode::UNPROCESSABLE_ENTITY { "VALIDATION_FAILED" } else { "FORBIDDEN" },
                   "detail": noisy, "errors": [{"field": LEAK, "code": LEAK, "message": noisy}]})
            .to_string(),
        ),
        "sagepro" => (
            "application/json",
            json!({"Error": {"Code": if status.as_u16() == 409 { "RECORD_LOCKED" } else { "VALIDATION_FAILED" },
                             "Message": noisy, "Details": [{"Field": LEAK, "Message": noisy}],
                             "RequestId": LEAK}})
            .to_string(),
        ),
        "oauth" => (
            "application/json",
            json!({"error": "invalid_client", "error_description": noisy}).to_string(),
        ),
        // A store that signs us in and lists orders, with its words in the scope.
        "ok" if rest.ends_with("oauth/token") => (
            "application/json",
            json!({"access_token": "t", "token_type": "Bearer", "expires_in": 3600,
                   "scope": format!("orders:read {LEAK}")})
            .to_string(),
        ),
        "ok" => (
            "application/json",
            json!({"results": [], "pageIndex": 1, "pageSize": 1, "totalCount": 0, "hasMore": false})
                .to_string(),
        ),
        "intacct_sender" => (
            "application/xml",
            format!(
                "<response><control><status>failure</status></control><errormessage><error>\
                 <errorno>XL03000006</errorno><description>{LEAK}</description>\
                 <description2>{LEAK}</description2><correction>{LEAK}</correction>\
                 </error></errormessage></response>"
            ),
        ),
        "intacct_login" => (
            "application/xml",
            format!(
                "<response><control><status>success</status></control><operation>\
                 <authentication><status>failure</status><userid>{LEAK}</userid></authentication>\
                 <errormessage><error><errorno>XL03000006</errorno><description>{LEAK}</description>\
                 <description2>{LEAK}</description2></error></errormessage></operation></response>"
            ),
        ),
        "intacct_session" => (
            "application/xml",
            format!(
                "<response><control><status>success</status></control><operation>\
                 <authentication><status>success</status><userid>u</userid><companyid>C</companyid>\
                 </authentication><result><status>failure</status><function>getAPISession</function>\
                 <controlid>getsession</controlid><errormessage><error><errorno>BL01</errorno>\
                 <description>{LEAK}</description><description2>{LEAK}</description2></error>\
                 </errormessage></result></operation></response>"
            ),
        ),
        _ => ("text/html", format!("<html><body><pre>{noisy}</pre></body></html>")),
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A server on loopback that answers every request by the first segment of
/// its path (`plain-500`, `problem-422`, `ok`, …).
async fn hostile_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app =
        axum::Router::new().fallback(|uri: axum::http::Uri| async move { answer(uri.path()) });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

fn loaded(system: &str, base_url: String) -> Connection {
    let obj = |v: Value| match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let (settings, secrets) = match system {
        "clarity" => (json!({"client_id": "c"}), json!({"client_secret": "s"})),
        "intacct" => (
            json!({"sender_id": "s", "company_id": "C", "user_id": "u"}),
            json!({"sender_password": "p", "user_password": "p"}),
        ),
        _ => (json!({}), json!({"api_key": "k"})),
    };
    Connection {
        system: system.to_owned(),
        base_url,
        settings: obj(settings),
        secrets: obj(secrets),
        webhook_id: None,
        updated_at: 0,
        // As a public server would be reached: the policy client, opened to
        // loopback only because the test's server lives there.
        reach: Reach::Egress(EgressPolicy::open()),
    }
}

fn assert_no_echo(what: &str, r: &TestResult) {
    for m in MARKERS {
        assert!(!r.detail.contains(m), "{what} echoed the server: {r:?}");
    }
    assert!(
        !r.detail.chars().any(char::is_control),
        "{what} kept control characters: {r:?}"
    );
    assert!(r.detail.chars().count() <= DETAIL_MAX + 1, "{what}: {r:?}");
    assert!(!r.detail.is_empty(), "{what}: {r:?}");
}

#[tokio::test]
async fn a_connection_test_shows_a_status_line_never_the_remote_body() {
    let app = common::spawn_app().await;
    let (server, task) = hostile_server().await;
    let gate = || -> Arc<dyn connect_jobs::connectors::CallGate> { Arc::new(OpenGate) };
    let statuses = [200, 400, 401, 403, 404, 409, 418, 422, 429, 500, 502, 503];
    for status in statuses {
        for kind in ["plain", "problem", "sagepro", "oauth"] {
            let base = format!("{server}/{kind}-{status}");
            let what = |system: &str| format!("{system} against {kind}-{status}");
            let clarity = clients::clarity(&app.state, &loaded("clarity", base.clone()), gate());
            let r = TestResult::from_outcome(clarity.test_connection().await);
            assert!(!r.ok, "{}: {r:?}", what("clarity"));
            assert_no_echo(&what("clarity"), &r);
            let sagepro = clients::sagepro(&app.state, &loaded("sagepro", base.clone()), gate());
            let r = TestResult::from_outcome(sagepro.test_connection().await);
            assert!(!r.ok, "{}: {r:?}", what("sagepro"));
            assert_no_echo(&what("sagepro"), &r);
            let intacct = clients::intacct(&app.state, &loaded("intacct", base), gate());
            let r = TestResult::from_outcome(intacct.test_connection().await);
            assert!(!r.ok, "{}: {r:?}", what("intacct"));
            assert_no_echo(&what("intacct"), &r);
        }
    }
    for kind in ["intacct_sender", "intacct_login", "intacct_session"] {
        let intacct = clients::intacct(
            &app.state,
            &loaded("intacct", format!("{server}/{kind}")),
            gate(),
        );
        let r = TestResult::from_outcome(intacct.test_connection().await);
        assert!(!r.ok, "{kind}: {r:?}");
        assert_no_echo(kind, &r);
        assert!(r.detail.starts_with("sign-in refused"), "{kind}: {r:?}");
    }
    // A store that lets us in: its scope list is ours to name, not its text.
    let clarity = clients::clarity(
        &app.state,
        &loaded("clarity", format!("{server}/ok")),
        gate(),
    );
    let r = TestResult::from_outcome(clarity.test_connection().await);
    assert!(r.ok, "{r:?}");
    assert_no_echo("clarity signed in", &r);
    assert!(r.detail.contains("(scopes orders:read)"), "{r:?}");
    task.abort();
    app.stop().await;
}

#[tokio::test]
async fn a_failed_test_of_the_built_in_simulator_is_stored_and_shown_as_our_own_line() {
    let app = common::spawn_app().await;
    let (email, token) = app.owner("Shown").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "sagepro", "script": [{"fault": "unauthorized", "count": 1}]})),
        200,
    )
    .await;
    let r = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/connections/sagepro/test"),
            Some(&token),
            None,
            200,
        )
        .await;
    let line = "401: Sage Pro refused the API key";
    assert_eq!(r["detail"], line, "{r}");
    let saved = pair_connections(&app, &token, &pair).await;
    let sagepro = saved.iter().find(|c| c["system"] == "sagepro").unwrap();
    assert_eq!(sagepro["last_test_detail"], line, "{sagepro}");
    let web = WebSession::sign_in(&app, &email).await;
    let (status, page) = web.get(&app, &format!("/pairs/{pair}")).await;
    assert_eq!(status, 200);
    assert!(page.contains(line), "the pair page shows the line");
    assert!(
        page.contains("built-in simulator"),
        "and marks the built-in path"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The simulators' routes

struct Store {
    url: String,
    client_id: String,
    client_secret: String,
}

async fn store(app: &TestApp, token: &str, pair: &str) -> Store {
    let info = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(token),
            None,
            200,
        )
        .await;
    Store {
        url: app.url(&format!("/sandbox/clarity/{pair}")),
        client_id: info["clarity"]["client_id"].as_str().unwrap().to_owned(),
        client_secret: info["clarity"]["client_secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

async fn bearer(app: &TestApp, s: &Store) -> String {
    let r: Value = app
        .client
        .post(format!("{}/oauth/token", s.url))
        .basic_auth(&s.client_id, Some(&s.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

enum Caller<'a> {
    Nobody,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

async fn control(
    app: &TestApp,
    store_url: &str,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    caller: Caller<'_>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method.clone(), format!("{store_url}/__sim/{path}"));
    req = match caller {
        Caller::Nobody => req,
        Caller::Basic(id, secret) => req.basic_auth(id, Some(secret)),
        Caller::Bearer(t) => req.bearer_auth(t),
    };
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn simulator_control_routes_need_the_stores_own_credentials() {
    let app = common::spawn_app().await;
    let alice = app.tenant("Alice").await;
    let bob = app.tenant("Bob").await;
    let a_pair = app.sandbox_pair(&alice, "intacct").await;
    let b_pair = app.sandbox_pair(&bob, "sagepro").await;
    let a = store(&app, &alice, &a_pair).await;
    let b = store(&app, &bob, &b_pair).await;
    let a_token = bearer(&app, &a).await;
    let b_token = bearer(&app, &b).await;
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{a_pair}/sandbox/orders"),
            Some(&alice),
            Some(json!({"count": 1})),
            202,
        )
        .await;
    let order = placed["order_ids"][0].as_str().unwrap().to_owned();
    let order_count = || {
        let (app, url, token) = (&app, &a.url, &a_token);
        async move {
            let list: Value = app
                .client
                .get(format!("{url}/api/v1/orders?pageSize=1"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list["totalCount"].as_u64().unwrap()
        }
    };
    let before = order_count().await;

    let routes: [(Method, String, Option<Value>); 3] = [
        (Method::POST, "orders".into(), Some(json!({"count": 1}))),
        (Method::POST, format!("orders/{order}/capture"), None),
        (Method::GET, "webhook-log".into(), None),
    ];
    for (method, path, body) in &routes {
        let refused = [
            ("nobody", Caller::Nobody),
            ("the wrong secret", Caller::Basic(&a.client_id, "cs_wrong")),
            (
                "another store's client",
                Caller::Basic(&b.client_id, &b.client_secret),
            ),
            (
                "another store's id with its secret",
                Caller::Basic(&a.client_id, &b.client_secret),
            ),
            ("another store's token", Caller::Bearer(&b_token)),
            ("a made-up token", Caller::Bearer("not-a-token")),
        ];
        for (who, caller) in refused {
            let (status, e) = control(&app, &a.url, method, path, body, caller).await;
            assert_eq!(status, 401, "{method} __sim/{path} as {who}: {e}");
            assert_eq!(
                e["code"], "UNAUTHORIZED",
                "Clarity's own problem shape: {e}"
            );
            assert_eq!(e["status"], 401, "{e}");
        }
        for (who, caller) in [
            ("its client", Caller::Basic(&a.client_id, &a.client_secret)),
            ("its token", Caller::Bearer(&a_token)),
        ] {
            let (status, r) = control(&app, &a.url, method, path, body, caller).await;
            assert!(
                (200..300).contains(&status) || (path.ends_with("capture") && status == 409),
                "{method} __sim/{path} as {who}: {status} {r}"
            );
        }
        // A store that does not exist answers like a wrong credential.
        let nowhere = app.url("/sandbox/clarity/pair_does_not_exist");
        let (status, _) = control(
            &app,
            &nowhere,
            method,
            path,
            body,
            Caller::Basic(&a.client_id, &a.client_secret),
        )
        .await;
        assert_eq!(status, 401, "{method} __sim/{path} of no store");
    }
    // The refused calls placed nothing: only the two allowed ones did.
    assert_eq!(order_count().await, before + 2);
    app.stop().await;
}

#[tokio::test]
async fn every_simulator_protocol_route_asks_for_its_real_credentials() {
    let app = common::spawn_app().await;
    let token = app.tenant("Routes").await;
    let sp = app.sandbox_pair(&token, "sagepro").await;
    let ia = app.sandbox_pair(&token, "intacct").await;

    // Clarity: every route of `sandbox::clarity::router` but the control ones.
    let clarity = app.url(&format!("/sandbox/clarity/{sp}"));
    let clarity_routes: &[(&str, &str)] = &[
        ("GET", "api/v1/orders"),
        ("GET", "api/v1/orders/o1"),
        ("PATCH", "api/v1/orders/o1"),
        ("POST", "api/v1/orders/o1/cancel"),
        ("POST", "api/v1/orders/o1/shipments"),
        ("GET", "api/v1/shipments"),
        ("GET", "api/v1/shipments/s1"),
        ("GET", "api/v1/products"),
        ("POST", "api/v1/products"),
        ("GET", "api/v1/products/p1"),
        ("PATCH", "api/v1/products/p1"),
        ("PUT", "api/v1/products/p1"),
        ("GET", "api/v1/customers"),
        ("POST", "api/v1/customers"),
        ("GET", "api/v1/customers/c1"),
        ("PATCH", "api/v1/customers/c1"),
        ("PUT", "api/v1/customers/c1"),
        ("GET", "api/v1/inventory"),
        ("POST", "api/v1/inventory/adjustments"),
        ("GET", "api/v1/inventory/SKU-1"),
        ("PUT", "api/v1/inventory/SKU-1/locations/L1"),
        ("GET", "api/v1/returns"),
        ("POST", "api/v1/returns"),
        ("GET", "api/v1/returns/r1"),
        ("POST", "api/v1/returns/r1/approve"),
        ("POST", "api/v1/returns/r1/receive"),
        ("POST", "api/v1/returns/r1/refund"),
        ("GET", "api/v1/coupons"),
        ("POST", "api/v1/coupons"),
        ("GET", "api/v1/coupons/C1"),
        ("PATCH", "api/v1/coupons/C1"),
        ("GET", "api/v1/webhooks"),
        ("POST", "api/v1/webhooks"),
        ("DELETE", "api/v1/webhooks/w1"),
        ("POST", "api/v1/webhooks/w1/rotate-secret"),
        ("POST", "api/v1/webhooks/w1/test"),
        ("GET", "api/v1/webhooks/w1/deliveries"),
        ("POST", "api/v1/webhooks/w1/deliveries/d1/retry"),
    ];
    for (method, path) in clarity_routes {
        let resp = app
            .client
            .request(method.parse().unwrap(), format!("{clarity}/{path}"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 401, "Clarity {method} {path}: {body}");
        assert_eq!(
            body["code"], "UNAUTHORIZED",
            "Clarity {method} {path}: {body}"
        );
    }
    let token_call = app
        .client
        .post(format!("{clarity}/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        token_call.status().as_u16(),
        401,
        "a token needs the client"
    );

    // Sage Pro: every route of `sandbox::sagepro::router`.
    let sagepro = app.url(&format!("/sandbox/sagepro/{sp}/api/v1/sagepro"));
    let sagepro_routes: &[(&str, &str)] = &[
        ("GET", "orders"),
        ("POST", "orders"),
        ("GET", "orders/1"),
        ("PUT", "orders/1"),
        ("GET", "products"),
        ("GET", "products/X"),
        ("PUT", "products/X"),
        ("GET", "customers"),
        ("POST", "customers"),
        ("GET", "customers/C"),
        ("PUT", "customers/C"),
        ("GET", "inventory"),
        ("GET", "inventory/X"),
        ("GET", "inventory/X/W"),
        ("PUT", "inventory/X/W"),
        ("GET", "invoices"),
        ("POST", "invoices"),
        ("GET", "invoices/1"),
    ];
    for (method, path) in sagepro_routes {
        for key in [None, Some("sp_test_wrong")] {
            let mut req = app
                .client
                .request(method.parse().unwrap(), format!("{sagepro}/{path}"))
                .header("content-type", "application/json")
                .body("{}");
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 401, "Sage Pro {method} {path} key {key:?}: {body}");
            assert_eq!(body["Error"]["Code"], "UNAUTHORIZED", "{body}");
        }
    }

    // Sage Intacct: its one gateway answers a refused sender or sign-in the
    // way Intacct does (HTTP 200, a failed control or authentication block)
    // and runs nothing.
    let gateway = app.url(&format!("/sandbox/intacct/{ia}/ia/xml/xmlgw.phtml"));
    let info = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{ia}/sandbox"),
            Some(&token),
            None,
            200,
        )
        .await;
    let i = &info["intacct"];
    let request = |sender: &str, sender_pw: &str, user_pw: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>{sender}</senderid>\
             <password>{sender_pw}</password><controlid>c1</controlid><uniqueid>false</uniqueid>\
             <dtdversion>3.0</dtdversion></control><operation><authentication><login>\
             <userid>{}</userid><companyid>{}</companyid><password>{user_pw}</password></login>\
             </authentication><content><function controlid=\"f1\"><readByQuery><object>SODOCUMENT</object>\
             <fields>*</fields><query></query><pagesize>10</pagesize></readByQuery></function>\
             </content></operation></request>",
            i["user_id"].as_str().unwrap(),
            i["company_id"].as_str().unwrap(),
        )
    };
    let sender = i["sender_id"].as_str().unwrap();
    let sender_pw = i["sender_password"].as_str().unwrap();
    let user_pw = i["user_password"].as_str().unwrap();
    for (who, body) in [
        ("no sender", request("", "", user_pw)),
        ("a wrong sender password", request(sender, "wrong", user_pw)),
        ("a wrong user password", request(sender, sender_pw, "wrong")),
    ] {
        let text = app
            .client
            .post(&gateway)
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("XL03000006"), "Intacct with {who}: {text}");
        assert!(
            !text.contains("<result>") && !text.contains("<data"),
            "Intacct with {who} ran a function: {text}"
        );
    }
    let granted = app
        .client
        .post(&gateway)
        .header("content-type", "application/xml")
        .body(request(sender, sender_pw, user_pw))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        granted.contains("<data"),
        "with its credentials it answers: {granted}"
    );
    app.stop().await;
}
