//! The mapping editor's API: versions and their diff, suggestions (ranked,
//! explained, learned from, hidden when rejected), lookup tables as JSON and
//! CSV, pre-built variants, and templates refused naming the rule.

mod common;

use common::{TestApp, WebSession};
use serde_json::{Value, json};

/// A sandbox pair with a few orders in its Clarity simulator (the samples
/// suggestions are scored over).
async fn pair_with_orders(app: &TestApp, token: &str, erp: &str) -> String {
    let pair = app.sandbox_pair(token, erp).await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/sandbox/orders"),
        Some(token),
        Some(json!({"count": 3})),
        202,
    )
    .await;
    pair
}

fn tpl(pair: &str, rest: &str) -> String {
    format!("/api/v1/pairs/{pair}/templates/orders{rest}")
}

async fn document(app: &TestApp, token: &str, pair: &str) -> Value {
    app.call("GET", &tpl(pair, ""), Some(token), None, 200)
        .await["document"]
        .clone()
}

async fn version_count(app: &TestApp, token: &str, pair: &str) -> usize {
    app.call("GET", &tpl(pair, "/versions"), Some(token), None, 200)
        .await
        .as_array()
        .unwrap()
        .len()
}

/// A PUT with a raw body (CSV) and its status and text.
async fn put_text(app: &TestApp, token: &str, path: &str, body: &str) -> (u16, String) {
    let resp = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn get_text(app: &TestApp, token: &str, path: &str) -> (u16, String, String) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (resp.status().as_u16(), kind, resp.text().await.unwrap())
}

fn rule_index(doc: &Value, target: &str) -> usize {
    doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["target"] == target)
        .unwrap_or_else(|| panic!("no rule for {target}"))
}

fn candidates<'a>(suggestions: &'a Value, target: &str) -> Vec<&'a Value> {
    suggestions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["target"] == target)
        .collect()
}

