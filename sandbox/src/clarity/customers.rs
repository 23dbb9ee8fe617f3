//! Customers (spec §3.3). `email` is unique, case-insensitively: a second
//! create with a known email is 409 `CONFLICT` naming the `existingId`.

use serde_json::{Map, Value, json};

use super::docs::{self, IdRule, Kind, Unique};
use super::{ApiError, ApiResult, Bind};

pub(crate) const STATUSES: &[&str] = &["active", "disabled"];

pub(crate) static CUSTOMERS: Kind = Kind {
    entity: "customer",
    path: "/customers",
    table: "sim_clarity_customers",
    id_col: "customer_id",
    id_field: "customerId",
    id_lower: false,
    ids: IdRule::Counter {
        name: "customer",
        prefix: "CUS-",
        start: 6_000,
    },
    read_scope: "customers:read",
    write_scope: "customers:write",
    fields: &[
        "customerId",
        "email",
        "firstName",
        "lastName",
        "company",
        "phone",
        "billingAddress",
        "shippingAddresses",
        "taxExempt",
        "priceGroup",
        "currency",
        "status",
        "erpReferences",
        "version",
        "createdDate",
        "updatedDate",
    ],
    enums: &[("status", STATUSES)],
    writable: &[
        "email",
        "firstName",
        "lastName",
        "company",
        "phone",
        "billingAddress",
        "shippingAddresses",
        "taxExempt",
        "priceGroup",
        "currency",
        "status",
        "erpReferences",
    ],
    unique: Some(Unique {
        column: "email_lower",
        field: "email",
        lower: true,
    }),
    columns,
    counter: None,
    defaults,
    validate,
};

fn columns(doc: &Value) -> Vec<(&'static str, Bind)> {
    vec![
        (
            "email_lower",
            Bind::Text(doc["email"].as_str().unwrap_or_default().to_lowercase()),
        ),
        (
            "status",
            Bind::Text(doc["status"].as_str().unwrap_or("active").to_owned()),
        ),
    ]
}

fn defaults(doc: &mut Map<String, Value>) {
    for (field, value) in [
        ("firstName", Value::Null),
        ("lastName", Value::Null),
        ("company", Value::Null),
        ("phone", Value::Null),
        ("billingAddress", Value::Null),
        ("shippingAddresses", json!([])),
        ("taxExempt", json!(false)),
        ("priceGroup", json!("retail")),
        ("currency", json!("USD")),
        ("status", json!("active")),
        ("erpReferences", json!({})),
    ] {
        doc.entry(field).or_insert(value);
    }
}

fn validate(doc: &Value) -> ApiResult<()> {
    docs::require_text(doc, "email")?;
    let email = doc["email"].as_str().unwrap_or_default();
    let valid = email.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !host.starts_with('.')
    });
    if !valid || email.len() > 254 || email.contains(char::is_whitespace) {
        return Err(ApiError::validation(
            "email",
            "INVALID_FORMAT",
            "must be a valid email address",
        ));
    }
    for f in ["firstName", "lastName", "company", "phone", "priceGroup"] {
        docs::optional_text(doc, f)?;
    }
    if !(doc["billingAddress"].is_null() || doc["billingAddress"].is_object()) {
        return Err(ApiError::validation(
            "billingAddress",
            "INVALID_TYPE",
            "must be an address object",
        ));
    }
    match doc["shippingAddresses"].as_array() {
        Some(list) => {
            if let Some(i) = list.iter().position(|a| !a.is_object()) {
                return Err(ApiError::validation(
                    &format!("shippingAddresses[{i}]"),
                    "INVALID_TYPE",
                    "must be an address object",
                ));
            }
        }
        None => {
            return Err(ApiError::validation(
                "shippingAddresses",
                "INVALID_TYPE",
                "must be a list of addresses",
            ));
        }
    }
    docs::boolean(doc, "taxExempt")?;
    docs::currency(doc, "currency", true)?;
    docs::one_of(doc, "status", STATUSES)?;
    docs::object(doc, "erpReferences")
}
