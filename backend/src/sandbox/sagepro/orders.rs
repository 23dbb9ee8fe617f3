//! Sales orders (spec §3.1, §6): idempotent creation with Pro Series
//! validation, numbering and stock effects; lists and reads.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use connect_jobs::connectors::sagepro::wire::{
    Address, Customer, LineItem, OrderInput, Product, SalesOrder,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::Digest;

use super::seed::QTY_SCALE;
use super::{SpError, SpResult, modified_since, paged, paging, with_etag};
use crate::db::{Db, is_unique_violation, now_ms};
use crate::sandbox::SandboxState;
use crate::sandbox::clarity::{Bind, Filter, ListParams, rfc3339_ms};

const ORDER_TYPES: [&str; 3] = ["Standard", "Bid", "Backorder"];
const ORDER_STATUSES: [&str; 6] = [
    "Open",
    "Backordered",
    "PartiallyShipped",
    "Closed",
    "Cancelled",
    "Invoiced",
];
/// N(12,2): the largest amount a money field holds.
const MAX_MONEY: Decimal = Decimal::from_parts(99_999_999_999_u64 as u32, 23, 0, false, 2);

/// Every order the pair's company holds, by number (for the product's
/// "what the ERP simulator holds" view).
pub async fn list_orders(db: &Db, pair_id: &str) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_sagepro_orders WHERE pair_id = $1 ORDER BY sales_order_no",
    )
    .bind(pair_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(b,)| serde_json::from_str(&b).ok())
        .collect())
}

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn check_len(field: &str, value: &str, max: usize) -> SpResult<()> {
    let n = value.chars().count();
    if n > max {
        return Err(SpError::validation(
            &format!("{field} is too long"),
            field,
            format!("{field} is {n} characters; the maximum is {max}"),
        ));
    }
    Ok(())
}

fn check_money(field: &str, value: Decimal, allow_negative: bool) -> SpResult<()> {
    if value.scale() > 2 && value != round2(value) {
        return Err(SpError::validation(
            "Amount has more than 2 decimals",
            field,
            format!("{field} {value} has more than 2 decimal places"),
        ));
    }
    if value.abs() > MAX_MONEY || (!allow_negative && value < Decimal::ZERO) {
        return Err(SpError::validation(
            "Amount out of range",
            field,
            format!("{field} {value} is out of range"),
        ));
    }
    Ok(())
}

fn trimmed(s: &Option<String>) -> String {
    s.as_deref().unwrap_or("").trim().to_owned()
}

fn clean_address(field: &str, a: &Address) -> SpResult<Address> {
    let out = Address {
        name: a.name.trim().to_owned(),
        address1: a.address1.trim().to_owned(),
        address2: a.address2.trim().to_owned(),
        city: a.city.trim().to_owned(),
        state: a.state.trim().to_owned(),
        zip: a.zip.trim().to_owned(),
        country: a.country.trim().to_owned(),
        phone: a.phone.trim().to_owned(),
        email: a.email.trim().to_owned(),
    };
    for (name, value, max) in out.fields() {
        check_len(&format!("{field}.{name}"), value, max)?;
    }
    Ok(out)
}

/// A validated order ready to store, and the stock it asks for.
struct Accepted {
    order: SalesOrder,
    /// (item, warehouse, quantity in ten-thousandths)
    stock: Vec<(String, String, i64)>,
}

