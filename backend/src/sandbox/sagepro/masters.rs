//! Item, customer and stock reads (spec §3.2–§3.4), with the spec's filters
//! and `ModifiedSince` paging.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;

use super::seed::QTY_SCALE;
use super::{SpError, SpResult, modified_since, paged, paging, with_etag};
use crate::sandbox::SandboxState;
use crate::sandbox::clarity::{Bind, Filter, ListParams, rfc3339_ms};

fn like_prefix(f: &mut Filter, column: &str, prefix: &str) {
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let p = f.push(Bind::Text(format!("{escaped}%")));
    f.clauses.push(format!("{column} LIKE {p} ESCAPE '\\'"));
}

fn like_contains(f: &mut Filter, expr: &str, part: &str) {
    let escaped = part
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let p = f.push(Bind::Text(format!("%{escaped}%")));
    f.clauses
        .push(format!("LOWER({expr}) LIKE {p} ESCAPE '\\'"));
}

fn upper_all(values: Vec<&str>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| v.trim().to_uppercase())
        .collect()
}

async fn one_body(
    state: &SandboxState,
    sql: &'static str,
    pair_id: &str,
    key: &str,
    what: &str,
) -> SpResult<Response> {
    let row: Option<(String,)> = sqlx::query_as(sql)
        .bind(pair_id)
        .bind(key.trim().to_uppercase())
        .fetch_optional(state.db.pool())
        .await?;
    let (body,) = row.ok_or_else(|| SpError::not_found(format!("{what} '{key}' not found")))?;
    let value: serde_json::Value = serde_json::from_str(&body).map_err(SpError::internal)?;
    Ok(with_etag(StatusCode::OK, &value))
}

