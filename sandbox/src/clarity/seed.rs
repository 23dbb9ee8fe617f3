//! The store a new sandbox pair starts with: the shared catalog's 200
//! products and 40 customers, stock at three locations, two coupons.

use rust_decimal::Decimal;

use super::orders::{COUPONS, money, product_id};
use super::{Bind, rfc3339_ms};
use crate::catalog;
use connect_store::now_ms;

/// Seeds one pair's store inside the caller's transaction (pair creation).
/// Multi-row inserts keep it to a dozen statements.
pub async fn seed(conn: &mut sqlx::AnyConnection, pair_id: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let stamp = rfc3339_ms(now);
    let products = catalog::products();
    let customers = catalog::customers();

    let mut rows = Vec::with_capacity(products.len());
    for p in &products {
        let body = serde_json::json!({
            "productId": product_id(&p.sku),
            "sku": p.sku,
            "name": p.name,
            "description": format!("{} ({})", p.name, p.category),
            "price": money(Decimal::new(p.price_cents, 2)).to_string(),
            "currency": "USD",
            "status": "active",
            "taxable": true,
            "weight": (Decimal::new(p.weight_grams, 3)).to_string().parse::<f64>().unwrap_or(0.0),
            "weightUnit": "kg",
            "categories": [p.category],
            "tags": {},
            "erpReferences": {},
            "version": 1,
            "createdDate": stamp,
            "updatedDate": stamp,
        });
        rows.push(vec![
            Bind::Text(pair_id.to_owned()),
            Bind::Text(product_id(&p.sku)),
            Bind::Text(p.sku.clone()),
            Bind::Text("active".to_owned()),
            Bind::Int(1),
            Bind::Text(body.to_string()),
            Bind::Int(now),
            Bind::Int(now),
        ]);
    }
    insert_rows(
        conn,
        "sim_clarity_products (pair_id, product_id, sku, status, version, body, updated_at, created_at)",
        rows,
    )
    .await?;

    let mut rows = Vec::with_capacity(customers.len());
    for c in &customers {
        // As an order's addresses: a field left empty is left out.
        let mut address = serde_json::json!({
            "firstName": c.first_name, "lastName": c.last_name,
            "line1": c.address.line1, "city": c.address.city, "region": c.address.region,
            "postalCode": c.address.postal_code, "country": c.address.country,
        });
        if let Some(company) = c.company {
            address["company"] = company.into();
        }
        let body = serde_json::json!({
            "customerId": c.id,
            "email": c.email,
            "firstName": c.first_name,
            "lastName": c.last_name,
            "company": c.company,
            "phone": null,
            "billingAddress": address,
            "shippingAddresses": [address],
            "taxExempt": false,
            "priceGroup": if c.company.is_some() { "wholesale" } else { "retail" },
            "currency": c.currency,
            "status": "active",
            "erpReferences": {},
            "version": 1,
            "createdDate": stamp,
            "updatedDate": stamp,
        });
        rows.push(vec![
            Bind::Text(pair_id.to_owned()),
            Bind::Text(c.id.clone()),
            Bind::Text(c.email.to_lowercase()),
            Bind::Text("active".to_owned()),
            Bind::Int(1),
            Bind::Text(body.to_string()),
            Bind::Int(now),
            Bind::Int(now),
        ]);
    }
    insert_rows(
        conn,
        "sim_clarity_customers (pair_id, customer_id, email_lower, status, version, body, updated_at, created_at)",
        rows,
    )
    .await?;

    let mut rows = Vec::with_capacity(products.len() * catalog::WAREHOUSES.len());
    for (i, p) in products.iter().enumerate() {
        for (w, wh) in catalog::WAREHOUSES.iter().enumerate() {
            let on_hand = match w {
                0 => 20 + (i as i64 * 17) % 180,
                _ => (i as i64 * (7 + w as i64 * 5)) % 60,
            };
            rows.push(vec![
                Bind::Text(pair_id.to_owned()),
                Bind::Text(p.sku.clone()),
                Bind::Text(wh.intacct_id.to_owned()),
                Bind::Int(on_hand * super::inventory::E4),
                Bind::Int(0),
                Bind::Int(1),
                Bind::Int(1),
                Bind::Int(now),
            ]);
        }
    }
    insert_rows(
        conn,
        "sim_clarity_inventory (pair_id, sku, location_id, on_hand_e4, reserved_e4, backorderable, version, updated_at)",
        rows,
    )
    .await?;

    let mut rows = Vec::new();
    for (code, pct) in COUPONS {
        let body = serde_json::json!({
            "couponCode": code, "type": "percent", "value": pct.to_string(), "currency": null,
            "startsAt": stamp, "endsAt": null, "usageLimit": null, "timesUsed": 0, "active": true,
            "appliesToSkus": [], "version": 1, "createdDate": stamp, "updatedDate": stamp,
        });
        rows.push(vec![
            Bind::Text(pair_id.to_owned()),
            Bind::Text(code.to_lowercase()),
            Bind::Text(body.to_string()),
            Bind::Int(0),
            Bind::Int(now),
            Bind::Int(now),
            Bind::Int(1),
        ]);
    }
    insert_rows(
        conn,
        "sim_clarity_coupons (pair_id, code_lower, body, times_used, updated_at, created_at, version)",
        rows,
    )
    .await?;
    Ok(())
}

/// `INSERT INTO <target> VALUES (…),(…)` in chunks of 100 rows.
pub(crate) async fn insert_rows(
    conn: &mut sqlx::AnyConnection,
    target: &str,
    rows: Vec<Vec<Bind>>,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(100) {
        let mut sql = format!("INSERT INTO {target} VALUES ");
        let mut n = 0;
        for (r, row) in chunk.iter().enumerate() {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..row.len() {
                if c > 0 {
                    sql.push(',');
                }
                n += 1;
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
        for row in chunk {
            for b in row {
                q = match b {
                    Bind::Text(s) => q.bind(s.clone()),
                    Bind::Int(i) => q.bind(*i),
                };
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
