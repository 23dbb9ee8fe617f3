//! Orders (spec §3.1): the shopper side that places them, and the API that
//! lists, reads, patches and cancels them. Every mutation bumps `version` and
//! emits exactly one event into the webhook outbox, in the same transaction.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::seq::IndexedRandom;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use super::docs;
use super::query::{Enums, JsonFilter, page, sort_records};
use super::wire::{Address, LineItem, Order, PaymentInfo};
use super::{
    ApiError, ApiResult, Bind, Filter, ListParams, authorize, next_counter, paged, pair_exists,
    rfc3339_ms, webhooks,
};
use crate::{SandboxState, catalog};
use connect_store::now_ms;

/// What an `order.created` event carries in `data.object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadMode {
    /// The whole order, as `GET /orders/{id}` answers it.
    Full,
    /// Only `{"orderId": …}`: the receiver must fetch the order.
    #[serde(alias = "id")]
    IdOnly,
}

/// Every field of an order (spec §3.1), what lists filter and sort on.
const FIELDS: &[&str] = &[
    "orderId",
    "customerId",
    "orderDate",
    "status",
    "currency",
    "subtotalAmount",
    "discountAmount",
    "shippingAmount",
    "taxAmount",
    "totalAmount",
    "email",
    "channel",
    "shippingAddress",
    "billingAddress",
    "lineItems",
    "paymentInfo",
    "couponCode",
    "erpReferences",
    "notes",
    "version",
    "createdDate",
    "updatedDate",
];
/// What `PATCH /orders/{orderId}` may change (spec §3.1).
const PATCHABLE: &[&str] = &["status", "erpReferences", "notes"];
const ENUMS: Enums = &[("status", ORDER_STATUSES)];
/// Filters the order table's columns answer (lower-cased keys); the rest are
/// evaluated over the JSON.
const SQL_FILTERS: &[&str] = &[
    "updateddatemin",
    "updateddatemax",
    "createddatemin",
    "createddatemax",
    "status",
    "notstatus",
    "customerid",
    "orderid",
];

pub const ORDER_STATUSES: &[&str] = &[
    "pending",
    "processing",
    "on_hold",
    "partially_shipped",
    "shipped",
    "completed",
    "cancelled",
    "refunded",
];

/// Sales tax of the sandbox store.
const TAX_RATE: Decimal = Decimal::from_parts(825, 0, 0, false, 4);
/// Coupons the shopper sometimes uses (seeded in `sim_clarity_coupons`).
pub(super) const COUPONS: [(&str, i64); 2] = [("SAVE10", 10), ("SPRING15", 15)];
/// Where orders reserve stock: where shipments take it from.
const RESERVE_LOCATION: &str = super::shipments::SHIP_FROM;

