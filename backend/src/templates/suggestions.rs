//! Mapping suggestions for a pair's flow: for each target field of the
//! flow's record that no rule fills, the source fields that probably belong
//! there ([`connect_jobs::mapping::suggest`]), scored over sample records and
//! the tenant's earlier decisions.
//!
//! Samples are the objects of the pair's last inbox events for the flow; a
//! sandbox pair that has received none yet is sampled from its simulator's
//! catalog instead, so suggestions work from the first minute. Decisions are
//! kept per tenant, ERP and flow (table `accepted_mappings`): an acceptance
//! adds the rule and teaches the ranking, a rejection hides that pair of
//! fields from then on.

use std::collections::BTreeSet;

use connect_jobs::mapping::schema::{DateFormat, FieldKind};
use connect_jobs::mapping::suggest::{
    AcceptedMappings, OpenTarget, TargetType, suggest, template_targets, unmapped_targets,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{TemplateInfo, current, editable, insert_version, target_schema};
use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::ids::{PairId, TenantId};
use crate::pairs::{Environment, Erp, Pair};
use crate::state::AppState;

/// How many recent source records the statistics are taken over.
pub const SAMPLE_RECORDS: i64 = 25;

/// Candidates shown per target field.
const PER_TARGET: usize = 3;

/// Below these a candidate is noise, not a suggestion: a name this unlike
/// the target's is a coincidence of types, whatever its score (unless the
/// tenant chose it before).
const MIN_NAME: f64 = 0.55;
const MIN_SCORE: f64 = 0.5;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The target field, schema path (`shipto.zip`, `sotransitems[].memo`).
    pub target: String,
    /// The proposed source field, path in the source record (`lineItems[].name`).
    pub source: String,
    /// In [0, 1], three decimals; candidates of a target are ranked by it.
    pub score: f64,
    /// Why, clause by clause: `name 0.82`, `type ok`, `97 % of samples parse as dates` …
    pub reasons: Vec<String>,
    pub required: bool,
    /// string, number, date, money or bool.
    #[schema(value_type = String)]
    pub target_type: TargetType,
    /// How often this tenant accepted this source for this target before.
    pub accepted_before: u32,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub target: String,
    pub source: String,
}

/// The suggestions for a flow's unmapped target fields, required fields
/// first; empty when the flow has no known target record or there are no
/// sample records yet.
pub async fn list(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<Vec<Suggestion>, ApiError> {
    let pair = crate::pairs::get(state, tenant_id, pair_id).await?;
    let template = current(state, tenant_id, pair_id, flow).await?;
    let Some(schema) = target_schema(&template.document, flow, pair.erp) else {
        return Ok(Vec::new());
    };
    let open = unmapped_targets(schema, &template_targets(&template.document));
    let records = sample_records(state, tenant_id, &pair, flow, SAMPLE_RECORDS).await?;
    let (history, rejected) = decisions(state, tenant_id, pair.erp, flow).await?;
    Ok(rank(&open, &records, &history, &rejected))
}

/// The pure part of [`list`]: scores, filters and flattens.
pub fn rank(
    open: &[OpenTarget],
    records: &[Value],
    history: &AcceptedMappings,
    rejected: &BTreeSet<(String, String)>,
) -> Vec<Suggestion> {
    if records.is_empty() || open.is_empty() {
        return Vec::new();
    }
    let fields: Vec<_> = open.iter().map(|o| o.field.clone()).collect();
    let ranked = suggest(&fields, records, history, usize::MAX);
    let mut out = Vec::new();
    for (target, suggestions) in open.iter().zip(ranked) {
        let per_line_target = target.field.path.contains("[]");
        out.extend(
            suggestions
                .candidates
                .into_iter()
                .filter(|c| !rejected.contains(&(target.field.path.clone(), c.source.clone())))
                // A record-level field cannot be filled by a per-line value
                // with a plain rule; a line field can read the record.
                .filter(|c| per_line_target || !c.source.contains("[]"))
                // No sample parsing as the target's type is a mismatch,
                // however alike the names.
                .filter(|c| {
                    c.accepted > 0
                        || (c.name_score >= MIN_NAME && c.score >= MIN_SCORE && c.parse_share > 0.0)
                })
                .take(PER_TARGET)
                .map(|c| Suggestion {
                    target: target.field.path.clone(),
                    source: c.source,
                    score: (c.score * 1000.0).round() / 1000.0,
                    reasons: c.reasons,
                    required: target.required,
                    target_type: target.field.field_type,
                    accepted_before: c.accepted,
                }),
        );
    }
    out
}

/// The tenant's accepted mappings (for ranking) and rejected pairs (hidden)
/// for an ERP and flow.
pub async fn decisions(
    state: &AppState,
    tenant_id: &TenantId,
    erp: Erp,
    flow: &str,
) -> Result<(AcceptedMappings, BTreeSet<(String, String)>), ApiError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT target, source, decision FROM accepted_mappings \
         WHERE tenant_id = $1 AND erp = $2 AND flow = $3 ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .bind(erp.as_str())
    .bind(flow)
    .fetch_all(state.db.pool())
    .await?;
    let mut history = AcceptedMappings::new();
    let mut rejected = BTreeSet::new();
    for (target, source, decision) in rows {
        if decision == "accepted" {
            history.record(&target, &source);
        } else {
            rejected.insert((target, source));
        }
    }
    Ok((history, rejected))
}