#[tokio::test]
async fn every_edit_is_a_version_that_can_be_read_diffed_and_restored() {
    let app = common::spawn_app().await;
    let token = app.tenant("Versions Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let v1 = document(&app, &token, &pair).await;

    let mut v2 = v1.clone();
    let i = rule_index(&v2, "message");
    v2["rules"][i] = json!({"target": "message", "format": "Web order {orderId}"});
    v2["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"target": "externalid", "source": "orderId"}));
    v2["settings"]["state"] = json!("Draft");
    v2["lookups"]["payment_terms"]["paypal"] = json!("Due on receipt");
    let saved = app
        .call("PUT", &tpl(&pair, ""), Some(&token), Some(v2.clone()), 200)
        .await;
    assert_eq!(saved["version"], 2);

    let versions = app
        .call("GET", &tpl(&pair, "/versions"), Some(&token), None, 200)
        .await;
    assert_eq!(versions[0]["version"], 2);
    assert!(
        versions[0]["author"]
            .as_str()
            .unwrap()
            .starts_with("owner-")
    );
    assert!(versions[0]["updated_at"].as_i64().unwrap() > 0);
    let one = app
        .call("GET", &tpl(&pair, "/versions/1"), Some(&token), None, 200)
        .await;
    assert_eq!(one["version"], 1);
    assert_eq!(one["document"], v1);
    app.call("GET", &tpl(&pair, "/versions/9"), Some(&token), None, 404)
        .await;

    let diff = app
        .call(
            "GET",
            &tpl(&pair, "/diff?from=1&to=2"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(diff["identical"], false);
    assert_eq!(diff["rules"]["added"][0]["target"], "externalid");
    assert_eq!(diff["rules"]["changed"][0]["target"], "message");
    assert_eq!(diff["rules"]["changed"][0]["keys"], json!(["format"]));
    assert_eq!(diff["rules"]["removed"], json!([]));
    assert_eq!(
        diff["rules"]["moved"],
        json!([]),
        "an appended rule moves nothing"
    );
    assert_eq!(diff["settings"][0]["path"], "state");
    assert_eq!(diff["settings"][0]["before"], "Pending");
    assert_eq!(diff["settings"][0]["after"], "Draft");
    assert_eq!(diff["lookups"][0]["path"], "payment_terms.paypal");
    let e = app
        .call(
            "GET",
            &tpl(&pair, "/diff?from=one&to=2"),
            Some(&token),
            None,
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "from");
    app.call(
        "GET",
        &tpl(&pair, "/diff?from=1&to=7"),
        Some(&token),
        None,
        404,
    )
    .await;

    // Restoring version 1 is version 3, identical to version 1.
    let restored = app
        .call(
            "POST",
            &tpl(&pair, "/versions/1/restore"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(restored["version"], 3);
    let same = app
        .call(
            "GET",
            &tpl(&pair, "/diff?from=1&to=3"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(same["identical"], true);
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_template_is_refused_naming_the_rule_and_nothing_is_saved() {
    let app = common::spawn_app().await;
    let token = app.tenant("Refused Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let good = document(&app, &token, &pair).await;
    let i = rule_index(&good, "customerid");

    let mut typo = good.clone();
    typo["rules"][i]["target"] = json!("custmerid");
    let e = app
        .call("PUT", &tpl(&pair, ""), Some(&token), Some(typo), 422)
        .await;
    assert_eq!(e["error"]["field"], format!("rules[{i}].target"));
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("custmerid") && message.contains("did you mean `customerid`"),
        "{message}"
    );

    let mut broken = good.clone();
    broken["rules"][i] = json!({"target": "customerid", "expr": ".customerId |||"});
    let e = app
        .call("PUT", &tpl(&pair, ""), Some(&token), Some(broken), 422)
        .await;
    assert_eq!(e["error"]["field"], format!("rules[{i}].expr"));
    assert_eq!(e["error"]["code"], "invalid_template");

    assert_eq!(version_count(&app, &token, &pair).await, 1);
    assert_eq!(document(&app, &token, &pair).await, good);

    // The editor's inline check says the same about a single rule, saving nothing.
    let check = app
        .call(
            "POST",
            &tpl(&pair, "/check"),
            Some(&token),
            Some(json!({"rule": {"target": "customerid", "expr": ".customerId |||"}})),
            200,
        )
        .await;
    assert_eq!(check["ok"], false);
    assert_eq!(check["field"], "expr", "the key at fault: {check}");
    let message = check["message"].as_str().unwrap();
    assert!(
        !message.is_empty() && !message.starts_with("rule 0"),
        "the engine's reason, without the rule's number: {check}"
    );
    let check = app
        .call(
            "POST",
            &tpl(&pair, "/check"),
            Some(&token),
            Some(json!({"rule": {"target": "shipto.contactnam", "source": "shippingAddress.firstName"}})),
            200,
        )
        .await;
    assert_eq!(check["ok"], false);
    assert_eq!(check["field"], "target");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("shipto.contactname"),
        "{check}"
    );
    let check = app
        .call(
            "POST",
            &tpl(&pair, "/check"),
            Some(&token),
            Some(json!({"rule": {"target": "customerid", "expr": ".customerId | ascii_upcase"}})),
            200,
        )
        .await;
    assert_eq!(check, json!({"ok": true, "field": null, "message": null}));
    assert_eq!(version_count(&app, &token, &pair).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn suggestions_are_deterministic_explained_learned_from_and_hidden_when_rejected() {
    let app = common::spawn_app().await;
    let token = app.tenant("Suggest Co").await;
    let first = pair_with_orders(&app, &token, "intacct").await;
    let second = pair_with_orders(&app, &token, "intacct").await;

    // Unmap `currency` so there is an obvious suggestion.
    let mut doc = document(&app, &token, &first).await;
    let i = rule_index(&doc, "currency");
    doc["rules"].as_array_mut().unwrap().remove(i);
    app.call("PUT", &tpl(&first, ""), Some(&token), Some(doc), 200)
        .await;

    let got = app
        .call("GET", &tpl(&first, "/suggestions"), Some(&token), None, 200)
        .await;
    let again = app
        .call("GET", &tpl(&first, "/suggestions"), Some(&token), None, 200)
        .await;
    assert_eq!(got, again, "the same input gives the same answer");
    let currency = candidates(&got, "currency");
    assert_eq!(currency[0]["source"], "currency", "{got}");
    let reasons: Vec<&str> = currency[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(reasons[0], "name 1.00", "{reasons:?}");
    assert!(reasons.contains(&"type ok"), "{reasons:?}");
    assert!(
        reasons.contains(&"100 % of samples parse as text"),
        "{reasons:?}"
    );
    assert!(
        candidates(&got, "customerid").is_empty(),
        "mapped targets get no suggestions"
    );
    for s in got.as_array().unwrap() {
        let score = s["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{s}");
    }

    // Accepting one that was not ranked first adds the rule as a new version…
    let datedue = candidates(&got, "datedue");
    assert!(datedue.len() >= 2, "{got}");
    let second_best = datedue[1]["source"].as_str().unwrap().to_owned();
    let before_score = datedue[1]["score"].as_f64().unwrap();
    let accepted = app
        .call(
            "POST",
            &tpl(&first, "/suggestions/accept"),
            Some(&token),
            Some(json!({"target": "datedue", "source": second_best})),
            200,
        )
        .await;
    assert_eq!(accepted["version"], 3);
    let doc = document(&app, &token, &first).await;
    let rule = &doc["rules"][rule_index(&doc, "datedue")];
    assert_eq!(rule["source"], second_best.as_str());
    assert_eq!(rule["optional"], true);
    let after = app
        .call("GET", &tpl(&first, "/suggestions"), Some(&token), None, 200)
        .await;
    assert!(candidates(&after, "datedue").is_empty(), "now mapped");
    // …and is never laid over a mapping that exists.
    let e = app
        .call(
            "POST",
            &tpl(&first, "/suggestions/accept"),
            Some(&token),
            Some(json!({"target": "customerid", "source": "orderId"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "target");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already mapped")
    );

    // The tenant's next pair ranks that choice first, and says why.
    let learned = app
        .call(
            "GET",
            &tpl(&second, "/suggestions"),
            Some(&token),
            None,
            200,
        )
        .await;
    let datedue = candidates(&learned, "datedue");
    assert_eq!(datedue[0]["source"], second_best.as_str(), "{learned}");
    assert_eq!(datedue[0]["accepted_before"], 1);
    assert!(
        datedue[0]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("accepted 1× before")),
        "{learned}"
    );
    assert!(datedue[0]["score"].as_f64().unwrap() != before_score);

    // A rejected suggestion is not offered again; the others stay.
    let dateposted = candidates(&learned, "dateposted");
    assert!(dateposted.len() >= 2, "{learned}");
    let rejected = dateposted[0]["source"].as_str().unwrap().to_owned();
    let kept = dateposted[1]["source"].as_str().unwrap().to_owned();
    app.call(
        "POST",
        &tpl(&second, "/suggestions/reject"),
        Some(&token),
        Some(json!({"target": "dateposted", "source": rejected})),
        204,
    )
    .await;
    let now = app
        .call(
            "GET",
            &tpl(&second, "/suggestions"),
            Some(&token),
            None,
            200,
        )
        .await;
    let sources: Vec<&str> = candidates(&now, "dateposted")
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert!(!sources.contains(&rejected.as_str()), "{sources:?}");
    assert!(sources.contains(&kept.as_str()), "{sources:?}");
    assert_eq!(
        version_count(&app, &token, &second).await,
        1,
        "rejecting saves no version"
    );

    // Both decisions are in the tenant's audit log, saying which fields.
    let audit = app
        .call("GET", "/api/v1/audit", Some(&token), None, 200)
        .await;
    let entry = |action: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {audit}"))
            .clone()
    };
    assert_eq!(
        entry("template.suggestion_accepted")["detail"],
        format!("version 3: datedue ← {second_best}")
    );
    assert_eq!(
        entry("template.suggestion_rejected")["detail"],
        format!("dateposted ← {rejected}")
    );

    // Another tenant learns nothing from this one.
    let other = app.tenant("Other Co").await;
    let theirs = pair_with_orders(&app, &other, "intacct").await;
    let fresh = app
        .call(
            "GET",
            &tpl(&theirs, "/suggestions"),
            Some(&other),
            None,
            200,
        )
        .await;
    assert!(
        candidates(&fresh, "datedue")
            .iter()
            .all(|c| c["accepted_before"] == 0),
        "{fresh}"
    );
    app.stop().await;
}

#[tokio::test]
async fn lookup_tables_round_trip_as_json_and_csv_and_a_bad_csv_saves_nothing() {
    let app = common::spawn_app().await;
    let token = app.tenant("Lookups Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;

    let tables = app
        .call("GET", &tpl(&pair, "/lookups"), Some(&token), None, 200)
        .await;
    assert!(
        tables
            .as_array()
            .unwrap()
            .contains(&json!({"name": "payment_terms", "entries": 6})),
        "{tables}"
    );

    let skus = json!({"SKU-1001": "WIDGET", "Gift, wrapped": "GW \"deluxe\""});
    let saved = app
        .call(
            "PUT",
            &tpl(&pair, "/lookups/skus"),
            Some(&token),
            Some(skus.clone()),
            200,
        )
        .await;
    assert_eq!(saved["version"], 2);
    let back = app
        .call("GET", &tpl(&pair, "/lookups/skus"), Some(&token), None, 200)
        .await;
    assert_eq!(back, skus);

    let (status, kind, csv) = get_text(&app, &token, &tpl(&pair, "/lookups/skus.csv")).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert!(csv.starts_with("key,value\n"), "{csv}");
    assert!(
        csv.contains("\"Gift, wrapped\",\"GW \"\"deluxe\"\"\""),
        "{csv}"
    );

    // The CSV, edited, goes back in as the next version.
    let edited = format!("{csv}SKU-2002,GADGET\n");
    let (status, body) = put_text(&app, &token, &tpl(&pair, "/lookups/skus.csv"), &edited).await;
    assert_eq!(status, 200, "{body}");
    let back = app
        .call("GET", &tpl(&pair, "/lookups/skus"), Some(&token), None, 200)
        .await;
    let mut want = skus.clone();
    want["SKU-2002"] = json!("GADGET");
    assert_eq!(back, want);
    assert_eq!(version_count(&app, &token, &pair).await, 3);

    // Any error saves nothing and names the line and column.
    for (bad, field) in [
        ("key,value\nA,1\nB\n", "line 3, column 2"),
        ("sku,item\nA,1\n", "line 1, column 1"),
        ("key,value\nA,1\nA,2\n", "line 3, column 1"),
        ("key,value\nA,1\n,2\n", "line 3, column 1"),
    ] {
        let (status, body) = put_text(&app, &token, &tpl(&pair, "/lookups/skus.csv"), bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
        let e: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["error"]["field"], field, "{bad}: {body}");
        assert!(
            e["error"]["message"].as_str().unwrap().starts_with(field),
            "{body}"
        );
    }
    assert_eq!(version_count(&app, &token, &pair).await, 3);
    assert_eq!(
        app.call("GET", &tpl(&pair, "/lookups/skus"), Some(&token), None, 200)
            .await,
        want
    );

    let e = app
        .call(
            "PUT",
            &tpl(&pair, "/lookups/skus"),
            Some(&token),
            Some(json!(["x"])),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "body");
    app.call("GET", &tpl(&pair, "/lookups/nope"), Some(&token), None, 404)
        .await;
    let (status, _, _) = get_text(&app, &token, &tpl(&pair, "/lookups/nope.csv")).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_flow_can_start_again_from_a_pre_built_variant() {
    let app = common::spawn_app().await;
    let token = app.tenant("Builtin Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let variants = app
        .call("GET", &tpl(&pair, "/builtin"), Some(&token), None, 200)
        .await;
    let names: Vec<&str> = variants
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "default", "{variants}");
    assert!(variants[0]["title"].as_str().is_some_and(|t| !t.is_empty()));
    let pick = *names.last().unwrap();

    let original = document(&app, &token, &pair).await;
    let mut edited = original.clone();
    edited["settings"]["marker"] = json!("mine");
    app.call("PUT", &tpl(&pair, ""), Some(&token), Some(edited), 200)
        .await;
    let saved = app
        .call(
            "POST",
            &tpl(&pair, "/builtin"),
            Some(&token),
            Some(json!({"variant": pick})),
            200,
        )
        .await;
    assert_eq!(saved["version"], 3);
    let now = document(&app, &token, &pair).await;
    assert!(now["settings"].get("marker").is_none());
    if pick == "default" {
        assert_eq!(now, original);
    }
    let e = app
        .call(
            "POST",
            &tpl(&pair, "/builtin"),
            Some(&token),
            Some(json!({"variant": "nonsense"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "variant");
    assert!(e["error"]["message"].as_str().unwrap().contains("default"));
    assert_eq!(version_count(&app, &token, &pair).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn the_editor_routes_are_in_the_openapi_document() {
    let app = common::spawn_app().await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None, 200)
        .await;
    for (method, path) in [
        (
            "get",
            "/api/v1/pairs/{id}/templates/{flow}/versions/{version}",
        ),
        ("get", "/api/v1/pairs/{id}/templates/{flow}/diff"),
        ("get", "/api/v1/pairs/{id}/templates/{flow}/suggestions"),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/suggestions/accept",
        ),
        (
            "post",
            "/api/v1/pairs/{id}/templates/{flow}/suggestions/reject",
        ),
        ("get", "/api/v1/pairs/{id}/templates/{flow}/lookups"),
        ("get", "/api/v1/pairs/{id}/templates/{flow}/lookups/{table}"),
        ("put", "/api/v1/pairs/{id}/templates/{flow}/lookups/{table}"),
        ("post", "/api/v1/pairs/{id}/templates/{flow}/builtin"),
        ("post", "/api/v1/pairs/{id}/templates/{flow}/check"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let csv = &doc["paths"]["/api/v1/pairs/{id}/templates/{flow}/lookups/{table}"]["put"]["requestBody"]
        ["content"]["text/csv"];
    assert!(csv.is_object(), "CSV is a documented body");
    app.stop().await;
}

#[tokio::test]
async fn the_editor_page_edits_lookups_and_rules_with_plain_forms() {
    let app = common::spawn_app().await;
    let (email, token) = app.owner("Forms Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let web = WebSession::sign_in(&app, &email).await;
    let page_path = format!("/pairs/{pair}/templates/orders");

    let (status, page) = web.get(&app, &page_path).await;
    assert_eq!(status, 200);
    for part in [
        "id=\"rules\"",
        "payment_terms",
        "id=\"versions\"",
        "Preview",
    ] {
        assert!(page.contains(part), "{part} missing");
    }

    // A lookup table saved from the page's rows: an emptied key drops its entry.
    let (status, _) = web
        .post(
            &app,
            &format!("{page_path}/lookups/payment_terms"),
            &[
                ("key_0", "credit_card"),
                ("value_0", "Net 15"),
                ("key_1", ""),
                ("value_1", "x"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        app.call(
            "GET",
            &tpl(&pair, "/lookups/payment_terms"),
            Some(&token),
            None,
            200
        )
        .await,
        json!({"credit_card": "Net 15"})
    );

    // A CSV upload with an error saves nothing and says where the error is.
    let (status, _, page) = web
        .upload(
            &app,
            &format!("{page_path}/lookups/payment_terms/csv"),
            &web.csrf,
            &[],
            "t.csv",
            "key,value\nA,1\nB\n",
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Not saved") && page.contains("line 3, column 2"),
        "{page}"
    );
    assert_eq!(version_count(&app, &token, &pair).await, 2);

    // A new table from a CSV file, then downloaded again.
    let (status, _, _) = web
        .upload(
            &app,
            &format!("{page_path}/lookups"),
            &web.csrf,
            &[("table", "skus")],
            "t.csv",
            "key,value\nSKU-1,ITEM-1\n",
        )
        .await;
    assert_eq!(status, 303);
    let resp = web
        .client
        .get(app.url(&format!("{page_path}/lookups/skus/csv")))
        .header("cookie", &web.cookie)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(resp.text().await.unwrap(), "key,value\nSKU-1,ITEM-1\n");

    // A rule added from the last row; a refused one comes back beside its row.
    let (status, _) = web
        .post(
            &app,
            &format!("{page_path}/rules"),
            &[
                ("target", "externalid"),
                ("kind", "source"),
                ("text", "orderId"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let doc = document(&app, &token, &pair).await;
    assert_eq!(
        doc["rules"][rule_index(&doc, "externalid")]["source"],
        "orderId"
    );
    let (status, page) = web
        .post(
            &app,
            &format!("{page_path}/rules"),
            &[
                ("target", "custmerid"),
                ("kind", "source"),
                ("text", "customerId"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("<title>Error:") && page.contains("did you mean `customerid`"),
        "{page}"
    );
    assert!(
        page.contains("id=\"new-rule-error\""),
        "the error sits beside the new row"
    );
    let (status, _) = web
        .post(
            &app,
            &format!("{page_path}/rules/999"),
            &[("target", "x"), ("kind", "source"), ("text", "y")],
        )
        .await;
    assert_eq!(status, 404);

    // Removing a rule is a new version too; the form without a CSRF token is refused.
    let i = rule_index(&document(&app, &token, &pair).await, "externalid");
    let (status, _) = web
        .post(
            &app,
            &format!("{page_path}/rules/{i}"),
            &[
                ("target", "externalid"),
                ("kind", "source"),
                ("text", "orderId"),
                ("remove", "1"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(
        document(&app, &token, &pair).await["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["target"] != "externalid")
    );
    let resp = web
        .client
        .post(app.url(&format!("{page_path}/builtin")))
        .header("cookie", &web.cookie)
        .form(&[("csrf", "forged"), ("variant", "default")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    app.stop().await;
}

/// A member (the role that reads but does not change configuration) of the
/// owner's tenant, with the test password; their email.
async fn member_of(app: &TestApp, owner_token: &str) -> String {
    let tenant = app
        .call("GET", "/api/v1/me", Some(owner_token), None, 200)
        .await["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = format!("usr_member_{}", uuid::Uuid::now_v7().simple());
    let email = format!("{id}@example.com");
    let hash = connect::auth::password::hash(common::PASSWORD.to_owned())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_lower, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $3, $4, 'member', 0)",
    )
    .bind(&id)
    .bind(&tenant)
    .bind(&email)
    .bind(&hash)
    .execute(app.state.db.pool())
    .await
    .unwrap();
    email
}

/// Every form's `action` on a page, without its `#anchor`.
fn form_actions(page: &str) -> Vec<String> {
    page.split("<form")
        .skip(1)
        .filter_map(|form| {
            let tag = form.split('>').next()?;
            let action = tag.split("action=\"").nth(1)?.split('"').next()?;
            Some(action.split('#').next().unwrap_or(action).to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_member_sees_the_mapping_read_only_and_their_edits_are_refused() {
    let app = common::spawn_app().await;
    let (owner_email, token) = app.owner("Roles Co").await;
    let pair = pair_with_orders(&app, &token, "intacct").await;
    // A second version, so that the first can be restored.
    let doc = document(&app, &token, &pair).await;
    app.call("PUT", &tpl(&pair, ""), Some(&token), Some(doc), 200)
        .await;
    let base = format!("/pairs/{pair}/templates/orders");
    let edit_forms = [
        format!("{base}/rules"),
        format!("{base}/rules/0"),
        format!("{base}/lookups/payment_terms"),
        format!("{base}/lookups/payment_terms/csv"),
        format!("{base}/lookups"),
        format!("{base}/versions/1/restore"),
        format!("{base}/builtin"),
    ];

    let admin = WebSession::sign_in(&app, &owner_email).await;
    let (status, page) = admin.get(&app, &base).await;
    assert_eq!(status, 200);
    let actions = form_actions(&page);
    for form in &edit_forms {
        assert!(actions.contains(form), "the owner's page lacks {form}");
    }
    assert!(!page.contains("id=\"read-only\""));

    let member = WebSession::sign_in(&app, &member_of(&app, &token).await).await;
    let (status, page) = member.get(&app, &base).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"read-only\""), "{page}");
    assert!(page.contains("Your role (member) is read-only"), "{page}");
    // Everything is still there to read…
    for part in [
        "id=\"rules\"",
        "<code>customerid</code>",
        "id=\"lookup-payment_terms\"",
        &format!("{base}/lookups/payment_terms/csv\">Download CSV"),
        "id=\"suggestions\"",
        "id=\"versions\"",
        "Show changes",
        "id=\"preview-title\"",
    ] {
        assert!(page.contains(part), "{part} missing");
    }
    // …and the only forms are the preview, the diff and signing out.
    for action in form_actions(&page) {
        assert!(
            [
                base.clone(),
                format!("{base}/preview"),
                "/logout".to_owned()
            ]
            .contains(&action),
            "a member's page has a form to {action}"
        );
    }
    assert!(!page.contains("data-check-url"), "no inline rule checks");
    let (status, diff) = member.get(&app, &format!("{base}?from=1&to=2")).await;
    assert_eq!(status, 200);
    assert!(diff.contains("id=\"diff\""), "{diff}");
    let (status, preview) = member
        .post(
            &app,
            &format!("{base}/preview"),
            &[(
                "records",
                r#"{"orderId": "CO-1", "customerId": "CUS-5001", "currency": "USD"}"#,
            )],
        )
        .await;
    assert_eq!(
        status, 200,
        "the preview writes nothing: members may run it"
    );
    assert!(preview.contains("preview-result"), "{preview}");

    // The server refuses a member's edits whatever the page shows.
    for (path, fields) in [
        (
            format!("{base}/rules"),
            vec![
                ("target", "externalid"),
                ("kind", "source"),
                ("text", "orderId"),
            ],
        ),
        (
            format!("{base}/rules/0"),
            vec![("target", "customerid"), ("kind", "source"), ("text", "x")],
        ),
        (
            format!("{base}/lookups/payment_terms"),
            vec![("key_0", "credit_card"), ("value_0", "Net 15")],
        ),
        (
            format!("{base}/suggestions/accept"),
            vec![("target", "externalid"), ("source", "orderId")],
        ),
        (format!("{base}/versions/1/restore"), vec![]),
        (format!("{base}/builtin"), vec![("variant", "default")]),
    ] {
        let (status, _) = member.post(&app, &path, &fields).await;
        assert_eq!(status, 403, "{path}");
    }
    let (status, _, _) = member
        .upload(
            &app,
            &format!("{base}/lookups"),
            &member.csrf,
            &[("table", "skus")],
            "t.csv",
            "key,value\nSKU-1,ITEM-1\n",
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(version_count(&app, &token, &pair).await, 2, "nothing saved");
    app.stop().await;
}

#[tokio::test]
async fn the_pair_page_links_every_flows_mapping_editor_with_its_version() {
    let app = common::spawn_app().await;
    let (email, token) = app.owner("Flows Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let doc = document(&app, &token, &pair).await;
    app.call("PUT", &tpl(&pair, ""), Some(&token), Some(doc), 200)
        .await;

    let web = WebSession::sign_in(&app, &email).await;
    let (status, page) = web.get(&app, &format!("/pairs/{pair}")).await;
    assert_eq!(status, 200);
    for flow in connect::pairs::FLOWS {
        assert!(
            page.contains(&format!("href=\"/pairs/{pair}/templates/{flow}\"")),
            "no link to the {flow} editor"
        );
        let row = page
            .split(&format!("id=\"flow-{flow}\""))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_else(|| panic!("no row for {flow}"));
        let version = if flow == "orders" { "v2" } else { "v1" };
        assert!(row.contains(version), "{flow}: {row}");
    }
    app.stop().await;
}
