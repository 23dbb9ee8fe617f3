//! Every route × every role. Each API route (read from the served OpenAPI
//! document) and each page route (from the router's table) must have an
//! entry in [`need`], or the test fails: a new route cannot slip past it.
//! For each role, a user of a fresh tenant sends every route at that
//! tenant's own records; a route above the role answers 403 `forbidden`,
//! and one within it never does (a refusal by the plan, `plan_limit`, is
//! not a role refusal). Isolation between tenants is tests/isolation.rs.

mod common;

use common::{PASSWORD, TestApp, WebSession};
use connect::web::{Access, page_routes};
use serde_json::{Value, json};

/// The least role a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Read,
    Operate,
    Manage,
    Own,
}

const ROLES: [(&str, Need); 4] = [
    ("read_only", Need::Read),
    ("member", Need::Operate),
    ("admin", Need::Manage),
    ("owner", Need::Own),
];

/// `None`: not a tenant route (public, or operators only).
fn need(method: &str, path: &str) -> Option<Option<Need>> {
    use Need::*;
    let n = match (method, path) {
        (_, p) if p.starts_with("/api/v1/admin/") || p.starts_with("/admin") => return Some(None),
        ("post", "/api/v1/signup" | "/api/v1/auth/token" | "/api/v1/invites/accept")
        | ("post", "/api/v1/auth/password-reset" | "/api/v1/auth/password-reset/confirm") => {
            return Some(None);
        }
        ("get", _) => Read,
        // Reads sent as POST, and the caller's own account.
        ("post", p) if p.ends_with("/preview") || p.ends_with("/check") => Read,
        ("put", "/api/v1/me/password") | ("post", "/api/v1/me/sessions/revoke") => Read,
        ("post", "/account/password" | "/account/sessions" | "/logout") => Read,
        ("put", "/api/v1/plan") | ("post", "/usage/plan") => Own,
        ("post", p)
            if p.ends_with("/activate")
                || p.ends_with("/pause")
                || p.ends_with("/replay")
                || p.ends_with("/run")
                || p.ends_with("/backfill")
                || p.ends_with("/sandbox/orders")
                || p.ends_with("/sandbox-orders")
                || p.ends_with("/test") =>
        {
            Operate
        }
        ("put", p) if p.ends_with("/sandbox/faults") => Operate,
        // A user's own API token acts with their role.
        ("post", "/tokens") => Operate,
        // The setup wizard: its steps name the company and make pairs.
        ("post", "/welcome/skip") => Operate,
        ("post", "/welcome/{step}") => Manage,
        ("post", p) if p.contains("/sandbox-faults/") => Operate,
        ("post", p) if p.ends_with("/connections/{system}/test") => Operate,
        ("post" | "put" | "delete", p)
            if p.starts_with("/api/v1/")
                || p.starts_with("/pairs")
                || p.starts_with("/rates")
                || p.starts_with("/tokens")
                || p.starts_with("/team") =>
        {
            Manage
        }
        _ => return None,
    };
    Some(Some(n))
}

/// One tenant with a user in `role`: the user's token and browser, and the
/// tenant's records to aim at.
struct Tenant {
    token: String,
    web: WebSession,
    pair: String,
    owner_token_id: String,
    victim: String,
    invite: String,
    period: String,
}

