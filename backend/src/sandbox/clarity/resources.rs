//! The store's other resources (spec §3.2–§3.7): products, customers,
//! inventory, coupons (reads and incremental lists), inventory write-back,
//! and shipments recorded from the ERP (idempotent POST, spec §6).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use sha2::Digest;

use super::orders::{if_match, load as load_order, save_changed};
use super::{
    ApiError, ApiResult, Bind, Filter, ListParams, authorize, paged, rfc3339_ms, webhooks,
};
use crate::db::{is_unique_violation, now_ms};
use crate::sandbox::SandboxState;

fn body_of(row: Option<(String,)>, what: &str) -> ApiResult<Response> {
    let (body,) = row.ok_or_else(|| ApiError::not_found(format!("{what} does not exist")))?;
    let value: serde_json::Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
    let mut r = Json(&value).into_response();
    if let Some(v) = value.get("version").and_then(|v| v.as_i64())
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        r.headers_mut().insert(header::ETAG, h);
    }
    Ok(r)
}

fn updated_range(params: &ListParams, f: &mut Filter) -> ApiResult<()> {
    if let Some(min) = params.time("updatedDateMin")? {
        f.cond("updated_at", ">=", Bind::Int(min));
    }
    if let Some(max) = params.time("updatedDateMax")? {
        f.cond("updated_at", "<=", Bind::Int(max));
    }
    Ok(())
}

fn starts_with(f: &mut Filter, column: &str, prefix: Option<&str>) {
    if let Some(p) = prefix {
        let escaped = p
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let ph = f.push(Bind::Text(format!("{escaped}%")));
        f.clauses.push(format!("{column} LIKE {ph} ESCAPE '\\'"));
    }
}

// --- products ----------------------------------------------------------------

pub(super) async fn list_products(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "products:read").await?;
    let params = ListParams::parse(raw.as_deref());
    let paging = params.paging()?;
    let mut f = Filter::new(&pair_id);
    updated_range(&params, &mut f)?;
    f.any_of("sku", &params.all("sku"), false);
    f.any_of("status", &params.all("status"), false);
    f.any_of("status", &params.all("NotStatus"), true);
    starts_with(&mut f, "sku", params.one("skuStartsWith"));
    Ok(paged(
        &state,
        "sim_clarity_products",
        &f,
        "updated_at ASC, product_id ASC",
        paging,
    )
    .await?
    .into_response())
}

pub(super) async fn get_product(
    State(state): State<SandboxState>,
    Path((pair_id, product_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "products:read").await?;
    let row = sqlx::query_as(
        "SELECT body FROM sim_clarity_products WHERE pair_id = $1 AND (product_id = $2 OR sku = $2)",
    )
    .bind(&pair_id)
    .bind(&product_id)
    .fetch_optional(state.db.pool())
    .await?;
    body_of(row, &format!("product {product_id}"))
}

// --- customers ---------------------------------------------------------------

pub(super) async fn list_customers(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "customers:read").await?;
    let params = ListParams::parse(raw.as_deref());
    let paging = params.paging()?;
    let mut f = Filter::new(&pair_id);
    updated_range(&params, &mut f)?;
    f.any_of("customer_id", &params.all("customerId"), false);
    let emails: Vec<String> = params
        .all("email")
        .iter()
        .map(|e| e.to_lowercase())
        .collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    f.any_of("email_lower", &emails, false);
    f.any_of("status", &params.all("status"), false);
    Ok(paged(
        &state,
        "sim_clarity_customers",
        &f,
        "updated_at ASC, customer_id ASC",
        paging,
    )
    .await?
    .into_response())
}

pub(super) async fn get_customer(
    State(state): State<SandboxState>,
    Path((pair_id, customer_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "customers:read").await?;
    let row = sqlx::query_as(
        "SELECT body FROM sim_clarity_customers WHERE pair_id = $1 AND customer_id = $2",
    )
    .bind(&pair_id)
    .bind(&customer_id)
    .fetch_optional(state.db.pool())
    .await?;
    body_of(row, &format!("customer {customer_id}"))
}

// --- coupons -----------------------------------------------------------------

fn coupon_json(body: &str, times_used: i64) -> ApiResult<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_str(body).map_err(ApiError::internal)?;
    v["timesUsed"] = times_used.into();
    Ok(v)
}

