//! The Phoenix list conventions (spec §0.3, §2) evaluated over JSON records:
//! exact match (repeat a key to OR), `StartsWith`/`EndsWith`/`Contains`,
//! `Min`/`Max`, the collection operators `Any`/`All`/`Count` (with an
//! optional sub-field, `linesAnySku=…`), `tags.<key>=<value>`, a `Not` prefix
//! on any of them, and multi-level `sort`.
//!
//! The catalog-sized resources (products, customers, coupons, inventory,
//! shipments, returns) are filtered here in memory: a sandbox store holds a
//! few hundred of them, and one evaluator keeps every operator on every field
//! without a column per field. Orders, which grow without bound, filter in SQL
//! what their columns hold and the rest here.
//!
//! A key that names no field of the resource, and a value that is not of its
//! field's type (a time for `…Date`/`…At`, a number, `true`/`false`, one of an
//! enum's values), is a malformed query: `400 BAD_REQUEST` naming the key.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde_json::Value;

use super::{ApiError, ApiResult, ListParams, parse_time_ms};

/// Query keys that are not filters.
const RESERVED: &[&str] = &["pagesize", "pageindex", "sort", "includes", "include"];

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq,
    StartsWith,
    EndsWith,
    Contains,
    Min,
    Max,
    Any(Option<String>),
    All(Option<String>),
    Count,
    Tag(String),
}

#[derive(Debug, Clone)]
struct Cond {
    field: &'static str,
    op: Op,
    negate: bool,
    values: Vec<String>,
}

/// A resource's enum fields and their values: `("status", &["active", …])`.
pub(crate) type Enums = &'static [(&'static str, &'static [&'static str])];

/// Fields holding booleans, across the spec's resources (§3).
const BOOLEANS: &[&str] = &["taxable", "taxExempt", "backorderable", "active", "restock"];
/// Fields holding numbers or money (decimal strings), across §3.
const NUMBERS: &[&str] = &[
    "price",
    "weight",
    "version",
    "quantity",
    "quantityOnHand",
    "quantityReserved",
    "quantityAvailable",
    "usageLimit",
    "timesUsed",
    "value",
    "refundAmount",
    "subtotalAmount",
    "discountAmount",
    "shippingAmount",
    "taxAmount",
    "totalAmount",
];

/// What a filter value must be to compare with `field`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ValueType {
    Time,
    Number,
    Boolean,
    Enum(&'static [&'static str]),
    Text,
}

fn value_type(field: &str, enums: Enums) -> ValueType {
    if let Some((_, values)) = enums.iter().find(|(f, _)| *f == field) {
        ValueType::Enum(values)
    } else if field.ends_with("Date") || field.ends_with("At") {
        ValueType::Time
    } else if BOOLEANS.contains(&field) {
        ValueType::Boolean
    } else if NUMBERS.contains(&field) {
        ValueType::Number
    } else {
        ValueType::Text
    }
}

/// `400` unless `value` is of `ty` (for a comparison with `op`).
fn check_value(key: &str, op: &Op, ty: ValueType, value: &str) -> ApiResult<()> {
    let bad = |what: String| ApiError::bad_request(format!("{key}: '{value}' is not {what}"));
    match (op, ty) {
        (Op::Eq | Op::Min | Op::Max, ValueType::Time) if parse_time_ms(value).is_none() => {
            Err(bad("an RFC 3339 time".into()))
        }
        (Op::Eq | Op::Min | Op::Max, ValueType::Number)
            if value.trim().parse::<Decimal>().is_err() =>
        {
            Err(bad("a number".into()))
        }
        (Op::Eq, ValueType::Boolean)
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") =>
        {
            Err(bad("true or false".into()))
        }
        (Op::Eq, ValueType::Enum(values))
            if !values.iter().any(|v| v.eq_ignore_ascii_case(value)) =>
        {
            Err(bad(format!("one of {}", values.join(", "))))
        }
        (Op::Min | Op::Max, ValueType::Boolean | ValueType::Enum(_)) => Err(ApiError::bad_request(
            format!("{key}: a range needs a time, number or text field"),
        )),
        _ => Ok(()),
    }
}

/// A parsed filter over records whose fields are `fields`.
#[derive(Debug, Default)]
pub(crate) struct JsonFilter {
    conds: Vec<Cond>,
}

