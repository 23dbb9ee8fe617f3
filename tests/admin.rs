//! The operators' portal: every tenant with plan and usage; suspend and resume.

mod common;

use std::process::{Command, Stdio};

use serde_json::json;

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

    // Operators sign in to the portal with a session, not to tenant APIs.
    app.call(
        "POST",
        "/api/v1/auth/token",
        None,
        Some(json!({"email": "op@platform.test", "password": common::PASSWORD})),
        403,
    )
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

    // The web form does the same for resume.
    let r = client
        .post(app.url(&format!("/admin/tenants/{id}/resume")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
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
