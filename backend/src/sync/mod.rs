//! The sync engine: the runtime of every flow.
//!
//! 1. **Claim** ([`inbox::claim`]): the queue only says which inbox row to
//!    look at; the row is taken with a lease, renewed while the record is
//!    worked on, so a slow ERP does not hand it to a second worker.
//! 2. **Flow** ([`Engine::run`]): the row's event type picks its flow
//!    ([`connect_jobs::flows::for_event`]); the engine loads what the flow
//!    declares it needs ([`inputs`]: the pair's clients, rates and template,
//!    kept while the pair's revisions stand still; the catalog; the tenant's
//!    order window, kept in memory by [`window`]) and calls it.
//! 3. **Outcome** ([`outcome`]): in one transaction, the ledger's
//!    completions and the usage they count, the run and its attempt, the
//!    inbox state (done, retry later, or dead letter with the reason, the
//!    field and every validation issue) and the tenant's order history.
//!
//! The engine holds no flow's own code. A flow is one file in
//! `jobs/src/flows/` and one line in [`connect_jobs::flows::FLOWS`]; that
//! module's documentation walks through adding one, with orders as the
//! example. Retry and dead-letter decisions are `connect_jobs::retry`'s.

pub mod holds;
pub mod inbox;
pub mod inputs;
mod ledger;
mod outcome;
mod poll;
pub mod reconciler;
pub mod schedule;
mod window;

use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_jobs::connectors::ErrorClass;
use connect_jobs::flows::{self, Flow, FlowContext, FlowError, Work, Written};
use connect_jobs::mapping::schema::{TargetSchema, schema_for};
use connect_jobs::mapping::{CompiledTemplate, flow_target};
use serde_json::Value;
use tracing::Instrument;

use crate::clients::PairClients;
use crate::ids::{InboxId, new_id};
use crate::pairs::{Environment, Erp, connections};
use crate::state::AppState;
use crate::usage::{CallTally, Metering, TenantGate};
use inbox::InboxRow;
use inputs::{MappingData, PairInputs, PairInputsCache, PairStatus};
use ledger::PairLedger;
use window::HistoryWindows;

pub struct Engine {
    state: AppState,
    /// Identifies this process's leases.
    owner: String,
    pairs: PairInputsCache,
    windows: HistoryWindows,
}

/// What became of one claimed row.
enum Outcome {
    Done(Written),
    /// Nothing to do for this event; it is not shown as a run.
    Skipped(&'static str),
    Failed(FlowError),
}

/// One attempt at a row, as the outcome records it.
struct Attempt<'a> {
    row: &'a InboxRow,
    /// The flow that ran, if one handles the event.
    flow: Option<&'static dyn Flow>,
    outcome: Outcome,
    /// The template version used, when it got that far.
    version: Option<i64>,
    ledger: Option<PairLedger>,
    elapsed: Duration,
}

impl Attempt<'_> {
    /// The flow's name for runs, dead letters and metrics.
    fn flow_name(&self) -> &'static str {
        self.flow.map_or("none", |f| f.name())
    }
}

impl Engine {
    pub fn new(state: AppState) -> Arc<Self> {
        Arc::new(Self {
            state,
            owner: new_id("wrk"),
            pairs: PairInputsCache::default(),
            windows: HistoryWindows::default(),
        })
    }

