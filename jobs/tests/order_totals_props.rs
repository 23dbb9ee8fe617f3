//! Property: for generated orders — any number of lines, whole and
//! fractional quantities, prices, line tax and discounts, a coupon, shipping,
//! tax-exclusive or tax-inclusive prices, in currencies with 0, 2 and 3
//! minor units — both ERPs' default templates, run through the whole
//! pipeline (conversions to the base currency included), produce lines and
//! subtotals that add up to the order total to the cent, and that total is
//! the source total (same currency) or within the per-line rounding of its
//! direct conversion.

use std::str::FromStr;

use connect_jobs::mapping::currency::{CurrencyCode, RateRow, RateTable};
use connect_jobs::mapping::pipeline::{MappingInputs, map_record};
use connect_jobs::mapping::validate::InMemoryReferences;
use connect_jobs::mapping::{CompiledTemplate, builtin_template, flow_target};
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

/// (code, minor units, rate to USD).
const CURRENCIES: [(&str, u32, &str); 4] = [
    ("USD", 2, "1"),
    ("JPY", 0, "0.0067"),
    ("KWD", 3, "3.2517"),
    ("EUR", 2, "1.0873"),
];

fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

fn text(d: Decimal, dp: u32) -> String {
    let mut d = round(d, dp);
    d.rescale(dp);
    d.to_string()
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        other => panic!("not an amount: {other}"),
    }
}

fn template(erp: &str, inclusive: bool) -> CompiledTemplate {
    let mut doc: Value = serde_json::from_str(builtin_template("orders", erp).unwrap()).unwrap();
    doc["settings"]["tax_prices"] = json!(if inclusive { "inclusive" } else { "exclusive" });
    CompiledTemplate::compile(&doc).unwrap()
}

fn rates() -> RateTable {
    RateTable::from_rows(
        CURRENCIES
            .iter()
            .filter(|c| c.0 != "USD")
            .map(|(code, _, rate)| RateRow {
                from: CurrencyCode::parse(code).unwrap(),
                to: CurrencyCode::parse("USD").unwrap(),
                date: time::macros::date!(2024 - 01 - 01),
                rate: Decimal::from_str(rate).unwrap(),
            }),
    )
    .unwrap()
}

/// One generated line: quantity (whole, or in ten-thousandths), unit price
/// in minor units, tax and discount as per-mille of the line amount.
type LineSpec = (u32, bool, i64, u32, u32);

