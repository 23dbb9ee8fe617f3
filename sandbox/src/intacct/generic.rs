//! The generic functions of DTD 3.0 (spec §5.1): reads, queries with paging,
//! and create / update / delete of the writable objects in [`super::objects`].

use std::cmp::Ordering;

use super::Element;
use super::wire::{self, SelectItem, errno, parse_timestamp};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sqlx::AnyConnection;

use super::objects::{self, ObjectDef};
use super::query::{self, Expr, lookup};
use super::sales::{
    CURRENCIES, INVALID_REFERENCE, INVALID_VALUE, REQUIRED_FIELD, UNBALANCED, decimal, money,
};
use super::store::{self, NewRecord, Pushdown, Record, ResultSet};
use super::{Ctx, Done, Fail, FnError, FnResult};
use crate::catalog;

const QUERY_FAILED: &str = "Query Failed";

fn object_def(name: Option<&str>) -> Result<&'static ObjectDef, Fail> {
    let name = name.unwrap_or("").trim();
    objects::find(name).ok_or_else(|| {
        Fail::new(
            errno::NO_SUCH_FIELD,
            "Invalid object",
            &format!("'{name}' is not an object this company can read."),
            "Check the object name (e.g. CUSTOMER, ITEM, SODOCUMENT).",
        )
    })
}

fn no_such_field(def: &ObjectDef, field: &str) -> Fail {
    Fail::new(
        errno::NO_SUCH_FIELD,
        "Invalid field",
        &format!("Field '{field}' is not a field of object {}.", def.name),
        "Check the field name with lookup.",
    )
}

/// `*` (or nothing) means every field; otherwise a checked, upper-cased list.
fn field_list(def: &ObjectDef, fields: &str) -> Result<Vec<String>, Fail> {
    let fields = fields.trim();
    if fields.is_empty() || fields == "*" {
        return Ok(def.all_fields().into_iter().map(str::to_owned).collect());
    }
    fields
        .split(',')
        .map(|f| f.trim().to_ascii_uppercase())
        .filter(|f| !f.is_empty())
        .map(|f| {
            if def.has_field(&f) {
                Ok(f)
            } else {
                Err(no_such_field(def, &f))
            }
        })
        .collect()
}

/// One record as an element holding the requested fields (absent ones empty).
fn project(record: &Record, fields: &[String], tag: &str) -> Element {
    let mut el = Element::new(tag);
    for f in fields {
        match record.fields.get(f) {
            Some(v) => el.push(Element::from_json(f, v)),
            None => el.push(Element::leaf(
                f,
                lookup(&record.fields, f).unwrap_or_default(),
            )),
        }
    }
    el
}

fn data(listtype: &str, attrs: &[(&str, String)], records: Vec<Element>) -> Element {
    let mut d = Element::new("data").attr("listtype", listtype);
    for (k, v) in attrs {
        d = d.attr(*k, v.clone());
    }
    d.children = records;
    d
}

fn docparid_filter(def: &ObjectDef, docparid: Option<&str>) -> Option<String> {
    (def.name == "SODOCUMENT")
        .then(|| {
            docparid
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
        })
        .flatten()
}

/// `read` (keys are RECORDNOs) and `readByName` (keys are business ids).
pub async fn read(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    call: &Element,
    by_name: bool,
) -> FnResult {
    let def = object_def(call.child_text("object"))?;
    let fields = field_list(def, call.child_text("fields").unwrap_or("*"))?;
    let keys: Vec<&str> = call
        .child_text("keys")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    if keys.len() > 100 {
        return Err(Fail::new(
            INVALID_VALUE,
            "Too many keys",
            "read accepts at most 100 keys.",
            "",
        )
        .into());
    }
    let docparid = docparid_filter(def, call.child_text("docparid"));
    let mut records = Vec::new();
    if keys.is_empty() {
        let push = Pushdown {
            docparid,
            ..Pushdown::default()
        };
        records = store::list(conn, ctx.pair_id, def.name, &push).await?;
        records.truncate(100);
    } else if by_name {
        for k in keys {
            if let Some(r) = store::by_id(conn, ctx.pair_id, def.name, k).await? {
                records.push(r);
            }
        }
    } else {
        let mut nos = Vec::new();
        for k in keys {
            nos.push(k.parse::<i64>().map_err(|_| {
                Fail::new(
                    INVALID_VALUE,
                    "Invalid key",
                    &format!("'{k}' is not a RECORDNO."),
                    "Use readByName for business IDs.",
                )
            })?);
        }
        records = store::by_recordnos(conn, ctx.pair_id, def.name, &nos).await?;
    }
    if let Some(d) = docparid_filter(def, call.child_text("docparid")) {
        records.retain(|r| lookup(&r.fields, "DOCPARID").as_deref() == Some(d.as_str()));
    }
    let els: Vec<Element> = records
        .iter()
        .map(|r| project(r, &fields, def.name))
        .collect();
    Ok(Done {
        elements: vec![data(def.name, &[("count", els.len().to_string())], els)],
        usage: 1,
    })
}

/// The records of an object matching an expression, in RECORDNO order.
async fn matching(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    def: &ObjectDef,
    expr: &Expr,
    docparid: Option<String>,
    case_insensitive: bool,
) -> Result<Vec<Record>, FnError> {
    for f in expr.fields() {
        if !def.has_field(f) && !f.eq_ignore_ascii_case("DOCPARID") {
            return Err(no_such_field(def, f).into());
        }
    }
    let mut push = Pushdown {
        docparid,
        ..Pushdown::default()
    };
    if !case_insensitive {
        if let Some(id_field) = def.id_field {
            push.object_id = expr.top_level_equal(id_field).map(str::to_owned);
        }
        if let Some(reference) = def.reference_field {
            push.reference = expr.top_level_equal(reference).map(str::to_owned);
        }
        if def.name == "SODOCUMENT" && push.docparid.is_none() {
            push.docparid = expr.top_level_equal("DOCPARID").map(str::to_owned);
        }
        push.recordno = expr
            .top_level_equal("RECORDNO")
            .and_then(|r| r.parse().ok());
    }
    push.modified_since = expr.top_level_lower_bound("WHENMODIFIED");
    let rows = store::list(conn, ctx.pair_id, def.name, &push).await?;
    let mut out: Vec<Record> = rows
        .into_iter()
        .filter(|r| expr.matches_typed(&r.fields, case_insensitive, &|f| def.field_type(f)))
        .collect();
    if let Some(limit) = expr.row_limit() {
        out.truncate(limit as usize);
    }
    Ok(out)
}