/// A source path as suggestions produce it: dot-separated keys, `[]` after a
/// list. Anything else would not be a path a rule can read.
fn check_source(source: &str) -> Result<(), ApiError> {
    let ok = !source.is_empty()
        && source.len() <= 200
        && source.split('.').all(|part| {
            let key = part.strip_suffix("[]").unwrap_or(part);
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "source",
            format!(
                "'{source}' is not a source field path (keys separated by '.', '[]' after a list)"
            ),
        ))
    }
}

/// Accepts a suggestion: adds the rule `target ← source` to the template as a
/// new version and records the acceptance, in one transaction. A target a
/// rule already fills is refused: a suggestion never overwrites a mapping.
pub async fn accept(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    d: Decision,
) -> Result<TemplateInfo, ApiError> {
    let pair = editable(state, who, pair_id, flow).await?;
    check_source(&d.source)?;
    let mut document = current(state, &who.tenant_id, pair_id, flow)
        .await?
        .document;
    let schema = target_schema(&document, flow, pair.erp).ok_or_else(|| {
        ApiError::invalid(
            "target",
            format!("the {flow} template has no known target record"),
        )
    })?;
    let filled = template_targets(&document);
    let open = unmapped_targets(schema, &filled);
    let Some(target) = open.iter().find(|o| o.field.path == d.target) else {
        let message = if let Some(f) = filled
            .iter()
            .find(|f| d.target == f.path || d.target.starts_with(&format!("{}.", f.path)))
        {
            format!(
                "`{}` is already mapped by rule {}; edit that rule instead",
                d.target, f.rule
            )
        } else {
            format!("`{}` is not a field of {}", d.target, schema.record)
        };
        return Err(ApiError::invalid("target", message));
    };
    // A date target gets its ERP's date shape, so the accepted rule maps
    // Clarity's timestamps into something the ERP takes.
    let transform = schema
        .field(&d.target)
        .and_then(|spec| match (spec.kind, spec.date_format) {
            (FieldKind::Date, Some(DateFormat::Parts)) => Some("date_parts"),
            (FieldKind::Date, _) => Some("date"),
            _ => None,
        });
    add_rule(
        &mut document,
        &d.target,
        &d.source,
        target.required,
        transform,
    )?;
    super::check_document(&document, flow, pair.erp)?;
    let mut tx = state.db.begin_write().await?;
    let info = insert_version(
        &mut tx,
        who,
        pair_id,
        flow,
        &document,
        "template.suggestion_accepted",
        Some(&format!("{} ← {}", d.target, d.source)),
    )
    .await?;
    record(&mut tx, who, &pair, flow, &d, "accepted").await?;
    tx.commit().await?;
    Ok(info)
}

