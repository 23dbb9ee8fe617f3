//! Sage Pro wire types against every JSON example of sage-pro.md (golden
//! fixtures under `fixtures/sagepro/`), and properties for any input: wire
//! values round-trip through JSON unchanged, money and quantities included,
//! and reading an error answer never panics.
//!
//! Case counts are bounded so CI time stays predictable.

use std::time::Duration;

use connect_jobs::connectors::ErrorClass;
use connect_jobs::connectors::sagepro::error_for_response;
use connect_jobs::connectors::sagepro::wire::{
    Address, Customer, ErrorBody, ErrorDetail, FieldDetail, Inventory, InventoryAdjustment,
    Invoice, InvoiceInput, LineItem, ListPage, OrderInput, Product, SalesOrder,
};
use proptest::prelude::*;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/sagepro/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Reads `name` as `T`, writes it back, and checks that every field the
/// spec's example shows is still there with its value; only the fields in
/// `optional` (those the spec marks optional) may be left out. Fields the
/// example omits may be added (a blank `Address2`, say).
fn golden<T: DeserializeOwned + Serialize>(name: &str, optional: &[&str]) -> T {
    let original = fixture(name);
    let typed: T = serde_json::from_value(original.clone())
        .unwrap_or_else(|e| panic!("{name} does not read: {e}"));
    let written = serde_json::to_value(&typed).expect("serialises");
    kept(name, &original, &written, optional);
    typed
}

fn kept(at: &str, original: &Value, written: &Value, optional: &[&str]) {
    match (original, written) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => kept(&format!("{at}.{k}"), v, w, optional),
                    None if optional.contains(&k.as_str()) => {}
                    None => panic!("{at}.{k} is lost on the way back: {written}"),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: array length");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                kept(&format!("{at}[{i}]"), v, w, optional);
            }
        }
        // 3.20 in the spec is the number 3.2: compare numbers as numbers.
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{at}: {a} became {b}")
        }
        (a, b) => assert_eq!(a, b, "{at}"),
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------
// Golden: the spec's examples (sage-pro.md §1, §3, §4)

#[test]
fn the_list_envelope_keeps_its_paging_fields() {
    let page: ListPage<Value> = golden("list_envelope.response.json", &[]);
    assert_eq!(
        (page.page, page.page_size, page.total_count, page.has_more),
        (1, 100, 253, true)
    );
    assert_eq!(page.data.len(), 1);
}

#[test]
fn the_order_create_body_reads_as_input_and_writes_back_whole() {
    let input: OrderInput = golden("order_create.request.json", &[]);
    assert_eq!(input.customer_no.as_deref(), Some("DOEJ01"));
    assert_eq!(input.order_type.as_deref(), Some("Standard"));
    assert_eq!(input.customer_po.as_deref(), Some("CO-100045"));
    assert_eq!(
        input.external_order_id.as_deref(),
        Some("clarity:CO-100045")
    );
    let line = &input.line_items[0];
    assert_eq!(line.item_code.as_deref(), Some("SKU-1001"));
    assert_eq!(line.quantity, Some(dec("2")));
    assert_eq!(line.unit_price, Some(dec("19.99")));
    assert_eq!(line.tax_amount, Some(dec("3.20")));
    assert_eq!(line.discount, None, "not sent, so not defaulted here");
    assert_eq!(input.total_amount, Some(dec("43.18")));
    assert_eq!(input.ship_to_address.unwrap().city, "Austin");
    // Nothing unset is written: the body sent is the body built.
    let written = serde_json::to_value(fixture_as::<OrderInput>("order_create.request.json"));
    assert!(written.unwrap().get("SalesOrderNo").is_none());
}

fn fixture_as<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(fixture(name)).unwrap()
}

