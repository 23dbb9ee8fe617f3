//! The `sku` conversion: each SKU at `path` becomes the ERP item id: first
//! the template's lookup table `table` (source SKU → ERP id, exact, then
//! ignoring case and spaces), then the ERP catalog item with the same SKU up
//! to case and spaces, then the closest catalog item by SKU and the line's
//! `name` ([`crate::mapping::sku`]). A fuzzy match scoring at least
//! `threshold` (default 0.85) is used and flagged (`fuzzy_sku`); below it the
//! line is an issue (rule `reference`) whose suggestion lists the three
//! closest items. Without a catalog (none could be loaded) only the table
//! applies.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::field_path::FieldPath;
use super::overlay::{Overlay, Stage, View};
use super::{Named, conv_error, parse_doc, path_of};
use crate::mapping::TemplateError;
use crate::mapping::pipeline::Flag;
use crate::mapping::sku::{Resolution, SkuResolver};
use crate::mapping::validate::Rule;

#[derive(Debug, Clone)]
pub(super) struct SkuConv {
    path: FieldPath,
    name: Option<FieldPath>,
    pub(super) table_name: Option<String>,
    exact: HashMap<String, String>,
    normalized: HashMap<String, String>,
    threshold: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuDoc {
    path: Option<String>,
    name: Option<String>,
    table: Option<String>,
    threshold: Option<f64>,
}

/// The form two SKUs must share to be the same: no whitespace, one case.
fn sku_key(sku: &str) -> String {
    sku.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

impl SkuConv {
    /// Check and compile the template's `conversions.sku`.
    pub(super) fn compile(v: &Value, cx: &Named<'_>) -> Result<Self, TemplateError> {
        let d: SkuDoc = parse_doc("sku", v)?;
        let threshold = d.threshold.unwrap_or(0.85);
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(conv_error(
                "sku.threshold",
                format!("{threshold} is not a score in (0, 1]"),
            ));
        }
        let path = path_of("sku.path", d.path.as_deref(), "lineItems[].sku")?;
        let name = match d.name.as_deref() {
            Some(n) => Some(path_of("sku.name", Some(n), "")?),
            None if d.path.is_none() => Some(path_of("sku.name", None, "lineItems[].name")?),
            None => None,
        };
        if let Some(n) = &name
            && n.parent_each() != path.parent_each()
        {
            return Err(conv_error(
                "sku.name",
                format!(
                    "`{}` must be beside `{}` (the same list)",
                    n.text, path.text
                ),
            ));
        }
        let mut exact = HashMap::new();
        if let Some(t) = &d.table {
            for (k, v) in cx.table("sku.table", t)? {
                let Some(id) = v.as_str() else {
                    return Err(conv_error(
                        "sku.table",
                        format!("lookup table `{t}`: `{k}` must map to an ERP item id (text)"),
                    ));
                };
                exact.insert(k.clone(), id.to_owned());
            }
        }
        // Sorted so that of two keys that normalize alike the same one
        // wins every time.
        let mut keys: Vec<(&String, &String)> = exact.iter().collect();
        keys.sort();
        let mut normalized = HashMap::new();
        for (k, v) in keys {
            normalized.entry(sku_key(k)).or_insert_with(|| v.clone());
        }
        Ok(Self {
            path,
            name,
            table_name: d.table.clone(),
            exact,
            normalized,
            threshold,
        })
    }

    /// Resolve on the overlay; only what changes is written.
    pub(super) fn apply_over(
        &self,
        o: &mut Overlay<'_>,
        catalog: Option<&SkuResolver>,
        run: &mut Stage<'_>,
    ) {
        let changes = self.changes(o.view(), catalog, run);
        if !changes.is_empty() {
            self.write_over(o, changes);
        }
    }
}

impl SkuConv {
    fn table_hint(&self) -> String {
        match &self.table_name {
            Some(t) => format!("add it to the template's `{t}` lookup table"),
            None => "add a `table` to the template's sku conversion and map it there".to_owned(),
        }
    }

    pub(super) fn apply(
        &self,
        record: &mut Value,
        catalog: Option<&SkuResolver>,
        run: &mut Stage<'_>,
    ) {
        let empty = Map::new();
        let changes = match record.as_object() {
            Some(base) => self.changes(View { over: &empty, base }, catalog, run),
            None => return,
        };
        self.write(record, changes);
    }

