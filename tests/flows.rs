//! A pair's flows over the API: which run, their schedules and rules, and
//! that a flow switched off does not run.

mod common;

use std::time::Duration;

use common::{TestApp, sample_order, spawn_app};
use serde_json::{Value, json};

async fn flows(app: &TestApp, token: &str, pair: &str) -> Vec<Value> {
    app.call(
        "GET",
        &format!("/api/v1/pairs/{pair}/flows"),
        Some(token),
        None,
        200,
    )
    .await
    .as_array()
    .cloned()
    .unwrap()
}

fn flow<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter().find(|f| f["flow"] == name).unwrap()
}

#[tokio::test]
async fn a_new_pair_lists_every_flow_with_orders_on() {
    let app = spawn_app().await;
    let token = app.tenant("Flows Co").await;
    for erp in ["intacct", "sagepro"] {
        let pair = app.sandbox_pair(&token, erp).await;
        let all = flows(&app, &token, &pair).await;
        let names: Vec<&str> = all.iter().map(|f| f["flow"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "orders",
                "customers",
                "products",
                "inventory",
                "shipments",
                "payments",
                "returns",
                "invoices"
            ]
        );
        for f in &all {
            let name = f["flow"].as_str().unwrap();
            assert_eq!(
                f["enabled"],
                name == "orders",
                "{erp} {name} starts {}",
                f["enabled"]
            );
            assert!(
                f["description"].as_str().is_some_and(|d| d.ends_with('.')),
                "{f}"
            );
            assert_eq!(f["counts_24h"], json!({"succeeded": 0, "failed": 0}));
            if f["available"] == false {
                assert!(f["reason"].as_str().is_some_and(|r| !r.is_empty()), "{f}");
            }
        }
        let orders = flow(&all, "orders");
        assert_eq!(orders["available"], true);
        assert_eq!(orders["trigger"], "webhook");
        assert_eq!(flow(&all, "inventory")["trigger"], "poll");
        assert_eq!(flow(&all, "inventory")["interval_s"], 300);
        assert_eq!(flow(&all, "customers")["conflict_rule"], "erp_wins");
    }
    app.stop().await;
}

#[tokio::test]
async fn payments_cannot_be_turned_on_for_sage_pro_and_bad_settings_name_the_field() {
    let app = spawn_app().await;
    let token = app.tenant("Rules Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let payments = flow(&flows(&app, &token, &pair).await, "payments").clone();
    assert_eq!(payments["available"], false);
    assert!(
        payments["reason"]
            .as_str()
            .unwrap()
            .contains("no payment endpoint"),
        "{payments}"
    );
    let put = |flow: &str, body: Value, status: u16| {
        let (app, token, pair) = (&app, &token, &pair);
        let path = format!("/api/v1/pairs/{pair}/flows/{flow}");
        async move {
            app.call("PUT", &path, Some(token), Some(body), status)
                .await
        }
    };
    let refused = put("payments", json!({"enabled": true}), 422).await;
    assert_eq!(refused["error"]["field"], "enabled");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no payment endpoint")
    );
    let e = put("inventory", json!({"interval_s": 30}), 422).await;
    assert_eq!(e["error"]["field"], "interval_s");
    let e = put("orders", json!({"interval_s": 600}), 422).await;
    assert_eq!(e["error"]["field"], "interval_s");
    let e = put("customers", json!({"conflict_rule": "loudest_wins"}), 422).await;
    assert_eq!(e["error"]["field"], "conflict_rule");
    put("shipping", json!({"enabled": true}), 404).await;
    put("orders", json!({"enabled": true, "turbo": 1}), 422).await;
    // A rule and a schedule are kept, and said back.
    let customers = put("customers", json!({"conflict_rule": "newest_wins"}), 200).await;
    assert_eq!(customers["conflict_rule"], "newest_wins");
    let inventory = put("inventory", json!({"interval_s": 120}), 200).await;
    assert_eq!(inventory["interval_s"], 120);
    let all = flows(&app, &token, &pair).await;
    assert_eq!(flow(&all, "customers")["conflict_rule"], "newest_wins");
    assert_eq!(flow(&all, "inventory")["interval_s"], 120);
    assert_eq!(flow(&all, "inventory")["enabled"], false);
    // Each change is in the tenant's audit log.
    let audit = app
        .call("GET", "/api/v1/audit", Some(&token), None, 200)
        .await;
    let changes = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "flow.updated")
        .count();
    assert_eq!(changes, 2, "{audit}");
    app.stop().await;
}

#[tokio::test]
async fn orders_switched_off_do_not_run_and_run_again_when_on() {
    let app = spawn_app().await;
    let token = app.tenant("Switch Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let off = app
        .call(
            "PUT",
            &format!("/api/v1/pairs/{pair}/flows/orders"),
            Some(&token),
            Some(json!({"enabled": false})),
            200,
        )
        .await;
    assert_eq!(off["enabled"], false);
    let order = |id: &str| sample_order(id, "USD", &[("SKU-1001", "Classic Widget", 1, "12.50")]);
    app.deliver_order(&token, &pair, &order("CO-OFF-1")).await;
    // The event is taken and set aside: no run, nothing in the ERP.
    app.eventually("the event is handled", Duration::from_secs(30), || async {
        let p = app
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair}"),
                Some(&token),
                None,
                200,
            )
            .await;
        p["health"]["backlog"] == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs, json!([]), "a flow that is off does not run");
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/flows/orders"),
        Some(&token),
        Some(json!({"enabled": true})),
        200,
    )
    .await;
    app.deliver_order(&token, &pair, &order("CO-ON-1")).await;
    let run = app.run_of(&token, &pair, "CO-ON-1", "succeeded").await;
    assert_eq!(run["flow"], "orders");
    let runs = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/runs"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    app.stop().await;
}