#[test]
fn the_order_create_answer_reads_as_a_sales_order() {
    let order: SalesOrder = golden("order_create.response.json", &[]);
    assert_eq!(order.sales_order_no, "0001234");
    assert_eq!(order.status, "Open");
    assert_eq!(order.ship_to_address.address2, "");
    let line = &order.line_items[0];
    assert_eq!(line.line_no, 1);
    assert_eq!(line.warehouse, "MAIN");
    assert_eq!(line.extended_amount, dec("39.98"));
    assert_eq!(line.qty_shipped, Decimal::ZERO);
    assert_eq!(line.restock, None);
    assert_eq!(order.tax_total, dec("3.2"));
    assert_eq!(order.total_amount, dec("43.18"));
    assert_eq!(order.row_version, 1);
    assert_eq!(order.last_modified, "2024-06-01T10:00:03Z");
}

#[test]
fn the_products_page_reads_as_products() {
    let page: ListPage<Product> = golden("products_list.response.json", &[]);
    assert_eq!(
        (page.page_size, page.total_count, page.has_more),
        (200, 1, false)
    );
    let p = &page.data[0];
    assert_eq!(p.item_code, "SKU-1001");
    assert_eq!(p.price, dec("19.99"));
    assert_eq!(p.cost, dec("7.10"));
    assert_eq!(p.weight, dec("0.5"));
    assert!(p.taxable && p.web_enabled);
    assert_eq!(p.default_warehouse, "MAIN");
    assert_eq!(p.row_version, 9);
}

#[test]
fn the_customer_reads_with_its_addresses_and_external_id() {
    let c: Customer = golden("customer.response.json", &[]);
    assert_eq!(c.customer_no, "DOEJ01");
    assert_eq!(c.email, "jane@example.com");
    assert_eq!(c.bill_to_address.address1, "1 Main St");
    assert_eq!(c.ship_to_address.zip, "78701");
    assert_eq!(c.payment_terms, "NET30");
    assert_eq!(c.credit_limit, Decimal::ZERO);
    assert!(!c.on_hold);
    assert_eq!(c.external_customer_id, "CUS-5001");
}

#[test]
fn the_stock_record_and_the_count_body_read() {
    let s: Inventory = golden("inventory.response.json", &[]);
    assert_eq!(
        (s.item_code.as_str(), s.warehouse.as_str()),
        ("SKU-1001", "MAIN")
    );
    assert_eq!(s.qty_on_hand, dec("42"));
    assert_eq!(s.qty_available, s.qty_on_hand - s.qty_committed);
    assert_eq!(s.row_version, 17);
    let count: InventoryAdjustment = golden("inventory_adjust.request.json", &[]);
    assert_eq!(count.qty_on_hand, Some(dec("40")));
    assert_eq!(count.reason, "CYCLECOUNT");
}

#[test]
fn invoice_requests_read_in_both_modes() {
    let all: InvoiceInput = golden("invoice_from_order.request.json", &[]);
    assert_eq!(all.sales_order_no.as_deref(), Some("0001234"));
    assert_eq!(all.lines, None, "no Lines: ship everything remaining");
    let some: InvoiceInput = golden("invoice_from_order_lines.request.json", &[]);
    let lines = some.lines.expect("Lines");
    assert_eq!((lines[0].line_no, lines[0].qty_shipped), (1, dec("2")));

    let credit: InvoiceInput = golden("credit_memo.request.json", &[]);
    assert_eq!(credit.invoice_type.as_deref(), Some("CreditMemo"));
    assert_eq!(credit.applies_to_invoice_no.as_deref(), Some("0009876"));
    assert_eq!(credit.customer_po.as_deref(), Some("RMA-5501"));
    let line = &credit.line_items[0];
    assert_eq!(line.quantity, Some(dec("-1")));
    assert_eq!(line.tax_amount, Some(dec("-1.60")));
    assert_eq!(line.restock, Some(true));
}

