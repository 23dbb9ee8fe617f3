//! Sage Pro bridge JSON on the wire (spec §1–§3): PascalCase, money and
//! quantities as JSON numbers. Shared by the connector and the simulator.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The list envelope (spec §1, "Pagination").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPage<T> {
    pub data: Vec<T>,
    pub page: u32,
    pub page_size: u32,
    pub total_count: u64,
    pub has_more: bool,
}

/// `{"Error": {...}}`, every error's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: Vec<FieldDetail>,
    #[serde(default)]
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldDetail {
    pub field: String,
    pub message: String,
    /// On `409 DUPLICATE`: the key of the record that already holds the value
    /// (e.g. the existing `SalesOrderNo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_key: Option<String>,
}

/// Address (spec §2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Address {
    pub name: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
    pub phone: String,
    pub email: String,
}

impl Address {
    /// (field, value, max length) for the length rules.
    pub fn fields(&self) -> [(&'static str, &str, usize); 9] {
        [
            ("Name", &self.name, 40),
            ("Address1", &self.address1, 30),
            ("Address2", &self.address2, 30),
            ("City", &self.city, 20),
            ("State", &self.state, 10),
            ("Zip", &self.zip, 10),
            ("Country", &self.country, 20),
            ("Phone", &self.phone, 20),
            ("Email", &self.email, 60),
        ]
    }

    pub fn is_blank(&self) -> bool {
        self.fields().iter().all(|(_, v, _)| v.trim().is_empty())
    }
}

/// An order line as stored and answered (spec §2, LineItem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LineItem {
    pub line_no: u32,
    pub item_code: String,
    pub description: String,
    #[serde(with = "json_number")]
    pub quantity: Decimal,
    #[serde(with = "json_number")]
    pub unit_price: Decimal,
    #[serde(with = "json_number")]
    pub tax_amount: Decimal,
    #[serde(with = "json_number")]
    pub discount: Decimal,
    pub warehouse: String,
    #[serde(with = "json_number")]
    pub extended_amount: Decimal,
    #[serde(with = "json_number")]
    pub qty_shipped: Decimal,
    /// Credit-memo lines only: the returned quantity goes back on hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restock: Option<bool>,
}

/// A sales order as stored and answered (spec §3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SalesOrder {
    pub sales_order_no: String,
    pub customer_no: String,
    pub order_date: String,
    pub order_type: String,
    pub status: String,
    #[serde(rename = "CustomerPO")]
    pub customer_po: String,
    pub external_order_id: Option<String>,
    pub ship_to_address: Address,
    pub bill_to_address: Address,
    pub line_items: Vec<LineItem>,
    #[serde(with = "json_number")]
    pub freight_amount: Decimal,
    #[serde(with = "json_number")]
    pub tax_total: Decimal,
    #[serde(with = "json_number")]
    pub total_amount: Decimal,
    pub payment_terms: String,
    pub ship_via: String,
    pub sales_rep: String,
    pub notes: String,
    pub row_version: i64,
    pub last_modified: String,
}

/// `POST /orders` input: everything the client may send. Read-only fields are
/// accepted and ignored, as the spec says; `TotalAmount` is a check only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_order_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<String>,
    #[serde(
        default,
        rename = "CustomerPO",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_po: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_to_address: Option<Address>,
    #[serde(default)]
    pub line_items: Vec<LineInput>,
    #[serde(
        default,
        with = "opt_json_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub freight_amount: Option<Decimal>,
    #[serde(
        default,
        with = "opt_json_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_rep: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LineInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        with = "opt_json_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub quantity: Option<Decimal>,
    #[serde(
        default,
        with = "opt_json_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub unit_price: Option<Decimal>,
    #[serde(
        default,
        with = "opt_json_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub tax_amount: Option<Decimal>,
    #[serde(
        default,
        with = "opt_json_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restock: Option<bool>,
}

/// Product / item master (spec §3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Product {
    pub item_code: String,
    pub description: String,
    pub extended_description: String,
    #[serde(with = "json_number")]
    pub price: Decimal,
    #[serde(with = "json_number")]
    pub cost: Decimal,
    pub unit_of_measure: String,
    #[serde(with = "json_number")]
    pub weight: Decimal,
    pub product_line: String,
    pub taxable: bool,
    pub status: String,
    pub default_warehouse: String,
    pub web_enabled: bool,
    pub row_version: i64,
    pub last_modified: String,
}