impl JsonFilter {
    /// Every non-reserved key must name one of `fields` (case-insensitively),
    /// with an operator, and carry a value of the field's type (`enums` lists
    /// the enum fields' values); anything else is a 400 (a malformed query).
    pub(crate) fn parse(
        params: &ListParams,
        fields: &'static [&'static str],
        enums: Enums,
    ) -> ApiResult<Self> {
        let mut conds: Vec<Cond> = Vec::new();
        for (key, value) in params.pairs() {
            if RESERVED.contains(&key) {
                continue;
            }
            let (field, op, negate) = resolve(key, fields).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown filter '{key}' (fields: {})",
                    fields.join(", ")
                ))
            })?;
            check_value(key, &op, value_type(field, enums), value)?;
            match conds
                .iter_mut()
                .find(|c| c.field == field && c.op == op && c.negate == negate)
            {
                Some(c) => c.values.push(value.to_owned()),
                None => conds.push(Cond {
                    field,
                    op,
                    negate,
                    values: vec![value.to_owned()],
                }),
            }
        }
        for c in &conds {
            if matches!(c.op, Op::Min | Op::Max | Op::Count) && c.values.len() > 1 {
                return Err(ApiError::bad_request(format!(
                    "{} takes one value",
                    c.field
                )));
            }
            if c.op == Op::Count && c.values[0].parse::<usize>().is_err() {
                return Err(ApiError::bad_request(format!(
                    "{}Count must be a whole number",
                    c.field
                )));
            }
        }
        Ok(Self { conds })
    }

    pub(crate) fn matches(&self, record: &Value) -> bool {
        self.conds.iter().all(|c| c.holds(record) != c.negate)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }
}

/// `key` (lower-cased) → (field, operator, negated).
fn resolve(key: &str, fields: &'static [&'static str]) -> Option<(&'static str, Op, bool)> {
    if let Some(r) = resolve_positive(key, fields) {
        return Some((r.0, r.1, false));
    }
    let rest = key.strip_prefix("not")?;
    resolve_positive(rest, fields).map(|(f, op)| (f, op, true))
}

fn resolve_positive(key: &str, fields: &'static [&'static str]) -> Option<(&'static str, Op)> {
    let field = |name: &str| {
        fields
            .iter()
            .copied()
            .find(|f| f.eq_ignore_ascii_case(name))
    };
    if let Some(tag) = key.strip_prefix("tags.") {
        return field("tags").map(|f| (f, Op::Tag(tag.to_owned())));
    }
    if let Some(f) = field(key) {
        return Some((f, Op::Eq));
    }
    for (suffix, op) in [
        ("startswith", Op::StartsWith),
        ("endswith", Op::EndsWith),
        ("contains", Op::Contains),
        ("min", Op::Min),
        ("max", Op::Max),
        ("count", Op::Count),
    ] {
        if let Some(f) = key.strip_suffix(suffix).and_then(field) {
            return Some((f, op));
        }
    }
    // `<collection>Any<SubField>` / `<collection>All<SubField>`.
    for f in fields {
        let lower = f.to_ascii_lowercase();
        let Some(rest) = key.strip_prefix(lower.as_str()) else {
            continue;
        };
        for (word, any) in [("any", true), ("all", false)] {
            if let Some(sub) = rest.strip_prefix(word) {
                let sub = (!sub.is_empty()).then(|| sub.to_owned());
                return Some((f, if any { Op::Any(sub) } else { Op::All(sub) }));
            }
        }
    }
    None
}

/// A JSON scalar as text for comparing (`null` and containers have none).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Case-insensitive object lookup (`linesAnySku` names `sku`).
fn get_ci<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
        .map(|(_, v)| v)
        .unwrap_or(&Value::Null)
}

fn eq_text(actual: &str, wanted: &str) -> bool {
    if actual.eq_ignore_ascii_case(wanted) {
        return true;
    }
    // Numbers compare by value: `price=19.9` matches "19.90".
    matches!((actual.parse::<Decimal>(), wanted.parse::<Decimal>()), (Ok(a), Ok(b)) if a == b)
}

/// Times as times, numbers as numbers, else text.
pub(crate) fn compare_text(a: &str, b: &str) -> Ordering {
    if let (Some(x), Some(y)) = (parse_time_ms(a), parse_time_ms(b)) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (a.parse::<Decimal>(), b.parse::<Decimal>()) {
        return x.cmp(&y);
    }
    a.to_lowercase().cmp(&b.to_lowercase())
}

