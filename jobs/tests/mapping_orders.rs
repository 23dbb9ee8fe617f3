//! The default order templates, end to end: Clarity orders in, Intacct and
//! Sage Pro payloads out, compared with golden files; template and mapping
//! errors; and the money identities both ERPs check, for generated orders.
//!
//! To regenerate the golden files after a deliberate template change, run
//! `UPDATE_GOLDEN=1 cargo test -p connect-jobs --test mapping_orders` and
//! review the diff.

use std::path::PathBuf;
use std::str::FromStr;

use connect_jobs::connectors::intacct::wire::SoTransaction;
use connect_jobs::mapping::{CompiledTemplate, builtin_template};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn template(erp: &str) -> CompiledTemplate {
    let text = builtin_template("orders", erp).expect("built-in template");
    CompiledTemplate::compile(&serde_json::from_str(text).unwrap()).expect("compiles")
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/orders")
        .join(name)
}

fn read_fixture(name: &str) -> Value {
    let text =
        std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_golden(order: &str, erp: &str) {
    let source = read_fixture(&format!("{order}.clarity.json"));
    let output = template(erp)
        .apply(&source)
        .unwrap_or_else(|e| panic!("{order} → {erp}: {e}"));
    let expected_name = format!("{order}.{erp}.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&output).unwrap() + "\n";
        std::fs::write(fixture_path(&expected_name), text).unwrap();
    }
    let expected = read_fixture(&expected_name);
    assert_eq!(
        output,
        expected,
        "{order} → {erp}\n got: {}",
        serde_json::to_string_pretty(&output).unwrap()
    );
    if erp == "intacct" {
        // The Intacct connector reads exactly this shape.
        let parsed: SoTransaction = serde_json::from_value(output).expect("reads as SoTransaction");
        assert!(!parsed.sotransitems.is_empty());
    }
}

const ORDERS: [&str; 4] = ["simple", "multi_line_coupon", "cad_currency", "special_id"];

#[test]
fn default_intacct_template_maps_the_fixture_orders_to_the_golden_sales_orders() {
    for order in ORDERS {
        assert_golden(order, "intacct");
    }
}

#[test]
fn default_sagepro_template_maps_the_fixture_orders_to_the_golden_sales_orders() {
    for order in ORDERS {
        assert_golden(order, "sagepro");
    }
}

#[test]
fn intacct_output_for_the_spec_example_is_the_agreed_shape() {
    let out = template("intacct")
        .apply(&read_fixture("simple.clarity.json"))
        .unwrap();
    assert_eq!(
        out,
        json!({"transactiontype":"Sales Order","datecreated":{"year":"2024","month":"06","day":"01"},"customerid":"CUS-5001",
          "documentno":"CO-100045","referenceno":"CO-100045","customerponumber":"CO-100045","termname":"Net 30",
          "basecurr":"USD","currency":"USD","state":"Pending","message":"Clarity order CO-100045",
          "sotransitems":[{"itemid":"SKU-1001","quantity":"2","unit":"Each","price":"19.99","warehouseid":"WH1","locationid":"US-EAST","departmentid":"ECOM","memo":"Widget"}],
          "subtotals":[{"description":"Tax","total":"3.20"}]})
    );
}

// ---------------------------------------------------------------- errors

fn compile(doc: Value) -> Result<CompiledTemplate, connect_jobs::mapping::TemplateError> {
    CompiledTemplate::compile(&doc)
}

#[test]
fn an_expression_that_does_not_compile_is_refused_naming_the_rule_and_target() {
    let err = compile(json!({"rules": [
        {"target": "customerid", "source": "customerId"},
        {"target": "datecreated", "expr": ".orderDate | split(\"-\" | {year: .[0]}"}
    ]}))
    .unwrap_err();
    assert_eq!(err.rule, 1);
    assert_eq!(err.target, "datecreated");
    assert!(err.message.contains("does not compile"), "{}", err.message);

    let err =
        compile(json!({"rules": [{"target": "x", "expr": "no_such_filter(1)"}]})).unwrap_err();
    assert!(err.message.contains("no_such_filter"), "{}", err.message);
}

#[test]
fn a_rule_with_two_sources_or_none_is_refused() {
    let err = compile(json!({"rules": [
        {"target": "a", "value": 1},
        {"target": "b", "source": "x", "value": "y"}
    ]}))
    .unwrap_err();
    assert_eq!((err.rule, err.target.as_str()), (1, "b"));
    assert!(err.message.contains("2 sources"), "{}", err.message);

    let err = compile(json!({"rules": [{"target": "a", "optional": true}]})).unwrap_err();
    assert_eq!((err.rule, err.target.as_str()), (0, "a"));
    assert!(err.message.contains("no source"), "{}", err.message);

    let err = compile(
        json!({"rules": [{"target": "t", "each": {"source": "lines", "rules": [
            {"target": "ok", "source": "a"},
            {"target": "bad", "expr": ".a", "lookup": {"table": "t", "source": "a"}}
        ]}}]}),
    )
    .unwrap_err();
    assert_eq!((err.rule, err.target.as_str()), (0, "t[].bad"));
}

#[test]
fn unknown_settings_tables_transforms_keys_and_overlapping_targets_are_refused() {
    let cases = [
        (
            json!({"rules": [{"target": "a", "setting": "nope"}]}),
            "setting `nope`",
        ),
        (
            json!({"rules": [{"target": "a", "lookup": {"table": "t", "source": "x"}}]}),
            "lookup table `t`",
        ),
        (
            json!({"rules": [{"target": "a", "source": "x", "transform": "shout"}]}),
            "unknown transform",
        ),
        (
            json!({"rules": [{"target": "a", "sorce": "x"}]}),
            "unknown field `sorce`",
        ),
        (
            json!({"rules": [{"target": "a", "source": "x"}, {"target": "a.b", "value": 1}]}),
            "overlaps",
        ),
        (
            json!({"rules": [{"target": "a", "source": ".x | .y"}]}),
            "not a plain dot path",
        ),
    ];
    for (doc, expected) in cases {
        let err = compile(doc.clone()).unwrap_err();
        assert!(err.message.contains(expected), "{doc}: {}", err.message);
    }
}

#[test]
fn a_missing_required_source_path_is_a_mapping_error_naming_the_target() {
    let mut order = read_fixture("simple.clarity.json");
    order.as_object_mut().unwrap().remove("orderId");
    let err = template("intacct").apply(&order).unwrap_err();
    assert_eq!(err.target, "documentno");
    assert!(
        err.message.contains("`orderId` is absent"),
        "{}",
        err.message
    );

    let mut order = read_fixture("multi_line_coupon.clarity.json");
    order["lineItems"][1]["sku"] = Value::Null;
    let err = template("sagepro").apply(&order).unwrap_err();
    assert_eq!(err.target, "LineItems[1].ItemCode");

    let mut order = read_fixture("simple.clarity.json");
    order["lineItems"][0]["unitPrice"] = json!("19.999");
    let err = template("sagepro").apply(&order).unwrap_err();
    assert_eq!(err.target, "LineItems[0].UnitPrice");
    assert_eq!(err.value, Some(json!("19.999")));
    assert!(
        err.message.contains("more than 2 decimal places"),
        "{}",
        err.message
    );
}

#[test]
fn expressions_see_settings_and_lookups_and_report_runtime_errors_with_the_target() {
    let t = compile(json!({
        "settings": {"default_warehouse": "WH1", "default_location": "US-EAST"},
        "lookups": {"payment_terms": {"credit_card": "Net 30"}},
        "rules": [
            {"target": "datecreated", "expr": ".orderDate | .[0:10] | split(\"-\") | {year: .[0], month: .[1], day: .[2]}"},
            {"target": "sotransitems", "expr": "[.lineItems[] | {itemid: .sku, quantity: (.quantity|tostring), price: .unitPrice, warehouseid: $settings.default_warehouse, locationid: $settings.default_location}]"},
            {"target": "termname", "expr": "$lookups.payment_terms[.paymentInfo.method]"},
            {"target": "lines", "each": {"source": "lineItems", "rules": [
                {"target": "sku", "expr": ".sku | ascii_downcase"},
                {"target": "order", "expr": "$record.orderId"}
            ]}}
        ]
    }))
    .unwrap();
    let out = t.apply(&read_fixture("simple.clarity.json")).unwrap();
    assert_eq!(
        out["datecreated"],
        json!({"year": "2024", "month": "06", "day": "01"})
    );
    assert_eq!(
        out["sotransitems"],
        json!([{"itemid": "SKU-1001", "quantity": "2", "price": "19.99", "warehouseid": "WH1", "locationid": "US-EAST"}])
    );
    assert_eq!(out["termname"], json!("Net 30"));
    assert_eq!(
        out["lines"],
        json!([{"sku": "sku-1001", "order": "CO-100045"}])
    );

    let t = compile(json!({"rules": [{"target": "x", "expr": "error(\"no such SKU\")"}]})).unwrap();
    let err = t.apply(&json!({})).unwrap_err();
    assert_eq!(err.target, "x");
    assert!(err.message.contains("no such SKU"), "{}", err.message);

    let t = compile(json!({"rules": [{"target": "x", "expr": "def f: f; f"}]})).unwrap();
    let err = t.apply(&json!({})).unwrap_err();
    assert!(err.message.contains("stopped"), "{}", err.message);
}

#[test]
fn compiled_templates_are_shared_between_threads() {
    fn send_sync<T: Send + Sync + Clone>(_: &T) {}
    let t = template("sagepro");
    send_sync(&t);
    let order = read_fixture("multi_line_coupon.clarity.json");
    let expected = t.apply(&order).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let t = t.clone();
            let (order, expected) = (&order, &expected);
            s.spawn(move || assert_eq!(&t.apply(order).unwrap(), expected));
        }
    });
}

