//! Plans are enforced: pairs at creation, the API's requests a minute, and
//! transactions above the plan's ceiling held (never dropped) until the hold
//! is lifted. Subscriptions change only through the owner's and operators'
//! actions, each audited.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::{TestApp, spawn_app};

async fn pair(app: &TestApp, token: &str, name: &str, env: &str, expect: u16) -> Value {
    app.call(
        "POST",
        "/api/v1/pairs",
        Some(token),
        Some(json!({"name": name, "erp": "intacct", "environment": env})),
        expect,
    )
    .await
}

async fn tenant_id(app: &TestApp, token: &str) -> String {
    let me = app.call("GET", "/api/v1/me", Some(token), None, 200).await;
    me["tenant_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_trial_refuses_production_and_its_fourth_sandbox_pair_with_the_plans_words() {
    let app = spawn_app().await;
    let token = app.tenant("Trial Co").await;
    let e = pair(&app, &token, "Live", "production", 403).await;
    assert_eq!(
        e["error"],
        json!({"code": "plan_limit", "field": "environment",
               "message": "Your Trial plan includes 0 production pairs. Upgrade to Connect to go live."})
    );
    for i in 0..3 {
        pair(&app, &token, &format!("Sandbox {i}"), "sandbox", 201).await;
    }
    let e = pair(&app, &token, "Sandbox 3", "sandbox", 403).await;
    assert_eq!(e["error"]["code"], "plan_limit");
    assert_eq!(e["error"]["field"], "environment");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Your Trial plan includes 3 sandbox pairs."),
        "{e}"
    );
    let pairs = app
        .call("GET", "/api/v1/pairs", Some(&token), None, 200)
        .await;
    assert_eq!(
        pairs.as_array().unwrap().len(),
        3,
        "nothing made by a refusal"
    );

    let usage = app
        .call("GET", "/api/v1/usage", Some(&token), None, 200)
        .await;
    assert_eq!(usage["limits"]["production_pairs"], 0);
    assert_eq!(usage["limits"]["sandbox_pairs"], 3);
    assert!(usage["limits"]["api_requests_per_minute"].as_i64().unwrap() >= 600);
    assert_eq!(usage["held"], json!({"count": 0, "oldest_at": null}));
    let sub = app
        .call("GET", "/api/v1/subscription", Some(&token), None, 200)
        .await;
    assert_eq!(sub["plan"], "trial");
    assert_eq!(sub["status"], "trialing");
    let trial_ends = sub["trial_ends_at"].as_i64().unwrap();
    assert_eq!(usage["trial_ends_at"], trial_ends);
    let fourteen_days = 14 * 86_400_000;
    let now = connect::db::now_ms();
    assert!((trial_ends - now - fourteen_days).abs() < 60_000, "{sub}");
    app.stop().await;
}