impl Cond {
    fn holds(&self, record: &Value) -> bool {
        let v = get_ci(record, self.field);
        let lower = |s: &str| s.to_lowercase();
        match &self.op {
            Op::Eq => match v {
                Value::Array(items) => items
                    .iter()
                    .filter_map(text)
                    .any(|t| self.values.iter().any(|w| eq_text(&t, w))),
                _ => text(v).is_some_and(|t| self.values.iter().any(|w| eq_text(&t, w))),
            },
            Op::StartsWith | Op::EndsWith | Op::Contains => text(v).is_some_and(|t| {
                let t = lower(&t);
                self.values.iter().any(|w| {
                    let w = lower(w);
                    match self.op {
                        Op::StartsWith => t.starts_with(&w),
                        Op::EndsWith => t.ends_with(&w),
                        _ => t.contains(&w),
                    }
                })
            }),
            Op::Min => text(v).is_some_and(|t| compare_text(&t, &self.values[0]) != Ordering::Less),
            Op::Max => {
                text(v).is_some_and(|t| compare_text(&t, &self.values[0]) != Ordering::Greater)
            }
            Op::Count => {
                let n = v.as_array().map_or(0, Vec::len);
                self.values[0].parse::<usize>() == Ok(n)
            }
            Op::Any(sub) | Op::All(sub) => {
                let items = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
                let hit = |item: &Value| {
                    let item = match sub {
                        Some(s) => get_ci(item, s),
                        None => item,
                    };
                    text(item).is_some_and(|t| self.values.iter().any(|w| eq_text(&t, w)))
                };
                if matches!(self.op, Op::Any(_)) {
                    items.iter().any(hit)
                } else {
                    items.iter().all(hit)
                }
            }
            Op::Tag(key) => text(get_ci(get_ci(record, "tags"), key))
                .is_some_and(|t| self.values.iter().any(|w| eq_text(&t, w))),
        }
    }
}