pub(super) async fn list_coupons(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "coupons:read").await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT body, times_used FROM sim_clarity_coupons WHERE pair_id = $1 ORDER BY updated_at, code_lower",
    )
    .bind(&pair_id)
    .fetch_all(state.db.pool())
    .await?;
    let results = rows
        .iter()
        .map(|(b, n)| coupon_json(b, *n))
        .collect::<ApiResult<Vec<_>>>()?;
    let n = results.len();
    Ok(Json(serde_json::json!({
        "results": results, "pageIndex": 0, "pageSize": n.max(1), "totalCount": n, "hasMore": false
    }))
    .into_response())
}

pub(super) async fn get_coupon(
    State(state): State<SandboxState>,
    Path((pair_id, code)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "coupons:read").await?;
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT body, times_used FROM sim_clarity_coupons WHERE pair_id = $1 AND code_lower = $2",
    )
    .bind(&pair_id)
    .bind(code.to_lowercase())
    .fetch_optional(state.db.pool())
    .await?;
    let (body, n) =
        row.ok_or_else(|| ApiError::not_found(format!("coupon {code} does not exist")))?;
    Ok(Json(coupon_json(&body, n)?).into_response())
}

// --- inventory ---------------------------------------------------------------

type InvRow = (String, String, i64, i64, i64, i64, i64);

fn inventory_json(r: &InvRow) -> serde_json::Value {
    let (sku, location, on_hand, reserved, backorderable, version, updated) = r;
    serde_json::json!({
        "sku": sku, "locationId": location, "quantityOnHand": on_hand, "quantityReserved": reserved,
        "quantityAvailable": if *backorderable == 1 { on_hand - reserved } else { (on_hand - reserved).max(0) },
        "backorderable": *backorderable == 1, "version": version, "updatedDate": rfc3339_ms(*updated),
    })
}

const INV_COLUMNS: &str = "sku, location_id, on_hand, reserved, backorderable, version, updated_at";