    /// Resolved on a read-only pass (names and SKUs borrowed, nothing copied
    /// for a SKU that needs no change): the element indexes and new value
    /// of every SKU that changes, in visiting order.
    fn changes(
        &self,
        view: View<'_>,
        catalog: Option<&SkuResolver>,
        run: &mut Stage<'_>,
    ) -> Vec<(Vec<usize>, String)> {
        let mut changes = Vec::new();
        let mut names: Option<Vec<(Vec<usize>, &str)>> = None;
        self.path.visit_view(view, &mut |at, v| {
            let sku: Cow<'_, str> = match v {
                Value::String(s) => Cow::Borrowed(s),
                Value::Number(n) => Cow::Owned(n.to_string()),
                _ => return,
            };
            if let Some(change) = self.change_for(&sku, at, view, &mut names, catalog, run) {
                changes.push((at.to_vec(), change));
            }
        });
        changes
    }

    /// Written on a second pass that visits the same values in the same
    /// order.
    fn write(&self, record: &mut Value, changes: Vec<(Vec<usize>, String)>) {
        let mut next = changes.into_iter().peekable();
        self.path.visit_mut(record, &mut |at, v| {
            if next.peek().is_some_and(|(to, _)| to == at) {
                let (_, erp) = next.next().expect("peeked");
                *v = Value::String(erp);
            }
        });
    }

    /// [`Self::write`] on the overlay: for the usual `lines[].sku` into
    /// element patches, so that the lines are not copied.
    fn write_over(&self, o: &mut Overlay<'_>, changes: Vec<(Vec<usize>, String)>) {
        if let [(array, true), (key, false)] = self.path.steps.as_slice()
            && !o.over().contains_key(array)
        {
            for (at, erp) in changes {
                o.patches.set(array, at[0], key, Value::String(erp));
            }
            return;
        }
        o.ensure([&self.path]);
        self.write(&mut o.record, changes);
    }

    /// The new value of one SKU, `None` when it stays as it is.
    fn change_for<'r>(
        &self,
        sku: &str,
        at: &[usize],
        view: View<'r>,
        names: &mut Option<Vec<(Vec<usize>, &'r str)>>,
        catalog: Option<&SkuResolver>,
        run: &mut Stage<'_>,
    ) -> Option<String> {
        let from_table = self.exact.get(sku).or_else(|| {
            // Normalizing allocates; an empty table cannot match anyway.
            (!self.normalized.is_empty())
                .then(|| self.normalized.get(&sku_key(sku)))
                .flatten()
        });
        if let Some(hit) = from_table {
            return Some(hit.clone());
        }
        let catalog = catalog?;
        // The common case, an item's own SKU, needs neither the names nor
        // a normalized key.
        if catalog.exact_hit(sku) == Some(sku) {
            return None;
        }
        let names = names.get_or_insert_with(|| {
            let mut found = Vec::new();
            if let Some(p) = &self.name {
                p.visit_view(view, &mut |at, v| {
                    if let Some(s) = v.as_str() {
                        found.push((at.to_vec(), s));
                    }
                });
            }
            found
        });
        let name = names.iter().find(|(a, _)| a == at).map(|(_, n)| *n);
        self.resolve(catalog, sku, name, at, run)
    }

    /// The ERP SKU for a source SKU that is not in the table: `None` when
    /// the value stays as it is (the same text, or refused with an issue).
    fn resolve(
        &self,
        catalog: &SkuResolver,
        sku: &str,
        name: Option<&str>,
        at: &[usize],
        run: &mut Stage<'_>,
    ) -> Option<String> {
        match catalog.resolve(sku, name) {
            Resolution::Exact { sku: erp } => (erp != sku).then_some(erp),
            Resolution::Fuzzy {
                sku: erp, score, ..
            } => self.fuzzy_or_issue(sku, erp, score, at, run),
            Resolution::Unresolved(u) => match u.candidates.first() {
                Some(best) if best.score >= self.threshold => {
                    let (erp, score) = (best.sku.clone(), best.score);
                    let name = &best.name;
                    run.flags.push(Flag {
                        kind: "fuzzy_sku".into(),
                        field: self.path.render(at),
                        message: format!(
                            "SKU `{sku}` is not in the ERP catalog; used `{erp}` ({name}), the closest item, score {score:.2} (threshold {:.2})",
                            self.threshold
                        ),
                    });
                    Some(erp)
                }
                _ => {
                    let table_hint = self.table_hint();
                    let suggestion = if u.candidates.is_empty() {
                        format!(
                            "no similar item in the catalog; {table_hint}, or create the item in the ERP"
                        )
                    } else {
                        let mut s = String::from("did you mean ");
                        for (i, c) in u.candidates.iter().enumerate() {
                            if i > 0 {
                                s.push_str(", ");
                            }
                            let _ = write!(s, "`{}` ({}, {:.2})", c.sku, c.name, c.score);
                        }
                        let _ = write!(s, "? Otherwise {table_hint}");
                        s
                    };
                    run.unresolved.insert(sku.to_owned());
                    run.issue(
                        self.path.render(at),
                        Some(Value::String(sku.to_owned())),
                        Rule::Reference,
                        format!(
                            "SKU `{sku}` is not in the ERP catalog and no item scores at least {:.2}",
                            self.threshold
                        ),
                        Some(suggestion),
                    );
                    None
                }
            },
        }
    }

