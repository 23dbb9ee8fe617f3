//! The mapping pipeline in the worker, end to end over real HTTP on sandbox
//! pairs of both ERPs: signed `order.created` webhooks in, and then
//! - a SKU with a typo is matched to the catalog item, written, and flagged
//!   on the run;
//! - an unknown SKU dead-letters with every issue (field, value, rule,
//!   message, the closest items as the suggestion); adding it to the
//!   template's `skus` table and replaying writes exactly one ERP record,
//!   and the run records the new template version;
//! - a foreign-currency order with no rate dead-letters naming `currency`;
//! - orders routed to another Intacct entity reuse one session for it;
//! - the flags and issues show in the API and on the pair's page.

mod common;

use common::{TestApp, WebSession, sample_order as order, spawn_app};
use serde_json::{Value, json};

/// A page as the signed-in owner sees it.
async fn page(app: &TestApp, email: &str, path: &str) -> String {
    let (status, body) = WebSession::sign_in(app, email).await.get(app, path).await;
    assert_eq!(status, 200, "{path}");
    body
}

async fn dead_letters(app: &TestApp, token: &str, pair: &str) -> Vec<Value> {
    app.call(
        "GET",
        &format!("/api/v1/pairs/{pair}/dead-letters"),
        Some(token),
        None,
        200,
    )
    .await
    .as_array()
    .cloned()
    .unwrap()
}

/// The ERP records that came from a Clarity order.
async fn erp_records(app: &TestApp, token: &str, pair: &str, source: &str) -> Vec<Value> {
    let all = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders"),
            Some(token),
            None,
            200,
        )
        .await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|o| o.to_string().contains(&format!("\"{source}\"")))
        .cloned()
        .collect()
}