/// Validates `input` against company 01's masters, in the write transaction.
async fn validate(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    input: &OrderInput,
) -> SpResult<Accepted> {
    let customer_no = trimmed(&input.customer_no).to_uppercase();
    if customer_no.is_empty() {
        return Err(SpError::validation(
            "No Customer Number",
            "CustomerNo",
            "CustomerNo is required",
        ));
    }
    check_len("CustomerNo", &customer_no, 10)?;
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_sagepro_customers WHERE pair_id = $1 AND customer_no = $2",
    )
    .bind(pair_id)
    .bind(&customer_no)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((customer_body,)) = row else {
        return Err(SpError::validation(
            "Invalid Customer Number",
            "CustomerNo",
            format!("Customer '{customer_no}' does not exist"),
        ));
    };
    let customer: Customer = serde_json::from_str(&customer_body).map_err(SpError::internal)?;
    if customer.on_hold || customer.status != "Active" {
        return Err(SpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_STATE",
            "Customer is on hold",
        )
        .detail(
            "CustomerNo",
            format!("Customer '{customer_no}' is on hold or inactive"),
        ));
    }

    let order_date = trimmed(&input.order_date);
    if order_date.is_empty() {
        return Err(SpError::validation(
            "Order date is required",
            "OrderDate",
            "OrderDate is required",
        ));
    }
    let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
    if time::Date::parse(&order_date, &date_fmt).is_err() {
        return Err(SpError::validation(
            "Invalid Order Date",
            "OrderDate",
            format!("'{order_date}' is not a YYYY-MM-DD date"),
        ));
    }
    let order_type = match trimmed(&input.order_type) {
        t if t.is_empty() => "Standard".to_owned(),
        t => ORDER_TYPES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(&t))
            .map(|k| (*k).to_owned())
            .ok_or_else(|| {
                SpError::validation(
                    "Invalid Order Type",
                    "OrderType",
                    format!("'{t}' is not one of {}", ORDER_TYPES.join(", ")),
                )
            })?,
    };

    let terms = match trimmed(&input.payment_terms).to_uppercase() {
        t if t.is_empty() => customer.payment_terms.clone(),
        t => t,
    };
    check_len("PaymentTerms", &terms, 20)?;
    let known: Option<(String,)> =
        sqlx::query_as("SELECT code FROM sim_sagepro_terms WHERE pair_id = $1 AND code = $2")
            .bind(pair_id)
            .bind(&terms)
            .fetch_optional(&mut *conn)
            .await?;
    if known.is_none() {
        return Err(SpError::validation(
            "Invalid Payment Terms",
            "PaymentTerms",
            format!("Terms code '{terms}' does not exist"),
        ));
    }

    let customer_po = trimmed(&input.customer_po);
    check_len("CustomerPO", &customer_po, 20)?;
    let external = trimmed(&input.external_order_id);
    check_len("ExternalOrderId", &external, 30)?;
    let ship_via = trimmed(&input.ship_via);
    check_len("ShipVia", &ship_via, 15)?;
    let sales_rep = trimmed(&input.sales_rep).to_uppercase();
    check_len("SalesRep", &sales_rep, 4)?;
    let notes = trimmed(&input.notes);
    check_len("Notes", &notes, 254)?;

    let ship_to = match &input.ship_to_address {
        Some(a) if !a.is_blank() => clean_address("ShipToAddress", a)?,
        _ => customer.ship_to_address.clone(),
    };
    if ship_to.address1.is_empty() {
        return Err(SpError::validation(
            "Ship-to address is required",
            "ShipToAddress.Address1",
            "Address1 is required on the ship-to address",
        ));
    }
    let bill_to = match &input.bill_to_address {
        Some(a) if !a.is_blank() => clean_address("BillToAddress", a)?,
        _ => customer.bill_to_address.clone(),
    };

    if input.line_items.is_empty() || input.line_items.len() > 999 {
        return Err(SpError::validation(
            "An order needs 1 to 999 lines",
            "LineItems",
            format!("{} lines given", input.line_items.len()),
        ));
    }
    let mut lines = Vec::with_capacity(input.line_items.len());
    let mut stock = Vec::with_capacity(input.line_items.len());
    let mut items: HashMap<String, Product> = HashMap::new();
    for (i, l) in input.line_items.iter().enumerate() {
        let f = |name: &str| format!("LineItems[{i}].{name}");
        let code = trimmed(&l.item_code).to_uppercase();
        if code.is_empty() {
            return Err(SpError::validation(
                "Invalid Item Code",
                &f("ItemCode"),
                "ItemCode is required",
            ));
        }
        check_len(&f("ItemCode"), &code, 20)?;
        if !items.contains_key(&code) {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT body FROM sim_sagepro_items WHERE pair_id = $1 AND item_code = $2",
            )
            .bind(pair_id)
            .bind(&code)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((body,)) = row else {
                return Err(SpError::validation(
                    "Invalid Item Code",
                    &f("ItemCode"),
                    format!("Item '{code}' does not exist"),
                ));
            };
            items.insert(
                code.clone(),
                serde_json::from_str(&body).map_err(SpError::internal)?,
            );
        }
        let item = &items[&code];
        if item.status != "Active" {
            return Err(SpError::validation(
                "Invalid Item Code",
                &f("ItemCode"),
                format!("Item '{code}' is inactive"),
            ));
        }
        let quantity = l.quantity.unwrap_or_default();
        if quantity <= Decimal::ZERO {
            return Err(SpError::validation(
                "Quantity must be greater than zero",
                &f("Quantity"),
                format!("Quantity {quantity} on item '{code}'"),
            ));
        }
        if quantity.normalize().scale() > 4 {
            return Err(SpError::validation(
                "Quantity has more than 4 decimals",
                &f("Quantity"),
                format!("Quantity {quantity}"),
            ));
        }
        let unit_price = l.unit_price.unwrap_or(item.price);
        check_money(&f("UnitPrice"), unit_price, false)?;
        let tax = l.tax_amount.unwrap_or_default();
        check_money(&f("TaxAmount"), tax, false)?;
        let discount = l.discount.unwrap_or_default();
        check_money(&f("Discount"), discount, false)?;
        let description = match trimmed(&l.description) {
            d if d.is_empty() => item.description.clone(),
            d => d,
        };
        check_len(&f("Description"), &description, 40)?;
        let warehouse = match trimmed(&l.warehouse).to_uppercase() {
            w if w.is_empty() => item.default_warehouse.clone(),
            w => w,
        };
        check_len(&f("Warehouse"), &warehouse, 6)?;
        let wh: Option<(String,)> = sqlx::query_as(
            "SELECT code FROM sim_sagepro_warehouses WHERE pair_id = $1 AND code = $2",
        )
        .bind(pair_id)
        .bind(&warehouse)
        .fetch_optional(&mut *conn)
        .await?;
        if wh.is_none() {
            return Err(SpError::validation(
                "Invalid Warehouse",
                &f("Warehouse"),
                format!("Warehouse '{warehouse}' does not exist"),
            ));
        }
        let extended = round2(quantity * unit_price) - discount;
        let qty_units = (quantity * Decimal::from(QTY_SCALE))
            .round()
            .to_i64()
            .unwrap_or(0);
        stock.push((code.clone(), warehouse.clone(), qty_units));
        lines.push(LineItem {
            line_no: (i + 1) as u32,
            item_code: code,
            description,
            quantity: quantity.normalize(),
            unit_price: unit_price.normalize(),
            tax_amount: tax.normalize(),
            discount: discount.normalize(),
            warehouse,
            extended_amount: extended.normalize(),
            qty_shipped: Decimal::ZERO,
        });
    }
    let freight = input.freight_amount.unwrap_or_default();
    check_money("FreightAmount", freight, false)?;
    let tax_total: Decimal = lines.iter().map(|l| l.tax_amount).sum();
    let total = lines.iter().map(|l| l.extended_amount).sum::<Decimal>() + tax_total + freight;
    check_money("TotalAmount", total, false)?;
    if let Some(sent) = input.total_amount
        && (sent - total).abs() > Decimal::new(1, 2)
    {
        return Err(SpError::validation(
            "Order total does not match line totals",
            "TotalAmount",
            format!("TotalAmount {sent} but lines, tax and freight add up to {total}"),
        ));
    }
    Ok(Accepted {
        order: SalesOrder {
            sales_order_no: String::new(),
            customer_no,
            order_date,
            order_type,
            status: "Open".to_owned(),
            customer_po,
            external_order_id: (!external.is_empty()).then_some(external),
            ship_to_address: ship_to,
            bill_to_address: bill_to,
            line_items: lines,
            freight_amount: freight.normalize(),
            tax_total: tax_total.normalize(),
            total_amount: total.normalize(),
            payment_terms: terms,
            ship_via,
            sales_rep,
            notes,
            row_version: 1,
            last_modified: String::new(),
        },
        stock,
    })
}

