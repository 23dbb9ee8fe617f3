//! Clarity's JSON on the wire (spec §1–§4): camelCase, money as decimal
//! strings with two places, quantities as JSON numbers. Shared by the connector
//! and the sandbox simulator, so both sides read and write the same shapes.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The list envelope of every collection (spec §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub results: Vec<T>,
    pub page_index: u32,
    pub page_size: u32,
    pub total_count: u64,
    pub has_more: bool,
}

/// `POST /oauth/token` success body (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default)]
    pub scope: Option<String>,
}

/// `POST /oauth/token` error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// RFC 7807 problem body (spec §1, "Error body").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// On `409 CONFLICT` for a natural key: the record that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemField {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// Order (spec §3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    pub order_date: String,
    pub status: String,
    pub currency: String,
    pub subtotal_amount: Decimal,
    pub discount_amount: Decimal,
    pub shipping_amount: Decimal,
    pub tax_amount: Decimal,
    pub total_amount: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub shipping_address: Address,
    pub billing_address: Address,
    pub line_items: Vec<LineItem>,
    pub payment_info: PaymentInfo,
    pub coupon_code: Option<String>,
    #[serde(default)]
    pub erp_references: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub version: i64,
    pub created_date: String,
    pub updated_date: String,
}

impl Order {
    /// `totalAmount == subtotalAmount - discountAmount + shippingAmount + taxAmount`.
    pub fn totals_balance(&self) -> bool {
        self.subtotal_amount - self.discount_amount + self.shipping_amount + self.tax_amount
            == self.total_amount
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub line_id: String,
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(with = "json_number")]
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub tax: Decimal,
    pub discount: Decimal,
    pub line_total: Decimal,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInfo {
    pub method: String,
    pub status: String,
    pub amount: Decimal,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub card_brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub po_number: Option<String>,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default)]
    pub captured_at: Option<String>,
}

/// Product (spec §3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub price: Decimal,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub taxable: bool,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub weight_unit: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub tags: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub erp_references: serde_json::Map<String, serde_json::Value>,
    pub version: i64,
    pub created_date: String,
    pub updated_date: String,
}

/// Customer (spec §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub customer_id: String,
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub billing_address: Option<Address>,
    #[serde(default)]
    pub shipping_addresses: Vec<Address>,
    #[serde(default)]
    pub tax_exempt: bool,
    #[serde(default)]
    pub price_group: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    pub status: String,
    #[serde(default)]
    pub erp_references: serde_json::Map<String, serde_json::Value>,
    pub version: i64,
    pub created_date: String,
    pub updated_date: String,
}

/// One inventory record: a SKU at a location (spec §3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryRecord {
    pub sku: String,
    pub location_id: String,
    #[serde(with = "json_number")]
    pub quantity_on_hand: Decimal,
    #[serde(with = "json_number")]
    pub quantity_reserved: Decimal,
    #[serde(with = "json_number")]
    pub quantity_available: Decimal,
    pub backorderable: bool,
    #[serde(default)]
    pub version: i64,
    pub updated_date: String,
}

/// `GET /inventory/{sku}`: every location of one SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryLevels {
    pub sku: String,
    pub locations: Vec<InventoryRecord>,
}

/// `PUT /inventory/{sku}/locations/{locationId}` body: an absolute level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySet {
    #[serde(with = "json_number")]
    pub quantity_on_hand: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
}

/// `POST /inventory/adjustments` body: a relative change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryAdjustment {
    pub sku: String,
    pub location_id: String,
    #[serde(with = "json_number")]
    pub delta: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
}

/// Shipment (spec §3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    pub shipment_id: String,
    pub order_id: String,
    pub carrier: String,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub shipped_date: Option<String>,
    pub lines: Vec<ShipmentLine>,
    pub status: String,
    pub created_date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentLine {
    pub line_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(with = "json_number")]
    pub quantity: Decimal,
}

/// `POST /orders/{orderId}/shipments` body: the ERP's shipment and tracking.
/// No lines ships everything still open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewShipment {
    pub carrier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_date: Option<String>,
    #[serde(default)]
    pub lines: Vec<ShipmentLine>,
}

/// Return / RMA (spec §3.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Return {
    pub return_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    pub lines: Vec<ReturnLine>,
    pub refund_amount: Decimal,
    pub currency: String,
    #[serde(default)]
    pub refund_transaction_id: Option<String>,
    #[serde(default)]
    pub version: i64,
    pub created_date: String,
    pub updated_date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnLine {
    pub line_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(with = "json_number")]
    pub quantity: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<Decimal>,
    #[serde(default = "restock_default")]
    pub restock: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

fn restock_default() -> bool {
    true
}

/// `POST /returns` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewReturn {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub lines: Vec<ReturnLine>,
}

/// `POST /returns/{returnId}/refund` body (spec §3.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub amount: Decimal,
}

/// Coupon (spec §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    pub coupon_code: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// A percent or an amount of money, as a decimal string.
    #[serde(default)]
    pub value: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub usage_limit: Option<u64>,
    #[serde(default)]
    pub times_used: u64,
    pub active: bool,
    #[serde(default)]
    pub applies_to_skus: Vec<String>,
    #[serde(default)]
    pub version: i64,
    pub updated_date: String,
}

