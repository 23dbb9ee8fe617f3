//! Shipments (spec §3.5), recorded from the ERP: an idempotent POST that
//! moves the order to `partially_shipped`/`shipped`, takes the units out of
//! stock and emits `shipment.created` and `order.updated`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;

use super::docs::{self, with_etag};
use super::idempotency::Idempotency;
use super::inventory::{E4, qty_json};
use super::orders::{load as load_order, save_changed};
use super::query::page_of;
use super::{ApiError, ApiResult, ListParams, authorize, rfc3339_ms, webhooks};
use crate::SandboxState;
use connect_store::now_ms;

const FIELDS: &[&str] = &[
    "shipmentId",
    "orderId",
    "carrier",
    "service",
    "trackingNumber",
    "trackingUrl",
    "shippedDate",
    "lines",
    "status",
    "createdDate",
];

/// §3.5's shipment statuses.
const STATUSES: &[&str] = &["label_created", "shipped", "delivered", "returned"];

/// Where shipments take stock from (and orders reserve it).
pub(crate) const SHIP_FROM: &str = "WH1";

/// What `POST /orders/{orderId}/shipments` may set; `orderId` may be sent
/// when it is the path's, the rest of [`FIELDS`] is the store's.
const WRITABLE: &[&str] = &[
    "carrier",
    "service",
    "trackingNumber",
    "trackingUrl",
    "shippedDate",
    "lines",
    "status",
];
const LINE_FIELDS: &[&str] = &["lineId", "sku", "quantity"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentInput {
    carrier: String,
    #[serde(default)]
    status: Option<String>,
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

/// Units of each order line shipped so far.
pub(crate) async fn shipped_by_line(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    order_id: &str,
) -> Result<HashMap<String, Decimal>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_clarity_shipments WHERE pair_id = $1 AND order_id = $2",
    )
    .bind(pair_id)
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut shipped: HashMap<String, Decimal> = HashMap::new();
    for (b,) in &rows {
        let v: serde_json::Value = serde_json::from_str(b).unwrap_or_default();
        for l in v["lines"].as_array().into_iter().flatten() {
            *shipped
                .entry(l["lineId"].as_str().unwrap_or_default().to_owned())
                .or_default() += num(&l["quantity"]);
        }
    }
    Ok(shipped)
}

/// `POST /orders/{orderId}/shipments` (spec §3.5): records the shipment,
/// moves the order to `partially_shipped`/`shipped`, takes the stock out,
/// and emits `shipment.created` and `order.updated`.
pub(super) async fn create(
    State(state): State<SandboxState>,
    Path((pair_id, order_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "shipments:write").await?;
    let idem = Idempotency::from_request(
        &headers,
        format!("POST /orders/{order_id}/shipments"),
        &body,
    )?;
    let object = docs::parse_object(&body)?;
    docs::check_keys(
        "a shipment",
        "",
        &object,
        WRITABLE,
        FIELDS,
        Some(&serde_json::json!({ "orderId": order_id })),
    )?;
    for (i, line) in object
        .get("lines")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(line) = line.as_object() {
            docs::check_keys(
                "a shipment line",
                &format!("lines[{i}]."),
                line,
                LINE_FIELDS,
                &[],
                None,
            )?;
        }
    }
    let input: ShipmentInput = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let status = input.status.as_deref().unwrap_or("shipped");
    if !STATUSES.contains(&status) {
        return Err(ApiError::validation(
            "status",
            "INVALID_ENUM",
            format!("status must be one of {}", STATUSES.join(", ")),
        ));
    }
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
    if let Some(replay) = idem.replay(&mut tx, &pair_id).await? {
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
    let mut shipped = shipped_by_line(&mut tx, &pair_id, &order_id).await?;
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
            "lineId": id, "sku": sku, "quantity": qty_json((q * Decimal::from(E4)).to_i64().unwrap_or(0))
        })).collect::<Vec<_>>(),
        "status": status,
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
        let q = (*q * Decimal::from(E4)).to_i64().unwrap_or(0);
        sqlx::query(
            "UPDATE sim_clarity_inventory SET on_hand_e4 = CASE WHEN on_hand_e4 - $4 < 0 THEN 0 ELSE on_hand_e4 - $4 END, \
             reserved_e4 = CASE WHEN reserved_e4 - $4 < 0 THEN 0 ELSE reserved_e4 - $4 END, version = version + 1, updated_at = $5 \
             WHERE pair_id = $1 AND sku = $2 AND location_id = $3",
        )
        .bind(&pair_id)
        .bind(sku)
        .bind(SHIP_FROM)
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
    idem.store(&mut tx, &pair_id, StatusCode::CREATED, &shipment)
        .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    let mut r = (StatusCode::CREATED, Json(&shipment)).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("/api/v1/shipments/{shipment_id}")) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    Ok(r)
}

pub(super) async fn list(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:read").await?;
    let params = ListParams::parse(raw.as_deref());
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT body FROM sim_clarity_shipments WHERE pair_id = $1")
            .bind(&pair_id)
            .fetch_all(state.db.pool())
            .await?;
    let records = rows
        .iter()
        .map(|(b,)| serde_json::from_str(b).map_err(ApiError::internal))
        .collect::<ApiResult<Vec<serde_json::Value>>>()?;
    let sort = params.one("sort").map(str::to_owned);
    let mut page_params = params;
    if sort.is_none() {
        // Shipments are never updated: the stable order is by creation.
        page_params.set_default("sort", "createdDate:asc");
    }
    let page = page_of(
        records,
        &page_params,
        FIELDS,
        &[("status", STATUSES)],
        &["shipmentId"],
    )?;
    Ok(Json(page).into_response())
}

pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, shipment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:read").await?;
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_clarity_shipments WHERE pair_id = $1 AND shipment_id = $2",
    )
    .bind(&pair_id)
    .bind(&shipment_id)
    .fetch_optional(state.db.pool())
    .await?;
    let (body,) =
        row.ok_or_else(|| ApiError::not_found(format!("shipment {shipment_id} does not exist")))?;
    let value: serde_json::Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
    Ok(with_etag(StatusCode::OK, &value))
}
