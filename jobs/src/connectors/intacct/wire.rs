//! The XML gateway's fixed shapes as serde types (quick-xml; attributes are `@name`).
//!
//! Shared by the connector (which serializes requests and deserializes responses)
//! and the sandbox simulator (which reads the same request blocks). Shapes follow
//! `shared/specs/sage-intacct.md` §2–§7; element order follows the official SDK's
//! writers, because the gateway validates requests against a DTD.
//!
//! Open-ended content (generic objects, records in `<data>`) goes through
//! [`super::element::Element`] instead.

use serde::{Deserialize, Deserializer, Serialize};

/// Error numbers the gateway and this project use (spec §7).
pub mod errno {
    /// XML parse or schema error; nothing ran.
    pub const XML_ERROR: &str = "XL03000003";
    /// Sender or user not authorized / sign-in incorrect / invalid session.
    pub const NOT_AUTHORIZED: &str = "XL03000006";
    /// The whole `transaction="true"` operation was rolled back.
    pub const TRANSACTION_ROLLED_BACK: &str = "XL03000009";
    /// A field named in a query does not exist.
    pub const NO_SUCH_FIELD: &str = "XL03000010";
    /// Gateway rate limit (HTTP 429).
    pub const RATE_LIMITED: &str = "GW-0010";
    /// Gateway: invalid request.
    pub const INVALID_REQUEST: &str = "GW-0011";
    /// Sign-in incorrect, as sent by the gateway with an HTTP 4xx.
    pub const SIGN_IN_INCORRECT: &str = "XMLGW_JPP0002";
    /// Demo company expired.
    pub const COMPANY_EXPIRED: &str = "PL04000055";
    /// Duplicate record (e.g. a document number already used).
    pub const DUPLICATE: &str = "BL01001973";
    /// The simulator's code for a repeated function `controlid` under
    /// `uniqueid=true`. Deliberately fake-looking: Intacct's real code is not
    /// documented (spec §7). The connector never relies on it alone.
    pub const DUPLICATE_CONTROL_ID: &str = "SIM_DUPLICATE_CONTROLID";
}

/// The DTD version this project speaks.
pub const DTD_VERSION: &str = "3.0";

// ---------------------------------------------------------------------------
// Request envelope (spec §2–§3)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename = "request")]
pub struct Request {
    pub control: Control,
    pub operation: Operation,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub senderid: String,
    pub password: String,
    pub controlid: String,
    /// Always sent explicitly: the SDK's default differs from the docs' (spec §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniqueid: Option<bool>,
    pub dtdversion: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includewhitespace: Option<bool>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("senderid", &self.senderid)
            .field("password", &"[redacted]")
            .field("controlid", &self.controlid)
            .field("uniqueid", &self.uniqueid)
            .field("dtdversion", &self.dtdversion)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    #[serde(
        rename = "@transaction",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub transaction: Option<bool>,
    pub authentication: Authentication,
    pub content: Content,
}

/// Either a session id or a login block (spec §3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Authentication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessionid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Login>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub userid: String,
    pub companyid: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("userid", &self.userid)
            .field("companyid", &self.companyid)
            .field("password", &"[redacted]")
            .field("locationid", &self.locationid)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(default)]
    pub function: Vec<Function>,
}

/// `<function controlid="…">` holding exactly one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    #[serde(rename = "@controlid")]
    pub controlid: String,
    #[serde(rename = "$value")]
    pub call: FunctionCall,
}

/// The calls the connector makes. (The simulator accepts more; it reads them
/// from the element tree.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FunctionCall {
    #[serde(rename = "getAPISession")]
    GetApiSession(GetApiSession),
    #[serde(rename = "create_sotransaction")]
    CreateSoTransaction(Box<SoTransactionXml>),
    #[serde(rename = "read")]
    Read(Read),
    #[serde(rename = "readByQuery")]
    ReadByQuery(ReadByQuery),
    #[serde(rename = "readMore")]
    ReadMore(ReadMore),
    #[serde(rename = "query")]
    Query(Box<Query>),
    #[serde(rename = "create_aradjustment")]
    CreateArAdjustment(Box<ArAdjustment>),
}

