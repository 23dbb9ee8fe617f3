//! The rule language of mapping templates: a template document is parsed
//! and checked once into a [`CompiledTemplate`],
//! then applied to any number of source records.
//!
//! Each rule sets one target path from exactly one source:
//!
//! | key | what it produces | engine |
//! | --- | --- | --- |
//! | `source: "a.b"` | the value at a dot path of the record | none |
//! | `value: x` | the constant `x` | none |
//! | `setting: "name"` | `settings.name` of the template | none |
//! | `lookup: {table, source, default?}` | `lookups[table][record.source]` | none |
//! | `format: "clarity:{orderId}"` | text with `{path}` (or optional `{path?}`) filled in | none |
//! | `each: {source, rules, distribute?}` | an array: the nested rules applied to every element | none |
//! | `items: [{when?, rules}]` | an array of objects, each built by nested rules | none |
//! | `expr: "jq program"` | the first output of the program (`$settings`, `$lookups`, `$record` bound) | jaq |
//!
//! and may add `transform` (one name or a list, applied in order: `upper`,
//! `lower`, `trim`, `string`, `decimal`, `number`, `money`, `negate`, `date`,
//! `date_parts`, `date_us`, `timestamp`), `when` (`{"nonzero": path}`, `{"present": path}`,
//! `{"equals": {"source": path, "value": x}}`, `{"setting": {"name": n,
//! "equals": x}}`, `{"not": cond}`), `fallback`
//! (another source tried when this one yields nothing), `default` (a constant
//! used when nothing was found) or `optional: true` (leave the target out).
//! A value that is absent or null counts as nothing; a rule that finds nothing
//! and has none of these is an error naming its target.
//!
//! `distribute` spreads an order-level amount over the lines of an `each`, to
//! the cent: `{"target": "Discount", "total": "discountAmount", "line":
//! "discount", "weight": ["quantity", "unitPrice"], "as": "number"}` gives each
//! line its own `discount` plus a share of what the order total adds to the
//! lines' sum, in proportion to quantity × unit price, the last line taking the
//! rounding rest, so the lines add up to `total` exactly. `"negate": true`
//! writes the shares with the opposite sign (credit memo lines).
//!
//! `each` may also `append` items after the lines (`[{when?, rules}]`, built
//! from the record like `items`): a coupon as its own discount line, or the
//! tax and shipping subtotals after per-line ones.
//!
//! A `setting` condition compares a template setting and is decided once,
//! when the template is compiled: it lets one document offer alternatives
//! (a coupon as a line or allocated over the lines) chosen by a setting.
//! Dates: `date` gives `YYYY-MM-DD`, `date_us` `MM/DD/YYYY` (Intacct's
//! generic functions), `timestamp` `YYYY-MM-DDT00:00:00Z` for a date or the
//! UTC form of a timestamp; all three also read Intacct's `MM/DD/YYYY`.

use std::cell::{Cell, OnceCell};
use std::sync::Arc;

use jaq_json::Val;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::bounds::{MAX_LOOKUP_ENTRIES, MAX_RULE_NESTING, MAX_RULES};
use super::conversions::Conversions;
use super::engine::{self, Expr};
use super::layout::Layout;
use super::money;
use super::paths::{ElementPatches, Patch, SourcePath, TargetPath, TopKeys};
use super::{MappingError, TemplateError};

/// A template checked and compiled once; cheap to clone and share between
/// threads.
#[derive(Clone)]
pub struct CompiledTemplate {
    inner: Arc<Inner>,
}

struct Inner {
    flow: Option<String>,
    erp: Option<String>,
    record: Option<String>,
    conversions: Conversions,
    rules: Rules,
    settings: Value,
    lookups: Value,
    /// Some rule reads the record as one value (an expression, a `.` path
    /// at the top), so an overlay must be merged before applying.
    whole_record: bool,
    /// How many top-level keys the rules read ([`SourcePath::bind_top`]).
    top_slots: usize,
}

impl std::fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledTemplate")
            .field("flow", &self.inner.flow)
            .field("erp", &self.inner.erp)
            .field("rules", &self.inner.rules.list.len())
            .finish()
    }
}

impl CompiledTemplate {
    /// Check and compile a template document. Refuses a rule with no source
    /// or more than one, an unknown key, transform, setting or lookup table,
    /// two rules writing the same target, and an expression that does not
    /// compile, naming the rule's index and target.
    pub fn compile(doc: &Value) -> Result<Self, TemplateError> {
        let doc_error = |message: String| TemplateError {
            key: None,
            rule: 0,
            target: String::new(),
            message,
        };
        let doc: TemplateDoc = TemplateDoc::deserialize(doc)
            .map_err(|e| doc_error(format!("template is not valid: {e}")))?;
        for (name, table) in &doc.lookups {
            let Some(entries) = table.as_object() else {
                return Err(doc_error(format!(
                    "lookup table `{name}` must be an object of key → value"
                )));
            };
            if entries.len() > MAX_LOOKUP_ENTRIES {
                return Err(doc_error(format!(
                    "lookup table `{name}` holds {} entries; a table holds at most {MAX_LOOKUP_ENTRIES}",
                    entries.len()
                )));
            }
        }
        let conversions = match &doc.conversions {
            Some(c) => Conversions::compile(c, &doc.settings, &doc.lookups)?,
            None => Conversions::default(),
        };
        if let Some(record) = &doc.record
            && record.trim().is_empty()
        {
            return Err(TemplateError {
                key: None,
                rule: 0,
                target: "record".into(),
                message:
                    "`record` must name the target record (sotransaction, SalesOrder, Invoice …)"
                        .into(),
            });
        }
        let ctx = CompileCtx {
            settings: &doc.settings,
            lookups: &doc.lookups,
            rules: Cell::new(0),
            nesting: Cell::new(0),
        };
        let mut rules = Vec::with_capacity(doc.rules.len());
        for (index, rule) in doc.rules.iter().enumerate() {
            rules.push(ctx.rule(rule, index, "")?);
        }
        check_overlaps(&rules, |i| i)?;
        let whole_record = rules_read_whole_record(&rules, true);
        let mut top_names = Vec::new();
        bind_rules(&mut rules, &mut top_names);
        let rules = Rules::new(rules);
        Ok(Self {
            inner: Arc::new(Inner {
                flow: doc.flow,
                erp: doc.erp,
                record: doc.record.map(|r| r.trim().to_owned()),
                conversions,
                rules,
                settings: Value::Object(doc.settings),
                lookups: Value::Object(doc.lookups),
                whole_record,
                top_slots: top_names.len(),
            }),
        })
    }

