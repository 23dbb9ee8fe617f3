//! Coupons (spec §3.7), named by a case-insensitive code. `timesUsed` is
//! counted by the orders that use them, outside the coupon's version.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::docs::{self, IdRule, Kind};
use super::{ApiError, ApiResult, Bind};

const TYPES: &[&str] = &["percent", "fixed_amount", "free_shipping"];

pub(crate) static COUPONS: Kind = Kind {
    entity: "coupon",
    path: "/coupons",
    table: "sim_clarity_coupons",
    id_col: "code_lower",
    id_field: "couponCode",
    id_lower: true,
    ids: IdRule::FromBody,
    read_scope: "coupons:read",
    write_scope: "coupons:write",
    fields: &[
        "couponCode",
        "type",
        "value",
        "currency",
        "startsAt",
        "endsAt",
        "usageLimit",
        "timesUsed",
        "active",
        "appliesToSkus",
        "version",
        "createdDate",
        "updatedDate",
    ],
    enums: &[("type", TYPES)],
    writable: &[
        "type",
        "value",
        "currency",
        "startsAt",
        "endsAt",
        "usageLimit",
        "active",
        "appliesToSkus",
    ],
    unique: None,
    columns,
    counter: Some(("times_used", "timesUsed")),
    defaults,
    validate,
};

fn columns(_doc: &Value) -> Vec<(&'static str, Bind)> {
    Vec::new()
}

fn defaults(doc: &mut Map<String, Value>) {
    for (field, value) in [
        ("value", Value::Null),
        ("currency", Value::Null),
        ("startsAt", Value::Null),
        ("endsAt", Value::Null),
        ("usageLimit", Value::Null),
        ("active", json!(true)),
        ("appliesToSkus", json!([])),
    ] {
        doc.entry(field).or_insert(value);
    }
}

fn validate(doc: &Value) -> ApiResult<()> {
    docs::require_text(doc, "couponCode")?;
    let code = doc["couponCode"].as_str().unwrap_or_default();
    if code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(ApiError::validation(
            "couponCode",
            "INVALID",
            "letters, digits, '-' and '_', at most 64",
        ));
    }
    docs::one_of(doc, "type", TYPES)?;
    match doc["type"].as_str() {
        Some("percent") => {
            let pct = doc["value"]
                .as_str()
                .and_then(|v| v.parse::<Decimal>().ok());
            if !pct.is_some_and(|p| p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED) {
                return Err(ApiError::validation(
                    "value",
                    "INVALID",
                    "a percent coupon's value is a decimal string above 0 and at most 100",
                ));
            }
        }
        Some("fixed_amount") => {
            docs::money(doc, "value", true)?;
            docs::currency(doc, "currency", true)?;
        }
        _ => {}
    }
    docs::currency(doc, "currency", false)?;
    docs::time_or_null(doc, "startsAt")?;
    docs::time_or_null(doc, "endsAt")?;
    if let (Some(a), Some(b)) = (
        doc["startsAt"].as_str().and_then(super::parse_time_ms),
        doc["endsAt"].as_str().and_then(super::parse_time_ms),
    ) && b < a
    {
        return Err(ApiError::validation(
            "endsAt",
            "INVALID",
            "must not be before startsAt",
        ));
    }
    if !(doc["usageLimit"].is_null() || doc["usageLimit"].as_u64().is_some()) {
        return Err(ApiError::validation(
            "usageLimit",
            "INVALID",
            "must be a whole number ≥ 0, or null",
        ));
    }
    docs::boolean(doc, "active")?;
    docs::string_list(doc, "appliesToSkus")
}