async fn unknown_skus_dead_letter_and_replay_after_the_fix(erp: &str) {
    let app = spawn_app().await;
    let (email, token) = app.owner("Mapping Co").await;
    let pair = app.sandbox_pair(&token, erp).await;

    // A typo of SKU-1001 ("Classic Widget" in the sandbox catalog): used, flagged.
    app.deliver_order(
        &token,
        &pair,
        &order(
            "CO-900001",
            "USD",
            &[("SKU-1O01", "Classic Widget", 2, "12.50")],
        ),
    )
    .await;
    let run = app.run_of(&token, &pair, "CO-900001", "succeeded").await;
    let flags = run["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{run}");
    assert_eq!(flags[0]["kind"], "fuzzy_sku");
    assert_eq!(flags[0]["field"], "lineItems[0].sku");
    assert!(
        flags[0]["message"].as_str().unwrap().contains("`SKU-1001`"),
        "{run}"
    );
    let written = erp_records(&app, &token, &pair, "CO-900001").await;
    assert_eq!(written.len(), 1);
    assert!(
        written[0].to_string().contains("SKU-1001"),
        "{}",
        written[0]
    );
    assert!(
        !written[0].to_string().contains("SKU-1O01"),
        "{}",
        written[0]
    );

    // Nothing like ZZ-404 in the catalog: a dead letter with every detail.
    app.deliver_order(
        &token,
        &pair,
        &order(
            "CO-900002",
            "USD",
            &[
                ("SKU-1002", "Classic Lantern", 1, "9.99"),
                ("ZZ-404", "Classic Widget", 1, "5.00"),
            ],
        ),
    )
    .await;
    let dead = app.run_of(&token, &pair, "CO-900002", "dead").await;
    let before = dead["template_version"].as_i64().unwrap();
    assert_eq!(dead["error_field"], "lineItems[1].sku", "{dead}");
    let letters = dead_letters(&app, &token, &pair).await;
    let letter = letters
        .iter()
        .find(|d| d["source_id"] == "CO-900002")
        .expect("a dead letter");
    let details = letter["details"].as_array().unwrap();
    let sku = details
        .iter()
        .find(|i| i["field"] == "lineItems[1].sku")
        .expect("the SKU issue");
    assert_eq!(sku["record"], "CO-900002");
    assert_eq!(sku["value"], "ZZ-404");
    assert_eq!(sku["rule"], "reference");
    let suggestion = sku["suggestion"].as_str().unwrap();
    assert!(suggestion.starts_with("did you mean `SKU-"), "{suggestion}");
    assert_eq!(
        suggestion.matches("`SKU-").count(),
        3,
        "three candidates: {suggestion}"
    );
    assert!(
        erp_records(&app, &token, &pair, "CO-900002")
            .await
            .is_empty(),
        "nothing written"
    );

    // The page shows the issue and its fix next to the dead letter, and the flag on the run.
    let html = page(&app, &email, &format!("/pairs/{pair}")).await;
    assert!(
        html.contains("<code>lineItems[1].sku</code> (reference)"),
        "the page lists the issue"
    );
    assert!(
        html.contains("did you mean `SKU-"),
        "the page shows the suggested fix"
    );
    assert!(
        html.contains("Flagged fuzzy_sku"),
        "the page lists the flag"
    );

    // The fix: map ZZ-404 in the template's skus table, then replay.
    let mut doc = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/templates/orders"),
            Some(&token),
            None,
            200,
        )
        .await["document"]
        .clone();
    doc["lookups"]["skus"]["ZZ-404"] = json!("SKU-1001");
    let saved = app
        .call(
            "PUT",
            &format!("/api/v1/pairs/{pair}/templates/orders"),
            Some(&token),
            Some(doc.clone()),
            200,
        )
        .await;
    let after = saved["version"].as_i64().unwrap();
    assert!(after > before);
    app.call(
        "POST",
        &format!(
            "/api/v1/pairs/{pair}/dead-letters/{}/replay",
            letter["id"].as_str().unwrap()
        ),
        Some(&token),
        None,
        202,
    )
    .await;
    let done = app.run_of(&token, &pair, "CO-900002", "succeeded").await;
    assert_eq!(done["template_version"].as_i64(), Some(after), "{done}");
    assert!(done["flags"].as_array().unwrap().is_empty(), "{done}");
    let written = erp_records(&app, &token, &pair, "CO-900002").await;
    assert_eq!(written.len(), 1, "exactly one ERP record after the replay");

    // A bad conversion is refused when saved, naming the key.
    doc["conversions"]["sku"]["treshold"] = json!(0.5);
    let refused = app
        .call(
            "PUT",
            &format!("/api/v1/pairs/{pair}/templates/orders"),
            Some(&token),
            Some(doc),
            422,
        )
        .await;
    assert_eq!(
        refused["error"]["field"], "conversions.sku.treshold",
        "{refused}"
    );

    // A EUR order and no EUR rate: refused naming the currency, never guessed.
    app.deliver_order(
        &token,
        &pair,
        &order(
            "CO-900003",
            "EUR",
            &[("SKU-1002", "Classic Lantern", 1, "9.99")],
        ),
    )
    .await;
    let dead = app.run_of(&token, &pair, "CO-900003", "dead").await;
    assert_eq!(dead["error_field"], "currency", "{dead}");
    let letters = dead_letters(&app, &token, &pair).await;
    let letter = letters
        .iter()
        .find(|d| d["source_id"] == "CO-900003")
        .unwrap();
    let issue = &letter["details"][0];
    assert_eq!(
        (issue["field"].as_str(), issue["rule"].as_str()),
        (Some("currency"), Some("reference"))
    );
    assert_eq!(issue["value"], "EUR");
    assert!(
        issue["message"].as_str().unwrap().contains("EUR→USD"),
        "{issue}"
    );
    assert!(
        erp_records(&app, &token, &pair, "CO-900003")
            .await
            .is_empty()
    );

    // The preview gives the same answer as the worker, flags included.
    let preview = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/templates/orders/preview"),
            Some(&token),
            Some(json!({"records": [order("CO-900004", "USD", &[("SKU-1O01", "Classic Widget", 1, "12.50")])]})),
            200,
        )
        .await;
    let result = &preview["results"][0];
    assert!(result["errors"].as_array().unwrap().is_empty(), "{result}");
    assert_eq!(result["flags"][0]["kind"], "fuzzy_sku", "{result}");

    // The contract documents both.
    let spec = app
        .call("GET", "/api/v1/openapi.json", None, None, 200)
        .await;
    let schemas = &spec["components"]["schemas"];
    assert!(
        schemas["Run"]["properties"]["flags"].is_object(),
        "Run.flags"
    );
    assert!(
        schemas["DeadLetter"]["properties"]["details"].is_object(),
        "DeadLetter.details"
    );
    assert!(
        schemas["IssueDetail"]["properties"]["suggestion"].is_object(),
        "IssueDetail"
    );
    assert!(
        schemas["RunFlag"]["properties"]["kind"].is_object(),
        "RunFlag"
    );
    app.stop().await;
}

#[tokio::test]
async fn intacct_unknown_skus_dead_letter_and_replay_after_the_fix() {
    unknown_skus_dead_letter_and_replay_after_the_fix("intacct").await;
}

#[tokio::test]
async fn sagepro_unknown_skus_dead_letter_and_replay_after_the_fix() {
    unknown_skus_dead_letter_and_replay_after_the_fix("sagepro").await;
}