    /// The flow this template is for (`orders`), if the document says.
    pub fn flow(&self) -> Option<&str> {
        self.inner.flow.as_deref()
    }

    /// The ERP this template is for (`intacct`, `sagepro`), if the document says.
    pub fn erp(&self) -> Option<&str> {
        self.inner.erp.as_deref()
    }

    /// The target record the document names (`sotransaction`, `SalesOrder`,
    /// `Invoice` …), if it does.
    pub fn record(&self) -> Option<&str> {
        self.inner.record.as_deref()
    }

    /// The conversions applied to the source before the rules
    /// ([`super::conversions`]); empty when the document has none.
    pub fn conversions(&self) -> &Conversions {
        &self.inner.conversions
    }

    /// One of the template's settings (`settings.name`), if it is text.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.inner.settings.get(name).and_then(Value::as_str)
    }

    /// The template's lookup tables (`lookups`), table name → object.
    pub fn lookups(&self) -> &Map<String, Value> {
        self.inner
            .lookups
            .as_object()
            .expect("lookups are an object")
    }

    /// The top-level target paths the template writes, in rule order.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.inner.rules.list.iter().map(|r| r.label.as_str())
    }

    /// Map one source record to the target document.
    pub fn apply(&self, source: &Value) -> Result<Value, MappingError> {
        super::engine::on_roomy_stack(|| self.apply_here(source))
    }

    fn apply_here(&self, source: &Value) -> Result<Value, MappingError> {
        let env = JaqEnv {
            inner: &self.inner,
            record: OnceCell::new(),
            settings: OnceCell::new(),
            lookups: OnceCell::new(),
        };
        let tops = TopKeys::new(source, None, self.inner.top_slots);
        let scope = Scope {
            record: source,
            current: source,
            env: &env,
            tops: &tops,
            current_over: None,
            patches: None,
        };
        apply_rules(&self.inner.rules, &scope)
            .map(Value::Object)
            .map_err(|e| *e)
    }

    /// Whether some rule reads the record as one value (an expression, a
    /// `.` path at the top): such a template cannot read through an overlay
    /// and is given the merged record instead.
    pub(crate) fn reads_whole_record(&self) -> bool {
        self.inner.whole_record
    }

    /// [`Self::apply`] to `base` with its top-level keys in `over` replaced
    /// (or added) and the keys in `patches` replaced inside array elements:
    /// what the pipeline's conversions changed, without a copy of the rest
    /// of the record. `base` must be an object, and the template must not
    /// [read the whole record](Self::reads_whole_record).
    pub(crate) fn apply_over(
        &self,
        base: &Value,
        over: &Map<String, Value>,
        patches: &ElementPatches,
    ) -> Result<Value, MappingError> {
        debug_assert!(!self.inner.whole_record, "merge the overlay first");
        let env = JaqEnv {
            inner: &self.inner,
            record: OnceCell::new(),
            settings: OnceCell::new(),
            lookups: OnceCell::new(),
        };
        let tops = TopKeys::new(base, Some(over), self.inner.top_slots);
        let scope = Scope {
            record: base,
            current: base,
            env: &env,
            tops: &tops,
            current_over: Some(over),
            patches: (!patches.is_empty()).then_some(patches),
        };
        apply_rules(&self.inner.rules, &scope)
            .map(Value::Object)
            .map_err(|e| *e)
    }
}

// ---------------------------------------------------------------- documents

#[derive(Deserialize)]
struct TemplateDoc {
    flow: Option<String>,
    erp: Option<String>,
    record: Option<String>,
    conversions: Option<Value>,
    #[serde(default)]
    settings: Map<String, Value>,
    #[serde(default)]
    lookups: Map<String, Value>,
    rules: Vec<Value>,
}

