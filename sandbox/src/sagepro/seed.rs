//! Company 01 of a new sandbox: the shared catalog as Sage Pro masters (same
//! codes: `CustomerNo` = catalog customer id, `ItemCode` = SKU, so Clarity's
//! ids map straight across), three warehouses with stock, the terms and tax
//! code tables, and a few customers keyed at the desktop, whose numbers
//! follow Sage Pro's rule (`DOEJ01`) and who are not in the web store.

use super::wire::{Address, Customer, Product};
use rust_decimal::Decimal;

use crate::catalog;
use crate::clarity::{Bind, insert_rows, rfc3339_ms};
use connect_store::now_ms;

pub(crate) const TERMS: [(&str, &str, i64); 4] = [
    ("NET30", "Net 30 days", 30),
    ("COD", "Cash on delivery", 0),
    ("PREPAID", "Prepaid", 0),
    ("2/10NET30", "2% 10, net 30", 30),
];

/// Tax codes by the catalog's regions, with rates in hundredths of a percent.
pub(crate) const TAX_CODES: [(&str, &str, i64); 7] = [
    ("TX", "Texas sales tax", 825),
    ("NV", "Nevada sales tax", 685),
    ("OH", "Ohio sales tax", 575),
    ("OR", "Oregon (no sales tax)", 0),
    ("CO", "Colorado sales tax", 290),
    ("ON", "Ontario HST", 1300),
    ("EXEMPT", "Tax exempt", 0),
];

/// Customers entered at the desktop: (contact, company, city, state, zip).
const DESKTOP_CUSTOMERS: [(&str, &str, &str, &str, &str); 5] = [
    ("Jane Doe", "", "Austin", "TX", "78701"),
    ("John Doe", "Doe Hardware", "Austin", "TX", "78704"),
    ("Maria Garcia", "Garcia Supply Co", "Denver", "CO", "80202"),
    ("Wei Chen", "", "Reno", "NV", "89501"),
    ("Sam Okafor", "Okafor Builders", "Columbus", "OH", "43215"),
];

/// First numbers handed out (the next one is this plus one).
pub(crate) const SALES_ORDER_START: i64 = 1000;

/// Quantities are stored in ten-thousandths (N(12,4)).
pub(crate) const QTY_SCALE: i64 = 10_000;

pub async fn seed(conn: &mut sqlx::AnyConnection, pair_id: &str) -> Result<(), sqlx::Error> {
    let now = now_ms() - crate::catalog::SEED_AGE_MS;
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

    let rows = TAX_CODES
        .iter()
        .map(|(code, desc, rate)| {
            vec![
                Bind::Text(pair_id.to_owned()),
                Bind::Text((*code).to_owned()),
                Bind::Text((*desc).to_owned()),
                Bind::Int(*rate),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "sim_sagepro_tax_codes (pair_id, code, description, rate_bp)",
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

    let mut customers: Vec<Customer> = catalog::customers()
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let name = format!("{} {}", c.first_name, c.last_name);
            let phone = phone(i);
            let address = Address {
                name: c.company.map(str::to_owned).unwrap_or_else(|| name.clone()),
                address1: c.address.line1.clone(),
                city: c.address.city.to_owned(),
                state: c.address.region.to_owned(),
                zip: c.address.postal_code.to_owned(),
                country: c.address.country.to_owned(),
                phone: phone.clone(),
                email: c.email.clone(),
                ..Address::default()
            };
            Customer {
                customer_no: c.id.to_uppercase(),
                company: c.company.unwrap_or("").to_owned(),
                contact: name,
                email: c.email.clone(),
                phone,
                bill_to_address: address.clone(),
                ship_to_address: address,
                payment_terms: "NET30".to_owned(),
                tax_code: tax_code(c.address.region),
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
            }
        })
        .collect();
    let mut used: Vec<String> = Vec::new();
    for (i, (contact, company, city, state, zip)) in DESKTOP_CUSTOMERS.iter().enumerate() {
        let prefix = super::customers::number_prefix(contact, company).expect("seed names");
        let seq = 1 + used.iter().filter(|u| u.starts_with(&prefix)).count();
        let customer_no = format!("{prefix}{seq:02}");
        used.push(customer_no.clone());
        let email = format!(
            "{}@{}.example.com",
            contact.to_lowercase().replace(' ', "."),
            if company.is_empty() { "mail" } else { "trade" }
        );
        let phone = phone(100 + i);
        let address = Address {
            name: if company.is_empty() { contact } else { company }.to_string(),
            address1: format!("{} Commerce Dr", 10 + i * 3),
            city: (*city).to_owned(),
            state: (*state).to_owned(),
            zip: (*zip).to_owned(),
            country: "US".to_owned(),
            phone: phone.clone(),
            email: email.clone(),
            ..Address::default()
        };
        customers.push(Customer {
            customer_no,
            company: (*company).to_owned(),
            contact: (*contact).to_owned(),
            email,
            phone,
            bill_to_address: address.clone(),
            ship_to_address: address,
            payment_terms: if company.is_empty() {
                "COD"
            } else {
                "2/10NET30"
            }
            .to_owned(),
            tax_code: tax_code(state),
            credit_limit: Decimal::from(if company.is_empty() { 0 } else { 10_000 }),
            balance: Decimal::ZERO,
            // One account is on hold: orders for it are refused (INVALID_STATE).
            on_hold: i == 4,
            status: "Active".to_owned(),
            external_customer_id: String::new(),
            row_version: 1,
            last_modified: stamp.clone(),
        });
    }
    let rows = customers
        .iter()
        .map(|customer| {
            vec![
                Bind::Text(pair_id.to_owned()),
                Bind::Text(customer.customer_no.clone()),
                Bind::Text(customer.email.to_lowercase()),
                Bind::Text(serde_json::to_string(customer).expect("serializes")),
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

/// A 555 number per customer (reserved for fiction).
fn phone(i: usize) -> String {
    format!("512-555-{:04}", 100 + i)
}

fn tax_code(region: &str) -> String {
    if TAX_CODES.iter().any(|(code, _, _)| *code == region) {
        region.to_owned()
    } else {
        "EXEMPT".to_owned()
    }
}
