//! Returns / RMAs (spec §3.6): requested against shipped order lines, then
//! approved, received (restocking the lines marked `restock`) and refunded.
//! A refund also moves the order's payment to `partially_refunded` or
//! `refunded` and emits `order.refunded`.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::docs::{self, IdRule, Kind, with_etag};
use super::idempotency::Idempotency;
use super::inventory::{self, E4, e4_decimal, qty_json};
use super::orders::{load as load_order, money, save_changed};
use super::shipments::{SHIP_FROM, shipped_by_line};
use super::{ApiError, ApiResult, Bind, authorize, rfc3339_ms, webhooks};
use crate::SandboxState;
use connect_store::now_ms;

const STATUSES: &[&str] = &[
    "requested",
    "approved",
    "received",
    "refunded",
    "rejected",
    "closed",
];

pub(crate) static RETURNS: Kind = Kind {
    entity: "return",
    path: "/returns",
    table: "sim_clarity_returns",
    id_col: "return_id",
    id_field: "returnId",
    id_lower: false,
    ids: IdRule::Counter {
        name: "return",
        prefix: "RMA-",
        start: 1_000,
    },
    read_scope: "returns:read",
    write_scope: "returns:write",
    fields: &[
        "returnId",
        "orderId",
        "customerId",
        "status",
        "reason",
        "lines",
        "refundAmount",
        "currency",
        "refundTransactionId",
        "version",
        "createdDate",
        "updatedDate",
    ],
    enums: &[("status", STATUSES)],
    // Returns change only through their transitions.
    writable: &[],
    unique: None,
    columns,
    counter: None,
    defaults: |_| {},
    validate: |_| Ok(()),
};

fn columns(doc: &Value) -> Vec<(&'static str, Bind)> {
    let text = |f: &str| Bind::Text(doc[f].as_str().unwrap_or_default().to_owned());
    vec![
        ("order_id", text("orderId")),
        ("customer_id", text("customerId")),
        ("status", text("status")),
    ]
}

pub(super) async fn list(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    docs::list(&state, &pair_id, &RETURNS, &headers, raw.as_deref()).await
}

pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    docs::get(&state, &pair_id, &RETURNS, &headers, &id).await
}

/// What `POST /returns` sets; the rest of the return is the store's.
const WRITABLE: &[&str] = &["orderId", "reason", "lines"];
const LINE_FIELDS: &[&str] = &[
    "lineId",
    "sku",
    "quantity",
    "refundAmount",
    "restock",
    "condition",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReturnInput {
    order_id: String,
    #[serde(default)]
    reason: Option<String>,
    lines: Vec<ReturnLineInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReturnLineInput {
    line_id: String,
    #[serde(default)]
    sku: Option<String>,
    quantity: Value,
    #[serde(default)]
    refund_amount: Option<String>,
    #[serde(default = "yes")]
    restock: bool,
    #[serde(default)]
    condition: Option<String>,
}

fn yes() -> bool {
    true
}

/// Units of each order line already on a return that was not rejected.
async fn returned_by_line(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    order_id: &str,
) -> ApiResult<HashMap<String, Decimal>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_clarity_returns WHERE pair_id = $1 AND order_id = $2 AND status <> 'rejected'",
    )
    .bind(pair_id)
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: HashMap<String, Decimal> = HashMap::new();
    for (b,) in rows {
        let v: Value = serde_json::from_str(&b).map_err(ApiError::internal)?;
        for l in v["lines"].as_array().into_iter().flatten() {
            let q = inventory::qty_e4(&l["quantity"], "quantity").unwrap_or(0);
            *out.entry(l["lineId"].as_str().unwrap_or_default().to_owned())
                .or_default() += e4_decimal(q);
        }
    }
    Ok(out)
}