fn page_size(raw: Option<&str>, default: usize, max: usize) -> Result<usize, Fail> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Fail::new(
                INVALID_VALUE,
                "Invalid page size",
                &format!("pagesize '{s}' must be between 1 and {max}."),
                "",
            )),
        },
    }
}

/// `readByQuery` (spec §5.2): the first page, and a `resultId` for `readMore`
/// when more remain.
pub async fn read_by_query(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    let def = object_def(call.child_text("object"))?;
    let fields = field_list(def, call.child_text("fields").unwrap_or("*"))?;
    let pagesize = page_size(call.child_text("pagesize"), 100, 1000)?;
    let expr = query::parse_query_string(call.child_text("query").unwrap_or("")).map_err(|e| {
        Fail::new(
            QUERY_FAILED,
            "Invalid query",
            &format!("The query could not be parsed: {}.", e.0),
            "Use the readByQuery syntax, e.g. WHENMODIFIED >= '06/01/2024 09:55:00' AND STATUS = 'active'.",
        )
    })?
    .decode_legacy_codes(def.name);
    let docparid = docparid_filter(def, call.child_text("docparid"));
    let records = matching(ctx, conn, def, &expr, docparid, false).await?;
    let total = records.len();
    let first: Vec<Element> = records
        .iter()
        .take(pagesize)
        .map(|r| project(r, &fields, &def.name.to_ascii_lowercase()))
        .collect();
    let remaining = total - first.len();
    // Every readByQuery gives a resultId (spec §5.1), the last page included;
    // a readMore past the end answers an empty page with numremaining 0.
    let result_id = format!("{}", uuid::Uuid::now_v7().simple());
    let rs = ResultSet {
        object: def.name.to_owned(),
        fields: fields.clone(),
        recordnos: records.iter().map(|r| r.recordno).collect(),
        position: first.len(),
        pagesize,
    };
    let expires = ctx.now + ctx.sim.config.result_set_ttl.as_millis() as i64;
    store::save_result_set(conn, &result_id, ctx.pair_id, &rs, expires).await?;
    let attrs = vec![
        ("count", first.len().to_string()),
        ("totalcount", total.to_string()),
        ("numremaining", remaining.to_string()),
        ("resultId", result_id),
    ];
    // Now and then, drop cursors nobody finished.
    if rand::random_range(0..50) == 0 {
        store::purge_result_sets(conn, ctx.now).await?;
    }
    Ok(Done {
        elements: vec![data(&def.name.to_ascii_lowercase(), &attrs, first)],
        usage: 1,
    })
}

/// `readMore` with a `resultId` (spec §5.1). The last page has numremaining 0.
pub async fn read_more(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    let Some(result_id) = call.non_empty("resultId") else {
        return Err(Fail::new(
            REQUIRED_FIELD,
            "Missing resultId",
            "readMore needs the resultId of a readByQuery.",
            "",
        )
        .into());
    };
    let Some(rs) = store::load_result_set(conn, result_id, ctx.pair_id, ctx.now).await? else {
        return Err(Fail::new(
            INVALID_REFERENCE,
            "Invalid resultId",
            &format!("Result set '{result_id}' does not exist or has expired."),
            "Run the readByQuery again.",
        )
        .into());
    };
    let def = object_def(Some(&rs.object))?;
    let end = (rs.position + rs.pagesize).min(rs.recordnos.len());
    let page = &rs.recordnos[rs.position.min(end)..end];
    let records = store::by_recordnos(conn, ctx.pair_id, def.name, page).await?;
    let remaining = rs.recordnos.len() - end;
    let expires = ctx.now + ctx.sim.config.result_set_ttl.as_millis() as i64;
    store::advance_result_set(conn, result_id, end, expires).await?;
    let tag = def.name.to_ascii_lowercase();
    let els: Vec<Element> = records
        .iter()
        .map(|r| project(r, &rs.fields, &tag))
        .collect();
    let attrs = [
        ("count", els.len().to_string()),
        ("totalcount", rs.recordnos.len().to_string()),
        ("numremaining", remaining.to_string()),
        ("resultId", result_id.to_owned()),
    ];
    Ok(Done {
        elements: vec![data(&tag, &attrs, els)],
        usage: 0,
    })
}

