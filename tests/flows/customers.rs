//! Customers both ways: a change on either simulator reaches the other
//! once, our own writes coming back are skipped, and the conflict rule
//! decides when both systems hold the customer.

use std::time::Duration;

use connect_jobs::connectors::clarity::Created;
use connect_jobs::connectors::clarity::wire::Customer;
use connect_jobs::connectors::intacct::Object;
use serde_json::{Value, json};

use super::common::sims::Sims;
use super::common::{TestApp, spawn_app};
use super::{polling_on, runs_of};

async fn new_clarity_customer(sims: &Sims, email: &str) -> Customer {
    let body = json!({
        "email": email,
        "firstName": "Ada",
        "lastName": "Byron",
        "company": "Analytical Engines",
        "phone": "+1 617 555 0100",
        "billingAddress": {"firstName": "Ada", "lastName": "Byron", "line1": "1 Main St",
            "city": "Boston", "region": "MA", "postalCode": "02110", "country": "US"},
    });
    match sims
        .clarity
        .create_customer(&format!("test-{email}"), &body)
        .await
        .expect("a Clarity customer")
    {
        Created::New(c) => c,
        Created::Exists { existing_id } => panic!("{email} exists already as {existing_id}"),
    }
}

async fn intacct_customer(sims: &Sims, id: &str) -> Option<Value> {
    sims.intacct
        .read_by_query(
            "CUSTOMER",
            &["CUSTOMERID", "NAME", "DISPLAYCONTACT", "WHENMODIFIED"],
            &format!("CUSTOMERID = '{id}'"),
            1,
        )
        .await
        .expect("Intacct answers")
        .into_iter()
        .next()
        .map(Value::Object)
}

async fn poll_now(app: &TestApp, token: &str, pair: &str) {
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/flows/customers/run"),
        Some(token),
        None,
        202,
    )
    .await;
}

/// Waits until the runs of the customers flow stop changing (no run still
/// open, and the same list twice, a second apart).
async fn settled(app: &TestApp, token: &str, pair: &str) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let now = runs_of(app, token, pair, "customers").await;
        let open = now
            .iter()
            .any(|r| r["status"] == "running" || r["status"] == "retrying");
        if !open && now == last {
            return now;
        }
        last = now;
    }
    panic!("the customers flow did not settle: {last:#?}");
}

#[tokio::test]
async fn an_intacct_pair_syncs_customers_both_ways_and_settles_after_one_round_trip() {
    let app = spawn_app().await;
    let token = app.tenant("Both Ways Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "customers").await;

    // Clarity → Intacct.
    let c = new_clarity_customer(&sims, "ada@engines.example").await;
    let cid = c.customer_id.clone();
    let run = app.run_of(&token, &pair, &cid, "succeeded").await;
    assert_eq!(run["target_id"], cid.as_str(), "{run}");
    let made = intacct_customer(&sims, &cid)
        .await
        .expect("the customer in Intacct");
    assert_eq!(made["NAME"], "Analytical Engines");
    assert_eq!(made["DISPLAYCONTACT"]["EMAIL1"], "ada@engines.example");
    assert_eq!(made["DISPLAYCONTACT"]["MAILADDRESS"]["CITY"], "Boston");

    // The poll sees our own write in Intacct, and leaves Clarity alone.
    poll_now(&app, &token, &pair).await;
    let echo = app.run_of(&token, &pair, &cid, "skipped").await;
    assert!(
        echo["error"].as_str().unwrap().contains("our own write"),
        "{echo}"
    );
    let runs = settled(&app, &token, &pair).await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(sims.clarity.get_customer(&cid).await.unwrap().version, 1);

    // Intacct → Clarity: a new phone number.
    let mut contact = made["DISPLAYCONTACT"].clone();
    contact["PHONE1"] = json!("+1 617 555 0199");
    let mut update = serde_json::Map::new();
    update.insert("CUSTOMERID".into(), json!(cid));
    update.insert("DISPLAYCONTACT".into(), contact);
    sims.intacct
        .update("phone-1", Object::Customer, &update)
        .await
        .expect("a new phone in Intacct");
    let changed_at = intacct_customer(&sims, &cid).await.unwrap()["WHENMODIFIED"].clone();
    poll_now(&app, &token, &pair).await;
    app.eventually(
        "the new phone in Clarity",
        Duration::from_secs(30),
        || async {
            sims.clarity
                .get_customer(&cid)
                .await
                .is_ok_and(|c| c.phone.as_deref() == Some("+1 617 555 0199"))
        },
    )
    .await;
    // Clarity's customer.updated comes back and is skipped: one round trip.
    let runs = settled(&app, &token, &pair).await;
    poll_now(&app, &token, &pair).await;
    let runs_after = settled(&app, &token, &pair).await;
    assert_eq!(runs, runs_after, "a poll after settling finds nothing");
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "succeeded").count(),
        2,
        "{runs:#?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "skipped").count(),
        2,
        "{runs:#?}"
    );
    // Writes on both sides: Clarity took one (version 2), Intacct none more.
    assert_eq!(sims.clarity.get_customer(&cid).await.unwrap().version, 2);
    assert_eq!(
        intacct_customer(&sims, &cid).await.unwrap()["WHENMODIFIED"],
        changed_at
    );
    app.stop().await;
}

