//! Target schemas: what each ERP record accepts, field by field — kind,
//! required, maximum length, allowed values, and which master data a value
//! must name (an item, a customer, a GL account, a dimension …).
//!
//! The schemas are data files in `jobs/schemas/{intacct,sagepro,clarity}/`,
//! one per target record (the `clarity/` ones are what the flows coming back
//! from the ERP write into the store), written from the specs in `shared/specs/` and the
//! connectors' wire types. They are embedded in the binary and parsed once.
//! [`super::validate`] checks a mapped record against one before anything is
//! sent; template saving uses [`TargetSchema::is_known_target`] to refuse a
//! rule that names a field the ERP does not have.
//!
//! Paths use `.` between object keys and `[]` after an array whose elements
//! the following keys describe: `sotransitems[].itemid`,
//! `ShipToAddress.City`, `ENTRIES.GLENTRY[].ACCOUNTNO`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// What kind of JSON value a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    /// A decimal number, as a JSON number or a numeric string; never a float
    /// in our own arithmetic.
    Decimal,
    Integer,
    /// A calendar date, in the field's [`DateFormat`].
    Date,
    Bool,
    Object,
    Array,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "text",
            Self::Decimal => "decimal number",
            Self::Integer => "whole number",
            Self::Date => "date",
            Self::Bool => "true or false",
            Self::Object => "object",
            Self::Array => "list",
        }
    }
}

/// How a date is written: Intacct's legacy functions split it
/// (`{"year","month","day"}`), its generic functions write `MM/DD/YYYY`, and
/// Sage Pro writes `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFormat {
    #[default]
    Iso,
    Us,
    Parts,
}

impl DateFormat {
    /// How the format reads in a suggestion.
    pub fn example(self) -> &'static str {
        match self {
            Self::Iso => "YYYY-MM-DD (e.g. 2024-06-01)",
            Self::Us => "MM/DD/YYYY (e.g. 06/01/2024)",
            Self::Parts => {
                r#"{"year": "2024", "month": "06", "day": "01"} (the date_parts transform)"#
            }
        }
    }
}

/// Master data that a field's value must name in the ERP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    Item,
    Customer,
    GlAccount,
    Location,
    Department,
    Class,
    Project,
    Warehouse,
    Term,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Item => "item",
            Self::Customer => "customer",
            Self::GlAccount => "gl_account",
            Self::Location => "location",
            Self::Department => "department",
            Self::Class => "class",
            Self::Project => "project",
            Self::Warehouse => "warehouse",
            Self::Term => "term",
        }
    }

    /// The word a person would use in a message.
    pub fn noun(self) -> &'static str {
        match self {
            Self::GlAccount => "GL account",
            Self::Term => "payment term",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules for one target field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub kind: FieldKind,
    /// Must be present and not blank. For a field inside an object or a list
    /// element, it is required whenever that object or element is present.
    #[serde(default)]
    pub required: bool,
    /// Longest text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// The only values allowed (compared exactly; integers by their text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enum_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<RefKind>,
    /// Dates only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<DateFormat>,
    /// Decimals only: most digits after the point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// Lists only: fewest elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<usize>,
}

/// One target record of one ERP.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSchema {
    pub erp: String,
    pub record: String,
    /// Other names the record goes by (the Intacct object or function name).
    pub aliases: Vec<String>,
    pub description: String,
    /// Field path → its rules.
    pub fields: BTreeMap<String, FieldSpec>,
    /// Groups of sibling fields of which at least one must be present
    /// (Intacct wants `termname` or `datedue`).
    pub one_of_required: Vec<Vec<String>>,
    /// Container path (`""` for the record, `shipto`, `sotransitems[]`) →
    /// the field paths directly inside it.
    children: BTreeMap<String, Vec<String>>,
}

/// A schema file that does not hold together. The files are embedded, so
/// this is a build mistake that the tests below catch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {file}: {message}")]
pub struct SchemaError {
    pub file: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    erp: String,
    record: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    one_of_required: Vec<Vec<String>>,
    fields: BTreeMap<String, FieldSpec>,
}