/// Deserialize a field that may be JSON `null` as `Some(Value::Null)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    target: Option<String>,
    source: Option<String>,
    #[serde(default, deserialize_with = "present")]
    value: Option<Value>,
    setting: Option<String>,
    lookup: Option<LookupDoc>,
    format: Option<String>,
    expr: Option<String>,
    each: Option<EachDoc>,
    items: Option<Vec<ItemDoc>>,
    transform: Option<OneOrMany>,
    #[serde(default)]
    optional: bool,
    #[serde(default, deserialize_with = "present")]
    default: Option<Value>,
    when: Option<CondDoc>,
    fallback: Option<Box<RuleDoc>>,
    /// Free text for the people editing the template.
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupDoc {
    table: String,
    source: String,
    #[serde(default, deserialize_with = "present")]
    default: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EachDoc {
    source: String,
    rules: Vec<Value>,
    #[serde(default)]
    distribute: Vec<DistributeDoc>,
    #[serde(default)]
    append: Vec<ItemDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DistributeDoc {
    target: String,
    total: String,
    line: Option<String>,
    #[serde(default)]
    weight: Vec<String>,
    #[serde(rename = "as", default)]
    as_: AmountAs,
    #[serde(default)]
    negate: bool,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum AmountAs {
    #[default]
    String,
    Number,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemDoc {
    when: Option<CondDoc>,
    rules: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum CondDoc {
    Nonzero(String),
    Present(String),
    Equals { source: String, value: Value },
    Setting { name: String, equals: Value },
    Not(Box<CondDoc>),
}

// ---------------------------------------------------------------- compiled form

/// A rule list and the shape of the object it writes.
struct Rules {
    list: Vec<Rule>,
    /// `None` when `when` alternatives write one target inside another;
    /// then results are written one by one in rule order.
    layout: Option<Layout>,
}

impl Rules {
    fn new(list: Vec<Rule>) -> Self {
        let layout = Layout::new(list.iter().map(|r| &r.target));
        Self { list, layout }
    }
}

struct Rule {
    target: TargetPath,
    /// The target as written, for messages.
    label: String,
    spec: Spec,
    when: Option<Cond>,
    default: Option<Value>,
    optional: bool,
}

struct Spec {
    producer: Producer,
    transforms: Vec<Transform>,
    fallback: Option<Box<Spec>>,
}

enum Producer {
    Path(SourcePath),
    Const(Value),
    Lookup {
        table_name: String,
        table: Map<String, Value>,
        key: SourcePath,
        default: Option<Value>,
    },
    Format(Vec<Piece>),
    Expr(Box<Expr>),
    Each {
        source: SourcePath,
        rules: Rules,
        /// Some nested rule reads the element as one value (`.` or an
        /// expression), so a patched element is merged before its rules.
        element_whole: bool,
        distribute: Vec<Distribute>,
        append: Vec<Item>,
    },
    Items(Vec<Item>),
}

enum Piece {
    Text(String),
    Path { path: SourcePath, optional: bool },
}

struct Item {
    when: Option<Cond>,
    rules: Rules,
}

struct Distribute {
    target: TargetPath,
    label: String,
    total: SourcePath,
    line: Option<SourcePath>,
    weight: Vec<SourcePath>,
    as_: AmountAs,
    negate: bool,
}

enum Cond {
    /// A `setting` condition, decided at compile time.
    Const(bool),
    Nonzero(SourcePath),
    Present(SourcePath),
    Equals(SourcePath, Value),
    Not(Box<Cond>),
}

#[derive(Clone, Copy, Debug)]
enum Transform {
    Upper,
    Lower,
    Trim,
    String,
    Decimal,
    Number,
    Money,
    Negate,
    Date,
    DateParts,
    DateUs,
    Timestamp,
}

impl Transform {
    const NAMES: &'static str = "upper, lower, trim, string, decimal, number, money, negate, date, date_parts, date_us, timestamp";

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "upper" => Self::Upper,
            "lower" => Self::Lower,
            "trim" => Self::Trim,
            "string" => Self::String,
            "decimal" => Self::Decimal,
            "number" => Self::Number,
            "money" => Self::Money,
            "negate" => Self::Negate,
            "date" => Self::Date,
            "date_parts" => Self::DateParts,
            "date_us" => Self::DateUs,
            "timestamp" => Self::Timestamp,
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------- compiling

struct CompileCtx<'d> {
    settings: &'d Map<String, Value>,
    lookups: &'d Map<String, Value>,
    /// Rules compiled so far, nested ones included ([`MAX_RULES`]).
    rules: Cell<usize>,
    /// `each`/`items` levels around the rule being compiled
    /// ([`MAX_RULE_NESTING`]).
    nesting: Cell<usize>,
}

impl CompileCtx<'_> {
    /// Compile one rule; `index` is the top-level rule it belongs to and
    /// `prefix` the label of the enclosing rule (empty at the top).
    fn rule(&self, doc: &Value, index: usize, prefix: &str) -> Result<Rule, TemplateError> {
        let raw_target = doc.get("target").and_then(Value::as_str).unwrap_or("");
        let label = join_label(prefix, raw_target);
        let err = |message: String| TemplateError {
            key: None,
            rule: index,
            target: label.clone(),
            message,
        };
        self.rules.set(self.rules.get() + 1);
        if self.rules.get() > MAX_RULES {
            return Err(err(format!(
                "template has more than {MAX_RULES} rules (nested ones included)"
            )));
        }
        let parsed: RuleDoc = RuleDoc::deserialize(doc).map_err(|e| err(e.to_string()))?;
        let target_text = parsed
            .target
            .as_deref()
            .ok_or_else(|| err("rule has no `target`".into()))?;
        let target = TargetPath::parse(target_text).map_err(err)?;
        let when = parsed
            .when
            .as_ref()
            .map(|c| compile_cond(c, self.settings))
            .transpose()
            .map_err(err)?;
        let spec = self.spec(&parsed, index, &label)?;
        Ok(Rule {
            target,
            label: label.clone(),
            spec,
            when,
            default: parsed.default.filter(|v| !v.is_null()),
            optional: parsed.optional,
        })
    }

    fn spec(&self, doc: &RuleDoc, index: usize, label: &str) -> Result<Spec, TemplateError> {
        let err = |message: String| TemplateError {
            key: None,
            rule: index,
            target: label.to_string(),
            message,
        };
        let mut kinds = Vec::new();
        for (present, name) in [
            (doc.source.is_some(), "source"),
            (doc.value.is_some(), "value"),
            (doc.setting.is_some(), "setting"),
            (doc.lookup.is_some(), "lookup"),
            (doc.format.is_some(), "format"),
            (doc.expr.is_some(), "expr"),
            (doc.each.is_some(), "each"),
            (doc.items.is_some(), "items"),
        ] {
            if present {
                kinds.push(name);
            }
        }
        match kinds.len() {
            0 => {
                return Err(err(
                    "rule has no source: give exactly one of `source`, `value`, `setting`, `lookup`, `format`, `expr`, `each` or `items`".into(),
                ));
            }
            1 => {}
            _ => {
                return Err(err(format!(
                    "rule has {} sources ({}): give exactly one",
                    kinds.len(),
                    kinds
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let path = |p: &str| SourcePath::parse(p).map_err(err);
        if (doc.each.is_some() || doc.items.is_some()) && self.nesting.get() >= MAX_RULE_NESTING {
            return Err(err(format!(
                "`each` and `items` nest more than {MAX_RULE_NESTING} levels deep"
            )));
        }
        let _level = Nested::enter(&self.nesting);
        let producer = if let Some(p) = &doc.source {
            Producer::Path(path(p)?)
        } else if let Some(v) = &doc.value {
            Producer::Const(v.clone())
        } else if let Some(name) = &doc.setting {
            let v = self.settings.get(name).ok_or_else(|| {
                err(format!(
                    "setting `{name}` is not defined in the template's `settings`"
                ))
            })?;
            Producer::Const(v.clone())
        } else if let Some(l) = &doc.lookup {
            let table = self
                .lookups
                .get(&l.table)
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    err(format!(
                        "lookup table `{}` is not defined in the template's `lookups`",
                        l.table
                    ))
                })?;
            Producer::Lookup {
                table_name: l.table.clone(),
                table: table.clone(),
                key: path(&l.source)?,
                default: l.default.clone().filter(|v| !v.is_null()),
            }
        } else if let Some(f) = &doc.format {
            Producer::Format(compile_format(f).map_err(err)?)
        } else if let Some(code) = &doc.expr {
            let expr = Expr::compile(code).map_err(|m| TemplateError {
                key: Some("expr"),
                ..err(format!("expression does not compile: {m}"))
            })?;
            Producer::Expr(Box::new(expr))
        } else if let Some(each) = &doc.each {
            let inner = format!("{label}[]");
            let mut rules = Vec::with_capacity(each.rules.len());
            for r in &each.rules {
                rules.push(self.rule(r, index, &inner)?);
            }
            check_overlaps(&rules, |_| index)?;
            let mut distribute = Vec::new();
            for d in &each.distribute {
                let dlabel = join_label(&inner, &d.target);
                let derr = |m: String| TemplateError {
                    key: None,
                    rule: index,
                    target: dlabel.clone(),
                    message: m,
                };
                let target = TargetPath::parse(&d.target).map_err(derr)?;
                if rules.iter().any(|r| r.target.overlaps(&target)) {
                    return Err(derr(
                        "`distribute` writes a target that a nested rule also writes".into(),
                    ));
                }
                distribute.push(Distribute {
                    target,
                    label: d.target.clone(),
                    total: SourcePath::parse(&d.total).map_err(derr)?,
                    line: d
                        .line
                        .as_deref()
                        .map(SourcePath::parse)
                        .transpose()
                        .map_err(derr)?,
                    weight: d
                        .weight
                        .iter()
                        .map(|w| SourcePath::parse(w))
                        .collect::<Result<_, _>>()
                        .map_err(derr)?,
                    as_: d.as_,
                    negate: d.negate,
                });
            }
            Producer::Each {
                source: path(&each.source)?,
                element_whole: rules_read_whole_record(&rules, true),
                rules: Rules::new(rules),
                distribute,
                append: self.items(&each.append, index, &inner)?,
            }
        } else if let Some(items) = &doc.items {
            Producer::Items(self.items(items, index, label)?)
        } else {
            unreachable!("exactly one source kind was counted")
        };

        let names: Vec<&str> = match &doc.transform {
            None => Vec::new(),
            Some(OneOrMany::One(n)) => vec![n.as_str()],
            Some(OneOrMany::Many(ns)) => ns.iter().map(String::as_str).collect(),
        };
        let mut transforms = Vec::with_capacity(names.len());
        for name in names {
            transforms.push(Transform::parse(name).ok_or_else(|| {
                err(format!(
                    "unknown transform `{name}` (known: {})",
                    Transform::NAMES
                ))
            })?);
        }

        let fallback = match &doc.fallback {
            None => None,
            Some(f) => {
                if f.target.is_some() || f.optional || f.default.is_some() || f.when.is_some() {
                    return Err(err(
                        "a `fallback` is only a source (with `transform` and its own `fallback`); `target`, `when`, `default` and `optional` belong to the rule".into(),
                    ));
                }
                Some(Box::new(self.spec(f, index, label)?))
            }
        };
        Ok(Spec {
            producer,
            transforms,
            fallback,
        })
    }

    /// `items`, and the items an `each` appends after its lines.
    fn items(
        &self,
        items: &[ItemDoc],
        index: usize,
        label: &str,
    ) -> Result<Vec<Item>, TemplateError> {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let inner = format!("{label}[{i}]");
            let mut rules = Vec::with_capacity(item.rules.len());
            for r in &item.rules {
                rules.push(self.rule(r, index, &inner)?);
            }
            check_overlaps(&rules, |_| index)?;
            let when = item
                .when
                .as_ref()
                .map(|c| compile_cond(c, self.settings))
                .transpose()
                .map_err(|message| TemplateError {
                    key: None,
                    rule: index,
                    target: inner.clone(),
                    message,
                })?;
            out.push(Item {
                when,
                rules: Rules::new(rules),
            });
        }
        Ok(out)
    }
}

/// One more level of rules inside rules while it lives.
struct Nested<'c>(&'c Cell<usize>);

impl<'c> Nested<'c> {
    fn enter(level: &'c Cell<usize>) -> Self {
        level.set(level.get() + 1);
        Self(level)
    }
}

impl Drop for Nested<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

fn join_label(prefix: &str, target: &str) -> String {
    if prefix.is_empty() {
        target.to_string()
    } else {
        format!("{prefix}.{target}")
    }
}

fn check_overlaps(rules: &[Rule], index_of: impl Fn(usize) -> usize) -> Result<(), TemplateError> {
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[..i] {
            // Two rules may write the same target when `when` picks one of them.
            if a.target.overlaps(&b.target) && a.when.is_none() && b.when.is_none() {
                return Err(TemplateError {
                    key: None,
                    rule: index_of(i),
                    target: a.label.clone(),
                    message: format!(
                        "target `{}` overlaps target `{}` of an earlier rule",
                        a.label, b.label
                    ),
                });
            }
        }
    }
    Ok(())
}

fn compile_cond(doc: &CondDoc, settings: &Map<String, Value>) -> Result<Cond, String> {
    Ok(match doc {
        CondDoc::Setting { name, equals } => match settings.get(name) {
            Some(v) => Cond::Const(v == equals),
            None => return Err(format!("condition names unknown setting `{name}`")),
        },
        CondDoc::Nonzero(p) => Cond::Nonzero(SourcePath::parse(p)?),
        CondDoc::Present(p) => Cond::Present(SourcePath::parse(p)?),
        CondDoc::Equals { source, value } => {
            Cond::Equals(SourcePath::parse(source)?, value.clone())
        }
        CondDoc::Not(c) => Cond::Not(Box::new(compile_cond(c, settings)?)),
    })
}

fn compile_format(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("format `{text}` has an unclosed `{{`")),
                    }
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut lit)));
                }
                let (name, optional) = match name.strip_suffix('?') {
                    Some(n) => (n, true),
                    None => (name.as_str(), false),
                };
                pieces.push(Piece::Path {
                    path: SourcePath::parse(name)?,
                    optional,
                });
            }
            '}' => return Err(format!("format `{text}` has a lone `}}` (write `}}}}`)")),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Text(lit));
    }
    Ok(pieces)
}

