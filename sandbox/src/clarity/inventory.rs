//! Inventory (spec §3.4): one record per (SKU, location). Quantities may
//! have up to 4 decimal places; they are kept as integer ten-thousandths
//! (`*_e4` columns) so that sums stay exact on both databases.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::Value;

use super::docs::{self, with_etag};
use super::idempotency::Idempotency;
use super::orders::if_match;
use super::query::page_of;
use super::{ApiError, ApiResult, ListParams, authorize, rfc3339_ms, webhooks};
use crate::SandboxState;
use connect_store::now_ms;

/// Ten-thousandths per unit.
pub(crate) const E4: i64 = 10_000;

const FIELDS: &[&str] = &[
    "sku",
    "locationId",
    "quantityOnHand",
    "quantityReserved",
    "quantityAvailable",
    "backorderable",
    "version",
    "updatedDate",
];

/// A quantity from the wire, in ten-thousandths; 422 naming `field` when it
/// has more than 4 decimal places (or is not a number).
pub(crate) fn qty_e4(value: &Value, field: &str) -> ApiResult<i64> {
    let bad = |why: &str| ApiError::validation(field, "INVALID_QUANTITY", why.to_owned());
    let Value::Number(n) = value else {
        return Err(bad("must be a number"));
    };
    let text = n.to_string();
    let d = text
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| bad("must be a number"))?
        .normalize();
    if d.scale() > 4 {
        return Err(bad("may have at most 4 decimal places"));
    }
    (d * Decimal::from(E4))
        .to_i64()
        .ok_or_else(|| bad("is out of range"))
}

/// The exact decimal of ten-thousandths.
pub(crate) fn e4_decimal(e4: i64) -> Decimal {
    Decimal::new(e4, 4).normalize()
}

/// Ten-thousandths as a JSON number: an integer when whole.
pub(crate) fn qty_json(e4: i64) -> Value {
    if e4 % E4 == 0 {
        return (e4 / E4).into();
    }
    serde_json::Number::from_f64(e4 as f64 / E4 as f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// sku, location, on hand, reserved, backorderable, version, updated
pub(crate) type InvRow = (String, String, i64, i64, i64, i64, i64);

pub(crate) const INV_COLUMNS: &str =
    "sku, location_id, on_hand_e4, reserved_e4, backorderable, version, updated_at";

pub(crate) fn inventory_json(r: &InvRow) -> Value {
    let (sku, location, on_hand, reserved, backorderable, version, updated) = r;
    let available = if *backorderable == 1 {
        on_hand - reserved
    } else {
        (on_hand - reserved).max(0)
    };
    serde_json::json!({
        "sku": sku, "locationId": location, "quantityOnHand": qty_json(*on_hand),
        "quantityReserved": qty_json(*reserved), "quantityAvailable": qty_json(available),
        "backorderable": *backorderable == 1, "version": version, "updatedDate": rfc3339_ms(*updated),
    })
}

/// `GET /inventory?sku=…&locationId=…` and the other Phoenix filters.
pub(super) async fn list(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "inventory:read").await?;
    let params = ListParams::parse(raw.as_deref());
    let rows: Vec<InvRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INV_COLUMNS} FROM sim_clarity_inventory WHERE pair_id = $1"
    )))
    .bind(&pair_id)
    .fetch_all(state.db.pool())
    .await?;
    let records = rows.iter().map(inventory_json).collect();
    let page = page_of(records, &params, FIELDS, &[], &["sku", "locationId"])?;
    Ok(Json(page).into_response())
}