#[tokio::test]
async fn an_owner_upgrades_at_once_and_a_downgrade_waits_for_the_period_and_must_fit() {
    let app = spawn_app().await;
    let token = app.tenant("Growing Co").await;
    let sub = app
        .call(
            "PUT",
            "/api/v1/plan",
            Some(&token),
            Some(json!({"plan": "growth"})),
            200,
        )
        .await;
    assert_eq!(sub["plan"], "growth");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["interval"], "annual");
    assert_eq!(sub["pending_change"], Value::Null);
    pair(&app, &token, "Live 1", "production", 201).await;
    pair(&app, &token, "Live 2", "production", 201).await;

    // Two production pairs do not fit Connect's one: refused, with the reason.
    let e = app
        .call(
            "PUT",
            "/api/v1/plan",
            Some(&token),
            Some(json!({"plan": "connect"})),
            403,
        )
        .await;
    assert_eq!(e["error"]["code"], "plan_limit");
    assert_eq!(e["error"]["field"], "plan");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("You have 2 production pairs; the Connect plan includes 1."),
        "{e}"
    );
    let e = app
        .call(
            "PUT",
            "/api/v1/plan",
            Some(&token),
            Some(json!({"plan": "platinum"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "plan");

    // One that fits waits for the end of the period.
    let other = app.tenant("Shrinking Co").await;
    app.call(
        "PUT",
        "/api/v1/plan",
        Some(&other),
        Some(json!({"plan": "growth"})),
        200,
    )
    .await;
    let sub = app
        .call(
            "PUT",
            "/api/v1/plan",
            Some(&other),
            Some(json!({"plan": "connect"})),
            200,
        )
        .await;
    assert_eq!(sub["plan"], "growth", "still Growth until the period ends");
    assert_eq!(sub["pending_change"]["plan"], "connect");
    assert_eq!(sub["pending_change"]["at"], sub["period_end"]);
    let audit = app
        .call("GET", "/api/v1/audit", Some(&other), None, 200)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"plan.upgraded"), "{actions:?}");
    assert!(actions.contains(&"plan.downgrade_scheduled"), "{actions:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_api_answers_429_with_retry_after_past_the_tenants_requests_a_minute() {
    let app = spawn_app().await;
    let token = app.tenant("Chatty Co").await;
    let quiet = app.tenant("Quiet Co").await;
    let id = tenant_id(&app, &token).await;
    let op = app.operator("quota-op@platform.test").await;
    let e = app
        .call(
            "PUT",
            &format!("/api/v1/admin/tenants/{id}/limits"),
            Some(&op),
            Some(json!({"api_requests_per_minute": 5})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "reason", "{e}");
    let limits = app
        .call(
            "PUT",
            &format!("/api/v1/admin/tenants/{id}/limits"),
            Some(&op),
            Some(json!({"api_requests_per_minute": 5, "reason": "abuse test"})),
            200,
        )
        .await;
    assert_eq!(limits["limits"]["api_requests_per_minute"], 5);

    let client = reqwest::Client::new();
    let get = |token: String| {
        let (client, url) = (client.clone(), app.url("/api/v1/pairs"));
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let mut remaining = Vec::new();
    let mut refused = None;
    for _ in 0..8 {
        let r = get(token.clone()).await;
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "5");
        remaining.push(
            r.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    // Counted from the tenant's first request in this minute (`/me` above).
    if let Some(r) = refused {
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("5 API requests a minute")
        );
        assert!(
            remaining.windows(2).all(|w| w[1] + 1 == w[0]),
            "{remaining:?}"
        );
        assert_eq!(remaining.last(), Some(&0), "{remaining:?}");
    } else {
        panic!("8 requests against a limit of 5 were never refused: {remaining:?}");
    }
    // Another tenant is not charged for it.
    assert_eq!(get(quiet).await.status(), 200);
    app.stop().await;
}

/// Orders above the plan's ceiling are acknowledged and held, none reach the
/// ERP; lifting the hold delivers every one exactly once.
#[tokio::test]
async fn orders_over_the_ceiling_are_held_then_delivered_once_when_the_hold_is_lifted() {
    let app = spawn_app().await;
    let token = app.tenant("Busy Co").await;
    let id = tenant_id(&app, &token).await;
    let op = app.operator("holds-op@platform.test").await;
    let pair_id = app.sandbox_pair(&token, "intacct").await;
    // A ceiling of 0 transactions this period: every order is over it.
    app.call(
        "PUT",
        &format!("/api/v1/admin/tenants/{id}/limits"),
        Some(&op),
        Some(json!({"transactions_per_month": 0, "reason": "deferral test"})),
        200,
    )
    .await;
    const N: usize = 200;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair_id}/sandbox/orders"),
        Some(&token),
        Some(json!({"count": N})),
        202,
    )
    .await;
    app.eventually("every order held", Duration::from_secs(120), || async {
        let u = app
            .call("GET", "/api/v1/usage", Some(&token), None, 200)
            .await;
        u["held"]["count"] == N
    })
    .await;
    let usage = app
        .call("GET", "/api/v1/usage", Some(&token), None, 200)
        .await;
    assert!(usage["held"]["oldest_at"].is_i64(), "{usage}");
    let erp = |pair: String| {
        let (app, token) = (&app, &token);
        async move {
            app.call(
                "GET",
                &format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders"),
                Some(token),
                None,
                200,
            )
            .await
        }
    };
    let held_erp = erp(pair_id.clone()).await;
    assert_eq!(held_erp.as_array().map_or(0, Vec::len), 0, "{held_erp}");

    let released = app
        .call(
            "POST",
            &format!("/api/v1/admin/tenants/{id}/holds/release"),
            Some(&op),
            Some(json!({"reason": "customer called; paying today"})),
            202,
        )
        .await;
    assert_eq!(released["released"], N);
    app.eventually(
        "every order in the ERP",
        Duration::from_secs(180),
        || async { erp(pair_id.clone()).await.as_array().map_or(0, Vec::len) >= N },
    )
    .await;
    let orders = erp(pair_id.clone()).await;
    let mut refs: Vec<String> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.to_string())
        .collect();
    let total = refs.len();
    refs.sort();
    refs.dedup();
    assert_eq!(total, N, "exactly {N} sales orders");
    assert_eq!(refs.len(), N, "none twice");
    let usage = app
        .call("GET", "/api/v1/usage", Some(&token), None, 200)
        .await;
    assert_eq!(usage["held"]["count"], 0);
    let audit = app
        .call("GET", "/api/v1/audit", Some(&token), None, 200)
        .await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "plan.holds_released"
                && a["detail"].as_str().unwrap().contains("customer called")),
        "{audit}"
    );
    app.stop().await;
}

