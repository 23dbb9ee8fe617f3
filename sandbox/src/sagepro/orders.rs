//! Sales orders (spec §3.1, §6): idempotent creation with Pro Series
//! validation, numbering and stock effects; full-replace updates while the
//! order is Open or Backordered; lists and reads.

use super::wire::{LineItem, OrderInput, SalesOrder};
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rust_decimal::Decimal;

use super::access::Principal;
use super::idempotency::{IdemKey, answer};
use super::listing::{ListQuery, Sorting};
use super::lookup;
use super::masters::one_body;
use super::rules::{check_date, check_len, check_money, clean_address, qty_units, round2, trimmed};
use super::stock::{self, Demand};
use super::{SpError, SpResult, check_version, if_match, parse_body};
use crate::SandboxState;
use crate::clarity::rfc3339_ms;
use connect_store::{Db, is_unique_violation, now_ms};

const ORDER_TYPES: [&str; 3] = ["Standard", "Bid", "Backorder"];
const ORDER_STATUSES: [&str; 6] = [
    "Open",
    "Backordered",
    "PartiallyShipped",
    "Closed",
    "Cancelled",
    "Invoiced",
];
/// Statuses in which `PUT /orders/{no}` may replace an order.
const EDITABLE: [&str; 2] = ["Open", "Backordered"];

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

/// A validated order ready to store, and the stock it asks for.
struct Accepted {
    order: SalesOrder,
    stock: Vec<Demand>,
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
    let customer = lookup::customer(conn, pair_id, &customer_no).await?;
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
    check_date("OrderDate", &order_date)?;
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
    lookup::terms(conn, pair_id, &terms).await?;

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
    let mut items = lookup::Items::default();
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
        let item = items.get(conn, pair_id, &code, &f("ItemCode")).await?;
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
        let units = qty_units(&f("Quantity"), quantity)?;
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
        lookup::warehouse(conn, pair_id, &warehouse, &f("Warehouse")).await?;
        let extended = round2(quantity * unit_price) - discount;
        stock.push(Demand {
            line_no: (i + 1) as u32,
            item_code: code.clone(),
            warehouse: warehouse.clone(),
            qty: units,
        });
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
            restock: None,
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

/// `POST /orders` (spec §3.1, §6).
pub(super) async fn create(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    const ROUTE: &str = "POST /orders";
    let (raw, input): (_, OrderInput) = parse_body(&body, &super::ORDER_BODY)?;
    let idem = IdemKey::from_headers(&principal, &headers, ROUTE.to_owned(), &raw, true)?
        .expect("required keys are present");
    let now = now_ms();

    let mut tx = state.db.begin_write().await?;
    if let Some(replayed) = idem.replay(&mut tx, &pair_id, now).await? {
        return Ok(replayed);
    }
    let accepted = validate(&mut tx, &pair_id, &input).await?;
    let mut order = accepted.order;
    check_external_unique(&mut tx, &pair_id, order.external_order_id.as_deref(), None).await?;

    let requested = trimmed(&input.sales_order_no);
    order.sales_order_no = if principal.assign_numbers && !requested.is_empty() {
        client_number(&mut tx, &pair_id, &requested).await?
    } else {
        next_number(&mut tx, &pair_id).await?
    };
    order.last_modified = rfc3339_ms(now);
    if stock::commit(
        &mut tx,
        &pair_id,
        &order.sales_order_no,
        &accepted.stock,
        now,
    )
    .await?
    {
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
    idem.record(&mut tx, &pair_id, StatusCode::CREATED, &value, now)
        .await?;
    tx.commit().await?;
    Ok(answer(ROUTE, StatusCode::CREATED, &value))
}

/// `PUT /orders/{SalesOrderNo}`: a full replace of the editable fields while
/// the order is Open or Backordered; its stock is released and committed
/// again, so the status follows availability.
pub(super) async fn update(
    State(state): State<SandboxState>,
    Path((pair_id, sales_order_no)): Path<(String, String)>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    let no = sales_order_no.trim().to_owned();
    let route = format!("PUT /orders/{no}");
    let (raw, input): (_, OrderInput) = parse_body(&body, &super::ORDER_BODY)?;
    let idem = IdemKey::from_headers(&principal, &headers, route.clone(), &raw, false)?;
    let expected = if_match(&headers)?;
    let now = now_ms();

    let mut tx = state.db.begin_write().await?;
    if let Some(idem) = &idem
        && let Some(replayed) = idem.replay(&mut tx, &pair_id, now).await?
    {
        return Ok(replayed);
    }
    let current = load(&mut tx, &pair_id, &no).await?;
    check_version(expected, current.row_version, "SalesOrderNo", &no)?;
    if !EDITABLE.contains(&current.status.as_str()) {
        return Err(SpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_STATE",
            format!(
                "Order {no} is {} and can no longer be changed",
                current.status
            ),
        )
        .detail("Status", format!("{no} is {}", current.status)));
    }
    let accepted = validate(&mut tx, &pair_id, &input).await?;
    let mut order = accepted.order;
    check_external_unique(
        &mut tx,
        &pair_id,
        order.external_order_id.as_deref(),
        Some(&no),
    )
    .await?;
    order.sales_order_no = no.clone();
    order.row_version = current.row_version + 1;
    order.last_modified = rfc3339_ms(now);
    stock::release(&mut tx, &pair_id, &no, now).await?;
    if stock::commit(&mut tx, &pair_id, &no, &accepted.stock, now).await? {
        order.status = "Backordered".to_owned();
    }
    let value = serde_json::to_value(&order).map_err(SpError::internal)?;
    store(&mut tx, &pair_id, &order, &value, now).await?;
    if let Some(idem) = &idem {
        idem.record(&mut tx, &pair_id, StatusCode::OK, &value, now)
            .await?;
    }
    tx.commit().await?;
    Ok(answer(&route, StatusCode::OK, &value))
}

/// The order as stored, or `404`.
pub(super) async fn load(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    no: &str,
) -> SpResult<SalesOrder> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_sagepro_orders WHERE pair_id = $1 AND sales_order_no = $2",
    )
    .bind(pair_id)
    .bind(no)
    .fetch_optional(&mut *conn)
    .await?;
    let (body,) = row.ok_or_else(|| SpError::not_found(format!("Sales order '{no}' not found")))?;
    serde_json::from_str(&body).map_err(SpError::internal)
}

