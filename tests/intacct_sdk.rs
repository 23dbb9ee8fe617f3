//! Compatibility with Sage's published Intacct JS SDK: `infra/sdk-compat/run.mjs`
//! drives a sandbox pair's Intacct simulator with `@intacct/intacct-sdk`,
//! unmodified, and prints what the SDK's own result classes parsed. The SDK
//! only talks to `*.intacct.com`, so the script resolves `sandbox.intacct.com`
//! to 127.0.0.1 itself.
//!
//! Needs `node` and `(cd infra/sdk-compat && npm ci --no-audit --no-fund)`;
//! without them the test fails and says so.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/sdk-compat")
}

/// The simulator's endpoint under a name the SDK accepts, same port and path.
fn intacct_host(endpoint: &str) -> String {
    let url = reqwest::Url::parse(endpoint).expect("endpoint URL");
    let port = url
        .port()
        .expect("the test app listens on an explicit port");
    format!("http://sandbox.intacct.com:{port}{}", url.path())
}

async fn run_sdk(sandbox: &Value) -> (Value, Duration) {
    let dir = compat_dir();
    let fix = "(cd infra/sdk-compat && npm ci --no-audit --no-fund)";
    assert!(
        dir.join("node_modules/@intacct/intacct-sdk/package.json")
            .exists(),
        "the Intacct SDK is not installed in {}: run {fix}",
        dir.display()
    );
    let i = &sandbox["intacct"];
    let s = |k: &str| {
        i[k].as_str()
            .unwrap_or_else(|| panic!("sandbox intacct.{k}"))
            .to_owned()
    };
    // Output to files, so a chatty run cannot fill a pipe while the test waits.
    let logs = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| std::fs::File::create(logs.path().join(name)).expect("log file");
    let started = Instant::now();
    let mut child = std::process::Command::new("node")
        .arg("run.mjs")
        .current_dir(&dir)
        .env("INTACCT_ENDPOINT_URL", intacct_host(&s("endpoint_url")))
        .env("INTACCT_SENDER_ID", s("sender_id"))
        .env("INTACCT_SENDER_PASSWORD", s("sender_password"))
        .env("INTACCT_COMPANY_ID", s("company_id"))
        .env("INTACCT_USER_ID", s("user_id"))
        .env("INTACCT_USER_PASSWORD", s("user_password"))
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("`node` (20+) is required for this test ({e}); then run {fix}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the SDK run did not finish within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();
    let read = |name: &str| std::fs::read_to_string(logs.path().join(name)).unwrap_or_default();
    let (stdout, stderr) = (read("stdout"), read("stderr"));
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("run.mjs printed no JSON summary ({e}); status {}\nstdout:\n{stdout}\nstderr:\n{stderr}", status)
    });
    assert!(
        status.success(),
        "a step of the SDK run failed (status {}):\n{stdout}\nstderr:\n{stderr}",
        status
    );
    (summary, elapsed)
}

