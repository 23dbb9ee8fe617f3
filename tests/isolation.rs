//! Tenant isolation over every route the product has.
//!
//! The test reads the API routes from the served OpenAPI document (generated
//! from the handlers) and the page routes from `connect::web::page_routes()`
//! (the table the router is built from). Every tenant-scoped route must have an
//! entry below, or the test fails: a new route cannot slip past it. Bob then
//! aims each route at Alice's records and must get 404 (403 for operator
//! routes), and afterwards everything of Alice's reads back unchanged.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{PASSWORD, TestApp, WebSession};
use connect::web::{Access, page_routes};
use serde_json::{Value, json};

/// Alice's records that Bob's requests are aimed at.
struct Target {
    pair: String,
    intacct_pair: String,
    token_id: String,
    tenant_id: String,
    user_id: String,
    invite_id: String,
    template: Value,
}

/// Everything Alice can read; compared before and after Bob's attempts.
async fn snapshot(app: &TestApp, token: &str, t: &Target) -> Value {
    let mut all = serde_json::Map::new();
    for path in [
        "/api/v1/me".to_owned(),
        "/api/v1/pairs".to_owned(),
        "/api/v1/tokens".to_owned(),
        "/api/v1/audit".to_owned(),
        format!("/api/v1/pairs/{}", t.pair),
        format!("/api/v1/pairs/{}", t.intacct_pair),
        format!("/api/v1/pairs/{}/runs", t.pair),
        format!("/api/v1/pairs/{}/flows", t.pair),
        format!("/api/v1/pairs/{}/dead-letters", t.pair),
        format!("/api/v1/pairs/{}/templates", t.pair),
        format!("/api/v1/pairs/{}/templates/orders/versions", t.pair),
        format!("/api/v1/pairs/{}/sandbox", t.pair),
        format!("/api/v1/pairs/{}/sandbox/erp/sales-orders", t.pair),
        "/api/v1/currency-rates".to_owned(),
        "/api/v1/currency-rates.csv".to_owned(),
        "/api/v1/users".to_owned(),
        "/api/v1/users/invites".to_owned(),
        "/api/v1/subscription".to_owned(),
    ] {
        let mut v = app.call("GET", &path, Some(token), None, 200).await;
        // Reading the API moves these along; they are not Alice's data.
        strip(&mut v, &["last_used_at", "last_event_at", "health"]);
        all.insert(path, v);
    }
    Value::Object(all)
}

fn strip(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(m) => {
            for k in keys {
                m.remove(*k);
            }
            m.values_mut().for_each(|x| strip(x, keys));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip(x, keys)),
        _ => {}
    }
}

/// What Bob sends to each API route, keyed by (method, OpenAPI path). `None`
/// marks a route that is not tenant-scoped by id (public, or Bob's own list);
/// those are checked separately.
/// Bob's request at one route: url, body, the status he must get.
type Attempt = (String, Option<Value>, u16);

