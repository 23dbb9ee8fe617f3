//! The Intacct simulator's reading of the XML gateway, written from
//! `shared/specs/sage-intacct.md` and nothing else: the request blocks it
//! reads (§2 `control`, §3.1 `login`, §3.2 `getAPISession`, §5.3 `query`,
//! §6.1 `create_sotransaction`, §6.7 `create_aradjustment`), the error
//! numbers it answers with (§7), and the date and timestamp formats (§3.2,
//! §5.4, §10).
//!
//! The connector has its own types for the same XML
//! (`connect_jobs::connectors::intacct::wire`); the two are kept apart on
//! purpose, so that a misreading of the spec on one side shows up as a
//! failing contract test (`tests/contract_wire.rs`) instead of passing on both.
//! These types only read (`Deserialize`): the simulator writes its answers
//! as element trees, because their shape depends on the object asked for.

use serde::Deserialize;

/// Error numbers (§7). Where the spec gives none, the simulator's own is
/// marked as such.
pub mod errno {
    /// XML parse or schema error: nothing ran (control level).
    pub const XML_ERROR: &str = "XL03000003";
    /// Sender not authorized for the company, or the sign-in is incorrect.
    pub const NOT_AUTHORIZED: &str = "XL03000006";
    /// `transaction="true"` and one function failed: everything rolled back.
    pub const TRANSACTION_ROLLED_BACK: &str = "XL03000009";
    /// A field named in a query does not exist.
    pub const NO_SUCH_FIELD: &str = "XL03000010";
    /// The gateway's rate limit, sent with HTTP 429.
    pub const RATE_LIMITED: &str = "GW-0010";
    /// A duplicate record (the spec's example code).
    pub const DUPLICATE: &str = "BL01001973";
    /// A function `controlid` repeated under `uniqueid=true`: Intacct's own
    /// code is undocumented, so the spec has the simulator send this
    /// deliberately fake-looking placeholder.
    pub const DUPLICATE_CONTROL_ID: &str = "SIM_DUPLICATE_CONTROLID";
}

/// §2: "use 3.0".
pub const DTD_VERSION: &str = "3.0";

/// `request/control` (§2). `uniqueid` is optional and defaults to `true`
/// (the documented default, not the PHP SDK's).
#[derive(Deserialize)]
pub struct Control {
    pub senderid: String,
    pub password: String,
    pub controlid: String,
    #[serde(default)]
    pub uniqueid: Option<bool>,
    pub dtdversion: String,
}

/// `authentication/login` (§3.1).
#[derive(Deserialize)]
pub struct Login {
    pub userid: String,
    pub companyid: String,
    pub password: String,
    /// Optional: a multi-entity login straight into one entity.
    #[serde(default)]
    pub locationid: Option<String>,
}

/// `<getAPISession/>`, or with `<locationid>` for an entity session (§3.2).
#[derive(Debug, Default, Deserialize)]
pub struct GetApiSession {
    #[serde(default)]
    pub locationid: Option<String>,
}

/// The `query` function (§5.3).
#[derive(Debug, Deserialize)]
pub struct Query {
    pub object: String,
    pub select: Select,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub orderby: Option<OrderBy>,
    #[serde(default)]
    pub options: Option<QueryOptions>,
    #[serde(default)]
    pub pagesize: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
    #[serde(default)]
    pub docparid: Option<String>,
}