// ---------------------------------------------------------------- applying

/// What a source produced: a value, or nothing (with the reason).
enum Found<'t> {
    Value(Value),
    Nothing(Why<'t>),
}

/// Why a source produced nothing. Kept as data and rendered only when it
/// becomes an error: optional targets are often absent, and formatting a
/// message for each of them was a measurable share of a mapping.
enum Why<'t> {
    Absent(&'t SourcePath),
    Said(&'static str),
    NotInTable {
        key: String,
        table: &'t str,
    },
    MapsToNull(&'t str),
    /// The rule's own source, then its fallback's.
    Both(Box<Why<'t>>, Box<Why<'t>>),
}

impl std::fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Absent(p) => write!(f, "`{}` is absent", p.as_str()),
            Why::Said(text) => f.write_str(text),
            Why::NotInTable { key, table } => {
                write!(f, "`{key}` is not in lookup table `{table}`")
            }
            Why::MapsToNull(table) => write!(f, "lookup table `{table}` maps it to null"),
            Why::Both(first, second) => write!(f, "{first}; {second}"),
        }
    }
}

struct JaqEnv<'t> {
    inner: &'t Inner,
    record: OnceCell<Val>,
    settings: OnceCell<Val>,
    lookups: OnceCell<Val>,
}

struct Scope<'s, 't: 's> {
    record: &'s Value,
    current: &'s Value,
    env: &'s JaqEnv<'s>,
    /// The record's top level, with the keys that replace its own
    /// ([`CompiledTemplate::apply_over`]).
    tops: &'s TopKeys<'t>,
    /// Keys that replace `current`'s own: the overlay at the top, an
    /// element's patch in an `each`.
    current_over: Option<&'s Map<String, Value>>,
    patches: Option<&'s ElementPatches>,
}

