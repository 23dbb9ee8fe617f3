//! Dry run of a flow's template: maps source records and validates the output
//! against the ERP's record schema, so a customer sees what would be sent and
//! what would be refused before going live. It reads only — no run, no inbox
//! row, no call to Clarity or the ERP.

use std::collections::BTreeMap;

use connect_jobs::mapping::schema::{RefKind, TargetSchema, schema_for};
use connect_jobs::mapping::validate::{InMemoryReferences, validate};
use connect_jobs::mapping::{CompiledTemplate, MappingError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::pairs::{self, Environment, Erp, FLOWS};
use crate::state::AppState;
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
    /// `sandbox_catalog` or `none`.
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
    pub errors: Vec<PreviewIssue>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewIssue {
    pub record: String,
    /// The target field, with element indexes (`sotransitems[0].itemid`).
    pub field: String,
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    /// required, type, max_len, enum, reference, unknown — or `mapping` when
    /// the template could not produce the field, `source` when the record
    /// itself could not be read.
    pub rule: String,
    pub message: String,
    pub suggestion: Option<String>,
}

/// The ERP record a flow's output is, for validation.
fn target_record(flow: &str, erp: Erp) -> Option<&'static str> {
    match (flow, erp) {
        ("orders", Erp::Intacct) => Some("sotransaction"),
        ("orders", Erp::Sagepro) => Some("SalesOrder"),
        _ => None,
    }
}

pub async fn run(
    state: &AppState,
    tenant_id: &str,
    pair_id: &str,
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
    let schema = target_record(flow, pair.erp)
        .and_then(|record| schema_for(pair.erp.as_str(), record))
        .ok_or_else(|| {
            ApiError::invalid(
                "flow",
                format!("no preview for the {flow} flow yet: only orders can be previewed"),
            )
        })?;
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
    let (refs, references) = references(state, &pair).await?;
    let results = sources
        .into_iter()
        .enumerate()
        .map(|(i, source)| preview_one(&compiled, schema, &refs, i, source))
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
    refs: &InMemoryReferences,
    index: usize,
    source: Result<Value, (Value, String)>,
) -> PreviewResult {
    let source = match source {
        Ok(s) => s,
        Err((source, message)) => {
            let record = order_id(&source).unwrap_or_else(|| format!("records[{index}]"));
            return PreviewResult {
                source_id: order_id(&source),
                source,
                output: None,
                errors: vec![PreviewIssue {
                    record,
                    field: String::new(),
                    value: None,
                    rule: "source".into(),
                    message,
                    suggestion: None,
                }],
            };
        }
    };
    let record = order_id(&source).unwrap_or_else(|| format!("records[{index}]"));
    match template.apply(&source) {
        Ok(output) => {
            let errors = validate(schema, &output, refs, &record)
                .into_iter()
                .map(|i| PreviewIssue {
                    record: i.record,
                    field: i.field,
                    value: i.value,
                    rule: i.rule.as_str().to_owned(),
                    message: i.message,
                    suggestion: i.suggestion,
                })
                .collect();
            PreviewResult {
                source_id: order_id(&source),
                source,
                output: Some(output),
                errors,
            }
        }
        Err(MappingError {
            target,
            message,
            value,
        }) => PreviewResult {
            source_id: order_id(&source),
            errors: vec![PreviewIssue {
                record,
                field: target,
                value,
                rule: "mapping".into(),
                message,
                suggestion: None,
            }],
            source,
            output: None,
        },
    }
}

fn order_id(source: &Value) -> Option<String> {
    source
        .get("orderId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The records to map, each either a source record or (the stored event, why
/// it yields none).
async fn sources(
    state: &AppState,
    tenant_id: &str,
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
    tenant_id: &str,
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

/// The sandbox ERP simulator's master data, for a sandbox pair. A production
/// pair's ERP is not called, so its references go unchecked and the answer
/// says so. A kind the catalog holds nothing of is left unchecked too rather
/// than flagging every id of it.
async fn references(
    state: &AppState,
    pair: &pairs::Pair,
) -> Result<(InMemoryReferences, ReferenceCoverage), ApiError> {
    if pair.environment != Environment::Sandbox {
        return Ok((
            InMemoryReferences::new(),
            ReferenceCoverage {
                source: "none",
                kinds: Vec::new(),
                note: Some(
                    "references (items, customers …) are not checked: a preview does not call the production ERP"
                        .into(),
                ),
            },
        ));
    }
    let pool = state.db.pool();
    let mut ids: BTreeMap<RefKind, Vec<String>> = BTreeMap::new();
    match pair.erp {
        Erp::Intacct => {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT object, object_id FROM sim_intacct_objects WHERE pair_id = $1 \
                 AND object IN ('ITEM','CUSTOMER','GLACCOUNT','LOCATION','DEPARTMENT','CLASS','PROJECT','WAREHOUSE','ARTERM')",
            )
            .bind(&pair.id)
            .fetch_all(pool)
            .await?;
            for (object, id) in rows {
                if let Some((kind, _)) = INTACCT_OBJECTS.iter().find(|(_, o)| *o == object) {
                    ids.entry(*kind).or_default().push(id);
                }
            }
        }
        Erp::Sagepro => {
            for (kind, sql) in [
                (
                    RefKind::Item,
                    "SELECT item_code FROM sim_sagepro_items WHERE pair_id = $1",
                ),
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
                    sqlx::query_as(sql).bind(&pair.id).fetch_all(pool).await?;
                ids.insert(kind, rows.into_iter().map(|(id,)| id).collect());
            }
        }
    }
    ids.retain(|_, v| !v.is_empty());
    let kinds = ids.keys().map(|k| k.as_str()).collect();
    let refs = ids
        .into_iter()
        .fold(InMemoryReferences::new(), |r, (kind, v)| r.with(kind, v));
    Ok((
        refs,
        ReferenceCoverage {
            source: "sandbox_catalog",
            kinds,
            note: None,
        },
    ))
}