#[test]
fn the_invoice_answer_reads_without_addresses() {
    let inv: Invoice = golden("invoice.response.json", &[]);
    assert_eq!(inv.invoice_no, "0009876");
    assert_eq!(inv.invoice_type, "Invoice");
    assert_eq!(inv.due_date, "2024-07-02");
    assert_eq!(inv.sales_order_no.as_deref(), Some("0001234"));
    assert_eq!(inv.line_items[0].qty_shipped, dec("2"));
    assert_eq!(inv.balance_due, dec("43.18"));
    assert_eq!(inv.amount_paid, Decimal::ZERO);
    assert!(inv.ship_to_address.is_blank(), "absent in the example");
}

#[test]
fn the_error_examples_read_and_map_to_the_error_model() {
    for (name, code, field) in [
        (
            "error_validation.response.json",
            "VALIDATION_FAILED",
            "CustomerNo",
        ),
        (
            "error_unknown_customer.response.json",
            "VALIDATION_FAILED",
            "CustomerNo",
        ),
        (
            "error_record_locked.response.json",
            "RECORD_LOCKED",
            "SalesOrderNo",
        ),
    ] {
        let e: ErrorBody = golden(name, &[]);
        assert_eq!(e.error.code, code, "{name}");
        assert_eq!(e.error.details[0].field, field, "{name}");
        assert!(!e.error.request_id.is_empty(), "{name}");
    }
    let text = fixture("error_unknown_customer.response.json").to_string();
    let err = error_for_response(StatusCode::UNPROCESSABLE_ENTITY, None, "order CO-1", &text);
    assert!(matches!(err.class(), ErrorClass::Permanent), "{err:?}");
    assert_eq!(err.field(), Some("CustomerNo"));
    assert!(err.to_string().contains("ZZZ99"), "{err}");

    let text = fixture("error_record_locked.response.json").to_string();
    let err = error_for_response(
        StatusCode::CONFLICT,
        Some(Duration::from_secs(5)),
        "order CO-1",
        &text,
    );
    assert!(
        matches!(
            err.class(),
            ErrorClass::Transient { retry_after: Some(d) } if d == Duration::from_secs(5)
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Properties

/// N(12,2): cents up to 999999999.99, signed (credit memos go negative).
fn money() -> impl Strategy<Value = Decimal> {
    (-99_999_999_999_i64..=99_999_999_999).prop_map(|c| Decimal::new(c, 2))
}

/// N(12,4): ten-thousandths up to 99999999.9999.
fn quantity() -> impl Strategy<Value = Decimal> {
    (-999_999_999_999_i64..=999_999_999_999).prop_map(|u| Decimal::new(u, 4))
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..=max).prop_map(|c| c.into_iter().collect())
}

fn address() -> impl Strategy<Value = Address> {
    (
        (text(40), text(30), text(30), text(20)),
        (text(10), text(10), text(20), text(20), text(60)),
    )
        .prop_map(
            |((name, address1, address2, city), (state, zip, country, phone, email))| Address {
                name,
                address1,
                address2,
                city,
                state,
                zip,
                country,
                phone,
                email,
            },
        )
}

fn line_item() -> impl Strategy<Value = LineItem> {
    (
        (1_u32..=999, text(20), text(40), quantity(), money()),
        (money(), money(), text(6), money(), quantity()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(
                (line_no, item_code, description, quantity, unit_price),
                (tax_amount, discount, warehouse, extended_amount, qty_shipped),
                restock,
            )| LineItem {
                line_no,
                item_code,
                description,
                quantity,
                unit_price,
                tax_amount,
                discount,
                warehouse,
                extended_amount,
                qty_shipped,
                restock,
            },
        )
}

fn sales_order() -> impl Strategy<Value = SalesOrder> {
    (
        (text(10), text(10), text(10), text(10), text(10), text(20)),
        (proptest::option::of(text(30)), address(), address()),
        proptest::collection::vec(line_item(), 0..4),
        (money(), money(), money(), text(20), text(15), text(4)),
        (text(254), any::<i64>(), text(24)),
    )
        .prop_map(
            |(
                (sales_order_no, customer_no, order_date, order_type, status, customer_po),
                (external_order_id, ship_to_address, bill_to_address),
                line_items,
                (freight_amount, tax_total, total_amount, payment_terms, ship_via, sales_rep),
                (notes, row_version, last_modified),
            )| SalesOrder {
                sales_order_no,
                customer_no,
                order_date,
                order_type,
                status,
                customer_po,
                external_order_id,
                ship_to_address,
                bill_to_address,
                line_items,
                freight_amount,
                tax_total,
                total_amount,
                payment_terms,
                ship_via,
                sales_rep,
                notes,
                row_version,
                last_modified,
            },
        )
}

fn invoice() -> impl Strategy<Value = Invoice> {
    (
        (text(10), text(10), text(10), text(10), text(10)),
        (
            proptest::option::of(text(10)),
            text(20),
            proptest::option::of(text(10)),
            address(),
            address(),
        ),
        proptest::collection::vec(line_item(), 0..4),
        (money(), money(), money(), money(), money()),
        (text(20), text(13), any::<i64>(), text(24)),
    )
        .prop_map(
            |(
                (invoice_no, invoice_type, invoice_date, due_date, customer_no),
                (sales_order_no, customer_po, applies_to_invoice_no, ship_to, bill_to),
                line_items,
                (freight_amount, tax_total, total_amount, amount_paid, balance_due),
                (payment_terms, status, row_version, last_modified),
            )| Invoice {
                invoice_no,
                invoice_type,
                invoice_date,
                due_date,
                customer_no,
                sales_order_no,
                customer_po,
                applies_to_invoice_no,
                ship_to_address: ship_to,
                bill_to_address: bill_to,
                line_items,
                freight_amount,
                tax_total,
                total_amount,
                amount_paid,
                balance_due,
                payment_terms,
                status,
                row_version,
                last_modified,
            },
        )
}

fn customer() -> impl Strategy<Value = Customer> {
    (
        (text(10), text(40), text(30), text(60), text(20)),
        (address(), address(), text(20), text(6)),
        (money(), money(), any::<bool>(), text(8), text(30)),
        (any::<i64>(), text(24)),
    )
        .prop_map(
            |(
                (customer_no, company, contact, email, phone),
                (bill_to_address, ship_to_address, payment_terms, tax_code),
                (credit_limit, balance, on_hold, status, external_customer_id),
                (row_version, last_modified),
            )| Customer {
                customer_no,
                company,
                contact,
                email,
                phone,
                bill_to_address,
                ship_to_address,
                payment_terms,
                tax_code,
                credit_limit,
                balance,
                on_hold,
                status,
                external_customer_id,
                row_version,
                last_modified,
            },
        )
}

fn product() -> impl Strategy<Value = Product> {
    (
        (text(20), text(40), text(254), money(), money(), text(4)),
        // N(8,3): up to 99999.999.
        (0_i64..=99_999_999).prop_map(|w| Decimal::new(w, 3)),
        (text(4), any::<bool>(), text(8), text(6), any::<bool>()),
        (any::<i64>(), text(24)),
    )
        .prop_map(
            |(
                (item_code, description, extended_description, price, cost, unit_of_measure),
                weight,
                (product_line, taxable, status, default_warehouse, web_enabled),
                (row_version, last_modified),
            )| Product {
                item_code,
                description,
                extended_description,
                price,
                cost,
                unit_of_measure,
                weight,
                product_line,
                taxable,
                status,
                default_warehouse,
                web_enabled,
                row_version,
                last_modified,
            },
        )
}

fn inventory() -> impl Strategy<Value = Inventory> {
    (
        (text(20), text(6)),
        (quantity(), quantity(), quantity(), quantity(), quantity()),
        (any::<i64>(), text(24)),
    )
        .prop_map(
            |(
                (item_code, warehouse),
                (qty_on_hand, qty_committed, qty_on_order, qty_available, reorder_point),
                (row_version, last_modified),
            )| Inventory {
                item_code,
                warehouse,
                qty_on_hand,
                qty_committed,
                qty_on_order,
                qty_available,
                reorder_point,
                row_version,
                last_modified,
            },
        )
}

fn error_body() -> impl Strategy<Value = ErrorBody> {
    (
        text(30),
        text(80),
        proptest::collection::vec(
            (text(30), text(80), proptest::option::of(text(10))).prop_map(
                |(field, message, existing_key)| FieldDetail {
                    field,
                    message,
                    existing_key,
                },
            ),
            0..3,
        ),
        text(36),
    )
        .prop_map(|(code, message, details, request_id)| ErrorBody {
            error: ErrorDetail {
                code,
                message,
                details,
                request_id,
            },
        })
}

/// The value through JSON text and back, as a connector and the simulator
/// exchange it.
fn through_json<T: Serialize + DeserializeOwned>(value: &T) -> T {
    let text = serde_json::to_string(value).expect("serialises");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("reads back: {e}: {text}"))
}

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text(12).prop_map(Value::from),
        prop_oneof![Just("Error"), Just("Code"), Just("Details"), Just("Field")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("Error".to_owned()),
            Just("Code".to_owned()),
            Just("Message".to_owned()),
            Just("Details".to_owned()),
            Just("Field".to_owned()),
            Just("ExistingKey".to_owned()),
            Just("RequestId".to_owned()),
            text(8),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sales_orders_round_trip(order in sales_order()) {
        prop_assert_eq!(through_json(&order), order);
    }

    #[test]
    fn invoices_round_trip(inv in invoice()) {
        prop_assert_eq!(through_json(&inv), inv);
    }

    #[test]
    fn customers_round_trip(c in customer()) {
        prop_assert_eq!(through_json(&c), c);
    }

    #[test]
    fn products_round_trip(p in product()) {
        prop_assert_eq!(through_json(&p), p);
    }

    #[test]
    fn stock_round_trips(s in inventory()) {
        prop_assert_eq!(through_json(&s), s);
    }

    #[test]
    fn error_bodies_round_trip(e in error_body()) {
        prop_assert_eq!(through_json(&e), e);
    }

    /// Money written and read back is the same number of cents, to the cent.
    #[test]
    fn money_keeps_every_cent(amount in money()) {
        let text = serde_json::to_string(&OrderInput {
            total_amount: Some(amount),
            ..Default::default()
        })
        .unwrap();
        let back: OrderInput = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back.total_amount, Some(amount), "{}", text);
    }

    /// Whatever a server answers, the error is built and names the record.
    #[test]
    fn any_error_answer_maps_without_panicking(
        status in 400_u16..=599,
        body in json(),
        retry_after in proptest::option::of(0_u64..3600),
    ) {
        let status = StatusCode::from_u16(status).unwrap();
        let text = body.to_string();
        let err = error_for_response(
            status,
            retry_after.map(Duration::from_secs),
            "order CO-7",
            &text,
        );
        let message = err.to_string();
        // A 429 or lock carries its wait, not the record; everything else
        // names the record.
        if !err.is_transient() {
            prop_assert!(message.contains("order CO-7"), "{}", message);
        }
        // A body in the spec's shape gives its first field to a permanent error.
        if let Ok(parsed) = serde_json::from_str::<ErrorBody>(&text)
            && matches!(status.as_u16(), 400 | 412 | 422)
            && let Some(first) = parsed.error.details.first()
            && !first.field.is_empty()
        {
            prop_assert_eq!(err.field(), Some(first.field.as_str()));
        }
    }

    /// Arbitrary text is no error body, and never a panic.
    #[test]
    fn arbitrary_text_is_not_an_error_body(status in 400_u16..=599, raw in text(200)) {
        let status = StatusCode::from_u16(status).unwrap();
        let err = error_for_response(status, None, "customer DOEJ01", &raw);
        let _ = err.class();
    }
}