/// `sort=updatedDate:asc,sku:desc` over `fields`, always ending on `keys`
/// (the record's identity) so that paging is stable.
pub(crate) fn sort_records(
    records: &mut [Value],
    sort: Option<&str>,
    fields: &'static [&'static str],
    keys: &[&'static str],
) -> ApiResult<()> {
    let mut order: Vec<(&'static str, bool)> = Vec::new();
    match sort.filter(|s| !s.trim().is_empty()) {
        None => order.push(("updatedDate", true)),
        Some(sort) => {
            for item in sort.split(',') {
                let (name, dir) = item.split_once(':').unwrap_or((item, "asc"));
                let field = fields
                    .iter()
                    .copied()
                    .find(|f| f.eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| ApiError::bad_request(format!("cannot sort by '{name}'")))?;
                let asc = match dir.trim().to_lowercase().as_str() {
                    "asc" => true,
                    "desc" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "unknown sort direction '{other}'"
                        )));
                    }
                };
                order.push((field, asc));
            }
        }
    }
    for k in keys {
        if !order.iter().any(|(f, _)| f == k) {
            order.push((k, true));
        }
    }
    records.sort_by(|a, b| {
        for (field, asc) in &order {
            let o = match (text(get_ci(a, field)), text(get_ci(b, field))) {
                (Some(x), Some(y)) => compare_text(&x, &y),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            let o = if *asc { o } else { o.reverse() };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

/// Filters, sorts and pages `records` into the spec's envelope.
pub(crate) fn page_of(
    records: Vec<Value>,
    params: &ListParams,
    fields: &'static [&'static str],
    enums: Enums,
    keys: &[&'static str],
) -> ApiResult<Value> {
    let (size, index) = params.paging()?;
    let filter = JsonFilter::parse(params, fields, enums)?;
    let mut hits: Vec<Value> = records.into_iter().filter(|r| filter.matches(r)).collect();
    sort_records(&mut hits, params.one("sort"), fields, keys)?;
    Ok(page(hits, size, index))
}

/// One page of `hits` (already filtered and sorted) in the spec's envelope.
pub(crate) fn page(hits: Vec<Value>, size: u32, index: u32) -> Value {
    let total = hits.len();
    let start = (size as usize).saturating_mul(index as usize).min(total);
    let results: Vec<Value> = hits.into_iter().skip(start).take(size as usize).collect();
    let has_more = start + results.len() < total;
    serde_json::json!({
        "results": results, "pageIndex": index, "pageSize": size,
        "totalCount": total, "hasMore": has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[&str] = &[
        "sku",
        "name",
        "status",
        "price",
        "categories",
        "tags",
        "lines",
        "updatedDate",
    ];
    const ENUMS: Enums = &[("status", &["active", "inactive", "discontinued"])];

    fn rows() -> Vec<Value> {
        vec![
            json!({"sku":"SKU-1001","name":"Laser Level","status":"active","price":"19.99","categories":["Tools"],
                   "tags":{"brand":"acme"},"lines":[{"sku":"A"}],"updatedDate":"2024-06-01T10:00:00Z"}),
            json!({"sku":"SKU-1002","name":"Hammer","status":"inactive","price":"9.50","categories":["Tools","Hand"],
                   "tags":{},"lines":[{"sku":"A"},{"sku":"B"}],"updatedDate":"2024-06-01T09:00:00Z"}),
            json!({"sku":"SKU-2001","name":"Paint","status":"discontinued","price":"100.00","categories":[],
                   "tags":{"brand":"ACME"},"lines":[],"updatedDate":"2024-06-02T00:00:00Z"}),
        ]
    }

    fn skus(q: &str) -> Vec<String> {
        let page = page_of(rows(), &ListParams::parse(Some(q)), FIELDS, ENUMS, &["sku"]).unwrap();
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sku"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_phoenix_operators_filter() {
        assert_eq!(
            skus("status=active&status=inactive"),
            ["SKU-1002", "SKU-1001"]
        );
        assert_eq!(
            skus("NotStatus=active&sort=sku:asc"),
            ["SKU-1002", "SKU-2001"]
        );
        assert_eq!(
            skus("skuStartsWith=sku-10&sort=sku"),
            ["SKU-1001", "SKU-1002"]
        );
        assert_eq!(skus("nameEndsWith=LEVEL"), ["SKU-1001"]);
        assert_eq!(skus("nameContains=mm"), ["SKU-1002"]);
        assert_eq!(skus("priceMin=10&priceMax=99.99"), ["SKU-1001"]);
        assert_eq!(
            skus("updatedDateMin=2024-06-01T10:00:00Z"),
            ["SKU-1001", "SKU-2001"]
        );
        assert_eq!(skus("categoriesAny=hand"), ["SKU-1002"]);
        assert_eq!(skus("categoriesCount=0"), ["SKU-2001"]);
        assert_eq!(skus("linesAnySku=B"), ["SKU-1002"]);
        assert_eq!(skus("linesAllSku=A&NotlinesCount=0"), ["SKU-1001"]);
        assert_eq!(
            skus("tags.brand=acme&sort=sku:desc"),
            ["SKU-2001", "SKU-1001"]
        );
        assert_eq!(skus("price=9.5"), ["SKU-1002"]);
    }

    #[test]
    fn unknown_filters_and_sorts_are_bad_requests() {
        let p = ListParams::parse(Some("colour=red"));
        assert_eq!(
            JsonFilter::parse(&p, FIELDS, ENUMS).unwrap_err().status,
            400
        );
        let mut r = rows();
        assert!(sort_records(&mut r, Some("colour:asc"), FIELDS, &["sku"]).is_err());
        let refused =
            |q: &str| JsonFilter::parse(&ListParams::parse(Some(q)), FIELDS, ENUMS).is_err();
        assert!(refused("priceMin=1&priceMin=2"));
        assert!(
            refused("updatedDateMin=yesterday"),
            "a time field takes a time"
        );
        assert!(refused("priceMax=cheap"), "a number field takes a number");
        assert!(refused("status=sold_out"), "an enum takes its values");
        assert!(refused("NotStatus=sold_out"));
        assert!(refused("statusMin=active"), "an enum has no range");
        assert!(!refused(
            "status=ACTIVE&skuMin=SKU-1&nameContains=x&updatedDateMax=2024-06-01"
        ));
    }

    #[test]
    fn pages_cover_every_record_once() {
        let p = ListParams::parse(Some("pageSize=2&pageIndex=1"));
        let page = page_of(rows(), &p, FIELDS, ENUMS, &["sku"]).unwrap();
        assert_eq!(page["totalCount"], 3);
        assert_eq!(page["hasMore"], false);
        assert_eq!(page["results"].as_array().unwrap().len(), 1);
    }
}
