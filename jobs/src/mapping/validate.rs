//! Validation of a mapped record against its target schema, before anything
//! is sent to the ERP.
//!
//! [`validate`] walks the whole record and collects every problem rather than
//! stopping at the first, so a dead letter or a preview shows the customer
//! all that needs fixing at once. Each [`ValidationIssue`] names the record,
//! the full field path with element indexes (`sotransitems[2].itemid`), the
//! value, the rule, and — where one can be worked out — a correction.
//!
//! References (items, customers, GL accounts, dimensions, terms) are checked
//! through [`ReferenceCheck`], so the worker can answer from the ERP catalog
//! it caches and tests from an [`InMemoryReferences`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use serde_json::{Map, Value};

use super::schema::{DateFormat, FieldKind, FieldSpec, RefKind, TargetSchema, split_path};
// One "did you mean" for the whole mapping engine; re-exported for the
// schema module, which reaches it through here.
pub(crate) use super::similarity::closest_match;

/// Which rule a value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Missing or blank, or a list with too few elements.
    Required,
    /// Not the kind of value the field takes (text, decimal, date …).
    Type,
    /// Too long: text over its length, or a decimal with more decimals than
    /// the field keeps (Sage Pro's `N(12,2)` is a width too).
    MaxLen,
    /// Not one of the allowed values.
    Enum,
    /// Names master data the ERP does not have.
    Reference,
    /// A field the target record does not have; the ERP would refuse it.
    Unknown,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Type => "type",
            Self::MaxLen => "max_len",
            Self::Enum => "enum",
            Self::Reference => "reference",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one field of one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationIssue {
    /// The record's id (e.g. the Clarity order id).
    pub record: String,
    /// Full path with element indexes, e.g. `sotransitems[2].itemid`.
    pub field: String,
    /// The offending value; `None` when the field is missing.
    pub value: Option<Value>,
    pub rule: Rule,
    pub message: String,
    /// How to fix it, when that can be said.
    pub suggestion: Option<String>,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record {}: `{}` ({}): {}",
            self.record, self.field, self.rule, self.message
        )?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, "; {suggestion}")?;
        }
        Ok(())
    }
}

/// Whether master data exists in the target ERP. Shared with worker threads,
/// hence `Send + Sync`.
pub trait ReferenceCheck: Send + Sync {
    fn exists(&self, kind: RefKind, id: &str) -> bool;
    /// The existing id most like `id`, for "did you mean".
    fn closest(&self, kind: RefKind, id: &str) -> Option<String>;
}

/// Reference data held in memory: for tests, previews and small catalogs.
/// Only the kinds given with [`Self::with`] are checked; an id of any other
/// kind is taken as existing, since nothing is known about it.
#[derive(Debug, Clone, Default)]
pub struct InMemoryReferences {
    ids: HashMap<RefKind, BTreeSet<String>>,
}

impl InMemoryReferences {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds ids of one kind (and makes that kind checked, even with none).
    pub fn with<I, S>(mut self, kind: RefKind, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ids
            .entry(kind)
            .or_default()
            .extend(ids.into_iter().map(Into::into));
        self
    }
}

impl ReferenceCheck for InMemoryReferences {
    fn exists(&self, kind: RefKind, id: &str) -> bool {
        self.ids.get(&kind).is_none_or(|ids| ids.contains(id))
    }

    fn closest(&self, kind: RefKind, id: &str) -> Option<String> {
        let ids = self.ids.get(&kind)?;
        closest_match(ids.iter().map(String::as_str), id).map(str::to_owned)
    }
}

/// Checks `output` against `schema` and returns every problem found, in
/// schema order (fields alphabetically, list elements by index). An empty
/// list means the record may be sent.
pub fn validate(
    schema: &TargetSchema,
    output: &Value,
    refs: &dyn ReferenceCheck,
    record_id: &str,
) -> Vec<ValidationIssue> {
    let mut run = Run {
        schema,
        refs,
        record: record_id,
        issues: Vec::new(),
    };
    match output.as_object() {
        Some(fields) => run.object(fields, "", ""),
        None => run.push(
            "",
            Some(output),
            Rule::Type,
            format!(
                "the {} record must be a JSON object, not {}",
                schema.record,
                describe(output)
            ),
            None,
        ),
    }
    run.issues
}