fn api_cases(t: &Target) -> BTreeMap<(String, String), Option<Attempt>> {
    let p = &t.pair;
    let put_conn = json!({"base_url": "http://127.0.0.1:1", "credentials": {"api_key": "stolen"}});
    let entries: Vec<(&str, &str, Option<Attempt>)> = vec![
        ("post", "/api/v1/signup", None),
        ("post", "/api/v1/auth/token", None),
        ("get", "/api/v1/me", None),
        ("get", "/api/v1/tokens", None),
        ("get", "/api/v1/usage", None),
        ("get", "/api/v1/audit", None),
        ("get", "/api/v1/pairs", None),
        ("post", "/api/v1/pairs", None),
        // The caller's own account, plan and team; links from mail are public.
        ("put", "/api/v1/me/password", None),
        ("post", "/api/v1/me/sessions/revoke", None),
        ("get", "/api/v1/plans", None),
        ("put", "/api/v1/plan", None),
        ("get", "/api/v1/subscription", None),
        ("get", "/api/v1/statements/{period}", None),
        ("get", "/api/v1/users", None),
        ("get", "/api/v1/users/invites", None),
        ("post", "/api/v1/users/invites", None),
        ("post", "/api/v1/invites/accept", None),
        ("post", "/api/v1/auth/password-reset", None),
        ("post", "/api/v1/auth/password-reset/confirm", None),
        (
            "put",
            "/api/v1/users/{id}",
            Some((
                format!("/api/v1/users/{}", t.user_id),
                Some(json!({"role": "read_only"})),
                404,
            )),
        ),
        (
            "delete",
            "/api/v1/users/{id}",
            Some((format!("/api/v1/users/{}", t.user_id), None, 404)),
        ),
        (
            "delete",
            "/api/v1/users/invites/{id}",
            Some((format!("/api/v1/users/invites/{}", t.invite_id), None, 404)),
        ),
        (
            "post",
            "/api/v1/users/invites/{id}/resend",
            Some((
                format!("/api/v1/users/invites/{}/resend", t.invite_id),
                None,
                404,
            )),
        ),
        (
            "get",
            "/api/v1/admin/tenants/{id}",
            Some((format!("/api/v1/admin/tenants/{}", t.tenant_id), None, 403)),
        ),
        (
            "put",
            "/api/v1/admin/tenants/{id}/plan",
            Some((
                format!("/api/v1/admin/tenants/{}/plan", t.tenant_id),
                Some(json!({"plan": "trial", "reason": "mine"})),
                403,
            )),
        ),
        (
            "put",
            "/api/v1/admin/tenants/{id}/limits",
            Some((
                format!("/api/v1/admin/tenants/{}/limits", t.tenant_id),
                Some(json!({"users": 0, "reason": "mine"})),
                403,
            )),
        ),
        (
            "put",
            "/api/v1/admin/tenants/{id}/grace",
            Some((
                format!("/api/v1/admin/tenants/{}/grace", t.tenant_id),
                Some(json!({"days": 0, "reason": "mine"})),
                403,
            )),
        ),
        (
            "post",
            "/api/v1/admin/tenants/{id}/holds/release",
            Some((
                format!("/api/v1/admin/tenants/{}/holds/release", t.tenant_id),
                Some(json!({"reason": "mine"})),
                403,
            )),
        ),
        (
            "post",
            "/api/v1/admin/tenants/{id}/invites/{invite_id}/resend",
            Some((
                format!(
                    "/api/v1/admin/tenants/{}/invites/{}/resend",
                    t.tenant_id, t.invite_id
                ),
                Some(json!({"reason": "mine"})),
                403,
            )),
        ),
        (
            "get",
            "/api/v1/admin/outbox",
            Some(("/api/v1/admin/outbox".into(), None, 403)),
        ),
        (
            "get",
            "/api/v1/admin/plans",
            Some(("/api/v1/admin/plans".into(), None, 403)),
        ),
        (
            "post",
            "/api/v1/admin/plans",
            Some((
                "/api/v1/admin/plans".into(),
                Some(
                    json!({"id": "mine", "name": "Mine", "price_cents": 0, "billing": "free", "interval": "monthly"}),
                ),
                403,
            )),
        ),
        (
            "delete",
            "/api/v1/tokens/{id}",
            Some((format!("/api/v1/tokens/{}", t.token_id), None, 404)),
        ),
        (
            "get",
            "/api/v1/admin/tenants",
            Some(("/api/v1/admin/tenants".into(), None, 403)),
        ),
        (
            "get",
            "/api/v1/admin/audit",
            Some(("/api/v1/admin/audit".into(), None, 403)),
        ),
        (
            "post",
            "/api/v1/admin/tenants/{id}/suspend",
            Some((
                format!("/api/v1/admin/tenants/{}/suspend", t.tenant_id),
                None,
                403,
            )),
        ),
        (
            "post",
            "/api/v1/admin/tenants/{id}/resume",
            Some((
                format!("/api/v1/admin/tenants/{}/resume", t.tenant_id),
                None,
                403,
            )),
        ),
        (
            "get",
            "/api/v1/admin/tenants/{id}/private-targets",
            Some((
                format!("/api/v1/admin/tenants/{}/private-targets", t.tenant_id),
                None,
                403,
            )),
        ),
        (
            "post",
            "/api/v1/admin/tenants/{id}/private-targets",
            Some((
                format!("/api/v1/admin/tenants/{}/private-targets", t.tenant_id),
                Some(json!({"network": "10.20.0.0/24", "note": "mine now"})),
                403,
            )),
        ),
        (
            "delete",
            "/api/v1/admin/tenants/{id}/private-targets/{target_id}",
            Some((
                format!(
                    "/api/v1/admin/tenants/{}/private-targets/ptg_none",
                    t.tenant_id
                ),
                None,
                403,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}",
            Some((format!("/api/v1/pairs/{p}"), None, 404)),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/activate",
            Some((format!("/api/v1/pairs/{p}/activate"), None, 404)),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/pause",
            Some((format!("/api/v1/pairs/{p}/pause"), None, 404)),
        ),
        (
            "put",
            "/api/v1/pairs/{id}/connections/{system}",
            Some((
                format!("/api/v1/pairs/{p}/connections/sagepro"),
                Some(put_conn),
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/connections/clarity/rotate-webhook-secret",
            Some((
                format!("/api/v1/pairs/{p}/connections/clarity/rotate-webhook-secret"),
                None,
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/connections/{system}/test",
            Some((
                format!("/api/v1/pairs/{p}/connections/sagepro/test"),
                None,
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/runs",
            Some((format!("/api/v1/pairs/{p}/runs"), None, 404)),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/flows",
            Some((format!("/api/v1/pairs/{p}/flows"), None, 404)),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/flows/{flow}",
            Some((format!("/api/v1/pairs/{p}/flows/orders"), None, 404)),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/flows/{flow}/run",
            Some((format!("/api/v1/pairs/{p}/flows/inventory/run"), None, 404)),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/flows/{flow}/backfill",
            Some((
                format!("/api/v1/pairs/{p}/flows/inventory/backfill"),
                Some(json!({"since": "2026-01-01"})),
                404,
            )),
        ),
        (
            "put",
            "/api/v1/pairs/{id}/flows/{flow}",
            Some((
                format!("/api/v1/pairs/{p}/flows/orders"),
                Some(json!({"enabled": false})),
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/dead-letters",
            Some((format!("/api/v1/pairs/{p}/dead-letters"), None, 404)),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/dead-letters/{dl_id}/replay",
            Some((
                format!("/api/v1/pairs/{p}/dead-letters/dl_none/replay"),
                None,
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates",
            Some((format!("/api/v1/pairs/{p}/templates"), None, 404)),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}",
            Some((format!("/api/v1/pairs/{p}/templates/orders"), None, 404)),
        ),
        (
            "put",
            "/api/v1/pairs/{id}/templates/{flow}",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders"),
                Some(t.template.clone()),
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/versions",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/versions"),
                None,
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/versions/{version}/restore",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/versions/1/restore"),
                None,
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/preview",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/preview"),
                Some(json!({"sample": 1})),
                404,
            )),
        ),
        // The mapping editor's API (tests/template_editor.rs).
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/versions/{version}",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/versions/1"),
                None,
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/diff",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/diff?from=1&to=1"),
                None,
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/suggestions",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/suggestions"),
                None,
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/suggestions/accept",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/suggestions/accept"),
                Some(json!({"target": "ShipVia", "source": "shippingAmount"})),
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/suggestions/reject",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/suggestions/reject"),
                Some(json!({"target": "ShipVia", "source": "shippingAmount"})),
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/lookups",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/lookups"),
                None,
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/lookups/{table}",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/lookups/payment_terms.csv"),
                None,
                404,
            )),
        ),
        (
            "put",
            "/api/v1/pairs/{id}/templates/{flow}/lookups/{table}",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/lookups/payment_terms"),
                Some(json!({"card": "stolen"})),
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/builtin",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/builtin"),
                None,
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/builtin",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/builtin"),
                Some(json!({"variant": "default"})),
                404,
            )),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/check",
            Some((
                format!("/api/v1/pairs/{p}/templates/orders/check"),
                Some(json!({"rule": {"target": "CustomerNo", "source": "customerId"}})),
                404,
            )),
        ),
        // The rate table is one per tenant, found by the caller's tenant: Bob
        // reads and replaces his own, and Alice's reads back unchanged.
        (
            "get",
            "/api/v1/currency-rates",
            Some(("/api/v1/currency-rates?from=EUR".into(), None, 200)),
        ),
        (
            "put",
            "/api/v1/currency-rates",
            Some((
                "/api/v1/currency-rates".into(),
                Some(
                    json!({"rates": [{"from": "EUR", "to": "USD", "date": "2024-06-01", "rate": "9.99"}]}),
                ),
                200,
            )),
        ),
        (
            "get",
            "/api/v1/currency-rates.csv",
            Some(("/api/v1/currency-rates.csv".into(), None, 200)),
        ),
        (
            "put",
            "/api/v1/currency-rates.csv",
            Some(("/api/v1/currency-rates.csv".into(), None, 422)),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/sandbox",
            Some((format!("/api/v1/pairs/{p}/sandbox"), None, 404)),
        ),
        (
            "post",
            "/api/v1/pairs/{id}/sandbox/orders",
            Some((
                format!("/api/v1/pairs/{p}/sandbox/orders"),
                Some(json!({"count": 2})),
                404,
            )),
        ),
        (
            "get",
            "/api/v1/pairs/{id}/sandbox/erp/sales-orders",
            Some((
                format!("/api/v1/pairs/{p}/sandbox/erp/sales-orders"),
                None,
                404,
            )),
        ),
        (
            "put",
            "/api/v1/pairs/{id}/sandbox/faults",
            Some((
                format!("/api/v1/pairs/{p}/sandbox/faults"),
                Some(json!({"system": "sagepro", "error_rate": 1.0})),
                404,
            )),
        ),
    ];
    entries
        .into_iter()
        .map(|(m, path, case)| ((m.to_owned(), path.to_owned()), case))
        .collect()
}

