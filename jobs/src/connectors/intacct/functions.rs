//! The functions the connector sends, as `<function controlid="…">` elements
//! ready for a request's `<content>` (spec §5–§6), and what each returned.
//!
//! Fixed shapes (create_sotransaction, query, readByQuery, …) are written by the
//! serde types in [`super::wire`]; open-ended ones (generic objects, the
//! sales-order update) are built as [`Element`]s. A function also says how a
//! refused repeat of its control id is resolved ([`Resolve`]), so a batch can be
//! retried after an unknown outcome without creating anything twice.

use serde_json::{Map, Value};

use crate::connectors::{ConnectorError, System};

use super::element::Element;
use super::wire::{
    ArAdjustment, Function, FunctionCall, Query, Read, ReadByQuery, ReadMore, SoTransaction, Status,
};

const SYSTEM: System = System::Intacct;

/// The objects the connector writes with the generic `create`/`update`/`delete`
/// (spec §6.2–§6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    Customer,
    Contact,
    Item,
    GlBatch,
    ArPayment,
    Location,
    Department,
    Class,
    Project,
    Warehouse,
}

impl Object {
    pub const ALL: [Object; 10] = [
        Object::Customer,
        Object::Contact,
        Object::Item,
        Object::GlBatch,
        Object::ArPayment,
        Object::Location,
        Object::Department,
        Object::Class,
        Object::Project,
        Object::Warehouse,
    ];

