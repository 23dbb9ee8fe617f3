//! Invoices and credit memos (spec §3.5): from an order (ships the lines'
//! remaining or given quantities; the order becomes PartiallyShipped or
//! Invoiced) or direct (an invoice ships from stock, a credit memo line with
//! `Restock` returns stock). Numbers are always the server's.

use super::wire::{Address, Invoice, InvoiceInput, LineItem, SalesOrder};
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
use super::rules::{
    check_date, check_len, check_money, clean_address, one_of, qty_units, round2, trimmed,
};
use super::stock::{self, Demand};
use super::{SpError, SpResult, parse_body};
use crate::SandboxState;
use crate::clarity::rfc3339_ms;
use connect_store::now_ms;

const TYPES: [&str; 2] = ["Invoice", "CreditMemo"];
const STATUSES: [&str; 4] = ["Open", "Paid", "PartiallyPaid", "Void"];

fn invalid_state(message: impl Into<String>, field: &str, detail: impl Into<String>) -> SpError {
    SpError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_STATE", message).detail(field, detail)
}

/// `POST /invoices`.
pub(super) async fn create(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    const ROUTE: &str = "POST /invoices";
    let (raw, input): (_, InvoiceInput) = parse_body(&body, &super::INVOICE_BODY)?;
    let idem = IdemKey::from_headers(&principal, &headers, ROUTE.to_owned(), &raw, true)?
        .expect("required keys are present");
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(replayed) = idem.replay(&mut tx, &pair_id, now).await? {
        return Ok(replayed);
    }
    let today = rfc3339_ms(now)[..10].to_owned();
    let invoice_date = match trimmed(&input.invoice_date) {
        d if d.is_empty() => today,
        d => {
            check_date("InvoiceDate", &d)?;
            d
        }
    };
    let mut invoice = if trimmed(&input.sales_order_no).is_empty() {
        direct(&mut tx, &pair_id, &input, now).await?
    } else {
        from_order(&mut tx, &pair_id, &input, now).await?
    };
    invoice.invoice_date = invoice_date;
    let (days,): (i64,) =
        sqlx::query_as("SELECT due_days FROM sim_sagepro_terms WHERE pair_id = $1 AND code = $2")
            .bind(&pair_id)
            .bind(&invoice.payment_terms)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or((0,));
    let date = check_date("InvoiceDate", &invoice.invoice_date)?;
    invoice.due_date = (date + time::Duration::days(days)).to_string();
    let (number,): (i64,) = sqlx::query_as(
        "UPDATE sim_sagepro_counters SET value = value + 1 WHERE pair_id = $1 AND name = 'invoice' RETURNING value",
    )
    .bind(&pair_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| SpError::not_found("This company has no invoice numbering"))?;
    invoice.invoice_no = format!("{number:07}");
    invoice.last_modified = rfc3339_ms(now);

    let value = serde_json::to_value(&invoice).map_err(SpError::internal)?;
    sqlx::query(
        "INSERT INTO sim_sagepro_invoices (pair_id, invoice_no, invoice_type, customer_no, sales_order_no, status, \
         invoice_date, body, row_version, last_modified) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(&pair_id)
    .bind(&invoice.invoice_no)
    .bind(&invoice.invoice_type)
    .bind(&invoice.customer_no)
    .bind(&invoice.sales_order_no)
    .bind(&invoice.status)
    .bind(&invoice.invoice_date)
    .bind(value.to_string())
    .bind(invoice.row_version)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    idem.record(&mut tx, &pair_id, StatusCode::CREATED, &value, now)
        .await?;
    tx.commit().await?;
    Ok(answer(ROUTE, StatusCode::CREATED, &value))
}

fn totals(lines: &[LineItem], freight: Decimal) -> (Decimal, Decimal) {
    let tax: Decimal = lines.iter().map(|l| l.tax_amount).sum();
    let total = lines.iter().map(|l| l.extended_amount).sum::<Decimal>() + tax + freight;
    (tax.normalize(), total.normalize())
}

fn from_units(units: i64) -> Decimal {
    Decimal::new(units, 4).normalize()
}

/// Mode (a): ship and invoice an order's lines.
async fn from_order(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    input: &InvoiceInput,
    now: i64,
) -> SpResult<Invoice> {
    let no = trimmed(&input.sales_order_no);
    let mut order: SalesOrder = match super::orders::load(conn, pair_id, &no).await {
        Ok(o) => o,
        Err(_) => {
            return Err(SpError::validation(
                "Invalid Sales Order Number",
                "SalesOrderNo",
                format!("Sales order '{no}' does not exist"),
            ));
        }
    };
    if let Some(t) = &input.invoice_type
        && !t.trim().eq_ignore_ascii_case("Invoice")
    {
        return Err(SpError::validation(
            "Invalid InvoiceType",
            "InvoiceType",
            "An invoice from an order is of type Invoice",
        ));
    }
    if ["Closed", "Cancelled", "Invoiced"].contains(&order.status.as_str()) {
        return Err(invalid_state(
            format!("Order {no} is {} and has nothing to invoice", order.status),
            "SalesOrderNo",
            format!("{no} is {}", order.status),
        ));
    }
    let remaining = |l: &LineItem| l.quantity - l.qty_shipped;
    // (index into the order's lines, quantity shipped now)
    let mut shipping: Vec<(usize, Decimal)> = Vec::new();
    match &input.lines {
        None => {
            for (i, l) in order.line_items.iter().enumerate() {
                if remaining(l) > Decimal::ZERO {
                    shipping.push((i, remaining(l)));
                }
            }
        }
        Some(lines) => {
            for (k, s) in lines.iter().enumerate() {
                let field = |name: &str| format!("Lines[{k}].{name}");
                let Some(i) = order.line_items.iter().position(|l| l.line_no == s.line_no) else {
                    return Err(SpError::validation(
                        "Invalid Line Number",
                        &field("LineNo"),
                        format!("Order {no} has no line {}", s.line_no),
                    ));
                };
                if shipping.iter().any(|(j, _)| *j == i) {
                    return Err(SpError::validation(
                        "Line listed twice",
                        &field("LineNo"),
                        format!("Line {} is listed more than once", s.line_no),
                    ));
                }
                qty_units(&field("QtyShipped"), s.qty_shipped)?;
                if s.qty_shipped <= Decimal::ZERO {
                    return Err(SpError::validation(
                        "Quantity must be greater than zero",
                        &field("QtyShipped"),
                        format!("QtyShipped {} on line {}", s.qty_shipped, s.line_no),
                    ));
                }
                let left = remaining(&order.line_items[i]);
                if s.qty_shipped > left {
                    return Err(SpError::validation(
                        "Quantity exceeds the remaining quantity",
                        &field("QtyShipped"),
                        format!(
                            "Line {} has {} left to ship, not {}",
                            s.line_no,
                            left.normalize(),
                            s.qty_shipped
                        ),
                    ));
                }
                shipping.push((i, s.qty_shipped));
            }
        }
    }
    if shipping.is_empty() {
        return Err(invalid_state(
            format!("Order {no} has nothing left to invoice"),
            "SalesOrderNo",
            format!("every line of {no} has shipped"),
        ));
    }
    let mut lines = Vec::with_capacity(shipping.len());
    for (k, (i, q)) in shipping.iter().enumerate() {
        let ol = &order.line_items[*i];
        // Tax and discount follow the share of the line shipped now.
        let share = *q / ol.quantity;
        let tax = round2(ol.tax_amount * share);
        let discount = round2(ol.discount * share);
        let units = qty_units("QtyShipped", *q)?;
        stock::ship(
            conn,
            pair_id,
            &no,
            &Demand {
                line_no: ol.line_no,
                item_code: ol.item_code.clone(),
                warehouse: ol.warehouse.clone(),
                qty: units,
            },
            &format!("Lines[{k}].QtyShipped"),
            now,
        )
        .await?;
        lines.push(LineItem {
            line_no: (k + 1) as u32,
            item_code: ol.item_code.clone(),
            description: ol.description.clone(),
            quantity: q.normalize(),
            unit_price: ol.unit_price,
            tax_amount: tax.normalize(),
            discount: discount.normalize(),
            warehouse: ol.warehouse.clone(),
            extended_amount: (round2(*q * ol.unit_price) - discount).normalize(),
            qty_shipped: q.normalize(),
            restock: None,
        });
    }
    for (i, q) in &shipping {
        let l = &mut order.line_items[*i];
        l.qty_shipped = (l.qty_shipped + *q).normalize();
    }
    let first: Option<(String,)> = sqlx::query_as(
        "SELECT invoice_no FROM sim_sagepro_invoices WHERE pair_id = $1 AND sales_order_no = $2",
    )
    .bind(pair_id)
    .bind(&no)
    .fetch_optional(&mut *conn)
    .await?;
    // The order's freight goes on its first invoice unless the caller says.
    let freight = match input.freight_amount {
        Some(f) => {
            check_money("FreightAmount", f, false)?;
            f
        }
        None if first.is_none() => order.freight_amount,
        None => Decimal::ZERO,
    };
    order.status = if order.line_items.iter().all(|l| l.qty_shipped >= l.quantity) {
        "Invoiced"
    } else {
        "PartiallyShipped"
    }
    .to_owned();
    order.row_version += 1;
    order.last_modified = rfc3339_ms(now);
    let order_value = serde_json::to_value(&order).map_err(SpError::internal)?;
    super::orders::store(conn, pair_id, &order, &order_value, now).await?;

    let (tax_total, total) = totals(&lines, freight);
    Ok(Invoice {
        invoice_no: String::new(),
        invoice_type: "Invoice".to_owned(),
        invoice_date: String::new(),
        due_date: String::new(),
        customer_no: order.customer_no.clone(),
        sales_order_no: Some(no),
        customer_po: order.customer_po.clone(),
        applies_to_invoice_no: None,
        ship_to_address: order.ship_to_address.clone(),
        bill_to_address: order.bill_to_address.clone(),
        line_items: lines,
        freight_amount: freight.normalize(),
        tax_total,
        total_amount: total,
        amount_paid: Decimal::ZERO,
        balance_due: total,
        payment_terms: order.payment_terms.clone(),
        status: "Open".to_owned(),
        row_version: 1,
        last_modified: String::new(),
    })
}

/// Mode (b): a direct invoice or a credit memo.
async fn direct(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    input: &InvoiceInput,
    now: i64,
) -> SpResult<Invoice> {
    let invoice_type = match trimmed(&input.invoice_type) {
        t if t.is_empty() => "Invoice".to_owned(),
        t => one_of("InvoiceType", &t, &TYPES)?,
    };
    let credit = invoice_type == "CreditMemo";
    let customer_no = trimmed(&input.customer_no).to_uppercase();
    if customer_no.is_empty() {
        return Err(SpError::validation(
            "No Customer Number",
            "CustomerNo",
            "CustomerNo (or SalesOrderNo) is required",
        ));
    }
    let customer = lookup::customer(conn, pair_id, &customer_no).await?;
    if !credit && customer.on_hold {
        return Err(invalid_state(
            "Customer is on hold",
            "CustomerNo",
            format!("Customer '{customer_no}' is on hold"),
        ));
    }
    let applies_to = trimmed(&input.applies_to_invoice_no);
    if !applies_to.is_empty() {
        if !credit {
            return Err(SpError::validation(
                "AppliesToInvoiceNo is for credit memos",
                "AppliesToInvoiceNo",
                "Only a CreditMemo applies to an invoice",
            ));
        }
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT customer_no FROM sim_sagepro_invoices WHERE pair_id = $1 AND invoice_no = $2",
        )
        .bind(pair_id)
        .bind(&applies_to)
        .fetch_optional(&mut *conn)
        .await?;
        if found.map(|(c,)| c) != Some(customer_no.clone()) {
            return Err(SpError::validation(
                "Invalid Invoice Number",
                "AppliesToInvoiceNo",
                format!("Invoice '{applies_to}' does not exist for customer '{customer_no}'"),
            ));
        }
    }
    let customer_po = trimmed(&input.customer_po);
    check_len("CustomerPO", &customer_po, 20)?;
    let terms = match trimmed(&input.payment_terms).to_uppercase() {
        t if t.is_empty() => customer.payment_terms.clone(),
        t => t,
    };
    lookup::terms(conn, pair_id, &terms).await?;
    let address = |field: &str, a: &Option<Address>, default: &Address| -> SpResult<Address> {
        match a {
            Some(a) if !a.is_blank() => clean_address(field, a),
            _ => Ok(default.clone()),
        }
    };
    let ship_to = address(
        "ShipToAddress",
        &input.ship_to_address,
        &customer.ship_to_address,
    )?;
    let bill_to = address(
        "BillToAddress",
        &input.bill_to_address,
        &customer.bill_to_address,
    )?;
    if input.line_items.is_empty() || input.line_items.len() > 999 {
        return Err(SpError::validation(
            "An invoice needs 1 to 999 lines",
            "LineItems",
            format!("{} lines given", input.line_items.len()),
        ));
    }
    let mut items = lookup::Items::default();
    let mut lines = Vec::with_capacity(input.line_items.len());
    for (i, l) in input.line_items.iter().enumerate() {
        let f = |name: &str| format!("LineItems[{i}].{name}");
        let code = trimmed(&l.item_code).to_uppercase();
        let item = items.get(conn, pair_id, &code, &f("ItemCode")).await?;
        let quantity = l.quantity.unwrap_or_default();
        if credit && quantity >= Decimal::ZERO {
            return Err(SpError::validation(
                "Quantity must be negative on a credit memo",
                &f("Quantity"),
                format!("Quantity {quantity} on item '{code}'"),
            ));
        }
        if !credit && quantity <= Decimal::ZERO {
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
        check_money(&f("TaxAmount"), tax, credit)?;
        let discount = l.discount.unwrap_or_default();
        check_money(&f("Discount"), discount, credit)?;
        let description = match trimmed(&l.description) {
            d if d.is_empty() => item.description.clone(),
            d => d,
        };
        check_len(&f("Description"), &description, 40)?;
        let warehouse = match trimmed(&l.warehouse).to_uppercase() {
            w if w.is_empty() => item.default_warehouse.clone(),
            w => w,
        };
        lookup::warehouse(conn, pair_id, &warehouse, &f("Warehouse")).await?;
        let restock = l.restock.filter(|_| credit);
        if credit {
            if restock == Some(true) {
                stock::move_on_hand(conn, pair_id, &code, &warehouse, -units, now).await?;
            }
        } else {
            let demand = Demand {
                line_no: (i + 1) as u32,
                item_code: code.clone(),
                warehouse: warehouse.clone(),
                qty: units,
            };
            stock::ship(conn, pair_id, "", &demand, &f("Quantity"), now).await?;
        }
        lines.push(LineItem {
            line_no: (i + 1) as u32,
            item_code: code,
            description,
            quantity: quantity.normalize(),
            unit_price: unit_price.normalize(),
            tax_amount: tax.normalize(),
            discount: discount.normalize(),
            warehouse,
            extended_amount: (round2(quantity * unit_price) - discount).normalize(),
            qty_shipped: from_units(if credit { 0 } else { units }),
            restock: credit.then_some(restock.unwrap_or(false)),
        });
    }
    let freight = input.freight_amount.unwrap_or_default();
    check_money("FreightAmount", freight, credit)?;
    let (tax_total, total) = totals(&lines, freight);
    check_money("TotalAmount", total, credit)?;
    Ok(Invoice {
        invoice_no: String::new(),
        invoice_type,
        invoice_date: String::new(),
        due_date: String::new(),
        customer_no,
        sales_order_no: None,
        customer_po,
        applies_to_invoice_no: (!applies_to.is_empty()).then_some(applies_to),
        ship_to_address: ship_to,
        bill_to_address: bill_to,
        line_items: lines,
        freight_amount: freight.normalize(),
        tax_total,
        total_amount: total,
        amount_paid: Decimal::ZERO,
        balance_due: total,
        payment_terms: terms,
        status: "Open".to_owned(),
        row_version: 1,
        last_modified: String::new(),
    })
}

/// `GET /invoices`: `CustomerNo`, `SalesOrderNo`, `Status`, `InvoiceType`,
/// `InvoiceDateFrom`, `InvoiceDateTo`, `ModifiedSince`.
pub(super) async fn list(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> SpResult<Response> {
    const FILTERS: [&str; 6] = [
        "CustomerNo",
        "SalesOrderNo",
        "Status",
        "InvoiceType",
        "InvoiceDateFrom",
        "InvoiceDateTo",
    ];
    const SORTING: Sorting = Sorting {
        fields: &[
            ("InvoiceNo", "invoice_no"),
            ("InvoiceType", "invoice_type"),
            ("InvoiceDate", "invoice_date"),
            ("CustomerNo", "customer_no"),
            ("SalesOrderNo", "sales_order_no"),
            ("Status", "status"),
        ],
        key: "invoice_no",
    };
    let mut q = ListQuery::parse(
        raw.as_deref(),
        &pair_id,
        state.db.kind(),
        &FILTERS,
        &SORTING,
    )?;
    q.codes("CustomerNo", "customer_no");
    q.exact("SalesOrderNo", "sales_order_no");
    q.one_of("Status", "status", &STATUSES)?;
    q.one_of("InvoiceType", "invoice_type", &TYPES)?;
    q.date_range("InvoiceDateFrom", "InvoiceDateTo", "invoice_date")?;
    q.body_page(&state.db, "sim_sagepro_invoices").await
}

/// `GET /invoices/{InvoiceNo}`.
pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, invoice_no)): Path<(String, String)>,
) -> SpResult<Response> {
    one_body(
        &state,
        "SELECT body FROM sim_sagepro_invoices WHERE pair_id = $1 AND invoice_no = $2",
        &pair_id,
        &invoice_no,
        "Invoice",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::super::seed::QTY_SCALE;
    use super::*;

    #[test]
    fn quantities_come_back_from_units() {
        assert_eq!(from_units(2 * QTY_SCALE).to_string(), "2");
        assert_eq!(from_units(25_000).to_string(), "2.5");
    }
}
