//! Mapping suggestions: for target fields no rule fills yet, which source
//! fields probably belong there.
//!
//! Each source leaf path seen in the sample records (`shippingAddress.
//! postalCode`, `lineItems[].sku`) is scored against each target by
//!
//! - name similarity ([`super::similarity`]),
//! - how many samples parse as the target's type (a date target wants
//!   values that read as dates),
//! - how often the field holds a value at all,
//! - whether both are per line (`[]`) or both per record,
//!
//! and, for a target the tenant has mapped before, by its past choices: the
//! share of its acceptances for that target that went to this source (with
//! one phantom acceptance elsewhere, so a single one is not certainty) joins
//! the score with half the weight of everything else together. Targets without
//! history keep their plain scores.
//!
//! Every score comes with a sentence saying why, and the same input always
//! gives the same ranking (ties go to the alphabetically first source path).
//! Nothing leaves the process.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use super::schema::{FieldKind, TargetSchema};
use super::similarity::PathForm;

/// What kind of value a target field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    String,
    Number,
    Date,
    Money,
    Bool,
}

impl TargetType {
    fn plural(self) -> &'static str {
        match self {
            TargetType::String => "text",
            TargetType::Number => "numbers",
            TargetType::Date => "dates",
            TargetType::Money => "money amounts",
            TargetType::Bool => "booleans",
        }
    }

    /// Whether a non-empty sample can be read as this type.
    fn accepts(self, value: &Value) -> bool {
        match self {
            TargetType::String => {
                matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
            }
            TargetType::Number => decimal(value).is_some(),
            // More than four decimals is a measurement or a rate, not money.
            TargetType::Money => decimal(value).is_some_and(|d| d.scale() <= 4),
            TargetType::Date => value.as_str().is_some_and(is_date),
            TargetType::Bool => match value {
                Value::Bool(_) => true,
                Value::String(s) => matches!(
                    s.trim().to_ascii_lowercase().as_str(),
                    "true" | "false" | "yes" | "no" | "y" | "n"
                ),
                _ => false,
            },
        }
    }
}

/// Error for a target type name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target type `{0}` is not one of string, number, date, money, bool")]
pub struct UnknownTargetType(pub String);

impl FromStr for TargetType {
    type Err = UnknownTargetType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "string" => Ok(TargetType::String),
            "number" => Ok(TargetType::Number),
            "date" => Ok(TargetType::Date),
            "money" => Ok(TargetType::Money),
            "bool" | "boolean" => Ok(TargetType::Bool),
            _ => Err(UnknownTargetType(s.to_string())),
        }
    }
}

/// A target field to find a source for: its path (`sotransitems[].itemid`
/// for a per-line field) and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetField {
    pub path: String,
    #[serde(rename = "type")]
    pub field_type: TargetType,
}

/// The mappings one tenant accepted: target path → source path → how often.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedMappings {
    counts: BTreeMap<String, BTreeMap<String, u32>>,
}

impl AcceptedMappings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Note that the tenant accepted `target ← source` once more.
    pub fn record(&mut self, target: &str, source: &str) {
        let count = self
            .counts
            .entry(target.to_string())
            .or_default()
            .entry(source.to_string())
            .or_insert(0);
        *count = count.saturating_add(1);
    }

    /// How often the tenant accepted any source for `target`.
    pub fn total(&self, target: &str) -> u32 {
        self.counts.get(target).map_or(0, |sources| {
            sources.values().fold(0, |a, n| a.saturating_add(*n))
        })
    }

    pub fn count(&self, target: &str, source: &str) -> u32 {
        self.counts
            .get(target)
            .and_then(|sources| sources.get(source))
            .copied()
            .unwrap_or(0)
    }
}