/// What Bob's browser posts to each tenant page route aimed at Alice's records.
fn page_case(path: &str, t: &Target) -> Option<String> {
    let p = &t.pair;
    Some(match path {
        "/pairs/{id}" | "/pairs/{id}/activate" | "/pairs/{id}/pause" => path.replace("{id}", p),
        "/pairs/{id}/connections/{system}" | "/pairs/{id}/connections/{system}/test" => {
            path.replace("{id}", p).replace("{system}", "sagepro")
        }
        "/pairs/{id}/sandbox-orders" => format!("/pairs/{p}/sandbox-orders"),
        "/pairs/{id}/flows/{flow}"
        | "/pairs/{id}/flows/{flow}/run"
        | "/pairs/{id}/flows/{flow}/backfill" => {
            path.replace("{id}", p).replace("{flow}", "inventory")
        }
        "/pairs/{id}/sandbox-faults/{system}" => format!("/pairs/{p}/sandbox-faults/sagepro"),
        "/pairs/{id}/connections/clarity/rotate" => {
            format!("/pairs/{p}/connections/clarity/rotate")
        }
        "/pairs/{id}/dead-letters/{dl}/replay" => format!("/pairs/{p}/dead-letters/dl_none/replay"),
        // The mapping editor: every route under one pair's template.
        _ if path.starts_with("/pairs/{id}/templates/{flow}") => path
            .replace("{id}", p)
            .replace("{flow}", "orders")
            .replace("{index}", "0")
            .replace("{table}", "payment_terms")
            .replace("{decision}", "accept")
            .replace("{version}", "1"),
        "/tokens/{id}/revoke" => format!("/tokens/{}/revoke", t.token_id),
        "/team/users/{id}/role" | "/team/users/{id}/remove" => path.replace("{id}", &t.user_id),
        "/team/invites/{id}/{action}" => format!("/team/invites/{}/withdraw", t.invite_id),
        "/admin/tenants/{id}/billing/{action}" => {
            format!("/admin/tenants/{}/billing/release", t.tenant_id)
        }
        // A month, not a record: Bob reads his own tenant's statement.
        "/usage/statements/{period}" => "/usage/statements/2026-01".to_owned(),
        "/usage/plan" => "/usage/plan?to=connect".to_owned(),
        // The setup wizard is the signed-in tenant's own.
        "/welcome" | "/welcome/skip" => path.to_owned(),
        "/welcome/{step}" => "/welcome/company".to_owned(),
        // Alice has this rate; Bob's tenant has none, so there is nothing to remove.
        "/rates/{from}/{to}/{date}/remove" => "/rates/EUR/USD/2024-01-01/remove".to_owned(),
        "/rates" | "/rates.csv" | "/rates/import" => path.to_owned(),
        "/admin/tenants/{id}/{action}" => format!("/admin/tenants/{}/suspend", t.tenant_id),
        "/admin/tenants/{id}" | "/admin/tenants/{id}/private-targets" => {
            path.replace("{id}", &t.tenant_id)
        }
        "/admin/tenants/{id}/private-targets/{target_id}/withdraw" => format!(
            "/admin/tenants/{}/private-targets/ptg_none/withdraw",
            t.tenant_id
        ),
        // Routes without an id only ever show the signed-in tenant's own records.
        "/pairs" | "/usage" | "/tokens" | "/admin" | "/team" | "/team/invites" | "/account"
        | "/account/password" | "/account/sessions" | "/admin/outbox" => path.to_owned(),
        "/audit" | "/audit.csv" | "/admin/audit" | "/admin/audit.csv" => path.to_owned(),
        _ => return None,
    })
}

