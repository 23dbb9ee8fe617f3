//! Payments and returns, Clarity → ERP: each waits for its order, then
//! lands once in the ERP simulator as the template says.

use std::time::Duration;

use serde_json::{Value, json};

use super::common::sims::Sims;
use super::common::{fresh_env, sample_order, spawn_app, start};
use super::{runs_of, turn_on};

fn paid_order(id: &str) -> Value {
    let mut order = sample_order(id, "USD", &[("SKU-1001", "Widget", 2, "10.00")]);
    order["paymentInfo"] = json!({"method": "credit_card", "status": "captured", "amount": "20.00",
        "transactionId": format!("ch_{id}"), "capturedAt": "2026-01-15T10:05:00Z"});
    order
}

#[tokio::test]
async fn a_payment_before_its_order_waits_then_lands_once_as_an_intacct_ar_payment() {
    let app = spawn_app().await;
    let token = app.tenant("Paid Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    turn_on(&app, &token, &pair, "payments").await;
    let order = paid_order("CO-PAY-1");
    // order.paid overtakes order.created: it waits, it is not dead.
    app.deliver(&token, &pair, "evt_paid_1", "order.paid", &order)
        .await;
    let waiting = app.run_of(&token, &pair, "CO-PAY-1", "retrying").await;
    assert_eq!(waiting["flow"], "payments");
    assert!(
        waiting["error"]
            .as_str()
            .unwrap()
            .contains("order CO-PAY-1 has not been written"),
        "{waiting}"
    );
    app.deliver_order(&token, &pair, &order).await;
    app.eventually("the payment written", Duration::from_secs(60), || async {
        runs_of(&app, &token, &pair, "payments")
            .await
            .iter()
            .any(|r| r["status"] == "succeeded")
    })
    .await;
    // A repeat of the webhook writes nothing more.
    app.deliver(&token, &pair, "evt_paid_1b", "order.paid", &order)
        .await;
    app.eventually("the repeat run", Duration::from_secs(30), || async {
        runs_of(&app, &token, &pair, "payments").await.len() == 2
    })
    .await;
    let found = sims
        .intacct
        .read_by_query(
            "ARPYMT",
            &[
                "DOCNUMBER",
                "CUSTOMERID",
                "PAYMENTMETHOD",
                "TRX_AMOUNTTOPAY",
                "UNDEPOSITEDACCOUNTNO",
            ],
            "DOCNUMBER = 'ch_CO-PAY-1'",
            10,
        )
        .await
        .expect("Intacct answers");
    assert_eq!(found.len(), 1, "one payment: {found:?}");
    let p = &found[0];
    assert_eq!(p["CUSTOMERID"], "CUS-5001");
    assert_eq!(p["PAYMENTMETHOD"], "Credit Card");
    assert_eq!(p["UNDEPOSITEDACCOUNTNO"], "1210");
    let amount: rust_decimal::Decimal = p["TRX_AMOUNTTOPAY"].as_str().unwrap().parse().unwrap();
    assert_eq!(amount, rust_decimal::Decimal::new(20, 0));
    app.stop().await;
}

/// A company that books store receipts in the GL picks the `gl_batch`
/// variant: the payment becomes one balanced journal entry, debiting the
/// method's undeposited-funds account, and a repeat writes nothing more.
#[tokio::test]
async fn with_the_gl_batch_template_a_payment_is_one_balanced_intacct_journal_entry() {
    let app = spawn_app().await;
    let token = app.tenant("Journal Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/templates/payments/builtin"),
        Some(&token),
        Some(json!({"variant": "gl_batch"})),
        200,
    )
    .await;
    turn_on(&app, &token, &pair, "payments").await;
    let mut order = paid_order("CO-GL-1");
    order["paymentInfo"]["method"] = json!("paypal");
    app.deliver_order(&token, &pair, &order).await;
    app.deliver(&token, &pair, "evt_gl_1", "order.paid", &order)
        .await;
    app.eventually(
        "the journal entry written",
        Duration::from_secs(60),
        || async {
            runs_of(&app, &token, &pair, "payments")
                .await
                .iter()
                .any(|r| r["status"] == "succeeded")
        },
    )
    .await;
    app.deliver(&token, &pair, "evt_gl_1b", "order.paid", &order)
        .await;
    app.eventually("the repeat run", Duration::from_secs(30), || async {
        runs_of(&app, &token, &pair, "payments").await.len() == 2
    })
    .await;
    let batches = sims
        .intacct
        .read_by_query(
            "GLBATCH",
            &["RECORDNO", "JOURNAL", "REFERENCENO", "STATE", "ENTRIES"],
            "REFERENCENO = 'ch_CO-GL-1'",
            10,
        )
        .await
        .expect("Intacct answers");
    assert_eq!(batches.len(), 1, "one journal entry: {batches:?}");
    assert_eq!(batches[0]["JOURNAL"], "CRJ");
    assert_eq!(batches[0]["STATE"], "Posted");
    assert!(
        sims.intacct
            .read_by_query("ARPYMT", &["DOCNUMBER"], "DOCNUMBER = 'ch_CO-GL-1'", 10)
            .await
            .expect("Intacct answers")
            .is_empty(),
        "no AR payment besides the journal entry"
    );
    let entries = match &batches[0]["ENTRIES"]["GLENTRY"] {
        Value::Array(lines) => lines.clone(),
        one => vec![one.clone()],
    };
    let mut lines: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["ACCOUNTNO"].as_str().unwrap().to_owned(),
                e["TR_TYPE"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [("1200".into(), "-1".into()), ("1215".into(), "1".into())],
        "PayPal's undeposited funds debited, AR control credited: {entries:?}"
    );
    app.stop().await;
}