/// One source field proposed for a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub source: String,
    /// In [0, 1]; what the candidates are ranked by.
    pub score: f64,
    pub name_score: f64,
    /// Share of the non-empty samples that parse as the target type.
    pub parse_share: f64,
    /// Share of the records in which the field holds a non-empty value.
    pub filled_share: f64,
    pub accepted: u32,
    /// Why, one short clause each ("name 0.82", "type ok", …).
    pub reasons: Vec<String>,
    /// The reasons as one sentence.
    pub explanation: String,
}

/// The ranked candidates for one target field, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestions {
    pub target: String,
    pub candidates: Vec<Candidate>,
}

/// Weights of the parts of the score before the tenant's history; they add
/// up to 1 so the score stays in [0, 1].
const NAME_WEIGHT: f64 = 0.6;
const TYPE_WEIGHT: f64 = 0.3;
const FILLED_WEIGHT: f64 = 0.1;

/// Weight of the tenant's past choices against the other parts together.
const HISTORY_WEIGHT: f64 = 0.5;

/// A per-line source for a per-record target (or the other way round) needs
/// a rule more elaborate than a copy, so it keeps only this share.
const SHAPE_MISMATCH: f64 = 0.7;

/// Parse shares at or above this read as "type ok".
const TYPE_OK: f64 = 0.9;

/// Rank source fields for each target field. `records` are sample source
/// records; `limit` caps the candidates per target. Targets come back in the
/// order given.
pub fn suggest(
    targets: &[TargetField],
    records: &[Value],
    history: &AcceptedMappings,
    limit: usize,
) -> Vec<Suggestions> {
    let sources = SourceStats::collect(records);
    let source_forms: Vec<(&String, PathForm, &SourceStats)> = sources
        .iter()
        .map(|(path, stats)| (path, PathForm::new(path), stats))
        .collect();
    targets
        .iter()
        .map(|target| {
            let form = PathForm::new(&target.path);
            let mut candidates: Vec<Candidate> = source_forms
                .iter()
                .map(|(path, source_form, stats)| {
                    score(
                        target,
                        &form,
                        path,
                        source_form,
                        stats,
                        records.len(),
                        history,
                    )
                })
                .collect();
            candidates.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then_with(|| a.source.cmp(&b.source))
            });
            candidates.truncate(limit);
            Suggestions {
                target: target.path.clone(),
                candidates,
            }
        })
        .collect()
}

fn score(
    target: &TargetField,
    target_form: &PathForm,
    source: &str,
    source_form: &PathForm,
    stats: &SourceStats,
    records: usize,
    history: &AcceptedMappings,
) -> Candidate {
    let name_score = target_form.similarity(source_form);
    let parse_share = stats.parse_share(target.field_type);
    let filled_share = if records == 0 {
        0.0
    } else {
        stats.records_filled as f64 / records as f64
    };
    let same_shape = target.path.contains("[]") == source.contains("[]");
    let mut base =
        NAME_WEIGHT * name_score + TYPE_WEIGHT * parse_share + FILLED_WEIGHT * filled_share;
    if !same_shape {
        base *= SHAPE_MISMATCH;
    }
    let accepted = history.count(&target.path, source);
    let score = match history.total(&target.path) {
        0 => base,
        total => {
            let share = f64::from(accepted) / (f64::from(total) + 1.0);
            (base + HISTORY_WEIGHT * share) / (1.0 + HISTORY_WEIGHT)
        }
    };

    let mut parts = vec![format!("name {name_score:.2}")];
    let samples = stats.filled;
    if samples == 0 {
        parts.push("no samples".to_string());
    } else {
        parts.push(
            if parse_share >= TYPE_OK {
                "type ok"
            } else if parse_share > 0.0 {
                "type partly ok"
            } else {
                "type mismatch"
            }
            .to_string(),
        );
        parts.push(format!(
            "{} % of samples parse as {}",
            percent(parse_share),
            target.field_type.plural()
        ));
    }
    if records > 0 && filled_share < 1.0 {
        parts.push(format!("filled in {} % of records", percent(filled_share)));
    }
    if !same_shape {
        parts.push(if source.contains("[]") {
            "source is per line, target is not".to_string()
        } else {
            "target is per line, source is not".to_string()
        });
    }
    if accepted > 0 {
        parts.push(format!("accepted {accepted}× before"));
    }
    Candidate {
        source: source.to_string(),
        score,
        name_score,
        parse_share,
        filled_share,
        accepted,
        explanation: parts.join(", "),
        reasons: parts,
    }
}

