//! The operators' portal: every tenant with plan and usage; suspend and resume.

mod common;

use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Creates an operator and signs in: (client, session cookie, CSRF token).
async fn operator_session(app: &common::TestApp, email: &str) -> (reqwest::Client, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_connect"))
        .args(["admin", "create-operator", "--email", email])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&app.env)
        .env("CONNECT_OPERATOR_PASSWORD", common::PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(app.url("/login"))
        .form(&[("email", email), ("password", common::PASSWORD)])
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
    let page = client
        .get(app.url("/admin"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (client, cookie, csrf)
}

#[tokio::test]
async fn an_operator_suspends_and_resumes_a_tenant() {
    let app = common::spawn_app().await;
    let tenant_token = app.tenant("Suspended Co").await;
    app.call("GET", "/api/v1/me", Some(&tenant_token), None, 200)
        .await;

    let out = Command::new(env!("CARGO_BIN_EXE_connect"))
        .args(["admin", "create-operator", "--email", "op@platform.test"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&app.env)
        .env("CONNECT_OPERATOR_PASSWORD", common::PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An operator's API token reaches the operators' API, not tenant routes.
    let op_token = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "op@platform.test", "password": common::PASSWORD})),
            200,
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call("GET", "/api/v1/admin/tenants", Some(&op_token), None, 200)
        .await;
    app.call("GET", "/api/v1/pairs", Some(&op_token), None, 403)
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(app.url("/login"))
        .form(&[
            ("email", "op@platform.test"),
            ("password", common::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    assert_eq!(login.headers()["location"], "/admin");
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        login.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );

    let page = client
        .get(app.url("/admin"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Suspended Co"), "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    let tenants: serde_json::Value = client
        .get(app.url("/api/v1/admin/tenants"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = tenants
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Suspended Co")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without the CSRF header a cookie-authenticated change is refused.
    let r = client
        .post(app.url(&format!("/api/v1/admin/tenants/{id}/suspend")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = client
        .post(app.url(&format!("/api/v1/admin/tenants/{id}/suspend")))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let e = app
        .call("GET", "/api/v1/me", Some(&tenant_token), None, 403)
        .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("suspended")
    );

    // The web form does the same for resume, and needs a reason.
    let resume = |reason: &'static str| {
        client
            .post(app.url(&format!("/admin/tenants/{id}/resume")))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("reason", reason)])
            .send()
    };
    assert_eq!(resume("").await.unwrap().status().as_u16(), 422);
    app.call("GET", "/api/v1/me", Some(&tenant_token), None, 403)
        .await;
    assert_eq!(resume("ticket 4411").await.unwrap().status().as_u16(), 303);
    app.call("GET", "/api/v1/me", Some(&tenant_token), None, 200)
        .await;

    // A tenant user cannot reach the operators' API.
    app.call(
        "GET",
        "/api/v1/admin/tenants",
        Some(&tenant_token),
        None,
        403,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_operator_opens_one_internal_network_for_an_on_premises_sage_pro() {
    let app = common::spawn_app().await;
    let token = app.paying_tenant("On Prem Co").await;
    let me = app.call("GET", "/api/v1/me", Some(&token), None, 200).await;
    let tenant_id = me["tenant_id"].as_str().unwrap().to_owned();
    let pair = app
        .call(
            "POST",
            "/api/v1/pairs",
            Some(&token),
            Some(json!({"name": "prod", "erp": "sagepro", "environment": "production"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let save = |status: u16| {
        let (app, token, pair) = (&app, &token, &pair);
        async move {
            app.call(
                "PUT",
                &format!("/api/v1/pairs/{pair}/connections/sagepro"),
                Some(token),
                Some(json!({"base_url": "http://10.20.0.15:8443/api/v1/sagepro", "credentials": {"api_key": "sp_live_k"}})),
                status,
            )
            .await
        }
    };
    // Refused until an operator allows it, with a message saying who can.
    let e = save(422).await;
    assert_eq!(e["error"]["field"], "base_url");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("operator"),
        "{e}"
    );

    let (client, cookie, csrf) = operator_session(&app, "netops@platform.test").await;
    let api = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut r = client
            .request(method, app.url(&path))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let targets = format!("/api/v1/admin/tenants/{tenant_id}/private-targets");
    for (body, field) in [
        (json!({"network": "127.0.0.1", "note": "x"}), "network"),
        (
            json!({"network": "169.254.169.254", "note": "x"}),
            "network",
        ),
        (json!({"network": "10.0.0.0/8", "note": "x"}), "network"),
        (json!({"network": "8.8.8.8", "note": "x"}), "network"),
        (
            json!({"network": "ten-dot-something", "note": "x"}),
            "network",
        ),
        (json!({"network": "10.20.0.0/24", "note": " "}), "note"),
    ] {
        let (status, e) = api(reqwest::Method::POST, targets.clone(), Some(body.clone())).await;
        assert_eq!(status, 422, "{body} -> {e}");
        assert_eq!(e["error"]["field"], field, "{body} -> {e}");
    }
    let (status, allowed) = api(
        reqwest::Method::POST,
        targets.clone(),
        Some(json!({"network": "10.20.0.9/24", "note": "VPN to the warehouse, ticket 4411"})),
    )
    .await;
    assert_eq!(status, 201, "{allowed}");
    assert_eq!(allowed["network"], "10.20.0.0/24");
    let (status, _) = api(
        reqwest::Method::POST,
        targets.clone(),
        Some(json!({"network": "10.20.0.0/24", "note": "again"})),
    )
    .await;
    assert_eq!(status, 409);
    let (_, list) = api(reqwest::Method::GET, targets.clone(), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    save(204).await;
    // Only that network, and only for Sage Pro.
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/connections/sagepro"),
        Some(&token),
        Some(json!({"base_url": "http://10.20.1.15/api", "credentials": {"api_key": "k"}})),
        422,
    )
    .await;
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/connections/clarity"),
        Some(&token),
        Some(json!({"base_url": "http://10.20.0.16/", "credentials": {"client_id": "c", "client_secret": "s", "webhook_secret": "w"}})),
        422,
    )
    .await;

    // The operator's page shows it; withdrawing closes it again.
    let page = client
        .get(app.url(&format!("/admin/tenants/{tenant_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("10.20.0.0/24") && page.contains("ticket 4411"),
        "{page}"
    );
    let id = allowed["id"].as_str().unwrap();
    let (status, _) = api(reqwest::Method::DELETE, format!("{targets}/{id}"), None).await;
    assert_eq!(status, 204);
    save(422).await;
    let audit = app
        .call("GET", "/api/v1/audit", Some(&token), None, 200)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"private_target.allow"), "{actions:?}");
    assert!(actions.contains(&"private_target.withdraw"), "{actions:?}");
    app.stop().await;
}

/// The portal's list puts the tenant needing attention first and says why;
/// search narrows it; a tenant's page shows its plan, usage history, pairs,
/// users and audit, and its billing actions need a reason.
#[tokio::test]
async fn the_portal_sorts_tenants_by_risk_and_acts_on_one_with_a_reason() {
    let app = common::spawn_app().await;
    let quiet = app.tenant("Quiet Fleet Co").await;
    let busy = app.tenant("Held Fleet Co").await;
    let busy_id = app.call("GET", "/api/v1/me", Some(&busy), None, 200).await["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let op = app.operator("fleet-op@platform.test").await;
    let pair = app.sandbox_pair(&busy, "intacct").await;
    app.sandbox_pair(&quiet, "intacct").await;
    app.call(
        "PUT",
        &format!("/api/v1/admin/tenants/{busy_id}/limits"),
        Some(&op),
        Some(json!({"transactions_per_month": 0, "reason": "risk test"})),
        200,
    )
    .await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/sandbox/orders"),
        Some(&busy),
        Some(json!({"count": 3})),
        202,
    )
    .await;
    app.eventually("held", std::time::Duration::from_secs(60), || async {
        app.call("GET", "/api/v1/usage", Some(&busy), None, 200)
            .await["held"]["count"]
            == 3
    })
    .await;
    let list = app
        .call("GET", "/api/v1/admin/tenants", Some(&op), None, 200)
        .await;
    let first = &list[0];
    assert_eq!(first["id"], busy_id.as_str(), "{list}");
    assert!(
        first["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("3 events held")),
        "{first}"
    );
    let found = app
        .call(
            "GET",
            "/api/v1/admin/tenants?q=quiet%20fleet",
            Some(&op),
            None,
            200,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["name"], "Quiet Fleet Co");
    let e = app
        .call(
            "GET",
            "/api/v1/admin/tenants?sort=vibes",
            Some(&op),
            None,
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "sort");

    let d = app
        .call(
            "GET",
            &format!("/api/v1/admin/tenants/{busy_id}"),
            Some(&op),
            None,
            200,
        )
        .await;
    assert_eq!(d["usage_history"].as_array().unwrap().len(), 12);
    assert_eq!(d["users"].as_array().unwrap().len(), 1);
    assert_eq!(d["pairs"].as_array().unwrap().len(), 1);
    assert_eq!(d["overrides"]["transactions_per_month"], 0);
    assert!(
        d["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "plan.limits_overridden")
    );

    // The portal page, with the operator's session.
    let (client, cookie, csrf) = operator_session(&app, "fleet-web@platform.test").await;
    let page = |path: String| {
        let (client, cookie, app) = (&client, &cookie, &app);
        async move {
            client
                .get(app.url(&path))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let list_page = page("/admin?q=held".into()).await;
    assert!(
        list_page.contains("Held Fleet Co") && !list_page.contains("Quiet Fleet Co"),
        "{list_page}"
    );
    let app_ref = &app;
    let post = |action: &str, fields: Vec<(&str, &str)>| {
        let app = app_ref;
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let req = client
            .post(app.url(&format!("/admin/tenants/{busy_id}/billing/{action}")))
            .header("cookie", &cookie)
            .form(&form);
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let refused = post("release", vec![("reason", "")]).await;
    assert!(refused.contains("say why"), "{refused}");
    let released = post("release", vec![("reason", "paid by wire")]).await;
    assert!(
        released.contains("Holds lifted for this period."),
        "{released}"
    );
    assert!(
        released.contains("3 held events go again now."),
        "{released}"
    );
    let moved = post("plan", vec![("plan", "growth"), ("reason", "sales deal")]).await;
    assert!(moved.contains("Now on the growth plan."), "{moved}");
    let sub = app
        .call("GET", "/api/v1/subscription", Some(&busy), None, 200)
        .await;
    assert_eq!(sub["plan"], "growth");
    let audit = app
        .call("GET", "/api/v1/audit", Some(&busy), None, 200)
        .await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "plan.set"
                && a["actor_email"] == "fleet-web@platform.test"
                && a["detail"].as_str().unwrap().contains("sales deal")),
        "{audit}"
    );
    // Suspension through the API keeps its reason too.
    app.call(
        "POST",
        &format!("/api/v1/admin/tenants/{busy_id}/suspend"),
        Some(&op),
        Some(json!({"reason": "chargeback"})),
        200,
    )
    .await;
    app.call("GET", "/api/v1/pairs", Some(&busy), None, 403)
        .await;
    app.stop().await;
}