/// A refunded Clarity return for `order`, made on the Clarity simulator.
pub(super) async fn refunded_return(sims: &Sims, order_id: &str) -> Value {
    use connect_jobs::connectors::clarity::wire::{NewReturn, NewShipment, ReturnLine};
    // Only what was shipped can come back: everything ships first.
    sims.clarity
        .record_shipment(
            &format!("ship-{order_id}"),
            order_id,
            &NewShipment {
                carrier: "UPS".into(),
                service: None,
                tracking_number: Some("1Z999".into()),
                tracking_url: None,
                shipped_date: None,
                lines: Vec::new(),
            },
        )
        .await
        .expect("shipped");
    let made = sims
        .clarity
        .create_return(
            &format!("rma-{order_id}"),
            &NewReturn {
                order_id: order_id.to_owned(),
                reason: Some("damaged".into()),
                lines: vec![ReturnLine {
                    line_id: "1".into(),
                    sku: None,
                    quantity: rust_decimal::Decimal::ONE,
                    refund_amount: None,
                    restock: true,
                    condition: Some("damaged".into()),
                }],
            },
        )
        .await
        .expect("a Clarity return");
    let id = made.return_id.clone();
    sims.clarity.approve_return(&id).await.expect("approved");
    // Received first: a refund of goods comes after they are back.
    let received = sims.clarity.receive_return(&id).await.expect("received");
    let refunded = sims
        .clarity
        .refund_return(&id, received.refund_amount)
        .await
        .expect("refunded");
    serde_json::to_value(refunded).unwrap()
}

#[tokio::test]
async fn a_refunded_return_becomes_one_sage_pro_credit_memo_with_restock() {
    let app = spawn_app().await;
    let token = app.tenant("Return Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    let sims = Sims::of(&app, &token, &pair).await;
    turn_on(&app, &token, &pair, "returns").await;
    // The simulator's shopper places an order (so a return can be made),
    // and it reaches Sage Pro.
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(&token),
            Some(json!({"count": 1})),
            202,
        )
        .await;
    let oid = placed["order_ids"][0].as_str().unwrap().to_owned();
    app.run_of(&token, &pair, &oid, "succeeded").await;
    let ret = refunded_return(&sims, &oid).await;
    let rid = ret["returnId"].as_str().unwrap().to_owned();
    let run = app.run_of(&token, &pair, &rid, "succeeded").await;
    assert_eq!(run["flow"], "returns");
    let memo = sims
        .sagepro
        .get_invoice(run["target_id"].as_str().unwrap())
        .await
        .expect("the credit memo in Sage Pro");
    let memo = serde_json::to_value(memo).unwrap();
    assert_eq!(memo["InvoiceType"], "CreditMemo", "{memo}");
    assert_eq!(memo["CustomerPO"], rid.as_str());
    let lines = memo["LineItems"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{memo}");
    assert_eq!(lines[0]["Restock"], true, "{memo}");
    // return.created ran too, and was skipped; nothing else was written.
    let runs = runs_of(&app, &token, &pair, "returns").await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs.iter().any(|r| r["status"] == "skipped"));
    app.stop().await;
}

