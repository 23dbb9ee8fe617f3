//! The whole mapping of one record, as the worker and the preview run it:
//! conversions → rules → schema validation → anomaly flags.
//!
//! [`map_record`] never stops at the first problem: every stage runs and
//! every [`ValidationIssue`] is collected, so a dead letter or a preview
//! shows all that needs fixing at once. Issues block the write; [`Flag`]s
//! (a fuzzy SKU match, an anomaly against the tenant's history) do not — they
//! are recorded on the run.
//!
//! The conversions the first stages apply (addresses, tax, currency, SKUs)
//! are described, and applied, in [`super::conversions`].

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::anomaly::{self, History};
pub use super::conversions::Conversions;
use super::conversions::{Overlay, Stage};
use super::currency::RateTable;
use super::paths::ElementPatches;
use super::schema::TargetSchema;
use super::sku::{CatalogItem, SkuResolver};
use super::validate::{self, ReferenceCheck, Rule, ValidationIssue};
use super::{CompiledTemplate, MappingError};

/// What a mapping may consult besides the template: the tenant's rates,
/// the ERP catalog and master data, and the tenant's order history.
#[derive(Clone, Copy)]
pub struct MappingInputs<'a> {
    pub rates: &'a RateTable,
    /// The ERP item catalog, as built by [`catalog_resolver`]; `None` when it
    /// could not be loaded (then only the template's SKU table applies).
    pub catalog: Option<&'a SkuResolver>,
    pub references: &'a dyn ReferenceCheck,
    /// When given, the record is checked for anomalies against it.
    pub history: Option<&'a History>,
}

/// The result of mapping one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mapped {
    /// What would be sent; `None` when the rules could not produce it.
    pub output: Option<Value>,
    /// Everything that blocks the write, in stage order.
    pub issues: Vec<ValidationIssue>,
    /// What is recorded on the run but does not block.
    pub flags: Vec<Flag>,
    /// The source after address and tax normalization, in its own currency:
    /// what anomaly checks read and what the tenant's history should
    /// remember. `None` when no history was given or the template has no
    /// such conversion (then it is the source itself).
    #[serde(skip)]
    pub normalized: Option<Value>,
}

impl Mapped {
    /// True when the record may be sent.
    pub fn is_ok(&self) -> bool {
        self.issues.is_empty() && self.output.is_some()
    }
}

/// Something worth a look that does not stop the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// `fuzzy_sku`, or `anomaly:<kind>` (`anomaly:totals_mismatch` …).
    pub kind: String,
    /// The source field it is about (`lineItems[1].sku`).
    pub field: String,
    pub message: String,
}

/// A resolver over an ERP catalog for [`MappingInputs::catalog`]: built once
/// per catalog, shared by every template (each applies its own table and
/// threshold).
pub fn catalog_resolver(items: Vec<CatalogItem>) -> SkuResolver {
    // A threshold above 1 makes the resolver return candidates, never a
    // match: the template's threshold decides.
    SkuResolver::new(HashMap::new(), items, f64::INFINITY)
}

/// Map one source record: conversions, rules, validation against `schema`
/// (when given) and, with a history, anomaly flags.
///
/// Runs where tenant programs may run ([`crate::mapping::on_roomy_stack`]):
/// callers mapping many records save a thread each by entering it once.
pub fn map_record(
    template: &CompiledTemplate,
    schema: Option<&TargetSchema>,
    record_id: &str,
    source: &Value,
    inputs: &MappingInputs<'_>,
) -> Mapped {
    super::engine::on_roomy_stack(|| map_record_here(template, schema, record_id, source, inputs))
}