impl FunctionCall {
    pub fn name(&self) -> &'static str {
        match self {
            FunctionCall::GetApiSession(_) => "getAPISession",
            FunctionCall::CreateSoTransaction(_) => "create_sotransaction",
            FunctionCall::Read(_) => "read",
            FunctionCall::ReadByQuery(_) => "readByQuery",
            FunctionCall::ReadMore(_) => "readMore",
            FunctionCall::Query(_) => "query",
            FunctionCall::CreateArAdjustment(_) => "create_aradjustment",
        }
    }
}

/// `<getAPISession/>`, or with `<locationid>` for an entity-level session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetApiSession {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<String>,
}

/// Generic `read` by RECORDNO (spec §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Read {
    pub object: String,
    pub keys: String,
    pub fields: String,
    #[serde(
        rename = "returnFormat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub return_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docparid: Option<String>,
}

/// Generic `readByQuery` with the SQL-like query string (spec §5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadByQuery {
    pub object: String,
    pub fields: String,
    /// Required but may be empty.
    #[serde(default)]
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagesize: Option<u32>,
    #[serde(
        rename = "returnFormat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub return_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docparid: Option<String>,
}

/// Continues a `readByQuery` (spec §5.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReadMore {
    #[serde(rename = "resultId", default, skip_serializing_if = "Option::is_none")]
    pub result_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

/// The newer `query` function (spec §5.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub object: String,
    pub select: Select,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orderby: Option<OrderBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<QueryOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagesize: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docparid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Select {
    #[serde(rename = "$value", default)]
    pub items: Vec<SelectItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectItem {
    Field(String),
    Count(String),
    Sum(String),
    Avg(String),
    Min(String),
    Max(String),
}

/// `<filter>` holds exactly one top-level condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(rename = "$value")]
    pub condition: Condition,
}

/// One node of the `query` filter grammar (spec §5.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    And(Conditions),
    Or(Conditions),
    EqualTo(FieldValue),
    NotEqualTo(FieldValue),
    LessThan(FieldValue),
    LessThanOrEqualTo(FieldValue),
    GreaterThan(FieldValue),
    GreaterThanOrEqualTo(FieldValue),
    Like(FieldValue),
    NotLike(FieldValue),
    Between(FieldValues),
    In(FieldValues),
    NotIn(FieldValues),
    IsNull(FieldOnly),
    IsNotNull(FieldOnly),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    #[serde(rename = "$value", default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    pub field: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValues {
    pub field: String,
    #[serde(default)]
    pub value: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOnly {
    pub field: String,
}

