//! Workers: take an inbox row (with a lease), run its flow, record the outcome.
//!
//! The queue only says which row to look at. The outcome of every attempt is
//! written here, in one transaction with the inbox state: done (run succeeded,
//! usage counted), retry later (backoff with jitter, `Retry-After` honoured),
//! or dead letter (reason, field, and every validation issue when the mapping
//! refused the record). Flags the mapping raised (fuzzy SKUs, anomalies) are
//! kept on the run.

pub mod inputs;
mod ledger;
pub mod reconciler;
mod routed;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use connect_jobs::connectors::ErrorClass;
use connect_jobs::connectors::clarity::ClarityClient;
use connect_jobs::flows::orders::{self, OrderContext, OrderOutcome};
use connect_jobs::flows::{ErpTarget, FlowError};
use connect_jobs::mapping::pipeline::Flag;
use connect_jobs::mapping::schema::{TargetSchema, schema_for};
use connect_jobs::mapping::{CompiledTemplate, flow_target};
use connect_jobs::retry::{Backoff, RetryPolicy, Verdict};
use serde_json::Value;
use tracing::Instrument;

use crate::db::now_ms;
use crate::ids::new_id;
use crate::inbox::{self, InboxRow};
use crate::pairs::{Environment, Erp, connections};
use crate::state::AppState;
use crate::usage::TenantGate;
pub use ledger::PairLedger;
use routed::RoutedClients;

/// Clients are kept per pair so tokens and sessions are reused across jobs;
/// a changed connection (new `updated_at`) replaces them.
#[derive(Clone)]
struct PairClients {
    stamp: (i64, i64),
    /// Clients for other Intacct entities or Sage Pro companies (`_route`),
    /// shared by every clone, replaced with the rest.
    routed: Arc<RoutedClients<ErpTarget>>,
    kind: Erp,
    environment: Environment,
    clarity: ClarityClient,
    erp: ErpTarget,
}

pub struct Worker {
    state: AppState,
    /// Identifies this process's leases.
    owner: String,
    templates: Mutex<HashMap<(String, i64), Arc<CompiledTemplate>>>,
    clients: Mutex<HashMap<String, PairClients>>,
}