#[tokio::test]
async fn a_return_whose_order_never_comes_is_a_dead_letter_naming_the_order() {
    let (env, dir) = fresh_env(&[
        ("CONNECT_MAX_ATTEMPTS", "2"),
        ("CONNECT_RETRY_BASE_MS", "50"),
    ])
    .await;
    let app = start(env, dir).await;
    let token = app.tenant("Orphan Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    turn_on(&app, &token, &pair, "returns").await;
    let ret = json!({"returnId": "RMA-9", "orderId": "CO-NEVER", "customerId": "CUS-5001",
        "status": "refunded", "currency": "USD", "refundAmount": "10.00", "updatedDate": "2026-01-16T10:00:00Z",
        "lines": [{"lineId": "1", "sku": "SKU-1001", "quantity": 1, "refundAmount": "10.00",
            "restock": false, "condition": "damaged"}]});
    app.deliver(&token, &pair, "evt_rma_9", "return.refunded", &ret)
        .await;
    let dead = app.run_of(&token, &pair, "RMA-9", "dead").await;
    assert!(
        dead["error"].as_str().unwrap().contains("order CO-NEVER"),
        "{dead}"
    );
    assert_eq!(dead["error_field"], "orderId");
    app.stop().await;
}

#[tokio::test]
async fn a_refunded_return_becomes_one_intacct_credit_memo_for_the_refund() {
    let app = spawn_app().await;
    let token = app.tenant("Intacct Return Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let sims = Sims::of(&app, &token, &pair).await;
    turn_on(&app, &token, &pair, "returns").await;
    let placed = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/sandbox/orders"),
            Some(&token),
            Some(json!({"count": 1})),
            202,
        )
        .await;
    let oid = placed["order_ids"][0].as_str().unwrap().to_owned();
    app.run_of(&token, &pair, &oid, "succeeded").await;
    let ret = refunded_return(&sims, &oid).await;
    let rid = ret["returnId"].as_str().unwrap().to_owned();
    let run = app.run_of(&token, &pair, &rid, "succeeded").await;
    let found = sims
        .intacct
        .read(
            "ARADJUSTMENT",
            &[run["target_id"].as_str().unwrap().to_owned()],
            &["RECORDID", "CUSTOMERID", "TOTALENTERED", "DESCRIPTION"],
        )
        .await
        .expect("the AR adjustment in Intacct");
    assert_eq!(found.len(), 1, "{found:?}");
    let adj = &found[0];
    assert_eq!(adj["RECORDID"], format!("CM-{rid}").as_str(), "{adj:?}");
    let total: rust_decimal::Decimal = adj["TOTALENTERED"].as_str().unwrap().parse().unwrap();
    let refund: rust_decimal::Decimal = ret["refundAmount"].as_str().unwrap().parse().unwrap();
    // The shopper's currency is converted to the company's (USD) at the
    // tenant's rate, which the description names.
    let expected = match ret["currency"].as_str() {
        Some("USD") => refund,
        _ => {
            let text = adj["DESCRIPTION"].as_str().unwrap();
            let rate: rust_decimal::Decimal = text
                .split("converted at ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .unwrap_or_else(|| panic!("no rate in {text}"))
                .parse()
                .unwrap();
            (refund * rate).round_dp(2)
        }
    };
    assert_eq!(total.abs(), expected, "the credit is the refund: {adj:?}");
    app.stop().await;
}