impl<'s, 't: 's> Scope<'s, 't> {
    /// A path read where the rule is: the element in an `each`, else the
    /// record as the overlay shows it.
    fn get(&self, p: &SourcePath) -> Option<&'s Value> {
        if std::ptr::eq(self.current, self.record) {
            p.get_top(self.tops)
        } else {
            p.get_over(self.current_over, self.current)
        }
    }

    /// The patches of the elements of the array `each` reads, when it
    /// reads a top-level array at the top.
    fn element_patches(&self, source: &SourcePath) -> &'s [Patch] {
        match (self.patches, source.single_key()) {
            (Some(p), Some(key)) if std::ptr::eq(self.current, self.record) => p.array(key),
            _ => &[],
        }
    }

    fn get_root(&self, p: &SourcePath) -> Option<&'s Value> {
        p.get_top(self.tops)
    }
}

/// Evaluation results: the error is boxed because it is rare and large,
/// and every rule's result is moved through a few frames.
type Eval<T> = Result<T, Box<MappingError>>;

fn apply_rules(rules: &Rules, scope: &Scope<'_, '_>) -> Eval<Map<String, Value>> {
    let Some(layout) = &rules.layout else {
        let mut out = Map::new();
        for rule in &rules.list {
            if let Some(v) = rule_value(rule, scope)? {
                rule.target.set(&mut out, v);
            }
        }
        return Ok(out);
    };
    let mut slots = Vec::with_capacity(rules.list.len());
    for rule in &rules.list {
        slots.push(rule_value(rule, scope)?);
    }
    Ok(layout.build(&mut slots))
}

/// What one rule writes: `None` when its `when` does not hold, or when an
/// optional rule found nothing.
fn rule_value(rule: &Rule, scope: &Scope<'_, '_>) -> Eval<Option<Value>> {
    if let Some(cond) = &rule.when
        && !cond.holds(scope)
    {
        return Ok(None);
    }
    match rule.spec.eval(scope, &rule.label)? {
        Found::Value(v) => Ok(Some(v)),
        Found::Nothing(reason) => match &rule.default {
            Some(d) => Ok(Some(d.clone())),
            None if rule.optional => Ok(None),
            None => Err(MappingError {
                target: rule.label.clone(),
                message: format!("required value is missing: {reason}"),
                value: None,
            }
            .into()),
        },
    }
}

impl Spec {
    fn eval(&self, scope: &Scope<'_, '_>, label: &str) -> Eval<Found<'_>> {
        let found = self.producer.eval(scope, label)?;
        let found = match found {
            Found::Value(mut v) => {
                for t in &self.transforms {
                    v = apply_transform(*t, v).map_err(|(message, value)| MappingError {
                        target: label.to_string(),
                        message,
                        value: Some(value),
                    })?;
                }
                Found::Value(v)
            }
            nothing => nothing,
        };
        match (found, &self.fallback) {
            (Found::Nothing(reason), Some(fallback)) => match fallback.eval(scope, label)? {
                Found::Nothing(second) => Ok(Found::Nothing(Why::Both(
                    Box::new(reason),
                    Box::new(second),
                ))),
                value => Ok(value),
            },
            (found, _) => Ok(found),
        }
    }
}

