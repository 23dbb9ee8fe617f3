//! The JSON API contract: accounts, tokens, pairs, errors, tenant isolation.

mod common;

use common::{PASSWORD, spawn_app};
use serde_json::json;

#[tokio::test]
async fn signup_then_token_then_me_names_the_tenant_and_plan() {
    let app = spawn_app().await;
    let created = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"company": "Acme", "email": "Ops@Acme.test", "password": PASSWORD})),
            201,
        )
        .await;
    let t = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "ops@acme.test", "password": PASSWORD})),
            200,
        )
        .await;
    let token = t["token"].as_str().unwrap();
    let me = app.call("GET", "/api/v1/me", Some(token), None, 200).await;
    assert_eq!(me["tenant_id"], created["tenant_id"]);
    assert_eq!(me["user_id"], created["user_id"]);
    assert_eq!(me["role"], "owner");
    assert_eq!(me["plan"], "trial");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let e = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"company": "Acme", "email": "nope", "password": PASSWORD})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "email");
    let e = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"company": "Acme", "email": "a@b.co"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "password");
    let e = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"company": "Acme", "email": "a@b.co", "password": "short"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "password");
    // Nothing was stored by the refused attempts: the same email signs up fine.
    app.call(
        "POST",
        "/api/v1/signup",
        None,
        Some(json!({"company": "Acme", "email": "a@b.co", "password": PASSWORD})),
        201,
    )
    .await;
    let e = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"company": "Other", "email": "A@B.co", "password": PASSWORD})),
            409,
        )
        .await;
    assert_eq!(e["error"]["field"], "email");
    let token = app.tenant("Pairs Inc").await;
    let e = app
        .call(
            "POST",
            "/api/v1/pairs",
            Some(&token),
            Some(json!({"name": "x", "erp": "netsuite", "environment": "sandbox"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "erp");

    // Malformed JSON, a wrong type, a missing field, an oversized body.
    let raw = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/pairs"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = raw(br#"{"name": "x", "erp": "#.to_vec()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "malformed");
    assert_eq!(e["error"]["field"], "body");
    let e = app
        .call(
            "POST",
            "/api/v1/pairs",
            Some(&token),
            Some(json!({"name": 5, "erp": "intacct", "environment": "sandbox"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "name", "{e}");
    let e = app
        .call(
            "POST",
            "/api/v1/pairs",
            Some(&token),
            Some(json!({"erp": "intacct", "environment": "sandbox"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "name", "{e}");
    let mut big = br#"{"name": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 3 * 1024 * 1024));
    big.extend(br#"", "erp": "intacct", "environment": "sandbox"}"#);
    let resp = raw(big).await.unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["field"], "body", "{e}");
    // None of the refused requests left a pair behind.
    let pairs = app
        .call("GET", "/api/v1/pairs", Some(&token), None, 200)
        .await;
    assert_eq!(pairs, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn webhooks_with_a_bad_signature_or_an_old_timestamp_store_nothing() {
    use connect_jobs::connectors::clarity::signature;
    let app = spawn_app().await;
    let token = app.tenant("Hooked").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let secret = &app.webhook_secret(&token, &pair).await;
    let body = json!({"id": "evt_1", "type": "order.created", "data": {"id": "ord_1"}}).to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let send = |header: String| post_hook(&app, &pair, header, &body);
    let inbox = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox WHERE pair_id = $1")
            .bind(&pair)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        n
    };
    for (what, header) in [
        (
            "a wrong secret",
            signature::signature_header(&["whsec_wrong"], now, body.as_bytes()),
        ),
        ("a garbled header", "t=abc,v1=zz".to_owned()),
        (
            "a replayed timestamp (ten minutes old)",
            signature::signature_header(&[secret], now - 600, body.as_bytes()),
        ),
        (
            "a timestamp from the future",
            signature::signature_header(&[secret], now + 600, body.as_bytes()),
        ),
    ] {
        let resp = send(header).await;
        assert_eq!(resp.status().as_u16(), 401, "{what}");
        assert_eq!(inbox().await, 0, "{what} stored an event");
    }
    // The same event, signed now with the right secret, is taken once; a
    // redelivery is answered 200 and recognised as a duplicate.
    for duplicate in [false, true] {
        let resp = send(signature::signature_header(&[secret], now, body.as_bytes())).await;
        assert_eq!(resp.status().as_u16(), 200);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["duplicate"], duplicate, "{v}");
        assert_eq!(inbox().await, 1);
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_then_rate_limited() {
    let app = spawn_app().await;
    app.call(
        "POST",
        "/api/v1/signup",
        None,
        Some(json!({"company": "Acme", "email": "rl@acme.test", "password": PASSWORD})),
        201,
    )
    .await;
    for _ in 0..5 {
        app.call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "rl@acme.test", "password": "wrong password!"})),
            401,
        )
        .await;
    }
    // Even the right password waits now: the account is throttled.
    app.call(
        "POST",
        "/api/v1/auth/token",
        None,
        Some(json!({"email": "rl@acme.test", "password": PASSWORD})),
        429,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    app.call("GET", "/api/v1/me", None, None, 401).await;
    app.call("GET", "/api/v1/me", Some("cct_not-a-token"), None, 401)
        .await;
    app.call("GET", "/api/v1/pairs", None, None, 401).await;
    app.stop().await;
}

#[tokio::test]
async fn saved_secrets_never_come_back_out() {
    let app = spawn_app().await;
    let token = app.paying_tenant("Secretive").await;
    let pair = app
        .call(
            "POST",
            "/api/v1/pairs",
            Some(&token),
            Some(json!({"name": "prod", "erp": "sagepro", "environment": "production"})),
            201,
        )
        .await;
    let id = pair["id"].as_str().unwrap();
    assert_eq!(pair["status"], "draft");
    // Production pairs may not point inside our network.
    let e = app
        .call(
            "PUT",
            &format!("/api/v1/pairs/{id}/connections/sagepro"),
            Some(&token),
            Some(json!({"base_url": "http://127.0.0.1:9/api", "credentials": {"api_key": "sp_live_TOPSECRET"}})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "base_url");
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{id}/connections/sagepro"),
        Some(&token),
        Some(json!({"base_url": "https://203.0.113.10/api/v1/sagepro", "credentials": {"api_key": "sp_live_TOPSECRET"}})),
        204,
    )
    .await;
    let body = app
        .client
        .get(app.url(&format!("/api/v1/pairs/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("TOPSECRET"), "{body}");
    assert!(
        body.contains("api_key"),
        "the saved secret's name is shown: {body}"
    );
    let list = app
        .client
        .get(app.url("/api/v1/pairs"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains("TOPSECRET"));
    let (_, dir) = app.stop().await;
    // Nor is it anywhere in the database files (embedded default).
    if common::backend() == "embedded" {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert!(
                !bytes.windows(b"TOPSECRET".len()).any(|w| w == b"TOPSECRET"),
                "plaintext secret found in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    app.call("GET", "/healthz", None, None, 200).await;
    let ready = app.call("GET", "/readyz", None, None, 200).await;
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["queue"], "ok");
    let spec = app
        .call("GET", "/api/v1/openapi.json", None, None, 200)
        .await;
    for path in [
        "/api/v1/signup",
        "/api/v1/pairs",
        "/api/v1/pairs/{id}/runs",
        "/api/v1/pairs/{id}/sandbox/orders",
    ] {
        assert!(spec["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("connect_http_requests_total"), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn events_no_flow_handles_are_kept_in_the_inbox_without_a_run() {
    use connect_jobs::connectors::clarity::signature;
    let app = spawn_app().await;
    let token = app.tenant("Quiet").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let secret = &app.webhook_secret(&token, &pair).await;
    let body = json!({"id": "evt_coupon_1", "type": "coupon.updated", "data": {"id": "SPRING"}})
        .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let resp = post_hook(
        &app,
        &pair,
        signature::signature_header(&[secret], now, body.as_bytes()),
        &body,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let status = || async {
        let row: (String, Option<String>) =
            sqlx::query_as("SELECT status, last_error FROM inbox WHERE pair_id = $1")
                .bind(&pair)
                .fetch_one(app.state.db.pool())
                .await
                .unwrap();
        row
    };
    app.eventually(
        "the event is handled",
        std::time::Duration::from_secs(20),
        || async { status().await.0 == "done" },
    )
    .await;
    let (_, why) = status().await;
    assert!(
        why.unwrap_or_default().contains("no flow"),
        "the reason is kept"
    );
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 0, "{runs}");
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_webhook_secret_keeps_the_old_one_valid_through_the_overlap() {
    use connect_jobs::connectors::clarity::signature;
    let app = spawn_app().await;
    let token = app.tenant("Rotating").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let old = app.webhook_secret(&token, &pair).await;
    let rotated = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/connections/clarity/rotate-webhook-secret"),
            Some(&token),
            None,
            200,
        )
        .await;
    let until = rotated["previous_valid_until"].as_i64().unwrap();
    let in_a_day = (time::OffsetDateTime::now_utc().unix_timestamp() + 24 * 3600) * 1000;
    assert!((until - in_a_day).abs() < 60_000, "{rotated}");
    let new = app.webhook_secret(&token, &pair).await;
    assert_ne!(new, old, "the store signs with a new secret");

    let (app_ref, pair_ref) = (&app, &pair);
    let deliver = |id: &str, secret: &str| {
        let body =
            json!({"id": id, "type": "customer.updated", "data": {"id": "cus_1"}}).to_string();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let header = signature::signature_header(&[secret], now, body.as_bytes());
        async move { post_hook(app_ref, pair_ref, header, &body).await }
    };
    for (id, secret, status) in [
        ("evt_old", old.as_str(), 200),
        ("evt_new", new.as_str(), 200),
        ("evt_forged", "whsec_someone_else", 401),
    ] {
        let r = deliver(id, secret).await;
        assert_eq!(r.status().as_u16(), status, "{id}");
    }
    // The simulator's own deliveries (signed with both) still arrive.
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/sandbox/orders"),
        Some(&token),
        Some(json!({"count": 2})),
        202,
    )
    .await;
    let runs = format!("/api/v1/pairs/{pair}/runs?status=succeeded");
    app.eventually(
        "orders after the rotation",
        std::time::Duration::from_secs(30),
        || async {
            let r = app.call("GET", &runs, Some(&token), None, 200).await;
            r.as_array().map(Vec::len) == Some(2)
        },
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn connection_tests_say_what_happened_in_plain_words() {
    let app = spawn_app().await;
    let token = app.tenant("Tested").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let test = |script: serde_json::Value| {
        let (app, token, pair) = (&app, &token, &pair);
        async move {
            app.call(
                "PUT",
                &format!("/api/v1/pairs/{pair}/sandbox/faults"),
                Some(token),
                Some(json!({"system": "sagepro", "hang_ms": 4000, "script": script})),
                200,
            )
            .await;
            app.call(
                "POST",
                &format!("/api/v1/pairs/{pair}/connections/sagepro/test"),
                Some(token),
                None,
                200,
            )
            .await
        }
    };
    let ok = test(json!([])).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(
        ok["detail"]
            .as_str()
            .unwrap()
            .starts_with("signed in to company"),
        "{ok}"
    );
    // The tests' HTTP timeout is 2 s (CONNECT_HTTP_TIMEOUT_MS).
    let slow = test(json!([{"fault": "timeout", "count": 1}])).await;
    assert_eq!(slow["ok"], false);
    assert_eq!(slow["detail"], "timed out after 2 s", "{slow}");
    let refused = test(json!([{"fault": "unauthorized", "count": 1}])).await;
    assert_eq!(refused["ok"], false);
    assert!(
        refused["detail"].as_str().unwrap().starts_with("401: "),
        "{refused}"
    );
    // The pair page shows the last result.
    let pairs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert!(pairs.to_string().contains("401: "), "{pairs}");
    app.stop().await;
}

#[tokio::test]
async fn a_simulator_concurrency_limit_refuses_what_is_over_it() {
    let app = spawn_app().await;
    let token = app.tenant("Crowded").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/sandbox/faults"),
        Some(&token),
        Some(json!({"system": "clarity", "concurrency_limit": 1, "latency_ms": 400})),
        200,
    )
    .await;
    let info = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(&token),
            None,
            200,
        )
        .await;
    let c = &info["clarity"];
    let bearer: serde_json::Value = app
        .client
        .post(c["token_url"].as_str().unwrap())
        .basic_auth(
            c["client_id"].as_str().unwrap(),
            Some(c["client_secret"].as_str().unwrap()),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = bearer["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/orders?pageSize=1", c["api_url"].as_str().unwrap());
    let calls = (0..3).map(|_| app.client.get(&url).bearer_auth(&bearer).send());
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "one at a time: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "the rest refused: {statuses:?}"
    );
    let peak = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(&token),
            None,
            200,
        )
        .await["peak_in_flight"]["clarity"]
        .as_u64()
        .unwrap();
    assert!(peak >= 2, "the refused calls were in flight too: {peak}");
    app.stop().await;
}

#[tokio::test]
async fn a_template_preview_maps_and_validates_without_writing_anything() {
    let app = spawn_app().await;
    let token = app.tenant("Previewing").await;
    // (erp, the field an unknown SKU is reported on — the default templates
    // resolve SKUs before mapping —, the field a missing customerId names)
    for (erp, item_field, customer_field) in [
        ("intacct", "lineItems[0].sku", "customerid"),
        ("sagepro", "lineItems[0].sku", "CustomerNo"),
    ] {
        let pair = app.sandbox_pair(&token, erp).await;
        app.call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(&token),
            Some(json!({"count": 2})),
            202,
        )
        .await;
        let runs = format!("/api/v1/pairs/{pair}/runs");
        app.eventually(
            "two sandbox orders synced",
            std::time::Duration::from_secs(30),
            || async {
                let r = app
                    .call(
                        "GET",
                        &format!("{runs}?status=succeeded"),
                        Some(&token),
                        None,
                        200,
                    )
                    .await;
                r.as_array().map(Vec::len) == Some(2)
            },
        )
        .await;
        let erp_orders = format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders");
        let count = |path: String| {
            let (app, token) = (&app, &token);
            async move {
                app.call("GET", &path, Some(token), None, 200)
                    .await
                    .as_array()
                    .unwrap()
                    .len()
            }
        };
        let (orders_before, runs_before) =
            (count(erp_orders.clone()).await, count(runs.clone()).await);
        assert_eq!(orders_before, 2, "{erp}");

        let preview = format!("/api/v1/pairs/{pair}/templates/orders/preview");
        let sampled = app
            .call(
                "POST",
                &preview,
                Some(&token),
                Some(json!({"sample": 2})),
                200,
            )
            .await;
        assert_eq!(sampled["version"], 1, "{sampled}");
        assert_eq!(
            sampled["references"]["source"], "sandbox_catalog",
            "{sampled}"
        );
        let kinds = sampled["references"]["kinds"].as_array().unwrap();
        assert!(
            kinds.contains(&json!("item")) && kinds.contains(&json!("customer")),
            "{sampled}"
        );
        let results = sampled["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "{sampled}");
        for r in results {
            assert!(r["output"].is_object(), "{erp}: {r}");
            assert_eq!(r["errors"], json!([]), "{erp}: {r}");
            assert!(r["source"]["lineItems"].is_array(), "{erp}: {r}");
        }

        let good = results[0]["source"].clone();
        let mut unknown_sku = good.clone();
        unknown_sku["orderId"] = json!("CO-BAD-SKU");
        unknown_sku["lineItems"][0]["sku"] = json!("NO-SUCH-SKU");
        let mut no_customer = good.clone();
        no_customer["orderId"] = json!("CO-NO-CUST");
        no_customer.as_object_mut().unwrap().remove("customerId");
        let given = app
            .call(
                "POST",
                &preview,
                Some(&token),
                Some(json!({"records": [good, unknown_sku, no_customer], "version": 1})),
                200,
            )
            .await;
        let results = given["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{given}");
        assert!(results[0]["output"].is_object(), "{given}");
        assert_eq!(results[0]["errors"], json!([]), "{given}");

        let sku_errors = results[1]["errors"].as_array().unwrap();
        assert!(results[1]["output"].is_object(), "{given}");
        assert_eq!(sku_errors.len(), 1, "{erp}: {sku_errors:?}");
        assert_eq!(sku_errors[0]["field"], item_field, "{erp}: {sku_errors:?}");
        assert_eq!(sku_errors[0]["rule"], "reference", "{erp}: {sku_errors:?}");
        assert_eq!(
            sku_errors[0]["record"], "CO-BAD-SKU",
            "{erp}: {sku_errors:?}"
        );
        assert_eq!(
            sku_errors[0]["value"], "NO-SUCH-SKU",
            "{erp}: {sku_errors:?}"
        );

        let customer_errors = results[2]["errors"].as_array().unwrap();
        assert!(results[2]["output"].is_null(), "{given}");
        assert_eq!(customer_errors.len(), 1, "{erp}: {customer_errors:?}");
        assert_eq!(
            customer_errors[0]["field"], customer_field,
            "{erp}: {customer_errors:?}"
        );
        assert_eq!(
            customer_errors[0]["record"], "CO-NO-CUST",
            "{erp}: {customer_errors:?}"
        );

        // A preview sends nothing to the ERP and starts no run.
        assert_eq!(count(erp_orders.clone()).await, orders_before, "{erp}");
        assert_eq!(count(runs.clone()).await, runs_before, "{erp}");

        let too_many: Vec<_> = (0..51).map(|_| json!({})).collect();
        for (body, field) in [
            (json!({}), "records"),
            (json!({"records": []}), "records"),
            (json!({"records": too_many}), "records"),
            (json!({"records": "order"}), "records"),
            (json!({"records": [{}], "sample": 1}), "records"),
            (json!({"sample": 0}), "sample"),
            (json!({"sample": 51}), "sample"),
            (json!({"sample": "two"}), "sample"),
            (json!({"sample": 1, "version": 99}), "version"),
        ] {
            let e = app
                .call("POST", &preview, Some(&token), Some(body.clone()), 422)
                .await;
            assert_eq!(e["error"]["field"], field, "{erp}: {body} → {e}");
        }
        let e = app
            .call(
                "POST",
                &format!("/api/v1/pairs/{pair}/templates/nonsense/preview"),
                Some(&token),
                Some(json!({"sample": 1})),
                422,
            )
            .await;
        assert_eq!(e["error"]["field"], "flow", "{e}");
    }
    let spec = app
        .call("GET", "/api/v1/openapi.json", None, None, 200)
        .await;
    assert!(
        spec["paths"]["/api/v1/pairs/{id}/templates/{flow}/preview"]["post"].is_object(),
        "openapi lacks the preview"
    );
    app.stop().await;
}

/// Posts `body` to the pair's webhook endpoint with this signature header.
async fn post_hook(
    app: &common::TestApp,
    pair: &str,
    signature_header: String,
    body: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/hooks/clarity/{pair}")))
        .header("content-type", "application/json")
        .header(
            connect_jobs::connectors::clarity::signature::SIGNATURE_HEADER,
            signature_header,
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}