/// One target path a template document writes, and the top-level rule
/// (0-based index in `rules`) that writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateTarget {
    pub rule: usize,
    /// Schema-style path: `shipto.zip`, `sotransitems[].itemid`.
    pub path: String,
    /// Whether the rule produces the whole value, fields inside it included
    /// (an `expr` building `shipto`); false for `each` and `items`, whose
    /// nested rules are listed on their own.
    pub whole: bool,
}

/// Every target path a template document's rules write, nested `each` and
/// `items` rules (and `distribute` targets) under `list[]`. Reads the
/// document as it is, without compiling it, so it also works for one that
/// does not compile.
pub fn template_targets(document: &Value) -> Vec<TemplateTarget> {
    let mut out = Vec::new();
    if let Some(rules) = document.get("rules").and_then(Value::as_array) {
        for (index, rule) in rules.iter().enumerate() {
            collect_rule_targets(rule, index, "", &mut out);
        }
    }
    out
}

fn collect_rule_targets(rule: &Value, index: usize, prefix: &str, out: &mut Vec<TemplateTarget>) {
    let Some(target) = rule.get("target").and_then(Value::as_str) else {
        return;
    };
    let path = format!("{prefix}{target}");
    let element = format!("{path}[].");
    if let Some(each) = rule.get("each") {
        for nested in each
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_rule_targets(nested, index, &element, out);
        }
        for spread in each
            .get("distribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = spread.get("target").and_then(Value::as_str) {
                out.push(TemplateTarget {
                    rule: index,
                    path: format!("{element}{t}"),
                    whole: true,
                });
            }
        }
    }
    for item in rule
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for nested in item
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_rule_targets(nested, index, &element, out);
        }
    }
    let whole = rule.get("each").is_none() && rule.get("items").is_none();
    out.push(TemplateTarget {
        rule: index,
        path,
        whole,
    });
}

/// Whether every object or list a field sits in must be there: a field
/// required inside an optional `shipto` is only required when a rule builds
/// `shipto`.
fn containers_required(schema: &TargetSchema, path: &str) -> bool {
    let mut rest = path;
    while let Some((container, _)) = rest.rsplit_once('.') {
        let holder = container.strip_suffix("[]").unwrap_or(container);
        if !schema.fields.get(holder).is_some_and(|spec| spec.required) {
            return false;
        }
        rest = holder;
    }
    true
}

/// A target field of a schema that no rule fills yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTarget {
    pub field: TargetField,
    pub required: bool,
}

/// The schema's value fields (not objects or lists) that none of `filled`
/// writes, itself or through a rule that builds a whole object around it
/// (an `expr` producing `shipto`). Required fields first, then by path.
pub fn unmapped_targets(schema: &TargetSchema, filled: &[TemplateTarget]) -> Vec<OpenTarget> {
    let covered = |path: &str| {
        filled.iter().any(|f| {
            path == f.path
                || (f.whole
                    && path
                        .strip_prefix(f.path.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with("[]")))
        })
    };
    let mut open: Vec<OpenTarget> = schema
        .fields
        .iter()
        .filter(|(path, spec)| {
            !matches!(spec.kind, FieldKind::Object | FieldKind::Array) && !covered(path)
        })
        .map(|(path, spec)| OpenTarget {
            field: TargetField {
                path: path.clone(),
                field_type: match spec.kind {
                    FieldKind::Date => TargetType::Date,
                    FieldKind::Bool => TargetType::Bool,
                    FieldKind::Integer => TargetType::Number,
                    // Two decimals is how ERPs keep money; quantities and
                    // rates keep more.
                    FieldKind::Decimal if spec.scale == Some(2) => TargetType::Money,
                    FieldKind::Decimal => TargetType::Number,
                    _ => TargetType::String,
                },
            },
            required: spec.required && containers_required(schema, path),
        })
        .collect();
    open.sort_by(|a, b| {
        b.required
            .cmp(&a.required)
            .then_with(|| a.field.path.cmp(&b.field.path))
    });
    open
}

