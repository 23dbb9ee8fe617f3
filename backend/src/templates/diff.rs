//! What changed between two versions of a template, in the template's own
//! terms: rules added, removed or changed (matched by their target, not by
//! their position, so inserting a rule does not make every later one look
//! changed), and settings, lookup entries, conversions and the other
//! top-level keys by path.
//!
//! A text diff of the JSON would show the same facts, but a reviewer asks
//! "which fields map differently now?", and only a diff keyed by target
//! answers that directly.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The parts of a template document diffed key by key.
const SECTIONS: [&str; 3] = ["settings", "lookups", "conversions"];

#[derive(Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct TemplateDiff {
    pub from: i64,
    pub to: i64,
    /// True when the two documents are the same.
    pub identical: bool,
    pub rules: RuleChanges,
    pub settings: Vec<ValueChange>,
    /// Per table entry: `skus.SKU-1001`; a table added or removed whole is one change.
    pub lookups: Vec<ValueChange>,
    pub conversions: Vec<ValueChange>,
    /// Other top-level keys (`record`, `description` …).
    pub other: Vec<ValueChange>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema, PartialEq)]
pub struct RuleChanges {
    pub added: Vec<RuleChange>,
    pub removed: Vec<RuleChange>,
    pub changed: Vec<RuleChange>,
    /// Targets whose rule is unchanged but now stands at another position.
    pub moved: Vec<RuleChange>,
}

#[derive(Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct RuleChange {
    pub target: String,
    /// Position in `rules` before and after (0-based).
    pub index_before: Option<usize>,
    pub index_after: Option<usize>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    /// For a changed rule: the keys that differ (`source`, `transform` …).
    pub keys: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct ValueChange {
    /// Dot path inside the section: `base_currency`, `skus.SKU-1001`.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// The changes from `a` (version `from`) to `b` (version `to`).
pub fn diff(from: i64, a: &Value, to: i64, b: &Value) -> TemplateDiff {
    let empty = Map::new();
    let object = |v: &Value, key: &str| v.get(key).and_then(Value::as_object).cloned();
    let section = |key: &str| {
        let mut out = Vec::new();
        object_changes(
            "",
            object(a, key).as_ref().unwrap_or(&empty),
            object(b, key).as_ref().unwrap_or(&empty),
            // Lookup tables are compared entry by entry, one level down;
            // deeper than that a value is shown whole.
            if key == "lookups" { 2 } else { 1 },
            &mut out,
        );
        out
    };
    let rest = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| *k != "rules" && !SECTIONS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut other = Vec::new();
    object_changes("", &rest(a), &rest(b), 0, &mut other);
    TemplateDiff {
        from,
        to,
        identical: a == b,
        rules: rule_changes(a, b),
        settings: section("settings"),
        lookups: section("lookups"),
        conversions: section("conversions"),
        other,
    }
}

/// Rules keyed by target; a target written by several rules (each under its
/// own `when`) is keyed by target and occurrence.
fn keyed_rules(doc: &Value) -> BTreeMap<(String, usize), (usize, &Value)> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (index, rule) in doc
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let target = rule
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let n = seen.entry(target.clone()).or_insert(0);
        out.insert((target, *n), (index, rule));
        *n += 1;
    }
    out
}

fn rule_changes(a: &Value, b: &Value) -> RuleChanges {
    let before = keyed_rules(a);
    let after = keyed_rules(b);
    let mut changes = RuleChanges::default();
    for (key, (i, rule)) in &before {
        match after.get(key) {
            None => changes.removed.push(RuleChange {
                target: key.0.clone(),
                index_before: Some(*i),
                index_after: None,
                before: Some((*rule).clone()),
                after: None,
                keys: Vec::new(),
            }),
            Some((j, new)) if new != rule => changes.changed.push(RuleChange {
                target: key.0.clone(),
                index_before: Some(*i),
                index_after: Some(*j),
                before: Some((*rule).clone()),
                after: Some((*new).clone()),
                keys: differing_keys(rule, new),
            }),
            Some((j, new)) if i != j && relative_order_changed(&before, &after, key) => {
                changes.moved.push(RuleChange {
                    target: key.0.clone(),
                    index_before: Some(*i),
                    index_after: Some(*j),
                    before: None,
                    after: Some((*new).clone()),
                    keys: Vec::new(),
                })
            }
            Some(_) => {}
        }
    }
    for (key, (j, rule)) in &after {
        if !before.contains_key(key) {
            changes.added.push(RuleChange {
                target: key.0.clone(),
                index_before: None,
                index_after: Some(*j),
                before: None,
                after: Some((*rule).clone()),
                keys: Vec::new(),
            });
        }
    }
    for list in [
        &mut changes.added,
        &mut changes.removed,
        &mut changes.changed,
        &mut changes.moved,
    ] {
        list.sort_by_key(|c| c.index_after.or(c.index_before));
    }
    changes
}