/// The newer `query` (spec §5.3): select, filter grammar, orderby, offset paging,
/// aggregates.
pub async fn query(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    let q: wire::Query = call.deserialize().map_err(|e| {
        Fail::new(
            QUERY_FAILED,
            "Invalid query",
            &format!("The query could not be read: {e}."),
            "Send object and select (with at least one field), and optionally filter, orderby, options, pagesize, offset.",
        )
    })?;
    let def = object_def(Some(&q.object))?;
    if q.select.items.is_empty() {
        return Err(Fail::new(
            QUERY_FAILED,
            "Invalid query",
            "select needs at least one field.",
            "",
        )
        .into());
    }
    let mut plain = Vec::new();
    let mut aggregates = Vec::new();
    for item in &q.select.items {
        let (kind, field) = match item {
            SelectItem::Field(f) => ("", f),
            SelectItem::Count(f) => ("COUNT", f),
            SelectItem::Sum(f) => ("SUM", f),
            SelectItem::Avg(f) => ("AVG", f),
            SelectItem::Min(f) => ("MIN", f),
            SelectItem::Max(f) => ("MAX", f),
        };
        let field = field.trim().to_ascii_uppercase();
        if field == "*" {
            return Err(Fail::new(
                QUERY_FAILED,
                "Invalid query",
                "query cannot select '*'; name the fields.",
                "",
            )
            .into());
        }
        if !def.has_field(&field) {
            return Err(no_such_field(def, &field).into());
        }
        if kind.is_empty() {
            plain.push(field);
        } else {
            aggregates.push((kind, field));
        }
    }
    if !plain.is_empty() && !aggregates.is_empty() {
        return Err(Fail::new(
            QUERY_FAILED,
            "Invalid query",
            "The simulator does not group: select either fields or aggregates.",
            "",
        )
        .into());
    }
    let expr = match &q.filter {
        Some(f) => query::from_condition(&f.condition)
            .map_err(|e| Fail::new(QUERY_FAILED, "Invalid filter", &e.0, ""))?,
        None => Expr::True,
    };
    let options = q.options.clone().unwrap_or_default();
    let ci = options.caseinsensitive.unwrap_or(false);
    let docparid = docparid_filter(def, q.docparid.as_deref());
    let mut records = matching(ctx, conn, def, &expr, docparid, ci).await?;
    if let Some(order) = &q.orderby {
        for o in &order.order {
            if !def.has_field(&o.field) {
                return Err(no_such_field(def, &o.field).into());
            }
        }
        records.sort_by(|a, b| {
            for o in &order.order {
                let (x, y) = (lookup(&a.fields, &o.field), lookup(&b.fields, &o.field));
                let ord = match (x, y) {
                    (Some(x), Some(y)) => query::compare_as(&x, &y, def.field_type(&o.field), ci),
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                };
                let ord = if o.direction == Some(wire::Direction::Descending) {
                    ord.reverse()
                } else {
                    ord
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.recordno.cmp(&b.recordno)
        });
    }
    if !aggregates.is_empty() {
        let mut row = Element::new(def.name);
        for (kind, field) in &aggregates {
            let values: Vec<String> = records
                .iter()
                .filter_map(|r| lookup(&r.fields, field))
                .collect();
            let nums: Vec<Decimal> = values.iter().filter_map(|v| decimal(v)).collect();
            let text = match *kind {
                "COUNT" => values.len().to_string(),
                "SUM" => nums.iter().sum::<Decimal>().normalize().to_string(),
                "AVG" if !nums.is_empty() => (nums.iter().sum::<Decimal>()
                    / Decimal::from(nums.len()))
                .round_dp(2)
                .normalize()
                .to_string(),
                "MIN" => values
                    .iter()
                    .min_by(|a, b| query::compare_as(a, b, def.field_type(field), ci))
                    .cloned()
                    .unwrap_or_default(),
                "MAX" => values
                    .iter()
                    .max_by(|a, b| query::compare_as(a, b, def.field_type(field), ci))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            };
            row.push(Element::leaf(format!("{kind}.{field}"), text));
        }
        let attrs = [
            ("totalcount", "1".to_owned()),
            ("offset", "0".to_owned()),
            ("count", "1".to_owned()),
            ("numremaining", "0".to_owned()),
        ];
        return Ok(Done {
            elements: vec![data(def.name, &attrs, vec![row])],
            usage: 1,
        });
    }
    let pagesize = q.pagesize.map(|p| p as usize).unwrap_or(100);
    if !(1..=2000).contains(&pagesize) {
        return Err(Fail::new(
            INVALID_VALUE,
            "Invalid page size",
            "pagesize must be between 1 and 2000.",
            "",
        )
        .into());
    }
    let offset = q.offset.unwrap_or(0) as usize;
    let total = records.len();
    let els: Vec<Element> = records
        .iter()
        .skip(offset)
        .take(pagesize)
        .map(|r| project(r, &plain, def.name))
        .collect();
    let remaining = total.saturating_sub(offset + els.len());
    let attrs = [
        ("totalcount", total.to_string()),
        ("offset", offset.to_string()),
        ("count", els.len().to_string()),
        ("numremaining", remaining.to_string()),
    ];
    Ok(Done {
        elements: vec![data(def.name, &attrs, els)],
        usage: 1,
    })
}

/// Fields Intacct fills in itself; `lookup` shows them READONLY.
const READ_ONLY: [&str; 12] = [
    "RECORDNO",
    "WHENCREATED",
    "WHENMODIFIED",
    "CREATEDBY",
    "MODIFIEDBY",
    "CREATEDBYLOGINID",
    "MODIFIEDBYLOGINID",
    "SI_UUID",
    "RECORD_URL",
    "MEGAENTITYKEY",
    "MEGAENTITYID",
    "MEGAENTITYNAME",
];

/// `lookup` / `inspect`: every field of the object with its label, type and
/// whether it is required or read-only, in the shape Intacct answers
/// (`<Type Name=".." DocumentType=""><Fields><Field><ID>..`).
pub fn lookup_fields(def: &ObjectDef) -> Element {
    let flag = |b: bool| if b { "true" } else { "false" };
    let mut fields = Element::new("Fields");
    for f in def.catalog {
        let read_only = READ_ONLY.contains(&f.id);
        fields.push(
            Element::new("Field")
                .child(Element::leaf("ID", f.id))
                .child(Element::leaf("LABEL", f.label))
                .child(Element::leaf("DESCRIPTION", f.label))
                .child(Element::leaf("REQUIRED", flag(def.is_required(f.id))))
                .child(Element::leaf("READONLY", flag(read_only)))
                .child(Element::leaf("DATATYPE", f.ty.datatype()))
                .child(Element::leaf("ISCUSTOM", "false")),
        );
    }
    Element::new("Type")
        .attr("Name", def.name)
        .attr("DocumentType", "")
        .child(fields)
}

pub fn lookup_function(call: &Element) -> FnResult {
    let def = object_def(call.child_text("object"))?;
    Ok(Done {
        elements: vec![
            Element::new("data")
                .attr("listtype", "All")
                .attr("count", "1")
                .child(lookup_fields(def)),
        ],
        usage: 0,
    })
}

// ---------------------------------------------------------------------------
// create / update / delete
// ---------------------------------------------------------------------------

fn writable(name: &str) -> Result<&'static ObjectDef, Fail> {
    match objects::find(name) {
        Some(d) if d.writable => Ok(d),
        Some(d) if d.name == "SODOCUMENT" => Err(Fail::new(
            INVALID_VALUE,
            "Unsupported operation",
            "SODOCUMENT is created and changed with create_sotransaction / update_sotransaction.",
            "",
        )),
        Some(d) => Err(Fail::new(
            INVALID_VALUE,
            "Unsupported operation",
            &format!("{} is read-only through the generic functions.", d.name),
            "",
        )),
        None => Err(Fail::new(
            errno::NO_SUCH_FIELD,
            "Invalid object",
            &format!("'{name}' is not an object of this company."),
            "",
        )),
    }
}

fn entries_of<'a>(
    record: &'a Map<String, Value>,
    group: &str,
    item: &str,
) -> Vec<&'a Map<String, Value>> {
    match record.get(group).and_then(|g| g.get(item)) {
        Some(Value::Array(v)) => v.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(o)) => vec![o],
        _ => Vec::new(),
    }
}