#[tokio::test]
async fn the_published_js_sdk_runs_unmodified_against_the_simulator() {
    let app = common::spawn_app().await;
    let token = app.tenant("SDK Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sandbox = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox"),
            Some(&token),
            None,
            200,
        )
        .await;
    let (summary, elapsed) = run_sdk(&sandbox).await;
    eprintln!("SDK run took {elapsed:?}");
    let steps = &summary["steps"];
    assert_eq!(summary["sdk_version"], "2.2.1");

    // getAPISession: the SDK takes the session's endpoint as its own, and only
    // accepts one under intacct.com, so the simulator names the host it was called on.
    let session = &steps["session"];
    assert_eq!(session["session_id_present"], true, "{session}");
    assert!(
        session["session_timeout"]
            .as_str()
            .is_some_and(|t| t.len() >= 19),
        "{session}"
    );
    assert!(
        session["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("http://sandbox.intacct.com:")),
        "{session}"
    );
    assert_eq!(session["company_id"], sandbox["intacct"]["company_id"]);

    // ReadByQuery + ReadMore, paged by the SDK's Result attributes (resultId, numremaining).
    let items = &steps["read_by_query_items"];
    assert_eq!(items["first"]["totalcount"], 200, "{items}");
    assert_eq!(items["first"]["count"], 75, "{items}");
    assert_eq!(items["first"]["numremaining"], 125, "{items}");
    assert!(
        items["first"]["resultid"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{items}"
    );
    assert_eq!(items["pages"], 3, "{items}");
    assert_eq!(
        items["page_sizes"],
        serde_json::json!([75, 75, 50]),
        "{items}"
    );
    assert_eq!(items["unique_ids"], 200, "{items}");

    assert_eq!(steps["read_by_query_customers"]["result"]["records"], 1);
    assert_eq!(steps["read"]["customerid"], "CUS-5001", "{}", steps["read"]);
    assert_eq!(
        steps["read_by_name"]["itemids"],
        serde_json::json!(["SKU-1001", "SKU-1002"]),
        "{}",
        steps["read_by_name"]
    );

    // Writes through the SDK's typed functions return keys the SDK parses.
    assert_eq!(
        steps["customer_create"]["result"]["first_record"]["CUSTOMERID"], "CUS-SDK-1",
        "{}",
        steps["customer_create"]
    );
    let order_key = steps["order_create"]["result"]["key"]
        .as_str()
        .unwrap_or_default();
    assert!(
        order_key.starts_with("Sales Order-SO"),
        "{}",
        steps["order_create"]
    );

    // A plain batch runs each function on its own: the duplicate fails alone.
    let batch = steps["batch"]["results"].as_array().expect("batch results");
    let statuses: Vec<&str> = batch
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["success", "failure", "success"], "{batch:?}");
    assert_eq!(batch[0]["records"], 1);
    let dup = &batch[1]["errors"];
    assert!(
        dup.to_string().contains("BL01001973"),
        "the SDK parses the error number: {dup}"
    );
    assert_eq!(batch[2]["first_record"]["CUSTOMERID"], "CUS-SDK-2");

    let tx = steps["batch_transaction"]["results"]
        .as_array()
        .expect("tx results");
    assert_eq!(tx.len(), 2);
    assert!(tx.iter().all(|r| r["status"] == "success"), "{tx:?}");

    let rollback = &steps["batch_transaction_rollback"];
    assert_eq!(rollback["raised"], true, "{rollback}");
    assert_eq!(
        rollback["customer_after"], 0,
        "the customer was rolled back: {rollback}"
    );
    assert!(
        rollback["errors"].to_string().contains("NO-SUCH-ITEM"),
        "{rollback}"
    );

    let unknown = &steps["unknown_function"];
    assert_eq!(unknown["raised"], true, "{unknown}");
    assert!(
        unknown["errors"]
            .to_string()
            .contains("unknown function 'create_widget'"),
        "the function's name survives the SDK's tag stripping: {unknown}"
    );

    let memo = &steps["ar_adjustment_create"]["result"];
    assert_eq!(memo["status"], "success", "{memo}");
    assert!(
        memo["key"].as_str().is_some_and(|k| !k.is_empty()),
        "{memo}"
    );

    // What the simulator holds, through the API.
    let orders = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}/sandbox/erp/sales-orders"),
            Some(&token),
            None,
            200,
        )
        .await;
    let refs: Vec<&str> = orders
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["REFERENCENO"].as_str().unwrap_or_default())
        .collect();
    assert!(refs.contains(&"SDK-ORDER-1"), "{refs:?}");
    assert!(refs.contains(&"SDK-ORDER-3"), "{refs:?}");
    assert!(!refs.contains(&"SDK-ORDER-4"), "rolled back: {refs:?}");
    let sdk_order = orders
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["REFERENCENO"] == "SDK-ORDER-1")
        .unwrap();
    assert_eq!(sdk_order["CUSTOMERID"], "CUS-SDK-1");
    assert_eq!(sdk_order["lines"][0]["QUANTITY"], "2");
    assert_eq!(sdk_order["TOTAL"], "25.00", "{sdk_order}");
}