/// Rejects a suggestion: that source is not offered for that target again.
pub async fn reject(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    d: Decision,
) -> Result<(), ApiError> {
    let pair = editable(state, who, pair_id, flow).await?;
    check_source(&d.source)?;
    if d.target.trim().is_empty() {
        return Err(ApiError::invalid("target", "is empty"));
    }
    let mut tx = state.db.begin_write().await?;
    record(&mut tx, who, &pair, flow, &d, "rejected").await?;
    crate::audit::record(
        &mut tx,
        Some(&who.tenant_id),
        &who.actor(),
        "template.suggestion_rejected",
        Some(&format!("{pair_id}/{flow}")),
        Some(&format!("{} ← {}", d.target, d.source)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    conn: &mut sqlx::AnyConnection,
    who: &Principal,
    pair: &Pair,
    flow: &str,
    d: &Decision,
    decision: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO accepted_mappings (id, tenant_id, pair_id, erp, flow, target, source, decision, author, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(crate::ids::new_id("map"))
    .bind(&who.tenant_id)
    .bind(&pair.id)
    .bind(pair.erp.as_str())
    .bind(flow)
    .bind(&d.target)
    .bind(&d.source)
    .bind(decision)
    .bind(&who.email)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds the rule for `target ← source` where it belongs: at the end of the
/// rules for a record field; inside the `each` rule that builds the list for
/// a line field (reading the line, or the record through `$record` when the
/// source is a record field). An optional target gets an optional rule, so
/// a record without the source still maps.
pub fn add_rule(
    document: &mut Value,
    target: &str,
    source: &str,
    required: bool,
    transform: Option<&str>,
) -> Result<(), ApiError> {
    let optional = |mut rule: Value| {
        if let Some(t) = transform {
            rule["transform"] = Value::String(t.to_owned());
        }
        if !required {
            rule["optional"] = Value::Bool(true);
        }
        rule
    };
    let rules = document
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored template has no rules")))?;
    let Some((list, field)) = target.split_once("[].") else {
        rules.push(optional(json!({"target": target, "source": source})));
        return Ok(());
    };
    let each = rules
        .iter_mut()
        .find(|r| r.get("target").and_then(Value::as_str) == Some(list) && r.get("each").is_some())
        .ok_or_else(|| {
            ApiError::invalid(
                "target",
                format!("no rule builds the list `{list}` with `each`; add that rule first"),
            )
        })?;
    let line_source = each["each"]["source"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rule = match source.split_once("[].") {
        Some((source_list, leaf)) if source_list == line_source => {
            json!({"target": field, "source": leaf})
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "source",
                format!(
                    "`{list}` is built from `{line_source}`; a line field reads from it or from the record"
                ),
            ));
        }
        // jq reads the record the line belongs to through `$record`.
        None => json!({"target": field, "expr": format!("$record.{}", jq_path(source))}),
    };
    let nested = each["each"]["rules"]
        .as_array_mut()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("`each` rule without rules")))?;
    nested.push(optional(rule));
    Ok(())
}

/// `shippingAddress.postalCode` as a jq path, each key quoted so any key
/// spelling is safe.
fn jq_path(source: &str) -> String {
    source
        .split('.')
        .map(|k| serde_json::to_string(k).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(".")
}

/// Inbox event types whose object is a source record of the flow.
fn event_types(flow: &str) -> &'static [&'static str] {
    match flow {
        "orders" => &["order.created", "order.updated"],
        "payments" => &["order.paid"],
        "customers" => &["customer.created", "customer.updated"],
        "returns" => &["return.created"],
        "products" => &["product.updated"],
        "inventory" => &["inventory.updated"],
        _ => &[],
    }
}

/// Up to `n` recent source records of the flow, newest first: the objects of
/// the pair's inbox events, then — for a sandbox pair — its simulators'
/// records.
pub async fn sample_records(
    state: &AppState,
    tenant_id: &TenantId,
    pair: &Pair,
    flow: &str,
    n: i64,
) -> Result<Vec<Value>, ApiError> {
    let pool = state.db.pool();
    let mut out = Vec::new();
    for event_type in event_types(flow) {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT payload FROM inbox WHERE tenant_id = $1 AND pair_id = $2 AND event_type = $3 \
             ORDER BY received_at DESC, id DESC LIMIT $4",
        )
        .bind(tenant_id)
        .bind(&pair.id)
        .bind(*event_type)
        .bind(n)
        .fetch_all(pool)
        .await?;
        out.extend(rows.into_iter().filter_map(|(payload,)| {
            let event: Value = serde_json::from_str(&payload).ok()?;
            let object = event.get("data")?.get("object")?;
            // An event that carries only an id says nothing about fields.
            (object.as_object()?.len() > 2).then(|| object.clone())
        }));
    }
    if out.is_empty() && pair.environment == Environment::Sandbox {
        let sql = match (flow, pair.erp) {
            ("orders" | "payments", _) => Some(
                "SELECT body FROM sim_clarity_orders WHERE pair_id = $1 ORDER BY created_at DESC LIMIT $2",
            ),
            ("customers", _) => Some(
                "SELECT body FROM sim_clarity_customers WHERE pair_id = $1 ORDER BY updated_at DESC LIMIT $2",
            ),
            ("returns", _) => Some(
                "SELECT body FROM sim_clarity_returns WHERE pair_id = $1 ORDER BY created_at DESC LIMIT $2",
            ),
            ("products" | "inventory", Erp::Sagepro) => Some(
                "SELECT body FROM sim_sagepro_items WHERE pair_id = $1 ORDER BY last_modified DESC LIMIT $2",
            ),
            ("products" | "inventory", Erp::Intacct) => Some(
                "SELECT fields FROM sim_intacct_objects WHERE pair_id = $1 AND object = 'ITEM' \
                 ORDER BY when_modified DESC LIMIT $2",
            ),
            _ => None,
        };
        if let Some(sql) = sql {
            let rows: Vec<(String,)> = sqlx::query_as(sql)
                .bind(&pair.id)
                .bind(n)
                .fetch_all(pool)
                .await?;
            out.extend(
                rows.into_iter()
                    .filter_map(|(body,)| serde_json::from_str::<Value>(&body).ok())
                    .filter(Value::is_object),
            );
        }
    }
    out.truncate(usize::try_from(n).unwrap_or(0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({"rules": [
            {"target": "customerid", "source": "customerId"},
            {"target": "sotransitems", "each": {"source": "lineItems", "rules": [
                {"target": "itemid", "source": "sku"}
            ]}}
        ]})
    }

    #[test]
    fn record_fields_are_appended_and_line_fields_go_into_their_each() {
        let mut d = doc();
        add_rule(
            &mut d,
            "shipto.zip",
            "shippingAddress.postalCode",
            false,
            None,
        )
        .unwrap();
        add_rule(&mut d, "datedue", "createdDate", false, Some("date_parts")).unwrap();
        add_rule(
            &mut d,
            "sotransitems[].memo",
            "lineItems[].name",
            false,
            None,
        )
        .unwrap();
        add_rule(&mut d, "sotransitems[].locationid", "storeId", true, None).unwrap();
        let rules = d["rules"].as_array().unwrap();
        assert_eq!(
            rules[2],
            json!({"target": "shipto.zip", "source": "shippingAddress.postalCode", "optional": true})
        );
        assert_eq!(
            rules[3],
            json!({"target": "datedue", "source": "createdDate", "transform": "date_parts", "optional": true})
        );
        let nested = rules[1]["each"]["rules"].as_array().unwrap();
        assert_eq!(
            nested[1],
            json!({"target": "memo", "source": "name", "optional": true})
        );
        assert_eq!(
            nested[2],
            json!({"target": "locationid", "expr": "$record.\"storeId\""})
        );
    }

    #[test]
    fn a_line_field_without_its_list_rule_or_from_another_list_is_refused() {
        let mut d = doc();
        let e = add_rule(&mut d, "subtotals[].total", "taxAmount", false, None).unwrap_err();
        assert_eq!(e.field(), Some("target"));
        let e = add_rule(&mut d, "sotransitems[].memo", "coupons[].code", false, None).unwrap_err();
        assert_eq!(e.field(), Some("source"));
    }

    #[test]
    fn source_paths_are_checked() {
        assert!(check_source("lineItems[].sku").is_ok());
        assert!(check_source("shippingAddress.postalCode").is_ok());
        for bad in ["", "a..b", "a b", "x;drop", ".a"] {
            assert!(check_source(bad).is_err(), "{bad}");
        }
    }
}