impl TargetSchema {
    /// Parses and checks one schema file.
    pub fn parse(file: &str, text: &str) -> Result<Self, SchemaError> {
        let fail = |message: String| SchemaError {
            file: file.to_owned(),
            message,
        };
        let raw: SchemaFile = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, spec) in &raw.fields {
            let (container, name) = split_path(path);
            if name.is_empty() || name.contains('[') {
                return Err(fail(format!("`{path}` is not a field path")));
            }
            if !container.is_empty() {
                let holder = container.strip_suffix("[]").unwrap_or(container);
                let want = if container.ends_with("[]") {
                    FieldKind::Array
                } else {
                    FieldKind::Object
                };
                match raw.fields.get(holder) {
                    Some(parent) if parent.kind == want => {}
                    _ => {
                        return Err(fail(format!(
                            "`{path}` sits in `{container}`, which is not declared as {}",
                            want.as_str()
                        )));
                    }
                }
            }
            check_spec(path, spec).map_err(fail)?;
            children
                .entry(container.to_owned())
                .or_default()
                .push(path.clone());
        }
        for (path, spec) in &raw.fields {
            let inside = match spec.kind {
                FieldKind::Array => format!("{path}[]"),
                FieldKind::Object => path.clone(),
                _ => continue,
            };
            if !children.contains_key(&inside) {
                return Err(fail(format!("`{path}` declares no fields inside it")));
            }
        }
        for group in &raw.one_of_required {
            let containers: Vec<&str> = group.iter().map(|p| split_path(p).0).collect();
            if group.len() < 2
                || containers.iter().any(|c| *c != containers[0])
                || group.iter().any(|p| !raw.fields.contains_key(p))
            {
                return Err(fail(format!(
                    "one_of_required {group:?} must name two or more declared sibling fields"
                )));
            }
        }
        Ok(Self {
            erp: raw.erp,
            record: raw.record,
            aliases: raw.aliases,
            description: raw.description,
            fields: raw.fields,
            one_of_required: raw.one_of_required,
            children,
        })
    }

    /// The rules for a path; element indexes are ignored
    /// (`sotransitems[3].itemid` finds `sotransitems[].itemid`).
    pub fn field(&self, path: &str) -> Option<&FieldSpec> {
        self.fields.get(&normalize_path(path))
    }

    /// Whether a template may write to this path: a declared field, a list
    /// element (`sotransitems[]`), or one part of a split date
    /// (`datecreated.year`).
    pub fn is_known_target(&self, path: &str) -> bool {
        let path = normalize_path(path);
        let (path, element) = match path.strip_suffix("[]") {
            Some(list) => (list, true),
            None => (path.as_str(), false),
        };
        if let Some(spec) = self.fields.get(path) {
            return !element || spec.kind == FieldKind::Array;
        }
        if element {
            return false;
        }
        let (container, name) = split_path(path);
        matches!(name, "year" | "month" | "day")
            && self.fields.get(container).is_some_and(|spec| {
                spec.kind == FieldKind::Date && spec.date_format == Some(DateFormat::Parts)
            })
    }

    /// The declared field closest to a mistyped path, for "did you mean".
    pub fn closest_target(&self, path: &str) -> Option<&str> {
        super::validate::closest_match(
            self.fields.keys().map(String::as_str),
            &normalize_path(path),
        )
    }

    /// The field paths directly inside a container (`""` for the record).
    pub(crate) fn children(&self, container: &str) -> &[String] {
        self.children.get(container).map_or(&[], Vec::as_slice)
    }
}

fn check_spec(path: &str, spec: &FieldSpec) -> Result<(), String> {
    let text_only = spec.max_len.is_some() || spec.reference.is_some();
    if text_only && spec.kind != FieldKind::String {
        return Err(format!(
            "`{path}`: max_len and reference apply to text only"
        ));
    }
    if !spec.enum_values.is_empty() && !matches!(spec.kind, FieldKind::String | FieldKind::Integer)
    {
        return Err(format!(
            "`{path}`: enum_values apply to text and whole numbers only"
        ));
    }
    if spec.date_format.is_some() && spec.kind != FieldKind::Date {
        return Err(format!("`{path}`: date_format applies to dates only"));
    }
    if spec.scale.is_some() && spec.kind != FieldKind::Decimal {
        return Err(format!("`{path}`: scale applies to decimals only"));
    }
    if spec.min_items.is_some() && spec.kind != FieldKind::Array {
        return Err(format!("`{path}`: min_items applies to lists only"));
    }
    Ok(())
}