/// A Sage Pro orders template whose record is `Invoice` (the pre-built
/// invoice variant) writes invoices, not sales orders, and its `_route`
/// (the company) is not sent.
#[tokio::test]
async fn a_sagepro_invoice_template_creates_invoices() {
    let app = spawn_app().await;
    let (_, token) = app.owner("Mapping Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let invoice = connect_jobs::mapping::builtin_variants("orders", "sagepro")
        .iter()
        .find(|v| v.variant == "invoice")
        .expect("an invoice variant");
    let doc: Value = serde_json::from_str(invoice.document).unwrap();
    assert_eq!(doc["record"], "Invoice");
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/templates/orders"),
        Some(&token),
        Some(doc),
        200,
    )
    .await;
    app.deliver_order(
        &token,
        &pair,
        &order(
            "CO-900010",
            "USD",
            &[("SKU-1002", "Classic Lantern", 2, "9.99")],
        ),
    )
    .await;
    let run = app.run_of(&token, &pair, "CO-900010", "succeeded").await;
    let target = run["target_id"].as_str().unwrap().to_owned();
    let invoices: Vec<(String, String)> =
        sqlx::query_as("SELECT invoice_no, body FROM sim_sagepro_invoices WHERE pair_id = $1")
            .bind(&pair)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    assert_eq!(invoices[0].0, target);
    assert!(invoices[0].1.contains("CO-900010"), "{}", invoices[0].1);
    assert!(!invoices[0].1.contains("_route"), "{}", invoices[0].1);
    assert!(
        erp_records(&app, &token, &pair, "CO-900010")
            .await
            .is_empty(),
        "no sales order"
    );
    app.stop().await;
}

/// Orders routed to another Intacct entity (`_route.entity`) go through one
/// client per entity, kept with the pair's: the second order reuses the
/// entity-level session the first one opened.
#[tokio::test]
async fn orders_routed_to_the_same_intacct_entity_share_one_session() {
    let app = spawn_app().await;
    let (_, token) = app.owner("Mapping Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let path = format!("/api/v1/pairs/{pair}/templates/orders");
    let mut doc = app.call("GET", &path, Some(&token), None, 200).await["document"].clone();
    doc["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"target": "_route.entity", "value": "US-WEST"}));
    app.call("PUT", &path, Some(&token), Some(doc), 200).await;

    for id in ["CO-900020", "CO-900021"] {
        app.deliver_order(
            &token,
            &pair,
            &order(id, "USD", &[("SKU-1002", "Classic Lantern", 1, "9.99")]),
        )
        .await;
        app.run_of(&token, &pair, id, "succeeded").await;
    }
    let (sessions,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sim_intacct_sessions WHERE pair_id = $1 AND location_id = 'US-WEST'",
    )
    .bind(&pair)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(sessions, 1, "one US-WEST session for both orders");
    app.stop().await;
}

/// The sync engine keeps each tenant's recent orders in memory; two engines
/// (two worker processes, in effect: each has its own caches) on one
/// database must still see each other's orders. Engine B loads the window,
/// engine A records an order, and B then checks an order with the same
/// content: B must read the window again (the tenant's history revision
/// moved) and flag the duplicate.
#[tokio::test]
async fn two_engines_see_each_others_orders_in_the_anomaly_window() {
    let (env, dir) = common::fresh_env(&[]).await;
    let app = common::start_as(env, dir, connect::startup::Role::Web).await;
    let (_, token) = app.owner("Window Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let a = connect::sync::Engine::new(app.state.clone());
    let b = connect::sync::Engine::new(app.state.clone());
    let inbox_id = |order_id: &'static str| {
        let db = app.state.db.clone();
        async move {
            let (id,): (String,) = sqlx::query_as("SELECT id FROM inbox WHERE event_id = $1")
                .bind(format!("evt_{order_id}"))
                .fetch_one(db.pool())
                .await
                .unwrap();
            id
        }
    };
    let lines = [("SKU-1001", "Classic Widget", 3, "12.50")];
    let other = [("SKU-1002", "Deluxe Widget", 1, "40.00")];

    app.deliver_order(&token, &pair, &order("CO-710001", "USD", &other))
        .await;
    b.handle(&inbox_id("CO-710001").await).await;
    app.deliver_order(&token, &pair, &order("CO-710002", "USD", &lines))
        .await;
    a.handle(&inbox_id("CO-710002").await).await;
    app.deliver_order(&token, &pair, &order("CO-710003", "USD", &lines))
        .await;
    b.handle(&inbox_id("CO-710003").await).await;

    let first = app.run_of(&token, &pair, "CO-710002", "succeeded").await;
    assert!(first["flags"].as_array().unwrap().is_empty(), "{first}");
    let run = app.run_of(&token, &pair, "CO-710003", "succeeded").await;
    let flags = run["flags"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f["kind"] == "anomaly:duplicate_content"
                && f["message"].as_str().unwrap().contains("CO-710002")),
        "engine B did not see engine A's order: {run}"
    );
    app.stop().await;
}