impl Producer {
    fn eval(&self, scope: &Scope<'_, '_>, label: &str) -> Eval<Found<'_>> {
        Ok(match self {
            Producer::Path(p) => match scope.get(p) {
                Some(v) => Found::Value(v.clone()),
                None => Found::Nothing(Why::Absent(p)),
            },
            Producer::Const(v) if v.is_null() => Found::Nothing(Why::Said("the constant is null")),
            Producer::Const(v) => Found::Value(v.clone()),
            Producer::Lookup {
                table_name,
                table,
                key,
                default,
            } => {
                let hit = match scope.get(key) {
                    None => Err(Why::Absent(key)),
                    Some(Value::String(s)) => {
                        table.get(s.as_str()).ok_or_else(|| Why::NotInTable {
                            key: s.clone(),
                            table: table_name,
                        })
                    }
                    Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                        let k = v.to_string();
                        match table.get(&k) {
                            Some(hit) => Ok(hit),
                            None => Err(Why::NotInTable {
                                key: k,
                                table: table_name,
                            }),
                        }
                    }
                    Some(other) => {
                        return Err(MappingError {
                            target: label.to_string(),
                            message: format!(
                                "lookup key `{}` must be text or a number",
                                key.as_str()
                            ),
                            value: Some(other.clone()),
                        }
                        .into());
                    }
                };
                match (hit, default) {
                    (Ok(v), _) if !v.is_null() => Found::Value(v.clone()),
                    (_, Some(d)) => Found::Value(d.clone()),
                    (Ok(_), None) => Found::Nothing(Why::MapsToNull(table_name)),
                    (Err(reason), None) => Found::Nothing(reason),
                }
            }
            Producer::Format(pieces) => {
                let mut text = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => text.push_str(t),
                        Piece::Path { path, optional } => match scope.get(path) {
                            Some(Value::String(s)) => text.push_str(s),
                            Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                                text.push_str(&v.to_string())
                            }
                            Some(other) => {
                                return Err(MappingError {
                                    target: label.to_string(),
                                    message: format!(
                                        "`{}` must be text or a number to be formatted",
                                        path.as_str()
                                    ),
                                    value: Some(other.clone()),
                                }
                                .into());
                            }
                            None if *optional => {}
                            None => {
                                return Ok(Found::Nothing(Why::Absent(path)));
                            }
                        },
                    }
                }
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    Found::Nothing(Why::Said("the formatted text is empty"))
                } else if trimmed.len() == text.len() {
                    Found::Value(Value::String(text))
                } else {
                    Found::Value(Value::String(trimmed.to_string()))
                }
            }
            Producer::Expr(expr) => {
                let env = scope.env;
                let input = if std::ptr::eq(scope.current, scope.record) {
                    env.record
                        .get_or_init(|| engine::to_val(scope.record))
                        .clone()
                } else {
                    engine::to_val(scope.current)
                };
                let record = env
                    .record
                    .get_or_init(|| engine::to_val(scope.record))
                    .clone();
                let settings = env
                    .settings
                    .get_or_init(|| engine::to_val(&env.inner.settings))
                    .clone();
                let lookups = if expr.uses_lookups {
                    env.lookups
                        .get_or_init(|| engine::to_val(&env.inner.lookups))
                        .clone()
                } else {
                    Val::Null
                };
                match expr.eval(input, [settings, lookups, record]) {
                    Ok(Some(v)) => Found::Value(v),
                    Ok(None) => Found::Nothing(Why::Said("the expression produced no value")),
                    Err(message) => {
                        return Err(MappingError {
                            target: label.to_string(),
                            message: format!("expression failed: {message}"),
                            value: None,
                        }
                        .into());
                    }
                }
            }
            Producer::Each {
                source,
                rules,
                element_whole,
                distribute,
                append,
            } => {
                let Some(list) = scope.get(source) else {
                    return Ok(Found::Nothing(Why::Absent(source)));
                };
                let Some(elements) = list.as_array() else {
                    return Err(MappingError {
                        target: label.to_string(),
                        message: format!("`{}` must be an array", source.as_str()),
                        value: Some(list.clone()),
                    }
                    .into());
                };
                let patches = scope.element_patches(source);
                let mut outs = Vec::with_capacity(elements.len());
                let mut lines = Vec::with_capacity(elements.len());
                for (i, element) in elements.iter().enumerate() {
                    let patch = patches
                        .binary_search_by_key(&i, |(at, _)| *at)
                        .ok()
                        .map(|k| &patches[k].1);
                    let merged = patch.filter(|_| *element_whole).map(|keys| {
                        let mut whole = element.clone();
                        if let Some(m) = whole.as_object_mut() {
                            m.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
                        }
                        whole
                    });
                    let inner = Scope {
                        record: scope.record,
                        current: merged.as_ref().unwrap_or(element),
                        env: scope.env,
                        tops: scope.tops,
                        current_over: if merged.is_some() { None } else { patch },
                        patches: None,
                    };
                    let out = apply_rules(rules, &inner).map_err(|e| nest(e, label, i))?;
                    outs.push(out);
                    lines.push((element, patch));
                }
                for d in distribute {
                    d.apply(scope, &lines, &mut outs, label)?;
                }
                for item in append {
                    if item.when.as_ref().is_none_or(|c| c.holds(scope)) {
                        let i = outs.len();
                        outs.push(apply_rules(&item.rules, scope).map_err(|e| nest(e, label, i))?);
                    }
                }
                Found::Value(Value::Array(outs.into_iter().map(Value::Object).collect()))
            }
            Producer::Items(items) => {
                let mut outs = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(cond) = &item.when
                        && !cond.holds(scope)
                    {
                        continue;
                    }
                    let out = apply_rules(&item.rules, scope).map_err(|e| nest(e, label, i))?;
                    outs.push(Value::Object(out));
                }
                Found::Value(Value::Array(outs))
            }
        })
    }
}

