//! Products (spec §3.2): the catalog the ERP keeps in step. `sku` is unique.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::docs::{self, IdRule, Kind, Unique};
use super::{ApiError, ApiResult, Bind};
use crate::SandboxState;

pub(crate) const STATUSES: &[&str] = &["active", "inactive", "discontinued"];

pub(crate) static PRODUCTS: Kind = Kind {
    entity: "product",
    path: "/products",
    table: "sim_clarity_products",
    id_col: "product_id",
    id_field: "productId",
    id_lower: false,
    ids: IdRule::Counter {
        name: "product",
        prefix: "P-",
        start: 10_000,
    },
    read_scope: "products:read",
    write_scope: "products:write",
    fields: &[
        "productId",
        "sku",
        "name",
        "description",
        "price",
        "currency",
        "status",
        "taxable",
        "weight",
        "weightUnit",
        "categories",
        "tags",
        "erpReferences",
        "version",
        "createdDate",
        "updatedDate",
    ],
    enums: &[("status", STATUSES)],
    writable: &[
        "sku",
        "name",
        "description",
        "price",
        "currency",
        "status",
        "taxable",
        "weight",
        "weightUnit",
        "categories",
        "tags",
        "erpReferences",
    ],
    unique: Some(Unique {
        column: "sku",
        field: "sku",
        lower: false,
    }),
    columns,
    counter: None,
    defaults,
    validate,
};

fn columns(doc: &Value) -> Vec<(&'static str, Bind)> {
    vec![
        (
            "sku",
            Bind::Text(doc["sku"].as_str().unwrap_or_default().to_owned()),
        ),
        (
            "status",
            Bind::Text(doc["status"].as_str().unwrap_or("active").to_owned()),
        ),
    ]
}

fn defaults(doc: &mut Map<String, Value>) {
    for (field, value) in [
        ("description", Value::Null),
        ("currency", json!("USD")),
        ("status", json!("active")),
        ("taxable", json!(true)),
        ("weight", Value::Null),
        ("weightUnit", Value::Null),
        ("categories", json!([])),
        ("tags", json!({})),
        ("erpReferences", json!({})),
    ] {
        doc.entry(field).or_insert(value);
    }
}

fn validate(doc: &Value) -> ApiResult<()> {
    docs::require_text(doc, "sku")?;
    if doc["sku"]
        .as_str()
        .is_some_and(|s| s.len() > 64 || s.contains('/'))
    {
        return Err(ApiError::validation(
            "sku",
            "INVALID",
            "a SKU is at most 64 characters, without '/'",
        ));
    }
    docs::require_text(doc, "name")?;
    docs::optional_text(doc, "description")?;
    docs::money(doc, "price", true)?;
    docs::currency(doc, "currency", true)?;
    docs::one_of(doc, "status", STATUSES)?;
    docs::boolean(doc, "taxable")?;
    match &doc["weight"] {
        Value::Null => {}
        Value::Number(n) if n.as_f64().is_some_and(|w| w >= 0.0) => {}
        _ => {
            return Err(ApiError::validation(
                "weight",
                "INVALID",
                "must be a number ≥ 0",
            ));
        }
    }
    docs::optional_text(doc, "weightUnit")?;
    docs::string_list(doc, "categories")?;
    docs::object(doc, "tags")?;
    docs::object(doc, "erpReferences")
}

/// `GET /products/{id}`, by product id or by SKU (the ERP's key).
pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = product_id_of(&state, &pair_id, &id).await?;
    docs::get(&state, &pair_id, &PRODUCTS, &headers, &id).await
}

async fn product_id_of(state: &SandboxState, pair_id: &str, id: &str) -> ApiResult<String> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT product_id FROM sim_clarity_products WHERE pair_id = $1 AND (product_id = $2 OR sku = $2) \
         ORDER BY CASE WHEN product_id = $2 THEN 0 ELSE 1 END",
    )
    .bind(pair_id)
    .bind(id)
    .fetch_optional(state.db.pool())
    .await?;
    Ok(row.map_or_else(|| id.to_owned(), |r| r.0))
}
