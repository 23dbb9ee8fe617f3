//! The whole mapping of one record, as the worker and the preview run it:
//! conversions → rules → schema validation → anomaly flags.
//!
//! [`map_record`] never stops at the first problem: every stage runs and
//! every [`ValidationIssue`] is collected, so a dead letter or a preview
//! shows all that needs fixing at once. Issues block the write; [`Flag`]s
//! (a fuzzy SKU match, an anomaly against the tenant's history) do not — they
//! are recorded on the run.
//!
//! # Conversions
//!
//! A template document may hold a `conversions` object. Each conversion is
//! optional; they are applied to the SOURCE record (copy-on-write), before the
//! rules, in this order, so the rules read standardized, tax-exclusive,
//! base-currency amounts and ERP item ids:
//!
//! ```json
//! "conversions": {
//!   "address":  { "paths": ["billingAddress", "shippingAddress"], "max_line": 30, "max_lines": 2 },
//!   "tax":      { "prices_setting": "tax_prices" },
//!   "currency": { "to_setting": "base_currency", "from": "currency", "date": "orderDate",
//!                 "amounts": ["subtotalAmount", "discountAmount", "shippingAmount", "taxAmount",
//!                             "totalAmount", "lineItems[].unitPrice", "lineItems[].tax",
//!                             "lineItems[].discount", "lineItems[].lineTotal"],
//!                 "balance": true, "store_as": "exchange" },
//!   "sku":      { "path": "lineItems[].sku", "name": "lineItems[].name", "table": "skus", "threshold": 0.85 }
//! }
//! ```
//!
//! Paths are dot paths of object keys; `[]` after a key visits every element
//! of that array (`lineItems[].sku`). An absent or null value is skipped.
//! Unknown keys, unknown settings or lookup tables and malformed paths are
//! refused when the template is saved, naming the key (`conversions.sku.treshold`).
//!
//! - `address`: every object at `paths` (Clarity's `line1`, `line2`, `city`,
//!   `region`, `postalCode`, `country`) is standardized in place
//!   ([`super::address::standardize`]): ISO 3166-1 alpha-2 country from a
//!   name or code, US/CA state and province codes, postal codes in their
//!   national shape, trimmed and cased text, street lines longer than
//!   `max_line` (default 60) split at a word into the next line, at most
//!   `max_lines` (default 2) lines. What cannot be made right is an issue on
//!   that field (`shippingAddress.region`), never a guess. An ERP record's
//!   address names its fields: `"fields": {"lines": ["ADDRESS1", "ADDRESS2",
//!   "ADDRESS3"], "city": "CITY", "region": "STATE", "postal_code": "ZIP",
//!   "country": "COUNTRY"}` (any left out keep Clarity's name); with named
//!   lines, `max_lines` defaults to their number and may not exceed it, and
//!   the lines are packed into the first `max_lines` of them.
//! - `tax`: `prices` is `"exclusive"` (nothing to do) or `"inclusive"`; or
//!   `prices_setting` names the template setting that says which. With
//!   inclusive prices each line's tax comes out of its price: the line's
//!   gross is round(quantity × unitPrice) (to the currency's minor unit), its
//!   tax is the line's `tax` when given, else round((gross − discount) ×
//!   rate / (1 + rate)) from the line's `rate` (a percentage, `20` or
//!   `"20%"`). The net unit price is (gross − tax) / quantity rounded UP to
//!   the minor unit, and the few minor units that rounding adds are added to
//!   the line's `discount` (and the order's `order_discount`), so the
//!   customer's total does not move by a cent. The order's `order_tax`
//!   becomes the lines' tax, `subtotal` the new Σ round(quantity × price),
//!   `line_total` each line's net. Field names default to Clarity's:
//!   `lines` `lineItems`, `quantity`, `unit_price` `unitPrice`, `tax`,
//!   `rate` `taxRate`, `discount`, `line_total` `lineTotal`, `order_tax`
//!   `taxAmount`, `order_discount` `discountAmount`, `subtotal`
//!   `subtotalAmount`, `currency`. `codes: {"table", "code", "write"}`
//!   also maps each line's tax code (or, without one, its rate, keys like
//!   `"7.25%"`) through a lookup table to the ERP tax detail, written at
//!   `write` on the line; an unmapped code is an issue.
//! - `currency`: the amounts at `amounts` are converted from the currency
//!   at `from` to `to` (a code) or `to_setting` (a template setting) at the
//!   tenant's rate effective on the date at `date` (an RFC 3339 timestamp or
//!   YYYY-MM-DD, taken in UTC), each rounded half away from zero to the
//!   target currency's minor unit. A missing rate is an issue on `from`
//!   (rule `reference`), never a guess: no inverse, no chain. Text amounts
//!   stay text, numbers stay numbers. `from` is rewritten to the target
//!   code, and `store_as` (optional) receives `{from, to, rate, rate_date}`.
//!   `balance: true` (or an object naming the fields, the same names and
//!   defaults as `tax` plus `total` `totalAmount`, `plus`
//!   `["shippingAmount", "taxAmount"]`, `minus` `["discountAmount"]`) then
//!   recomputes `subtotal` = Σ round(quantity × unitPrice), each
//!   `line_total`, and `total` = subtotal − minus + plus + the converted
//!   difference the source already had, so the converted order adds up to
//!   the minor unit exactly as the ERP will add it (line by line).
//! - `sku`: each SKU at `path` becomes the ERP item id: first the
//!   template's lookup table `table` (source SKU → ERP id, exact, then
//!   ignoring case and spaces), then the ERP catalog item with the same SKU
//!   up to case and spaces, then the closest catalog item by SKU and the
//!   line's `name` ([`super::sku`]). A fuzzy match scoring at least
//!   `threshold` (default 0.85) is used and flagged (`fuzzy_sku`); below it
//!   the line is an issue (rule `reference`) whose suggestion lists the three
//!   closest items. Without a catalog (none could be loaded) only the table
//!   applies.
//!
//! A template with no `conversions` maps the source record as it is. With
//! them, nothing is copied but the top-level values a conversion rewrites
//! (`lineItems` when a SKU changes, an address that was not standard yet):
//! the rules read those in place of the source's.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::address::{self, AddressInput, LineLimits};
use super::anomaly::{self, History};
use super::currency::{CurrencyCode, CurrencyError, RateTable};
use super::money;
use super::paths::ElementPatches;
use super::schema::TargetSchema;
use super::sku::{CatalogItem, Resolution, SkuResolver};
use super::tax::{TaxCodeMap, TaxRate};
use super::validate::{self, ReferenceCheck, Rule, ValidationIssue};
use super::{CompiledTemplate, MappingError, TemplateError};

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
        if inputs.history.is_some() && (conversions.address.is_some() || conversions.tax.is_some())
        {
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
        if inputs.history.is_some() && (conversions.address.is_some() || conversions.tax.is_some())
        {
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

// ---------------------------------------------------------------- compiled conversions

/// A template's conversions, checked when the template compiles.
#[derive(Debug, Clone, Default)]
pub struct Conversions {
    address: Option<AddressConv>,
    tax: Option<TaxConv>,
    currency: Option<CurrencyConv>,
    sku: Option<SkuConv>,
}

#[derive(Debug, Clone)]
struct AddressConv {
    paths: Vec<FieldPath>,
    limits: LineLimits,
    fields: AddressFields,
}

/// What an address's fields are called: Clarity's names unless the
/// template says (an ERP record's `ADDRESS1`, `STATE`, `ZIP` …).
#[derive(Debug, Clone)]
struct AddressFields {
    /// Street lines, in order.
    lines: Vec<String>,
    /// Lines beyond `lines` are named `line3`, `line4` … (Clarity's shape);
    /// with named lines there are no more than the names.
    numbered: bool,
    city: String,
    region: String,
    postal_code: String,
    country: String,
}

impl Default for AddressFields {
    fn default() -> Self {
        Self {
            lines: vec!["line1".into(), "line2".into()],
            numbered: true,
            city: "city".into(),
            region: "region".into(),
            postal_code: "postalCode".into(),
            country: "country".into(),
        }
    }
}

impl AddressFields {
    /// The key of street line `n` (from 1).
    fn line(&self, n: usize) -> Option<Cow<'_, str>> {
        match self.lines.get(n.wrapping_sub(1)) {
            Some(k) => Some(Cow::Borrowed(k)),
            None => self.numbered.then(|| Cow::Owned(format!("line{n}"))),
        }
    }

    /// The record's name for a field [`address::standardize`] reports
    /// (`postalCode`, `line2` …).
    fn name_of(&self, field: &str) -> String {
        match field {
            "city" => self.city.clone(),
            "region" => self.region.clone(),
            "postalCode" => self.postal_code.clone(),
            "country" => self.country.clone(),
            other => other
                .strip_prefix("line")
                .and_then(|n| n.parse().ok())
                .and_then(|n| self.line(n))
                .map_or_else(|| other.to_owned(), Cow::into_owned),
        }
    }
}

#[derive(Debug, Clone)]
struct OrderNames {
    lines: FieldPath,
    quantity: FieldPath,
    unit_price: FieldPath,
    discount: FieldPath,
    line_total: FieldPath,
    subtotal: FieldPath,
    currency: FieldPath,
}

#[derive(Debug, Clone)]
struct TaxConv {
    inclusive: bool,
    names: OrderNames,
    tax: FieldPath,
    rate: FieldPath,
    order_tax: FieldPath,
    order_discount: FieldPath,
    codes: Option<TaxCodes>,
}

#[derive(Debug, Clone)]
struct TaxCodes {
    table: String,
    map: TaxCodeMap,
    code: FieldPath,
    write: FieldPath,
}

#[derive(Debug, Clone)]
struct CurrencyConv {
    to: CurrencyCode,
    from: FieldPath,
    date: FieldPath,
    amounts: Vec<FieldPath>,
    balance: Option<Balance>,
    store_as: Option<FieldPath>,
}

#[derive(Debug, Clone)]
struct Balance {
    names: OrderNames,
    total: FieldPath,
    plus: Vec<FieldPath>,
    minus: Vec<FieldPath>,
}

#[derive(Debug, Clone)]
struct SkuConv {
    path: FieldPath,
    name: Option<FieldPath>,
    table_name: Option<String>,
    exact: HashMap<String, String>,
    normalized: HashMap<String, String>,
    threshold: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionsDoc {
    address: Option<Value>,
    tax: Option<Value>,
    currency: Option<Value>,
    sku: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressDoc {
    paths: Vec<String>,
    max_line: Option<usize>,
    max_lines: Option<usize>,
    /// Parsed on its own ([`AddressFieldsDoc`]) so that an unknown key is
    /// named with its full path.
    fields: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressFieldsDoc {
    lines: Option<Vec<String>>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NamesDoc {
    lines: Option<String>,
    quantity: Option<String>,
    unit_price: Option<String>,
    discount: Option<String>,
    line_total: Option<String>,
    subtotal: Option<String>,
    currency: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxDoc {
    prices: Option<String>,
    prices_setting: Option<String>,
    lines: Option<String>,
    quantity: Option<String>,
    unit_price: Option<String>,
    discount: Option<String>,
    line_total: Option<String>,
    subtotal: Option<String>,
    currency: Option<String>,
    tax: Option<String>,
    rate: Option<String>,
    order_tax: Option<String>,
    order_discount: Option<String>,
    codes: Option<TaxCodesDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxCodesDoc {
    table: String,
    code: Option<String>,
    write: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurrencyDoc {
    to: Option<String>,
    to_setting: Option<String>,
    from: Option<String>,
    date: Option<String>,
    #[serde(default)]
    amounts: Vec<String>,
    balance: Option<Value>,
    store_as: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BalanceDoc {
    lines: Option<String>,
    quantity: Option<String>,
    unit_price: Option<String>,
    discount: Option<String>,
    line_total: Option<String>,
    subtotal: Option<String>,
    currency: Option<String>,
    total: Option<String>,
    plus: Option<Vec<String>>,
    minus: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuDoc {
    path: Option<String>,
    name: Option<String>,
    table: Option<String>,
    threshold: Option<f64>,
}

/// Compile-time errors name the conversion key (`conversions.tax.prices`).
fn conv_error(key: &str, message: impl Into<String>) -> TemplateError {
    TemplateError {
        key: None,
        rule: 0,
        target: format!("conversions.{key}"),
        message: message.into(),
    }
}

/// serde's "unknown field `x`, expected one of …" names the key; put it in
/// the target too, so the error points at it.
fn parse_doc<T: for<'de> Deserialize<'de>>(key: &str, doc: &Value) -> Result<T, TemplateError> {
    T::deserialize(doc).map_err(|e| {
        let text = e.to_string();
        let target = text
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| format!("{key}.{name}"))
            .unwrap_or_else(|| key.to_owned());
        conv_error(&target, text)
    })
}

fn path_of(key: &str, text: Option<&str>, default: &str) -> Result<FieldPath, TemplateError> {
    FieldPath::parse(text.unwrap_or(default)).map_err(|m| conv_error(key, m))
}

/// A path that names one value in a line (no `[]`).
fn plain_path(key: &str, text: Option<&str>, default: &str) -> Result<FieldPath, TemplateError> {
    let p = path_of(key, text, default)?;
    if p.has_each() {
        return Err(conv_error(
            key,
            format!("`{}` must be a plain path, without `[]`", p.text),
        ));
    }
    Ok(p)
}

impl OrderNames {
    fn compile(key: &str, doc: &NamesDoc) -> Result<Self, TemplateError> {
        let k = |name: &str| format!("{key}.{name}");
        Ok(Self {
            lines: plain_path(&k("lines"), doc.lines.as_deref(), "lineItems")?,
            quantity: plain_path(&k("quantity"), doc.quantity.as_deref(), "quantity")?,
            unit_price: plain_path(&k("unit_price"), doc.unit_price.as_deref(), "unitPrice")?,
            discount: plain_path(&k("discount"), doc.discount.as_deref(), "discount")?,
            line_total: plain_path(&k("line_total"), doc.line_total.as_deref(), "lineTotal")?,
            subtotal: plain_path(&k("subtotal"), doc.subtotal.as_deref(), "subtotalAmount")?,
            currency: plain_path(&k("currency"), doc.currency.as_deref(), "currency")?,
        })
    }
}

impl Conversions {
    /// Check and compile a template's `conversions` object against its
    /// settings and lookup tables.
    pub(crate) fn compile(
        doc: &Value,
        settings: &Map<String, Value>,
        lookups: &Map<String, Value>,
    ) -> Result<Self, TemplateError> {
        if !doc.is_object() {
            return Err(TemplateError {
                key: None,
                rule: 0,
                target: "conversions".into(),
                message: "`conversions` must be an object (address, tax, currency, sku)".into(),
            });
        }
        let top = parse_top(doc)?;
        let setting_text = |key: &str, name: &str| -> Result<String, TemplateError> {
            match settings.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(conv_error(
                    key,
                    format!("setting `{name}` must be text, not {other}"),
                )),
                None => Err(conv_error(
                    key,
                    format!("setting `{name}` is not defined in the template's `settings`"),
                )),
            }
        };
        let table = |key: &str, name: &str| -> Result<&Map<String, Value>, TemplateError> {
            lookups.get(name).and_then(Value::as_object).ok_or_else(|| {
                conv_error(
                    key,
                    format!("lookup table `{name}` is not defined in the template's `lookups`"),
                )
            })
        };

        let address = match &top.address {
            None => None,
            Some(v) => {
                let d: AddressDoc = parse_doc("address", v)?;
                if d.paths.is_empty() {
                    return Err(conv_error("address.paths", "name at least one address"));
                }
                let mut fields = AddressFields::default();
                if let Some(f) = &d.fields {
                    let f: AddressFieldsDoc = parse_doc("address.fields", f)?;
                    let key = |name: &str, k: String| {
                        let k = k.trim();
                        if k.is_empty() || k.contains('.') {
                            return Err(conv_error(
                                &format!("address.fields.{name}"),
                                "must be one key of the address object (no dots)",
                            ));
                        }
                        Ok(k.to_owned())
                    };
                    if let Some(lines) = f.lines {
                        if lines.is_empty() {
                            return Err(conv_error(
                                "address.fields.lines",
                                "name at least one line",
                            ));
                        }
                        fields.lines = lines
                            .into_iter()
                            .enumerate()
                            .map(|(i, line)| key(&format!("lines[{i}]"), line))
                            .collect::<Result<_, _>>()?;
                        fields.numbered = false;
                    }
                    for (name, given, slot) in [
                        ("city", f.city, &mut fields.city),
                        ("region", f.region, &mut fields.region),
                        ("postal_code", f.postal_code, &mut fields.postal_code),
                        ("country", f.country, &mut fields.country),
                    ] {
                        if let Some(k) = given {
                            *slot = key(name, k)?;
                        }
                    }
                }
                let max_len = d.max_line.unwrap_or(60);
                let max_lines = d.max_lines.unwrap_or(if fields.numbered {
                    2
                } else {
                    fields.lines.len()
                });
                if !fields.numbered && max_lines > fields.lines.len() {
                    return Err(conv_error(
                        "address.max_lines",
                        format!(
                            "{max_lines} lines, but `fields.lines` names {}",
                            fields.lines.len()
                        ),
                    ));
                }
                if max_len < 10 {
                    return Err(conv_error(
                        "address.max_line",
                        format!("{max_len} is too short for a street line (at least 10)"),
                    ));
                }
                if max_lines == 0 {
                    return Err(conv_error("address.max_lines", "must be at least 1"));
                }
                Some(AddressConv {
                    paths: d
                        .paths
                        .iter()
                        .map(|p| FieldPath::parse(p).map_err(|m| conv_error("address.paths", m)))
                        .collect::<Result<_, _>>()?,
                    limits: LineLimits { max_len, max_lines },
                    fields,
                })
            }
        };

        let tax = match &top.tax {
            None => None,
            Some(v) => {
                let d: TaxDoc = parse_doc("tax", v)?;
                let (key, prices) = match (&d.prices, &d.prices_setting) {
                    (Some(p), None) => ("tax.prices", p.clone()),
                    (None, Some(s)) => {
                        ("tax.prices_setting", setting_text("tax.prices_setting", s)?)
                    }
                    _ => {
                        return Err(conv_error(
                            "tax.prices",
                            "give exactly one of `prices` (\"inclusive\" or \"exclusive\") and `prices_setting`",
                        ));
                    }
                };
                let inclusive = match prices.as_str() {
                    "inclusive" => true,
                    "exclusive" => false,
                    other => {
                        return Err(conv_error(
                            key,
                            format!("`{other}` is not `inclusive` or `exclusive`"),
                        ));
                    }
                };
                let names = OrderNames::compile(
                    "tax",
                    &NamesDoc {
                        lines: d.lines.clone(),
                        quantity: d.quantity.clone(),
                        unit_price: d.unit_price.clone(),
                        discount: d.discount.clone(),
                        line_total: d.line_total.clone(),
                        subtotal: d.subtotal.clone(),
                        currency: d.currency.clone(),
                    },
                )?;
                let codes = match &d.codes {
                    None => None,
                    Some(c) => {
                        let entries = table("tax.codes.table", &c.table)?;
                        let mut pairs = Vec::with_capacity(entries.len());
                        for (k, v) in entries {
                            let Some(detail) = v.as_str() else {
                                return Err(conv_error(
                                    "tax.codes.table",
                                    format!("lookup table `{}`: `{k}` must map to text", c.table),
                                ));
                            };
                            pairs.push((k.clone(), detail.to_owned()));
                        }
                        let map = TaxCodeMap::from_entries(pairs)
                            .map_err(|e| conv_error("tax.codes.table", e.to_string()))?;
                        Some(TaxCodes {
                            table: c.table.clone(),
                            map,
                            code: plain_path("tax.codes.code", c.code.as_deref(), "taxCode")?,
                            write: plain_path("tax.codes.write", Some(&c.write), "")?,
                        })
                    }
                };
                Some(TaxConv {
                    inclusive,
                    names,
                    tax: plain_path("tax.tax", d.tax.as_deref(), "tax")?,
                    rate: plain_path("tax.rate", d.rate.as_deref(), "taxRate")?,
                    order_tax: plain_path("tax.order_tax", d.order_tax.as_deref(), "taxAmount")?,
                    order_discount: plain_path(
                        "tax.order_discount",
                        d.order_discount.as_deref(),
                        "discountAmount",
                    )?,
                    codes,
                })
            }
        };

        let currency = match &top.currency {
            None => None,
            Some(v) => {
                let d: CurrencyDoc = parse_doc("currency", v)?;
                let (key, code) = match (&d.to, &d.to_setting) {
                    (Some(c), None) => ("currency.to", c.clone()),
                    (None, Some(s)) => (
                        "currency.to_setting",
                        setting_text("currency.to_setting", s)?,
                    ),
                    _ => {
                        return Err(conv_error(
                            "currency.to",
                            "give exactly one of `to` (a currency code) and `to_setting`",
                        ));
                    }
                };
                let to = CurrencyCode::parse(&code).map_err(|e| conv_error(key, e.to_string()))?;
                if d.amounts.is_empty() && d.balance.is_none() {
                    return Err(conv_error(
                        "currency.amounts",
                        "name the amounts to convert",
                    ));
                }
                let balance = match &d.balance {
                    None | Some(Value::Bool(false)) => None,
                    Some(Value::Bool(true)) => Some(Balance::compile(&BalanceDoc::default())?),
                    Some(v @ Value::Object(_)) => Some(Balance::compile(
                        &parse_doc::<BalanceDoc>("currency.balance", v)?,
                    )?),
                    Some(other) => {
                        return Err(conv_error(
                            "currency.balance",
                            format!("must be true, false or an object of field names, not {other}"),
                        ));
                    }
                };
                Some(CurrencyConv {
                    to,
                    from: plain_path("currency.from", d.from.as_deref(), "currency")?,
                    date: plain_path("currency.date", d.date.as_deref(), "orderDate")?,
                    amounts: d
                        .amounts
                        .iter()
                        .map(|p| FieldPath::parse(p).map_err(|m| conv_error("currency.amounts", m)))
                        .collect::<Result<_, _>>()?,
                    balance,
                    store_as: d
                        .store_as
                        .as_deref()
                        .map(|s| plain_path("currency.store_as", Some(s), ""))
                        .transpose()?,
                })
            }
        };

        let sku = match &top.sku {
            None => None,
            Some(v) => {
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
                    None if d.path.is_none() => {
                        Some(path_of("sku.name", None, "lineItems[].name")?)
                    }
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
                    for (k, v) in table("sku.table", t)? {
                        let Some(id) = v.as_str() else {
                            return Err(conv_error(
                                "sku.table",
                                format!(
                                    "lookup table `{t}`: `{k}` must map to an ERP item id (text)"
                                ),
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
                Some(SkuConv {
                    path,
                    name,
                    table_name: d.table.clone(),
                    exact,
                    normalized,
                    threshold,
                })
            }
        };

        Ok(Self {
            address,
            tax,
            currency,
            sku,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.address.is_none()
            && self.tax.is_none()
            && self.currency.is_none()
            && self.sku.is_none()
    }

    /// Whether the template resolves SKUs (and so wants the ERP catalog).
    pub fn resolves_skus(&self) -> bool {
        self.sku.is_some()
    }

    /// The name of the SKU lookup table, when the template resolves SKUs
    /// through one (`skus`).
    pub fn sku_table(&self) -> Option<&str> {
        self.sku.as_ref().and_then(|s| s.table_name.as_deref())
    }

    /// Address and tax: the record stays in its own currency.
    fn normalize(&self, record: &mut Value, run: &mut Stage<'_>) {
        if let Some(a) = &self.address {
            a.apply(record, run);
        }
        if let Some(t) = &self.tax {
            t.apply(record, run);
        }
    }

    /// Currency and SKU.
    fn convert(&self, record: &mut Value, inputs: &MappingInputs<'_>, run: &mut Stage<'_>) {
        if let Some(c) = &self.currency {
            c.apply(record, inputs.rates, run);
        }
        if let Some(s) = &self.sku {
            s.apply(record, inputs.catalog, run);
        }
    }
}

fn parse_top(doc: &Value) -> Result<ConversionsDoc, TemplateError> {
    ConversionsDoc::deserialize(doc).map_err(|e| {
        let text = e.to_string();
        let target = text
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| format!("conversions.{name}"))
            .unwrap_or_else(|| "conversions".to_owned());
        TemplateError {
            key: None,
            rule: 0,
            target,
            message: text,
        }
    })
}

impl Balance {
    fn compile(d: &BalanceDoc) -> Result<Self, TemplateError> {
        let list = |key: &str, given: &Option<Vec<String>>, default: &[&str]| {
            let texts: Vec<String> = match given {
                Some(v) => v.clone(),
                None => default.iter().map(|s| (*s).to_owned()).collect(),
            };
            texts
                .iter()
                .map(|t| plain_path(key, Some(t), ""))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            names: OrderNames::compile(
                "currency.balance",
                &NamesDoc {
                    lines: d.lines.clone(),
                    quantity: d.quantity.clone(),
                    unit_price: d.unit_price.clone(),
                    discount: d.discount.clone(),
                    line_total: d.line_total.clone(),
                    subtotal: d.subtotal.clone(),
                    currency: d.currency.clone(),
                },
            )?,
            total: plain_path("currency.balance.total", d.total.as_deref(), "totalAmount")?,
            plus: list(
                "currency.balance.plus",
                &d.plus,
                &["shippingAmount", "taxAmount"],
            )?,
            minus: list("currency.balance.minus", &d.minus, &["discountAmount"])?,
        })
    }
}

// ---------------------------------------------------------------- applying

/// The record as the conversions so far left it: top-level keys in `over`
/// replace the source's.
#[derive(Clone, Copy)]
struct View<'v> {
    over: &'v Map<String, Value>,
    base: &'v Map<String, Value>,
}

impl<'v> View<'v> {
    fn get(&self, key: &str) -> Option<&'v Value> {
        self.over.get(key).or_else(|| self.base.get(key))
    }
}

/// A copy-on-write view of the source: a conversion about to write under a
/// top-level key first copies that key's value (only that one) into
/// `record`, and works on `record` as on a whole record. Keys no conversion
/// writes are never copied.
struct Overlay<'s> {
    base: &'s Map<String, Value>,
    /// Always an object: the copied (and created) top-level keys.
    record: Value,
    /// Keys changed inside elements of arrays `record` did not copy. Only
    /// the SKU conversion, the last, writes them, so [`Self::view`] need
    /// not show them.
    patches: ElementPatches,
}

impl Overlay<'_> {
    fn view(&self) -> View<'_> {
        View {
            over: self.over(),
            base: self.base,
        }
    }

    fn over(&self) -> &Map<String, Value> {
        self.record.as_object().expect("the overlay is an object")
    }

    /// Copy the top-level keys the paths start with, unless copied already.
    fn ensure<'p>(&mut self, paths: impl IntoIterator<Item = &'p FieldPath>) {
        let over = self
            .record
            .as_object_mut()
            .expect("the overlay is an object");
        for p in paths {
            let key = p.first_key();
            if !over.contains_key(key)
                && let Some(v) = self.base.get(key)
            {
                over.insert(key.to_owned(), v.clone());
            }
        }
    }

    /// The whole record: the source with the overlay's keys in place.
    fn merged(&self) -> Value {
        let mut all = self.base.clone();
        for (k, v) in self.over() {
            all.insert(k.clone(), v.clone());
        }
        self.patches.apply_to(&mut all);
        Value::Object(all)
    }
}

impl OrderNames {
    fn paths(&self) -> [&FieldPath; 7] {
        [
            &self.lines,
            &self.quantity,
            &self.unit_price,
            &self.discount,
            &self.line_total,
            &self.subtotal,
            &self.currency,
        ]
    }
}

impl Conversions {
    /// Address and tax on the overlay, copying only what they rewrite.
    fn normalize_over(&self, o: &mut Overlay<'_>, run: &mut Stage<'_>) {
        if let Some(a) = &self.address {
            for path in &a.paths {
                if a.needs_work(path, o.view()) {
                    o.ensure([path]);
                    a.apply_path(path, &mut o.record, run);
                }
            }
        }
        if let Some(t) = &self.tax {
            // Exclusive prices without codes: nothing to do.
            if t.inclusive || t.codes.is_some() {
                let n = &t.names;
                o.ensure(n.paths());
                o.ensure([&t.tax, &t.rate, &t.order_tax, &t.order_discount]);
                if let Some(c) = &t.codes {
                    o.ensure([&c.code, &c.write]);
                }
                t.apply(&mut o.record, run);
            }
        }
    }

    /// Currency and SKU on the overlay.
    fn convert_over(&self, o: &mut Overlay<'_>, inputs: &MappingInputs<'_>, run: &mut Stage<'_>) {
        if let Some(c) = &self.currency {
            let same = c
                .from
                .get_view(o.view())
                .and_then(Value::as_str)
                .and_then(|s| CurrencyCode::parse(s).ok())
                .is_some_and(|from| from == c.to);
            if same {
                c.apply_same(o, inputs.rates, run);
            } else {
                o.ensure([&c.from, &c.date].into_iter().chain(&c.store_as));
                o.ensure(&c.amounts);
                if let Some(b) = &c.balance {
                    o.ensure(b.names.paths());
                    o.ensure([&b.total].into_iter().chain(&b.plus).chain(&b.minus));
                }
                c.apply(&mut o.record, inputs.rates, run);
            }
        }
        if let Some(s) = &self.sku {
            let changes = s.changes(o.view(), inputs.catalog, run);
            if !changes.is_empty() {
                s.write_over(o, changes);
            }
        }
    }
}

/// Where a stage reports.
struct Stage<'r> {
    record_id: &'r str,
    issues: &'r mut Vec<ValidationIssue>,
    flags: &'r mut Vec<Flag>,
    /// SKUs already reported as unknown, with their candidates.
    unresolved: &'r mut HashSet<String>,
}

impl Stage<'_> {
    fn issue(
        &mut self,
        field: String,
        value: Option<Value>,
        rule: Rule,
        message: String,
        suggestion: Option<String>,
    ) {
        self.issues.push(ValidationIssue {
            record: self.record_id.to_owned(),
            field,
            value,
            rule,
            message,
            suggestion,
        });
    }
}

impl AddressConv {
    fn apply(&self, record: &mut Value, run: &mut Stage<'_>) {
        for path in &self.paths {
            self.apply_path(path, record, run);
        }
    }

    /// Whether some address at `path` would change (or be refused).
    fn needs_work(&self, path: &FieldPath, view: View<'_>) -> bool {
        let mut needed = false;
        path.visit_view(view, &mut |_, v| {
            if let Some(fields) = v.as_object() {
                needed = needed || !already_standard(fields, &self.fields, self.limits);
            }
        });
        needed
    }

    fn apply_path(&self, path: &FieldPath, record: &mut Value, run: &mut Stage<'_>) {
        {
            path.visit_mut(record, &mut |at, value| {
                let Some(fields) = value.as_object_mut() else {
                    return;
                };
                let names = &self.fields;
                if already_standard(fields, names, self.limits) {
                    return;
                }
                let standardized = {
                    let text = |k: &str| fields.get(k).and_then(Value::as_str);
                    let input = AddressInput {
                        lines: names.lines.iter().filter_map(|k| text(k)).collect(),
                        city: text(&names.city),
                        region: text(&names.region),
                        postal_code: text(&names.postal_code),
                        country: text(&names.country),
                    };
                    address::standardize(&input, self.limits)
                };
                match standardized {
                    Ok(std) => {
                        // Most addresses are already standard: write only what changed.
                        let mut put = |k: &str, v: Option<&str>| match v {
                            Some(v) if fields.get(k).and_then(Value::as_str) == Some(v) => {}
                            Some(v) => {
                                fields.insert(k.to_owned(), Value::String(v.to_owned()));
                            }
                            None => {
                                if fields.get(k).is_some_and(|x| !x.is_null()) {
                                    fields.remove(k);
                                }
                            }
                        };
                        for (i, key) in names.lines.iter().enumerate() {
                            put(key, std.line(i + 1));
                        }
                        for extra in names.lines.len() + 1..=std.lines.len() {
                            if let Some(key) = names.line(extra) {
                                put(&key, std.line(extra));
                            }
                        }
                        put(&names.city, std.city.as_deref());
                        put(&names.region, std.region.as_deref());
                        put(&names.postal_code, std.postal_code.as_deref());
                        put(&names.country, std.country.as_deref());
                    }
                    Err(e) => {
                        let field = format!("{}.{}", path.render(at), names.name_of(&e.field));
                        let rule = match e.field.as_str() {
                            "country" | "region" => Rule::Enum,
                            "postalCode" => Rule::Type,
                            _ => Rule::MaxLen,
                        };
                        let suggestion = match e.field.as_str() {
                            "country" => {
                                "use an ISO 3166-1 country code or English name (US, Germany)"
                                    .to_owned()
                            }
                            "region" => {
                                "use the two-letter state or province code (CA, ON)".to_owned()
                            }
                            "postalCode" => {
                                "correct the postal code in the source system".to_owned()
                            }
                            _ => format!(
                                "shorten the street lines to {} characters or fewer each",
                                self.limits.max_len
                            ),
                        };
                        run.issue(
                            field,
                            Some(Value::String(e.value.clone())),
                            rule,
                            e.to_string(),
                            Some(suggestion),
                        );
                    }
                }
            });
        }
    }
}

/// Whether standardizing the address in `fields` would write nothing: every
/// field absent, null or text that [`address::is_standard`] accepts. Most
/// orders come from a shop that already stores clean addresses.
fn already_standard(
    fields: &Map<String, Value>,
    names: &AddressFields,
    limits: LineLimits,
) -> bool {
    // `None` for absent or null; `Err` for a value standardizing would drop.
    let text = |key: &str| match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(()),
    };
    let mut buffer = [""; 4];
    let (mut count, mut gap) = (0, false);
    for key in &names.lines {
        match text(key) {
            Err(()) => return false,
            Ok(None) => gap = true,
            // A line after an absent one moves up; more lines than the
            // buffer holds take the full path.
            Ok(Some(_)) if gap || count == buffer.len() => return false,
            Ok(Some(line)) => {
                buffer[count] = line;
                count += 1;
            }
        }
    }
    let (Ok(city), Ok(region), Ok(postal_code), Ok(country)) = (
        text(&names.city),
        text(&names.region),
        text(&names.postal_code),
        text(&names.country),
    ) else {
        return false;
    };
    address::is_standard(&buffer[..count], city, region, postal_code, country, limits)
}

/// The minor units of the record's currency (2 when it has none or an
/// unknown one: the rounding then matches cents, what most shops use).
fn minor_units(record: &Value, currency: &FieldPath) -> u32 {
    currency
        .get(record)
        .and_then(Value::as_str)
        .and_then(|c| CurrencyCode::parse(c).ok())
        .map_or(2, |c| c.minor_units())
}

fn round_to(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// A decimal written back as the kind of value it replaces: text stays text
/// (with `dp` decimals), numbers stay numbers.
fn amount_like(original: &Value, d: Decimal, dp: u32) -> Value {
    match original {
        Value::Number(_) => money::to_number(d).unwrap_or_else(|| Value::String(d.to_string())),
        _ => {
            let mut d = d;
            d.rescale(dp);
            Value::String(d.to_string())
        }
    }
}

/// A tax rate as a percentage: `20`, `"20"`, `"20%"`, `"7.25 %"`.
fn parse_rate(v: &Value) -> Option<TaxRate> {
    let d = match v {
        Value::String(s) => Decimal::from_str(s.trim().trim_end_matches('%').trim()).ok()?,
        other => money::parse(other)?,
    };
    TaxRate::from_percent(d).ok()
}

impl TaxConv {
    fn apply(&self, record: &mut Value, run: &mut Stage<'_>) {
        if let Some(codes) = &self.codes {
            self.map_codes(codes, record, run);
        }
        if !self.inclusive {
            return;
        }
        let n = &self.names;
        let dp = minor_units(record, &n.currency);
        let lines_label = n.lines.text.clone();
        let Some(lines) = n.lines.get_mut(record).and_then(Value::as_array_mut) else {
            return;
        };
        let mut ok = true;
        let (mut subtotal, mut tax_sum, mut rest_sum) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for (i, line) in lines.iter_mut().enumerate() {
            let at = |p: &FieldPath| format!("{lines_label}[{i}].{}", p.text);
            let number =
                |p: &FieldPath, line: &Value| -> Result<Option<Decimal>, (String, Value)> {
                    match p.get(line) {
                        None => Ok(None),
                        Some(v) => money::parse(v).map(Some).ok_or_else(|| (at(p), v.clone())),
                    }
                };
            let read = (|| {
                let qty = number(&n.quantity, line)?;
                let price = number(&n.unit_price, line)?;
                let discount = number(&n.discount, line)?.unwrap_or_default();
                let tax = number(&self.tax, line)?;
                Ok::<_, (String, Value)>((qty, price, discount, tax))
            })();
            let (qty, price, discount, given_tax) = match read {
                Ok(v) => v,
                Err((field, value)) => {
                    run.issue(
                        field,
                        Some(value),
                        Rule::Type,
                        "not a decimal amount".into(),
                        Some("send amounts as decimal text or numbers".into()),
                    );
                    ok = false;
                    continue;
                }
            };
            let (Some(qty), Some(price)) = (qty, price) else {
                let missing = if qty.is_none() {
                    &n.quantity
                } else {
                    &n.unit_price
                };
                run.issue(
                    at(missing),
                    None,
                    Rule::Required,
                    "a line with tax-inclusive prices needs a quantity and a unit price".into(),
                    None,
                );
                ok = false;
                continue;
            };
            let gross = round_to(qty * price, dp);
            let tax = match given_tax {
                Some(t) => t,
                None => match self.rate.get(line) {
                    Some(r) => match parse_rate(r) {
                        Some(rate) => {
                            let f = rate.fraction();
                            round_to((gross - discount) * f / (Decimal::ONE + f), dp)
                        }
                        None => {
                            run.issue(
                                at(&self.rate),
                                Some(r.clone()),
                                Rule::Type,
                                "not a tax rate between 0 % and 100 %".into(),
                                Some("send the rate as a percentage, e.g. 20 or \"20%\"".into()),
                            );
                            ok = false;
                            continue;
                        }
                    },
                    None => {
                        run.issue(
                            at(&self.tax),
                            None,
                            Rule::Required,
                            format!(
                                "with tax-inclusive prices each line needs its tax (`{}`) or its rate (`{}`)",
                                self.tax.text, self.rate.text
                            ),
                            None,
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            if qty.is_zero() {
                // Nothing to divide; the line carries no amount either way.
                continue;
            }
            // Rounded up, so the few minor units the rounding adds can go to
            // the discount and the customer's total stays put.
            let net_price = (gross - tax) / qty;
            let net_price = net_price.round_dp_with_strategy(
                dp,
                if net_price.is_sign_negative() {
                    RoundingStrategy::ToNegativeInfinity
                } else {
                    RoundingStrategy::ToPositiveInfinity
                },
            );
            let extended = round_to(qty * net_price, dp);
            let rest = extended - (gross - tax);
            let orig_price = n.unit_price.get(line).cloned().unwrap_or(Value::Null);
            n.unit_price
                .set(line, amount_like(&orig_price, net_price, dp));
            let orig = n
                .discount
                .get(line)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            n.discount
                .set(line, amount_like(&orig, discount + rest, dp));
            let orig = self
                .tax
                .get(line)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            self.tax.set(line, amount_like(&orig, tax, dp));
            let orig = n
                .line_total
                .get(line)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            n.line_total
                .set(line, amount_like(&orig, extended - discount - rest, dp));
            subtotal += extended;
            tax_sum += tax;
            rest_sum += rest;
        }
        if !ok {
            return;
        }
        let order_discount = self
            .order_discount
            .get(record)
            .and_then(money::parse)
            .unwrap_or_default();
        for (p, d) in [
            (&n.subtotal, subtotal),
            (&self.order_tax, tax_sum),
            (&self.order_discount, order_discount + rest_sum),
        ] {
            let orig = p
                .get(record)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            p.set(record, amount_like(&orig, d, dp));
        }
    }

    fn map_codes(&self, codes: &TaxCodes, record: &mut Value, run: &mut Stage<'_>) {
        let lines_label = self.names.lines.text.clone();
        let Some(lines) = self
            .names
            .lines
            .get_mut(record)
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        for (i, line) in lines.iter_mut().enumerate() {
            let code = codes.code.get(line).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            let rate = self.rate.get(line).and_then(parse_rate);
            match codes.map.resolve(code.as_deref(), rate) {
                Ok(detail) => {
                    let detail = detail.to_owned();
                    codes.write.set(line, Value::String(detail));
                }
                Err(e) => {
                    let (field, value) = match &code {
                        Some(c) => (&codes.code, Some(Value::String(c.clone()))),
                        None => (&self.rate, self.rate.get(line).cloned()),
                    };
                    run.issue(
                        format!("{lines_label}[{i}].{}", field.text),
                        value,
                        Rule::Reference,
                        e.to_string(),
                        Some(format!(
                            "add it to the `{}` lookup table with the ERP's tax detail id",
                            codes.table
                        )),
                    );
                }
            }
        }
    }
}

/// An RFC 3339 timestamp's UTC date, or a plain `YYYY-MM-DD`.
fn utc_date(text: &str) -> Option<time::Date> {
    let s = text.trim();
    if s.len() == 10 {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        return time::Date::parse(s, &format).ok();
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC).date())
}

impl CurrencyConv {
    fn apply(&self, record: &mut Value, rates: &RateTable, run: &mut Stage<'_>) {
        let Some((from, rate_date, rate)) =
            self.rate(self.from.get(record), self.date.get(record), rates, run)
        else {
            return;
        };
        let from_value = self.from.get(record).cloned();
        // Read before anything is converted: the balance keeps whatever
        // difference the source already had, converted. In the same
        // currency nothing moves, so there is nothing to balance.
        let source_gap = self
            .balance
            .as_ref()
            .filter(|_| from != self.to)
            .map(|b| b.gap(record, from.minor_units()));
        let dp = self.to.minor_units();
        if from != self.to {
            for path in &self.amounts {
                let mut bad: Vec<(String, Value)> = Vec::new();
                path.visit_mut(record, &mut |at, v| match money::parse(v) {
                    Some(d) => match d.checked_mul(rate) {
                        Some(c) => *v = amount_like(v, round_to(c, dp), dp),
                        None => bad.push((path.render(at), v.clone())),
                    },
                    None => bad.push((path.render(at), v.clone())),
                });
                for (field, value) in bad {
                    run.issue(
                        field,
                        Some(value),
                        Rule::Type,
                        "not a decimal amount (or too large to convert)".into(),
                        None,
                    );
                }
            }
        }
        if let Some(b) = self.balance.as_ref().filter(|_| from != self.to) {
            let balanced = source_gap
                .expect("computed when there is a balance")
                .and_then(|gap| b.apply(record, dp, round_to(gap * rate, dp)));
            if let Err((field, value)) = balanced {
                run.issue(
                    field,
                    value,
                    Rule::Type,
                    "not a decimal amount".into(),
                    None,
                );
            }
        }
        if from_value.as_ref().and_then(Value::as_str) != Some(self.to.as_str()) {
            self.from
                .set(record, Value::String(self.to.as_str().to_owned()));
        }
        if let Some(store) = &self.store_as {
            store.set(record, self.exchange(from, rate_date, rate));
        }
    }

    /// A record already in the target currency on the overlay: nothing is
    /// converted, so only the code's spelling (`usd`) and `store_as` may be
    /// written, and nothing else is copied.
    fn apply_same(&self, o: &mut Overlay<'_>, rates: &RateTable, run: &mut Stage<'_>) {
        let view = o.view();
        let (from_value, date) = (self.from.get_view(view), self.date.get_view(view));
        let Some((from, rate_date, rate)) = self.rate(from_value, date, rates, run) else {
            return;
        };
        if from_value.and_then(Value::as_str) != Some(self.to.as_str()) {
            o.ensure([&self.from]);
            self.from
                .set(&mut o.record, Value::String(self.to.as_str().to_owned()));
        }
        if let Some(store) = &self.store_as {
            let info = self.exchange(from, rate_date, rate);
            o.ensure([store]);
            store.set(&mut o.record, info);
        }
    }

    /// What `store_as` records: `{from, to, rate, rate_date}`.
    fn exchange(&self, from: CurrencyCode, rate_date: time::Date, rate: Decimal) -> Value {
        let mut info = Map::new();
        info.insert("from".into(), Value::String(from.as_str().to_owned()));
        info.insert("to".into(), Value::String(self.to.as_str().to_owned()));
        // The same currency, rate 1, is the common case: skip normalizing.
        let rate_text = if rate == Decimal::ONE {
            "1".to_owned()
        } else {
            rate.normalize().to_string()
        };
        info.insert("rate".into(), Value::String(rate_text));
        info.insert(
            "rate_date".into(),
            Value::String(format!(
                "{:04}-{:02}-{:02}",
                rate_date.year(),
                u8::from(rate_date.month()),
                rate_date.day()
            )),
        );
        Value::Object(info)
    }

    /// The record's currency, and the rate (with its date) to convert it on
    /// the record's date; `None` after reporting why there is none.
    fn rate(
        &self,
        from_value: Option<&Value>,
        date_value: Option<&Value>,
        rates: &RateTable,
        run: &mut Stage<'_>,
    ) -> Option<(CurrencyCode, time::Date, Decimal)> {
        let from = match from_value {
            None => {
                run.issue(
                    self.from.text.clone(),
                    None,
                    Rule::Required,
                    format!(
                        "the record has no currency, so its amounts cannot be converted to {}",
                        self.to
                    ),
                    Some(format!("send `{}` on every record", self.from.text)),
                );
                return None;
            }
            Some(v) => match v.as_str().map(CurrencyCode::parse) {
                Some(Ok(c)) => c,
                _ => {
                    run.issue(
                        self.from.text.clone(),
                        Some(v.clone()),
                        Rule::Type,
                        format!("{v} is not an ISO 4217 currency code"),
                        Some("send a three-letter code such as USD or EUR".into()),
                    );
                    return None;
                }
            },
        };
        let Some(date) = date_value.and_then(Value::as_str).and_then(utc_date) else {
            run.issue(
                self.date.text.clone(),
                date_value.cloned(),
                Rule::Required,
                "the record needs a date (RFC 3339 or YYYY-MM-DD) to pick the exchange rate".into(),
                None,
            );
            return None;
        };
        let (rate_date, rate) = if from == self.to {
            (date, Decimal::ONE)
        } else {
            match rates.rate_on(from, self.to, date) {
                Ok(r) => r,
                Err(e @ CurrencyError::MissingRate { .. }) => {
                    run.issue(
                        self.from.text.clone(),
                        from_value.cloned(),
                        Rule::Reference,
                        e.to_string(),
                        Some(format!(
                            "add a {from}→{} rate effective on or before {date} to the tenant's rate table, then replay",
                            self.to
                        )),
                    );
                    return None;
                }
                Err(e) => {
                    run.issue(
                        self.from.text.clone(),
                        from_value.cloned(),
                        Rule::Reference,
                        e.to_string(),
                        None,
                    );
                    return None;
                }
            }
        };
        Some((from, rate_date, rate))
    }
}

type Bad = (String, Option<Value>);

impl Balance {
    fn read(p: &FieldPath, v: &Value, label: impl Fn() -> String) -> Result<Decimal, Bad> {
        match p.get(v) {
            None => Ok(Decimal::ZERO),
            Some(x) => money::parse(x).ok_or_else(|| (label(), Some(x.clone()))),
        }
    }

    /// Σ round(q × p) − minus + plus, as the ERP adds the order.
    fn parts(&self, record: &Value, dp: u32) -> Result<Decimal, Bad> {
        let n = &self.names;
        let mut sum = Decimal::ZERO;
        if let Some(lines) = n.lines.get(record).and_then(Value::as_array) {
            for (i, line) in lines.iter().enumerate() {
                let label = |p: &FieldPath| format!("{}[{i}].{}", n.lines.text, p.text);
                let q = Self::read(&n.quantity, line, || label(&n.quantity))?;
                let p = Self::read(&n.unit_price, line, || label(&n.unit_price))?;
                sum += round_to(q * p, dp);
            }
        }
        for p in &self.plus {
            sum += Self::read(p, record, || p.text.clone())?;
        }
        for p in &self.minus {
            sum -= Self::read(p, record, || p.text.clone())?;
        }
        Ok(sum)
    }

    /// What the source's stated total differs from its parts by.
    fn gap(&self, record: &Value, dp: u32) -> Result<Decimal, Bad> {
        let total = Self::read(&self.total, record, || self.total.text.clone())?;
        Ok(total - self.parts(record, dp)?)
    }

    fn apply(&self, record: &mut Value, dp: u32, gap: Decimal) -> Result<(), Bad> {
        let n = &self.names;
        let mut subtotal = Decimal::ZERO;
        let lines_label = n.lines.text.clone();
        if let Some(lines) = n.lines.get_mut(record).and_then(Value::as_array_mut) {
            for (i, line) in lines.iter_mut().enumerate() {
                let label = |p: &FieldPath| format!("{lines_label}[{i}].{}", p.text);
                let q = Self::read(&n.quantity, line, || label(&n.quantity))?;
                let p = Self::read(&n.unit_price, line, || label(&n.unit_price))?;
                let d = Self::read(&n.discount, line, || label(&n.discount))?;
                let extended = round_to(q * p, dp);
                subtotal += extended;
                if let Some(orig) = n.line_total.get(line).cloned() {
                    n.line_total.set(line, amount_like(&orig, extended - d, dp));
                }
            }
        }
        if let Some(orig) = n.subtotal.get(record).cloned() {
            n.subtotal.set(record, amount_like(&orig, subtotal, dp));
        }
        let total = self.parts(record, dp)? + gap;
        let orig = self
            .total
            .get(record)
            .cloned()
            .unwrap_or(Value::String(String::new()));
        self.total.set(record, amount_like(&orig, total, dp));
        Ok(())
    }
}

/// The form two SKUs must share to be the same: no whitespace, one case.
fn sku_key(sku: &str) -> String {
    sku.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

impl SkuConv {
    fn table_hint(&self) -> String {
        match &self.table_name {
            Some(t) => format!("add it to the template's `{t}` lookup table"),
            None => "add a `table` to the template's sku conversion and map it there".to_owned(),
        }
    }

    fn apply(&self, record: &mut Value, catalog: Option<&SkuResolver>, run: &mut Stage<'_>) {
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

// ---------------------------------------------------------------- paths

/// `a.b[].c`: object keys, `[]` after a key meaning every element.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldPath {
    text: String,
    steps: Vec<(String, bool)>,
}

impl FieldPath {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the path is empty".into());
        }
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (key, each) = match part.strip_suffix("[]") {
                Some(k) => (k, true),
                None => (part, false),
            };
            if key.is_empty()
                || key
                    .chars()
                    .any(|c| c.is_whitespace() || "[]()|$\"{}".contains(c))
            {
                return Err(format!(
                    "`{text}` is not a path like `lineItems[].sku` (segment `{part}`)"
                ));
            }
            steps.push((key.to_owned(), each));
        }
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    fn has_each(&self) -> bool {
        self.steps.iter().any(|(_, e)| *e)
    }

    /// The keys up to and including the last `[]` (the list the value is in).
    fn parent_each(&self) -> Vec<(String, bool)> {
        match self.steps.iter().rposition(|(_, e)| *e) {
            Some(i) => self.steps[..=i].to_vec(),
            None => Vec::new(),
        }
    }

    /// The concrete path for element indexes `at`: `lineItems[1].sku`.
    fn render(&self, at: &[usize]) -> String {
        let mut out = String::with_capacity(self.text.len() + 4);
        let mut i = 0;
        for (n, (key, each)) in self.steps.iter().enumerate() {
            if n > 0 {
                out.push('.');
            }
            out.push_str(key);
            if *each {
                match at.get(i) {
                    Some(index) => {
                        let _ = write!(out, "[{index}]");
                    }
                    None => out.push_str("[]"),
                }
                i += 1;
            }
        }
        out
    }

    /// The value at a plain path; absent or null is `None`.
    fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut cur = root;
        for (key, _) in &self.steps {
            cur = cur.as_object()?.get(key)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    fn get_mut<'v>(&self, root: &'v mut Value) -> Option<&'v mut Value> {
        let mut cur = root;
        for (key, _) in &self.steps {
            cur = cur.as_object_mut()?.get_mut(key)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// Write at a plain path, creating objects on the way; a non-object in
    /// the way is left alone.
    fn set(&self, root: &mut Value, value: Value) {
        let Some(((last, _), parents)) = self.steps.split_last() else {
            return;
        };
        let mut cur = root;
        for (key, _) in parents {
            let Some(map) = cur.as_object_mut() else {
                return;
            };
            cur = map
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
        }
        if let Some(map) = cur.as_object_mut() {
            map.insert(last.clone(), value);
        }
    }

    /// The top-level key the path starts with.
    fn first_key(&self) -> &str {
        self.steps.first().map_or("", |(k, _)| k.as_str())
    }

    /// [`Self::get`] through an overlay.
    fn get_view<'v>(&self, view: View<'v>) -> Option<&'v Value> {
        let ((first, _), rest) = self.steps.split_first()?;
        let mut cur = view.get(first)?;
        for (key, _) in rest {
            cur = cur.as_object()?.get(key)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// [`Self::visit`] through an overlay.
    fn visit_view<'v>(&self, view: View<'v>, f: &mut dyn FnMut(&[usize], &'v Value)) {
        let Some(((first, _), _)) = self.steps.split_first() else {
            return;
        };
        let Some(top) = view.get(first) else {
            return;
        };
        Self::walk_ref(&self.steps, top, &mut Vec::new(), f);
    }

    /// Walk `steps` from `top`, the value of the first step's key.
    fn walk_ref<'v>(
        steps: &[(String, bool)],
        top: &'v Value,
        at: &mut Vec<usize>,
        f: &mut dyn FnMut(&[usize], &'v Value),
    ) {
        fn walk<'v>(
            steps: &[(String, bool)],
            cur: &'v Value,
            at: &mut Vec<usize>,
            f: &mut dyn FnMut(&[usize], &'v Value),
        ) {
            let Some(((key, each), rest)) = steps.split_first() else {
                if !cur.is_null() {
                    f(at, cur);
                }
                return;
            };
            let Some(next) = cur.as_object().and_then(|m| m.get(key)) else {
                return;
            };
            step(*each, rest, next, at, f);
        }
        fn step<'v>(
            each: bool,
            rest: &[(String, bool)],
            next: &'v Value,
            at: &mut Vec<usize>,
            f: &mut dyn FnMut(&[usize], &'v Value),
        ) {
            if each {
                if let Some(items) = next.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        at.push(i);
                        walk(rest, item, at, f);
                        at.pop();
                    }
                }
            } else {
                walk(rest, next, at, f);
            }
        }
        if let Some(((_, each), rest)) = steps.split_first() {
            step(*each, rest, top, at, f);
        }
    }

    fn visit_mut(&self, root: &mut Value, f: &mut dyn FnMut(&[usize], &mut Value)) {
        fn walk(
            steps: &[(String, bool)],
            cur: &mut Value,
            at: &mut Vec<usize>,
            f: &mut dyn FnMut(&[usize], &mut Value),
        ) {
            let Some(((key, each), rest)) = steps.split_first() else {
                if !cur.is_null() {
                    f(at, cur);
                }
                return;
            };
            let Some(next) = cur.as_object_mut().and_then(|m| m.get_mut(key)) else {
                return;
            };
            if *each {
                if let Some(items) = next.as_array_mut() {
                    for (i, item) in items.iter_mut().enumerate() {
                        at.push(i);
                        walk(rest, item, at, f);
                        at.pop();
                    }
                }
            } else {
                walk(rest, next, at, f);
            }
        }
        walk(&self.steps, root, &mut Vec::new(), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::currency::RateRow;
    use crate::mapping::schema::{RefKind, schema_for};
    use crate::mapping::validate::InMemoryReferences;
    use serde_json::json;

    fn compile(doc: Value) -> Result<CompiledTemplate, TemplateError> {
        CompiledTemplate::compile(&doc)
    }

    fn with_conversions(conversions: Value) -> CompiledTemplate {
        compile(json!({
            "settings": {"base_currency": "USD", "tax_prices": "inclusive"},
            "lookups": {"skus": {"CL-77": "GADGET-100"}, "tax_details": {"VAT20": "UK-STD", "7.25%": "CA-STATE"}},
            "conversions": conversions,
            "rules": [{"target": "copy", "source": "."}]
        }))
        .expect("compiles")
    }

    fn rates() -> RateTable {
        let c = |s| CurrencyCode::parse(s).unwrap();
        RateTable::from_rows([
            RateRow {
                from: c("EUR"),
                to: c("USD"),
                date: time::macros::date!(2024 - 01 - 01),
                rate: Decimal::from_str("1.10").unwrap(),
            },
            RateRow {
                from: c("JPY"),
                to: c("USD"),
                date: time::macros::date!(2024 - 01 - 01),
                rate: Decimal::from_str("0.0067").unwrap(),
            },
        ])
        .unwrap()
    }

    fn catalog() -> SkuResolver {
        catalog_resolver(
            [
                ("WIDGET-BLUE-L", "Widget, blue, large"),
                ("WIDGET-BLUE-M", "Widget, blue, medium"),
                ("WIDGET-RED-L", "Widget, red, large"),
                ("GADGET-100", "Gadget 100"),
            ]
            .into_iter()
            .map(|(s, n)| CatalogItem {
                sku: s.into(),
                name: n.into(),
            })
            .collect(),
        )
    }

    fn run(t: &CompiledTemplate, source: &Value, catalog: Option<&SkuResolver>) -> Mapped {
        let refs = InMemoryReferences::new();
        let rates = rates();
        map_record(
            t,
            None,
            "CO-1",
            source,
            &MappingInputs {
                rates: &rates,
                catalog,
                references: &refs,
                history: None,
            },
        )
    }

    #[test]
    fn unknown_keys_settings_tables_and_bad_values_are_refused_naming_the_key() {
        let cases = [
            (
                json!({"sku": {"treshold": 0.8}}),
                "conversions.sku.treshold",
                "unknown field",
            ),
            (json!({"adress": {}}), "conversions.adress", "unknown field"),
            (
                json!({"address": {"paths": ["a"], "fields": {"zip": "ZIP"}}}),
                "conversions.address.fields.zip",
                "unknown field",
            ),
            (
                json!({"address": {"paths": ["a"], "fields": {"city": "A.CITY"}}}),
                "conversions.address.fields.city",
                "no dots",
            ),
            (
                json!({"address": {"paths": ["a"], "fields": {"lines": ["A1"]}, "max_lines": 2}}),
                "conversions.address.max_lines",
                "names 1",
            ),
            (
                json!({"sku": {"threshold": 1.5}}),
                "conversions.sku.threshold",
                "(0, 1]",
            ),
            (
                json!({"sku": {"table": "nope"}}),
                "conversions.sku.table",
                "`nope`",
            ),
            (
                json!({"currency": {"to": "XXY", "amounts": ["a"]}}),
                "conversions.currency.to",
                "ISO 4217",
            ),
            (
                json!({"currency": {"to_setting": "missing", "amounts": ["a"]}}),
                "conversions.currency.to_setting",
                "`missing`",
            ),
            (
                json!({"currency": {"to": "USD"}}),
                "conversions.currency.amounts",
                "amounts",
            ),
            (
                json!({"currency": {"to": "USD", "amounts": ["lineItems[.x"]}}),
                "conversions.currency.amounts",
                "not a path",
            ),
            (
                json!({"tax": {"prices": "gross"}}),
                "conversions.tax.prices",
                "`gross`",
            ),
            (
                json!({"tax": {"prices": "inclusive", "quantity": "a[].q"}}),
                "conversions.tax.quantity",
                "plain path",
            ),
            (
                json!({"address": {"paths": []}}),
                "conversions.address.paths",
                "at least one",
            ),
            (
                json!({"address": {"paths": ["a"], "max_line": 3}}),
                "conversions.address.max_line",
                "too short",
            ),
            (json!([1]), "conversions", "must be an object"),
        ];
        for (conversions, target, text) in cases {
            let err = compile(json!({
                "settings": {"base_currency": "USD"},
                "conversions": conversions,
                "rules": [{"target": "a", "value": 1}]
            }))
            .unwrap_err();
            assert_eq!(err.target, target, "{conversions}: {err}");
            assert!(err.message.contains(text), "{conversions}: {}", err.message);
        }
        let t =
            compile(json!({"record": "Invoice", "rules": [{"target": "a", "value": 1}]})).unwrap();
        assert_eq!(t.record(), Some("Invoice"));
        assert!(t.conversions().is_empty());
    }

    #[test]
    fn addresses_are_standardized_in_place_and_what_cannot_be_is_an_issue_on_the_field() {
        let t = with_conversions(
            json!({"address": {"paths": ["shippingAddress", "billingAddress"], "max_line": 20}}),
        );
        let source = json!({
            "shippingAddress": {"line1": "  1234 North Main Street Suite 500 ", "city": "SPRINGFIELD", "region": "illinois", "postalCode": "627011234", "country": "united states"},
            "billingAddress": {"line1": "1 A St", "region": "Narnia", "country": "USA"}
        });
        let m = run(&t, &source, None);
        let copy = &m.output.as_ref().unwrap()["copy"];
        assert_eq!(
            copy["shippingAddress"],
            json!({"line1": "1234 North Main", "line2": "Street Suite 500", "city": "Springfield", "region": "IL", "postalCode": "62701-1234", "country": "US"})
        );
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        let issue = &m.issues[0];
        assert_eq!(issue.field, "billingAddress.region");
        assert_eq!(issue.value, Some(json!("Narnia")));
        assert_eq!(issue.rule, Rule::Enum);
        assert_eq!(issue.record, "CO-1");
        assert!(issue.suggestion.as_deref().unwrap().contains("two-letter"));
        assert!(m.normalized.is_none(), "kept only for a history");
    }

    #[test]
    fn inclusive_prices_become_exclusive_without_moving_the_total_by_a_cent() {
        let t = with_conversions(json!({"tax": {"prices_setting": "tax_prices"}}));
        // 3 × 19.99 = 59.97 incl. 20 %: tax 9.995 → 10.00, net 49.97; 49.97 / 3
        // = 16.656… → 16.66 up, 3 × 16.66 = 49.98, so 0.01 goes to the discount.
        let source = json!({
            "currency": "GBP", "subtotalAmount": "69.97", "discountAmount": "0.00", "shippingAmount": "4.00",
            "taxAmount": "11.67", "totalAmount": "73.97",
            "lineItems": [
                {"sku": "A", "quantity": 3, "unitPrice": "19.99", "taxRate": "20%", "discount": "0.00", "lineTotal": "59.97"},
                {"sku": "B", "quantity": 1, "unitPrice": "10.00", "tax": "1.67", "discount": "0.00", "lineTotal": "10.00"}
            ]
        });
        let m = run(&t, &source, None);
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        let r = &m.output.unwrap()["copy"];
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("16.66"));
        assert_eq!(r["lineItems"][0]["tax"], json!("10.00"));
        assert_eq!(r["lineItems"][0]["discount"], json!("0.01"));
        assert_eq!(r["lineItems"][0]["lineTotal"], json!("49.97"));
        assert_eq!(r["lineItems"][1]["unitPrice"], json!("8.33"));
        assert_eq!(r["subtotalAmount"], json!("58.31"));
        assert_eq!(r["taxAmount"], json!("11.67"));
        assert_eq!(r["discountAmount"], json!("0.01"));
        // subtotal − discount + shipping + tax = the unchanged total.
        let d = |k: &str| Decimal::from_str(r[k].as_str().unwrap()).unwrap();
        assert_eq!(
            d("subtotalAmount") - d("discountAmount") + d("shippingAmount") + d("taxAmount"),
            d("totalAmount")
        );
        assert_eq!(r["totalAmount"], json!("73.97"));

        let mut bad = source.clone();
        bad["lineItems"][0]
            .as_object_mut()
            .unwrap()
            .remove("taxRate");
        let m = run(&t, &bad, None);
        assert_eq!(m.issues.len(), 1);
        assert_eq!(m.issues[0].field, "lineItems[0].tax");
        assert_eq!(m.issues[0].rule, Rule::Required);
    }

    #[test]
    fn tax_codes_map_to_erp_details_and_an_unmapped_code_is_an_issue() {
        let t = with_conversions(
            json!({"tax": {"prices": "exclusive", "codes": {"table": "tax_details", "write": "taxDetail"}}}),
        );
        let source = json!({"lineItems": [
            {"taxCode": "vat20"}, {"taxRate": "7.25"}, {"taxCode": "VAT5", "taxRate": 20}
        ]});
        let m = run(&t, &source, None);
        let lines = &m.output.as_ref().unwrap()["copy"]["lineItems"];
        assert_eq!(lines[0]["taxDetail"], json!("UK-STD"));
        assert_eq!(lines[1]["taxDetail"], json!("CA-STATE"));
        assert_eq!(m.issues.len(), 1);
        assert_eq!(m.issues[0].field, "lineItems[2].taxCode");
        assert_eq!(m.issues[0].rule, Rule::Reference);
        assert!(
            m.issues[0].message.contains("VAT5"),
            "{}",
            m.issues[0].message
        );
    }

    fn currency_template() -> CompiledTemplate {
        with_conversions(json!({"currency": {
            "to_setting": "base_currency",
            "amounts": ["subtotalAmount", "discountAmount", "shippingAmount", "taxAmount", "totalAmount",
                        "lineItems[].unitPrice", "lineItems[].tax", "lineItems[].discount", "lineItems[].lineTotal"],
            "balance": true, "store_as": "exchange"
        }}))
    }

    fn eur_order() -> Value {
        json!({
            "currency": "EUR", "orderDate": "2024-03-01T23:30:00-02:00",
            "subtotalAmount": "30.03", "discountAmount": "1.00", "shippingAmount": "5.00", "taxAmount": "2.40", "totalAmount": "36.43",
            "lineItems": [
                {"quantity": 3, "unitPrice": "3.33", "tax": "1.20", "discount": "0.00", "lineTotal": "9.99"},
                {"quantity": 2, "unitPrice": "10.02", "tax": "1.20", "discount": "1.00", "lineTotal": "19.04"}
            ]
        })
    }

    #[test]
    fn amounts_convert_at_the_rate_of_the_utc_date_and_the_order_still_adds_up() {
        let m = run(&currency_template(), &eur_order(), None);
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        let r = &m.output.unwrap()["copy"];
        assert_eq!(r["currency"], json!("USD"));
        assert_eq!(
            r["exchange"],
            json!({"from": "EUR", "to": "USD", "rate": "1.1", "rate_date": "2024-01-01"})
        );
        // 3.33 × 1.1 = 3.663 → 3.66; 3 × 3.66 = 10.98; 10.02 × 1.1 = 11.022 → 11.02; 2 × 11.02 = 22.04.
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("3.66"));
        assert_eq!(r["lineItems"][1]["unitPrice"], json!("11.02"));
        assert_eq!(r["subtotalAmount"], json!("33.02"));
        assert_eq!(r["lineItems"][0]["lineTotal"], json!("10.98"));
        assert_eq!(r["lineItems"][1]["lineTotal"], json!("20.94"));
        // 33.02 − 1.10 + 5.50 + 2.64
        assert_eq!(r["totalAmount"], json!("40.06"));
    }

    #[test]
    fn a_missing_rate_is_an_issue_on_the_currency_never_a_guess() {
        let mut order = eur_order();
        order["currency"] = json!("GBP");
        let m = run(&currency_template(), &order, None);
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        let i = &m.issues[0];
        assert_eq!((i.field.as_str(), i.rule), ("currency", Rule::Reference));
        assert_eq!(i.value, Some(json!("GBP")));
        assert!(i.message.contains("GBP→USD"), "{}", i.message);
        assert!(
            i.suggestion.as_deref().unwrap().contains("2024-03-02"),
            "{:?}",
            i.suggestion
        );
        // Before the first EUR rate there is none either.
        let mut early = eur_order();
        early["orderDate"] = json!("2023-12-31");
        assert_eq!(
            run(&currency_template(), &early, None).issues[0].rule,
            Rule::Reference
        );
        // No date, no conversion.
        let mut undated = eur_order();
        undated.as_object_mut().unwrap().remove("orderDate");
        assert_eq!(
            run(&currency_template(), &undated, None).issues[0].field,
            "orderDate"
        );
    }

    #[test]
    fn the_base_currency_needs_no_rate_and_keeps_every_amount() {
        let mut order = eur_order();
        order["currency"] = json!("usd");
        let m = run(&currency_template(), &order, None);
        assert!(m.issues.is_empty());
        let r = &m.output.unwrap()["copy"];
        assert_eq!(r["totalAmount"], json!("36.43"));
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("3.33"));
        assert_eq!(r["currency"], json!("USD"));
    }

    #[test]
    fn zero_decimal_currencies_convert_too() {
        let order = json!({
            "currency": "JPY", "orderDate": "2024-05-01",
            "subtotalAmount": "4500", "discountAmount": "0", "shippingAmount": "500", "taxAmount": "450", "totalAmount": "5450",
            "lineItems": [{"quantity": 3, "unitPrice": "1500", "tax": "450", "discount": "0", "lineTotal": "4500"}]
        });
        let m = run(&currency_template(), &order, None);
        let r = &m.output.unwrap()["copy"];
        // 1500 × 0.0067 = 10.05; 500 × 0.0067 = 3.35; 450 × 0.0067 = 3.015 → 3.02
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("10.05"));
        assert_eq!(r["totalAmount"], json!("36.52"));
    }

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

    #[test]
    fn paths_render_with_indexes_and_visit_every_element() {
        let p = FieldPath::parse("a[].b[].c").unwrap();
        assert_eq!(p.render(&[1, 2]), "a[1].b[2].c");
        let mut v = json!({"a": [{"b": [{"c": 1}, {"c": null}]}, {"b": [{"c": 2}]}]});
        let mut seen = Vec::new();
        p.visit_mut(&mut v, &mut |at, x| seen.push((at.to_vec(), x.clone())));
        assert_eq!(seen, [(vec![0, 0], json!(1)), (vec![1, 0], json!(2))]);
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("a[0].b").is_err());
    }

    /// The overlay copies only what conversions rewrite; the result must be
    /// what converting a whole copy of the record gives.
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