enum Outcome {
    Done(OrderOutcome),
    /// Nothing to do for this event; it is not shown as a run.
    Skipped(&'static str),
    Failed(FlowError),
}

impl Worker {
    pub fn new(state: AppState) -> Arc<Self> {
        Arc::new(Self {
            state,
            owner: new_id("wrk"),
            templates: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// One job: everything that can go wrong is recorded, nothing escapes.
    pub async fn handle(self: &Arc<Self>, inbox_id: &str) {
        let lease_ms = self.state.config.lease.as_millis() as i64;
        let row = match inbox::claim(&self.state.db, inbox_id, &self.owner, lease_ms).await {
            Ok(Some(row)) => row,
            // Done already, not due, or leased by another worker.
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, inbox_id, "could not claim an inbox row; the reconciler will retry");
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
        // Keep the lease while we work, so a slow ERP does not hand the row to a second worker.
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
        let status: Result<Option<(String, String)>, _> = sqlx::query_as(
            "SELECT p.status, t.status FROM pairs p JOIN tenants t ON t.id = p.tenant_id WHERE p.id = $1 AND p.tenant_id = $2",
        )
        .bind(&row.pair_id)
        .bind(&row.tenant_id)
        .fetch_optional(self.state.db.pool())
        .await;
        let hold = match &status {
            Ok(Some((pair, tenant))) => pair != "active" || tenant != "active",
            Ok(None) => false,
            Err(_) => true,
        };
        if hold {
            // Work for a paused pair or suspended tenant waits; it is not dropped.
            renewer.abort();
            if let Err(e) = inbox::release(&self.state.db, &row.id, &self.owner, 30_000).await {
                tracing::error!(error = %e, "could not release a held row");
            }
            return;
        }
        let (outcome, version) = self.run(&row).await;
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
        let elapsed = started.elapsed();
        if let Err(e) = self.record(&row, &outcome, version, elapsed).await {
            // The lease runs out and the row comes back: nothing is lost.
            tracing::error!(error = %e, "could not record the outcome; the row will be retried");
        }
    }

    /// The outcome, and the template version it used when it got that far.
    async fn run(&self, row: &InboxRow) -> (Outcome, Option<i64>) {
        let event: Value = match serde_json::from_str(&row.payload) {
            Ok(v) => v,
            Err(e) => {
                let e = FlowError::Event(format!("stored payload is not JSON: {e}"));
                return (Outcome::Failed(e), None);
            }
        };
        match row.event_type.as_str() {
            "order.created" => {}
            "ping" => return (Outcome::Skipped("ping"), None),
            _ => {
                return (
                    Outcome::Skipped("no flow handles this event type yet"),
                    None,
                );
            }
        }
        let (template, version) = match self.template(row, "orders").await {
            Ok(t) => t,
            Err(e) => return (Outcome::Failed(e), None),
        };
        let clients = match self.clients(row).await {
            Ok(c) => c,
            Err(e) => return (Outcome::Failed(e), Some(version)),
        };
        let data = match self.mapping_data(row, &clients, &template).await {
            Ok(d) => d,
            Err(e) => return (Outcome::Failed(e), Some(version)),
        };
        let schema = target_schema(&template, clients.kind, "orders");
        let ledger = PairLedger {
            db: self.state.db.clone(),
            tenant_id: row.tenant_id.clone(),
            pair_id: row.pair_id.clone(),
        };
        let router = |route: &str| Some(clients.routed.get(route));
        let ctx = OrderContext {
            clarity: &clients.clarity,
            erp: &clients.erp,
            router: Some(&router),
            template: &template,
            schema,
            inputs: data.inputs(),
            ledger: &ledger,
        };
        let outcome = match orders::sync_order(&ctx, &event).await {
            Ok(o) => Outcome::Done(o),
            Err(e) => Outcome::Failed(e),
        };
        (outcome, Some(version))
    }

    /// The tenant's rates and history and the pair's catalog, for the mapping.
    async fn mapping_data(
        &self,
        row: &InboxRow,
        clients: &PairClients,
        template: &CompiledTemplate,
    ) -> Result<inputs::MappingData, FlowError> {
        let db = &self.state.db;
        let store = |e: sqlx::Error| FlowError::Store(e.into());
        let rates = crate::rates::load(db, &row.tenant_id)
            .await
            .map_err(store)?;
        let history = crate::history::load_for_event(db, &row.tenant_id, &row.payload)
            .await
            .map_err(store)?;
        let pair = match clients.environment {
            Environment::Sandbox => {
                inputs::sandbox_pair_data(&self.state.catalogs, db, &row.pair_id, clients.kind)
                    .await
                    .map_err(|e| FlowError::Store(e.into()))?
            }
            // Listing a production ERP's items costs calls: only when the
            // template resolves SKUs.
            Environment::Production if template.conversions().resolves_skus() => {
                inputs::production_pair_data(&self.state.catalogs, &row.pair_id, &clients.erp).await
            }
            Environment::Production => self
                .state
                .catalogs
                .production_cached(&row.pair_id)
                .unwrap_or_else(inputs::PairData::none),
        };
        Ok(inputs::MappingData {
            rates,
            pair,
            history,
        })
    }

    async fn template(
        &self,
        row: &InboxRow,
        flow: &str,
    ) -> Result<(Arc<CompiledTemplate>, i64), FlowError> {
        let t = crate::templates::current(&self.state, &row.tenant_id, &row.pair_id, flow)
            .await
            .map_err(|e| match e {
                crate::error::ApiError::NotFound(_) => {
                    FlowError::Event(format!("the pair has no {flow} template"))
                }
                other => FlowError::Store(anyhow::anyhow!("{other}")),
            })?;
        let key = (row.pair_id.clone(), t.version);
        if let Some(c) = self.templates.lock().get(&key) {
            return Ok((c.clone(), t.version));
        }
        let compiled =
            Arc::new(
                CompiledTemplate::compile(&t.document).map_err(|e| FlowError::Mapping {
                    target: e.target,
                    message: format!(
                        "template version {} does not compile: {}",
                        t.version, e.message
                    ),
                })?,
            );
        self.templates.lock().insert(key, compiled.clone());
        Ok((compiled, t.version))
    }

    async fn clients(&self, row: &InboxRow) -> Result<PairClients, FlowError> {
        let store = |e: crate::error::ApiError| FlowError::Store(anyhow::anyhow!("{e}"));
        let (erp, environment): (String, String) =
            sqlx::query_as("SELECT erp, environment FROM pairs WHERE id = $1 AND tenant_id = $2")
                .bind(&row.pair_id)
                .bind(&row.tenant_id)
                .fetch_one(self.state.db.pool())
                .await
                .map_err(|e| FlowError::Store(e.into()))?;
        let erp = Erp::parse(&erp).unwrap_or(Erp::Intacct);
        let environment = Environment::parse(&environment).unwrap_or(Environment::Production);
        let clarity = connections::load(&self.state, &row.tenant_id, &row.pair_id, "clarity")
            .await
            .map_err(store)?
            .ok_or_else(|| FlowError::Event("Clarity is not connected".into()))?;
        let target = connections::load(&self.state, &row.tenant_id, &row.pair_id, erp.as_str())
            .await
            .map_err(store)?
            .ok_or_else(|| FlowError::Event(format!("{} is not connected", erp.label())))?;
        let stamp = (clarity.updated_at, target.updated_at);
        let target = Arc::new(target);
        if let Some(c) = self.clients.lock().get(&row.pair_id)
            && c.stamp == stamp
        {
            return Ok(c.clone());
        }
        // A changed connection may point at another company: its catalog too.
        self.state.catalogs.forget(&row.pair_id);
        // A worker waits a moment for its turn; longer, and the job goes back.
        let meter = TenantGate::shared(
            self.state.db.clone(),
            self.state.limiter.clone(),
            &row.tenant_id,
            Duration::from_secs(2),
        );
        let routed = {
            let (state, meter, target) = (self.state.clone(), meter.clone(), target.clone());
            RoutedClients::new(move |to: &str| {
                let mut settings = target.settings.clone();
                let key = match erp {
                    Erp::Intacct => "entity_id",
                    Erp::Sagepro => "company",
                };
                settings.insert(key.into(), Value::String(to.to_owned()));
                let routed = connections::Loaded {
                    system: target.system.clone(),
                    base_url: target.base_url.clone(),
                    settings,
                    secrets: target.secrets.clone(),
                    webhook_id: target.webhook_id.clone(),
                    updated_at: target.updated_at,
                    reach: target.reach.clone(),
                };
                match erp {
                    Erp::Intacct => ErpTarget::Intacct(connections::intacct_client(
                        &state,
                        &routed,
                        meter.clone(),
                    )),
                    Erp::Sagepro => ErpTarget::Sagepro(connections::sagepro_client(
                        &state,
                        &routed,
                        meter.clone(),
                    )),
                }
            })
        };
        let built = PairClients {
            routed: Arc::new(routed),
            stamp,
            kind: erp,
            environment,
            clarity: connections::clarity_client(&self.state, &clarity, meter.clone()),
            erp: match erp {
                Erp::Intacct => {
                    ErpTarget::Intacct(connections::intacct_client(&self.state, &target, meter))
                }
                Erp::Sagepro => {
                    ErpTarget::Sagepro(connections::sagepro_client(&self.state, &target, meter))
                }
            },
        };
        self.clients
            .lock()
            .insert(row.pair_id.clone(), built.clone());
        Ok(built)
    }

    async fn record(
        &self,
        row: &InboxRow,
        outcome: &Outcome,
        version: Option<i64>,
        elapsed: Duration,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let cfg = &self.state.config;
        let source_id = serde_json::from_str::<Value>(&row.payload)
            .ok()
            .and_then(|v| orders::order_id(&v).map(str::to_owned));
        let started_at = now - elapsed.as_millis() as i64;
        let mut tx = self.state.db.begin_write().await?;
        if !inbox::lease_held(&mut tx, &row.id, &self.owner).await? {
            tracing::warn!(
                "lease lost before the outcome was recorded; leaving it to the new holder"
            );
            return Ok(());
        }
        if let Outcome::Skipped(why) = outcome {
            inbox::finish_skipped(&mut tx, &row.id, why, now).await?;
            tx.commit().await?;
            metrics::counter!("connect_jobs_total", "queue" => "inbox", "outcome" => "skipped")
                .increment(1);
            return Ok(());
        }
        let run_id =
            inbox::open_run(&mut tx, row, source_id.as_deref(), version, started_at).await?;
        let (label, error): (&str, Option<String>) = match outcome {
            Outcome::Done(o) => {
                inbox::finish_succeeded(
                    &mut tx,
                    &row.id,
                    &run_id,
                    &o.source_id,
                    &o.target_id,
                    flags_json(&o.flags),
                    now,
                )
                .await?;
                // Only what was written counts in the tenant's history.
                if let Some(order) = &o.order {
                    crate::history::record_order(
                        &mut tx,
                        &row.tenant_id,
                        &row.pair_id,
                        &o.source_id,
                        order,
                    )
                    .await?;
                }
                tracing::info!(source_id = %o.source_id, target_id = %o.target_id, created = o.created, "order synced");
                ("succeeded", None)
            }
            // Answered before a run was made.
            Outcome::Skipped(_) => return Ok(()),
            Outcome::Failed(err) => {
                let message = err.to_string();
                let field = err.field();
                let policy = RetryPolicy {
                    backoff: Backoff {
                        base: cfg.retry_base,
                        cap: cfg.retry_cap,
                    },
                    max_attempts: cfg.max_attempts,
                };
                let retry =
                    match policy.after_failure(err.class(), row.attempts as u32, rand::random()) {
                        Verdict::RetryIn(delay) => Some(delay),
                        Verdict::GiveUp => None,
                    };
                if let Some(delay) = retry {
                    let at = now + delay.as_millis() as i64;
                    inbox::schedule_retry(
                        &mut tx,
                        &row.id,
                        &run_id,
                        at,
                        &message,
                        field.as_deref(),
                        now,
                    )
                    .await?;
                    tracing::warn!(error = %message, retry_in_ms = delay.as_millis() as u64, "attempt failed; will retry");
                    ("retrying", Some(message))
                } else {
                    let (details, flags) = match err {
                        FlowError::Invalid { issues, flags } => (
                            Some(serde_json::to_string(issues).unwrap_or_else(|_| "[]".into())),
                            flags_json(flags),
                        ),
                        _ => (None, None),
                    };
                    let dl = inbox::DeadLetter {
                        source_id: source_id.as_deref(),
                        message: &message,
                        field: field.as_deref(),
                        details,
                        flags,
                    };
                    inbox::dead_letter(&mut tx, row, &run_id, &dl, now).await?;
                    tracing::error!(error = %message, field = ?field, "permanent failure; dead-lettered");
                    ("dead", Some(message))
                }
            }
        };
        inbox::record_attempt(&mut tx, &run_id, started_at, now, label, error.as_deref()).await?;
        tx.commit().await?;
        metrics::counter!("connect_jobs_total", "queue" => "inbox", "outcome" => label)
            .increment(1);
        metrics::histogram!("connect_run_duration_seconds", "flow" => "orders")
            .record(elapsed.as_secs_f64());
        Ok(())
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

/// A run's flags as its JSON column; NULL for none.
fn flags_json(flags: &[Flag]) -> Option<String> {
    (!flags.is_empty()).then(|| serde_json::to_string(flags).unwrap_or_else(|_| "[]".into()))
}