/// Writes back an existing order (body and the columns lists filter on).
pub(super) async fn store(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    order: &SalesOrder,
    value: &serde_json::Value,
    now: i64,
) -> SpResult<()> {
    let updated = sqlx::query(
        "UPDATE sim_sagepro_orders SET customer_no = $3, status = $4, order_date = $5, customer_po = $6, \
         external_order_id = $7, body = $8, row_version = $9, last_modified = $10 \
         WHERE pair_id = $1 AND sales_order_no = $2",
    )
    .bind(pair_id)
    .bind(&order.sales_order_no)
    .bind(&order.customer_no)
    .bind(&order.status)
    .bind(&order.order_date)
    .bind(&order.customer_po)
    .bind(&order.external_order_id)
    .bind(value.to_string())
    .bind(order.row_version)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match updated {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(SpError::duplicate(
            "ExternalOrderId",
            order.external_order_id.as_deref().unwrap_or_default(),
            "another order",
        )),
        Err(e) => Err(e.into()),
    }
}

/// `409 DUPLICATE` when another order (not `own`) holds the ExternalOrderId.
async fn check_external_unique(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    external: Option<&str>,
    own: Option<&str>,
) -> SpResult<()> {
    let Some(external) = external else {
        return Ok(());
    };
    let existing: Option<(String,)> = sqlx::query_as(
        "SELECT sales_order_no FROM sim_sagepro_orders WHERE pair_id = $1 AND external_order_id = $2",
    )
    .bind(pair_id)
    .bind(external)
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        Some((no,)) if Some(no.as_str()) != own => {
            Err(SpError::duplicate("ExternalOrderId", external, &no))
        }
        _ => Ok(()),
    }
}

/// The next `SalesOrderNo`, zero-padded to 7 digits.
async fn next_number(conn: &mut sqlx::AnyConnection, pair_id: &str) -> SpResult<String> {
    let (number,): (i64,) = sqlx::query_as(
        "UPDATE sim_sagepro_counters SET value = value + 1 WHERE pair_id = $1 AND name = 'sales_order' RETURNING value",
    )
    .bind(pair_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| SpError::not_found("This company has no sales order numbering"))?;
    Ok(format!("{number:07}"))
}

/// A number the client assigns (`assign-numbers` scope): numeric, padded
/// like the server's, and not yet taken.
async fn client_number(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    requested: &str,
) -> SpResult<String> {
    if !requested.chars().all(|c| c.is_ascii_digit()) || requested.len() > 10 {
        return Err(SpError::validation(
            "Invalid Sales Order Number",
            "SalesOrderNo",
            format!("'{requested}' is not a number of at most 10 digits"),
        ));
    }
    let no = format!("{requested:0>7}");
    let taken: Option<(String,)> = sqlx::query_as(
        "SELECT sales_order_no FROM sim_sagepro_orders WHERE pair_id = $1 AND sales_order_no = $2",
    )
    .bind(pair_id)
    .bind(&no)
    .fetch_optional(&mut *conn)
    .await?;
    if taken.is_some() {
        return Err(SpError::duplicate("SalesOrderNo", &no, &no));
    }
    Ok(no)
}

/// `GET /orders`'s entity filters (spec §3.1), beside `ModifiedSince`.
pub(super) const FILTERS: [&str; 6] = [
    "CustomerNo",
    "Status",
    "OrderDateFrom",
    "OrderDateTo",
    "CustomerPO",
    "ExternalOrderId",
];

/// `GET /orders`: `CustomerNo`, `Status`, `OrderDateFrom`, `OrderDateTo`,
/// `CustomerPO`, `ExternalOrderId`, `ModifiedSince`.
pub(super) async fn list(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> SpResult<Response> {
    const SORTING: Sorting = Sorting {
        fields: &[
            ("SalesOrderNo", "sales_order_no"),
            ("CustomerNo", "customer_no"),
            ("Status", "status"),
            ("OrderDate", "order_date"),
            ("CustomerPO", "customer_po"),
            ("ExternalOrderId", "external_order_id"),
        ],
        key: "sales_order_no",
    };
    let mut q = ListQuery::parse(
        raw.as_deref(),
        &pair_id,
        state.db.kind(),
        &FILTERS,
        &SORTING,
    )?;
    q.codes("CustomerNo", "customer_no");
    q.one_of("Status", "status", &ORDER_STATUSES)?;
    q.exact("CustomerPO", "customer_po");
    q.exact("ExternalOrderId", "external_order_id");
    q.date_range("OrderDateFrom", "OrderDateTo", "order_date")?;
    q.body_page(&state.db, "sim_sagepro_orders").await
}

/// `GET /orders/{SalesOrderNo}`.
pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, sales_order_no)): Path<(String, String)>,
) -> SpResult<Response> {
    one_body(
        &state,
        "SELECT body FROM sim_sagepro_orders WHERE pair_id = $1 AND sales_order_no = $2",
        &pair_id,
        &sales_order_no,
        "Sales order",
    )
    .await
}