struct Run<'a> {
    schema: &'a TargetSchema,
    refs: &'a dyn ReferenceCheck,
    record: &'a str,
    issues: Vec<ValidationIssue>,
}

impl Run<'_> {
    fn push(
        &mut self,
        field: &str,
        value: Option<&Value>,
        rule: Rule,
        message: String,
        suggestion: Option<String>,
    ) {
        self.issues.push(ValidationIssue {
            record: self.record.to_owned(),
            field: field.to_owned(),
            value: value.cloned(),
            rule,
            message,
            suggestion,
        });
    }

    /// The fields of one object: `container` is its schema path (`""`,
    /// `shipto`, `sotransitems[]`), `at` its concrete path.
    fn object(&mut self, fields: &Map<String, Value>, container: &str, at: &str) {
        let schema = self.schema;
        let children = schema.children(container);
        for path in children {
            let name = split_path(path).1;
            let spec = &schema.fields[path];
            let here = join(at, name);
            match fields.get(name) {
                None | Some(Value::Null) => {
                    if spec.required {
                        self.missing(&here, None);
                    }
                }
                Some(value) => self.value(path, spec, value, &here),
            }
        }
        for group in &schema.one_of_required {
            if split_path(&group[0]).0 != container {
                continue;
            }
            let names: Vec<&str> = group.iter().map(|p| split_path(p).1).collect();
            if !names.iter().any(|n| fields.get(*n).is_some_and(is_present)) {
                let list = names.join(", ");
                self.push(
                    &join(at, names[0]),
                    None,
                    Rule::Required,
                    format!("one of {list} is required"),
                    Some(format!(
                        "map a source field or a default value to one of {list}"
                    )),
                );
            }
        }
        for (key, value) in fields {
            if value.is_null() || children.iter().any(|p| split_path(p).1 == key) {
                continue;
            }
            let known = children.iter().map(|p| split_path(p).1);
            let suggestion = match closest_match(known, key) {
                Some(name) => format!("did you mean `{name}`?"),
                None => "remove the rule that writes it".to_owned(),
            };
            self.push(
                &join(at, key),
                Some(value),
                Rule::Unknown,
                format!(
                    "`{key}` is not a field of the {} {}",
                    erp_name(&schema.erp),
                    schema.record
                ),
                Some(suggestion),
            );
        }
    }

    fn missing(&mut self, here: &str, value: Option<&Value>) {
        let message = match value {
            Some(_) => format!("`{here}` is required and is blank"),
            None => format!("`{here}` is required"),
        };
        self.push(
            here,
            value,
            Rule::Required,
            message,
            Some(format!(
                "map a source field or a default value to `{here}` in the template"
            )),
        );
    }

    fn wrong_type(&mut self, here: &str, spec: &FieldSpec, value: &Value, suggestion: String) {
        self.push(
            here,
            Some(value),
            Rule::Type,
            format!(
                "`{here}` must be {}, not {}",
                spec.kind.as_str(),
                describe(value)
            ),
            Some(suggestion),
        );
    }

    fn value(&mut self, path: &str, spec: &FieldSpec, value: &Value, here: &str) {
        match spec.kind {
            FieldKind::String => self.text(spec, value, here),
            FieldKind::Decimal => self.decimal(spec, value, here),
            FieldKind::Integer => self.integer(spec, value, here),
            FieldKind::Date => self.date(spec, value, here),
            FieldKind::Bool => {
                let ok = value.is_boolean() || matches!(value.as_str(), Some("true" | "false"));
                if !ok {
                    self.wrong_type(here, spec, value, "send true or false".to_owned());
                }
            }
            FieldKind::Object => match value.as_object() {
                Some(fields) => self.object(fields, path, here),
                None => self.wrong_type(
                    here,
                    spec,
                    value,
                    format!("write the fields inside it as `{here}.<field>`"),
                ),
            },
            FieldKind::Array => self.list(path, spec, value, here),
        }
    }

    fn list(&mut self, path: &str, spec: &FieldSpec, value: &Value, here: &str) {
        let Some(items) = value.as_array() else {
            self.wrong_type(
                here,
                spec,
                value,
                "map it with an `each` rule over the source lines".to_owned(),
            );
            return;
        };
        if let Some(min) = spec.min_items
            && items.len() < min
        {
            self.push(
                here,
                Some(value),
                Rule::Required,
                format!(
                    "`{here}` needs at least {min} element(s), has {}",
                    items.len()
                ),
                Some("check that the source record has lines and the rule maps them".to_owned()),
            );
        }
        let inside = format!("{path}[]");
        for (index, item) in items.iter().enumerate() {
            let at = format!("{here}[{index}]");
            match item.as_object() {
                Some(fields) => self.object(fields, &inside, &at),
                None => self.push(
                    &at,
                    Some(item),
                    Rule::Type,
                    format!("`{at}` must be an object, not {}", describe(item)),
                    None,
                ),
            }
        }
    }

    fn text(&mut self, spec: &FieldSpec, value: &Value, here: &str) {
        let Some(text) = value.as_str() else {
            let suggestion = match value {
                Value::Number(n) => format!("send it as text: \"{n}\" (the `string` transform)"),
                _ => "map a single text value to it".to_owned(),
            };
            self.wrong_type(here, spec, value, suggestion);
            return;
        };
        if text.trim().is_empty() {
            if spec.required {
                self.missing(here, Some(value));
            }
            return;
        }
        let len = text.chars().count();
        if let Some(max) = spec.max_len
            && len > max
        {
            self.push(
                here,
                Some(value),
                Rule::MaxLen,
                format!("`{here}` is {len} characters long; at most {max} are allowed"),
                Some(format!(
                    "shorten to {max} characters, or map it through a lookup table"
                )),
            );
            return;
        }
        if !spec.enum_values.is_empty() && !spec.enum_values.iter().any(|v| v == text) {
            self.not_allowed(spec, value, text, here);
            return;
        }
        if let Some(kind) = spec.reference
            && !self.refs.exists(kind, text)
        {
            let erp = erp_name(&self.schema.erp);
            let noun = kind.noun();
            let add =
                format!("add `{text}` to the {noun} lookup table or create the {noun} in {erp}");
            let suggestion = match self.refs.closest(kind, text) {
                Some(near) => format!("did you mean `{near}`? Otherwise {add}"),
                None => add,
            };
            self.push(
                here,
                Some(value),
                Rule::Reference,
                format!("{noun} `{text}` does not exist in {erp}"),
                Some(suggestion),
            );
        }
    }

    fn not_allowed(&mut self, spec: &FieldSpec, value: &Value, text: &str, here: &str) {
        let allowed = spec.enum_values.join(", ");
        let near = closest_match(spec.enum_values.iter().map(String::as_str), text);
        let suggestion = match near {
            Some(near) => format!("use `{near}`"),
            None => format!("use one of {allowed}, or map your values with a lookup table"),
        };
        self.push(
            here,
            Some(value),
            Rule::Enum,
            format!("`{text}` is not allowed in `{here}`; allowed: {allowed}"),
            Some(suggestion),
        );
    }

    fn decimal(&mut self, spec: &FieldSpec, value: &Value, here: &str) {
        if value.as_str().is_some_and(|s| s.trim().is_empty()) {
            if spec.required {
                self.missing(here, Some(value));
            }
            return;
        }
        let parsed = match value {
            Value::Number(n) => parse_decimal(&n.to_string()),
            Value::String(s) => parse_decimal(s.trim()),
            _ => None,
        };
        let Some(number) = parsed else {
            self.wrong_type(
                here,
                spec,
                value,
                "send a plain number such as 19.99: no currency symbol, no thousands separator"
                    .to_owned(),
            );
            return;
        };
        let number = number.normalize();
        if let Some(scale) = spec.scale
            && number.scale() > scale
        {
            let rounded =
                number.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
            self.push(
                here,
                Some(value),
                Rule::MaxLen,
                format!(
                    "`{here}` has {} decimals; at most {scale} are kept",
                    number.scale()
                ),
                Some(format!(
                    "round to {scale} decimals ({rounded}) in the template"
                )),
            );
        }
    }

    fn integer(&mut self, spec: &FieldSpec, value: &Value, here: &str) {
        let parsed = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let Some(number) = parsed else {
            self.wrong_type(
                here,
                spec,
                value,
                "send a whole number such as 1".to_owned(),
            );
            return;
        };
        let text = number.to_string();
        if !spec.enum_values.is_empty() && !spec.enum_values.contains(&text) {
            self.not_allowed(spec, value, &text, here);
        }
    }

    fn date(&mut self, spec: &FieldSpec, value: &Value, here: &str) {
        let format = spec.date_format.unwrap_or_default();
        match parse_date(format, value) {
            DateCheck::Valid => {}
            DateCheck::NotADay => self.push(
                here,
                Some(value),
                Rule::Type,
                format!("`{here}` is not a calendar date"),
                Some("check the source date; the day does not exist".to_owned()),
            ),
            DateCheck::Malformed => {
                let suggestion = format!("write it as {}", format.example());
                self.wrong_type(here, spec, value, suggestion);
            }
        }
    }
}

