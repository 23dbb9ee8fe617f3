//! The company every sandbox pair starts with, from [`crate::catalog`]:
//! the same SKUs and customer ids the Clarity simulator uses, plus the
//! dimensions, terms and transaction definitions an order needs.

use serde_json::{Map, Value, json};
use sqlx::AnyConnection;

use super::sales::{DEFINITIONS, money};
use super::store::{self, NewRecord};
use crate::catalog;
use connect_store::now_ms;

/// The business id of an ITEMWAREHOUSEINFO row.
pub fn warehouse_info_id(itemid: &str, warehouseid: &str) -> String {
    format!("{itemid}@{warehouseid}")
}

/// Which entity each warehouse belongs to.
const WAREHOUSE_ENTITY: [&str; 3] = ["US-EAST", "US-WEST", "US-EAST"];

const TERMS: [(&str, i64); 4] = [
    ("Net 30", 30),
    ("Net 15", 15),
    ("Net 60", 60),
    ("Due on Receipt", 0),
];

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn rec(object: &'static str, id: &str, fields: Value) -> NewRecord<'static> {
    NewRecord {
        object,
        object_id: Some(id.to_owned()),
        docparid: None,
        reference: None,
        fields: obj(fields),
    }
}

/// Seeds the pair's company. Runs inside the pair-creation transaction; about
/// 920 rows in a few multi-row statements. Payment methods are the catalog's
/// (accepted by the ARPYMT checks), not records.
pub async fn seed(conn: &mut AnyConnection, pair_id: &str) -> Result<(), sqlx::Error> {
    let mut rows: Vec<NewRecord<'static>> = Vec::with_capacity(900);
    for (id, name) in catalog::ENTITIES {
        rows.push(rec(
            "LOCATION",
            id,
            json!({"LOCATIONID": id, "NAME": name, "PARENTID": "", "STATUS": "active",
                   "CURRENCY": "USD", "ENTITY": "true"}),
        ));
    }
    for id in catalog::DEPARTMENTS {
        let title = match id {
            "ECOM" => "eCommerce",
            "RETAIL" => "Retail",
            _ => "Wholesale",
        };
        rows.push(rec(
            "DEPARTMENT",
            id,
            json!({"DEPARTMENTID": id, "TITLE": title, "PARENTID": "", "STATUS": "active"}),
        ));
    }
    for id in catalog::CLASSES {
        rows.push(rec(
            "CLASS",
            id,
            json!({"CLASSID": id, "NAME": id, "PARENTID": "", "STATUS": "active"}),
        ));
    }
    for id in catalog::PROJECTS {
        rows.push(rec(
            "PROJECT",
            id,
            json!({"PROJECTID": id, "NAME": id, "PROJECTCATEGORY": "Contract",
                   "PROJECTSTATUS": "In Progress", "CUSTOMERID": "", "STATUS": "active"}),
        ));
    }
    for (w, entity) in catalog::WAREHOUSES.iter().zip(WAREHOUSE_ENTITY) {
        rows.push(rec(
            "WAREHOUSE",
            w.intacct_id,
            json!({"WAREHOUSEID": w.intacct_id, "NAME": w.name, "LOCATIONID": entity, "STATUS": "active"}),
        ));
    }
    for (no, title) in catalog::GL_ACCOUNTS {
        let balance_sheet = no < "4000";
        let normal = if balance_sheet && no < "2000" {
            "debit"
        } else {
            "credit"
        };
        rows.push(rec(
            "GLACCOUNT",
            no,
            json!({"ACCOUNTNO": no, "TITLE": title,
                   "ACCOUNTTYPE": if balance_sheet { "balancesheet" } else { "incomestatement" },
                   "NORMALBALANCE": normal, "STATUS": "active"}),
        ));
    }
    for (name, days) in TERMS {
        rows.push(rec(
            "ARTERM",
            name,
            json!({"NAME": name, "DESCRIPTION": name, "DUEDAYS": days.to_string(), "STATUS": "active"}),
        ));
    }
    for d in &DEFINITIONS {
        rows.push(rec(
            "SODOCUMENTPARAMS",
            d.name,
            json!({"DOCID": d.name, "CATEGORY": "Sales", "PREFIX": d.prefix,
                   "POSTS_TO_AR": d.posts_to_ar.to_string(),
                   "INVENTORY_EFFECT": d.inventory.map(|(t, s)| format!("{t}{}", if s > 0 { "+" } else { "-" })).unwrap_or_default(),
                   "CONVERT_FROM": if matches!(d.name, "Sales Invoice" | "Sales Shipper") { "Sales Order" } else { "" },
                   "STATUS": "active"}),
        ));
    }
    for c in catalog::customers() {
        let person = format!("{} {}", c.first_name, c.last_name);
        let name = c
            .company
            .map(str::to_owned)
            .unwrap_or_else(|| person.clone());
        let contact_name = format!("{name} ({})", c.id);
        let address = json!({
            "ADDRESS1": c.address.line1, "CITY": c.address.city, "STATE": c.address.region,
            "ZIP": c.address.postal_code,
            "COUNTRY": if c.address.country == "CA" { "Canada" } else { "United States" },
            "ISOCOUNTRYCODE": c.address.country,
        });
        // The customer's display contact, so orders can name it in shipto/billto.
        rows.push(rec(
            "CONTACT",
            &contact_name,
            json!({"CONTACTNAME": contact_name, "PRINTAS": name,
                   "COMPANYNAME": c.company.unwrap_or(""), "FIRSTNAME": c.first_name,
                   "LASTNAME": c.last_name, "EMAIL1": c.email, "PHONE1": "",
                   "STATUS": "active", "MAILADDRESS": address}),
        ));
        rows.push(rec(
            "CUSTOMER",
            &c.id,
            json!({
                "CUSTOMERID": c.id, "NAME": name, "STATUS": "active", "TERMNAME": "Net 30",
                "CURRENCY": c.currency, "CREDITLIMIT": "", "TAXID": "", "ONHOLD": "false",
                "CUSTTYPE": if c.company.is_some() { "Business" } else { "Consumer" }, "PARENTID": "",
                "DISPLAYCONTACT": {
                    "CONTACTNAME": contact_name, "PRINTAS": name,
                    "COMPANYNAME": c.company.unwrap_or(""), "FIRSTNAME": c.first_name,
                    "LASTNAME": c.last_name, "EMAIL1": c.email,
                    "MAILADDRESS": address,
                },
                "BILLTO": {"CONTACTNAME": contact_name},
                "SHIPTO": {"CONTACTNAME": contact_name},
            }),
        ));
    }
    for (id, rate) in catalog::TAX_CODES {
        rows.push(rec(
            "TAXDETAIL",
            id,
            json!({"DETAILID": id, "DESCRIPTION": format!("{id} sales tax"), "VALUE": rate,
                   "TAXTYPE": "Sale", "STATUS": "active"}),
        ));
    }
    let products = catalog::products();
    for (i, p) in products.iter().enumerate() {
        let price = rust_decimal::Decimal::new(p.price_cents, 2);
        let cost = rust_decimal::Decimal::new(p.price_cents * 55 / 100, 2);
        rows.push(rec(
            "ITEM",
            &p.sku,
            json!({
                "ITEMID": p.sku, "NAME": p.name, "STATUS": "active", "ITEMTYPE": "Inventory",
                "BASEPRICE": money(price), "STANDARD_COST": money(cost), "TAXABLE": "true",
                "UOMGRP": "Count", "GLGROUP": "Goods", "PRODUCTLINEID": p.category,
                "SODESCRIPTION": p.name, "WEIGHT": format!("{}", p.weight_grams),
            }),
        ));
        for (w, wh) in catalog::WAREHOUSES.iter().enumerate() {
            let onhand = 10 + ((i * 7 + w * 13) % 190) as i64;
            rows.push(NewRecord {
                object: "ITEMWAREHOUSEINFO",
                object_id: Some(warehouse_info_id(&p.sku, wh.intacct_id)),
                docparid: None,
                reference: None,
                fields: obj(json!({"ITEMID": p.sku, "WAREHOUSEID": wh.intacct_id,
                    "ONHAND": onhand.to_string(), "ONORDER": "0", "ONHOLD": "0"})),
            });
        }
    }
    let seeded_at = now_ms() - catalog::SEED_AGE_MS;
    let last = store::insert_batch(conn, pair_id, 1, rows, seeded_at).await?;
    store::set_counter(conn, pair_id, "recordno", last).await?;
    Ok(())
}