async fn must_exist(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    object: &str,
    id: &str,
    what: &str,
) -> Result<(), FnError> {
    if store::exists(conn, ctx.pair_id, object, id).await? {
        Ok(())
    } else {
        Err(Fail::new(
            INVALID_REFERENCE,
            &format!("Invalid {what}"),
            &format!("{what} '{id}' does not exist."),
            "",
        )
        .into())
    }
}

fn valid_date(fields: &Map<String, Value>, field: &str) -> Result<(), Fail> {
    match lookup(fields, field) {
        Some(v) if parse_timestamp(&v).is_some() => Ok(()),
        Some(v) => Err(Fail::new(
            INVALID_VALUE,
            "Invalid date",
            &format!("{field} '{v}' is not a date in mm/dd/yyyy format."),
            "",
        )),
        None => Ok(()),
    }
}

/// Is a (possibly dotted) field there with a value? Groups such as ENTRIES
/// count when they hold anything.
fn present(fields: &Map<String, Value>, path: &str) -> bool {
    if lookup(fields, path).is_some() {
        return true;
    }
    let mut parts = path.split('.');
    let mut cur = parts.next().and_then(|p| fields.get(p));
    for p in parts {
        cur = cur.and_then(|c| c.get(p));
    }
    match cur {
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(v)) => !v.is_empty(),
        _ => false,
    }
}

/// **[P]** A customer's display contact prints as the customer's NAME unless
/// told otherwise. Sage's JS SDK (`CustomerCreate`) means to send exactly that
/// but, with no print-as name set, sends an empty or no `PRINTAS`; Intacct
/// accepts that request, so the simulator fills the name in.
fn default_print_as(fields: &mut Map<String, Value>) {
    if present(fields, "DISPLAYCONTACT.PRINTAS") {
        return;
    }
    let Some(name) = lookup(fields, "NAME").filter(|n| !n.trim().is_empty()) else {
        return;
    };
    let contact = fields
        .entry("DISPLAYCONTACT")
        .or_insert_with(|| Value::Object(Map::new()));
    if !contact.is_object() {
        *contact = Value::Object(Map::new());
    }
    if let Value::Object(c) = contact {
        c.insert("PRINTAS".into(), Value::String(name));
    }
}

/// Checks a record before it is stored, filling defaults; object by object.
async fn validate(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    def: &ObjectDef,
    fields: &mut Map<String, Value>,
) -> Result<(), FnError> {
    if def.name == "CUSTOMER" {
        default_print_as(fields);
    }
    for req in def.required {
        if !present(fields, req) {
            return Err(Fail::new(
                REQUIRED_FIELD,
                "Required field missing",
                &format!("{} requires {req}.", def.name),
                &format!("Send {req}."),
            )
            .into());
        }
    }
    if let Some(status) = lookup(fields, "STATUS") {
        if !matches!(status.as_str(), "active" | "inactive" | "T" | "F") {
            return Err(Fail::new(
                INVALID_VALUE,
                "Invalid status",
                &format!("STATUS '{status}' must be active or inactive."),
                "",
            )
            .into());
        }
    } else if def.fields.contains(&"STATUS") {
        fields.insert("STATUS".into(), Value::String("active".into()));
    }
    match def.name {
        "CUSTOMER" => {
            if let Some(t) = lookup(fields, "TERMNAME") {
                must_exist(ctx, conn, "ARTERM", &t, "Term").await?;
            }
            if let Some(c) = lookup(fields, "CURRENCY")
                && !CURRENCIES.contains(&c.as_str())
            {
                return Err(Fail::new(
                    INVALID_VALUE,
                    "Invalid currency",
                    &format!("Currency '{c}' is not enabled."),
                    "",
                )
                .into());
            }
        }
        "ITEM" => {
            let t = lookup(fields, "ITEMTYPE").unwrap_or_default();
            const TYPES: [&str; 6] = [
                "Inventory",
                "Non-Inventory",
                "Non-Inventory (Purchase only)",
                "Non-Inventory (Sales only)",
                "Kit",
                "Stockable Kit",
            ];
            if !TYPES.contains(&t.as_str()) {
                return Err(Fail::new(
                    INVALID_VALUE,
                    "Invalid item type",
                    &format!("ITEMTYPE '{t}' must be one of {}.", TYPES.join(", ")),
                    "",
                )
                .into());
            }
            if let Some(p) = lookup(fields, "BASEPRICE")
                && decimal(&p).is_none()
            {
                return Err(Fail::new(
                    INVALID_VALUE,
                    "Invalid price",
                    &format!("BASEPRICE '{p}' is not a number."),
                    "",
                )
                .into());
            }
        }
        "WAREHOUSE" => {
            if let Some(l) = lookup(fields, "LOCATIONID") {
                must_exist(ctx, conn, "LOCATION", &l, "Location").await?;
            }
        }
        "PROJECT" => {
            if let Some(c) = lookup(fields, "CUSTOMERID") {
                must_exist(ctx, conn, "CUSTOMER", &c, "Customer").await?;
            }
        }
        "LOCATION" | "DEPARTMENT" | "CLASS" => {
            if let Some(p) = lookup(fields, "PARENTID") {
                must_exist(ctx, conn, def.name, &p, "Parent").await?;
            }
        }
        "GLBATCH" => validate_gl_batch(ctx, conn, fields).await?,
        "ARPYMT" => validate_payment(ctx, conn, fields).await?,
        _ => {}
    }
    Ok(())
}