#[tokio::test]
async fn raising_the_limit_releases_held_work_by_itself() {
    let app = spawn_app().await;
    let token = app.tenant("Raised Co").await;
    let id = tenant_id(&app, &token).await;
    let op = app.operator("raise-op@platform.test").await;
    let pair_id = app.sandbox_pair(&token, "intacct").await;
    let limits = |n: i64| json!({"transactions_per_month": n, "reason": "test"});
    app.call(
        "PUT",
        &format!("/api/v1/admin/tenants/{id}/limits"),
        Some(&op),
        Some(limits(0)),
        200,
    )
    .await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair_id}/sandbox/orders"),
        Some(&token),
        Some(json!({"count": 5})),
        202,
    )
    .await;
    app.eventually("the orders held", Duration::from_secs(60), || async {
        let u = app
            .call("GET", "/api/v1/usage", Some(&token), None, 200)
            .await;
        u["held"]["count"] == 5
    })
    .await;
    app.call(
        "PUT",
        &format!("/api/v1/admin/tenants/{id}/limits"),
        Some(&op),
        Some(limits(1000)),
        200,
    )
    .await;
    app.eventually("the orders written", Duration::from_secs(60), || async {
        let runs = app
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair_id}/runs?status=succeeded"),
                Some(&token),
                None,
                200,
            )
            .await;
        runs.as_array().unwrap().len() == 5
    })
    .await;
    let e = app
        .call(
            "PUT",
            &format!("/api/v1/admin/tenants/{id}/plan"),
            Some(&op),
            Some(json!({"plan": "connect", "reason": ""})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "reason");
    // A tenant's token does not reach the operators' routes.
    app.call(
        "PUT",
        &format!("/api/v1/admin/tenants/{id}/plan"),
        Some(&token),
        Some(json!({"plan": "enterprise", "reason": "me"})),
        403,
    )
    .await;
    let sub = app
        .call(
            "PUT",
            &format!("/api/v1/admin/tenants/{id}/plan"),
            Some(&op),
            Some(json!({"plan": "enterprise", "reason": "signed contract"})),
            200,
        )
        .await;
    assert_eq!(sub["plan"], "enterprise");
    app.stop().await;
}

/// The pages say the same as the API: the plan's words beside the refused
/// pair with the way to upgrade, the trial's countdown, the comparison table,
/// and a confirmation page before the plan changes.
#[tokio::test]
async fn the_pages_show_the_trial_refuse_with_an_upgrade_and_confirm_the_change() {
    let app = spawn_app().await;
    let (email, token) = app.owner("Paged Co").await;
    let web = common::WebSession::sign_in(&app, &email).await;
    let (status, page) = web
        .post(
            &app,
            "/pairs",
            &[
                ("name", "Live"),
                ("erp", "intacct"),
                ("environment", "production"),
            ],
        )
        .await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains(
            "Your Trial plan includes 0 production pairs. Upgrade to Connect to go live."
        ),
        "{page}"
    );
    assert!(page.contains("href=\"/usage#plans\""), "{page}");

    // The setup wizard's "connect my systems" is refused the same way.
    let (status, page) = web
        .post(
            &app,
            "/welcome/start",
            &[("choice", "connect"), ("erp", "sagepro")],
        )
        .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Upgrade to Connect to go live."), "{page}");
    assert!(page.contains("href=\"/usage#plans\""), "{page}");

    let (status, page) = web.get(&app, "/usage").await;
    assert_eq!(status, 200);
    assert!(page.contains("14 days left in your trial"), "{page}");
    assert!(page.contains("href=\"/usage/plan?to=connect\""), "{page}");

    let (status, page) = web.get(&app, "/usage/plan?to=connect").await;
    assert_eq!(status, 200);
    assert!(page.contains("takes effect at once"), "{page}");
    assert!(page.contains("$599/month"), "{page}");
    let (status, _) = web.post(&app, "/usage/plan", &[("plan", "connect")]).await;
    assert_eq!(status, 303);
    let sub = app
        .call("GET", "/api/v1/subscription", Some(&token), None, 200)
        .await;
    assert_eq!(sub["plan"], "connect");
    let (_, page) = web.get(&app, "/usage").await;
    assert!(page.contains("(your plan)"), "{page}");
    assert!(!page.contains("left in your trial"), "{page}");
    app.stop().await;
}

