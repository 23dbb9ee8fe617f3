//! Company 01 of a new sandbox: the shared catalog as Sage Pro masters (same
//! codes: `CustomerNo` = catalog customer id, `ItemCode` = SKU), three
//! warehouses with stock, and the terms table.

use connect_jobs::connectors::sagepro::wire::{Address, Customer, Product};
use rust_decimal::Decimal;

use crate::db::now_ms;
use crate::sandbox::catalog;
use crate::sandbox::clarity::{Bind, insert_rows, rfc3339_ms};

pub(crate) const TERMS: [(&str, &str, i64); 4] = [
    ("NET30", "Net 30 days", 30),
    ("COD", "Cash on delivery", 0),
    ("PREPAID", "Prepaid", 0),
    ("2/10NET30", "2% 10, net 30", 30),
];

/// First numbers handed out (the next one is this plus one).
pub(crate) const SALES_ORDER_START: i64 = 1000;

/// Quantities are stored in ten-thousandths (N(12,4)).
pub(crate) const QTY_SCALE: i64 = 10_000;

pub async fn seed(conn: &mut sqlx::AnyConnection, pair_id: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let stamp = rfc3339_ms(now);

    let rows = TERMS
        .iter()
        .map(|(code, desc, days)| {
            vec![
                Bind::Text(pair_id.to_owned()),
                Bind::Text((*code).to_owned()),
                Bind::Text((*desc).to_owned()),
                Bind::Int(*days),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "sim_sagepro_terms (pair_id, code, description, due_days)",
        rows,
    )
    .await?;

    let rows = catalog::WAREHOUSES
        .iter()
        .map(|w| {
            vec![
                Bind::Text(pair_id.to_owned()),
                Bind::Text(w.sagepro_code.to_owned()),
                Bind::Text(w.name.to_owned()),
            ]
        })
        .collect();
    insert_rows(conn, "sim_sagepro_warehouses (pair_id, code, name)", rows).await?;

    let rows = catalog::customers()
        .into_iter()
        .map(|c| {
            let name = format!("{} {}", c.first_name, c.last_name);
            let address = Address {
                name: c.company.map(str::to_owned).unwrap_or_else(|| name.clone()),
                address1: c.address.line1.clone(),
                city: c.address.city.to_owned(),
                state: c.address.region.to_owned(),
                zip: c.address.postal_code.to_owned(),
                country: c.address.country.to_owned(),
                email: c.email.clone(),
                ..Address::default()
            };
            let customer = Customer {
                customer_no: c.id.to_uppercase(),
                company: c.company.unwrap_or("").to_owned(),
                contact: name,
                email: c.email.clone(),
                phone: String::new(),
                bill_to_address: address.clone(),
                ship_to_address: address,
                payment_terms: "NET30".to_owned(),
                tax_code: match c.address.region {
                    "TX" => "TX",
                    "CA" => "CA",
                    _ => "",
                }
                .to_owned(),
                credit_limit: if c.company.is_some() {
                    Decimal::from(5000)
                } else {
                    Decimal::ZERO
                },
                balance: Decimal::ZERO,
                on_hold: false,
                status: "Active".to_owned(),
                external_customer_id: c.id.clone(),
                row_version: 1,
                last_modified: stamp.clone(),
            };
            vec![
                Bind::Text(pair_id.to_owned()),
                Bind::Text(customer.customer_no.clone()),
                Bind::Text(c.email.to_lowercase()),
                Bind::Text(serde_json::to_string(&customer).expect("serializes")),
                Bind::Int(1),
                Bind::Int(now),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "sim_sagepro_customers (pair_id, customer_no, email_lower, body, row_version, last_modified)",
        rows,
    )
    .await?;

    let products = catalog::products();
    let mut item_rows = Vec::with_capacity(products.len());
    let mut stock_rows = Vec::with_capacity(products.len() * 3);
    for (i, p) in products.iter().enumerate() {
        let price = Decimal::new(p.price_cents, 2);
        let item = Product {
            item_code: p.sku.to_uppercase(),
            description: p.name.to_uppercase().chars().take(40).collect(),
            extended_description: format!("{} ({})", p.name, p.category),
            price,
            cost: (price * Decimal::new(42, 2)).round_dp(2),
            unit_of_measure: "EA".to_owned(),
            weight: Decimal::new(p.weight_grams, 3),
            product_line: p.category.to_uppercase().chars().take(4).collect(),
            taxable: true,
            status: "Active".to_owned(),
            default_warehouse: "MAIN".to_owned(),
            web_enabled: true,
            row_version: 1,
            last_modified: stamp.clone(),
        };
        item_rows.push(vec![
            Bind::Text(pair_id.to_owned()),
            Bind::Text(item.item_code.clone()),
            Bind::Text(serde_json::to_string(&item).expect("serializes")),
            Bind::Int(1),
            Bind::Int(now),
        ]);
        for (w, wh) in catalog::WAREHOUSES.iter().enumerate() {
            let on_hand = match w {
                // Every 25th item is out of stock at MAIN: orders for it backorder.
                0 if i % 25 == 0 => 0,
                0 => 20 + (i as i64 * 13) % 150,
                _ => (i as i64 * (5 + w as i64 * 4)) % 50,
            };
            stock_rows.push(vec![
                Bind::Text(pair_id.to_owned()),
                Bind::Text(item.item_code.clone()),
                Bind::Text(wh.sagepro_code.to_owned()),
                Bind::Int(on_hand * QTY_SCALE),
                Bind::Int(0),
                Bind::Int(0),
                Bind::Int(10 * QTY_SCALE),
                Bind::Int(1),
                Bind::Int(now),
            ]);
        }
    }
    insert_rows(
        conn,
        "sim_sagepro_items (pair_id, item_code, body, row_version, last_modified)",
        item_rows,
    )
    .await?;
    insert_rows(
        conn,
        "sim_sagepro_inventory (pair_id, item_code, warehouse, qty_on_hand, qty_committed, qty_on_order, \
         reorder_point, row_version, last_modified)",
        stock_rows,
    )
    .await?;

    for (name, start) in [("sales_order", SALES_ORDER_START), ("invoice", 9000)] {
        sqlx::query("INSERT INTO sim_sagepro_counters (pair_id, name, value) VALUES ($1,$2,$3)")
            .bind(pair_id)
            .bind(name)
            .bind(start)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