/// Journal entries (spec §6.6): at least two lines, known accounts, a location on
/// every line (multi-entity), and debits equal to credits.
async fn validate_gl_batch(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    fields: &mut Map<String, Value>,
) -> Result<(), FnError> {
    valid_date(fields, "BATCH_DATE")?;
    valid_date(fields, "REVERSEDATE")?;
    const STATES: [&str; 8] = [
        "Draft",
        "Submitted",
        "Partially Approved",
        "Approved",
        "Posted",
        "Declined",
        "Reversal pending",
        "Reversed",
    ];
    match lookup(fields, "STATE") {
        Some(s) if !STATES.contains(&s.as_str()) => {
            return Err(Fail::new(
                INVALID_VALUE,
                "Invalid state",
                &format!("STATE '{s}' must be one of {}.", STATES.join(", ")),
                "",
            )
            .into());
        }
        Some(_) => {}
        None => {
            fields.insert("STATE".into(), Value::String("Posted".into()));
        }
    }
    let lines: Vec<Map<String, Value>> = entries_of(fields, "ENTRIES", "GLENTRY")
        .into_iter()
        .cloned()
        .collect();
    if lines.len() < 2 {
        return Err(Fail::new(
            REQUIRED_FIELD,
            "Too few entries",
            "A journal entry needs at least two GLENTRY lines.",
            "",
        )
        .into());
    }
    let (mut debits, mut credits) = (Decimal::ZERO, Decimal::ZERO);
    let mut filled = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        let n = i + 1;
        let mut line = line;
        let account = lookup(&line, "ACCOUNTNO").unwrap_or_default();
        if account.is_empty() {
            return Err(Fail::new(
                REQUIRED_FIELD,
                "Required field missing",
                &format!("Line {n}: ACCOUNTNO is required."),
                "",
            )
            .into());
        }
        must_exist(
            ctx,
            conn,
            "GLACCOUNT",
            &account,
            &format!("Line {n}: GL account"),
        )
        .await?;
        let amount = lookup(&line, "TRX_AMOUNT")
            .and_then(|a| decimal(&a))
            .filter(|a| *a > Decimal::ZERO);
        let Some(amount) = amount else {
            return Err(Fail::new(
                INVALID_VALUE,
                "Invalid amount",
                &format!("Line {n}: TRX_AMOUNT must be a positive number."),
                "",
            )
            .into());
        };
        match lookup(&line, "TR_TYPE").as_deref() {
            Some("1") => debits += amount,
            Some("-1") => credits += amount,
            other => {
                return Err(Fail::new(
                    INVALID_VALUE,
                    "Invalid transaction type",
                    &format!(
                        "Line {n}: TR_TYPE '{}' must be 1 (debit) or -1 (credit).",
                        other.unwrap_or("")
                    ),
                    "",
                )
                .into());
            }
        }
        match (lookup(&line, "LOCATION"), ctx.location_id) {
            (Some(l), _) => {
                must_exist(ctx, conn, "LOCATION", &l, &format!("Line {n}: Location")).await?
            }
            (None, Some(entity)) => {
                line.insert("LOCATION".into(), Value::String(entity.to_owned()));
            }
            (None, None) => {
                return Err(Fail::new(
                    REQUIRED_FIELD,
                    "Location required",
                    &format!("Line {n}: a location (entity) is required on every line because the company is multi-entity."),
                    "Send LOCATION on each GLENTRY.",
                )
                .into());
            }
        }
        for (field, object, what) in [
            ("DEPARTMENT", "DEPARTMENT", "Department"),
            ("PROJECTID", "PROJECT", "Project"),
            ("CUSTOMERID", "CUSTOMER", "Customer"),
            ("ITEMID", "ITEM", "Item"),
            ("CLASSID", "CLASS", "Class"),
            ("WAREHOUSEID", "WAREHOUSE", "Warehouse"),
        ] {
            if let Some(v) = lookup(&line, field) {
                must_exist(ctx, conn, object, &v, &format!("Line {n}: {what}")).await?;
            }
        }
        filled.push(Value::Object(line));
    }
    if debits != credits {
        return Err(Fail::new(
            UNBALANCED,
            "Unbalanced journal entry",
            &format!(
                "Debits ({}) do not equal credits ({}).",
                money(debits),
                money(credits)
            ),
            "Make the debit and credit lines add up to the same amount.",
        )
        .into());
    }
    fields.insert("ENTRIES".into(), serde_json::json!({ "GLENTRY": filled }));
    Ok(())
}

const PAYMENT_METHODS: [&str; 8] = [
    "Cash",
    "Check",
    "Printed Check",
    "EFT",
    "Credit Card",
    "Online Charge Card",
    "Online ACH Debit",
    "Record transfer",
];

/// AR payments (spec §6.5): method, date, where the money goes, and the invoices
/// paid, applied to each invoice's balance.
async fn validate_payment(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    fields: &mut Map<String, Value>,
) -> Result<(), FnError> {
    let method = lookup(fields, "PAYMENTMETHOD").unwrap_or_default();
    // The spec's methods plus the ones the sandbox company set up (the
    // catalog's, e.g. PayPal): real companies map theirs via configuration.
    let known = PAYMENT_METHODS
        .iter()
        .chain(catalog::PAYMENT_METHODS.iter())
        .any(|m| *m == method);
    if !known {
        return Err(Fail::new(
            INVALID_VALUE,
            "Invalid payment method",
            &format!(
                "PAYMENTMETHOD '{method}' must be one of {}, {}.",
                PAYMENT_METHODS.join(", "),
                catalog::PAYMENT_METHODS.join(", ")
            ),
            "",
        )
        .into());
    }
    valid_date(fields, "RECEIPTDATE")?;
    valid_date(fields, "PAYMENTDATE")?;
    match (
        lookup(fields, "FINANCIALENTITY"),
        lookup(fields, "UNDEPOSITEDACCOUNTNO"),
    ) {
        (None, None) => {
            return Err(Fail::new(
                REQUIRED_FIELD,
                "Required field missing",
                "ARPYMT requires FINANCIALENTITY or UNDEPOSITEDACCOUNTNO.",
                "",
            )
            .into());
        }
        (None, Some(acct)) => {
            must_exist(ctx, conn, "GLACCOUNT", &acct, "Undeposited funds account").await?
        }
        _ => {}
    }
    match (lookup(fields, "CUSTOMERID"), lookup(fields, "PAYERNAME")) {
        (Some(c), _) => must_exist(ctx, conn, "CUSTOMER", &c, "Customer").await?,
        (None, Some(_)) => {}
        (None, None) => {
            return Err(Fail::new(
                REQUIRED_FIELD,
                "Required field missing",
                "ARPYMT requires CUSTOMERID (or PAYERNAME for multi-customer payments).",
                "",
            )
            .into());
        }
    }
    let total: Decimal = payment_lines(fields)?.iter().map(|(_, _, a)| *a).sum();
    if lookup(fields, "AMOUNTTOPAY").is_none() {
        fields.insert("AMOUNTTOPAY".into(), Value::String(money(total)));
    }
    let state = if lookup(fields, "ACTION").as_deref() == Some("Draft") {
        "Draft"
    } else {
        "Complete"
    };
    fields.insert("STATE".into(), Value::String(state.into()));
    Ok(())
}