    /// A resolver given with its own threshold may answer `Fuzzy`; the
    /// template's threshold still decides.
    fn fuzzy_or_issue(
        &self,
        sku: &str,
        erp: String,
        score: f64,
        at: &[usize],
        run: &mut Stage<'_>,
    ) -> Option<String> {
        if score >= self.threshold {
            run.flags.push(Flag {
                kind: "fuzzy_sku".into(),
                field: self.path.render(at),
                message: format!(
                    "SKU `{sku}` is not in the ERP catalog; used `{erp}`, the closest item, score {score:.2} (threshold {:.2})",
                    self.threshold
                ),
            });
            Some(erp)
        } else {
            run.unresolved.insert(sku.to_owned());
            run.issue(
                self.path.render(at),
                Some(Value::String(sku.to_owned())),
                Rule::Reference,
                format!(
                    "SKU `{sku}` is not in the ERP catalog and no item scores at least {:.2}",
                    self.threshold
                ),
                Some(format!(
                    "did you mean `{erp}` ({score:.2})? Otherwise {}",
                    self.table_hint()
                )),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{catalog, run, with_conversions};
    use crate::mapping::CompiledTemplate;
    use crate::mapping::validate::Rule;

    fn sku_template(threshold: f64) -> CompiledTemplate {
        with_conversions(
            json!({"sku": {"path": "lineItems[].sku", "name": "lineItems[].name", "table": "skus", "threshold": threshold}}),
        )
    }

    #[test]
    fn skus_resolve_by_table_then_catalog_then_fuzzy_with_a_flag() {
        let source = json!({"lineItems": [
            {"sku": "cl-77", "name": "x"},
            {"sku": " widget-red-l ", "name": "x"},
            {"sku": "WIDGT-BLUE-L", "name": "Widget blue large"}
        ]});
        let m = run(&sku_template(0.85), &source, Some(&catalog()));
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        let lines = &m.output.as_ref().unwrap()["copy"]["lineItems"];
        assert_eq!(lines[0]["sku"], json!("GADGET-100"));
        assert_eq!(lines[1]["sku"], json!("WIDGET-RED-L"));
        assert_eq!(lines[2]["sku"], json!("WIDGET-BLUE-L"));
        assert_eq!(m.flags.len(), 1);
        assert_eq!(m.flags[0].kind, "fuzzy_sku");
        assert_eq!(m.flags[0].field, "lineItems[2].sku");
        assert!(
            m.flags[0].message.contains("`WIDGT-BLUE-L`"),
            "{}",
            m.flags[0].message
        );
    }

    #[test]
    fn below_the_threshold_a_sku_is_an_issue_with_the_three_closest_items() {
        let source = json!({"lineItems": [{"sku": "GADGET-100"}, {"sku": "WIDGET-BLU", "name": "Blue widget"}]});
        let m = run(&sku_template(0.99), &source, Some(&catalog()));
        assert!(m.flags.is_empty());
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        let i = &m.issues[0];
        assert_eq!(i.field, "lineItems[1].sku");
        assert_eq!(i.value, Some(json!("WIDGET-BLU")));
        assert_eq!(i.rule, Rule::Reference);
        let s = i.suggestion.as_deref().unwrap();
        assert_eq!(s.matches("`WIDGET-").count(), 3, "{s}");
        assert!(s.contains("`skus` lookup table"), "{s}");
        // Without a catalog only the table applies; the rest goes through as is.
        let m = run(&sku_template(0.99), &source, None);
        assert!(m.issues.is_empty() && m.flags.is_empty());
        assert_eq!(
            m.output.unwrap()["copy"]["lineItems"][1]["sku"],
            json!("WIDGET-BLU")
        );
    }
}