async fn setup_alice(app: &TestApp) -> (String, Target) {
    let alice = app.tenant("Alice Co").await;
    let pair = app.sandbox_pair(&alice, "sagepro").await;
    let intacct_pair = app.sandbox_pair(&alice, "intacct").await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/sandbox/orders"),
        Some(&alice),
        Some(json!({"count": 2})),
        202,
    )
    .await;
    let pair_path = format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders");
    app.eventually("Alice's orders arrive", Duration::from_secs(30), || async {
        let orders = app.call("GET", &pair_path, Some(&alice), None, 200).await;
        orders.as_array().map(|a| a.len()) == Some(2)
    })
    .await;
    // Let the runs settle so the snapshots compare finished records.
    let runs_path = format!("/api/v1/pairs/{pair}/runs?status=succeeded");
    app.eventually("Alice's runs succeed", Duration::from_secs(30), || async {
        let runs = app.call("GET", &runs_path, Some(&alice), None, 200).await;
        runs.as_array().map(|a| a.len()) == Some(2)
    })
    .await;
    let tokens = app
        .call("GET", "/api/v1/tokens", Some(&alice), None, 200)
        .await;
    let token_id = tokens[0]["id"].as_str().unwrap().to_owned();
    let me = app.call("GET", "/api/v1/me", Some(&alice), None, 200).await;
    let user_id = me["user_id"].as_str().unwrap().to_owned();
    let invite_id = app
        .call(
            "POST",
            "/api/v1/users/invites",
            Some(&alice),
            Some(json!({"email": "alices-colleague@alice.test", "role": "member"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant_id = me["tenant"]["id"]
        .as_str()
        .or_else(|| me["tenant_id"].as_str())
        .unwrap_or_else(|| panic!("tenant id in {me}"))
        .to_owned();
    let template = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/templates/orders"),
            Some(&alice),
            None,
            200,
        )
        .await["document"]
        .clone();
    app.call(
        "PUT",
        "/api/v1/currency-rates",
        Some(&alice),
        Some(json!({"rates": [
            {"from": "EUR", "to": "USD", "date": "2024-01-01", "rate": "1.0825"},
            {"from": "GBP", "to": "USD", "date": "2024-01-01", "rate": "1.27"}
        ]})),
        200,
    )
    .await;
    (
        alice,
        Target {
            pair,
            intacct_pair,
            token_id,
            tenant_id,
            user_id,
            invite_id,
            template,
        },
    )
}

#[tokio::test]
async fn every_tenant_scoped_route_refuses_another_tenant_and_changes_nothing() {
    let app = common::spawn_app().await;
    let (alice, target) = setup_alice(&app).await;
    let before = snapshot(&app, &alice, &target).await;

    let bob_email = format!("bob-{}@example.com", uuid::Uuid::now_v7().simple());
    app.call(
        "POST",
        "/api/v1/signup",
        None,
        Some(json!({"company": "Bob Co", "email": bob_email, "password": PASSWORD})),
        201,
    )
    .await;
    let bob = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": bob_email, "password": PASSWORD})),
            200,
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The API, as the OpenAPI document lists it.
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None, 200)
        .await;
    let cases = api_cases(&target);
    let mut seen = BTreeSet::new();
    let mut missing = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let key = (method.clone(), path.clone());
            match cases.get(&key) {
                None => missing.push(format!("{} {path}", method.to_uppercase())),
                Some(None) => {}
                Some(Some((url, body, status))) => {
                    app.call(
                        &method.to_uppercase(),
                        url,
                        Some(&bob),
                        body.clone(),
                        *status,
                    )
                    .await;
                }
            }
            seen.insert(key);
        }
    }
    assert!(
        missing.is_empty(),
        "API routes without a tenant-isolation case: {missing:?}"
    );
    assert_eq!(
        seen.len(),
        cases.len(),
        "cases for routes the API no longer has"
    );

    // Bob's own lists hold none of Alice's records.
    for path in [
        "/api/v1/pairs",
        "/api/v1/tokens",
        "/api/v1/audit",
        "/api/v1/usage",
        "/api/v1/me",
    ] {
        let v = app
            .call("GET", path, Some(&bob), None, 200)
            .await
            .to_string();
        for secret in [
            &target.pair,
            &target.intacct_pair,
            &target.token_id,
            &target.tenant_id,
        ] {
            assert!(
                !v.contains(secret.as_str()),
                "{path} shows Alice's {secret}: {v}"
            );
        }
    }

    // Bob's rate table is his own: only the row his PUT above wrote.
    let bobs_rates = app
        .call("GET", "/api/v1/currency-rates", Some(&bob), None, 200)
        .await;
    assert_eq!(
        bobs_rates["rates"].as_array().map(Vec::len),
        Some(1),
        "{bobs_rates}"
    );
    assert_eq!(bobs_rates["rates"][0]["rate"], "9.99", "{bobs_rates}");

    // The pages, as the router's table lists them, with Bob's session and CSRF token.
    let web = BobBrowser::login(&app, &bob_email).await;
    let mut missing = Vec::new();
    for route in page_routes() {
        if route.access == Access::Public {
            continue;
        }
        let Some(url) = page_case(route.path, &target) else {
            missing.push(format!("{} {}", route.method, route.path));
            continue;
        };
        // Bob's own account: these would sign him out; tests/team.rs has them.
        if matches!(route.path, "/account/password" | "/account/sessions") {
            continue;
        }
        let (status, body) = web.send(route.method, &url).await;
        let own_view = !route.path.contains('{')
            || matches!(route.path, "/usage/statements/{period}" | "/welcome/{step}");
        let expected = match (route.access, own_view) {
            (Access::Operator, _) => 403,
            (_, true) if route.method == "GET" => 200,
            // Posting to a list creates Bob's own record; covered by the API case.
            (_, true) => continue,
            (_, false) => 404,
        };
        assert_eq!(
            status, expected,
            "{} {url} as Bob answered {status}: {body}",
            route.method
        );
        for secret in [&target.pair, &target.intacct_pair, &target.token_id] {
            assert!(
                !body.contains(secret.as_str()),
                "{} {url} shows Alice's {secret}",
                route.method
            );
        }
    }
    assert!(
        missing.is_empty(),
        "page routes without a tenant-isolation case: {missing:?}"
    );

    // The simulators of Alice's sandbox refuse Bob's sandbox credentials.
    let bobs_pair = app.sandbox_pair(&bob, "sagepro").await;
    let bobs_sandbox = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{bobs_pair}/sandbox"),
            Some(&bob),
            None,
            200,
        )
        .await;
    let bobs_key = find_string(&bobs_sandbox, "sp_test_").expect("Bob's Sage Pro demo key");
    let alices_sandbox = before[&format!("/api/v1/pairs/{}/sandbox", target.pair)].clone();
    let alices_sagepro =
        find_url(&alices_sandbox, "/sandbox/sagepro/").expect("Alice's Sage Pro URL");
    let resp = app
        .client
        .get(format!("{}/orders", alices_sagepro.trim_end_matches('/')))
        .header("x-api-key", &bobs_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        401,
        "Bob's key opens Alice's Sage Pro simulator"
    );

    // A webhook signed with Bob's secret is refused at Alice's webhook URL.
    use connect_jobs::connectors::clarity::signature;
    let bobs_secret = bobs_sandbox["clarity"]["webhook_secret"]
        .as_str()
        .expect("Bob's webhook secret")
        .to_owned();
    let body = json!({"id": "evt_forged", "type": "order.created",
        "data": {"id": "ord_forged"}})
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let resp = app
        .client
        .post(app.url(&format!("/hooks/clarity/{}", target.pair)))
        .header("content-type", "application/json")
        .header(
            signature::SIGNATURE_HEADER,
            signature::signature_header(&[&bobs_secret], now, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        401,
        "Bob's signature opens Alice's webhook"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = snapshot(&app, &alice, &target).await;
    assert_eq!(before, after, "Bob's attempts changed Alice's records");
    // Alice's token still works (Bob could not revoke it).
    app.call("GET", "/api/v1/me", Some(&alice), None, 200).await;
    app.stop().await;
}

/// Bob, signed in to the web UI: a session cookie and the CSRF token of his pages.
struct BobBrowser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> BobBrowser<'a> {
    async fn login(app: &'a TestApp, email: &str) -> Self {
        let WebSession {
            client,
            cookie,
            csrf,
        } = WebSession::sign_in(app, email).await;
        BobBrowser {
            app,
            client,
            cookie,
            csrf,
        }
    }

    async fn send(&self, method: &str, path: &str) -> (u16, String) {
        let req = self
            .client
            .request(method.parse().unwrap(), self.app.url(path))
            .header("cookie", &self.cookie);
        let req = if method == "POST" {
            req.form(&[
                ("csrf", self.csrf.as_str()),
                ("base_url", "http://127.0.0.1:1"),
                ("api_key", "stolen"),
                ("count", "2"),
                ("name", "stolen"),
            ])
        } else {
            req
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
}

fn find_string(v: &Value, prefix: &str) -> Option<String> {
    match v {
        Value::String(s) if s.starts_with(prefix) => Some(s.clone()),
        Value::Object(m) => m.values().find_map(|x| find_string(x, prefix)),
        Value::Array(a) => a.iter().find_map(|x| find_string(x, prefix)),
        _ => None,
    }
}

fn find_url(v: &Value, part: &str) -> Option<String> {
    match v {
        Value::String(s) if s.starts_with("http") && s.contains(part) => Some(s.clone()),
        Value::Object(m) => m.values().find_map(|x| find_url(x, part)),
        Value::Array(a) => a.iter().find_map(|x| find_url(x, part)),
        _ => None,
    }
}