/// The lines of a payment: `(line number, invoice RECORDNO, amount rounded to 2)`.
fn payment_lines(fields: &Map<String, Value>) -> Result<Vec<(usize, String, Decimal)>, Fail> {
    entries_of(fields, "ARPYMTDETAILS", "ARPYMTDETAIL")
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let n = i + 1;
            // Rounded to 2 decimals the commercial way (spec §6.5, §10).
            let amount = lookup(d, "TRX_PAYMENTAMOUNT")
                .and_then(|a| decimal(&a))
                .map(|a| {
                    a.round_dp_with_strategy(
                        2,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    )
                })
                .filter(|a| *a > Decimal::ZERO)
                .ok_or_else(|| {
                    Fail::new(
                        INVALID_VALUE,
                        "Invalid amount",
                        &format!("Line {n}: TRX_PAYMENTAMOUNT must be a positive number."),
                        "",
                    )
                })?;
            Ok((n, lookup(d, "RECORDKEY").unwrap_or_default(), amount))
        })
        .collect()
}

/// Applies a payment's lines to its invoices (`sign` 1), or takes them back
/// (`sign` -1: the payment is updated or deleted). Applying refuses to pay
/// more than an invoice's balance.
async fn apply_payment(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    fields: &Map<String, Value>,
    sign: i64,
) -> Result<(), FnError> {
    for (n, key, amount) in payment_lines(fields)? {
        let invoice = match key.parse::<i64>() {
            Ok(no) => store::by_recordnos(conn, ctx.pair_id, "ARINVOICE", &[no])
                .await?
                .into_iter()
                .next(),
            Err(_) => None,
        };
        let Some(mut invoice) = invoice else {
            if sign < 0 {
                continue; // the invoice went away (e.g. re-posted): nothing to take back
            }
            return Err(Fail::new(
                INVALID_REFERENCE,
                "Invalid invoice",
                &format!("Line {n}: invoice RECORDKEY '{key}' does not exist."),
                "Use the RECORDNO of an AR invoice (SODOCUMENT.PRRECORDKEY).",
            )
            .into());
        };
        let due = lookup(&invoice.fields, "TOTALDUE")
            .and_then(|v| decimal(&v))
            .unwrap_or_default();
        if sign > 0 && amount > due {
            return Err(Fail::new(
                INVALID_VALUE,
                "Overpayment",
                &format!(
                    "Line {n}: TRX_PAYMENTAMOUNT {} exceeds the amount due {} on invoice {key}.",
                    money(amount),
                    money(due)
                ),
                "",
            )
            .into());
        }
        let delta = amount * Decimal::from(sign);
        let paid = lookup(&invoice.fields, "TOTALPAID")
            .and_then(|v| decimal(&v))
            .unwrap_or_default()
            + delta;
        let left = due - delta;
        invoice
            .fields
            .insert("TOTALPAID".into(), Value::String(money(paid)));
        invoice
            .fields
            .insert("TOTALDUE".into(), Value::String(money(left)));
        let state = if left.is_zero() {
            "Paid"
        } else if paid.is_zero() {
            "Posted"
        } else {
            "Partially Paid"
        };
        invoice
            .fields
            .insert("STATE".into(), Value::String(state.into()));
        let reference = lookup(&invoice.fields, "DOCNUMBER");
        store::update(
            conn,
            ctx.pair_id,
            "ARINVOICE",
            &mut invoice,
            reference,
            ctx.now,
        )
        .await?;
    }
    Ok(())
}

fn upper_keys(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect(),
        _ => Map::new(),
    }
}

fn created(def: &ObjectDef, r: &Record) -> Element {
    let mut el = Element::new(def.name.to_ascii_lowercase())
        .child(Element::leaf("RECORDNO", r.recordno.to_string()));
    if let Some(id) = def.id_field {
        el.push(Element::leaf(id, lookup(&r.fields, id).unwrap_or_default()));
    }
    el
}

/// Generic `create`: one or more objects, possibly of different types (spec §5.1).
pub async fn create(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    if call.children.is_empty() {
        return Err(Fail::new(
            REQUIRED_FIELD,
            "Nothing to create",
            "create holds no object.",
            "",
        )
        .into());
    }
    let mut out = Vec::new();
    for obj in &call.children {
        let def = writable(&obj.name)?;
        let mut fields = upper_keys(obj.to_json());
        fields.remove("RECORDNO");
        validate(ctx, conn, def, &mut fields).await?;
        if def.name == "ARPYMT" {
            apply_payment(ctx, conn, &fields, 1).await?;
        }
        let object_id = match def.id_field {
            Some(f) => {
                let id = lookup(&fields, f).unwrap_or_default();
                if store::exists(conn, ctx.pair_id, def.name, &id).await? {
                    return Err(Fail::new(
                        errno::DUPLICATE,
                        &format!("Duplicate {}", def.name.to_ascii_lowercase()),
                        &format!("{f} '{id}' already exists."),
                        &format!("Enter a unique {f}, or update the existing record."),
                    )
                    .into());
                }
                Some(id)
            }
            None => None,
        };
        let reference = def.reference_field.and_then(|f| lookup(&fields, f));
        let r = store::insert(
            conn,
            ctx.pair_id,
            NewRecord {
                object: def.name,
                object_id,
                docparid: None,
                reference,
                fields,
            },
            ctx.now,
        )
        .await?;
        out.push(created(def, &r));
    }
    let n = out.len();
    Ok(Done {
        elements: vec![data("objects", &[("count", n.to_string())], out)],
        usage: n as i64,
    })
}