/// `POST /webhooks` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCreate {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A webhook subscription as Clarity answers it; `secret` only on create and rotate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub webhook_id: String,
    /// The spec's `201` body (§4.1) leaves the url out: the caller sent it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
}

/// One webhook delivery body (spec §4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub api_version: String,
    pub attempt: u32,
    pub data: EventData,
    pub previous_attributes: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// Every event type a subscription may name (spec §4.2).
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

/// Every scope the token endpoint knows (spec §1).
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
    // Not in the spec's list, which has no scope for POST/PATCH /coupons.
    "coupons:write",
    "webhooks:manage",
];

/// Quantities: a [`Decimal`] written as a JSON number (an integer when it is
/// one), read from a number or a numeric string.
pub mod json_number {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        if value.fract().is_zero()
            && let Some(i) = value.to_i64()
        {
            return s.serialize_i64(i);
        }
        s.serialize_f64(value.to_f64().ok_or_else(|| {
            serde::ser::Error::custom("decimal out of the range of a JSON number")
        })?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(serde_json::Number),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(s) => s,
        };
        text.parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| D::Error::custom(format!("not a decimal number: {text}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_order() -> serde_json::Value {
        serde_json::json!({
          "orderId": "CO-100045", "customerId": "CUS-5001", "orderDate": "2024-06-01T09:58:12Z",
          "status": "processing", "currency": "USD",
          "subtotalAmount": "39.98", "discountAmount": "0.00", "shippingAmount": "0.00", "taxAmount": "3.20", "totalAmount": "43.18",
          "shippingAddress": { "firstName": "Jane", "lastName": "Doe", "line1": "1 Main St", "city": "Austin", "region": "TX", "postalCode": "78701", "country": "US" },
          "billingAddress":  { "firstName": "Jane", "lastName": "Doe", "line1": "1 Main St", "city": "Austin", "region": "TX", "postalCode": "78701", "country": "US" },
          "lineItems": [ { "lineId": "1", "sku": "SKU-1001", "name": "Widget", "quantity": 2, "unitPrice": "19.99", "tax": "3.20", "discount": "0.00", "lineTotal": "39.98" } ],
          "paymentInfo": { "method": "credit_card", "status": "captured", "amount": "43.18", "transactionId": "ch_3PabcXYZ", "gateway": "stripe", "cardBrand": "visa", "last4": "4242", "poNumber": null, "terms": null, "capturedAt": "2024-06-01T09:58:15Z" },
          "couponCode": null, "erpReferences": {}, "version": 3,
          "createdDate": "2024-06-01T09:58:12Z", "updatedDate": "2024-06-01T10:00:01Z"
        })
    }

    #[test]
    fn the_spec_example_order_round_trips_unchanged() {
        let json = spec_order();
        let order: Order = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(order.total_amount.to_string(), "43.18");
        assert_eq!(order.line_items[0].quantity, Decimal::from(2));
        assert!(order.totals_balance());
        assert_eq!(serde_json::to_value(&order).unwrap(), json);
    }

    #[test]
    fn fractional_quantities_are_numbers_and_money_stays_a_string() {
        let line: LineItem = serde_json::from_str(
            r#"{"lineId":"1","sku":"S","quantity":1.2500,"unitPrice":"2.00","tax":"0.00","discount":"0.00","lineTotal":"2.50"}"#,
        )
        .unwrap();
        assert_eq!(line.quantity.to_string(), "1.25");
        let out = serde_json::to_value(&line).unwrap();
        assert_eq!(out["quantity"], serde_json::json!(1.25));
        assert_eq!(out["unitPrice"], serde_json::json!("2.00"));
        assert!(serde_json::from_str::<LineItem>(
            r#"{"lineId":"1","sku":"S","quantity":1,"unitPrice":2.0,"tax":"0","discount":"0","lineTotal":"2"}"#
        )
        .is_err(), "money must be a string");
    }

    #[test]
    fn the_list_envelope_and_event_use_the_spec_names() {
        let page = Page {
            results: vec![1],
            page_index: 0,
            page_size: 50,
            total_count: 137,
            has_more: true,
        };
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            serde_json::json!({"results":[1],"pageIndex":0,"pageSize":50,"totalCount":137,"hasMore":true})
        );
        let event = WebhookEvent {
            id: "evt_1".into(),
            kind: "order.created".into(),
            created_at: "2024-06-01T10:00:01Z".into(),
            api_version: "v1".into(),
            attempt: 1,
            data: EventData {
                object: serde_json::json!({"orderId":"CO-1"}),
            },
            previous_attributes: None,
        };
        let v = serde_json::to_value(&event).unwrap();
        assert_eq!(v["type"], "order.created");
        assert_eq!(v["previousAttributes"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<WebhookEvent>(v).unwrap(), event);
    }

    #[test]
    fn a_problem_body_parses_with_its_field_errors() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"https://errors.clarity.example/validation","title":"Validation failed","status":422,
                "code":"VALIDATION_FAILED","detail":"lineItems[0].sku is unknown",
                "errors":[{"field":"lineItems[0].sku","code":"UNKNOWN_SKU","message":"SKU 'X-1' does not exist"}],
                "requestId":"req_1"}"#,
        )
        .unwrap();
        assert_eq!(p.errors[0].field, "lineItems[0].sku");
        assert_eq!(p.status, 422);
    }
}
