//! A pair's mapping templates: versioned documents, one per flow. Every edit is
//! a new version (author, time); the pair pins one; restore pins an old one as
//! a new version, so history only grows.
//!
//! What the mapping editor adds on top lives beside it: [`diff`] (what changed
//! between two versions), [`lookups`] (lookup tables as JSON and CSV) and
//! [`suggestions`] (source fields for unmapped targets, and what the tenant
//! decided about them). Every change they make goes through [`save`]'s checks
//! and becomes a new version.

pub mod diff;
pub mod lookups;
pub mod suggestions;

use connect_jobs::mapping::schema::{TargetSchema, schema_for};
use connect_jobs::mapping::suggest::template_targets;
use connect_jobs::mapping::{CompiledTemplate, builtin_variants, flow_target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit;
use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::ids::{PairId, TenantId};
use crate::pairs::{Erp, FLOWS};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateInfo {
    pub flow: String,
    pub version: i64,
    pub updated_at: i64,
    pub author: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateVersion {
    pub flow: String,
    pub version: i64,
    pub author: String,
    pub created_at: i64,
    #[schema(value_type = Object)]
    pub document: Value,
}

pub async fn list(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
) -> Result<Vec<TemplateInfo>, ApiError> {
    crate::pairs::get(state, tenant_id, pair_id).await?;
    let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
        "SELECT f.flow, f.pinned_version, t.created_at, t.author FROM pair_flows f \
         JOIN templates t ON t.pair_id = f.pair_id AND t.flow = f.flow AND t.version = f.pinned_version \
         WHERE f.tenant_id = $1 AND f.pair_id = $2 ORDER BY f.flow",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_all(state.db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(flow, version, updated_at, author)| TemplateInfo {
            flow,
            version,
            updated_at,
            author,
        })
        .collect())
}

/// The pinned version of a flow's template.
pub async fn current(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<TemplateVersion, ApiError> {
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT t.version, t.document, t.author, t.created_at FROM pair_flows f \
         JOIN templates t ON t.pair_id = f.pair_id AND t.flow = f.flow AND t.version = f.pinned_version \
         WHERE f.tenant_id = $1 AND f.pair_id = $2 AND f.flow = $3",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .fetch_optional(state.db.pool())
    .await?;
    let (version, doc, author, created_at) = row.ok_or(ApiError::NotFound("template"))?;
    Ok(TemplateVersion {
        flow: flow.to_owned(),
        version,
        author,
        created_at,
        document: serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.into()))?,
    })
}

pub async fn versions(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<Vec<TemplateInfo>, ApiError> {
    crate::pairs::get(state, tenant_id, pair_id).await?;
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT version, created_at, author FROM templates WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 \
         ORDER BY version DESC",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .fetch_all(state.db.pool())
    .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("template"));
    }
    Ok(rows
        .into_iter()
        .map(|(version, updated_at, author)| TemplateInfo {
            flow: flow.to_owned(),
            version,
            updated_at,
            author,
        })
        .collect())
}

/// The template document a PUT carries: either the document itself or the
/// envelope GET answers (`{flow, version, author, created_at, document}`), so
/// what was read can be written back unchanged. An envelope for another flow
/// is refused rather than saved in the wrong place.
pub fn document_of(body: Value, flow: &str) -> Result<Value, ApiError> {
    let Value::Object(mut map) = body else {
        return Ok(body);
    };
    if map.contains_key("rules") || !map.get("document").is_some_and(Value::is_object) {
        return Ok(Value::Object(map));
    }
    match map.get("flow") {
        None => {}
        Some(Value::String(f)) if f == flow => {}
        Some(other) => {
            return Err(ApiError::invalid(
                "flow",
                format!("is {other}, but this is the `{flow}` template"),
            ));
        }
    }
    Ok(map.remove("document").unwrap_or_default())
}

/// Saves a new version after checking it ([`check_document`]); a template
/// that does not compile, or names a field the target record does not have,
/// is refused naming the rule.
pub async fn save(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    document: Value,
    action: &str,
) -> Result<TemplateInfo, ApiError> {
    let pair = editable(state, who, pair_id, flow).await?;
    check_document(&document, flow, pair.erp)?;
    let mut tx = state.db.begin_write().await?;
    let info = insert_version(&mut tx, who, pair_id, flow, &document, action, None).await?;
    tx.commit().await?;
    Ok(info)
}

/// The pair, when `who` may change its templates and `flow` is one of the flows.
async fn editable(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
) -> Result<crate::pairs::Pair, ApiError> {
    who.require_manager()?;
    let pair = crate::pairs::get(state, &who.tenant_id, pair_id).await?;
    if !FLOWS.contains(&flow) {
        return Err(ApiError::NotFound("flow"));
    }
    Ok(pair)
}