/// `(container, last key)`: `sotransitems[].itemid` → `("sotransitems[]",
/// "itemid")`, `customerid` → `("", "customerid")`.
pub(crate) fn split_path(path: &str) -> (&str, &str) {
    match path.rsplit_once('.') {
        Some((container, name)) => (container, name),
        None => ("", path),
    }
}

/// Drops element indexes: `LineItems[2].ItemCode` → `LineItems[].ItemCode`.
fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '[' {
            for d in chars.by_ref() {
                if d == ']' {
                    out.push(']');
                    break;
                }
            }
        }
    }
    out
}

const FILES: &[(&str, &str)] = &[
    (
        "intacct/sotransaction.json",
        include_str!("../../schemas/intacct/sotransaction.json"),
    ),
    (
        "intacct/aradjustment.json",
        include_str!("../../schemas/intacct/aradjustment.json"),
    ),
    (
        "intacct/customer.json",
        include_str!("../../schemas/intacct/customer.json"),
    ),
    (
        "intacct/item.json",
        include_str!("../../schemas/intacct/item.json"),
    ),
    (
        "intacct/arpayment.json",
        include_str!("../../schemas/intacct/arpayment.json"),
    ),
    (
        "intacct/glbatch.json",
        include_str!("../../schemas/intacct/glbatch.json"),
    ),
    (
        "sagepro/SalesOrder.json",
        include_str!("../../schemas/sagepro/SalesOrder.json"),
    ),
    (
        "sagepro/Customer.json",
        include_str!("../../schemas/sagepro/Customer.json"),
    ),
    (
        "sagepro/Product.json",
        include_str!("../../schemas/sagepro/Product.json"),
    ),
    (
        "sagepro/Invoice.json",
        include_str!("../../schemas/sagepro/Invoice.json"),
    ),
    (
        "clarity/product.json",
        include_str!("../../schemas/clarity/product.json"),
    ),
    (
        "clarity/inventory.json",
        include_str!("../../schemas/clarity/inventory.json"),
    ),
    (
        "clarity/shipment.json",
        include_str!("../../schemas/clarity/shipment.json"),
    ),
    (
        "clarity/customer.json",
        include_str!("../../schemas/clarity/customer.json"),
    ),
    (
        "clarity/order_update.json",
        include_str!("../../schemas/clarity/order_update.json"),
    ),
];

/// How the names of Clarity target records begin.
const CLARITY_PREFIX: &str = "clarity.";

static SCHEMAS: LazyLock<Vec<TargetSchema>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(file, text)| TargetSchema::parse(file, text).unwrap_or_else(|e| panic!("{e}")))
        .collect()
});

/// Every built-in target schema.
pub fn schemas() -> &'static [TargetSchema] {
    &SCHEMAS
}