// ---------------------------------------------------------------- money identities

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        other => panic!("not an amount: {other}"),
    }
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

fn money(d: Decimal) -> String {
    let mut d = d;
    d.rescale(2);
    d.to_string()
}

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// One generated line: quantity (in ten-thousandths), unit price, line tax
/// and line discount (in cents, the discount capped at the line amount).
type LineSpec = (i64, i64, i64, i64, bool);

/// A Clarity order that keeps Clarity's identities: subtotal = Σ round(q×p, 2),
/// discountAmount = Σ line discounts + coupon,
/// totalAmount = subtotal − discount + shipping + tax.
fn order_from(lines: &[LineSpec], coupon_c: i64, shipping_c: i64, extra_tax_c: i64) -> Value {
    let mut items = Vec::new();
    let (mut subtotal, mut line_discounts, mut line_tax) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (i, (q_units, price_c, tax_c, disc_permille, whole)) in lines.iter().enumerate() {
        let qty = if *whole {
            Decimal::from(q_units / 10_000 + 1)
        } else {
            Decimal::new(*q_units + 1, 4)
        };
        let price = cents(*price_c);
        let amount = round2(qty * price);
        let discount = round2(amount * Decimal::from(*disc_permille) / Decimal::from(1000));
        subtotal += amount;
        line_discounts += discount;
        line_tax += cents(*tax_c);
        items.push(json!({
            "lineId": (i + 1).to_string(), "sku": format!("sku-{i}"), "name": format!("Item {i}"),
            "quantity": serde_json::Number::from_str(&qty.normalize().to_string()).unwrap(),
            "unitPrice": money(price), "tax": money(cents(*tax_c)), "discount": money(discount),
            "lineTotal": money(amount - discount)
        }));
    }
    let coupon = cents(coupon_c)
        .min(subtotal - line_discounts)
        .max(Decimal::ZERO);
    let discount = line_discounts + coupon;
    let tax = line_tax + cents(extra_tax_c);
    let shipping = cents(shipping_c);
    let total = subtotal - discount + shipping + tax;
    json!({
        "orderId": "CO-PROP", "customerId": "cus-1", "orderDate": "2024-06-01T09:58:12Z", "currency": "USD",
        "subtotalAmount": money(subtotal), "discountAmount": money(discount), "shippingAmount": money(shipping),
        "taxAmount": money(tax), "totalAmount": money(total),
        "shippingAddress": {"firstName": "A", "lastName": "B", "line1": "1 St", "city": "C", "region": "TX", "postalCode": "1", "country": "US"},
        "billingAddress": {"firstName": "A", "lastName": "B", "line1": "1 St", "city": "C", "region": "TX", "postalCode": "1", "country": "US"},
        "lineItems": items,
        "paymentInfo": {"method": "credit_card", "status": "captured", "amount": money(total)},
        "couponCode": if coupon.is_zero() { Value::Null } else { json!("PROP") }
    })
}