/// A Clarity order that keeps Clarity's identities in its currency:
/// exclusive, total = subtotal − discount + shipping + tax; inclusive (the
/// tax is inside the prices), total = subtotal − discount + shipping.
fn order(
    currency: usize,
    inclusive: bool,
    lines: &[LineSpec],
    coupon: u32,
    shipping: i64,
) -> Value {
    let (code, dp, _) = CURRENCIES[currency];
    let minor = |n: i64| Decimal::new(n, dp);
    let mut items = Vec::new();
    let (mut subtotal, mut discounts, mut tax) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (i, &(q, whole, price, tax_pm, disc_pm)) in lines.iter().enumerate() {
        let qty = if whole {
            Decimal::from(q % 5 + 1)
        } else {
            Decimal::new(i64::from(q) + 1, 4)
        };
        let price = minor(price);
        let gross = round(qty * price, dp);
        let discount = round(gross * Decimal::new(i64::from(disc_pm), 3), dp);
        let line_tax = round((gross - discount) * Decimal::new(i64::from(tax_pm), 3), dp);
        subtotal += gross;
        discounts += discount;
        tax += line_tax;
        items.push(json!({
            "lineId": (i + 1).to_string(), "sku": format!("SKU-{}", 1001 + i), "name": format!("Item {i}"),
            "quantity": serde_json::Number::from_str(&qty.normalize().to_string()).unwrap(),
            "unitPrice": text(price, dp), "tax": text(line_tax, dp), "discount": text(discount, dp),
            "lineTotal": text(gross - discount, dp)
        }));
    }
    let coupon = round(
        (subtotal - discounts) * Decimal::new(i64::from(coupon), 3),
        dp,
    );
    let discount = discounts + coupon;
    let shipping = minor(shipping);
    let total = if inclusive {
        subtotal - discount + shipping
    } else {
        subtotal - discount + shipping + tax
    };
    let address = json!({"firstName": "A", "lastName": "B", "line1": "1 Main St", "city": "Austin", "region": "TX", "postalCode": "78701", "country": "US"});
    json!({
        "orderId": "CO-PROP", "customerId": "CUS-1", "orderDate": "2024-06-01T09:58:12Z", "currency": code,
        "subtotalAmount": text(subtotal, dp), "discountAmount": text(discount, dp),
        "shippingAmount": text(shipping, dp), "taxAmount": text(tax, dp), "totalAmount": text(total, dp),
        "shippingAddress": address, "billingAddress": address, "lineItems": items,
        "paymentInfo": {"method": "credit_card", "status": "captured", "amount": text(total, dp)},
        "couponCode": if coupon.is_zero() { Value::Null } else { json!("PROP") }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn both_erps_add_up_to_the_converted_total_to_the_cent(
        currency in 0usize..CURRENCIES.len(),
        inclusive in any::<bool>(),
        lines in prop::collection::vec(
            (0u32..60_000, any::<bool>(), 1i64..200_000, 0u32..250, prop_oneof![Just(0u32), 0u32..300]),
            1..6,
        ),
        coupon in prop_oneof![Just(0u32), 0u32..200],
        shipping in prop_oneof![Just(0i64), 0i64..5_000],
    ) {
        let source = order(currency, inclusive, &lines, coupon, shipping);
        let (rates, refs) = (rates(), InMemoryReferences::new());
        let inputs = MappingInputs { rates: &rates, catalog: None, references: &refs, history: None };

        let sp = map_record(&template("sagepro", inclusive), flow_target("orders", "sagepro"), "CO-PROP", &source, &inputs);
        prop_assert!(sp.issues.is_empty(), "{:?}\n{source}", sp.issues);
        let sp = sp.output.unwrap();
        // Sage Pro: Σ(round(Quantity × UnitPrice, 2) − Discount) + Σ TaxAmount + FreightAmount.
        let mut sum = dec(&sp["FreightAmount"]);
        for line in sp["LineItems"].as_array().unwrap() {
            sum += round(dec(&line["Quantity"]) * dec(&line["UnitPrice"]), 2)
                - dec(&line["Discount"]) + dec(&line["TaxAmount"]);
        }
        let total = dec(&sp["TotalAmount"]);
        prop_assert_eq!(sum, total, "{}", source);

        let ia = map_record(&template("intacct", inclusive), flow_target("orders", "intacct"), "CO-PROP", &source, &inputs);
        prop_assert!(ia.issues.is_empty(), "{:?}", ia.issues);
        let ia = ia.output.unwrap();
        prop_assert_eq!(&ia["currency"], &json!("USD"));
        // Intacct: Σ round(quantity × price, 2) + Σ subtotals.
        let mut sum = Decimal::ZERO;
        for line in ia["sotransitems"].as_array().unwrap() {
            sum += round(dec(&line["quantity"]) * dec(&line["price"]), 2);
        }
        for s in ia["subtotals"].as_array().unwrap() {
            sum += dec(&s["total"]);
        }
        prop_assert_eq!(sum, total, "{}", source);

        // The converted total is the source total in the same currency, and
        // otherwise within the rounding the ERP itself does line by line.
        let (_, _, rate) = CURRENCIES[currency];
        let direct = round(dec(&source["totalAmount"]) * Decimal::from_str(rate).unwrap(), 2);
        if currency == 0 {
            prop_assert_eq!(total, direct);
        } else {
            let units: Decimal = source["lineItems"].as_array().unwrap().iter().map(|l| dec(&l["quantity"]).ceil()).sum();
            let bound = Decimal::new(5, 3) * units + Decimal::new(1, 2) * Decimal::from(lines.len() * 2 + 4);
            prop_assert!((total - direct).abs() <= bound, "{total} vs {direct} (bound {bound})\n{source}");
        }
    }
}