/// `GET /inventory/{sku}`: every location of the SKU.
pub(super) async fn get_one(
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

async fn load(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    sku: &str,
    location_id: &str,
) -> Result<Option<InvRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INV_COLUMNS} FROM sim_clarity_inventory WHERE pair_id = $1 AND sku = $2 AND location_id = $3"
    )))
    .bind(pair_id)
    .bind(sku)
    .bind(location_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Writes a new on-hand quantity, bumps the version and emits `inventory.updated`.
async fn write_on_hand(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    row: &InvRow,
    on_hand: i64,
    note: serde_json::Map<String, Value>,
    now: i64,
) -> ApiResult<InvRow> {
    sqlx::query(
        "UPDATE sim_clarity_inventory SET on_hand_e4 = $4, version = version + 1, updated_at = $5 \
         WHERE pair_id = $1 AND sku = $2 AND location_id = $3",
    )
    .bind(pair_id)
    .bind(&row.0)
    .bind(&row.1)
    .bind(on_hand)
    .bind(now)
    .execute(&mut *conn)
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
    for (k, v) in note {
        object[k] = v;
    }
    webhooks::emit(
        conn,
        pair_id,
        "inventory.updated",
        object,
        Some(serde_json::json!({ "quantityOnHand": qty_json(row.2) })),
        now,
    )
    .await?;
    Ok(updated)
}

/// Puts `qty_e4` back on the shelf (a received return), emitting `inventory.updated`.
pub(crate) async fn restock(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    sku: &str,
    location_id: &str,
    qty_e4: i64,
    source_ref: &str,
    now: i64,
) -> ApiResult<()> {
    if let Some(row) = load(conn, pair_id, sku, location_id).await? {
        let mut note = serde_json::Map::new();
        note.insert("reason".into(), "return".into());
        note.insert("sourceRef".into(), source_ref.into());
        write_on_hand(conn, pair_id, &row, row.2 + qty_e4, note, now).await?;
    }
    Ok(())
}

/// What `PUT /inventory/{sku}/locations/{locationId}` sets (spec §3.4).
const SET_WRITABLE: &[&str] = &["quantityOnHand", "reason", "sourceRef"];
/// Every key that body may carry: those and the record's fields.
const SET_KEYS: &[&str] = &[
    "sku",
    "locationId",
    "quantityOnHand",
    "quantityReserved",
    "quantityAvailable",
    "backorderable",
    "version",
    "updatedDate",
    "reason",
    "sourceRef",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InventorySet {
    quantity_on_hand: Value,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    source_ref: Option<String>,
}

/// `PUT /inventory/{sku}/locations/{locationId}`: absolute set, `If-Match` honoured.
pub(super) async fn put(
    State(state): State<SandboxState>,
    Path((pair_id, sku, location_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "inventory:write").await?;
    let object = docs::parse_object(&body)?;
    // The record's own fields pass when sent back unchanged (checked below).
    docs::check_keys("an inventory record", "", &object, SET_KEYS, &[], None)?;
    let input: InventorySet = serde_json::from_value(Value::Object(object.clone()))
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let on_hand = qty_e4(&input.quantity_on_hand, "quantityOnHand")?;
    if on_hand < 0 {
        return Err(ApiError::validation(
            "quantityOnHand",
            "INVALID_QUANTITY",
            "must be ≥ 0",
        ));
    }
    let expected = if_match(&headers)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row = load(&mut tx, &pair_id, &sku, &location_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no inventory for {sku} at {location_id}")))?;
    if let Some(v) = expected
        && v != row.5
    {
        return Err(ApiError::precondition(format!(
            "inventory {sku}/{location_id} is at version {}, not {v}",
            row.5
        )));
    }
    docs::check_keys(
        "an inventory record",
        "",
        &object,
        SET_WRITABLE,
        FIELDS,
        Some(&inventory_json(&row)),
    )?;
    if row.2 == on_hand {
        return Ok(with_etag(StatusCode::OK, &inventory_json(&row)));
    }
    let mut note = serde_json::Map::new();
    note.insert("reason".into(), input.reason.into());
    note.insert("sourceRef".into(), input.source_ref.into());
    let updated = write_on_hand(&mut tx, &pair_id, &row, on_hand, note, now).await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(StatusCode::OK, &inventory_json(&updated)))
}

/// `POST /inventory/adjustments`'s body (spec §3.4).
const ADJUSTMENT_FIELDS: &[&str] = &["sku", "locationId", "delta", "reason", "sourceRef"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Adjustment {
    sku: String,
    location_id: String,
    delta: Value,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    source_ref: Option<String>,
}

/// `POST /inventory/adjustments`: a relative change, under a mandatory
/// `Idempotency-Key` (a replayed delta must not count twice). On-hand stock
/// never goes below 0, nor below the reserved units of a SKU that is not
/// backorderable. Answers 201 with the record and the adjustment.
pub(super) async fn adjust(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "inventory:write").await?;
    let idem = Idempotency::from_request(&headers, "POST /inventory/adjustments".into(), &body)?;
    idem.require_key()?;
    let object = docs::parse_object(&body)?;
    docs::check_keys(
        "an inventory adjustment",
        "",
        &object,
        ADJUSTMENT_FIELDS,
        &[],
        None,
    )?;
    let input: Adjustment = serde_json::from_value(Value::Object(object))
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let delta = qty_e4(&input.delta, "delta")?;
    if delta == 0 {
        return Err(ApiError::validation(
            "delta",
            "INVALID_QUANTITY",
            "must not be 0",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(replay) = idem.replay(&mut tx, &pair_id).await? {
        return Ok(replay);
    }
    let Some(row) = load(&mut tx, &pair_id, &input.sku, &input.location_id).await? else {
        let known_sku: Option<(String,)> =
            sqlx::query_as("SELECT sku FROM sim_clarity_inventory WHERE pair_id = $1 AND sku = $2")
                .bind(&pair_id)
                .bind(&input.sku)
                .fetch_optional(&mut *tx)
                .await?;
        return Err(match known_sku {
            None => ApiError::validation(
                "sku",
                "UNKNOWN_SKU",
                format!("SKU '{}' has no inventory", input.sku),
            ),
            Some(_) => ApiError::validation(
                "locationId",
                "UNKNOWN_LOCATION",
                format!(
                    "SKU '{}' is not stocked at {}",
                    input.sku, input.location_id
                ),
            ),
        });
    };
    let on_hand = row.2 + delta;
    if on_hand < 0 || (row.4 != 1 && on_hand < row.3) {
        return Err(ApiError::validation(
            "delta",
            "INSUFFICIENT_STOCK",
            format!(
                "{} on hand, {} reserved at {}: cannot take {}",
                e4_decimal(row.2),
                e4_decimal(row.3),
                row.1,
                e4_decimal(-delta)
            ),
        ));
    }
    let adjustment = serde_json::json!({
        "adjustmentId": format!("adj_{}", uuid::Uuid::now_v7().simple()),
        "delta": qty_json(delta),
        "reason": input.reason,
        "sourceRef": input.source_ref,
        "createdDate": rfc3339_ms(now),
    });
    let mut note = serde_json::Map::new();
    note.insert("reason".into(), adjustment["reason"].clone());
    note.insert("sourceRef".into(), adjustment["sourceRef"].clone());
    let updated = write_on_hand(&mut tx, &pair_id, &row, on_hand, note, now).await?;
    let mut answer = inventory_json(&updated);
    answer["adjustment"] = adjustment;
    idem.store(&mut tx, &pair_id, StatusCode::CREATED, &answer)
        .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(StatusCode::CREATED, &answer))
}