/// `POST /returns`: 201 with the RMA in `requested`; emits `return.created`.
pub(super) async fn create(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "returns:write").await?;
    let idem = Idempotency::from_request(&headers, "POST /returns".into(), &body)?;
    let object = docs::parse_object(&body)?;
    docs::check_keys("a return", "", &object, WRITABLE, RETURNS.fields, None)?;
    for (i, line) in object
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(line) = line.as_object() {
            docs::check_keys(
                "a return line",
                &format!("lines[{i}]."),
                line,
                LINE_FIELDS,
                &[],
                None,
            )?;
        }
    }
    let input: ReturnInput = serde_json::from_value(Value::Object(object))
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    if input.lines.is_empty() {
        return Err(ApiError::validation(
            "lines",
            "REQUIRED",
            "name at least one line",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(replay) = idem.replay(&mut tx, &pair_id).await? {
        return Ok(replay);
    }
    let order = load_order(&mut *tx, &pair_id, &input.order_id)
        .await?
        .ok_or_else(|| {
            ApiError::validation(
                "orderId",
                "UNKNOWN_ORDER",
                format!("order {} does not exist", input.order_id),
            )
        })?;
    let shipped = shipped_by_line(&mut tx, &pair_id, &input.order_id).await?;
    let mut returned = returned_by_line(&mut tx, &pair_id, &input.order_id).await?;
    let mut lines = Vec::with_capacity(input.lines.len());
    let mut total = Decimal::ZERO;
    for (i, l) in input.lines.iter().enumerate() {
        let Some(ordered) = order["lineItems"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["lineId"] == l.line_id.as_str())
        else {
            return Err(ApiError::validation(
                &format!("lines[{i}].lineId"),
                "UNKNOWN_LINE",
                format!("order {} has no line {}", input.order_id, l.line_id),
            ));
        };
        let sku = ordered["sku"].as_str().unwrap_or_default();
        if l.sku.as_deref().is_some_and(|s| s != sku) {
            return Err(ApiError::validation(
                &format!("lines[{i}].sku"),
                "SKU_MISMATCH",
                format!("line {} is {sku}", l.line_id),
            ));
        }
        let field = format!("lines[{i}].quantity");
        let qty = e4_decimal(inventory::qty_e4(&l.quantity, &field)?);
        let returnable = shipped.get(&l.line_id).copied().unwrap_or_default()
            - returned.get(&l.line_id).copied().unwrap_or_default();
        if qty <= Decimal::ZERO || qty > returnable {
            return Err(ApiError::validation(
                &field,
                "INVALID_QUANTITY",
                format!(
                    "line {} has {returnable} shipped and not yet returned",
                    l.line_id
                ),
            ));
        }
        *returned.entry(l.line_id.clone()).or_default() += qty;
        let refund = match &l.refund_amount {
            Some(a) => {
                let field = format!("lines[{i}].refundAmount");
                docs::money(&json!({ "a": a }), "a", true).map_err(|_| {
                    ApiError::validation(
                        &field,
                        "INVALID_MONEY",
                        "must be a decimal string with at most 2 places",
                    )
                })?;
                money(a.parse().unwrap_or_default())
            }
            None => {
                // The line's net price per unit, times the units returned.
                let line_total: Decimal = ordered["lineTotal"]
                    .as_str()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or_default();
                let ordered_qty = inventory::qty_e4(&ordered["quantity"], "quantity")
                    .map(e4_decimal)
                    .unwrap_or(Decimal::ONE);
                money(line_total * qty / ordered_qty.max(Decimal::new(1, 4)))
            }
        };
        total += refund;
        lines.push(json!({
            "lineId": l.line_id, "sku": sku,
            "quantity": qty_json((qty * Decimal::from(E4)).to_i64().unwrap_or(0)),
            "refundAmount": refund.to_string(), "restock": l.restock, "condition": l.condition,
        }));
    }
    let n = super::next_counter(&mut tx, &pair_id, "return", 1_000, 1).await?;
    let doc = json!({
        "returnId": format!("RMA-{n}"),
        "orderId": input.order_id,
        "customerId": order["customerId"],
        "status": "requested",
        "reason": input.reason,
        "lines": lines,
        "refundAmount": money(total).to_string(),
        "currency": order["currency"],
        "refundTransactionId": null,
        "version": 1,
        "createdDate": rfc3339_ms(now),
        "updatedDate": rfc3339_ms(now),
    });
    docs::insert(&mut tx, &pair_id, &RETURNS, &doc, now).await?;
    webhooks::emit(&mut tx, &pair_id, "return.created", doc.clone(), None, now).await?;
    idem.store(&mut tx, &pair_id, StatusCode::CREATED, &doc)
        .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    let mut r = with_etag(StatusCode::CREATED, &doc);
    if let Ok(h) = HeaderValue::from_str(&format!(
        "/api/v1/returns/{}",
        doc["returnId"].as_str().unwrap_or_default()
    )) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    Ok(r)
}

/// Loads a return for a transition: `Ok(Err(doc))` when it is already in
/// `to` (the call is a repeat), 409 when it is in a state it cannot leave so.
async fn for_transition(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    id: &str,
    from: &[&str],
    to: &str,
) -> ApiResult<Result<Value, Value>> {
    let doc = docs::load_one(conn, pair_id, &RETURNS, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("return {id} does not exist")))?;
    let status = doc["status"].as_str().unwrap_or_default().to_owned();
    if status == to {
        return Ok(Err(doc));
    }
    if !from.contains(&status.as_str()) {
        return Err(ApiError::conflict(
            format!(
                "return {id} is {status}; only a return that is {} can become {to}",
                from.join(" or ")
            ),
            None,
        ));
    }
    Ok(Ok(doc))
}

async fn transition(
    state: &SandboxState,
    pair_id: &str,
    headers: &HeaderMap,
    id: &str,
    from: &[&str],
    to: &str,
) -> ApiResult<Response> {
    authorize(state, pair_id, headers, "returns:write").await?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let mut doc = match for_transition(&mut tx, pair_id, id, from, to).await? {
        Ok(doc) => doc,
        Err(unchanged) => return Ok(with_etag(StatusCode::OK, &unchanged)),
    };
    let previous = json!({ "status": doc["status"].clone() });
    doc["status"] = to.into();
    if to == "received" {
        for l in doc["lines"].as_array().cloned().unwrap_or_default() {
            if l["restock"] == true {
                let qty = inventory::qty_e4(&l["quantity"], "quantity")?;
                let sku = l["sku"].as_str().unwrap_or_default();
                inventory::restock(&mut tx, pair_id, sku, SHIP_FROM, qty, id, now).await?;
            }
        }
    }
    docs::save(
        &mut tx,
        pair_id,
        &RETURNS,
        &mut doc,
        previous,
        "return.updated",
        now,
    )
    .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(StatusCode::OK, &doc))
}

