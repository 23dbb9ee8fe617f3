//! What a mapping consults besides its template ([`MappingInputs`]), loaded
//! per tenant and pair the same way for the worker and the preview, so both
//! give the same answer.
//!
//! - Rates: the tenant's rate table ([`crate::rates::load`]), and nothing
//!   else, sandbox or production: the sample company's CAD↔USD rates are
//!   rows a sandbox pair adds to that table when it is created
//!   ([`crate::rates::seed_sandbox`]), so what converts is what the tenant
//!   sees.
//! - The ERP item catalog, for SKU resolution, and the master data that
//!   references are validated against. A sandbox pair reads its simulator's
//!   tables; a production pair lists the ERP's items through the connector.
//!   Both are cached per pair for a while ([`SANDBOX_TTL`],
//!   [`PRODUCTION_TTL`]) in a bounded map ([`MAX_PAIRS`] pairs, at most
//!   [`MAX_ITEMS`] items each). A production catalog that cannot be listed
//!   is not fatal: SKUs then go through the template's table only, and the
//!   ERP itself refuses an unknown item.
//! - History: the tenant's recent orders and the order's customer's currencies
//!   ([`crate::history::load_for_event`]; the preview, mapping many customers'
//!   records at once, uses [`crate::history::load`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use connect_jobs::connectors::ConnectorError;
use connect_jobs::flows::ErpTarget;
use connect_jobs::mapping::anomaly::History;
use connect_jobs::mapping::currency::RateTable;
use connect_jobs::mapping::pipeline::{MappingInputs, catalog_resolver};
use connect_jobs::mapping::schema::RefKind;
use connect_jobs::mapping::sku::CatalogItem;
use connect_jobs::mapping::validate::InMemoryReferences;
use serde_json::Value;

pub use crate::catalogs::{CatalogCache, MAX_PAIRS, PRODUCTION_TTL, PairData, SANDBOX_TTL};
use crate::db::Db;
use crate::pairs::Erp;

/// Items kept of one catalog; a bigger catalog is cut (and logged).
pub const MAX_ITEMS: usize = 50_000;

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

/// Everything one mapping needs, owned; [`Self::inputs`] lends it.
pub struct MappingData {
    pub rates: RateTable,
    pub pair: PairData,
    pub history: History,
}

impl MappingData {
    pub fn inputs(&self) -> MappingInputs<'_> {
        MappingInputs {
            rates: &self.rates,
            catalog: self.pair.catalog.as_deref(),
            references: self.pair.references.as_ref(),
            history: Some(&self.history),
        }
    }
}

/// A sandbox pair's catalog and master data, from its simulator's tables.
/// A kind the simulator holds nothing of is left unchecked rather than
/// flagging every id of it.
pub async fn sandbox_pair_data(
    cache: &CatalogCache,
    db: &Db,
    pair_id: &str,
    erp: Erp,
) -> Result<PairData, sqlx::Error> {
    if let Some(d) = cache.get(pair_id, SANDBOX_TTL) {
        return Ok(d);
    }
    let pool = db.pool();
    let mut ids: BTreeMap<RefKind, Vec<String>> = BTreeMap::new();
    let mut items = Vec::new();
    match erp {
        Erp::Intacct => {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT object, object_id, fields FROM sim_intacct_objects WHERE pair_id = $1 \
                 AND object IN ('ITEM','CUSTOMER','GLACCOUNT','LOCATION','DEPARTMENT','CLASS','PROJECT','WAREHOUSE','ARTERM')",
            )
            .bind(pair_id)
            .fetch_all(pool)
            .await?;
            for (object, id, fields) in rows {
                if object == "ITEM" {
                    let name = serde_json::from_str::<Value>(&fields)
                        .ok()
                        .and_then(|f| f.get("NAME").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or_default();
                    items.push(CatalogItem {
                        sku: id.clone(),
                        name,
                    });
                }
                if let Some((kind, _)) = INTACCT_OBJECTS.iter().find(|(_, o)| *o == object) {
                    ids.entry(*kind).or_default().push(id);
                }
            }
        }
        Erp::Sagepro => {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT item_code, body FROM sim_sagepro_items WHERE pair_id = $1")
                    .bind(pair_id)
                    .fetch_all(pool)
                    .await?;
            for (code, body) in rows {
                let name = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|b| {
                        b.get("Description")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                items.push(CatalogItem {
                    sku: code.clone(),
                    name,
                });
                ids.entry(RefKind::Item).or_default().push(code);
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
                let rows: Vec<(String,)> =
                    sqlx::query_as(sql).bind(pair_id).fetch_all(pool).await?;
                ids.insert(kind, rows.into_iter().map(|(id,)| id).collect());
            }
        }
    }
    ids.retain(|_, v| !v.is_empty());
    let data = PairData {
        catalog: (!items.is_empty()).then(|| Arc::new(catalog_resolver(items))),
        kinds: ids.keys().map(|k| k.as_str()).collect(),
        references: Arc::new(
            ids.into_iter()
                .fold(InMemoryReferences::new(), |r, (kind, v)| r.with(kind, v)),
        ),
        source: "sandbox_catalog",
    };
    cache.remember(pair_id, &data);
    Ok(data)
}

/// A production pair's item catalog, listed from the ERP (cached). Items are
/// also the references checked; other master data is not listed.
pub async fn production_pair_data(
    cache: &CatalogCache,
    pair_id: &str,
    erp: &ErpTarget,
) -> PairData {
    if let Some(d) = cache.get(pair_id, PRODUCTION_TTL) {
        return d;
    }
    match list_items(erp).await {
        Ok(mut items) => {
            if items.len() > MAX_ITEMS {
                tracing::warn!(
                    items = items.len(),
                    kept = MAX_ITEMS,
                    "the ERP catalog is larger than the bound; SKU resolution sees part of it"
                );
                items.truncate(MAX_ITEMS);
            }
            let skus: Vec<String> = items.iter().map(|i| i.sku.clone()).collect();
            let data = PairData {
                catalog: Some(Arc::new(catalog_resolver(items))),
                references: Arc::new(InMemoryReferences::new().with(RefKind::Item, skus)),
                source: "erp_catalog",
                kinds: vec![RefKind::Item.as_str()],
            };
            cache.remember(pair_id, &data);
            data
        }
        Err(e) => {
            // Not cached: the next job tries the listing again.
            tracing::warn!(error = %e, "could not list the ERP's items; SKUs resolve through the template's table only");
            PairData::none()
        }
    }
}

async fn list_items(erp: &ErpTarget) -> Result<Vec<CatalogItem>, ConnectorError> {
    Ok(match erp {
        ErpTarget::Intacct(client) => client
            .read_by_query("ITEM", &["ITEMID", "NAME"], "", 1000)
            .await?
            .into_iter()
            .filter_map(|r| {
                let sku = r.get("ITEMID")?.as_str()?.to_owned();
                let name = r
                    .get("NAME")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Some(CatalogItem { sku, name })
            })
            .collect(),
        ErpTarget::Sagepro(client) => client
            .list_products(None, &[])
            .await?
            .into_iter()
            .map(|p| CatalogItem {
                sku: p.item_code,
                name: p.description,
            })
            .collect(),
    })
}