/// Whether a rule now stands before or after a different set of the rules
/// both versions share: a rule only shifted by an insertion above it has
/// not moved.
fn relative_order_changed(
    before: &BTreeMap<(String, usize), (usize, &Value)>,
    after: &BTreeMap<(String, usize), (usize, &Value)>,
    key: &(String, usize),
) -> bool {
    let (i, _) = before[key];
    let (j, _) = after[key];
    before.iter().any(|(other, (oi, _))| {
        other != key
            && after
                .get(other)
                .is_some_and(|(oj, _)| (*oi < i) != (*oj < j))
    })
}

fn differing_keys(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Key-by-key changes between two objects, descending `depth` more levels
/// into objects both sides hold.
fn object_changes(
    prefix: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    depth: usize,
    out: &mut Vec<ValueChange>,
) {
    let path = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        match (a.get(key), b.get(key)) {
            (Some(x), None) => out.push(ValueChange {
                path: path(key),
                change: "removed",
                before: Some(x.clone()),
                after: None,
            }),
            (None, Some(y)) => out.push(ValueChange {
                path: path(key),
                change: "added",
                before: None,
                after: Some(y.clone()),
            }),
            (Some(x), Some(y)) if x != y => match (x, y) {
                (Value::Object(xo), Value::Object(yo)) if depth > 0 => {
                    object_changes(&path(key), xo, yo, depth - 1, out)
                }
                _ => out.push(ValueChange {
                    path: path(key),
                    change: "changed",
                    before: Some(x.clone()),
                    after: Some(y.clone()),
                }),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "flow": "orders", "record": "sotransaction",
            "settings": {"base_currency": "USD", "state": "Pending"},
            "lookups": {"skus": {"A": "ITEM-A", "B": "ITEM-B"}, "terms": {"card": "Net 30"}},
            "rules": [
                {"target": "customerid", "source": "customerId"},
                {"target": "currency", "source": "currency"},
                {"target": "state", "setting": "state"}
            ]
        })
    }

    #[test]
    fn identical_documents_have_no_changes() {
        let d = diff(1, &doc(), 2, &doc());
        assert!(d.identical);
        assert_eq!(d.rules, RuleChanges::default());
        assert!(d.settings.is_empty() && d.lookups.is_empty() && d.other.is_empty());
    }

    #[test]
    fn rules_are_matched_by_target_not_position() {
        let a = doc();
        let mut b = doc();
        let rules = b["rules"].as_array_mut().unwrap();
        rules.insert(0, json!({"target": "memo", "value": "web"}));
        rules[2]["transform"] = json!("upper");
        rules.retain(|r| r["target"] != "state");
        let d = diff(1, &a, 2, &b);
        assert_eq!(d.rules.added.len(), 1);
        assert_eq!(d.rules.added[0].target, "memo");
        assert_eq!(d.rules.removed[0].target, "state");
        assert_eq!(d.rules.changed.len(), 1, "{:?}", d.rules);
        let changed = &d.rules.changed[0];
        assert_eq!(changed.target, "currency");
        assert_eq!(changed.keys, ["transform"]);
        assert_eq!(
            (changed.index_before, changed.index_after),
            (Some(1), Some(2))
        );
        assert!(
            d.rules.moved.is_empty(),
            "shifted by an insertion is not moved"
        );
    }

    #[test]
    fn reordered_rules_are_reported_as_moved() {
        let a = doc();
        let mut b = doc();
        b["rules"].as_array_mut().unwrap().swap(0, 2);
        let d = diff(1, &a, 2, &b);
        let moved: Vec<&str> = d.rules.moved.iter().map(|c| c.target.as_str()).collect();
        assert!(
            moved.contains(&"customerid") && moved.contains(&"state"),
            "{moved:?}"
        );
        assert!(d.rules.changed.is_empty());
    }

    #[test]
    fn settings_lookup_entries_and_other_keys_are_diffed_by_path() {
        let a = doc();
        let mut b = doc();
        b["settings"]["base_currency"] = json!("EUR");
        b["settings"]["unit"] = json!("Each");
        b["lookups"]["skus"]["A"] = json!("ITEM-A2");
        b["lookups"]["skus"].as_object_mut().unwrap().remove("B");
        b["lookups"].as_object_mut().unwrap().remove("terms");
        b["record"] = json!("Invoice");
        b["conversions"] = json!({"address": {"max_line": 60}});
        let d = diff(3, &a, 4, &b);
        let summary = |v: &[ValueChange]| {
            v.iter()
                .map(|c| format!("{} {}", c.change, c.path))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            summary(&d.settings),
            ["changed base_currency", "added unit"]
        );
        assert_eq!(
            summary(&d.lookups),
            ["changed skus.A", "removed skus.B", "removed terms"]
        );
        assert_eq!(summary(&d.conversions), ["added address"]);
        assert_eq!(summary(&d.other), ["changed record"]);
        assert_eq!(d.settings[0].before, Some(json!("USD")));
        assert_eq!(d.settings[0].after, Some(json!("EUR")));
        assert!(!d.identical);
    }
}