pub(super) async fn list_inventory(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "inventory:read").await?;
    let params = ListParams::parse(raw.as_deref());
    let (size, index) = params.paging()?;
    let mut f = Filter::new(&pair_id);
    updated_range(&params, &mut f)?;
    f.any_of("sku", &params.all("sku"), false);
    f.any_of("location_id", &params.all("locationId"), false);
    let where_sql = f.where_sql();
    let total: (i64,) = {
        let sql = format!("SELECT COUNT(*) FROM sim_clarity_inventory WHERE {where_sql}");
        let mut q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql.clone()));
        for b in &f.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q.fetch_one(state.db.pool()).await?
    };
    let limit = f.push(Bind::Int(size as i64));
    let offset = f.push(Bind::Int(size as i64 * index as i64));
    let sql = format!(
        "SELECT {INV_COLUMNS} FROM sim_clarity_inventory WHERE {where_sql} \
         ORDER BY updated_at, sku, location_id LIMIT {limit} OFFSET {offset}"
    );
    let mut q = sqlx::query_as::<_, InvRow>(sqlx::AssertSqlSafe(sql.clone()));
    for b in &f.binds {
        q = match b {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    let rows = q.fetch_all(state.db.pool()).await?;
    let seen = size as i64 * index as i64 + rows.len() as i64;
    Ok(Json(serde_json::json!({
        "results": rows.iter().map(inventory_json).collect::<Vec<_>>(),
        "pageIndex": index, "pageSize": size, "totalCount": total.0, "hasMore": seen < total.0,
    }))
    .into_response())
}

pub(super) async fn get_inventory(
    State(state): State<SandboxState>,
    Path((pair_id, sku)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "inventory:read").await?;
    let rows: Vec<InvRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INV_COLUMNS} FROM sim_clarity_inventory WHERE pair_id = $1 AND sku = $2 ORDER BY location_id"
    )))
    .bind(&pair_id)
    .bind(&sku)
    .fetch_all(state.db.pool())
    .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("no inventory for {sku}")));
    }
    Ok(Json(serde_json::json!({
        "sku": sku, "locations": rows.iter().map(inventory_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InventorySet {
    quantity_on_hand: serde_json::Number,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    source_ref: Option<String>,
}

/// `PUT /inventory/{sku}/locations/{locationId}`: absolute set, `If-Match` honoured.
pub(super) async fn put_inventory(
    State(state): State<SandboxState>,
    Path((pair_id, sku, location_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "inventory:write").await?;
    let input: InventorySet = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let on_hand = input
        .quantity_on_hand
        .as_i64()
        .filter(|q| *q >= 0)
        .ok_or_else(|| {
            ApiError::validation("quantityOnHand", "INVALID", "must be a whole number ≥ 0")
        })?;
    let expected = if_match(&headers)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row: Option<InvRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INV_COLUMNS} FROM sim_clarity_inventory WHERE pair_id = $1 AND sku = $2 AND location_id = $3"
    )))
    .bind(&pair_id)
    .bind(&sku)
    .bind(&location_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::not_found(format!(
            "no inventory for {sku} at {location_id}"
        )));
    };
    if let Some(v) = expected
        && v != row.5
    {
        return Err(ApiError::precondition(format!(
            "inventory {sku}/{location_id} is at version {}, not {v}",
            row.5
        )));
    }
    if row.2 == on_hand {
        return Ok(inventory_response(&row));
    }
    sqlx::query(
        "UPDATE sim_clarity_inventory SET on_hand = $4, version = version + 1, updated_at = $5 \
         WHERE pair_id = $1 AND sku = $2 AND location_id = $3",
    )
    .bind(&pair_id)
    .bind(&sku)
    .bind(&location_id)
    .bind(on_hand)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let updated: InvRow = (
        row.0.clone(),
        row.1.clone(),
        on_hand,
        row.3,
        row.4,
        row.5 + 1,
        now,
    );
    let mut object = inventory_json(&updated);
    object["reason"] = input.reason.into();
    object["sourceRef"] = input.source_ref.into();
    webhooks::emit(
        &mut tx,
        &pair_id,
        "inventory.updated",
        object,
        Some(serde_json::json!({ "quantityOnHand": row.2 })),
        now,
    )
    .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(inventory_response(&updated))
}

fn inventory_response(row: &InvRow) -> Response {
    let mut r = Json(inventory_json(row)).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("\"{}\"", row.5)) {
        r.headers_mut().insert(header::ETAG, h);
    }
    r
}

// --- idempotency (spec §6) ---------------------------------------------------

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v
                .to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be text"))?
                .trim()
                .to_owned();
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::bad_request(
                    "Idempotency-Key must be 1 to 255 characters",
                ));
            }
            Ok(Some(k))
        }
    }
}

fn request_hash(method: &str, route: &str, body: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(route.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// A stored answer for (pair, route, key), replayed or refused.
async fn idempotent_replay(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    route: &str,
    key: &str,
    hash: &str,
) -> ApiResult<Option<Response>> {
    let row: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT request_hash, status_code, response FROM sim_clarity_idempotency \
         WHERE pair_id = $1 AND route = $2 AND idem_key = $3",
    )
    .bind(pair_id)
    .bind(route)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((stored_hash, status, response)) = row else {
        return Ok(None);
    };
    if stored_hash != hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            "Idempotency key reused",
            format!("Key '{key}' was used with a different request body"),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&response).map_err(ApiError::internal)?;
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let mut r = (status, Json(value)).into_response();
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Some(r))
}

async fn idempotent_store(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    route: &str,
    key: &str,
    hash: &str,
    status: StatusCode,
    response: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sim_clarity_idempotency (pair_id, route, idem_key, request_hash, status_code, response, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(pair_id)
    .bind(route)
    .bind(key)
    .bind(hash)
    .bind(status.as_u16() as i64)
    .bind(response.to_string())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_IN_PROGRESS",
        "Request in progress",
        "a request with this Idempotency-Key is still being processed",
    )
    .with_header(header::RETRY_AFTER, "1".to_owned())
}

// --- shipments ---------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentInput {
    carrier: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    tracking_number: Option<String>,
    #[serde(default)]
    tracking_url: Option<String>,
    #[serde(default)]
    shipped_date: Option<String>,
    #[serde(default)]
    lines: Vec<ShipmentLineInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentLineInput {
    line_id: String,
    #[serde(default)]
    sku: Option<String>,
    quantity: serde_json::Number,
}