    /// The object name as the gateway spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Customer => "CUSTOMER",
            Object::Contact => "CONTACT",
            Object::Item => "ITEM",
            Object::GlBatch => "GLBATCH",
            Object::ArPayment => "ARPYMT",
            Object::Location => "LOCATION",
            Object::Department => "DEPARTMENT",
            Object::Class => "CLASS",
            Object::Project => "PROJECT",
            Object::Warehouse => "WAREHOUSE",
        }
    }

    pub fn parse(name: &str) -> Option<Object> {
        Object::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The business id field, for objects that have one.
    pub fn id_field(self) -> Option<&'static str> {
        match self {
            Object::Customer => Some("CUSTOMERID"),
            Object::Contact => Some("CONTACTNAME"),
            Object::Item => Some("ITEMID"),
            Object::Location => Some("LOCATIONID"),
            Object::Department => Some("DEPARTMENTID"),
            Object::Class => Some("CLASSID"),
            Object::Project => Some("PROJECTID"),
            Object::Warehouse => Some("WAREHOUSEID"),
            Object::GlBatch | Object::ArPayment => None,
        }
    }

    /// The external reference a record without a business id is found by after
    /// an unknown outcome (spec §8.5).
    pub fn reference_field(self) -> Option<&'static str> {
        match self {
            Object::GlBatch => Some("REFERENCENO"),
            Object::ArPayment => Some("DOCNUMBER"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record as JSON: upper-case field names, values as Intacct prints them,
/// nested groups as objects and repeated elements as arrays.
pub type Record = Map<String, Value>;

/// How to find what a write created when Intacct refuses its control id as
/// already processed.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolve {
    /// An OE transaction: by its reference (PONUMBER), else its document number.
    SalesOrder {
        transaction_type: String,
        reference: Option<String>,
        document_no: Option<String>,
    },
    /// A generic object: by a field that identifies it (business id or reference).
    Object {
        object: Object,
        field: &'static str,
        value: String,
    },
    /// The key is known already (updates and deletes name their record).
    Key(String),
    /// A record of an object outside [`Object`] (an AR adjustment), by a field.
    Lookup {
        object: &'static str,
        field: &'static str,
        value: String,
    },
}

/// One function of a request: its control id, its call, and what it is about
/// (for error messages and for resolving a refused repeat).
#[derive(Debug, Clone)]
pub struct ApiFunction {
    pub controlid: String,
    pub call: Element,
    /// "CUSTOMER C-100", "Sales Order CO-1": names the record in errors.
    pub record: String,
    /// Writes count on `uniqueid=true`; reads do not need it.
    pub write: bool,
    pub resolve: Option<Resolve>,
    /// The sales order sent, for naming its fields in errors.
    pub(crate) order: Option<Box<SoTransaction>>,
}

fn typed(controlid: &str, call: FunctionCall) -> Result<Element, ConnectorError> {
    let f = Function {
        controlid: controlid.to_owned(),
        call,
    };
    let el = to_element("function", &f)?;
    Ok(el.children.into_iter().next().unwrap_or_default())
}

/// A wire type as an element tree. The values come from records a tenant
/// sent, so a value the XML writer or reader cannot take is that record's
/// problem (named in a validation error), never a panic.
fn to_element<T: serde::Serialize>(root: &str, value: &T) -> Result<Element, ConnectorError> {
    let unwritable = |message: String| ConnectorError::Validation {
        system: System::Intacct,
        field: None,
        message: format!("the record cannot be written as Intacct XML: {message}"),
    };
    let xml =
        quick_xml::se::to_string_with_root(root, value).map_err(|e| unwritable(e.to_string()))?;
    Element::parse(&xml).map_err(|e| unwritable(e.to_string()))
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl ApiFunction {
    fn new(controlid: &str, call: Element, record: String, write: bool) -> Self {
        Self {
            controlid: controlid.to_owned(),
            call,
            record,
            write,
            resolve: None,
            order: None,
        }
    }

    /// The `<function>` element.
    pub fn element(&self) -> Element {
        Element::new("function")
            .attr("controlid", &self.controlid)
            .child(self.call.clone())
    }

    pub fn name(&self) -> &str {
        &self.call.name
    }

    /// `create_aradjustment` (spec §6.7): an AR credit memo (negative amounts)
    /// or debit memo. A refused repeat is found again by its adjustment number.
    pub fn create_ar_adjustment(
        controlid: &str,
        adjustment: &ArAdjustment,
    ) -> Result<Self, ConnectorError> {
        let call = typed(
            controlid,
            FunctionCall::CreateArAdjustment(Box::new(adjustment.clone())),
        )?;
        let number = non_empty(adjustment.adjustmentno.as_deref());
        let mut f = Self::new(
            controlid,
            call,
            format!(
                "AR adjustment {} for customer {}",
                number.unwrap_or("(unnumbered)"),
                adjustment.customerid
            ),
            true,
        );
        f.resolve = number.map(|n| Resolve::Lookup {
            object: "ARADJUSTMENT",
            field: "RECORDID",
            value: n.to_owned(),
        });
        Ok(f)
    }

    /// `create_sotransaction` (spec §6.1).
    pub fn create_sales_order(
        controlid: &str,
        order: &SoTransaction,
    ) -> Result<Self, ConnectorError> {
        let call = typed(
            controlid,
            FunctionCall::CreateSoTransaction(Box::new(order.into())),
        )?;
        let number = non_empty(order.referenceno.as_deref())
            .or(non_empty(order.documentno.as_deref()))
            .unwrap_or("(auto-numbered)");
        let mut f = Self::new(
            controlid,
            call,
            format!("{} {number}", order.transactiontype),
            true,
        );
        f.resolve = Some(Resolve::SalesOrder {
            transaction_type: order.transactiontype.clone(),
            reference: non_empty(order.referenceno.as_deref()).map(str::to_owned),
            document_no: non_empty(order.documentno.as_deref()).map(str::to_owned),
        });
        f.order = Some(Box::new(order.clone()));
        Ok(f)
    }

    /// `update_sotransaction key="…"` (spec §6.1).
    pub fn update_sales_order(
        controlid: &str,
        key: &str,
        update: &SoUpdate,
    ) -> Result<Self, ConnectorError> {
        let mut f = Self::new(controlid, update.element(key)?, key.to_owned(), true);
        f.resolve = Some(Resolve::Key(key.to_owned()));
        Ok(f)
    }

    /// Generic `create` of one object; `fields` is the record as JSON.
    pub fn create(controlid: &str, object: Object, fields: &Record) -> Self {
        let call = Element::new("create").child(object_element(object, fields));
        let (record, resolve) = identify(object, fields);
        let mut f = Self::new(controlid, call, record, true);
        f.resolve = resolve;
        f
    }

    /// Generic `update`, keyed by `RECORDNO` or the business id in `fields`.
    pub fn update(controlid: &str, object: Object, fields: &Record) -> Self {
        let call = Element::new("update").child(object_element(object, fields));
        let (record, _) = identify(object, fields);
        let key =
            text(fields, "RECORDNO").or_else(|| object.id_field().and_then(|f| text(fields, f)));
        let mut f = Self::new(controlid, call, record, true);
        f.resolve = key.map(Resolve::Key);
        f
    }

    /// Generic `delete` of records by RECORDNO.
    pub fn delete(controlid: &str, object: Object, recordnos: &[String]) -> Self {
        let keys = recordnos.join(",");
        let call = Element::new("delete")
            .child(Element::leaf("object", object.as_str()))
            .child(Element::leaf("keys", &keys));
        let mut f = Self::new(controlid, call, format!("{object} {keys}"), true);
        f.resolve = Some(Resolve::Key(keys));
        f
    }

    /// Generic `read` by RECORDNO (at most 100 keys).
    pub fn read(
        controlid: &str,
        object: &str,
        recordnos: &[String],
        fields: &str,
    ) -> Result<Self, ConnectorError> {
        let call = typed(
            controlid,
            FunctionCall::Read(Read {
                object: object.to_owned(),
                keys: recordnos.join(","),
                fields: fields.to_owned(),
                return_format: None,
                docparid: None,
            }),
        )?;
        Ok(Self::new(controlid, call, object.to_owned(), false))
    }

    /// `readByName`: keys are business ids.
    pub fn read_by_name(
        controlid: &str,
        object: &str,
        ids: &[String],
        fields: &str,
    ) -> Result<Self, ConnectorError> {
        let mut call = typed(
            controlid,
            FunctionCall::Read(Read {
                object: object.to_owned(),
                keys: ids.join(","),
                fields: fields.to_owned(),
                return_format: None,
                docparid: None,
            }),
        )?;
        call.name = "readByName".to_owned();
        Ok(Self::new(
            controlid,
            call,
            format!("{object} {}", ids.join(",")),
            false,
        ))
    }

    pub fn read_by_query(controlid: &str, q: ReadByQuery) -> Result<Self, ConnectorError> {
        let record = q.object.clone();
        Ok(Self::new(
            controlid,
            typed(controlid, FunctionCall::ReadByQuery(q))?,
            record,
            false,
        ))
    }

    pub fn read_more(controlid: &str, result_id: &str) -> Result<Self, ConnectorError> {
        let call = typed(
            controlid,
            FunctionCall::ReadMore(ReadMore {
                result_id: Some(result_id.to_owned()),
                object: None,
            }),
        )?;
        Ok(Self::new(controlid, call, "readMore".to_owned(), false))
    }

    pub fn query(controlid: &str, q: Query) -> Result<Self, ConnectorError> {
        let record = q.object.clone();
        Ok(Self::new(
            controlid,
            typed(controlid, FunctionCall::Query(Box::new(q)))?,
            record,
            false,
        ))
    }
}

/// A field of a record as text; `None` when absent or empty.
pub fn text(fields: &Record, name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| match v {
            Value::String(s) => non_empty(Some(s)).map(str::to_owned),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// "CUSTOMER C-100" and how to find it again after an unknown outcome.
fn identify(object: Object, fields: &Record) -> (String, Option<Resolve>) {
    let by = object
        .id_field()
        .or(object.reference_field())
        .and_then(|f| text(fields, f).map(|v| (f, v)));
    match by {
        Some((field, value)) => (
            format!("{object} {value}"),
            Some(Resolve::Object {
                object,
                field,
                value,
            }),
        ),
        None => (object.as_str().to_owned(), None),
    }
}

fn object_element(object: Object, fields: &Record) -> Element {
    Element::from_json(object.as_str(), &Value::Object(fields.clone()))
}

/// `update_sotransaction`: header fields, changed lines (1-based `line_num`)
/// and added lines, in the order of the SDK's writer.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SoUpdate {
    #[serde(default)]
    pub referenceno: Option<String>,
    #[serde(default)]
    pub termname: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub shippingmethod: Option<String>,
    #[serde(default)]
    pub externalid: Option<String>,
    #[serde(default)]
    pub customerponumber: Option<String>,
    /// `Draft`, `Pending` or `Closed`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub lines: Vec<SoLineUpdate>,
    /// New lines, appended after the existing ones.
    #[serde(default)]
    pub add_lines: Vec<super::wire::SoTransItem>,
}

/// Changes to one existing line; `line_num` is 1-based (spec §6.1).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SoLineUpdate {
    pub line_num: u32,
    #[serde(default)]
    pub itemid: Option<String>,
    #[serde(default)]
    pub warehouseid: Option<String>,
    #[serde(default)]
    pub quantity: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub price: Option<String>,
    #[serde(default)]
    pub locationid: Option<String>,
    #[serde(default)]
    pub departmentid: Option<String>,
    #[serde(default)]
    pub memo: Option<String>,
}

impl SoUpdate {
    fn element(&self, key: &str) -> Result<Element, ConnectorError> {
        let mut el = Element::new("update_sotransaction")
            .attr("key", key)
            .opt_leaf("referenceno", self.referenceno.as_deref())
            .opt_leaf("customerponumber", self.customerponumber.as_deref())
            .opt_leaf("termname", self.termname.as_deref())
            .opt_leaf("message", self.message.as_deref())
            .opt_leaf("shippingmethod", self.shippingmethod.as_deref())
            .opt_leaf("externalid", self.externalid.as_deref())
            .opt_leaf("state", self.state.as_deref());
        if !self.lines.is_empty() || !self.add_lines.is_empty() {
            let mut items = Element::new("updatesotransitems");
            for l in &self.lines {
                items.push(
                    Element::new("updatesotransitem")
                        .attr("line_num", l.line_num.to_string())
                        .opt_leaf("itemid", l.itemid.as_deref())
                        .opt_leaf("warehouseid", l.warehouseid.as_deref())
                        .opt_leaf("quantity", l.quantity.as_deref())
                        .opt_leaf("unit", l.unit.as_deref())
                        .opt_leaf("price", l.price.as_deref())
                        .opt_leaf("locationid", l.locationid.as_deref())
                        .opt_leaf("departmentid", l.departmentid.as_deref())
                        .opt_leaf("memo", l.memo.as_deref()),
                );
            }
            for l in &self.add_lines {
                items.push(to_element("sotransitem", l)?);
            }
            el.push(items);
        }
        Ok(el)
    }
}

/// `<data>` of a result: the paging attributes and the records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Data {
    pub listtype: Option<String>,
    pub count: Option<u64>,
    pub totalcount: Option<u64>,
    pub offset: Option<u64>,
    pub numremaining: Option<u64>,
    pub result_id: Option<String>,
    pub records: Vec<Record>,
}

impl Data {
    pub(crate) fn from_element(el: &Element) -> Self {
        let num = |n: &str| el.attr_value(n).and_then(|v| v.trim().parse().ok());
        Data {
            listtype: el.attr_value("listtype").map(str::to_owned),
            count: num("count"),
            totalcount: num("totalcount"),
            offset: num("offset"),
            numremaining: num("numremaining"),
            result_id: non_empty(el.attr_value("resultId")).map(str::to_owned),
            records: el
                .children
                .iter()
                .map(|r| match r.to_json() {
                    Value::Object(m) => m,
                    _ => Record::new(),
                })
                .collect(),
        }
    }
}

/// What a successful function returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Done {
    pub controlid: String,
    /// Legacy functions' `<key>`; for generic writes, the first record's RECORDNO.
    pub key: Option<String>,
    pub data: Option<Data>,
    /// True when Intacct refused the control id as already processed and the
    /// record was found instead.
    pub already_processed: bool,
}