/// Two decimal places, half away from zero, always written with two places.
pub(crate) fn money(d: Decimal) -> Decimal {
    let mut d = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(2);
    d
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// Places `count` realistic orders as shoppers would: catalog customers and
/// SKUs, 1–4 lines of 1–3 units, 8.25 % tax, sometimes shipping, sometimes a
/// coupon. Each order, its `order.created` event and, when it was paid at
/// checkout, its `order.paid` event commit together; the dispatcher is
/// woken afterwards. Returns the new order ids (`CO-100001`, …).
pub async fn create_orders(
    state: &SandboxState,
    pair_id: &str,
    count: u32,
    payload: PayloadMode,
) -> Result<Vec<String>, sqlx::Error> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let now = now_ms();
    // All randomness first: the thread-local generator must not live across an await.
    let drafts: Vec<Order> = {
        let mut rng = rand::rng();
        let products = catalog::products();
        let customers = catalog::customers();
        (0..count)
            .map(|_| draft_order(&mut rng, &products, &customers, now))
            .collect()
    };
    let mut tx = state.db.begin_write().await?;
    let last = next_counter(&mut tx, pair_id, "order", 100_000, count as i64).await?;
    let first = last - count as i64 + 1;
    let mut ids = Vec::with_capacity(count as usize);
    for (i, mut order) in drafts.into_iter().enumerate() {
        order.order_id = format!("CO-{}", first + i as i64);
        let body = serde_json::to_value(&order).expect("orders serialize");
        sqlx::query(
            "INSERT INTO sim_clarity_orders (pair_id, order_id, customer_id, status, version, body, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(pair_id)
        .bind(&order.order_id)
        .bind(&order.customer_id)
        .bind(&order.status)
        .bind(order.version)
        .bind(body.to_string())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for line in &order.line_items {
            reserve(&mut tx, pair_id, &line.sku, line.quantity, now).await?;
        }
        if let Some(code) = &order.coupon_code {
            sqlx::query(
                "UPDATE sim_clarity_coupons SET times_used = times_used + 1, updated_at = $3 \
                 WHERE pair_id = $1 AND code_lower = $2",
            )
            .bind(pair_id)
            .bind(code.to_lowercase())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let object = match payload {
            PayloadMode::Full => body,
            PayloadMode::IdOnly => serde_json::json!({ "orderId": order.order_id }),
        };
        // Spec §8: an order placed already paid (card captured at checkout)
        // is also announced as paid; one on terms waits for its capture.
        webhooks::emit(&mut tx, pair_id, "order.created", object.clone(), None, now).await?;
        if order.payment_info.status == "captured" {
            webhooks::emit(&mut tx, pair_id, "order.paid", object, None, now).await?;
        }
        ids.push(order.order_id);
    }
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(ids)
}

/// Moves `qty` of `sku` into `quantityReserved` at the reserving location
/// (negative `qty` releases). Stock may go short: the sandbox's items are
/// backorderable.
async fn reserve(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    sku: &str,
    qty: Decimal,
    now: i64,
) -> Result<(), sqlx::Error> {
    use rust_decimal::prelude::ToPrimitive;
    let qty = (qty * Decimal::from(super::inventory::E4))
        .to_i64()
        .unwrap_or(0);
    sqlx::query(
        "UPDATE sim_clarity_inventory SET reserved_e4 = CASE WHEN reserved_e4 + $4 < 0 THEN 0 ELSE reserved_e4 + $4 END, \
         version = version + 1, updated_at = $5 WHERE pair_id = $1 AND sku = $2 AND location_id = $3",
    )
    .bind(pair_id)
    .bind(sku)
    .bind(RESERVE_LOCATION)
    .bind(qty)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn draft_order(
    rng: &mut impl Rng,
    products: &[catalog::Product],
    customers: &[catalog::Customer],
    now: i64,
) -> Order {
    let customer = customers.choose(rng).expect("the catalog has customers");
    let line_count = rng.random_range(1..=4usize);
    let picked: Vec<&catalog::Product> = products.choose_multiple(rng, line_count).collect();
    let coupon = if rng.random_bool(0.2) {
        COUPONS.choose(rng).copied()
    } else {
        None
    };
    let mut lines = Vec::with_capacity(line_count);
    let (mut subtotal, mut discount, mut tax) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (i, p) in picked.iter().enumerate() {
        let qty = Decimal::from(rng.random_range(1..=3i64));
        let unit = cents(p.price_cents);
        let gross = money(qty * unit);
        let line_discount = match coupon {
            Some((_, pct)) => money(gross * Decimal::new(pct, 2)),
            None => money(Decimal::ZERO),
        };
        let line_total = money(gross - line_discount);
        let line_tax = money(line_total * TAX_RATE);
        subtotal += gross;
        discount += line_discount;
        tax += line_tax;
        lines.push(LineItem {
            line_id: (i + 1).to_string(),
            sku: p.sku.clone(),
            product_id: product_id(&p.sku),
            name: p.name.clone(),
            quantity: qty,
            unit_price: unit,
            tax: line_tax,
            discount: line_discount,
            line_total,
        });
    }
    let shipping = if rng.random_bool(0.4) {
        cents(995)
    } else {
        money(Decimal::ZERO)
    };
    let total = money(subtotal - discount + shipping + tax);
    let stamp = rfc3339_ms(now);
    let address = Address {
        first_name: Some(customer.first_name.to_owned()),
        last_name: Some(customer.last_name.to_owned()),
        company: customer.company.map(str::to_owned),
        line1: Some(customer.address.line1.clone()),
        line2: None,
        city: Some(customer.address.city.to_owned()),
        region: Some(customer.address.region.to_owned()),
        postal_code: Some(customer.address.postal_code.to_owned()),
        country: Some(customer.address.country.to_owned()),
        phone: None,
        email: Some(customer.email.clone()),
    };
    let on_terms = customer.company.is_some() && rng.random_bool(0.5);
    let payment = if on_terms {
        PaymentInfo {
            method: "purchase_order".to_owned(),
            status: "authorized".to_owned(),
            amount: total,
            transaction_id: None,
            gateway: None,
            card_brand: None,
            last4: None,
            po_number: Some(format!("PO-{}", rng.random_range(10_000..99_999))),
            terms: Some("Net 30".to_owned()),
            captured_at: None,
        }
    } else {
        PaymentInfo {
            method: "credit_card".to_owned(),
            status: "captured".to_owned(),
            amount: total,
            transaction_id: Some(format!("ch_{}", crate::random_token("")[..16].to_owned())),
            gateway: Some("stripe".to_owned()),
            card_brand: Some(
                ["visa", "mastercard", "amex"]
                    .choose(rng)
                    .unwrap()
                    .to_string(),
            ),
            last4: Some(format!("{:04}", rng.random_range(0..10_000))),
            po_number: None,
            terms: None,
            captured_at: Some(stamp.clone()),
        }
    };
    Order {
        order_id: String::new(),
        customer_id: customer.id.clone(),
        order_date: stamp.clone(),
        status: "processing".to_owned(),
        currency: customer.currency.to_owned(),
        subtotal_amount: money(subtotal),
        discount_amount: money(discount),
        shipping_amount: shipping,
        tax_amount: money(tax),
        total_amount: total,
        email: customer.email.clone(),
        channel: "web".to_owned(),
        shipping_address: address.clone(),
        billing_address: address,
        line_items: lines,
        payment_info: payment,
        coupon_code: coupon.map(|(c, _)| c.to_owned()),
        erp_references: serde_json::Map::new(),
        notes: None,
        version: 1,
        created_date: stamp.clone(),
        updated_date: stamp,
    }
}

/// The store's product id of a catalog SKU: `SKU-1001` → `P-1001`.
pub(crate) fn product_id(sku: &str) -> String {
    format!("P-{}", sku.trim_start_matches("SKU-"))
}

// ---------------------------------------------------------------------------
// Admin: place orders as a shopper

#[derive(Debug, Deserialize)]
pub(super) struct SimOrders {
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    payload: Option<String>,
}

fn one() -> u32 {
    1
}

/// `POST /{pair_id}/__sim/orders {count, payload: "full"|"id"}`.
pub(super) async fn sim_orders(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    Json(body): Json<SimOrders>,
) -> ApiResult<Response> {
    pair_exists(&state, &pair_id).await?;
    if !(1..=500).contains(&body.count) {
        return Err(ApiError::validation(
            "count",
            "OUT_OF_RANGE",
            "count must be 1 to 500",
        ));
    }
    let mode = match body.payload.as_deref() {
        None | Some("full") => PayloadMode::Full,
        Some("id") | Some("id_only") => PayloadMode::IdOnly,
        Some(other) => {
            return Err(ApiError::validation(
                "payload",
                "INVALID",
                format!("'{other}' is not full or id"),
            ));
        }
    };
    let ids = create_orders(&state, &pair_id, body.count, mode).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "orderIds": ids })),
    )
        .into_response())
}

