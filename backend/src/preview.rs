//! Dry run of a flow's template: maps source records through the same
//! pipeline as the worker ([`map_record`]: conversions, rules, validation
//! against the target record's schema, anomaly flags) with the same rates,
//! catalog, references and history ([`crate::sync::inputs`]), so a
//! customer sees what would be sent, what would be refused and what would be
//! flagged before going live. It reads only — no run, no inbox row, no call
//! to Clarity or the ERP (a production pair's catalog is used only when the
//! worker has listed it already).

use connect_jobs::mapping::pipeline::map_record;
use connect_jobs::mapping::schema::{TargetSchema, schema_for};
use connect_jobs::mapping::{CompiledTemplate, flow_record_id, flow_target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::ids::{PairId, TenantId};
use crate::pairs::{self, Environment, Erp, FLOWS};
use crate::runs::{IssueDetail, RunFlag};
use crate::state::AppState;
use crate::sync::inputs::{self, MappingData, PairData};
use crate::templates;

/// The most records one preview maps, given or sampled.
pub const MAX_RECORDS: usize = 50;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Source records (Clarity orders), 1..=50. Give this or `sample`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub records: Option<Vec<Value>>,
    /// Preview the last N (1..=50) order events this pair received instead.
    pub sample: Option<i64>,
    /// The template version to use; default: the pinned one.
    pub version: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewResponse {
    pub version: i64,
    /// What references (items, customers …) were checked against.
    pub references: ReferenceCoverage,
    pub results: Vec<PreviewResult>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReferenceCoverage {
    /// `sandbox_catalog`, `erp_catalog` (the items the worker listed) or `none`.
    pub source: &'static str,
    /// The kinds checked (item, customer, warehouse …); others are taken as existing.
    pub kinds: Vec<&'static str>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewResult {
    /// The record's id (the Clarity `orderId`), when it has one.
    pub source_id: Option<String>,
    #[schema(value_type = Object)]
    pub source: Value,
    /// What would be sent; null when the template cannot map the record.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub errors: Vec<IssueDetail>,
    /// What the worker would flag on the run without blocking: fuzzy SKU
    /// matches (`fuzzy_sku`) and anomalies (`anomaly:<kind>`).
    pub flags: Vec<RunFlag>,
}

/// The schema a flow's output is validated against: the record the
/// template names, else the flow's default record for the ERP.
fn target_schema(
    template: &CompiledTemplate,
    flow: &str,
    erp: Erp,
) -> Option<&'static TargetSchema> {
    template
        .record()
        .and_then(|r| schema_for(erp.as_str(), r))
        .or_else(|| flow_target(flow, erp.as_str()))
}

pub async fn run(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
    body: PreviewRequest,
) -> Result<PreviewResponse, ApiError> {
    let pair = pairs::get(state, tenant_id, pair_id).await?;
    if !FLOWS.contains(&flow) {
        return Err(ApiError::invalid(
            "flow",
            format!("'{flow}' is not a flow; flows are {}", FLOWS.join(", ")),
        ));
    }
    let sources = sources(state, tenant_id, &pair, &body).await?;
    let template = match body.version {
        Some(v) => templates::at_version(state, tenant_id, pair_id, flow, v)
            .await?
            .ok_or_else(|| {
                ApiError::invalid("version", format!("the {flow} template has no version {v}"))
            })?,
        None => templates::current(state, tenant_id, pair_id, flow).await?,
    };
    let compiled = CompiledTemplate::compile(&template.document).map_err(|e| {
        ApiError::invalid(
            "version",
            format!(
                "version {} does not compile: rule {} ({}): {}",
                template.version, e.rule, e.target, e.message
            ),
        )
    })?;
    let schema = target_schema(&compiled, flow, pair.erp).ok_or_else(|| {
        ApiError::invalid(
            "flow",
            format!(
                "no preview for the {flow} flow: no target schema for its {} record",
                pair.erp.label()
            ),
        )
    })?;
    let data = mapping_data(state, tenant_id, &pair).await?;
    let references = ReferenceCoverage {
        source: data.pair.source,
        kinds: data.pair.kinds.clone(),
        note: match data.pair.source {
            "none" if pair.environment == Environment::Sandbox => None,
            "none" => Some(
                "references and SKUs are not checked against the ERP catalog: a preview does not call the production ERP, and the worker has not listed its items yet"
                    .into(),
            ),
            "erp_catalog" => Some(
                "items (and SKU resolution) are checked against the catalog the worker listed from the ERP; other references are not checked"
                    .into(),
            ),
            _ => None,
        },
    };
    let results = sources
        .into_iter()
        .enumerate()
        .map(|(i, source)| preview_one(&compiled, schema, &data, flow, i, source))
        .collect();
    Ok(PreviewResponse {
        version: template.version,
        references,
        results,
    })
}

fn preview_one(
    template: &CompiledTemplate,
    schema: &TargetSchema,
    data: &MappingData,
    flow: &str,
    index: usize,
    source: Result<Value, (Value, String)>,
) -> PreviewResult {
    let source = match source {
        Ok(s) => s,
        Err((source, message)) => {
            let record =
                flow_record_id(flow, &source).unwrap_or_else(|| format!("records[{index}]"));
            return PreviewResult {
                source_id: flow_record_id(flow, &source),
                source,
                output: None,
                errors: vec![IssueDetail {
                    record,
                    field: String::new(),
                    value: None,
                    rule: "source".into(),
                    message,
                    suggestion: None,
                }],
                flags: Vec::new(),
            };
        }
    };
    let source_id = flow_record_id(flow, &source);
    let record = source_id
        .clone()
        .unwrap_or_else(|| format!("records[{index}]"));
    let mapped = map_record(template, Some(schema), &record, &source, &data.inputs());
    PreviewResult {
        source_id,
        source,
        output: mapped.output,
        errors: mapped.issues.into_iter().map(IssueDetail::from).collect(),
        flags: mapped.flags.into_iter().map(RunFlag::from).collect(),
    }
}

/// Rates, catalog, references and history as the worker would load them.
async fn mapping_data(
    state: &AppState,
    tenant_id: &TenantId,
    pair: &pairs::Pair,
) -> Result<MappingData, ApiError> {
    let rates = crate::rates::load(&state.db, tenant_id).await?;
    let history = crate::history::load(&state.db, tenant_id).await?;
    let pair_data = match pair.environment {
        Environment::Sandbox => {
            inputs::sandbox_pair_data(&state.catalogs, &state.db, &pair.id, pair.erp)
                .await
                .map_err(|e| ApiError::Internal(e.into()))?
        }
        Environment::Production => state
            .catalogs
            .production_cached(&pair.id)
            .unwrap_or_else(PairData::none),
    };
    Ok(MappingData {
        rates: std::sync::Arc::new(rates),
        pair: pair_data,
        history,
    })
}

/// The records to map, each either a source record or (the stored event, why
/// it yields none).
async fn sources(
    state: &AppState,
    tenant_id: &TenantId,
    pair: &pairs::Pair,
    body: &PreviewRequest,
) -> Result<Vec<Result<Value, (Value, String)>>, ApiError> {
    let range = format!("1..={MAX_RECORDS}");
    match (&body.records, body.sample) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "records",
            "give either records or sample, not both",
        )),
        (None, None) => Err(ApiError::invalid(
            "records",
            format!("give records ({range} source records) or sample (the last N order events)"),
        )),
        (Some(records), None) => {
            if records.is_empty() || records.len() > MAX_RECORDS {
                return Err(ApiError::invalid(
                    "records",
                    format!("must hold {range} records, not {}", records.len()),
                ));
            }
            if let Some(i) = records.iter().position(|r| !r.is_object()) {
                return Err(ApiError::invalid(
                    &format!("records[{i}]"),
                    "must be a JSON object (a source record)",
                ));
            }
            Ok(records.iter().cloned().map(Ok).collect())
        }
        (None, Some(n)) => {
            if !(1..=MAX_RECORDS as i64).contains(&n) {
                return Err(ApiError::invalid(
                    "sample",
                    format!("must be {range}, not {n}"),
                ));
            }
            sampled(state, tenant_id, pair, n).await
        }
    }
}