fn percent(share: f64) -> u32 {
    // Shares are in [0, 1], so the cast cannot truncate.
    (share * 100.0).round() as u32
}

/// What the samples say about one source leaf path.
#[derive(Debug, Default)]
struct SourceStats {
    /// Non-empty values seen (several per record under an array).
    filled: usize,
    /// Records with at least one non-empty value here.
    records_filled: usize,
    /// Non-empty values that parse, per target type.
    parses: [usize; 5],
}

const TYPES: [TargetType; 5] = [
    TargetType::String,
    TargetType::Number,
    TargetType::Date,
    TargetType::Money,
    TargetType::Bool,
];

impl SourceStats {
    fn collect(records: &[Value]) -> BTreeMap<String, SourceStats> {
        let mut stats: BTreeMap<String, SourceStats> = BTreeMap::new();
        for record in records {
            let mut leaves: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
            collect_leaves(record, String::new(), &mut leaves);
            for (path, values) in leaves {
                let entry = stats.entry(path).or_default();
                let mut any = false;
                for value in values.into_iter().filter(|v| !is_empty(v)) {
                    any = true;
                    entry.filled += 1;
                    for (i, ty) in TYPES.iter().enumerate() {
                        if ty.accepts(value) {
                            entry.parses[i] += 1;
                        }
                    }
                }
                if any {
                    entry.records_filled += 1;
                }
            }
        }
        stats
    }

    fn parse_share(&self, ty: TargetType) -> f64 {
        if self.filled == 0 {
            return 0.0;
        }
        let i = TYPES.iter().position(|t| *t == ty).unwrap_or(0);
        self.parses[i] as f64 / self.filled as f64
    }
}

