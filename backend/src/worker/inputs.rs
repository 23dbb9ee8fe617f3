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
//!   Both answer through [`ErpCatalog`], and are cached per pair for a while
//!   ([`SANDBOX_TTL`], [`PRODUCTION_TTL`]) in a bounded map ([`MAX_PAIRS`]
//!   pairs, at most [`MAX_ITEMS`] items each). A production catalog that cannot be listed
//!   is not fatal: SKUs then go through the template's table only, and the
//!   ERP itself refuses an unknown item.
//! - History: the tenant's recent orders and the order's customer's currencies
//!   ([`crate::history::load_for_event`]; the preview, mapping many customers'
//!   records at once, uses [`crate::history::load`]).

use std::sync::Arc;

use connect_jobs::flows::catalog::{CatalogError, CatalogSnapshot, ErpCatalog, MAX_ITEMS};
use connect_jobs::mapping::anomaly::History;
use connect_jobs::mapping::currency::RateTable;
use connect_jobs::mapping::pipeline::{MappingInputs, catalog_resolver};
use connect_jobs::mapping::validate::InMemoryReferences;

pub use crate::catalogs::{CatalogCache, MAX_PAIRS, PRODUCTION_TTL, PairData, SANDBOX_TTL};
use crate::db::Db;
use crate::pairs::Erp;
use crate::sandbox::SimSystem;
use crate::sandbox::erp_catalog::SimulatorCatalog;

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

/// A sandbox pair's catalog and master data, from its simulator, through
/// the same [`ErpCatalog`] trait a production ERP answers.
pub async fn sandbox_pair_data(
    cache: &CatalogCache,
    db: &Db,
    pair_id: &str,
    erp: Erp,
) -> Result<PairData, CatalogError> {
    if let Some(d) = cache.get(pair_id, SANDBOX_TTL) {
        return Ok(d);
    }
    let simulator = SimulatorCatalog {
        db: db.clone(),
        pair_id: pair_id.to_owned(),
        system: match erp {
            Erp::Intacct => SimSystem::Intacct,
            Erp::Sagepro => SimSystem::Sagepro,
        },
    };
    let data = pair_data(simulator.snapshot().await?, "sandbox_catalog");
    cache.remember(pair_id, &data);
    Ok(data)
}

/// A production pair's item catalog, listed from the ERP (cached). A
/// listing that fails is not fatal, and not cached: SKUs then resolve
/// through the template's table only, and the next job lists again.
pub async fn production_pair_data(
    cache: &CatalogCache,
    pair_id: &str,
    erp: &dyn ErpCatalog,
) -> PairData {
    if let Some(d) = cache.get(pair_id, PRODUCTION_TTL) {
        return d;
    }
    match erp.snapshot().await {
        Ok(snapshot) => {
            let data = pair_data(snapshot, "erp_catalog");
            cache.remember(pair_id, &data);
            data
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not list the ERP's items; SKUs resolve through the template's table only");
            PairData::none()
        }
    }
}

/// What the mapping consults, from one listing: a kind the ERP holds
/// nothing of is left unchecked rather than flagging every id of it.
fn pair_data(mut snapshot: CatalogSnapshot, source: &'static str) -> PairData {
    if snapshot.items.len() > MAX_ITEMS {
        tracing::warn!(
            items = snapshot.items.len(),
            kept = MAX_ITEMS,
            "the ERP catalog is larger than the bound; SKU resolution sees part of it"
        );
        snapshot.items.truncate(MAX_ITEMS);
    }
    snapshot.references.retain(|_, ids| !ids.is_empty());
    PairData {
        catalog: (!snapshot.items.is_empty()).then(|| Arc::new(catalog_resolver(snapshot.items))),
        kinds: snapshot.references.keys().map(|k| k.as_str()).collect(),
        references: Arc::new(
            snapshot
                .references
                .into_iter()
                .fold(InMemoryReferences::new(), |r, (kind, ids)| {
                    r.with(kind, ids)
                }),
        ),
        source,
    }
}