/// `GET /products`: `ItemCode`, `ItemCodeStartsWith`, `Status`, `ProductLine`, `ModifiedSince`.
pub(super) async fn list_products(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> SpResult<Response> {
    let params = ListParams::parse(raw.as_deref());
    let page = paging(&params)?;
    let mut f = Filter::new(&pair_id);
    if let Some(t) = modified_since(&params)? {
        f.cond("last_modified", ">=", Bind::Int(t));
    }
    let codes = upper_all(params.all("ItemCode"));
    f.any_of(
        "item_code",
        &codes.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
    );
    if let Some(prefix) = params.one("ItemCodeStartsWith") {
        like_prefix(&mut f, "item_code", &prefix.trim().to_uppercase());
    }
    // Status and ProductLine live in the JSON body: filter in SQL on its text.
    if let Some(status) = params.one("Status") {
        like_contains(&mut f, "body", &format!("\"Status\":\"{status}\""));
    }
    if let Some(line) = params.one("ProductLine") {
        like_contains(
            &mut f,
            "body",
            &format!("\"ProductLine\":\"{}\"", line.to_uppercase()),
        );
    }
    paged(
        &state.db,
        "sim_sagepro_items",
        &f,
        "last_modified ASC, item_code ASC",
        page,
    )
    .await
}

pub(super) async fn get_product(
    State(state): State<SandboxState>,
    Path((pair_id, item_code)): Path<(String, String)>,
) -> SpResult<Response> {
    one_body(
        &state,
        "SELECT body FROM sim_sagepro_items WHERE pair_id = $1 AND item_code = $2",
        &pair_id,
        &item_code,
        "Item",
    )
    .await
}

/// `GET /customers`: `CustomerNo`, `Email`, `NameContains`, `ModifiedSince`.
pub(super) async fn list_customers(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> SpResult<Response> {
    let params = ListParams::parse(raw.as_deref());
    let page = paging(&params)?;
    let mut f = Filter::new(&pair_id);
    if let Some(t) = modified_since(&params)? {
        f.cond("last_modified", ">=", Bind::Int(t));
    }
    let nos = upper_all(params.all("CustomerNo"));
    f.any_of(
        "customer_no",
        &nos.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
    );
    let emails: Vec<String> = params
        .all("Email")
        .iter()
        .map(|e| e.trim().to_lowercase())
        .collect();
    f.any_of(
        "email_lower",
        &emails.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
    );
    if let Some(part) = params.one("NameContains") {
        like_contains(&mut f, "body", part);
    }
    paged(
        &state.db,
        "sim_sagepro_customers",
        &f,
        "last_modified ASC, customer_no ASC",
        page,
    )
    .await
}

pub(super) async fn get_customer(
    State(state): State<SandboxState>,
    Path((pair_id, customer_no)): Path<(String, String)>,
) -> SpResult<Response> {
    one_body(
        &state,
        "SELECT body FROM sim_sagepro_customers WHERE pair_id = $1 AND customer_no = $2",
        &pair_id,
        &customer_no,
        "Customer",
    )
    .await
}

type StockRow = (String, String, i64, i64, i64, i64, i64, i64);

const STOCK_COLUMNS: &str = "item_code, warehouse, qty_on_hand, qty_committed, qty_on_order, reorder_point, row_version, last_modified";

fn qty(v: i64) -> serde_json::Value {
    let d = Decimal::new(v, 4).normalize();
    if d.fract().is_zero() {
        serde_json::Value::from(v / QTY_SCALE)
    } else {
        serde_json::Value::from(d.to_string().parse::<f64>().unwrap_or(0.0))
    }
}

pub(crate) fn stock_json(r: &StockRow) -> serde_json::Value {
    let (item, wh, on_hand, committed, on_order, reorder, version, modified) = r;
    serde_json::json!({
        "ItemCode": item, "Warehouse": wh, "QtyOnHand": qty(*on_hand), "QtyCommitted": qty(*committed),
        "QtyOnOrder": qty(*on_order), "QtyAvailable": qty(on_hand - committed),
        "ReorderPoint": qty(*reorder), "RowVersion": version, "LastModified": rfc3339_ms(*modified),
    })
}

/// `GET /inventory`: `ItemCode`, `Warehouse`, `ModifiedSince`.
pub(super) async fn list_inventory(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> SpResult<Response> {
    let params = ListParams::parse(raw.as_deref());
    let (page, size) = paging(&params)?;
    let mut f = Filter::new(&pair_id);
    if let Some(t) = modified_since(&params)? {
        f.cond("last_modified", ">=", Bind::Int(t));
    }
    let codes = upper_all(params.all("ItemCode"));
    f.any_of(
        "item_code",
        &codes.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
    );
    let whs = upper_all(params.all("Warehouse"));
    f.any_of(
        "warehouse",
        &whs.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
    );
    let where_sql = f.where_sql();
    let (total,): (i64,) = {
        let mut q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM sim_sagepro_inventory WHERE {where_sql}"
        )));
        for b in &f.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q.fetch_one(state.db.pool()).await?
    };
    let limit = f.push(Bind::Int(size as i64));
    let offset = f.push(Bind::Int(size as i64 * (page as i64 - 1)));
    let mut q = sqlx::query_as::<_, StockRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {STOCK_COLUMNS} FROM sim_sagepro_inventory WHERE {where_sql} \
         ORDER BY last_modified, item_code, warehouse LIMIT {limit} OFFSET {offset}"
    )));
    for b in &f.binds {
        q = match b {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    let rows = q.fetch_all(state.db.pool()).await?;
    let seen = size as i64 * (page as i64 - 1) + rows.len() as i64;
    Ok(Json(serde_json::json!({
        "Data": rows.iter().map(stock_json).collect::<Vec<_>>(),
        "Page": page, "PageSize": size, "TotalCount": total, "HasMore": seen < total,
    }))
    .into_response())
}

/// `GET /inventory/{ItemCode}`: every warehouse of the item.
pub(super) async fn get_item_inventory(
    State(state): State<SandboxState>,
    Path((pair_id, item_code)): Path<(String, String)>,
) -> SpResult<Response> {
    let rows: Vec<StockRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {STOCK_COLUMNS} FROM sim_sagepro_inventory WHERE pair_id = $1 AND item_code = $2 ORDER BY warehouse"
    )))
    .bind(&pair_id)
    .bind(item_code.trim().to_uppercase())
    .fetch_all(state.db.pool())
    .await?;
    if rows.is_empty() {
        return Err(SpError::not_found(format!("Item '{item_code}' not found")));
    }
    Ok(Json(rows.iter().map(stock_json).collect::<Vec<_>>()).into_response())
}

/// `GET /inventory/{ItemCode}/{Warehouse}`.
pub(super) async fn get_inventory(
    State(state): State<SandboxState>,
    Path((pair_id, item_code, warehouse)): Path<(String, String, String)>,
) -> SpResult<Response> {
    let row: Option<StockRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {STOCK_COLUMNS} FROM sim_sagepro_inventory WHERE pair_id = $1 AND item_code = $2 AND warehouse = $3"
    )))
    .bind(&pair_id)
    .bind(item_code.trim().to_uppercase())
    .bind(warehouse.trim().to_uppercase())
    .fetch_optional(state.db.pool())
    .await?;
    let row = row.ok_or_else(|| {
        SpError::not_found(format!(
            "Item '{item_code}' has no stock record in '{warehouse}'"
        ))
    })?;
    Ok(with_etag(StatusCode::OK, &stock_json(&row)))
}