/// At 80 % and 100 % of the plan's transactions the owner hears of it once
/// (mail, audit row), work up to the ceiling runs, and the rest waits.
#[tokio::test]
async fn the_owner_is_warned_once_at_80_and_100_percent_and_work_past_the_ceiling_waits() {
    let (env, dir) = common::fresh_env(&[("CONNECT_PLANS_MS", "300")]).await;
    let app = common::start(env, dir).await;
    let (email, token) = app.owner("Warned Co").await;
    let id = tenant_id(&app, &token).await;
    let op = app.operator("warn-op@platform.test").await;
    let pair_id = app.sandbox_pair(&token, "intacct").await;
    app.call(
        "PUT",
        &format!("/api/v1/admin/tenants/{id}/limits"),
        Some(&op),
        Some(json!({"transactions_per_month": 4, "reason": "warning test"})),
        200,
    )
    .await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair_id}/sandbox/orders"),
        Some(&token),
        Some(json!({"count": 6})),
        202,
    )
    .await;
    // The plan's four are written and the rest wait. Work already running
    // counts against the ceiling, so at most a job that raced past the check
    // goes over it; every order is either written once or held, none lost.
    let started = std::time::Instant::now();
    let (written, held) = loop {
        let u = app
            .call("GET", "/api/v1/usage", Some(&token), None, 200)
            .await;
        let (t, h) = (
            u["transactions"].as_i64().unwrap(),
            u["held"]["count"].as_i64().unwrap(),
        );
        if t >= 4 && t + h == 6 {
            break (t, h);
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{u}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(held >= 1, "past the ceiling, work waits: {written} written");
    let in_erp = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair_id}/sandbox/erp/sales-orders"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(in_erp.as_array().unwrap().len() as i64, written, "{in_erp}");
    let mails = || async {
        app.call("GET", "/api/v1/admin/outbox", Some(&op), None, 200)
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["to"] == email.as_str())
            .map(|m| m["subject"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    app.eventually("both warnings mailed", Duration::from_secs(30), || async {
        mails().await.len() == 2
    })
    .await;
    let mut subjects = mails().await;
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "You've used 80 % of your plan's transactions",
            "You've used all the transactions your plan includes"
        ]
    );
    // Later passes send nothing more.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(mails().await.len(), 2);
    let audit = app
        .call("GET", "/api/v1/audit", Some(&token), None, 200)
        .await;
    let warnings = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "usage.warning")
        .count();
    assert_eq!(warnings, 2, "{audit}");
    let web = common::WebSession::sign_in(&app, &email).await;
    let (_, page) = web.get(&app, "/usage").await;
    assert!(page.contains("Nothing is lost"), "{page}");

    // The month's statement: JSON, CSV and a printable page, all the same counts.
    let usage = app
        .call("GET", "/api/v1/usage", Some(&token), None, 200)
        .await;
    let period = usage["period"].as_str().unwrap().to_owned();
    let used = usage["transactions"].as_i64().unwrap();
    let s = app
        .call(
            "GET",
            &format!("/api/v1/statements/{period}"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(s["period"], period.as_str());
    assert_eq!(s["plan"], "trial");
    assert_eq!(s["transactions"], used);
    assert_eq!(s["included_transactions"], 4);
    assert_eq!(s["overage_transactions"], used - 4);
    assert_eq!(s["total_cents"], 0, "{s}");
    assert_eq!(s["provider"], "invoice");
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/statements/{period}?format=csv")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("period,company,plan,description,quantity,amount"),
        "{csv}"
    );
    assert!(csv.trim_end().ends_with("Total,,0.00"), "{csv}");
    let e = app
        .call("GET", "/api/v1/statements/2999-01", Some(&token), None, 422)
        .await;
    assert_eq!(e["error"]["field"], "period");
    let (status, page) = web.get(&app, &format!("/usage/statements/{period}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("Usage statement {period}")),
        "{page}"
    );
    app.stop().await;
}

/// Operators add plans as data; a plan's limit on switched-on flows per
/// pair is enforced when a flow is switched on.
#[tokio::test]
async fn an_operator_adds_a_plan_and_its_flows_per_pair_limit_is_enforced() {
    let app = spawn_app().await;
    let token = app.tenant("Starter Co").await;
    let id = tenant_id(&app, &token).await;
    let op = app.operator("plans-op@platform.test").await;
    let starter = json!({"id": "starter", "name": "Starter", "price_cents": 19900,
        "billing": "per month", "interval": "monthly", "production_pairs": 1, "sandbox_pairs": 1,
        "users": 2, "flows_per_pair": 2, "transactions_per_month": 5000, "api_requests_per_minute": 600});
    let e = app
        .call(
            "POST",
            "/api/v1/admin/plans",
            Some(&op),
            Some(json!({"id": "Bad Id", "name": "x",
            "price_cents": 0, "billing": "", "interval": "monthly"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "id");
    let plan = app
        .call(
            "POST",
            "/api/v1/admin/plans",
            Some(&op),
            Some(starter.clone()),
            201,
        )
        .await;
    assert_eq!(plan["limits"]["flows_per_pair"], 2);
    app.call("POST", "/api/v1/admin/plans", Some(&op), Some(starter), 409)
        .await;
    let offered = app
        .call("GET", "/api/v1/plans", Some(&token), None, 200)
        .await;
    assert!(
        offered
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "starter")
    );
    let pair_id = app.sandbox_pair(&token, "intacct").await;
    app.call(
        "PUT",
        &format!("/api/v1/admin/tenants/{id}/plan"),
        Some(&op),
        Some(json!({"plan": "starter", "reason": "pilot customer"})),
        200,
    )
    .await;
    // Orders are on; one more fits, the third does not.
    let flow = |name: &str, expect: u16| {
        let (app, token, pair_id) = (&app, &token, &pair_id);
        let path = format!("/api/v1/pairs/{pair_id}/flows/{name}");
        async move {
            app.call(
                "PUT",
                &path,
                Some(token),
                Some(json!({"enabled": true})),
                expect,
            )
            .await
        }
    };
    flow("inventory", 200).await;
    let e = flow("products", 403).await;
    assert_eq!(e["error"]["code"], "plan_limit");
    assert_eq!(e["error"]["field"], "enabled");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Your Starter plan includes 2 flows switched on per pair."),
        "{e}"
    );
    let flows = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair_id}/flows"),
            Some(&token),
            None,
            200,
        )
        .await;
    let on: Vec<&str> = flows
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["enabled"] == true)
        .map(|f| f["flow"].as_str().unwrap())
        .collect();
    assert_eq!(on, ["orders", "inventory"]);
    app.stop().await;
}