/// Writes `document` as the next version and pins it, with an audit entry
/// (`note` says what changed, when the caller knows), inside the caller's
/// transaction.
async fn insert_version(
    tx: &mut sqlx::AnyConnection,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    document: &Value,
    action: &str,
    note: Option<&str>,
) -> Result<TemplateInfo, ApiError> {
    let now = now_ms();
    let (next,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM templates WHERE pair_id = $1 AND flow = $2",
    )
    .bind(pair_id)
    .bind(flow)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO templates (pair_id, tenant_id, flow, version, document, author, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(pair_id)
    .bind(&who.tenant_id)
    .bind(flow)
    .bind(next)
    .bind(document.to_string())
    .bind(&who.email)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO pair_flows (pair_id, tenant_id, flow, pinned_version, updated_at) VALUES ($1,$2,$3,$4,$5) \
         ON CONFLICT (pair_id, flow) DO UPDATE SET pinned_version = excluded.pinned_version, updated_at = excluded.updated_at",
    )
    .bind(pair_id)
    .bind(&who.tenant_id)
    .bind(flow)
    .bind(next)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    crate::revisions::inputs_changed(&mut *tx, pair_id).await?;
    audit::record(
        &mut *tx,
        Some(&who.tenant_id),
        &who.actor(),
        action,
        Some(&format!("{pair_id}/{flow}")),
        Some(&match note {
            Some(n) => format!("version {next}: {n}"),
            None => format!("version {next}"),
        }),
    )
    .await?;
    Ok(TemplateInfo {
        flow: flow.to_owned(),
        version: next,
        updated_at: now,
        author: who.email.clone(),
    })
}

pub async fn restore(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    version: i64,
) -> Result<TemplateInfo, ApiError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT document FROM templates WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 AND version = $4",
    )
    .bind(&who.tenant_id)
    .bind(pair_id)
    .bind(flow)
    .bind(version)
    .fetch_optional(state.db.pool())
    .await?;
    let (doc,) = row.ok_or(ApiError::NotFound("template version"))?;
    let doc: Value = serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.into()))?;
    save(state, who, pair_id, flow, doc, "template.restored").await
}

/// One stored version of a flow's template, pinned or not.
pub async fn at_version(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
    version: i64,
) -> Result<Option<TemplateVersion>, ApiError> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT document, author, created_at FROM templates \
         WHERE tenant_id = $1 AND pair_id = $2 AND flow = $3 AND version = $4",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(flow)
    .bind(version)
    .fetch_optional(state.db.pool())
    .await?;
    row.map(|(doc, author, created_at)| {
        Ok(TemplateVersion {
            flow: flow.to_owned(),
            version,
            author,
            created_at,
            document: serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.into()))?,
        })
    })
    .transpose()
}

/// One stored version, or 404 naming what is missing.
pub async fn version(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
    version: i64,
) -> Result<TemplateVersion, ApiError> {
    crate::pairs::get(state, tenant_id, pair_id).await?;
    at_version(state, tenant_id, pair_id, flow, version)
        .await?
        .ok_or(ApiError::NotFound("template version"))
}

/// The record schema a template document's output is checked against: the
/// record the document names (`"record": "Invoice"`), else the flow's default
/// record for the ERP. `None` when neither is known; nothing is checked then.
pub fn target_schema(document: &Value, flow: &str, erp: Erp) -> Option<&'static TargetSchema> {
    let named = document.get("record").and_then(Value::as_str);
    named
        .and_then(|record| {
            schema_for(erp.as_str(), record).or_else(|| schema_for("clarity", record))
        })
        .or_else(|| flow_target(flow, erp.as_str()))
}

/// Compiles a template document and checks that every rule writes a field
/// the target record has. The error names the rule (`rules[3]`), its target,
/// and the closest real field when there is one.
pub fn check_document(
    document: &Value,
    flow: &str,
    erp: Erp,
) -> Result<CompiledTemplate, ApiError> {
    // Named here: the compiler would report a missing list as rule 0.
    let refuse = |field: &str, message: &str| ApiError::BadRequest {
        code: "invalid_template",
        message: message.to_owned(),
        field: Some(field.to_owned()),
    };
    match document.get("rules") {
        _ if !document.is_object() => {
            return Err(refuse(
                "body",
                "must be a template: a JSON object with `rules`",
            ));
        }
        None => return Err(refuse("rules", "is required: the template's list of rules")),
        Some(r) if !r.is_array() => return Err(refuse("rules", "must be a list of rules")),
        Some(_) => {}
    }
    let compiled = CompiledTemplate::compile(document).map_err(|e| ApiError::BadRequest {
        code: "invalid_template",
        message: format!("rule {} (`{}`): {}", e.rule, e.target, e.message),
        // Document-level errors (conversions, record) name their key, not a rule.
        field: Some(
            if e.target.starts_with("conversions") || e.target == "record" {
                e.target.clone()
            } else if let Some(key) = e.key {
                format!("rules[{}].{key}", e.rule)
            } else {
                format!("rules[{}]", e.rule)
            },
        ),
    })?;
    if let Some(schema) = target_schema(document, flow, erp) {
        for t in template_targets(document) {
            if schema.is_known_target(&t.path) {
                continue;
            }
            let hint = schema
                .closest_target(&t.path)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(ApiError::BadRequest {
                code: "invalid_template",
                message: format!(
                    "rule {} (`{}`): {} {} has no field `{}`{hint}",
                    t.rule,
                    t.path,
                    system_label(&schema.erp),
                    schema.record,
                    t.path
                ),
                field: Some(format!("rules[{}].target", t.rule)),
            });
        }
    }
    Ok(compiled)
}