fn num(v: &serde_json::Value) -> Decimal {
    match v {
        serde_json::Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        serde_json::Value::String(s) => s.parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

/// `POST /orders/{orderId}/shipments` (spec §3.5): records the shipment,
/// moves the order to `partially_shipped`/`shipped`, takes the stock out,
/// and emits `shipment.created` and `order.updated`.
pub(super) async fn create_shipment(
    State(state): State<SandboxState>,
    Path((pair_id, order_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "shipments:write").await?;
    let key = idempotency_key(&headers)?;
    let route = format!("POST /orders/{order_id}/shipments");
    let hash = request_hash("POST", &route, &body);
    let input: ShipmentInput = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    if input.carrier.trim().is_empty() {
        return Err(ApiError::validation(
            "carrier",
            "REQUIRED",
            "carrier is required",
        ));
    }
    if let Some(d) = &input.shipped_date
        && super::parse_time_ms(d).is_none()
    {
        return Err(ApiError::validation(
            "shippedDate",
            "INVALID",
            "must be an RFC 3339 time",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(key) = &key
        && let Some(replay) = idempotent_replay(&mut tx, &pair_id, &route, key, &hash).await?
    {
        return Ok(replay);
    }
    let mut order = load_order(&mut *tx, &pair_id, &order_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {order_id} does not exist")))?;
    if matches!(order["status"].as_str(), Some("cancelled" | "refunded")) {
        return Err(ApiError::conflict(
            format!("order {order_id} is {}", order["status"]),
            None,
        ));
    }
    // What each line still has to ship.
    let shipped_rows: Vec<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_clarity_shipments WHERE pair_id = $1 AND order_id = $2",
    )
    .bind(&pair_id)
    .bind(&order_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut shipped: HashMap<String, Decimal> = HashMap::new();
    for (b,) in &shipped_rows {
        let v: serde_json::Value = serde_json::from_str(b).unwrap_or_default();
        for l in v["lines"].as_array().into_iter().flatten() {
            *shipped
                .entry(l["lineId"].as_str().unwrap_or_default().to_owned())
                .or_default() += num(&l["quantity"]);
        }
    }
    let order_lines: Vec<(String, String, Decimal)> = order["lineItems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["lineId"].as_str().unwrap_or_default().to_owned(),
                l["sku"].as_str().unwrap_or_default().to_owned(),
                num(&l["quantity"]),
            )
        })
        .collect();
    let remaining = |line_id: &str, ordered: Decimal| {
        ordered - shipped.get(line_id).copied().unwrap_or_default()
    };
    let mut lines: Vec<(String, String, Decimal)> = Vec::new();
    if input.lines.is_empty() {
        for (id, sku, qty) in &order_lines {
            let left = remaining(id, *qty);
            if left > Decimal::ZERO {
                lines.push((id.clone(), sku.clone(), left));
            }
        }
    } else {
        for (i, l) in input.lines.iter().enumerate() {
            let Some((id, sku, qty)) = order_lines.iter().find(|(id, _, _)| *id == l.line_id)
            else {
                return Err(ApiError::validation(
                    &format!("lines[{i}].lineId"),
                    "UNKNOWN_LINE",
                    format!("order {order_id} has no line {}", l.line_id),
                ));
            };
            if l.sku.as_deref().is_some_and(|s| s != sku) {
                return Err(ApiError::validation(
                    &format!("lines[{i}].sku"),
                    "SKU_MISMATCH",
                    format!("line {id} is {sku}"),
                ));
            }
            let q: Decimal = l.quantity.to_string().parse().unwrap_or_default();
            if q <= Decimal::ZERO || q > remaining(id, *qty) {
                return Err(ApiError::validation(
                    &format!("lines[{i}].quantity"),
                    "INVALID_QUANTITY",
                    format!("line {id} has {} left to ship", remaining(id, *qty)),
                ));
            }
            lines.push((id.clone(), sku.clone(), q));
        }
    }
    if lines.is_empty() {
        return Err(ApiError::validation(
            "lines",
            "NOTHING_TO_SHIP",
            "the order is fully shipped",
        ));
    }
    let shipment_id = format!("shp_{}", uuid::Uuid::now_v7().simple());
    let shipment = serde_json::json!({
        "shipmentId": shipment_id,
        "orderId": order_id,
        "carrier": input.carrier,
        "service": input.service,
        "trackingNumber": input.tracking_number,
        "trackingUrl": input.tracking_url,
        "shippedDate": input.shipped_date.clone().unwrap_or_else(|| rfc3339_ms(now)),
        "lines": lines.iter().map(|(id, sku, q)| serde_json::json!({
            "lineId": id, "sku": sku, "quantity": q.to_f64().unwrap_or(0.0)
        })).collect::<Vec<_>>(),
        "status": "shipped",
        "createdDate": rfc3339_ms(now),
    });
    sqlx::query(
        "INSERT INTO sim_clarity_shipments (pair_id, shipment_id, order_id, body, created_at) VALUES ($1,$2,$3,$4,$5)",
    )
    .bind(&pair_id)
    .bind(&shipment_id)
    .bind(&order_id)
    .bind(shipment.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for (_, sku, q) in &lines {
        let q = q.ceil().to_i64().unwrap_or(0);
        sqlx::query(
            "UPDATE sim_clarity_inventory SET on_hand = CASE WHEN on_hand - $4 < 0 THEN 0 ELSE on_hand - $4 END, \
             reserved = CASE WHEN reserved - $4 < 0 THEN 0 ELSE reserved - $4 END, version = version + 1, updated_at = $5 \
             WHERE pair_id = $1 AND sku = $2 AND location_id = $3",
        )
        .bind(&pair_id)
        .bind(sku)
        .bind("WH1")
        .bind(q)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for (id, _, q) in &lines {
        *shipped.entry(id.clone()).or_default() += *q;
    }
    let all_shipped = order_lines
        .iter()
        .all(|(id, _, qty)| shipped.get(id).copied().unwrap_or_default() >= *qty);
    let new_status = if all_shipped {
        "shipped"
    } else {
        "partially_shipped"
    };
    webhooks::emit(
        &mut tx,
        &pair_id,
        "shipment.created",
        shipment.clone(),
        None,
        now,
    )
    .await?;
    if order["status"] != new_status {
        let previous = serde_json::json!({ "status": order["status"].clone() });
        order["status"] = new_status.into();
        save_changed(
            &mut tx,
            &pair_id,
            &mut order,
            previous,
            "order.updated",
            now,
        )
        .await?;
    }
    if let Some(key) = &key
        && let Err(e) = idempotent_store(
            &mut tx,
            &pair_id,
            &route,
            key,
            &hash,
            StatusCode::CREATED,
            &shipment,
        )
        .await
    {
        // Another request with this key won the race (Postgres): it commits, we roll back.
        return Err(if is_unique_violation(&e) {
            in_progress()
        } else {
            e.into()
        });
    }
    tx.commit().await?;
    webhooks::wake_dispatcher();
    let mut r = (StatusCode::CREATED, Json(&shipment)).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("/api/v1/shipments/{shipment_id}")) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    Ok(r)
}

pub(super) async fn list_shipments(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:read").await?;
    let params = ListParams::parse(raw.as_deref());
    let paging = params.paging()?;
    let mut f = Filter::new(&pair_id);
    f.any_of("order_id", &params.all("orderId"), false);
    if let Some(min) = params.time("createdDateMin")? {
        f.cond("created_at", ">=", Bind::Int(min));
    }
    Ok(paged(
        &state,
        "sim_clarity_shipments",
        &f,
        "created_at ASC, shipment_id ASC",
        paging,
    )
    .await?
    .into_response())
}

pub(super) async fn get_shipment(
    State(state): State<SandboxState>,
    Path((pair_id, shipment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:read").await?;
    let row = sqlx::query_as(
        "SELECT body FROM sim_clarity_shipments WHERE pair_id = $1 AND shipment_id = $2",
    )
    .bind(&pair_id)
    .bind(&shipment_id)
    .fetch_optional(state.db.pool())
    .await?;
    body_of(row, &format!("shipment {shipment_id}"))
}