impl Condition {
    pub fn equal_to(field: &str, value: &str) -> Self {
        Condition::EqualTo(FieldValue {
            field: field.to_owned(),
            value: value.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBy {
    #[serde(default)]
    pub order: Vec<Order>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub field: String,
    #[serde(rename = "$value", default)]
    pub direction: Option<Direction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caseinsensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub showprivate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returnformat: Option<String>,
}

// ---------------------------------------------------------------------------
// Sales order: the JSON the mapping engine produces, and its XML form (spec §6.1)
// ---------------------------------------------------------------------------

/// A legacy split date: `<year>2024</year><month>06</month><day>01</day>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateParts {
    #[serde(deserialize_with = "lenient_string")]
    pub year: String,
    #[serde(deserialize_with = "lenient_string")]
    pub month: String,
    #[serde(deserialize_with = "lenient_string")]
    pub day: String,
}

impl DateParts {
    /// The calendar date, when the parts make one.
    pub fn to_date(&self) -> Option<time::Date> {
        let year: i32 = self.year.trim().parse().ok()?;
        let month: u8 = self.month.trim().parse().ok()?;
        let day: u8 = self.day.trim().parse().ok()?;
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRef {
    pub contactname: String,
}

/// A sales order (or any Order Entry transaction) as the mapping engine produces
/// it, in JSON. Numbers are decimal strings (plain JSON numbers are accepted too).
/// Optional fields may be absent or null and are sent only when present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoTransaction {
    /// The tenant's transaction definition, e.g. "Sales Order" (configuration, not a constant).
    pub transactiontype: String,
    pub datecreated: DateParts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dateposted: Option<DateParts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub createdfrom: Option<String>,
    pub customerid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenceno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customerponumber: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datedue: Option<DateParts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shippingmethod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipto: Option<ContactRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billto: Option<ContactRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externalid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basecurr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchratetype: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub exchrate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    pub sotransitems: Vec<SoTransItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtotals: Vec<Subtotal>,
}

/// One line (`<sotransitem>`), shared by the JSON and XML forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoTransItem {
    pub itemid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itemdesc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouseid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub quantity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub discountpercent: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departmentid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customerid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classid: Option<String>,
}

/// A subtotal line (tax, shipping, discount), shared by the JSON and XML forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subtotal {
    pub description: String,
    #[serde(deserialize_with = "lenient_string")]
    pub total: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departmentid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classid: Option<String>,
}

/// An AR adjustment (spec §6.7, option B): a credit memo when its line amounts
/// are negative, a debit memo when positive. The JSON the mapping engine
/// produces and the wire form are the same shape; elements go in the order of
/// the SDK's writer (`ArAdjustmentCreate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArAdjustment {
    pub customerid: String,
    pub datecreated: DateParts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dateposted: Option<DateParts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batchkey: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustmentno: Option<String>,
    /// `Draft` or `Submit` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoiceno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externalid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basecurr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default)]
    pub aradjustmentitems: ArAdjustmentItems,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArAdjustmentItems {
    #[serde(default)]
    pub lineitem: Vec<ArAdjustmentLine>,
}

/// One `<lineitem>`: an account (number or label) and a signed amount.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArAdjustmentLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accountlabel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glaccountno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsetglaccountno: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub amount: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departmentid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itemid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classid: Option<String>,
}

/// `<create_sotransaction>` as it goes on the wire: lines and subtotals wrapped,
/// elements in the order of the SDK's writer (`OrderEntryTransactionCreate`).
/// `customerponumber` is not written by the SDK; it is placed after `referenceno`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoTransactionXml {
    pub transactiontype: String,
    pub datecreated: DateParts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dateposted: Option<DateParts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub createdfrom: Option<String>,
    pub customerid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenceno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customerponumber: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datedue: Option<DateParts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shippingmethod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipto: Option<ContactRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billto: Option<ContactRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externalid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basecurr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchratetype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchrate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    pub sotransitems: SoTransItems,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotals: Option<Subtotals>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SoTransItems {
    #[serde(default)]
    pub sotransitem: Vec<SoTransItem>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subtotals {
    #[serde(default)]
    pub subtotal: Vec<Subtotal>,
}

impl From<&SoTransaction> for SoTransactionXml {
    fn from(o: &SoTransaction) -> Self {
        Self {
            transactiontype: o.transactiontype.clone(),
            datecreated: o.datecreated.clone(),
            dateposted: o.dateposted.clone(),
            createdfrom: o.createdfrom.clone(),
            customerid: o.customerid.clone(),
            documentno: o.documentno.clone(),
            referenceno: o.referenceno.clone(),
            customerponumber: o.customerponumber.clone(),
            termname: o.termname.clone(),
            datedue: o.datedue.clone(),
            message: o.message.clone(),
            shippingmethod: o.shippingmethod.clone(),
            shipto: o.shipto.clone(),
            billto: o.billto.clone(),
            externalid: o.externalid.clone(),
            basecurr: o.basecurr.clone(),
            currency: o.currency.clone(),
            exchratetype: o.exchratetype.clone(),
            exchrate: o.exchrate.clone(),
            state: o.state.clone(),
            projectid: o.projectid.clone(),
            sotransitems: SoTransItems {
                sotransitem: o.sotransitems.clone(),
            },
            subtotals: (!o.subtotals.is_empty()).then(|| Subtotals {
                subtotal: o.subtotals.clone(),
            }),
        }
    }
}

impl From<SoTransactionXml> for SoTransaction {
    fn from(x: SoTransactionXml) -> Self {
        Self {
            transactiontype: x.transactiontype,
            datecreated: x.datecreated,
            dateposted: x.dateposted,
            createdfrom: x.createdfrom,
            customerid: x.customerid,
            documentno: x.documentno,
            referenceno: x.referenceno,
            customerponumber: x.customerponumber,
            termname: x.termname,
            datedue: x.datedue,
            message: x.message,
            shippingmethod: x.shippingmethod,
            shipto: x.shipto,
            billto: x.billto,
            externalid: x.externalid,
            basecurr: x.basecurr,
            currency: x.currency,
            exchratetype: x.exchratetype,
            exchrate: x.exchrate,
            state: x.state,
            projectid: x.projectid,
            sotransitems: x.sotransitems.sotransitem,
            subtotals: x.subtotals.map(|s| s.subtotal).unwrap_or_default(),
        }
    }
}

// ---------------------------------------------------------------------------
// Response envelope (spec §3.2, §4)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failure,
    Aborted,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename = "response")]