/// Deep merge: objects merge key by key, anything else replaces.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Generic `update`: partial, keyed by RECORDNO or the business id (spec §5.1).
pub async fn update(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    if call.children.is_empty() {
        return Err(Fail::new(
            REQUIRED_FIELD,
            "Nothing to update",
            "update holds no object.",
            "",
        )
        .into());
    }
    let mut out = Vec::new();
    for obj in &call.children {
        let def = writable(&obj.name)?;
        let changes = upper_keys(obj.to_json());
        let record = if let Some(no) = lookup(&changes, "RECORDNO") {
            match no.parse::<i64>() {
                Ok(no) => store::by_recordnos(conn, ctx.pair_id, def.name, &[no])
                    .await?
                    .into_iter()
                    .next(),
                Err(_) => None,
            }
        } else if let Some(id) = def.id_field.and_then(|f| lookup(&changes, f)) {
            store::by_id(conn, ctx.pair_id, def.name, &id).await?
        } else {
            return Err(Fail::new(
                REQUIRED_FIELD,
                "Missing key",
                &format!(
                    "update of {} needs RECORDNO{}.",
                    def.name,
                    def.id_field.map(|f| format!(" or {f}")).unwrap_or_default()
                ),
                "",
            )
            .into());
        };
        let Some(mut record) = record else {
            return Err(Fail::new(
                INVALID_REFERENCE,
                "Record not found",
                &format!("No {} matches the given key.", def.name),
                "",
            )
            .into());
        };
        if let Some(f) = def.id_field
            && lookup(&changes, f).is_some_and(|id| id != record.object_id)
        {
            return Err(Fail::new(
                INVALID_VALUE,
                "Read-only field",
                &format!("{f} cannot be changed."),
                "",
            )
            .into());
        }
        let mut changes = changes;
        changes.remove("RECORDNO");
        changes.remove("WHENCREATED");
        changes.remove("WHENMODIFIED");
        let mut fields = record.fields.clone();
        merge(&mut fields, changes);
        validate(ctx, conn, def, &mut fields).await?;
        // A payment's lines move invoice balances once: take the old ones back
        // and apply the new ones (the same lines net to nothing).
        if def.name == "ARPYMT" {
            apply_payment(ctx, conn, &record.fields, -1).await?;
            apply_payment(ctx, conn, &fields, 1).await?;
        }
        record.fields = fields;
        let reference = def.reference_field.and_then(|f| lookup(&record.fields, f));
        store::update(conn, ctx.pair_id, def.name, &mut record, reference, ctx.now).await?;
        out.push(created(def, &record));
    }
    let n = out.len();
    Ok(Done {
        elements: vec![data("objects", &[("count", n.to_string())], out)],
        usage: n as i64,
    })
}

/// Generic `delete`: `object` + comma-separated RECORDNO `keys`.
pub async fn delete(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    let def = writable(call.child_text("object").unwrap_or(""))?;
    let keys: Vec<&str> = call
        .child_text("keys")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(Fail::new(
            REQUIRED_FIELD,
            "Missing keys",
            "delete needs keys (RECORDNOs).",
            "",
        )
        .into());
    }
    for k in &keys {
        let no: i64 = k.parse().map_err(|_| {
            Fail::new(
                INVALID_VALUE,
                "Invalid key",
                &format!("'{k}' is not a RECORDNO."),
                "",
            )
        })?;
        if def.name == "ARPYMT"
            && let Some(p) = store::by_recordnos(conn, ctx.pair_id, def.name, &[no])
                .await?
                .into_iter()
                .next()
        {
            apply_payment(ctx, conn, &p.fields, -1).await?;
        }
        if !store::delete(conn, ctx.pair_id, def.name, no).await? {
            return Err(Fail::new(
                INVALID_REFERENCE,
                "Record not found",
                &format!("{} {k} does not exist.", def.name),
                "",
            )
            .into());
        }
    }
    Ok(Done {
        elements: Vec::new(),
        usage: keys.len() as i64,
    })
}

#[cfg(test)]
mod tests {
    //! The generic reads against a seeded company in a throw-away SQLite file.

    use std::sync::Arc;

    use super::*;
    use crate::intacct::{Sim, SimConfig};
    use crate::{FaultRegistry, SandboxState};

    struct Company {
        sim: Sim,
        pair_id: String,
        path: std::path::PathBuf,
    }

    impl Drop for Company {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }

    async fn company() -> Company {
        // reqwest is built without a TLS provider; the product installs one at start.
        connect_jobs::connectors::http::install_crypto_provider();
        let path = std::env::temp_dir().join(format!(
            "connect-sandbox-generic-{}.db",
            uuid::Uuid::now_v7().simple()
        ));
        let db = connect_store::Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("database");
        db.migrate().await.expect("migrations");
        let pair_id = "pair_fields".to_owned();
        let mut conn = db.pool().acquire().await.expect("connection");
        crate::intacct::seed(&mut conn, &pair_id)
            .await
            .expect("seed");
        drop(conn);
        let state = SandboxState {
            db,
            faults: Arc::new(FaultRegistry::default()),
            http: reqwest::Client::new(),
            self_url: Arc::from("http://127.0.0.1:0"),
            memo: Arc::default(),
        };
        let sim = Sim {
            state,
            config: SimConfig::default(),
            slots: Default::default(),
        };
        Company { sim, pair_id, path }
    }

    /// Runs one generic function (`<query>…</query>` and friends).
    async fn call(c: &Company, xml: &str) -> FnResult {
        let call = Element::parse(xml).expect("function XML");
        let ctx = Ctx {
            sim: &c.sim,
            pair_id: &c.pair_id,
            company_id: "SANDBOX",
            location_id: None,
            now: c.sim.now(),
            refs: Default::default(),
        };
        let mut conn = c.sim.db().pool().acquire().await.expect("connection");
        match call.name.as_str() {
            "query" => query(&ctx, &mut conn, &call).await,
            "readByQuery" => read_by_query(&ctx, &mut conn, &call).await,
            "lookup" => lookup_function(&call),
            other => panic!("no test route for {other}"),
        }
    }

    fn errorno(r: FnResult) -> String {
        match r {
            Err(FnError::Fail(f)) => f.0[0].errorno.clone().unwrap_or_default(),
            Err(FnError::Db(e)) => panic!("database: {e}"),
            Ok(d) => panic!("succeeded: {}", d.elements[0].to_xml()),
        }
    }

    fn data(r: FnResult) -> Element {
        match r {
            Ok(mut d) => d.elements.remove(0),
            Err(e) => panic!("failed: {e:?}"),
        }
    }