/// The schema for an ERP (`intacct`, `sagepro`) and a record, by its name or
/// an alias, ignoring case (`sotransaction`, `ARPYMT`, `SalesOrder`).
///
/// The records the flows coming back from the ERP write into Clarity are
/// named `clarity.<record>` (`clarity.product`); such a name is found
/// whichever system is asked, so a template document's own `erp` and
/// `record` always find its schema.
pub fn schema_for(erp: &str, record: &str) -> Option<&'static TargetSchema> {
    let record = record.trim();
    let erp = if record.len() > CLARITY_PREFIX.len()
        && record[..CLARITY_PREFIX.len()].eq_ignore_ascii_case(CLARITY_PREFIX)
    {
        "clarity"
    } else {
        erp
    };
    SCHEMAS.iter().find(|s| {
        s.erp.eq_ignore_ascii_case(erp)
            && (s.record.eq_ignore_ascii_case(record)
                || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(record)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_file_parses_and_records_are_found_by_name_and_alias() {
        assert_eq!(schemas().len(), FILES.len());
        for (erp, record) in [
            ("intacct", "sotransaction"),
            ("intacct", "customer"),
            ("intacct", "item"),
            ("intacct", "arpayment"),
            ("intacct", "ARPYMT"),
            ("intacct", "glbatch"),
            ("intacct", "aradjustment"),
            ("sagepro", "SalesOrder"),
            ("sagepro", "Customer"),
            ("sagepro", "Product"),
            ("sagepro", "Invoice"),
        ] {
            let schema = schema_for(erp, record).unwrap_or_else(|| panic!("{erp}/{record}"));
            assert_eq!(schema.erp, erp);
        }
        for record in [
            "clarity.product",
            "clarity.inventory",
            "clarity.shipment",
            "clarity.customer",
            "clarity.order_update",
        ] {
            let schema = schema_for("clarity", record).unwrap_or_else(|| panic!("{record}"));
            assert_eq!(schema.erp, "clarity");
            // A template for an Intacct pair names its Clarity record the same way.
            assert_eq!(schema_for("intacct", record), Some(schema));
            assert_eq!(schema_for("sagepro", &record.to_uppercase()), Some(schema));
        }
        // A bare Clarity record name is not taken for the ERP's own record.
        assert_eq!(schema_for("intacct", "customer").unwrap().erp, "intacct");
        assert!(schema_for("intacct", "clarity.").is_none());
        assert_eq!(schema_for("INTACCT", "arpymt").unwrap().record, "arpayment");
        assert!(schema_for("sagepro", "sotransaction").is_none());
        assert!(schema_for("sap", "SalesOrder").is_none());
    }

    #[test]
    fn schemas_carry_the_specs_rules() {
        let so = schema_for("intacct", "sotransaction").unwrap();
        let item = so.field("sotransitems[4].itemid").unwrap();
        assert!(item.required);
        assert_eq!(item.reference, Some(RefKind::Item));
        assert_eq!(
            so.field("state").unwrap().enum_values,
            ["Draft", "Pending", "Closed"]
        );
        assert_eq!(so.one_of_required, [["termname", "datedue"]]);

        let order = schema_for("sagepro", "SalesOrder").unwrap();
        assert_eq!(order.field("CustomerNo").unwrap().max_len, Some(10));
        assert_eq!(order.field("ShipToAddress.City").unwrap().max_len, Some(20));
        assert!(order.field("ShipToAddress.Address1").unwrap().required);
        assert!(!order.field("BillToAddress.Address1").unwrap().required);
        assert_eq!(order.field("LineItems[].Quantity").unwrap().scale, Some(4));
        assert_eq!(
            schema_for("intacct", "glbatch")
                .unwrap()
                .field("ENTRIES.GLENTRY")
                .unwrap()
                .min_items,
            Some(2)
        );
    }

    #[test]
    fn known_targets_accept_declared_paths_and_refuse_typos() {
        let so = schema_for("intacct", "sotransaction").unwrap();
        for path in [
            "customerid",
            "sotransitems",
            "sotransitems[]",
            "sotransitems[].itemid",
            "sotransitems[0].price",
            "shipto.contactname",
            "datecreated.year",
            "subtotals[].total",
        ] {
            assert!(so.is_known_target(path), "{path}");
        }
        for path in [
            "custmerid",
            "sotransitems[].itemidd",
            "customerid[]",
            "datecreated.hour",
            "referenceno.year",
            "",
        ] {
            assert!(!so.is_known_target(path), "{path}");
        }
        assert_eq!(so.closest_target("custmerid"), Some("customerid"));
        assert_eq!(
            so.closest_target("sotransitems[].itmid"),
            Some("sotransitems[].itemid")
        );

        let order = schema_for("sagepro", "SalesOrder").unwrap();
        assert!(order.is_known_target("ShipToAddress.Zip"));
        assert!(!order.is_known_target("ShipToAddress.ZipCode"));
        assert!(
            !order.is_known_target("Status"),
            "read-only fields are not targets"
        );
    }

    #[test]
    fn inconsistent_schema_files_are_refused_with_the_path() {
        let orphan = r#"{"erp":"x","record":"y","fields":{"lines[].sku":{"kind":"string"}}}"#;
        let err = TargetSchema::parse("x/y.json", orphan).unwrap_err();
        assert!(err.to_string().contains("lines[].sku"), "{err}");

        let bad_len = r#"{"erp":"x","record":"y","fields":{"qty":{"kind":"decimal","max_len":3}}}"#;
        assert!(TargetSchema::parse("x/y.json", bad_len).is_err());

        let empty_object = r#"{"erp":"x","record":"y","fields":{"shipto":{"kind":"object"}}}"#;
        assert!(TargetSchema::parse("x/y.json", empty_object).is_err());

        let lonely = r#"{"erp":"x","record":"y","one_of_required":[["a"]],"fields":{"a":{"kind":"string"}}}"#;
        assert!(TargetSchema::parse("x/y.json", lonely).is_err());
    }
}