pub struct Response {
    pub control: ResponseControl,
    /// Present only when the control block failed (nothing ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errormessage: Option<ErrorMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<ResponseOperation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseControl {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub senderid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniqueid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtdversion: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseOperation {
    pub authentication: ResponseAuthentication,
    /// Present only when authentication failed (no function ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errormessage: Option<ErrorMessage>,
    #[serde(default)]
    pub result: Vec<FunctionResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseAuthentication {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companyid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessiontimestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessiontimeout: Option<String>,
}

/// One `<result>`: the outcome of one function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionResult {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlid: Option<String>,
    /// Legacy `create_*`/`update_*` return the new key here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ResultData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errormessage: Option<ErrorMessage>,
}

/// `<data>`: paging attributes plus the records the connector reads. Records
/// are matched case-insensitively by listing both spellings (spec §4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultData {
    #[serde(rename = "@listtype", default, skip_serializing_if = "Option::is_none")]
    pub listtype: Option<String>,
    #[serde(rename = "@count", default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(
        rename = "@totalcount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub totalcount: Option<u64>,
    #[serde(rename = "@offset", default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(
        rename = "@numremaining",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub numremaining: Option<u64>,
    #[serde(rename = "@resultId", default, skip_serializing_if = "Option::is_none")]
    pub result_id: Option<String>,
    /// `getAPISession`'s answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSession>,
    #[serde(
        rename = "SODOCUMENT",
        alias = "sodocument",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sodocuments: Vec<SoDocumentRecord>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiSession {
    pub sessionid: String,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<String>,
}

impl std::fmt::Debug for ApiSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSession")
            .field("sessionid", &"[redacted]")
            .field("endpoint", &self.endpoint)
            .field("locationid", &self.locationid)
            .finish()
    }
}

/// The SODOCUMENT header fields the connector reads back (spec §6.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct SoDocumentRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recordno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docparid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ponumber: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custvendid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whenmodified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorMessage {
    #[serde(default)]
    pub error: Vec<ErrorDetail>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errorno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
}