/// The orders of the pair's last `n` order events, newest first.
async fn sampled(
    state: &AppState,
    tenant_id: &TenantId,
    pair: &pairs::Pair,
    n: i64,
) -> Result<Vec<Result<Value, (Value, String)>>, ApiError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT payload FROM inbox WHERE tenant_id = $1 AND pair_id = $2 AND event_type = 'order.created' \
         ORDER BY received_at DESC, id DESC LIMIT $3",
    )
    .bind(tenant_id)
    .bind(&pair.id)
    .bind(n)
    .fetch_all(state.db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (payload,) in rows {
        let event: Value = match serde_json::from_str(&payload) {
            Ok(v) => v,
            Err(e) => {
                out.push(Err((
                    Value::String(payload),
                    format!("the stored event is not JSON: {e}"),
                )));
                continue;
            }
        };
        let object = &event["data"]["object"];
        if object.get("lineItems").is_some() {
            out.push(Ok(object.clone()));
            continue;
        }
        // An event may carry only the order id. The worker would fetch the
        // order from Clarity; a preview calls nothing, but a sandbox's
        // Clarity orders are in this database.
        let id = object.get("orderId").and_then(Value::as_str);
        let stored = match (id, pair.environment) {
            (Some(id), Environment::Sandbox) => {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT body FROM sim_clarity_orders WHERE pair_id = $1 AND order_id = $2",
                )
                .bind(&pair.id)
                .bind(id)
                .fetch_optional(state.db.pool())
                .await?;
                row.and_then(|(b,)| serde_json::from_str::<Value>(&b).ok())
            }
            _ => None,
        };
        out.push(stored.ok_or_else(|| {
            (
                event.clone(),
                "the event carries only the order id, and a preview makes no call to Clarity to fetch it"
                    .to_owned(),
            )
        }));
    }
    Ok(out)
}
