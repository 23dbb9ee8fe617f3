//! The ERP simulators' catalogs, served through the engine's
//! [`ErpCatalog`] trait the way a real ERP's connector serves its own. A
//! simulator reads its tables directly (they are this module's, and cheap),
//! and lists more than a real ERP would be asked for: every master-data kind
//! it holds, so sandbox references are checked the way the ERP would check
//! them.

use std::collections::BTreeMap;

use connect_jobs::flows::catalog::{CatalogError, CatalogSnapshot, ErpCatalog};
use connect_jobs::mapping::schema::RefKind;
use connect_jobs::mapping::sku::CatalogItem;
use serde_json::Value;

use super::SimSystem;
use connect_store::Db;

/// The Intacct simulator's object for each reference kind.
const INTACCT_OBJECTS: [(RefKind, &str); 9] = [
    (RefKind::Item, "ITEM"),
    (RefKind::Customer, "CUSTOMER"),
    (RefKind::GlAccount, "GLACCOUNT"),
    (RefKind::Location, "LOCATION"),
    (RefKind::Department, "DEPARTMENT"),
    (RefKind::Class, "CLASS"),
    (RefKind::Project, "PROJECT"),
    (RefKind::Warehouse, "WAREHOUSE"),
    (RefKind::Term, "ARTERM"),
];

/// One sandbox pair's ERP simulator.
pub struct SimulatorCatalog {
    pub db: Db,
    pub pair_id: String,
    /// [`SimSystem::Intacct`] or [`SimSystem::Sagepro`].
    pub system: SimSystem,
}

#[async_trait::async_trait]
impl ErpCatalog for SimulatorCatalog {
    async fn snapshot(&self) -> Result<CatalogSnapshot, CatalogError> {
        let store = |e: sqlx::Error| CatalogError::Store(e.to_string());
        match self.system {
            SimSystem::Sagepro => self.sagepro().await.map_err(store),
            _ => self.intacct().await.map_err(store),
        }
    }
}

fn text_field(json: &str, key: &str) -> String {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get(key).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

impl SimulatorCatalog {
    async fn intacct(&self) -> Result<CatalogSnapshot, sqlx::Error> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT object, object_id, fields FROM sim_intacct_objects WHERE pair_id = $1 \
             AND object IN ('ITEM','CUSTOMER','GLACCOUNT','LOCATION','DEPARTMENT','CLASS','PROJECT','WAREHOUSE','ARTERM')",
        )
        .bind(&self.pair_id)
        .fetch_all(self.db.pool())
        .await?;
        let mut snapshot = CatalogSnapshot::default();
        for (object, id, fields) in rows {
            if object == "ITEM" {
                snapshot.items.push(CatalogItem {
                    sku: id.clone(),
                    name: text_field(&fields, "NAME"),
                });
            }
            if let Some((kind, _)) = INTACCT_OBJECTS.iter().find(|(_, o)| *o == object) {
                snapshot.references.entry(*kind).or_default().push(id);
            }
        }
        Ok(snapshot)
    }

    async fn sagepro(&self) -> Result<CatalogSnapshot, sqlx::Error> {
        let pool = self.db.pool();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT item_code, body FROM sim_sagepro_items WHERE pair_id = $1")
                .bind(&self.pair_id)
                .fetch_all(pool)
                .await?;
        let mut references: BTreeMap<RefKind, Vec<String>> = BTreeMap::new();
        let mut items = Vec::with_capacity(rows.len());
        for (code, body) in rows {
            items.push(CatalogItem {
                sku: code.clone(),
                name: text_field(&body, "Description"),
            });
            references.entry(RefKind::Item).or_default().push(code);
        }
        for (kind, sql) in [
            (
                RefKind::Customer,
                "SELECT customer_no FROM sim_sagepro_customers WHERE pair_id = $1",
            ),
            (
                RefKind::Warehouse,
                "SELECT DISTINCT warehouse FROM sim_sagepro_inventory WHERE pair_id = $1",
            ),
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(sql)
                .bind(&self.pair_id)
                .fetch_all(pool)
                .await?;
            references.insert(kind, rows.into_iter().map(|(id,)| id).collect());
        }
        Ok(CatalogSnapshot { items, references })
    }
}