fn map_record_here(
    template: &CompiledTemplate,
    schema: Option<&TargetSchema>,
    record_id: &str,
    source: &Value,
    inputs: &MappingInputs<'_>,
) -> Mapped {
    let mut issues = Vec::new();
    let mut flags = Vec::new();
    let conversions = template.conversions();
    let mut normalized = None;
    let mut unresolved = HashSet::new();
    let output = if conversions.is_empty() {
        template.apply(source)
    } else if let Some(base) = source.as_object() {
        let mut o = Overlay {
            base,
            record: Value::Object(Map::new()),
            patches: ElementPatches::default(),
        };
        let mut run = Stage {
            record_id,
            issues: &mut issues,
            flags: &mut flags,
            unresolved: &mut unresolved,
        };
        conversions.normalize_over(&mut o, &mut run);
        // Only anomaly checks and the history read it.
        if inputs.history.is_some() && conversions.normalizes() {
            normalized = Some(o.merged());
        }
        conversions.convert_over(&mut o, inputs, &mut run);
        if template.reads_whole_record() {
            template.apply(&o.merged())
        } else {
            template.apply_over(source, o.over(), &o.patches)
        }
    } else {
        // Not an object: no conversion finds anything to change, but they
        // still report what is missing.
        let mut record = source.clone();
        let mut run = Stage {
            record_id,
            issues: &mut issues,
            flags: &mut flags,
            unresolved: &mut unresolved,
        };
        conversions.normalize(&mut record, &mut run);
        if inputs.history.is_some() && conversions.normalizes() {
            normalized = Some(record.clone());
        }
        conversions.convert(&mut record, inputs, &mut run);
        template.apply(&record)
    };
    let output = match output {
        Ok(output) => Some(output),
        Err(e) => {
            issues.push(mapping_issue(record_id, e));
            None
        }
    };
    if let (Some(schema), Some(output)) = (schema, &output) {
        // An unknown SKU is reported once, by the SKU conversion with its
        // candidates, not again as an unknown item in the output.
        issues.extend(
            validate::validate(schema, output, inputs.references, record_id)
                .into_iter()
                .filter(|i| {
                    !(i.rule == Rule::Reference
                        && i.value
                            .as_ref()
                            .and_then(Value::as_str)
                            .is_some_and(|v| unresolved.contains(v)))
                }),
        );
    }
    if let Some(history) = inputs.history {
        let view = normalized.as_ref().unwrap_or(source);
        flags.extend(
            anomaly::check_order(view, history)
                .into_iter()
                .map(|a| Flag {
                    kind: format!("anomaly:{}", a.kind.as_str()),
                    field: a.field,
                    message: a.message,
                }),
        );
    }
    Mapped {
        output,
        issues,
        flags,
        normalized,
    }
}