enum DateCheck {
    Valid,
    /// Well formed, but no such day (e.g. 2024-02-30).
    NotADay,
    Malformed,
}

fn parse_date(format: DateFormat, value: &Value) -> DateCheck {
    let parts: Option<[i64; 3]> = match format {
        DateFormat::Iso => value.as_str().and_then(|s| digits(s, '-', [4, 2, 2])),
        DateFormat::Us => value
            .as_str()
            .and_then(|s| digits(s, '/', [2, 2, 4]))
            .map(|[m, d, y]| [y, m, d]),
        DateFormat::Parts => value.as_object().and_then(|o| {
            let part = |key: &str| match o.get(key)? {
                Value::String(s) => s.trim().parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            if o.len() != 3 {
                return None;
            }
            Some([part("year")?, part("month")?, part("day")?])
        }),
    };
    let Some([year, month, day]) = parts else {
        return DateCheck::Malformed;
    };
    let day_exists = i32::try_from(year)
        .ok()
        .zip(u8::try_from(month).ok())
        .zip(u8::try_from(day).ok())
        .is_some_and(|((y, m), d)| {
            time::Month::try_from(m)
                .ok()
                .is_some_and(|m| time::Date::from_calendar_date(y, m, d).is_ok())
        });
    if day_exists {
        DateCheck::Valid
    } else {
        DateCheck::NotADay
    }
}

/// Three runs of ASCII digits of the given widths, joined by `sep`.
fn digits(text: &str, sep: char, widths: [usize; 3]) -> Option<[i64; 3]> {
    let mut out = [0; 3];
    let mut pieces = text.split(sep);
    for (slot, width) in out.iter_mut().zip(widths) {
        let piece = pieces.next()?;
        if piece.len() != width || !piece.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = piece.parse().ok()?;
    }
    pieces.next().is_none().then_some(out)
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// Present for a "one of these is required" group: not null, not blank text.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        _ => true,
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text \"{s}\""),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn erp_name(erp: &str) -> &str {
    match erp {
        "intacct" => "Sage Intacct",
        "sagepro" => "Sage Pro",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::schema::schema_for;
    use serde_json::json;

    fn intacct_refs() -> InMemoryReferences {
        InMemoryReferences::new()
            .with(RefKind::Item, ["SKU-1001", "SKU-2002", "SKU-3003"])
            .with(RefKind::Customer, ["CUS-5001", "CUS-5002"])
            .with(RefKind::Location, ["US-EAST"])
            .with(RefKind::Department, ["ECOM"])
            .with(RefKind::Warehouse, ["WH1"])
            .with(RefKind::Term, ["Net 30"])
    }

    fn intacct_order() -> Value {
        json!({
            "transactiontype": "Sales Order",
            "datecreated": {"year": "2024", "month": "06", "day": "01"},
            "customerid": "CUS-5001",
            "documentno": "CO-100045",
            "referenceno": "CO-100045",
            "termname": "Net 30",
            "shippingmethod": null,
            "basecurr": "USD",
            "currency": "USD",
            "state": "Pending",
            "shipto": {"contactname": "CUS-5001 Ship CO-100045"},
            "sotransitems": [
                {"itemid": "SKU-1001", "quantity": "2", "unit": "Each", "price": "19.99",
                 "warehouseid": "WH1", "locationid": "US-EAST", "departmentid": "ECOM", "memo": null},
                {"itemid": "SKU-2002", "quantity": 1, "price": 49.5, "taxable": true},
                {"itemid": "SKU-3003", "quantity": "3", "price": "4.25"}
            ],
            "subtotals": [{"description": "Tax", "total": "3.20"}]
        })
    }

    fn check(
        erp: &str,
        record: &str,
        output: &Value,
        refs: &InMemoryReferences,
    ) -> Vec<ValidationIssue> {
        validate(schema_for(erp, record).unwrap(), output, refs, "CO-100045")
    }

    fn fields_and_rules(issues: &[ValidationIssue]) -> Vec<(&str, Rule)> {
        issues.iter().map(|i| (i.field.as_str(), i.rule)).collect()
    }

    fn only(issues: Vec<ValidationIssue>) -> ValidationIssue {
        assert_eq!(issues.len(), 1, "{issues:#?}");
        issues.into_iter().next().unwrap()
    }

    #[test]
    fn a_valid_intacct_sales_order_passes() {
        let issues = check(
            "intacct",
            "sotransaction",
            &intacct_order(),
            &intacct_refs(),
        );
        assert_eq!(issues, []);
    }

    #[test]
    fn the_default_templates_golden_outputs_pass_their_schemas() {
        let intacct: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/orders/simple.intacct.json"
        ))
        .unwrap();
        assert_eq!(
            check("intacct", "sotransaction", &intacct, &intacct_refs()),
            []
        );

        let sagepro: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/orders/multi_line_coupon.sagepro.json"
        ))
        .unwrap();
        let refs = InMemoryReferences::new()
            .with(RefKind::Item, ["SKU-1001", "SKU-2002", "SKU-3003"])
            .with(RefKind::Customer, ["CUS-5002"])
            .with(RefKind::Term, ["PREPAID", "NET30"]);
        assert_eq!(check("sagepro", "SalesOrder", &sagepro, &refs), []);
    }

    #[test]
    fn a_lower_case_sku_from_the_template_is_caught_with_the_catalog_spelling() {
        let output: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/orders/multi_line_coupon.intacct.json"
        ))
        .unwrap();
        let issues = check("intacct", "sotransaction", &output, &intacct_refs());
        let issue = only(
            issues
                .into_iter()
                .filter(|i| i.rule == Rule::Reference)
                .collect(),
        );
        assert_eq!(issue.field, "sotransitems[2].itemid");
        assert_eq!(issue.value, Some(json!("sku-3003")));
        assert!(
            issue
                .suggestion
                .unwrap()
                .starts_with("did you mean `SKU-3003`?")
        );
    }

    #[test]
    fn a_missing_required_field_is_named_with_its_path() {
        let mut order = intacct_order();
        order.as_object_mut().unwrap().remove("customerid");
        order["sotransitems"][1]["quantity"] = json!(null);
        let issues = check("intacct", "sotransaction", &order, &intacct_refs());
        assert_eq!(
            fields_and_rules(&issues),
            [
                ("customerid", Rule::Required),
                ("sotransitems[1].quantity", Rule::Required)
            ]
        );
        assert_eq!(issues[0].value, None);
        assert_eq!(issues[0].record, "CO-100045");
        assert!(
            issues[0]
                .suggestion
                .as_deref()
                .unwrap()
                .contains("`customerid`")
        );
    }

    #[test]
    fn blank_text_counts_as_missing_and_either_termname_or_datedue_is_required() {
        let mut order = intacct_order();
        order["transactiontype"] = json!("  ");
        order.as_object_mut().unwrap().remove("termname");
        let issues = check("intacct", "sotransaction", &order, &intacct_refs());
        assert_eq!(
            fields_and_rules(&issues),
            [
                ("transactiontype", Rule::Required),
                ("termname", Rule::Required)
            ]
        );
        assert_eq!(issues[1].message, "one of termname, datedue is required");

        order["datedue"] = json!({"year": "2024", "month": "07", "day": "01"});
        order["transactiontype"] = json!("Sales Order");
        assert_eq!(
            check("intacct", "sotransaction", &order, &intacct_refs()),
            []
        );
    }

    #[test]
    fn wrong_types_say_what_was_expected_and_how_to_send_it() {
        let mut order = intacct_order();
        order["sotransitems"][0]["quantity"] = json!("two");
        let issue = only(check("intacct", "sotransaction", &order, &intacct_refs()));
        assert_eq!(
            (issue.field.as_str(), issue.rule),
            ("sotransitems[0].quantity", Rule::Type)
        );
        assert_eq!(
            issue.message,
            "`sotransitems[0].quantity` must be decimal number, not the text \"two\""
        );

        let mut order = intacct_order();
        order["datecreated"] = json!("2024-06-01");
        let issue = only(check("intacct", "sotransaction", &order, &intacct_refs()));
        assert_eq!(
            (issue.field.as_str(), issue.rule),
            ("datecreated", Rule::Type)
        );
        assert!(issue.suggestion.unwrap().contains("date_parts"));

        let mut order = intacct_order();
        order["datecreated"] = json!({"year": "2024", "month": "02", "day": "30"});
        let issue = only(check("intacct", "sotransaction", &order, &intacct_refs()));
        assert_eq!(issue.message, "`datecreated` is not a calendar date");

        let mut order = intacct_order();
        order["referenceno"] = json!(100045);
        order["sotransitems"][1]["taxable"] = json!("yes");
        let issues = check("intacct", "sotransaction", &order, &intacct_refs());
        assert_eq!(
            fields_and_rules(&issues),
            [
                ("referenceno", Rule::Type),
                ("sotransitems[1].taxable", Rule::Type)
            ]
        );
        assert_eq!(
            issues[0].suggestion.as_deref(),
            Some("send it as text: \"100045\" (the `string` transform)")
        );
    }

    #[test]
    fn text_over_its_length_is_refused_with_the_limit() {
        let mut order = intacct_order();
        order["customerid"] = json!("CUSTOMER-NUMBER-000001");
        let issue = only(check("intacct", "sotransaction", &order, &intacct_refs()));
        assert_eq!(
            (issue.field.as_str(), issue.rule),
            ("customerid", Rule::MaxLen)
        );
        assert_eq!(
            issue.message,
            "`customerid` is 22 characters long; at most 20 are allowed"
        );
        assert!(
            issue
                .suggestion
                .unwrap()
                .starts_with("shorten to 20 characters")
        );
    }

    #[test]
    fn a_value_outside_the_enumeration_gets_the_closest_allowed_value() {
        for (bad, near) in [
            ("Pendng", "Pending"),
            ("pending", "Pending"),
            ("CLOSED", "Closed"),
        ] {
            let mut order = intacct_order();
            order["state"] = json!(bad);
            let issue = only(check("intacct", "sotransaction", &order, &intacct_refs()));
            assert_eq!((issue.field.as_str(), issue.rule), ("state", Rule::Enum));
            assert_eq!(issue.suggestion, Some(format!("use `{near}`")));
        }
        let mut order = intacct_order();
        order["state"] = json!("Shipped");
        let issue = only(check("intacct", "sotransaction", &order, &intacct_refs()));
        assert_eq!(
            issue.suggestion.as_deref(),
            Some("use one of Draft, Pending, Closed, or map your values with a lookup table")
        );
    }

    #[test]
    fn an_unknown_item_is_a_reference_error_with_a_fix() {
        let mut order = intacct_order();
        order["sotransitems"][0]["itemid"] = json!("SKU-1010");
        order["sotransitems"][1]["itemid"] = json!("GIFT-WRAP");
        let issues = check("intacct", "sotransaction", &order, &intacct_refs());
        assert_eq!(
            fields_and_rules(&issues),
            [
                ("sotransitems[0].itemid", Rule::Reference),
                ("sotransitems[1].itemid", Rule::Reference)
            ]
        );
        assert_eq!(
            issues[0].message,
            "item `SKU-1010` does not exist in Sage Intacct"
        );
        assert_eq!(
            issues[0].suggestion.as_deref(),
            Some(
                "did you mean `SKU-1001`? Otherwise add `SKU-1010` to the item lookup table \
                 or create the item in Sage Intacct"
            )
        );
        assert_eq!(
            issues[1].suggestion.as_deref(),
            Some("add `GIFT-WRAP` to the item lookup table or create the item in Sage Intacct")
        );
    }

    #[test]
    fn several_problems_are_reported_together_with_their_array_paths() {
        let mut order = intacct_order();
        let o = order.as_object_mut().unwrap();
        o.remove("customerid");
        o.insert("custmerid".into(), json!("CUS-5001"));
        order["state"] = json!("Pendng");
        order["sotransitems"][1]["quantity"] = json!("1,5");
        order["sotransitems"][2]["itemid"] = json!("SKU-9999");
        order["sotransitems"][2]["locationid"] = json!("US-WEST");
        order["subtotals"][0]["total"] = json!(null);
        let issues = check("intacct", "sotransaction", &order, &intacct_refs());
        assert_eq!(
            fields_and_rules(&issues),
            [
                ("customerid", Rule::Required),
                ("sotransitems[1].quantity", Rule::Type),
                ("sotransitems[2].itemid", Rule::Reference),
                ("sotransitems[2].locationid", Rule::Reference),
                ("state", Rule::Enum),
                ("subtotals[0].total", Rule::Required),
                ("custmerid", Rule::Unknown),
            ]
        );
        assert_eq!(
            issues[6].suggestion.as_deref(),
            Some("did you mean `customerid`?")
        );
        assert!(issues.iter().all(|i| i.record == "CO-100045"));
        assert_eq!(
            issues[1].to_string(),
            "record CO-100045: `sotransitems[1].quantity` (type): `sotransitems[1].quantity` must be \
             decimal number, not the text \"1,5\"; send a plain number such as 19.99: no currency \
             symbol, no thousands separator"
        );
    }

    fn sagepro_order() -> Value {
        json!({
            "CustomerNo": "DOEJ01",
            "OrderDate": "2024-06-01",
            "OrderType": "Standard",
            "CustomerPO": "CO-100045",
            "ExternalOrderId": "clarity:CO-100045",
            "ShipToAddress": {"Name": "Jane Doe", "Address1": "1 Main St", "City": "Austin",
                              "State": "TX", "Zip": "78701", "Country": "US"},
            "BillToAddress": {"Name": "Jane Doe", "City": "Austin"},
            "LineItems": [
                {"ItemCode": "SKU-1001", "Quantity": 2, "UnitPrice": 19.99, "TaxAmount": 3.20},
                {"ItemCode": "SKU-2002", "Quantity": 1.5, "UnitPrice": "49.50", "Warehouse": "MAIN"}
            ],
            "FreightAmount": 0,
            "TotalAmount": 43.18,
            "PaymentTerms": "NET30"
        })
    }

    fn sagepro_refs() -> InMemoryReferences {
        InMemoryReferences::new()
            .with(RefKind::Item, ["SKU-1001", "SKU-2002"])
            .with(RefKind::Customer, ["DOEJ01"])
            .with(RefKind::Warehouse, ["MAIN"])
            .with(RefKind::Term, ["NET30", "COD", "PREPAID"])
    }

    #[test]
    fn a_valid_sagepro_sales_order_passes() {
        assert_eq!(
            check("sagepro", "SalesOrder", &sagepro_order(), &sagepro_refs()),
            []
        );
    }

    #[test]
    fn sagepro_sales_order_problems_are_all_reported() {
        let mut order = sagepro_order();
        order["CustomerNo"] = json!("DOEJ0100000");
        order["OrderDate"] = json!("06/01/2024");
        order["OrderType"] = json!("standard");
        order["ShipToAddress"]
            .as_object_mut()
            .unwrap()
            .remove("Address1");
        order["ShipToAddress"]["City"] = json!("Llanfairpwllgwyngyll Town");
        order["LineItems"][0]["UnitPrice"] = json!(19.995);
        order["LineItems"][1]["ItemCode"] = json!("SKU-2020");
        order["LineItems"][1]["Quantity"] = json!(null);
        order["Status"] = json!("Open");
        let issues = check("sagepro", "SalesOrder", &order, &sagepro_refs());
        assert_eq!(
            fields_and_rules(&issues),
            [
                ("CustomerNo", Rule::MaxLen),
                ("LineItems[0].UnitPrice", Rule::MaxLen),
                ("LineItems[1].ItemCode", Rule::Reference),
                ("LineItems[1].Quantity", Rule::Required),
                ("OrderDate", Rule::Type),
                ("OrderType", Rule::Enum),
                ("ShipToAddress.Address1", Rule::Required),
                ("ShipToAddress.City", Rule::MaxLen),
                ("Status", Rule::Unknown),
            ]
        );
        let by_field = |f: &str| issues.iter().find(|i| i.field == f).unwrap();
        assert_eq!(
            by_field("CustomerNo").suggestion.as_deref(),
            Some("shorten to 10 characters, or map it through a lookup table")
        );
        assert_eq!(
            by_field("LineItems[0].UnitPrice").suggestion.as_deref(),
            Some("round to 2 decimals (20.00) in the template")
        );
        assert!(
            by_field("LineItems[1].ItemCode")
                .suggestion
                .as_deref()
                .unwrap()
                .starts_with("did you mean `SKU-2002`? Otherwise add `SKU-2020` to the item lookup table or create the item in Sage Pro")
        );
        assert_eq!(
            by_field("OrderDate").suggestion.as_deref(),
            Some("write it as YYYY-MM-DD (e.g. 2024-06-01)")
        );
        assert_eq!(
            by_field("OrderType").suggestion.as_deref(),
            Some("use `Standard`")
        );
        assert_eq!(
            by_field("Status").suggestion.as_deref(),
            Some("remove the rule that writes it")
        );
    }

    #[test]
    fn a_sagepro_order_without_lines_is_refused() {
        let mut order = sagepro_order();
        order["LineItems"] = json!([]);
        let issue = only(check("sagepro", "SalesOrder", &order, &sagepro_refs()));
        assert_eq!(
            (issue.field.as_str(), issue.rule),
            ("LineItems", Rule::Required)
        );

        order["LineItems"] = json!({"ItemCode": "SKU-1001"});
        let issue = only(check("sagepro", "SalesOrder", &order, &sagepro_refs()));
        assert_eq!(
            (issue.field.as_str(), issue.rule),
            ("LineItems", Rule::Type)
        );
    }

    #[test]
    fn a_gl_batch_needs_two_entries_with_debit_or_credit_types() {
        let batch = json!({
            "JOURNAL": "GJ", "BATCH_DATE": "06/01/2024", "BATCH_TITLE": "Clarity settlement",
            "ENTRIES": {"GLENTRY": [
                {"ACCOUNTNO": "1010", "TR_TYPE": 1, "TRX_AMOUNT": "970.00"},
                {"ACCOUNTNO": "1210", "TR_TYPE": "-1", "TRX_AMOUNT": "970.00"}
            ]}
        });
        let refs = InMemoryReferences::new().with(RefKind::GlAccount, ["1010", "1210", "6150"]);
        assert_eq!(check("intacct", "GLBATCH", &batch, &refs), []);

        let mut bad = batch.clone();
        bad["ENTRIES"]["GLENTRY"] =
            json!([{"ACCOUNTNO": "6151", "TR_TYPE": 2, "TRX_AMOUNT": "30"}]);
        bad["BATCH_DATE"] = json!("2024-06-01");
        let issues = check("intacct", "glbatch", &bad, &refs);
        assert_eq!(
            fields_and_rules(&issues),
            [
                ("BATCH_DATE", Rule::Type),
                ("ENTRIES.GLENTRY", Rule::Required),
                ("ENTRIES.GLENTRY[0].ACCOUNTNO", Rule::Reference),
                ("ENTRIES.GLENTRY[0].TR_TYPE", Rule::Enum),
            ]
        );
        assert!(issues[2].message.starts_with("GL account `6151`"));
        assert!(
            issues[2]
                .suggestion
                .as_deref()
                .unwrap()
                .starts_with("did you mean `6150`?")
        );
    }

    #[test]
    fn kinds_without_reference_data_are_not_checked_and_a_non_object_is_refused() {
        let refs = InMemoryReferences::new().with(RefKind::Item, Vec::<String>::new());
        assert!(refs.exists(RefKind::Customer, "anyone"));
        assert!(!refs.exists(RefKind::Item, "SKU-1001"));
        assert_eq!(refs.closest(RefKind::Item, "SKU-1001"), None);

        let issue = only(check("intacct", "sotransaction", &json!([1, 2]), &refs));
        assert_eq!((issue.field.as_str(), issue.rule), ("", Rule::Type));
    }
}