fn system_label(system: &str) -> &str {
    match system {
        "intacct" => "Sage Intacct",
        "sagepro" => "Sage Pro",
        "clarity" => "Clarity",
        other => other,
    }
}

/// What [`check_rule`] found: `ok`, or the first problem with where it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleCheck {
    pub ok: bool,
    /// `target`, `source`, `expr` … or empty for the rule as a whole.
    pub field: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCheckRequest {
    /// One rule as it would stand in `rules` (`{"target": …, "expr": …}`).
    #[schema(value_type = Object)]
    pub rule: Value,
}

/// Compiles one rule against the pinned template's settings and lookup
/// tables, and checks its target, without saving anything: the editor's
/// inline check while a rule is typed.
pub async fn check_rule(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
    rule: Value,
) -> Result<RuleCheck, ApiError> {
    let pair = crate::pairs::get(state, tenant_id, pair_id).await?;
    let current = current(state, tenant_id, pair_id, flow).await?;
    if !rule.is_object() {
        return Err(ApiError::invalid(
            "rule",
            "must be a JSON object (one rule)",
        ));
    }
    let mut probe = current.document;
    probe["rules"] = Value::Array(vec![rule]);
    Ok(match check_document(&probe, flow, pair.erp) {
        Ok(_) => RuleCheck {
            ok: true,
            field: None,
            message: None,
        },
        Err(e) => {
            // The probe holds this one rule, so "rule 0 (`target`): " says
            // nothing the editor's row does not.
            let message = e.public_message();
            let message = match message.strip_prefix("rule 0 (") {
                Some(rest) => rest.split_once("): ").map_or(rest, |(_, why)| why),
                None => message.as_str(),
            };
            RuleCheck {
                ok: false,
                field: e
                    .field()
                    .map(|f| f.trim_start_matches("rules[0]").trim_start_matches('.'))
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
                message: Some(message.to_owned()),
            }
        }
    })
}

/// One pre-built template a flow can start from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BuiltinInfo {
    pub variant: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

pub fn builtins(flow: &str, erp: Erp) -> Vec<BuiltinInfo> {
    builtin_variants(flow, erp.as_str())
        .iter()
        .map(|b| BuiltinInfo {
            variant: b.variant,
            title: b.title,
            description: b.description,
        })
        .collect()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuiltinRequest {
    /// `default`, `invoice` … as listed by `GET …/builtin`.
    pub variant: String,
}

/// Saves a pre-built variant of the flow's template as the pair's next
/// version: "start from a pre-built template".
pub async fn start_from_builtin(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    variant: &str,
) -> Result<TemplateInfo, ApiError> {
    let pair = editable(state, who, pair_id, flow).await?;
    let variants = builtin_variants(flow, pair.erp.as_str());
    let chosen = variants
        .iter()
        .find(|b| b.variant == variant)
        .ok_or_else(|| {
            let names: Vec<&str> = variants.iter().map(|b| b.variant).collect();
            ApiError::invalid(
                "variant",
                if names.is_empty() {
                    format!(
                        "there is no pre-built {flow} template for {}",
                        pair.erp.label()
                    )
                } else {
                    format!(
                        "'{variant}' is not a pre-built {flow} template; choose one of {}",
                        names.join(", ")
                    )
                },
            )
        })?;
    let document: Value =
        serde_json::from_str(chosen.document).map_err(|e| ApiError::Internal(e.into()))?;
    save(
        state,
        who,
        pair_id,
        flow,
        document,
        &format!("template.builtin.{variant}"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pre_built_variant_passes_the_checks_a_saved_template_must_pass() {
        for flow in FLOWS {
            for erp in [Erp::Intacct, Erp::Sagepro] {
                for b in builtin_variants(flow, erp.as_str()) {
                    let doc: Value = serde_json::from_str(b.document).expect("JSON");
                    if let Err(e) = check_document(&doc, flow, erp) {
                        panic!(
                            "{flow}/{}/{}: {e} ({:?})",
                            erp.as_str(),
                            b.variant,
                            e.field()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_rule_writing_an_unknown_field_is_refused_naming_the_rule_and_a_near_field() {
        let doc = serde_json::json!({"rules": [
            {"target": "customerid", "source": "customerId"},
            {"target": "sotransitems", "each": {"source": "lineItems", "rules": [
                {"target": "itemidd", "source": "sku"}
            ]}}
        ]});
        let e = check_document(&doc, "orders", Erp::Intacct).unwrap_err();
        assert_eq!(e.field(), Some("rules[1].target"));
        assert!(
            e.to_string()
                .contains("did you mean `sotransitems[].itemid`"),
            "{e}"
        );
    }
}