/// `POST /{pair_id}/__sim/orders/{orderId}/capture`: the shopper's payment
/// is captured (an authorized purchase order is paid): `paymentInfo` becomes
/// `captured` and the store emits `order.paid`. Capturing twice changes nothing.
pub(super) async fn sim_capture(
    State(state): State<SandboxState>,
    Path((pair_id, order_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    pair_exists(&state, &pair_id).await?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let mut order = load(&mut *tx, &pair_id, &order_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {order_id} does not exist")))?;
    match order["paymentInfo"]["status"].as_str() {
        Some("captured") => return Ok(with_etag(order)),
        Some("authorized") => {}
        other => {
            return Err(ApiError::conflict(
                format!("the payment of {order_id} is {other:?}, not authorized"),
                None,
            ));
        }
    }
    let previous = serde_json::json!({ "paymentInfo": {
        "status": "authorized", "capturedAt": order["paymentInfo"]["capturedAt"].clone() } });
    order["paymentInfo"]["status"] = "captured".into();
    order["paymentInfo"]["capturedAt"] = rfc3339_ms(now).into();
    save_changed(&mut tx, &pair_id, &mut order, previous, "order.paid", now).await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(order))
}

// ---------------------------------------------------------------------------
// API

/// `GET /api/v1/orders` (spec §2): every Phoenix filter on every order
/// field. The indexed ones (`updatedDate`/`createdDate` ranges, `status`,
/// `customerId`, `orderId`) are SQL; any other is applied to the JSON of
/// the orders those select, and a sort on a field without a column sorts
/// them too.
pub(super) async fn list(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:read").await?;
    let params = ListParams::parse(raw.as_deref());
    let paging = params.paging()?;
    // Every key names an order field with a value of its type (400 if not).
    JsonFilter::parse(&params, FIELDS, ENUMS)?;
    let rest = JsonFilter::parse(&params.without(SQL_FILTERS), FIELDS, ENUMS)?;
    let mut f = Filter::new(&pair_id);
    if let Some(min) = params.time("updatedDateMin")? {
        f.cond("updated_at", ">=", Bind::Int(min));
    }
    if let Some(max) = params.time("updatedDateMax")? {
        f.cond("updated_at", "<=", Bind::Int(max));
    }
    if let Some(min) = params.time("createdDateMin")? {
        f.cond("created_at", ">=", Bind::Int(min));
    }
    if let Some(max) = params.time("createdDateMax")? {
        f.cond("created_at", "<=", Bind::Int(max));
    }
    // The spec's spelling of a status named in any case.
    let canonical = |values: Vec<&str>| -> Vec<&'static str> {
        values
            .iter()
            .filter_map(|v| {
                ORDER_STATUSES
                    .iter()
                    .find(|s| s.eq_ignore_ascii_case(v))
                    .copied()
            })
            .collect()
    };
    f.any_of("status", &canonical(params.all("status")), false);
    f.any_of("status", &canonical(params.all("NotStatus")), true);
    f.any_of("customer_id", &params.all("customerId"), false);
    f.any_of("order_id", &params.all("orderId"), false);
    let sort = params.one("sort");
    let sql_order = sort_clause(sort)?;
    if let (true, Some(order_by)) = (rest.is_empty(), &sql_order) {
        return Ok(paged(&state, "sim_clarity_orders", &f, order_by, paging)
            .await?
            .into_response());
    }
    let order_by = sql_order
        .clone()
        .unwrap_or_else(|| "updated_at ASC, order_id ASC".to_owned());
    let sql = format!(
        "SELECT body FROM sim_clarity_orders WHERE {} ORDER BY {order_by}",
        f.where_sql()
    );
    let rows: Vec<(String,)> = f
        .bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .fetch_all(state.db.pool())
        .await?
        .iter()
        .map(|r| {
            use sqlx::Row;
            r.try_get::<String, _>(0).map(|b| (b,))
        })
        .collect::<Result<_, _>>()?;
    let mut hits = Vec::with_capacity(rows.len());
    for (body,) in &rows {
        let order: serde_json::Value = serde_json::from_str(body).map_err(ApiError::internal)?;
        if rest.matches(&order) {
            hits.push(order);
        }
    }
    if sql_order.is_none() {
        let sort = sort.map(|s| {
            s.split(',')
                .map(|item| match item.split_once(':') {
                    Some((f, d)) if f.trim() == "id" => format!("orderId:{d}"),
                    None if item.trim() == "id" => "orderId".to_owned(),
                    _ => item.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(",")
        });
        sort_records(&mut hits, sort.as_deref(), FIELDS, &["orderId"])?;
    }
    let (size, index) = paging;
    Ok(Json(page(hits, size, index)).into_response())
}

/// `sort=updatedDate:asc,orderId:asc` → SQL; always ends on the key so that
/// paging is stable. `None` when a field it names is an order field the
/// table has no column for (the JSON is sorted instead); 400 on a name that
/// is no order field, or an unknown direction.
fn sort_clause(sort: Option<&str>) -> ApiResult<Option<String>> {
    let Some(sort) = sort.filter(|s| !s.trim().is_empty()) else {
        return Ok(Some("updated_at ASC, order_id ASC".to_owned()));
    };
    let mut parts = Vec::new();
    let mut in_sql = true;
    for item in sort.split(',') {
        let (field, dir) = item.split_once(':').unwrap_or((item, "asc"));
        let field = field.trim();
        let column = match field.to_ascii_lowercase().as_str() {
            "updateddate" => Some("updated_at"),
            "createddate" | "orderdate" => Some("created_at"),
            "orderid" | "id" => Some("order_id"),
            "status" => Some("status"),
            "customerid" => Some("customer_id"),
            _ if FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field)) => None,
            _ => return Err(ApiError::bad_request(format!("cannot sort by '{field}'"))),
        };
        let dir = match dir.trim().to_lowercase().as_str() {
            "asc" => "ASC",
            "desc" => "DESC",
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown sort direction '{other}'"
                )));
            }
        };
        match column {
            Some(c) => parts.push(format!("{c} {dir}")),
            None => in_sql = false,
        }
    }
    if !in_sql {
        return Ok(None);
    }
    if !parts.iter().any(|p| p.starts_with("order_id ")) {
        parts.push("order_id ASC".to_owned());
    }
    Ok(Some(parts.join(", ")))
}