fn has_at_most_cents(v: &Value) -> bool {
    dec(v).normalize().scale() <= 2
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn both_erps_receive_amounts_that_add_up_to_the_clarity_total_to_the_cent(
        lines in prop::collection::vec((0i64..200_000, 1i64..100_000, 0i64..5_000, 0i64..400, any::<bool>()), 1..7),
        coupon_c in prop_oneof![Just(0i64), 0i64..20_000],
        shipping_c in prop_oneof![Just(0i64), 0i64..5_000],
        extra_tax_c in prop_oneof![Just(0i64), 0i64..300],
    ) {
        let order = order_from(&lines, coupon_c, shipping_c, extra_tax_c);
        let total = dec(&order["totalAmount"]);

        // Sage Pro: Σ(round(Quantity×UnitPrice, 2) − Discount) + Σ TaxAmount + FreightAmount.
        let sp = template("sagepro").apply(&order).unwrap();
        let mut sum = dec(&sp["FreightAmount"]);
        for line in sp["LineItems"].as_array().unwrap() {
            for field in ["UnitPrice", "TaxAmount", "Discount"] {
                prop_assert!(line[field].is_number(), "{field} is not a number: {line}");
                prop_assert!(has_at_most_cents(&line[field]), "{field} has more than cents: {line}");
            }
            sum += round2(dec(&line["Quantity"]) * dec(&line["UnitPrice"])) - dec(&line["Discount"]) + dec(&line["TaxAmount"]);
        }
        prop_assert_eq!(sum, total);
        prop_assert_eq!(dec(&sp["TotalAmount"]), total);
        prop_assert!(sp["TotalAmount"].is_number() && sp["FreightAmount"].is_number());

        // Intacct: Σ round(quantity×price, 2) + Σ subtotals.
        let ia = template("intacct").apply(&order).unwrap();
        let mut sum = Decimal::ZERO;
        for line in ia["sotransitems"].as_array().unwrap() {
            prop_assert!(line["price"].is_string() && line["quantity"].is_string());
            sum += round2(dec(&line["quantity"]) * dec(&line["price"]));
        }
        for subtotal in ia["subtotals"].as_array().unwrap() {
            prop_assert!(subtotal["total"].is_string());
            sum += dec(&subtotal["total"]);
        }
        prop_assert_eq!(sum, total);
    }
}