/// `POST /returns/{id}/approve`: `requested` → `approved`.
pub(super) async fn approve(
    State(state): State<SandboxState>,
    Path((pair_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    transition(&state, &pair_id, &headers, &id, &["requested"], "approved").await
}

/// `POST /returns/{id}/receive`: `approved` → `received`, restocking at the
/// shipping location.
pub(super) async fn receive(
    State(state): State<SandboxState>,
    Path((pair_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    transition(&state, &pair_id, &headers, &id, &["approved"], "received").await
}

#[derive(Deserialize)]
pub(super) struct RefundInput {
    amount: String,
}

/// `POST /returns/{id}/refund {"amount": "19.99"}`: `approved`/`received` →
/// `refunded`; emits `return.refunded`, and `order.refunded` on the order.
pub(super) async fn refund(
    State(state): State<SandboxState>,
    Path((pair_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "returns:write").await?;
    let object = docs::parse_object(&body)?;
    docs::check_keys("a refund", "", &object, &["amount"], &[], None)?;
    let input: RefundInput = serde_json::from_value(Value::Object(object))
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    docs::money(&json!({ "amount": input.amount }), "amount", true)?;
    let amount = money(input.amount.parse().unwrap_or_default());
    if amount <= Decimal::ZERO {
        return Err(ApiError::validation(
            "amount",
            "INVALID_MONEY",
            "must be above 0.00",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let mut doc = match for_transition(
        &mut tx,
        &pair_id,
        &id,
        &["approved", "received"],
        "refunded",
    )
    .await?
    {
        Ok(doc) => doc,
        Err(done) if done["refundAmount"].as_str() == Some(amount.to_string().as_str()) => {
            return Ok(with_etag(StatusCode::OK, &done));
        }
        Err(_) => {
            return Err(ApiError::conflict(
                format!("return {id} is already refunded with another amount"),
                None,
            ));
        }
    };
    let allowed: Decimal = doc["refundAmount"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or_default();
    if amount > allowed {
        return Err(ApiError::validation(
            "amount",
            "EXCEEDS_RETURN",
            format!("the return allows at most {allowed}"),
        ));
    }
    let previous = json!({
        "status": doc["status"].clone(), "refundAmount": doc["refundAmount"].clone(),
        "refundTransactionId": Value::Null,
    });
    doc["status"] = "refunded".into();
    doc["refundAmount"] = amount.to_string().into();
    doc["refundTransactionId"] =
        format!("re_{}", &uuid::Uuid::now_v7().simple().to_string()[..16]).into();
    docs::save(
        &mut tx,
        &pair_id,
        &RETURNS,
        &mut doc,
        previous,
        "return.refunded",
        now,
    )
    .await?;

    let order_id = doc["orderId"].as_str().unwrap_or_default().to_owned();
    if let Some(mut order) = load_order(&mut *tx, &pair_id, &order_id).await? {
        let refunded: Vec<(String,)> = sqlx::query_as(
            "SELECT body FROM sim_clarity_returns WHERE pair_id = $1 AND order_id = $2 AND status = 'refunded'",
        )
        .bind(&pair_id)
        .bind(&order_id)
        .fetch_all(&mut *tx)
        .await?;
        let sum: Decimal = refunded
            .iter()
            .filter_map(|(b,)| serde_json::from_str::<Value>(b).ok())
            .filter_map(|v| {
                v["refundAmount"]
                    .as_str()
                    .and_then(|a| a.parse::<Decimal>().ok())
            })
            .sum();
        let total: Decimal = order["totalAmount"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap_or_default();
        let mut previous = Map::new();
        previous.insert(
            "paymentInfo".into(),
            json!({ "status": order["paymentInfo"]["status"].clone() }),
        );
        order["paymentInfo"]["status"] = if sum >= total {
            "refunded"
        } else {
            "partially_refunded"
        }
        .into();
        if sum >= total {
            previous.insert("status".into(), order["status"].clone());
            order["status"] = "refunded".into();
        }
        save_changed(
            &mut tx,
            &pair_id,
            &mut order,
            Value::Object(previous),
            "order.refunded",
            now,
        )
        .await?;
    }
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(StatusCode::OK, &doc))
}