impl Done {
    pub(crate) fn from_result(controlid: &str, result: &Element) -> Self {
        let data = result.find("data").map(Data::from_element);
        let key = non_empty(result.child_text("key"))
            .map(str::to_owned)
            .or_else(|| {
                data.as_ref()
                    .filter(|d| d.listtype.as_deref() == Some("objects"))
                    .and_then(|d| d.records.first())
                    .and_then(|r| text(r, "RECORDNO"))
            });
        Done {
            controlid: controlid.to_owned(),
            key,
            data,
            already_processed: false,
        }
    }

    pub fn records(&self) -> &[Record] {
        self.data
            .as_ref()
            .map(|d| d.records.as_slice())
            .unwrap_or(&[])
    }
}

/// The status of a `<result>` element.
pub(crate) fn status_of(result: &Element) -> Status {
    match result.child_text("status").map(str::trim) {
        Some("success") => Status::Success,
        Some("failure") => Status::Failure,
        Some("aborted") => Status::Aborted,
        _ => Status::Unknown,
    }
}

/// A protocol error for an answer that does not fit.
pub(crate) fn protocol(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Protocol {
        system: SYSTEM,
        message: message.into(),
    }
}

/// Escapes a value for a `readByQuery` string: single quotes with a backslash
/// (spec §2).
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_create_carries_the_object_and_knows_how_to_find_it_again() {
        let fields: Record = serde_json::from_value(serde_json::json!({
            "CUSTOMERID": "C-100", "NAME": "Jane Doe",
            "DISPLAYCONTACT": {"PRINTAS": "Jane Doe"}
        }))
        .unwrap();
        let f = ApiFunction::create("c-1", Object::Customer, &fields);
        assert_eq!(
            f.element().to_xml(),
            "<function controlid=\"c-1\"><create><CUSTOMER><CUSTOMERID>C-100</CUSTOMERID>\
             <DISPLAYCONTACT><PRINTAS>Jane Doe</PRINTAS></DISPLAYCONTACT><NAME>Jane Doe</NAME>\
             </CUSTOMER></create></function>"
        );
        assert_eq!(f.record, "CUSTOMER C-100");
        assert_eq!(
            f.resolve,
            Some(Resolve::Object {
                object: Object::Customer,
                field: "CUSTOMERID",
                value: "C-100".into()
            })
        );
    }

    #[test]
    fn sales_order_update_numbers_lines_from_one() {
        let u = SoUpdate {
            message: Some("rush".into()),
            lines: vec![SoLineUpdate {
                line_num: 1,
                memo: Some("gift wrap".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let f = ApiFunction::update_sales_order("u-1", "Sales Order-CO-1", &u).expect("builds");
        assert_eq!(
            f.call.to_xml(),
            "<update_sotransaction key=\"Sales Order-CO-1\"><message>rush</message>\
             <updatesotransitems><updatesotransitem line_num=\"1\"><memo>gift wrap</memo>\
             </updatesotransitem></updatesotransitems></update_sotransaction>"
        );
    }

    #[test]
    fn query_strings_escape_quotes() {
        assert_eq!(quote("Jane's Deli"), "'Jane\\'s Deli'");
    }

    #[test]
    fn objects_parse_case_insensitively() {
        assert_eq!(Object::parse("arpymt"), Some(Object::ArPayment));
        assert_eq!(Object::parse("SODOCUMENT"), None);
    }

    #[test]
    fn a_record_with_characters_xml_cannot_hold_is_an_error_or_escaped_never_a_panic() {
        // Whatever a tenant's record carries reaches the XML writer and the
        // re-parse; neither may panic the worker.
        for nasty in [
            "\u{0}",
            "a\u{1b}b",
            "]]>",
            "<x>&amp;",
            "\u{fffe}",
            "\u{1F600}",
        ] {
            let u = SoUpdate {
                message: Some(nasty.into()),
                add_lines: vec![
                    serde_json::from_value(serde_json::json!({"itemid": nasty, "quantity": "1"}))
                        .expect("a line"),
                ],
                ..Default::default()
            };
            match ApiFunction::update_sales_order("u-1", nasty, &u) {
                Ok(f) => assert!(!f.call.to_xml().is_empty()),
                Err(e) => assert!(
                    matches!(e, ConnectorError::Validation { .. }),
                    "{nasty:?}: {e}"
                ),
            }
        }
    }
}