fn body_hash(route: &str, body: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(route.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

fn in_progress() -> SpError {
    SpError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_IN_PROGRESS",
        "A request with this Idempotency-Key is still processing",
    )
    .retry_after(1)
}

/// `POST /orders` (spec §3.1, §6).
pub(super) async fn create(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    if key.is_empty() || key.chars().count() > 100 {
        return Err(SpError::bad_request(
            "Idempotency-Key header is required (1 to 100 characters)",
        )
        .detail("Idempotency-Key", "missing or too long"));
    }
    let input: OrderInput = serde_json::from_slice(&body)
        .map_err(|e| SpError::bad_request(format!("Malformed JSON: {e}")))?;
    let hash = body_hash("POST /orders", &body);
    let now = now_ms();

    let mut tx = state.db.begin_write().await?;
    let stored: Option<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT request_hash, state, status_code, response FROM sim_sagepro_idempotency \
         WHERE pair_id = $1 AND idem_key = $2",
    )
    .bind(&pair_id)
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((stored_hash, record_state, status, response)) = stored {
        if stored_hash != hash {
            return Err(SpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                format!("Idempotency-Key '{key}' was used with a different request body"),
            ));
        }
        return match (record_state.as_str(), status, response) {
            ("done", Some(status), Some(response)) => {
                let value: serde_json::Value =
                    serde_json::from_str(&response).map_err(SpError::internal)?;
                let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::CREATED);
                let mut r = with_etag(status, &value);
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                add_location(&mut r, &value);
                Ok(r)
            }
            _ => Err(in_progress()),
        };
    }

    let accepted = validate(&mut tx, &pair_id, &input).await?;
    let mut order = accepted.order;
    if let Some(external) = &order.external_order_id {
        let existing: Option<(String,)> = sqlx::query_as(
            "SELECT sales_order_no FROM sim_sagepro_orders WHERE pair_id = $1 AND external_order_id = $2",
        )
        .bind(&pair_id)
        .bind(external)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((no,)) = existing {
            return Err(SpError::duplicate("ExternalOrderId", external, &no));
        }
    }

    let (number,): (i64,) = sqlx::query_as(
        "UPDATE sim_sagepro_counters SET value = value + 1 WHERE pair_id = $1 AND name = 'sales_order' RETURNING value",
    )
    .bind(&pair_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| SpError::not_found("This company has no sales order numbering"))?;
    order.sales_order_no = format!("{number:07}");
    order.last_modified = rfc3339_ms(now);

    // Stock: commit what is available; a short line backorders the order.
    let mut short = false;
    for (item, warehouse, qty) in &accepted.stock {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT qty_on_hand, qty_committed FROM sim_sagepro_inventory \
             WHERE pair_id = $1 AND item_code = $2 AND warehouse = $3",
        )
        .bind(&pair_id)
        .bind(item)
        .bind(warehouse)
        .fetch_optional(&mut *tx)
        .await?;
        let (on_hand, committed) = row.unwrap_or((0, 0));
        let available = (on_hand - committed).max(0);
        let take = (*qty).min(available);
        if take < *qty {
            short = true;
        }
        if take > 0 {
            sqlx::query(
                "UPDATE sim_sagepro_inventory SET qty_committed = qty_committed + $4, row_version = row_version + 1, \
                 last_modified = $5 WHERE pair_id = $1 AND item_code = $2 AND warehouse = $3",
            )
            .bind(&pair_id)
            .bind(item)
            .bind(warehouse)
            .bind(take)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    if short {
        order.status = "Backordered".to_owned();
    }

    let value = serde_json::to_value(&order).map_err(SpError::internal)?;
    let inserted = sqlx::query(
        "INSERT INTO sim_sagepro_orders (pair_id, sales_order_no, customer_no, status, order_date, customer_po, \
         external_order_id, body, row_version, last_modified) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(&pair_id)
    .bind(&order.sales_order_no)
    .bind(&order.customer_no)
    .bind(&order.status)
    .bind(&order.order_date)
    .bind(&order.customer_po)
    .bind(&order.external_order_id)
    .bind(value.to_string())
    .bind(order.row_version)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        return Err(if is_unique_violation(&e) {
            // A concurrent request took this ExternalOrderId first (Postgres).
            let external = order.external_order_id.clone().unwrap_or_default();
            SpError::duplicate("ExternalOrderId", &external, "another order")
        } else {
            e.into()
        });
    }
    let recorded = sqlx::query(
        "INSERT INTO sim_sagepro_idempotency (pair_id, idem_key, route, request_hash, state, status_code, response, created_at) \
         VALUES ($1,$2,'POST /orders',$3,'done',$4,$5,$6)",
    )
    .bind(&pair_id)
    .bind(&key)
    .bind(&hash)
    .bind(StatusCode::CREATED.as_u16() as i64)
    .bind(value.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(e) = recorded {
        // Same key, concurrent request (Postgres): it wins, this one rolls back.
        return Err(if is_unique_violation(&e) {
            in_progress()
        } else {
            e.into()
        });
    }
    tx.commit().await?;
    let mut r = with_etag(StatusCode::CREATED, &value);
    add_location(&mut r, &value);
    Ok(r)
}

fn add_location(r: &mut Response, value: &serde_json::Value) {
    if let Some(no) = value.get("SalesOrderNo").and_then(|v| v.as_str())
        && let Ok(h) = HeaderValue::from_str(&format!("/api/v1/sagepro/orders/{no}"))
    {
        r.headers_mut().insert(header::LOCATION, h);
    }
}

/// `GET /orders`: `CustomerNo`, `Status`, `OrderDateFrom`, `OrderDateTo`,
/// `CustomerPO`, `ExternalOrderId`, `ModifiedSince`.
pub(super) async fn list(
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
    let customers: Vec<String> = params
        .all("CustomerNo")
        .iter()
        .map(|c| c.trim().to_uppercase())
        .collect();
    f.any_of(
        "customer_no",
        &customers.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
    );
    let statuses = params.all("Status");
    if let Some(bad) = statuses.iter().find(|s| !ORDER_STATUSES.contains(s)) {
        return Err(SpError::bad_request(format!("Unknown Status '{bad}'")));
    }
    f.any_of("status", &statuses, false);
    f.any_of("customer_po", &params.all("CustomerPO"), false);
    f.any_of("external_order_id", &params.all("ExternalOrderId"), false);
    if let Some(d) = params.one("OrderDateFrom") {
        f.cond("order_date", ">=", Bind::Text(d.to_owned()));
    }
    if let Some(d) = params.one("OrderDateTo") {
        f.cond("order_date", "<=", Bind::Text(d.to_owned()));
    }
    paged(
        &state.db,
        "sim_sagepro_orders",
        &f,
        "last_modified ASC, sales_order_no ASC",
        page,
    )
    .await
}

/// `GET /orders/{SalesOrderNo}`.
pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, sales_order_no)): Path<(String, String)>,
) -> SpResult<Response> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_sagepro_orders WHERE pair_id = $1 AND sales_order_no = $2",
    )
    .bind(&pair_id)
    .bind(sales_order_no.trim())
    .fetch_optional(state.db.pool())
    .await?;
    let (body,) =
        row.ok_or_else(|| SpError::not_found(format!("Sales order '{sales_order_no}' not found")))?;
    let value: serde_json::Value = serde_json::from_str(&body).map_err(SpError::internal)?;
    Ok(with_etag(StatusCode::OK, &value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_money_is_the_foxpro_limit() {
        assert_eq!(MAX_MONEY.to_string(), "999999999.99");
    }

    #[test]
    fn money_checks_places_and_range() {
        assert!(check_money("X", Decimal::new(1999, 2), false).is_ok());
        assert!(check_money("X", Decimal::new(19990, 3), false).is_ok());
        assert!(check_money("X", Decimal::new(19991, 3), false).is_err());
        assert!(check_money("X", Decimal::new(-1, 0), false).is_err());
    }
}