/// When the trial ends the subscription turns past due by itself, the
/// sandbox keeps working, the data stays, and an upgrade makes it active.
#[tokio::test]
async fn a_trial_that_ends_turns_past_due_keeps_the_sandbox_running_and_an_upgrade_resumes() {
    let (env, dir) = common::fresh_env(&[("CONNECT_PLANS_MS", "200")]).await;
    let app = common::start(env, dir).await;
    let token = app.tenant("Ended Trial Co").await;
    let id = tenant_id(&app, &token).await;
    let pair_id = app.sandbox_pair(&token, "intacct").await;
    // Fourteen days pass.
    sqlx::query("UPDATE subscriptions SET trial_ends_at = $2 WHERE tenant_id = $1")
        .bind(&id)
        .bind(connect::db::now_ms() - 1_000)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.eventually("the trial ended", Duration::from_secs(20), || async {
        app.call("GET", "/api/v1/subscription", Some(&token), None, 200)
            .await["status"]
            == "past_due"
    })
    .await;
    let audit = app
        .call("GET", "/api/v1/audit", Some(&token), None, 200)
        .await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "trial.ended"),
        "{audit}"
    );
    // Sandbox pairs keep working after the trial.
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair_id}/sandbox/orders"),
        Some(&token),
        Some(json!({"count": 2})),
        202,
    )
    .await;
    app.eventually(
        "sandbox orders written",
        Duration::from_secs(60),
        || async {
            app.call(
                "GET",
                &format!("/api/v1/pairs/{pair_id}/sandbox/erp/sales-orders"),
                Some(&token),
                None,
                200,
            )
            .await
            .as_array()
            .map_or(0, Vec::len)
                == 2
        },
    )
    .await;
    let usage = app
        .call("GET", "/api/v1/usage", Some(&token), None, 200)
        .await;
    assert_eq!(usage["held"]["count"], 0, "{usage}");
    let sub = app
        .call(
            "PUT",
            "/api/v1/plan",
            Some(&token),
            Some(json!({"plan": "connect"})),
            200,
        )
        .await;
    assert_eq!(sub["status"], "active", "{sub}");
    assert_eq!(sub["plan"], "connect");
    // A live pair is allowed now.
    pair(&app, &token, "Live", "production", 201).await;
    app.stop().await;
}