impl ErrorDetail {
    /// The non-empty parts joined the way the SDK does (spec §4).
    pub fn joined(&self) -> String {
        [
            &self.errorno,
            &self.description,
            &self.description2,
            &self.correction,
        ]
        .into_iter()
        .filter_map(|p| p.as_deref().map(str::trim).filter(|s| !s.is_empty()))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

impl ErrorMessage {
    /// Every error's joined text, separated by "; ".
    pub fn joined(&self) -> String {
        self.error
            .iter()
            .map(ErrorDetail::joined)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn has_errno(&self, code: &str) -> bool {
        self.error
            .iter()
            .any(|e| e.errorno.as_deref().map(str::trim) == Some(code))
    }
}

impl Request {
    pub fn to_xml(&self) -> Result<String, quick_xml::SeError> {
        let body = quick_xml::se::to_string(self)?;
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
        ))
    }
}

impl Response {
    pub fn from_xml(xml: &str) -> Result<Self, quick_xml::DeError> {
        quick_xml::de::from_str(xml)
    }
}

// ---------------------------------------------------------------------------
// Formats (spec §5.4, §10): no time zone in generic timestamps.
// ---------------------------------------------------------------------------

const TIMESTAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");
const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[month]/[day]/[year]");

/// `MM/DD/YYYY HH:MM:SS` (UTC in the sandbox; Intacct sends no zone).
pub fn format_timestamp(unix_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(unix_ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(TIMESTAMP).unwrap_or_default()
}

/// `MM/DD/YYYY`.
pub fn format_date(date: time::Date) -> String {
    date.format(DATE).unwrap_or_default()
}

/// Reads `MM/DD/YYYY HH:MM:SS` or `MM/DD/YYYY` as Unix ms (taken as UTC).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let dt = time::PrimitiveDateTime::parse(s, TIMESTAMP)
        .ok()
        .or_else(|| {
            time::Date::parse(s, DATE)
                .ok()
                .map(|d| d.with_time(time::Time::MIDNIGHT))
        })?;
    Some((dt.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Session timestamps carry an offset: `2024-06-01T10:00:00+00:00` (spec §3.2).
pub fn format_session_timestamp(unix_ms: i64) -> String {
    const F: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(unix_ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(F).unwrap_or_default()
}

pub fn parse_session_timestamp(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()
}

// ---------------------------------------------------------------------------
// Lenient decimals: the mapping engine may emit `2` or `"2"`.
// ---------------------------------------------------------------------------

struct LenientString;

impl<'de> serde::de::Visitor<'de> for LenientString {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    /// quick-xml hands an element to `deserialize_any` as a map whose text is
    /// under `$text`.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let mut text = String::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: String = map.next_value()?;
            if key == "$text" || key == "$value" {
                text = value;
            }
        }
        Ok(text)
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(LenientString)
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "lenient_string")] String);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::intacct::element::Element;

    fn sample_order_json() -> serde_json::Value {
        serde_json::json!({"transactiontype":"Sales Order","datecreated":{"year":"2024","month":"06","day":"01"},"customerid":"CUS-5001",
         "documentno":"CO-100045","referenceno":"CO-100045","customerponumber":"CO-100045","termname":"Net 30",
         "shippingmethod":null,"basecurr":"USD","currency":"USD","exchratetype":null,"state":"Pending","message":null,
         "sotransitems":[{"itemid":"SKU-1001","quantity":"2","unit":"Each","price":"19.99","warehouseid":"WH1","locationid":"US-EAST","departmentid":"ECOM","memo":null}],
         "subtotals":[{"description":"Tax","total":"3.20"},{"description":"Shipping","total":"5.00"}]})
    }

    #[test]
    fn sales_order_reads_the_mapping_engines_json() {
        let order: SoTransaction = serde_json::from_value(sample_order_json()).unwrap();
        assert_eq!(order.customerid, "CUS-5001");
        assert_eq!(order.shippingmethod, None);
        assert_eq!(order.sotransitems[0].price.as_deref(), Some("19.99"));
        assert_eq!(order.subtotals.len(), 2);
        // Plain JSON numbers are accepted as decimal strings.
        let mut v = sample_order_json();
        v["sotransitems"][0]["quantity"] = serde_json::json!(3);
        v["sotransitems"][0]["price"] = serde_json::json!(4.5);
        let order: SoTransaction = serde_json::from_value(v).unwrap();
        assert_eq!(order.sotransitems[0].quantity, "3");
        assert_eq!(order.sotransitems[0].price.as_deref(), Some("4.5"));
    }

    fn create_request(order: &SoTransaction) -> Request {
        Request {
            control: Control {
                senderid: "SENDER".into(),
                password: "SENDER_PW".into(),
                controlid: "req-1".into(),
                uniqueid: Some(true),
                dtdversion: DTD_VERSION.into(),
                includewhitespace: Some(false),
            },
            operation: Operation {
                transaction: None,
                authentication: Authentication {
                    sessionid: Some("abc..".into()),
                    login: None,
                },
                content: Content {
                    function: vec![Function {
                        controlid: "clarity-order-CO-100045-create".into(),
                        call: FunctionCall::CreateSoTransaction(Box::new(order.into())),
                    }],
                },
            },
        }
    }

    #[test]
    fn create_aradjustment_serializes_like_the_spec_example() {
        let memo: ArAdjustment = serde_json::from_value(serde_json::json!({
            "customerid": "C-100",
            "datecreated": {"year": "2024", "month": "06", "day": "05"},
            "adjustmentno": "CM-RMA-5501",
            "description": "Refund RMA-5501",
            "aradjustmentitems": {"lineitem": [{"glaccountno": "4000", "amount": -19.99,
                "memo": "Returned SKU-1001", "locationid": "US-EAST", "departmentid": "ECOM"}]}
        }))
        .unwrap();
        let f = Function {
            controlid: "cm-1".into(),
            call: FunctionCall::CreateArAdjustment(Box::new(memo.clone())),
        };
        let xml = quick_xml::se::to_string_with_root("function", &f).unwrap();
        assert_eq!(
            xml,
            "<function controlid=\"cm-1\"><create_aradjustment><customerid>C-100</customerid>\
             <datecreated><year>2024</year><month>06</month><day>05</day></datecreated>\
             <adjustmentno>CM-RMA-5501</adjustmentno><description>Refund RMA-5501</description>\
             <aradjustmentitems><lineitem><glaccountno>4000</glaccountno><amount>-19.99</amount>\
             <memo>Returned SKU-1001</memo><locationid>US-EAST</locationid>\
             <departmentid>ECOM</departmentid></lineitem></aradjustmentitems>\
             </create_aradjustment></function>"
        );
        let back: Function = quick_xml::de::from_str(&xml).unwrap();
        assert_eq!(back.call, FunctionCall::CreateArAdjustment(Box::new(memo)));
    }

    #[test]
    fn create_sotransaction_serializes_like_the_spec_example() {
        let order: SoTransaction = serde_json::from_value(sample_order_json()).unwrap();
        let xml = create_request(&order).to_xml().unwrap();
        let expected = "<request><control><senderid>SENDER</senderid><password>SENDER_PW</password>\
            <controlid>req-1</controlid><uniqueid>true</uniqueid><dtdversion>3.0</dtdversion>\
            <includewhitespace>false</includewhitespace></control><operation><authentication>\
            <sessionid>abc..</sessionid></authentication><content>\
            <function controlid=\"clarity-order-CO-100045-create\"><create_sotransaction>\
            <transactiontype>Sales Order</transactiontype>\
            <datecreated><year>2024</year><month>06</month><day>01</day></datecreated>\
            <customerid>CUS-5001</customerid><documentno>CO-100045</documentno>\
            <referenceno>CO-100045</referenceno><customerponumber>CO-100045</customerponumber>\
            <termname>Net 30</termname><basecurr>USD</basecurr><currency>USD</currency>\
            <state>Pending</state><sotransitems><sotransitem><itemid>SKU-1001</itemid>\
            <warehouseid>WH1</warehouseid><quantity>2</quantity><unit>Each</unit>\
            <price>19.99</price><locationid>US-EAST</locationid><departmentid>ECOM</departmentid>\
            </sotransitem></sotransitems><subtotals><subtotal><description>Tax</description>\
            <total>3.20</total></subtotal><subtotal><description>Shipping</description>\
            <total>5.00</total></subtotal></subtotals></create_sotransaction></function>\
            </content></operation></request>";
        assert_eq!(xml.split_once('\n').unwrap().1, expected);
    }

    #[test]
    fn request_round_trips_through_xml() {
        let order: SoTransaction = serde_json::from_value(sample_order_json()).unwrap();
        let req = create_request(&order);
        let back: Request = quick_xml::de::from_str(&req.to_xml().unwrap()).unwrap();
        assert_eq!(back, req);
        let FunctionCall::CreateSoTransaction(x) = &back.operation.content.function[0].call else {
            panic!("wrong call");
        };
        assert_eq!(SoTransaction::from((**x).clone()), order);
    }

    #[test]
    fn spec_create_example_is_read_from_the_tree() {
        // The spec §6.1 example, as the simulator receives it.
        let xml = r#"<function controlid="clarity-order-CO-100045-create">
  <create_sotransaction>
    <transactiontype>Sales Order</transactiontype>
    <datecreated><year>2024</year><month>06</month><day>01</day></datecreated>
    <customerid>C-100</customerid>
    <documentno>CO-100045</documentno>
    <referenceno>CO-100045</referenceno>
    <termname>Net 30</termname>
    <shippingmethod>UPS Ground</shippingmethod>
    <shipto><contactname>C-100 Ship CO-100045</contactname></shipto>
    <billto><contactname>C-100 Bill</contactname></billto>
    <basecurr>USD</basecurr>
    <currency>USD</currency>
    <exchratetype>Intacct Daily Rate</exchratetype>
    <state>Pending</state>
    <sotransitems>
      <sotransitem>
        <itemid>SKU-1001</itemid>
        <warehouseid>WH1</warehouseid>
        <quantity>2</quantity>
        <unit>Each</unit>
        <price>19.99</price>
        <locationid>US-EAST</locationid>
        <departmentid>ECOM</departmentid>
        <projectid>P-2024</projectid>
      </sotransitem>
    </sotransitems>
    <subtotals>
      <subtotal><description>Tax</description><total>3.20</total></subtotal>
    </subtotals>
  </create_sotransaction>
</function>"#;
        let f = Element::parse(xml).unwrap();
        let x: SoTransactionXml = f
            .find("create_sotransaction")
            .unwrap()
            .deserialize()
            .unwrap();
        let o = SoTransaction::from(x);
        assert_eq!(o.datecreated.to_date().unwrap().to_string(), "2024-06-01");
        assert_eq!(o.shipto.unwrap().contactname, "C-100 Ship CO-100045");
        assert_eq!(o.sotransitems[0].projectid.as_deref(), Some("P-2024"));
        assert_eq!(o.subtotals[0].total, "3.20");
    }

    #[test]
    fn get_api_session_response_golden_example_parses() {
        let xml = r#"<response>
  <control>
    <status>success</status><senderid>SENDER</senderid><controlid>session-1</controlid>
    <uniqueid>false</uniqueid><dtdversion>3.0</dtdversion>
  </control>
  <operation>
    <authentication>
      <status>success</status><userid>ws_user</userid><companyid>ACME</companyid>
      <locationid></locationid>
      <sessiontimestamp>2024-06-01T10:00:00+00:00</sessiontimestamp>
      <sessiontimeout>2024-06-01T12:00:00+00:00</sessiontimeout>
    </authentication>
    <result>
      <status>success</status>
      <function>getAPISession</function>
      <controlid>getsession</controlid>
      <data>
        <api>
          <sessionid>sIm-SESSION-0001..</sessionid>
          <endpoint>https://api.intacct.com/ia/xml/xmlgw.phtml</endpoint>
          <locationid></locationid>
        </api>
      </data>
    </result>
  </operation>
</response>"#;
        let r = Response::from_xml(xml).unwrap();
        assert_eq!(r.control.status, Status::Success);
        let op = r.operation.unwrap();
        assert_eq!(op.authentication.companyid.as_deref(), Some("ACME"));
        let timeout = parse_session_timestamp(op.authentication.sessiontimeout.as_deref().unwrap());
        assert_eq!(timeout.unwrap().hour(), 12);
        let api = op.result[0].data.as_ref().unwrap().api.as_ref().unwrap();
        assert_eq!(api.sessionid, "sIm-SESSION-0001..");
        assert_eq!(api.endpoint, "https://api.intacct.com/ia/xml/xmlgw.phtml");
    }

    #[test]
    fn function_failure_golden_example_joins_errors() {
        let xml = r#"<response><control><status>success</status></control><operation>
<authentication><status>success</status></authentication>
<result>
  <status>failure</status><function>create</function><controlid>testFunctionId</controlid>
  <data listtype="objects" count="0"/>
  <errormessage>
    <error><errorno>BL01001973</errorno><description>Duplicate account number</description>
      <description2>The account number '5000.11' already exists [Support ID: x]</description2>
      <correction>Enter unique account number</correction></error>
    <error><errorno>BL01001973</errorno><description></description>
      <description2>Could not create GL Account record.</description2><correction></correction></error>
  </errormessage>
</result></operation></response>"#;
        let r = Response::from_xml(xml).unwrap();
        let res = &r.operation.unwrap().result[0];
        assert_eq!(res.status, Status::Failure);
        assert_eq!(res.data.as_ref().unwrap().count, Some(0));
        let em = res.errormessage.as_ref().unwrap();
        assert!(em.has_errno(errno::DUPLICATE));
        assert_eq!(
            em.joined(),
            "BL01001973 Duplicate account number The account number '5000.11' already exists \
             [Support ID: x] Enter unique account number; BL01001973 Could not create GL Account record."
        );
    }

    #[test]
    fn gateway_error_without_sender_parses() {
        let xml = "<response><control><status>failure</status></control><errormessage><error>\
                   <errorno>GW-0011</errorno><description>Invalid Request [Request ID: 1]</description>\
                   </error></errormessage></response>";
        let r = Response::from_xml(xml).unwrap();
        assert_eq!(r.control.status, Status::Failure);
        assert!(r.errormessage.unwrap().has_errno(errno::INVALID_REQUEST));
        assert!(r.operation.is_none());
    }

    #[test]
    fn read_by_query_data_parses_records_in_either_case() {
        for tag in ["sodocument", "SODOCUMENT"] {
            let xml = format!(
                "<response><control><status>success</status></control><operation>\
                 <authentication><status>success</status></authentication><result>\
                 <status>success</status><function>readByQuery</function><controlid>q</controlid>\
                 <data listtype=\"sodocument\" count=\"2\" totalcount=\"3\" numremaining=\"1\" resultId=\"R1\">\
                 <{tag}><RECORDNO>7</RECORDNO><DOCID>Sales Order-CO-1</DOCID><PONUMBER>CO-1</PONUMBER></{tag}>\
                 <{tag}><RECORDNO>8</RECORDNO><DOCID>Sales Order-CO-2</DOCID></{tag}>\
                 </data></result></operation></response>"
            );
            let r = Response::from_xml(&xml).unwrap();
            let data = r.operation.unwrap().result.remove(0).data.unwrap();
            assert_eq!(data.numremaining, Some(1));
            assert_eq!(data.result_id.as_deref(), Some("R1"));
            assert_eq!(data.sodocuments.len(), 2);
            assert_eq!(
                data.sodocuments[0].docid.as_deref(),
                Some("Sales Order-CO-1")
            );
        }
    }

    #[test]
    fn query_filter_round_trips() {
        let q = Query {
            object: "SODOCUMENT".into(),
            select: Select {
                items: vec![
                    SelectItem::Field("RECORDNO".into()),
                    SelectItem::Field("DOCID".into()),
                    SelectItem::Count("RECORDNO".into()),
                ],
            },
            filter: Some(Filter {
                condition: Condition::And(Conditions {
                    conditions: vec![
                        Condition::equal_to("DOCPARID", "Sales Order"),
                        Condition::Or(Conditions {
                            conditions: vec![
                                Condition::In(FieldValues {
                                    field: "PONUMBER".into(),
                                    value: vec!["A".into(), "B".into()],
                                }),
                                Condition::IsNull(FieldOnly {
                                    field: "MESSAGE".into(),
                                }),
                            ],
                        }),
                    ],
                }),
            }),
            orderby: Some(OrderBy {
                order: vec![Order {
                    field: "RECORDNO".into(),
                    direction: Some(Direction::Descending),
                }],
            }),
            options: Some(QueryOptions {
                caseinsensitive: Some(true),
                ..Default::default()
            }),
            pagesize: Some(10),
            offset: None,
            docparid: None,
        };
        let xml = quick_xml::se::to_string_with_root("query", &q).unwrap();
        assert!(
            xml.contains(
                "<filter><and><equalto><field>DOCPARID</field><value>Sales Order</value></equalto>\
             <or><in><field>PONUMBER</field><value>A</value><value>B</value></in>\
             <isnull><field>MESSAGE</field></isnull></or></and></filter>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<order><field>RECORDNO</field><descending/></order>"),
            "{xml}"
        );
        let back: Query = quick_xml::de::from_str(&xml).unwrap();
        assert_eq!(back, q);
    }

    #[test]
    fn get_api_session_call_is_an_empty_element() {
        let f = Function {
            controlid: "getsession".into(),
            call: FunctionCall::GetApiSession(GetApiSession::default()),
        };
        let xml = quick_xml::se::to_string_with_root("function", &f).unwrap();
        assert_eq!(
            xml,
            "<function controlid=\"getsession\"><getAPISession/></function>"
        );
    }

    #[test]
    fn timestamps_have_no_zone_and_round_trip() {
        let ms = 1_717_236_131_000; // 2024-06-01 10:02:11 UTC
        assert_eq!(format_timestamp(ms), "06/01/2024 10:02:11");
        assert_eq!(parse_timestamp("06/01/2024 10:02:11"), Some(ms));
        assert_eq!(parse_timestamp("06/01/2024"), Some(1_717_200_000_000));
        assert_eq!(format_session_timestamp(ms), "2024-06-01T10:02:11+00:00");
        assert_eq!(parse_timestamp("2024-06-01"), None);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let login = Login {
            userid: "u".into(),
            companyid: "c".into(),
            password: "hunter2".into(),
            locationid: None,
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }

    #[test]
    fn a_response_nested_past_reason_is_refused_not_overflowed() {
        // An answer from whatever sits at a tenant's Intacct URL, read on a
        // worker-sized stack: unknown elements nested far down, and known
        // ones nested inside each other.
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                for inner in ["x", "result", "data"] {
                    let n = 200_000;
                    let xml = format!(
                        "<response><control><status>success</status></control><operation>{}{}</operation></response>",
                        format!("<{inner}>").repeat(n),
                        format!("</{inner}>").repeat(n)
                    );
                    let _ = Response::from_xml(&xml);
                }
            })
            .expect("spawn")
            .join()
            .expect("no panic");
    }
}