/// Customer master (spec §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Customer {
    pub customer_no: String,
    pub company: String,
    pub contact: String,
    pub email: String,
    pub phone: String,
    pub bill_to_address: Address,
    pub ship_to_address: Address,
    pub payment_terms: String,
    pub tax_code: String,
    #[serde(with = "json_number")]
    pub credit_limit: Decimal,
    #[serde(with = "json_number")]
    pub balance: Decimal,
    pub on_hold: bool,
    pub status: String,
    pub external_customer_id: String,
    pub row_version: i64,
    pub last_modified: String,
}

/// `POST /customers` and `PUT /customers/{CustomerNo}` input (spec §3.3).
/// On a PUT an absent field keeps its value; read-only fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomerInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_to_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_to_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<String>,
    #[serde(with = "opt_json_number", skip_serializing_if = "Option::is_none")]
    pub credit_limit: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_hold: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_customer_id: Option<String>,
}

/// `PUT /products/{ItemCode}` input: the editable fields (spec §3.2). An
/// absent field keeps its value; read-only fields sent are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProductUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_description: Option<String>,
    #[serde(with = "opt_json_number", skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_of_measure: Option<String>,
    #[serde(with = "opt_json_number", skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_warehouse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_enabled: Option<bool>,
}

/// `PUT /inventory/{ItemCode}/{Warehouse}`: a physical count (spec §3.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InventoryAdjustment {
    #[serde(default, with = "opt_json_number")]
    pub qty_on_hand: Option<Decimal>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub reference: String,
}

/// An invoice or credit memo as stored and answered (spec §3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Invoice {
    pub invoice_no: String,
    pub invoice_type: String,
    pub invoice_date: String,
    pub due_date: String,
    pub customer_no: String,
    #[serde(default)]
    pub sales_order_no: Option<String>,
    #[serde(rename = "CustomerPO")]
    pub customer_po: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to_invoice_no: Option<String>,
    /// Absent in the spec's invoice example: read as blank.
    #[serde(default)]
    pub ship_to_address: Address,
    #[serde(default)]
    pub bill_to_address: Address,
    pub line_items: Vec<LineItem>,
    #[serde(with = "json_number")]
    pub freight_amount: Decimal,
    #[serde(with = "json_number")]
    pub tax_total: Decimal,
    #[serde(with = "json_number")]
    pub total_amount: Decimal,
    #[serde(with = "json_number")]
    pub amount_paid: Decimal,
    #[serde(with = "json_number")]
    pub balance_due: Decimal,
    pub payment_terms: String,
    pub status: String,
    pub row_version: i64,
    pub last_modified: String,
}

/// `POST /invoices` input (spec §3.5): either from an order (`SalesOrderNo`,
/// optional `Lines`) or direct/credit (`CustomerNo`, `LineItems`, `InvoiceType`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InvoiceInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_order_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_no: Option<String>,
    #[serde(rename = "CustomerPO", skip_serializing_if = "Option::is_none")]
    pub customer_po: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applies_to_invoice_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_to_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_to_address: Option<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<LineInput>,
    /// From an order: what ships now; absent means everything remaining.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<ShipLine>>,
    #[serde(with = "opt_json_number", skip_serializing_if = "Option::is_none")]
    pub freight_amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
}

/// One order line shipped on an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShipLine {
    pub line_no: u32,
    #[serde(with = "json_number")]
    pub qty_shipped: Decimal,
}

/// Stock of one item in one warehouse (spec §3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inventory {
    pub item_code: String,
    pub warehouse: String,
    #[serde(with = "json_number")]
    pub qty_on_hand: Decimal,
    #[serde(with = "json_number")]
    pub qty_committed: Decimal,
    #[serde(with = "json_number")]
    pub qty_on_order: Decimal,
    #[serde(with = "json_number")]
    pub qty_available: Decimal,
    #[serde(with = "json_number")]
    pub reorder_point: Decimal,
    pub row_version: i64,
    pub last_modified: String,
}

/// A [`Decimal`] as a JSON number (an integer when whole), read from a number
/// or a numeric string. Money keeps at most two places, so `f64` carries it
/// exactly to the text serde_json writes.
pub mod json_number {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        let value = value.normalize();
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
        Raw::deserialize(d)?.decimal()
    }

    /// A number as sent: a JSON number or a numeric string.
    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Raw {
        Number(serde_json::Number),
        Text(String),
    }

    impl Raw {
        pub(super) fn decimal<E: Error>(self) -> Result<Decimal, E> {
            let text = match self {
                Raw::Number(n) => n.to_string(),
                Raw::Text(s) => s,
            };
            parse(&text).ok_or_else(|| E::custom(format!("not a decimal number: {text}")))
        }
    }

    pub(super) fn parse(text: &str) -> Option<Decimal> {
        text.trim()
            .parse::<Decimal>()
            .ok()
            .or_else(|| Decimal::from_scientific(text.trim()).ok())
    }
}