pub(crate) async fn load(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    pair_id: &str,
    order_id: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT body FROM sim_clarity_orders WHERE pair_id = $1 AND order_id = $2")
            .bind(pair_id)
            .bind(order_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(b,)| serde_json::from_str(&b).ok()))
}

fn with_etag(value: serde_json::Value) -> Response {
    let version = value.get("version").and_then(|v| v.as_i64()).unwrap_or(0);
    let mut r = Json(value).into_response();
    if let Ok(v) = format!("\"{version}\"").parse() {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// `GET /api/v1/orders/{orderId}`.
pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, order_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:read").await?;
    let order = load(state.db.pool(), &pair_id, &order_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {order_id} does not exist")))?;
    Ok(with_etag(order))
}

/// The `If-Match` version, when sent.
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request("If-Match must be a quoted version number")),
    }
}

/// Writes `order` back with its version bumped and emits `event` with the
/// changed fields' old values.
pub(crate) async fn save_changed(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    order: &mut serde_json::Value,
    previous: serde_json::Value,
    event: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let version = order.get("version").and_then(|v| v.as_i64()).unwrap_or(0) + 1;
    order["version"] = version.into();
    order["updatedDate"] = rfc3339_ms(now).into();
    let status = order["status"].as_str().unwrap_or("pending").to_owned();
    let order_id = order["orderId"].as_str().unwrap_or_default().to_owned();
    sqlx::query(
        "UPDATE sim_clarity_orders SET status = $3, version = $4, body = $5, updated_at = $6 \
         WHERE pair_id = $1 AND order_id = $2",
    )
    .bind(pair_id)
    .bind(&order_id)
    .bind(&status)
    .bind(version)
    .bind(order.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    webhooks::emit(conn, pair_id, event, order.clone(), Some(previous), now).await?;
    Ok(())
}

/// `PATCH /api/v1/orders/{orderId}`: only `status`, `erpReferences` and `notes`.
pub(super) async fn patch(
    State(state): State<SandboxState>,
    Path((pair_id, order_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:write").await?;
    let patch = docs::parse_object(&body)?;
    // A name that is no order field is unknown; the store's own fields are
    // checked against the order once it is read.
    docs::check_keys("an order", "", &patch, FIELDS, &[], None)?;
    if let Some(s) = patch.get("status") {
        match s.as_str() {
            Some(s) if ORDER_STATUSES.contains(&s) => {}
            _ => {
                return Err(ApiError::validation(
                    "status",
                    "INVALID_ENUM",
                    format!("status must be one of {}", ORDER_STATUSES.join(", ")),
                ));
            }
        }
    }
    if patch.get("erpReferences").is_some_and(|v| !v.is_object()) {
        return Err(ApiError::validation(
            "erpReferences",
            "INVALID_TYPE",
            "must be an object",
        ));
    }
    if patch
        .get("notes")
        .is_some_and(|v| !(v.is_string() || v.is_null()))
    {
        return Err(ApiError::validation(
            "notes",
            "INVALID_TYPE",
            "must be a string",
        ));
    }
    let expected = if_match(&headers)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let mut order = load(&mut *tx, &pair_id, &order_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {order_id} does not exist")))?;
    if let Some(v) = expected
        && order["version"].as_i64() != Some(v)
    {
        return Err(ApiError::precondition(format!(
            "order {order_id} is at version {}, not {v}",
            order["version"]
        )));
    }
    // Only status, erpReferences and notes change; the rest may be sent back as it is.
    docs::check_keys("an order", "", &patch, PATCHABLE, FIELDS, Some(&order))?;
    let mut previous = serde_json::Map::new();
    let mut changed = false;
    for (key, value) in patch
        .iter()
        .filter(|(k, _)| PATCHABLE.contains(&k.as_str()))
    {
        let new_value = if key == "erpReferences" {
            // Partial-object patching: references of other systems stay.
            let mut merged = order[key].as_object().cloned().unwrap_or_default();
            for (k, v) in value.as_object().into_iter().flatten() {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            serde_json::Value::Object(merged)
        } else {
            value.clone()
        };
        if order[key] != new_value {
            previous.insert(key.clone(), order[key].clone());
            order[key] = new_value;
            changed = true;
        }
    }
    if !changed {
        return Ok(with_etag(order));
    }
    let cancelled_now = previous.contains_key("status") && order["status"] == "cancelled";
    if cancelled_now {
        release_all(&mut tx, &pair_id, &order, now).await?;
    }
    let event = if cancelled_now {
        "order.cancelled"
    } else {
        "order.updated"
    };
    save_changed(&mut tx, &pair_id, &mut order, previous.into(), event, now).await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(order))
}

async fn release_all(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    order: &serde_json::Value,
    now: i64,
) -> Result<(), sqlx::Error> {
    for line in order["lineItems"].as_array().into_iter().flatten() {
        let sku = line["sku"].as_str().unwrap_or_default();
        let qty = super::inventory::qty_e4(&line["quantity"], "quantity")
            .map(super::inventory::e4_decimal)
            .unwrap_or_default();
        reserve(conn, pair_id, sku, -qty, now).await?;
    }
    Ok(())
}

/// `POST /api/v1/orders/{orderId}/cancel`: idempotent.
pub(super) async fn cancel(
    State(state): State<SandboxState>,
    Path((pair_id, order_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&state, &pair_id, &headers, "orders:write").await?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let mut order = load(&mut *tx, &pair_id, &order_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {order_id} does not exist")))?;
    match order["status"].as_str() {
        Some("cancelled") => return Ok(with_etag(order)),
        Some("shipped" | "completed" | "refunded" | "partially_shipped") => {
            return Err(ApiError::conflict(
                format!(
                    "order {order_id} is {} and cannot be cancelled",
                    order["status"]
                ),
                None,
            ));
        }
        _ => {}
    }
    let previous = serde_json::json!({ "status": order["status"].clone() });
    order["status"] = "cancelled".into();
    release_all(&mut tx, &pair_id, &order, now).await?;
    save_changed(
        &mut tx,
        &pair_id,
        &mut order,
        previous,
        "order.cancelled",
        now,
    )
    .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafted_orders_balance_exactly_and_use_the_catalog() {
        let products = catalog::products();
        let customers = catalog::customers();
        let skus: std::collections::HashSet<_> = products.iter().map(|p| p.sku.clone()).collect();
        let mut rng = rand::rng();
        for _ in 0..500 {
            let o = draft_order(&mut rng, &products, &customers, 1_717_236_001_000);
            assert!(o.totals_balance(), "{o:?}");
            assert!((1..=4).contains(&o.line_items.len()));
            let mut sum_tax = Decimal::ZERO;
            for l in &o.line_items {
                assert!(skus.contains(&l.sku));
                assert_eq!(l.line_total, l.quantity * l.unit_price - l.discount);
                sum_tax += l.tax;
            }
            assert_eq!(sum_tax, o.tax_amount);
            assert_eq!(o.payment_info.amount, o.total_amount);
            // Money is always written with two places.
            let v = serde_json::to_value(&o).unwrap();
            for key in [
                "subtotalAmount",
                "discountAmount",
                "shippingAmount",
                "taxAmount",
                "totalAmount",
            ] {
                let s = v[key].as_str().unwrap();
                assert_eq!(s.split('.').nth(1).map(str::len), Some(2), "{key}={s}");
            }
        }
    }

    #[test]
    fn sorting_is_stable_and_checked() {
        assert_eq!(
            sort_clause(None).unwrap().as_deref(),
            Some("updated_at ASC, order_id ASC")
        );
        assert_eq!(
            sort_clause(Some("updatedDate:desc")).unwrap().as_deref(),
            Some("updated_at DESC, order_id ASC")
        );
        assert_eq!(
            sort_clause(Some("totalAmount:desc,orderId")).unwrap(),
            None,
            "an order field without a column sorts the JSON"
        );
        assert!(sort_clause(Some("secret:asc")).is_err());
        assert!(sort_clause(Some("status:sideways")).is_err());
    }
}