    #[tokio::test]
    async fn query_selects_the_fields_real_clients_ask_for() {
        let c = company().await;
        for (object, field) in [
            ("CUSTOMER", "ENTITY"),
            ("ITEM", "MRR"),
            ("DEPARTMENT", "PARENTKEY"),
        ] {
            let xml = format!(
                "<query><object>{object}</object><select><field>RECORDNO</field>\
                 <field>{field}</field></select><pagesize>5</pagesize></query>"
            );
            let d = data(call(&c, &xml).await);
            let first = d
                .children
                .first()
                .unwrap_or_else(|| panic!("{object}: no rows"));
            // A field the record does not hold comes back as an empty element.
            assert_eq!(
                first.child_text(field).unwrap_or(""),
                "",
                "{object}.{field}"
            );
            assert!(first.find(field).is_some(), "{object}.{field} missing");
        }
    }

    #[tokio::test]
    async fn read_by_query_names_and_filters_on_any_listed_field() {
        let c = company().await;
        let xml = "<readByQuery><object>ITEM</object><fields>ITEMID,MRR,SHIP_WEIGHT</fields>\
                   <query>MRR IS NULL AND ITEMID = 'SKU-1001'</query></readByQuery>";
        let d = data(call(&c, xml).await);
        assert_eq!(d.attr_value("count"), Some("1"), "{}", d.to_xml());
    }

    #[tokio::test]
    async fn lookup_lists_every_field_with_its_type() {
        let c = company().await;
        let d = data(call(&c, "<lookup><object>CUSTOMER</object></lookup>").await);
        let ty = d.find("Type").expect("Type");
        assert_eq!(ty.attr_value("Name"), Some("CUSTOMER"));
        let fields: Vec<&Element> = ty
            .find("Fields")
            .expect("Fields")
            .find_all("Field")
            .collect();
        assert!(fields.len() > 200, "{} fields", fields.len());
        let field = |id: &str| {
            *fields
                .iter()
                .find(|f| f.child_text("ID") == Some(id))
                .unwrap_or_else(|| panic!("{id} not listed"))
        };
        let entity = field("ENTITY");
        assert_eq!(entity.child_text("DATATYPE"), Some("TEXT"));
        assert_eq!(entity.child_text("LABEL"), Some("Entity"));
        assert_eq!(entity.child_text("ISCUSTOM"), Some("false"));
        assert_eq!(field("CREDITLIMIT").child_text("DATATYPE"), Some("DECIMAL"));
        assert_eq!(
            field("WHENMODIFIED").child_text("DATATYPE"),
            Some("TIMESTAMP")
        );
        assert_eq!(field("WHENMODIFIED").child_text("READONLY"), Some("true"));
        assert_eq!(field("CUSTOMERID").child_text("REQUIRED"), Some("true"));
        assert_eq!(field("ONHOLD").child_text("DATATYPE"), Some("BOOLEAN"));
    }

    #[tokio::test]
    async fn unknown_fields_still_fail_with_invalid_field() {
        let c = company().await;
        for xml in [
            "<query><object>CUSTOMER</object><select><field>NOPE</field></select></query>",
            "<query><object>CUSTOMER</object><select><field>DISPLAYCONTACT.NOPE</field></select></query>",
            "<query><object>ITEM</object><select><field>ITEMID</field></select>\
             <filter><equalto><field>NOPE</field><value>1</value></equalto></filter></query>",
            "<query><object>DEPARTMENT</object><select><field>TITLE</field></select>\
             <orderby><order><field>NOPE</field><ascending/></order></orderby></query>",
            "<readByQuery><object>ITEM</object><fields>NOPE</fields><query></query></readByQuery>",
        ] {
            assert_eq!(errorno(call(&c, xml).await), errno::NO_SUCH_FIELD, "{xml}");
        }
    }

    #[tokio::test]
    async fn filters_on_newly_known_fields_compare_as_their_type() {
        let c = company().await;
        // PARENTKEY is an INTEGER: seeded departments have none, so isnull holds
        // for all of them and a numeric bound for none.
        let all = "<query><object>DEPARTMENT</object><select><field>DEPARTMENTID</field></select>\
                   <filter><isnull><field>PARENTKEY</field></isnull></filter></query>";
        let d = data(call(&c, all).await);
        assert_eq!(d.attr_value("count"), Some("3"), "{}", d.to_xml());
        let none = "<query><object>DEPARTMENT</object><select><field>DEPARTMENTID</field></select>\
                    <filter><greaterthan><field>PARENTKEY</field><value>0</value></greaterthan></filter></query>";
        assert_eq!(data(call(&c, none).await).attr_value("count"), Some("0"));
        // BASEPRICE is a DECIMAL: compared as numbers ("100" > "9.5"), which
        // text order would get wrong.
        let price = |r: &Element| {
            r.child_text("BASEPRICE")
                .and_then(decimal)
                .unwrap_or_else(|| panic!("no price: {}", r.to_xml()))
        };
        let all = "<query><object>ITEM</object><select><field>ITEMID</field><field>BASEPRICE</field></select>\
                   <pagesize>2000</pagesize></query>";
        let bound = Decimal::new(95, 1);
        let expected = data(call(&c, all).await)
            .children
            .iter()
            .filter(|r| price(r) > bound)
            .count();
        let over = "<query><object>ITEM</object><select><field>ITEMID</field><field>BASEPRICE</field></select>\
                    <filter><greaterthan><field>BASEPRICE</field><value>9.5</value></greaterthan></filter>\
                    <pagesize>2000</pagesize></query>";
        let got = data(call(&c, over).await);
        assert!(
            got.children.iter().all(|r| price(r) > bound),
            "{}",
            got.to_xml()
        );
        assert_eq!(got.children.len(), expected);
        assert!(expected > 0);
    }

    #[test]
    fn values_compare_as_the_fields_type() {
        use super::super::fields::FieldType as F;
        use query::compare_as;
        assert_eq!(
            compare_as("100", "9.5", Some(F::Decimal), false),
            Ordering::Greater
        );
        assert_eq!(
            compare_as("100", "9.5", Some(F::Text), false),
            Ordering::Less
        );
        assert_eq!(
            compare_as("12/31/2023", "01/01/2024", Some(F::Date), false),
            Ordering::Less
        );
        assert_eq!(
            compare_as("T", "true", Some(F::Boolean), false),
            Ordering::Equal
        );
        assert_eq!(
            compare_as("010", "10", Some(F::Integer), false),
            Ordering::Equal
        );
    }
}