/// `Option<Decimal>` as an optional JSON number; `null` and absence are `None`.
pub mod opt_json_number {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::json_number::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Option::<super::json_number::Raw>::deserialize(d)?
            .map(super::json_number::Raw::decimal)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_order_response_round_trips_unchanged() {
        let json = serde_json::json!({
          "SalesOrderNo": "0001234", "CustomerNo": "DOEJ01", "OrderDate": "2024-06-01", "OrderType": "Standard", "Status": "Open",
          "CustomerPO": "CO-100045", "ExternalOrderId": "clarity:CO-100045",
          "ShipToAddress": { "Name": "Jane Doe", "Address1": "1 Main St", "Address2": "", "City": "Austin", "State": "TX", "Zip": "78701", "Country": "US", "Phone": "", "Email": "" },
          "BillToAddress": { "Name": "Jane Doe", "Address1": "1 Main St", "Address2": "", "City": "Austin", "State": "TX", "Zip": "78701", "Country": "US", "Phone": "", "Email": "" },
          "LineItems": [ { "LineNo": 1, "ItemCode": "SKU-1001", "Description": "WIDGET", "Quantity": 2, "UnitPrice": 19.99, "TaxAmount": 3.20,
                           "Discount": 0, "Warehouse": "MAIN", "ExtendedAmount": 39.98, "QtyShipped": 0 } ],
          "FreightAmount": 0, "TaxTotal": 3.20, "TotalAmount": 43.18, "PaymentTerms": "NET30",
          "ShipVia": "", "SalesRep": "", "Notes": "", "RowVersion": 1, "LastModified": "2024-06-01T10:00:03Z"
        });
        let order: SalesOrder = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(order.total_amount.to_string(), "43.18");
        assert_eq!(order.line_items[0].extended_amount.to_string(), "39.98");
        assert_eq!(serde_json::to_value(&order).unwrap(), json);
    }

    #[test]
    fn the_spec_example_create_body_parses_as_input() {
        let input: OrderInput = serde_json::from_value(serde_json::json!({
          "CustomerNo": "DOEJ01", "OrderDate": "2024-06-01", "OrderType": "Standard",
          "CustomerPO": "CO-100045", "ExternalOrderId": "clarity:CO-100045",
          "ShipToAddress": { "Name": "Jane Doe", "Address1": "1 Main St", "City": "Austin", "State": "TX", "Zip": "78701", "Country": "US" },
          "LineItems": [ { "ItemCode": "SKU-1001", "Quantity": 2, "UnitPrice": 19.99, "TaxAmount": 3.20 } ],
          "FreightAmount": 0, "TotalAmount": 43.18, "PaymentTerms": "NET30"
        }))
        .unwrap();
        assert_eq!(input.line_items[0].unit_price.unwrap().to_string(), "19.99");
        assert_eq!(input.line_items[0].discount, None);
        assert_eq!(input.bill_to_address, None);
        assert_eq!(
            input.ship_to_address.unwrap().address2,
            "",
            "absent address fields default to empty"
        );
    }

    #[test]
    fn an_error_body_reads_its_first_field() {
        let e: ErrorBody = serde_json::from_str(
            r#"{ "Error": { "Code": "VALIDATION_FAILED", "Message": "Invalid Customer Number",
              "Details": [ { "Field": "CustomerNo", "Message": "Customer 'ZZZ99' does not exist" } ], "RequestId": "b0c4" } }"#,
        )
        .unwrap();
        assert_eq!(e.error.details[0].field, "CustomerNo");
        assert_eq!(e.error.details[0].existing_key, None);
    }

    #[test]
    fn list_envelope_uses_pascal_case() {
        let page = ListPage {
            data: vec![serde_json::json!({"ItemCode":"SKU-1001"})],
            page: 1,
            page_size: 200,
            total_count: 1,
            has_more: false,
        };
        let v = serde_json::to_value(&page).unwrap();
        assert_eq!(v["TotalCount"], 1);
        assert_eq!(v["HasMore"], false);
    }
}
