//! The Clarity simulator's JSON, written from `shared/specs/clarity.md` and
//! nothing else: the list envelope (§2), the problem body (§1), the order
//! (§3.1), webhook subscriptions (§4.1), event types (§4.2) and scopes (§1).
//!
//! The connector has its own types for the same shapes
//! (`connect_jobs::connectors::clarity::wire`); the two are kept apart on
//! purpose, so that a misreading of the spec on one side shows up as a
//! failing contract test (`tests/contract_wire.rs`) instead of passing on both.
//! Only what the simulator writes is `Serialize`, only what it reads is
//! `Deserialize`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"results": […], "pageIndex", "pageSize", "totalCount", "hasMore"}` (§2).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub results: Vec<T>,
    pub page_index: u32,
    pub page_size: u32,
    pub total_count: u64,
    pub has_more: bool,
}

/// RFC 7807 `application/problem+json` (§1, "Error body").
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// §6: a `409 CONFLICT` on a natural key names the record holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<String>,
}

/// One entry of `errors[]`: `{"field", "code", "message"}`.
#[derive(Debug, Serialize)]
pub struct ProblemField {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// The last path segment of a problem's `type` URI. The spec shows two
/// (`/validation`, `/idempotency`); the other codes get their own name.
pub fn problem_type(code: &str) -> String {
    let slug = match code {
        "VALIDATION_FAILED" => "validation".to_owned(),
        "IDEMPOTENCY_KEY_REUSED" | "IDEMPOTENCY_IN_PROGRESS" => "idempotency".to_owned(),
        other => other.to_lowercase().replace('_', "-"),
    };
    format!("https://errors.clarity.example/{slug}")
}

/// An order as `GET /orders/{orderId}` answers it (§3.1). Money is a decimal
/// string with two places; quantities are JSON numbers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    pub order_date: String,
    pub status: String,
    pub currency: String,
    #[serde(serialize_with = "money")]
    pub subtotal_amount: Decimal,
    #[serde(serialize_with = "money")]
    pub discount_amount: Decimal,
    #[serde(serialize_with = "money")]
    pub shipping_amount: Decimal,
    #[serde(serialize_with = "money")]
    pub tax_amount: Decimal,
    #[serde(serialize_with = "money")]
    pub total_amount: Decimal,
    pub email: String,
    pub channel: String,
    pub shipping_address: Address,
    pub billing_address: Address,
    pub line_items: Vec<LineItem>,
    pub payment_info: PaymentInfo,
    /// Always present, `null` without a coupon (the spec's example).
    pub coupon_code: Option<String>,
    pub erp_references: serde_json::Map<String, serde_json::Value>,
    /// The one free-text field `PATCH` sets (§3.1); `null` until then.
    pub notes: Option<String>,
    pub version: i64,
    pub created_date: String,
    pub updated_date: String,
}

impl Order {
    /// §3.1's identity: `totalAmount = subtotalAmount - discountAmount +
    /// shippingAmount + taxAmount`.
    pub fn totals_balance(&self) -> bool {
        self.subtotal_amount - self.discount_amount + self.shipping_amount + self.tax_amount
            == self.total_amount
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub line_id: String,
    pub sku: String,
    pub product_id: String,
    pub name: String,
    #[serde(serialize_with = "quantity")]
    pub quantity: Decimal,
    #[serde(serialize_with = "money")]
    pub unit_price: Decimal,
    #[serde(serialize_with = "money")]
    pub tax: Decimal,
    #[serde(serialize_with = "money")]
    pub discount: Decimal,
    #[serde(serialize_with = "money")]
    pub line_total: Decimal,
}

/// An address; fields the shopper left empty are left out.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `paymentInfo`: the spec types the optional fields "string or null", so they
/// are always present.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInfo {
    pub method: String,
    pub status: String,
    #[serde(serialize_with = "money")]
    pub amount: Decimal,
    pub transaction_id: Option<String>,
    pub gateway: Option<String>,
    pub card_brand: Option<String>,
    pub last4: Option<String>,
    pub po_number: Option<String>,
    pub terms: Option<String>,
    pub captured_at: Option<String>,
}

/// `POST /webhooks` body (§4.1).
#[derive(Debug, Deserialize)]
pub struct WebhookCreate {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A subscription; `secret` only in the answer that creates or rotates it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: String,
}

/// §4.2, in the spec's order.
pub const EVENT_TYPES: &[&str] = &[
    "order.created",
    "order.updated",
    "order.cancelled",
    "order.paid",
    "order.refunded",
    "product.created",
    "product.updated",
    "product.deleted",
    "customer.created",
    "customer.updated",
    "inventory.updated",
    "shipment.created",
    "shipment.updated",
    "return.created",
    "return.updated",
    "return.refunded",
    "coupon.created",
    "coupon.updated",
    "ping",
];

/// §1's scopes, plus `coupons:write`: the spec lets clients create and patch
/// coupons (§3.7) but names no scope for it.
pub const SCOPES: &[&str] = &[
    "orders:read",
    "orders:write",
    "products:read",
    "products:write",
    "customers:read",
    "customers:write",
    "inventory:read",
    "inventory:write",
    "shipments:write",
    "returns:read",
    "returns:write",
    "coupons:read",
    "coupons:write",
    "webhooks:manage",
];

/// Money: a decimal string with exactly two places (§1, `"19.99"`, `"0.00"`).
fn money<S: serde::Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{value:.2}"))
}

/// A quantity as a JSON number: an integer when it is whole (`2`, not `2.0`),
/// else a float with the decimal's digits (§1: "up to 4 decimal places").
fn quantity<S: serde::Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    use rust_decimal::prelude::ToPrimitive;
    let value = value.normalize();
    if value.scale() == 0
        && let Some(whole) = value.to_i64()
    {
        return s.serialize_i64(whole);
    }
    match value.to_f64() {
        Some(f) => s.serialize_f64(f),
        None => Err(serde::ser::Error::custom(
            "quantity out of a JSON number's range",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_quantity_is_an_integer_and_money_a_two_place_string() {
        let line = LineItem {
            line_id: "1".into(),
            sku: "SKU-1001".into(),
            product_id: "P-1001".into(),
            name: "Widget".into(),
            quantity: Decimal::new(200, 2),
            unit_price: Decimal::new(1999, 2),
            tax: Decimal::new(320, 2),
            discount: Decimal::new(0, 2),
            line_total: Decimal::new(3998, 2),
        };
        let v = serde_json::to_value(&line).expect("serializes");
        assert_eq!(v["quantity"], serde_json::json!(2));
        assert_eq!(v["unitPrice"], "19.99");
        assert_eq!(v["discount"], "0.00");
        let half = LineItem {
            quantity: Decimal::new(125, 2),
            ..line
        };
        assert_eq!(
            serde_json::to_value(&half).expect("serializes")["quantity"],
            serde_json::json!(1.25)
        );
    }

    #[test]
    fn the_spec_examples_problem_types_are_used() {
        assert_eq!(
            problem_type("VALIDATION_FAILED"),
            "https://errors.clarity.example/validation"
        );
        assert_eq!(
            problem_type("IDEMPOTENCY_KEY_REUSED"),
            "https://errors.clarity.example/idempotency"
        );
        assert_eq!(
            problem_type("NOT_FOUND"),
            "https://errors.clarity.example/not-found"
        );
    }
}