async fn tenant(app: &TestApp, op: &str, role: &str) -> Tenant {
    let (_, owner) = app.owner(&format!("Roles {role} Co")).await;
    app.call(
        "PUT",
        "/api/v1/plan",
        Some(&owner),
        Some(json!({"plan": "growth"})),
        200,
    )
    .await;
    let pair = app.sandbox_pair(&owner, "intacct").await;
    let join = |email: String, role: &'static str| {
        let owner = owner.clone();
        async move {
            app.call(
                "POST",
                "/api/v1/users/invites",
                Some(&owner),
                Some(json!({"email": email, "role": role})),
                201,
            )
            .await;
            let outbox = app
                .call("GET", "/api/v1/admin/outbox", Some(op), None, 200)
                .await;
            let text = outbox
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["to"] == email.as_str())
                .unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned();
            let token = text
                .split("token=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            app.call(
                "POST",
                "/api/v1/invites/accept",
                None,
                Some(json!({"token": token, "password": PASSWORD})),
                201,
            )
            .await["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (email, token) = if role == "owner" {
        let me = app.call("GET", "/api/v1/me", Some(&owner), None, 200).await;
        (me["email"].as_str().unwrap().to_owned(), owner.clone())
    } else {
        let email = format!("{role}-{tag}@roles.test");
        let role: &'static str = ROLES.iter().find(|(r, _)| *r == role).unwrap().0;
        (email.clone(), join(email, role).await)
    };
    let victim_token = join(format!("victim-{tag}@roles.test"), "member").await;
    let victim = app
        .call("GET", "/api/v1/me", Some(&victim_token), None, 200)
        .await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = app
        .call(
            "POST",
            "/api/v1/users/invites",
            Some(&owner),
            Some(json!({"email": format!("later-{tag}@roles.test"), "role": "member"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A spare token of the owner's, for the revoke routes to aim at.
    let owner_email = app.call("GET", "/api/v1/me", Some(&owner), None, 200).await["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner_token_id = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": owner_email, "password": PASSWORD, "name": "spare"})),
            200,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let period = app
        .call("GET", "/api/v1/usage", Some(&owner), None, 200)
        .await["period"]
        .as_str()
        .unwrap()
        .to_owned();
    Tenant {
        web: WebSession::sign_in(app, &email).await,
        token,
        pair,
        owner_token_id,
        victim,
        invite,
        period,
    }
}

fn url(path: &str, t: &Tenant) -> String {
    path.replace("{id}/invites/{invite_id}", "x")
        .replace(
            "/users/invites/{id}",
            &format!("/users/invites/{}", t.invite),
        )
        .replace("/team/invites/{id}", &format!("/team/invites/{}", t.invite))
        .replace("/users/{id}", &format!("/users/{}", t.victim))
        .replace("/tokens/{id}", &format!("/tokens/{}", t.owner_token_id))
        .replace("{id}", &t.pair)
        .replace("{flow}", "orders")
        .replace("{system}", "clarity")
        .replace("{dl_id}", "dl_none")
        .replace("{dl}", "dl_none")
        .replace("{version}", "1")
        .replace("{table}", "payment_terms")
        .replace("{index}", "0")
        .replace("{decision}", "accept")
        .replace("{period}", &t.period)
        .replace("{step}", "company")
        .replace("{action}", "withdraw")
        .replace("{from}/{to}/{date}", "EUR/USD/2024-01-01")
}

/// A body that passes validation where the route takes one, so that a role
/// refusal is not hidden behind a 422.
fn body(method: &str, path: &str) -> Option<Value> {
    Some(match (method, path) {
        ("post", "/api/v1/pairs") => {
            json!({"name": "another", "erp": "sagepro", "environment": "sandbox"})
        }
        ("put", "/api/v1/plan") => json!({"plan": "growth"}),
        ("post", "/api/v1/users/invites") => json!({"email": "new@roles.test", "role": "member"}),
        ("put", "/api/v1/users/{id}") => json!({"role": "read_only"}),
        ("put", p) if p.ends_with("/flows/{flow}") => json!({"enabled": true}),
        ("post", p) if p.ends_with("/backfill") => json!({"since": "2026-01-01"}),
        ("post", p) if p.ends_with("/sandbox/orders") => json!({"count": 1}),
        ("put", p) if p.ends_with("/sandbox/faults") => {
            json!({"system": "intacct", "error_rate": 0.0})
        }
        ("put", "/api/v1/currency-rates") => {
            json!({"rates": [{"from": "EUR", "to": "USD", "date": "2024-06-01", "rate": "1.1"}]})
        }
        ("put", p) if p.ends_with("/connections/{system}") => {
            json!({"base_url": "builtin", "credentials": {}})
        }
        ("post", p) if p.ends_with("/preview") => json!({"sample": 1}),
        ("post", p) if p.ends_with("/check") => json!({"rule": {"target": "x", "value": 1}}),
        ("post", p) if p.ends_with("/builtin") => json!({"variant": "default"}),
        (_, p) if p.contains("/suggestions/") => {
            json!({"target": "CUSTOMERID", "source": "customerId"})
        }
        ("put", p) if p.contains("/lookups/") => json!({"Net 30": "N30"}),
        _ => return None,
    })
}

/// Routes that end the caller's sessions (a new password, signing out
/// everywhere): every role may use them, and tests/team.rs does.
const SIGNS_OUT: [&str; 4] = [
    "/api/v1/me/password",
    "/api/v1/me/sessions/revoke",
    "/account/password",
    "/account/sessions",
];

/// File-upload forms (multipart): they call the same domain functions as
/// the API routes checked above (lookups, currency rates), which hold the rule.
const UPLOADS: [&str; 3] = [
    "/pairs/{id}/templates/{flow}/lookups",
    "/pairs/{id}/templates/{flow}/lookups/{table}/csv",
    "/rates/import",
];

fn refused_for_role(status: u16, body: &str) -> bool {
    status == 403 && !body.contains("plan_limit") && !body.contains("includes")
}

#[tokio::test]
async fn every_route_refuses_the_roles_below_it_and_no_role_within_it() {
    let app = common::spawn_app().await;
    let op = app.operator("roles-op@platform.test").await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None, 200)
        .await;
    let mut api: Vec<(String, String, Need)> = Vec::new();
    let mut missing = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            match need(method, path) {
                None => missing.push(format!("{} {path}", method.to_uppercase())),
                Some(None) => {}
                Some(Some(n)) => api.push((method.clone(), path.clone(), n)),
            }
        }
    }
    let mut pages: Vec<(String, String, Need)> = Vec::new();
    for r in page_routes() {
        if r.access != Access::Tenant {
            continue;
        }
        match need(&r.method.to_lowercase(), r.path) {
            None => missing.push(format!("page {} {}", r.method, r.path)),
            Some(None) => {}
            Some(Some(n)) => pages.push((r.method.to_lowercase(), r.path.to_owned(), n)),
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a role rule: {missing:?}"
    );
    // Reads first, and within each kind the ones that remove things last.
    let order = |m: &str, p: &str| (m != "get", m == "delete" || p.ends_with("/remove"));
    api.sort_by_key(|(m, p, _)| order(m, p));
    pages.sort_by_key(|(m, p, _)| order(m, p));

    let mut wrong = Vec::new();
    for (role, level) in ROLES {
        let t = tenant(&app, &op, role).await;
        for (method, path, need) in &api {
            if SIGNS_OUT.contains(&path.as_str()) {
                continue;
            }
            let target = url(path, &t);
            let mut req = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&target))
                .bearer_auth(&t.token);
            let body = if method == "put" && path == "/api/v1/pairs/{id}/templates/{flow}" {
                // The template as it stands: valid, so only the role can refuse it.
                Some(app.call("GET", &target, Some(&t.token), None, 200).await["document"].clone())
            } else {
                body(method, path)
            };
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let refused = refused_for_role(status, &text);
            if refused != (level < *need) {
                wrong.push(format!(
                    "{role}: {} {target} → {status} {text:.160}",
                    method.to_uppercase()
                ));
            }
        }
        for (method, path, need) in &pages {
            if SIGNS_OUT.contains(&path.as_str()) || UPLOADS.contains(&path.as_str()) {
                continue;
            }
            let target = url(path, &t);
            let (status, text) = if method == "get" {
                t.web.get(&app, &target).await
            } else {
                t.web
                    .post(
                        &app,
                        &target,
                        &[
                            ("name", "x"),
                            ("erp", "sagepro"),
                            ("environment", "sandbox"),
                            ("plan", "growth"),
                            ("role", "member"),
                            ("email", "p@roles.test"),
                        ],
                    )
                    .await
            };
            let refused = refused_for_role(status, &text);
            if refused != (level < *need) {
                wrong.push(format!(
                    "{role}: page {} {target} → {status}",
                    method.to_uppercase()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "role rules broken:\n{}", wrong.join("\n"));
    app.stop().await;
}