    /// One job: everything that can go wrong is recorded, nothing escapes.
    pub async fn handle(self: &Arc<Self>, inbox_id: &str) {
        // The queue is outside: what it hands over is parsed like any input.
        let inbox_id = match InboxId::parse(inbox_id) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "the queue named no inbox row; dropping the job");
                return;
            }
        };
        let lease_ms = self.state.config.lease.as_millis() as i64;
        let row = match inbox::claim(&self.state.db, &inbox_id, &self.owner, lease_ms).await {
            Ok(Some(row)) => row,
            // Done already, not due, or leased by another worker.
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, inbox_id = %inbox_id, "could not claim an inbox row; the reconciler will retry");
                return;
            }
        };
        let span = tracing::info_span!(
            "run",
            tenant_id = %row.tenant_id,
            pair_id = %row.pair_id,
            inbox_id = %row.id,
            event_type = %row.event_type,
            attempt = row.attempts,
        );
        let this = self.clone();
        async move { this.process(row).await }
            .instrument(span)
            .await;
        self.state.work_done.notify_waiters();
    }

    async fn process(self: Arc<Self>, row: InboxRow) {
        let started = Instant::now();
        let lease_ms = self.state.config.lease.as_millis() as i64;
        let renewer = {
            let db = self.state.db.clone();
            let (id, owner) = (row.id.clone(), self.owner.clone());
            tokio::spawn(async move {
                let every = Duration::from_millis((lease_ms / 3).max(100) as u64);
                loop {
                    tokio::time::sleep(every).await;
                    if !matches!(inbox::renew(&db, &id, &owner, lease_ms).await, Ok(true)) {
                        break;
                    }
                }
            })
        };
        let work = flows::for_event(&row.event_type);
        let flow = work.map(Work::flow);
        let flow_name = flow.map_or("", |f| f.name());
        let status =
            inputs::pair_status(&self.state.db, &row.tenant_id, &row.pair_id, flow_name).await;
        let status = match status {
            Ok(Some(s)) if s.active => Some(s),
            Ok(None) => None,
            // Work for a paused pair or suspended tenant waits; it is not
            // dropped. So does work whose pair could not be read.
            Ok(Some(_)) | Err(_) => {
                renewer.abort();
                if let Err(e) = inbox::release(&self.state.db, &row.id, &self.owner, 30_000).await {
                    tracing::error!(error = %e, "could not release a held row");
                }
                return;
            }
        };
        if let (Some(_), Some(status)) = (flow, &status)
            && status.flow_enabled
            && self.held_by_plan(&row, status).await
        {
            renewer.abort();
            return;
        }
        let (outcome, version, ledger) = match (flow, &status) {
            _ if row.event_type == "ping" => (Outcome::Skipped("ping"), None, None),
            (None, _) => (
                Outcome::Skipped("no flow handles this event type yet"),
                None,
                None,
            ),
            (Some(_), None) => (
                Outcome::Failed(FlowError::Event("the pair no longer exists".into())),
                None,
                None,
            ),
            (Some(_), Some(status)) if !status.flow_enabled => (
                Outcome::Skipped("the flow is switched off for this pair"),
                None,
                None,
            ),
            (Some(flow), Some(status)) if matches!(work, Some(Work::Poll(_))) => {
                match self.run_poll(&row, flow, status).await {
                    Some(failed) => (failed, None, None),
                    // Stored, or put back for a poll already running.
                    None => {
                        renewer.abort();
                        return;
                    }
                }
            }
            (Some(flow), Some(status)) => self.run(&row, flow, status).await,
        };
        renewer.abort();
        if let Outcome::Failed(e) = &outcome
            && let ErrorClass::Deferred { wait } = e.class()
        {
            // The tenant's own limiter said "not yet": nothing was sent, so no
            // attempt is spent and no run is recorded; the row comes back later.
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "waiting for the tenant's rate limit"
            );
            if let Some(ledger) = &ledger
                && let Err(e) = ledger.store_calls().await
            {
                tracing::error!(error = %e, "could not count the calls of a throttled attempt; the next outcome will");
            }
            if let Err(e) = inbox::release(
                &self.state.db,
                &row.id,
                &self.owner,
                wait.as_millis() as i64,
            )
            .await
            {
                tracing::error!(error = %e, "could not release a throttled row; its lease will expire");
            }
            return;
        }
        let attempt = Attempt {
            row: &row,
            flow,
            outcome,
            version,
            ledger,
            elapsed: started.elapsed(),
        };
        match outcome::record(&self.state, &self.owner, &attempt).await {
            Ok(Some((revision, summary))) => {
                self.windows.recorded(&row.tenant_id, revision, summary)
            }
            Ok(None) => {}
            // The lease runs out and the row comes back: nothing is lost.
            Err(e) => {
                tracing::error!(error = %e, "could not record the outcome; the row will be retried")
            }
        }
    }

    /// Puts the row aside when the tenant's plan holds its work (the trial
    /// ended, or the period's transactions reached the ceiling); true when it
    /// did, or when the plan could not be read (the row then waits).
    async fn held_by_plan(&self, row: &InboxRow, status: &PairStatus) -> bool {
        let db = &self.state.db;
        let period = crate::usage::current_period();
        let before = Some((row.received_at, row.id.as_str()));
        let reason =
            match crate::billing::holds::plan_state(db, &row.tenant_id, &period, before).await {
                Ok(plan) => {
                    let production = status.environment == Environment::Production;
                    match plan.hold_reason(production, crate::db::now_ms(), &period) {
                        Some(reason) => reason,
                        None => return false,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not read the tenant's plan; the row waits");
                    if let Err(e) = inbox::release(db, &row.id, &self.owner, 30_000).await {
                        tracing::error!(error = %e, "could not release a row");
                    }
                    return true;
                }
            };
        metrics::counter!("connect_held_total").increment(1);
        if let Err(e) = inbox::hold(db, &row.id, &self.owner, &reason).await {
            tracing::error!(error = %e, "could not hold a row; its lease will expire");
        }
        true
    }

    /// Runs the row's flow: the outcome, the template version it used when
    /// it got that far, and the ledger it wrote through.
    async fn run(
        &self,
        row: &InboxRow,
        flow: &'static dyn Flow,
        status: &PairStatus,
    ) -> (Outcome, Option<i64>, Option<PairLedger>) {
        let event: Value = match serde_json::from_str(&row.payload) {
            Ok(v) => v,
            Err(e) => {
                let e = FlowError::Event(format!("stored payload is not JSON: {e}"));
                return (Outcome::Failed(e), None, None);
            }
        };
        let pair = match self.pair_inputs(row, status).await {
            Ok(p) => p,
            Err(e) => return (Outcome::Failed(e), None, None),
        };
        let db = &self.state.db;
        // Made first: the calls from here on (a catalog listing too) are
        // counted with the outcome, through it.
        let ledger = PairLedger::new(db.clone(), &row.tenant_id, &row.pair_id, pair.calls.clone());
        let (template, version) = match pair.template(db, &row.tenant_id, &row.pair_id, flow).await
        {
            Ok(t) => t,
            Err(e) => return (Outcome::Failed(e), None, Some(ledger)),
        };
        let data = match self.mapping_data(row, flow, status, &pair, &template).await {
            Ok(d) => d,
            Err(e) => return (Outcome::Failed(e), Some(version), Some(ledger)),
        };
        let clients = &pair.clients;
        let router = |route: &str| Some(clients.routed.get(route));
        let ctx = FlowContext {
            clarity: &clients.clarity,
            erp: &clients.erp,
            router: Some(&router),
            template: &template,
            schema: target_schema(&template, pair.erp, flow.name()),
            inputs: data.inputs(),
            ledger: &ledger,
            conflict_rule: status.conflict_rule,
            attempt: row.attempts,
        };
        let outcome = match flow.run(&ctx, &event).await {
            Ok(written) => Outcome::Done(written),
            Err(e) => Outcome::Failed(e),
        };
        (outcome, Some(version), Some(ledger))
    }

    /// The pair's clients, rates and templates: kept while the pair's and
    /// the tenant's revisions stand still, loaded again when one moved.
    async fn pair_inputs(
        &self,
        row: &InboxRow,
        status: &PairStatus,
    ) -> Result<Arc<PairInputs>, FlowError> {
        if let Some(found) = self.pairs.get(&row.pair_id, status.inputs) {
            return Ok(found);
        }
        let state = &self.state;
        let store = |e: connections::LoadError| FlowError::Store(e.into());
        let clarity = connections::load(state, &row.tenant_id, &row.pair_id, "clarity")
            .await
            .map_err(store)?
            .ok_or_else(|| FlowError::Event("Clarity is not connected".into()))?;
        let erp = connections::load(state, &row.tenant_id, &row.pair_id, status.erp.as_str())
            .await
            .map_err(store)?
            .ok_or_else(|| FlowError::Event(format!("{} is not connected", status.erp.label())))?;
        let stamp = (clarity.updated_at, erp.updated_at);
        if self.pairs.connections(&row.pair_id) != Some(stamp) {
            // A changed connection may point at another company: its catalog too.
            state.catalogs.forget(&row.pair_id);
        }
        let rates = crate::rates::load(&state.db, &row.tenant_id)
            .await
            .map_err(|e| FlowError::Store(e.into()))?;
        // A worker waits a moment for its turn; longer, and the job goes back.
        let calls = Arc::new(CallTally::default());
        let gate = TenantGate::shared(
            state.db.clone(),
            state.limiter.clone(),
            &row.tenant_id,
            Duration::from_secs(2),
            Metering::Tallied(calls.clone()),
        );
        let clients = PairClients::build(state, &clarity, erp, gate);
        let built = Arc::new(PairInputs::new(
            status,
            stamp,
            clients,
            calls,
            Arc::new(rates),
        ));
        self.pairs.keep(&row.pair_id, built.clone());
        Ok(built)
    }

    /// What the flow consults besides its template: the rates, and what it
    /// declares it needs of the catalog and the tenant's history.
    async fn mapping_data(
        &self,
        row: &InboxRow,
        flow: &dyn Flow,
        status: &PairStatus,
        pair: &PairInputs,
        template: &CompiledTemplate,
    ) -> Result<MappingData, FlowError> {
        let db = &self.state.db;
        let store = |e: sqlx::Error| FlowError::Store(e.into());
        let needs = flow.needs();
        let history = if needs.history {
            let window = self
                .windows
                .window(db, &row.tenant_id, status.history)
                .await
                .map_err(store)?;
            let customers = crate::history::customers_for_event(db, &row.tenant_id, &row.payload)
                .await
                .map_err(store)?;
            window.with_customers(customers)
        } else {
            Default::default()
        };
        let catalogs = &self.state.catalogs;
        let catalog = match pair.environment {
            _ if !needs.catalog => inputs::PairData::none(),
            Environment::Sandbox => inputs::sandbox_pair_data(catalogs, db, &row.pair_id, pair.erp)
                .await
                .map_err(|e| FlowError::Store(e.into()))?,
            // Listing a production ERP's items costs calls: only when the
            // template resolves SKUs.
            Environment::Production if template.conversions().resolves_skus() => {
                inputs::production_pair_data(catalogs, &row.pair_id, &pair.clients.erp).await
            }
            Environment::Production => catalogs
                .production_cached(&row.pair_id)
                .unwrap_or_else(inputs::PairData::none),
        };
        Ok(MappingData {
            rates: pair.rates.clone(),
            pair: catalog,
            history,
        })
    }
}

/// The schema a flow's output is checked against: the record the template
/// names (`Invoice`), else the flow's default record for the ERP.
fn target_schema(
    template: &CompiledTemplate,
    erp: Erp,
    flow: &str,
) -> Option<&'static TargetSchema> {
    template
        .record()
        .and_then(|r| schema_for(erp.as_str(), r))
        .or_else(|| flow_target(flow, erp.as_str()))
}
