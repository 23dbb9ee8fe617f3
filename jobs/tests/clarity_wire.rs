//! Clarity's wire types against the spec's own JSON (golden fixtures under
//! `tests/fixtures/clarity/`, see its README), and properties that must hold
//! for any input: generated records round-trip through JSON unchanged, money
//! staying a two-place string; the problem+json error mapping never panics.
//!
//! Case counts are bounded so CI time stays predictable; raise
//! `PROPTEST_CASES` locally to search longer.

use connect_jobs::connectors::ConnectorError;
use connect_jobs::connectors::clarity::ClarityClient;
use connect_jobs::connectors::clarity::signature::{self, SignatureError};
use connect_jobs::connectors::clarity::wire::{
    Address, Coupon, Customer, InventoryAdjustment, InventoryRecord, InventorySet, LineItem,
    NewShipment, Order, Page, PaymentInfo, Problem, Product, RefundRequest, Return, ReturnLine,
    Shipment, ShipmentLine, TokenError, TokenResponse, Webhook, WebhookCreate, WebhookEvent,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn fixture_text(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/clarity/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every field the spec shows in `spec` is in `out` with the same value. A
/// field may be absent from `out` only when the spec shows it as `null` and
/// marks it "or null" (`nullable`); fields `out` adds are not checked.
fn assert_keeps(spec: &Value, out: &Value, nullable: &[&str], at: &str) {
    match (spec, out) {
        (Value::Object(s), Value::Object(o)) => {
            for (key, value) in s {
                let here = format!("{at}.{key}");
                match o.get(key) {
                    Some(v) => assert_keeps(value, v, nullable, &here),
                    None => assert!(
                        value.is_null() && nullable.contains(&key.as_str()),
                        "{here} was lost (the spec shows {value})"
                    ),
                }
            }
        }
        (Value::Array(s), Value::Array(o)) => {
            assert_eq!(s.len(), o.len(), "{at}: the array changed length");
            for (i, (s, o)) in s.iter().zip(o).enumerate() {
                assert_keeps(s, o, nullable, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(spec, out, "{at} changed"),
    }
}

/// Parses `name` as `T`, writes it back and checks nothing was lost.
fn golden<T: DeserializeOwned + Serialize>(name: &str, nullable: &[&str]) -> T {
    let spec = fixture(name);
    let parsed: T = serde_json::from_value(spec.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let out = serde_json::to_value(&parsed).unwrap();
    assert_keeps(&spec, &out, nullable, name);
    parsed
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------
// Golden: the spec's examples (clarity.md §1–§5)

#[test]
fn the_specs_token_response_and_errors_read() {
    let token: TokenResponse = golden("token.response.json", &[]);
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.expires_in, 3600);
    assert_eq!(token.scope.as_deref(), Some("orders:read inventory:write"));
    // §1 writes the 400 bodies as one with `|` alternatives; the fixture
    // spells out each, plus the 401's.
    let errors: Vec<TokenError> = golden("token.errors.json", &[]);
    let codes: Vec<&str> = errors.iter().map(|e| e.error.as_str()).collect();
    assert_eq!(
        codes,
        [
            "invalid_request",
            "unsupported_grant_type",
            "invalid_scope",
            "invalid_client"
        ]
    );
}

#[test]
fn the_specs_validation_problem_names_its_field() {
    let problem: Problem = golden("problem.validation.json", &[]);
    assert_eq!(problem.status, 422);
    assert_eq!(problem.code, "VALIDATION_FAILED");
    assert_eq!(problem.errors[0].code, "UNKNOWN_SKU");
    assert_eq!(problem.request_id.as_deref(), Some("req_01HZY8..."));
    let err = ClarityClient::answer_error(422, None, &fixture_text("problem.validation.json"));
    assert!(matches!(err, ConnectorError::Validation { .. }), "{err:?}");
    assert_eq!(err.field(), Some("lineItems[0].sku"));
    assert!(!err.is_transient());
}

#[test]
fn the_specs_reused_key_problem_is_a_permanent_refusal() {
    let problem: Problem = golden("problem.idempotency_key_reused.json", &[]);
    assert_eq!(problem.code, "IDEMPOTENCY_KEY_REUSED");
    assert!(problem.errors.is_empty());
    let err = ClarityClient::answer_error(
        422,
        None,
        &fixture_text("problem.idempotency_key_reused.json"),
    );
    assert!(
        matches!(&err, ConnectorError::Refused { message, .. } if message.contains("IDEMPOTENCY_KEY_REUSED")),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[test]
fn the_specs_list_envelope_reads() {
    let page: Page<Value> = golden("list.envelope.json", &[]);
    assert_eq!(
        (page.page_index, page.page_size, page.total_count),
        (0, 50, 137)
    );
    assert!(page.has_more);
    assert_eq!(page.results.len(), 1);
}

#[test]
fn the_specs_order_reads_balances_and_keeps_every_field() {
    let order: Order = golden("order.json", &[]);
    assert_eq!(order.order_id, "CO-100045");
    assert_eq!(order.total_amount, dec("43.18"));
    assert!(order.totals_balance());
    let line = &order.line_items[0];
    assert_eq!(line.quantity, Decimal::from(2));
    assert_eq!(
        line.unit_price * line.quantity - line.discount,
        line.line_total
    );
    assert_eq!(order.payment_info.last4.as_deref(), Some("4242"));
    assert_eq!(order.shipping_address.region.as_deref(), Some("TX"));
    let out = serde_json::to_value(&order).unwrap();
    for money in ["subtotalAmount", "discountAmount", "totalAmount"] {
        assert!(out[money].is_string(), "{money} is a decimal string");
    }
    assert_eq!(out["discountAmount"], "0.00", "two places are kept");
    assert_eq!(out["lineItems"][0]["quantity"], json!(2), "a number");

    // §3.1's erpReferences example, as the connector writes it back.
    let mut with_refs = fixture("order.json");
    with_refs["erpReferences"] = fixture("order.erp_references.json");
    let order: Order = serde_json::from_value(with_refs.clone()).unwrap();
    assert_eq!(order.erp_references["intacct"]["recordNo"], 812);
    assert_keeps(
        &with_refs,
        &serde_json::to_value(&order).unwrap(),
        &[],
        "order",
    );
}

#[test]
fn the_specs_webhook_event_reads_with_an_order_inside() {
    let event: WebhookEvent = golden("event.order_created.json", &[]);
    assert_eq!(event.id, "evt_01HZY9A6J2K8");
    assert_eq!(event.kind, "order.created");
    assert_eq!(event.attempt, 1);
    assert_eq!(event.previous_attributes, None);
    assert_eq!(event.data.object["orderId"], "CO-100045");
    // The spec elides the object ("full Order as in §3.1"): put it in.
    let mut full = fixture("event.order_created.json");
    full["data"]["object"] = fixture("order.json");
    let event: WebhookEvent = serde_json::from_value(full).unwrap();
    let order: Order = serde_json::from_value(event.data.object).unwrap();
    assert!(order.totals_balance());
}

#[test]
fn the_specs_request_bodies_read() {
    let set: InventorySet = golden("inventory.set.json", &[]);
    assert_eq!(set.quantity_on_hand, Decimal::from(40));
    assert_eq!(set.reason.as_deref(), Some("erp_sync"));
    let set: InventorySet = golden("inventory.set.erp_sync.json", &[]);
    assert_eq!(
        set.source_ref.as_deref(),
        Some("intacct:ITEMWAREHOUSEINFO:WH1/SKU-1001")
    );
    let adjust: InventoryAdjustment = golden("inventory.adjustment.json", &[]);
    assert_eq!(adjust.delta, Decimal::from(-2));
    assert_eq!(adjust.location_id, "WH1");
    let ship: NewShipment = golden("shipment.create.json", &[]);
    assert_eq!(ship.tracking_number.as_deref(), Some("1Z999AA10123456784"));
    assert_eq!(ship.lines[0].quantity, Decimal::from(2));
    let refund: RefundRequest = golden("return.refund.json", &[]);
    assert_eq!(refund.amount, dec("19.99"));
    let hook: WebhookCreate = golden("webhook.create.json", &[]);
    assert_eq!(hook.events, ["order.created", "order.updated"]);
}

#[test]
fn the_specs_created_webhook_reads_without_its_url() {
    // §4.1 prints `"events":[...]`; the fixture lists the request's events.
    let hook: Webhook = golden("webhook.created.json", &[]);
    assert_eq!(hook.webhook_id, "wh_...");
    assert_eq!(hook.secret.as_deref(), Some("whsec_<base64-32-bytes>"));
    assert!(hook.active);
    assert!(hook.url.is_empty());
}

#[test]
fn records_with_every_field_of_the_specs_tables_keep_them() {
    let product: Product = golden("product.fields.json", &[]);
    assert_eq!(product.price, dec("19.99"));
    assert_eq!(product.weight, Some(1.5));
    assert_eq!(product.tags["color"], "blue");
    let customer: Customer = golden("customer.fields.json", &[]);
    assert_eq!(customer.shipping_addresses.len(), 1);
    assert_eq!(customer.erp_references, {
        let refs = fixture("customer.erp_references.json");
        refs.as_object().unwrap().clone()
    });
    let level: InventoryRecord = golden("inventory.fields.json", &[]);
    assert_eq!(
        level.quantity_on_hand - level.quantity_reserved,
        level.quantity_available
    );
    let shipment: Shipment = golden("shipment.fields.json", &[]);
    assert_eq!(shipment.status, "shipped");
    let rma: Return = golden("return.fields.json", &[]);
    assert_eq!(rma.lines[0].refund_amount, Some(dec("19.99")));
    assert!(!rma.lines[0].restock);
    let coupon: Coupon = golden("coupon.fields.json", &[]);
    assert_eq!(coupon.kind, "percent");
    assert_eq!(coupon.usage_limit, Some(1000));
}

/// The spec's signature example (§4.3) elides the digest and gives no
/// secret, so it cannot be checked; this vector was computed outside Rust
/// (Python's `hmac`, SHA-256 over `"<t>.<body>"` of the spec's event body)
/// with the spec's timestamp.
#[test]
fn a_signature_computed_elsewhere_over_the_specs_event_verifies() {
    let body = fixture_text("event.order_created.json");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let expected = "39c485d48cedff742c28241a2657f2edfc7d933d3169b298477272977f80842a";
    assert_eq!(
        signature::sign(secret, 1717236001, body.as_bytes()),
        expected
    );
    let header = format!("t=1717236001,v1={expected}");
    assert_eq!(
        signature::verify(&header, body.as_bytes(), &[secret], 1717236001 + 299, 300),
        Ok(1717236001)
    );
    assert_eq!(
        signature::verify(&header, body.as_bytes(), &[secret], 1717236001 + 301, 300),
        Err(SignatureError::Expired { age_secs: 301 })
    );
}

// ---------------------------------------------------------------------------
// Properties

/// Money: cents with two places, as the spec writes it.
fn money() -> impl Strategy<Value = Decimal> {
    (-10_000_000_000i64..10_000_000_000).prop_map(|c| Decimal::new(c, 2))
}

/// Quantities: up to four decimal places.
fn quantity() -> impl Strategy<Value = Decimal> {
    (-1_000_000_000i64..1_000_000_000, 0u32..=4).prop_map(|(n, scale)| Decimal::new(n, scale))
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,12}|\\PC{0,6}"
}

fn maybe_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn address() -> impl Strategy<Value = Address> {
    (
        (maybe_text(), maybe_text(), maybe_text(), maybe_text()),
        (maybe_text(), maybe_text(), maybe_text(), maybe_text()),
        (maybe_text(), maybe_text(), maybe_text()),
    )
        .prop_map(
            |(
                (first_name, last_name, company, line1),
                (line2, city, region, postal_code),
                (country, phone, email),
            )| Address {
                first_name,
                last_name,
                company,
                line1,
                line2,
                city,
                region,
                postal_code,
                country,
                phone,
                email,
            },
        )
}

fn line_item() -> impl Strategy<Value = LineItem> {
    (
        text(),
        text(),
        maybe_text(),
        maybe_text(),
        quantity(),
        (money(), money(), money(), money()),
    )
        .prop_map(
            |(
                line_id,
                sku,
                product_id,
                name,
                quantity,
                (unit_price, tax, discount, line_total),
            )| {
                LineItem {
                    line_id,
                    sku,
                    product_id,
                    name,
                    quantity,
                    unit_price,
                    tax,
                    discount,
                    line_total,
                }
            },
        )
}

fn payment() -> impl Strategy<Value = PaymentInfo> {
    (
        text(),
        text(),
        money(),
        (maybe_text(), maybe_text(), maybe_text(), maybe_text()),
        (maybe_text(), maybe_text(), maybe_text()),
    )
        .prop_map(
            |(
                method,
                status,
                amount,
                (transaction_id, gateway, card_brand, last4),
                (po_number, terms, captured_at),
            )| PaymentInfo {
                method,
                status,
                amount,
                transaction_id,
                gateway,
                card_brand,
                last4,
                po_number,
                terms,
                captured_at,
            },
        )
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // Quarters: exact in binary, so a float's text round-trips whatever
        // serde_json's float parsing does with longer ones.
        (-4_000_000i64..4_000_000).prop_map(|q| Value::from(q as f64 / 4.0)),
        text().prop_map(Value::from),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_map() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    proptest::collection::btree_map(text(), json_value(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn order() -> impl Strategy<Value = Order> {
    (
        (text(), text(), text(), text(), text()),
        (money(), money(), money(), money(), money()),
        (maybe_text(), maybe_text(), address(), address()),
        (
            proptest::collection::vec(line_item(), 0..4),
            payment(),
            maybe_text(),
            json_map(),
        ),
        (maybe_text(), any::<i64>(), text(), text()),
    )
        .prop_map(
            |(
                (order_id, customer_id, order_date, status, currency),
                (subtotal_amount, discount_amount, shipping_amount, tax_amount, total_amount),
                (email, channel, shipping_address, billing_address),
                (line_items, payment_info, coupon_code, erp_references),
                (notes, version, created_date, updated_date),
            )| Order {
                order_id,
                customer_id,
                order_date,
                status,
                currency,
                subtotal_amount,
                discount_amount,
                shipping_amount,
                tax_amount,
                total_amount,
                email,
                channel,
                shipping_address,
                billing_address,
                line_items,
                payment_info,
                coupon_code,
                erp_references,
                notes,
                version,
                created_date,
                updated_date,
            },
        )
}

fn return_line() -> impl Strategy<Value = ReturnLine> {
    (
        text(),
        maybe_text(),
        quantity(),
        proptest::option::of(money()),
        any::<bool>(),
        maybe_text(),
    )
        .prop_map(
            |(line_id, sku, quantity, refund_amount, restock, condition)| ReturnLine {
                line_id,
                sku,
                quantity,
                refund_amount,
                restock,
                condition,
            },
        )
}

fn inventory_record() -> impl Strategy<Value = InventoryRecord> {
    (
        text(),
        text(),
        (quantity(), quantity(), quantity()),
        any::<bool>(),
        any::<i64>(),
        text(),
    )
        .prop_map(
            |(
                sku,
                location_id,
                (on_hand, reserved, available),
                backorderable,
                version,
                updated,
            )| {
                InventoryRecord {
                    sku,
                    location_id,
                    quantity_on_hand: on_hand,
                    quantity_reserved: reserved,
                    quantity_available: available,
                    backorderable,
                    version,
                    updated_date: updated,
                }
            },
        )
}

fn shipment_line() -> impl Strategy<Value = ShipmentLine> {
    (text(), maybe_text(), quantity()).prop_map(|(line_id, sku, quantity)| ShipmentLine {
        line_id,
        sku,
        quantity,
    })
}

/// Through JSON text and back: the same value, and the same JSON.
fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_value(value).unwrap();
    let text = serde_json::to_string(value).unwrap();
    let back: T =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, value);
    prop_assert_eq!(serde_json::to_value(&back).unwrap(), json);
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn orders_round_trip_with_money_as_two_place_strings(order in order()) {
        round_trips(&order)?;
        let json = serde_json::to_value(&order).unwrap();
        prop_assert_eq!(&json["totalAmount"], &json!(order.total_amount.to_string()));
        for (i, line) in order.line_items.iter().enumerate() {
            let unit = json["lineItems"][i]["unitPrice"].as_str().unwrap();
            prop_assert_eq!(unit.rsplit_once('.').map(|(_, d)| d.len()), Some(2));
            prop_assert!(json["lineItems"][i]["quantity"].is_number());
            prop_assert_eq!(&line.unit_price.to_string(), unit);
        }
    }

    #[test]
    fn returns_inventory_and_shipments_round_trip(
        lines in proptest::collection::vec(return_line(), 0..4),
        refund in money(),
        record in inventory_record(),
        shipped in proptest::collection::vec(shipment_line(), 0..4),
        delta in quantity(),
    ) {
        let rma = Return {
            return_id: "RMA-1".into(),
            order_id: "CO-1".into(),
            customer_id: "CUS-1".into(),
            status: "requested".into(),
            reason: None,
            lines,
            refund_amount: refund,
            currency: "USD".into(),
            refund_transaction_id: None,
            version: 1,
            created_date: "2024-06-01T10:00:00Z".into(),
            updated_date: "2024-06-01T10:00:00Z".into(),
        };
        round_trips(&rma)?;
        round_trips(&record)?;
        round_trips(&NewShipment {
            carrier: "UPS".into(),
            service: None,
            tracking_number: Some("1Z".into()),
            tracking_url: None,
            shipped_date: None,
            lines: shipped,
        })?;
        round_trips(&InventoryAdjustment {
            sku: "SKU-1".into(),
            location_id: "WH1".into(),
            delta,
            reason: None,
            source_ref: None,
        })?;
        round_trips(&RefundRequest { amount: refund })?;
    }

    #[test]
    fn the_problem_mapping_never_panics_on_any_json(
        status in 100u16..=599,
        body in json_value(),
        retry in proptest::option::of(0u64..3600),
    ) {
        let text = body.to_string();
        let _ = serde_json::from_str::<Problem>(&text);
        let err = ClarityClient::answer_error(status, retry.map(std::time::Duration::from_secs), &text);
        if status >= 500 {
            prop_assert!(matches!(err, ConnectorError::Server { .. }), "{:?}", err);
        }
    }

    #[test]
    fn problem_shaped_bodies_of_any_types_never_panic(
        status in 400u16..=599,
        kind in json_value(),
        code in prop_oneof![
            Just(json!("VALIDATION_FAILED")),
            Just(json!("IDEMPOTENCY_IN_PROGRESS")),
            Just(json!("CONFLICT")),
            json_value(),
        ],
        errors in json_value(),
        detail in json_value(),
    ) {
        let body = json!({
            "type": kind, "title": "t", "status": status, "code": code,
            "detail": detail, "errors": errors, "existingId": null,
        });
        let text = body.to_string();
        let err = ClarityClient::answer_error(status, None, &text);
        // When the body is a problem Clarity could send, a validation
        // failure names its first field.
        if let Ok(p) = serde_json::from_str::<Problem>(&text)
            && status == 422
            && p.code == "VALIDATION_FAILED"
        {
            prop_assert_eq!(err.field(), p.errors.first().map(|f| f.field.as_str()));
        }
    }
}