/// Every scalar in `value` under its leaf path; array elements share the
/// path `parent[]`.
fn collect_leaves<'a>(value: &'a Value, path: String, out: &mut BTreeMap<String, Vec<&'a Value>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_leaves(child, child_path, out);
            }
        }
        Value::Array(items) => {
            let element_path = format!("{path}[]");
            for item in items {
                collect_leaves(item, element_path.clone(), out);
            }
        }
        scalar => {
            if !path.is_empty() {
                out.entry(path).or_default().push(scalar);
            }
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => {
            let text = n.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// RFC 3339 timestamps, ISO dates (`2024-06-01`, optionally followed by a
/// time) and US dates (`06/01/2024`).
fn is_date(text: &str) -> bool {
    let text = text.trim();
    if OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return true;
    }
    if let Some(rest) = text.get(10..) {
        let day = &text[..10];
        let iso = ymd(day, '-', [0, 1, 2]);
        let us = ymd(day, '/', [2, 0, 1]);
        let time_follows = rest.is_empty()
            || (rest.starts_with(['T', ' ']) && rest[1..].get(..5).is_some_and(is_clock));
        return (iso || us) && time_follows;
    }
    false
}

/// Whether `text` has three numeric parts separated by `sep` that make a
/// calendar date; `order` gives the positions of year, month and day.
fn ymd(text: &str, sep: char, order: [usize; 3]) -> bool {
    let parts: Vec<&str> = text.split(sep).collect();
    if parts.len() != 3 || parts.iter().any(|p| !p.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let [y, m, d] = order;
    let (Ok(year), Ok(month), Ok(day)) = (
        parts[y].parse::<i32>(),
        parts[m].parse::<u8>(),
        parts[d].parse::<u8>(),
    ) else {
        return false;
    };
    parts[y].len() == 4
        && Month::try_from(month)
            .ok()
            .is_some_and(|month| Date::from_calendar_date(year, month, day).is_ok())
}

/// `HH:MM` with a valid hour and minute.
fn is_clock(text: &str) -> bool {
    let Some((h, m)) = text.split_once(':') else {
        return false;
    };
    matches!((h.parse::<u8>(), m.parse::<u8>()), (Ok(h), Ok(m)) if h < 24 && m < 60 && text.len() == 5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORDER: &str = include_str!("../../tests/fixtures/clarity/order.json");

    fn field(path: &str, field_type: TargetType) -> TargetField {
        TargetField {
            path: path.into(),
            field_type,
        }
    }

    /// The fixture order and two variations of it, one without a postal code
    /// in the shipping address and with an extra line.
    fn orders() -> Vec<Value> {
        let first: Value = serde_json::from_str(ORDER).expect("fixture is JSON");
        let mut second = first.clone();
        second["orderId"] = json!("CO-100046");
        second["orderDate"] = json!("2024-06-02T11:00:00Z");
        second["lineItems"]
            .as_array_mut()
            .unwrap()
            .push(json!({"lineId": "2", "sku": "SKU-2002", "name": "Gadget", "quantity": 1,
                         "unitPrice": "5.00", "tax": "0.40", "discount": "0.00", "lineTotal": "5.00"}));
        let mut third = first.clone();
        third["orderId"] = json!("CO-100047");
        third["shippingAddress"]["postalCode"] = json!("");
        vec![first, second, third]
    }

    fn targets() -> Vec<TargetField> {
        vec![
            field("customerid", TargetType::String),
            field("datecreated", TargetType::Date),
            field("shipto.zip", TargetType::String),
            field("totalamount", TargetType::Money),
            field("sotransitems[].itemid", TargetType::String),
            field("sotransitems[].qty", TargetType::Number),
            field("sotransitems[].price", TargetType::Money),
        ]
    }

    fn top(suggestions: &[Suggestions], target: &str) -> Candidate {
        suggestions
            .iter()
            .find(|s| s.target == target)
            .and_then(|s| s.candidates.first().cloned())
            .unwrap_or_else(|| panic!("no candidate for {target}"))
    }

    #[test]
    fn leaf_paths_use_dots_for_objects_and_brackets_for_arrays() {
        let order: Value = serde_json::from_str(ORDER).unwrap();
        let stats = SourceStats::collect(&[order]);
        for path in [
            "shippingAddress.postalCode",
            "lineItems[].sku",
            "paymentInfo.capturedAt",
            "couponCode",
        ] {
            assert!(stats.contains_key(path), "{path} missing");
        }
        assert!(!stats.contains_key("erpReferences"));
        assert!(!stats.contains_key("lineItems"));
    }

    #[test]
    fn a_clarity_order_gets_the_expected_sources_ranked_first() {
        let got = suggest(&targets(), &orders(), &AcceptedMappings::new(), 3);
        assert_eq!(top(&got, "customerid").source, "customerId");
        assert_eq!(top(&got, "shipto.zip").source, "shippingAddress.postalCode");
        assert_eq!(top(&got, "totalamount").source, "totalAmount");
        assert_eq!(top(&got, "sotransitems[].itemid").source, "lineItems[].sku");
        assert_eq!(
            top(&got, "sotransitems[].qty").source,
            "lineItems[].quantity"
        );
        assert_eq!(
            top(&got, "sotransitems[].price").source,
            "lineItems[].unitPrice"
        );
        let date = top(&got, "datecreated");
        assert_eq!(date.source, "createdDate");
        assert!(got.iter().all(|s| s.candidates.len() == 3));
    }

    #[test]
    fn explanations_give_name_type_parse_share_and_gaps() {
        let got = suggest(&targets(), &orders(), &AcceptedMappings::new(), 5);
        let date = top(&got, "datecreated");
        assert!(
            date.explanation.starts_with(&format!(
                "name {:.2}, type ok, 100 % of samples parse as dates",
                date.name_score
            )),
            "{}",
            date.explanation
        );
        let zip = top(&got, "shipto.zip");
        assert!(
            zip.explanation.ends_with("filled in 67 % of records"),
            "{}",
            zip.explanation
        );
        let all = suggest(&targets(), &orders(), &AcceptedMappings::new(), usize::MAX);
        let price = &all
            .iter()
            .find(|s| s.target == "sotransitems[].price")
            .unwrap();
        let name = price
            .candidates
            .iter()
            .find(|c| c.source == "lineItems[].name")
            .expect("every source path is a candidate");
        assert!(
            name.explanation
                .contains("type mismatch, 0 % of samples parse as money amounts"),
            "{}",
            name.explanation
        );
        let total = suggest(
            &[field("totalamount", TargetType::Date)],
            &orders(),
            &AcceptedMappings::new(),
            1,
        );
        assert!(
            total[0].candidates[0]
                .explanation
                .contains("0 % of samples parse as dates"),
            "{}",
            total[0].candidates[0].explanation
        );
    }

    #[test]
    fn type_compatibility_beats_a_slightly_better_name() {
        let records = vec![json!({"shipDate": "2024-06-01", "shipDateText": "soon"})];
        let got = suggest(
            &[field("ShipDate", TargetType::Date)],
            &records,
            &AcceptedMappings::new(),
            2,
        );
        assert_eq!(got[0].candidates[0].source, "shipDate");
        let got = suggest(
            &[field("ShipDateText", TargetType::Date)],
            &records,
            &AcceptedMappings::new(),
            2,
        );
        assert_eq!(got[0].candidates[0].source, "shipDate");
    }

    #[test]
    fn accepted_mappings_change_the_ranking_and_say_so() {
        let mut history = AcceptedMappings::new();
        let before = suggest(&targets(), &orders(), &history, 3);
        assert_eq!(top(&before, "datecreated").source, "createdDate");
        history.record("datecreated", "orderDate");
        history.record("datecreated", "orderDate");
        history.record("datecreated", "orderDate");
        let after = suggest(&targets(), &orders(), &history, 3);
        let date = top(&after, "datecreated");
        assert_eq!(date.source, "orderDate");
        assert_eq!(date.accepted, 3);
        assert!(
            date.explanation.ends_with("accepted 3× before"),
            "{}",
            date.explanation
        );
        let created = after
            .iter()
            .find(|s| s.target == "datecreated")
            .and_then(|s| s.candidates.iter().find(|c| c.source == "createdDate"))
            .expect("still a candidate");
        assert!(date.score > created.score);
        assert!(
            !created.explanation.contains("accepted"),
            "{}",
            created.explanation
        );
        // Other targets are untouched.
        assert_eq!(top(&after, "customerid"), top(&before, "customerid"));
    }

    #[test]
    fn the_same_input_gives_the_same_output_whatever_the_record_order() {
        let mut records = orders();
        let first = suggest(&targets(), &records, &AcceptedMappings::new(), 10);
        assert_eq!(
            first,
            suggest(&targets(), &records, &AcceptedMappings::new(), 10)
        );
        records.reverse();
        assert_eq!(
            first,
            suggest(&targets(), &records, &AcceptedMappings::new(), 10)
        );
    }

    #[test]
    fn equal_scores_are_ordered_by_source_path() {
        let records = vec![json!({"b": "x", "a": "x", "c": "x"})];
        let got = suggest(
            &[field("zzz", TargetType::String)],
            &records,
            &AcceptedMappings::new(),
            3,
        );
        let sources: Vec<&str> = got[0]
            .candidates
            .iter()
            .map(|c| c.source.as_str())
            .collect();
        assert_eq!(sources, ["a", "b", "c"]);
        let scores: Vec<f64> = got[0].candidates.iter().map(|c| c.score).collect();
        assert!(scores.windows(2).all(|w| w[0] == w[1]), "{scores:?}");
    }

    #[test]
    fn scores_stay_between_zero_and_one() {
        let mut history = AcceptedMappings::new();
        for _ in 0..50 {
            history.record("customerid", "customerId");
        }
        let got = suggest(&targets(), &orders(), &history, 100);
        for c in got.iter().flat_map(|s| &s.candidates) {
            assert!((0.0..=1.0).contains(&c.score), "{} {}", c.source, c.score);
        }
    }

    #[test]
    fn template_targets_walk_nested_rules_and_unmapped_fields_are_what_is_left() {
        let doc = json!({"rules": [
            {"target": "customerid", "source": "customerId"},
            {"target": "shipto", "expr": "{contactname: .name}"},
            {"target": "sotransitems", "each": {"source": "lineItems",
                "rules": [{"target": "itemid", "source": "sku"}],
                "distribute": [{"target": "discount", "total": "discountAmount"}]}},
            {"target": "subtotals", "items": [{"rules": [{"target": "total", "value": "1"}]}]}
        ]});
        let paths: Vec<(usize, String)> = template_targets(&doc)
            .into_iter()
            .map(|t| (t.rule, t.path))
            .collect();
        for want in [
            (0, "customerid"),
            (1, "shipto"),
            (2, "sotransitems[].itemid"),
            (2, "sotransitems[].discount"),
            (2, "sotransitems"),
            (3, "subtotals[].total"),
        ] {
            assert!(
                paths.contains(&(want.0, want.1.to_string())),
                "{want:?} in {paths:?}"
            );
        }
        let schema = super::super::schema::schema_for("intacct", "sotransaction").unwrap();
        let open = unmapped_targets(schema, &template_targets(&doc));
        let open_paths: Vec<&str> = open.iter().map(|o| o.field.path.as_str()).collect();
        assert!(!open_paths.contains(&"customerid"));
        assert!(!open_paths.contains(&"sotransitems[].itemid"));
        assert!(
            !open_paths.iter().any(|p| p.starts_with("shipto.")),
            "an expr building shipto fills its fields: {open_paths:?}"
        );
        assert!(open_paths.contains(&"sotransitems[].quantity"));
        assert!(
            !open_paths.contains(&"sotransitems"),
            "lists are not value fields"
        );
        let first_optional = open.iter().position(|o| !o.required).unwrap_or(open.len());
        assert!(
            open[first_optional..].iter().all(|o| !o.required),
            "required fields come first"
        );
    }

    #[test]
    fn sample_values_parse_by_type() {
        use TargetType::*;
        assert!(Date.accepts(&json!("2024-06-01T09:58:12Z")));
        assert!(Date.accepts(&json!("2024-06-01")));
        assert!(Date.accepts(&json!("2024-06-01 09:58")));
        assert!(Date.accepts(&json!("06/01/2024")));
        assert!(!Date.accepts(&json!("2024-02-30")));
        assert!(!Date.accepts(&json!("2024-06-01Tlater")));
        assert!(!Date.accepts(&json!(20240601)));
        assert!(Money.accepts(&json!("19.99")));
        assert!(Money.accepts(&json!(2)));
        assert!(!Money.accepts(&json!("0.123456")));
        assert!(Number.accepts(&json!("0.123456")));
        assert!(!Number.accepts(&json!("CO-100045")));
        assert!(Bool.accepts(&json!(true)));
        assert!(Bool.accepts(&json!("Yes")));
        assert!(!Bool.accepts(&json!(1)));
        assert!(String.accepts(&json!(3)));
        assert_eq!("Boolean".parse::<TargetType>(), Ok(Bool));
        assert_eq!(
            "currency".parse::<TargetType>(),
            Err(UnknownTargetType("currency".into()))
        );
    }
}