#[tokio::test]
async fn a_sage_pro_pair_syncs_customers_both_ways_and_erp_wins_when_told() {
    let app = spawn_app().await;
    let token = app.tenant("Pro Customers Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    polling_on(&app, &token, &pair, "customers").await;

    let c = new_clarity_customer(&sims, "grace@navy.example").await;
    let cid = c.customer_id.clone();
    let run = app.run_of(&token, &pair, &cid, "succeeded").await;
    let no = run["target_id"].as_str().unwrap().to_owned();
    let made = sims.sagepro.get_customer(&no).await.expect("in Sage Pro");
    assert_eq!(made.email, "grace@navy.example");
    assert_eq!(made.external_customer_id, cid);

    // Sage Pro → Clarity: a new phone, through the poll.
    sims.sagepro
        .update_customer(
            "phone-2",
            &no,
            &connect_jobs::connectors::sagepro::wire::CustomerInput {
                phone: Some("555-0142".into()),
                ..Default::default()
            },
            Some(made.row_version),
        )
        .await
        .expect("a new phone in Sage Pro");
    poll_now(&app, &token, &pair).await;
    app.eventually(
        "the Sage Pro phone in Clarity",
        Duration::from_secs(30),
        || async {
            sims.clarity
                .get_customer(&cid)
                .await
                .is_ok_and(|c| c.phone.as_deref() == Some("555-0142"))
        },
    )
    .await;
    settled(&app, &token, &pair).await;

    // erp_wins: a Clarity change to a customer both hold is not written.
    app.call(
        "PUT",
        &format!("/api/v1/pairs/{pair}/flows/customers"),
        Some(&token),
        Some(json!({"conflict_rule": "erp_wins"})),
        200,
    )
    .await;
    let before = sims.sagepro.get_customer(&no).await.unwrap();
    sims.clarity
        .patch_customer(&cid, &json!({"company": "Compilers Inc"}), None)
        .await
        .expect("a Clarity change");
    app.eventually(
        "the conflict decided in a run",
        Duration::from_secs(30),
        || async {
            runs_of(&app, &token, &pair, "customers")
                .await
                .iter()
                .any(|r| {
                    r["status"] == "skipped"
                        && r["error"].as_str().is_some_and(|e| e.contains("erp_wins"))
                })
        },
    )
    .await;
    settled(&app, &token, &pair).await;
    let after = sims.sagepro.get_customer(&no).await.unwrap();
    assert_eq!(after.company, before.company);
    assert_eq!(after.row_version, before.row_version, "nothing written");
    app.stop().await;
}

/// Customers run both ways, each direction through a template the pair
/// keeps: the pinned one serves its own direction, and the newest saved
/// version written for the other direction serves that one (picked from the
/// pre-built variants and adjusted in the editor), recorded on its runs.
#[tokio::test]
async fn each_direction_of_customers_runs_through_the_pairs_own_template_version() {
    let app = spawn_app().await;
    let token = app.tenant("Two Templates Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    let tpl = format!("/api/v1/pairs/{pair}/templates/customers");
    // v2: the ERP → Clarity variant; v3: adjusted; v4: the default restored.
    app.call(
        "POST",
        &format!("{tpl}/builtin"),
        Some(&token),
        Some(json!({"variant": "to_clarity"})),
        200,
    )
    .await;
    let mut doc = app.call("GET", &tpl, Some(&token), None, 200).await["document"].clone();
    assert_eq!(doc["direction"], "to_clarity", "{doc}");
    doc["description"] = json!("ERP customers into Clarity, as we keep them");
    let saved = app.call("PUT", &tpl, Some(&token), Some(doc), 200).await;
    assert_eq!(saved["version"], 3, "{saved}");
    let restored = app
        .call(
            "POST",
            &format!("{tpl}/versions/1/restore"),
            Some(&token),
            None,
            200,
        )
        .await;
    assert_eq!(restored["version"], 4, "{restored}");
    polling_on(&app, &token, &pair, "customers").await;

    let c = new_clarity_customer(&sims, "grace@navy.example").await;
    let cid = c.customer_id.clone();
    let to_erp = app.run_of(&token, &pair, &cid, "succeeded").await;
    assert_eq!(
        to_erp["template_version"], 4,
        "Clarity → ERP on the pinned version: {to_erp}"
    );
    let made = intacct_customer(&sims, &cid).await.expect("in Intacct");
    let mut contact = made["DISPLAYCONTACT"].clone();
    contact["PHONE1"] = json!("+1 202 555 0143");
    let mut update = serde_json::Map::new();
    update.insert("CUSTOMERID".into(), json!(cid));
    update.insert("DISPLAYCONTACT".into(), contact);
    sims.intacct
        .update("phone-2", Object::Customer, &update)
        .await
        .expect("a new phone in Intacct");
    poll_now(&app, &token, &pair).await;
    app.eventually("the phone in Clarity", Duration::from_secs(30), || async {
        sims.clarity
            .get_customer(&cid)
            .await
            .is_ok_and(|c| c.phone.as_deref() == Some("+1 202 555 0143"))
    })
    .await;
    let runs = settled(&app, &token, &pair).await;
    assert!(
        runs.iter()
            .any(|r| r["status"] == "succeeded" && r["template_version"] == 3),
        "ERP → Clarity on the adjusted version 3: {runs:#?}"
    );
    assert!(runs.iter().all(|r| r["template_version"] != 0), "{runs:#?}");
    app.stop().await;
}