/// Bind the paths that rules at the top read to the record's top-level
/// slots ([`SourcePath::bind_top`]); paths inside an `each` element are
/// the element's and stay as they are.
fn bind_rules(rules: &mut [Rule], names: &mut Vec<Box<str>>) {
    for rule in rules {
        if let Some(c) = &mut rule.when {
            c.bind_top(names);
        }
        bind_spec(&mut rule.spec, names);
    }
}

fn bind_spec(spec: &mut Spec, names: &mut Vec<Box<str>>) {
    let items = |items: &mut [Item], names: &mut Vec<Box<str>>| {
        for item in items {
            if let Some(c) = &mut item.when {
                c.bind_top(names);
            }
            bind_rules(&mut item.rules.list, names);
        }
    };
    match &mut spec.producer {
        Producer::Path(p) | Producer::Lookup { key: p, .. } => p.bind_top(names),
        Producer::Const(_) | Producer::Expr(_) => {}
        Producer::Format(pieces) => {
            for piece in pieces {
                if let Piece::Path { path, .. } = piece {
                    path.bind_top(names);
                }
            }
        }
        Producer::Each {
            source,
            distribute,
            append,
            ..
        } => {
            source.bind_top(names);
            for d in distribute {
                d.total.bind_top(names);
            }
            items(append, names);
        }
        Producer::Items(list) => items(list, names),
    }
    if let Some(f) = &mut spec.fallback {
        bind_spec(f, names);
    }
}

/// Whether rules at the top (`top`) or in an `each` element read the whole
/// record: any expression (it sees `$record`), or a `.` path at the top.
fn rules_read_whole_record(rules: &[Rule], top: bool) -> bool {
    rules.iter().any(|r| {
        r.when.as_ref().is_some_and(|c| c.whole_record(top))
            || spec_reads_whole_record(&r.spec, top)
    })
}

fn spec_reads_whole_record(spec: &Spec, top: bool) -> bool {
    let at_top = |p: &SourcePath| top && p.is_root();
    let items = |items: &[Item]| {
        items.iter().any(|i| {
            i.when.as_ref().is_some_and(|c| c.whole_record(top))
                || rules_read_whole_record(&i.rules.list, top)
        })
    };
    let producer = match &spec.producer {
        Producer::Path(p) => at_top(p),
        Producer::Const(_) => false,
        Producer::Lookup { key, .. } => at_top(key),
        Producer::Format(pieces) => pieces.iter().any(|piece| match piece {
            Piece::Text(_) => false,
            Piece::Path { path, .. } => at_top(path),
        }),
        Producer::Expr(_) => true,
        Producer::Each {
            source,
            rules,
            distribute,
            append,
            ..
        } => {
            at_top(source)
                || rules_read_whole_record(&rules.list, false)
                || distribute.iter().any(|d| d.total.is_root())
                || items(append)
        }
        Producer::Items(list) => items(list),
    };
    producer
        || spec
            .fallback
            .as_ref()
            .is_some_and(|f| spec_reads_whole_record(f, top))
}

/// Prefix a nested rule's error target with its element: `sotransitems[1].itemid`.
fn nest(mut e: Box<MappingError>, label: &str, i: usize) -> Box<MappingError> {
    let child = e
        .target
        .strip_prefix(label)
        .and_then(|rest| rest.strip_prefix("[]."))
        .map(str::to_string)
        .or_else(|| {
            e.target
                .strip_prefix(label)
                .and_then(|rest| rest.strip_prefix(&format!("[{i}].")))
                .map(str::to_string)
        })
        .unwrap_or_else(|| e.target.clone());
    e.target = format!("{label}[{i}].{child}");
    e
}

impl Distribute {
    fn apply(
        &self,
        scope: &Scope<'_, '_>,
        lines: &[(&Value, Option<&Map<String, Value>>)],
        outs: &mut [Map<String, Value>],
        label: &str,
    ) -> Eval<()> {
        let err = |i: Option<usize>, message: String, value: Option<Value>| {
            Box::new(MappingError {
                target: match i {
                    Some(i) => format!("{label}[{i}].{}", self.label),
                    None => format!("{label}[].{}", self.label),
                },
                message,
                value,
            })
        };
        let decimal = |v: &Value, what: &str, i: Option<usize>| {
            money::parse(v).ok_or_else(|| {
                err(
                    i,
                    format!("`{what}` is not a decimal amount"),
                    Some(v.clone()),
                )
            })
        };
        let mut fixed = Vec::with_capacity(lines.len());
        for (i, &(line, patch)) in lines.iter().enumerate() {
            fixed.push(
                match self
                    .line
                    .as_ref()
                    .and_then(|p| p.get_over(patch, line).map(|v| (p, v)))
                {
                    Some((p, v)) => decimal(v, p.as_str(), Some(i))?,
                    None => Decimal::ZERO,
                },
            );
        }
        let fixed_sum: Decimal = fixed.iter().copied().sum();
        let total = match scope.get_root(&self.total) {
            Some(v) => decimal(v, self.total.as_str(), None)?,
            None => fixed_sum,
        };
        let rest = total - fixed_sum;
        if lines.is_empty() {
            if !rest.is_zero() {
                return Err(err(
                    None,
                    format!(
                        "cannot distribute {rest} of `{}` over no lines",
                        self.total.as_str()
                    ),
                    None,
                ));
            }
            return Ok(());
        }
        // Weights matter only when the lines' own amounts leave a rest
        // (line taxes that add up to the order's tax leave none).
        let shares = if rest.is_zero() {
            None
        } else {
            let mut weights = Vec::with_capacity(lines.len());
            for (i, &(line, patch)) in lines.iter().enumerate() {
                let mut w = Decimal::ONE;
                for p in &self.weight {
                    let v = p.get_over(patch, line).ok_or_else(|| {
                        err(Some(i), format!("weight `{}` is absent", p.as_str()), None)
                    })?;
                    w *= decimal(v, p.as_str(), Some(i))?;
                }
                weights.push(w);
            }
            Some(money::allocate(rest, &weights))
        };
        for (i, (out, f)) in outs.iter_mut().zip(&fixed).enumerate() {
            let share = shares.as_ref().map_or(Decimal::ZERO, |s| s[i]);
            let amount = if self.negate {
                -(*f + share)
            } else {
                *f + share
            };
            let value = match self.as_ {
                AmountAs::String => Value::String(money::to_money_string(amount)),
                AmountAs::Number => money::to_number(amount)
                    .ok_or_else(|| err(Some(i), format!("{amount} is not a JSON number"), None))?,
            };
            self.target.set(out, value);
        }
        Ok(())
    }
}