/// A rule that could not produce its target, as an issue: a missing source
/// is `required`, anything else (a transform, an expression) `type`.
fn mapping_issue(record_id: &str, e: MappingError) -> ValidationIssue {
    let missing = e.message.starts_with("required value is missing");
    ValidationIssue {
        record: record_id.to_owned(),
        suggestion: Some(if missing {
            "give the source record this value, or add a `default` (or `optional: true`) to the rule"
                .to_owned()
        } else {
            "fix the source value or the rule's transform".to_owned()
        }),
        field: e.target,
        value: e.value,
        rule: if missing { Rule::Required } else { Rule::Type },
        message: e.message,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::conversions::testing::{catalog, compile, rates, run};
    use crate::mapping::schema::{RefKind, schema_for};
    use crate::mapping::validate::InMemoryReferences;

    #[test]
    fn rule_failures_and_schema_violations_are_issues_and_stages_all_run() {
        let t = compile(json!({
            "settings": {"base_currency": "USD"},
            "conversions": {"sku": {"table": "skus"}},
            "lookups": {"skus": {}},
            "rules": [{"target": "CustomerNo", "source": "customerId"}, {"target": "LineItems", "each": {"source": "lineItems", "rules": [
                {"target": "ItemCode", "source": "sku"}, {"target": "Quantity", "source": "quantity"}]}}]
        }))
        .unwrap();
        let schema = schema_for("sagepro", "SalesOrder").unwrap();
        let refs = InMemoryReferences::new();
        let rates = RateTable::default();
        let cat = catalog();
        let inputs = MappingInputs {
            rates: &rates,
            catalog: Some(&cat),
            references: &refs,
            history: None,
        };
        // The SKU stage and the rules both fail: both are reported.
        let source = json!({"lineItems": [{"sku": "ZZZZZZ-9", "quantity": 1}]});
        let m = map_record(&t, Some(schema), "CO-9", &source, &inputs);
        assert!(m.output.is_none());
        let fields: Vec<&str> = m.issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["lineItems[0].sku", "CustomerNo"]);
        assert_eq!(m.issues[1].rule, Rule::Required);
        // The rules work, the schema does not: OrderDate is required.
        let source =
            json!({"customerId": "C1", "lineItems": [{"sku": "GADGET-100", "quantity": 1}]});
        let m = map_record(&t, Some(schema), "CO-9", &source, &inputs);
        assert!(m.output.is_some());
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        assert_eq!(
            (m.issues[0].field.as_str(), m.issues[0].rule),
            ("OrderDate", Rule::Required)
        );
        assert!(!m.is_ok());
    }

    #[test]
    fn an_unknown_sku_is_one_issue_not_also_an_unknown_item_in_the_output() {
        let t = compile(json!({
            "conversions": {"sku": {}},
            "rules": [{"target": "LineItems", "each": {"source": "lineItems", "rules": [
                {"target": "ItemCode", "source": "sku"}, {"target": "Quantity", "source": "quantity"}]}}]
        }))
        .unwrap();
        let schema = schema_for("sagepro", "SalesOrder").unwrap();
        let refs = InMemoryReferences::new().with(RefKind::Item, ["GADGET-100"]);
        let (rates, cat) = (RateTable::default(), catalog());
        let inputs = MappingInputs {
            rates: &rates,
            catalog: Some(&cat),
            references: &refs,
            history: None,
        };
        let source = json!({"lineItems": [{"sku": "QQQQ", "quantity": 1}]});
        let m = map_record(&t, Some(schema), "CO-3", &source, &inputs);
        let item_issues: Vec<&str> = m
            .issues
            .iter()
            .filter(|i| i.value == Some(json!("QQQQ")))
            .map(|i| i.field.as_str())
            .collect();
        assert_eq!(item_issues, ["lineItems[0].sku"], "{:?}", m.issues);
        // Without the SKU stage, the schema still catches the unknown item.
        let plain = compile(json!({"rules": [{"target": "LineItems", "each": {"source": "lineItems", "rules": [
            {"target": "ItemCode", "source": "sku"}, {"target": "Quantity", "source": "quantity"}]}}]}))
        .unwrap();
        let m = map_record(&plain, Some(schema), "CO-3", &source, &inputs);
        assert!(
            m.issues
                .iter()
                .any(|i| i.field == "LineItems[0].ItemCode" && i.rule == Rule::Reference)
        );
    }

    #[test]
    fn a_template_without_conversions_maps_the_source_as_it_is() {
        let t = compile(json!({"rules": [{"target": "a", "source": "x"}]})).unwrap();
        let m = run(&t, &json!({"x": "  keep "}), None);
        assert!(m.is_ok());
        assert_eq!(m.output, Some(json!({"a": "  keep "})));
        assert!(m.normalized.is_none());
    }

    #[test]
    fn with_a_history_anomalies_are_flags_not_issues() {
        let t = compile(json!({"rules": [{"target": "a", "source": "orderId"}]})).unwrap();
        let refs = InMemoryReferences::new();
        let rates = RateTable::default();
        let history = History::from_orders([]);
        let source = json!({
            "orderId": "CO-1", "currency": "USD", "subtotalAmount": "10.00", "discountAmount": "0.00",
            "shippingAmount": "0.00", "taxAmount": "0.00", "totalAmount": "12.00",
            "lineItems": [{"quantity": 1, "unitPrice": "10.00"}]
        });
        let m = map_record(
            &t,
            None,
            "CO-1",
            &source,
            &MappingInputs {
                rates: &rates,
                catalog: None,
                references: &refs,
                history: Some(&history),
            },
        );
        assert!(m.is_ok());
        assert!(
            m.flags.iter().any(|f| f.kind == "anomaly:totals_mismatch"),
            "{:?}",
            m.flags
        );
    }

    /// A resolved SKU is written as an element patch, not by copying the
    /// lines: every way a rule can read a line sees the new SKU.
    #[test]
    fn a_resolved_sku_is_seen_by_paths_expressions_and_distributions() {
        let order = json!({
            "orderId": "CO-1", "currency": "USD", "discountAmount": "1.00",
            "lineItems": [
                {"sku": "WIDGET-RED-L", "quantity": 1, "unitPrice": "10.00"},
                {"sku": "CL-77", "quantity": 1, "unitPrice": "30.00"}
            ]
        });
        let conversions = json!({"sku": {"path": "lineItems[].sku", "table": "skus"}});
        let by_path = compile(json!({
            "lookups": {"skus": {"CL-77": "GADGET-100"}},
            "conversions": conversions,
            "rules": [{"target": "lines", "each": {"source": "lineItems",
                "rules": [{"target": "item", "source": "sku"}],
                "distribute": [{"target": "discount", "total": "discountAmount", "weight": ["unitPrice"]}]}}]
        }))
        .unwrap();
        let m = run(&by_path, &order, Some(&catalog()));
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        assert_eq!(
            m.output.unwrap()["lines"],
            json!([{"item": "WIDGET-RED-L", "discount": "0.25"}, {"item": "GADGET-100", "discount": "0.75"}])
        );
        // An expression sees the element, and `$record` the whole record,
        // with the patch merged in.
        let by_expr = compile(json!({
            "lookups": {"skus": {"CL-77": "GADGET-100"}},
            "conversions": conversions,
            "rules": [
                {"target": "lines", "each": {"source": "lineItems", "rules": [{"target": "item", "expr": ".sku"}]}},
                {"target": "skus", "expr": "[.lineItems[].sku]"}
            ]
        }))
        .unwrap();
        let out = run(&by_expr, &order, Some(&catalog())).output.unwrap();
        assert_eq!(out["lines"][1]["item"], json!("GADGET-100"));
        assert_eq!(out["skus"], json!(["WIDGET-RED-L", "GADGET-100"]));
        // A `.` path in an `each` reads the patched element whole.
        let whole_line = compile(json!({
            "lookups": {"skus": {"CL-77": "GADGET-100"}},
            "conversions": conversions,
            "rules": [{"target": "lines", "each": {"source": "lineItems", "rules": [{"target": "line", "source": "."}]}}]
        }))
        .unwrap();
        let out = run(&whole_line, &order, Some(&catalog())).output.unwrap();
        assert_eq!(
            out["lines"][1]["line"],
            json!({"sku": "GADGET-100", "quantity": 1, "unitPrice": "30.00"})
        );
    }

    /// The overlay copies only what conversions rewrite; the result must be
    /// what converting a whole copy of the record gives.
    #[test]
    fn the_overlay_maps_like_a_whole_copy_of_the_record() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/orders");
        let mut orders: Vec<Value> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".clarity.json"))
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect();
        assert!(orders.len() >= 4);
        let mut variants = Vec::new();
        for o in &orders {
            let mut messy = o.clone();
            messy["shippingAddress"]["country"] = json!("usa");
            messy["shippingAddress"]["city"] = json!("  DENVER ");
            messy["billingAddress"]["postalCode"] = json!("802011234");
            messy["currency"] = json!("EUR");
            messy["lineItems"][0]["sku"] = json!("gadget 100");
            variants.push(messy);
            let mut odd = o.clone();
            odd["currency"] = json!("usd");
            odd["shippingAddress"]["region"] = json!("Atlantis");
            odd["lineItems"][0]["sku"] = json!(12345);
            variants.push(odd);
        }
        orders.extend(variants);
        let cat = catalog();
        for erp in ["intacct", "sagepro"] {
            for tax in ["exclusive", "inclusive"] {
                let mut doc: Value =
                    serde_json::from_str(crate::mapping::builtin_template("orders", erp).unwrap())
                        .unwrap();
                doc["settings"]["tax_prices"] = json!(tax);
                let t = compile(doc).unwrap();
                for order in &orders {
                    let got = run(&t, order, Some(&cat));
                    let (mut issues, mut flags, mut unresolved) =
                        (Vec::new(), Vec::new(), HashSet::new());
                    let mut whole = order.clone();
                    let mut stage = Stage {
                        record_id: "CO-1",
                        issues: &mut issues,
                        flags: &mut flags,
                        unresolved: &mut unresolved,
                    };
                    let refs = InMemoryReferences::new();
                    let rates = rates();
                    let inputs = MappingInputs {
                        rates: &rates,
                        catalog: Some(&cat),
                        references: &refs,
                        history: None,
                    };
                    t.conversions().normalize(&mut whole, &mut stage);
                    t.conversions().convert(&mut whole, &inputs, &mut stage);
                    let want = t.apply(&whole);
                    let id = &order["orderId"];
                    assert_eq!(got.output, want.as_ref().ok().cloned(), "{erp} {tax} {id}");
                    assert_eq!(got.flags, flags, "{erp} {tax} {id}");
                    let mut want_issues = issues;
                    if let Err(e) = want {
                        want_issues.push(mapping_issue("CO-1", e));
                    }
                    assert_eq!(got.issues, want_issues, "{erp} {tax} {id}");
                }
            }
        }
    }
}
