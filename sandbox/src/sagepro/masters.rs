//! Items and stock (spec §3.2, §3.4): reads with the spec's filters and
//! `ModifiedSince` paging, product updates (items are created in Sage Pro
//! only) and physical counts, which record an adjustment transaction.

use super::wire::{InventoryAdjustment, Product, ProductUpdate};
use axum::Extension;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use super::access::Principal;
use super::idempotency::{IdemKey, answer};
use super::listing::{ListQuery, Sorting};
use super::lookup;
use super::rules::{check_len, check_money, one_of, qty_units};
use super::seed::QTY_SCALE;
use super::{SpError, SpResult, check_version, if_match, parse_body, with_etag};
use crate::SandboxState;
use crate::clarity::rfc3339_ms;
use connect_store::now_ms;

pub(super) async fn one_body(
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
    const SORTING: Sorting = Sorting {
        fields: &[("ItemCode", "item_code")],
        key: "item_code",
    };
    let mut q = ListQuery::parse(
        raw.as_deref(),
        &pair_id,
        state.db.kind(),
        &["ItemCode", "ItemCodeStartsWith", "Status", "ProductLine"],
        &SORTING,
    )?;
    q.codes("ItemCode", "item_code");
    if let Some(prefix) = q.params.one("ItemCodeStartsWith") {
        let prefix = prefix.trim().to_uppercase();
        q.starts_with("item_code", &prefix);
    }
    // Status and ProductLine live in the JSON body.
    let statuses = q.enum_values("Status", &["Active", "Inactive"])?;
    q.body_any_of("Status", &statuses);
    let lines: Vec<String> = q
        .params
        .all("ProductLine")
        .iter()
        .map(|l| l.trim().to_uppercase())
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    q.body_any_of("ProductLine", &lines);
    q.body_page(&state.db, "sim_sagepro_items").await
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

type StockRow = (String, String, i64, i64, i64, i64, i64, i64);

const STOCK_COLUMNS: &str = "item_code, warehouse, qty_on_hand, qty_committed, qty_on_order, reorder_point, row_version, last_modified";

pub(super) fn qty(v: i64) -> serde_json::Value {
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
    const SORTING: Sorting = Sorting {
        fields: &[
            ("ItemCode", "item_code"),
            ("Warehouse", "warehouse"),
            ("QtyOnHand", "qty_on_hand"),
            ("QtyCommitted", "qty_committed"),
            ("QtyOnOrder", "qty_on_order"),
            ("QtyAvailable", "(qty_on_hand - qty_committed)"),
            ("ReorderPoint", "reorder_point"),
        ],
        key: "item_code, warehouse",
    };
    let mut q = ListQuery::parse(
        raw.as_deref(),
        &pair_id,
        state.db.kind(),
        &["ItemCode", "Warehouse"],
        &SORTING,
    )?;
    q.codes("ItemCode", "item_code");
    q.codes("Warehouse", "warehouse");
    q.page_of(&state.db, "sim_sagepro_inventory", STOCK_COLUMNS, |row| {
        let r = <StockRow as sqlx::FromRow<'_, AnyRow>>::from_row(row)?;
        Ok(stock_json(&r))
    })
    .await
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

/// `PUT /products/{ItemCode}`: the editable fields; an unknown code is `404`
/// (item masters are maintained in Sage Pro).
pub(super) async fn update_product(
    State(state): State<SandboxState>,
    Path((pair_id, item_code)): Path<(String, String)>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    let code = item_code.trim().to_uppercase();
    let route = format!("PUT /products/{code}");
    let (raw, input): (_, ProductUpdate) = parse_body(&body, &super::PRODUCT_BODY)?;
    let idem = IdemKey::from_headers(&principal, &headers, route.clone(), &raw, false)?;
    let expected = if_match(&headers)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(idem) = &idem
        && let Some(replayed) = idem.replay(&mut tx, &pair_id, now).await?
    {
        return Ok(replayed);
    }
    let row: Option<(String,)> =
        sqlx::query_as("SELECT body FROM sim_sagepro_items WHERE pair_id = $1 AND item_code = $2")
            .bind(&pair_id)
            .bind(&code)
            .fetch_optional(&mut *tx)
            .await?;
    let (body,) = row.ok_or_else(|| SpError::not_found(format!("Item '{code}' not found")))?;
    let mut p: Product = serde_json::from_str(&body).map_err(SpError::internal)?;
    check_version(expected, p.row_version, "ItemCode", &code)?;
    let text =
        |v: &Option<String>, old: &str| v.as_deref().map(str::trim).unwrap_or(old).to_owned();
    p.description = text(&input.description, &p.description);
    check_len("Description", &p.description, 40)?;
    p.extended_description = text(&input.extended_description, &p.extended_description);
    check_len("ExtendedDescription", &p.extended_description, 254)?;
    if let Some(price) = input.price {
        check_money("Price", price, false)?;
        p.price = price.normalize();
    }
    p.unit_of_measure = text(&input.unit_of_measure, &p.unit_of_measure).to_uppercase();
    check_len("UnitOfMeasure", &p.unit_of_measure, 4)?;
    if let Some(weight) = input.weight {
        // N(8,3).
        if weight < Decimal::ZERO
            || weight.normalize().scale() > 3
            || weight >= Decimal::from(10_000)
        {
            return Err(SpError::validation(
                "Invalid Weight",
                "Weight",
                format!("Weight {weight} is not an N(8,3) value"),
            ));
        }
        p.weight = weight.normalize();
    }
    p.product_line = text(&input.product_line, &p.product_line).to_uppercase();
    check_len("ProductLine", &p.product_line, 4)?;
    if let Some(t) = input.taxable {
        p.taxable = t;
    }
    if let Some(status) = &input.status {
        p.status = one_of("Status", status.trim(), &["Active", "Inactive"])?;
    }
    p.default_warehouse = text(&input.default_warehouse, &p.default_warehouse).to_uppercase();
    lookup::warehouse(&mut tx, &pair_id, &p.default_warehouse, "DefaultWarehouse").await?;
    if let Some(w) = input.web_enabled {
        p.web_enabled = w;
    }
    p.row_version += 1;
    p.last_modified = rfc3339_ms(now);
    let value = serde_json::to_value(&p).map_err(SpError::internal)?;
    sqlx::query(
        "UPDATE sim_sagepro_items SET body = $3, row_version = $4, last_modified = $5 \
         WHERE pair_id = $1 AND item_code = $2",
    )
    .bind(&pair_id)
    .bind(&code)
    .bind(value.to_string())
    .bind(p.row_version)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if let Some(idem) = &idem {
        idem.record(&mut tx, &pair_id, StatusCode::OK, &value, now)
            .await?;
    }
    tx.commit().await?;
    Ok(answer(&route, StatusCode::OK, &value))
}

/// `PUT /inventory/{ItemCode}/{Warehouse}`: a physical count. `If-Match` is
/// required (a count against stale stock loses movements); `QtyCommitted`
/// cannot be set, and a count below it is refused, since availability may
/// not go negative.
pub(super) async fn adjust_inventory(
    State(state): State<SandboxState>,
    Path((pair_id, item_code, warehouse)): Path<(String, String, String)>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    let code = item_code.trim().to_uppercase();
    let wh = warehouse.trim().to_uppercase();
    let route = format!("PUT /inventory/{code}/{wh}");
    let (raw, input): (_, InventoryAdjustment) = parse_body(&body, &super::STOCK_COUNT_BODY)?;
    let idem = IdemKey::from_headers(&principal, &headers, route.clone(), &raw, false)?;
    let expected = if_match(&headers)?.ok_or_else(|| {
        SpError::bad_request("If-Match is required on a stock adjustment")
            .detail("If-Match", "send the ETag of the stock record")
    })?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(idem) = &idem
        && let Some(replayed) = idem.replay(&mut tx, &pair_id, now).await?
    {
        return Ok(replayed);
    }
    let row: Option<StockRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {STOCK_COLUMNS} FROM sim_sagepro_inventory WHERE pair_id = $1 AND item_code = $2 AND warehouse = $3"
    )))
    .bind(&pair_id)
    .bind(&code)
    .bind(&wh)
    .fetch_optional(&mut *tx)
    .await?;
    let mut row = row.ok_or_else(|| {
        SpError::not_found(format!("Item '{code}' has no stock record in '{wh}'"))
    })?;
    check_version(Some(expected), row.6, "ItemCode", &format!("{code}/{wh}"))?;
    let counted = input.qty_on_hand.ok_or_else(|| {
        SpError::validation(
            "QtyOnHand is required",
            "QtyOnHand",
            "QtyOnHand is required",
        )
    })?;
    let units = qty_units("QtyOnHand", counted)?;
    if units < 0 {
        return Err(SpError::validation(
            "Quantity cannot be negative",
            "QtyOnHand",
            format!("QtyOnHand {counted}"),
        ));
    }
    if units < row.3 {
        return Err(SpError::validation(
            "Quantity is below the committed quantity",
            "QtyOnHand",
            format!(
                "{counted} counted but {} is committed to open orders",
                qty(row.3)
            ),
        ));
    }
    let reason = input.reason.trim().to_uppercase();
    let reason = if reason.is_empty() {
        "ADJUST".to_owned()
    } else {
        reason
    };
    check_len("Reason", &reason, 10)?;
    let reference = input.reference.trim().to_owned();
    check_len("Reference", &reference, 30)?;
    let (number,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(MAX(adjustment_no), 0) + 1 FROM sim_sagepro_adjustments WHERE pair_id = $1",
    )
    .bind(&pair_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO sim_sagepro_adjustments (pair_id, adjustment_no, item_code, warehouse, qty_before, qty_after, \
         reason, reference, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(&pair_id)
    .bind(number)
    .bind(&code)
    .bind(&wh)
    .bind(row.2)
    .bind(units)
    .bind(&reason)
    .bind(&reference)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE sim_sagepro_inventory SET qty_on_hand = $4, row_version = row_version + 1, last_modified = $5 \
         WHERE pair_id = $1 AND item_code = $2 AND warehouse = $3",
    )
    .bind(&pair_id)
    .bind(&code)
    .bind(&wh)
    .bind(units)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    row.2 = units;
    row.6 += 1;
    row.7 = now;
    let value = stock_json(&row);
    if let Some(idem) = &idem {
        idem.record(&mut tx, &pair_id, StatusCode::OK, &value, now)
            .await?;
    }
    tx.commit().await?;
    Ok(answer(&route, StatusCode::OK, &value))
}