impl Cond {
    fn holds(&self, scope: &Scope<'_, '_>) -> bool {
        match self {
            Cond::Const(b) => *b,
            Cond::Nonzero(p) => scope
                .get(p)
                .and_then(money::parse)
                .is_some_and(|d| !d.is_zero()),
            Cond::Present(p) => scope.get(p).is_some(),
            Cond::Equals(p, v) => scope.get(p) == Some(v),
            Cond::Not(c) => !c.holds(scope),
        }
    }

    fn bind_top(&mut self, names: &mut Vec<Box<str>>) {
        match self {
            Cond::Const(_) => {}
            Cond::Nonzero(p) | Cond::Present(p) | Cond::Equals(p, _) => p.bind_top(names),
            Cond::Not(c) => c.bind_top(names),
        }
    }

    /// Whether it reads the whole record (a `.` path at the top).
    fn whole_record(&self, top: bool) -> bool {
        match self {
            Cond::Const(_) => false,
            Cond::Nonzero(p) | Cond::Present(p) | Cond::Equals(p, _) => top && p.is_root(),
            Cond::Not(c) => c.whole_record(top),
        }
    }
}

/// Apply one transform; on failure, the message and the offending value.
fn apply_transform(t: Transform, v: Value) -> Result<Value, (String, Value)> {
    let fail = |what: &str, v: Value| Err((format!("cannot apply `{}`: {what}", name_of(t)), v));
    match t {
        Transform::Upper | Transform::Lower | Transform::Trim => match v {
            Value::String(mut s) => Ok(Value::String(match t {
                // ASCII text (SKUs, ids) is cased in place, without a new string.
                Transform::Upper if s.is_ascii() => {
                    s.make_ascii_uppercase();
                    s
                }
                Transform::Lower if s.is_ascii() => {
                    s.make_ascii_lowercase();
                    s
                }
                Transform::Upper => s.to_uppercase(),
                Transform::Lower => s.to_lowercase(),
                _ if s.trim().len() == s.len() => s,
                _ => s.trim().to_string(),
            })),
            other => fail("the value is not text", other),
        },
        Transform::String => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => fail("the value is not a scalar", other),
        },
        Transform::Decimal => match &v {
            Value::String(s) if money::parse(&v).is_some() && s.trim().len() == s.len() => Ok(v),
            _ => match money::parse(&v) {
                Some(d) => Ok(Value::String(d.to_string())),
                None => fail("the value is not a decimal", v),
            },
        },
        Transform::Number | Transform::Money => {
            let Some(d) = money::parse(&v) else {
                return fail("the value is not a decimal", v);
            };
            if matches!(t, Transform::Money) && !money::has_at_most_cents(d) {
                return fail("the amount has more than 2 decimal places", v);
            }
            match money::to_number(d) {
                Some(n) => Ok(n),
                None => fail("the value does not fit a JSON number", v),
            }
        }
        Transform::Negate => match money::parse(&v) {
            Some(d) => match v {
                Value::String(_) => Ok(Value::String((-d).to_string())),
                _ => money::to_number(-d).ok_or(("cannot negate".into(), v)),
            },
            None => fail("the value is not a decimal", v),
        },
        Transform::Date | Transform::DateParts | Transform::DateUs | Transform::Timestamp => {
            let Some(date) = v.as_str().and_then(parse_utc_date) else {
                return fail(
                    "the value is not an RFC 3339 timestamp or YYYY-MM-DD date",
                    v,
                );
            };
            let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
            Ok(if matches!(t, Transform::Date) {
                Value::String(format!("{y:04}-{m:02}-{d:02}"))
            } else if matches!(t, Transform::DateUs) {
                Value::String(format!("{m:02}/{d:02}/{y:04}"))
            } else if matches!(t, Transform::Timestamp) {
                Value::String(format!("{y:04}-{m:02}-{d:02}T00:00:00Z"))
            } else {
                let mut parts = Map::new();
                parts.insert("year".into(), Value::String(format!("{y:04}")));
                parts.insert("month".into(), Value::String(format!("{m:02}")));
                parts.insert("day".into(), Value::String(format!("{d:02}")));
                Value::Object(parts)
            })
        }
    }
}

fn name_of(t: Transform) -> &'static str {
    match t {
        Transform::Upper => "upper",
        Transform::Lower => "lower",
        Transform::Trim => "trim",
        Transform::String => "string",
        Transform::Decimal => "decimal",
        Transform::Number => "number",
        Transform::Money => "money",
        Transform::Negate => "negate",
        Transform::Date => "date",
        Transform::DateParts => "date_parts",
        Transform::DateUs => "date_us",
        Transform::Timestamp => "timestamp",
    }
}

/// The UTC calendar date of an RFC 3339 timestamp, or a plain `YYYY-MM-DD`.
fn parse_utc_date(s: &str) -> Option<time::Date> {
    let s = s.trim();
    if s.len() == 10 {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let us = time::macros::format_description!("[month]/[day]/[year]");
        return time::Date::parse(s, &format)
            .or_else(|_| time::Date::parse(s, &us))
            .ok();
    }
    // Intacct's generic timestamps: `MM/DD/YYYY HH:MM:SS`, no zone (read as UTC).
    if s.len() == 19 && s.as_bytes()[2] == b'/' {
        return parse_utc_date(&s[..10]);
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC).date())
}

#[cfg(test)]
mod tests;