/// `<select>`: fields and aggregates, in the order asked.
#[derive(Debug, Deserialize)]
pub struct Select {
    #[serde(rename = "$value", default)]
    pub items: Vec<SelectItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectItem {
    Field(String),
    Count(String),
    Sum(String),
    Avg(String),
    Min(String),
    Max(String),
}

/// `<filter>`: exactly one top-level operator.
#[derive(Debug, Deserialize)]
pub struct Filter {
    #[serde(rename = "$value")]
    pub condition: Condition,
}

/// One operator of the filter grammar, named as the spec writes it.
#[derive(Debug, Deserialize)]
pub enum Condition {
    #[serde(rename = "and")]
    And(Conditions),
    #[serde(rename = "or")]
    Or(Conditions),
    #[serde(rename = "equalto")]
    EqualTo(FieldValue),
    #[serde(rename = "notequalto")]
    NotEqualTo(FieldValue),
    #[serde(rename = "lessthan")]
    LessThan(FieldValue),
    #[serde(rename = "lessthanorequalto")]
    LessThanOrEqualTo(FieldValue),
    #[serde(rename = "greaterthan")]
    GreaterThan(FieldValue),
    #[serde(rename = "greaterthanorequalto")]
    GreaterThanOrEqualTo(FieldValue),
    #[serde(rename = "like")]
    Like(FieldValue),
    #[serde(rename = "notlike")]
    NotLike(FieldValue),
    #[serde(rename = "between")]
    Between(FieldValues),
    #[serde(rename = "in")]
    In(FieldValues),
    #[serde(rename = "notin")]
    NotIn(FieldValues),
    #[serde(rename = "isnull")]
    IsNull(FieldOnly),
    #[serde(rename = "isnotnull")]
    IsNotNull(FieldOnly),
}

/// The children of `and`/`or` (the spec wants two or more; the caller checks).
#[derive(Debug, Deserialize)]
pub struct Conditions {
    #[serde(rename = "$value", default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Deserialize)]
pub struct FieldValue {
    pub field: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct FieldValues {
    pub field: String,
    #[serde(default)]
    pub value: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct FieldOnly {
    pub field: String,
}

/// `orderby/order`: without it the spec leaves the order undefined.
#[derive(Debug, Deserialize)]
pub struct OrderBy {
    #[serde(default)]
    pub order: Vec<Order>,
}

#[derive(Debug, Deserialize)]
pub struct Order {
    pub field: String,
    #[serde(rename = "$value", default)]
    pub direction: Option<Direction>,
}

/// `<ascending/>` or `<descending/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryOptions {
    #[serde(default)]
    pub caseinsensitive: Option<bool>,
    #[serde(default)]
    pub showprivate: Option<bool>,
    #[serde(default)]
    pub returnformat: Option<String>,
}

/// A legacy split date (§10): `<year>2024</year><month>06</month><day>01</day>`.
#[derive(Debug, Clone, Deserialize)]
pub struct DateParts {
    pub year: String,
    pub month: String,
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

/// `shipto`/`billto`: only the name of an existing CONTACT (§6.1).
#[derive(Debug, Clone, Deserialize)]
pub struct ContactRef {
    pub contactname: String,
}

/// `create_sotransaction` (§6.1), with `sotransitems/sotransitem` and
/// `subtotals/subtotal` unwrapped into lists.
#[derive(Debug, Deserialize)]
pub struct SoTransaction {
    pub transactiontype: String,
    pub datecreated: DateParts,
    #[serde(default)]
    pub createdfrom: Option<String>,
    pub customerid: String,
    #[serde(default)]
    pub documentno: Option<String>,
    #[serde(default)]
    pub referenceno: Option<String>,
    #[serde(default)]
    pub customerponumber: Option<String>,
    #[serde(default)]
    pub termname: Option<String>,
    #[serde(default)]
    pub datedue: Option<DateParts>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub shippingmethod: Option<String>,
    #[serde(default)]
    pub shipto: Option<ContactRef>,
    #[serde(default)]
    pub billto: Option<ContactRef>,
    #[serde(default)]
    pub externalid: Option<String>,
    #[serde(default)]
    pub basecurr: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub exchratetype: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub projectid: Option<String>,
    #[serde(deserialize_with = "sotransitems")]
    pub sotransitems: Vec<SoTransItem>,
    #[serde(default, deserialize_with = "subtotals")]
    pub subtotals: Vec<Subtotal>,
}

/// One `<sotransitem>` (§6.1: `itemid` and `quantity` required).
#[derive(Debug, Clone, Deserialize)]
pub struct SoTransItem {
    pub itemid: String,
    #[serde(default)]
    pub itemdesc: Option<String>,
    #[serde(default)]
    pub warehouseid: Option<String>,
    pub quantity: String,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub discountpercent: Option<String>,
    #[serde(default)]
    pub price: Option<String>,
    #[serde(default)]
    pub locationid: Option<String>,
    #[serde(default)]
    pub departmentid: Option<String>,
    #[serde(default)]
    pub memo: Option<String>,
    #[serde(default)]
    pub projectid: Option<String>,
    #[serde(default)]
    pub classid: Option<String>,
}

/// One `<subtotal>`: tax, shipping or discount, with dimensions.
#[derive(Debug, Clone, Deserialize)]
pub struct Subtotal {
    pub description: String,
    pub total: String,
    #[serde(default)]
    pub locationid: Option<String>,
    #[serde(default)]
    pub departmentid: Option<String>,
    #[serde(default)]
    pub projectid: Option<String>,
    #[serde(default)]
    pub classid: Option<String>,
}

fn sotransitems<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SoTransItem>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapper {
        #[serde(default)]
        sotransitem: Vec<SoTransItem>,
    }
    Ok(Wrapper::deserialize(d)?.sotransitem)
}

fn subtotals<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Subtotal>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapper {
        #[serde(default)]
        subtotal: Vec<Subtotal>,
    }
    Ok(Wrapper::deserialize(d)?.subtotal)
}

/// `create_aradjustment` (§6.7, option B): negative line amounts make a
/// credit memo, positive a debit memo.
#[derive(Debug, Deserialize)]
pub struct ArAdjustment {
    pub customerid: String,
    pub datecreated: DateParts,
    #[serde(default)]
    pub adjustmentno: Option<String>,
    /// `Draft` or `Submit` (the default).
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub invoiceno: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub aradjustmentitems: ArAdjustmentItems,
}

#[derive(Debug, Default, Deserialize)]
pub struct ArAdjustmentItems {
    #[serde(default)]
    pub lineitem: Vec<ArAdjustmentLine>,
}

/// One `<lineitem>`: a GL account and a signed amount, with dimensions.
#[derive(Debug, Deserialize)]
pub struct ArAdjustmentLine {
    #[serde(default)]
    pub glaccountno: Option<String>,
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub memo: Option<String>,
    #[serde(default)]
    pub locationid: Option<String>,
    #[serde(default)]
    pub departmentid: Option<String>,
    #[serde(default)]
    pub itemid: Option<String>,
    #[serde(default)]
    pub classid: Option<String>,
}

/// One `<error>` of an `<errormessage>` (§4, §7).
#[derive(Debug, Clone, Default)]
pub struct ErrorDetail {
    pub errorno: Option<String>,
    pub description: Option<String>,
    pub description2: Option<String>,
    pub correction: Option<String>,
}

const TIMESTAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");
const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[month]/[day]/[year]");
const SESSION_TIMESTAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");

fn utc(unix_ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `WHENCREATED`/`WHENMODIFIED`: `MM/DD/YYYY HH:MM:SS`, 24 h, no zone (§5.4,
/// §10). The simulator's clock is UTC.
pub fn format_timestamp(unix_ms: i64) -> String {
    utc(unix_ms).format(TIMESTAMP).unwrap_or_default()
}

/// Generic-function dates: `MM/DD/YYYY` (§10).
pub fn format_date(date: time::Date) -> String {
    date.format(DATE).unwrap_or_default()
}

/// A timestamp or date literal in a query (`MM/DD/YYYY HH:MM:SS` or
/// `MM/DD/YYYY`) as Unix ms, taken as UTC like the simulator's clock.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let at = time::PrimitiveDateTime::parse(s, TIMESTAMP)
        .ok()
        .or_else(|| {
            time::Date::parse(s, DATE)
                .ok()
                .map(|d| d.with_time(time::Time::MIDNIGHT))
        })?;
    i64::try_from(at.assume_utc().unix_timestamp_nanos() / 1_000_000).ok()
}

/// `sessiontimestamp`/`sessiontimeout`: with an offset, unlike record
/// timestamps (§3.2: `2024-06-01T10:00:00+00:00`).
pub fn format_session_timestamp(unix_ms: i64) -> String {
    utc(unix_ms).format(SESSION_TIMESTAMP).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_month_first_with_no_zone_and_sessions_carry_an_offset() {
        // 2024-06-01T10:02:11Z
        let ms = 1_717_236_131_000;
        assert_eq!(format_timestamp(ms), "06/01/2024 10:02:11");
        assert_eq!(parse_timestamp("06/01/2024 10:02:11"), Some(ms));
        assert_eq!(
            parse_timestamp("06/01/2024"),
            Some(1_717_200_000_000),
            "a date is its midnight"
        );
        assert_eq!(parse_timestamp("2024-06-01 10:02:11"), None);
        assert_eq!(format_session_timestamp(ms), "2024-06-01T10:02:11+00:00");
    }

    #[test]
    fn the_spec_example_sales_order_reads() {
        let xml = r#"<create_sotransaction>
            <transactiontype>Sales Order</transactiontype>
            <datecreated><year>2024</year><month>06</month><day>01</day></datecreated>
            <customerid>C-100</customerid><documentno>CO-100045</documentno>
            <referenceno>CO-100045</referenceno><termname>Net 30</termname>
            <shipto><contactname>C-100 Ship CO-100045</contactname></shipto>
            <sotransitems><sotransitem><itemid>SKU-1001</itemid><warehouseid>WH1</warehouseid>
              <quantity>2</quantity><unit>Each</unit><price>19.99</price></sotransitem></sotransitems>
            <subtotals><subtotal><description>Tax</description><total>3.20</total></subtotal></subtotals>
          </create_sotransaction>"#;
        let order: SoTransaction = quick_xml::de::from_str(xml).expect("reads");
        assert_eq!(
            order.datecreated.to_date(),
            time::Date::from_calendar_date(2024, time::Month::June, 1).ok()
        );
        assert_eq!(order.sotransitems.len(), 1);
        assert_eq!(order.sotransitems[0].quantity, "2");
        assert_eq!(order.subtotals[0].total, "3.20");
        assert_eq!(
            order.shipto.map(|c| c.contactname).as_deref(),
            Some("C-100 Ship CO-100045")
        );
    }
}
