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
//! - History: the tenant's recent orders (the engine keeps them in memory,
//!   `super::window`) and the order's customer's currencies
//!   ([`crate::history::customers_for_event`]; the preview, mapping many
//!   customers' records at once, uses [`crate::history::load`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use connect_jobs::flows::{ConflictRule, Flow, FlowError};
use connect_jobs::mapping::CompiledTemplate;
use parking_lot::Mutex;
use serde_json::Value;

use connect_jobs::flows::catalog::{CatalogError, CatalogSnapshot, ErpCatalog, MAX_ITEMS};
use connect_jobs::mapping::anomaly::History;
use connect_jobs::mapping::currency::RateTable;
use connect_jobs::mapping::pipeline::{MappingInputs, catalog_resolver};
use connect_jobs::mapping::validate::InMemoryReferences;

pub use crate::catalogs::{CatalogCache, MAX_PAIRS, PRODUCTION_TTL, PairData, SANDBOX_TTL};
use crate::clients::PairClients;
use crate::db::Db;
use crate::ids::{PairId, TenantId};
use crate::pairs::{Environment, Erp};
use crate::sandbox::SimSystem;
use crate::sandbox::erp_catalog::SimulatorCatalog;
use crate::usage::CallTally;

/// Everything one mapping needs, owned; [`Self::inputs`] lends it.
pub struct MappingData {
    pub rates: Arc<RateTable>,
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
    pair_id: &PairId,
    erp: Erp,
) -> Result<PairData, CatalogError> {
    if let Some(d) = cache.get(pair_id, SANDBOX_TTL) {
        return Ok(d);
    }
    let simulator = SimulatorCatalog {
        db: db.clone(),
        pair_id: pair_id.to_string(),
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
    pair_id: &PairId,
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

/// What the engine reads of a record's pair each time, in one query: whether
/// it may run, and the revisions its cached inputs are checked against.
pub struct PairStatus {
    /// The pair and its tenant are both active; otherwise work waits.
    pub active: bool,
    pub erp: Erp,
    pub environment: Environment,
    /// The pair's and the tenant's input revisions (`crate::revisions`).
    pub inputs: (i64, i64),
    /// The tenant's order history revision.
    pub history: i64,
    /// The tenant has the record's flow switched on for this pair.
    pub flow_enabled: bool,
    /// The pair's conflict rule for the flow, where it has one.
    pub conflict_rule: ConflictRule,
}

type StatusRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// `None`: the pair is gone (deleted with its tenant's data, or never was).
pub async fn pair_status(
    db: &Db,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<Option<PairStatus>, sqlx::Error> {
    let row: Option<StatusRow> = sqlx::query_as(
        "SELECT p.status, t.status, p.erp, p.environment, rp.inputs, rt.inputs, rt.history, f.enabled, f.conflict_rule \
         FROM pairs p JOIN tenants t ON t.id = p.tenant_id \
         LEFT JOIN revisions rp ON rp.scope_id = p.id \
         LEFT JOIN revisions rt ON rt.scope_id = t.id \
         LEFT JOIN pair_flows f ON f.pair_id = p.id AND f.flow = $3 \
         WHERE p.id = $1 AND p.tenant_id = $2",
    )
    .bind(pair_id)
    .bind(tenant_id)
    .bind(flow)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(
        |(pair, tenant, erp, environment, pair_rev, tenant_rev, history, enabled, rule)| {
            PairStatus {
                active: pair == "active" && tenant == "active",
                erp: Erp::parse(&erp).unwrap_or(Erp::Intacct),
                environment: Environment::parse(&environment).unwrap_or(Environment::Production),
                inputs: (pair_rev.unwrap_or(0), tenant_rev.unwrap_or(0)),
                history: history.unwrap_or(0),
                flow_enabled: enabled.unwrap_or(0) != 0,
                conflict_rule: rule
                    .as_deref()
                    .and_then(ConflictRule::parse)
                    .unwrap_or_default(),
            }
        },
    ))
}

/// A compiled template and its version (0: the pre-built one).
type Versioned = (Arc<CompiledTemplate>, i64);

/// A pair's inputs as of one pair of revisions: its clients (sessions and
/// tokens reused across records), the tenant's rates, and each flow's
/// compiled template, loaded on first use.
pub struct PairInputs {
    pub inputs: (i64, i64),
    pub erp: Erp,
    pub environment: Environment,
    /// The connections' `updated_at`: when they change, so may the ERP
    /// company behind them, and its cached catalog goes too.
    pub connections: (i64, i64),
    pub clients: PairClients,
    /// The API calls the clients made and no outcome has stored yet.
    pub calls: Arc<CallTally>,
    pub rates: Arc<RateTable>,
    /// Compiled templates by flow and direction.
    templates: Mutex<HashMap<(&'static str, &'static str), Versioned>>,
}

impl PairInputs {
    pub fn new(
        status: &PairStatus,
        connections: (i64, i64),
        clients: PairClients,
        calls: Arc<CallTally>,
        rates: Arc<RateTable>,
    ) -> Self {
        Self {
            inputs: status.inputs,
            erp: status.erp,
            environment: status.environment,
            connections,
            clients,
            calls,
            rates,
            templates: Mutex::new(HashMap::new()),
        }
    }

    /// The flow's template, compiled, and its version. A flow that runs
    /// both ways runs the pair's pinned template in the direction it was
    /// written for; the other direction runs the newest saved version
    /// written for it (pick its pre-built variant in the editor, adjust it,
    /// then restore the pinned one), else its pre-built template (version 0).
    pub async fn template(
        &self,
        db: &Db,
        tenant_id: &TenantId,
        pair_id: &PairId,
        flow: &dyn Flow,
    ) -> Result<Versioned, FlowError> {
        let key = (flow.name(), flow.direction());
        if let Some(found) = self.templates.lock().get(&key) {
            return Ok(found.clone());
        }
        let name = flow.name();
        let (version, text) = crate::template_store::pinned(db, tenant_id, pair_id, name)
            .await
            .map_err(|e| FlowError::Store(e.into()))?
            .ok_or_else(|| FlowError::Event(format!("the pair has no {name} template")))?;
        let mut doc: Value = serde_json::from_str(&text).map_err(|e| FlowError::Mapping {
            target: "template".into(),
            message: format!("template version {version} is not JSON: {e}"),
        })?;
        let mut version = version;
        let written_for = doc.get("direction").and_then(Value::as_str);
        let other = if written_for.is_some_and(|d| d != flow.direction()) {
            crate::template_store::latest_for_direction(
                db,
                tenant_id,
                pair_id,
                name,
                flow.direction(),
            )
            .await
            .map_err(|e| FlowError::Store(e.into()))?
        } else {
            None
        };
        if let Some((v, text)) = other {
            doc = serde_json::from_str(&text).map_err(|e| FlowError::Mapping {
                target: "template".into(),
                message: format!("template version {v} is not JSON: {e}"),
            })?;
            version = v;
        } else if written_for.is_some_and(|d| d != flow.direction()) {
            let builtin = connect_jobs::mapping::builtin_variants(name, self.erp.as_str())
                .iter()
                .filter_map(|b| serde_json::from_str::<Value>(b.document).ok())
                .find(|d| d.get("direction").and_then(Value::as_str) == Some(flow.direction()))
                .ok_or_else(|| {
                    FlowError::Event(format!(
                        "the pair has no {name} template {}",
                        flow.direction()
                    ))
                })?;
            doc = builtin;
            version = 0;
        }
        let compiled = CompiledTemplate::compile(&doc).map_err(|e| FlowError::Mapping {
            target: e.target,
            message: format!("template version {version} does not compile: {}", e.message),
        })?;
        let found = (Arc::new(compiled), version);
        self.templates.lock().insert(key, found.clone());
        Ok(found)
    }
}

/// Pairs' inputs, kept by the engine while their revisions stand still.
#[derive(Default)]
pub struct PairInputsCache {
    pairs: Mutex<HashMap<PairId, (Instant, Arc<PairInputs>)>>,
}

impl PairInputsCache {
    /// The pair's inputs if they are as of `inputs`.
    pub fn get(&self, pair_id: &PairId, inputs: (i64, i64)) -> Option<Arc<PairInputs>> {
        let mut pairs = self.pairs.lock();
        let (used, found) = pairs.get_mut(pair_id)?;
        *used = Instant::now();
        (found.inputs == inputs).then(|| found.clone())
    }

    /// The connections' stamp of what was kept for the pair, if anything.
    pub fn connections(&self, pair_id: &PairId) -> Option<(i64, i64)> {
        self.pairs.lock().get(pair_id).map(|(_, p)| p.connections)
    }

    pub fn keep(&self, pair_id: &PairId, inputs: Arc<PairInputs>) {
        let mut pairs = self.pairs.lock();
        if pairs.len() >= MAX_PAIRS
            && !pairs.contains_key(pair_id)
            && let Some(oldest) = pairs
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(p, _)| p.clone())
        {
            pairs.remove(&oldest);
        }
        pairs.insert(pair_id.clone(), (Instant::now(), inputs));
    }
}
